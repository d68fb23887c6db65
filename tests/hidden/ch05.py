"""Hidden teacher tests for chapter 5's exercises.

Each test takes ``ns``, the namespace dict holding the student's functions.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F


# --- ex-ch05-1: cross_entropy_np(logits, targets) ---------------------------------------------
def test_ex_ch05_1_matches_torch_on_random_logits(ns):
    f = ns["cross_entropy_np"]
    rng = np.random.default_rng(11)
    for n, v in ((1, 2), (17, 71), (40, 5)):
        z = rng.normal(scale=3.0, size=(n, v))
        t = rng.integers(0, v, size=n)
        ref = F.cross_entropy(torch.tensor(z), torch.tensor(t)).item()
        assert abs(float(f(z, t)) - ref) < 1e-8


def test_ex_ch05_1_is_a_mean_in_nats_not_a_sum_or_bits(ns):
    f = ns["cross_entropy_np"]
    z = np.zeros((4, 8))                       # uniform: log(8) nats per position
    out = float(f(z, np.array([0, 1, 2, 3])))
    assert abs(out - math.log(8)) < 1e-10      # a sum gives 4 log 8; bits give 3


def test_ex_ch05_1_picks_the_target_column(ns):
    f = ns["cross_entropy_np"]
    z = np.array([[5.0, 0.0, 0.0], [0.0, 0.0, 5.0]])
    good, bad = float(f(z, np.array([0, 2]))), float(f(z, np.array([2, 0])))
    assert good < 0.02 and bad > 5.0          # catches indexing rows instead of columns


def test_ex_ch05_1_is_numerically_stable(ns):
    f = ns["cross_entropy_np"]
    z = np.array([[1000.0, 999.0, -1000.0], [-500.0, 800.0, 800.0]])
    out = float(f(z, np.array([1, 2])))
    ref = F.cross_entropy(torch.tensor(z), torch.tensor([1, 2])).item()
    assert np.isfinite(out) and abs(out - ref) < 1e-9


# --- ex-ch05-2: warmup_cosine(step, max_lr, warmup_steps, max_steps, min_lr) -------------------
def _ref_lr(step, max_lr, warmup_steps, max_steps, min_lr):
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= max_steps:
        return min_lr
    progress = (step - warmup_steps) / (max_steps - warmup_steps)
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (max_lr - min_lr)


def test_ex_ch05_2_matches_the_schedule_everywhere(ns):
    f = ns["warmup_cosine"]
    for args in ((6e-4, 100, 2000, 6e-5), (1e-2, 7, 50, 0.0), (3e-3, 0, 300, 3e-4)):
        for s in list(range(0, args[2] + 30, 3)) + [args[1] - 1, args[1], args[2]]:
            if s < 0:
                continue
            assert abs(f(s, *args) - _ref_lr(s, *args)) < 1e-12 * max(1.0, args[0]), (s, args)


def test_ex_ch05_2_warmup_is_off_by_one_correct(ns):
    f = ns["warmup_cosine"]
    assert abs(f(0, 1.0, 4, 100, 0.0) - 0.25) < 1e-12    # (0 + 1) / 4, not 0
    assert abs(f(3, 1.0, 4, 100, 0.0) - 1.0) < 1e-12     # the peak at the last warm-up step


def test_ex_ch05_2_floor_and_midpoint(ns):
    f = ns["warmup_cosine"]
    assert abs(f(100, 1.0, 0, 100, 0.1) - 0.1) < 1e-12
    assert abs(f(1000, 1.0, 0, 100, 0.1) - 0.1) < 1e-12  # stays at the floor
    assert abs(f(50, 1.0, 0, 100, 0.1) - 0.55) < 1e-12   # half-way: mean of peak and floor


# --- ex-ch05-3: adamw_update(w, g, m, v, t, lr, beta1, beta2, eps, weight_decay) ---------------
def _torch_steps(w0, grads, lr, betas, eps, wd):
    p = torch.nn.Parameter(torch.tensor(w0))
    opt = torch.optim.AdamW([p], lr=lr, betas=betas, eps=eps, weight_decay=wd)
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
    st = opt.state[p]
    return p.detach().numpy(), st["exp_avg"].numpy(), st["exp_avg_sq"].numpy()


def test_ex_ch05_3_matches_torch_over_many_steps(ns):
    f = ns["adamw_update"]
    rng = np.random.default_rng(5)
    w0 = rng.normal(size=(6, 2))
    grads = [rng.normal(size=(6, 2)) * 10 ** rng.uniform(-2, 1) for _ in range(8)]
    w, m, v = w0, np.zeros_like(w0), np.zeros_like(w0)
    for t, g in enumerate(grads, start=1):
        w, m, v = f(w, g, m, v, t, 3e-3, 0.9, 0.95, 1e-8, 0.1)
    ref_w, ref_m, ref_v = _torch_steps(w0, grads, 3e-3, (0.9, 0.95), 1e-8, 0.1)
    np.testing.assert_allclose(w, ref_w, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m, ref_m, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(v, ref_v, rtol=1e-10, atol=1e-14)


def test_ex_ch05_3_weight_decay_is_decoupled(ns):
    f = ns["adamw_update"]
    # zero gradient: Adam with L2 in the gradient would take a full-size step; AdamW only shrinks
    w, _, _ = f(np.array([2.0]), np.array([0.0]), np.array([0.0]), np.array([0.0]), 1, 0.1, 0.9, 0.999, 1e-8, 0.5)
    assert abs(w[0] - 2.0 * (1 - 0.1 * 0.5)) < 1e-12


def test_ex_ch05_3_uses_bias_correction_with_t(ns):
    f = ns["adamw_update"]
    w, m, v = f(np.zeros(2), np.array([0.5, -2.0]), np.zeros(2), np.zeros(2), 1, 0.01, 0.9, 0.999, 1e-8, 0.0)
    np.testing.assert_allclose(w, [-0.01, 0.01], rtol=1e-6)          # first step: size lr
    np.testing.assert_allclose(m, [0.05, -0.2], rtol=1e-12)
    np.testing.assert_allclose(v, [0.00025, 0.004], rtol=1e-12)
    # at t=3 with given moments the correction uses t, not 1
    w3, _, _ = f(np.zeros(1), np.ones(1), np.full(1, 0.1), np.full(1, 0.001), 3, 0.01, 0.9, 0.999, 0.0, 0.0)
    m3, v3 = 0.9 * 0.1 + 0.1, 0.999 * 0.001 + 0.001
    expected = -0.01 * (m3 / (1 - 0.9 ** 3)) / math.sqrt(v3 / (1 - 0.999 ** 3))
    assert abs(w3[0] - expected) < 1e-12
