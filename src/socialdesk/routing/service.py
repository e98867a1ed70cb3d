"""Routing: the organization's settings, ordered routing rules, routing a new conversation,
members going away and coming back, reassignment, claiming, and the queue of conversations
waiting for someone with room.

Plain keyword-only functions that never commit: the request or job that calls them does.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member, Organization, Team, TeamMembership
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.common.errors import NotFound, ValidationFailed
from socialdesk.connectors.base import Visibility
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import (
    Activity,
    Conversation,
    DeliveryState,
    Direction,
    Message,
    Status,
)
from socialdesk.routing import actions as rule_actions
from socialdesk.routing import assignment, duty
from socialdesk.routing.conditions import (
    ROUTING_ACTIONS,
    Action,
    Condition,
    Facts,
    dump_actions,
    dump_conditions,
    matches,
    parse_actions,
    parse_conditions,
    referenced_ids,
)
from socialdesk.routing.duty import Availability
from socialdesk.routing.models import RoutingRule, RoutingSettings, Strategy

log = logging.getLogger(__name__)

MAX_RULES = 200
MAX_CAPACITY = 1000
MAX_REASSIGN_MINUTES = 7 * 24 * 60
# Trail kinds routing writes. A conversation with one of them has been through routing, so the
# queue may hand it out again when someone has room.
ROUTED = "routed"
REASSIGNED = "reassigned"
CLAIMED = "claimed"
# How many waiting conversations one pass of the queue looks at per organization.
PICKUP_BATCH = 200


# -- settings -------------------------------------------------------------------------------


def get_settings(session: Session, *, organization_id: int) -> RoutingSettings:
    """The organization's routing settings; the defaults (not stored) when never changed."""
    row = session.get(RoutingSettings, organization_id)
    if row is not None:
        return row
    return RoutingSettings(
        organization_id=organization_id,
        strategy=Strategy.MANUAL.value,
        reassign_when_away=True,
        reassign_after_minutes=None,
    )


def update_settings(
    session: Session,
    *,
    organization_id: int,
    strategy: str,
    reassign_when_away: bool,
    reassign_after_minutes: int | None,
) -> RoutingSettings:
    try:
        chosen = Strategy(strategy)
    except ValueError:
        raise ValidationFailed(
            f"strategy must be one of {', '.join(s.value for s in Strategy)}, not {strategy!r}",
            field="strategy",
        ) from None
    if reassign_after_minutes is not None and not 1 <= reassign_after_minutes <= (
        MAX_REASSIGN_MINUTES
    ):
        raise ValidationFailed(
            f"reassign_after_minutes must be 1 to {MAX_REASSIGN_MINUTES} minutes, or empty",
            field="reassign_after_minutes",
        )
    row = session.get(RoutingSettings, organization_id)
    if row is None:
        row = RoutingSettings(organization_id=organization_id)
        session.add(row)
    row.strategy = chosen.value
    row.reassign_when_away = reassign_when_away
    row.reassign_after_minutes = reassign_after_minutes
    row.updated_at = clock.now()
    session.flush()
    return row


# -- duty -----------------------------------------------------------------------------------


def set_member_duty(
    session: Session, *, member: Member, capacity: int, languages: Sequence[str]
) -> Member:
    """How many open conversations auto-assignment gives the member at most, and the
    languages they answer in."""
    if not 0 <= capacity <= MAX_CAPACITY:
        raise ValidationFailed(f"capacity must be 0 to {MAX_CAPACITY}", field="capacity")
    codes: list[str] = []
    for raw in languages:
        code = raw.strip().lower()
        if not code:
            continue
        if not (2 <= len(code) <= 3 and code.isascii() and code.isalpha()):
            raise ValidationFailed(
                f"languages must be codes like en, es or pt, not {raw!r}", field="languages"
            )
        if code not in codes:
            codes.append(code)
    member.capacity = capacity
    member.languages = codes
    return member


@dataclass
class AvailabilityChange:
    member: Member
    changed: bool
    reassigned: list[int] = field(default_factory=list)
    picked_up: list[int] = field(default_factory=list)


