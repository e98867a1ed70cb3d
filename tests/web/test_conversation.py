"""One conversation: the thread, the contact, replies and notes, delivery and retries, and
who may do what."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.channels import service as channels_service
from socialdesk.common.clock import FrozenClock
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import DeliveryState, Message
from socialdesk.outbound import checks
from tests.conftest import JobRunner
from tests.factories import channels
from tests.factories.conversations import inbound, ingest
from tests.web.conftest import HX, Desk, Page, fresh_conversation, login, new_conversation


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
    assert fresh_conversation(page.id).message_count == 1


def test_a_reply_typed_on_several_lines_is_kept_with_plain_line_endings(
    page: Page, session: Session
) -> None:
    """Browsers send a text box's lines with CRLF; the desk keeps (and sends) LF."""
    assert (
        page.post("reply", text="Hello Ana,\r\n\r\nYour refund is on its way.\r\n").status_code
        == 303
    )
    session.expire_all()
    sent = session.scalars(
        select(Message).where(Message.conversation_id == page.id, Message.direction == "outbound")
    ).one()
    assert sent.text == "Hello Ana,\n\nYour refund is on its way."


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
    assert 'name="confirmed_text" value="You get a refund"' in first.text
    assert "Send anyway" in first.text
    assert fresh_conversation(page.id).message_count == 1
    # Changed after reading the warning: the new words are checked, not waved through.
    changed = page.post(
        "reply",
        htmx=True,
        text="You get a refund, and a refund for your friend",
        confirmed_text="You get a refund",
    )
    assert changed.status_code == 422
    assert "please confirm: promising a refund needs a manager" in changed.text
    assert fresh_conversation(page.id).message_count == 1
    sent = page.post(
        "reply", htmx=True, text="You get a refund\r\n", confirmed_text="You get a refund"
    )
    assert sent.status_code == 200
    assert fresh_conversation(page.id).message_count == 2


def test_failed_delivery_shows_the_reason_and_can_be_retried(
    page: Page,
    desk: Desk,
    session: Session,
    jobs: JobRunner,
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
    conversation_id = new_conversation(session, desk)
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
    conversation_id = new_conversation(session, desk)
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


def test_the_reply_box_says_when_the_account_is_not_getting_replies_through(
    client: TestClient, desk: Desk, session: Session
) -> None:
    conversation_id = ingest(session, desk.web, inbound(text="Hello?")).conversation.id
    session.commit()
    login(client, desk.agent)
    assert 'id="account-unhealthy"' not in client.get(f"/conversations/{conversation_id}").text

    account = session.merge(desk.web)
    channels_service.mark_health(account, healthy=False, reason="the access token was revoked")
    session.commit()
    page = client.get(f"/conversations/{conversation_id}").text
    assert 'id="account-unhealthy"' in page
    assert "are not getting through: the access token was revoked" in page
    # An agent cannot repair it: told who can, with no link to a page they may not open.
    assert "an admin connects the account again" in page
    assert f'href="/admin/accounts/{account.id}"' not in page
    assert 'id="reply-form"' in page  # a reply can still be written, kept and retried

    client.cookies.clear()
    login(client, desk.owner)
    page = client.get(f"/conversations/{conversation_id}").text
    assert f'<a href="/admin/accounts/{account.id}">connected again</a>' in page


def test_the_page_says_which_colleague_is_writing_a_reply(
    client: TestClient, desk: Desk, session: Session
) -> None:
    conversation_id = new_conversation(session, desk)
    agent = Page(client, login(client, desk.agent), conversation_id)
    answer = agent.post("presence", activity="replying")
    assert answer.status_code == 200, answer.text
    assert "presence-item" not in answer.text  # nobody else on it yet
    assert 'id="presence"' in agent.html()

    client.cookies.clear()
    owner = Page(client, login(client, desk.owner), conversation_id)
    page = owner.html()
    assert f"{desk.agent.name} is writing a reply" in page
    # The owner's own announcement lists the agent, and never the owner.
    answer = owner.post("presence", activity="viewing")
    assert f'data-member-id="{desk.agent.id}"' in answer.text
    assert f'data-member-id="{desk.owner.id}"' not in answer.text

    refused = owner.post("presence", activity="typing")
    assert refused.status_code == 422
    assert "activity must be one of viewing, replying, left" in refused.text


def test_inbox_rows_say_which_colleague_is_on_a_conversation(
    client: TestClient, desk: Desk, session: Session
) -> None:
    busy = new_conversation(session, desk)
    quiet = ingest(
        session, desk.web, inbound(text="Other question", author="bo", thread_key="visitor:bo")
    ).conversation.id
    session.commit()
    Page(client, login(client, desk.agent), busy).post("presence", activity="replying")
    inbox = client.get("/").text
    assert f"{desk.agent.name} replying" not in inbox  # never yourself

    client.cookies.clear()
    login(client, desk.owner)
    rows = client.get("/").text
    busy_row = rows[rows.index(f'data-presence-for="{busy}"') :]
    assert busy_row.split("</span></span>")[0].count("presence-item") == 1
    assert f"{desk.agent.name} replying" in busy_row.split("</a>")[0]
    assert f'data-presence-for="{quiet}" data-compact="yes"></span>' in rows


def test_the_reply_box_says_when_the_account_is_not_set_up_to_send(
    client: TestClient, desk: Desk, session: Session
) -> None:
    org = session.merge(desk.org)
    x = channels.brand_account(session, org, kind="x")
    conversation_id = ingest(session, x, inbound(native_id="x-1", text="Hi?")).conversation.id
    web_conversation = new_conversation(session, desk)
    session.commit()

    login(client, desk.agent)
    page = client.get(f"/conversations/{conversation_id}").text
    assert 'id="account-not-ready"' in page
    assert "cannot go out yet: X account" in page
    assert "has no access token" in page
    assert "an admin sets the account up" in page
    assert 'id="reply-form"' in page  # still written, kept and retried
    # The website chat needs nothing set up.
    assert 'id="account-not-ready"' not in client.get(f"/conversations/{web_conversation}").text

    client.cookies.clear()
    login(client, desk.owner)
    page = client.get(f"/conversations/{conversation_id}").text
    assert f'<a href="/admin/accounts/{x.id}">set up</a>' in page

    # Once it has a token, nothing is said.
    account = session.merge(x)
    channels_service.set_credentials(account, {"access_token": "token"})
    session.commit()
    assert 'id="account-not-ready"' not in client.get(f"/conversations/{conversation_id}").text
