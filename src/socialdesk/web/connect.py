"""Connecting brand accounts from the admin pages, one flow per network.

* **Mastodon** and **X**: OAuth. The admin starts from a form (a POST with the session's CSRF
  token); the desk answers with a redirect to the network carrying a *state*: signed with the
  desk's secret key, naming the organization, the admin and a key derived from their login
  session, and expiring after :data:`STATE_LIFETIME`. What must stay secret until the network
  sends the admin back (the Mastodon app's client secret, X's PKCE verifier and client secret)
  travels in a cookie encrypted with the desk's credential keys, tied to the state by a nonce.
  The callback is a page that needs the same logged-in admin: it checks the state (signature,
  expiry, same login session), the cookie, exchanges the code, verifies the token with the
  network and only then saves the account.
* **Bluesky**: handle and app password, signed in with before saving.
* **Email**: IMAP and SMTP settings, both connections tested (login included) before saving.
* **Facebook**: the Page token is checked with the Graph API before saving; the page shows the
  webhook address and verify token to paste into Meta's dashboard.

Every failure is shown on the flow's page, naming what went wrong: an instance that cannot be
reached, consent denied, a state that expired or was tampered with. Nothing is saved then.
All routes need the channels permission (``ChannelAdmin``); they live under
``/admin/accounts/connect/`` with the other brand-account pages.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock, crypto
from socialdesk.common.deps import DB, Actor, ChannelAdmin
from socialdesk.common.errors import DomainError, ValidationFailed
from socialdesk.config import get_settings
from socialdesk.connectors.base import (
    AccountContext,
    AuthError,
    ChannelKind,
    ConnectorError,
    Identity,
    SendError,
)
from socialdesk.connectors.bluesky import BlueskyConnector
from socialdesk.connectors.bluesky.config import DEFAULT_SERVICE_URL
from socialdesk.connectors.email.check import check_imap, check_smtp
from socialdesk.connectors.email.config import EmailAccount, ServerConfig
from socialdesk.connectors.facebook.config import DEFAULT_GRAPH_URL
from socialdesk.connectors.facebook.connector import FacebookConnector
from socialdesk.connectors.http import HttpClient, RetryPolicy
from socialdesk.connectors.mastodon import oauth as mastodon_oauth
from socialdesk.connectors.mastodon.connector import MastodonConnector
from socialdesk.connectors.x import oauth as x_oauth
from socialdesk.connectors.x.connector import XConnector
from socialdesk.web import forms
from socialdesk.web.admin import page_context, record_change
from socialdesk.web.render import UNPROCESSABLE, render

router = APIRouter(include_in_schema=False)

PREFIX = "/admin/accounts/connect"
STATE_LIFETIME = timedelta(minutes=10)
COOKIE_PREFIX = "sd_connect_"
BAD_REQUEST = 400
_STATE_PURPOSE = "socialdesk.connect"

# Test seams: tests put an httpx.MockTransport here (the networks' side) and a sleep that
# does not wait; the email checks are replaced by fakes or pointed at real local servers.
transport: httpx.BaseTransport | None = None
sleep: Callable[[float], None] = time.sleep
# Somebody is waiting for the page: two quick attempts, then the reason.
POLICY = RetryPolicy(max_attempts=2, base_delay=0.3, max_delay=1.0, max_wait=2.0)
SECURITY_CHOICES = ("ssl", "starttls", "none")
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class ConnectFailed(Exception):
    """A step of a flow failed; ``message`` says what, for the admin."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


# -- pages --------------------------------------------------------------------------------


