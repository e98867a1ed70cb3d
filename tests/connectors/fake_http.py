"""A scripted HTTP provider for send and poll tests, on :class:`httpx.MockTransport`.

Responses are queued per method and path; every request is kept so a test can check exactly what
was sent. Recorded responses come from a connector's ``fixtures/responses/`` files.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def recorded(path: Path) -> httpx.Response:
    """A response exactly as recorded: status, the headers that matter, the JSON body."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    return response(doc["status"], doc["body"], headers=doc["headers"])


def response(
    status: int, body: Any = None, *, headers: dict[str, str] | None = None
) -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


class FakeProvider:
    def __init__(self) -> None:
        self._queues: dict[tuple[str, str], deque[Reply]] = defaultdict(deque)
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self._handle)

    def on(self, method: str, path: str, *replies: Reply) -> FakeProvider:
        self._queues[(method, path)].extend(replies)
        return self

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self._queues.get((request.method, request.url.path))
        if not queue:
            return httpx.Response(
                404, json={"error": f"unexpected {request.method} {request.url.path}"}
            )
        reply = queue.popleft() if len(queue) > 1 else queue[0]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, httpx.Response):
            return reply(request)
        # A fresh copy each time: one response object must not serve two requests.
        return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)
