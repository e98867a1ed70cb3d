"""The email connector's credential check when somebody waits for it: a server that accepts
the connection and then says nothing is given up on after the waiting person's timeout, not
the account's own (here ten minutes)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from socialdesk.connectors.base import AccountContext, Patience, SendError, waiting_person
from socialdesk.connectors.email.connector import EmailConnector


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never sends a byte (a greeting that never
    comes, as from a server that hangs)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


@pytest.mark.timeout(60)
def test_a_silent_server_is_given_up_on_within_the_waiting_persons_timeout(
    silent_server: int,
) -> None:
    account = AccountContext(
        brand_account_id=3,
        handle="help@shop.example",
        settings={
            "address": "help@shop.example",
            "imap_host": "127.0.0.1",
            "imap_port": silent_server,
            "imap_security": "none",
            "smtp_host": "127.0.0.1",
            "smtp_port": silent_server,
            "smtp_security": "none",
            "timeout_seconds": 600,  # a job would wait this long for the greeting
        },
        credentials={"username": "help@shop.example", "password": "app-password"},
    )
    with (
        waiting_person(Patience(max_attempts=1, max_wait=0.0, timeout=0.5)),
        pytest.raises(SendError) as caught,
    ):
        EmailConnector().verify_credentials(account)
    assert f"127.0.0.1:{silent_server}" in caught.value.reason
    assert caught.value.retryable
