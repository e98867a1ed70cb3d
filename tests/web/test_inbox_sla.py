"""The inbox ordered by SLA time left, and the countdown chip on each row."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.common.clock import FrozenClock
from socialdesk.common.errors import ValidationFailed
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation
from socialdesk.conversations.service import InboxFilter, Sort
from tests.factories.conversations import inbound, ingest
from tests.web.conftest import Desk, login

ROW = re.compile(r'data-conversation-id="(\d+)"')


def _conversations(session: Session, desk: Desk, clock: FrozenClock) -> dict[str, int]:
    """Five conversations: overdue, due soon, due later, and two with no SLA clock."""
    now = clock.now()
    due = {
        "overdue": now - timedelta(minutes=20),
        "soon": now + timedelta(minutes=5),
        "later": now + timedelta(hours=3),
        "none_old": None,
        "none_new": None,
    }
    ids: dict[str, int] = {}
    for name, at in due.items():
        clock.advance(timedelta(seconds=1))
        c = ingest(
            session, desk.web, inbound(author=name, thread_key=f"visitor:{name}")
        ).conversation
        c.sla_due_at = at
        ids[name] = c.id
    session.commit()
    return ids


EXPECTED = ["overdue", "soon", "later", "none_new", "none_old"]


@pytest.mark.parametrize("page_size", [1, 2, 3, 10])
def test_sla_order_pages_through_both_sections(
    session: Session, desk: Desk, clock: FrozenClock, page_size: int
) -> None:
    ids = _conversations(session, desk, clock)
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(20):
        page = conversations_service.list_inbox_sorted(
            session,
            sort=Sort.SLA,
            organization_id=desk.org.id,
            me_id=None,
            flt=InboxFilter(),
            cursor=cursor,
            limit=page_size,
        )
        seen += [c.id for c in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [ids[name] for name in EXPECTED]


def test_a_forged_cursor_is_refused(session: Session, desk: Desk) -> None:
    for cursor in ("x.abc", "d.", "d.not-a-cursor"):
        with pytest.raises(ValidationFailed):
            conversations_service.list_inbox_by_sla(
                session, organization_id=desk.org.id, me_id=None, flt=InboxFilter(), cursor=cursor
            )


def test_inbox_page_and_api_order_by_time_left_with_chips(
    client: TestClient, session: Session, desk: Desk, clock: FrozenClock
) -> None:
    ids = _conversations(session, desk, clock)
    login(client, desk.agent)
    page = client.get("/", params={"sort": "sla"})
    assert page.status_code == 200
    assert [int(i) for i in ROW.findall(page.text)] == [ids[name] for name in EXPECTED]
    assert '<option value="sla" selected>' in page.text
    assert "overdue 20m" in page.text
    assert "chip-sla-soon" in page.text
    assert "4m left" in page.text  # five seconds passed while the test made them
    assert "2h 59m left" in page.text
    api = client.get("/api/conversations", params={"sort": "sla"})
    assert api.status_code == 200
    assert [c["id"] for c in api.json()["items"]] == [ids[name] for name in EXPECTED]
    bad = client.get("/api/conversations", params={"sort": "soonest"})
    assert bad.status_code == 422


def test_resolved_conversations_show_no_countdown(
    client: TestClient, session: Session, desk: Desk, clock: FrozenClock
) -> None:
    ids = _conversations(session, desk, clock)
    session.get_one(Conversation, ids["overdue"]).status = "resolved"
    session.commit()
    login(client, desk.agent)
    page = client.get("/", params={"sort": "sla", "status": "all"})
    assert "overdue 20m" not in page.text


def test_rows_show_open_and_overdue_promises(
    client: TestClient, session: Session, desk: Desk, clock: FrozenClock
) -> None:
    from socialdesk.commitments import service as commitments_service

    conversation = ingest(session, desk.web, inbound(author="ana")).conversation
    commitments_service.create(
        session,
        conversation=conversation,
        actor=desk.agent,
        text="We will call you",
        due_at=clock.now() + timedelta(hours=1),
    )
    commitments_service.create(
        session,
        conversation=conversation,
        actor=desk.agent,
        text="We will refund you",
        due_at=clock.now() + timedelta(minutes=10),
    )
    session.commit()
    login(client, desk.agent)
    assert "2 promises</span>" in client.get("/").text
    clock.advance(timedelta(minutes=30))
    assert "2 promises, 1 overdue" in client.get("/").text
