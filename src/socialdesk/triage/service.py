"""Triage on the desk: classify each inbound message as it is ingested, keep the result and its
reasons, roll it up on the conversation, and take agents' corrections.

A conversation's priority is raised by triage, never lowered: a person who set it decides.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member
from socialdesk.common import clock
from socialdesk.common.errors import NotFound, ValidationFailed
from socialdesk.contacts.models import Contact
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, Direction, Message, Priority
from socialdesk.events import bus
from socialdesk.events.types import ConversationChanged
from socialdesk.triage.classify import TriageResult, classify
from socialdesk.triage.models import MessageTriage, TriageCorrection
from socialdesk.triage.priority import TriageContext

log = logging.getLogger(__name__)

# Repeated contact counts within this window (the priority rules look at "within hours").
REPEAT_WINDOW = timedelta(hours=48)

PRIORITY_LEVEL = {
    "low": Priority.LOW,
    "normal": Priority.NORMAL,
    "high": Priority.HIGH,
    "urgent": Priority.URGENT,
}
LABELS: dict[str, frozenset[str]] = {
    "sentiment": frozenset({"negative", "neutral", "positive"}),
    "complaint": frozenset({"true", "false"}),
    "intent": frozenset({"complaint", "question", "praise", "feedback", "idea", "other"}),
    "priority": frozenset(PRIORITY_LEVEL),
}


def _context(session: Session, *, message: Message) -> TriageContext:
    vip = False
    previous: tuple[datetime, ...] = ()
    if message.author_contact_id is not None:
        contact = session.get(Contact, message.author_contact_id)
        vip = bool(contact and contact.is_vip)
        since = message.created_at - REPEAT_WINDOW
        previous = tuple(
            session.scalars(
                select(Message.created_at).where(
                    Message.author_contact_id == message.author_contact_id,
                    Message.direction == Direction.INBOUND.value,
                    Message.id != message.id,
                    Message.created_at >= since,
                    Message.created_at <= message.created_at,
                )
            )
        )
    return TriageContext(
        vip=vip,
        previous_contacts=previous,
        audience=audience_of(message.raw),
        received_at=message.created_at,
    )


def audience_of(raw: object) -> int | None:
    """The author's audience size where the channel's payload carries it (Mastodon's
    ``account``, X's author), else None."""
    payload: dict[str, Any] = raw if isinstance(raw, dict) else {}
    account = payload.get("account")
    author: dict[str, Any] = account if isinstance(account, dict) else {}
    followers = payload.get("followers_count", author.get("followers_count"))
    return followers if isinstance(followers, int) else None


def triage_message(
    session: Session, *, message: Message, conversation: Conversation
) -> MessageTriage | None:
    """Classify an inbound message and roll the result up. Never breaks ingest: a failure is
    logged and the message stays untriaged."""
    if message.direction != Direction.INBOUND.value or not message.text.strip():
        return None
    try:
        result = classify(
            message.text, context=_context(session, message=message), now=message.created_at
        )
    except Exception:
        log.exception("triage failed for message %s; left untriaged", message.id)
        return None
    row = _store(session, message=message, result=result)
    _roll_up(session, conversation=conversation, message=message, row=row)
    return row


def _store(session: Session, *, message: Message, result: TriageResult) -> MessageTriage:
    row = MessageTriage(**triage_fields(message.id, message.organization_id, result))
    session.merge(row)
    return row


def triage_fields(message_id: int, organization_id: int, result: TriageResult) -> dict[str, Any]:
    """The columns of a message's stored triage row (live ingest and the backfill store the
    same)."""
    return {
        "message_id": message_id,
        "organization_id": organization_id,
        "sentiment": result.sentiment,
        "complaint": result.complaint,
        "intent": result.intent,
        "priority": result.priority.value,
        "language": result.language,
        "scores": {
            "sentiment": dict(result.sentiment_scores),
            "complaint": result.complaint_score,
            "intent": dict(result.intent_scores),
            "language": result.language_confidence,
        },
        "reasons": list(result.priority_reasons),
        "tier": result.tier,
        "corrected": False,
        "created_at": clock.now(),
    }


TRAIL_TRIAGED = "triaged"


def raised_priority(
    *, message_id: int, previous: int, priority: str, reasons: Sequence[str]
) -> dict[str, Any]:
    """The trail entry's data when a message raised its conversation's priority (live triage
    and the backfill write the same)."""
    return {
        "message_id": message_id,
        "priority_from": Priority(previous).name.lower(),
        "priority": priority,
        "reasons": list(reasons),
    }


def _roll_up(
    session: Session, *, conversation: Conversation, message: Message, row: MessageTriage
) -> None:
    latest = conversation.last_customer_message_at
    if latest is None or message.created_at >= latest:
        conversation.sentiment = row.sentiment
        conversation.intent = row.intent
        conversation.language = row.language
    conversation.is_complaint = conversation.is_complaint or row.complaint
    level = PRIORITY_LEVEL[row.priority]
    if level > conversation.priority:
        # Raised by what the customer wrote; the activity time stays the message's time (a
        # backfilled old message must not look like fresh activity).
        data = raised_priority(
            message_id=message.id,
            previous=conversation.priority,
            priority=row.priority,
            reasons=row.reasons,
        )
        conversation.priority = level.value
        conversations_service.record(
            session, conversation=conversation, kind=TRAIL_TRIAGED, actor=None, data=data
        )
        bus.emit(
            session,
            ConversationChanged(
                organization_id=conversation.organization_id,
                conversation_id=conversation.id,
                fields=("priority",),
            ),
        )


def get(session: Session, *, organization_id: int, message_id: int) -> MessageTriage:
    row = session.get(MessageTriage, message_id)
    if row is None or row.organization_id != organization_id:
        raise NotFound(f"message {message_id} has no triage result")
    return row


def correct(
    session: Session,
    *,
    organization_id: int,
    message_id: int,
    field: str,
    value: str,
    member: Member,
) -> MessageTriage:
    """One-click correction of a wrong label. Stored for retraining and applied at once."""
    allowed = LABELS.get(field)
    if allowed is None:
        raise ValidationFailed(f"field must be one of {', '.join(sorted(LABELS))}", field="field")
    value = value.strip().lower()
    if value not in allowed:
        raise ValidationFailed(
            f"{field} must be one of {', '.join(sorted(allowed))}", field="value"
        )
    row = get(session, organization_id=organization_id, message_id=message_id)
    old = str(getattr(row, field)).lower()
    if old == value:
        return row
    session.add(
        TriageCorrection(
            organization_id=organization_id,
            message_id=message_id,
            field=field,
            old_value=old,
            new_value=value,
            member_id=member.id,
            created_at=clock.now(),
        )
    )
    setattr(row, field, value == "true" if field == "complaint" else value)
    row.corrected = True
    message = session.get_one(Message, message_id)
    conversation = session.get_one(Conversation, message.conversation_id)
    if field == "priority":
        conversations_service.set_priority(
            session, conversation=conversation, priority=PRIORITY_LEVEL[value], actor=member
        )
    elif field == "complaint":
        conversation.is_complaint = value == "true"
    elif message.created_at >= (conversation.last_customer_message_at or message.created_at):
        setattr(conversation, field, value)
    conversations_service.record(
        session,
        conversation=conversation,
        kind="triage_corrected",
        actor=member,
        data={"message_id": message_id, "field": field, "from": old, "to": value},
    )
    return row


def corrections_jsonl(session: Session, *, organization_id: int | None = None) -> Iterator[str]:
    """Corrections as the trainer reads them: one {"text", "field", "label"} per line (the
    latest correction of each message and field wins)."""
    stmt = (
        select(
            TriageCorrection.message_id,
            TriageCorrection.field,
            TriageCorrection.new_value,
            Message.text,
        )
        .join(Message, Message.id == TriageCorrection.message_id)
        .order_by(TriageCorrection.id)
    )
    if organization_id is not None:
        stmt = stmt.where(TriageCorrection.organization_id == organization_id)
    latest: dict[tuple[int, str], tuple[str, str]] = {}
    for message_id, field, label, text in session.execute(stmt):
        latest[(message_id, field)] = (text, label)
    for (_, field), (text, label) in latest.items():
        yield json.dumps({"text": text, "field": field, "label": label}, ensure_ascii=False)
