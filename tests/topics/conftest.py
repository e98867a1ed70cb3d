"""The routing tests' small desk (an organization, two teams, three agents, a website and an X
account), its API client and token headers serve the topics tests, with a way to fill a
period with customer messages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tests.routing.conftest import Desk, api_headers, client, desk

__all__ = ["Desk", "api_headers", "client", "desk", "say", "say_all"]


def say(desk: Desk, text: str, *, at: datetime, author: str | None = None) -> int:
    """A customer writes ``text`` at ``at`` on the website (triage reads it as it is stored);
    returns the conversation's id."""
    return desk.write(text, at=at, author=author, route=False).id


def say_all(desk: Desk, texts: Sequence[str], *, start: datetime, end: datetime) -> list[int]:
    """Each text from its own customer, spread evenly over (start, end]."""
    step = (end - start) / (len(texts) + 1)
    return [say(desk, text, at=start + step * (n + 1)) for n, text in enumerate(texts)]
