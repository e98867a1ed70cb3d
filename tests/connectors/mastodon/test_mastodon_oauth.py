"""Connecting a Mastodon account: app registration, the authorize link, the code exchange."""

from __future__ import annotations

from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest

from socialdesk.connectors.base import AuthError
from socialdesk.connectors.http import HttpClient
from socialdesk.connectors.mastodon.oauth import (
    SCOPES,
    App,
    authorization_url,
    exchange_code,
    register_app,
)
from tests.connectors.fake_http import FakeProvider, response

INSTANCE = "https://social.example"
CALLBACK = "https://desk.example/connect/mastodon"


def client(provider: FakeProvider) -> HttpClient:
    return HttpClient(provider="Mastodon", transport=provider.transport, sleep=lambda _: None)


def test_register_app() -> None:
    # The answer as https://docs.joinmastodon.org/methods/apps/#create documents it.
    created = {"id": "563419", "name": "socialdesk", "client_id": "cid", "client_secret": "cs"}
    provider = FakeProvider().on("POST", "/api/v1/apps", response(200, created))
    app = register_app(client(provider), instance_url=INSTANCE + "/", redirect_uri=CALLBACK)
    [sent] = provider.requests
    assert str(sent.url) == "https://social.example/api/v1/apps"
    assert dict(parse_qsl(sent.content.decode())) == {
        "client_name": "socialdesk",
        "redirect_uris": CALLBACK,
        "scopes": "read:notifications read:statuses read:accounts write:statuses write:media",
    }
    assert app == App(INSTANCE, "cid", "cs")


def test_authorization_url() -> None:
    url = authorization_url(App(INSTANCE, "cid", "cs"), redirect_uri=CALLBACK, state="s1")
    parts = urlsplit(url)
    assert url.startswith("https://social.example/oauth/authorize?")
    assert {k: v[0] for k, v in parse_qs(parts.query).items()} == {
        "response_type": "code",
        "client_id": "cid",
        "redirect_uri": CALLBACK,
        "scope": " ".join(SCOPES),
        "state": "s1",
    }


def test_exchange_code() -> None:
    token = {"access_token": "tok", "token_type": "Bearer", "scope": " ".join(SCOPES)}
    provider = FakeProvider().on("POST", "/oauth/token", response(200, token))
    assert (
        exchange_code(
            client(provider), app=App(INSTANCE, "cid", "cs"), code="abc", redirect_uri=CALLBACK
        )
        == "tok"
    )
    form = dict(parse_qsl(provider.requests[0].content.decode()))
    assert form["grant_type"] == "authorization_code"
    assert form["client_secret"] == "cs"


def test_refused_code() -> None:
    refused = response(400, {"error": "invalid_grant", "error_description": "The code expired"})
    provider = FakeProvider().on("POST", "/oauth/token", refused)
    with pytest.raises(AuthError, match="The code expired"):
        exchange_code(
            client(provider), app=App(INSTANCE, "cid", "cs"), code="old", redirect_uri=CALLBACK
        )
