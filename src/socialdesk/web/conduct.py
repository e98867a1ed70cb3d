"""The code of conduct in the desk: the policy editor, the back-test, the approval queue, and
the live feedback of the reply box.

Same habits as the desk's other pages: forms work without JavaScript (POST, then a redirect);
a refusal is shown beside the form that caused it, with status 422; CSRF is the hidden
``csrf_token`` field (or HTMX's header). Reading the policy is open to everyone in the
organization (agents must know the rules they write under); changing it and the back-test
take ``channels.manage``; the queue takes ``outbound.approve``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from socialdesk import policy
from socialdesk.accounts import permissions
from socialdesk.accounts.models import Member
from socialdesk.accounts.permissions import Permission
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common.deps import DB, Actor, ChannelAdmin, Reader, Replier, require
from socialdesk.common.errors import DomainError, NotAuthenticated, NotFound
from socialdesk.connectors.base import Visibility
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, Direction, Message
from socialdesk.outbound import approvals as approvals_service
from socialdesk.outbound import service as outbound_service
from socialdesk.outbound.checks import Reason
from socialdesk.policy import api as policy_api
from socialdesk.policy import service as policy_service
from socialdesk.policy.models import ORG_SCOPE, Approval, PolicyVersion, brand_scope
from socialdesk.policy.schemas import BacktestResult, ViolationRead
from socialdesk.polls import service as polls_service
from socialdesk.web import forms
from socialdesk.web import viewmodels as vm
from socialdesk.web.forms import PathId
from socialdesk.web.render import UNPROCESSABLE, render, zone

router = APIRouter(include_in_schema=False)

Approver = Annotated[Actor, Depends(require(Permission.APPROVE))]

DECISION_TEXT = {
    "allow": "Fine to send.",
    "warn": "You will be asked to confirm before it is sent.",
    "approve": "It will be sent to an approver before it goes out.",
    "block": "It cannot be sent as written.",
}


@dataclass(frozen=True)
class Problem:
    """A refusal shown beside the form ``form`` (``rule``/``line`` point into a policy)."""

    form: str
    message: str
    rule: str | None = None
    line: int | None = None


def highlight(text: str, spans: Iterable[ViolationRead]) -> Markup:
    """The text with each offending span in a ``<mark>`` naming its clause. Overlapping spans
    are merged into the first (a span inside a marked one adds nothing to read)."""
    marks = sorted(
        (
            (max(0, v.start), min(len(text), v.end), v)
            for v in spans
            if v.start is not None and v.end is not None and v.end > v.start
        ),
        key=lambda m: (m[0], -m[1]),
    )
    out: list[Markup] = []
    at = 0
    for start, end, v in marks:
        if start < at or start >= end:
            continue
        out.append(escape(text[at:start]))
        out.append(
            Markup(
                '<mark class="violation violation-{a}" data-rule="{r}" title="{e}">{t}</mark>'
            ).format(a=v.action, r=v.rule, e=v.explain, t=text[start:end])
        )
        at = end
    out.append(escape(text[at:]))
    return Markup("").join(out)


def _base(db: Session, actor: Actor) -> dict[str, Any]:
    org = vm.organization(db, actor.organization_id)
    member = actor.member
    return {
        "me": member,
        "org": org,
        "tz": zone(org.timezone),
        "csrf_token": actor.csrf_token or "",
        "can": vm.Permissions.of(member),
        "may_edit": permissions.has(member, Permission.CHANNELS_MANAGE, list(actor.scopes) or None),
        "may_approve": permissions.has(member, Permission.APPROVE, list(actor.scopes) or None),
        "highlight": highlight,
        "decision_text": DECISION_TEXT,
    }


def _names(db: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    return {i: m.name for i in wanted if (m := db.get(Member, i)) is not None}


# -- the policy editor --------------------------------------------------------------------


def _editor_context(
    db: Session,
    actor: Actor,
    *,
    scope: str = ORG_SCOPE,
    draft: str | None = None,
    comment: str = "",
    problem: Problem | None = None,
    viewing: PolicyVersion | None = None,
) -> dict[str, Any]:
    org_id = actor.organization_id
    accounts = channels_service.list_for_org(db, organization_id=org_id)
    account = None
    if scope != ORG_SCOPE:
        account = next((a for a in accounts if brand_scope(a.id) == scope), None)
        if account is None:
            raise NotFound(f"there is no brand account for {scope!r}")
    current = policy_service.latest(db, organization_id=org_id, scope=scope)
    versions = policy_service.versions(db, organization_id=org_id, scope=scope)
    refined = {
        a.id: policy_service.latest(db, organization_id=org_id, scope=brand_scope(a.id))
        for a in accounts
    }
    return {
        **_base(db, actor),
        "scope": scope,
        "account": account,
        "accounts": accounts,
        "refined": refined,
        "current": current,
        "draft": draft if draft is not None else (current.yaml if current else ""),
        "comment": comment,
        "problem": problem,
        "versions": versions,
        "names": _names(db, (v.created_by_id for v in versions)),
        "viewing": viewing,
        "starters": policy.starter_names(),
    }


def _scope_of(db: Session, actor: Actor, raw: str | None) -> tuple[str, int | None]:
    if not raw:
        return ORG_SCOPE, None
    try:
        account_id = int(raw)
    except ValueError:
        raise NotFound(f"there is no brand account {raw!r}") from None
    channels_service.get_or_raise(
        db, organization_id=actor.organization_id, brand_account_id=account_id
    )
    return brand_scope(account_id), account_id


@router.get("/conduct")
def editor(request: Request, actor: Reader, db: DB) -> Response:
    scope, _ = _scope_of(db, actor, request.query_params.get("account"))
    viewing = None
    raw_version = request.query_params.get("version")
    if raw_version:
        viewing = policy_service.get_version(
            db,
            organization_id=actor.organization_id,
            version_id=_int(raw_version, "version"),
        )
        scope = viewing.scope
    return render(
        request, "conduct/editor.html", _editor_context(db, actor, scope=scope, viewing=viewing)
    )


def _int(raw: str, name: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise NotFound(f"there is no {name} {raw!r}") from None


@router.post("/conduct")
def save(request: Request, actor: ChannelAdmin, form: forms.PostedForm, db: DB) -> Response:
    scope, account_id = _scope_of(db, actor, forms.text(form, "account") or None)
    draft = str(form.get("yaml") or "")
    comment = forms.text(form, "comment")
    try:
        policy_api.save_policy(
            db, actor=actor, yaml_text=draft, comment=comment, brand_account_id=account_id
        )
    except policy_api.PolicyRejected as exc:
        db.rollback()
        problem = Problem("policy", exc.message, rule=exc.rule_id, line=exc.line)
        context = _editor_context(
            db, actor, scope=scope, draft=draft, comment=comment, problem=problem
        )
        return render(request, "conduct/editor.html", context, status_code=UNPROCESSABLE)
    target = "/conduct" + (f"?account={account_id}" if account_id else "")
    return RedirectResponse(target, status_code=303)


@router.post("/conduct/starters/{name}/adopt")
def adopt(request: Request, name: str, actor: ChannelAdmin, db: DB) -> Response:
    if name not in policy.starter_names():
        raise NotFound(f"there is no starter policy {name!r}")
    policy_service.adopt_starter(
        db, organization_id=actor.organization_id, name=name, author=actor.member
    )
    return RedirectResponse("/conduct", status_code=303)


@router.get("/conduct/export")
def export(request: Request, actor: Reader, db: DB) -> Response:
    """The YAML as a file: the active policy of a scope, or one saved version."""
    raw_version = request.query_params.get("version")
    if raw_version:
        found: PolicyVersion | None = policy_service.get_version(
            db, organization_id=actor.organization_id, version_id=_int(raw_version, "version")
        )
    else:
        scope, _ = _scope_of(db, actor, request.query_params.get("account"))
        found = policy_service.latest(db, organization_id=actor.organization_id, scope=scope)
    if found is None:
        raise NotFound("there is no policy to export yet")
    slug = vm.organization(db, actor.organization_id).slug
    suffix = "" if found.scope == ORG_SCOPE else "-" + found.scope.replace(":", "-")
    filename = f"{slug}-policy{suffix}-v{found.version}.yaml"
    return Response(
        found.yaml,
        media_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# -- the back-test ------------------------------------------------------------------------


def _backtest_page(
    request: Request,
    db: Session,
    actor: Actor,
    *,
    draft: str | None,
    result: BacktestResult | None,
    problem: Problem | None = None,
) -> Response:
    current = policy_service.latest(db, organization_id=actor.organization_id, scope=ORG_SCOPE)
    context = {
        **_base(db, actor),
        "current": current,
        "draft": draft if draft is not None else (current.yaml if current else ""),
        "result": result,
        "problem": problem,
        "tested_draft": draft is not None,
    }
    return render(
        request,
        "conduct/backtest.html",
        context,
        status_code=UNPROCESSABLE if problem else 200,
    )


@router.get("/conduct/backtest")
def backtest_page(request: Request, actor: ChannelAdmin, db: DB) -> Response:
    """The active policy over past outgoing messages (nothing to run without one)."""
    current = policy_service.latest(db, organization_id=actor.organization_id, scope=ORG_SCOPE)
    result = (
        policy_api.run_backtest(db, organization_id=actor.organization_id, yaml_text=None)
        if current
        else None
    )
    return _backtest_page(request, db, actor, draft=None, result=result)


@router.post("/conduct/backtest")
def backtest_draft(
    request: Request, actor: ChannelAdmin, form: forms.PostedForm, db: DB
) -> Response:
    draft = str(form.get("yaml") or "")
    try:
        result = policy_api.run_backtest(db, organization_id=actor.organization_id, yaml_text=draft)
    except policy_api.PolicyRejected as exc:
        problem = Problem("policy", exc.message, rule=exc.rule_id, line=exc.line)
        return _backtest_page(request, db, actor, draft=draft, result=None, problem=problem)
    return _backtest_page(request, db, actor, draft=draft, result=result)


# -- the approval queue -------------------------------------------------------------------


@dataclass(frozen=True)
class QueueItem:
    approval: Approval
    message: Message
    conversation: Conversation
    author: str
    reasons: list[ViolationRead]


def _queue(db: Session, actor: Actor) -> list[QueueItem]:
    items = []
    pending = approvals_service.pending(db, approver=actor.member)
    names = _names(db, (a.requested_by_id for a in pending))
    for approval in pending:
        read = policy_api.approval_read(db, approval)
        items.append(
            QueueItem(
                approval=approval,
                message=db.get_one(Message, approval.message_id),
                conversation=db.get_one(Conversation, approval.conversation_id),
                author=names.get(approval.requested_by_id, "someone"),
                reasons=read.reasons,
            )
        )
    return items


def _queue_page(
    request: Request,
    db: Session,
    actor: Actor,
    *,
    problem: Problem | None = None,
    problem_id: int | None = None,
    edits: Mapping[str, str] | None = None,
    warnings: list[Reason] | None = None,
) -> Response:
    context = {
        **_base(db, actor),
        "items": _queue(db, actor),
        # Held polls wait on their own page; the queue says how many.
        "held_polls": polls_service.held_count(db, approver=actor.member),
        "problem": problem,
        "problem_id": problem_id,
        "edits": edits or {},
        # The clauses an edit brings that the draft was not held for: the approver may
        # approve anyway.
        "warnings": warnings or [],
    }
    return render(
        request,
        "conduct/approvals.html",
        context,
        status_code=UNPROCESSABLE if problem else 200,
    )


@router.get("/approvals")
def approvals_page(request: Request, actor: Approver, db: DB) -> Response:
    return _queue_page(request, db, actor)


@router.get("/approvals/badge")
def approvals_badge(request: Request, actor: Approver, db: DB) -> Response:
    """The header's Approvals link with the count of what waits for this approver (an HTMX
    fragment): held reply drafts, and held polls, which are decided on the Polls page."""
    drafts = approvals_service.pending_count(db, approver=actor.member)
    count = drafts + polls_service.held_count(db, approver=actor.member)
    return render(
        request,
        "conduct/_approvals_badge.html",
        {"pending_count": count},
        headers={"Cache-Control": "no-store"},
    )


def _decide(
    request: Request,
    db: Session,
    actor: Actor,
    approval_id: int,
    form: FormData,
    *,
    act: Callable[[Approval, Mapping[str, Any]], object],
) -> Response:
    approval = approvals_service.get_or_raise(
        db, organization_id=actor.organization_id, approval_id=approval_id
    )
    try:
        act(approval, form)
    except NotAuthenticated:
        raise
    except DomainError as exc:
        db.rollback()
        edits = {"text": str(form.get("text") or ""), "comment": forms.text(form, "comment")}
        return _queue_page(
            request,
            db,
            actor,
            problem=Problem(f"approval-{approval_id}", exc.message),
            problem_id=approval_id,
            edits=edits,
            warnings=(
                exc.outcome.per_rule()
                if isinstance(exc, outbound_service.NeedsConfirmation)
                else []
            ),
        )
    return RedirectResponse("/approvals", status_code=303)


@router.post("/approvals/{approval_id}/approve")
def approve(
    request: Request, approval_id: PathId, actor: Approver, form: forms.PostedForm, db: DB
) -> Response:
    def act(approval: Approval, form: Mapping[str, Any]) -> None:
        message = db.get_one(Message, approval.message_id)
        # As the reply box takes it: the draft shown comes back with CRLF line endings.
        edited = forms.plain_text(str(form.get("text") or ""))
        approvals_service.approve(
            db,
            approval=approval,
            approver=actor.member,
            # Unchanged text is not an edit: the trail says "edited" only when it was, and
            # only an edit is checked again.
            edited_text=edited if edited and edited != forms.plain_text(message.text) else None,
            comment=forms.text(form, "comment"),
            # The warnings shown were about one text: an approver who changes it again after
            # reading them confirms nothing, and the new text is checked afresh.
            confirmed=forms.same_text(forms.text(form, "confirmed_text"), edited),
        )

    return _decide(request, db, actor, approval_id, form, act=act)


@router.post("/approvals/{approval_id}/reject")
def reject(
    request: Request, approval_id: PathId, actor: Approver, form: forms.PostedForm, db: DB
) -> Response:
    def act(approval: Approval, form: Mapping[str, Any]) -> None:
        approvals_service.reject(
            db, approval=approval, approver=actor.member, comment=forms.text(form, "comment")
        )

    return _decide(request, db, actor, approval_id, form, act=act)


# -- live feedback in the reply box -------------------------------------------------------


def _reply_visibility(db: Session, conversation: Conversation) -> Visibility:
    """As the send gateway will answer: in kind with the customer's last message."""
    last = db.scalar(
        select(Message.visibility)
        .where(
            Message.conversation_id == conversation.id,
            Message.direction == Direction.INBOUND.value,
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )
    return Visibility(last) if last else Visibility.PUBLIC


@router.post("/conversations/{conversation_id}/reply/check")
def reply_check(
    request: Request, conversation_id: PathId, actor: Replier, form: forms.PostedForm, db: DB
) -> Response:
    """The reply box's feedback while typing: what the gateway would decide for this draft,
    the clauses with their spans, and the length left (signature included)."""
    conversation = conversations_service.get_or_raise(
        db, organization_id=actor.organization_id, conversation_id=conversation_id
    )
    text = str(form.get("text") or "").strip()
    account = db.get_one(BrandAccount, conversation.brand_account_id)
    checked = None
    if text:
        try:
            checked = policy_api.check_for_account(
                db,
                account=account,
                author=actor.member,
                text=text,
                visibility=_reply_visibility(db, conversation),
            )
        except NotFound:
            checked = None  # no connector for this channel: the box already says so
    return render(
        request,
        "conduct/_feedback.html",
        {**_base(db, actor), "checked": checked},
        headers={"Cache-Control": "no-store"},
    )
