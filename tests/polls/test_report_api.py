"""The polls report through the API: any member's token reads its own organization's polls
report, as JSON or CSV; the other organization sees none of it; a range that does not read is
a 422 naming the parameter. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Organization
from socialdesk.common import clock
from tests.factories import channels
from tests.factories.polls import held
from tests.polls.conftest import Desk, bearer
from tests.polls.reporting import counted, reply


def _polls(session: Session, desk: Desk) -> tuple[int, int]:
    org = session.get_one(Organization, desk.a.organization_id)
    mastodon = channels.brand_account(session, org, kind="mastodon")
    now = clock.now()
    closed = counted(
        session,
        mastodon,
        desk.a.agent,
        post_id="1001",
        question="Night buses: when should the last one leave?",
        options=("00:30", "01:30"),
        votes=(7, 7),
        posted_at=now - timedelta(days=3),
        closed=True,
    )
    reply(session, mastodon, post_id="1001", author="ana", sentiment="negative", complaint=True)
    reply(session, mastodon, post_id="1001", author="ben", sentiment="positive")
    fresh = counted(session, mastodon, desk.a.agent, post_id="1002")
    held(session, mastodon, desk.a.agent)
    session.commit()
    return closed.id, fresh.id


def test_the_report_as_json(client: TestClient, desk: Desk, session: Session) -> None:
    closed_id, fresh_id = _polls(session, desk)
    response = client.get("/api/reports/polls", headers=bearer(desk.a.viewer_token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["start"], body["end"], body["timezone"]) == ("2025-12-07", "2026-01-05", "UTC")
    assert body["since"] == "2025-12-07T00:00:00+00:00"
    assert body["totals"] == {
        "posted": 2,
        "open": 1,
        "closed": 1,
        "votes": 14,
        "replies": 2,
        "replies_triaged": 2,
        "replies_negative": 1,
        "negative_share": 0.5,
        "complaints": 1,
        "withdrawn": 0,
    }
    assert body["not_posted"] == {"held": 1, "queued": 0, "failed": 0, "rejected": 0}
    assert [p["poll_id"] for p in body["polls"]] == [fresh_id, closed_id]
    fresh, closed = body["polls"]
    assert (fresh["leading"], fresh["leading_share"], fresh["tie"]) == ([], None, False)
    assert closed["leading"] == ["00:30", "01:30"]
    assert (closed["leading_share"], closed["tie"], closed["state"]) == (0.5, True, "closed")
    assert (closed["replies"], closed["replies_negative"], closed["complaints"]) == (2, 1, 1)
    assert closed["channel"] == "mastodon"
    assert closed["posted_at"] == "2026-01-02T09:00:00+00:00"

    # A range that holds only the closed poll's day.
    one_day = client.get(
        "/api/reports/polls?start=2026-01-02&end=2026-01-02", headers=bearer(desk.a.viewer_token)
    ).json()
    assert [p["poll_id"] for p in one_day["polls"]] == [closed_id]
    assert one_day["not_posted"]["held"] == 0


def test_the_other_organization_sees_none_of_it(
    client: TestClient, desk: Desk, session: Session
) -> None:
    _polls(session, desk)
    theirs = client.get("/api/reports/polls", headers=bearer(desk.b.owner_token)).json()
    assert theirs["polls"] == []
    assert theirs["totals"]["posted"] == 0
    assert theirs["not_posted"]["held"] == 0
    exported = client.get("/api/reports/polls.csv", headers=bearer(desk.b.owner_token))
    assert exported.text.splitlines()[1:] == []


def test_the_report_as_csv(client: TestClient, desk: Desk, session: Session) -> None:
    closed_id, fresh_id = _polls(session, desk)
    response = client.get(
        "/api/reports/polls.csv?start=2026-01-01&end=2026-01-05",
        headers=bearer(desk.a.agent_token),
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="polls-2026-01-01-2026-01-05.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(row["poll_id"]) for row in rows] == [fresh_id, closed_id]
    assert rows[1]["leading"] == "00:30 | 01:30"
    assert rows[1]["tie"] == "yes"


def test_refusals_name_the_parameter(client: TestClient, desk: Desk) -> None:
    viewer = bearer(desk.a.viewer_token)
    backwards = client.get("/api/reports/polls?start=2026-02-01&end=2026-01-01", headers=viewer)
    assert backwards.status_code == 422
    assert backwards.json()["error"]["field"] == "end"
    not_a_day = client.get("/api/reports/polls.csv?start=yesterday", headers=viewer)
    assert not_a_day.status_code == 422
    assert not_a_day.json()["error"]["field"] == "start"
    too_long = client.get("/api/reports/polls?start=2024-01-01&end=2026-01-01", headers=viewer)
    assert too_long.status_code == 422
    assert too_long.json()["error"]["field"] == "start"
    assert client.get("/api/reports/polls").status_code == 401
    assert client.get("/api/reports/polls.csv").status_code == 401
