"""Properties of Mastodon's HTML-to-text conversion."""

from __future__ import annotations

import html
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from socialdesk.connectors.mastodon.text import html_to_text

HTML_SPACE = re.compile(r"[ \t\n\r\f]+")


def collapsed(text: str) -> str:
    """What a browser shows for ``text`` outside <pre>: runs of ASCII whitespace become one space,
    none at the ends."""
    return HTML_SPACE.sub(" ", text).strip(" \t\n\r\f")


plain = st.text(st.characters(exclude_categories=("Cs", "Cc")) | st.sampled_from(" \t\n"))
words = st.text(
    st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), exclude_characters="<>&"),
    min_size=1,
    max_size=20,
)
urls = st.builds(
    lambda host, path: f"https://{host}.example/{path}",
    st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True),
    st.from_regex(r"[a-zA-Z0-9_/-]{0,30}", fullmatch=True),
)


@settings(deadline=None)  # timing on a busy machine is not what this checks
@given(plain)
def test_escaped_text_in_a_paragraph_reads_as_the_text(text: str) -> None:
    assert html_to_text(f"<p>{html.escape(text)}</p>") == collapsed(text)


@settings(deadline=None)  # timing on a busy machine is not what this checks
@given(st.lists(words, min_size=1, max_size=6))
def test_paragraphs_are_separated_by_a_blank_line(paragraphs: list[str]) -> None:
    source = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    assert html_to_text(source) == "\n\n".join(collapsed(p) for p in paragraphs)


@settings(deadline=None)  # timing on a busy machine is not what this checks
@given(st.lists(words, min_size=1, max_size=6))
def test_line_breaks_are_kept(lines: list[str]) -> None:
    source = "<p>" + "<br>".join(html.escape(line) for line in lines) + "</p>"
    assert html_to_text(source).split("\n") == [collapsed(line) for line in lines]


@settings(deadline=None)  # timing on a busy machine is not what this checks
@given(words, urls)
def test_a_link_keeps_its_address(label: str, url: str) -> None:
    text = html_to_text(f'<p>see <a href="{url}">{html.escape(label)}</a></p>')
    assert url in text
    assert collapsed(label) in text


@settings(deadline=None)  # timing on a busy machine is not what this checks
@given(urls)
def test_mastodon_shortened_links_read_as_the_full_address(url: str) -> None:
    scheme, rest = url.split("://", 1)
    shown, hidden = rest[:10], rest[10:]
    source = (
        f'<p><a href="{url}" rel="nofollow noopener" target="_blank">'
        f'<span class="invisible">{scheme}://</span><span class="ellipsis">{shown}</span>'
        f'<span class="invisible">{hidden}</span></a></p>'
    )
    assert html_to_text(source) == url


@settings(deadline=None)  # timing on a busy machine is not what this checks
@given(st.text())
def test_any_input_gives_text_without_crashing(source: str) -> None:
    result = html_to_text(source)
    assert isinstance(result, str)
    assert result == result.strip("\n ")


def test_recorded_mention_markup() -> None:
    source = (
        '<p><span class="h-card" translate="no"><a href="http://localhost:3000/@mastodonpy_test" '
        'class="u-url mention">@<span>mastodonpy_test</span></a></span> hello!</p>'
    )
    assert html_to_text(source) == "@mastodonpy_test hello!"


def test_preformatted_text_keeps_its_spacing() -> None:
    source = "<p>log:</p><pre>a  b\n   c</pre><p>end</p>"
    assert html_to_text(source) == "log:\n\na  b\n   c\n\nend"


def test_entities_and_hashtags() -> None:
    source = (
        '<p>you can&#39;t &amp; won&apos;t <a href="https://x.example/tags/help" '
        'class="mention hashtag" rel="tag">#<span>help</span></a></p>'
    )
    assert html_to_text(source) == "you can't & won't #help"


def test_a_label_that_reads_like_a_mention_is_one_only_when_it_points_at_that_name() -> None:
    profile = '<p>ask <a href="https://social.example/@ana">@ana</a></p>'
    assert html_to_text(profile) == "ask @ana"
    tag = '<p>see <a href="https://social.example/tags/Trams">#trams</a></p>'
    assert html_to_text(tag) == "see #trams"
    # Found by the property above: an ordinary link labelled "@0" kept no address.
    elsewhere = '<p>see <a href="https://a.example/">@0</a></p>'
    assert html_to_text(elsewhere) == "see @0 (https://a.example/)"
