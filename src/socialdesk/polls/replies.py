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
from socialdesk.contacts.models import Contact, ContactIdentity
from socialdesk.conversations.models import Direction, Message
from socialdesk.polls.models import Poll

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


@dataclass(frozen=True, slots=True)
class Replies:
    count: int
    newest: list[Reply]


def _answering(poll: Poll) -> ColumnElement[bool]:
    """An inbound message on the poll's account, in its organization, replying to its post."""
    return and_(
        Message.organization_id == poll.organization_id,
        Message.brand_account_id == poll.brand_account_id,
        Message.native_reply_to_id == poll.post_id,
        Message.direction == Direction.INBOUND.value,
    )


def of(session: Session, *, poll: Poll, limit: int = NEWEST) -> Replies:
    """How many replies ``poll``'s post has, and the newest ``limit`` of them, newest first.
    A poll not posted yet has none."""
    if poll.post_id is None:
        return Replies(count=0, newest=[])
    total = session.scalar(select(func.count()).select_from(Message).where(_answering(poll)))
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
            Message.conversation_id,
            Contact.name,
            handle,
            Message.text,
            Message.created_at,
        )
        .join(BrandAccount, BrandAccount.id == Message.brand_account_id)
        .outerjoin(Contact, Contact.id == Message.author_contact_id)
        .where(_answering(poll))
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit)
    )
    return Replies(
        count=int(total or 0),
        newest=[
            Reply(
                message_id=message_id,
                conversation_id=conversation_id,
                author_name=name or None,
                author_handle=author_handle,
                text=text,
                created_at=created_at,
            )
            for message_id, conversation_id, name, author_handle, text, created_at in rows
        ],
    )


def counts(session: Session, *, polls: Iterable[Poll]) -> dict[int, int]:
    """The number of replies of each of ``polls`` (poll id: count), in one query for a page
    of them; a poll with none, or not posted yet, is left out."""
    ids = [p.id for p in polls if p.post_id is not None]
    if not ids:
        return {}
    rows = session.execute(
        select(Poll.id, func.count(Message.id))
        .join(
            Message,
            and_(
                Message.organization_id == Poll.organization_id,
                Message.brand_account_id == Poll.brand_account_id,
                Message.native_reply_to_id == Poll.post_id,
            ),
        )
        .where(Poll.id.in_(ids), Message.direction == Direction.INBOUND.value)
        .group_by(Poll.id)
    )
    return {poll_id: int(count) for poll_id, count in rows}
