"""What a Bluesky brand account's settings and credentials must hold."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from socialdesk.connectors.base import AccountContext, AuthError

# The entryway of Bluesky's own hosting: it answers for every account hosted by Bluesky.
DEFAULT_SERVICE_URL = "https://bsky.social"

# Credentials that the connector obtains itself (with the identifier and app password a person
# entered) and hands back to the desk to keep, encrypted, between calls.
SESSION_KEYS = ("did", "handle", "access_jwt", "refresh_jwt")


@dataclass(frozen=True, slots=True)
class BlueskyAccount:
    """``settings``: ``service_url`` (the account's PDS or entryway, default
    https://bsky.social) and optional ``langs`` (BCP 47 tags written on replies, e.g. ["en"]).
    ``credentials``: ``identifier`` (handle, DID or e-mail; default: the account's handle) and
    ``app_password``; after the first login also ``did``, ``handle``, ``access_jwt`` and
    ``refresh_jwt``, the session the connector keeps fresh."""

    brand_account_id: int
    service_url: str
    identifier: str
    app_password: str | None
    did: str | None
    access_jwt: str | None
    refresh_jwt: str | None
    langs: tuple[str, ...]

    @property
    def host(self) -> str:
        return urlsplit(self.service_url).netloc

    @property
    def provider(self) -> str:
        return f"Bluesky ({self.host})"

    def xrpc(self, nsid: str) -> str:
        return f"{self.service_url}/xrpc/{nsid}"

    @classmethod
    def from_context(cls, account: AccountContext) -> BlueskyAccount:
        url = str(account.settings.get("service_url") or DEFAULT_SERVICE_URL).strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in {"https", "http"} or not parts.netloc:
            raise AuthError(
                f"Bluesky account {account.handle!r} has no valid service_url setting "
                f"(got {url!r}); expected the address of its server, e.g. https://bsky.social"
            )
        identifier = (
            str(account.credentials.get("identifier") or account.handle or "").strip().lstrip("@")
        )
        password = str(account.credentials.get("app_password") or "").strip() or None
        access = str(account.credentials.get("access_jwt") or "").strip() or None
        refresh = str(account.credentials.get("refresh_jwt") or "").strip() or None
        if password is None and refresh is None:
            raise AuthError(
                f"Bluesky account {account.handle!r} has neither an app password nor a session; "
                "create an app password (Settings > Privacy and security > App passwords) and "
                "connect the account again"
            )
        if not identifier:
            raise AuthError(f"Bluesky account {account.handle!r} has no identifier (handle)")
        langs = account.settings.get("langs") or ()
        if isinstance(langs, str):
            langs = (langs,)
        return cls(
            brand_account_id=account.brand_account_id,
            service_url=url,
            identifier=identifier,
            app_password=password,
            did=str(account.credentials.get("did") or "").strip() or None,
            access_jwt=access,
            refresh_jwt=refresh,
            langs=tuple(str(tag) for tag in langs),
        )
