"""Hidden teacher tests for chapter 3's exercises (recurrent networks).

Each test takes ``ns``, the namespace where the student's function is defined.
"""
import math

import numpy as np
import torch


# --- ex-ch03-1: clip_by_global_norm ---------------------------------------------------
def test_ex_ch03_1_matches_torch_clip_grad_norm(ns):
    clip = ns["clip_by_global_norm"]
    g = np.random.default_rng(11)
    grads = [g.normal(size=(4, 3)) * 10, g.normal(size=7) * 10, g.normal(size=(2, 2, 2)) * 10]
    tensors = [torch.tensor(a) for a in grads]
    for t in tensors:
        t.grad = t.clone()
    torch.nn.utils.clip_grad_norm_(tensors, 2.5)
    out = clip(grads, 2.5)
    assert len(out) == 3
    for a, t in zip(out, tensors):
        assert np.shape(a) == tuple(t.shape)
        np.testing.assert_allclose(a, t.grad.numpy(), rtol=1e-6, atol=1e-9)


def test_ex_ch03_1_uses_the_joint_norm_not_one_per_array(ns):
    clip = ns["clip_by_global_norm"]
    a, b = np.array([0.8, 0.0]), np.array([0.0, 0.6, 0.0])   # each norm < 1, joint norm 1.0
    out = clip([a, b * 2], 1.0)                                # joint norm sqrt(0.64 + 1.44)
    scale = 1.0 / math.sqrt(0.64 + 1.44)
    np.testing.assert_allclose(out[0], a * scale, rtol=1e-9)
    np.testing.assert_allclose(out[1], b * 2 * scale, rtol=1e-9)


def test_ex_ch03_1_short_gradients_are_unchanged_and_inputs_untouched(ns):
    clip = ns["clip_by_global_norm"]
    a = np.array([[0.1, -0.2], [0.05, 0.0]])
    kept = a.copy()
    out = clip([a], 5.0)
    np.testing.assert_allclose(out[0], kept, rtol=0, atol=0)
    big = np.array([30.0, 40.0])
    clip([big], 1.0)
    np.testing.assert_array_equal(big, [30.0, 40.0])          # no in-place change


# --- ex-ch03-2: recurrent_param_count --------------------------------------------------
def test_ex_ch03_2_matches_torch_modules(ns):
    count = ns["recurrent_param_count"]
    for cls, gates in ((torch.nn.RNN, 1), (torch.nn.GRU, 3), (torch.nn.LSTM, 4)):
        for d, h in ((3, 8), (10, 2)):
            expected = sum(p.numel() for p in cls(d, h).parameters())
            assert count(d, h, gates=gates, n_bias=2) == expected, (cls.__name__, d, h)


def test_ex_ch03_2_input_and_hidden_sizes_are_not_swapped(ns):
    count = ns["recurrent_param_count"]
    assert count(2, 9, gates=4, n_bias=1) == 4 * 9 * (2 + 9 + 1)
    assert count(9, 2, gates=4, n_bias=1) == 4 * 2 * (9 + 2 + 1)


def test_ex_ch03_2_defaults_are_a_keras_simple_rnn(ns):
    count = ns["recurrent_param_count"]
    assert count(32, 128) == 32 * 128 + 128 * 128 + 128
    assert count(1, 1) == 3


# --- ex-ch03-3: perplexity ------------------------------------------------------------------
def test_ex_ch03_3_matches_torch_cross_entropy(ns):
    ppl = ns["perplexity"]
    g = np.random.default_rng(5)
    logits, targets = g.normal(0, 3, size=(50, 13)), g.integers(0, 13, size=50)
    ce = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(targets)).item()
    assert math.isclose(ppl(logits, targets), math.exp(ce), rel_tol=1e-9)


def test_ex_ch03_3_natural_log_and_uniform_is_vocabulary_size(ns):
    ppl = ns["perplexity"]
    assert math.isclose(ppl(np.zeros((4, 71)), [0, 1, 2, 70]), 71.0, rel_tol=1e-9)
    # two equally likely of four options at every position -> perplexity 2
    logits = np.array([[0.0, 0.0, -np.inf, -np.inf]] * 3)
    logits[np.isinf(logits)] = -1e4
    assert math.isclose(ppl(logits, [0, 1, 0]), 2.0, rel_tol=1e-9)


def test_ex_ch03_3_is_stable_for_large_logits(ns):
    ppl = ns["perplexity"]
    g = np.random.default_rng(6)
    logits, targets = g.normal(size=(8, 5)), g.integers(0, 5, size=8)
    assert math.isclose(ppl(logits + 5000.0, targets), ppl(logits, targets), rel_tol=1e-9)
    assert math.isclose(ppl(np.array([[2000.0, 0.0, 0.0]]), np.array([0])), 1.0, rel_tol=1e-12)
