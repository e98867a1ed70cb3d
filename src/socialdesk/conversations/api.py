"""REST API of the conversations domain (mounted under /api): the inbox, a conversation's
thread and trail, and everything people do to conversations (reply, note, assign, snooze...).

Routes are thin: a path id is loaded by a dependency scoped to the caller's organization (so
another organization's id is a 404 before the body is even read), the body is validated by its
schema, a service does the work, and the result is returned as a schema.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from datetime import UTC
from http import HTTPStatus
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Team
from socialdesk.accounts.schemas import MemberSummary, TeamSummary
from socialdesk.channels.models import BrandAccount
from socialdesk.channels.schemas import BrandAccountSummary
from socialdesk.commitments import service as commitments_service
from socialdesk.commitments.models import Commitment
from socialdesk.commitments.schemas import StatusWithCommitments
from socialdesk.commitments.service import ResolveChoice
from socialdesk.common import files
from socialdesk.common.deps import DB, Manager, NoteTaker, PageCursor, Reader, Replier
from socialdesk.common.errors import ValidationFailed
from socialdesk.common.pagination import MAX_ROW_ID
from socialdesk.common.schemas import (
    Limit,
    RowId,
    api_token_scheme,
    error_responses,
)
from socialdesk.connectors.base import Attachment, ChannelKind, Visibility
from socialdesk.contacts import service as contacts_service
from socialdesk.contacts.models import Contact
from socialdesk.contacts.schemas import ContactSummary
from socialdesk.conversations import attachments, presence
from socialdesk.conversations import batch as batch_service
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, Message, Status
from socialdesk.conversations.schemas import (
    ActivityPage,
    ActivityRead,
    AssignBody,
    AttachmentRead,
    BatchBody,
    ConversationPage,
    ConversationRead,
    InboxCounts,
    MessageAuthor,
    MessageCreated,
    MessagePage,
    MessageRead,
    NoteCreate,
    PresenceBody,
    PresenceList,
    PresenceRead,
    PriorityBody,
    PromiseChoice,
    ReplyCreate,
    ReplyFile,
    TagCreate,
    TeamBody,
    TriageCorrection,
    TriageRead,
    WithdrawalRead,
    WithdrawBody,
)
from socialdesk.conversations.service import AssigneeFilter, InboxFilter
from socialdesk.db.base import IdMixin
from socialdesk.outbound import service as outbound_service
from socialdesk.outbound import withdrawal
from socialdesk.triage import service as triage_service

router = APIRouter(
    tags=["conversations"],
    dependencies=[Depends(api_token_scheme)],
    responses=error_responses(401, 422),
)

M = TypeVar("M", bound=IdMixin)


# -- lookups, scoped to the caller's organization ------------------------------------------


def _conversation(conversation_id: RowId, db: DB, actor: Reader) -> Conversation:
    return conversations_service.get_or_raise(
        db, organization_id=actor.organization_id, conversation_id=conversation_id
    )


def _message(message_id: RowId, db: DB, actor: Reader) -> Message:
    return conversations_service.get_message_or_raise(
        db, organization_id=actor.organization_id, message_id=message_id
    )


ConversationDep = Annotated[Conversation, Depends(_conversation)]
MessageDep = Annotated[Message, Depends(_message)]


def _assignee(value: str) -> AssigneeFilter | int:
    word = value.strip().lower()
    if word in {a.value for a in AssigneeFilter}:
        return AssigneeFilter(word)
    # isdigit() alone also takes "²", which int() refuses; and the id must fit a row id.
    if word.isascii() and word.isdigit() and 0 < int(word) <= MAX_ROW_ID:
        return int(word)
    raise ValidationFailed(
        f"assignee must be me, unassigned, anyone or a member id; not {value!r}", field="assignee"
    )


def _filters(
    *,
    status: Literal["open", "pending", "snoozed", "resolved", "all"] = "open",
    channel: ChannelKind | None = None,
    brand_account_id: RowId | None = None,
    assignee: Annotated[
        str,
        Query(
            max_length=20,
            description="me, unassigned, anyone, or a member id (of your organization: "
            "another is a 422)",
        ),
    ] = "anyone",
    team_id: RowId | None = None,
    tag: Annotated[str | None, Query(max_length=61)] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Full-text search over message text; also finds the conversations of "
            "the customers whose name, handle, display name or email address starts with it",
        ),
    ] = None,
    min_priority: Annotated[int | None, Query(ge=0, le=3)] = None,
    intent: Literal["complaint", "question", "praise", "feedback", "idea", "other"] | None = None,
    sentiment: Literal["negative", "neutral", "positive"] | None = None,
    complaint: bool | None = None,
    awaiting: Annotated[
        Literal["reply", "customer"] | None,
        Query(
            description="reply: the customer wrote last and waits for the team; customer: the "
            "team's reply was last and the customer has not answered"
        ),
    ] = None,
) -> InboxFilter:
    return InboxFilter(
        status=status,
        channel=channel.value if channel else None,
        brand_account_id=brand_account_id,
        assignee=_assignee(assignee),
        team_id=team_id,
        tag=tag or None,
        query=q or None,
        min_priority=min_priority,
        intent=intent,
        sentiment=sentiment,
        complaint=complaint,
        awaiting=awaiting,
    )


Filters = Annotated[InboxFilter, Depends(_filters)]


# -- presentation ---------------------------------------------------------------------------


def _by_id(db: Session, model: type[M], ids: Iterable[int | None]) -> dict[int, M]:
    """Rows of ``model`` for a page in one query, instead of one query per row."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {row.id: row for row in db.scalars(select(model).where(model.id.in_(wanted)))}


