"""Polling a mailbox by UID, with an in-memory mailbox holding the recorded mails."""

from __future__ import annotations

import imaplib
import locale
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

import socialdesk.connectors.email as email_pkg
from socialdesk.connectors.base import AccountContext, AuthError, SendError
from socialdesk.connectors.email import EmailConnector
from socialdesk.connectors.email.config import EmailAccount
from socialdesk.connectors.email.parse import raw_bytes
from socialdesk.connectors.email.poll import (
    Cursor,
    Mailbox,
    fetched_message,
    imap_date,
    search_uids,
    status_number,
)

FIXTURES = Path(email_pkg.__file__).parent / "fixtures"
IMAP_ERROR = imaplib.IMAP4.error  # read before tests replace imaplib.IMAP4
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
MAILS = [
    "message__encoded_display_names.eml",
    "bounce__delivery_status_report.eml",
    "message__address_as_display_name.eml",
    "bulk__gtube_precedence_junk.eml",
]


class MemoryMailbox:
    """A mailbox as the poller sees it; ``arrived`` is each mail's internal date."""

    def __init__(self, validity: int = 1700) -> None:
        self.validity = validity
        self.mails: dict[int, tuple[bytes, date]] = {}
        self.next_uid = 1
        self.closed = 0
        self.searches: list[tuple[str, object]] = []

    def add(self, name: str, arrived: date | None = None) -> int:
        uid = self.next_uid
        arrived = arrived or NOW.date()
        self.mails[uid] = ((FIXTURES / name).read_bytes(), arrived)
        self.next_uid += 1
        return uid

    def uidvalidity(self) -> int:
        return self.validity

    def uidnext(self) -> int:
        return self.next_uid

    def uids_after(self, uid: int) -> list[int]:
        self.searches.append(("after", uid))
        return [u for u in self.mails if u > uid]

    def uids_since(self, day: date) -> list[int]:
        self.searches.append(("since", day))
        return [u for u, (_, arrived) in self.mails.items() if arrived >= day]

    def fetch(self, uid: int) -> bytes | None:
        found = self.mails.get(uid)
        return found[0] if found else None

    def close(self) -> None:
        self.closed += 1


def account(**settings: object) -> AccountContext:
    return AccountContext(
        brand_account_id=3,
        handle="help@shop.example",
        settings={"address": "help@shop.example", "imap_host": "imap.shop.example", **settings},
        credentials={"username": "help@shop.example", "password": "app-password"},
    )


def connector(mailbox: Mailbox) -> EmailConnector:
    def factory(config: EmailAccount) -> Mailbox:
        return mailbox

    return EmailConnector(mailbox=factory, now=lambda: NOW)


def test_first_poll_reads_recent_mail_and_files_each_by_kind() -> None:
    box = MemoryMailbox()
    old = box.add("message__chinese_plain_text.eml", arrived=NOW.date() - timedelta(days=30))
    uids = [box.add(name) for name in MAILS]
    result = connector(box).poll(account(), None)

    assert box.searches == [("since", NOW.date() - timedelta(days=7))]
    assert [e.kind for e in result.events] == ["message", "bounce", "message", "bulk"]
    assert result.events[0].native_id.endswith("@no-message-id.socialdesk.invalid")
    assert result.events[2].native_id == "test-email-as-name@example.com"
    first = result.events[0]
    assert first.payload["uid"] == uids[0]
    assert first.payload["uidvalidity"] == 1700
    assert first.payload["mailbox"] == "INBOX"
    assert first.payload["_socialdesk"] == {"brand_address": "help@shop.example"}
    assert raw_bytes(first.payload) == (FIXTURES / MAILS[0]).read_bytes()
    assert first.received_at == NOW
    assert old not in [e.payload["uid"] for e in result.events]
    assert result.cursor == f"1700:{uids[-1]}"
    assert box.closed == 1


def test_polled_mail_parses() -> None:
    box = MemoryMailbox()
    box.add("message__address_as_display_name.eml")
    conn = connector(box)
    [event] = conn.poll(account(), None).events
    [message] = conn.parse(event)
    assert message.raw["uid"] == 1
    assert message.author.handle == "alice@example.com"


