"""Sending Mastodon replies against recorded responses: the exact request and error mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

import socialdesk.connectors.mastodon as mastodon_pkg
from socialdesk.connectors.base import (
    AccountContext,
    AuthError,
    Identity,
    OutboundRequest,
    SendError,
    Visibility,
)
from socialdesk.connectors.http import RetryPolicy
from socialdesk.connectors.mastodon import MastodonConnector
from socialdesk.connectors.mastodon.send import InstanceLimits, limits_from_instance, with_mention
from tests.connectors.fake_http import FakeProvider, body_of, recorded, response

RESPONSES = Path(mastodon_pkg.__file__).parent / "fixtures" / "responses"
INSTANCE = "https://social.example"
NOW = datetime(2026, 8, 1, 13, 53, tzinfo=UTC)


def account(**settings: object) -> AccountContext:
    return AccountContext(
        brand_account_id=7,
        handle="admin",
        settings={"instance_url": INSTANCE, "account_id": "117020565693913441", **settings},
        credentials={"access_token": "token-abc"},
    )


def reply(**overrides: object) -> OutboundRequest:
    fields: dict[str, object] = {
        "idempotency_key": "socialdesk-41",
        "text": "same!",
        "visibility": Visibility.PUBLIC,
        "recipient": Identity("http://x/ap/users/1", "mastodonpy_test_2", None),
        "reply_to_native_id": "117020583245459824",
    }
    fields.update(overrides)
    return OutboundRequest(**fields)  # type: ignore[arg-type]  # fields checked by the dataclass


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def connector(provider: FakeProvider, sleeps: Sleeps | None = None) -> MastodonConnector:
    return MastodonConnector(
        transport=provider.transport,
        sleep=sleeps if sleeps is not None else Sleeps(),
        now=lambda: NOW,
        policy=RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=4.0, max_wait=30.0),
    )


def test_public_reply_request_is_exact() -> None:
    provider = FakeProvider().on(
        "POST", "/api/v1/statuses", recorded(RESPONSES / "status_reply_created.json")
    )
    result = connector(provider).send(account(), reply())

    [sent] = provider.requests
    assert sent.method == "POST"
    assert str(sent.url) == "https://social.example/api/v1/statuses"
    assert body_of(sent) == {
        "status": "@mastodonpy_test_2 same!",
        "visibility": "public",
        "in_reply_to_id": "117020583245459824",
    }
    assert sent.headers["Authorization"] == "Bearer token-abc"
    assert sent.headers["Idempotency-Key"] == "socialdesk-41"
    assert sent.headers["Content-Type"] == "application/json"
    assert result.native_id == "117020583258292382"
    assert result.sent_at == datetime(2026, 8, 1, 13, 53, 15, 910000, tzinfo=UTC)
    assert result.raw["url"] == "http://localhost:3000/@admin/117020583258292382"
    assert result.raw["rate_limit_remaining"] is not None


def test_direct_reply_stays_direct_and_mentions_the_recipient() -> None:
    provider = FakeProvider().on(
        "POST", "/api/v1/statuses", recorded(RESPONSES / "status_direct_created.json")
    )
    result = connector(provider).send(
        account(),
        reply(
            text="todo funny text here",
            visibility=Visibility.DIRECT,
            recipient=Identity("http://x/ap/users/2", "mastodonpy_test", None),
            reply_to_native_id=None,
        ),
    )
    assert body_of(provider.requests[0]) == {
        "status": "@mastodonpy_test todo funny text here",
        "visibility": "direct",
    }
    assert result.native_id == "117024234734337801"
    assert result.raw["visibility"] == "direct"


def test_reply_visibility_setting_applies_to_public_replies_only() -> None:
    provider = FakeProvider().on(
        "POST", "/api/v1/statuses", recorded(RESPONSES / "status_reply_created.json")
    )
    conn = connector(provider)
    conn.send(account(reply_visibility="unlisted"), reply())
    conn.send(account(reply_visibility="unlisted"), reply(visibility=Visibility.DIRECT))
    assert [body_of(r)["visibility"] for r in provider.requests] == ["unlisted", "direct"]


def test_direct_reply_without_handle_is_refused_before_any_request() -> None:
    provider = FakeProvider()
    with pytest.raises(SendError, match="only the accounts it mentions") as caught:
        connector(provider).send(account(), reply(visibility=Visibility.DIRECT, recipient=None))
    assert caught.value.retryable is False
    assert provider.requests == []


def test_internal_note_is_never_sent() -> None:
    provider = FakeProvider()
    with pytest.raises(SendError, match="never sent"):
        connector(provider).send(account(), reply(visibility=Visibility.NOTE))
    assert provider.requests == []


@pytest.mark.parametrize(
    ("text", "acct", "expected"),
    [
        ("thanks", "bob", "@bob thanks"),
        ("@bob thanks", "bob", "@bob thanks"),
        ("@Bob thanks", "bob", "@Bob thanks"),
        ("@alice @bob@remote.example hi", "bob@remote.example", "@alice @bob@remote.example hi"),
        ("@bobby hi", "bob", "@bob @bobby hi"),
        ("  hi", "@bob", "@bob hi"),
        ("mail bob@x.example", "bob", "@bob mail bob@x.example"),
    ],
)
def test_with_mention(text: str, acct: str, expected: str) -> None:
    assert with_mention(text, acct) == expected


def test_missing_token_is_an_auth_error() -> None:
    broken = AccountContext(7, "admin", {"instance_url": INSTANCE}, {})
    with pytest.raises(AuthError, match="no access token"):
        connector(FakeProvider()).send(broken, reply())


def test_bad_instance_url_is_an_auth_error() -> None:
    with pytest.raises(AuthError, match="instance_url"):
        connector(FakeProvider()).send(account(instance_url="social.example"), reply())


@pytest.mark.parametrize(
    ("status", "body", "error", "match"),
    [
        (401, {"error": "The access token was revoked"}, AuthError, "access token was revoked"),
        (403, {"error": "Your login is currently disabled"}, SendError, "currently disabled"),
        (404, {"error": "Record not found"}, SendError, "no longer exists"),
        (
            422,
            {"error": "Validation failed: Text character limit of 500 exceeded"},
            SendError,
            "character limit of 500",
        ),
    ],
)
def test_error_statuses_are_mapped(
    status: int, body: dict[str, str], error: type[Exception], match: str
) -> None:
    provider = FakeProvider().on("POST", "/api/v1/statuses", response(status, body))
    with pytest.raises(error, match=match) as caught:
        connector(provider).send(account(), reply())
    if isinstance(caught.value, SendError):
        assert caught.value.retryable is False
    assert len(provider.requests) == 1, "a refused request is not repeated"


def test_server_error_is_retried_with_the_same_idempotency_key() -> None:
    provider = FakeProvider().on(
        "POST",
        "/api/v1/statuses",
        response(503, {"error": "busy"}),
        httpx.ReadTimeout("read timed out"),
        recorded(RESPONSES / "status_reply_created.json"),
    )
    sleeps = Sleeps()
    result = connector(provider, sleeps).send(account(), reply())
    assert result.native_id == "117020583258292382"
    keys = [r.headers["Idempotency-Key"] for r in provider.requests]
    assert keys == ["socialdesk-41"] * 3
    assert len(sleeps) == 2
    assert all(0 <= s <= 4.0 for s in sleeps)


def test_rate_limited_send_waits_for_the_reset_header() -> None:
    reset = (NOW + timedelta(seconds=12)).isoformat().replace("+00:00", "Z")
    limited = response(
        429,
        {"error": "Too many requests"},
        headers={
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset,
        },
    )
    provider = FakeProvider().on(
        "POST", "/api/v1/statuses", limited, recorded(RESPONSES / "status_reply_created.json")
    )
    sleeps = Sleeps()
    connector(provider, sleeps).send(account(), reply())
    assert len(provider.requests) == 2
    assert sleeps[0] >= 12.0


def test_long_rate_limit_is_handed_back_as_retryable() -> None:
    reset = (NOW + timedelta(hours=2)).isoformat()
    limited = response(
        429,
        {"error": "Too many requests"},
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
    )
    provider = FakeProvider().on("POST", "/api/v1/statuses", limited)
    with pytest.raises(SendError) as caught:
        connector(provider).send(account(), reply())
    assert caught.value.retryable is True
    assert caught.value.retry_after_seconds == pytest.approx(7200)
    assert "429" in caught.value.reason


def test_instance_limits_come_from_the_recorded_instance() -> None:
    provider = FakeProvider().on(
        "GET", "/api/v2/instance", recorded(RESPONSES / "instance_v2.json")
    )
    conn = connector(provider)
    assert conn.instance_limits(account()) == InstanceLimits(500, 23)
    assert conn.capabilities_for(account()).max_length == 500
    assert len(provider.requests) == 1, "the instance's limits are cached"


def test_instance_limits_fall_back_to_v1_then_to_the_default() -> None:
    provider = FakeProvider().on(
        "GET", "/api/v1/instance", recorded(RESPONSES / "instance_v1.json")
    )
    assert connector(provider).instance_limits(account()) == InstanceLimits(500, 23)
    assert [r.url.path for r in provider.requests] == ["/api/v2/instance", "/api/v1/instance"]
    assert connector(FakeProvider()).instance_limits(account()) == InstanceLimits()


def test_larger_instance_limit_is_read() -> None:
    document = recorded(RESPONSES / "instance_v2.json").json()
    document["configuration"]["statuses"]["max_characters"] = 5000
    assert limits_from_instance(document).max_characters == 5000
    assert limits_from_instance({"max_toot_chars": 1000}).max_characters == 1000
    assert limits_from_instance({"configuration": {"statuses": {"max_characters": "x"}}}) == (
        InstanceLimits()
    )


def test_verify_credentials_maps_a_revoked_token() -> None:
    provider = FakeProvider().on(
        "GET",
        "/api/v1/accounts/verify_credentials",
        response(401, {"error": "The access token is invalid"}),
    )
    with pytest.raises(AuthError, match="access token is invalid"):
        connector(provider).verify_credentials(account())
