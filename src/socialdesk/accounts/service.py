"""Organizations, members, logins and API tokens."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

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
from socialdesk.common.crypto import hash_token, new_token
from socialdesk.common.errors import Conflict, NotAuthenticated, NotFound, ValidationFailed
from socialdesk.common.pagination import Page, keyset_page
from socialdesk.config import get_settings

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
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


def initials_of(name: str) -> str:
    parts = [p for p in re.split(r"\s+", name.strip()) if p]
    return "".join(p[0] for p in parts[:3]).upper()


def create_member(
    session: Session,
    *,
    organization_id: int,
    email: str,
    name: str,
    role: Role = Role.AGENT,
    password: str | None = None,
) -> Member:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise ValidationFailed(f"{email!r} is not an email address", field="email")
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
    return str(_hasher.hash(password))


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


def authenticate(session: Session, *, email: str, password: str) -> Member:
    """Check a password. The same error whatever was wrong, so emails cannot be probed."""
    member = session.scalar(select(Member).where(Member.email == email.strip().lower()))
    wrong = NotAuthenticated("wrong email or password")
    if member is None or not member.is_active or member.password_hash is None:
        _hasher.hash("timing-equaliser")  # spend the same time as a real check
        raise wrong
    try:
        _hasher.verify(member.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise wrong from None
    if _hasher.check_needs_rehash(member.password_hash):
        member.password_hash = _hasher.hash(password)
    return member


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


@dataclass(frozen=True)
class NewApiToken:
    token: str  # shown once
    record: ApiToken


API_TOKEN_PREFIX = "sdk_"  # noqa: S105 - a public prefix that makes leaked tokens greppable


def create_api_token(session: Session, *, member: Member, name: str) -> NewApiToken:
    token = API_TOKEN_PREFIX + new_token()
    record = ApiToken(
        organization_id=member.organization_id,
        member_id=member.id,
        name=name.strip() or "token",
        prefix=token[:10],
        token_hash=hash_token(token),
        created_at=clock.now(),
    )
    session.add(record)
    session.flush()
    return NewApiToken(token=token, record=record)


def resolve_api_token(session: Session, *, token: str) -> Member | None:
    record = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if record is None or record.revoked_at is not None:
        return None
    member = session.get(Member, record.member_id)
    if member is None or not member.is_active:
        return None
    return member


def revoke_api_token(session: Session, *, member: Member, token_id: int) -> None:
    record = session.get(ApiToken, token_id)
    if record is None or record.organization_id != member.organization_id:
        raise NotFound(f"API token {token_id} does not exist")
    record.revoked_at = record.revoked_at or clock.now()


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


def get_team(session: Session, *, organization_id: int, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None or team.organization_id != organization_id:
        raise NotFound(f"team {team_id} does not exist")
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
