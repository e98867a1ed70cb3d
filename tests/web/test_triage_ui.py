"""Triage on the desk's pages: chips on the inbox rows, the triage filters and the
priority-first order, the "why" beside each inbound message and one-click corrections."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Role
from socialdesk.common.clock import FrozenClock
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, Message, Priority
from socialdesk.conversations.service import InboxFilter
from socialdesk.db.session import get_sessionmaker
from socialdesk.triage.models import MessageTriage, TriageCorrection
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest
from tests.web.conftest import HX, Desk, login

ROW = re.compile(r'class="conv-row[^"]*" data-conversation-id="(\d+)"')


def row_ids(html: str) -> list[int]:
    return [int(i) for i in ROW.findall(html)]


@dataclass
class Triaged:
    question: int  # normal priority, neutral question, oldest
    angry: int  # urgent complaint, negative
    praise: int  # low priority, positive praise, newest
    high: int  # high priority feedback
    message_id: int  # the angry conversation's inbound message


def _label(
    session: Session,
    conversation: Conversation,
    *,
    intent: str,
    sentiment: str,
    complaint: bool,
    priority: Priority,
) -> None:
    # Fixed labels, whatever the models said at ingest: the pages are under test, not them.
    conversation.intent = intent
    conversation.sentiment = sentiment
    conversation.is_complaint = complaint
    conversation.language = "en"
    conversation.priority = priority.value
    message = session.scalars(
        select(Message).where(Message.conversation_id == conversation.id)
    ).one()
    row = session.get(MessageTriage, message.id)
    assert row is not None, "ingest did not triage the inbound message"
    row.intent, row.sentiment, row.complaint = intent, sentiment, complaint
    row.priority = priority.name.lower()
    row.reasons = ["negative sentiment", "outage words: down"] if complaint else []


@pytest.fixture
def triaged(desk: Desk, session: Session, clock: FrozenClock) -> Triaged:
    made: dict[str, Conversation] = {}
    specs = [
        ("question", "How do I change my delivery address?", "question", "neutral", False, 1),
        ("angry", "Your service is down again, this is useless", "complaint", "negative", True, 3),
        ("high", "The checkout page could be clearer", "feedback", "neutral", False, 2),
        ("praise", "Thanks, the support team was wonderful", "praise", "positive", False, 0),
    ]
    for minutes, (name, text, intent, sentiment, complaint, level) in enumerate(specs):
        result = ingest(
            session,
            desk.web,
            inbound(
                text=text,
                author=name,
                thread_key=f"visitor:{name}",
                at=clock.now() - timedelta(minutes=60 - minutes),
            ),
        )
        session.flush()
        _label(
            session,
            result.conversation,
            intent=intent,
            sentiment=sentiment,
            complaint=complaint,
            priority=Priority(level),
        )
        made[name] = result.conversation
    # Read everything before committing: a new transaction here would hold SQLite's write lock.
    triaged = Triaged(
        question=made["question"].id,
        angry=made["angry"].id,
        praise=made["praise"].id,
        high=made["high"].id,
        message_id=session.scalars(
            select(Message.id).where(Message.conversation_id == made["angry"].id)
        ).one(),
    )
    session.commit()
    return triaged


def test_inbox_rows_show_triage_chips_in_words(
    client: TestClient, desk: Desk, triaged: Triaged
) -> None:
    login(client, desk.owner)
    page = client.get("/")
    assert page.status_code == 200
    row = page.text.split(f'data-conversation-id="{triaged.angry}"')[1].split("</li>")[0]
    assert 'class="chip chip-complaint"' in row
    assert "Intent: </span>complaint" in row
    # A complaint whose intent is "complaint" too is one chip, not the word twice.
    assert row.count(">complaint</span>") == 1
    assert "negative</span>" in row
    assert "Sentiment: " in row
    assert "Language: </span>en" in row
    assert "Priority: </span>urgent" in row
    praise_row = page.text.split(f'data-conversation-id="{triaged.praise}"')[1].split("</li>")[0]
    assert "chip-complaint" not in praise_row
    assert "Priority: </span>low" in praise_row


FILTERS: list[tuple[dict[str, str], set[str]]] = [
    ({"intent": "question"}, {"question"}),
    ({"sentiment": "positive"}, {"praise"}),
    ({"sentiment": "neutral"}, {"question", "high"}),
    ({"complaint": "1"}, {"angry"}),
    ({"min_priority": "high"}, {"angry", "high"}),
    ({"min_priority": "urgent", "intent": "complaint"}, {"angry"}),
    ({"min_priority": "low"}, {"question", "angry", "high", "praise"}),
]


def test_triage_filters_narrow_the_list(client: TestClient, desk: Desk, triaged: Triaged) -> None:
    login(client, desk.owner)
    for params, expected in FILTERS:
        page = client.get("/", params=params)
        assert page.status_code == 200, params
        assert set(row_ids(page.text)) == {getattr(triaged, n) for n in expected}, params
    # The form keeps what was chosen.
    page = client.get("/", params={"intent": "question", "complaint": "1"})
    assert '<option value="question" selected>' in page.text
    assert 'name="complaint" value="1" checked' in page.text


def test_bad_triage_filter_values_are_named(
    client: TestClient, desk: Desk, triaged: Triaged
) -> None:
    login(client, desk.owner)
    for params, words in [
        ({"intent": "rage"}, "intent must be one of"),
        ({"sentiment": "meh"}, "sentiment must be one of"),
        ({"min_priority": "9"}, "min_priority must be one of"),
        ({"sort": "alphabetical"}, "sort must be one of"),
    ]:
        page = client.get("/", params=params)
        assert page.status_code == 422, params
        assert words in page.text, params


def test_priority_first_order(client: TestClient, desk: Desk, triaged: Triaged) -> None:
    login(client, desk.owner)
    recent = client.get("/")
    assert row_ids(recent.text) == [triaged.praise, triaged.high, triaged.angry, triaged.question]
    ordered = client.get("/", params={"sort": "priority"})
    assert row_ids(ordered.text) == [triaged.angry, triaged.high, triaged.question, triaged.praise]
    assert '<option value="priority" selected>' in ordered.text


def test_priority_order_pages_with_a_cursor(desk: Desk, session: Session, triaged: Triaged) -> None:
    # Two conversations on the same level, to page within a level as well as across levels.
    # (Set on the column: set_priority would also count as fresh activity.)
    session.get_one(Conversation, triaged.question).priority = Priority.HIGH.value
    session.commit()
    expected = [triaged.angry, triaged.high, triaged.question, triaged.praise]
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(10):
        page = conversations_service.list_inbox_by_priority(
            session,
            organization_id=desk.org.id,
            me_id=desk.owner.id,
            flt=InboxFilter(),
            cursor=cursor,
            limit=1,
        )
        seen += [c.id for c in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected


def test_load_more_keeps_the_priority_order(
    client: TestClient, desk: Desk, triaged: Triaged, monkeypatch: pytest.MonkeyPatch
) -> None:
    from socialdesk.web import views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    login(client, desk.owner)
    first = client.get("/", params={"sort": "priority"})
    assert row_ids(first.text) == [triaged.angry, triaged.high]
    more = re.search(r'hx-get="/inbox/more\?([^"]+)"', first.text)
    assert more, "no load-more link"
    rest = client.get("/inbox/more?" + more.group(1).replace("&amp;", "&"))
    assert rest.status_code == 200
    assert row_ids(rest.text) == [triaged.question, triaged.praise]


def test_bad_priority_cursor_is_refused(desk: Desk, session: Session, triaged: Triaged) -> None:
    from socialdesk.common.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        conversations_service.list_inbox_by_priority(
            session,
            organization_id=desk.org.id,
            me_id=None,
            flt=InboxFilter(),
            cursor="x.abc",
        )


def test_each_inbound_message_shows_its_labels_and_why(
    client: TestClient, desk: Desk, triaged: Triaged
) -> None:
    login(client, desk.owner)
    page = client.get(f"/conversations/{triaged.angry}")
    assert page.status_code == 200
    block = page.text.split(f'id="triage-{triaged.message_id}"')[1].split("</details>")[0]
    assert "Intent: </span>complaint" in block
    assert block.count(">complaint</span>") == 1  # flag and intent in one chip
    assert "Priority: </span>urgent" in block
    assert "<summary>Why?</summary>" in block
    assert "<li>outage words: down</li>" in block
    assert "<dt>sentiment</dt>" in block
    assert "%" in block
    # A manager gets the one-click correction buttons.
    assert 'aria-label="Set intent to praise"' in page.text
    # The side panel sums it up.
    assert 'id="triage-summary"' in page.text


def _triage_of(message_id: int) -> MessageTriage:
    with get_sessionmaker(write=False)() as reader:
        row = reader.get(MessageTriage, message_id)
        assert row is not None
        reader.expunge(row)
        return row


def _corrections(message_id: int) -> list[TriageCorrection]:
    with get_sessionmaker(write=False)() as reader:
        rows = list(
            reader.scalars(
                select(TriageCorrection).where(TriageCorrection.message_id == message_id)
            )
        )
        for row in rows:
            reader.expunge(row)
        return rows


def test_one_click_correction_without_javascript(
    client: TestClient, desk: Desk, triaged: Triaged
) -> None:
    csrf = login(client, desk.owner)
    url = f"/conversations/{triaged.angry}/messages/{triaged.message_id}/triage"
    response = client.post(url, data={"field": "intent", "value": "question", "csrf_token": csrf})
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/conversations/{triaged.angry}")
    row = _triage_of(triaged.message_id)
    assert row.intent == "question"
    assert row.corrected
    [correction] = _corrections(triaged.message_id)
    assert (correction.field, correction.old_value, correction.new_value) == (
        "intent",
        "complaint",
        "question",
    )
    assert correction.member_id == desk.owner.id
    page = client.get(f"/conversations/{triaged.angry}")
    block = page.text.split(f'id="triage-{triaged.message_id}"')[1]
    assert 'class="chip chip-corrected"' in block
    assert "Intent: </span>question" in block


def test_one_click_correction_with_htmx_returns_the_thread(
    client: TestClient, desk: Desk, triaged: Triaged
) -> None:
    csrf = login(client, desk.owner)
    url = f"/conversations/{triaged.angry}/messages/{triaged.message_id}/triage"
    response = client.post(
        url, data={"field": "complaint", "value": "false", "csrf_token": csrf}, headers=HX
    )
    assert response.status_code == 200
    assert 'class="thread"' in response.text
    assert "<html" not in response.text
    assert "chip-corrected" in response.text
    assert _triage_of(triaged.message_id).complaint is False
    with get_sessionmaker(write=False)() as reader:
        assert reader.get_one(Conversation, triaged.angry).is_complaint is False


def test_a_wrong_value_is_shown_beside_the_message(
    client: TestClient, desk: Desk, triaged: Triaged
) -> None:
    csrf = login(client, desk.owner)
    url = f"/conversations/{triaged.angry}/messages/{triaged.message_id}/triage"
    response = client.post(
        url, data={"field": "intent", "value": "rage", "csrf_token": csrf}, headers=HX
    )
    assert response.status_code == 422
    assert 'id="error-triage-' in response.text
    assert "intent must be one of" in response.text
    assert _triage_of(triaged.message_id).intent == "complaint"
    assert _corrections(triaged.message_id) == []


def test_correction_refuses_a_viewer_and_a_missing_csrf_token(
    client: TestClient, desk: Desk, triaged: Triaged
) -> None:
    url = f"/conversations/{triaged.angry}/messages/{triaged.message_id}/triage"
    csrf = login(client, desk.viewer)
    page = client.get(f"/conversations/{triaged.angry}")
    assert "Set intent to praise" not in page.text  # no buttons for who may not use them
    assert "<summary>Why?</summary>" in page.text  # but the reasons are there to read
    refused = client.post(url, data={"field": "intent", "value": "praise", "csrf_token": csrf})
    assert refused.status_code == 403
    client.post("/logout", data={"csrf_token": csrf})
    login(client, desk.owner)
    missing = client.post(url, data={"field": "intent", "value": "praise"})
    assert missing.status_code == 403
    assert _triage_of(triaged.message_id).intent == "complaint"
    assert _corrections(triaged.message_id) == []


def test_another_organizations_message_is_not_found(
    client: TestClient, desk: Desk, triaged: Triaged, session: Session
) -> None:
    other = accounts.organization(session, name="Other Org")
    accounts.member(session, other, role=Role.OWNER, name="Otto Other")
    web = channels.brand_account(session, other, kind="web")
    result = ingest(
        session, web, inbound(text="My order is late", author="x", thread_key="visitor:x")
    )
    foreign_conversation, foreign_message = result.conversation.id, result.message.id
    session.commit()
    csrf = login(client, desk.owner)
    data = {"field": "intent", "value": "praise", "csrf_token": csrf}
    for url in (
        f"/conversations/{foreign_conversation}/messages/{foreign_message}/triage",
        f"/conversations/{triaged.angry}/messages/{foreign_message}/triage",
        f"/conversations/{foreign_conversation}/messages/{triaged.message_id}/triage",
    ):
        assert client.post(url, data=data).status_code == 404, url
    assert _corrections(foreign_message) == []
    assert _corrections(triaged.message_id) == []


def test_the_trail_tells_triage_and_approvals_in_words(
    client: TestClient, desk: Desk, session: Session, triaged: Triaged
) -> None:
    """Triage raising the priority, a correction and an approval each read as a sentence in
    the activity trail, not as the stored record ("message_id: 110, reasons: ['...']")."""
    conversation = session.get_one(Conversation, triaged.angry)
    for kind, data in (
        (
            "triaged",
            {
                "message_id": triaged.message_id,
                "priority_from": "normal",
                "priority": "urgent",
                "reasons": ["complaint (score 0.58)", "negative tone (score 0.88)"],
            },
        ),
        (
            "approval_requested",
            {"message_id": triaged.message_id, "approval_id": 1, "rules": ["refunds"]},
        ),
        (
            "approval_approved",
            {"message_id": triaged.message_id, "approval_id": 1, "comment": "ok", "edited": True},
        ),
        (
            "approval_rejected",
            {"message_id": triaged.message_id, "approval_id": 2, "comment": None, "edited": False},
        ),
    ):
        conversations_service.record(
            session, conversation=conversation, kind=kind, actor=None, data=data
        )
    session.commit()
    csrf = login(client, desk.owner)
    url = f"/conversations/{triaged.angry}/messages/{triaged.message_id}/triage"
    for field, value in (("intent", "question"), ("complaint", "false")):
        client.post(url, data={"field": field, "value": value, "csrf_token": csrf})
    page = client.get(f"/conversations/{triaged.angry}")
    trail = page.text.split('id="trail-title"')[1]
    assert (
        "raised the priority from normal to urgent: complaint (score 0.58), negative tone"
        " (score 0.88)" in trail
    )
    assert "wrote a reply that waits for approval (refunds)" in trail
    assert "approved the held reply with edits: ok" in trail
    assert "rejected the held reply" in trail
    assert f"corrected the intent of message #{triaged.message_id} from complaint to question" in (
        trail
    )
    assert f"marked message #{triaged.message_id} as not a complaint" in trail
    assert "message_id:" not in trail
    assert "[&#39;" not in trail


def test_why_names_the_language_its_confidence_is_for(
    client: TestClient, desk: Desk, triaged: Triaged
) -> None:
    row = _triage_of(triaged.message_id)
    assert isinstance(row.scores["language"], float)
    login(client, desk.owner)
    page = client.get(f"/conversations/{triaged.angry}")
    block = page.text.split(f'id="triage-{triaged.message_id}"')[1].split("</details>")[0]
    assert f"<dt>language</dt><dd>{row.language} " in block
    assert "<dd>language " not in block
