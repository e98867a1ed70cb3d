"""Replies to comments and Messenger messages: exact Graph API requests and error mapping.
The answers are Meta's documented examples (fixtures/responses), not recordings."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

import socialdesk.connectors.facebook as facebook_pkg
from socialdesk.connectors.base import (
    AccountContext,
    AuthError,
    Identity,
    OutboundRequest,
    SendError,
    Visibility,
)
from socialdesk.connectors.facebook import FacebookConnector
from socialdesk.connectors.facebook.send import WindowClosed
from socialdesk.connectors.http import RetryPolicy
from tests.connectors.fake_http import FakeProvider, body_of, recorded

RESPONSES = Path(facebook_pkg.__file__).parent / "fixtures" / "responses"
PAGE = "101234567890123"
TOKEN = "EAAGm0PX4ZCpsBAPageTokenForTests"
SECRET = "0123456789abcdef0123456789abcdef"
TOP_COMMENT = "122098765432101_1003456789012345"
REPLY_COMMENT = "122098765432101_1003456789012399"
PSID = "2468013579246801"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
COMMENTS = f"/v24.0/{TOP_COMMENT}/comments"
MESSAGES = "/v24.0/me/messages"


def answer(name: str) -> httpx.Response:
    return recorded(RESPONSES / f"{name}.json")


def context(**settings: Any) -> AccountContext:
    return AccountContext(
        brand_account_id=3,
        handle="Example Shop",
        settings={"page_id": PAGE, **settings},
        credentials={"page_access_token": TOKEN, "app_secret": SECRET, "verify_token": "v"},
    )


def connector(provider: FakeProvider) -> FacebookConnector:
    return FacebookConnector(
        transport=provider.transport,
        policy=RetryPolicy(max_attempts=2, base_delay=0.0),
        sleep=lambda _s: None,
        now=lambda: NOW,
    )


def comment_reply(**changes: Any) -> OutboundRequest:
    values: dict[str, Any] = {
        "idempotency_key": "socialdesk-5",
        "text": "Sorry about that! We have sent you a message.",
        "visibility": Visibility.PUBLIC,
        "recipient": Identity(native_id="6543210987654321"),
        "reply_to_native_id": REPLY_COMMENT,
        "thread_key": f"comment:{TOP_COMMENT}",
    }
    values.update(changes)
    return OutboundRequest(**values)


def messenger_reply(**changes: Any) -> OutboundRequest:
    values: dict[str, Any] = {
        "idempotency_key": "socialdesk-6",
        "text": "Your refund was sent today.",
        "visibility": Visibility.DIRECT,
        "recipient": Identity(native_id=PSID),
        "reply_to_native_id": "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM",
        "thread_key": f"psid:{PSID}",
    }
    values.update(changes)
    return OutboundRequest(**values)


def proof() -> str:
    return hmac.new(SECRET.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()


def test_a_comment_reply_goes_under_the_threads_top_level_comment() -> None:
    provider = FakeProvider().on("POST", COMMENTS, answer("comment_created"))
    result = connector(provider).send(context(), comment_reply())
    [request] = provider.requests
    assert request.url.path == COMMENTS
    assert request.url.host == "graph.facebook.com"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert dict(request.url.params) == {"appsecret_proof": proof()}
    assert TOKEN not in str(request.url)
    assert body_of(request) == {"message": "Sorry about that! We have sent you a message."}
    assert result.native_id == "122098765432101_1003456789012500"
    assert result.sent_at == NOW
    assert result.raw == {"comment_on": TOP_COMMENT, "kind": "comment"}


def test_a_visitor_post_is_answered_with_a_comment_on_it() -> None:
    post = f"{PAGE}_122098765432199"
    provider = FakeProvider().on("POST", f"/v24.0/{post}/comments", answer("comment_created"))
    connector(provider).send(context(), comment_reply(thread_key=f"post:{post}"))
    assert len(provider.requests) == 1


def test_without_a_thread_key_the_reply_answers_the_comment_itself() -> None:
    path = f"/v24.0/{REPLY_COMMENT}/comments"
    provider = FakeProvider().on("POST", path, answer("comment_created"))
    connector(provider).send(context(), comment_reply(thread_key=None))
    assert provider.requests[0].url.path == path


def test_a_messenger_reply_is_a_response_to_the_persons_psid() -> None:
    provider = FakeProvider().on("POST", MESSAGES, answer("message_sent"))
    result = connector(provider).send(context(), messenger_reply())
    [request] = provider.requests
    assert body_of(request) == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "Your refund was sent today."},
    }
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert dict(request.url.params) == {"appsecret_proof": proof()}
    assert result.native_id.startswith("m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM")
    assert result.raw["recipient_id"] == PSID
    assert result.raw["messaging_type"] == "RESPONSE"


def test_a_custom_graph_version_is_used() -> None:
    provider = FakeProvider().on("POST", "/v22.0/me/messages", answer("message_sent"))
    connector(provider).send(context(graph_version="22.0"), messenger_reply())
    assert provider.requests[0].url.path == "/v22.0/me/messages"


def test_outside_the_24_hour_window_the_send_fails_for_good_and_says_why() -> None:
    provider = FakeProvider().on("POST", MESSAGES, answer("error_window_closed"))
    with pytest.raises(WindowClosed, match="messaging window is closed") as caught:
        connector(provider).send(context(), messenger_reply())
    assert not caught.value.retryable
    assert "24 hours" in caught.value.reason
    assert len(provider.requests) == 1


def test_with_the_human_agent_tag_a_late_reply_is_sent_with_it() -> None:
    provider = FakeProvider().on(
        "POST", MESSAGES, answer("error_window_closed"), answer("message_sent")
    )
    result = connector(provider).send(context(human_agent_tag=True), messenger_reply())
    first, second = provider.requests
    assert body_of(first)["messaging_type"] == "RESPONSE"
    assert body_of(second) == {
        "recipient": {"id": PSID},
        "messaging_type": "MESSAGE_TAG",
        "tag": "HUMAN_AGENT",
        "message": {"text": "Your refund was sent today."},
    }
    assert result.raw["messaging_type"] == "MESSAGE_TAG"


def test_a_tag_window_that_has_passed_too_is_reported() -> None:
    provider = FakeProvider().on("POST", MESSAGES, answer("error_window_closed"))
    with pytest.raises(WindowClosed, match="7 days have passed too"):
        connector(provider).send(context(human_agent_tag=True), messenger_reply())
    assert len(provider.requests) == 2


def test_an_expired_page_token_is_an_auth_error() -> None:
    provider = FakeProvider().on("POST", COMMENTS, answer("error_token_expired"))
    with pytest.raises(AuthError, match="the Page token expired") as caught:
        connector(provider).send(context(), comment_reply())
    assert "connect the Page again" in caught.value.reason


def test_rate_limits_are_retried_later_after_facebooks_estimate() -> None:
    provider = FakeProvider().on("POST", COMMENTS, answer("error_rate_limited"))
    with pytest.raises(SendError) as caught:
        connector(provider).send(context(), comment_reply())
    assert caught.value.retryable
    assert caught.value.retry_after_seconds == 7 * 60
    assert len(provider.requests) == 1


@pytest.mark.parametrize("code", [4, 17, 32, 613])
def test_every_rate_limit_code_is_retryable(code: int) -> None:
    error = httpx.Response(400, json={"error": {"message": "limit", "code": code}})
    provider = FakeProvider().on("POST", MESSAGES, error)
    with pytest.raises(SendError) as caught:
        connector(provider).send(context(), messenger_reply())
    assert caught.value.retryable


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("error_permission", "permission missing"),
        ("error_person_unavailable", "cannot be reached on Messenger"),
        ("error_object_missing", "may have been deleted"),
    ],
)
def test_refusals_are_final_and_explained(name: str, reason: str) -> None:
    provider = FakeProvider().on("POST", COMMENTS, answer(name))
    with pytest.raises(SendError, match=reason) as caught:
        connector(provider).send(context(), comment_reply())
    assert not caught.value.retryable


def test_code_10_without_the_window_subcode_is_a_permission_problem() -> None:
    error = httpx.Response(403, json={"error": {"message": "(#10) not allowed", "code": 10}})
    provider = FakeProvider().on("POST", MESSAGES, error)
    with pytest.raises(SendError, match="permission missing") as caught:
        connector(provider).send(context(), messenger_reply())
    assert not isinstance(caught.value, WindowClosed)


def test_an_unknown_outcome_is_not_repeated() -> None:
    provider = FakeProvider().on("POST", COMMENTS, httpx.Response(500, text="oops"))
    with pytest.raises(SendError, match="may or may not have been published") as caught:
        connector(provider).send(context(), comment_reply())
    assert not caught.value.retryable
    assert len(provider.requests) == 1


def test_long_messenger_replies_and_notes_are_refused_before_sending() -> None:
    provider = FakeProvider()
    with pytest.raises(SendError, match="at most 2000 characters"):
        connector(provider).send(context(), messenger_reply(text="x" * 2001))
    with pytest.raises(SendError, match="notes are never sent"):
        connector(provider).send(context(), comment_reply(visibility=Visibility.NOTE))
    with pytest.raises(SendError, match="needs the comment or post"):
        connector(provider).send(context(), comment_reply(thread_key=None, reply_to_native_id=None))
    with pytest.raises(SendError, match="Page-scoped id"):
        connector(provider).send(context(), messenger_reply(thread_key=None, recipient=None))
    assert provider.requests == []


def test_settings_and_credentials_are_checked() -> None:
    provider = FakeProvider()
    bad_page = AccountContext(
        brand_account_id=3, handle="Shop", settings={"page_id": "shop"}, credentials={}
    )
    with pytest.raises(AuthError, match="page_id"):
        connector(provider).send(bad_page, comment_reply())
    no_token = AccountContext(
        brand_account_id=3, handle="Shop", settings={"page_id": PAGE}, credentials={}
    )
    with pytest.raises(AuthError, match="no Page access token"):
        connector(provider).send(no_token, comment_reply())


def test_the_page_token_check_names_the_page() -> None:
    provider = FakeProvider().on("GET", f"/v24.0/{PAGE}", answer("page"))
    page = connector(provider).verify_credentials(context())
    assert (page.native_id, page.display_name) == (PAGE, "Example Shop")
    assert provider.requests[0].url.params["fields"] == "id,name"
