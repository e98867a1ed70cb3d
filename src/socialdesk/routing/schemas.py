"""API shapes of the routing domain: settings, routing rules, automation rules and duty."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from socialdesk.common.schemas import Number, ReadModel, RowId, UTCTimestamp

StrategyName = Literal["manual", "round_robin", "least_loaded"]
TriggerName = Literal["conversation.created", "message.created", "conversation.changed", "no_reply"]

CONDITIONS_HELP = (
    'All must hold. Each is {"field", "op", "value"}; fields: channel, brand_account_id, intent, '
    "sentiment, is_complaint, priority (=, >=, <=), language, keywords (any, none), "
    "contact_vip, contact_has_open_commitments, team_id, status, assignee (none, any). "
    "See docs/routing.md."
)
ACTIONS_HELP = (
    'Run in order. Each is {"type", ...}: set_team {team_id}, set_priority {priority, '
    "allow_lower?}, add_tag {tag}, assign_to {member_id}, auto_assign {team_id?}; automation "
    "rules also notify {to: team_lead|team|member|assignee, member_id?, team_id?, webhook?, "
    "message?}."
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RoutingSettingsRead(ReadModel):
    strategy: str = Field(description="manual, round_robin or least_loaded")
    reassign_when_away: bool = Field(
        description="Hand an assignee's open conversations back to routing when they go away "
        "or their team's hours end"
    )
    reassign_after_minutes: int | None = Field(
        description="Reassign when the assignee has not answered a waiting customer within "
        "this many minutes; null: never"
    )
    updated_at: UTCTimestamp | None = Field(description="null: the defaults, never changed")


class RoutingSettingsUpdate(_Body):
    strategy: StrategyName
    reassign_when_away: bool = True
    reassign_after_minutes: Number | None = Field(default=None, ge=1, le=7 * 24 * 60)


class RoutingRuleRead(ReadModel):
    id: int
    name: str
    position: int = Field(description="0 runs first")
    enabled: bool
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    stop: bool = Field(description="Later rules are not looked at once this one matched")
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class RoutingRuleWrite(_Body):
    name: str = Field(min_length=1, max_length=120)
    enabled: bool = True
    conditions: list[Any] = Field(default_factory=list, description=CONDITIONS_HELP)
    actions: list[Any] = Field(description=ACTIONS_HELP)
    stop: bool = False


class RoutingRuleCreate(RoutingRuleWrite):
    position: Number | None = Field(
        default=None, ge=1, description="Where in the order (1 = first); default last"
    )


class ReorderBody(_Body):
    ids: list[RowId] = Field(description="Every routing rule's id, in the new order")


class AutomationRuleRead(ReadModel):
    id: int
    name: str
    enabled: bool
    trigger: str
    delay_minutes: int | None
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class AutomationRuleWrite(_Body):
    name: str = Field(min_length=1, max_length=120)
    enabled: bool = True
    trigger: TriggerName
    delay_minutes: Number | None = Field(
        default=None,
        description="Fire this many minutes after the trigger (checking the conditions then); "
        "required for no_reply",
    )
    conditions: list[Any] = Field(default_factory=list, description=CONDITIONS_HELP)
    actions: list[Any] = Field(description=ACTIONS_HELP)


class AutomationRunRead(ReadModel):
    id: int
    conversation_id: int
    occurrence: str
    due_at: UTCTimestamp | None
    ran_at: UTCTimestamp | None
    outcome: str | None


class AvailabilityBody(_Body):
    availability: Literal["available", "away"]


class AvailabilityRead(BaseModel):
    member_id: int
    availability: str
    availability_changed_at: UTCTimestamp | None
    on_duty: bool
    reassigned: list[int] = Field(
        description="Conversations handed back to routing because you went away"
    )
    picked_up: list[int] = Field(
        description="Waiting conversations given out because you came back"
    )


class MemberDutyRead(BaseModel):
    id: int
    name: str
    availability: str
    on_duty: bool
    why_not: str | None = Field(description="Why the member is not on duty, in words")
    load: int = Field(description="Open and pending conversations assigned to the member")
    capacity: int
    languages: list[str]
    teams: list[str]


class MemberDutyUpdate(_Body):
    capacity: Number = Field(ge=0, le=1000)
    languages: list[str] = Field(default_factory=list, max_length=20)
    availability: Literal["available", "away"] | None = None
