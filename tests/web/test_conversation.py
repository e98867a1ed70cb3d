"""One conversation: the thread, the contact, and every action the desk offers on it, with
and without HTMX, including the errors services raise, shown beside their form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.channels import service as channels_service
from socialdesk.common.clock import FrozenClock
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, DeliveryState, Message
from socialdesk.outbound import checks
from tests.factories import channels
from tests.factories.conversations import inbound, ingest
from tests.web.conftest import Desk, login

HX = {"HX-Request": "true"}


class Page:
    """A logged-in member working on one conversation."""

    def __init__(self, client: TestClient, csrf: str, conversation_id: int) -> None:
        self.client = client
        self.csrf = csrf
        self.id = conversation_id

    def post(self, action: str, htmx: bool = False, **data: str) -> Response:
        return self.client.post(
            f"/conversations/{self.id}/{action}",
            data={**data, "csrf_token": self.csrf},
            headers=HX if htmx else {},
        )

    def html(self) -> str:
        page = self.client.get(f"/conversations/{self.id}")
        assert page.status_code == 200, page.text
        return page.text


def _conversation(session: Session, desk: Desk, text: str = "My parcel never arrived") -> int:
    result = ingest(session, desk.web, inbound(text=text, author="ana", thread_key="visitor:ana"))
    session.commit()
    return result.conversation.id


@pytest.fixture
def page(client: TestClient, desk: Desk, session: Session) -> Page:
    conversation_id = _conversation(session, desk)
    return Page(client, login(client, desk.owner), conversation_id)


def _fresh(_session: Session, conversation_id: int) -> Conversation:
    """The conversation as stored now, read in a read-only session: the test's own session
    takes SQLite's write lock when it starts a transaction, which the app needs."""
    from socialdesk.db.session import get_sessionmaker

    with get_sessionmaker(write=False)() as reader:
        conversation = reader.get(Conversation, conversation_id)
        assert conversation is not None
        return conversation


def _tags(conversation_id: int) -> list[str]:
    from socialdesk.db.session import get_sessionmaker

    with get_sessionmaker(write=False)() as reader:
        return conversations_service.tags_of(reader, conversation_id=conversation_id)


def test_page_shows_thread_contact_and_trail(
    client: TestClient, desk: Desk, session: Session
) -> None:
    first = ingest(
        session, desk.web, inbound(text="Where is my parcel?", author="ana", thread_key="k1")
    ).conversation
    conversations_service.add_note(
        session, conversation=first, author=desk.agent, text="Carrier says Tuesday"
    )
    other_web = channels.brand_account(session, desk.org, kind="web")
    older = ingest(
        session, other_web, inbound(text="Old question about sizes", author="ana")
    ).conversation
    session.commit()
    login(client, desk.owner)
    html = client.get(f"/conversations/{first.id}").text
    assert 'class="msg msg-inbound"' in html
    assert 'class="msg msg-note"' in html
    assert "Internal note" in html
    assert "Carrier says Tuesday" in html
    # The same person's conversation on another account is listed and linked.
    assert f'href="/conversations/{older.id}"' in html
    assert "Old question about sizes" in html
    assert "added an internal note" in html


def test_times_show_in_the_organizations_time_zone(
    client: TestClient, desk: Desk, session: Session, clock: FrozenClock
) -> None:
    org = session.merge(desk.org)
    org.timezone = "Europe/Amsterdam"
    at = datetime(2026, 1, 5, 8, 55, tzinfo=UTC)
    conversation_id = ingest(session, desk.web, inbound(at=at)).conversation.id
    session.commit()
    login(client, desk.owner)
    html = client.get(f"/conversations/{conversation_id}").text
    assert 'datetime="2026-01-05T08:55:00+00:00"' in html
    assert ">09:55</time>" in html
    assert "Times in Europe/Amsterdam" in html


