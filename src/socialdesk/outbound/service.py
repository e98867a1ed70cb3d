"""The one send gateway. Every outgoing message (replies, API sends, later follow-ups and
scheduled posts) is queued here and delivered by a job that calls the brand account's
connector. Guards: notes are never sent; the checks run when queued and again right before
delivery; the provider's id is stored, and a send that may have happened is never repeated
blindly, so a retry never double-posts.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from socialdesk.config import get_settings
from socialdesk.connectors import registry as connectors
from socialdesk.connectors.base import (
    AccountCapabilities,
    Attachment,
    AuthError,
    Capabilities,
    Identity,
    OutboundRequest,
    SendResult,
    Visibility,
)
from socialdesk.contacts import service as contacts_service
from socialdesk.conversations import attachments
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, DeliveryState, Direction, Message
from socialdesk.db.hooks import on_rollback
from socialdesk.db.session import session_scope
from socialdesk.events import bus
from socialdesk.events.types import MessageCreated, MessageDeliveryChanged
from socialdesk.jobs import queue as jobs
from socialdesk.jobs.registry import Payload, job, periodic
from socialdesk.outbound import approvals, checks, notices, sending
from socialdesk.outbound.checks import Decision, Outcome
from socialdesk.policy import service as policy_service
from socialdesk.policy import sign
from socialdesk.policy.models import DecisionStage

log = logging.getLogger(__name__)

DELIVER_JOB = "outbound.deliver"
# A send still "sending" after this long was interrupted (a crash mid-send).
STALE_SENDING = timedelta(minutes=10)
# A queued message whose delivery job was lost (the queue's storage was wiped, or the process
# died between the commit and handing the job over) is queued again after this long. Longer
# than any backoff between attempts; a duplicate job is harmless, the claim sends once.
STALE_QUEUED = timedelta(minutes=30)


def reasons_json(outcome: Outcome, *, per_rule: bool = False) -> list[dict[str, object]]:
    """The reasons of a check's outcome as plain data, for API error bodies and the record of
    a decision; ``per_rule``: each rule once (``Outcome.per_rule``)."""
    return [
        {
            "rule": r.rule,
            "explain": r.explain,
            "decision": r.decision.name.lower(),
            "start": r.start,
            "end": r.end,
        }
        for r in (outcome.per_rule() if per_rule else outcome.reasons)
    ]


class Blocked(ValidationFailed):
    """The checks refused the message. ``outcome`` carries the reasons, each with its clause."""

    def __init__(self, outcome: Outcome) -> None:
        reasons = "; ".join(r.explain for r in outcome.per_rule()) or "refused by a check"
        super().__init__(f"not sent: {reasons}", field="text")
        self.outcome = outcome

    def details(self) -> dict[str, object]:
        return {"reasons": reasons_json(self.outcome)}


class NeedsConfirmation(ValidationFailed):
    status_code = 409
    code = "confirm"

    def __init__(self, outcome: Outcome) -> None:
        reasons = "; ".join(r.explain for r in outcome.per_rule())
        super().__init__(f"please confirm: {reasons}", field="text")
        self.outcome = outcome

    def details(self) -> dict[str, object]:
        return {"reasons": reasons_json(self.outcome)}


def compose(text: str, signature: str | None) -> str:
    """The text as the network will show it: the agent's signature appended (``^JD``)."""
    return sign(text, signature) if signature else text


def install_tag() -> str:
    """A short tag of this installation, so idempotency keys (and the Message-IDs derived from
    them) never repeat across a reinstalled database or a staging desk on the same account."""
    return hashlib.sha256(get_settings().secret_key.encode()).hexdigest()[:10]


def capabilities_of(account: BrandAccount) -> Capabilities:
    """The account's own limits where the connector knows them (a Mastodon instance's
    character limit), else the channel's.

    An account whose own limits cannot be read (no access token, no instance URL) is checked
    against the channel's: the reply is still stored, and its delivery fails with the reason
    and marks the account for attention, instead of the request failing with a server error.
    """
    connector = connectors.get(account.kind)
    if isinstance(connector, AccountCapabilities):
        try:
            return connector.capabilities_for(channels_service.context_for(account))
        except AuthError as exc:
            log.info("%s account %s: channel limits apply: %s", account.kind, account.id, exc)
    return connector.capabilities


