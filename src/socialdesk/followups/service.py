"""Follow-ups: a day (or whatever the policy says) after a conversation is resolved, ask the
customer whether it really worked, and listen to the answer.

* **Policies.** The most specific one applies: the brand account's, else its channel's, else
  the organization's, else the built-in default (on, 24 hours, :data:`BUILTIN_TEMPLATE`).
* **Scheduling.** A resolution schedules one follow-up (unique per conversation and
  resolution time); reopening before it is due skips it, with the reason.
* **Sending** happens in one transaction: claim the follow-up (a conditional UPDATE
  ``scheduled -> sending`` that exactly one worker wins), check it is still wanted, queue the
  message through the one send gateway (``outbound.queue_reply``: code of conduct included)
  and mark it sent. A worker that dies anywhere in between rolls everything back, so the
  follow-up is scheduled again and its message was never queued: never lost, never twice.
* **A person follows up** (status ``task``, with a notification) when the desk cannot: the
  channel's messaging window has closed, the code of conduct blocked or held the text, nobody
  may send as the brand account, or delivery failed.
* **Answers.** The customer's first message after the follow-up is its answer: fixed or not,
  a 1-5 score or thumbs when a survey was asked, and an opt-out ("stop") when they say so.

Plain keyword-only functions that never commit; jobs.py owns the transactions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from socialdesk.accounts import audit
from socialdesk.accounts.models import Member, Organization, Team
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.common.errors import Conflict, DomainError, NotFound, ValidationFailed
from socialdesk.connectors.base import ChannelKind, Visibility
from socialdesk.contacts.models import Contact
from socialdesk.conversations import placeholders
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import (
    Activity,
    Conversation,
    DeliveryState,
    Direction,
    Message,
    Status,
)
from socialdesk.events import bus
from socialdesk.events.types import ConversationChanged
from socialdesk.followups import answers
from socialdesk.followups.models import FollowUp, FollowUpPolicy, FollowUpStatus, Survey
from socialdesk.jobs import queue as jobs
from socialdesk.notifications import service as notifications_service
from socialdesk.outbound import service as outbound_service
from socialdesk.triage.models import MessageTriage

log = logging.getLogger(__name__)

BUILTIN_TEMPLATE = "Hi {name}, checking in: is everything working again?"
BUILTIN_DELAY_MINUTES = 24 * 60
# The follow-up's own word for {agent}; the others are every template's (placeholders.py).
PLACEHOLDERS: dict[str, str] = {
    **placeholders.PLACEHOLDERS,
    "agent": "the name of the member the follow-up is sent as (who resolved it)",
}
SAMPLE_VALUES: dict[str, str] = placeholders.SAMPLE_VALUES
SURVEY_QUESTIONS: dict[Survey, str] = {
    Survey.SCALE: "How would you rate our help, from 1 (poor) to 5 (great)?",
    Survey.THUMBS: "Reply 👍 or 👎 to tell us how we did.",
}
MAX_TEMPLATE = 1000
MAX_DELAY_MINUTES = 60 * 24 * 30
MAX_REASON = 300
# Sweeps look this far back for work a lost listener call or job left undone.
RESOLUTION_LOOKBACK = timedelta(days=1)
ANSWER_LOOKBACK = timedelta(days=14)
# A follow-up message still waiting for its first delivery attempt after this long lost its
# delivery job (a crash between commit and enqueue): it is enqueued again.
DELIVERY_NUDGE_AFTER = timedelta(minutes=5)

ACTIVITY_SENT = "followup_sent"
ACTIVITY_SKIPPED = "followup_skipped"
ACTIVITY_TASK = "followup_task"
ACTIVITY_ANSWERED = "followup_answered"
ACTIVITY_CANCELLED = "followup_cancelled"
ACTIVITY_OPT_OUT = "followup_opt_out"
NOTIFY_TASK = "followup.task"
NOTIFY_NEGATIVE = "followup.negative"

# Called with the follow-up's id right after a worker claimed it, inside the claiming
# transaction. Empty in production; the durability test stops a worker process here.
AFTER_CLAIM: list[Callable[[int], None]] = []

# -- templates ----------------------------------------------------------------------------


def placeholders_in(template: str) -> list[str]:
    """The placeholder names a template uses, in order; raises ValidationFailed for a template
    Python's formatter cannot read (an unmatched brace) or a placeholder with a format."""
    return placeholders.names_in(template, field="template")


def validate_template(template: str) -> str:
    text = template.strip()
    if not text:
        raise ValidationFailed("the template must not be empty", field="template")
    if len(text) > MAX_TEMPLATE:
        raise ValidationFailed(
            f"the template holds at most {MAX_TEMPLATE} characters, not {len(text)}",
            field="template",
        )
    placeholders.check(text, field="template")
    return text


def render(template: str, values: dict[str, str], survey: Survey | str = Survey.NONE) -> str:
    """The follow-up's text: the template filled in, and the survey's question when one is
    asked. ``values`` must hold every placeholder (see :data:`PLACEHOLDERS`)."""
    validate_template(template)
    text = placeholders.fill(template.strip(), values)
    question = SURVEY_QUESTIONS.get(Survey(survey))
    return f"{text}\n\n{question}" if question else text


