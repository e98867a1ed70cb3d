"""Commitments: promises made to a customer (or to a colleague in a note), each with an owner,
a due time and an outcome.

Plain keyword-only functions that never commit: the request or job that calls them owns the
transaction, so a reply and the promises it makes are stored together or not at all.

Times: a promise's due time is read in the organization's time zone (``Organization.timezone``)
by the extractor (``commitments.extract``), counting business days on the calendar of the
conversation's team (its business hours' working days and holidays; Monday to Friday when the
team has none). A promise that states no time is due at the organization's default:

* ``Organization.settings["promise_default_hours"]`` (a number of hours) when set: that many
  business hours of the team's schedule after the promise was made (plain hours when the team
  works around the clock or has no schedule);
* otherwise the end (23:59:59 local) of the next business day, the same convention as
  "tomorrow" in a reply, so "we'll get back to you" said on a Friday is due Monday night.

The owner is reminded ``Organization.settings["promise_reminder_minutes"]`` (default 120)
before the due time; a promise due sooner than that is reminded halfway to its due time.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, case, func, not_, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member, Organization, Team, TeamMembership
from socialdesk.accounts.permissions import ADMIN_ROLES
from socialdesk.commitments.calendar import (
    DEFAULT_CALENDAR,
    BusinessCalendar,
    end_of_day,
    local_today,
)
from socialdesk.commitments.events import (
    CommitmentChanged,
    CommitmentClosed,
    CommitmentCreated,
    CommitmentHandedOver,
    CommitmentOverdue,
    CommitmentReminded,
)
from socialdesk.commitments.extract import extract
from socialdesk.commitments.models import Commitment, CommitmentSource, CommitmentStatus
from socialdesk.commitments.timeparse import resolve_due
from socialdesk.common import clock
from socialdesk.common.errors import Conflict, NotFound, ValidationFailed
from socialdesk.common.pagination import Page, keyset_page
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, DeliveryState, Message
from socialdesk.escalations.models import EscalationRequest
from socialdesk.events import bus
from socialdesk.notifications import service as notifications_service
from socialdesk.policy.models import Approval
from socialdesk.schedules.hours import ALWAYS, WeeklyHours
from socialdesk.schedules.models import BusinessHours

log = logging.getLogger(__name__)

SETTING_DEFAULT_HOURS = "promise_default_hours"
SETTING_REMINDER_MINUTES = "promise_reminder_minutes"
DEFAULT_REMINDER_MINUTES = 120
MAX_TEXT = 1000
MAX_EVIDENCE = 2000
# How many reminders (or overdue notices) one run of the periodic task sends; the rest wait a
# minute. Keeps one transaction short however far behind the worker is.
BATCH = 200

# Notification kinds.
KIND_REMINDER = "commitment.reminder"
KIND_OVERDUE = "commitment.overdue"
KIND_ASSIGNED = "commitment.assigned"
KIND_HANDED_OVER = "commitment.handed_over"

# Activity trail kinds (conversations.record).
TRAIL_ADDED = "commitment_added"
TRAIL_CHANGED = "commitment_changed"
TRAIL_CLOSED = "commitment_closed"
TRAIL_HANDED_OVER = "commitment_handed_over"
TRAIL_KEPT_OPEN = "commitments_kept_open"

OPEN = CommitmentStatus.OPEN.value
CLOSING_STATUSES = (CommitmentStatus.KEPT, CommitmentStatus.BROKEN, CommitmentStatus.CANCELLED)
STATUS_FILTERS = ("open", "kept", "broken", "cancelled", "closed", "all")


class _Unset(enum.Enum):
    UNSET = 0


UNSET = _Unset.UNSET


# -- the organization's clock and calendar -----------------------------------------------


@dataclass(frozen=True)
class Timing:
    """How promises of one conversation are timed: zone, business days, defaults."""

    zone: tzinfo
    calendar: BusinessCalendar
    hours: WeeklyHours
    default_hours: float | None
    reminder_lead: timedelta

    def default_due(self, now: datetime) -> datetime:
        """The due time of a promise that states none (see the module's docstring)."""
        if self.default_hours is not None:
            return self.hours.add(now, self.default_hours * 3600).astimezone(self.zone)
        day = self.calendar.add_business_days(local_today(now, self.zone), 1)
        return end_of_day(day, self.zone)

    def remind_at(self, due_at: datetime, now: datetime) -> datetime | None:
        """When to remind the owner: the lead time before the due, or halfway there when the
        due is closer than that; None for a due already passed (the overdue notice covers it)."""
        if due_at <= now:
            return None
        at = due_at - self.reminder_lead
        if at <= now:
            at = now + (due_at - now) / 2
        return at


def zone_of(name: str | None) -> tzinfo:
    """The organization's zone; an unknown name falls back to UTC rather than failing."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r; using UTC", name)
        return ZoneInfo("UTC")


def _number(settings: dict[str, Any], name: str) -> float | None:
    value = settings.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def timing_for(session: Session, *, organization: Organization, team_id: int | None) -> Timing:
    hours = ALWAYS
    calendar = DEFAULT_CALENDAR
    team = session.get(Team, team_id) if team_id is not None else None
    if team is not None and team.business_hours_id is not None:
        row = session.get(BusinessHours, team.business_hours_id)
        try:
            hours = WeeklyHours.from_row(row)
        except ValidationFailed as exc:  # stored hours that no longer parse: say so, go on
            log.warning("business hours %s of team %s are invalid: %s", row, team.id, exc)
        if not hours.always:
            calendar = BusinessCalendar(
                weekdays=frozenset(hours.periods), holidays=frozenset(hours.holidays)
            )
    promises = promise_settings(session, organization_id=organization.id)
    return Timing(
        zone=zone_of(organization.timezone),
        calendar=calendar,
        hours=hours,
        default_hours=promises.default_hours,
        reminder_lead=timedelta(minutes=promises.reminder_minutes),
    )


# -- the organization's promise settings --------------------------------------------------

# Bounds an admin may set: a default due time up to 30 days of (business) hours, a reminder up
# to a week before the due time.
MAX_DEFAULT_HOURS = 720
MAX_REMINDER_MINUTES = 7 * 24 * 60


@dataclass(frozen=True)
class PromiseSettings:
    """How promises are timed in one organization. ``default_hours`` None: a promise without a
    time is due at the end of the next business day."""

    default_hours: float | None
    reminder_minutes: int


def promise_settings(session: Session, *, organization_id: int) -> PromiseSettings:
    organization = session.get_one(Organization, organization_id)
    settings = organization.settings or {}
    default_hours = _number(settings, SETTING_DEFAULT_HOURS)
    reminder = _number(settings, SETTING_REMINDER_MINUTES)
    return PromiseSettings(
        default_hours=default_hours if default_hours and default_hours > 0 else None,
        reminder_minutes=int(reminder)
        if reminder is not None and reminder >= 0
        else DEFAULT_REMINDER_MINUTES,
    )


def save_promise_settings(
    session: Session,
    *,
    organization_id: int,
    actor: Member,
    default_hours: float | None,
    reminder_minutes: int,
) -> PromiseSettings:
    """Set the organization's default due time and reminder lead, checked and audited. Applies
    to promises made from now on; open ones keep their due and reminder times."""
    if default_hours is not None and not 0 < default_hours <= MAX_DEFAULT_HOURS:
        raise ValidationFailed(
            f"the default due time must be more than 0 and at most {MAX_DEFAULT_HOURS} hours, "
            f"not {default_hours:g}",
            field="default_hours",
        )
    if not 0 <= reminder_minutes <= MAX_REMINDER_MINUTES:
        raise ValidationFailed(
            f"the reminder must come 0 to {MAX_REMINDER_MINUTES} minutes before the due time, "
            f"not {reminder_minutes}",
            field="reminder_minutes",
        )
    after = PromiseSettings(default_hours=default_hours, reminder_minutes=reminder_minutes)
    accounts_service.put_settings(
        session,
        organization_id=organization_id,
        values={SETTING_DEFAULT_HOURS: default_hours, SETTING_REMINDER_MINUTES: reminder_minutes},
        actor=actor,
        target="promise_settings",
        before=promise_settings(session, organization_id=organization_id),
        after=after,
    )
    return after


def _timing(session: Session, conversation: Conversation, team_id: int | None = None) -> Timing:
    organization = session.get_one(Organization, conversation.organization_id)
    return timing_for(
        session,
        organization=organization,
        team_id=team_id if team_id is not None else conversation.team_id,
    )


# -- detecting promises in a draft --------------------------------------------------------


@dataclass(frozen=True)
class DetectedPromise:
    """A promise found in a draft, before the author keeps, edits or drops it.

    ``key`` is the promise's text as detected: the composer sends it back with the author's
    decision, so the decision finds its promise again when the reply is sent.
    """

    key: str
    text: str
    action: str
    due_at: datetime  # aware, in the organization's zone
    due_is_default: bool
    due_phrase: str | None
    start: int
    end: int


def detect(
    session: Session, *, conversation: Conversation, text: str, now: datetime | None = None
) -> list[DetectedPromise]:
    """The promises ``text`` would make if sent now in ``conversation``, each with a due time
    (the organization's default when the text states none)."""
    now = now or clock.now()
    timing = _timing(session, conversation)
    found = extract(text, now=now, tz=timing.zone, business_days=timing.calendar)
    promises: list[DetectedPromise] = []
    for p in found:
        due = p.due if p.due is not None else timing.default_due(now)
        promises.append(
            DetectedPromise(
                key=p.text,
                text=_tidy(p.text),
                action=p.action,
                due_at=due,
                due_is_default=p.due is None,
                due_phrase=p.due_phrase,
                start=p.start,
                end=p.end,
            )
        )
    return promises


def _tidy(text: str) -> str:
    """A promise as a list shows it: one line, a capital first letter."""
    line = " ".join(text.split())
    return line[:1].upper() + line[1:]


@dataclass(frozen=True)
class PromiseDecision:
    """What the author chose for one detected promise before sending."""

    key: str
    keep: bool = True
    text: str | None = None  # the author's wording, when changed
    due_at: datetime | None = None  # the author's due time, only when they changed it


def keep_promises(
    session: Session,
    *,
    conversation: Conversation,
    message: Message,
    author: Member,
    text: str,
    decisions: Sequence[PromiseDecision] = (),
    now: datetime | None = None,
) -> list[Commitment]:
    """Create the commitments a reply or note makes, in the caller's transaction.

    ``text`` is the draft as the author wrote it (before a signature). Promises are detected
    again at send time, so relative times ("in an hour") count from the moment of sending; each
    takes the author's decision with the same key. A promise the author never saw decided
    (no preview, no script) is kept: an untracked promise is the failure this exists to avoid,
    a wrong one is cancelled in one click.
    """
    now = now or clock.now()
    timing = _timing(session, conversation)
    remaining = list(decisions)
    created: list[Commitment] = []
    for promise in detect(session, conversation=conversation, text=text, now=now):
        decision = _take(remaining, promise.key)
        if decision is not None and not decision.keep:
            continue
        due_at = promise.due_at
        due_is_default = promise.due_is_default
        body = promise.text
        if decision is not None:
            if decision.due_at is not None:
                due_at = _future(decision.due_at, now)
                due_is_default = False
            if decision.text is not None and decision.text.strip():
                body = decision.text
        created.append(
            _insert(
                session,
                conversation=conversation,
                actor=author,
                owner_id=author.id,
                team_id=conversation.team_id,
                text=body,
                source=CommitmentSource.DETECTED,
                due_at=due_at,
                due_is_default=due_is_default,
                message_id=message.id,
                escalation_request_id=None,
                timing=timing,
                now=now,
            )
        )
    return created


def _take(decisions: list[PromiseDecision], key: str) -> PromiseDecision | None:
    for index, decision in enumerate(decisions):
        if decision.key == key:
            return decisions.pop(index)
    return None


# -- creating, changing, closing -----------------------------------------------------------


def get_or_raise(session: Session, *, organization_id: int, commitment_id: int) -> Commitment:
    commitment = session.get(Commitment, commitment_id)
    if commitment is None or commitment.organization_id != organization_id:
        raise NotFound(f"commitment {commitment_id} does not exist")
    return commitment


def _clean_text(text: str, *, field_name: str = "text", limit: int = MAX_TEXT) -> str:
    cleaned = " ".join(text.split())
    if not cleaned:
        raise ValidationFailed("say what was promised", field=field_name)
    if len(cleaned) > limit:
        raise ValidationFailed(
            f"keep it under {limit} characters (it has {len(cleaned)})", field=field_name
        )
    return cleaned


def _future(due_at: datetime, now: datetime, *, field_name: str = "due_at") -> datetime:
    clock.require_aware(due_at, field_name)
    if due_at <= now:
        raise ValidationFailed(
            "the due time has already passed: choose a time in the future", field=field_name
        )
    return due_at


def _active_member(
    session: Session, *, organization_id: int, member_id: int, field_name: str
) -> Member:
    member = session.get(Member, member_id)
    if member is None or member.organization_id != organization_id:
        raise NotFound(f"member {member_id} does not exist", field=field_name)
    if not member.is_active:
        raise ValidationFailed(
            f"{member.name} is deactivated: choose an active colleague", field=field_name
        )
    return member


def resolve_due_text(
    session: Session, *, conversation: Conversation, text: str, now: datetime | None = None
) -> datetime:
    """A time written in words ("tomorrow at 9am", "within 2 business days"), read like a
    promise in the reply would be."""
    now = now or clock.now()
    timing = _timing(session, conversation)
    found = resolve_due(text, now=now, tz=timing.zone, calendar=timing.calendar)
    if found is None:
        raise ValidationFailed(
            f"{text!r} names no time I can read; try 'tomorrow at 9am', 'Friday' or "
            "'within 2 business days'",
            field="due_text",
        )
    return found.due


def create(
    session: Session,
    *,
    conversation: Conversation,
    actor: Member,
    text: str,
    due_at: datetime | None = None,
    due_text: str | None = None,
    owner_id: int | None = None,
    team_id: int | None = None,
    escalation_request_id: int | None = None,
    now: datetime | None = None,
) -> Commitment:
    """Add a promise by hand. Due: ``due_at``, or ``due_text`` read in the organization's zone,
    or the organization's default. Owner: ``owner_id``, else the conversation's assignee, else
    the one adding it. Team: ``team_id``, else the conversation's."""
    now = now or clock.now()
    org_id = conversation.organization_id
    body = _clean_text(text)
    if due_at is not None and due_text:
        raise ValidationFailed("give the due time once: a time or words, not both", field="due_at")
    if team_id is not None:
        accounts_service.get_team(session, organization_id=org_id, team_id=team_id, field="team_id")
    else:
        team_id = conversation.team_id
    timing = _timing(session, conversation, team_id)
    due_is_default = False
    if due_at is not None:
        due = _future(due_at, now)
    elif due_text:
        due = resolve_due_text(session, conversation=conversation, text=due_text, now=now)
    else:
        due = timing.default_due(now)
        due_is_default = True
    if owner_id is None:
        assignee = (
            session.get(Member, conversation.assignee_id) if conversation.assignee_id else None
        )
        owner_id = assignee.id if assignee is not None and assignee.is_active else actor.id
    _active_member(session, organization_id=org_id, member_id=owner_id, field_name="owner_id")
    if escalation_request_id is not None:
        request = session.get(EscalationRequest, escalation_request_id)
        if request is None or request.organization_id != org_id:
            raise NotFound(
                f"escalation request {escalation_request_id} does not exist",
                field="escalation_request_id",
            )
        if request.conversation_id != conversation.id:
            raise ValidationFailed(
                f"escalation request {escalation_request_id} belongs to another conversation",
                field="escalation_request_id",
            )
    return _insert(
        session,
        conversation=conversation,
        actor=actor,
        owner_id=owner_id,
        team_id=team_id,
        text=body,
        source=CommitmentSource.MANUAL,
        due_at=due,
        due_is_default=due_is_default,
        message_id=None,
        escalation_request_id=escalation_request_id,
        timing=timing,
        now=now,
    )


def _insert(
    session: Session,
    *,
    conversation: Conversation,
    actor: Member,
    owner_id: int,
    team_id: int | None,
    text: str,
    source: CommitmentSource,
    due_at: datetime,
    due_is_default: bool,
    message_id: int | None,
    escalation_request_id: int | None,
    timing: Timing,
    now: datetime,
) -> Commitment:
    body = _clean_text(text)
    commitment = Commitment(
        organization_id=conversation.organization_id,
        conversation_id=conversation.id,
        message_id=message_id,
        escalation_request_id=escalation_request_id,
        owner_id=owner_id,
        team_id=team_id,
        created_by_id=actor.id,
        text=body,
        source=source.value,
        due_is_default=due_is_default,
        due_at=due_at,
        remind_at=timing.remind_at(due_at, now),
        status=OPEN,
        created_at=now,
    )
    session.add(commitment)
    session.flush()
    conversations_service.record(
        session,
        conversation=conversation,
        kind=TRAIL_ADDED,
        actor=actor,
        data={
            "commitment_id": commitment.id,
            "text": body,
            "due_at": due_at.isoformat(),
            "owner_id": owner_id,
            "source": source.value,
        },
    )
    bus.emit(
        session,
        CommitmentCreated(
            organization_id=conversation.organization_id,
            conversation_id=conversation.id,
            commitment_id=commitment.id,
            owner_id=owner_id,
            source=source.value,
            actor_member_id=actor.id,
        ),
    )
    if owner_id != actor.id:
        _tell_new_owner(session, commitment=commitment, actor=actor, timing=timing)
    return commitment


def _tell_new_owner(
    session: Session, *, commitment: Commitment, actor: Member | None, timing: Timing
) -> None:
    who = actor.name if actor is not None else "socialdesk"
    notifications_service.notify(
        session,
        organization_id=commitment.organization_id,
        member_ids=[commitment.owner_id],
        kind=KIND_ASSIGNED,
        title=f"{who} gave you a promise to keep: {_short(commitment.text)}",
        body=f"Due {format_due(commitment.due_at, timing.zone)}.\n\n{commitment.text}",
        conversation_id=commitment.conversation_id,
        link=link_of(commitment),
        data={"commitment_id": commitment.id},
    )


def _require_open(commitment: Commitment) -> None:
    if commitment.status != OPEN:
        raise Conflict(
            f"commitment {commitment.id} is already {commitment.status}: only open ones change"
        )


def update(
    session: Session,
    *,
    commitment: Commitment,
    actor: Member,
    text: str | None = None,
    due_at: datetime | None = None,
    due_text: str | None = None,
    owner_id: int | None = None,
    team_id: int | _Unset | None = UNSET,
    now: datetime | None = None,
) -> tuple[str, ...]:
    """Change an open commitment; returns the fields that changed. A new due time re-arms the
    reminder and the overdue notice for that time."""
    now = now or clock.now()
    _require_open(commitment)
    conversation = session.get_one(Conversation, commitment.conversation_id)
    org_id = commitment.organization_id
    if due_at is not None and due_text:
        raise ValidationFailed("give the due time once: a time or words, not both", field="due_at")
    changes: dict[str, dict[str, Any]] = {}
    if text is not None:
        body = _clean_text(text)
        if body != commitment.text:
            changes["text"] = {"from": commitment.text, "to": body}
            commitment.text = body
    if not isinstance(team_id, _Unset) and team_id != commitment.team_id:
        if team_id is not None:
            accounts_service.get_team(
                session, organization_id=org_id, team_id=team_id, field="team_id"
            )
        changes["team_id"] = {"from": commitment.team_id, "to": team_id}
        commitment.team_id = team_id
    timing = _timing(session, conversation, commitment.team_id)
    new_due = None
    if due_at is not None:
        new_due = _future(due_at, now)
    elif due_text:
        new_due = resolve_due_text(session, conversation=conversation, text=due_text, now=now)
    if new_due is not None and new_due != commitment.due_at:
        changes["due_at"] = {"from": commitment.due_at.isoformat(), "to": new_due.isoformat()}
        commitment.due_at = new_due
        commitment.due_is_default = False
        commitment.remind_at = timing.remind_at(new_due, now)
        commitment.reminded_at = None
        commitment.overdue_notified_at = None
    owner_changed = False
    if owner_id is not None and owner_id != commitment.owner_id:
        _active_member(session, organization_id=org_id, member_id=owner_id, field_name="owner_id")
        changes["owner_id"] = {"from": commitment.owner_id, "to": owner_id}
        commitment.owner_id = owner_id
        owner_changed = True
    if not changes:
        return ()
    fields = tuple(changes)
    conversations_service.record(
        session,
        conversation=conversation,
        kind=TRAIL_CHANGED,
        actor=actor,
        data={"commitment_id": commitment.id, **changes},
    )
    bus.emit(
        session,
        CommitmentChanged(
            organization_id=org_id,
            conversation_id=commitment.conversation_id,
            commitment_id=commitment.id,
            fields=fields,
            actor_member_id=actor.id,
        ),
    )
    if owner_changed and commitment.owner_id != actor.id:
        _tell_new_owner(session, commitment=commitment, actor=actor, timing=timing)
    return fields


def close(
    session: Session,
    *,
    commitment: Commitment,
    actor: Member | None,
    status: CommitmentStatus,
    evidence: str,
    now: datetime | None = None,
) -> None:
    """Close as kept, broken or cancelled, with a note of evidence (what was done, or why not)."""
    now = now or clock.now()
    if status not in CLOSING_STATUSES:
        allowed = ", ".join(s.value for s in CLOSING_STATUSES)
        raise ValidationFailed(f"close as one of {allowed}, not {status.value}", field="status")
    _require_open(commitment)
    note = " ".join(evidence.split())
    if not note:
        raise ValidationFailed(
            "add a note of evidence: what was done, or why it did not happen", field="evidence"
        )
    if len(note) > MAX_EVIDENCE:
        raise ValidationFailed(
            f"keep the note under {MAX_EVIDENCE} characters (it has {len(note)})",
            field="evidence",
        )
    commitment.status = status.value
    commitment.evidence = note
    commitment.closed_at = now
    commitment.closed_by_id = actor.id if actor is not None else None
    overdue = commitment.due_at <= now
    conversation = session.get_one(Conversation, commitment.conversation_id)
    conversations_service.record(
        session,
        conversation=conversation,
        kind=TRAIL_CLOSED,
        actor=actor,
        data={
            "commitment_id": commitment.id,
            "status": status.value,
            "evidence": note,
            "text": commitment.text,
        },
    )
    bus.emit(
        session,
        CommitmentClosed(
            organization_id=commitment.organization_id,
            conversation_id=commitment.conversation_id,
            commitment_id=commitment.id,
            status=status.value,
            owner_id=commitment.owner_id,
            team_id=commitment.team_id,
            overdue=overdue,
            actor_member_id=actor.id if actor is not None else None,
        ),
    )


# -- resolving a conversation that still has open promises ---------------------------------


class ResolveChoice(enum.StrEnum):
    """What resolving a conversation does to its open commitments."""

    KEEP_OPEN = "keep_open"  # the promise still stands; it keeps its owner and reminders
    KEPT = "kept"  # resolved because the promise was kept
    CANCEL = "cancel"  # no longer needed


RESOLVE_CHOICE_LABELS: dict[ResolveChoice, str] = {
    ResolveChoice.KEEP_OPEN: "Keep them open (the promise still stands)",
    ResolveChoice.KEPT: "Mark them kept",
    ResolveChoice.CANCEL: "Cancel them",
}


class OpenCommitments(Conflict):
    """Resolving needs a decision about the conversation's open commitments."""

    code = "open_commitments"

    def __init__(self, commitments: Sequence[Commitment]) -> None:
        n = len(commitments)
        super().__init__(
            f"this conversation has {n} open commitment{'s' if n != 1 else ''}: say what "
            "happens to them with commitments = keep_open, kept or cancel",
            field="commitments",
        )
        # A snapshot: the error body is written after the request's session is gone.
        self.commitments: list[dict[str, object]] = [
            {
                "id": c.id,
                "text": c.text,
                "due_at": c.due_at.isoformat(),
                "owner_id": c.owner_id,
                "team_id": c.team_id,
            }
            for c in commitments
        ]

    def details(self) -> dict[str, object]:
        return {"choices": [c.value for c in ResolveChoice], "commitments": self.commitments}


def open_for_conversation(session: Session, *, conversation_id: int) -> list[Commitment]:
    return list(
        session.scalars(
            select(Commitment)
            .where(Commitment.conversation_id == conversation_id, Commitment.status == OPEN)
            .order_by(Commitment.due_at, Commitment.id)
        )
    )


def open_for_contact(
    session: Session, *, organization_id: int, contact_id: int, limit: int = 50
) -> list[Commitment]:
    """The promises still open on a customer's conversations, soonest due first."""
    return list(
        session.scalars(
            select(Commitment)
            .where(
                Commitment.conversation_id.in_(
                    select(Conversation.id).where(
                        conversations_service.customer_is(organization_id, contact_id)
                    )
                ),
                Commitment.status == OPEN,
            )
            .order_by(Commitment.due_at, Commitment.id)
            .limit(limit)
        )
    )


def settle_before_resolving(
    session: Session,
    *,
    conversation: Conversation,
    actor: Member | None,
    choice: ResolveChoice | None,
    note: str = "",
    now: datetime | None = None,
) -> list[Commitment]:
    """Call before resolving ``conversation``: with open commitments and no ``choice``, raises
    OpenCommitments (the caller asks the person); otherwise applies the choice and returns the
    commitments it concerned."""
    found = open_for_conversation(session, conversation_id=conversation.id)
    if not found:
        return []
    if choice is None:
        raise OpenCommitments(found)
    now = now or clock.now()
    extra = " ".join(note.split())
    if choice is ResolveChoice.KEEP_OPEN:
        conversations_service.record(
            session,
            conversation=conversation,
            kind=TRAIL_KEPT_OPEN,
            actor=actor,
            data={"commitment_ids": [c.id for c in found]},
        )
        return found
    status = CommitmentStatus.KEPT if choice is ResolveChoice.KEPT else CommitmentStatus.CANCELLED
    base = (
        "Marked kept when the conversation was resolved"
        if status is CommitmentStatus.KEPT
        else "Cancelled when the conversation was resolved"
    )
    evidence = f"{base}: {extra}" if extra else base
    for commitment in found:
        close(
            session, commitment=commitment, actor=actor, status=status, evidence=evidence, now=now
        )
    return found


# -- reminders and overdue notices --------------------------------------------------------


def format_due(due_at: datetime, zone: tzinfo, *, now: datetime | None = None) -> str:
    """ "Tue 14:00" within the coming week, "Tue 13 Jan 14:00" beyond it."""
    now = now or clock.now()
    local = due_at.astimezone(zone)
    days = (local.date() - now.astimezone(zone).date()).days
    if 0 <= days < 7:
        return local.strftime("%a %H:%M")
    return local.strftime("%a %d %b %Y %H:%M")


def link_of(commitment: Commitment) -> str:
    return f"/conversations/{commitment.conversation_id}#commitment-{commitment.id}"


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _claim_due(
    session: Session, moment: str, column: str, *, now: datetime, batch: int
) -> Iterator[Commitment]:
    """Open commitments whose ``moment`` has come and whose notice (``column``) has not gone
    out, earliest first, each claimed before it is yielded: the one conditional UPDATE that
    decides which run sends the notice. Two runs racing for one row: on PostgreSQL the second
    waits for the first's row lock and then finds the column set; on SQLite writers take turns
    (BEGIN IMMEDIATE). Either way one run changes the row; the other skips it."""
    when = getattr(Commitment, moment)
    notice = getattr(Commitment, column)
    due = (Commitment.status == OPEN, when <= now, notice.is_(None))
    ids = list(
        session.scalars(
            select(Commitment.id).where(*due).order_by(when, Commitment.id).limit(batch)
        )
    )
    for commitment_id in ids:
        result = session.execute(
            sql_update(Commitment)
            .where(Commitment.id == commitment_id, *due)
            .values({column: now})
            .execution_options(synchronize_session=False)
        )
        if int(result.rowcount or 0) == 1:  # type: ignore[attr-defined]  # CursorResult
            yield _fresh(session, commitment_id)


def _fresh(session: Session, commitment_id: int) -> Commitment:
    return session.scalars(
        select(Commitment)
        .where(Commitment.id == commitment_id)
        .execution_options(populate_existing=True)
    ).one()


def _notice_team(session: Session, commitment: Commitment) -> Team | None:
    """The commitment's team, else the owner's first team: whose webhook hears of it."""
    team_id = commitment.team_id
    if team_id is None:
        team_id = session.scalar(
            select(TeamMembership.team_id)
            .where(TeamMembership.member_id == commitment.owner_id)
            .order_by(TeamMembership.team_id)
            .limit(1)
        )
    return session.get(Team, team_id) if team_id is not None else None


def send_due_reminders(session: Session, *, now: datetime | None = None, batch: int = BATCH) -> int:
    """Remind the owners of open commitments whose reminder time has come; returns how many
    were reminded. Each reminder is claimed by a conditional UPDATE (``reminded_at IS NULL``)
    in the same transaction as its notification, so it goes out once however many runs race."""
    now = now or clock.now()
    sent = 0
    for commitment in _claim_due(session, "remind_at", "reminded_at", now=now, batch=batch):
        if commitment.due_at <= now:
            continue  # the worker was behind: the overdue notice says it better
        _remind(session, commitment, now=now)
        sent += 1
    return sent


def _remind(session: Session, commitment: Commitment, *, now: datetime) -> None:
    conversation = session.get_one(Conversation, commitment.conversation_id)
    timing = _timing(session, conversation, commitment.team_id)
    due = format_due(commitment.due_at, timing.zone, now=now)
    title = f"Promise due {due}: {_short(commitment.text)}"
    body = (
        f"You promised in conversation #{conversation.id}"
        f"{f' ({conversation.subject})' if conversation.subject else ''}: {commitment.text}\n"
        f"Due {due} ({_zone_name(timing.zone)}). Keep it, or close it with a note."
    )
    notifications_service.notify(
        session,
        organization_id=commitment.organization_id,
        member_ids=[commitment.owner_id],
        kind=KIND_REMINDER,
        title=title,
        body=body,
        conversation_id=conversation.id,
        link=link_of(commitment),
        data={"commitment_id": commitment.id, "due_at": commitment.due_at.isoformat()},
    )
    owner = session.get_one(Member, commitment.owner_id)
    team = _notice_team(session, commitment)
    if team is not None:
        notifications_service.post_to_team(
            session,
            team=team,
            title=f"Promise due {due}",
            body=commitment.text,
            link=link_of(commitment),
            fields={"Owner": owner.name, "Conversation": f"#{conversation.id}"},
        )
    bus.emit(
        session,
        CommitmentReminded(
            organization_id=commitment.organization_id,
            conversation_id=commitment.conversation_id,
            commitment_id=commitment.id,
            owner_id=commitment.owner_id,
        ),
    )


def _zone_name(zone: tzinfo) -> str:
    return getattr(zone, "key", None) or str(zone)


def notify_overdue(session: Session, *, now: datetime | None = None, batch: int = BATCH) -> int:
    """Tell the owner and the team lead, once, about open commitments whose due time passed;
    returns how many. Claimed like reminders, on ``overdue_notified_at``."""
    now = now or clock.now()
    told = 0
    for commitment in _claim_due(session, "due_at", "overdue_notified_at", now=now, batch=batch):
        _overdue(session, commitment, now=now)
        told += 1
    return told


def _overdue(session: Session, commitment: Commitment, *, now: datetime) -> None:
    conversation = session.get_one(Conversation, commitment.conversation_id)
    timing = _timing(session, conversation, commitment.team_id)
    owner = session.get_one(Member, commitment.owner_id)
    team = _notice_team(session, commitment)
    recipients = {commitment.owner_id}
    if team is not None and team.lead_member_id is not None:
        recipients.add(team.lead_member_id)
    due = format_due(commitment.due_at, timing.zone, now=now)
    notifications_service.notify(
        session,
        organization_id=commitment.organization_id,
        member_ids=recipients,
        kind=KIND_OVERDUE,
        title=f"Overdue promise ({owner.name}): {_short(commitment.text)}",
        body=(
            f"Due {due} ({_zone_name(timing.zone)}) and still open, in conversation "
            f"#{conversation.id}: {commitment.text}\nOwner: {owner.name}. Keep it, or close it "
            "as broken or cancelled with a note."
        ),
        conversation_id=conversation.id,
        link=link_of(commitment),
        data={"commitment_id": commitment.id, "due_at": commitment.due_at.isoformat()},
    )
    if team is not None:
        notifications_service.post_to_team(
            session,
            team=team,
            title=f"Overdue promise (due {due})",
            body=commitment.text,
            link=link_of(commitment),
            fields={"Owner": owner.name, "Conversation": f"#{conversation.id}"},
        )
    bus.emit(
        session,
        CommitmentOverdue(
            organization_id=commitment.organization_id,
            conversation_id=commitment.conversation_id,
            commitment_id=commitment.id,
            owner_id=commitment.owner_id,
            team_id=commitment.team_id,
        ),
    )


# -- offboarding --------------------------------------------------------------------------


@dataclass(frozen=True)
class CommitmentHandover:
    commitment_id: int
    conversation_id: int
    text: str
    from_member_id: int
    to_member_id: int
    reason: str  # "named successor", "team lead" or "admin"


def _eligible(member: Member | None, leaving: Member) -> bool:
    return member is not None and member.is_active and member.id != leaving.id


def _lead_of(session: Session, team_id: int | None, leaving: Member) -> Member | None:
    if team_id is None:
        return None
    team = session.get(Team, team_id)
    if team is None or team.lead_member_id is None:
        return None
    lead = session.get(Member, team.lead_member_id)
    return lead if _eligible(lead, leaving) else None


def _an_admin(session: Session, leaving: Member, actor: Member | None) -> Member | None:
    if (
        actor is not None
        and _eligible(actor, leaving)
        and actor.organization_id == leaving.organization_id
        and actor.role in ADMIN_ROLES
    ):
        return actor
    return session.scalars(
        select(Member)
        .where(
            Member.organization_id == leaving.organization_id,
            Member.is_active.is_(True),
            Member.id != leaving.id,
            Member.role.in_(ADMIN_ROLES),
        )
        .order_by(Member.id)
        .limit(1)
    ).first()


def hand_over(
    session: Session,
    *,
    member: Member,
    to_member_id: int | None,
    actor: Member | None,
    now: datetime | None = None,
) -> list[CommitmentHandover]:
    """Give a leaving member's open commitments to someone who can keep them: the named
    successor, else the team lead of the commitment's (or conversation's) team, else an admin
    (the one offboarding, or the first owner or admin). Each move is in the conversation's
    trail, and each new owner hears of it in one notification. Idempotent: a second call finds
    nothing left to move."""
    now = now or clock.now()
    successor: Member | None = None
    if to_member_id is not None:
        candidate = session.get(Member, to_member_id)
        if (
            candidate is not None
            and candidate.organization_id == member.organization_id
            and _eligible(candidate, member)
        ):
            successor = candidate
    found = list(
        session.scalars(
            select(Commitment)
            .where(
                Commitment.organization_id == member.organization_id,
                Commitment.owner_id == member.id,
                Commitment.status == OPEN,
            )
            .order_by(Commitment.id)
        )
    )
    moved: list[CommitmentHandover] = []
    for commitment in found:
        conversation = session.get_one(Conversation, commitment.conversation_id)
        to: Member | None = successor
        reason = "named successor"
        if to is None:
            to = _lead_of(session, commitment.team_id, member) or _lead_of(
                session, conversation.team_id, member
            )
            reason = "team lead"
        if to is None:
            to = _an_admin(session, member, actor)
            reason = "admin"
        if to is None:
            log.warning(
                "commitment %s of %s: no active colleague to hand it to", commitment.id, member.id
            )
            continue
        commitment.owner_id = to.id
        conversations_service.record(
            session,
            conversation=conversation,
            kind=TRAIL_HANDED_OVER,
            actor=actor,
            data={
                "commitment_id": commitment.id,
                "from": member.id,
                "to": to.id,
                "reason": reason,
            },
        )
        bus.emit(
            session,
            CommitmentHandedOver(
                organization_id=commitment.organization_id,
                conversation_id=commitment.conversation_id,
                commitment_id=commitment.id,
                from_member_id=member.id,
                to_member_id=to.id,
                reason=reason,
            ),
        )
        moved.append(
            CommitmentHandover(
                commitment_id=commitment.id,
                conversation_id=commitment.conversation_id,
                text=commitment.text,
                from_member_id=member.id,
                to_member_id=to.id,
                reason=reason,
            )
        )
    by_owner: dict[int, list[CommitmentHandover]] = {}
    for handover in moved:
        by_owner.setdefault(handover.to_member_id, []).append(handover)
    for owner_id, items in by_owner.items():
        n = len(items)
        notifications_service.notify(
            session,
            organization_id=member.organization_id,
            member_ids=[owner_id],
            kind=KIND_HANDED_OVER,
            title=f"{n} promise{'s' if n != 1 else ''} of {member.name} now yours",
            body="\n".join(f"#{h.conversation_id}: {h.text}" for h in items),
            link="/commitments",
            data={"commitment_ids": [h.commitment_id for h in items], "from": member.id},
        )
    return moved


# -- lists ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommitmentFilter:
    owner_id: int | None = None
    team_id: int | None = None
    conversation_id: int | None = None
    # open, kept, broken, cancelled, closed (any of the three) or all
    status: str = "open"
    overdue: bool | None = None  # True: open and past due; False: everything else

    def validated(self) -> CommitmentFilter:
        if self.status not in STATUS_FILTERS:
            raise ValidationFailed(
                f"status must be one of {', '.join(STATUS_FILTERS)}, not {self.status!r}",
                field="status",
            )
        return self


def _is_overdue(now: datetime) -> Any:
    return and_(Commitment.status == OPEN, Commitment.due_at <= now)


def page(
    session: Session,
    *,
    organization_id: int,
    flt: CommitmentFilter,
    now: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Commitment]:
    """Commitments by due time, soonest first: among open ones the overdue come first."""
    now = now or clock.now()
    flt = flt.validated()
    stmt = select(Commitment).where(Commitment.organization_id == organization_id)
    if flt.owner_id is not None:
        stmt = stmt.where(Commitment.owner_id == flt.owner_id)
    if flt.team_id is not None:
        stmt = stmt.where(Commitment.team_id == flt.team_id)
    if flt.conversation_id is not None:
        stmt = stmt.where(Commitment.conversation_id == flt.conversation_id)
    if flt.status == "closed":
        stmt = stmt.where(Commitment.status != OPEN)
    elif flt.status != "all":
        stmt = stmt.where(Commitment.status == flt.status)
    if flt.overdue is True:
        stmt = stmt.where(_is_overdue(now))
    elif flt.overdue is False:
        stmt = stmt.where(not_(_is_overdue(now)))
    return keyset_page(
        session,
        stmt,
        when=Commitment.due_at,
        row_id=Commitment.id,
        key=lambda c: (c.due_at, c.id),
        cursor=cursor,
        limit=limit,
        newest_first=False,
    )


def for_conversation(session: Session, *, conversation_id: int) -> list[Commitment]:
    """A conversation's commitments: open ones by due time, then closed ones, latest first."""
    rows = list(
        session.scalars(
            select(Commitment)
            .where(Commitment.conversation_id == conversation_id)
            .order_by(Commitment.id)
        )
    )
    open_rows = sorted((c for c in rows if c.status == OPEN), key=lambda c: (c.due_at, c.id))
    closed = sorted(
        (c for c in rows if c.status != OPEN),
        key=lambda c: (c.closed_at or c.created_at, c.id),
        reverse=True,
    )
    return open_rows + closed


@dataclass(frozen=True)
class OpenCount:
    open: int = 0
    overdue: int = 0
    next_due_at: datetime | None = None


def open_counts(
    session: Session, *, conversation_ids: Sequence[int], now: datetime | None = None
) -> dict[int, OpenCount]:
    """Open and overdue commitments per conversation, with the soonest due: the inbox row's
    marker. Conversations without open commitments are left out."""
    if not conversation_ids:
        return {}
    now = now or clock.now()
    rows = session.execute(
        select(
            Commitment.conversation_id,
            func.count(),
            func.sum(case((Commitment.due_at <= now, 1), else_=0)),
            func.min(Commitment.due_at),
        )
        .where(Commitment.conversation_id.in_(list(conversation_ids)), Commitment.status == OPEN)
        .group_by(Commitment.conversation_id)
    ).all()
    return {
        int(cid): OpenCount(open=int(n), overdue=int(late or 0), next_due_at=soonest)
        for cid, n, late, soonest in rows
    }


@dataclass(frozen=True)
class Summary:
    """The counts a list page shows above its rows."""

    open: int = 0
    overdue: int = 0
    due_today: int = 0
    by_owner: dict[int, int] = field(default_factory=dict)


def counts(
    session: Session,
    *,
    organization_id: int,
    owner_id: int | None = None,
    team_id: int | None = None,
    now: datetime | None = None,
) -> Summary:
    """Open, overdue and due-later-today commitments (today in the organization's zone), and
    open ones per owner."""
    now = now or clock.now()
    organization = session.get_one(Organization, organization_id)
    zone = zone_of(organization.timezone)
    end_of_today = end_of_day(local_today(now, zone), zone)
    stmt = select(
        Commitment.owner_id,
        func.count(),
        func.sum(case((Commitment.due_at <= now, 1), else_=0)),
        func.sum(
            case((and_(Commitment.due_at > now, Commitment.due_at <= end_of_today), 1), else_=0)
        ),
    ).where(Commitment.organization_id == organization_id, Commitment.status == OPEN)
    if owner_id is not None:
        stmt = stmt.where(Commitment.owner_id == owner_id)
    if team_id is not None:
        stmt = stmt.where(Commitment.team_id == team_id)
    open_n = overdue = today = 0
    by_owner: dict[int, int] = {}
    for owner, n, late, soon in session.execute(stmt.group_by(Commitment.owner_id)):
        open_n += int(n)
        overdue += int(late or 0)
        today += int(soon or 0)
        by_owner[int(owner)] = int(n)
    return Summary(open=open_n, overdue=overdue, due_today=today, by_owner=by_owner)


def is_overdue(commitment: Commitment, *, now: datetime | None = None) -> bool:
    return commitment.status == OPEN and commitment.due_at <= (now or clock.now())


EDITED_OUT = "An approver edited this promise out of the reply before it was sent"


@dataclass(frozen=True)
class ApprovedEdits:
    """What an approver's edit did to a reply's commitments."""

    cancelled: list[Commitment]
    created: list[Commitment]
    moved: list[Commitment]

    def __bool__(self) -> bool:
        return bool(self.cancelled or self.created or self.moved)


def reconcile_approved_reply(
    session: Session, *, approval: Approval, now: datetime | None = None
) -> ApprovedEdits:
    """Commitments follow the text that was sent. An approver who edits a held reply may take a
    promise out (its commitment is cancelled: the customer was never told), put one in (a
    commitment is created, owned by the reply's author, as if they had written it) or give a
    promise another time ("tomorrow" made "on Friday": its commitment is due when the sent
    text says). Promises in both texts otherwise stay as the author kept them. Safe to run
    again: a promise already tracked for the reply is not added or moved twice."""
    final = approval.approved_text
    if final is None or final == approval.original_text:
        return ApprovedEdits([], [], [])
    message = session.get_one(Message, approval.message_id)
    conversation = session.get_one(Conversation, message.conversation_id)
    before = detect(session, conversation=conversation, text=approval.original_text, now=now)
    after = detect(session, conversation=conversation, text=final, now=now)
    # A promise is the same when its action is (a new time or wording for "refund you" is the
    # same promise, whose commitment the author keeps and can move).
    before_actions = {_action_key(p) for p in before}
    after_by_action = {_action_key(p): p for p in after}
    edited_out: set[str] = set()
    retimed: dict[str, DetectedPromise] = {}
    for p in before:
        sent = after_by_action.get(_action_key(p))
        if sent is None:
            edited_out.add(p.text)
        elif not sent.due_is_default and sent.due_phrase != p.due_phrase:
            # Another time named in the sent text: the commitment follows what the customer
            # read. A time taken out (the default applies) leaves the author's due time.
            retimed[p.text] = sent
    tracked = list(
        session.scalars(
            select(Commitment)
            .where(
                Commitment.message_id == message.id,
                Commitment.source == CommitmentSource.DETECTED.value,
            )
            .order_by(Commitment.id)
        )
    )
    cancelled: list[Commitment] = []
    moved: list[Commitment] = []
    approver = (
        session.get(Member, approval.decided_by_id) if approval.decided_by_id is not None else None
    )
    for commitment in tracked:
        # Matched on the detected wording; one the author reworded is left to its owner.
        if commitment.status != OPEN:
            continue
        if commitment.text in edited_out:
            close(
                session,
                commitment=commitment,
                actor=None,
                status=CommitmentStatus.CANCELLED,
                evidence=EDITED_OUT,
                now=now,
            )
            cancelled.append(commitment)
        elif commitment.text in retimed and approver is not None:
            promise = retimed[commitment.text]
            try:
                changed = update(
                    session,
                    commitment=commitment,
                    actor=approver,
                    text=promise.text,
                    due_at=promise.due_at,
                    now=now,
                )
            except ValidationFailed:
                continue  # a time already past: the owner moves it by hand
            if "due_at" in changed:
                moved.append(commitment)
    known = {c.text for c in tracked}
    added = [p for p in after if _action_key(p) not in before_actions and p.text not in known]
    if not added or message.author_member_id is None:
        return ApprovedEdits(cancelled, [], moved)
    author = session.get_one(Member, message.author_member_id)
    skip = [PromiseDecision(key=p.key, keep=False) for p in after if p not in added]
    created = keep_promises(
        session,
        conversation=conversation,
        message=message,
        author=author,
        text=final,
        decisions=skip,
        now=now,
    )
    return ApprovedEdits(cancelled, created, moved)


def _action_key(promise: DetectedPromise) -> str:
    return " ".join(promise.action.lower().split())


def undelivered(session: Session, commitments: Sequence[Commitment]) -> dict[int, str]:
    """Open commitments whose reply failed to deliver, with the delivery error.

    The customer has not been told of these promises: until the reply is retried and sent, the
    desk says so beside each one (a held reply is not listed: it is waiting for an approver).
    """
    owed = [c for c in commitments if c.status == OPEN and c.message_id is not None]
    if not owed:
        return {}
    failed = session.execute(
        select(Message.id, Message.delivery_error).where(
            Message.id.in_({c.message_id for c in owed}),
            Message.delivery_state == DeliveryState.FAILED.value,
        )
    ).all()
    reasons = {message_id: error or "delivery failed" for message_id, error in failed}
    return {c.id: reasons[c.message_id] for c in owed if c.message_id in reasons}


def cancel_for_unsent_message(
    session: Session, *, organization_id: int, message_id: int, reason: str
) -> list[Commitment]:
    """Cancel the open promises of a reply that will never go out (an approver rejected it):
    the customer was never told, so nothing is owed."""
    found = list(
        session.scalars(
            select(Commitment)
            .where(
                Commitment.organization_id == organization_id,
                Commitment.message_id == message_id,
                Commitment.status == OPEN,
            )
            .order_by(Commitment.id)
        )
    )
    for commitment in found:
        close(
            session,
            commitment=commitment,
            actor=None,
            status=CommitmentStatus.CANCELLED,
            evidence=reason,
        )
    return found
