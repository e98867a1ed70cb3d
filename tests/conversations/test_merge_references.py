"""Merging conversations carries along everything other domains hang on them."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest

from socialdesk.commitments import service as commitments_service
from socialdesk.commitments.models import Commitment
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, Message
from socialdesk.escalations import service as escalations_service
from socialdesk.escalations.models import EscalationRequest
from socialdesk.events.models import EventRecord
from socialdesk.jobs.models import JobIntent
from socialdesk.notifications import service as notifications_service
from socialdesk.notifications.models import Notification


def test_merge_moves_promises_requests_and_notifications(session: Session) -> None:
    org = accounts.organization(session)
    agent = accounts.member(session, org)
    colleague = accounts.member(session, org)
    account = channels.brand_account(session, org, kind="web")
    keep = ingest(session, account, inbound(author="ana", thread_key="visitor:a")).conversation
    other = ingest(session, account, inbound(author="ana", thread_key="visitor:b")).conversation
    commitments_service.create(
        session, conversation=other, actor=agent, text="We will call you tomorrow"
    )
    escalations_service.create(
        session, conversation=other, requested_by=agent, text="Refund", member_id=colleague.id
    )
    notifications_service.notify(
        session,
        organization_id=org.id,
        member_ids=[agent.id],
        kind="test",
        title="About the other one",
        conversation_id=other.id,
    )
    session.commit()
    other_id = other.id

    conversations_service.merge(session, keep=keep, others=[other], actor=agent)
    session.commit()

    assert session.get(Conversation, other_id) is None
    for model in (Commitment, EscalationRequest, Notification, Message):
        moved = session.scalar(
            select(func.count()).select_from(model).where(model.conversation_id == keep.id)
        )
        left = session.scalar(
            select(func.count()).select_from(model).where(model.conversation_id == other_id)
        )
        assert moved, model
        assert left == 0, model


def test_merge_is_announced(session: Session) -> None:
    """A thread that turns out to join two conversations folds one into the other: the merge
    is a live event (open pages of the folded one go to the one kept; the inbox refreshes)
    and queues the SLA reconcile of the one kept."""
    from socialdesk.jobs import catalog  # noqa: F401 - the domains' listeners, as at start

    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind="x")
    first = ingest(session, account, inbound(native_id="a1", author="ana"))
    # A reply to a message not seen yet: a conversation of its own, for now.
    second = ingest(session, account, inbound(native_id="b1", reply_to="x1", author="ben"))
    assert first.conversation.id != second.conversation.id
    # The missing message arrives, answering the first: both are one thread.
    joined = ingest(session, account, inbound(native_id="x1", reply_to="a1", author="ben"))
    session.commit()
    keep_id, gone_id = first.conversation.id, second.conversation.id
    assert joined.conversation.id == keep_id
    [event] = session.scalars(
        select(EventRecord).where(EventRecord.kind == "conversation.merged")
    ).all()
    assert event.payload["conversation_id"] == keep_id
    assert event.payload["merged_ids"] == [gone_id]
    queued = session.scalars(
        select(JobIntent.payload).where(JobIntent.name == "sla.reconcile")
    ).all()
    assert {"conversation_id": keep_id} in queued
