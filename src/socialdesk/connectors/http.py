"""The HTTP client every HTTP-based connector uses.

One place decides timeouts, retries and rate limits so each connector only says what its
provider's errors mean:

* timeouts on connect, read, write and pool (a provider that hangs must not hang a worker);
* retries with exponential backoff and full jitter on 429, 5xx and network errors, honouring
  ``Retry-After`` and the rate-limit reset headers (Mastodon's ISO 8601 ``X-RateLimit-Reset``,
  X's epoch-seconds ``x-rate-limit-reset`` and ``x-user-limit-24hour-reset``);
* a request that is not idempotent (a POST without an idempotency key) is retried only when it
  certainly never reached the provider (connection refused, 429), because retrying after an
  unknown outcome could publish the same reply twice;
* a bucket that the provider reported as exhausted is not hit again before its reset time;
* failures become :class:`SendError` or :class:`AuthError` with a reason a person can act on;
* an answer that says the thing a request names is not there (any more) becomes :class:`Gone`
  where the caller asks for it (``gone=not_found``): deleting a post that is already deleted
  is the outcome a withdrawal wants, not a failure;
* a call a person waits for (``connectors.base.waiting_person``) is tried fewer times, with
  shorter timeouts, than the same call made by a job.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import httpx

from socialdesk.common import clock
from socialdesk.connectors.base import AuthError, ConnectorError, SendError, current_patience

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=20.0, pool=5.0)

# Statuses after which the provider did not act on the request and asks us to come back.
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Of those, the ones that prove the request was not processed, so even a POST without an
# idempotency key may be repeated.
_NOT_PROCESSED_STATUSES = frozenset({429})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try before giving the failure back to the caller (the job queue retries
    later with its own, longer schedule)."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    # A wait longer than this is not slept in-process: the caller gets a retryable error with
    # ``retry_after_seconds`` and the job is rescheduled instead of blocking a worker.
    max_wait: float = 30.0


def _shorter(own: float | None, limit: float) -> float:
    return limit if own is None else min(own, limit)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """What the provider said about the bucket the last response was counted against."""

    limit: int | None
    remaining: int | None
    reset_at: datetime | None


@dataclass(slots=True)
class _Buckets:
    blocked_until: dict[str, datetime] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


ErrorMapper = Callable[[httpx.Response], ConnectorError | None]
# One file of a multipart upload: its name, its bytes and its media type.
UploadedFile = tuple[str, bytes, str]
# Whether an error answer means that what the request names is not on the network (any more).
GoneTest = Callable[[httpx.Response], bool]


class Gone(ConnectorError):
    """What a request named is not on the network (any more): its answer passed the caller's
    ``gone`` test. Raised only to callers that pass one, for whom it is an answer rather than a
    failure (a post already deleted counts as withdrawn), so they catch it."""


def not_found(response: httpx.Response) -> bool:
    """The usual ``gone`` test: 404 Not Found."""
    return response.status_code == 404


class HttpClient:
    """A thin, thread-safe wrapper around :class:`httpx.Client` for one provider.

    ``provider`` names the network in error messages ("Mastodon (social.example)", "X").
    ``transport`` is injected in tests (:class:`httpx.MockTransport`); ``sleep``, ``rng`` and
    ``now`` make backoff deterministic in tests.
    """

    def __init__(
        self,
        *,
        provider: str,
        base_url: str = "",
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        policy: RetryPolicy | None = None,
        user_agent: str = "socialdesk/0.1 (+https://github.com/socialdesk)",
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.provider = provider
        self._policy = policy or RetryPolicy()
        self._timeout = timeout
        self._sleep = sleep
        self._rng = rng
        self._now = now or clock.now
        self._buckets = _Buckets()
        self._client = httpx.Client(
            base_url=base_url,
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    @property
    def policy(self) -> RetryPolicy:
        """The client's retry policy, shortened where somebody waits (``waiting_person``)."""
        patience = current_patience()
        if patience is None:
            return self._policy
        return replace(
            self._policy,
            max_attempts=min(self._policy.max_attempts, patience.max_attempts),
            max_delay=min(self._policy.max_delay, patience.max_wait),
            max_wait=min(self._policy.max_wait, patience.max_wait),
        )

    def timeout(self) -> httpx.Timeout:
        """The client's timeouts, shortened where somebody waits (``waiting_person``)."""
        patience = current_patience()
        if patience is None:
            return self._timeout
        own, limit = self._timeout, patience.timeout
        return httpx.Timeout(
            connect=_shorter(own.connect, limit),
            read=_shorter(own.read, limit),
            write=_shorter(own.write, limit),
            pool=_shorter(own.pool, limit),
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool,
        bucket: str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, UploadedFile] | None = None,
        content: bytes | None = None,
        error_mapper: ErrorMapper | None = None,
        gone: GoneTest | None = None,
    ) -> httpx.Response:
        """Send one request and return a 2xx response, or raise a :class:`ConnectorError`.

        ``idempotent`` says whether repeating the request after an unknown outcome is harmless
        (GETs, and POSTs the provider deduplicates with an idempotency key). ``bucket`` names the
        provider's rate-limit bucket (for example ``"42:POST /2/tweets"``); an exhausted bucket
        is not hit again before it resets. ``error_mapper`` turns provider-specific error bodies
        into errors; it returns None to fall back to the generic mapping. ``gone`` (usually
        :func:`not_found`) picks the error answers that mean what the request names is not
        there (any more): they raise :class:`Gone`, before ``error_mapper`` is asked and never
        retried. ``data`` sends a form body (OAuth token endpoints), ``json`` a JSON one,
        ``files`` a multipart form (with ``data`` as its other fields: a media upload), and
        ``content`` raw bytes (with the Content-Type given in ``headers``: a blob upload).
        """
        attempt = 0
        while True:
            attempt += 1
            if bucket is not None:
                self._wait_for_bucket(bucket)
            try:
                response = self._client.request(
                    method,
                    url,
                    headers=dict(headers or {}),
                    params=params,
                    json=json,
                    data=dict(data) if data is not None else None,
                    files=dict(files) if files is not None else None,
                    content=content,
                    timeout=self.timeout(),
                )
            except httpx.TransportError as exc:
                delay = self._transport_failure(exc, attempt=attempt, idempotent=idempotent)
            else:
                limit = read_rate_limit(response.headers)
                if bucket is not None:
                    self._remember(bucket, limit, response.status_code)
                if response.is_success:
                    return response
                delay = self._status_failure(
                    response,
                    limit,
                    attempt=attempt,
                    idempotent=idempotent,
                    error_mapper=error_mapper,
                    gone=gone,
                )
            self._sleep(delay)

    def _transport_failure(
        self, exc: httpx.TransportError, *, attempt: int, idempotent: bool
    ) -> float:
        """How long to wait before retrying after a network failure, or raise."""
        never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        if not never_sent and not idempotent:
            # Sent, but no answer: the provider may or may not have acted on it.
            raise SendError(
                f"{self.provider} did not answer ({type(exc).__name__}); the message may "
                "or may not have been published: check the conversation on the network "
                "before sending it again",
                retryable=False,
            ) from exc
        delay = self._backoff(attempt)
        if attempt >= self.policy.max_attempts:
            what = "could not be reached" if never_sent else "did not answer"
            raise SendError(
                f"{self.provider} {what} ({type(exc).__name__}: {exc}); will try again later",
                retryable=True,
                retry_after_seconds=delay,
            ) from exc
        log.info("%s: %s, retry %d in %.1fs", self.provider, type(exc).__name__, attempt, delay)
        return delay

    def _status_failure(
        self,
        response: httpx.Response,
        limit: RateLimit,
        *,
        attempt: int,
        idempotent: bool,
        error_mapper: ErrorMapper | None,
        gone: GoneTest | None,
    ) -> float:
        """How long to wait before retrying after an error status, or raise."""
        if gone is not None and gone(response):
            raise Gone(_status_reason(self.provider, response))
        mapped = error_mapper(response) if error_mapper is not None else None
        if mapped is not None:
            if isinstance(mapped, SendError) and mapped.retryable:
                mapped = self._with_wait(mapped, response, limit)
            raise mapped
        if response.status_code not in _RETRY_STATUSES:
            raise default_error(self.provider, response)
        if not (idempotent or response.status_code in _NOT_PROCESSED_STATUSES):
            raise SendError(
                f"{self.provider} answered {response.status_code} to a request that cannot "
                "be repeated safely; the message may or may not have been published: check "
                "the conversation on the network before sending it again",
                retryable=False,
            )
        wait = self._server_wait(response, limit)
        delay = max(wait or 0.0, self._backoff(attempt))
        if attempt >= self.policy.max_attempts or delay > self.policy.max_wait:
            raise SendError(
                _status_reason(self.provider, response) + "; will try again later",
                retryable=True,
                retry_after_seconds=delay,
            )
        log.info(
            "%s answered %d, retry %d in %.1fs", self.provider, response.status_code, attempt, delay
        )
        return delay

    def _backoff(self, attempt: int) -> float:
        # Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): spreads
        # retries of many workers instead of having them hit the provider in lockstep.
        ceiling = min(self.policy.max_delay, self.policy.base_delay * 2.0 ** (attempt - 1))
        return ceiling * self._rng()

    def _server_wait(self, response: httpx.Response, limit: RateLimit) -> float | None:
        after = parse_retry_after(response.headers.get("Retry-After"), now=self._now())
        if after is not None:
            return after
        if response.status_code == 429 and limit.reset_at is not None:
            return max(0.0, (limit.reset_at - self._now()).total_seconds())
        return None

    def _with_wait(self, error: SendError, response: httpx.Response, limit: RateLimit) -> SendError:
        if error.retry_after_seconds is not None:
            return error
        wait = self._server_wait(response, limit)
        if wait is None:
            return error
        return SendError(error.reason, retryable=True, retry_after_seconds=wait)

    def _remember(self, bucket: str, limit: RateLimit, status: int) -> None:
        exhausted = limit.remaining == 0 or status == 429
        with self._buckets.lock:
            if exhausted and limit.reset_at is not None and limit.reset_at > self._now():
                self._buckets.blocked_until[bucket] = limit.reset_at
            else:
                self._buckets.blocked_until.pop(bucket, None)

    def _wait_for_bucket(self, bucket: str) -> None:
        with self._buckets.lock:
            until = self._buckets.blocked_until.get(bucket)
        if until is None:
            return
        wait = (until - self._now()).total_seconds()
        if wait <= 0:
            with self._buckets.lock:
                self._buckets.blocked_until.pop(bucket, None)
            return
        if wait > self.policy.max_wait:
            raise SendError(
                f"{self.provider} rate limit reached; it resets at {until.isoformat()}",
                retryable=True,
                retry_after_seconds=wait,
            )
        self._sleep(wait)


