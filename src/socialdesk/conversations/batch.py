"""One change to many conversations at once, from the inbox: resolve the wave of "is tram 4
down?" mentions once the answer went out, hand a dozen to a colleague, tag them for the
report.

Each conversation is changed through the same service calls as its own page (each leaves its
entry in the trail and its live event, and routing and SLA clocks hear of it), all in the
caller's one transaction: when one of them refuses (a conversation to resolve that still has
open promises, a deactivated member), the caller rolls back, so nothing is half done, and the
refusal names the conversation.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member
from socialdesk.common.errors import Conflict, DomainError, NotFound, ValidationFailed
from socialdesk.common.pagination import MAX_ROW_ID
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, Priority, Status

# The most conversations one change reaches: a page of the inbox and then some.
MAX_CONVERSATIONS = 100


class Change(enum.StrEnum):
    RESOLVE = "resolve"
    REOPEN = "reopen"
    PENDING = "pending"
    ASSIGN = "assign"  # to ``assignee_id``; None leaves them without an owner
    CLAIM = "claim"  # to the one who asks, as "Take it" does
    TEAM = "team"  # to ``team_id``; None leaves them without a team
    TAG = "tag"
    SNOOZE = "snooze"  # until ``snoozed_until``
    PRIORITY = "priority"  # to ``priority``


_STATUS = {
    Change.RESOLVE: Status.RESOLVED,
    Change.REOPEN: Status.OPEN,
    Change.PENDING: Status.PENDING,
}


def change(value: str) -> Change:
    """The change named by ``value``, or a refusal naming the ones there are."""
    try:
        return Change(value)
    except ValueError:
        names = ", ".join(c.value for c in Change)
        raise ValidationFailed(
            f"change must be one of {names}, not {value!r}", field="change"
        ) from None


@dataclass(frozen=True, slots=True)
class BatchChange:
    change: Change
    assignee_id: int | None = None
    team_id: int | None = None
    tag: str = ""
    snoozed_until: datetime | None = None
    priority: Priority | None = None


def apply(
    session: Session,
    *,
    organization_id: int,
    conversation_ids: Sequence[int],
    what: BatchChange,
    actor: Member,
) -> list[Conversation]:
    """Make ``what`` to each conversation, in the order given (repeats once). Raises
    ValidationFailed for no or too many conversations, NotFound naming the ids that are not
    the organization's, and the first refusal of a conversation, prefixed with its number;
    the caller's transaction must then be rolled back."""
    ids = list(dict.fromkeys(conversation_ids))
    if not ids:
        raise ValidationFailed("choose at least one conversation", field="conversation_ids")
    if len(ids) > MAX_CONVERSATIONS:
        raise ValidationFailed(
            f"at most {MAX_CONVERSATIONS} conversations at once, not {len(ids)}",
            field="conversation_ids",
        )
    found = {
        c.id: c
        for c in session.scalars(
            select(Conversation).where(
                Conversation.organization_id == organization_id,
                Conversation.id.in_([i for i in ids if 0 < i <= MAX_ROW_ID]),
            )
        )
    }
    missing = [i for i in ids if i not in found]
    if missing:
        listed = ", ".join(str(i) for i in missing)
        verb = "does" if len(missing) == 1 else "do"
        noun = "conversation" if len(missing) == 1 else "conversations"
        raise NotFound(f"{noun} {listed} {verb} not exist", field="conversation_ids")
    if what.change is Change.TAG:
        conversations_service.normalise_tag(what.tag)  # a bad tag is refused before any change
    if what.change is Change.PRIORITY and what.priority is None:
        raise ValidationFailed("choose the priority to set", field="priority")
    if what.change is Change.SNOOZE and what.snoozed_until is None:
        raise ValidationFailed("snoozing needs a time to wake up", field="snoozed_until")
    for conversation_id in ids:
        conversation = found[conversation_id]
        try:
            _one(session, conversation, what, actor)
        except DomainError as exc:
            exc.message = f"conversation #{conversation_id}: {exc.message}"
            exc.args = (exc.message,)
            raise
    return [found[i] for i in ids]


def _one(session: Session, conversation: Conversation, what: BatchChange, actor: Member) -> None:
    # Imported here: routing and commitments build on conversations, not the other way round.
    from socialdesk.commitments import service as commitments_service
    from socialdesk.routing import service as routing_service

    status = _STATUS.get(what.change)
    if status is not None:
        if status is Status.RESOLVED and conversation.status != Status.RESOLVED.value:
            try:
                commitments_service.settle_before_resolving(
                    session, conversation=conversation, actor=actor, choice=None
                )
            except commitments_service.OpenCommitments as exc:
                n = len(exc.commitments)
                raise Conflict(
                    f"it has {n} open promise{'s' if n != 1 else ''}: resolve it on its own "
                    "page, which asks what becomes of them",
                    field="conversation_ids",
                ) from exc
        conversations_service.set_status(
            session, conversation=conversation, status=status, actor=actor
        )
    elif what.change is Change.CLAIM:
        routing_service.claim(session, conversation=conversation, member=actor)
    elif what.change is Change.ASSIGN:
        conversations_service.assign(
            session, conversation=conversation, assignee_id=what.assignee_id, actor=actor
        )
    elif what.change is Change.SNOOZE:
        conversations_service.set_status(
            session,
            conversation=conversation,
            status=Status.SNOOZED,
            snoozed_until=what.snoozed_until,
            actor=actor,
        )
    elif what.change is Change.PRIORITY:
        assert what.priority is not None  # checked before any change
        conversations_service.set_priority(
            session, conversation=conversation, priority=what.priority, actor=actor
        )
    elif what.change is Change.TEAM:
        conversations_service.set_team(
            session, conversation=conversation, team_id=what.team_id, actor=actor
        )
    else:
        conversations_service.add_tag(
            session, conversation=conversation, name=what.tag, actor=actor
        )
