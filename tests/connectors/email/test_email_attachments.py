"""Files attached to recorded mail (SpamScope/mail-parser fixtures) become attachments that
carry their decoded bytes; the text of the message stays what it was."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import socialdesk.connectors.email as email_pkg
from socialdesk.connectors.base import AttachmentKind, InboundMessage, RawEvent
from socialdesk.connectors.email import EmailConnector
from socialdesk.connectors.email.parse import (
    attachment_files,
    event_kind,
    event_native_id,
    event_payload,
    read_message,
)
from tests.connectors.contract import RECEIVED_AT

FIXTURES = Path(email_pkg.__file__).parent / "fixtures"
CONNECTOR = EmailConnector()


def parse(name: str) -> InboundMessage:
    raw = (FIXTURES / name).read_bytes()
    event = RawEvent(
        native_id=event_native_id(raw),
        kind=event_kind(raw),
        payload=event_payload(raw),
        received_at=RECEIVED_AT,
    )
    [message] = CONNECTOR.parse(event)
    return message


def sha256(content: bytes | None) -> str:
    assert content is not None
    return hashlib.sha256(content).hexdigest()


def test_pdf_and_the_images_of_the_html_body() -> None:
    message = parse("message__pdf_and_related_images.eml")
    found = [(a.kind, a.name, a.mime_type, a.size) for a in message.attachments]
    assert found == [
        (AttachmentKind.IMAGE, "intestazione.jpg", "image/jpeg", 9918),
        (AttachmentKind.IMAGE, "logometeo.jpg", "image/jpeg", 7321),
        # Sent as application/octet-stream: the name says what it is.
        (AttachmentKind.FILE, "Bollettino.pdf", "application/pdf", 1089942),
    ]
    header, logo, pdf = message.attachments
    assert header.content is not None
    assert header.content.startswith(b"\xff\xd8\xff")
    assert len(header.content) == 9918
    assert sha256(header.content) == (
        "9303dc647405c7e31331206a15e5f9519c0ae4b666f4a6d514efa6ff327dd9af"
    )
    assert sha256(logo.content) == (
        "dc306d2b9bade52e13a43094e3fd4ce4b5c6e91dd1f903fe75b8d83ad5554a80"
    )
    assert pdf.content is not None
    assert pdf.content.startswith(b"%PDF")
    assert len(pdf.content) == 1089942
    assert sha256(pdf.content) == (
        "9e42a5f7d10c1b1225749d4ef2400f0639b5ed62e36a3ed67819947381f4e013"
    )
    assert all(a.url is None and a.preview_url is None for a in message.attachments)


def test_text_and_raw_record_are_unchanged_by_attachments() -> None:
    message = parse("message__pdf_and_related_images.eml")
    assert "BOLLETTINO di domenica 29 novembre 2015" in message.text
    assert [a["filename"] for a in message.raw["attachments"]] == [
        a.name for a in message.attachments
    ]


def test_encoded_word_file_name_is_decoded() -> None:
    [pdf] = parse("message__long_polish_attachment_name.eml").attachments
    assert pdf.name == (
        "Prokuratura Rejonowa Warszawa-Śródmieście północ sygn. 2Ds. 137414 - RSK pracowników "
        "Skarbowych NSZZ Solidarność - Zarządzenie o odmowie dopuszczenia SOWP do udziału w "
        "postepowaniu.pdf"
    )
    # The declared type is application/octet-stream; the name says .pdf.
    assert pdf.mime_type == "application/pdf"
    assert pdf.kind is AttachmentKind.FILE
    assert pdf.size == 8932
    assert pdf.content is not None
    assert pdf.content.startswith(b"PK\x03\x04")
    assert sha256(pdf.content) == (
        "05bc3630ab05c2f0368fcaba0a5ae32eb954232917aeda816d5371597a11e001"
    )


def test_utf8_file_name_and_zip() -> None:
    [archive] = parse("message__cyrillic_html_zip_without_message_id.eml").attachments
    assert archive.name == "ФНС_РФ558.zip"  # noqa: RUF001 - the recorded Cyrillic name
    assert archive.mime_type == "application/zip"
    assert archive.size == 8932
    assert sha256(archive.content) == (
        "05bc3630ab05c2f0368fcaba0a5ae32eb954232917aeda816d5371597a11e001"
    )


def test_rfc2231_file_names_are_decoded() -> None:
    # A newsletter (never offered for an answer), read here for its RFC 2231 file names.
    raw = (FIXTURES / "bulk__newsletter_precedence_bulk.eml").read_bytes()
    files = attachment_files(read_message(raw))
    assert [a.name for a in files] == [
        "mailingassets_d68799cd6301c7f5731a3c42946e528bcb78eb84.jpg",
        "mailingassets_a9ed45ff2645cff7fca702b289bc684b1bc72e2a.png",
        "mailingassets_0e4def97310df75c2fa6e0db8fe67b79d130b3c3.png",
        "mailingassets_228b182da05725833a4003dcbd8f6fe67956ad40.png",
        "mailingassets_4545af8d596bb510a1181c9a3be0460bc5718649.png",
    ]
    assert [a.size for a in files] == [137791, 374, 540, 493, 530]
    assert all(a.kind is AttachmentKind.IMAGE for a in files)


def test_inline_images_without_names_keep_their_order() -> None:
    message = parse("message__italian_with_inline_images.eml")
    found = [(a.kind, a.name, a.mime_type, a.size) for a in message.attachments]
    assert found == [
        (AttachmentKind.IMAGE, None, "image/gif", 27271),
        (AttachmentKind.IMAGE, None, "image/gif", 50194),
        (AttachmentKind.IMAGE, None, "image/gif", 7962),
        (AttachmentKind.FILE, "Move To Eight ZWEP6227F.pdf", "application/pdf", 140061),
    ]
    assert all(a.content is not None and len(a.content) == a.size for a in message.attachments)
    assert message.attachments[0].content is not None
    assert message.attachments[0].content.startswith(b"GIF8")


def test_attached_text_file_is_an_attachment_but_the_bodies_are_not() -> None:
    message = parse("message__text_file_attached.eml")
    [text_file] = message.attachments
    assert (text_file.kind, text_file.name, text_file.mime_type, text_file.size) == (
        AttachmentKind.FILE,
        "message.txt",
        "text/plain",
        374,
    )
    assert sha256(text_file.content) == (
        "79ee4469fd90848893abf3b47538255adb885e13a0756e07b789bf19530fdc0f"
    )


def test_forwarded_mail_keeps_every_file_in_order() -> None:
    message = parse("message__forward_with_in_reply_to.eml")
    assert [(a.name, a.mime_type) for a in message.attachments] == [
        ("image001.jpg", "image/jpeg"),
        ("att24916.htm", "text/html"),
        ("image002.jpg", "image/jpeg"),
        ("att09558.htm", "text/html"),
        ("image003.jpg", "image/jpeg"),
        ("att04803.htm", "text/html"),
        ("20170609091403417.pdf", "application/pdf"),
        ("att18831.htm", "text/html"),
    ]


@pytest.mark.parametrize(
    "name",
    [
        "message__alternative_plain_and_html.eml",
        "message__chinese_plain_text.eml",
        "message__empty_plain_part_beside_html.eml",
        "message__nested_multipart_reusing_its_boundary.eml",
        "message__boundary_not_the_declared_one.eml",
    ],
)
def test_mail_without_files_has_no_attachments(name: str) -> None:
    assert parse(name).attachments == ()


def test_a_single_part_body_with_a_file_name_is_the_text_not_an_attachment() -> None:
    raw = (FIXTURES / "message__chinese_plain_text.eml").read_bytes()
    message = read_message(raw)
    message.replace_header("Content-Type", 'text/plain; charset="utf-8"; name="note.txt"')
    assert attachment_files(message, body=message) == ()
    assert [a.name for a in attachment_files(message)] == ["note.txt"]
