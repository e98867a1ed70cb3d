"""Checking a brand account against its network on demand: an admin's "Check now".

The check signs in with the stored credentials (``CredentialCheck.verify_credentials``: one
authenticated call that sends and reads nothing) in three short steps, as the poll and the
delivery jobs do: read the account, call the network with no transaction open, record the
outcome. Credentials refused, or an answer for another account than this one, mark the
account unhealthy (and tell the admins, as a failed poll does); a network that cannot be
reached right now leaves the account's health as it was and says so.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.common.errors import NotFound, ValidationFailed
from socialdesk.connectors import registry
from socialdesk.connectors.base import (
    AuthError,
    ChannelKind,
    ConnectorError,
    CredentialCheck,
    Identity,
    SendError,
    waiting_person,
)
from socialdesk.conversations import flows
from socialdesk.db.session import session_scope

# The setting in which an account keeps its own id on the network, where it has one: an
# answer for any other id means the credentials belong to another account.
NATIVE_ID_SETTINGS: dict[str, str] = {
    ChannelKind.X.value: "user_id",
    ChannelKind.BLUESKY.value: "did",
    ChannelKind.FACEBOOK.value: "page_id",
}
# How long an account that nothing polls goes without a check (unwatched_account_ids).
RECHECK_AFTER = timedelta(hours=24)
# How a retryable failure speaks to the job that will retry it; a check is not retried.
_JOB_RETRY = "; will try again later"
# Networks whose people are named @handle.
_AT_HANDLES = frozenset(
    {ChannelKind.X.value, ChannelKind.MASTODON.value, ChannelKind.BLUESKY.value}
)


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """What a check found. ``ok``: the network knows the account by these credentials.
    ``health_changed``: whether the account's health was recorded (not when the network
    could not be reached, or the account is not set up)."""

    ok: bool
    detail: str
    checked_at: datetime
    health_changed: bool


def can_check(account: BrandAccount) -> bool:
    """Whether the account's connector signs in to a network (the website channel does not)."""
    try:
        return isinstance(registry.get(account.kind), CredentialCheck)
    except NotFound:  # no connector installed for the channel
        return False


def who(kind: str, identity: Identity) -> str:
    """The account as people on the network read it: @handle, a Page's name, an address."""
    handle = identity.handle
    if handle and kind in _AT_HANDLES and not handle.startswith("@"):
        handle = f"@{handle}"
    return handle or identity.display_name or identity.native_id


def unwatched_account_ids(session: Session, *, now: datetime) -> list[int]:
    """Accounts with credentials that nothing else signs in with regularly, and whose health
    was last recorded before ``now - RECHECK_AFTER`` (or never): their connector does not
    poll (a Facebook Page, which the network pushes to) or their polling is switched off. A
    token that stopped working is then found within a day, not when a reply fails on it.
    Polled accounts are checked by every poll."""
    due_before = now - RECHECK_AFTER
    found = []
    for account in session.scalars(
        select(BrandAccount)
        .where(
            BrandAccount.credentials_encrypted.is_not(None),
            or_(
                BrandAccount.health_checked_at.is_(None),
                BrandAccount.health_checked_at < due_before,
            ),
        )
        .order_by(BrandAccount.id)
    ):
        if not can_check(account) or flows.is_polled(account):
            continue
        if channels_service.send_problem(account) is None:  # not set up: nothing to sign in
            found.append(account.id)
    return found


def check_connection(
    *, organization_id: int, brand_account_id: int, person_waiting: bool = True
) -> ConnectionCheck:
    """Sign in to the account's network with its stored credentials and record the outcome in
    its health. Raises NotFound for an account of another organization and ValidationFailed
    for a channel with nothing to sign in to. With ``person_waiting`` (an admin's "Check
    now"), a network that does not answer is given up on within seconds, not after the
    retries a job would wait through."""
    with session_scope(write=False) as session:
        account = channels_service.get_or_raise(
            session, organization_id=organization_id, brand_account_id=brand_account_id
        )
        label = channels_service.channel_name(account.kind)
        connector = channels_service.connector_for(account)
        if not isinstance(connector, CredentialCheck):
            raise ValidationFailed(
                f"{label} accounts sign in to no network: there is nothing to check"
            )
        kind, handle = account.kind, account.handle
        problem = channels_service.send_problem(account)
        context = channels_service.context_for(account)
        setting = NATIVE_ID_SETTINGS.get(kind)
        expected = str(account.settings.get(setting) or "") if setting else ""
    if problem is not None:
        return ConnectionCheck(
            ok=False, detail=f"not checked: {problem}", checked_at=clock.now(), health_changed=False
        )
    healthy: bool | None
    try:
        with waiting_person() if person_waiting else nullcontext():
            me = connector.verify_credentials(context)
    except AuthError as exc:
        healthy, detail = False, exc.reason
    except SendError as exc:
        if exc.retryable:  # a network that is down or busy says nothing of the credentials
            reason = exc.reason.removesuffix(_JOB_RETRY)
            healthy, detail = None, f"{reason}; health unchanged: check again later"
        else:
            healthy, detail = False, exc.reason
    except ConnectorError as exc:
        healthy, detail = False, exc.reason
    else:
        found = who(kind, me)
        if expected and me.native_id != expected:
            healthy = False
            detail = (
                f"the credentials are for {found}, not {handle}: reconnect while signed in to "
                f"{label} as {handle}"
            )
        else:
            healthy, detail = True, f"signed in as {found}"
    with session_scope() as session:
        stored = session.get(BrandAccount, brand_account_id)
        if stored is not None:
            # A session renewed during the call is the newest one, whatever its outcome.
            channels_service.store_pending_credentials(stored, connector)
            if healthy is not None:
                channels_service.mark_health(stored, healthy=healthy, reason=detail)
    return ConnectionCheck(
        ok=bool(healthy),
        detail=detail,
        checked_at=clock.now(),
        health_changed=healthy is not None and stored is not None,
    )
