"""Mastodon's streaming API: being told of a mention as it happens instead of at the next poll.

Streaming does not replace the poller; it wakes it. :func:`watch` keeps one server-sent events
connection per brand account open on the instance's streaming server
(``GET /api/v1/streaming/user/notification``, the token in the ``Authorization`` header) and
calls ``on_wake`` for every ``notification`` event of a type the poller fetches (mentions,
which include direct messages), and once after every (re)connection, since notifications may
have arrived while nothing was listening. The desk answers by polling the account's
notifications with the same cursor rules, so streaming can neither lose nor double a message:
the stream's payload is only a signal, never stored.

https://docs.joinmastodon.org/methods/streaming/

* **Where.** The streaming server may live on another host than the REST API. Its address is
  the instance's ``configuration.urls.streaming`` (``/api/v2/instance``; ``urls.streaming_api``
  of ``/api/v1/instance`` on servers older than 4.0), a ``wss://`` URL spoken here as
  ``https://``; without one, the instance's own host. ``GET /api/v1/streaming/health`` there
  must answer ``OK`` before connecting (redirects are followed for it, then the stream is
  opened where the health check answered, so the token only ever goes where the instance
  pointed).
* **Alive.** The server writes a comment line (``:thump``) every 15 seconds. A connection
  silent for longer than :attr:`StreamOptions.read_timeout` is dead: it is dropped and opened
  again.
* **Failures.** Timeouts, dropped connections, an ended stream, 429 and 5xx reconnect with
  capped exponential backoff and jitter (``Retry-After`` is honoured). 401 and 403 end the
  watch with :attr:`StreamState.refused` (the token was revoked, or lacks
  ``read:notifications``): the desk marks the account unhealthy. A server without streaming
  (404 on the health check or on both forms of the stream's path, or one that does not answer
  with server-sent events) ends the watch with ``supported = False``: the account is polled as
  before.
* **Stopping.** Reading blocks on the socket, so :class:`StopSignal` shuts the open
  connection's socket down when it is set: a stop takes effect at once, not at the next
  heartbeat.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from socialdesk.common import clock
from socialdesk.connectors.base import AuthError, ConnectorError, SendError
from socialdesk.connectors.http import error_detail, parse_retry_after
from socialdesk.connectors.mastodon.config import MastodonAccount

log = logging.getLogger(__name__)

STREAM_PATH = "/api/v1/streaming/user/notification"
# The same stream named by a parameter, which some servers accept where the path is unknown.
STREAM_QUERY_PATH = "/api/v1/streaming"
STREAM_NAME = "user:notification"
HEALTH_PATH = "/api/v1/streaming/health"
# Notification types the poller fetches (``types[]=mention``; direct messages are mentions).
WAKE_TYPES = frozenset({"mention"})
# Statuses that mean "this server does not stream over HTTP here", not "try again later".
_NOT_OFFERED = frozenset({400, 404, 405, 406, 410, 426, 501})
_ERROR_BODY_LIMIT = 8 * 1024
USER_AGENT = "socialdesk/0.1 (+https://github.com/socialdesk)"


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """Timeouts and backoff of one watcher (tests shorten them)."""

    connect_timeout: float = 10.0
    # Instance discovery and the health check: short requests.
    request_timeout: float = 15.0
    # Mastodon writes a heartbeat every 15 s; four missed ones mean the connection is dead.
    read_timeout: float = 60.0
    base_delay: float = 2.0
    max_backoff: float = 300.0
    # A connection that stayed open this long was healthy: the backoff starts again from the
    # bottom. A server that accepts and drops at once therefore backs off like a refusing one.
    stable_after: float = 30.0
    # After this many failures in a row the streaming URL is looked up again.
    rediscover_after: int = 3
    # The longest line or event accepted from the server.
    max_event_bytes: int = 1024 * 1024


class StreamingUnavailable(ConnectorError):
    """The instance offers no streaming over HTTP: the account is polled as before."""


class Rediscover(SendError):
    """The streaming server is not where it was found: look its URL up again, then retry."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, retryable=True)


