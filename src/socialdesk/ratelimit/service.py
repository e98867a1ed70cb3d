"""Sliding-window counters kept in the database.

``hit`` counts one request against a key and says whether it is within the limit, in one
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` statement (SQLite and PostgreSQL), so two
processes counting at once never lose a hit. A counter keeps the hits of its current window and
of the one before; the requests of the last ``window`` are estimated as the current hits plus
the previous window's hits in proportion to how much of it the last ``window`` still covers
(the usual sliding-window approximation). Fixed windows alone let a burst at the end of one
window and the start of the next reach twice the limit. The count is part of the caller's
transaction: a request that is rolled back (refused for another reason) did not count.
Addresses are stored as a keyed hash (``keyed``), never as they came.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import case, delete, literal, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from socialdesk.common import clock
from socialdesk.common.crypto import hash_token
from socialdesk.db.types import UTCDateTime
from socialdesk.ratelimit.models import RateCounter

# Counters whose window started longer ago than this are dropped by the periodic prune.
KEEP = timedelta(days=1)


def keyed(value: str) -> str:
    """A stable, secret-keyed digest of ``value`` (an IP address) to count it by."""
    return hash_token(f"ratelimit:{value}")[:32]


def hit(
    session: Session, key: str, *, limit: int, window: timedelta, now: datetime | None = None
) -> bool:
    """Count one hit on ``key``; True while the estimated hits of the last ``window`` are at
    most ``limit``. A refused hit counts too, so a client that keeps trying stays refused.

    Windows are aligned (they start at whole multiples of ``window`` since the epoch), so every
    boundary is computed here and the statement only compares stored times with them.
    """
    now = now or clock.now()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    size = window.total_seconds()
    aligned = datetime.fromtimestamp(now.timestamp() // size * size, tz=UTC)
    start = RateCounter.window_start
    current = start >= aligned
    previous = start >= aligned - window  # and not current: the window just before
    counted = (
        insert(RateCounter)
        .values(key=key, window_start=aligned, hits=1, previous_hits=0)
        .on_conflict_do_update(
            index_elements=[RateCounter.key],
            set_={
                "hits": case((current, RateCounter.hits + 1), else_=1),
                "previous_hits": case(
                    (current, RateCounter.previous_hits), (previous, RateCounter.hits), else_=0
                ),
                "window_start": case((current, start), else_=literal(aligned, UTCDateTime())),
            },
        )
        .returning(RateCounter.hits, RateCounter.previous_hits)
    )
    hits, previous_hits = session.execute(counted).one()
    overlap = 1.0 - (now - aligned) / window  # of the previous window, still in the last one
    return bool(hits + previous_hits * overlap <= limit)


def address_allowed(
    session: Session, scope: str, address: str | None, *, limit: int, window: timedelta
) -> bool:
    """Count one request from a network address under ``scope`` ("login", "chat:<account>");
    True while it is within ``limit`` per ``window``. No limit (0) or no known address: True,
    uncounted."""
    if limit <= 0 or address is None:
        return True
    return hit(session, f"{scope}:{keyed(address)}", limit=limit, window=window)


def forgive_address(session: Session, scope: str, address: str | None) -> None:
    """Take back one counted request from ``address`` under ``scope``: it turned out to be one
    the limit is not meant for (a login that succeeded), so only the others count. Made in the
    caller's transaction, like the hit it undoes. The newest counted hits are those of the
    counter's own window, so that is where one is taken back."""
    if address is None:
        return
    key = f"{scope}:{keyed(address)}"
    session.execute(
        update(RateCounter)
        .where(RateCounter.key == key)
        .values(hits=case((RateCounter.hits > 0, RateCounter.hits - 1), else_=0))
    )


def prune(session: Session, *, now: datetime | None = None) -> int:
    """Drop counters idle for longer than ``KEEP``; returns how many."""
    now = now or clock.now()
    result = session.execute(delete(RateCounter).where(RateCounter.window_start < now - KEEP))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]  # CursorResult at run time
