"""IMAP IDLE: against the real Dovecot of the integration tests (new mail announced within
seconds, quiet timeouts, prompt stops, the connection still usable by imaplib afterwards), and
against a scripted server for what Dovecot does not do (no IDLE, a refused IDLE, BYE)."""

from __future__ import annotations

import contextlib
import email.utils
import smtplib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage

import pytest

from socialdesk.connectors.base import AccountContext
from socialdesk.connectors.email import idle
from socialdesk.connectors.email.config import EmailAccount
from tests.integration.email.servers import (
    MailServers,
    MailUser,
    Unavailable,
    running_mail_servers,
)

HOST = "127.0.0.1"


def config_for(host: str, port: int, user: str, password: str) -> EmailAccount:
    return EmailAccount.from_context(
        AccountContext(
            brand_account_id=1,
            handle=user,
            settings={
                "address": user if "@" in user else f"{user}@desk.test",
                "imap_host": host,
                "imap_port": port,
                "imap_security": "none",
                "timeout_seconds": 5,
            },
            credentials={"username": user, "password": password},
        )
    )


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# -- against Dovecot ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def mail_servers() -> Iterator[MailServers]:
    stack = contextlib.ExitStack()
    try:
        servers = stack.enter_context(running_mail_servers())
    except Unavailable as exc:
        pytest.skip(str(exc))
    with stack:
        yield servers


def send_mail(servers: MailServers, to: MailUser, subject: str = "Where is my parcel?") -> None:
    message = EmailMessage()
    message["From"] = "ana@example.test"
    message["To"] = to.address
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate()
    message["Message-ID"] = email.utils.make_msgid(domain="example.test")
    message.set_content("It has been two weeks.")
    with smtplib.SMTP(servers.host, servers.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)


@pytest.fixture
def mailbox(mail_servers: MailServers) -> tuple[MailUser, EmailAccount]:
    user = mail_servers.mailbox("support", "desk.test")
    return user, config_for(mail_servers.host, mail_servers.imap_port, user.address, user.password)


@pytest.mark.integration
def test_dovecot_announces_new_mail_while_idling(
    mail_servers: MailServers, mailbox: tuple[MailUser, EmailAccount]
) -> None:
    user, config = mailbox
    connection = idle.IdleConnection(config)
    try:
        assert connection.supports_idle()
        outcome: list[idle.IdleOutcome] = []
        waiter = threading.Thread(target=lambda: outcome.append(connection.wait(30.0)))
        started = time.monotonic()
        waiter.start()
        time.sleep(0.3)
        send_mail(mail_servers, user)
        waiter.join(15)
        elapsed = time.monotonic() - started
        assert outcome, "IDLE did not return"
        assert outcome[0].changed
        assert any(b"EXISTS" in line for line in outcome[0].lines)
        assert elapsed < 10, f"the announcement took {elapsed:.1f}s"
        # imaplib can go on using the connection: nothing was left unread.
        assert connection._mailbox.uidnext() == 2
        assert connection._mailbox.uids_after(0) == [1]
    finally:
        connection.close()


@pytest.mark.integration
def test_a_quiet_mailbox_idles_until_the_time_is_up(
    mailbox: tuple[MailUser, EmailAccount],
) -> None:
    _, config = mailbox
    connection = idle.IdleConnection(config)
    try:
        started = time.monotonic()
        outcome = connection.wait(1.5)
        assert not outcome.changed
        assert 1.4 <= time.monotonic() - started < 5
        # Again on the same connection: IDLE ended cleanly with DONE.
        assert not connection.wait(0.2).changed
        assert connection._mailbox.uidnext() == 1
    finally:
        connection.close()


@pytest.mark.integration
def test_stop_ends_idle_promptly(mailbox: tuple[MailUser, EmailAccount]) -> None:
    _, config = mailbox
    connection = idle.IdleConnection(config)
    stop = threading.Event()
    try:
        threading.Timer(0.5, stop.set).start()
        started = time.monotonic()
        assert not connection.wait(120.0, stop=stop).changed
        assert time.monotonic() - started < 0.5 + idle.STOP_CHECK_SECONDS + 2
    finally:
        connection.close()


@pytest.mark.integration
def test_watch_calls_back_on_connection_and_on_each_change(
    mail_servers: MailServers, mailbox: tuple[MailUser, EmailAccount]
) -> None:
    user, config = mailbox
    calls: list[float] = []
    stop = threading.Event()
    state = idle.WatchState()
    watcher = threading.Thread(
        target=idle.watch,
        args=(config,),
        kwargs={
            "on_new_mail": lambda: calls.append(time.monotonic()),
            "stop": stop,
            "state": state,
        },
    )
    watcher.start()
    try:
        assert wait_for(lambda: state.connected and len(calls) == 1)
        assert state.supported is True
        time.sleep(0.3)  # idling now
        send_mail(mail_servers, user)
        assert wait_for(lambda: len(calls) == 2), state
        send_mail(mail_servers, user, subject="And another thing")
        assert wait_for(lambda: len(calls) >= 3), state
        assert state.changes >= 2
    finally:
        stop.set()
        watcher.join(5)
    assert not watcher.is_alive()
    assert not state.connected


