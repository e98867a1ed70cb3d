"""Withdrawing a post on X against the recorded answer: the exact request, a post already gone
counts as withdrawn, and what each error means."""

from __future__ import annotations

import httpx
import pytest

from socialdesk.connectors.base import AuthError, SendError, Withdrawer
from socialdesk.connectors.x import XConnector
from tests.connectors.fake_http import FakeProvider, recorded, response
from tests.connectors.x.test_x_send import RESPONSES, Sleeps, account, connector

POST = "1456012973835788293"  # the post the recording created, then deleted
PATH = f"/2/tweets/{POST}"


def deleted() -> httpx.Response:
    return recorded(RESPONSES / "tweet_deleted.json")


def test_x_declares_that_it_withdraws() -> None:
    assert XConnector.capabilities.deletes
    assert isinstance(XConnector(), Withdrawer)


def test_withdraw_request_is_exact() -> None:
    provider = FakeProvider().on("DELETE", PATH, deleted())
    connector(provider).withdraw(account(), POST)

    [sent] = provider.requests
    assert sent.method == "DELETE"
    assert str(sent.url) == f"https://api.x.com{PATH}"
    assert sent.headers["Authorization"] == "Bearer oauth2-user-token"
    assert sent.content == b""


def test_a_post_already_gone_counts_as_withdrawn() -> None:
    gone = response(
        404,
        {
            "title": "Not Found Error",
            "detail": f"Could not find tweet with id: [{POST}].",
            "type": "https://api.twitter.com/2/problems/resource-not-found",
        },
    )
    provider = FakeProvider().on("DELETE", PATH, gone)
    connector(provider).withdraw(account(), POST)  # no error
    assert len(provider.requests) == 1


def test_server_errors_are_retried_then_deleted_once() -> None:
    sleeps = Sleeps()
    provider = FakeProvider().on("DELETE", PATH, response(503), response(500), deleted())
    connector(provider, sleeps).withdraw(account(), POST)
    assert len(provider.requests) == 3  # deleting twice is harmless, so it is repeated
    assert len(sleeps) == 2


def test_server_errors_that_last_are_retryable() -> None:
    provider = FakeProvider().on("DELETE", PATH, response(503))
    with pytest.raises(SendError) as caught:
        connector(provider).withdraw(account(), POST)
    assert caught.value.retryable
    assert "503" in caught.value.reason


def test_revoked_token_is_an_auth_error() -> None:
    provider = FakeProvider().on(
        "DELETE", PATH, response(401, {"title": "Unauthorized", "detail": "Unauthorized"})
    )
    with pytest.raises(AuthError, match="access token"):
        connector(provider).withdraw(account(), POST)


def test_someone_elses_post_is_a_final_refusal() -> None:
    forbidden = response(
        403,
        {
            "title": "Forbidden",
            "detail": "You are not allowed to delete this Tweet.",
            "type": "about:blank",
        },
    )
    provider = FakeProvider().on("DELETE", PATH, forbidden)
    with pytest.raises(SendError, match="not allowed to delete") as caught:
        connector(provider).withdraw(account(), POST)
    assert not caught.value.retryable


def test_an_answer_that_did_not_delete_says_so() -> None:
    provider = FakeProvider().on("DELETE", PATH, response(200, {"data": {"deleted": False}}))
    with pytest.raises(SendError, match="was not deleted") as caught:
        connector(provider).withdraw(account(), POST)
    assert not caught.value.retryable


def test_an_id_that_is_no_post_id_is_refused_without_a_request() -> None:
    provider = FakeProvider()
    with pytest.raises(SendError, match="not the id of a post"):
        connector(provider).withdraw(account(), "1585800613253812228/../x")
    assert provider.requests == []
