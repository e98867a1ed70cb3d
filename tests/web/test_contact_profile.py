"""A customer's own page: who they are on each channel, every conversation they had, the
promises open to them; their name and VIP mark edited there; an old link to a merged-away
customer leads to the one kept."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.commitments import service as commitments_service
from socialdesk.common.clock import FrozenClock
from socialdesk.contacts import service as contacts_service
from socialdesk.contacts.models import Contact
from socialdesk.db.session import get_sessionmaker
from socialdesk.followups.models import FollowUp, FollowUpStatus
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest
from tests.web.conftest import Desk, login


def test_a_customer_page_shows_everything_of_theirs(
    client: TestClient, desk: Desk, session: Session, clock: FrozenClock
) -> None:
    chat = ingest(session, desk.web, inbound(author="noor", text="Is my pass renewed?"))
    mail = channels.brand_account(session, desk.org, kind="email")
    clock.advance(timedelta(hours=1))
    by_mail = ingest(session, mail, inbound(author="noor@mail.example", text="Invoice question"))
    noor, twin = chat.conversation.contact_id, by_mail.conversation.contact_id
    assert noor is not None
    assert twin is not None
    contacts_service.merge(session, organization_id=desk.org.id, source_id=twin, target_id=noor)
    commitments_service.create(
        session,
        conversation=chat.conversation,
        actor=desk.agent,
        text="Renew the pass by Friday",
        due_at=clock.now() + timedelta(days=2),
        owner_id=desk.agent.id,
    )
    somebody = ingest(session, desk.web, inbound(author="somebody", text="Unrelated"))
    for conversation, answer, score in (
        (chat.conversation, "positive", 4),
        (somebody.conversation, "negative", 1),
    ):
        session.add(
            FollowUp(
                organization_id=desk.org.id,
                conversation_id=conversation.id,
                brand_account_id=conversation.brand_account_id,
                contact_id=conversation.contact_id,
                resolved_at=clock.now(),
                due_at=clock.now(),
                status=FollowUpStatus.ANSWERED.value,
                answer=answer,
                satisfaction=score,
                answered_at=clock.now(),
                created_at=clock.now(),
            )
        )
    elsewhere = ingest(
        session,
        channels.brand_account(session, accounts.organization(session)),
        inbound(author="x"),
    )
    session.commit()
    chat_id, mail_id = chat.conversation.id, by_mail.conversation.id
    foreign = elsewhere.conversation.contact_id
    session.commit()

    login(client, desk.agent)
    page = client.get(f"/contacts/{noor}")
    assert page.status_code == 200
    html = page.text
    assert "@noor" in html
    assert "noor@mail.example" in html
    conversations = html[html.index('id="profile-conversations"') :]
    # Latest activity first: the email, then the chat.
    assert conversations.index(f'href="/conversations/{mail_id}"') < conversations.index(
        f'href="/conversations/{chat_id}"'
    )
    assert "Unrelated" not in html
    promises = html[html.index('id="profile-promises"') : html.index('id="profile-answers"')]
    assert "Renew the pass by Friday" in promises
    assert desk.agent.name in promises
    answers = html[html.index('id="profile-answers"') : html.index('id="profile-conversations"')]
    assert "<strong>Fixed</strong>" in answers
    assert '<span class="chip">4/5</span>' in answers
    assert "Not fixed" not in answers  # somebody else's
    assert f'action="/contacts/{noor}/details"' in html
    assert "Same person as… (1 merge)" in html

    # The merged-away customer's old link leads here.
    moved = client.get(f"/contacts/{twin}", follow_redirects=False)
    assert moved.status_code == 303
    assert moved.headers["location"] == f"/contacts/{noor}"
    assert client.get(f"/contacts/{foreign}").status_code == 404

    # The list and the conversation's Contact panel link here.
    assert f'<a href="/contacts/{noor}" class="contact-link">' in client.get("/contacts").text
    side = client.get(f"/conversations/{chat_id}").text
    assert f'<a href="/contacts/{noor}" id="contact-page-link">' in side


def test_the_name_and_vip_mark_are_edited_on_the_page(
    client: TestClient, desk: Desk, session: Session
) -> None:
    conversation = ingest(session, desk.web, inbound(author="visitor-7")).conversation
    session.commit()
    contact_id, conversation_id = conversation.contact_id, conversation.id
    session.commit()
    csrf = login(client, desk.agent)
    action = f"/contacts/{contact_id}/details"
    refused = client.post(action, data={"csrf_token": csrf, "name": "   "})
    assert refused.status_code == 422
    assert "a customer&#39;s name must not be empty" in refused.text
    assert client.post(action, data={"name": "Vera Lind"}).status_code == 403  # no CSRF token
    saved = client.post(
        action,
        data={
            "csrf_token": csrf,
            "name": "Vera  Lind",
            "vip": "1",
            "note": "Uses a wheelchair:\r\nsend the step-free route",
        },
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/contacts/{contact_id}"
    with get_sessionmaker(write=False)() as reader:
        contact = reader.get_one(Contact, contact_id)
        assert (contact.name, contact.is_vip) == ("Vera Lind", True)
        assert contact.attributes == {"note": "Uses a wheelchair:\nsend the step-free route"}
    page = client.get(f"/contacts/{contact_id}").text
    assert '<span class="prio prio-high">VIP</span>' in page
    assert (
        '<p class="contact-note" id="contact-note">Uses a wheelchair:\nsend the step-free route</p>'
    ) in page
    # The conversation's Contact panel shows the note to whoever answers.
    side = client.get(f"/conversations/{conversation_id}").text
    assert "send the step-free route</p>" in side
    # A form without the note field (an older page) leaves it; an empty one removes it.
    client.post(action, data={"csrf_token": csrf, "name": "Vera Lind", "vip": "1"})
    assert 'id="contact-note"' in client.get(f"/contacts/{contact_id}").text
    too_long = client.post(action, data={"csrf_token": csrf, "name": "V", "note": "x" * 1001})
    assert too_long.status_code == 422
    assert "the note is 1001 characters" in too_long.text
    client.post(action, data={"csrf_token": csrf, "name": "Vera Lind", "vip": "1", "note": ""})
    assert 'id="contact-note"' not in client.get(f"/contacts/{contact_id}").text

    client.cookies.clear()
    csrf = login(client, desk.viewer)
    page = client.get(f"/contacts/{contact_id}").text
    assert "Vera Lind" in page
    assert "/details" not in page
    assert client.post(action, data={"csrf_token": csrf, "name": "X"}).status_code == 403