def set_availability(
    session: Session, *, member: Member, availability: str, actor: Member | None
) -> AvailabilityChange:
    """Mark ``member`` available or away. Going away hands their open conversations back to
    routing (when the organization reassigns on away), each with a trail entry saying why;
    coming back lets the queue give them waiting work."""
    try:
        wanted = Availability(availability)
    except ValueError:
        raise ValidationFailed(
            f"availability must be available or away, not {availability!r}",
            field="availability",
        ) from None
    change = AvailabilityChange(member=member, changed=member.availability != wanted.value)
    if not change.changed:
        return change
    member.availability = wanted.value
    member.availability_changed_at = clock.now()
    session.flush()
    settings = get_settings(session, organization_id=member.organization_id)
    if wanted is Availability.AWAY and settings.reassign_when_away:
        change.reassigned = release_member(
            session, member=member, reason=f"{member.name} went away", actor=actor
        )
    elif wanted is Availability.AVAILABLE:
        change.picked_up = pick_up_waiting(session, organization_id=member.organization_id)
    return change


def release_member(
    session: Session,
    *,
    member: Member,
    reason: str,
    actor: Member | None,
    conversations: Sequence[Conversation] | None = None,
) -> list[int]:
    """Give the member's open conversations (or those of them in ``conversations``) back to
    routing: each goes to another on-duty member with room, within its team, when the
    organization auto-assigns; otherwise, or with nobody free, it waits unassigned in its
    team's queue. Returns the conversation ids that moved."""
    settings = get_settings(session, organization_id=member.organization_id)
    if conversations is None:
        conversations = list(
            session.scalars(
                select(Conversation)
                .where(
                    Conversation.organization_id == member.organization_id,
                    Conversation.assignee_id == member.id,
                    Conversation.status == Status.OPEN.value,
                )
                .order_by(Conversation.priority.desc(), Conversation.id)
            )
        )
    strategy = Strategy(settings.strategy)
    for conversation in conversations:
        _reassign(
            session,
            conversation=conversation,
            reason=reason,
            strategy=None if strategy is Strategy.MANUAL else strategy,
            actor=actor,
            exclude=[member.id],
            unassign_if_nobody=True,
        )
    return [c.id for c in conversations]


def _reassign(
    session: Session,
    *,
    conversation: Conversation,
    reason: str,
    strategy: Strategy | None,
    actor: Member | None,
    exclude: Sequence[int],
    unassign_if_nobody: bool,
) -> Member | None:
    """Move ``conversation`` to someone else on duty (chosen by ``strategy``; None: nobody,
    straight back to the queue). With nobody free it is unassigned when
    ``unassign_if_nobody``, else left where it is. Returns the new assignee."""
    chosen = None
    if strategy is not None:
        for member in assignment.candidates(
            session,
            conversation=conversation,
            team_id=conversation.team_id,
            strategy=strategy,
            exclude=exclude,
        ):
            if assignment.still_has_room(session, member):
                chosen = member
                break
    if chosen is None and not unassign_if_nobody:
        return None
    conversations_service.record(
        session,
        conversation=conversation,
        kind=REASSIGNED,
        actor=actor,
        data={"reason": reason},
    )
    if chosen is not None:
        assignment.give(session, conversation=conversation, member=chosen, actor=actor)
    else:
        conversations_service.assign(
            session, conversation=conversation, assignee_id=None, actor=actor
        )
        conversation.assigned_at = None
    return chosen


def claim(session: Session, *, conversation: Conversation, member: Member) -> None:
    """``member`` takes the conversation, whatever its team (social media does not wait for
    the right department). Claiming also makes them available: they are clearly at work."""
    if not member.is_active:
        raise ValidationFailed(f"{member.name} is deactivated and cannot claim conversations")
    if conversation.assignee_id == member.id:
        return
    assignment.give(session, conversation=conversation, member=member, actor=member)
    conversations_service.record(session, conversation=conversation, kind=CLAIMED, actor=member)
    if member.availability != Availability.AVAILABLE.value:
        member.availability = Availability.AVAILABLE.value
        member.availability_changed_at = clock.now()


# -- routing rules --------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleInput:
    name: str
    conditions: list[Condition]
    actions: list[Action]
    enabled: bool = True
    stop: bool = False


