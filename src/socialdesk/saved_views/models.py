"""A saved inbox view: a name and the inbox's filters, as the inbox's query string."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.db.base import Base, BigId, IdMixin
from socialdesk.db.types import UTCDateTime


class SavedView(IdMixin, Base):
    __tablename__ = "saved_views"
    __table_args__ = (Index("ix_saved_views_org_member", "organization_id", "member_id"),)

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    # Whose view it is; None: shared with the whole team (made by a routing admin).
    member_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("members.id", ondelete="CASCADE"), default=None
    )
    name: Mapped[str] = mapped_column(String(80))
    # The inbox's filters as its own query string ("status=all&complaint=1"), in the inbox's
    # canonical form; "" is the inbox as it opens.
    query: Mapped[str] = mapped_column(String(1000))
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("members.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
