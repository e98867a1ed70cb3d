"""Automation rules: when something happens to a conversation (it is created, the customer
writes, it changes) or does not happen (no reply within N minutes), and the rule's conditions
hold, run its actions: notify the team lead, raise the priority, tag, assign...

Every firing is an AutomationRun row, unique per (rule, conversation, occurrence), so a rule
fires at most once for one occurrence however often the job that fires it runs. A rule with a
delay (and every ``no_reply`` rule) is scheduled as a run with ``due_at``; a periodic task fires
the due ones, checking the conditions again at that time.

``no_reply``'s occurrence is the first customer message after the brand's last reply: a
customer who writes three times in a row is one wait, timed from their first message, and a
reply before the due time cancels it.

Plain keyword-only functions that never commit.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from socialdesk.common import clock
from socialdesk.common.errors import NotFound, ValidationFailed
from socialdesk.connectors.base import Visibility
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, Direction, Message, Status
from socialdesk.routing import actions as rule_actions
from socialdesk.routing import service as routing_service
from socialdesk.routing.conditions import (
    AUTOMATION_ACTIONS,
    Condition,
    Facts,
    dump_actions,
    dump_conditions,
    matches,
    parse_actions,
    parse_conditions,
)
from socialdesk.routing.models import AutomationRule, AutomationRun

log = logging.getLogger(__name__)

MAX_RULES = 200
MAX_DELAY_MINUTES = 30 * 24 * 60
FIRED_KIND = "automation"


class Trigger(enum.StrEnum):
    CONVERSATION_CREATED = "conversation.created"
    MESSAGE_CREATED = "message.created"  # a customer's message (inbound)
    CONVERSATION_CHANGED = "conversation.changed"
    NO_REPLY = "no_reply"  # delay_minutes after a customer message with no reply since


TRIGGER_LABELS = {
    Trigger.CONVERSATION_CREATED.value: "A new conversation",
    Trigger.MESSAGE_CREATED.value: "A customer writes",
    Trigger.CONVERSATION_CHANGED.value: "A conversation changes",
    Trigger.NO_REPLY.value: "No reply within the delay",
}


# -- rules ----------------------------------------------------------------------------------


def _validate(
    session: Session,
    *,
    organization_id: int,
    name: str,
    trigger: str,
    delay_minutes: int | None,
    conditions: object,
    actions: object,
) -> tuple[str, Trigger, list[dict[str, Any]], list[dict[str, Any]]]:
    try:
        chosen = Trigger(trigger)
    except ValueError:
        raise ValidationFailed(
            f"trigger must be one of {', '.join(t.value for t in Trigger)}, not {trigger!r}",
            field="trigger",
        ) from None
    if chosen is Trigger.NO_REPLY and delay_minutes is None:
        raise ValidationFailed(
            f'"{TRIGGER_LABELS[Trigger.NO_REPLY.value]}" needs a delay in minutes '
            "(delay_minutes): how long the customer may wait for a reply",
            field="delay_minutes",
        )
    if delay_minutes is not None and not 1 <= delay_minutes <= MAX_DELAY_MINUTES:
        raise ValidationFailed(
            f"the delay in minutes (delay_minutes) must be 1 to {MAX_DELAY_MINUTES}, or empty "
            "for at once",
            field="delay_minutes",
        )
    clean, parsed_conditions, parsed_actions = routing_service.validate_rule(
        session,
        organization_id=organization_id,
        name=name,
        conditions=conditions,
        actions=actions,
        allowed_actions=AUTOMATION_ACTIONS,
    )
    return clean, chosen, dump_conditions(parsed_conditions), dump_actions(parsed_actions)


def list_rules(session: Session, *, organization_id: int) -> list[AutomationRule]:
    return list(
        session.scalars(
            select(AutomationRule)
            .where(AutomationRule.organization_id == organization_id)
            .order_by(AutomationRule.name, AutomationRule.id)
        )
    )


def get_rule(session: Session, *, organization_id: int, rule_id: int) -> AutomationRule:
    rule = session.get(AutomationRule, rule_id)
    if rule is None or rule.organization_id != organization_id:
        raise NotFound(f"automation rule {rule_id} does not exist")
    return rule


def create_rule(
    session: Session,
    *,
    organization_id: int,
    name: str,
    trigger: str,
    conditions: object,
    actions: object,
    delay_minutes: int | None = None,
    enabled: bool = True,
) -> AutomationRule:
    clean, chosen, stored_conditions, stored_actions = _validate(
        session,
        organization_id=organization_id,
        name=name,
        trigger=trigger,
        delay_minutes=delay_minutes,
        conditions=conditions,
        actions=actions,
    )
    count = session.scalar(
        select(func.count())
        .select_from(AutomationRule)
        .where(AutomationRule.organization_id == organization_id)
    )
    if (count or 0) >= MAX_RULES:
        raise ValidationFailed(f"an organization has at most {MAX_RULES} automation rules")
    now = clock.now()
    rule = AutomationRule(
        organization_id=organization_id,
        name=clean,
        enabled=enabled,
        trigger=chosen.value,
        delay_minutes=delay_minutes,
        conditions=stored_conditions,
        actions=stored_actions,
        created_at=now,
        updated_at=now,
    )
    session.add(rule)
    session.flush()
    return rule


def update_rule(
    session: Session,
    *,
    rule: AutomationRule,
    name: str,
    trigger: str,
    conditions: object,
    actions: object,
    delay_minutes: int | None,
    enabled: bool,
) -> AutomationRule:
    clean, chosen, stored_conditions, stored_actions = _validate(
        session,
        organization_id=rule.organization_id,
        name=name,
        trigger=trigger,
        delay_minutes=delay_minutes,
        conditions=conditions,
        actions=actions,
    )
    rule.name = clean
    rule.trigger = chosen.value
    rule.delay_minutes = delay_minutes
    rule.conditions = stored_conditions
    rule.actions = stored_actions
    rule.enabled = enabled
    rule.updated_at = clock.now()
    return rule


def delete_rule(session: Session, *, rule: AutomationRule) -> None:
    """The rule and its record of firings (scheduled ones included) go."""
    for run in session.scalars(select(AutomationRun).where(AutomationRun.rule_id == rule.id)):
        session.delete(run)
    session.flush()
    session.delete(rule)


def recent_runs(session: Session, *, rule: AutomationRule, limit: int = 50) -> list[AutomationRun]:
    return list(
        session.scalars(
            select(AutomationRun)
            .where(AutomationRun.rule_id == rule.id)
            .order_by(AutomationRun.id.desc())
            .limit(limit)
        )
    )


# -- firing ---------------------------------------------------------------------------------


def _rules_for(session: Session, *, organization_id: int, trigger: Trigger) -> list[AutomationRule]:
    return list(
        session.scalars(
            select(AutomationRule)
            .where(
                AutomationRule.organization_id == organization_id,
                AutomationRule.trigger == trigger.value,
                AutomationRule.enabled.is_(True),
            )
            .order_by(AutomationRule.id)
        )
    )


def _new_run(
    session: Session,
    *,
    rule: AutomationRule,
    conversation: Conversation,
    occurrence: str,
    due_at: datetime | None,
) -> AutomationRun | None:
    """A run for this occurrence, or None when there already is one (the unique key decides,
    also between two workers)."""
    occurrence = occurrence[:80]
    if session.scalar(
        select(
            exists().where(
                AutomationRun.rule_id == rule.id,
                AutomationRun.conversation_id == conversation.id,
                AutomationRun.occurrence == occurrence,
            )
        )
    ):
        return None
    run = AutomationRun(
        organization_id=conversation.organization_id,
        rule_id=rule.id,
        conversation_id=conversation.id,
        occurrence=occurrence,
        due_at=due_at,
        created_at=clock.now(),
    )
    try:
        with session.begin_nested():
            session.add(run)
    except IntegrityError:
        return None
    return run


def waiting_since(session: Session, *, conversation: Conversation) -> Message | None:
    """The customer's first message after the brand's latest reply: what they wait on since.
    None when the customer is not waiting."""
    last_reply = session.scalar(
        select(func.max(Message.created_at)).where(
            Message.conversation_id == conversation.id, routing_service.is_reply()
        )
    )
    stmt = select(Message).where(
        Message.conversation_id == conversation.id,
        Message.direction == Direction.INBOUND.value,
        Message.visibility != Visibility.NOTE.value,
    )
    if last_reply is not None:
        stmt = stmt.where(Message.created_at > last_reply)
    return session.scalars(stmt.order_by(Message.created_at, Message.id).limit(1)).first()


def answered_since(session: Session, *, conversation_id: int, since: datetime) -> bool:
    return bool(
        session.scalar(
            select(
                exists().where(
                    Message.conversation_id == conversation_id,
                    Message.created_at >= since,
                    routing_service.is_reply(),
                )
            )
        )
    )


# What a conversation.changed rule with no conditions of its own watches.
_CHANGED_DEFAULT_FIELDS = ("status", "assignee", "team_id", "priority")


def _state_key(conditions: Sequence[Condition], facts: Facts) -> str:
    """A digest of the conversation's values for the fields a rule looks at: a
    conversation.changed rule fires once per state it has not fired for yet (a rule on
    "priority >= high" fires when the conversation becomes high, not again on every later
    tag)."""
    names = sorted({c.field for c in conditions}) or list(_CHANGED_DEFAULT_FIELDS)
    values = {
        name: facts.latest_customer_text if name == "keywords" else facts.value(name)
        for name in names
    }
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode())
    return "changed:" + digest.hexdigest()[:32]


def on_event(
    session: Session, *, trigger: Trigger, conversation: Conversation, occurrence: str
) -> list[AutomationRun]:
    """``trigger`` happened (``occurrence`` names this happening, e.g. ``message:42``): fire
    the rules without a delay whose conditions hold now, and schedule the delayed ones (their
    conditions are checked when they come due). Returns the runs made."""
    made: list[AutomationRun] = []
    if trigger is Trigger.MESSAGE_CREATED:
        made += schedule_no_reply(session, conversation=conversation)
    now = clock.now()
    facts = Facts(session, conversation)
    for rule in _rules_for(session, organization_id=conversation.organization_id, trigger=trigger):
        if rule.delay_minutes:
            run = _new_run(
                session,
                rule=rule,
                conversation=conversation,
                occurrence=f"{occurrence}+{rule.delay_minutes}m",
                due_at=now + timedelta(minutes=rule.delay_minutes),
            )
            if run is not None:
                made.append(run)
            continue
        try:
            conditions = parse_conditions(rule.conditions)
        except ValidationFailed as exc:
            log.warning("automation rule %s skipped: %s", rule.id, exc.message)
            continue
        if not matches(conditions, facts):
            continue
        key = (
            _state_key(conditions, facts) if trigger is Trigger.CONVERSATION_CHANGED else occurrence
        )
        run = _new_run(session, rule=rule, conversation=conversation, occurrence=key, due_at=None)
        if run is not None:
            fire(session, run=run, rule=rule, conversation=conversation)
            made.append(run)
    return made


def schedule_no_reply(session: Session, *, conversation: Conversation) -> list[AutomationRun]:
    """Schedule each no_reply rule for the customer's current wait (once per wait)."""
    rules = _rules_for(
        session, organization_id=conversation.organization_id, trigger=Trigger.NO_REPLY
    )
    if not rules:
        return []
    first = waiting_since(session, conversation=conversation)
    if first is None:
        return []
    made = []
    for rule in rules:
        run = _new_run(
            session,
            rule=rule,
            conversation=conversation,
            occurrence=f"no_reply:{first.id}",
            due_at=first.created_at + timedelta(minutes=rule.delay_minutes or 0),
        )
        if run is not None:
            made.append(run)
    return made


