"""Keeping the real traffic of an integration run, to save it as the connector's fixtures.

Set ``SOCIALDESK_RECORD_BLUESKY_FIXTURES=1`` to write them into
``src/socialdesk/connectors/bluesky/fixtures/`` (``<event>__<variant>.json`` for notification
items, ``responses/<name>.json`` for whole responses). Without it nothing is written.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

import socialdesk.connectors.bluesky as bluesky_pkg

FIXTURES = Path(bluesky_pkg.__file__).parent / "fixtures"
KEPT_HEADERS = ("content-type", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")


def recording_enabled() -> bool:
    return os.environ.get("SOCIALDESK_RECORD_BLUESKY_FIXTURES") == "1"


@dataclass(frozen=True)
class Exchange:
    method: str
    nsid: str
    params: dict[str, list[str]]
    request_body: Any
    status: int
    headers: dict[str, str]
    body: Any

    def as_response(self) -> dict[str, Any]:
        return {"status": self.status, "headers": self.headers, "body": self.body}


class RecordingTransport(httpx.BaseTransport):
    """Passes requests to the real transport and keeps every exchange."""

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self.inner = inner or httpx.HTTPTransport()
        self.exchanges: list[Exchange] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        content = response.read()
        try:
            body: Any = json.loads(content) if content else None
        except ValueError:
            body = content.decode("utf-8", "replace")
        try:
            request_body: Any = json.loads(request.content) if request.content else None
        except ValueError:
            request_body = None
        params: dict[str, list[str]] = {}
        for key, value in request.url.params.multi_items():
            params.setdefault(key, []).append(value)
        self.exchanges.append(
            Exchange(
                method=request.method,
                nsid=request.url.path.rsplit("/", 1)[-1],
                params=params,
                request_body=request_body,
                status=response.status_code,
                headers={k: v for k, v in response.headers.items() if k.lower() in KEPT_HEADERS},
                body=body,
            )
        )
        return response

    def close(self) -> None:
        self.inner.close()

    def find(self, nsid: str, *, status: int | None = None) -> list[Exchange]:
        return [
            e for e in self.exchanges if e.nsid == nsid and (status is None or e.status == status)
        ]


def save_event(name: str, notification: dict[str, Any]) -> None:
    if recording_enabled():
        _write(FIXTURES / f"{name}.json", notification)


def save_response(name: str, exchange: Exchange) -> None:
    if recording_enabled():
        _write(FIXTURES / "responses" / f"{name}.json", exchange.as_response())


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
