"""Brand accounts: create, look up within an organization, and hand connectors their context."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, runtime_checkable

from sqlalchemy import ColumnElement, SQLColumnExpression, delete, literal, or_, select
from sqlalchemy.orm import Session, object_session

from socialdesk.channels.models import BrandAccount, BrandAccountAccess, Health
from socialdesk.common import clock
from socialdesk.common.crypto import decrypt_json, encrypt_json, hash_token, new_token
from socialdesk.common.errors import Conflict, NotFound, ValidationFailed
from socialdesk.common.pagination import Page, keyset_page
from socialdesk.connectors import registry
from socialdesk.connectors.base import AccountContext, ChannelKind, Connector, SendReadiness

# How notifications and messages name each channel.
CHANNEL_NAMES: dict[str, str] = {
    ChannelKind.WEB.value: "Website",
    ChannelKind.X.value: "X",
    ChannelKind.MASTODON.value: "Mastodon",
    ChannelKind.BLUESKY.value: "Bluesky",
    ChannelKind.FACEBOOK.value: "Facebook",
    ChannelKind.EMAIL.value: "Email",
}


def channel_name(kind: str) -> str:
    """The channel's name as people read it ("Website", "X"...)."""
    return CHANNEL_NAMES.get(kind, kind.title())


def create(
    session: Session,
    *,
    organization_id: int,
    kind: ChannelKind | str,
    handle: str,
    display_name: str | None = None,
    settings: Mapping[str, Any] | None = None,
    credentials: Mapping[str, str] | None = None,
) -> BrandAccount:
    try:
        kind = ChannelKind(kind)
    except ValueError:
        raise ValidationFailed(
            f"unknown channel {kind!r}; one of {', '.join(k.value for k in ChannelKind)}",
            field="kind",
        ) from None
    handle = handle.strip()
    if not handle:
        raise ValidationFailed("handle must not be empty", field="handle")
    exists = session.scalar(
        select(BrandAccount.id).where(
            BrandAccount.organization_id == organization_id,
            BrandAccount.kind == kind.value,
            BrandAccount.handle == handle,
        )
    )
    if exists is not None:
        raise Conflict(f"a {kind.value} account {handle!r} already exists", field="handle")
    account = BrandAccount(
        organization_id=organization_id,
        kind=kind.value,
        handle=handle,
        display_name=(display_name or handle).strip(),
        settings=dict(settings or {}),
        credentials_encrypted=encrypt_json(credentials) if credentials else None,
        public_key=new_token(18),
        health=Health.OK.value if kind is ChannelKind.WEB else Health.UNKNOWN.value,
        created_at=clock.now(),
    )
    session.add(account)
    session.flush()
    return account


def get_or_raise(session: Session, *, organization_id: int, brand_account_id: int) -> BrandAccount:
    account = session.get(BrandAccount, brand_account_id)
    if account is None or account.organization_id != organization_id:
        raise NotFound(f"brand account {brand_account_id} does not exist")
    return account


def get_by_public_key(session: Session, *, public_key: str) -> BrandAccount:
    account = session.scalar(select(BrandAccount).where(BrandAccount.public_key == public_key))
    if account is None:
        raise NotFound("no such chat")
    return account


def find_by_handle(
    session: Session, *, organization_id: int, kind: str, handle: str
) -> BrandAccount | None:
    return session.scalar(
        select(BrandAccount).where(
            BrandAccount.organization_id == organization_id,
            BrandAccount.kind == kind,
            BrandAccount.handle == handle,
        )
    )


def list_for_org(session: Session, *, organization_id: int) -> list[BrandAccount]:
    return list(
        session.scalars(
            select(BrandAccount)
            .where(BrandAccount.organization_id == organization_id)
            .order_by(BrandAccount.kind, BrandAccount.handle)
        )
    )


def page_for_org(
    session: Session, *, organization_id: int, cursor: str | None = None, limit: int = 50
) -> Page[BrandAccount]:
    """The organization's brand accounts in the order they were added."""
    return keyset_page(
        session,
        select(BrandAccount).where(BrandAccount.organization_id == organization_id),
        when=BrandAccount.created_at,
        row_id=BrandAccount.id,
        key=lambda a: (a.created_at, a.id),
        cursor=cursor,
        limit=limit,
        newest_first=False,
    )


