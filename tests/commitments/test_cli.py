"""``socialdesk commitments extract`` through click's test runner."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from click.testing import CliRunner

from socialdesk.commitments.cli import commitments
from socialdesk.common.clock import FrozenClock

NOW = "2024-03-09T12:00:00-05:00"  # Saturday noon in New York; clocks spring forward tonight


def run(*args: str, stdin: str | None = None) -> list[dict[str, Any]]:
    result = CliRunner().invoke(commitments, ["extract", *args], input=stdin)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_text_argument() -> None:
    [line] = run("--now", NOW, "--tz", "America/New_York", "We will call you tomorrow at 9am.")
    assert line == {
        "promises": [
            {
                "text": "We will call you tomorrow at 9am",
                "start": 0,
                "end": 32,
                "due": "2024-03-10T09:00:00-04:00",
                "due_kind": "explicit",
                "due_phrase": "tomorrow at 9am",
                "action": "call you",
            }
        ]
    }


def test_stdin_one_message_per_line() -> None:
    lines = run(
        "--now",
        "2024-03-14T09:00:00Z",
        "--tz",
        "Europe/Amsterdam",
        stdin="Please DM us.\nWe'll look into it and get back to you.\n\nI'll DM you in an hour\n",
    )
    assert len(lines) == 4
    assert lines[0] == {"promises": []}
    [untimed] = lines[1]["promises"]
    assert untimed["due"] is None
    assert lines[2] == {"promises": []}
    [timed] = lines[3]["promises"]
    assert timed["due"] == "2024-03-14T11:00:00+01:00"
    assert (timed["start"], timed["end"]) == (0, 22)


def test_holidays_and_default_due() -> None:
    [line] = run(
        "--now",
        "2024-03-28T09:00:00+01:00",
        "--tz",
        "Europe/Amsterdam",
        "--holiday",
        "2024-03-29",
        "--holiday",
        "2024-04-01",
        "Your refund will arrive within 2 business days. We'll be in touch.",
        "--default-due-hours",
        "24",
    )
    refund, touch = line["promises"]
    assert refund["due"] == "2024-04-03T23:59:59+02:00"
    assert touch["due"] == "2024-03-29T09:00:00+01:00"
    assert touch["due_kind"] == "default"


def test_bad_options_are_named() -> None:
    runner = CliRunner()
    naive = runner.invoke(commitments, ["extract", "--now", "2024-03-14T10:00:00", "x"])
    assert naive.exit_code == 2
    assert "no UTC offset" in naive.output
    garbage = runner.invoke(commitments, ["extract", "--now", "tomorrow-ish", "x"])
    assert garbage.exit_code == 2
    assert "not an ISO 8601 time" in garbage.output
    zone = runner.invoke(commitments, ["extract", "--tz", "Mars/Olympus", "x"])
    assert zone.exit_code == 2
    assert "not an IANA time zone" in zone.output
    holiday = runner.invoke(commitments, ["extract", "--holiday", "29-03-2024", "x"])
    assert holiday.exit_code == 2
    assert "not a date" in holiday.output


def test_now_defaults_to_the_clock(clock: FrozenClock) -> None:
    [line] = run("--tz", "UTC", "I'll DM you in an hour")
    [promise] = line["promises"]
    assert promise["due"] == (clock.now() + timedelta(hours=1)).isoformat()
