"""REST API of the code of conduct (mounted under /api): checking a draft, the organization's
policy and its versions, brand-account refinements, starters, the back-test and the approval
queue.

Who may do what:

- anyone in the organization (Reader) checks drafts and reads the policy, its versions and
  the starters: agents must be able to read the rules they write under;
- changing the policy (PUT, adopting a starter) and the back-test take ``channels.manage``
  (admins and owners): the policy governs what goes out on the organization's channels, the
  same people who connect those channels decide it; approvers may not rewrite the rules they
  apply;
- the approval queue takes ``outbound.approve`` (approvers, admins, owners).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from socialdesk import policy
from socialdesk.accounts.models import Member
from socialdesk.accounts.permissions import Permission
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common.deps import DB, Actor, ChannelAdmin, Reader, require
from socialdesk.common.errors import NotFound, ValidationFailed
from socialdesk.common.schemas import RowId, api_token_scheme, error_responses
from socialdesk.connectors.base import ChannelKind, Visibility
from socialdesk.conversations.models import Message
from socialdesk.outbound import approvals as approvals_service
from socialdesk.outbound import service as outbound_service
from socialdesk.outbound.checks import Decision as GatewayDecision
from socialdesk.policy import service as policy_service
from socialdesk.policy.models import ORG_SCOPE, Approval, PolicyVersion, brand_scope
from socialdesk.policy.schemas import (
    ApprovalRead,
    ApproveRequest,
    BacktestHitRead,
    BacktestRequest,
    BacktestResult,
    DecisionName,
    PolicyCheckRequest,
    PolicyCheckResult,
    PolicyRead,
    PolicyVersionDetail,
    PolicyVersionRead,
    PolicyWrite,
    RejectRequest,
    StarterRead,
    ViolationRead,
)

router = APIRouter(
    tags=["code of conduct"],
    dependencies=[Depends(api_token_scheme)],
    responses=error_responses(401, 403, 422),
)

Approver = Annotated[Actor, Depends(require(Permission.APPROVE))]


class PolicyRejected(ValidationFailed):
    """A policy that does not load: the body names the rule and the line as fields, so an
    editor can point at them."""

    def __init__(self, error: policy.PolicyError) -> None:
        super().__init__(error.message, field="yaml")
        self.rule_id = error.rule_id
        self.line = error.line

    def details(self) -> dict[str, object]:
        return {"rule": self.rule_id, "line": self.line}


def _decision_name(decision: GatewayDecision) -> DecisionName:
    return cast(DecisionName, decision.name.lower())


# -- checking a draft ------------------------------------------------------------------------


@dataclass(frozen=True)
class DraftCheck:
    """What the reply box shows: the decision, the clauses with their spans, the length."""

    result: PolicyCheckResult
    text: str  # the draft checked, without the signature (the spans index into it)


def check_for_account(
    session: Session,
    *,
    account: BrandAccount,
    author: Member,
    text: str,
    visibility: Visibility,
) -> DraftCheck:
    """Exactly the checks the send gateway will run, for this account and this author (their
    signature counts toward the length)."""
    signature = outbound_service.signature_for(account, author)
    checked = outbound_service.check(
        session, account, outbound_service.compose(text, signature), visibility
    )
    outcome = checked.outcome
    remaining = (
        outcome.limit - outcome.length
        if outcome.limit is not None and outcome.length is not None
        else None
    )
    return DraftCheck(
        result=PolicyCheckResult(
            decision=_decision_name(outcome.decision),
            violations=[
                ViolationRead(
                    rule=r.rule,
                    explain=r.explain,
                    action=_decision_name(r.decision),
                    start=r.start,
                    end=r.end,
                )
                for r in outcome.reasons
            ],
            length=outcome.length,
            limit=outcome.limit,
            remaining=remaining,
        ),
        text=text,
    )


def _check_for_channel(
    session: Session, *, organization_id: int, channel: ChannelKind, text: str, vis: Visibility
) -> PolicyCheckResult:
    """Without a brand account: the organization's own policy, the channel's default limit."""
    current = policy_service.latest(session, organization_id=organization_id, scope=ORG_SCOPE)
    source = policy.load_policy(current.yaml) if current else policy.load_policy("rules: []")
    decision = policy.check(policy.compile_policy(source), text, channel=channel, visibility=vis)
    return PolicyCheckResult(
        decision=cast(DecisionName, str(decision.outcome)),
        violations=[
            ViolationRead(
                rule=v.rule,
                explain=v.explain,
                action=cast(DecisionName, str(v.action)),
                start=v.start,
                end=v.end,
            )
            for v in decision.violations
        ],
        length=decision.length,
        limit=decision.limit,
        remaining=decision.remaining,
    )


@router.post(
    "/policy/check",
    summary="Check a draft against the code of conduct and the channel's length limit",
    responses=error_responses(404),
)
def check_draft(body: PolicyCheckRequest, actor: Reader, db: DB) -> PolicyCheckResult:
    visibility = Visibility(body.visibility)
    if body.brand_account_id is not None:
        account = channels_service.get_or_raise(
            db, organization_id=actor.organization_id, brand_account_id=body.brand_account_id
        )
        return check_for_account(
            db, account=account, author=actor.member, text=body.text, visibility=visibility
        ).result
    assert body.channel is not None  # the schema requires one of the two
    return _check_for_channel(
        db,
        organization_id=actor.organization_id,
        channel=body.channel,
        text=body.text,
        vis=visibility,
    )


# -- the policy and its versions -------------------------------------------------------------


def _author_names(db: Session, versions: list[PolicyVersion]) -> dict[int, str]:
    ids = {v.created_by_id for v in versions if v.created_by_id is not None}
    return {m_id: m.name for m_id in ids if (m := db.get(Member, m_id)) is not None}


def version_read(version: PolicyVersion, names: dict[int, str]) -> PolicyVersionRead:
    read = PolicyVersionRead.model_validate(version)
    if version.created_by_id is not None:
        read.created_by = names.get(version.created_by_id)
    return read


def _policy_read(db: Session, *, organization_id: int, scope: str) -> PolicyRead:
    current = policy_service.latest(db, organization_id=organization_id, scope=scope)
    if current is None:
        return PolicyRead(scope=scope, version=None, yaml=None)
    return PolicyRead(
        scope=scope,
        version=version_read(current, _author_names(db, [current])),
        yaml=current.yaml,
    )


def save_policy(
    db: Session,
    *,
    actor: Actor,
    yaml_text: str,
    comment: str,
    brand_account_id: RowId | None = None,
) -> PolicyVersion:
    """Store a new version; a policy that does not load is refused with its rule and line,
    and the active version stays."""
    try:
        return policy_service.save(
            db,
            organization_id=actor.organization_id,
            yaml_text=yaml_text,
            author=actor.member,
            brand_account_id=brand_account_id,
            comment=comment,
        )
    except policy.PolicyError as exc:
        raise PolicyRejected(exc) from exc


@router.get("/policy", summary="The organization's active policy (YAML)")
def get_policy(actor: Reader, db: DB) -> PolicyRead:
    return _policy_read(db, organization_id=actor.organization_id, scope=ORG_SCOPE)


@router.put("/policy", summary="Save a new version of the organization's policy")
def put_policy(body: PolicyWrite, actor: ChannelAdmin, db: DB) -> PolicyRead:
    save_policy(db, actor=actor, yaml_text=body.yaml, comment=body.comment)
    return _policy_read(db, organization_id=actor.organization_id, scope=ORG_SCOPE)


@router.get(
    "/policy/versions",
    summary="Every saved version, newest first",
    responses=error_responses(404),
)
def list_versions(
    actor: Reader,
    db: DB,
    brand_account_id: Annotated[
        RowId | None, Query(description="A brand account's refinement instead of the org policy")
    ] = None,
) -> list[PolicyVersionRead]:
    scope = ORG_SCOPE
    if brand_account_id is not None:
        channels_service.get_or_raise(
            db, organization_id=actor.organization_id, brand_account_id=brand_account_id
        )
        scope = brand_scope(brand_account_id)
    found = policy_service.versions(db, organization_id=actor.organization_id, scope=scope)
    names = _author_names(db, found)
    return [version_read(v, names) for v in found]


@router.get(
    "/policy/versions/{version_id}",
    summary="One saved version with its YAML",
    responses=error_responses(404),
)
def get_version(version_id: RowId, actor: Reader, db: DB) -> PolicyVersionDetail:
    found = policy_service.get_version(
        db, organization_id=actor.organization_id, version_id=version_id
    )
    base = version_read(found, _author_names(db, [found]))
    return PolicyVersionDetail(**base.model_dump(), yaml=found.yaml)


@router.get(
    "/brand-accounts/{brand_account_id}/policy",
    summary="A brand account's refinement of the policy",
    responses=error_responses(404),
)
def get_brand_policy(brand_account_id: RowId, actor: Reader, db: DB) -> PolicyRead:
    channels_service.get_or_raise(
        db, organization_id=actor.organization_id, brand_account_id=brand_account_id
    )
    return _policy_read(
        db, organization_id=actor.organization_id, scope=brand_scope(brand_account_id)
    )


@router.put(
    "/brand-accounts/{brand_account_id}/policy",
    summary="Save a new version of a brand account's refinement",
    responses=error_responses(404),
)
def put_brand_policy(
    brand_account_id: RowId, body: PolicyWrite, actor: ChannelAdmin, db: DB
) -> PolicyRead:
    channels_service.get_or_raise(
        db, organization_id=actor.organization_id, brand_account_id=brand_account_id
    )
    save_policy(
        db,
        actor=actor,
        yaml_text=body.yaml,
        comment=body.comment,
        brand_account_id=brand_account_id,
    )
    return _policy_read(
        db, organization_id=actor.organization_id, scope=brand_scope(brand_account_id)
    )


def _starter_or_404(name: str) -> str:
    if name not in policy.starter_names():
        raise NotFound(f"no starter policy {name!r}; starters: {', '.join(policy.starter_names())}")
    from socialdesk.policy.rules import starter_text

    return starter_text(name)


@router.get("/policy/starters", summary="The starter policies an organization can adopt")
def list_starters(actor: Reader) -> list[StarterRead]:
    return [StarterRead(name=n, yaml=_starter_or_404(n)) for n in policy.starter_names()]


@router.post(
    "/policy/starters/{name}/adopt",
    summary="Adopt a starter as the organization's new policy version",
    responses=error_responses(404),
)
def adopt_starter(name: str, actor: ChannelAdmin, db: DB) -> PolicyRead:
    _starter_or_404(name)
    policy_service.adopt_starter(
        db, organization_id=actor.organization_id, name=name, author=actor.member
    )
    return _policy_read(db, organization_id=actor.organization_id, scope=ORG_SCOPE)


def run_backtest(
    db: Session, *, organization_id: int, yaml_text: str | None, limit: int = 5000
) -> BacktestResult:
    """The draft (or, without one, the active org policy) over past outgoing messages."""
    if yaml_text is None:
        current = policy_service.latest(db, organization_id=organization_id, scope=ORG_SCOPE)
        if current is None:
            raise ValidationFailed(
                "there is no policy yet: send one as 'yaml' to test it", field="yaml"
            )
        yaml_text = current.yaml
    try:
        checked, hits = policy_service.backtest(
            db, organization_id=organization_id, yaml_text=yaml_text, limit=limit
        )
    except policy.PolicyError as exc:
        raise PolicyRejected(exc) from exc
    # The hits carry rule ids; each rule's action is in the policy that was tested.
    actions = {r.id: str(r.action) for r in policy.load_policy(yaml_text).rules}
    return BacktestResult(
        checked=checked,
        flagged=[
            BacktestHitRead(
                message_id=h.message_id,
                conversation_id=h.conversation_id,
                text=h.text,
                decision=cast(DecisionName, h.decision),
                violations=[
                    ViolationRead(
                        rule=str(v["rule"]),
                        explain=str(v["explain"]),
                        action=cast(DecisionName, actions.get(str(v["rule"]), "block")),
                        start=v.get("start"),
                        end=v.get("end"),
                    )
                    for v in h.violations
                ],
            )
            for h in hits
        ],
    )


@router.post(
    "/policy/backtest",
    summary="Which past outgoing messages a policy would have flagged",
)
def backtest(body: BacktestRequest, actor: ChannelAdmin, db: DB) -> BacktestResult:
    return run_backtest(
        db, organization_id=actor.organization_id, yaml_text=body.yaml, limit=body.limit
    )


# -- approvals ---------------------------------------------------------------------------------


def approval_read(db: Session, approval: Approval) -> ApprovalRead:
    message = db.get_one(Message, approval.message_id)
    return ApprovalRead(
        id=approval.id,
        message_id=approval.message_id,
        conversation_id=approval.conversation_id,
        requested_by_id=approval.requested_by_id,
        reasons=[
            ViolationRead(
                rule=str(r.get("rule", "")),
                explain=str(r.get("explain", "")),
                action=cast(DecisionName, r.get("decision", r.get("action", "approve"))),
                start=r.get("start"),
                end=r.get("end"),
            )
            for r in approval.reasons
        ],
        original_text=approval.original_text,
        text=message.text,
        approved_text=approval.approved_text,
        status=cast(Any, approval.status),
        decided_by_id=approval.decided_by_id,
        decided_at=approval.decided_at,
        comment=approval.comment,
        created_at=approval.created_at,
    )


@router.get("/approvals", summary="Drafts waiting for an approver, oldest first")
def list_approvals(actor: Approver, db: DB) -> list[ApprovalRead]:
    return [approval_read(db, a) for a in approvals_service.pending(db, approver=actor.member)]


@router.post(
    "/approvals/{approval_id}/approve",
    summary="Approve a held draft, optionally edited; it is queued for delivery",
    responses=error_responses(404, 409),
)
def approve(approval_id: RowId, body: ApproveRequest, actor: Approver, db: DB) -> ApprovalRead:
    """A 422 with ``reasons`` means a check refused the edited text; a 409 with code
    ``confirm`` and ``reasons`` means the edit brings clauses the draft was not held for
    (a warning, say): approve again with ``confirm: true`` to go ahead. Either way the draft
    stays held as it was."""
    found = approvals_service.get_or_raise(
        db, organization_id=actor.organization_id, approval_id=approval_id
    )
    approvals_service.approve(
        db,
        approval=found,
        approver=actor.member,
        edited_text=body.text,
        comment=body.comment,
        confirmed=body.confirm,
    )
    db.flush()
    return approval_read(db, found)


@router.post(
    "/approvals/{approval_id}/reject",
    summary="Reject a held draft with a comment for its author; it is never sent",
    responses=error_responses(404, 409),
)
def reject(approval_id: RowId, body: RejectRequest, actor: Approver, db: DB) -> ApprovalRead:
    found = approvals_service.get_or_raise(
        db, organization_id=actor.organization_id, approval_id=approval_id
    )
    approvals_service.reject(db, approval=found, approver=actor.member, comment=body.comment)
    db.flush()
    return approval_read(db, found)
