"""Keeping each brand account within its channel's rate of sends.

A connector declares how many sends its network allows one account per window
(``Capabilities.rate_limit`` and ``rate_window_seconds``: Mastodon's 300 statuses in 3 hours,
X's 200 posts in 15 minutes). Networks that see an account go over do more than refuse the
next post: they throttle it for longer, or flag it. So the desk counts sends itself, in a
window kept on the brand account's row, and a reply over the rate waits in the queue for the
next window instead of being sent into a refusal.

The window is fixed: it starts with the first send after the previous one ended, as the
networks' own windows do. The count is taken while the delivery claims the message, in the
same transaction, with the account's row locked (PostgreSQL) or the database's one writer
(SQLite), so workers on several machines share it. A claim that does not go ahead rolls the
count back with it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from socialdesk.channels.models import BrandAccount
from socialdesk.connectors.base import Capabilities


def take_send(
    session: Session, *, brand_account_id: int, capabilities: Capabilities, now: datetime
) -> datetime | None:
    """Count one send of the account against its channel's rate. Returns None when it may
    go now, or when the window ends and the next send may go (nothing is counted then)."""
    limit = capabilities.rate_limit
    if limit is None:
        return None
    account = session.get(
        BrandAccount, brand_account_id, with_for_update=True, populate_existing=True
    )
    assert account is not None  # brand accounts are never deleted while they have messages
    window = timedelta(seconds=capabilities.rate_window_seconds)
    started = account.send_window_started_at
    if started is None or not started <= now < started + window:
        account.send_window_started_at = now
        account.send_window_count = 1
        return None
    if account.send_window_count >= limit:
        return started + window
    account.send_window_count += 1
    return None


def describe(capabilities: Capabilities, channel: str, *, until: datetime) -> str:
    """Why a reply waits, for the people who see it queued."""
    return (
        f"{channel} takes at most {capabilities.rate_limit} posts from one account in "
        f"{_span(capabilities.rate_window_seconds)}; this one waits for the next window, at "
        f"{until:%H:%M} UTC"
    )


def _span(seconds: int) -> str:
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}" if count == 1 else f"{count} {unit}s"
    return f"{seconds} seconds"