def _skip_reason(session: Session, *, run: AutomationRun, conversation: Conversation) -> str | None:
    if not run.occurrence.startswith("no_reply:"):
        return None
    if conversation.status == Status.RESOLVED.value:
        return "skipped: resolved before the delay was up"
    message_id = run.occurrence.removeprefix("no_reply:")
    first = session.get(Message, int(message_id)) if message_id.isdigit() else None
    if first is None or first.conversation_id != conversation.id:
        return "skipped: the customer's message is gone (merged or deleted)"
    if answered_since(session, conversation_id=conversation.id, since=first.created_at):
        return "skipped: answered in time"
    return None


def fire(
    session: Session, *, run: AutomationRun, rule: AutomationRule, conversation: Conversation
) -> str:
    """Check the rule against the conversation as it is now and run its actions if it
    holds. Records when and what happened on the run."""
    run.ran_at = clock.now()
    outcome = _skip_reason(session, run=run, conversation=conversation)
    if outcome is None and not rule.enabled:
        outcome = "skipped: the rule was disabled"
    if outcome is None:
        try:
            conditions = parse_conditions(rule.conditions)
            actions = parse_actions(rule.actions, allowed=AUTOMATION_ACTIONS)
        except ValidationFailed as exc:
            outcome = f"skipped: the rule does not read ({exc.message})"
        else:
            if not matches(conditions, Facts(session, conversation)):
                outcome = "skipped: conditions do not hold"
            else:
                settings = routing_service.get_settings(
                    session, organization_id=conversation.organization_id
                )
                done = rule_actions.run(
                    session,
                    conversation=conversation,
                    actions=actions,
                    strategy=settings.strategy,
                    rule_name=rule.name,
                )
                outcome = "fired: " + "; ".join(done)
                conversations_service.record(
                    session,
                    conversation=conversation,
                    kind=FIRED_KIND,
                    actor=None,
                    data={"rule": rule.name, "did": "; ".join(done)},
                )
    run.outcome = outcome[:200]
    return outcome


