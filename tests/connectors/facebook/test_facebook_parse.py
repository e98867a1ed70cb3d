"""Parsing Page webhook deliveries. The fixtures are Meta's documented example payloads with the
placeholders filled in (see fixtures/SOURCES.md), not recordings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

import socialdesk.connectors.facebook as facebook_pkg
from socialdesk.connectors.base import Connector, RawEvent, Visibility
from socialdesk.connectors.facebook import FacebookConnector
from socialdesk.connectors.facebook.parse import UNKNOWN_AUTHOR_NAME, MalformedEventError
from socialdesk.connectors.facebook.webhook import events_from_delivery
from tests.connectors.contract import RECEIVED_AT, ConnectorContract, fixture_paths

FIXTURES = Path(facebook_pkg.__file__).parent / "fixtures"
PAGE = "101234567890123"
PSID = "2468013579246801"


def delivery(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def only_event(body: dict[str, Any]) -> RawEvent:
    [event] = events_from_delivery(json.dumps(body).encode(), received_at=RECEIVED_AT)
    return event


class TestFacebookParse(ConnectorContract):
    connector: ClassVar[Connector] = FacebookConnector()
    fixtures: ClassVar[Path] = FIXTURES

    def event_from_fixture(self, path: Path, kind: str) -> RawEvent:
        event = only_event(json.loads(path.read_text(encoding="utf-8")))
        assert event.kind == kind, f"{path.name} is a {event.kind} delivery"
        return event

    @pytest.mark.parametrize("path", fixture_paths(FIXTURES), ids=lambda p: p.name)
    def test_every_delivery_is_one_event_of_its_named_kind(self, path: Path) -> None:
        event = self.load_fixture(path.name)
        assert event.payload["page_id"] == PAGE
        messages = self.connector.parse(event)
        for message in messages:
            assert message.created_at.tzinfo is not None
            assert message.thread_key is not None

    def test_a_top_level_comment_starts_its_own_thread(self) -> None:
        [message] = self.parse_fixture("feed.comment.add__top_level.json")
        value = delivery("feed.comment.add__top_level.json")["entry"][0]["changes"][0]["value"]
        assert message.native_id == value["comment_id"]
        assert message.text == "My order #4711 arrived broken. Who can help?"
        assert message.author.native_id == "6543210987654321"
        assert message.author.display_name == "Cinderella Hoover"
        assert message.reply_to_native_id is None
        assert message.thread_key == f"comment:{value['comment_id']}"
        assert message.visibility is Visibility.PUBLIC
        assert message.created_at == datetime.fromtimestamp(1795343000, tz=UTC)
        assert message.from_brand is False
        assert message.raw["post_id"] == value["post_id"]
        assert message.raw["permalink_url"] == value["post"]["permalink_url"]

    def test_a_reply_joins_the_thread_of_its_top_level_comment(self) -> None:
        [top] = self.parse_fixture("feed.comment.add__top_level.json")
        [reply] = self.parse_fixture("feed.comment.add__reply_to_comment.json")
        assert reply.reply_to_native_id == top.native_id
        assert reply.thread_key == top.thread_key
        assert reply.text == "Same here, mine too 😕"

    def test_the_pages_own_comment_is_from_the_brand(self) -> None:
        [message] = self.parse_fixture("feed.comment.add__by_page.json")
        assert message.from_brand is True
        assert message.author.native_id == PAGE

    def test_a_comment_without_author_gets_an_anonymous_identity(self) -> None:
        [message] = self.parse_fixture("feed.comment.add__without_from.json")
        assert message.author.native_id == f"unknown:{message.native_id}"
        assert message.author.display_name == UNKNOWN_AUTHOR_NAME

    def test_a_photo_comment_has_the_photo_as_an_attachment_not_in_its_text(self) -> None:
        [message] = self.parse_fixture("feed.comment.add__with_photo.json")
        assert message.text == "This is how it looked"
        assert [a.url for a in message.attachments] == [message.raw["photo"]]
        assert message.raw["photo"].endswith("broken_parcel.jpg")

    def test_a_visitor_post_is_a_thread_of_its_own(self) -> None:
        [status] = self.parse_fixture("feed.status.add__visitor_post.json")
        assert status.thread_key == f"post:{status.native_id}"
        assert status.author.display_name == "Prince Charming"
        [post] = self.parse_fixture("feed.post.add__visitor_post_with_photo.json")
        assert post.text.endswith("[link] https://scontent.xx.fbcdn.net/v/t39.30808-6/receipt.jpg")

    def test_the_pages_own_post_is_not_a_message(self) -> None:
        assert self.parse_fixture("feed.status.add__page_post.json") == []

    def test_a_messenger_message_threads_by_the_senders_psid(self) -> None:
        [message] = self.parse_fixture("messaging.message__text.json")
        item = delivery("messaging.message__text.json")["entry"][0]["messaging"][0]
        assert message.native_id == item["message"]["mid"]
        assert message.visibility is Visibility.DIRECT
        assert message.thread_key == f"psid:{PSID}"
        assert message.author.native_id == PSID
        assert message.text == "Hi, where is my refund for order 4711?"
        assert message.created_at == datetime.fromtimestamp(1795344000.123, tz=UTC)
        assert message.raw["quick_reply"] == "ORDER_STATUS"

    def test_a_messenger_reply_points_at_the_message_it_quotes(self) -> None:
        [first] = self.parse_fixture("messaging.message__text.json")
        [reply] = self.parse_fixture("messaging.message__reply_to.json")
        assert reply.reply_to_native_id == first.native_id
        assert reply.thread_key == first.thread_key

    def test_an_attachment_without_text_has_no_text(self) -> None:
        # As a photo posted alone on the other networks: the thread shows the attachment.
        [message] = self.parse_fixture("messaging.message__image_attachment.json")
        assert message.text == ""
        assert len(message.attachments) == 1
        assert message.raw["attachments"] == [
            {"type": "image", "url": "https://scontent.xx.fbcdn.net/v/t1.15752-9/damaged_box.jpg"}
        ]

    def test_an_echo_is_the_brand_writing_in_the_persons_thread(self) -> None:
        [message] = self.parse_fixture("messaging.echo__sent_from_inbox.json")
        assert message.from_brand is True
        assert message.thread_key == f"psid:{PSID}"
        assert message.author.native_id == PAGE
        assert message.raw["app_id"] == 263902037430900

    @pytest.mark.parametrize(
        "name",
        [
            "feed.comment.edited__changed_text.json",
            "feed.reaction.add__like.json",
            "messaging.delivery__receipt.json",
            "messaging.read__receipt.json",
        ],
    )
    def test_edits_reactions_and_receipts_give_nothing(self, name: str) -> None:
        assert self.parse_fixture(name) == []

    @pytest.mark.parametrize(
        ("name", "path"),
        [
            ("feed.comment.add__top_level.json", ("changes", "comment_id")),
            ("feed.comment.add__top_level.json", ("changes", "post_id")),
            ("messaging.message__text.json", ("messaging", "sender")),
            ("messaging.message__text.json", ("messaging", "timestamp")),
        ],
    )
    def test_malformed_events_say_what_is_missing(self, name: str, path: tuple[str, str]) -> None:
        body = delivery(name)
        entry = body["entry"][0]
        if path[0] == "changes":
            del entry["changes"][0]["value"][path[1]]
        else:
            del entry["messaging"][0][path[1]]
            entry.pop("time")
        with pytest.raises(MalformedEventError, match=path[1]):
            self.connector.parse(only_event(body))
