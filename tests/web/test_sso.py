"""Signing in to the desk with OpenID Connect, through the real pages and a fake provider."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from httpx2 import Response
from joserfc.jwk import RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import AuditEvent, Member
from socialdesk.common.clock import FrozenClock
from socialdesk.common.deps import SESSION_COOKIE
from socialdesk.db.session import get_sessionmaker
from tests.accounts.test_sso import ISSUER, FakeProvider, provider
from tests.web.conftest import Desk

__all__ = ["provider"]  # the fixture, shared with the service tests


def _start(client: TestClient) -> str:
    response = client.get("/login/sso")
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(f"{ISSUER}/authorize?")
    return location


def _sign_in(
    client: TestClient,
    fake: FakeProvider,
    email: str,
    *,
    key: RSAKey | None = None,
    state: str | None = None,
    clock: FrozenClock | None = None,
    wait: timedelta | None = None,
    **claims: Any,
) -> Response:
    """/login/sso, the user logs in at the provider, the provider sends the browser back."""
    code, real_state = fake.authorize(_start(client), email=email, key=key, **claims)
    if clock is not None and wait is not None:
        clock.advance(wait)
    return client.get("/login/sso/callback", params={"code": code, "state": state or real_state})


def _audit(action: str, member_id: int) -> list[AuditEvent]:
    with get_sessionmaker(write=False)() as reader:
        return list(
            reader.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == action, AuditEvent.target_id == str(member_id)
                )
            )
        )


def _refused(response: Response, text: str) -> None:
    assert response.status_code == 401, response.text
    assert "Single sign-on failed" in response.text
    assert text in response.text
    assert not any(
        h.startswith(f"{SESSION_COOKIE}=") for h in response.headers.get_list("set-cookie")
    )


def test_login_page_offers_the_provider_when_configured(
    client: TestClient, desk: Desk, provider: FakeProvider
) -> None:
    page = client.get("/login")
    assert 'href="/login/sso"' in page.text
    assert "Sign in with Example Login" in page.text


def test_login_page_hides_sso_when_not_configured(client: TestClient, desk: Desk) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert "/login/sso" not in page.text
    assert client.get("/login/sso").status_code == 404


def test_full_flow_logs_a_known_member_in(
    client: TestClient, desk: Desk, provider: FakeProvider
) -> None:
    location = _start(client)
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert {"code_challenge", "state", "nonce"} <= set(query)
    assert query["code_challenge_method"] == "S256"
    code, state = provider.authorize(location, email=desk.agent.email.upper())
    response = client.get("/login/sso/callback", params={"code": code, "state": state})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith(f"{SESSION_COOKIE}=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert provider.token_requests[0]["code_verifier"]
    inbox = client.get("/")
    assert inbox.status_code == 200
    assert desk.agent.name in inbox.text
    logins = _audit("login", desk.agent.id)
    assert [e.after for e in logins] == [{"method": "oidc"}]


def test_wrong_state_is_refused(client: TestClient, desk: Desk, provider: FakeProvider) -> None:
    response = _sign_in(client, provider, desk.agent.email, state="forged-state")
    _refused(response, "(state)")
    assert client.get("/").status_code == 303  # still not logged in


def test_callback_without_the_flow_cookie_is_refused(
    client: TestClient, desk: Desk, provider: FakeProvider
) -> None:
    code, state = provider.authorize(_start(client), email=desk.agent.email)
    client.cookies.clear()
    response = client.get("/login/sso/callback", params={"code": code, "state": state})
    _refused(response, "try again")


def test_wrong_nonce_is_refused(client: TestClient, desk: Desk, provider: FakeProvider) -> None:
    # The provider signs a token for some other sign-in (replayed): its nonce differs.
    response = _sign_in(client, provider, desk.agent.email, nonce="someone-elses")
    _refused(response, "nonce")


def test_expired_id_token_is_refused(
    client: TestClient, desk: Desk, provider: FakeProvider, clock: FrozenClock
) -> None:
    response = _sign_in(client, provider, desk.agent.email, clock=clock, wait=timedelta(minutes=8))
    _refused(response, "expired")


def test_wrong_audience_is_refused(client: TestClient, desk: Desk, provider: FakeProvider) -> None:
    response = _sign_in(client, provider, desk.agent.email, aud="another-app")
    _refused(response, "another application")


def test_bad_signature_is_refused(client: TestClient, desk: Desk, provider: FakeProvider) -> None:
    stranger = RSAKey.generate_key(2048, parameters={"kid": "main"})
    response = _sign_in(client, provider, desk.agent.email, key=stranger)
    _refused(response, "signature")


def test_unverified_email_is_refused(
    client: TestClient, desk: Desk, provider: FakeProvider
) -> None:
    response = _sign_in(client, provider, desk.agent.email, email_verified=False)
    _refused(response, "has not verified")


def test_unknown_email_is_refused_with_the_way_in(
    client: TestClient, desk: Desk, provider: FakeProvider
) -> None:
    response = _sign_in(client, provider, "stranger@example.net")
    _refused(
        response,
        "no socialdesk account for stranger@example.net; ask an admin for an invitation",
    )


def test_deactivated_member_is_refused_and_audited(
    client: TestClient, desk: Desk, provider: FakeProvider, session: Session
) -> None:
    member = session.get(Member, desk.agent.id)
    assert member is not None
    member.is_active = False
    session.commit()
    response = _sign_in(client, provider, desk.agent.email)
    _refused(response, "deactivated")
    failed = _audit("login_failed", desk.agent.id)
    assert len(failed) == 1
    assert failed[0].after is not None
    assert failed[0].after["method"] == "oidc"
    assert _audit("login", desk.agent.id) == []


def test_locked_member_is_refused(
    client: TestClient, desk: Desk, provider: FakeProvider, session: Session, clock: FrozenClock
) -> None:
    member = session.get(Member, desk.agent.id)
    assert member is not None
    member.locked_until = clock.now() + timedelta(minutes=15)
    session.commit()
    response = _sign_in(client, provider, desk.agent.email)
    _refused(response, "locked")


def test_provider_error_is_shown_not_raised(
    client: TestClient, desk: Desk, provider: FakeProvider
) -> None:
    _start(client)
    response = client.get("/login/sso/callback", params={"error": "access_denied"})
    _refused(response, "access_denied")


def test_signup_when_allowed_creates_a_viewer(
    client: TestClient, desk: Desk, provider: FakeProvider, monkeypatch: Any
) -> None:
    from socialdesk.config import get_settings

    monkeypatch.setattr(get_settings(), "oidc_allow_signup", True)
    response = _sign_in(client, provider, "newcomer@example.org")
    assert response.status_code == 303, response.text
    with get_sessionmaker(write=False)() as reader:
        member = reader.scalar(select(Member).where(Member.email == "newcomer@example.org"))
        assert member is not None
        assert member.role == "viewer"
        assert member.organization_id == desk.org.id
