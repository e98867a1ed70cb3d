"""Properties of quote and signature stripping, and of the HTML-mail reader."""

from __future__ import annotations

import html

from hypothesis import given, settings
from hypothesis import strategies as st

from socialdesk.connectors.email.text import html_to_text, strip_quotes

# Lines a person writes: no quote marks, separators, headers or attributions can be formed
# from this alphabet (no ">", "-", "_", ":" and no capitals).
line = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789 .,!?'éçß中"), max_size=40)
written = st.lists(line, min_size=1, max_size=8).map("\n".join).filter(lambda t: t.strip() != "")
quoted_line = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=40)
quoted = st.lists(quoted_line, min_size=1, max_size=6).map(
    lambda lines: "\n".join("> " + q for q in lines)
)
attributions = st.sampled_from(
    [
        "On Mon, 1 Jan 2024 at 10:00, Support <support@desk.example> wrote:",
        "On 2024-01-01 10:00, support@desk.example wrote:",
        "Am 01.01.2024 um 10:00 schrieb Support <support@desk.example>:",
        "Le lun. 1 janv. 2024 à 10:00, Support <support@desk.example> a écrit :",
        "Il giorno lun 1 gen 2024 alle ore 10:00 Support ha scritto:",
    ]
)
signatures = st.lists(st.text(st.characters(exclude_categories=["Cs"]), max_size=30), max_size=4)


def tidy(text: str) -> str:
    """The expected layout: trailing spaces dropped, at most one blank line, no blank ends."""
    lines = [row.rstrip() for row in text.split("\n")]
    out: list[str] = []
    for row in lines:
        if row == "" and out and out[-1] == "":
            continue
        out.append(row)
    return "\n".join(out).strip("\n")


@settings(deadline=None)  # timing on a busy machine is not what this checks
@given(written)
def test_text_without_quotes_is_kept(text: str) -> None:
    assert strip_quotes(text) == tidy(text)


@settings(deadline=None)  # timing on a busy machine is not what this checks
@given(written, attributions, quoted)
def test_top_posted_reply_drops_the_quote(new: str, attribution: str, quote: str) -> None:
    assert strip_quotes(f"{new}\n\n{attribution}\n{quote}\n") == tidy(new)


@settings(deadline=None)  # timing on a busy machine is not what this checks
@given(attributions, quoted, written)
def test_bottom_posted_reply_keeps_the_answer(attribution: str, quote: str, new: str) -> None:
    assert strip_quotes(f"{attribution}\n{quote}\n\n{new}") == tidy(new)


@settings(deadline=None)  # timing on a busy machine is not what this checks
@given(st.lists(st.tuples(quoted, written), min_size=1, max_size=4))
def test_inline_answers_are_kept_in_order(pairs: list[tuple[str, str]]) -> None:
    text = "\n".join(f"{q}\n{a}" for q, a in pairs)
    assert strip_quotes(text) == tidy("\n".join(a for _, a in pairs))


@settings(deadline=None)  # timing on a busy machine is not what this checks
@given(written, signatures)
def test_signature_after_the_separator_is_dropped(new: str, signature: list[str]) -> None:
    text = new + "\n-- \n" + "\n".join(signature)
    assert strip_quotes(text) == tidy(new)


@settings(deadline=None)  # timing on a busy machine is not what this checks
@given(written, st.text(max_size=200))
def test_outlook_header_block_starts_the_old_mail(new: str, old: str) -> None:
    block = "From: Support <support@desk.example>\nSent: Monday\nTo: Ann\nSubject: Re: order"
    text = f"{new}\n\n{block}\n\n{old}"
    assert strip_quotes(text) == tidy(new)


@settings(deadline=None)  # timing on a busy machine is not what this checks
@given(st.text(st.characters(exclude_categories=["Cs"])))
def test_stripping_twice_changes_nothing(text: str) -> None:
    once = strip_quotes(text)
    assert strip_quotes(once) == once


@settings(deadline=None)  # timing on a busy machine is not what this checks
@given(quoted)
def test_a_mail_that_is_only_a_quote_is_shown_whole(quote: str) -> None:
    assert strip_quotes(quote) == tidy(quote)


def test_wrapped_attribution() -> None:
    text = (
        "thanks\n\nOn Mon, 1 Jan 2024 at 10:00, Support Team of a Long Name\n"
        "<support@desk.example> wrote:\n> old"
    )
    assert strip_quotes(text) == "thanks"


def test_mobile_signature() -> None:
    assert strip_quotes("ok, see you then\n\nSent from my iPhone") == "ok, see you then"


# The HTML reader.

words = st.text(
    st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), exclude_characters="<>&>"),
    min_size=1,
    max_size=20,
)


@settings(deadline=None)  # timing on a busy machine is not what this checks
@given(st.lists(words, min_size=1, max_size=6))
def test_html_paragraphs_become_lines(paragraphs: list[str]) -> None:
    source = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    assert html_to_text(source) == "\n\n".join(paragraphs)


@settings(deadline=None)  # timing on a busy machine is not what this checks
@given(st.lists(words, min_size=1, max_size=6))
def test_html_divs_are_lines_without_gaps(lines: list[str]) -> None:
    source = "".join(f"<div>{html.escape(x)}</div>" for x in lines)
    assert html_to_text(source) == "\n".join(lines)


@settings(deadline=None)  # timing on a busy machine is not what this checks
@given(words, words)
def test_html_blockquote_is_quoted_then_stripped(new: str, old: str) -> None:
    source = (
        f"<div>{html.escape(new)}</div><div class='gmail_quote'>On Mon, 1 Jan 2024, "
        f"Support &lt;s@desk.example&gt; wrote:<blockquote>{html.escape(old)}</blockquote></div>"
    )
    text = html_to_text(source)
    assert f"> {old}" in text
    assert strip_quotes(text) == new


def test_html_styles_and_scripts_are_not_text() -> None:
    source = (
        "<html><head><title>t</title><style>p{color:red}</style></head>"
        "<body><script>x()</script><p>Hello&nbsp;there</p></body></html>"
    )
    assert html_to_text(source) == "Hello there"


@settings(deadline=None)  # timing on a busy machine is not what this checks
@given(st.text())
def test_any_html_reads_without_crashing(source: str) -> None:
    assert isinstance(html_to_text(source), str)
