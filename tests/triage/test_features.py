import numpy as np

from socialdesk.triage.features import NgramVectorizer, char_gram_hashes, sparse_dot, word_tokens
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
