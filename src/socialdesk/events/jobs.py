"""Background jobs of the events domain."""

from __future__ import annotations

from socialdesk.db.session import session_scope
from socialdesk.events import realtime
from socialdesk.jobs.registry import periodic


@periodic("events.prune", every_minutes=60)
def prune_live_events() -> None:
    with session_scope() as session:
        realtime.prune(session)
