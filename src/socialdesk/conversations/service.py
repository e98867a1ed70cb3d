"""The desk's work on conversations: inbox queries, assignment, status, tags, notes, the trail.

Plain functions, keyword-only, that never commit: the request or job that calls them does.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    delete,
    false,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member, Team, TeamMembership
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.common.errors import NotFound, ValidationFailed
from socialdesk.common.pagination import (
    MAX_ROW_ID,
    Page,
    clamp_limit,
    decode_cursor,
    encode_cursor,
    keyset_page,
)
from socialdesk.connectors.base import Visibility
from socialdesk.conversations import mentions
from socialdesk.conversations import search as search_index
from socialdesk.conversations.models import (
    Activity,
    Conversation,
    ConversationTag,
    DeliveryState,
    Direction,
    Message,
    Priority,
    Status,
)
from socialdesk.events import bus
from socialdesk.events.types import ConversationChanged, ConversationsMerged, MessageCreated
from socialdesk.notifications import service as notifications_service
from socialdesk.policy.models import Approval, ApprovalStatus


def get_or_raise(session: Session, *, organization_id: int, conversation_id: int) -> Conversation:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or conversation.organization_id != organization_id:
        raise NotFound(f"conversation {conversation_id} does not exist")
    return conversation


def record(
    session: Session,
    *,
    conversation: Conversation,
    kind: str,
    actor: Member | None,
    data: dict[str, Any] | None = None,
) -> Activity:
    activity = Activity(
        organization_id=conversation.organization_id,
        conversation_id=conversation.id,
        actor_member_id=actor.id if actor else None,
        kind=kind,
        data=data or {},
        created_at=clock.now(),
    )
    session.add(activity)
    return activity


def _changed(
    session: Session, conversation: Conversation, fields: tuple[str, ...], actor: Member | None
) -> None:
    conversation.last_activity_at = max(conversation.last_activity_at, clock.now())
    bus.emit(
        session,
        ConversationChanged(
            organization_id=conversation.organization_id,
            conversation_id=conversation.id,
            fields=fields,
            actor_member_id=actor.id if actor else None,
        ),
    )


# -- assignment ---------------------------------------------------------------------------


def assign(
    session: Session, *, conversation: Conversation, assignee_id: int | None, actor: Member | None
) -> None:
    """Give the conversation an owner (or none). The assignee must be an active member of the
    same organization."""
    if assignee_id is not None:
        assignee = session.get(Member, assignee_id)
        if assignee is None or assignee.organization_id != conversation.organization_id:
            raise NotFound(f"member {assignee_id} does not exist", field="assignee_id")
        if not assignee.is_active:
            raise ValidationFailed(
                f"{assignee.name} is deactivated and cannot be assigned", field="assignee_id"
            )
    if conversation.assignee_id == assignee_id:
        return
    previous = conversation.assignee_id
    conversation.assignee_id = assignee_id
    # When the current assignee got it: routing's "no answer within N minutes" counts from here.
    conversation.assigned_at = clock.now() if assignee_id is not None else None
    record(
        session,
        conversation=conversation,
        kind="assigned",
        actor=actor,
        data={"from": previous, "to": assignee_id},
    )
    _changed(session, conversation, ("assignee",), actor)


def set_team(
    session: Session, *, conversation: Conversation, team_id: int | None, actor: Member | None
) -> None:
    if team_id is not None:
        accounts_service.get_team(
            session, organization_id=conversation.organization_id, team_id=team_id, field="team_id"
        )
    if conversation.team_id == team_id:
        return
    previous = conversation.team_id
    conversation.team_id = team_id
    record(
        session,
        conversation=conversation,
        kind="team_changed",
        actor=actor,
        data={"from": previous, "to": team_id},
    )
    _changed(session, conversation, ("team",), actor)


def set_priority(
    session: Session, *, conversation: Conversation, priority: Priority, actor: Member | None
) -> None:
    if conversation.priority == priority.value:
        return
    previous = conversation.priority
    conversation.priority = priority.value
    record(
        session,
        conversation=conversation,
        kind="priority_changed",
        actor=actor,
        data={"from": Priority(previous).name.lower(), "to": priority.name.lower()},
    )
    _changed(session, conversation, ("priority",), actor)


# -- status -------------------------------------------------------------------------------


def set_status(
    session: Session,
    *,
    conversation: Conversation,
    status: Status,
    actor: Member | None,
    snoozed_until: datetime | None = None,
) -> None:
    now = clock.now()
    if status is Status.SNOOZED:
        if snoozed_until is None:
            raise ValidationFailed("snoozing needs a time to wake up", field="snoozed_until")
        clock.require_aware(snoozed_until, "snoozed_until")
        if snoozed_until <= now:
            raise ValidationFailed("snooze until a time in the future", field="snoozed_until")
    elif snoozed_until is not None:
        raise ValidationFailed("snoozed_until goes only with status snoozed", field="snoozed_until")
    previous = conversation.status
    if previous == status.value and conversation.snoozed_until == snoozed_until:
        return
    conversation.status = status.value
    conversation.snoozed_until = snoozed_until
    if status is Status.RESOLVED:
        conversation.resolved_at = now
    elif previous == Status.RESOLVED.value:
        conversation.resolved_at = None
    data: dict[str, Any] = {"from": previous, "to": status.value}
    if snoozed_until is not None:
        data["until"] = snoozed_until.isoformat()
    record(session, conversation=conversation, kind="status_changed", actor=actor, data=data)
    _changed(session, conversation, ("status",), actor)


def wake_snoozed(session: Session, *, now: datetime | None = None) -> int:
    """Reopen every snoozed conversation whose time has come. Returns how many woke."""
    now = now or clock.now()
    due = list(
        session.scalars(
            select(Conversation).where(
                Conversation.status == Status.SNOOZED.value, Conversation.snoozed_until <= now
            )
        )
    )
    for conversation in due:
        set_status(session, conversation=conversation, status=Status.OPEN, actor=None)
    return len(due)


# -- tags ---------------------------------------------------------------------------------

_TAG = re.compile(r"^[\w][\w\- ]{0,59}$", re.UNICODE)


def normalise_tag(name: str, *, field: str = "tag") -> str:
    """The tag as stored (``#Refund`` is ``refund``). A bad one is refused naming ``field``,
    the caller's own name for the value (a body's ``name``, a query's ``tag``)."""
    tag = name.strip().lstrip("#").strip().lower()
    if not _TAG.match(tag):
        raise ValidationFailed(
            f"tag {name!r} must be 1-60 letters, digits, spaces, - or _", field=field
        )
    return tag


def tags_of(session: Session, *, conversation_id: int) -> list[str]:
    return list(
        session.scalars(
            select(ConversationTag.name)
            .where(ConversationTag.conversation_id == conversation_id)
            .order_by(ConversationTag.name)
        )
    )


def add_tag(
    session: Session,
    *,
    conversation: Conversation,
    name: str,
    actor: Member | None,
    field: str = "tag",
) -> str:
    tag = normalise_tag(name, field=field)
    if session.get(ConversationTag, (conversation.id, tag)) is None:
        session.add(
            ConversationTag(
                conversation_id=conversation.id,
                name=tag,
                organization_id=conversation.organization_id,
            )
        )
        record(session, conversation=conversation, kind="tagged", actor=actor, data={"tag": tag})
        _changed(session, conversation, ("tags",), actor)
    return tag


def remove_tag(
    session: Session,
    *,
    conversation: Conversation,
    name: str,
    actor: Member | None,
    field: str = "tag",
) -> None:
    tag = normalise_tag(name, field=field)
    existing = session.get(ConversationTag, (conversation.id, tag))
    if existing is not None:
        session.delete(existing)
        record(session, conversation=conversation, kind="untagged", actor=actor, data={"tag": tag})
        _changed(session, conversation, ("tags",), actor)


# -- notes --------------------------------------------------------------------------------

# The notification a colleague gets when a note mentions them.
NOTE_MENTION = "note.mentioned"
# As the API's own limit on a message's text (conversations.schemas.MAX_TEXT).
MAX_NOTE = 20_000


def colleagues(session: Session, *, organization_id: int) -> list[mentions.Colleague]:
    """Who a note can mention: the organization's active members."""
    return [
        mentions.Colleague(id=member_id, name=name, email=email)
        for member_id, name, email in session.execute(
            select(Member.id, Member.name, Member.email).where(
                Member.organization_id == organization_id, Member.is_active.is_(True)
            )
        )
    ]


def mentionable_teams(session: Session, *, organization_id: int) -> list[mentions.Team]:
    return [
        mentions.Team(id=team_id, name=name)
        for team_id, name in session.execute(
            select(Team.id, Team.name).where(Team.organization_id == organization_id)
        )
    ]


@dataclass(frozen=True)
class Mentioned:
    """Whom a note mentions: colleagues by name and teams, each once, in order."""

    member_ids: list[int] = field(default_factory=list)
    team_ids: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, found: list[mentions.Mention]) -> Mentioned:
        return cls(mentions.member_ids(found), mentions.team_ids(found))


