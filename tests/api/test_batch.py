"""One change to many conversations (POST /api/conversations/batch): each is changed as its own
endpoint would change it, with its trail entry; all or none, the refusal naming the
conversation; another organization's ids are unknown; viewers may not."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.api.conftest import Desk, bearer
from tests.factories.conversations import inbound, ingest

from socialdesk.channels.models import BrandAccount
from socialdesk.commitments import service as commitments_service
from socialdesk.common.clock import FrozenClock
from socialdesk.conversations.models import Activity, Conversation

URL = "/api/conversations/batch"


def _three(session: Session, desk: Desk, clock: FrozenClock) -> list[int]:
    account = session.get_one(BrandAccount, desk.a.brand_account_id)
    ids = [
        ingest(
            session,
            account,
            inbound(
                native_id=f"wave-{i}",
                author=f"wave-{i}",
                text="Is tram 4 running?",
                at=clock.now() - timedelta(minutes=10 - i),
            ),
        ).conversation.id
        for i in range(3)
    ]
    session.commit()
    return ids


def _statuses(session: Session, ids: list[int]) -> list[str]:
    session.expire_all()
    found = [session.get_one(Conversation, i).status for i in ids]
    session.commit()  # end the read: the next request must find no lock held
    return found


def test_resolve_assign_and_tag_many_at_once(
    client: TestClient, desk: Desk, session: Session, clock: FrozenClock
) -> None:
    ids = _three(session, desk, clock)
    owner_id, agent_id = desk.a.owner.id, desk.a.agent.id
    session.commit()  # the ids are read: no transaction stays open in the requests' way
    agent = bearer(desk.a.agent_token)
    resolved = client.post(URL, headers=agent, json={"conversation_ids": ids, "change": "resolve"})
    assert resolved.status_code == 200, resolved.text
    assert [c["id"] for c in resolved.json()] == ids
    assert {c["status"] for c in resolved.json()} == {"resolved"}
    assert _statuses(session, ids) == ["resolved"] * 3
    trail = session.scalars(
        select(Activity.conversation_id).where(
            Activity.conversation_id.in_(ids), Activity.kind == "status_changed"
        )
    ).all()
    assert sorted(trail) == sorted(ids)  # each has its own entry
    session.commit()

    given = client.post(
        URL,
        headers=agent,
        json={"conversation_ids": ids[:2], "change": "assign", "assignee_id": owner_id},
    )
    assert given.status_code == 200, given.text
    assert [c["assignee"]["id"] for c in given.json()] == [owner_id] * 2
    tagged = client.post(
        URL, headers=agent, json={"conversation_ids": ids, "change": "tag", "tag": "#Tram 4"}
    )
    assert tagged.status_code == 200, tagged.text
    assert all("tram 4" in c["tags"] for c in tagged.json())
    claimed = client.post(URL, headers=agent, json={"conversation_ids": ids, "change": "claim"})
    assert [c["assignee"]["id"] for c in claimed.json()] == [agent_id] * 3
    team = client.post(
        URL,
        headers=agent,
        json={"conversation_ids": ids, "change": "team", "team_id": desk.a.team_id},
    )
    assert [c["team"]["id"] for c in team.json()] == [desk.a.team_id] * 3
    urgent = client.post(
        URL, headers=agent, json={"conversation_ids": ids, "change": "priority", "priority": 3}
    )
    assert [c["priority"] for c in urgent.json()] == [3] * 3
    wake = (clock.now() + timedelta(hours=2)).isoformat()
    snoozed = client.post(
        URL,
        headers=agent,
        json={"conversation_ids": ids[:1], "change": "snooze", "snoozed_until": wake},
    )
    assert snoozed.status_code == 200, snoozed.text
    assert snoozed.json()[0]["status"] == "snoozed"
    for body, field in (
        ({"change": "snooze"}, "snoozed_until"),
        ({"change": "priority"}, "priority"),
    ):
        refused = client.post(URL, headers=agent, json={"conversation_ids": ids, **body})
        assert refused.status_code == 422
        assert refused.json()["error"]["field"] == field


def test_one_refusal_changes_none_and_names_the_conversation(
    client: TestClient, desk: Desk, session: Session, clock: FrozenClock
) -> None:
    ids = _three(session, desk, clock)
    promised = session.get_one(Conversation, ids[1])
    commitments_service.create(
        session, conversation=promised, actor=desk.a.agent, text="We call you back today"
    )
    session.commit()
    everyone = {"conversation_ids": ids, "change": "resolve"}
    refused = client.post(URL, headers=bearer(desk.a.agent_token), json=everyone)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["message"] == (
        f"conversation #{ids[1]}: it has 1 open promise: resolve it on its own page, which asks "
        "what becomes of them"
    )
    assert _statuses(session, ids) == ["open"] * 3  # the first was not resolved either

    bad_tag = client.post(
        URL,
        headers=bearer(desk.a.agent_token),
        json={"conversation_ids": ids, "change": "tag", "tag": "no/slashes"},
    )
    assert bad_tag.status_code == 422
    assert bad_tag.json()["error"]["field"] == "tag"


def test_ids_of_another_organization_are_unknown_and_viewers_may_not(
    client: TestClient, desk: Desk, session: Session, clock: FrozenClock
) -> None:
    ids = _three(session, desk, clock)
    theirs = desk.b.conversation_id
    crossed = client.post(
        URL,
        headers=bearer(desk.a.owner_token),
        json={"conversation_ids": [*ids, theirs], "change": "resolve"},
    )
    assert crossed.status_code == 404
    assert crossed.json()["error"]["message"] == f"conversation {theirs} does not exist"
    assert _statuses(session, [*ids, theirs]) == ["open"] * 4

    everyone = {"conversation_ids": ids, "change": "resolve"}
    viewer = client.post(URL, headers=bearer(desk.a.viewer_token), json=everyone)
    assert viewer.status_code == 403
    for body, field in (
        ({"conversation_ids": [], "change": "resolve"}, "conversation_ids"),
        ({"conversation_ids": list(range(1, 102)), "change": "resolve"}, "conversation_ids"),
        ({"conversation_ids": ids, "change": "delete"}, "change"),
    ):
        refused = client.post(URL, headers=bearer(desk.a.owner_token), json=body)
        assert refused.status_code == 422, body
        assert field in str(refused.json()["error"])
