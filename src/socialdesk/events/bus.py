"""The event bus: ``emit`` records an event in the transaction and, after commit, hands it to
in-process listeners. Live views in other processes read the recorded events (realtime.py).

Listeners that only queue the work an event calls for register with ``in_transaction``: they
run as the event is emitted, with its session, so the jobs they queue (``jobs.queue.enqueue``)
are recorded in the same transaction as the change and cannot be lost between the commit and
the queue, nor later by the queue."""

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

TransactionListener = Callable[[Session, DomainEvent], None]

_listeners: dict[type[DomainEvent], list[Listener]] = defaultdict(list)
_transaction_listeners: dict[type[DomainEvent], list[TransactionListener]] = defaultdict(list)


def subscribe(event_type: type[E]) -> Callable[[Callable[[E], None]], Callable[[E], None]]:
    """Register a listener. It runs after the emitting transaction commits, in that process,
    and is lost if that process dies first: work that must survive a crash is queued by an
    ``in_transaction`` listener instead."""

    def register(fn: Callable[[E], None]) -> Callable[[E], None]:
        _listeners[event_type].append(fn)  # type: ignore[arg-type]  # narrowed by event_type
        return fn

    return register


def in_transaction(
    event_type: type[E],
) -> Callable[[Callable[[Session, E], None]], Callable[[Session, E], None]]:
    """Register a listener that runs inside the emitting transaction, given its session. It
    must only add to the transaction (queue jobs with ``jobs.queue.enqueue``): an error in it
    fails the change that emitted the event."""

    def register(fn: Callable[[Session, E], None]) -> Callable[[Session, E], None]:
        _transaction_listeners[event_type].append(fn)  # type: ignore[arg-type]  # narrowed by event_type
        return fn

    return register


def emit(session: Session, event: DomainEvent) -> None:
    for listener in _transaction_listeners.get(type(event), []):
        listener(session, event)
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
