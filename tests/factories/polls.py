"""Polls stored as they would stand after asking, for tests of the routes that take one."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.polls.models import Poll, PollState

# A code of conduct with one rule of each kind, for the polls tests: drink is refused, prices
# need an approver, a competitor's name asks for confirmation.
RULES = """
rules:
  - id: no-alcohol
    explain: "We do not talk about drinking: many in our community abstain."
    action: block
    terms: [beer, wine]
  - id: prices-need-approval
    explain: "Anything about prices needs a supervisor's approval."
    action: approve
    terms: [price]
  - id: careful-competitors
    explain: "Naming a competitor in public needs a second thought."
    action: warn
    terms: [acmecorp]
"""


def held(session: Session, account: BrandAccount, author: Member) -> Poll:
    """A poll waiting for an approver (stored as the service stores one)."""
    now = clock.now()
    poll = Poll(
        organization_id=account.organization_id,
        brand_account_id=account.id,
        created_by_id=author.id,
        question="Which opening hours suit you?",
        options=["Early", "Late"],
        seconds=86400,
        multiple=False,
        state=PollState.HELD.value,
        reasons=[
            {
                "rule": "prices-need-approval",
                "explain": "Anything about prices needs approval.",
                "decision": "approve",
                "start": None,
                "end": None,
            }
        ],
        attempts=0,
        created_at=now,
        state_changed_at=now,
    )
    session.add(poll)
    session.flush()
    return poll


def posted(
    session: Session,
    account: BrandAccount,
    author: Member,
    *,
    post_id: str,
    question: str = "Which opening hours suit you?",
) -> Poll:
    """A poll the network took: open, with its post's id (stored as the posting job stores
    one)."""
    now = clock.now()
    poll = Poll(
        organization_id=account.organization_id,
        brand_account_id=account.id,
        created_by_id=author.id,
        question=question,
        options=["Early", "Late"],
        seconds=86400,
        multiple=False,
        state=PollState.OPEN.value,
        reasons=[],
        attempts=1,
        created_at=now,
        state_changed_at=now,
        post_id=post_id,
        native_poll_id=f"poll-{post_id}",
        url=f"https://mastodon.example/@brand/{post_id}",
        posted_at=now,
        closes_at=now + timedelta(days=1),
        votes=[0, 0],
        votes_count=0,
        voters_count=0,
        counted_at=now,
    )
    session.add(poll)
    session.flush()
    return poll
