"""The topics report's desk page: any member reads what customers of the last hour, day or week
talk about more than usual, each topic a search of the inbox with example conversations; the
filters reach the report, a wrong period or filter is shown beside the form, and only the
member's own organization is read. The reports link to each other."""

from __future__ import annotations

import csv
import html
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from socialdesk.common import clock
from socialdesk.common.clock import FrozenClock
from socialdesk.topics import service
from socialdesk.web import topics as web_topics
from tests.factories import accounts, channels
from tests.topics.conftest import Desk, say_all
from tests.topics.test_service import SURGE
from tests.web.conftest import login

PAGE = "/reports/topics"


@pytest.fixture
def client(desk: Desk, clock: FrozenClock) -> Iterator[TestClient]:
    from socialdesk.app import create_app

    with TestClient(create_app(), follow_redirects=False) as c:
        yield c


@pytest.fixture
def tweets(shared_dir: Path) -> list[str]:
    """Real customer tweets to brands, in file order."""
    with (shared_dir / "data/twcs/twcs_5000.csv").open(newline="", encoding="utf-8") as f:
        return [row["text"] for row in csv.DictReader(f) if row["inbound"] == "True"]


def _rows(page: str) -> dict[str, str]:
    """The report table's rows by topic."""
    return dict(re.findall(r'<tr data-term="([^"]*)">(.*?)</tr>', page, re.DOTALL))


def _read(page: str) -> str:
    """The sentence saying what was read, on one line."""
    found = re.search(r"<p class=\"muted\" data-read>(.*?)</p>", page, re.DOTALL)
    assert found, "the page does not say what it read"
    return " ".join(html.unescape(found.group(1)).split())


def _error(page: str) -> str:
    found = re.search(r'<p class="form-error" role="alert" id="topics-error"[^>]*>(.*?)</p>', page)
    assert found, "no error beside the form"
    return html.unescape(found.group(1))


def _selected(page: str, name: str) -> str:
    select = re.search(rf'<select id="{name}" name="{name}"[^>]*>(.*?)</select>', page, re.DOTALL)
    assert select, name
    chosen = re.search(r'<option value="([^"]*)" selected>', select.group(1))
    return chosen.group(1) if chosen else ""


def test_a_member_sees_what_customers_talk_about_more_than_usual(
    client: TestClient, desk: Desk, tweets: list[str]
) -> None:
    now = clock.now()
    usual = tweets[:120]
    say_all(desk, usual, start=now - timedelta(days=7, hours=1), end=now - timedelta(hours=1))
    ordinary = tweets[200:210]
    surge_ids = say_all(desk, list(SURGE), start=now - timedelta(minutes=50), end=now)
    say_all(desk, ordinary, start=now - timedelta(hours=1), end=now)
    login(client, desk.ana)

    page = client.get(PAGE, params={"period": "1h"})
    assert page.status_code == 200, page.text
    assert _selected(page.text, "period") == "1h"
    read = _read(page.text)
    shown = len(SURGE) + len(ordinary)
    assert f"Read {shown} of {shown} customer messages from {shown} customers" in read
    assert "compared with the 7 days before (120 customers)" in read
    assert "too little history" not in page.text
    rows = _rows(page.text)
    assert next(iter(rows)) == "signal failure"
    row = rows["signal failure"]
    assert '<a href="/?status=all&amp;q=signal+failure">signal failure</a>' in row
    assert f"<td>{len(SURGE)}</td>" in row
    assert "<td data-lift>new</td>" in row  # no one wrote it the week before
    examples = [int(i) for i in re.findall(r'href="/conversations/(\d+)"', row)]
    assert len(examples) == service.EXAMPLES
    assert set(examples) <= set(surge_ids)

    # The topic's link finds its conversations in the inbox.
    inbox = client.get("/?status=all&q=signal+failure")
    assert inbox.status_code == 200
    for conversation_id in surge_ids:
        assert f'href="/conversations/{conversation_id}"' in inbox.text


def test_a_new_desk_says_it_has_no_usual_yet(client: TestClient, desk: Desk) -> None:
    now = clock.now()
    say_all(desk, list(SURGE), start=now - timedelta(hours=5), end=now)
    login(client, desk.ana)
    page = client.get(PAGE)  # the last day, by default
    assert page.status_code == 200
    assert _selected(page.text, "period") == "24h"
    assert "compared with the 7 days before (0 customers)" in _read(page.text)
    assert "too little history for a usual level yet" in page.text
    assert "ranked by how many customers use them" in page.text
    assert next(iter(_rows(page.text))) == "signal failure"
    assert "Usual share" not in page.text
    assert "Lift" not in page.text


