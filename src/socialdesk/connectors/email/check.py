"""Checking an email account's servers without sending or reading anything: the IMAP login
and mailbox, and the SMTP login (with TLS as configured). Used when a mailbox is connected
and when an admin checks a connected one."""

from __future__ import annotations

from socialdesk.connectors.email.config import EmailAccount, ServerConfig
from socialdesk.connectors.email.poll import open_imap
from socialdesk.connectors.email.smtp import smtp_error, smtp_session


def check_imap(account: EmailAccount) -> None:
    """Log in to the IMAP server and select the mailbox; raises ConnectorError."""
    open_imap(account).close()


def check_smtp(server: ServerConfig, timeout: float) -> None:
    """Open the session a send opens (TLS as configured, the login) and end it without
    sending anything; raises ConnectorError in the words a send would use."""
    try:
        with smtp_session(server, timeout=timeout):
            pass
    except OSError as exc:  # smtplib's and ssl's errors are OSErrors too
        raise smtp_error(exc, server) from exc
