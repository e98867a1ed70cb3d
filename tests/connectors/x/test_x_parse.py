"""Parsing recorded X API v2 traffic (fixtures from tweepy's cassettes).

The recordings were made by a client that asked for no optional fields, so they hold a post's
id and text but not its author, time or references. Parsing them must fail with a clear error
naming the missing field (the poller always requests them). The full path is tested on the same
recorded posts with the fields the poller requests added, shaped as X documents them.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

import socialdesk.connectors.x as x_pkg
from socialdesk.connectors.base import Connector, RawEvent, Visibility
from socialdesk.connectors.x import XConnector
from socialdesk.connectors.x.parse import (
    ANNOTATION,
    MalformedEventError,
    dm_kind,
    event_native_id,
    post_text,
    snowflake_time,
    split_page,
)
from tests.connectors.contract import RECEIVED_AT, ConnectorContract, fixture_paths
from tests.connectors.fake_http import recorded

FIXTURES = Path(x_pkg.__file__).parent / "fixtures"
CUSTOMER = {"id": "2244994945", "name": "Customer Name", "username": "customer"}


def event(kind: str, payload: dict[str, Any]) -> RawEvent:
    return RawEvent(
        native_id=event_native_id(kind, payload),
        kind=kind,
        payload=payload,
        received_at=RECEIVED_AT,
    )


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def with_requested_fields(name: str, **fields: Any) -> dict[str, Any]:
    """A recorded post with the fields and expansions the poller asks X for."""
    payload = copy.deepcopy(load(name))
    payload["data"].update({"author_id": CUSTOMER["id"], **fields})
    payload["includes"] = {"users": [CUSTOMER]}
    return payload


class TestXParse(ConnectorContract):
    connector: ClassVar[Connector] = XConnector()
    fixtures: ClassVar[Path] = FIXTURES

    def event_from_fixture(self, path: Path, kind: str) -> RawEvent:
        return event(kind, json.loads(path.read_text(encoding="utf-8")))

    @pytest.mark.parametrize("path", fixture_paths(FIXTURES), ids=lambda p: p.name)
    def test_recorded_payloads_without_author_name_the_missing_field(self, path: Path) -> None:
        missing = "sender_id" if path.name.startswith("dm.") else "author_id"
        with pytest.raises(MalformedEventError, match=f"has no {missing}: request it"):
            self.parse_fixture(path.name)

    def test_mention(self) -> None:
        payload = with_requested_fields(
            "mention__complaint_with_link.json",
            created_at="2022-10-07T22:43:12.000Z",
            conversation_id="1578516295611748353",
            referenced_tweets=[{"type": "replied_to", "id": "1578500000000000000"}],
        )
        [message] = self.connector.parse(event("mention", payload))
        assert message.native_id == "1578516295611748353"
        assert message.text.startswith("@Twitter @TwitterSupport this is my ENTIRE feed")
        assert message.author.native_id == "2244994945"
        assert message.author.handle == "customer"
        assert message.author.display_name == "Customer Name"
        assert message.created_at == datetime(2022, 10, 7, 22, 43, 12, tzinfo=UTC)
        assert message.visibility is Visibility.PUBLIC
        assert message.reply_to_native_id == "1578500000000000000"
        assert message.thread_key is None
        assert message.raw["conversation_id"] == "1578516295611748353"
        assert message.raw["url"] == "https://x.com/customer/status/1578516295611748353"
        assert message.from_brand is False

    def test_time_falls_back_to_the_id(self) -> None:
        payload = with_requested_fields("mention__feature_request_emoji.json")
        [message] = self.connector.parse(event("mention", payload))
        assert message.created_at == snowflake_time("1578516220231397376")
        assert message.text == "@Twitter make \U0001f928 an available reaction emoji in dms"

    def test_quote_is_not_a_reply(self) -> None:
        payload = with_requested_fields(
            "mention__mention_at_the_end.json",
            referenced_tweets=[{"type": "quoted", "id": "1578500000000000001"}],
        )
        [message] = self.connector.parse(event("mention", payload))
        assert message.reply_to_native_id is None

    def test_author_without_profile_keeps_the_id(self) -> None:
        payload = with_requested_fields("tweet__lookup.json")
        del payload["includes"]
        [message] = self.connector.parse(event("tweet", payload))
        assert message.author.native_id == "2244994945"
        assert message.author.handle is None
        assert "url" not in message.raw

    def test_brand_post_is_recognised(self) -> None:
        payload = with_requested_fields("tweet__lookup.json")
        payload[ANNOTATION] = {"brand_user_id": CUSTOMER["id"]}
        [message] = self.connector.parse(event("tweet", payload))
        assert message.from_brand is True

    def test_a_reply_to_the_brands_own_post_says_so(self) -> None:
        brand = "1072250532645998596"
        payload = with_requested_fields(
            "mention__complaint_with_link.json",
            referenced_tweets=[{"type": "replied_to", "id": "1578516000000000000"}],
            in_reply_to_user_id=brand,
        )
        payload[ANNOTATION] = {"brand_user_id": brand}
        [message] = self.connector.parse(event("mention", payload))
        assert message.reply_to_native_id == "1578516000000000000"
        assert (message.reply_to_brand, message.from_brand) == (True, False)
        payload["data"]["in_reply_to_user_id"] = "99"  # someone else's post
        [message] = self.connector.parse(event("mention", payload))
        assert message.reply_to_brand is False

    def test_direct_message(self) -> None:
        payload = copy.deepcopy(load("dm.message_create__conversation_lookup.json"))
        payload["data"].update(
            {
                "sender_id": "750362064426721281",
                "dm_conversation_id": "750362064426721281-1072250532645998596",
            }
        )
        payload[ANNOTATION] = {"brand_user_id": "1072250532645998596"}
        [message] = self.connector.parse(event("dm.message_create", payload))
        assert message.native_id == "1585800613253812228"
        assert message.text == "Testing 1"
        assert message.visibility is Visibility.DIRECT
        assert message.thread_key == "750362064426721281-1072250532645998596"
        assert message.author.native_id == "750362064426721281"
        assert message.from_brand is False
        assert message.created_at == datetime(2022, 10, 28, 1, 8, 23, 607000, tzinfo=UTC)

    def test_direct_message_without_conversation_is_malformed(self) -> None:
        payload = copy.deepcopy(load("dm.message_create__conversation_lookup.json"))
        payload["data"]["sender_id"] = "750362064426721281"
        with pytest.raises(MalformedEventError, match="dm_conversation_id"):
            self.connector.parse(event("dm.message_create", payload))

    def test_event_without_data_is_malformed(self) -> None:
        with pytest.raises(MalformedEventError, match="no data"):
            self.connector.parse(event("mention", {"errors": []}))


def test_snowflake_time_matches_the_recorded_post_times() -> None:
    # The recorded search results are posts whose text is the time they were written.
    assert snowflake_time("1578516068309794817") == datetime(
        2022, 10, 7, 22, 42, 12, 752000, tzinfo=UTC
    )
    # The X API v2 announcement of 12 August 2020.
    assert snowflake_time("1293593516040269825").date().isoformat() == "2020-08-12"


def test_split_page_gives_one_event_per_recorded_post() -> None:
    page = recorded(FIXTURES / "responses" / "mentions_page.json").json()
    items = split_page(page, kind="mention")
    assert len(items) == 10
    assert {kind for kind, _ in items} == {"mention"}
    assert [p["data"]["id"] for _, p in items] == [t["id"] for t in page["data"]]
    assert all("includes" not in p for _, p in items)


def test_split_page_hands_each_post_its_own_users_and_references() -> None:
    page = {
        "data": [
            {
                "id": "2",
                "text": "a",
                "author_id": "10",
                "referenced_tweets": [{"type": "replied_to", "id": "1"}],
            },
            {"id": "3", "text": "b", "author_id": "11"},
        ],
        "includes": {
            "users": [
                {"id": "10", "username": "ten"},
                {"id": "11", "username": "eleven"},
                {"id": "12", "username": "twelve"},
            ],
            "tweets": [{"id": "1", "text": "parent", "author_id": "12"}],
        },
    }
    (_, first), (_, second) = split_page(page, kind="mention")
    assert [u["id"] for u in first["includes"]["users"]] == ["10", "12"]
    assert first["includes"]["tweets"] == [{"id": "1", "text": "parent", "author_id": "12"}]
    assert second["includes"] == {"users": [{"id": "11", "username": "eleven"}]}


def test_split_page_of_recorded_direct_messages() -> None:
    page = recorded(FIXTURES / "responses" / "dm_conversation_events.json").json()
    items = split_page(page, kind="dm")
    assert [(k, p["data"]["text"]) for k, p in items] == [
        ("dm.message_create", "Testing 2"),
        ("dm.message_create", "Testing 1"),
    ]


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("MessageCreate", "dm.message_create"),
        ("ParticipantsJoin", "dm.participants_join"),
        ("ParticipantsLeave", "dm.participants_leave"),
    ],
)
def test_dm_kinds(event_type: str, kind: str) -> None:
    assert dm_kind(event_type) == kind


def test_post_text_expands_links_and_unescapes() -> None:
    tweet = {
        "text": "Fish &amp; chips &lt;3 https://t.co/abc https://t.co/pic",
        "entities": {
            "urls": [
                {"url": "https://t.co/abc", "expanded_url": "https://shop.example/order/1"},
                {
                    "url": "https://t.co/pic",
                    "expanded_url": "https://x.com/c/status/1/photo/1",
                    "media_key": "3_1",
                },
            ]
        },
    }
    assert post_text(tweet) == "Fish & chips <3 https://shop.example/order/1 https://t.co/pic"


def test_long_post_reads_its_note_text() -> None:
    tweet = {"text": "truncated…", "note_tweet": {"text": "the whole long post"}}
    assert post_text(tweet) == "the whole long post"