def test_the_filters_reach_the_report_and_its_links(client: TestClient, desk: Desk) -> None:
    now = clock.now()
    for n, text in enumerate(SURGE):
        desk.write(text, account=desk.x, at=now - timedelta(minutes=40 - n), route=False)
    say_all(
        desk,
        ["The app crashes when I pay", "Thanks, the new timetable is great", "Where is my refund"],
        start=now - timedelta(hours=1),
        end=now,
    )
    login(client, desk.ana)

    on_x = client.get(PAGE, params={"period": "1h", "channel": "x"})
    assert on_x.status_code == 200
    assert _selected(on_x.text, "channel") == "x"
    assert f"Read {len(SURGE)} of {len(SURGE)} customer messages" in _read(on_x.text)
    link = '<a href="/?status=all&amp;channel=kind%3Ax&amp;q=signal+failure">'
    assert link in _rows(on_x.text)["signal failure"]

    on_web = client.get(PAGE, params={"period": "1h", "channel": "web"})
    assert "Read 3 of 3 customer messages" in _read(on_web.text)
    assert "Nothing stands out in this period." in on_web.text
    assert not _rows(on_web.text)

    desk.session.commit()
    expected = service.report(
        desk.session, organization_id=desk.org.id, minutes=60, filters={"complaint": True}
    )
    complaints = client.get(PAGE, params={"period": "1h", "complaint": "1"})
    assert complaints.status_code == 200
    assert re.search(r'name="complaint" value="1" checked', complaints.text)
    total = expected.period.messages
    assert 0 < total < len(SURGE) + 3  # the thanks, at least, is no complaint
    assert f"Read {total} of {total} customer messages" in _read(complaints.text)
    for row in _rows(complaints.text).values():
        assert "complaint=1" in row

    negative = client.get(PAGE, params={"period": "6h", "sentiment": "negative", "intent": "other"})
    assert negative.status_code == 200
    assert (_selected(negative.text, "sentiment"), _selected(negative.text, "intent")) == (
        "negative",
        "other",
    )


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"period": "2h"}, "period", "period must be one of 1h, 6h, 24h, 7d, not '2h'"),
        ({"intent": "rant"}, "intent", "'rant'"),
        ({"sentiment": "furious"}, "sentiment", "'furious'"),
        ({"channel": "fax"}, "channel", "'fax'"),
    ],
)
def test_a_wrong_period_or_filter_is_shown_beside_the_form(
    client: TestClient, desk: Desk, params: dict[str, str], field: str, words: str
) -> None:
    login(client, desk.ana)
    page = client.get(PAGE, params=params)
    assert page.status_code == 422
    assert words in _error(page.text)
    assert re.search(
        rf'<(select|input) id="{field}" name="{field}" aria-invalid="true" '
        r'aria-describedby="topics-error">',
        page.text,
    )
    assert 'action="/reports/topics"' in page.text  # the form is still there to fix it
    assert "data-read" not in page.text


def test_logged_out_visitors_are_sent_to_log_in(client: TestClient, desk: Desk) -> None:
    answer = client.get(PAGE, params={"period": "1h"})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")


def test_another_organizations_messages_never_appear(client: TestClient, desk: Desk) -> None:
    other = accounts.organization(desk.session, name="Elsewhere")
    web = channels.brand_account(desk.session, other, kind="web")
    theirs = accounts.member(desk.session, other, name="Zed")
    desk.session.commit()
    now = clock.now()
    their_ids = [
        desk.write(text, account=web, at=now - timedelta(minutes=30 - n), route=False).id
        for n, text in enumerate(SURGE)
    ]
    desk.fresh(theirs)  # loaded now: the test must hold no read open (SQLite has one writer)
    login(client, desk.ana)
    mine = client.get(PAGE, params={"period": "1h"})
    assert mine.status_code == 200
    assert "No customer messages" in _read(mine.text)
    assert "signal failure" not in mine.text
    assert not any(f"/conversations/{i}" in mine.text for i in their_ids)

    client.cookies.clear()
    login(client, theirs)
    seen = client.get(PAGE, params={"period": "1h"})
    assert f"Read {len(SURGE)} of {len(SURGE)}" in _read(seen.text)
    assert "signal failure" in _rows(seen.text)


