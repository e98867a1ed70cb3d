"""The thread shows what came with each message: a network's photo from the network, a file
the desk keeps as a download from the desk, always as a download and only to the
organization's members."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Role
from socialdesk.connectors.base import Attachment, AttachmentKind
from socialdesk.conversations.models import MessageAttachment
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest
from tests.web.conftest import Desk, login

# The smallest valid PNG: one transparent pixel.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)
PDF = b"%PDF-1.4\n%%EOF\n"
PHOTO = Attachment(
    AttachmentKind.IMAGE,
    url="https://pbs.twimg.example/media/kettle.jpg",
    preview_url="https://pbs.twimg.example/media/kettle_small.jpg",
    description="A kettle with a cracked base",
)


def _conversation(session: Session, desk: Desk) -> tuple[int, dict[str, int]]:
    mail = channels.brand_account(session, desk.org, kind="email")
    result = ingest(
        session,
        mail,
        inbound(
            author="kim@mail.example",
            text="Photos and the invoice attached",
            attachments=(
                PHOTO,
                Attachment(
                    AttachmentKind.IMAGE, name="receipt.png", mime_type="image/png", content=PNG
                ),
                Attachment(
                    AttachmentKind.FILE,
                    name="Rechnung März.pdf",
                    mime_type="application/pdf",
                    content=PDF,
                ),
                Attachment(
                    AttachmentKind.FILE,
                    name="evil.html",
                    mime_type="text/html",
                    content=b"<script>alert(1)</script>",
                ),
            ),
        ),
    )
    ids = {
        row.name or "photo": row.id
        for row in session.scalars(
            select(MessageAttachment).where(MessageAttachment.message_id == result.message.id)
        )
    }
    session.commit()  # before the app's requests: SQLite has one writer at a time
    return result.conversation.id, ids


def test_the_thread_shows_photos_and_files(
    client: TestClient, desk: Desk, session: Session
) -> None:
    conversation_id, ids = _conversation(session, desk)
    login(client, desk.agent)
    html = client.get(f"/conversations/{conversation_id}").text
    assert (
        '<img src="https://pbs.twimg.example/media/kettle_small.jpg" '
        'alt="A kettle with a cracked base" loading="lazy" referrerpolicy="no-referrer">'
    ) in html
    assert 'href="https://pbs.twimg.example/media/kettle.jpg" target="_blank"' in html
    assert (
        f'<img src="/attachments/{ids["receipt.png"]}" alt="receipt.png, no description given"'
        in html
    )
    assert f'<a href="/attachments/{ids["Rechnung März.pdf"]}">Rechnung März.pdf</a>' in html
    assert "application/pdf, 15 Bytes" in html


def test_a_kept_file_is_always_a_download(client: TestClient, desk: Desk, session: Session) -> None:
    _conversation_id, ids = _conversation(session, desk)
    login(client, desk.viewer)
    pdf = client.get(f"/attachments/{ids['Rechnung März.pdf']}")
    assert pdf.status_code == 200
    assert pdf.content == PDF
    assert pdf.headers["content-type"] == "application/octet-stream"
    assert pdf.headers["content-disposition"] == (
        "attachment; filename=\"Rechnung M_rz.pdf\"; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf"
    )
    assert pdf.headers["x-content-type-options"] == "nosniff"
    assert pdf.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert "no-store" in pdf.headers["cache-control"]

    html = client.get(f"/attachments/{ids['evil.html']}")
    assert html.headers["content-type"] == "application/octet-stream"
    assert html.headers["content-disposition"].startswith("attachment;")

    png = client.get(f"/attachments/{ids['receipt.png']}")
    assert png.headers["content-type"] == "image/png"
    assert png.content == PNG


def test_only_the_organization_gets_its_files(
    client: TestClient, desk: Desk, session: Session
) -> None:
    _conversation_id, ids = _conversation(session, desk)
    pdf = ids["Rechnung März.pdf"]
    stranger_org = accounts.organization(session, name="Elsewhere")
    stranger = accounts.member(session, stranger_org, role=Role.OWNER, name="Sam Stranger")
    session.commit()

    anonymous = client.get(f"/attachments/{pdf}")
    assert anonymous.status_code in (303, 401)
    assert PDF not in anonymous.content

    login(client, stranger)
    assert client.get(f"/attachments/{pdf}").status_code == 404
    assert client.get(f"/attachments/{ids['photo']}").status_code == 404
