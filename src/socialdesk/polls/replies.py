"""What people wrote back to a poll: the inbound messages that answer its post.

A reply to the poll's post reaches the inbox as any mention of the account does
(``conversations.flows``), stored with the post's id as ``native_reply_to_id`` on the poll's
brand account. Nothing is copied here: the replies are read from the messages, through the
index on ``(brand_account_id, native_reply_to_id)`` (``ix_messages_reply_to``), and always
within the poll's organization and account, so another tenant's message that happens to
answer a post of the same native id never counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from socialdesk.channels.models import BrandAccount
from socialdesk.common.pagination import Page, keyset_page
from socialdesk.contacts.models import Contact, ContactIdentity
from socialdesk.conversations.models import Direction, Message
from socialdesk.polls.models import Poll
from socialdesk.triage.classify import INTENTS, SENTIMENTS
from socialdesk.triage.models import MessageTriage

# How many of the newest replies a poll's page lists; the count is of all of them.
NEWEST = 20


@dataclass(frozen=True, slots=True)
class Reply:
    message_id: int
    conversation_id: int
    author_name: str | None  # the contact's name; None for a contact since erased
    author_handle: str | None  # their handle on the poll's network, when known
    text: str
    created_at: datetime
    sentiment: str | None = None  # triage's labels, None until it has run
    intent: str | None = None
    complaint: bool = False


@dataclass(frozen=True, slots=True)
class Replies:
    count: int
    newest: list[Reply]


@dataclass(frozen=True, slots=True)
class Mood:
    """How the replies sound and what they are, as triage labelled them (``triage/``): the
    number of replies per sentiment and per intent, and how many are complaints. ``triaged``
    is how many replies have labels at all (a reply with no text, or one that came before
    triage ran, has none)."""

    triaged: int
    sentiments: dict[str, int]
    intents: dict[str, int]
    complaints: int

    def share(self, count: int) -> int:
        """``count`` as a whole percentage of the labelled replies."""
        return round(100 * count / self.triaged) if self.triaged else 0


def _answering(poll: Poll) -> ColumnElement[bool]:
    """An inbound message on the poll's account, in its organization, replying to its post."""
    return and_(
        Message.organization_id == poll.organization_id,
        Message.brand_account_id == poll.brand_account_id,
        Message.native_reply_to_id == poll.post_id,
        Message.direction == Direction.INBOUND.value,
    )


def _replies_to_polls() -> ColumnElement[bool]:
    """What joins a poll to its replies: ``_answering`` between the two tables."""
    return and_(
        Message.organization_id == Poll.organization_id,
        Message.brand_account_id == Poll.brand_account_id,
        Message.native_reply_to_id == Poll.post_id,
        Message.direction == Direction.INBOUND.value,
    )


def of(session: Session, *, poll: Poll, limit: int = NEWEST) -> Replies:
    """How many replies ``poll``'s post has, and the newest ``limit`` of them, newest first.
    A poll not posted yet has none."""
    if poll.post_id is None:
        return Replies(count=0, newest=[])
    total = session.scalar(select(func.count()).select_from(Message).where(_answering(poll)))
    return Replies(
        count=int(total or 0), newest=page(session, poll=poll, cursor=None, limit=limit).items
    )


def page(session: Session, *, poll: Poll, cursor: str | None, limit: int) -> Page[Reply]:
    """One page of ``poll``'s replies, newest first, after ``cursor``."""
    if poll.post_id is None:
        return Page(items=[], next_cursor=None)
    found = keyset_page(
        session,
        select(Message).where(_answering(poll)),
        when=Message.created_at,
        row_id=Message.id,
        key=lambda m: (m.created_at, m.id),
        cursor=cursor,
        limit=limit,
        newest_first=True,
    )
    return Page(items=_described(session, found.items), next_cursor=found.next_cursor)