def conversation_reads(db: Session, rows: list[Conversation]) -> list[ConversationRead]:
    """Conversations as the API shows them, their accounts, people and tags read per page."""
    accounts = _by_id(db, BrandAccount, (c.brand_account_id for c in rows))
    members = _by_id(db, Member, (c.assignee_id for c in rows))
    teams = _by_id(db, Team, (c.team_id for c in rows))
    tags = conversations_service.tags_for(db, conversation_ids=[c.id for c in rows])
    contacts = contacts_service.briefs(
        db, contact_ids=list({c.contact_id for c in rows if c.contact_id is not None})
    )
    out = []
    for c in rows:
        account = accounts[c.brand_account_id]
        brief = contacts.get(c.contact_id) if c.contact_id is not None else None
        summary = None
        if brief is not None:
            summary = ContactSummary(
                id=brief.id,
                name=brief.name,
                is_vip=brief.is_vip,
                handle=brief.handles.get(account.kind),
            )
        assignee = members.get(c.assignee_id) if c.assignee_id is not None else None
        team = teams.get(c.team_id) if c.team_id is not None else None
        out.append(
            ConversationRead(
                id=c.id,
                status=c.status,
                snoozed_until=c.snoozed_until,
                priority=c.priority,
                subject=c.subject,
                channel=account.kind,
                brand_account=BrandAccountSummary.model_validate(account),
                contact=summary,
                assignee=MemberSummary.model_validate(assignee) if assignee else None,
                team=TeamSummary.model_validate(team) if team else None,
                tags=tags[c.id],
                message_count=c.message_count,
                last_preview=c.last_preview,
                last_preview_outbound=c.last_preview_outbound,
                created_at=c.created_at,
                first_inbound_at=c.first_inbound_at,
                first_response_at=c.first_response_at,
                last_customer_message_at=c.last_customer_message_at,
                last_activity_at=c.last_activity_at,
                resolved_at=c.resolved_at,
                sentiment=c.sentiment,
                intent=c.intent,
                language=c.language,
                is_complaint=c.is_complaint,
            )
        )
    return out


def _conversation_read(db: Session, conversation: Conversation) -> ConversationRead:
    return conversation_reads(db, [conversation])[0]


