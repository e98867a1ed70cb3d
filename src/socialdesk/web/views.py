"""The desk's server-rendered pages: login, the inbox, one conversation and its actions.

Handlers stay thin: read the form, call a service, render. Every form works without
JavaScript (a plain POST answered by a redirect); with HTMX the same routes answer with the
fragment to swap. A service's refusal (Blocked, NeedsConfirmation, ValidationFailed...) is shown
beside the form it came from, with status 422.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member
from socialdesk.commitments import service as commitments_service
from socialdesk.common.crypto import new_token, sign, unsign
from socialdesk.common.deps import (
    DB,
    SESSION_COOKIE,
    Actor,
    CurrentActor,
    Manager,
    NoteTaker,
    Reader,
    Replier,
)
from socialdesk.common.errors import DomainError, NotAuthenticated, NotFound, ValidationFailed
from socialdesk.config import get_settings
from socialdesk.contacts import service as contacts_service
from socialdesk.conversations import attachments, inbox_query, mentions, presence
from socialdesk.conversations import batch as batch_service
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, Message, Priority, Status
from socialdesk.conversations.service import AssigneeFilter
from socialdesk.outbound import service as outbound_service
from socialdesk.outbound import withdrawal
from socialdesk.polls import replies as poll_replies
from socialdesk.routing import service as routing_service
from socialdesk.saved_views import service as saved_views_service
from socialdesk.triage import service as triage_service
from socialdesk.web import commitments as web_commitments
from socialdesk.web import forms
from socialdesk.web import viewmodels as vm
from socialdesk.web.forms import FormError, PathId, attempt
from socialdesk.web.render import UNPROCESSABLE, is_htmx, render, zone

router = APIRouter(include_in_schema=False)

LOGIN_CSRF_COOKIE = "sd_login"
PAGE_SIZE = 50

STATUS_LABELS = {
    Status.OPEN.value: "Open",
    Status.PENDING.value: "Pending",
    Status.SNOOZED.value: "Snoozed",
    Status.RESOLVED.value: "Resolved",
    conversations_service.STATUS_ALL: "All",
}
ASSIGNEE_LABELS = {
    AssigneeFilter.ANYONE.value: "Anyone",
    AssigneeFilter.ME.value: "Mine",
    AssigneeFilter.UNASSIGNED.value: "Unassigned",
}
# The choices of the "Waiting for" filter (conversations.service.AWAITING).
AWAITING_LABELS = {"reply": "A reply from us", "customer": "The customer's answer"}


def error_page(request: Request, exc: DomainError) -> Response:
    """The page for an error outside any form (unknown conversation, missing permission). A
    visitor on a chat address gets a page of the chat's own, with nothing of the desk."""
    return render(
        request,
        "chat_error.html" if request.url.path.startswith("/chat/") else "error.html",
        {"status": exc.status_code, "message": exc.message},
        status_code=exc.status_code,
    )


# -- login --------------------------------------------------------------------------------


def _cookie_secure() -> bool:
    return get_settings().secure_cookies


def _login_page(
    request: Request,
    *,
    next_path: str,
    error: str | None = None,
    email: str = "",
    need_code: bool = False,
    status: int = 200,
) -> Response:
    # Before login there is no session to hold a CSRF token: the form carries a random nonce
    # and a signed cookie carries the same nonce (double submit), so another site cannot post
    # a login form into the desk.
    nonce = new_token(16)
    response = render(
        request,
        "login.html",
        {
            "csrf_token": nonce,
            "next": next_path,
            "error": error,
            "email": email,
            "need_code": need_code,
        },
        status_code=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        sign(nonce),
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="lax",
        secure=_cookie_secure(),
    )
    return response


@router.get("/login")
def login_form(request: Request, db: DB, next: str = "/") -> Response:
    target = forms.safe_next(next)
    token = request.cookies.get(SESSION_COOKIE)
    if token and accounts_service.resolve_session(db, token=token) is not None:
        return RedirectResponse(target, status_code=303)
    return _login_page(request, next_path=target)


