"""Clocks driven by the desk's real events: messages in, replies out, status and priority
changes, with the frozen clock moving time."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.common.clock import FrozenClock
from socialdesk.connectors.base import Visibility
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import DeliveryState, Direction, Message, Priority, Status
from socialdesk.events.models import EventRecord
from socialdesk.jobs import intents
from socialdesk.jobs import queue as jobs_queue
from socialdesk.outbound import approvals
from socialdesk.outbound import service as outbound
from socialdesk.policy.models import Approval
from socialdesk.sla import service as sla_service
from socialdesk.sla import tracking
from socialdesk.sla.models import SlaClock
from socialdesk.sla.schemas import SlaPolicyUpdate
from tests.conftest import JobRunner
from tests.factories.conversations import inbound, ingest
from tests.sla.conftest import (
    World,
    by_target,
    clocks_of,
    customer_writes,
    fresh,
    office_hours,
    policy,
)

BERLIN = ZoneInfo("Europe/Berlin")


def reply(session: Session, jobs: JobRunner, world: World, conversation_id: int) -> None:
    conversation = fresh(session, conversation_id)
    outbound.queue_reply(
        session, conversation=conversation, author=world.agent, text="We are on it."
    )
    session.commit()
    jobs.run_pending()


def set_status(
    session: Session, jobs: JobRunner, world: World, conversation_id: int, status: Status
) -> None:
    conversation = fresh(session, conversation_id)
    conversations_service.set_status(
        session, conversation=conversation, status=status, actor=world.agent
    )
    session.commit()
    jobs.run_pending()


def test_no_policy_no_clocks(session: Session, jobs: JobRunner, world: World) -> None:
    conversation = customer_writes(session, jobs, world)
    assert clocks_of(session, conversation.id) == []
    assert conversation.sla_due_at is None
    assert conversation.sla_policy_id is None


def test_first_message_starts_first_response_and_resolution(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    made = policy(session, world.org)
    clock.advance(timedelta(minutes=1))
    start = clock.now()
    conversation = customer_writes(session, jobs, world)
    rows = clocks_of(session, conversation.id)
    assert sorted(r.target for r in rows) == ["first_response", "resolution"]
    (first,) = by_target(rows, "first_response")
    assert first.started_at == start
    assert first.due_at == start + timedelta(minutes=60)
    assert first.channel == "web"
    assert conversation.sla_due_at == start + timedelta(minutes=60)
    assert conversation.sla_policy_id == made.id
    assert conversation.sla_breached is False


def test_a_lost_reconcile_job_is_queued_again_and_the_clock_starts(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    """The worker that took the job after the customer's message was killed: the job was
    recorded with the message, so the periodic recovery runs it and the clock is not missed."""
    policy(session, world.org)
    start = clock.now()
    result = ingest(session, world.web, inbound(text="Still broken", author="ana", at=start))
    session.commit()
    jobs.flush()  # every job the message queued is lost
    assert clocks_of(session, result.conversation.id) == []

    clock.advance(intents.RECOVER_AFTER)
    jobs_queue.recover_lost()
    jobs.run_pending()
    (first,) = by_target(clocks_of(session, result.conversation.id), "first_response")
    assert first.started_at == start
    assert first.due_at == start + timedelta(minutes=60)


def test_first_reply_stops_the_clock_and_the_next_message_starts_next_response(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    policy(session, world.org)
    clock.advance(timedelta(minutes=1))
    start = clock.now()
    conversation = customer_writes(session, jobs, world)
    clock.advance(timedelta(minutes=20))
    reply(session, jobs, world, conversation.id)
    rows = clocks_of(session, conversation.id)
    (first,) = by_target(rows, "first_response")
    assert first.stopped_at == start + timedelta(minutes=20)
    assert first.elapsed_seconds == 20 * 60
    assert first.breached_at is None
    # Only the resolution clock runs now.
    assert fresh(session, conversation.id).sla_due_at == start + timedelta(minutes=480)

    clock.advance(timedelta(minutes=10))
    again = clock.now()
    customer_writes(session, jobs, world, text="Any news?")
    (nxt,) = by_target(clocks_of(session, conversation.id), "next_response")
    assert nxt.started_at == again
    assert fresh(session, conversation.id).sla_due_at == again + timedelta(minutes=30)

    clock.advance(timedelta(minutes=5))
    reply(session, jobs, world, conversation.id)
    (nxt,) = by_target(clocks_of(session, conversation.id), "next_response")
    assert nxt.elapsed_seconds == 5 * 60


def test_pending_pauses_and_reopening_pushes_the_due_time(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    policy(session, world.org)
    clock.advance(timedelta(minutes=1))
    start = clock.now()
    conversation = customer_writes(session, jobs, world)
    clock.advance(timedelta(minutes=10))
    reply(session, jobs, world, conversation.id)
    set_status(session, jobs, world, conversation.id, Status.PENDING)
    (resolution,) = by_target(clocks_of(session, conversation.id), "resolution")
    assert resolution.paused_at == start + timedelta(minutes=10)
    assert fresh(session, conversation.id).sla_due_at is None  # nothing counts down

    clock.advance(timedelta(minutes=45))
    set_status(session, jobs, world, conversation.id, Status.OPEN)
    (resolution,) = by_target(clocks_of(session, conversation.id), "resolution")
    assert resolution.paused_at is None
    assert resolution.due_at == start + timedelta(minutes=480 + 45)
    assert fresh(session, conversation.id).sla_due_at == resolution.due_at


def test_the_customer_writing_ends_the_pause(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    policy(session, world.org)
    clock.advance(timedelta(minutes=1))
    start = clock.now()
    conversation = customer_writes(session, jobs, world)
    clock.advance(timedelta(minutes=10))
    reply(session, jobs, world, conversation.id)
    set_status(session, jobs, world, conversation.id, Status.PENDING)
    clock.advance(timedelta(minutes=30))
    customer_writes(session, jobs, world, text="Here is the order number")
    conversation = fresh(session, conversation.id)
    assert conversation.status == Status.OPEN.value
    rows = clocks_of(session, conversation.id)
    (resolution,) = by_target(rows, "resolution")
    assert resolution.due_at == start + timedelta(minutes=480 + 30)
    (nxt,) = by_target(rows, "next_response")
    assert nxt.started_at == start + timedelta(minutes=40)
    assert conversation.sla_due_at == nxt.due_at


def test_resolving_stops_resolution_cancels_the_rest_and_reopening_starts_anew(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    policy(session, world.org)
    clock.advance(timedelta(minutes=1))
    start = clock.now()
    conversation = customer_writes(session, jobs, world)
    clock.advance(timedelta(minutes=15))
    set_status(session, jobs, world, conversation.id, Status.RESOLVED)
    rows = clocks_of(session, conversation.id)
    (first,) = by_target(rows, "first_response")
    assert first.stopped_at == start + timedelta(minutes=15)
    assert first.elapsed_seconds is None  # cancelled: no first-response time to report
    assert first.breached_at is None
    (resolution,) = by_target(rows, "resolution")
    assert resolution.elapsed_seconds == 15 * 60
    assert fresh(session, conversation.id).sla_due_at is None

    clock.advance(timedelta(minutes=60))
    set_status(session, jobs, world, conversation.id, Status.OPEN)
    resolutions = by_target(clocks_of(session, conversation.id), "resolution")
    assert [r.started_at for r in resolutions] == [start, start + timedelta(minutes=75)]
    assert resolutions[1].stopped_at is None
    assert fresh(session, conversation.id).sla_due_at == start + timedelta(minutes=75 + 480)


def test_priority_change_repicks_the_policy_for_running_clocks(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    urgent = policy(
        session, world.org, name="Urgent", priority=Priority.URGENT.value, first_response_minutes=15
    )
    normal = policy(session, world.org, name="Everything else", first_response_minutes=240)
    clock.advance(timedelta(minutes=1))
    start = clock.now()
    conversation = customer_writes(session, jobs, world)
    assert conversation.priority != Priority.URGENT.value
    assert conversation.sla_policy_id == normal.id
    assert conversation.sla_due_at == start + timedelta(minutes=240)

    clock.advance(timedelta(minutes=5))
    conversations_service.set_priority(
        session, conversation=conversation, priority=Priority.URGENT, actor=world.agent
    )
    session.commit()
    jobs.run_pending()
    conversation = fresh(session, conversation.id)
    assert conversation.sla_policy_id == urgent.id
    # Recomputed from the clock's start, not from the change.
    assert conversation.sla_due_at == start + timedelta(minutes=15)
    (first,) = by_target(clocks_of(session, conversation.id), "first_response")
    assert first.policy_id == urgent.id
    assert first.priority == Priority.URGENT.value


def test_stopped_clocks_are_history_a_priority_change_leaves_them(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    policy(session, world.org, name="Urgent", priority=Priority.URGENT.value)
    normal = policy(session, world.org, name="Normal", first_response_minutes=240)
    clock.advance(timedelta(minutes=1))
    conversation = customer_writes(session, jobs, world)
    clock.advance(timedelta(minutes=20))
    reply(session, jobs, world, conversation.id)
    conversations_service.set_priority(
        session,
        conversation=fresh(session, conversation.id),
        priority=Priority.URGENT,
        actor=world.agent,
    )
    session.commit()
    jobs.run_pending()
    (first,) = by_target(clocks_of(session, conversation.id), "first_response")
    assert first.policy_id == normal.id
    assert first.elapsed_seconds == 20 * 60


def test_business_hours_policy_counts_only_open_time(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    hours = office_hours(session, world.org, timezone="Europe/Berlin")
    policy(session, world.org, business_hours_id=hours.id, first_response_minutes=120)
    clock.set(datetime(2026, 1, 9, 16, 0, tzinfo=BERLIN))  # Friday 16:00 in Berlin
    conversation = customer_writes(session, jobs, world)
    assert conversation.sla_due_at == datetime(2026, 1, 12, 10, 0, tzinfo=BERLIN)
    # Answered Monday 09:15: 1h15 of business time, not 65 hours.
    clock.set(datetime(2026, 1, 12, 9, 15, tzinfo=BERLIN))
    reply(session, jobs, world, conversation.id)
    (first,) = by_target(clocks_of(session, conversation.id), "first_response")
    assert first.elapsed_seconds == 75 * 60


def test_disabling_the_policy_removes_running_clocks_and_keeps_history(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    made = policy(session, world.org)
    clock.advance(timedelta(minutes=1))
    conversation = customer_writes(session, jobs, world)
    clock.advance(timedelta(minutes=5))
    reply(session, jobs, world, conversation.id)
    sla_service.update_policy(session, policy=made, data=SlaPolicyUpdate(enabled=False))
    session.commit()
    tracking.reconcile(session, conversation_id=conversation.id)
    session.commit()
    rows = clocks_of(session, conversation.id)
    assert [r.target for r in rows] == ["first_response"]  # measured, kept
    conversation = fresh(session, conversation.id)
    assert conversation.sla_due_at is None
    assert conversation.sla_policy_id is None


def test_a_new_policy_does_not_rewrite_finished_work(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    clock.advance(timedelta(minutes=1))
    conversation = customer_writes(session, jobs, world)
    clock.advance(timedelta(minutes=5))
    reply(session, jobs, world, conversation.id)
    clock.advance(timedelta(minutes=5))
    policy(session, world.org)
    tracking.reconcile(session, conversation_id=conversation.id)
    session.commit()
    # The first response happened before the policy existed: not measured. The conversation
    # is still unresolved, so its resolution clock runs from the first message.
    assert [r.target for r in clocks_of(session, conversation.id)] == ["resolution"]


def test_reconcile_is_idempotent_and_quiet_when_nothing_changed(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    policy(session, world.org)
    clock.advance(timedelta(minutes=1))
    conversation = customer_writes(session, jobs, world)
    before = [(r.id, r.due_at, r.stopped_at) for r in clocks_of(session, conversation.id)]
    events = session.scalar(select(func.count()).select_from(EventRecord))
    tracking.reconcile(session, conversation_id=conversation.id)
    session.commit()
    after = [(r.id, r.due_at, r.stopped_at) for r in clocks_of(session, conversation.id)]
    assert after == before
    assert session.scalar(select(func.count()).select_from(EventRecord)) == events


def test_jobs_in_any_order_give_the_same_clocks(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    """A worker that handles the reply before the message it answers cannot leave a clock
    running: the reconcile replays the history, whatever ran first."""
    policy(session, world.org)
    clock.advance(timedelta(minutes=1))
    start = clock.now()
    result = ingest(session, world.web, inbound(author="bo", thread_key="visitor:bo", at=start))
    session.commit()
    jobs.flush()  # the message's reconcile is lost (or late)
    clock.advance(timedelta(minutes=7))
    reply(session, jobs, world, result.conversation.id)
    (first,) = by_target(clocks_of(session, result.conversation.id), "first_response")
    assert (first.started_at, first.elapsed_seconds) == (start, 7 * 60)


def test_a_late_reply_is_a_breach_even_before_the_periodic_check(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    policy(session, world.org, first_response_minutes=10)
    clock.advance(timedelta(minutes=1))
    start = clock.now()
    conversation = customer_writes(session, jobs, world)
    clock.advance(timedelta(minutes=25))
    reply(session, jobs, world, conversation.id)
    (first,) = by_target(clocks_of(session, conversation.id), "first_response")
    assert first.breached_at == start + timedelta(minutes=10)
    assert fresh(session, conversation.id).sla_breached is True
    assert session.scalar(select(func.count()).select_from(SlaClock)) == 2


def test_a_held_draft_answers_when_it_is_approved(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    policy(session, world.org, first_response_minutes=60)
    clock.advance(timedelta(minutes=1))
    start = clock.now()
    conversation = customer_writes(session, jobs, world)
    clock.advance(timedelta(minutes=10))
    draft = Message(
        organization_id=world.org.id,
        conversation_id=conversation.id,
        brand_account_id=world.web.id,
        direction=Direction.OUTBOUND.value,
        visibility=Visibility.PUBLIC.value,
        author_member_id=world.agent.id,
        text="We will refund you.",
        created_at=clock.now(),
        delivery_state=DeliveryState.HELD.value,
    )
    session.add(draft)
    session.flush()
    held = approvals.hold(session, message=draft, author=world.agent, reasons=[])
    session.commit()
    tracking.reconcile(session, conversation_id=conversation.id)
    session.commit()
    (first,) = by_target(clocks_of(session, conversation.id), "first_response")
    assert first.stopped_at is None  # a held draft has not answered anyone

    clock.advance(timedelta(minutes=20))
    approvals.approve(session, approval=session.get_one(Approval, held.id), approver=world.owner)
    session.commit()
    jobs.run_pending()
    (first,) = by_target(clocks_of(session, conversation.id), "first_response")
    assert first.stopped_at == start + timedelta(minutes=30)
    assert first.elapsed_seconds == 30 * 60


def test_a_reply_that_fails_to_deliver_is_no_answer_and_a_retry_answers_again(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    policy(session, world.org, first_response_minutes=30)
    clock.advance(timedelta(minutes=1))
    start = clock.now()
    conversation = customer_writes(session, jobs, world)
    clock.advance(timedelta(minutes=10))
    reply(session, jobs, world, conversation.id)
    (first,) = by_target(clocks_of(session, conversation.id), "first_response")
    assert first.stopped_at == start + timedelta(minutes=10)

    # The channel refuses it later (as the delivery job records a failure).
    message = session.scalars(
        select(Message).where(
            Message.conversation_id == conversation.id, Message.direction == "outbound"
        )
    ).one()
    clock.advance(timedelta(minutes=5))
    message.delivery_state = DeliveryState.FAILED.value
    message.delivery_error = "the channel refused it"
    outbound.emit_delivery_state(session, message)
    session.commit()
    jobs.run_pending()
    (first,) = by_target(clocks_of(session, conversation.id), "first_response")
    assert first.stopped_at is None  # running again, from the customer's message
    assert first.due_at == start + timedelta(minutes=30)
    assert fresh(session, conversation.id).sla_due_at == start + timedelta(minutes=30)

    message.delivery_state = DeliveryState.QUEUED.value  # retried
    outbound.emit_delivery_state(session, message)
    session.commit()
    jobs.run_pending()
    (first,) = by_target(clocks_of(session, conversation.id), "first_response")
    assert first.stopped_at is not None