def read_rate_limit(headers: httpx.Headers) -> RateLimit:
    """Rate-limit headers as Mastodon (``X-RateLimit-*``) and X (``x-rate-limit-*``) send them.

    X also caps posts per user per 24 hours (``x-user-limit-24hour-*``); when that cap is spent
    it is the binding one, so it wins over the 15-minute window.
    """
    user_remaining = _int(headers.get("x-user-limit-24hour-remaining"))
    if user_remaining == 0:
        return RateLimit(
            limit=_int(headers.get("x-user-limit-24hour-limit")),
            remaining=0,
            reset_at=parse_reset(headers.get("x-user-limit-24hour-reset")),
        )
    limit = headers.get("x-ratelimit-limit") or headers.get("x-rate-limit-limit")
    remaining = headers.get("x-ratelimit-remaining") or headers.get("x-rate-limit-remaining")
    reset = headers.get("x-ratelimit-reset") or headers.get("x-rate-limit-reset")
    return RateLimit(limit=_int(limit), remaining=_int(remaining), reset_at=parse_reset(reset))


def parse_reset(value: str | None) -> datetime | None:
    """A reset time given as epoch seconds (X) or an ISO 8601 timestamp (Mastodon)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text), tz=UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        # A reset time without an offset is read as UTC, the only zone providers use here.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """``Retry-After`` in seconds, from either of its RFC 9110 forms (delta-seconds or date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def default_error(provider: str, response: httpx.Response) -> ConnectorError:
    """The generic meaning of an error status, for providers with nothing more specific."""
    status = response.status_code
    reason = _status_reason(provider, response)
    if status == 401:
        return AuthError(
            f"{reason}: the access token is missing, expired or revoked; reconnect the account"
        )
    if status in _RETRY_STATUSES:
        return SendError(reason, retryable=True)
    return SendError(reason, retryable=False)


def error_detail(response: httpx.Response) -> str:
    """The provider's own words about an error, shortened for people to read."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:200]
    if isinstance(body, dict):
        for key in ("detail", "error_description", "error", "message", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:300]
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            value = first.get("detail") or first.get("message")
            if isinstance(value, str):
                return value[:300]
    return ""


def _status_reason(provider: str, response: httpx.Response) -> str:
    detail = error_detail(response)
    base = f"{provider} answered {response.status_code} {response.reason_phrase}".rstrip()
    if not detail or detail.casefold() == response.reason_phrase.casefold():
        return base  # "503 Service Unavailable", not "...: Service Unavailable" again
    return f"{base}: {detail}"


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


__all__ = [
    "DEFAULT_TIMEOUT",
    "ErrorMapper",
    "Gone",
    "GoneTest",
    "HttpClient",
    "RateLimit",
    "RetryPolicy",
    "UploadedFile",
    "default_error",
    "error_detail",
    "not_found",
    "parse_reset",
    "parse_retry_after",
    "read_rate_limit",
]