def _messages(db: Session, rows: list[Message]) -> list[MessageRead]:
    members = _by_id(
        db,
        Member,
        [m.author_member_id for m in rows] + [m.withdrawal_requested_by_id for m in rows],
    )
    contacts = _by_id(db, Contact, (m.author_contact_id for m in rows))
    accounts = _by_id(db, BrandAccount, (m.brand_account_id for m in rows))
    files = attachments.of_messages(db, (m.id for m in rows))
    out = []
    for m in rows:
        if m.author_member_id is not None and m.author_member_id in members:
            member = members[m.author_member_id]
            author = MessageAuthor(type="member", id=member.id, name=member.name)
        elif m.author_contact_id is not None and m.author_contact_id in contacts:
            contact = contacts[m.author_contact_id]
            author = MessageAuthor(type="contact", id=contact.id, name=contact.name)
        else:
            account = accounts[m.brand_account_id]
            author = MessageAuthor(type="brand", id=None, name=account.display_name)
        out.append(
            MessageRead(
                id=m.id,
                conversation_id=m.conversation_id,
                direction=m.direction,
                visibility=m.visibility,
                author=author,
                text=m.text,
                signature=m.signature,
                native_id=m.native_id,
                native_reply_to_id=m.native_reply_to_id,
                created_at=m.created_at,
                sent_at=m.sent_at,
                delivery_state=m.delivery_state,
                delivery_error=m.delivery_error,
                delivery_attempts=m.delivery_attempts,
                attachments=[_attachment(f) for f in files.get(m.id, [])],
                withdrawal=WithdrawalRead.of(m, members),
            )
        )
    return out


def _attachment(shown: attachments.Shown) -> AttachmentRead:
    return AttachmentRead(
        id=shown.id,
        kind=shown.kind,
        url=shown.url,
        preview_url=shown.preview_url,
        name=shown.name,
        mime_type=shown.mime_type,
        size=shown.size,
        description=shown.description,
        download=f"/api/attachments/{shown.id}" if shown.kept else None,
    )


def _message_read(db: Session, message: Message) -> MessageRead:
    return _messages(db, [message])[0]


def _message_created(
    db: Session,
    message: Message,
    kept: Sequence[Commitment],
    mentioned: conversations_service.Mentioned | None = None,
) -> MessageCreated:
    return MessageCreated(
        **_message_read(db, message).model_dump(),
        commitment_ids=[c.id for c in kept],
        mentioned_member_ids=mentioned.member_ids if mentioned is not None else [],
        mentioned_team_ids=mentioned.team_ids if mentioned is not None else [],
    )


# -- the inbox ------------------------------------------------------------------------------


@router.get(
    "/conversations", summary="The inbox: conversations, most recent activity first, filtered"
)
def list_conversations(
    db: DB,
    actor: Reader,
    flt: Filters,
    *,
    cursor: PageCursor,
    limit: Limit = 50,
    sort: Annotated[
        conversations_service.Sort,
        Query(
            description=(
                "recent: latest activity first; priority: highest priority first; "
                "sla: least SLA time left first (overdue on top), then the rest"
            )
        ),
    ] = conversations_service.Sort.RECENT,
) -> ConversationPage:
    page = conversations_service.list_inbox_sorted(
        db,
        sort=sort,
        organization_id=actor.organization_id,
        me_id=actor.member.id,
        flt=flt,
        cursor=cursor.value,
        limit=limit,
    )
    return ConversationPage(
        items=conversation_reads(db, page.items), next_cursor=cursor.next(page.next_cursor)
    )


@router.get(
    "/conversations/counts",
    summary="How many conversations each status and assignee view shows, under the same filters",
)
def conversation_counts(db: DB, actor: Reader, flt: Filters) -> InboxCounts:
    counts = conversations_service.counts(
        db, organization_id=actor.organization_id, me_id=actor.member.id, flt=flt
    )
    return InboxCounts.model_validate(counts)


@router.get(
    "/conversations/{conversation_id}",
    summary="One conversation with its contact, tags, assignee and team",
    responses=error_responses(404),
)
def get_conversation(conversation: ConversationDep, db: DB) -> ConversationRead:
    return _conversation_read(db, conversation)


@router.get(
    "/conversations/{conversation_id}/messages",
    summary="The thread, oldest first, notes included",
    responses=error_responses(404),
)
def list_messages(
    conversation: ConversationDep, db: DB, cursor: PageCursor, limit: Limit = 50
) -> MessagePage:
    page = conversations_service.thread_page(
        db, conversation=conversation, cursor=cursor.value, limit=limit
    )
    return MessagePage(items=_messages(db, page.items), next_cursor=cursor.next(page.next_cursor))