@pytest.mark.integration
def test_watch_reconnects_after_a_refused_login(mail_servers: MailServers) -> None:
    config = config_for(mail_servers.host, mail_servers.imap_port, "nobody@desk.test", "wrong")
    stop = threading.Event()
    state = idle.WatchState()
    watcher = threading.Thread(
        target=idle.watch,
        args=(config,),
        kwargs={"on_new_mail": lambda: None, "stop": stop, "state": state, "max_backoff": 0.2},
    )
    watcher.start()
    try:
        assert wait_for(lambda: state.last_error is not None)
        assert "refused the login" in (state.last_error or "")
        assert not state.connected
    finally:
        stop.set()
        watcher.join(5)
    assert not watcher.is_alive()


# -- against a scripted server ------------------------------------------------------------


class ScriptedImap:
    """Just enough IMAP on loopback for imaplib to log in and select, then ``idle`` decides
    what IDLE gets: "absent" (not in CAPABILITY), "refused" (BAD), "bye" (continuation, then
    BYE and the connection closed), "exists" (continuation, then a new mail)."""

    def __init__(self, idle_mode: str) -> None:
        self.idle_mode = idle_mode
        self.connections = 0
        self._listener = socket.socket()
        self._listener.bind((HOST, 0))
        self._listener.listen()
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        caps = "IMAP4rev1 AUTH=PLAIN" + ("" if self.idle_mode == "absent" else " IDLE")
        reader = conn.makefile("rb")

        def say(text: str) -> None:
            conn.sendall(text.encode() + b"\r\n")

        with conn, reader:
            say(f"* OK [CAPABILITY {caps}] scripted server ready")
            for raw in reader:
                tag, _, rest = raw.decode().strip().partition(" ")
                command = rest.split(" ")[0].upper()
                if command == "CAPABILITY":
                    say(f"* CAPABILITY {caps}")
                    say(f"{tag} OK done")
                elif command == "LOGIN":
                    say(f"{tag} OK logged in")
                elif command in {"SELECT", "EXAMINE"}:
                    say("* 0 EXISTS")
                    say("* OK [UIDVALIDITY 7] ok")
                    say(f"{tag} OK [READ-ONLY] selected")
                elif command == "IDLE":
                    if self.idle_mode == "refused":
                        say(f"{tag} BAD unknown command")
                        continue
                    say("+ idling")
                    if self.idle_mode == "bye":
                        say("* BYE server shutting down")
                        return
                    say("* 1 EXISTS")
                    reader.readline()  # DONE
                    say(f"{tag} OK IDLE terminated")
                elif command == "LOGOUT":
                    say("* BYE logging out")
                    say(f"{tag} OK bye")
                    return
                else:
                    say(f"{tag} OK")


@pytest.mark.parametrize("mode", ["absent", "refused"])
def test_a_server_without_idle_is_left_to_polling(mode: str) -> None:
    server = ScriptedImap(mode)
    calls: list[int] = []
    try:
        state = idle.watch(
            config_for(HOST, server.port, "support", "pw"),
            on_new_mail=lambda: calls.append(1),
            stop=threading.Event(),
        )
    finally:
        server.close()
    assert state.supported is False
    assert server.connections == 1
    # Without IDLE, nothing is announced (a refused IDLE happens after the catch-up call).
    assert calls == ([] if mode == "absent" else [1])


def test_untagged_changes_are_recognised() -> None:
    server = ScriptedImap("exists")
    try:
        connection = idle.IdleConnection(config_for(HOST, server.port, "support", "pw"))
        outcome = connection.wait(5.0)
        connection.close()
    finally:
        server.close()
    assert outcome.changed
    assert outcome.lines == (b"* 1 EXISTS",)


def test_bye_while_idling_reconnects_and_catches_up() -> None:
    server = ScriptedImap("bye")
    calls: list[int] = []
    stop = threading.Event()
    state = idle.WatchState()
    watcher = threading.Thread(
        target=idle.watch,
        args=(config_for(HOST, server.port, "support", "pw"),),
        kwargs={
            "on_new_mail": lambda: calls.append(1),
            "stop": stop,
            "state": state,
            "max_backoff": 0.05,
        },
    )
    watcher.start()
    try:
        # Each reconnection polls once, since mail may have come in between.
        assert wait_for(lambda: server.connections >= 3 and len(calls) >= 3)
        assert "BYE" in (state.last_error or "")
    finally:
        stop.set()
        watcher.join(5)
        server.close()
    assert not watcher.is_alive()
