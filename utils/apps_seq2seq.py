"""A small character-level encoder-decoder Transformer for sequence-to-sequence tasks.

Built in chapter 7 (applications) for "translation": early-modern lines to
modern wording (``utils.apps_tasks.modernise_pairs``).  The encoder reads the
whole source line (no causal mask); the decoder writes the target one
character at a time, reading its own earlier characters (causal mask) and the
encoder's output (cross-attention) — the architecture of Vaswani et al. (2017),
built from ``torch.nn``'s Transformer layers.

Source and target share one embedding table and one table of learned position
vectors, so target position ``i`` can find source position ``i`` by matching
position vectors: copying, most of what this task needs, is learnt quickly.
Two ids are added after the tokenizer's: ``BOS = V`` starts the target,
``PAD = V + 1`` fills batches; a newline ends a target.

    model = Seq2Seq(tokenizer.vocab_size, max_len=32)
    losses = train_seq2seq(model, pairs, tokenizer, steps=300)
    translate(model, tokenizer, ["Thou art a villain."])
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from utils import checks

__all__ = ["Seq2Seq", "make_batch", "train_seq2seq", "translate"]

END = "\n"   # the character that ends every target


def _check_tokenizer(tokenizer):
    from utils.data import CharTokenizer

    checks.instance(tokenizer, CharTokenizer, "tokenizer", "utils.data.CharTokenizer")


def _check_pairs(pairs) -> list:
    if isinstance(pairs, str) or not hasattr(pairs, "__iter__"):
        raise checks.ArgumentTypeError(f"pairs must be a list of (source, target) strings, "
                                       f"got {type(pairs).__name__}")
    pairs = list(pairs)
    bad = [p for p in pairs
           if not (isinstance(p, (tuple, list)) and len(p) == 2 and all(isinstance(x, str) for x in p))]
    if bad:
        raise checks.ArgumentTypeError(f"pairs must hold (source, target) pairs of strings, got {bad[0]!r}")
    return pairs


class Seq2Seq(nn.Module):
    """Encoder-decoder Transformer over characters (pre-LayerNorm, no dropout)."""

    def __init__(self, vocab_size: int, max_len: int, d_model: int = 64, n_head: int = 4,
                 n_layers: int = 1):
        super().__init__()
        for name, v in (("vocab_size", vocab_size), ("max_len", max_len), ("d_model", d_model),
                        ("n_head", n_head), ("n_layers", n_layers)):
            checks.integer(v, name, 1)
        if d_model % n_head:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_head ({n_head})")
        self.vocab_size, self.max_len = vocab_size, max_len
        self.bos, self.pad = vocab_size, vocab_size + 1
        self.emb = nn.Embedding(vocab_size + 2, d_model)          # shared by source and target
        self.pos = nn.Embedding(max_len + 2, d_model)             # shared positions
        layer = dict(d_model=d_model, nhead=n_head, dim_feedforward=4 * d_model, dropout=0.0,
                     batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer), n_layers,
                                             norm=nn.LayerNorm(d_model), enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(**layer), n_layers,
                                             norm=nn.LayerNorm(d_model))
        self.out = nn.Linear(d_model, vocab_size + 2)

    def _embed(self, ids, name):
        checks.token_ids(ids, name, self.vocab_size + 2)          # + BOS and PAD
        if ids.shape[1] > self.max_len + 2:
            raise ValueError(f"{name}: sequence of {ids.shape[1]} ids is longer than "
                             f"max_len + 2 = {self.max_len + 2}")
        return self.emb(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))

    def encode(self, src):
        """Encoder states (B, S, d_model) of source ids (B, S); PAD positions are ignored."""
        return self.encoder(self._embed(src, "src"), src_key_padding_mask=src == self.pad)

    def decode(self, memory, src, tgt_in):
        """Next-character logits (B, T, vocab_size + 2) for target prefixes ``tgt_in`` (B, T)."""
        checks.features(memory, "memory", self.emb.embedding_dim, dims="B, S")
        checks.token_ids(src, "src", self.vocab_size + 2)
        x = self._embed(tgt_in, "tgt_in")
        if memory.shape[:2] != src.shape or tgt_in.shape[0] != src.shape[0]:
            raise ValueError(f"memory (B, S, d_model), src (B, S) and tgt_in (B, T) must agree, got "
                             f"{tuple(memory.shape)}, {tuple(src.shape)}, {tuple(tgt_in.shape)}")
        T = tgt_in.shape[1]
        causal = torch.triu(torch.full((T, T), float("-inf"), device=tgt_in.device), diagonal=1)
        h = self.decoder(x, memory, tgt_mask=causal, tgt_is_causal=True,
                              memory_key_padding_mask=src == self.pad)
        return self.out(h)

    def forward(self, src, tgt_in):
        return self.decode(self.encode(src), src, tgt_in)


def make_batch(pairs, tokenizer, pad: int, bos: int):
    """``(src, tgt_in, tgt_out)`` id tensors for ``(source, target)`` string pairs.

    ``tgt_in`` = BOS + target; ``tgt_out`` = target + newline, with -100 (ignored by
    the loss) on padding.  ``src`` and ``tgt_in`` are padded with ``pad``.
    """
    pairs = _check_pairs(pairs)
    _check_tokenizer(tokenizer)
    checks.integer(pad, "pad", 0)
    checks.integer(bos, "bos", 0)
    if not pairs:
        raise ValueError("pairs must not be empty")
    S = max(len(s) for s, _ in pairs)
    T = max(len(t) for _, t in pairs) + 1
    src = torch.full((len(pairs), S), pad, dtype=torch.long)
    tgt_in = torch.full((len(pairs), T), pad, dtype=torch.long)
    tgt_out = torch.full((len(pairs), T), -100, dtype=torch.long)
    for j, (s, t) in enumerate(pairs):
        if not s:
            raise ValueError(f"pairs[{j}] has an empty source")
        try:
            src[j, :len(s)] = torch.tensor(tokenizer.encode(s))
            ids = tokenizer.encode(t + END)
        except ValueError as e:
            raise ValueError(f"pairs[{j}]: {e}") from None
        tgt_in[j, 0] = bos
        tgt_in[j, 1:len(ids)] = torch.tensor(ids[:-1])
        tgt_out[j, :len(ids)] = torch.tensor(ids)
    return src, tgt_in, tgt_out


def train_seq2seq(model: Seq2Seq, pairs, tokenizer, steps: int, batch_size: int = 32,
                  lr: float = 5e-3, warmup: int = 30, seed: int = 0, progress=None) -> list[float]:
    """Teacher-forced training with AdamW, linear warm-up then cosine decay to lr/10.

    Batches are drawn with replacement by a NumPy generator seeded with ``seed``;
    ``progress`` wraps the step range (e.g. ``tqdm``).  Returns the loss of each step.
    """
    if not isinstance(model, Seq2Seq):
        raise ValueError(f"model must be a Seq2Seq, got {type(model).__name__}")
    checks.integer(steps, "steps", 1)
    checks.integer(batch_size, "batch_size", 1)
    checks.integer(warmup, "warmup", 0)
    if not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr must be a number > 0, got {lr!r}")
    checks.integer(seed, "seed", 0)
    _check_tokenizer(tokenizer)
    if progress is not None and not callable(progress):
        raise checks.ArgumentTypeError(f"progress must be None or a wrapper such as tqdm, got {progress!r}")
    pairs = _check_pairs(pairs)
    too_long = [p for p in pairs if len(p[0]) > model.max_len or len(p[1]) + 1 > model.max_len + 2]
    if not pairs or too_long:
        raise ValueError(f"pairs must be non-empty and fit max_len = {model.max_len}; "
                         f"{len(too_long)} are too long, e.g. {too_long[:1]}")
    rng, dev = np.random.default_rng(seed), next(model.parameters()).device
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    steps_iter = range(steps) if progress is None else progress(range(steps))
    for step in steps_iter:
        scale = min(1.0, (step + 1) / max(warmup, 1)) * (0.1 + 0.45 * (1 + math.cos(math.pi * step / steps)))
        for group in opt.param_groups:
            group["lr"] = lr * scale
        src, tgt_in, tgt_out = (t.to(dev) for t in make_batch(
            [pairs[i] for i in rng.integers(0, len(pairs), batch_size)], tokenizer, model.pad, model.bos))
        loss = F.cross_entropy(model(src, tgt_in).transpose(1, 2), tgt_out, ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.no_grad()
def translate(model: Seq2Seq, tokenizer, sources, batch_size: int = 256) -> list[str]:
    """Greedy decoding: the most likely character at each step, until a newline
    (or ``max_len + 1`` characters).  The encoder runs once per batch."""
    if not isinstance(model, Seq2Seq):
        raise ValueError(f"model must be a Seq2Seq, got {type(model).__name__}")
    checks.integer(batch_size, "batch_size", 1)
    _check_tokenizer(tokenizer)
    if END not in tokenizer.stoi:
        raise ValueError(f"tokenizer must know {END!r}, the character that ends every target")
    sources = checks.strings(sources, "sources", nonempty=False)
    if any(not s or len(s) > model.max_len for s in sources):
        raise ValueError(f"sources: every source must have 1 to max_len = {model.max_len} characters")
    for i, s in enumerate(sources):
        try:
            tokenizer.encode(s)
        except ValueError as e:
            raise ValueError(f"sources[{i}]: {e}") from None
    was_training = model.training
    model.eval()
    end, dev = tokenizer.stoi[END], next(model.parameters()).device
    out = []
    for b in range(0, len(sources), batch_size):
        chunk = sources[b:b + batch_size]
        src = make_batch([(s, "") for s in chunk], tokenizer, model.pad, model.bos)[0].to(dev)
        memory = model.encode(src)
        ys = torch.full((len(chunk), 1), model.bos, dtype=torch.long, device=dev)
        done = torch.zeros(len(chunk), dtype=torch.bool, device=dev)
        for _ in range(model.max_len + 1):
            logits = model.decode(memory, src, ys)[:, -1, :model.vocab_size]   # never BOS or PAD
            nxt = logits.argmax(dim=-1)
            ys = torch.cat([ys, nxt[:, None]], dim=1)
            done |= nxt == end
            if done.all():
                break
        for row in ys[:, 1:].tolist():
            text = tokenizer.decode(row)
            out.append(text.split(END)[0])
    model.train(was_training)
    return out
