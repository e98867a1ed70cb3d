"""Erased messages stay erased: ingest skips a message whose native id was erased with its
customer (``ErasedMessage``), in the one-message flow (flows.py) and the batch path (bulk.py).

Kept as SHA-256 digests of "brand account id:native id", not the ids: enough to recognise the
post if it comes again, nothing to look it up by. A new message from the same person has a new
id and comes in as from anyone new. Retention (contacts/retention.py) leaves no digests: the
conversations it erases are long past what a network sends again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from socialdesk.common import clock
from socialdesk.conversations.models import ErasedMessage


class ErasedMessageSkipped(Exception):
    """Raised by ingest for a message erased before: it is not stored again."""

    def __init__(self, brand_account_id: int, native_id: str) -> None:
        super().__init__(f"message {native_id!r} of account {brand_account_id} was erased")
        self.brand_account_id = brand_account_id
        self.native_id = native_id


def digest(brand_account_id: int, native_id: str) -> str:
    return hashlib.sha256(f"{brand_account_id}:{native_id}".encode()).hexdigest()


def remember(session: Session, *, organization_id: int, keys: Iterable[tuple[int, str]]) -> int:
    """Keep the digests of these (brand account id, native id) pairs; returns how many were
    new. Erasing the same post twice (it came back before this existed) keeps one."""
    now = clock.now()
    rows = [
        {
            "brand_account_id": account_id,
            "digest": digest(account_id, native_id),
            "organization_id": organization_id,
            "erased_at": now,
        }
        for account_id, native_id in sorted(set(keys))
    ]
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    result = session.execute(insert(ErasedMessage).values(rows).on_conflict_do_nothing())
    return int(result.rowcount)  # type: ignore[attr-defined]  # INSERT results carry rowcount


def any_in(session: Session, *, organization_id: int) -> bool:
    """Whether the organization ever erased a message (most never do: ingest then skips the
    look-up)."""
    found = session.scalar(
        select(ErasedMessage.digest)
        .where(ErasedMessage.organization_id == organization_id)
        .limit(1)
    )
    return found is not None


def is_erased(session: Session, *, brand_account_id: int, native_id: str) -> bool:
    return (
        session.get(ErasedMessage, (brand_account_id, digest(brand_account_id, native_id)))
        is not None
    )


def erased_among(
    session: Session, *, organization_id: int, keys: Iterable[tuple[int, str]]
) -> set[tuple[int, str]]:
    """Which of these (brand account id, native id) pairs were erased: one query, and none
    at all for an organization that never erased a message."""
    by_digest = {digest(a, n): (a, n) for a, n in keys}
    if not by_digest or not any_in(session, organization_id=organization_id):
        return set()
    # The whole list bound as one parameter, as the batch path binds its look-ups.
    from socialdesk.conversations.bulk import any_of

    found: set[tuple[int, str]] = set()
    for account_id, found_digest in session.execute(
        select(ErasedMessage.brand_account_id, ErasedMessage.digest).where(
            ErasedMessage.organization_id == organization_id,
            any_of(
                ErasedMessage.digest,
                list(by_digest),
                dialect=session.get_bind().dialect.name,
            ),
        )
    ):
        key = by_digest[found_digest]
        if key[0] == account_id:
            found.add(key)
    return found
