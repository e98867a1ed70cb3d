from __future__ import annotations

from datetime import UTC, datetime

import pytest

from socialdesk.common.clock import FrozenClock
from socialdesk.connectors import registry
from socialdesk.connectors.base import (
    AccountContext,
    Connector,
    OutboundRequest,
    RawEvent,
    UnsupportedEvent,
    Visibility,
)
from socialdesk.connectors.web.connector import MESSAGE_EVENT, WebConnector

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_registered_through_entry_points_like_a_plugin() -> None:
    connector = registry.get("web")
    assert isinstance(connector, WebConnector)
    assert isinstance(connector, Connector)


def test_unknown_channel_names_what_is_installed() -> None:
    with pytest.raises(Exception, match=r"no connector is installed for channel .nope."):
        registry.get("nope")


def test_parse_visitor_message() -> None:
    event = RawEvent(
        native_id="e1",
        kind=MESSAGE_EVENT,
        payload={
            "visitor_id": "v1",
            "message_id": "m1",
            "text": "Hi!",
            "name": "Ann",
            "sent_at": NOW.isoformat(),
        },
        received_at=NOW,
    )
    (message,) = WebConnector().parse(event)
    assert message.native_id == "m1"
    assert message.author.native_id == "v1"
    assert message.author.display_name == "Ann"
    assert message.thread_key == "visitor:v1"
    assert message.visibility is Visibility.DIRECT
    assert message.created_at == NOW
    assert message.author.handle is None  # no address given


def test_the_address_a_visitor_gives_is_kept_lower_cased() -> None:
    """As email identities keep theirs, so the two are found to be the same address."""
    event = RawEvent(
        native_id="e2",
        kind=MESSAGE_EVENT,
        payload={
            "visitor_id": "v2",
            "message_id": "m2",
            "text": "Hi!",
            "email": " Ann.Lee@Mail.Example ",
            "sent_at": NOW.isoformat(),
        },
        received_at=NOW,
    )
    (message,) = WebConnector().parse(event)
    assert message.author.handle == "ann.lee@mail.example"


def test_undeclared_event_is_refused_clearly() -> None:
    event = RawEvent(native_id="e1", kind="visitor.typing", payload={}, received_at=NOW)
    with pytest.raises(UnsupportedEvent, match=r"visitor\.typing"):
        WebConnector().parse(event)


def test_send_is_idempotent_by_key(clock: FrozenClock) -> None:
    request = OutboundRequest(
        idempotency_key="socialdesk-9", text="hello", visibility=Visibility.DIRECT, recipient=None
    )
    ctx = AccountContext(
        brand_account_id=1, handle="site", settings={}, credentials={"secret": "s3cret"}
    )
    first = WebConnector().send(ctx, request)
    second = WebConnector().send(ctx, request)
    assert first.native_id == second.native_id == "web-socialdesk-9"
    assert "s3cret" not in repr(ctx)
