"""The stored code of conduct: versions, the compiled policy the send gateway checks against,
decision records, the approval queue and the back-test.

An organization's policy applies to all its brand accounts; a brand account may refine it
(scope ``brand:<id>``), merged on top with ``merge_policies``. Saving creates a new version;
old versions stay viewable. Compiling a large policy takes a moment, so compiled policies are
cached by the versions they come from.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts.models import Member
from socialdesk.common import clock
from socialdesk.common.errors import NotFound, ValidationFailed
from socialdesk.conversations.models import Direction, Message
from socialdesk.policy.checker import CompiledPolicy, check, compile_policy
from socialdesk.policy.models import (
    ORG_SCOPE,
    PolicyDecision,
    PolicyVersion,
    brand_scope,
)
from socialdesk.policy.rules import load_policy, load_starter, merge_policies


@dataclass(frozen=True)
class ActivePolicy:
    compiled: CompiledPolicy
    org_version_id: int | None
    brand_version_id: int | None


_cache: OrderedDict[tuple[str | None, str | None], CompiledPolicy] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 64


def latest(session: Session, *, organization_id: int, scope: str) -> PolicyVersion | None:
    return session.scalar(
        select(PolicyVersion)
        .where(PolicyVersion.organization_id == organization_id, PolicyVersion.scope == scope)
        .order_by(PolicyVersion.version.desc())
        .limit(1)
    )


def active_for(
    session: Session, *, organization_id: int, brand_account_id: int
) -> ActivePolicy | None:
    """The policy that applies to a brand account now, compiled; None when none is set."""
    org = latest(session, organization_id=organization_id, scope=ORG_SCOPE)
    brand = latest(session, organization_id=organization_id, scope=brand_scope(brand_account_id))
    return _compiled(org, brand)


def organization_wide(session: Session, *, organization_id: int) -> ActivePolicy | None:
    """The organization's own policy, without any brand account's additions (for texts not yet
    bound to an account, such as saved replies); None when none is set."""
    return _compiled(latest(session, organization_id=organization_id, scope=ORG_SCOPE), None)


def _compiled(org: PolicyVersion | None, brand: PolicyVersion | None) -> ActivePolicy | None:
    if org is None and brand is None:
        return None
    # Keyed by content (the versions' fingerprints), not by ids: ids repeat across databases
    # and after a reset, and a cache keyed by them could serve another policy.
    key = (org.fingerprint if org else None, brand.fingerprint if brand else None)
    with _cache_lock:
        compiled = _cache.get(key)
        if compiled is not None:
            _cache.move_to_end(key)
    if compiled is None:
        policies = [load_policy(v.yaml, source=f"policy v{v.version}") for v in (org, brand) if v]
        merged = policies[0] if len(policies) == 1 else merge_policies(policies[0], policies[1])
        compiled = compile_policy(merged)
        with _cache_lock:
            _cache[key] = compiled
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return ActivePolicy(compiled, org.id if org else None, brand.id if brand else None)


def save(
    session: Session,
    *,
    organization_id: int,
    yaml_text: str,
    author: Member | None,
    brand_account_id: int | None = None,
    comment: str = "",
) -> PolicyVersion:
    """Validate and store a new version. A bad policy is refused with the rule and line that
    were wrong, and the active version stays as it was."""
    parsed = load_policy(yaml_text, source="the new policy")  # raises PolicyError (422)
    compiled = compile_policy(parsed)
    if brand_account_id is not None:
        from socialdesk.channels import service as channels_service

        channels_service.get_or_raise(
            session, organization_id=organization_id, brand_account_id=brand_account_id
        )
    scope = ORG_SCOPE if brand_account_id is None else brand_scope(brand_account_id)
    previous = latest(session, organization_id=organization_id, scope=scope)
    version = PolicyVersion(
        organization_id=organization_id,
        scope=scope,
        version=(previous.version + 1) if previous else 1,
        yaml=yaml_text,
        fingerprint=compiled.fingerprint,
        comment=comment.strip()[:500],
        created_by_id=author.id if author else None,
        created_at=clock.now(),
    )
    session.add(version)
    session.flush()
    audit.record(
        session,
        organization_id=organization_id,
        action="policy_changed",
        actor=author,
        target=("policy", scope),
        before={"version": previous.version, "fingerprint": previous.fingerprint}
        if previous
        else None,
        after={
            "version": version.version,
            "fingerprint": version.fingerprint,
            "comment": version.comment,
        },
    )
    return version


def adopt_starter(
    session: Session, *, organization_id: int, name: str, author: Member | None
) -> PolicyVersion:
    from socialdesk.policy.rules import dump_policy

    starter = load_starter(name)
    return save(
        session,
        organization_id=organization_id,
        yaml_text=dump_policy(starter),
        author=author,
        comment=f"adopted the {name} starter policy",
    )


def versions(
    session: Session, *, organization_id: int, scope: str = ORG_SCOPE
) -> list[PolicyVersion]:
    return list(
        session.scalars(
            select(PolicyVersion)
            .where(PolicyVersion.organization_id == organization_id, PolicyVersion.scope == scope)
            .order_by(PolicyVersion.version.desc())
        )
    )


def get_version(session: Session, *, organization_id: int, version_id: int) -> PolicyVersion:
    found = session.get(PolicyVersion, version_id)
    if found is None or found.organization_id != organization_id:
        raise NotFound(f"policy version {version_id} does not exist")
    return found


def record_decision(
    session: Session,
    *,
    organization_id: int,
    brand_account_id: int,
    stage: str,
    decision: str,
    reasons: list[dict[str, Any]],
    active: ActivePolicy | None,
    message_id: int | None = None,
    member_id: int | None = None,
) -> PolicyDecision:
    row = PolicyDecision(
        organization_id=organization_id,
        brand_account_id=brand_account_id,
        message_id=message_id,
        member_id=member_id,
        stage=stage,
        decision=decision,
        reasons=reasons,
        policy_fingerprint=active.compiled.fingerprint if active else "",
        org_version_id=active.org_version_id if active else None,
        brand_version_id=active.brand_version_id if active else None,
        created_at=clock.now(),
    )
    session.add(row)
    return row


@dataclass(frozen=True)
class BacktestHit:
    message_id: int
    conversation_id: int
    text: str
    decision: str
    violations: list[dict[str, Any]]


def backtest(
    session: Session, *, organization_id: int, yaml_text: str, limit: int = 5000
) -> tuple[int, list[BacktestHit]]:
    """Run a policy over the organization's past outgoing messages: how many were checked,
    and which it would have flagged (with the clauses)."""
    from socialdesk.channels.models import BrandAccount
    from socialdesk.connectors.base import ChannelKind, Visibility

    if limit < 1:
        raise ValidationFailed("limit must be at least 1", field="limit")
    compiled = compile_policy(load_policy(yaml_text, source="the policy to test"))
    rows = session.execute(
        select(Message, BrandAccount.kind)
        .join(BrandAccount, BrandAccount.id == Message.brand_account_id)
        .where(
            Message.organization_id == organization_id,
            Message.direction == Direction.OUTBOUND.value,
            Message.visibility != Visibility.NOTE.value,
        )
        .order_by(Message.created_at.desc())
        .limit(limit)
    ).all()
    hits = []
    for message, kind in rows:
        decision = check(
            compiled,
            message.text,
            channel=ChannelKind(kind),
            visibility=Visibility(message.visibility),
        )
        if decision.violations:
            hits.append(
                BacktestHit(
                    message_id=message.id,
                    conversation_id=message.conversation_id,
                    text=message.text,
                    decision=decision.outcome.value,
                    violations=[
                        {"rule": v.rule, "explain": v.explain, "start": v.start, "end": v.end}
                        for v in decision.violations
                    ],
                )
            )
    return len(rows), hits