@router.get(
    "/conversations/{conversation_id}/activities",
    summary="The trail: who did what to this conversation, oldest first",
    responses=error_responses(404),
)
def list_activities(
    conversation: ConversationDep, db: DB, cursor: PageCursor, limit: Limit = 50
) -> ActivityPage:
    page = conversations_service.activities_page(
        db, conversation=conversation, cursor=cursor.value, limit=limit
    )
    return ActivityPage(
        items=[ActivityRead.model_validate(a) for a in page.items],
        next_cursor=cursor.next(page.next_cursor),
    )


@router.get(
    "/conversations/{conversation_id}/related",
    summary="The contact's other conversations on every channel, most recent first",
    responses=error_responses(404),
)
def list_related(
    conversation: ConversationDep, db: DB, cursor: PageCursor, limit: Limit = 20
) -> ConversationPage:
    page = conversations_service.related_page(
        db, conversation=conversation, cursor=cursor.value, limit=limit
    )
    return ConversationPage(
        items=conversation_reads(db, page.items), next_cursor=cursor.next(page.next_cursor)
    )


# -- replies and notes ----------------------------------------------------------------------


@router.post(
    "/conversations/{conversation_id}/replies",
    status_code=HTTPStatus.ACCEPTED,
    summary="Reply to the customer: queued for delivery through the account's channel",
    responses=error_responses(403, 404, 409),
)
def create_reply(
    body: ReplyCreate, conversation: ConversationDep, db: DB, actor: Replier
) -> MessageCreated:
    """A 422 with ``reasons`` means a check refused the text; a 409 with code ``confirm`` and
    ``reasons`` means it has warnings: send again with ``confirm: true`` to go ahead."""
    message = outbound_service.queue_reply(
        db,
        conversation=conversation,
        author=actor.member,
        text=body.text,
        visibility=Visibility(body.visibility) if body.visibility else None,
        confirmed=body.confirm,
        files=_reply_files(body.files),
    )
    kept = _keep_promises(
        db,
        conversation=conversation,
        message=message,
        author=actor.member,
        text=body.text,
        choices=body.promises,
    )
    return _message_created(db, message, kept)


def _reply_files(posted: Sequence[ReplyFile]) -> list[Attachment]:
    """The files of a reply's body, decoded; a content that is not base64 is refused by its
    place in the list."""
    found = []
    for index, item in enumerate(posted):
        try:
            content = base64.b64decode(item.content, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationFailed(
                f"files[{index}].content ({item.name}) is not base64: {exc}",
                field=f"files[{index}].content",
            ) from exc
        found.append(
            attachments.posted(
                item.name, content, mime_type=item.mime_type, description=item.description
            )
        )
    return found


@router.post(
    "/conversations/{conversation_id}/notes",
    status_code=HTTPStatus.CREATED,
    summary="Add an internal note (seen by the team, never sent); colleagues and teams it "
    'mentions ("@Ana Lopez", "@Billing") are told',
    responses=error_responses(403, 404),
)
def create_note(
    body: NoteCreate, conversation: ConversationDep, db: DB, actor: NoteTaker
) -> MessageCreated:
    note, mentioned = conversations_service.note_with_mentions(
        db, conversation=conversation, author=actor.member, text=body.text
    )
    kept = _keep_promises(
        db,
        conversation=conversation,
        message=note,
        author=actor.member,
        text=body.text,
        choices=body.promises,
    )
    return _message_created(db, note, kept, mentioned)


# -- who else is on it ----------------------------------------------------------------------


def _presence_list(items: Sequence[presence.Presence]) -> PresenceList:
    return PresenceList(
        items=[
            PresenceRead(
                member_id=p.member_id,
                name=p.name,
                activity="replying" if p.activity == presence.Activity.REPLYING else "viewing",
                until=p.until,
            )
            for p in items
        ]
    )


@router.get(
    "/conversations/{conversation_id}/presence",
    summary="Colleagues who have the conversation open or are writing a reply now",
    responses=error_responses(404),
)
def list_presence(conversation: ConversationDep, db: DB, actor: Reader) -> PresenceList:
    return _presence_list(presence.others(db, conversation=conversation, me=actor.member))


@router.post(
    "/conversations/{conversation_id}/presence",
    summary="Say you have the conversation open or are writing a reply (shown to colleagues live)",
    responses=error_responses(403, 404),
)
def announce_presence(
    body: PresenceBody, conversation: ConversationDep, db: DB, actor: Replier
) -> PresenceList:
    """Returns who else is on it, so a client learns of a colleague already replying."""
    presence.announce(
        db,
        conversation=conversation,
        member=actor.member,
        activity=presence.Activity(body.activity),
    )
    return _presence_list(presence.others(db, conversation=conversation, me=actor.member))


def _keep_promises(
    db: Session,
    *,
    conversation: Conversation,
    message: Message,
    author: Member,
    text: str,
    choices: Sequence[PromiseChoice],
) -> list[Commitment]:
    """Track the promises the reply or note makes, in the same transaction, as the desk does."""
    return commitments_service.keep_promises(
        db,
        conversation=conversation,
        message=message,
        author=author,
        text=text,
        decisions=[
            commitments_service.PromiseDecision(
                key=c.key,
                keep=c.keep,
                text=c.text if c.keep else None,
                due_at=c.due_at.astimezone(UTC) if c.keep and c.due_at else None,
            )
            for c in choices
        ],
    )


@router.get(
    "/messages/{message_id}",
    summary="One message, e.g. to follow a reply's delivery",
    responses=error_responses(404),
)
def get_message(message: MessageDep, db: DB) -> MessageRead:
    return _message_read(db, message)


@router.get(
    "/attachments/{attachment_id}",
    summary="Download a file a message carried into the desk (an email's attachment)",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The file"},
        **error_responses(404),
    },
)
def download_attachment(attachment_id: RowId, db: DB, actor: Reader) -> Response:
    found = attachments.download(
        db, organization_id=actor.organization_id, attachment_id=attachment_id
    )
    return files.download(found.content, name=found.name, mime_type=found.mime_type)


