"""API schemas of the escalations domain."""

from __future__ import annotations

from pydantic import BaseModel, Field

from socialdesk.accounts.schemas import MemberSummary, TeamSummary
from socialdesk.common.schemas import AwareTime, PageOut, RowId, UTCTimestamp
from socialdesk.escalations.service import MAX_RESOLUTION, MAX_TEXT


class EscalationCreate(BaseModel):
    """Ask a team, a person, or a person in a team. The conversation keeps its owner."""

    text: str = Field(min_length=1, max_length=MAX_TEXT, examples=["Please refund order 123"])
    team_id: RowId | None = Field(default=None, description="The department asked")
    member_id: RowId | None = Field(default=None, description="The person asked")
    due_at: AwareTime | None = Field(
        default=None, description="When it should be done by (with an offset); in the future"
    )


class EscalationDone(BaseModel):
    resolution: str = Field(
        min_length=1,
        max_length=MAX_RESOLUTION,
        description="What was done; the owner answers the customer with it",
    )


class EscalationCancel(BaseModel):
    reason: str | None = Field(default=None, max_length=MAX_RESOLUTION)


class EscalationRead(BaseModel):
    id: int
    conversation_id: int
    status: str = Field(description="open, done or cancelled")
    text: str
    team: TeamSummary | None
    member: MemberSummary | None
    requested_by: MemberSummary
    due_at: UTCTimestamp | None
    overdue: bool = Field(description="Open and past its due time")
    created_at: UTCTimestamp
    closed_at: UTCTimestamp | None
    closed_by: MemberSummary | None
    resolution: str | None = Field(description="What was done (done) or why not (cancelled)")


class EscalationPage(PageOut[EscalationRead]):
    pass
