"""REST API of the commitments domain (thin: validate, call the service, map errors).

Reading needs ``conversations.read``; adding a promise is like writing a note
(``conversations.note``); changing or closing one is managing the conversation
(``conversations.manage``). Every id is looked up in the caller's organization first, so
another organization's id is a 404.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from http import HTTPStatus
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from socialdesk.commitments import service
from socialdesk.commitments.models import Commitment, CommitmentStatus
from socialdesk.commitments.schemas import (
    CommitmentClose,
    CommitmentCreate,
    CommitmentPage,
    CommitmentRead,
    CommitmentUpdate,
    DetectedPromiseRead,
    PromisePreviewBody,
    PromiseSettingsBody,
    PromiseSettingsRead,
)
from socialdesk.common import clock
from socialdesk.common.deps import DB, Manager, NoteTaker, PageCursor, Reader, RoutingAdmin
from socialdesk.common.errors import ValidationFailed
from socialdesk.common.pagination import MAX_ROW_ID
from socialdesk.common.schemas import (
    Limit,
    RowId,
    api_token_scheme,
    error_responses,
)
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation

router = APIRouter(
    tags=["commitments"],
    dependencies=[Depends(api_token_scheme)],
    responses=error_responses(401, 422),
)


def _commitment(commitment_id: RowId, db: DB, actor: Reader) -> Commitment:
    return service.get_or_raise(
        db, organization_id=actor.organization_id, commitment_id=commitment_id
    )


def _conversation(conversation_id: RowId, db: DB, actor: Reader) -> Conversation:
    return conversations_service.get_or_raise(
        db, organization_id=actor.organization_id, conversation_id=conversation_id
    )


CommitmentDep = Annotated[Commitment, Depends(_commitment)]
ConversationDep = Annotated[Conversation, Depends(_conversation)]


def read_all(db: DB, commitments: Sequence[Commitment]) -> list[CommitmentRead]:
    """The commitments as the API shows them (one query for their replies' delivery)."""
    failed = service.undelivered(db, commitments)
    return [read(c, undelivered=failed.get(c.id)) for c in commitments]


def read_one(db: DB, commitment: Commitment) -> CommitmentRead:
    return read_all(db, [commitment])[0]


def read(commitment: Commitment, *, undelivered: str | None = None) -> CommitmentRead:
    return CommitmentRead(
        id=commitment.id,
        conversation_id=commitment.conversation_id,
        message_id=commitment.message_id,
        escalation_request_id=commitment.escalation_request_id,
        owner_id=commitment.owner_id,
        team_id=commitment.team_id,
        created_by_id=commitment.created_by_id,
        text=commitment.text,
        source=commitment.source,
        due_at=commitment.due_at,
        due_is_default=commitment.due_is_default,
        remind_at=commitment.remind_at,
        reminded_at=commitment.reminded_at,
        overdue_notified_at=commitment.overdue_notified_at,
        status=commitment.status,
        overdue=service.is_overdue(commitment),
        evidence=commitment.evidence,
        created_at=commitment.created_at,
        closed_at=commitment.closed_at,
        closed_by_id=commitment.closed_by_id,
        reply_undelivered=undelivered,
    )


StatusFilter = Literal["open", "kept", "broken", "cancelled", "closed", "all"]


@router.get(
    "/commitments",
    summary="Commitments by due time (overdue first among open ones), filtered",
)
def list_commitments(
    *,
    db: DB,
    actor: Reader,
    owner: Annotated[
        str | None, Query(description="me, or a member id; leave out for everyone's")
    ] = None,
    team_id: RowId | None = None,
    status: StatusFilter = "open",
    overdue: Annotated[
        bool | None, Query(description="true: only overdue; false: none of them")
    ] = None,
    conversation_id: RowId | None = None,
    cursor: PageCursor,
    limit: Limit = 50,
) -> CommitmentPage:
    owner_id: int | None = None
    if owner is not None:
        word = owner.strip().lower()
        if word == "me":
            owner_id = actor.member.id
        elif word.isascii() and word.isdigit() and 0 < int(word) <= MAX_ROW_ID:
            owner_id = int(word)
        else:
            raise ValidationFailed(f"owner must be me or a member id, not {owner!r}", field="owner")
    result = service.page(
        db,
        organization_id=actor.organization_id,
        flt=service.CommitmentFilter(
            owner_id=owner_id,
            team_id=team_id,
            conversation_id=conversation_id,
            status=status,
            overdue=overdue,
        ),
        cursor=cursor.value,
        limit=limit,
    )
    return CommitmentPage(
        items=read_all(db, result.items), next_cursor=cursor.next(result.next_cursor)
    )


@router.get(
    "/conversations/{conversation_id}/commitments",
    summary="A conversation's commitments: open ones by due time, then closed ones",
    responses=error_responses(404),
)
def conversation_commitments(conversation: ConversationDep, db: DB) -> list[CommitmentRead]:
    return read_all(db, service.for_conversation(db, conversation_id=conversation.id))


@router.post(
    "/conversations/{conversation_id}/promises/preview",
    summary="The promises a draft would make if sent now, each with its due time",
    responses=error_responses(403, 404),
)
def preview_promises(
    body: PromisePreviewBody, conversation: ConversationDep, db: DB, actor: NoteTaker
) -> list[DetectedPromiseRead]:
    """Nothing is stored. Send a promise's ``key`` back in the reply's or note's ``promises``
    with ``keep: false`` to drop it, or with ``text`` or ``due_at`` to change it."""
    return [
        DetectedPromiseRead.model_validate(p)
        for p in service.detect(db, conversation=conversation, text=body.text)
    ]


@router.post(
    "/conversations/{conversation_id}/commitments",
    status_code=HTTPStatus.CREATED,
    summary="Add a promise by hand",
    responses=error_responses(403, 404),
)
def create_commitment(
    body: CommitmentCreate, conversation: ConversationDep, db: DB, actor: NoteTaker
) -> CommitmentRead:
    commitment = service.create(
        db,
        conversation=conversation,
        actor=actor.member,
        text=body.text,
        due_at=body.due_at.astimezone(UTC) if body.due_at else None,
        due_text=body.due_text,
        owner_id=body.owner_id,
        team_id=body.team_id,
        escalation_request_id=body.escalation_request_id,
    )
    return read_one(db, commitment)


@router.get(
    "/commitments/{commitment_id}", summary="One commitment", responses=error_responses(404)
)
def get_commitment(commitment: CommitmentDep, db: DB) -> CommitmentRead:
    return read_one(db, commitment)


@router.patch(
    "/commitments/{commitment_id}",
    summary="Change an open commitment's text, due time, owner or team",
    responses=error_responses(403, 404, 409),
)
def update_commitment(
    body: CommitmentUpdate, commitment: CommitmentDep, db: DB, actor: Manager
) -> CommitmentRead:
    service.update(
        db,
        commitment=commitment,
        actor=actor.member,
        text=body.text,
        due_at=body.due_at.astimezone(UTC) if body.due_at else None,
        due_text=body.due_text,
        owner_id=body.owner_id,
        team_id=body.team_id if "team_id" in body.model_fields_set else service.UNSET,
    )
    return read_one(db, commitment)


@router.post(
    "/commitments/{commitment_id}/close",
    summary="Close as kept, broken or cancelled, with a note of evidence",
    responses=error_responses(403, 404, 409),
)
def close_commitment(
    body: CommitmentClose, commitment: CommitmentDep, db: DB, actor: Manager
) -> CommitmentRead:
    service.close(
        db,
        commitment=commitment,
        actor=actor.member,
        status=CommitmentStatus(body.status),
        evidence=body.evidence,
        now=clock.now(),
    )
    return read_one(db, commitment)


# -- the organization's settings ----------------------------------------------------------


@router.get(
    "/admin/promises",
    summary="How promises are timed: the default due time and the reminder lead",
    responses=error_responses(403),
)
def get_promise_settings(db: DB, actor: RoutingAdmin) -> PromiseSettingsRead:
    found = service.promise_settings(db, organization_id=actor.organization_id)
    return PromiseSettingsRead.model_validate(found)


@router.put(
    "/admin/promises",
    summary="Set how promises made from now on are timed",
    responses=error_responses(403),
)
def put_promise_settings(
    body: PromiseSettingsBody, db: DB, actor: RoutingAdmin
) -> PromiseSettingsRead:
    saved = service.save_promise_settings(
        db,
        organization_id=actor.organization_id,
        actor=actor.member,
        default_hours=body.default_hours,
        reminder_minutes=body.reminder_minutes,
    )
    return PromiseSettingsRead.model_validate(saved)
