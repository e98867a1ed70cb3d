"""Due-time resolution with the clock fixed by each test (see GUIDELINE.md section 3)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from socialdesk.commitments.calendar import BusinessCalendar
from socialdesk.commitments.timeparse import resolve_due

NEW_YORK = ZoneInfo("America/New_York")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
TOKYO = ZoneInfo("Asia/Tokyo")
# Thursday 14 March 2024, 10:00 in New York.
NOW_NY = datetime(2024, 3, 14, 10, 0, tzinfo=NEW_YORK)


def due(text: str, now: datetime = NOW_NY, tz: ZoneInfo = NEW_YORK, **kwargs: object) -> str | None:
    found = resolve_due(text, now=now, tz=tz, **kwargs)  # type: ignore[arg-type]
    return found.due.isoformat() if found else None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'll DM you in an hour", "2024-03-14T11:00:00-04:00"),
        ("someone will reply within the hour", "2024-03-14T11:00:00-04:00"),
        ("in half an hour", "2024-03-14T10:30:00-04:00"),
        ("in 45 mins", "2024-03-14T10:45:00-04:00"),
        ("you'll hear from us within 24-48 hours", "2024-03-16T10:00:00-04:00"),
        ("your refund will arrive within 5-7 business days", "2024-03-25T23:59:59-04:00"),
        ("within the next 2 to 3 business days", "2024-03-19T23:59:59-04:00"),
        ("in a couple of days", "2024-03-16T23:59:59-04:00"),
        ("in 2 weeks", "2024-03-28T23:59:59-04:00"),
        ("a technician will call you tomorrow", "2024-03-15T23:59:59-04:00"),
        ("tomorrow morning", "2024-03-15T12:00:00-04:00"),
        ("tomorrow afternoon", "2024-03-15T18:00:00-04:00"),
        ("tomorrow at 9am", "2024-03-15T09:00:00-04:00"),
        ("tomorrow at 14:30", "2024-03-15T14:30:00-04:00"),
        ("by end of day", "2024-03-14T23:59:59-04:00"),
        ("later today", "2024-03-14T23:59:59-04:00"),
        ("tonight", "2024-03-14T23:59:59-04:00"),
        ("this afternoon", "2024-03-14T18:00:00-04:00"),
        ("Monday between 8 and 12", "2024-03-18T12:00:00-04:00"),
        ("on Monday between 1 and 5", "2024-03-18T17:00:00-04:00"),
        ("Monday 8am-12pm", "2024-03-18T12:00:00-04:00"),
        ("by Friday", "2024-03-15T23:59:59-04:00"),
        ("on Thursday", "2024-03-21T23:59:59-04:00"),  # said on a Thursday: next week's
        ("this Thursday", "2024-03-14T23:59:59-04:00"),
        ("this week", "2024-03-17T23:59:59-04:00"),
        ("next week", "2024-03-24T23:59:59-04:00"),
        ("next month", "2024-04-30T23:59:59-04:00"),
        ("by 5pm", "2024-03-14T17:00:00-04:00"),
        ("at 9am", "2024-03-15T09:00:00-04:00"),  # 9am has passed today
        ("on 21 March", "2024-03-21T23:59:59-04:00"),
        ("by March 21st", "2024-03-21T23:59:59-04:00"),
        ("by 3/21", "2024-03-21T23:59:59-04:00"),
        ("by 3/4", "2025-03-04T23:59:59-05:00"),  # month first in America, already past
        ("by 17/10/24", "2024-10-17T23:59:59-04:00"),  # 17 cannot be a month
        ("by 04/12/2024 03:00:00 PM", "2024-04-12T15:00:00-04:00"),
        ("2024-04-02", "2024-04-02T23:59:59-04:00"),
        ("by the 22nd", "2024-03-22T23:59:59-04:00"),
        ("today after 8 am", "2024-03-14T23:59:59-04:00"),  # "after" is no deadline
    ],
)
def test_phrases_resolve_in_new_york(text: str, expected: str) -> None:
    assert due(text) == expected


def test_a_date_already_passed_is_clamped_to_now() -> None:
    found = resolve_due("by 17/10/17", now=NOW_NY, tz=NEW_YORK)
    assert found is not None
    assert found.due == NOW_NY


@pytest.mark.parametrize(
    "text",
    [
        "we'll get back to you soon",
        "shortly",
        "as soon as possible",
        "asap",
        "in a few minutes",
        "right away",
        "at the earliest",
        "thanks 1/2",
        "(2/3)",
        "here 24/7",
        "a 7 day trial",
        "31/02/2024",
        "within 99999 days",
        "",
    ],
)
def test_vague_or_non_times_state_no_time(text: str) -> None:
    assert due(text) is None


def test_day_month_order_follows_the_zone() -> None:
    now = datetime(2024, 3, 14, 10, 0, tzinfo=AMSTERDAM)
    assert due("by 3/4", now=now, tz=AMSTERDAM) == "2024-04-03T23:59:59+02:00"
    assert due("by 3/4", now=now.astimezone(NEW_YORK), tz=NEW_YORK) == ("2025-03-04T23:59:59-05:00")


def test_business_days_skip_holidays() -> None:
    # Thursday before Easter 2024: Good Friday and Easter Monday are holidays.
    now = datetime(2024, 3, 28, 9, 0, tzinfo=AMSTERDAM)
    easter = BusinessCalendar.with_holidays([date(2024, 3, 29), date(2024, 4, 1)])
    assert due("within 2 business days", now=now, tz=AMSTERDAM) == "2024-04-01T23:59:59+02:00"
    assert (
        due("within 2 business days", now=now, tz=AMSTERDAM, calendar=easter)
        == "2024-04-03T23:59:59+02:00"
    )


def test_business_days_said_at_the_weekend() -> None:
    saturday = datetime(2024, 3, 16, 11, 0, tzinfo=NEW_YORK)
    assert due("within 3 business days", now=saturday) == "2024-03-20T23:59:59-04:00"


# --- daylight saving: "tomorrow at 9am" means 9am on the wall clock -----------------------------


@pytest.mark.parametrize(
    ("now", "tz", "expected"),
    [
        # New York springs forward on Sunday 10 March 2024 at 02:00.
        ((2024, 3, 9, 12), NEW_YORK, "2024-03-10T09:00:00-04:00"),
        # New York falls back on Sunday 3 November 2024 at 02:00.
        ((2024, 11, 2, 12), NEW_YORK, "2024-11-03T09:00:00-05:00"),
        # Amsterdam springs forward on Sunday 31 March 2024 at 02:00.
        ((2024, 3, 30, 18), AMSTERDAM, "2024-03-31T09:00:00+02:00"),
        # Amsterdam falls back on Sunday 27 October 2024 at 03:00.
        ((2024, 10, 26, 18), AMSTERDAM, "2024-10-27T09:00:00+01:00"),
        # Tokyo has no daylight saving.
        ((2024, 3, 30, 18), TOKYO, "2024-03-31T09:00:00+09:00"),
    ],
)
def test_tomorrow_at_9am_across_dst_nights(
    now: tuple[int, int, int, int], tz: ZoneInfo, expected: str
) -> None:
    local_now = datetime(*now, tzinfo=tz)
    assert due("we'll call you tomorrow at 9am", now=local_now, tz=tz) == expected


def test_tomorrow_at_9am_is_not_24_hours_later_across_dst() -> None:
    now = datetime(2024, 3, 9, 9, 0, tzinfo=NEW_YORK)
    found = resolve_due("tomorrow at 9am", now=now, tz=NEW_YORK)
    assert found is not None
    # Subtract in UTC: Python subtracts two times of one zone on their wall clocks.
    elapsed = found.due.astimezone(UTC) - now.astimezone(UTC)
    assert elapsed.total_seconds() == 23 * 3600


def test_a_skipped_wall_time_moves_forward() -> None:
    now = datetime(2024, 3, 9, 12, 0, tzinfo=NEW_YORK)
    assert due("tomorrow at 2:30am", now=now) == "2024-03-10T03:30:00-04:00"


def test_hours_are_elapsed_time_across_fall_back() -> None:
    # 24 hours after Saturday noon EDT is Sunday 11:00 EST: the clock went back one hour.
    now = datetime(2024, 11, 2, 12, 0, tzinfo=NEW_YORK)
    assert due("within 24 hours", now=now) == "2024-11-03T11:00:00-05:00"


def test_end_of_day_on_the_fall_back_day() -> None:
    now = datetime(2024, 10, 27, 1, 0, tzinfo=UTC)  # 03:00 CEST, about to become 02:00 CET
    assert due("later today", now=now, tz=AMSTERDAM) == "2024-10-27T23:59:59+01:00"


def test_days_are_read_in_the_organizations_zone() -> None:
    # 16:00 UTC on Thursday is already 01:00 on Friday in Tokyo.
    now = datetime(2024, 3, 14, 16, 0, tzinfo=UTC)
    assert due("tomorrow", now=now, tz=TOKYO) == "2024-03-16T23:59:59+09:00"
    assert due("tomorrow", now=now, tz=NEW_YORK) == "2024-03-15T23:59:59-04:00"
    assert due("within 2 business days", now=now, tz=TOKYO) == "2024-03-19T23:59:59+09:00"
    assert due("by Monday", now=now, tz=TOKYO) == "2024-03-18T23:59:59+09:00"


def test_in_the_morning_said_in_the_small_hours_is_today() -> None:
    small_hours = datetime(2017, 10, 10, 0, 27, tzinfo=NEW_YORK)
    assert due("in the morning", now=small_hours) == "2017-10-10T12:00:00-04:00"
    assert due("in the morning", now=NOW_NY) == "2024-03-15T12:00:00-04:00"
    assert due("from morning", now=NOW_NY) == "2024-03-15T12:00:00-04:00"
    assert due("from the morning", now=small_hours) == "2017-10-10T12:00:00-04:00"


def test_kind_and_phrase() -> None:
    found = resolve_due("we'll call you Monday between 8 and 12 ok", now=NOW_NY, tz=NEW_YORK)
    assert found is not None
    assert found.kind == "explicit"
    assert found.phrase == "Monday between 8 and 12"
    relative = resolve_due("refund within 5-7 business days", now=NOW_NY, tz=NEW_YORK)
    assert relative is not None
    assert relative.kind == "relative"
    assert relative.phrase == "within 5-7 business days"


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve_due("tomorrow", now=datetime(2024, 3, 14, 10, 0), tz=NEW_YORK)  # noqa: DTZ001
