"""Desk pages of the sla domain: business hours and SLA policies (admins), a conversation's
SLA panel, and the SLA report with its CSV export.

Thin like the rest of the web layer: forms are read into the same values the API takes, the
same services do the work, and a refusal is shown beside its form with status 422.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from socialdesk.channels import service as channels_service
from socialdesk.common import clock, spreadsheet
from socialdesk.common.deps import DB, Actor, Reader, RoutingAdmin
from socialdesk.common.errors import ValidationFailed
from socialdesk.connectors.base import ChannelKind
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Priority
from socialdesk.schedules import service as schedules_service
from socialdesk.schedules.hours import WEEKDAY_NAMES
from socialdesk.schedules.models import BusinessHours
from socialdesk.sla import jobs as sla_jobs
from socialdesk.sla import reports, tracking
from socialdesk.sla import service as sla_service
from socialdesk.sla.alerts import TARGET_LABELS
from socialdesk.sla.models import SlaClock, SlaPolicy
from socialdesk.sla.schemas import SlaPolicyCreate, SlaPolicyUpdate
from socialdesk.web import forms
from socialdesk.web.admin import page_context
from socialdesk.web.forms import FormError, PathId, attempt
from socialdesk.web.render import UNPROCESSABLE, duration_words, render

router = APIRouter(include_in_schema=False)

# Every zone the system knows, for the select; the common ones people look for are in there.
ZONES = tuple(sorted(z for z in available_timezones() if "/" in z or z == "UTC"))
PRIORITY_NAMES = {p.value: p.name.lower() for p in Priority}


# -- form parsing -----------------------------------------------------------------------------

_INTERVAL = re.compile(r"^\s*(\d{1,2}:\d{2})\s*[-\u2013\u2014]\s*(\d{1,2}:\d{2})\s*$")
_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*$")


def day_field(day: int) -> str:
    return f"day_{day}"


def intervals_from_form(form: Mapping[str, object]) -> dict[str, list[list[str]]]:
    """Each weekday's text ("09:00-12:00, 13:00-17:00"; empty: closed) as stored intervals."""
    out: dict[str, list[list[str]]] = {}
    for day, name in enumerate(WEEKDAY_NAMES):
        raw = forms.text(form, day_field(day))
        pieces = [p for p in re.split(r"[,;\n]+", raw) if p.strip()]
        pairs: list[list[str]] = []
        for piece in pieces:
            match = _INTERVAL.match(piece)
            if match is None:
                raise ValidationFailed(
                    f"{name}: {piece.strip()!r} is not an interval like 09:00-17:00",
                    field=day_field(day),
                )
            start, end = (value.zfill(5) for value in match.groups())
            pairs.append([start, end])
        if pairs:
            out[str(day)] = pairs
    return out


def holidays_from_form(form: Mapping[str, object]) -> list[str]:
    return [p.strip() for p in re.split(r"[,;\s]+", forms.text(form, "holidays")) if p.strip()]


def intervals_text(intervals: Mapping[str, list[list[str]]]) -> dict[int, str]:
    return {
        day: ", ".join(f"{a}-{b}" for a, b in intervals.get(str(day), []))
        for day in range(len(WEEKDAY_NAMES))
    }


def minutes_from_form(form: Mapping[str, object], name: str) -> int | None:
    """A target: minutes ("90"), or hours and minutes ("1h 30m", "2d"); empty: none."""
    raw = forms.text(form, name).lower()
    if not raw:
        return None
    if raw.isdigit():
        return int(raw)
    match = _DURATION.match(raw)
    if match is None or not any(match.groups()):
        raise ValidationFailed(
            f"{raw!r} is not a duration: write minutes (90) or hours (1h 30m, 2d)", field=name
        )
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    return days * 1440 + hours * 60 + minutes


def minutes_text(minutes: int | None) -> str:
    if minutes is None:
        return ""
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{mins}m" if mins else ""]
    return " ".join(p for p in parts if p) or "0m"


