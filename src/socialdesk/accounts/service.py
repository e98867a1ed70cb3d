"""Organizations, members, logins and API tokens."""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts.models import (
    ApiToken,
    AuthSession,
    Member,
    Organization,
    Role,
    Team,
    TeamMembership,
)
from socialdesk.common import clock
from socialdesk.common.crypto import decrypt_json, encrypt_json, hash_token, new_token
from socialdesk.common.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from socialdesk.common.pagination import MAX_ROW_ID, Page, keyset_page
from socialdesk.config import get_settings
from socialdesk.ratelimit import service as ratelimit

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


@lru_cache(maxsize=1)
def _argon2() -> PasswordHasher:
    """argon2id with the library's recommended parameters; cheap ones in the test
    environment only, so the suite does not spend minutes hashing."""
    if get_settings().env == "test":
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return PasswordHasher()


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 10


def create_organization(
    session: Session, *, name: str, slug: str | None = None, timezone: str = "UTC"
) -> Organization:
    name = name.strip()
    if not name:
        raise ValidationFailed("organization name must not be empty", field="name")
    slug = slug or re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "org"
    if session.scalar(select(Organization.id).where(Organization.slug == slug)) is not None:
        raise Conflict(f"an organization with slug {slug!r} already exists", field="slug")
    org = Organization(name=name, slug=slug, timezone=timezone, settings={}, created_at=clock.now())
    session.add(org)
    session.flush()
    return org


def get_organization(session: Session, organization_id: int) -> Organization:
    org = session.get(Organization, organization_id)
    if org is None:
        raise NotFound(f"organization {organization_id} does not exist")
    return org


def put_settings(
    session: Session,
    *,
    organization_id: int,
    values: dict[str, object],
    actor: Member,
    target: str,
    before: DataclassInstance,
    after: DataclassInstance,
) -> None:
    """Store some of ``Organization.settings`` (a value of None removes its key; the column is
    given a new dict, so the JSON column sees the change) and, when ``before`` and ``after``
    differ, record the change in the audit trail as ``target``."""
    organization = get_organization(session, organization_id)
    settings = dict(organization.settings or {})
    for name, value in values.items():
        if value is None:
            settings.pop(name, None)
        else:
            settings[name] = value
    organization.settings = settings
    if after != before:
        audit.record(
            session,
            organization_id=organization_id,
            action="settings_changed",
            actor=actor,
            target=(target, organization_id),
            before=asdict(before),
            after=asdict(after),
        )


def initials_of(name: str) -> str:
    parts = [p for p in re.split(r"\s+", name.strip()) if p]
    return "".join(p[0] for p in parts[:3]).upper()


def check_email(email: str) -> str:
    """A member's email address as stored (trimmed, lower case), or a clear refusal."""
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise ValidationFailed(f"{email!r} is not an email address", field="email")
    return email


def create_member(
    session: Session,
    *,
    organization_id: int,
    email: str,
    name: str,
    role: Role = Role.AGENT,
    password: str | None = None,
) -> Member:
    email = check_email(email)
    if session.scalar(select(Member.id).where(Member.email == email)) is not None:
        raise Conflict(f"a member with email {email} already exists", field="email")
    member = Member(
        organization_id=organization_id,
        email=email,
        name=name.strip() or email,
        initials=initials_of(name or email),
        role=role.value,
        password_hash=hash_password(password) if password is not None else None,
        is_active=True,
        created_at=clock.now(),
    )
    session.add(member)
    session.flush()
    return member


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"password must have at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    return str(_argon2().hash(password))


