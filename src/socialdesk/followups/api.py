"""REST API of the followups domain (mounted under /api): follow-up policies (admins:
routing.manage), a conversation's follow-ups and the customer's opt-out (reading: anyone who
reads conversations; acting: conversations.manage), and the care report.

Thin routes: a conversation id is looked up inside the caller's organization (another
organization's id is a 404), bodies are validated by their schema, a service does the work.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from sqlalchemy.orm import Session

from socialdesk.common import clock, spreadsheet
from socialdesk.common.deps import DB, Manager, Reader, RoutingAdmin
from socialdesk.common.schemas import RowId, api_token_scheme, error_responses
from socialdesk.connectors.base import ChannelKind
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation
from socialdesk.followups import metrics, service
from socialdesk.followups.schemas import (
    BuiltInPolicy,
    CareFiguresRead,
    CareReportRead,
    CareRowRead,
    FollowUpList,
    FollowUpPolicies,
    FollowUpPolicyRead,
    FollowUpPolicyWrite,
    FollowUpRead,
)

router = APIRouter(
    tags=["followups"],
    dependencies=[Depends(api_token_scheme)],
    responses=error_responses(401, 403, 422),
)


# -- policies -----------------------------------------------------------------------------


def _policies(db: Session, organization_id: int) -> FollowUpPolicies:
    builtin = service.BUILTIN
    return FollowUpPolicies(
        items=[
            FollowUpPolicyRead.model_validate(p)
            for p in service.list_policies(db, organization_id=organization_id)
        ],
        built_in=BuiltInPolicy(
            enabled=builtin.enabled,
            delay_minutes=builtin.delay_minutes,
            template=builtin.template,
            survey=builtin.survey.value,
        ),
        placeholders=dict(service.PLACEHOLDERS),
    )


@router.get(
    "/admin/follow-ups",
    summary="Follow-up policies: the organization's, per channel and per brand account",
)
def list_policies(db: DB, actor: RoutingAdmin) -> FollowUpPolicies:
    return _policies(db, actor.organization_id)


@router.put(
    "/admin/follow-ups",
    summary="Set the follow-up policy of the organization, a channel or a brand account",
    responses=error_responses(404),
)
def put_policy(body: FollowUpPolicyWrite, db: DB, actor: RoutingAdmin) -> FollowUpPolicyRead:
    policy = service.save_policy(
        db,
        organization_id=actor.organization_id,
        actor=actor.member,
        brand_account_id=body.brand_account_id,
        channel=body.channel.value if body.channel else None,
        enabled=body.enabled,
        delay_minutes=body.delay_minutes,
        template=body.template,
        survey=body.survey,
    )
    return FollowUpPolicyRead.model_validate(policy)


@router.delete(
    "/admin/follow-ups",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a scope's policy (the next less specific one applies again)",
    responses=error_responses(404),
)
def delete_policy(
    db: DB,
    actor: RoutingAdmin,
    brand_account_id: Annotated[
        RowId | None, Query(description="The brand account's policy")
    ] = None,
    channel: Annotated[ChannelKind | None, Query(description="The channel's policy")] = None,
) -> Response:
    service.delete_policy(
        db,
        organization_id=actor.organization_id,
        actor=actor.member,
        brand_account_id=brand_account_id,
        channel=channel.value if channel else None,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- a conversation's follow-ups ----------------------------------------------------------


def _conversation(conversation_id: RowId, db: DB, actor: Reader) -> Conversation:
    return conversations_service.get_or_raise(
        db, organization_id=actor.organization_id, conversation_id=conversation_id
    )


ConversationDep = Annotated[Conversation, Depends(_conversation)]


def _listing(db: Session, conversation: Conversation) -> FollowUpList:
    return FollowUpList(
        items=[
            FollowUpRead.model_validate(f)
            for f in service.for_conversation(db, conversation_id=conversation.id)
        ],
        opted_out=service.opted_out(db, conversation=conversation) is not None,
    )


@router.get(
    "/conversations/{conversation_id}/follow-ups",
    summary="A conversation's follow-ups (newest first) and whether the customer opted out",
    responses=error_responses(404),
)
def list_follow_ups(conversation: ConversationDep, db: DB, actor: Reader) -> FollowUpList:
    return _listing(db, conversation)


@router.post(
    "/conversations/{conversation_id}/follow-ups/send-now",
    summary="Send the scheduled follow-up now (the same checks as when it is due)",
    responses=error_responses(404, 409),
)
def send_now(conversation: ConversationDep, db: DB, actor: Manager) -> FollowUpRead:
    follow_up = service.waiting_for(db, conversation=conversation)
    return FollowUpRead.model_validate(
        service.send_now(db, follow_up=follow_up, actor=actor.member)
    )


@router.post(
    "/conversations/{conversation_id}/follow-ups/cancel",
    summary="Cancel the scheduled follow-up",
    responses=error_responses(404, 409),
)
def cancel(conversation: ConversationDep, db: DB, actor: Manager) -> FollowUpRead:
    follow_up = service.waiting_for(db, conversation=conversation)
    return FollowUpRead.model_validate(service.cancel(db, follow_up=follow_up, actor=actor.member))


@router.post(
    "/conversations/{conversation_id}/follow-ups/opt-out",
    summary="The customer asked not to be contacted unprompted: no follow-ups or surveys",
    responses=error_responses(404),
)
def opt_out(conversation: ConversationDep, db: DB, actor: Manager) -> FollowUpList:
    service.set_opt_out(db, conversation=conversation, opted_out=True, actor=actor.member)
    return _listing(db, conversation)


@router.delete(
    "/conversations/{conversation_id}/follow-ups/opt-out",
    summary="The customer agreed to follow-ups again",
    responses=error_responses(404),
)
def opt_in(conversation: ConversationDep, db: DB, actor: Manager) -> FollowUpList:
    service.set_opt_out(db, conversation=conversation, opted_out=False, actor=actor.member)
    return _listing(db, conversation)


# -- the care report ----------------------------------------------------------------------

StartDay = Annotated[
    date | None, Query(description="First day, in your time zone (default: 29 days before end)")
]
EndDay = Annotated[date | None, Query(description="Last day, included (default: today)")]


def figures_out(figures: metrics.CareFigures) -> CareFiguresRead:
    return CareFiguresRead.model_validate(figures.as_dict())


def row_out(row: metrics.CareRow) -> CareRowRead:
    return CareRowRead(id=row.id, name=row.name, figures=figures_out(row.figures))


def report_out(report: metrics.CareReport) -> CareReportRead:
    return CareReportRead(
        start=report.start,
        end=report.end,
        timezone=report.timezone,
        total=figures_out(report.total),
        teams=[
            CareRowRead(id=r.id, name=r.name, figures=figures_out(r.figures)) for r in report.teams
        ],
        members=[
            CareRowRead(id=r.id, name=r.name, figures=figures_out(r.figures))
            for r in report.members
        ],
    )


def build_report(
    db: Session, organization_id: int, start: date | None, end: date | None
) -> metrics.CareReport:
    first, last = metrics.resolve_range(db, organization_id=organization_id, start=start, end=end)
    return metrics.care_report(db, organization_id=organization_id, start=first, end=last)


@router.get(
    "/reports/care",
    summary="Promises kept, overdue commitments, follow-up and answer rates, satisfaction",
)
def care_report(
    db: DB, actor: Reader, start: StartDay = None, end: EndDay = None
) -> CareReportRead:
    return report_out(build_report(db, actor.organization_id, start, end))


@router.get(
    "/reports/care.csv",
    summary="The care report as CSV: the organization, each team, each member",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def care_report_csv(db: DB, actor: Reader, start: StartDay = None, end: EndDay = None) -> Response:
    return csv_response(build_report(db, actor.organization_id, start, end))


def csv_response(report: metrics.CareReport) -> Response:
    stamp = clock.now().strftime("%Y%m%d")
    name = f"care-{report.start.isoformat()}-{report.end.isoformat()}-{stamp}.csv"
    return spreadsheet.download(metrics.to_csv(report), name)
