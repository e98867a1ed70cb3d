"""How long the desk keeps customers' conversations: an organization may say that a
conversation resolved more than N days ago (and quiet as long) is erased, with everything that
hangs on it, and its customer too once nothing of theirs is left.

``Organization.settings["retention_days"]``: unset keeps everything (the default). The
hourly job ``privacy.retention`` applies it in batches, each its own transaction, and records
each run that erased something in the audit trail (counts only). Erasing goes through
``privacy.delete_rows``, as erasing one customer does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member, Organization
from socialdesk.common.errors import ValidationFailed
from socialdesk.contacts import privacy
from socialdesk.contacts.models import Contact
from socialdesk.conversations.models import Conversation, Message, Status

SETTING_DAYS = "retention_days"
# At least a month (a resolved conversation is often answered again within weeks), at most
# ten years.
MIN_DAYS = 30
MAX_DAYS = 3650
# Conversations erased per transaction: short write locks on SQLite, bounded memory.
BATCH = 200


@dataclass(frozen=True)
class RetentionSettings:
    days: int | None  # None: conversations are kept until someone erases them


@dataclass(frozen=True)
class Pruned:
    """What one pass erased."""

    conversations: int
    messages: int
    contacts: int
    raw_events: int


def retention_settings(session: Session, *, organization_id: int) -> RetentionSettings:
    organization = session.get_one(Organization, organization_id)
    value = (organization.settings or {}).get(SETTING_DAYS)
    if isinstance(value, bool) or not isinstance(value, int) or value < MIN_DAYS:
        return RetentionSettings(days=None)
    return RetentionSettings(days=min(value, MAX_DAYS))


def save_retention_settings(
    session: Session, *, organization_id: int, actor: Member, days: int | None
) -> RetentionSettings:
    """Set how many days resolved conversations are kept (None: always), checked and
    audited. The next hourly pass applies it."""
    if days is not None and not MIN_DAYS <= days <= MAX_DAYS:
        raise ValidationFailed(
            f"keep resolved conversations {MIN_DAYS} to {MAX_DAYS} days, not {days}",
            field="days",
        )
    after = RetentionSettings(days=days)
    accounts_service.put_settings(
        session,
        organization_id=organization_id,
        values={SETTING_DAYS: days},
        actor=actor,
        target="retention_settings",
        before=retention_settings(session, organization_id=organization_id),
        after=after,
    )
    return after


def due(session: Session, *, organization_id: int, now: datetime) -> int:
    """How many conversations the next passes would erase (for the settings page)."""
    days = retention_settings(session, organization_id=organization_id).days
    if days is None:
        return 0
    return int(
        session.scalar(
            select(func.count()).where(_expired(organization_id, now - timedelta(days=days)))
        )
        or 0
    )


def apply(session: Session, *, organization_id: int, now: datetime) -> Pruned:
    """Erase one batch of conversations past the organization's retention, in the caller's
    transaction. A batch smaller than ``BATCH`` means none is left."""
    days = retention_settings(session, organization_id=organization_id).days
    if days is None:
        return Pruned(0, 0, 0, 0)
    cutoff = now - timedelta(days=days)
    conversation_ids = list(
        session.scalars(
            select(Conversation.id)
            .where(_expired(organization_id, cutoff))
            .order_by(Conversation.id)
            .limit(BATCH)
        )
    )
    if not conversation_ids:
        return Pruned(0, 0, 0, 0)
    message_ids = list(
        session.scalars(select(Message.id).where(Message.conversation_id.in_(conversation_ids)))
    )
    contact_ids = _left_with_nothing(session, conversation_ids, message_ids)
    raw_events = privacy.delete_rows(
        session,
        organization_id=organization_id,
        message_ids=message_ids,
        conversation_ids=conversation_ids,
        contact_ids=contact_ids,
    )
    pruned = Pruned(
        conversations=len(conversation_ids),
        messages=len(message_ids),
        contacts=len(contact_ids),
        raw_events=raw_events,
    )
    audit.record(
        session,
        organization_id=organization_id,
        action="retention_applied",
        actor=None,
        target=("organization", organization_id),
        after={"days": days, **asdict(pruned)},
    )
    return pruned


def _expired(organization_id: int, cutoff: datetime) -> ColumnElement[bool]:
    """Resolved before the cutoff and quiet since (a note after resolving keeps it)."""
    return and_(
        Conversation.organization_id == organization_id,
        Conversation.status == Status.RESOLVED.value,
        Conversation.resolved_at < cutoff,
        Conversation.last_activity_at < cutoff,
    )


def _left_with_nothing(
    session: Session, conversation_ids: list[int], message_ids: list[int]
) -> list[int]:
    """The customers of these conversations who have no other conversation and wrote no
    other message, with the contacts merged into them: erased with the conversations."""
    candidates = _people(
        session, Conversation.id.in_(conversation_ids), Message.id.in_(message_ids)
    )
    if not candidates:
        return []
    busy = _people(
        session,
        and_(Conversation.contact_id.in_(candidates), Conversation.id.not_in(conversation_ids)),
        and_(
            Message.author_contact_id.in_(candidates),
            Message.conversation_id.not_in(conversation_ids),
        ),
    )
    gone = sorted(candidates - busy)
    pointers = list(session.scalars(select(Contact.id).where(Contact.merged_into_id.in_(gone))))
    return gone + pointers


def _people(
    session: Session, conversations: ColumnElement[bool], messages: ColumnElement[bool]
) -> set[int]:
    """The customers of the conversations, and the authors of the messages, these select."""
    customers = session.scalars(select(Conversation.contact_id).where(conversations))
    authors = session.scalars(select(Message.author_contact_id).where(messages))
    return {c for c in customers if c is not None} | {a for a in authors if a is not None}
