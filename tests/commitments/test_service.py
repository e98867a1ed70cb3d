"""The commitments service: promises kept from a reply or added by hand, due times in the
organization's zone and business days, edits, closing with evidence, the question when
resolving, offboarding handover and organization isolation. The clock is frozen on Monday
5 January 2026, 09:00 UTC (10:00 in Amsterdam)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import AuditEvent, Member, Organization, Role, Team
from socialdesk.channels.models import BrandAccount
from socialdesk.commitments import service
from socialdesk.commitments.models import Commitment, CommitmentStatus
from socialdesk.common.clock import FrozenClock
from socialdesk.common.errors import Conflict, NotFound, ValidationFailed
from socialdesk.conversations.models import Activity, Conversation, Message
from socialdesk.escalations.models import EscalationRequest
from socialdesk.events.models import EventRecord
from socialdesk.notifications.models import Notification
from socialdesk.outbound import service as outbound_service
from socialdesk.schedules.models import BusinessHours
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest

AMS = ZoneInfo("Europe/Amsterdam")
PROMISE = "A technician will call you tomorrow between 9 and 11"


@dataclass
class World:
    org: Organization
    owner: Member
    agent: Member
    lead: Member
    colleague: Member
    viewer: Member
    team: Team
    account: BrandAccount
    conversation: Conversation


def build_world(session: Session, *, name: str = "Acme", tz: str = "Europe/Amsterdam") -> World:
    org = accounts.organization(session, name=name)
    org.timezone = tz
    owner = accounts.member(session, org, role=Role.OWNER, name=f"Olivia {name}")
    agent = accounts.member(session, org, role=Role.AGENT, name=f"Alex {name}")
    lead = accounts.member(session, org, role=Role.AGENT, name=f"Lea {name}")
    colleague = accounts.member(session, org, role=Role.AGENT, name=f"Cole {name}")
    viewer = accounts.member(session, org, role=Role.VIEWER, name=f"Vera {name}")
    team = accounts_service.create_team(session, organization_id=org.id, name=f"Field {name}")
    team.lead_member_id = lead.id
    for m in (agent, lead, colleague):
        accounts_service.add_to_team(session, team=team, member=m)
    account = channels.brand_account(session, org, kind="web")
    result = ingest(
        session,
        account,
        inbound(text="My internet is down", author=f"{name}-ana", thread_key=f"visitor:{name}"),
    )
    conversation = result.conversation
    conversation.team_id = team.id
    conversation.assignee_id = agent.id
    session.flush()
    return World(org, owner, agent, lead, colleague, viewer, team, account, conversation)


def reply(session: Session, w: World, text: str, author: Member | None = None) -> Message:
    return outbound_service.queue_reply(
        session, conversation=w.conversation, author=author or w.agent, text=text
    )


@pytest.fixture
def w(session: Session) -> World:
    world = build_world(session)
    session.commit()
    return world


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=AMS)


# -- detection and due times ----------------------------------------------------------------


def test_a_stated_time_is_read_in_the_organizations_zone(session: Session, w: World) -> None:
    [promise] = service.detect(session, conversation=w.conversation, text=PROMISE)
    assert promise.due_at == local(2026, 1, 6, 11, 0)
    assert promise.due_at.astimezone(UTC) == datetime(2026, 1, 6, 10, 0, tzinfo=UTC)
    assert not promise.due_is_default
    assert promise.text == PROMISE
    assert service.format_due(promise.due_at, AMS) == "Tue 11:00"


def test_the_same_words_in_another_zone_are_due_at_another_instant(session: Session) -> None:
    tokyo = build_world(session, name="Tokyo", tz="Asia/Tokyo")
    [promise] = service.detect(session, conversation=tokyo.conversation, text=PROMISE)
    assert promise.due_at == datetime(2026, 1, 6, 11, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert promise.due_at.astimezone(UTC) == datetime(2026, 1, 6, 2, 0, tzinfo=UTC)


def test_no_stated_time_is_due_at_the_end_of_the_next_business_day(
    session: Session, w: World, clock: FrozenClock
) -> None:
    text = "We will look into it and get back to you."
    [monday] = service.detect(session, conversation=w.conversation, text=text)
    assert monday.due_is_default
    assert monday.due_at == local(2026, 1, 6, 23, 59, 59)
    clock.set(local(2026, 1, 9, 16, 0))  # a Friday
    [friday] = service.detect(session, conversation=w.conversation, text=text)
    assert friday.due_at == local(2026, 1, 12, 23, 59, 59)  # Monday night


def test_the_teams_holidays_and_working_days_count(
    session: Session, w: World, clock: FrozenClock
) -> None:
    hours = BusinessHours(
        organization_id=w.org.id,
        name="Field hours",
        timezone="Europe/Amsterdam",
        intervals={str(d): [["09:00", "17:00"]] for d in range(5)},
        holidays=["2026-01-12"],
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    session.add(hours)
    session.flush()
    w.team.business_hours_id = hours.id
    clock.set(local(2026, 1, 9, 16, 0))  # Friday; Monday the 12th is a holiday
    text = "We will look into it and get back to you."
    [promise] = service.detect(session, conversation=w.conversation, text=text)
    assert promise.due_at == local(2026, 1, 13, 23, 59, 59)
    [stated] = service.detect(
        session, conversation=w.conversation, text="Your refund will arrive within 2 business days."
    )
    assert stated.due_at == local(2026, 1, 14, 23, 59, 59)
    # The organization's default in business hours: 8 of them from Friday 16:00 are one on
    # Friday and seven on Tuesday (Monday is the holiday).
    w.org.settings = {service.SETTING_DEFAULT_HOURS: 8}
    [hours_default] = service.detect(session, conversation=w.conversation, text=text)
    assert hours_default.due_at == local(2026, 1, 13, 16, 0)


def test_default_hours_without_business_hours_are_plain_hours(session: Session, w: World) -> None:
    w.org.settings = {service.SETTING_DEFAULT_HOURS: 24}
    [promise] = service.detect(session, conversation=w.conversation, text="We'll get back to you.")
    assert promise.due_at == datetime(2026, 1, 6, 9, 0, tzinfo=UTC)


def test_daylight_saving_keeps_the_wall_clock(
    session: Session, w: World, clock: FrozenClock
) -> None:
    clock.set(local(2026, 3, 28, 12, 0))  # the night before clocks go forward in Europe
    [promise] = service.detect(
        session, conversation=w.conversation, text="We will call you tomorrow at 9am."
    )
    assert promise.due_at == local(2026, 3, 29, 9, 0)
    assert promise.due_at - clock.now() == timedelta(hours=20)  # 21 wall hours, 20 real


# -- keeping promises from a reply ------------------------------------------------------------


def test_a_kept_promise_is_stored_with_the_reply(
    session: Session, w: World, clock: FrozenClock
) -> None:
    message = reply(session, w, PROMISE)
    [commitment] = service.keep_promises(
        session, conversation=w.conversation, message=message, author=w.agent, text=PROMISE
    )
    session.commit()
    assert commitment.owner_id == w.agent.id
    assert commitment.team_id == w.team.id
    assert commitment.message_id == message.id
    assert commitment.source == "detected"
    assert commitment.status == "open"
    assert commitment.due_at == datetime(2026, 1, 6, 10, 0, tzinfo=UTC)
    # Reminded two hours before by default.
    assert commitment.remind_at == datetime(2026, 1, 6, 8, 0, tzinfo=UTC)
    trail = session.scalars(
        select(Activity).where(Activity.conversation_id == w.conversation.id)
    ).all()
    added = [a for a in trail if a.kind == service.TRAIL_ADDED]
    assert [a.data["commitment_id"] for a in added] == [commitment.id]
    kinds = set(session.scalars(select(EventRecord.kind)))
    assert "commitment.created" in kinds


def test_dropped_and_edited_promises(session: Session, w: World) -> None:
    text = "I will send you the invoice by Friday. And I will ask billing to call you tomorrow."
    message = reply(session, w, text)
    edited_due = datetime(2026, 1, 7, 15, 30, tzinfo=UTC)
    kept = service.keep_promises(
        session,
        conversation=w.conversation,
        message=message,
        author=w.agent,
        text=text,
        decisions=[
            service.PromiseDecision(key="I will send you the invoice by Friday", keep=False),
            service.PromiseDecision(
                key="I will ask billing to call you tomorrow",
                text="Billing calls the customer",
                due_at=edited_due,
            ),
        ],
    )
    assert [(c.text, c.due_at) for c in kept] == [("Billing calls the customer", edited_due)]


def test_relative_times_count_from_sending(session: Session, w: World, clock: FrozenClock) -> None:
    text = "I will DM you in an hour."
    [previewed] = service.detect(session, conversation=w.conversation, text=text)
    clock.advance(timedelta(minutes=5))  # the agent took a while to press send
    message = reply(session, w, text)
    [kept] = service.keep_promises(
        session,
        conversation=w.conversation,
        message=message,
        author=w.agent,
        text=text,
        decisions=[service.PromiseDecision(key=previewed.key)],
    )
    assert kept.due_at == clock.now() + timedelta(hours=1)
    # Due sooner than the two-hour lead: reminded halfway there.
    assert kept.remind_at == clock.now() + timedelta(minutes=30)


def test_an_edited_due_in_the_past_is_refused(session: Session, w: World) -> None:
    message = reply(session, w, PROMISE)
    with pytest.raises(ValidationFailed, match="already passed"):
        service.keep_promises(
            session,
            conversation=w.conversation,
            message=message,
            author=w.agent,
            text=PROMISE,
            decisions=[
                service.PromiseDecision(key=PROMISE, due_at=datetime(2026, 1, 1, 9, 0, tzinfo=UTC))
            ],
        )


def test_a_reply_without_promises_creates_nothing(session: Session, w: World) -> None:
    text = "Please DM us your account number."
    message = reply(session, w, text)
    assert (
        service.keep_promises(
            session, conversation=w.conversation, message=message, author=w.agent, text=text
        )
        == []
    )


# -- by hand ------------------------------------------------------------------------------


def test_by_hand_defaults_to_the_assignee_and_the_conversations_team(
    session: Session, w: World
) -> None:
    commitment = service.create(
        session, conversation=w.conversation, actor=w.owner, text="Send a replacement router"
    )
    assert commitment.owner_id == w.agent.id  # the assignee
    assert commitment.team_id == w.team.id
    assert commitment.created_by_id == w.owner.id
    assert commitment.source == "manual"
    assert commitment.due_is_default
    assert commitment.due_at == local(2026, 1, 6, 23, 59, 59)
    session.commit()
    # The assignee hears that someone gave them a promise to keep.
    [note] = session.scalars(select(Notification).where(Notification.member_id == w.agent.id)).all()
    assert note.kind == service.KIND_ASSIGNED
    assert "Send a replacement router" in note.title


def test_by_hand_without_an_assignee_the_author_owns_it(session: Session, w: World) -> None:
    w.conversation.assignee_id = None
    commitment = service.create(
        session,
        conversation=w.conversation,
        actor=w.colleague,
        text="Check the line",
        due_text="tomorrow at 9am",
    )
    assert commitment.owner_id == w.colleague.id
    assert commitment.due_at == local(2026, 1, 6, 9, 0)
    assert not session.scalars(select(Notification)).all()  # nobody to tell


def test_by_hand_refusals(session: Session, w: World) -> None:
    other = build_world(session, name="Other")
    with pytest.raises(ValidationFailed, match="say what was promised"):
        service.create(session, conversation=w.conversation, actor=w.agent, text="   ")
    with pytest.raises(ValidationFailed, match="already passed"):
        service.create(
            session,
            conversation=w.conversation,
            actor=w.agent,
            text="x",
            due_at=datetime(2026, 1, 5, 8, 0, tzinfo=UTC),
        )
    with pytest.raises(ValidationFailed, match="names no time"):
        service.create(
            session, conversation=w.conversation, actor=w.agent, text="x", due_text="whenever"
        )
    with pytest.raises(NotFound) as foreign_owner:
        service.create(
            session,
            conversation=w.conversation,
            actor=w.agent,
            text="x",
            owner_id=other.agent.id,
        )
    assert foreign_owner.value.field == "owner_id"
    with pytest.raises(NotFound):
        service.create(
            session, conversation=w.conversation, actor=w.agent, text="x", team_id=other.team.id
        )
    w.colleague.is_active = False
    with pytest.raises(ValidationFailed, match="deactivated"):
        service.create(
            session, conversation=w.conversation, actor=w.agent, text="x", owner_id=w.colleague.id
        )


def test_linked_escalation_request_must_be_of_the_same_conversation(
    session: Session, w: World, clock: FrozenClock
) -> None:
    def request_on(conversation: Conversation) -> EscalationRequest:
        request = EscalationRequest(
            organization_id=conversation.organization_id,
            conversation_id=conversation.id,
            requested_by_id=w.agent.id,
            team_id=w.team.id,
            text="Please send a technician",
            created_at=clock.now(),
        )
        session.add(request)
        session.flush()
        return request

    mine = request_on(w.conversation)
    commitment = service.create(
        session,
        conversation=w.conversation,
        actor=w.agent,
        text="A technician visits",
        escalation_request_id=mine.id,
    )
    assert commitment.escalation_request_id == mine.id
    second = ingest(session, w.account, inbound(author="bob", thread_key="visitor:bob"))
    elsewhere = request_on(second.conversation)
    with pytest.raises(ValidationFailed, match="another conversation"):
        service.create(
            session,
            conversation=w.conversation,
            actor=w.agent,
            text="x",
            escalation_request_id=elsewhere.id,
        )


# -- editing and closing -----------------------------------------------------------------------


def test_a_new_due_re_arms_the_reminder_and_the_overdue_notice(
    session: Session, w: World, clock: FrozenClock
) -> None:
    commitment = service.create(
        session,
        conversation=w.conversation,
        actor=w.agent,
        text="Call back",
        due_at=clock.now() + timedelta(hours=3),
    )
    commitment.reminded_at = clock.now()
    commitment.overdue_notified_at = clock.now()
    new_due = clock.now() + timedelta(days=2)
    fields = service.update(
        session, commitment=commitment, actor=w.agent, due_at=new_due, owner_id=w.lead.id
    )
    assert set(fields) == {"due_at", "owner_id"}
    assert commitment.due_at == new_due
    assert commitment.remind_at == new_due - timedelta(hours=2)
    assert commitment.reminded_at is None
    assert commitment.overdue_notified_at is None
    assert commitment.owner_id == w.lead.id
    assert service.update(session, commitment=commitment, actor=w.agent, text="Call back") == ()


def test_close_needs_evidence_and_happens_once(
    session: Session, w: World, clock: FrozenClock
) -> None:
    commitment = service.create(session, conversation=w.conversation, actor=w.agent, text="x")
    with pytest.raises(ValidationFailed, match="evidence"):
        service.close(
            session,
            commitment=commitment,
            actor=w.agent,
            status=CommitmentStatus.KEPT,
            evidence="  ",
        )
    with pytest.raises(ValidationFailed):
        service.close(
            session,
            commitment=commitment,
            actor=w.agent,
            status=CommitmentStatus.OPEN,
            evidence="x",
        )
    service.close(
        session,
        commitment=commitment,
        actor=w.agent,
        status=CommitmentStatus.BROKEN,
        evidence="Technician was ill; rebooked",
    )
    assert commitment.status == "broken"
    assert commitment.closed_by_id == w.agent.id
    assert commitment.closed_at == clock.now()
    with pytest.raises(Conflict, match="already broken"):
        service.close(
            session,
            commitment=commitment,
            actor=w.agent,
            status=CommitmentStatus.KEPT,
            evidence="x",
        )
    with pytest.raises(Conflict):
        service.update(session, commitment=commitment, actor=w.agent, text="y")


# -- resolving ---------------------------------------------------------------------------------


def _two_open(session: Session, w: World) -> list[Commitment]:
    return [
        service.create(session, conversation=w.conversation, actor=w.agent, text=t)
        for t in ("Call the customer", "Refund the fee")
    ]


def test_resolving_with_open_commitments_asks(session: Session, w: World) -> None:
    first, second = _two_open(session, w)
    with pytest.raises(service.OpenCommitments) as asked:
        service.settle_before_resolving(
            session, conversation=w.conversation, actor=w.agent, choice=None
        )
    details = asked.value.details()
    commitments = details["commitments"]
    assert isinstance(commitments, list)
    assert [c["id"] for c in commitments] == [first.id, second.id]
    assert details["choices"] == ["keep_open", "kept", "cancel"]
    assert asked.value.status_code == 409


@pytest.mark.parametrize(
    ("choice", "status"),
    [
        (service.ResolveChoice.KEEP_OPEN, "open"),
        (service.ResolveChoice.KEPT, "kept"),
        (service.ResolveChoice.CANCEL, "cancelled"),
    ],
)
def test_resolving_applies_the_choice(
    session: Session, w: World, choice: service.ResolveChoice, status: str
) -> None:
    found = _two_open(session, w)
    service.settle_before_resolving(
        session, conversation=w.conversation, actor=w.agent, choice=choice, note="Visit done"
    )
    assert {c.status for c in found} == {status}
    if status != "open":
        assert all(
            "resolved" in (c.evidence or "") and "Visit done" in (c.evidence or "") for c in found
        )


def test_resolving_without_open_commitments_asks_nothing(session: Session, w: World) -> None:
    assert (
        service.settle_before_resolving(
            session, conversation=w.conversation, actor=w.agent, choice=None
        )
        == []
    )


# -- offboarding --------------------------------------------------------------------------------


def _owned_by(session: Session, w: World, member: Member, n: int = 1) -> list[Commitment]:
    return [
        service.create(
            session,
            conversation=w.conversation,
            actor=w.agent,
            text=f"Promise {i}",
            owner_id=member.id,
        )
        for i in range(n)
    ]


def test_handover_to_the_named_successor(session: Session, w: World) -> None:
    owned = _owned_by(session, w, w.agent, 2)
    w.agent.is_active = False
    moved = service.hand_over(session, member=w.agent, to_member_id=w.colleague.id, actor=w.owner)
    assert [m.to_member_id for m in moved] == [w.colleague.id, w.colleague.id]
    assert {m.reason for m in moved} == {"named successor"}
    assert {c.owner_id for c in owned} == {w.colleague.id}
    session.commit()
    [told] = session.scalars(
        select(Notification).where(
            Notification.member_id == w.colleague.id, Notification.kind == service.KIND_HANDED_OVER
        )
    ).all()
    assert "2 promises" in told.title
    assert service.hand_over(session, member=w.agent, to_member_id=None, actor=None) == []


def test_handover_without_successor_goes_to_the_team_lead_then_an_admin(
    session: Session, w: World
) -> None:
    [owned] = _owned_by(session, w, w.colleague)
    w.colleague.is_active = False
    [moved] = service.hand_over(session, member=w.colleague, to_member_id=None, actor=None)
    assert (moved.to_member_id, moved.reason) == (w.lead.id, "team lead")
    assert owned.owner_id == w.lead.id
    # The lead leaves too: an admin takes it.
    w.lead.is_active = False
    [again] = service.hand_over(session, member=w.lead, to_member_id=None, actor=None)
    assert (again.to_member_id, again.reason) == (w.owner.id, "admin")
    trail = session.scalars(
        select(Activity).where(Activity.kind == service.TRAIL_HANDED_OVER)
    ).all()
    assert [(a.data["from"], a.data["to"]) for a in trail] == [
        (w.colleague.id, w.lead.id),
        (w.lead.id, w.owner.id),
    ]


def test_a_deactivated_successor_is_not_used(session: Session, w: World) -> None:
    _owned_by(session, w, w.colleague)
    w.colleague.is_active = False
    w.agent.is_active = False
    [moved] = service.hand_over(session, member=w.colleague, to_member_id=w.agent.id, actor=None)
    assert moved.to_member_id == w.lead.id


# -- lists and isolation -------------------------------------------------------------------------


def test_lists_put_overdue_first_and_filter(session: Session, w: World, clock: FrozenClock) -> None:
    later = service.create(
        session,
        conversation=w.conversation,
        actor=w.agent,
        text="Later",
        due_at=clock.now() + timedelta(days=3),
    )
    soon = service.create(
        session,
        conversation=w.conversation,
        actor=w.agent,
        text="Soon",
        due_at=clock.now() + timedelta(hours=1),
    )
    mine_elsewhere = service.create(
        session,
        conversation=w.conversation,
        actor=w.agent,
        text="Lead's",
        owner_id=w.lead.id,
        due_at=clock.now() + timedelta(hours=5),
    )
    clock.advance(timedelta(hours=2))  # "Soon" is now overdue
    mine = service.page(
        session, organization_id=w.org.id, flt=service.CommitmentFilter(owner_id=w.agent.id)
    )
    assert [c.id for c in mine.items] == [soon.id, later.id]
    assert service.is_overdue(soon)
    assert not service.is_overdue(later)
    overdue = service.page(
        session, organization_id=w.org.id, flt=service.CommitmentFilter(overdue=True)
    )
    assert [c.id for c in overdue.items] == [soon.id]
    team = service.page(
        session, organization_id=w.org.id, flt=service.CommitmentFilter(team_id=w.team.id)
    )
    assert [c.id for c in team.items] == [soon.id, mine_elsewhere.id, later.id]
    summary = service.counts(session, organization_id=w.org.id, team_id=w.team.id)
    assert (summary.open, summary.overdue, summary.due_today) == (3, 1, 1)
    assert summary.by_owner == {w.agent.id: 2, w.lead.id: 1}
    counts = service.open_counts(session, conversation_ids=[w.conversation.id])
    assert counts[w.conversation.id].open == 3
    assert counts[w.conversation.id].overdue == 1
    with pytest.raises(ValidationFailed):
        service.page(session, organization_id=w.org.id, flt=service.CommitmentFilter(status="late"))


def test_paging_by_due_time(session: Session, w: World, clock: FrozenClock) -> None:
    made = [
        service.create(
            session,
            conversation=w.conversation,
            actor=w.agent,
            text=f"P{i}",
            due_at=clock.now() + timedelta(hours=i + 1),
        )
        for i in range(5)
    ]
    first = service.page(session, organization_id=w.org.id, flt=service.CommitmentFilter(), limit=3)
    assert first.next_cursor
    rest = service.page(
        session,
        organization_id=w.org.id,
        flt=service.CommitmentFilter(),
        limit=3,
        cursor=first.next_cursor,
    )
    assert [c.id for c in first.items + rest.items] == [c.id for c in made]
    assert rest.next_cursor is None


def test_another_organizations_commitment_is_not_found(session: Session, w: World) -> None:
    other = build_world(session, name="Other")
    theirs = service.create(session, conversation=other.conversation, actor=other.agent, text="x")
    with pytest.raises(NotFound):
        service.get_or_raise(session, organization_id=w.org.id, commitment_id=theirs.id)
    assert (
        service.page(
            session, organization_id=w.org.id, flt=service.CommitmentFilter(status="all")
        ).items
        == []
    )


def test_cancelled_when_the_reply_is_never_sent(session: Session, w: World) -> None:
    message = reply(session, w, PROMISE)
    [commitment] = service.keep_promises(
        session, conversation=w.conversation, message=message, author=w.agent, text=PROMISE
    )
    service.cancel_for_unsent_message(
        session, organization_id=w.org.id, message_id=message.id, reason="rejected"
    )
    assert commitment.status == "cancelled"
    assert commitment.closed_by_id is None


def test_unknown_zone_falls_back_to_utc(session: Session, w: World) -> None:
    w.org.timezone = "Mars/Olympus"
    [promise] = service.detect(session, conversation=w.conversation, text=PROMISE)
    assert promise.due_at == datetime(2026, 1, 6, 11, 0, tzinfo=UTC)


# -- the organization's settings ----------------------------------------------------------


def test_promise_settings_are_checked_audited_and_used_for_new_promises(
    session: Session, w: World
) -> None:
    assert service.promise_settings(session, organization_id=w.org.id) == service.PromiseSettings(
        default_hours=None, reminder_minutes=service.DEFAULT_REMINDER_MINUTES
    )
    for hours, minutes, field in (
        (0.0, 60, "default_hours"),
        (721.0, 60, "default_hours"),
        (None, -1, "reminder_minutes"),
        (None, 10081, "reminder_minutes"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            service.save_promise_settings(
                session,
                organization_id=w.org.id,
                actor=w.owner,
                default_hours=hours,
                reminder_minutes=minutes,
            )
        assert refused.value.field == field
    assert (
        session.get_one(Organization, w.org.id).settings.get(service.SETTING_DEFAULT_HOURS) is None
    )

    service.save_promise_settings(
        session, organization_id=w.org.id, actor=w.owner, default_hours=24, reminder_minutes=30
    )
    session.commit()
    [promise] = service.detect(session, conversation=w.conversation, text="We'll get back to you.")
    assert promise.due_at == datetime(2026, 1, 6, 9, 0, tzinfo=UTC)  # 24 plain hours later
    message = reply(session, w, "We'll get back to you.")
    [commitment] = service.keep_promises(
        session,
        conversation=w.conversation,
        message=message,
        author=w.agent,
        text="We'll get back to you.",
    )
    assert commitment.remind_at == commitment.due_at - timedelta(minutes=30)
    (event,) = session.scalars(
        select(AuditEvent).where(AuditEvent.target_type == "promise_settings")
    ).all()
    assert event.actor_member_id == w.owner.id
    assert event.before == {"default_hours": None, "reminder_minutes": 120}
    assert event.after == {"default_hours": 24, "reminder_minutes": 30}

    # Back to the end of the next business day: the setting is removed, not set to zero.
    service.save_promise_settings(
        session, organization_id=w.org.id, actor=w.owner, default_hours=None, reminder_minutes=30
    )
    assert service.SETTING_DEFAULT_HOURS not in session.get_one(Organization, w.org.id).settings
    [promise] = service.detect(session, conversation=w.conversation, text="We'll get back to you.")
    assert promise.due_is_default
    assert promise.due_at != datetime(2026, 1, 6, 9, 0, tzinfo=UTC)
