"""Warnings before a breach and breaches: once and only once per clock, to the owner and the
team lead, as typed events too."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from socialdesk.common.clock import FrozenClock
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, DeliveryState, Message, Status
from socialdesk.db.session import get_sessionmaker, session_scope
from socialdesk.events.models import EventRecord
from socialdesk.notifications import service as notifications_service
from socialdesk.notifications.models import Notification
from socialdesk.outbound import service as outbound
from socialdesk.sla import alerts, reports, tracking
from socialdesk.sla import jobs as sla_jobs
from socialdesk.sla import service as sla_service
from socialdesk.sla.models import SlaClock, SlaPolicy
from socialdesk.sla.schemas import SlaPolicyUpdate
from tests.conftest import JobRunner
from tests.notifications.servers import WebhookServer
from tests.sla.conftest import World, by_target, clocks_of, customer_writes, fresh, policy


def owned(session: Session, jobs: JobRunner, world: World) -> Conversation:
    """A conversation assigned to the agent, in the team whose lead is Lena."""
    conversation = customer_writes(session, jobs, world)
    conversations_service.assign(
        session, conversation=conversation, assignee_id=world.agent.id, actor=world.owner
    )
    conversations_service.set_team(
        session, conversation=conversation, team_id=world.team.id, actor=world.owner
    )
    session.commit()
    jobs.run_pending()
    return fresh(session, conversation.id)


def notifications(session: Session, kind: str) -> list[tuple[int, int | None]]:
    session.expire_all()
    return sorted(
        (n.member_id, n.conversation_id)
        for n in session.scalars(select(Notification).where(Notification.kind == kind))
    )


def events(session: Session, kind: str) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(EventRecord).where(EventRecord.kind == kind)
        )
        or 0
    )


def check(session: Session) -> alerts.Outcome:
    session.commit()
    with session_scope() as worker:
        return alerts.run(worker)


def test_warning_before_the_breach_goes_to_owner_and_lead_once(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    policy(session, world.org, first_response_minutes=60, warn_before_minutes=15)
    clock.advance(timedelta(minutes=1))
    conversation = owned(session, jobs, world)
    clock.advance(timedelta(minutes=44))  # 16 minutes left: too early
    assert check(session).warned == 0
    clock.advance(timedelta(minutes=2))  # 14 minutes left
    assert check(session).warned == 1
    expected = sorted([(world.agent.id, conversation.id), (world.lead.id, conversation.id)])
    assert notifications(session, alerts.WARNING_KIND) == expected
    assert events(session, "sla.warning") == 1
    clock.advance(timedelta(minutes=1))
    assert check(session).warned == 0  # once
    assert notifications(session, alerts.WARNING_KIND) == expected
    (first,) = by_target(clocks_of(session, conversation.id), "first_response")
    assert first.warned_at is not None
    assert first.breached_at is None


def test_breach_once_and_only_once(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    policy(session, world.org, first_response_minutes=30, warn_before_minutes=0)
    clock.advance(timedelta(minutes=1))
    start = clock.now()
    conversation = owned(session, jobs, world)
    clock.advance(timedelta(minutes=29))
    assert check(session).breached == 0
    clock.advance(timedelta(minutes=2))
    outcome = check(session)
    assert (outcome.breached, outcome.warned) == (1, 0)
    expected = sorted([(world.agent.id, conversation.id), (world.lead.id, conversation.id)])
    assert notifications(session, alerts.BREACH_KIND) == expected
    for _ in range(3):
        clock.advance(timedelta(minutes=1))
        assert check(session).breached == 0
    assert notifications(session, alerts.BREACH_KIND) == expected
    assert events(session, "sla.breached") == 1
    (first,) = by_target(clocks_of(session, conversation.id), "first_response")
    assert first.breached_at == start + timedelta(minutes=30)  # when it breached
    assert (first.assignee_id, first.team_id) == (world.agent.id, world.team.id)
    conversation = fresh(session, conversation.id)
    assert conversation.sla_breached is True
    # The overdue clock still counts down (overdue first in the inbox) until answered.
    assert conversation.sla_due_at == first.due_at


def test_workers_racing_for_the_same_clocks_notify_once(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    policy(session, world.org, first_response_minutes=10, resolution_minutes=10)
    clock.advance(timedelta(minutes=1))
    owned(session, jobs, world)
    clock.advance(timedelta(minutes=20))
    session.commit()
    barrier = threading.Barrier(4)
    results: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            with session_scope() as s:
                results.append(alerts.run(s).breached)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(results) == [0, 0, 0, 2]  # two clocks, each claimed by exactly one worker
    assert len(notifications(session, alerts.BREACH_KIND)) == 4  # 2 clocks x (owner, lead)


def test_a_stale_worker_claims_nothing(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    """A worker that read the overdue clocks before another claimed them updates no row."""
    policy(session, world.org, first_response_minutes=10)
    clock.advance(timedelta(minutes=1))
    owned(session, jobs, world)
    clock.advance(timedelta(minutes=11))
    session.commit()
    with get_sessionmaker(write=False)() as reader:
        stale = alerts.due_for_breach(reader, now=clock.now())
    assert [c.target for c in stale] == ["first_response"]
    assert check(session).breached == 1
    with session_scope() as late:
        row = late.get_one(SlaClock, stale[0].id)
        assert alerts.claim_breach(late, row) is False


def test_paused_clocks_neither_warn_nor_breach(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    policy(session, world.org, first_response_minutes=10, resolution_minutes=20)
    clock.advance(timedelta(minutes=1))
    conversation = owned(session, jobs, world)
    conversations_service.set_status(
        session, conversation=conversation, status=Status.PENDING, actor=world.agent
    )
    session.commit()
    jobs.run_pending()
    clock.advance(timedelta(hours=5))
    assert check(session) == alerts.Outcome(warned=0, breached=0)


def test_a_breach_nobody_holds_goes_to_the_admins(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    policy(session, world.org, first_response_minutes=10, resolution_minutes=None)
    clock.advance(timedelta(minutes=1))
    conversation = customer_writes(session, jobs, world)  # no assignee, no team
    clock.advance(timedelta(minutes=5))
    assert check(session).warned == 1
    assert notifications(session, alerts.WARNING_KIND) == []  # nobody to warn
    clock.advance(timedelta(minutes=6))
    assert check(session).breached == 1
    assert notifications(session, alerts.BREACH_KIND) == [(world.owner.id, conversation.id)]


def test_the_periodic_task_is_registered_and_runs(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    from socialdesk.jobs import registry

    assert "sla.alerts" in {p.name for p in registry.all_periodic()}
    policy(session, world.org, first_response_minutes=10)
    clock.advance(timedelta(minutes=1))
    owned(session, jobs, world)
    clock.advance(timedelta(minutes=11))
    session.commit()
    sla_jobs.check_clocks()
    assert len(notifications(session, alerts.BREACH_KIND)) == 2


def test_a_breach_reaches_the_teams_webhook_and_a_warning_does_not(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock, webhook: WebhookServer
) -> None:
    notifications_service.set_team_webhook(world.team, webhook.url())
    policy(session, world.org, first_response_minutes=30, warn_before_minutes=10)
    clock.advance(timedelta(minutes=1))
    conversation = owned(session, jobs, world)
    clock.advance(timedelta(minutes=21))
    assert check(session).warned == 1
    jobs.run_pending()
    assert webhook.received == []  # warnings are the owner's
    clock.advance(timedelta(minutes=10))
    assert check(session).breached == 1
    jobs.run_pending()
    (posted,) = webhook.received
    assert posted.body["text"].startswith("SLA breached: first response")
    assert f"/conversations/{conversation.id}" in str(posted.body)
    fields = {
        f["text"].split("\n")[0]: f["text"].split("\n")[1]
        for f in posted.body["blocks"][2]["fields"]
    }
    assert fields == {"*Owner*": world.agent.name, "*Conversation*": f"#{conversation.id}"}
    clock.advance(timedelta(minutes=5))
    check(session)
    jobs.run_pending()
    assert len(webhook.received) == 1  # once


# -- due times that move -------------------------------------------------------------------


def change_policy(
    session: Session, jobs: JobRunner, world: World, made: SlaPolicy, **fields: int
) -> None:
    """Change the policy as an admin would: running clocks follow."""
    sla_service.update_policy(session, policy=made, data=SlaPolicyUpdate(**fields))
    sla_jobs.enqueue_resync(session, organization_id=world.org.id)
    session.commit()
    jobs.run_pending()


def set_first_response(
    session: Session, jobs: JobRunner, world: World, made: SlaPolicy, minutes: int
) -> None:
    change_policy(session, jobs, world, made, first_response_minutes=minutes)


def first_clock(session: Session, conversation_id: int) -> SlaClock:
    (first,) = by_target(clocks_of(session, conversation_id), "first_response")
    return first


def watched(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock, first_response: int
) -> tuple[SlaPolicy, Conversation, datetime]:
    """A policy (first response in ``first_response`` minutes, warned 15 minutes before, no
    resolution target), a minute later a conversation the agent owns under it, and when it
    started."""
    made = policy(
        session,
        world.org,
        first_response_minutes=first_response,
        resolution_minutes=None,
        warn_before_minutes=15,
    )
    clock.advance(timedelta(minutes=1))
    start = clock.now()
    return made, owned(session, jobs, world), start


def quiet_then_breached(session: Session, clock: FrozenClock, quiet_minutes: int) -> None:
    """Nothing to tell for ``quiet_minutes`` checks a minute apart, then a breach a minute
    later."""
    for _ in range(quiet_minutes):
        clock.advance(timedelta(minutes=1))
        assert check(session) == alerts.Outcome(warned=0, breached=0)
    clock.advance(timedelta(minutes=1))
    assert check(session) == alerts.Outcome(warned=0, breached=1)


def test_a_due_time_moved_later_is_warned_again_once_before_it(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    made, conversation, start = watched(session, jobs, world, clock, 60)
    clock.advance(timedelta(minutes=47))
    assert check(session).warned == 1
    set_first_response(session, jobs, world, made, 120)  # due an hour later
    first = first_clock(session, conversation.id)
    assert first.due_at == start + timedelta(minutes=120)
    assert first.warn_at == first.due_at - timedelta(minutes=15)
    assert first.warned_at is not None
    assert first.warned_at < first.warn_at
    assert check(session).warned == 0  # 73 minutes left: too early
    clock.advance(timedelta(minutes=57))  # 16 minutes left
    assert check(session).warned == 0
    clock.advance(timedelta(minutes=2))  # 14 minutes left
    assert check(session).warned == 1
    for _ in range(3):
        clock.advance(timedelta(minutes=1))
        assert check(session).warned == 0  # once for the new due time
    assert events(session, "sla.warning") == 2
    assert len(notifications(session, alerts.WARNING_KIND)) == 4  # 2 warnings x (owner, lead)
    session.expire_all()
    last = session.scalars(
        select(EventRecord).where(EventRecord.kind == "sla.warning").order_by(EventRecord.id)
    ).all()[-1]
    assert last.payload["due_at"] == (start + timedelta(minutes=120)).isoformat()


def test_a_due_time_moved_earlier_or_not_at_all_is_not_warned_again(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    made, conversation, start = watched(session, jobs, world, clock, 60)
    clock.advance(timedelta(minutes=47))
    assert check(session).warned == 1
    warned_at = first_clock(session, conversation.id).warned_at
    # Reconciled again with nothing changed: the same due time, warned already.
    tracking.reconcile(session, conversation_id=conversation.id)
    session.commit()
    assert first_clock(session, conversation.id).warned_at == warned_at
    assert check(session).warned == 0
    set_first_response(session, jobs, world, made, 55)  # due five minutes earlier
    first = first_clock(session, conversation.id)
    assert first.due_at == start + timedelta(minutes=55)
    assert first.warned_at == warned_at
    for _ in range(7):  # up to a minute before the new due time
        clock.advance(timedelta(minutes=1))
        assert check(session).warned == 0
    clock.advance(timedelta(minutes=1))
    assert check(session) == alerts.Outcome(warned=0, breached=1)
    assert events(session, "sla.warning") == 1


def test_a_due_time_moved_inside_the_window_already_warned_is_not_warned_again(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    """Warned at 14 minutes left; a minute later is still inside that warning's window: the
    owner has had their warning for this stretch, a second one would only repeat it."""
    made, conversation, start = watched(session, jobs, world, clock, 60)
    clock.advance(timedelta(minutes=46))
    assert check(session).warned == 1
    set_first_response(session, jobs, world, made, 61)
    first = first_clock(session, conversation.id)
    assert first.due_at == start + timedelta(minutes=61)
    assert first.warned_at is not None
    for _ in range(5):
        clock.advance(timedelta(minutes=1))
        assert check(session).warned == 0
    assert events(session, "sla.warning") == 1


def test_a_due_time_moved_later_and_back_is_not_warned_twice(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    """The warning given for the first due time still counts when the due time comes back to
    it before the later one's window opened: one warning for one due time."""
    made, conversation, start = watched(session, jobs, world, clock, 60)
    clock.advance(timedelta(minutes=47))
    assert check(session).warned == 1
    set_first_response(session, jobs, world, made, 120)
    assert check(session).warned == 0  # 73 minutes left: too early
    set_first_response(session, jobs, world, made, 60)  # back to the first due time
    first = first_clock(session, conversation.id)
    assert first.due_at == start + timedelta(minutes=60)
    assert first.warned_at is not None
    assert first.warn_at is not None
    assert first.warned_at >= first.warn_at
    quiet_then_breached(session, clock, 12)
    assert events(session, "sla.warning") == 1


