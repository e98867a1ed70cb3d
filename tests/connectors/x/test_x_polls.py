"""Polls on X against recorded answers: the exact request that posts one, what is refused
before any call, and the counts read back from X's own sample answer for a real poll
(fixtures/SOURCES.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import socialdesk.connectors.x as x_pkg
from socialdesk.connectors.base import (
    AccountContext,
    AuthError,
    ConnectorError,
    PollPublisher,
    PollRequest,
    SendError,
)
from socialdesk.connectors.http import RetryPolicy
from socialdesk.connectors.x import XConnector
from socialdesk.connectors.x.polls import X_POLL_LIMITS
from tests.connectors.fake_http import FakeProvider, body_of, recorded, response

RESPONSES = Path(x_pkg.__file__).parent / "fixtures" / "responses"
NOW = datetime(2021, 11, 4, 0, 0, tzinfo=UTC)
POST = "1199786642791452673"


def account() -> AccountContext:
    return AccountContext(
        brand_account_id=9,
        handle="TwitterDev",
        settings={"user_id": "2244994945"},
        credentials={"access_token": "oauth2-user-token"},
    )


def ask(**overrides: object) -> PollRequest:
    fields: dict[str, object] = {
        "idempotency_key": "socialdesk-abc-poll-3",
        "question": "Which name do you use?",
        "options": ("C Sharp", "C Hashtag"),
        "seconds": 86400,
    }
    fields.update(overrides)
    return PollRequest(**fields)  # type: ignore[arg-type]  # fields checked by the dataclass


def connector(provider: FakeProvider) -> XConnector:
    return XConnector(
        transport=provider.transport,
        sleep=lambda _seconds: None,
        now=lambda: NOW,
        policy=RetryPolicy(max_attempts=2, base_delay=0.1, max_delay=0.1, max_wait=1.0),
    )


def test_x_takes_polls_within_its_limits() -> None:
    x = connector(FakeProvider())
    assert isinstance(x, PollPublisher)
    limits = x.poll_limits(account())
    assert (limits.max_options, limits.max_option_length) == (4, 25)
    assert (limits.min_seconds, limits.max_seconds, limits.seconds_step) == (300, 604800, 60)
    assert limits.multiple is False
    assert limits.max_question_length == 280


def test_posting_a_poll_sends_exactly_the_question_and_choices() -> None:
    provider = FakeProvider().on("POST", "/2/tweets", recorded(RESPONSES / "tweet_created.json"))
    tally = connector(provider).publish_poll(account(), ask())

    [sent] = provider.requests
    assert str(sent.url) == "https://api.x.com/2/tweets"
    assert sent.headers["Authorization"] == "Bearer oauth2-user-token"
    assert body_of(sent) == {
        "text": "Which name do you use?",
        "poll": {"options": ["C Sharp", "C Hashtag"], "duration_minutes": 1440},
    }
    assert "Idempotency-Key" not in sent.headers, "X has no idempotency key"
    # X answers with the post's id only: the poll is read through that post.
    assert (tally.post_id, tally.poll_id) == ("1456012973835788293", "1456012973835788293")
    assert tally.url == "https://x.com/TwitterDev/status/1456012973835788293"
    posted_at = datetime(2021, 11, 3, 21, 38, 39, 32000, tzinfo=UTC)  # the id's own time
    assert tally.closes_at == posted_at + timedelta(days=1)
    assert (tally.closed, tally.votes, tally.votes_count, tally.voters_count) == (
        False,
        (0, 0),
        0,
        0,
    )
    assert tally.raw["rate_limit_remaining"] == 199


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"question": "  "}, "a poll needs a question"),
        ({"options": ("only one",)}, "at least two choices"),
        ({"options": ("a", "b", "c", "d", "e")}, "at most 4 choices"),
        ({"options": ("a", "")}, "choice 2 is empty"),
        ({"options": ("same", "same ")}, "the same choice twice"),
        ({"options": ("a" * 26, "b")}, "25 characters per choice; choice 1 has 26"),
        ({"seconds": 60}, "from 300 to 604800 seconds"),
        ({"seconds": 8 * 86400}, "from 300 to 604800 seconds"),
        ({"seconds": 330}, "whole multiples of 60 seconds"),
        ({"multiple": True}, "one answer per voter"),
        ({"question": "x" * 281}, "280 characters in a post; the question has 281"),
    ],
)
def test_what_x_would_refuse_is_refused_before_any_call(
    overrides: dict[str, object], words: str
) -> None:
    provider = FakeProvider()
    with pytest.raises(SendError, match=words) as refused:
        connector(provider).publish_poll(account(), ask(**overrides))
    assert not refused.value.retryable
    assert provider.requests == []


def test_a_choice_is_counted_in_graphemes_as_x_counts_it() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one grapheme, five code points
    provider = FakeProvider().on("POST", "/2/tweets", recorded(RESPONSES / "tweet_created.json"))
    connector(provider).publish_poll(account(), ask(options=(family * 25, "no")))
    assert len(provider.requests) == 1


def test_a_refused_token_and_a_refused_post_are_told_apart() -> None:
    provider = FakeProvider().on(
        "POST", "/2/tweets", response(401, {"title": "Unauthorized", "detail": "Unauthorized"})
    )
    with pytest.raises(AuthError, match="X rejected the access token"):
        connector(provider).publish_poll(account(), ask())
    provider = FakeProvider().on(
        "POST",
        "/2/tweets",
        response(
            400,
            {
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
            },
        ),
    )
    with pytest.raises(SendError, match="X refused the request") as refused:
        connector(provider).publish_poll(account(), ask())
    assert not refused.value.retryable


def test_an_answer_without_an_id_says_the_poll_may_exist() -> None:
    provider = FakeProvider().on("POST", "/2/tweets", response(201, {"data": {}}))
    with pytest.raises(SendError, match="may exist: check the account") as refused:
        connector(provider).publish_poll(account(), ask())
    assert not refused.value.retryable


def test_the_counts_come_back_from_the_post_with_its_poll_expanded() -> None:
    provider = FakeProvider().on("GET", "/2/tweets", recorded(RESPONSES / "poll_read_closed.json"))
    tally = connector(provider).read_poll(account(), POST)

    [sent] = provider.requests
    assert sent.url.params["ids"] == POST
    assert sent.url.params["expansions"] == "attachments.poll_ids"
    assert set(sent.url.params["poll.fields"].split(",")) >= {
        "options",
        "voting_status",
        "end_datetime",
    }
    assert tally.post_id == tally.poll_id == POST
    assert tally.closed is True
    assert tally.votes == (795, 156)
    assert (tally.votes_count, tally.voters_count) == (951, 951)
    assert tally.closes_at == datetime(2019, 11, 28, 20, 26, 41, tzinfo=UTC)
    assert tally.raw["x_poll_id"] == "1199786642468413448"


def test_choices_are_read_in_x_order_whatever_the_order_of_the_answer() -> None:
    doc = recorded(RESPONSES / "poll_read_closed.json").json()
    poll = doc["includes"]["polls"][0]
    poll["options"].reverse()
    poll["voting_status"] = "open"
    provider = FakeProvider().on("GET", "/2/tweets", response(200, doc))
    tally = connector(provider).read_poll(account(), POST)
    assert tally.votes == (795, 156)
    assert tally.closed is False


def test_a_deleted_post_and_a_post_without_a_poll_are_named() -> None:
    gone = {
        "errors": [
            {
                "value": POST,
                "detail": f"Could not find tweet with ids: [{POST}].",
                "title": "Not Found Error",
                "resource_type": "tweet",
                "parameter": "ids",
                "resource_id": POST,
                "type": "https://api.twitter.com/2/problems/resource-not-found",
            }
        ]
    }
    provider = FakeProvider().on("GET", "/2/tweets", response(200, gone))
    with pytest.raises(ConnectorError, match="deleted or is not visible"):
        connector(provider).read_poll(account(), POST)
    bare = {"data": [{"id": POST, "text": "C#"}]}
    provider = FakeProvider().on("GET", "/2/tweets", response(200, bare))
    with pytest.raises(ConnectorError, match=f"the post {POST} carries no poll"):
        connector(provider).read_poll(account(), POST)


def test_reading_with_a_refused_token_marks_it_as_such() -> None:
    provider = FakeProvider().on("GET", "/2/tweets", response(401, {"title": "Unauthorized"}))
    with pytest.raises(AuthError):
        connector(provider).read_poll(account(), POST)
    provider = FakeProvider().on("GET", "/2/tweets", response(403, {"title": "Forbidden"}))
    with pytest.raises(ConnectorError, match="X refused to show the poll"):
        connector(provider).read_poll(account(), POST)


def test_limits_are_the_same_object_the_service_reads() -> None:
    assert connector(FakeProvider()).poll_limits(account()) is X_POLL_LIMITS
