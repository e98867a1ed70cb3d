"""Mastodon streaming, against a Mastodon instance served on 127.0.0.1 by this file: its REST
API on one port and its streaming server on another (named in the instance's
``configuration.urls.streaming`` as a ``ws://`` URL, as Mastodon does), speaking server-sent
events with chunked transfer encoding, ``:)`` on connect and ``:thump`` heartbeats, with the
recorded notification payloads as event data. The decoder is also checked on the recorded
stream and on every way of cutting it into chunks."""

from __future__ import annotations

import json
import queue
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import socialdesk.connectors.mastodon as mastodon_pkg
from socialdesk.connectors.base import AccountContext, SendError
from socialdesk.connectors.mastodon import stream
from socialdesk.connectors.mastodon.config import MastodonAccount

FIXTURES = Path(mastodon_pkg.__file__).parent / "fixtures"
TOKEN = "token-abc"
BRAND_ID = "117020565966271181"  # mastodonpy_test, whom the recorded mention mentions

# Fast enough for tests, same logic as production.
FAST = stream.StreamOptions(
    connect_timeout=2.0,
    request_timeout=2.0,
    read_timeout=5.0,
    base_delay=0.05,
    max_backoff=0.2,
    stable_after=5.0,
)


def recorded_body(name: str) -> Any:
    return json.loads((FIXTURES / "responses" / name).read_text())["body"]


def recorded_mention() -> dict[str, Any]:
    page: list[dict[str, Any]] = recorded_body("notifications_mentions.json")
    return page[0]


def recorded_notification(kind: str, notification_id: str) -> dict[str, Any]:
    """The recorded mention as another notification type (a favourite of the same post)."""
    return {**recorded_mention(), "id": notification_id, "type": kind}


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


# -- a Mastodon instance on 127.0.0.1 -----------------------------------------------------

_DROP = object()  # cut the connection without ending the chunked body
_END = object()  # end the response properly (the server closed the stream)


@dataclass
class Seen:
    server: str  # "rest" or "streaming"
    path: str
    query: dict[str, list[str]]
    authorization: str | None
    accept: str | None


@dataclass
class FakeMastodon:
    """What the desk talks to. Tests change the attributes to script the instance."""

    token: str = TOKEN
    notifications: list[dict[str, Any]] = field(default_factory=list)
    names_streaming: bool = True  # configuration.urls.streaming is set
    health_status: int = 200
    stream_status: int = 200  # what the stream endpoint answers (with a valid token)
    stream_content_type: str = "text/event-stream; charset=utf-8"
    heartbeat_seconds: float | None = None
    retry_after: str | None = None
    seen: list[Seen] = field(default_factory=list)
    streams_opened: int = 0
    _open: list[queue.Queue[object]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        self.rest = _serve(self, "rest")
        self.streaming = _serve(self, "streaming")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rest.server_address[1]}"

    @property
    def streaming_url(self) -> str:
        return f"http://127.0.0.1:{self.streaming.server_address[1]}"

    def open_streams(self) -> int:
        with self.cond:
            return len(self._open)

    def _send_all(self, item: object) -> None:
        with self.cond:
            for q in self._open:
                q.put(item)

    def push(self, event: str, data: object) -> None:
        text = data if isinstance(data, str) else json.dumps(data)
        self._send_all(f"event: {event}\ndata: {text}\n\n".encode())

    def drop(self) -> None:
        self._send_all(_DROP)

    def end(self) -> None:
        self._send_all(_END)

    def requests_to(self, path: str) -> list[Seen]:
        with self.cond:
            return [s for s in self.seen if s.path == path]

    def close(self) -> None:
        self._send_all(_END)
        for server in (self.rest, self.streaming):
            server.shutdown()
            server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeMastodon
    role: str


