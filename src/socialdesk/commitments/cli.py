"""``socialdesk commitments``: promise extraction from the command line.

    socialdesk commitments extract --now 2024-03-14T10:00:00+01:00 --tz Europe/Amsterdam \
        "A technician will call you tomorrow."

With no TEXT, each line of standard input is one message. Each message gives one line of JSON:
``{"promises": [{"text", "start", "end", "due", "due_kind", "due_phrase", "action"}]}`` with
``due`` in ISO 8601 with its offset, or null when the message states no time.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from socialdesk.commitments.calendar import BusinessCalendar
from socialdesk.commitments.extract import Promise, extract
from socialdesk.common import clock


def _parse_now(value: str | None) -> datetime:
    if value is None:
        return clock.now()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time; use e.g. 2024-03-14T10:00:00+01:00"
        ) from exc
    if parsed.tzinfo is None:
        raise click.BadParameter(
            f"{value!r} has no UTC offset; add one, e.g. {value}+00:00 or {value}Z"
        )
    return parsed


def _parse_zone(value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise click.BadParameter(
            f"{value!r} is not an IANA time zone; use e.g. Europe/Amsterdam or America/New_York"
        ) from exc


def _parse_holiday(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD") from exc


def _stdin_lines() -> Iterator[str]:
    # sys.stdin is looked up at call time so click's test runner can supply the input.
    for line in sys.stdin:
        yield line.rstrip("\r\n")


def promise_json(promise: Promise) -> dict[str, object]:
    return {
        "text": promise.text,
        "start": promise.start,
        "end": promise.end,
        "due": promise.due.isoformat() if promise.due else None,
        "due_kind": promise.due_kind,
        "due_phrase": promise.due_phrase,
        "action": promise.action,
    }


@click.group(name="commitments")
def commitments() -> None:
    """Promises made in outgoing replies."""


@commitments.command(name="extract")
@click.option(
    "--now", "now_text", metavar="ISO_TIME", help="When the messages are sent (default: now)."
)
@click.option(
    "--tz",
    "zone_text",
    metavar="ZONE",
    default="UTC",
    show_default=True,
    help="The organization's IANA time zone.",
)
@click.option(
    "--holiday",
    "holiday_texts",
    metavar="YYYY-MM-DD",
    multiple=True,
    help="A day that is not a business day (repeatable).",
)
@click.option(
    "--default-due-hours",
    type=click.FloatRange(min=0),
    default=None,
    help="Give promises that state no time a due this many hours after --now.",
)
@click.argument("text", required=False)
def extract_command(
    now_text: str | None,
    zone_text: str,
    holiday_texts: tuple[str, ...],
    default_due_hours: float | None,
    text: str | None,
) -> None:
    """Print the promises in TEXT, or in each line of standard input, as JSON lines."""
    now = _parse_now(now_text)
    zone = _parse_zone(zone_text)
    calendar = BusinessCalendar.with_holidays(_parse_holiday(day) for day in holiday_texts)
    default_due = timedelta(hours=default_due_hours) if default_due_hours is not None else None
    messages: Iterable[str] = [text] if text is not None else _stdin_lines()
    for message in messages:
        promises = extract(
            message, now=now, tz=zone, business_days=calendar, default_due=default_due
        )
        click.echo(
            json.dumps({"promises": [promise_json(p) for p in promises]}, ensure_ascii=False)
        )
