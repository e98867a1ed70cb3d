"""Length as each network counts it: X's weighted length, Bluesky graphemes, Mastodon."""

from __future__ import annotations

import importlib

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from socialdesk.connectors.base import ChannelKind, LengthCounting, Visibility
from socialdesk.policy.entities import find_urls
from socialdesk.policy.length import (
    channel_length,
    clean_signature,
    count,
    limit_for,
    overflow_start,
    sign,
)

X = LengthCounting.X_WEIGHTED
BSKY = LengthCounting.GRAPHEMES
MASTO = LengthCounting.MASTODON


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("hello", 5),
        ("a" * 280, 280),
        # X's documentation example: mixed text, CJK, an emoji and a link.
        ("english text 日本語 😷 https://example.com", 46),
        # Every link weighs 23, long or short, with or without a protocol.
        ("https://example.com/" + "a" * 100, 23),
        ("x.com", 23),
        ("see example.com/path?q=1 now", 4 + 23 + 4),
        ("http://localhost", 16),  # no public top-level domain: not a link
        ("file.txt and index.html", 23),
        ("user@example.com", 16),  # an address is not a link
        # CJK, Hangul and full-width forms weigh 2 each.
        ("日本語", 6),
        ("한국어", 6),
        ("ＡＢＣ", 6),  # noqa: RUF001 - full-width letters are the point
        # Latin with accents, general punctuation and quotes weigh 1.
        ("café", 4),
        ("e\u0301", 1),  # NFC composes it first
        ("‘quoted’ — “dash”", 17),  # noqa: RUF001 - typographic quotes are the point
        ("…", 2),  # U+2026 is outside the light ranges
        # Emoji weigh 2, however many code points make them.
        ("😷", 2),
        ("👍🏽", 2),
        ("👨‍👩‍👧‍👦", 2),
        ("🏳️‍🌈", 2),
        ("🇫🇷", 2),
        ("#️⃣", 2),
        ("🫠", 2),
        ("a\r\nb", 3),  # CR LF is one line break
    ],
)
def test_x_weighted_length(text: str, expected: int) -> None:
    assert count(text, X) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", 5),
        ("👨‍👩‍👧‍👦", 1),  # a family is one grapheme
        ("🇫🇷🇩🇪", 2),
        ("e\u0301", 1),
        ("नमस्ते", 3),
        ("a\r\nb", 3),
        ("https://example.com/" + "a" * 100, 120),  # Bluesky counts links in full
    ],
)
def test_bluesky_graphemes(text: str, expected: int) -> None:
    assert count(text, BSKY) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", 5),
        ("@alice@mastodon.social thanks", len("@alice thanks")),
        ("@alice thanks", len("@alice thanks")),
        ("https://example.com/" + "a" * 100, 23),
        ("see http://a.example.org/x and https://b.example.org/y", 4 + 23 + 5 + 23),
        ("example.com", 11),  # Mastodon links only text with a protocol
        ("mail me: bob@example.com", 24),  # an address is not a mention
        ("👨‍👩‍👧‍👦", 1),
    ],
)
def test_mastodon_length(text: str, expected: int) -> None:
    assert count(text, MASTO) == expected


def test_characters_and_none_count_code_points() -> None:
    assert count("👨‍👩‍👧‍👦", LengthCounting.CHARACTERS) == 7
    assert count("abc", LengthCounting.NONE) == 3


def test_limits_per_channel() -> None:
    assert limit_for(ChannelKind.X) == 280
    assert limit_for(ChannelKind.BLUESKY) == 300
    assert limit_for(ChannelKind.MASTODON) == 500
    assert limit_for(ChannelKind.EMAIL) is None
    assert limit_for(ChannelKind.X, Visibility.DIRECT) == 10_000
    assert limit_for(ChannelKind.X, Visibility.NOTE) is None
    assert channel_length(ChannelKind.X).counting is X
    assert channel_length(ChannelKind.MASTODON, Visibility.DIRECT).limit == 500


def test_signature_format() -> None:
    assert sign("Thanks for waiting!", "JD") == "Thanks for waiting! ^JD"
    assert sign("Thanks!  \n", "^JD") == "Thanks! ^JD"
    assert sign("Thanks!", None) == "Thanks!"
    assert sign("Thanks!", "  ") == "Thanks!"
    assert clean_signature("J D\n") == "JD"
    assert len(clean_signature("x" * 50)) == 20


