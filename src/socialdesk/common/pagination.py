"""Opaque cursors for keyset pagination (stable under inserts, fast at any depth), and their
binding to the one API list that issued each."""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from socialdesk.common import crypto
from socialdesk.common.errors import ValidationFailed

T = TypeVar("T")

MAX_LIMIT = 200
# Rows are numbered in 64-bit integers on both databases (see schemas.RowId).
MAX_ROW_ID = 2**63 - 1


def parse_row_id(raw: str, field: str) -> int:
    """An id typed or picked in a form or a query string. An id past 64 bits names nothing
    either database could even look up: refused here, by field, instead of failing there."""
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(f"{field} must be a number, not {raw!r}", field=field) from None
    if value < 1:
        raise ValidationFailed(f"{field} must be a positive number", field=field)
    if value > MAX_ROW_ID:
        raise ValidationFailed(f"{field} {raw!r} names nothing in the list", field=field)
    return value


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(when: datetime, row_id: int) -> str:
    raw = json.dumps([when.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        when, row_id = json.loads(base64.urlsafe_b64decode(padded))
        parsed = datetime.fromisoformat(when)
        if parsed.tzinfo is None or not isinstance(row_id, int) or not 0 <= row_id <= MAX_ROW_ID:
            raise ValueError  # beyond 64 bits the database could not even compare it
    except (ValueError, TypeError, json.JSONDecodeError):
        raise ValidationFailed("cursor is not one this server issued", field="cursor") from None
    return parsed, row_id


# A cursor handed out by the API ends with a keyed digest of the cursor and of the list it
# continues: ".<16 characters>".
_BOUND_MARK = "."


def bind_cursor(cursor: str | None, *, scope: str) -> str | None:
    """``cursor`` as the API hands it out: followed by a keyed digest of itself and of
    ``scope``, the list it continues (its path, filters and order, who asks). Another list
    refuses it (it would give that list wrong pages without a word), and so does every list
    once it is edited."""
    if cursor is None:
        return None
    return f"{cursor}{_BOUND_MARK}{_cursor_digest(cursor, scope)}"


def unbind_cursor(cursor: str | None, *, scope: str) -> str | None:
    """The cursor inside one that ``bind_cursor`` made for ``scope``; None for the first
    page. Any other cursor is refused, naming the parameter."""
    if not cursor:
        return None
    inner, _, mac = cursor.rpartition(_BOUND_MARK)
    if not inner or not hmac.compare_digest(mac.encode(), _cursor_digest(inner, scope).encode()):
        raise ValidationFailed(
            "cursor is not one this server issued for this list: pass back, unchanged, the "
            "next_cursor of a page of this list (the same path, filters and order, asked by "
            "the same member), or leave cursor out for the first page",
            field="cursor",
        )
    return inner


def _cursor_digest(cursor: str, scope: str) -> str:
    return crypto.digest("cursor", json.dumps([scope, cursor]))


def clamp_limit(limit: int) -> int:
    if limit < 1:
        raise ValidationFailed("limit must be at least 1", field="limit")
    return min(limit, MAX_LIMIT)


def keyset_page(
    session: Session,
    stmt: Select[T],
    *,
    when: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[int],
    key: Callable[[T], tuple[datetime, int]],
    cursor: str | None,
    limit: int,
    newest_first: bool,
) -> Page[T]:
    """One page of ``stmt`` ordered by (``when``, ``row_id``), after ``cursor``. ``key`` reads
    the same two values from a row, to build the next cursor. Fetches one row more than asked
    to know whether another page exists."""
    limit = clamp_limit(limit)
    if cursor:
        at, last_id = decode_cursor(cursor)
        if newest_first:
            after = or_(when < at, and_(when == at, row_id < last_id))
        else:
            after = or_(when > at, and_(when == at, row_id > last_id))
        stmt = stmt.where(after)
    order = (when.desc(), row_id.desc()) if newest_first else (when.asc(), row_id.asc())
    rows = list(session.scalars(stmt.order_by(*order).limit(limit + 1)))
    if len(rows) <= limit:
        return Page(items=rows, next_cursor=None)
    rows = rows[:limit]
    return Page(items=rows, next_cursor=encode_cursor(*key(rows[-1])))
