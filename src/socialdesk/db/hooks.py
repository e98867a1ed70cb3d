"""Run work after a transaction commits (and drop it on rollback).

Listeners and job enqueues must never see data that was rolled back, and must see data that
was committed: so they are deferred to ``after_commit``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_KEY = "socialdesk_on_commit"


def on_commit(session: Session, callback: Callable[[], None]) -> None:
    session.info.setdefault(_KEY, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_callbacks(session: Session) -> None:
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


def pending(session: Session) -> list[Any]:
    return list(session.info.get(_KEY, []))
