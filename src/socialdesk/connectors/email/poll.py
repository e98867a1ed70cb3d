"""Polling an IMAP mailbox by UID.

The cursor is ``"<UIDVALIDITY>:<last UID handed to the desk>"``. UIDs only mean something
together with the mailbox's UIDVALIDITY (RFC 9051, section 2.3.1.1): when it changes, the
mailbox was rebuilt and every UID may now name another mail, so the poll starts over from a
date, and the desk's idempotent storage (keyed by Message-ID) drops mail it already has.

Mail is read with ``BODY.PEEK[]`` so polling never marks anything as read in the mailbox.
"""

from __future__ import annotations

import imaplib
import logging
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from socialdesk.connectors.base import AuthError, PollResult, RawEvent, SendError
from socialdesk.connectors.email.config import EmailAccount, ServerConfig
from socialdesk.connectors.email.parse import event_kind, event_native_id, event_payload

log = logging.getLogger(__name__)

# imaplib's errors (IMAP4.abort is a kind of IMAP4.error) hang off the IMAP4 class; kept here
# so handlers do not depend on that class.
IMAP_ERROR = imaplib.IMAP4.error
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class Mailbox(Protocol):
    """The few IMAP operations the poller needs, on one selected mailbox."""

    def uidvalidity(self) -> int: ...

    def uidnext(self) -> int: ...

    def uids_after(self, uid: int) -> list[int]: ...

    def uids_since(self, day: date) -> list[int]: ...

    def fetch(self, uid: int) -> bytes | None:
        """The raw message, or None when it was expunged since it was listed."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Cursor:
    uidvalidity: int
    uid: int

    @classmethod
    def read(cls, value: str | None) -> Cursor | None:
        if not value:
            return None
        found = re.fullmatch(r"(\d+):(\d+)", value.strip())
        if found is None:
            log.warning("ignoring an email cursor that is not UIDVALIDITY:UID: %r", value)
            return None
        return cls(int(found.group(1)), int(found.group(2)))

    def write(self) -> str:
        return f"{self.uidvalidity}:{self.uid}"


def poll_mailbox(
    mailbox: Mailbox,
    *,
    cursor: str | None,
    account: EmailAccount,
    today: date,
    received_at: datetime,
) -> PollResult:
    """New mail after the cursor, oldest first, at most ``account.batch_size`` per poll."""
    validity = mailbox.uidvalidity()
    place = Cursor.read(cursor)
    if place is not None and place.uidvalidity == validity:
        uids = mailbox.uids_after(place.uid)
        last = place.uid
    else:
        if place is not None:
            log.warning(
                "mailbox %s UIDVALIDITY changed (%s -> %s): reading again from %d days back",
                account.mailbox,
                place.uidvalidity,
                validity,
                account.initial_sync_days,
            )
        uids = mailbox.uids_since(today - timedelta(days=account.initial_sync_days))
        last = max(0, mailbox.uidnext() - 1) if not uids else 0
    batch = sorted(set(uids))[: account.batch_size]
    events: list[RawEvent] = []
    for uid in batch:
        raw = mailbox.fetch(uid)
        last = max(last, uid)
        if raw is None:
            continue
        events.append(
            RawEvent(
                native_id=event_native_id(raw),
                kind=event_kind(raw),
                payload=event_payload(
                    raw,
                    uid=uid,
                    uidvalidity=validity,
                    mailbox=account.mailbox,
                    _socialdesk={"brand_address": account.address},
                ),
                received_at=received_at,
            )
        )
    return PollResult(events=events, cursor=Cursor(validity, last).write())


# imaplib plumbing.


def search_uids(data: list[Any]) -> list[int]:
    """UIDs from a ``UID SEARCH`` answer: ``[b"4 7 9"]``."""
    out: list[int] = []
    for chunk in data:
        if isinstance(chunk, bytes):
            out += [int(n) for n in chunk.split() if n.isdigit()]
    return out


def fetched_message(data: list[Any]) -> bytes | None:
    """The literal from a ``UID FETCH ... (BODY.PEEK[])`` answer:
    ``[(b"1 (UID 7 BODY[] {123}", b"<the mail>"), b")"]``; None when the mail is gone."""
    for item in data:
        if isinstance(item, tuple) and len(item) >= 2 and isinstance(item[1], bytes):
            return item[1]
    return None


def status_number(data: list[Any], name: str) -> int | None:
    """A number from a ``STATUS`` answer: ``[b'INBOX (UIDVALIDITY 1700 UIDNEXT 12)']``."""
    for chunk in data:
        if isinstance(chunk, bytes):
            found = re.search(rb"\b" + name.encode() + rb" (\d+)", chunk)
            if found:
                return int(found.group(1))
    return None


def imap_date(day: date) -> str:
    """The IMAP date form (RFC 9051 ``date``), with English month names whatever the locale."""
    return f"{day.day:02d}-{_MONTHS[day.month - 1]}-{day.year}"


class ImaplibMailbox:
    """A mailbox on an IMAP server through ``imaplib``, selected read-only, with a timeout on
    every socket operation."""

    def __init__(self, server: ServerConfig, *, mailbox: str, timeout: float) -> None:
        self.server = server
        self.mailbox = mailbox
        where = f"{server.host}:{server.port}"
        try:
            self._imap = self._connect(timeout)
        except ssl.SSLError as exc:
            raise AuthError(f"TLS with IMAP server {where} failed ({exc})") from exc
        except OSError as exc:
            raise SendError(
                f"IMAP server {where} could not be reached ({type(exc).__name__}: {exc})",
                retryable=True,
            ) from exc
        try:
            self._imap.login(server.username, server.password)
        except IMAP_ERROR as exc:
            self._imap.shutdown()
            raise AuthError(f"IMAP server {where} refused the login: {_text(exc)}") from exc
        typ, data = self._imap.select(_quote(mailbox), readonly=True)
        if typ != "OK":
            self.close()
            raise AuthError(f"IMAP server {where} has no mailbox {mailbox!r}: {_text(data)}")
        self._where = where

    def _connect(self, timeout: float) -> imaplib.IMAP4:
        context = ssl.create_default_context()
        if self.server.security == "ssl":
            return imaplib.IMAP4_SSL(
                self.server.host, self.server.port, ssl_context=context, timeout=timeout
            )
        imap = imaplib.IMAP4(self.server.host, self.server.port, timeout=timeout)
        if self.server.security == "starttls":
            imap.starttls(ssl_context=context)
        return imap

    def _status(self, name: str) -> int:
        typ, data = self._imap.status(_quote(self.mailbox), f"({name})")
        number = status_number(data, name) if typ == "OK" else None
        if number is None:
            raise SendError(f"IMAP server {self._where} did not report {name}", retryable=True)
        return number

    def uidvalidity(self) -> int:
        return self._status("UIDVALIDITY")

    def uidnext(self) -> int:
        return self._status("UIDNEXT")

    def uids_after(self, uid: int) -> list[int]:
        # "n:*" always includes the highest UID even when it is below n (RFC 9051 6.4.4):
        # filter, or the last mail would be fetched again on every poll.
        typ, data = self._imap.uid("SEARCH", f"UID {uid + 1}:*")
        return [u for u in search_uids(data) if u > uid] if typ == "OK" else []

    def uids_since(self, day: date) -> list[int]:
        typ, data = self._imap.uid("SEARCH", "SINCE", imap_date(day))
        return search_uids(data) if typ == "OK" else []

    def fetch(self, uid: int) -> bytes | None:
        typ, data = self._imap.uid("FETCH", str(uid), "(BODY.PEEK[])")
        return fetched_message(data) if typ == "OK" else None

    def close(self) -> None:
        try:
            self._imap.close()
            self._imap.logout()
        except (IMAP_ERROR, OSError):
            self._imap.shutdown()


def _quote(mailbox: str) -> str:
    # Mailbox names with spaces must be quoted strings on the wire.
    escaped = mailbox.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _text(value: object) -> str:
    if isinstance(value, BaseException) and value.args:
        value = value.args[0]
    if isinstance(value, list):
        value = b" ".join(v for v in value if isinstance(v, bytes))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


MailboxFactory = Callable[[EmailAccount], Mailbox]


def open_imap(account: EmailAccount) -> Mailbox:
    if account.imap is None:
        raise AuthError(f"email account {account.address} has no imap_host setting")
    return ImaplibMailbox(account.imap, mailbox=account.mailbox, timeout=account.timeout)
