"""Desk pages of the alerts domain: the organization's volume alerts (/admin/alerts), the form
that adds or changes one, and, on an alert's own page, its latest firings.

They need RoutingAdmin, like the automation pages: an alert is one more rule about the desk's
traffic, kept by the same people. The form sends plain fields, read here into an
``AlertSpec`` (a number that does not read is refused before the service is called, naming
its field); the service checks everything else. A refusal is shown beside the form with what
was typed, status 422. Every form carries the session's CSRF token and works without
JavaScript (POST, then a redirect to the list).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.alerts import service
from socialdesk.alerts.models import NotifyTo, VolumeAlert
from socialdesk.common.deps import DB, Actor, RoutingAdmin
from socialdesk.common.errors import ValidationFailed
from socialdesk.common.pagination import MAX_ROW_ID
from socialdesk.connectors.base import ChannelKind
from socialdesk.triage.classify import INTENTS, SENTIMENTS
from socialdesk.web import forms
from socialdesk.web import viewmodels as vm
from socialdesk.web.admin import page_context
from socialdesk.web.followups import delay_words
from socialdesk.web.forms import FormError, PathId, attempt
from socialdesk.web.render import UNPROCESSABLE, render
from socialdesk.web.topics import inbox_search

router = APIRouter(include_in_schema=False)

LIST = "/admin/alerts"
FORM_NAME = "alert"
NOTIFY_LABELS = {
    NotifyTo.TEAM_LEAD.value: "the team's lead",
    NotifyTo.TEAM.value: "everyone in the team",
    NotifyTo.MEMBER.value: "one member",
    NotifyTo.ADMINS.value: "owners and admins",
}
# The stored filter has three states (complaints, not complaints, either), so the form offers
# three; "1" is what a "complaints only" tick would send.
COMPLAINT_LABELS = {"": "any message", "1": "complaints only", "0": "not complaints"}
_YES, _NO = ("1", "true", "on"), ("0", "false")


# -- the form ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertForm:
    """An alert as the form shows it: every field as text, so a refused form shows back
    exactly what was typed."""

    name: str = ""
    complaint: str = ""
    intent: str = ""
    sentiment: str = ""
    channel: str = ""
    words: str = ""
    window_minutes: str = "15"
    threshold: str = ""
    baseline_factor: str = ""
    notify_to: str = NotifyTo.ADMINS.value  # works without choosing a team first
    team_id: str = ""
    member_id: str = ""
    webhook: bool = False
    enabled: bool = True

    @classmethod
    def of(cls, alert: VolumeAlert) -> AlertForm:
        """A stored alert, ready to change."""
        filters = alert.filters or {}
        complaint = filters.get("complaint")
        return cls(
            name=alert.name,
            complaint="" if complaint is None else ("1" if complaint else "0"),
            intent=str(filters.get("intent", "")),
            sentiment=str(filters.get("sentiment", "")),
            channel=str(filters.get("channel", "")),
            words=", ".join(filters.get("words") or []),
            window_minutes=str(alert.window_minutes),
            threshold=str(alert.threshold),
            baseline_factor=factor_text(alert.baseline_factor),
            notify_to=alert.notify_to,
            team_id="" if alert.team_id is None else str(alert.team_id),
            member_id="" if alert.member_id is None else str(alert.member_id),
            webhook=alert.webhook,
            enabled=alert.enabled,
        )

    @classmethod
    def suggested(cls, params: Mapping[str, str]) -> AlertForm:
        """A new alert started from elsewhere (a topic of the topics report): its name and
        filters from the query string, the rest as a new form has them; the service checks
        them when the form is saved."""

        def given(key: str) -> str:
            return (params.get(key) or "").strip()[:200]

        return cls(
            name=given("name"),
            complaint=given("complaint").lower(),
            intent=given("intent"),
            sentiment=given("sentiment"),
            channel=given("channel"),
            words=given("words"),
        )

    @classmethod
    def read(cls, form: Mapping[str, object]) -> AlertForm:
        """The submitted form; an unticked checkbox is not sent, so it reads as off."""
        return cls(
            name=forms.text(form, "name"),
            complaint=forms.text(form, "complaint").lower(),
            intent=forms.text(form, "intent"),
            sentiment=forms.text(form, "sentiment"),
            channel=forms.text(form, "channel"),
            words=forms.text(form, "words"),
            window_minutes=forms.text(form, "window_minutes"),
            threshold=forms.text(form, "threshold"),
            baseline_factor=forms.text(form, "baseline_factor"),
            notify_to=forms.text(form, "notify_to"),
            team_id=forms.text(form, "team_id"),
            member_id=forms.text(form, "member_id"),
            webhook=bool(forms.text(form, "webhook")),
            enabled=bool(forms.text(form, "enabled")),
        )

    def filters(self) -> dict[str, Any]:
        """The filters as the service takes them; it drops the empty ones and checks the rest."""
        chosen: dict[str, Any] = {
            "intent": self.intent,
            "sentiment": self.sentiment,
            "channel": self.channel,
            "words": [w for w in (part.strip() for part in self.words.split(",")) if w],
        }
        if self.complaint in _YES:
            chosen["complaint"] = True
        elif self.complaint in _NO:
            chosen["complaint"] = False
        elif self.complaint:
            raise ValidationFailed(
                "the complaints filter must be empty (any message), 1 (complaints only) or 0 "
                f"(not complaints), not {_shown(self.complaint)}",
                field="complaint",
            )
        return chosen

    def spec(self) -> service.AlertSpec:
        """What the service takes; a number that does not read is refused here."""
        return service.AlertSpec(
            name=self.name,
            filters=self.filters(),
            window_minutes=whole_number(self.window_minutes, "window_minutes", "minutes"),
            threshold=whole_number(self.threshold, "threshold", "messages"),
            baseline_factor=optional_factor(self.baseline_factor),
            notify_to=self.notify_to,
            team_id=optional_id(self.team_id, "team_id"),
            member_id=optional_id(self.member_id, "member_id"),
            webhook=self.webhook,
            enabled=self.enabled,
        )


def whole_number(raw: str, field: str, unit: str) -> int:
    """A required count from a number field; the service checks its range."""
    try:
        return int(raw)
    except ValueError:
        shown = f"not {_shown(raw)}" if raw else "it is empty"
        raise ValidationFailed(
            f"{field} must be a whole number of {unit}, {shown}", field=field
        ) from None


def optional_factor(raw: str) -> float | None:
    """The baseline factor: empty means the threshold alone; decimals like 2.5 are fine."""
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValidationFailed(
            f"baseline_factor must be a number like 2 or 2.5, or empty, not {_shown(raw)}",
            field="baseline_factor",
        ) from None


def optional_id(raw: str, field: str) -> int | None:
    """A team or member from a select: empty means none. Past a 64-bit row id the databases
    cannot even look it up (an error, not "no such row"), so it is refused here."""
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_ROW_ID):
        raise ValidationFailed(
            f"{field} must be an id from the list, not {_shown(raw)}", field=field
        )
    return int(raw)


def _shown(raw: str) -> str:
    """What was typed, quoted, and cut short: the message must fit beside the form."""
    return repr(raw if len(raw) <= 40 else raw[:40] + "…")


def factor_text(factor: float | None) -> str:
    """2.0 as "2", 2.5 as "2.5": short, and read back as the same number."""
    return "" if factor is None else str(factor).removesuffix(".0")


# -- in words, for the list -------------------------------------------------------------------


def level_words(alert: VolumeAlert) -> str:
    """When the alert goes over: "at least 10 in 15 minutes", and the times-the-usual bar
    when it has one."""
    words = f"at least {alert.threshold} in {delay_words(alert.window_minutes)}"
    if alert.baseline_factor is not None:
        factor = factor_text(alert.baseline_factor)
        words += f", and ×{factor} the usual"  # noqa: RUF001 - the multiplication sign is meant
    return words


def told_words(alert: VolumeAlert, teams: Mapping[int, str], members: Mapping[int, str]) -> str:
    """Who hears of a firing: "the lead of Care, and Care's webhook"."""
    team = teams.get(alert.team_id or 0, "the team")
    if alert.notify_to == NotifyTo.TEAM_LEAD:
        words = f"the lead of {team}"
    elif alert.notify_to == NotifyTo.TEAM:
        words = f"everyone in {team}"
    elif alert.notify_to == NotifyTo.MEMBER:
        words = members.get(alert.member_id or 0, "a member")
    else:
        words = NOTIFY_LABELS.get(alert.notify_to, alert.notify_to)
    if alert.webhook:
        words += f", and {team}'s webhook"
    return words


@dataclass(frozen=True)
class AlertRow:
    """One alert of the list, with what it counts and who is told in words."""

    alert: VolumeAlert
    counts: str
    inbox: str
    level: str
    told: str
    standing_out: list[str]  # while it is over: what its surge talks about


# -- pages ------------------------------------------------------------------------------------


def _alert(db: Session, actor: Actor, alert_id: int) -> VolumeAlert:
    """The organization's alert, or the page-not-found page."""
    return service.get(db, organization_id=actor.organization_id, alert_id=alert_id)


