"""Hidden teacher tests for chapter 7's exercises.

Each test takes ``ns``, the namespace dict holding the student's functions.
"""
import numpy as np
import pytest


# --- ex-ch07-1: distinct_n(tokens, n) ---------------------------------------------------------
def test_ex_ch07_1_values_by_hand(ns):
    f = ns["distinct_n"]
    assert f("a b a b c".split(), 1) == pytest.approx(3 / 5)
    assert f("a b a b c".split(), 2) == pytest.approx(3 / 4)
    assert f("a b a b c".split(), 3) == pytest.approx(1.0)       # aba bab abc: all distinct
    assert f(list("aaaa"), 1) == pytest.approx(1 / 4)


def test_ex_ch07_1_divides_by_the_number_of_ngrams_not_tokens(ns):
    f = ns["distinct_n"]
    # 4 tokens have 3 bigrams, all distinct: 1.0 (dividing by 4 tokens would give 0.75)
    assert f(["to", "be", "or", "not"], 2) == pytest.approx(1.0)
    assert f(list(range(10)), 10) == pytest.approx(1.0)          # exactly one n-gram
    assert f(("x", "y") * 5, 2) == pytest.approx(2 / 9)          # xy yx repeated, tuples work too


def test_ex_ch07_1_rejects_too_short_input(ns):
    # plain try/except: otter's runner catches Exception, and pytest.raises fails with a BaseException
    try:
        ns["distinct_n"](["a", "b"], 3)
    except ValueError:
        return
    raise AssertionError("distinct_n must raise ValueError when tokens has fewer than n items")


# --- ex-ch07-2: top_k_accuracy(scores, answers, k) ----------------------------------------------
def test_ex_ch07_2_values_by_hand(ns):
    f = ns["top_k_accuracy"]
    S = np.array([[0.1, 0.5, 0.4], [0.3, 0.2, 0.1], [0.0, 0.0, 1.0]])
    assert f(S, [1, 0, 2], 1) == pytest.approx(1.0)
    assert f(S, [2, 2, 0], 1) == pytest.approx(0.0)
    assert f(S, [2, 2, 0], 2) == pytest.approx(2 / 3)       # ranks 1, 2, 1 (the tie at 0.0 is not higher)
    assert f(S, [2, 2, 0], 3) == pytest.approx(1.0)


def test_ex_ch07_2_ties_count_for_the_answer(ns):
    S = np.zeros((4, 5))                                       # every candidate ties
    assert ns["top_k_accuracy"](S, [0, 1, 2, 4], 1) == pytest.approx(1.0)


def test_ex_ch07_2_random_scores_match_a_slow_reference(ns):
    rng = np.random.default_rng(0)
    S, ans = rng.normal(size=(50, 20)), rng.integers(0, 20, 50)
    for k in (1, 3, 20):
        slow = np.mean([ans[i] in np.argsort(-S[i])[:k] for i in range(50)])
        assert ns["top_k_accuracy"](S, ans, k) == pytest.approx(slow)


# --- ex-ch07-3: rouge_1(summary, reference) -> (precision, recall, f1) ------------------------
def test_ex_ch07_3_values_by_hand(ns):
    p, r, f = ns["rouge_1"]("the cat sat".split(), "the cat is on the mat".split())
    assert (p, r) == (pytest.approx(2 / 3), pytest.approx(2 / 6))
    assert f == pytest.approx(2 * (2 / 3) * (1 / 3) / (2 / 3 + 1 / 3))


def test_ex_ch07_3_clips_repeated_words(ns):
    p, r, f = ns["rouge_1"](["the", "the", "the", "cat"], ["the", "cat", "sat"])
    assert p == pytest.approx(2 / 4) and r == pytest.approx(2 / 3)   # "the" counts once


def test_ex_ch07_3_empty_and_disjoint(ns):
    assert tuple(ns["rouge_1"](["a"], ["b"])) == (0.0, 0.0, 0.0)
    assert tuple(ns["rouge_1"]([], ["b"])) == (0.0, 0.0, 0.0)