class Keep(enum.Enum):
    """Marks an argument left out of an update, as distinct from ``None`` (clear it)."""

    KEEP = "keep"


def update(
    session: Session,
    *,
    account: BrandAccount,
    display_name: str | None = None,
    settings: Mapping[str, Any] | None = None,
    credentials: Mapping[str, str] | Literal[Keep.KEEP] | None = Keep.KEEP,
) -> BrandAccount:
    """Change what may change about an account. Kind and handle stay: threads and contacts
    hang on them. ``credentials`` replaces the stored ones; ``None`` or ``{}`` removes them,
    leaving it out keeps them."""
    if display_name is not None:
        if not display_name.strip():
            raise ValidationFailed("display name must not be empty", field="display_name")
        account.display_name = display_name.strip()
    if settings is not None:
        account.settings = dict(settings)
    if credentials is not Keep.KEEP:
        set_credentials(account, credentials or {})
    session.flush()
    return account


def set_credentials(account: BrandAccount, credentials: Mapping[str, str]) -> None:
    account.credentials_encrypted = encrypt_json(credentials) if credentials else None


def update_credentials(account: BrandAccount, changes: Mapping[str, str]) -> None:
    """Merge refreshed values (a new OAuth token pair) into the stored credentials."""
    current = decrypt_json(account.credentials_encrypted) if account.credentials_encrypted else {}
    set_credentials(account, {**current, **changes})


def context_for(account: BrandAccount) -> AccountContext:
    """What a connector gets: settings and the credentials, decrypted for this call only."""
    credentials = (
        decrypt_json(account.credentials_encrypted) if account.credentials_encrypted else {}
    )
    return AccountContext(
        brand_account_id=account.id,
        handle=account.handle,
        settings=dict(account.settings),
        credentials=credentials,
    )


def send_problem(account: BrandAccount) -> str | None:
    """Why a reply from ``account`` would be refused before it leaves (its connector reads
    the settings and credentials, with no network call), or None. None too when no connector
    for the channel is installed: the reply box says that on its own."""
    try:
        connector = registry.get(account.kind)
    except NotFound:
        return None
    if not isinstance(connector, SendReadiness):
        return None
    return connector.not_ready(context_for(account))


UNHEALTHY_NOTIFICATION = "account.unhealthy"
_DIGITS = re.compile(r"\d+")


def mark_health(account: BrandAccount, *, healthy: bool, reason: str | None = None) -> None:
    """Record the outcome of talking to the network for ``account``.

    When the account turns unhealthy (it was healthy or never checked) or stays unhealthy for
    a new reason, the organization's owners and admins are notified once, in the transaction
    of the account's session; the same reason on the next failed poll notifies nobody. A
    reason that differs only in its numbers (a time, a count) is the same reason.
    """
    was_unhealthy = account.health == Health.UNHEALTHY.value
    previous_reason = account.health_reason
    account.health = Health.OK.value if healthy else Health.UNHEALTHY.value
    account.health_reason = None if healthy else reason
    account.health_checked_at = clock.now()
    if healthy:
        return
    if was_unhealthy and _same_reason(previous_reason, reason):
        return
    session = object_session(account)
    if session is None:  # a detached account is not stored either: nothing to tell
        return
    _notify_unhealthy(session, account, reason)


def _same_reason(before: str | None, after: str | None) -> bool:
    def key(reason: str | None) -> str:
        return " ".join(_DIGITS.sub("#", reason or "").split()).casefold()

    return key(before) == key(after)


def account_link(account: BrandAccount) -> str:
    """The account's page in the desk, where an admin reconnects it or fixes its settings."""
    return f"/admin/accounts/{account.id}"


def _notify_unhealthy(session: Session, account: BrandAccount, reason: str | None) -> None:
    from socialdesk.notifications import service as notifications_service

    label = channel_name(account.kind)
    notifications_service.notify_admins(
        session,
        organization_id=account.organization_id,
        kind=UNHEALTHY_NOTIFICATION,
        title=f"{label} account {account.handle} needs attention",
        body=reason or "the network refused the account without giving a reason",
        link=account_link(account),
        data={"brand_account_id": account.id, "channel": account.kind},
    )


def connector_for(account: BrandAccount) -> Connector:
    return registry.get(account.kind)


