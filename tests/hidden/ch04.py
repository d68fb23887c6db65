"""Hidden teacher tests for chapter 4's exercises.

Each test takes ``ns``, the namespace dict holding the student's functions.
"""
import itertools
import math

import numpy as np
import torch
import torch.nn as nn

from utils import attention as att


# --- ex-ch04-1: seed_num_params(n_vocab, d_model, num_layers, dim_feedforward, bias=True) ---------
def _built(V, d, h, L, f, bias):
    count = lambda module: sum(p.numel() for p in module.parameters())
    layers = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, h, f, bias=bias), L, enable_nested_tensor=False)
    return count(nn.Embedding(V, d)) + count(att.PositionalEncoding(d, max_len=50)) + count(layers) \
        + count(nn.Linear(d, V))


def test_ex_ch04_1_matches_built_models(ns):
    f = ns["seed_num_params"]
    for V, d, h, L, ff, bias in ((17, 6, 2, 4, 9, True), (30, 16, 4, 1, 64, False), (3, 10, 5, 2, 11, False),
                                 (50257, 768, 12, 12, 3072, True)):
        if d > 100:                                   # GPT-2-sized: count by hand, building is slow
            expected = 50257 * 768 * 2 + 50257 + 12 * (4 * 768 ** 2 + 4 * 768 + 2 * 768 * 3072 + 3072 + 768 + 4 * 768)
        else:
            expected = _built(V, d, h, L, ff, bias)
        assert f(V, d, L, ff, bias=bias) == expected, (V, d, L, ff, bias)


def test_ex_ch04_1_bias_false_keeps_the_output_bias_and_layernorm_gains(ns):
    f = ns["seed_num_params"]
    # no layers: only the embedding and the output layer, whose bias stays
    assert f(10, 4, 0, 8, bias=False) == 10 * 4 + 4 * 10 + 10
    assert f(10, 4, 0, 8, bias=True) == 10 * 4 + 4 * 10 + 10
    # one layer: the biases of in_proj, out_proj, linear1, linear2 and the two LayerNorms
    assert f(10, 4, 1, 8, bias=True) - f(10, 4, 1, 8, bias=False) == 3 * 4 + 4 + 8 + 4 + 2 * 4


def test_ex_ch04_1_positional_encoding_adds_nothing(ns):
    # the sinusoidal table is a buffer: a count that grows with max_len or d * 5000 is wrong
    assert ns["seed_num_params"](71, 64, 2, 256) == 109_127
    assert ns["seed_num_params"](71, 32, 2, 256) == _built(71, 32, 4, 2, 256, True)


# --- ex-ch04-2: blind_reversal_accuracy(T, vocab), blind_bound ----------------------------------
def _enumerated(T, vocab):
    n = T - 1
    total = sum(max(np.bincount(seq, minlength=vocab)) for seq in itertools.product(range(vocab), repeat=n))
    return total / vocab ** n / n


def test_ex_ch04_2_exact_against_enumeration(ns):
    f = ns["blind_reversal_accuracy"]
    for T, vocab in ((2, 3), (4, 3), (6, 3), (6, 4), (8, 2)):
        assert math.isclose(f(T, vocab), _enumerated(T, vocab), rel_tol=1e-12), (T, vocab)


def test_ex_ch04_2_excludes_the_own_digit(ns):
    # counting the own digit too (E[max of T draws] / T) gives 0.55 here, not 1
    assert ns["blind_reversal_accuracy"](2, 10) == 1.0
    assert math.isclose(ns["blind_reversal_accuracy"](4, 10), (1 * 0.72 + 2 * 0.27 + 3 * 0.01) / 3, rel_tol=1e-12)


def test_ex_ch04_2_bound_for_the_chapter_toy(ns):
    assert math.isclose(ns["blind_bound"], 0.3171700, abs_tol=1e-7)


# --- ex-ch04-3: position_accuracy(causal, steps, seed), acc_causal, acc_bidirectional -----------
def test_ex_ch04_3_expected_bidirectional_accuracy(ns):
    assert math.isclose(ns["bidirectional_expected"], 2 / 16, rel_tol=1e-12)


def test_ex_ch04_3_stored_results_support_the_conclusion(ns):
    assert ns["acc_causal"] > 0.9
    assert abs(ns["acc_bidirectional"] - 0.125) < 0.02


def test_ex_ch04_3_another_seed_gives_the_same_conclusion(ns):
    torch.set_num_threads(1)
    f = ns["position_accuracy"]
    assert f(True, steps=300, seed=1) > 0.9
    assert abs(f(False, steps=300, seed=1) - 0.125) < 0.02
