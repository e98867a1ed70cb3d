"""The plain-Python WordPiece tokeniser gives the ids the ``tokenizers`` package gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from socialdesk.commitments.promise_filter import default_filter
from socialdesk.commitments.wordpiece import token_ids, words

VOCABULARY = default_filter().vocabulary
SAMPLES = (
    "We'll call you tomorrow at 9am!",
    "@AcmeCare Your refund (ref #12345) will arrive within 5-7 business days ^JD",
    "H\u00e9llo na\u00efve caf\u00e9, \uff21\uff22\uff23 (full width) and \u65e5\u672c\u8a9e text",
    "emoji😊glued and 🙏 alone, https://t.co/xYz",
    "tab\there\u200bzero-width\r\nnew line\x00nul \ufffd replacement \uf0d8 private use",
    "x" * 120,
    "don\u2019t can't won\u2019t &amp; &lt;3",
    "",
)


@pytest.fixture(scope="module")
def reference() -> Any:
    tokenizers = pytest.importorskip("tokenizers")
    from socialdesk.triage.embeddings import ARTIFACTS

    tokenizer = tokenizers.Tokenizer.from_file(str(ARTIFACTS / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def reference_ids(tokenizer: Any, text: str) -> list[int]:
    special = {VOCABULARY["[CLS]"], VOCABULARY["[SEP]"]}
    return [i for i in tokenizer.encode(text).ids if i not in special]


@pytest.mark.parametrize("text", SAMPLES)
def test_same_ids_as_tokenizers(reference: Any, text: str) -> None:
    assert token_ids(text, VOCABULARY) == reference_ids(reference, text)


# The scripts brand replies are written in. Outside them the two can differ on characters
# whose Unicode category changed between the Unicode versions of Python and of ``tokenizers``
# (unassigned in one, a letter in the other); neither training nor scoring compares the two.
CHARACTERS = st.one_of(
    st.characters(max_codepoint=0x24F),  # ASCII, control characters, Latin with accents
    st.characters(min_codepoint=0x2000, max_codepoint=0x205F),  # spaces, dashes, quotes
    st.characters(min_codepoint=0x1F300, max_codepoint=0x1F64F),  # emoji
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),  # CJK ideographs
    st.characters(min_codepoint=0xE000, max_codepoint=0xF8FF),  # private use
)
SPECIAL = ("[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=CHARACTERS, max_size=60))
def test_same_ids_on_any_text(reference: Any, text: str) -> None:
    # ``tokenizers`` reads a literal "[UNK]" in the text as the special token; replies do not
    # carry these markers, and the filter treats them as the words they look like.
    assume(not any(marker in text for marker in SPECIAL))
    assert token_ids(text, VOCABULARY) == reference_ids(reference, text)


def test_words_split_punctuation_and_fold_case() -> None:
    assert words("We'll CALL, ok?") == ["we", "'", "ll", "call", ",", "ok", "?"]
    assert words("Café") == ["cafe"]


def test_unknown_word_is_one_unknown_token() -> None:
    unknown = VOCABULARY["[UNK]"]
    assert token_ids("x" * 101, VOCABULARY) == [unknown]


def test_same_ids_on_the_development_replies(reference: Any, shared_dir: Path) -> None:
    from socialdesk.commitments import filter_training as training

    replies = training.load_development(training.ANNOTATIONS, shared_dir / "data" / "twcs")
    for reply in replies:
        assert token_ids(reply.text, VOCABULARY) == reference_ids(reference, reply.text)
