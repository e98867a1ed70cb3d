"""The desk's own outgoing mail (notifications, reminders), configured by SOCIALDESK_MAIL_URL."""

from __future__ import annotations

import email.utils
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from socialdesk.common import clock
from socialdesk.config import Settings
from socialdesk.connectors.email.config import ServerConfig
from socialdesk.connectors.email.send import SmtplibTransport, SmtpTransport

TIMEOUT_SECONDS = 20.0
SUBJECT_MAX = 200


def server_from_url(url: str) -> ServerConfig:
    """``smtp://user:pass@host:port`` (``?starttls=1`` to upgrade), ``smtps://`` for implicit
    TLS. A clear error names what is wrong with the URL."""
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"}:
        raise ValueError(f"SOCIALDESK_MAIL_URL must start with smtp:// or smtps://, got {url!r}")
    if not parts.hostname:
        raise ValueError("SOCIALDESK_MAIL_URL names no host")
    query = parse_qs(parts.query)
    if parts.scheme == "smtps":
        security, default_port = "ssl", 465
    elif query.get("starttls", ["0"])[0] in {"1", "true", "yes"}:
        security, default_port = "starttls", 587
    else:
        security, default_port = "none", 25
    return ServerConfig(
        host=parts.hostname,
        port=parts.port or default_port,
        security=security,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


def transport_for(settings: Settings) -> SmtpTransport:
    return SmtplibTransport(server_from_url(settings.mail_url), timeout=TIMEOUT_SECONDS)


def build(*, settings: Settings, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    # One line: a title with a line break (a request's first line, say) would make the
    # header invalid and the mail unsendable.
    message["Subject"] = _one_line(subject, SUBJECT_MAX)
    message["Date"] = email.utils.format_datetime(clock.now())
    message["Message-ID"] = email.utils.make_msgid(domain=settings.mail_from.rpartition("@")[2])
    # Automatic mail: replies and out-of-office answers should not come back (RFC 3834).
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    return message


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def send_to_staff(settings: Settings, message: EmailMessage) -> None:
    """Hand the desk's own mail (to members and team addresses, never to customers: those
    go through the send gateway) to the configured server. Raises the smtplib or socket
    error it met."""
    transport_for(settings).send(message)
