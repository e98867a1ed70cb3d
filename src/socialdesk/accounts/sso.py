"""Single sign-on with OpenID Connect: the authorization-code flow with PKCE.

The desk is the relying party. ``begin`` builds the provider's authorization URL and the
secrets (state, nonce, PKCE verifier) the browser keeps in a signed, short-lived cookie;
``complete`` exchanges the code, validates the id_token (signature against the provider's
keys, issuer, audience, expiry, nonce, a verified email) and finds the member it names.

SSO never bypasses the desk's own rules: only an active member gets in, a locked account stays
locked, and members are only created when ``oidc_allow_signup`` is on. The HTTP client is
injectable so tests talk to a fake provider without a network.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.rfc7636 import (  # type: ignore[import-untyped] # authlib ships no types
    create_s256_code_challenge,
)
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts.models import Member, Organization, Role
from socialdesk.common import clock
from socialdesk.common.crypto import sign, unsign
from socialdesk.common.errors import NotAuthenticated
from socialdesk.config import get_settings

SCOPE = "openid email profile"
ALGORITHMS = ("RS256", "ES256")
FLOW_LIFETIME = timedelta(minutes=10)  # time allowed at the provider's login page
DISCOVERY_TTL = timedelta(hours=1)
CLOCK_SKEW = timedelta(seconds=60)  # the provider's clock is never exactly ours
HTTP_TIMEOUT = 10.0


class SsoFailed(NotAuthenticated):
    """Single sign-on did not prove who the caller is; the message says why."""

    code = "sso_failed"


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    provider_name: str
    allow_signup: bool
    redirect_uri: str


def config_from_settings() -> OidcConfig | None:
    """The configured provider, or None when SSO is off (issuer or client id unset)."""
    settings = get_settings()
    if not settings.oidc_issuer or not settings.oidc_client_id:
        return None
    return OidcConfig(
        issuer=settings.oidc_issuer.rstrip("/"),
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        provider_name=settings.oidc_provider_name or "single sign-on",
        allow_signup=settings.oidc_allow_signup,
        redirect_uri=settings.base_url.rstrip("/") + "/login/sso/callback",
    )


# -- HTTP ----------------------------------------------------------------------------------

_http_client: httpx.Client | None = None


def set_http_client(client: httpx.Client | None) -> None:
    """Use ``client`` for every call to the provider (tests pass one on a MockTransport)."""
    global _http_client  # noqa: PLW0603 - one swappable client, like the clock
    _http_client = client
    _discovery_cache.clear()


def _http() -> httpx.Client:
    global _http_client  # noqa: PLW0603 - created lazily once per process
    if _http_client is None:
        _http_client = httpx.Client(timeout=HTTP_TIMEOUT)
    return _http_client


def _get_json(url: str, what: str, **kwargs: Any) -> dict[str, Any]:
    try:
        response = _http().request("GET", url, **kwargs)
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SsoFailed(f"the sign-in provider's {what} could not be read ({exc})") from None
    if not isinstance(data, dict):
        raise SsoFailed(f"the sign-in provider's {what} is not a JSON object")
    return data


# -- discovery -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


_discovery_cache: dict[str, tuple[datetime, Provider]] = {}


def discover(config: OidcConfig) -> Provider:
    """The provider's endpoints from its discovery document, cached for an hour."""
    now = clock.now()
    cached = _discovery_cache.get(config.issuer)
    if cached is not None and cached[0] > now:
        return cached[1]
    data = _get_json(f"{config.issuer}/.well-known/openid-configuration", "discovery document")
    fields = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
    missing = [f for f in fields if not isinstance(data.get(f), str) or not data[f]]
    if missing:
        raise SsoFailed(f"the sign-in provider's discovery document lacks {', '.join(missing)}")
    # The issuer must be the one configured, or a look-alike document could redirect logins.
    if data["issuer"].rstrip("/") != config.issuer:
        raise SsoFailed(
            f"the sign-in provider says its issuer is {data['issuer']}, "
            f"not the configured {config.issuer}"
        )
    provider = Provider(
        issuer=data["issuer"],
        authorization_endpoint=data["authorization_endpoint"],
        token_endpoint=data["token_endpoint"],
        jwks_uri=data["jwks_uri"],
    )
    _discovery_cache[config.issuer] = (now + DISCOVERY_TTL, provider)
    return provider


