"""Polling a Bluesky account's notifications: ``app.bsky.notification.listNotifications``.

The list runs newest first and its own ``cursor`` pages towards older items, so it cannot ask
"what came after X". The desk's cursor is therefore a watermark: the ``indexedAt`` of the newest
notification already handed over. A poll walks pages from the newest until it reaches the
watermark; items at exactly the watermark are handed over again and dropped by the desk's
idempotent store (same native id), which costs nothing and loses nothing when two notifications
share a timestamp. The poller never marks notifications as seen: people may read the same
account in the Bluesky app.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from socialdesk.connectors.base import PollResult, RawEvent
from socialdesk.connectors.bluesky.api import Xrpc
from socialdesk.connectors.bluesky.config import BlueskyAccount
from socialdesk.connectors.bluesky.parse import (
    ANNOTATION,
    IGNORED_REASONS,
    event_kind,
    event_native_id,
    parse_time,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 50
MAX_PAGES = 10  # per poll; the rest waits for the next poll, the watermark keeps the place


def poll_notifications(
    xrpc: Xrpc,
    *,
    account: BlueskyAccount,
    cursor: str | None,
    now: Callable[[], datetime],
) -> PollResult:
    """New notifications after the watermark ``cursor``, oldest first, as raw events.

    Likes, reposts, follows and the like are dropped here (they would only fill the event
    store); reasons this connector does not know are handed over, so the desk records them as
    ignored with a log line.
    """
    watermark = _valid_cursor(cursor)
    found: dict[str, dict[str, Any]] = {}
    page_cursor: str | None = None
    brand_did: str | None = None
    for _ in range(MAX_PAGES):
        params: dict[str, Any] = {"limit": PAGE_SIZE}
        if page_cursor is not None:
            params["cursor"] = page_cursor
        response, session = xrpc.call(
            account,
            "GET",
            "app.bsky.notification.listNotifications",
            idempotent=True,
            params=params,
        )
        brand_did = session.did
        body = response.json()
        page = [n for n in body.get("notifications") or [] if _usable(n)]
        reached = False
        for item in page:
            at = parse_time(item["indexedAt"])
            if watermark is not None and at < watermark:
                reached = True
                continue
            found.setdefault(event_native_id(item), item)
        page_cursor = body.get("cursor") or None
        # Without a watermark this is a first connection: the latest page, not the history.
        if reached or watermark is None or page_cursor is None or len(page) < PAGE_SIZE:
            break
    else:
        log.info(
            "%s: more than %d pages of notifications; the rest next time",
            account.provider,
            MAX_PAGES,
        )
    items = sorted(found.values(), key=lambda n: (parse_time(n["indexedAt"]), str(n["uri"])))
    received_at = now()
    events: list[RawEvent] = []
    skipped = 0
    for item in items:
        if item.get("reason") in IGNORED_REASONS:
            skipped += 1
            continue
        payload = dict(item)
        if brand_did:
            payload[ANNOTATION] = {"brand_did": brand_did}
        events.append(
            RawEvent(
                native_id=event_native_id(item),
                kind=event_kind(item),
                payload=payload,
                received_at=received_at,
            )
        )
    if skipped:
        log.debug("%s: %d likes, reposts or follows not stored", account.provider, skipped)
    newest = max((str(n["indexedAt"]) for n in items), key=parse_time, default=None)
    return PollResult(events=events, cursor=newest or (cursor if watermark else None))


def _usable(item: object) -> bool:
    if not (isinstance(item, dict) and isinstance(item.get("uri"), str)):
        return False
    try:
        parse_time(item.get("indexedAt"))
    except ValueError:
        log.warning(
            "ignoring a Bluesky notification without a valid indexedAt: %r", item.get("uri")
        )
        return False
    return True


def _valid_cursor(cursor: str | None) -> datetime | None:
    if not cursor:
        return None
    try:
        return parse_time(cursor)
    except ValueError:
        # Not written by this poller (an older format, or edited by hand): start afresh.
        log.warning("ignoring a Bluesky cursor that is not a timestamp: %r", cursor)
        return None
