"""A member's own pages (profile, password, two-factor, API tokens) and the two public pages
reached by a one-time link: accepting an invitation and resetting a password.

The profile is the person's, kept apart from every brand account: the desk posts as brand
accounts only, and shows the name and initials to colleagues (and, when an account signs its
replies, the initials to customers).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from socialdesk.accounts import invitations
from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member
from socialdesk.accounts.permissions import TOKEN_SCOPES
from socialdesk.common.crypto import decrypt_json, new_token, sign, unsign
from socialdesk.common.deps import DB, Actor, Reader
from socialdesk.common.errors import DomainError, NotAuthenticated, ValidationFailed
from socialdesk.config import get_settings
from socialdesk.notifications import preferences
from socialdesk.web import forms
from socialdesk.web import views as web_views
from socialdesk.web.admin import page_context, source_of
from socialdesk.web.forms import FormError, PathId, attempt
from socialdesk.web.render import UNPROCESSABLE, render

router = APIRouter(include_in_schema=False)

# Double-submit cookie for the public link pages: there is no session yet to hold a token.
LINK_CSRF_COOKIE = "sd_link"
MAX_AVATAR_URL = 500


def _profile_context(
    db: Session,
    actor: Actor,
    *,
    error: FormError | None = None,
    new_token_value: str | None = None,
    totp_uri: str | None = None,
    notice: str | None = None,
) -> dict[str, Any]:
    member = actor.member
    page = accounts_service.api_tokens_page(db, member=member, limit=100)
    totp_secret = None
    if totp_uri and member.totp_secret_encrypted is not None:
        totp_secret = decrypt_json(member.totp_secret_encrypted)["secret"]
    return {
        **page_context(db, actor),
        "section": "account",
        "tokens": page.items,
        "scopes": {name: sorted(p.value for p in perms) for name, perms in TOKEN_SCOPES.items()},
        "error": error,
        "new_token": new_token_value,
        "totp_uri": totp_uri,
        "totp_secret": totp_secret,
        "notice": notice,
        "email_topics": preferences.TOPICS,
        "email_choices": preferences.email_choices(member),
        "mail_configured": bool(get_settings().mail_url),
    }


def _profile_answer(
    request: Request, db: Session, actor: Actor, error: FormError | None, **extra: Any
) -> Response:
    if error is None and not extra:
        return RedirectResponse("/account", status_code=303)
    return render(
        request,
        "account/profile.html",
        _profile_context(db, actor, error=error, **extra),
        status_code=UNPROCESSABLE if error else 200,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/account")
def profile(request: Request, actor: Reader, db: DB) -> Response:
    return render(request, "account/profile.html", _profile_context(db, actor))


@router.post("/account/profile")
def update_profile(request: Request, actor: Reader, form: forms.PostedForm, db: DB) -> Response:
    member = actor.member

    def act() -> None:
        name = forms.text(form, "name")
        if not name:
            raise ValidationFailed("name must not be empty", field="name")
        initials = forms.text(form, "initials").upper() or accounts_service.initials_of(name)
        if len(initials) > 4:
            raise ValidationFailed("initials are at most 4 characters", field="initials")
        avatar = forms.text(form, "avatar_url")
        if avatar and (
            not avatar.startswith(("https://", "http://")) or len(avatar) > MAX_AVATAR_URL
        ):
            raise ValidationFailed(
                "the avatar must be an http(s) address of at most 500 characters",
                field="avatar_url",
            )
        member.name = name
        member.initials = initials
        member.avatar_url = avatar or None

    error = attempt(db, "profile", act)
    return _profile_answer(request, db, actor, error)


@router.post("/account/notifications")
def update_email_choices(
    request: Request, actor: Reader, form: forms.PostedForm, db: DB
) -> Response:
    """The checked topics come by email, the others only in the desk."""
    wanted = {value for value in form.getlist("email") if isinstance(value, str)}

    def act() -> None:
        # Unchecked topics off, checked ones on; set_email refuses a value that is no topic.
        choices = {topic.key: False for topic in preferences.TOPICS} | dict.fromkeys(wanted, True)
        preferences.set_email(db, member=actor.member, choices=choices)

    error = attempt(db, "email", act)
    if error:
        return _profile_answer(request, db, actor, error)
    return _profile_answer(request, db, actor, None, notice="Your email choices are saved.")


@router.post("/account/password")
def change_password(request: Request, actor: Reader, form: forms.PostedForm, db: DB) -> Response:
    member = actor.member

    def act() -> None:
        new = str(form.get("new_password") or "")
        if new != str(form.get("confirm_password") or ""):
            raise ValidationFailed("the two new passwords differ", field="confirm_password")
        accounts_service.change_password(
            db,
            member=member,
            current_password=str(form.get("current_password") or ""),
            new_password=new,
            keep_session=actor.auth_session,
            source_address=source_of(request),
        )

    error = attempt(db, "password", act)
    if error:
        return _profile_answer(request, db, actor, error)
    return _profile_answer(request, db, actor, None, notice="Your password is changed.")


@router.post("/account/totp/begin")
def totp_begin(request: Request, actor: Reader, db: DB) -> Response:
    member = actor.member
    if member.totp_enabled:
        return _profile_answer(
            request, db, actor, FormError("totp", "two-factor is already on: turn it off first")
        )
    uri = accounts_service.begin_totp(member)
    db.flush()
    return _profile_answer(request, db, actor, None, totp_uri=uri)


@router.post("/account/totp/enable")
def totp_enable(request: Request, actor: Reader, form: forms.PostedForm, db: DB) -> Response:
    error = attempt(
        db,
        "totp",
        lambda: accounts_service.enable_totp(
            db, member=actor.member, code=forms.text(form, "code")
        ),
    )
    return _profile_answer(request, db, actor, error)


@router.post("/account/totp/disable")
def totp_disable(request: Request, actor: Reader, form: forms.PostedForm, db: DB) -> Response:
    member = actor.member

    def act() -> None:
        # Turning protection off asks for a current code, so a borrowed open laptop cannot.
        if not accounts_service.verify_totp(member, forms.text(form, "code")):
            raise ValidationFailed("that code does not match", field="code")
        accounts_service.disable_totp(db, member=member, actor=member)

    error = attempt(db, "totp", act)
    return _profile_answer(request, db, actor, error)


@router.post("/account/tokens")
def create_token(request: Request, actor: Reader, form: forms.PostedForm, db: DB) -> Response:
    made: list[accounts_service.NewApiToken] = []
    scopes = [s for s in form.getlist("scopes") if isinstance(s, str) and s]
    error = attempt(
        db,
        "tokens",
        lambda: made.append(
            accounts_service.create_api_token(
                db, member=actor.member, name=forms.text(form, "name"), scopes=scopes
            )
        ),
    )
    if error:
        return _profile_answer(request, db, actor, error)
    return _profile_answer(request, db, actor, None, new_token_value=made[0].token)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: PathId, actor: Reader, db: DB) -> Response:
    record = accounts_service.get_own_api_token(db, member=actor.member, token_id=token_id)
    accounts_service.revoke_api_token(db, member=actor.member, token_id=record.id)
    return RedirectResponse("/account", status_code=303)


# -- public pages reached by a one-time link -----------------------------------------------


def _link_page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    path: str,
    status: int = 200,
) -> Response:
    nonce = new_token(16)
    response = render(
        request,
        template,
        {**context, "csrf_token": nonce, "me": None},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )
    response.set_cookie(
        LINK_CSRF_COOKIE,
        sign(nonce),
        max_age=3600,
        path=path,
        httponly=True,
        samesite="lax",
        secure=get_settings().secure_cookies,
    )
    return response


def _link_csrf_ok(request: Request, form: Any) -> bool:
    expected = unsign(request.cookies.get(LINK_CSRF_COOKIE, ""))
    sent = forms.text(form, "csrf_token")
    return bool(expected) and sent == expected


def _log_in(request: Request, db: Session, member: Member) -> Response:
    return web_views.logged_in(db, member=member, source_address=source_of(request))


def _link_error(request: Request, exc: DomainError) -> Response:
    return render(
        request,
        "error.html",
        {"status": exc.status_code, "message": exc.message},
        status_code=exc.status_code,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/invitations/{token}")
def invitation_page(request: Request, token: str, db: DB) -> Response:
    try:
        invitation = invitations.find_open_invitation(db, token=token)
    except DomainError as exc:
        return _link_error(request, exc)
    org = accounts_service.get_organization(db, invitation.organization_id)
    return _link_page(
        request,
        "account/invitation.html",
        {"invitation": invitation, "org_name": org.name, "token": token, "error": None},
        path=f"/invitations/{token}",
    )


@router.post("/invitations/{token}")
def accept_invitation(request: Request, token: str, form: forms.PostedForm, db: DB) -> Response:
    # Plain def: reachable without a login, so its first query may wait for the write lock.
    try:
        invitation = invitations.find_open_invitation(db, token=token)
    except DomainError as exc:
        return _link_error(request, exc)
    org = accounts_service.get_organization(db, invitation.organization_id)
    context: dict[str, Any] = {"invitation": invitation, "org_name": org.name, "token": token}
    if not _link_csrf_ok(request, form):
        return _link_page(
            request,
            "account/invitation.html",
            {**context, "error": "The form expired or came from elsewhere: please try again."},
            path=f"/invitations/{token}",
            status=403,
        )
    password = str(form.get("password") or "")
    try:
        if password != str(form.get("confirm_password") or ""):
            raise ValidationFailed("the two passwords differ", field="confirm_password")
        member = invitations.accept(
            db,
            token=token,
            name=forms.text(form, "name"),
            password=password,
            source_address=source_of(request),
        )
    except NotAuthenticated:
        raise
    except DomainError as exc:
        db.rollback()
        return _link_page(
            request,
            "account/invitation.html",
            {**context, "error": exc.message, "name": forms.text(form, "name")},
            path=f"/invitations/{token}",
            status=UNPROCESSABLE,
        )
    response = _log_in(request, db, member)
    response.delete_cookie(LINK_CSRF_COOKIE, path=f"/invitations/{token}")
    return response


@router.get("/password-reset/{token}")
def reset_page(request: Request, token: str) -> Response:
    # The link is checked when used: looking it up here would tell a guesser nothing more
    # than the POST does, and the page has nothing secret in it.
    return _link_page(
        request,
        "account/reset.html",
        {"token": token, "error": None},
        path=f"/password-reset/{token}",
    )


@router.post("/password-reset/{token}")
def reset(request: Request, token: str, form: forms.PostedForm, db: DB) -> Response:
    # Plain def: reachable without a login, so its first query may wait for the write lock.
    path = f"/password-reset/{token}"
    if not _link_csrf_ok(request, form):
        return _link_page(
            request,
            "account/reset.html",
            {"token": token, "error": "The form expired or came from elsewhere: please try again."},
            path=path,
            status=403,
        )
    password = str(form.get("password") or "")
    try:
        if password != str(form.get("confirm_password") or ""):
            raise ValidationFailed("the two passwords differ", field="confirm_password")
        invitations.reset_password(
            db, token=token, password=password, source_address=source_of(request)
        )
    except DomainError as exc:
        db.rollback()
        return _link_page(
            request,
            "account/reset.html",
            {"token": token, "error": exc.message},
            path=path,
            status=UNPROCESSABLE,
        )
    # Every login of the member ended with the reset: they log in afresh with the new password.
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(LINK_CSRF_COOKIE, path=path)
    return response