def test_mail_from_the_brand_address_is_marked() -> None:
    box = MemoryMailbox()
    box.add("message__address_as_display_name.eml")  # From: alice@example.com
    conn = connector(box)
    [event] = conn.poll(account(address="Alice@Example.com"), None).events
    [message] = conn.parse(event)
    assert message.from_brand is True
    [event] = conn.poll(account(), None).events
    assert conn.parse(event)[0].from_brand is False


def test_next_poll_reads_after_the_cursor() -> None:
    box = MemoryMailbox()
    for name in MAILS:
        box.add(name)
    result = connector(box).poll(account(), "1700:2")
    assert box.searches == [("after", 2)]
    assert [e.payload["uid"] for e in result.events] == [3, 4]
    assert result.cursor == "1700:4"


def test_empty_first_poll_starts_at_the_next_uid() -> None:
    box = MemoryMailbox()
    box.add("message__chinese_plain_text.eml", arrived=NOW.date() - timedelta(days=60))
    box.add("message__zip_attachment.eml", arrived=NOW.date() - timedelta(days=60))
    result = connector(box).poll(account(), None)
    assert result.events == []
    assert result.cursor == "1700:2", "old mail is not read later through uids_after"


def test_batches_are_bounded_and_resume() -> None:
    box = MemoryMailbox()
    for _ in range(5):
        box.add("message__address_as_display_name.eml")
    conn = connector(box)
    first = conn.poll(account(batch_size=2), "1700:0")
    assert [e.payload["uid"] for e in first.events] == [1, 2]
    second = conn.poll(account(batch_size=2), first.cursor)
    assert [e.payload["uid"] for e in second.events] == [3, 4]
    assert second.cursor == "1700:4"


def test_changed_uidvalidity_reads_again_from_a_date() -> None:
    box = MemoryMailbox(validity=1800)
    box.add("message__address_as_display_name.eml")
    result = connector(box).poll(account(initial_sync_days=3), "1700:99")
    assert box.searches == [("since", NOW.date() - timedelta(days=3))]
    assert len(result.events) == 1
    assert result.cursor == "1800:1"


def test_expunged_mail_is_skipped_but_passed() -> None:
    box = MemoryMailbox()
    box.add("message__address_as_display_name.eml")
    box.add("message__encoded_display_names.eml")

    class Vanishing(MemoryMailbox):
        def fetch(self, uid: int) -> bytes | None:
            return None if uid == 1 else box.fetch(uid)

    vanishing = Vanishing()
    vanishing.mails, vanishing.next_uid = box.mails, box.next_uid
    result = connector(vanishing).poll(account(), "1700:0")
    assert [e.payload["uid"] for e in result.events] == [2]
    assert result.cursor == "1700:2"


def test_broken_connection_is_retryable_and_closes_the_mailbox() -> None:
    class Dropping(MemoryMailbox):
        def uids_after(self, uid: int) -> list[int]:
            raise imaplib.IMAP4.abort("socket error: EOF")

    box = Dropping()
    with pytest.raises(SendError, match="will try again") as caught:
        connector(box).poll(account(), "1700:0")
    assert caught.value.retryable is True
    assert box.closed == 1


def test_missing_imap_host_is_an_auth_error() -> None:
    ctx = AccountContext(3, "help@shop.example", {"address": "help@shop.example"}, {})
    with pytest.raises(AuthError, match="no imap_host"):
        EmailConnector(now=lambda: NOW).poll(ctx, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, None), ("", None), ("1700:42", Cursor(1700, 42)), ("junk", None), ("1:2:3", None)],
)
def test_cursor_reading(raw: str | None, expected: Cursor | None) -> None:
    assert Cursor.read(raw) == expected


def test_imap_answers_are_read() -> None:
    assert search_uids([b"4 7 19"]) == [4, 7, 19]
    assert search_uids([b""]) == []
    fetched = [(b"1 (UID 7 BODY[] {11}", b"Subject: x\r\n"), b")"]
    assert fetched_message(fetched) == b"Subject: x\r\n"
    assert fetched_message([None]) is None
    status = [b'"INBOX" (UIDVALIDITY 1700000000 UIDNEXT 12)']
    assert status_number(status, "UIDVALIDITY") == 1700000000
    assert status_number(status, "UIDNEXT") == 12
    assert status_number(status, "MESSAGES") is None


