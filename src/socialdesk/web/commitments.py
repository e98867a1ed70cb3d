"""Desk pages of the commitments domain: the promise preview in the composer, the
conversation's commitments panel, and the lists ("my promises", a team's).

Like the rest of the desk, every form works without JavaScript (a POST answered by a redirect)
and with HTMX the same routes answer with the fragment to swap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import TeamMembership
from socialdesk.commitments import service
from socialdesk.commitments.models import Commitment, CommitmentStatus
from socialdesk.common import clock
from socialdesk.common.deps import DB, Actor, Manager, NoteTaker, Reader, RoutingAdmin
from socialdesk.common.errors import ValidationFailed
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation
from socialdesk.web import forms
from socialdesk.web import viewmodels as vm
from socialdesk.web.admin import page_context
from socialdesk.web.forms import FormError, PathId, attempt
from socialdesk.web.render import UNPROCESSABLE, is_htmx, panel_answer, render

router = APIRouter(include_in_schema=False)

# A draft makes a handful of promises at most; more fields than this are not from our form.
MAX_PROMISES = 20
COMPOSERS = ("reply", "note")


def _base(db: Session, actor: Actor) -> dict[str, Any]:
    org = vm.organization(db, actor.organization_id)
    return {
        "me": actor.member,
        "org": org,
        "tz": service.zone_of(org.timezone),
        "csrf_token": actor.csrf_token or "",
        "can": vm.Permissions.of(actor.member),
    }


def _local_input(value: datetime, tz: tzinfo) -> str:
    return forms.local_input_value(value, tz)


def _parse_local(raw: str, *, tz: tzinfo, field_name: str) -> datetime:
    """A datetime-local field's value, read in the organization's zone."""
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(
            f"{raw!r} is not a date and time (expected YYYY-MM-DDTHH:MM)", field=field_name
        ) from None
    if parsed.tzinfo is None:
        # A browser's datetime-local field has no zone: it is the organization's local time.
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)


# -- the composer's promise preview --------------------------------------------------------


@dataclass(frozen=True)
class PreviewRow:
    """One detected promise as the composer shows it, with the author's choices so far."""

    index: int
    key: str
    text: str
    due_label: str
    due_value: str  # the datetime-local field's value
    due_was: str  # the value the preview proposed (a different one means the author edited it)
    due_is_default: bool
    due_phrase: str | None
    keep: bool
    edited: bool


@dataclass(frozen=True)
class Preview:
    composer: str  # reply | note
    rows: list[PreviewRow]


@dataclass(frozen=True)
class _Choice:
    keep: bool
    text: str
    due: str
    due_was: str


def _choices(form: Mapping[str, Any]) -> dict[str, list[_Choice]]:
    """The author's choices in the form, by promise key (a key may repeat)."""
    found: dict[str, list[_Choice]] = {}
    for i in range(_count(form)):
        key = forms.text(form, f"promise-{i}-key")
        if not key:
            continue
        found.setdefault(key, []).append(
            _Choice(
                keep=forms.text(form, f"promise-{i}-choice", default="keep") != "drop",
                text=forms.text(form, f"promise-{i}-text"),
                due=forms.text(form, f"promise-{i}-due"),
                due_was=forms.text(form, f"promise-{i}-due-was"),
            )
        )
    return found


def _count(form: Mapping[str, Any]) -> int:
    raw = forms.text(form, "promises")
    try:
        return max(0, min(int(raw), MAX_PROMISES)) if raw else 0
    except ValueError:
        return 0


def decisions_from_form(form: Mapping[str, Any], *, tz: tzinfo) -> list[service.PromiseDecision]:
    """The author's keep / edit / drop choices for the promises the preview showed."""
    decisions: list[service.PromiseDecision] = []
    for i in range(_count(form)):
        key = forms.text(form, f"promise-{i}-key")
        if not key:
            continue
        keep = forms.text(form, f"promise-{i}-choice", default="keep") != "drop"
        due = forms.text(form, f"promise-{i}-due")
        due_was = forms.text(form, f"promise-{i}-due-was")
        due_at = None
        if keep and due and due != due_was:
            due_at = _parse_local(due, tz=tz, field_name=f"promise-{i}-due")
        text = forms.text(form, f"promise-{i}-text") or None
        decisions.append(
            service.PromiseDecision(key=key, keep=keep, text=text if keep else None, due_at=due_at)
        )
    return decisions


