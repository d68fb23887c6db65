"""Hidden teacher tests for chapter 4's exercises.

Each test takes ``ns``, the namespace dict holding the student's functions.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

from utils.gpt import GPT, GPTConfig


# --- ex-ch04-1: sinusoidal_pe(max_len, d_model) --------------------------------------------
def _reference_pe(max_len, d_model):
    pe = np.zeros((max_len, d_model))
    for pos in range(max_len):
        for i in range(d_model // 2):
            pe[pos, 2 * i] = math.sin(pos / 10000 ** (2 * i / d_model))
            pe[pos, 2 * i + 1] = math.cos(pos / 10000 ** (2 * i / d_model))
    return pe


def test_ex_ch04_1_values_match_the_formula(ns):
    f = ns["sinusoidal_pe"]
    for max_len, d_model in ((1, 2), (7, 6), (50, 32)):
        out = np.asarray(f(max_len, d_model), dtype=np.float64)
        assert out.shape == (max_len, d_model)
        np.testing.assert_allclose(out, _reference_pe(max_len, d_model), rtol=1e-6, atol=1e-8)


def test_ex_ch04_1_interleaves_sine_and_cosine(ns):
    out = np.asarray(ns["sinusoidal_pe"](20, 8), dtype=np.float64)
    # catches concatenating [sin | cos] instead of interleaving, or swapping sin and cos
    np.testing.assert_allclose(out[:, 1], np.cos(np.arange(20)), atol=1e-8)
    np.testing.assert_allclose(out[:, 2], np.sin(np.arange(20) / 10000 ** (2 / 8)), atol=1e-8)


def test_ex_ch04_1_uses_the_frequency_exponent_2i_over_d(ns):
    out = np.asarray(ns["sinusoidal_pe"](5, 16), dtype=np.float64)
    # the last pair has frequency 10000 ** (-14/16), not 10000 ** (-15/16) or 10000 ** (-7/16)
    np.testing.assert_allclose(out[4, 14], math.sin(4 / 10000 ** (14 / 16)), atol=1e-10)
    np.testing.assert_allclose(out[4, 15], math.cos(4 / 10000 ** (14 / 16)), atol=1e-10)


# --- ex-ch04-2: gpt_num_params(vocab_size, block_size, n_layer, n_embd) --------------------
def test_ex_ch04_2_matches_built_models(ns):
    f = ns["gpt_num_params"]
    for V, T, L, H, C in ((71, 64, 2, 4, 64), (13, 7, 3, 2, 10), (100, 32, 1, 1, 24)):
        assert f(V, T, L, C) == GPT(GPTConfig(V, T, L, H, C)).num_params(), (V, T, L, C)


def test_ex_ch04_2_counts_gpt2_small_with_tied_output(ns):
    # untied would add 50257 * 768 = 38,597,376
    assert ns["gpt_num_params"](50257, 1024, 12, 768) == 124_439_808


def test_ex_ch04_2_includes_position_embeddings_and_final_layer_norm(ns):
    f = ns["gpt_num_params"]
    assert f(10, 9, 1, 4) - f(10, 8, 1, 4) == 4          # one more position: one more vector
    assert f(10, 8, 2, 4) - f(10, 8, 1, 4) == 12 * 16 + 13 * 4  # one more block
    assert f(1, 1, 1, 2) == 2 + 2 + (12 * 4 + 13 * 2) + 4


# --- ex-ch04-3: causal_attention(q, k, v) --------------------------------------------------
def _sdpa(q, k, v):
    return F.scaled_dot_product_attention(*(torch.tensor(a) for a in (q, k, v)), is_causal=True).numpy()


def test_ex_ch04_3_equals_torch_over_random_shapes(ns):
    f = ns["causal_attention"]
    for seed in range(4):
        g = np.random.default_rng(seed)
        B, H, T, d, dv = (int(n) for n in g.integers(1, 9, size=5))
        q, k, v = g.normal(size=(B, H, T, d)), g.normal(size=(B, H, T, d)), g.normal(size=(B, H, T, dv))
        np.testing.assert_allclose(np.asarray(f(q, k, v)), _sdpa(q, k, v), rtol=1e-6, atol=1e-8)


def test_ex_ch04_3_scales_by_sqrt_d_and_includes_the_diagonal(ns):
    g = np.random.default_rng(10)
    q, k, v = 3 * g.normal(size=(6, 16)), 3 * g.normal(size=(6, 16)), g.normal(size=(6, 5))
    out = np.asarray(ns["causal_attention"](q, k, v))
    np.testing.assert_allclose(out, _sdpa(q, k, v), rtol=1e-6, atol=1e-8)  # unbatched, large scores
    np.testing.assert_allclose(out[0], v[0], atol=1e-10)   # a strict mask (no diagonal) would give NaN here


def test_ex_ch04_3_is_causal(ns):
    g = np.random.default_rng(11)
    q, k, v = g.normal(size=(2, 8, 4)), g.normal(size=(2, 8, 4)), g.normal(size=(2, 8, 3))
    out = np.asarray(ns["causal_attention"](q, k, v))
    k2, v2 = k.copy(), v.copy()
    k2[:, 5:] += 10.0
    v2[:, 5:] -= 10.0
    out2 = np.asarray(ns["causal_attention"](q, k2, v2))
    np.testing.assert_allclose(out2[:, :5], out[:, :5], atol=1e-10)
    assert not np.allclose(out2[:, 5:], out[:, 5:])