@dataclass(frozen=True)
class Checked:
    outcome: Outcome
    active: policy_service.ActivePolicy | None

    @property
    def reasons_json(self) -> list[dict[str, object]]:
        return reasons_json(self.outcome)


def check(session: Session, account: BrandAccount, text: str, visibility: Visibility) -> Checked:
    """Every check an outgoing text must pass, with the organization's current policy."""
    active = policy_service.active_for(
        session, organization_id=account.organization_id, brand_account_id=account.id
    )
    draft = checks.Draft(
        organization_id=account.organization_id,
        brand_account_id=account.id,
        channel=account.kind,
        capabilities=capabilities_of(account),
        text=text,
        visibility=visibility,
        policy=active.compiled if active else None,
    )
    return Checked(checks.run_all(draft), active)


def record_decision_of(
    session: Session,
    *,
    account: BrandAccount,
    checked: Checked,
    stage: DecisionStage,
    member_id: int | None,
    message_id: int | None,
) -> None:
    """Record a decision in the current transaction (it commits with the change it allowed)."""
    policy_service.record_decision(
        session,
        organization_id=account.organization_id,
        brand_account_id=account.id,
        stage=stage.value,
        decision=checked.outcome.decision.name.lower(),
        reasons=checked.reasons_json,
        active=checked.active,
        message_id=message_id,
        member_id=member_id,
    )


def keep_decision(
    session: Session,
    *,
    account: BrandAccount,
    checked: Checked,
    stage: DecisionStage,
    member_id: int | None,
    message_id: int | None,
) -> None:
    """Record the decision with the policy versions that made it. A refused send rolls the
    request back, so its record is written again in a transaction of its own."""
    record_decision_of(
        session,
        account=account,
        checked=checked,
        stage=stage,
        member_id=member_id,
        message_id=message_id,
    )
    account_id = account.id

    def keep_after_rollback() -> None:
        with session_scope() as own:
            again = own.get(BrandAccount, account_id)
            if again is None:  # created in the very transaction that rolled back
                return
            author = member_id if member_id and own.get(Member, member_id) else None
            record_decision_of(
                own, account=again, checked=checked, stage=stage, member_id=author, message_id=None
            )

    on_rollback(session, keep_after_rollback)


def signature_for(account: BrandAccount, author: Member) -> str | None:
    """Care teams sign replies from a shared account so the person stays visible (``^JD``)."""
    if account.settings.get("sign_replies") and author.initials:
        return author.initials
    return None


# The longest reply the desk stores, on channels with no limit of their own (email), as the
# API's own limit on a message's text (conversations.schemas.MAX_TEXT).
MAX_REPLY = 20_000
# The most files one reply carries, each up to ``attachment_max_bytes``.
MAX_REPLY_FILES = 10


def check_files(account: BrandAccount, files: Sequence[Attachment]) -> None:
    """Refuse files a reply cannot carry: on a channel that cannot send files, more than
    ``MAX_REPLY_FILES``, an empty one or one larger than the desk keeps. Runs before anything
    is stored, so a refused reply leaves nothing behind."""
    if not files:
        return
    channel = channels_service.channel_name(account.kind)
    if not connectors.get(account.kind).capabilities.files:
        raise ValidationFailed(
            f"{channel} replies cannot carry files yet: "
            "send the reply without them, or share a link in the text",
            field="files",
        )
    if len(files) > MAX_REPLY_FILES:
        raise ValidationFailed(
            f"a reply carries at most {MAX_REPLY_FILES} files; this one has {len(files)}",
            field="files",
        )
    can = capabilities_of(account)
    if can.max_files is not None and len(files) > can.max_files:
        raise ValidationFailed(
            f"a {channel} reply from {account.display_name} carries at most {can.max_files} "
            f"files; this one has {len(files)}",
            field="files",
        )
    limit = get_settings().attachment_max_bytes
    whose = "(SOCIALDESK_ATTACHMENT_MAX_BYTES)"
    if can.max_file_bytes is not None and can.max_file_bytes < limit:
        limit, whose = can.max_file_bytes, f"on {channel}"
    for item in files:
        kind = (item.mime_type or "").lower()
        if can.file_types and not any(
            kind.startswith(t) if t.endswith("/") else kind == t for t in can.file_types
        ):
            raise ValidationFailed(
                f"{item.name or 'a file'} ({kind or 'of no known type'}) cannot go on "
                f"{channel}, which takes {', '.join(type_names(can.file_types))}",
                field="files",
            )
    for item in files:
        name = item.name or "a file"
        size = len(item.content or b"")
        if not size:
            raise ValidationFailed(f"{name} is empty: choose the file again", field="files")
        if size > limit:
            raise ValidationFailed(
                f"{name} is {size:,} bytes; a file is at most {limit:,} bytes {whose}",
                field="files",
            )