def policy_fields(form: Mapping[str, object]) -> dict[str, Any]:
    priority = forms.text(form, "priority")
    if priority and priority not in {str(v) for v in PRIORITY_NAMES}:
        raise ValidationFailed(f"priority {priority!r} is not one of the four", field="priority")
    warn = minutes_from_form(form, "warn_before_minutes")
    return {
        "name": forms.text(form, "name"),
        "enabled": forms.text(form, "enabled") == "1",
        "priority": int(priority) if priority else None,
        "channel": forms.text(form, "channel") or None,
        "brand_account_id": forms.optional_id(form, "brand_account_id"),
        "first_response_minutes": minutes_from_form(form, "first_response_minutes"),
        "next_response_minutes": minutes_from_form(form, "next_response_minutes"),
        "resolution_minutes": minutes_from_form(form, "resolution_minutes"),
        "business_hours_id": forms.optional_id(form, "business_hours_id"),
        "warn_before_minutes": 0 if warn is None else warn,
    }


# -- business hours ---------------------------------------------------------------------------


def _hours_values(row: BusinessHours | None, form: Mapping[str, object] | None) -> dict[str, Any]:
    """What the form shows: what was typed (after a refusal) or what is stored."""
    if form is not None:
        return {
            "name": forms.text(form, "name"),
            "timezone": forms.text(form, "timezone"),
            "days": {d: forms.text(form, day_field(d)) for d in range(len(WEEKDAY_NAMES))},
            "holidays": forms.text(form, "holidays"),
        }
    if row is None:
        return {
            "name": "",
            "timezone": "",
            "days": {d: "09:00-17:00" if d < 5 else "" for d in range(len(WEEKDAY_NAMES))},
            "holidays": "",
        }
    return {
        "name": row.name,
        "timezone": row.timezone,
        "days": intervals_text(row.intervals),
        "holidays": "\n".join(row.holidays),
    }