@router.post("/login")
def login(request: Request, form: forms.PostedForm, db: DB) -> Response:
    # A plain def (thread pool): no login is needed to reach it, so nothing before it has
    # taken the database, and its first query may wait for the write lock.
    target = forms.safe_next(forms.text(form, "next"))
    email = forms.text(form, "email")
    expected = unsign(request.cookies.get(LOGIN_CSRF_COOKIE, ""))
    sent = forms.text(form, "csrf_token")
    if not expected or not sent or sent != expected:
        return _login_page(
            request,
            next_path=target,
            email=email,
            error="The login form expired or came from elsewhere: please try again.",
            status=403,
        )
    source = request.client.host if request.client else None
    # A refused login still returns normally: the failed attempt it recorded (towards the
    # lockout, and in the audit trail) must be committed.
    try:
        member = accounts_service.authenticate(
            db,
            email=email,
            password=str(form.get("password") or ""),
            totp_code=forms.text(form, "totp_code") or None,
            source_address=source,
        )
    except accounts_service.TotpRequired as exc:
        return _login_page(
            request,
            next_path=target,
            email=email,
            error=f"{exc.message}, and your password again.",
            need_code=True,
            status=401,
        )
    except NotAuthenticated as exc:
        return _login_page(
            request,
            next_path=target,
            email=email,
            error=exc.message,
            need_code=bool(forms.text(form, "totp_code")),
            status=401,
        )
    response = logged_in(db, member=member, source_address=source, target=target)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def logged_in(
    db: Session, *, member: Member, source_address: str | None, target: str = "/"
) -> RedirectResponse:
    """Start a login session and send the member on: the one place the session cookie is set
    (password login, single sign-on, an accepted invitation)."""
    new = accounts_service.start_session(db, member=member, source_address=source_address)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        new.token,
        max_age=get_settings().session_days * 86400,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_cookie_secure(),
    )
    return response