def set_access(
    session: Session,
    *,
    account: BrandAccount,
    member_ids: list[int],
    team_ids: list[int],
    actor_id: int | None = None,
) -> None:
    """Who may act for this account. Empty lists open it to every agent again."""
    from socialdesk.accounts import service as accounts_service
    from socialdesk.accounts.models import Member

    for member_id in member_ids:
        found = session.get(Member, member_id)
        if found is None or found.organization_id != account.organization_id:
            raise NotFound(f"member {member_id} does not exist", field="member_ids")
    for team_id in team_ids:
        accounts_service.get_team(
            session, organization_id=account.organization_id, team_id=team_id, field="team_ids"
        )
    session.execute(
        delete(BrandAccountAccess).where(BrandAccountAccess.brand_account_id == account.id)
    )
    for member_id in sorted(set(member_ids)):
        session.add(
            BrandAccountAccess(
                organization_id=account.organization_id,
                brand_account_id=account.id,
                member_id=member_id,
            )
        )
    for team_id in sorted(set(team_ids)):
        session.add(
            BrandAccountAccess(
                organization_id=account.organization_id,
                brand_account_id=account.id,
                team_id=team_id,
            )
        )


def may_act_clause(
    account_id: SQLColumnExpression[int], *, member_id: int | SQLColumnExpression[int]
) -> ColumnElement[bool]:
    """``may_act_for`` as SQL, for many rows: the account ``account_id`` has no restriction
    set, or the member ``member_id`` is listed, or one of their teams is. Either may be a
    column (the accounts of many messages, the members of a list)."""
    from socialdesk.accounts.models import TeamMembership

    teams = select(TeamMembership.team_id).where(TeamMembership.member_id == member_id)
    restricted = select(BrandAccountAccess.id).where(
        BrandAccountAccess.brand_account_id == account_id
    )
    listed = restricted.where(
        or_(BrandAccountAccess.member_id == member_id, BrandAccountAccess.team_id.in_(teams))
    )
    return or_(~restricted.exists(), listed.exists())


def may_act_for(session: Session, *, account: BrandAccount, member_id: int) -> bool:
    """True when the member may reply as this account: no restriction set, or the member is
    listed, or one of their teams is (``may_act_clause``, asked of this one account)."""
    return bool(session.scalar(select(may_act_clause(literal(account.id), member_id=member_id))))


# -- connecting accounts ------------------------------------------------------------------

# Settings the desk keeps for its own upkeep of an account's tokens; a new connection clears
# them (a refused refresh token is replaced by the new one).
REFRESH_REFUSED_SETTING = "token_refresh_refused"
REFRESH_CLAIM_SETTING = "token_refresh_claimed_until"
# Why Mastodon streaming is off for an account (see claim_stream_leases).
STREAM_OFF_SETTING = "streaming_unavailable"
_UPKEEP_SETTINGS = (REFRESH_REFUSED_SETTING, REFRESH_CLAIM_SETTING, STREAM_OFF_SETTING)


def find_by_setting(
    session: Session, *, organization_id: int, kind: str, key: str, value: str
) -> BrandAccount | None:
    """The organization's account of ``kind`` whose setting ``key`` is ``value`` (a Page id, an
    X user id: what stays when a handle changes)."""
    for account in session.scalars(
        select(BrandAccount)
        .where(BrandAccount.organization_id == organization_id, BrandAccount.kind == kind)
        .order_by(BrandAccount.id)
    ):
        if str(account.settings.get(key) or "") == value:
            return account
    return None


def connect(
    session: Session,
    *,
    organization_id: int,
    kind: ChannelKind | str,
    handle: str,
    display_name: str | None,
    settings: Mapping[str, Any],
    credentials: Mapping[str, str],
    existing: BrandAccount | None = None,
) -> tuple[BrandAccount, bool]:
    """Save an account whose credentials were just verified with its network: a new one, or
    ``existing`` (default: the organization's account of that kind and handle) reconnected.
    A reconnected account keeps its handle, history and other settings; its credentials are
    replaced. Either way it is healthy now. Returns the account and whether it is new."""
    kind = ChannelKind(kind)
    if existing is None:
        existing = find_by_handle(
            session, organization_id=organization_id, kind=kind.value, handle=handle.strip()
        )
    if existing is None:
        account = create(
            session,
            organization_id=organization_id,
            kind=kind,
            handle=handle,
            display_name=display_name,
            settings=settings,
            credentials=credentials,
        )
        mark_health(account, healthy=True)
        return account, True
    if existing.organization_id != organization_id or existing.kind != kind.value:
        raise ValidationFailed(f"{existing.handle!r} is not a {kind.value} account of yours")
    merged = {k: v for k, v in existing.settings.items() if k not in _UPKEEP_SETTINGS}
    existing.settings = {**merged, **settings}
    if display_name and display_name.strip():
        existing.display_name = display_name.strip()
    set_credentials(existing, credentials)
    mark_health(existing, healthy=True)
    session.flush()
    return existing, False


