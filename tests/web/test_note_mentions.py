"""Mentions in the desk: while a note is typed the composer says who it will tell; the sent
note shows the mention apart and the trail names who was mentioned; the colleague finds it
in their notifications, linked to the note."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.db.session import get_sessionmaker
from socialdesk.notifications.models import Notification
from tests.web.conftest import Desk, Page, login, new_conversation


def test_the_composer_says_who_a_note_tells(page: Page, desk: Desk) -> None:
    told = page.post("notes/mentions", htmx=True, text="@Alex Agent and @vera viewer, look")
    assert told.status_code == 200, told.text
    assert "Tells <strong>Alex Agent</strong> and <strong>Vera Viewer</strong>" in told.text
    assert told.headers["cache-control"] == "no-store"
    # The author (the owner here) is not told about their own note; no mention: nothing.
    assert page.post("notes/mentions", htmx=True, text="@Olivia Owner").text.strip() == ""
    assert page.post("notes/mentions", htmx=True, text="mail alex@x.example").text.strip() == ""
    assert "Type @ and a colleague" in page.html()


def test_a_sent_note_shows_its_mention_and_the_colleague_is_told(
    client: TestClient, page: Page, desk: Desk
) -> None:
    response = page.post("notes", htmx=True, text="@Alex Agent can you call the depot?")
    assert response.status_code == 200, response.text
    html = page.html()
    assert '<span class="mention" title="Mentioned: told in the desk">@Alex Agent</span>' in html
    assert "added an internal note mentioning Alex Agent" in html

    with get_sessionmaker(write=False)() as reader:  # the app needs SQLite's write lock
        told = reader.scalars(select(Notification).where(Notification.member_id == desk.agent.id))
        notification = told.one()
        assert notification.title == "Olivia Owner mentioned you in a note"
        note_id = notification.data["message_id"]

    client.cookies.clear()
    csrf = login(client, desk.agent)
    listed = client.get("/notifications")
    assert listed.status_code == 200
    assert "Olivia Owner mentioned you in a note" in listed.text
    # Opening it leads to the note itself.
    opened = client.post(
        f"/notifications/{notification.id}/read", data={"open": "1", "csrf_token": csrf}
    )
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/conversations/{page.id}#message-{note_id}"


def test_the_mention_preview_needs_a_note_taker(client: TestClient, desk: Desk, page: Page) -> None:
    client.cookies.clear()
    csrf = login(client, desk.viewer)
    response = client.post(
        f"/conversations/{page.id}/notes/mentions",
        data={"text": "@Alex Agent", "csrf_token": csrf},
    )
    assert response.status_code == 403


def test_a_team_mention_says_how_many_it_tells(
    client: TestClient, desk: Desk, session: Session
) -> None:
    team = accounts_service.create_team(session, organization_id=desk.org.id, name="Field crew")
    for member in (desk.agent, desk.viewer):
        accounts_service.add_to_team(session, team=team, member=member)
    session.commit()
    page = Page(client, login(client, desk.owner), new_conversation(session, desk))
    told = page.post("notes/mentions", htmx=True, text="@field crew, anyone free?")
    assert "Tells <strong>the team Field crew</strong> (mentioned: 2 people in all)" in told.text
    # Named and in the team: told once, and the count says so.
    both = page.post("notes/mentions", htmx=True, text="@Alex Agent and @Field crew")
    assert "(mentioned: 2 people in all)" in both.text
    page.post("notes", htmx=True, text="@Field crew, anyone free?")
    html = page.html()
    assert '<span class="mention" title="Mentioned: told in the desk">@Field crew</span>' in html
    assert "added an internal note mentioning the team Field crew" in html
