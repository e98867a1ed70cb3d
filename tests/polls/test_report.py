"""The polls report: the polls posted in a range of days (in the organization's zone), newest
first, with their votes, the choice that leads (several on a tie, none before a vote), their
replies and how those sound, the range's totals, and how many asked in it were never posted.
Only the organization's own polls and replies; a fixed number of queries. On SQLite and
PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Organization, Role
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.common.errors import ValidationFailed
from socialdesk.polls import report
from socialdesk.polls.models import PollState
from tests.factories import accounts, channels
from tests.factories.polls import held
from tests.polls.reporting import counted, reply


def _org(session: Session, name: str = "Acme Care") -> tuple[Organization, Member, BrandAccount]:
    org = accounts.organization(session, name=name)
    agent = accounts.member(session, org, role=Role.AGENT)
    return org, agent, channels.brand_account(session, org, kind="mastodon")


def test_posted_polls_newest_first_with_votes_leaders_replies_and_totals(
    session: Session,
) -> None:
    org, agent, mastodon = _org(session)
    x = channels.brand_account(session, org, kind="x")
    now = clock.now()
    night = counted(
        session,
        mastodon,
        agent,
        post_id="1001",
        question="Night buses: when should the last one leave?",
        options=("00:30", "01:30", "02:30"),
        votes=(118, 291, 164),
        voters=500,
        posted_at=now - timedelta(days=6),
        closed=True,
    )
    alerts = counted(
        session,
        x,
        agent,
        post_id="2001",
        question="Where do you want to hear about delays?",
        options=("The app", "Text message"),
        votes=(4, 4),
        posted_at=now - timedelta(days=2),
    )
    fresh = counted(session, mastodon, agent, post_id="1002", posted_at=now - timedelta(hours=1))
    reply(session, mastodon, post_id="1001", author="ana", sentiment="negative", complaint=True)
    reply(session, mastodon, post_id="1001", author="ben", sentiment="negative", intent="idea")
    reply(session, mastodon, post_id="1001", author="cy", sentiment="positive", intent="praise")
    reply(session, x, post_id="2001", author="dee", intent="question")
    # Asked in the range but never posted: not in the list, only counted.
    held(session, mastodon, agent)
    held(session, mastodon, agent).state = PollState.FAILED.value
    session.commit()

    found = report.build(session, organization_id=org.id, start=None, end=None)

    # The last 30 days up to today, as every report's default.
    assert (found.start, found.end, found.timezone) == (date(2025, 12, 7), date(2026, 1, 5), "UTC")
    assert found.since == datetime(2025, 12, 7, tzinfo=UTC)
    assert found.until == datetime(2026, 1, 6, tzinfo=UTC)
    assert [line.poll_id for line in found.polls] == [fresh.id, alerts.id, night.id]
    newest, tied, closed = found.polls

    assert closed.question == "Night buses: when should the last one leave?"
    assert (closed.channel, closed.account_handle, closed.state) == (
        "mastodon",
        mastodon.handle,
        "closed",
    )
    assert closed.posted_at == now - timedelta(days=6)
    assert closed.posted_at.tzinfo is not None
    assert closed.closes_at == now - timedelta(days=5)
    assert (closed.votes_count, closed.voters_count) == (573, 500)
    assert closed.leading == ("01:30",)
    assert closed.leading_share == pytest.approx(291 / 573)
    assert not closed.tie
    assert (closed.replies, closed.triaged, closed.negative, closed.complaints) == (3, 3, 2, 1)
    assert closed.negative_share == pytest.approx(2 / 3)

    assert tied.tie
    assert tied.leading == ("The app", "Text message")
    assert tied.leading_share == 0.5
    assert (tied.channel, tied.state, tied.replies, tied.negative) == ("x", "open", 1, 0)

    # No votes yet: nothing leads, and no reply has nothing to sound like.
    assert (newest.votes_count, newest.leading, newest.leading_share) == (0, (), None)
    assert not newest.tie
    assert (newest.replies, newest.triaged, newest.negative_share) == (0, 0, None)

    assert found.totals == report.Totals(
        posted=3, open=2, closed=1, votes=581, replies=4, triaged=4, negative=2, complaints=1
    )
    assert found.totals.negative_share == 0.5
    assert found.not_posted == report.NotPosted(held=1, failed=1)


def test_counts_the_network_hides_lead_nothing(session: Session) -> None:
    org, agent, mastodon = _org(session)
    counted(session, mastodon, agent, post_id="1001", votes=(None, None), votes_count=12)
    session.commit()

    (line,) = report.build(session, organization_id=org.id, start=None, end=None).polls
    assert (line.votes_count, line.leading, line.leading_share, line.tie) == (12, (), None, False)


def test_the_range_is_whole_days_in_the_organizations_zone(session: Session) -> None:
    org, agent, mastodon = _org(session)
    org.timezone = "Europe/Paris"  # UTC+1 in winter
    # 1 to 3 January in Paris: from 31 December 23:00 UTC to 3 January 23:00 UTC.
    first = datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
    after = datetime(2026, 1, 3, 23, 0, tzinfo=UTC)
    second = timedelta(seconds=1)
    at_start = counted(session, mastodon, agent, post_id="1", posted_at=first)
    counted(session, mastodon, agent, post_id="2", posted_at=first - second)
    at_end = counted(session, mastodon, agent, post_id="3", posted_at=after - second)
    counted(session, mastodon, agent, post_id="4", posted_at=after)
    # Polls never posted count by when they were asked, in the same days.
    inside = held(session, mastodon, agent)
    inside.created_at = first
    outside = held(session, mastodon, agent)
    outside.created_at = after
    session.commit()

    found = report.build(
        session, organization_id=org.id, start=date(2026, 1, 1), end=date(2026, 1, 3)
    )
    assert (found.since, found.until, found.timezone) == (first, after, "Europe/Paris")
    assert [line.poll_id for line in found.polls] == [at_end.id, at_start.id]
    assert found.not_posted.held == 1

    # One day, the last one: only the poll of its last second.
    last_day = report.build(
        session, organization_id=org.id, start=date(2026, 1, 3), end=date(2026, 1, 3)
    )
    assert [line.poll_id for line in last_day.polls] == [at_end.id]


def test_another_organization_never_sees_these_polls_or_replies(session: Session) -> None:
    org, agent, mastodon = _org(session, "Org A")
    other, their_agent, their_account = _org(session, "Org B")
    counted(session, mastodon, agent, post_id="1001", votes=(3, 1))
    reply(session, mastodon, post_id="1001", author="ana", sentiment="negative")
    # The same post id on their own account is their own post, with their own reply.
    theirs = counted(session, their_account, their_agent, post_id="1001", votes=(0, 2))
    reply(session, their_account, post_id="1001", author="ben", sentiment="positive")
    held(session, mastodon, agent)
    session.commit()

    found = report.build(session, organization_id=other.id, start=None, end=None)
    assert [line.poll_id for line in found.polls] == [theirs.id]
    assert found.polls[0].leading == ("Late",)
    assert (found.totals.replies, found.totals.negative, found.totals.votes) == (1, 0, 2)
    assert found.not_posted == report.NotPosted()

    ours = report.build(session, organization_id=org.id, start=None, end=None)
    assert [line.question for line in ours.polls] == ["Which opening hours suit you?"]
    assert (ours.totals.replies, ours.totals.negative, ours.not_posted.held) == (1, 1, 1)


def test_a_range_that_does_not_read_is_refused_naming_the_field(session: Session) -> None:
    org, _, _ = _org(session)
    session.commit()
    with pytest.raises(ValidationFailed) as backwards:
        report.build(session, organization_id=org.id, start=date(2026, 2, 1), end=date(2026, 1, 1))
    assert backwards.value.field == "end"
    with pytest.raises(ValidationFailed) as too_long:
        report.build(session, organization_id=org.id, start=date(2024, 1, 1), end=date(2026, 1, 1))
    assert too_long.value.field == "start"


def test_an_empty_range_has_nothing_and_zero_totals(session: Session) -> None:
    org, agent, mastodon = _org(session)
    counted(session, mastodon, agent, post_id="1001", posted_at=clock.now() - timedelta(days=40))
    session.commit()
    found = report.build(session, organization_id=org.id, start=None, end=None)
    assert found.polls == []
    assert found.totals == report.Totals(0, 0, 0, 0, 0, 0, 0, 0)
    assert found.totals.negative_share is None
    assert report.to_csv(found).splitlines() == [",".join(report.CSV_COLUMNS)]


def test_the_csv_has_one_row_per_poll_and_keeps_formulas_as_text(session: Session) -> None:
    org, agent, mastodon = _org(session)
    now = clock.now()
    tie = counted(
        session,
        mastodon,
        agent,
        post_id="1001",
        question="=HYPERLINK('https://evil.example')",
        options=("+1", "Later"),
        votes=(2, 2),
        posted_at=now - timedelta(days=1),
        closed=True,
    )
    quiet = counted(session, mastodon, agent, post_id="1002")
    reply(session, mastodon, post_id="1001", author="ana", sentiment="negative", complaint=True)
    reply(session, mastodon, post_id="1001", author="ben")
    session.commit()

    rows = list(
        csv.DictReader(
            io.StringIO(
                report.to_csv(report.build(session, organization_id=org.id, start=None, end=None))
            )
        )
    )
    assert [row["poll_id"] for row in rows] == [str(quiet.id), str(tie.id)]
    first, second = rows
    assert (first["leading"], first["leading_share"], first["tie"]) == ("", "", "no")
    assert (first["votes_count"], first["negative_share"]) == ("0", "")
    assert second["question"] == "'=HYPERLINK('https://evil.example')"
    assert second["leading"] == "'+1 | Later"
    assert (second["leading_share"], second["tie"], second["state"]) == ("0.5", "yes", "closed")
    assert (second["replies"], second["replies_triaged"], second["replies_negative"]) == (
        "2",
        "2",
        "1",
    )
    assert (second["negative_share"], second["complaints"]) == ("0.5", "1")
    assert second["posted_at"] == "2026-01-04T09:00:00+00:00"
    assert second["closes_at"] == "2026-01-05T09:00:00+00:00"
    assert second["account"] == mastodon.handle
    assert second["channel"] == "mastodon"


@contextmanager
def _statements(session: Session) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = session.get_bind()

    def count(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_the_number_of_queries_does_not_grow_with_the_polls(session: Session) -> None:
    org, agent, mastodon = _org(session)
    counted(session, mastodon, agent, post_id="p0", votes=(1, 0))
    reply(session, mastodon, post_id="p0", author="a0")
    session.commit()
    session.expire_all()
    with _statements(session) as one:
        report.build(session, organization_id=org.id, start=None, end=None)
    for n in range(1, 6):
        counted(session, mastodon, agent, post_id=f"p{n}", votes=(n, 1))
        reply(session, mastodon, post_id=f"p{n}", author=f"a{n}")
    session.commit()
    session.expire_all()
    with _statements(session) as six:
        found = report.build(session, organization_id=org.id, start=None, end=None)
    assert len(found.polls) == 6
    assert found.totals.replies == 6
    assert len(six) == len(one), six
