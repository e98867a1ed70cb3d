"""Desk pages of the routing domain: routing settings and rules (/admin/routing), automation
rules (/admin/automation), and each member's available / away switch (POST /me/availability).

Admin pages need RoutingAdmin; the availability switch is the member's own. Rules are edited
with a form of rows (one per condition and per action, with selects for fields, operators,
teams and members), never as raw JSON; the form is turned into the same JSON the API takes
and validated by the same service, whose errors name the condition or action and its field.
Every form carries the session's CSRF token and works without JavaScript (POST, then a
redirect); the availability switch also answers HTMX with its own fragment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member
from socialdesk.common.deps import DB, Actor, Reader, RoutingAdmin
from socialdesk.common.errors import ValidationFailed
from socialdesk.conversations.models import Priority
from socialdesk.routing import automation, conditions
from socialdesk.routing import service as routing_service
from socialdesk.routing.models import AutomationRule, RoutingRule, Strategy
from socialdesk.web import forms
from socialdesk.web.admin import page_context
from socialdesk.web.forms import FormError, PathId, attempt
from socialdesk.web.render import UNPROCESSABLE, is_htmx, render

router = APIRouter(include_in_schema=False)

BLANK_CONDITION_ROWS = 3
BLANK_ACTION_ROWS = 2

STRATEGY_LABELS = {
    Strategy.MANUAL.value: "Manual: nobody is assigned automatically; people claim",
    Strategy.ROUND_ROBIN.value: "Round robin: the on-duty member assigned longest ago",
    Strategy.LEAST_LOADED.value: "Least loaded: the on-duty member with the fewest open",
}
OP_LABELS = {
    "is": "is",
    "is_not": "is not",
    "in": "is one of",
    "not_in": "is none of",
    "=": "=",
    ">=": "at least",
    "<=": "at most",
    "any": "contains any of",
    "none": "contains none of",
}
NOTIFY_LABELS = {
    "team_lead": "the team lead",
    "team": "everyone in the team",
    "member": "a member",
    "assignee": "the assignee",
}


# -- the rule form ----------------------------------------------------------------------------


@dataclass
class ConditionRow:
    field: str = ""
    op: str = ""
    value: str = ""


@dataclass
class ActionRow:
    type: str = ""
    team: str = ""
    member: str = ""
    priority: str = ""
    tag: str = ""
    to: str = ""
    message: str = ""
    allow_lower: bool = False
    webhook: bool = False


@dataclass
class RuleForm:
    """A rule as the form shows it: strings, one row per condition and action."""

    name: str = ""
    enabled: bool = True
    stop: bool = False
    trigger: str = automation.Trigger.NO_REPLY.value
    delay: str = ""
    conditions: list[ConditionRow] = field(default_factory=list)
    actions: list[ActionRow] = field(default_factory=list)

    def padded(self) -> RuleForm:
        """With blank rows to add conditions and actions."""
        return RuleForm(
            name=self.name,
            enabled=self.enabled,
            stop=self.stop,
            trigger=self.trigger,
            delay=self.delay,
            conditions=self.conditions + [ConditionRow() for _ in range(BLANK_CONDITION_ROWS)],
            actions=self.actions + [ActionRow() for _ in range(BLANK_ACTION_ROWS)],
        )

    # -- to the service's JSON --

    def condition_json(self) -> list[dict[str, Any]]:
        return [
            {
                "field": row.field,
                "op": row.op,
                "value": conditions.parse_text_value(row.field, row.op, row.value),
            }
            for row in self.conditions
        ]

    def action_json(self) -> list[dict[str, Any]]:
        return [_action_json(row) for row in self.actions]

    def delay_minutes(self) -> int | None:
        if not self.delay:
            return None
        if not self.delay.isdigit():
            raise ValidationFailed(
                f"the delay must be a number of minutes, not {self.delay!r}", field="delay_minutes"
            )
        return int(self.delay)

    def routing_rule(self) -> RoutingRuleFields:
        """What routing_service.create_rule and update_rule take from the form."""
        return RoutingRuleFields(
            name=self.name,
            conditions=self.condition_json(),
            actions=self.action_json(),
            enabled=self.enabled,
            stop=self.stop,
        )

    def automation_rule(self) -> AutomationRuleFields:
        """What automation.create_rule and update_rule take from the form."""
        return AutomationRuleFields(
            name=self.name,
            trigger=self.trigger,
            delay_minutes=self.delay_minutes(),
            conditions=self.condition_json(),
            actions=self.action_json(),
            enabled=self.enabled,
        )


class RoutingRuleFields(TypedDict):
    name: str
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    enabled: bool
    stop: bool


class AutomationRuleFields(TypedDict):
    name: str
    trigger: str
    delay_minutes: int | None
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    enabled: bool


def _id_or_none(raw: str) -> int | str | None:
    if not raw:
        return None
    return int(raw) if raw.isdigit() else raw


def _action_json(row: ActionRow) -> dict[str, Any]:
    """One action row as the JSON the service takes; each type reads only its own inputs."""
    kind = row.type
    built: dict[str, Any] = {"type": kind}
    if kind in ("set_team", "auto_assign", "notify"):
        built["team_id"] = _id_or_none(row.team)
    if kind == "assign_to" or (kind == "notify" and row.to == "member"):
        built["member_id"] = _id_or_none(row.member)
    if kind == "set_priority":
        built["priority"] = row.priority or None
        if row.allow_lower:
            built["allow_lower"] = True
    if kind == "add_tag":
        built["tag"] = row.tag
    if kind == "notify":
        built.update(to=row.to, webhook=row.webhook, message=row.message)
    return built


def _rows(form: Any, prefix: str) -> list[int]:
    """The row numbers the form sent for ``prefix`` (cond or act), in order."""
    numbers = set()
    for key in form:
        head, _, rest = str(key).partition("-")
        number, _, _ = rest.partition("-")
        if head == prefix and number.isdigit():
            numbers.add(int(number))
    return sorted(numbers)


def read_form(form: Any) -> RuleForm:
    """The submitted form; blank rows are left out."""
    rule = RuleForm(
        name=forms.text(form, "name"),
        enabled=bool(forms.text(form, "enabled")),
        stop=bool(forms.text(form, "stop")),
        trigger=forms.text(form, "trigger"),
        delay=forms.text(form, "delay_minutes"),
    )
    for n in _rows(form, "cond"):
        row = ConditionRow(
            field=forms.text(form, f"cond-{n}-field"),
            op=forms.text(form, f"cond-{n}-op"),
            value=forms.text(form, f"cond-{n}-value"),
        )
        if row.field:
            rule.conditions.append(row)
    for n in _rows(form, "act"):
        act = ActionRow(
            type=forms.text(form, f"act-{n}-type"),
            team=forms.text(form, f"act-{n}-team"),
            member=forms.text(form, f"act-{n}-member"),
            priority=forms.text(form, f"act-{n}-priority"),
            tag=forms.text(form, f"act-{n}-tag"),
            to=forms.text(form, f"act-{n}-to"),
            message=forms.text(form, f"act-{n}-message"),
            allow_lower=bool(forms.text(form, f"act-{n}-allow_lower")),
            webhook=bool(forms.text(form, f"act-{n}-webhook")),
        )
        if act.type:
            rule.actions.append(act)
    return rule


def _text(value: object) -> str:
    return "" if value is None else str(value)


def form_of(
    *,
    name: str,
    enabled: bool,
    stored_conditions: list[dict[str, Any]],
    stored_actions: list[dict[str, Any]],
    stop: bool = False,
    trigger: str = "",
    delay_minutes: int | None = None,
) -> RuleForm:
    """A stored rule as the form shows it."""
    rows = []
    for raw in stored_conditions:
        try:
            [parsed] = conditions.parse_conditions([raw])
            rows.append(ConditionRow(parsed.field, parsed.op, conditions.value_text(parsed)))
        except ValidationFailed:
            rows.append(ConditionRow(_text(raw.get("field")), _text(raw.get("op")), ""))
    acts = []
    for raw in stored_actions:
        priority = raw.get("priority")
        acts.append(
            ActionRow(
                type=_text(raw.get("type")),
                team=_text(raw.get("team_id")),
                member=_text(raw.get("member_id")),
                priority=Priority(priority).name.lower() if isinstance(priority, int) else "",
                tag=_text(raw.get("tag")),
                to=_text(raw.get("to")),
                message=_text(raw.get("message")),
                allow_lower=bool(raw.get("allow_lower")),
                webhook=bool(raw.get("webhook")),
            )
        )
    return RuleForm(
        name=name,
        enabled=enabled,
        stop=stop,
        trigger=trigger,
        delay=_text(delay_minutes),
        conditions=rows,
        actions=acts,
    )


# -- shared context ----------------------------------------------------------------------------


def _choices(db: Session, actor: Actor) -> dict[str, Any]:
    """What the rule form's selects offer."""
    teams = accounts_service.list_teams(db, organization_id=actor.organization_id)
    members = [
        m
        for m in accounts_service.list_members(db, organization_id=actor.organization_id)
        if m.is_active
    ]
    return {
        "fields": list(conditions.FIELDS.values()),
        "op_labels": OP_LABELS,
        "teams": teams,
        "team_names": {t.id: t.name for t in teams},
        "members": members,
        "member_names": {m.id: m.name for m in members},
        "priorities": [p.name.lower() for p in Priority],
        "notify_labels": NOTIFY_LABELS,
        "action_labels": conditions.ACTION_LABELS,
    }


