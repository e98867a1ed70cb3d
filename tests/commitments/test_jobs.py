"""Reminders and overdue notices on the frozen clock: each goes out exactly once, also when the
periodic task runs twice or two runs race; the team's webhook and email copies; offboarding and
rejected replies through their listeners."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.accounts import flows as account_flows
from socialdesk.commitments import jobs as commitments_jobs
from socialdesk.commitments import service
from socialdesk.commitments.models import Commitment, CommitmentStatus
from socialdesk.common.clock import FrozenClock
from socialdesk.config import get_settings
from socialdesk.conversations.models import Activity, DeliveryState
from socialdesk.db.session import get_sessionmaker
from socialdesk.jobs import registry
from socialdesk.notifications import jobs as notifications_jobs
from socialdesk.notifications import service as notifications_service
from socialdesk.notifications.models import Notification
from socialdesk.outbound import approvals
from tests.commitments.test_service import World, build_world, reply
from tests.conftest import JobRunner
from tests.notifications.servers import SmtpSink, WebhookServer, smtp_sink, webhook_server


@pytest.fixture
def w(session: Session) -> World:
    world = build_world(session)
    session.commit()
    return world


def _promise(
    session: Session, w: World, clock: FrozenClock, *, hours: float = 3, text: str = "Call back"
) -> Commitment:
    commitment = service.create(
        session,
        conversation=w.conversation,
        actor=w.agent,
        text=text,
        owner_id=w.agent.id,
        due_at=clock.now() + timedelta(hours=hours),
    )
    session.commit()
    return commitment


def _sent(kind: str, member_id: int | None = None) -> list[Notification]:
    """Notifications as stored now, read in a session of their own."""
    with get_sessionmaker(write=False)() as reader:
        stmt = select(Notification).where(Notification.kind == kind)
        if member_id is not None:
            stmt = stmt.where(Notification.member_id == member_id)
        return list(reader.scalars(stmt.order_by(Notification.id)))


def test_the_periodic_task_is_registered_every_minute() -> None:
    [spec] = [p for p in registry.all_periodic() if p.name == "commitments.remind"]
    assert spec.every_minutes == 1
    assert spec.handler is commitments_jobs.remind


def test_a_reminder_goes_out_once_before_the_due_time(
    session: Session, w: World, clock: FrozenClock
) -> None:
    commitment = _promise(session, w, clock)
    commitments_jobs.remind()
    assert _sent(service.KIND_REMINDER) == []  # not yet: due in 3 hours, lead 2 hours
    clock.advance(timedelta(minutes=59))
    commitments_jobs.remind()
    assert _sent(service.KIND_REMINDER) == []
    clock.advance(timedelta(minutes=1))
    commitments_jobs.remind()
    commitments_jobs.remind()  # the next minute's run, and a rerun after a restart
    clock.advance(timedelta(minutes=1))
    commitments_jobs.remind()
    [reminder] = _sent(service.KIND_REMINDER)
    assert reminder.member_id == w.agent.id
    assert reminder.conversation_id == w.conversation.id
    assert reminder.title.startswith("Promise due Mon 13:00: Call back")  # Amsterdam time
    assert reminder.data["commitment_id"] == commitment.id
    session.refresh(commitment)
    assert commitment.reminded_at == commitment.remind_at
    assert _sent(service.KIND_OVERDUE) == []


def test_two_runs_racing_send_each_reminder_once(
    session: Session, w: World, clock: FrozenClock
) -> None:
    made = [_promise(session, w, clock, hours=3, text=f"Promise {i}") for i in range(30)]
    clock.advance(timedelta(hours=1, minutes=5))
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait(timeout=10)
            commitments_jobs.remind()
        except BaseException as exc:  # a failure in a thread must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    reminders = _sent(service.KIND_REMINDER)
    assert sorted(n.data["commitment_id"] for n in reminders) == sorted(c.id for c in made)


def test_a_run_waiting_on_a_claimed_reminder_finds_it_taken(
    session: Session, w: World, clock: FrozenClock
) -> None:
    """The exact interleaving: one run has claimed the reminder and not committed yet; a second
    run starts, waits for it (PostgreSQL: the row lock; SQLite: the write lock), and when the
    first commits finds the reminder already claimed."""
    _promise(session, w, clock)
    clock.advance(timedelta(hours=1))
    first = get_sessionmaker()()
    try:
        assert service.send_due_reminders(first) == 1  # claimed and written, not committed
        second_done = threading.Event()
        results: list[int] = []

        def second_run() -> None:
            with get_sessionmaker()() as other:
                results.append(service.send_due_reminders(other))
                other.commit()
            second_done.set()

        thread = threading.Thread(target=second_run)
        thread.start()
        time.sleep(0.5)
        assert not second_done.is_set()  # it waits for the first transaction
        first.commit()
        thread.join(timeout=30)
        assert results == [0]
    finally:
        first.close()
    assert len(_sent(service.KIND_REMINDER)) == 1


def test_overdue_tells_the_owner_and_the_team_lead_once(
    session: Session, w: World, clock: FrozenClock
) -> None:
    commitment = _promise(session, w, clock)
    clock.advance(timedelta(hours=1))
    commitments_jobs.remind()  # the reminder
    clock.advance(timedelta(hours=2))  # due now
    commitments_jobs.remind()
    commitments_jobs.remind()
    overdue = _sent(service.KIND_OVERDUE)
    assert sorted(n.member_id for n in overdue) == sorted([w.agent.id, w.lead.id])
    assert all("Overdue promise" in n.title for n in overdue)
    assert len(_sent(service.KIND_REMINDER)) == 1
    session.refresh(commitment)
    assert commitment.overdue_notified_at == clock.now()
    assert service.is_overdue(commitment)


def test_a_late_worker_skips_the_stale_reminder_and_sends_the_overdue_notice(
    session: Session, w: World, clock: FrozenClock
) -> None:
    commitment = _promise(session, w, clock)
    clock.advance(timedelta(hours=5))  # the worker was down past the due time
    commitments_jobs.remind()
    assert _sent(service.KIND_REMINDER) == []
    assert len(_sent(service.KIND_OVERDUE)) == 2
    session.refresh(commitment)
    assert commitment.reminded_at is not None  # claimed, so a later run does not send it


def test_closed_commitments_are_not_reminded(
    session: Session, w: World, clock: FrozenClock
) -> None:
    commitment = _promise(session, w, clock)
    service.close(
        session,
        commitment=commitment,
        actor=w.agent,
        status=CommitmentStatus.KEPT,
        evidence="Called early",
    )
    session.commit()
    clock.advance(timedelta(days=1))
    commitments_jobs.remind()
    assert _sent(service.KIND_REMINDER) == []
    assert _sent(service.KIND_OVERDUE) == []


def test_a_later_due_time_reminds_again(session: Session, w: World, clock: FrozenClock) -> None:
    commitment = _promise(session, w, clock)
    clock.advance(timedelta(hours=1))
    commitments_jobs.remind()
    service.update(
        session, commitment=commitment, actor=w.agent, due_at=clock.now() + timedelta(days=1)
    )
    session.commit()
    commitments_jobs.remind()
    assert len(_sent(service.KIND_REMINDER)) == 1
    clock.advance(timedelta(hours=22))
    commitments_jobs.remind()
    assert len(_sent(service.KIND_REMINDER)) == 2


def test_many_due_at_once_are_all_sent_in_batches(
    session: Session, w: World, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "BATCH", 4)
    made = [_promise(session, w, clock, text=f"P{i}") for i in range(10)]
    clock.advance(timedelta(hours=1))
    commitments_jobs.remind()
    assert len(_sent(service.KIND_REMINDER)) == len(made)


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookServer]:
    monkeypatch.setattr(notifications_jobs, "webhook_transport", None)
    with webhook_server() as server:
        yield server


@pytest.fixture
def smtp(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    with smtp_sink() as sink:
        monkeypatch.setenv("SOCIALDESK_MAIL_URL", sink.url)
        monkeypatch.setenv("SOCIALDESK_MAIL_FROM", "desk@socialdesk.test")
        get_settings.cache_clear()
        yield sink
    get_settings.cache_clear()


def test_reminders_reach_the_teams_webhook_and_the_owners_mailbox(
    session: Session,
    w: World,
    clock: FrozenClock,
    jobs: JobRunner,
    webhook: WebhookServer,
    smtp: SmtpSink,
) -> None:
    notifications_service.set_team_webhook(w.team, webhook.url())
    session.commit()
    _promise(session, w, clock, text="Send the replacement router")
    jobs.run_pending()  # the "promise given to you" notice is the owner's own: none
    clock.advance(timedelta(hours=1))
    commitments_jobs.remind()
    jobs.run_pending()
    [posted] = webhook.received
    assert posted.body["text"].startswith("Promise due Mon 13:00")
    assert "Send the replacement router" in posted.body["text"]
    [mail] = smtp.messages
    assert mail["To"] == w.agent.email
    assert "Send the replacement router" in mail["Subject"]
    commitments_jobs.remind()  # again: nothing more
    jobs.run_pending()
    assert len(webhook.received) == 1
    assert len(smtp.messages) == 1


def test_offboarding_hands_open_commitments_over_through_the_event(
    session: Session, w: World, clock: FrozenClock, jobs: JobRunner
) -> None:
    to_successor = _promise(session, w, clock, text="One")
    account_flows.deactivate(
        session, member=w.agent, actor=w.owner, hand_to_member_id=w.colleague.id
    )
    jobs.run_pending()
    session.refresh(to_successor)
    assert to_successor.owner_id == w.colleague.id
    # Without a named successor: the team lead.
    to_lead = service.create(
        session, conversation=w.conversation, actor=w.owner, text="Two", owner_id=w.colleague.id
    )
    closed = service.create(
        session, conversation=w.conversation, actor=w.owner, text="Three", owner_id=w.colleague.id
    )
    service.close(
        session, commitment=closed, actor=w.owner, status=CommitmentStatus.KEPT, evidence="done"
    )
    session.commit()
    account_flows.deactivate(session, member=w.colleague, actor=w.owner)
    jobs.run_pending()
    session.refresh(to_lead)
    session.refresh(to_successor)
    session.refresh(closed)
    assert to_lead.owner_id == w.lead.id
    assert to_successor.owner_id == w.lead.id
    assert closed.owner_id == w.colleague.id  # history stays theirs
    with get_sessionmaker(write=False)() as reader:
        left = reader.scalar(
            select(func.count())
            .select_from(Commitment)
            .where(
                Commitment.owner_id.in_([w.agent.id, w.colleague.id]), Commitment.status == "open"
            )
        )
    assert left == 0


def test_promises_move_when_a_member_is_deactivated_and_stay_moved(
    session: Session, w: World, clock: FrozenClock, jobs: JobRunner
) -> None:
    """The handover happens in the deactivating transaction (its report lists them), so
    reactivating the member later does not take the promises back from their new owner."""
    commitment = _promise(session, w, clock)
    report = account_flows.deactivate(session, member=w.agent, actor=w.owner)
    session.commit()
    assert [h.commitment_id for h in report.commitments] == [commitment.id]
    account_flows.reactivate(session, member=w.agent, actor=w.owner)
    jobs.run_pending()
    session.refresh(commitment)
    assert commitment.owner_id != w.agent.id
    assert commitment.status == "open"


def test_a_rejected_reply_cancels_its_promises(session: Session, w: World, jobs: JobRunner) -> None:
    text = "A technician will call you tomorrow between 9 and 11"
    message = reply(session, w, text)
    [commitment] = service.keep_promises(
        session, conversation=w.conversation, message=message, author=w.agent, text=text
    )
    # As the gateway holds a draft the code of conduct sends to an approver.
    message.delivery_state = DeliveryState.HELD.value
    approval = approvals.hold(session, message=message, author=w.agent, reasons=[])
    session.commit()
    approvals.reject(session, approval=approval, approver=w.owner, comment="Not this week")
    jobs.run_pending()
    session.refresh(commitment)
    assert commitment.status == "cancelled"
    assert "rejected" in (commitment.evidence or "")


def test_an_approver_editing_a_reply_moves_its_promises_with_the_text(
    session: Session, w: World, jobs: JobRunner
) -> None:
    text = "A technician will call you tomorrow between 9 and 11. We'll refund the fee."
    message = reply(session, w, text)
    call, refund = service.keep_promises(
        session, conversation=w.conversation, message=message, author=w.agent, text=text
    )
    message.delivery_state = DeliveryState.HELD.value
    approval = approvals.hold(session, message=message, author=w.agent, reasons=[])
    session.commit()
    # The approver keeps the call, takes the refund out and promises an email instead.
    approvals.approve(
        session,
        approval=approval,
        approver=w.owner,
        edited_text="A technician will call you tomorrow between 9 and 11. "
        "We will email you the report today.",
    )
    session.commit()
    jobs.run_pending()
    session.refresh(call)
    session.refresh(refund)
    assert call.status == "open"
    assert refund.status == "cancelled"
    assert refund.evidence == service.EDITED_OUT
    tracked = session.scalars(
        select(Commitment).where(Commitment.message_id == message.id).order_by(Commitment.id)
    ).all()
    assert len(tracked) == 3
    added = tracked[-1]
    assert "email you the report" in added.text.lower()
    assert added.owner_id == w.agent.id  # the reply's author owns what it promises
    assert added.status == "open"

    # Run again (a retried job): nothing more is cancelled or added.
    assert not service.reconcile_approved_reply(session, approval=approval)


def test_an_approver_giving_a_promise_another_time_moves_its_commitment(
    session: Session, w: World, jobs: JobRunner
) -> None:
    """The customer reads the approved text: "by Friday" made "within 2 business days" is the
    same promise due at another time, and its commitment follows (its reminder too)."""
    text = "We'll refund the fee by Friday. We will email you the report today."
    message = reply(session, w, text)
    refund, email = service.keep_promises(
        session, conversation=w.conversation, message=message, author=w.agent, text=text
    )
    kept_due, email_due = refund.due_at, email.due_at
    message.delivery_state = DeliveryState.HELD.value
    approval = approvals.hold(session, message=message, author=w.agent, reasons=[])
    session.commit()
    final = "We'll refund the fee within 2 business days. We will email you the report today."
    approvals.approve(session, approval=approval, approver=w.owner, edited_text=final)
    session.commit()
    jobs.run_pending()
    session.refresh(refund)
    session.refresh(email)
    [sent] = [
        p
        for p in service.detect(session, conversation=w.conversation, text=final)
        if "refund" in p.text.lower()
    ]
    assert refund.status == "open"
    assert refund.due_at == sent.due_at != kept_due
    assert "2 business days" in refund.text
    assert refund.remind_at is not None
    assert refund.remind_at <= refund.due_at
    assert (email.status, email.due_at) == ("open", email_due)  # the same time: left alone
    trail = session.scalars(
        select(Activity).where(
            Activity.conversation_id == w.conversation.id, Activity.kind == service.TRAIL_CHANGED
        )
    ).all()
    assert [(a.actor_member_id, a.data["commitment_id"]) for a in trail] == [
        (w.owner.id, refund.id)
    ]
    assert session.scalar(select(func.count()).select_from(Commitment)) == 2
    assert not service.reconcile_approved_reply(session, approval=approval)


def test_an_approval_without_edits_leaves_the_promises_alone(
    session: Session, w: World, jobs: JobRunner
) -> None:
    text = "We'll refund the fee."
    message = reply(session, w, text)
    [refund] = service.keep_promises(
        session, conversation=w.conversation, message=message, author=w.agent, text=text
    )
    message.delivery_state = DeliveryState.HELD.value
    approval = approvals.hold(session, message=message, author=w.agent, reasons=[])
    session.commit()
    approvals.approve(session, approval=approval, approver=w.owner)
    session.commit()
    jobs.run_pending()
    session.refresh(refund)
    assert refund.status == "open"
    assert session.scalar(select(func.count()).select_from(Commitment)) == 1
