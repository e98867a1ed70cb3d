"""Real servers on loopback for the delivery tests: an HTTP endpoint standing in for a Slack
incoming webhook (``http.server`` in a thread) and an SMTP server (``aiosmtpd``)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class WebhookServer:
    """Answers each POST with the next status of ``script`` (200 once it runs out) and keeps
    what it was sent, as Slack's incoming webhooks would see it."""

    port: int = 0
    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/services/T000/B000/secret-token") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def next_status(self) -> int:
        with self.lock:
            return self.script.pop(0) if self.script else 200


@contextmanager
def webhook_server() -> Iterator[WebhookServer]:
    state = WebhookServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            with state.lock:
                state.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
            status = state.next_status()
            answer = b"ok" if status == 200 else b"internal_error"
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((HOST, 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="webhook-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class SmtpSink:
    """An SMTP server that keeps every mail it accepts; ``refuse`` makes it answer DATA with
    a temporary failure instead (a mail server that is unwell)."""

    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse: bool = False

    @property
    def url(self) -> str:
        return f"smtp://{HOST}:{self.port}"


@contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    from aiosmtpd.controller import Controller

    state = SmtpSink()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if state.refuse:
                return "451 4.3.0 Try again later"
            message = message_from_bytes(envelope.content, policy=policy.default)
            assert isinstance(message, EmailMessage)
            state.messages.append(message)
            state.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            return "250 OK"

    state.port = free_port()
    controller = Controller(Handler(), hostname=HOST, port=state.port)
    controller.start()
    try:
        yield state
    finally:
        controller.stop()