@pytest.mark.parametrize(
    "current", ["/reports", "/reports/care", "/reports/topics", "/reports/polls"]
)
def test_each_report_links_to_the_others(client: TestClient, desk: Desk, current: str) -> None:
    login(client, desk.ana)
    page = client.get(current)
    assert page.status_code == 200
    nav = re.search(r'<nav class="subnav" aria-label="Reports">(.*?)</nav>', page.text, re.DOTALL)
    assert nav, current
    links = re.findall(r'<a href="([^"]+)"( aria-current="page")?>([^<]+)</a>', nav.group(1))
    assert [(href, label) for href, _, label in links] == [
        ("/reports", "SLA"),
        ("/reports/care", "Care"),
        ("/reports/topics", "Topics"),
        ("/reports/polls", "Polls"),
    ]
    assert [href for href, mark, _ in links if mark] == [current]


def test_shares_and_lifts_read_as_people_write_them() -> None:
    def topic(usual_share: float | None, lift: float | None) -> service.Topic:
        return service.Topic("tram 4", 5, 0.25, usual_share, lift, 30.0, 2, 1, [1])

    assert [web_topics.percent(v) for v in (None, 0, 0.025, 0.0004, 0.38, 1)] == [
        "—",
        "0%",
        "2.5%",
        "<0.1%",
        "38%",
        "100%",
    ]
    assert web_topics.lift_words(topic(0.0, 50.0)) == "new"
    assert web_topics.lift_words(topic(0.05, 3.24)) == "\u00d73.2"
    assert web_topics.lift_words(topic(None, None)) == "—"


def test_admins_can_watch_a_topic_with_an_alert_agents_cannot(
    client: TestClient, desk: Desk
) -> None:
    now = clock.now()
    say_all(desk, list(SURGE), start=now - timedelta(minutes=50), end=now)
    login(client, desk.ana)  # an agent: keeps no alerts
    assert "data-watch" not in client.get(PAGE, params={"period": "1h"}).text

    client.cookies.clear()
    login(client, desk.owner)
    page = client.get(PAGE, params={"period": "1h", "channel": "web"})
    row = _rows(page.text)["signal failure"]
    link = html.unescape(re.search(r'<a href="([^"]*)" data-watch', row).group(1))  # type: ignore[union-attr]
    assert link.startswith("/admin/alerts/new?")
    form = client.get(link)
    assert form.status_code == 200
    assert 'value="signal failure"' in form.text  # the words
    assert "Talk of “signal failure”" in html.unescape(form.text)
    assert re.search(r'<option value="web" selected>', form.text)


def test_the_topics_export_as_csv_safe_for_a_spreadsheet(client: TestClient, desk: Desk) -> None:
    now = clock.now()
    ids = say_all(desk, list(SURGE), start=now - timedelta(minutes=50), end=now)
    login(client, desk.ana)
    page = client.get(PAGE, params={"period": "1h", "channel": "web"})
    found = re.search(r'<a class="button" href="([^"]*)" download data-csv', page.text)
    assert found is not None, "no Export CSV link"
    link = html.unescape(found.group(1))
    assert link == "/reports/topics.csv?period=1h&channel=web"
    answer = client.get(link)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith('attachment; filename="topics-')
    rows = list(csv.DictReader(answer.text.splitlines()))
    top = rows[0]
    assert top["term"] == "signal failure"
    assert top["customers"] == str(len(SURGE))
    assert {int(i) for i in top["conversation_ids"].split()} <= set(ids)
    assert top["period_end"] == now.isoformat()
    # A wrong period is refused, naming it; logged out, no file.
    assert client.get("/reports/topics.csv?period=2y").status_code == 422
    client.cookies.clear()
    assert client.get(link).status_code in (303, 401)


def test_a_cell_a_spreadsheet_would_read_as_a_formula_is_text() -> None:
    from socialdesk.common import spreadsheet

    assert spreadsheet.cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert spreadsheet.cell("@sum") == "'@sum"
    assert spreadsheet.cell("tram 4") == "tram 4"
    assert spreadsheet.cell(0.25) == "0.25"
    assert spreadsheet.cell(1 / 3) == "0.3333"
    assert spreadsheet.cell(None) == ""