def _serve(fake: FakeMastodon, role: str) -> _Server:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = fake
    server.role = role
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        with fake.cond:
            fake.seen.append(
                Seen(
                    self.server.role,
                    parts.path,
                    parse_qs(parts.query),
                    self.headers.get("Authorization"),
                    self.headers.get("Accept"),
                )
            )
            fake.cond.notify_all()
        if self.server.role == "rest":
            self._rest(fake, parts.path, parse_qs(parts.query))
        else:
            self._streaming(fake, parts.path, parse_qs(parts.query))

    def _json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self, fake: FakeMastodon) -> bool:
        if self.headers.get("Authorization") == f"Bearer {fake.token}":
            return True
        self._json(401, {"error": "The access token is invalid"})
        return False

    def _rest(self, fake: FakeMastodon, path: str, query: dict[str, list[str]]) -> None:
        if path == "/api/v2/instance":
            instance = recorded_body("instance_v2.json")
            streaming = fake.streaming_url.replace("http://", "ws://")
            instance["configuration"]["urls"]["streaming"] = (
                streaming if fake.names_streaming else None
            )
            self._json(200, instance)
        elif path == "/api/v1/accounts/verify_credentials":
            if self._authorized(fake):
                self._json(200, {"id": BRAND_ID, "username": "mastodonpy_test"})
        elif path == "/api/v1/notifications":
            if not self._authorized(fake):
                return
            after = int(query.get("min_id", ["0"])[0])
            types = set(query.get("types[]", []))
            with fake.cond:
                found = [
                    n
                    for n in fake.notifications
                    if int(n["id"]) > after and (not types or n["type"] in types)
                ]
            found.sort(key=lambda n: int(n["id"]), reverse=True)
            self._json(200, found[: int(query.get("limit", ["40"])[0])])
        else:
            # Mastodon's web app: /api/v1/streaming* is not here (the instance names no other
            # host, so this one would be it), nor anything else these tests do not script.
            self._json(404, {"error": "Record not found"})

    def _streaming(self, fake: FakeMastodon, path: str, query: dict[str, list[str]]) -> None:
        if path == "/api/v1/streaming/health":
            body = b"OK" if fake.health_status == 200 else b"Not Found"
            self.send_response(fake.health_status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        named = path == "/api/v1/streaming" and query.get("stream") == ["user:notification"]
        if path != "/api/v1/streaming/user/notification" and not named:
            self._json(404, {"error": "Unknown stream type"})
            return
        if not self._authorized(fake):
            return
        if fake.stream_status != 200:
            headers = {"Retry-After": fake.retry_after} if fake.retry_after else None
            self._json(fake.stream_status, {"error": f"status {fake.stream_status}"}, headers)
            return
        self._event_stream(fake)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _client_gone(self) -> bool:
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            peeked: bytes = self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return True
        return peeked == b""

    def _event_stream(self, fake: FakeMastodon) -> None:
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", fake.stream_content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "private, no-store")
        self.end_headers()
        events: queue.Queue[object] = queue.Queue()
        with fake.cond:
            fake._open.append(events)
            fake.streams_opened += 1
            fake.cond.notify_all()
        try:
            self._chunk(b":)\n")
            while True:
                beat = fake.heartbeat_seconds
                try:
                    item = events.get(timeout=beat or 0.02)
                except queue.Empty:
                    if beat:
                        self._chunk(b":thump\n")
                    if self._client_gone():
                        return
                    continue
                if item is _DROP:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if item is _END:
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    return
                assert isinstance(item, bytes)
                self._chunk(item)
        except OSError:
            return
        finally:
            with fake.cond:
                fake._open.remove(events)
                fake.cond.notify_all()


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    fake = FakeMastodon()
    yield fake
    fake.close()


def account_for(fake: FakeMastodon, token: str = TOKEN) -> MastodonAccount:
    return MastodonAccount.from_context(
        AccountContext(
            brand_account_id=1,
            handle="mastodonpy_test",
            settings={"instance_url": fake.url},
            credentials={"access_token": token},
        )
    )


@dataclass
class Running:
    state: stream.StreamState
    stop: stream.StopSignal
    thread: threading.Thread
    wakes: list[str]

    def ended(self) -> bool:
        return not self.thread.is_alive()

    def halt(self, seconds: float = 5.0) -> float:
        started = time.monotonic()
        self.stop.set()
        self.thread.join(seconds)
        assert not self.thread.is_alive(), "the watcher did not stop"
        return time.monotonic() - started


@pytest.fixture
def run_watch() -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(account: MastodonAccount, options: stream.StreamOptions = FAST) -> Running:
        wakes: list[str] = []
        state = stream.StreamState()
        stop = stream.StopSignal()
        thread = threading.Thread(
            target=stream.watch,
            kwargs={
                "account": account,
                "on_wake": wakes.append,
                "stop": stop,
                "state": state,
                "options": options,
            },
            daemon=True,
        )
        thread.start()
        running = Running(state, stop, thread, wakes)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop.set()
        running.thread.join(5)


# -- the watcher against the instance ----------------------------------------------------


def test_finds_the_streaming_server_and_wakes_the_poller_on_mentions(
    mastodon: FakeMastodon, run_watch: Callable[..., Running]
) -> None:
    watcher = run_watch(account_for(mastodon))
    assert wait_for(lambda: watcher.state.connected), watcher.state
    # The instance named its streaming host (as ws://): health there, then the stream there,
    # with the token in the header only on the stream.
    [instance] = mastodon.requests_to("/api/v2/instance")
    assert instance.server == "rest"
    [health] = mastodon.requests_to("/api/v1/streaming/health")
    assert health.server == "streaming"
    assert health.authorization is None
    [opened] = mastodon.requests_to("/api/v1/streaming/user/notification")
    assert opened.server == "streaming"
    assert opened.authorization == f"Bearer {TOKEN}"
    assert opened.accept == "text/event-stream"
    assert opened.query == {}  # never the token in the URL
    assert watcher.state.stream_url == mastodon.streaming_url + stream.STREAM_PATH
    # Connecting wakes the poller once: mentions may have come while nobody listened.
    assert watcher.wakes == ["connected"]

    mastodon.push("notification", recorded_mention())
    assert wait_for(lambda: watcher.wakes == ["connected", "notification"]), watcher.wakes
    # What the poller does not fetch wakes nothing.
    mastodon.push("notification", recorded_notification("favourite", "22"))
    mastodon.push("delete", "117020577157693549")
    mastodon.push("filters_changed", "undefined")
    assert wait_for(lambda: watcher.state.ignored == 3), watcher.state
    mastodon.push("notification", recorded_notification("mention", "23"))
    assert wait_for(lambda: watcher.state.notifications == 2), watcher.state
    assert watcher.wakes == ["connected", "notification", "notification"]
    assert watcher.state.connections == 1
    assert watcher.state.heartbeats == 1  # the ":)" the server greets with


def test_heartbeats_keep_a_quiet_stream_open_and_silence_reconnects(
    mastodon: FakeMastodon, run_watch: Callable[..., Running]
) -> None:
    mastodon.heartbeat_seconds = 0.05
    options = stream.StreamOptions(
        connect_timeout=2.0,
        request_timeout=2.0,
        read_timeout=0.4,
        base_delay=0.05,
        max_backoff=0.2,
    )
    watcher = run_watch(account_for(mastodon), options)
    assert wait_for(lambda: watcher.state.connected)
    # Twenty heartbeats: about 1 s of no events, well past the 0.4 s read timeout.
    assert wait_for(lambda: watcher.state.heartbeats >= 20), watcher.state
    assert watcher.state.connections == 1
    assert watcher.state.reconnects == 0

    mastodon.heartbeat_seconds = None  # the server hangs without closing
    assert wait_for(lambda: watcher.state.connections == 2), watcher.state
    assert watcher.state.last_error is not None
    assert "no data or heartbeat" in watcher.state.last_error
    assert watcher.wakes == ["connected", "connected"]


def test_reconnects_after_the_server_drops_or_ends_the_stream(
    mastodon: FakeMastodon, run_watch: Callable[..., Running]
) -> None:
    watcher = run_watch(account_for(mastodon))
    assert wait_for(lambda: watcher.state.connected)

    mastodon.drop()  # the connection is cut mid-body
    assert wait_for(lambda: watcher.state.connections == 2 and watcher.state.connected)
    assert "dropped the connection" in (watcher.state.last_error or "")
    mastodon.end()  # the server ends the response (a restart of the streaming server)
    assert wait_for(lambda: watcher.state.connections == 3 and watcher.state.connected)
    assert "the stream ended" in (watcher.state.last_error or "")
    # A reconnection wakes the poller (to fetch what came meanwhile), and the new
    # connection carries mentions as the first did.
    mastodon.push("notification", recorded_mention())
    assert wait_for(lambda: "notification" in watcher.wakes)
    assert watcher.wakes == ["connected"] * 3 + ["notification"]
    assert mastodon.open_streams() == 1


def test_server_errors_back_off_and_reconnect(
    mastodon: FakeMastodon, run_watch: Callable[..., Running]
) -> None:
    mastodon.stream_status = 503
    watcher = run_watch(account_for(mastodon))
    assert wait_for(lambda: watcher.state.reconnects >= 3), watcher.state
    assert "answered 503" in (watcher.state.last_error or "")
    assert not watcher.state.connected
    # Every third failure looks the streaming server up again.
    assert wait_for(lambda: len(mastodon.requests_to("/api/v2/instance")) >= 2)
    mastodon.stream_status = 200
    assert wait_for(lambda: watcher.state.connected), watcher.state
    assert watcher.state.supported is True


def test_retry_after_is_honoured(mastodon: FakeMastodon, run_watch: Callable[..., Running]) -> None:
    mastodon.stream_status = 429
    mastodon.retry_after = "1"
    watcher = run_watch(account_for(mastodon))
    assert wait_for(lambda: watcher.state.reconnects == 1)
    started = time.monotonic()
    assert wait_for(
        lambda: len(mastodon.requests_to("/api/v1/streaming/user/notification")) == 2, 5
    )
    # Not the 0.05-0.2 s backoff: the second second the instance asked for.
    assert time.monotonic() - started > 0.7


@pytest.mark.parametrize(
    ("status", "words"), [(401, "access token was rejected"), (403, "read:notifications")]
)
def test_a_refused_token_ends_the_watch(
    mastodon: FakeMastodon, run_watch: Callable[..., Running], status: int, words: str
) -> None:
    if status == 401:
        account = account_for(mastodon, token="revoked")
    else:
        mastodon.stream_status = 403
        account = account_for(mastodon)
    watcher = run_watch(account)
    assert wait_for(watcher.ended)
    assert watcher.state.refused is not None
    assert words in watcher.state.refused
    assert "connect the account again" in watcher.state.refused
    assert watcher.wakes == []
    assert len(mastodon.requests_to("/api/v1/streaming/user/notification")) == 1


def test_an_instance_without_streaming_is_left_to_polling(
    mastodon: FakeMastodon, run_watch: Callable[..., Running]
) -> None:
    mastodon.names_streaming = False  # so its own host is tried, which has no streaming
    watcher = run_watch(account_for(mastodon))
    assert wait_for(watcher.ended)
    assert watcher.state.supported is False
    assert watcher.state.refused is None
    assert "has no streaming API" in (watcher.state.last_error or "")
    [health] = mastodon.requests_to("/api/v1/streaming/health")
    assert health.server == "rest"
    assert mastodon.requests_to("/api/v1/streaming/user/notification") == []


def test_a_streaming_server_without_the_stream_is_left_to_polling(
    mastodon: FakeMastodon, run_watch: Callable[..., Running]
) -> None:
    mastodon.stream_status = 404
    watcher = run_watch(account_for(mastodon))
    assert wait_for(watcher.ended)
    assert watcher.state.supported is False
    # Both names of the stream were tried before giving up.
    assert len(mastodon.requests_to("/api/v1/streaming/user/notification")) == 1
    [named] = mastodon.requests_to("/api/v1/streaming")
    assert named.query == {"stream": ["user:notification"]}


def test_an_answer_that_is_not_an_event_stream_is_left_to_polling(
    mastodon: FakeMastodon, run_watch: Callable[..., Running]
) -> None:
    mastodon.stream_content_type = "text/html"
    watcher = run_watch(account_for(mastodon))
    assert wait_for(watcher.ended)
    assert watcher.state.supported is False
    assert "not server-sent events" in (watcher.state.last_error or "")


def test_stop_interrupts_a_quiet_stream_at_once(
    mastodon: FakeMastodon, run_watch: Callable[..., Running]
) -> None:
    slow = stream.StreamOptions(read_timeout=60.0, base_delay=30.0, max_backoff=60.0)
    watcher = run_watch(account_for(mastodon), slow)
    assert wait_for(lambda: watcher.state.connected)
    assert watcher.halt() < 1.0
    assert not watcher.state.connected
    assert watcher.state.reconnects == 0
    assert wait_for(lambda: mastodon.open_streams() == 0)


def test_stop_interrupts_the_backoff_wait(
    mastodon: FakeMastodon, run_watch: Callable[..., Running]
) -> None:
    mastodon.stream_status = 502
    slow = stream.StreamOptions(base_delay=30.0, max_backoff=60.0)
    watcher = run_watch(account_for(mastodon), slow)
    assert wait_for(lambda: watcher.state.reconnects == 1)
    assert watcher.halt() < 1.0


def test_an_unreachable_instance_is_retried(run_watch: Callable[..., Running]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    account = MastodonAccount.from_context(
        AccountContext(
            brand_account_id=1,
            handle="brand",
            settings={"instance_url": f"http://127.0.0.1:{port}"},
            credentials={"access_token": TOKEN},
        )
    )
    watcher = run_watch(account)
    assert wait_for(lambda: watcher.state.reconnects >= 2)
    assert watcher.thread.is_alive()
    assert "ConnectError" in (watcher.state.last_error or "")


# -- backoff and the wake throttle --------------------------------------------------------


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    options = stream.StreamOptions(base_delay=2.0, max_backoff=300.0)
    assert stream.backoff_delay(1, options, rng=lambda: 0.0) == 1.0
    assert stream.backoff_delay(1, options, rng=lambda: 1.0) == 2.0
    assert stream.backoff_delay(4, options, rng=lambda: 0.0) == 8.0
    assert stream.backoff_delay(4, options, rng=lambda: 1.0) == 16.0
    assert stream.backoff_delay(50, options, rng=lambda: 1.0) == 300.0
    assert stream.backoff_delay(50, options, rng=lambda: 0.0) == 150.0


def test_a_burst_of_wakes_is_folded_into_one_more() -> None:
    calls: list[float] = []
    throttle = stream.WakeThrottle(lambda: calls.append(time.monotonic()), min_interval=0.2)
    for _ in range(50):
        throttle("notification")
    assert len(calls) == 1  # the first at once
    assert wait_for(lambda: len(calls) == 2, 2)
    assert calls[1] - calls[0] >= 0.19
    throttle.close()
    throttle("notification")
    assert len(calls) == 2


def test_a_failing_wake_does_not_end_the_throttle() -> None:
    calls = 0

    def wake() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("the queue is down")

    throttle = stream.WakeThrottle(wake, min_interval=0.0)
    throttle()
    throttle()
    assert calls == 2


# -- server-sent events -------------------------------------------------------------------


def decode_all(chunks: list[bytes]) -> list[stream.Heartbeat | stream.ServerEvent]:
    decoder = stream.EventStreamDecoder()
    out: list[stream.Heartbeat | stream.ServerEvent] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    return out


@pytest.fixture
def recorded_stream(shared_dir: Path) -> bytes:
    """The body of the recorded ``GET /api/v1/streaming/direct`` (Mastodon 4.6)."""
    path = shared_dir / "fixtures/mastodon/test_stream_direct.yaml"
    cassette = yaml.safe_load(path.read_text())
    [body] = [
        i["response"]["body"]["string"]
        for i in cassette["interactions"]
        if "/api/v1/streaming/" in i["request"]["uri"]
    ]
    assert isinstance(body, str)
    return body.encode()


def test_decodes_the_recorded_stream(recorded_stream: bytes) -> None:
    items = decode_all([recorded_stream])
    assert items[0] == stream.Heartbeat(")")
    events = [i for i in items if isinstance(i, stream.ServerEvent)]
    [event] = events
    assert event.event == "conversation"
    payload = json.loads(event.data)
    expected = json.loads((FIXTURES / "conversation__stream.json").read_text())
    assert payload["id"] == expected["id"]
    assert payload["last_status"]["id"] == expected["last_status"]["id"]


@given(st.data())
def test_any_chunking_of_the_stream_decodes_the_same(data: st.DataObject) -> None:
    body = (
        b":)\r\n"
        b"event: notification\r\ndata: " + json.dumps(recorded_mention()).encode() + b"\r\n\r\n"
        b":thump\r"
        b"event: delete\rdata: 117020577157693549\r\r"
        b"data: first\ndata:second\nid: 7\nretry: 10\nunknown\n\n"
        b"event: ignored-without-data\n\n"
        b":thump\n"
    )
    whole = decode_all([body])
    cuts = sorted(data.draw(st.sets(st.integers(1, len(body) - 1), max_size=40)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    assert decode_all(pieces) == whole
    assert [type(i).__name__ for i in whole] == [
        "Heartbeat",
        "ServerEvent",
        "Heartbeat",
        "ServerEvent",
        "ServerEvent",
        "Heartbeat",
    ]
    assert whole[1] == stream.ServerEvent("notification", json.dumps(recorded_mention()))
    assert whole[3] == stream.ServerEvent("delete", "117020577157693549")
    assert whole[4] == stream.ServerEvent("message", "first\nsecond", "7")


def test_a_byte_order_mark_and_a_split_character_are_read_correctly() -> None:
    text = "data: café ☕\n\n".encode()
    cut = text.index("☕".encode()) + 1
    items = decode_all([b"\xef\xbb\xbf" + text[:cut], text[cut:]])
    assert items == [stream.ServerEvent("message", "café ☕")]


def test_an_endless_line_or_event_is_refused() -> None:
    decoder = stream.EventStreamDecoder(max_bytes=1000)
    with pytest.raises(SendError, match="longer than 1000 bytes"):
        decoder.feed(b"data: " + b"x" * 2000)
    decoder = stream.EventStreamDecoder(max_bytes=1000)
    for _ in range(9):
        assert decoder.feed(b"data: " + b"x" * 100 + b"\n") == []
    with pytest.raises(SendError, match="larger than 1000 bytes"):
        decoder.feed(b"data: " + b"x" * 100 + b"\n")