def _names(db: Session, actor: Actor) -> tuple[dict[int, str], dict[int, str]]:
    """Every team's and member's name, those who have left too (an alert may still name one)."""
    teams = accounts_service.list_teams(db, organization_id=actor.organization_id)
    members = accounts_service.list_members(db, organization_id=actor.organization_id)
    return {t.id: t.name for t in teams}, {m.id: m.name for m in members}


@router.get("/admin/alerts")
def alerts_page(request: Request, actor: RoutingAdmin, db: DB) -> Response:
    teams, members = _names(db, actor)
    rows = [
        AlertRow(
            alert=alert,
            counts=service.describe(alert),
            inbox=service.inbox_link(alert),
            level=level_words(alert),
            told=told_words(alert, teams, members),
            standing_out=(firing.topics if firing else []),
        )
        for alert in service.list_alerts(db, organization_id=actor.organization_id)
        for firing in [service.current_firing(db, alert)]
    ]
    return render(
        request,
        "alerts/list.html",
        {**page_context(db, actor), "section": "alerts", "rows": rows, "topic_link": inbox_search},
    )


def _choices(db: Session, actor: Actor, alert_form: AlertForm) -> dict[str, Any]:
    """What the form's selects offer. A member who has left stays in the list while the alert
    names them, so saving it says so instead of quietly showing nobody."""
    members = [
        m
        for m in accounts_service.list_members(db, organization_id=actor.organization_id)
        if m.is_active or str(m.id) == alert_form.member_id
    ]
    return {
        "teams": accounts_service.list_teams(db, organization_id=actor.organization_id),
        "members": members,
        "complaint_labels": COMPLAINT_LABELS,
        "intents": INTENTS,
        "sentiments": SENTIMENTS,
        "channels": [(kind.value, vm.channel_label(kind.value)) for kind in ChannelKind],
        "notify_labels": NOTIFY_LABELS,
        "min_window": service.MIN_WINDOW,
        "max_window": service.MAX_WINDOW,
        "max_threshold": service.MAX_THRESHOLD,
        "min_factor": service.MIN_FACTOR,
        "max_factor": service.MAX_FACTOR,
    }