# -- the flow ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingLogin:
    """What the browser keeps (signed) between leaving for the provider and coming back."""

    state: str
    nonce: str
    verifier: str
    started_at: datetime


@dataclass(frozen=True)
class Authorization:
    url: str
    pending: PendingLogin


def begin(*, config: OidcConfig, provider: Provider) -> Authorization:
    pending = PendingLogin(
        state=secrets.token_urlsafe(24),
        nonce=secrets.token_urlsafe(24),
        verifier=secrets.token_urlsafe(48),  # 64 characters, within RFC 7636's 43..128
        started_at=clock.now(),
    )
    query = urlencode(
        {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": config.redirect_uri,
            "scope": SCOPE,
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": create_s256_code_challenge(pending.verifier),
            "code_challenge_method": "S256",
        }
    )
    separator = "&" if "?" in provider.authorization_endpoint else "?"
    return Authorization(
        url=f"{provider.authorization_endpoint}{separator}{query}", pending=pending
    )


def pack(pending: PendingLogin) -> str:
    """The signed cookie value for ``pending`` (base64url JSON has no '.', which sign() uses)."""
    raw = json.dumps(
        {
            "state": pending.state,
            "nonce": pending.nonce,
            "verifier": pending.verifier,
            "started_at": pending.started_at.isoformat(),
        }
    )
    return sign(base64.urlsafe_b64encode(raw.encode()).decode().rstrip("="))


def unpack(cookie: str) -> PendingLogin | None:
    """The pending login in a cookie, or None if it is forged, garbled or too old."""
    value = unsign(cookie)
    if value is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        pending = PendingLogin(
            state=str(data["state"]),
            nonce=str(data["nonce"]),
            verifier=str(data["verifier"]),
            started_at=datetime.fromisoformat(str(data["started_at"])),
        )
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    if pending.started_at.tzinfo is None or pending.started_at + FLOW_LIFETIME < clock.now():
        return None
    return pending


def exchange_code(*, config: OidcConfig, provider: Provider, code: str, verifier: str) -> str:
    """Trade the authorization code for tokens; returns the id_token."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": config.redirect_uri,
        "client_id": config.client_id,
        "code_verifier": verifier,
    }
    if config.client_secret:
        form["client_secret"] = config.client_secret  # client_secret_post
    try:
        response = _http().post(
            provider.token_endpoint, data=form, headers={"Accept": "application/json"}
        )
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SsoFailed(f"the sign-in provider's token endpoint did not answer ({exc})") from None
    if response.status_code != 200 or not isinstance(data, dict):
        reason = data.get("error", response.status_code) if isinstance(data, dict) else ""
        raise SsoFailed(f"the sign-in provider refused the login code ({reason})")
    id_token = data.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise SsoFailed("the sign-in provider sent no id_token")
    return id_token


@dataclass(frozen=True)
class Identity:
    subject: str
    email: str
    name: str


def _timestamp(claims: dict[str, Any], name: str) -> datetime:
    value = claims.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise SsoFailed(f"the id_token has no valid {name} time")
    return datetime.fromtimestamp(value, tz=UTC)


def verify_id_token(
    *, config: OidcConfig, provider: Provider, id_token: str, nonce: str, keys: KeySet
) -> Identity:
    """Check the id_token's signature and claims (OpenID Connect Core 3.1.3.7)."""
    try:
        token = jwt.decode(id_token, keys, algorithms=list(ALGORITHMS))
    except (JoseError, ValueError) as exc:
        raise SsoFailed(f"the id_token's signature is not valid ({exc})") from None
    claims: dict[str, Any] = dict(token.claims)
    if claims.get("iss") != provider.issuer:
        raise SsoFailed(f"the id_token was issued by {claims.get('iss')!r}, not {provider.issuer}")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if config.client_id not in audiences:
        raise SsoFailed("the id_token was issued for another application (audience)")
    if len(audiences) > 1 and claims.get("azp") != config.client_id:
        raise SsoFailed("the id_token's authorized party is another application")
    now = clock.now()
    if _timestamp(claims, "exp") + CLOCK_SKEW <= now:
        raise SsoFailed("the id_token has expired: please sign in again")
    if _timestamp(claims, "iat") - CLOCK_SKEW > now:
        raise SsoFailed("the id_token was issued in the future: check the server clocks")
    sent_nonce = claims.get("nonce")
    if not isinstance(sent_nonce, str) or not hmac.compare_digest(sent_nonce, nonce):
        raise SsoFailed("the id_token does not belong to this sign-in (nonce): try again")
    email = claims.get("email")
    if not isinstance(email, str) or not email.strip():
        raise SsoFailed("the sign-in provider did not share an email address")
    if claims.get("email_verified") is not True:
        raise SsoFailed(f"the sign-in provider has not verified {email}")
    return Identity(
        subject=str(claims.get("sub", "")),
        email=email.strip().lower(),
        name=str(claims.get("name") or ""),
    )


