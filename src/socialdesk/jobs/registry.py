"""Named background jobs. Handlers are plain functions of a JSON payload; the queue backend
only transports names and payloads, so handlers stay testable without it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Payload = dict[str, Any]
Handler = Callable[[Payload], None]
GiveUp = Callable[[Payload, str], None]


class Retry(Exception):
    """Raised by a handler to be run again later, with exponential backoff."""

    def __init__(self, reason: str, *, after_seconds: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after_seconds = after_seconds


class Later(Exception):
    """Raised by a handler that may not run yet (a rate it must keep): it runs again after
    ``after_seconds``, and the wait is not an attempt, so it never gives the job up."""

    def __init__(self, reason: str, *, after_seconds: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after_seconds = max(0.0, after_seconds)


@dataclass(frozen=True)
class JobSpec:
    name: str
    handler: Handler
    # A number, or a function read at run time (a setting).
    max_attempts_setting: int | Callable[[], int]
    backoff_seconds: float
    on_give_up: GiveUp | None

    @property
    def max_attempts(self) -> int:
        value = self.max_attempts_setting
        return value() if callable(value) else value


@dataclass(frozen=True)
class PeriodicSpec:
    name: str
    handler: Callable[[], None]
    every_minutes: int


_jobs: dict[str, JobSpec] = {}
_periodic: dict[str, PeriodicSpec] = {}


def job(
    name: str,
    *,
    max_attempts: int | Callable[[], int] = 5,
    backoff_seconds: float = 10.0,
    on_give_up: GiveUp | None = None,
) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        if name in _jobs and _jobs[name].handler is not fn:
            raise ValueError(f"job {name!r} is registered twice")
        _jobs[name] = JobSpec(name, fn, max_attempts, backoff_seconds, on_give_up)
        return fn

    return register


def periodic(
    name: str, *, every_minutes: int = 1
) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def register(fn: Callable[[], None]) -> Callable[[], None]:
        _periodic[name] = PeriodicSpec(name, fn, every_minutes)
        return fn

    return register


def get(name: str) -> JobSpec:
    try:
        return _jobs[name]
    except KeyError:
        raise KeyError(f"no job named {name!r}; known: {sorted(_jobs)}") from None


def all_periodic() -> list[PeriodicSpec]:
    return list(_periodic.values())


def backoff_delay(spec: JobSpec, attempt: int, hint: float | None) -> float:
    """Exponential backoff: base * 2^(attempt-1), at most an hour; the provider's hint wins."""
    if hint is not None:
        return max(hint, 1.0)
    return float(min(spec.backoff_seconds * (2 ** (attempt - 1)), 3600.0))