def validate_rule(
    session: Session,
    *,
    organization_id: int,
    name: str,
    conditions: object,
    actions: object,
    allowed_actions: Sequence[str] = ROUTING_ACTIONS,
) -> tuple[str, list[Condition], list[Action]]:
    """Check a rule's name, conditions and actions, including that the teams, members and
    brand accounts it names exist in the organization: one that does not (or is another
    organization's) is NotFound naming where the rule names it, as an unknown id in any other
    body is."""
    clean = " ".join(name.split())
    if not clean or len(clean) > 120:
        raise ValidationFailed("name the rule (1 to 120 characters)", field="name")
    parsed_conditions = parse_conditions(conditions)
    parsed_actions = parse_actions(actions, allowed=allowed_actions)
    refs = referenced_ids(parsed_conditions, parsed_actions)
    for kind, noun in (("team", "team"), ("member", "member"), ("brand", "brand account")):
        for object_id, where in sorted(refs[kind]):
            row = _row(session, kind, object_id)
            if row is None or row.organization_id != organization_id:
                raise NotFound(f"{where}: {noun} {object_id} does not exist", field=where)
            if isinstance(row, Member) and not row.is_active:
                raise ValidationFailed(f"{where}: {row.name} is deactivated", field=where)
    return clean, parsed_conditions, parsed_actions


def _row(session: Session, kind: str, object_id: int) -> Team | Member | BrandAccount | None:
    if kind == "team":
        return session.get(Team, object_id)
    if kind == "member":
        return session.get(Member, object_id)
    return session.get(BrandAccount, object_id)


def list_rules(session: Session, *, organization_id: int) -> list[RoutingRule]:
    return list(
        session.scalars(
            select(RoutingRule)
            .where(RoutingRule.organization_id == organization_id)
            .order_by(RoutingRule.position, RoutingRule.id)
        )
    )


def get_rule(session: Session, *, organization_id: int, rule_id: int) -> RoutingRule:
    rule = session.get(RoutingRule, rule_id)
    if rule is None or rule.organization_id != organization_id:
        raise NotFound(f"routing rule {rule_id} does not exist")
    return rule


def create_rule(
    session: Session,
    *,
    organization_id: int,
    name: str,
    conditions: object,
    actions: object,
    enabled: bool = True,
    stop: bool = False,
    position: int | None = None,
) -> RoutingRule:
    """A new rule, last in the order unless ``position`` (1 = first) says where."""
    clean, parsed_conditions, parsed_actions = validate_rule(
        session, organization_id=organization_id, name=name, conditions=conditions, actions=actions
    )
    rules = list_rules(session, organization_id=organization_id)
    if len(rules) >= MAX_RULES:
        raise ValidationFailed(f"an organization has at most {MAX_RULES} routing rules")
    now = clock.now()
    rule = RoutingRule(
        organization_id=organization_id,
        name=clean,
        position=len(rules),
        enabled=enabled,
        conditions=dump_conditions(parsed_conditions),
        actions=dump_actions(parsed_actions),
        stop=stop,
        created_at=now,
        updated_at=now,
    )
    session.add(rule)
    session.flush()
    if position is not None:
        move_rule(session, rule=rule, position=position)
    return rule


def update_rule(
    session: Session,
    *,
    rule: RoutingRule,
    name: str,
    conditions: object,
    actions: object,
    enabled: bool,
    stop: bool,
) -> RoutingRule:
    clean, parsed_conditions, parsed_actions = validate_rule(
        session,
        organization_id=rule.organization_id,
        name=name,
        conditions=conditions,
        actions=actions,
    )
    rule.name = clean
    rule.conditions = dump_conditions(parsed_conditions)
    rule.actions = dump_actions(parsed_actions)
    rule.enabled = enabled
    rule.stop = stop
    rule.updated_at = clock.now()
    return rule


def delete_rule(session: Session, *, rule: RoutingRule) -> None:
    organization_id = rule.organization_id
    session.delete(rule)
    session.flush()
    _renumber(list_rules(session, organization_id=organization_id))


def _renumber(rules: Sequence[RoutingRule]) -> None:
    for index, rule in enumerate(rules):
        if rule.position != index:
            rule.position = index


