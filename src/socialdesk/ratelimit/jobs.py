"""Periodic task of the ratelimit domain."""

from __future__ import annotations

from socialdesk.db.session import session_scope
from socialdesk.jobs.registry import periodic
from socialdesk.ratelimit import service


@periodic("ratelimit.prune", every_minutes=60)
def prune_counters() -> None:
    with session_scope() as session:
        service.prune(session)
