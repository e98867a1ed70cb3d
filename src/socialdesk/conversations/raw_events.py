"""How long raw inbound events are kept.

Every event a network delivers is stored as it came (``InboundEvent``) before anything else
happens, and kept after it is processed: to look at what a network really sent, and to
process again an event that failed. Once processed, what the desk needs of it is in its
messages (each keeps its own part of the payload in ``Message.raw``), so a processed or
ignored event is deleted ``SOCIALDESK_RAW_EVENT_DAYS`` after it arrived (default 30; 0 keeps
them all). Pending and failed events are never deleted: recovery and the admins' retry need
them.

Deleting one is safe for idempotency: a network that sends the same event again later has it
stored and processed once more, and its messages, unique per brand account and native id, are
found already stored (or erased: conversations/erased.py). Messages keep the id of an event
deleted this way (``Message.inbound_event_id`` has no foreign key).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from socialdesk.channels.models import EventStatus, InboundEvent

# Events deleted per transaction: short write locks on SQLite.
BATCH = 1000
_DONE = (EventStatus.PROCESSED.value, EventStatus.IGNORED.value)


def prune(session: Session, *, now: datetime, days: int) -> int:
    """Delete one batch of processed or ignored events that arrived more than ``days`` ago;
    returns how many (fewer than ``BATCH``: none is left). ``days`` 0 deletes nothing."""
    if days <= 0:
        return 0
    ids = list(
        session.scalars(
            select(InboundEvent.id)
            .where(
                InboundEvent.status.in_(_DONE),
                InboundEvent.received_at < now - timedelta(days=days),
            )
            .order_by(InboundEvent.id)
            .limit(BATCH)
        )
    )
    if ids:
        session.execute(delete(InboundEvent).where(InboundEvent.id.in_(ids)))
    return len(ids)