def _form_page(
    request: Request,
    db: Session,
    actor: Actor,
    *,
    alert_form: AlertForm,
    alert: VolumeAlert | None,
    error: FormError | None = None,
) -> Response:
    """The form to add an alert (``alert`` None) or change one, with the latter's firings."""
    return render(
        request,
        "alerts/alert.html",
        {
            **page_context(db, actor),
            **_choices(db, actor, alert_form),
            "section": "alerts",
            "form": alert_form,
            "alert": alert,
            "firings": service.firings(db, alert=alert) if alert is not None else [],
            # What stood out in a surge opens the inbox under the alert's own filters.
            "topic_link": inbox_search,
            "error": error,
        },
        status_code=UNPROCESSABLE if error else 200,
    )


def _saved_or_form(
    request: Request,
    db: Session,
    actor: Actor,
    *,
    alert_form: AlertForm,
    alert: VolumeAlert | None,
    save: Callable[[service.AlertSpec], object],
) -> Response:
    """Save from the form: back to the list when it worked, else the form again as typed with
    what was wrong (nothing is stored: ``attempt`` rolls the refusal back)."""
    error = attempt(db, FORM_NAME, lambda: save(alert_form.spec()))
    if error is None:
        return RedirectResponse(LIST, status_code=303)
    return _form_page(request, db, actor, alert_form=alert_form, alert=alert, error=error)


@router.get("/admin/alerts/new")
def new_alert(request: Request, actor: RoutingAdmin, db: DB) -> Response:
    return _form_page(
        request, db, actor, alert_form=AlertForm.suggested(request.query_params), alert=None
    )


@router.post("/admin/alerts")
def create_alert(request: Request, actor: RoutingAdmin, form: forms.PostedForm, db: DB) -> Response:
    return _saved_or_form(
        request,
        db,
        actor,
        alert_form=AlertForm.read(form),
        alert=None,
        save=lambda spec: service.create(
            db, organization_id=actor.organization_id, spec=spec, actor=actor.member
        ),
    )


@router.get("/admin/alerts/{alert_id}")
def edit_alert(request: Request, alert_id: PathId, actor: RoutingAdmin, db: DB) -> Response:
    alert = _alert(db, actor, alert_id)
    return _form_page(request, db, actor, alert_form=AlertForm.of(alert), alert=alert)


@router.post("/admin/alerts/{alert_id}")
def save_alert(
    request: Request, alert_id: PathId, actor: RoutingAdmin, form: forms.PostedForm, db: DB
) -> Response:
    alert = _alert(db, actor, alert_id)
    return _saved_or_form(
        request,
        db,
        actor,
        alert_form=AlertForm.read(form),
        alert=alert,
        save=lambda spec: service.update(db, alert=alert, spec=spec, actor=actor.member),
    )


@router.post("/admin/alerts/{alert_id}/delete")
def delete_alert(alert_id: PathId, actor: RoutingAdmin, db: DB) -> Response:
    service.delete(db, alert=_alert(db, actor, alert_id), actor=actor.member)
    return RedirectResponse(LIST, status_code=303)
