"""The routing API: admins manage settings and rules, members set their own availability,
and nobody reaches another organization's rules."""

from __future__ import annotations

from fastapi.testclient import TestClient

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Role
from tests.factories import accounts
from tests.routing.conftest import Desk, api_headers

RULE = {
    "name": "Complaints to care",
    "conditions": [
        {"field": "is_complaint", "op": "is", "value": True},
        {"field": "priority", "op": ">=", "value": "high"},
    ],
    "actions": [{"type": "add_tag", "tag": "complaint"}, {"type": "auto_assign"}],
    "stop": True,
}


def test_admins_manage_settings_and_rules(client: TestClient, desk: Desk) -> None:
    admin = api_headers(desk.session, desk.owner)
    got = client.get("/api/admin/routing", headers=admin)
    assert got.status_code == 200
    assert got.json() == {
        "strategy": "manual",
        "reassign_when_away": True,
        "reassign_after_minutes": None,
        "updated_at": None,
    }
    put = client.put(
        "/api/admin/routing",
        headers=admin,
        json={
            "strategy": "least_loaded",
            "reassign_when_away": False,
            "reassign_after_minutes": 30,
        },
    )
    assert put.status_code == 200, put.text
    assert put.json()["strategy"] == "least_loaded"
    assert put.json()["updated_at"] == "2026-01-05T09:00:00+00:00"

    made = client.post("/api/admin/routing/rules", headers=admin, json=RULE)
    assert made.status_code == 201, made.text
    rule = made.json()
    assert rule["conditions"][1] == {"field": "priority", "op": ">=", "value": 2}
    second = client.post(
        "/api/admin/routing/rules",
        headers=admin,
        json={
            "name": "First",
            "actions": [{"type": "set_team", "team_id": desk.care.id}],
            "position": 1,
        },
    ).json()
    listed = client.get("/api/admin/routing/rules", headers=admin).json()
    assert [r["name"] for r in listed] == ["First", "Complaints to care"]
    reordered = client.post(
        "/api/admin/routing/rules/reorder", headers=admin, json={"ids": [rule["id"], second["id"]]}
    )
    assert [r["name"] for r in reordered.json()] == ["Complaints to care", "First"]
    changed = client.put(
        f"/api/admin/routing/rules/{rule['id']}",
        headers=admin,
        json={**RULE, "name": "Renamed", "enabled": False},
    )
    assert changed.status_code == 200
    assert changed.json()["enabled"] is False
    assert (
        client.get(f"/api/admin/routing/rules/{rule['id']}", headers=admin).json()["name"]
        == "Renamed"
    )
    assert client.delete(f"/api/admin/routing/rules/{rule['id']}", headers=admin).status_code == 204
    assert client.get(f"/api/admin/routing/rules/{rule['id']}", headers=admin).status_code == 404


def test_bad_rules_are_a_422_naming_the_condition_and_field(client: TestClient, desk: Desk) -> None:
    admin = api_headers(desk.session, desk.owner)
    bad = client.post(
        "/api/admin/routing/rules",
        headers=admin,
        json={**RULE, "conditions": [{"field": "priority", "op": "above", "value": 2}]},
    )
    assert bad.status_code == 422
    error = bad.json()["error"]
    assert error["field"] == "conditions[0].op"
    assert error["message"].startswith("condition 1 (priority): op must be one of")
    notify = client.post(
        "/api/admin/routing/rules",
        headers=admin,
        json={**RULE, "actions": [{"type": "notify", "to": "team_lead"}]},
    )
    assert notify.status_code == 422  # notify is for automation rules
    assert notify.json()["error"]["field"] == "actions[0].type"
    unknown = client.post("/api/admin/routing/rules", headers=admin, json={**RULE, "colour": "red"})
    assert unknown.status_code == 422


def test_agents_and_viewers_cannot_touch_routing_admin(client: TestClient, desk: Desk) -> None:
    viewer = accounts.member(desk.session, desk.org, role=Role.VIEWER)
    for member in (desk.ana, viewer):
        headers = api_headers(desk.session, member)
        for method, path, body in [
            ("GET", "/api/admin/routing", None),
            ("PUT", "/api/admin/routing", {"strategy": "round_robin"}),
            ("GET", "/api/admin/routing/rules", None),
            ("POST", "/api/admin/routing/rules", RULE),
            ("GET", "/api/admin/automation", None),
            (
                "POST",
                "/api/admin/automation",
                {
                    "name": "x",
                    "trigger": "no_reply",
                    "delay_minutes": 5,
                    "actions": [{"type": "add_tag", "tag": "x"}],
                },
            ),
            ("PUT", f"/api/admin/routing/members/{member.id}", {"capacity": 99}),
        ]:
            response = client.request(method, path, headers=headers, json=body)
            assert response.status_code == 403, (member.role, method, path, response.text)
    assert client.get("/api/admin/routing").status_code == 401