class StopSignal(threading.Event):
    """A stop request that also interrupts a blocking read: ``set()`` runs the hooks
    registered with :meth:`interrupting` (a watcher shuts its open socket down)."""

    def __init__(self) -> None:
        super().__init__()
        self._hooks: list[Callable[[], None]] = []
        self._hooks_lock = threading.Lock()

    def set(self) -> None:
        super().set()
        with self._hooks_lock:
            hooks = list(self._hooks)
        for hook in hooks:
            _run_hook(hook)

    @contextlib.contextmanager
    def interrupting(self, hook: Callable[[], None]) -> Iterator[None]:
        """Run ``hook`` if a stop is requested while the block runs (at once if it already
        was)."""
        with self._hooks_lock:
            self._hooks.append(hook)
        try:
            if self.is_set():
                _run_hook(hook)
            yield
        finally:
            with self._hooks_lock:
                self._hooks.remove(hook)


def _run_hook(hook: Callable[[], None]) -> None:
    try:
        hook()
    except Exception:  # a failed interruption must not keep the other hooks from running
        log.warning("interrupting a Mastodon stream failed", exc_info=True)


@dataclass
class StreamState:
    """What a watcher reports about itself (for logs, the caller's checks and the tests)."""

    connected: bool = False
    supported: bool | None = None  # None until the server said
    refused: str | None = None  # the instance refused the token: why
    stream_url: str | None = None  # where the stream was last opened
    connections: int = 0
    heartbeats: int = 0
    notifications: int = 0  # notifications that woke the poller
    ignored: int = 0  # events and notification types that did not
    reconnects: int = 0
    last_error: str | None = None
    last_event_at: datetime | None = None


# -- server-sent events -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A comment line (``:thump``, ``:)``): the server is alive."""

    text: str


@dataclass(frozen=True, slots=True)
class ServerEvent:
    event: str
    data: str
    id: str | None = None


class EventStreamDecoder:
    """Bytes of a ``text/event-stream`` in, heartbeats and events out, by the WHATWG rules:
    lines end with CRLF, LF or CR; ``data`` lines join with a newline; a blank line dispatches;
    an event without data is dropped; the event name defaults to ``message``.
    https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
    """

    def __init__(self, *, max_bytes: int = 1024 * 1024) -> None:
        self._max = max_bytes
        self._buffer = bytearray()
        self._after_cr = False  # the last chunk ended in CR: an LF first in the next is its pair
        self._first_line = True
        self._event = ""
        self._data: list[str] = []
        self._size = 0
        self._id: str | None = None

    def feed(self, chunk: bytes) -> list[Heartbeat | ServerEvent]:
        if self._after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._after_cr = False
        self._buffer += chunk
        out: list[Heartbeat | ServerEvent] = []
        start = 0
        buffer = self._buffer
        length = len(buffer)
        i = 0
        while i < length:
            byte = buffer[i]
            if byte in (0x0A, 0x0D):
                line = bytes(buffer[start:i])
                if byte == 0x0D:
                    if i + 1 < length:
                        if buffer[i + 1] == 0x0A:
                            i += 1
                    else:
                        self._after_cr = True
                self._line(line, out)
                start = i + 1
            i += 1
        del self._buffer[:start]
        if len(self._buffer) > self._max:
            raise SendError(
                f"the streaming server sent a line longer than {self._max} bytes", retryable=True
            )
        return out

    def _line(self, raw: bytes, out: list[Heartbeat | ServerEvent]) -> None:
        line = raw.decode("utf-8", "replace")
        if self._first_line:
            self._first_line = False
            line = line.removeprefix("\ufeff")
        if not line:
            if self._data:
                out.append(ServerEvent(self._event or "message", "\n".join(self._data), self._id))
            self._event, self._data, self._size = "", [], 0
            return
        if line.startswith(":"):
            out.append(Heartbeat(line[1:].strip()))
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._size += len(value) + 1
            if self._size > self._max:
                raise SendError(
                    f"the streaming server sent an event larger than {self._max} bytes",
                    retryable=True,
                )
            self._data.append(value)
        elif name == "id" and "\x00" not in value:
            self._id = value
        # "retry" and unknown fields: the reconnection schedule is ours, the rest is ignored.


# -- finding the streaming server ----------------------------------------------------------


