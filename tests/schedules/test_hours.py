"""Business-hours arithmetic across weekends, holidays, zones and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialdesk.common.errors import ValidationFailed
from socialdesk.schedules.hours import ALWAYS, WeeklyHours

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_9_TO_17 = {str(d): [["09:00", "17:00"]] for d in range(5)}


def office(zone: str = "Europe/Berlin", holidays: tuple[str, ...] = ()) -> WeeklyHours:
    return WeeklyHours.parse(timezone=zone, intervals=WEEKDAYS_9_TO_17, holidays=list(holidays))


def local(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone)


def test_open_and_closed_instants() -> None:
    hours = office()
    assert hours.is_open(local(BERLIN, 2026, 1, 5, 9, 0))  # Monday 09:00 opens
    assert hours.is_open(local(BERLIN, 2026, 1, 5, 16, 59))
    assert not hours.is_open(local(BERLIN, 2026, 1, 5, 17, 0))  # 17:00 is closed
    assert not hours.is_open(local(BERLIN, 2026, 1, 10, 12, 0))  # Saturday


def test_friday_afternoon_target_lands_on_monday() -> None:
    hours = office()
    start = local(BERLIN, 2026, 1, 9, 16, 0)  # Friday 16:00, one hour left that day
    due = hours.add(start, 2 * 3600)
    assert due == local(BERLIN, 2026, 1, 12, 10, 0)  # Monday 10:00
    assert hours.seconds_between(start, due) == 2 * 3600


def test_a_message_at_night_counts_from_the_next_opening() -> None:
    hours = office()
    start = local(BERLIN, 2026, 1, 6, 22, 30)  # Tuesday night
    assert hours.next_opening(start) == local(BERLIN, 2026, 1, 7, 9, 0)
    assert hours.add(start, 30 * 60) == local(BERLIN, 2026, 1, 7, 9, 30)
    assert hours.seconds_between(start, local(BERLIN, 2026, 1, 7, 8, 0)) == 0


def test_holidays_are_skipped() -> None:
    hours = office(holidays=("2026-12-24", "2026-12-25"))
    start = local(BERLIN, 2026, 12, 23, 16, 0)  # Wednesday before Christmas
    # 1h on the 23rd; 24th and 25th closed; Saturday and Sunday closed; Monday the 28th.
    assert hours.add(start, 3 * 3600) == local(BERLIN, 2026, 12, 28, 11, 0)


def test_same_instant_in_two_zones_differs() -> None:
    berlin, new_york = office("Europe/Berlin"), office("America/New_York")
    at = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # 16:00 Berlin, 10:00 New York
    assert berlin.is_open(at)
    assert new_york.is_open(at)
    assert berlin.add(at, 2 * 3600) == local(BERLIN, 2026, 1, 6, 10, 0)
    assert new_york.add(at, 2 * 3600) == local(NEW_YORK, 2026, 1, 5, 12, 0)


def test_spring_forward_keeps_wall_clock_hours() -> None:
    # Berlin moves from 02:00 to 03:00 on Sunday 2026-03-29. A Friday 16:00 start with two
    # business hours ends Monday 10:00 local, which is 08:00 UTC (it was 09:00 UTC before).
    hours = office()
    due = hours.add(local(BERLIN, 2026, 3, 27, 16, 0), 2 * 3600)
    assert due.astimezone(BERLIN) == local(BERLIN, 2026, 3, 30, 10, 0)
    assert due == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)


def test_autumn_back_across_the_change_new_york() -> None:
    # New York falls back on Sunday 2026-11-01; Monday opens at 09:00 EST = 14:00 UTC.
    hours = office("America/New_York")
    due = hours.add(local(NEW_YORK, 2026, 10, 30, 16, 30), 3600)
    assert due == datetime(2026, 11, 2, 14, 30, tzinfo=UTC)


def test_around_the_clock_period_across_the_spring_gap_is_an_hour_shorter() -> None:
    hours = WeeklyHours.parse(
        timezone="Europe/Berlin", intervals={str(d): [["00:00", "24:00"]] for d in range(7)}
    )
    day_start = local(BERLIN, 2026, 3, 29, 0, 0)
    day_end = local(BERLIN, 2026, 3, 30, 0, 0)
    assert hours.seconds_between(day_start, day_end) == 23 * 3600
    autumn = hours.seconds_between(local(BERLIN, 2026, 10, 25, 0, 0), local(BERLIN, 2026, 10, 26))
    assert autumn == 25 * 3600


def test_split_shifts() -> None:
    hours = WeeklyHours.parse(
        timezone="UTC", intervals={"0": [["13:00", "17:00"], ["08:00", "12:00"]]}
    )
    start = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
    assert hours.add(start, 2 * 3600) == datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
    assert not hours.is_open(datetime(2026, 1, 5, 12, 30, tzinfo=UTC))
    # The next Monday after the last shift.
    assert hours.add(datetime(2026, 1, 5, 16, 0, tzinfo=UTC), 2 * 3600) == datetime(
        2026, 1, 12, 9, 0, tzinfo=UTC
    )


def test_always_is_calendar_time() -> None:
    start = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert ALWAYS.add(start, 7200) == start + timedelta(hours=2)
    assert ALWAYS.seconds_between(start, start + timedelta(days=2)) == 2 * 86400
    assert WeeklyHours.from_row(None) is ALWAYS


@pytest.mark.parametrize(
    ("intervals", "holidays", "timezone", "message"),
    [
        ({"0": [["09:00", "17:00"]]}, [], "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ({"0": [["25:00", "26:00"]]}, [], "UTC", "Monday: '25:00' is not a time of day"),
        ({"1": [["17:00", "09:00"]]}, [], "UTC", "Tuesday: 17:00-09:00 ends before it starts"),
        (
            {"2": [["09:00", "13:00"], ["12:00", "17:00"]]},
            [],
            "UTC",
            "Wednesday: 09:00-13:00 overlaps 12:00-17:00",
        ),
        ({"7": [["09:00", "17:00"]]}, [], "UTC", "weekday '7' must be 0 (Monday) to 6"),
        ({"0": [["9am", "5pm"]]}, [], "UTC", "Monday: '9am' is not a time like 09:00"),
        ({"0": [["09:00", "17:00"]]}, ["25/12/2026"], "UTC", "holiday '25/12/2026'"),
        ({}, [], "UTC", "at least one open interval"),
    ],
)
def test_bad_hours_are_refused_with_what_is_wrong(
    intervals: dict[str, list[list[str]]], holidays: list[str], timezone: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as raised:
        WeeklyHours.parse(timezone=timezone, intervals=intervals, holidays=holidays)
    assert message in raised.value.message


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        office().is_open(datetime(2026, 1, 5, 10, 0))  # noqa: DTZ001 - the point of the test


instants = st.datetimes(
    min_value=datetime(2025, 1, 1),  # noqa: DTZ001 - hypothesis takes naive bounds
    max_value=datetime(2027, 12, 31),  # noqa: DTZ001 - and adds the zone below
    timezones=st.just(UTC),
)


@settings(max_examples=200, deadline=None)
@given(start=instants, minutes=st.integers(min_value=1, max_value=60 * 24 * 20))
def test_add_and_between_agree(start: datetime, minutes: int) -> None:
    for hours in (office("Europe/Berlin", ("2026-12-25",)), office("America/New_York")):
        due = hours.add(start, minutes * 60)
        assert hours.seconds_between(start, due) == pytest.approx(minutes * 60)
        # The due instant is the end of open time: just before it the desk was open.
        assert hours.is_open(due - timedelta(seconds=1))
