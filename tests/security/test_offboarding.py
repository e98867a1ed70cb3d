"""Offboarding and lockout, through the pages an admin and a member use.

Deactivating a member ends their logins and API tokens at once (their very next request is
logged out), hands their open conversations to the choice made on the form, and keeps what
they wrote attributed to them. Repeated failed logins lock the account, and the pages say so.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Role
from socialdesk.config import get_settings
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Activity, Conversation, Message, Status
from socialdesk.db.session import get_sessionmaker
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest
from tests.web.conftest import csrf_from, login


@pytest.mark.parametrize("hand_to", ["colleague", "team"])
def test_deactivation_logs_out_at_once_hands_work_over_and_keeps_history(
    app: FastAPI, session: Session, hand_to: str
) -> None:
    org = accounts.organization(session, name="Offboard")
    owner = accounts.member(session, org, role=Role.OWNER, name="Olivia Owner")
    leaver = accounts.member(session, org, role=Role.AGENT, name="Lee Leaver")
    colleague = accounts.member(session, org, role=Role.AGENT, name="Cora Colleague")
    team = accounts_service.create_team(session, organization_id=org.id, name="Support")
    accounts_service.add_to_team(session, team=team, member=leaver)
    web = channels.brand_account(session, org, kind="web")
    open_ids, resolved_id = [], 0
    for n in range(3):
        result = ingest(session, web, inbound(thread_key=f"visitor:{n}", author=f"v{n}"))
        conversation = result.conversation
        conversations_service.assign(
            session, conversation=conversation, assignee_id=leaver.id, actor=owner
        )
        conversations_service.add_note(
            session, conversation=conversation, author=leaver, text=f"note {n}"
        )
        if n == 2:
            conversations_service.set_status(
                session, conversation=conversation, status=Status.RESOLVED, actor=leaver
            )
            resolved_id = conversation.id
        else:
            open_ids.append(conversation.id)
    api_token = accounts_service.create_api_token(session, member=leaver, name="script").token
    session.commit()

    with (
        TestClient(app, follow_redirects=False) as leaver_client,
        TestClient(app, follow_redirects=False) as admin_client,
    ):
        login(leaver_client, leaver)
        bearer = {"Authorization": f"Bearer {api_token}"}
        assert leaver_client.get("/api/me", headers=bearer).status_code == 200
        csrf = login(admin_client, owner)
        choice = str(colleague.id) if hand_to == "colleague" else "team"
        done = admin_client.post(
            f"/admin/members/{leaver.id}/deactivate", data={"hand_to": choice, "csrf_token": csrf}
        )
        assert done.status_code == 200, done.text
        assert "1 login session(s) ended, 1 API token(s) revoked" in done.text

        # At once: the next page load and the next API call are refused.
        next_page = leaver_client.get("/")
        assert next_page.status_code == 303
        assert next_page.headers["location"].startswith("/login")
        assert leaver_client.get("/api/me", headers=bearer).status_code == 401
        # And the password no longer logs in.
        form = leaver_client.get("/login")
        refused = leaver_client.post(
            "/login",
            data={
                "email": leaver.email,
                "password": accounts.PASSWORD,
                "csrf_token": csrf_from(form.text),
            },
        )
        assert refused.status_code == 401

    with get_sessionmaker(write=False)() as reader:
        for conversation_id in open_ids:
            moved = reader.get_one(Conversation, conversation_id)
            if hand_to == "colleague":
                assert moved.assignee_id == colleague.id
            else:
                assert moved.assignee_id is None
                assert moved.team_id == team.id
        # Closed work stays as it was: the history says who resolved it.
        assert reader.get_one(Conversation, resolved_id).assignee_id == leaver.id
        notes = reader.scalars(
            select(Message.author_member_id).where(Message.text.like("note %"))
        ).all()
        assert notes == [leaver.id] * 3
        trail = reader.scalars(
            select(Activity.actor_member_id).where(Activity.conversation_id == resolved_id)
        ).all()
        assert leaver.id in trail


@pytest.fixture
def three_failures(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings that lock after 3 failures (not the default 5), so the test proves the
    setting is what counts; the cached settings are dropped again afterwards."""
    monkeypatch.setenv("SOCIALDESK_LOGIN_MAX_FAILURES", "3")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("three_failures")
def test_lockout_after_the_configured_failures_shows_in_the_ui(
    app: FastAPI, session: Session
) -> None:
    org = accounts.organization(session, name="Lockout")
    owner = accounts.member(session, org, role=Role.OWNER, name="Olivia Owner")
    agent = accounts.member(session, org, role=Role.AGENT, name="Alex Agent")
    session.commit()
    with (
        TestClient(app, follow_redirects=False) as client,
        TestClient(app, follow_redirects=False) as admin,
    ):

        def attempt(password: str) -> str:
            page = client.get("/login")
            response = client.post(
                "/login",
                data={
                    "email": agent.email,
                    "password": password,
                    "csrf_token": csrf_from(page.text),
                },
            )
            assert response.status_code == 401
            return response.text

        for _ in range(2):
            assert "wrong email or password" in attempt("not the password")
        assert "wrong email or password" in attempt("not the password")  # the third locks
        # Now even the right password is refused, and the page says why.
        assert "locked" in attempt(accounts.PASSWORD)

        login(admin, owner)
        listing = admin.get("/admin/members").text
        assert "locked until" in listing
        trail = admin.get("/admin/audit", params={"action": "lockout"}).text
        assert "<td>lockout</td>" in trail
