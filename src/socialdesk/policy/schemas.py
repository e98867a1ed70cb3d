"""Request and response bodies of the code-of-conduct API (``/api/policy``, ``/api/approvals``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from socialdesk.common.schemas import Number, ReadModel, RowId, UTCTimestamp
from socialdesk.connectors.base import ChannelKind

DecisionName = Literal["allow", "warn", "approve", "block"]


class PolicyCheckRequest(BaseModel):
    """A draft to check. Name the brand account it would go out from (its own limit, its
    refinement of the policy and the agent's signature apply), or only a channel (the
    organization's policy and the channel's default limit)."""

    text: str = Field(max_length=20_000)
    brand_account_id: RowId | None = None
    channel: ChannelKind | None = None
    visibility: Literal["public", "direct"] = "public"

    @model_validator(mode="after")
    def _one_target(self) -> PolicyCheckRequest:
        if self.brand_account_id is None and self.channel is None:
            raise ValueError("give brand_account_id or channel")
        return self


class ViolationRead(BaseModel):
    """One clause the draft breaks, and where: ``text[start:end]`` (code points, of the text
    as sent; the signature is appended after the text, so offsets in the draft are the same).
    Length and other whole-draft problems have no span (null)."""

    rule: str
    explain: str
    action: DecisionName
    start: int | None = None
    end: int | None = None


class PolicyCheckResult(BaseModel):
    decision: DecisionName
    violations: list[ViolationRead]
    length: int | None  # as the channel counts it, signature included
    limit: int | None
    remaining: int | None


class PolicyVersionRead(ReadModel):
    id: int
    scope: str
    version: int
    fingerprint: str
    comment: str
    created_by_id: int | None
    created_by: str | None = None
    created_at: UTCTimestamp


class PolicyRead(BaseModel):
    """The active policy of a scope (``org`` or ``brand:<id>``); null fields when none is set."""

    scope: str
    version: PolicyVersionRead | None
    yaml: str | None


class PolicyVersionDetail(PolicyVersionRead):
    yaml: str


class PolicyWrite(BaseModel):
    yaml: str = Field(max_length=2_000_000)
    comment: str = Field(default="", max_length=500)


class StarterRead(BaseModel):
    name: str
    yaml: str


class BacktestRequest(BaseModel):
    """Leave ``yaml`` out to test the organization's active policy."""

    yaml: str | None = Field(default=None, max_length=2_000_000)
    limit: Number = Field(default=5000, ge=1, le=50_000)


class BacktestHitRead(BaseModel):
    message_id: int
    conversation_id: int
    text: str
    decision: DecisionName
    violations: list[ViolationRead]


class BacktestResult(BaseModel):
    checked: int
    flagged: list[BacktestHitRead]


class ApprovalRead(ReadModel):
    id: int
    message_id: int
    conversation_id: int
    requested_by_id: int
    reasons: list[ViolationRead]
    original_text: str
    text: str  # the draft as it stands now
    approved_text: str | None
    status: Literal["pending", "approved", "rejected"]
    decided_by_id: int | None
    decided_at: UTCTimestamp | None
    comment: str
    created_at: UTCTimestamp


class ApproveRequest(BaseModel):
    """``text`` replaces the draft (checked again; a block is never overridden, and clauses the
    edit brings that the draft was not held for are confirmed first, as with a reply)."""

    text: str | None = Field(default=None, max_length=20_000)
    comment: str = Field(default="", max_length=1000)
    confirm: bool = Field(
        default=False,
        description="Approve the edited text despite the clauses it brings that the draft was "
        "not held for (after a 409 with code confirm)",
    )


class RejectRequest(BaseModel):
    comment: str = Field(min_length=1, max_length=1000)
