"""The event bus: ``emit`` records an event in the transaction and, after commit, hands it to
in-process listeners. Live views in other processes read the recorded events (realtime.py)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session

from socialdesk.common import clock
from socialdesk.db.hooks import on_commit
from socialdesk.events.models import EventRecord
from socialdesk.events.types import DomainEvent

log = logging.getLogger(__name__)

E = TypeVar("E", bound=DomainEvent)
Listener = Callable[[DomainEvent], None]

_listeners: dict[type[DomainEvent], list[Listener]] = defaultdict(list)


def subscribe(event_type: type[E]) -> Callable[[Callable[[E], None]], Callable[[E], None]]:
    """Register a listener. It runs after the emitting transaction commits, in that process;
    work that must survive a crash should enqueue a job from the listener."""

    def register(fn: Callable[[E], None]) -> Callable[[E], None]:
        _listeners[event_type].append(fn)  # type: ignore[arg-type]  # narrowed by event_type
        return fn

    return register


def emit(session: Session, event: DomainEvent) -> None:
    session.add(
        EventRecord(
            organization_id=event.organization_id,
            kind=event.kind,
            payload=event.payload(),
            created_at=clock.now(),
        )
    )
    on_commit(session, lambda: _dispatch(event))


def _dispatch(event: DomainEvent) -> None:
    for listener in _listeners.get(type(event), []):
        try:
            listener(event)
        except Exception:
            log.exception(
                "listener %s failed on %s", getattr(listener, "__name__", listener), event
            )
