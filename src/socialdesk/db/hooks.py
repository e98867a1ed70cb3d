"""Run work after a transaction commits (and drop it on rollback).

Listeners and job enqueues must never see data that was rolled back, and must see data that
was committed: so they are deferred to ``after_commit``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_KEY = "socialdesk_on_commit"
_ROLLBACK_KEY = "socialdesk_on_rollback"


def on_commit(session: Session, callback: Callable[[], None]) -> None:
    session.info.setdefault(_KEY, []).append(callback)


def on_rollback(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` if this transaction rolls back instead of committing: for records that
    must outlive a refused request (a blocked send is still a decision to keep). It runs after
    the rollback, so it may open its own transaction."""
    session.info.setdefault(_ROLLBACK_KEY, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_callbacks(session: Session) -> None:
    session.info.pop(_ROLLBACK_KEY, None)
    callbacks: list[Callable[[], None]] = session.info.pop(_KEY, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:
            # The data is committed; a failing reaction must not turn the request into an error.
            # Durable reactions go through the job queue, which retries.
            log.exception("after-commit callback %r failed", callback)


@event.listens_for(Session, "after_rollback")
def _drop_callbacks(session: Session) -> None:
    session.info.pop(_KEY, None)
    for callback in session.info.pop(_ROLLBACK_KEY, []):
        try:
            callback()
        except Exception:
            log.exception("after-rollback callback %r failed", callback)