def stored_mastodon_app(
    session: Session, *, instance_url: str, redirect_uri: str
) -> dict[str, str] | None:
    """The desk's app on a Mastodon instance (client id and secret), registered when the first
    account there was connected and kept, encrypted, with that account's credentials. Apps are
    the desk's, not an organization's, so any organization's account on the instance will do;
    only an app registered for the same callback address is valid."""
    for account in session.scalars(
        select(BrandAccount)
        .where(
            BrandAccount.kind == ChannelKind.MASTODON.value,
            BrandAccount.credentials_encrypted.is_not(None),
        )
        .order_by(BrandAccount.id.desc())
    ):
        settings = account.settings
        if settings.get("instance_url") != instance_url:
            continue
        if settings.get("oauth_redirect_uri") != redirect_uri:
            continue
        assert account.credentials_encrypted is not None
        credentials = decrypt_json(account.credentials_encrypted)
        if credentials.get("client_id") and credentials.get("client_secret"):
            return {
                "client_id": credentials["client_id"],
                "client_secret": credentials["client_secret"],
            }
    return None


def stored_x_app(session: Session, *, organization_id: int) -> dict[str, str] | None:
    """The X app (client id, and secret for a confidential client) the organization connected
    its latest X account with, to connect the next one without typing them again."""
    for account in session.scalars(
        select(BrandAccount)
        .where(
            BrandAccount.organization_id == organization_id,
            BrandAccount.kind == ChannelKind.X.value,
            BrandAccount.credentials_encrypted.is_not(None),
        )
        .order_by(BrandAccount.id.desc())
    ):
        assert account.credentials_encrypted is not None
        credentials = decrypt_json(account.credentials_encrypted)
        if credentials.get("client_id"):
            found = {"client_id": credentials["client_id"], "handle": account.handle}
            if credentials.get("client_secret"):
                found["client_secret"] = credentials["client_secret"]
            return found
    return None


# -- X token upkeep -------------------------------------------------------------------------

# X access tokens live two hours; they are renewed this long before they expire.
X_REFRESH_AHEAD = timedelta(minutes=10)
# How long one worker holds an account's renewal before another may try (a worker that died
# mid-renewal must not block it for good).
X_REFRESH_CLAIM = timedelta(minutes=2)
X_TOKEN_PATH = "/2/oauth2/token"  # noqa: S105 - an endpoint, not a secret


@dataclass(frozen=True)
class XRefresh:
    """What one renewal needs, read (and claimed) in a transaction before calling X."""

    brand_account_id: int
    refresh_token: str
    client_id: str
    client_secret: str | None
    token_url: str

    def __repr__(self) -> str:  # tokens must never reach logs or tracebacks
        return f"XRefresh(brand_account_id={self.brand_account_id})"


def _fingerprint(token: str) -> str:
    return hash_token(f"x-refresh:{token}")[:24]


def _expires_at(credentials: Mapping[str, str]) -> datetime | None:
    raw = credentials.get("expires_at")
    if not raw:
        return None
    try:
        found = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return found if found.tzinfo is not None else None


def _claimed(account: BrandAccount, now: datetime) -> bool:
    raw = account.settings.get(REFRESH_CLAIM_SETTING)
    try:
        until = datetime.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return False
    return until is not None and until.tzinfo is not None and until > now


def _refusal_reason(account: BrandAccount, credentials: Mapping[str, str]) -> str | None:
    """Why this account's token cannot be renewed, or None when it can."""
    if not credentials.get("refresh_token"):
        return (
            "the X access token expired and there is no refresh token to renew it "
            "(offline.access was not granted): connect the account again"
        )
    if not credentials.get("client_id"):
        return (
            "the X access token expired and the desk does not know the app's client id to "
            "renew it: connect the account again from the account set-up page"
        )
    refused = account.settings.get(REFRESH_REFUSED_SETTING)
    if refused and refused == _fingerprint(credentials["refresh_token"]):
        return "X refused this refresh token before: connect the account again"
    return None