def move_rule(session: Session, *, rule: RoutingRule, position: int) -> list[RoutingRule]:
    """Put ``rule`` at ``position`` (1 = first; past the end = last)."""
    rules = [r for r in list_rules(session, organization_id=rule.organization_id) if r is not rule]
    index = min(max(position, 1), len(rules) + 1) - 1
    rules.insert(index, rule)
    _renumber(rules)
    session.flush()
    return rules


def move_rule_by(session: Session, *, rule: RoutingRule, step: int) -> list[RoutingRule]:
    """One place up (-1) or down (+1)."""
    rules = list_rules(session, organization_id=rule.organization_id)
    current = rules.index(rule) + 1
    return move_rule(session, rule=rule, position=max(1, current + step))


def reorder_rules(
    session: Session, *, organization_id: int, rule_ids: Sequence[int]
) -> list[RoutingRule]:
    """Set the whole order at once: ``rule_ids`` must name every rule exactly once."""
    rules = list_rules(session, organization_id=organization_id)
    by_id = {r.id: r for r in rules}
    if sorted(rule_ids) != sorted(by_id) or len(set(rule_ids)) != len(rule_ids):
        raise ValidationFailed(
            f"ids must list each of the organization's {len(rules)} rules exactly once "
            f"(it has {sorted(by_id)})",
            field="ids",
        )
    ordered = [by_id[i] for i in rule_ids]
    _renumber(ordered)
    session.flush()
    return ordered


# -- routing a conversation -----------------------------------------------------------------


@dataclass
class RouteResult:
    conversation_id: int
    matched: list[str] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    assignee_id: int | None = None
    already_routed: bool = False


def was_routed(session: Session, *, conversation_id: int) -> bool:
    return bool(
        session.scalar(
            select(
                exists().where(Activity.conversation_id == conversation_id, Activity.kind == ROUTED)
            )
        )
    )


def route(session: Session, *, conversation: Conversation) -> RouteResult:
    """Run the routing rules on a new conversation, in order, stopping after a matching rule
    marked stop; then, if it is still unassigned and the organization auto-assigns, give it
    to an on-duty member with room. Safe to run twice: the second run changes nothing."""
    result = RouteResult(conversation_id=conversation.id)
    if was_routed(session, conversation_id=conversation.id):
        result.already_routed = True
        result.assignee_id = conversation.assignee_id
        return result
    settings = get_settings(session, organization_id=conversation.organization_id)
    rules = [
        r for r in list_rules(session, organization_id=conversation.organization_id) if r.enabled
    ]
    if not rules and Strategy(settings.strategy) is Strategy.MANUAL:
        # Routing is not in use: nothing to do, and nothing for the trail to say.
        result.assignee_id = conversation.assignee_id
        return result
    facts = Facts(session, conversation)
    for rule in rules:
        try:
            conditions = parse_conditions(rule.conditions)
            actions = parse_actions(rule.actions, allowed=ROUTING_ACTIONS)
        except ValidationFailed as exc:
            # Stored rules are validated on save; one that no longer reads (an older format)
            # is skipped rather than stopping every conversation's routing.
            log.warning("routing rule %s skipped: %s", rule.id, exc.message)
            continue
        if not matches(conditions, facts):
            continue
        result.matched.append(rule.name)
        result.outcomes += rule_actions.run(
            session,
            conversation=conversation,
            actions=actions,
            strategy=settings.strategy,
            rule_name=rule.name,
        )
        if rule.stop:
            break
    if (
        conversation.assignee_id is None
        and conversation.status == Status.OPEN.value
        and Strategy(settings.strategy) is not Strategy.MANUAL
    ):
        member = assignment.auto_assign(
            session,
            conversation=conversation,
            strategy=Strategy(settings.strategy),
            team_id=conversation.team_id,
        )
        result.outcomes.append(
            f"assigned to {member.name}" if member else "nobody on duty has room; waiting"
        )
    data: dict[str, Any] = {"rules": ", ".join(result.matched) or "none matched"}
    conversations_service.record(
        session, conversation=conversation, kind=ROUTED, actor=None, data=data
    )
    result.assignee_id = conversation.assignee_id
    return result


# -- the queue ------------------------------------------------------------------------------


