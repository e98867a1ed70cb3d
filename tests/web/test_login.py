"""Logging in and out of the desk."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.common.clock import FrozenClock
from socialdesk.common.deps import SESSION_COOKIE
from tests.factories import accounts
from tests.web.conftest import Desk, csrf_from, login


def _login_form(client: TestClient, next_path: str = "/") -> str:
    page = client.get("/login", params={"next": next_path})
    assert page.status_code == 200
    return csrf_from(page.text)


def test_unauthenticated_pages_redirect_to_login_with_the_way_back(
    client: TestClient, desk: Desk
) -> None:
    for path in ("/", "/conversations/1", "/inbox/list"):
        response = client.get(path, params={"status": "all"})
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={path}?status=all"


def test_login_sets_a_safe_session_cookie_and_returns_to_next(
    client: TestClient, desk: Desk
) -> None:
    token = _login_form(client, "/?status=pending")
    response = client.post(
        "/login",
        data={
            "email": desk.agent.email.upper(),
            "password": accounts.PASSWORD,
            "csrf_token": token,
            "next": "/?status=pending",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/?status=pending"
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith(f"{SESSION_COOKIE}=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # settings.secure_cookies is off in tests
    inbox = client.get("/")
    assert inbox.status_code == 200
    assert desk.agent.name in inbox.text


def test_secure_cookies_setting_marks_the_session_cookie_secure(
    app: FastAPI, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    from socialdesk.config import get_settings

    monkeypatch.setattr(get_settings(), "secure_cookies", True)
    # Secure cookies travel over HTTPS only, as behind the TLS proxy this setting is for.
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        token = _login_form(client)
        response = client.post(
            "/login",
            data={"email": desk.agent.email, "password": accounts.PASSWORD, "csrf_token": token},
        )
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith(f"{SESSION_COOKIE}=")
    )
    assert "Secure" in cookie


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(
    client: TestClient, desk: Desk
) -> None:
    token = _login_form(client)
    response = client.post(
        "/login",
        data={"email": desk.agent.email, "password": "not the password", "csrf_token": token},
    )
    assert response.status_code == 401
    assert "wrong email or password" in response.text
    assert desk.agent.email in response.text  # the email is kept in the form
    assert not any(
        h.startswith(f"{SESSION_COOKIE}=") for h in response.headers.get_list("set-cookie")
    )
    assert client.get("/").status_code == 303


def test_unknown_email_gets_the_same_answer(client: TestClient, desk: Desk) -> None:
    token = _login_form(client)
    response = client.post(
        "/login",
        data={"email": "nobody@example.org", "password": accounts.PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 401
    assert "wrong email or password" in response.text


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/path",
        "/\\evil.example",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_next_never_leaves_the_desk(client: TestClient, desk: Desk, target: str) -> None:
    token = _login_form(client)
    response = client.post(
        "/login",
        data={
            "email": desk.agent.email,
            "password": accounts.PASSWORD,
            "csrf_token": token,
            "next": target,
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_login_without_the_form_token_is_refused(client: TestClient, desk: Desk) -> None:
    client.get("/login")  # has the nonce cookie, but the post does not carry the field
    response = client.post(
        "/login", data={"email": desk.agent.email, "password": accounts.PASSWORD}
    )
    assert response.status_code == 403
    assert "login form expired" in response.text
    assert client.get("/").status_code == 303


def test_login_with_a_token_but_no_cookie_is_refused(client: TestClient, desk: Desk) -> None:
    token = _login_form(client)
    client.cookies.clear()
    response = client.post(
        "/login",
        data={"email": desk.agent.email, "password": accounts.PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 403


def test_logged_in_member_visiting_login_goes_to_next(client: TestClient, desk: Desk) -> None:
    login(client, desk.agent)
    response = client.get("/login", params={"next": "/?status=resolved"})
    assert response.status_code == 303
    assert response.headers["location"] == "/?status=resolved"


def test_logout_ends_the_session(client: TestClient, desk: Desk) -> None:
    csrf = login(client, desk.agent)
    cookie = client.cookies.get(SESSION_COOKIE)
    assert cookie
    response = client.post("/logout", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    # The old cookie no longer works, even if a copy of it was kept.
    client.cookies.set(SESSION_COOKIE, cookie)
    assert client.get("/").status_code == 303


def test_pages_forbid_framing_but_the_chat_page_allows_it(client: TestClient, desk: Desk) -> None:
    login(client, desk.agent)
    inbox = client.get("/")
    assert inbox.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in inbox.headers["content-security-policy"]
    chat = client.get(f"/chat/{desk.web.public_key}")
    assert "x-frame-options" not in chat.headers
    assert "frame-ancestors *" in chat.headers["content-security-policy"]


def test_failed_logins_are_kept_and_lead_to_a_lockout(
    client: TestClient, desk: Desk, session: Session
) -> None:
    from socialdesk.config import get_settings

    for _ in range(get_settings().login_max_failures):
        token = _login_form(client)
        client.post(
            "/login",
            data={"email": desk.agent.email, "password": "wrong password!", "csrf_token": token},
        )
    token = _login_form(client)
    response = client.post(
        "/login",
        data={"email": desk.agent.email, "password": accounts.PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 401
    assert "locked" in response.text


def test_two_factor_login_asks_for_the_code(
    client: TestClient, desk: Desk, session: Session, clock: FrozenClock
) -> None:
    import pyotp

    from socialdesk.accounts import service as accounts_service

    member = session.merge(desk.agent)
    uri = accounts_service.begin_totp(member)
    totp = pyotp.parse_uri(uri)
    assert isinstance(totp, pyotp.TOTP)
    accounts_service.enable_totp(session, member=member, code=totp.at(clock.now()))
    session.commit()

    token = _login_form(client)
    asked = client.post(
        "/login",
        data={"email": desk.agent.email, "password": accounts.PASSWORD, "csrf_token": token},
    )
    assert asked.status_code == 401
    assert 'name="totp_code"' in asked.text
    assert "6-digit code" in asked.text
    token = csrf_from(asked.text)
    done = client.post(
        "/login",
        data={
            "email": desk.agent.email,
            "password": accounts.PASSWORD,
            "totp_code": totp.at(clock.now()),
            "csrf_token": token,
        },
    )
    assert done.status_code == 303
    assert client.get("/").status_code == 200