def x_refresh_due(session: Session, *, now: datetime) -> list[int]:
    """X accounts whose access token expires within :data:`X_REFRESH_AHEAD` and that can be
    renewed (not claimed by a running renewal), plus expired ones that cannot be renewed and
    are not yet marked unhealthy."""
    due = []
    for account in session.scalars(
        select(BrandAccount)
        .where(
            BrandAccount.kind == ChannelKind.X.value,
            BrandAccount.credentials_encrypted.is_not(None),
        )
        .order_by(BrandAccount.id)
    ):
        assert account.credentials_encrypted is not None
        credentials = decrypt_json(account.credentials_encrypted)
        expires = _expires_at(credentials)
        if expires is None or expires - now > X_REFRESH_AHEAD or _claimed(account, now):
            continue
        if _refusal_reason(account, credentials) is None or (
            expires <= now and account.health != Health.UNHEALTHY.value
        ):
            due.append(account.id)
    return due


def claim_x_refresh(session: Session, *, brand_account_id: int, now: datetime) -> XRefresh | None:
    """Claim the renewal of one account's X token (exactly one worker wins: the row is locked
    on PostgreSQL, and SQLite has one writer at a time). None when there is nothing to do: the
    token is not due (renewed meanwhile), another worker holds the claim, or it cannot be
    renewed, in which case an expired token marks the account unhealthy."""
    account = session.scalar(
        select(BrandAccount).where(BrandAccount.id == brand_account_id).with_for_update()
    )
    if account is None or account.kind != ChannelKind.X.value or not account.credentials_encrypted:
        return None
    credentials = decrypt_json(account.credentials_encrypted)
    expires = _expires_at(credentials)
    if expires is None or expires - now > X_REFRESH_AHEAD or _claimed(account, now):
        return None
    cannot = _refusal_reason(account, credentials)
    if cannot is not None:
        if expires <= now:
            mark_health(account, healthy=False, reason=cannot)
        return None
    account.settings = {
        **account.settings,
        REFRESH_CLAIM_SETTING: (now + X_REFRESH_CLAIM).isoformat(),
    }
    session.flush()
    base = str(account.settings.get("api_base") or "https://api.x.com").rstrip("/")
    return XRefresh(
        brand_account_id=account.id,
        refresh_token=credentials["refresh_token"],
        client_id=credentials["client_id"],
        client_secret=credentials.get("client_secret") or None,
        token_url=base + X_TOKEN_PATH,
    )


def _locked_account(session: Session, brand_account_id: int) -> BrandAccount | None:
    return session.scalar(
        select(BrandAccount).where(BrandAccount.id == brand_account_id).with_for_update()
    )


def _release(account: BrandAccount, **changes: Any) -> None:
    settings = {k: v for k, v in account.settings.items() if k != REFRESH_CLAIM_SETTING}
    account.settings = {**settings, **changes}


def store_x_tokens(session: Session, *, claim: XRefresh, credentials: Mapping[str, str]) -> bool:
    """Keep renewed tokens (access and refresh token and expiry together, encrypted) and end
    the claim. When the account was connected again while X was being asked, the newer
    connection's tokens stay. Returns whether the renewed tokens were stored."""
    account = _locked_account(session, claim.brand_account_id)
    if account is None:
        return False
    current = decrypt_json(account.credentials_encrypted) if account.credentials_encrypted else {}
    _release(account)
    if current.get("refresh_token") != claim.refresh_token:
        return False
    update_credentials(account, credentials)
    session.flush()
    return True


def x_refresh_refused(session: Session, *, claim: XRefresh, reason: str) -> None:
    """X refused the refresh token (used, revoked, or the app's credentials changed): the
    account is unhealthy with the reason (its admins are told) and the token is not tried
    again; connecting the account again replaces it."""
    account = _locked_account(session, claim.brand_account_id)
    if account is None:
        return
    current = decrypt_json(account.credentials_encrypted) if account.credentials_encrypted else {}
    if current.get("refresh_token") != claim.refresh_token:
        _release(account)  # reconnected meanwhile: the refusal is about a token now gone
        return
    _release(account, **{REFRESH_REFUSED_SETTING: _fingerprint(claim.refresh_token)})
    mark_health(
        account,
        healthy=False,
        reason=(
            f"X refused to renew the access token "
            f"({reason.removesuffix('; connect the account again')}); connect the account again"
        ),
    )
    session.flush()


