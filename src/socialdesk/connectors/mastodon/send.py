"""Posting a reply on Mastodon: ``POST /api/v1/statuses``; withdrawing one:
``DELETE /api/v1/statuses/:id``; and what the instance allows.

https://docs.joinmastodon.org/methods/statuses/#create,
https://docs.joinmastodon.org/methods/statuses/#delete
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from socialdesk.connectors.base import (
    JSON,
    AuthError,
    ConnectorError,
    OutboundRequest,
    SendError,
    SendResult,
    Visibility,
)
from socialdesk.connectors.http import Gone, HttpClient, error_detail, not_found, read_rate_limit
from socialdesk.connectors.mastodon.config import MastodonAccount
from socialdesk.connectors.mastodon.parse import parse_time

DEFAULT_MAX_CHARACTERS = 500
DEFAULT_CHARACTERS_PER_URL = 23
# Mastodon's built-in poll limits (PollOptionsValidator, PollExpirationValidator), used where
# the instance does not state its own.
DEFAULT_POLL_MAX_OPTIONS = 4
DEFAULT_POLL_MAX_CHARACTERS_PER_OPTION = 50
DEFAULT_POLL_MIN_EXPIRATION = 300  # five minutes
DEFAULT_POLL_MAX_EXPIRATION = 2_629_746  # a month (an average Gregorian one, in seconds)


@dataclass(frozen=True, slots=True)
class InstancePollLimits:
    """The instance's poll limits (``configuration.polls`` of ``/api/v2/instance``), under
    Mastodon's names: choices per poll, characters per choice, and the shortest and longest
    time in seconds a poll may stay open."""

    max_options: int = DEFAULT_POLL_MAX_OPTIONS
    max_characters_per_option: int = DEFAULT_POLL_MAX_CHARACTERS_PER_OPTION
    min_expiration: int = DEFAULT_POLL_MIN_EXPIRATION
    max_expiration: int = DEFAULT_POLL_MAX_EXPIRATION


@dataclass(frozen=True, slots=True)
class InstanceLimits:
    """The instance's own post limits (``configuration.statuses`` of ``/api/v2/instance``) and
    poll limits (``configuration.polls``), read together so one cached document answers both."""

    max_characters: int = DEFAULT_MAX_CHARACTERS
    characters_per_url: int = DEFAULT_CHARACTERS_PER_URL
    polls: InstancePollLimits = InstancePollLimits()


def limits_from_instance(document: Any) -> InstanceLimits:
    """Read the limits from an instance document (v2, v1, or the ``max_toot_chars`` that some
    forks such as Pleroma and glitch-soc publish). Anything missing keeps Mastodon's default."""
    if not isinstance(document, dict):
        return InstanceLimits()
    configuration = _section(document, "configuration")
    statuses = _section(configuration, "statuses")
    max_chars = statuses.get("max_characters") or document.get("max_toot_chars")
    per_url = statuses.get("characters_reserved_per_url")
    return InstanceLimits(
        max_characters=_positive(max_chars, DEFAULT_MAX_CHARACTERS),
        characters_per_url=_positive(per_url, DEFAULT_CHARACTERS_PER_URL),
        polls=_poll_limits(_section(configuration, "polls"), _section(document, "poll_limits")),
    )


def _poll_limits(polls: dict[str, Any], fork: dict[str, Any]) -> InstancePollLimits:
    # ``fork`` is the ``poll_limits`` object Pleroma and Akkoma publish in /api/v1/instance
    # instead of ``configuration.polls``; its ``min_expiration`` of 0 is no limit at all, which
    # _positive reads as Mastodon's default: a little stricter than the server, never looser.
    return InstancePollLimits(
        max_options=_positive(
            polls.get("max_options") or fork.get("max_options"), DEFAULT_POLL_MAX_OPTIONS
        ),
        max_characters_per_option=_positive(
            polls.get("max_characters_per_option") or fork.get("max_option_chars"),
            DEFAULT_POLL_MAX_CHARACTERS_PER_OPTION,
        ),
        min_expiration=_positive(
            polls.get("min_expiration") or fork.get("min_expiration"),
            DEFAULT_POLL_MIN_EXPIRATION,
        ),
        max_expiration=_positive(
            polls.get("max_expiration") or fork.get("max_expiration"),
            DEFAULT_POLL_MAX_EXPIRATION,
        ),
    )


def fetch_instance_limits(client: HttpClient, account: MastodonAccount) -> InstanceLimits:
    """Ask the instance for its limits: ``/api/v2/instance`` (Mastodon 4.0+), else
    ``/api/v1/instance``; the default when neither answers usefully."""
    for path in ("/api/v2/instance", "/api/v1/instance"):
        try:
            response = client.request(
                "GET",
                account.instance_url + path,
                idempotent=True,
                headers=account.headers(),
            )
        except AuthError:
            raise
        except ConnectorError:
            continue
        try:
            return limits_from_instance(response.json())
        except ValueError:
            continue
    return InstanceLimits()


_MENTION_START = re.compile(r"^\s*(@[\w.-]+(?:@[\w.-]+)?\s+)*", re.UNICODE)


