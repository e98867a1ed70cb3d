"""API shapes of the saved replies domain."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from socialdesk.common.schemas import ReadModel, UTCTimestamp


class SavedReplyWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shortcut: str = Field(
        max_length=200,
        description="Letters a-z, digits and single dashes, unique in the organization "
        "(a leading / is dropped)",
        examples=["refund"],
    )
    title: str = Field(max_length=400, examples=["How to get a refund"])
    text: str = Field(
        max_length=20_000,
        description="At most 5,000 characters; may use {name}, {handle}, {agent} and {brand}",
        examples=["Hi {name}, you can ask for a refund at kestrelvalley.example/refund. ^{agent}"],
    )
    team_id: int | None = Field(
        default=None,
        description="The team whose answer it is: offered in the reply box to its members and "
        "on its conversations. Null (the default): everyone's",
    )


class ConductRead(BaseModel):
    """What the organization's code of conduct would do with the text (sample values filled
    in): allow, warn, approve or block, and why. Brand accounts' own rules and channel limits
    are judged when the reply is sent."""

    decision: str
    reasons: list[str]


class SavedReplyRead(ReadModel):
    id: int
    shortcut: str
    title: str
    text: str
    team_id: int | None
    created_by_id: int | None
    updated_by_id: int | None
    created_at: UTCTimestamp
    updated_at: UTCTimestamp
    conduct: ConductRead | None = Field(
        default=None, description="Null when the organization has no code of conduct"
    )


class FilledReply(BaseModel):
    """A saved reply filled in for one conversation, ready to be edited and sent as a reply."""

    saved_reply_id: int
    conversation_id: int
    text: str
