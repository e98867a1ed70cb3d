"""The webhook handshake, delivery signatures, and splitting deliveries into events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import socialdesk.connectors.facebook as facebook_pkg
from socialdesk.connectors.facebook import FacebookConnector, webhook
from tests.connectors.contract import RECEIVED_AT

FIXTURES = Path(facebook_pkg.__file__).parent / "fixtures"
SECRET = "0123456789abcdef0123456789abcdef"


def test_the_subscription_handshake_echoes_the_challenge_for_our_token() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "s3cret", "hub.challenge": "1158201444"}
    assert webhook.verify_subscription(params, "s3cret") == "1158201444"


@pytest.mark.parametrize(
    ("params", "token"),
    [
        ({"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"}, "s3cret"),
        ({"hub.mode": "unsubscribe", "hub.verify_token": "s3cret", "hub.challenge": "1"}, "s3cret"),
        ({"hub.mode": "subscribe", "hub.verify_token": "s3cret"}, "s3cret"),
        ({"hub.mode": "subscribe", "hub.challenge": "1"}, "s3cret"),
        ({"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}, ""),
    ],
    ids=["wrong token", "wrong mode", "no challenge", "no token", "no token configured"],
)
def test_the_handshake_is_refused_otherwise(params: dict[str, str], token: str) -> None:
    assert webhook.verify_subscription(params, token) is None


def test_the_signature_is_hmac_sha256_of_the_raw_body() -> None:
    # The widely published HMAC-SHA256 example (key "key", the "quick brown fox" sentence).
    body = b"The quick brown fox jumps over the lazy dog"
    expected = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    assert webhook.signature_for(body, "key") == f"sha256={expected}"
    assert webhook.verify_signature({"X-Hub-Signature-256": f"sha256={expected}"}, body, "key")


def test_signed_fixture_deliveries_verify_in_any_header_case() -> None:
    body = (FIXTURES / "feed.comment.add__top_level.json").read_bytes()
    signature = webhook.signature_for(body, SECRET)
    for name in ("X-Hub-Signature-256", "x-hub-signature-256", "X-HUB-SIGNATURE-256"):
        assert webhook.verify_signature({name: signature}, body, SECRET)
    connector = FacebookConnector()
    assert connector.verify_signature(
        headers={"x-hub-signature-256": signature}, body=body, secret=SECRET
    )


@pytest.mark.parametrize(
    ("headers", "body", "secret"),
    [
        ({}, b"{}", SECRET),
        ({"X-Hub-Signature-256": "sha1=abc"}, b"{}", SECRET),
        ({"X-Hub-Signature-256": webhook.signature_for(b"{}", "other")}, b"{}", SECRET),
        ({"X-Hub-Signature-256": webhook.signature_for(b"{}", SECRET)}, b"{} ", SECRET),
        ({"X-Hub-Signature-256": webhook.signature_for(b"{}", SECRET)}, b"{}", ""),
        ({"X-Hub-Signature": webhook.signature_for(b"{}", SECRET)}, b"{}", SECRET),
    ],
    ids=["missing", "sha1 only", "other secret", "body changed", "no secret", "old header"],
)
def test_deliveries_that_do_not_verify(headers: dict[str, str], body: bytes, secret: str) -> None:
    assert not webhook.verify_signature(headers, body, secret)


@given(st.binary(max_size=200), st.binary(min_size=1, max_size=200))
def test_any_change_to_the_body_breaks_the_signature(body: bytes, extra: bytes) -> None:
    signature = webhook.signature_for(body, SECRET)
    assert webhook.verify_signature({"X-Hub-Signature-256": signature}, body, SECRET)
    assert not webhook.verify_signature({"X-Hub-Signature-256": signature}, body + extra, SECRET)


def test_a_delivery_with_several_entries_gives_one_event_per_item() -> None:
    comment = json.loads((FIXTURES / "feed.comment.add__top_level.json").read_text())
    message = json.loads((FIXTURES / "messaging.message__text.json").read_text())
    read = json.loads((FIXTURES / "messaging.read__receipt.json").read_text())
    delivery = {
        "object": "page",
        "entry": [
            {**comment["entry"][0], "changes": comment["entry"][0]["changes"] * 2},
            {**message["entry"][0], "standby": read["entry"][0]["messaging"]},
        ],
    }
    events = webhook.events_from_delivery(json.dumps(delivery).encode(), received_at=RECEIVED_AT)
    assert [e.kind for e in events] == [
        "feed.comment.add",
        "feed.comment.add",
        "messaging.message",
        "messaging.read",
    ]
    assert events[0].payload["page_id"] == comment["entry"][0]["id"]
    assert events[0].payload["value"] == comment["entry"][0]["changes"][0]["value"]
    assert events[2].payload["messaging"] == message["entry"][0]["messaging"][0]
    assert all(e.received_at == RECEIVED_AT for e in events)
    assert webhook.page_ids(delivery) == [comment["entry"][0]["id"]] * 2


def test_event_ids_are_stable_and_distinct() -> None:
    names = sorted(p.name for p in FIXTURES.glob("*.json"))
    ids = []
    for name in names:
        body = (FIXTURES / name).read_bytes()
        [first] = webhook.events_from_delivery(body, received_at=RECEIVED_AT)
        [again] = webhook.events_from_delivery(body, received_at=RECEIVED_AT)
        assert first.native_id == again.native_id
        ids.append(first.native_id)
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"object": "instagram", "entry": []}'],
    ids=["not json", "not an object", "not a page"],
)
def test_what_is_not_a_page_delivery_is_refused(body: bytes) -> None:
    with pytest.raises(webhook.MalformedDelivery):
        webhook.events_from_delivery(body, received_at=RECEIVED_AT)