def test_assign_claim_unassign_team_and_priority(page: Page, desk: Desk, session: Session) -> None:
    team = accounts_service.create_team(session, organization_id=desk.org.id, name="Returns")
    session.commit()
    assert page.post("assign", assignee="me").status_code == 303
    assert _fresh(session, page.id).assignee_id == desk.owner.id
    response = page.post("assign", htmx=True, assignee=str(desk.agent.id))
    assert response.status_code == 200
    assert "<html" not in response.text
    assert f'<option value="{desk.agent.id}" selected>' in response.text
    # The header's state is refreshed out of band.
    assert 'id="conv-state" class="conv-state" hx-swap-oob="true"' in response.text
    assert _fresh(session, page.id).assignee_id == desk.agent.id
    assert page.post("assign", assignee="").status_code == 303
    assert _fresh(session, page.id).assignee_id is None
    assert page.post("team", team=str(team.id)).status_code == 303
    assert page.post("priority", priority="urgent").status_code == 303
    conversation = _fresh(session, page.id)
    assert conversation.team_id == team.id
    assert conversation.priority == 3
    html = page.html()
    assert f"assigned it to {desk.owner.name}" in html
    assert f"assigned it to {desk.agent.name}" in html
    assert f"unassigned it (was {desk.agent.name})" in html
    assert "moved it to Returns" in html
    assert "set priority to urgent" in html


def test_viewers_cannot_be_chosen_as_assignee(page: Page, desk: Desk) -> None:
    html = page.html()
    assert f'<option value="{desk.agent.id}"' in html
    assert f'<option value="{desk.viewer.id}"' not in html


def test_status_resolve_reopen_and_pending(page: Page, session: Session) -> None:
    assert page.post("status", status="resolved").status_code == 303
    assert _fresh(session, page.id).status == "resolved"
    html = page.html()
    assert 'value="open" class="button">Reopen<' in html
    assert "resolved the conversation" in html
    assert page.post("status", status="open").status_code == 303
    assert page.post("status", htmx=True, status="pending").status_code == 200
    assert _fresh(session, page.id).status == "pending"
    assert "reopened the conversation" in page.html()


def test_snooze_with_a_preset_in_the_organizations_zone(
    page: Page, desk: Desk, session: Session, clock: FrozenClock
) -> None:
    org = session.merge(desk.org)
    org.timezone = "America/New_York"
    session.commit()
    response = page.post("snooze", htmx=True, preset="tomorrow")
    assert response.status_code == 200
    conversation = _fresh(session, page.id)
    assert conversation.status == "snoozed"
    # 09:00 in New York on 6 January is 14:00 UTC.
    assert conversation.snoozed_until == datetime(2026, 1, 6, 14, 0, tzinfo=UTC)
    assert "until Tue 06 Jan 2026, 09:00" in response.text
    assert "snoozed it" in response.text


def test_snooze_until_a_chosen_time(page: Page, session: Session, clock: FrozenClock) -> None:
    assert page.post("snooze", preset="custom", until="2026-01-09T17:30").status_code == 303
    assert _fresh(session, page.id).snoozed_until == datetime(2026, 1, 9, 17, 30, tzinfo=UTC)


REFUSALS: list[tuple[str, dict[str, str], str, str]] = [
    ("snooze", {"preset": "custom", "until": "2026-01-01T10:00"}, "snooze", "in the future"),
    ("snooze", {"preset": "custom", "until": "soon"}, "snooze", "is not a date and time"),
    ("snooze", {"preset": "custom", "until": ""}, "snooze", "choose when to wake"),
    ("tags", {"tag": "!!"}, "tags", "must be 1-60 letters"),
    ("assign", {"assignee": "99999"}, "assign", "member 99999 does not exist"),
    ("priority", {"priority": "asap"}, "priority", "priority must be one of low"),
    ("team", {"team": "12345"}, "team", "team 12345 does not exist"),
    ("status", {"status": "snoozed"}, "status", "use the snooze form"),
]


