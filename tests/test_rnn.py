"""utils.rnn (chapter 3): the NumPy recurrences equal torch and Keras; BPTT equals autograd."""
import numpy as np
import pytest
import torch

from utils import rnn

keras = pytest.importorskip("keras")

F32 = dict(rtol=1e-5, atol=1e-6)      # framework float32 vs NumPy float64
F64 = dict(rtol=1e-10, atol=1e-12)    # float64 on both sides

SHAPES = [(1, 1, 1, 1, 0), (2, 7, 3, 5, 1), (4, 3, 8, 16, 2), (3, 25, 2, 4, 3)]  # B, T, D, H, seed


def random_inputs(B, T, D, H, seed):
    g = np.random.default_rng(seed)
    return g.normal(size=(B, T, D)).astype(np.float32), g.normal(0, 0.5, (B, H)).astype(np.float32)


def lstm_params(D, H, seed, gates=4):
    g = np.random.default_rng(seed)
    return {"W": g.normal(0, 0.5, (gates * H, D)), "U": g.normal(0, 0.5, (gates * H, H)),
            "b": g.normal(0, 0.5, gates * H)}


@pytest.mark.parametrize("B,T,D,H,seed", SHAPES)
def test_simple_rnn_equals_torch_and_keras(B, T, D, H, seed):
    params = rnn.init_rnn_params(D, H, seed=seed)
    x, h0 = random_inputs(B, T, D, H, seed)
    ref = rnn.rnn_forward(x, **params, h0=h0)
    t_layer = torch.nn.RNN(D, H, batch_first=True)
    rnn.params_to_torch(params, t_layer)
    t_out, t_last = t_layer(torch.tensor(x), torch.tensor(h0[None]))
    np.testing.assert_allclose(t_out.detach().numpy(), ref, **F32)
    np.testing.assert_allclose(t_last[0].detach().numpy(), ref[:, -1], **F32)
    k_layer = keras.layers.SimpleRNN(H, return_sequences=True)
    rnn.params_to_keras(params, k_layer)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k_layer(x, initial_state=[h0])), ref, **F32)


def test_torch_uses_the_sum_of_its_two_biases():
    params = rnn.init_rnn_params(3, 4, seed=5)
    layer = torch.nn.RNN(3, 4, batch_first=True)
    rnn.params_to_torch(params, layer)
    with torch.no_grad():                      # move half of the bias to the other vector
        layer.bias_hh_l0.copy_(layer.bias_ih_l0 / 2)
        layer.bias_ih_l0.copy_(layer.bias_ih_l0 / 2)
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
    out = layer(torch.tensor(x))[0].detach().numpy()
    np.testing.assert_allclose(out, rnn.rnn_forward(x, **params), **F32)
    np.testing.assert_allclose(rnn.params_from_torch(layer)["b"], params["b"], rtol=1e-6, atol=1e-7)


