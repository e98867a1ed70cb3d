"""Replies by SMTP, threaded with In-Reply-To and References.

The Message-ID of a reply is derived from the outbound message's idempotency key, so a retried
send carries the same id: the customer's mail client shows one message, and a copy found later
in a Sent folder can be matched to the desk's message.
"""

from __future__ import annotations

import email.utils
import hashlib
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol

from socialdesk.connectors.base import (
    Attachment,
    OutboundRequest,
    SendError,
    SendResult,
    Visibility,
)
from socialdesk.connectors.email.config import EmailAccount, ServerConfig
from socialdesk.connectors.email.smtp import smtp_error, smtp_session


class SmtpTransport(Protocol):
    """Hands one message to a mail server. Raises the ``smtplib`` or socket error it met
    (``smtp.Unreachable`` when the connection could not be opened)."""

    def send(self, message: EmailMessage) -> None: ...


class SmtplibTransport:
    """SMTP with ``smtplib``, in the session ``smtp.smtp_session`` opens: implicit TLS
    (``ssl``), ``starttls``, or plain (``none``, for a server on loopback), with a timeout on
    every socket operation."""

    def __init__(self, server: ServerConfig, *, timeout: float) -> None:
        self.server = server
        self.timeout = timeout

    def send(self, message: EmailMessage) -> None:
        with smtp_session(self.server, timeout=self.timeout) as client:
            client.send_message(message)


def message_id_for(key: str, *, address: str, domain: str) -> str:
    """A Message-ID (without brackets) that is the same for every attempt of one send."""
    digest = hashlib.sha256(f"{address.lower()}\0{key}".encode()).hexdigest()[:32]
    return f"{digest}@{domain}"


def reply_subject(subject: str | None, *, replying: bool) -> str:
    subject = (subject or "").strip()
    if not subject:
        return "Re: your message" if replying else "A message from us"
    if replying and not subject.lower().startswith(("re:", "re :", "aw:", "sv:")):
        return f"Re: {subject}"
    return subject


def build_message(
    account: EmailAccount, request: OutboundRequest, *, now: datetime
) -> EmailMessage:
    """The reply as a MIME message, ready for SMTP."""
    if request.visibility is Visibility.NOTE:
        raise SendError("internal notes are never sent by email", retryable=False)
    recipient = request.recipient
    address = (recipient.handle or recipient.native_id) if recipient is not None else ""
    if "@" not in (address or ""):
        raise SendError(f"no email address to send to (recipient {address!r})", retryable=False)
    message = EmailMessage()
    message["From"] = email.utils.formataddr((account.display_name or "", account.address))
    display = recipient.display_name if recipient is not None else None
    message["To"] = email.utils.formataddr((display or "", address))
    replying = request.reply_to_native_id is not None
    message["Subject"] = reply_subject(request.subject, replying=replying)
    message["Date"] = email.utils.format_datetime(now)
    message_id = message_id_for(
        request.idempotency_key, address=account.address, domain=account.message_id_domain
    )
    message["Message-ID"] = f"<{message_id}>"
    if request.reply_to_native_id:
        message["In-Reply-To"] = f"<{request.reply_to_native_id}>"
    # The thread's root and the answered message: enough for every client to thread the reply
    # (RFC 5322 allows trimming References as long as the first and last ids stay).
    references = [i for i in (request.thread_key, request.reply_to_native_id) if i]
    if references:
        message["References"] = " ".join(f"<{i}>" for i in dict.fromkeys(references))
    message.set_content(request.text)
    for attachment in request.attachments:
        _attach(message, attachment)
    return message


def _attach(message: EmailMessage, attachment: Attachment) -> None:
    """One file as a MIME attachment: base64, its type (else ``application/octet-stream``),
    and its name, which the ``email`` package encodes by RFC 2231 when it is not ASCII."""
    if attachment.content is None:
        raise SendError(
            f"the file {attachment.name or '(unnamed)'} has no content to send", retryable=False
        )
    maintype, _, subtype = (attachment.mime_type or "").partition("/")
    if not maintype or not subtype or maintype in {"multipart", "message"}:
        # Sent as plain bytes: a multipart or message type would be read as structure by the
        # recipient's client.
        maintype, subtype = "application", "octet-stream"
    message.add_attachment(
        attachment.content,
        maintype=maintype,
        subtype=subtype,
        filename=attachment.name or "attachment",
    )


def send_message(
    transport: SmtpTransport,
    *,
    account: EmailAccount,
    request: OutboundRequest,
    now: Callable[[], datetime],
) -> SendResult:
    sent_at = now()
    message = build_message(account, request, now=sent_at)
    try:
        transport.send(message)
    except OSError as exc:  # smtplib's and ssl's errors are OSErrors too
        raise smtp_error(exc, account.smtp, retrying=True) from exc
    message_id = str(message["Message-ID"]).strip("<>")
    return SendResult(
        native_id=message_id,
        sent_at=sent_at,
        raw={
            "message_id": message_id,
            "to": str(message["To"]),
            "subject": str(message["Subject"]),
            "in_reply_to": request.reply_to_native_id,
            "references": str(message["References"] or "") or None,
        },
    )
