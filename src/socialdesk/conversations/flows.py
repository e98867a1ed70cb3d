"""Inbound: raw event -> stored -> parsed -> contact -> threaded into a conversation.

This is the one ingest flow every channel goes through (webhooks, pollers, the website chat,
imports). It is idempotent on (brand account, native id) and threads by reply references, so
a replayed event adds nothing and messages may arrive in any order: a reply that arrives before
its parent is joined when the parent comes, and conversations that turn out to be one thread
are merged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from socialdesk.channels.models import BrandAccount, EventStatus, InboundEvent
from socialdesk.common import clock
from socialdesk.common.errors import NotFound
from socialdesk.config import get_settings
from socialdesk.connectors import registry
from socialdesk.connectors.base import InboundMessage, RawEvent, UnsupportedEvent, Visibility
from socialdesk.contacts import service as contacts_service
from socialdesk.conversations import attachments, erased
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, DeliveryState, Direction, Message, Status
from socialdesk.events import bus
from socialdesk.events.types import ConversationCreated, MessageCreated
from socialdesk.jobs import queue as jobs

log = logging.getLogger(__name__)

PROCESS_EVENT_JOB = "ingest.process_event"


@dataclass(frozen=True)
class IngestResult:
    message: Message
    conversation: Conversation
    created: bool  # False when the message was already there (a replay)
    conversation_created: bool = False


def store_event(
    session: Session, *, account: BrandAccount, event: RawEvent, process_now: bool = False
) -> tuple[InboundEvent, bool]:
    """Keep the raw event before anything else, keyed by the provider's id. Returns the stored
    event and whether it is new. New events are processed by a job (or at once)."""
    existing = session.scalar(
        select(InboundEvent).where(
            InboundEvent.brand_account_id == account.id, InboundEvent.native_id == event.native_id
        )
    )
    if existing is not None:
        return existing, False
    stored = InboundEvent(
        organization_id=account.organization_id,
        brand_account_id=account.id,
        native_id=event.native_id,
        kind=event.kind,
        payload=event.payload,
        received_at=event.received_at,
        status=EventStatus.PENDING.value,
    )
    try:
        with session.begin_nested():
            session.add(stored)
    except IntegrityError:
        # Another process stored the same event a moment ago: that copy wins.
        winner = session.scalar(
            select(InboundEvent).where(
                InboundEvent.brand_account_id == account.id,
                InboundEvent.native_id == event.native_id,
            )
        )
        assert winner is not None
        return winner, False
    if process_now:
        process_event(session, event_id=stored.id)
    else:
        session.flush()
        # The pending event is its own record of the work owed: recovery.py queues it again
        # if the job is lost, and marks it failed (telling the admins) when it keeps failing.
        jobs.enqueue(session, PROCESS_EVENT_JOB, {"event_id": stored.id}, durable=False)
    return stored, True


def process_event(session: Session, *, event_id: int) -> list[IngestResult]:
    """Parse a stored event and ingest its messages. Unknown or ignored event types are
    recorded as ignored with a log line, never a crash; a parse failure is kept with its reason."""
    stored = session.get(InboundEvent, event_id)
    if stored is None:
        raise NotFound(f"inbound event {event_id} does not exist")
    if stored.status != EventStatus.PENDING.value:
        return []
    account = session.get(BrandAccount, stored.brand_account_id)
    assert account is not None
    connector = registry.get(account.kind)
    raw = RawEvent(
        native_id=stored.native_id,
        kind=stored.kind,
        payload=stored.payload,
        received_at=stored.received_at,
    )
    now = clock.now()
    try:
        parsed = connector.parse(raw)
    except UnsupportedEvent as exc:
        log.info(
            "ignoring %s event %s on account %s: %s",
            account.kind,
            stored.kind,
            account.id,
            exc.reason,
        )
        stored.status, stored.error, stored.processed_at = (
            EventStatus.IGNORED.value,
            exc.reason[:1000],
            now,
        )
        return []
    except Exception as exc:
        log.warning("could not parse %s event %s: %s", account.kind, stored.native_id, exc)
        stored.status, stored.error, stored.processed_at = (
            EventStatus.FAILED.value,
            f"parse failed: {exc}"[:1000],
            now,
        )
        return []
    if not parsed:
        stored.status, stored.processed_at = EventStatus.IGNORED.value, now
        return []
    results: list[IngestResult] = []
    for m in parsed:
        try:
            results.append(ingest_message(session, account=account, message=m, event_id=stored.id))
        except erased.ErasedMessageSkipped:
            continue
    if not results:
        # Everything in it was erased with its customer before (conversations/erased.py): the
        # raw copy keeps nothing of it, and its id still turns a replay away.
        stored.payload = {}
        stored.status, stored.error, stored.processed_at = (
            EventStatus.IGNORED.value,
            "its messages were erased with their customer",
            now,
        )
        return []
    # An error a failed earlier attempt kept is history now (recovery.py).
    stored.status, stored.error, stored.processed_at = EventStatus.PROCESSED.value, None, now
    return results


def _lock_account(session: Session, account: BrandAccount) -> None:
    # Threading reads then writes; two workers threading the same account at once could each
    # start a conversation for halves of one thread. PostgreSQL: a transaction-scoped advisory
    # lock per account. SQLite: writers are already serialised (BEGIN IMMEDIATE).
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": account.id})


def ingest_message(
    session: Session,
    *,
    account: BrandAccount,
    message: InboundMessage,
    event_id: int | None = None,
) -> IngestResult:
    """Store one normalised message and thread it. Safe to call again with the same message.
    ``event_id`` is the stored raw event it came from, kept so that erasing the customer
    (contacts/privacy.py) erases the raw copy too."""
    _lock_account(session, account)
    existing = session.scalar(
        select(Message).where(
            Message.brand_account_id == account.id, Message.native_id == message.native_id
        )
    )
    if existing is not None:
        conversation = session.get(Conversation, existing.conversation_id)
        assert conversation is not None
        return IngestResult(existing, conversation, created=False)
    if erased.is_erased(session, brand_account_id=account.id, native_id=message.native_id):
        raise erased.ErasedMessageSkipped(account.id, message.native_id)

    contact_id = None
    if not message.from_brand:
        contact, _identity = contacts_service.find_or_create(
            session,
            organization_id=account.organization_id,
            channel=account.kind,
            identity=message.author,
        )
        contact_id = contact.id

    conversation, created = _thread(
        session, account=account, message=message, contact_id=contact_id
    )
    now = clock.now()
    row = Message(
        organization_id=account.organization_id,
        conversation_id=conversation.id,
        brand_account_id=account.id,
        direction=Direction.OUTBOUND.value if message.from_brand else Direction.INBOUND.value,
        visibility=message.visibility.value,
        author_contact_id=contact_id,
        text=message.text,
        native_id=message.native_id,
        native_reply_to_id=message.reply_to_native_id,
        thread_key=message.thread_key,
        raw=message.raw or None,
        inbound_event_id=event_id,
        created_at=message.created_at,
        received_at=now,
    )
    if message.from_brand:
        # Sent by the brand outside the desk (another tool, or history being imported).
        row.delivery_state, row.sent_at = DeliveryState.SENT.value, message.created_at
    session.add(row)
    session.flush()
    if message.attachments:
        attachments.keep(
            session,
            organization_id=account.organization_id,
            message_id=row.id,
            attachments=message.attachments,
        )
    if conversation.contact_id is None and contact_id is not None:
        conversation.contact_id = contact_id
    previous_customer_message_at = conversation.last_customer_message_at
    conversations_service.refresh_aggregates(session, conversation=conversation)
    if not message.from_brand and (
        previous_customer_message_at is None or message.created_at >= previous_customer_message_at
    ):
        _wake(session, conversation, message)
    if not message.from_brand:
        from socialdesk.triage import service as triage_service

        triage_service.triage_message(session, message=row, conversation=conversation)
    if created:
        bus.emit(
            session,
            ConversationCreated(
                organization_id=account.organization_id, conversation_id=conversation.id
            ),
        )
    bus.emit(
        session,
        MessageCreated(
            organization_id=account.organization_id,
            conversation_id=conversation.id,
            message_id=row.id,
            direction=row.direction,
            visibility=row.visibility,
            first_of_conversation=created,
        ),
    )
    return IngestResult(row, conversation, created=True, conversation_created=created)


def _wake(session: Session, conversation: Conversation, message: InboundMessage) -> None:
    """A customer wrote something new: a snoozed, pending or resolved conversation needs
    attention again. (An old message arriving late, as in a backfill, changes nothing.)"""
    if conversation.status in (Status.SNOOZED.value, Status.PENDING.value):
        conversations_service.set_status(
            session, conversation=conversation, status=Status.OPEN, actor=None
        )
    elif (
        conversation.status == Status.RESOLVED.value
        and conversation.resolved_at is not None
        and message.created_at > conversation.resolved_at
    ):
        conversations_service.set_status(
            session, conversation=conversation, status=Status.OPEN, actor=None
        )
        conversations_service.record(
            session, conversation=conversation, kind="reopened_by_customer", actor=None
        )


def _related_conversation_ids(
    session: Session, *, account: BrandAccount, message: InboundMessage, contact_id: int | None
) -> list[int]:
    """Conversations this message belongs with: its parent's, its children's (replies that
    arrived first), its siblings' (replies to the same missing parent), and its thread key's.

    Replies to a post the brand published to everyone (an announcement, a poll's post) are not
    one thread of strangers: each person's replies to it are their own conversation. The
    connector says when the post answered is the brand's (``reply_to_brand``); a poll the desk
    posted is known here too."""
    links = [Message.native_reply_to_id == message.native_id]
    if message.reply_to_native_id:
        links.append(Message.native_id == message.reply_to_native_id)
        siblings = Message.native_reply_to_id == message.reply_to_native_id
        if message.reply_to_brand or _is_own_post(
            session, account=account, native_id=message.reply_to_native_id
        ):
            siblings = and_(
                siblings,
                Message.author_contact_id == contact_id
                if contact_id is not None
                else Message.author_contact_id.is_(None),
            )
        links.append(siblings)
    if message.thread_key:
        links.append(Message.thread_key == message.thread_key)
    ids = session.scalars(
        select(Message.conversation_id)
        .where(Message.brand_account_id == account.id, or_(*links))
        .distinct()
    )
    return sorted(set(ids))


def _is_own_post(session: Session, *, account: BrandAccount, native_id: str) -> bool:
    """Whether ``native_id`` is a post the account published from the desk to everyone, not
    in answer to anyone: a poll's post."""
    from socialdesk.polls.models import Poll

    return (
        session.scalar(
            select(Poll.id)
            .where(Poll.brand_account_id == account.id, Poll.post_id == native_id)
            .limit(1)
        )
        is not None
    )


def _thread(
    session: Session, *, account: BrandAccount, message: InboundMessage, contact_id: int | None
) -> tuple[Conversation, bool]:
    ids = _related_conversation_ids(
        session, account=account, message=message, contact_id=contact_id
    )
    related = [c for c in (session.get(Conversation, i) for i in ids) if c is not None]
    quiet = timedelta(hours=get_settings().reopen_quiet_period_hours)
    # A conversation resolved longer ago than the quiet period before this message is closed
    # history: it is never merged with newer work. A customer writing into it starts a new
    # conversation (linked in the trail); within the quiet period it reopens the old one.
    stale = [
        c
        for c in related
        if c.status == Status.RESOLVED.value
        and c.resolved_at is not None
        and message.created_at > c.resolved_at
        and message.created_at - c.resolved_at > quiet
    ]
    current = [c for c in related if c not in stale]
    if not current and stale:
        if message.from_brand:
            # The brand's own post in an old thread (seen in history) stays with that thread.
            return stale[-1], False
        conversation = _new_conversation(
            session, account=account, message=message, contact_id=contact_id
        )
        conversations_service.record(
            session,
            conversation=conversation,
            kind="follows",
            actor=None,
            data={"previous": stale[-1].id},
        )
        return conversation, True
    if not current:
        return _new_conversation(
            session, account=account, message=message, contact_id=contact_id
        ), True
    keep = current[0]
    if len(current) > 1:
        conversations_service.merge(session, keep=keep, others=current[1:])
    return keep, False


def _new_conversation(
    session: Session, *, account: BrandAccount, message: InboundMessage, contact_id: int | None
) -> Conversation:
    subject = message.subject or message.text.strip().split("\n", 1)[0]
    conversation = Conversation(
        organization_id=account.organization_id,
        brand_account_id=account.id,
        contact_id=contact_id,
        status=Status.OPEN.value,
        subject=subject[:300],
        thread_key=message.thread_key,
        created_at=clock.now(),
        last_activity_at=message.created_at,
    )
    session.add(conversation)
    session.flush()
    return conversation


def is_visible_to_customer(message: Message) -> bool:
    return message.visibility != Visibility.NOTE.value and (
        message.direction == Direction.INBOUND.value
        or message.delivery_state == DeliveryState.SENT.value
    )


POLL_ACCOUNT_JOB = "ingest.poll_account"


@dataclass(frozen=True)
class PollOutcome:
    stored: int  # new events stored (replays are not counted)
    cursor: str | None


def is_polled(account: BrandAccount) -> bool:
    """Whether the desk polls the account: its connector polls and polling is not switched
    off (``polling_enabled: false``)."""
    from socialdesk.connectors.base import Poller

    if account.settings.get("polling_enabled", True) is False:
        return False
    return account.kind in registry.kinds() and isinstance(registry.get(account.kind), Poller)


def pollable_account_ids(session: Session) -> list[int]:
    """Brand accounts whose connector polls and that are not switched off."""
    accounts = session.scalars(select(BrandAccount).order_by(BrandAccount.id))
    return [account.id for account in accounts if is_polled(account)]


def record_poll(
    session: Session,
    *,
    account: BrandAccount,
    events: list[RawEvent],
    cursor: str | None,
    credentials_update: dict[str, str] | None = None,
    warnings: list[str] | None = None,
) -> PollOutcome:
    """Store what a poll returned and only then move the cursor, in one transaction: if the
    process dies before commit, the next poll fetches the same events again (and replays are
    idempotent), so nothing is lost and nothing is doubled."""
    from socialdesk.channels import service as channels_service

    stored = 0
    for event in events:
        _, new = store_event(session, account=account, event=event)
        stored += int(new)
    if cursor is not None:
        account.poll_cursor = cursor
    if credentials_update:
        channels_service.update_credentials(account, credentials_update)
    reason = "; ".join(warnings) if warnings else None
    channels_service.mark_health(account, healthy=True)
    account.health_reason = reason
    return PollOutcome(stored=stored, cursor=account.poll_cursor)
