"""Parsing recorded Mastodon traffic (fixtures from Mastodon.py's cassettes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest

import socialdesk.connectors.mastodon as mastodon_pkg
from socialdesk.connectors.base import Connector, InboundMessage, RawEvent, Visibility
from socialdesk.connectors.mastodon import MastodonConnector
from socialdesk.connectors.mastodon.parse import (
    ANNOTATION,
    MalformedEventError,
    event_kind,
    event_native_id,
)
from tests.connectors.contract import RECEIVED_AT, ConnectorContract, fixture_paths

FIXTURES = Path(mastodon_pkg.__file__).parent / "fixtures"


def event(kind: str, payload: dict[str, object]) -> RawEvent:
    return RawEvent(
        native_id=event_native_id(kind, payload),
        kind=kind,
        payload=payload,
        received_at=RECEIVED_AT,
    )


def load(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


class TestMastodonParse(ConnectorContract):
    connector: ClassVar[Connector] = MastodonConnector()
    fixtures: ClassVar[Path] = FIXTURES

    def event_from_fixture(self, path: Path, kind: str) -> RawEvent:
        return event(kind, json.loads(path.read_text(encoding="utf-8")))

    @pytest.mark.parametrize("path", fixture_paths(FIXTURES), ids=lambda p: p.name)
    def test_every_fixture_parses_to_one_message(self, path: Path) -> None:
        [message] = self.parse_fixture(path.name)
        assert isinstance(message, InboundMessage)
        assert message.native_id.isdigit()
        assert message.created_at.tzinfo is not None
        assert message.author.handle
        assert message.author.native_id.startswith("http://localhost:3000/ap/users/")
        assert "<" not in message.text, "HTML left in the text"

    def test_mention_notification(self) -> None:
        [message] = self.parse_fixture("notification.mention__public.json")
        assert message.native_id == "117020576916218297"
        assert message.text == "@mastodonpy_test hello!"
        assert message.author.handle == "admin"
        assert message.author.native_id == "http://localhost:3000/ap/users/117020565693913441"
        assert message.author.display_name is None  # recorded as ""
        assert message.created_at == datetime(2026, 8, 1, 13, 51, 39, 138000, tzinfo=UTC)
        assert message.visibility is Visibility.PUBLIC
        assert message.reply_to_native_id is None
        assert message.thread_key is None
        assert message.raw["notification_id"] == "20"
        assert message.raw["mentions"] == ["mastodonpy_test"]
        assert message.from_brand is False

    def test_public_reply_points_at_its_parent(self) -> None:
        [message] = self.parse_fixture("status__public_reply.json")
        assert message.reply_to_native_id == "117020583245459824"
        assert message.visibility is Visibility.PUBLIC
        assert message.text == "@mastodonpy_test_2 same!"
        assert message.thread_key is None

    def test_unlisted_is_public_but_remembered(self) -> None:
        [message] = self.parse_fixture("status__unlisted.json")
        assert message.visibility is Visibility.PUBLIC
        assert message.raw["visibility"] == "unlisted"

    def test_direct_message_is_direct_and_its_own_thread_root(self) -> None:
        [message] = self.parse_fixture("status__direct.json")
        assert message.visibility is Visibility.DIRECT
        assert message.native_id == "117020593780198542"
        assert message.thread_key == "117020593780198542"
        assert message.author.handle == "mastodonpy_test_2"
        assert message.text == "@admin ilu bby ;3"

    def test_direct_reply_without_known_root_threads_by_reply_id(self) -> None:
        [message] = self.parse_fixture("conversation__direct_reply.json")
        assert message.visibility is Visibility.DIRECT
        assert message.reply_to_native_id == "117020588315335369"
        assert message.thread_key is None
        assert message.raw["conversation_id"] == "12"

    def test_direct_reply_uses_the_root_the_poller_found(self) -> None:
        payload = load("conversation__direct_reply.json")
        payload[ANNOTATION] = {"thread_root_id": "117020588300000000"}
        [message] = self.connector.parse(event("conversation", payload))
        assert message.thread_key == "117020588300000000"

    def test_streamed_conversation(self) -> None:
        [message] = self.parse_fixture("conversation__stream.json")
        assert message.visibility is Visibility.DIRECT
        assert message.text == "@mastodonpy_test todo funny text here"
        assert message.raw["conversation_id"] == "6"

    def test_brand_posts_are_recognised(self) -> None:
        payload = load("status__public_reply.json")
        payload[ANNOTATION] = {"brand_account_id": "117020565693913441"}  # admin, its author
        [message] = self.connector.parse(event("status", payload))
        assert message.from_brand is True

    def test_a_reply_to_the_brands_own_post_says_so(self) -> None:
        payload = load("status__public_reply.json")
        # It answers 117020566092212359's post: the brand's, or someone else's.
        payload[ANNOTATION] = {"brand_account_id": "117020566092212359"}
        [message] = self.connector.parse(event("status", payload))
        assert (message.reply_to_brand, message.from_brand) == (True, False)
        payload[ANNOTATION] = {"brand_account_id": "117020565693913441"}
        [message] = self.connector.parse(event("status", payload))
        assert (message.reply_to_brand, message.from_brand) == (False, True)
        [unknown] = self.parse_fixture("status__public_reply.json")
        assert unknown.reply_to_brand is False

    def test_boost_is_not_a_message(self) -> None:
        payload = load("status__public.json")
        payload["reblog"] = load("status__unlisted.json")
        assert self.connector.parse(event("status", payload)) == []

    def test_conversation_without_statuses_is_empty(self) -> None:
        payload = load("conversation__direct.json")
        payload["last_status"] = None
        assert self.connector.parse(event("conversation", payload)) == []

    def test_mention_without_status_is_malformed(self) -> None:
        payload = load("notification.mention__public.json")
        del payload["status"]
        with pytest.raises(MalformedEventError, match="has no status"):
            self.connector.parse(event("notification.mention", payload))

    def test_status_without_timestamp_is_malformed(self) -> None:
        payload = load("status__public.json")
        del payload["created_at"]
        with pytest.raises(MalformedEventError, match="created_at"):
            self.connector.parse(event("status", payload))

    def test_event_ids(self) -> None:
        notification = load("notification.mention__public.json")
        assert event_kind("notification", notification) == "notification.mention"
        assert event_native_id("notification.mention", notification) == "notification:20"
        conversation = load("conversation__direct.json")
        assert event_native_id("conversation", conversation) == "conversation:15:117020593780198542"
        assert event_native_id("status", load("status__public.json")) == "status:117020583245459824"