@router.post("/logout")
def logout(request: Request, actor: CurrentActor, db: DB) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        accounts_service.end_session(db, token=token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- inbox --------------------------------------------------------------------------------


def inbox_context(
    db: Session, actor: Actor, query: inbox_query.InboxQuery, cursor: str | None = None
) -> dict[str, Any]:
    flt = query.to_filter()
    page = inbox_query.page(
        db,
        query,
        organization_id=actor.organization_id,
        me_id=actor.member.id,
        cursor=cursor,
        limit=PAGE_SIZE,
    )
    directory = vm.Directory.load(db, organization_id=actor.organization_id)
    return {
        **vm.layout_context(db, actor),
        "query": query,
        "rows": vm.inbox_rows(db, directory=directory, conversations=page.items),
        # Colleagues on a row's conversation now (desk.js keeps it live).
        "presence_by": presence.on_conversations(
            db,
            organization_id=actor.organization_id,
            conversation_ids=[c.id for c in page.items],
            me_id=actor.member.id,
        ),
        "next_cursor": page.next_cursor,
        "cursor": cursor,
        "counts": conversations_service.counts(
            db, organization_id=actor.organization_id, me_id=actor.member.id, flt=flt
        ),
        "directory": directory,
        "status_labels": STATUS_LABELS,
        "assignee_labels": ASSIGNEE_LABELS,
        "awaiting_labels": AWAITING_LABELS,
        "triage_choices": vm.TRIAGE_CHOICES,
        "snooze_presets": forms.SNOOZE_PRESETS,
        "saved_views": saved_views_service.visible_to(db, member=actor.member),
    }


@router.get("/")
def inbox(request: Request, actor: Reader, db: DB) -> Response:
    query = inbox_query.parse(request.query_params)
    cursor = request.query_params.get("cursor") or None
    return render(request, "inbox.html", inbox_context(db, actor, query, cursor))


@router.get("/inbox/list")
def inbox_list(request: Request, actor: Reader, db: DB) -> Response:
    """The list and the counts beside the filters (swapped out of band), for a filter change
    or a live refresh."""
    query = inbox_query.parse(request.query_params)
    headers = {"Vary": "HX-Request"}
    if request.headers.get("hx-trigger") == "filters":
        # The address bar follows the filters, so a reload or a shared link shows the same view.
        qs = query.query_string()
        headers["HX-Push-Url"] = f"/?{qs}" if qs else "/"
    return render(request, "_inbox_list.html", inbox_context(db, actor, query), headers=headers)


@router.get("/inbox/more")
def inbox_more(request: Request, actor: Reader, db: DB, cursor: str) -> Response:
    query = inbox_query.parse(request.query_params)
    return render(request, "_inbox_rows.html", inbox_context(db, actor, query, cursor))


def _batch_change(form: FormData, tz: tzinfo) -> batch_service.BatchChange:
    """The bar's choice: resolve, reopen, pending, claim, tag, assign:ID / team:ID (an empty
    id: nobody, no team), snooze:PRESET (the snooze panel's presets) or priority:NAME."""
    raw = forms.text(form, "change")
    kind, _, target = raw.partition(":")
    change = batch_service.change(kind)
    if change is batch_service.Change.SNOOZE:
        until = forms.snooze_until({"preset": target}, tz=tz)
        return batch_service.BatchChange(change=change, snoozed_until=until)
    if change is batch_service.Change.PRIORITY:
        priority = forms.priority({"priority": target})
        return batch_service.BatchChange(change=change, priority=priority)
    if change in (batch_service.Change.ASSIGN, batch_service.Change.TEAM):
        picked = forms.optional_id({"change": target}, "change")
        if change is batch_service.Change.ASSIGN:
            return batch_service.BatchChange(change=change, assignee_id=picked)
        return batch_service.BatchChange(change=change, team_id=picked)
    return batch_service.BatchChange(change=change, tag=forms.text(form, "tag"))


def _picked(form: FormData) -> list[int]:
    ids = []
    for raw in form.getlist("conversation_ids"):
        value = raw if isinstance(raw, str) else ""
        if not (value.isascii() and value.isdigit()):  # "²" is a digit to str.isdigit
            raise ValidationFailed(
                f"conversation_ids must be numbers, not {value!r}", field="conversation_ids"
            )
        ids.append(int(value))
    return ids


@router.post("/inbox/batch")
def inbox_batch(request: Request, actor: Manager, form: forms.PostedForm, db: DB) -> Response:
    """The inbox's bar: one change to the conversations ticked in the list, all or none. Back
    to the inbox as it was filtered; a refusal is shown in the bar, with the same ones ticked."""
    back = forms.safe_next(forms.text(form, "next"), "/")
    tz = zone(vm.organization(db, actor.organization_id).timezone)
    picked: list[int] = []

    def act() -> None:
        picked.extend(_picked(form))
        batch_service.apply(
            db,
            organization_id=actor.organization_id,
            conversation_ids=picked,
            what=_batch_change(form, tz),
            actor=actor.member,
        )

    error = attempt(db, "batch", act)
    if error is None:
        return RedirectResponse(back, status_code=303)
    query = inbox_query.parse(dict(parse_qsl(urlsplit(back).query)))
    context = {**inbox_context(db, actor, query), "batch_error": error, "picked": picked}
    context["batch_choice"] = forms.text(form, "change")
    context["batch_tag"] = forms.text(form, "tag")
    return render(request, "inbox.html", context, status_code=UNPROCESSABLE)


# -- one conversation ---------------------------------------------------------------------


def _conversation(db: Session, actor: Actor, conversation_id: int) -> Conversation:
    return conversations_service.get_or_raise(
        db, organization_id=actor.organization_id, conversation_id=conversation_id
    )


def _conversation_context(
    db: Session,
    actor: Actor,
    conversation: Conversation,
    *,
    error: FormError | None = None,
    draft: str = "",
    note_draft: str = "",
    fragment: bool = False,
) -> dict[str, Any]:
    base = vm.layout_context(db, actor)
    directory = vm.Directory.load(db, organization_id=actor.organization_id)
    view = vm.conversation_view(db, conversation=conversation, directory=directory, me=actor.member)
    messages = vm.thread_views(db, conversation=conversation, directory=directory)
    return {
        **base,
        "view": view,
        "c": conversation,
        "directory": directory,
        "messages": messages,
        # Sent public replies this member may take back off the network (or try again).
        "withdrawable": {
            m.message.id
            for m in messages
            if m.kind == "outbound" and withdrawal.offered(actor.member, m.message, view.account)
        },
        "triage": vm.triage_views(db, conversation=conversation),
        # The photos, videos and files that came with each message.
        "files": attachments.of_messages(db, (m.message.id for m in messages)),
        # Messages that answer one of the organization's polls say which.
        "answered_polls": poll_replies.answered_in(
            db, conversation_id=conversation.id, organization_id=conversation.organization_id
        ),
        "triage_choices": vm.TRIAGE_CHOICES,
        "trail": vm.trail(db, conversation=conversation, directory=directory),
        "error": error,
        "fragment": fragment,
        "draft": draft,
        "note_draft": note_draft,
        "snooze_presets": forms.SNOOZE_PRESETS,
        "snooze_default": forms.local_input_value(
            conversation.snoozed_until or _tomorrow_morning(base), base["tz"]
        ),
        "priorities": [(p.value, p.name.lower()) for p in Priority],
        "status_labels": STATUS_LABELS,
        "priority_label": vm.priority_label,
    }


def _tomorrow_morning(base: Mapping[str, Any]) -> datetime:
    """The snooze field's suggestion: the next working morning is the usual choice."""
    return forms.snooze_until({"preset": "tomorrow"}, tz=base["tz"])


@router.get("/conversations/{conversation_id}")
def conversation_page(request: Request, conversation_id: PathId, actor: Reader, db: DB) -> Response:
    conversation = _conversation(db, actor, conversation_id)
    context = _conversation_context(db, actor, conversation)
    context["others"] = presence.others(db, conversation=conversation, me=actor.member)
    return render(request, "conversation.html", context)


@router.get("/conversations/{conversation_id}/thread")
def conversation_thread(
    request: Request, conversation_id: PathId, actor: Reader, db: DB
) -> Response:
    conversation = _conversation(db, actor, conversation_id)
    return render(
        request, "_thread.html", _conversation_context(db, actor, conversation, fragment=True)
    )


@router.get("/conversations/{conversation_id}/side")
def conversation_side(request: Request, conversation_id: PathId, actor: Reader, db: DB) -> Response:
    conversation = _conversation(db, actor, conversation_id)
    return render(
        request,
        "_side_response.html",
        _conversation_context(db, actor, conversation, fragment=True),
    )


def _respond(
    request: Request,
    db: Session,
    actor: Actor,
    conversation: Conversation,
    *,
    fragment: str,
    error: FormError | None,
    draft: str = "",
    note_draft: str = "",
) -> Response:
    if not is_htmx(request):
        if error is None:
            return RedirectResponse(f"/conversations/{conversation.id}", status_code=303)
        fragment = "conversation.html"
    context = _conversation_context(
        db,
        actor,
        conversation,
        error=error,
        draft=draft,
        note_draft=note_draft,
        fragment=fragment != "conversation.html",
    )
    return render(request, fragment, context, status_code=UNPROCESSABLE if error else 200)


def _side_action(
    request: Request,
    db: Session,
    actor: Actor,
    conversation_id: int,
    *,
    form_name: str,
    action: Callable[[Conversation], object],
) -> Response:
    """Run one change from a side panel's form (named ``form_name``) on the conversation and
    answer with the side panels, the refusal beside that form if there was one."""
    conversation = _conversation(db, actor, conversation_id)
    error = attempt(db, form_name, lambda: action(conversation))
    return _respond(request, db, actor, conversation, fragment="_side_response.html", error=error)


@router.post("/conversations/{conversation_id}/assign")
def assign(
    request: Request, conversation_id: PathId, actor: Manager, form: forms.PostedForm, db: DB
) -> Response:
    def act(conversation: Conversation) -> None:
        if forms.text(form, "assignee") == "me":
            routing_service.claim(db, conversation=conversation, member=actor.member)
            return
        conversations_service.assign(
            db,
            conversation=conversation,
            assignee_id=forms.optional_id(form, "assignee"),
            actor=actor.member,
        )

    return _side_action(request, db, actor, conversation_id, form_name="assign", action=act)


@router.post("/conversations/{conversation_id}/team")
def set_team(
    request: Request, conversation_id: PathId, actor: Manager, form: forms.PostedForm, db: DB
) -> Response:
    def act(conversation: Conversation) -> None:
        conversations_service.set_team(
            db,
            conversation=conversation,
            team_id=forms.optional_id(form, "team"),
            actor=actor.member,
        )

    return _side_action(request, db, actor, conversation_id, form_name="team", action=act)


@router.post("/conversations/{conversation_id}/priority")
def set_priority(
    request: Request, conversation_id: PathId, actor: Manager, form: forms.PostedForm, db: DB
) -> Response:
    def act(conversation: Conversation) -> None:
        conversations_service.set_priority(
            db, conversation=conversation, priority=forms.priority(form), actor=actor.member
        )

    return _side_action(request, db, actor, conversation_id, form_name="priority", action=act)


@router.post("/conversations/{conversation_id}/contact")
def edit_contact(
    request: Request, conversation_id: PathId, actor: Manager, form: forms.PostedForm, db: DB
) -> Response:
    """The customer's name and VIP mark, from the Contact panel (both fields are always on
    the form: an unticked box is "not a VIP")."""

    def act(conversation: Conversation) -> None:
        if conversation.contact_id is None:
            raise ValidationFailed("this conversation has no customer yet", field="name")
        contacts_service.update_details(
            db,
            organization_id=actor.organization_id,
            contact_id=conversation.contact_id,
            name=forms.text(form, "name"),
            is_vip=forms.text(form, "vip") == "1",
            note=forms.text(form, "note") if "note" in form else None,
            actor=actor.member,
        )

    return _side_action(request, db, actor, conversation_id, form_name="contact", action=act)


@router.post("/conversations/{conversation_id}/status")
def set_status(
    request: Request, conversation_id: PathId, actor: Manager, form: forms.PostedForm, db: DB
) -> Response:
    """Change the status. Resolving a conversation with open promises asks what happens to
    them first (keep them open, mark them kept, or cancel them): the question comes back in
    the status panel until the form says."""
    conversation = _conversation(db, actor, conversation_id)

    def act() -> None:
        status = forms.manual_status(form)
        if status is Status.RESOLVED and conversation.status != Status.RESOLVED.value:
            commitments_service.settle_before_resolving(
                db,
                conversation=conversation,
                actor=actor.member,
                choice=web_commitments.resolve_choice(form),
                note=forms.text(form, "commitments_note"),
            )
        conversations_service.set_status(
            db, conversation=conversation, status=status, actor=actor.member
        )

    error = attempt(db, "status", act)
    extra: dict[str, Any] = {}
    if error is not None and error.field == "commitments":
        tz = zone(vm.organization(db, actor.organization_id).timezone)
        extra["resolve_question"] = web_commitments.resolve_question(
            db, conversation=conversation, organization_id=actor.organization_id, tz=tz
        )
    return _answer(
        request, db, actor, conversation, fragment="_side_response.html", error=error, extra=extra
    )


@router.post("/conversations/{conversation_id}/snooze")
def snooze(
    request: Request, conversation_id: PathId, actor: Manager, form: forms.PostedForm, db: DB
) -> Response:
    tz = zone(vm.organization(db, actor.organization_id).timezone)

    def act(conversation: Conversation) -> None:
        conversations_service.set_status(
            db,
            conversation=conversation,
            status=Status.SNOOZED,
            snoozed_until=forms.snooze_until(form, tz=tz),
            actor=actor.member,
        )

    return _side_action(request, db, actor, conversation_id, form_name="snooze", action=act)


@router.post("/conversations/{conversation_id}/tags")
def add_tag(
    request: Request, conversation_id: PathId, actor: Manager, form: forms.PostedForm, db: DB
) -> Response:
    def act(conversation: Conversation) -> None:
        conversations_service.add_tag(
            db, conversation=conversation, name=forms.text(form, "tag"), actor=actor.member
        )

    return _side_action(request, db, actor, conversation_id, form_name="tags", action=act)


@router.post("/conversations/{conversation_id}/tags/remove")
def remove_tag(
    request: Request, conversation_id: PathId, actor: Manager, form: forms.PostedForm, db: DB
) -> Response:
    def act(conversation: Conversation) -> None:
        conversations_service.remove_tag(
            db, conversation=conversation, name=forms.text(form, "tag"), actor=actor.member
        )

    return _side_action(request, db, actor, conversation_id, form_name="tags", action=act)


def _answer(
    request: Request,
    db: Session,
    actor: Actor,
    conversation: Conversation,
    *,
    fragment: str,
    error: FormError | None,
    draft: str = "",
    note_draft: str = "",
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``_respond`` with more context (the composer's promise preview, the resolve question)
    and response headers."""
    if not is_htmx(request):
        if error is None:
            return RedirectResponse(f"/conversations/{conversation.id}", status_code=303)
        fragment = "conversation.html"
    context = _conversation_context(
        db,
        actor,
        conversation,
        error=error,
        draft=draft,
        note_draft=note_draft,
        fragment=fragment != "conversation.html",
    )
    context.update(extra or {})
    return render(
        request,
        fragment,
        context,
        status_code=UNPROCESSABLE if error else 200,
        headers=headers,
    )


def _compose(
    request: Request,
    db: Session,
    actor: Actor,
    conversation_id: int,
    form: FormData,
    *,
    composer: str,
    send: Callable[[Conversation, str, Mapping[str, Any]], Message],
) -> Response:
    """Send a reply or add a note, and in the same transaction keep the promises it makes
    (as the author chose in the composer's preview: keep, edit or drop each)."""
    conversation = _conversation(db, actor, conversation_id)
    text = forms.plain_text(str(form.get("text") or ""))  # as typed, with LF line endings
    tz = zone(vm.organization(db, actor.organization_id).timezone)
    kept: list[object] = []

    def act() -> None:
        decisions = web_commitments.decisions_from_form(form, tz=tz)
        message = send(conversation, text, form)
        kept.extend(
            commitments_service.keep_promises(
                db,
                conversation=conversation,
                message=message,
                author=actor.member,
                text=text,
                decisions=decisions,
            )
        )

    error = attempt(db, composer, act)
    extra: dict[str, Any] = {}
    if error is not None:
        # Keep the author's choices beside the draft they get back (a warning to confirm,
        # say): sending anyway must not bring back a promise they dropped.
        extra[f"{composer}_promises"] = web_commitments.preview(
            db, conversation=conversation, text=text, form=form, tz=tz, composer=composer
        )
    return _answer(
        request,
        db,
        actor,
        conversation,
        fragment="_composer_response.html",
        error=error,
        draft=text if error and composer == "reply" else "",
        note_draft=text if error and composer == "note" else "",
        extra=extra,
        # The side panels (the promises among them) re-read what the send changed.
        headers={"HX-Trigger": "sd-panels-refresh"} if kept else None,
    )


@router.post("/conversations/{conversation_id}/reply")
def reply(
    request: Request, conversation_id: PathId, actor: Replier, form: forms.PostedForm, db: DB
) -> Response:
    def send(conversation: Conversation, text: str, fields: Mapping[str, Any]) -> Message:
        return outbound_service.queue_reply(
            db,
            conversation=conversation,
            author=actor.member,
            text=text,
            confirmed=forms.same_text(forms.text(fields, "confirmed_text"), text),
            # Read in the same attempt, so a file refused by its size shows beside the form.
            files=forms.uploads(form, "files"),
        )

    return _compose(request, db, actor, conversation_id, form, composer="reply", send=send)


@router.post("/conversations/{conversation_id}/notes")
def add_note(
    request: Request, conversation_id: PathId, actor: NoteTaker, form: forms.PostedForm, db: DB
) -> Response:
    """An internal note; promises made to colleagues in it are tracked like promises to a
    customer."""

    def send(conversation: Conversation, text: str, _form: Mapping[str, Any]) -> Message:
        return conversations_service.add_note(
            db, conversation=conversation, author=actor.member, text=text
        )

    return _compose(request, db, actor, conversation_id, form, composer="note", send=send)


@router.post("/conversations/{conversation_id}/notes/mentions")
def note_mentions(
    request: Request, conversation_id: PathId, actor: NoteTaker, form: forms.PostedForm, db: DB
) -> Response:
    """While a note is typed: the colleagues and teams it mentions, who will be told."""
    conversation = _conversation(db, actor, conversation_id)
    text = forms.text(form, "text")[: conversations_service.MAX_NOTE]  # as a note may hold
    directory = vm.Directory.load(db, organization_id=conversation.organization_id)
    # The directory holds the people and teams a note can mention: read once, for both.
    mentioned = conversations_service.Mentioned.of(
        mentions.find(text, directory.colleagues, directory.mention_teams)
    )
    names = vm.mention_names(directory, mentioned, but=actor.member.id)
    told = conversations_service.told_of(db, mentioned, author_id=actor.member.id)
    return render(
        request,
        "_note_mentions.html",
        {"names": names, "told": len(told), "teams": bool(mentioned.team_ids)},
        headers={"Cache-Control": "no-store"},
    )


@router.post("/conversations/{conversation_id}/presence")
def presence_announce(
    request: Request, conversation_id: PathId, actor: Replier, form: forms.PostedForm, db: DB
) -> Response:
    """The page says its member has the conversation open, is writing a reply, or left (sent
    by desk.js; colleagues' pages show it live). Answers with who else is on it."""
    conversation = _conversation(db, actor, conversation_id)
    presence.announce(
        db,
        conversation=conversation,
        member=actor.member,
        activity=presence.activity(forms.text(form, "activity")),
    )
    return render(
        request,
        "_presence.html",
        {
            "c": conversation,
            "others": presence.others(db, conversation=conversation, me=actor.member),
        },
    )


def _message_in(
    db: Session, actor: Actor, conversation_id: int, message_id: int
) -> tuple[Conversation, Message]:
    """The conversation the actor may see, and one of its messages; any other message is not
    found, even one that exists in another conversation."""
    conversation = _conversation(db, actor, conversation_id)
    message = db.get(Message, message_id)
    if message is None or message.conversation_id != conversation.id:
        raise NotFound(f"message {message_id} is not in conversation {conversation_id}")
    return conversation, message


def _back_to_message(
    request: Request,
    db: Session,
    actor: Actor,
    conversation: Conversation,
    message: Message,
    *,
    error: FormError | None,
) -> Response:
    """After an action on one message: the thread again for htmx; otherwise, when it worked,
    back to the message in the conversation's page."""
    if error is None and not is_htmx(request):
        return RedirectResponse(
            f"/conversations/{conversation.id}#message-{message.id}", status_code=303
        )
    return _respond(request, db, actor, conversation, fragment="_thread.html", error=error)


@router.post("/conversations/{conversation_id}/messages/{message_id}/retry")
def retry(
    request: Request, conversation_id: PathId, message_id: PathId, actor: Replier, db: DB
) -> Response:
    conversation, message = _message_in(db, actor, conversation_id, message_id)
    error = attempt(
        db,
        f"retry-{message_id}",
        lambda: outbound_service.retry(db, message=message, actor=actor.member),
    )
    return _respond(request, db, actor, conversation, fragment="_thread.html", error=error)


@router.post("/conversations/{conversation_id}/messages/{message_id}/withdraw")
def withdraw(
    request: Request,
    conversation_id: PathId,
    message_id: PathId,
    *,
    actor: Replier,
    form: forms.PostedForm,
    db: DB,
) -> Response:
    """Take a sent public reply back off its network, with the reason the form asks for (also
    "Try again" after a failure, with the reason given before)."""
    conversation, message = _message_in(db, actor, conversation_id, message_id)
    error = attempt(
        db,
        f"withdraw-{message_id}",
        lambda: withdrawal.request(
            db, message=message, actor=actor.member, reason=forms.text(form, "reason")
        ),
    )
    return _back_to_message(request, db, actor, conversation, message, error=error)


@router.post("/conversations/{conversation_id}/messages/{message_id}/triage")
def correct_triage(
    request: Request,
    conversation_id: PathId,
    message_id: PathId,
    *,
    actor: Manager,
    form: forms.PostedForm,
    db: DB,
) -> Response:
    """One-click correction of a triage label; kept for retraining, applied at once."""
    conversation, message = _message_in(db, actor, conversation_id, message_id)

    def act() -> None:
        field, value = forms.triage_label(form)
        triage_service.correct(
            db,
            organization_id=actor.organization_id,
            message_id=message.id,
            field=field,
            value=value,
            member=actor.member,
        )

    error = attempt(db, f"triage-{message_id}", act)
    return _back_to_message(request, db, actor, conversation, message, error=error)
