"""API schemas of the contacts domain: customers and their identities on each channel."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from socialdesk.common.schemas import PageOut, ReadModel, RowId, UTCTimestamp


class IdentityRead(ReadModel):
    id: int
    channel: str
    native_id: str = Field(description="The person's id on that channel")
    handle: str | None
    display_name: str | None
    created_at: UTCTimestamp


class ContactSummary(BaseModel):
    """The customer as a conversation shows them; ``handle`` is their identity on the
    conversation's channel."""

    id: int
    name: str
    is_vip: bool
    handle: str | None


class ContactRead(ReadModel):
    id: int
    name: str
    is_vip: bool
    attributes: dict[str, Any]
    merged_into_id: int | None = Field(
        description="Set when this contact was merged into another: follow it to the survivor"
    )
    created_at: UTCTimestamp
    identities: list[IdentityRead]


class ContactPage(PageOut[ContactRead]):
    pass


class ContactUpdate(BaseModel):
    """What may change about a customer; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    is_vip: bool | None = Field(
        default=None, description="A VIP: routing and automation rules can act on it"
    )
    note: str | None = Field(
        default=None,
        max_length=1000,
        description="What the team should know about the customer, shown beside their "
        'conversations (kept as the attribute "note"); an empty string removes it',
    )


class ContactMerge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    into_id: RowId = Field(description="The contact that stays; this one is folded into it")


class SuggestedMerge(BaseModel):
    """Another customer who is likely the same person, and why."""

    contact: ContactRead
    reason: str = Field(
        description='What they have in common: "both use ADDRESS" or "the same name"'
    )


class MergeRead(BaseModel):
    """One merge of a contact (``source_id``) into another (``target_id``)."""

    id: int
    source_id: int = Field(description="The contact folded into the other")
    target_id: int = Field(description="The contact that stayed")
    identities: int = Field(description="Identities the merge moved")
    conversations: int = Field(description="Conversations the merge moved")
    actor_member_id: int | None
    created_at: UTCTimestamp
    undone_at: UTCTimestamp | None
    undone_by_id: int | None


class Unmerged(BaseModel):
    """An undone merge: the contact parted again, and where the conversations went."""

    contact: ContactRead = Field(description="The contact that was merged away, itself again")
    conversations_back: int = Field(
        description="Conversations that went back to it: those the merge moved, and those "
        "started since on a channel where only it has an identity"
    )
    conversations_kept: int = Field(
        description="Conversations started since the merge on a channel where both have an "
        "identity: nothing tells whose they are, so they stay with the other contact"
    )


class ContactErasure(BaseModel):
    """What erasing a customer removed. Counts only: the audit trail keeps the same."""

    contact_id: int
    contacts: int = Field(description="The contact and the contacts merged into it")
    identities: int
    conversations: int = Field(description="Conversations whose customer they were")
    messages: int = Field(
        description="Every message of those conversations (replies and notes included) and "
        "the ones they wrote in other customers' conversations"
    )
    raw_events: int = Field(description="Raw provider events those messages were parsed from")
    conversations_touched: int = Field(
        description="Other customers' conversations that lost a message this person wrote"
    )