def preview(
    db: Session,
    *,
    conversation: Conversation,
    text: str,
    form: Mapping[str, Any],
    tz: tzinfo,
    composer: str,
) -> Preview:
    """The promises ``text`` makes, keeping the author's earlier choices for the same ones."""
    now = clock.now()
    detected = service.detect(db, conversation=conversation, text=text, now=now)
    earlier = _choices(form)
    rows: list[PreviewRow] = []
    for index, promise in enumerate(detected):
        proposed = _local_input(promise.due_at, tz)
        kept = earlier.get(promise.key, [])
        choice = kept.pop(0) if kept else None
        due_value = proposed
        due_at = promise.due_at
        edited = False
        text_value = promise.text
        keep = True
        if choice is not None:
            keep = choice.keep
            if choice.text and choice.text != promise.text:
                text_value = choice.text
                edited = True
            if choice.due and choice.due != choice.due_was:
                try:
                    due_at = _parse_local(choice.due, tz=tz, field_name="due")
                    due_value = choice.due
                    edited = True
                except ValidationFailed:
                    pass  # an unreadable edit: propose the detected time again
        rows.append(
            PreviewRow(
                index=index,
                key=promise.key,
                text=text_value,
                due_label=service.format_due(due_at, tz, now=now),
                due_value=due_value,
                due_was=proposed,
                due_is_default=promise.due_is_default and due_at == promise.due_at,
                due_phrase=promise.due_phrase,
                keep=keep,
                edited=edited,
            )
        )
    return Preview(composer=composer, rows=rows)


def _composer(raw: str) -> str:
    if raw not in COMPOSERS:
        raise ValidationFailed(f"composer must be reply or note, not {raw!r}", field="composer")
    return raw


@router.post("/conversations/{conversation_id}/promises/preview")
def promise_preview(
    request: Request,
    conversation_id: PathId,
    actor: NoteTaker,
    form: forms.PostedForm,
    db: DB,
    *,
    composer: str = "reply",
) -> Response:
    """While the author types: the promises the draft makes, each with keep / edit / drop."""
    conversation = conversations_service.get_or_raise(
        db, organization_id=actor.organization_id, conversation_id=conversation_id
    )
    base = _base(db, actor)
    text = forms.text(form, "text")
    result = preview(
        db,
        conversation=conversation,
        text=text,
        form=form,
        tz=base["tz"],
        composer=_composer(composer),
    )
    return render(
        request,
        "commitments/_preview.html",
        {**base, "preview": result},
        headers={"Cache-Control": "no-store"},
    )


# -- the conversation's panel ----------------------------------------------------------------


@dataclass(frozen=True)
class CommitmentRow:
    commitment: Commitment
    overdue: bool
    due_label: str
    owner_name: str
    team_name: str
    closed_by_name: str | None
    due_value: str
    undelivered: str | None = None  # the delivery error of the reply that made it


def _rows(
    db: Session,
    commitments: list[Commitment],
    *,
    directory: vm.Directory,
    tz: tzinfo,
    now: datetime,
) -> list[CommitmentRow]:
    failed = service.undelivered(db, commitments)
    return [
        CommitmentRow(
            commitment=c,
            overdue=service.is_overdue(c, now=now),
            due_label=service.format_due(c.due_at, tz, now=now),
            owner_name=directory.member_name(c.owner_id),
            team_name=directory.team_name(c.team_id),
            closed_by_name=directory.member_name(c.closed_by_id) if c.closed_by_id else None,
            due_value=_local_input(c.due_at, tz),
            undelivered=failed.get(c.id),
        )
        for c in commitments
    ]