def describe_actions(actions: list[dict[str, Any]], names: Mapping[str, Mapping[int, str]]) -> str:
    """A rule's actions in words, for the list of rules."""
    words = []
    for raw in actions:
        kind = raw.get("type")
        team = names["team"].get(raw.get("team_id") or 0, "")
        if kind == "set_team":
            words.append(f"team {team or raw.get('team_id')}")
        elif kind == "set_priority":
            words.append(f"priority {Priority(int(raw.get('priority', 1))).name.lower()}")
        elif kind == "add_tag":
            words.append(f"tag #{raw.get('tag')}")
        elif kind == "assign_to":
            words.append(f"assign to {names['member'].get(raw.get('member_id') or 0, '?')}")
        elif kind == "auto_assign":
            words.append("auto-assign" + (f" in {team}" if team else ""))
        elif kind == "notify":
            to = str(raw.get("to"))
            who = (
                names["member"].get(raw.get("member_id") or 0, "?")
                if to == "member"
                else NOTIFY_LABELS.get(to, to)
            )
            words.append(f"notify {who}" + (" + webhook" if raw.get("webhook") else ""))
    return ", ".join(words)


def describe_conditions(stored: list[dict[str, Any]]) -> str:
    try:
        parsed = conditions.parse_conditions(stored)
    except ValidationFailed as exc:
        return f"(does not read: {exc.message})"
    return " and ".join(conditions.describe_condition(c) for c in parsed) or "every conversation"