def test_rnn_step_is_one_step_of_the_sequence_and_accepts_vectors():
    params = rnn.init_rnn_params(3, 5, seed=0)
    x, h0 = random_inputs(2, 4, 3, 5, 0)
    hs = rnn.rnn_forward(x, **params, h0=h0)
    np.testing.assert_allclose(rnn.rnn_step(x[:, 0], h0, **params), hs[:, 0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(rnn.rnn_step(x[:, 2], hs[:, 1], **params), hs[:, 2], rtol=0, atol=1e-15)
    one = rnn.rnn_step(x[0, 0], h0[0], **params)   # unbatched (D,) and (H,)
    assert one.shape == (5,)
    np.testing.assert_allclose(one, hs[0, 0], rtol=0, atol=1e-15)
    W, U, b = params["W"], params["U"], params["b"]
    np.testing.assert_allclose(one, np.tanh(W @ x[0, 0] + U @ h0[0] + b), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("activation", ["sigmoid", "softmax", "none"])
def test_output_layer_equals_torch_and_keras(activation):
    g = np.random.default_rng(1)
    h = g.normal(size=(2, 6, 5)).astype(np.float32)
    W_ho, b_o = g.normal(size=(7, 5)), g.normal(size=7)
    ref = rnn.output_layer(h, W_ho, b_o, activation=activation)
    linear = torch.nn.Linear(5, 7)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(W_ho))
        linear.bias.copy_(torch.tensor(b_o))
    z = linear(torch.tensor(h))
    act = {"sigmoid": torch.sigmoid, "softmax": lambda t: torch.softmax(t, -1), "none": lambda t: t}
    z = act[activation](z)
    np.testing.assert_allclose(z.detach().numpy(), ref, **F32)
    dense = keras.layers.Dense(7, activation={"none": None}.get(activation, activation))
    dense.build((None, 5))
    dense.set_weights([W_ho.T, b_o])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(dense(h)), ref, **F32)
    if activation == "softmax":
        np.testing.assert_allclose(ref.sum(-1), 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("B,T,D,H,seed", SHAPES[1:])
def test_lstm_equals_torch_and_keras(B, T, D, H, seed):
    params = lstm_params(D, H, seed)
    x, h0 = random_inputs(B, T, D, H, seed)
    c0 = np.random.default_rng(seed + 1).normal(size=(B, H)).astype(np.float32)
    hs, (hT, cT) = rnn.lstm_forward(x, **params, h0=h0, c0=c0)
    t_layer = torch.nn.LSTM(D, H, batch_first=True)
    rnn.params_to_torch(params, t_layer)
    t_out, (t_h, t_c) = t_layer(torch.tensor(x), (torch.tensor(h0[None]), torch.tensor(c0[None])))
    np.testing.assert_allclose(t_out.detach().numpy(), hs, **F32)
    np.testing.assert_allclose(t_c[0].detach().numpy(), cT, **F32)
    k_layer = keras.layers.LSTM(H, return_sequences=True, return_state=True)
    rnn.params_to_keras(params, k_layer)
    k_out, k_h, k_c = k_layer(x, initial_state=[h0, c0])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k_out), hs, **F32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k_c), cT, **F32)


