"""The audit trail: who did what to accounts and security settings, when, from where.

Append-only (the database refuses updates and deletes). Security events are recorded in the
same transaction as the change, so a change and its record stand or fall together; failed
logins are recorded in their own transaction (the login itself writes nothing else).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import LargeBinary, event, inspect, select
from sqlalchemy.orm import Session, UOWTransaction

from socialdesk.accounts.models import AuditEvent, Member
from socialdesk.common import clock

# The actions recorded; filters in the UI offer these.
ACTIONS = (
    "login",
    "login_failed",
    "lockout",
    "logout",
    "role_changed",
    "invitation_created",
    "invitation_accepted",
    "invitation_revoked",
    "password_reset_requested",
    "password_changed",
    "totp_enabled",
    "totp_disabled",
    "api_token_created",
    "api_token_revoked",
    "credentials_changed",
    "brand_account_created",
    "brand_account_access_changed",
    "inbound_events_retried",
    "keys_rotated",
    "member_deactivated",
    "member_reactivated",
    "team_changed",
    "export",
    "policy_changed",
    "approval_decided",
    "poll_created",
    "poll_decided",
    "poll_withdrawn",
    "settings_changed",
    "contact_merged",
    "contact_unmerged",
    "contact_exported",
    "contact_erased",
    "retention_applied",
)


def record(
    session: Session,
    *,
    organization_id: int,
    action: str,
    actor: Member | None,
    target: tuple[str, object] | None = None,
    source_address: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. Without ``source_address``, an event whose actor is the member the
    request authenticated as (``act_as``) takes the request's address."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; add it to audit.ACTIONS")
    if source_address is None and actor is not None:
        # A change made in a request: the address the request authenticated from (act_as).
        acting = session.info.get(ACTOR_KEY)
        if acting is not None and acting[0] == actor.id:
            source_address = acting[1]
    event = AuditEvent(
        organization_id=organization_id,
        actor_member_id=actor.id if actor else None,
        action=action,
        target_type=target[0] if target else None,
        target_id=str(target[1]) if target else None,
        source_address=source_address,
        before=before,
        after=after,
        created_at=clock.now(),
    )
    session.add(event)
    return event


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    actor_member_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def search(
    session: Session, *, organization_id: int, flt: AuditFilter, limit: int = 200
) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.organization_id == organization_id)
    if flt.action:
        stmt = stmt.where(AuditEvent.action == flt.action)
    if flt.actor_member_id is not None:
        stmt = stmt.where(AuditEvent.actor_member_id == flt.actor_member_id)
    if flt.since is not None:
        stmt = stmt.where(AuditEvent.created_at >= flt.since)
    if flt.until is not None:
        stmt = stmt.where(AuditEvent.created_at < flt.until)
    return list(session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit)))


CSV_COLUMNS = (
    "id",
    "time",
    "action",
    "actor_member_id",
    "target_type",
    "target_id",
    "source_address",
    "before",
    "after",
)


def to_csv(events: Iterable[AuditEvent]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for e in events:
        writer.writerow(
            [
                e.id,
                e.created_at.isoformat(),
                e.action,
                e.actor_member_id or "",
                e.target_type or "",
                e.target_id or "",
                e.source_address or "",
                json.dumps(e.before, sort_keys=True) if e.before is not None else "",
                json.dumps(e.after, sort_keys=True) if e.after is not None else "",
            ]
        )
    return out.getvalue()


# -- settings changes, recorded wherever they are made ---------------------------------------

# Configuration tables whose every change is audited (business hours, SLA policies, routing
# and automation rules...), by model, with the target type the trail shows. Domains register
# their tables with track_settings(); the listener below records each insert, update and
# delete in the same flush, with the member the request authenticated (see common.deps).
_TRACKED: dict[type[Any], str] = {}
ACTOR_KEY = "audit_actor"


def track_settings(model: type[Any], target_type: str) -> None:
    _TRACKED[model] = target_type


def act_as(session: Session, *, member_id: int, source_address: str | None) -> None:
    """Attribute the settings changes this session flushes to ``member_id``."""
    session.info[ACTOR_KEY] = (member_id, source_address)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _snapshot(obj: Any, names: Iterable[str]) -> dict[str, Any]:
    return {name: _plain(getattr(obj, name)) for name in names}


def _columns(obj: Any) -> list[str]:
    # Secrets (encrypted columns) never enter the trail.
    return [
        c.key
        for c in inspect(type(obj)).column_attrs
        if not any(isinstance(col.type, LargeBinary) for col in c.columns)
    ]


# New rows waiting for their id: recorded once the flush that inserts them has given them one.
_CREATED_KEY = "audit_created"


@event.listens_for(Session, "before_flush")
def _audit_tracked_settings(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    if not _TRACKED:
        return
    changes: list[tuple[Any, str, dict[str, Any] | None, dict[str, Any] | None]] = []
    created: list[tuple[Any, dict[str, Any]]] = session.info.setdefault(_CREATED_KEY, [])
    for obj in session.new:
        if type(obj) in _TRACKED:
            # The values as given; the id comes with the insert (after_flush_postexec below).
            created.append((obj, _snapshot(obj, _columns(obj))))
    for obj in session.dirty:
        if type(obj) not in _TRACKED or not session.is_modified(obj):
            continue
        state = inspect(obj)
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for name in _columns(obj):
            history = state.attrs[name].history
            if history.has_changes():
                before[name] = _plain(history.deleted[0]) if history.deleted else None
                after[name] = _plain(history.added[0]) if history.added else None
        if after:
            changes.append((obj, "changed", before, after))
    for obj in session.deleted:
        if type(obj) in _TRACKED:
            changes.append((obj, "deleted", _snapshot(obj, _columns(obj)), None))
    for obj, verb, old, new in changes:
        _add_settings_event(session, obj, verb, old, new)


@event.listens_for(Session, "after_flush_postexec")
def _audit_created_settings(session: Session, _context: UOWTransaction) -> None:
    """A created row is named by its own id, which its insert has just given it. The record is
    added for the next flush of the same transaction (commit flushes until nothing is left)."""
    created = session.info.pop(_CREATED_KEY, None)
    for obj, values in created or ():
        state = inspect(obj)
        if obj not in session or state.identity is None:
            continue
        keys = {
            c.key: getattr(obj, c.key)
            for c in state.mapper.column_attrs
            if c.columns[0].primary_key
        }
        _add_settings_event(session, obj, "created", None, {**values, **keys})


@event.listens_for(Session, "after_soft_rollback")
def _forget_created(session: Session, _previous: Any) -> None:
    """A rolled-back insert was never made: nothing to record."""
    session.info.pop(_CREATED_KEY, None)


def _add_settings_event(
    session: Session,
    obj: Any,
    verb: str,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
) -> None:
    actor_id, source = session.info.get(ACTOR_KEY, (None, None))
    session.add(
        AuditEvent(
            organization_id=obj.organization_id,
            actor_member_id=actor_id,
            action="settings_changed",
            target_type=_TRACKED[type(obj)],
            target_id=_target_id(obj),
            source_address=source,
            before=old,
            after={**(new or {}), "change": verb},
            created_at=clock.now(),
        )
    )


def _target_id(obj: Any) -> str:
    """The row's primary key as the trail names it: its id, or (routing settings, one row per
    organization) the organization's."""
    identity = inspect(obj).identity
    if identity is None:
        raise ValueError(f"{type(obj).__name__} has no primary key yet")
    return ",".join(str(part) for part in identity)
