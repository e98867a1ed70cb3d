"""Polls as the polls report reads them: posted at a chosen time with chosen counts, and
replies to them with the labels triage would give."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.polls.models import Poll, PollState
from socialdesk.triage.models import MessageTriage
from tests.factories.conversations import inbound, ingest
from tests.factories.polls import posted


def counted(
    session: Session,
    account: BrandAccount,
    author: Member,
    *,
    post_id: str,
    question: str = "Which opening hours suit you?",
    options: tuple[str, ...] = ("Early", "Late"),
    votes: tuple[int | None, ...] | None = None,
    votes_count: int | None = None,
    voters: int | None = None,
    posted_at: datetime | None = None,
    closed: bool = False,
) -> Poll:
    """A posted poll with ``votes`` per choice (none yet by default; None where the network
    hides one) and their total, posted at ``posted_at`` (now by default), open for a day, and
    closed when ``closed``."""
    poll = posted(session, account, author, post_id=post_id, question=question)
    when = posted_at or clock.now()
    poll.options = list(options)
    poll.votes = list(votes) if votes is not None else [0] * len(options)
    known = sum(v for v in poll.votes if v is not None)
    poll.votes_count = votes_count if votes_count is not None else known
    poll.voters_count = voters if voters is not None else poll.votes_count
    poll.created_at = when - timedelta(minutes=1)
    poll.posted_at = when
    poll.closes_at = when + timedelta(days=1)
    poll.counted_at = when
    if closed:
        poll.state = PollState.CLOSED.value
    session.flush()
    return poll


def reply(
    session: Session,
    account: BrandAccount,
    *,
    post_id: str,
    author: str,
    sentiment: str = "neutral",
    intent: str = "other",
    complaint: bool = False,
    text: str = "About your poll",
) -> int:
    """A customer's reply to the post ``post_id``, labelled as given (triage's own labels
    replaced); returns the message's id."""
    made = ingest(
        session, account, inbound(reply_to=post_id, reply_to_brand=True, author=author, text=text)
    )
    session.merge(
        MessageTriage(
            message_id=made.message.id,
            organization_id=account.organization_id,
            sentiment=sentiment,
            complaint=complaint,
            intent=intent,
            priority="normal",
            language="en",
            scores={},
            reasons=[],
            tier="fast",
            created_at=clock.now(),
        )
    )
    session.flush()
    return made.message.id
