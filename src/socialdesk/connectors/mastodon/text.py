"""Mastodon's post HTML to plain text.

Mastodon delivers ``content`` as sanitised HTML: paragraphs (``<p>``), line breaks (``<br>``),
links whose visible text is split into spans (``<span class="invisible">https://</span>...``),
and, from other servers, lists, quotes and code blocks. Agents read plain text, so paragraphs and
line breaks become newlines and every link stays readable: a link whose text is not its address
(``<a href="https://x.example/a">the docs</a>``) keeps the address next to the text.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# HTML collapses these, and only these (not NBSP), into one space: HTML Living Standard,
# "ASCII whitespace".
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")
_BLOCKS = frozenset(
    {"p", "div", "blockquote", "pre", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6"}
)
_SKIPPED = frozenset({"script", "style", "template"})


class _Verbatim(str):
    """Text from a ``<pre>`` block: its spaces and line breaks are kept as they are."""

    __slots__ = ()


class _TextBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._pre = 0
        self._skip = 0
        # One entry per open <a>: its href, the text collected inside it, and whether it is a
        # mention or hashtag (whose text is the meaningful part, not the address).
        self._links: list[tuple[str, list[str], bool]] = []

    # Output goes to the innermost open link if there is one, else to the document.
    def _emit(self, text: str) -> None:
        if self._links:
            self._links[-1][1].append(text)
        else:
            self.out.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip += 1
        elif tag == "br":
            self._emit("\n")
        elif tag in _BLOCKS:
            self._emit("\n\n")
            if tag == "pre":
                self._pre += 1
            elif tag == "li":
                self._emit("- ")
        elif tag == "a":
            found = dict(attrs)
            classes = (found.get("class") or "").split()
            tagged = "mention" in classes or "hashtag" in classes
            self._links.append(((found.get("href") or "").strip(), [], tagged))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._emit("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS:
            if tag == "pre":
                self._pre = max(0, self._pre - 1)
            self._emit("\n\n")
        elif tag == "a" and self._links:
            href, parts, tagged = self._links.pop()
            self._emit(_render_link(href, "".join(parts), tagged=tagged))

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._pre:
            self._emit(_Verbatim(data))
        else:
            self._emit(_HTML_SPACE.sub(" ", data))


_TAG_OR_MENTION = re.compile(r"^[@#](\w[\w.@-]*)")


def _names_target(label: str, href: str) -> bool:
    """Whether ``label`` is a mention or hashtag of the page ``href`` points at."""
    found = _TAG_OR_MENTION.match(label)
    if found is None:
        return False
    name = found.group(1).split("@", 1)[0].lower()
    return name in href.lower()


def _render_link(href: str, text: str, *, tagged: bool) -> str:
    label = _HTML_SPACE.sub(" ", text).strip()
    # Mention and hashtag links show their name; a bare "#" or "@" is not one. Untagged, a
    # link whose label reads like one ("@ana") is one only when it points at that name (a
    # profile or tag page); "@0" linking elsewhere is an ordinary link and keeps its address.
    if not href or tagged or _names_target(label, href):
        return text
    if not label:
        return href
    bare = href.split("://", 1)[-1].rstrip("/")
    if label.rstrip("/") in {href.rstrip("/"), bare} or label.rstrip("…").rstrip("/") in bare:
        # Mastodon shows long addresses shortened; the full one is what the reader needs.
        return href
    return f"{text} ({href})"


def html_to_text(html: str) -> str:
    """Plain text of a post: paragraphs separated by a blank line, ``<br>`` kept as a line
    break, links kept, whitespace collapsed as a browser would."""
    builder = _TextBuilder()
    builder.feed(html)
    builder.close()
    # A link left open by broken markup still contributes its text.
    while builder._links:
        href, parts, tagged = builder._links.pop()
        builder._emit(_render_link(href, "".join(parts), tagged=tagged))
    pieces: list[str] = []
    flowing: list[str] = []
    for piece in builder.out:
        if isinstance(piece, _Verbatim):
            pieces.append(_tidy("".join(flowing)))
            pieces.append(str(piece))
            flowing = []
        else:
            flowing.append(piece)
    pieces.append(_tidy("".join(flowing)))
    return "".join(pieces).strip("\n ")


def _tidy(text: str) -> str:
    # Spaces next to a line break are layout, not content; more than one blank line is too.
    text = "\n".join(line.strip(" ") for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text)
