"""The volume alerts API: admins keep alerts and read their firings; agents cannot; another
organization's alerts are not there; a wrong alert is a 422 naming the field."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from socialdesk.accounts.models import Role
from tests.alerts.conftest import Desk, api_headers
from tests.factories import accounts


def _body(desk: Desk, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "Fare change backlash",
        "filters": {"complaint": True, "words": ["fare", " price "]},
        "window_minutes": 30,
        "threshold": 10,
        "baseline_factor": 3,
        "notify_to": "team",
        "team_id": desk.care.id,
        "webhook": False,
    }
    body.update(changes)
    return body


def test_admins_keep_alerts_and_read_their_firings(client: TestClient, desk: Desk) -> None:
    admin = api_headers(desk.session, desk.owner)
    created = client.post("/api/admin/alerts", headers=admin, json=_body(desk))
    assert created.status_code == 201, created.text
    alert = created.json()
    assert alert["filters"] == {"complaint": True, "words": ["fare", "price"]}
    assert alert["firing_since"] is None
    assert alert["last_count"] == 0
    listed = client.get("/api/admin/alerts", headers=admin).json()
    assert [a["id"] for a in listed] == [alert["id"]]

    replaced = client.put(
        f"/api/admin/alerts/{alert['id']}",
        headers=admin,
        json=_body(desk, threshold=5, notify_to="admins", team_id=None, baseline_factor=None),
    )
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["threshold"], replaced.json()["notify_to"]) == (5, "admins")

    firings = client.get(f"/api/admin/alerts/{alert['id']}/firings", headers=admin)
    assert firings.status_code == 200
    assert firings.json() == []
    gone = client.delete(f"/api/admin/alerts/{alert['id']}", headers=admin)
    assert gone.status_code == 204
    assert client.get(f"/api/admin/alerts/{alert['id']}", headers=admin).status_code == 404


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"window_minutes": 2}, "window_minutes"),
        ({"notify_to": "team", "team_id": None}, "team_id"),
        ({"filters": {"sentiment": "furious"}}, "sentiment"),
        ({"baseline_factor": 1000}, "baseline_factor"),
    ],
)
def test_a_wrong_alert_is_a_422_naming_the_field(
    client: TestClient, desk: Desk, changes: dict[str, object], field: str
) -> None:
    refused = client.post(
        "/api/admin/alerts",
        headers=api_headers(desk.session, desk.owner),
        json=_body(desk, **changes),
    )
    assert refused.status_code == 422
    assert field in refused.text


def test_an_unknown_filter_is_refused_by_the_schema(client: TestClient, desk: Desk) -> None:
    refused = client.post(
        "/api/admin/alerts",
        headers=api_headers(desk.session, desk.owner),
        json=_body(desk, filters={"mood": "angry"}),
    )
    assert refused.status_code == 422
    assert "mood" in refused.text


def test_agents_cannot_and_other_organizations_do_not_see(client: TestClient, desk: Desk) -> None:
    admin = api_headers(desk.session, desk.owner)
    alert = client.post("/api/admin/alerts", headers=admin, json=_body(desk)).json()
    agent = api_headers(desk.session, desk.ana)
    assert client.get("/api/admin/alerts", headers=agent).status_code == 403
    assert client.post("/api/admin/alerts", headers=agent, json=_body(desk)).status_code == 403

    other = accounts.organization(desk.session, name="Other")
    their_admin = accounts.member(desk.session, other, role=Role.ADMIN, name="Them")
    theirs = api_headers(desk.session, their_admin)
    assert client.get("/api/admin/alerts", headers=theirs).json() == []
    for method in ("get", "delete"):
        answer = getattr(client, method)(f"/api/admin/alerts/{alert['id']}", headers=theirs)
        assert answer.status_code == 404
    put = client.put(
        f"/api/admin/alerts/{alert['id']}",
        headers=theirs,
        json=_body(desk, notify_to="admins", team_id=None),
    )
    assert put.status_code == 404
