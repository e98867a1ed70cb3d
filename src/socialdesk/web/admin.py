"""The organization's administration pages: members, invitations, teams, brand accounts and
the audit trail.

Every route is guarded by a role dependency (MemberAdmin for people, ChannelAdmin for brand
accounts), and every object is looked up inside the caller's organization, so another
organization's id is "not found". One-time secrets (invitation and reset links) are rendered
in the answer to the POST that made them and never again. Brand credentials are write-only:
pages say whether they are set, never what they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts import audit, flows, invitations
from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Invitation, Member, Role, Team, TeamMembership
from socialdesk.accounts.permissions import Permission
from socialdesk.accounts.permissions import has as has_permission
from socialdesk.channels import health
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount, BrandAccountAccess
from socialdesk.common import clock, spreadsheet
from socialdesk.common.deps import DB, Actor, ChannelAdmin, MemberAdmin
from socialdesk.common.errors import ValidationFailed
from socialdesk.config import get_settings
from socialdesk.connectors.base import ChannelKind
from socialdesk.conversations import recovery
from socialdesk.notifications import service as notifications_service
from socialdesk.notifications import teams as team_settings
from socialdesk.web import forms
from socialdesk.web import viewmodels as vm
from socialdesk.web.forms import FormError, PathId, attempt
from socialdesk.web.render import UNPROCESSABLE, environment, render, zone

router = APIRouter(include_in_schema=False)

CREDENTIAL_ROWS = 4  # empty key/value rows offered on the forms


def page_context(db: Session, actor: Actor) -> dict[str, Any]:
    """What every signed-in page needs (the layout's header and the forms' CSRF token)."""
    return {
        **vm.layout_context(db, actor),
        "admin_members": has_permission(actor.member, Permission.MEMBERS_MANAGE),
        "admin_channels": has_permission(actor.member, Permission.CHANNELS_MANAGE),
        "admin_routing": has_permission(actor.member, Permission.ROUTING_MANAGE),
        "admin_privacy": has_permission(actor.member, Permission.PRIVACY),
        "now": clock.now(),  # to tell a lockout still running from one that has ended
    }


def admin_home(member: Member) -> str | None:
    """Where the header's "Admin" link goes for ``member``; None hides it."""
    if has_permission(member, Permission.MEMBERS_MANAGE):
        return "/admin/members"
    if has_permission(member, Permission.CHANNELS_MANAGE):
        return "/admin/accounts"
    if has_permission(member, Permission.ROUTING_MANAGE):
        return "/admin/routing"
    return None


# The shared layout shows the link on every page, the desk's too.
environment().globals["admin_home"] = admin_home


def source_of(request: Request) -> str | None:
    return request.client.host if request.client else None


