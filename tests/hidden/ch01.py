"""Hidden teacher tests for chapter 1's exercises (background).

Each test takes ``ns``, the namespace where the student's function is defined.
"""
import math

import numpy as np
import torch


# --- ex-ch01-1: bigram_table ------------------------------------------------------------
def test_ex_ch01_1_matches_counts_from_torch(ns):
    table = ns["bigram_table"]
    ids = np.random.default_rng(5).integers(0, 6, size=400)
    pairs = torch.tensor(ids[:-1] * 6 + ids[1:])
    counts = torch.bincount(pairs, minlength=36).reshape(6, 6).double()
    expected = counts / counts.sum(1, keepdim=True)
    np.testing.assert_allclose(table(ids, 6), expected.numpy(), rtol=1e-12)


def test_ex_ch01_1_rows_are_next_token_distributions(ns):
    P = np.asarray(ns["bigram_table"]([2, 0, 2, 2, 1], 3))
    # P[i, j] = share of j after i: the row index is the *previous* id, not the next one
    np.testing.assert_allclose(P[2], [1 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(P[0], [0, 0, 1])
    np.testing.assert_allclose(P[1], [0, 0, 0])      # 1 is never followed by anything


def test_ex_ch01_1_does_not_count_a_wraparound_pair(ns):
    P = np.asarray(ns["bigram_table"]([0, 1], 2))
    np.testing.assert_allclose(P, [[0, 1], [0, 0]])


# --- ex-ch01-2: sequence_log_prob -------------------------------------------------------
def test_ex_ch01_2_is_natural_log_of_the_product(ns):
    f = ns["sequence_log_prob"]
    P = np.array([[0.2, 0.8], [0.6, 0.4]])
    ids = [0, 1, 1, 0, 0]
    expected = math.log(0.8 * 0.4 * 0.6 * 0.2)
    assert math.isclose(f(ids, P), expected, rel_tol=1e-12)


def test_ex_ch01_2_does_not_underflow(ns):
    f = ns["sequence_log_prob"]
    P = np.full((3, 3), 1 / 3)
    ids = np.random.default_rng(0).integers(0, 3, size=20_000)
    assert math.isclose(f(ids, P), 19_999 * math.log(1 / 3), rel_tol=1e-9)


def test_ex_ch01_2_uses_previous_to_next_order(ns):
    f = ns["sequence_log_prob"]
    P = np.array([[0.5, 0.5], [0.9, 0.1]])
    assert math.isclose(f([1, 0], P), math.log(0.9), rel_tol=1e-12)   # P[1, 0], not P[0, 1]


# --- ex-ch01-3: dense_stack_params ------------------------------------------------------
def test_ex_ch01_3_article_model(ns):
    f = ns["dense_stack_params"]
    expected = 426 * 256 + 256 + 256 * 128 + 128 + 128 * 64 + 64 + 64 * 32 + 32 + 32 * 16 + 16 + 16 + 1
    assert f(426, [256, 128, 64, 32, 16, 1]) == expected == 153_089


def test_ex_ch01_3_matches_torch_linear_layers(ns):
    f = ns["dense_stack_params"]
    widths, n_in = [7, 5, 3], 11
    layers, prev = [], n_in
    for w in widths:
        layers.append(torch.nn.Linear(prev, w))
        prev = w
    assert f(n_in, widths) == sum(p.numel() for p in torch.nn.Sequential(*layers).parameters())


def test_ex_ch01_3_empty_stack_has_no_parameters(ns):
    assert ns["dense_stack_params"](10, []) == 0
