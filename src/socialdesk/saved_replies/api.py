"""REST API of the saved replies domain (mounted under /api).

Everyone who may reply lists saved replies and fills one in for a conversation; those who keep
the desk's settings (``routing.manage``) write them. An id in the path is loaded scoped to the
caller's organization: another organization's id is a 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from sqlalchemy.orm import Session

from socialdesk.common.deps import DB, Replier, RoutingAdmin
from socialdesk.common.schemas import RowId, api_token_scheme, error_responses
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation
from socialdesk.saved_replies import service
from socialdesk.saved_replies.models import SavedReply
from socialdesk.saved_replies.schemas import (
    ConductRead,
    FilledReply,
    SavedReplyRead,
    SavedReplyWrite,
)

router = APIRouter(
    tags=["saved replies"],
    dependencies=[Depends(api_token_scheme)],
    responses=error_responses(401, 422),
)

_ID = error_responses(403, 404)


def _draft(body: SavedReplyWrite) -> service.Draft:
    return service.Draft(
        shortcut=body.shortcut, title=body.title, text=body.text, team_id=body.team_id
    )


def _read(db: Session, replies: list[SavedReply]) -> list[SavedReplyRead]:
    """The replies as the API shows them, each with what the code of conduct makes of it."""
    if not replies:
        return []
    judged = service.conduct(db, organization_id=replies[0].organization_id, replies=replies)
    out = []
    for reply in replies:
        read = SavedReplyRead.model_validate(reply)
        decision = judged.get(reply.id)
        if decision is not None:
            read.conduct = ConductRead(
                decision=str(decision.outcome), reasons=service.reasons(decision)
            )
        out.append(read)
    return out


def _reply(reply_id: RowId, db: DB, actor: Replier) -> SavedReply:
    return service.get(db, organization_id=actor.organization_id, reply_id=reply_id)


def _managed(reply_id: RowId, db: DB, actor: RoutingAdmin) -> SavedReply:
    return service.get(db, organization_id=actor.organization_id, reply_id=reply_id)


ReplyDep = Annotated[SavedReply, Depends(_reply)]


def _pair(
    conversation_id: RowId, reply_id: RowId, db: DB, actor: Replier
) -> tuple[Conversation, SavedReply]:
    """Both ids of the path in one dependency: a malformed one is a 422 before anything is
    looked up, and the conversation is looked up first."""
    conversation = conversations_service.get_or_raise(
        db, organization_id=actor.organization_id, conversation_id=conversation_id
    )
    return conversation, service.get(db, organization_id=actor.organization_id, reply_id=reply_id)


PairDep = Annotated[tuple[Conversation, SavedReply], Depends(_pair)]
ManagedDep = Annotated[SavedReply, Depends(_managed)]


@router.get("/saved-replies", summary="Saved replies", responses=error_responses(403, 404))
def list_saved_replies(
    db: DB,
    actor: Replier,
    q: Annotated[
        str,
        Query(max_length=200, description="Words the shortcut, title or text must all hold"),
    ] = "",
    conversation_id: Annotated[
        RowId | None,
        Query(
            description="Only those the reply box offers the caller in this conversation: "
            "everyone's, the caller's teams' and the conversation's team's"
        ),
    ] = None,
) -> list[SavedReplyRead]:
    only = None
    if conversation_id is not None:
        conversation = conversations_service.get_or_raise(
            db, organization_id=actor.organization_id, conversation_id=conversation_id
        )
        only = service.at_hand(member=actor.member, conversation=conversation)
    return _read(db, service.search(db, organization_id=actor.organization_id, query=q, only=only))


@router.post(
    "/saved-replies",
    status_code=status.HTTP_201_CREATED,
    summary="Add a saved reply (a 422 names the field that is wrong; 409: shortcut taken)",
    responses=error_responses(403, 409),
)
def create_saved_reply(body: SavedReplyWrite, db: DB, actor: RoutingAdmin) -> SavedReplyRead:
    reply = service.create(
        db, organization_id=actor.organization_id, draft=_draft(body), actor=actor.member
    )
    return _read(db, [reply])[0]


@router.get("/saved-replies/{reply_id}", summary="One saved reply", responses=_ID)
def get_saved_reply(reply: ReplyDep, db: DB) -> SavedReplyRead:
    return _read(db, [reply])[0]


@router.put(
    "/saved-replies/{reply_id}",
    summary="Replace a saved reply",
    responses=error_responses(403, 404, 409),
)
def update_saved_reply(
    reply: ManagedDep, body: SavedReplyWrite, db: DB, actor: RoutingAdmin
) -> SavedReplyRead:
    service.update(db, reply=reply, draft=_draft(body), actor=actor.member)
    return _read(db, [reply])[0]


@router.delete(
    "/saved-replies/{reply_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a saved reply",
    responses=_ID,
)
def delete_saved_reply(reply: ManagedDep, db: DB, actor: RoutingAdmin) -> Response:
    service.delete(db, reply=reply)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/conversations/{conversation_id}/saved-replies/{reply_id}",
    summary="A saved reply filled in for a conversation, to edit and send as a reply",
    responses=_ID,
)
def fill_saved_reply(pair: PairDep, db: DB, actor: Replier) -> FilledReply:
    conversation, reply = pair
    text = service.fill_in(db, reply=reply, conversation=conversation, agent=actor.member)
    return FilledReply(saved_reply_id=reply.id, conversation_id=conversation.id, text=text)