def mentioned_in(session: Session, *, organization_id: int, text: str) -> Mentioned:
    """The active colleagues and the teams ``text`` mentions ("@Ana Lopez", "@Billing")."""
    if "@" not in text:
        return Mentioned()
    found = mentions.find(
        text,
        colleagues(session, organization_id=organization_id),
        mentionable_teams(session, organization_id=organization_id),
    )
    return Mentioned.of(found)


def told_of(session: Session, mentioned: Mentioned, *, author_id: int) -> list[int]:
    """Who a note's mentions tell: the colleagues named and the active members of the teams
    named, each once, never the author."""
    told = dict.fromkeys(mentioned.member_ids)
    if mentioned.team_ids:
        told.update(
            dict.fromkeys(
                session.scalars(
                    select(TeamMembership.member_id)
                    .join(Member, Member.id == TeamMembership.member_id)
                    .where(
                        TeamMembership.team_id.in_(mentioned.team_ids),
                        Member.is_active.is_(True),
                    )
                    .order_by(TeamMembership.team_id, TeamMembership.member_id)
                )
            )
        )
    return [m for m in told if m != author_id]


def add_note(session: Session, *, conversation: Conversation, author: Member, text: str) -> Message:
    """An internal note: visible to the team, never sent to any channel. Colleagues and teams
    it mentions ("@Ana, can you check?", "@Billing") are notified, in the desk and by email as
    each chooses; the trail keeps who was mentioned."""
    return note_with_mentions(session, conversation=conversation, author=author, text=text)[0]