# -- policies -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectivePolicy:
    enabled: bool
    delay_minutes: int
    template: str
    survey: Survey
    source: str  # "brand account", "channel", "organization" or "built-in"
    policy_id: int | None

    @property
    def delay(self) -> timedelta:
        return timedelta(minutes=self.delay_minutes)


BUILTIN = EffectivePolicy(
    enabled=True,
    delay_minutes=BUILTIN_DELAY_MINUTES,
    template=BUILTIN_TEMPLATE,
    survey=Survey.NONE,
    source="built-in",
    policy_id=None,
)


def list_policies(session: Session, *, organization_id: int) -> list[FollowUpPolicy]:
    """The organization's default first, then channels, then brand accounts."""
    rows = session.scalars(
        select(FollowUpPolicy).where(FollowUpPolicy.organization_id == organization_id)
    ).all()
    return sorted(
        rows,
        key=lambda p: (
            0 if p.brand_account_id is None and p.channel is None else 1 if p.channel else 2,
            p.channel or "",
            p.brand_account_id or 0,
            p.id,
        ),
    )


def _scope(
    session: Session, *, organization_id: int, brand_account_id: int | None, channel: str | None
) -> tuple[int | None, str | None]:
    if brand_account_id is not None and channel:
        raise ValidationFailed(
            "a policy is for a brand account or for a channel, not both", field="channel"
        )
    if brand_account_id is not None:
        account = session.get(BrandAccount, brand_account_id)
        if account is None or account.organization_id != organization_id:
            raise NotFound(
                f"brand account {brand_account_id} does not exist", field="brand_account_id"
            )
        return brand_account_id, None
    if channel:
        try:
            return None, ChannelKind(channel).value
        except ValueError:
            raise ValidationFailed(
                f"unknown channel {channel!r}; one of {', '.join(k.value for k in ChannelKind)}",
                field="channel",
            ) from None
    return None, None


def get_policy(
    session: Session,
    *,
    organization_id: int,
    brand_account_id: int | None = None,
    channel: str | None = None,
) -> FollowUpPolicy | None:
    """The policy set for exactly this scope (None: none set there)."""
    account_id, kind = _scope(
        session, organization_id=organization_id, brand_account_id=brand_account_id, channel=channel
    )
    return session.scalar(
        select(FollowUpPolicy)
        .where(
            FollowUpPolicy.organization_id == organization_id,
            FollowUpPolicy.brand_account_id.is_(None)
            if account_id is None
            else FollowUpPolicy.brand_account_id == account_id,
            FollowUpPolicy.channel.is_(None) if kind is None else FollowUpPolicy.channel == kind,
        )
        .order_by(FollowUpPolicy.id)
        .limit(1)
    )


def _snapshot(policy: FollowUpPolicy) -> dict[str, object]:
    return {
        "brand_account_id": policy.brand_account_id,
        "channel": policy.channel,
        "enabled": policy.enabled,
        "delay_minutes": policy.delay_minutes,
        "template": policy.template,
        "survey": policy.survey,
    }


def save_policy(
    session: Session,
    *,
    organization_id: int,
    actor: Member | None,
    template: str,
    brand_account_id: int | None = None,
    channel: str | None = None,
    enabled: bool = True,
    delay_minutes: int = BUILTIN_DELAY_MINUTES,
    survey: Survey | str = Survey.NONE,
) -> FollowUpPolicy:
    """Set the policy of one scope (the organization when both scope fields are None)."""
    account_id, kind = _scope(
        session, organization_id=organization_id, brand_account_id=brand_account_id, channel=channel
    )
    if not 0 <= delay_minutes <= MAX_DELAY_MINUTES:
        raise ValidationFailed(
            f"the delay must be between 0 minutes and {MAX_DELAY_MINUTES // (60 * 24)} days",
            field="delay_minutes",
        )
    try:
        survey = Survey(survey)
    except ValueError:
        raise ValidationFailed(
            f"survey must be one of {', '.join(s.value for s in Survey)}, not {survey!r}",
            field="survey",
        ) from None
    text = validate_template(template)
    policy = get_policy(
        session, organization_id=organization_id, brand_account_id=account_id, channel=kind
    )
    before = _snapshot(policy) if policy else None
    if policy is None:
        policy = FollowUpPolicy(
            organization_id=organization_id, brand_account_id=account_id, channel=kind
        )
        session.add(policy)
    policy.enabled = enabled
    policy.delay_minutes = delay_minutes
    policy.template = text
    policy.survey = survey.value
    policy.updated_at = clock.now()
    session.flush()
    audit.record(
        session,
        organization_id=organization_id,
        action="policy_changed",
        actor=actor,
        target=("follow_up_policy", policy.id),
        before=before,
        after=_snapshot(policy),
    )
    return policy


