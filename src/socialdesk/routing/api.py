"""REST API of the routing domain (mounted under /api): routing settings and rules, automation
rules (admins), who is on duty, and your own availability.

Thin routes: an id in the path is loaded by a dependency scoped to the caller's organization
(another organization's id is a 404 before the body is read), a service does the work.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member
from socialdesk.common.deps import DB, Reader, RoutingAdmin
from socialdesk.common.schemas import RowId, api_token_scheme, error_responses
from socialdesk.routing import automation, duty
from socialdesk.routing import service as routing_service
from socialdesk.routing.models import AutomationRule, RoutingRule
from socialdesk.routing.schemas import (
    AutomationRuleRead,
    AutomationRuleWrite,
    AutomationRunRead,
    AvailabilityBody,
    AvailabilityRead,
    MemberDutyRead,
    MemberDutyUpdate,
    ReorderBody,
    RoutingRuleCreate,
    RoutingRuleRead,
    RoutingRuleWrite,
    RoutingSettingsRead,
    RoutingSettingsUpdate,
)

router = APIRouter(
    tags=["routing"],
    dependencies=[Depends(api_token_scheme)],
    responses=error_responses(401, 422),
)

_ADMIN = error_responses(403)
_ADMIN_ID = error_responses(403, 404)


def _routing_rule(routing_rule_id: RowId, db: DB, actor: RoutingAdmin) -> RoutingRule:
    return routing_service.get_rule(
        db, organization_id=actor.organization_id, rule_id=routing_rule_id
    )


def _automation_rule(automation_rule_id: RowId, db: DB, actor: RoutingAdmin) -> AutomationRule:
    return automation.get_rule(
        db, organization_id=actor.organization_id, rule_id=automation_rule_id
    )


def _member(member_id: RowId, db: DB, actor: RoutingAdmin) -> Member:
    return accounts_service.get_member(
        db, organization_id=actor.organization_id, member_id=member_id
    )


RoutingRuleDep = Annotated[RoutingRule, Depends(_routing_rule)]
AutomationRuleDep = Annotated[AutomationRule, Depends(_automation_rule)]
MemberDep = Annotated[Member, Depends(_member)]


# -- settings -------------------------------------------------------------------------------


@router.get("/admin/routing", summary="The organization's routing settings", responses=_ADMIN)
def get_settings(db: DB, actor: RoutingAdmin) -> RoutingSettingsRead:
    row = routing_service.get_settings(db, organization_id=actor.organization_id)
    return RoutingSettingsRead.model_validate(row)


@router.put(
    "/admin/routing",
    summary="Change the strategy (manual, round_robin, least_loaded) and reassignment",
    responses=_ADMIN,
)
def put_settings(body: RoutingSettingsUpdate, db: DB, actor: RoutingAdmin) -> RoutingSettingsRead:
    row = routing_service.update_settings(
        db,
        organization_id=actor.organization_id,
        strategy=body.strategy,
        reassign_when_away=body.reassign_when_away,
        reassign_after_minutes=body.reassign_after_minutes,
    )
    return RoutingSettingsRead.model_validate(row)


# -- routing rules --------------------------------------------------------------------------


@router.get(
    "/admin/routing/rules", summary="Routing rules, in the order they run", responses=_ADMIN
)
def list_routing_rules(db: DB, actor: RoutingAdmin) -> list[RoutingRuleRead]:
    rules = routing_service.list_rules(db, organization_id=actor.organization_id)
    return [RoutingRuleRead.model_validate(r) for r in rules]


@router.post(
    "/admin/routing/rules",
    status_code=status.HTTP_201_CREATED,
    summary="Add a routing rule (a 422 names the condition or action and its field, "
    "a 404 an unknown team, member or brand account)",
    responses=_ADMIN_ID,
)
def create_routing_rule(body: RoutingRuleCreate, db: DB, actor: RoutingAdmin) -> RoutingRuleRead:
    rule = routing_service.create_rule(
        db,
        organization_id=actor.organization_id,
        name=body.name,
        conditions=body.conditions,
        actions=body.actions,
        enabled=body.enabled,
        stop=body.stop,
        position=body.position,
    )
    return RoutingRuleRead.model_validate(rule)


@router.post(
    "/admin/routing/rules/reorder",
    summary="Set the order of every routing rule at once",
    responses=_ADMIN,
)
def reorder_routing_rules(body: ReorderBody, db: DB, actor: RoutingAdmin) -> list[RoutingRuleRead]:
    rules = routing_service.reorder_rules(
        db, organization_id=actor.organization_id, rule_ids=body.ids
    )
    return [RoutingRuleRead.model_validate(r) for r in rules]


@router.get(
    "/admin/routing/rules/{routing_rule_id}", summary="One routing rule", responses=_ADMIN_ID
)
def get_routing_rule(rule: RoutingRuleDep) -> RoutingRuleRead:
    return RoutingRuleRead.model_validate(rule)


@router.put(
    "/admin/routing/rules/{routing_rule_id}",
    summary="Replace a routing rule's name, conditions, actions and flags",
    responses=_ADMIN_ID,
)
def update_routing_rule(rule: RoutingRuleDep, body: RoutingRuleWrite, db: DB) -> RoutingRuleRead:
    routing_service.update_rule(
        db,
        rule=rule,
        name=body.name,
        conditions=body.conditions,
        actions=body.actions,
        enabled=body.enabled,
        stop=body.stop,
    )
    return RoutingRuleRead.model_validate(rule)


@router.delete(
    "/admin/routing/rules/{routing_rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a routing rule",
    responses=_ADMIN_ID,
)
def delete_routing_rule(rule: RoutingRuleDep, db: DB) -> Response:
    routing_service.delete_rule(db, rule=rule)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- duty -----------------------------------------------------------------------------------


def _duty_read(row: routing_service.DutyRow) -> MemberDutyRead:
    m = row.member
    return MemberDutyRead(
        id=m.id,
        name=m.name,
        availability=m.availability,
        on_duty=row.on_duty,
        why_not=row.why_not,
        load=row.load,
        capacity=m.capacity,
        languages=list(m.languages or []),
        teams=row.teams,
    )


@router.get(
    "/members/on-duty",
    summary="Every active member (of a team, with team_id): on duty now or why not, their "
    "load and capacity",
    responses=error_responses(404),
)
def duty_board(db: DB, actor: Reader, team_id: RowId | None = None) -> list[MemberDutyRead]:
    rows = routing_service.duty_board(db, organization_id=actor.organization_id, team_id=team_id)
    return [_duty_read(r) for r in rows]


@router.put(
    "/members/me/availability",
    summary="Mark yourself available or away (away hands your open work back to routing)",
)
def set_my_availability(body: AvailabilityBody, db: DB, actor: Reader) -> AvailabilityRead:
    member = actor.member
    change = routing_service.set_availability(
        db, member=member, availability=body.availability, actor=member
    )
    return AvailabilityRead(
        member_id=member.id,
        availability=member.availability,
        availability_changed_at=member.availability_changed_at,
        on_duty=duty.is_on_duty(db, member=member),
        reassigned=change.reassigned,
        picked_up=change.picked_up,
    )


@router.put(
    "/admin/routing/members/{member_id}",
    summary="A member's capacity, languages and (optionally) availability",
    responses=_ADMIN_ID,
)
def update_member_duty(
    member: MemberDep, body: MemberDutyUpdate, db: DB, actor: RoutingAdmin
) -> MemberDutyRead:
    routing_service.set_member_duty(
        db, member=member, capacity=body.capacity, languages=body.languages
    )
    if body.availability is not None:
        routing_service.set_availability(
            db, member=member, availability=body.availability, actor=actor.member
        )
    rows = routing_service.duty_board(db, organization_id=actor.organization_id)
    return next(_duty_read(r) for r in rows if r.member.id == member.id)


# -- automation -----------------------------------------------------------------------------


@router.get("/admin/automation", summary="Automation rules", responses=_ADMIN)
def list_automation_rules(db: DB, actor: RoutingAdmin) -> list[AutomationRuleRead]:
    rules = automation.list_rules(db, organization_id=actor.organization_id)
    return [AutomationRuleRead.model_validate(r) for r in rules]


@router.post(
    "/admin/automation",
    status_code=status.HTTP_201_CREATED,
    summary="Add an automation rule (a 422 names the condition or action and its field, "
    "a 404 an unknown team, member or brand account)",
    responses=_ADMIN_ID,
)
def create_automation_rule(
    body: AutomationRuleWrite, db: DB, actor: RoutingAdmin
) -> AutomationRuleRead:
    rule = automation.create_rule(
        db,
        organization_id=actor.organization_id,
        name=body.name,
        trigger=body.trigger,
        delay_minutes=body.delay_minutes,
        conditions=body.conditions,
        actions=body.actions,
        enabled=body.enabled,
    )
    return AutomationRuleRead.model_validate(rule)


@router.get(
    "/admin/automation/{automation_rule_id}",
    summary="One automation rule",
    responses=_ADMIN_ID,
)
def get_automation_rule(rule: AutomationRuleDep) -> AutomationRuleRead:
    return AutomationRuleRead.model_validate(rule)


@router.put(
    "/admin/automation/{automation_rule_id}",
    summary="Replace an automation rule",
    responses=_ADMIN_ID,
)
def update_automation_rule(
    rule: AutomationRuleDep, body: AutomationRuleWrite, db: DB
) -> AutomationRuleRead:
    automation.update_rule(
        db,
        rule=rule,
        name=body.name,
        trigger=body.trigger,
        delay_minutes=body.delay_minutes,
        conditions=body.conditions,
        actions=body.actions,
        enabled=body.enabled,
    )
    return AutomationRuleRead.model_validate(rule)


@router.delete(
    "/admin/automation/{automation_rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an automation rule and its scheduled firings",
    responses=_ADMIN_ID,
)
def delete_automation_rule(rule: AutomationRuleDep, db: DB) -> Response:
    automation.delete_rule(db, rule=rule)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/admin/automation/{automation_rule_id}/runs",
    summary="The rule's latest firings: when, for which conversation, and what happened",
    responses=_ADMIN_ID,
)
def list_automation_runs(rule: AutomationRuleDep, db: DB) -> list[AutomationRunRead]:
    return [AutomationRunRead.model_validate(r) for r in automation.recent_runs(db, rule=rule)]
