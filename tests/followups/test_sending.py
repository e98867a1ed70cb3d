"""Sending: due follow-ups go out exactly once through the one gateway (with its code-of-
conduct checks); what cannot be sent is skipped with the reason or becomes a person's task."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Role
from socialdesk.common.clock import FrozenClock
from socialdesk.connectors.base import Visibility
from socialdesk.connectors.facebook.send import WindowClosed
from socialdesk.contacts.models import Contact
from socialdesk.conversations.models import Conversation, DeliveryState, Message
from socialdesk.db.session import session_scope
from socialdesk.followups import jobs as followups_jobs
from socialdesk.followups import service
from socialdesk.followups.models import FollowUp, FollowUpStatus
from socialdesk.notifications.models import Notification
from socialdesk.outbound import approvals
from socialdesk.policy import service as policy_service
from socialdesk.policy.models import PolicyDecision
from tests.conftest import JobRunner
from tests.factories import accounts
from tests.factories.connectors import RecordingConnector
from tests.followups.conftest import Care, RecordingFacebook, build_care

RULES = """
rules:
  - id: no-checking
    explain: "We never chase customers after the fact."
    action: block
    terms: [checking]
  - id: careful-sorry
    explain: "Apologies need a second pair of eyes."
    action: approve
    terms: [sorry]
