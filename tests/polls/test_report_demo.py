"""The demo's polls in the polls report's default range: the two it posted (the X one with the
replies people wrote) and the one still waiting for an approver. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Organization
from socialdesk.common.clock import FrozenClock
from socialdesk.demo import data, loader
from socialdesk.polls import report


@pytest.fixture
def db(database_url: str, clock: FrozenClock) -> Iterator[Session]:
    """A session for reading what the demo wrote (the loader commits on its own)."""
    from socialdesk.db.session import get_sessionmaker

    session = get_sessionmaker(write=False)()
    try:
        yield session
    finally:
        session.close()


def test_the_default_range_shows_the_demos_polls(db: Session) -> None:
    loader.load()
    org = db.scalar(select(Organization).where(Organization.slug == data.ORGANIZATION_SLUG))
    assert org is not None

    found = report.build(db, organization_id=org.id, start=None, end=None)

    night, alerts, _waiting = data.POLLS
    assert [line.question for line in found.polls] == [alerts.question, night.question]
    x_poll, mastodon_poll = found.polls
    assert (x_poll.channel, x_poll.state, x_poll.leading) == ("x", "closed", ("The Kestrel app",))
    assert x_poll.votes_count == sum(alerts.votes or ())
    assert x_poll.replies == 2
    assert (mastodon_poll.channel, mastodon_poll.leading, mastodon_poll.replies) == (
        "mastodon",
        ("01:30",),
        0,
    )
    assert (found.totals.posted, found.totals.closed, found.totals.replies) == (2, 2, 2)
    assert found.not_posted.held == 1
