"""What a Facebook Page brand account's settings and credentials must hold."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import urlsplit

from socialdesk.connectors.base import AccountContext, AuthError

DEFAULT_GRAPH_URL = "https://graph.facebook.com"
# Each Graph API version is supported for at least two years; the setting moves it on.
DEFAULT_GRAPH_VERSION = "v24.0"


@dataclass(frozen=True, slots=True)
class FacebookAccount:
    """``settings``: ``page_id`` (the Page's numeric id), optional ``graph_version`` (default
    v24.0), ``human_agent_tag`` (true when the app was approved for Messenger's human agent
    tag: a reply later than 24 hours, up to 7 days, is then sent with it).
    ``credentials``: ``page_access_token`` (a Page token), ``app_secret`` (signs webhook
    deliveries and, as ``appsecret_proof``, every Graph call) and ``verify_token`` (the
    string entered when subscribing the webhook)."""

    page_id: str
    page_access_token: str
    app_secret: str | None
    graph_url: str
    graph_version: str
    human_agent_tag: bool

    provider = "Facebook"

    def url(self, path: str) -> str:
        return f"{self.graph_url}/{self.graph_version}/{path.lstrip('/')}"

    def headers(self) -> dict[str, str]:
        # In a header rather than the query string, so the token never sits in a URL.
        return {"Authorization": f"Bearer {self.page_access_token}"}

    def proof_params(self) -> dict[str, str]:
        """``appsecret_proof`` when the app secret is known (required when the app enables
        "Require App Secret"): HMAC-SHA256 of the token keyed with the secret.
        https://developers.facebook.com/docs/graph-api/securing-requests"""
        if not self.app_secret:
            return {}
        proof = hmac.new(
            self.app_secret.encode("utf-8"),
            self.page_access_token.encode("utf-8"),
            hashlib.sha256,
        ).hexdigest()
        return {"appsecret_proof": proof}

    @classmethod
    def from_context(cls, account: AccountContext) -> FacebookAccount:
        page_id = str(account.settings.get("page_id") or "").strip()
        if not page_id.isdigit():
            raise AuthError(
                f"Facebook account {account.handle!r} has no valid page_id setting (got "
                f"{page_id!r}); it is the number in the Page's About > Page transparency"
            )
        token = str(account.credentials.get("page_access_token") or "").strip()
        if not token:
            raise AuthError(
                f"Facebook account {account.handle!r} has no Page access token; connect it"
            )
        graph_url = str(account.settings.get("graph_url") or DEFAULT_GRAPH_URL).rstrip("/")
        if urlsplit(graph_url).scheme not in {"https", "http"}:
            raise AuthError(f"Facebook account {account.handle!r}: graph_url is not a URL")
        version = str(account.settings.get("graph_version") or DEFAULT_GRAPH_VERSION)
        if not version.startswith("v"):
            version = f"v{version}"
        return cls(
            page_id=page_id,
            page_access_token=token,
            app_secret=str(account.credentials.get("app_secret") or "").strip() or None,
            graph_url=graph_url,
            graph_version=version,
            human_agent_tag=bool(account.settings.get("human_agent_tag", False)),
        )
