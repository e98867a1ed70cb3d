"""Every change to routing and automation rules, routing settings, business hours and SLA
policies is in the audit trail, with who made it and what changed."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import AuditEvent
from socialdesk.db.session import get_sessionmaker
from tests.routing.conftest import Desk


def _trail() -> list[AuditEvent]:
    with get_sessionmaker(write=False)() as reader:
        return list(
            reader.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "settings_changed")
                .order_by(AuditEvent.id)
            )
        )


def test_rule_and_settings_changes_are_audited_with_their_author(
    client: TestClient, desk: Desk
) -> None:
    token = accounts_service.create_api_token(desk.session, member=desk.owner, name="t").token
    desk.session.commit()
    admin = {"Authorization": f"Bearer {token}"}
    assert _trail() == []

    made = client.post(
        "/api/admin/routing/rules",
        headers=admin,
        json={"name": "Tag complaints", "actions": [{"type": "add_tag", "tag": "complaint"}]},
    )
    assert made.status_code == 201, made.text
    rule_id = made.json()["id"]
    renamed = client.put(
        f"/api/admin/routing/rules/{rule_id}",
        headers=admin,
        json={"name": "Renamed", "actions": [{"type": "add_tag", "tag": "complaint"}]},
    )
    assert renamed.status_code == 200, renamed.text
    assert (
        client.put(
            "/api/admin/routing", headers=admin, json={"strategy": "round_robin"}
        ).status_code
        == 200
    )
    hours = client.post(
        "/api/admin/business-hours",
        headers=admin,
        json={
            "name": "Office",
            "timezone": "Europe/Berlin",
            "intervals": {"0": [["09:00", "17:00"]]},
        },
    )
    assert hours.status_code == 201, hours.text
    assert client.delete(f"/api/admin/routing/rules/{rule_id}", headers=admin).status_code == 204

    trail = _trail()
    assert all(e.actor_member_id == desk.owner.id for e in trail)
    summary = [(e.target_type, (e.after or {}).get("change")) for e in trail]
    assert summary == [
        ("routing_rule", "created"),
        ("routing_rule", "changed"),
        ("routing_settings", "created"),
        ("business_hours", "created"),
        ("routing_rule", "deleted"),
    ]
    # A created row is named by its own id, as its later changes are.
    assert trail[0].target_id == str(rule_id) == trail[1].target_id == trail[-1].target_id
    assert trail[0].after is not None
    assert trail[0].after["id"] == rule_id
    assert trail[3].target_id == str(hours.json()["id"])
    change = trail[1]
    assert change.before is not None
    assert change.before["name"] == "Tag complaints"
    assert change.after is not None
    assert change.after["name"] == "Renamed"
    assert "conditions" not in change.after  # only what changed
    assert trail[-1].before is not None
    assert trail[-1].before["name"] == "Renamed"


def test_a_refused_change_leaves_no_trace(client: TestClient, desk: Desk) -> None:
    token = accounts_service.create_api_token(desk.session, member=desk.owner, name="t").token
    desk.session.commit()
    bad = client.post(
        "/api/admin/business-hours",
        headers={"Authorization": f"Bearer {token}"},
        json={"name": "Bad", "timezone": "Mars/Olympus", "intervals": {"0": [["09:00", "17:00"]]}},
    )
    assert bad.status_code == 422
    assert _trail() == []
