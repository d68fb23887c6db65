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


# --- ex-ch02-4: unseen_mass(counts, lower, D), mass_after_o, mass_after_space -----------------
def _tiny_kn(vocab_extra=""):
    tiny = "to be or not to be"
    return NGramModel(2, "kneser-ney", discount=0.75, vocab=tiny + vocab_extra).fit(tiny)


def test_ex_ch02_4_matches_the_model_on_every_context(ns):
    unseen_mass = ns["unseen_mass"]
    rng = np.random.default_rng(4)
    text = "".join(rng.choice(list("abcdeab "), size=300))
    for D in (0.3, 0.75, 1.0):
        model = NGramModel(2, "kneser-ney", discount=D, vocab="abcdexz ").fit(text)
        lower = model.probs("z")                           # never seen: the shorter context's row
        for h in "abcde ":
            counts = np.array([model.count(h + w) for w in model.vocab])
            expected = model.probs(h)[counts == 0].sum()
            assert math.isclose(unseen_mass(counts, lower, D), expected, rel_tol=1e-9), (h, D)


def test_ex_ch02_4_uses_the_shorter_context_and_seen_types(ns):
    unseen_mass = ns["unseen_mass"]
    # c(h) = 6 over 2 seen types; the unseen characters have lower-order mass 0.3 + 0.2
    got = unseen_mass([4, 2, 0, 0], [0.1, 0.4, 0.3, 0.2], 0.5)
    assert math.isclose(got, 0.5 * 2 / 6 * 0.5), got       # not 0.5*2/6 (no lower factor), not 2 unseen types
    assert unseen_mass([0, 0, 0], [0.2, 0.3, 0.5], 0.75) == 1.0
    assert unseen_mass([1, 1, 1], [0.2, 0.3, 0.5], 0.75) == 0.0


def test_ex_ch02_4_the_hand_values_are_exact(ns):
    from fractions import Fraction
    o, space = ns["mass_after_o"], ns["mass_after_space"]
    assert isinstance(o, Fraction) and isinstance(space, Fraction)
    assert o == Fraction(27, 104), o                        # 3/4 * 3/4 * 6/13
    assert space == Fraction(18, 65), space                 # 3/4 * 4/5 * 6/13
    kn = _tiny_kn()
    for h, value in (("o", o), (" ", space)):
        counts = np.array([kn.count(h + w) for w in kn.vocab])
        assert math.isclose(float(value), kn.probs(h)[counts == 0].sum(), rel_tol=1e-12)


# --- ex-ch02-5: em_weights(probs, iters), the interpolation experiment -------------------------
def _log_lik(w, probs):
    return float(np.log(np.asarray(w) @ probs).sum())


def test_ex_ch02_5_em_reaches_the_likelihood_maximum(ns):
    em_weights = ns["em_weights"]
    rng = np.random.default_rng(5)
    probs = rng.uniform(0.01, 1.0, size=(2, 400))
    grid = np.linspace(0, 1, 2001)
    best = max(grid, key=lambda a: _log_lik([a, 1 - a], probs))
    w = np.asarray(em_weights(probs, iters=2000), dtype=float)
    assert w.shape == (2,) and math.isclose(w.sum(), 1.0, rel_tol=1e-9)
    assert abs(w[0] - best) < 1e-3, (w, best)
    # three models: no small move of the weights raises the likelihood
    probs3 = rng.uniform(0.01, 1.0, size=(3, 500)) * np.array([[1.0], [0.7], [1.3]])
    w3 = np.asarray(em_weights(probs3, iters=3000), dtype=float)
    base = _log_lik(w3, probs3)
    for i in range(3):
        for j in range(3):
            if i != j and w3[j] > 1e-3:
                moved = w3.copy()
                moved[i] += 1e-3
                moved[j] -= 1e-3
                assert _log_lik(moved, probs3) <= base + 1e-9, (i, j)


def test_ex_ch02_5_iterations_are_counted_and_start_equal(ns):
    em_weights = ns["em_weights"]
    probs = np.array([[0.5, 0.5, 0.5, 0.5], [0.9, 0.1, 0.9, 0.1]])
    np.testing.assert_allclose(em_weights(probs, iters=0), [0.5, 0.5])
    # one EM step by hand from (1/2, 1/2): responsibilities of model 0 are 0.5/1.4 and 0.5/0.6
    r0 = np.array([0.25 / 0.7, 0.25 / 0.3, 0.25 / 0.7, 0.25 / 0.3])
    np.testing.assert_allclose(em_weights(probs, iters=1), [r0.mean(), 1 - r0.mean()], rtol=1e-9)


_REFERENCE = {}


def _reference_experiment():
    if not _REFERENCE:
        from utils import data
        vocab = data.CharTokenizer.from_text(data.load_corpus("train")).chars
        train_text, val_text = data.load_corpus("train"), data.load_corpus("val")
        half = len(val_text) // 2
        q = np.exp(-np.stack([NGramModel(n, "add-k", k=0.01, vocab=vocab).fit(train_text).nll(val_text)
                              for n in range(1, 7)]))
        w = np.full(6, 1 / 6)
        for _ in range(100):
            r = w[:, None] * q[:, :half]
            w = (r / r.sum(axis=0)).mean(axis=1)
        kn = NGramModel(6, "modified-kneser-ney", vocab=vocab).fit(train_text)
        _REFERENCE.update(weights=w, mixture=math.exp(-np.log(w @ q[:, half:]).mean()),
                          kn=math.exp(kn.nll(val_text)[half:].mean()))
    return _REFERENCE


def test_ex_ch02_5_the_measured_numbers(ns):
    ref = _reference_experiment()
    np.testing.assert_allclose(np.asarray(ns["weights"], dtype=float), ref["weights"], atol=1e-4)
    assert math.isclose(ns["mixture_ppl"], ref["mixture"], rel_tol=1e-5), ns["mixture_ppl"]
    assert math.isclose(ns["kn_ppl"], ref["kn"], rel_tol=1e-6), ns["kn_ppl"]


def test_ex_ch02_5_the_conclusion_follows_the_numbers(ns):
    assert isinstance(ns["beats_kneser_ney"], (bool, np.bool_))
    assert bool(ns["beats_kneser_ney"]) == (ns["mixture_ppl"] < ns["kn_ppl"])
    assert 1 < ns["mixture_ppl"] < 71 and 1 < ns["kn_ppl"] < 71
