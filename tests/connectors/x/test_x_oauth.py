"""OAuth 2.0 with PKCE for X: the authorize link, the code exchange and token refresh."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest

from socialdesk.connectors.base import AuthError
from socialdesk.connectors.http import HttpClient
from socialdesk.connectors.x.oauth import (
    SCOPES,
    Pkce,
    authorization_url,
    exchange_code,
    new_pkce,
    refresh,
)
from tests.connectors.fake_http import FakeProvider, response

NOW = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
# The token answer as X documents it.
TOKENS = {
    "token_type": "bearer",
    "expires_in": 7200,
    "access_token": "new-access",
    "scope": "tweet.read tweet.write users.read offline.access",
    "refresh_token": "new-refresh",
}


def client(provider: FakeProvider) -> HttpClient:
    return HttpClient(provider="X", transport=provider.transport, sleep=lambda _: None)


def test_pkce_challenge_is_the_s256_of_the_verifier() -> None:
    pkce = new_pkce()
    assert 43 <= len(pkce.verifier) <= 128
    digest = hashlib.sha256(pkce.verifier.encode()).digest()
    assert pkce.challenge == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert new_pkce().verifier != pkce.verifier


def test_authorization_url() -> None:
    url = authorization_url(
        client_id="cid", redirect_uri="https://desk.example/cb", state="s1", pkce=Pkce("v", "c")
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://x.com/i/oauth2/authorize"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "response_type": "code",
        "client_id": "cid",
        "redirect_uri": "https://desk.example/cb",
        "scope": " ".join(SCOPES),
        "state": "s1",
        "code_challenge": "c",
        "code_challenge_method": "S256",
    }


def test_code_exchange_for_a_public_client() -> None:
    provider = FakeProvider().on("POST", "/2/oauth2/token", response(200, TOKENS))
    tokens = exchange_code(
        client(provider),
        code="abc",
        pkce=Pkce("verifier-1", "c"),
        client_id="cid",
        redirect_uri="https://desk.example/cb",
        now=lambda: NOW,
    )
    [sent] = provider.requests
    assert str(sent.url) == "https://api.x.com/2/oauth2/token"
    assert dict(parse_qsl(sent.content.decode())) == {
        "grant_type": "authorization_code",
        "code": "abc",
        "redirect_uri": "https://desk.example/cb",
        "code_verifier": "verifier-1",
        "client_id": "cid",
    }
    assert "Authorization" not in sent.headers
    assert tokens.access_token == "new-access"
    assert tokens.refresh_token == "new-refresh"
    assert tokens.expires_at == NOW + timedelta(hours=2)
    assert tokens.credentials() == {
        "access_token": "new-access",
        "refresh_token": "new-refresh",
        "expires_at": "2026-08-01T14:00:00+00:00",
    }


def test_refresh_for_a_confidential_client() -> None:
    provider = FakeProvider().on("POST", "/2/oauth2/token", response(200, TOKENS))
    refresh(
        client(provider),
        refresh_token="old-refresh",
        client_id="cid",
        client_secret="secret",
        now=lambda: NOW,
    )
    [sent] = provider.requests
    assert dict(parse_qsl(sent.content.decode())) == {
        "grant_type": "refresh_token",
        "refresh_token": "old-refresh",
        "client_id": "cid",
    }
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode(b"cid:secret").decode()


def test_used_refresh_token_asks_for_a_new_connection() -> None:
    refused = response(
        400,
        {
            "error": "invalid_request",
            "error_description": "Value passed for the token was invalid.",
        },
    )
    provider = FakeProvider().on("POST", "/2/oauth2/token", refused)
    with pytest.raises(AuthError, match=r"token was invalid.*connect the account again"):
        refresh(client(provider), refresh_token="used", client_id="cid", now=lambda: NOW)
