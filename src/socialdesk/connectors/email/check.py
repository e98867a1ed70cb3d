"""Checking an email account's servers without sending or reading anything: the IMAP login
and mailbox, and the SMTP login (with TLS as configured). Used when a mailbox is connected
and when an admin checks a connected one."""

from __future__ import annotations

import smtplib
import ssl

from socialdesk.connectors.base import AuthError, SendError
from socialdesk.connectors.email.config import EmailAccount, ServerConfig
from socialdesk.connectors.email.poll import open_imap


def check_imap(account: EmailAccount) -> None:
    """Log in to the IMAP server and select the mailbox; raises ConnectorError."""
    open_imap(account).close()


def check_smtp(server: ServerConfig, timeout: float) -> None:
    """Connect to the SMTP server, secure the connection as configured and log in, without
    sending anything; raises ConnectorError naming what failed."""
    where = f"{server.host}:{server.port}"
    context = ssl.create_default_context()
    client = _smtp_open(server, timeout, context)
    try:
        client.ehlo()
        if server.security == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if server.username:
            client.login(server.username, server.password)
    except smtplib.SMTPAuthenticationError as exc:
        raise AuthError(f"SMTP server {where} refused the login: {_smtp_text(exc)}") from exc
    except ssl.SSLError as exc:
        raise AuthError(f"TLS with SMTP server {where} failed ({exc})") from exc
    except smtplib.SMTPException as exc:  # no STARTTLS, no AUTH, or another refusal
        raise AuthError(f"SMTP server {where} refused: {_smtp_text(exc)}") from exc
    except OSError as exc:
        raise SendError(
            f"SMTP server {where} dropped the connection ({type(exc).__name__}: {exc})",
            retryable=True,
        ) from exc
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def _smtp_open(server: ServerConfig, timeout: float, context: ssl.SSLContext) -> smtplib.SMTP:
    where = f"{server.host}:{server.port}"
    try:
        if server.security == "ssl":
            return smtplib.SMTP_SSL(server.host, server.port, timeout=timeout, context=context)
        return smtplib.SMTP(server.host, server.port, timeout=timeout)
    except ssl.SSLError as exc:
        raise AuthError(f"TLS with SMTP server {where} failed ({exc})") from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise SendError(
            f"SMTP server {where} could not be reached ({type(exc).__name__}: {exc})",
            retryable=True,
        ) from exc


def _smtp_text(exc: smtplib.SMTPException) -> str:
    code = getattr(exc, "smtp_code", None)
    error = getattr(exc, "smtp_error", b"")
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
    return f"{code} {text}".strip() if code else str(exc)