def change_password(
    session: Session,
    *,
    member: Member,
    current_password: str,
    new_password: str,
    keep_session: AuthSession | None = None,
    source_address: str | None = None,
) -> int:
    """A member changes their own password, proving they know the current one. Every other
    login of theirs ends (someone who learnt the old password is out); ``keep_session``, the
    login making the change, stays. Returns how many logins ended."""
    from socialdesk.accounts import audit

    try:
        _argon2().verify(member.password_hash or "", current_password)
    except (VerificationError, InvalidHashError):
        raise ValidationFailed("your current password is wrong", field="current_password") from None
    member.password_hash = hash_password(new_password)
    stmt = update(AuthSession).where(
        AuthSession.member_id == member.id, AuthSession.revoked_at.is_(None)
    )
    if keep_session is not None:
        stmt = stmt.where(AuthSession.token_hash != keep_session.token_hash)
    result = session.execute(stmt.values(revoked_at=clock.now()))
    audit.record(
        session,
        organization_id=member.organization_id,
        action="password_changed",
        actor=member,
        target=("member", member.id),
        source_address=source_address,
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # UPDATE results carry rowcount


def get_member(session: Session, *, organization_id: int, member_id: int) -> Member:
    member = session.get(Member, member_id)
    if member is None or member.organization_id != organization_id:
        raise NotFound(f"member {member_id} does not exist")
    return member


def list_members(session: Session, *, organization_id: int) -> list[Member]:
    return list(
        session.scalars(
            select(Member).where(Member.organization_id == organization_id).order_by(Member.name)
        )
    )


LOGIN_ADDRESS_WINDOW = timedelta(minutes=15)


class LoginFailed(NotAuthenticated):
    code = "login_failed"


class TotpRequired(NotAuthenticated):
    """Password was right; the second factor is needed to finish logging in."""

    code = "totp_required"


def authenticate(
    session: Session,
    *,
    email: str,
    password: str,
    totp_code: str | None = None,
    source_address: str | None = None,
) -> Member:
    """Check a login. Wrong passwords count towards a temporary lockout and are audited, so
    the caller must commit even when this raises LoginFailed (the web layer does). The error
    is the same whatever was wrong, so emails cannot be probed. Attempts from one network
    address, whatever the account, are limited too (``login_attempts_per_address`` failed or
    refused attempts per 15 minutes), so one address cannot guess across many accounts."""
    from socialdesk.accounts import audit

    settings = get_settings()
    now = clock.now()
    if not ratelimit.address_allowed(
        session,
        "login",
        source_address,
        limit=settings.login_attempts_per_address,
        window=LOGIN_ADDRESS_WINDOW,
    ):
        # Before the password hash is checked: the check is slow on purpose, so a flood of
        # guesses from one address costs it nothing more, whichever accounts it tries.
        raise LoginFailed(
            "too many login attempts from your network: please try again in a few minutes"
        )
    member = session.scalar(select(Member).where(Member.email == email.strip().lower()))
    if member is None or not member.is_active or member.password_hash is None:
        _argon2().hash("timing-equaliser")  # spend the same time as a real check
        raise LoginFailed("wrong email or password")
    if member.locked_until is not None and member.locked_until > now:
        raise LoginFailed(
            "too many failed logins: this account is locked for a while; try again later "
            "or ask an admin to reset your password"
        )
    try:
        _argon2().verify(member.password_hash, password)
    except (VerificationError, InvalidHashError):
        member.failed_logins += 1
        audit.record(
            session,
            organization_id=member.organization_id,
            action="login_failed",
            actor=None,
            target=("member", member.id),
            source_address=source_address,
            after={"failed_logins": member.failed_logins},
        )
        if member.failed_logins >= settings.login_max_failures:
            member.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
            member.failed_logins = 0
            audit.record(
                session,
                organization_id=member.organization_id,
                action="lockout",
                actor=None,
                target=("member", member.id),
                source_address=source_address,
                after={"locked_until": member.locked_until.isoformat()},
            )
        raise LoginFailed("wrong email or password") from None
    if member.totp_enabled:
        if not totp_code:
            raise TotpRequired("enter the 6-digit code from your authenticator app")
        if not verify_totp(member, totp_code):
            member.failed_logins += 1
            raise LoginFailed("the authenticator code is wrong or expired")
    if _argon2().check_needs_rehash(member.password_hash):
        member.password_hash = _argon2().hash(password)
    member.failed_logins = 0
    member.locked_until = None
    member.last_login_at = now
    # A login that succeeds is not a guess: the address limit counts failures only, so an
    # office behind one address is not locked out when the whole shift logs in at once.
    ratelimit.forgive_address(session, "login", source_address)
    audit.record(
        session,
        organization_id=member.organization_id,
        action="login",
        actor=member,
        target=("member", member.id),
        source_address=source_address,
    )
    return member


# -- two-factor (TOTP, RFC 6238) -----------------------------------------------------------


def begin_totp(member: Member) -> str:
    """Create a new secret (not yet active) and return the otpauth:// URI for the QR code."""
    secret = pyotp.random_base32()
    member.totp_secret_encrypted = encrypt_json({"secret": secret})
    member.totp_enabled = False
    return str(pyotp.TOTP(secret).provisioning_uri(name=member.email, issuer_name="socialdesk"))


def verify_totp(member: Member, code: str) -> bool:
    if member.totp_secret_encrypted is None:
        return False
    secret = decrypt_json(member.totp_secret_encrypted)["secret"]
    # One step of drift either way: phones' clocks are rarely exact.
    return bool(
        pyotp.TOTP(secret).verify(
            code.strip().replace(" ", ""), for_time=clock.now(), valid_window=1
        )
    )


def enable_totp(session: Session, *, member: Member, code: str) -> None:
    from socialdesk.accounts import audit

    if not verify_totp(member, code):
        raise ValidationFailed(
            "that code does not match: check the time on your phone", field="code"
        )
    member.totp_enabled = True
    audit.record(
        session,
        organization_id=member.organization_id,
        action="totp_enabled",
        actor=member,
        target=("member", member.id),
    )


def may_manage_sign_in(actor: Member, member: Member) -> bool:
    """Whether ``actor`` may reset ``member``'s password or turn off their two-factor login.
    Anyone may their own; an admin may anyone's but an owner's, which only an owner may:
    otherwise an admin could sign in as the owner and make themselves one."""
    return (
        actor.id == member.id or member.role != Role.OWNER.value or actor.role == Role.OWNER.value
    )


def ensure_may_manage_sign_in(actor: Member, member: Member) -> None:
    if not may_manage_sign_in(actor, member):
        raise PermissionDenied(
            "only an owner can reset an owner's password or turn off their two-factor login"
        )


def disable_totp(session: Session, *, member: Member, actor: Member) -> None:
    from socialdesk.accounts import audit

    ensure_may_manage_sign_in(actor, member)
    member.totp_enabled = False
    member.totp_secret_encrypted = None
    audit.record(
        session,
        organization_id=member.organization_id,
        action="totp_disabled",
        actor=actor,
        target=("member", member.id),
    )


@dataclass(frozen=True)
class NewSession:
    token: str  # goes in the cookie; only its hash is stored
    csrf_token: str
    member: Member


def start_session(session: Session, *, member: Member, source_address: str | None) -> NewSession:
    token = new_token()
    now = clock.now()
    auth = AuthSession(
        token_hash=hash_token(token),
        member_id=member.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + timedelta(days=get_settings().session_days),
        source_address=source_address,
    )
    session.add(auth)
    return NewSession(token=token, csrf_token=auth.csrf_token, member=member)


def resolve_session(session: Session, *, token: str) -> tuple[AuthSession, Member] | None:
    auth = session.get(AuthSession, hash_token(token))
    if auth is None or auth.revoked_at is not None or auth.expires_at <= clock.now():
        return None
    member = session.get(Member, auth.member_id)
    if member is None or not member.is_active:
        return None
    return auth, member


def end_session(session: Session, *, token: str) -> None:
    auth = session.get(AuthSession, hash_token(token))
    if auth is not None and auth.revoked_at is None:
        auth.revoked_at = clock.now()


def end_all_sessions(session: Session, *, member: Member) -> int:
    """Log the member out everywhere, at once."""
    now = clock.now()
    result = session.execute(
        update(AuthSession)
        .where(AuthSession.member_id == member.id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # UPDATE results carry rowcount


def revoke_all_api_tokens(session: Session, *, member: Member) -> int:
    now = clock.now()
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.member_id == member.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # UPDATE results carry rowcount


def change_role(
    session: Session,
    *,
    member: Member,
    role: Role,
    actor: Member,
    source_address: str | None = None,
) -> None:
    """Owners may grant or take ownership; the last owner cannot be demoted."""
    from socialdesk.accounts import audit

    if member.organization_id != actor.organization_id:
        raise NotFound(f"member {member.id} does not exist")
    if Role.OWNER.value in (role.value, member.role) and actor.role != Role.OWNER.value:
        raise PermissionDenied("only an owner can grant or remove the owner role")
    if member.role == Role.OWNER.value and role is not Role.OWNER:
        owners = session.scalar(
            select(func.count(Member.id)).where(
                Member.organization_id == member.organization_id,
                Member.role == Role.OWNER.value,
                Member.is_active.is_(True),
            )
        )
        if (owners or 0) <= 1:
            raise Conflict("this is the last owner: make someone else owner first", field="role")
    if member.role == role.value:
        return
    before = member.role
    member.role = role.value
    audit.record(
        session,
        organization_id=member.organization_id,
        action="role_changed",
        actor=actor,
        target=("member", member.id),
        source_address=source_address,
        before={"role": before},
        after={"role": role.value},
    )


@dataclass(frozen=True)
class NewApiToken:
    token: str  # shown once
    record: ApiToken


API_TOKEN_PREFIX = "sdk_"  # noqa: S105 - a public prefix that makes leaked tokens greppable


def create_api_token(
    session: Session, *, member: Member, name: str, scopes: list[str] | None = None
) -> NewApiToken:
    """A token for scripts and integrations. ``scopes`` narrow it below the member's role
    (see permissions.TOKEN_SCOPES); none means everything the role allows."""
    from socialdesk.accounts import audit
    from socialdesk.accounts.permissions import TOKEN_SCOPES

    unknown = sorted(set(scopes or []) - set(TOKEN_SCOPES))
    if unknown:
        raise ValidationFailed(
            f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(TOKEN_SCOPES)}",
            field="scopes",
        )
    token = API_TOKEN_PREFIX + new_token()
    record = ApiToken(
        organization_id=member.organization_id,
        member_id=member.id,
        name=name.strip() or "token",
        prefix=token[:10],
        token_hash=hash_token(token),
        scopes=sorted(set(scopes or [])),
        created_at=clock.now(),
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        organization_id=member.organization_id,
        action="api_token_created",
        actor=member,
        target=("api_token", record.id),
        after={"name": record.name, "scopes": record.scopes},
    )
    return NewApiToken(token=token, record=record)


def resolve_api_token(session: Session, *, token: str) -> tuple[ApiToken, Member] | None:
    record = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if record is None or record.revoked_at is not None:
        return None
    member = session.get(Member, record.member_id)
    if member is None or not member.is_active:
        return None
    return record, member


# A busy integration should not write on every call.
TOKEN_TOUCH_EVERY = timedelta(minutes=1)


def touch_api_token(session: Session, *, token_id: int, now: datetime | None = None) -> None:
    """Record that the token was used, at most once a minute. Its own statement, meant for a
    write transaction: a read-only request must not write in its read transaction (on SQLite
    that write fails at once when another process wrote since the read began)."""
    now = now or clock.now()
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(
                ApiToken.last_used_at.is_(None),
                ApiToken.last_used_at < now - TOKEN_TOUCH_EVERY,
            ),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


def token_touch_due(record: ApiToken, now: datetime | None = None) -> bool:
    now = now or clock.now()
    return record.last_used_at is None or now - record.last_used_at > TOKEN_TOUCH_EVERY


def revoke_api_token(session: Session, *, member: Member, token_id: int) -> None:
    record = session.get(ApiToken, token_id)
    if record is None or record.organization_id != member.organization_id:
        raise NotFound(f"API token {token_id} does not exist")
    if record.revoked_at is None:
        from socialdesk.accounts import audit

        record.revoked_at = clock.now()
        audit.record(
            session,
            organization_id=record.organization_id,
            action="api_token_revoked",
            actor=member,
            target=("api_token", record.id),
        )


def get_own_api_token(session: Session, *, member: Member, token_id: int) -> ApiToken:
    """One of ``member``'s own tokens; anyone else's is reported as missing."""
    record = session.get(ApiToken, token_id)
    if record is None or record.member_id != member.id:
        raise NotFound(f"API token {token_id} does not exist")
    return record


def api_tokens_page(
    session: Session, *, member: Member, cursor: str | None = None, limit: int = 50
) -> Page[ApiToken]:
    """``member``'s tokens, revoked ones included (with when), newest first."""
    return keyset_page(
        session,
        select(ApiToken).where(ApiToken.member_id == member.id),
        when=ApiToken.created_at,
        row_id=ApiToken.id,
        key=lambda t: (t.created_at, t.id),
        cursor=cursor,
        limit=limit,
        newest_first=True,
    )


def members_page(
    session: Session, *, organization_id: int, cursor: str | None = None, limit: int = 50
) -> Page[Member]:
    """The organization's members (deactivated ones too), in the order they joined."""
    return keyset_page(
        session,
        select(Member).where(Member.organization_id == organization_id),
        when=Member.created_at,
        row_id=Member.id,
        key=lambda m: (m.created_at, m.id),
        cursor=cursor,
        limit=limit,
        newest_first=False,
    )


def teams_page(
    session: Session, *, organization_id: int, cursor: str | None = None, limit: int = 50
) -> Page[Team]:
    return keyset_page(
        session,
        select(Team).where(Team.organization_id == organization_id),
        when=Team.created_at,
        row_id=Team.id,
        key=lambda t: (t.created_at, t.id),
        cursor=cursor,
        limit=limit,
        newest_first=False,
    )


def create_team(session: Session, *, organization_id: int, name: str) -> Team:
    name = name.strip()
    if not name:
        raise ValidationFailed("team name must not be empty", field="name")
    exists = session.scalar(
        select(Team.id).where(
            Team.organization_id == organization_id, func.lower(Team.name) == name.lower()
        )
    )
    if exists is not None:
        raise Conflict(f"a team named {name!r} already exists", field="name")
    team = Team(organization_id=organization_id, name=name, created_at=clock.now())
    session.add(team)
    session.flush()
    return team


def add_to_team(session: Session, *, team: Team, member: Member) -> None:
    if team.organization_id != member.organization_id:
        raise NotFound(f"team {team.id} does not exist")
    if session.get(TeamMembership, (team.id, member.id)) is None:
        session.add(TeamMembership(team_id=team.id, member_id=member.id))


def remove_from_team(session: Session, *, team: Team, member: Member) -> None:
    if team.organization_id != member.organization_id:
        raise NotFound(f"team {team.id} does not exist")
    membership = session.get(TeamMembership, (team.id, member.id))
    if membership is not None:
        session.delete(membership)


def get_team(
    session: Session, *, organization_id: int, team_id: int, field: str | None = None
) -> Team:
    """The organization's team ``team_id``; another organization's, or none, is NotFound
    (naming ``field`` when given)."""
    team = session.get(Team, team_id) if 0 < team_id <= MAX_ROW_ID else None
    if team is None or team.organization_id != organization_id:
        raise NotFound(f"team {team_id} does not exist", field=field)
    return team


def list_teams(session: Session, *, organization_id: int) -> list[Team]:
    return list(
        session.scalars(
            select(Team).where(Team.organization_id == organization_id).order_by(Team.name)
        )
    )


@dataclass(frozen=True)
class Bootstrap:
    organization: Organization
    owner: Member
    password: str


def bootstrap_if_empty(
    session: Session, *, org_name: str = "My organization", email: str = "owner@example.org"
) -> Bootstrap | None:
    """On a fresh database create the first organization and its owner with a generated password
    (never a fixed default). Returns None when the database already has an organization."""
    if session.scalar(select(func.count(Organization.id))):
        return None
    org = create_organization(session, name=org_name)
    password = secrets.token_urlsafe(12)
    owner = create_member(
        session,
        organization_id=org.id,
        email=email,
        name="Owner",
        role=Role.OWNER,
        password=password,
    )
    return Bootstrap(organization=org, owner=owner, password=password)
