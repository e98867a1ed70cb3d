"""Withdrawing a sent public reply: who may, what may be, the job that deletes the post, its
retries and failures, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.conftest import JobRunner
from tests.factories import accounts, channels
from tests.factories.connectors import (
    RecordingConnector,
    WithdrawingConnector,
    permanent,
    revoked,
    transient,
)
from tests.factories.conversations import inbound, ingest

from socialdesk.accounts.models import Member, Organization, Role
from socialdesk.channels.models import BrandAccount, Health
from socialdesk.common.clock import FrozenClock
from socialdesk.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from socialdesk.connectors import registry
from socialdesk.connectors.base import Visibility
from socialdesk.contacts.models import Contact
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import (
    Activity,
    Conversation,
    DeliveryState,
    Direction,
    Message,
    WithdrawalState,
)
from socialdesk.events.models import EventRecord
from socialdesk.notifications.models import Notification
from socialdesk.outbound import service as outbound
from socialdesk.outbound import withdrawal, withdrawing


@pytest.fixture
def fake_x() -> Iterator[WithdrawingConnector]:
    connector = WithdrawingConnector()
    with registry.override(connector):
        yield connector


def _sent_reply(
    session: Session, jobs: JobRunner, *, author_role: Role = Role.AGENT
) -> tuple[Message, Member, Organization]:
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind="x")
    result = ingest(session, account, inbound(native_id="t1", author="cust", text="Refund?"))
    author = accounts.member(session, org, role=author_role)
    reply = outbound.queue_reply(
        session, conversation=result.conversation, author=author, text="Refund of 500 EUR sent"
    )
    session.commit()
    jobs.run_pending()
    return _reload(session, reply.id), author, org


def _reload(session: Session, message_id: int) -> Message:
    session.expire_all()
    return session.get_one(Message, message_id)


def _trail(session: Session, message: Message) -> list[tuple[str, dict[str, object]]]:
    rows = session.scalars(
        select(Activity)
        .where(Activity.conversation_id == message.conversation_id)
        .order_by(Activity.id)
    )
    return [(a.kind, a.data) for a in rows if a.kind.startswith("reply_withdraw")]


def _events(session: Session) -> list[dict[str, object]]:
    rows = session.scalars(
        select(EventRecord)
        .where(EventRecord.kind == "message.withdrawal_changed")
        .order_by(EventRecord.id)
    )
    return [r.payload for r in rows]


def test_the_author_withdraws_a_sent_reply(
    session: Session, clock: FrozenClock, jobs: JobRunner, fake_x: WithdrawingConnector
) -> None:
    reply, author, _org = _sent_reply(session, jobs)
    assert reply.delivery_state == DeliveryState.SENT.value
    clock.advance(timedelta(minutes=3))
    asked_at = clock.now()
    withdrawal.request(session, message=reply, actor=author, reason="  Wrong amount: it is 50  ")
    session.commit()
    pending = _reload(session, reply.id)
    assert pending.withdrawal_state == WithdrawalState.PENDING.value
    assert pending.withdrawal_reason == "Wrong amount: it is 50"
    assert pending.withdrawal_requested_by_id == author.id
    assert pending.withdrawal_requested_at == asked_at
    assert pending.withdrawal_requested_at.tzinfo is UTC
    assert fake_x.withdrawn == []  # nothing leaves before the commit and the job

    clock.advance(timedelta(seconds=20))
    jobs.run_pending()
    done = _reload(session, reply.id)
    assert fake_x.withdrawn == [reply.native_id]
    assert done.withdrawal_state == WithdrawalState.WITHDRAWN.value
    assert done.withdrawn_at == datetime(2026, 1, 5, 9, 3, 20, tzinfo=UTC)
    assert done.withdrawal_error is None
    assert done.delivery_state == DeliveryState.SENT.value  # it was sent; it is now withdrawn
    assert _trail(session, reply) == [
        ("reply_withdrawn", {"message_id": reply.id, "reason": "Wrong amount: it is 50"})
    ]
    assert [(e["message_id"], e["state"]) for e in _events(session)] == [
        (reply.id, "pending"),
        (reply.id, "withdrawn"),
    ]


def test_asking_twice_asks_the_network_once(
    session: Session, jobs: JobRunner, fake_x: WithdrawingConnector
) -> None:
    reply, author, _org = _sent_reply(session, jobs)
    withdrawal.request(session, message=reply, actor=author, reason="Wrong customer")
    withdrawal.request(session, message=reply, actor=author, reason="Wrong customer")  # pending
    session.commit()
    jobs.run_pending()
    again = withdrawal.request(
        session, message=_reload(session, reply.id), actor=author, reason="Once more"
    )
    session.commit()
    jobs.run_pending()
    assert again.withdrawal_state == WithdrawalState.WITHDRAWN.value
    assert again.withdrawal_reason == "Wrong customer"
    assert fake_x.withdrawn == [reply.native_id]
    assert len(_trail(session, reply)) == 1


def test_a_job_run_twice_deletes_once(
    session: Session, jobs: JobRunner, fake_x: WithdrawingConnector
) -> None:
    reply, author, _org = _sent_reply(session, jobs)
    withdrawal.request(session, message=reply, actor=author, reason="Typo")
    session.commit()
    jobs.run_pending()
    withdrawal.withdraw({"message_id": reply.id})  # a duplicate job, e.g. a recovered one
    assert fake_x.withdrawn == [reply.native_id]


def test_a_temporary_failure_retries_with_backoff(
    session: Session, jobs: JobRunner, fake_x: WithdrawingConnector
) -> None:
    reply, author, _org = _sent_reply(session, jobs)
    fake_x.withdraw_failures = [transient("X answered 503; will try again later")]
    withdrawal.request(session, message=reply, actor=author, reason="Typo")
    session.commit()
    jobs.run_pending()
    waiting = _reload(session, reply.id)
    assert waiting.withdrawal_state == WithdrawalState.PENDING.value
    assert waiting.withdrawal_error == "X answered 503; will try again later"
    assert jobs.huey.scheduled_count() == 1  # the retry waits for its backoff
    jobs.run_pending(include_scheduled=True)
    done = _reload(session, reply.id)
    assert done.withdrawal_state == WithdrawalState.WITHDRAWN.value
    assert done.withdrawal_error is None
    assert fake_x.withdrawn == [reply.native_id]


def test_a_final_failure_keeps_the_reason_and_a_person_tries_again(
    session: Session, jobs: JobRunner, fake_x: WithdrawingConnector
) -> None:
    reply, author, _org = _sent_reply(session, jobs)
    fake_x.withdraw_failures = [permanent("X refused the request (403): not allowed")]
    withdrawal.request(session, message=reply, actor=author, reason="Typo")
    session.commit()
    jobs.run_pending()
    failed = _reload(session, reply.id)
    assert failed.withdrawal_state == WithdrawalState.FAILED.value
    assert failed.withdrawal_error == "X refused the request (403): not allowed"
    assert _trail(session, reply)[-1] == (
        "reply_withdrawal_failed",
        {"message_id": reply.id, "reason": "X refused the request (403): not allowed"},
    )

    withdrawal.request(session, message=failed, actor=author, reason="Typo")  # "Try again"
    session.commit()
    jobs.run_pending()
    assert _reload(session, reply.id).withdrawal_state == WithdrawalState.WITHDRAWN.value
    assert fake_x.withdrawn == [reply.native_id]


def _told(session: Session, member: Member) -> list[Notification]:
    session.expire_all()
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.member_id == member.id, Notification.kind.startswith("reply."))
            .order_by(Notification.id)
        )
    )


def test_a_final_failure_tells_who_asked_which_reply_where_and_why(
    session: Session, jobs: JobRunner, fake_x: WithdrawingConnector
) -> None:
    reply, author, org = _sent_reply(session, jobs)
    admin = accounts.member(session, org, role=Role.ADMIN)
    fake_x.withdraw_failures = [
        transient("X answered 503"),
        permanent("X refused the request (403): not allowed"),
    ]
    withdrawal.request(session, message=reply, actor=admin, reason="Wrong customer")
    session.commit()
    jobs.run_pending()
    assert _told(session, admin) == []  # a temporary failure tells nobody yet
    jobs.run_pending(include_scheduled=True)
    assert _reload(session, reply.id).withdrawal_state == WithdrawalState.FAILED.value

    conversation = session.get_one(Conversation, reply.conversation_id)
    customer = session.get_one(Contact, conversation.contact_id)
    account = session.get_one(BrandAccount, reply.brand_account_id)
    (told,) = _told(session, admin)
    assert told.kind == "reply.withdrawal_failed"
    assert told.title == (
        f"A reply to {customer.name} could not be withdrawn from the X account {account.handle}"
    )
    assert told.body.startswith("X refused the request (403): not allowed\n\n“Refund of 500 EUR")
    assert told.conversation_id == conversation.id
    assert told.link == f"/conversations/{conversation.id}#message-{reply.id}"
    assert told.data == {"message_id": reply.id, "brand_account_id": account.id}
    assert _told(session, author) == []  # the one who asked is told, not the author


def test_repeated_temporary_failures_give_up_with_the_reason(
    session: Session, jobs: JobRunner, fake_x: WithdrawingConnector
) -> None:
    reply, author, _org = _sent_reply(session, jobs)
    fake_x.withdraw_failures = [transient("X answered 503") for _ in range(20)]
    withdrawal.request(session, message=reply, actor=author, reason="Typo")
    session.commit()
    for _ in range(20):
        if not jobs.run_pending(include_scheduled=True):
            break
    failed = _reload(session, reply.id)
    assert failed.withdrawal_state == WithdrawalState.FAILED.value
    assert failed.withdrawal_error == "gave up after repeated failures: X answered 503"
    assert fake_x.withdrawn == []
    (told,) = _told(session, author)
    assert told.kind == "reply.withdrawal_failed"
    assert told.body.startswith("gave up after repeated failures: X answered 503")


def test_a_refused_token_fails_it_and_marks_the_account(
    session: Session, jobs: JobRunner, fake_x: WithdrawingConnector
) -> None:
    reply, author, _org = _sent_reply(session, jobs)
    fake_x.withdraw_failures = [revoked()]
    withdrawal.request(session, message=reply, actor=author, reason="Typo")
    session.commit()
    jobs.run_pending()
    failed = _reload(session, reply.id)
    assert failed.withdrawal_state == WithdrawalState.FAILED.value
    assert "needs attention: token revoked by the user" in (failed.withdrawal_error or "")
    account = session.get_one(BrandAccount, reply.brand_account_id)
    assert account.health == Health.UNHEALTHY.value


def test_an_owner_or_admin_may_withdraw_anyones_reply_and_a_colleague_may_not(
    session: Session, jobs: JobRunner, fake_x: WithdrawingConnector
) -> None:
    reply, _author, org = _sent_reply(session, jobs)
    colleague = accounts.member(session, org, role=Role.APPROVER)
    with pytest.raises(PermissionDenied, match="author, or an owner or admin"):
        withdrawal.request(session, message=reply, actor=colleague, reason="Typo")
    admin = accounts.member(session, org, role=Role.ADMIN)
    withdrawal.request(session, message=reply, actor=admin, reason="Wrong customer")
    assert reply.withdrawal_requested_by_id == admin.id


def test_another_organizations_reply_is_not_found(
    session: Session, jobs: JobRunner, fake_x: WithdrawingConnector
) -> None:
    reply, _author, _org = _sent_reply(session, jobs)
    stranger = accounts.member(session, accounts.organization(session), role=Role.OWNER)
    with pytest.raises(NotFound, match=f"message {reply.id} does not exist"):
        withdrawal.request(session, message=reply, actor=stranger, reason="Typo")


@pytest.mark.parametrize(
    ("reason", "says"),
    [("", "say why"), ("   ", "say why"), ("x" * 501, "at most 500 characters; this one has 501")],
)
def test_a_reason_is_required(
    session: Session, jobs: JobRunner, fake_x: WithdrawingConnector, reason: str, says: str
) -> None:
    reply, author, _org = _sent_reply(session, jobs)
    with pytest.raises(ValidationFailed, match=says) as caught:
        withdrawal.request(session, message=reply, actor=author, reason=reason)
    assert caught.value.field == "reason"
    assert reply.withdrawal_state is None


def test_a_reason_of_500_characters_is_taken(
    session: Session, jobs: JobRunner, fake_x: WithdrawingConnector
) -> None:
    reply, author, _org = _sent_reply(session, jobs)
    withdrawal.request(session, message=reply, actor=author, reason=" " + "x" * 500 + " ")
    session.commit()
    assert _reload(session, reply.id).withdrawal_reason == "x" * 500


def test_what_cannot_be_withdrawn_says_why(
    session: Session, jobs: JobRunner, fake_x: WithdrawingConnector
) -> None:
    reply, author, _org = _sent_reply(session, jobs)
    conversation = session.get_one(Conversation, reply.conversation_id)
    customer = session.scalars(
        select(Message).where(
            Message.conversation_id == conversation.id,
            Message.direction == Direction.INBOUND.value,
        )
    ).one()
    note = conversations_service.add_note(
        session, conversation=conversation, author=author, text="Checked the bank"
    )
    queued = outbound.queue_reply(session, conversation=conversation, author=author, text="More")
    cases = {
        customer.id: "this message is the customer's",
        note.id: "an internal note is never sent",
        queued.id: "not sent yet",
    }
    for message_id, says in cases.items():
        with pytest.raises(Conflict, match=says):
            withdrawal.request(
                session, message=session.get_one(Message, message_id), actor=author, reason="x"
            )
    queued.delivery_state = DeliveryState.FAILED.value
    with pytest.raises(Conflict, match="never delivered"):
        withdrawal.request(session, message=queued, actor=author, reason="x")
    queued.delivery_state = DeliveryState.SENT.value
    queued.visibility = Visibility.DIRECT.value
    queued.native_id = "dm-1"
    with pytest.raises(Conflict, match="only public replies"):
        withdrawal.request(session, message=queued, actor=author, reason="x")
    assert fake_x.withdrawn == []


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("email", "email cannot be taken back once sent"),
        ("web", "a website chat message cannot be taken back once sent"),
    ],
)
def test_channels_that_cannot_withdraw_say_so(session: Session, kind: str, says: str) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind=kind)
    message = Message(
        organization_id=org.id,
        brand_account_id=account.id,
        direction=Direction.OUTBOUND.value,
        visibility=Visibility.PUBLIC.value,
        text="Sent",
        native_id="n-1",
        delivery_state=DeliveryState.SENT.value,
    )
    assert withdrawal.why_not(message, account) == says
    assert not withdrawing.withdraws(kind)


def test_a_connector_without_withdraw_cannot(session: Session) -> None:
    with registry.override(RecordingConnector()):
        assert not withdrawing.withdraws("x")
        org = accounts.organization(session)
        account = channels.brand_account(session, org, kind="x")
        message = Message(
            organization_id=org.id,
            brand_account_id=account.id,
            direction=Direction.OUTBOUND.value,
            visibility=Visibility.PUBLIC.value,
            text="Sent",
            native_id="1",
            delivery_state=DeliveryState.SENT.value,
        )
        assert withdrawal.why_not(message, account) == (
            "X replies cannot be taken back from the desk once sent"
        )