def fetch_keys(provider: Provider) -> KeySet:
    # Fetched on every login rather than cached: logins are rare, and a provider that rotates
    # its keys must not lock everyone out until a cache expires.
    data = _get_json(provider.jwks_uri, "signing keys")
    try:
        return KeySet.import_key_set(data)  # type: ignore[arg-type] # validated by joserfc
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise SsoFailed(f"the sign-in provider's signing keys are not usable ({exc})") from None


def _refuse(
    session: Session, member: Member, message: str, source_address: str | None
) -> SsoFailed:
    audit.record(
        session,
        organization_id=member.organization_id,
        action="login_failed",
        actor=None,
        target=("member", member.id),
        source_address=source_address,
        after={"method": "oidc", "reason": message},
    )
    return SsoFailed(message)


def _signup(session: Session, identity: Identity) -> Member | None:
    """With signup on, a new member joins the only organization as a viewer (least power; an
    admin raises the role). With several organizations there is no safe guess: no signup."""
    from socialdesk.accounts import service as accounts_service

    if session.scalar(select(func.count()).select_from(Organization)) != 1:
        return None
    organization_id = session.scalars(select(Organization.id)).one()
    return accounts_service.create_member(
        session,
        organization_id=organization_id,
        email=identity.email,
        name=identity.name or identity.email,
        role=Role.VIEWER,
    )


def complete(
    session: Session,
    *,
    config: OidcConfig,
    pending: PendingLogin,
    state: str,
    code: str,
    source_address: str | None,
) -> Member:
    """Finish a sign-in: the member to start a session for, or SsoFailed saying why not.

    Refusals of a known member are audited, so the caller must commit even when this raises."""
    if not hmac.compare_digest(state, pending.state):
        raise SsoFailed("the sign-in answer does not match this browser's request (state)")
    provider = discover(config)
    id_token = exchange_code(config=config, provider=provider, code=code, verifier=pending.verifier)
    identity = verify_id_token(
        config=config,
        provider=provider,
        id_token=id_token,
        nonce=pending.nonce,
        keys=fetch_keys(provider),
    )
    member = session.scalar(select(Member).where(Member.email == identity.email))
    if member is None and config.allow_signup:
        member = _signup(session, identity)
    if member is None:
        raise SsoFailed(
            f"no socialdesk account for {identity.email}; ask an admin for an invitation"
        )
    if not member.is_active:
        raise _refuse(session, member, "this account has been deactivated", source_address)
    now = clock.now()
    if member.locked_until is not None and member.locked_until > now:
        raise _refuse(
            session,
            member,
            "too many failed logins: this account is locked for a while; try again later",
            source_address,
        )
    member.failed_logins = 0
    member.last_login_at = now
    audit.record(
        session,
        organization_id=member.organization_id,
        action="login",
        actor=member,
        target=("member", member.id),
        source_address=source_address,
        after={"method": "oidc"},
    )
    return member
