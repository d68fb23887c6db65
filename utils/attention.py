"""Attention from scratch: NumPy and PyTorch, checked against the libraries.

Built in chapter 4.  Everything here is the textbook formula written out, with
no fused kernels, so that it can be read and compared:

* :func:`softmax`, :func:`attention_np` -- scaled dot-product attention in NumPy,
  ``softmax(Q K^T / sqrt(d_k) + mask) V`` (Vaswani et al., 2017);
* :func:`attention` -- the same in PyTorch (equal to
  ``torch.nn.functional.scaled_dot_product_attention``);
* :func:`causal_mask` -- which positions may be read: ``True`` = allowed;
* :func:`sinusoidal_encoding` and :class:`PositionalEncoding` -- the fixed
  sine/cosine positions (the class seed article 001 uses but never defines);
* :func:`multi_head_attention_np` and :class:`MultiHeadAttention` -- several
  heads side by side, and :func:`copy_to_torch_mha` to load the same weights
  into ``torch.nn.MultiheadAttention``.

Mask convention in this module: a boolean mask is ``True`` where a query MAY
attend to a key, like ``F.scaled_dot_product_attention`` and Keras's
``attention_mask``.  ``torch.nn.MultiheadAttention`` uses the opposite
(``True`` = blocked): pass it ``~mask``.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn

from utils import checks

__all__ = ["softmax", "attention_np", "attention", "causal_mask", "sinusoidal_encoding",
           "PositionalEncoding", "multi_head_attention_np", "MultiHeadAttention", "copy_to_torch_mha"]


def softmax(x, axis=-1):
    """Numerically stable softmax in NumPy: subtract the row maximum before ``exp``."""
    x, axis = checks.float_array(x, "x", dtype=np.float64), checks.integer(axis, "axis")
    if x.size == 0:
        raise ValueError(f"x must not be empty, got shape {x.shape}")
    row_max = np.max(x, axis=axis, keepdims=True)
    checks.softmax_rows(row_max, "x")
    z = x - row_max
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def _check_qkv(q, k, v):
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"q, k, v must have at least 2 dims (..., T, d), got {q.shape}, {k.shape}, "
                         f"{v.shape}")
    if q.shape[-1] != k.shape[-1] or q.shape[-1] < 1:
        raise ValueError(f"q and k must have the same last dimension d_k >= 1, got {q.shape[-1]} and "
                         f"{k.shape[-1]}")
    if k.shape[-2] != v.shape[-2] or k.shape[-2] < 1:
        raise ValueError(f"k and v must have the same number of positions (>= 1), got {k.shape[-2]} and "
                         f"{v.shape[-2]}")
    try:
        np.broadcast_shapes(tuple(q.shape[:-2]), tuple(k.shape[:-2]), tuple(v.shape[:-2]))
    except ValueError:
        raise ValueError(f"q, k, v must have broadcastable leading (batch, head) dims, got "
                         f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}") from None


def _check_tensors(**tensors):
    dtypes = set()
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            got = f"a tensor of dtype {t.dtype}" if isinstance(t, torch.Tensor) else type(t).__name__
            raise checks.ArgumentTypeError(f"{name} must be a floating-point torch.Tensor, got {got}")
        dtypes.add(t.dtype)
    if len(dtypes) > 1:
        raise checks.ArgumentTypeError(f"{', '.join(tensors)} must share one dtype, "
                                       f"got {sorted(map(str, dtypes))}")


def attention_np(q, k, v, mask=None):
    """Scaled dot-product attention in NumPy; returns ``(output, weights)``.

    ``q``: (..., T_q, d_k), ``k``: (..., T_k, d_k), ``v``: (..., T_k, d_v);
    ``mask``: boolean, broadcastable to (..., T_q, T_k), ``True`` = may attend.
    """
    q, k, v = (checks.float_array(a, name, dtype=np.float64) for a, name in ((q, "q"), (k, "k"), (v, "v")))
    _check_qkv(q, k, v)
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])   # (..., T_q, T_k)
    if mask is not None:
        scores = np.where(np.asarray(checks.attention_mask(mask, scores.shape)), scores, -np.inf)
    weights = softmax(scores, axis=-1)
    return weights @ v, weights


def attention(q, k, v, mask=None):
    """Scaled dot-product attention in PyTorch, written out; returns ``(output, weights)``.

    Same arguments as :func:`attention_np` (tensors); equal to
    ``F.scaled_dot_product_attention(q, k, v, attn_mask=mask)``.
    """
    _check_tensors(q=q, k=k, v=v)
    _check_qkv(q, k, v)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        mask = torch.as_tensor(checks.attention_mask(mask, scores.shape), device=scores.device)
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def causal_mask(T):
    """Boolean (T, T) NumPy mask, ``True`` on and below the diagonal: position t reads positions <= t."""
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"T must be a positive int, got {T!r}")
    return np.tril(np.ones((int(T), int(T)), dtype=bool))


def sinusoidal_encoding(max_len, d_model, base=10000.0):
    """The fixed positional encodings of Vaswani et al. (2017), shape (max_len, d_model).

    ``PE[pos, 2i] = sin(pos / base**(2i/d_model))`` and ``PE[pos, 2i+1] = cos(...)``
    (sine on even columns, cosine on odd ones; ``d_model`` must be even).
    """
    for name, value in (("max_len", max_len), ("d_model", d_model)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if d_model % 2:
        raise ValueError(f"d_model must be even (sine and cosine pairs), got {d_model}")
    checks.number(base, "base", 1, low_open=True)
    pos = np.arange(max_len)[:, None]                           # (max_len, 1)
    freq = base ** (-np.arange(0, d_model, 2) / d_model)        # (d_model/2,) from 1 down to ~1/base
    pe = np.zeros((max_len, d_model))
    pe[:, 0::2] = np.sin(pos * freq)
    pe[:, 1::2] = np.cos(pos * freq)
    return pe


class PositionalEncoding(nn.Module):
    """Add sinusoidal positions to a (T, B, d_model) sequence-first input, then dropout.

    The class seed article 001 calls as ``PositionalEncoding(d_model, dropout)``,
    written as in PyTorch's word-language-model example (sequence first, like
    ``nn.TransformerEncoder``'s default ``batch_first=False``).
    """

    def __init__(self, d_model, dropout=0.1, max_len=5000):
        super().__init__()
        self.dropout = nn.Dropout(p=checks.dropout(dropout))
        pe = torch.tensor(sinusoidal_encoding(max_len, d_model), dtype=torch.float32)
        self.register_buffer("pe", pe.unsqueeze(1))            # (max_len, 1, d_model): broadcast over B

    def forward(self, x):
        checks.features(x, "x", self.pe.shape[2], dims="T, B")
        if x.shape[0] > self.pe.shape[0]:
            raise ValueError(f"sequence length {x.shape[0]} exceeds max_len {self.pe.shape[0]}")
        return self.dropout(x + self.pe[: x.shape[0]])


def multi_head_attention_np(x_q, x_kv, params, n_head, mask=None):
    """Multi-head attention in NumPy; returns ``(output, weights)`` with weights (B, H, T_q, T_k).

    ``x_q``: (B, T_q, E), ``x_kv``: (B, T_k, E); ``params`` maps ``w_q, b_q, w_k,
    b_k, w_v, b_v, w_o, b_o`` to arrays in ``nn.Linear``'s layout (weight
    ``(out, in)``, used as ``x @ w.T + b``); ``mask`` as in :func:`attention_np`.
    """
    x_q = checks.float_array(x_q, "x_q", (3,), dtype=np.float64)
    x_kv = checks.float_array(x_kv, "x_kv", (3,), dtype=np.float64)
    B, Tq, E = x_q.shape
    if x_kv.shape[0] != B or x_kv.shape[2] != E:
        raise ValueError(f"x_kv must have shape (B, T_k, E) = ({B}, T_k, {E}) like x_q, got {x_kv.shape}")
    checks.integer(n_head, "n_head", 1)
    if E % n_head:
        raise ValueError(f"embedding size {E} must be divisible by n_head {n_head}")
    names = [f"{w}_{n}" for n in "qkvo" for w in "wb"]
    if not isinstance(params, dict) or set(names) - set(params):
        raise ValueError(f"params must be a dict with the keys {names} (see MultiHeadAttention.numpy_params)")
    p = {name: checks.float_array(params[name], f"params[{name!r}]", dtype=np.float64) for name in names}
    bad = [n for n in names if p[n].shape != ((E, E) if n[0] == "w" else (E,))]
    if bad:
        shape = (E, E) if bad[0][0] == "w" else (E,)
        raise ValueError(f"params[{bad[0]!r}] must have shape {shape} for E = {E}, got {p[bad[0]].shape}")

    def heads(x, w, b):                                         # (B, T, E) -> (B, H, T, E/H)
        y = x @ w.T + b
        return y.reshape(B, -1, n_head, E // n_head).transpose(0, 2, 1, 3)

    q, k, v = heads(x_q, p["w_q"], p["b_q"]), heads(x_kv, p["w_k"], p["b_k"]), heads(x_kv, p["w_v"], p["b_v"])
    y, weights = attention_np(q, k, v, mask)                    # every head at once
    y = y.transpose(0, 2, 1, 3).reshape(B, Tq, E)               # concatenate the heads
    return y @ p["w_o"].T + p["b_o"], weights


class MultiHeadAttention(nn.Module):
    """Multi-head attention from scratch: project, split into heads, attend, concatenate, project.

    ``forward(query, key, value, mask=None)`` takes batch-first (B, T, E)
    tensors and a boolean ``mask`` (``True`` = may attend) and returns
    ``(output, weights)``, weights (B, n_head, T_q, T_k).
    """

    def __init__(self, embed_dim, n_head, bias=True):
        super().__init__()
        checks.integer(embed_dim, "embed_dim", 1)
        checks.integer(n_head, "n_head", 1)
        checks.flag(bias, "bias")
        if embed_dim % n_head:
            raise ValueError(f"embed_dim ({embed_dim}) must be a positive multiple of n_head ({n_head})")
        self.embed_dim, self.n_head, self.head_dim = embed_dim, n_head, embed_dim // n_head
        self.w_q = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.w_k = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.w_v = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.w_o = nn.Linear(embed_dim, embed_dim, bias=bias)

    def _heads(self, x):
        B, T, _ = x.shape
        return x.view(B, T, self.n_head, self.head_dim).transpose(1, 2)

    def forward(self, query, key, value, mask=None):
        for name, t in (("query", query), ("key", key), ("value", value)):
            checks.features(t, name, self.embed_dim)
        if key.shape[:2] != value.shape[:2] or key.shape[0] != query.shape[0]:
            raise ValueError(f"query (B, T_q, E), key and value (B, T_k, E) must agree on B and T_k, got "
                             f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
        B, T, E = query.shape
        q, k, v = self._heads(self.w_q(query)), self._heads(self.w_k(key)), self._heads(self.w_v(value))
        y, weights = attention(q, k, v, mask)
        y = y.transpose(1, 2).reshape(B, T, E)
        return self.w_o(y), weights

    def numpy_params(self):
        """The weights as the dict :func:`multi_head_attention_np` takes."""
        out = {}
        for name in ("q", "k", "v", "o"):
            lin = getattr(self, f"w_{name}")
            out[f"w_{name}"] = lin.weight.detach().cpu().numpy()
            out[f"b_{name}"] = (lin.bias.detach().cpu().numpy() if lin.bias is not None
                                else np.zeros(self.embed_dim, dtype=np.float32))
        return out


@torch.no_grad()
def copy_to_torch_mha(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> nn.MultiheadAttention:
    """Load our weights into ``torch.nn.MultiheadAttention`` (it stacks q, k, v in ``in_proj_weight``)."""
    checks.instance(ours, MultiHeadAttention, "ours", "utils.attention.MultiHeadAttention")
    checks.instance(theirs, nn.MultiheadAttention, "theirs", "torch.nn.MultiheadAttention")
    if theirs.embed_dim != ours.embed_dim or theirs.num_heads != ours.n_head:
        raise ValueError(f"shapes differ: ours E={ours.embed_dim}, H={ours.n_head}; "
                         f"theirs E={theirs.embed_dim}, H={theirs.num_heads}")
    if theirs.in_proj_weight is None:
        raise ValueError("theirs must use a packed in_proj_weight (kdim == vdim == embed_dim)")
    theirs.in_proj_weight.copy_(torch.cat([ours.w_q.weight, ours.w_k.weight, ours.w_v.weight]))
    theirs.out_proj.weight.copy_(ours.w_o.weight)
    if theirs.in_proj_bias is not None:
        if ours.w_q.bias is None:
            raise ValueError("theirs has biases but ours has none")
        theirs.in_proj_bias.copy_(torch.cat([ours.w_q.bias, ours.w_k.bias, ours.w_v.bias]))
        theirs.out_proj.bias.copy_(ours.w_o.bias)
    return theirs
