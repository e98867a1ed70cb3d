"""The routing pages: settings, rules edited through a form of rows (never raw JSON), moving
rules up and down, automation rules, and the available / away switch."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from socialdesk.accounts.models import Member
from socialdesk.common.clock import FrozenClock
from socialdesk.conversations.models import Conversation
from socialdesk.db.session import get_sessionmaker
from socialdesk.routing import automation
from socialdesk.routing import service as routing_service
from socialdesk.routing.models import Strategy
from tests.factories import accounts
from tests.routing.conftest import Desk

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def client(desk: Desk, clock: FrozenClock) -> Iterator[TestClient]:
    from socialdesk.app import create_app

    with TestClient(create_app(), follow_redirects=False) as c:
        yield c


def login(client: TestClient, member: Member) -> str:
    page = client.get("/login")
    token = CSRF.search(page.text)
    assert token
    answer = client.post(
        "/login",
        data={"email": member.email, "password": accounts.PASSWORD, "csrf_token": token.group(1)},
    )
    assert answer.status_code == 303, answer.text
    inbox = client.get("/")
    found = CSRF.search(inbox.text)
    assert found
    return found.group(1)


def _rules(desk: Desk) -> list[str]:
    with get_sessionmaker(write=False)() as reader:
        return [r.name for r in routing_service.list_rules(reader, organization_id=desk.org.id)]


def test_admin_builds_rules_with_the_form_and_orders_them(client: TestClient, desk: Desk) -> None:
    csrf = login(client, desk.owner)
    page = client.get("/admin/routing")
    assert page.status_code == 200
    assert "Round robin" in page.text
    new = client.get("/admin/routing/rules/new")
    assert new.status_code == 200
    assert 'name="cond-0-field"' in new.text
    assert 'name="act-0-type"' in new.text
    made = client.post(
        "/admin/routing/rules",
        data={
            "csrf_token": csrf,
            "name": "Refunds to billing",
            "enabled": "1",
            "stop": "1",
            "cond-0-field": "keywords",
            "cond-0-op": "any",
            "cond-0-value": "refund, charged twice",
            "cond-1-field": "priority",
            "cond-1-op": ">=",
            "cond-1-value": "high",
            "cond-2-field": "",
            "act-0-type": "set_team",
            "act-0-team": str(desk.billing.id),
            "act-1-type": "add_tag",
            "act-1-tag": "refund",
            "act-2-type": "",
        },
    )
    assert made.status_code == 303, made.text
    second = client.post(
        "/admin/routing/rules",
        data={
            "csrf_token": csrf,
            "name": "Spanish",
            "enabled": "1",
            "cond-0-field": "language",
            "cond-0-op": "in",
            "cond-0-value": "es, pt",
            "act-0-type": "auto_assign",
        },
    )
    assert second.status_code == 303, second.text
    with get_sessionmaker(write=False)() as reader:
        rules = routing_service.list_rules(reader, organization_id=desk.org.id)
        first = rules[0]
        assert first.conditions == [
            {"field": "keywords", "op": "any", "value": ["refund", "charged twice"]},
            {"field": "priority", "op": ">=", "value": 2},
        ]
        assert first.actions == [
            {"type": "set_team", "team_id": desk.billing.id},
            {"type": "add_tag", "tag": "refund"},
        ]
        assert first.stop
        assert rules[1].conditions == [{"field": "language", "op": "in", "value": ["es", "pt"]}]
    listing = client.get("/admin/routing").text
    assert "When keywords in the latest message has any of refund, charged twice" in listing
    assert "team Billing, tag #refund" in listing
    moved = client.post(
        f"/admin/routing/rules/{rules[1].id}/move", data={"csrf_token": csrf, "direction": "up"}
    )
    assert moved.status_code == 303
    assert _rules(desk) == ["Spanish", "Refunds to billing"]
    # The edit page shows the stored rule in the rows, ready to change.
    edit = client.get(f"/admin/routing/rules/{first.id}")
    assert 'value="refund, charged twice"' in edit.text
    assert 'value="high" selected' not in edit.text  # priority is a text box for conditions
    assert 'value="high"' in edit.text
    deleted = client.post(f"/admin/routing/rules/{first.id}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303
    assert _rules(desk) == ["Spanish"]


def test_a_bad_rule_is_shown_with_its_error_and_the_values_kept(
    client: TestClient, desk: Desk
) -> None:
    csrf = login(client, desk.owner)
    answer = client.post(
        "/admin/routing/rules",
        data={
            "csrf_token": csrf,
            "name": "Broken",
            "cond-0-field": "priority",
            "cond-0-op": ">=",
            "cond-0-value": "very high",
            "act-0-type": "add_tag",
            "act-0-tag": "x",
        },
    )
    assert answer.status_code == 422
    assert "condition 1 (priority): value must be low, normal, high, urgent" in answer.text
    assert 'value="very high"' in answer.text
    no_team = client.post(
        "/admin/routing/rules",
        data={"csrf_token": csrf, "name": "Team?", "act-0-type": "set_team", "act-0-team": ""},
    )
    assert no_team.status_code == 422
    assert "action 1 (set_team): team_id must be an id" in no_team.text
    assert _rules(desk) == []


def test_settings_and_member_duty_are_saved(client: TestClient, desk: Desk) -> None:
    csrf = login(client, desk.owner)
    saved = client.post(
        "/admin/routing/settings",
        data={
            "csrf_token": csrf,
            "strategy": "least_loaded",
            "reassign_when_away": "1",
            "reassign_after_minutes": "45",
        },
    )
    assert saved.status_code == 303, saved.text
    bad = client.post(
        "/admin/routing/settings",
        data={"csrf_token": csrf, "strategy": "lottery"},
    )
    assert bad.status_code == 422
    assert "strategy must be one of" in bad.text
    duty = client.post(
        f"/admin/routing/members/{desk.ben.id}",
        data={"csrf_token": csrf, "capacity": "3", "languages": "es, EN", "availability": "away"},
    )
    assert duty.status_code == 303, duty.text
    with get_sessionmaker(write=False)() as reader:
        settings = routing_service.get_settings(reader, organization_id=desk.org.id)
        assert (settings.strategy, settings.reassign_after_minutes) == ("least_loaded", 45)
        ben = reader.get_one(Member, desk.ben.id)
        assert (ben.capacity, ben.languages, ben.availability) == (3, ["es", "en"], "away")
    page = client.get("/admin/routing").text
    assert "Ben went away" in page


def test_automation_rules_through_the_form(client: TestClient, desk: Desk) -> None:
    csrf = login(client, desk.owner)
    assert client.get("/admin/automation").status_code == 200
    made = client.post(
        "/admin/automation",
        data={
            "csrf_token": csrf,
            "name": "Complaint waiting",
            "enabled": "1",
            "trigger": "no_reply",
            "delay_minutes": "15",
            "cond-0-field": "is_complaint",
            "cond-0-op": "is",
            "cond-0-value": "yes",
            "act-0-type": "notify",
            "act-0-to": "team_lead",
            "act-0-webhook": "1",
            "act-1-type": "notify",
            "act-1-to": "member",
            "act-1-member": str(desk.ana.id),
            "act-1-message": "Please look",
        },
    )
    assert made.status_code == 303, made.text
    with get_sessionmaker(write=False)() as reader:
        [rule] = automation.list_rules(reader, organization_id=desk.org.id)
        assert rule.trigger == "no_reply"
        assert rule.delay_minutes == 15
        assert rule.conditions == [{"field": "is_complaint", "op": "is", "value": True}]
        assert rule.actions == [
            {"type": "notify", "to": "team_lead", "webhook": True},
            {"type": "notify", "to": "member", "member_id": desk.ana.id, "message": "Please look"},
        ]
    listing = client.get("/admin/automation").text
    assert "No reply within the delay (15 min)" in listing
    assert "notify the team lead + webhook, notify Ana" in listing
    missing_delay = client.post(
        f"/admin/automation/{rule.id}",
        data={
            "csrf_token": csrf,
            "name": "x",
            "trigger": "no_reply",
            "act-0-type": "add_tag",
            "act-0-tag": "y",
        },
    )
    assert missing_delay.status_code == 422
    assert "needs a delay in minutes (delay_minutes)" in missing_delay.text
    edit = client.get(f"/admin/automation/{rule.id}")
    assert "Please look" in edit.text


def test_agents_get_no_routing_admin_pages(client: TestClient, desk: Desk) -> None:
    csrf = login(client, desk.ana)
    for path in ("/admin/routing", "/admin/automation", "/admin/routing/rules/new"):
        assert client.get(path).status_code == 403
    answer = client.post(
        "/admin/routing/settings", data={"csrf_token": csrf, "strategy": "round_robin"}
    )
    assert answer.status_code == 403
    # Without the CSRF token even the owner is refused.
    client.cookies.clear()
    login(client, desk.owner)
    assert (
        client.post("/admin/routing/settings", data={"strategy": "round_robin"}).status_code == 403
    )


def test_the_availability_switch(client: TestClient, desk: Desk) -> None:
    desk.settings(Strategy.ROUND_ROBIN)
    conversation = desk.write()
    assert conversation.assignee_id == desk.ana.id
    csrf = login(client, desk.ana)
    away = client.post(
        "/me/availability",
        data={"csrf_token": csrf, "availability": "away", "next": "/conversations/1"},
    )
    assert away.status_code == 303
    assert away.headers["location"] == "/conversations/1"
    with get_sessionmaker(write=False)() as reader:
        assert reader.get_one(Member, desk.ana.id).availability == "away"
        assert reader.get_one(Conversation, conversation.id).assignee_id != desk.ana.id
    back = client.post(
        "/me/availability",
        data={"csrf_token": csrf, "availability": "available", "next": "//evil.example"},
        headers={"HX-Request": "true"},
    )
    assert back.status_code == 200
    assert 'data-availability="available"' in back.text
    assert 'name="next" value="/"' in back.text
    offsite = client.post(
        "/me/availability",
        data={"csrf_token": csrf, "availability": "away", "next": "https://evil.example/"},
    )
    assert offsite.headers["location"] == "/"
    # A browser drops a tab or newline in a URL: "/\t/evil.example" would be //evil.example.
    for sneaky in ("/\t/evil.example", "/\n/evil.example", "/\\evil.example"):
        hidden = client.post(
            "/me/availability",
            data={"csrf_token": csrf, "availability": "away", "next": sneaky},
        )
        assert hidden.headers["location"] == "/", sneaky
    wrong = client.post(
        "/me/availability",
        data={"csrf_token": csrf, "availability": "asleep"},
        headers={"HX-Request": "true"},
    )
    assert wrong.status_code == 422
    assert "availability must be available or away" in wrong.text


def test_assign_to_me_works_across_teams(client: TestClient, desk: Desk) -> None:
    """The conversation page's "Assign to me" takes a conversation of any team."""
    conversation = desk.write()
    from socialdesk.conversations import service as conversations_service

    conversations_service.set_team(
        desk.session, conversation=conversation, team_id=desk.billing.id, actor=desk.owner
    )
    desk.session.commit()
    csrf = login(client, desk.ana)  # Ana is in care, not billing
    answer = client.post(
        f"/conversations/{conversation.id}/assign", data={"csrf_token": csrf, "assignee": "me"}
    )
    assert answer.status_code == 303, answer.text
    api = client.post(f"/api/conversations/{conversation.id}/claim", headers={"X-CSRF-Token": csrf})
    assert api.status_code == 200, api.text
    with get_sessionmaker(write=False)() as reader:
        taken = reader.get_one(Conversation, conversation.id)
        assert (taken.assignee_id, taken.team_id) == (desk.ana.id, desk.billing.id)
