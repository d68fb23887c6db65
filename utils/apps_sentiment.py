"""Sentiment with human labels: the VADER lexicon's valence ratings, for chapter 7.

The plays carry no sentiment labels, but one labelled source installs from PyPI: the lexicon of
VADER (Hutto and Gilbert, 2014, package ``vaderSentiment``, MIT), in which ten human raters
scored each of about 7,500 English words and emoticons for valence on a scale from -4
(extremely negative) to +4 (extremely positive).  This module reads those ratings, finds
the rated words that the training plays use, and builds two kinds of features for each word,
both from the training plays only:

* :func:`gpt_word_features`: a language model's representation of the word: its final state
  at the word's last character, averaged over several places where the word occurs, each read
  with the text before it (a *contextual* embedding);
* :func:`context_counts`: a counting baseline: how often each common word occurs within a few
  words of it (log-scaled counts per occurrence), the distributional vectors of classic NLP.

A linear probe (ridge regression, scikit-learn) fitted on some words and scored on *other*
words asks whether the features carry the human valence.
"""
from __future__ import annotations

import collections
import importlib.resources
import re

import numpy as np

from utils import apps_gpt as ag
from utils import apps_metrics as am
from utils import checks

__all__ = ["vader_lexicon", "rated_words", "split_words", "occurrences", "gpt_word_features",
           "context_counts"]

_WORD = re.compile(r"[a-z]+")


def vader_lexicon() -> dict[str, tuple[float, np.ndarray]]:
    """``{word: (mean rating, the ten ratings)}`` for the lexicon's plain lower-case words.

    Read from the installed ``vaderSentiment`` package (``vader_lexicon.txt``: a token, its
    mean, its standard deviation and the list of ten ratings, tab-separated); emoticons and
    entries with other characters are left out.
    """
    text = (importlib.resources.files("vaderSentiment") / "vader_lexicon.txt").read_text(encoding="utf-8")
    out = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 4 or not _WORD.fullmatch(parts[0]):
            continue
        ratings = np.array([int(r) for r in parts[3].strip("[] ").split(",")], dtype=np.float64)
        out[parts[0]] = (float(parts[1]), ratings)
    return out


def rated_words(text: str, lexicon: dict, min_count: int = 10) -> list[str]:
    """The lexicon's words that occur at least ``min_count`` times in ``text``, sorted."""
    text = checks.string(text, "text", nonempty=True)
    if not isinstance(lexicon, dict):
        raise checks.ArgumentTypeError(f"lexicon must be the dict vader_lexicon() returns, got {type(lexicon).__name__}")
    min_count = checks.integer(min_count, "min_count", 1)
    counts = collections.Counter(am.words(text))
    return sorted(w for w in lexicon if counts[w] >= min_count)


def split_words(words, test_share: float = 0.3, seed: int = 0) -> tuple[list[str], list[str]]:
    """A seeded random split of ``words`` into training and held-out words (disjoint)."""
    words = checks.strings(words, "words")
    if checks.number(test_share, "test_share", 0.0, 1.0, low_open=True) >= 1.0:
        raise ValueError(f"test_share must be in (0, 1), got {test_share!r}")
    if len(set(words)) != len(words) or len(words) < 2:
        raise ValueError(f"words must be at least 2 distinct words, got {len(words)} ({len(set(words))} distinct)")
    order = np.random.default_rng(checks.integer(seed, "seed", 0)).permutation(len(words))
    n_test = max(1, round(test_share * len(words)))
    return sorted(words[i] for i in order[n_test:]), sorted(words[i] for i in order[:n_test])


def occurrences(text: str, words, n: int) -> dict[str, list[int]]:
    """For each of ``words``: the end positions (one past the last character) of up to ``n`` of
    its whole-word occurrences in ``text`` (any case, not part of a longer word or of a word
    with an apostrophe), spread evenly over all of them.  One pass over ``text``."""
    text = checks.string(text, "text", nonempty=True)
    wanted = set(checks.strings(words, "words"))
    n = checks.integer(n, "n", 1)
    ends = {w: [] for w in wanted}
    for m in re.finditer(r"(?<![A-Za-z'])[A-Za-z]+(?![A-Za-z'])", text):
        w = m.group().lower()
        if w in wanted:
            ends[w].append(m.end())
    return {w: e if len(e) <= n else [e[i] for i in np.linspace(0, len(e) - 1, n).round().astype(int)]
            for w, e in ends.items()}


def gpt_word_features(model, tokenizer, text: str, words, per_word: int = 8, context: int = 64,
                      batch_size: int = 128) -> np.ndarray:
    """``(len(words), n_embd)``: for each word, the model's final state (what ``lm_head`` reads)
    at the word's last character, averaged over up to ``per_word`` occurrences in ``text``
    (:func:`occurrences`), each read with the ``context`` characters that end there."""
    words = checks.strings(words, "words")
    checks.integer(per_word, "per_word", 1)
    checks.integer(context, "context", 1, model.config.block_size)
    windows, owner = [], []
    found = occurrences(text, words, per_word)
    for k, w in enumerate(words):
        ends = found[w]
        if not ends:
            raise ValueError(f"words: {w!r} does not occur in text")
        windows += [text[max(0, e - context):e] for e in ends]
        owner += [k] * len(ends)
    states = ag.embed(model, tokenizer, windows, pool="last", batch_size=batch_size)
    owner = np.array(owner)
    return np.stack([states[owner == k].mean(axis=0) for k in range(len(words))])


def context_counts(text: str, words, vocab_size: int = 1000, window: int = 4) -> np.ndarray:
    """``(len(words), vocab_size)``: for each word, ``log(1 + count)`` of each of the
    ``vocab_size`` most frequent words of ``text`` within ``window`` words on either side of its
    occurrences, divided by ``log(1 + the word's number of occurrences)`` so that frequent words
    are not simply larger.  The word itself is not counted as its own context."""
    words = checks.strings(words, "words")
    vocab_size = checks.integer(vocab_size, "vocab_size", 1)
    window = checks.integer(window, "window", 1)
    tokens = am.words(checks.string(text, "text", nonempty=True))
    vocab = [w for w, _ in collections.Counter(tokens).most_common(vocab_size)]
    column = {w: j for j, w in enumerate(vocab)}
    row = {w: k for k, w in enumerate(words)}
    counts = np.zeros((len(words), len(vocab)))
    seen = np.zeros(len(words))
    for i, t in enumerate(tokens):
        k = row.get(t)
        if k is None:
            continue
        seen[k] += 1
        for c in tokens[max(0, i - window):i] + tokens[i + 1:i + 1 + window]:
            j = column.get(c)
            if j is not None and c != t:
                counts[k, j] += 1
    if (seen == 0).any():
        raise ValueError(f"words: {words[int(np.flatnonzero(seen == 0)[0])]!r} does not occur in text")
    return np.log1p(counts) / np.log1p(seen)[:, None]