def _panel_context(
    db: Session,
    actor: Actor,
    conversation: Conversation,
    *,
    error: FormError | None = None,
    draft: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    base = _base(db, actor)
    now = clock.now()
    directory = vm.Directory.load(db, organization_id=actor.organization_id)
    rows = _rows(
        db,
        service.for_conversation(db, conversation_id=conversation.id),
        directory=directory,
        tz=base["tz"],
        now=now,
    )
    return {
        **base,
        "c": conversation,
        "rows": rows,
        "open_count": sum(1 for r in rows if r.commitment.status == "open"),
        "overdue_count": sum(1 for r in rows if r.overdue),
        "directory": directory,
        "owners": directory.assignable_members,
        "default_owner_id": conversation.assignee_id or actor.member.id,
        "error": error,
        "draft": draft or {},
        "default_due": _local_input(
            service.timing_for(
                db,
                organization=base["org"],
                team_id=conversation.team_id,
            ).default_due(now),
            base["tz"],
        ),
        "closing": [s.value for s in service.CLOSING_STATUSES],
    }


def _panel(
    request: Request,
    db: Session,
    actor: Actor,
    conversation: Conversation,
    *,
    error: FormError | None = None,
    draft: Mapping[str, str] | None = None,
) -> Response:
    return panel_answer(
        request,
        conversation_id=conversation.id,
        failed=error is not None,
        panel="commitments/_panel.html",
        page="commitments/panel_page.html",
        context=lambda: _panel_context(db, actor, conversation, error=error, draft=draft),
    )


@router.get("/conversations/{conversation_id}/panels/commitments")
def commitments_panel(request: Request, conversation_id: PathId, actor: Reader, db: DB) -> Response:
    conversation = conversations_service.get_or_raise(
        db, organization_id=actor.organization_id, conversation_id=conversation_id
    )
    return render(
        request,
        "commitments/_panel.html",
        _panel_context(db, actor, conversation),
        headers={"Cache-Control": "no-store"},
    )


@router.post("/conversations/{conversation_id}/commitments")
def add_commitment(
    request: Request, conversation_id: PathId, actor: NoteTaker, form: forms.PostedForm, db: DB
) -> Response:
    """The panel's "add a promise" form."""
    conversation = conversations_service.get_or_raise(
        db, organization_id=actor.organization_id, conversation_id=conversation_id
    )
    tz = _base(db, actor)["tz"]
    draft = {k: forms.text(form, k) for k in ("text", "due", "when", "owner")}

    def act() -> None:
        due_at = _parse_local(draft["due"], tz=tz, field_name="due") if draft["due"] else None
        service.create(
            db,
            conversation=conversation,
            actor=actor.member,
            text=draft["text"],
            due_at=due_at if not draft["when"] else None,
            due_text=draft["when"] or None,
            owner_id=forms.optional_id(form, "owner"),
        )

    error = attempt(db, "add", act)
    return _panel(request, db, actor, conversation, error=error, draft=draft if error else None)


def _commitment(db: Session, actor: Actor, commitment_id: int) -> Commitment:
    return service.get_or_raise(
        db, organization_id=actor.organization_id, commitment_id=commitment_id
    )


def _after_change(
    request: Request,
    *,
    db: Session,
    actor: Actor,
    commitment: Commitment,
    form: Mapping[str, Any],
    error: FormError | None,
) -> Response:
    """Answer in the place the form came from: the panel, or a row of a list page."""
    conversation = db.get_one(Conversation, commitment.conversation_id)
    if forms.text(form, "from") == "list":
        if error is None or not is_htmx(request):
            back = forms.safe_next(forms.text(form, "next"), "/commitments")
            if error is None:
                if is_htmx(request):
                    return Response(status_code=200, headers={"HX-Redirect": back})
                return RedirectResponse(back, status_code=303)
        base = _base(db, actor)
        return render(
            request,
            "commitments/_error.html",
            {**base, "error": error},
            status_code=UNPROCESSABLE,
        )
    return _panel(request, db, actor, conversation, error=error)


@router.post("/commitments/{commitment_id}/close")
def close_commitment(
    request: Request, commitment_id: PathId, actor: Manager, form: forms.PostedForm, db: DB
) -> Response:
    commitment = _commitment(db, actor, commitment_id)

    def act() -> None:
        raw = forms.text(form, "status").lower()
        try:
            status = CommitmentStatus(raw)
        except ValueError:
            raise ValidationFailed(
                f"close as kept, broken or cancelled, not {raw!r}", field="status"
            ) from None
        service.close(
            db,
            commitment=commitment,
            actor=actor.member,
            status=status,
            evidence=forms.text(form, "evidence"),
        )

    error = attempt(db, f"close-{commitment_id}", act)
    return _after_change(request, db=db, actor=actor, commitment=commitment, form=form, error=error)


@router.post("/commitments/{commitment_id}/edit")
def edit_commitment(
    request: Request, commitment_id: PathId, actor: Manager, form: forms.PostedForm, db: DB
) -> Response:
    commitment = _commitment(db, actor, commitment_id)
    tz = _base(db, actor)["tz"]

    def act() -> None:
        due = forms.text(form, "due")
        due_at = _parse_local(due, tz=tz, field_name="due") if due else None
        if due_at is not None and due_at == commitment.due_at.replace(second=0, microsecond=0):
            due_at = None  # the field shows minutes only: unchanged, not moved to hh:mm:00
        service.update(
            db,
            commitment=commitment,
            actor=actor.member,
            text=forms.text(form, "text") or None,
            due_at=due_at,
            due_text=forms.text(form, "when") or None,
            owner_id=forms.optional_id(form, "owner"),
        )

    error = attempt(db, f"edit-{commitment_id}", act)
    return _after_change(request, db=db, actor=actor, commitment=commitment, form=form, error=error)


# -- resolving with open commitments -------------------------------------------------------


@dataclass(frozen=True)
class ResolveQuestion:
    rows: list[CommitmentRow]
    choices: list[tuple[str, str]]


def resolve_question(
    db: Session, *, conversation: Conversation, organization_id: int, tz: tzinfo
) -> ResolveQuestion | None:
    """What the status panel asks when resolving would leave promises open."""
    found = service.open_for_conversation(db, conversation_id=conversation.id)
    if not found:
        return None
    directory = vm.Directory.load(db, organization_id=organization_id)
    return ResolveQuestion(
        rows=_rows(db, found, directory=directory, tz=tz, now=clock.now()),
        choices=[(c.value, label) for c, label in service.RESOLVE_CHOICE_LABELS.items()],
    )


def resolve_choice(form: Mapping[str, Any]) -> service.ResolveChoice | None:
    raw = forms.text(form, "commitments").lower()
    if not raw:
        return None
    try:
        return service.ResolveChoice(raw)
    except ValueError:
        allowed = ", ".join(c.value for c in service.ResolveChoice)
        raise ValidationFailed(
            f"commitments must be one of {allowed}, not {raw!r}", field="commitments"
        ) from None


# -- lists -------------------------------------------------------------------------------------

PAGE_SIZE = 50
LIST_STATUSES = ("open", "closed", "all")


@router.get("/commitments")
def commitments_page(request: Request, actor: Reader, db: DB) -> Response:
    """My promises (default), or a team's: overdue ones first, then by due time."""
    params = request.query_params
    base = _base(db, actor)
    directory = vm.Directory.load(db, organization_id=actor.organization_id)
    team_raw = (params.get("team") or "").strip()
    team_id: int | None = None
    if team_raw:
        team_id = forms.optional_id({"team": team_raw}, "team")
        if team_id not in directory.teams:
            team_id = None
    status = (params.get("status") or "open").strip().lower()
    if status not in LIST_STATUSES:
        status = "open"
    owner_id = None if team_id is not None else actor.member.id
    now = clock.now()
    result = service.page(
        db,
        organization_id=actor.organization_id,
        flt=service.CommitmentFilter(owner_id=owner_id, team_id=team_id, status=status),
        now=now,
        cursor=params.get("cursor") or None,
        limit=PAGE_SIZE,
    )
    # By due time: among open ones the overdue are the earliest, so they come first.
    items = result.items
    conversations = {
        c.id: c
        for c in db.scalars(
            select(Conversation).where(
                Conversation.id.in_({i.conversation_id for i in items}),
                Conversation.organization_id == actor.organization_id,
            )
        )
    }
    my_teams = [t for t in directory.teams.values() if t.id in _team_ids_of(db, actor.member.id)]
    return render(
        request,
        "commitments/list.html",
        {
            **base,
            "directory": directory,
            "rows": _rows(db, items, directory=directory, tz=base["tz"], now=now),
            "conversations": conversations,
            "next_cursor": result.next_cursor,
            "team_id": team_id,
            "status": status,
            "statuses": LIST_STATUSES,
            "teams": sorted(directory.teams.values(), key=lambda t: t.name),
            "my_teams": my_teams,
            "summary": service.counts(
                db,
                organization_id=actor.organization_id,
                owner_id=owner_id,
                team_id=team_id,
                now=now,
            ),
            "closing": [s.value for s in service.CLOSING_STATUSES],
            "here": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        },
    )


def _team_ids_of(db: Session, member_id: int) -> set[int]:
    return set(
        db.scalars(select(TeamMembership.team_id).where(TeamMembership.member_id == member_id))
    )


# -- the organization's promise settings (admins) -------------------------------------------


def _number_field(form: Mapping[str, Any], name: str, what: str) -> float | None:
    raw = forms.text(form, name)
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValidationFailed(f"{what} must be a number, not {raw!r}", field=name) from None


def _settings_context(
    db: Session,
    actor: Actor,
    *,
    error: FormError | None = None,
    values: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    found = service.promise_settings(db, organization_id=actor.organization_id)
    shown = values or {
        "default": "hours" if found.default_hours is not None else "next_day",
        "default_hours": f"{found.default_hours:g}" if found.default_hours is not None else "",
        "reminder_minutes": str(found.reminder_minutes),
    }
    return {
        **page_context(db, actor),
        "section": "promises",
        "values": shown,
        "error": error,
        "max_hours": service.MAX_DEFAULT_HOURS,
        "max_minutes": service.MAX_REMINDER_MINUTES,
    }


@router.get("/admin/promises")
def promise_settings_page(request: Request, actor: RoutingAdmin, db: DB) -> Response:
    context = _settings_context(db, actor)
    context["saved"] = request.query_params.get("saved") == "1"
    return render(request, "commitments/settings.html", context)


@router.post("/admin/promises")
def save_promise_settings(
    request: Request, actor: RoutingAdmin, form: forms.PostedForm, db: DB
) -> Response:
    def act() -> None:
        by_hours = forms.text(form, "default") == "hours"
        hours = _number_field(form, "default_hours", "the default due time")
        if by_hours and hours is None:
            raise ValidationFailed(
                "say how many hours, or choose the next business day", field="default_hours"
            )
        reminder = _number_field(form, "reminder_minutes", "the reminder")
        if reminder is None or reminder != int(reminder):
            raise ValidationFailed(
                "the reminder must be a whole number of minutes", field="reminder_minutes"
            )
        service.save_promise_settings(
            db,
            organization_id=actor.organization_id,
            actor=actor.member,
            default_hours=hours if by_hours else None,
            reminder_minutes=int(reminder),
        )

    error = attempt(db, "settings", act)
    if error is None:
        return RedirectResponse("/admin/promises?saved=1", status_code=303)
    values = {
        name: forms.text(form, name) for name in ("default", "default_hours", "reminder_minutes")
    }
    return render(
        request,
        "commitments/settings.html",
        _settings_context(db, actor, error=error, values=values),
        status_code=UNPROCESSABLE,
    )
