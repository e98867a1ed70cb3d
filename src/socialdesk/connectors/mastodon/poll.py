"""Polling a Mastodon account's mentions: ``GET /api/v1/notifications?types[]=mention``.

The cursor is the newest notification id already handed to the desk. Pages are requested with
``min_id`` rather than ``since_id``: both return only newer notifications, but ``since_id`` gives
the newest page and silently skips what lies between it and the cursor when more than a page
arrived, while ``min_id`` gives the page right after the cursor, so walking forward loses
nothing. https://docs.joinmastodon.org/api/guidelines/#pagination
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from socialdesk.connectors.base import (
    AuthError,
    ConnectorError,
    PollResult,
    RawEvent,
)
from socialdesk.connectors.http import HttpClient
from socialdesk.connectors.mastodon.config import MastodonAccount
from socialdesk.connectors.mastodon.parse import ANNOTATION, event_kind, event_native_id

log = logging.getLogger(__name__)

PAGE_SIZE = 40  # the most Mastodon returns per page
MAX_PAGES = 10  # per poll; the rest waits for the next poll, the cursor keeps the place


def poll_mentions(
    client: HttpClient,
    *,
    account: MastodonAccount,
    brand_native_id: str | None,
    cursor: str | None,
    bucket: str,
    now: Callable[[], datetime],
) -> PollResult:
    """New mention notifications after ``cursor``, oldest first, each as a raw event."""
    since = _valid_cursor(cursor)
    notifications: list[dict[str, Any]] = []
    newest = since
    for _ in range(MAX_PAGES):
        params: list[tuple[str, Any]] = [("types[]", "mention"), ("limit", PAGE_SIZE)]
        if newest is not None:
            params.append(("min_id", newest))
        response = client.request(
            "GET",
            account.instance_url + "/api/v1/notifications",
            idempotent=True,
            bucket=bucket,
            headers=account.headers(),
            params=params,
        )
        page = [n for n in response.json() if isinstance(n, dict) and "id" in n]
        fresh = [n for n in page if newest is None or int(n["id"]) > int(newest)]
        if not fresh:
            break
        notifications.extend(fresh)
        newest = str(max(int(n["id"]) for n in fresh))
        # Without a cursor this is a first connection: take the latest page, not the history.
        if since is None or len(page) < PAGE_SIZE:
            break
    notifications.sort(key=lambda n: int(n["id"]))
    received_at = now()
    events = []
    for notification in notifications:
        annotation: dict[str, Any] = {}
        if brand_native_id is not None:
            annotation["brand_account_id"] = brand_native_id
        status = notification.get("status")
        if isinstance(status, dict) and status.get("visibility") == "direct":
            root = thread_root(client, account=account, status=status, bucket=bucket)
            if root is not None:
                annotation["thread_root_id"] = root
        payload = dict(notification)
        if annotation:
            payload[ANNOTATION] = annotation
        kind = event_kind("notification", notification)
        events.append(
            RawEvent(
                native_id=event_native_id(kind, notification),
                kind=kind,
                payload=payload,
                received_at=received_at,
            )
        )
    return PollResult(events=events, cursor=newest)


def thread_root(
    client: HttpClient, *, account: MastodonAccount, status: dict[str, Any], bucket: str
) -> str | None:
    """The first status of the thread ``status`` belongs to, from its context."""
    if status.get("in_reply_to_id") is None:
        return str(status["id"])
    try:
        response = client.request(
            "GET",
            f"{account.instance_url}/api/v1/statuses/{status['id']}/context",
            idempotent=True,
            bucket=bucket,
            headers=account.headers(),
        )
    except AuthError:
        raise
    except ConnectorError as exc:
        # The message is still worth delivering; it threads by its reply id instead.
        log.info("%s: no context for status %s: %s", account.provider, status["id"], exc)
        return None
    ancestors = response.json().get("ancestors") or []
    if ancestors and isinstance(ancestors[0], dict) and "id" in ancestors[0]:
        return str(ancestors[0]["id"])
    return None


def _valid_cursor(cursor: str | None) -> str | None:
    if cursor is None or cursor == "":
        return None
    if not cursor.isdigit():
        # Mastodon ids are decimal strings; anything else was not written by this poller.
        log.warning("ignoring a Mastodon cursor that is not a notification id: %r", cursor)
        return None
    return cursor
