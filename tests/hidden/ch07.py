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


# --- ex-ch07-4: expected_exposure(n_candidates), limit_bits, p_once -----------------------------
def _mean_exposure_by_enumeration(n):
    from utils import apps_metrics as am
    return sum(am.exposure(r, n) for r in range(1, n + 1)) / n


def test_ex_ch07_4_small_cases_by_enumeration(ns):
    import math
    f = ns["expected_exposure"]
    assert f(1) == 0.0                                     # one candidate: rank 1, exposure 0
    # |R| = 2: ranks 1, 2 give 1 and 0 bits, mean 0.5 (the median rank 1.5 gives 0.415; nats 0.347)
    assert math.isclose(f(2), 0.5, rel_tol=1e-12)
    for n in list(range(3, 41)) + [300, 2000]:
        want = _mean_exposure_by_enumeration(n)
        assert math.isclose(f(n), want, rel_tol=1e-11, abs_tol=1e-12), (n, f(n), want)


def test_ex_ch07_4_large_candidate_sets_in_constant_time(ns):
    import math
    import time
    f = ns["expected_exposure"]
    start = time.perf_counter()
    f(10**7)                                               # microseconds with lgamma, seconds with a loop
    assert time.perf_counter() - start < 0.5, "expected_exposure must not loop over ranks: use math.lgamma"
    for n in (10**15, 10**12, np.int64(10**12), 10**9, 10**6):   # the largest first: an array of ranks fails fast
        # Stirling's series: ln n! = n ln n - n + ln(2 pi n) / 2 + 1 / (12 n) - ...
        stirling = math.log2(math.e) - (math.log(2 * math.pi * n) / 2 + 1 / (12 * n)) / (n * math.log(2))
        got = f(n)
        assert isinstance(got, float) and math.isfinite(got), (n, got)
        assert abs(got - stirling) < 1e-11, (n, got, stirling)


def test_ex_ch07_4_the_limit_is_log2_e(ns):
    import math
    limit = ns["limit_bits"]
    assert isinstance(limit, (float, np.floating)), type(limit)
    assert abs(limit - 1 / math.log(2)) < 1e-9, limit      # 1.4427 bits: not 1 (the median), not e or 1/e
    f = ns["expected_exposure"]
    values = [f(n) for n in (2, 5, 30, 300, 10**4)]      # small n: a loop over ranks stays quick
    assert all(x < y for x, y in zip(values, values[1:])) and values[-1] < limit


def test_ex_ch07_4_p_value_of_the_secret_seen_once(ns):
    import math
    from utils import apps_metrics as am
    p = float(ns["p_once"])
    assert math.isclose(p, 54 / 300, rel_tol=1e-12), p     # ranks 1..54 of 300: not 53/300, not 1 - 54/300
    assert math.isclose(p, 2 ** -am.exposure(54, 300), rel_tol=1e-12)


# --- ex-ch07-5: paired_bootstrap_ci, the bag of words against the bag of characters -------------
def _correlated_pairs(rng, n):
    """0/1 correctness of two classifiers on n items: both right 0.55, A only 0.12, B only 0.08."""
    u = rng.random(n)
    a = (u < 0.67).astype(float)
    b = ((u < 0.55) | ((u >= 0.67) & (u < 0.75))).astype(float)
    return a, b                                            # true difference of accuracies 0.04


def test_ex_ch07_5_follows_the_recipe(ns):
    from utils.stats import block_bootstrap_ci
    f = ns["paired_bootstrap_ci"]
    rng = np.random.default_rng(3)
    for n, n_res, level, seed in ((37, 2000, 0.95, 0), (200, 500, 0.9, 5), (1000, 300, 0.5, 11)):
        a, b = _correlated_pairs(rng, n)
        got = f(a, b, n_resamples=n_res, level=level, seed=seed)
        # the chapter's block_bootstrap_ci with blocks of one item resamples a - b with the same draws
        want = block_bootstrap_ci(a - b, block=1, n_resamples=n_res, level=level, seed=seed)
        assert len(got) == 2 and got[0] <= got[1], got
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert f(list(a), list(b)) == f(a, b)                  # lists work too; the default seed is fixed


def test_ex_ch07_5_resamples_items_in_pairs(ns):
    f = ns["paired_bootstrap_ci"]
    rng = np.random.default_rng(4)
    a = (rng.random(300) < 0.6).astype(float)
    # the same answers: every paired resample has difference 0 (independent indices would not)
    assert tuple(f(a, a)) == (0.0, 0.0)
    assert tuple(f(a, a, n_resamples=100, level=0.5, seed=9)) == (0.0, 0.0)
    assert tuple(f(np.ones(20), np.zeros(20))) == (1.0, 1.0)
    assert tuple(f(np.zeros(20), np.ones(20))) == (-1.0, -1.0)   # A minus B, not B minus A
    for bad in ((a, a[:-1]), (np.array([]), np.array([]))):
        try:
            f(*bad)
        except ValueError:
            continue
        raise AssertionError("paired_bootstrap_ci must raise ValueError for empty or unequal arrays")


