"""A public poll and where it stands."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.db.base import Base, BigId, IdMixin
from socialdesk.db.types import UTCDateTime


class PollState(enum.StrEnum):
    HELD = "held"  # a rule of the code of conduct asks for an approver first
    QUEUED = "queued"  # waiting for the job that posts it
    SENDING = "sending"  # the job is posting it now
    OPEN = "open"  # posted; votes are coming in
    CLOSED = "closed"  # the network closed it; the counts are final
    FAILED = "failed"  # not posted, with the reason; can be tried again
    REJECTED = "rejected"  # an approver refused it; never posted
    WITHDRAWN = "withdrawn"  # posted, then taken back off the network; no longer counted


class Poll(IdMixin, Base):
    __tablename__ = "polls"
    __table_args__ = (
        Index("ix_polls_org_created", "organization_id", "created_at"),
        Index("ix_polls_state", "state"),
        # Every reply that arrives asks whether it answers a poll (conversations/flows.py).
        Index("ix_polls_post", "brand_account_id", "post_id"),
    )

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    brand_account_id: Mapped[int] = mapped_column(BigId, ForeignKey("brand_accounts.id"))
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("members.id", ondelete="SET NULL"), default=None
    )
    question: Mapped[str] = mapped_column(Text)
    options: Mapped[list[str]] = mapped_column(JSON)
    seconds: Mapped[int] = mapped_column(Integer)
    multiple: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(16))
    # Why it failed or was refused; for an open poll, why its counts could not be read lately.
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # The rules that held it, as the check gave them (rule, explain, decision, start, end).
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("members.id", ondelete="SET NULL"), default=None
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    decision_comment: Mapped[str | None] = mapped_column(Text, default=None)
    # What the network calls it, once posted.
    post_id: Mapped[str | None] = mapped_column(String(255), default=None)
    native_poll_id: Mapped[str | None] = mapped_column(String(255), default=None)
    url: Mapped[str | None] = mapped_column(String(2048), default=None)
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The counts as last read: one per choice (None where the network hides them).
    votes: Mapped[list[int | None] | None] = mapped_column(JSON, default=None)
    votes_count: Mapped[int | None] = mapped_column(Integer, default=None)
    voters_count: Mapped[int | None] = mapped_column(Integer, default=None)
    counted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Taking the posted poll back off its network (polls/withdrawal.py), as a reply's
    # withdrawal is kept: pending, withdrawn or failed (conversations.models.WithdrawalState),
    # who asked, when and why, and the network's reason for a failure.
    withdrawal_state: Mapped[str | None] = mapped_column(String(10), default=None)
    withdrawal_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    withdrawal_error: Mapped[str | None] = mapped_column(String(1000), default=None)
    withdrawal_requested_by_id: Mapped[int | None] = mapped_column(BigId, default=None)
    withdrawal_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