def pick_up_waiting(
    session: Session, *, organization_id: int, limit: int = PICKUP_BATCH
) -> list[int]:
    """Give waiting conversations (open, unassigned, already through routing) to on-duty
    members with room: highest priority first, then the customer who has waited longest.
    Returns the conversation ids assigned."""
    settings = get_settings(session, organization_id=organization_id)
    if Strategy(settings.strategy) is Strategy.MANUAL:
        return []
    routed = exists().where(
        Activity.conversation_id == Conversation.id, Activity.kind.in_((ROUTED, REASSIGNED))
    )
    waiting = list(
        session.scalars(
            select(Conversation)
            .where(
                Conversation.organization_id == organization_id,
                Conversation.status == Status.OPEN.value,
                Conversation.assignee_id.is_(None),
                routed,
            )
            .order_by(
                Conversation.priority.desc(),
                func.coalesce(Conversation.last_customer_message_at, Conversation.created_at),
                Conversation.id,
            )
            .limit(limit)
        )
    )
    assigned: list[int] = []
    full_teams: set[int | None] = set()  # nobody had room there on this pass
    for conversation in waiting:
        if conversation.team_id in full_teams:
            continue
        member = assignment.auto_assign(
            session,
            conversation=conversation,
            strategy=Strategy(settings.strategy),
            team_id=conversation.team_id,
        )
        if member is None:
            full_teams.add(conversation.team_id)
        else:
            assigned.append(conversation.id)
    return assigned


def organization_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Organization.id).order_by(Organization.id)))


# -- reassignment ---------------------------------------------------------------------------


def reassign_off_duty(
    session: Session, *, organization_id: int, at: datetime | None = None
) -> list[int]:
    """When the organization reassigns on away: open conversations whose assignee is away,
    deactivated or outside their teams' hours go back to routing. Returns the ids moved.

    A conversation someone took while their team was closed (claimed after hours) stays
    with them: only work they got while on duty goes back when their hours end."""
    settings = get_settings(session, organization_id=organization_id)
    if not settings.reassign_when_away:
        return []
    at = at or clock.now()
    work = list(
        session.scalars(
            select(Conversation)
            .where(
                Conversation.organization_id == organization_id,
                Conversation.status == Status.OPEN.value,
                Conversation.assignee_id.is_not(None),
            )
            .order_by(Conversation.priority.desc(), Conversation.id)
        )
    )
    if not work:
        return []
    by_member: dict[int, list[Conversation]] = {}
    for conversation in work:
        assert conversation.assignee_id is not None
        by_member.setdefault(conversation.assignee_id, []).append(conversation)
    open_ids = duty.open_team_ids(session, organization_id=organization_id, at=at)
    moved: list[int] = []
    for member in session.scalars(
        select(Member).where(Member.id.in_(by_member)).order_by(Member.id)
    ):
        reason = duty.off_duty_reason(session, member=member, at=at, open_ids=open_ids)
        if reason is None:
            continue
        release = by_member[member.id]
        if duty.is_available(member):  # only the hours ended: keep what they took off hours
            release = [
                c
                for c in release
                if c.assigned_at is None
                or duty.off_duty_reason(session, member=member, at=c.assigned_at) is None
            ]
        if release:
            moved += release_member(
                session, member=member, reason=reason, actor=None, conversations=release
            )
    return moved


def is_reply() -> Any:
    """A message the customer got (or will get) from the brand: not a note, not a failed or
    rejected draft. (A draft held for approval counts: the assignee did answer.)"""
    return (
        (Message.direction == Direction.OUTBOUND.value)
        & (Message.visibility != Visibility.NOTE.value)
        & (
            Message.delivery_state.is_(None)
            | Message.delivery_state.not_in(
                (DeliveryState.FAILED.value, DeliveryState.REJECTED.value)
            )
        )
    )


def _answered_since(since: Any) -> Any:
    """A reply in the conversation at or after ``since``."""
    return exists().where(
        Message.conversation_id == Conversation.id, Message.created_at >= since, is_reply()
    )


def _assigned_at(session: Session, conversation: Conversation) -> datetime | None:
    """When the current assignee got it: the column, or the trail for an assignment made
    before the column was kept."""
    if conversation.assigned_at is not None:
        return conversation.assigned_at
    return session.scalar(
        select(func.max(Activity.created_at)).where(
            Activity.conversation_id == conversation.id, Activity.kind == "assigned"
        )
    )