def test_the_warning_window_follows_the_policys_warning_time(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    """A longer warning time keeps the warning given (it is inside the longer window); a
    shorter one warns again when its own window opens, as its policy now says; 0 never
    warns."""
    made, conversation, start = watched(session, jobs, world, clock, 60)
    clock.advance(timedelta(minutes=47))  # 13 minutes left
    assert check(session).warned == 1

    def warn_before(minutes: int) -> None:
        change_policy(session, jobs, world, made, warn_before_minutes=minutes)

    warn_before(30)
    assert first_clock(session, conversation.id).warn_at == start + timedelta(minutes=30)
    assert check(session).warned == 0
    warn_before(5)
    assert first_clock(session, conversation.id).warn_at == start + timedelta(minutes=55)
    clock.advance(timedelta(minutes=7))  # 6 minutes left
    assert check(session).warned == 0
    clock.advance(timedelta(minutes=1))  # 5 minutes left: the shorter window opens
    assert check(session).warned == 1
    warn_before(0)
    assert first_clock(session, conversation.id).warn_at is None
    assert check(session).warned == 0
    assert events(session, "sla.warning") == 2


def test_resuming_after_a_pause_warns_again_once(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    _, conversation, start = watched(session, jobs, world, clock, 60)
    clock.advance(timedelta(minutes=47))
    assert check(session).warned == 1
    clock.advance(timedelta(minutes=1))
    conversations_service.set_status(
        session,
        conversation=fresh(session, conversation.id),
        status=Status.PENDING,
        actor=world.agent,
    )
    session.commit()
    jobs.run_pending()
    clock.advance(timedelta(minutes=90))
    assert check(session) == alerts.Outcome(warned=0, breached=0)  # paused: nothing due
    customer_writes(session, jobs, world, text="Here is my order number")  # resumes it
    first = first_clock(session, conversation.id)
    assert first.due_at == start + timedelta(minutes=60 + 90)
    assert first.warned_at is not None
    assert first.warn_at is not None
    assert first.warned_at < first.warn_at  # the warning was for the due time before the pause
    assert check(session).warned == 1  # 12 minutes left, as when it paused
    quiet_then_breached(session, clock, 11)
    assert events(session, "sla.warning") == 2


def test_a_reply_that_fails_restarts_the_clock_without_a_second_warning_for_its_due_time(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    _, conversation, start = watched(session, jobs, world, clock, 60)
    clock.advance(timedelta(minutes=47))
    assert check(session).warned == 1
    clock.advance(timedelta(minutes=1))
    outbound.queue_reply(
        session, conversation=fresh(session, conversation.id), author=world.agent, text="On it."
    )
    session.commit()
    jobs.run_pending()
    assert first_clock(session, conversation.id).stopped_at is not None
    message = session.scalars(
        select(Message).where(
            Message.conversation_id == conversation.id, Message.direction == "outbound"
        )
    ).one()
    clock.advance(timedelta(minutes=1))
    message.delivery_state = DeliveryState.FAILED.value
    message.delivery_error = "the channel refused it"
    outbound.emit_delivery_state(session, message)
    session.commit()
    jobs.run_pending()
    first = first_clock(session, conversation.id)
    assert (first.stopped_at, first.due_at) == (None, start + timedelta(minutes=60))
    assert first.warned_at is not None  # the same due time was warned already
    assert check(session).warned == 0
    clock.advance(timedelta(minutes=11))
    assert check(session) == alerts.Outcome(warned=0, breached=1)
    assert events(session, "sla.warning") == 1


def test_a_breach_stays_recorded_when_the_due_time_moves_later(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    """A breach that happened stays one (the reports count it): a longer target later does
    not undo it, warn about the new due time, or breach the clock a second time."""
    made, conversation, start = watched(session, jobs, world, clock, 30)
    clock.advance(timedelta(minutes=20))
    assert check(session).warned == 1
    clock.advance(timedelta(minutes=11))
    assert check(session).breached == 1
    set_first_response(session, jobs, world, made, 120)
    first = first_clock(session, conversation.id)
    assert first.due_at == start + timedelta(minutes=120)
    assert first.breached_at == start + timedelta(minutes=30)
    for minutes in (60, 30):  # inside the new warning window, then past the new due time
        clock.advance(timedelta(minutes=minutes))
        assert check(session) == alerts.Outcome(warned=0, breached=0)
    assert fresh(session, conversation.id).sla_breached is True
    first_day, last_day = reports.resolve_range(
        session, organization_id=world.org.id, start=None, end=None
    )
    report = reports.sla_report(
        session, organization_id=world.org.id, start=first_day, end=last_day
    )
    assert report.total.breached == 1


def test_a_stale_worker_neither_warns_nor_breaches_a_clock_whose_due_time_moved(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    """A worker that read a clock before its due time moved later claims nothing: the warning
    or breach it would send is for a due time the clock no longer has."""
    made, conversation, _ = watched(session, jobs, world, clock, 30)
    clock.advance(timedelta(minutes=20))
    session.commit()
    with get_sessionmaker(write=False)() as reader:
        stale_warning = alerts.due_for_warning(reader, now=clock.now())
    clock.advance(timedelta(minutes=11))
    with get_sessionmaker(write=False)() as reader:
        stale_breach = alerts.due_for_breach(reader, now=clock.now())
    assert [c.target for c in stale_warning + stale_breach] == ["first_response"] * 2
    set_first_response(session, jobs, world, made, 120)
    with session_scope() as late:  # the rows as the worker read them, due time and all
        assert alerts.claim_breach(late, stale_breach[0]) is False
        assert alerts.claim_warning(late, stale_warning[0], clock.now()) is False
    first = first_clock(session, conversation.id)
    assert (first.warned_at, first.breached_at) == (None, None)
    assert events(session, "sla.warning") + events(session, "sla.breached") == 0


def test_an_alert_locks_the_conversation_before_its_clock_as_reconcile_does(
    session: Session, jobs: JobRunner, world: World, clock: FrozenClock, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers")
    policy(session, world.org, first_response_minutes=30, warn_before_minutes=0)
    clock.advance(timedelta(minutes=1))
    conversation = owned(session, jobs, world)
    clock.advance(timedelta(minutes=31))
    (first,) = by_target(clocks_of(session, conversation.id), "first_response")
    session.commit()

    # A reconcile of this conversation has locked it and is about to lock its clocks.
    holder = get_sessionmaker()()
    holder.execute(
        select(Conversation.id).where(Conversation.id == conversation.id).with_for_update()
    )
    errors: list[BaseException] = []
    breached: list[int] = []

    def worker() -> None:
        try:
            with session_scope() as s:
                breached.append(alerts.breach(s))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    time.sleep(0.5)  # the breach reaches the conversation's lock and waits there
    assert thread.is_alive()
    # Had the breach claimed the clock first, this would wait for it while it waits for the
    # conversation: a deadlock that PostgreSQL resolves by aborting one of the two.
    holder.execute(text("SET LOCAL lock_timeout = '5s'"))
    holder.execute(select(SlaClock.id).where(SlaClock.id == first.id).with_for_update())
    holder.commit()
    holder.close()
    thread.join(timeout=30)
    assert errors == []
    assert breached == [1]
