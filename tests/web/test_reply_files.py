"""Files with a reply: the reply box's multipart form (plain and htmx), the thread showing
them, and the website chat's visitor downloading their own and no one else's."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.connectors.base import Attachment, AttachmentKind
from socialdesk.conversations.models import Message, MessageAttachment
from socialdesk.db.session import get_sessionmaker
from socialdesk.outbound import service as outbound_service
from tests.conftest import JobRunner
from tests.factories import channels
from tests.factories.conversations import inbound, ingest
from tests.web.conftest import HX, Desk, Page, login
from tests.web.test_chat import Visitor, _conversation_of

PDF = b"%PDF-1.4 refund form"
PNG = b"\x89PNG\r\n\x1a\n network map"


def _outbound_files() -> list[tuple[int, str | None, str | None, bytes | None]]:
    with get_sessionmaker(write=False)() as reader:
        rows = reader.execute(
            select(
                MessageAttachment.message_id,
                MessageAttachment.name,
                MessageAttachment.mime_type,
                MessageAttachment.content,
            )
            .join(Message, Message.id == MessageAttachment.message_id)
            .where(Message.direction == "outbound")
            .order_by(MessageAttachment.id)
        )
        return [(r.message_id, r.name, r.mime_type, r.content) for r in rows]


def _reply(
    page: Page, files: list[tuple[str, tuple[str, bytes, str]]], *, htmx: bool, text: str
) -> Response:
    return page.client.post(
        f"/conversations/{page.id}/reply",
        data={"text": text, "csrf_token": page.csrf},
        files=files,
        headers=HX if htmx else {},
    )


def test_the_reply_box_offers_files_where_the_channel_can_send_them(page: Page) -> None:
    html = page.html()
    assert 'hx-encoding="multipart/form-data"' in html
    assert 'enctype="multipart/form-data"' in html
    assert '<input id="reply-files" name="files" type="file" multiple' in html
    # The website chat: the desk's own limits, any type.
    assert "Up to 10 files of 10.0 MiB each" in html
    assert 'aria-describedby="reply-files-hint">' in html  # no accept=: any type


def test_the_hint_and_the_file_picker_follow_the_channels_own_limits(
    client: TestClient, desk: Desk, session: Session
) -> None:
    # Bluesky takes four images of 1,000,000 bytes at most: the box says so, and picks images.
    account = channels.brand_account(session, desk.org, kind="bluesky")
    conversation = ingest(session, account, inbound(text="Which light?")).conversation
    session.commit()
    html = Page(client, login(client, desk.owner), conversation.id).html()
    assert "Up to 4 files (images) of 976.6 KiB each" in html
    assert 'type="file" multiple aria-describedby="reply-files-hint" accept="image/*">' in html


def test_a_reply_with_files_is_stored_and_shown_in_the_thread(page: Page, jobs: JobRunner) -> None:
    response = _reply(
        page,
        [
            ("files", ("refund-form.pdf", PDF, "application/pdf")),
            ("files", ("network-map.png", PNG, "image/png")),
        ],
        htmx=True,
        text="Here is the form and the map",
    )
    assert response.status_code == 200, response.text
    stored = _outbound_files()
    assert [(name, mime, content) for _, name, mime, content in stored] == [
        ("refund-form.pdf", "application/pdf", PDF),
        ("network-map.png", "image/png", PNG),
    ]
    jobs.run_pending()
    html = page.html()
    ids = re.findall(r'href="/attachments/(\d+)"', html)
    assert len(set(ids)) == 2
    download = page.client.get(f"/attachments/{ids[0]}")
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment;")


def test_without_javascript_the_form_posts_and_redirects(page: Page) -> None:
    response = _reply(
        page, [("files", ("form.pdf", PDF, "application/pdf"))], htmx=False, text="The form"
    )
    assert response.status_code == 303
    assert [name for _, name, _, _ in _outbound_files()] == ["form.pdf"]


def test_an_empty_file_input_is_no_file(page: Page) -> None:
    # What a browser posts when no file was chosen: a part with an empty name.
    response = _reply(
        page, [("files", ("", b"", "application/octet-stream"))], htmx=True, text="Just text"
    )
    assert response.status_code == 200, response.text
    assert _outbound_files() == []


def test_too_many_files_are_refused_beside_the_form_and_nothing_is_stored(page: Page) -> None:
    many = [("files", (f"page-{i}.pdf", PDF, "application/pdf")) for i in range(11)]
    response = _reply(page, many, htmx=True, text="All pages")
    assert response.status_code == 422
    assert 'id="error-reply">a reply carries at most 10 files; this one has 11<' in response.text
    assert "All pages" in response.text  # the draft is kept
    assert _outbound_files() == []


def test_a_channel_that_cannot_send_files_has_no_file_input_and_refuses_one(
    client: TestClient, desk: Desk, session: Session
) -> None:
    account = channels.brand_account(session, desk.org, kind="x")
    conversation = ingest(session, account, inbound(text="Router down")).conversation
    session.commit()
    page = Page(client, login(client, desk.owner), conversation.id)
    html = page.html()
    assert 'id="reply-form"' in html
    assert 'name="files"' not in html
    response = _reply(
        page, [("files", ("form.pdf", PDF, "application/pdf"))], htmx=True, text="See the form"
    )
    assert response.status_code == 422
    assert "X replies cannot carry files" in response.text
    with get_sessionmaker(write=False)() as reader:
        assert reader.scalars(select(Message).where(Message.direction == "outbound")).all() == []


def test_the_visitor_downloads_the_file_and_another_visitor_cannot(
    client: TestClient, desk: Desk, session: Session, jobs: JobRunner
) -> None:
    alice = Visitor(client, desk.web.public_key)
    bob = Visitor(TestClient(client.app, follow_redirects=False), desk.web.public_key)
    alice.say("Can you send the refund form?")
    bob.say("Hello?")
    conversation = session.merge(_conversation_of(alice))
    owner = session.merge(desk.owner)
    reply = outbound_service.queue_reply(
        session,
        conversation=conversation,
        author=owner,
        text="Here it is",
        files=[
            Attachment(
                AttachmentKind.FILE,
                name="refund form.pdf",
                mime_type="application/pdf",
                content=PDF,
            )
        ],
    )
    session.commit()
    [(_, _, _, _)] = _outbound_files()
    with get_sessionmaker(write=False)() as reader:
        file_id = reader.scalar(
            select(MessageAttachment.id).where(MessageAttachment.message_id == reply.id)
        )
    link = f"/chat/{desk.web.public_key}/attachments/{file_id}"
    # Not before it is delivered: a queued reply is not shown to the visitor yet.
    assert link not in alice.messages()
    assert alice.client.get(link).status_code == 404
    jobs.run_pending()
    for view in (alice.messages(), alice.page()):
        assert f'href="{link}"' in view
        assert "refund form.pdf" in view
    download = alice.client.get(link)
    assert download.status_code == 200
    assert download.content == PDF
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"refund form.pdf\"; filename*=UTF-8''refund%20form.pdf"
    )
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in download.headers["content-security-policy"]
    # Another visitor, and someone with no chat cookie, get "not found".
    assert link not in bob.messages()
    assert bob.client.get(link).status_code == 404
    stranger = TestClient(client.app, follow_redirects=False)
    assert stranger.get(link).status_code == 404
