"""Who else is on a conversation: an announcement reaches colleagues (and only them), holds for
a while, ends when the member leaves, and is told apart from another conversation's or another
organization's. Through the service and the REST API, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.api.conftest import Desk, bearer
from tests.factories import accounts

from socialdesk.accounts.models import Organization
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common.clock import FrozenClock
from socialdesk.conversations import presence
from socialdesk.conversations.models import Conversation
from socialdesk.events import realtime
from socialdesk.events.models import EventRecord


def _url(desk: Desk) -> str:
    return f"/api/conversations/{desk.a.conversation_id}/presence"


def _kinds(session: Session) -> dict[str, int]:
    counted = session.execute(select(EventRecord.kind, func.count()).group_by(EventRecord.kind))
    return {str(kind): int(n) for kind, n in counted}


def test_a_colleague_sees_who_is_writing_a_reply_and_it_lapses(
    session: Session, desk: Desk, clock: FrozenClock
) -> None:
    conversation = session.get_one(Conversation, desk.a.conversation_id)
    agent, owner = session.merge(desk.a.agent), session.merge(desk.a.owner)
    presence.announce(
        session, conversation=conversation, member=agent, activity=presence.Activity.REPLYING
    )
    presence.announce(
        session, conversation=conversation, member=owner, activity=presence.Activity.VIEWING
    )
    session.commit()

    seen_by_owner = presence.others(session, conversation=conversation, me=owner)
    assert [(p.name, p.activity) for p in seen_by_owner] == [
        (agent.name, presence.Activity.REPLYING)
    ]
    assert seen_by_owner[0].until == clock.now() + presence.HOLD
    # Those writing a reply come first.
    third = accounts.member(
        session, session.get_one(Organization, agent.organization_id), name="Aaron"
    )
    assert [p.activity for p in presence.others(session, conversation=conversation, me=third)] == [
        presence.Activity.REPLYING,
        presence.Activity.VIEWING,
    ]

    # The latest announcement counts: back to reading, then gone.
    clock.advance(timedelta(seconds=10))
    presence.announce(
        session, conversation=conversation, member=agent, activity=presence.Activity.VIEWING
    )
    assert [p.activity for p in presence.others(session, conversation=conversation, me=owner)] == [
        presence.Activity.VIEWING
    ]
    presence.announce(
        session, conversation=conversation, member=agent, activity=presence.Activity.LEFT
    )
    assert presence.others(session, conversation=conversation, me=owner) == []

    # Not renewed: it lapses.
    presence.announce(
        session, conversation=conversation, member=agent, activity=presence.Activity.REPLYING
    )
    clock.advance(presence.HOLD + timedelta(seconds=1))
    assert presence.others(session, conversation=conversation, me=owner) == []


def test_presence_events_leave_the_log_after_an_hour_and_others_stay(
    session: Session, desk: Desk, clock: FrozenClock
) -> None:
    conversation = session.get_one(Conversation, desk.a.conversation_id)
    agent = session.merge(desk.a.agent)
    presence.announce(
        session, conversation=conversation, member=agent, activity=presence.Activity.VIEWING
    )
    session.commit()
    kinds_before = _kinds(session)
    clock.advance(timedelta(hours=1, seconds=1))
    assert realtime.prune(session) == 1
    kinds_after = _kinds(session)
    assert kinds_after == {k: n for k, n in kinds_before.items() if k != presence.KIND}


def test_the_api_announces_and_lists_colleagues(client: TestClient, desk: Desk) -> None:
    posted = client.post(
        _url(desk), json={"activity": "replying"}, headers=bearer(desk.a.agent_token)
    )
    assert posted.status_code == 200, posted.text
    assert posted.json() == {"items": []}  # nobody else yet

    answer = client.post(
        _url(desk), json={"activity": "viewing"}, headers=bearer(desk.a.owner_token)
    )
    items = answer.json()["items"]
    assert [(i["member_id"], i["name"], i["activity"]) for i in items] == [
        (desk.a.agent.id, desk.a.agent.name, "replying")
    ]
    assert items[0]["until"].endswith("Z") or items[0]["until"].endswith("+00:00")

    # A viewer reads who is on it; they do not announce (they cannot reply).
    listed = client.get(_url(desk), headers=bearer(desk.a.viewer_token))
    assert listed.status_code == 200
    assert {i["activity"] for i in listed.json()["items"]} == {"replying", "viewing"}
    refused = client.post(
        _url(desk), json={"activity": "viewing"}, headers=bearer(desk.a.viewer_token)
    )
    assert refused.status_code == 403


def test_the_api_names_a_bad_activity_and_keeps_other_organizations_out(
    client: TestClient, desk: Desk, session: Session
) -> None:
    bad = client.post(_url(desk), json={"activity": "typing"}, headers=bearer(desk.a.agent_token))
    assert bad.status_code == 422
    assert "activity" in bad.text

    # Organization B cannot announce on, nor read, A's conversation.
    for method in ("GET", "POST"):
        crossed = client.request(
            method,
            _url(desk),
            json={"activity": "viewing"} if method == "POST" else None,
            headers=bearer(desk.b.agent_token),
        )
        assert crossed.status_code == 404, (method, crossed.text)
    # B's own conversation shows none of A's announcements.
    client.post(_url(desk), json={"activity": "replying"}, headers=bearer(desk.a.agent_token))
    theirs = client.get(
        f"/api/conversations/{desk.b.conversation_id}/presence",
        headers=bearer(desk.b.owner_token),
    )
    assert theirs.json() == {"items": []}
    stored = session.scalars(select(EventRecord).where(EventRecord.kind == presence.KIND)).all()
    assert stored
    assert all(r.organization_id == desk.a.organization_id for r in stored)


def test_one_read_says_who_is_on_each_conversation_of_an_inbox_page(
    session: Session, desk: Desk
) -> None:
    first = session.get_one(Conversation, desk.a.conversation_id)
    second = session.scalars(
        select(Conversation).where(
            Conversation.organization_id == desk.a.organization_id, Conversation.id != first.id
        )
    ).first()
    assert second is not None
    agent, owner = session.merge(desk.a.agent), session.merge(desk.a.owner)
    presence.announce(
        session, conversation=first, member=agent, activity=presence.Activity.REPLYING
    )
    presence.announce(
        session, conversation=second, member=owner, activity=presence.Activity.VIEWING
    )
    session.commit()

    seen = presence.on_conversations(
        session,
        organization_id=desk.a.organization_id,
        conversation_ids=[first.id, second.id],
        me_id=owner.id,
    )
    assert {cid: [(p.name, p.activity) for p in ps] for cid, ps in seen.items()} == {
        first.id: [(agent.name, presence.Activity.REPLYING)]
    }
    assert (
        presence.on_conversations(
            session, organization_id=desk.a.organization_id, conversation_ids=[], me_id=owner.id
        )
        == {}
    )


def test_only_those_who_may_answer_as_the_account_announce_a_reply(
    client: TestClient, desk: Desk, session: Session
) -> None:
    account = session.get_one(BrandAccount, desk.a.brand_account_id)
    channels_service.set_access(session, account=account, member_ids=[desk.a.owner.id], team_ids=[])
    session.commit()
    agent = bearer(desk.a.agent_token)
    refused = client.post(_url(desk), json={"activity": "replying"}, headers=agent)
    assert refused.status_code == 403
    assert "may answer as this brand account" in refused.json()["error"]["message"]
    # Having it open is still said, and nothing of the refused announcement was kept.
    assert client.post(_url(desk), json={"activity": "viewing"}, headers=agent).status_code == 200
    seen = client.get(_url(desk), headers=bearer(desk.a.owner_token)).json()["items"]
    assert [(i["member_id"], i["activity"]) for i in seen] == [(desk.a.agent.id, "viewing")]
