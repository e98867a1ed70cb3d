"""Business days and wall-clock arithmetic, with the clock fixed by the test."""

from __future__ import annotations

from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from socialdesk.commitments.calendar import (
    DEFAULT_CALENDAR,
    BusinessCalendar,
    add_months,
    end_of_day,
    end_of_month,
    end_of_week,
    local_datetime,
)

NEW_YORK = ZoneInfo("America/New_York")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@pytest.mark.parametrize(
    ("start", "count", "expected"),
    [
        (date(2024, 3, 14), 0, date(2024, 3, 14)),  # Thursday, nothing to add
        (date(2024, 3, 14), 1, date(2024, 3, 15)),  # Thursday -> Friday
        (date(2024, 3, 15), 1, date(2024, 3, 18)),  # Friday -> Monday
        (date(2024, 3, 16), 1, date(2024, 3, 18)),  # Saturday -> Monday (today never counts)
        (date(2024, 3, 16), 3, date(2024, 3, 20)),  # Saturday -> Wednesday
        (date(2024, 3, 17), 5, date(2024, 3, 22)),  # Sunday -> Friday
        (date(2024, 3, 14), 7, date(2024, 3, 25)),  # Thursday + 7 -> Monday week after
    ],
)
def test_business_days_skip_weekends(start: date, count: int, expected: date) -> None:
    assert DEFAULT_CALENDAR.add_business_days(start, count) == expected


def test_holidays_are_not_business_days() -> None:
    # Good Friday and Easter Monday 2024 in the Netherlands.
    easter = BusinessCalendar.with_holidays([date(2024, 3, 29), date(2024, 4, 1)])
    assert not easter.is_business_day(date(2024, 3, 29))
    assert easter.add_business_days(date(2024, 3, 28), 1) == date(2024, 4, 2)
    assert easter.add_business_days(date(2024, 3, 28), 2) == date(2024, 4, 3)
    assert DEFAULT_CALENDAR.add_business_days(date(2024, 3, 28), 2) == date(2024, 4, 1)


def test_custom_work_week() -> None:
    sunday_to_thursday = BusinessCalendar(weekdays=frozenset({6, 0, 1, 2, 3}))
    assert sunday_to_thursday.add_business_days(date(2024, 3, 14), 1) == date(2024, 3, 17)


def test_calendar_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="at least one"):
        BusinessCalendar(weekdays=frozenset())
    with pytest.raises(ValueError, match="0 \\(Monday\\) to 6"):
        BusinessCalendar(weekdays=frozenset({7}))
    with pytest.raises(ValueError, match="must not be negative"):
        DEFAULT_CALENDAR.add_business_days(date(2024, 3, 14), -1)


def test_calendar_with_every_day_a_holiday_fails_clearly() -> None:
    start = date(2024, 1, 1)
    closed = BusinessCalendar.with_holidays(
        (start + timedelta(days=n) for n in range(5000)), weekdays=[0]
    )
    with pytest.raises(ValueError, match="no 1 business days"):
        closed.add_business_days(start, 1)


def test_wall_time_in_the_spring_forward_gap_moves_forward() -> None:
    # 02:30 does not exist in New York on 10 March 2024; a clock shows 03:30 EDT.
    moved = local_datetime(date(2024, 3, 10), time(2, 30), NEW_YORK)
    assert moved.isoformat() == "2024-03-10T03:30:00-04:00"


def test_repeated_wall_time_in_autumn_is_the_first() -> None:
    first = local_datetime(date(2024, 11, 3), time(1, 30), NEW_YORK)
    assert first.isoformat() == "2024-11-03T01:30:00-04:00"


def test_end_of_day_week_and_month() -> None:
    assert end_of_day(date(2024, 10, 27), AMSTERDAM).isoformat() == "2024-10-27T23:59:59+01:00"
    assert end_of_week(date(2024, 3, 14), AMSTERDAM).isoformat() == "2024-03-17T23:59:59+01:00"
    assert (
        end_of_week(date(2024, 3, 17), AMSTERDAM, weeks_ahead=1).isoformat()
        == "2024-03-24T23:59:59+01:00"
    )
    assert end_of_month(date(2024, 1, 31), NEW_YORK, months_ahead=1).isoformat() == (
        "2024-02-29T23:59:59-05:00"
    )
    assert end_of_month(date(2024, 12, 5), NEW_YORK).isoformat() == "2024-12-31T23:59:59-05:00"


def test_add_months_clamps_to_shorter_months() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2023, 1, 31), 1) == date(2023, 2, 28)
    assert add_months(date(2024, 11, 30), 3) == date(2025, 2, 28)
    assert add_months(date(2024, 3, 14), 0) == date(2024, 3, 14)
