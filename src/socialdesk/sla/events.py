"""Typed events of the sla domain. Recorded in the event log (so open desks hear them over the
live stream) and handed to in-process listeners after commit, like every DomainEvent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from socialdesk.events.types import DomainEvent


@dataclass(frozen=True, kw_only=True)
class SlaClocksChanged(DomainEvent):
    """A conversation's clocks moved: its due time, policy or breached flag changed (timers
    and the "time left" order re-read it)."""

    kind: ClassVar[str] = "sla.changed"
    conversation_id: int
    due_at: str | None  # ISO 8601, UTC; None: no clock running
    breached: bool


@dataclass(frozen=True, kw_only=True)
class SlaWarning(DomainEvent):
    """A clock will breach within its policy's warning time."""

    kind: ClassVar[str] = "sla.warning"
    conversation_id: int
    clock_id: int
    target: str
    due_at: str


@dataclass(frozen=True, kw_only=True)
class SlaBreached(DomainEvent):
    """A clock passed its due time before it was stopped. Emitted once per clock."""

    kind: ClassVar[str] = "sla.breached"
    conversation_id: int
    clock_id: int
    target: str
    due_at: str


SLA_EVENTS: tuple[type[DomainEvent], ...] = (SlaClocksChanged, SlaWarning, SlaBreached)
