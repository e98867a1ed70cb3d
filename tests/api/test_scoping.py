"""Organizations are sealed: every route that takes an id answers 404 for another
organization's id, the same answer as for an id that does not exist.

The routes are read from the app's own OpenAPI document, so a new route with an id is checked
without anyone remembering to add it here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.api.conftest import Desk, Org, bearer
from tests.factories import contacts as contact_factory
from tests.factories import polls as poll_factory
from tests.factories.conversations import inbound, ingest, with_file

from socialdesk.accounts.models import Member
from socialdesk.alerts import service as alerts_service
from socialdesk.app import create_app
from socialdesk.channels.models import BrandAccount
from socialdesk.outbound import service as outbound_service
from socialdesk.policy import service as policy_service
from socialdesk.policy.models import Approval
from socialdesk.saved_replies import service as saved_replies_service
from socialdesk.saved_views import service as saved_views_service

PARAM = re.compile(r"{(\w+)}")
MISSING_ID = 987_654

# Bodies that would be valid for the owner of the object, so only the scoping can refuse them.
BODIES: dict[str, dict[str, Any]] = {
    "replies": {"text": "We are on it"},
    "notes": {"text": "Checked the courier"},
    "assign": {"assignee_id": None},
    "team": {"team_id": None},
    "status": {"status": "resolved"},
    "priority": {"priority": 2},
    "tags": {"name": "urgent"},
    "merge": {"into_id": 1},
    "events": {"native_id": "e-1", "kind": "visitor.message", "payload": {}},
    "{brand_account_id}": {"display_name": "Renamed"},
    "policy": {"yaml": "rules: []"},
    "approve": {},
    "reject": {"comment": "not like this"},
    "withdraw": {"reason": "Wrong customer"},
}


HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _id_routes() -> list[tuple[str, str]]:
    paths: dict[str, dict[str, Any]] = create_app().openapi()["paths"]
    return [
        (method.upper(), path)
        for path, operations in sorted(paths.items())
        if path.startswith("/api/") and "{" in path
        for method in sorted(operations)
        if method in HTTP_METHODS
    ]


@pytest.fixture
def conduct(desk: Desk, session: Session) -> dict[str, object]:
    """A policy version and a held draft in organization A, for the code-of-conduct routes.
    The draft is in a conversation of its own, so the first one's trail stays as it was."""
    policy = (
        "rules:\n  - id: refunds\n    explain: Refunds need approval.\n"
        "    action: approve\n    terms: [refund]\n"
    )
    owner = session.get_one(Member, desk.a.owner.id)
    agent = session.get_one(Member, desk.a.agent.id)
    version = policy_service.save(
        session, organization_id=desk.a.organization_id, yaml_text=policy, author=owner
    )
    account = session.get_one(BrandAccount, desk.a.brand_account_id)
    held = ingest(session, account, inbound(native_id="A-held", thread_key="visitor:A-held"))
    message = outbound_service.queue_reply(
        session, conversation=held.conversation, author=agent, text="A refund for you"
    )
    approval = session.scalars(select(Approval).where(Approval.message_id == message.id)).one()
    session.commit()
    return {
        "version_id": version.id,
        "approval_id": approval.id,
        "member_id": agent.id,
        **_desk_objects(
            session, desk.a, owner=owner, agent=agent, conversation_id=held.conversation.id
        ),
    }


def _desk_objects(
    session: Session, org: Org, *, owner: Member, agent: Member, conversation_id: int
) -> dict[str, int]:
    """One of each object the routing, SLA, escalation, notification and promise routes take
    an id of, in organization ``org`` (on a conversation other than the checked one)."""
    from socialdesk.commitments import service as commitments_service
    from socialdesk.conversations.models import Conversation
    from socialdesk.escalations import service as escalations_service
    from socialdesk.notifications import service as notifications_service
    from socialdesk.routing import automation
    from socialdesk.routing import service as routing_service
    from socialdesk.schedules import service as schedules_service
    from socialdesk.sla import service as sla_service
    from socialdesk.sla.schemas import SlaPolicyCreate

    conversation = session.get_one(Conversation, conversation_id)
    escalation = escalations_service.create(
        session, conversation=conversation, requested_by=owner, text="Refund", member_id=agent.id
    )
    (notification,) = notifications_service.notify(
        session, organization_id=org.organization_id, member_ids=[owner.id], kind="t", title="t"
    )
    commitment = commitments_service.create(
        session, conversation=conversation, actor=agent, text="Call back"
    )
    hours = schedules_service.create(
        session,
        organization_id=org.organization_id,
        name="Office",
        timezone="UTC",
        intervals={"0": [["09:00", "17:00"]]},
    )
    policy = sla_service.create(
        session,
        organization_id=org.organization_id,
        data=SlaPolicyCreate(name="Default", first_response_minutes=60),
    )
    rule = routing_service.create_rule(
        session,
        organization_id=org.organization_id,
        name="Tag",
        conditions=[],
        actions=[{"type": "add_tag", "tag": "routed"}],
    )
    automation_rule = automation.create_rule(
        session,
        organization_id=org.organization_id,
        name="Tag later",
        trigger="conversation.created",
        conditions=[],
        actions=[{"type": "add_tag", "tag": "automated"}],
    )
    alert = alerts_service.create(
        session,
        organization_id=org.organization_id,
        spec=alerts_service.AlertSpec(
            name="Surge", window_minutes=15, threshold=5, notify_to="admins", filters={}
        ),
        actor=None,
    )
    saved_reply = saved_replies_service.create(
        session,
        organization_id=org.organization_id,
        draft=saved_replies_service.Draft("refund", "Refunds", "Hi {name}"),
        actor=None,
    )
    view = saved_views_service.create(
        session, member=org.owner, name="Shared", query="status=all", shared=True
    )
    poll = poll_factory.held(
        session, session.get_one(BrandAccount, org.brand_account_id), org.agent
    )
    merge_id, _kept = contact_factory.merged_pair(
        session, session.get_one(BrandAccount, org.brand_account_id), "scoping"
    )
    attachment_id = with_file(session, session.get_one(BrandAccount, org.brand_account_id))
    session.commit()
    return {
        "merge_id": merge_id,
        "attachment_id": attachment_id,
        "view_id": view.id,
        "poll_id": poll.id,
        "reply_id": saved_reply.id,
        "alert_id": alert.id,
        "escalation_id": escalation.id,
        "notification_id": notification.id,
        "commitment_id": commitment.id,
        "business_hours_id": hours.id,
        "sla_policy_id": policy.id,
        "routing_rule_id": rule.id,
        "automation_rule_id": automation_rule.id,
    }