"""


def _due(care: Care) -> None:
    care.resolve()
    care.clock.advance(timedelta(hours=24))


def _notifications(care: Care, kind: str) -> list[Notification]:
    rows = list(care.session.scalars(select(Notification).where(Notification.kind == kind)))
    care.done()
    return rows


def test_nothing_goes_out_before_it_is_due(care: Care, fake_x: RecordingConnector) -> None:
    care.resolve()
    care.clock.advance(timedelta(hours=23, minutes=59))
    care.tick()
    assert care.only().status == FollowUpStatus.SCHEDULED.value
    assert care.outbound() == []


def test_a_due_follow_up_is_sent_once_through_the_gateway(
    care: Care, fake_x: RecordingConnector
) -> None:
    _due(care)
    care.tick()
    care.tick()  # the next minute finds nothing left to send
    follow_up = care.only()
    assert follow_up.status == FollowUpStatus.SENT.value
    assert follow_up.sent_at == care.clock.now()
    messages = care.outbound()
    assert len(messages) == 1
    assert follow_up.message_id == messages[0].id
    assert messages[0].text == "Hi Cust, checking in: is everything working again?"
    assert follow_up.text == messages[0].text
    assert messages[0].author_member_id == care.agent.id
    assert messages[0].delivery_state == DeliveryState.SENT.value
    assert [r.text for r in fake_x.sent] == [messages[0].text]
    assert fake_x.sent[0].reply_to_native_id == "t1"  # in the customer's thread
    # The gateway checked it: its decision is on record for that message.
    decisions = care.session.scalar(
        select(func.count())
        .select_from(PolicyDecision)
        .where(PolicyDecision.message_id == messages[0].id)
    )
    assert decisions == 2  # when queued, and again right before delivery
    # A claim for an already sent follow-up does nothing.
    care.done()
    with session_scope() as s:
        assert service.send_one(s, follow_up_id=follow_up.id, now=care.clock.now()) is None
    assert len(care.outbound()) == 1


def test_a_crash_between_claim_and_commit_loses_nothing_and_sends_once(
    care: Care, fake_x: RecordingConnector
) -> None:
    _due(care)
    care.done()
    follow_up_id = care.only().id

    class Killed(BaseException):
        """The worker process dying mid-transaction."""

    def die(_id: int) -> None:
        raise Killed

    service.AFTER_CLAIM.append(die)
    try:
        with pytest.raises(Killed), session_scope() as s:
            service.send_one(s, follow_up_id=follow_up_id, now=care.clock.now())
    finally:
        service.AFTER_CLAIM.remove(die)
    assert care.only().status == FollowUpStatus.SCHEDULED.value  # rolled back: claimable again
    assert care.outbound() == []
    care.tick()
    assert care.only().status == FollowUpStatus.SENT.value
    assert len(care.outbound()) == 1
    assert len(fake_x.sent) == 1


def test_two_workers_racing_send_each_follow_up_once(
    session: Session, jobs: JobRunner, clock: FrozenClock, fake_x: RecordingConnector
) -> None:
    cares = [build_care(session, jobs, clock) for _ in range(6)]
    for care in cares:
        care.resolve()
    clock.advance(timedelta(hours=25))
    session.commit()
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            followups_jobs.run_due()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    jobs.run_pending()
    for care in cares:
        follow_up = care.only()
        assert follow_up.status == FollowUpStatus.SENT.value
        assert len(care.outbound()) == 1
    assert len(fake_x.sent) == len(cares)


def test_a_text_the_code_of_conduct_blocks_becomes_a_task(
    care: Care, fake_x: RecordingConnector
) -> None:
    policy_service.save(
        care.session, organization_id=care.org.id, yaml_text=RULES, author=care.admin, comment="v1"
    )
    _due(care)
    care.tick()
    follow_up = care.only()
    assert follow_up.status == FollowUpStatus.TASK.value
    assert "We never chase customers after the fact." in (follow_up.reason or "")
    assert follow_up.message_id is None
    assert care.outbound() == []
    assert fake_x.sent == []
    (notice,) = _notifications(care, service.NOTIFY_TASK)
    assert notice.member_id == care.agent.id
    assert notice.conversation_id == care.conversation.id
    assert "We never chase" in notice.body
    # The refusal is on record like any other blocked send.
    decision = care.session.scalar(
        select(PolicyDecision.decision).where(PolicyDecision.organization_id == care.org.id)
    )
    assert decision == "block"


def test_a_held_text_is_a_task_until_an_approver_lets_it_through(
    care: Care, fake_x: RecordingConnector
) -> None:
    policy_service.save(
        care.session, organization_id=care.org.id, yaml_text=RULES, author=care.admin, comment="v1"
    )
    service.save_policy(
        care.session,
        organization_id=care.org.id,
        actor=care.admin,
        template="Hi {name}, sorry again: is it fixed?",
    )
    _due(care)
    care.tick()
    follow_up = care.only()
    assert follow_up.status == FollowUpStatus.TASK.value
    assert follow_up.reason is not None
    assert "held for approval" in follow_up.reason
    held = care.session.get_one(Message, follow_up.message_id)
    assert held.delivery_state == DeliveryState.HELD.value
    care.done()
    approver = accounts.member(care.session, care.org, role=Role.APPROVER)
    approval = approvals.pending(care.session, approver=approver)[0]
    approvals.approve(care.session, approval=approval, approver=approver)
    care.session.commit()
    care.jobs.run_pending()
    care.tick()
    follow_up = care.only()
    assert follow_up.status == FollowUpStatus.SENT.value
    assert follow_up.sent_at is not None
    assert len(fake_x.sent) == 1


def test_an_opted_out_customer_is_not_contacted(care: Care, fake_x: RecordingConnector) -> None:
    _due(care)
    contact = care.session.get_one(Contact, care.conversation.contact_id)
    contact.opted_out_at = care.clock.now() - timedelta(days=3)
    care.tick()
    follow_up = care.only()
    assert follow_up.status == FollowUpStatus.SKIPPED.value
    assert (follow_up.reason or "").startswith("the customer asked not to be contacted unprompted")
    assert care.outbound() == []


def test_nobody_to_send_as_makes_a_task_for_the_admins(
    care: Care, fake_x: RecordingConnector
) -> None:
    conversation = care.session.get_one(Conversation, care.conversation.id)
    conversation.assignee_id = None
    care.session.commit()
    care.resolve(automation=True)  # an automation resolved it: nobody to sign the follow-up
    care.clock.advance(timedelta(hours=24))
    care.tick()
    follow_up = care.only()
    assert follow_up.status == FollowUpStatus.TASK.value
    assert "no active member" in (follow_up.reason or "")
    assert [n.member_id for n in _notifications(care, service.NOTIFY_TASK)] == [care.admin.id]


def test_a_closed_messenger_window_makes_a_task_instead(
    session: Session, jobs: JobRunner, clock: FrozenClock, fake_facebook: RecordingFacebook
) -> None:
    care = build_care(
        session, jobs, clock, kind="facebook", visibility=Visibility.DIRECT, page_id="1"
    )
    care.resolve()
    clock.advance(timedelta(hours=24))  # the customer wrote 30 minutes before: window closed
    care.tick()
    follow_up = care.only()
    assert follow_up.status == FollowUpStatus.TASK.value
    assert "messaging window closed" in (follow_up.reason or "")
    assert care.outbound() == []
    assert fake_facebook.sent == []
    (notice,) = _notifications(care, service.NOTIFY_TASK)
    assert notice.member_id == care.agent.id


def test_within_the_window_it_is_sent_and_a_later_window_error_makes_a_task(
    session: Session, jobs: JobRunner, clock: FrozenClock, fake_facebook: RecordingFacebook
) -> None:
    care = build_care(
        session, jobs, clock, kind="facebook", visibility=Visibility.DIRECT, page_id="1"
    )
    service.save_policy(
        session,
        organization_id=care.org.id,
        actor=care.admin,
        template="Hi {name}",
        delay_minutes=60,
    )
    session.commit()
    care.resolve()
    clock.advance(timedelta(hours=1))
    # Facebook refuses anyway (the window closed early, by its clock).
    fake_facebook.failures = [WindowClosed("Facebook: the messaging window is closed")]
    care.tick()
    message = care.outbound()[0]
    assert message.visibility == Visibility.DIRECT.value
    assert message.delivery_state == DeliveryState.FAILED.value
    care.tick()  # the next minute sees the failed delivery
    follow_up = care.only()
    assert follow_up.status == FollowUpStatus.TASK.value
    assert follow_up.reason == "delivery failed: Facebook: the messaging window is closed"
    assert follow_up.sent_at is None
    assert len(_notifications(care, service.NOTIFY_TASK)) == 1


def test_a_delivery_job_lost_after_the_commit_is_enqueued_again(
    care: Care, fake_x: RecordingConnector
) -> None:
    _due(care)
    care.done()
    followups_jobs.run_due()
    care.jobs.flush()  # the delivery job never made it to the queue
    assert care.outbound()[0].delivery_state == DeliveryState.QUEUED.value
    care.clock.advance(timedelta(minutes=6))
    care.tick()
    assert care.outbound()[0].delivery_state == DeliveryState.SENT.value
    assert len(fake_x.sent) == 1


def test_an_unexpected_error_makes_a_task_rather_than_a_retry_every_minute(
    care: Care, fake_x: RecordingConnector
) -> None:
    _due(care)

    def broken(_id: int) -> None:
        raise RuntimeError("template store unreachable")

    service.AFTER_CLAIM.append(broken)
    try:
        care.tick()
    finally:
        service.AFTER_CLAIM.remove(broken)
    follow_up = care.only()
    assert follow_up.status == FollowUpStatus.TASK.value
    assert follow_up.reason == "could not be sent: RuntimeError: template store unreachable"


def test_send_now_and_cancel(care: Care, fake_x: RecordingConnector) -> None:
    care.resolve()
    follow_up = care.only()
    sent = service.send_now(care.session, follow_up=follow_up, actor=care.agent)
    care.session.commit()
    assert sent.status == FollowUpStatus.SENT.value
    care.jobs.run_pending()
    assert len(fake_x.sent) == 1
    with pytest.raises(Exception, match="only a scheduled one can be sent"):
        service.send_now(care.session, follow_up=sent, actor=care.agent)
    care.session.rollback()
    care.clock.advance(timedelta(minutes=10))
    care.reopen()
    care.clock.advance(timedelta(minutes=10))
    care.resolve()
    waiting = care.follow_ups()[-1]
    cancelled = service.cancel(care.session, follow_up=waiting, actor=care.agent)
    care.session.commit()
    assert cancelled.status == FollowUpStatus.CANCELLED.value
    assert cancelled.reason == "cancelled by Alex Agent"
    care.clock.advance(timedelta(days=2))
    care.tick()
    assert len(fake_x.sent) == 1
    total = care.session.scalar(select(func.count()).select_from(FollowUp))
    assert total == 2
