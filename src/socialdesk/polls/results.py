"""A poll's counts as people read them: each choice's votes, its share, and who leads."""

from __future__ import annotations

from dataclasses import dataclass

from socialdesk.common import spreadsheet
from socialdesk.polls.models import Poll


@dataclass(frozen=True)
class Choice:
    title: str
    votes: int | None
    share: float | None  # of all votes, 0..1; None while hidden or with no votes yet
    leading: bool


def choices(poll: Poll) -> list[Choice]:
    """The choices with their counts and shares, and which lead (ties lead together)."""
    votes: list[int | None] = list(poll.votes or [None] * len(poll.options))
    votes += [None] * (len(poll.options) - len(votes))
    known = [v for v in votes if v is not None]
    total = sum(known)
    top = max(known, default=0)
    return [
        Choice(
            title=title,
            votes=v,
            share=(v / total) if v is not None and total else None,
            leading=v is not None and top > 0 and v == top,
        )
        for title, v in zip(poll.options, votes, strict=False)
    ]


CSV_COLUMNS = (
    "poll_id",
    "question",
    "state",
    "choice_number",
    "choice",
    "votes",
    "share",
    "leading",
    "votes_count",
    "voters_count",
    "posted_at",
    "closes_at",
    "counted_at",
    "url",
)


def to_csv(poll: Poll) -> str:
    """The poll's results as a table, one row per choice, for a spreadsheet: the poll's own
    figures repeated on each row, shares from 0 to 1, times in UTC (ISO 8601). Words people
    wrote that a spreadsheet would read as a formula are kept as text."""
    return spreadsheet.table(
        CSV_COLUMNS,
        (
            (
                poll.id,
                poll.question,
                poll.state,
                number,
                choice.title,
                choice.votes,
                choice.share,
                "yes" if choice.leading else "no",
                poll.votes_count,
                poll.voters_count,
                poll.posted_at.isoformat() if poll.posted_at else None,
                poll.closes_at.isoformat() if poll.closes_at else None,
                poll.counted_at.isoformat() if poll.counted_at else None,
                poll.url,
            )
            for number, choice in enumerate(choices(poll), start=1)
        ),
    )
