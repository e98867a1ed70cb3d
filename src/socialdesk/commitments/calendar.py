"""Business-day counting and local wall-time arithmetic for promise due times.

Everything here is pure: no clock, no database. Promises are resolved in the organization's time
zone, and "tomorrow at 9am" means 9am on the wall clock there, also across a daylight-saving
change, so day arithmetic happens on local dates and is only then attached to the zone.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

END_OF_DAY = time(23, 59, 59)
MONDAY_TO_FRIDAY = frozenset({0, 1, 2, 3, 4})


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """Which days count as business days: a set of weekdays (Monday is 0) minus holidays."""

    weekdays: frozenset[int] = MONDAY_TO_FRIDAY
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.weekdays:
            raise ValueError("a business calendar needs at least one working weekday")
        bad = sorted(day for day in self.weekdays if day not in range(7))
        if bad:
            raise ValueError(f"weekdays must be 0 (Monday) to 6 (Sunday), got {bad}")

    @classmethod
    def with_holidays(
        cls, holidays: Iterable[date], *, weekdays: Iterable[int] = MONDAY_TO_FRIDAY
    ) -> BusinessCalendar:
        return cls(weekdays=frozenset(weekdays), holidays=frozenset(holidays))

    def is_business_day(self, day: date) -> bool:
        return day.weekday() in self.weekdays and day not in self.holidays

    def add_business_days(self, start: date, count: int) -> date:
        """The ``count``-th business day after ``start``; ``start`` itself never counts.

        "Within 3 business days" said on a Saturday therefore ends on Wednesday, and said on a
        Friday ends on the following Wednesday.
        """
        if count < 0:
            raise ValueError(f"count must not be negative, got {count}")
        day = start
        remaining = count
        # A calendar with holidays on every working weekday for years would loop for a long time;
        # ten years of days is far beyond any promise and keeps this bounded.
        for _ in range(3660 + count * 7):
            if remaining == 0:
                return day
            day += timedelta(days=1)
            if self.is_business_day(day):
                remaining -= 1
        raise ValueError(f"no {count} business days found after {start.isoformat()}")


DEFAULT_CALENDAR = BusinessCalendar()


def local_datetime(day: date, at: time, tz: tzinfo) -> datetime:
    """``day`` at wall-clock ``at`` in ``tz``, as an aware datetime.

    A wall time that does not exist (the hour skipped when clocks spring forward) moves forward
    by the gap, as a clock would show it; an ambiguous one (the hour repeated in autumn) is the
    first of the two.
    """
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=tz, fold=0)
    # Round-tripping through UTC normalises a time inside the spring-forward gap.
    return aware.astimezone(UTC).astimezone(tz)


def end_of_day(day: date, tz: tzinfo) -> datetime:
    return local_datetime(day, END_OF_DAY, tz)


def local_today(now: datetime, tz: tzinfo) -> date:
    return now.astimezone(tz).date()


def end_of_week(day: date, tz: tzinfo, *, weeks_ahead: int = 0) -> datetime:
    """Sunday 23:59:59 of the week holding ``day`` (weeks run Monday to Sunday)."""
    sunday = day + timedelta(days=6 - day.weekday() + 7 * weeks_ahead)
    return end_of_day(sunday, tz)


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, clamped in a shorter month (31 Jan 2024 + 1: 29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, monthrange(year, month)[1]))


def end_of_month(day: date, tz: tzinfo, *, months_ahead: int = 0) -> datetime:
    target = add_months(day.replace(day=1), months_ahead)
    return end_of_day(target.replace(day=monthrange(target.year, target.month)[1]), tz)