# -- /admin/routing ---------------------------------------------------------------------------


def _routing_context(
    db: Session, actor: Actor, *, error: FormError | None = None
) -> dict[str, Any]:
    rules = routing_service.list_rules(db, organization_id=actor.organization_id)
    choices = _choices(db, actor)
    names = {"team": choices["team_names"], "member": choices["member_names"]}
    return {
        **page_context(db, actor),
        **choices,
        "section": "routing",
        "settings": routing_service.get_settings(db, organization_id=actor.organization_id),
        "strategy_labels": STRATEGY_LABELS,
        "rules": [
            (r, describe_conditions(r.conditions), describe_actions(r.actions, names))
            for r in rules
        ],
        "board": routing_service.duty_board(db, organization_id=actor.organization_id),
        "waiting": routing_service.routed_conversations_waiting(
            db, organization_id=actor.organization_id
        ),
        "error": error,
    }


def _settings_answer(
    request: Request, db: Session, actor: Actor, error: FormError | None
) -> Response:
    if error is None:
        return RedirectResponse("/admin/routing", status_code=303)
    return render(
        request,
        "routing/settings.html",
        _routing_context(db, actor, error=error),
        status_code=UNPROCESSABLE,
    )


@router.get("/admin/routing")
def routing_page(request: Request, actor: RoutingAdmin, db: DB) -> Response:
    return render(request, "routing/settings.html", _routing_context(db, actor))


@router.post("/admin/routing/settings")
def save_settings(
    request: Request, actor: RoutingAdmin, form: forms.PostedForm, db: DB
) -> Response:
    def act() -> None:
        raw_minutes = forms.text(form, "reassign_after_minutes")
        if raw_minutes and not raw_minutes.isdigit():
            raise ValidationFailed(
                "reassign after must be a number of minutes, or empty for never",
                field="reassign_after_minutes",
            )
        routing_service.update_settings(
            db,
            organization_id=actor.organization_id,
            strategy=forms.text(form, "strategy"),
            reassign_when_away=bool(forms.text(form, "reassign_when_away")),
            reassign_after_minutes=int(raw_minutes) if raw_minutes else None,
        )

    return _settings_answer(request, db, actor, attempt(db, "settings", act))


def _member(db: Session, actor: Actor, member_id: int) -> Member:
    return accounts_service.get_member(
        db, organization_id=actor.organization_id, member_id=member_id
    )