def test_imap_dates_are_english_whatever_the_locale() -> None:
    previous = locale.setlocale(locale.LC_TIME)
    try:
        for name in ("de_DE.UTF-8", "fr_FR.UTF-8"):
            try:
                locale.setlocale(locale.LC_TIME, name)
                break
            except locale.Error:
                continue
        assert imap_date(date(2026, 3, 2)) == "02-Mar-2026"
        assert imap_date(date(2025, 12, 25)) == "25-Dec-2025"
    finally:
        locale.setlocale(locale.LC_TIME, previous)


class FakeIMAP:
    """Stands in for imaplib.IMAP4 / IMAP4_SSL and answers like a server would."""

    calls: list[tuple[object, ...]] = []
    login_fails = False

    def __init__(self, host: str, port: int, **kwargs: object) -> None:
        FakeIMAP.calls.append(("connect", host, port, "timeout" in kwargs))

    def starttls(self, ssl_context: object = None) -> None:
        FakeIMAP.calls.append(("starttls",))

    def login(self, user: str, password: str) -> tuple[str, list[bytes]]:
        FakeIMAP.calls.append(("login", user))
        if FakeIMAP.login_fails:
            raise IMAP_ERROR("[AUTHENTICATIONFAILED] Authentication failed.")
        return "OK", [b"Logged in"]

    def select(self, mailbox: str, readonly: bool = False) -> tuple[str, list[bytes]]:
        FakeIMAP.calls.append(("select", mailbox, readonly))
        return "OK", [b"3"]

    def status(self, mailbox: str, names: str) -> tuple[str, list[bytes]]:
        FakeIMAP.calls.append(("status", mailbox, names))
        return "OK", [
            b'"INBOX" '
            + names.replace("UIDVALIDITY", "UIDVALIDITY 1700")
            .replace("UIDNEXT", "UIDNEXT 10")
            .encode()
        ]

    def uid(self, command: str, *args: str) -> tuple[str, list[object]]:
        FakeIMAP.calls.append(("uid", command, *args))
        if command == "SEARCH":
            return "OK", [b"9"]  # "10:*" still names the highest UID, 9
        return "OK", [(b"1 (UID 9 BODY[] {12}", b"Subject: x\r\n"), b")"]

    def close(self) -> None:
        FakeIMAP.calls.append(("close",))

    def logout(self) -> None:
        FakeIMAP.calls.append(("logout",))

    def shutdown(self) -> None:
        FakeIMAP.calls.append(("shutdown",))


def test_imaplib_conversation(monkeypatch: pytest.MonkeyPatch) -> None:
    from socialdesk.connectors.email.config import ServerConfig
    from socialdesk.connectors.email.poll import ImaplibMailbox

    FakeIMAP.calls, FakeIMAP.login_fails = [], False
    monkeypatch.setattr(imaplib, "IMAP4_SSL", FakeIMAP)
    server = ServerConfig("imap.shop.example", 993, "ssl", "help", "pw")
    box = ImaplibMailbox(server, mailbox="Support Inbox", timeout=9)
    assert box.uidvalidity() == 1700
    assert box.uidnext() == 10
    assert box.uids_after(9) == [], "the highest UID is not fetched again"
    assert box.uids_since(date(2026, 3, 2)) == [9]
    assert box.fetch(9) == b"Subject: x\r\n"
    box.close()
    assert FakeIMAP.calls == [
        ("connect", "imap.shop.example", 993, True),
        ("login", "help"),
        ("select", '"Support Inbox"', True),
        ("status", '"Support Inbox"', "(UIDVALIDITY)"),
        ("status", '"Support Inbox"', "(UIDNEXT)"),
        ("uid", "SEARCH", "UID 10:*"),
        ("uid", "SEARCH", "SINCE", "02-Mar-2026"),
        ("uid", "FETCH", "9", "(BODY.PEEK[])"),
        ("close",),
        ("logout",),
    ]


def test_imap_login_refused_is_an_auth_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from socialdesk.connectors.email.config import ServerConfig
    from socialdesk.connectors.email.poll import ImaplibMailbox

    FakeIMAP.calls, FakeIMAP.login_fails = [], True
    monkeypatch.setattr(imaplib, "IMAP4", FakeIMAP)
    server = ServerConfig("imap.shop.example", 143, "starttls", "help", "pw")
    with pytest.raises(AuthError, match="AUTHENTICATIONFAILED"):
        ImaplibMailbox(server, mailbox="INBOX", timeout=9)
    assert [c[0] for c in FakeIMAP.calls] == ["connect", "starttls", "login", "shutdown"]
