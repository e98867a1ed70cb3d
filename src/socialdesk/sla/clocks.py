"""The SLA clock engine, pure: a conversation's history in, its clock cycles and their due
times out. No database, no "now" read here; tracking.py feeds it and stores the result.

A conversation's history is a list of happenings: customer messages, replies (what reached or
is on its way to the customer) and status changes. Replaying it gives the same cycles whatever
order the events were processed in, so a worker that handles a reply before the message it
answers cannot leave a clock running for ever.

Rules (docs/sla.md):

* the first customer message starts the first-response and resolution clocks;
* a reply stops the first-response clock and a running next-response clock;
* a customer message after the first reply, while no next-response clock runs, starts one;
* pending (waiting on the customer) pauses every running clock; leaving pending, or the
  customer writing, resumes them; paused time does not count;
* resolving stops the resolution clock (measured) and cancels the others (stopped, no
  measure); reopening starts a new resolution clock.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from socialdesk.schedules.hours import WeeklyHours
from socialdesk.sla.models import Target

PENDING = "pending"
RESOLVED = "resolved"


class Kind(enum.IntEnum):
    """What happened; the value orders happenings at the same instant (the customer's message
    before the reply that answers it, a reply before the status set with it)."""

    INBOUND = 0
    REPLY = 1
    STATUS = 2


@dataclass(frozen=True, slots=True)
class Happening:
    at: datetime
    kind: Kind
    status: str | None = None  # for STATUS: the status changed to


@dataclass(slots=True)
class Cycle:
    """One run of one target: from its start to its stop (None: still running). Pauses are
    [from, to) with ``to`` None while paused now."""

    target: Target
    started_at: datetime
    stopped_at: datetime | None = None
    cancelled: bool = False
    pauses: list[tuple[datetime, datetime | None]] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.stopped_at is None

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1][1] is None

    def pause(self, at: datetime) -> None:
        if self.running and not self.paused:
            self.pauses.append((at, None))

    def resume(self, at: datetime) -> None:
        if self.paused:
            self.pauses[-1] = (self.pauses[-1][0], at)

    def stop(self, at: datetime, *, cancelled: bool = False) -> None:
        if self.running:
            self.resume(at)
            self.stopped_at = at
            self.cancelled = cancelled


class _Replay:
    """The state while replaying: the current cycle of each target, waiting on the customer
    (pending), resolved."""

    def __init__(self) -> None:
        self.out: list[Cycle] = []
        self.first: Cycle | None = None
        self.next_response: Cycle | None = None
        self.resolution: Cycle | None = None
        self.pending = False
        self.resolved = False

    def _start(self, target: Target, at: datetime) -> Cycle:
        cycle = Cycle(target=target, started_at=at)
        self.out.append(cycle)
        return cycle

    def _running(self) -> list[Cycle]:
        current = (self.first, self.next_response, self.resolution)
        return [c for c in current if c is not None and c.running]

    def _set_pending(self, pending: bool, at: datetime) -> None:
        if pending == self.pending:
            return
        self.pending = pending
        for cycle in self._running():
            if pending:
                cycle.pause(at)
            else:
                cycle.resume(at)

    def inbound(self, at: datetime) -> None:
        # The customer answered: nobody is waiting on them any more.
        self._set_pending(False, at)
        if self.first is None:
            self.first = self._start(Target.FIRST_RESPONSE, at)
            if not self.resolved:
                self.resolution = self._start(Target.RESOLUTION, at)
        elif not self.first.running and (
            self.next_response is None or not self.next_response.running
        ):
            self.next_response = self._start(Target.NEXT_RESPONSE, at)

    def reply(self, at: datetime) -> None:
        for cycle in (self.first, self.next_response):
            if cycle is not None:
                cycle.stop(at)

    def status(self, status: str | None, at: datetime) -> None:
        self._set_pending(status == PENDING, at)
        if status == RESOLVED and not self.resolved:
            self.resolved = True
            if self.resolution is not None:
                self.resolution.stop(at)
            for cycle in (self.first, self.next_response):
                if cycle is not None:
                    cycle.stop(at, cancelled=True)
        elif status != RESOLVED and self.resolved:
            self.resolved = False
            if self.first is not None:  # only a conversation a customer started is measured
                self.resolution = self._start(Target.RESOLUTION, at)
                if self.pending:
                    self.resolution.pause(at)


def cycles(happenings: Iterable[Happening]) -> list[Cycle]:
    """Replay a conversation's history into its clock cycles, in the order they started."""
    replay = _Replay()
    ordered = sorted(enumerate(happenings), key=lambda item: (item[1].at, item[1].kind, item[0]))
    for _, happening in ordered:
        if happening.kind is Kind.INBOUND:
            replay.inbound(happening.at)
        elif happening.kind is Kind.REPLY:
            replay.reply(happening.at)
        else:
            replay.status(happening.status, happening.at)
    return replay.out


@dataclass(frozen=True, slots=True)
class Measure:
    due_at: datetime
    paused_at: datetime | None
    # Target time used so far: up to the stop, or up to the pause while paused, or None while
    # running (the caller measures against now).
    used_seconds: float | None
    late: bool  # stopped after it was due


def measure(cycle: Cycle, *, target_seconds: float, hours: WeeklyHours) -> Measure:
    """Due time and usage of ``cycle`` for a target of ``target_seconds`` counted in
    ``hours`` (business seconds, or calendar seconds for around the clock). Paused time does
    not count: each pause pushes the due time by the open time it covered. While paused, the
    due time is the one the clock had when it paused."""
    cursor = cycle.started_at
    used = 0.0
    due: datetime | None = None
    paused_at: datetime | None = None
    for begin, end in cycle.pauses:
        span = hours.seconds_between(cursor, begin) if begin > cursor else 0.0
        if due is None and used + span >= target_seconds:
            due = hours.add(cursor, target_seconds - used)
        used += span
        if end is None:
            paused_at = begin
            cursor = begin
            break
        cursor = max(cursor, end)
    if due is None:
        due = hours.add(cursor, target_seconds - used)
    if cycle.stopped_at is not None:
        if cycle.stopped_at > cursor:
            used += hours.seconds_between(cursor, cycle.stopped_at)
        return Measure(due, None, used, cycle.stopped_at > due)
    if paused_at is not None:
        return Measure(due, paused_at, used, False)
    return Measure(due, None, None, False)