def note_with_mentions(
    session: Session, *, conversation: Conversation, author: Member, text: str
) -> tuple[Message, Mentioned]:
    """``add_note``, also answering whom the note mentions."""
    body = text.strip()
    if not body:
        raise ValidationFailed("a note must not be empty", field="text")
    if len(body) > MAX_NOTE:
        raise ValidationFailed(
            f"a note is at most {MAX_NOTE:,} characters; this one has {len(body):,}", field="text"
        )
    now = clock.now()
    note = Message(
        organization_id=conversation.organization_id,
        conversation_id=conversation.id,
        brand_account_id=conversation.brand_account_id,
        direction=Direction.OUTBOUND.value,
        visibility=Visibility.NOTE.value,
        author_member_id=author.id,
        text=body,
        created_at=now,
    )
    session.add(note)
    session.flush()
    conversation.last_activity_at = max(conversation.last_activity_at, now)
    mentioned = mentioned_in(session, organization_id=conversation.organization_id, text=body)
    data: dict[str, Any] = {"message_id": note.id}
    if mentioned.member_ids:
        data["mentioned"] = mentioned.member_ids
    if mentioned.team_ids:
        data["mentioned_teams"] = mentioned.team_ids
    record(session, conversation=conversation, kind="note_added", actor=author, data=data)
    notifications_service.notify(
        session,
        organization_id=conversation.organization_id,
        member_ids=told_of(session, mentioned, author_id=author.id),
        kind=NOTE_MENTION,
        title=f"{author.name} mentioned you in a note",
        body=notifications_service.excerpt(body),
        conversation_id=conversation.id,
        link=f"/conversations/{conversation.id}#message-{note.id}",
        data={"message_id": note.id},
    )
    bus.emit(
        session,
        MessageCreated(
            organization_id=conversation.organization_id,
            conversation_id=conversation.id,
            message_id=note.id,
            direction=note.direction,
            visibility=note.visibility,
        ),
    )
    return note, mentioned


# -- reading ------------------------------------------------------------------------------


def thread(session: Session, *, conversation: Conversation) -> list[Message]:
    return list(
        session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation.id)
            .order_by(Message.created_at, Message.id)
        )
    )


def activities(session: Session, *, conversation: Conversation) -> list[Activity]:
    return list(
        session.scalars(
            select(Activity)
            .where(Activity.conversation_id == conversation.id)
            .order_by(Activity.id)
        )
    )


def other_conversations_of_contact(
    session: Session, *, conversation: Conversation, limit: int = 20
) -> list[Conversation]:
    """The same person's other conversations, on every channel."""
    if conversation.contact_id is None:
        return []
    return list(
        session.scalars(
            select(Conversation)
            .where(
                customer_is(conversation.organization_id, conversation.contact_id),
                Conversation.id != conversation.id,
            )
            .order_by(Conversation.last_activity_at.desc())
            .limit(limit)
        )
    )


def of_contact(
    session: Session,
    *,
    organization_id: int,
    contact_id: int,
    cursor: str | None = None,
    limit: int = 25,
) -> Page[Conversation]:
    """Every conversation of one customer, on every channel, latest activity first."""
    return latest_activity_page(
        session,
        select(Conversation).where(customer_is(organization_id, contact_id)),
        cursor=cursor,
        limit=limit,
    )


def customer_is(organization_id: int, contact_id: int) -> ColumnElement[bool]:
    """The condition "the conversation is this customer's" (a customer of the organization),
    which the database reads by the contact index. With the organization's id as a condition
    of its own, SQLite walked the organization's conversations by activity to find the
    customer's few (70 ms at 170,000 conversations)."""
    from socialdesk.contacts.models import Contact

    return Conversation.contact_id.in_(
        select(Contact.id).where(
            Contact.id == contact_id, Contact.organization_id == organization_id
        )
    )


def latest_activity_page(
    session: Session, stmt: Select[Conversation], *, cursor: str | None, limit: int
) -> Page[Conversation]:
    """One page of the conversations ``stmt`` selects, latest activity first."""
    return keyset_page(
        session,
        stmt,
        when=Conversation.last_activity_at,
        row_id=Conversation.id,
        key=lambda c: (c.last_activity_at, c.id),
        cursor=cursor,
        limit=limit,
        newest_first=True,
    )


def thread_page(
    session: Session, *, conversation: Conversation, cursor: str | None = None, limit: int = 50
) -> Page[Message]:
    """The thread one page at a time, oldest first (the order people read it in)."""
    return keyset_page(
        session,
        select(Message).where(Message.conversation_id == conversation.id),
        when=Message.created_at,
        row_id=Message.id,
        key=lambda m: (m.created_at, m.id),
        cursor=cursor,
        limit=limit,
        newest_first=False,
    )


