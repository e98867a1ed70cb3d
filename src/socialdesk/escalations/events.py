"""Typed events of the escalations domain (emitted after the change commits)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from socialdesk.events.types import DomainEvent


@dataclass(frozen=True, kw_only=True)
class EscalationCreated(DomainEvent):
    """Someone asked another department or person for something on a conversation."""

    kind: ClassVar[str] = "escalation.created"
    conversation_id: int
    request_id: int
    requested_by_id: int
    team_id: int | None = None
    member_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class EscalationClosed(DomainEvent):
    """A request was marked done (with its resolution) or cancelled."""

    kind: ClassVar[str] = "escalation.closed"
    conversation_id: int
    request_id: int
    status: str
    closed_by_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class EscalationOverdue(DomainEvent):
    """An open request passed its due time (announced once)."""

    kind: ClassVar[str] = "escalation.overdue"
    conversation_id: int
    request_id: int