def test_lstm_step_follows_the_equations():
    p = lstm_params(2, 3, 0)
    x, h, c = np.array([0.5, -1.0]), np.array([0.1, 0.2, -0.3]), np.array([1.0, -1.0, 0.5])
    a = p["W"] @ x + p["U"] @ h + p["b"]
    s = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    c_new = s(a[3:6]) * c + s(a[0:3]) * np.tanh(a[6:9])
    h_new = s(a[9:12]) * np.tanh(c_new)
    got_h, got_c = rnn.lstm_step(x, h, c, **p)
    np.testing.assert_allclose(got_c, c_new, rtol=1e-12)
    np.testing.assert_allclose(got_h, h_new, rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_gru_equals_torch(seed):
    torch.manual_seed(seed)
    layer = torch.nn.GRU(4, 6, batch_first=True).double()
    params = rnn.params_from_torch(layer)
    x, h0 = random_inputs(3, 9, 4, 6, seed)
    ref = layer(torch.tensor(x, dtype=torch.float64), torch.tensor(h0[None], dtype=torch.float64))[0]
    np.testing.assert_allclose(rnn.gru_forward(x, **params, h0=h0), ref.detach().numpy(), **F64)
    other = torch.nn.GRU(4, 6, batch_first=True).double()
    rnn.params_to_torch(params, other)
    for a, b in zip(layer.parameters(), other.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("B,T,D,H,seed", SHAPES)
def test_bptt_equals_autograd(B, T, D, H, seed):
    params = rnn.init_rnn_params(D, H, seed=seed)
    x, h0 = (a.astype(np.float64) for a in random_inputs(B, T, D, H, seed))
    dhs = np.random.default_rng(seed + 7).normal(size=(B, T, H))   # dL/dh_t from outside
    hs = rnn.rnn_forward(x, **params, h0=h0)
    grads = rnn.rnn_backward(x, hs, dhs, params["W"], params["U"], h0=h0)
    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in dict(params, h0=h0, x=x).items()}
    h, loss = leaves["h0"], 0.0
    for t in range(T):
        h = torch.tanh(leaves["x"][:, t] @ leaves["W"].T + h @ leaves["U"].T + leaves["b"])
        loss = loss + (h * torch.tensor(dhs[:, t])).sum()          # so dL/dh_t = dhs[:, t]
    loss.backward()
    for k in ("W", "U", "b", "h0", "x"):
        np.testing.assert_allclose(grads[k], leaves[k].grad.numpy(), **F64, err_msg=k)


def test_bptt_with_a_softmax_loss_equals_torch_rnn_autograd():
    """The chapter's language-model loss: nn.RNN + Linear + cross-entropy, float64."""
    T, D, H, V = 6, 4, 5, 7
    g = np.random.default_rng(3)
    params = rnn.init_rnn_params(D, H, seed=3)
    Wo, bo = g.normal(size=(V, H)), g.normal(size=V)
    x, y = g.normal(size=(1, T, D)), g.integers(0, V, size=T)
    layer = torch.nn.RNN(D, H, batch_first=True).double()
    rnn.params_to_torch(params, layer)
    Wo_t, bo_t = torch.tensor(Wo, requires_grad=True), torch.tensor(bo, requires_grad=True)
    out = layer(torch.tensor(x))[0][0]
    torch.nn.functional.cross_entropy(out @ Wo_t.T + bo_t, torch.tensor(y)).backward()
    hs = rnn.rnn_forward(x, **params)
    p = rnn.softmax(hs[0] @ Wo.T + bo)
    p[np.arange(T), y] -= 1
    dz = p / T
    grads = rnn.rnn_backward(x, hs, (dz @ Wo)[None], params["W"], params["U"])
    np.testing.assert_allclose(grads["W"], layer.weight_ih_l0.grad.numpy(), **F64)
    np.testing.assert_allclose(grads["U"], layer.weight_hh_l0.grad.numpy(), **F64)
    np.testing.assert_allclose(grads["b"], layer.bias_ih_l0.grad.numpy(), **F64)
    np.testing.assert_allclose(grads["b"], layer.bias_hh_l0.grad.numpy(), **F64)
    np.testing.assert_allclose(dz.T @ hs[0], Wo_t.grad.numpy(), **F64)


@pytest.mark.parametrize("scale", [0.01, 0.5, 100.0])
def test_clip_grad_norm_equals_torch(scale):
    g = np.random.default_rng(0)
    grads = [scale * g.normal(size=(3, 4)), scale * g.normal(size=5)]
    clipped, norm = rnn.clip_grad_norm(grads, max_norm=1.0)
    tensors = [torch.tensor(a) for a in grads]
    for t in tensors:
        t.grad = t.clone()
    norm_t = torch.nn.utils.clip_grad_norm_(tensors, max_norm=1.0)
    assert norm == pytest.approx(norm_t.item(), rel=1e-12)
    for a, t in zip(clipped, tensors):
        np.testing.assert_allclose(a, t.grad.numpy(), rtol=1e-12, atol=0)
    new_norm = np.sqrt(sum((a ** 2).sum() for a in clipped))
    assert new_norm == pytest.approx(min(norm, 1.0), rel=1e-5)


def test_weight_copy_round_trips():
    params = rnn.init_rnn_params(3, 5, seed=4, dtype=np.float32)
    layer = torch.nn.RNN(3, 5)
    rnn.params_to_torch(params, layer)
    back = rnn.params_from_torch(layer)
    for k in params:
        np.testing.assert_array_equal(back[k], params[k])
    k_layer = keras.layers.SimpleRNN(5)
    rnn.params_to_keras(back, k_layer)
    again = rnn.params_from_keras(k_layer)
    for k in params:
        np.testing.assert_array_equal(again[k], params[k])
    p4 = {k: v.astype(np.float32) for k, v in lstm_params(3, 5, 1).items()}
    k_lstm = keras.layers.LSTM(5)
    rnn.params_to_keras(p4, k_lstm)
    t_lstm = torch.nn.LSTM(3, 5)
    rnn.params_to_torch(rnn.params_from_keras(k_lstm), t_lstm)
    for k, v in rnn.params_from_torch(t_lstm).items():
        np.testing.assert_array_equal(v, p4[k])


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_char_models_agree_in_both_directions(cell):
    torch.manual_seed(0)
    t_model = rnn.TorchCharRNN(11, 4, 6, cell=cell)
    k_model = rnn.keras_char_rnn(11, 4, 6, cell=cell)
    idx = np.random.default_rng(0).integers(0, 11, size=(3, 8))
    rnn.char_rnn_torch_to_keras(t_model, k_model)
    t_logits = t_model(torch.tensor(idx))[0].detach().numpy()
    assert t_logits.shape == (3, 8, 11)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k_model(idx)), t_logits, rtol=1e-5, atol=1e-5)
    fresh = rnn.TorchCharRNN(11, 4, 6, cell=cell)
    rnn.char_rnn_keras_to_torch(k_model, fresh)
    np.testing.assert_allclose(fresh(torch.tensor(idx))[0].detach().numpy(), t_logits, rtol=1e-5, atol=1e-6)


