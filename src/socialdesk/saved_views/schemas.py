"""API shapes of saved inbox views."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from socialdesk.common.schemas import UTCTimestamp

FILTERS_HELP = (
    "The inbox's filters as its address bar names them: status (open, pending, snoozed, "
    "resolved, all), assignee (me, unassigned, anyone, or a member's id), channel "
    "(kind:CHANNEL or account:ID), team (an id), tag, q (words to search for, or the start of "
    "a customer's name, handle or email address), intent, sentiment, complaint (1), "
    "min_priority (low, normal, high, urgent), awaiting (reply, customer) and sort (recent, "
    "priority, sla). Filters left out take the inbox's defaults; a member, team or brand "
    "account of another organization, or of none, is refused naming its filter"
)


class SavedViewWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200, description="At most 80 characters", examples=["Angry VIPs"])
    filters: dict[str, str] = Field(
        default_factory=dict,
        description=FILTERS_HELP,
        examples=[{"status": "all", "sentiment": "negative", "min_priority": "high"}],
    )
    shared: bool = Field(
        default=False,
        description="Keep it for the whole team rather than for yourself (admins with "
        "routing.manage only)",
    )


class SavedViewUpdate(BaseModel):
    """What to change; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200, description="At most 80 characters")
    filters: dict[str, str] | None = Field(
        default=None, description="The filters that replace the view's own. " + FILTERS_HELP
    )


class SavedViewRead(BaseModel):
    id: int
    name: str
    shared: bool = Field(description="Kept for the whole team; false: the caller's own")
    filters: dict[str, str] = Field(
        description="The filters that differ from the inbox's defaults, in canonical form"
    )
    query: str = Field(
        description="The same filters as the web inbox's query string: the view opens in the "
        "desk at /?QUERY"
    )
    created_by_id: int | None
    created_at: UTCTimestamp
