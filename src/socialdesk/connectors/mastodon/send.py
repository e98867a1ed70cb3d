"""Posting a reply on Mastodon: its files with ``POST /api/v2/media``, then the reply with
``POST /api/v1/statuses``; withdrawing one: ``DELETE /api/v1/statuses/:id``; and what the
instance allows.

https://docs.joinmastodon.org/methods/media/#v2,
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
    Attachment,
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
# Mastodon's built-in limit of files per status (configuration.statuses.max_media_attachments).
DEFAULT_MAX_MEDIA_ATTACHMENTS = 4
# An upload the instance still processes (202, ``url: null``) is asked after again this many
# times, pausing 1 s, 2 s, 4 s... (at most MEDIA_MAX_PAUSE) in between: about a minute in all.
# This runs in the delivery job; when the tries run out, the job retries the send later.
MEDIA_POLL_TRIES = 7
MEDIA_FIRST_PAUSE = 1.0
MEDIA_MAX_PAUSE = 16.0


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
    max_media_attachments: int = DEFAULT_MAX_MEDIA_ATTACHMENTS


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
        max_media_attachments=_positive(
            statuses.get("max_media_attachments"), DEFAULT_MAX_MEDIA_ATTACHMENTS
        ),
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


def status_body(
    request: OutboundRequest, account: MastodonAccount, media_ids: list[str] | None = None
) -> JSON:
    """The JSON body for ``POST /api/v1/statuses``; ``media_ids`` are the reply's uploaded
    files, in the author's order."""
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
    if media_ids:
        body["media_ids"] = list(media_ids)
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


def upload_error_mapper(
    account: MastodonAccount, name: str
) -> Callable[[httpx.Response], ConnectorError | None]:
    """What Mastodon's error statuses mean for the upload of the file ``name``."""
    general = error_mapper(account)

    def mapped(response: httpx.Response) -> ConnectorError | None:
        detail = error_detail(response)
        status = response.status_code
        if status == 403:
            # write:media was added to the scopes the desk asks for after accounts were first
            # connected; their tokens post replies but cannot upload.
            return AuthError(
                f"{account.provider} refused to take the file {name!r} "
                f"({detail or 'forbidden'}): the account's token lacks the write:media scope; "
                "connect the account again to send files"
            )
        if status == 413:
            # Often the web server's own page rather than Mastodon's JSON: no detail worth showing.
            return SendError(
                f"{account.provider} refused the file {name!r}: it is larger than the instance "
                "accepts (413 Payload Too Large)",
                retryable=False,
            )
        if status in {415, 422}:
            return SendError(
                f"{account.provider} refused the file {name!r}: "
                f"{detail or response.reason_phrase or 'not accepted'}",
                retryable=False,
            )
        if status == 404 and response.request.method == "GET":
            # The upload vanished while the instance processed it: a new send uploads again.
            return SendError(
                f"{account.provider} lost the upload of the file {name!r}; will try again later",
                retryable=True,
            )
        if status == 404:
            return SendError(
                f"{account.provider} does not take media uploads (POST /api/v2/media answered "
                f"404 for {name!r}); send the reply without files",
                retryable=False,
            )
        return general(response)

    return mapped


def upload_media(
    client: HttpClient,
    *,
    account: MastodonAccount,
    attachment: Attachment,
    bucket: str,
    poll_bucket: str,
    sleep: Callable[[float], None],
) -> str:
    """Upload one file and return its media id once the instance has processed it.

    An upload carries no idempotency key, so repeating it after an unknown outcome leaves at
    worst an unused upload, which the instance removes on its own: the request is idempotent
    for the client. A large file answers 202 with ``url: null`` while the instance processes
    it; ``GET /api/v1/media/:id`` then answers 206 until it is ready (200).
    https://docs.joinmastodon.org/methods/media/#get
    """
    name = attachment.name or "file"
    if attachment.content is None:
        raise SendError(
            f"the file {name!r} has no content to upload to {account.provider}", retryable=False
        )
    form = {"description": attachment.description} if attachment.description else {}
    mapper = upload_error_mapper(account, name)
    response = client.request(
        "POST",
        account.instance_url + "/api/v2/media",
        idempotent=True,
        bucket=bucket,
        headers=account.headers(),
        data=form,
        files={
            "file": (name, attachment.content, attachment.mime_type or "application/octet-stream")
        },
        error_mapper=mapper,
    )
    media = _media(response, account, name)
    pause = MEDIA_FIRST_PAUSE
    for _ in range(MEDIA_POLL_TRIES):
        if media.get("url") is not None:
            return str(media["id"])
        sleep(pause)
        pause = min(pause * 2, MEDIA_MAX_PAUSE)
        response = client.request(
            "GET",
            f"{account.instance_url}/api/v1/media/{media['id']}",
            idempotent=True,
            bucket=poll_bucket,
            headers=account.headers(),
            error_mapper=mapper,
        )
        media = _media(response, account, name)
    if media.get("url") is not None:
        return str(media["id"])
    raise SendError(
        f"{account.provider} is still processing the file {name!r}; will try again later",
        retryable=True,
        retry_after_seconds=MEDIA_MAX_PAUSE,
    )


def _media(response: httpx.Response, account: MastodonAccount, name: str) -> dict[str, Any]:
    # A MediaAttachment: https://docs.joinmastodon.org/entities/MediaAttachment/
    try:
        media = response.json()
    except ValueError:
        media = None
    if not isinstance(media, dict) or not media.get("id"):
        raise SendError(
            f"{account.provider} took the file {name!r} but its answer has no media id; "
            "will try again later",
            retryable=True,
        )
    return media


def send_status(
    client: HttpClient,
    *,
    account: MastodonAccount,
    request: OutboundRequest,
    bucket: str,
    media_bucket: str,
    api_bucket: str,
    now: Callable[[], datetime],
    sleep: Callable[[float], None],
) -> SendResult:
    """Upload the reply's files, then post the reply with them. The Idempotency-Key makes a
    retried request return the status the first attempt created (Mastodon keeps keys for an
    hour), so the retry is safe; a retried send uploads its files again, which only leaves the
    first uploads unused."""
    status_body(request, account)  # refuses a note or an unknown recipient before any upload
    media_ids = [
        upload_media(
            client,
            account=account,
            attachment=attachment,
            bucket=media_bucket,
            poll_bucket=api_bucket,
            sleep=sleep,
        )
        for attachment in request.attachments
    ]
    body = status_body(request, account, media_ids)
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
