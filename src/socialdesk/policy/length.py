"""Counting a post's length the way each network counts it.

- **X** (``x_weighted``): X's weighted length, as published in X's developer documentation
  ("Counting characters") and implemented by ``twitter-text`` v3: text is NFC-normalised; code
  points in U+0000-U+10FF, U+2000-U+200D, U+2010-U+201F and U+2032-U+2037 weigh 1, every other
  code point weighs 2 (CJK, most symbols); a whole emoji sequence (family, flag, skin tone,
  keycap) weighs 2; every link weighs 23 whatever its length. The limit is 280.
- **Bluesky** (``graphemes``): user-perceived characters (Unicode extended grapheme clusters),
  limit 300. A family emoji is one.
- **Mastodon** (``mastodon``): what Mastodon's ``StatusLengthValidator`` counts: grapheme
  clusters, after every ``http(s)://`` link is replaced by 23 characters and every remote
  mention ``@user@domain`` by ``@user``. Default limit 500 (instances may raise it).
- **characters**: Unicode code points.
- **none**: no limit (email); the count is code points, for display.

Why not the ``twitter-text-parser`` package that ports ``twitter-text`` to Python: its emoji
table stops at Unicode 12 (2019), so newer emoji sequences are over-counted; it imports
``pkg_resources``, which recent setuptools removed and uv-built environments do not have; and it
takes about 1.1 ms for one 280-character post, more than the whole policy check may take. The
tests compare this counter with it when it is installed: on 20,000 random drafts of words,
emoji, CJK and links separated by spaces the two agreed on every one; they can differ when a
link is glued to letters of another script ("éhttps://x.org"), where X's own rules are murky.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import regex

from socialdesk.connectors.base import ChannelKind, LengthCounting, Visibility
from socialdesk.policy.entities import MENTION, find_urls

X_URL_WEIGHT = 23
MASTODON_URL_LENGTH = 23

_GRAPHEME = regex.compile(r"\X")
# A grapheme cluster that is an emoji: it holds a pictograph, a flag letter or a keycap mark.
_EMOJI_PART = regex.compile(r"[\p{Extended_Pictographic}\p{Regional_Indicator}\u20e3]")
# Code points X weighs 1 (twitter-text v3 configuration); everything else weighs 2.
_X_HEAVY_CHAR = re.compile(r"[^\u0000-\u10ff\u2000-\u200d\u2010-\u201f\u2032-\u2037]")
# A grapheme cluster that ends in a pictograph, flag letter or keycap mark, possibly followed by
# modifiers, variation selectors, joiners or tags: an emoji. Matching them in the regex engine
# keeps the common case (no emoji) free of a Python loop over every character.
_EMOJI_CLUSTER = regex.compile(
    r"\X(?<=[\p{Extended_Pictographic}\p{Regional_Indicator}\u20e3][\p{M}\p{Cf}\p{Sk}]*)"
)


@dataclass(frozen=True, slots=True)
class ChannelLength:
    """How a channel counts and its limit for one visibility (``None``: no limit)."""

    counting: LengthCounting
    limit: int | None


# Public posts and replies. The connectors' capabilities say the same; this table is what the
# checker falls back to and what the CLI shows.
_PUBLIC: dict[ChannelKind, ChannelLength] = {
    ChannelKind.X: ChannelLength(LengthCounting.X_WEIGHTED, 280),
    ChannelKind.BLUESKY: ChannelLength(LengthCounting.GRAPHEMES, 300),
    ChannelKind.MASTODON: ChannelLength(LengthCounting.MASTODON, 500),
    # A Facebook page comment.
    ChannelKind.FACEBOOK: ChannelLength(LengthCounting.CHARACTERS, 8000),
    ChannelKind.EMAIL: ChannelLength(LengthCounting.NONE, None),
    ChannelKind.WEB: ChannelLength(LengthCounting.NONE, None),
}
# Private messages where the network's limit differs from its public one.
_DIRECT: dict[ChannelKind, ChannelLength] = {
    ChannelKind.X: ChannelLength(LengthCounting.CHARACTERS, 10_000),  # X direct messages
    ChannelKind.BLUESKY: ChannelLength(LengthCounting.GRAPHEMES, 1000),  # chat.bsky messages
    ChannelKind.FACEBOOK: ChannelLength(LengthCounting.CHARACTERS, 2000),  # Messenger
}


def channel_length(
    channel: ChannelKind, visibility: Visibility = Visibility.PUBLIC
) -> ChannelLength:
    """How ``channel`` counts and its limit. Internal notes are never sent: no limit."""
    if visibility is Visibility.NOTE:
        return ChannelLength(LengthCounting.NONE, None)
    if visibility is Visibility.DIRECT and channel in _DIRECT:
        return _DIRECT[channel]
    return _PUBLIC[channel]


def limit_for(channel: ChannelKind, visibility: Visibility = Visibility.PUBLIC) -> int | None:
    """The length limit of ``channel`` for ``visibility`` (``None``: no limit)."""
    return channel_length(channel, visibility).limit


def counting_for(
    channel: ChannelKind, visibility: Visibility = Visibility.PUBLIC
) -> LengthCounting:
    return channel_length(channel, visibility).counting


def count(text: str, counting: LengthCounting) -> int:
    """The length of ``text`` as a network counting by ``counting`` sees it."""
    if counting is LengthCounting.X_WEIGHTED:
        return _x_weighted(text)
    if counting is LengthCounting.GRAPHEMES:
        return _graphemes(text)
    if counting is LengthCounting.MASTODON:
        return _mastodon(text)
    return len(text)


def _graphemes(text: str) -> int:
    if text.isascii():
        # Only CR LF joins two ASCII characters into one grapheme.
        return len(text) - text.count("\r\n")
    return sum(1 for _ in _GRAPHEME.finditer(text))


def _x_segment(segment: str) -> int:
    if segment.isascii():
        return len(segment)
    total = len(segment) + len(_X_HEAVY_CHAR.findall(segment))
    if _EMOJI_PART.search(segment):
        # Every code point was weighed on its own above; a whole emoji weighs 2.
        for m in _EMOJI_CLUSTER.finditer(segment):
            cluster = m.group()
            total += 2 - len(cluster) - len(_X_HEAVY_CHAR.findall(cluster))
    return total


def _x_crossing(segment: str, budget: int) -> int:
    """The offset in ``segment`` (no links) of the first character past ``budget``. One pass
    with the weights found by the regex engine; an emoji is never cut in two."""
    heavy = {m.start() for m in _X_HEAVY_CHAR.finditer(segment)}
    emoji: dict[int, int] = {}
    if _EMOJI_PART.search(segment):
        emoji = {m.start(): m.end() for m in _EMOJI_CLUSTER.finditer(segment)}
    total = 0
    index = 0
    size = len(segment)
    while index < size:
        end = emoji.get(index)
        if end is not None:
            weight, following = 2, end
        else:
            weight, following = (2 if index in heavy else 1), index + 1
        if total + weight > budget:
            return index
        total += weight
        index = following
    return size


def _x_overflow(text: str, budget: int) -> int:
    """The offset of the first character of ``text`` past an X weight of ``budget``."""
    pos = 0
    total = 0
    for link in [*find_urls(text), None]:
        segment = text[pos : link.start if link is not None else len(text)]
        weight = _x_segment(segment)
        if total + weight > budget:
            if segment.isascii():
                return pos + max(0, budget - total)
            return pos + _x_crossing(segment, budget - total)
        total += weight
        if link is None:
            break
        if total + X_URL_WEIGHT > budget:
            return link.start
        total += X_URL_WEIGHT
        pos = link.end
    return len(text)


def _x_weighted(text: str) -> int:
    text = unicodedata.normalize("NFC", text)
    # twitter-text counts a CR LF line break as one character.
    text = text.replace("\r\n", "\n")
    total = 0
    pos = 0
    for link in find_urls(text):
        total += _x_segment(text[pos : link.start]) + X_URL_WEIGHT
        pos = link.end
    return total + _x_segment(text[pos:])


def _mastodon(text: str) -> int:
    # Rewrite the text the way Mastodon does before counting: links become 23 placeholder
    # characters and a remote mention keeps only "@user".
    parts: list[str] = []
    pos = 0
    for link in find_urls(text, require_protocol=True):
        parts.append(_drop_mention_domains(text[pos : link.start]))
        parts.append("x" * MASTODON_URL_LENGTH)
        pos = link.end
    parts.append(_drop_mention_domains(text[pos:]))
    return _graphemes("".join(parts))


def _drop_mention_domains(segment: str) -> str:
    if "@" not in segment:
        return segment
    return MENTION.sub(lambda m: "@" + m.group("user"), segment)


def overflow_start(text: str, counting: LengthCounting, limit: int, *, suffix: str = "") -> int:
    """The first offset in ``text`` from which ``text + suffix`` is over ``limit``.

    Used to highlight what does not fit. X's weights are walked once; other countings use a
    binary search on prefixes (counts are not strictly monotonic around links, so the answer is
    the smallest prefix found to overflow). Always within ``0..len(text)``.
    """
    # X counts NFC-normalised text; text that normalisation would change (decomposed accents)
    # takes the slower search below, so offsets stay in the text as written.
    if counting is LengthCounting.X_WEIGHTED and unicodedata.is_normalized("NFC", text):
        return min(len(text), _x_overflow(text, limit - count(suffix, counting)))
    low, high = 0, len(text)
    while low < high:
        mid = (low + high) // 2
        if count(text[:mid] + suffix, counting) > limit:
            high = mid
        else:
            low = mid + 1
    return max(0, low - 1)


SIGNATURE_MAX = 20
_SIGNATURE_JUNK = re.compile(r"[\s\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e]+")


def clean_signature(signature: str | None) -> str:
    """The signature as it will be written: no spaces or control characters, no leading caret,
    at most 20 characters. Empty when there is nothing to sign with."""
    if not signature:
        return ""
    cleaned = _SIGNATURE_JUNK.sub("", signature).lstrip("^")
    return cleaned[:SIGNATURE_MAX]


def sign(text: str, signature: str | None) -> str:
    """Append the agent's signature the way the send gateway does: trailing white space of the
    draft is dropped, then a space, a caret and the signature (``"Thanks! ^JD"``). Without a
    signature the draft is sent as it is."""
    cleaned = clean_signature(signature)
    if not cleaned:
        return text
    return f"{text.rstrip()} ^{cleaned}"


def signature_suffix(text: str, signature: str | None) -> str:
    """What :func:`sign` adds after the draft's trimmed text (for counting and overflow)."""
    cleaned = clean_signature(signature)
    return f" ^{cleaned}" if cleaned else ""