def type_names(types: Sequence[str]) -> list[str]:
    """Media types as people read them: "image/" is "images"."""
    return [f"{t[:-1]}s" if t.endswith("/") else t for t in types]


def queue_reply(
    session: Session,
    *,
    conversation: Conversation,
    author: Member,
    text: str,
    visibility: Visibility | None = None,
    confirmed: bool = False,
    files: Sequence[Attachment] = (),
) -> Message:
    """Queue a reply for delivery, with the files the author attached (stored with the
    message, read again by the delivery job). Raises Blocked, or NeedsConfirmation for warnings
    that the author has not confirmed yet."""
    body = text.strip()
    if not body:
        raise ValidationFailed("a reply must not be empty", field="text")
    if len(body) > MAX_REPLY:
        raise ValidationFailed(
            f"a reply is at most {MAX_REPLY:,} characters; this one has {len(body):,}",
            field="text",
        )
    if visibility is Visibility.NOTE:
        raise ValidationFailed("notes are not sent: add a note instead", field="visibility")
    account = session.get(BrandAccount, conversation.brand_account_id)
    assert account is not None
    if not channels_service.may_act_for(session, account=account, member_id=author.id):
        raise PermissionDenied(
            f"you may not reply as {account.display_name}: ask an admin for access to this account"
        )
    check_files(account, files)
    last_inbound = session.scalar(
        select(Message)
        .where(
            Message.conversation_id == conversation.id, Message.direction == Direction.INBOUND.value
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )
    if visibility is None:
        # Answer in kind: a direct message gets a direct answer.
        visibility = Visibility(last_inbound.visibility) if last_inbound else Visibility.PUBLIC
    signature = signature_for(account, author)
    checked = check(session, account, compose(body, signature), visibility)
    decision = checked.outcome.decision
    if decision is Decision.BLOCK or (decision is Decision.WARN and not confirmed):
        keep_decision(
            session,
            account=account,
            checked=checked,
            stage=DecisionStage.QUEUE,
            member_id=author.id,
            message_id=None,
        )
        raise (
            Blocked(checked.outcome)
            if decision is Decision.BLOCK
            else NeedsConfirmation(checked.outcome)
        )
    now = clock.now()
    first_reply = (
        conversation.first_response_at is None and conversation.first_inbound_at is not None
    )
    held = decision is Decision.APPROVE
    message = Message(
        organization_id=conversation.organization_id,
        conversation_id=conversation.id,
        brand_account_id=account.id,
        direction=Direction.OUTBOUND.value,
        visibility=visibility.value,
        author_member_id=author.id,
        text=body,
        signature=signature,
        native_reply_to_id=last_inbound.native_id if last_inbound else None,
        thread_key=conversation.thread_key,
        created_at=now,
        delivery_state=DeliveryState.HELD.value if held else DeliveryState.QUEUED.value,
        delivery_changed_at=now,
    )
    session.add(message)
    session.flush()
    attachments.keep(
        session,
        organization_id=message.organization_id,
        message_id=message.id,
        attachments=[attachments.outgoing(item) for item in files],
    )
    keep_decision(
        session,
        account=account,
        checked=checked,
        stage=DecisionStage.QUEUE,
        member_id=author.id,
        message_id=message.id,
    )
    if held:
        approvals.hold(session, message=message, author=author, reasons=checked.reasons_json)
    else:
        conversations_service.refresh_aggregates(session, conversation=conversation)
    bus.emit(
        session,
        MessageCreated(
            organization_id=conversation.organization_id,
            conversation_id=conversation.id,
            message_id=message.id,
            direction=message.direction,
            visibility=message.visibility,
            first_reply=first_reply and not held,
        ),
    )
    if not held:
        jobs.enqueue(session, DELIVER_JOB, {"message_id": message.id})
    return message


def retry(session: Session, *, message: Message, actor: Member) -> None:
    """Send a failed message again (a person decided to)."""
    if message.organization_id != actor.organization_id:
        raise ValidationFailed("no such message")
    if message.delivery_state != DeliveryState.FAILED.value:
        raise Conflict(f"only failed messages can be retried; this one is {message.delivery_state}")
    message.delivery_state = DeliveryState.QUEUED.value
    message.delivery_error = None
    _answer_changed(session, message)
    emit_delivery_state(session, message)
    jobs.enqueue(session, DELIVER_JOB, {"message_id": message.id})


def _answer_changed(session: Session, message: Message) -> None:
    """The reply became an answer again (a retry) or stopped being one (it failed): the
    conversation's first response and preview follow (``conversations.service.ANSWERED``)."""
    conversation = session.get(Conversation, message.conversation_id)
    if conversation is not None:
        conversations_service.refresh_aggregates(session, conversation=conversation)


def emit_delivery_state(session: Session, message: Message) -> None:
    """Record that the message's delivery state changed now, and tell the desk."""
    message.delivery_changed_at = clock.now()
    bus.emit(
        session,
        MessageDeliveryChanged(
            organization_id=message.organization_id,
            conversation_id=message.conversation_id,
            message_id=message.id,
            state=message.delivery_state or "",
            error=message.delivery_error,
        ),
    )


def _fail(session: Session, message: Message, reason: str) -> None:
    message.delivery_state = DeliveryState.FAILED.value
    message.delivery_error = reason[:1000]
    message.next_attempt_at = None
    _answer_changed(session, message)
    notices.reply_failed(session, message=message)
    emit_delivery_state(session, message)


def _give_up(payload: Payload, reason: str) -> None:
    with session_scope() as session:
        message = session.get(Message, int(payload["message_id"]))
        if message is not None and message.delivery_state != DeliveryState.SENT.value:
            _fail(session, message, f"gave up after repeated failures: {reason}")


class _Replies:
    """Replies as the send runner (``sending.run``) claims and records them."""

    def claim(self, session: Session, item_id: int) -> sending.Claim[SendResult] | None:
        return _claim(session, item_id)

    def waiting(self, session: Session, item_id: int, reason: str) -> None:
        message = _message(session, item_id)
        if message.delivery_state == DeliveryState.QUEUED.value:
            message.delivery_error = reason
            emit_delivery_state(session, message)

    def failed(self, session: Session, item_id: int, reason: str) -> None:
        _fail(session, _message(session, item_id), reason)

    def queued_again(self, session: Session, item_id: int, reason: str) -> None:
        message = _message(session, item_id)
        message.delivery_state = DeliveryState.QUEUED.value
        message.delivery_error = reason[:1000]
        emit_delivery_state(session, message)

    def sent(self, session: Session, claim: sending.Claim[SendResult], result: SendResult) -> None:
        message = _message(session, claim.item_id)
        message.delivery_state = DeliveryState.SENT.value
        message.delivery_error = None
        message.native_id = result.native_id
        message.sent_at = result.sent_at
        if result.raw:
            message.raw = result.raw
        if result.credentials_update:
            account = session.get_one(BrandAccount, claim.context.brand_account_id)
            channels_service.update_credentials(account, result.credentials_update)
        emit_delivery_state(session, message)


@job(
    DELIVER_JOB,
    max_attempts=lambda: get_settings().delivery_max_attempts,
    backoff_seconds=15,
    on_give_up=_give_up,
)
def deliver(payload: Payload) -> None:
    """Hand one queued message to its connector: claim, send, record (``sending.run``)."""
    sending.run(_Replies(), int(payload["message_id"]))


def _message(session: Session, message_id: int) -> Message:
    message = session.get(Message, message_id)
    assert message is not None  # messages are never deleted while queued
    return message


def _claim(session: Session, message_id: int) -> sending.Claim[SendResult] | None:
    """Move a queued message to "sending" (exactly one worker wins) and prepare its request.
    Returns None when there is nothing to send, or the last check refused it. Raises
    ``Later`` when the account has used its channel's rate (pacing.py): the caller rolls the
    claim back and the message waits, queued."""
    claimed = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.delivery_state == DeliveryState.QUEUED.value)
        .values(
            delivery_state=DeliveryState.SENDING.value,
            delivery_attempts=Message.delivery_attempts + 1,
        )
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]  # UPDATE results carry rowcount
        return None  # already sent, failed, or being sent by another worker
    message = _message(session, message_id)
    account = session.get(BrandAccount, message.brand_account_id)
    conversation = session.get(Conversation, message.conversation_id)
    assert account is not None
    assert conversation is not None
    try:
        connector = connectors.get(account.kind)
    except NotFound as exc:
        _fail(session, message, exc.message)
        return None
    visibility = Visibility(message.visibility)
    full_text = compose(message.text, message.signature)
    checked = check(session, account, full_text, visibility)
    keep_decision(
        session,
        account=account,
        checked=checked,
        stage=DecisionStage.DELIVER,
        member_id=None,
        message_id=message.id,
    )
    refused = checked.outcome.decision is Decision.BLOCK or (
        checked.outcome.decision is Decision.APPROVE
        and not approvals.is_approved(session, message=message)
    )
    if refused:
        reasons = "; ".join(r.explain for r in checked.outcome.reasons)
        _fail(session, message, f"refused right before delivery: {reasons}")
        return None
    sending.keep_rate(session, account)
    recipient = None
    if conversation.contact_id is not None:
        identity = contacts_service.identity_on(
            session, contact_id=conversation.contact_id, channel=account.kind
        )
        if identity is not None:
            recipient = Identity(identity.native_id, identity.handle, identity.display_name)
    emit_delivery_state(session, message)
    request = OutboundRequest(
        idempotency_key=f"socialdesk-{install_tag()}-{message.id}",
        text=full_text,
        visibility=visibility,
        recipient=recipient,
        reply_to_native_id=message.native_reply_to_id,
        thread_key=message.thread_key,
        subject=conversation.subject or None,
        # Read now, at each attempt, not when the reply was queued: a retry sends them again.
        attachments=attachments.to_send(session, message_id=message.id),
    )
    context = channels_service.context_for(account)
    return sending.Claim(
        item_id=message.id,
        context=context,
        connector=connector,
        send=lambda: connector.send(context, request),
    )


