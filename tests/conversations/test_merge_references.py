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
