"""The saved replies API: admins write them, agents list them and fill one in for a
conversation; viewers and other organizations get nowhere; a bad one is a 422 naming the
field, a taken shortcut a 409."""

from __future__ import annotations

from fastapi.testclient import TestClient

from socialdesk.accounts.models import Role
from socialdesk.policy import service as policy_service
from tests.factories import accounts
from tests.saved_replies.conftest import Desk, api_headers

BODY = {
    "shortcut": "refund",
    "title": "How to get a refund",
    "text": "Hi {name}, ask for a refund at kestrelvalley.example/refund. ^{agent}",
}


def test_admins_write_saved_replies_and_agents_fill_them_in(client: TestClient, desk: Desk) -> None:
    admin = api_headers(desk.session, desk.owner)
    agent = api_headers(desk.session, desk.ana)
    made = client.post("/api/saved-replies", headers=admin, json=BODY)
    assert made.status_code == 201, made.text
    reply = made.json()
    assert reply["shortcut"] == "refund"
    assert reply["conduct"] is None  # no code of conduct yet

    listed = client.get("/api/saved-replies", headers=agent, params={"q": "refund"})
    assert [r["id"] for r in listed.json()] == [reply["id"]]
    assert client.get("/api/saved-replies", headers=agent, params={"q": "tram"}).json() == []

    conversation = desk.write("Can I get my money back?", account=desk.x, author="lucia_r")
    filled = client.get(
        f"/api/conversations/{conversation.id}/saved-replies/{reply['id']}", headers=agent
    )
    assert filled.status_code == 200, filled.text
    assert filled.json() == {
        "saved_reply_id": reply["id"],
        "conversation_id": conversation.id,
        "text": f"Hi Lucia_R, ask for a refund at kestrelvalley.example/refund. ^{desk.ana.name}",
    }

    # Agents use saved replies; they do not write them.
    refused = client.put(f"/api/saved-replies/{reply['id']}", headers=agent, json=BODY)
    assert refused.status_code == 403
    assert client.post("/api/saved-replies", headers=agent, json=BODY).status_code == 403

    changed = client.put(
        f"/api/saved-replies/{reply['id']}", headers=admin, json={**BODY, "title": "Refunds"}
    )
    assert changed.status_code == 200
    assert changed.json()["title"] == "Refunds"
    assert client.delete(f"/api/saved-replies/{reply['id']}", headers=agent).status_code == 403
    assert client.delete(f"/api/saved-replies/{reply['id']}", headers=admin).status_code == 204
    assert client.get(f"/api/saved-replies/{reply['id']}", headers=admin).status_code == 404


def test_the_api_says_what_the_code_of_conduct_makes_of_a_saved_reply(
    client: TestClient, desk: Desk
) -> None:
    policy_service.save(
        desk.session,
        organization_id=desk.org.id,
        yaml_text=(
            "rules:\n  - id: refunds-need-approval\n"
            "    explain: Refund promises need a supervisor's approval.\n"
            "    action: approve\n    terms: [refund]\n"
        ),
        author=desk.owner,
    )
    desk.session.commit()
    admin = api_headers(desk.session, desk.owner)
    made = client.post("/api/saved-replies", headers=admin, json=BODY).json()
    assert made["conduct"] == {
        "decision": "approve",
        "reasons": ["Refund promises need a supervisor's approval."],
    }


def test_a_bad_saved_reply_is_a_422_naming_the_field_and_a_taken_shortcut_a_409(
    client: TestClient, desk: Desk
) -> None:
    admin = api_headers(desk.session, desk.owner)
    bad = client.post("/api/saved-replies", headers=admin, json={**BODY, "text": "Hi {mood}"})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "text"
    assert "{mood}" in bad.json()["error"]["message"]
    assert client.post("/api/saved-replies", headers=admin, json=BODY).status_code == 201
    taken = client.post("/api/saved-replies", headers=admin, json={**BODY, "title": "Again"})
    assert taken.status_code == 409
    assert taken.json()["error"]["field"] == "shortcut"
    assert len(client.get("/api/saved-replies", headers=admin).json()) == 1


def test_viewers_and_other_organizations_get_nowhere(client: TestClient, desk: Desk) -> None:
    admin = api_headers(desk.session, desk.owner)
    reply = client.post("/api/saved-replies", headers=admin, json=BODY).json()
    conversation = desk.write("Hello", account=desk.x)

    viewer = accounts.member(desk.session, desk.org, role=Role.VIEWER)
    desk.session.commit()
    as_viewer = api_headers(desk.session, viewer)
    assert client.get("/api/saved-replies", headers=as_viewer).status_code == 403

    other = accounts.organization(desk.session, name="Other transit")
    stranger = accounts.member(desk.session, other, role=Role.OWNER)
    desk.session.commit()
    theirs = api_headers(desk.session, stranger)
    assert client.get("/api/saved-replies", headers=theirs).json() == []
    assert client.get(f"/api/saved-replies/{reply['id']}", headers=theirs).status_code == 404
    put = client.put(f"/api/saved-replies/{reply['id']}", headers=theirs, json=BODY)
    assert put.status_code == 404
    filled = client.get(
        f"/api/conversations/{conversation.id}/saved-replies/{reply['id']}", headers=theirs
    )
    assert filled.status_code == 404


def test_a_saved_reply_may_belong_to_a_team_and_the_list_offers_what_the_reply_box_does(
    client: TestClient, desk: Desk
) -> None:
    admin = api_headers(desk.session, desk.owner)
    agent = api_headers(desk.session, desk.ana)  # Ana is in Care, nobody in Billing
    made = client.post(
        "/api/saved-replies", headers=admin, json={**BODY, "team_id": desk.billing.id}
    )
    assert made.status_code == 201, made.text
    assert made.json()["team_id"] == desk.billing.id
    hello = client.post(
        "/api/saved-replies",
        headers=admin,
        json={"shortcut": "hello", "title": "Hello", "text": "Hello {name}"},
    ).json()
    assert hello["team_id"] is None

    conversation = desk.write("Where is my refund?", account=desk.x, route=False)
    every = client.get("/api/saved-replies", headers=agent).json()
    assert [r["shortcut"] for r in every] == ["hello", "refund"]
    at_hand = client.get(
        "/api/saved-replies", headers=agent, params={"conversation_id": conversation.id}
    )
    assert [r["shortcut"] for r in at_hand.json()] == ["hello"]

    other = accounts.organization(desk.session, name="Other transit")
    stranger = accounts.member(desk.session, other, role=Role.OWNER)
    desk.session.commit()
    theirs = api_headers(desk.session, stranger)
    hidden = client.get(
        "/api/saved-replies", headers=theirs, params={"conversation_id": conversation.id}
    )
    assert hidden.status_code == 404
    foreign_team = client.post(
        "/api/saved-replies",
        headers=theirs,
        json={**BODY, "team_id": desk.billing.id},
    )
    assert foreign_team.status_code == 404
    assert foreign_team.json()["error"]["field"] == "team_id"
