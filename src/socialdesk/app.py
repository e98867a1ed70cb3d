"""create_app(): the ASGI application, mounting each domain's API and the web UI."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from socialdesk import __version__
from socialdesk.accounts import api as accounts_api
from socialdesk.alerts import api as alerts_api
from socialdesk.channels import api as channels_api
from socialdesk.channels import webhooks as channel_webhooks
from socialdesk.commitments import api as commitments_api
from socialdesk.common.errors import DomainError, NotAuthenticated, NotFound
from socialdesk.config import get_settings
from socialdesk.contacts import api as contacts_api
from socialdesk.conversations import api as conversations_api
from socialdesk.db.session import get_sessionmaker
from socialdesk.escalations import api as escalations_api
from socialdesk.events import api as events_api
from socialdesk.events.realtime import Hub
from socialdesk.followups import api as followups_api
from socialdesk.jobs import catalog  # noqa: F401 - registers jobs and listeners
from socialdesk.notifications import api as notifications_api
from socialdesk.policy import api as policy_api
from socialdesk.polls import api as polls_api
from socialdesk.routing import api as routing_api
from socialdesk.saved_replies import api as saved_replies_api
from socialdesk.saved_views import api as saved_views_api
from socialdesk.sla import api as sla_api
from socialdesk.topics import api as topics_api
from socialdesk.web import account as web_account
from socialdesk.web import admin as web_admin
from socialdesk.web import alerts as web_alerts
from socialdesk.web import attachments as web_attachments
from socialdesk.web import chat as web_chat
from socialdesk.web import commitments as web_commitments
from socialdesk.web import conduct as web_conduct
from socialdesk.web import connect as web_connect
from socialdesk.web import contacts as web_contacts
from socialdesk.web import escalations as web_escalations
from socialdesk.web import followups as web_followups
from socialdesk.web import notifications as web_notifications
from socialdesk.web import poll_reports as web_poll_reports
from socialdesk.web import polls as web_polls
from socialdesk.web import privacy as web_privacy
from socialdesk.web import routing as web_routing
from socialdesk.web import saved_replies as web_saved_replies
from socialdesk.web import saved_views as web_saved_views
from socialdesk.web import sla as web_sla
from socialdesk.web import sso as web_sso
from socialdesk.web import topics as web_topics
from socialdesk.web import views as web_views

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "web" / "static"


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get(
        "accept", ""
    )


def error_body(
    code: str, message: str, field: str | None = None, **details: object
) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "field": field, **details}}


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    if isinstance(exc, NotAuthenticated) and not _wants_json(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={target}", status_code=303)
    if _wants_json(request) or request.headers.get("hx-request"):
        return JSONResponse(
            error_body(exc.code, exc.message, exc.field, **exc.details()),
            status_code=exc.status_code,
        )
    return web_views.error_page(request, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = str(exc.detail)
    if exc.status_code == 404 and not _wants_json(request):
        return web_views.error_page(request, NotFound("this page does not exist"))
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and (allowed := _allowed_methods(request)):
        headers["Allow"] = ", ".join(allowed)
    return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=headers)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path. Starlette's 405 names only the first
    route it matched, and a path's methods are often separate routes (GET and POST)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if (
        errors
        and not _wants_json(request)
        and all(e.get("loc", ("",))[0] == "path" for e in errors)
    ):
        # A desk page whose id is not one (/conversations/abc, or past a 64-bit row id).
        return web_views.error_page(request, NotFound("this page does not exist"))
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
    message = (
        f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "invalid"))
    )
    if first.get("type") == "json_invalid":  # located by a character offset, not a field
        message, where = _not_json(where, str((first.get("ctx") or {}).get("error", ""))), ""
    # Only where and what: pydantic's "input" would echo what was sent (a password, a
    # credential) and its "ctx" may hold exception objects that are not JSON.
    details = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return JSONResponse(
        {**error_body("invalid", message, where or None), "details": details},
        status_code=422,
    )


def _not_json(offset: str, reason: str) -> str:
    reason = reason.strip()
    said = f": {reason[:1].lower()}{reason[1:]}" if reason else ""
    return f"the body is not valid JSON (at character {offset}{said})"


def create_app() -> FastAPI:
    settings = get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.hub = Hub(
            get_sessionmaker(write=False), poll_seconds=settings.realtime_poll_seconds
        )
        yield
        await app.state.hub.close()

    app = FastAPI(
        title="socialdesk",
        version=__version__,
        description="One shared desk for customer care on social media, email and the web.",
        lifespan=lifespan,
    )
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for module in (
        accounts_api,
        conversations_api,
        contacts_api,
        channels_api,
        policy_api,
        routing_api,
        sla_api,
        escalations_api,
        notifications_api,
        commitments_api,
        followups_api,
        alerts_api,
        topics_api,
        saved_replies_api,
        saved_views_api,
        polls_api,
    ):
        app.include_router(module.router, prefix="/api")
    app.include_router(events_api.router)
    app.include_router(channel_webhooks.router)
    app.include_router(web_chat.router)
    app.include_router(web_conduct.router)
    app.include_router(web_views.router)
    app.include_router(web_sso.router)
    app.include_router(web_admin.router)
    app.include_router(web_account.router)
    for web_module in (
        web_routing,
        web_alerts,
        web_sla,
        web_escalations,
        web_notifications,
        web_commitments,
        web_followups,
        web_connect,
        web_topics,
        web_saved_replies,
        web_privacy,
        web_contacts,
        web_saved_views,
        web_polls,
        web_poll_reports,
        web_attachments,
    ):
        app.include_router(web_module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
