"""Withdrawing a post on Bluesky: ``com.atproto.repo.deleteRecord`` with the account's session,
on the recorded session and reply. No deletion was recorded from the reference servers, so
its answer is written here as the lexicon describes it (``{"commit": {cid, rev}}``)."""

from __future__ import annotations

import httpx
import pytest

from socialdesk.connectors.base import AuthError, SendError, Withdrawer
from socialdesk.connectors.bluesky import BlueskyConnector
from tests.connectors.bluesky.support import (
    BRAND_DID,
    SESSION,
    body,
    connector,
    context,
    response,
    stored_session,
    xrpc,
)
from tests.connectors.fake_http import FakeProvider, body_of

REPLY = body("create_record_reply")  # the brand's reply as createRecord answered it
URI = str(REPLY["uri"])
RKEY = URI.rsplit("/", 1)[-1]
DELETE = xrpc("com.atproto.repo.deleteRecord")
LOGIN = xrpc("com.atproto.server.createSession")


def deleted() -> httpx.Response:
    return httpx.Response(200, json={"commit": REPLY["commit"]})


def test_bluesky_declares_that_it_withdraws() -> None:
    assert BlueskyConnector.capabilities.deletes
    assert isinstance(BlueskyConnector(), Withdrawer)


def test_withdraw_deletes_the_record_with_the_session() -> None:
    provider = FakeProvider().on("POST", LOGIN, response("create_session"))
    provider.on("POST", DELETE, deleted())
    bluesky = connector(provider)
    bluesky.withdraw(context(), URI)

    [sent] = provider.sent("POST", DELETE)
    assert body_of(sent) == {"repo": BRAND_DID, "collection": "app.bsky.feed.post", "rkey": RKEY}
    assert sent.headers["Authorization"] == f"Bearer {SESSION['accessJwt']}"
    # The session signed in on the way is handed back for the desk to store.
    update = bluesky.take_credentials_update(7)
    assert update is not None
    assert update["did"] == BRAND_DID


def test_a_stored_session_is_used_without_signing_in() -> None:
    provider = FakeProvider().on("POST", DELETE, deleted())
    connector(provider).withdraw(context(stored_session()), URI)
    assert [r.url.path for r in provider.requests] == [DELETE]


def test_a_record_already_gone_counts_as_withdrawn() -> None:
    gone = httpx.Response(400, json={"error": "RecordNotFound", "message": "Could not locate"})
    provider = FakeProvider().on("POST", DELETE, gone)
    connector(provider).withdraw(context(stored_session()), URI)  # no error


def test_a_bare_404_is_not_taken_for_a_deleted_post() -> None:
    # Only the error's name says the record is gone; a 404 without it is a server that lacks
    # the method, and the withdrawal fails for a person to look at.
    provider = FakeProvider().on("POST", DELETE, httpx.Response(404))
    with pytest.raises(SendError) as caught:
        connector(provider).withdraw(context(stored_session()), URI)
    assert not caught.value.retryable


def test_server_errors_are_retried_then_deleted_once() -> None:
    provider = FakeProvider().on("POST", DELETE, httpx.Response(502), deleted())
    connector(provider).withdraw(context(stored_session()), URI)
    assert len(provider.sent("POST", DELETE)) == 2


def test_server_errors_that_last_are_retryable() -> None:
    provider = FakeProvider().on("POST", DELETE, httpx.Response(503))
    with pytest.raises(SendError) as caught:
        connector(provider).withdraw(context(stored_session()), URI)
    assert caught.value.retryable


def test_a_refused_app_password_is_an_auth_error() -> None:
    provider = FakeProvider().on("POST", LOGIN, response("create_session_refused"))
    with pytest.raises(AuthError):
        connector(provider).withdraw(context(), URI)
    assert provider.sent("POST", DELETE) == []


def test_another_accounts_post_is_refused_without_a_request() -> None:
    provider = FakeProvider()
    stranger = "at://did:plc:someoneelse/app.bsky.feed.post/3kav647pdkxsl"
    with pytest.raises(SendError, match="not a post of the brand account") as caught:
        connector(provider).withdraw(context(stored_session()), stranger)
    assert not caught.value.retryable
    assert provider.requests == []
