"""The SLA report on a small data set whose figures are worked out by hand below."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.common.clock import FrozenClock
from socialdesk.common.errors import ValidationFailed
from socialdesk.sla import reports
from socialdesk.sla.models import SlaClock
from tests.factories.conversations import inbound, ingest
from tests.sla.conftest import World, policy

DAY = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@dataclass
class Clock:
    conversation: int
    target: str
    team: int | None
    member: int | None
    channel: str
    priority: int
    elapsed: int | None = None
    breached: bool = False
    running: bool = False
    overdue: bool = False
    started: datetime = DAY


def build(session: Session, world: World, clock: FrozenClock, rows: list[Clock]) -> None:
    made = policy(session, world.org)
    conversations = {
        n: ingest(
            session, world.web, inbound(author=f"c{n}", thread_key=f"visitor:c{n}")
        ).conversation
        for n in sorted({r.conversation for r in rows})
    }
    for r in rows:
        due = r.started + (timedelta(minutes=10) if r.overdue else timedelta(hours=1))
        if r.running and not r.overdue:
            due = clock.now() + timedelta(hours=3)
        stopped = None if r.running else r.started + timedelta(seconds=r.elapsed or 60)
        session.add(
            SlaClock(
                organization_id=world.org.id,
                conversation_id=conversations[r.conversation].id,
                policy_id=made.id,
                target=r.target,
                started_at=r.started,
                due_at=due,
                stopped_at=stopped,
                breached_at=due if r.breached else None,
                elapsed_seconds=r.elapsed,
                team_id=r.team,
                assignee_id=r.member,
                channel=r.channel,
                priority=r.priority,
            )
        )
    session.commit()


@pytest.fixture
def data(session: Session, world: World, clock: FrozenClock) -> dict[str, int]:
    clock.set(datetime(2026, 1, 5, 13, 0, tzinfo=UTC))
    a = world.team.id
    b = accounts_service.create_team(session, organization_id=world.org.id, name="Billing").id
    m1, m2 = world.agent.id, world.lead.id
    fr, res = "first_response", "resolution"
    build(
        session,
        world,
        clock,
        [
            Clock(1, fr, a, m1, "web", 1, elapsed=60),
            Clock(1, res, a, m1, "web", 1, elapsed=600),
            Clock(2, fr, a, m1, "web", 2, elapsed=120),
            Clock(2, res, a, m1, "web", 2, elapsed=3000, breached=True),
            Clock(3, fr, a, m2, "x", 1, elapsed=300),
            Clock(4, fr, b, m2, "web", 3, elapsed=900, breached=True),
            Clock(5, fr, b, None, "web", 1, running=True),  # in progress
            Clock(6, fr, None, None, "web", 1, running=True, overdue=True),  # overdue, unmarked
            Clock(7, fr, a, m1, "web", 1, elapsed=30, started=DAY - timedelta(days=1)),
            Clock(8, fr, a, m1, "web", 1, elapsed=None),  # cancelled: no time
        ],
    )
    return {"a": a, "b": b, "m1": m1, "m2": m2}


def figs(f: reports.Figures) -> tuple[object, ...]:
    return (f.count, f.median, f.p90)


def report(session: Session, world: World, start: date, end: date) -> reports.Report:
    return reports.sla_report(session, organization_id=world.org.id, start=start, end=end)


def only(rows: list[reports.Row], key: object) -> reports.Row:
    (row,) = [r for r in rows if r.key == (None if key is None else str(key))]
    return row


def test_percentiles_interpolate_between_ranks() -> None:
    assert reports.percentile([1, 2, 3, 10], 0.5) == 2.5
    assert reports.percentile([1, 2, 3, 10], 0.9) == pytest.approx(7.9)
    assert reports.percentile([5], 0.9) == 5
    assert reports.percentile([], 0.5) is None


def test_totals(session: Session, world: World, data: dict[str, int]) -> None:
    got = report(session, world, date(2026, 1, 5), date(2026, 1, 5))
    total = got.total
    # Conversations 1-6 and 8 started in the range (7 started the day before).
    assert total.conversations == 7
    assert total.breached == 3  # 2 (resolution), 4 (first response), 6 (overdue now)
    assert total.in_progress == 1  # 5
    assert total.within == 3  # 1, 3, 8
    assert total.within_share == 0.5
    # First responses 60, 120, 300, 900: median (120 + 300) / 2, p90 300 + 0.7 * 600.
    assert figs(total.first_response) == (4, 210.0, pytest.approx(720.0))
    # Resolutions 600 and 3000: median 1800, p90 600 + 0.9 * 2400.
    assert figs(total.resolution) == (2, 1800.0, pytest.approx(2760.0))


def test_per_team_member_channel_and_priority(
    session: Session, world: World, data: dict[str, int]
) -> None:
    got = report(session, world, date(2026, 1, 5), date(2026, 1, 5))
    team_a = only(got.by["team"], data["a"])
    assert (team_a.value, team_a.conversations, team_a.within, team_a.breached) == ("Care", 4, 3, 1)
    assert team_a.within_share == 0.75
    assert figs(team_a.first_response) == (3, 120.0, pytest.approx(264.0))
    team_b = only(got.by["team"], data["b"])
    assert (team_b.conversations, team_b.within, team_b.breached, team_b.in_progress) == (
        2,
        0,
        1,
        1,
    )
    assert team_b.within_share == 0.0
    assert figs(team_b.first_response) == (1, 900.0, 900.0)
    no_team = only(got.by["team"], None)
    assert (no_team.value, no_team.conversations, no_team.breached) == ("No team", 1, 1)

    m1 = only(got.by["member"], data["m1"])
    assert (m1.conversations, m1.within, m1.breached) == (3, 2, 1)
    assert figs(m1.first_response) == (2, 90.0, pytest.approx(114.0))
    m2 = only(got.by["member"], data["m2"])
    assert figs(m2.first_response) == (2, 600.0, pytest.approx(840.0))
    unassigned = only(got.by["member"], None)
    assert (unassigned.value, unassigned.conversations, unassigned.in_progress) == (
        "Unassigned",
        2,
        1,
    )

    assert [(r.value, r.conversations) for r in got.by["channel"]] == [("Website", 6), ("X", 1)]
    assert [(r.value, r.conversations, r.breached) for r in got.by["priority"]] == [
        ("urgent", 1, 1),
        ("high", 1, 1),
        ("normal", 5, 1),
    ]


def test_the_range_is_in_days_of_the_organizations_zone(
    session: Session, world: World, data: dict[str, int]
) -> None:
    two_days = report(session, world, date(2026, 1, 4), date(2026, 1, 5))
    assert two_days.total.conversations == 8  # conversation 7 joins
    world.org.timezone = "America/New_York"
    session.commit()
    # 2026-01-05 08:00 UTC is 03:00 in New York, still the 5th; the day before's 08:00 UTC
    # clock is the 4th's 03:00 there.
    ny = report(session, world, date(2026, 1, 5), date(2026, 1, 5))
    assert ny.total.conversations == 7
    assert report(session, world, date(2026, 1, 6), date(2026, 1, 6)).total.conversations == 0


def test_bad_ranges_are_refused(session: Session, world: World) -> None:
    with pytest.raises(ValidationFailed) as ended:
        report(session, world, date(2026, 1, 5), date(2026, 1, 4))
    assert ended.value.field == "end"
    with pytest.raises(ValidationFailed) as long:
        report(session, world, date(2024, 1, 1), date(2026, 1, 4))
    assert long.value.field == "start"


def test_csv_export(session: Session, world: World, data: dict[str, int]) -> None:
    world.team.name = "=HYPERLINK(1)"
    session.commit()
    text = reports.to_csv(report(session, world, date(2026, 1, 5), date(2026, 1, 5)))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(reports.CSV_COLUMNS)
    total = rows[0]
    assert (total["dimension"], total["conversations"], total["within_share"]) == (
        "total",
        "7",
        "0.5",
    )
    assert (total["first_response_median_seconds"], total["first_response_p90_seconds"]) == (
        "210",
        "720",
    )
    team = next(r for r in rows if r["dimension"] == "team" and r["key"] == str(data["a"]))
    assert team["value"] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet
    assert {r["dimension"] for r in rows} == {"total", "team", "member", "channel", "priority"}
