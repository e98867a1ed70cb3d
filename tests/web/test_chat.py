"""The website channel's visitor side: the chat page, posting, isolation between visitors,
what a visitor may see of the desk's answers, the rate limit, the live filter and the widget."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.config import get_settings
from socialdesk.contacts.models import ContactIdentity
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, DeliveryState
from socialdesk.db.session import get_sessionmaker
from socialdesk.events.realtime import LiveEvent
from socialdesk.outbound import service as outbound_service
from socialdesk.ratelimit.models import RateCounter
from socialdesk.web import chat
from socialdesk.web.chat import VISITOR_COOKIE, VisitorFilter
from tests.conftest import JobRunner
from tests.factories import channels
from tests.web.conftest import Desk, csrf_from

HX = {"HX-Request": "true"}


class Visitor:
    """One browser on the chat page: its own cookie jar."""

    def __init__(self, client: TestClient, public_key: str) -> None:
        self.client = client
        self.key = public_key
        page = client.get(f"/chat/{public_key}")
        assert page.status_code == 200, page.text
        self.csrf = csrf_from(page.text)
        visitor_id = chat.visitor_from_cookie(client.cookies.get(VISITOR_COOKIE) or "")
        assert visitor_id
        self.id = visitor_id

    def say(self, text: str, htmx: bool = True, **extra: str) -> str:
        response = self.client.post(
            f"/chat/{self.key}/messages",
            data={"text": text, "csrf_token": self.csrf, **extra},
            headers=HX if htmx else {},
        )
        assert response.status_code in (200, 303), response.text
        return response.text

    def page(self) -> str:
        return self.client.get(f"/chat/{self.key}").text

    def messages(self) -> str:
        return self.client.get(f"/chat/{self.key}/messages", headers=HX).text


@pytest.fixture
def second_client(client: TestClient) -> TestClient:
    return TestClient(client.app, follow_redirects=False)


def _conversation_of(visitor: Visitor) -> Conversation:
    with get_sessionmaker(write=False)() as reader:
        found = reader.scalar(
            select(Conversation).where(Conversation.thread_key == f"visitor:{visitor.id}")
        )
        assert found is not None
        return found


def test_a_visitor_message_reaches_the_desk(client: TestClient, desk: Desk) -> None:
    visitor = Visitor(client, desk.web.public_key)
    cookie = client.cookies.get(VISITOR_COOKIE)
    assert cookie
    assert "." in cookie
    html = visitor.say("Do you ship to Norway?", name="Ana", email="ana@example.org")
    assert "Do you ship to Norway?" in html
    conversation = _conversation_of(visitor)
    assert conversation.brand_account_id == desk.web.id
    assert conversation.status == "open"
    with get_sessionmaker(write=False)() as reader:
        identity = reader.scalar(
            select(ContactIdentity).where(ContactIdentity.native_id == visitor.id)
        )
        assert identity is not None
        assert identity.display_name == "Ana"
        assert identity.handle == "ana@example.org"


def test_the_name_given_once_is_kept(client: TestClient, desk: Desk) -> None:
    visitor = Visitor(client, desk.web.public_key)
    visitor.say("First", name="Ana")
    page = visitor.page()
    assert 'name="name"' not in page  # not asked again
    assert "(as Ana)" in page
    visitor.say("Second")
    with get_sessionmaker(write=False)() as reader:
        identity = reader.scalar(
            select(ContactIdentity).where(ContactIdentity.native_id == visitor.id)
        )
        assert identity is not None
        assert identity.display_name == "Ana"


def test_the_same_form_posted_twice_is_one_message(client: TestClient, desk: Desk) -> None:
    visitor = Visitor(client, desk.web.public_key)
    visitor.say("Hello?", form_id="abc123")
    visitor.say("Hello?", form_id="abc123")
    assert _conversation_of(visitor).message_count == 1


def test_a_visitor_never_sees_another_visitors_messages(
    client: TestClient, second_client: TestClient, desk: Desk, session: Session, jobs: JobRunner
) -> None:
    alice = Visitor(client, desk.web.public_key)
    bob = Visitor(second_client, desk.web.public_key)
    assert alice.id != bob.id
    alice.say("Alice's private order 1111")
    bob.say("Bob's private order 2222")
    # The desk answers Alice only.
    conversation = session.merge(_conversation_of(alice))
    owner = session.merge(desk.owner)
    outbound_service.queue_reply(session, conversation=conversation, author=owner, text="For Alice")
    session.commit()
    jobs.run_pending()
    for view in (bob.page(), bob.messages()):
        assert "Bob&#39;s private order 2222" in view
        assert "1111" not in view
        assert "For Alice" not in view
    assert "For Alice" in alice.messages()
    assert "2222" not in alice.messages()


def test_a_visitor_sees_only_delivered_replies_and_never_notes(
    client: TestClient, desk: Desk, session: Session, jobs: JobRunner
) -> None:
    visitor = Visitor(client, desk.web.public_key)
    visitor.say("Is my refund coming?")
    conversation = session.merge(_conversation_of(visitor))
    owner = session.merge(desk.owner)
    conversations_service.add_note(
        session, conversation=conversation, author=owner, text="INTERNAL: customer is angry"
    )
    outbound_service.queue_reply(
        session, conversation=conversation, author=owner, text="Yes, on Friday"
    )
    session.commit()
    queued = visitor.messages()
    assert "Yes, on Friday" not in queued  # still queued
    assert "INTERNAL" not in queued
    jobs.run_pending()
    delivered = visitor.messages()
    assert "Yes, on Friday" in delivered
    assert "INTERNAL" not in delivered
    assert "INTERNAL" not in visitor.page()
    # A failed reply stays invisible too.
    failed = outbound_service.queue_reply(
        session, conversation=conversation, author=owner, text="Broken send"
    )
    failed.delivery_state = DeliveryState.FAILED.value
    failed.delivery_error = "test"
    session.commit()
    jobs.flush()
    assert "Broken send" not in visitor.messages()
    assert "Yes, on Friday" in visitor.messages()  # the delivered one is still there


def test_merged_conversations_do_not_leak_other_peoples_messages(
    client: TestClient, second_client: TestClient, desk: Desk, session: Session
) -> None:
    alice = Visitor(client, desk.web.public_key)
    bob = Visitor(second_client, desk.web.public_key)
    alice.say("Alice here 1111")
    bob.say("Bob here 2222")
    keep = session.merge(_conversation_of(alice))
    other = session.merge(_conversation_of(bob))
    conversations_service.merge(session, keep=keep, others=[other])
    session.commit()
    assert "2222" not in alice.messages()
    assert "1111" not in bob.messages()
    assert "Bob here 2222" in bob.messages()


def test_message_rules_empty_too_long_and_rate_limit(client: TestClient, desk: Desk) -> None:
    visitor = Visitor(client, desk.web.public_key)
    empty = client.post(
        f"/chat/{desk.web.public_key}/messages",
        data={"text": "  ", "csrf_token": visitor.csrf},
        headers=HX,
    )
    assert empty.status_code == 422
    assert "write a message first" in empty.text
    long = client.post(
        f"/chat/{desk.web.public_key}/messages",
        data={"text": "y" * 5001, "csrf_token": visitor.csrf},
        headers=HX,
    )
    assert long.status_code == 422
    assert "at most 5000 characters; this one has 5001" in long.text
    for n in range(chat.RATE_LIMIT):
        visitor.say(f"message {n}")
    limited = client.post(
        f"/chat/{desk.web.public_key}/messages",
        data={"text": "one more", "csrf_token": visitor.csrf},
    )
    assert limited.status_code == 429
    assert "very fast" in limited.text
    assert _conversation_of(visitor).message_count == chat.RATE_LIMIT


@pytest.fixture
def three_per_address(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SOCIALDESK_CHAT_MESSAGES_PER_ADDRESS", "3")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("SOCIALDESK_CHAT_MESSAGES_PER_ADDRESS")
    get_settings.cache_clear()


def test_one_address_is_limited_however_many_cookies_it_takes(
    client: TestClient, desk: Desk, session: Session, three_per_address: None
) -> None:
    """A script that takes a fresh visitor cookie for every message is still one address."""
    for n in range(3):
        Visitor(TestClient(client.app, follow_redirects=False), desk.web.public_key).say(f"hi {n}")
    flood = Visitor(TestClient(client.app, follow_redirects=False), desk.web.public_key)
    refused = flood.client.post(
        f"/chat/{desk.web.public_key}/messages",
        data={"text": "hi 3", "csrf_token": flood.csrf},
    )
    assert refused.status_code == 429
    assert "too many messages are coming from your network" in refused.text
    with get_sessionmaker(write=False)() as reader:
        assert len(reader.scalars(select(Conversation.id)).all()) == 3
        # Counted by a keyed hash of the address, never the address itself.
        keys = list(reader.scalars(select(RateCounter.key)))
    assert len(keys) == 1
    assert "testclient" not in keys[0]
    # Another brand's chat counts on its own.
    other = channels.brand_account(session, desk.org, kind="web")
    session.commit()
    Visitor(TestClient(client.app, follow_redirects=False), other.public_key).say("hello")


def test_posting_without_a_visitor_cookie_is_refused(client: TestClient, desk: Desk) -> None:
    visitor = Visitor(client, desk.web.public_key)
    client.cookies.clear()
    response = client.post(
        f"/chat/{desk.web.public_key}/messages", data={"text": "hi", "csrf_token": visitor.csrf}
    )
    assert response.status_code == 403
    assert "this chat has no session" in response.text


def test_a_tampered_visitor_cookie_is_a_new_visitor(client: TestClient, desk: Desk) -> None:
    alice = Visitor(client, desk.web.public_key)
    alice.say("secret 1111")
    forged = TestClient(client.app, follow_redirects=False)
    forged.cookies.set(VISITOR_COOKIE, f"{alice.id}.0000", path="/chat")
    page = forged.get(f"/chat/{desk.web.public_key}")
    assert "1111" not in page.text


def test_unknown_or_non_web_chat_is_not_found(
    client: TestClient, desk: Desk, session: Session
) -> None:
    mastodon = channels.brand_account(session, desk.org, kind="mastodon")
    session.commit()
    unknown = client.get("/chat/not-a-key")
    assert unknown.status_code == 404
    # A visitor sees a page of the chat's own: nothing of the desk, no way into its inbox.
    assert "This chat is not available" in unknown.text
    assert "inbox" not in unknown.text.lower()
    assert 'href="/"' not in unknown.text
    assert client.get(f"/chat/{mastodon.public_key}").status_code == 404
    assert client.get(f"/chat/{mastodon.public_key}/widget.js").status_code == 404


def test_plain_form_post_redirects_back(client: TestClient, desk: Desk) -> None:
    visitor = Visitor(client, desk.web.public_key)
    response = client.post(
        f"/chat/{desk.web.public_key}/messages",
        data={"text": "no javascript here", "csrf_token": visitor.csrf},
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/chat/{desk.web.public_key}"
    assert "no javascript here" in visitor.page()


def test_widget_script(client: TestClient, desk: Desk) -> None:
    response = client.get(f"/chat/{desk.web.public_key}/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "document.currentScript" in response.text
    assert "iframe" in response.text
    assert not client.cookies.get(VISITOR_COOKIE)  # the script sets nothing on the host page


def test_live_filter_passes_only_this_visitors_visible_changes(
    client: TestClient, second_client: TestClient, desk: Desk
) -> None:
    alice = Visitor(client, desk.web.public_key)
    bob = Visitor(second_client, desk.web.public_key)
    alice.say("hi from alice")
    bob.say("hi from bob")
    mine = _conversation_of(alice).id
    theirs = _conversation_of(bob).id
    live = VisitorFilter(account_id=desk.web.id, organization_id=desk.org.id, visitor_id=alice.id)

    def event(kind: str, conversation_id: int, **payload: object) -> LiveEvent:
        return LiveEvent(1, desk.org.id, kind, {"conversation_id": conversation_id, **payload})

    assert live.relevant(event("message.delivery_changed", mine, state="sent"))
    assert live.relevant(event("message.created", mine, direction="inbound", visibility="direct"))
    assert live.relevant(event("conversation.merged", mine))
    assert not live.relevant(event("message.delivery_changed", theirs, state="sent"))
    assert not live.relevant(event("message.delivery_changed", mine, state="queued"))
    assert not live.relevant(
        event("message.created", mine, direction="outbound", visibility="note")
    )
    assert not live.relevant(event("conversation.changed", mine))


def test_stream_needs_a_visitor(client: TestClient, desk: Desk) -> None:
    response = client.get(f"/chat/{desk.web.public_key}/stream")
    assert response.status_code == 403


def test_visitor_cookie_attributes(client: TestClient, desk: Desk) -> None:
    page = client.get(f"/chat/{desk.web.public_key}")
    header = next(h for h in page.headers.get_list("set-cookie") if h.startswith(VISITOR_COOKIE))
    assert "HttpOnly" in header
    assert "Path=/chat" in header
    assert "SameSite=lax" in header
    assert re.search(r"Max-Age=\d{8}", header)
    # A returning visitor keeps the cookie: nothing new is set.
    again = client.get(f"/chat/{desk.web.public_key}")
    assert not any(h.startswith(VISITOR_COOKIE) for h in again.headers.get_list("set-cookie"))
