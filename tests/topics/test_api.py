"""The topics report over the REST API: every member reads their own organization's topics; a
wrong period or filter is a 422 naming it; no token, no report."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from socialdesk.common import clock
from tests.factories import accounts, channels
from tests.topics.conftest import Desk, api_headers, say_all
from tests.topics.test_service import SURGE


def test_a_member_reads_the_topics_of_the_last_hour(client: TestClient, desk: Desk) -> None:
    now = clock.now()
    conversation_ids = say_all(desk, SURGE, start=now - timedelta(hours=1), end=now)
    headers = api_headers(desk.session, desk.ana)
    answer = client.get("/api/reports/topics", params={"minutes": 60}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["period"]["messages"] == len(SURGE)
    assert body["has_usual"] is False
    top = body["topics"][0]
    assert top["term"] == "signal failure"
    assert top["customers"] == len(SURGE)
    assert set(top["conversation_ids"]) <= set(conversation_ids)
    assert body["filters"] == {}

    on_x = client.get(
        "/api/reports/topics", params={"minutes": 60, "channel": "x"}, headers=headers
    ).json()
    assert on_x["filters"] == {"channel": "x"}
    assert on_x["period"]["messages"] == 0


def test_the_default_period_is_a_day_and_words_repeat(client: TestClient, desk: Desk) -> None:
    now = clock.now()
    say_all(desk, SURGE, start=now - timedelta(hours=20), end=now)
    headers = api_headers(desk.session, desk.ana)
    body = client.get(
        "/api/reports/topics",
        params=[("words", "central"), ("words", "monday")],
        headers=headers,
    ).json()
    assert body["filters"] == {"words": ["central", "monday"]}
    assert body["period"]["messages"] == 4


def test_wrong_input_is_a_422_naming_it(client: TestClient, desk: Desk) -> None:
    headers = api_headers(desk.session, desk.ana)
    short = client.get("/api/reports/topics", params={"minutes": 1}, headers=headers)
    assert short.status_code == 422
    assert "minutes" in short.text
    wrong = client.get("/api/reports/topics", params={"sentiment": "furious"}, headers=headers)
    assert wrong.status_code == 422
    assert "sentiment" in wrong.text
    assert "furious" in wrong.text


def test_no_token_no_report_and_only_ones_own_organization(client: TestClient, desk: Desk) -> None:
    assert client.get("/api/reports/topics").status_code == 401
    other = accounts.organization(desk.session, name="Elsewhere")
    web = channels.brand_account(desk.session, other, kind="web")
    theirs = accounts.member(desk.session, other, name="Zed")
    desk.session.commit()
    now = clock.now()
    for n, text in enumerate(SURGE):
        desk.write(text, account=web, at=now - timedelta(minutes=30 - n), route=False)
    mine = client.get("/api/reports/topics", headers=api_headers(desk.session, desk.ana)).json()
    assert mine["period"]["messages"] == 0
    seen = client.get("/api/reports/topics", headers=api_headers(desk.session, theirs)).json()
    assert seen["period"]["messages"] == len(SURGE)