def test_another_organizations_rules_are_not_found(client: TestClient, desk: Desk) -> None:
    admin = api_headers(desk.session, desk.owner)
    rule = client.post("/api/admin/routing/rules", headers=admin, json=RULE).json()
    auto = client.post(
        "/api/admin/automation",
        headers=admin,
        json={
            "name": "Lead",
            "trigger": "no_reply",
            "delay_minutes": 15,
            "actions": [{"type": "notify", "to": "team_lead"}],
        },
    )
    assert auto.status_code == 201, auto.text
    other = accounts.organization(desk.session)
    stranger = api_headers(desk.session, accounts.member(desk.session, other, role=Role.OWNER))
    for method, path in [
        ("GET", f"/api/admin/routing/rules/{rule['id']}"),
        ("DELETE", f"/api/admin/routing/rules/{rule['id']}"),
        ("GET", f"/api/admin/automation/{auto.json()['id']}"),
        ("GET", f"/api/admin/automation/{auto.json()['id']}/runs"),
        ("DELETE", f"/api/admin/automation/{auto.json()['id']}"),
        ("PUT", f"/api/admin/routing/members/{desk.ana.id}"),
    ]:
        assert (
            client.request(method, path, headers=stranger, json={"capacity": 1}).status_code == 404
        )
    assert client.get("/api/admin/routing/rules", headers=stranger).json() == []
    # Their own rules cannot name our teams either: to them, our team does not exist.
    foreign = client.post(
        "/api/admin/routing/rules",
        headers=stranger,
        json={"name": "x", "actions": [{"type": "set_team", "team_id": desk.care.id}]},
    )
    assert foreign.status_code == 404
    assert foreign.json()["error"]["field"] == "actions[0].team_id"


def test_a_rule_naming_an_unknown_object_is_a_404_naming_where(
    client: TestClient, desk: Desk
) -> None:
    """As an unknown assignee or team in any other body: 404, with the field that names it."""
    admin = api_headers(desk.session, desk.owner)
    other = accounts.organization(desk.session)
    stranger = accounts.member(desk.session, other)
    desk.session.commit()
    routing = client.post("/api/admin/routing/rules", headers=admin, json=RULE).json()
    automation = client.post(
        "/api/admin/automation",
        headers=admin,
        json={
            "name": "Nudge",
            "trigger": "no_reply",
            "delay_minutes": 15,
            "actions": RULE["actions"],
        },
    ).json()
    unknown = 987_654
    # path, body, the field the error names, the object named
    cases: list[tuple[str, str, dict[str, object], str, str]] = [
        (
            "POST",
            "/api/admin/routing/rules",
            {**RULE, "actions": [{"type": "assign_to", "member_id": stranger.id}]},
            "actions[0].member_id",
            f"member {stranger.id}",
        ),
        (
            "PUT",
            f"/api/admin/routing/rules/{routing['id']}",
            {
                **RULE,
                "actions": [
                    {"type": "add_tag", "tag": "x"},
                    {"type": "assign_to", "member_id": unknown},
                ],
            },
            "actions[1].member_id",
            f"member {unknown}",
        ),
        (
            "POST",
            "/api/admin/routing/rules",
            {**RULE, "conditions": [{"field": "team_id", "op": "is", "value": unknown}]},
            "conditions[0].value",
            f"team {unknown}",
        ),
        (
            "POST",
            "/api/admin/routing/rules",
            {**RULE, "conditions": [{"field": "brand_account_id", "op": "is", "value": unknown}]},
            "conditions[0].value",
            f"brand account {unknown}",
        ),
        (
            "POST",
            "/api/admin/automation",
            {
                "name": "Hand over",
                "trigger": "no_reply",
                "delay_minutes": 15,
                "actions": [{"type": "set_team", "team_id": unknown}],
            },
            "actions[0].team_id",
            f"team {unknown}",
        ),
        (
            "PUT",
            f"/api/admin/automation/{automation['id']}",
            {
                "name": "Nudge",
                "trigger": "no_reply",
                "delay_minutes": 15,
                "actions": [{"type": "assign_to", "member_id": stranger.id}],
            },
            "actions[0].member_id",
            f"member {stranger.id}",
        ),
    ]
    for method, path, body, field, named in cases:
        response = client.request(method, path, headers=admin, json=body)
        assert response.status_code == 404, (method, path, response.text)
        error = response.json()["error"]
        assert error["code"] == "not_found"
        assert error["field"] == field, (method, path, error)
        assert error["message"] == f"{field}: {named} does not exist"
    # Nothing was stored or changed.
    assert [r["id"] for r in client.get("/api/admin/routing/rules", headers=admin).json()] == [
        routing["id"]
    ]
    assert client.get(f"/api/admin/routing/rules/{routing['id']}", headers=admin).json() == routing
    # A member who exists but is deactivated is a refused value, as when assigning one.
    desk.ben.is_active = False
    desk.session.commit()
    deactivated = client.post(
        "/api/admin/routing/rules",
        headers=admin,
        json={**RULE, "actions": [{"type": "assign_to", "member_id": desk.ben.id}]},
    )
    assert deactivated.status_code == 422, deactivated.text
    assert deactivated.json()["error"]["field"] == "actions[0].member_id"


