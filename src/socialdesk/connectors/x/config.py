"""What an X brand account's settings and credentials must hold."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from socialdesk.connectors.base import AccountContext, AuthError

DEFAULT_API_BASE = "https://api.x.com"


@dataclass(frozen=True, slots=True)
class XAccount:
    """``credentials``: ``access_token`` (OAuth 2.0 user-context token with ``tweet.read
    tweet.write users.read`` and, for direct messages, ``dm.read dm.write``).
    ``settings``: ``user_id`` (the brand's numeric X id; looked up with /2/users/me when absent),
    ``poll_direct_messages`` (default false: direct-message lookup needs a paid access tier),
    ``api_base`` (default https://api.x.com)."""

    access_token: str
    user_id: str | None
    poll_direct_messages: bool
    api_base: str

    provider = "X"

    @classmethod
    def from_context(cls, account: AccountContext) -> XAccount:
        token = str(account.credentials.get("access_token") or "").strip()
        if not token:
            raise AuthError(f"X account {account.handle!r} has no access token; connect it")
        base = str(account.settings.get("api_base") or DEFAULT_API_BASE).rstrip("/")
        if urlsplit(base).scheme not in {"https", "http"}:
            raise AuthError(f"X account {account.handle!r}: api_base {base!r} is not a URL")
        user_id = account.settings.get("user_id")
        return cls(
            access_token=token,
            user_id=str(user_id) if user_id else None,
            poll_direct_messages=bool(account.settings.get("poll_direct_messages", False)),
            api_base=base,
        )

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}
