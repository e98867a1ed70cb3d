"""The pieces the account set-up page adds to the Mastodon OAuth helpers: reading what a
person typed as an instance, and asking the instance who it is."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import socialdesk.connectors.mastodon as mastodon_pkg
from socialdesk.connectors.base import AuthError, SendError
from socialdesk.connectors.http import HttpClient, RetryPolicy
from socialdesk.connectors.mastodon.oauth import (
    Instance,
    fetch_instance,
    handle_for,
    instance_url_from,
)
from tests.connectors.fake_http import FakeProvider, recorded, response

RESPONSES = Path(mastodon_pkg.__file__).parent / "fixtures" / "responses"


def client(provider: FakeProvider) -> HttpClient:
    return HttpClient(
        provider="Mastodon",
        transport=provider.transport,
        sleep=lambda _: None,
        policy=RetryPolicy(max_attempts=2),
    )


def body(name: str) -> Any:
    return json.loads((RESPONSES / f"{name}.json").read_text(encoding="utf-8"))["body"]


@pytest.mark.parametrize(
    ("typed", "url"),
    [
        ("mastodon.social", "https://mastodon.social"),
        ("  Mastodon.Social  ", "https://mastodon.social"),
        ("https://mastodon.social/", "https://mastodon.social"),
        ("@brand@mastodon.social", "https://mastodon.social"),
        ("brand@mastodon.social", "https://mastodon.social"),
        ("social.example:8443", "https://social.example:8443"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
    ],
)
def test_instance_url_from_what_people_type(typed: str, url: str) -> None:
    assert instance_url_from(typed) == url


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "enter the instance's domain"),
        ("http://mastodon.social", "use https"),
        ("mastodon.social/@brand", "has a path"),
        ("https://mastodon.social/explore?x=1", "has a path"),
        ("mastodon", "is not a domain name"),
        ("two words.example", "is not a domain name"),
        ("ftp://mastodon.social", "is not an instance's domain"),
        ("https://user:pw@mastodon.social", "is not an instance's domain"),
        ("-bad-.example", "is not a domain name"),
    ],
)
def test_instance_url_from_refuses_with_the_reason(typed: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        instance_url_from(typed)


def test_fetch_instance_reads_domain_and_limit_from_v2() -> None:
    doc = copy.deepcopy(body("instance_v2"))
    doc["configuration"]["statuses"]["max_characters"] = 5000
    provider = FakeProvider().on("GET", "/api/v2/instance", response(200, doc))
    found = fetch_instance(client(provider), instance_url="http://localhost:3000/")
    assert found == Instance("http://localhost:3000", "localhost:3000", 5000)
    [sent] = provider.requests
    assert str(sent.url) == "http://localhost:3000/api/v2/instance"
    assert "Authorization" not in sent.headers  # public: asked before any token exists


def test_fetch_instance_falls_back_to_v1() -> None:
    provider = (
        FakeProvider()
        .on("GET", "/api/v2/instance", response(404, {"error": "Not found"}))
        .on("GET", "/api/v1/instance", recorded(RESPONSES / "instance_v1.json"))
    )
    found = fetch_instance(client(provider), instance_url="http://localhost:3000")
    # v1's "uri" is the handles' domain.
    assert found == Instance("http://localhost:3000", "localhost:3000", 500)


def test_fetch_instance_handles_domain_may_differ_from_the_host() -> None:
    doc = {**body("instance_v2"), "domain": "example.com"}
    provider = FakeProvider().on("GET", "/api/v2/instance", response(200, doc))
    found = fetch_instance(client(provider), instance_url="https://masto.example.com")
    assert found.domain == "example.com"


def test_fetch_instance_unreachable() -> None:
    provider = FakeProvider()
    provider.on("GET", "/api/v2/instance", httpx.ConnectError("refused"))
    provider.on("GET", "/api/v1/instance", httpx.ConnectError("refused"))
    with pytest.raises(SendError, match="could not be reached") as raised:
        fetch_instance(client(provider), instance_url="https://social.example")
    assert raised.value.retryable


def test_fetch_instance_of_a_server_that_is_not_mastodon() -> None:
    provider = FakeProvider()
    provider.on("GET", "/api/v2/instance", httpx.Response(200, text="<html>a blog</html>"))
    provider.on("GET", "/api/v1/instance", httpx.Response(200, json=["not", "an", "instance"]))
    with pytest.raises(AuthError, match="not as a Mastodon instance"):
        fetch_instance(client(provider), instance_url="https://blog.example")


def test_handle_for() -> None:
    assert handle_for({"acct": "brand"}, domain="social.example") == "@brand@social.example"
    assert handle_for({"username": "brand"}, domain="social.example") == "@brand@social.example"
    with pytest.raises(AuthError, match="which account"):
        handle_for({}, domain="social.example")
