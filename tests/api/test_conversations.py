"""The inbox and the work on a conversation, through the API."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.api.conftest import Desk, bearer
from tests.factories.conversations import inbound, ingest

from socialdesk.accounts.models import Organization
from socialdesk.channels.models import BrandAccount
from socialdesk.common.clock import FrozenClock


def _ingest_many(session: Session, desk: Desk, clock: FrozenClock, n: int) -> list[int]:
    account = session.get(BrandAccount, desk.a.brand_account_id)
    assert account is not None
    ids = []
    for i in range(n):
        result = ingest(
            session,
            account,
            inbound(
                native_id=f"bulk-{i}",
                author=f"bulk-{i}",
                text=f"Question number {i} about my invoice",
                # Two share a timestamp, so the cursor must break ties by id.
                at=clock.now() - timedelta(minutes=30 - (i // 2)),
            ),
        )
        ids.append(result.conversation.id)
    session.commit()
    return ids


def _walk(
    client: TestClient, path: str, token: str, **params: str | int
) -> list[dict[str, object]]:
    """Follow next_cursor to the end; every page respects the limit."""
    items: list[dict[str, object]] = []
    cursor: str | None = None
    for _ in range(100):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, params=query, headers=bearer(token))
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= int(str(params.get("limit", 50)))
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def test_inbox_pagination_round_trip(
    client: TestClient, desk: Desk, session: Session, clock: FrozenClock
) -> None:
    created = _ingest_many(session, desk, clock, 7)
    one_page = client.get(
        "/api/conversations", params={"limit": 200}, headers=bearer(desk.a.agent_token)
    ).json()
    assert one_page["next_cursor"] is None
    walked = _walk(client, "/api/conversations", desk.a.agent_token, limit=3)
    assert [c["id"] for c in walked] == [c["id"] for c in one_page["items"]]
    assert len(walked) == len({c["id"] for c in walked}) == 9  # 7 new + the 2 of the fixture
    assert set(created) <= {c["id"] for c in walked}
    times = [datetime.fromisoformat(str(c["last_activity_at"])) for c in walked]
    assert times == sorted(times, reverse=True)


def test_thread_pagination_oldest_first(
    client: TestClient, desk: Desk, session: Session, clock: FrozenClock
) -> None:
    account = session.get(BrandAccount, desk.a.brand_account_id)
    assert account is not None
    for i in range(5):
        ingest(
            session,
            account,
            inbound(
                native_id=f"A-more-{i}",
                author="a-cust",
                text=f"follow-up {i}",
                at=clock.now() - timedelta(minutes=50 - i),
                thread_key="visitor:A-cust",
            ),
        )
    session.commit()
    path = f"/api/conversations/{desk.a.conversation_id}/messages"
    walked = _walk(client, path, desk.a.agent_token, limit=2)
    assert [m["text"] for m in walked] == [
        "My parcel never arrived",
        *(f"follow-up {i}" for i in range(5)),
    ]
    assert walked[0]["author"] == {"type": "contact", "id": desk.a.contact_id, "name": "A-Cust"}


def test_counts_and_filters(client: TestClient, desk: Desk) -> None:
    agent = bearer(desk.a.agent_token)
    cid = desk.a.conversation_id
    assert client.post(f"/api/conversations/{cid}/claim", headers=agent).status_code == 200
    assert (
        client.post(
            f"/api/conversations/{cid}/priority", json={"priority": 3}, headers=agent
        ).status_code
        == 200
    )

    def ids(**params: str | int) -> set[int]:
        response = client.get("/api/conversations", params=params, headers=agent)
        assert response.status_code == 200, response.text
        return {c["id"] for c in response.json()["items"]}

    everything = ids(status="all")
    assert len(everything) == 2
    assert ids(assignee="me") == {cid}
    assert ids(assignee=str(desk.a.agent.id)) == {cid}
    assert ids(assignee="unassigned") == everything - {cid}
    assert ids(tag="delivery") == {cid}
    assert ids(tag="#Delivery") == {cid}
    assert ids(min_priority=3) == {cid}
    assert ids(q="parcel") == {cid}
    assert ids(q="address") == everything - {cid}
    assert ids(channel="web") == everything
    assert ids(channel="email") == set()
    assert ids(status="resolved") == set()
    # Nobody has replied yet: every conversation waits for a reply, none for the customer.
    assert ids(awaiting="reply") == everything
    assert ids(awaiting="customer") == set()

    counts = client.get("/api/conversations/counts", headers=agent).json()
    assert counts == {
        "open": 2,
        "pending": 0,
        "snoozed": 0,
        "resolved": 0,
        "all": 2,
        "mine": 1,
        "unassigned": 1,
        "awaiting_reply": 2,
        "awaiting_customer": 0,
    }
    filtered = client.get("/api/conversations/counts", params={"q": "parcel"}, headers=agent)
    assert filtered.json()["all"] == 1
    assert filtered.json()["awaiting_reply"] == 1
    # The waiting-for numbers count every choice, whichever is chosen.
    chosen = client.get("/api/conversations/counts", params={"awaiting": "customer"}, headers=agent)
    assert (chosen.json()["awaiting_reply"], chosen.json()["all"]) == (2, 0)


def test_conversation_detail(client: TestClient, desk: Desk) -> None:
    body = client.get(
        f"/api/conversations/{desk.a.conversation_id}", headers=bearer(desk.a.viewer_token)
    ).json()
    assert body["id"] == desk.a.conversation_id
    assert body["channel"] == "web"
    assert body["brand_account"]["id"] == desk.a.brand_account_id
    assert body["contact"] == {
        "id": desk.a.contact_id,
        "name": "A-Cust",
        "is_vip": False,
        "handle": "@a-cust",
    }
    assert body["tags"] == ["delivery"]
    assert body["assignee"] is None
    assert body["team"] is None
    assert body["message_count"] == 1
    assert body["last_preview"] == "My parcel never arrived"
    assert body["last_preview_outbound"] is False  # the customer wrote last
    # Datetimes carry their UTC offset.
    assert body["first_inbound_at"] == "2026-01-05T07:00:00+00:00"
    assert datetime.fromisoformat(body["created_at"]).utcoffset() == timedelta(0)


def test_managing_a_conversation(client: TestClient, desk: Desk, clock: FrozenClock) -> None:
    owner = bearer(desk.a.owner_token)
    base = f"/api/conversations/{desk.a.conversation_id}"

    assigned = client.post(f"{base}/assign", json={"assignee_id": desk.a.agent.id}, headers=owner)
    assert assigned.status_code == 200
    assert assigned.json()["assignee"] == {
        "id": desk.a.agent.id,
        "name": desk.a.agent.name,
        "initials": desk.a.agent.initials,
    }
    team = client.post(f"{base}/team", json={"team_id": desk.a.team_id}, headers=owner)
    assert team.json()["team"] == {"id": desk.a.team_id, "name": "Care A"}

    paris = timezone(timedelta(hours=1))
    wake = (clock.now() + timedelta(days=1)).astimezone(paris).isoformat()
    snoozed = client.post(
        f"{base}/status", json={"status": "snoozed", "snoozed_until": wake}, headers=owner
    )
    assert snoozed.status_code == 200
    assert snoozed.json()["status"] == "snoozed"
    assert snoozed.json()["snoozed_until"] == "2026-01-06T09:00:00+00:00"

    tagged = client.post(f"{base}/tags", json={"name": "Refund Request"}, headers=owner)
    assert tagged.json()["tags"] == ["delivery", "refund request"]
    untagged = client.delete(f"{base}/tags/refund request", headers=owner)
    assert untagged.json()["tags"] == ["delivery"]

    resolved = client.post(f"{base}/status", json={"status": "resolved"}, headers=owner)
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["resolved_at"] == "2026-01-05T09:00:00+00:00"
    unassigned = client.post(f"{base}/assign", json={"assignee_id": None}, headers=owner)
    assert unassigned.json()["assignee"] is None

    note = client.post(f"{base}/notes", json={"text": "Courier says Tuesday"}, headers=owner)
    assert note.status_code == 201
    assert note.json()["visibility"] == "note"
    assert note.json()["delivery_state"] is None
    assert note.json()["author"]["type"] == "member"

    # What people did (triage's own entries, made by the desk at ingest, come first).
    trail = [
        a
        for a in client.get(f"{base}/activities", headers=owner).json()["items"]
        if a["actor_member_id"] is not None
    ]
    kinds = [a["kind"] for a in trail]
    assert trail[3]["data"] == {
        "from": "open",
        "to": "snoozed",
        "until": "2026-01-06T09:00:00+00:00",
    }
    assert kinds == [
        "tagged",
        "assigned",
        "team_changed",
        "status_changed",
        "tagged",
        "untagged",
        "status_changed",
        "assigned",
        "note_added",
    ]
    activities = _walk(client, f"{base}/activities", desk.a.owner_token, limit=4)
    assert [a["kind"] for a in activities if a["actor_member_id"] is not None] == kinds


def test_related_conversations_follow_the_contact(
    client: TestClient, desk: Desk, session: Session, clock: FrozenClock
) -> None:
    owner = bearer(desk.a.owner_token)
    related = client.get(f"/api/conversations/{desk.a.conversation_id}/related", headers=owner)
    assert related.json() == {"items": [], "next_cursor": None}
    # The two customers turn out to be one person.
    merged = client.post(
        f"/api/contacts/{desk.a.other_contact_id}/merge",
        json={"into_id": desk.a.contact_id},
        headers=owner,
    )
    assert merged.status_code == 200
    assert merged.json()["id"] == desk.a.contact_id
    assert {i["native_id"] for i in merged.json()["identities"]} == {"a-cust", "a-other"}
    related = client.get(f"/api/conversations/{desk.a.conversation_id}/related", headers=owner)
    items = related.json()["items"]
    assert len(items) == 1
    assert items[0]["contact"]["id"] == desk.a.contact_id
    assert items[0]["last_preview"] == "Where can I change my address?"

    gone = client.get(f"/api/contacts/{desk.a.other_contact_id}", headers=owner).json()
    assert gone["merged_into_id"] == desk.a.contact_id
    listed = client.get("/api/contacts", headers=owner).json()["items"]
    assert [c["id"] for c in listed] == [desk.a.contact_id]


def test_likely_same_customers(client: TestClient, desk: Desk, session: Session) -> None:
    from tests.factories import channels

    org = session.get_one(BrandAccount, desk.a.brand_account_id).organization_id
    account = session.get_one(BrandAccount, desk.a.brand_account_id)
    mail = channels.brand_account(session, session.get_one(Organization, org), kind="email")
    on_web = ingest(session, account, inbound(author="lena brandt")).conversation.contact_id
    by_mail = ingest(session, mail, inbound(author="lena brandt")).conversation.contact_id
    session.commit()
    viewer = bearer(desk.a.viewer_token)
    found = client.get(f"/api/contacts/{on_web}/likely-same", headers=viewer)
    assert found.status_code == 200
    assert [(s["contact"]["id"], s["reason"]) for s in found.json()] == [(by_mail, "the same name")]
    assert client.get(f"/api/contacts/{desk.a.contact_id}/likely-same", headers=viewer).json() == []
    foreign = client.get(f"/api/contacts/{on_web}/likely-same", headers=bearer(desk.b.owner_token))
    assert foreign.status_code == 404


def test_a_merge_is_listed_and_undone(client: TestClient, desk: Desk) -> None:
    owner, agent, viewer = (
        bearer(desk.a.owner_token),
        bearer(desk.a.agent_token),
        bearer(desk.a.viewer_token),
    )
    source, target = desk.a.other_contact_id, desk.a.contact_id
    merged = client.post(f"/api/contacts/{source}/merge", json={"into_id": target}, headers=agent)
    assert merged.status_code == 200
    listed = client.get(f"/api/contacts/{target}/merges", headers=viewer).json()
    assert len(listed) == 1
    merge = listed[0]
    assert (merge["source_id"], merge["target_id"], merge["undone_at"]) == (source, target, None)
    assert (merge["identities"], merge["conversations"]) == (1, 1)
    assert merge["actor_member_id"] == desk.a.agent.id
    assert client.get(f"/api/contacts/{source}/merges", headers=viewer).json() == listed

    undo = f"/api/contacts/{target}/merges/{merge['id']}/undo"
    assert client.post(undo, headers=viewer).status_code == 403
    elsewhere = f"/api/contacts/{desk.b.contact_id}/merges/{merge['id']}/undo"
    assert client.post(elsewhere, headers=bearer(desk.b.owner_token)).status_code == 404
    undone = client.post(undo, headers=owner)
    assert undone.status_code == 200
    body = undone.json()
    assert body["contact"]["id"] == source
    assert body["contact"]["merged_into_id"] is None
    assert [i["native_id"] for i in body["contact"]["identities"]] == ["a-other"]
    assert (body["conversations_back"], body["conversations_kept"]) == (1, 0)
    again = client.post(undo, headers=owner)
    assert again.status_code == 422
    assert again.json()["error"]["message"] == f"merge {merge['id']} was undone already"
    assert client.get(f"/api/contacts/{target}/merges", headers=viewer).json()[0]["undone_at"]


def test_contact_search(client: TestClient, desk: Desk) -> None:
    agent = bearer(desk.a.agent_token)
    found = client.get("/api/contacts", params={"q": "@A-Oth"}, headers=agent).json()["items"]
    assert [c["id"] for c in found] == [desk.a.other_contact_id]
    assert found[0]["identities"][0]["handle"] == "@a-other"
    # Any part of a name, handle or address, when nothing starts with it.
    part = client.get("/api/contacts", params={"q": "other"}, headers=agent).json()["items"]
    assert [c["id"] for c in part] == [desk.a.other_contact_id]
    none = client.get("/api/contacts", params={"q": "nobody"}, headers=agent).json()
    assert none == {"items": [], "next_cursor": None}
    walked = _walk(client, "/api/contacts", desk.a.agent_token, limit=1)
    assert [c["id"] for c in walked] == [desk.a.other_contact_id, desk.a.contact_id]
    assert client.get("/api/contacts", params={"vip": "true"}, headers=agent).json() == {
        "items": [],
        "next_cursor": None,
    }
    active = client.get("/api/contacts", params={"order": "active"}, headers=agent).json()
    assert {c["id"] for c in active["items"]} == {desk.a.other_contact_id, desk.a.contact_id}
    refused = client.get("/api/contacts", params={"order": "loudest"}, headers=agent)
    assert refused.status_code == 422
    assert "order" in refused.text


def test_members_and_teams_lists(client: TestClient, desk: Desk) -> None:
    viewer = bearer(desk.a.viewer_token)
    members = _walk(client, "/api/members", desk.a.viewer_token, limit=2)
    assert [m["id"] for m in members] == [desk.a.owner.id, desk.a.agent.id, desk.a.viewer.id]
    assert {m["role"] for m in members} == {"owner", "agent", "viewer"}
    assert "password_hash" not in members[0]
    teams = client.get("/api/teams", headers=viewer).json()
    assert teams == {
        "items": [
            {"id": desk.a.team_id, "name": "Care A", "created_at": teams["items"][0]["created_at"]}
        ],
        "next_cursor": None,
    }


def test_validation_errors_name_the_field(client: TestClient, desk: Desk) -> None:
    agent = bearer(desk.a.agent_token)
    base = f"/api/conversations/{desk.a.conversation_id}"
    # method, path, query parameters, JSON body, the field the error names
    cases: list[tuple[str, str, dict[str, str | int] | None, dict[str, object] | None, str]] = [
        ("GET", "/api/conversations", {"limit": 0}, None, "limit"),
        ("GET", "/api/conversations", {"limit": 201}, None, "limit"),
        ("GET", "/api/conversations", {"status": "closed"}, None, "status"),
        ("GET", "/api/conversations", {"assignee": "somebody"}, None, "assignee"),
        ("GET", "/api/conversations", {"min_priority": 9}, None, "min_priority"),
        ("GET", "/api/conversations", {"cursor": "not-a-cursor"}, None, "cursor"),
        ("GET", "/api/conversations", {"tag": "!!"}, None, "tag"),
        ("GET", "/api/conversations", {"channel": "carrier-pigeon"}, None, "channel"),
        ("GET", "/api/conversations", {"awaiting": "us"}, None, "awaiting"),
        ("GET", f"{base}/messages", {"cursor": "bm9wZQ"}, None, "cursor"),
        ("POST", f"{base}/replies", None, {"text": ""}, "text"),
        ("POST", f"{base}/replies", None, {"text": "hi", "visibility": "note"}, "visibility"),
        ("POST", f"{base}/notes", None, {}, "text"),
        ("POST", f"{base}/status", None, {"status": "snoozed"}, "snoozed_until"),
        (
            "POST",
            f"{base}/status",
            None,
            {"status": "snoozed", "snoozed_until": "2026-02-01T09:00:00"},
            "snoozed_until",
        ),
        (
            "POST",
            f"{base}/status",
            None,
            {"status": "snoozed", "snoozed_until": "2025-02-01T09:00:00+00:00"},
            "snoozed_until",
        ),
        ("POST", f"{base}/priority", None, {"priority": 7}, "priority"),
        # The body's field is name (the batch endpoint's is tag: tests/api/test_batch.py).
        ("POST", f"{base}/tags", None, {"name": "no/slashes"}, "name"),
        ("DELETE", f"{base}/tags/no*stars", None, None, "name"),
        ("POST", f"{base}/assign", None, {}, "assignee_id"),
        ("POST", f"{base}/assign", None, {"assignee_id": "me"}, "assignee_id"),
        ("POST", f"{base}/assign", None, {"assignee_id": None, "extra": 1}, "extra"),
    ]
    for method, path, params, body, field in cases:
        response = client.request(method, path, params=params, json=body, headers=agent)
        assert response.status_code == 422, (path, params, body, response.text)
        error = response.json()["error"]
        assert error["field"] == field, (path, params, body, error)
        assert error["code"] == "invalid"
        assert error["message"]


def test_unknown_ids_are_404_with_a_message(client: TestClient, desk: Desk) -> None:
    response = client.get("/api/conversations/424242", headers=bearer(desk.a.agent_token))
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": "not_found",
            "message": "conversation 424242 does not exist",
            "field": None,
        }
    }


def test_a_note_names_and_tells_the_colleagues_it_mentions(
    client: TestClient, desk: Desk, session: Session
) -> None:
    base = f"/api/conversations/{desk.a.conversation_id}"
    note = client.post(
        f"{base}/notes",
        json={"text": "@Agent A and @Viewer A: the courier calls back at 3. @Nobody?"},
        headers=bearer(desk.a.owner_token),
    )
    assert note.status_code == 201, note.text
    assert note.json()["mentioned_member_ids"] == [desk.a.agent.id, desk.a.viewer.id]
    assert note.json()["mentioned_team_ids"] == []
    inbox = client.get("/api/notifications", headers=bearer(desk.a.agent_token)).json()
    assert [n["title"] for n in inbox["items"]] == ["Owner A mentioned you in a note"]
    assert (
        client.get("/api/notifications", headers=bearer(desk.b.owner_token)).json()["items"] == []
    )
    reply = client.post(
        f"{base}/replies",
        json={"text": "@Agent A will call you"},
        headers=bearer(desk.a.owner_token),
    )
    assert reply.status_code == 202, reply.text
    assert reply.json()["mentioned_member_ids"] == []  # replies go to the customer, not colleagues

    team_note = client.post(
        f"{base}/notes", json={"text": "@Care A, who's free?"}, headers=bearer(desk.a.agent_token)
    )
    assert team_note.status_code == 201, team_note.text
    assert team_note.json()["mentioned_team_ids"] == [desk.a.team_id]