@router.post("/admin/routing/members/{member_id}")
def save_member_duty(
    request: Request, member_id: PathId, actor: RoutingAdmin, form: forms.PostedForm, db: DB
) -> Response:
    member = _member(db, actor, member_id)

    def act() -> None:
        raw = forms.text(form, "capacity")
        if not raw.isdigit():
            raise ValidationFailed(f"capacity must be a number, not {raw!r}", field="capacity")
        routing_service.set_member_duty(
            db,
            member=member,
            capacity=int(raw),
            languages=forms.text(form, "languages").replace(",", " ").split(),
        )
        availability = forms.text(form, "availability")
        if availability:
            routing_service.set_availability(
                db, member=member, availability=availability, actor=actor.member
            )

    return _settings_answer(request, db, actor, attempt(db, f"member-{member.id}", act))


def _routing_rule(db: Session, actor: Actor, rule_id: int) -> RoutingRule:
    return routing_service.get_rule(db, organization_id=actor.organization_id, rule_id=rule_id)


def _rule_page(
    request: Request,
    db: Session,
    actor: Actor,
    *,
    kind: str,
    rule_form: RuleForm,
    rule_id: int | None,
    error: FormError | None = None,
) -> Response:
    context = {
        **page_context(db, actor),
        **_choices(db, actor),
        "section": kind,
        "kind": kind,
        "form": rule_form.padded(),
        "rule_id": rule_id,
        "error": error,
        "triggers": automation.TRIGGER_LABELS,
        "action_types": conditions.ROUTING_ACTIONS
        if kind == "routing"
        else conditions.AUTOMATION_ACTIONS,
        "base": "/admin/routing/rules" if kind == "routing" else "/admin/automation",
        "runs": [],
    }
    if kind == "automation" and rule_id is not None:
        rule = automation.get_rule(db, organization_id=actor.organization_id, rule_id=rule_id)
        context["runs"] = automation.recent_runs(db, rule=rule, limit=20)
    return render(
        request,
        "routing/rule.html",
        context,
        status_code=UNPROCESSABLE if error else 200,
    )


@router.get("/admin/routing/rules/new")
def new_routing_rule(request: Request, actor: RoutingAdmin, db: DB) -> Response:
    return _rule_page(request, db, actor, kind="routing", rule_form=RuleForm(), rule_id=None)


def _saved_or_form(
    request: Request,
    db: Session,
    actor: Actor,
    *,
    kind: str,
    rule_form: RuleForm,
    rule_id: int | None,
    save: Callable[[], object],
) -> Response:
    """Save a routing or automation rule from its form: back to the list when it worked,
    else the form again with what was wrong."""
    error = attempt(db, "rule", save)
    if error is None:
        return RedirectResponse(f"/admin/{kind}", status_code=303)
    return _rule_page(
        request, db, actor, kind=kind, rule_form=rule_form, rule_id=rule_id, error=error
    )


@router.post("/admin/routing/rules")
def create_routing_rule(
    request: Request, actor: RoutingAdmin, form: forms.PostedForm, db: DB
) -> Response:
    rule_form = read_form(form)
    return _saved_or_form(
        request,
        db,
        actor,
        kind="routing",
        rule_form=rule_form,
        rule_id=None,
        save=lambda: routing_service.create_rule(
            db, organization_id=actor.organization_id, **rule_form.routing_rule()
        ),
    )


@router.get("/admin/routing/rules/{routing_rule_id}")
def edit_routing_rule(
    request: Request, routing_rule_id: PathId, actor: RoutingAdmin, db: DB
) -> Response:
    rule = _routing_rule(db, actor, routing_rule_id)
    rule_form = form_of(
        name=rule.name,
        enabled=rule.enabled,
        stop=rule.stop,
        stored_conditions=rule.conditions,
        stored_actions=rule.actions,
    )
    return _rule_page(request, db, actor, kind="routing", rule_form=rule_form, rule_id=rule.id)


@router.post("/admin/routing/rules/{routing_rule_id}")
def save_routing_rule(
    request: Request, routing_rule_id: PathId, actor: RoutingAdmin, form: forms.PostedForm, db: DB
) -> Response:
    rule = _routing_rule(db, actor, routing_rule_id)
    rule_form = read_form(form)
    return _saved_or_form(
        request,
        db,
        actor,
        kind="routing",
        rule_form=rule_form,
        rule_id=rule.id,
        save=lambda: routing_service.update_rule(db, rule=rule, **rule_form.routing_rule()),
    )


@router.post("/admin/routing/rules/{routing_rule_id}/move")
def move_routing_rule(
    request: Request, routing_rule_id: PathId, actor: RoutingAdmin, form: forms.PostedForm, db: DB
) -> Response:
    rule = _routing_rule(db, actor, routing_rule_id)
    direction = forms.text(form, "direction")
    if direction in ("up", "down"):
        routing_service.move_rule_by(db, rule=rule, step=-1 if direction == "up" else 1)
    return RedirectResponse("/admin/routing", status_code=303)