def activities_page(
    session: Session, *, conversation: Conversation, cursor: str | None = None, limit: int = 50
) -> Page[Activity]:
    return keyset_page(
        session,
        select(Activity).where(Activity.conversation_id == conversation.id),
        when=Activity.created_at,
        row_id=Activity.id,
        key=lambda a: (a.created_at, a.id),
        cursor=cursor,
        limit=limit,
        newest_first=False,
    )


def related_page(
    session: Session, *, conversation: Conversation, cursor: str | None = None, limit: int = 20
) -> Page[Conversation]:
    """The same person's other conversations on every channel, most recent activity first."""
    if conversation.contact_id is None:
        return Page(items=[], next_cursor=None)
    return latest_activity_page(
        session,
        select(Conversation).where(
            customer_is(conversation.organization_id, conversation.contact_id),
            Conversation.id != conversation.id,
        ),
        cursor=cursor,
        limit=limit,
    )


def get_message_or_raise(session: Session, *, organization_id: int, message_id: int) -> Message:
    message = session.get(Message, message_id)
    if message is None or message.organization_id != organization_id:
        raise NotFound(f"message {message_id} does not exist")
    return message


class AssigneeFilter(enum.StrEnum):
    ANYONE = "anyone"
    ME = "me"
    UNASSIGNED = "unassigned"


STATUS_ALL = "all"
# Who a conversation waits for: a reply from the team, or the customer's answer to one.
AWAITING = ("reply", "customer")


@dataclass(frozen=True)
class InboxFilter:
    status: str = Status.OPEN.value  # a Status value or "all"
    brand_account_id: int | None = None
    channel: str | None = None
    assignee: AssigneeFilter | int = AssigneeFilter.ANYONE
    team_id: int | None = None
    tag: str | None = None
    query: str | None = None
    min_priority: int | None = None
    intent: str | None = None
    sentiment: str | None = None
    complaint: bool | None = None
    # "reply": the customer had the last word; "customer": the brand's reply had it.
    awaiting: str | None = None

    def validated(self) -> InboxFilter:
        if self.status != STATUS_ALL:
            try:
                Status(self.status)
            except ValueError:
                raise ValidationFailed(
                    f"status must be one of {', '.join([*(s.value for s in Status), STATUS_ALL])}",
                    field="status",
                ) from None
        if self.awaiting is not None and self.awaiting not in AWAITING:
            raise ValidationFailed(
                f"awaiting must be one of {', '.join(AWAITING)}, not {self.awaiting!r}",
                field="awaiting",
            )
        return self


def _assignee_member(assignee: AssigneeFilter | int) -> int | None:
    """The member an assignee filter names, if it names one (rather than me, unassigned...)."""
    if isinstance(assignee, AssigneeFilter):
        return None
    return assignee


def check_assignee(
    session: Session, *, organization_id: int, assignee: AssigneeFilter | int
) -> None:
    """Refuse an assignee filter naming anyone but a member of the organization (a deactivated
    one included: their conversations stay theirs), rather than list nothing for it. Another
    organization's member and a member who never was are refused alike."""
    member_id = _assignee_member(assignee)
    if member_id is None:
        return
    member = session.get(Member, member_id) if 0 < member_id <= MAX_ROW_ID else None
    if member is None or member.organization_id != organization_id:
        raise ValidationFailed(
            f"assignee {member_id} is not a member of this organization: filter by me, "
            "unassigned, anyone or one of its members' ids",
            field="assignee",
        )


def _checked(session: Session, organization_id: int, flt: InboxFilter) -> InboxFilter:
    flt = flt.validated()
    check_assignee(session, organization_id=organization_id, assignee=flt.assignee)
    return flt


def _assignee_filter(
    stmt: Select[Any], assignee: AssigneeFilter | int, me_id: int | None
) -> Select[Any]:
    if assignee == AssigneeFilter.ME:
        return stmt.where(Conversation.assignee_id == me_id)
    if assignee == AssigneeFilter.UNASSIGNED:
        return stmt.where(Conversation.assignee_id.is_(None))
    member_id = _assignee_member(assignee)
    if member_id is not None:
        return stmt.where(Conversation.assignee_id == member_id)
    return stmt


