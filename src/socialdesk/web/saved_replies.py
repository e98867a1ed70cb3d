"""Desk pages of saved replies: the settings page that keeps them (/admin/saved-replies, for
those with ``routing.manage``) and the reply box's list, from which anyone who may reply puts
one, filled in for the conversation, into the box.

Thin: forms are read into a ``Draft``, the service checks and stores it; a refusal is shown
beside the form with what was typed and status 422. Every form carries the session's CSRF token
and works without JavaScript (POST, then a redirect).
"""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from socialdesk.accounts import permissions
from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.permissions import Permission
from socialdesk.common.deps import DB, Actor, Replier, RoutingAdmin
from socialdesk.common.errors import ValidationFailed
from socialdesk.conversations import placeholders
from socialdesk.conversations import service as conversations_service
from socialdesk.saved_replies import service
from socialdesk.saved_replies.models import SavedReply
from socialdesk.web import forms
from socialdesk.web.admin import page_context
from socialdesk.web.forms import FormError, PathId, attempt
from socialdesk.web.render import UNPROCESSABLE, render

router = APIRouter(include_in_schema=False)

LIST = "/admin/saved-replies"
FORM_NAME = "saved-reply"
# What the code of conduct would do with a saved reply, in words.
OUTCOME_WORDS = {
    "allow": "fine",
    "warn": "sent with a warning",
    "approve": "needs an approver",
    "block": "held back",
}


def _draft(form: FormData) -> service.Draft:
    """The form as a draft; a team that is not an id is refused (ValidationFailed)."""
    return replace(_typed(form), team_id=forms.optional_id(form, "team_id"))


def _typed(form: FormData) -> service.Draft:
    """What was typed, to show again beside a refusal (without the team when it is no id)."""
    try:
        team_id = forms.optional_id(form, "team_id")
    except ValidationFailed:
        team_id = None
    return service.Draft(
        shortcut=forms.text(form, "shortcut"),
        title=forms.text(form, "title"),
        text=forms.text(form, "text"),
        team_id=team_id,
    )


def _of(reply: SavedReply) -> service.Draft:
    return service.Draft(
        shortcut=reply.shortcut, title=reply.title, text=reply.text, team_id=reply.team_id
    )


def _page(
    request: Request,
    db: Session,
    actor: Actor,
    *,
    draft: service.Draft,
    editing: SavedReply | None,
    error: FormError | None = None,
) -> Response:
    query = request.query_params.get("q", "")[:200]
    replies = service.search(db, organization_id=actor.organization_id, query=query, limit=500)
    teams = accounts_service.list_teams(db, organization_id=actor.organization_id)
    return render(
        request,
        "saved_replies/admin.html",
        {
            **page_context(db, actor),
            "section": "saved-replies",
            "replies": replies,
            "conduct": service.conduct(db, organization_id=actor.organization_id, replies=replies),
            "outcome_words": OUTCOME_WORDS,
            "reasons": service.reasons,
            "query": query,
            "teams": teams,
            "team_names": {team.id: team.name for team in teams},
            "preview": service.preview,
            "draft": draft,
            "editing": editing,
            "placeholders": placeholders.PLACEHOLDERS,
            "max_text": service.MAX_TEXT,
            "error": error,
        },
        status_code=UNPROCESSABLE if error else 200,
    )


@router.get("/admin/saved-replies")
def saved_replies_page(request: Request, actor: RoutingAdmin, db: DB) -> Response:
    empty = service.Draft(shortcut="", title="", text="")
    return _page(request, db, actor, draft=empty, editing=None)


@router.post("/admin/saved-replies")
def create_saved_reply(
    request: Request, actor: RoutingAdmin, form: forms.PostedForm, db: DB
) -> Response:
    error = attempt(
        db,
        FORM_NAME,
        lambda: service.create(
            db, organization_id=actor.organization_id, draft=_draft(form), actor=actor.member
        ),
    )
    if error is None:
        return RedirectResponse(LIST, status_code=303)
    return _page(request, db, actor, draft=_typed(form), editing=None, error=error)


@router.get("/admin/saved-replies/{reply_id}")
def edit_saved_reply(request: Request, reply_id: PathId, actor: RoutingAdmin, db: DB) -> Response:
    reply = service.get(db, organization_id=actor.organization_id, reply_id=reply_id)
    return _page(request, db, actor, draft=_of(reply), editing=reply)


@router.post("/admin/saved-replies/{reply_id}")
def save_saved_reply(
    request: Request, reply_id: PathId, actor: RoutingAdmin, form: forms.PostedForm, db: DB
) -> Response:
    reply = service.get(db, organization_id=actor.organization_id, reply_id=reply_id)
    error = attempt(
        db,
        FORM_NAME,
        lambda: service.update(db, reply=reply, draft=_draft(form), actor=actor.member),
    )
    if error is None:
        return RedirectResponse(LIST, status_code=303)
    return _page(request, db, actor, draft=_typed(form), editing=reply, error=error)


@router.post("/admin/saved-replies/{reply_id}/delete")
def delete_saved_reply(reply_id: PathId, actor: RoutingAdmin, db: DB) -> Response:
    reply = service.get(db, organization_id=actor.organization_id, reply_id=reply_id)
    service.delete(db, reply=reply)
    return RedirectResponse(LIST, status_code=303)


@router.get("/conversations/{conversation_id}/saved-replies")
def reply_box_list(request: Request, conversation_id: PathId, actor: Replier, db: DB) -> Response:
    """The reply box's list: the saved replies at hand (everyone's, the reader's teams' and
    the conversation's team's) matching ``q``, each filled in for this conversation and its
    reader, ready to go into the box."""
    conversation = conversations_service.get_or_raise(
        db, organization_id=actor.organization_id, conversation_id=conversation_id
    )
    query = request.query_params.get("q", "")[:200]
    found = service.search(
        db,
        organization_id=actor.organization_id,
        query=query,
        only=service.at_hand(member=actor.member, conversation=conversation),
    )
    filled = service.fill_many(db, replies=found, conversation=conversation, agent=actor.member)
    return render(
        request,
        "saved_replies/_choices.html",
        {
            "filled": filled,
            "query": query,
            "admin_routing": permissions.has(actor.member, Permission.ROUTING_MANAGE),
        },
    )
