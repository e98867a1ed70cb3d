"""REST API of the sla domain (mounted under /api): business hours and SLA policies (admins:
routing.manage), a conversation's clocks and the SLA report (anyone who reads conversations).

Thin routes: ids are looked up inside the caller's organization (another organization's id is
a 404), the body is validated by its schema, a service does the work. A change to policies or
business hours enqueues a resync, so running clocks follow it at once.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from socialdesk.common.deps import DB, Reader, RoutingAdmin
from socialdesk.common.schemas import RowId, api_token_scheme, error_responses
from socialdesk.conversations import service as conversations_service
from socialdesk.schedules import service as schedules_service
from socialdesk.schedules.models import BusinessHours
from socialdesk.schedules.schemas import (
    BusinessHoursCreate,
    BusinessHoursList,
    BusinessHoursRead,
    BusinessHoursUpdate,
)
from socialdesk.sla import jobs as sla_jobs
from socialdesk.sla import reports, tracking
from socialdesk.sla import service as sla_service
from socialdesk.sla.models import SlaPolicy
from socialdesk.sla.schemas import (
    ConversationSlaRead,
    SlaClockRead,
    SlaPolicyCreate,
    SlaPolicyList,
    SlaPolicyOrder,
    SlaPolicyRead,
    SlaPolicyUpdate,
    SlaReportOut,
    SlaReportRowOut,
)

router = APIRouter(
    tags=["sla"],
    dependencies=[Depends(api_token_scheme)],
    responses=error_responses(401, 403, 422),
)


# -- lookups, inside the caller's organization (a foreign id is a 404 before the body is read)


def _business_hours(business_hours_id: RowId, db: DB, actor: RoutingAdmin) -> BusinessHours:
    return schedules_service.get_or_raise(
        db, organization_id=actor.organization_id, business_hours_id=business_hours_id
    )


def _policy(sla_policy_id: RowId, db: DB, actor: RoutingAdmin) -> SlaPolicy:
    return sla_service.get_or_raise(
        db, organization_id=actor.organization_id, policy_id=sla_policy_id
    )


HoursInPath = Annotated[BusinessHours, Depends(_business_hours)]
PolicyInPath = Annotated[SlaPolicy, Depends(_policy)]


# -- business hours -------------------------------------------------------------------------


@router.get("/admin/business-hours", summary="Your organization's business hours")
def list_business_hours(db: DB, actor: RoutingAdmin) -> BusinessHoursList:
    rows = schedules_service.list_hours(db, organization_id=actor.organization_id)
    return BusinessHoursList(items=[BusinessHoursRead.model_validate(r) for r in rows])


@router.post(
    "/admin/business-hours",
    status_code=status.HTTP_201_CREATED,
    summary="Create business hours (weekly intervals in a time zone, holidays)",
    responses=error_responses(409),
)
def create_business_hours(
    body: BusinessHoursCreate, db: DB, actor: RoutingAdmin
) -> BusinessHoursRead:
    row = schedules_service.create(
        db,
        organization_id=actor.organization_id,
        name=body.name,
        timezone=body.timezone,
        intervals=body.intervals,
        holidays=body.holidays,
    )
    return BusinessHoursRead.model_validate(row)


@router.get(
    "/admin/business-hours/{business_hours_id}",
    summary="One schedule of business hours",
    responses=error_responses(404),
)
def get_business_hours(row: HoursInPath, actor: RoutingAdmin) -> BusinessHoursRead:
    return BusinessHoursRead.model_validate(row)


@router.patch(
    "/admin/business-hours/{business_hours_id}",
    summary="Change business hours (running SLA clocks follow)",
    responses=error_responses(404, 409),
)
def update_business_hours(
    row: HoursInPath, body: BusinessHoursUpdate, db: DB, actor: RoutingAdmin
) -> BusinessHoursRead:
    schedules_service.update(
        db,
        hours=row,
        name=body.name,
        timezone=body.timezone,
        intervals=body.intervals,
        holidays=body.holidays,
    )
    sla_jobs.enqueue_resync(db, organization_id=actor.organization_id)
    return BusinessHoursRead.model_validate(row)


@router.delete(
    "/admin/business-hours/{business_hours_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete business hours that no team or policy uses",
    responses=error_responses(404, 409),
)
def delete_business_hours(row: HoursInPath, db: DB, actor: RoutingAdmin) -> Response:
    schedules_service.delete(db, hours=row)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- policies ---------------------------------------------------------------------------------


def _policies(db: DB, organization_id: int) -> SlaPolicyList:
    rows = sla_service.list_policies(db, organization_id=organization_id)
    return SlaPolicyList(items=[SlaPolicyRead.model_validate(p) for p in rows])


@router.get("/admin/sla/policies", summary="SLA policies, in the order they are tried")
def list_policies(db: DB, actor: RoutingAdmin) -> SlaPolicyList:
    return _policies(db, actor.organization_id)


@router.post(
    "/admin/sla/policies",
    status_code=status.HTTP_201_CREATED,
    summary="Create an SLA policy (last in the order unless a position is given)",
    responses=error_responses(404, 409),
)
def create_policy(body: SlaPolicyCreate, db: DB, actor: RoutingAdmin) -> SlaPolicyRead:
    made = sla_service.create(db, organization_id=actor.organization_id, data=body)
    sla_jobs.enqueue_resync(db, organization_id=actor.organization_id)
    return SlaPolicyRead.model_validate(made)


@router.put(
    "/admin/sla/policies/order",
    summary="Set the order policies are tried in (every id once)",
)
def order_policies(body: SlaPolicyOrder, db: DB, actor: RoutingAdmin) -> SlaPolicyList:
    sla_service.reorder(db, organization_id=actor.organization_id, ids=body.ids)
    sla_jobs.enqueue_resync(db, organization_id=actor.organization_id)
    return _policies(db, actor.organization_id)


@router.get(
    "/admin/sla/policies/{sla_policy_id}",
    summary="One SLA policy",
    responses=error_responses(404),
)
def get_policy(found: PolicyInPath, actor: RoutingAdmin) -> SlaPolicyRead:
    return SlaPolicyRead.model_validate(found)


@router.patch(
    "/admin/sla/policies/{sla_policy_id}",
    summary="Change an SLA policy (running clocks follow)",
    responses=error_responses(404, 409),
)
def update_policy(
    found: PolicyInPath, body: SlaPolicyUpdate, db: DB, actor: RoutingAdmin
) -> SlaPolicyRead:
    sla_service.update_policy(db, policy=found, data=body)
    sla_jobs.enqueue_resync(db, organization_id=actor.organization_id)
    return SlaPolicyRead.model_validate(found)


@router.delete(
    "/admin/sla/policies/{sla_policy_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an SLA policy that never measured a clock (disable it otherwise)",
    responses=error_responses(404, 409),
)
def delete_policy(found: PolicyInPath, db: DB, actor: RoutingAdmin) -> Response:
    sla_service.delete(db, policy=found)
    sla_jobs.enqueue_resync(db, organization_id=actor.organization_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- clocks and reports ------------------------------------------------------------------------


@router.get(
    "/conversations/{conversation_id}/sla",
    summary="A conversation's SLA: its policy, due time and every clock (running and past)",
    responses=error_responses(404),
)
def conversation_sla(conversation_id: RowId, db: DB, actor: Reader) -> ConversationSlaRead:
    conversation = conversations_service.get_or_raise(
        db, organization_id=actor.organization_id, conversation_id=conversation_id
    )
    rows = tracking.clocks_of(db, conversation_id=conversation.id)
    return ConversationSlaRead(
        policy_id=conversation.sla_policy_id,
        due_at=conversation.sla_due_at,
        breached=conversation.sla_breached,
        clocks=[SlaClockRead.model_validate(r) for r in rows],
    )


def row_out(row: reports.Row) -> SlaReportRowOut:
    return SlaReportRowOut(
        value=row.value,
        key=row.key,
        conversations=row.conversations,
        within=row.within,
        breached=row.breached,
        in_progress=row.in_progress,
        within_share=row.within_share,
        first_response_count=row.first_response.count,
        first_response_median_seconds=row.first_response.median,
        first_response_p90_seconds=row.first_response.p90,
        resolution_count=row.resolution.count,
        resolution_median_seconds=row.resolution.median,
        resolution_p90_seconds=row.resolution.p90,
    )


StartDay = Annotated[
    date | None, Query(description="First day, in your time zone (default: 30 days before end)")
]
EndDay = Annotated[date | None, Query(description="Last day, included (default: today)")]


@router.get(
    "/reports/sla",
    summary="Share within SLA and response/resolution times per team, member, channel, priority",
)
def sla_report(db: DB, actor: Reader, start: StartDay = None, end: EndDay = None) -> SlaReportOut:
    first, last = reports.resolve_range(
        db, organization_id=actor.organization_id, start=start, end=end
    )
    found = reports.sla_report(db, organization_id=actor.organization_id, start=first, end=last)
    return SlaReportOut(
        start=found.start.isoformat(),
        end=found.end.isoformat(),
        timezone=found.timezone,
        total=row_out(found.total),
        team=[row_out(r) for r in found.by["team"]],
        member=[row_out(r) for r in found.by["member"]],
        channel=[row_out(r) for r in found.by["channel"]],
        priority=[row_out(r) for r in found.by["priority"]],
    )
