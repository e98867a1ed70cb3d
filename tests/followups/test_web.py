"""The desk's pages: the follow-up panel and its buttons, the settings page and the care
report, with their permissions."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.common.clock import FrozenClock
from socialdesk.contacts.models import Contact
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, Status
from socialdesk.db.session import get_sessionmaker
from socialdesk.followups import service
from socialdesk.followups.models import FollowUp, FollowUpPolicy
from tests.conftest import JobRunner
from tests.web import conftest as web_fixtures
from tests.web.conftest import HX, Desk, login, new_conversation

# The desk's page fixtures (an app on the test database, a logged-out client, an organization
# with an owner, an agent and a viewer), used here as in tests/web.
app = web_fixtures.app
client = web_fixtures.client
desk = web_fixtures.desk


def _resolve(session: Session, jobs: JobRunner, desk: Desk, conversation_id: int) -> None:
    conversation = session.get_one(Conversation, conversation_id)
    conversations_service.set_status(
        session, conversation=conversation, status=Status.RESOLVED, actor=desk.agent
    )
    session.commit()
    jobs.run_pending()


def _follow_ups(conversation_id: int) -> list[FollowUp]:
    with get_sessionmaker(write=False)() as reader:
        return list(
            reader.scalars(
                select(FollowUp)
                .where(FollowUp.conversation_id == conversation_id)
                .order_by(FollowUp.id)
            )
        )


def test_the_panel_shows_the_due_time_in_the_organizations_zone(
    client: TestClient, session: Session, jobs: JobRunner, desk: Desk, clock: FrozenClock
) -> None:
    desk.org.timezone = "Europe/Paris"
    session.commit()
    conversation_id = new_conversation(session, desk)
    login(client, desk.viewer)
    before = client.get(f"/conversations/{conversation_id}/panels/followups")
    assert before.status_code == 200
    assert "a follow-up goes out 1 day later (built-in setting)" in before.text
    _resolve(session, jobs, desk, conversation_id)
    panel = client.get(f"/conversations/{conversation_id}/panels/followups")
    # Resolved Mon 5 Jan 09:00 UTC: due Tue 6 Jan 10:00 in Paris.
    assert "Tue 06 Jan 2026, 10:00" in panel.text
    assert "(Europe/Paris)" in panel.text
    assert 'data-status="scheduled"' in panel.text
    assert "data-followup-send-now" not in panel.text  # a viewer sees, but does not act
    assert "data-opt-toggle" not in panel.text


def test_send_now_cancel_and_opt_out_from_the_panel(
    client: TestClient, session: Session, jobs: JobRunner, desk: Desk, clock: FrozenClock
) -> None:
    conversation_id = new_conversation(session, desk)
    _resolve(session, jobs, desk, conversation_id)
    csrf = login(client, desk.agent)
    url = f"/conversations/{conversation_id}"
    panel = client.get(f"{url}/panels/followups")
    assert "data-followup-send-now" in panel.text
    sent = client.post(f"{url}/followups/send-now", data={"csrf_token": csrf}, headers=HX)
    assert sent.status_code == 200, sent.text
    assert 'data-status="sent"' in sent.text
    assert "Hi Ana, checking in: is everything working again?" in sent.text
    # Nothing left to send: the refusal is shown in the panel.
    again = client.post(f"{url}/followups/send-now", data={"csrf_token": csrf}, headers=HX)
    assert again.status_code == 422
    assert "no scheduled follow-up" in again.text
    # Reopen, resolve again later, cancel that one (no JavaScript: a redirect).
    clock.advance(timedelta(hours=1))
    conversation = session.get_one(Conversation, conversation_id)
    conversations_service.set_status(
        session, conversation=conversation, status=Status.OPEN, actor=desk.agent
    )
    session.commit()
    clock.advance(timedelta(hours=1))
    _resolve(session, jobs, desk, conversation_id)
    cancelled = client.post(f"{url}/followups/cancel", data={"csrf_token": csrf})
    assert cancelled.status_code == 303
    assert [f.status for f in _follow_ups(conversation_id)] == ["sent", "cancelled"]
    # Opt out, then in again.
    out = client.post(
        f"{url}/followups/opt-out", data={"csrf_token": csrf, "opted_out": "1"}, headers=HX
    )
    assert 'data-opted-out="1"' in out.text
    with get_sessionmaker(write=False)() as reader:
        contact_id = reader.get_one(Conversation, conversation_id).contact_id
        assert reader.get_one(Contact, contact_id).opted_out_at == clock.now()
    back = client.post(
        f"{url}/followups/opt-out", data={"csrf_token": csrf, "opted_out": "0"}, headers=HX
    )
    assert 'data-opted-out="0"' in back.text


def test_viewers_may_not_act_on_follow_ups(
    client: TestClient, session: Session, jobs: JobRunner, desk: Desk
) -> None:
    conversation_id = new_conversation(session, desk)
    _resolve(session, jobs, desk, conversation_id)
    csrf = login(client, desk.viewer)
    for action in ("send-now", "cancel", "opt-out"):
        response = client.post(
            f"/conversations/{conversation_id}/followups/{action}",
            data={"csrf_token": csrf, "opted_out": "1"},
        )
        assert response.status_code == 403, action
    assert _follow_ups(conversation_id)[0].status == "scheduled"


def test_another_organizations_conversation_is_not_found(
    client: TestClient, session: Session, desk: Desk
) -> None:
    from tests.factories import accounts, channels
    from tests.factories.conversations import inbound, ingest

    other = accounts.organization(session)
    account = channels.brand_account(session, other, kind="web")
    theirs = ingest(session, account, inbound(thread_key="visitor:x", author="x")).conversation
    session.commit()
    csrf = login(client, desk.owner)
    assert client.get(f"/conversations/{theirs.id}/panels/followups").status_code == 404
    response = client.post(
        f"/conversations/{theirs.id}/followups/opt-out", data={"csrf_token": csrf, "opted_out": "1"}
    )
    assert response.status_code == 404


def test_the_settings_page_saves_validates_and_removes(
    client: TestClient, session: Session, desk: Desk
) -> None:
    csrf = login(client, desk.owner)
    page = client.get("/admin/follow-ups")
    assert page.status_code == 200
    assert "Hi Ana, checking in: is everything working again?" in page.text  # the preview
    refused = client.post(
        "/admin/follow-ups",
        data={
            "csrf_token": csrf,
            "scope": "channel:web",
            "enabled": "1",
            "delay_hours": "2",
            "template": "Hi {firstname}, {mood}?",
            "survey": "thumbs",
        },
    )
    assert refused.status_code == 422
    assert "unknown placeholders in the template: {firstname}, {mood}" in refused.text
    assert "Hi {firstname}, {mood}?" in refused.text  # what was typed is kept
    saved = client.post(
        "/admin/follow-ups",
        data={
            "csrf_token": csrf,
            "scope": "channel:web",
            "enabled": "1",
            "delay_hours": "2.5",
            "template": "Hello {name}, {agent} here: all good?",
            "survey": "thumbs",
        },
    )
    assert saved.status_code == 303
    with get_sessionmaker(write=False)() as reader:
        (policy,) = reader.scalars(select(FollowUpPolicy)).all()
        assert (policy.channel, policy.delay_minutes, policy.survey) == ("web", 150, "thumbs")
    listed = client.get("/admin/follow-ups?scope=channel:web")
    assert "2 hours 30 minutes" in listed.text
    assert "Hello Ana, Alex here: all good?" in listed.text
    removed = client.post(
        "/admin/follow-ups/delete", data={"csrf_token": csrf, "scope": "channel:web"}
    )
    assert removed.status_code == 303
    with get_sessionmaker(write=False)() as reader:
        assert reader.scalars(select(FollowUpPolicy)).all() == []


def test_the_settings_page_is_for_admins(client: TestClient, desk: Desk) -> None:
    csrf = login(client, desk.agent)
    assert client.get("/admin/follow-ups").status_code == 403
    response = client.post("/admin/follow-ups", data={"csrf_token": csrf, "template": "Hi"})
    assert response.status_code == 403


def test_the_care_report_page_and_csv(
    client: TestClient, session: Session, jobs: JobRunner, desk: Desk, clock: FrozenClock
) -> None:
    conversation_id = new_conversation(session, desk)
    _resolve(session, jobs, desk, conversation_id)
    follow_up = _follow_ups(conversation_id)[0]
    with get_sessionmaker()() as writer:
        service.send_now(
            writer, follow_up=writer.get_one(FollowUp, follow_up.id), actor=writer.merge(desk.agent)
        )
        writer.commit()
    login(client, desk.viewer)
    page = client.get("/reports/care")
    assert page.status_code == 200
    assert '<dd data-figure="followup_rate">100%</dd>' in page.text
    assert "Alex Agent" in page.text
    day = clock.now().date().isoformat()
    exported = client.get(f"/reports/care.csv?start={day}&end={day}")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    lines = exported.text.splitlines()
    assert lines[0].startswith("scope,id,name,conversations_resolved,followups_sent,followup_rate")
    assert lines[1].startswith("organization,,All,1,1,1.0,")
    bad = client.get("/reports/care?start=2026-02-01&end=2026-01-01")
    assert bad.status_code == 422
    assert "the range ends before it starts" in bad.text
    assert client.get("/reports/care.csv?start=yesterday").status_code == 422