def test_carried_state_equals_one_long_pass():
    """What the samplers rely on: reading in pieces with the state equals reading at once."""
    torch.manual_seed(1)
    t_model = rnn.TorchCharRNN(9, 3, 5)
    k_model = rnn.keras_char_rnn(9, 3, 5)
    rnn.char_rnn_torch_to_keras(t_model, k_model)
    idx = np.random.default_rng(1).integers(0, 9, size=(2, 10))
    full = t_model(torch.tensor(idx))[0]
    first, state = t_model(torch.tensor(idx[:, :6]))
    second, _ = t_model(torch.tensor(idx[:, 6:]), state)
    torch.testing.assert_close(torch.cat([first, second], 1), full)
    k_first, k_state = k_model(idx[:, :6], return_state=True)
    k_second = k_model(idx[:, 6:], initial_state=k_state)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k_second), full[:, 6:].detach().numpy(), atol=1e-5)


def test_samplers_are_reproducible_and_stay_in_the_vocabulary():
    torch.manual_seed(2)
    t_model = rnn.TorchCharRNN(7, 3, 4)
    k_model = rnn.keras_char_rnn(7, 3, 4)
    a = rnn.sample_torch(t_model, [1, 2], 20, generator=torch.Generator().manual_seed(0))
    b = rnn.sample_torch(t_model, [1, 2], 20, generator=torch.Generator().manual_seed(0))
    assert a == b and len(a) == 22 and a[:2] == [1, 2] and all(0 <= i < 7 for i in a)
    c = rnn.sample_keras(k_model, [3], 15, temperature=0.5, rng=np.random.default_rng(0))
    d = rnn.sample_keras(k_model, [3], 15, temperature=0.5, rng=np.random.default_rng(0))
    assert c == d and len(c) == 16 and all(0 <= i < 7 for i in c)


