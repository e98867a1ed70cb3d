import numpy as np
import pytest

from socialdesk.triage.features import (
    NgramVectorizer,
    WordVectors,
    char_gram_hashes,
    sparse_dot,
    word_tokens,
)
from socialdesk.triage.text import normalize


def test_normalize_replaces_handles_links_entities_and_escapes() -> None:
    text = r"@AmazonHelp it\u2019s late &amp; see https://t.co/x  now"
    assert normalize(text) == "@user it\u2019s late & see http now"


def test_character_grams_stay_inside_words() -> None:
    rows, hashes = char_gram_hashes([["ab"], ["ab", "cd"]])
    first = set(hashes[rows == 0].tolist())
    second = set(hashes[rows == 1].tolist())
    # " ab " has 3 + 2 + 1 = 6 grams of length 2-4 (no 5-gram fits); "ab" alone adds nothing new.
    assert len(first) == 6
    assert first < second
    assert len(second) == 12


def test_vectors_are_normalised_per_block_and_dot_matches_dense() -> None:
    texts = ["great flight thanks", "awful flight, delayed again", "great great support"]
    vectorizer = NgramVectorizer.fit(texts, min_df_words=1, min_df_chars=1)
    batch = vectorizer.transform(texts)
    dense = np.zeros((batch.rows, batch.width), dtype=np.float32)
    for row in range(batch.rows):
        start, end = batch.indptr[row], batch.indptr[row + 1]
        dense[row, batch.indices[start:end]] = batch.values[start:end]
    words, chars = dense[:, : vectorizer.word_size], dense[:, vectorizer.word_size :]
    assert np.allclose(np.linalg.norm(words, axis=1), 1.0, atol=1e-5)
    assert np.allclose(np.linalg.norm(chars, axis=1), 1.0, atol=1e-5)
    weights = np.random.default_rng(0).standard_normal((batch.width, 3)).astype(np.float32)
    assert np.allclose(sparse_dot(batch, weights), dense @ weights, atol=1e-4)


def test_unknown_text_gives_an_empty_row() -> None:
    vectorizer = NgramVectorizer.fit(["hello there"], min_df_words=1, min_df_chars=1)
    batch = vectorizer.transform(["", "zzz qqq"])
    assert batch.rows == 2
    assert sparse_dot(batch, np.ones((batch.width, 2), dtype=np.float32)).shape == (2, 2)


def test_word_tokens_keep_emoji_and_punctuation_runs() -> None:
    assert word_tokens("Love it!!! 😍") == ["love", "it", "!!!", "😍"]


def test_word_vectors_are_the_weighted_sum_of_the_words_vectors() -> None:
    texts = ["great flight thanks", "awful flight", "zzz", ""]
    vectorizer = NgramVectorizer.fit(texts[:2], min_df_words=1, min_df_chars=1)
    single = sorted(i for w, i in vectorizer.words.items() if " " not in w)
    table = np.random.default_rng(1).standard_normal((len(single), 4)).astype(np.float32)
    vectors = WordVectors(features=np.asarray(single), table=table, word_size=vectorizer.word_size)
    batch = vectorizer.transform(texts)
    embedded = vectors.embed(batch)
    row = {index: slot for slot, index in enumerate(single)}
    for number in range(2):
        start, end = batch.indptr[number], batch.indptr[number + 1]
        expected = np.zeros(4)
        for index, value in zip(batch.indices[start:end], batch.values[start:end], strict=True):
            if index in row:  # bigrams and character grams have no vector
                expected += value * table[row[index]]
        assert np.allclose(embedded[number], expected / np.linalg.norm(expected), atol=1e-5)
    assert not embedded[2:].any(), "texts with no known word get a zero vector"


def test_word_vectors_refuse_features_outside_the_word_block() -> None:
    with pytest.raises(ValueError, match="word features"):
        WordVectors(features=np.asarray([5]), table=np.ones((1, 2), np.float32), word_size=3)