def _http_base(url: str) -> str | None:
    """``wss://streaming.example/`` as ``https://streaming.example`` (SSE is plain HTTP)."""
    parts = urlsplit(url.strip())
    scheme = {"wss": "https", "ws": "http", "https": "https", "http": "http"}.get(
        parts.scheme.lower()
    )
    if scheme is None or not parts.netloc:
        return None
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _retryable(account: MastodonAccount, what: str, response: httpx.Response) -> SendError:
    after = parse_retry_after(response.headers.get("Retry-After"), now=clock.now())
    return SendError(
        f"{account.provider}: {what} answered {response.status_code}",
        retryable=True,
        retry_after_seconds=after,
    )


def discover(
    client: httpx.Client, account: MastodonAccount, options: StreamOptions
) -> tuple[str, bool]:
    """The base URL of the instance's streaming server, and whether the instance named one
    (``configuration.urls.streaming``) rather than leaving it to its own host."""
    timeout = httpx.Timeout(options.request_timeout, connect=options.connect_timeout)
    lookups: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("/api/v2/instance", ("configuration", "urls", "streaming")),
        ("/api/v1/instance", ("urls", "streaming_api")),
    )
    for path, keys in lookups:
        response = client.get(
            account.instance_url + path, timeout=timeout, headers={"Accept": "application/json"}
        )
        if response.status_code == 404:
            continue  # v2 came with Mastodon 4.0; older servers have only v1
        if response.status_code == 429 or response.status_code >= 500:
            raise _retryable(account, path, response)
        if response.status_code != 200:
            log.info(
                "%s: %s answered %s; trying streaming on the instance's own host",
                account.provider,
                path,
                response.status_code,
            )
            break
        try:
            found: Any = response.json()
        except ValueError:
            break
        for key in keys:
            found = found.get(key) if isinstance(found, dict) else None
        base = _http_base(found) if isinstance(found, str) else None
        if base is not None:
            return base, True
        break
    return account.instance_url, False


def check_health(
    client: httpx.Client, account: MastodonAccount, base: str, options: StreamOptions
) -> str:
    """Ask the streaming server whether it is alive; returns the base URL that answered
    (after redirects: the instance's own host may send the client to its streaming host)."""
    timeout = httpx.Timeout(options.request_timeout, connect=options.connect_timeout)
    response = client.get(base + HEALTH_PATH, timeout=timeout, follow_redirects=True)
    status = response.status_code
    if status == 200:
        answered = str(response.url.copy_with(query=None, fragment=None))
        return answered.removesuffix(HEALTH_PATH) if answered.endswith(HEALTH_PATH) else base
    if status in (408, 429) or status >= 500:
        raise _retryable(account, f"the streaming health check at {base}", response)
    raise StreamingUnavailable(
        f"{account.provider} has no streaming API at {base} "
        f"(its health check answered {status}); new mentions are polled"
    )


# -- the stream ----------------------------------------------------------------------------


def _error_body(response: httpx.Response) -> httpx.Response:
    """The start of an error response's body, as a small response ``error_detail`` can read."""
    body = bytearray()
    with contextlib.suppress(httpx.HTTPError):
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) >= _ERROR_BODY_LIMIT:
                break
    headers = {"Content-Type": response.headers.get("Content-Type", "text/plain")}
    return httpx.Response(
        response.status_code, headers=headers, content=bytes(body[:_ERROR_BODY_LIMIT])
    )


