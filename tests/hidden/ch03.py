"""Hidden teacher tests for chapter 3's exercises (recurrent networks).

Each test takes ``ns``, the namespace where the student's function is defined.
"""
import math

import numpy as np
import torch


# --- ex-ch03-1: gradient_bound, steps_to_vanish ------------------------------------------
def test_ex_ch03_1_bound_uses_the_largest_slope_and_exactly_T_factors(ns):
    bound = ns["gradient_bound"]
    assert math.isclose(bound(0.5, 1), 0.5, rel_tol=1e-12)            # T factors, not T - 1 or T + 1
    assert math.isclose(bound(3.0, 4), 81.0, rel_tol=1e-12)
    assert math.isclose(bound(4.0, 1, "sigmoid"), 1.0, rel_tol=1e-12)   # max sigmoid' = 1/4, not 1/2 or 1
    assert math.isclose(bound(3.0, 5, "sigmoid"), 0.75 ** 5, rel_tol=1e-12)
    assert math.isclose(bound(0.9, 7, activation="tanh"), 0.9 ** 7, rel_tol=1e-12)


def test_ex_ch03_1_steps_are_the_smallest_T_at_or_below_eps(ns):
    steps = ns["steps_to_vanish"]
    for u, act, q in ((0.9, "tanh", 0.9), (0.5, "tanh", 0.5), (2.0, "sigmoid", 0.5), (3.6, "sigmoid", 0.9)):
        for T in (1, 7, 40):
            assert steps(u, q ** T * (1 + 1e-9), act) == T, (u, act, T)       # just above q^T: T suffices
            assert steps(u, q ** T * (1 - 1e-9), act) == T + 1, (u, act, T)   # just below: one more step
    assert steps(0.9, 1e-3) == 66 and steps(2.0, 1e-3, "sigmoid") == 10


def test_ex_ch03_1_a_bound_exactly_equal_to_eps_is_enough(ns):
    steps = ns["steps_to_vanish"]
    for T in (1, 2, 7):                        # 0.5**T is exact, and so is ln(0.5**T) / ln(0.5) here
        assert steps(0.5, 0.5 ** T) == T, T                   # not T + 1 (int(...) + 1, or "bound < eps")
        assert steps(2.0, 0.5 ** T, "sigmoid") == T, T


def test_ex_ch03_1_no_guarantee_without_contraction(ns):
    steps = ns["steps_to_vanish"]
    assert steps(1.0, 0.5) == math.inf
    assert steps(1.5, 1e-3, "tanh") == math.inf
    assert steps(4.0, 1e-3, "sigmoid") == math.inf
    assert steps(3.9, 1e-3, "sigmoid") < math.inf                     # (3.9 / 4) < 1


def test_ex_ch03_1_bound_holds_for_a_measured_sigmoid_rnn(ns):
    bound = ns["gradient_bound"]
    g = np.random.default_rng(3)
    Q, _ = np.linalg.qr(g.normal(size=(5, 5)))
    U = torch.tensor(3.0 * Q)
    W, x = torch.tensor(g.normal(size=(5, 2))), torch.tensor(g.normal(size=(15, 2)))

    def h_T(h):
        for x_t in x:
            h = torch.sigmoid(W @ x_t + U @ h)
        return h

    J = torch.autograd.functional.jacobian(h_T, torch.zeros(5, dtype=torch.float64)).numpy()   # dh_T/dh_0
    measured = np.linalg.norm(J, 2)
    assert measured <= bound(3.0, 15, "sigmoid") * (1 + 1e-9)
    assert measured > bound(3.0, 15, "sigmoid") * 1e-6                 # and is not absurdly loose


# --- ex-ch03-2: recurrent_param_count --------------------------------------------------
def test_ex_ch03_2_matches_torch_layers_with_two_bias_vectors(ns):
    count = ns["recurrent_param_count"]
    for cls, cell in ((torch.nn.RNN, "rnn"), (torch.nn.GRU, "gru"), (torch.nn.LSTM, "lstm")):
        for d, h in ((3, 8), (10, 2), (1, 1)):
            expected = sum(p.numel() for p in cls(d, h).parameters())
            assert count(cell, d, h) == expected, (cell, d, h)
            assert count(cell, d, h, framework="torch") == expected, (cell, d, h)


def test_ex_ch03_2_matches_keras_layers(ns):
    import keras
    count = ns["recurrent_param_count"]
    for cls, cell in ((keras.layers.SimpleRNN, "rnn"), (keras.layers.GRU, "gru"), (keras.layers.LSTM, "lstm")):
        for d, h in ((3, 8), (10, 2)):
            layer = cls(h)
            layer.build((None, None, d))
            assert count(cell, d, h, framework="keras") == layer.count_params(), (cell, d, h)


def test_ex_ch03_2_input_and_hidden_sizes_are_not_swapped(ns):
    count = ns["recurrent_param_count"]
    assert count("lstm", 2, 9, framework="keras") == 4 * 9 * (2 + 9 + 1)
    assert count("lstm", 9, 2, framework="keras") == 4 * 2 * (9 + 2 + 1)
    assert count("gru", 2, 9) == 3 * 9 * (2 + 9 + 2)


def test_ex_ch03_2_chapter_values(ns):
    assert ns["lstm_chapter"] == 4 * 128 * (32 + 128 + 2)
    assert ns["gru_units"] == 150
    assert 3 * 150 * (32 + 150 + 2) <= ns["lstm_chapter"] < 3 * 151 * (32 + 151 + 2)


# --- ex-ch03-3: input_gradient_norms, decay_per_step ------------------------------------------
def _reference_norms(layer, T, seed=0):
    x = torch.randn(1, T, layer.input_size, generator=torch.Generator().manual_seed(seed),
                    dtype=torch.float64, requires_grad=True)
    layer(x)[0][0, -1].sum().backward()
    return x.grad[0].norm(dim=1).flip(0).numpy()


