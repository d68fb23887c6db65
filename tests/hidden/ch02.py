"""Hidden teacher tests for chapter 2's exercises.

Each test takes ``ns``, the namespace (dict) where the student's function lives.
"""
import math

import numpy as np

from utils.ngram import NGramModel


# --- ex-ch02-1: perplexity(probs) ---------------------------------------------------------
def test_ex_ch02_1_known_values(ns):
    perplexity = ns["perplexity"]
    assert math.isclose(perplexity([0.25, 0.25, 0.25, 0.25]), 4.0)           # uniform over 4
    assert math.isclose(perplexity([0.5, 0.125]), 4.0)                        # (1/16)^(-1/2)
    assert math.isclose(perplexity([0.9]), 1 / 0.9)                           # not 0.9, not -ln
    assert isinstance(perplexity(np.array([0.5, 0.5])), float)


def test_ex_ch02_1_mean_not_sum_and_no_underflow(ns):
    perplexity = ns["perplexity"]
    assert math.isclose(perplexity(np.full(10, 0.5)), 2.0)                    # a sum would give 1024
    assert math.isclose(perplexity(np.full(200_000, 1e-3)), 1000.0, rel_tol=1e-9)
    rng = np.random.default_rng(7)
    p = rng.uniform(0.01, 1.0, size=5000)
    assert math.isclose(perplexity(p), float(np.exp(-np.log(p).mean())), rel_tol=1e-9)


def test_ex_ch02_1_zero_probability_is_infinite(ns):
    perplexity = ns["perplexity"]
    assert perplexity([0.3, 0.0, 0.2]) == math.inf


def test_ex_ch02_1_agrees_with_the_ngram_model(ns):
    perplexity = ns["perplexity"]
    text = "to be or not to be, that is the question"
    model = NGramModel(3, "kneser-ney").fit(text)
    probs = np.exp(-model.nll("not to be that"))
    assert math.isclose(perplexity(probs), model.perplexity("not to be that"), rel_tol=1e-9)


# --- ex-ch02-2: add_k_probs(counts, k) -------------------------------------------------------
def test_ex_ch02_2_known_values(ns):
    add_k_probs = ns["add_k_probs"]
    np.testing.assert_allclose(add_k_probs([2, 1, 1, 0, 0, 0, 0], 1), np.array([3, 2, 2, 1, 1, 1, 1]) / 11)
    np.testing.assert_allclose(add_k_probs([3, 0, 1], 0.5), np.array([3.5, 0.5, 1.5]) / 5.5)
    np.testing.assert_allclose(add_k_probs([0, 0, 0, 0, 0], 2), np.full(5, 0.2))   # unseen: uniform
    np.testing.assert_allclose(add_k_probs([4, 0, 4], 0), [0.5, 0.0, 0.5])


def test_ex_ch02_2_sums_to_one_and_matches_the_model(ns):
    add_k_probs = ns["add_k_probs"]
    rng = np.random.default_rng(3)
    for k in (0.01, 0.3, 1.0, 5.0):
        p = np.asarray(add_k_probs(rng.integers(0, 20, size=71), k), dtype=float)
        assert p.shape == (71,) and (p > 0).all()
        np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-12)
    text = "to be or not to be, that is the question"
    model = NGramModel(2, "add-k", k=0.7).fit(text)
    counts = [model.count("t" + w) for w in model.vocab]
    np.testing.assert_allclose(add_k_probs(counts, 0.7), model.probs("t"), rtol=1e-12)


def test_ex_ch02_2_bad_inputs_raise(ns):
    add_k_probs = ns["add_k_probs"]
    for bad in ((-0.5, [1, 2, 3]), (0, [0, 0, 0])):
        try:
            add_k_probs(bad[1], bad[0])
        except ValueError:
            continue
        raise AssertionError(f"add_k_probs({bad[1]}, {bad[0]}) should raise ValueError")


# --- ex-ch02-3: count_contexts(text, n) ------------------------------------------------------
def test_ex_ch02_3_last_context_is_not_counted(ns):
    count_contexts = ns["count_contexts"]
    assert count_contexts("abc", 2) == 2                 # "c" is followed by nothing
    assert count_contexts("abcd", 3) == 2                # "ab", "bc"; not "cd"
    assert count_contexts("abab", 2) == 2
    assert count_contexts("aaaa", 3) == 1


def test_ex_ch02_3_order_one_has_one_empty_context(ns):
    count_contexts = ns["count_contexts"]
    assert count_contexts("hello", 1) == 1
    assert count_contexts("hello", 5) == 1               # "hell" -> "o"
    assert count_contexts("hello", 6) == 0               # no 6-gram at all


def test_ex_ch02_3_matches_the_ngram_model(ns):
    count_contexts = ns["count_contexts"]
    rng = np.random.default_rng(11)
    text = "".join(rng.choice(list("abcde "), size=3000))
    for n in (1, 2, 3, 4, 5):
        assert count_contexts(text, n) == NGramModel(n).fit(text).num_contexts(), n