def _described(session: Session, messages: list[Message]) -> list[Reply]:
    """The replies with who wrote them and triage's labels, in one query for the page."""
    if not messages:
        return []
    # The author's handle on the poll's network: a merged contact may hold several
    # identities there; any one of them names the person.
    handle = (
        select(func.min(ContactIdentity.handle))
        .where(
            ContactIdentity.contact_id == Message.author_contact_id,
            ContactIdentity.channel == BrandAccount.kind,
        )
        .correlate(Message, BrandAccount)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            Message.id,
            Contact.name,
            handle,
            MessageTriage.sentiment,
            MessageTriage.intent,
            MessageTriage.complaint,
        )
        .join(BrandAccount, BrandAccount.id == Message.brand_account_id)
        .outerjoin(Contact, Contact.id == Message.author_contact_id)
        .outerjoin(MessageTriage, MessageTriage.message_id == Message.id)
        .where(Message.id.in_([m.id for m in messages]))
    )
    about = {row[0]: row[1:] for row in rows}
    described = []
    for message in messages:
        name, author_handle, sentiment, intent, complaint = about[message.id]
        described.append(
            Reply(
                message_id=message.id,
                conversation_id=message.conversation_id,
                author_name=name or None,
                author_handle=author_handle,
                text=message.text,
                created_at=message.created_at,
                sentiment=sentiment,
                intent=intent,
                complaint=bool(complaint),
            )
        )
    return described


def mood(session: Session, *, poll: Poll) -> Mood:
    """How all of ``poll``'s replies sound and what they are (``moods`` of the one poll)."""
    return moods(session, polls=[poll]).get(poll.id) or _tallied([])


def _tallied(rows: Iterable[tuple[str, str, bool, int]]) -> Mood:
    """A mood from (sentiment, intent, complaint, count) groups."""
    sentiments = dict.fromkeys(SENTIMENTS, 0)
    intents = dict.fromkeys(INTENTS, 0)
    triaged = complaints = 0
    for sentiment, intent, complaint, number in rows:
        triaged += number
        # A label a later model no longer knows still counts, under its own name.
        sentiments[sentiment] = sentiments.get(sentiment, 0) + number
        intents[intent] = intents.get(intent, 0) + number
        complaints += number if complaint else 0
    return Mood(triaged=triaged, sentiments=sentiments, intents=intents, complaints=complaints)


def moods(session: Session, *, polls: Iterable[Poll]) -> dict[int, Mood]:
    """``mood`` of each of ``polls`` (poll id: mood), in one grouped query for a page of
    them; a poll with no labelled replies, or not posted yet, is left out."""
    ids = [p.id for p in polls if p.post_id is not None]
    if not ids:
        return {}
    rows = session.execute(
        select(
            Poll.id,
            MessageTriage.sentiment,
            MessageTriage.intent,
            MessageTriage.complaint,
            func.count(),
        )
        .join(Message, _replies_to_polls())
        .join(MessageTriage, MessageTriage.message_id == Message.id)
        .where(Poll.id.in_(ids))
        .group_by(Poll.id, MessageTriage.sentiment, MessageTriage.intent, MessageTriage.complaint)
    )
    groups: dict[int, list[tuple[str, str, bool, int]]] = {}
    for poll_id, sentiment, intent, complaint, number in rows:
        groups.setdefault(poll_id, []).append((sentiment, intent, bool(complaint), int(number)))
    return {poll_id: _tallied(found) for poll_id, found in groups.items()}


def counts(session: Session, *, polls: Iterable[Poll]) -> dict[int, int]:
    """The number of replies of each of ``polls`` (poll id: count), in one query for a page
    of them; a poll with none, or not posted yet, is left out."""
    ids = [p.id for p in polls if p.post_id is not None]
    if not ids:
        return {}
    rows = session.execute(
        select(Poll.id, func.count(Message.id))
        .join(Message, _replies_to_polls())
        .where(Poll.id.in_(ids))
        .group_by(Poll.id)
    )
    return {poll_id: int(count) for poll_id, count in rows}


@dataclass(frozen=True, slots=True)
class Answered:
    """The poll a message answers."""

    poll_id: int
    question: str


def answered_in(
    session: Session, *, conversation_id: int, organization_id: int
) -> dict[int, Answered]:
    """The messages of a conversation that answer one of the organization's polls (on the
    poll's own account), by message id: what the conversation view says beside them."""
    rows = session.execute(
        select(Message.id, Poll.id, Poll.question)
        .join(Poll, _replies_to_polls())
        .where(
            Message.conversation_id == conversation_id,
            Message.organization_id == organization_id,
        )
    )
    return {message_id: Answered(poll_id, question) for message_id, poll_id, question in rows}
