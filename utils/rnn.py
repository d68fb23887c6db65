"""Recurrent networks in NumPy, checked equal to PyTorch and Keras.

Built in chapter 3 (recurrent networks).  Everything is batch-first:
inputs ``x`` are ``(B, T, D)`` (batch, time, features), hidden states ``(B, H)``.
The weights are kept in the orientation of the formulas, ``W`` of shape
``(H, D)`` and ``U`` of shape ``(H, H)``, so that for a batch of row vectors

    h_t = tanh(x_t W^T + h_{t-1} U^T + b)          (the seeds' h_t = tanh(W x_t + U h_{t-1} + b))

How the frameworks store the same numbers:

=================  =========================  ==============================  ============
                   input weight               recurrent weight                bias
=================  =========================  ==============================  ============
NumPy (this file)  ``W``  (H, D)              ``U``  (H, H)                   ``b``
torch.nn.RNN       ``weight_ih_l0`` = W       ``weight_hh_l0`` = U            ``bias_ih_l0 + bias_hh_l0`` = b
keras SimpleRNN    ``kernel`` = W^T (D, H)    ``recurrent_kernel`` = U^T      ``bias`` = b
=================  =========================  ==============================  ============

The LSTM follows the same table with four gates stacked along the first axis of
``W``/``U`` in the order input, forget, candidate (cell), output; PyTorch and
Keras use that same order.  The GRU follows PyTorch's formulation.

Contents: :func:`rnn_step`, :func:`rnn_forward`, :func:`rnn_backward` (backpropagation
through time), :func:`output_layer`, :func:`clip_grad_norm`, :func:`lstm_step`,
:func:`lstm_forward`, :func:`gru_step`, :func:`gru_forward`; weight copies
:func:`params_to_torch`, :func:`params_from_torch`, :func:`params_to_keras`,
:func:`params_from_keras`; the character language models :class:`TorchCharRNN`,
:func:`keras_char_rnn`, their weight copies and samplers.  Keras is imported only
by the functions that need it.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from utils import checks

__all__ = [
    "init_rnn_params", "rnn_step", "rnn_forward", "rnn_backward", "output_layer", "softmax",
    "clip_grad_norm", "lstm_step", "lstm_forward", "gru_step", "gru_forward",
    "params_to_torch", "params_from_torch", "params_to_keras", "params_from_keras",
    "TorchCharRNN", "keras_char_rnn", "char_rnn_torch_to_keras", "char_rnn_keras_to_torch",
    "sample_torch", "sample_keras",
]

CELLS = ("rnn", "lstm")


# --- argument checks ------------------------------------------------------------
def _array(name, a, ndims):
    return checks.float_array(a, name, ndims)


def _weights(W, U, b, gates=1, b_name="b"):
    """Check W (G*H, D), U (G*H, H), b (G*H,) and return them with H."""
    W, U, b = _array("W", W, (2,)), _array("U", U, (2,)), _array(b_name, b, (1,))
    if U.shape[0] % gates or U.shape[1] * gates != U.shape[0]:
        raise ValueError(f"U must have shape ({gates}*H, H), got {U.shape}")
    H = U.shape[1]
    if W.shape[0] != gates * H:
        raise ValueError(f"W must have {gates}*H = {gates * H} rows to match U {U.shape}, got {W.shape}")
    if b.shape != (gates * H,):
        raise ValueError(f"{b_name} must have shape ({gates * H},), got {b.shape}")
    return W, U, b, H


def _step_inputs(x_t, h_prev, W, H):
    x_t = _array("x_t", x_t, (1, 2))
    h_prev = _array("h_prev", h_prev, (1, 2))
    if x_t.shape[-1] != W.shape[1]:
        raise ValueError(f"x_t has {x_t.shape[-1]} features but W expects D = {W.shape[1]} "
                         f"(x_t {x_t.shape}, W {W.shape})")
    if h_prev.shape[-1] != H:
        raise ValueError(f"h_prev must end with H = {H}, got shape {h_prev.shape}")
    if x_t.shape[:-1] != h_prev.shape[:-1]:
        raise ValueError(f"x_t {x_t.shape} and h_prev {h_prev.shape} disagree on the batch size")
    return x_t, h_prev


def _sequence(x, W, h0, H, name="h0"):
    x = _array("x", x, (3,))
    B, T, D = x.shape
    if D != W.shape[1]:
        raise ValueError(f"x has {D} features but W expects D = {W.shape[1]} (x {x.shape}, W {W.shape})")
    if T < 1:
        raise ValueError(f"x must have at least one time step, got shape {x.shape}")
    if h0 is None:
        h0 = np.zeros((B, H), dtype=x.dtype)
    h0 = _array(name, h0, (2,))
    if h0.shape != (B, H):
        raise ValueError(f"{name} must have shape (B, H) = {(B, H)}, got {h0.shape}")
    return x, h0


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# --- the simple RNN ---------------------------------------------------------------
def init_rnn_params(input_size: int, hidden_size: int, seed: int = 0, dtype=np.float64) -> dict:
    """Random ``W (H, D)``, ``U (H, H)``, ``b (H,)``, uniform in +-1/sqrt(H) like PyTorch."""
    for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    rng = checks.rng(seed)
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        dtype = None
    if dtype is None or not np.issubdtype(dtype, np.floating):
        raise checks.ArgumentTypeError("dtype must be a NumPy floating-point dtype such as np.float64")
    k = 1.0 / np.sqrt(hidden_size)
    return {"W": rng.uniform(-k, k, (hidden_size, input_size)).astype(dtype),
            "U": rng.uniform(-k, k, (hidden_size, hidden_size)).astype(dtype),
            "b": rng.uniform(-k, k, hidden_size).astype(dtype)}


def rnn_step(x_t, h_prev, W, U, b):
    """One step ``h_t = tanh(x_t W^T + h_prev U^T + b)``.

    ``x_t`` is (B, D) or (D,), ``h_prev`` (B, H) or (H,).
    """
    W, U, b, H = _weights(W, U, b)
    x_t, h_prev = _step_inputs(x_t, h_prev, W, H)
    return np.tanh(x_t @ W.T + h_prev @ U.T + b)


def rnn_forward(x, W, U, b, h0=None):
    """All hidden states ``(B, T, H)`` of the sequence ``x`` ``(B, T, D)``; ``h0`` defaults to zeros."""
    W, U, b, H = _weights(W, U, b)
    x, h = _sequence(x, W, h0, H)
    hs = []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ W.T + h @ U.T + b)
        hs.append(h)
    return np.stack(hs, axis=1)


def rnn_backward(x, hs, dhs, W, U, h0=None) -> dict:
    """Backpropagation through time for :func:`rnn_forward`.

    ``hs`` are the forward states ``(B, T, H)``; ``dhs`` ``(B, T, H)`` is dL/dh_t as it
    arrives from *outside* the recurrence (e.g. from the output layer).  Returns
    the gradients ``{"W", "U", "b", "h0", "x"}`` of the loss L.
    """
    W, U, _, H = _weights(W, U, np.zeros(np.shape(U)[:1]))
    x, h0 = _sequence(x, W, h0, H)
    hs, dhs = _array("hs", hs, (3,)), _array("dhs", dhs, (3,))
    B, T, _ = x.shape
    for name, a in (("hs", hs), ("dhs", dhs)):
        if a.shape != (B, T, H):
            raise ValueError(f"{name} must have shape (B, T, H) = {(B, T, H)}, got {a.shape}")
    dW, dU, db = np.zeros_like(W), np.zeros_like(U), np.zeros(H, dtype=W.dtype)
    dx = np.zeros_like(x)
    dh_next = np.zeros((B, H), dtype=hs.dtype)        # dL/dh_t through h_{t+1}
    for t in reversed(range(T)):
        h_prev = hs[:, t - 1] if t > 0 else h0
        dh = dhs[:, t] + dh_next                      # total dL/dh_t
        da = dh * (1.0 - hs[:, t] ** 2)               # through tanh: dL/da_t
        dW += da.T @ x[:, t]
        dU += da.T @ h_prev
        db += da.sum(axis=0)
        dx[:, t] = da @ W
        dh_next = da @ U                              # dL/dh_{t-1} = U^T da_t (row form)
    return {"W": dW, "U": dU, "b": db, "h0": dh_next, "x": dx}


def softmax(z, axis: int = -1):
    """Numerically stable softmax along ``axis``."""
    z, axis = _array("z", z, (1, 2, 3, 4)), checks.integer(axis, "axis")
    m = z.max(axis=axis, keepdims=True)
    checks.softmax_rows(m, "z")
    e = np.exp(z - m)
    return e / e.sum(axis=axis, keepdims=True)


def output_layer(h, W_ho, b_o, activation: str = "sigmoid"):
    """The output layer ``o_t = act(h_t W_ho^T + b_o)``.

    ``h`` is (..., H), ``W_ho`` (O, H), ``b_o`` (O,); ``activation`` is 'sigmoid' (the seed's
    formula), 'softmax' (a language model's next-token distribution) or 'none' (the logits).
    """
    if activation not in ("sigmoid", "softmax", "none"):
        raise ValueError(f"activation must be 'sigmoid', 'softmax' or 'none', got {activation!r}")
    h = _array("h", h, (1, 2, 3))
    W_ho, b_o = _array("W_ho", W_ho, (2,)), _array("b_o", b_o, (1,))
    if W_ho.shape[1] != h.shape[-1]:
        raise ValueError(f"W_ho must have shape (O, H) with H = {h.shape[-1]}, got {W_ho.shape}")
    if b_o.shape != (W_ho.shape[0],):
        raise ValueError(f"b_o must have shape ({W_ho.shape[0]},), got {b_o.shape}")
    z = h @ W_ho.T + b_o
    if activation == "sigmoid":
        return _sigmoid(z)
    if activation == "softmax":
        return softmax(z)
    return z


def clip_grad_norm(grads, max_norm: float):
    """Scale all gradients by ``min(1, max_norm / ||g||)`` with ``||g||`` their joint L2 norm.

    Returns ``(clipped_grads, total_norm)``, like ``torch.nn.utils.clip_grad_norm_``
    (which adds 1e-6 to the norm in the denominator; so does this function).
    """
    if isinstance(max_norm, bool) or not isinstance(max_norm, (int, float)) or not max_norm > 0:
        raise ValueError(f"max_norm must be a positive number, got {max_norm!r}")
    if isinstance(grads, (str, np.ndarray, torch.Tensor)) or not hasattr(grads, "__iter__"):
        raise checks.ArgumentTypeError(f"grads must be a list of arrays, got {type(grads).__name__}")
    grads = [checks.float_array(g, f"grads[{i}]") for i, g in enumerate(grads)]
    if not grads:
        raise ValueError("grads must contain at least one array")
    total = float(np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads)))
    scale = min(1.0, max_norm / (total + 1e-6))
    return [g * scale for g in grads], total


# --- LSTM and GRU -------------------------------------------------------------------
def lstm_step(x_t, h_prev, c_prev, W, U, b):
    """One LSTM step; ``W`` (4H, D), ``U`` (4H, H), ``b`` (4H,), gates in the order i, f, g, o.

    i = sigma(.), f = sigma(.), g = tanh(.), o = sigma(.) of ``x_t W^T + h_prev U^T + b``;
    ``c_t = f * c_prev + i * g``, ``h_t = o * tanh(c_t)``.  Returns ``(h_t, c_t)``.
    """
    W, U, b, H = _weights(W, U, b, gates=4)
    x_t, h_prev = _step_inputs(x_t, h_prev, W, H)
    c_prev = _array("c_prev", c_prev, (1, 2))
    if c_prev.shape != h_prev.shape:
        raise ValueError(f"c_prev must have the shape of h_prev {h_prev.shape}, got {c_prev.shape}")
    a = x_t @ W.T + h_prev @ U.T + b
    i, f, g, o = np.split(a, 4, axis=-1)
    c = _sigmoid(f) * c_prev + _sigmoid(i) * np.tanh(g)
    return _sigmoid(o) * np.tanh(c), c


def lstm_forward(x, W, U, b, h0=None, c0=None):
    """All LSTM hidden states ``(B, T, H)`` and the final ``(h_T, c_T)``."""
    W, U, b, H = _weights(W, U, b, gates=4)
    x, h = _sequence(x, W, h0, H)
    _, c = _sequence(x, W, c0, H, name="c0")
    hs = []
    for t in range(x.shape[1]):
        h, c = lstm_step(x[:, t], h, c, W, U, b)
        hs.append(h)
    return np.stack(hs, axis=1), (h, c)


def gru_step(x_t, h_prev, W, U, b_ih, b_hh):
    """One GRU step in PyTorch's form; gates stacked r, z, n in ``W`` (3H, D), ``U`` (3H, H).

    r = sigma(W_r x + b_ir + U_r h + b_hr), z likewise,
    n = tanh(W_n x + b_in + r * (U_n h + b_hn)), h_t = (1 - z) * n + z * h_prev.
    """
    W, U, b_ih, H = _weights(W, U, b_ih, gates=3, b_name="b_ih")
    b_hh = _array("b_hh", b_hh, (1,))
    if b_hh.shape != b_ih.shape:
        raise ValueError(f"b_hh must have shape {b_ih.shape}, got {b_hh.shape}")
    x_t, h_prev = _step_inputs(x_t, h_prev, W, H)
    ax, ah = x_t @ W.T + b_ih, h_prev @ U.T + b_hh
    xr, xz, xn = np.split(ax, 3, axis=-1)
    hr, hz, hn = np.split(ah, 3, axis=-1)
    r, z = _sigmoid(xr + hr), _sigmoid(xz + hz)
    n = np.tanh(xn + r * hn)
    return (1.0 - z) * n + z * h_prev


def gru_forward(x, W, U, b_ih, b_hh, h0=None):
    """All GRU hidden states ``(B, T, H)``."""
    W, U, b_ih, H = _weights(W, U, b_ih, gates=3, b_name="b_ih")
    x, h = _sequence(x, W, h0, H)
    hs = []
    for t in range(x.shape[1]):
        h = gru_step(x[:, t], h, W, U, b_ih, b_hh)
        hs.append(h)
    return np.stack(hs, axis=1)


# --- weight copies: NumPy <-> torch <-> Keras -----------------------------------------
_TORCH_GATES = {nn.RNN: 1, nn.LSTM: 4, nn.GRU: 3}


def _check_torch_module(module):
    kind = next((k for k in _TORCH_GATES if type(module) is k), None)
    if kind is None:
        raise ValueError(f"module must be torch.nn.RNN, LSTM or GRU, got {type(module).__name__}")
    if module.num_layers != 1 or module.bidirectional or not module.bias:
        raise ValueError("only single-layer, unidirectional modules with bias=True are supported, got "
                         f"num_layers={module.num_layers}, bidirectional={module.bidirectional}, "
                         f"bias={module.bias}")
    if kind is nn.LSTM and module.proj_size:
        raise ValueError(f"LSTM with proj_size={module.proj_size} is not supported")
    if kind is nn.RNN and module.nonlinearity != "tanh":
        raise ValueError(f"nn.RNN must use nonlinearity='tanh', got {module.nonlinearity!r}")
    return kind, _TORCH_GATES[kind]


def params_to_torch(params: dict, module) -> None:
    """Copy NumPy ``{"W", "U", "b"}`` into a torch RNN/LSTM (``b`` -> ``bias_ih``, 0 -> ``bias_hh``),
    or ``{"W", "U", "b_ih", "b_hh"}`` into a torch GRU."""
    kind, gates = _check_torch_module(module)
    H, D = module.hidden_size, module.input_size
    keys = ("W", "U", "b_ih", "b_hh") if kind is nn.GRU else ("W", "U", "b")
    if set(params) != set(keys):
        raise ValueError(f"params must have the keys {keys} for {kind.__name__}, got {tuple(params)}")
    expected = {"W": (gates * H, D), "U": (gates * H, H), "b": (gates * H,),
                "b_ih": (gates * H,), "b_hh": (gates * H,)}
    for k in keys:
        if np.shape(params[k]) != expected[k]:
            raise ValueError(f"params[{k!r}] must have shape {expected[k]} for this module, "
                             f"got {np.shape(params[k])}")
    b_ih = params["b_ih"] if kind is nn.GRU else params["b"]
    b_hh = params["b_hh"] if kind is nn.GRU else np.zeros(gates * H)
    with torch.no_grad():
        for name, value in (("weight_ih_l0", params["W"]), ("weight_hh_l0", params["U"]),
                            ("bias_ih_l0", b_ih), ("bias_hh_l0", b_hh)):
            p = getattr(module, name)
            p.copy_(torch.as_tensor(np.asarray(value), dtype=p.dtype))


def params_from_torch(module) -> dict:
    """The NumPy weights of a torch RNN/LSTM (``b = bias_ih + bias_hh``) or GRU (both biases)."""
    kind, _ = _check_torch_module(module)
    get = {n: getattr(module, n).detach().cpu().numpy().copy()
           for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")}
    out = {"W": get["weight_ih_l0"], "U": get["weight_hh_l0"]}
    if kind is nn.GRU:
        out.update(b_ih=get["bias_ih_l0"], b_hh=get["bias_hh_l0"])
    else:
        out["b"] = get["bias_ih_l0"] + get["bias_hh_l0"]
    return out


def _check_keras_layer(layer):
    import keras

    if isinstance(layer, keras.layers.LSTM):
        gates = 4
        if layer.cell.recurrent_activation.__name__ != "sigmoid":
            raise ValueError("keras LSTM must use recurrent_activation='sigmoid'")
    elif isinstance(layer, keras.layers.SimpleRNN):
        gates = 1
    else:
        raise ValueError(f"layer must be keras.layers.SimpleRNN or LSTM, got {type(layer).__name__}")
    if not layer.cell.use_bias or layer.cell.activation.__name__ != "tanh":
        raise ValueError("the keras layer must have use_bias=True and activation='tanh'")
    return gates


def params_to_keras(params: dict, layer) -> None:
    """Copy NumPy ``{"W", "U", "b"}`` into a Keras SimpleRNN/LSTM: kernel = W^T, recurrent_kernel = U^T."""
    gates = _check_keras_layer(layer)
    if set(params) != {"W", "U", "b"}:
        raise ValueError(f"params must have the keys ('W', 'U', 'b'), got {tuple(params)}")
    W, U, b, H = _weights(params["W"], params["U"], params["b"], gates=gates)
    if H != layer.units:
        raise ValueError(f"params have H = {H} but the layer has units = {layer.units}")
    if not layer.built:
        layer.build((None, None, W.shape[1]))
    kernel = layer.cell.kernel
    if tuple(kernel.shape) != (W.shape[1], gates * H):
        raise ValueError(f"the layer's kernel has shape {tuple(kernel.shape)}, but W^T has {W.T.shape}")
    layer.set_weights([W.T, U.T, b])


def params_from_keras(layer) -> dict:
    """The NumPy weights ``{"W", "U", "b"}`` of a built Keras SimpleRNN/LSTM."""
    _check_keras_layer(layer)
    if not layer.built:
        raise ValueError("the keras layer has no weights yet: call it on an input or build it first")
    kernel, recurrent, bias = layer.get_weights()
    return {"W": kernel.T.copy(), "U": recurrent.T.copy(), "b": bias.copy()}


# --- the character language models -----------------------------------------------------
def _check_sizes(vocab_size, embed_dim, hidden_size, cell):
    for name, v in (("vocab_size", vocab_size), ("embed_dim", embed_dim), ("hidden_size", hidden_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")


class TorchCharRNN(nn.Module):
    """Embedding -> one recurrent layer (RNN or LSTM) -> linear head giving next-character logits."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, cell: str = "lstm"):
        super().__init__()
        _check_sizes(vocab_size, embed_dim, hidden_size, cell)
        self.vocab_size, self.cell = vocab_size, cell
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = (nn.LSTM if cell == "lstm" else nn.RNN)(embed_dim, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, idx, state=None):
        """``idx`` (B, T) token ids -> ``(logits (B, T, vocab_size), state)``."""
        checks.token_ids(idx, "idx", self.vocab_size)
        if state is not None:                      # nn.RNN: h; nn.LSTM: (h, c); each (1, B, hidden_size)
            parts = state if self.cell == "lstm" else (state,)
            shape = (1, idx.shape[0], self.rnn.hidden_size)
            if (self.cell == "lstm" and not (isinstance(state, tuple) and len(state) == 2)) or any(
                    not isinstance(t, torch.Tensor) or tuple(t.shape) != shape for t in parts):
                raise ValueError(f"state must be None or what forward returned: "
                                 f"{'(h, c)' if self.cell == 'lstm' else 'h'}, each of shape {shape}")
        out, state = self.rnn(self.embedding(idx), state)
        return self.head(out), state


def _keras_char_rnn_class():
    import keras

    class KerasCharRNN(keras.Model):
        """Embedding -> SimpleRNN or LSTM -> Dense(vocab_size) logits, as :class:`TorchCharRNN`."""

        def __init__(self, vocab_size, embed_dim, hidden_size, cell="lstm", **kwargs):
            super().__init__(**kwargs)
            self.vocab_size, self.cell = vocab_size, cell
            self.embedding = keras.layers.Embedding(vocab_size, embed_dim)
            layer = keras.layers.LSTM if cell == "lstm" else keras.layers.SimpleRNN
            self.rnn = layer(hidden_size, return_sequences=True, return_state=True)
            self.head = keras.layers.Dense(vocab_size)

        def call(self, x, initial_state=None, return_state=False):
            out = self.rnn(self.embedding(x), initial_state=initial_state)
            logits = self.head(out[0])
            return (logits, list(out[1:])) if return_state else logits

    return KerasCharRNN


def keras_char_rnn(vocab_size: int, embed_dim: int, hidden_size: int, cell: str = "lstm"):
    """The Keras twin of :class:`TorchCharRNN`, built (weights created) and ready to compile."""
    import keras

    _check_sizes(vocab_size, embed_dim, hidden_size, cell)
    model = _keras_char_rnn_class()(vocab_size, embed_dim, hidden_size, cell)
    model(keras.ops.zeros((1, 1), dtype="int32"))  # create the weights
    return model


def _check_pair(torch_model, keras_model):
    import keras

    if not isinstance(torch_model, TorchCharRNN):
        raise ValueError(f"torch_model must be a TorchCharRNN, got {type(torch_model).__name__}")
    if not isinstance(keras_model, keras.Model) or getattr(keras_model, "cell", None) != torch_model.cell \
            or not hasattr(keras_model, "rnn"):
        raise ValueError("keras_model must come from keras_char_rnn with the same cell as torch_model")
    t_shape = tuple(torch_model.embedding.weight.shape) + (torch_model.rnn.hidden_size,)
    k_shape = tuple(keras_model.embedding.embeddings.shape) + (keras_model.rnn.units,)
    if t_shape != k_shape:
        raise ValueError(f"(vocab_size, embed_dim, hidden_size) differ: torch_model {t_shape}, "
                         f"keras_model {k_shape}")


def char_rnn_torch_to_keras(torch_model: TorchCharRNN, keras_model) -> None:
    """Copy every weight of a :class:`TorchCharRNN` into its :func:`keras_char_rnn` twin."""
    _check_pair(torch_model, keras_model)
    keras_model.embedding.set_weights([torch_model.embedding.weight.detach().cpu().numpy()])
    params_to_keras(params_from_torch(torch_model.rnn), keras_model.rnn)
    keras_model.head.set_weights([torch_model.head.weight.detach().cpu().numpy().T,
                                  torch_model.head.bias.detach().cpu().numpy()])


def char_rnn_keras_to_torch(keras_model, torch_model: TorchCharRNN) -> None:
    """Copy every weight of a :func:`keras_char_rnn` model into a :class:`TorchCharRNN`."""
    _check_pair(torch_model, keras_model)
    kernel, bias = keras_model.head.get_weights()
    with torch.no_grad():
        torch_model.embedding.weight.copy_(torch.as_tensor(keras_model.embedding.get_weights()[0]))
        torch_model.head.weight.copy_(torch.as_tensor(kernel.T))
        torch_model.head.bias.copy_(torch.as_tensor(bias))
    params_to_torch(params_from_keras(keras_model.rnn), torch_model.rnn)


def _check_sampling(prompt_ids, length, temperature, vocab_size):
    prompt_ids = checks.id_list(prompt_ids, "prompt_ids", vocab_size)
    if not prompt_ids:
        raise ValueError(f"prompt_ids must be a non-empty list of ids in [0, {vocab_size - 1}]")
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise ValueError(f"length must be a non-negative int, got {length!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    return prompt_ids


@torch.no_grad()
def sample_torch(model: TorchCharRNN, prompt_ids, length: int, temperature: float = 1.0,
                 generator=None) -> list[int]:
    """Read ``prompt_ids``, then sample ``length`` more ids one at a time, carrying the state."""
    checks.instance(model, TorchCharRNN, "model")
    checks.generator(generator)
    ids = _check_sampling(prompt_ids, length, temperature, model.vocab_size)
    dev = next(model.parameters()).device
    logits, state = model(torch.tensor([ids], device=dev))
    for _ in range(length):
        probs = torch.softmax(logits[0, -1].float().cpu() / temperature, dim=-1)
        ids.append(int(torch.multinomial(probs, 1, generator=generator)))
        logits, state = model(torch.tensor([[ids[-1]]], device=dev), state)
    return ids


def sample_keras(model, prompt_ids, length: int, temperature: float = 1.0, rng=None) -> list[int]:
    """The same sampler for a :func:`keras_char_rnn` model; ``rng`` is a ``numpy.random.Generator``."""
    import keras

    if not isinstance(model, keras.Model) or not hasattr(model, "vocab_size"):
        raise checks.ArgumentTypeError(f"model must come from keras_char_rnn, got {type(model).__name__}")
    ids = _check_sampling(prompt_ids, length, temperature, model.vocab_size)
    rng = checks.rng(rng, "rng")
    logits, state = model(np.array([ids], dtype="int32"), return_state=True)
    for _ in range(length):
        z = keras.ops.convert_to_numpy(logits)[0, -1].astype(np.float64) / temperature
        ids.append(int(rng.choice(len(z), p=softmax(z))))
        logits, state = model(np.array([[ids[-1]]], dtype="int32"), initial_state=state, return_state=True)
    return ids
