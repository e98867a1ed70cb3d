"""Parsing Bluesky notifications recorded from the reference servers (see fixtures/SOURCES.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

import socialdesk.connectors.bluesky as bluesky_pkg
from socialdesk.connectors.base import Connector, RawEvent, Visibility
from socialdesk.connectors.bluesky import BlueskyConnector
from socialdesk.connectors.bluesky.parse import (
    ANNOTATION,
    MalformedEventError,
    event_kind,
    event_native_id,
)
from socialdesk.connectors.bluesky.richtext import facet_text
from tests.connectors.contract import RECEIVED_AT, ConnectorContract, fixture_paths

FIXTURES = Path(bluesky_pkg.__file__).parent / "fixtures"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def event(payload: dict[str, Any]) -> RawEvent:
    return RawEvent(
        native_id=event_native_id(payload),
        kind=event_kind(payload),
        payload=payload,
        received_at=RECEIVED_AT,
    )


class TestBlueskyParse(ConnectorContract):
    connector: ClassVar[Connector] = BlueskyConnector()
    fixtures: ClassVar[Path] = FIXTURES

    def event_from_fixture(self, path: Path, kind: str) -> RawEvent:
        raw = event(json.loads(path.read_text(encoding="utf-8")))
        assert raw.kind == kind, f"{path.name} holds a {raw.kind} notification"
        return raw

    @pytest.mark.parametrize(
        "path",
        [p for p in fixture_paths(FIXTURES) if not p.name.startswith("notification.like")],
        ids=lambda p: p.name,
    )
    def test_every_post_notification_parses_to_one_message(self, path: Path) -> None:
        [message] = self.parse_fixture(path.name)
        assert message.native_id.startswith("at://did:plc:")
        assert "/app.bsky.feed.post/" in message.native_id
        assert message.author.native_id.startswith("did:plc:")
        assert message.author.handle is not None
        assert message.author.handle.endswith(".test")
        assert message.created_at.tzinfo is not None
        assert message.visibility is Visibility.PUBLIC
        assert message.thread_key is None
        assert message.from_brand is False

    def test_mention_with_a_link_and_an_emoji(self) -> None:
        [message] = self.parse_fixture("notification.mention__with_link_and_emoji.json")
        payload = load("notification.mention__with_link_and_emoji.json")
        assert message.native_id == payload["uri"]
        assert message.text == payload["record"]["text"]
        assert "📦" in message.text
        assert message.reply_to_native_id is None
        assert message.created_at == datetime(2026, 11, 22, 10, 29, 18, 57000, tzinfo=UTC)
        assert message.raw["links"] == ["https://shop.example/o/4711"]
        [mention] = message.raw["mentions"]
        assert mention["text"].startswith("@brand")
        assert mention["text"].endswith(".test")
        assert message.raw["langs"] == ["en"]
        assert message.raw["cid"] == payload["cid"]
        # The recorded facets cover exactly the mention and the link, in UTF-8 bytes.
        texts = [facet_text(message.text, f) for f in payload["record"]["facets"]]
        assert texts == [mention["text"], "https://shop.example/o/4711"]

    def test_reply_points_at_its_parent_and_keeps_the_root(self) -> None:
        [message] = self.parse_fixture("notification.reply__to_brand_reply.json")
        reply = load("notification.reply__to_brand_reply.json")["record"]["reply"]
        assert message.reply_to_native_id == reply["parent"]["uri"]
        assert message.raw["parent_cid"] == reply["parent"]["cid"]
        assert message.raw["root_uri"] == reply["root"]["uri"]
        assert message.raw["root_cid"] == reply["root"]["cid"]
        assert message.raw["reason"] == "reply"

    def test_quote_names_the_quoted_post(self) -> None:
        [message] = self.parse_fixture("notification.quote__of_brand_post.json")
        embed = load("notification.quote__of_brand_post.json")["record"]["embed"]
        assert message.reply_to_native_id is None
        assert message.raw["quoted_uri"] == embed["record"]["uri"]
        assert message.raw["embed_type"] == "app.bsky.embed.record"

    def test_likes_give_nothing(self) -> None:
        assert self.parse_fixture("notification.like__of_brand_post.json") == []

    def test_the_brands_own_post_is_recognised(self) -> None:
        payload = load("notification.reply__to_brand_reply.json")
        payload[ANNOTATION] = {"brand_did": payload["author"]["did"]}
        [message] = self.connector.parse(event(payload))
        assert message.from_brand is True

    def test_a_reply_to_the_brands_own_post_says_so(self) -> None:
        payload = load("notification.reply__to_brand_reply.json")
        parent_did = payload["record"]["reply"]["parent"]["uri"].split("/")[2]
        payload[ANNOTATION] = {"brand_did": parent_did}
        [message] = self.connector.parse(event(payload))
        assert (message.reply_to_brand, message.from_brand) == (True, False)
        payload[ANNOTATION] = {"brand_did": "did:plc:someoneelse000000000000"}
        [message] = self.connector.parse(event(payload))
        assert message.reply_to_brand is False

    def test_an_invalid_handle_is_not_kept(self) -> None:
        payload = load("notification.mention__with_link_and_emoji.json")
        payload["author"]["handle"] = "handle.invalid"
        payload["author"]["displayName"] = "  Ann  "
        [message] = self.connector.parse(event(payload))
        assert message.author.handle is None
        assert message.author.display_name == "Ann"

    def test_a_bad_created_at_falls_back_to_the_index_time(self) -> None:
        payload = load("notification.mention__with_link_and_emoji.json")
        payload["record"]["createdAt"] = "yesterday"
        [message] = self.connector.parse(event(payload))
        assert message.created_at == datetime.fromisoformat(
            payload["indexedAt"].replace("Z", "+00:00")
        )

    @pytest.mark.parametrize(
        "change",
        [
            lambda p: p.pop("record"),
            lambda p: p["record"].update({"$type": "app.bsky.feed.like"}),
            lambda p: p["author"].pop("did"),
            lambda p: p.update({"uri": "https://bsky.app/x"}),
        ],
        ids=["no record", "not a post", "no author did", "not an at uri"],
    )
    def test_malformed_notifications_say_what_is_missing(self, change: Any) -> None:
        payload = load("notification.mention__with_link_and_emoji.json")
        change(payload)
        with pytest.raises(MalformedEventError):
            self.connector.parse(event(payload))

    def test_event_ids_differ_per_reason_for_the_same_post(self) -> None:
        payload = load("notification.mention__with_link_and_emoji.json")
        as_reply = {**payload, "reason": "reply"}
        assert event_native_id(payload) != event_native_id(as_reply)
        assert event_kind(as_reply) == "notification.reply"
