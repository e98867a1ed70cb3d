"""What a Mastodon brand account's settings and credentials must hold."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from socialdesk.connectors.base import AccountContext, AuthError

# Visibility of replies to public posts; a direct message is always answered directly.
PUBLIC_REPLY_VISIBILITIES = frozenset({"public", "unlisted", "private"})


@dataclass(frozen=True, slots=True)
class MastodonAccount:
    """``settings``: ``instance_url`` (https://mastodon.example), optional ``account_id`` (the
    brand's numeric id on its instance, looked up when absent) and ``reply_visibility``
    (public | unlisted | private; default public). ``credentials``: ``access_token``."""

    instance_url: str
    access_token: str
    account_id: str | None
    reply_visibility: str

    @property
    def host(self) -> str:
        return urlsplit(self.instance_url).netloc

    @property
    def provider(self) -> str:
        return f"Mastodon ({self.host})"

    @classmethod
    def from_context(cls, account: AccountContext) -> MastodonAccount:
        url = str(account.settings.get("instance_url") or "").strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in {"https", "http"} or not parts.netloc:
            raise AuthError(
                f"Mastodon account {account.handle!r} has no valid instance_url setting "
                f"(got {url!r}); expected something like https://mastodon.social"
            )
        token = str(account.credentials.get("access_token") or "").strip()
        if not token:
            raise AuthError(f"Mastodon account {account.handle!r} has no access token; connect it")
        visibility = str(account.settings.get("reply_visibility") or "public")
        if visibility not in PUBLIC_REPLY_VISIBILITIES:
            raise AuthError(
                f"Mastodon account {account.handle!r}: reply_visibility {visibility!r} is not "
                f"one of {sorted(PUBLIC_REPLY_VISIBILITIES)}"
            )
        account_id = account.settings.get("account_id")
        return cls(
            instance_url=url,
            access_token=token,
            account_id=str(account_id) if account_id else None,
            reply_visibility=visibility,
        )

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}
