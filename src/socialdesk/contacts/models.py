"""Contacts: customers, their identities on each channel, and the merges that joined them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.db.base import Base, BigId, IdMixin
from socialdesk.db.types import UTCDateTime


class Contact(IdMixin, Base):
    """One person, whatever channel they write on. Merged contacts point at the survivor."""

    __tablename__ = "contacts"
    __table_args__ = (
        # The organization's customers, newest first (the Customers page); also every look-up
        # by organization alone.
        Index("ix_contacts_org_created", "organization_id", "created_at"),
        # Also ix_contacts_name_folded, of the lower-cased name, which the inbox's search reads
        # (contacts/search.py): an expression index, created by migration 0033 only.
    )

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(200), default="")
    is_vip: Mapped[bool] = mapped_column(Boolean, default=False)
    # The customer asked not to be contacted unprompted (follow-ups, surveys).
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    merged_into_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("contacts.id"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ContactIdentity(IdMixin, Base):
    """A contact's account on one channel (an X user id, a Mastodon acct, an email address...)."""

    __tablename__ = "contact_identities"
    __table_args__ = (
        UniqueConstraint("organization_id", "channel", "native_id"),
        Index("ix_contact_identities_contact", "contact_id"),
        # Who else gave this address (contacts.duplicates).
        Index("ix_contact_identities_handle", "organization_id", "handle"),
        # Also ix_contact_identities_handle_folded and ..._display_name_folded, of the
        # lower-cased handle (without its "@") and display name, which the inbox's search reads
        # (contacts/search.py): expression indexes, created by migration 0033 only.
    )

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    contact_id: Mapped[int] = mapped_column(BigId, ForeignKey("contacts.id"))
    channel: Mapped[str] = mapped_column(String(20))
    native_id: Mapped[str] = mapped_column(String(320))
    handle: Mapped[str | None] = mapped_column(String(320), default=None)
    display_name: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ContactMerge(IdMixin, Base):
    """One merge of a contact (the source) into another (the target), with what it moved, so
    that it can be undone when the two turn out not to be the same person
    (``contacts.service.unmerge``). Ids only: no name, handle or text."""

    __tablename__ = "contact_merges"
    __table_args__ = (
        Index("ix_contact_merges_target", "target_id", "id"),
        Index("ix_contact_merges_source", "source_id"),
    )

    organization_id: Mapped[int] = mapped_column(BigId, ForeignKey("organizations.id"))
    source_id: Mapped[int] = mapped_column(BigId, ForeignKey("contacts.id"))
    target_id: Mapped[int] = mapped_column(BigId, ForeignKey("contacts.id"))
    # What moved from the source to the target.
    identity_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    conversation_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    message_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # Contacts merged into the source earlier, which the merge pointed at the target.
    repointed_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # The target became a VIP only through the source; and the attribute keys it took.
    vip_from_source: Mapped[bool] = mapped_column(Boolean, default=False)
    attribute_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    actor_member_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("members.id"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    undone_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"), default=None)
