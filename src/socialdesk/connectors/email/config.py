"""What an email brand account's settings and credentials must hold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from socialdesk.connectors.base import AccountContext, AuthError

SECURITY_MODES = frozenset({"ssl", "starttls", "none"})


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str
    port: int
    security: str  # ssl (implicit TLS) | starttls | none (loopback test servers only)
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class EmailAccount:
    """``settings``:

    * ``address`` (the brand's address, From of every reply), ``display_name``;
    * ``imap_host``, ``imap_port`` (993), ``imap_security`` (ssl), ``imap_mailbox`` (INBOX);
    * ``smtp_host``, ``smtp_port`` (587), ``smtp_security`` (starttls);
    * ``timeout_seconds`` (30), ``initial_sync_days`` (7: how far back a first poll reads),
      ``batch_size`` (50 mails per poll), ``message_id_domain`` (default: the address's domain).

    ``credentials``: ``username`` and ``password`` for both servers, or ``imap_username`` /
    ``imap_password`` and ``smtp_username`` / ``smtp_password`` where they differ.
    """

    address: str
    display_name: str | None
    imap: ServerConfig | None
    smtp: ServerConfig | None
    mailbox: str
    timeout: float
    initial_sync_days: int
    batch_size: int
    message_id_domain: str

    @classmethod
    def from_context(cls, account: AccountContext) -> EmailAccount:
        settings = account.settings
        address = str(settings.get("address") or account.handle or "").strip()
        if "@" not in address:
            raise AuthError(
                f"email account {account.handle!r} has no valid address setting (got {address!r})"
            )
        return cls(
            address=address,
            display_name=str(settings.get("display_name") or "") or None,
            imap=_server(account, "imap", default_port=993, default_security="ssl"),
            smtp=_server(account, "smtp", default_port=587, default_security="starttls"),
            mailbox=str(settings.get("imap_mailbox") or "INBOX"),
            timeout=float(_number(settings, "timeout_seconds", 30)),
            initial_sync_days=int(_number(settings, "initial_sync_days", 7)),
            batch_size=max(1, int(_number(settings, "batch_size", 50))),
            message_id_domain=str(
                settings.get("message_id_domain") or address.rsplit("@", 1)[1]
            ).strip(),
        )


def _server(
    account: AccountContext, prefix: str, *, default_port: int, default_security: str
) -> ServerConfig | None:
    settings, credentials = account.settings, account.credentials
    host = str(settings.get(f"{prefix}_host") or "").strip()
    if not host:
        return None
    security = str(settings.get(f"{prefix}_security") or default_security).lower()
    if security not in SECURITY_MODES:
        raise AuthError(
            f"email account {account.handle!r}: {prefix}_security {security!r} is not one of "
            f"{sorted(SECURITY_MODES)}"
        )
    username = credentials.get(f"{prefix}_username") or credentials.get("username") or ""
    password = credentials.get(f"{prefix}_password") or credentials.get("password") or ""
    return ServerConfig(
        host=host,
        port=int(_number(settings, f"{prefix}_port", default_port)),
        security=security,
        username=str(username),
        password=str(password),
    )


def _number(settings: Any, key: str, default: float) -> float:
    value = settings.get(key)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default