def _values(org: Org, extra: dict[str, object] | None = None) -> dict[str, object]:
    return {
        **(extra or {}),
        "conversation_id": org.conversation_id,
        "message_id": org.message_id,
        "contact_id": org.contact_id,
        "brand_account_id": org.brand_account_id,
        "token_id": org.token_id,
        "name": "delivery",  # a tag the conversation has
    }


def _fill(path: str, values: dict[str, object]) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            pytest.fail(f"{path}: no sample value for {{{name}}}; add one to _values()")
        return str(values[name])

    return PARAM.sub(sub, path)


def test_the_app_has_id_routes_to_check() -> None:
    paths = {path for _method, path in _id_routes()}
    assert "/api/conversations/{conversation_id}" in paths
    assert len(paths) >= 15


def test_every_id_route_is_404_for_another_organization(
    client: TestClient, desk: Desk, conduct: dict[str, object]
) -> None:
    intruder = bearer(desk.b.owner_token)  # an owner: no role could be the reason for a refusal
    checked = []
    for method, template in _id_routes():
        foreign = _fill(template, _values(desk.a, conduct))
        body = BODIES.get(template.rstrip("/").rsplit("/", 1)[-1]) if method != "GET" else None
        response = client.request(method, foreign, json=body, headers=intruder)
        assert response.status_code == 404, (method, foreign, response.text)
        error = response.json()["error"]
        assert error["code"] == "not_found"

        # Indistinguishable from an id that does not exist anywhere.
        values = _values(desk.a, conduct)
        first_param = PARAM.search(template)
        assert first_param is not None
        real = str(values[first_param.group(1)])
        values[first_param.group(1)] = MISSING_ID
        missing = client.request(method, _fill(template, values), json=body, headers=intruder)
        assert missing.status_code == 404
        assert missing.json()["error"]["message"] == error["message"].replace(real, str(MISSING_ID))
        checked.append((method, template))
    assert len(checked) == len(_id_routes())

    # Nothing in organization A was touched by all that.
    owner_a = bearer(desk.a.owner_token)
    assert client.get("/api/me", headers=owner_a).status_code == 200  # token not revoked
    conversation = client.get(f"/api/conversations/{desk.a.conversation_id}", headers=owner_a)
    assert conversation.json()["status"] == "open"
    assert conversation.json()["tags"] == ["delivery"]
    activities = client.get(
        f"/api/conversations/{desk.a.conversation_id}/activities", headers=owner_a
    ).json()["items"]
    # Only what org A's own people did (triage's entry at ingest is the desk's, not B's).
    assert [a["kind"] for a in activities if a["actor_member_id"] is not None] == ["tagged"]


def test_the_same_routes_work_for_the_owning_organization(
    client: TestClient, desk: Desk, conduct: dict[str, object]
) -> None:
    """The ids used above are real: their own organization reads them fine."""
    owner = bearer(desk.a.owner_token)
    for method, template in _id_routes():
        if method == "GET":
            path = _fill(template, _values(desk.a, conduct))
            assert client.get(path, headers=owner).status_code == 200, path


@pytest.mark.parametrize(
    ("suffix", "body", "field"),
    [
        ("assign", "assignee_id", "assignee_id"),
        ("team", "team_id", "team_id"),
    ],
)
def test_ids_in_bodies_are_scoped_too(
    client: TestClient, desk: Desk, suffix: str, body: str, field: str
) -> None:
    foreign = {"assignee_id": desk.b.agent.id, "team_id": desk.b.team_id}[body]
    response = client.post(
        f"/api/conversations/{desk.a.conversation_id}/{suffix}",
        json={body: foreign},
        headers=bearer(desk.a.owner_token),
    )
    assert response.status_code == 404
    assert response.json()["error"]["field"] == field


def test_merge_into_another_organizations_contact_is_404(client: TestClient, desk: Desk) -> None:
    response = client.post(
        f"/api/contacts/{desk.a.contact_id}/merge",
        json={"into_id": desk.b.contact_id},
        headers=bearer(desk.a.owner_token),
    )
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "into_id"


def test_filters_never_reach_across(client: TestClient, desk: Desk) -> None:
    response = client.get(
        "/api/conversations",
        params={"brand_account_id": desk.b.brand_account_id, "status": "all"},
        headers=bearer(desk.a.owner_token),
    )
    assert response.status_code == 200
    assert response.json()["items"] == []
    everything = client.get(
        "/api/conversations", params={"status": "all"}, headers=bearer(desk.a.owner_token)
    ).json()["items"]
    assert {c["brand_account"]["id"] for c in everything} == {desk.a.brand_account_id}
    contacts = client.get("/api/contacts", headers=bearer(desk.a.owner_token)).json()["items"]
    assert {c["id"] for c in contacts} == {desk.a.contact_id, desk.a.other_contact_id}