def delete_policy(
    session: Session,
    *,
    organization_id: int,
    actor: Member | None,
    brand_account_id: int | None = None,
    channel: str | None = None,
) -> None:
    """Remove one scope's policy: the next less specific one applies again."""
    policy = get_policy(
        session, organization_id=organization_id, brand_account_id=brand_account_id, channel=channel
    )
    if policy is None:
        raise NotFound("no follow-up policy is set there")
    audit.record(
        session,
        organization_id=organization_id,
        action="policy_changed",
        actor=actor,
        target=("follow_up_policy", policy.id),
        before=_snapshot(policy),
        after=None,
    )
    session.delete(policy)
    session.flush()


def effective_policy(session: Session, *, account: BrandAccount) -> EffectivePolicy:
    """The policy that applies to conversations of ``account``: most specific wins."""
    rows = session.scalars(
        select(FollowUpPolicy).where(
            FollowUpPolicy.organization_id == account.organization_id,
            or_(
                FollowUpPolicy.brand_account_id == account.id,
                and_(
                    FollowUpPolicy.brand_account_id.is_(None),
                    or_(FollowUpPolicy.channel == account.kind, FollowUpPolicy.channel.is_(None)),
                ),
            ),
        )
    ).all()

    def rank(p: FollowUpPolicy) -> tuple[int, int]:
        return (0 if p.brand_account_id is not None else 1 if p.channel else 2, p.id)

    if not rows:
        return BUILTIN
    best = min(rows, key=rank)
    source = (
        "brand account"
        if best.brand_account_id is not None
        else "channel"
        if best.channel
        else "organization"
    )
    return EffectivePolicy(
        enabled=best.enabled,
        delay_minutes=best.delay_minutes,
        template=best.template,
        survey=Survey(best.survey),
        source=source,
        policy_id=best.id,
    )


# -- helpers ------------------------------------------------------------------------------


def _changed(session: Session, follow_up: FollowUp, actor: Member | None = None) -> None:
    """Live views refresh the conversation's follow-up panel on this event."""
    bus.emit(
        session,
        ConversationChanged(
            organization_id=follow_up.organization_id,
            conversation_id=follow_up.conversation_id,
            fields=("followup",),
            actor_member_id=actor.id if actor else None,
        ),
    )


def _record(
    session: Session,
    conversation: Conversation,
    kind: str,
    follow_up: FollowUp,
    actor: Member | None = None,
    **data: object,
) -> None:
    conversations_service.record(
        session,
        conversation=conversation,
        kind=kind,
        actor=actor,
        data={"follow_up_id": follow_up.id, **{k: v for k, v in data.items() if v is not None}},
    )