def release_x_refresh(session: Session, *, claim: XRefresh) -> None:
    """End a claim without a result (X could not be reached): the next run tries again."""
    account = _locked_account(session, claim.brand_account_id)
    if account is not None:
        _release(account)


# -- credentials a failed call obtained ----------------------------------------------------


@runtime_checkable
class HandsBackCredentials(Protocol):
    """A connector that may renew an account's session during a call that then fails (the
    Bluesky connector), and hands the new session over when asked."""

    def take_credentials_update(self, brand_account_id: int) -> dict[str, str] | None: ...


def store_pending_credentials(account: BrandAccount, connector: object) -> bool:
    """Merge credentials the connector obtained for ``account`` during a call that failed
    afterwards (a renewed session); a successful call hands them back in its result instead.
    Without this, a spent refresh token would stay stored while the new one lives only in the
    memory of the process that renewed it. Returns whether anything was stored."""
    if not isinstance(connector, HandsBackCredentials):
        return False
    update = connector.take_credentials_update(account.id)
    if not update:
        return False
    update_credentials(account, update)
    return True


# -- watchers: IMAP IDLE and Mastodon streaming -------------------------------------------

# A watcher keeps a connection open to an account's server (an IMAP mailbox in IDLE, a
# Mastodon notification stream) and wakes the account's poll job when something arrives. Each
# account is watched by one worker process at a time: the process holds a lease on it, kept in
# the account's settings and renewed every minute by that process; another one takes over when
# it lapses.
IDLE_LEASE_SETTING = "imap_idle_lease"
STREAM_LEASE_SETTING = "streaming_lease"
IDLE_LEASE = timedelta(minutes=3)
WATCH_LEASE = IDLE_LEASE
# What the desk itself writes into settings for watchers; none of it restarts a watcher.
_WATCH_BOOKKEEPING = frozenset(
    {IDLE_LEASE_SETTING, STREAM_LEASE_SETTING, STREAM_OFF_SETTING, *_UPKEEP_SETTINGS}
)


@dataclass(frozen=True)
class WatchTarget:
    """An account this process should watch."""

    brand_account_id: int
    context: AccountContext
    # Changes when the account's settings or credentials change (the watcher restarts).
    fingerprint: str

    def __repr__(self) -> str:  # the context holds credentials: keep them out of logs
        return f"WatchTarget(brand_account_id={self.brand_account_id})"


IdleTarget = WatchTarget


def watch_fingerprint(context: AccountContext) -> str:
    """A digest of what a watcher was started with: the account's settings (less the desk's
    own bookkeeping) and credentials."""
    basis = {k: v for k, v in context.settings.items() if k not in _WATCH_BOOKKEEPING}
    return hash_token(repr((sorted(basis.items(), key=str), sorted(context.credentials.items()))))[
        :32
    ]


def _claim_leases(
    session: Session,
    *,
    kind: ChannelKind,
    setting: str,
    owner: str,
    now: datetime,
    wanted: Callable[[BrandAccount, str], bool],
) -> list[WatchTarget]:
    """Take or renew the lease (under ``setting``) of every account of ``kind`` that
    ``wanted(account, fingerprint)`` and no other process holds; give back this process's
    leases of accounts no longer wanted."""
    targets = []
    for account in session.scalars(
        select(BrandAccount)
        .where(BrandAccount.kind == kind.value)
        .order_by(BrandAccount.id)
        .with_for_update()
    ):
        lease = account.settings.get(setting)
        mine = isinstance(lease, dict) and lease.get("owner") == owner
        context = context_for(account)
        fingerprint = watch_fingerprint(context)
        if not wanted(account, fingerprint):  # (it may tidy the account's settings)
            if mine:
                account.settings = {k: v for k, v in account.settings.items() if k != setting}
            continue
        if isinstance(lease, dict) and not mine and _lease_running(lease, now):
            continue
        account.settings = {
            **account.settings,
            setting: {"owner": owner, "until": (now + WATCH_LEASE).isoformat()},
        }
        targets.append(WatchTarget(account.id, context, fingerprint))
    session.flush()
    return targets


