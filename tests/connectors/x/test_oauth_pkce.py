"""PKCE from a kept verifier, the scopes X granted, and a token endpoint set per account."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socialdesk.connectors.http import HttpClient
from socialdesk.connectors.x.oauth import (
    SCOPES,
    exchange_code,
    missing_scopes,
    new_pkce,
    pkce_from_verifier,
    refresh,
)
from tests.connectors.fake_http import FakeProvider, response

NOW = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
TOKENS = {"token_type": "bearer", "expires_in": 7200, "access_token": "a", "refresh_token": "r"}
UNRESERVED = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~",
    min_size=43,
    max_size=128,
)


@given(UNRESERVED)
def test_pkce_from_verifier_is_the_s256_challenge(verifier: str) -> None:
    pkce = pkce_from_verifier(verifier)
    digest = hashlib.sha256(verifier.encode()).digest()
    assert pkce.verifier == verifier
    assert pkce.challenge == base64.urlsafe_b64encode(digest).decode().rstrip("=")


def test_pkce_from_verifier_matches_new_pkce() -> None:
    fresh = new_pkce()
    assert pkce_from_verifier(fresh.verifier) == fresh


@pytest.mark.parametrize("verifier", ["", "x" * 42, "x" * 129])
def test_pkce_verifier_length_is_checked(verifier: str) -> None:
    with pytest.raises(ValueError, match="43 to 128"):
        pkce_from_verifier(verifier)


def test_missing_scopes() -> None:
    assert missing_scopes(SCOPES) == []
    assert missing_scopes(("tweet.read", "tweet.write", "users.read")) == [
        "dm.read",
        "dm.write",
        "offline.access",
    ]
    assert missing_scopes(()) == []  # X named nothing: nothing to report


def test_token_endpoint_can_be_another_base() -> None:
    provider = FakeProvider().on("POST", "/2/oauth2/token", response(200, TOKENS))
    client = HttpClient(provider="X", transport=provider.transport, sleep=lambda _: None)
    exchange_code(
        client,
        code="c",
        pkce=new_pkce(),
        client_id="cid",
        redirect_uri="https://desk.example/cb",
        now=lambda: NOW,
        token_url="http://127.0.0.1:9999/2/oauth2/token",
    )
    refresh(
        client,
        refresh_token="r",
        client_id="cid",
        now=lambda: NOW,
        token_url="http://127.0.0.1:9999/2/oauth2/token",
    )
    assert [str(r.url) for r in provider.requests] == [
        "http://127.0.0.1:9999/2/oauth2/token",
        "http://127.0.0.1:9999/2/oauth2/token",
    ]
