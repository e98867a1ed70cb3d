"""Facets (UTF-8 byte ranges of mentions and links) and record keys."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socialdesk.connectors.bluesky.richtext import (
    LINK_FEATURE,
    MENTION_FEATURE,
    build_facets,
    facet_text,
    find_spans,
    is_tid,
    tid_for,
    utf8_offset,
)

DIDS = {"alice.test": "did:plc:alice", "shop.example.com": "did:plc:shop"}


def resolve(handle: str) -> str | None:
    return DIDS.get(handle)


def test_byte_offsets_count_utf8_bytes_not_characters() -> None:
    text = "é 📦 @alice.test see https://a.example/x"
    [mention, link] = build_facets(text, resolve)
    # "é" is 2 bytes, the parcel emoji 4: the mention starts at byte 8, character 4.
    assert mention["index"] == {"byteStart": 8, "byteEnd": 19}
    assert mention["features"] == [{"$type": MENTION_FEATURE, "did": "did:plc:alice"}]
    assert link["features"] == [{"$type": LINK_FEATURE, "uri": "https://a.example/x"}]
    assert facet_text(text, mention) == "@alice.test"
    assert facet_text(text, link) == "https://a.example/x"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi @alice.test, thanks", ["alice.test"]),
        ("(@alice.test)", ["alice.test"]),
        ("@alice.test.", ["alice.test"]),
        ("@shop.example.com's order", ["shop.example.com"]),
        ("mail me at me@alice.test", []),  # an e-mail address is not a mention
        ("@localhost alone", []),  # a handle has at least two labels
        ("@alice.123", []),  # the last label starts with a letter
        ("@-bad.test", []),
    ],
)
def test_mentions(text: str, expected: list[str]) -> None:
    assert [s.value for s in find_spans(text) if s.kind == "mention"] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see https://a.example/x.", "https://a.example/x"),
        ("(https://a.example/x)", "https://a.example/x"),
        ("https://en.example/wiki/Foo_(bar)", "https://en.example/wiki/Foo_(bar)"),
        ("go to https://a.example/?q=1&r=2!", "https://a.example/?q=1&r=2"),
        ("“https://a.example/x”", None),  # not after a space: quoted text is left alone
    ],
)
def test_links(text: str, expected: str | None) -> None:
    links = [s.value for s in find_spans(text) if s.kind == "link"]
    assert links == ([expected] if expected else [])


def test_unknown_handles_stay_plain_text() -> None:
    assert build_facets("@nobody.test hello", resolve) == []


def test_a_handle_inside_a_link_is_part_of_the_link() -> None:
    spans = find_spans("https://a.example/@alice.test")
    assert [s.kind for s in spans] == ["link"]


@given(
    prefix=st.text(max_size=20).filter(lambda t: not t or t[-1].isspace()),
    suffix=st.text(max_size=20),
)
def test_facet_ranges_point_at_their_text(prefix: str, suffix: str) -> None:
    text = f"{prefix}@alice.test {suffix}"
    for facet in build_facets(text, resolve):
        covered = facet_text(text, facet)
        assert covered is not None
        assert covered.startswith(("@", "http"))
    start = len(prefix)
    assert utf8_offset(text, start) == len(prefix.encode("utf-8"))


def test_record_keys_are_stable_valid_tids() -> None:
    key = tid_for("did:plc:brand:socialdesk-42")
    assert key == tid_for("did:plc:brand:socialdesk-42")
    assert key != tid_for("did:plc:brand:socialdesk-43")
    assert is_tid(key)


@given(st.text(min_size=1, max_size=40))
def test_every_key_gives_a_tid_in_the_past(key: str) -> None:
    rkey = tid_for(key)
    assert is_tid(rkey)
    # The first character holds the highest time bits: 2023-2024 keys all start with "3".
    assert rkey[0] == "3"
