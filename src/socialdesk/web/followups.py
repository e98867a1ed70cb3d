"""Desk pages of the followups domain: the conversation's follow-up panel (send now, cancel,
the customer's opt-out), the follow-up settings (/admin/follow-ups) and the care report
(/reports/care).

Every form works without JavaScript (a POST answered by a redirect); with HTMX the panel's
forms swap the panel. A service's refusal is shown beside the form with status 422.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common.deps import DB, Actor, Manager, Reader, RoutingAdmin
from socialdesk.common.errors import ValidationFailed
from socialdesk.connectors.base import ChannelKind
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation
from socialdesk.followups import api as followups_api
from socialdesk.followups import metrics, service
from socialdesk.followups.models import FollowUp, FollowUpPolicy, Survey
from socialdesk.web import forms
from socialdesk.web import viewmodels as vm
from socialdesk.web.admin import page_context
from socialdesk.web.forms import FormError, PathId, attempt
from socialdesk.web.render import UNPROCESSABLE, is_htmx, render

router = APIRouter(include_in_schema=False)

PANEL_FORM = "followups"
STATUS_LABELS = {
    "scheduled": "Scheduled",
    "sending": "Sending",
    "sent": "Sent, waiting for an answer",
    "answered": "Answered",
    "skipped": "Skipped",
    "task": "To do by hand",
    "cancelled": "Cancelled",
}
ANSWER_LABELS = {"positive": "Fixed", "negative": "Still not fixed", "unclear": "Unclear"}
SURVEY_LABELS = {
    Survey.NONE.value: "No survey",
    Survey.SCALE.value: "Score from 1 to 5",
    Survey.THUMBS.value: "Thumbs up or down",
}


# -- the conversation's panel -------------------------------------------------------------


def satisfaction_label(follow_up: FollowUp) -> str:
    if follow_up.satisfaction is None:
        return ""
    if follow_up.survey == Survey.THUMBS.value:
        return "👍" if follow_up.satisfaction >= 4 else "👎"
    return f"{follow_up.satisfaction}/5"


def _panel(
    request: Request,
    db: Session,
    actor: Actor,
    conversation: Conversation,
    *,
    error: FormError | None = None,
) -> Response:
    rows = service.for_conversation(db, conversation_id=conversation.id, limit=10)
    account = db.get(BrandAccount, conversation.brand_account_id)
    policy = service.effective_policy(db, account=account) if account else service.BUILTIN
    return render(
        request,
        "followups/panel.html",
        {
            **page_context(db, actor),
            "c": conversation,
            "current": rows[0] if rows else None,
            "earlier": rows[1:],
            "policy": policy,
            "opted_out_at": service.opted_out(db, conversation=conversation),
            "has_contact": conversation.contact_id is not None,
            "error": error,
            "status_labels": STATUS_LABELS,
            "answer_labels": ANSWER_LABELS,
            "satisfaction_label": satisfaction_label,
            "delay_words": delay_words,
        },
        status_code=UNPROCESSABLE if error else 200,
    )


def _conversation(db: Session, actor: Actor, conversation_id: int) -> Conversation:
    return conversations_service.get_or_raise(
        db, organization_id=actor.organization_id, conversation_id=conversation_id
    )


@router.get("/conversations/{conversation_id}/panels/followups")
def followups_panel(request: Request, conversation_id: PathId, actor: Reader, db: DB) -> Response:
    return _panel(request, db, actor, _conversation(db, actor, conversation_id))


def _panel_action(
    request: Request,
    db: Session,
    actor: Actor,
    conversation_id: int,
    form: FormData,
    *,
    action: Callable[[Mapping[str, Any], Conversation], object],
) -> Response:
    conversation = _conversation(db, actor, conversation_id)
    error = attempt(db, PANEL_FORM, lambda: action(form, conversation))
    if error is None and not is_htmx(request):
        return RedirectResponse(f"/conversations/{conversation.id}", status_code=303)
    return _panel(request, db, actor, conversation, error=error)


@router.post("/conversations/{conversation_id}/followups/send-now")
def send_now(
    request: Request, conversation_id: PathId, actor: Manager, form: forms.PostedForm, db: DB
) -> Response:
    def act(_form: Mapping[str, Any], conversation: Conversation) -> None:
        follow_up = service.waiting_for(db, conversation=conversation)
        service.send_now(db, follow_up=follow_up, actor=actor.member)

    return _panel_action(request, db, actor, conversation_id, form, action=act)


@router.post("/conversations/{conversation_id}/followups/cancel")
def cancel(
    request: Request, conversation_id: PathId, actor: Manager, form: forms.PostedForm, db: DB
) -> Response:
    def act(_form: Mapping[str, Any], conversation: Conversation) -> None:
        follow_up = service.waiting_for(db, conversation=conversation)
        service.cancel(db, follow_up=follow_up, actor=actor.member)

    return _panel_action(request, db, actor, conversation_id, form, action=act)


@router.post("/conversations/{conversation_id}/followups/opt-out")
def opt_out(
    request: Request, conversation_id: PathId, actor: Manager, form: forms.PostedForm, db: DB
) -> Response:
    def act(form: Mapping[str, Any], conversation: Conversation) -> None:
        choice = forms.text(form, "opted_out")
        if choice not in ("0", "1"):
            raise ValidationFailed("opted_out must be 1 or 0", field="opted_out")
        service.set_opt_out(
            db, conversation=conversation, opted_out=choice == "1", actor=actor.member
        )

    return _panel_action(request, db, actor, conversation_id, form, action=act)


# -- settings -----------------------------------------------------------------------------


def delay_words(minutes: int) -> str:
    if minutes == 0:
        return "right away"
    days, rest = divmod(minutes, 60 * 24)
    hours, mins = divmod(rest, 60)
    parts = [
        f"{n} {unit}{'s' if n != 1 else ''}"
        for n, unit in ((days, "day"), (hours, "hour"), (mins, "minute"))
        if n
    ]
    return " ".join(parts)


def scope_key(policy: FollowUpPolicy) -> str:
    if policy.brand_account_id is not None:
        return f"account:{policy.brand_account_id}"
    if policy.channel:
        return f"channel:{policy.channel}"
    return "org"


def parse_scope(raw: str) -> tuple[int | None, str | None]:
    """ "org", "channel:<kind>" or "account:<id>" -> (brand_account_id, channel)."""
    if raw in ("", "org"):
        return None, None
    if raw.startswith("channel:"):
        return None, raw.removeprefix("channel:")
    if raw.startswith("account:"):
        try:
            return int(raw.removeprefix("account:")), None
        except ValueError:
            pass
    raise ValidationFailed(
        f"scope must be org, channel:<kind> or account:<id>, not {raw!r}", field="scope"
    )


def _delay_minutes(form: Mapping[str, Any]) -> int:
    raw = forms.text(form, "delay_hours")
    try:
        hours = float(raw)
    except ValueError:
        raise ValidationFailed(
            f"the delay must be a number of hours, not {raw!r}", field="delay_hours"
        ) from None
    if not 0 <= hours <= service.MAX_DELAY_MINUTES / 60:
        raise ValidationFailed(
            f"the delay must be between 0 and {service.MAX_DELAY_MINUTES // 60} hours",
            field="delay_hours",
        )
    return round(hours * 60)


@dataclass(frozen=True)
class ScopeChoice:
    key: str
    label: str


def _scope_choices(accounts: list[BrandAccount]) -> list[ScopeChoice]:
    choices = [ScopeChoice("org", "The whole organization (default)")]
    choices += [
        ScopeChoice(f"channel:{k.value}", f"Channel: {vm.channel_label(k.value)}")
        for k in ChannelKind
    ]
    choices += [
        ScopeChoice(
            f"account:{a.id}",
            f"Brand account: {a.display_name or a.handle} ({vm.channel_label(a.kind)})",
        )
        for a in accounts
    ]
    return choices


def _preview(template: str, survey: str) -> str | None:
    try:
        return service.render(template, dict(service.SAMPLE_VALUES), survey)
    except (ValidationFailed, ValueError):
        return None


def _settings_context(
    db: Session,
    actor: Actor,
    *,
    scope: str = "org",
    error: FormError | None = None,
    values: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    accounts = channels_service.list_for_org(db, organization_id=actor.organization_id)
    policies = service.list_policies(db, organization_id=actor.organization_id)
    labels = {c.key: c.label for c in _scope_choices(accounts)}
    editing = next((p for p in policies if scope_key(p) == scope), None)
    base = (
        {
            "enabled": "1" if editing.enabled else "",
            "delay_hours": f"{editing.delay_minutes / 60:g}",
            "template": editing.template,
            "survey": editing.survey,
        }
        if editing is not None
        else {
            "enabled": "1",
            "delay_hours": f"{service.BUILTIN_DELAY_MINUTES / 60:g}",
            "template": service.BUILTIN_TEMPLATE,
            "survey": Survey.NONE.value,
        }
    )
    shown = {**base, **(values or {})}
    return {
        **page_context(db, actor),
        "section": "follow-ups",
        "policies": [(p, scope_key(p), labels.get(scope_key(p), scope_key(p))) for p in policies],
        "choices": _scope_choices(accounts),
        "scope": scope,
        "editing": editing,
        "values": shown,
        "preview": _preview(shown["template"], shown["survey"]),
        "placeholders": service.PLACEHOLDERS,
        "surveys": SURVEY_LABELS,
        "builtin": service.BUILTIN,
        "delay_words": delay_words,
        "error": error,
    }


@router.get("/admin/follow-ups")
def settings_page(request: Request, actor: RoutingAdmin, db: DB) -> Response:
    scope = request.query_params.get("scope", "org")
    return render(request, "followups/settings.html", _settings_context(db, actor, scope=scope))


@router.post("/admin/follow-ups")
def save_settings(
    request: Request, actor: RoutingAdmin, form: forms.PostedForm, db: DB
) -> Response:
    scope = forms.text(form, "scope") or "org"

    def act() -> None:
        brand_account_id, channel = parse_scope(scope)
        service.save_policy(
            db,
            organization_id=actor.organization_id,
            actor=actor.member,
            brand_account_id=brand_account_id,
            channel=channel,
            enabled=forms.text(form, "enabled") == "1",
            delay_minutes=_delay_minutes(form),
            template=forms.text(form, "template"),
            survey=forms.text(form, "survey") or Survey.NONE.value,
        )

    error = attempt(db, "policy", act)
    if error is None:
        return RedirectResponse(f"/admin/follow-ups?scope={scope}", status_code=303)
    values = {
        "enabled": forms.text(form, "enabled"),
        "delay_hours": forms.text(form, "delay_hours"),
        "template": forms.text(form, "template"),
        "survey": forms.text(form, "survey"),
    }
    return render(
        request,
        "followups/settings.html",
        _settings_context(db, actor, scope=scope, error=error, values=values),
        status_code=UNPROCESSABLE,
    )


@router.post("/admin/follow-ups/delete")
def delete_settings(
    request: Request, actor: RoutingAdmin, form: forms.PostedForm, db: DB
) -> Response:
    scope = forms.text(form, "scope")

    def act() -> None:
        brand_account_id, channel = parse_scope(scope)
        service.delete_policy(
            db,
            organization_id=actor.organization_id,
            actor=actor.member,
            brand_account_id=brand_account_id,
            channel=channel,
        )

    error = attempt(db, "delete", act)
    if error is None:
        return RedirectResponse("/admin/follow-ups", status_code=303)
    return render(
        request,
        "followups/settings.html",
        _settings_context(db, actor, error=error),
        status_code=UNPROCESSABLE,
    )


# -- the care report ----------------------------------------------------------------------


def _report(request: Request, db: Session, actor: Actor) -> metrics.CareReport:
    return followups_api.build_report(
        db,
        actor.organization_id,
        forms.optional_date(request.query_params, "start"),
        forms.optional_date(request.query_params, "end"),
    )


def percent(value: float | None) -> str:
    return "—" if value is None else f"{round(value * 100)}%"


@router.get("/reports/care")
def care_page(request: Request, actor: Reader, db: DB) -> Response:
    shown, status = forms.report_range(request, lambda: _report(request, db, actor))
    return render(
        request,
        "followups/care.html",
        {**page_context(db, actor), **shown, "percent": percent, "scores": metrics.SCORES},
        status_code=status,
    )


@router.get("/reports/care.csv")
def care_csv(request: Request, actor: Reader, db: DB) -> Response:
    return followups_api.csv_response(_report(request, db, actor))
