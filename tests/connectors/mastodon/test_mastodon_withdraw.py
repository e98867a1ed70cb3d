"""Withdrawing a status on Mastodon against the recorded answer: the exact request, a status
already gone counts as withdrawn, and what each error means."""

from __future__ import annotations

import httpx
import pytest

from socialdesk.connectors.base import AuthError, SendError, Withdrawer
from socialdesk.connectors.mastodon import MastodonConnector
from tests.connectors.fake_http import FakeProvider, recorded, response
from tests.connectors.mastodon.test_mastodon_send import (
    INSTANCE,
    RESPONSES,
    Sleeps,
    account,
    connector,
)

STATUS = "117020585924712638"  # the status the recording posted, then deleted
PATH = f"/api/v1/statuses/{STATUS}"


def deleted() -> httpx.Response:
    return recorded(RESPONSES / "status_deleted.json")


def test_mastodon_declares_that_it_withdraws() -> None:
    assert MastodonConnector.capabilities.deletes
    assert isinstance(MastodonConnector(), Withdrawer)


def test_withdraw_request_is_exact() -> None:
    provider = FakeProvider().on("DELETE", PATH, deleted())
    connector(provider).withdraw(account(), STATUS)

    [sent] = provider.requests
    assert sent.method == "DELETE"
    assert str(sent.url) == f"{INSTANCE}{PATH}"
    assert sent.headers["Authorization"] == "Bearer token-abc"
    assert sent.content == b""


def test_a_status_already_gone_counts_as_withdrawn() -> None:
    provider = FakeProvider().on("DELETE", PATH, response(404, {"error": "Record not found"}))
    connector(provider).withdraw(account(), STATUS)  # no error
    assert len(provider.requests) == 1


def test_server_errors_are_retried_then_deleted_once() -> None:
    sleeps = Sleeps()
    provider = FakeProvider().on("DELETE", PATH, response(502), deleted())
    connector(provider, sleeps).withdraw(account(), STATUS)
    assert len(provider.requests) == 2
    assert len(sleeps) == 1


def test_server_errors_that_last_are_retryable() -> None:
    provider = FakeProvider().on("DELETE", PATH, response(503))
    with pytest.raises(SendError) as caught:
        connector(provider).withdraw(account(), STATUS)
    assert caught.value.retryable


def test_the_deletion_throttle_is_read_from_the_recording() -> None:
    """The instance throttles deletions apart from posting: the recorded answer says 30."""
    assert deleted().headers["x-ratelimit-limit"] == "30"


def test_revoked_token_is_an_auth_error() -> None:
    provider = FakeProvider().on(
        "DELETE", PATH, response(401, {"error": "The access token was revoked"})
    )
    with pytest.raises(AuthError, match="revoked"):
        connector(provider).withdraw(account(), STATUS)


def test_someone_elses_status_is_a_final_refusal() -> None:
    provider = FakeProvider().on(
        "DELETE", PATH, response(403, {"error": "This action is not allowed"})
    )
    with pytest.raises(SendError, match="only the account that wrote it") as caught:
        connector(provider).withdraw(account(), STATUS)
    assert not caught.value.retryable
