"""The inbox's bar of changes: tick conversations, pick one change, apply it to all of them;
back to the inbox as it was filtered. A refusal comes back in the bar with the same ones
ticked and nothing changed. Viewers have neither the boxes nor the bar."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.commitments import service as commitments_service
from socialdesk.conversations.models import Conversation, ConversationTag
from socialdesk.db.session import get_sessionmaker
from tests.factories.conversations import inbound, ingest
from tests.web.conftest import Desk, login


def _wave(session: Session, desk: Desk, n: int = 3) -> list[int]:
    ids = [
        ingest(
            session,
            desk.web,
            inbound(text="Is tram 4 running?", author=f"rider{i}", thread_key=f"visitor:r{i}"),
        ).conversation.id
        for i in range(n)
    ]
    session.commit()
    return ids


def _stored(ids: list[int]) -> list[tuple[str, int | None, int | None]]:
    with get_sessionmaker(write=False)() as reader:
        rows = {
            c.id: (c.status, c.assignee_id, c.team_id)
            for c in reader.scalars(select(Conversation).where(Conversation.id.in_(ids)))
        }
        return [rows[i] for i in ids]


def test_ticked_conversations_are_changed_together(
    client: TestClient, desk: Desk, session: Session
) -> None:
    ids = _wave(session, desk)
    team = accounts_service.create_team(session, organization_id=desk.org.id, name="Trams")
    session.commit()
    team_id, owner_id = team.id, desk.owner.id
    session.commit()
    csrf = login(client, desk.agent)
    inbox = client.get("/?status=open")
    assert '<form id="batch-form" class="batch-bar" method="post" action="/inbox/batch"' in (
        inbox.text
    )
    boxes = re.findall(
        r'class="row-pick" name="conversation_ids" value="(\d+)" form="batch-form"', inbox.text
    )
    assert sorted(int(b) for b in boxes) == sorted(ids)
    assert f'<option value="assign:{owner_id}">Olivia Owner</option>' in inbox.text
    assert f'<option value="team:{team_id}">Trams</option>' in inbox.text

    def apply(change: str, picked: list[int], **extra: str) -> int:
        data = {"csrf_token": csrf, "change": change, "next": "/?status=open", **extra}
        answer = client.post(
            "/inbox/batch", data={**data, "conversation_ids": [str(i) for i in picked]}
        )
        if answer.status_code == 303:
            assert answer.headers["location"] == "/?status=open"
        return answer.status_code

    assert apply(f"assign:{owner_id}", ids[:2]) == 303
    assert apply(f"team:{team_id}", ids) == 303
    assert apply("tag", ids, tag="Tram 4") == 303
    assert apply("resolve", ids[1:]) == 303
    assert _stored(ids) == [
        ("open", owner_id, team_id),
        ("resolved", owner_id, team_id),
        ("resolved", None, team_id),
    ]
    with get_sessionmaker(write=False)() as reader:
        tagged = reader.scalars(
            select(ConversationTag.conversation_id).where(ConversationTag.name == "tram 4")
        ).all()
    assert sorted(tagged) == sorted(ids)
    assert apply("priority:urgent", ids[:1]) == 303
    assert apply("snooze:tomorrow", ids[2:]) == 303
    with get_sessionmaker(write=False)() as reader:
        first, third = reader.get_one(Conversation, ids[0]), reader.get_one(Conversation, ids[2])
        assert first.priority == 3
        assert third.status == "snoozed"
        assert third.snoozed_until is not None
    assert apply("reopen", ids[2:]) == 303
    assert apply("assign:", ids[:1]) == 303  # nobody
    assert apply("team:", ids) == 303  # no team
    assert _stored(ids)[0] == ("open", None, None)
    assert _stored(ids)[2] == ("open", None, None)


def test_a_refusal_comes_back_in_the_bar_and_changes_nothing(
    client: TestClient, desk: Desk, session: Session
) -> None:
    ids = _wave(session, desk)
    promised = session.get_one(Conversation, ids[2])
    commitments_service.create(
        session, conversation=promised, actor=desk.agent, text="A technician calls you today"
    )
    session.commit()
    csrf = login(client, desk.agent)
    refused = client.post(
        "/inbox/batch",
        data={
            "csrf_token": csrf,
            "change": "resolve",
            "next": "/?status=open",
            "conversation_ids": [str(i) for i in ids],
        },
    )
    assert refused.status_code == 422
    page = html.unescape(refused.text)
    assert f"conversation #{ids[2]}: it has 1 open promise" in page
    assert 'id="error-batch"' in page
    ticked = re.findall(r'class="row-pick"[^>]*value="(\d+)"[^>]*checked', refused.text)
    assert sorted(int(t) for t in ticked) == sorted(ids)
    assert '<option value="resolve" selected>Resolve</option>' in refused.text
    assert [status for status, _, _ in _stored(ids)] == ["open"] * 3

    for data, words in (
        ({"change": "resolve"}, "choose at least one conversation"),
        ({"change": "shout", "conversation_ids": str(ids[0])}, "change must be one of"),
        ({"change": "resolve", "conversation_ids": "9999999"}, "conversation 9999999 does not"),
        ({"change": "resolve", "conversation_ids": "x"}, "conversation_ids must be numbers"),
        ({"change": "resolve", "conversation_ids": "²"}, "conversation_ids must be numbers"),
        ({"change": "assign:x", "conversation_ids": str(ids[0])}, "change must be a number"),
        ({"change": "tag", "tag": "", "conversation_ids": str(ids[0])}, "tag '' must be"),
        ({"change": "priority:max", "conversation_ids": str(ids[0])}, "priority must be one"),
        ({"change": "snooze:never", "conversation_ids": str(ids[0])}, "snooze preset must"),
    ):
        answer = client.post("/inbox/batch", data={"csrf_token": csrf, **data})
        assert answer.status_code == 422, data
        assert words in html.unescape(answer.text), data
    assert [status for status, _, _ in _stored(ids)] == ["open"] * 3


def test_viewers_have_no_bar_and_may_not_post(
    client: TestClient, desk: Desk, session: Session
) -> None:
    ids = _wave(session, desk, n=1)
    csrf = login(client, desk.viewer)
    inbox = client.get("/")
    assert 'id="batch-form"' not in inbox.text
    assert 'class="row-pick"' not in inbox.text
    denied = client.post(
        "/inbox/batch",
        data={"csrf_token": csrf, "change": "resolve", "conversation_ids": str(ids[0])},
    )
    assert denied.status_code == 403
    assert _stored(ids) == [("open", None, None)]