@router.post(
    "/messages/{message_id}/retry",
    status_code=HTTPStatus.ACCEPTED,
    summary="Send a failed message again",
    responses=error_responses(403, 404, 409),
)
def retry_message(message: MessageDep, db: DB, actor: Replier) -> MessageRead:
    outbound_service.retry(db, message=message, actor=actor.member)
    return _message_read(db, message)


@router.post(
    "/messages/{message_id}/withdraw",
    status_code=HTTPStatus.ACCEPTED,
    summary="Take a sent public reply back off its network, saying why",
    responses=error_responses(403, 404, 409),
)
def withdraw_message(
    message: MessageDep, body: WithdrawBody, db: DB, actor: Replier
) -> MessageRead:
    withdrawal.request(db, message=message, actor=actor.member, reason=body.reason)
    return _message_read(db, message)


@router.get(
    "/messages/{message_id}/triage",
    summary="What triage said about an inbound message, and why",
    responses=error_responses(404),
)
def get_triage(message: MessageDep, db: DB) -> TriageRead:
    row = triage_service.get(db, organization_id=message.organization_id, message_id=message.id)
    return TriageRead.model_validate(row)


@router.post(
    "/messages/{message_id}/triage",
    summary="Correct a wrong label; the correction is kept for retraining",
    responses=error_responses(403, 404, 422),
)
def correct_triage(
    message: MessageDep, body: TriageCorrection, db: DB, actor: Manager
) -> TriageRead:
    row = triage_service.correct(
        db,
        organization_id=actor.organization_id,
        message_id=message.id,
        field=body.field,
        value=body.value,
        member=actor.member,
    )
    return TriageRead.model_validate(row)


# -- managing a conversation ----------------------------------------------------------------

_MANAGE = error_responses(403, 404)


