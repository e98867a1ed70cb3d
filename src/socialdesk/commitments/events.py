"""Typed events of the commitments domain.

Emitted with ``events.bus.emit`` in the transaction of the change: recorded in the event log
(so every open desk hears of them over the live stream) and handed to in-process listeners
after the commit (metrics, follow-ups and webhooks may subscribe).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from socialdesk.events.types import DomainEvent


@dataclass(frozen=True, kw_only=True)
class CommitmentEvent(DomainEvent):
    """Every commitment event names the conversation, so a desk showing it refreshes."""

    conversation_id: int
    commitment_id: int


@dataclass(frozen=True, kw_only=True)
class CommitmentCreated(CommitmentEvent):
    kind: ClassVar[str] = "commitment.created"
    owner_id: int
    source: str  # detected | manual
    actor_member_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class CommitmentChanged(CommitmentEvent):
    """Text, due time, owner or team changed while it is open."""

    kind: ClassVar[str] = "commitment.changed"
    fields: tuple[str, ...]
    actor_member_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class CommitmentClosed(CommitmentEvent):
    """Kept, broken or cancelled, with the evidence note."""

    kind: ClassVar[str] = "commitment.closed"
    status: str
    owner_id: int
    team_id: int | None
    overdue: bool  # closed after its due time had passed
    actor_member_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class CommitmentReminded(CommitmentEvent):
    """The owner was reminded ahead of the due time (exactly once per due time)."""

    kind: ClassVar[str] = "commitment.reminded"
    owner_id: int


@dataclass(frozen=True, kw_only=True)
class CommitmentOverdue(CommitmentEvent):
    """The due time passed with the commitment still open; owner and team lead were told."""

    kind: ClassVar[str] = "commitment.overdue"
    owner_id: int
    team_id: int | None


@dataclass(frozen=True, kw_only=True)
class CommitmentHandedOver(CommitmentEvent):
    """Its owner left (offboarding): it now belongs to ``to_member_id``."""

    kind: ClassVar[str] = "commitment.handed_over"
    from_member_id: int
    to_member_id: int
    reason: str  # named successor | team lead | admin


COMMITMENT_EVENTS: tuple[type[CommitmentEvent], ...] = (
    CommitmentCreated,
    CommitmentChanged,
    CommitmentClosed,
    CommitmentReminded,
    CommitmentOverdue,
    CommitmentHandedOver,
)