@router.post("/admin/routing/rules/{routing_rule_id}/delete")
def delete_routing_rule(
    request: Request, routing_rule_id: PathId, actor: RoutingAdmin, db: DB
) -> Response:
    routing_service.delete_rule(db, rule=_routing_rule(db, actor, routing_rule_id))
    return RedirectResponse("/admin/routing", status_code=303)


# -- /admin/automation -------------------------------------------------------------------------


def _automation_rule(db: Session, actor: Actor, rule_id: int) -> AutomationRule:
    return automation.get_rule(db, organization_id=actor.organization_id, rule_id=rule_id)


@router.get("/admin/automation")
def automation_page(request: Request, actor: RoutingAdmin, db: DB) -> Response:
    choices = _choices(db, actor)
    names = {"team": choices["team_names"], "member": choices["member_names"]}
    rules = automation.list_rules(db, organization_id=actor.organization_id)
    return render(
        request,
        "routing/automation.html",
        {
            **page_context(db, actor),
            "section": "automation",
            "triggers": automation.TRIGGER_LABELS,
            "rules": [
                (r, describe_conditions(r.conditions), describe_actions(r.actions, names))
                for r in rules
            ],
        },
    )


@router.get("/admin/automation/new")
def new_automation_rule(request: Request, actor: RoutingAdmin, db: DB) -> Response:
    return _rule_page(request, db, actor, kind="automation", rule_form=RuleForm(), rule_id=None)


@router.post("/admin/automation")
def create_automation_rule(
    request: Request, actor: RoutingAdmin, form: forms.PostedForm, db: DB
) -> Response:
    rule_form = read_form(form)
    return _saved_or_form(
        request,
        db,
        actor,
        kind="automation",
        rule_form=rule_form,
        rule_id=None,
        save=lambda: automation.create_rule(
            db, organization_id=actor.organization_id, **rule_form.automation_rule()
        ),
    )


@router.get("/admin/automation/{automation_rule_id}")
def edit_automation_rule(
    request: Request, automation_rule_id: PathId, actor: RoutingAdmin, db: DB
) -> Response:
    rule = _automation_rule(db, actor, automation_rule_id)
    rule_form = form_of(
        name=rule.name,
        enabled=rule.enabled,
        stored_conditions=rule.conditions,
        stored_actions=rule.actions,
        trigger=rule.trigger,
        delay_minutes=rule.delay_minutes,
    )
    return _rule_page(request, db, actor, kind="automation", rule_form=rule_form, rule_id=rule.id)


@router.post("/admin/automation/{automation_rule_id}")
def save_automation_rule(
    request: Request,
    automation_rule_id: PathId,
    actor: RoutingAdmin,
    form: forms.PostedForm,
    db: DB,
) -> Response:
    rule = _automation_rule(db, actor, automation_rule_id)
    rule_form = read_form(form)
    return _saved_or_form(
        request,
        db,
        actor,
        kind="automation",
        rule_form=rule_form,
        rule_id=rule.id,
        save=lambda: automation.update_rule(db, rule=rule, **rule_form.automation_rule()),
    )


@router.post("/admin/automation/{automation_rule_id}/delete")
def delete_automation_rule(
    request: Request, automation_rule_id: PathId, actor: RoutingAdmin, db: DB
) -> Response:
    automation.delete_rule(db, rule=_automation_rule(db, actor, automation_rule_id))
    return RedirectResponse("/admin/automation", status_code=303)


# -- available / away ---------------------------------------------------------------------------


@router.post("/me/availability")
def set_availability(request: Request, actor: Reader, form: forms.PostedForm, db: DB) -> Response:
    """The header's switch: mark yourself available or away."""
    change: list[routing_service.AvailabilityChange] = []
    error = attempt(
        db,
        "availability",
        lambda: change.append(
            routing_service.set_availability(
                db,
                member=actor.member,
                availability=forms.text(form, "availability"),
                actor=actor.member,
            )
        ),
    )
    if not is_htmx(request) and error is None:
        return RedirectResponse(forms.safe_next(forms.text(form, "next")), status_code=303)
    return render(
        request,
        "routing/_availability.html",
        {
            "me": actor.member,
            "csrf_token": actor.csrf_token or "",
            "error": error,
            "moved": len(change[0].reassigned) if change else 0,
            "next": forms.safe_next(forms.text(form, "next")),
        },
        status_code=UNPROCESSABLE if error else 200,
    )
