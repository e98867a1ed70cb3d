"""What the AT Protocol's XRPC answers mean for the desk.

Errors come as ``{"error": "<Name>", "message": "<text>"}`` with an HTTP status. Rate limits
come as ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset`` (epoch seconds) and
``RateLimit-Policy`` headers (IETF draft names, which the shared client does not read).
https://atproto.com/specs/xrpc#error-responses and
https://docs.bsky.app/docs/advanced-guides/rate-limits
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx

from socialdesk.connectors.base import AuthError, ConnectorError, SendError
from socialdesk.connectors.http import ErrorMapper, RateLimit, parse_reset

# Names the server uses when the access token is not (or no longer) good; a fresh session
# from the refresh token or the app password fixes these.
SESSION_ERRORS = frozenset({"ExpiredToken", "InvalidToken"})
# The account itself cannot act: no new session will help.
ACCOUNT_ERRORS = {
    "AccountTakedown": "the account was taken down by its server's moderators",
    "AccountDeactivated": "the account is deactivated; reactivate it in the Bluesky app",
    "AccountSuspended": "the account is suspended",
}


class Rejected(SendError):
    """The server looked at the request and refused it: sending it again cannot help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, retryable=False)


class RateLimited(SendError):
    """Too many requests: the request was not processed; try again after the reset."""

    def __init__(self, reason: str, *, retry_after_seconds: float | None) -> None:
        super().__init__(reason, retryable=True, retry_after_seconds=retry_after_seconds)


class SessionRejected(AuthError):
    """The server refused the access (or refresh) token. The session layer renews the session
    and repeats the call once; when that is impossible it surfaces as an :class:`AuthError`."""


def error_name(response: httpx.Response) -> tuple[str, str]:
    """The XRPC error name and message of a response (empty strings when absent)."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text.strip()[:200]
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error") or ""), str(body.get("message") or "")[:300]


def read_ratelimit(headers: httpx.Headers) -> RateLimit:
    return RateLimit(
        limit=_int(headers.get("ratelimit-limit")),
        remaining=_int(headers.get("ratelimit-remaining")),
        reset_at=parse_reset(headers.get("ratelimit-reset")),
    )


def error_mapper(provider: str, *, now: Callable[[], datetime]) -> ErrorMapper:
    """Turn XRPC errors into connector errors; None leaves 5xx and network trouble to the
    shared client's retries."""

    def mapped(response: httpx.Response) -> ConnectorError | None:
        status = response.status_code
        name, message = error_name(response)
        detail = f"{name}: {message}" if name and message else (name or message)
        if name in ACCOUNT_ERRORS:
            return AuthError(f"{provider}: {ACCOUNT_ERRORS[name]} ({detail})")
        if name in SESSION_ERRORS or status == 401:
            return SessionRejected(
                f"{provider} refused the session ({detail or status}); sign in again"
            )
        if status == 429 or name == "RateLimitExceeded":
            limit = read_ratelimit(response.headers)
            wait = None
            if limit.reset_at is not None:
                wait = max(1.0, (limit.reset_at - now()).total_seconds())
            when = f"; it resets at {limit.reset_at.isoformat()}" if limit.reset_at else ""
            return RateLimited(
                f"{provider} rate limit reached ({detail or 'too many requests'}){when}",
                retry_after_seconds=wait,
            )
        if status == 403:
            return Rejected(
                f"{provider} refused the request ({detail or 'forbidden'}): the app password "
                "may lack a permission, or the account may not act here"
            )
        if status in (400, 404, 413):
            return Rejected(f"{provider} rejected the request: {detail or status}")
        return None

    return mapped


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None
