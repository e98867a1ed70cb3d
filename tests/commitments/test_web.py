"""Commitments in the desk: the composer's promise preview (keep, edit, drop) and the reply or
note that keeps them, the conversation's promises panel, the lists, and the question about open
promises when resolving. Roles and organization isolation on every route of the domain."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.commitments import service
from socialdesk.commitments.models import Commitment
from socialdesk.common.clock import FrozenClock
from socialdesk.conversations.models import Conversation, DeliveryState, Message
from socialdesk.db.session import get_sessionmaker
from socialdesk.policy import service as policy_service
from tests.commitments.test_service import PROMISE, World, build_world
from tests.web.conftest import HX, Page, login

WARN_POLICY = """\
rules:
  - id: careful-fault
    explain: "Do not admit fault in public."
    action: warn
    terms: [fault]
"""


@pytest.fixture
def app(database_url: str, clock: FrozenClock) -> FastAPI:
    from socialdesk.app import create_app

    return create_app()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as c:
        yield c


@pytest.fixture
def w(session: Session) -> World:
    world = build_world(session)
    session.commit()
    return world


@pytest.fixture
def page(client: TestClient, w: World) -> Page:
    return Page(client, login(client, w.agent), w.conversation.id)


def stored(conversation_id: int) -> list[Commitment]:
    with get_sessionmaker(write=False)() as reader:
        return list(
            reader.scalars(
                select(Commitment)
                .where(Commitment.conversation_id == conversation_id)
                .order_by(Commitment.id)
            )
        )


def preview(page: Page, composer: str = "reply", **fields: str) -> str:
    response = page.client.post(
        f"/conversations/{page.id}/promises/preview?composer={composer}",
        data={**fields, "csrf_token": page.csrf},
        headers=HX,
    )
    assert response.status_code == 200, response.text
    return response.text


# -- the preview ----------------------------------------------------------------------------------


def test_the_preview_shows_each_promise_with_its_due_time(page: Page) -> None:
    html = preview(page, text=f"Sorry about that! {PROMISE}.")
    assert "This creates a promise due" in html
    assert re.search(r'class="promise-due">Tue 11:00<', html)
    assert (
        'name="promise-0-key" value="A technician will call you tomorrow between 9 and 11"' in html
    )
    assert re.search(r'name="promise-0-choice" value="keep" checked', html)
    assert 'name="promise-0-due" value="2026-01-06T11:00"' in html  # Amsterdam wall time
    assert 'name="promises" value="1"' in html
    assert "no time stated" not in html
    default = preview(page, text="We will look into it and get back to you.")
    assert "no time stated: the default" in default
    assert "promise-card" not in preview(page, text="Please DM us your order number.")
    assert "promise-card" not in preview(page, text="")


def test_the_preview_keeps_the_authors_choices_while_typing(page: Page) -> None:
    key = PROMISE
    html = preview(
        page,
        text=f"{PROMISE}. Anything else?",
        promises="1",
        **{
            "promise-0-key": key,
            "promise-0-choice": "drop",
            "promise-0-text": PROMISE,
            "promise-0-due": "2026-01-06T11:00",
            "promise-0-due-was": "2026-01-06T11:00",
        },
    )
    assert re.search(r'name="promise-0-choice" value="drop" checked', html)
    edited = preview(
        page,
        text=PROMISE,
        promises="1",
        **{
            "promise-0-key": key,
            "promise-0-choice": "keep",
            "promise-0-text": "Technician calls between 9 and 11",
            "promise-0-due": "2026-01-07T10:30",
            "promise-0-due-was": "2026-01-06T11:00",
        },
    )
    assert re.search(r'class="promise-due">Wed 10:30<', edited)
    assert 'value="Technician calls between 9 and 11"' in edited
    assert '<details class="promise-edit-box" open>' in edited


def test_the_composer_has_the_preview_hooks(page: Page) -> None:
    html = page.html()
    assert 'id="reply-promises"' in html
    assert f'hx-post="/conversations/{page.id}/promises/preview?composer=reply"' in html
    assert 'hx-trigger="input changed delay:400ms from:#reply-text"' in html
    assert 'id="note-promises"' in html


# -- sending ---------------------------------------------------------------------------------------


def test_a_reply_keeps_its_promise_in_the_same_request(page: Page, w: World) -> None:
    response = page.post("reply", htmx=True, text=PROMISE)
    assert response.status_code == 200, response.text
    assert response.headers.get("HX-Trigger") == "sd-panels-refresh"
    [commitment] = stored(page.id)
    assert commitment.text == PROMISE
    assert commitment.owner_id == w.agent.id
    assert commitment.message_id is not None
    assert commitment.due_at == datetime(2026, 1, 6, 10, 0, tzinfo=UTC)
    assert commitment.source == "detected"


def _set_delivery(message_id: int, state: str, error: str | None) -> None:
    with get_sessionmaker()() as writer:
        message = writer.get(Message, message_id)
        assert message is not None
        message.delivery_state = state
        message.delivery_error = error
        writer.commit()


def test_a_promise_whose_reply_failed_says_the_customer_was_not_told(page: Page) -> None:
    assert page.post("reply", htmx=True, text=PROMISE).status_code == 200
    [commitment] = stored(page.id)
    assert commitment.message_id is not None
    panel = page.client.get(f"/conversations/{page.id}/panels/commitments", headers=HX).text
    assert "Not delivered" not in panel
    assert "sse:message.delivery_changed" in panel  # the panel follows delivery live

    _set_delivery(commitment.message_id, DeliveryState.FAILED.value, "mastodon said: 422 too long")
    panel = page.client.get(f"/conversations/{page.id}/panels/commitments", headers=HX).text
    assert re.search(
        r"Not delivered: the reply with this promise failed \(mastodon said: 422 too long\)",
        panel,
    )
    mine = page.client.get("/commitments?owner=me").text
    assert "Not delivered: the reply failed (mastodon said: 422 too long)" in mine

    # Retried and sent: the warning goes.
    _set_delivery(commitment.message_id, DeliveryState.SENT.value, None)
    panel = page.client.get(f"/conversations/{page.id}/panels/commitments", headers=HX).text
    assert "Not delivered" not in panel


def test_a_dropped_promise_is_not_kept_and_an_edited_one_is_stored_as_edited(page: Page) -> None:
    text = "I will send you the invoice by Friday. And I will ask billing to call you tomorrow."
    response = page.post(
        "reply",
        htmx=False,
        text=text,
        promises="2",
        **{
            "promise-0-key": "I will send you the invoice by Friday",
            "promise-0-choice": "drop",
            "promise-1-key": "I will ask billing to call you tomorrow",
            "promise-1-choice": "keep",
            "promise-1-text": "Billing calls back",
            "promise-1-due": "2026-01-06T15:00",
            "promise-1-due-was": "2026-01-06T23:59",
        },
    )
    assert response.status_code == 303
    [kept] = stored(page.id)
    assert kept.text == "Billing calls back"
    assert kept.due_at == datetime(2026, 1, 6, 14, 0, tzinfo=UTC)
    assert not kept.due_is_default


def test_a_promise_in_a_note_is_kept_too(page: Page, w: World) -> None:
    response = page.post("notes", htmx=True, text="Team: I will check the logs tomorrow morning.")
    assert response.status_code == 200
    [commitment] = stored(page.id)
    assert commitment.owner_id == w.agent.id
    assert commitment.text == "I will check the logs tomorrow morning"


def test_a_refused_reply_keeps_no_promise_and_keeps_the_choices(
    page: Page, w: World, session: Session
) -> None:
    policy_service.save(
        session, organization_id=w.org.id, yaml_text=WARN_POLICY, author=w.owner, comment="warn"
    )
    session.commit()
    text = f"It was our fault. {PROMISE}."
    choices = {
        "promises": "1",
        "promise-0-key": PROMISE,
        "promise-0-choice": "drop",
        "promise-0-due": "2026-01-06T11:00",
        "promise-0-due-was": "2026-01-06T11:00",
    }
    warned = page.post("reply", htmx=True, text=text, **choices)
    assert warned.status_code == 422
    assert "Send anyway" in warned.text
    assert stored(page.id) == []
    # The author's choice comes back with the draft, so sending anyway keeps it.
    assert re.search(r'name="promise-0-choice" value="drop" checked', warned.text)
    sent = page.post("reply", htmx=True, text=text, confirmed_text=text, **choices)
    assert sent.status_code == 200
    assert stored(page.id) == []


def test_an_unreadable_edited_due_is_refused_beside_the_reply(page: Page) -> None:
    response = page.post(
        "reply",
        htmx=True,
        text=PROMISE,
        promises="1",
        **{
            "promise-0-key": PROMISE,
            "promise-0-choice": "keep",
            "promise-0-due": "next week-ish",
            "promise-0-due-was": "2026-01-06T11:00",
        },
    )
    assert response.status_code == 422
    assert "is not a date and time" in response.text
    assert stored(page.id) == []


# -- the panel -------------------------------------------------------------------------------------


def _panel(page: Page) -> str:
    response = page.client.get(f"/conversations/{page.id}/panels/commitments", headers=HX)
    assert response.status_code == 200, response.text
    return response.text


def test_the_panel_lists_highlights_overdue_and_closes(
    page: Page, w: World, session: Session, clock: FrozenClock
) -> None:
    assert "No promises in this conversation yet" in _panel(page)
    late = service.create(
        session,
        conversation=w.conversation,
        actor=w.agent,
        text="Call back",
        due_at=clock.now() + timedelta(hours=1),
    )
    later = service.create(
        session,
        conversation=w.conversation,
        actor=w.agent,
        text="Send a router",
        due_at=clock.now() + timedelta(days=1),
    )
    session.commit()
    clock.advance(timedelta(hours=2))
    html = _panel(page)
    assert 'data-overdue="1"' in html
    assert re.search(rf'class="commitment is-overdue" id="commitment-{late.id}"', html)
    assert re.search(rf'class="commitment" id="commitment-{later.id}"', html)
    assert html.index(f"commitment-{late.id}") < html.index(f"commitment-{later.id}")
    missing = page.client.post(
        f"/commitments/{late.id}/close",
        data={"status": "kept", "csrf_token": page.csrf},
        headers=HX,
    )
    assert missing.status_code == 422
    assert "add a note of evidence" in missing.text
    closed = page.client.post(
        f"/commitments/{late.id}/close",
        data={"status": "kept", "evidence": "Called at 11", "csrf_token": page.csrf},
        headers=HX,
    )
    assert closed.status_code == 200
    assert 'data-status="kept"' in closed.text
    assert "Evidence: Called at 11" in closed.text
    assert [c.status for c in stored(page.id)] == ["kept", "open"]


def test_add_a_promise_by_hand_and_edit_it(page: Page, w: World) -> None:
    added = page.post(
        "commitments", htmx=True, text="Send a replacement router", when="tomorrow at 9am"
    )
    assert added.status_code == 200, added.text
    [commitment] = stored(page.id)
    assert commitment.source == "manual"
    assert commitment.owner_id == w.agent.id
    assert commitment.due_at == datetime(2026, 1, 6, 8, 0, tzinfo=UTC)
    assert "Send a replacement router" in added.text
    refused = page.post("commitments", htmx=True, text="", when="")
    assert refused.status_code == 422
    assert "say what was promised" in refused.text
    bad_words = page.post("commitments", htmx=True, text="x", when="someday")
    assert bad_words.status_code == 422
    assert "someday" in bad_words.text
    assert 'value="x"' in bad_words.text  # the draft stays in the form
    edited = page.client.post(
        f"/commitments/{commitment.id}/edit",
        data={
            "text": "Send a new router",
            "due": "2026-01-08T12:00",
            "owner": str(w.lead.id),
            "csrf_token": page.csrf,
        },
        headers=HX,
    )
    assert edited.status_code == 200
    [after] = stored(page.id)
    assert after.text == "Send a new router"
    assert after.due_at == datetime(2026, 1, 8, 11, 0, tzinfo=UTC)
    assert after.owner_id == w.lead.id


def test_without_scripts_forms_redirect(page: Page) -> None:
    added = page.post("commitments", text="Call back")
    assert added.status_code == 303
    assert added.headers["location"] == f"/conversations/{page.id}"
    [commitment] = stored(page.id)
    closed = page.client.post(
        f"/commitments/{commitment.id}/close",
        data={"status": "cancelled", "evidence": "Not needed", "csrf_token": page.csrf},
    )
    assert closed.status_code == 303


# -- resolving -------------------------------------------------------------------------------------


def test_resolving_asks_what_happens_to_open_promises(
    page: Page, w: World, session: Session
) -> None:
    service.create(session, conversation=w.conversation, actor=w.agent, text="Call back")
    session.commit()
    asked = page.post("status", htmx=True, status="resolved")
    assert asked.status_code == 422
    assert 'id="resolve-question"' in asked.text
    assert "This conversation has 1 open promise" in asked.text
    assert "Call back" in asked.text
    for value in ("keep_open", "kept", "cancel"):
        assert f'name="commitments" value="{value}"' in asked.text
    with get_sessionmaker(write=False)() as reader:
        assert reader.get_one(Conversation, page.id).status == "open"
    done = page.post("status", htmx=True, status="resolved", commitments="kept")
    assert done.status_code == 200
    assert 'id="resolve-question"' not in done.text
    [commitment] = stored(page.id)
    assert commitment.status == "kept"
    with get_sessionmaker(write=False)() as reader:
        assert reader.get_one(Conversation, page.id).status == "resolved"


def test_resolving_without_scripts_shows_the_question_on_the_page(
    page: Page, w: World, session: Session
) -> None:
    service.create(session, conversation=w.conversation, actor=w.agent, text="Call back")
    session.commit()
    asked = page.post("status", status="resolved")
    assert asked.status_code == 422
    assert 'id="resolve-question"' in asked.text
    kept_open = page.post("status", status="resolved", commitments="keep_open")
    assert kept_open.status_code == 303
    assert [c.status for c in stored(page.id)] == ["open"]


# -- lists -----------------------------------------------------------------------------------------


def test_my_promises_and_team_lists(
    client: TestClient, page: Page, w: World, session: Session, clock: FrozenClock
) -> None:
    mine_late = service.create(
        session,
        conversation=w.conversation,
        actor=w.agent,
        text="Mine, soon",
        owner_id=w.agent.id,
        due_at=clock.now() + timedelta(minutes=30),
    )
    mine = service.create(
        session,
        conversation=w.conversation,
        actor=w.agent,
        text="Mine, later",
        owner_id=w.agent.id,
        due_at=clock.now() + timedelta(days=2),
    )
    leads = service.create(
        session,
        conversation=w.conversation,
        actor=w.agent,
        text="The lead's",
        owner_id=w.lead.id,
        due_at=clock.now() + timedelta(hours=3),
    )
    session.commit()
    clock.advance(timedelta(hours=1))
    html = client.get("/commitments").text
    assert "My promises" in html
    assert "The lead's" not in html
    assert html.index(f'id="commitment-{mine_late.id}"') < html.index(f'id="commitment-{mine.id}"')
    assert re.search(rf'class="commitment-row is-overdue" id="commitment-{mine_late.id}"', html)
    assert re.search(r"<strong>1</strong> overdue", html)
    team = client.get(f"/commitments?team={w.team.id}").text
    assert f"Promises of {w.team.name}" in team
    for c in (mine_late, mine, leads):
        assert f'id="commitment-{c.id}"' in team
    closed = client.post(
        f"/commitments/{mine.id}/close",
        data={
            "status": "kept",
            "evidence": "Done early",
            "from": "list",
            "next": "/commitments",
            "csrf_token": page.csrf,
        },
    )
    assert closed.status_code == 303
    assert closed.headers["location"] == "/commitments"
    assert f'id="commitment-{mine.id}"' not in client.get("/commitments").text
    assert f'id="commitment-{mine.id}"' in client.get("/commitments?status=closed").text


# -- roles and isolation ---------------------------------------------------------------------------


def test_a_viewer_reads_but_changes_nothing(client: TestClient, w: World, session: Session) -> None:
    commitment = service.create(session, conversation=w.conversation, actor=w.agent, text="x")
    session.commit()
    viewer = Page(client, login(client, w.viewer), w.conversation.id)
    assert client.get(f"/conversations/{w.conversation.id}/panels/commitments").status_code == 200
    assert client.get("/commitments").status_code == 200
    assert viewer.post("commitments", text="y").status_code == 403
    assert viewer.post("promises/preview", text=PROMISE).status_code == 403
    for action in ("close", "edit"):
        response = client.post(
            f"/commitments/{commitment.id}/{action}",
            data={"status": "kept", "evidence": "x", "csrf_token": viewer.csrf},
        )
        assert response.status_code == 403
    panel = client.get(f"/conversations/{w.conversation.id}/panels/commitments").text
    assert "Add a promise" not in panel
    assert "<summary>Close</summary>" not in panel


def test_another_organizations_ids_are_not_found(
    client: TestClient, w: World, session: Session
) -> None:
    other = build_world(session, name="Other")
    theirs = service.create(session, conversation=other.conversation, actor=other.agent, text="x")
    session.commit()
    page = Page(client, login(client, w.owner), other.conversation.id)
    assert (
        client.get(f"/conversations/{other.conversation.id}/panels/commitments").status_code == 404
    )
    assert page.post("commitments", text="x").status_code == 404
    assert page.post("promises/preview", text=PROMISE).status_code == 404
    for action in ("close", "edit"):
        response = client.post(
            f"/commitments/{theirs.id}/{action}",
            data={"status": "kept", "evidence": "x", "csrf_token": page.csrf},
        )
        assert response.status_code == 404
    assert f'id="commitment-{theirs.id}"' not in client.get("/commitments?status=all").text
    assert client.get(f"/commitments?team={other.team.id}").status_code == 200  # falls back to mine
    assert (
        f'id="commitment-{theirs.id}"' not in client.get(f"/commitments?team={other.team.id}").text
    )


def test_admins_set_how_promises_are_timed(client: TestClient, w: World) -> None:
    csrf = login(client, w.owner)
    page = client.get("/admin/promises")
    assert page.status_code == 200
    assert 'value="next_day" checked' in page.text
    refused = client.post(
        "/admin/promises",
        data={
            "csrf_token": csrf,
            "default": "hours",
            "default_hours": "",
            "reminder_minutes": "60",
        },
    )
    assert refused.status_code == 422
    assert refused.text.count("say how many hours") == 1  # beside the form, not in the header too
    saved = client.post(
        "/admin/promises",
        data={
            "csrf_token": csrf,
            "default": "hours",
            "default_hours": "4",
            "reminder_minutes": "15",
        },
    )
    assert saved.status_code == 303
    page = client.get(saved.headers["location"])
    assert "Saved." in page.text
    assert 'value="hours" checked' in page.text
    assert 'value="4"' in page.text
    with get_sessionmaker()() as db:
        found = service.promise_settings(db, organization_id=w.org.id)
    assert found == service.PromiseSettings(default_hours=4, reminder_minutes=15)
    client.cookies.clear()
    login(client, w.agent)
    assert client.get("/admin/promises").status_code == 403
