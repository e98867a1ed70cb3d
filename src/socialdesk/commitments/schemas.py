"""API schemas of the commitments domain."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from socialdesk.common.schemas import AwareTime, Number, PageOut, ReadModel, RowId, UTCTimestamp
from socialdesk.conversations.schemas import MAX_TEXT, StatusBody


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CommitmentRead(ReadModel):
    id: int
    conversation_id: int
    message_id: int | None = Field(description="The reply or note it was made in; null by hand")
    escalation_request_id: int | None
    owner_id: int
    team_id: int | None
    created_by_id: int | None
    text: str
    source: str = Field(description="detected (kept from a reply or note) or manual")
    due_at: UTCTimestamp
    due_is_default: bool = Field(
        description="The text named no time: the organization's default applied"
    )
    remind_at: UTCTimestamp | None
    reminded_at: UTCTimestamp | None
    overdue_notified_at: UTCTimestamp | None
    status: str = Field(description="open, kept, broken or cancelled")
    overdue: bool = Field(description="Open and past its due time")
    evidence: str | None
    created_at: UTCTimestamp
    closed_at: UTCTimestamp | None
    closed_by_id: int | None
    reply_undelivered: str | None = Field(
        default=None,
        description="Open, and the reply that made it failed to deliver: the delivery error. "
        "The customer has not been told; retry the reply or cancel the promise.",
    )


class PromisePreviewBody(_Body):
    text: str = Field(min_length=1, max_length=MAX_TEXT, description="The draft reply or note")


class DetectedPromiseRead(ReadModel):
    """A promise the draft would make if sent now (read from the service's DetectedPromise)."""

    key: str = Field(description="Send it back in the reply's promises to keep, edit or drop it")
    text: str = Field(description="What would be promised")
    due_at: UTCTimestamp
    due_is_default: bool = Field(
        description="The text named no time: the organization's default applies"
    )
    due_phrase: str | None = Field(description="The words that gave the due time, if any")
    start: int = Field(description="Where the promise starts in the text (characters)")
    end: int = Field(description="Where it ends")


CommitmentPage = PageOut[CommitmentRead]


class CommitmentCreate(_Body):
    """A promise added by hand. Give the due time as ``due_at`` (with a UTC offset) or in
    words as ``due_text`` ("tomorrow at 9am", "within 2 business days", read in the
    organization's time zone), or neither for the organization's default."""

    text: str = Field(min_length=1, max_length=1000)
    due_at: AwareTime | None = None
    due_text: str | None = Field(default=None, max_length=200)
    owner_id: RowId | None = Field(
        default=None, description="Default: the conversation's assignee, else you"
    )
    team_id: RowId | None = Field(default=None, description="Default: the conversation's team")
    escalation_request_id: RowId | None = Field(
        default=None, description="An escalation request of the same conversation it depends on"
    )

    @model_validator(mode="after")
    def _one_due(self) -> CommitmentCreate:
        if self.due_at is not None and self.due_text:
            raise ValueError("give due_at or due_text, not both")
        return self


class CommitmentUpdate(_Body):
    """Change an open commitment; leave out what stays. ``team_id: null`` removes the team."""

    text: str | None = Field(default=None, min_length=1, max_length=1000)
    due_at: AwareTime | None = None
    due_text: str | None = Field(default=None, max_length=200)
    owner_id: RowId | None = None
    team_id: RowId | None = None

    @model_validator(mode="after")
    def _one_due(self) -> CommitmentUpdate:
        if self.due_at is not None and self.due_text:
            raise ValueError("give due_at or due_text, not both")
        return self


class CommitmentClose(_Body):
    status: Literal["kept", "broken", "cancelled"]
    evidence: str = Field(
        min_length=1,
        max_length=2000,
        description="What was done, or why it did not happen",
    )


ResolveChoiceName = Literal["keep_open", "kept", "cancel"]


class StatusWithCommitments(StatusBody):
    """The conversation status change, with what resolving does to open commitments."""

    commitments: ResolveChoiceName | None = Field(
        default=None,
        description=(
            "Resolving a conversation with open commitments needs this: keep_open (the "
            "promise still stands), kept or cancel. Without it the answer is 409 "
            "open_commitments with the list."
        ),
    )
    commitments_note: str = Field(
        default="", max_length=2000, description="Added to the evidence of kept or cancelled ones"
    )


class PromiseSettingsBody(_Body):
    """How the organization times promises. Applies to promises made from now on."""

    default_hours: float | None = Field(
        default=None,
        description="A promise that states no time is due this many business hours of the "
        "team's schedule after it was made (plain hours without a schedule); null: at the end "
        "of the next business day",
    )
    reminder_minutes: Number = Field(
        default=120, description="How long before the due time the owner is reminded"
    )


class PromiseSettingsRead(ReadModel):
    default_hours: float | None
    reminder_minutes: int
