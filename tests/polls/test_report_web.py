"""The Polls tab of Reports (/reports/polls): any member reads what the organization asked in
a range and what it learned, in the organization's zone, with its CSV; nothing of another
organization; an empty range says what to do; a range that does not read is shown beside the
form. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import html
import io
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Role
from socialdesk.common import clock
from tests.factories import accounts, channels
from tests.factories.polls import held
from tests.polls.reporting import counted, reply
from tests.web import conftest as web_fixtures
from tests.web.conftest import Desk, login

# The desk's page fixtures (an app on the test database, a logged-out client, an organization
# with an owner, an agent and a viewer), used here as in tests/web.
app = web_fixtures.app
client = web_fixtures.client
desk = web_fixtures.desk


def test_the_tab_lists_the_polls_with_their_outcome_in_the_organizations_zone(
    client: TestClient, session: Session, desk: Desk
) -> None:
    desk.org.timezone = "Europe/Paris"
    mastodon = channels.brand_account(session, desk.org, kind="mastodon")
    now = clock.now()
    tie = counted(
        session,
        mastodon,
        desk.agent,
        post_id="1001",
        question="Night buses: <when> should the last one leave?",
        options=("00:30", "01:30"),
        votes=(5, 5),
        posted_at=now - timedelta(days=2),
        closed=True,
    )
    reply(session, mastodon, post_id="1001", author="ana", sentiment="negative", complaint=True)
    reply(session, mastodon, post_id="1001", author="ben", sentiment="positive")
    won = counted(
        session,
        mastodon,
        desk.agent,
        post_id="1002",
        question="Text alerts or the app?",
        options=("Text", "App"),
        votes=(2, 9),
        posted_at=now - timedelta(days=1),
    )
    fresh = counted(session, mastodon, desk.agent, post_id="1003", question="Early or late?")
    held(session, mastodon, desk.agent)
    session.commit()
    login(client, desk.viewer)

    page = client.get("/reports/polls")
    assert page.status_code == 200, page.text
    text = page.text
    assert '<a href="/reports/polls" aria-current="page">Polls</a>' in text
    # The last 30 days, in Paris.
    assert 'name="start" value="2025-12-07"' in text
    assert 'name="end" value="2026-01-05"' in text
    assert "(Europe/Paris)" in text
    assert 'data-figure="posted">3' in text
    assert 'data-figure="votes">21<' in text
    assert 'data-figure="replies">2<' in text
    assert 'data-figure="negative_share">50%' in text
    assert "1 waiting for approval" in text
    rows = text.split("data-poll=")[1:]
    assert [row.split('"')[1] for row in rows] == [str(fresh.id), str(won.id), str(tie.id)]
    newest, leading, tied = rows
    assert f'<a href="/polls/{tie.id}">' in tied
    assert html.escape("Night buses: <when> should the last one leave?") in tied
    assert "Tie: 00:30, 01:30 (50% each)" in tied
    assert "1 (50%)" in tied  # one negative reply of two labelled
    # Posted Sat 3 Jan 09:00 UTC: 10:00 in Paris; it closed a day later.
    assert "03 Jan 2026, 10:00" in tied
    assert "closed <time" in tied
    assert "04 Jan, 10:00" in tied
    assert "App (82%)" in leading
    assert "closes <time" in leading
    assert "No votes yet" in newest
    assert 'href="/reports/polls.csv?start=2025-12-07&amp;end=2026-01-05"' in text


def test_an_empty_range_says_what_to_do(client: TestClient, session: Session, desk: Desk) -> None:
    # Another organization's poll is never shown here.
    elsewhere = accounts.organization(session, name="Elsewhere")
    their_agent = accounts.member(session, elsewhere, role=Role.AGENT)
    their_account = channels.brand_account(session, elsewhere, kind="mastodon")
    counted(session, their_account, their_agent, post_id="1001", question="Their question?")
    session.commit()
    login(client, desk.viewer)

    page = client.get("/reports/polls")
    assert page.status_code == 200
    assert "Their question?" not in page.text
    assert (
        "No polls were posted between 7 Dec 2025 and 5 Jan 2026; ask one from "
        '<a href="/polls">Polls</a>.'
    ) in page.text
    assert "data-polls" not in page.text
    assert "data-csv" not in page.text
    assert "data-not-posted" not in page.text


def test_a_range_that_does_not_read_is_shown_beside_the_form(
    client: TestClient, desk: Desk
) -> None:
    login(client, desk.viewer)
    backwards = client.get("/reports/polls?start=2026-02-01&end=2026-01-01")
    assert backwards.status_code == 422
    assert "the range ends (2026-01-01) before it starts (2026-02-01)" in backwards.text
    assert 'name="start" value="2026-02-01"' in backwards.text
    garbled = client.get("/reports/polls?start=soon")
    assert garbled.status_code == 422
    assert "is not a date like 2026-01-31" in garbled.text


def test_the_csv_download(client: TestClient, session: Session, desk: Desk) -> None:
    mastodon = channels.brand_account(session, desk.org, kind="mastodon")
    poll = counted(
        session, mastodon, desk.agent, post_id="1001", question="=1+1", votes=(1, 3), closed=True
    )
    session.commit()
    login(client, desk.viewer)

    response = client.get("/reports/polls.csv?start=2026-01-05&end=2026-01-05")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="polls-2026-01-05-2026-01-05.csv"' in response.headers["content-disposition"]
    (row,) = csv.DictReader(io.StringIO(response.text))
    assert (row["poll_id"], row["question"], row["leading"]) == (str(poll.id), "'=1+1", "Late")
    assert (row["votes_count"], row["leading_share"], row["tie"]) == ("4", "0.75", "no")


def test_the_other_reports_have_the_tab_and_a_stranger_is_sent_to_log_in(
    client: TestClient, desk: Desk
) -> None:
    assert client.get("/reports/polls").status_code in (302, 303)
    assert client.get("/reports/polls.csv").status_code in (302, 303)
    login(client, desk.viewer)
    for path in ("/reports", "/reports/care", "/reports/topics"):
        assert '<a href="/reports/polls">Polls</a>' in client.get(path).text
