"""Tests for utils.apps_sentiment: the VADER lexicon as read against its file, the word split, the
occurrence finder against a slow regex per word, the GPT features against the model's own
forward pass, and the counting baseline against counts made by hand."""
import importlib.resources
import math
import re

import numpy as np
import pytest
import torch

from utils import apps_sentiment as sa
from utils.data import CharTokenizer
from utils.gpt import GPT, GPTConfig

TOK = CharTokenizer("\n !',.:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
TEXT = ("Good morrow, good friend. The villain speaks of love; love is good.\n"
        "O villain, villain! A good day for grief, and grief's end is good-bye.\n") * 3

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def lexicon():
    return sa.vader_lexicon()


def test_lexicon_matches_lines_of_the_file(lexicon):
    raw = (importlib.resources.files("vaderSentiment") / "vader_lexicon.txt").read_text(encoding="utf-8")
    line = next(l for l in raw.splitlines() if l.startswith("foolishest\t"))
    assert line == "foolishest\t-1.4\t1.28062\t[-2, 1, -2, -3, -2, -2, -1, 1, -2, -2]"
    mean, ratings = lexicon["foolishest"]
    assert mean == -1.4 and ratings.tolist() == [-2, 1, -2, -3, -2, -2, -1, 1, -2, -2]
    for word in ("love", "grief", "villain", "murder"):         # every mean is the mean of its ten ratings
        m, r = lexicon[word]
        assert len(r) == 10 and math.isclose(m, r.mean(), abs_tol=0.051)
    assert all(re.fullmatch("[a-z]+", w) for w in lexicon)      # no emoticons, no multi-word entries
    assert ":)" not in lexicon and 7000 < len(lexicon) < 7520


def test_rated_words_counts_whole_words(lexicon):
    words = sa.rated_words(TEXT, lexicon, min_count=3)
    assert "villain" in words and "love" in words and "good" in words
    assert "grief" in words                 # "grief," counts; "grief's" is another word
    # per copy of the text "good" 4 times (good-bye is one word), "villain" 3, "love" 2
    assert sa.rated_words(TEXT, lexicon, min_count=9) == ["good", "villain"]


def test_split_is_disjoint_seeded_and_complete():
    words = [f"w{i}" for i in range(20)]
    tr, te = sa.split_words(words, test_share=0.3, seed=0)
    assert len(te) == 6 and not set(tr) & set(te) and sorted(tr + te) == sorted(words)
    assert sa.split_words(words, 0.3, 0) == (tr, te)
    assert sa.split_words(words, 0.3, 1) != (tr, te)


def test_occurrences_equal_a_regex_per_word():
    found = sa.occurrences(TEXT, ["villain", "good", "grief", "love", "absent"], n=100)
    for word, ends in found.items():
        slow = [m.end() for m in re.finditer(rf"(?<![A-Za-z']){word}(?![A-Za-z'])", TEXT, re.IGNORECASE)]
        assert ends == slow, word
    assert found["absent"] == [] and len(found["villain"]) == 9
    few = sa.occurrences(TEXT, ["villain"], n=3)["villain"]
    assert few == [found["villain"][i] for i in (0, 4, 8)]      # spread evenly, first and last kept


def test_gpt_features_equal_the_models_last_states():
    torch.manual_seed(0)
    model = GPT(GPTConfig(TOK.vocab_size, 32, 2, 2, 16)).eval()
    words = ["villain", "good"]
    feats = sa.gpt_word_features(model, TOK, TEXT, words, per_word=3, context=20)
    assert feats.shape == (2, 16)
    for k, w in enumerate(words):
        states = []
        for e in sa.occurrences(TEXT, [w], 3)[w]:
            x = torch.tensor([TOK.encode(TEXT[max(0, e - 20):e])])
            with torch.no_grad():
                tr = model.transformer
                h = tr.wte(x) + tr.wpe(torch.arange(x.shape[1]))
                for block in tr.h:
                    h = block(h)
                states.append(tr.ln_f(h)[0, -1].numpy())
        np.testing.assert_allclose(feats[k], np.mean(states, axis=0), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="does not occur"):
        sa.gpt_word_features(model, TOK, TEXT, ["absent"], context=20)


def test_context_counts_by_hand():
    text = "a b c a b d"
    X = sa.context_counts(text, ["a", "d"], vocab_size=4, window=1)
    # vocabulary by frequency: a, b (2 each), c, d; "a" at 0 sees b, at 3 sees c and b
    vocab = ["a", "b", "c", "d"]
    counts_a = {"b": 2, "c": 1}
    expected_a = [math.log1p(counts_a.get(v, 0)) / math.log1p(2) for v in vocab]
    np.testing.assert_allclose(X[0], expected_a)
    np.testing.assert_allclose(X[1], [0, math.log1p(1) / math.log1p(1), 0, 0])   # "d" sees b once
    with pytest.raises(ValueError, match="does not occur"):
        sa.context_counts(text, ["z"])