def record_change(
    db: Session,
    request: Request,
    actor: Actor,
    *,
    action: str,
    target: tuple[str, object],
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Put a change ``actor`` made through a form in the audit trail, with the address the
    request came from."""
    audit.record(
        db,
        organization_id=actor.organization_id,
        action=action,
        actor=actor.member,
        target=target,
        source_address=source_of(request),
        before=before,
        after=after,
    )


def _role(raw: str) -> Role:
    try:
        return Role(raw)
    except ValueError:
        raise ValidationFailed(
            f"role must be one of {', '.join(r.value for r in Role)}, not {raw!r}", field="role"
        ) from None


def _ids(form: Any, name: str) -> list[int]:
    """Every id a multi-select or group of checkboxes sent."""
    out: list[int] = []
    for raw in form.getlist(name):
        if not isinstance(raw, str) or not raw.strip():
            continue
        try:
            out.append(int(raw))
        except ValueError:
            raise ValidationFailed(f"{name} must hold numbers, not {raw!r}", field=name) from None
    return out


# -- members ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberRow:
    member: Member
    teams: list[str]


def _member_rows(db: Session, organization_id: int) -> list[MemberRow]:
    members = accounts_service.list_members(db, organization_id=organization_id)
    teams = {t.id: t.name for t in accounts_service.list_teams(db, organization_id=organization_id)}
    by_member: dict[int, list[str]] = {}
    if teams:
        for team_id, member_id in db.execute(
            select(TeamMembership.team_id, TeamMembership.member_id).where(
                TeamMembership.team_id.in_(teams)
            )
        ):
            by_member.setdefault(member_id, []).append(teams[team_id])
    return [MemberRow(member=m, teams=sorted(by_member.get(m.id, []))) for m in members]


def _members_context(
    db: Session,
    actor: Actor,
    *,
    error: FormError | None = None,
    new_link: str | None = None,
    values: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        **page_context(db, actor),
        "section": "members",
        "rows": _member_rows(db, actor.organization_id),
        "teams": accounts_service.list_teams(db, organization_id=actor.organization_id),
        "roles": [r.value for r in Role],
        "error": error,
        "new_link": new_link,
        "values": values or {},
    }


def absolute(path: str) -> str:
    return get_settings().base_url.rstrip("/") + path


@router.get("/admin/members")
def members_page(request: Request, actor: MemberAdmin, db: DB) -> Response:
    return render(request, "admin/members.html", _members_context(db, actor))


@router.post("/admin/invitations")
def invite(request: Request, actor: MemberAdmin, form: forms.PostedForm, db: DB) -> Response:
    made: list[invitations.NewInvitation] = []
    error = attempt(
        db,
        "invite",
        lambda: made.append(
            invitations.invite(
                db,
                inviter=actor.member,
                email=forms.text(form, "email"),
                role=_role(forms.text(form, "role")),
                team_ids=_ids(form, "team_ids"),
                source_address=source_of(request),
            )
        ),
    )
    context = _members_context(
        db,
        actor,
        error=error,
        new_link=absolute(made[0].path) if made else None,
        values={"email": forms.text(form, "email"), "role": forms.text(form, "role")}
        if error
        else {},
    )
    # The link is shown in this answer only: it is not stored in clear anywhere.
    return render(
        request,
        "admin/members.html",
        context,
        status_code=UNPROCESSABLE if error else 200,
        headers={"Cache-Control": "no-store"},
    )


def _member(db: Session, actor: Actor, member_id: int) -> Member:
    return accounts_service.get_member(
        db, organization_id=actor.organization_id, member_id=member_id
    )


@dataclass(frozen=True)
class HandoverRow:
    conversation_id: int
    subject: str
    to: str


def _member_context(
    db: Session,
    actor: Actor,
    member: Member,
    *,
    error: FormError | None = None,
    reset_link: str | None = None,
    report: flows.HandoverReport | None = None,
) -> dict[str, Any]:
    members = accounts_service.list_members(db, organization_id=actor.organization_id)
    teams = accounts_service.list_teams(db, organization_id=actor.organization_id)
    team_names = {t.id: t.name for t in teams}
    names = {m.id: m.name for m in members}
    handover: list[HandoverRow] = []
    for h in report.conversations if report else []:
        if h.to_member_id is not None:
            to = names.get(h.to_member_id, f"member {h.to_member_id}")
        elif h.to_team_id is not None:
            to = f"the {team_names.get(h.to_team_id, h.to_team_id)} queue"
        else:
            to = "the unassigned queue"
        handover.append(HandoverRow(h.conversation_id, h.subject or "(no subject)", to))
    mine = set(
        db.scalars(select(TeamMembership.team_id).where(TeamMembership.member_id == member.id))
    )
    return {
        **page_context(db, actor),
        "section": "members",
        "m": member,
        "member_teams": [t for t in teams if t.id in mine],
        "colleagues": [c for c in members if c.is_active and c.id != member.id],
        "roles": [r.value for r in Role],
        "error": error,
        "reset_link": reset_link,
        "may_manage_sign_in": accounts_service.may_manage_sign_in(actor.member, member),
        "report": report,
        "handover": handover,
        "promise_handover": [
            (h, names.get(h.to_member_id, f"member {h.to_member_id}"))
            for h in (report.commitments if report else [])
        ],
    }


@router.get("/admin/members/{member_id}")
def member_page(request: Request, member_id: PathId, actor: MemberAdmin, db: DB) -> Response:
    member = _member(db, actor, member_id)
    return render(request, "admin/member.html", _member_context(db, actor, member))


def _member_answer(
    request: Request,
    db: Session,
    actor: Actor,
    member: Member,
    error: FormError | None,
    **extra: Any,
) -> Response:
    if error is None and not extra:
        return RedirectResponse(f"/admin/members/{member.id}", status_code=303)
    return render(
        request,
        "admin/member.html",
        _member_context(db, actor, member, error=error, **extra),
        status_code=UNPROCESSABLE if error else 200,
        headers={"Cache-Control": "no-store"},
    )


@router.post("/admin/members/{member_id}/role")
def change_role(
    request: Request, member_id: PathId, actor: MemberAdmin, form: forms.PostedForm, db: DB
) -> Response:
    member = _member(db, actor, member_id)
    error = attempt(
        db,
        "role",
        lambda: accounts_service.change_role(
            db,
            member=member,
            role=_role(forms.text(form, "role")),
            actor=actor.member,
            source_address=source_of(request),
        ),
    )
    return _member_answer(request, db, actor, member, error)


@router.post("/admin/members/{member_id}/deactivate")
def deactivate(
    request: Request, member_id: PathId, actor: MemberAdmin, form: forms.PostedForm, db: DB
) -> Response:
    member = _member(db, actor, member_id)
    reports: list[flows.HandoverReport] = []

    def act() -> None:
        choice = forms.text(form, "hand_to")
        hand_to = None if choice in ("", "team") else forms.optional_id(form, "hand_to")
        reports.append(
            flows.deactivate(
                db,
                member=member,
                actor=actor.member,
                hand_to_member_id=hand_to,
                source_address=source_of(request),
            )
        )

    error = attempt(db, "deactivate", act)
    if error:
        return _member_answer(request, db, actor, member, error)
    return _member_answer(request, db, actor, member, None, report=reports[0])


@router.post("/admin/members/{member_id}/reactivate")
def reactivate(request: Request, member_id: PathId, actor: MemberAdmin, db: DB) -> Response:
    member = _member(db, actor, member_id)
    error = attempt(
        db,
        "reactivate",
        lambda: flows.reactivate(
            db, member=member, actor=actor.member, source_address=source_of(request)
        ),
    )
    return _member_answer(request, db, actor, member, error)


@router.post("/admin/members/{member_id}/password-reset")
def password_reset_link(
    request: Request, member_id: PathId, actor: MemberAdmin, db: DB
) -> Response:
    member = _member(db, actor, member_id)
    made: list[invitations.NewReset] = []

    def act() -> None:
        if not member.is_active:
            raise ValidationFailed(f"{member.name} is deactivated: reactivate them first")
        made.append(
            invitations.request_reset(
                db, member=member, actor=actor.member, source_address=source_of(request)
            )
        )

    error = attempt(db, "reset", act)
    if error:
        return _member_answer(request, db, actor, member, error)
    return _member_answer(request, db, actor, member, None, reset_link=absolute(made[0].path))


@router.post("/admin/members/{member_id}/totp/disable")
def disable_member_totp(
    request: Request, member_id: PathId, actor: MemberAdmin, db: DB
) -> Response:
    """For a member who lost their phone: they log in with the password alone and set
    two-factor up again. Audited with the admin as the actor."""
    member = _member(db, actor, member_id)
    error = attempt(
        db,
        "totp",
        lambda: accounts_service.disable_totp(db, member=member, actor=actor.member),
    )
    return _member_answer(request, db, actor, member, error)


# -- invitations --------------------------------------------------------------------------


def _invitation_state(invitation: Invitation, now: datetime) -> str:
    if invitation.revoked_at is not None:
        return "revoked"
    if invitation.accepted_at is not None:
        return "accepted"
    if invitation.expires_at <= now:
        return "expired"
    return "pending"


@router.get("/admin/invitations")
def invitations_page(request: Request, actor: MemberAdmin, db: DB) -> Response:
    now = clock.now()
    found = invitations.list_invitations(db, organization_id=actor.organization_id)
    rows = [(i, _invitation_state(i, now)) for i in found]
    return render(
        request,
        "admin/invitations.html",
        {
            **page_context(db, actor),
            "section": "invitations",
            "pending": [(i, s) for i, s in rows if s == "pending"],
            "past": [(i, s) for i, s in rows if s != "pending"],
            "names": {
                m.id: m.name
                for m in accounts_service.list_members(db, organization_id=actor.organization_id)
            },
        },
    )


@router.post("/admin/invitations/{invitation_id}/revoke")
def revoke_invitation(
    request: Request, invitation_id: PathId, actor: MemberAdmin, db: DB
) -> Response:
    invitations.revoke_invitation(db, actor=actor.member, invitation_id=invitation_id)
    return RedirectResponse("/admin/invitations", status_code=303)


# -- teams --------------------------------------------------------------------------------


def _teams_context(db: Session, actor: Actor, error: FormError | None = None) -> dict[str, Any]:
    teams = accounts_service.list_teams(db, organization_id=actor.organization_id)
    sizes: dict[int, int] = {t.id: 0 for t in teams}
    if teams:
        for (team_id,) in db.execute(
            select(TeamMembership.team_id).where(TeamMembership.team_id.in_(sizes))
        ):
            sizes[team_id] += 1
    return {
        **page_context(db, actor),
        "section": "teams",
        "teams": teams,
        "sizes": sizes,
        "error": error,
    }


@router.get("/admin/teams")
def teams_page(request: Request, actor: MemberAdmin, db: DB) -> Response:
    return render(request, "admin/teams.html", _teams_context(db, actor))


def _record_team_change(
    db: Session, request: Request, actor: Actor, team: Team, change: dict[str, Any]
) -> None:
    record_change(
        db,
        request,
        actor,
        action="team_changed",
        target=("team", team.id),
        after=change,
    )


@router.post("/admin/teams")
def create_team(request: Request, actor: MemberAdmin, form: forms.PostedForm, db: DB) -> Response:
    teams: list[Team] = []
    error = attempt(
        db,
        "team",
        lambda: teams.append(
            accounts_service.create_team(
                db, organization_id=actor.organization_id, name=forms.text(form, "name")
            )
        ),
    )
    if error:
        return render(
            request,
            "admin/teams.html",
            _teams_context(db, actor, error),
            status_code=UNPROCESSABLE,
        )
    _record_team_change(db, request, actor, teams[0], {"created": teams[0].name})
    return RedirectResponse(f"/admin/teams/{teams[0].id}", status_code=303)


def _team(db: Session, actor: Actor, team_id: int) -> Team:
    return accounts_service.get_team(db, organization_id=actor.organization_id, team_id=team_id)


def _team_context(
    db: Session,
    actor: Actor,
    team: Team,
    error: FormError | None = None,
    *,
    notice: str | None = None,
) -> dict[str, Any]:
    member_ids = set(
        db.scalars(select(TeamMembership.member_id).where(TeamMembership.team_id == team.id))
    )
    members = accounts_service.list_members(db, organization_id=actor.organization_id)
    return {
        **page_context(db, actor),
        "section": "teams",
        "team": team,
        "in_team": [m for m in members if m.id in member_ids],
        "others": [m for m in members if m.id not in member_ids and m.is_active],
        "error": error,
        "notice": notice,
        # Notification settings: the URL itself is never sent back to the browser.
        "lead_choices": team_settings.lead_choices(db, team=team),
        "hours_choices": team_settings.hours_choices(db, organization_id=actor.organization_id),
        "webhook_masked": notifications_service.masked_webhook(team),
        "mail_configured": bool(get_settings().mail_url),
    }


@router.get("/admin/teams/{team_id}")
def team_page(request: Request, team_id: PathId, actor: MemberAdmin, db: DB) -> Response:
    team = _team(db, actor, team_id)
    return render(request, "admin/team.html", _team_context(db, actor, team))


@router.post("/admin/teams/{team_id}/members")
def add_team_member(
    request: Request, team_id: PathId, actor: MemberAdmin, form: forms.PostedForm, db: DB
) -> Response:
    team = _team(db, actor, team_id)

    def act() -> None:
        member_id = forms.optional_id(form, "member_id")
        if member_id is None:
            raise ValidationFailed("choose a member to add", field="member_id")
        member = _member(db, actor, member_id)
        accounts_service.add_to_team(db, team=team, member=member)
        _record_team_change(db, request, actor, team, {"added_member_id": member.id})

    error = attempt(db, "add", act)
    if error:
        return render(
            request,
            "admin/team.html",
            _team_context(db, actor, team, error),
            status_code=UNPROCESSABLE,
        )
    return RedirectResponse(f"/admin/teams/{team.id}", status_code=303)


@router.post("/admin/teams/{team_id}/members/{member_id}/remove")
def remove_team_member(
    request: Request, team_id: PathId, member_id: PathId, actor: MemberAdmin, db: DB
) -> Response:
    team = _team(db, actor, team_id)
    member = _member(db, actor, member_id)
    accounts_service.remove_from_team(db, team=team, member=member)
    _record_team_change(db, request, actor, team, {"removed_member_id": member.id})
    return RedirectResponse(f"/admin/teams/{team.id}", status_code=303)


def _team_answer(
    request: Request,
    db: Session,
    actor: Actor,
    team: Team,
    error: FormError | None,
    *,
    notice: str | None = None,
) -> Response:
    if error is None and notice is None:
        return RedirectResponse(f"/admin/teams/{team.id}", status_code=303)
    return render(
        request,
        "admin/team.html",
        _team_context(db, actor, team, error, notice=notice),
        status_code=UNPROCESSABLE if error else 200,
        headers={"Cache-Control": "no-store"},
    )


@router.post("/admin/teams/{team_id}/settings")
def team_notification_settings(
    request: Request, team_id: PathId, actor: MemberAdmin, form: forms.PostedForm, db: DB
) -> Response:
    """Lead, notification email, webhook (write-only) and business hours of a team."""
    team = _team(db, actor, team_id)

    def act() -> None:
        before = team_settings.snapshot(team)
        raw_url = form.get("webhook_url")
        team_settings.update(
            db,
            team=team,
            settings=team_settings.TeamNotificationSettings(
                lead_member_id=forms.optional_id(form, "lead_member_id"),
                notify_email=forms.text(form, "notify_email") or None,
                business_hours_id=forms.optional_id(form, "business_hours_id"),
                webhook_url=raw_url if isinstance(raw_url, str) else None,
                remove_webhook=forms.text(form, "remove_webhook") == "1",
            ),
        )
        after = team_settings.snapshot(team)
        if isinstance(raw_url, str) and raw_url.strip():
            after["webhook"] = "replaced" if before["webhook"] == "set" else "set"
        if after != before:
            record_change(
                db,
                request,
                actor,
                action="team_changed",
                target=("team", team.id),
                before=before,
                after=after,
            )

    error = attempt(db, "settings", act)
    return _team_answer(request, db, actor, team, error)


@router.post("/admin/teams/{team_id}/webhook-test")
def team_webhook_test(request: Request, team_id: PathId, actor: MemberAdmin, db: DB) -> Response:
    team = _team(db, actor, team_id)
    error = attempt(db, "webhook-test", lambda: team_settings.send_test(db, team=team))
    notice = (
        None
        if error
        else "Test message queued. If the webhook refuses it, you will see it in your "
        "notifications."
    )
    return _team_answer(request, db, actor, team, error, notice=notice)


# -- brand accounts -----------------------------------------------------------------------


def _credentials_from(form: Any) -> dict[str, str]:
    """The key/value rows of a credentials form; rows with an empty key are ignored, a key
    without a value is an error (a silently missing secret would fail much later)."""
    found: dict[str, str] = {}
    for i in range(CREDENTIAL_ROWS):
        key = forms.text(form, f"cred_key_{i}")
        raw = form.get(f"cred_value_{i}")
        value = raw.strip() if isinstance(raw, str) else ""
        if not key:
            continue
        if not value:
            raise ValidationFailed(f"credential {key!r} has no value", field=f"cred_value_{i}")
        found[key] = value
    return found


def _accounts_context(
    db: Session,
    actor: Actor,
    *,
    error: FormError | None = None,
    values: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    accounts = channels_service.list_for_org(db, organization_id=actor.organization_id)
    return {
        **page_context(db, actor),
        "section": "accounts",
        "accounts": accounts,
        "send_problems": {a.id: channels_service.send_problem(a) for a in accounts},
        "kinds": [k.value for k in ChannelKind],
        "credential_rows": range(CREDENTIAL_ROWS),
        "error": error,
        "values": values or {},
    }


@router.get("/admin/accounts")
def accounts_page(request: Request, actor: ChannelAdmin, db: DB) -> Response:
    return render(request, "admin/accounts.html", _accounts_context(db, actor))


@router.post("/admin/accounts")
def create_account(
    request: Request, actor: ChannelAdmin, form: forms.PostedForm, db: DB
) -> Response:
    made: list[BrandAccount] = []

    def act() -> None:
        credentials = _credentials_from(form)
        account = channels_service.create(
            db,
            organization_id=actor.organization_id,
            kind=forms.text(form, "kind"),
            handle=forms.text(form, "handle"),
            display_name=forms.text(form, "display_name") or None,
            settings={"sign_replies": forms.text(form, "sign_replies") == "1"},
            credentials=credentials or None,
        )
        db.flush()
        record_change(
            db,
            request,
            actor,
            action="brand_account_created",
            target=("brand_account", account.id),
            # Which keys were set, never their values.
            after={
                "kind": account.kind,
                "handle": account.handle,
                "credential_keys": sorted(credentials),
            },
        )
        made.append(account)

    error = attempt(db, "create", act)
    if error:
        # Only the non-secret fields come back: credentials are typed again.
        values = {k: forms.text(form, k) for k in ("kind", "handle", "display_name")}
        return render(
            request,
            "admin/accounts.html",
            _accounts_context(db, actor, error=error, values=values),
            status_code=UNPROCESSABLE,
        )
    return RedirectResponse(f"/admin/accounts/{made[0].id}", status_code=303)


def _account(db: Session, actor: Actor, account_id: int) -> BrandAccount:
    return channels_service.get_or_raise(
        db, organization_id=actor.organization_id, brand_account_id=account_id
    )


def _account_context(
    db: Session, actor: Actor, account: BrandAccount, error: FormError | None = None
) -> dict[str, Any]:
    rows = db.execute(
        select(BrandAccountAccess.member_id, BrandAccountAccess.team_id).where(
            BrandAccountAccess.brand_account_id == account.id
        )
    ).all()
    chat_link = absolute(f"/chat/{account.public_key}")
    failed, failed_total = recovery.failed_events(db, brand_account_id=account.id)
    return {
        **page_context(db, actor),
        "section": "accounts",
        "a": account,
        "credentials_set": account.credentials_encrypted is not None,
        # What the reply box says of this account, so the admin sees it where it is fixed.
        "send_problem": channels_service.send_problem(account),
        "can_check": health.can_check(account),
        "check": None,
        "credential_rows": range(CREDENTIAL_ROWS),
        "members": [
            m
            for m in accounts_service.list_members(db, organization_id=actor.organization_id)
            if m.is_active
        ],
        "teams": accounts_service.list_teams(db, organization_id=actor.organization_id),
        "access_members": {m for m, _ in rows if m is not None},
        "access_teams": {t for _, t in rows if t is not None},
        "is_web": account.kind == ChannelKind.WEB.value,
        "chat_link": chat_link,
        "widget_snippet": f'<script src="{chat_link}/widget.js" async></script>',
        "error": error,
        "failed_events": failed,
        "failed_total": failed_total,
    }


@router.get("/admin/accounts/{account_id}")
def account_page(request: Request, account_id: PathId, actor: ChannelAdmin, db: DB) -> Response:
    account = _account(db, actor, account_id)
    return render(request, "admin/account.html", _account_context(db, actor, account))


def _account_answer(
    request: Request, db: Session, actor: Actor, account: BrandAccount, error: FormError | None
) -> Response:
    if error is None:
        return RedirectResponse(f"/admin/accounts/{account.id}", status_code=303)
    return render(
        request,
        "admin/account.html",
        _account_context(db, actor, account, error),
        status_code=UNPROCESSABLE,
    )


@router.post("/admin/accounts/{account_id}/settings")
def account_settings(
    request: Request, account_id: PathId, actor: ChannelAdmin, form: forms.PostedForm, db: DB
) -> Response:
    account = _account(db, actor, account_id)
    settings = {**account.settings, "sign_replies": forms.text(form, "sign_replies") == "1"}
    error = attempt(
        db,
        "settings",
        lambda: channels_service.update(
            db,
            account=account,
            display_name=forms.text(form, "display_name"),
            settings=settings,
        ),
    )
    return _account_answer(request, db, actor, account, error)


@router.post("/admin/accounts/{account_id}/credentials")
def account_credentials(
    request: Request, account_id: PathId, actor: ChannelAdmin, form: forms.PostedForm, db: DB
) -> Response:
    account = _account(db, actor, account_id)

    def act() -> None:
        remove = forms.text(form, "remove_all") == "1"
        changes = _credentials_from(form)
        if remove:
            channels_service.set_credentials(account, {})
        elif not changes:
            raise ValidationFailed("enter at least one key and its value", field="cred_key_0")
        else:
            channels_service.update_credentials(account, changes)
        record_change(
            db,
            request,
            actor,
            action="credentials_changed",
            target=("brand_account", account.id),
            after={"removed_all": True} if remove else {"keys_set": sorted(changes)},
        )

    error = attempt(db, "credentials", act)
    return _account_answer(request, db, actor, account, error)


@router.post("/admin/accounts/{account_id}/check")
def account_check(
    request: Request, account_id: PathId, actor: ChannelAdmin, form: forms.PostedForm, db: DB
) -> Response:
    """Sign in to the account's network now and show what it answered."""
    _account(db, actor, account_id)  # another organization's account is a 404
    organization_id = actor.organization_id
    # No transaction stays open (on SQLite: no write lock held) while the network answers;
    # nothing of this session may be read again until the check is done.
    db.rollback()
    found: list[health.ConnectionCheck] = []
    error = attempt(
        db,
        "check",
        lambda: found.append(
            health.check_connection(organization_id=organization_id, brand_account_id=account_id)
        ),
    )
    account = _account(db, actor, account_id)
    context = _account_context(db, actor, account, error)
    context["check"] = found[0] if found else None
    return render(
        request,
        "admin/account.html",
        context,
        status_code=UNPROCESSABLE if error is not None else 200,
    )


@router.post("/admin/accounts/{account_id}/events/retry")
def account_events_retry(
    request: Request, account_id: PathId, actor: ChannelAdmin, form: forms.PostedForm, db: DB
) -> Response:
    """Process failed incoming events again: one (``event_id``) or all (``all``)."""
    account = _account(db, actor, account_id)

    def act() -> None:
        every = forms.text(form, "event_id") == "all"
        ids = recovery.process_again(
            db, brand_account_id=account.id, event_ids=None if every else _ids(form, "event_id")
        )
        record_change(
            db,
            request,
            actor,
            action="inbound_events_retried",
            target=("brand_account", account.id),
            after={"event_ids": ids},
        )

    error = attempt(db, "events", act)
    return _account_answer(request, db, actor, account, error)


@router.post("/admin/accounts/{account_id}/access")
def account_access(
    request: Request, account_id: PathId, actor: ChannelAdmin, form: forms.PostedForm, db: DB
) -> Response:
    account = _account(db, actor, account_id)

    def act() -> None:
        member_ids = _ids(form, "member_ids")
        team_ids = _ids(form, "team_ids")
        channels_service.set_access(
            db, account=account, member_ids=member_ids, team_ids=team_ids, actor_id=actor.member.id
        )
        record_change(
            db,
            request,
            actor,
            action="brand_account_access_changed",
            target=("brand_account", account.id),
            after={"member_ids": sorted(set(member_ids)), "team_ids": sorted(set(team_ids))},
        )

    error = attempt(db, "access", act)
    return _account_answer(request, db, actor, account, error)


# -- audit trail --------------------------------------------------------------------------


def _date(raw: str, field: str) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(f"{field} must be a date like 2026-01-31", field=field) from None


def _audit_filter(db: Session, actor: Actor, params: Mapping[str, str]) -> audit.AuditFilter:
    """The filter from the query string; dates are whole days in the organization's zone."""
    tz = zone(vm.organization(db, actor.organization_id).timezone)
    action = params.get("action", "").strip()
    if action and action not in audit.ACTIONS:
        raise ValidationFailed(f"unknown action {action!r}", field="action")
    actor_id = forms.optional_id(params, "actor")
    since = _date(params.get("since", "").strip(), "since")
    until = _date(params.get("until", "").strip(), "until")
    return audit.AuditFilter(
        action=action or None,
        actor_member_id=actor_id,
        since=datetime.combine(since.date(), time(0), tz) if since else None,
        until=datetime.combine(until.date(), time(0), tz) + timedelta(days=1) if until else None,
    )


@router.get("/admin/audit")
def audit_page(request: Request, actor: MemberAdmin, db: DB) -> Response:
    params = dict(request.query_params)
    error: FormError | None = None
    try:
        flt = _audit_filter(db, actor, params)
    except ValidationFailed as exc:
        error = FormError("filter", exc.message, exc.field)
        flt = audit.AuditFilter()
    events = audit.search(db, organization_id=actor.organization_id, flt=flt)
    members = accounts_service.list_members(db, organization_id=actor.organization_id)
    return render(
        request,
        "admin/audit.html",
        {
            **page_context(db, actor),
            "section": "audit",
            "events": events,
            "actions": audit.ACTIONS,
            "members": members,
            "names": {m.id: m.name for m in members},
            "params": params,
            "error": error,
        },
        status_code=UNPROCESSABLE if error else 200,
    )


@router.post("/admin/audit/export")
def audit_export(request: Request, actor: MemberAdmin, form: forms.PostedForm, db: DB) -> Response:
    """The filtered trail as CSV. A POST: exporting is itself recorded in the trail."""
    params = {k: v for k, v in form.items() if isinstance(v, str)}
    flt = _audit_filter(db, actor, params)
    events = audit.search(db, organization_id=actor.organization_id, flt=flt, limit=100_000)
    body = audit.to_csv(events)
    record_change(
        db,
        request,
        actor,
        action="export",
        target=("audit_trail", actor.organization_id),
        after={
            "rows": len(events),
            "filter": {k: params.get(k, "") for k in ("action", "actor", "since", "until")},
        },
    )
    stamp = clock.now().strftime("%Y%m%d-%H%M")
    return spreadsheet.download(body, f"audit-{stamp}.csv")