def _page(
    request: Request,
    db: Session,
    actor: Actor,
    kind: ChannelKind,
    *,
    error: ConnectFailed | None = None,
    values: Mapping[str, str] | None = None,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    context = {
        **page_context(db, actor),
        "section": "accounts",
        "error": error,
        "values": values or {},
        "prefix": PREFIX,
        "kind": kind.value,
        **_extra(db, actor, kind),
        **extra,
    }
    return render(request, f"connect/{kind.value}.html", context, status_code=status_code)


def _redirect_uri(kind: ChannelKind) -> str:
    return f"{get_settings().base_url.rstrip('/')}{PREFIX}/{kind.value}/callback"


def _client(provider: str) -> HttpClient:
    return HttpClient(provider=provider, transport=transport, policy=POLICY, sleep=sleep)


def _plain(reason: str) -> str:
    """A connector's reason without the advice meant for a background job."""
    for tail in (
        "; will try again later",
        "; connect the account again",
        "; reconnect the account",
        "; will try again",
    ):
        reason = reason.removesuffix(tail)
    return reason


def _network_failure(where: str, exc: ConnectorError, doing: str) -> ConnectFailed:
    """Name what failed: the network could not be reached, or refused, and why."""
    if isinstance(exc, SendError) and exc.retryable:
        return ConnectFailed(
            f"{where} is unreachable or not answering ({_plain(exc.reason)}): check the "
            "address and try again in a moment"
        )
    return ConnectFailed(f"{where} refused {doing}: {_plain(exc.reason)}")


def _mail_failure(exc: ConnectorError) -> ConnectFailed:
    """A mail server's refusal as the page shows it: the reason already names the server
    (IMAP or SMTP, host and port) and the step that failed."""
    reason = _plain(exc.reason)
    if isinstance(exc, SendError) and exc.retryable:
        return ConnectFailed(f"{reason}: check the address and try again in a moment")
    return ConnectFailed(reason)


def _save(
    request: Request,
    db: Session,
    actor: Actor,
    *,
    kind: ChannelKind,
    handle: str,
    display_name: str | None,
    settings: Mapping[str, Any],
    credentials: Mapping[str, str],
    existing: BrandAccount | None = None,
    warnings: list[str] | None = None,
) -> BrandAccount:
    account, created = channels_service.connect(
        db,
        organization_id=actor.organization_id,
        kind=kind,
        handle=handle,
        display_name=display_name,
        settings=settings,
        credentials=credentials,
        existing=existing,
    )
    if warnings:
        # Connected, with something the admin should know (shown on the account's page).
        account.health_reason = "; ".join(warnings)[:500]
    record_change(
        db,
        request,
        actor,
        action="brand_account_created" if created else "credentials_changed",
        target=("brand_account", account.id),
        # Which keys were set, never their values.
        after={
            "kind": account.kind,
            "handle": account.handle,
            "connected": True,
            "credential_keys": sorted(credentials),
        },
    )
    db.flush()
    return account


def _done(account: BrandAccount) -> Response:
    return RedirectResponse(channels_service.account_link(account), status_code=303)


# -- the signed state and the flow cookie --------------------------------------------------


@dataclass(frozen=True)
class Flow:
    """What a callback learned from a verified state and its cookie."""

    code: str
    secrets: dict[str, str]


def _session_key(actor: Actor) -> str:
    if actor.auth_session is None:
        raise ConnectFailed(
            "connect accounts from the desk in a browser: an API token cannot approve a "
            "connection on the network's site"
        )
    return crypto.hash_token(f"connect-session:{actor.auth_session.token_hash}")[:32]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_state(actor: Actor, kind: ChannelKind) -> tuple[str, str]:
    """A state for ``kind``'s authorization request, and its nonce (the cookie carries it
    too). Signed (base64url JSON, then ``.`` and the MAC), so nothing in it can be changed."""
    nonce = crypto.new_token(16)
    expires = clock.now() + STATE_LIFETIME
    payload = {
        "p": _STATE_PURPOSE,
        "k": kind.value,
        "o": actor.organization_id,
        "m": actor.member.id,
        "s": _session_key(actor),
        "n": nonce,
        "e": int(expires.timestamp()),
    }
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return crypto.sign(_b64(raw)), nonce


def verify_state(raw: str, *, actor: Actor, kind: ChannelKind) -> str:
    """The nonce of a state this desk issued for this admin's login session, not expired."""
    tampered = ConnectFailed(
        "the answer's state does not match what the desk sent (changed, truncated or from "
        "another site): nothing was connected; start again"
    )
    value = crypto.unsign(raw) if raw else None
    if value is None:
        raise tampered
    try:
        payload = json.loads(_unb64(value))
    except (ValueError, binascii.Error):
        raise tampered from None
    if not isinstance(payload, dict) or payload.get("p") != _STATE_PURPOSE:
        raise tampered
    if payload.get("k") != kind.value:
        raise tampered
    try:
        expires = datetime.fromtimestamp(int(payload["e"]), tz=clock.now().tzinfo)
    except (KeyError, TypeError, ValueError):
        raise tampered from None
    if clock.now() > expires:
        minutes = int(STATE_LIFETIME.total_seconds() // 60)
        raise ConnectFailed(
            f"the connection request expired (it is valid for {minutes} minutes): "
            "nothing was connected; start again"
        )
    same_admin = (
        payload.get("o") == actor.organization_id
        and payload.get("m") == actor.member.id
        and payload.get("s") == _session_key(actor)
    )
    if not same_admin:
        raise ConnectFailed(
            "this connection was started by another login session; start it again from here"
        )
    return str(payload.get("n") or "")


def _cookie_name(kind: ChannelKind) -> str:
    return f"{COOKIE_PREFIX}{kind.value}"


def _cookie_path(kind: ChannelKind) -> str:
    return f"{PREFIX}/{kind.value}"


def _set_flow_cookie(
    response: Response, kind: ChannelKind, nonce: str, secrets: Mapping[str, str]
) -> None:
    sealed = crypto.encrypt_json({**secrets, "nonce": nonce}).decode("ascii")
    response.set_cookie(
        _cookie_name(kind),
        sealed,
        max_age=int(STATE_LIFETIME.total_seconds()),
        path=_cookie_path(kind),
        httponly=True,
        # lax: the network sends the browser back with a top-level GET, which carries it.
        samesite="lax",
        secure=get_settings().secure_cookies,
    )


def _flow_secrets(request: Request, kind: ChannelKind) -> dict[str, str] | None:
    sealed = request.cookies.get(_cookie_name(kind))
    if not sealed:
        return None
    try:
        return crypto.decrypt_json(sealed.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None


def _finish(request: Request, actor: Actor, kind: ChannelKind, network: str) -> Flow:
    """Check a callback: consent given, state valid, cookie of the same flow, a code."""
    params = request.query_params
    error = params.get("error", "")
    if error:
        detail = params.get("error_description", "").strip()
        said = f"{error}: {detail}" if detail else error
        if error == "access_denied":
            raise ConnectFailed(
                f"consent was denied on {network} ({said}): nothing was connected. Start "
                "again and choose Authorize to let the desk read and answer for the account"
            )
        raise ConnectFailed(f"{network} did not authorize the desk ({said})")
    nonce = verify_state(params.get("state", ""), actor=actor, kind=kind)
    secrets = _flow_secrets(request, kind)
    if secrets is None:
        raise ConnectFailed(
            "this browser has no record of starting the connection (it took too long, or "
            "cookies are blocked): start again"
        )
    if not nonce or secrets.pop("nonce", "") != nonce:
        raise ConnectFailed(
            "the answer belongs to another connection attempt (started in another tab?): "
            "start again"
        )
    code = params.get("code", "")
    if not code:
        raise ConnectFailed(f"{network} sent the browser back without a code: start again")
    return Flow(code=code, secrets=secrets)


def _callback(
    request: Request,
    db: Session,
    actor: Actor,
    kind: ChannelKind,
    *,
    network: str,
    connect: Callable[[Request, Session, Actor, Flow], BrandAccount],
) -> Response:
    """Where ``network`` sends the browser back: check the answer, connect the account and go
    to its page, or show the flow's page with what went wrong. Either way the flow's cookie is
    spent."""
    try:
        flow = _finish(request, actor, kind, network)
        account = connect(request, db, actor, flow)
    except ConnectFailed as exc:
        db.rollback()
        response = _page(request, db, actor, kind, error=exc, status_code=BAD_REQUEST)
    else:
        response = _done(account)
    response.delete_cookie(_cookie_name(kind), path=_cookie_path(kind))
    return response


def _refused(
    request: Request,
    db: Session,
    actor: Actor,
    kind: ChannelKind,
    exc: ConnectFailed | DomainError,
    *,
    values: Mapping[str, str],
) -> Response:
    """A connection form that failed (or that a service refused): nothing of it is kept, and
    the form comes back with what was typed and what went wrong."""
    db.rollback()
    failure = exc if isinstance(exc, ConnectFailed) else ConnectFailed(exc.message)
    return _page(request, db, actor, kind, error=failure, values=values, status_code=UNPROCESSABLE)


def _extra(db: Session, actor: Actor, kind: ChannelKind) -> dict[str, Any]:
    """What a flow's page shows besides its form."""
    if kind is ChannelKind.X:
        return {
            "stored_app": channels_service.stored_x_app(db, organization_id=actor.organization_id),
            "redirect_uri": _redirect_uri(kind),
            "scopes": " ".join(x_oauth.SCOPES),
        }
    if kind is ChannelKind.MASTODON:
        return {"redirect_uri": _redirect_uri(kind)}
    if kind is ChannelKind.FACEBOOK:
        return {"pages": _facebook_pages(db, actor)}
    return {}


# -- Mastodon -----------------------------------------------------------------------------


@router.get(PREFIX + "/mastodon")
def mastodon_page(request: Request, actor: ChannelAdmin, db: DB) -> Response:
    return _page(request, db, actor, ChannelKind.MASTODON)


def _mastodon_app(db: Session, instance_url: str, redirect_uri: str) -> mastodon_oauth.App:
    """The desk's app on the instance: the stored one, or registered now."""
    stored = channels_service.stored_mastodon_app(
        db, instance_url=instance_url, redirect_uri=redirect_uri
    )
    if stored is not None:
        return mastodon_oauth.App(instance_url, stored["client_id"], stored["client_secret"])
    host = urlsplit(instance_url).netloc
    client = _client(f"Mastodon ({host})")
    try:
        # Asked first so that a server that is not Mastodon is named as such.
        mastodon_oauth.fetch_instance(client, instance_url=instance_url)
        return mastodon_oauth.register_app(
            client,
            instance_url=instance_url,
            redirect_uri=redirect_uri,
            website=get_settings().base_url,
        )
    except ConnectorError as exc:
        raise _network_failure(f"the instance {host}", exc, "to register the desk") from exc
    finally:
        client.close()


@router.post(PREFIX + "/mastodon")
def mastodon_start(
    request: Request, actor: ChannelAdmin, form: forms.PostedForm, db: DB
) -> Response:
    raw = forms.text(form, "instance")
    kind = ChannelKind.MASTODON
    redirect_uri = _redirect_uri(kind)
    try:
        try:
            instance_url = mastodon_oauth.instance_url_from(raw)
        except ValueError as exc:
            raise ConnectFailed(str(exc), field="instance") from None
        state, nonce = issue_state(actor, kind)
        app = _mastodon_app(db, instance_url, redirect_uri)
    except ConnectFailed as exc:
        return _page(
            request,
            db,
            actor,
            kind,
            error=exc,
            values={"instance": raw},
            status_code=UNPROCESSABLE,
        )
    response = RedirectResponse(
        mastodon_oauth.authorization_url(app, redirect_uri=redirect_uri, state=state),
        status_code=303,
    )
    _set_flow_cookie(
        response,
        kind,
        nonce,
        {
            "instance_url": instance_url,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
        },
    )
    return response


@router.get(PREFIX + "/mastodon/callback")
def mastodon_callback(request: Request, actor: ChannelAdmin, db: DB) -> Response:
    return _callback(
        request,
        db,
        actor,
        ChannelKind.MASTODON,
        network="the Mastodon instance",
        connect=_mastodon_connect,
    )


def _mastodon_connect(request: Request, db: Session, actor: Actor, flow: Flow) -> BrandAccount:
    instance_url = flow.secrets.get("instance_url", "")
    host = urlsplit(instance_url).netloc
    app = mastodon_oauth.App(
        instance_url, flow.secrets.get("client_id", ""), flow.secrets.get("client_secret", "")
    )
    redirect_uri = _redirect_uri(ChannelKind.MASTODON)
    client = _client(f"Mastodon ({host})")
    try:
        try:
            token = mastodon_oauth.exchange_code(
                client, app=app, code=flow.code, redirect_uri=redirect_uri
            )
        except ConnectorError as exc:
            raise _network_failure(f"the instance {host}", exc, "the authorization code") from exc
        try:
            instance = mastodon_oauth.fetch_instance(client, instance_url=instance_url)
        except ConnectorError as exc:
            raise _network_failure(f"the instance {host}", exc, "to describe itself") from exc
    finally:
        client.close()
    settings = {"instance_url": instance_url}
    connector = MastodonConnector(transport=transport, policy=POLICY, sleep=sleep)
    context = AccountContext(
        brand_account_id=0, handle=host, settings=settings, credentials={"access_token": token}
    )
    try:
        me = connector.verify_credentials(context)
    except ConnectorError as exc:
        raise _network_failure(f"the instance {host}", exc, "the new access token") from exc
    try:
        handle = mastodon_oauth.handle_for({"acct": me.handle or ""}, domain=instance.domain)
    except AuthError as exc:
        raise ConnectFailed(exc.reason) from exc
    return _save(
        request,
        db,
        actor,
        kind=ChannelKind.MASTODON,
        handle=handle,
        display_name=me.display_name or handle,
        settings={
            **settings,
            "max_characters": instance.max_characters,
            "oauth_redirect_uri": redirect_uri,
        },
        credentials={
            "access_token": token,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
        },
    )


# -- X ------------------------------------------------------------------------------------


@router.get(PREFIX + "/x")
def x_page(request: Request, actor: ChannelAdmin, db: DB) -> Response:
    return _page(request, db, actor, ChannelKind.X)


@router.post(PREFIX + "/x")
def x_start(request: Request, actor: ChannelAdmin, form: forms.PostedForm, db: DB) -> Response:
    kind = ChannelKind.X
    client_id = forms.text(form, "client_id")
    client_secret = forms.text(form, "client_secret")
    try:
        if not client_id:
            stored = channels_service.stored_x_app(db, organization_id=actor.organization_id)
            if stored is None:
                raise ConnectFailed(
                    "enter the app's OAuth 2.0 Client ID (X developer portal > your app > "
                    "Keys and tokens)",
                    field="client_id",
                )
            client_id = stored["client_id"]
            client_secret = client_secret or stored.get("client_secret", "")
        state, nonce = issue_state(actor, kind)
    except ConnectFailed as exc:
        return _page(
            request,
            db,
            actor,
            kind,
            error=exc,
            values={"client_id": client_id},
            status_code=UNPROCESSABLE,
        )
    pkce = x_oauth.new_pkce()
    url = x_oauth.authorization_url(
        client_id=client_id, redirect_uri=_redirect_uri(kind), state=state, pkce=pkce
    )
    response = RedirectResponse(url, status_code=303)
    secrets = {"client_id": client_id, "verifier": pkce.verifier}
    if client_secret:
        secrets["client_secret"] = client_secret
    _set_flow_cookie(response, kind, nonce, secrets)
    return response


@router.get(PREFIX + "/x/callback")
def x_callback(request: Request, actor: ChannelAdmin, db: DB) -> Response:
    return _callback(request, db, actor, ChannelKind.X, network="X", connect=_x_connect)


def _x_connect(request: Request, db: Session, actor: Actor, flow: Flow) -> BrandAccount:
    client_id = flow.secrets.get("client_id", "")
    client_secret = flow.secrets.get("client_secret") or None
    try:
        pkce = x_oauth.pkce_from_verifier(flow.secrets.get("verifier", ""))
    except ValueError:
        raise ConnectFailed("the connection attempt lost its PKCE verifier: start again") from None
    client = _client("X")
    try:
        tokens = x_oauth.exchange_code(
            client,
            code=flow.code,
            pkce=pkce,
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=_redirect_uri(ChannelKind.X),
            now=clock.now,
        )
    except ConnectorError as exc:
        raise _network_failure("X", exc, "the authorization code") from exc
    finally:
        client.close()
    connector = XConnector(transport=transport, policy=POLICY, sleep=sleep)
    context = AccountContext(
        brand_account_id=0,
        handle="",
        settings={},
        credentials={"access_token": tokens.access_token},
    )
    try:
        me = connector.verify_credentials(context)
    except ConnectorError as exc:
        raise _network_failure("X", exc, "the new access token") from exc
    if not me.handle:
        raise ConnectFailed("X did not say which account approved the desk")
    warnings = []
    missing = x_oauth.missing_scopes(tokens.scopes)
    if missing:
        warnings.append(
            f"X did not grant {', '.join(missing)}: check the app's permissions (Read and "
            "write and Direct message) and connect again"
        )
    if tokens.refresh_token is None:
        warnings.append(
            "X sent no refresh token (offline.access was not granted): the account stops "
            "working when the access token expires, in about two hours"
        )
    credentials = {**tokens.credentials(), "client_id": client_id}
    if client_secret:
        credentials["client_secret"] = client_secret
    existing = channels_service.find_by_setting(
        db,
        organization_id=actor.organization_id,
        kind=ChannelKind.X.value,
        key="user_id",
        value=me.native_id,
    )
    return _save(
        request,
        db,
        actor,
        kind=ChannelKind.X,
        handle=f"@{me.handle}",
        display_name=me.display_name or f"@{me.handle}",
        settings={"user_id": me.native_id},
        credentials=credentials,
        existing=existing,
        warnings=warnings,
    )


# -- Bluesky ------------------------------------------------------------------------------


def _server_url(raw: str, *, default: str, field: str) -> str:
    """An https address (http only for this machine), without a trailing slash."""
    text = raw.strip() or default
    parts = urlsplit(text if "://" in text else f"https://{text}")
    host = (parts.hostname or "").lower()
    if parts.scheme not in {"https", "http"} or not host or " " in text:
        raise ConnectFailed(f"{text!r} is not a server address, e.g. {default}", field=field)
    if parts.scheme == "http" and host not in _LOOPBACK_HOSTS:
        raise ConnectFailed(
            f"use https for {host}: passwords must not travel in clear", field=field
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


@router.get(PREFIX + "/bluesky")
def bluesky_page(request: Request, actor: ChannelAdmin, db: DB) -> Response:
    return _page(
        request, db, actor, ChannelKind.BLUESKY, values={"service_url": DEFAULT_SERVICE_URL}
    )


@router.post(PREFIX + "/bluesky")
def bluesky_connect(
    request: Request, actor: ChannelAdmin, form: forms.PostedForm, db: DB
) -> Response:
    kind = ChannelKind.BLUESKY
    identifier = forms.text(form, "identifier").lstrip("@")
    password = forms.text(form, "app_password")
    values = {"identifier": identifier, "service_url": forms.text(form, "service_url")}
    try:
        if not identifier:
            raise ConnectFailed(
                "enter the account's handle, e.g. shop.bsky.social", field="identifier"
            )
        if not password:
            raise ConnectFailed(
                "enter an app password (Bluesky: Settings > Privacy and security > App passwords)",
                field="app_password",
            )
        service_url = _server_url(
            values["service_url"], default=DEFAULT_SERVICE_URL, field="service_url"
        )
        host = urlsplit(service_url).netloc
        connector = BlueskyConnector(transport=transport, policy=POLICY, sleep=sleep)
        context = AccountContext(
            brand_account_id=0,
            handle=identifier,
            settings={"service_url": service_url},
            credentials={"identifier": identifier, "app_password": password},
        )
        try:
            me = connector.verify_credentials(context)
        except ConnectorError as exc:
            raise _network_failure(f"the Bluesky server {host}", exc, "the sign-in") from exc
        session = connector.take_credentials_update(0) or {}
        handle = me.handle or identifier
        account = _save(
            request,
            db,
            actor,
            kind=kind,
            handle=handle,
            display_name=me.display_name or handle,
            settings={"service_url": service_url, "did": me.native_id},
            credentials={"identifier": identifier, "app_password": password, **session},
            existing=channels_service.find_by_setting(
                db,
                organization_id=actor.organization_id,
                kind=kind.value,
                key="did",
                value=me.native_id,
            )
            or channels_service.find_by_handle(
                db, organization_id=actor.organization_id, kind=kind.value, handle=handle
            ),
        )
    except (ConnectFailed, DomainError) as exc:
        return _refused(request, db, actor, kind, exc, values=values)
    return _done(account)


# -- Email --------------------------------------------------------------------------------


# Replaced in tests by fakes (or left as is against real local servers).
imap_check: Callable[[EmailAccount], None] = check_imap
smtp_check: Callable[[ServerConfig, float], None] = check_smtp

EMAIL_FIELDS = (
    "address",
    "display_name",
    "imap_host",
    "imap_port",
    "imap_security",
    "imap_mailbox",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "username",
    "smtp_username",
)
EMAIL_DEFAULTS = {
    "imap_port": "993",
    "imap_security": "ssl",
    "imap_mailbox": "INBOX",
    "smtp_port": "587",
    "smtp_security": "starttls",
}


def _email_settings(values: Mapping[str, str]) -> dict[str, Any]:
    address = values["address"].strip().lower()
    if "@" not in address or " " in address or address.startswith("@") or address.endswith("@"):
        raise ConnectFailed(f"{address!r} is not an email address", field="address")
    settings: dict[str, Any] = {"address": address}
    if values["display_name"]:
        settings["display_name"] = values["display_name"]
    for prefix in ("imap", "smtp"):
        host = values[f"{prefix}_host"].strip().lower()
        if not host:
            raise ConnectFailed(f"enter the {prefix.upper()} server", field=f"{prefix}_host")
        security = values[f"{prefix}_security"]
        if security not in SECURITY_CHOICES:
            raise ConnectFailed(
                f"{prefix.upper()} security must be one of {', '.join(SECURITY_CHOICES)}",
                field=f"{prefix}_security",
            )
        if security == "none" and host not in _LOOPBACK_HOSTS:
            raise ConnectFailed(
                f"{prefix.upper()} without TLS is only allowed on this machine: the password "
                f"would cross the network in clear; choose ssl or starttls for {host}",
                field=f"{prefix}_security",
            )
        try:
            port = int(values[f"{prefix}_port"])
        except ValueError:
            port = 0
        if not 0 < port < 65536:  # the range of TCP ports
            raise ConnectFailed(
                f"{prefix.upper()} port must be a number from 1 to 65535",
                field=f"{prefix}_port",
            )
        settings[f"{prefix}_host"] = host
        settings[f"{prefix}_port"] = port
        settings[f"{prefix}_security"] = security
    settings["imap_mailbox"] = values["imap_mailbox"] or "INBOX"
    return settings


@router.get(PREFIX + "/email")
def email_page(request: Request, actor: ChannelAdmin, db: DB) -> Response:
    return _page(request, db, actor, ChannelKind.EMAIL, values=EMAIL_DEFAULTS)


@router.post(PREFIX + "/email")
def email_connect(
    request: Request, actor: ChannelAdmin, form: forms.PostedForm, db: DB
) -> Response:
    kind = ChannelKind.EMAIL
    values = {
        name: forms.text(form, name, default=EMAIL_DEFAULTS.get(name, ""))
        or EMAIL_DEFAULTS.get(name, "")
        for name in EMAIL_FIELDS
    }
    password = forms.text(form, "password")
    smtp_password = forms.text(form, "smtp_password")
    try:
        settings = _email_settings(values)
        username = values["username"] or settings["address"]
        if not password:
            raise ConnectFailed("enter the mailbox's password", field="password")
        credentials = {"username": username, "password": password}
        if values["smtp_username"] or smtp_password:
            credentials["smtp_username"] = values["smtp_username"] or username
            credentials["smtp_password"] = smtp_password or password
        config = EmailAccount.from_context(
            AccountContext(
                brand_account_id=0,
                handle=settings["address"],
                settings=settings,
                credentials=credentials,
            )
        )
        assert config.imap is not None  # both hosts were checked above
        assert config.smtp is not None
        try:
            imap_check(config)
            smtp_check(config.smtp, config.timeout)
        except ConnectorError as exc:
            raise _mail_failure(exc) from exc
        account = _save(
            request,
            db,
            actor,
            kind=kind,
            handle=settings["address"],
            display_name=values["display_name"] or settings["address"],
            settings=settings,
            credentials=credentials,
        )
    except (ConnectFailed, DomainError) as exc:
        return _refused(request, db, actor, kind, exc, values=values)
    return _done(account)


# -- Facebook -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FacebookPage:
    account: BrandAccount
    webhook_url: str
    verify_token: str


def _facebook_pages(db: Session, actor: Actor) -> list[FacebookPage]:
    base = get_settings().base_url.rstrip("/")
    pages = []
    for account in channels_service.list_for_org(db, organization_id=actor.organization_id):
        if account.kind != ChannelKind.FACEBOOK.value:
            continue
        credentials = channels_service.context_for(account).credentials
        pages.append(
            FacebookPage(
                account=account,
                webhook_url=f"{base}/webhooks/facebook/{account.public_key}",
                verify_token=credentials.get("verify_token", ""),
            )
        )
    return pages


def _check_page(page_id: str, token: str, app_secret: str, graph_url: str) -> Identity:
    connector = FacebookConnector(transport=transport, policy=POLICY, sleep=sleep)
    context = AccountContext(
        brand_account_id=0,
        handle=page_id,
        settings={"page_id": page_id, "graph_url": graph_url},
        credentials={"page_access_token": token, "app_secret": app_secret},
    )
    try:
        return connector.verify_credentials(context)
    except ConnectorError as exc:
        raise _network_failure("Facebook", exc, "the Page access token") from exc


@router.get(PREFIX + "/facebook")
def facebook_page(request: Request, actor: ChannelAdmin, db: DB) -> Response:
    return _page(request, db, actor, ChannelKind.FACEBOOK)


@router.post(PREFIX + "/facebook")
def facebook_connect(
    request: Request, actor: ChannelAdmin, form: forms.PostedForm, db: DB
) -> Response:
    kind = ChannelKind.FACEBOOK
    page_id = forms.text(form, "page_id")
    token = forms.text(form, "page_access_token")
    app_secret = forms.text(form, "app_secret")
    values = {"page_id": page_id}
    try:
        if not page_id.isdigit():
            raise ConnectFailed(
                "enter the Page's numeric id (the Page's About > Page transparency)",
                field="page_id",
            )
        if not token:
            raise ConnectFailed("enter a Page access token", field="page_access_token")
        if not app_secret:
            raise ConnectFailed(
                "enter the app secret (Meta app > App settings > Basic): it checks every "
                "webhook delivery",
                field="app_secret",
            )
        existing = channels_service.find_by_setting(
            db, organization_id=actor.organization_id, kind=kind.value, key="page_id", value=page_id
        )
        graph_url = str(
            (existing.settings if existing else {}).get("graph_url") or DEFAULT_GRAPH_URL
        )
        page = _check_page(page_id, token, app_secret, graph_url)
        kept = channels_service.context_for(existing).credentials if existing else {}
        name = page.display_name or f"Page {page_id}"
        account = _save(
            request,
            db,
            actor,
            kind=kind,
            handle=existing.handle if existing else name,
            display_name=name,
            settings={"page_id": page_id},
            credentials={
                "page_access_token": token,
                "app_secret": app_secret,
                # Kept across reconnections: it is what Meta's dashboard was given.
                "verify_token": kept.get("verify_token") or crypto.new_token(24),
            },
            existing=existing,
        )
    except (ConnectFailed, DomainError) as exc:
        return _refused(request, db, actor, kind, exc, values=values)
    return RedirectResponse(f"{PREFIX}/facebook#page-{account.id}", status_code=303)


@router.post(PREFIX + "/facebook/{account_id}/token")
def facebook_token(
    request: Request, account_id: int, actor: ChannelAdmin, form: forms.PostedForm, db: DB
) -> Response:
    """A new Page token for a connected Page (the old one died with a password change or a
    lost Page role), checked with Facebook before it replaces the stored one."""
    account = channels_service.get_or_raise(
        db, organization_id=actor.organization_id, brand_account_id=account_id
    )
    kind = ChannelKind.FACEBOOK
    if account.kind != kind.value:
        raise ValidationFailed(f"{account.handle} is not a Facebook Page", field="account_id")
    token = forms.text(form, "page_access_token")
    try:
        if not token:
            raise ConnectFailed("enter the new Page access token", field=f"token-{account.id}")
        credentials = dict(channels_service.context_for(account).credentials)
        page_id = str(account.settings.get("page_id") or "")
        graph_url = str(account.settings.get("graph_url") or DEFAULT_GRAPH_URL)
        _check_page(page_id, token, credentials.get("app_secret", ""), graph_url)
        _save(
            request,
            db,
            actor,
            kind=kind,
            handle=account.handle,
            display_name=None,
            settings={},
            credentials={**credentials, "page_access_token": token},
            existing=account,
        )
    except ConnectFailed as exc:
        db.rollback()
        return _page(
            request,
            db,
            actor,
            kind,
            error=exc,
            status_code=UNPROCESSABLE,
            failed_account_id=account_id,
        )
    return RedirectResponse(f"{PREFIX}/facebook#page-{account.id}", status_code=303)
