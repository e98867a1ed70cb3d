"""A message's photos, videos and files through the API, and downloading a kept one."""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.api.conftest import Desk, bearer
from tests.factories import channels
from tests.factories.conversations import inbound, ingest

from socialdesk.accounts.models import Organization
from socialdesk.channels.models import BrandAccount
from socialdesk.connectors.base import Attachment, AttachmentKind
from socialdesk.conversations import attachments

PDF = b"%PDF-1.4\n%%EOF\n"


def test_messages_list_their_attachments_and_kept_files_download(
    client: TestClient, desk: Desk, session: Session
) -> None:
    account = session.get_one(BrandAccount, desk.a.brand_account_id)
    photo = Attachment(
        AttachmentKind.IMAGE,
        url="https://cdn.bsky.example/img/feed_fullsize/plain/did:plc:x/b@jpeg",
        preview_url="https://cdn.bsky.example/img/feed_thumbnail/plain/did:plc:x/b@jpeg",
        description="Screenshot of the error",
    )
    invoice = Attachment(
        AttachmentKind.FILE, name="invoice.pdf", mime_type="application/pdf", content=PDF
    )
    result = ingest(
        session,
        account,
        inbound(thread_key="visitor:files", author="files", attachments=(photo, invoice)),
    )
    session.commit()
    headers = bearer(desk.a.agent_token)

    page = client.get(f"/api/conversations/{result.conversation.id}/messages", headers=headers)
    assert page.status_code == 200
    (message,) = page.json()["items"]
    first, second = message["attachments"]
    assert first == {
        "id": first["id"],
        "kind": "image",
        "url": photo.url,
        "preview_url": photo.preview_url,
        "name": None,
        "mime_type": None,
        "size": None,
        "description": "Screenshot of the error",
        "download": None,
    }
    assert (second["name"], second["size"]) == ("invoice.pdf", len(PDF))
    assert second["download"] == f"/api/attachments/{second['id']}"

    file = client.get(second["download"], headers=headers)
    assert file.status_code == 200
    assert file.content == PDF
    assert file.headers["content-type"] == "application/octet-stream"
    assert file.headers["content-disposition"].startswith('attachment; filename="invoice.pdf"')

    assert client.get(second["download"], headers=bearer(desk.b.owner_token)).status_code == 404
    assert client.get(second["download"]).status_code == 401
    only_an_address = client.get(f"/api/attachments/{first['id']}", headers=headers)
    assert only_an_address.status_code == 404
    assert "not kept in the desk" in only_an_address.json()["error"]["message"]


def test_a_reply_carries_base64_files_and_lists_them(
    client: TestClient, desk: Desk, session: Session
) -> None:
    headers = bearer(desk.a.agent_token)
    base = f"/api/conversations/{desk.a.conversation_id}"
    sent = client.post(
        f"{base}/replies",
        headers=headers,
        json={
            "text": "The refund form, as promised",
            "files": [
                {"name": "refund form.pdf", "content": base64.b64encode(PDF).decode()},
                {
                    "name": "map",
                    "mime_type": "image/png",
                    "content": base64.b64encode(b"\x89PNG map").decode(),
                    "description": "  The tram network, with line 4 closed  ",
                },
            ],
        },
    )
    assert sent.status_code == 202, sent.text
    message_id = sent.json()["id"]
    message = client.get(f"/api/messages/{message_id}", headers=headers).json()
    first, second = message["attachments"]
    assert (first["name"], first["kind"], first["mime_type"], first["size"]) == (
        "refund form.pdf",
        "file",
        "application/pdf",  # guessed from the name
        len(PDF),
    )
    assert (second["name"], second["kind"], second["mime_type"]) == ("map", "image", "image/png")
    assert second["description"] == "The tram network, with line 4 closed"
    # The delivery hands the network the description, as the image's alt text.
    (_, kept) = attachments.to_send(session, message_id=message_id)
    session.rollback()  # the test's read ends before the app's next request
    assert kept.description == "The tram network, with line 4 closed"
    file = client.get(first["download"], headers=headers)
    assert file.content == PDF
    # Another organization's token cannot download it.
    assert client.get(first["download"], headers=bearer(desk.b.agent_token)).status_code == 404


def test_a_reply_file_that_is_not_base64_is_refused_by_its_place(
    client: TestClient, desk: Desk
) -> None:
    response = client.post(
        f"/api/conversations/{desk.a.conversation_id}/replies",
        headers=bearer(desk.a.agent_token),
        json={"text": "Form", "files": [{"name": "form.pdf", "content": "not base64!"}]},
    )
    assert response.status_code == 422
    body = response.json()["error"]
    assert body["field"] == "files[0].content"
    assert "form.pdf" in body["message"]
    page = client.get(
        f"/api/conversations/{desk.a.conversation_id}/messages",
        headers=bearer(desk.a.agent_token),
    )
    assert [m["direction"] for m in page.json()["items"]] == ["inbound"]


def test_a_reply_with_files_on_a_channel_without_files_names_the_channel(
    client: TestClient, desk: Desk, session: Session
) -> None:
    account = session.get_one(BrandAccount, desk.a.brand_account_id)
    x = channels.brand_account(
        session, session.get_one(Organization, account.organization_id), kind="x"
    )
    conversation = ingest(session, x, inbound(text="Router down")).conversation
    session.commit()
    response = client.post(
        f"/api/conversations/{conversation.id}/replies",
        headers=bearer(desk.a.agent_token),
        json={"text": "See", "files": [{"name": "a.pdf", "content": "JVBERg=="}]},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "files"
    assert error["message"].startswith("X replies cannot carry files")
