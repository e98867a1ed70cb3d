"""OAuth 2.0 with PKCE for X user context: the pieces the account setup flow calls.

1. :func:`new_pkce` and :func:`authorization_url`: send the admin to X to approve the app.
2. :func:`exchange_code`: trade the code X sends back for tokens.
3. :func:`refresh`: X access tokens expire after two hours; trade the refresh token (granted with
   the ``offline.access`` scope) for new ones. X refresh tokens are single-use: store the new
   refresh token before using the new access token.

https://developer.x.com/en/docs/authentication/oauth-2-0/authorization-code
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

import httpx

from socialdesk.connectors.base import AuthError, ConnectorError, SendError
from socialdesk.connectors.http import HttpClient, error_detail

AUTHORIZE_URL = "https://x.com/i/oauth2/authorize"
TOKEN_URL = "https://api.x.com/2/oauth2/token"  # noqa: S105 - an endpoint, not a secret
# Read mentions and posts, post replies, read and send direct messages, and stay connected.
SCOPES = ("tweet.read", "tweet.write", "users.read", "dm.read", "dm.write", "offline.access")


@dataclass(frozen=True, slots=True)
class Pkce:
    verifier: str  # kept server-side with the state until X redirects back
    challenge: str


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None
    scopes: tuple[str, ...]

    def credentials(self) -> dict[str, str]:
        """The credentials mapping an X brand account stores (encrypted by the desk)."""
        out = {"access_token": self.access_token}
        if self.refresh_token:
            out["refresh_token"] = self.refresh_token
        if self.expires_at is not None:
            out["expires_at"] = self.expires_at.isoformat()
        return out


def new_pkce() -> Pkce:
    """A fresh verifier (RFC 7636: 43-128 characters) and its S256 challenge."""
    return pkce_from_verifier(secrets.token_urlsafe(64)[:96])


def pkce_from_verifier(verifier: str) -> Pkce:
    """The pair for a verifier kept since the flow started (the callback only has that)."""
    if not 43 <= len(verifier) <= 128:  # RFC 7636's bounds
        raise ValueError("a PKCE verifier has 43 to 128 characters (RFC 7636)")
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
    return Pkce(verifier=verifier, challenge=challenge)


def missing_scopes(granted: tuple[str, ...], wanted: tuple[str, ...] = SCOPES) -> list[str]:
    """The scopes asked for that X did not grant (an app without DM permission drops the
    ``dm.*`` ones). An empty answer from X names nothing, so nothing is reported missing."""
    if not granted:
        return []
    return [scope for scope in wanted if scope not in granted]


def authorization_url(
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    pkce: Pkce,
    scopes: tuple[str, ...] = SCOPES,
) -> str:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(scopes),
            "state": state,
            "code_challenge": pkce.challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{AUTHORIZE_URL}?{query}"


def exchange_code(
    client: HttpClient,
    *,
    code: str,
    pkce: Pkce,
    client_id: str,
    redirect_uri: str,
    client_secret: str | None = None,
    now: Callable[[], datetime],
    token_url: str = TOKEN_URL,
) -> TokenSet:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": pkce.verifier,
        "client_id": client_id,
    }
    return _token_request(
        client, form, client_id=client_id, client_secret=client_secret, now=now, token_url=token_url
    )


def refresh(
    client: HttpClient,
    *,
    refresh_token: str,
    client_id: str,
    client_secret: str | None = None,
    now: Callable[[], datetime],
    token_url: str = TOKEN_URL,
) -> TokenSet:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    return _token_request(
        client, form, client_id=client_id, client_secret=client_secret, now=now, token_url=token_url
    )


def _token_request(
    client: HttpClient,
    form: dict[str, str],
    *,
    client_id: str,
    client_secret: str | None,
    now: Callable[[], datetime],
    token_url: str,
) -> TokenSet:
    headers = {}
    if client_secret:
        # Confidential clients (web apps) authenticate with HTTP Basic; public ones send only
        # their client_id (already in the form).
        pair = f"{client_id}:{client_secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    response = client.request(
        "POST",
        token_url,
        idempotent=False,
        headers=headers,
        data=form,
        error_mapper=_token_error,
    )
    body = response.json()
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise AuthError("X's token endpoint answered without an access token")
    expires_in = body.get("expires_in")
    return TokenSet(
        access_token=token,
        refresh_token=body.get("refresh_token") or None,
        expires_at=now() + timedelta(seconds=int(expires_in)) if expires_in else None,
        scopes=tuple(str(body.get("scope") or "").split()),
    )


def _token_error(response: httpx.Response) -> ConnectorError | None:
    if response.status_code in {400, 401, 403}:
        # invalid_grant: the code expired or the refresh token was used or revoked.
        return AuthError(
            f"X refused the token request ({error_detail(response) or response.status_code}); "
            "connect the account again"
        )
    if response.status_code == 429:
        return SendError("X rate-limited the token request", retryable=True)
    return None
