"""A poll's results as a spreadsheet: one row per choice with its votes and share, the poll's
own figures on each row, words a spreadsheet would run as a formula kept as text; from the API
and the desk, for the poll's organization only. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Organization
from socialdesk.channels.models import BrandAccount
from socialdesk.polls.models import Poll
from socialdesk.polls.results import CSV_COLUMNS, to_csv
from tests.factories import accounts, channels
from tests.factories.polls import posted
from tests.polls.conftest import Desk, bearer


def _counted(session: Session, account: BrandAccount, author: Member) -> Poll:
    poll = posted(session, account, author, post_id="1001", question="Which line first?")
    poll.options = ['=HYPERLINK("http://x")', "Line 4", "Line 7"]
    poll.votes = [3, 9, 0]
    poll.votes_count = poll.voters_count = 12
    poll.counted_at = poll.posted_at
    session.flush()
    return poll


def _rows(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


def test_one_row_per_choice_with_votes_shares_and_the_leader(session: Session) -> None:
    org = accounts.organization(session)
    poll = _counted(
        session,
        channels.brand_account(session, org, kind="mastodon"),
        accounts.member(session, org),
    )
    body = to_csv(poll)
    assert body.splitlines()[0] == ",".join(CSV_COLUMNS)
    rows = _rows(body)
    assert [
        (r["choice_number"], r["choice"], r["votes"], r["share"], r["leading"]) for r in rows
    ] == [
        ("1", '\'=HYPERLINK("http://x")', "3", "0.25", "no"),
        ("2", "Line 4", "9", "0.75", "yes"),
        ("3", "Line 7", "0", "0", "no"),
    ]
    assert {r["question"] for r in rows} == {"Which line first?"}
    assert {(r["votes_count"], r["voters_count"], r["state"]) for r in rows} == {
        ("12", "12", "open")
    }
    assert rows[0]["closes_at"].endswith("+00:00")
    assert rows[0]["url"] == "https://mastodon.example/@brand/1001"


def test_a_poll_with_no_counts_yet_has_empty_figures(session: Session) -> None:
    org = accounts.organization(session)
    poll = posted(
        session,
        channels.brand_account(session, org, kind="mastodon"),
        accounts.member(session, org),
        post_id="1002",
    )
    poll.votes = []
    session.flush()
    rows = _rows(to_csv(poll))
    assert [(r["choice"], r["votes"], r["share"]) for r in rows] == [
        ("Early", "", ""),
        ("Late", "", ""),
    ]


def test_the_api_and_the_desk_give_the_file_to_the_polls_organization_only(
    client: TestClient, desk: Desk, session: Session
) -> None:
    org = session.get_one(Organization, desk.a.organization_id)
    author = desk.a.owner
    poll = _counted(session, channels.brand_account(session, org, kind="mastodon"), author)
    session.commit()

    answer = client.get(f"/api/polls/{poll.id}/results.csv", headers=bearer(desk.a.viewer_token))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith(
        f'attachment; filename="poll-{poll.id}-results-'
    )
    assert answer.headers["cache-control"] == "no-store"
    assert [r["choice"] for r in _rows(answer.text)][1:] == ["Line 4", "Line 7"]
    other = client.get(f"/api/polls/{poll.id}/results.csv", headers=bearer(desk.b.agent_token))
    assert other.status_code == 404
