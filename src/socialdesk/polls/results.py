"""A poll's counts as people read them: each choice's votes, its share, and who leads."""

from __future__ import annotations

from dataclasses import dataclass

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
