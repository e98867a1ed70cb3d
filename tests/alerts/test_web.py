"""The volume alerts pages: admins add, change and delete alerts through a form of plain fields
and read what each counts, who it tells and its firings; a refusal is shown beside the form with
what was typed; agents, forged posts and other organizations' alerts get nowhere."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from socialdesk.accounts.models import Role
from socialdesk.alerts import service
from socialdesk.alerts.models import AlertFiring, VolumeAlert
from socialdesk.common.clock import FrozenClock
from socialdesk.db.session import get_sessionmaker
from tests.alerts.conftest import Desk
from tests.factories import accounts
from tests.web.conftest import login

FARES = "The new fares are far too expensive"


@pytest.fixture
def client(desk: Desk, clock: FrozenClock) -> Iterator[TestClient]:
    from socialdesk.app import create_app

    with TestClient(create_app(), follow_redirects=False) as c:
        yield c


def _form(csrf: str, desk: Desk, **changes: str) -> dict[str, str]:
    """A complete form as a browser sends it; a key set to "" stands for an unticked box."""
    data = {
        "csrf_token": csrf,
        "name": "Fare change backlash",
        "enabled": "1",
        "complaint": "1",
        "intent": "complaint",
        "sentiment": "negative",
        "channel": "x",
        "words": "fare, price ,, ",
        "window_minutes": "30",
        "threshold": "10",
        "baseline_factor": "2.5",
        "notify_to": "team",
        "team_id": str(desk.care.id),
        "member_id": "",
        "webhook": "1",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value or key not in ("enabled", "webhook")}


def _stored(desk: Desk) -> list[dict[str, Any]]:
    with get_sessionmaker(write=False)() as reader:
        return [
            {
                "name": a.name,
                "enabled": a.enabled,
                "filters": a.filters,
                "window_minutes": a.window_minutes,
                "threshold": a.threshold,
                "baseline_factor": a.baseline_factor,
                "notify_to": a.notify_to,
                "team_id": a.team_id,
                "member_id": a.member_id,
                "webhook": a.webhook,
            }
            for a in service.list_alerts(reader, organization_id=desk.org.id)
        ]


def _alert(desk: Desk, **changes: Any) -> VolumeAlert:
    fields: dict[str, Any] = {
        "name": "Fare change backlash",
        "window_minutes": 15,
        "threshold": 2,
        "notify_to": "team_lead",
        "team_id": desk.care.id,
        "filters": {"words": ["fare"]},
    }
    fields.update(changes)
    alert = service.create(
        desk.session,
        organization_id=desk.org.id,
        spec=service.AlertSpec(**fields),
        actor=desk.owner,
    )
    desk.session.commit()
    return alert


def _text(page: str) -> str:
    """The page's text with its markup's escapes read (Care&#39;s -> Care's)."""
    return html.unescape(page)


def test_an_admin_adds_an_alert_through_the_form_and_sees_it_listed(
    client: TestClient, desk: Desk
) -> None:
    csrf = login(client, desk.owner)
    empty = client.get("/admin/alerts")
    assert empty.status_code == 200
    assert '<a href="/admin/alerts" aria-current="page">Alerts</a>' in empty.text
    assert "No alerts yet." in empty.text
    new = client.get("/admin/alerts/new")
    assert new.status_code == 200
    for name in ("name", "words", "window_minutes", "threshold", "baseline_factor"):
        found = re.search(rf'<input id="([^"]+)" name="{name}"', new.text)
        assert found, name
        assert f'<label for="{found.group(1)}">' in new.text, name
    assert '<option value="idea">idea</option>' in new.text
    assert f'<option value="{desk.billing.id}">Billing</option>' in new.text

    made = client.post("/admin/alerts", data=_form(csrf, desk))
    assert made.status_code == 303, made.text
    assert made.headers["location"] == "/admin/alerts"
    assert _stored(desk) == [
        {
            "name": "Fare change backlash",
            "enabled": True,
            "filters": {
                "complaint": True,
                "intent": "complaint",
                "sentiment": "negative",
                "channel": "x",
                "words": ["fare", "price"],
            },
            "window_minutes": 30,
            "threshold": 10,
            "baseline_factor": 2.5,
            "notify_to": "team",
            "team_id": desk.care.id,
            "member_id": None,
            "webhook": True,
        }
    ]
    listing = _text(client.get("/admin/alerts").text)
    words = re.sub(r"<[^>]+>", "", listing)
    assert "Counts: complaints, intent complaint, negative, on X, mentioning “fare” or “price”" in (
        words
    )
    over = "Goes over with: at least 10 in 30 minutes, and ×2.5 the usual"  # noqa: RUF001 - as shown
    assert over in words
    assert "Tells: everyone in Care, and Care's webhook" in words
    assert "Not checked yet" in listing


def test_editing_shows_the_stored_values_and_saves_the_changes(
    client: TestClient, desk: Desk
) -> None:
    alert = _alert(
        desk,
        filters={"complaint": False, "channel": "web", "words": ["fare", "ticket price"]},
        baseline_factor=2.0,
    )
    csrf = login(client, desk.owner)
    edit = client.get(f"/admin/alerts/{alert.id}")
    assert edit.status_code == 200
    assert '<option value="0" selected>not complaints</option>' in edit.text
    assert '<option value="web" selected>' in edit.text
    assert 'value="fare, ticket price"' in edit.text
    assert re.search(r'name="baseline_factor"[^>]* value="2"', edit.text)
    assert '<option value="team_lead" selected>' in edit.text
    assert "It has not gone over yet." in edit.text

    # Saved as shown, nothing changes (a "not complaints" alert stays one).
    before = _stored(desk)
    unchanged = {
        "csrf_token": csrf,
        "name": "Fare change backlash",
        "enabled": "1",
        "complaint": "0",
        "channel": "web",
        "words": "fare, ticket price",
        "window_minutes": "15",
        "threshold": "2",
        "baseline_factor": "2",
        "notify_to": "team_lead",
        "team_id": str(desk.care.id),
    }
    assert client.post(f"/admin/alerts/{alert.id}", data=unchanged).status_code == 303
    assert _stored(desk) == before

    changed = client.post(
        f"/admin/alerts/{alert.id}",
        data={
            **unchanged,
            "enabled": "",
            "complaint": "",
            "words": "",
            "threshold": "40",
            "baseline_factor": "",
            "notify_to": "member",
            "member_id": str(desk.ben.id),
        },
    )
    assert changed.status_code == 303, changed.text
    [stored] = _stored(desk)
    assert stored["filters"] == {"channel": "web"}
    assert (stored["threshold"], stored["baseline_factor"]) == (40, None)
    assert (stored["notify_to"], stored["member_id"], stored["enabled"]) == (
        "member",
        desk.ben.id,
        False,
    )
    listing = re.sub(r"<[^>]+>", "", _text(client.get("/admin/alerts").text))
    assert "Fare change backlash (off)" in listing
    assert "Tells: Ben\n" in listing
    assert "Goes over with: at least 40 in 15 minutes\n" in listing


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"window_minutes": "2"}, "window_minutes", "window_minutes must be between 5 and 1440"),
        (
            {"notify_to": "team_lead", "team_id": ""},
            "team_id",
            "choose the team: the alert tells the lead of a team",
        ),
        ({"notify_to": "member"}, "member_id", "choose the member to tell"),
        ({"name": "  "}, "name", "an alert needs a name"),
        ({"threshold": "abc"}, "threshold", "threshold must be a whole number of messages"),
        ({"threshold": ""}, "threshold", "threshold must be a whole number of messages"),
        ({"window_minutes": "7.5"}, "window_minutes", "window_minutes must be a whole number"),
        ({"baseline_factor": "lots"}, "baseline_factor", "baseline_factor must be a number"),
        ({"baseline_factor": "0.5"}, "baseline_factor", "baseline_factor must be between 1"),
        ({"intent": "rant"}, "intent", "intent must be one of"),
        ({"complaint": "maybe"}, "complaint", "the complaints filter must be empty"),
        ({"team_id": "care"}, "team_id", "team_id must be an id from the list"),
        ({"team_id": "9" * 20}, "team_id", "team_id must be an id from the list"),
        ({"notify_to": "member", "member_id": "9" * 20}, "member_id", "must be an id"),
    ],
)
def test_a_refusal_is_shown_beside_the_form_and_nothing_is_stored(
    client: TestClient, desk: Desk, changes: dict[str, str], field: str, message: str
) -> None:
    csrf = login(client, desk.owner)
    answer = client.post("/admin/alerts", data=_form(csrf, desk, **changes))
    assert answer.status_code == 422
    page = _text(answer.text)
    assert f'<p class="form-error" role="alert" id="error-alert" data-field="{field}">' in page
    assert message in page
    # What was typed is shown again, and the input named by the refusal is marked.
    if field != "name":
        assert 'value="Fare change backlash"' in page
    assert 'value="fare, price ,,"' in page
    marked = re.search(rf'name="{field}"[^>]*aria-invalid="true"', page)
    assert marked, page
    assert _stored(desk) == []


