"""IMAP IDLE (RFC 2177): being told of new mail as it arrives instead of a minute later.

IDLE does not replace the poller; it wakes it. :func:`watch` keeps one connection per mailbox
in IDLE and calls ``on_new_mail`` when the server announces a change (``EXISTS``, ``RECENT``,
``EXPUNGE``, ``FETCH``); the desk answers by polling the mailbox by UID at once, with the same
cursor rules, so nothing can be lost or doubled by IDLE itself. A server without IDLE (no
``IDLE`` capability) is left to the regular polling.

Python's ``imaplib`` has no IDLE before 3.14, so the command is spoken here over the
connection imaplib opened and logged in: ``TAG IDLE``, the server's ``+`` continuation,
untagged responses as they come, ``DONE``, the tagged completion. Waiting uses ``select`` on
the socket (with the TLS layer's pending bytes checked first), never a socket timeout: a
timeout would leave imaplib's buffered reader unusable. IDLE is ended and started again every
:data:`IDLE_SECONDS`, inside the 29 minutes after which servers may drop an idle client.
"""

from __future__ import annotations

import contextlib
import imaplib
import itertools
import logging
import re
import select
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from socialdesk.connectors.base import AuthError, ConnectorError, SendError
from socialdesk.connectors.email.config import EmailAccount
from socialdesk.connectors.email.poll import IMAP_ERROR, ImaplibMailbox

log = logging.getLogger(__name__)

IDLE_SECONDS = 25 * 60.0
# The longest a stop request waits for an idling connection to notice it.
STOP_CHECK_SECONDS = 1.0
# What a server sends while idling that means the mailbox changed.
_CHANGE = re.compile(rb"^\* (?:\d+ (?:EXISTS|RECENT|EXPUNGE|FETCH)\b|VANISHED\b)", re.IGNORECASE)
_MAX_LINE = 64 * 1024
_tags = itertools.count(1)


class IdleUnsupported(ConnectorError):
    """The server does not offer IDLE: the mailbox is polled as before."""


@dataclass(frozen=True, slots=True)
class IdleOutcome:
    changed: bool  # the server announced a change
    lines: tuple[bytes, ...]  # the untagged lines received while idling (for the log)


class IdleConnection:
    """A logged-in connection with the mailbox selected (read-only), able to IDLE."""

    def __init__(self, account: EmailAccount) -> None:
        if account.imap is None:
            raise AuthError(f"email account {account.address} has no imap_host setting")
        self._mailbox = ImaplibMailbox(
            account.imap, mailbox=account.mailbox, timeout=account.timeout
        )
        self._imap: imaplib.IMAP4 = self._mailbox._imap
        self._timeout = account.timeout
        self.where = f"{account.imap.host}:{account.imap.port}"
        self._buffer = b""

    def supports_idle(self) -> bool:
        try:
            typ, _ = self._imap.capability()
        except (IMAP_ERROR, OSError):
            return False
        return typ == "OK" and "IDLE" in self._imap.capabilities

    def wait(self, seconds: float, *, stop: threading.Event | None = None) -> IdleOutcome:
        """IDLE for up to ``seconds``; returns at once when the server announces a change or
        ``stop`` is set. Raises SendError when the connection breaks (reconnect and poll)."""
        tag = f"SDIDLE{next(_tags)}".encode("ascii")
        self._send(tag + b" IDLE\r\n")
        seen: list[bytes] = []
        changed = False
        while True:  # the continuation; changes may already come before it
            line = self._readline(time.monotonic() + self._timeout)
            if line is None:
                raise SendError(f"IMAP server {self.where} did not answer IDLE", retryable=True)
            if line.startswith(b"+"):
                break
            if line.startswith(tag + b" "):
                raise IdleUnsupported(f"IMAP server {self.where} refused IDLE: {_text(line)}")
            changed = self._untagged(line, seen) or changed
        deadline = time.monotonic() + seconds
        while not changed and time.monotonic() < deadline:
            if stop is not None and stop.is_set():
                break
            step = min(STOP_CHECK_SECONDS, max(0.0, deadline - time.monotonic()))
            line = self._readline(time.monotonic() + step, wait_only=True)
            if line is not None:
                changed = self._untagged(line, seen) or changed
        self._send(b"DONE\r\n")
        while True:
            line = self._readline(time.monotonic() + self._timeout)
            if line is None:
                raise SendError(f"IMAP server {self.where} did not end IDLE", retryable=True)
            if line.startswith(tag + b" "):
                if not line[len(tag) + 1 :].upper().startswith(b"OK"):
                    raise SendError(
                        f"IMAP server {self.where} ended IDLE with {_text(line)}", retryable=True
                    )
                return IdleOutcome(changed=changed, lines=tuple(seen))
            changed = self._untagged(line, seen) or changed

    def close(self) -> None:
        self._mailbox.close()

    def _untagged(self, line: bytes, seen: list[bytes]) -> bool:
        seen.append(line)
        if line.upper().startswith(b"* BYE"):
            raise SendError(
                f"IMAP server {self.where} closed the connection: {_text(line)}", retryable=True
            )
        return bool(_CHANGE.match(line))

    def _send(self, data: bytes) -> None:
        try:
            self._imap.send(data)
        except OSError as exc:
            raise SendError(
                f"IMAP server {self.where} dropped the connection ({type(exc).__name__})",
                retryable=True,
            ) from exc

    def _readline(self, deadline: float, *, wait_only: bool = False) -> bytes | None:
        """One line from the server, or None when none is complete by ``deadline``. Reads
        the socket directly: imaplib's reader holds nothing unread between commands."""
        sock = self._imap.sock
        while b"\r\n" not in self._buffer:
            pending = sock.pending() if isinstance(sock, ssl.SSLSocket) else 0
            if not pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                try:
                    readable, _, _ = select.select([sock], [], [], remaining)
                except (OSError, ValueError) as exc:
                    raise SendError(
                        f"IMAP server {self.where}: the connection broke ({exc})", retryable=True
                    ) from exc
                if not readable:
                    return None
            try:
                chunk = sock.recv(4096)
            except ssl.SSLWantReadError:
                continue
            except OSError as exc:
                raise SendError(
                    f"IMAP server {self.where} dropped the connection ({type(exc).__name__})",
                    retryable=True,
                ) from exc
            if not chunk:
                raise SendError(f"IMAP server {self.where} closed the connection", retryable=True)
            self._buffer += chunk
            if len(self._buffer) > _MAX_LINE:
                raise SendError(f"IMAP server {self.where} sent an over-long line", retryable=True)
            if wait_only and b"\r\n" not in self._buffer and time.monotonic() >= deadline:
                return None
        line, _, self._buffer = self._buffer.partition(b"\r\n")
        return line


