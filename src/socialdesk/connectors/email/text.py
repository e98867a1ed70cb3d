"""Text of an email as an agent should read it.

:func:`html_to_text` reads an HTML-only mail: styles and scripts dropped, blocks and table rows
on their own lines, and quoted blocks (``<blockquote>``) written as ``> `` lines, so that
:func:`strip_quotes` treats quotes from HTML and plain-text mail the same way.

:func:`strip_quotes` keeps what the sender wrote in this message: it removes quoted lines,
the attribution above them ("On <date>, <name> wrote:"), forwarded or replied-to copies below an
Outlook header block or an "Original Message" separator, and the signature (RFC 3676's "-- "
line, "Sent from my phone" lines). The full text stays in the message's raw record.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")
_SKIPPED = frozenset({"head", "style", "script", "title", "template"})
_BLOCKS = frozenset(
    {
        "div",
        "tr",
        "table",
        "ul",
        "ol",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "pre",
        "address",
        "center",
        "section",
        "article",
        "header",
        "footer",
    }
)
_CELLS = frozenset({"td", "th"})


class _MailText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []
        self._line: list[str] = []
        self._line_depth = 0
        self._depth = 0
        self._skip = 0

    def end_line(self, *, always: bool = False) -> None:
        """End the current line; an empty one only counts for ``<br>`` (``always``)."""
        text = _HTML_SPACE.sub(" ", "".join(self._line)).strip()
        if text or always:
            self.lines.append((self._line_depth, text))
        self._line = []
        self._line_depth = self._depth

    def _gap(self) -> None:
        # Paragraphs are set apart by a blank line, as a mail client shows their margins.
        self.end_line()
        if self.lines and self.lines[-1][1]:
            self.lines.append((self._depth, ""))

    def _write(self, text: str) -> None:
        if not self._line:
            self._line_depth = self._depth
        self._line.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip += 1
        elif tag == "br":
            self.end_line(always=True)
        elif tag == "blockquote":
            self._gap()
            self._depth += 1
            self._line_depth = self._depth
        elif tag == "p":
            self._gap()
        elif tag in _BLOCKS:
            self.end_line()
            if tag == "li":
                self._write("- ")
        elif tag in _CELLS:
            self._write(" ")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt and alt.strip():
                self._write(alt)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.end_line(always=True)
        elif tag == "hr":
            self.end_line()
        elif tag == "img":
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip = max(0, self._skip - 1)
        elif tag == "blockquote":
            self.end_line()
            self._depth = max(0, self._depth - 1)
            self._line_depth = self._depth
            self._gap()
        elif tag == "p":
            self._gap()
        elif tag in _BLOCKS:
            self.end_line()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._write(data)


def html_to_text(html: str) -> str:
    """Readable text of an HTML mail body; quoted blocks become ``> `` lines."""
    parser = _MailText()
    parser.feed(html)
    parser.close()
    parser.end_line()
    out: list[str] = []
    for depth, text in parser.lines:
        if not text:
            if out and out[-1] != "":
                out.append("")
            continue
        out.append(("> " * depth) + text)
    # Mail HTML spaces with &nbsp; where plain text means an ordinary space.
    return "\n".join(out).strip("\n").replace("\xa0", " ")


# Lines where an earlier message or a signature begins; everything from there on is dropped.
_CUT_HERE = [
    re.compile(r"^-- ?$"),  # RFC 3676 signature separator ("-- "), often sent without the space
    re.compile(
        r"^-{2,}\s*(original message|forwarded message|ursprüngliche nachricht|message d'origine"
        r"|messaggio originale|mensaje original|mensagem original|oorspronkelijk bericht)\s*-{2,}$",
        re.IGNORECASE,
    ),
    re.compile(r"^_{20,}$"),  # Outlook's rule above the header block of the answered mail
    re.compile(
        r"^(sent from my \w[\w ]*|sent from (mail|outlook) for \w+|get outlook for \w+"
        r"|envoyé de mon \w+|von meinem \w+ gesendet|inviato da \w+)\b.{0,40}$",
        re.IGNORECASE,
    ),
]
# "On <date>, <name> wrote:" and its translations (as Gmail, Apple Mail and Thunderbird write it).
_ATTRIBUTION = re.compile(
    r"^(on\b.{4,250}\bwrote|am\b.{4,250}\bschrieb.{0,80}|le\b.{4,250}\ba écrit"
    r"|il\b.{4,250}\bha scritto|el\b.{4,250}\bescribió|em\b.{4,250}\bescreveu"
    r"|op\b.{4,250}\bschreef.{0,80})\s*:$",
    re.IGNORECASE,
)
# The header block Outlook writes above the mail it answers: From, then Sent/Date, To, Subject.
_HEADER_FROM = re.compile(r"^\*?(from|von|de|da|van)\s*:\*?\s+\S", re.IGNORECASE)
_HEADER_NEXT = re.compile(
    r"^\*?(sent|date|to|subject|cc|gesendet|datum|an|betreff|envoyé|à|objet|inviato|oggetto"
    r"|enviado|para|asunto|verzonden|onderwerp)\s*:\*?",
    re.IGNORECASE,
)


def _is_quote(line: str) -> bool:
    return line.lstrip().startswith(">")


def _is_header_block(lines: list[str], i: int) -> bool:
    if not _HEADER_FROM.match(lines[i].strip()):
        return False
    following = [line.strip() for line in lines[i + 1 : i + 5] if line.strip()]
    return sum(1 for line in following[:3] if _HEADER_NEXT.match(line)) >= 2


def _attribution_at(lines: list[str], i: int) -> int:
    """How many lines the attribution starting at ``i`` spans (0: none). Clients wrap long
    attributions, so two lines joined are tried too."""
    line = lines[i].strip()
    if _ATTRIBUTION.match(line):
        return 1
    if i + 1 < len(lines) and _ATTRIBUTION.match(f"{line} {lines[i + 1].strip()}"):
        return 2
    return 0


def strip_quotes(text: str) -> str:
    """What the sender wrote in this message, without quotes and signature.

    When nothing would remain (a mail that is only a quote or only a forward), the text is kept
    whole: showing too much beats showing nothing.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if any(p.match(stripped) for p in _CUT_HERE) or _is_header_block(lines, i):
            break
        span = _attribution_at(lines, i)
        if span:
            after = i + span
            while after < len(lines) and not lines[after].strip():
                after += 1
            if after < len(lines) and _is_quote(lines[after]):
                i = after  # the quoted lines below are dropped one by one
                continue
            break  # an attribution over unmarked text: the rest is the earlier message
        if _is_quote(line):
            i += 1
            continue
        kept.append(line.rstrip())
        i += 1
    result = _tidy("\n".join(kept))
    return result if result else _tidy(text)


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