def test_a_refused_change_leaves_the_alert_as_it_was(client: TestClient, desk: Desk) -> None:
    alert = _alert(desk)
    before = _stored(desk)
    csrf = login(client, desk.owner)
    answer = client.post(
        f"/admin/alerts/{alert.id}", data=_form(csrf, desk, threshold="0", name="Renamed")
    )
    assert answer.status_code == 422
    assert "threshold must be between 1 and 100000, not 0" in answer.text
    assert 'value="Renamed"' in answer.text
    assert "Latest firings" in answer.text
    assert _stored(desk) == before


def test_deleting_an_alert(client: TestClient, desk: Desk) -> None:
    alert = _alert(desk)
    kept = _alert(desk, name="Kept")
    csrf = login(client, desk.owner)
    gone = client.post(f"/admin/alerts/{alert.id}/delete", data={"csrf_token": csrf})
    assert gone.status_code == 303
    assert gone.headers["location"] == "/admin/alerts"
    assert [a["name"] for a in _stored(desk)] == [kept.name]
    assert client.get(f"/admin/alerts/{alert.id}").status_code == 404


def test_agents_and_forged_posts_are_refused(client: TestClient, desk: Desk) -> None:
    alert = _alert(desk)
    before = _stored(desk)
    csrf = login(client, desk.ana)
    for path in ("/admin/alerts", "/admin/alerts/new", f"/admin/alerts/{alert.id}"):
        assert client.get(path).status_code == 403, path
    assert client.post("/admin/alerts", data=_form(csrf, desk)).status_code == 403
    assert client.post(f"/admin/alerts/{alert.id}", data=_form(csrf, desk)).status_code == 403
    deleted = client.post(f"/admin/alerts/{alert.id}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 403

    # Without the form's CSRF token (or with another one) even the owner is refused.
    client.cookies.clear()
    login(client, desk.owner)
    forged = _form("not-the-token", desk)
    assert client.post("/admin/alerts", data=forged).status_code == 403
    del forged["csrf_token"]
    assert client.post("/admin/alerts", data=forged).status_code == 403
    assert client.post(f"/admin/alerts/{alert.id}", data=forged).status_code == 403
    assert client.post(f"/admin/alerts/{alert.id}/delete").status_code == 403
    assert _stored(desk) == before


def test_another_organizations_alert_is_not_there(client: TestClient, desk: Desk) -> None:
    other = accounts.organization(desk.session, name="Other")
    owner = accounts.member(desk.session, other, role=Role.OWNER)
    desk.session.commit()
    alert = _alert(desk)
    csrf = login(client, owner)
    assert client.get(f"/admin/alerts/{alert.id}").status_code == 404
    assert client.get(f"/admin/alerts/{'9' * 20}").status_code == 404  # past any row id
    assert client.post(f"/admin/alerts/{alert.id}", data=_form(csrf, desk)).status_code == 404
    deleted = client.post(f"/admin/alerts/{alert.id}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 404
    assert "Fare change backlash" not in client.get("/admin/alerts").text
    assert len(_stored(desk)) == 1


def test_a_firing_is_shown_with_its_examples(client: TestClient, desk: Desk) -> None:
    desk.care.lead_member_id = desk.ana.id
    alert = _alert(desk)
    written = [desk.write(FARES, route=False).id for _ in range(2)]
    desk.session.refresh(alert)
    assert service.check(desk.session, alert).outcome == "fired"
    desk.session.commit()
    login(client, desk.owner)

    listing = client.get("/admin/alerts").text
    assert '<p class="notice" data-state="over">Over since <time' in listing
    assert "last count 2 at <time" in listing

    page = client.get(f"/admin/alerts/{alert.id}")
    assert page.status_code == 200
    with get_sessionmaker(write=False)() as reader:
        firing = reader.scalars(select(AlertFiring)).one()
    row = re.search(rf'<tr data-firing="{firing.id}">(.*?)</tr>', page.text, re.S)
    assert row
    cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.S)
    assert cells[1:] == [
        "still over",
        "2",
        "2",
        "—",
        "1 person",
        ", ".join(f'<a href="/conversations/{n}">#{n}</a>' for n in reversed(written)),
    ]

    # Back below: quiet again, and the firing has its end.
    desk.advance(minutes=16)
    desk.session.refresh(alert)
    assert service.check(desk.session, alert).outcome == "calmed"
    desk.session.commit()
    listing = client.get("/admin/alerts").text
    assert '<p class="muted" data-state="quiet">Quiet · last count 0 at <time' in listing
    assert "still over" not in client.get(f"/admin/alerts/{alert.id}").text


def test_what_stands_out_in_a_surge_is_shown_while_it_is_over(
    client: TestClient, desk: Desk
) -> None:
    from tests.topics.test_service import SURGE

    alert = _alert(desk, filters={"words": ["signal"], "channel": "web"}, threshold=len(SURGE))
    for text in SURGE:
        desk.write(text, route=False)
    desk.session.refresh(alert)
    assert service.check(desk.session, alert).outcome == "fired"
    desk.session.commit()
    login(client, desk.owner)
    # Each opens the inbox searching for it under the alert's own filters.
    link = '<a href="/?status=all&amp;channel=kind%3Aweb&amp;q=signal+failure">signal failure</a>'
    listing = client.get("/admin/alerts").text
    assert f"standing out: {link}" in listing
    page = client.get(f"/admin/alerts/{alert.id}").text
    assert re.search(rf"<td data-topics>{re.escape(link)}", page)
    # The link finds the surge's conversations.
    inbox = client.get("/?status=all&channel=kind%3Aweb&q=signal+failure").text
    listed = set(map(int, re.findall(r'data-conversation-id="(\d+)"', inbox)))
    assert listed
    assert listed <= set(desk.conversations)

    # Calmed down: the list no longer says it.
    desk.advance(minutes=16)
    desk.session.refresh(alert)
    assert service.check(desk.session, alert).outcome == "calmed"
    desk.session.commit()
    assert "standing out" not in client.get("/admin/alerts").text
