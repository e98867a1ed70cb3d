"""API schemas of the conversations domain: conversations, their messages and trail, and the
actions people take on them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from socialdesk.accounts.schemas import MemberSummary, TeamSummary
from socialdesk.channels.schemas import BrandAccountSummary
from socialdesk.common.schemas import (
    AwareTime,
    PageOut,
    ReadModel,
    RowId,
    UTCTimestamp,
    not_true_or_false,
)
from socialdesk.contacts.schemas import ContactSummary
from socialdesk.conversations.models import Priority, Status

if TYPE_CHECKING:
    from socialdesk.accounts.models import Member
    from socialdesk.outbound.withdrawing import Record

MAX_TEXT = 20_000


class ConversationRead(BaseModel):
    id: int
    status: str = Field(description="open, pending, snoozed or resolved")
    snoozed_until: UTCTimestamp | None
    priority: int = Field(description="0 low, 1 normal, 2 high, 3 urgent")
    subject: str
    channel: str = Field(description="The brand account's kind: web, x, mastodon...")
    brand_account: BrandAccountSummary
    contact: ContactSummary | None
    assignee: MemberSummary | None
    team: TeamSummary | None
    tags: list[str]
    message_count: int = Field(description="Messages to and from the customer (notes not counted)")
    last_preview: str
    last_preview_outbound: bool = Field(
        description="The preview is the brand's own reply: the customer has not written since"
    )
    created_at: UTCTimestamp
    first_inbound_at: UTCTimestamp | None
    first_response_at: UTCTimestamp | None
    last_customer_message_at: UTCTimestamp | None
    last_activity_at: UTCTimestamp
    resolved_at: UTCTimestamp | None
    sentiment: str | None = Field(
        description="Of the customer's latest message: negative, neutral, positive"
    )
    intent: str | None = Field(description="complaint, question, praise, feedback, idea or other")
    language: str | None = Field(description="ISO 639-1 code of the customer's latest message")
    is_complaint: bool = Field(description="Any of the customer's messages is a complaint")


class TriageRead(BaseModel):
    """What triage said about one inbound message, and why."""

    message_id: int
    sentiment: str
    complaint: bool
    intent: str
    priority: str
    language: str
    scores: dict[str, Any]
    reasons: list[str] = Field(description="Why the priority is what it is, in words")
    tier: str
    corrected: bool = Field(description="An agent corrected at least one label")

    model_config = ConfigDict(from_attributes=True)


class TriageCorrection(BaseModel):
    field: Literal["sentiment", "complaint", "intent", "priority"]
    value: str = Field(min_length=1, max_length=20)


class ConversationPage(PageOut[ConversationRead]):
    pass


class InboxCounts(BaseModel):
    """How many conversations each status, assignee and waiting-for view shows, with the other
    filters applied (the numbers beside the inbox's filters)."""

    open: int
    pending: int
    snoozed: int
    resolved: int
    all: int
    mine: int
    unassigned: int
    awaiting_reply: int = Field(description="the customer wrote last: waiting for our reply")
    awaiting_customer: int = Field(description="our reply was last: waiting for the customer")


class MessageAuthor(BaseModel):
    type: Literal["contact", "member", "brand"] = Field(
        description="brand: written by the brand account outside the desk (another tool, history)"
    )
    id: int | None
    name: str


class WithdrawalRead(BaseModel):
    """A sent public post (a reply, a poll) being taken back off its network, or taken back."""

    state: str = Field(
        description="pending (the network is being asked), withdrawn, or failed (see error; "
        "ask again to try again)"
    )
    reason: str | None = Field(description="Why it was withdrawn, as the person asking said")
    error: str | None = Field(
        description="The network's reason: why it failed, or why a pending one waits to retry"
    )
    requested_by: MemberSummary | None = Field(description="Who asked for it last")
    requested_at: UTCTimestamp | None
    withdrawn_at: UTCTimestamp | None = Field(description="When the network confirmed it")

    @classmethod
    def of(cls, post: Record, askers: Mapping[int, Member]) -> WithdrawalRead | None:
        """The withdrawal of a reply or a poll, if one was ever asked for; ``askers`` holds the
        members who asked, read once for a page."""
        if post.withdrawal_state is None:
            return None
        asker = askers.get(post.withdrawal_requested_by_id or 0)
        return cls(
            state=post.withdrawal_state,
            reason=post.withdrawal_reason,
            error=post.withdrawal_error,
            requested_by=MemberSummary.model_validate(asker) if asker is not None else None,
            requested_at=post.withdrawal_requested_at,
            withdrawn_at=post.withdrawn_at,
        )


class AttachmentRead(BaseModel):
    """A photo, video or file that came with the message."""

    id: int
    kind: str = Field(description="image, video (animated GIFs too), audio or file")
    url: str | None = Field(
        description="Where the network serves it (https); null for a file "
        "the message carried itself"
    )
    preview_url: str | None = Field(description="A small image of it, where the network has one")
    name: str | None = Field(description="The file's name, where it has one")
    mime_type: str | None
    size: int | None = Field(description="In bytes, where known")
    description: str | None = Field(
        description="The text its author wrote for people who cannot see it"
    )
    download: str | None = Field(
        description="GET this to download the file the desk keeps (an email's attachment); "
        "null when the desk keeps only the network's address, or nothing (too large)"
    )


class MessageRead(BaseModel):
    id: int
    conversation_id: int
    direction: str = Field(description="inbound or outbound")
    visibility: str = Field(description="public, direct, or note (internal, never sent)")
    author: MessageAuthor
    text: str
    signature: str | None = Field(description="Appended to the text when it is sent")
    native_id: str | None = Field(description="The channel's id, once delivered or received")
    native_reply_to_id: str | None
    created_at: UTCTimestamp
    sent_at: UTCTimestamp | None
    delivery_state: str | None = Field(
        description="queued, sending, sent or failed (outbound only; null for inbound and notes)"
    )
    delivery_error: str | None = Field(description="Why delivery failed, when it did")
    delivery_attempts: int
    attachments: list[AttachmentRead] = Field(
        default_factory=list, description="Photos, videos and files, in the author's order"
    )
    withdrawal: WithdrawalRead | None = Field(
        default=None,
        description="Taking the sent reply back off the network (POST "
        "/api/messages/{id}/withdraw); null when nobody asked",
    )


class MessageCreated(MessageRead):
    """A reply or note just made, with the promises it keeps."""

    commitment_ids: list[int] = Field(
        description="The commitments its promises became (GET /api/commitments/{id}); empty "
        "when it promises nothing or every promise was dropped"
    )
    mentioned_member_ids: list[int] = Field(
        default_factory=list,
        description='The colleagues a note mentions by name ("@Ana Lopez"); they were told, '
        "all but the author. Empty for a reply",
    )
    mentioned_team_ids: list[int] = Field(
        default_factory=list,
        description='The teams a note mentions ("@Billing"); their active members were told',
    )


class MessagePage(PageOut[MessageRead]):
    pass


class ActivityRead(ReadModel):
    id: int
    kind: str = Field(description="assigned, status_changed, tagged, note_added, merged...")
    actor_member_id: int | None = Field(description="Null when the desk itself did it")
    data: dict[str, Any]
    created_at: UTCTimestamp


class ActivityPage(PageOut[ActivityRead]):
    pass


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromiseChoice(_Body):
    """The author's choice for one promise the preview found (``key`` as the preview gave it)."""

    key: str = Field(min_length=1, max_length=MAX_TEXT)
    keep: bool = Field(default=True, description="false: do not track this promise")
    text: str | None = Field(
        default=None, max_length=1000, description="What was promised, in the author's words"
    )
    due_at: AwareTime | None = Field(
        default=None, description="The author's due time, with a UTC offset"
    )


PROMISES_HELP = (
    "Choices for the promises the text makes (see the promises preview). Every promise found "
    "and not dropped here is tracked as a commitment owned by the author."
)


class ReplyFile(_Body):
    """A file sent with a reply, on a channel that can send files."""

    name: str = Field(min_length=1, max_length=255, description="The file's name, as it is sent")
    mime_type: str | None = Field(
        default=None,
        max_length=255,
        description="Its type (e.g. application/pdf); leave out to have it guessed from the name",
    )
    content: str = Field(
        min_length=1,
        description="The file, base64-encoded (standard alphabet, padded); at most "
        "SOCIALDESK_ATTACHMENT_MAX_BYTES once decoded",
    )
    description: str | None = Field(
        default=None,
        max_length=1500,
        description="What the image shows, for people who cannot see it: sent as its alt text "
        "where the network has one (Mastodon, Bluesky)",
    )


class ReplyCreate(_Body):
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    files: list[ReplyFile] = Field(
        default_factory=list,
        description="Files sent with the reply, in order (at most 10); refused with a 422 on a "
        "channel that cannot send files",
    )
    visibility: Literal["public", "direct"] | None = Field(
        default=None, description="Leave out to answer in kind (a direct message gets a direct one)"
    )
    confirm: bool = Field(
        default=False, description="Send despite warnings (after a 409 with code confirm)"
    )
    promises: list[PromiseChoice] = Field(default_factory=list, description=PROMISES_HELP)


class WithdrawBody(_Body):
    reason: str = Field(
        min_length=1,
        max_length=MAX_TEXT,
        description="Why the reply is withdrawn (1 to 500 characters once trimmed); the "
        "conversation's trail keeps it",
    )


class NoteCreate(_Body):
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    promises: list[PromiseChoice] = Field(default_factory=list, description=PROMISES_HELP)


class AssignBody(_Body):
    assignee_id: RowId | None = Field(description="A member's id, or null to unassign")


class TeamBody(_Body):
    team_id: RowId | None = Field(description="A team's id, or null for no team")


class StatusBody(_Body):
    status: Status
    snoozed_until: AwareTime | None = Field(
        default=None, description="Required with status snoozed, with a UTC offset"
    )


class PriorityBody(_Body):
    priority: Annotated[Priority, BeforeValidator(not_true_or_false)] = Field(
        description="0 low, 1 normal, 2 high, 3 urgent"
    )


class TagCreate(_Body):
    name: str = Field(min_length=1, max_length=61, description="Letters, digits, spaces, - or _")


class BatchBody(_Body):
    conversation_ids: list[RowId] = Field(
        min_length=1, max_length=100, description="The conversations to change (at most 100)"
    )
    change: Literal[
        "resolve", "reopen", "pending", "snooze", "assign", "claim", "team", "tag", "priority"
    ] = Field(
        description="resolve, reopen or pending; snooze until snoozed_until; assign to "
        "assignee_id (null: nobody); claim for yourself; team to team_id (null: none); tag with "
        "tag; priority to priority"
    )
    assignee_id: RowId | None = Field(default=None, description="With change assign")
    team_id: RowId | None = Field(default=None, description="With change team")
    tag: str = Field(default="", max_length=61, description="With change tag")
    snoozed_until: AwareTime | None = Field(
        default=None, description="With change snooze: a future time, with a UTC offset"
    )
    priority: Annotated[Priority, BeforeValidator(not_true_or_false)] | None = Field(
        default=None, description="With change priority: 0 low, 1 normal, 2 high, 3 urgent"
    )


class PresenceBody(_Body):
    activity: Literal["viewing", "replying", "left"] = Field(
        description="viewing: the conversation is open; replying: writing a reply; left: gone. "
        "An announcement holds 45 seconds: renew it while it is true."
    )


class PresenceRead(BaseModel):
    member_id: int
    name: str
    activity: Literal["viewing", "replying"]
    until: UTCTimestamp = Field(description="When this announcement lapses unless renewed")


class PresenceList(BaseModel):
    items: list[PresenceRead] = Field(description="Colleagues on it now, those replying first")