@pytest.mark.parametrize("htmx", [False, True])
def test_refusals_are_shown_beside_their_form(page: Page, session: Session, htmx: bool) -> None:
    for action, data, form, message in REFUSALS:
        response = page.post(action, htmx=htmx, **data)
        assert response.status_code == 422, (action, data)
        error = re.search(rf'role="alert" id="error-{form}">([^<]*)</p>', response.text)
        assert error, (action, data)
        assert message in error.group(1).replace("&#39;", "'"), (action, data)
        assert ("<html" in response.text) is not htmx  # the whole page without HTMX
    conversation = _fresh(session, page.id)
    assert conversation.status == "open"
    assert conversation.assignee_id is None
    assert conversation.priority == 1


def test_tags_are_added_normalised_and_removed(page: Page, session: Session) -> None:
    response = page.post("tags", htmx=True, tag="#Billing")
    assert response.status_code == 200
    assert "#billing" in response.text
    assert _tags(page.id) == ["billing"]
    assert page.post("tags/remove", tag="billing").status_code == 303
    assert _tags(page.id) == []
    html = page.html()
    assert "tagged it #billing" in html
    assert "removed tag #billing" in html


def test_reply_is_queued_then_shown_as_sent(page: Page, session: Session, jobs) -> None:  # type: ignore[no-untyped-def]
    response = page.post("reply", htmx=True, text="It ships today")
    assert response.status_code == 200
    # The composer comes back empty; the thread and side panel come out of band.
    assert '<textarea id="reply-text"' in response.text
    assert "It ships today</textarea>" not in response.text
    assert 'id="thread" hx-swap-oob="innerHTML"' in response.text
    assert "Queued for delivery" in response.text
    jobs.run_pending()
    html = page.html()
    assert 'class="msg msg-outbound"' in html
    assert "It ships today" in html
    assert 'class="delivery delivery-sent"' in html


def test_empty_reply_and_note_are_refused_beside_the_form(page: Page) -> None:
    reply = page.post("reply", htmx=True, text="   ")
    assert reply.status_code == 422
    assert 'id="error-reply">a reply must not be empty<' in reply.text
    note = page.post("notes", htmx=True, text="")
    assert note.status_code == 422
    assert 'id="error-note">a note must not be empty<' in note.text


def test_blocked_reply_names_the_limit_and_keeps_the_draft(page: Page, session: Session) -> None:
    text = "x" * 5001
    response = page.post("reply", text=text)
    assert response.status_code == 422
    assert "web allows 5000 characters; this is 5001" in response.text
    assert f">{text}</textarea>" in response.text
    assert _fresh(session, page.id).message_count == 1


