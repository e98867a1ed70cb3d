"""Posting a Mastodon poll and reading its counts, against a real server's recorded answers
(halcy/Mastodon.py ``test_polls.yaml``, see fixtures/SOURCES.md): the exact request, the tally,
the instance's limits, and every refusal."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

import socialdesk.connectors.mastodon as mastodon_pkg
from socialdesk.connectors.base import (
    AccountContext,
    AuthError,
    ConnectorError,
    PollLimits,
    PollPublisher,
    PollRequest,
    SendError,
)
from socialdesk.connectors.http import RetryPolicy
from socialdesk.connectors.mastodon import MastodonConnector
from socialdesk.connectors.mastodon.polls import tally_from_poll
from socialdesk.connectors.mastodon.send import InstancePollLimits, limits_from_instance
from tests.connectors.fake_http import FakeProvider, body_of, recorded, response

RESPONSES = Path(mastodon_pkg.__file__).parent / "fixtures" / "responses"
INSTANCE = "https://social.example"
NOW = datetime(2026, 8, 1, 13, 53, tzinfo=UTC)
STATUSES = "/api/v1/statuses"
POLL = "/api/v1/polls/1"


def account(**settings: object) -> AccountContext:
    return AccountContext(
        brand_account_id=7,
        handle="admin",
        settings={"instance_url": INSTANCE, **settings},
        credentials={"access_token": "token-abc"},
    )


def poll_request(**overrides: object) -> PollRequest:
    # The poll the recording posted: "nice", two choices, five minutes, several answers.
    request = PollRequest(
        idempotency_key="socialdesk-poll-12",
        question="nice",
        options=("four twenty", "sixty-nine"),
        seconds=300,
        multiple=True,
    )
    # Each test changes one field; the dataclass checks the names.
    return dataclasses.replace(request, **overrides)  # type: ignore[arg-type]


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


def with_instance(provider: FakeProvider) -> FakeProvider:
    return provider.on("GET", "/api/v2/instance", recorded(RESPONSES / "instance_v2.json"))


def test_the_connector_publishes_polls() -> None:
    assert isinstance(MastodonConnector(), PollPublisher)


# -- posting ----------------------------------------------------------------------------------


def test_poll_request_is_exact() -> None:
    provider = with_instance(FakeProvider()).on(
        "POST", STATUSES, recorded(RESPONSES / "poll_status_created.json")
    )
    connector(provider).publish_poll(account(reply_visibility="unlisted"), poll_request())

    [sent] = provider.sent("POST", STATUSES)
    assert str(sent.url) == "https://social.example/api/v1/statuses"
    assert body_of(sent) == {
        "status": "nice",
        "visibility": "public",  # a poll is public whatever replies are set to
        "poll": {
            "options": ["four twenty", "sixty-nine"],
            "expires_in": 300,
            "multiple": True,
            "hide_totals": False,
        },
    }
    assert sent.headers["Authorization"] == "Bearer token-abc"
    assert sent.headers["Idempotency-Key"] == "socialdesk-poll-12"
    assert sent.headers["Content-Type"] == "application/json"


def test_tally_from_the_recorded_creation() -> None:
    provider = with_instance(FakeProvider()).on(
        "POST", STATUSES, recorded(RESPONSES / "poll_status_created.json")
    )
    tally = connector(provider).publish_poll(account(), poll_request())

    assert tally.post_id == "109440145871929772"
    assert tally.poll_id == "1"
    assert tally.url == "http://localhost:3000/@admin/109440145871929772"
    assert tally.closes_at == datetime(2022, 12, 1, 19, 53, 20, 832000, tzinfo=UTC)
    assert tally.closes_at.utcoffset() is not None
    assert tally.closed is False
    assert tally.votes == (0, 0)
    assert tally.votes_count == 0
    assert tally.voters_count == 0
    assert tally.raw == {
        "url": "http://localhost:3000/@admin/109440145871929772",
        "uri": "http://localhost:3000/users/admin/statuses/109440145871929772",
        "poll_id": "1",
        "multiple": True,
        "rate_limit_remaining": 291,
        "rate_limit_reset": "2022-12-01T21:00:00.864038+00:00",
    }


def test_an_answer_without_a_poll_is_not_retried() -> None:
    created = recorded(RESPONSES / "poll_status_created.json").json()
    del created["poll"]
    provider = with_instance(FakeProvider()).on("POST", STATUSES, response(200, created))
    with pytest.raises(SendError, match="may exist: check the account") as caught:
        connector(provider).publish_poll(account(), poll_request())
    assert caught.value.retryable is False
    assert len(provider.sent("POST", STATUSES)) == 1


@pytest.mark.parametrize("body", [{"poll": {"id": "1"}}, {"id": "9", "poll": {}}, ["not", "it"]])
def test_an_answer_without_ids_is_not_retried(body: object) -> None:
    provider = with_instance(FakeProvider()).on("POST", STATUSES, response(200, body))
    with pytest.raises(SendError, match="no status or poll id") as caught:
        connector(provider).publish_poll(account(), poll_request())
    assert caught.value.retryable is False


@pytest.mark.parametrize(
    ("status", "body", "error", "match"),
    [
        (401, {"error": "The access token was revoked"}, AuthError, "access token was revoked"),
        (403, {"error": "Your login is currently disabled"}, SendError, "currently disabled"),
        (
            422,
            {"error": "Validation failed: Poll options must not contain duplicate options"},
            SendError,
            "rejected the poll: Validation failed: Poll options",
        ),
    ],
)
def test_error_statuses_on_posting_are_mapped(
    status: int, body: dict[str, str], error: type[Exception], match: str
) -> None:
    provider = with_instance(FakeProvider()).on("POST", STATUSES, response(status, body))
    with pytest.raises(error, match=match) as caught:
        connector(provider).publish_poll(account(), poll_request())
    if isinstance(caught.value, SendError):
        assert caught.value.retryable is False
    assert len(provider.sent("POST", STATUSES)) == 1, "a refused poll is not posted again"


def test_server_errors_are_retried_with_the_same_key_then_given_back() -> None:
    provider = with_instance(FakeProvider()).on(
        "POST", STATUSES, response(503, {"error": "Service Unavailable"})
    )
    sleeps = Sleeps()
    with pytest.raises(SendError, match="503") as caught:
        connector(provider, sleeps).publish_poll(account(), poll_request())
    assert caught.value.retryable is True
    assert "will try again later" in caught.value.reason
    posts = provider.sent("POST", STATUSES)
    assert [r.headers["Idempotency-Key"] for r in posts] == ["socialdesk-poll-12"] * 3
    assert len(sleeps) == 2


def test_a_retry_after_a_server_error_returns_the_poll() -> None:
    provider = with_instance(FakeProvider()).on(
        "POST",
        STATUSES,
        response(502, {"error": "Bad Gateway"}),
        httpx.ReadTimeout("read timed out"),
        recorded(RESPONSES / "poll_status_created.json"),
    )
    tally = connector(provider).publish_poll(account(), poll_request())
    assert tally.post_id == "109440145871929772"
    assert len(provider.sent("POST", STATUSES)) == 3


# -- refusals before posting ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"options": ("only one",)}, "at least two choices; this one has 1"),
        ({"options": ()}, "at least two choices; this one has 0"),
        ({"options": ("yes", "  ")}, "choice 2 is empty"),
        ({"options": ("yes", "no", "yes ")}, "'yes' is choice 1 and choice 3"),
        ({"question": "   "}, "needs a question"),
    ],
)
def test_what_no_server_takes_is_refused_without_a_call(
    overrides: dict[str, object], match: str
) -> None:
    provider = with_instance(FakeProvider())
    with pytest.raises(SendError, match=match) as caught:
        connector(provider).publish_poll(account(), poll_request(**overrides))
    assert caught.value.retryable is False
    assert provider.requests == []


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"options": ("a", "b", "c", "d", "e")}, "at most 4 choices in a poll; this one has 5"),
        ({"options": ("yes", "n" * 51)}, "50 characters per choice; choice 2 has 51"),
        ({"seconds": 299}, "from 300 to 2629746 seconds; 299 is outside that"),
        ({"seconds": 2_629_747}, "from 300 to 2629746 seconds; 2629747 is outside that"),
        ({"question": "q" * 501}, "500 characters in a post; the question has 501"),
    ],
)
def test_what_the_instance_does_not_allow_is_refused_before_posting(
    overrides: dict[str, object], match: str
) -> None:
    provider = with_instance(FakeProvider())
    with pytest.raises(SendError, match=match) as caught:
        connector(provider).publish_poll(account(), poll_request(**overrides))
    assert caught.value.retryable is False
    assert provider.sent("POST", STATUSES) == []
    assert [r.url.path for r in provider.requests] == ["/api/v2/instance"]


def test_choices_are_counted_as_mastodon_counts_them() -> None:
    # 50 family emoji are 50 user-perceived characters (grapheme clusters), though 350 code
    # points: Mastodon takes them, so the connector does too.
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    provider = with_instance(FakeProvider()).on(
        "POST", STATUSES, recorded(RESPONSES / "poll_status_created.json")
    )
    connector(provider).publish_poll(account(), poll_request(options=(family * 50, "no")))
    [sent] = provider.sent("POST", STATUSES)
    assert body_of(sent)["poll"]["options"][0] == family * 50


def test_limits_are_the_edges_allowed() -> None:
    provider = with_instance(FakeProvider()).on(
        "POST", STATUSES, recorded(RESPONSES / "poll_status_created.json")
    )
    conn = connector(provider)
    for seconds in (300, 2_629_746):
        conn.publish_poll(account(), poll_request(seconds=seconds, options=("a", "b", "c", "d")))
    assert len(provider.sent("POST", STATUSES)) == 2
    assert len(provider.sent("GET", "/api/v2/instance")) == 1, "the limits are cached"


# -- reading ----------------------------------------------------------------------------------


def test_reading_the_recorded_poll() -> None:
    provider = FakeProvider().on("GET", POLL, recorded(RESPONSES / "poll_read.json"))
    tally = connector(provider).read_poll(account(), "1")

    [sent] = provider.requests
    assert str(sent.url) == "https://social.example/api/v1/polls/1"
    assert sent.headers["Authorization"] == "Bearer token-abc"
    assert tally.post_id == ""  # the poll object does not name its status
    assert tally.poll_id == "1"
    assert tally.votes == (0, 1)
    assert tally.votes_count == 1
    assert tally.voters_count == 1
    assert tally.closes_at == datetime(2022, 12, 1, 19, 53, 20, 832000, tzinfo=UTC)
    assert tally.closed is False
    assert tally.url is None


def test_reading_a_multiple_choice_poll_counts_voters_once() -> None:
    provider = FakeProvider().on("GET", POLL, recorded(RESPONSES / "poll_read_two_votes.json"))
    tally = connector(provider).read_poll(account(), "1")
    assert tally.votes == (1, 1)
    assert tally.votes_count == 2
    assert tally.voters_count == 1
    assert tally.raw == {"poll_id": "1", "multiple": True}


def test_hidden_totals_and_an_ended_poll() -> None:
    poll = recorded(RESPONSES / "poll_read.json").json()
    poll.update(expired=True, multiple=False, votes_count=None, voters_count=None)
    for option in poll["options"]:
        option["votes_count"] = None
    tally = tally_from_poll(poll, post_id="9", url=None, raw={})
    assert tally.closed is True
    assert tally.votes == (None, None)
    assert tally.votes_count is None
    assert tally.voters_count is None


def test_single_choice_voters_are_the_votes_when_not_given() -> None:
    poll = recorded(RESPONSES / "poll_read.json").json()
    poll.update(multiple=False, voters_count=None, expires_at=None)
    tally = tally_from_poll(poll, post_id="9", url=None, raw={})
    assert tally.voters_count == 1
    assert tally.closes_at is None


@pytest.mark.parametrize(
    ("status", "body", "error", "match"),
    [
        (401, {"error": "The access token is invalid"}, AuthError, "access token is invalid"),
        (
            404,
            {"error": "Record not found"},
            ConnectorError,
            "the poll was deleted or is no longer visible to the brand account",
        ),
        (403, {"error": "This action is not allowed"}, ConnectorError, "refused to show the poll"),
    ],
)
def test_error_statuses_on_reading_are_mapped(
    status: int, body: dict[str, str], error: type[Exception], match: str
) -> None:
    provider = FakeProvider().on("GET", POLL, response(status, body))
    with pytest.raises(error, match=match):
        connector(provider).read_poll(account(), "1")
    assert len(provider.requests) == 1


def test_reading_is_retried_on_server_errors() -> None:
    provider = FakeProvider().on(
        "GET",
        POLL,
        response(500, {"error": "boom"}),
        recorded(RESPONSES / "poll_read.json"),
    )
    sleeps = Sleeps()
    assert connector(provider, sleeps).read_poll(account(), "1").votes == (0, 1)
    assert len(sleeps) == 1


def test_an_answer_that_is_no_poll_is_an_error() -> None:
    provider = FakeProvider().on("GET", POLL, response(200, {"error": "odd"}))
    with pytest.raises(ConnectorError, match="no poll for poll 1"):
        connector(provider).read_poll(account(), "1")


def test_the_poll_id_only_names_a_poll() -> None:
    provider = FakeProvider()
    with pytest.raises(ConnectorError):
        connector(provider).read_poll(account(), "../accounts/1")
    assert provider.requests[0].url.raw_path == b"/api/v1/polls/..%2Faccounts%2F1"


# -- limits -----------------------------------------------------------------------------------


def test_poll_limits_from_the_recorded_instance() -> None:
    provider = with_instance(FakeProvider())
    conn = connector(provider)
    assert conn.poll_limits(account()) == PollLimits(
        max_options=4,
        max_option_length=50,
        min_seconds=300,
        max_seconds=2_629_746,
        max_question_length=500,
    )
    conn.capabilities_for(account())
    assert len(provider.requests) == 1, "the poll limits come from the cached instance document"


def test_poll_limits_keep_mastodons_defaults_when_absent() -> None:
    document = recorded(RESPONSES / "instance_v2.json").json()
    del document["configuration"]["polls"]
    assert limits_from_instance(document).polls == InstancePollLimits(4, 50, 300, 2_629_746)
    assert limits_from_instance({"configuration": {"polls": "none"}}).polls == (
        InstancePollLimits()
    )
    provider = FakeProvider()  # neither instance document answers
    assert connector(provider).poll_limits(account()) == PollLimits(4, 50, 300, 2_629_746, 500)


def test_an_instance_with_larger_polls() -> None:
    document = recorded(RESPONSES / "instance_v2.json").json()
    document["configuration"]["polls"].update(max_options=10, max_characters_per_option=100)
    assert limits_from_instance(document).polls == InstancePollLimits(10, 100, 300, 2_629_746)
    # Pleroma and Akkoma state theirs in /api/v1/instance as "poll_limits".
    fork = {"poll_limits": {"max_options": 20, "max_option_chars": 200, "min_expiration": 0}}
    assert limits_from_instance(fork).polls == InstancePollLimits(20, 200, 300, 2_629_746)
