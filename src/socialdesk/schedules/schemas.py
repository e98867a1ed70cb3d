"""API shapes of business hours (served under /api/admin/business-hours by sla/api.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from socialdesk.common.schemas import ReadModel, UTCTimestamp

INTERVALS_DESCRIPTION = (
    'Open intervals per weekday, Monday "0" to Sunday "6", as local "HH:MM" pairs in '
    '`timezone`: {"0": [["09:00", "12:00"], ["13:00", "17:00"]]}. "24:00" ends a day; an '
    "overnight shift is two intervals (22:00-24:00 and 00:00-06:00 the next day)."
)


class BusinessHoursCreate(BaseModel):
    name: str = Field(max_length=120)
    timezone: str = Field(default="UTC", description="An IANA zone such as Europe/Berlin")
    intervals: dict[str, list[list[str]]] = Field(description=INTERVALS_DESCRIPTION)
    holidays: list[str] = Field(
        default_factory=list, description="ISO dates (2026-12-25) on which nothing is open"
    )


class BusinessHoursUpdate(BaseModel):
    """Only the fields sent change."""

    name: str | None = Field(default=None, max_length=120)
    timezone: str | None = None
    intervals: dict[str, list[list[str]]] | None = Field(
        default=None, description=INTERVALS_DESCRIPTION
    )
    holidays: list[str] | None = None


class BusinessHoursRead(ReadModel):
    id: int
    name: str
    timezone: str
    intervals: dict[str, list[list[str]]]
    holidays: list[str]
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class BusinessHoursList(BaseModel):
    items: list[BusinessHoursRead]