def open_stream(
    client: httpx.Client, account: MastodonAccount, base: str, options: StreamOptions
) -> httpx.Response:
    """Open the notification stream; the caller closes the response. Raises AuthError (401,
    403), StreamingUnavailable (no such stream here) or a retryable SendError."""
    timeout = httpx.Timeout(
        options.request_timeout, connect=options.connect_timeout, read=options.read_timeout
    )
    headers = {
        **account.headers(),
        "Accept": "text/event-stream",
        "Cache-Control": "no-cache",
        # A compressing proxy would hold events back until its buffer fills.
        "Accept-Encoding": "identity",
    }
    attempts: tuple[tuple[str, dict[str, str] | None], ...] = (
        (base + STREAM_PATH, None),
        (base + STREAM_QUERY_PATH, {"stream": STREAM_NAME}),
    )
    status = 0
    for url, params in attempts:
        request = client.build_request("GET", url, headers=headers, params=params, timeout=timeout)
        response = client.send(request, stream=True)
        status = response.status_code
        content_type = response.headers.get("Content-Type", "")
        if status == 200 and content_type.split(";")[0].strip().lower() == "text/event-stream":
            return response
        detail = error_detail(_error_body(response)) if status != 200 else ""
        response.close()
        if status == 200:
            raise StreamingUnavailable(
                f"{account.provider}: the streaming server at {base} answered with "
                f"{content_type or 'no content type'}, not server-sent events; new mentions "
                "are polled"
            )
        if status == 401:
            raise AuthError(
                f"{account.provider} refused the streaming connection: the access token was "
                f"rejected ({detail or 'unauthorized'}); it was revoked or the app was removed: "
                "connect the account again"
            )
        if status == 403:
            raise AuthError(
                f"{account.provider} refused the streaming connection ({detail or 'forbidden'}): "
                "the token lacks the read:notifications and read:statuses scopes, or the "
                "account is suspended or disabled; connect the account again"
            )
        if status in (404, 405, 410):
            continue  # try the other form of the stream's name
        if status in _NOT_OFFERED:
            break
        if 300 <= status < 400:
            raise Rediscover(
                f"{account.provider}: the stream at {base} redirected to "
                f"{response.headers.get('Location', 'nowhere')}; looking the streaming URL up "
                "again"
            )
        raise _retryable(account, f"the stream at {base}", response)
    raise StreamingUnavailable(
        f"{account.provider} does not stream notifications over HTTP at {base} (it answered "
        f"{status}); new mentions are polled"
    )