def _hours_context(
    db: Session,
    actor: Actor,
    *,
    editing: BusinessHours | None = None,
    error: FormError | None = None,
    form: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    context = page_context(db, actor)
    rows = schedules_service.list_hours(db, organization_id=actor.organization_id)
    values = _hours_values(editing, form)
    if not values["timezone"]:
        values["timezone"] = context["org"].timezone or "UTC"
    return {
        **context,
        "section": "business-hours",
        "rows": rows,
        "users": {r.id: schedules_service.users_of(db, hours=r) for r in rows},
        "editing": editing,
        "values": values,
        "weekdays": list(enumerate(WEEKDAY_NAMES)),
        "zones": ZONES,
        "error": error,
        "intervals_text": intervals_text,
    }


def _hours_answer(
    request: Request,
    db: Session,
    actor: Actor,
    error: FormError | None,
    *,
    form: Mapping[str, object] | None = None,
    editing_id: int | None = None,
    resync: bool = False,
) -> Response:
    """After a form on the business hours page: the page again with the refusal (and what was
    typed), or back to the list, first working the open clocks out again if ``resync`` (the
    hours may be in use)."""
    if error:
        editing = _hours(db, actor, editing_id) if editing_id is not None else None
        return render(
            request,
            "sla/business_hours.html",
            _hours_context(db, actor, editing=editing, error=error, form=form),
            status_code=UNPROCESSABLE,
        )
    if resync:
        sla_jobs.enqueue_resync(db, organization_id=actor.organization_id)
    return RedirectResponse("/admin/business-hours", status_code=303)


@router.get("/admin/business-hours")
def business_hours_page(request: Request, actor: RoutingAdmin, db: DB) -> Response:
    return render(request, "sla/business_hours.html", _hours_context(db, actor))


@router.post("/admin/business-hours")
def create_business_hours(
    request: Request, actor: RoutingAdmin, form: forms.PostedForm, db: DB
) -> Response:
    error = attempt(
        db,
        "hours",
        lambda: schedules_service.create(
            db,
            organization_id=actor.organization_id,
            name=forms.text(form, "name"),
            timezone=forms.text(form, "timezone") or "UTC",
            intervals=intervals_from_form(form),
            holidays=holidays_from_form(form),
        ),
    )
    return _hours_answer(request, db, actor, error, form=form)


def _hours(db: Session, actor: Actor, business_hours_id: int) -> BusinessHours:
    return schedules_service.get_or_raise(
        db, organization_id=actor.organization_id, business_hours_id=business_hours_id
    )


@router.get("/admin/business-hours/{business_hours_id}")
def business_hours_edit_page(
    request: Request, business_hours_id: PathId, actor: RoutingAdmin, db: DB
) -> Response:
    row = _hours(db, actor, business_hours_id)
    return render(request, "sla/business_hours.html", _hours_context(db, actor, editing=row))


@router.post("/admin/business-hours/{business_hours_id}")
def update_business_hours(
    request: Request, business_hours_id: PathId, actor: RoutingAdmin, form: forms.PostedForm, db: DB
) -> Response:
    row = _hours(db, actor, business_hours_id)
    error = attempt(
        db,
        "hours",
        lambda: schedules_service.update(
            db,
            hours=row,
            name=forms.text(form, "name"),
            timezone=forms.text(form, "timezone") or "UTC",
            intervals=intervals_from_form(form),
            holidays=holidays_from_form(form),
        ),
    )
    return _hours_answer(
        request, db, actor, error, form=form, editing_id=business_hours_id, resync=True
    )


@router.post("/admin/business-hours/{business_hours_id}/delete")
def delete_business_hours(
    request: Request, business_hours_id: PathId, actor: RoutingAdmin, db: DB
) -> Response:
    row = _hours(db, actor, business_hours_id)
    error = attempt(db, "list", lambda: schedules_service.delete(db, hours=row))
    return _hours_answer(request, db, actor, error)


# -- policies ---------------------------------------------------------------------------------


def _policy_values(policy: SlaPolicy | None, form: Mapping[str, object] | None) -> dict[str, Any]:
    if form is not None:
        keys = (
            "name",
            "priority",
            "channel",
            "brand_account_id",
            "business_hours_id",
            "first_response_minutes",
            "next_response_minutes",
            "resolution_minutes",
            "warn_before_minutes",
        )
        values: dict[str, Any] = {k: forms.text(form, k) for k in keys}
        values["enabled"] = forms.text(form, "enabled") == "1"
        return values
    if policy is None:
        return {
            "name": "",
            "enabled": True,
            "priority": "",
            "channel": "",
            "brand_account_id": "",
            "business_hours_id": "",
            "first_response_minutes": "1h",
            "next_response_minutes": "",
            "resolution_minutes": "",
            "warn_before_minutes": "15m",
        }
    return {
        "name": policy.name,
        "enabled": policy.enabled,
        "priority": "" if policy.priority is None else str(policy.priority),
        "channel": policy.channel or "",
        "brand_account_id": str(policy.brand_account_id or ""),
        "business_hours_id": str(policy.business_hours_id or ""),
        "first_response_minutes": minutes_text(policy.first_response_minutes),
        "next_response_minutes": minutes_text(policy.next_response_minutes),
        "resolution_minutes": minutes_text(policy.resolution_minutes),
        "warn_before_minutes": minutes_text(policy.warn_before_minutes),
    }


def _policies_context(
    db: Session,
    actor: Actor,
    *,
    editing: SlaPolicy | None = None,
    error: FormError | None = None,
    form: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    hours = schedules_service.list_hours(db, organization_id=actor.organization_id)
    accounts = channels_service.list_for_org(db, organization_id=actor.organization_id)
    return {
        **page_context(db, actor),
        "section": "sla",
        "policies": sla_service.list_policies(db, organization_id=actor.organization_id),
        "editing": editing,
        "values": _policy_values(editing, form),
        "error": error,
        "hours": hours,
        "hours_names": {h.id: h.name for h in hours},
        "accounts": accounts,
        "account_names": {a.id: a.display_name or a.handle for a in accounts},
        "channels": [k.value for k in ChannelKind],
        "priorities": PRIORITY_NAMES,
        "minutes_text": minutes_text,
    }


def _policies_answer(
    request: Request,
    db: Session,
    actor: Actor,
    error: FormError | None,
    *,
    form: Mapping[str, object] | None = None,
    editing_id: int | None = None,
) -> Response:
    """After a form on the policies page: the page again with the refusal (and what was
    typed), or back to the list with the open clocks worked out again under the policies as
    they are now."""
    if error:
        editing = _policy(db, actor, editing_id) if editing_id is not None else None
        return render(
            request,
            "sla/policies.html",
            _policies_context(db, actor, editing=editing, error=error, form=form),
            status_code=UNPROCESSABLE,
        )
    sla_jobs.enqueue_resync(db, organization_id=actor.organization_id)
    return RedirectResponse("/admin/sla", status_code=303)


@router.get("/admin/sla")
def sla_page(request: Request, actor: RoutingAdmin, db: DB) -> Response:
    return render(request, "sla/policies.html", _policies_context(db, actor))


@router.post("/admin/sla/policies")
def create_policy(
    request: Request, actor: RoutingAdmin, form: forms.PostedForm, db: DB
) -> Response:
    error = attempt(
        db,
        "policy",
        lambda: sla_service.create(
            db, organization_id=actor.organization_id, data=SlaPolicyCreate(**policy_fields(form))
        ),
    )
    return _policies_answer(request, db, actor, error, form=form)


def _policy(db: Session, actor: Actor, sla_policy_id: int) -> SlaPolicy:
    return sla_service.get_or_raise(
        db, organization_id=actor.organization_id, policy_id=sla_policy_id
    )


@router.get("/admin/sla/policies/{sla_policy_id}")
def policy_edit_page(
    request: Request, sla_policy_id: PathId, actor: RoutingAdmin, db: DB
) -> Response:
    found = _policy(db, actor, sla_policy_id)
    return render(request, "sla/policies.html", _policies_context(db, actor, editing=found))


@router.post("/admin/sla/policies/{sla_policy_id}")
def update_policy(
    request: Request, sla_policy_id: PathId, actor: RoutingAdmin, form: forms.PostedForm, db: DB
) -> Response:
    found = _policy(db, actor, sla_policy_id)
    error = attempt(
        db,
        "policy",
        lambda: sla_service.update_policy(
            db, policy=found, data=SlaPolicyUpdate(**policy_fields(form))
        ),
    )
    return _policies_answer(request, db, actor, error, form=form, editing_id=sla_policy_id)


@router.post("/admin/sla/policies/{sla_policy_id}/move")
def move_policy(
    request: Request, sla_policy_id: PathId, actor: RoutingAdmin, form: forms.PostedForm, db: DB
) -> Response:
    found = _policy(db, actor, sla_policy_id)
    step = -1 if forms.text(form, "direction") == "up" else 1
    sla_service.move_to(db, policy=found, position=max(found.position + step, 0))
    sla_jobs.enqueue_resync(db, organization_id=actor.organization_id)
    return RedirectResponse("/admin/sla", status_code=303)


@router.post("/admin/sla/policies/{sla_policy_id}/delete")
def delete_policy(request: Request, sla_policy_id: PathId, actor: RoutingAdmin, db: DB) -> Response:
    found = _policy(db, actor, sla_policy_id)
    error = attempt(db, "list", lambda: sla_service.delete(db, policy=found))
    return _policies_answer(request, db, actor, error)


# -- the conversation's panel -----------------------------------------------------------------


@dataclass(frozen=True)
class ClockView:
    row: SlaClock
    label: str
    state: str  # running, paused, met, breached, cancelled
    left_seconds: float | None  # wall-clock time to the due time (negative: overdue)
    business_left_seconds: float | None  # open time left, where business hours count
    used: str  # "12m" of target time used (stopped clocks)


@dataclass(frozen=True)
class HoursNote:
    name: str
    timezone: str
    open_now: bool
    next_opening: datetime | None


def clock_views(
    db: Session, rows: list[SlaClock], policies: dict[int, SlaPolicy], now: datetime
) -> list[ClockView]:
    views: list[ClockView] = []
    for row in rows:
        policy = policies.get(row.policy_id)
        hours = schedules_service.weekly(
            db, business_hours_id=policy.business_hours_id if policy else None
        )
        business = policy is not None and policy.business_hours_id is not None
        label = TARGET_LABELS.get(row.target, row.target)
        if row.stopped_at is not None:
            if row.breached_at is not None:
                state = "breached"
            elif row.elapsed_seconds is None:
                state = "cancelled"
            else:
                state = "met"
            used = duration_words(row.elapsed_seconds) if row.elapsed_seconds is not None else ""
            views.append(ClockView(row, label, state, None, None, used))
            continue
        if row.paused_at is not None:
            left = hours.seconds_between(row.paused_at, row.due_at)
            views.append(ClockView(row, label, "paused", None, left, ""))
            continue
        left_wall = (row.due_at - now).total_seconds()
        business_left = hours.seconds_between(now, row.due_at) if business else None
        state = "breached" if row.breached_at is not None or left_wall < 0 else "running"
        views.append(ClockView(row, label, state, left_wall, business_left, ""))
    return views


@router.get("/conversations/{conversation_id}/panels/sla")
def sla_panel(request: Request, conversation_id: PathId, actor: Reader, db: DB) -> Response:
    conversation = conversations_service.get_or_raise(
        db, organization_id=actor.organization_id, conversation_id=conversation_id
    )
    now = clock.now()
    rows = tracking.clocks_of(db, conversation_id=conversation.id)
    policies = {
        p.id: p for p in sla_service.list_policies(db, organization_id=actor.organization_id)
    }
    views = clock_views(db, rows, policies, now)
    current = policies.get(conversation.sla_policy_id) if conversation.sla_policy_id else None
    note: HoursNote | None = None
    if current is not None and current.business_hours_id is not None:
        stored = schedules_service.get_or_raise(
            db, organization_id=actor.organization_id, business_hours_id=current.business_hours_id
        )
        week = schedules_service.weekly(db, business_hours_id=stored.id)
        open_now = week.is_open(now)
        note = HoursNote(
            name=stored.name,
            timezone=stored.timezone,
            open_now=open_now,
            next_opening=None if open_now else week.next_opening(now),
        )
    context = page_context(db, actor)
    return render(
        request,
        "sla/panel.html",
        {
            **context,
            "c": conversation,
            "policy": current,
            "live": [
                v
                for v in views
                if v.state in ("running", "paused", "breached") and v.row.stopped_at is None
            ],
            "past": [v for v in views if v.row.stopped_at is not None],
            "note": note,
            "warn_seconds": (current.warn_before_minutes * 60) if current else 900,
            "words": duration_words,
        },
    )


# -- reports ------------------------------------------------------------------------------------


def _report(request: Request, db: Session, actor: Actor) -> reports.Report:
    start, end = reports.resolve_range(
        db,
        organization_id=actor.organization_id,
        start=forms.optional_date(request.query_params, "start"),
        end=forms.optional_date(request.query_params, "end"),
    )
    return reports.sla_report(db, organization_id=actor.organization_id, start=start, end=end)


@router.get("/reports")
def reports_page(request: Request, actor: Reader, db: DB) -> Response:
    context = page_context(db, actor)
    shown, status = forms.report_range(request, lambda: _report(request, db, actor))
    return render(
        request,
        "sla/reports.html",
        {
            **context,
            **shown,
            "dimensions": [
                ("team", "Per team"),
                ("member", "Per member"),
                ("channel", "Per channel"),
                ("priority", "Per priority"),
            ],
            "words": duration_words,
        },
        status_code=status,
    )


@router.get("/reports/sla.csv")
def reports_csv(request: Request, actor: Reader, db: DB) -> Response:
    found = _report(request, db, actor)
    name = f"sla-{found.start.isoformat()}-{found.end.isoformat()}.csv"
    return spreadsheet.download(reports.to_csv(found), name)
