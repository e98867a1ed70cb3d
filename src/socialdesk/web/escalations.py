"""Desk pages of the escalations domain: the conversation's escalations panel (ask another
team or person, mark a request done or cancel it) and the "requests for me" page.

Forms work without JavaScript (a POST answered by a redirect, or the page with the error);
with HTMX the same routes answer with the panel to swap into ``#panel-escalations``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from socialdesk.common import clock
from socialdesk.common.deps import DB, Actor, NoteTaker, Reader
from socialdesk.common.errors import ValidationFailed
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation
from socialdesk.escalations import service as escalations_service
from socialdesk.escalations.models import EscalationRequest, RequestStatus
from socialdesk.web import forms
from socialdesk.web import viewmodels as vm
from socialdesk.web.admin import page_context
from socialdesk.web.forms import FormError, PathId, attempt
from socialdesk.web.render import panel_answer, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
PANEL = "escalations/_panel.html"

SCOPE_LABELS = {
    escalations_service.Scope.FOR_ME.value: "Asked of me",
    escalations_service.Scope.FOR_MY_TEAMS.value: "Asked of my teams",
    escalations_service.Scope.ASKED_BY_ME.value: "Asked by me",
}
STATUS_LABELS = {
    RequestStatus.OPEN.value: "Open",
    RequestStatus.DONE.value: "Done",
    RequestStatus.CANCELLED.value: "Cancelled",
    escalations_service.STATUS_ALL: "All",
}


@dataclass(frozen=True)
class RequestView:
    request: EscalationRequest
    target: str
    requested_by: str
    closed_by: str | None
    overdue: bool
    # What the viewing member may do with it (on the conversation's panel; None on lists).
    rights: escalations_service.CloseRights | None = None


def _views(
    requests: list[EscalationRequest],
    directory: vm.Directory,
    now: datetime,
    rights: Callable[[EscalationRequest], escalations_service.CloseRights] | None = None,
) -> list[RequestView]:
    out = []
    for r in requests:
        if r.member_id is not None and r.team_id is not None:
            target = f"{directory.member_name(r.member_id)} ({directory.team_name(r.team_id)})"
        elif r.member_id is not None:
            target = directory.member_name(r.member_id)
        else:
            target = directory.team_name(r.team_id)
        out.append(
            RequestView(
                request=r,
                target=target,
                requested_by=directory.member_name(r.requested_by_id),
                closed_by=directory.member_name(r.closed_by_id) if r.closed_by_id else None,
                overdue=escalations_service.is_overdue(r, now=now),
                rights=rights(r) if rights is not None else None,
            )
        )
    return out


def parse_due(form: Mapping[str, object], *, tz: tzinfo) -> datetime | None:
    """The due field (a browser's datetime-local, read in the organization's zone); empty
    means no due time."""
    raw = forms.text(form, "due")
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(
            f"{raw!r} is not a date and time (expected YYYY-MM-DDTHH:MM)", field="due"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


# -- the conversation's panel -------------------------------------------------------------


def _conversation(db: Session, actor: Actor, conversation_id: int) -> Conversation:
    return conversations_service.get_or_raise(
        db, organization_id=actor.organization_id, conversation_id=conversation_id
    )


def _panel_context(
    db: Session,
    actor: Actor,
    conversation: Conversation,
    *,
    error: FormError | None = None,
    values: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    base = page_context(db, actor)
    directory = vm.Directory.load(db, organization_id=actor.organization_id)
    now = clock.now()
    views = _views(
        escalations_service.for_conversation(db, conversation=conversation),
        directory,
        now,
        rights=lambda r: escalations_service.close_rights(
            db, request=r, actor=actor.member, conversation=conversation
        ),
    )
    return {
        **base,
        "c": conversation,
        "open_requests": [v for v in views if v.request.status == RequestStatus.OPEN.value],
        "closed_requests": [v for v in views if v.request.status != RequestStatus.OPEN.value][::-1],
        "teams": list(directory.teams.values()),
        "members": [m for m in directory.active_members if m.id != actor.member.id],
        "error": error,
        "values": values or {},
        "due_suggestion": forms.local_input_value(now + timedelta(hours=4), base["tz"]),
    }


@router.get("/conversations/{conversation_id}/panels/escalations")
def panel(request: Request, conversation_id: PathId, actor: Reader, db: DB) -> Response:
    conversation = _conversation(db, actor, conversation_id)
    return render(request, PANEL, _panel_context(db, actor, conversation))


def _answer(
    request: Request,
    db: Session,
    actor: Actor,
    conversation: Conversation,
    error: FormError | None,
    *,
    values: Mapping[str, str] | None = None,
) -> Response:
    return panel_answer(
        request,
        conversation_id=conversation.id,
        failed=error is not None,
        panel=PANEL,
        page="escalations/panel_page.html",
        context=lambda: _panel_context(db, actor, conversation, error=error, values=values),
    )


@router.post("/conversations/{conversation_id}/escalations")
def create(
    request: Request, conversation_id: PathId, actor: NoteTaker, form: forms.PostedForm, db: DB
) -> Response:
    conversation = _conversation(db, actor, conversation_id)
    tz = page_context(db, actor)["tz"]

    def act() -> None:
        escalations_service.create(
            db,
            conversation=conversation,
            requested_by=actor.member,
            text=forms.text(form, "text"),
            team_id=forms.optional_id(form, "team_id"),
            member_id=forms.optional_id(form, "member_id"),
            due_at=parse_due(form, tz=tz),
        )

    error = attempt(db, "create", act)
    values = {k: forms.text(form, k) for k in ("text", "team_id", "member_id", "due")}
    return _answer(request, db, actor, conversation, error, values=values if error else None)


def _request_of(db: Session, conversation: Conversation, escalation_id: int) -> EscalationRequest:
    return escalations_service.get_in_conversation(
        db, conversation=conversation, request_id=escalation_id
    )


@router.post("/conversations/{conversation_id}/escalations/{escalation_id}/done")
def mark_done(
    request: Request,
    conversation_id: PathId,
    escalation_id: PathId,
    *,
    actor: NoteTaker,
    form: forms.PostedForm,
    db: DB,
) -> Response:
    conversation = _conversation(db, actor, conversation_id)
    escalation = _request_of(db, conversation, escalation_id)
    error = attempt(
        db,
        f"request-{escalation.id}",
        lambda: escalations_service.mark_done(
            db, request=escalation, actor=actor.member, resolution=forms.text(form, "resolution")
        ),
    )
    return _answer(request, db, actor, conversation, error)


@router.post("/conversations/{conversation_id}/escalations/{escalation_id}/cancel")
def cancel(
    request: Request,
    conversation_id: PathId,
    escalation_id: PathId,
    *,
    actor: NoteTaker,
    form: forms.PostedForm,
    db: DB,
) -> Response:
    conversation = _conversation(db, actor, conversation_id)
    escalation = _request_of(db, conversation, escalation_id)
    error = attempt(
        db,
        f"request-{escalation.id}",
        lambda: escalations_service.cancel(
            db, request=escalation, actor=actor.member, reason=forms.text(form, "reason")
        ),
    )
    return _answer(request, db, actor, conversation, error)


# -- requests for me and my teams ---------------------------------------------------------


@router.get("/escalations")
def requests_page(
    request: Request,
    actor: Reader,
    db: DB,
    *,
    scope: str = escalations_service.Scope.FOR_ME.value,
    status: str = RequestStatus.OPEN.value,
    cursor: str | None = None,
) -> Response:
    if scope not in SCOPE_LABELS:
        raise ValidationFailed(
            f"scope must be one of {', '.join(SCOPE_LABELS)}, not {scope!r}", field="scope"
        )
    found = escalations_service.page(
        db,
        member=actor.member,
        scope=escalations_service.Scope(scope),
        status=status,
        cursor=cursor or None,
        limit=PAGE_SIZE,
    )
    directory = vm.Directory.load(db, organization_id=actor.organization_id)
    return render(
        request,
        "escalations/list.html",
        {
            **page_context(db, actor),
            "rows": _views(found.items, directory, clock.now()),
            "next_cursor": found.next_cursor,
            "scope": scope,
            "status": status,
            "scope_labels": SCOPE_LABELS,
            "status_labels": STATUS_LABELS,
            "my_teams": [
                directory.team_name(t)
                for t in escalations_service.team_ids_of(db, member=actor.member)
            ],
        },
    )