def _filtered(
    session: Session,
    *,
    organization_id: int,
    me_id: int | None,
    flt: InboxFilter,
    skip: frozenset[str] = frozenset(),
    ordered: bool = False,
) -> Select[Any]:
    """Conversations ``flt`` selects. ``ordered`` says the caller reads them in the inbox's
    order and stops after a page, which lets a search pick a plan that walks that order."""
    stmt = select(Conversation).where(Conversation.organization_id == organization_id)
    if "status" not in skip and flt.status != STATUS_ALL:
        stmt = stmt.where(Conversation.status == flt.status)
    # Filters that are a plain comparison with one column.
    equal = {
        Conversation.brand_account_id: flt.brand_account_id,
        Conversation.team_id: flt.team_id,
        Conversation.intent: flt.intent,
        Conversation.sentiment: flt.sentiment,
        Conversation.is_complaint: flt.complaint,
    }
    stmt = stmt.where(*(column == value for column, value in equal.items() if value is not None))
    if flt.awaiting is not None:
        # A literal, not a parameter: a planner can then prove that the partial index
        # ix_conversations_awaiting_customer holds every row this asks for.
        replied = true() if flt.awaiting == "customer" else false()
        stmt = stmt.where(Conversation.last_preview_outbound == replied)
    if flt.min_priority is not None:
        stmt = stmt.where(Conversation.priority >= flt.min_priority)
    if flt.channel:
        accounts = select(BrandAccount.id).where(
            BrandAccount.organization_id == organization_id, BrandAccount.kind == flt.channel
        )
        stmt = stmt.where(Conversation.brand_account_id.in_(accounts))
    if "assignee" not in skip:
        stmt = _assignee_filter(stmt, flt.assignee, me_id)
    if flt.tag:
        tagged = select(ConversationTag.conversation_id).where(
            ConversationTag.organization_id == organization_id,
            ConversationTag.name == normalise_tag(flt.tag),
        )
        stmt = stmt.where(Conversation.id.in_(tagged))
    if flt.query and flt.query.strip():
        stmt = stmt.where(
            search_index.conversation_matches(
                session, organization_id=organization_id, query=flt.query, ordered=ordered
            )
        )
    return stmt


def list_inbox(
    session: Session,
    *,
    organization_id: int,
    me_id: int | None,
    flt: InboxFilter,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Conversation]:
    """Conversations, most recent activity first, one page at a time."""
    flt = _checked(session, organization_id, flt)
    limit = clamp_limit(limit)
    stmt = _filtered(session, organization_id=organization_id, me_id=me_id, flt=flt, ordered=True)
    if cursor:
        when, last_id = decode_cursor(cursor)
        stmt = stmt.where(
            or_(
                Conversation.last_activity_at < when,
                and_(Conversation.last_activity_at == when, Conversation.id < last_id),
            )
        )
    stmt = stmt.order_by(Conversation.last_activity_at.desc(), Conversation.id.desc()).limit(
        limit + 1
    )
    rows = list(session.scalars(stmt))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].last_activity_at, rows[-1].id)
    return Page(items=rows, next_cursor=next_cursor)


def list_inbox_by_priority(
    session: Session,
    *,
    organization_id: int,
    me_id: int | None,
    flt: InboxFilter,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Conversation]:
    """Conversations, highest priority first and most recent activity first within a level.
    The cursor carries the level too ("<priority>.<cursor>"), so paging stays keyset-based."""
    flt = _checked(session, organization_id, flt)
    limit = clamp_limit(limit)
    stmt = _filtered(session, organization_id=organization_id, me_id=me_id, flt=flt)
    if cursor:
        level, _, rest = cursor.partition(".")
        if not level.isdigit() or not rest:
            raise ValidationFailed("cursor is not one this server issued", field="cursor")
        at_level = int(level)
        when, last_id = decode_cursor(rest)
        stmt = stmt.where(
            or_(
                Conversation.priority < at_level,
                and_(
                    Conversation.priority == at_level,
                    or_(
                        Conversation.last_activity_at < when,
                        and_(Conversation.last_activity_at == when, Conversation.id < last_id),
                    ),
                ),
            )
        )
    stmt = stmt.order_by(
        Conversation.priority.desc(), Conversation.last_activity_at.desc(), Conversation.id.desc()
    ).limit(limit + 1)
    rows = list(session.scalars(stmt))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = f"{last.priority}.{encode_cursor(last.last_activity_at, last.id)}"
    return Page(items=rows, next_cursor=next_cursor)


def list_inbox_by_sla(
    session: Session,
    *,
    organization_id: int,
    me_id: int | None,
    flt: InboxFilter,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Conversation]:
    """Conversations with the least SLA time left first (overdue ones at the top), then those
    with no running SLA clock, most recent activity first. Two keyset sections, each read
    along an index: the cursor says which section it continues ("d." or "n.")."""
    flt = _checked(session, organization_id, flt)
    limit = clamp_limit(limit)
    base = _filtered(session, organization_id=organization_id, me_id=me_id, flt=flt)
    section, _, rest = (cursor or "d.").partition(".")
    if section not in {"d", "n"} or (cursor and section == "d" and not rest):
        raise ValidationFailed("cursor is not one this server issued", field="cursor")
    rows: list[Conversation] = []
    if section == "d":
        timed = base.where(Conversation.sla_due_at.is_not(None))
        if rest:
            due, last_id = decode_cursor(rest)
            timed = timed.where(
                or_(
                    Conversation.sla_due_at > due,
                    and_(Conversation.sla_due_at == due, Conversation.id > last_id),
                )
            )
        rows = list(
            session.scalars(
                timed.order_by(Conversation.sla_due_at.asc(), Conversation.id.asc()).limit(
                    limit + 1
                )
            )
        )
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            assert last.sla_due_at is not None
            return Page(items=rows, next_cursor=f"d.{encode_cursor(last.sla_due_at, last.id)}")
        rest = ""
    untimed = base.where(Conversation.sla_due_at.is_(None))
    if rest:
        when, last_id = decode_cursor(rest)
        untimed = untimed.where(
            or_(
                Conversation.last_activity_at < when,
                and_(Conversation.last_activity_at == when, Conversation.id < last_id),
            )
        )
    wanted = limit - len(rows)
    more = list(
        session.scalars(
            untimed.order_by(Conversation.last_activity_at.desc(), Conversation.id.desc()).limit(
                wanted + 1
            )
        )
    )
    next_cursor = None
    if len(more) > wanted:
        more = more[:wanted]
        # With the page filled exactly by timed rows, the next page starts the second section.
        next_cursor = f"n.{encode_cursor(more[-1].last_activity_at, more[-1].id)}" if more else "n."
    return Page(items=rows + more, next_cursor=next_cursor)