def _text(line: bytes) -> str:
    return line.decode("utf-8", "replace")[:300]


@dataclass
class WatchState:
    """What a watcher reports about itself (for logs and the caller's checks)."""

    connected: bool = False
    supported: bool | None = None  # None until the server said
    last_error: str | None = None
    changes: int = 0


def watch(
    account: EmailAccount,
    *,
    on_new_mail: Callable[[], None],
    stop: threading.Event,
    state: WatchState | None = None,
    idle_seconds: float = IDLE_SECONDS,
    connect: Callable[[EmailAccount], IdleConnection] = IdleConnection,
    max_backoff: float = 300.0,
) -> WatchState:
    """IDLE on the account's mailbox until ``stop`` is set, calling ``on_new_mail`` after each
    announced change, and once after every (re)connection, since mail may have arrived while
    no connection was idling. Failures reconnect with exponential backoff (up to
    ``max_backoff`` seconds), each logged with its reason. Returns when stopped, or at once
    when the server does not offer IDLE (``state.supported`` is then False)."""
    state = state or WatchState()
    failures = 0
    while not stop.is_set():
        connection: IdleConnection | None = None
        try:
            connection = connect(account)
            if not connection.supports_idle():
                state.supported = False
                log.info(
                    "%s: no IDLE on %s; the mailbox is polled", account.address, connection.where
                )
                return state
            state.supported = True
            state.connected = True
            failures = 0
            on_new_mail()  # catch up on what arrived while disconnected
            while not stop.is_set():
                outcome = connection.wait(idle_seconds, stop=stop)
                if outcome.changed:
                    state.changes += 1
                    on_new_mail()
        except IdleUnsupported as exc:
            state.supported = False
            state.last_error = exc.reason
            log.info("%s: %s; the mailbox is polled", account.address, exc.reason)
            return state
        except (ConnectorError, IMAP_ERROR, OSError) as exc:
            failures += 1
            reason = (
                exc.reason if isinstance(exc, ConnectorError) else f"{type(exc).__name__}: {exc}"
            )
            state.last_error = reason
            delay = min(max_backoff, 5.0 * 2 ** (failures - 1))
            log.warning(
                "%s: IMAP IDLE failed (%s); reconnecting in %.0fs", account.address, reason, delay
            )
            stop.wait(delay)
        finally:
            state.connected = False
            if connection is not None:
                with contextlib.suppress(IMAP_ERROR, OSError):
                    connection.close()
    return state
