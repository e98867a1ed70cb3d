"""A message's photos, videos and files through the API, and downloading a kept one."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.api.conftest import Desk, bearer
from tests.factories.conversations import inbound, ingest

from socialdesk.channels.models import BrandAccount
from socialdesk.connectors.base import Attachment, AttachmentKind

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