def due_run_ids(session: Session, *, now: datetime | None = None, limit: int = 500) -> list[int]:
    now = now or clock.now()
    return list(
        session.scalars(
            select(AutomationRun.id)
            .where(AutomationRun.ran_at.is_(None), AutomationRun.due_at <= now)
            .order_by(AutomationRun.due_at, AutomationRun.id)
            .limit(limit)
        )
    )


def fire_due_run(session: Session, *, run_id: int) -> str | None:
    """Fire one scheduled run if it is still due and unfired (it is locked on PostgreSQL, so
    two workers never fire it both). Returns the outcome, None when there was nothing to do."""
    stmt = select(AutomationRun).where(AutomationRun.id == run_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    run = session.scalars(stmt).first()
    if run is None or run.ran_at is not None:
        return None
    rule = session.get(AutomationRule, run.rule_id)
    conversation = session.get(Conversation, run.conversation_id)
    if rule is None or conversation is None:
        run.ran_at = clock.now()
        run.outcome = "skipped: the rule or the conversation is gone"
        return run.outcome
    return fire(session, run=run, rule=rule, conversation=conversation)


def mark_failed(session: Session, *, run_id: int, reason: str) -> None:
    run = session.get(AutomationRun, run_id)
    if run is not None and run.ran_at is None:
        run.ran_at = clock.now()
        run.outcome = f"failed: {reason}"[:200]


def fire_due(session: Session, *, now: datetime | None = None) -> list[str]:
    """Every due run, in one transaction (the periodic task uses one per run)."""
    return [
        outcome
        for run_id in due_run_ids(session, now=now)
        if (outcome := fire_due_run(session, run_id=run_id)) is not None
    ]


def pending_runs(session: Session, *, conversation_ids: Sequence[int]) -> list[AutomationRun]:
    if not conversation_ids:
        return []
    return list(
        session.scalars(
            select(AutomationRun)
            .where(
                AutomationRun.conversation_id.in_(conversation_ids),
                AutomationRun.ran_at.is_(None),
            )
            .order_by(AutomationRun.due_at)
        )
    )
