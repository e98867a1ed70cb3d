"""Rich text for Bluesky posts: facets and record keys. Pure functions, no I/O.

A post's links and mentions are not markup in its text but *facets*: ranges of the text given in
UTF-8 **bytes** (start inclusive, end exclusive) with what they point at (a DID for a mention, a
full URI for a link). Python indexes strings by code point, so every range is converted; an
emoji or an accented letter before a link shifts its byte range, not its code-point range.
https://docs.bsky.app/docs/advanced-guides/post-richtext
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from socialdesk.connectors.base import JSON

MENTION_FEATURE = "app.bsky.richtext.facet#mention"
LINK_FEATURE = "app.bsky.richtext.facet#link"

# A handle is a domain name: dot-separated labels of letters, digits and inner hyphens, at
# least two labels, the last starting with a letter (atproto "Handle" syntax). A mention is
# "@" + handle at the start of the text or after a space or an opening bracket, and not
# followed by more name characters (so "@shop.example's" mentions shop.example).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TLD = r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_MENTION = re.compile(rf"(?<![^\s(\[])@((?:{_LABEL}\.)+{_TLD})(?![\w-])")
# A link is an http(s) URL up to the next space; trailing punctuation that ends the sentence is
# not part of it (trimmed below).
_LINK = re.compile(r"(?<![^\s(\[])https?://[^\s<>\"]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\"\u201d\u2019\u00bb"  # ASCII and typographic closing quotes
MAX_HANDLE_LENGTH = 253


@dataclass(frozen=True, slots=True)
class Span:
    """A mention or link found in text, in code points (``start``/``end``) for Python and in
    UTF-8 bytes (``byte_start``/``byte_end``) for the facet."""

    kind: str  # "mention" | "link"
    start: int
    end: int
    byte_start: int
    byte_end: int
    value: str  # the handle (without "@") or the URL


def utf8_offset(text: str, index: int) -> int:
    """The UTF-8 byte offset of code point ``index`` in ``text``."""
    return len(text[:index].encode("utf-8"))


def _trim_link(url: str) -> str:
    while url and url[-1] in _TRAILING:
        url = url[:-1]
    # A closing bracket belongs to the URL only when the URL opened it (Wikipedia-style links).
    while url.endswith(")") and url.count(")") > url.count("("):
        url = url[:-1]
        while url and url[-1] in _TRAILING:
            url = url[:-1]
    return url


def find_spans(text: str) -> list[Span]:
    """Mentions and links in ``text``, in order. A mention inside a link is part of the link."""
    spans: list[Span] = []
    links: list[tuple[int, int]] = []
    for match in _LINK.finditer(text):
        url = _trim_link(match.group(0))
        if len(url) <= len("https://"):
            continue
        start, end = match.start(), match.start() + len(url)
        links.append((start, end))
        spans.append(
            Span("link", start, end, utf8_offset(text, start), utf8_offset(text, end), url)
        )
    for match in _MENTION.finditer(text):
        start, end = match.start(), match.end()
        handle = match.group(1)
        if len(handle) > MAX_HANDLE_LENGTH or any(s <= start < e for s, e in links):
            continue
        spans.append(
            Span("mention", start, end, utf8_offset(text, start), utf8_offset(text, end), handle)
        )
    spans.sort(key=lambda s: s.start)
    return spans


def build_facets(text: str, resolve_handle: Callable[[str], str | None]) -> list[JSON]:
    """The ``facets`` of a post with ``text``. ``resolve_handle`` turns a handle into its DID,
    or None when no account has it; such a mention stays plain text, as in Bluesky's own app."""
    facets: list[JSON] = []
    for span in find_spans(text):
        if span.kind == "link":
            feature: JSON = {"$type": LINK_FEATURE, "uri": span.value}
        else:
            did = resolve_handle(span.value.lower())
            if did is None:
                continue
            feature = {"$type": MENTION_FEATURE, "did": did}
        facets.append(
            {
                "index": {"byteStart": span.byte_start, "byteEnd": span.byte_end},
                "features": [feature],
            }
        )
    return facets


def facet_text(text: str, facet: JSON) -> str | None:
    """The part of ``text`` a facet covers, or None when its byte range does not fit the text."""
    index = facet.get("index")
    if not isinstance(index, dict):
        return None
    start, end = index.get("byteStart"), index.get("byteEnd")
    data = text.encode("utf-8")
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= len(data)):
        return None
    try:
        return data[start:end].decode("utf-8")
    except UnicodeDecodeError:
        return None


# Record keys.

_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_TID_EPOCH = datetime(2023, 1, 1, tzinfo=UTC)
_TID_SPAN_BITS = 45  # about 407 days of microseconds


def tid_for(key: str) -> str:
    """A record key (a TID: 13 characters of sortable base32 holding microseconds since the
    epoch and a 10-bit clock id) derived from ``key`` alone.

    Sending the reply under a key derived from the desk's idempotency key makes a retried send
    safe: the server refuses a second record with the same key instead of publishing the reply
    twice. The time part is taken from the hash, inside a fixed window in the past (2023-2024)
    so it is never in the future; clients order posts by ``createdAt``, not by record key.
    """
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    micros = int(_TID_EPOCH.timestamp()) * 1_000_000 + (
        int.from_bytes(digest[:8], "big") % (1 << _TID_SPAN_BITS)
    )
    clock_id = int.from_bytes(digest[8:10], "big") % 1024
    value = (micros << 10) | clock_id
    return "".join(_TID_ALPHABET[(value >> (5 * (12 - i))) & 31] for i in range(13))


_TID_RE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


def is_tid(value: str) -> bool:
    return bool(_TID_RE.match(value))