class Sort(enum.StrEnum):
    RECENT = "recent"
    PRIORITY = "priority"
    SLA = "sla"


def list_inbox_sorted(
    session: Session,
    *,
    sort: Sort,
    organization_id: int,
    me_id: int | None,
    flt: InboxFilter,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Conversation]:
    """The inbox in the order asked for: one entry point for the pages and the API."""
    listing = {
        Sort.RECENT: list_inbox,
        Sort.PRIORITY: list_inbox_by_priority,
        Sort.SLA: list_inbox_by_sla,
    }[sort]
    return listing(
        session,
        organization_id=organization_id,
        me_id=me_id,
        flt=flt,
        cursor=cursor,
        limit=limit,
    )


# The numbers beside the inbox's filters stop counting here: a count above the cap is reported
# as COUNT_CAP + 1, meaning "more than COUNT_CAP". Counting every row of a large desk costs
# seconds on each inbox load, and nobody reads "10,000+" differently from 812,345. Tests patch it.
COUNT_CAP = 10_000


def _capped_count(session: Session, stmt: Select[Any]) -> int:
    """How many rows ``stmt`` yields, stopping at COUNT_CAP + 1 so the database never reads
    more than that many index entries."""
    limited = stmt.with_only_columns(Conversation.id).limit(COUNT_CAP + 1).subquery()
    return session.scalar(select(func.count()).select_from(limited)) or 0


def count_label(n: int) -> str:
    """A count as the desk shows it: the number itself, or "10,000+" above the cap."""
    return f"{COUNT_CAP:,}+" if n > COUNT_CAP else str(n)


def counts(
    session: Session, *, organization_id: int, me_id: int | None, flt: InboxFilter
) -> dict[str, int]:
    """How many conversations each status, assignee and waiting-for view would show, with the
    other filters applied: the numbers beside the inbox's filters. A number above COUNT_CAP is
    reported as COUNT_CAP + 1 ("more than COUNT_CAP"); below it every number is exact."""
    flt = _checked(session, organization_id, flt)
    if flt.query and flt.query.strip():
        return _search_counts(session, organization_id, me_id, flt)
    return _counted(session, organization_id, me_id, flt, known={})


def _counted(
    session: Session,
    organization_id: int,
    me_id: int | None,
    flt: InboxFilter,
    *,
    known: dict[str, int],
    walking: bool = False,
) -> dict[str, int]:
    """The numbers of ``counts``, each but those ``known`` counted by its own statement.
    ``walking``: a search with many matches, which each count then tests conversation by
    conversation along its view's index (as a listing does), stopping past the cap."""
    by_status = _filtered(
        session,
        organization_id=organization_id,
        me_id=me_id,
        flt=flt,
        skip=frozenset({"status"}),
        ordered=walking,
    )
    by_assignee = _filtered(
        session,
        organization_id=organization_id,
        me_id=me_id,
        flt=flt,
        skip=frozenset({"assignee"}),
        ordered=walking,
    )
    # One bounded count per number, each an index range of at most COUNT_CAP + 1 entries,
    # rather than one grouped count over every conversation of the organization.
    views = {
        **{s.value: by_status.where(Conversation.status == s.value) for s in Status},
        STATUS_ALL: by_status,
        "mine": by_assignee.where(Conversation.assignee_id == me_id),
        "unassigned": by_assignee.where(Conversation.assignee_id.is_(None)),
    }
    result = {
        key: known[key] if key in known else _capped_count(session, view)
        for key, view in views.items()
    }
    result.update(
        _awaiting_counts(session, organization_id, me_id, flt, result, known=known, walking=walking)
    )
    return result


# A search's numbers are counted from its matches (a matching message, or a conversation of a
# customer it names), read once, when there are at most this many: one statement that starts
# from them, where a count per number had each walk its view of the inbox testing every
# conversation for a match (measured at 757,000 messages: 56 ms instead of 450 ms for a common
# word, 4 ms instead of 110 ms for a customer's name, which matches a conversation or two).
# With more, the numbers those first matches already put above COUNT_CAP are reported so, and
# only the others are counted one by one. Tests patch it.
COUNT_MATCHES = 50_000


