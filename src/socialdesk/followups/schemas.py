"""API schemas of the followups domain: policies, the follow-ups themselves and the care report."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from socialdesk.common.schemas import Number, ReadModel, RowId, UTCTimestamp
from socialdesk.connectors.base import ChannelKind
from socialdesk.followups.models import Survey

MAX_TEMPLATE = 1000
MAX_DELAY_MINUTES = 60 * 24 * 30  # a month


class FollowUpPolicyWrite(BaseModel):
    """A policy for the organization (both scope fields null), a channel, or one brand account.
    Writing a scope that has a policy replaces it."""

    brand_account_id: RowId | None = Field(
        default=None, description="The brand account this policy is for (most specific)"
    )
    channel: ChannelKind | None = Field(
        default=None, description="The channel (brand account kind) this policy is for"
    )
    enabled: bool = True
    delay_minutes: Number = Field(
        default=24 * 60,
        ge=0,
        le=MAX_DELAY_MINUTES,
        description="How long after resolution the follow-up goes out",
    )
    template: str = Field(
        min_length=1,
        max_length=MAX_TEMPLATE,
        description="The message; placeholders {name}, {handle}, {agent} and {brand}",
    )
    survey: Survey = Field(
        default=Survey.NONE, description="none, scale (1-5) or thumbs: the question appended"
    )


class FollowUpPolicyRead(ReadModel):
    id: int
    brand_account_id: int | None
    channel: str | None
    enabled: bool
    delay_minutes: int
    template: str
    survey: str
    updated_at: UTCTimestamp


class BuiltInPolicy(BaseModel):
    """What applies where no policy is set."""

    enabled: bool
    delay_minutes: int
    template: str
    survey: str


class FollowUpPolicies(BaseModel):
    items: list[FollowUpPolicyRead]
    built_in: BuiltInPolicy
    placeholders: dict[str, str] = Field(description="What each placeholder is replaced with")


class FollowUpRead(ReadModel):
    id: int
    conversation_id: int
    status: str = Field(
        description="scheduled, sending, sent, answered, skipped, task (a person follows up) "
        "or cancelled"
    )
    resolved_at: UTCTimestamp
    due_at: UTCTimestamp
    member_id: int | None = Field(description="Who resolved the conversation")
    team_id: int | None
    survey: str
    text: str | None = Field(description="The message as queued")
    message_id: int | None
    reason: str | None = Field(description="Why it was skipped, cancelled or made a task")
    sent_at: UTCTimestamp | None
    answered_at: UTCTimestamp | None
    answer: str | None = Field(description="positive, negative or unclear")
    satisfaction: int | None = Field(description="1-5 (a thumbs up is 5, down is 1)")
    created_at: UTCTimestamp


class FollowUpList(BaseModel):
    items: list[FollowUpRead]
    opted_out: bool = Field(description="The customer asked not to be contacted unprompted")


class CareFiguresRead(BaseModel):
    conversations_resolved: int
    followups_sent: int
    followups_answered: int
    followup_rate: float | None = Field(description="follow-ups sent / conversations resolved")
    answer_rate: float | None = Field(description="follow-ups answered / follow-ups sent")
    satisfaction_count: int
    average_satisfaction: float | None
    satisfaction_distribution: dict[str, int] = Field(description="Answers per score, 1 to 5")
    commitments_kept: int
    commitments_broken: int
    promise_kept_rate: float | None = Field(description="kept / (kept + broken), closed in range")
    commitments_overdue: int = Field(description="Open commitments past their due time now")


class CareRowRead(BaseModel):
    id: int | None = Field(description="The team's or member's id; null: none")
    name: str
    figures: CareFiguresRead


class CareReportRead(BaseModel):
    start: date
    end: date = Field(description="Inclusive")
    timezone: str
    total: CareFiguresRead
    teams: list[CareRowRead]
    members: list[CareRowRead]
