"""Hidden teacher tests for chapter 5's exercises.

Each test takes ``ns``, the namespace dict holding the student's functions.
"""
import math

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from utils.gpt import GPT, GPTConfig


# --- ex-ch05-1: train_flops_per_token(n_layer, n_embd, block_size, vocab_size) -----------------
def _counted(n_layer, n_embd, block_size, vocab_size, n_head=2, batch=2):
    net = GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=n_head,
                        n_embd=n_embd))
    ids = torch.randint(0, vocab_size, (batch, block_size), generator=torch.Generator().manual_seed(0))
    with FlopCounterMode(display=False) as counter:
        net(ids, ids)[1].backward()
    weights = sum(v for k, v in counter.get_flop_counts()["Global"].items() if str(k) in ("aten.mm", "aten.addmm"))
    q, k, v = (torch.randn(batch, n_head, block_size, n_embd // n_head, requires_grad=True) for _ in range(3))
    with FlopCounterMode(display=False) as counter:
        (torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v).sum().backward()
    return (weights + n_layer * counter.get_total_flops()) / (batch * block_size)


def test_ex_ch05_1_matches_the_flop_counter(ns):
    f = ns["train_flops_per_token"]
    for shape in ((1, 16, 8, 11), (2, 24, 32, 71), (3, 40, 20, 5)):
        assert float(f(*shape)) == _counted(*shape), shape


def test_ex_ch05_1_counts_attention_over_the_window(ns):
    f = ns["train_flops_per_token"]
    # doubling T adds exactly 3 * 2 * 2 * L * T * C: attention's share, not 6N
    L, C, V = 2, 64, 71
    assert float(f(L, C, 256, V)) - float(f(L, C, 128, V)) == 12 * L * 128 * C


def test_ex_ch05_1_gpt2_small_value(ns):
    f = ns["train_flops_per_token"]
    L, C, T, V = 12, 768, 1024, 50257
    assert float(f(L, C, T, V)) == 6 * (12 * L * C * C + V * C) + 12 * L * T * C


# --- ex-ch05-2: accumulated_grads(model, x, y, n_micro) -----------------------------------------
def _setup(seed=0, batch=12):
    torch.manual_seed(seed)
    net = GPT(GPTConfig(vocab_size=13, block_size=8, n_layer=1, n_head=2, n_embd=8)).double()
    g = torch.Generator().manual_seed(seed + 1)
    x, y = torch.randint(0, 13, (batch, 8), generator=g), torch.randint(0, 13, (batch, 8), generator=g)
    net.zero_grad(set_to_none=True)
    net(x, y)[1].backward()
    full = [p.grad.clone() for p in net.parameters()]
    return net, x, y, full


def test_ex_ch05_2_equals_the_full_batch(ns):
    f = ns["accumulated_grads"]
    net, x, y, full = _setup()
    for n in (1, 2, 3, 4, 6, 12):
        acc = f(net, x, y, n)
        assert len(acc) == len(full)
        for a, b in zip(acc, full):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_ex_ch05_2_scales_by_the_number_of_micro_batches(ns):
    f = ns["accumulated_grads"]
    net, x, y, full = _setup(seed=3)
    acc = f(net, x, y, 4)
    ratio = (torch.cat([a.flatten() for a in acc]).norm() / torch.cat([b.flatten() for b in full]).norm()).item()
    assert abs(ratio - 1) < 1e-9, f"gradient norm ratio {ratio}: a sum of micro-batch means is 4x too large"


def test_ex_ch05_2_clears_old_gradients_and_keeps_every_micro_batch(ns):
    f = ns["accumulated_grads"]
    net, x, y, full = _setup(seed=5)
    f(net, x, y, 3)
    again = f(net, x, y, 3)                    # stale gradients from the first call must not add up
    for a, b in zip(again, full):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


# --- ex-ch05-3: compute_optimal(C, A, B, alpha, beta), exponent, tokens_per_param ----------------
def _brute(C, A, B, alpha, beta):
    grid = np.geomspace(1e2, 1e14, 400_001)
    loss = A / grid ** alpha + B / (C / (6 * grid)) ** beta
    return grid[np.argmin(loss)]


def test_ex_ch05_3_minimises_the_loss_on_the_budget(ns):
    f = ns["compute_optimal"]
    for C, A, B, alpha, beta in ((1e20, 406.4, 410.7, 0.34, 0.28), (1e15, 100.0, 300.0, 0.5, 0.3),
                                 (3e22, 50.0, 50.0, 0.3, 0.3)):
        N, D = f(C, A, B, alpha, beta)
        assert abs(N / _brute(C, A, B, alpha, beta) - 1) < 2e-4, (C, N)
        assert abs(6 * N * D / C - 1) < 1e-9                    # the whole budget, C = 6ND


def test_ex_ch05_3_exponent_and_tokens_per_parameter(ns):
    assert abs(float(ns["exponent"]) - 0.28 / 0.62) < 1e-4      # beta / (alpha + beta), not alpha / (alpha + beta)
    G = (0.34 * 406.4 / (0.28 * 410.7)) ** (1 / 0.62)
    N = G * (1e23 / 6) ** (0.28 / 0.62)
    assert abs(float(ns["tokens_per_param"]) - 1e23 / (6 * N) / N) < 1e-6 * 78


def test_ex_ch05_3_equal_exponents_give_the_square_root(ns):
    f = ns["compute_optimal"]
    n1, _ = f(1e20, 200.0, 200.0, 0.3, 0.3)
    n2, _ = f(1e22, 200.0, 200.0, 0.3, 0.3)
    assert abs(math.log(n2 / n1) / math.log(100) - 0.5) < 1e-9
