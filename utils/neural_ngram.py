"""A neural n-gram language model in the style of Bengio et al. (2003) (built in chapter 2).

Each of the last ``context`` characters is looked up in a shared embedding table,
the embeddings are concatenated, passed through one ``tanh`` hidden layer, and a
linear layer gives one logit per vocabulary entry:

    logits = W_out tanh(W_h [e(x_{t-c}); ...; e(x_{t-1})] + b_h) + b_out

Unlike a count model, similar contexts share parameters, so the model can give
sensible probabilities to contexts it has never seen; its size grows linearly,
not exponentially, with the context length.

    X, Y = windows(ids, context=5)        # every window of 5 ids and the id after it
    model = NeuralNGram(vocab_size=71, context=5)
    loss = F.cross_entropy(model(X[:64]), Y[:64])

The counts are sufficient statistics: the mean cross-entropy over all windows equals
the count-weighted mean, over the *distinct* contexts ``h``, of the cross-entropy
against the distribution ``c(h w) / c(h)`` of the id that follows ``h``.
:func:`context_distributions` returns those contexts, counts and distributions, so a
model can be trained on each distinct context once instead of on every window:

    H, P, counts = context_distributions(ids, context=5, vocab_size=71)
    loss = F.cross_entropy(model(H[:64]), P[:64])   # probabilities as targets
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from utils import checks

__all__ = ["NeuralNGram", "windows", "context_distributions", "nll", "mean_nll"]


class NeuralNGram(nn.Module):
    """Embed the last ``context`` characters, concatenate, one tanh layer, logits."""

    def __init__(self, vocab_size: int, context: int, emb_dim: int = 16, hidden: int = 256):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("context", context),
                            ("emb_dim", emb_dim), ("hidden", hidden)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        self.vocab_size, self.context = vocab_size, context
        self.emb = nn.Embedding(vocab_size, emb_dim)          # one vector per character
        self.hidden = nn.Linear(context * emb_dim, hidden)
        self.out = nn.Linear(hidden, vocab_size)              # one logit per character

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (B, context) int64 ids, oldest first -> (B, vocab_size) logits."""
        checks.token_ids(x, "x", self.vocab_size, ndim=None)
        if x.ndim != 2 or x.shape[1] != self.context:
            raise ValueError(f"x must have shape (B, {self.context}), got {tuple(x.shape)}")
        h = torch.tanh(self.hidden(self.emb(x).flatten(1)))
        return self.out(h)


def windows(ids, context: int, pad_id: int | None = None):
    """All ``(x, y)`` pairs of ``context`` ids and the id after them, as int64 tensors.

    With ``pad_id`` the sequence is first preceded by ``context`` copies of it, so every
    id of ``ids`` is a target (the count models score every character too)."""
    if isinstance(context, bool) or not isinstance(context, int) or context < 1:
        raise ValueError(f"context must be an int >= 1, got {context!r}")
    ids = checks.id_sequence(ids, "ids", min_len=0).long()
    if pad_id is not None:
        checks.integer(pad_id, "pad_id", 0)
        ids = torch.cat([torch.full((context,), pad_id, dtype=torch.long), ids])
    if len(ids) <= context:
        raise ValueError(f"ids must be longer than context = {context}, got {len(ids)}")
    x = ids.unfold(0, context, 1)[:-1]                        # (N - context, context), a view
    return x, ids[context:]


def context_distributions(ids, context: int, vocab_size: int):
    """The distinct contexts of ``ids`` and what follows them, from counts.

    Returns ``(H, P, counts)``: ``H`` (C, context) int64, each distinct run of ``context``
    ids that is followed by an id, in sorted order; ``P`` (C, vocab_size) float32, row ``i``
    the distribution ``c(H_i w) / c(H_i)`` of the id that follows ``H_i``; ``counts`` (C,)
    int64, ``c(H_i)``, how many windows have context ``H_i`` (they sum to ``len(ids) - context``)."""
    if isinstance(context, bool) or not isinstance(context, int) or context < 1:
        raise ValueError(f"context must be an int >= 1, got {context!r}")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size must be an int >= 1, got {vocab_size!r}")
    if vocab_size ** context >= 2 ** 62:
        raise ValueError(f"context = {context} is too long for vocab_size = {vocab_size} "
                         "(codes overflow int64)")
    ids = np.asarray(ids)
    if ids.ndim != 1 or len(ids) <= context:
        raise ValueError(f"ids must be 1-D and longer than context = {context}, got shape {ids.shape}")
    if not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() >= vocab_size:
        raise ValueError(f"ids must be integers in [0, {vocab_size}) (vocab_size {vocab_size})")
    ids = ids.astype(np.int64)
    codes = np.zeros(len(ids) - context, dtype=np.int64)
    for j in range(context):                                  # base-V number, oldest id first
        codes = codes * vocab_size + ids[j:len(ids) - context + j]
    keys, where, counts = np.unique(codes, return_inverse=True, return_counts=True)
    H = np.empty((len(keys), context), dtype=np.int64)
    for j in range(context - 1, -1, -1):                      # decode the digits back
        H[:, j], keys = keys % vocab_size, keys // vocab_size
    pair = where.reshape(-1) * vocab_size + ids[context:]      # (context index, next id)
    P = np.bincount(pair, minlength=len(H) * vocab_size).reshape(len(H), vocab_size)  # c(h w)
    P = P / counts[:, None]
    return torch.from_numpy(H), torch.from_numpy(P.astype(np.float32)), torch.from_numpy(counts)


@torch.no_grad()
def nll(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 16384) -> np.ndarray:
    """Per-pair negative log-likelihood ``-ln q(y_i | x_i)`` in nats, as a NumPy array (in batches)."""
    checks.instance(model, nn.Module, "model", "torch.nn.Module")
    checks.instance(x, torch.Tensor, "x", "torch.Tensor of ids")
    checks.instance(y, torch.Tensor, "y", "torch.Tensor of ids")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must be non-empty and equally long, got {len(x)} and {len(y)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    checks.target_ids(y, "y", getattr(model, "vocab_size", 2 ** 62), y.shape)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
        out.append(F.cross_entropy(model(xb), yb, reduction="none").double().cpu())
    model.train(was_training)
    return torch.cat(out).numpy()


def mean_nll(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 16384) -> float:
    """Mean cross-entropy (nats per character) of ``model`` on all pairs, in batches."""
    return float(nll(model, x, y, batch_size).mean())
