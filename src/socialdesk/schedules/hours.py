"""Business-hours arithmetic: is a team open now, when does it next open, what time is it after
N business minutes, how many business seconds lie between two instants.

Pure: no clock, no database. Opening hours are local wall-clock times in the schedule's zone,
so "09:00-17:00" stays 09:00-17:00 across a daylight-saving change; durations are measured in
real elapsed seconds (an open period that spans the spring-forward gap is an hour shorter).
Every day's periods are turned into UTC intervals and the arithmetic walks those.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from socialdesk.commitments.calendar import local_datetime
from socialdesk.common.errors import ValidationFailed

if TYPE_CHECKING:
    from socialdesk.schedules.models import BusinessHours

MINUTES_PER_DAY = 24 * 60
# A schedule open a few hours a week still finds any SLA target within this many days; the
# bound keeps a schedule with holidays everywhere from looping for ever.
MAX_DAYS = 3660
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

Period = tuple[int, int]  # minutes after local midnight: [start, end), end at most 24:00


@dataclass(frozen=True, slots=True)
class WeeklyHours:
    """Open periods per weekday (Monday is 0) in ``zone``, closed on ``holidays``.

    ``always`` marks the around-the-clock schedule, whose arithmetic is plain calendar time.
    """

    zone: ZoneInfo
    periods: Mapping[int, tuple[Period, ...]]
    holidays: frozenset[date] = field(default_factory=frozenset)
    always: bool = False

    # -- building --------------------------------------------------------------------------

    @classmethod
    def parse(
        cls,
        *,
        timezone: str,
        intervals: Mapping[str, Sequence[Sequence[str]]],
        holidays: Sequence[str] = (),
    ) -> WeeklyHours:
        """Validate stored or submitted hours. Errors name the weekday, the interval and what
        is wrong with it."""
        zone = parse_zone(timezone)
        periods: dict[int, tuple[Period, ...]] = {}
        for key, raw_periods in intervals.items():
            try:
                weekday = int(key)
            except (TypeError, ValueError):
                raise ValidationFailed(
                    f"weekday {key!r} must be 0 (Monday) to 6 (Sunday)", field="intervals"
                ) from None
            if weekday not in range(7):
                raise ValidationFailed(
                    f"weekday {key!r} must be 0 (Monday) to 6 (Sunday)", field="intervals"
                )
            day_name = WEEKDAY_NAMES[weekday]
            parsed: list[Period] = []
            for pair in raw_periods:
                if len(pair) != 2:
                    raise ValidationFailed(
                        f"{day_name}: each interval is a start and an end, got {list(pair)!r}",
                        field="intervals",
                    )
                start = parse_clock(pair[0], where=day_name)
                end = parse_clock(pair[1], where=day_name)
                if end <= start:
                    raise ValidationFailed(
                        f"{day_name}: {pair[0]}-{pair[1]} ends before it starts",
                        field="intervals",
                    )
                parsed.append((start, end))
            parsed.sort()
            for (a_start, a_end), (b_start, b_end) in pairwise(parsed):
                if b_start < a_end:
                    raise ValidationFailed(
                        f"{day_name}: {_fmt(a_start)}-{_fmt(a_end)} overlaps "
                        f"{_fmt(b_start)}-{_fmt(b_end)}",
                        field="intervals",
                    )
            if parsed:
                periods[weekday] = tuple(parsed)
        if not periods:
            raise ValidationFailed(
                "business hours need at least one open interval in the week", field="intervals"
            )
        days: set[date] = set()
        for value in holidays:
            try:
                days.add(date.fromisoformat(str(value)))
            except ValueError:
                raise ValidationFailed(
                    f"holiday {value!r} is not a date like 2026-12-25", field="holidays"
                ) from None
        return cls(zone=zone, periods=periods, holidays=frozenset(days))

    @classmethod
    def from_row(cls, row: BusinessHours | None) -> WeeklyHours:
        """The schedule stored in ``row``; around the clock for None."""
        if row is None:
            return ALWAYS
        return cls.parse(timezone=row.timezone, intervals=row.intervals, holidays=row.holidays)

    # -- questions ---------------------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        at = _aware(at)
        if self.always:
            return True
        local_day = at.astimezone(self.zone).date()
        # A period of the previous local day cannot reach into this one (it ends by 24:00),
        # but the UTC instant may sit in either local day around a change, so look at both.
        for day in (local_day - timedelta(days=1), local_day):
            for start, end in self._day_periods(day):
                if start <= at < end:
                    return True
        return False

    def next_opening(self, at: datetime) -> datetime:
        """``at`` itself when open, else the start of the next open period."""
        at = _aware(at)
        if self.always:
            return at
        for start, end in self._periods_from(at):
            if end > at:
                return max(start, at)
        raise ValueError(f"no open hours within {MAX_DAYS} days of {at.isoformat()}")

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant when ``seconds`` of open time have passed since ``start``. A start
        outside hours counts from the next opening; a due time never lands on a closed
        instant except the very end of an open period."""
        start = _aware(start)
        if seconds < 0:
            raise ValueError(f"seconds must not be negative, got {seconds}")
        if self.always:
            return start + timedelta(seconds=seconds)
        remaining = timedelta(seconds=seconds)
        for period_start, period_end in self._periods_from(start):
            if period_end <= start:
                continue
            begin = max(period_start, start)
            available = period_end - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        raise ValueError(f"no {seconds} open seconds within {MAX_DAYS} days")

    def seconds_between(self, start: datetime, end: datetime) -> float:
        """Open seconds in [start, end); negative when ``end`` is before ``start``."""
        start, end = _aware(start), _aware(end)
        if end < start:
            return -self.seconds_between(end, start)
        if self.always:
            return (end - start).total_seconds()
        total = timedelta()
        for period_start, period_end in self._periods_from(start):
            if period_start >= end:
                break
            overlap = min(period_end, end) - max(period_start, start)
            if overlap > timedelta():
                total += overlap
        return total.total_seconds()

    # -- the walk ----------------------------------------------------------------------------

    def _day_periods(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        if day in self.holidays:
            return
        for start, end in self.periods.get(day.weekday(), ()):
            yield _at(day, start, self.zone), _at(day, end, self.zone)

    def _periods_from(self, at: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open periods in time order, from the local day before ``at`` on (cheap, and safe
        around midnight and zone changes); callers skip those that ended before ``at``."""
        day = at.astimezone(self.zone).date() - timedelta(days=1)
        for _ in range(MAX_DAYS):
            yield from self._day_periods(day)
            day += timedelta(days=1)


ALWAYS = WeeklyHours(
    zone=ZoneInfo("UTC"),
    periods=dict.fromkeys(range(7), ((0, MINUTES_PER_DAY),)),
    always=True,
)


def parse_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin",
            field="timezone",
        ) from None


def parse_clock(value: str, *, where: str = "") -> int:
    """``"HH:MM"`` as minutes after midnight; ``"24:00"`` is the end of the day."""
    text = str(value).strip()
    hours, sep, minutes = text.partition(":")
    prefix = f"{where}: " if where else ""
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValidationFailed(f"{prefix}{text!r} is not a time like 09:00", field="intervals")
    total = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or total > MINUTES_PER_DAY:
        raise ValidationFailed(
            f"{prefix}{text!r} is not a time of day (00:00 to 24:00)", field="intervals"
        )
    return total


def _fmt(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _at(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    if minutes >= MINUTES_PER_DAY:
        return local_datetime(day + timedelta(days=1), time(0, 0), zone).astimezone(UTC)
    return local_datetime(day, time(minutes // 60, minutes % 60), zone).astimezone(UTC)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("business-hours arithmetic needs aware datetimes")
    return value.astimezone(UTC)