def _interrupt(response: httpx.Response) -> None:
    """Unblock a read in progress on ``response`` from another thread: shut its socket down
    (recv returns at once), which closing the response would not do."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if isinstance(sock, socket.socket):
        # The plain socket's shutdown, also for TLS: the TLS object stays with the reader.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
    else:
        response.close()


def _wakes(event: ServerEvent) -> bool:
    """Whether a notification event is one the poller fetches. Unreadable data wakes too: a
    needless poll costs one request, a missed mention waits for the next minute."""
    try:
        payload = json.loads(event.data)
    except ValueError:
        return True
    if not isinstance(payload, dict):
        return True
    kind = payload.get("type")
    return not isinstance(kind, str) or kind in WAKE_TYPES


def _read(
    response: httpx.Response,
    *,
    account: MastodonAccount,
    on_wake: Callable[[str], None],
    stop: threading.Event,
    state: StreamState,
    options: StreamOptions,
    now: Callable[[], datetime],
) -> None:
    decoder = EventStreamDecoder(max_bytes=options.max_event_bytes)
    for chunk in response.iter_bytes():
        for item in decoder.feed(chunk):
            if isinstance(item, Heartbeat):
                state.heartbeats += 1
                continue
            state.last_event_at = now()
            if item.event == "notification" and _wakes(item):
                state.notifications += 1
                on_wake("notification")
            else:
                state.ignored += 1
                log.debug("%s: stream event %r ignored", account.provider, item.event)
        if stop.is_set():
            return


def backoff_delay(
    failures: int, options: StreamOptions, *, rng: Callable[[], float] = random.random
) -> float:
    """Capped exponential backoff with equal jitter: between half and all of
    ``base_delay * 2**(failures-1)``, never above ``max_backoff``. Half is kept so a flapping
    server is never hit again at once; the other half spreads reconnections of many workers
    after an instance restarts."""
    ceiling = min(options.max_backoff, options.base_delay * 2.0 ** min(failures - 1, 30))
    return ceiling / 2 + rng() * ceiling / 2


def watch(
    account: MastodonAccount,
    *,
    on_wake: Callable[[str], None],
    stop: StopSignal,
    state: StreamState | None = None,
    options: StreamOptions | None = None,
    transport: httpx.BaseTransport | None = None,
    rng: Callable[[], float] = random.random,
    now: Callable[[], datetime] | None = None,
) -> StreamState:
    """Follow the account's notification stream until ``stop`` is set, calling ``on_wake``
    with the reason (``"connected"``, ``"notification"``). Returns when stopped, or at once
    when the instance refuses the token (``state.refused``) or offers no streaming
    (``state.supported`` is False)."""
    state = state or StreamState()
    options = options or StreamOptions()
    clock_now = now or clock.now
    failures = 0
    base: str | None = None
    limits = httpx.Limits(max_connections=2, max_keepalive_connections=1)
    headers = {"User-Agent": USER_AGENT}
    with httpx.Client(transport=transport, limits=limits, headers=headers) as client:
        while not stop.is_set():
            started = time.monotonic()
            connections = state.connections
            try:
                if base is None:
                    base, named = discover(client, account, options)
                    log.info(
                        "%s: streaming server %s%s",
                        account.provider,
                        base,
                        "" if named else " (the instance names none: its own host)",
                    )
                base = check_health(client, account, base, options)
                _follow(
                    client,
                    account,
                    base,
                    on_wake=on_wake,
                    stop=stop,
                    state=state,
                    options=options,
                    now=clock_now,
                )
                if stop.is_set():
                    break
                raise SendError(f"{account.provider}: the stream ended", retryable=True)
            except StreamingUnavailable as exc:
                state.supported = False
                state.last_error = exc.reason
                log.info("%s", exc.reason)
                return state
            except AuthError as exc:
                state.refused = exc.reason
                state.last_error = exc.reason
                log.warning("%s", exc.reason)
                return state
            except (ConnectorError, httpx.HTTPError, OSError) as exc:
                if stop.is_set():
                    break
                lasted = time.monotonic() - started
                if state.connections > connections and lasted >= options.stable_after:
                    failures = 0
                failures += 1
                if isinstance(exc, Rediscover) or failures % options.rediscover_after == 0:
                    base = None
                reason = (
                    exc.reason
                    if isinstance(exc, ConnectorError)
                    else f"{account.provider}: {_network_reason(exc, base)}"
                )
                delay = backoff_delay(failures, options, rng=rng)
                after = exc.retry_after_seconds if isinstance(exc, SendError) else None
                if after is not None:
                    delay = max(delay, min(after, 3600.0))
                state.last_error = reason
                state.reconnects += 1
                log.warning("streaming interrupted: %s; reconnecting in %.1fs", reason, delay)
                stop.wait(delay)
    return state


def _follow(
    client: httpx.Client,
    account: MastodonAccount,
    base: str,
    *,
    on_wake: Callable[[str], None],
    stop: StopSignal,
    state: StreamState,
    options: StreamOptions,
    now: Callable[[], datetime],
) -> None:
    """One connection: open the stream, wake the poller once, read until it ends."""
    response = open_stream(client, account, base, options)
    try:
        state.stream_url = base + STREAM_PATH
        state.supported = True
        state.connected = True
        state.connections += 1
        log.info("%s: following %s", account.provider, state.stream_url)
        with stop.interrupting(functools.partial(_interrupt, response)):
            on_wake("connected")  # catch up on what came while disconnected
            _read(
                response,
                account=account,
                on_wake=on_wake,
                stop=stop,
                state=state,
                options=options,
                now=now,
            )
    finally:
        state.connected = False
        response.close()


def _network_reason(exc: Exception, base: str | None) -> str:
    where = f" ({base})" if base else ""
    if isinstance(exc, httpx.ReadTimeout):
        return f"no data or heartbeat from the streaming server{where} in time"
    if isinstance(exc, httpx.TimeoutException):
        return f"the streaming server{where} did not answer in time"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the streaming server{where} dropped the connection"
    return f"{type(exc).__name__}: {exc}"


class WakeThrottle:
    """Calls ``wake`` at most once per ``min_interval`` seconds: the first signal at once, the
    ones inside the interval folded into one more call at its end, so a burst of mentions
    costs two polls, not one each, and the last one is never left waiting for the next
    minute's poll. A failing ``wake`` is logged; the regular polling still covers it."""

    def __init__(self, wake: Callable[[], None], *, min_interval: float) -> None:
        self._wake = wake
        self._interval = min_interval
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._timer: threading.Timer | None = None
        self._closed = False
        self.calls = 0

    def __call__(self, _reason: str = "") -> None:
        with self._lock:
            if self._closed or self._timer is not None:
                return
            wait = self._last + self._interval - time.monotonic()
            if wait > 0:
                self._timer = threading.Timer(wait, self._trailing)
                self._timer.daemon = True
                self._timer.start()
                return
            self._last = time.monotonic()
        self._fire()

    def _trailing(self) -> None:
        with self._lock:
            self._timer = None
            if self._closed:
                return
            self._last = time.monotonic()
        self._fire()

    def _fire(self) -> None:
        self.calls += 1
        try:
            self._wake()
        except Exception:  # the queue may be unreachable a moment; polling goes on
            log.exception("could not wake the Mastodon poller")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
