"""The one source of "now". Everything time-dependent asks this, so tests can move time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock UTC time; replaced by :class:`FrozenClock` in tests."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock(Clock):
    """A clock that stands still until told to move."""

    def __init__(self, start: datetime) -> None:
        require_aware(start, "start")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        require_aware(when, "when")
        with self._lock:
            self._now = when.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta


_clock: Clock = Clock()


def now() -> datetime:
    return _clock.now()


def get_clock() -> Clock:
    return _clock


def set_clock(clock: Clock) -> None:
    global _clock  # noqa: PLW0603 - the process-wide clock is deliberately swappable
    _clock = clock


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    previous = _clock
    set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)


def require_aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value
