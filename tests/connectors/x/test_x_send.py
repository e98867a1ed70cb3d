"""Sending on X against recorded responses: the exact request, and what each error means."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

import socialdesk.connectors.x as x_pkg
from socialdesk.connectors.base import (
    AccountContext,
    AuthError,
    Identity,
    OutboundRequest,
    SendError,
    Visibility,
)
from socialdesk.connectors.http import RetryPolicy
from socialdesk.connectors.x import XConnector
from tests.connectors.fake_http import FakeProvider, body_of, recorded, response

RESPONSES = Path(x_pkg.__file__).parent / "fixtures" / "responses"
NOW = datetime(2022, 10, 28, 1, 0, tzinfo=UTC)
CUSTOMER = Identity("750362064426721281", "customer", None)


def account(**settings: object) -> AccountContext:
    return AccountContext(
        brand_account_id=9,
        handle="TweepyDev",
        settings={"user_id": "1072250532645998596", **settings},
        credentials={"access_token": "oauth2-user-token"},
    )


def request(**overrides: object) -> OutboundRequest:
    fields: dict[str, object] = {
        "idempotency_key": "socialdesk-5",
        "text": "Test Tweet",
        "visibility": Visibility.PUBLIC,
        "recipient": CUSTOMER,
        "reply_to_native_id": "1578516295611748353",
    }
    fields.update(overrides)
    return OutboundRequest(**fields)  # type: ignore[arg-type]  # fields checked by the dataclass


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def connector(provider: FakeProvider, sleeps: Sleeps | None = None) -> XConnector:
    return XConnector(
        transport=provider.transport,
        sleep=sleeps if sleeps is not None else Sleeps(),
        now=lambda: NOW,
        policy=RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=4.0, max_wait=60.0),
    )


def created() -> httpx.Response:
    return recorded(RESPONSES / "tweet_created.json")


def test_reply_request_is_exact() -> None:
    provider = FakeProvider().on("POST", "/2/tweets", created())
    result = connector(provider).send(account(), request())

    [sent] = provider.requests
    assert str(sent.url) == "https://api.x.com/2/tweets"
    assert body_of(sent) == {
        "text": "Test Tweet",
        "reply": {"in_reply_to_tweet_id": "1578516295611748353"},
    }
    assert sent.headers["Authorization"] == "Bearer oauth2-user-token"
    assert "Idempotency-Key" not in sent.headers, "X has no idempotency key"
    assert result.native_id == "1456012973835788293"
    # X's answer has no time; the id says when the post was created.
    assert result.sent_at == datetime(2021, 11, 3, 21, 38, 39, 32000, tzinfo=UTC)
    assert result.raw["rate_limit_remaining"] == 199


def test_post_without_reply_target() -> None:
    provider = FakeProvider().on("POST", "/2/tweets", created())
    connector(provider).send(account(), request(reply_to_native_id=None))
    assert body_of(provider.requests[0]) == {"text": "Test Tweet"}


def test_direct_message_to_a_participant() -> None:
    provider = FakeProvider().on(
        "POST",
        "/2/dm_conversations/with/750362064426721281/messages",
        recorded(RESPONSES / "dm_sent_with_participant.json"),
    )
    result = connector(provider).send(
        account(),
        request(
            text="Testing 1",
            visibility=Visibility.DIRECT,
            reply_to_native_id=None,
            thread_key="750362064426721281-1072250532645998596",
        ),
    )
    [sent] = provider.requests
    assert str(sent.url) == "https://api.x.com/2/dm_conversations/with/750362064426721281/messages"
    assert body_of(sent) == {"text": "Testing 1"}
    assert result.native_id == "1585800613253812228"
    assert result.raw["dm_conversation_id"] == "750362064426721281-1072250532645998596"


def test_group_direct_message_goes_to_the_conversation() -> None:
    provider = FakeProvider().on(
        "POST",
        "/2/dm_conversations/1585800614365339648/messages",
        recorded(RESPONSES / "dm_sent_to_conversation.json"),
    )
    connector(provider).send(
        account(),
        request(visibility=Visibility.DIRECT, thread_key="1585800614365339648"),
    )
    assert provider.requests[0].url.path == "/2/dm_conversations/1585800614365339648/messages"


def test_direct_message_without_recipient_uses_the_conversation() -> None:
    key = "750362064426721281-1072250532645998596"
    provider = FakeProvider().on(
        "POST",
        f"/2/dm_conversations/{key}/messages",
        recorded(RESPONSES / "dm_sent_to_conversation.json"),
    )
    result = connector(provider).send(
        account(), request(visibility=Visibility.DIRECT, recipient=None, thread_key=key)
    )
    assert result.native_id == "1585800613752881156"


def test_direct_message_with_nobody_to_send_to() -> None:
    provider = FakeProvider()
    with pytest.raises(SendError, match="recipient's user id") as caught:
        connector(provider).send(
            account(), request(visibility=Visibility.DIRECT, recipient=None, thread_key=None)
        )
    assert caught.value.retryable is False
    assert provider.requests == []


def test_revoked_token_is_an_auth_error() -> None:
    provider = FakeProvider().on(
        "POST",
        "/2/tweets",
        response(
            401,
            {
                "title": "Unauthorized",
                "type": "about:blank",
                "status": 401,
                "detail": "Unauthorized",
            },
        ),
    )
    with pytest.raises(AuthError, match="expired or was revoked"):
        connector(provider).send(account(), request())


def test_missing_token_is_an_auth_error() -> None:
    with pytest.raises(AuthError, match="no access token"):
        connector(FakeProvider()).send(AccountContext(9, "x", {}, {}), request())


CLIENT_NOT_ENROLLED = {
    "client_id": "123",
    "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys "
    "and tokens from a Twitter developer App that is attached to a Project.",
    "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
    "title": "Client Forbidden",
    "required_enrollment": "Appropriate Level of API Access",
    "reason": "client-not-enrolled",
    "type": "https://api.twitter.com/2/problems/client-forbidden",
}
OAUTH1_PERMISSIONS = {
    "title": "Forbidden",
    "type": "https://api.twitter.com/2/problems/oauth1-permissions",
    "detail": "Your client app is not configured with the appropriate oauth1 app permissions "
    "for this endpoint.",
    "status": 403,
}
DUPLICATE = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (CLIENT_NOT_ENROLLED, "access tier problem.*Appropriate Level of API Access"),
        (OAUTH1_PERMISSIONS, "permission problem"),
        (DUPLICATE, "duplicate"),
        (
            {
                "title": "Forbidden",
                "detail": "You are not permitted to send Direct Messages to this user",
            },
            "not permitted to send Direct Messages",
        ),
    ],
)
def test_forbidden_is_a_clear_final_refusal(body: dict[str, object], match: str) -> None:
    provider = FakeProvider().on("POST", "/2/tweets", response(403, body))
    with pytest.raises(SendError, match=match) as caught:
        connector(provider).send(account(), request())
    assert caught.value.retryable is False
    assert len(provider.requests) == 1


def test_rate_limit_waits_for_the_reset_then_sends_once() -> None:
    reset = int((NOW + timedelta(seconds=20)).timestamp())
    limited = response(
        429,
        {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank"},
        headers={
            "x-rate-limit-limit": "200",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(reset),
        },
    )
    provider = FakeProvider().on("POST", "/2/tweets", limited, created())
    sleeps = Sleeps()
    result = connector(provider, sleeps).send(account(), request())
    assert result.native_id == "1456012973835788293"
    assert len(provider.requests) == 2, "a 429 was not acted on, so repeating it is safe"
    assert sleeps[0] == pytest.approx(20.0, abs=0.6)


def test_long_rate_limit_is_retryable_with_the_reset_time() -> None:
    reset = int((NOW + timedelta(minutes=14)).timestamp())
    limited = response(
        429,
        {"title": "Too Many Requests", "detail": "Too Many Requests"},
        headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
    )
    provider = FakeProvider().on("POST", "/2/tweets", limited)
    with pytest.raises(SendError) as caught:
        connector(provider).send(account(), request())
    assert caught.value.retryable is True
    assert caught.value.retry_after_seconds == pytest.approx(14 * 60)


def test_spent_daily_user_cap_blocks_the_next_send_without_a_request() -> None:
    reset = int((NOW + timedelta(hours=5)).timestamp())
    spent = httpx.Response(
        201,
        json=recorded(RESPONSES / "tweet_created.json").json(),
        headers={
            "x-rate-limit-remaining": "150",
            "x-user-limit-24hour-limit": "17",
            "x-user-limit-24hour-remaining": "0",
            "x-user-limit-24hour-reset": str(reset),
        },
    )
    provider = FakeProvider().on("POST", "/2/tweets", spent)
    conn = connector(provider)
    conn.send(account(), request())
    with pytest.raises(SendError, match="rate limit reached") as caught:
        conn.send(account(), request(text="another"))
    assert caught.value.retryable is True
    assert caught.value.retry_after_seconds == pytest.approx(5 * 3600)
    assert len(provider.requests) == 1


def test_usage_cap_is_named() -> None:
    capped = response(
        429,
        {
            "title": "UsageCapExceeded",
            "detail": "Usage cap exceeded: Monthly product cap",
            "type": "https://api.twitter.com/2/problems/usage-capped",
        },
    )
    provider = FakeProvider().on("POST", "/2/tweets", capped)
    with pytest.raises(SendError, match="usage cap") as caught:
        connector(provider).send(account(), request())
    assert caught.value.retryable is True


@pytest.mark.parametrize(
    "failure",
    [
        response(503, {"title": "Service Unavailable"}),
        httpx.ReadTimeout("read timed out"),
    ],
    ids=["503", "read-timeout"],
)
def test_unknown_outcome_is_never_repeated(failure: httpx.Response | Exception) -> None:
    provider = FakeProvider().on("POST", "/2/tweets", failure, created())
    with pytest.raises(SendError, match="may or may not have been published") as caught:
        connector(provider).send(account(), request())
    assert caught.value.retryable is False
    assert len(provider.requests) == 1


def test_connection_refused_is_repeated() -> None:
    provider = FakeProvider().on(
        "POST", "/2/tweets", httpx.ConnectError("connection refused"), created()
    )
    result = connector(provider).send(account(), request())
    assert result.native_id == "1456012973835788293"
    assert len(provider.requests) == 2


def test_note_is_never_sent() -> None:
    provider = FakeProvider()
    with pytest.raises(SendError, match="never sent"):
        connector(provider).send(account(), request(visibility=Visibility.NOTE))
    assert provider.requests == []
