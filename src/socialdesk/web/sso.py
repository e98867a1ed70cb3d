"""Single sign-on pages: leave for the OpenID Connect provider, and come back logged in.

Every refusal shows the login page with the reason (status 401) and returns normally, so the
audit record of a refused member is committed with the request.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from socialdesk.accounts import sso
from socialdesk.common.deps import DB
from socialdesk.common.errors import NotFound
from socialdesk.config import get_settings
from socialdesk.web import views as web_views
from socialdesk.web.render import environment

router = APIRouter(include_in_schema=False)

FLOW_COOKIE = "sd_oidc"
FLOW_PATH = "/login/sso"
UNAUTHORIZED = 401


def provider_name() -> str:
    """The name for the login page's link, or "" when SSO is off (the link is hidden)."""
    config = sso.config_from_settings()
    return config.provider_name if config is not None else ""


# login.html asks this at render time, so the link follows the settings of the moment.
environment().globals["sso_provider_name"] = provider_name


def _config() -> sso.OidcConfig:
    config = sso.config_from_settings()
    if config is None:
        raise NotFound("single sign-on is not configured on this desk")
    return config


def _refused(request: Request, message: str) -> Response:
    response = web_views._login_page(  # the one login page, with its form and its CSRF cookie
        request, next_path="/", error=f"Single sign-on failed: {message}", status=UNAUTHORIZED
    )
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response


@router.get("/login/sso")
def sso_start(request: Request) -> Response:
    config = _config()
    try:
        authorization = sso.begin(config=config, provider=sso.discover(config))
    except sso.SsoFailed as exc:
        return _refused(request, exc.message)
    response = RedirectResponse(authorization.url, status_code=303)
    # SameSite=lax: the provider sends the browser back with a top-level GET, which carries it.
    response.set_cookie(
        FLOW_COOKIE,
        sso.pack(authorization.pending),
        max_age=int(sso.FLOW_LIFETIME.total_seconds()),
        path=FLOW_PATH,
        httponly=True,
        samesite="lax",
        secure=get_settings().secure_cookies,
    )
    return response


@router.get("/login/sso/callback")
def sso_callback(request: Request, db: DB) -> Response:
    config = _config()
    params = request.query_params
    code, state = params.get("code", ""), params.get("state", "")
    error, error_description = params.get("error", ""), params.get("error_description", "")
    if error:
        return _refused(request, f"the provider answered {error} {error_description}".strip())
    pending = sso.unpack(request.cookies.get(FLOW_COOKIE, ""))
    if pending is None:
        return _refused(request, "the sign-in took too long or started elsewhere: try again")
    if not code or not state:
        return _refused(request, "the provider's answer has no code or state")
    source = request.client.host if request.client else None
    try:
        member = sso.complete(
            db, config=config, pending=pending, state=state, code=code, source_address=source
        )
    except sso.SsoFailed as exc:
        return _refused(request, exc.message)
    response = web_views.logged_in(db, member=member, source_address=source)
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response
