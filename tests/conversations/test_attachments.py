"""What the desk keeps of the photos, videos and files that come with messages, through the
one-message flow and the batch path, and what erasing a customer leaves of them."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest

from socialdesk.accounts.models import Role
from socialdesk.common.errors import NotFound
from socialdesk.connectors.base import Attachment, AttachmentKind
from socialdesk.contacts import privacy
from socialdesk.conversations import attachments
from socialdesk.conversations.bulk import BulkIngest, BulkItem
from socialdesk.conversations.models import MessageAttachment

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
PHOTO = Attachment(
    AttachmentKind.IMAGE,
    url="https://files.mastodon.example/media/original/a.jpg",
    preview_url="https://files.mastodon.example/media/small/a.jpg",
    description="  The kettle's   cracked base  ",
)


def _count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(MessageAttachment)) or 0)


def test_a_message_keeps_its_attachments_in_order(session: Session) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind="mastodon")
    video = Attachment(
        AttachmentKind.VIDEO,
        url="https://files.mastodon.example/media/original/b.mp4",
        preview_url="https://files.mastodon.example/media/small/b.jpg",
    )
    result = ingest(session, account, inbound(attachments=(PHOTO, video)))
    session.commit()

    shown = attachments.of_messages(session, [result.message.id])[result.message.id]
    assert [(f.kind, f.url) for f in shown] == [
        ("image", PHOTO.url),
        ("video", video.url),
    ]
    assert shown[0].description == "The kettle's cracked base"
    assert shown[0].preview_url == PHOTO.preview_url
    assert not any(f.kept for f in shown)
    assert [f.missing for f in shown] == [None, None]


def test_a_replayed_message_does_not_repeat_its_attachments(session: Session) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind="mastodon")
    message = inbound(native_id="with-photo", attachments=(PHOTO,))
    ingest(session, account, message)
    ingest(session, account, message)
    session.commit()
    assert _count(session) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://files.example/a.jpg",
        "javascript:alert(1)",
        "data:image/png;base64,iVBORw0KGgo=",
        "//files.example/a.jpg",
        "https:///no-host.jpg",
        "https://files.example/a b.jpg",
        "https://files.example/" + "a" * 2000,
    ],
)
def test_only_https_addresses_are_kept(session: Session, url: str) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind="mastodon")
    result = ingest(
        session,
        account,
        inbound(attachments=(Attachment(AttachmentKind.IMAGE, url=url, preview_url=url),)),
    )
    session.commit()
    (shown,) = attachments.of_messages(session, [result.message.id])[result.message.id]
    assert (shown.url, shown.preview_url) == (None, None)
    assert shown.missing == "not kept: the network gave no address for it"


def test_a_file_the_message_carries_is_kept_and_downloads(session: Session) -> None:
    org = accounts.organization(session)
    other = accounts.organization(session)
    account = channels.brand_account(session, org, kind="email")
    invoice = Attachment(
        AttachmentKind.FILE, name="Rechnung März.pdf", mime_type="Application/PDF", content=PDF
    )
    result = ingest(session, account, inbound(attachments=(invoice,)))
    session.commit()

    (shown,) = attachments.of_messages(session, [result.message.id])[result.message.id]
    assert (shown.name, shown.mime_type, shown.size, shown.kept) == (
        "Rechnung März.pdf",
        "application/pdf",
        len(PDF),
        True,
    )
    assert not shown.inline_image
    found = attachments.download(session, organization_id=org.id, attachment_id=shown.id)
    assert hashlib.sha256(found.content).hexdigest() == hashlib.sha256(PDF).hexdigest()
    with pytest.raises(NotFound):
        attachments.download(session, organization_id=other.id, attachment_id=shown.id)
    with pytest.raises(NotFound):
        attachments.download(session, organization_id=org.id, attachment_id=shown.id + 1000)


def test_a_file_over_the_limit_is_listed_but_not_kept(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from socialdesk.config import get_settings

    monkeypatch.setenv("SOCIALDESK_ATTACHMENT_MAX_BYTES", "16")
    get_settings.cache_clear()
    try:
        org = accounts.organization(session)
        account = channels.brand_account(session, org, kind="email")
        small = Attachment(AttachmentKind.FILE, name="note.txt", content=b"0123456789")
        large = Attachment(AttachmentKind.FILE, name="scan.pdf", content=PDF)
        result = ingest(session, account, inbound(attachments=(small, large)))
        session.commit()
        kept, dropped = attachments.of_messages(session, [result.message.id])[result.message.id]
        assert (kept.kept, kept.size) == (True, 10)
        assert (dropped.kept, dropped.size) == (False, len(PDF))
        assert dropped.missing == "not kept: larger than the desk keeps"
        with pytest.raises(NotFound):
            attachments.download(session, organization_id=org.id, attachment_id=dropped.id)
    finally:
        get_settings.cache_clear()


def test_names_types_and_descriptions_are_made_safe_to_store(session: Session) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind="email")
    odd = Attachment(
        AttachmentKind.FILE,
        name="x" * 400,
        mime_type="text/html; charset=utf-8",
        description="d" * 3000,
        size=-5,
    )
    result = ingest(session, account, inbound(attachments=(odd,)))
    session.commit()
    (shown,) = attachments.of_messages(session, [result.message.id])[result.message.id]
    assert shown.name is not None
    assert len(shown.name) == attachments.MAX_NAME
    assert shown.mime_type is None  # parameters make it something other than a bare type
    assert shown.description is not None
    assert len(shown.description) == attachments.MAX_DESCRIPTION
    assert shown.size is None


def test_the_batch_path_keeps_attachments_like_the_flow(session: Session) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind="mastodon")
    run = BulkIngest(organization_id=org.id)
    items = [
        BulkItem(account.id, inbound(native_id="p1", attachments=(PHOTO,))),
        BulkItem(account.id, inbound(native_id="p2")),
        BulkItem(account.id, inbound(native_id="p1", attachments=(PHOTO,))),  # a repeat
    ]
    run.ingest(session, items)
    session.commit()
    run.ingest(session, items[:1])  # and again in a later batch
    session.commit()
    rows = session.scalars(select(MessageAttachment)).all()
    assert [(r.kind, r.url, r.position) for r in rows] == [("image", PHOTO.url, 0)]


def test_erasing_the_customer_erases_their_files_and_the_export_lists_them(
    session: Session,
) -> None:
    org = accounts.organization(session)
    owner = accounts.member(session, org, role=Role.OWNER)
    account = channels.brand_account(session, org, kind="email")
    invoice = Attachment(AttachmentKind.FILE, name="invoice.pdf", content=PDF)
    result = ingest(session, account, inbound(author="erin", attachments=(invoice, PHOTO)))
    session.commit()
    contact_id = result.conversation.contact_id
    assert contact_id is not None

    document = privacy.export(session, organization_id=org.id, contact_id=contact_id, actor=owner)
    (message,) = document["conversations"][0]["messages"]
    listed = message["attachments"]
    assert [a["name"] for a in listed] == ["invoice.pdf", None]
    assert listed[0]["download"].startswith("/attachments/")
    assert listed[1]["download"] is None
    assert listed[1]["url"] == PHOTO.url

    privacy.erase(session, organization_id=org.id, contact_id=contact_id, actor=owner)
    session.commit()
    assert _count(session) == 0
