"""A reply's files sent as MIME attachments, read back with the stdlib parser as a mail client
would."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from socialdesk.connectors.base import Attachment, AttachmentKind, SendError
from socialdesk.connectors.email import EmailConnector
from tests.connectors.email.test_email_send import Recorder, account, connector, request

PDF = b"%PDF-1.4\n\x00\xff binary refund form"
PNG = b"\x89PNG\r\n\x1a\n network map"


def _parsed(message: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_files_are_sent_as_mime_attachments_after_the_text() -> None:
    recorder = Recorder()
    files = (
        Attachment(
            AttachmentKind.FILE,
            name="Rückerstattung Formular.pdf",
            mime_type="application/pdf",
            content=PDF,
        ),
        Attachment(
            AttachmentKind.IMAGE, name="network map.png", mime_type="image/png", content=PNG
        ),
        Attachment(AttachmentKind.FILE, name="notes", mime_type=None, content=b"plain bytes"),
    )
    connector(recorder).send(account(), request(attachments=files))
    [sent] = recorder.sent
    message = _parsed(sent)
    assert message.get_content_type() == "multipart/mixed"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content().rstrip("\n") == request().text
    found = [
        (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
        for part in message.iter_attachments()
    ]
    assert found == [
        ("Rückerstattung Formular.pdf", "application/pdf", PDF),
        ("network map.png", "image/png", PNG),
        ("notes", "application/octet-stream", b"plain bytes"),
    ]
    # The non-ASCII name travels RFC 2231-encoded, never as raw 8-bit in a header.
    assert "filename*=utf-8''R%C3%BCckerstattung" in sent.as_string()


def test_a_reply_without_files_stays_a_plain_text_message() -> None:
    recorder = Recorder()
    connector(recorder).send(account(), request())
    assert _parsed(recorder.sent[0]).get_content_type() == "text/plain"


def test_a_file_without_content_is_a_permanent_failure() -> None:
    recorder = Recorder()
    lost = Attachment(AttachmentKind.FILE, name="form.pdf", mime_type="application/pdf")
    with pytest.raises(SendError, match=r"form\.pdf has no content") as failed:
        connector(recorder).send(account(), request(attachments=(lost,)))
    assert not failed.value.retryable
    assert recorder.sent == []


def test_email_says_it_can_send_files() -> None:
    assert EmailConnector.capabilities.files
