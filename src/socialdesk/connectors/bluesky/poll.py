"""Polling a Bluesky account's notifications: ``app.bsky.notification.listNotifications``.

The list runs newest first and its own ``cursor`` pages towards older items, so it cannot ask
"what came after X". The desk's cursor is therefore a watermark: the ``indexedAt`` of the newest
notification already handed over. A poll walks pages from the newest until it reaches the
watermark; items at exactly the watermark are handed over again and dropped by the desk's
idempotent store (same native id), which costs nothing and loses nothing when two notifications
share a timestamp. The poller never marks notifications as seen: people may read the same
account in the Bluesky app.

A notification carries the post's *record*, whose photos and video are blob references without
an address. The poller reads the *views* of the notified posts (``app.bsky.feed.getPosts``, at
most 25 URIs a call) and adds each view's ``embed`` to the payload under the annotation, where
the parser finds the addresses the AppView serves. When a call fails (after the shared client's
retries), its posts are handed over without their media: the messages arrive all the same, and
the poll says why in its warnings.
https://docs.bsky.app/docs/api/app-bsky-feed-get-posts
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from socialdesk.connectors.base import ConnectorError, PollResult, RawEvent
from socialdesk.connectors.bluesky.api import Xrpc
from socialdesk.connectors.bluesky.config import BlueskyAccount
from socialdesk.connectors.bluesky.parse import (
    ANNOTATION,
    IGNORED_REASONS,
    SUPPORTED_EVENTS,
    event_kind,
    event_native_id,
    parse_time,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 50
MAX_PAGES = 10  # per poll; the rest waits for the next poll, the watermark keeps the place
VIEWS_PER_CALL = 25  # the most URIs app.bsky.feed.getPosts takes


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
    kept = [item for item in items if item.get("reason") not in IGNORED_REASONS]
    skipped = len(items) - len(kept)
    # Items at the watermark were handed over, with their media, by the poll that set it; the
    # desk drops them again, so their views are not read again on every poll.
    posts = [
        str(item["uri"])
        for item in kept
        if event_kind(item) in SUPPORTED_EVENTS
        and (watermark is None or parse_time(item["indexedAt"]) > watermark)
    ]
    embeds, warnings = post_embeds(xrpc, account=account, uris=posts)
    received_at = now()
    events: list[RawEvent] = []
    for item in kept:
        payload = dict(item)
        annotation: dict[str, Any] = {}
        if brand_did:
            annotation["brand_did"] = brand_did
        if (embed := embeds.get(str(item["uri"]))) is not None:
            annotation["embed"] = embed
        if annotation:
            payload[ANNOTATION] = annotation
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
    return PollResult(
        events=events, cursor=newest or (cursor if watermark else None), warnings=warnings
    )


def post_embeds(
    xrpc: Xrpc, *, account: BlueskyAccount, uris: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The ``embed`` of each post's view (``app.bsky.feed.defs#postView``) by the post's URI,
    read in calls of :data:`VIEWS_PER_CALL`; posts without media, deleted or hidden ones are not
    in it. Also the warnings of the calls that failed: their posts come without media rather
    than not at all."""
    wanted = list(dict.fromkeys(uris))
    embeds: dict[str, dict[str, Any]] = {}
    missed: list[str] = []
    reasons: list[str] = []
    for start in range(0, len(wanted), VIEWS_PER_CALL):
        batch = wanted[start : start + VIEWS_PER_CALL]
        try:
            views = _views(xrpc, account, batch)
        except ConnectorError as exc:
            log.warning(
                "%s: the views of %d notified posts could not be read, so they arrive without "
                "their photos and videos: %s",
                account.provider,
                len(batch),
                exc.reason,
            )
            missed += batch
            reasons.append(exc.reason)
            continue
        for view in views:
            if isinstance(view, dict) and isinstance(view.get("embed"), dict):
                embeds[str(view.get("uri"))] = view["embed"]
    if not missed:
        return embeds, []
    return embeds, [
        f"{account.provider}: the photos and videos of {len(missed)} new posts could not be read "
        f"({'; '.join(dict.fromkeys(reasons))}); those messages arrived without them"
    ]


def _views(xrpc: Xrpc, account: BlueskyAccount, uris: list[str]) -> list[Any]:
    """The post views ``app.bsky.feed.getPosts`` answers for ``uris`` (the shared client's
    timeouts and retries apply)."""
    response, _ = xrpc.call(
        account, "GET", "app.bsky.feed.getPosts", idempotent=True, params={"uris": uris}
    )
    try:
        body = response.json()
    except ValueError as exc:
        raise ConnectorError(
            f"{account.provider} answered getPosts with something not JSON"
        ) from exc
    posts = body.get("posts") if isinstance(body, dict) else None
    return posts if isinstance(posts, list) else []


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