def _lease_running(lease: Mapping[str, Any], now: datetime) -> bool:
    try:
        until = datetime.fromisoformat(str(lease.get("until")))
    except ValueError:
        return False
    return until.tzinfo is not None and until > now


def _release_leases(session: Session, *, kind: ChannelKind, setting: str, owner: str) -> None:
    for account in session.scalars(
        select(BrandAccount).where(BrandAccount.kind == kind.value).with_for_update()
    ):
        lease = account.settings.get(setting)
        if isinstance(lease, dict) and lease.get("owner") == owner:
            account.settings = {k: v for k, v in account.settings.items() if k != setting}
    session.flush()


def claim_idle_leases(session: Session, *, owner: str, now: datetime) -> list[WatchTarget]:
    """Take or renew the IDLE lease of every email account with an IMAP server whose setting
    ``imap_idle`` is not false (and polling not switched off), unless another process holds
    it; a lease of an account no longer wanted is released."""

    def wanted(account: BrandAccount, _fingerprint: str) -> bool:
        settings = account.settings
        return (
            bool(settings.get("imap_host"))
            and settings.get("imap_idle", True) is not False
            and settings.get("polling_enabled", True) is not False
        )

    return _claim_leases(
        session,
        kind=ChannelKind.EMAIL,
        setting=IDLE_LEASE_SETTING,
        owner=owner,
        now=now,
        wanted=wanted,
    )


def release_idle_leases(session: Session, *, owner: str) -> None:
    """Give up this process's leases (it is stopping): another process may take them at once."""
    _release_leases(session, kind=ChannelKind.EMAIL, setting=IDLE_LEASE_SETTING, owner=owner)


def claim_stream_leases(session: Session, *, owner: str, now: datetime) -> list[WatchTarget]:
    """Take or renew the streaming lease of every Mastodon account with an instance and a
    token whose setting ``streaming`` is not false (and polling not switched off), unless
    another process holds it. An account on which streaming was found not to work (no
    streaming on the instance, or the token refused) is left out until its settings or
    credentials change; a note about an older configuration is dropped."""

    def wanted(account: BrandAccount, fingerprint: str) -> bool:
        settings = account.settings
        if not (
            settings.get("instance_url")
            and account.credentials_encrypted
            and settings.get("streaming", True) is not False
            and settings.get("polling_enabled", True) is not False
        ):
            return False
        off = settings.get(STREAM_OFF_SETTING)
        if isinstance(off, dict) and off.get("fingerprint") == fingerprint:
            return False
        if off is not None:  # written for settings or credentials since changed
            account.settings = {k: v for k, v in settings.items() if k != STREAM_OFF_SETTING}
        return True

    return _claim_leases(
        session,
        kind=ChannelKind.MASTODON,
        setting=STREAM_LEASE_SETTING,
        owner=owner,
        now=now,
        wanted=wanted,
    )


def release_stream_leases(session: Session, *, owner: str) -> None:
    """Give up this process's streaming leases (it is stopping)."""
    _release_leases(session, kind=ChannelKind.MASTODON, setting=STREAM_LEASE_SETTING, owner=owner)


def streaming_unavailable(
    session: Session,
    *,
    brand_account_id: int,
    fingerprint: str,
    reason: str,
    refused: bool,
    now: datetime,
) -> bool:
    """Note that streaming does not work for the account as it is configured now, so no
    process tries again until its settings or credentials change (connecting it again
    clears the note). ``refused``: the instance refused the token, which also marks the
    account unhealthy (telling its admins) unless it already is. Returns False, and notes
    nothing, when the account changed since the watcher started: the next claim retries."""
    account = _locked_account(session, brand_account_id)
    if account is None or watch_fingerprint(context_for(account)) != fingerprint:
        return False
    account.settings = {
        **account.settings,
        STREAM_OFF_SETTING: {
            "fingerprint": fingerprint,
            "reason": reason,
            "refused": refused,
            "since": now.isoformat(),
        },
    }
    if refused and account.health != Health.UNHEALTHY.value:
        mark_health(account, healthy=False, reason=reason)
    session.flush()
    return True