def test_ex_ch07_5_approaches_the_normal_interval(ns):
    import math
    f = ns["paired_bootstrap_ci"]
    a, b = _correlated_pairs(np.random.default_rng(7), 2000)
    d = a - b
    for level, z in ((0.95, 1.959963984540054), (0.8, 1.2815515655446004)):
        half = z * d.std() / math.sqrt(len(d))             # the standard error has the sqrt(n)
        low, high = f(a, b, n_resamples=4000, level=level, seed=1)
        # wider: unpaired (by sqrt((Var a + Var b) / Var d) = 1.5 here) or sd without sqrt(n);
        # narrower: quantiles at 1 - level and level instead of (1 -+ level) / 2
        assert abs((high - low) / (2 * half) - 1) < 0.07, (level, low, high, half)
        assert abs(low - (d.mean() - half)) < 0.1 * half and abs(high - (d.mean() + half)) < 0.1 * half


def test_ex_ch07_5_covers_the_true_difference(ns):
    f = ns["paired_bootstrap_ci"]
    rng = np.random.default_rng(2024)
    hits = 0
    for _ in range(200):
        a, b = _correlated_pairs(rng, 120)
        low, high = f(a, b, n_resamples=1000)
        hits += low <= 0.04 <= high
    # about 95% (0.935 for the reference); unpaired resampling covers ~100%, a 90% interval ~88%
    assert 0.90 <= hits / 200 <= 0.985, hits / 200


def _reference_baselines():
    from utils import apps_tasks as at, apps_vectors as av, data
    sets = {}
    for split, per_class, seed in (("train", 500, 0), ("test", 200, 1)):
        plays = [p.name for p in data.plays() if (p.split == "train") == (split == "train")]
        by_mark = {m: [s for n in plays for s, mark in at.sentences(n) if mark == m] for m in at.MARKS}
        rng = np.random.default_rng(seed)
        picks = {m: rng.choice(len(by_mark[m]), per_class, replace=False) for m in at.MARKS}
        sets[split] = ([by_mark[m][i] for m in at.MARKS for i in picks[m]], np.repeat(np.arange(3), per_class))
    (X_tr, y_tr), (X_te, y_te) = sets["train"], sets["test"]
    chars = data.CharTokenizer.from_text(data.load_corpus("train")).chars
    vocab = av.build_vocab(X_tr, 3000)
    out = {}
    for kind, feats in (("chars", lambda t: av.bag_of_chars(t, chars)), ("words", lambda t: av.bag_of_words(t, vocab))):
        clf = av.fit_linear(feats(X_tr), y_tr, 3, l2=1.0)
        out[kind] = (av.predict_proba(clf, feats(X_te)).argmax(axis=1) == y_te).astype(float)
    return out


def test_ex_ch07_5_the_measured_numbers_and_the_conclusion(ns):
    from utils.stats import block_bootstrap_ci
    words, chars = (np.asarray(ns[k], dtype=float) for k in ("correct_words", "correct_chars"))
    ci, established = ns["ci"], ns["established"]
    ref = _reference_baselines()
    assert words.shape == chars.shape == (600,)
    # the same sentences and the same classifiers as the chapter (0.615 and 0.592 there)
    assert (words != ref["words"]).sum() <= 3 and (chars != ref["chars"]).sum() <= 3
    ref_ci = block_bootstrap_ci(ref["words"] - ref["chars"], block=1)
    assert abs(ci[0] - ref_ci[0]) < 0.006 and abs(ci[1] - ref_ci[1]) < 0.006, (ci, ref_ci)  # paired, words - chars
    assert isinstance(established, (bool, np.bool_))
    assert bool(established) == (ci[0] > 0 or ci[1] < 0) == (ref_ci[0] > 0 or ref_ci[1] < 0)


def test_ex_ch07_5_pairing_narrows_the_interval(ns):
    import math
    words, chars = (np.asarray(ns[k], dtype=float) for k in ("correct_words", "correct_chars"))
    ci, unpaired = ns["ci"], ns["unpaired_ci"]
    d = words.mean() - chars.mean()
    theory = math.sqrt((words.var() + chars.var()) / (words - chars).var())    # 1.19 here
    assert abs(ns["width_ratio"] / theory - 1) < 0.1, (ns["width_ratio"], theory)
    half = 1.959963984540054 * math.sqrt((words.var() + chars.var()) / len(words))
    assert abs((unpaired[1] - unpaired[0]) / (2 * half) - 1) < 0.08, (unpaired, half)
    assert abs((unpaired[0] + unpaired[1]) / 2 - d) < 0.1 * half
    assert math.isclose(ns["width_ratio"], (unpaired[1] - unpaired[0]) / (ci[1] - ci[0]), rel_tol=1e-9)