def reassign_unanswered(
    session: Session, *, organization_id: int, at: datetime | None = None
) -> list[int]:
    """When the organization reassigns after N minutes: an open conversation whose customer
    has waited N minutes for its assignee (counted from the later of the assignment and the
    customer's latest message, with no reply since) goes to another on-duty member with room
    (by the organization's strategy; round robin when it assigns by hand). With nobody free
    it stays where it is. Returns the ids moved."""
    settings = get_settings(session, organization_id=organization_id)
    minutes = settings.reassign_after_minutes
    if not minutes:
        return []
    at = at or clock.now()
    cutoff = at - timedelta(minutes=minutes)
    late = list(
        session.scalars(
            select(Conversation)
            .where(
                Conversation.organization_id == organization_id,
                Conversation.status == Status.OPEN.value,
                Conversation.assignee_id.is_not(None),
                Conversation.last_customer_message_at <= cutoff,
                or_(Conversation.assigned_at.is_(None), Conversation.assigned_at <= cutoff),
                ~_answered_since(Conversation.last_customer_message_at),
            )
            .order_by(Conversation.priority.desc(), Conversation.last_customer_message_at)
        )
    )
    moved: list[int] = []
    for conversation in late:
        got = _assigned_at(session, conversation)
        if got is not None and got > cutoff:
            continue
        current = session.get(Member, conversation.assignee_id)
        name = current.name if current else "the assignee"
        new = _reassign(
            session,
            conversation=conversation,
            reason=f"{name} did not answer within {minutes} minutes",
            strategy=rule_actions.assignment_strategy(settings.strategy),
            actor=None,
            exclude=[conversation.assignee_id] if conversation.assignee_id else [],
            unassign_if_nobody=False,
        )
        if new is not None:
            moved.append(conversation.id)
    return moved


# -- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DutyRow:
    member: Member
    on_duty: bool
    why_not: str | None
    load: int
    teams: list[str]


def duty_board(
    session: Session, *, organization_id: int, team_id: int | None = None
) -> list[DutyRow]:
    """Every active member (of ``team_id``, if given) with whether they are on duty now, why
    not, and their load. Asked about a team, a member whose other team is working is still
    off duty for this one while it is closed."""
    stmt = select(Member).where(
        Member.organization_id == organization_id, Member.is_active.is_(True)
    )
    team: Team | None = None
    if team_id is not None:
        team = accounts_service.get_team(
            session, organization_id=organization_id, team_id=team_id, field="team_id"
        )
        stmt = stmt.where(
            Member.id.in_(select(TeamMembership.member_id).where(TeamMembership.team_id == team_id))
        )
    members = list(session.scalars(stmt.order_by(Member.name, Member.id)))
    now = clock.now()
    open_ids = duty.open_team_ids(session, organization_id=organization_id, at=now)
    load = assignment.loads(
        session, organization_id=organization_id, member_ids=(m.id for m in members)
    )
    team_names = {
        t.id: t.name
        for t in session.scalars(select(Team).where(Team.organization_id == organization_id))
    }
    memberships = duty.teams_of(session, (m.id for m in members))
    rows = []
    for member in members:
        reason = duty.off_duty_reason(session, member=member, at=now, open_ids=open_ids)
        if reason is None and team is not None and team.id not in open_ids:
            reason = f"{team.name} is outside its working hours"
        rows.append(
            DutyRow(
                member=member,
                on_duty=reason is None,
                why_not=reason,
                load=load[member.id],
                teams=sorted(team_names[t] for t in memberships.get(member.id, set())),
            )
        )
    return rows


def routed_conversations_waiting(session: Session, *, organization_id: int) -> int:
    """How many routed conversations wait unassigned (for the settings page)."""
    routed = exists().where(
        Activity.conversation_id == Conversation.id, Activity.kind.in_((ROUTED, REASSIGNED))
    )
    return int(
        session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(
                and_(
                    Conversation.organization_id == organization_id,
                    Conversation.status == Status.OPEN.value,
                    Conversation.assignee_id.is_(None),
                    routed,
                )
            )
        )
        or 0
    )