def test_a_warning_asks_for_confirmation_then_sends(
    page: Page, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    def warn_on_refund(draft: checks.Draft) -> checks.Outcome:
        if "refund" not in draft.text:
            return checks.Outcome(checks.Decision.ALLOW)
        reason = checks.Reason(
            rule="promises",
            explain="promising a refund needs a manager",
            decision=checks.Decision.WARN,
        )
        return checks.Outcome(checks.Decision.WARN, [reason])

    monkeypatch.setattr(checks, "_checks", [*checks._checks, warn_on_refund])
    first = page.post("reply", htmx=True, text="You get a refund")
    assert first.status_code == 422
    assert "please confirm: promising a refund needs a manager" in first.text
    assert 'name="confirmed" value="1"' in first.text
    assert "Send anyway" in first.text
    assert _fresh(session, page.id).message_count == 1
    sent = page.post("reply", htmx=True, text="You get a refund", confirmed="1")
    assert sent.status_code == 200
    assert _fresh(session, page.id).message_count == 2


def test_failed_delivery_shows_the_reason_and_can_be_retried(
    page: Page,
    desk: Desk,
    session: Session,
    jobs,  # type: ignore[no-untyped-def]
) -> None:
    assert page.post("reply", text="Tracking number is 123").status_code == 303
    jobs.flush()  # the delivery job did not run: the send "failed"
    message = session.query(Message).filter_by(conversation_id=page.id, direction="outbound").one()
    message.delivery_state = DeliveryState.FAILED.value
    message.delivery_error = "the network refused the post: duplicate content"
    session.commit()
    html = page.html()
    assert "Not delivered:</strong> the network refused the post: duplicate content" in html
    retry_url = f"/conversations/{page.id}/messages/{message.id}/retry"
    assert f'action="{retry_url}"' in html
    response = page.client.post(retry_url, data={"csrf_token": page.csrf}, headers=HX)
    assert response.status_code == 200
    assert "Queued for delivery" in response.text
    jobs.run_pending()
    assert 'class="delivery delivery-sent"' in page.html()
    # Retrying a message that is not failed is refused beside it.
    again = page.client.post(retry_url, data={"csrf_token": page.csrf}, headers=HX)
    assert again.status_code == 422
    assert "only failed messages can be retried" in again.text


def test_retry_of_a_message_from_another_conversation_is_not_found(
    page: Page, desk: Desk, session: Session
) -> None:
    other = ingest(session, desk.web, inbound(author="bob", thread_key="visitor:bob"))
    session.commit()
    response = page.client.post(
        f"/conversations/{page.id}/messages/{other.message.id}/retry",
        data={"csrf_token": page.csrf},
    )
    assert response.status_code == 404


def test_note_is_added_and_marked_internal(page: Page, session: Session) -> None:
    response = page.post("notes", htmx=True, text="Customer is a reseller")
    assert response.status_code == 200
    assert 'class="msg msg-note"' in response.text
    assert "added an internal note" in response.text


def test_viewer_sees_no_forms_and_cannot_act(
    client: TestClient, desk: Desk, session: Session
) -> None:
    conversation_id = _conversation(session, desk)
    csrf = login(client, desk.viewer)
    html = client.get(f"/conversations/{conversation_id}").text
    assert "reply-form" not in html
    assert "note-form" not in html
    assert f"/conversations/{conversation_id}/assign" not in html
    response = client.post(
        f"/conversations/{conversation_id}/assign", data={"assignee": "me", "csrf_token": csrf}
    )
    assert response.status_code == 403
    assert "does not allow conversations.manage" in response.text


def test_member_without_access_to_the_account_cannot_reply(
    client: TestClient, desk: Desk, session: Session
) -> None:
    conversation_id = _conversation(session, desk)
    account = session.merge(desk.web)
    channels_service.set_access(session, account=account, member_ids=[desk.owner.id], team_ids=[])
    session.commit()
    csrf = login(client, desk.agent)
    html = client.get(f"/conversations/{conversation_id}").text
    assert "you are not one of them" in html
    assert "reply-form" not in html
    response = client.post(
        f"/conversations/{conversation_id}/reply",
        data={"text": "hello", "csrf_token": csrf},
        headers=HX,
    )
    assert response.status_code == 422
    assert 'id="error-reply"' in response.text


def test_unknown_conversation_is_a_named_404(page: Page) -> None:
    response = page.client.get("/conversations/424242")
    assert response.status_code == 404
    assert "conversation 424242 does not exist" in response.text
    assert page.client.get("/conversations/424242/thread", headers=HX).status_code == 404


def test_partials_for_live_refresh(page: Page, desk: Desk, session: Session) -> None:
    thread = page.client.get(f"/conversations/{page.id}/thread", headers=HX)
    assert thread.status_code == 200
    assert "<html" not in thread.text
    assert "My parcel never arrived" in thread.text
    side = page.client.get(f"/conversations/{page.id}/side", headers=HX)
    assert side.status_code == 200
    assert 'id="conv-state" class="conv-state" hx-swap-oob="true"' in side.text
    assert "Activity" in side.text
    now = datetime.now(UTC) + timedelta(days=1)  # any time: the page must not crash on it
    assert now.tzinfo is not None
