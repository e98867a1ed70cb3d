"""API shapes of the sla domain: policies, a conversation's clocks, the report."""

from __future__ import annotations

from pydantic import BaseModel, Field

from socialdesk.common.schemas import Number, ReadModel, RowId, UTCTimestamp

MINUTES = "Minutes of target time (business minutes when business_hours_id is set)"


class SlaPolicyCreate(BaseModel):
    name: str = Field(max_length=120)
    enabled: bool = True
    position: Number | None = Field(
        default=None, description="Where it goes in the order (0 first); last when left out"
    )
    priority: Number | None = Field(
        default=None, description="Condition: 0 low, 1 normal, 2 high, 3 urgent; null: any"
    )
    channel: str | None = Field(
        default=None, description="Condition: the brand account's channel (x, email...); null: any"
    )
    brand_account_id: RowId | None = Field(default=None, description="Condition; null: any")
    first_response_minutes: Number | None = Field(default=None, description=MINUTES)
    next_response_minutes: Number | None = Field(default=None, description=MINUTES)
    resolution_minutes: Number | None = Field(default=None, description=MINUTES)
    business_hours_id: RowId | None = Field(
        default=None, description="Count only these business hours; null: calendar time"
    )
    warn_before_minutes: Number = Field(default=15, description="Warn this long before a breach")


class SlaPolicyUpdate(BaseModel):
    """Only the fields sent change; send null to clear a condition or a target."""

    name: str | None = Field(default=None, max_length=120)
    enabled: bool | None = None
    priority: Number | None = None
    channel: str | None = None
    brand_account_id: RowId | None = None
    first_response_minutes: Number | None = None
    next_response_minutes: Number | None = None
    resolution_minutes: Number | None = None
    business_hours_id: RowId | None = None
    warn_before_minutes: Number | None = None


class SlaPolicyRead(ReadModel):
    id: int
    name: str
    position: int
    enabled: bool
    priority: int | None
    channel: str | None
    brand_account_id: int | None
    first_response_minutes: int | None
    next_response_minutes: int | None
    resolution_minutes: int | None
    business_hours_id: int | None
    warn_before_minutes: int
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class SlaPolicyList(BaseModel):
    items: list[SlaPolicyRead]


class SlaPolicyOrder(BaseModel):
    ids: list[RowId] = Field(description="Every policy id of the organization, in the new order")


class SlaClockRead(ReadModel):
    id: int
    policy_id: int
    target: str = Field(description="first_response, next_response or resolution")
    started_at: UTCTimestamp
    due_at: UTCTimestamp
    paused_at: UTCTimestamp | None
    stopped_at: UTCTimestamp | None
    warn_at: UTCTimestamp | None = Field(
        description="When the current due time's warning window opens; null when the policy "
        "never warns or the clock has stopped"
    )
    warned_at: UTCTimestamp | None = Field(
        description="When the last warning went out; it counts for the current due time when "
        "it is at or after warn_at"
    )
    breached_at: UTCTimestamp | None
    elapsed_seconds: int | None = Field(
        description="Target time used when stopped (business seconds where the policy counts "
        "them); null while running and for a clock cancelled without a measure"
    )


class SlaClockList(BaseModel):
    items: list[SlaClockRead]


class SlaReportRowOut(BaseModel):
    value: str = Field(description="The team, member, channel or priority (its label)")
    key: str | None = Field(description="Its id or code; null for none")
    conversations: int
    within: int
    breached: int
    in_progress: int
    within_share: float | None = Field(description="within / (within + breached); null if none")
    first_response_count: int
    first_response_median_seconds: float | None
    first_response_p90_seconds: float | None
    resolution_count: int
    resolution_median_seconds: float | None
    resolution_p90_seconds: float | None


class SlaReportOut(BaseModel):
    start: str = Field(description="First day of the range (organization's time zone)")
    end: str = Field(description="Last day of the range, included")
    timezone: str
    total: SlaReportRowOut
    team: list[SlaReportRowOut]
    member: list[SlaReportRowOut]
    channel: list[SlaReportRowOut]
    priority: list[SlaReportRowOut]


class ConversationSlaRead(BaseModel):
    policy_id: int | None = Field(description="The policy that applies now; null: none")
    due_at: UTCTimestamp | None = Field(
        description="Earliest due time of the running, unpaused clocks; null: none running"
    )
    breached: bool = Field(description="Whether any of its clocks ever breached")
    clocks: list[SlaClockRead]
