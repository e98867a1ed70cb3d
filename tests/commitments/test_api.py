"""The commitments REST API: create, list with filters, update, close; the conversation status
route's question about open commitments; roles, token scopes and organization isolation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member
from socialdesk.commitments.models import Commitment
from socialdesk.common.clock import FrozenClock
from socialdesk.conversations.models import DeliveryState, Message
from socialdesk.db.session import get_sessionmaker
from tests.commitments.test_service import PROMISE, World, build_world


@dataclass
class Desk:
    a: World
    b: World
    tokens: dict[str, str]


def _token(session: Session, member: Member, scopes: list[str] | None = None) -> str:
    return accounts_service.create_api_token(
        session, member=member, name="tests", scopes=scopes
    ).token


@pytest.fixture
def desk(session: Session) -> Desk:
    a = build_world(session, name="Alpha")
    b = build_world(session, name="Beta")
    tokens = {
        "agent": _token(session, a.agent),
        "owner": _token(session, a.owner),
        "viewer": _token(session, a.viewer),
        "reply_scope": _token(session, a.colleague, ["reply"]),
        "b_owner": _token(session, b.owner),
    }
    session.commit()
    return Desk(a=a, b=b, tokens=tokens)


@pytest.fixture
def client(database_url: str, clock: FrozenClock) -> Iterator[TestClient]:
    from socialdesk.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


class Api:
    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api{path}", params=params, headers=self.headers)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(f"/api{path}", json=body, headers=self.headers)

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.patch(f"/api{path}", json=body, headers=self.headers)


def api(client: TestClient, desk: Desk, who: str = "agent") -> Api:
    return Api(client, desk.tokens[who])


def _create(a: Api, conversation_id: int, **body: Any) -> dict[str, Any]:
    response = a.post(f"/conversations/{conversation_id}/commitments", {"text": "Call", **body})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_create_read_update_close(client: TestClient, desk: Desk) -> None:
    a = api(client, desk)
    cid = desk.a.conversation.id
    made = _create(a, cid, text="A technician calls", due_text="tomorrow between 9 and 11")
    assert made["owner_id"] == desk.a.agent.id  # the conversation's assignee
    assert made["team_id"] == desk.a.team.id
    assert made["due_at"] == "2026-01-06T10:00:00+00:00"  # 11:00 in Amsterdam
    assert made["remind_at"] == "2026-01-06T08:00:00+00:00"
    assert made["source"] == "manual"
    assert made["status"] == "open"
    assert made["overdue"] is False
    assert a.get(f"/commitments/{made['id']}").json() == made

    changed = a.patch(
        f"/commitments/{made['id']}",
        {"due_at": "2026-01-07T15:00:00+01:00", "owner_id": desk.a.lead.id, "team_id": None},
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["due_at"] == "2026-01-07T14:00:00+00:00"
    assert body["owner_id"] == desk.a.lead.id
    assert body["team_id"] is None

    closed = a.post(
        f"/commitments/{made['id']}/close", {"status": "kept", "evidence": "Technician called"}
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "kept"
    assert closed.json()["evidence"] == "Technician called"
    again = a.post(f"/commitments/{made['id']}/close", {"status": "broken", "evidence": "x"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert a.patch(f"/commitments/{made['id']}", {"text": "x"}).status_code == 409


def test_create_refusals_name_the_field(client: TestClient, desk: Desk) -> None:
    a = api(client, desk)
    cid = desk.a.conversation.id
    both = a.post(
        f"/conversations/{cid}/commitments",
        {"text": "x", "due_at": "2026-01-07T15:00:00Z", "due_text": "tomorrow"},
    )
    assert both.status_code == 422
    naive = a.post(f"/conversations/{cid}/commitments", {"text": "x", "due_at": "2026-01-07T15:00"})
    assert naive.status_code == 422
    past = a.post(
        f"/conversations/{cid}/commitments", {"text": "x", "due_at": "2026-01-01T15:00:00Z"}
    )
    assert past.status_code == 422
    assert past.json()["error"]["field"] == "due_at"
    words = a.post(f"/conversations/{cid}/commitments", {"text": "x", "due_text": "at some point"})
    assert words.status_code == 422
    assert words.json()["error"]["field"] == "due_text"
    foreign = a.post(
        f"/conversations/{cid}/commitments", {"text": "x", "owner_id": desk.b.agent.id}
    )
    assert foreign.status_code == 404
    assert foreign.json()["error"]["field"] == "owner_id"
    bad_close = a.post("/commitments/1/close", {"status": "open", "evidence": "x"})
    assert bad_close.status_code in (404, 422)


def test_lists_filter_by_owner_team_status_and_overdue(
    client: TestClient, desk: Desk, clock: FrozenClock
) -> None:
    a = api(client, desk)
    cid = desk.a.conversation.id
    soon = _create(a, cid, text="Soon", due_at=(clock.now() + timedelta(hours=1)).isoformat())
    later = _create(a, cid, text="Later", due_at=(clock.now() + timedelta(days=2)).isoformat())
    leads = _create(
        a,
        cid,
        text="Lead's",
        owner_id=desk.a.lead.id,
        due_at=(clock.now() + timedelta(hours=5)).isoformat(),
    )
    done = _create(a, cid, text="Done")
    a.post(f"/commitments/{done['id']}/close", {"status": "cancelled", "evidence": "not needed"})
    clock.advance(timedelta(hours=2))

    def ids(**params: Any) -> list[int]:
        response = a.get("/commitments", **params)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    assert ids(owner="me") == [soon["id"], later["id"]]  # overdue first
    assert ids(owner=str(desk.a.lead.id)) == [leads["id"]]
    assert ids(team_id=desk.a.team.id) == [soon["id"], leads["id"], later["id"]]
    assert ids(overdue="true") == [soon["id"]]
    assert ids(status="cancelled") == [done["id"]]
    assert ids(status="closed") == [done["id"]]
    assert len(ids(status="all")) == 4
    assert a.get("/commitments", status="late").status_code == 422
    assert a.get("/commitments", owner="someone").status_code == 422
    listed = a.get("/commitments", owner="me").json()["items"]
    assert listed[0]["overdue"] is True
    page = a.get("/commitments", status="all", limit=2).json()
    assert len(page["items"]) == 2
    assert page["next_cursor"]
    conversation = a.get(f"/conversations/{cid}/commitments").json()
    # Open ones by due time first, then the closed one.
    assert [c["id"] for c in conversation] == [soon["id"], leads["id"], later["id"], done["id"]]


def test_resolving_with_open_commitments_needs_a_choice(client: TestClient, desk: Desk) -> None:
    a = api(client, desk)
    cid = desk.a.conversation.id
    first = _create(a, cid, text="Call back")
    second = _create(a, cid, text="Refund")
    asked = a.post(f"/conversations/{cid}/status", {"status": "resolved"})
    assert asked.status_code == 409
    error = asked.json()["error"]
    assert error["code"] == "open_commitments"
    assert error["field"] == "commitments"
    assert [c["id"] for c in error["commitments"]] == [first["id"], second["id"]]
    assert error["choices"] == ["keep_open", "kept", "cancel"]
    assert a.get(f"/conversations/{cid}").json()["status"] == "open"  # nothing changed

    # Other status changes ask nothing.
    assert a.post(f"/conversations/{cid}/status", {"status": "pending"}).status_code == 200
    wrong = a.post(f"/conversations/{cid}/status", {"status": "resolved", "commitments": "later"})
    assert wrong.status_code == 422

    kept = a.post(
        f"/conversations/{cid}/status",
        {"status": "resolved", "commitments": "kept", "commitments_note": "Both done"},
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["status"] == "resolved"
    rows = a.get(f"/conversations/{cid}/commitments").json()
    assert {c["status"] for c in rows} == {"kept"}
    assert all("Both done" in c["evidence"] for c in rows)


def test_resolving_may_keep_the_promises_open(client: TestClient, desk: Desk) -> None:
    a = api(client, desk)
    cid = desk.a.conversation.id
    made = _create(a, cid)
    done = a.post(
        f"/conversations/{cid}/status", {"status": "resolved", "commitments": "keep_open"}
    )
    assert done.status_code == 200
    assert a.get(f"/commitments/{made['id']}").json()["status"] == "open"
    # Reopening and resolving again asks again: the promise still stands.
    assert a.post(f"/conversations/{cid}/status", {"status": "open"}).status_code == 200
    assert a.post(f"/conversations/{cid}/status", {"status": "resolved"}).status_code == 409
    cancel = a.post(f"/conversations/{cid}/status", {"status": "resolved", "commitments": "cancel"})
    assert cancel.status_code == 200
    assert a.get(f"/commitments/{made['id']}").json()["status"] == "cancelled"


def test_roles_and_scopes(client: TestClient, desk: Desk) -> None:
    cid = desk.a.conversation.id
    made = _create(api(client, desk), cid)
    viewer = api(client, desk, "viewer")
    assert viewer.get("/commitments").status_code == 200
    assert viewer.get(f"/commitments/{made['id']}").status_code == 200
    assert viewer.post(f"/conversations/{cid}/commitments", {"text": "x"}).status_code == 403
    assert viewer.patch(f"/commitments/{made['id']}", {"text": "x"}).status_code == 403
    closing = {"status": "kept", "evidence": "x"}
    assert viewer.post(f"/commitments/{made['id']}/close", closing).status_code == 403
    # A token scoped to replying may add a promise (like a note) but not manage one.
    scoped = api(client, desk, "reply_scope")
    assert scoped.post(f"/conversations/{cid}/commitments", {"text": "x"}).status_code == 201
    assert scoped.post(f"/commitments/{made['id']}/close", closing).status_code == 403
    assert client.get("/api/commitments").status_code == 401


def test_another_organization_gets_404_and_sees_nothing(client: TestClient, desk: Desk) -> None:
    made = _create(api(client, desk), desk.a.conversation.id)
    b = api(client, desk, "b_owner")
    assert b.get(f"/commitments/{made['id']}").status_code == 404
    assert b.patch(f"/commitments/{made['id']}", {"text": "x"}).status_code == 404
    assert (
        b.post(f"/commitments/{made['id']}/close", {"status": "kept", "evidence": "x"}).status_code
        == 404
    )
    assert b.get(f"/conversations/{desk.a.conversation.id}/commitments").status_code == 404
    assert (
        b.post(f"/conversations/{desk.a.conversation.id}/commitments", {"text": "x"}).status_code
        == 404
    )
    assert b.get("/commitments", status="all").json()["items"] == []
    assert b.get("/commitments", conversation_id=desk.a.conversation.id).json()["items"] == []
    # Their own conversation, with our team: the team is not found.
    other = b.post(
        f"/conversations/{desk.b.conversation.id}/commitments",
        {"text": "x", "team_id": desk.a.team.id},
    )
    assert other.status_code == 404


def test_promise_settings_are_for_admins_of_the_organization(
    client: TestClient, desk: Desk
) -> None:
    owner = api(client, desk, "owner")
    assert owner.get("/admin/promises").json() == {"default_hours": None, "reminder_minutes": 120}
    saved = owner.client.put(
        "/api/admin/promises",
        json={"default_hours": 8, "reminder_minutes": 45},
        headers=owner.headers,
    )
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"default_hours": 8, "reminder_minutes": 45}
    refused = owner.client.put(
        "/api/admin/promises", json={"reminder_minutes": -5}, headers=owner.headers
    )
    assert refused.status_code == 422
    assert "reminder" in refused.text
    assert owner.get("/admin/promises").json()["reminder_minutes"] == 45  # unchanged
    assert api(client, desk, "agent").get("/admin/promises").status_code == 403
    other = api(client, desk, "b_owner").get("/admin/promises").json()
    assert other == {"default_hours": None, "reminder_minutes": 120}  # Beta's own


def _stored(conversation_id: int) -> list[Commitment]:
    with get_sessionmaker(write=False)() as reader:
        return list(
            reader.scalars(
                select(Commitment)
                .where(Commitment.conversation_id == conversation_id)
                .order_by(Commitment.id)
            )
        )


def test_the_preview_shows_what_a_draft_would_promise(client: TestClient, desk: Desk) -> None:
    a = api(client, desk)
    cid = desk.a.conversation.id
    response = a.post(f"/conversations/{cid}/promises/preview", {"text": f"Sorry! {PROMISE}."})
    assert response.status_code == 200, response.text
    [found] = response.json()
    assert found["key"]
    assert found["due_at"] == "2026-01-06T10:00:00+00:00"  # 11:00 tomorrow in Amsterdam
    assert found["due_is_default"] is False
    assert found["start"] == len("Sorry! ")
    assert a.post(f"/conversations/{cid}/promises/preview", {"text": "Thanks!"}).json() == []
    assert _stored(cid) == []  # a preview stores nothing
    empty = a.post(f"/conversations/{cid}/promises/preview", {"text": ""})
    assert empty.status_code == 422
    other = api(client, desk, "b_owner").post(
        f"/conversations/{cid}/promises/preview", {"text": PROMISE}
    )
    assert other.status_code == 404


def test_replies_and_notes_through_the_api_keep_their_promises(
    client: TestClient, desk: Desk
) -> None:
    a = api(client, desk)
    cid = desk.a.conversation.id
    reply = a.post(f"/conversations/{cid}/replies", {"text": PROMISE})
    assert reply.status_code == 202, reply.text
    [kept] = _stored(cid)
    assert (kept.message_id, kept.owner_id, kept.source) == (
        reply.json()["id"],
        desk.a.agent.id,
        "detected",
    )
    assert kept.due_at == datetime(2026, 1, 6, 10, 0, tzinfo=UTC)
    assert reply.json()["commitment_ids"] == [kept.id]  # what was tracked, without a lookup

    key = a.post(f"/conversations/{cid}/promises/preview", {"text": PROMISE}).json()[0]["key"]
    dropped = a.post(
        f"/conversations/{cid}/replies",
        {"text": PROMISE, "promises": [{"key": key, "keep": False}]},
    )
    assert dropped.status_code == 202, dropped.text
    assert dropped.json()["commitment_ids"] == []
    assert len(_stored(cid)) == 1

    edited = a.post(
        f"/conversations/{cid}/notes",
        {
            "text": PROMISE,
            "promises": [
                {"key": key, "text": "Technician visit", "due_at": "2026-01-08T12:00:00+01:00"}
            ],
        },
    )
    assert edited.status_code == 201, edited.text
    note_promise = _stored(cid)[-1]
    assert note_promise.text == "Technician visit"
    assert note_promise.due_at == datetime(2026, 1, 8, 11, 0, tzinfo=UTC)
    assert note_promise.message_id == edited.json()["id"]
    assert edited.json()["commitment_ids"] == [note_promise.id]

    past = a.post(
        f"/conversations/{cid}/notes",
        {"text": PROMISE, "promises": [{"key": key, "due_at": "2025-01-01T00:00:00+00:00"}]},
    )
    assert past.status_code == 422
    assert len(_stored(cid)) == 2  # the refused note kept nothing, and was not added
    unknown = a.post(
        f"/conversations/{cid}/replies", {"text": "Thanks", "promises": [{"kep": False}]}
    )
    assert unknown.status_code == 422


def test_a_promise_whose_reply_failed_to_deliver_says_so(client: TestClient, desk: Desk) -> None:
    a = api(client, desk)
    cid = desk.a.conversation.id
    reply = a.post(f"/conversations/{cid}/replies", {"text": PROMISE}).json()
    [kept] = _stored(cid)
    assert a.get(f"/commitments/{kept.id}").json()["reply_undelivered"] is None
    with get_sessionmaker()() as writer:
        message = writer.get(Message, reply["id"])
        assert message is not None
        message.delivery_state = DeliveryState.FAILED.value
        message.delivery_error = "403: your access tier does not allow replies"
        writer.commit()
    one = a.get(f"/commitments/{kept.id}").json()
    assert one["reply_undelivered"] == "403: your access tier does not allow replies"
    [listed] = a.get("/commitments", conversation_id=cid).json()["items"]
    assert listed["reply_undelivered"] == one["reply_undelivered"]
    [in_conversation] = a.get(f"/conversations/{cid}/commitments").json()
    assert in_conversation["reply_undelivered"] == one["reply_undelivered"]
    closed = a.post(
        f"/commitments/{kept.id}/close", {"status": "cancelled", "evidence": "never sent"}
    )
    assert closed.json()["reply_undelivered"] is None  # only open promises are owed
