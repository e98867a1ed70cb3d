"""Job intents: the database's own record of work that is owed.

The queue's storage (SQLite file or Redis) carries jobs to workers, but it can lose one: a
worker killed mid-job takes the job it had dequeued with it, and Redis may keep nothing on disk.
So a job enqueued with a transaction (``queue.enqueue``) is also written as an intent in that
transaction, and the intent is deleted only when the job has run (or given up). Intents still
there well after they were due are queued again by a periodic task; handlers are idempotent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.db.base import Base
from socialdesk.db.types import UTCDateTime


class JobIntent(Base):
    __tablename__ = "job_intents"

    # Made by the enqueuer (a random hex string), so it is known before the row is flushed.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column()
    # When the job should have started: enqueue time, its eta, or the time of its next retry.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # How many times a lost job was queued again.
    recoveries: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
