from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count

from sqlalchemy.orm import Session

from socialdesk.channels.models import BrandAccount, InboundEvent
from socialdesk.common import clock
from socialdesk.connectors.base import (
    Attachment,
    AttachmentKind,
    Identity,
    InboundMessage,
    RawEvent,
    Visibility,
)
from socialdesk.connectors.web.connector import MESSAGE_EVENT
from socialdesk.conversations import flows

_n = count(1)


def inbound(
    *,
    native_id: str | None = None,
    reply_to: str | None = None,
    author: str = "cust-1",
    text: str = "Hello, my order has not arrived",
    at: datetime | None = None,
    thread_key: str | None = None,
    from_brand: bool = False,
    visibility: Visibility = Visibility.PUBLIC,
    reply_to_brand: bool = False,
    attachments: tuple[Attachment, ...] = (),
) -> InboundMessage:
    n = next(_n)
    return InboundMessage(
        native_id=native_id or f"m{n}",
        author=Identity(native_id=author, handle=f"@{author}", display_name=author.title()),
        text=text,
        created_at=at or clock.now() - timedelta(minutes=5),
        reply_to_native_id=reply_to,
        thread_key=thread_key,
        from_brand=from_brand,
        visibility=visibility,
        reply_to_brand=reply_to_brand,
        attachments=attachments,
    )


def ingest(session: Session, account: BrandAccount, message: InboundMessage) -> flows.IngestResult:
    return flows.ingest_message(session, account=account, message=message)


def visitor_event(
    session: Session,
    account: BrandAccount,
    *,
    visitor: str,
    text: str,
    native_id: str,
    name: str | None = None,
    process_now: bool = True,
) -> tuple[InboundEvent, bool]:
    """A website visitor's message as the website channel stores it: the raw event first,
    processed at once or (``process_now=False``) by its job. Returns the stored event and
    whether it was new."""
    payload: dict[str, object] = {
        "visitor_id": visitor,
        "message_id": native_id,
        "text": text,
        "sent_at": clock.now().isoformat(),
    }
    if name is not None:
        payload["name"] = name
    return flows.store_event(
        session,
        account=account,
        event=RawEvent(
            native_id=native_id,
            kind=MESSAGE_EVENT,
            payload=payload,
            received_at=clock.now(),
        ),
        process_now=process_now,
    )


def with_file(
    session: Session,
    account: BrandAccount,
    *,
    name: str = "invoice.pdf",
    content: bytes = b"%PDF-1.4\n% an invoice\n",
    mime_type: str = "application/pdf",
) -> int:
    """A customer's email-like message carrying one file the desk keeps; returns the
    attachment's id. The message is a conversation of its own."""
    from sqlalchemy import select

    from socialdesk.conversations.models import MessageAttachment

    n = next(_n)
    result = ingest(
        session,
        account,
        inbound(
            native_id=f"file-{n}",
            author=f"sender-{n}",
            thread_key=f"file-thread-{n}",
            text="The invoice is attached",
            attachments=(
                Attachment(AttachmentKind.FILE, name=name, mime_type=mime_type, content=content),
            ),
        ),
    )
    return session.scalars(
        select(MessageAttachment.id).where(MessageAttachment.message_id == result.message.id)
    ).one()