@periodic("outbound.recover_interrupted", every_minutes=5)
def recover_interrupted() -> None:
    with session_scope() as session:
        recover_stale_sends(session)


def recover_stale_sends(session: Session) -> int:
    """Messages stuck in "sending" were interrupted mid-send. Where the provider honours the
    idempotency key, sending again is safe; elsewhere the send may have happened, so a person
    must look before retrying (never a blind double post). Messages queued for long with no
    delivery under way lost their job: it is enqueued again. Returns how many were stuck."""
    now = clock.now()
    since = func.coalesce(Message.delivery_changed_at, Message.created_at)
    stuck = list(
        session.scalars(
            select(Message).where(
                Message.delivery_state == DeliveryState.SENDING.value,
                since < now - STALE_SENDING,
            )
        )
    )
    for message in stuck:
        account = session.get(BrandAccount, message.brand_account_id)
        assert account is not None
        if sending.resends_safely(account):
            message.delivery_state = DeliveryState.QUEUED.value
            emit_delivery_state(session, message)
            jobs.enqueue(session, DELIVER_JOB, {"message_id": message.id})
        else:
            _fail(
                session,
                message,
                "interrupted while sending: it may or may not have been posted; "
                "check the channel, then retry if it is missing",
            )
    lost = list(
        session.scalars(
            select(Message).where(
                Message.delivery_state == DeliveryState.QUEUED.value,
                since < now - STALE_QUEUED,
            )
        )
    )
    for message in lost:
        # Not a state change: only the timer restarts, so the next sweep waits again.
        message.delivery_changed_at = now
        jobs.enqueue(session, DELIVER_JOB, {"message_id": message.id})
    return len(stuck) + len(lost)
