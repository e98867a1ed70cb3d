"""The shared HTTP client: backoff, rate-limit headers, and error mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from socialdesk.connectors.base import (
    AuthError,
    ConnectorError,
    Patience,
    SendError,
    waiting_person,
)
from socialdesk.connectors.http import (
    Gone,
    HttpClient,
    RetryPolicy,
    default_error,
    error_detail,
    not_found,
    parse_reset,
    parse_retry_after,
    read_rate_limit,
)
from tests.connectors.fake_http import FakeProvider, response

NOW = datetime(2026, 8, 1, 13, 0, tzinfo=UTC)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(
    provider: FakeProvider, sleeps: Sleeps, *, rng: float = 1.0, attempts: int = 4
) -> HttpClient:
    return HttpClient(
        provider="Example",
        transport=provider.transport,
        policy=RetryPolicy(max_attempts=attempts, base_delay=0.5, max_delay=3.0, max_wait=30.0),
        sleep=sleeps,
        rng=lambda: rng,
        now=lambda: NOW,
    )


def test_backoff_doubles_up_to_the_ceiling_with_full_jitter() -> None:
    provider = FakeProvider().on("GET", "/x", response(503, {"error": "busy"}))
    sleeps = Sleeps()
    with pytest.raises(SendError) as caught:
        client(provider, sleeps, attempts=5).request("GET", "https://p.example/x", idempotent=True)
    # rng() == 1.0 gives the top of each jitter window: 0.5, 1, 2, then capped at 3.
    assert sleeps == [0.5, 1.0, 2.0, 3.0]
    assert caught.value.retryable is True
    assert caught.value.retry_after_seconds == 3.0
    assert "Example answered 503" in caught.value.reason
    assert len(provider.requests) == 5


def test_jitter_scales_the_wait() -> None:
    provider = FakeProvider().on("GET", "/x", response(502), response(200, {}))
    sleeps = Sleeps()
    client(provider, sleeps, rng=0.25).request("GET", "https://p.example/x", idempotent=True)
    assert sleeps == [0.125]


def test_retry_after_seconds_wins_over_a_shorter_backoff() -> None:
    provider = FakeProvider().on(
        "GET", "/x", response(503, headers={"Retry-After": "7"}), response(200, {})
    )
    sleeps = Sleeps()
    client(provider, sleeps).request("GET", "https://p.example/x", idempotent=True)
    assert sleeps == [7.0]


def test_exhausted_bucket_is_not_hit_before_its_reset() -> None:
    reset = int((NOW + timedelta(seconds=10)).timestamp())
    spent = response(
        200, {}, headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)}
    )
    provider = FakeProvider().on("GET", "/x", spent, response(200, {}))
    sleeps = Sleeps()
    http = client(provider, sleeps)
    http.request("GET", "https://p.example/x", idempotent=True, bucket="a")
    http.request("GET", "https://p.example/x", idempotent=True, bucket="a")
    assert sleeps == [10.0], "waited for the reset before the second request"
    http.request("GET", "https://p.example/x", idempotent=True, bucket="b")
    assert sleeps == [10.0], "another bucket is not held up"


def test_client_errors_are_not_retried() -> None:
    provider = FakeProvider().on("POST", "/x", response(400, {"error": "bad field"}))
    with pytest.raises(SendError, match="bad field") as caught:
        client(provider, Sleeps()).request("POST", "https://p.example/x", idempotent=True)
    assert caught.value.retryable is False
    assert len(provider.requests) == 1


def test_unauthorized_is_an_auth_error_by_default() -> None:
    provider = FakeProvider().on("GET", "/x", response(401, {"error": "invalid token"}))
    with pytest.raises(AuthError, match="invalid token"):
        client(provider, Sleeps()).request("GET", "https://p.example/x", idempotent=True)


def test_a_404_is_gone_where_the_caller_asks_before_its_error_mapper() -> None:
    # Deleting a post that is already deleted: the outcome a withdrawal wants.
    provider = FakeProvider().on("DELETE", "/posts/1", response(404, {"error": "Record not found"}))

    def mapper(answer: httpx.Response) -> ConnectorError | None:
        return SendError("the post being answered is gone", retryable=False)

    sleeps = Sleeps()
    with pytest.raises(Gone) as caught:
        client(provider, sleeps).request(
            "DELETE",
            "https://p.example/posts/1",
            idempotent=True,
            error_mapper=mapper,
            gone=not_found,
        )
    assert not isinstance(caught.value, SendError)
    assert caught.value.reason == "Example answered 404 Not Found: Record not found"
    assert len(provider.requests) == 1
    assert sleeps == []


def test_without_a_gone_test_a_404_stays_a_final_failure() -> None:
    provider = FakeProvider().on("DELETE", "/posts/1", response(404, {"error": "not found"}))
    with pytest.raises(SendError) as caught:
        client(provider, Sleeps()).request("DELETE", "https://p.example/posts/1", idempotent=True)
    assert not isinstance(caught.value, Gone)
    assert caught.value.retryable is False


def test_a_gone_test_of_its_own_and_retries_before_it() -> None:
    # A provider that says "not there" with a 400 and a name (Bluesky's RecordNotFound); a
    # temporary failure first is retried as usual, and other 400s stay failures.
    def record_not_found(answer: httpx.Response) -> bool:
        return answer.status_code == 400 and answer.json().get("error") == "RecordNotFound"

    provider = FakeProvider().on(
        "POST",
        "/delete",
        response(503),
        response(400, {"error": "RecordNotFound", "message": "no such record"}),
    )
    sleeps = Sleeps()
    http = client(provider, sleeps)
    with pytest.raises(Gone, match="400 Bad Request: RecordNotFound"):
        http.request("POST", "https://p.example/delete", idempotent=True, gone=record_not_found)
    assert len(provider.requests) == 2
    assert len(sleeps) == 1

    other = FakeProvider().on("POST", "/delete", response(400, {"error": "InvalidRequest"}))
    with pytest.raises(SendError, match="InvalidRequest"):
        client(other, Sleeps()).request(
            "POST", "https://p.example/delete", idempotent=True, gone=record_not_found
        )


def test_read_timeout_after_sending_is_not_repeated_without_idempotency() -> None:
    provider = FakeProvider().on("POST", "/x", httpx.ReadTimeout("slow"))
    with pytest.raises(SendError, match="may or may not have been published") as caught:
        client(provider, Sleeps()).request("POST", "https://p.example/x", idempotent=False)
    assert caught.value.retryable is False
    assert len(provider.requests) == 1


def test_unreachable_provider_is_retryable_in_the_end() -> None:
    provider = FakeProvider().on("GET", "/x", httpx.ConnectError("refused"))
    with pytest.raises(SendError, match="could not be reached") as caught:
        client(provider, Sleeps(), attempts=2).request(
            "GET", "https://p.example/x", idempotent=True
        )
    assert caught.value.retryable is True
    assert len(provider.requests) == 2


def test_a_person_waiting_gets_fewer_tries_shorter_pauses_and_timeouts() -> None:
    provider = FakeProvider().on("GET", "/x", response(503, headers={"Retry-After": "7"}))
    sleeps = Sleeps()
    patient = client(provider, sleeps)
    with (
        waiting_person(Patience(max_attempts=2, max_wait=2.0, timeout=3.0)),
        pytest.raises(SendError) as caught,
    ):
        patient.request("GET", "https://p.example/x", idempotent=True)
    # A seven-second wait is longer than a person is asked to wait: given back at once.
    assert sleeps == []
    assert len(provider.requests) == 1
    assert caught.value.retryable is True
    assert caught.value.retry_after_seconds == 7.0
    assert provider.requests[0].extensions["timeout"] == {
        "connect": 3.0,
        "read": 3.0,
        "write": 3.0,
        "pool": 3.0,
    }

    busy = FakeProvider().on("GET", "/x", response(503))
    with (
        waiting_person(Patience(max_attempts=2, max_wait=2.0, timeout=3.0)),
        pytest.raises(SendError),
    ):
        client(busy, sleeps).request("GET", "https://p.example/x", idempotent=True)
    assert len(busy.requests) == 2  # one retry, not three
    assert sleeps == [0.5]

    # Outside the block the same client is as patient as before, with its own timeouts.
    again = FakeProvider().on("GET", "/x", response(503))
    with pytest.raises(SendError):
        client(again, Sleeps()).request("GET", "https://p.example/x", idempotent=True)
    assert len(again.requests) == 4
    assert again.requests[0].extensions["timeout"]["read"] == 20.0


def test_a_person_waiting_never_lengthens_a_short_policy() -> None:
    provider = FakeProvider().on("GET", "/x", response(503))
    with (
        waiting_person(Patience(max_attempts=10, max_wait=60.0, timeout=60.0)),
        pytest.raises(SendError),
    ):
        client(provider, Sleeps(), attempts=1).request(
            "GET", "https://p.example/x", idempotent=True
        )
    assert len(provider.requests) == 1
    assert provider.requests[0].extensions["timeout"]["connect"] == 5.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1635976418", datetime(2021, 11, 3, 21, 53, 38, tzinfo=UTC)),
        ("2026-08-01T15:00:00.175404Z", datetime(2026, 8, 1, 15, 0, 0, 175404, tzinfo=UTC)),
        ("2026-08-01T15:00:00", datetime(2026, 8, 1, 15, 0, tzinfo=UTC)),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_reset(value: str | None, expected: datetime | None) -> None:
    assert parse_reset(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("-5", 0.0),
        ("Sat, 01 Aug 2026 13:01:30 GMT", 90.0),
        ("Sat, 01 Aug 2026 12:00:00 GMT", 0.0),
        ("later", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_recorded_mastodon_and_x_headers_are_read() -> None:
    mastodon = read_rate_limit(
        httpx.Headers(
            {
                "x-ratelimit-limit": "300",
                "x-ratelimit-remaining": "297",
                "x-ratelimit-reset": "2026-08-01T15:00:00.175404Z",
            }
        )
    )
    assert (mastodon.limit, mastodon.remaining) == (300, 297)
    assert mastodon.reset_at == datetime(2026, 8, 1, 15, 0, 0, 175404, tzinfo=UTC)
    x = read_rate_limit(
        httpx.Headers(
            {
                "x-rate-limit-limit": "200",
                "x-rate-limit-remaining": "199",
                "x-rate-limit-reset": "1635976418",
            }
        )
    )
    assert (x.limit, x.remaining) == (200, 199)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"error": "Record not found"}, "Record not found"),
        ({"title": "Forbidden", "detail": "Not permitted"}, "Not permitted"),
        ({"errors": [{"message": "Rate limit exceeded"}]}, "Rate limit exceeded"),
        ({"unexpected": 1}, ""),
    ],
)
def test_error_detail(body: dict[str, object], detail: str) -> None:
    assert error_detail(httpx.Response(400, json=body)) == detail


def test_error_detail_of_a_non_json_body() -> None:
    assert error_detail(httpx.Response(502, text="<html>Bad gateway</html>")) == (
        "<html>Bad gateway</html>"
    )


def test_default_error_statuses() -> None:
    request = httpx.Request("GET", "https://p.example/x")
    assert isinstance(default_error("P", httpx.Response(401, request=request)), AuthError)
    forbidden = default_error("P", httpx.Response(403, request=request))
    assert isinstance(forbidden, SendError)
    assert forbidden.retryable is False
    busy = default_error("P", httpx.Response(503, request=request))
    assert isinstance(busy, SendError)
    assert busy.retryable is True


def test_a_detail_that_only_repeats_the_status_is_said_once() -> None:
    request = httpx.Request("GET", "https://p.example/x")
    repeated = httpx.Response(503, json={"title": "Service Unavailable"}, request=request)
    assert default_error("P", repeated).reason == "P answered 503 Service Unavailable"
    told = httpx.Response(403, json={"detail": "Your app lacks tweet.write"}, request=request)
    assert default_error("P", told).reason == (
        "P answered 403 Forbidden: Your app lacks tweet.write"
    )


def test_a_file_goes_up_as_a_multipart_form_or_as_raw_bytes() -> None:
    provider = (
        FakeProvider()
        .on("POST", "/media", response(200, {"id": "m1"}))
        .on("POST", "/blob", response(200, {"blob": {}}))
    )
    http = client(provider, Sleeps())
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(16))
    http.request(
        "POST",
        "https://p.example/media",
        idempotent=False,
        data={"description": "The network map"},
        files={"file": ("map.png", png, "image/png")},
    )
    (form,) = provider.sent("POST", "/media")
    assert form.headers["content-type"].startswith("multipart/form-data; boundary=")
    body = form.read()
    assert b'name="description"\r\n\r\nThe network map' in body
    assert b'name="file"; filename="map.png"\r\nContent-Type: image/png\r\n\r\n' + png in body
    http.request(
        "POST",
        "https://p.example/blob",
        idempotent=True,
        headers={"Content-Type": "image/png"},
        content=png,
    )
    (raw,) = provider.sent("POST", "/blob")
    assert (raw.headers["content-type"], raw.read()) == ("image/png", png)
