"""OpenID Connect sign-in against a fake provider (no network): discovery, the token
endpoint and the JWKS are served through httpx.MockTransport."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from socialdesk.accounts import sso
from socialdesk.common import clock
from socialdesk.common.clock import FrozenClock

ISSUER = "https://login.example.com"
CLIENT_ID = "socialdesk-test"
CLIENT_SECRET = "provider-given-secret"


class FakeProvider:
    """Just enough of an OpenID provider: it hands out codes bound to a PKCE challenge and
    answers the token endpoint with an id_token signed by its RSA key."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "main", "use": "sig"})
        self._codes: dict[str, tuple[str, str]] = {}  # code -> (challenge, id_token)
        self._n = itertools.count(1)
        self.token_requests: list[dict[str, str]] = []

    def claims(self, *, email: str, nonce: str, **overrides: Any) -> dict[str, Any]:
        issued = int(clock.now().timestamp())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": f"user-{email}",
            "aud": CLIENT_ID,
            "iat": issued,
            "exp": issued + 300,
            "nonce": nonce,
            "email": email,
            "email_verified": True,
            "name": "Signed In",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(self, claims: dict[str, Any], key: RSAKey | None = None) -> str:
        return jwt.encode({"alg": "RS256", "kid": "main"}, claims, key or self.key)

    def authorize(
        self, authorize_url: str, *, email: str, key: RSAKey | None = None, **overrides: Any
    ) -> tuple[str, str]:
        """The user logs in at the provider: returns (code, state) as it redirects back."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        assert query["code_challenge_method"] == "S256"
        code = f"code-{next(self._n)}"
        claims = self.claims(email=email, nonce=query["nonce"])
        claims.update(overrides)
        token = self.sign({k: v for k, v in claims.items() if v is not None}, key)
        self._codes[code] = (query["code_challenge"], token)
        return code, query["state"]

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/authorize",
                    "token_endpoint": f"{ISSUER}/token",
                    "jwks_uri": f"{ISSUER}/jwks",
                },
            )
        if request.url.path == "/jwks":
            return httpx.Response(200, json={"keys": [self.key.as_dict(private=False)]})
        if request.url.path == "/token" and request.method == "POST":
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            self.token_requests.append(form)
            entry = self._codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "").encode()
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest())
            if (
                entry is None
                or challenge.decode().rstrip("=") != entry[0]
                or form.get("client_id") != CLIENT_ID
                or form.get("client_secret") != CLIENT_SECRET
            ):
                return httpx.Response(400, json={"error": "invalid_grant"})
            return httpx.Response(200, json={"id_token": entry[1], "token_type": "Bearer"})
        return httpx.Response(404)


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[FakeProvider]:
    """SSO configured against a fresh fake provider."""
    from socialdesk.config import get_settings

    settings = get_settings()
    monkeypatch.setattr(settings, "oidc_issuer", ISSUER)
    monkeypatch.setattr(settings, "oidc_client_id", CLIENT_ID)
    monkeypatch.setattr(settings, "oidc_client_secret", CLIENT_SECRET)
    monkeypatch.setattr(settings, "oidc_provider_name", "Example Login")
    fake = FakeProvider()
    sso.set_http_client(httpx.Client(transport=httpx.MockTransport(fake.handle)))
    yield fake
    sso.set_http_client(None)


def _config() -> sso.OidcConfig:
    config = sso.config_from_settings()
    assert config is not None
    return config


def _verify(fake: FakeProvider, token: str, nonce: str = "n-1") -> sso.Identity:
    config = _config()
    provider = sso.discover(config)
    return sso.verify_id_token(
        config=config,
        provider=provider,
        id_token=token,
        nonce=nonce,
        keys=sso.fetch_keys(provider),
    )


def test_sso_is_off_without_issuer_and_client_id(database_url: str) -> None:
    assert sso.config_from_settings() is None


def test_authorization_url_carries_pkce_state_and_nonce(
    provider: FakeProvider, clock: FrozenClock
) -> None:
    config = _config()
    auth = sso.begin(config=config, provider=sso.discover(config))
    query = {k: v[0] for k, v in parse_qs(urlsplit(auth.url).query).items()}
    assert auth.url.startswith(f"{ISSUER}/authorize?")
    assert query["scope"] == "openid email profile"
    assert query["redirect_uri"] == "http://127.0.0.1:8000/login/sso/callback"
    assert query["state"] == auth.pending.state
    assert query["nonce"] == auth.pending.nonce
    expected = base64.urlsafe_b64encode(hashlib.sha256(auth.pending.verifier.encode()).digest())
    assert query["code_challenge"] == expected.decode().rstrip("=")


def test_pending_login_cookie_is_signed_and_short_lived(
    provider: FakeProvider, clock: FrozenClock
) -> None:
    config = _config()
    pending = sso.begin(config=config, provider=sso.discover(config)).pending
    cookie = sso.pack(pending)
    assert sso.unpack(cookie) == pending
    value, _, mac = cookie.rpartition(".")
    assert sso.unpack(f"{value}x.{mac}") is None  # tampered
    clock.advance(timedelta(minutes=11))
    assert sso.unpack(cookie) is None  # too old


def test_a_valid_id_token_gives_the_verified_email(
    provider: FakeProvider, clock: FrozenClock
) -> None:
    token = provider.sign(provider.claims(email="Ana@Example.org", nonce="n-1"))
    identity = _verify(provider, token)
    assert identity.email == "ana@example.org"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"aud": "another-app"}, "another application"),
        ({"iss": "https://evil.example.com"}, "issued by"),
        ({"nonce": "other"}, "nonce"),
        ({"email_verified": False}, "not verified"),
        ({"email": None}, "did not share an email"),
        ({"exp": None}, "no valid exp"),
    ],
)
def test_id_token_claims_are_checked(
    provider: FakeProvider, clock: FrozenClock, overrides: dict[str, Any], message: str
) -> None:
    claims = provider.claims(email="ana@example.org", nonce="n-1")
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    with pytest.raises(sso.SsoFailed, match=message):
        _verify(provider, provider.sign(claims))


def test_expired_id_token_is_refused(provider: FakeProvider, clock: FrozenClock) -> None:
    token = provider.sign(provider.claims(email="ana@example.org", nonce="n-1"))
    clock.advance(timedelta(minutes=7))  # 5 minutes of life + 1 of allowed skew, and more
    with pytest.raises(sso.SsoFailed, match="expired"):
        _verify(provider, token)


def test_id_token_signed_by_another_key_is_refused(
    provider: FakeProvider, clock: FrozenClock
) -> None:
    stranger = RSAKey.generate_key(2048, parameters={"kid": "main"})
    token = provider.sign(provider.claims(email="ana@example.org", nonce="n-1"), stranger)
    with pytest.raises(sso.SsoFailed, match="signature"):
        _verify(provider, token)


def test_unsigned_id_token_is_refused(provider: FakeProvider, clock: FrozenClock) -> None:
    claims = provider.claims(email="ana@example.org", nonce="n-1")

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    token = f"{part({'alg': 'none'})}.{part(claims)}."
    with pytest.raises(sso.SsoFailed, match="signature"):
        _verify(provider, token)


def test_discovery_with_another_issuer_is_refused(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    from socialdesk.config import get_settings

    monkeypatch.setattr(get_settings(), "oidc_issuer", "https://login.example.com/tenant")
    # The MockTransport answers any path's discovery with the real issuer.
    with pytest.raises(sso.SsoFailed):
        sso.discover(_config())
