"""The SLA and business-hours API: CRUD, validation errors that name the field, ordering,
refusals, a conversation's clocks, the report, and who may call what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Role
from socialdesk.common.clock import FrozenClock
from tests.conftest import JobRunner
from tests.factories import accounts, channels
from tests.sla.conftest import OFFICE, World, customer_writes, token

HOURS = {"name": "Office", "timezone": "Europe/Berlin", "intervals": OFFICE}


def admin(session: Session, world: World) -> dict[str, str]:
    return token(session, world.owner)


def test_business_hours_crud(client: TestClient, session: Session, world: World) -> None:
    auth = admin(session, world)
    made = client.post(
        "/api/admin/business-hours",
        json={
            **HOURS,
            "intervals": {"1": [["13:00", "17:00"], ["9:00", "12:00"]]},
            "holidays": ["2026-12-25", "2026-12-24", "2026-12-25"],
        },
        headers=auth,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    # Stored in canonical form: sorted, HH:MM, holidays once each.
    assert body["intervals"] == {"1": [["09:00", "12:00"], ["13:00", "17:00"]]}
    assert body["holidays"] == ["2026-12-24", "2026-12-25"]
    hours_id = body["id"]
    listed = client.get("/api/admin/business-hours", headers=auth).json()["items"]
    assert [h["name"] for h in listed] == ["Office"]
    changed = client.patch(
        f"/api/admin/business-hours/{hours_id}", json={"timezone": "America/New_York"}, headers=auth
    )
    assert changed.status_code == 200
    assert changed.json()["timezone"] == "America/New_York"
    assert changed.json()["intervals"] == body["intervals"]  # untouched
    assert client.get(f"/api/admin/business-hours/{hours_id}", headers=auth).status_code == 200
    assert client.delete(f"/api/admin/business-hours/{hours_id}", headers=auth).status_code == 204
    assert client.get(f"/api/admin/business-hours/{hours_id}", headers=auth).status_code == 404


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({"intervals": {"0": [["09:00", "25:00"]]}}, "intervals", "'25:00'"),
        (
            {"intervals": {"2": [["17:00", "09:00"]]}},
            "intervals",
            "Wednesday: 17:00-09:00 ends before",
        ),
        (
            {"intervals": {"0": [["09:00", "13:00"], ["12:00", "17:00"]]}},
            "intervals",
            "Monday: 09:00-13:00 overlaps 12:00-17:00",
        ),
        ({"intervals": {"7": [["09:00", "17:00"]]}}, "intervals", "0 (Monday) to 6 (Sunday)"),
        ({"intervals": {}}, "intervals", "at least one open interval"),
        ({"holidays": ["2026-02-30"]}, "holidays", "'2026-02-30'"),
        ({"name": "  "}, "name", "name"),
    ],
)
def test_business_hours_validation_names_the_field(
    client: TestClient,
    session: Session,
    world: World,
    change: dict[str, object],
    field: str,
    words: str,
) -> None:
    answer = client.post(
        "/api/admin/business-hours", json={**HOURS, **change}, headers=admin(session, world)
    )
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["field"] == field
    assert words in error["message"]


def test_business_hours_in_use_cannot_be_deleted(
    client: TestClient, session: Session, world: World
) -> None:
    auth = admin(session, world)
    hours_id = client.post("/api/admin/business-hours", json=HOURS, headers=auth).json()["id"]
    world.team.business_hours_id = hours_id
    session.commit()
    client.post(
        "/api/admin/sla/policies",
        json={"name": "Office SLA", "first_response_minutes": 60, "business_hours_id": hours_id},
        headers=auth,
    )
    refused = client.delete(f"/api/admin/business-hours/{hours_id}", headers=auth)
    assert refused.status_code == 409
    message = refused.json()["error"]["message"]
    assert "team Care" in message
    assert "SLA policy Office SLA" in message
    duplicate = client.post("/api/admin/business-hours", json=HOURS, headers=auth)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["field"] == "name"


def test_policies_crud_and_order(client: TestClient, session: Session, world: World) -> None:
    auth = admin(session, world)
    a = client.post(
        "/api/admin/sla/policies", json={"name": "A", "first_response_minutes": 60}, headers=auth
    )
    assert a.status_code == 201, a.text
    b = client.post(
        "/api/admin/sla/policies",
        json={"name": "B", "priority": 3, "first_response_minutes": 15, "position": 0},
        headers=auth,
    ).json()
    listed = client.get("/api/admin/sla/policies", headers=auth).json()["items"]
    assert [(p["name"], p["position"]) for p in listed] == [("B", 0), ("A", 1)]
    reordered = client.put(
        "/api/admin/sla/policies/order", json={"ids": [a.json()["id"], b["id"]]}, headers=auth
    )
    assert [p["name"] for p in reordered.json()["items"]] == ["A", "B"]
    bad = client.put("/api/admin/sla/policies/order", json={"ids": [b["id"]]}, headers=auth)
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "ids"
    assert "missing" in bad.json()["error"]["message"]
    patched = client.patch(
        f"/api/admin/sla/policies/{b['id']}",
        json={"priority": None, "resolution_minutes": 240, "enabled": False},
        headers=auth,
    ).json()
    assert (patched["priority"], patched["resolution_minutes"], patched["enabled"]) == (
        None,
        240,
        False,
    )
    assert patched["first_response_minutes"] == 15  # not sent, unchanged
    assert client.delete(f"/api/admin/sla/policies/{b['id']}", headers=auth).status_code == 204
    assert client.get(f"/api/admin/sla/policies/{b['id']}", headers=auth).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X"}, "first_response_minutes"),  # no target at all
        ({"name": "X", "first_response_minutes": 0}, "first_response_minutes"),
        ({"name": "X", "resolution_minutes": -5}, "resolution_minutes"),
        ({"name": "X", "first_response_minutes": 5, "priority": 9}, "priority"),
        ({"name": "X", "first_response_minutes": 5, "channel": "myspace"}, "channel"),
        (
            {"name": "X", "first_response_minutes": 5, "brand_account_id": 999999},
            "brand_account_id",
        ),
        (
            {"name": "X", "first_response_minutes": 5, "business_hours_id": 999999},
            "business_hours_id",
        ),
        (
            {"name": "X", "first_response_minutes": 5, "warn_before_minutes": -1},
            "warn_before_minutes",
        ),
        ({"name": "", "first_response_minutes": 5}, "name"),
    ],
)
def test_policy_validation_names_the_field(
    client: TestClient, session: Session, world: World, body: dict[str, object], field: str
) -> None:
    answer = client.post("/api/admin/sla/policies", json=body, headers=admin(session, world))
    assert answer.status_code in (404, 422), answer.text
    assert answer.json()["error"]["field"] == field


def test_a_policy_cannot_name_another_organizations_objects(
    client: TestClient, session: Session, world: World
) -> None:
    other = accounts.organization(session)
    theirs = channels.brand_account(session, other, kind="x")
    session.commit()
    answer = client.post(
        "/api/admin/sla/policies",
        json={"name": "X", "first_response_minutes": 5, "brand_account_id": theirs.id},
        headers=admin(session, world),
    )
    assert answer.status_code == 404
    mismatch = client.post(
        "/api/admin/sla/policies",
        json={
            "name": "X",
            "first_response_minutes": 5,
            "channel": "x",
            "brand_account_id": world.web.id,
        },
        headers=admin(session, world),
    )
    assert mismatch.status_code == 422
    assert "could never apply" in mismatch.json()["error"]["message"]


def test_a_policy_that_measured_clocks_is_kept(
    client: TestClient, session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    auth = admin(session, world)
    made = client.post(
        "/api/admin/sla/policies", json={"name": "A", "first_response_minutes": 60}, headers=auth
    ).json()
    clock.advance(timedelta(minutes=1))
    conversation = customer_writes(session, jobs, world)
    refused = client.delete(f"/api/admin/sla/policies/{made['id']}", headers=auth)
    assert refused.status_code == 409
    assert "disable it instead" in refused.json()["error"]["message"]

    clocks = client.get(
        f"/api/conversations/{conversation.id}/sla", headers=token(session, world.agent)
    )
    assert clocks.status_code == 200
    data = clocks.json()
    assert data["policy_id"] == made["id"]
    assert [c["target"] for c in data["clocks"]] == ["first_response"]  # no other target set
    assert data["due_at"].endswith("+00:00")


def test_running_clocks_follow_a_policy_change(
    client: TestClient, session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    auth = admin(session, world)
    made = client.post(
        "/api/admin/sla/policies", json={"name": "A", "first_response_minutes": 60}, headers=auth
    ).json()
    clock.advance(timedelta(minutes=1))
    start = clock.now()
    conversation = customer_writes(session, jobs, world)
    client.patch(
        f"/api/admin/sla/policies/{made['id']}",
        json={"first_response_minutes": 20, "resolution_minutes": None},
        headers=auth,
    )
    jobs.run_pending()
    session.expire_all()
    data = client.get(f"/api/conversations/{conversation.id}/sla", headers=auth).json()
    assert [c["target"] for c in data["clocks"]] == ["first_response"]
    assert data["due_at"] == (start + timedelta(minutes=20)).isoformat()


def test_report_api(client: TestClient, session: Session, world: World) -> None:
    viewer = accounts.member(session, world.org, role=Role.VIEWER)
    answer = client.get(
        "/api/reports/sla?start=2026-01-01&end=2026-01-05", headers=token(session, viewer)
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["start"], body["end"], body["timezone"]) == ("2026-01-01", "2026-01-05", "UTC")
    assert body["total"]["conversations"] == 0
    assert set(body) >= {"team", "member", "channel", "priority"}
    default = client.get("/api/reports/sla", headers=token(session, viewer)).json()
    assert (default["start"], default["end"]) == ("2025-12-07", "2026-01-05")
    bad = client.get("/api/reports/sla?start=yesterday", headers=token(session, viewer))
    assert bad.status_code == 422
    backwards = client.get(
        "/api/reports/sla?start=2026-01-05&end=2026-01-01", headers=token(session, viewer)
    )
    assert backwards.status_code == 422
    assert backwards.json()["error"]["field"] == "end"


def test_only_routing_admins_manage_hours_and_policies(
    client: TestClient, session: Session, world: World
) -> None:
    agent = token(session, world.agent)
    for method, path in [
        ("GET", "/api/admin/business-hours"),
        ("POST", "/api/admin/business-hours"),
        ("GET", "/api/admin/sla/policies"),
        ("POST", "/api/admin/sla/policies"),
        ("PUT", "/api/admin/sla/policies/order"),
    ]:
        answer = client.request(method, path, json={}, headers=agent)
        assert answer.status_code == 403, (method, path, answer.status_code)
    assert client.get("/api/admin/sla/policies").status_code == 401
    # An admin's token narrowed to "read" cannot manage either.
    narrowed = token(session, world.owner, scopes=["read"])
    assert client.get("/api/admin/sla/policies", headers=narrowed).status_code == 403
    assert client.get("/api/reports/sla", headers=narrowed).status_code == 200


def test_other_organizations_objects_are_not_found(
    client: TestClient, session: Session, world: World
) -> None:
    auth = admin(session, world)
    hours_id = client.post("/api/admin/business-hours", json=HOURS, headers=auth).json()["id"]
    policy_id = client.post(
        "/api/admin/sla/policies", json={"name": "A", "first_response_minutes": 5}, headers=auth
    ).json()["id"]
    other = accounts.organization(session)
    stranger = token(session, accounts.member(session, other, role=Role.OWNER))
    for method, path in [
        ("GET", f"/api/admin/business-hours/{hours_id}"),
        ("PATCH", f"/api/admin/business-hours/{hours_id}"),
        ("DELETE", f"/api/admin/business-hours/{hours_id}"),
        ("GET", f"/api/admin/sla/policies/{policy_id}"),
        ("PATCH", f"/api/admin/sla/policies/{policy_id}"),
        ("DELETE", f"/api/admin/sla/policies/{policy_id}"),
    ]:
        answer = client.request(method, path, json={}, headers=stranger)
        assert answer.status_code == 404, (method, path, answer.status_code)
    # And their policy list is their own.
    assert client.get("/api/admin/sla/policies", headers=stranger).json()["items"] == []
