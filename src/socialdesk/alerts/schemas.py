"""API shapes of the alerts domain."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from socialdesk.common.schemas import Number, ReadModel, RowId, UTCTimestamp

NotifyName = Literal["team_lead", "team", "member", "admins"]


class AlertFilters(BaseModel):
    """Which customer messages count. Every filter is optional; all given must hold."""

    model_config = ConfigDict(extra="forbid")

    complaint: bool | None = Field(default=None, description="Only complaints (or only not)")
    intent: str | None = Field(
        default=None, description="complaint, question, praise, feedback, idea or other"
    )
    sentiment: str | None = Field(default=None, description="negative, neutral or positive")
    channel: str | None = Field(
        default=None, description="x, mastodon, bluesky, facebook, email or web"
    )
    words: list[str] | None = Field(
        default=None,
        description="The message mentions any of these (any case; at most 20)",
        examples=[["fare", "price"]],
    )


class AlertWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    enabled: bool = True
    filters: AlertFilters = Field(default_factory=AlertFilters)
    window_minutes: Number = Field(description="How far back each check counts (5 to 1440)")
    threshold: Number = Field(description="Fires when the window holds at least this many")
    baseline_factor: float | None = Field(
        default=None,
        description="Also needs this many times the usual count of such a window (the last 7 "
        "days); null: the threshold alone",
    )
    notify_to: NotifyName
    team_id: RowId | None = Field(default=None, description="For team_lead, team and webhook")
    member_id: RowId | None = Field(default=None, description="For member")
    webhook: bool = Field(default=False, description="Also post to the team's webhook")


class AlertRead(ReadModel):
    id: int
    name: str
    enabled: bool
    filters: dict[str, object]
    window_minutes: int
    threshold: int
    baseline_factor: float | None
    notify_to: str
    team_id: int | None
    member_id: int | None
    webhook: bool
    firing_since: UTCTimestamp | None = Field(description="Set while the count is over")
    last_count: int = Field(description="The count at the last check")
    last_checked_at: UTCTimestamp | None
    baseline: float | None = Field(description="The usual count of a window, when worked out")
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class AlertFiringRead(ReadModel):
    id: int
    started_at: UTCTimestamp
    ended_at: UTCTimestamp | None
    count: int
    peak: int
    baseline: float | None
    conversation_ids: list[int]
    topics: list[str] = Field(
        description="What stood out in the surge's messages (words and pairs of words)"
    )
    notified: int
