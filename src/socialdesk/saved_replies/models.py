"""A saved reply: an answer the team wrote once ("How to get a refund"), with placeholders for
the customer, the agent and the brand account, inserted into the reply box and edited there."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.accounts import audit
from socialdesk.db.base import Base, BigId, IdMixin
from socialdesk.db.types import UTCDateTime


class SavedReply(IdMixin, Base):
    __tablename__ = "saved_replies"
    __table_args__ = (UniqueConstraint("organization_id", "shortcut"),)

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    # Lower-case letters, digits and dashes ("refund", "tram-4-outage"): what people type to
    # find it.
    shortcut: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    # The team whose answer it is: the reply box offers it to that team's members and on that
    # team's conversations. None: everyone's.
    team_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("teams.id"), default=None)
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("members.id", ondelete="SET NULL"), default=None
    )
    updated_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("members.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


# Every change is in the audit trail, with the member the request authenticated.
audit.track_settings(SavedReply, "saved_reply")