def with_mention(text: str, acct: str) -> str:
    """The text with a leading ``@acct`` unless it already mentions the recipient up front.

    On Mastodon a direct message reaches exactly the accounts it mentions, and a public reply
    notifies only them, so the recipient's mention is what delivers the reply.
    """
    acct = acct.lstrip("@")
    leading = _MENTION_START.match(text)
    mentioned = leading.group(0).split() if leading else []
    if any(m.lstrip("@").lower() == acct.lower() for m in mentioned):
        return text
    return f"@{acct} {text.lstrip()}"


def status_body(request: OutboundRequest, account: MastodonAccount) -> JSON:
    """The JSON body for ``POST /api/v1/statuses``."""
    if request.visibility is Visibility.NOTE:
        raise SendError("internal notes are never sent to Mastodon", retryable=False)
    direct = request.visibility is Visibility.DIRECT
    handle = request.recipient.handle if request.recipient is not None else None
    if direct and not handle:
        raise SendError(
            "a Mastodon direct message reaches only the accounts it mentions, and the "
            "recipient's handle is unknown",
            retryable=False,
        )
    text = with_mention(request.text, handle) if handle else request.text
    body: JSON = {
        "status": text,
        "visibility": "direct" if direct else account.reply_visibility,
    }
    if request.reply_to_native_id:
        body["in_reply_to_id"] = request.reply_to_native_id
    return body


def error_mapper(account: MastodonAccount) -> Callable[[httpx.Response], ConnectorError | None]:
    """What Mastodon's error statuses mean for a reply (the body is ``{"error": "..."}``)."""

    def mapped(response: httpx.Response) -> ConnectorError | None:
        detail = error_detail(response)
        status = response.status_code
        if status == 401:
            return AuthError(
                f"{account.provider} rejected the access token ({detail or 'unauthorized'}): "
                "it was revoked or the app was removed; connect the account again"
            )
        if status == 403:
            return SendError(
                f"{account.provider} refused the request ({detail or 'forbidden'}): the account "
                "may be suspended or limited, or the token lacks the write:statuses scope",
                retryable=False,
            )
        if status == 404:
            return SendError(
                f"{account.provider}: the post being answered no longer exists or is not visible "
                f"to the brand account ({detail or 'not found'})",
                retryable=False,
            )
        if status == 422:
            return SendError(
                f"{account.provider} rejected the reply: {detail or 'validation failed'}",
                retryable=False,
            )
        return None

    return mapped


def send_status(
    client: HttpClient,
    *,
    account: MastodonAccount,
    request: OutboundRequest,
    bucket: str,
    now: Callable[[], datetime],
) -> SendResult:
    """Post the reply. The Idempotency-Key makes a retried request return the status the first
    attempt created (Mastodon keeps keys for an hour), so the retry is safe."""
    body = status_body(request, account)
    response = client.request(
        "POST",
        account.instance_url + "/api/v1/statuses",
        idempotent=True,
        bucket=bucket,
        headers={**account.headers(), "Idempotency-Key": request.idempotency_key},
        json=body,
        error_mapper=error_mapper(account),
    )
    try:
        created = response.json()
        native_id = str(created["id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SendError(
            f"{account.provider} accepted the post but its answer has no status id; check the "
            "thread before sending again",
            retryable=False,
        ) from exc
    try:
        sent_at = parse_time(created.get("created_at"))
    except ValueError:
        sent_at = now()
    limit = read_rate_limit(response.headers)
    return SendResult(
        native_id=native_id,
        sent_at=sent_at,
        raw={
            "url": created.get("url"),
            "uri": created.get("uri"),
            "visibility": created.get("visibility"),
            "rate_limit_remaining": limit.remaining,
            "rate_limit_reset": limit.reset_at.isoformat() if limit.reset_at else None,
        },
    )


def delete_status(
    client: HttpClient, *, account: MastodonAccount, native_id: str, bucket: str
) -> None:
    """Delete the brand's status ``native_id``. The instance answers with the deleted status
    (its source text, for "delete and redraft"), which the desk does not need. Deleting twice
    is harmless, so the call is repeated after a temporary failure; a status the instance no
    longer knows (404) counts as withdrawn."""
    general = error_mapper(account)

    def mapped(response: httpx.Response) -> ConnectorError | None:
        if response.status_code == 403:
            return SendError(
                f"{account.provider} refused to delete the post "
                f"({error_detail(response) or 'forbidden'}): only the account that wrote it "
                "may, and the token needs the write:statuses scope",
                retryable=False,
            )
        return general(response)

    try:
        client.request(
            "DELETE",
            f"{account.instance_url}/api/v1/statuses/{native_id}",
            idempotent=True,
            bucket=bucket,
            headers=account.headers(),
            error_mapper=mapped,
            gone=not_found,
        )
    except Gone:
        return


def _section(document: dict[str, Any], key: str) -> dict[str, Any]:
    # A part of the instance document, or nothing when a server sends something else there.
    found = document.get(key)
    return found if isinstance(found, dict) else {}


def _positive(value: object, default: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.isdigit() and int(value) > 0:
        return int(value)
    return default