def test_overflow_start_marks_what_does_not_fit() -> None:
    text = "a" * 300
    assert overflow_start(text, X, 280) == 280
    assert overflow_start(text, X, 280, suffix=" ^JD") == 276


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("(see https://en.wikipedia.org/wiki/Foo_(bar))", [(5, 44)]),
        ("visit https://example.com/path?x=1&y=2. ok", [(6, 38)]),
        ("x.com/a.", [(0, 7)]),
        ("example.com?q=1", [(0, 11)]),
        ("a.b.c.com.", [(0, 9)]),
        ("日本語example.com", [(3, 14)]),
        ("https://例え.jp", [(0, 13)]),
        ("#example.com @example.com $example.com", []),
        ("https://ex_ample.com", []),
    ],
)
def test_links_follow_x_rules(text: str, spans: list[tuple[int, int]]) -> None:
    assert [(link.start, link.end) for link in find_urls(text)] == spans


# -- properties ---------------------------------------------------------------------------

_ANY_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=300)


@settings(max_examples=400, deadline=None)
@given(_ANY_TEXT)
def test_counters_never_raise_and_stay_within_bounds(text: str) -> None:
    graphemes = count(text, BSKY)
    assert 0 <= graphemes <= len(text)
    assert count(text, MASTO) >= 0
    assert count(text, X) >= 0
    assert count(text, LengthCounting.CHARACTERS) == len(text)
    if text:
        assert graphemes >= 1


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii"), max_size=200))
def test_ascii_without_links_weighs_its_length_on_x(text: str) -> None:
    assume(not find_urls(text))
    assert count(text, X) == len(text.replace("\r\n", "\n"))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "é", "日", "😷", "👍🏽", " ", "🇫🇷", "\n"]), max_size=60),
    st.lists(st.sampled_from(["a", "é", "日", "😷", "👍🏽", " ", "🇫🇷", "\n"]), max_size=60),
)
def test_x_length_adds_up_over_concatenation(left: list[str], right: list[str]) -> None:
    a, b = "".join(left), "".join(right)
    # Without links, joining two texts at a space never merges or splits weights.
    assert count(a + " " + b, X) == count(a, X) + 1 + count(b, X)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["@alice@example.social", "@bob", "hi", " ", "🇫🇷"]), max_size=30))
def test_mastodon_counts_remote_mentions_by_username(parts: list[str]) -> None:
    text = " ".join(parts)
    assert count(text, MASTO) == count(text.replace("@alice@example.social", "@alice"), BSKY)


# Words as people write them, separated by spaces. (Links glued to other letters, as in
# "éhttps://x.org", are counted differently by the port in corner cases; see length.py.)
_ORACLE_WORDS = st.sampled_from(
    ["hello", "Thanks!", "café", "日本語", "한국어", "—", "…", "😷", "👍🏽", "🇫🇷", "👨‍👩‍👧‍👦",
     "©", "example.com", "https://t.co/x", "http://a.org/p?q=1", "#help", "@user", "(see",
     "it)", "x.com/a.", "www.example.co.uk/path,", "bit.ly/abc?x=1", "file.txt", "3.5", "e.g.",
     "user@example.com", "HTTPS://EXAMPLE.COM/A_B", "Ω", "(https://en.wikipedia.org/wiki/A_(b))",
     "\n", "example.com?q=1.", "https://example.com:8080/x", "t.co"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_ORACLE_WORDS, max_size=30))
def test_x_length_agrees_with_the_twitter_text_port(parts: list[str]) -> None:
    try:
        twitter_text = importlib.import_module("twitter_text")
    except ImportError:
        pytest.skip("twitter-text-parser (test oracle) is not installed, or lacks pkg_resources")
    text = " ".join(parts)
    assert count(text, X) == twitter_text.parse_tweet(text).weightedLength


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(["a", "é", "e\u0301", "日", "😷", "👨‍👩‍👧‍👦", " ", "🇫🇷", "\n"]), max_size=80
    ),
    st.integers(0, 120),
    st.sampled_from(["", " ^JD"]),
)
def test_x_overflow_marks_the_first_character_that_does_not_fit(
    parts: list[str], limit: int, suffix: str
) -> None:
    text = "".join(parts)
    first_over = next(
        (k for k in range(len(text) + 1) if count(text[:k] + suffix, X) > limit), None
    )
    if first_over is None:
        return  # it fits
    assert overflow_start(text, X, limit, suffix=suffix) == max(0, first_over - 1)
