"""The clock engine on its own: cycles replayed from a history, due times and usage in
business hours across weekends, holidays, time zones and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from socialdesk.schedules.hours import ALWAYS, WeeklyHours
from socialdesk.sla.clocks import Cycle, Happening, Kind, cycles, measure
from socialdesk.sla.models import Target

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
OFFICE = {str(d): [["09:00", "17:00"]] for d in range(5)}
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def inbound(t: datetime) -> Happening:
    return Happening(t, Kind.INBOUND)


def reply(t: datetime) -> Happening:
    return Happening(t, Kind.REPLY)


def status(t: datetime, to: str) -> Happening:
    return Happening(t, Kind.STATUS, status=to)


def office(zone: str, holidays: tuple[str, ...] = ()) -> WeeklyHours:
    return WeeklyHours.parse(timezone=zone, intervals=OFFICE, holidays=list(holidays))


def by_target(found: list[Cycle], target: Target) -> list[Cycle]:
    return [c for c in found if c.target is target]


# -- cycles -------------------------------------------------------------------------------


def test_first_message_starts_first_response_and_resolution() -> None:
    found = cycles([inbound(at(0)), inbound(at(3))])
    assert [(c.target, c.started_at, c.running) for c in found] == [
        (Target.FIRST_RESPONSE, at(0), True),
        (Target.RESOLUTION, at(0), True),
    ]


def test_first_reply_stops_first_response_and_later_messages_start_next_response() -> None:
    found = cycles(
        [
            inbound(at(0)),
            reply(at(20)),
            inbound(at(30)),
            inbound(at(35)),  # the customer writes twice: one next-response clock
            reply(at(50)),
            inbound(at(60)),
        ]
    )
    (first,) = by_target(found, Target.FIRST_RESPONSE)
    assert (first.started_at, first.stopped_at, first.cancelled) == (at(0), at(20), False)
    nexts = by_target(found, Target.NEXT_RESPONSE)
    assert [(c.started_at, c.stopped_at) for c in nexts] == [(at(30), at(50)), (at(60), None)]
    (resolution,) = by_target(found, Target.RESOLUTION)
    assert resolution.running


def test_order_of_the_input_does_not_matter() -> None:
    history = [inbound(at(0)), reply(at(20)), inbound(at(30)), status(at(40), "resolved")]
    assert cycles(history) == cycles(list(reversed(history)))


def test_a_reply_before_any_customer_message_answers_nothing() -> None:
    found = cycles([reply(at(0)), inbound(at(10))])
    (first,) = by_target(found, Target.FIRST_RESPONSE)
    assert first.started_at == at(10)
    assert first.running


def test_pending_pauses_and_the_customer_writing_resumes() -> None:
    found = cycles(
        [
            inbound(at(0)),
            reply(at(10)),
            status(at(10), "pending"),
            inbound(at(70)),  # the customer answers: no longer waiting on them
            status(at(71), "open"),
        ]
    )
    (resolution,) = by_target(found, Target.RESOLUTION)
    assert resolution.pauses == [(at(10), at(70))]
    (nxt,) = by_target(found, Target.NEXT_RESPONSE)
    assert nxt.started_at == at(70)
    assert nxt.pauses == []


def test_resolving_stops_resolution_and_cancels_the_others_reopening_starts_anew() -> None:
    found = cycles(
        [
            inbound(at(0)),
            status(at(30), "pending"),
            status(at(40), "resolved"),
            status(at(100), "open"),
        ]
    )
    first, res1, res2 = found
    assert first.target is Target.FIRST_RESPONSE
    assert (first.stopped_at, first.cancelled, first.pauses) == (at(40), True, [(at(30), at(40))])
    assert (res1.stopped_at, res1.cancelled) == (at(40), False)
    assert res2.target is Target.RESOLUTION
    assert res2.started_at == at(100)
    assert res2.running


def test_reopening_into_pending_starts_a_paused_resolution_clock() -> None:
    found = cycles([inbound(at(0)), status(at(5), "resolved"), status(at(9), "pending")])
    last = found[-1]
    assert last.target is Target.RESOLUTION
    assert last.started_at == at(9)
    assert last.paused


def test_brand_started_conversation_is_not_measured_until_the_customer_writes() -> None:
    assert cycles([reply(at(0)), status(at(1), "resolved"), status(at(2), "open")]) == []


# -- measuring ----------------------------------------------------------------------------


def test_calendar_time_due_and_elapsed() -> None:
    cycle = Cycle(Target.FIRST_RESPONSE, at(0), stopped_at=at(45))
    m = measure(cycle, target_seconds=3600, hours=ALWAYS)
    assert m.due_at == at(60)
    assert m.used_seconds == 45 * 60
    assert not m.late


def test_stopped_after_due_is_late() -> None:
    m = measure(
        Cycle(Target.FIRST_RESPONSE, at(0), stopped_at=at(61)), target_seconds=3600, hours=ALWAYS
    )
    assert m.late


def test_pause_pushes_the_due_time_by_the_paused_duration() -> None:
    cycle = Cycle(Target.RESOLUTION, at(0), pauses=[(at(10), at(70))])
    m = measure(cycle, target_seconds=3600, hours=ALWAYS)
    assert m.due_at == at(120)
    assert m.paused_at is None


def test_while_paused_the_due_time_is_the_one_at_the_pause() -> None:
    cycle = Cycle(Target.RESOLUTION, at(0), pauses=[(at(10), None)])
    m = measure(cycle, target_seconds=3600, hours=ALWAYS)
    assert (m.due_at, m.paused_at, m.used_seconds) == (at(60), at(10), 600)


def test_breached_before_the_pause_keeps_its_due_time() -> None:
    cycle = Cycle(Target.RESOLUTION, at(0), pauses=[(at(90), at(120))], stopped_at=at(150))
    m = measure(cycle, target_seconds=3600, hours=ALWAYS)
    assert m.due_at == at(60)
    assert m.late
    assert m.used_seconds == 120 * 60


def test_business_hours_across_the_weekend() -> None:
    hours = office("Europe/Berlin")
    friday_4pm = datetime(2026, 1, 9, 16, 0, tzinfo=BERLIN)
    m = measure(Cycle(Target.FIRST_RESPONSE, friday_4pm), target_seconds=2 * 3600, hours=hours)
    assert m.due_at == datetime(2026, 1, 12, 10, 0, tzinfo=BERLIN)  # Monday 10:00
    # Answered Monday 09:30: 1h30 of business time used, the weekend did not count.
    stopped = Cycle(
        Target.FIRST_RESPONSE, friday_4pm, stopped_at=datetime(2026, 1, 12, 9, 30, tzinfo=BERLIN)
    )
    done = measure(stopped, target_seconds=2 * 3600, hours=hours)
    assert done.used_seconds == 90 * 60
    assert not done.late


def test_business_hours_skip_holidays() -> None:
    hours = office("Europe/Berlin", holidays=("2026-12-24", "2026-12-25"))
    start = datetime(2026, 12, 23, 16, 30, tzinfo=BERLIN)  # Wednesday, 30 minutes left
    m = measure(Cycle(Target.RESOLUTION, start), target_seconds=4 * 3600, hours=hours)
    # 30 min on the 23rd; the 24th and 25th are holidays; the weekend; Monday 28th 09:00 +3h30.
    assert m.due_at == datetime(2026, 12, 28, 12, 30, tzinfo=BERLIN)


def test_a_pause_over_closed_hours_moves_nothing() -> None:
    hours = office("Europe/Berlin")
    start = datetime(2026, 1, 9, 16, 0, tzinfo=BERLIN)  # Friday 16:00
    # Pending from Friday 17:00 to Monday 08:00: no business time was paused.
    pause = (datetime(2026, 1, 9, 17, 0, tzinfo=BERLIN), datetime(2026, 1, 12, 8, 0, tzinfo=BERLIN))
    m = measure(Cycle(Target.RESOLUTION, start, pauses=[pause]), target_seconds=7200, hours=hours)
    assert m.due_at == datetime(2026, 1, 12, 10, 0, tzinfo=BERLIN)


def test_a_pause_in_business_hours_pushes_by_business_time_only() -> None:
    hours = office("Europe/Berlin")
    start = datetime(2026, 1, 8, 15, 0, tzinfo=BERLIN)  # Thursday 15:00, 4h target
    # Pending Thursday 16:00 to Friday 10:00: 1h Thursday + 1h Friday of business time.
    pause = (datetime(2026, 1, 8, 16, 0, tzinfo=BERLIN), datetime(2026, 1, 9, 10, 0, tzinfo=BERLIN))
    m = measure(
        Cycle(Target.RESOLUTION, start, pauses=[pause]), target_seconds=4 * 3600, hours=hours
    )
    # 1h used before the pause, 3h left from Friday 10:00: due Friday 13:00.
    assert m.due_at == datetime(2026, 1, 9, 13, 0, tzinfo=BERLIN)


def test_same_instant_in_berlin_and_new_york() -> None:
    start = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # 16:00 Berlin, 10:00 New York
    cycle = Cycle(Target.FIRST_RESPONSE, start)
    berlin = measure(cycle, target_seconds=2 * 3600, hours=office("Europe/Berlin"))
    new_york = measure(cycle, target_seconds=2 * 3600, hours=office("America/New_York"))
    assert berlin.due_at == datetime(2026, 1, 6, 10, 0, tzinfo=BERLIN)
    assert new_york.due_at == datetime(2026, 1, 5, 12, 0, tzinfo=NEW_YORK)


def test_berlin_spring_forward_keeps_local_opening_hours() -> None:
    # Clocks go 02:00 -> 03:00 on Sunday 29 March 2026: Monday opens at 09:00 CEST, 07:00 UTC.
    hours = office("Europe/Berlin")
    start = datetime(2026, 3, 27, 16, 0, tzinfo=BERLIN)  # Friday 16:00 CET = 15:00 UTC
    m = measure(Cycle(Target.FIRST_RESPONSE, start), target_seconds=2 * 3600, hours=hours)
    assert m.due_at == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # Monday 10:00 CEST
    # The wall-clock gap is 65 h, yet only 2 business hours were used.
    stopped = measure(
        Cycle(Target.FIRST_RESPONSE, start, stopped_at=m.due_at), target_seconds=7200, hours=hours
    )
    assert stopped.used_seconds == 7200
    assert not stopped.late


def test_berlin_autumn_back_with_a_pause_across_the_change() -> None:
    # Clocks go 03:00 -> 02:00 on Sunday 25 October 2026.
    hours = office("Europe/Berlin")
    start = datetime(2026, 10, 23, 15, 0, tzinfo=BERLIN)  # Friday 15:00 CEST = 13:00 UTC
    pause = (
        datetime(2026, 10, 23, 16, 0, tzinfo=BERLIN),
        datetime(2026, 10, 26, 10, 0, tzinfo=BERLIN),  # Monday 10:00 CET = 09:00 UTC
    )
    m = measure(
        Cycle(Target.RESOLUTION, start, pauses=[pause]), target_seconds=3 * 3600, hours=hours
    )
    # 1h Friday before the pause; paused 1h Friday + 1h Monday; 2h left from Monday 10:00.
    assert m.due_at == datetime(2026, 10, 26, 12, 0, tzinfo=BERLIN)
    assert m.due_at == datetime(2026, 10, 26, 11, 0, tzinfo=UTC)


def test_new_york_around_the_clock_support_across_spring_forward() -> None:
    # A 24x7 desk in New York time: 8 March 2026 has 23 hours. Calendar arithmetic is in real
    # seconds, so an 8-hour target is 8 real hours whatever the wall clock does.
    start = datetime(2026, 3, 8, 0, 0, tzinfo=NEW_YORK)
    m = measure(Cycle(Target.RESOLUTION, start), target_seconds=8 * 3600, hours=ALWAYS)
    assert m.due_at.astimezone(NEW_YORK) == datetime(2026, 3, 8, 9, 0, tzinfo=NEW_YORK)


def test_new_york_business_hours_across_autumn_back() -> None:
    hours = office("America/New_York")
    start = datetime(2026, 10, 30, 16, 30, tzinfo=NEW_YORK)  # Friday 16:30 EDT
    m = measure(Cycle(Target.FIRST_RESPONSE, start), target_seconds=3600, hours=hours)
    # 30 min Friday, 30 min Monday 2 November from 09:00 EST (14:00 UTC).
    assert m.due_at == datetime(2026, 11, 2, 14, 30, tzinfo=UTC)
