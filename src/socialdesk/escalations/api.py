"""REST API of the escalations domain (mounted under /api): asking another department or
person for something on a conversation, and the lists of requests for me and my teams.

Thin routes: ids are loaded by dependencies scoped to the caller's organization (another
organization's id is a 404), bodies are validated by their schemas, the service does the work.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Team
from socialdesk.accounts.schemas import MemberSummary, TeamSummary
from socialdesk.common import clock
from socialdesk.common.deps import DB, NoteTaker, PageCursor, Reader
from socialdesk.common.schemas import Limit, RowId, api_token_scheme, error_responses
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation
from socialdesk.escalations import service as escalations_service
from socialdesk.escalations.models import EscalationRequest
from socialdesk.escalations.schemas import (
    EscalationCancel,
    EscalationCreate,
    EscalationDone,
    EscalationPage,
    EscalationRead,
)

router = APIRouter(
    tags=["escalations"],
    dependencies=[Depends(api_token_scheme)],
    responses=error_responses(401, 422),
)


def _conversation(conversation_id: RowId, db: DB, actor: Reader) -> Conversation:
    return conversations_service.get_or_raise(
        db, organization_id=actor.organization_id, conversation_id=conversation_id
    )


def _request(escalation_id: RowId, db: DB, actor: Reader) -> EscalationRequest:
    return escalations_service.get_or_raise(
        db, organization_id=actor.organization_id, request_id=escalation_id
    )


ConversationDep = Annotated[Conversation, Depends(_conversation)]
RequestDep = Annotated[EscalationRequest, Depends(_request)]


def reads(db: Session, rows: Iterable[EscalationRequest]) -> list[EscalationRead]:
    """API shapes for ``rows``, with the people and teams they name read in two queries."""
    rows = list(rows)
    member_ids = {
        i for r in rows for i in (r.member_id, r.requested_by_id, r.closed_by_id) if i is not None
    }
    team_ids = {r.team_id for r in rows if r.team_id is not None}
    members = (
        {m.id: m for m in db.scalars(select(Member).where(Member.id.in_(member_ids)))}
        if member_ids
        else {}
    )
    teams = (
        {t.id: t for t in db.scalars(select(Team).where(Team.id.in_(team_ids)))} if team_ids else {}
    )
    now = clock.now()

    def person(member_id: int | None) -> MemberSummary | None:
        if member_id is None or member_id not in members:
            return None
        return MemberSummary.model_validate(members[member_id])

    out = []
    for r in rows:
        requester = person(r.requested_by_id)
        assert requester is not None
        out.append(
            EscalationRead(
                id=r.id,
                conversation_id=r.conversation_id,
                status=r.status,
                text=r.text,
                team=TeamSummary.model_validate(teams[r.team_id]) if r.team_id in teams else None,
                member=person(r.member_id),
                requested_by=requester,
                due_at=r.due_at,
                overdue=escalations_service.is_overdue(r, now=now),
                created_at=r.created_at,
                closed_at=r.closed_at,
                closed_by=person(r.closed_by_id),
                resolution=r.resolution,
            )
        )
    return out


@router.get(
    "/conversations/{conversation_id}/escalations",
    summary="The conversation's escalation requests, oldest first",
    responses=error_responses(404),
)
def list_for_conversation(conversation: ConversationDep, db: DB) -> list[EscalationRead]:
    return reads(db, escalations_service.for_conversation(db, conversation=conversation))


@router.post(
    "/conversations/{conversation_id}/escalations",
    status_code=HTTPStatus.CREATED,
    summary="Ask another team or person for something; the conversation keeps its owner",
    responses=error_responses(403, 404),
)
def create_escalation(
    body: EscalationCreate, conversation: ConversationDep, db: DB, actor: NoteTaker
) -> EscalationRead:
    request = escalations_service.create(
        db,
        conversation=conversation,
        requested_by=actor.member,
        text=body.text,
        team_id=body.team_id,
        member_id=body.member_id,
        due_at=body.due_at,
    )
    return reads(db, [request])[0]


@router.get(
    "/escalations",
    summary="Requests asked of me, of my teams, or by me; newest first",
)
def list_escalations(
    db: DB,
    actor: Reader,
    *,
    scope: Annotated[
        Literal["me", "teams", "asked"],
        Query(description="me: asked of me; teams: asked of my teams; asked: asked by me"),
    ] = "me",
    status: Literal["open", "done", "cancelled", "all"] = "open",
    cursor: PageCursor,
    limit: Limit = 50,
) -> EscalationPage:
    found = escalations_service.page(
        db,
        member=actor.member,
        scope=escalations_service.Scope(scope),
        status=status,
        cursor=cursor.value,
        limit=limit,
    )
    return EscalationPage(items=reads(db, found.items), next_cursor=cursor.next(found.next_cursor))


@router.get(
    "/escalations/{escalation_id}",
    summary="One escalation request",
    responses=error_responses(404),
)
def get_escalation(request: RequestDep, db: DB) -> EscalationRead:
    return reads(db, [request])[0]


@router.post(
    "/escalations/{escalation_id}/done",
    summary="Mark a request done, saying what was done; the requester and owner are told",
    responses=error_responses(403, 404, 409),
)
def mark_done(
    body: EscalationDone, request: RequestDep, db: DB, actor: NoteTaker
) -> EscalationRead:
    escalations_service.mark_done(
        db, request=request, actor=actor.member, resolution=body.resolution
    )
    return reads(db, [request])[0]


@router.post(
    "/escalations/{escalation_id}/cancel",
    summary="Withdraw a request; whoever was asked is told",
    responses=error_responses(403, 404, 409),
)
def cancel(
    request: RequestDep, db: DB, actor: NoteTaker, body: EscalationCancel | None = None
) -> EscalationRead:
    escalations_service.cancel(
        db, request=request, actor=actor.member, reason=body.reason if body else None
    )
    return reads(db, [request])[0]
