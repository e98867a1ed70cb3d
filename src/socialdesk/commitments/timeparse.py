"""Find the time a promise states and resolve it to an aware due datetime.

The conventions (what "tomorrow", "within 5-7 business days" or "Monday between 8 and 12" are due
at) are those of ``data/annotations/commitments/GUIDELINE.md`` section 3, summarised:

* hours and minutes are elapsed time from now ("in an hour" is now + 1 h);
* days, weeks and months are calendar days in the organization's zone and end at 23:59:59 local;
* business days skip non-business days of the calendar and never count today;
* a range takes its upper bound ("24-48 hours" is now + 48 h), a window its end;
* a day with a clock time is that wall-clock time on that day, so DST shifts are honoured.

Pure functions only; the caller passes ``now`` and the zone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal

from socialdesk.commitments.calendar import (
    DEFAULT_CALENDAR,
    BusinessCalendar,
    add_months,
    end_of_day,
    end_of_month,
    end_of_week,
    local_datetime,
    local_today,
)

DueKind = Literal["explicit", "relative"]

# Quantities beyond this are not promise times ("within 99999 days") and would overflow dates.
MAX_AMOUNT = 3660
MORNING_ENDS = time(12, 0)
AFTERNOON_ENDS = time(18, 0)
SMALL_HOURS_END = 6

NUMBER_WORDS: dict[str, float] = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fourteen": 14,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "twenty four": 24,
    "twenty-four": 24,
    "forty eight": 48,
    "forty-eight": 48,
    "seventy two": 72,
    "seventy-two": 72,
    "a couple of": 2,
    "a couple": 2,
    "couple of": 2,
    "half an": 0.5,
    "half a": 0.5,
}
_NUM = (
    r"(?:\d{1,5}(?:\.\d+)?|twenty[- ]four|forty[- ]eight|seventy[- ]two|a\s+couple(?:\s+of)?|"
    r"couple\s+of|half\s+an?|an|a|one|two|three|four|five|six|seven|eight|nine|ten|eleven|"
    r"twelve|fourteen|fifteen|twenty|thirty)"
)
_UNIT = r"(?P<unit>minutes?|mins?|hours?|hrs?|h|days?|weeks?|wks?|months?)"

DURATION = re.compile(
    r"(?P<prep>\b(?:in|within|inside(?:\s+of)?|under|up\s+to|over)\s+(?:the\s+)?(?:next\s+)?"
    r"|\b(?:the\s+)?next\s+)?"
    rf"\b(?P<lo>{_NUM})(?:\s*(?:-|\u2013|\u2014|to|or)\s*(?P<hi>{_NUM}))?\s*(?:more\s+)?"
    rf"(?P<biz>business\s+|working\s+|work\s+)?{_UNIT}\b",
    re.IGNORECASE,
)
WITHIN_THE = re.compile(r"\bwithin\s+the\s+(?P<what>hour|day|week)\b", re.IGNORECASE)

_WEEKDAYS = {
    "monday": 0,
    "mon": 0,
    "tuesday": 1,
    "tue": 1,
    "tues": 1,
    "wednesday": 2,
    "wed": 2,
    "thursday": 3,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "friday": 4,
    "fri": 4,
    "saturday": 5,
    "sat": 5,
    "sunday": 6,
    "sun": 6,
}
_PART = r"(?:\s+(?P<part>morning|afternoon|evening|night))?"
TODAY = re.compile(
    r"\b(?:later\s+)?today\b|\b(?:by\s+|before\s+|at\s+)?(?:the\s+)?(?:end|close)\s+of\s+"
    r"(?:the\s+|today'?s?\s+)?(?:business\s+|working\s+)?day\b|\beod\b|\bcob\b|"
    r"\b(?:close|end)\s+of\s+business\b|\btonight\b|\b(?:later\s+)?this\s+evening\b",
    re.IGNORECASE,
)
THIS_PART = re.compile(r"\bthis\s+(?P<part>morning|afternoon)\b", re.IGNORECASE)
TOMORROW = re.compile(
    r"\b(?:tomorrow|tomorow|tommorow|tommorrow|tmrw|tmr|2moro|2morrow)" + _PART + r"\b",
    re.IGNORECASE,
)
# "from morning" (common in East African and South Asian English) means the same.
IN_THE_MORNING = re.compile(r"\b(?:in\s+the|from(?:\s+the)?)\s+morning\b", re.IGNORECASE)
WEEKDAY = re.compile(
    r"(?:\b(?P<mod>this\s+coming|this|next|coming|on|by|before|until|till|til)\s+)?"
    r"\b(?P<wd>monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"mon|tues?|wed|thu(?:rs?)?|fri|sat|sun)\b\.?" + _PART,
    re.IGNORECASE,
)
WEEK = re.compile(
    r"\b(?:(?:by\s+)?(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?week|this\s+week(?:end)?|"
    r"(?P<next>next)\s+week(?:end)?)\b",
    re.IGNORECASE,
)
MONTH = re.compile(
    r"\b(?:(?:by\s+)?(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?month|this\s+month|"
    r"(?P<next>next)\s+month)\b",
    re.IGNORECASE,
)
_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_MON = (
    r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
DAY_MONTH = re.compile(
    r"\b(?P<d>\d{1,2})(?:st|nd|rd|th)?\s*(?:of\s+)?" + _MON + r"\b\.?(?:,?\s*(?P<y>\d{4})\b)?",
    re.IGNORECASE,
)
MONTH_DAY = re.compile(
    r"\b(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?\s+(?P<d>\d{1,2})"
    r"(?:st|nd|rd|th)?\b(?:,?\s*(?P<y>\d{4})\b)?",
    re.IGNORECASE,
)
# Numeric dates need a year or a preposition: "1/2" and "2/3" are thread counters on Twitter.
NUMERIC_DATE = re.compile(
    r"(?:\b(?P<prep>on|by|before|until|till|from|dated)\s+(?:the\s+)?)?"
    r"(?<![\d/.])\b(?P<a>\d{1,2})[/.](?P<b>\d{1,2})(?:[/.](?P<y>\d{4}|\d{2}))?\b(?![/.]?\d)",
    re.IGNORECASE,
)
ISO_DATE = re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})\b")
ORDINAL_DAY = re.compile(r"\bthe\s+(?P<d>\d{1,2})(?:st|nd|rd|th)\b", re.IGNORECASE)

_CLOCK = r"(?:\d{1,2}(?::[0-5]\d){0,2}\s*(?:a\.?m\.?|p\.?m\.?)?|noon|midday|midnight)"
WINDOW = re.compile(
    rf"\b(?:between|from)\s+(?P<a>{_CLOCK})\s*(?:and|&amp;|&|-|\u2013|to|until|till)\s*(?P<b>{_CLOCK})"
    rf"|\b(?P<a2>\d{{1,2}}(?::[0-5]\d)?\s*(?:a\.?m\.?|p\.?m\.?)?)\s*(?:-|\u2013|to)\s*"
    rf"(?P<b2>\d{{1,2}}(?::[0-5]\d)?\s*(?:a\.?m\.?|p\.?m\.?))(?![\w])",
    re.IGNORECASE,
)
CLOCK = re.compile(
    r"(?:\b(?P<prep>by|before|until|till|at|around|after|from|no\s+later\s+than)\s+)?"
    r"(?:\b(?P<h>\d{1,2})(?::(?P<m>[0-5]\d))?(?::(?P<s>[0-5]\d))?\s*"
    r"(?P<ap>a\.?m\.?|p\.?m\.?)(?![a-z])"
    r"|\b(?P<h24>[01]?\d|2[0-3]):(?P<m24>[0-5]\d)(?::(?P<s24>[0-5]\d))?\b(?!\s*(?:a\.?m|p\.?m))"
    r"|\b(?P<word>noon|midday|midnight)\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class DueTime:
    """A resolved due time and the phrase it came from (offsets into the scanned text)."""

    due: datetime
    kind: DueKind
    phrase: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Context:
    now: datetime
    tz: tzinfo
    today: date
    calendar: BusinessCalendar
    month_first: bool


_DayResolver = Callable[[_Context], tuple[date, time | None] | datetime]


@dataclass(frozen=True, slots=True)
class _Mention:
    start: int
    end: int
    role: Literal["duration", "day", "clock"]
    # For "day": resolves to (day, default time or None for end of day) or a full datetime.
    # For "clock": returns the wall time, or None when it is a lower bound ("after 8am").
    # For "duration": returns the due datetime.
    resolve_day: _DayResolver | None = None
    clock: time | None = None
    resolve_due: Callable[[_Context], datetime] | None = None


def _number(word: str) -> float | None:
    cleaned = re.sub(r"\s+", " ", word.strip().lower())
    if cleaned in NUMBER_WORDS:
        return NUMBER_WORDS[cleaned]
    try:
        return float(cleaned)
    except ValueError:
        return None


def _elapsed(ctx: _Context, delta: timedelta) -> datetime:
    """``now`` plus elapsed time. Python adds to an aware datetime on its wall clock, so the sum
    is taken in UTC: 24 hours across a fall-back night end at 11:00, not 12:00."""
    return (ctx.now.astimezone(UTC) + delta).astimezone(ctx.tz)


def _duration(match: re.Match[str]) -> _Mention | None:
    lo = _number(match.group("lo"))
    hi = _number(match.group("hi")) if match.group("hi") else None
    if lo is None:
        return None
    amount = max(lo, hi) if hi is not None else lo
    # A bare number before a unit ("a 7 day trial", "2 hours ago") is no deadline: a preposition
    # ("within", "in", "next") or a range ("24-48 hours") marks one.
    if not match.group("prep") and hi is None:
        return None
    if amount <= 0 or amount > MAX_AMOUNT:
        return None
    unit = match.group("unit").lower()
    business = bool(match.group("biz"))

    def resolve(ctx: _Context) -> datetime:
        if unit.startswith(("min", "h")):
            # Hours and minutes are elapsed time, whatever the wall clock does meanwhile.
            minutes = amount if unit.startswith("min") else amount * 60
            return _elapsed(ctx, timedelta(minutes=minutes))
        whole = int(-(-amount // 1))  # a part-day still ends at the end of that day
        if unit.startswith("m"):
            last_day = add_months(ctx.today, whole)
        elif business:
            per_unit = 5 if unit.startswith("w") else 1
            last_day = ctx.calendar.add_business_days(ctx.today, whole * per_unit)
        else:
            per_unit = 7 if unit.startswith("w") else 1
            last_day = ctx.today + timedelta(days=whole * per_unit)
        return end_of_day(last_day, ctx.tz)

    return _Mention(match.start(), match.end(), "duration", resolve_due=resolve)


def _within_the(match: re.Match[str]) -> _Mention:
    what = match.group("what").lower()

    def resolve(ctx: _Context) -> datetime:
        if what == "hour":
            return _elapsed(ctx, timedelta(hours=1))
        if what == "day":
            return end_of_day(ctx.today, ctx.tz)
        return end_of_week(ctx.today, ctx.tz)

    return _Mention(match.start(), match.end(), "duration", resolve_due=resolve)


def _part_time(part: str | None) -> time | None:
    if part is None:
        return None
    part = part.lower()
    if part == "morning":
        return MORNING_ENDS
    if part == "afternoon":
        return AFTERNOON_ENDS
    return None  # evening and night end with the day


def _day(start: int, end: int, resolver: _DayResolver) -> _Mention:
    return _Mention(start, end, "day", resolve_day=resolver)


def _today(match: re.Match[str]) -> _Mention:
    return _day(match.start(), match.end(), lambda ctx: (ctx.today, None))


def _this_part(match: re.Match[str]) -> _Mention:
    at = _part_time(match.group("part"))
    return _day(match.start(), match.end(), lambda ctx: (ctx.today, at))


def _tomorrow(match: re.Match[str]) -> _Mention:
    at = _part_time(match.group("part"))
    return _day(match.start(), match.end(), lambda ctx: (ctx.today + timedelta(days=1), at))


def _in_the_morning(match: re.Match[str]) -> _Mention:
    def resolve(ctx: _Context) -> tuple[date, time | None]:
        local_hour = ctx.now.astimezone(ctx.tz).hour
        day = ctx.today if local_hour < SMALL_HOURS_END else ctx.today + timedelta(days=1)
        return day, MORNING_ENDS

    return _day(match.start(), match.end(), resolve)


def _weekday(match: re.Match[str]) -> _Mention | None:
    word = match.group("wd").lower()
    modifier = (match.group("mod") or "").lower()
    # Short forms ("sun", "sat", "wed") are ordinary words too; only trust them with a modifier.
    if len(word) <= 5 and not modifier:
        return None
    target = _WEEKDAYS[word]
    on_or_after = modifier.startswith("this")
    at = _part_time(match.group("part"))

    def resolve(ctx: _Context) -> tuple[date, time | None]:
        ahead = (target - ctx.today.weekday()) % 7
        if ahead == 0 and not on_or_after:
            ahead = 7
        return ctx.today + timedelta(days=ahead), at

    return _day(match.start(), match.end(), resolve)


def _week(match: re.Match[str]) -> _Mention:
    weeks_ahead = 1 if match.group("next") else 0
    return _day(
        match.start(),
        match.end(),
        lambda ctx: end_of_week(ctx.today, ctx.tz, weeks_ahead=weeks_ahead),
    )


def _month(match: re.Match[str]) -> _Mention:
    months_ahead = 1 if match.group("next") else 0
    return _day(
        match.start(),
        match.end(),
        lambda ctx: end_of_month(ctx.today, ctx.tz, months_ahead=months_ahead),
    )


def _next_date(today: date, month: int, day: int, year: int | None) -> date:
    """The date itself when a year is given, else its next occurrence on or after today."""
    if year is not None:
        return date(year, month, day)
    for offset in range(9):  # 29 February may be up to eight years away
        try:
            candidate = date(today.year + offset, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    raise ValueError(f"no date {month}/{day} found after {today.isoformat()}")


def _year(text: str | None) -> int | None:
    if not text:
        return None
    value = int(text)
    return value + 2000 if value < 100 else value


def _calendar_date(start: int, end: int, month: int, day: int, year: int | None) -> _Mention:
    return _day(start, end, lambda ctx: (_next_date(ctx.today, month, day, year), None))


def _day_month(match: re.Match[str]) -> _Mention:
    month = _MONTHS[match.group("mon").lower()[:3]]
    return _calendar_date(
        match.start(), match.end(), month, int(match.group("d")), _year(match.group("y"))
    )


def _numeric_date(match: re.Match[str]) -> _Mention | None:
    year = _year(match.group("y"))
    if year is None and not match.group("prep"):
        return None
    first, second = int(match.group("a")), int(match.group("b"))

    def resolve(ctx: _Context) -> tuple[date, time | None]:
        month_first = ctx.month_first
        if first > 12:
            month_first = False
        elif second > 12:
            month_first = True
        month, day = (first, second) if month_first else (second, first)
        return _next_date(ctx.today, month, day, year), None

    return _day(match.start(), match.end(), resolve)


def _iso_date(match: re.Match[str]) -> _Mention:
    return _calendar_date(
        match.start(),
        match.end(),
        int(match.group("m")),
        int(match.group("d")),
        int(match.group("y")),
    )


def _ordinal_day(match: re.Match[str]) -> _Mention:
    wanted = int(match.group("d"))

    def resolve(ctx: _Context) -> tuple[date, time | None]:
        month_start = ctx.today.replace(day=1)
        for months in range(13):
            first = add_months(month_start, months)
            try:
                candidate = first.replace(day=wanted)
            except ValueError:
                continue
            if candidate >= ctx.today:
                return candidate, None
        raise ValueError(f"no day {wanted} found in the coming year")

    return _day(match.start(), match.end(), resolve)


_NAMED_TIMES = {"noon": time(12, 0), "midday": time(12, 0), "midnight": time(23, 59, 59)}


def _parse_clock(text: str, *, afternoon_default: bool) -> time | None:
    """Parse "9", "9am", "3:00:00 PM", "15:30", "noon"; bare hours 1-7 read as afternoon."""
    cleaned = text.strip().lower().replace(".", "")
    if cleaned in _NAMED_TIMES:
        return _NAMED_TIMES[cleaned]
    found = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*(am|pm)?", cleaned)
    if not found:
        return None
    hour, minute, second = int(found.group(1)), int(found.group(2) or 0), int(found.group(3) or 0)
    meridiem = found.group(4)
    if meridiem and 1 <= hour <= 12:
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    elif meridiem:
        hour = 99  # "13pm" and "0am" are not times
    elif afternoon_default and 1 <= hour <= 7:
        hour += 12
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second)


def _window(match: re.Match[str]) -> _Mention | None:
    first = match.group("a") or match.group("a2")
    last = match.group("b") or match.group("b2")
    end_time = _parse_clock(last, afternoon_default=True)
    start_time = _parse_clock(first, afternoon_default=True)
    if end_time is None or start_time is None:
        return None
    # "between 1 and 5pm": the bare start takes the end's meridiem; "8 and 12" ends at noon.
    first_is_pm = re.search(r"p\.?m", first, re.IGNORECASE)
    last_has_meridiem = re.search(r"[ap]\.?m", last, re.IGNORECASE)
    if first_is_pm and not last_has_meridiem and end_time.hour < 12:
        end_time = end_time.replace(hour=end_time.hour + 12)
    return _Mention(match.start(), match.end(), "clock", clock=end_time)


def _clock(match: re.Match[str]) -> _Mention | None:
    prep = (match.group("prep") or "").lower()
    if match.group("word"):
        at = _parse_clock(match.group("word"), afternoon_default=False)
    elif match.group("h24"):
        at = _parse_clock(
            f"{match.group('h24')}:{match.group('m24')}:{match.group('s24') or '00'}",
            afternoon_default=False,
        )
    else:
        raw = f"{match.group('h')}:{match.group('m') or '00'}:{match.group('s') or '00'}"
        at = _parse_clock(f"{raw} {match.group('ap')}", afternoon_default=False)
    if at is None:
        return None
    # "after 8am" and "from 9am" are the earliest time, not the deadline.
    bound = None if prep in ("after", "from") else at
    return _Mention(match.start(), match.end(), "clock", clock=bound)


_SCANNERS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], _Mention | None]], ...] = (
    (DURATION, _duration),
    (WITHIN_THE, _within_the),
    (WINDOW, _window),
    (ISO_DATE, _iso_date),
    (NUMERIC_DATE, _numeric_date),
    (DAY_MONTH, _day_month),
    (MONTH_DAY, _day_month),
    (ORDINAL_DAY, _ordinal_day),
    (TOMORROW, _tomorrow),
    (THIS_PART, _this_part),
    (TODAY, _today),
    (IN_THE_MORNING, _in_the_morning),
    (WEEKDAY, _weekday),
    (WEEK, _week),
    (MONTH, _month),
    (CLOCK, _clock),
)


def _mentions(text: str) -> list[_Mention]:
    """Every time mention, longest first where two overlap (so "24-48 hours" is one duration,
    not a clock window)."""
    found: list[_Mention] = []
    for pattern, build in _SCANNERS:
        for match in pattern.finditer(text):
            mention = build(match)
            if mention is not None and mention.end > mention.start:
                found.append(mention)
    found.sort(key=lambda m: (-(m.end - m.start), m.start))
    kept: list[_Mention] = []
    for mention in found:
        if all(mention.end <= k.start or mention.start >= k.end for k in kept):
            kept.append(mention)
    kept.sort(key=lambda m: m.start)
    return kept


def _month_first(tz: tzinfo) -> bool:
    """Numeric dates are month/day for American zones, day/month elsewhere."""
    key = str(getattr(tz, "key", "") or "")
    return key.startswith(("America/", "US/"))


def _phrase(text: str, parts: list[_Mention]) -> tuple[str, int, int]:
    start = min(p.start for p in parts)
    end = max(p.end for p in parts)
    while end > start and text[end - 1].isspace():
        end -= 1
    return text[start:end], start, end


def _attempts(mentions: list[_Mention]) -> Iterator[tuple[DueKind, list[_Mention]]]:
    durations = [m for m in mentions if m.role == "duration"]
    days = [m for m in mentions if m.role == "day"]
    clocks = [m for m in mentions if m.role == "clock" and m.clock is not None]
    for duration in durations:
        yield "relative", [duration]
    for day in days:
        yield "explicit", [day, *clocks[:1]]
    if clocks:
        yield "explicit", clocks[:1]


def _resolve(kind: DueKind, parts: list[_Mention], ctx: _Context) -> datetime:
    head = parts[0]
    if head.role == "duration" and head.resolve_due is not None:
        return head.resolve_due(ctx)
    if head.role == "day" and head.resolve_day is not None:
        resolved = head.resolve_day(ctx)
        if isinstance(resolved, datetime):
            return resolved
        day, default_time = resolved
        clock = next((p.clock for p in parts[1:] if p.clock is not None), None)
        at = clock or default_time
        return local_datetime(day, at, ctx.tz) if at is not None else end_of_day(day, ctx.tz)
    if head.clock is None:
        raise ValueError(f"no clock time in {kind} mention")
    candidate = local_datetime(ctx.today, head.clock, ctx.tz)
    if candidate <= ctx.now:
        candidate = local_datetime(ctx.today + timedelta(days=1), head.clock, ctx.tz)
    return candidate


def resolve_due(
    text: str,
    *,
    now: datetime,
    tz: tzinfo,
    calendar: BusinessCalendar = DEFAULT_CALENDAR,
) -> DueTime | None:
    """The due time stated in ``text`` (a promise span), or None when it states none.

    Vague words ("soon", "shortly", "asap", "in a few minutes") state no time. The result is never
    before ``now``: a time already past ("this morning" said at 3pm) is clamped to ``now``.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")
    today = local_today(now, tz)
    ctx = _Context(now=now, tz=tz, today=today, calendar=calendar, month_first=_month_first(tz))
    for kind, parts in _attempts(_mentions(text)):
        try:
            due = _resolve(kind, parts, ctx)
        except (ValueError, OverflowError):
            continue  # an impossible date ("31/02") or one out of range: try the next mention
        phrase, start, end = _phrase(text, parts)
        due = max(due, now.astimezone(tz))
        return DueTime(due=due, kind=kind, phrase=phrase, start=start, end=end)
    return None