def _reference_decays():
    out = {}
    for name, cls in (("rnn", torch.nn.RNN), ("gru", torch.nn.GRU), ("lstm", torch.nn.LSTM),
                      ("lstm, forget bias +1", torch.nn.LSTM)):
        torch.manual_seed(0)
        layer = cls(8, 32, batch_first=True).double()
        if name.endswith("+1"):
            with torch.no_grad():
                layer.bias_ih_l0[32:64] += 1.0
        g = _reference_norms(layer, 60)
        out[name] = math.exp(np.polyfit(np.arange(5, 60), np.log(g[5:]), 1)[0])
    return out


def test_ex_ch03_3_matches_the_chain_rule_in_the_linear_regime(ns):
    norms = ns["input_gradient_norms"]
    layer = torch.nn.RNN(2, 3, batch_first=True).double()
    g = np.random.default_rng(4)
    W, U = 1e-5 * g.normal(size=(3, 2)), 0.6 * g.normal(size=(3, 3))
    with torch.no_grad():
        layer.weight_ih_l0.copy_(torch.tensor(W))
        layer.weight_hh_l0.copy_(torch.tensor(U))
        layer.bias_ih_l0.zero_()
        layer.bias_hh_l0.zero_()
    got = norms(layer, 8, seed=2)
    # h stays ~1e-5, so tanh' = 1 and dL/dx_{T-d} = 1^T U^d W
    expected = [np.linalg.norm(np.ones(3) @ np.linalg.matrix_power(U, d) @ W) for d in range(8)]
    assert np.shape(got) == (8,)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_ex_ch03_3_lstm_and_gru_use_h_T_and_the_given_seed(ns):
    norms = ns["input_gradient_norms"]
    for cls in (torch.nn.LSTM, torch.nn.GRU):
        torch.manual_seed(7)
        layer = cls(3, 5, batch_first=True).double()
        np.testing.assert_allclose(norms(layer, 9, seed=4), _reference_norms(layer, 9, seed=4), rtol=1e-9)


def test_ex_ch03_3_decay_fit_is_natural_log_from_start(ns):
    decay = ns["decay_per_step"]
    g = 2.0 * 0.7 ** np.arange(30) * np.exp(np.random.default_rng(1).normal(0, 0.01, 30))
    expected = math.exp(np.polyfit(np.arange(5, 30), np.log(g[5:]), 1)[0])
    assert math.isclose(decay(g), expected, rel_tol=1e-9)
    g[:3] = 1e3                                      # junk before start must not count
    assert math.isclose(decay(g, start=3), math.exp(np.polyfit(np.arange(3, 30), np.log(g[3:]), 1)[0]), rel_tol=1e-9)
    assert math.isclose(decay(g), expected, rel_tol=1e-9)


def test_ex_ch03_3_measured_decays_and_distances(ns):
    ref = _reference_decays()
    decays, steps = ns["decays"], ns["steps_per_1000"]
    assert set(decays) == set(ref) == set(steps)
    for name, q in ref.items():
        assert abs(decays[name] - q) < 1e-6, (name, decays[name], q)   # seed, gate block, fit range exact
        assert math.isclose(steps[name], math.log(1000) / -math.log(decays[name]), rel_tol=1e-6), name


# --- ex-ch03-4: perplexity ------------------------------------------------------------------
def test_ex_ch03_4_matches_torch_cross_entropy(ns):
    ppl = ns["perplexity"]
    g = np.random.default_rng(5)
    logits, targets = g.normal(0, 3, size=(50, 13)), g.integers(0, 13, size=50)
    ce = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(targets)).item()
    assert math.isclose(ppl(logits, targets), math.exp(ce), rel_tol=1e-9)


def test_ex_ch03_4_natural_log_and_uniform_is_vocabulary_size(ns):
    ppl = ns["perplexity"]
    assert math.isclose(ppl(np.zeros((4, 71)), [0, 1, 2, 70]), 71.0, rel_tol=1e-9)
    # two equally likely of four options at every position -> perplexity 2
    logits = np.array([[0.0, 0.0, -np.inf, -np.inf]] * 3)
    logits[np.isinf(logits)] = -1e4
    assert math.isclose(ppl(logits, [0, 1, 0]), 2.0, rel_tol=1e-9)


def test_ex_ch03_4_is_stable_for_large_logits(ns):
    ppl = ns["perplexity"]
    g = np.random.default_rng(6)
    logits, targets = g.normal(size=(8, 5)), g.integers(0, 5, size=8)
    assert math.isclose(ppl(logits + 5000.0, targets), ppl(logits, targets), rel_tol=1e-9)
    assert math.isclose(ppl(np.array([[2000.0, 0.0, 0.0]]), np.array([0])), 1.0, rel_tol=1e-12)


def test_ex_ch03_4_each_row_subtracts_its_own_maximum(ns):
    ppl = ns["perplexity"]
    # rows on very different scales: one global maximum would underflow the second row to log 0
    assert math.isclose(ppl(np.array([[1000.0, 0.0], [0.0, 0.0]]), [0, 0]), math.sqrt(2), rel_tol=1e-9)
    assert math.isclose(ppl(np.array([[0.0, 0.0, 3000.0], [1.0, 0.0, 0.0]]), [2, 0]),
                        math.exp(-0.5 * (1 - math.log(math.e + 2))), rel_tol=1e-9)
    # a target 1000 below its row's maximum: -ln p = 1000 exactly in float64
    assert math.isclose(ppl(np.array([[0.0, 1000.0], [0.0, 0.0]]), [0, 1]), math.exp(500) * math.sqrt(2),
                        rel_tol=1e-9)
