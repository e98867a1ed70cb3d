"""The saved views API: a member keeps their own views and sees the team's; admins share; a
view's conversations come in its own order and filters, exactly as the inbox lists them;
another member's or organization's view is a 404; a bad filter is a 422 naming it. On SQLite
and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.saved_views import service
from tests.saved_views.conftest import Desk, bearer


def _ids(response_json: dict[str, object]) -> list[int]:
    items = response_json["items"]
    assert isinstance(items, list)
    return [item["id"] for item in items]


def test_a_view_is_saved_listed_read_and_deleted(client: TestClient, desk: Desk) -> None:
    agent = bearer(desk.a.agent_token)
    made = client.post(
        "/api/views",
        headers=agent,
        # "#delivery" and "Open" read as the inbox reads them; defaults are dropped.
        json={"name": " Parcels ", "filters": {"tag": "#delivery", "status": "open"}},
    )
    assert made.status_code == 201, made.text
    view = made.json()
    assert view["name"] == "Parcels"
    assert view["shared"] is False
    assert view["filters"] == {"tag": "delivery"}
    assert view["query"] == "tag=delivery"
    assert view["created_by_id"] == desk.a.agent.id

    assert [v["id"] for v in client.get("/api/views", headers=agent).json()] == [view["id"]]
    assert client.get(f"/api/views/{view['id']}", headers=agent).json() == view

    # The view's conversations are the inbox's own answer to the same filters.
    listed = client.get(f"/api/views/{view['id']}/conversations", headers=agent)
    assert listed.status_code == 200, listed.text
    assert _ids(listed.json()) == [desk.a.conversation_id]
    inbox = client.get("/api/conversations", headers=agent, params={"tag": "delivery"}).json()
    assert listed.json() == inbox

    deleted = client.delete(f"/api/views/{view['id']}", headers=agent)
    assert deleted.status_code == 204
    assert client.get("/api/views", headers=agent).json() == []
    assert client.get(f"/api/views/{view['id']}", headers=agent).status_code == 404


def test_a_view_keeps_its_order_and_pages(client: TestClient, desk: Desk) -> None:
    agent = bearer(desk.a.agent_token)
    made = client.post(
        "/api/views", headers=agent, json={"name": "Everything", "filters": {"status": "all"}}
    ).json()
    first = client.get(f"/api/views/{made['id']}/conversations", headers=agent, params={"limit": 1})
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(page["items"]) == 1
    assert page["next_cursor"]
    second = client.get(
        f"/api/views/{made['id']}/conversations",
        headers=agent,
        params={"limit": 1, "cursor": page["next_cursor"]},
    ).json()
    everything = client.get("/api/conversations", headers=agent, params={"status": "all"}).json()
    assert _ids(page) + _ids(second) == _ids(everything)
    assert len(set(_ids(everything))) == 2
    # The view's cursor continues the view, not the inbox's list (nor the reverse).
    elsewhere = client.get(
        "/api/conversations",
        headers=agent,
        params={"status": "all", "limit": 1, "cursor": page["next_cursor"]},
    )
    assert elsewhere.status_code == 422
    assert elsewhere.json()["error"]["field"] == "cursor"
    inbox_cursor = client.get(
        "/api/conversations", headers=agent, params={"status": "all", "limit": 1}
    ).json()["next_cursor"]
    taken = client.get(
        f"/api/views/{made['id']}/conversations",
        headers=agent,
        params={"limit": 1, "cursor": inbox_cursor},
    )
    assert taken.status_code == 422


def test_shared_views_are_for_admins_to_make(client: TestClient, desk: Desk) -> None:
    owner, agent, viewer = (
        bearer(desk.a.owner_token),
        bearer(desk.a.agent_token),
        bearer(desk.a.viewer_token),
    )
    refused = client.post(
        "/api/views", headers=agent, json={"name": "Team", "filters": {}, "shared": True}
    )
    assert refused.status_code == 403
    assert "only admins may share" in refused.json()["error"]["message"]

    shared = client.post(
        "/api/views",
        headers=owner,
        json={"name": "Complaints", "filters": {"complaint": "1"}, "shared": True},
    ).json()
    assert shared["shared"] is True
    mine = client.post("/api/views", headers=viewer, json={"name": "Mine"}).json()
    assert mine["filters"] == {}
    assert mine["query"] == ""
    # Everyone sees the team's views, then their own; nobody sees another member's.
    assert [v["name"] for v in client.get("/api/views", headers=viewer).json()] == [
        "Complaints",
        "Mine",
    ]
    assert [v["name"] for v in client.get("/api/views", headers=agent).json()] == ["Complaints"]
    assert client.get(f"/api/views/{mine['id']}", headers=agent).status_code == 404
    assert client.delete(f"/api/views/{mine['id']}", headers=agent).status_code == 404
    no = client.delete(f"/api/views/{shared['id']}", headers=agent)
    assert no.status_code == 403
    assert client.delete(f"/api/views/{shared['id']}", headers=owner).status_code == 204

    taken = client.post("/api/views", headers=viewer, json={"name": "MINE"})
    assert taken.status_code == 409
    assert taken.json()["error"]["field"] == "name"


def test_another_organization_sees_nothing(client: TestClient, desk: Desk) -> None:
    view = client.post(
        "/api/views", headers=bearer(desk.a.owner_token), json={"name": "A", "shared": True}
    ).json()
    other = bearer(desk.b.owner_token)
    assert client.get("/api/views", headers=other).json() == []
    for method, path in (
        ("GET", f"/api/views/{view['id']}"),
        ("GET", f"/api/views/{view['id']}/conversations"),
        ("DELETE", f"/api/views/{view['id']}"),
    ):
        response = client.request(method, path, headers=other)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["message"] == f"view {view['id']} does not exist"


def test_bad_filters_are_refused_by_name(client: TestClient, desk: Desk) -> None:
    agent = bearer(desk.a.agent_token)
    cases: list[tuple[dict[str, object], str, str]] = [
        ({"name": "x", "filters": {"status": "closed"}}, "status", "status must be one of"),
        ({"name": "x", "filters": {"channel": "pigeon"}}, "channel", "channel must be"),
        ({"name": "x", "filters": {"team": "-3"}}, "team", "team must be a positive number"),
        ({"name": "x", "filters": {"team": "9" * 20}}, "team", "names nothing"),
        ({"name": "x", "filters": {"sort": "oldest"}}, "sort", "sort must be one of"),
        ({"name": "x", "filters": {"colour": "red"}}, "filters", "filters has no 'colour'"),
        ({"name": "x", "filters": {"status": 3}}, "filters.status", "valid string"),
        ({"name": ""}, "name", "give the view a name"),
        ({"name": "x", "extra": 1}, "extra", ""),
    ]
    for body, field, message in cases:
        response = client.post("/api/views", headers=agent, json=body)
        assert response.status_code == 422, (body, response.text)
        error = response.json()["error"]
        assert error["field"] == field, (body, error)
        assert message in error["message"], (body, error)
    assert client.get("/api/views", headers=agent).json() == []


def test_a_view_the_inbox_no_longer_reads_says_so(
    client: TestClient, desk: Desk, session: Session
) -> None:
    agent = bearer(desk.a.agent_token)
    view = client.post("/api/views", headers=agent, json={"name": "Old"}).json()
    stored = service.get(session, member=desk.a.agent, view_id=view["id"])
    stored.query = "status=archived"  # as a value a later version no longer offers
    session.commit()
    response = client.get(f"/api/views/{view['id']}/conversations", headers=agent)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "status"


def test_a_view_is_renamed_or_given_other_filters(client: TestClient, desk: Desk) -> None:
    owner, agent = bearer(desk.a.owner_token), bearer(desk.a.agent_token)
    view = client.post(
        "/api/views", headers=agent, json={"name": "Parcels", "filters": {"tag": "delivery"}}
    ).json()
    other = client.post("/api/views", headers=agent, json={"name": "Other"}).json()
    path = f"/api/views/{view['id']}"

    renamed = client.patch(path, headers=agent, json={"name": "Lost parcels"})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["query"]) == ("Lost parcels", "tag=delivery")
    refiltered = client.patch(path, headers=agent, json={"filters": {"status": "all"}})
    assert (refiltered.json()["name"], refiltered.json()["filters"]) == (
        "Lost parcels",
        {"status": "all"},
    )

    taken = client.patch(path, headers=agent, json={"name": "other"})
    assert taken.status_code == 409
    assert taken.json()["error"]["field"] == "name"
    bad = client.patch(path, headers=agent, json={"filters": {"status": "closed"}})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "status"
    assert client.get(path, headers=agent).json()["filters"] == {"status": "all"}
    # Nobody else's; the team's for admins only.
    assert client.patch(path, headers=owner, json={"name": "Mine now"}).status_code == 404
    team = client.post("/api/views", headers=owner, json={"name": "T", "shared": True}).json()
    refused = client.patch(f"/api/views/{team['id']}", headers=agent, json={"name": "U"})
    assert refused.status_code == 403
    assert "only admins may change" in refused.json()["error"]["message"]
    assert other["name"] == "Other"


def test_a_views_colleague_team_and_account_must_be_the_organizations(
    client: TestClient, desk: Desk, session: Session
) -> None:
    from socialdesk.conversations import service as conversations_service
    from socialdesk.conversations.models import Conversation

    conversation = session.get(Conversation, desk.a.conversation_id)
    assert conversation is not None
    conversations_service.assign(
        session, conversation=conversation, assignee_id=desk.a.agent.id, actor=desk.a.owner
    )
    session.commit()
    owner = bearer(desk.a.owner_token)
    cases: list[tuple[dict[str, str], str, str]] = [
        ({"assignee": str(desk.b.agent.id)}, "assignee", "is not a member of this organization"),
        ({"assignee": "987654321"}, "assignee", "is not a member of this organization"),
        ({"team": str(desk.b.team_id)}, "team", "is not one of this organization's teams"),
        ({"team": "987654321"}, "team", "is not one of this organization's teams"),
        (
            {"channel": f"account:{desk.b.brand_account_id}"},
            "channel",
            "is not one of this organization's brand accounts",
        ),
    ]
    for filters, field, message in cases:
        response = client.post("/api/views", headers=owner, json={"name": "x", "filters": filters})
        assert response.status_code == 422, (filters, response.text)
        error = response.json()["error"]
        assert (error["field"], message in error["message"]) == (field, True), error

    # The organization's own are kept, the colleague included, and read back as the inbox does.
    made = client.post(
        "/api/views",
        headers=owner,
        json={
            "name": "Alex's",
            "filters": {
                "assignee": str(desk.a.agent.id),
                "team": str(desk.a.team_id),
                "channel": f"account:{desk.a.brand_account_id}",
            },
        },
    )
    assert made.status_code == 201, made.text
    view = made.json()
    assert view["filters"]["assignee"] == str(desk.a.agent.id)
    path = f"/api/views/{view['id']}"
    # Replacing its filters is checked the same way.
    refused = client.patch(
        path, headers=owner, json={"filters": {"assignee": str(desk.b.agent.id)}}
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "assignee"
    client.patch(path, headers=owner, json={"filters": {"assignee": str(desk.a.agent.id)}})
    listed = client.get(f"{path}/conversations", headers=owner).json()
    assert _ids(listed) == [desk.a.conversation_id]
