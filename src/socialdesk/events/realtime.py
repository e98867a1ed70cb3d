"""Live updates across processes and machines.

Every event is written to ``event_records`` in the transaction that caused it (events/bus.py).
Each process runs one poller that reads new records and fans them out to its subscribers
(server-sent event streams), so a change made by any process on any host reaches every open
desk. With PostgreSQL the records travel through the shared database; SQLite serves processes
on one machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from socialdesk.common import clock
from socialdesk.events.models import EventRecord

log = logging.getLogger(__name__)

RETENTION = timedelta(days=2)
# Kinds that matter only for a short while (who has a conversation open) and are many: kept for
# less time than the rest. Filled by the domains that emit them (``retain``).
_SHORT_RETENTION: dict[str, timedelta] = {}


def retain(kind: str, period: timedelta) -> None:
    """Keep live events of ``kind`` for ``period`` only (less than ``RETENTION``)."""
    _SHORT_RETENTION[kind] = min(period, RETENTION)


@dataclass(frozen=True)
class LiveEvent:
    id: int
    organization_id: int
    kind: str
    payload: dict[str, Any]


class Hub:
    def __init__(
        self, session_factory: Callable[[], Session], *, poll_seconds: float = 0.5
    ) -> None:
        self._session_factory = session_factory
        self._poll_seconds = poll_seconds
        self._subscribers: set[tuple[int, asyncio.Queue[LiveEvent]]] = set()
        self._task: asyncio.Task[None] | None = None
        self._last_id: int | None = None

    def _read_since(self, last_id: int | None) -> tuple[int, list[LiveEvent]]:
        with self._session_factory() as session:
            if last_id is None:
                return int(session.scalar(select(func.max(EventRecord.id))) or 0), []
            rows = session.scalars(
                select(EventRecord)
                .where(EventRecord.id > last_id)
                .order_by(EventRecord.id)
                .limit(1000)
            ).all()
            events = [LiveEvent(r.id, r.organization_id, r.kind, dict(r.payload)) for r in rows]
            return (events[-1].id if events else last_id), events

    async def _run(self) -> None:
        while self._subscribers:
            try:
                self._last_id, events = await asyncio.to_thread(self._read_since, self._last_id)
            except Exception:
                log.exception("reading live events failed; retrying")
                events = []
            for event in events:
                for organization_id, queue in list(self._subscribers):
                    if organization_id == event.organization_id:
                        queue.put_nowait(event)
            await asyncio.sleep(self._poll_seconds)
        self._task = None

    async def subscribe(self, organization_id: int) -> AsyncIterator[LiveEvent]:
        queue: asyncio.Queue[LiveEvent] = asyncio.Queue(maxsize=10_000)
        entry = (organization_id, queue)
        if self._last_id is None:
            self._last_id, _ = await asyncio.to_thread(self._read_since, None)
        self._subscribers.add(entry)
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers.discard(entry)

    async def close(self) -> None:
        self._subscribers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def prune(session: Session) -> int:
    """Live events are for live views; keep two days for reconnecting clients and debugging,
    and the short-lived kinds for their own period."""
    now = clock.now()
    removed = 0
    cutoffs = [(EventRecord.created_at < now - RETENTION)] + [
        (EventRecord.kind == kind) & (EventRecord.created_at < now - period)
        for kind, period in sorted(_SHORT_RETENTION.items())
    ]
    for condition in cutoffs:
        result = session.execute(delete(EventRecord).where(condition))
        removed += int(result.rowcount)  # type: ignore[attr-defined]  # DELETE results carry rowcount
    return removed


def sse_format(event: LiveEvent) -> str:
    import json

    data = json.dumps({"id": event.id, "kind": event.kind, **event.payload}, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n"
