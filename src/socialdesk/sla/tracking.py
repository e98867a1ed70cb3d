"""Keeping a conversation's SLA clocks in step with what happened to it.

``reconcile`` replays the conversation's history (clocks.py) under the policy that applies now
and stores the result: new cycles become clocks, running clocks get their due time, pause and
stop, and the conversation's ``sla_due_at`` / ``sla_policy_id`` / ``sla_breached`` follow.
It is idempotent and order-independent: every listener just asks for a reconcile.

Stored rules (docs/sla.md):

* a stopped clock is history and never changes again;
* a running clock follows the policy that applies now (a priority change re-picks it; the due
  time is recomputed from the clock's start);
* a clock is created for every cycle still running, and for a finished cycle only when it
  began after its policy existed (a new policy does not rewrite the past);
* no policy applies any more: the running clocks go;
* a clock stopped after its due time is breached (``breached_at`` = its due time) even if the
  periodic check had not seen it yet; a cancelled clock has no measure (``elapsed_seconds``
  None);
* a running clock's ``warn_at`` (when its due time's warning window opens) follows its due
  time; a warning counts for the due time whose window it was given in, so a due time moved
  later is warned about again and one moved back is not; a breach stays recorded whatever its
  due time becomes (the reports count it);
* the snapshot (team, assignee, channel, priority) follows the conversation while the clock
  runs and is frozen when it stops or breaches: the reports credit whoever held it then.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, or_, select
from sqlalchemy.orm import Session

from socialdesk.common import clock
from socialdesk.connectors.base import Visibility
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import (
    Activity,
    Conversation,
    Direction,
    Message,
)
from socialdesk.events import bus
from socialdesk.schedules import service as schedules_service
from socialdesk.sla import clocks
from socialdesk.sla import service as sla_service
from socialdesk.sla.clocks import Happening, Kind
from socialdesk.sla.events import SlaClocksChanged
from socialdesk.sla.models import SlaClock, SlaPolicy, Target


def target_minutes(policy: SlaPolicy, target: Target | str) -> int | None:
    return {
        Target.FIRST_RESPONSE: policy.first_response_minutes,
        Target.NEXT_RESPONSE: policy.next_response_minutes,
        Target.RESOLUTION: policy.resolution_minutes,
    }[Target(target)]


def history(session: Session, *, conversation_id: int, now: datetime) -> list[Happening]:
    """The conversation's messages, answers and status changes, none later than ``now``. A
    reply answers when it was said (``conversations.service.said_at``: a draft held for
    approval reached the customer when it was approved) and while it is ``ANSWERED``: held,
    rejected and failed replies are no answer."""
    out: list[Happening] = []
    inbound = Message.direction == Direction.INBOUND.value
    for is_inbound, at in session.execute(
        select(
            inbound,
            # Only a reply can have waited for an approver: the customer's messages skip the
            # approvals lookup.
            case(
                (inbound, Message.created_at),
                else_=conversations_service.said_at(Message.id, Message.created_at),
            ),
        ).where(
            Message.conversation_id == conversation_id,
            Message.visibility != Visibility.NOTE.value,
            or_(inbound, Message.delivery_state.in_(conversations_service.ANSWERED)),
        )
    ):
        out.append(Happening(min(at, now), Kind.INBOUND if is_inbound else Kind.REPLY))
    for created_at, data in session.execute(
        select(Activity.created_at, Activity.data).where(
            Activity.conversation_id == conversation_id, Activity.kind == "status_changed"
        )
    ):
        to = data.get("to") if isinstance(data, dict) else None
        out.append(Happening(min(created_at, now), Kind.STATUS, status=str(to) if to else None))
    return out


def clocks_of(
    session: Session, *, conversation_id: int, for_update: bool = False
) -> list[SlaClock]:
    query = (
        select(SlaClock)
        .where(SlaClock.conversation_id == conversation_id)
        .order_by(SlaClock.started_at, SlaClock.id)
    )
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return list(session.scalars(query))


def snapshot(clock_row: SlaClock, conversation: Conversation, channel: str) -> None:
    clock_row.team_id = conversation.team_id
    clock_row.assignee_id = conversation.assignee_id
    clock_row.channel = channel
    clock_row.priority = conversation.priority


def reconcile(
    session: Session, *, conversation_id: int, now: datetime | None = None
) -> Conversation | None:
    """Bring the conversation's clocks and SLA fields in step with its history. Returns the
    conversation (None if it has gone, merged into another)."""
    now = now or clock.now()
    # One reconcile per conversation at a time (PostgreSQL; SQLite writers are serialised).
    conversation = session.get(
        Conversation, conversation_id, with_for_update=True, populate_existing=True
    )
    if conversation is None:
        return None
    policy = sla_service.pick(session, conversation=conversation)
    channel = sla_service.channel_of(session, conversation)
    # Locked too: a warning claimed (alerts.py) between reading a clock and moving its due
    # time would otherwise be kept for a due time the clock no longer has.
    stored = clocks_of(session, conversation_id=conversation.id, for_update=True)
    by_key = {(c.target, c.started_at): c for c in stored}
    kept: set[int] = set()
    changed = False
    if policy is not None:
        hours = schedules_service.weekly(session, business_hours_id=policy.business_hours_id)
        for cycle in clocks.cycles(history(session, conversation_id=conversation.id, now=now)):
            minutes = target_minutes(policy, cycle.target)
            if minutes is None:
                continue
            row = by_key.get((cycle.target.value, cycle.started_at))
            if row is not None and row.stopped_at is not None:
                if cycle.stopped_at is not None and cycle.stopped_at <= row.stopped_at:
                    kept.add(id(row))  # finished work: a later policy does not rewrite it
                    continue
                # What stopped it no longer counts (the reply failed to deliver): it runs
                # again, or stops at the answer that does count.
                row.stopped_at = None
                row.elapsed_seconds = None
            if row is None and not cycle.running and cycle.started_at < policy.created_at:
                continue
            m = clocks.measure(cycle, target_seconds=minutes * 60, hours=hours)
            if row is None:
                row = SlaClock(
                    organization_id=conversation.organization_id,
                    conversation_id=conversation.id,
                    policy_id=policy.id,
                    target=cycle.target.value,
                    started_at=cycle.started_at,
                    due_at=m.due_at,
                    channel=channel,
                    priority=conversation.priority,
                )
                session.add(row)
                changed = True
            _apply(row, cycle=cycle, m=m, policy=policy, conversation=conversation, channel=channel)
            kept.add(id(row))
    for row in stored:
        if row.stopped_at is None and id(row) not in kept:
            session.delete(row)
            changed = True
    changed = any(session.is_modified(row) for row in stored if id(row) in kept) or changed
    session.flush()
    return _sync_conversation(session, conversation, policy, changed=changed)


def _apply(
    row: SlaClock,
    *,
    cycle: clocks.Cycle,
    m: clocks.Measure,
    policy: SlaPolicy,
    conversation: Conversation,
    channel: str,
) -> None:
    row.policy_id = policy.id
    row.due_at = m.due_at
    # The warning window follows the due time; warned_at is kept, so a warning given in the
    # window of an earlier due time counts again if the due time comes back to it.
    row.warn_at = (
        m.due_at - timedelta(minutes=policy.warn_before_minutes)
        if policy.warn_before_minutes > 0 and cycle.stopped_at is None
        else None
    )
    row.paused_at = m.paused_at
    if row.breached_at is None:
        snapshot(row, conversation, channel)
    if cycle.stopped_at is not None:
        row.stopped_at = cycle.stopped_at
        row.paused_at = None
        row.elapsed_seconds = (
            None if cycle.cancelled or m.used_seconds is None else round(m.used_seconds)
        )
        if m.late and row.breached_at is None:
            row.breached_at = m.due_at


def _sync_conversation(
    session: Session, conversation: Conversation, policy: SlaPolicy | None, *, changed: bool
) -> Conversation:
    rows = clocks_of(session, conversation_id=conversation.id)
    due = [r.due_at for r in rows if r.stopped_at is None and r.paused_at is None]
    values = (
        policy.id if policy is not None else None,
        min(due) if due else None,
        any(r.breached_at is not None for r in rows),
    )
    before = (conversation.sla_policy_id, conversation.sla_due_at, conversation.sla_breached)
    if values != before:
        conversation.sla_policy_id, conversation.sla_due_at, conversation.sla_breached = values
        changed = True
    if changed:
        announce(session, conversation)
    return conversation


def announce(session: Session, conversation: Conversation) -> None:
    bus.emit(
        session,
        SlaClocksChanged(
            organization_id=conversation.organization_id,
            conversation_id=conversation.id,
            due_at=conversation.sla_due_at.isoformat() if conversation.sla_due_at else None,
            breached=conversation.sla_breached,
        ),
    )
