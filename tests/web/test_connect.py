"""Connecting brand accounts through the admin pages, with the networks' side simulated by an
``httpx.MockTransport`` answering with recorded traffic: Mastodon and X OAuth (full flow,
tampered and expired state, another login session, denied consent), Bluesky app passwords,
email settings tested before saving, Facebook Pages with their webhook handshake."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

import socialdesk.connectors.bluesky as bluesky_pkg
import socialdesk.connectors.facebook as facebook_pkg
import socialdesk.connectors.mastodon as mastodon_pkg
import socialdesk.connectors.x as x_pkg
from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import AuditEvent, Role
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount, Health
from socialdesk.common.clock import FrozenClock
from socialdesk.common.crypto import decrypt_json
from socialdesk.connectors.base import AuthError, SendError
from socialdesk.connectors.email import check as email_check
from socialdesk.connectors.email.config import EmailAccount, ServerConfig
from socialdesk.db.session import get_sessionmaker
from socialdesk.web import connect as web_connect
from tests.connectors.extract_fixtures import find, load
from tests.connectors.fake_http import FakeProvider, recorded, response
from tests.factories import accounts, channels
from tests.web.conftest import Desk, login

PREFIX = "/admin/accounts/connect"
T = TypeVar("T")


def _responses(pkg: Any) -> Path:
    return Path(pkg.__file__).parent / "fixtures" / "responses"


def _body(pkg: Any, name: str) -> Any:
    doc = json.loads((_responses(pkg) / f"{name}.json").read_text(encoding="utf-8"))
    return doc["body"]


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    """Every network the pages talk to, scripted."""
    provider = FakeProvider()
    monkeypatch.setattr(web_connect, "transport", provider.transport)
    monkeypatch.setattr(web_connect, "sleep", lambda _seconds: None)
    return provider


def _accounts(kind: str) -> list[BrandAccount]:
    with get_sessionmaker(write=False)() as reader:
        found = list(
            reader.scalars(
                select(BrandAccount).where(BrandAccount.kind == kind).order_by(BrandAccount.id)
            )
        )
        for account in found:
            reader.expunge(account)
        return found


def _credentials(account: BrandAccount) -> dict[str, str]:
    assert account.credentials_encrypted is not None
    return decrypt_json(account.credentials_encrypted)


def _audit() -> list[AuditEvent]:
    with get_sessionmaker(write=False)() as reader:
        found = list(reader.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        for event in found:
            reader.expunge(event)
        return found


def _query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode()))


# -- Mastodon -----------------------------------------------------------------------------

INSTANCE = "http://localhost:3000"  # where the recorded traffic came from
APP = {"id": "563419", "name": "socialdesk", "client_id": "app-id", "client_secret": "app-secret"}
TOKEN = {"access_token": "new-token", "token_type": "Bearer", "scope": "read write"}


@pytest.fixture
def me_on_mastodon(shared_dir: Path) -> dict[str, Any]:
    """verify_credentials as the reference server answered it (the account "admin")."""
    cassette = load(shared_dir / "fixtures" / "mastodon" / "test_conversations.yaml")
    body = find(cassette, "GET", "/api/v1/accounts/verify_credentials").body
    assert isinstance(body, dict)
    return body


@pytest.fixture
def mastodon(network: FakeProvider, me_on_mastodon: dict[str, Any]) -> FakeProvider:
    instance = copy.deepcopy(_body(mastodon_pkg, "instance_v2"))
    # A bigger limit than Mastodon's default, to see it read (the recording has 500).
    instance["configuration"]["statuses"]["max_characters"] = 1000
    network.on("GET", "/api/v2/instance", response(200, instance))
    network.on("POST", "/api/v1/apps", response(200, APP))
    network.on("POST", "/oauth/token", response(200, TOKEN))
    network.on("GET", "/api/v1/accounts/verify_credentials", response(200, me_on_mastodon))
    return network


def _start_mastodon(client: TestClient, csrf: str, instance: str = INSTANCE) -> str:
    started = client.post(f"{PREFIX}/mastodon", data={"instance": instance, "csrf_token": csrf})
    assert started.status_code == 303, started.text
    return str(started.headers["location"])


def test_mastodon_page_offers_the_form(client: TestClient, desk: Desk) -> None:
    login(client, desk.owner)
    page = client.get(f"{PREFIX}/mastodon")
    assert page.status_code == 200
    assert 'name="instance"' in page.text
    assert f"{PREFIX}/mastodon/callback" in page.text


def test_mastodon_full_flow(client: TestClient, desk: Desk, mastodon: FakeProvider) -> None:
    csrf = login(client, desk.owner)
    location = _start_mastodon(client, csrf)

    # The desk registered itself on the instance and sends the admin there.
    [registration] = mastodon.sent("POST", "/api/v1/apps")
    assert str(registration.url) == f"{INSTANCE}/api/v1/apps"
    assert (
        _form(registration)["redirect_uris"] == f"http://127.0.0.1:8000{PREFIX}/mastodon/callback"
    )
    assert location.startswith(f"{INSTANCE}/oauth/authorize?")
    query = _query(location)
    assert query["client_id"] == "app-id"
    assert query["redirect_uri"] == f"http://127.0.0.1:8000{PREFIX}/mastodon/callback"
    cookie = client.cookies.get("sd_connect_mastodon")
    assert cookie
    assert "app-secret" not in cookie  # encrypted, not just signed

    # The admin approves; the instance sends the browser back with a code.
    done = client.get(
        f"{PREFIX}/mastodon/callback", params={"code": "c0de", "state": query["state"]}
    )
    assert done.status_code == 303, done.text
    [account] = _accounts("mastodon")
    assert done.headers["location"] == f"/admin/accounts/{account.id}"
    assert account.organization_id == desk.org.id
    assert account.handle == "@admin@localhost:3000"
    assert account.health == Health.OK.value
    assert account.settings["instance_url"] == INSTANCE
    assert account.settings["max_characters"] == 1000
    assert _credentials(account) == {
        "access_token": "new-token",
        "client_id": "app-id",
        "client_secret": "app-secret",
    }
    [exchange] = mastodon.sent("POST", "/oauth/token")
    assert _form(exchange)["code"] == "c0de"
    assert _form(exchange)["client_secret"] == "app-secret"
    [check] = mastodon.sent("GET", "/api/v1/accounts/verify_credentials")
    assert check.headers["Authorization"] == "Bearer new-token"
    assert not client.cookies.get("sd_connect_mastodon")  # the flow is over
    [event] = [e for e in _audit() if e.action == "brand_account_created"]
    assert event.after is not None
    assert event.after["credential_keys"] == ["access_token", "client_id", "client_secret"]
    assert "new-token" not in json.dumps(event.after)
    assert client.get(done.headers["location"]).status_code == 200


def test_mastodon_app_is_registered_once_per_instance(
    app: FastAPI, client: TestClient, desk: Desk, mastodon: FakeProvider, session: Session
) -> None:
    csrf = login(client, desk.owner)
    state = _query(_start_mastodon(client, csrf))["state"]
    client.get(f"{PREFIX}/mastodon/callback", params={"code": "c1", "state": state})

    # Reconnecting the same account, and another organization on the same instance, reuse
    # the app; the account is updated, not duplicated.
    state = _query(_start_mastodon(client, csrf))["state"]
    again = client.get(f"{PREFIX}/mastodon/callback", params={"code": "c2", "state": state})
    assert again.status_code == 303
    other_org = accounts_service.create_organization(session, name="Other", slug="other")
    other_admin = accounts.member(session, other_org, role=Role.ADMIN)
    session.commit()
    with TestClient(app, follow_redirects=False) as other:
        location = _start_mastodon(other, login(other, other_admin))
        assert _query(location)["client_id"] == "app-id"
    assert len(mastodon.sent("POST", "/api/v1/apps")) == 1
    assert len(_accounts("mastodon")) == 1
    actions = [e.action for e in _audit() if e.action != "login"]
    assert actions == ["brand_account_created", "credentials_changed"]


def test_tampered_state_is_refused(client: TestClient, desk: Desk, mastodon: FakeProvider) -> None:
    csrf = login(client, desk.owner)
    state = _query(_start_mastodon(client, csrf))["state"]
    payload, _, mac = state.partition(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["o"] = claims["o"] + 1  # another organization
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    for bad in (f"{forged}.{mac}", state[:-1] + ("0" if state[-1] != "0" else "1"), "", "x.y"):
        refused = client.get(f"{PREFIX}/mastodon/callback", params={"code": "c", "state": bad})
        assert refused.status_code == 400, bad
        assert "state does not match" in refused.text
    assert mastodon.sent("POST", "/oauth/token") == []
    assert _accounts("mastodon") == []


def test_expired_state_is_refused(
    client: TestClient, desk: Desk, mastodon: FakeProvider, clock: FrozenClock
) -> None:
    csrf = login(client, desk.owner)
    state = _query(_start_mastodon(client, csrf))["state"]
    clock.advance(timedelta(minutes=10, seconds=1))
    refused = client.get(f"{PREFIX}/mastodon/callback", params={"code": "c", "state": state})
    assert refused.status_code == 400
    assert "expired" in refused.text
    assert mastodon.sent("POST", "/oauth/token") == []
    assert _accounts("mastodon") == []


def test_state_within_its_lifetime_is_accepted(
    client: TestClient, desk: Desk, mastodon: FakeProvider, clock: FrozenClock
) -> None:
    csrf = login(client, desk.owner)
    state = _query(_start_mastodon(client, csrf))["state"]
    clock.advance(timedelta(minutes=9, seconds=59))
    done = client.get(f"{PREFIX}/mastodon/callback", params={"code": "c", "state": state})
    assert done.status_code == 303


def test_state_is_bound_to_the_login_session(
    app: FastAPI, client: TestClient, desk: Desk, mastodon: FakeProvider
) -> None:
    """A state leaked to someone else (even the same admin in another login) is refused."""
    state = _query(_start_mastodon(client, login(client, desk.owner)))["state"]
    with TestClient(app, follow_redirects=False) as elsewhere:
        login(elsewhere, desk.owner)
        refused = elsewhere.get(f"{PREFIX}/mastodon/callback", params={"code": "c", "state": state})
        assert refused.status_code == 400
        assert "another login session" in refused.text
    assert _accounts("mastodon") == []


def test_callback_without_the_flow_cookie_is_refused(
    client: TestClient, desk: Desk, mastodon: FakeProvider
) -> None:
    state = _query(_start_mastodon(client, login(client, desk.owner)))["state"]
    client.cookies.delete("sd_connect_mastodon", path=f"{PREFIX}/mastodon")
    refused = client.get(f"{PREFIX}/mastodon/callback", params={"code": "c", "state": state})
    assert refused.status_code == 400
    assert "no record of starting the connection" in refused.text


def test_callback_from_another_attempt_is_refused(
    client: TestClient, desk: Desk, mastodon: FakeProvider
) -> None:
    csrf = login(client, desk.owner)
    first = _query(_start_mastodon(client, csrf))["state"]
    _start_mastodon(client, csrf)  # a second tab: its cookie replaces the first one's
    refused = client.get(f"{PREFIX}/mastodon/callback", params={"code": "c", "state": first})
    assert refused.status_code == 400
    assert "another connection attempt" in refused.text


def test_denied_consent(client: TestClient, desk: Desk, mastodon: FakeProvider) -> None:
    state = _query(_start_mastodon(client, login(client, desk.owner)))["state"]
    # What Doorkeeper (Mastodon's OAuth server) sends when the user clicks "Deny".
    denied = client.get(
        f"{PREFIX}/mastodon/callback",
        params={
            "error": "access_denied",
            "error_description": "The resource owner or authorization server denied the request.",
            "state": state,
        },
    )
    assert denied.status_code == 400
    assert "consent was denied" in denied.text
    assert "denied the request" in denied.text
    assert mastodon.sent("POST", "/oauth/token") == []
    assert _accounts("mastodon") == []


def test_unreachable_instance_is_named(
    client: TestClient, desk: Desk, network: FakeProvider
) -> None:
    network.on("GET", "/api/v2/instance", httpx.ConnectError("connection refused"))
    network.on("GET", "/api/v1/instance", httpx.ConnectError("connection refused"))
    csrf = login(client, desk.owner)
    refused = client.post(
        f"{PREFIX}/mastodon", data={"instance": "social.example", "csrf_token": csrf}
    )
    assert refused.status_code == 422
    assert "the instance social.example is unreachable" in refused.text
    assert network.sent("POST", "/api/v1/apps") == []


def test_a_server_that_is_not_mastodon_is_named(
    client: TestClient, desk: Desk, network: FakeProvider
) -> None:
    csrf = login(client, desk.owner)  # nothing scripted: every path answers 404
    refused = client.post(
        f"{PREFIX}/mastodon", data={"instance": "blog.example", "csrf_token": csrf}
    )
    assert refused.status_code == 422
    assert "blog.example" in refused.text
    assert "404" in refused.text


def test_refused_code_is_shown(client: TestClient, desk: Desk, mastodon: FakeProvider) -> None:
    state = _query(_start_mastodon(client, login(client, desk.owner)))["state"]
    mastodon.on(
        "POST",
        "/oauth/token",
        response(400, {"error": "invalid_grant", "error_description": "The code expired"}),
    )
    # The FakeProvider answers from the end of a queue once the first reply is used.
    mastodon._queues[("POST", "/oauth/token")].popleft()
    refused = client.get(f"{PREFIX}/mastodon/callback", params={"code": "old", "state": state})
    assert refused.status_code == 400
    assert "refused the authorization code" in refused.text
    assert "The code expired" in refused.text


@pytest.mark.parametrize("typed", ["", "social.example/@brand", "http://social.example", "a b"])
def test_bad_instance_names_are_refused(
    client: TestClient, desk: Desk, network: FakeProvider, typed: str
) -> None:
    csrf = login(client, desk.owner)
    refused = client.post(f"{PREFIX}/mastodon", data={"instance": typed, "csrf_token": csrf})
    assert refused.status_code == 422
    assert 'id="connect-error"' in refused.text
    assert network.requests == []


def test_flows_need_the_channels_permission(
    client: TestClient, desk: Desk, mastodon: FakeProvider
) -> None:
    csrf = login(client, desk.agent)
    assert client.get(f"{PREFIX}/mastodon").status_code == 403
    assert (
        client.post(
            f"{PREFIX}/mastodon", data={"instance": INSTANCE, "csrf_token": csrf}
        ).status_code
        == 403
    )
    assert client.get(f"{PREFIX}/mastodon/callback", params={"code": "c"}).status_code == 403


def test_callback_needs_a_login(client: TestClient, desk: Desk, mastodon: FakeProvider) -> None:
    answer = client.get(f"{PREFIX}/mastodon/callback", params={"code": "c", "state": "s"})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")


def test_an_api_token_cannot_start_an_oauth_flow(
    client: TestClient, desk: Desk, mastodon: FakeProvider, session: Session
) -> None:
    owner = session.merge(desk.owner)
    token = accounts_service.create_api_token(session, member=owner, name="script")
    session.commit()
    refused = client.post(
        f"{PREFIX}/mastodon",
        data={"instance": INSTANCE},
        headers={"Authorization": f"Bearer {token.token}"},
    )
    assert refused.status_code == 422
    assert "in a browser" in refused.text


# -- X ------------------------------------------------------------------------------------

X_TOKENS = {
    "token_type": "bearer",
    "expires_in": 7200,
    "access_token": "x-access",
    "scope": "tweet.read tweet.write users.read dm.read dm.write offline.access",
    "refresh_token": "x-refresh",
}


@pytest.fixture
def x_network(network: FakeProvider) -> FakeProvider:
    network.on("POST", "/2/oauth2/token", response(200, X_TOKENS))
    network.on("GET", "/2/users/me", recorded(_responses(x_pkg) / "users_me.json"))
    return network


def _start_x(client: TestClient, csrf: str, **fields: str) -> str:
    started = client.post(f"{PREFIX}/x", data={**fields, "csrf_token": csrf})
    assert started.status_code == 303, started.text
    return str(started.headers["location"])


def test_x_full_flow_with_pkce(
    client: TestClient, desk: Desk, x_network: FakeProvider, clock: FrozenClock
) -> None:
    csrf = login(client, desk.owner)
    location = _start_x(client, csrf, client_id="cid", client_secret="csecret")
    assert location.startswith("https://x.com/i/oauth2/authorize?")
    query = _query(location)
    assert query["client_id"] == "cid"
    assert query["code_challenge_method"] == "S256"
    assert set(query["scope"].split()) >= {
        "tweet.read",
        "tweet.write",
        "users.read",
        "dm.read",
        "dm.write",
        "offline.access",
    }
    assert x_network.requests == []  # nothing asked of X before the admin approves

    done = client.get(f"{PREFIX}/x/callback", params={"code": "xc", "state": query["state"]})
    assert done.status_code == 303, done.text
    [exchange] = x_network.sent("POST", "/2/oauth2/token")
    form = _form(exchange)
    assert form["grant_type"] == "authorization_code"
    assert form["code"] == "xc"
    digest = hashlib.sha256(form["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).decode().rstrip("=") == query["code_challenge"]
    assert exchange.headers["Authorization"] == "Basic " + base64.b64encode(b"cid:csecret").decode()
    [check] = x_network.sent("GET", "/2/users/me")
    assert check.headers["Authorization"] == "Bearer x-access"

    [account] = _accounts("x")
    assert account.handle == "@TweepyDev"
    assert account.display_name == "Tweepy Testing"
    assert account.settings["user_id"] == "1072250532645998596"
    assert account.health == Health.OK.value
    assert account.health_reason is None
    assert _credentials(account) == {
        "access_token": "x-access",
        "refresh_token": "x-refresh",
        "expires_at": (clock.now() + timedelta(hours=2)).isoformat(),
        "client_id": "cid",
        "client_secret": "csecret",
    }


def test_x_reuses_the_organizations_app_and_updates_the_account(
    client: TestClient, desk: Desk, x_network: FakeProvider
) -> None:
    csrf = login(client, desk.owner)
    state = _query(_start_x(client, csrf, client_id="cid", client_secret="csecret"))["state"]
    client.get(f"{PREFIX}/x/callback", params={"code": "a", "state": state})
    page = client.get(f"{PREFIX}/x")
    assert 'id="stored-app"' in page.text
    assert "csecret" not in page.text
    location = _start_x(client, csrf)  # both fields left empty
    assert _query(location)["client_id"] == "cid"
    client.get(f"{PREFIX}/x/callback", params={"code": "b", "state": _query(location)["state"]})
    [account] = _accounts("x")
    assert _credentials(account)["client_secret"] == "csecret"
    second = x_network.sent("POST", "/2/oauth2/token")[1]
    assert second.headers["Authorization"] == "Basic " + base64.b64encode(b"cid:csecret").decode()


def test_x_needs_a_client_id_the_first_time(
    client: TestClient, desk: Desk, x_network: FakeProvider
) -> None:
    csrf = login(client, desk.owner)
    refused = client.post(f"{PREFIX}/x", data={"csrf_token": csrf})
    assert refused.status_code == 422
    assert "Client ID" in refused.text


def test_x_without_dm_permission_or_refresh_token_warns(
    client: TestClient, desk: Desk, network: FakeProvider
) -> None:
    network.on(
        "POST",
        "/2/oauth2/token",
        response(
            200, {**X_TOKENS, "scope": "tweet.read tweet.write users.read", "refresh_token": ""}
        ),
    )
    network.on("GET", "/2/users/me", recorded(_responses(x_pkg) / "users_me.json"))
    csrf = login(client, desk.owner)
    state = _query(_start_x(client, csrf, client_id="cid"))["state"]
    done = client.get(f"{PREFIX}/x/callback", params={"code": "a", "state": state})
    assert done.status_code == 303
    [account] = _accounts("x")
    assert account.health == Health.OK.value
    assert account.health_reason is not None
    assert "dm.read, dm.write, offline.access" in account.health_reason
    assert "no refresh token" in account.health_reason
    assert "Authorization" not in network.sent("POST", "/2/oauth2/token")[0].headers


def test_x_denied_consent(client: TestClient, desk: Desk, x_network: FakeProvider) -> None:
    csrf = login(client, desk.owner)
    state = _query(_start_x(client, csrf, client_id="cid"))["state"]
    denied = client.get(f"{PREFIX}/x/callback", params={"error": "access_denied", "state": state})
    assert denied.status_code == 400
    assert "consent was denied on X" in denied.text
    assert x_network.requests == []
    assert _accounts("x") == []


def test_x_state_cannot_finish_a_mastodon_flow(
    client: TestClient, desk: Desk, x_network: FakeProvider
) -> None:
    csrf = login(client, desk.owner)
    state = _query(_start_x(client, csrf, client_id="cid"))["state"]
    refused = client.get(f"{PREFIX}/mastodon/callback", params={"code": "a", "state": state})
    assert refused.status_code == 400
    assert "state does not match" in refused.text


def test_x_tampered_and_expired_state(
    client: TestClient, desk: Desk, x_network: FakeProvider, clock: FrozenClock
) -> None:
    csrf = login(client, desk.owner)
    state = _query(_start_x(client, csrf, client_id="cid"))["state"]
    payload, _, mac = state.partition(".")
    tampered = client.get(
        f"{PREFIX}/x/callback", params={"code": "a", "state": f"{payload}A.{mac}"}
    )
    assert tampered.status_code == 400
    assert "state does not match" in tampered.text
    # The refusal ended the attempt (its cookie is gone): start again, then wait too long.
    state = _query(_start_x(client, csrf, client_id="cid"))["state"]
    clock.advance(timedelta(minutes=11))
    expired = client.get(f"{PREFIX}/x/callback", params={"code": "a", "state": state})
    assert expired.status_code == 400
    assert "expired" in expired.text
    assert x_network.requests == []


def test_x_refused_code(client: TestClient, desk: Desk, network: FakeProvider) -> None:
    network.on(
        "POST",
        "/2/oauth2/token",
        response(
            400,
            {
                "error": "invalid_request",
                "error_description": "Value passed for the token was invalid.",
            },
        ),
    )
    csrf = login(client, desk.owner)
    state = _query(_start_x(client, csrf, client_id="cid"))["state"]
    refused = client.get(f"{PREFIX}/x/callback", params={"code": "a", "state": state})
    assert refused.status_code == 400
    assert "X refused the authorization code" in refused.text
    assert "token was invalid" in refused.text
    assert _accounts("x") == []


# -- Bluesky ------------------------------------------------------------------------------


def test_bluesky_signs_in_before_saving(
    client: TestClient, desk: Desk, network: FakeProvider
) -> None:
    created = _body(bluesky_pkg, "create_session")
    network.on(
        "POST",
        "/xrpc/com.atproto.server.createSession",
        recorded(_responses(bluesky_pkg) / "create_session.json"),
    )
    got = {k: created[k] for k in ("handle", "did", "email", "emailConfirmed", "active")}
    network.on("GET", "/xrpc/com.atproto.server.getSession", response(200, got))
    csrf = login(client, desk.owner)
    page = client.get(f"{PREFIX}/bluesky")
    assert 'value="https://bsky.social"' in page.text
    done = client.post(
        f"{PREFIX}/bluesky",
        data={
            "identifier": "@" + created["handle"],
            "app_password": "abcd-efgh-ijkl-mnop",
            "service_url": "https://pds.example",
            "csrf_token": csrf,
        },
    )
    assert done.status_code == 303, done.text
    [signin] = network.sent("POST", "/xrpc/com.atproto.server.createSession")
    assert str(signin.url) == "https://pds.example/xrpc/com.atproto.server.createSession"
    assert json.loads(signin.content) == {
        "identifier": created["handle"],
        "password": "abcd-efgh-ijkl-mnop",
    }
    [account] = _accounts("bluesky")
    assert account.handle == created["handle"]
    assert account.settings == {"service_url": "https://pds.example", "did": created["did"]}
    credentials = _credentials(account)
    assert credentials["app_password"] == "abcd-efgh-ijkl-mnop"
    assert credentials["access_jwt"] == created["accessJwt"]
    assert credentials["refresh_jwt"] == created["refreshJwt"]
    assert account.health == Health.OK.value


def test_bluesky_wrong_app_password(client: TestClient, desk: Desk, network: FakeProvider) -> None:
    network.on(
        "POST",
        "/xrpc/com.atproto.server.createSession",
        recorded(_responses(bluesky_pkg) / "create_session_refused.json"),
    )
    csrf = login(client, desk.owner)
    refused = client.post(
        f"{PREFIX}/bluesky",
        data={"identifier": "shop.bsky.social", "app_password": "wrong", "csrf_token": csrf},
    )
    assert refused.status_code == 422
    assert "Invalid identifier or password" in refused.text
    assert 'value="shop.bsky.social"' in refused.text
    assert "wrong" not in refused.text.replace("wrong with", "")
    assert _accounts("bluesky") == []


def test_bluesky_server_unreachable(client: TestClient, desk: Desk, network: FakeProvider) -> None:
    network.on("POST", "/xrpc/com.atproto.server.createSession", httpx.ConnectError("refused"))
    csrf = login(client, desk.owner)
    refused = client.post(
        f"{PREFIX}/bluesky",
        data={"identifier": "shop.bsky.social", "app_password": "pw", "csrf_token": csrf},
    )
    assert refused.status_code == 422
    assert "the Bluesky server bsky.social is unreachable" in refused.text


# -- Email --------------------------------------------------------------------------------


class MailChecks:
    def __init__(self) -> None:
        self.imap: list[EmailAccount] = []
        self.smtp: list[ServerConfig] = []
        self.imap_failure: Exception | None = None
        self.smtp_failure: Exception | None = None

    def check_imap(self, account: EmailAccount) -> None:
        self.imap.append(account)
        if self.imap_failure:
            raise self.imap_failure

    def check_smtp(self, server: ServerConfig, timeout: float) -> None:
        self.smtp.append(server)
        if self.smtp_failure:
            raise self.smtp_failure


@pytest.fixture
def mail(monkeypatch: pytest.MonkeyPatch) -> MailChecks:
    checks = MailChecks()
    monkeypatch.setattr(web_connect, "imap_check", checks.check_imap)
    monkeypatch.setattr(web_connect, "smtp_check", checks.check_smtp)
    return checks


MAILBOX = {
    "address": "Support@Shop.example",
    "display_name": "Shop Support",
    "imap_host": "imap.shop.example",
    "imap_port": "993",
    "imap_security": "ssl",
    "imap_mailbox": "INBOX",
    "smtp_host": "smtp.shop.example",
    "smtp_port": "587",
    "smtp_security": "starttls",
    "username": "",
    "password": "mail-pass",
}


def test_email_tests_both_servers_then_saves(
    client: TestClient, desk: Desk, mail: MailChecks
) -> None:
    csrf = login(client, desk.owner)
    assert 'value="993"' in client.get(f"{PREFIX}/email").text
    done = client.post(f"{PREFIX}/email", data={**MAILBOX, "csrf_token": csrf})
    assert done.status_code == 303, done.text
    [imap] = mail.imap
    assert imap.imap is not None
    assert (imap.imap.host, imap.imap.port, imap.imap.security) == ("imap.shop.example", 993, "ssl")
    assert imap.imap.username == "support@shop.example"
    [smtp] = mail.smtp
    assert (smtp.host, smtp.port, smtp.security, smtp.password) == (
        "smtp.shop.example",
        587,
        "starttls",
        "mail-pass",
    )
    [account] = _accounts("email")
    assert account.handle == "support@shop.example"
    assert account.display_name == "Shop Support"
    assert account.settings == {
        "address": "support@shop.example",
        "display_name": "Shop Support",
        "imap_host": "imap.shop.example",
        "imap_port": 993,
        "imap_security": "ssl",
        "imap_mailbox": "INBOX",
        "smtp_host": "smtp.shop.example",
        "smtp_port": 587,
        "smtp_security": "starttls",
    }
    assert _credentials(account) == {"username": "support@shop.example", "password": "mail-pass"}


def test_email_separate_smtp_login(client: TestClient, desk: Desk, mail: MailChecks) -> None:
    csrf = login(client, desk.owner)
    data = {**MAILBOX, "smtp_username": "relay-user", "smtp_password": "relay-pass"}
    assert client.post(f"{PREFIX}/email", data={**data, "csrf_token": csrf}).status_code == 303
    [smtp] = mail.smtp
    assert (smtp.username, smtp.password) == ("relay-user", "relay-pass")
    [account] = _accounts("email")
    assert _credentials(account)["smtp_username"] == "relay-user"


def test_email_imap_refusal_saves_nothing(client: TestClient, desk: Desk, mail: MailChecks) -> None:
    mail.imap_failure = AuthError(
        "IMAP server imap.shop.example:993 refused the login: [AUTHENTICATIONFAILED] bad"
    )
    csrf = login(client, desk.owner)
    refused = client.post(f"{PREFIX}/email", data={**MAILBOX, "csrf_token": csrf})
    assert refused.status_code == 422
    assert "IMAP server imap.shop.example:993 refused the login: [AUTHENTICATIONFAILED]" in (
        refused.text
    )
    assert "AUTHENTICATIONFAILED" in refused.text
    assert mail.smtp == []  # stopped at the first failure
    assert "mail-pass" not in refused.text
    assert 'value="imap.shop.example"' in refused.text
    assert _accounts("email") == []


def test_email_smtp_unreachable(client: TestClient, desk: Desk, mail: MailChecks) -> None:
    mail.smtp_failure = SendError(
        "SMTP server smtp.shop.example:587 could not be reached (ConnectionRefusedError)",
        retryable=True,
    )
    csrf = login(client, desk.owner)
    refused = client.post(f"{PREFIX}/email", data={**MAILBOX, "csrf_token": csrf})
    assert refused.status_code == 422
    assert (
        "SMTP server smtp.shop.example:587 could not be reached (ConnectionRefusedError): "
        "check the address and try again in a moment"
    ) in refused.text
    assert _accounts("email") == []


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"address": "not-an-address"}, "is not an email address"),
        ({"imap_security": "none"}, "only allowed on this machine"),
        ({"smtp_port": "99999"}, "SMTP port must be a number"),
        ({"imap_host": ""}, "enter the IMAP server"),
        ({"password": ""}, "enter the mailbox"),
    ],
)
def test_email_settings_checked_before_connecting(
    client: TestClient, desk: Desk, mail: MailChecks, change: dict[str, str], says: str
) -> None:
    csrf = login(client, desk.owner)
    refused = client.post(f"{PREFIX}/email", data={**MAILBOX, **change, "csrf_token": csrf})
    assert refused.status_code == 422
    assert says in refused.text
    assert mail.imap == []


def test_real_smtp_check_names_an_unreachable_server() -> None:
    server = ServerConfig(host="127.0.0.1", port=1, security="none", username="u", password="p")
    with pytest.raises(SendError, match=r"SMTP server 127\.0\.0\.1:1 could not be reached"):
        email_check.check_smtp(server, 2.0)


# -- Facebook -----------------------------------------------------------------------------

PAGE_ID = "101234567890123"


def test_facebook_page_token_checked_then_webhook_shown(
    client: TestClient, desk: Desk, network: FakeProvider
) -> None:
    network.on("GET", f"/v24.0/{PAGE_ID}", recorded(_responses(facebook_pkg) / "page.json"))
    csrf = login(client, desk.owner)
    done = client.post(
        f"{PREFIX}/facebook",
        data={
            "page_id": PAGE_ID,
            "page_access_token": "page-token",
            "app_secret": "app-secret",
            "csrf_token": csrf,
        },
    )
    assert done.status_code == 303, done.text
    [check] = network.sent("GET", f"/v24.0/{PAGE_ID}")
    assert check.headers["Authorization"] == "Bearer page-token"
    assert "appsecret_proof" in check.url.params
    [account] = _accounts("facebook")
    assert account.display_name == "Example Shop"
    assert account.settings == {"page_id": PAGE_ID}
    credentials = _credentials(account)
    assert credentials["page_access_token"] == "page-token"
    verify_token = credentials["verify_token"]
    assert len(verify_token) >= 24

    page = client.get(done.headers["location"].split("#")[0])
    webhook = f"http://127.0.0.1:8000/webhooks/facebook/{account.public_key}"
    assert webhook in page.text
    assert verify_token in page.text
    assert "page-token" not in page.text
    assert "app-secret" not in page.text

    # What Meta does with them: the handshake succeeds with the shown token.
    handshake = client.get(
        f"/webhooks/facebook/{account.public_key}",
        params={"hub.mode": "subscribe", "hub.verify_token": verify_token, "hub.challenge": "42"},
    )
    assert handshake.status_code == 200
    assert handshake.text == "42"


def test_facebook_expired_token_refused_and_replaced(
    client: TestClient, desk: Desk, network: FakeProvider
) -> None:
    page = recorded(_responses(facebook_pkg) / "page.json")
    expired = recorded(_responses(facebook_pkg) / "error_token_expired.json")
    network.on("GET", f"/v24.0/{PAGE_ID}", page, expired, page)
    csrf = login(client, desk.owner)
    form = {"page_id": PAGE_ID, "page_access_token": "t1", "app_secret": "s", "csrf_token": csrf}
    assert client.post(f"{PREFIX}/facebook", data=form).status_code == 303
    [account] = _accounts("facebook")
    verify_token = _credentials(account)["verify_token"]

    refused = client.post(
        f"{PREFIX}/facebook/{account.id}/token",
        data={"page_access_token": "t2-expired", "csrf_token": csrf},
    )
    assert refused.status_code == 422
    assert "Facebook refused the Page access token" in refused.text
    assert "Session has expired" in refused.text
    assert _credentials(_accounts("facebook")[0])["page_access_token"] == "t1"

    replaced = client.post(
        f"{PREFIX}/facebook/{account.id}/token",
        data={"page_access_token": "t3", "csrf_token": csrf},
    )
    assert replaced.status_code == 303
    credentials = _credentials(_accounts("facebook")[0])
    assert credentials["page_access_token"] == "t3"
    assert credentials["verify_token"] == verify_token  # what Meta's dashboard holds


def test_facebook_token_form_refuses_other_kinds_and_organizations(
    client: TestClient, desk: Desk, network: FakeProvider, session: Session
) -> None:
    csrf = login(client, desk.owner)
    not_facebook = client.post(
        f"{PREFIX}/facebook/{desk.web.id}/token",
        data={"page_access_token": "t", "csrf_token": csrf},
    )
    assert not_facebook.status_code == 422
    other = accounts.organization(session)
    theirs = channels.brand_account(session, other, kind="facebook", page_id=PAGE_ID)
    session.commit()
    foreign = client.post(
        f"{PREFIX}/facebook/{theirs.id}/token", data={"page_access_token": "t", "csrf_token": csrf}
    )
    assert foreign.status_code == 404
    assert network.requests == []


def test_every_connect_page_renders(client: TestClient, desk: Desk) -> None:
    login(client, desk.owner)
    for kind in ("mastodon", "x", "bluesky", "email", "facebook"):
        page = client.get(f"{PREFIX}/{kind}")
        assert page.status_code == 200, kind
        assert 'aria-current="page"' in page.text
        assert 'name="csrf_token"' in page.text


def test_connect_reconnects_by_handle_and_keeps_settings(session: Session, desk: Desk) -> None:
    account = channels_service.create(
        session,
        organization_id=desk.org.id,
        kind="mastodon",
        handle="@brand@social.example",
        settings={"instance_url": "https://social.example", "reply_visibility": "unlisted"},
        credentials={"access_token": "old"},
    )
    channels_service.mark_health(account, healthy=False, reason="revoked")
    again, created = channels_service.connect(
        session,
        organization_id=desk.org.id,
        kind="mastodon",
        handle="@brand@social.example",
        display_name=None,
        settings={"instance_url": "https://social.example", "max_characters": 500},
        credentials={"access_token": "new"},
    )
    assert again.id == account.id
    assert not created
    assert again.settings == {
        "instance_url": "https://social.example",
        "reply_visibility": "unlisted",
        "max_characters": 500,
    }
    assert channels_service.context_for(again).credentials == {"access_token": "new"}
    assert again.health == Health.OK.value
    assert again.health_reason is None