def _org_zone(session: Session, organization_id: int) -> ZoneInfo:
    org = session.get(Organization, organization_id)
    try:
        return ZoneInfo(org.timezone if org and org.timezone else "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _at(session: Session, organization_id: int, when: datetime) -> str:
    zone = _org_zone(session, organization_id)
    return f"{when.astimezone(zone):%a %d %b %Y %H:%M} ({zone.key})"


def _last_resolver_id(session: Session, conversation: Conversation) -> int | None:
    """Who resolved the conversation last (None: an automation or nobody recorded)."""
    recent = session.scalars(
        select(Activity)
        .where(Activity.conversation_id == conversation.id, Activity.kind == "status_changed")
        .order_by(Activity.id.desc())
        .limit(20)
    )
    for activity in recent:
        if (activity.data or {}).get("to") == Status.RESOLVED.value:
            return activity.actor_member_id
    return None


def _linked_conversation_ids(session: Session, conversation: Conversation) -> list[int]:
    """The conversation, and the one it follows when the customer wrote after the quiet
    period (their answer to a follow-up then starts a new conversation)."""
    ids = [conversation.id]
    follows = session.scalar(
        select(Activity)
        .where(Activity.conversation_id == conversation.id, Activity.kind == "follows")
        .order_by(Activity.id)
        .limit(1)
    )
    if follows is not None:
        previous = (follows.data or {}).get("previous")
        if isinstance(previous, int):
            ids.append(previous)
    return ids


def _owner_ids(session: Session, conversation: Conversation, follow_up: FollowUp) -> list[int]:
    """Who hears about a follow-up a person must take over: the assignee and the member who
    resolved it; else the team's lead; else the organization's admins."""
    wanted = [m for m in (conversation.assignee_id, follow_up.member_id) if m is not None]
    if wanted:
        return wanted
    if conversation.team_id is not None:
        team = session.get(Team, conversation.team_id)
        if team is not None and team.lead_member_id is not None:
            return [team.lead_member_id]
    return notifications_service.admin_ids(session, organization_id=conversation.organization_id)


def contact_label(session: Session, conversation: Conversation) -> str:
    values = template_values(session, conversation=conversation, author=None)
    return values["handle"] or values["name"]


def template_values(
    session: Session, *, conversation: Conversation, author: Member | None
) -> dict[str, str]:
    """What the placeholders stand for in this conversation."""
    return placeholders.values(
        session, conversation=conversation, author_name=author.name if author else None
    )


def messaging_window(account: BrandAccount) -> timedelta | None:
    """How long after the customer's last message the channel still accepts a direct message
    from the brand (None: no such limit). Messenger: 24 hours, 7 days for Pages approved for
    the human agent tag (connectors/facebook/send.py)."""
    if account.kind == ChannelKind.FACEBOOK.value:
        return timedelta(days=7) if account.settings.get("human_agent_tag") else timedelta(hours=24)
    return None


def _last_inbound(session: Session, conversation: Conversation) -> Message | None:
    return session.scalar(
        select(Message)
        .where(
            Message.conversation_id == conversation.id,
            Message.direction == Direction.INBOUND.value,
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )


def window_closed_reason(
    session: Session, *, conversation: Conversation, account: BrandAccount, now: datetime
) -> str | None:
    """Why the channel can no longer message this customer directly (None: it can). A reply
    answers in kind, so only a conversation whose customer wrote privately is concerned."""
    window = messaging_window(account)
    if window is None:
        return None
    last = _last_inbound(session, conversation)
    if last is None or last.visibility != Visibility.DIRECT.value:
        return None
    closes = max(conversation.last_customer_message_at or last.created_at, last.created_at) + window
    if now < closes:
        return None
    hours = int(window.total_seconds() // 3600)
    when = _at(session, account.organization_id, closes)
    return (
        f"the {account.kind} messaging window closed {when}: the channel accepts a message "
        f"only within {hours} hours of the customer's last one; follow up by hand"
    )


# -- scheduling ---------------------------------------------------------------------------


def for_conversation(session: Session, *, conversation_id: int, limit: int = 20) -> list[FollowUp]:
    """A conversation's follow-ups, newest resolution first."""
    return list(
        session.scalars(
            select(FollowUp)
            .where(FollowUp.conversation_id == conversation_id)
            .order_by(FollowUp.resolved_at.desc(), FollowUp.id.desc())
            .limit(limit)
        )
    )


def answered_by_contact(
    session: Session, *, organization_id: int, contact_id: int, limit: int = 5
) -> list[FollowUp]:
    """What a customer answered to the follow-ups of their conversations ("was it fixed?"),
    latest first. Read by their conversations (the contact index), not the organization's
    follow-ups."""
    theirs = select(Conversation.id).where(
        conversations_service.customer_is(organization_id, contact_id)
    )
    return list(
        session.scalars(
            select(FollowUp)
            .where(
                FollowUp.conversation_id.in_(theirs),
                FollowUp.status == FollowUpStatus.ANSWERED.value,
            )
            .order_by(FollowUp.answered_at.desc(), FollowUp.id.desc())
            .limit(limit)
        )
    )


def _skip(
    session: Session,
    conversation: Conversation | None,
    follow_up: FollowUp,
    reason: str,
    *,
    status: FollowUpStatus = FollowUpStatus.SKIPPED,
    actor: Member | None = None,
) -> FollowUp:
    follow_up.status = status.value
    follow_up.reason = reason[:MAX_REASON]
    if conversation is not None:
        kind = ACTIVITY_CANCELLED if status is FollowUpStatus.CANCELLED else ACTIVITY_SKIPPED
        _record(session, conversation, kind, follow_up, actor, reason=follow_up.reason)
    _changed(session, follow_up, actor)
    return follow_up


def _already_answered(session: Session, conversation: Conversation) -> FollowUp | None:
    """A follow-up whose answer is still the customer's last word: resolving after a "fixed"
    answer must not ask again."""
    answered = session.scalar(
        select(FollowUp)
        .where(
            FollowUp.conversation_id.in_(_linked_conversation_ids(session, conversation)),
            FollowUp.status == FollowUpStatus.ANSWERED.value,
        )
        .order_by(FollowUp.answered_at.desc())
        .limit(1)
    )
    last = conversation.last_customer_message_at
    if answered is None or answered.answered_at is None or last is None:
        return None
    return answered if answered.answered_at >= last else None


def schedule(session: Session, *, conversation: Conversation) -> FollowUp | None:
    """The follow-up of the conversation's current resolution (created once: a second call,
    from a retried job or the sweep, returns the same row). None when it is not resolved."""
    if conversation.status != Status.RESOLVED.value or conversation.resolved_at is None:
        return None
    resolved_at = conversation.resolved_at
    existing = session.scalar(
        select(FollowUp).where(
            FollowUp.conversation_id == conversation.id, FollowUp.resolved_at == resolved_at
        )
    )
    if existing is not None:
        return existing
    # An earlier resolution's follow-up that is still waiting is replaced by this one.
    for older in session.scalars(
        select(FollowUp).where(
            FollowUp.conversation_id == conversation.id,
            FollowUp.status == FollowUpStatus.SCHEDULED.value,
            FollowUp.resolved_at < resolved_at,
        )
    ):
        _skip(session, conversation, older, "resolved again later: a newer follow-up replaces it")
    account = session.get_one(BrandAccount, conversation.brand_account_id)
    policy = effective_policy(session, account=account)
    follow_up = FollowUp(
        organization_id=conversation.organization_id,
        conversation_id=conversation.id,
        brand_account_id=account.id,
        contact_id=conversation.contact_id,
        member_id=_last_resolver_id(session, conversation),
        team_id=conversation.team_id,
        resolved_at=resolved_at,
        due_at=resolved_at + policy.delay,
        status=FollowUpStatus.SCHEDULED.value,
        survey=policy.survey.value,
        created_at=clock.now(),
    )
    answered = _already_answered(session, conversation)
    if not policy.enabled:
        follow_up.status = FollowUpStatus.SKIPPED.value
        follow_up.reason = f"follow-ups are off ({policy.source} policy)"
    elif answered is not None:
        follow_up.status = FollowUpStatus.SKIPPED.value
        follow_up.reason = "the customer already answered the last follow-up"
    try:
        with session.begin_nested():
            session.add(follow_up)
    except IntegrityError:
        # Another worker scheduled this resolution a moment ago: that row wins.
        return session.scalar(
            select(FollowUp).where(
                FollowUp.conversation_id == conversation.id, FollowUp.resolved_at == resolved_at
            )
        )
    _changed(session, follow_up)
    return follow_up


def cancel_waiting(session: Session, *, conversation: Conversation) -> int:
    """The conversation is no longer resolved: its waiting follow-up has nothing to check."""
    waiting = session.scalars(
        select(FollowUp).where(
            FollowUp.conversation_id == conversation.id,
            FollowUp.status == FollowUpStatus.SCHEDULED.value,
        )
    ).all()
    for follow_up in waiting:
        _skip(
            session,
            conversation,
            follow_up,
            f"the conversation was reopened ({conversation.status}) before the follow-up was due",
        )
    return len(waiting)


def sync(session: Session, *, conversation_id: int) -> FollowUp | None:
    """Bring a conversation's follow-ups in line with its status (run after a status change,
    and by the sweep): resolved schedules one, anything else skips the waiting one."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        return None
    if conversation.status == Status.RESOLVED.value:
        return schedule(session, conversation=conversation)
    cancel_waiting(session, conversation=conversation)
    return None


# -- sending ------------------------------------------------------------------------------


def due_ids(session: Session, *, now: datetime, limit: int = 100) -> list[int]:
    return list(
        session.scalars(
            select(FollowUp.id)
            .where(
                FollowUp.status == FollowUpStatus.SCHEDULED.value,
                FollowUp.due_at <= now,
            )
            .order_by(FollowUp.due_at, FollowUp.id)
            .limit(limit)
        )
    )


def claim(session: Session, *, follow_up_id: int, now: datetime, force: bool = False) -> bool:
    """``scheduled -> sending`` for exactly one caller; due ones only unless ``force``."""
    conditions = [FollowUp.id == follow_up_id, FollowUp.status == FollowUpStatus.SCHEDULED.value]
    if not force:
        conditions.append(FollowUp.due_at <= now)
    result = session.execute(
        update(FollowUp)
        .where(*conditions)
        .values(status=FollowUpStatus.SENDING.value)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]  # UPDATE results carry rowcount


def _make_task(
    session: Session, conversation: Conversation, follow_up: FollowUp, reason: str
) -> FollowUp:
    follow_up.status = FollowUpStatus.TASK.value
    follow_up.reason = reason[:MAX_REASON]
    _record(session, conversation, ACTIVITY_TASK, follow_up, reason=follow_up.reason)
    who = contact_label(session, conversation)
    notifications_service.notify(
        session,
        organization_id=conversation.organization_id,
        member_ids=_owner_ids(session, conversation, follow_up),
        kind=NOTIFY_TASK,
        title=f"Follow up with {who} by hand",
        body=f"The automatic follow-up was not sent: {follow_up.reason}",
        conversation_id=conversation.id,
        link=f"/conversations/{conversation.id}",
        data={"follow_up_id": follow_up.id},
    )
    _changed(session, follow_up)
    return follow_up


def _sender(
    session: Session, conversation: Conversation, account: BrandAccount, follow_up: FollowUp
) -> Member | None:
    """The follow-up is sent as the member who resolved the conversation, else its assignee:
    whoever of them is active and may reply as the brand account."""
    for member_id in dict.fromkeys((follow_up.member_id, conversation.assignee_id)):
        if member_id is None:
            continue
        member = session.get(Member, member_id)
        if (
            member is not None
            and member.is_active
            and member.organization_id == conversation.organization_id
            and channels_service.may_act_for(session, account=account, member_id=member.id)
        ):
            return member
    return None


def _stale_reason(
    session: Session, conversation: Conversation | None, follow_up: FollowUp
) -> str | None:
    if conversation is None:
        return "the conversation no longer exists"
    if conversation.status != Status.RESOLVED.value or conversation.resolved_at is None:
        return f"the conversation was reopened ({conversation.status}) before the follow-up"
    if conversation.resolved_at != follow_up.resolved_at:
        return "resolved again later: a newer follow-up replaces it"
    newer = session.scalar(
        select(FollowUp.id)
        .where(
            FollowUp.conversation_id == conversation.id,
            FollowUp.resolved_at > follow_up.resolved_at,
        )
        .limit(1)
    )
    if newer is not None:
        return "a newer follow-up replaces it"
    return None


# One return per reason not to send reads better than a chain of flags.
def _deliver(  # noqa: PLR0911
    session: Session, follow_up: FollowUp, *, now: datetime, actor: Member | None
) -> FollowUp:
    """A claimed follow-up: skip it, make it a task, or queue its message (same transaction)."""
    conversation = session.get(Conversation, follow_up.conversation_id)
    stale = _stale_reason(session, conversation, follow_up)
    if stale is not None:
        return _skip(session, conversation, follow_up, stale)
    assert conversation is not None
    account = session.get_one(BrandAccount, conversation.brand_account_id)
    policy = effective_policy(session, account=account)
    if not policy.enabled and actor is None:
        return _skip(
            session,
            conversation,
            follow_up,
            f"follow-ups were turned off ({policy.source} policy) after it was scheduled",
        )
    contact = session.get(Contact, conversation.contact_id) if conversation.contact_id else None
    if contact is None:
        return _skip(session, conversation, follow_up, "the conversation has no known customer")
    if contact.opted_out_at is not None:
        return _skip(
            session,
            conversation,
            follow_up,
            "the customer asked not to be contacted unprompted (opted out "
            f"{_at(session, conversation.organization_id, contact.opted_out_at)})",
        )
    author = _sender(session, conversation, account, follow_up)
    if author is None:
        return _make_task(
            session,
            conversation,
            follow_up,
            f"no active member who resolved or owns it may send as {account.display_name}",
        )
    closed = window_closed_reason(session, conversation=conversation, account=account, now=now)
    if closed is not None:
        return _make_task(session, conversation, follow_up, closed)
    follow_up.survey = policy.survey.value
    text = render(
        policy.template,
        template_values(session, conversation=conversation, author=author),
        policy.survey,
    )
    follow_up.text = text
    try:
        message = outbound_service.queue_reply(
            session, conversation=conversation, author=author, text=text
        )
    except outbound_service.Blocked as exc:
        return _make_task(session, conversation, follow_up, f"the code of conduct {exc.message}")
    except outbound_service.NeedsConfirmation as exc:
        reasons = "; ".join(r.explain for r in exc.outcome.reasons)
        return _make_task(
            session,
            conversation,
            follow_up,
            f"the code of conduct asks a person to confirm it: {reasons}",
        )
    except DomainError as exc:
        return _make_task(session, conversation, follow_up, f"not sent: {exc.message}")
    follow_up.message_id = message.id
    if message.delivery_state == DeliveryState.HELD.value:
        return _make_task(
            session,
            conversation,
            follow_up,
            "held for approval by the code of conduct: it goes out once an approver approves it",
        )
    follow_up.status = FollowUpStatus.SENT.value
    follow_up.sent_at = now
    follow_up.reason = None
    _record(session, conversation, ACTIVITY_SENT, follow_up, actor, message_id=message.id)
    _changed(session, follow_up, actor)
    return follow_up


def send_one(
    session: Session,
    *,
    follow_up_id: int,
    now: datetime | None = None,
    force: bool = False,
    actor: Member | None = None,
) -> FollowUp | None:
    """Claim one follow-up and handle it. None when it is not due or another worker has it.
    The caller commits once: claim, checks, the queued message and the new status together."""
    now = now or clock.now()
    if not claim(session, follow_up_id=follow_up_id, now=now, force=force):
        return None
    for hook in AFTER_CLAIM:
        hook(follow_up_id)
    follow_up = session.get_one(FollowUp, follow_up_id)
    session.refresh(follow_up)
    return _deliver(session, follow_up, now=now, actor=actor)


def fail_unexpectedly(session: Session, *, follow_up_id: int, error: str) -> None:
    """A follow-up whose handling raised: a person looks instead of a retry every minute."""
    follow_up = session.get(FollowUp, follow_up_id)
    if follow_up is None or follow_up.status != FollowUpStatus.SCHEDULED.value:
        return
    conversation = session.get(Conversation, follow_up.conversation_id)
    if conversation is None:
        _skip(session, None, follow_up, "the conversation no longer exists")
        return
    _make_task(session, conversation, follow_up, f"could not be sent: {error}")


def send_now(session: Session, *, follow_up: FollowUp, actor: Member) -> FollowUp:
    """A person sends a waiting follow-up before its time (same checks as the worker's)."""
    if follow_up.status != FollowUpStatus.SCHEDULED.value:
        raise Conflict(f"this follow-up is {follow_up.status}; only a scheduled one can be sent")
    done = send_one(session, follow_up_id=follow_up.id, force=True, actor=actor)
    if done is None:
        raise Conflict("this follow-up is being sent already")
    return done


def cancel(session: Session, *, follow_up: FollowUp, actor: Member) -> FollowUp:
    if follow_up.status != FollowUpStatus.SCHEDULED.value:
        raise Conflict(
            f"this follow-up is {follow_up.status}; only a scheduled one can be cancelled"
        )
    conversation = session.get(Conversation, follow_up.conversation_id)
    return _skip(
        session,
        conversation,
        follow_up,
        f"cancelled by {actor.name}",
        status=FollowUpStatus.CANCELLED,
        actor=actor,
    )


def waiting_for(session: Session, *, conversation: Conversation) -> FollowUp:
    """The conversation's scheduled follow-up (for the panel's buttons)."""
    follow_up = session.scalar(
        select(FollowUp)
        .where(
            FollowUp.conversation_id == conversation.id,
            FollowUp.status == FollowUpStatus.SCHEDULED.value,
        )
        .order_by(FollowUp.resolved_at.desc())
        .limit(1)
    )
    if follow_up is None:
        raise Conflict("this conversation has no scheduled follow-up")
    return follow_up


# -- delivery outcomes --------------------------------------------------------------------


def reconcile_deliveries(session: Session, *, now: datetime | None = None) -> int:
    """Follow the delivery of follow-up messages: a failed delivery (a closed messaging
    window, say) becomes a task for a person; a held one that an approver let through, or a
    failed one a person retried, counts as sent; a message whose delivery job was lost is
    enqueued again. Returns how many follow-ups changed."""
    now = now or clock.now()
    rows = session.execute(
        select(FollowUp, Message)
        .join(Message, Message.id == FollowUp.message_id)
        .where(
            FollowUp.status.in_([FollowUpStatus.SENT.value, FollowUpStatus.TASK.value]),
            FollowUp.due_at >= now - ANSWER_LOOKBACK,
            or_(
                and_(
                    FollowUp.status == FollowUpStatus.SENT.value,
                    Message.delivery_state.in_(
                        [DeliveryState.FAILED.value, DeliveryState.QUEUED.value]
                    ),
                ),
                and_(
                    FollowUp.status == FollowUpStatus.TASK.value,
                    Message.delivery_state == DeliveryState.SENT.value,
                ),
            ),
        )
    ).all()
    changed = 0
    for follow_up, message in rows:
        conversation = session.get_one(Conversation, follow_up.conversation_id)
        if message.delivery_state == DeliveryState.FAILED.value:
            follow_up.sent_at = None
            _make_task(
                session,
                conversation,
                follow_up,
                f"delivery failed: {message.delivery_error or 'no reason given'}",
            )
            changed += 1
        elif message.delivery_state == DeliveryState.SENT.value:
            follow_up.status = FollowUpStatus.SENT.value
            follow_up.sent_at = message.sent_at or now
            follow_up.reason = None
            _record(session, conversation, ACTIVITY_SENT, follow_up, message_id=message.id)
            _changed(session, follow_up)
            changed += 1
        elif message.delivery_attempts == 0 and message.created_at <= now - DELIVERY_NUDGE_AFTER:
            log.warning("follow-up %s: message %s lost its delivery job", follow_up.id, message.id)
            jobs.enqueue(session, outbound_service.DELIVER_JOB, {"message_id": message.id})
    return changed


# -- answers ------------------------------------------------------------------------------


def answerable(session: Session, *, message: Message) -> FollowUp | None:
    """The sent follow-up that ``message`` answers: the customer's first message after it, in
    the conversation or in the new one it started (after the quiet period)."""
    if message.direction != Direction.INBOUND.value or message.visibility == Visibility.NOTE.value:
        return None
    conversation = session.get(Conversation, message.conversation_id)
    if conversation is None:
        return None
    ids = _linked_conversation_ids(session, conversation)
    follow_up = session.scalar(
        select(FollowUp)
        .where(
            FollowUp.conversation_id.in_(ids),
            FollowUp.status == FollowUpStatus.SENT.value,
            FollowUp.sent_at <= message.created_at,
        )
        .order_by(FollowUp.sent_at.desc())
        .limit(1)
    )
    if follow_up is None or follow_up.sent_at is None:
        return None
    first = session.scalar(
        select(Message.id)
        .where(
            Message.conversation_id.in_(ids),
            Message.direction == Direction.INBOUND.value,
            Message.visibility != Visibility.NOTE.value,
            Message.created_at >= follow_up.sent_at,
        )
        .order_by(Message.created_at, Message.id)
        .limit(1)
    )
    return follow_up if first == message.id else None


def _has_question(session: Session, message: Message) -> bool:
    triage = session.get(MessageTriage, message.id)
    return "?" in message.text or (triage is not None and triage.intent == "question")


def record_answer(session: Session, *, message_id: int) -> FollowUp | None:
    """Read the customer's answer to a follow-up. Positive: resolved again ("follow-up
    answered: fixed"). Negative: left reopened (ingest reopened it) and the owner is told.
    Unclear: left for a person. An opt-out in the answer is kept on the contact."""
    message = session.get(Message, message_id)
    if message is None:
        return None
    follow_up = answerable(session, message=message)
    if follow_up is None:
        return None
    claimed = session.execute(
        update(FollowUp)
        .where(FollowUp.id == follow_up.id, FollowUp.status == FollowUpStatus.SENT.value)
        .values(status=FollowUpStatus.ANSWERED.value)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]  # UPDATE results carry rowcount
        return None
    session.refresh(follow_up)
    triage = session.get(MessageTriage, message.id)
    parsed = answers.parse(
        message.text,
        survey=follow_up.survey,
        sentiment=triage.sentiment if triage else None,
        language=triage.language if triage else None,
    )
    follow_up.answer = parsed.answer
    follow_up.satisfaction = parsed.satisfaction
    follow_up.answered_at = message.created_at
    conversation = session.get_one(Conversation, message.conversation_id)
    result = {"positive": "fixed", "negative": "not fixed"}.get(parsed.answer, "unclear")
    _record(
        session,
        conversation,
        ACTIVITY_ANSWERED,
        follow_up,
        result=result,
        answer=parsed.answer,
        satisfaction=parsed.satisfaction,
        why=parsed.why,
        message_id=message.id,
    )
    if parsed.opt_out and conversation.contact_id is not None:
        contact = session.get_one(Contact, conversation.contact_id)
        if contact.opted_out_at is None:
            contact.opted_out_at = clock.now()
            _record(session, conversation, ACTIVITY_OPT_OUT, follow_up, opted_out=True, why="asked")
    if parsed.answer == answers.Answer.NEGATIVE:
        if conversation.status == Status.RESOLVED.value:
            conversations_service.set_status(
                session, conversation=conversation, status=Status.OPEN, actor=None
            )
        notifications_service.notify(
            session,
            organization_id=conversation.organization_id,
            member_ids=_owner_ids(session, conversation, follow_up),
            kind=NOTIFY_NEGATIVE,
            title=f"{contact_label(session, conversation)}: still not fixed",
            body=message.text[:500],
            conversation_id=conversation.id,
            link=f"/conversations/{conversation.id}",
            data={"follow_up_id": follow_up.id},
        )
    elif (
        parsed.answer == answers.Answer.POSITIVE
        and conversation.status != Status.RESOLVED.value
        and not _has_question(session, message)
    ):
        conversations_service.set_status(
            session, conversation=conversation, status=Status.RESOLVED, actor=None
        )
    _changed(session, follow_up)
    return follow_up


def unanswered_messages(session: Session, *, now: datetime | None = None) -> list[int]:
    """Customer messages that arrived after a sent follow-up and were not read as its answer
    (the answer job was lost): the sweep reads them now."""
    now = now or clock.now()
    later = aliased(Message)
    rows = session.execute(
        select(func.min(later.id))
        .select_from(FollowUp)
        .join(later, later.conversation_id == FollowUp.conversation_id)
        .where(
            FollowUp.status == FollowUpStatus.SENT.value,
            FollowUp.due_at >= now - ANSWER_LOOKBACK,
            later.direction == Direction.INBOUND.value,
            later.visibility != Visibility.NOTE.value,
            later.created_at >= FollowUp.sent_at,
        )
        .group_by(FollowUp.id)
    ).all()
    return [int(r[0]) for r in rows if r[0] is not None]


def unscheduled_resolutions(session: Session, *, now: datetime | None = None) -> list[int]:
    """Conversations resolved lately with no follow-up row for that resolution (the job the
    status change enqueued was lost): the sweep schedules them."""
    now = now or clock.now()
    cutoff = now - RESOLUTION_LOOKBACK
    found: list[int] = []
    for organization_id in session.scalars(select(Organization.id)):
        found.extend(
            session.scalars(
                select(Conversation.id).where(
                    Conversation.organization_id == organization_id,
                    Conversation.status == Status.RESOLVED.value,
                    Conversation.last_activity_at >= cutoff,
                    Conversation.resolved_at >= cutoff,
                    ~exists().where(
                        FollowUp.conversation_id == Conversation.id,
                        FollowUp.resolved_at == Conversation.resolved_at,
                    ),
                )
            )
        )
    return found


# -- opting out ---------------------------------------------------------------------------


def set_opt_out(
    session: Session, *, conversation: Conversation, opted_out: bool, actor: Member
) -> Contact:
    """Record that the customer does (or no longer does) want follow-ups and surveys."""
    if conversation.contact_id is None:
        raise ValidationFailed("this conversation has no known customer to opt out")
    contact = session.get_one(Contact, conversation.contact_id)
    if (contact.opted_out_at is not None) == opted_out:
        return contact
    contact.opted_out_at = clock.now() if opted_out else None
    conversations_service.record(
        session,
        conversation=conversation,
        kind=ACTIVITY_OPT_OUT,
        actor=actor,
        data={"opted_out": opted_out},
    )
    bus.emit(
        session,
        ConversationChanged(
            organization_id=conversation.organization_id,
            conversation_id=conversation.id,
            fields=("followup",),
            actor_member_id=actor.id,
        ),
    )
    return contact


def opted_out(session: Session, *, conversation: Conversation) -> datetime | None:
    if conversation.contact_id is None:
        return None
    contact = session.get(Contact, conversation.contact_id)
    return contact.opted_out_at if contact is not None else None
