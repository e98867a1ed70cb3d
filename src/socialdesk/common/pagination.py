"""Opaque cursors for keyset pagination (stable under inserts, fast at any depth)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from socialdesk.common.errors import ValidationFailed

T = TypeVar("T")

MAX_LIMIT = 200


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
        if parsed.tzinfo is None or not isinstance(row_id, int):
            raise ValueError
    except (ValueError, TypeError, json.JSONDecodeError):
        raise ValidationFailed("cursor is not one this server issued", field="cursor") from None
    return parsed, row_id


def clamp_limit(limit: int) -> int:
    if limit < 1:
        raise ValidationFailed("limit must be at least 1", field="limit")
    return min(limit, MAX_LIMIT)