@router.post(
    "/conversations/batch",
    summary="One change to many conversations; all or none",
    responses=error_responses(403, 404, 409),
)
def batch(body: BatchBody, db: DB, actor: Manager) -> list[ConversationRead]:
    """Resolve, reopen, set pending, snooze, assign, claim, hand to a team, tag or set the
    priority of up to 100 conversations in one go, each as its own endpoint would. When one
    refuses (a conversation to resolve that has open promises: 409), none is changed and the
    error names it."""
    changed = batch_service.apply(
        db,
        organization_id=actor.organization_id,
        conversation_ids=body.conversation_ids,
        what=batch_service.BatchChange(
            change=batch_service.Change(body.change),
            assignee_id=body.assignee_id,
            team_id=body.team_id,
            tag=body.tag,
            snoozed_until=body.snoozed_until.astimezone(UTC) if body.snoozed_until else None,
            priority=body.priority,
        ),
        actor=actor.member,
    )
    return conversation_reads(db, changed)


@router.post(
    "/conversations/{conversation_id}/assign",
    summary="Assign to a member, or unassign with null",
    responses=_MANAGE,
)
def assign(
    body: AssignBody, conversation: ConversationDep, db: DB, actor: Manager
) -> ConversationRead:
    conversations_service.assign(
        db, conversation=conversation, assignee_id=body.assignee_id, actor=actor.member
    )
    return _conversation_read(db, conversation)


@router.post(
    "/conversations/{conversation_id}/claim", summary="Assign to yourself", responses=_MANAGE
)
def claim(conversation: ConversationDep, db: DB, actor: Manager) -> ConversationRead:
    # Routing's claim: whatever the team, recorded as a claim, and the claimer is available.
    from socialdesk.routing import service as routing_service

    routing_service.claim(db, conversation=conversation, member=actor.member)
    return _conversation_read(db, conversation)


@router.post(
    "/conversations/{conversation_id}/team",
    summary="Hand to a team, or null for none",
    responses=_MANAGE,
)
def set_team(
    body: TeamBody, conversation: ConversationDep, db: DB, actor: Manager
) -> ConversationRead:
    conversations_service.set_team(
        db, conversation=conversation, team_id=body.team_id, actor=actor.member
    )
    return _conversation_read(db, conversation)


@router.post(
    "/conversations/{conversation_id}/status",
    summary="Open, set pending, snooze until a time, or resolve",
    responses=error_responses(403, 404, 409),
)
def set_status(
    body: StatusWithCommitments, conversation: ConversationDep, db: DB, actor: Manager
) -> ConversationRead:
    """Resolving a conversation with open commitments needs ``commitments``: ``keep_open``,
    ``kept`` or ``cancel``; without it the answer is 409 ``open_commitments`` listing them."""
    if body.status is Status.RESOLVED and conversation.status != Status.RESOLVED.value:
        commitments_service.settle_before_resolving(
            db,
            conversation=conversation,
            actor=actor.member,
            choice=ResolveChoice(body.commitments) if body.commitments else None,
            note=body.commitments_note,
        )
    conversations_service.set_status(
        db,
        conversation=conversation,
        status=body.status,
        actor=actor.member,
        # Stored and echoed in the trail as UTC, whatever offset the caller wrote.
        snoozed_until=body.snoozed_until.astimezone(UTC) if body.snoozed_until else None,
    )
    return _conversation_read(db, conversation)


@router.post(
    "/conversations/{conversation_id}/priority", summary="Set the priority", responses=_MANAGE
)
def set_priority(
    body: PriorityBody, conversation: ConversationDep, db: DB, actor: Manager
) -> ConversationRead:
    conversations_service.set_priority(
        db, conversation=conversation, priority=body.priority, actor=actor.member
    )
    return _conversation_read(db, conversation)


@router.post("/conversations/{conversation_id}/tags", summary="Add a tag", responses=_MANAGE)
def add_tag(
    body: TagCreate, conversation: ConversationDep, db: DB, actor: Manager
) -> ConversationRead:
    conversations_service.add_tag(
        db, conversation=conversation, name=body.name, actor=actor.member, field="name"
    )
    return _conversation_read(db, conversation)


@router.delete(
    "/conversations/{conversation_id}/tags/{name}",
    summary="Remove a tag (removing one that is not there changes nothing)",
    responses=_MANAGE,
)
def remove_tag(
    name: str, conversation: ConversationDep, db: DB, actor: Manager
) -> ConversationRead:
    conversations_service.remove_tag(
        db, conversation=conversation, name=name, actor=actor.member, field="name"
    )
    return _conversation_read(db, conversation)
