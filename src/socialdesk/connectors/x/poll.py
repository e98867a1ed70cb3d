"""Polling an X account: mentions (``since_id``) and, where the tier allows, direct messages.

The cursor is a small JSON object, ``{"mentions": "<newest post id>", "dms": "<newest direct
message id>"}``, so each stream keeps its own place. A bare id (an older cursor) is read as the
mentions position.

* Mentions: ``GET /2/users/:id/mentions?since_id=...``, newest first, followed through
  ``pagination_token`` so a burst larger than a page is not cut short.
  https://developer.x.com/en/docs/x-api/tweets/timelines/api-reference/get-users-id-mentions
* Direct messages: ``GET /2/dm_events`` has no ``since_id``; pages are read newest first until
  one reaches the cursor. https://developer.x.com/en/docs/x-api/direct-messages/lookup
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from socialdesk.connectors.base import JSON, PollResult, RawEvent, SendError
from socialdesk.connectors.http import HttpClient
from socialdesk.connectors.x.config import XAccount
from socialdesk.connectors.x.parse import (
    ANNOTATION,
    DM_EVENT_FIELDS,
    DM_EXPANSIONS,
    MEDIA_FIELDS,
    TWEET_EXPANSIONS,
    TWEET_FIELDS,
    USER_FIELDS,
    event_native_id,
    split_page,
)
from socialdesk.connectors.x.send import classify_error

log = logging.getLogger(__name__)

PAGE_SIZE = 100
FIRST_PAGE_SIZE = 20  # a first connection takes recent mentions, not the account's history
MAX_PAGES = 5


@dataclass(frozen=True, slots=True)
class Cursor:
    mentions: str | None = None
    dms: str | None = None

    @classmethod
    def read(cls, value: str | None) -> Cursor:
        if not value:
            return cls()
        if value.isdigit():
            return cls(mentions=value)
        try:
            data = json.loads(value)
        except ValueError:
            log.warning("ignoring an X cursor that is neither an id nor JSON: %r", value)
            return cls()
        if not isinstance(data, dict):
            return cls()
        return cls(mentions=_id_or_none(data.get("mentions")), dms=_id_or_none(data.get("dms")))

    def write(self) -> str | None:
        if self.mentions is None and self.dms is None:
            return None
        return json.dumps(
            {k: v for k, v in (("mentions", self.mentions), ("dms", self.dms)) if v},
            separators=(",", ":"),
        )


def poll(
    client: HttpClient,
    *,
    account: XAccount,
    user_id: str,
    cursor: str | None,
    brand_account_id: int,
    now: Callable[[], datetime],
) -> PollResult:
    place = Cursor.read(cursor)
    payloads, newest_mention = _mentions(client, account, user_id, place.mentions, brand_account_id)
    newest_dm = place.dms
    if account.poll_direct_messages:
        try:
            dm_payloads, newest_dm = _direct_messages(client, account, place.dms, brand_account_id)
        except SendError as exc:
            if exc.retryable:
                raise
            # A tier or permission refusal must not stop mentions from arriving; the direct
            # message position stays where it was and the reason is logged for the admin.
            log.warning("X direct messages not polled for account %s: %s", brand_account_id, exc)
        else:
            payloads += dm_payloads
    received_at = now()
    # Pages can overlap when posts arrive while they are read; one event per object.
    unique = {event_native_id(kind, payload): (kind, payload) for kind, payload in payloads}
    events = []
    for kind, payload in sorted(unique.values(), key=lambda kp: int(kp[1]["data"]["id"])):
        payload[ANNOTATION] = {"brand_user_id": user_id}
        events.append(
            RawEvent(
                native_id=event_native_id(kind, payload),
                kind=kind,
                payload=payload,
                received_at=received_at,
            )
        )
    return PollResult(events=events, cursor=Cursor(newest_mention, newest_dm).write())


def _mentions(
    client: HttpClient,
    account: XAccount,
    user_id: str,
    since_id: str | None,
    brand_account_id: int,
) -> tuple[list[tuple[str, JSON]], str | None]:
    found: list[tuple[str, JSON]] = []
    newest = since_id
    token: str | None = None
    for _ in range(MAX_PAGES):
        params: dict[str, Any] = {
            "max_results": PAGE_SIZE if since_id else FIRST_PAGE_SIZE,
            "tweet.fields": TWEET_FIELDS,
            "expansions": TWEET_EXPANSIONS,
            "user.fields": USER_FIELDS,
            "media.fields": MEDIA_FIELDS,
        }
        if since_id:
            params["since_id"] = since_id
        if token:
            params["pagination_token"] = token
        document = client.request(
            "GET",
            f"{account.api_base}/2/users/{user_id}/mentions",
            idempotent=True,
            bucket=f"{brand_account_id}:GET mentions",
            headers=account.headers(),
            params=params,
            error_mapper=classify_error,
        ).json()
        page = split_page(document, kind="mention")
        found += page
        meta = document.get("meta") or {}
        if meta.get("newest_id") and (newest is None or int(meta["newest_id"]) > int(newest)):
            newest = str(meta["newest_id"])
        token = meta.get("next_token")
        if not token or not since_id:
            break
    return found, newest


def _direct_messages(
    client: HttpClient, account: XAccount, after_id: str | None, brand_account_id: int
) -> tuple[list[tuple[str, JSON]], str | None]:
    found: list[tuple[str, JSON]] = []
    newest = after_id
    token: str | None = None
    for _ in range(MAX_PAGES):
        params: dict[str, Any] = {
            "max_results": PAGE_SIZE,
            "dm_event.fields": DM_EVENT_FIELDS,
            "event_types": "MessageCreate",
            "expansions": DM_EXPANSIONS,
            "user.fields": USER_FIELDS,
            "media.fields": MEDIA_FIELDS,
        }
        if token:
            params["pagination_token"] = token
        document = client.request(
            "GET",
            f"{account.api_base}/2/dm_events",
            idempotent=True,
            bucket=f"{brand_account_id}:GET dm_events",
            headers=account.headers(),
            params=params,
            error_mapper=classify_error,
        ).json()
        page = split_page(document, kind="dm")
        fresh = [kp for kp in page if after_id is None or int(kp[1]["data"]["id"]) > int(after_id)]
        found += fresh
        for _kind, payload in fresh:
            event_id = str(payload["data"]["id"])
            if newest is None or int(event_id) > int(newest):
                newest = event_id
        token = (document.get("meta") or {}).get("next_token")
        # Stop at the first page that reaches what was already seen (or on a first connection).
        if not token or after_id is None or len(fresh) < len(page):
            break
    return found, newest


def _id_or_none(value: object) -> str | None:
    return str(value) if isinstance(value, str | int) and str(value).isdigit() else None