def test_members_set_their_own_availability(client: TestClient, desk: Desk) -> None:
    ana = api_headers(desk.session, desk.ana)
    away = client.put("/api/members/me/availability", headers=ana, json={"availability": "away"})
    assert away.status_code == 200, away.text
    assert away.json() == {
        "member_id": desk.ana.id,
        "availability": "away",
        "availability_changed_at": "2026-01-05T09:00:00+00:00",
        "on_duty": False,
        "reassigned": [],
        "picked_up": [],
    }
    board = client.get("/api/members/on-duty", headers=ana).json()
    row = next(r for r in board if r["id"] == desk.ana.id)
    assert row["on_duty"] is False
    assert row["why_not"] == "Ana went away"
    bad = client.put("/api/members/me/availability", headers=ana, json={"availability": "gone"})
    assert bad.status_code == 422
    billing = client.get(f"/api/members/on-duty?team_id={desk.billing.id}", headers=ana)
    assert billing.json() == []  # nobody in billing
    care = client.get(f"/api/members/on-duty?team_id={desk.care.id}", headers=ana).json()
    assert [(r["name"], r["on_duty"]) for r in care] == [
        ("Ana", False),
        ("Ben", True),
        ("Cy", True),
    ]
    other = accounts.organization(desk.session)
    their_team = accounts_service.create_team(desk.session, organization_id=other.id, name="X")
    desk.session.commit()
    hidden = client.get(f"/api/members/on-duty?team_id={their_team.id}", headers=ana)
    assert hidden.status_code == 404


def test_admins_set_capacity_and_languages(client: TestClient, desk: Desk) -> None:
    admin = api_headers(desk.session, desk.owner)
    response = client.put(
        f"/api/admin/routing/members/{desk.ben.id}",
        headers=admin,
        json={"capacity": 4, "languages": ["ES", "en", "es"], "availability": "away"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["capacity"] == 4
    assert response.json()["languages"] == ["es", "en"]
    assert response.json()["availability"] == "away"
    bad = client.put(
        f"/api/admin/routing/members/{desk.ben.id}",
        headers=admin,
        json={"capacity": 4, "languages": ["english"]},
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "languages"


def test_automation_rules_and_their_runs(client: TestClient, desk: Desk) -> None:
    admin = api_headers(desk.session, desk.owner)
    made = client.post(
        "/api/admin/automation",
        headers=admin,
        json={
            "name": "Tag refunds",
            "trigger": "message.created",
            "conditions": [{"field": "keywords", "op": "any", "value": ["refund"]}],
            "actions": [{"type": "add_tag", "tag": "refund"}],
        },
    )
    assert made.status_code == 201, made.text
    rule_id = made.json()["id"]
    desk.write("I want a refund")
    runs = client.get(f"/api/admin/automation/{rule_id}/runs", headers=admin).json()
    assert [r["outcome"] for r in runs] == ["fired: tagged #refund"]
    bad = client.put(
        f"/api/admin/automation/{rule_id}",
        headers=admin,
        json={**made.json() | {}, "trigger": "no_reply"} | {"id": None},
    )
    assert bad.status_code == 422  # unknown fields (id, created_at...) are refused
    updated = client.put(
        f"/api/admin/automation/{rule_id}",
        headers=admin,
        json={
            "name": "Tag refunds",
            "trigger": "no_reply",
            "delay_minutes": 60,
            "actions": [{"type": "add_tag", "tag": "refund"}],
        },
    )
    assert updated.status_code == 200
    assert updated.json()["trigger"] == "no_reply"
    assert client.get("/api/admin/automation", headers=admin).json()[0]["delay_minutes"] == 60