def _search_counts(
    session: Session, organization_id: int, me_id: int | None, flt: InboxFilter
) -> dict[str, int]:
    """The numbers of ``counts`` with a search: every view's from one grouped count over the
    first COUNT_MATCHES + 1 matches (by status, assignee and who had the last word), exact when
    that was all of them."""
    assert flt.query is not None
    matches = search_index.matching_conversation_ids(
        session, organization_id=organization_id, query=flt.query
    )
    first = matches.limit(COUNT_MATCHES + 1).subquery()
    # How many were read, unless the indexes alone tell that they are few (a pass over the
    # matches spared).
    few = search_index.at_most(
        session, organization_id=organization_id, query=flt.query, most=COUNT_MATCHES
    )
    read = 0 if few else session.scalar(select(func.count()).select_from(first)) or 0
    # DISTINCT over the matches read, joined: the database starts from them (as the listing
    # does with few matches) rather than walk the inbox probing each conversation.
    matched = select(first.c.id).distinct().subquery()
    rest = _filtered(
        session,
        organization_id=organization_id,
        me_id=me_id,
        flt=replace(flt, query=None, awaiting=None),
        skip=frozenset({"status", "assignee"}),
    ).where(Conversation.id == matched.c.id)
    kinds = (Conversation.status, Conversation.assignee_id, Conversation.last_preview_outbound)
    groups = [
        (status, assignee_id, replied, int(n))
        for status, assignee_id, replied, n in session.execute(
            rest.with_only_columns(*kinds, func.count()).group_by(*kinds)
        )
    ]

    def tally(*, status: str, assignee: AssigneeFilter | int, awaiting: str | None) -> int:
        member_id = _assignee_member(assignee)
        return sum(
            n
            for st, assignee_id, replied, n in groups
            if status in {STATUS_ALL, st}
            and (
                assignee == AssigneeFilter.ANYONE
                or (assignee == AssigneeFilter.ME and assignee_id == me_id)
                or (assignee == AssigneeFilter.UNASSIGNED and assignee_id is None)
                or (member_id is not None and assignee_id == member_id)
            )
            and (awaiting is None or replied is (awaiting == "customer"))
        )

    views: dict[str, dict[str, Any]] = {
        **{s: {"status": s} for s in [*(s.value for s in Status), STATUS_ALL]},
        "mine": {"assignee": AssigneeFilter.ME},
        "unassigned": {"assignee": AssigneeFilter.UNASSIGNED},
        **{f"awaiting_{value}": {"awaiting": value} for value in AWAITING},
    }
    asked: dict[str, Any] = {
        "status": flt.status,
        "assignee": flt.assignee,
        "awaiting": flt.awaiting,
    }
    found = {key: tally(**{**asked, **view}) for key, view in views.items()}
    if read <= COUNT_MATCHES:
        # Every match was read: every number is exact.
        return {key: min(n, COUNT_CAP + 1) for key, n in found.items()}
    # Only the first matches were read: a number is at least what they give.
    above = {key: COUNT_CAP + 1 for key, n in found.items() if n > COUNT_CAP}
    return _counted(session, organization_id, me_id, flt, known=above, walking=True)


def _awaiting_counts(
    session: Session,
    organization_id: int,
    me_id: int | None,
    flt: InboxFilter,
    so_far: dict[str, int],
    *,
    known: dict[str, int],
    walking: bool,
) -> dict[str, int]:
    """The numbers of the waiting-for choices, but those ``known``. Those waiting for the
    customer are read from their partial index; those waiting for a reply are the rest of the
    view (every conversation waits for one or the other), which spares reading every row of it.
    Only a view above COUNT_CAP counts them one by one."""

    def count(awaiting: str | None) -> int:
        if awaiting is not None and f"awaiting_{awaiting}" in known:
            return known[f"awaiting_{awaiting}"]
        view = replace(flt, awaiting=awaiting)
        return _capped_count(
            session,
            _filtered(
                session, organization_id=organization_id, me_id=me_id, flt=view, ordered=walking
            ),
        )

    everyone = so_far[flt.status] if flt.awaiting is None else count(None)
    customer = count("customer")
    reply = count("reply") if everyone > COUNT_CAP or customer > COUNT_CAP else everyone - customer
    return {"awaiting_reply": reply, "awaiting_customer": customer}