@pytest.fixture
def one_torch_thread():
    """Tiny models train faster on one thread (and far faster when the cores are busy)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_a_tiny_torch_char_model_learns_a_repeating_pattern(one_torch_thread):
    torch.manual_seed(0)
    model = rnn.TorchCharRNN(4, 4, 16, cell="lstm")
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    seq = torch.tensor([[0, 1, 2, 3] * 5])
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(seq[:, :-1])[0].reshape(-1, 4), seq[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    assert rnn.sample_torch(model, [0], 7, temperature=0.1, generator=torch.Generator().manual_seed(0)) \
        == [0, 1, 2, 3, 0, 1, 2, 3]


# --- bad inputs ------------------------------------------------------------------------
P = rnn.init_rnn_params(3, 4)


@pytest.mark.parametrize("call, match", [
    (lambda: rnn.rnn_forward(np.zeros((2, 5)), **P), "x must have 3"),
    (lambda: rnn.rnn_forward(np.zeros((2, 5, 4)), **P), "features but W expects D = 3"),
    (lambda: rnn.rnn_forward(np.zeros((2, 0, 3)), **P), "at least one time step"),
    (lambda: rnn.rnn_forward(np.zeros((2, 5, 3)), **P, h0=np.zeros((3, 4))), r"h0 must have shape \(B, H\)"),
    (lambda: rnn.rnn_forward(np.zeros((2, 5, 3)), P["W"], np.zeros((4, 5)), P["b"]), "U must have shape"),
    (lambda: rnn.rnn_forward(np.zeros((2, 5, 3)), np.zeros((5, 3)), P["U"], P["b"]), "W must have"),
    (lambda: rnn.rnn_forward(np.zeros((2, 5, 3)), P["W"], P["U"], np.zeros(3)), "b must have shape"),
    (lambda: rnn.rnn_step(np.zeros((2, 3)), np.zeros((3, 4)), **P), "disagree on the batch size"),
    (lambda: rnn.rnn_step(np.zeros((2, 3)), np.zeros((2, 5)), **P), "h_prev must end with H = 4"),
    (lambda: rnn.rnn_backward(np.zeros((1, 5, 3)), np.zeros((1, 4, 4)), np.zeros((1, 5, 4)),
                              P["W"], P["U"]), "hs must have shape"),
    (lambda: rnn.output_layer(np.zeros((5, 4)), np.zeros((2, 4)), np.zeros(2), "relu"), "activation"),
    (lambda: rnn.output_layer(np.zeros((5, 4)), np.zeros((2, 3)), np.zeros(2)), "W_ho must have shape"),
    (lambda: rnn.lstm_step(np.zeros(3), np.zeros(4), np.zeros(5), **lstm_params(3, 4, 0)), "c_prev"),
    (lambda: rnn.lstm_forward(np.zeros((1, 2, 3)), **P), r"U must have shape \(4\*H, H\)"),
    (lambda: rnn.clip_grad_norm([np.ones(2)], 0), "max_norm"),
    (lambda: rnn.clip_grad_norm([], 1.0), "at least one"),
    (lambda: rnn.init_rnn_params(0, 4), "input_size"),
])
def test_bad_arguments_raise_value_errors_that_say_why(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_weight_copies_reject_mismatches():
    with pytest.raises(ValueError, match="shape"):
        rnn.params_to_torch(P, torch.nn.RNN(3, 5))
    with pytest.raises(ValueError, match="keys"):
        rnn.params_to_torch({"W": P["W"], "U": P["U"]}, torch.nn.RNN(3, 4))
    with pytest.raises(ValueError, match="single-layer"):
        rnn.params_to_torch(P, torch.nn.RNN(3, 4, num_layers=2))
    with pytest.raises(ValueError, match="nonlinearity"):
        rnn.params_from_torch(torch.nn.RNN(3, 4, nonlinearity="relu"))
    with pytest.raises(ValueError, match="torch.nn.RNN, LSTM or GRU"):
        rnn.params_from_torch(torch.nn.Linear(3, 4))
    with pytest.raises(ValueError, match="units"):
        rnn.params_to_keras(P, keras.layers.SimpleRNN(5))
    with pytest.raises(ValueError, match="SimpleRNN or LSTM"):
        rnn.params_to_keras(P, keras.layers.GRU(4))
    with pytest.raises(ValueError, match="no weights yet"):
        rnn.params_from_keras(keras.layers.SimpleRNN(4))
    with pytest.raises(ValueError, match="same cell"):
        rnn.char_rnn_torch_to_keras(rnn.TorchCharRNN(5, 2, 3, "rnn"), rnn.keras_char_rnn(5, 2, 3, "lstm"))
    with pytest.raises(ValueError, match="differ"):
        rnn.char_rnn_torch_to_keras(rnn.TorchCharRNN(5, 2, 3), rnn.keras_char_rnn(5, 2, 4))


def test_char_models_reject_bad_arguments():
    with pytest.raises(ValueError, match="cell"):
        rnn.TorchCharRNN(5, 2, 3, cell="gru")
    with pytest.raises(ValueError, match="hidden_size"):
        rnn.keras_char_rnn(5, 2, 0)
    model = rnn.TorchCharRNN(5, 2, 3)
    with pytest.raises(ValueError, match=r"\(B, T\) integer"):
        model(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="length"):
        rnn.sample_torch(model, [1], -1)
    with pytest.raises(ValueError, match="prompt_ids"):
        rnn.sample_torch(model, [5], 3)
    with pytest.raises(ValueError, match="temperature"):
        rnn.sample_torch(model, [1], 3, temperature=0)
