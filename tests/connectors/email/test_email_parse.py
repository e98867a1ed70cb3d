"""Parsing real-world raw mail (fixtures from SpamScope/mail-parser), malformed mail included."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest

import socialdesk.connectors.email as email_pkg
from socialdesk.connectors.base import Connector, RawEvent, Visibility
from socialdesk.connectors.email import EmailConnector
from socialdesk.connectors.email.parse import (
    AUTO_REPLY,
    BOUNCE,
    BULK,
    MESSAGE,
    MalformedEventError,
    NotAnEmailError,
    classify,
    event_kind,
    event_native_id,
    event_payload,
    message_ids,
    read_message,
)
from tests.connectors.contract import (
    RECEIVED_AT,
    ConnectorContract,
    fixture_kind,
    fixture_paths,
)

FIXTURES = Path(email_pkg.__file__).parent / "fixtures"
NOT_MAIL = "message__outlook_msg_not_rfc822.eml"


def raw_of(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def event(raw: bytes, kind: str | None = None) -> RawEvent:
    return RawEvent(
        native_id=event_native_id(raw),
        kind=kind or event_kind(raw),
        payload=event_payload(raw, uid=7, uidvalidity=1700, mailbox="INBOX"),
        received_at=RECEIVED_AT,
    )


def with_headers(name: str, *headers: str) -> bytes:
    """A recorded mail with extra header lines in front (as a relay would add them)."""
    return "".join(f"{h}\r\n" for h in headers).encode() + raw_of(name)


class TestEmailParse(ConnectorContract):
    connector: ClassVar[Connector] = EmailConnector()
    fixtures: ClassVar[Path] = FIXTURES

    def event_from_fixture(self, path: Path, kind: str) -> RawEvent:
        return event(path.read_bytes(), kind)

    @pytest.mark.parametrize("path", fixture_paths(FIXTURES), ids=lambda p: p.name)
    def test_every_fixture_parses_or_is_refused_clearly(self, path: Path) -> None:
        if path.name == NOT_MAIL:
            with pytest.raises(NotAnEmailError, match=r"Outlook \.msg"):
                self.parse_fixture(path.name)
            return
        messages = self.parse_fixture(path.name)
        if fixture_kind(path) != MESSAGE:
            assert messages == []
            return
        [message] = messages
        assert message.author.handle
        assert "@" in message.author.native_id
        assert message.author.native_id == message.author.native_id.lower()
        assert message.created_at.tzinfo is not None
        assert message.visibility is Visibility.DIRECT
        assert message.thread_key
        assert "<" not in message.native_id
        assert message.text.strip(), "every recorded mail has readable text"
        assert message.raw["full_text"].split()[:3] == message.text.split()[:3]
        assert message.raw["uid"] == 7

    @pytest.mark.parametrize("path", fixture_paths(FIXTURES), ids=lambda p: p.name)
    def test_the_poller_files_each_fixture_under_its_kind(self, path: Path) -> None:
        assert event_kind(path.read_bytes()) == fixture_kind(path)

    def test_encoded_display_names_and_address_lists(self) -> None:
        [message] = self.parse_fixture("message__encoded_display_names.eml")
        assert message.author.display_name == "LastßlName, FirstName"
        assert message.author.handle == "comma.name@example.com"
        assert message.raw["to"] == ["tony.stark@example.com"]
        assert message.raw["cc"] == ["simple@example.net", "john.doe@example.com"]
        assert message.created_at == datetime(2025, 11, 3, 17, 23, tzinfo=UTC)
        assert message.subject == "Test for Comma and Name Bugs"

    def test_new_mail_is_its_own_thread(self) -> None:
        [message] = self.parse_fixture("message__address_as_display_name.eml")
        assert message.native_id == "test-email-as-name@example.com"
        assert message.reply_to_native_id is None
        assert message.thread_key == "test-email-as-name@example.com"
        assert message.author.handle == "alice@example.com"

    def test_in_reply_to_threads_the_mail(self) -> None:
        [message] = self.parse_fixture("message__forward_with_in_reply_to.eml")
        assert message.reply_to_native_id == "EEDDF5F5-2786-4B3F-B15A-124A9A29A8D3@agade.info"
        assert message.thread_key == "EEDDF5F5-2786-4B3F-B15A-124A9A29A8D3@agade.info"
        # The forwarded mail below Outlook's Italian header block is kept in the raw only.
        assert message.text.startswith("Ciao sere mi puoi dire")
        assert "Oggetto: Ordine" not in message.text
        assert "Oggetto: Ordine" in message.raw["full_text"]
        names = [a["filename"] for a in message.raw["attachments"]]
        assert "20170609091403417.pdf" in names
        assert len(names) == 8

    def test_references_give_the_thread_root(self) -> None:
        raw = with_headers(
            "message__address_as_display_name.eml",
            "In-Reply-To: <second@example.com>",
            "References: <root@example.com>\r\n <second@example.com>",
        )
        [message] = self.connector.parse(event(raw))
        assert message.reply_to_native_id == "second@example.com"
        assert message.thread_key == "root@example.com"
        assert message.raw["references"] == ["root@example.com", "second@example.com"]

    def test_mail_without_message_id_or_date(self) -> None:
        [message] = self.parse_fixture("message__cyrillic_html_zip_without_message_id.eml")
        assert message.native_id.endswith("@no-message-id.socialdesk.invalid")
        assert message.native_id == event_native_id(
            raw_of("message__cyrillic_html_zip_without_message_id.eml")
        ), "the same bytes always get the same id"
        assert message.created_at == RECEIVED_AT
        assert message.text.startswith("Налогоплательщик!")
        assert message.raw["attachments"] == [
            {
                "filename": "ФНС_РФ558.zip",  # noqa: RUF001 - the recorded Cyrillic name
                "content_type": "application/octet-stream",
                "size": 8932,
                "inline": False,
                "content_id": None,
            }
        ]

    def test_gb2312_label_on_gbk_text(self) -> None:
        [message] = self.parse_fixture("message__gb2312_label_on_gbk_text.eml")
        assert "我把镜头拉近些" in message.text
        assert "\ufffd" not in message.text
        assert message.subject is not None
        assert "\ufffd" not in message.subject

    def test_undeclared_boundary_is_recovered(self) -> None:
        [message] = self.parse_fixture("message__boundary_not_the_declared_one.eml")
        assert message.raw["recovered_boundary"] == "--=_GlSzQZUbRbpVOpy"
        assert "¡Feliz Navidad!" in message.text
        assert "StartBoundaryNotFoundDefect" in message.raw["defects"]

    def test_broken_utf8_keeps_the_cyrillic(self) -> None:
        [message] = self.parse_fixture("message__cyrillic_with_broken_utf8.eml")
        assert "Профессионалы.ru" in message.text

    def test_empty_plain_part_falls_back_to_html(self) -> None:
        [message] = self.parse_fixture("message__empty_plain_part_beside_html.eml")
        assert message.text == "Test"

    def test_html_only_mail_is_read_as_text(self) -> None:
        [message] = self.parse_fixture("message__html_only_with_zip.eml")
        assert message.text.startswith("Dear All,")
        assert "<" not in message.text
        assert {a["filename"] for a in message.raw["attachments"]} == {
            "img1.jpg",
            "Payment Invoice.zip",
        }

    def test_bounce_is_never_offered_for_an_answer(self) -> None:
        raw = raw_of("bounce__delivery_status_report.eml")
        found = classify(read_message(raw))
        assert found.kind == BOUNCE
        assert found.reason is not None
        assert "delivery-status" in found.reason
        assert self.connector.parse(event(raw, "bounce")) == []
        # Filed as an ordinary message by some other path, it is still not offered.
        assert self.connector.parse(event(raw, "message")) == []

    def test_bulk_mail_is_recognised(self) -> None:
        assert classify(read_message(raw_of("bulk__gtube_precedence_junk.eml"))).kind == BULK
        raw = raw_of("bulk__newsletter_precedence_bulk.eml")
        assert classify(read_message(raw)).reason == "Precedence: bulk"

    @pytest.mark.parametrize(
        ("header", "kind"),
        [
            ("Auto-Submitted: auto-replied (vacation)", AUTO_REPLY),
            ("Auto-Submitted: auto-generated", BULK),
            ("Auto-Submitted: no", MESSAGE),
            ("X-Autoreply: yes", AUTO_REPLY),
            ("X-Autorespond: Out of office", AUTO_REPLY),
            ("Precedence: auto_reply", AUTO_REPLY),
            ("Precedence: list", MESSAGE),
            ("Return-Path: <>", AUTO_REPLY),
            ("Content-Type: multipart/report; report-type=disposition-notification", AUTO_REPLY),
        ],
    )
    def test_automated_mail_signals(self, header: str, kind: str) -> None:
        raw = with_headers("message__address_as_display_name.eml", header)
        assert classify(read_message(raw)).kind == kind
        parsed = self.connector.parse(event(raw, MESSAGE))
        assert len(parsed) == (1 if kind == MESSAGE else 0)

    def test_mailer_daemon_sender_is_a_bounce(self) -> None:
        raw = raw_of("message__address_as_display_name.eml").replace(
            b"From: alice@example.com", b"From: Mail Delivery System <MAILER-DAEMON@mx.example>"
        )
        assert classify(read_message(raw)).kind == BOUNCE

    def test_text_payload_is_accepted(self) -> None:
        raw = raw_of("message__encoded_display_names.eml")
        payload = {"raw": raw.decode("utf-8", "surrogateescape")}
        [message] = self.connector.parse(
            RawEvent(native_id="x", kind=MESSAGE, payload=payload, received_at=RECEIVED_AT)
        )
        assert message.author.handle == "comma.name@example.com"

    def test_payload_without_mail_is_malformed(self) -> None:
        with pytest.raises(MalformedEventError, match="neither raw_base64 nor raw"):
            self.connector.parse(
                RawEvent(native_id="x", kind=MESSAGE, payload={}, received_at=RECEIVED_AT)
            )
        with pytest.raises(MalformedEventError, match="not base64"):
            self.connector.parse(
                RawEvent(
                    native_id="x",
                    kind=MESSAGE,
                    payload={"raw_base64": "@@not base64@@"},
                    received_at=RECEIVED_AT,
                )
            )

    def test_headerless_bytes_are_not_mail(self) -> None:
        payload = {"raw_base64": base64.b64encode(b"\r\n\r\njust text").decode()}
        with pytest.raises(NotAnEmailError, match="no mail headers"):
            self.connector.parse(
                RawEvent(native_id="x", kind=MESSAGE, payload=payload, received_at=RECEIVED_AT)
            )


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        (None, []),
        ("<a@x>", ["a@x"]),
        (" <a@x>\r\n\t<b@y> <a@x>", ["a@x", "b@y"]),
        ("a@x", ["a@x"]),
        ("no id here", []),
        ("Your message of Monday <a@x>", ["a@x"]),
    ],
)
def test_message_ids(value: str | None, ids: list[str]) -> None:
    assert message_ids(value) == ids