def tags_for(session: Session, *, conversation_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {cid: [] for cid in conversation_ids}
    if not conversation_ids:
        return out
    for cid, name in session.execute(
        select(ConversationTag.conversation_id, ConversationTag.name)
        .where(ConversationTag.conversation_id.in_(conversation_ids))
        .order_by(ConversationTag.name)
    ):
        out[cid].append(name)
    return out


def merge(
    session: Session, *, keep: Conversation, others: list[Conversation], actor: Member | None = None
) -> None:
    """Fold ``others`` into ``keep``: messages, notes, trail and tags move; the others go."""
    ids = [c.id for c in others if c.id != keep.id]
    if not ids:
        return
    # Everything that points at a conversation (messages, the trail, SLA clocks, promises,
    # escalation requests, follow-ups, notifications...) moves, found from the schema so that
    # a new domain's table cannot be forgotten here.
    for column in _references_to_conversations():
        session.execute(update(column.table).where(column.in_(ids)).values({column.name: keep.id}))
    existing = set(tags_of(session, conversation_id=keep.id))
    for tag in session.scalars(
        select(ConversationTag).where(ConversationTag.conversation_id.in_(ids))
    ):
        if tag.name not in existing:
            session.add(
                ConversationTag(
                    conversation_id=keep.id, name=tag.name, organization_id=keep.organization_id
                )
            )
            existing.add(tag.name)
    session.execute(delete(ConversationTag).where(ConversationTag.conversation_id.in_(ids)))
    for other in others:
        if other.id == keep.id:
            continue
        keep.assignee_id = keep.assignee_id or other.assignee_id
        keep.team_id = keep.team_id or other.team_id
        keep.contact_id = keep.contact_id or other.contact_id
        keep.priority = max(keep.priority, other.priority)
        keep.thread_key = keep.thread_key or other.thread_key
        if other.status == Status.OPEN.value:
            keep.status = Status.OPEN.value
            keep.resolved_at = None
    session.flush()
    for other in others:
        if other.id != keep.id:
            session.delete(other)
    record(session, conversation=keep, kind="merged", actor=actor, data={"merged": ids})
    refresh_aggregates(session, conversation=keep)
    # Its SLA clocks are reconciled (sla/jobs.py), and pages open on a folded conversation
    # go to the one that stays (desk.js).
    bus.emit(
        session,
        ConversationsMerged(
            organization_id=keep.organization_id, conversation_id=keep.id, merged_ids=tuple(ids)
        ),
    )


def _references_to_conversations() -> list[Column[Any]]:
    """Every column of another table that references conversations.id (tags aside: they
    are merged by name)."""
    from socialdesk.db.models import Base  # every domain's tables, imported on first use

    columns: list[Column[Any]] = []
    for table in Base.metadata.sorted_tables:
        if table.name in {Conversation.__tablename__, ConversationTag.__tablename__}:
            continue
        for fk in table.foreign_keys:
            if fk.column.table.name == Conversation.__tablename__:
                columns.append(fk.parent)
    return columns


# The outbound states of a reply the customer has, or is about to have. The others are not an
# answer: held (waiting for an approver), rejected (refused by one) and failed (it may be retried,
# and answers again when it is). One rule for the conversation's own figures (first response,
# preview) and for its SLA clocks (sla.tracking).
ANSWERED = (DeliveryState.QUEUED.value, DeliveryState.SENDING.value, DeliveryState.SENT.value)


def said(
    visibility: SQLColumnExpression[Any], delivery_state: SQLColumnExpression[Any]
) -> ColumnElement[bool]:
    """Messages that passed between the customer and the brand: the customer's (no delivery
    state) and the replies in ``ANSWERED`` states, never an internal note. Takes the two columns,
    of the model or of a table alias (bulk.py)."""
    return and_(
        visibility != Visibility.NOTE.value,
        or_(delivery_state.is_(None), delivery_state.in_(ANSWERED)),
    )


def said_at(
    message_id: SQLColumnExpression[Any], created_at: SQLColumnExpression[Any]
) -> ColumnElement[Any]:
    """When a message was said to the other side: a draft held for an approver when it was
    approved, any other message when it was written. Takes the columns, of the model or of a
    table alias (bulk.py)."""
    approved = (
        select(Approval.decided_at)
        .where(
            Approval.message_id == message_id,
            Approval.status == ApprovalStatus.APPROVED.value,
        )
        .scalar_subquery()
    )
    return func.coalesce(approved, created_at)


def refresh_aggregates(session: Session, *, conversation: Conversation) -> None:
    """Recompute the counters and timestamps derived from the conversation's messages, so they
    are right whatever order the messages arrived in. (min and max keep the column's UTC type,
    so their values come back aware on every database.) A reply that is not ``ANSWERED`` (held,
    rejected, failed) counts as a message but is neither the first response nor the preview;
    an approved draft is the first response from when it was approved (``said_at``), as on the
    SLA clock. The preview is the latest message said, in the thread's order (written)."""
    session.flush()
    sent = Message.visibility != Visibility.NOTE.value
    spoken = said(Message.visibility, Message.delivery_state)
    row = session.execute(
        select(
            func.count(Message.id).filter(sent),
            func.min(Message.created_at).filter(Message.direction == Direction.INBOUND.value),
            func.max(Message.created_at).filter(Message.direction == Direction.INBOUND.value),
            func.max(Message.created_at),
        ).where(Message.conversation_id == conversation.id)
    ).one()
    count, first_in, last_in, last_any = row
    conversation.message_count = int(count or 0)
    conversation.first_inbound_at = first_in
    conversation.last_customer_message_at = last_in
    if first_in is not None:
        answered_at = said_at(Message.id, Message.created_at)
        first_reply = session.scalar(
            select(func.min(answered_at)).where(
                Message.conversation_id == conversation.id,
                Message.direction == Direction.OUTBOUND.value,
                spoken,
                answered_at >= first_in,
            )
        )
        conversation.first_response_at = first_reply
    if last_any is not None:
        conversation.last_activity_at = max(conversation.last_activity_at, last_any)
    latest = session.execute(
        select(Message.text, Message.direction)
        .where(Message.conversation_id == conversation.id, spoken)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    ).first()
    conversation.last_preview = (latest.text if latest else "")[:200]
    conversation.last_preview_outbound = bool(
        latest and latest.direction == Direction.OUTBOUND.value
    )
