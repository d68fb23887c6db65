"""Hidden teacher tests for chapter 1's exercises (background).

Each test takes ``ns``, the namespace where the student's functions and values are defined.
"""
import collections
import math
import re

import numpy as np
import torch

from utils import data

WORD = r"[a-z]+(?:['-][a-z]+)*"
KS = [1, 2, 4, 8, 16, 30]


def _n_params(module):
    return sum(p.numel() for p in module.parameters())


def _shakespeare_curves():
    """Token OOV rates of the validation plays for vocabularies of the first k training plays:
    (word rates, character rates), counted independently of the exercise's functions."""
    texts = [data.play_text(p.name) for p in data.plays() if p.split == "train"]
    val_text = data.load_corpus("val")
    curves = []
    for items, val_items in (([re.findall(WORD, t.lower()) for t in texts], re.findall(WORD, val_text.lower())),
                             ([list(t) for t in texts], list(val_text))):
        val_counts = collections.Counter(val_items)
        curve = []
        for k in KS:
            seen = set()
            for play in items[:k]:
                seen.update(play)
            curve.append(sum(c for w, c in val_counts.items() if w not in seen) / len(val_items))
        curves.append(curve)
    return curves


# --- ex-ch01-1: sequence_log_prob, the uniform model's cross-entropy ----------------------
def test_ex_ch01_1_is_natural_log_of_the_product(ns):
    f = ns["sequence_log_prob"]
    P = np.array([[0.2, 0.8], [0.6, 0.4]])
    ids = [0, 1, 1, 0, 0]
    expected = math.log(0.8 * 0.4 * 0.6 * 0.2)      # no factor for the first id, none for a wrap-around
    assert math.isclose(f(ids, P), expected, rel_tol=1e-12)


def test_ex_ch01_1_uses_previous_to_next_order(ns):
    f = ns["sequence_log_prob"]
    P = np.array([[0.5, 0.5], [0.9, 0.1]])
    assert math.isclose(f([1, 0], P), math.log(0.9), rel_tol=1e-12)   # P[1, 0], not P[0, 1]
    P3 = np.array([[0.1, 0.2, 0.7], [0.3, 0.3, 0.4], [0.5, 0.25, 0.25]])
    assert math.isclose(f([0, 2, 1], P3), math.log(0.7) + math.log(0.25), rel_tol=1e-12)


def test_ex_ch01_1_does_not_underflow_and_counts_every_pair(ns):
    f = ns["sequence_log_prob"]
    P = np.full((3, 3), 1 / 3)
    ids = np.random.default_rng(0).integers(0, 3, size=20_000)
    assert math.isclose(f(ids, P), 19_999 * math.log(1 / 3), rel_tol=1e-9)
    assert f([2], P) == 0.0 and f(np.array([1]), P) == 0.0


def test_ex_ch01_1_uniform_cross_entropy_in_nats_and_bits(ns):
    assert math.isclose(ns["uniform_nats"], math.log(71), rel_tol=1e-9)
    assert math.isclose(ns["uniform_bits"], math.log(71) / math.log(2), rel_tol=1e-9)


# --- ex-ch01-2: first_layer_params, limit_ratio -----------------------------------------
def test_ex_ch01_2_one_hot_count_matches_torch(ns):
    f = ns["first_layer_params"]
    for n, V, H in ((1, 5, 2), (3, 11, 7), (6, 71, 128)):
        assert f(n, V, H) == _n_params(torch.nn.Linear(n * V, H)), (n, V, H)


def test_ex_ch01_2_shared_table_is_counted_once(ns):
    f = ns["first_layer_params"]
    for n, V, H, m in ((1, 5, 2, 3), (4, 11, 7, 2), (6, 71, 128, 16)):
        model = torch.nn.Sequential(torch.nn.Embedding(V, m), torch.nn.Flatten(), torch.nn.Linear(n * m, H))
        assert f(n, V, H, m) == _n_params(model), (n, V, H, m)
    assert f(6, 71, 128, m=16) == 13_552 and f(6, 71, 128) == 54_656


def test_ex_ch01_2_limit_ratio_is_V_over_m(ns):
    assert math.isclose(ns["limit_ratio"], 71 / 16, rel_tol=1e-6)


# --- ex-ch01-3: token_oov_rate, oov_curve, the measured curve and its conclusions --------
def test_ex_ch01_3_token_rate_counts_running_words(ns):
    f = ns["token_oov_rate"]
    assert math.isclose(f({"a"}, ["a", "b", "b", "c"]), 0.75)           # the type rate would be 2/3
    assert math.isclose(f({"a", "b"}, ["b", "b", "b", "c", "c"]), 0.4)
    assert f({"a"}, []) == 0.0 and f(set(), []) == 0.0
    assert math.isclose(f(set("ab"), "abcab"), 0.2)                      # a string: its characters
    assert math.isclose(f(set(), ["x", "y"]), 1.0)


def test_ex_ch01_3_curve_uses_the_first_k_plays_together(ns):
    f = ns["oov_curve"]
    plays = [["a", "b"], ["c"], ["d", "a"]]
    val = ["a", "c", "d", "e"]
    assert np.allclose(f(plays, val, [1, 2, 3]), [0.75, 0.5, 0.25])      # cumulative, first k
    assert np.allclose(f(plays, val, [3, 1]), [0.25, 0.75])              # any order of ks
    assert np.allclose(f(plays, ["e", "e"], [2]), [1.0])


def test_ex_ch01_3_rates_measured_on_the_plays(ns):
    words, chars = _shakespeare_curves()
    assert list(ns["ks"]) == KS
    assert np.allclose(ns["rates"], words, rtol=1e-9, atol=0)
    assert np.allclose(ns["char_rates"], chars, rtol=1e-9, atol=0)


def test_ex_ch01_3_conclusions_follow_from_the_fit(ns):
    words, _ = _shakespeare_curves()
    slope, intercept = np.polyfit(np.log(KS), np.log(words), 1)
    assert math.isclose(ns["slope"], slope, rel_tol=1e-6)
    assert math.isclose(ns["plays_to_halve"], 2 ** (-1 / slope), rel_tol=1e-6)
    assert math.isclose(ns["plays_for_1_percent"], math.exp((math.log(0.01) - intercept) / slope), rel_tol=1e-6)
