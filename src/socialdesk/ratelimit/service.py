"""Fixed-window counters kept in the database.

``hit`` counts one request against a key and says whether it is within the limit, in one
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` statement (SQLite and PostgreSQL), so two
processes counting at once never lose a hit. The count is part of the caller's transaction: a
request that is rolled back (refused for another reason) did not count. Addresses are stored
as a keyed hash (``keyed``), never as they came.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, delete, literal
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
    """Count one hit on ``key``; True while the window's hits are at most ``limit``. A window
    that has run out starts again at this hit."""
    now = now or clock.now()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stale = RateCounter.window_start <= now - window
    counted = (
        insert(RateCounter)
        .values(key=key, window_start=now, hits=1)
        .on_conflict_do_update(
            index_elements=[RateCounter.key],
            set_={
                "hits": case((stale, 1), else_=RateCounter.hits + 1),
                "window_start": case(
                    (stale, literal(now, UTCDateTime())), else_=RateCounter.window_start
                ),
            },
        )
        .returning(RateCounter.hits)
    )
    hits = session.execute(counted).scalar_one()
    return int(hits) <= limit


def address_allowed(
    session: Session, scope: str, address: str | None, *, limit: int, window: timedelta
) -> bool:
    """Count one request from a network address under ``scope`` ("login", "chat:<account>");
    True while it is within ``limit`` per ``window``. No limit (0) or no known address: True,
    uncounted."""
    if limit <= 0 or address is None:
        return True
    return hit(session, f"{scope}:{keyed(address)}", limit=limit, window=window)


def prune(session: Session, *, now: datetime | None = None) -> int:
    """Drop counters idle for longer than ``KEEP``; returns how many."""
    now = now or clock.now()
    result = session.execute(delete(RateCounter).where(RateCounter.window_start < now - KEEP))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]  # CursorResult at run time
