"""REST API of the alerts domain (mounted under /api): volume alerts, for admins.

Thin routes: an id in the path is loaded by a dependency scoped to the caller's organization
(another organization's id is a 404 before the body is read), the service does the work.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from socialdesk.alerts import service
from socialdesk.alerts.models import VolumeAlert
from socialdesk.alerts.schemas import AlertFiringRead, AlertRead, AlertWrite
from socialdesk.common.deps import DB, RoutingAdmin
from socialdesk.common.schemas import RowId, api_token_scheme, error_responses

router = APIRouter(
    tags=["alerts"],
    dependencies=[Depends(api_token_scheme)],
    responses=error_responses(401, 422),
)

_ADMIN = error_responses(403)
_ADMIN_ID = error_responses(403, 404)


def _alert(alert_id: RowId, db: DB, actor: RoutingAdmin) -> VolumeAlert:
    return service.get(db, organization_id=actor.organization_id, alert_id=alert_id)


AlertDep = Annotated[VolumeAlert, Depends(_alert)]


def _spec(body: AlertWrite) -> service.AlertSpec:
    return service.AlertSpec(
        name=body.name,
        enabled=body.enabled,
        filters=body.filters.model_dump(exclude_none=True),
        window_minutes=body.window_minutes,
        threshold=body.threshold,
        baseline_factor=body.baseline_factor,
        notify_to=body.notify_to,
        team_id=body.team_id,
        member_id=body.member_id,
        webhook=body.webhook,
    )


@router.get("/admin/alerts", summary="Volume alerts", responses=_ADMIN)
def list_alerts(db: DB, actor: RoutingAdmin) -> list[AlertRead]:
    alerts = service.list_alerts(db, organization_id=actor.organization_id)
    return [AlertRead.model_validate(a) for a in alerts]


@router.post(
    "/admin/alerts",
    status_code=status.HTTP_201_CREATED,
    summary="Add a volume alert (a 422 names the field that is wrong)",
    responses=_ADMIN,
)
def create_alert(body: AlertWrite, db: DB, actor: RoutingAdmin) -> AlertRead:
    alert = service.create(
        db, organization_id=actor.organization_id, spec=_spec(body), actor=actor.member
    )
    return AlertRead.model_validate(alert)


@router.get("/admin/alerts/{alert_id}", summary="One volume alert", responses=_ADMIN_ID)
def get_alert(alert: AlertDep) -> AlertRead:
    return AlertRead.model_validate(alert)


@router.put("/admin/alerts/{alert_id}", summary="Replace a volume alert", responses=_ADMIN_ID)
def update_alert(alert: AlertDep, body: AlertWrite, db: DB, actor: RoutingAdmin) -> AlertRead:
    service.update(db, alert=alert, spec=_spec(body), actor=actor.member)
    return AlertRead.model_validate(alert)


@router.delete(
    "/admin/alerts/{alert_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a volume alert and its firings",
    responses=_ADMIN_ID,
)
def delete_alert(alert: AlertDep, db: DB, actor: RoutingAdmin) -> Response:
    service.delete(db, alert=alert, actor=actor.member)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/admin/alerts/{alert_id}/firings",
    summary="The alert's latest firings: when, how many, and who was told",
    responses=_ADMIN_ID,
)
def list_firings(alert: AlertDep, db: DB) -> list[AlertFiringRead]:
    return [AlertFiringRead.model_validate(f) for f in service.firings(db, alert=alert)]
