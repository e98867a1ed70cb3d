"""The copyable connector folder stays a working connector: the contract, a send, a signature."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest

import socialdesk.connectors._template as template_pkg
from socialdesk.connectors._template import TemplateConnector
from socialdesk.connectors._template.parse import MalformedEventError
from socialdesk.connectors.base import (
    AccountContext,
    AuthError,
    Connector,
    OutboundRequest,
    RawEvent,
    SendError,
    Visibility,
    WebhookVerifier,
)
from tests.connectors.contract import RECEIVED_AT, ConnectorContract
from tests.connectors.fake_http import FakeProvider, body_of, response

FIXTURES = Path(template_pkg.__file__).parent / "fixtures"
NOW = datetime(2026, 8, 1, 14, 0, tzinfo=UTC)


class TestTemplate(ConnectorContract):
    connector: ClassVar[Connector] = TemplateConnector()
    fixtures: ClassVar[Path] = FIXTURES

    def event_from_fixture(self, path: Path, kind: str) -> RawEvent:
        payload = json.loads(path.read_text(encoding="utf-8"))
        return RawEvent(native_id="e1", kind=kind, payload=payload, received_at=RECEIVED_AT)

    def test_example_parses(self) -> None:
        [message] = self.parse_fixture("message.created__example.json")
        assert message.native_id == "m-1001"
        assert message.author.handle == "ann"
        assert message.visibility is Visibility.DIRECT
        assert message.thread_key == "c-77"
        assert message.created_at == datetime(2026, 8, 1, 13, 51, 39, tzinfo=UTC)

    def test_malformed_payload_is_named(self) -> None:
        event = RawEvent("e2", "message.created", {"message": {"id": "m"}}, RECEIVED_AT)
        with pytest.raises(MalformedEventError, match="sender"):
            self.connector.parse(event)


def account(**credentials: str) -> AccountContext:
    return AccountContext(1, "brand", {"api_base": "https://api.provider.example"}, credentials)


def request() -> OutboundRequest:
    return OutboundRequest("socialdesk-1", "On its way!", Visibility.DIRECT, None, "m-1001")


def test_send_request() -> None:
    provider = FakeProvider().on("POST", "/v1/messages", response(201, {"id": "m-2002"}))
    conn = TemplateConnector(transport=provider.transport, sleep=lambda _: None, now=lambda: NOW)
    result = conn.send(account(access_token="tok"), request())
    [sent] = provider.requests
    assert str(sent.url) == "https://api.provider.example/v1/messages"
    assert body_of(sent) == {"text": "On its way!", "in_reply_to": "m-1001"}
    assert sent.headers["Idempotency-Key"] == "socialdesk-1"
    assert result.native_id == "m-2002"
    assert result.sent_at == NOW


def test_send_errors() -> None:
    provider = FakeProvider().on("POST", "/v1/messages", response(422, {"error": "too long"}))
    conn = TemplateConnector(transport=provider.transport, sleep=lambda _: None)
    with pytest.raises(SendError, match="too long"):
        conn.send(account(access_token="tok"), request())
    with pytest.raises(AuthError, match="no access token"):
        conn.send(account(), request())


def test_webhook_signature() -> None:
    conn = TemplateConnector()
    assert isinstance(conn, WebhookVerifier)
    body = b'{"type":"message.created"}'
    good = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert conn.verify_signature(headers={"X-Signature-256": good}, body=body, secret="s3cret")
    assert not conn.verify_signature(
        headers={"X-Signature-256": good}, body=body + b" ", secret="s3cret"
    )
    assert not conn.verify_signature(headers={}, body=body, secret="s3cret")
