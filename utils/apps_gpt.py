"""Using a trained GPT (``utils.gpt.GPT``) in applications: scores, features, samples.

Built in chapter 7 (applications).  Three things a trained language model gives
an application, each in batches on the CPU:

- :func:`char_nll`, :func:`text_nll`: how surprised the model is by a text
  (per-character negative log-likelihood, in nats): perplexity, ranking candidates,
  likelihood-based probes;
- :func:`hidden_states`, :func:`embed`: the model's internal vectors, pooled
  into one feature vector per text (for classifiers and retrieval);
- :func:`sample`: generation with chapter 6's key-value cache
  (``utils.decoding.forward_with_cache``), so each new character costs one
  position's work instead of a whole window's (equal to ``GPT.generate`` while the
  text fits in ``block_size``; past it, the cache restarts from the last half).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from utils import checks
from utils.decoding import apply_temperature, forward_with_cache, top_k_filter

__all__ = ["char_nll", "text_nll", "hidden_states", "embed", "sample"]


def _check_model(model):
    from utils.gpt import GPT

    if not isinstance(model, GPT):
        raise ValueError(f"model must be a utils.gpt.GPT, got {type(model).__name__}")


def _device(model):
    return next(model.parameters()).device


def _check_tokenizer(tokenizer):
    from utils.data import CharTokenizer

    checks.instance(tokenizer, CharTokenizer, "tokenizer", "utils.data.CharTokenizer")


def _encode(tokenizer, text, name):
    try:
        return tokenizer.encode(text)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None


@torch.no_grad()
def char_nll(model, ids, batch_size: int = 32, stride: int | None = None) -> np.ndarray:
    """``-ln P(x_t | x_<t)`` for t = 1..len(ids)-1, in nats (the first character has no context).

    Every character after the first is scored exactly once.  With ``stride`` None (or equal to
    ``block_size``) ``ids`` is cut into windows of ``block_size + 1`` ids that overlap by one:
    inside a window the context grows from 1 to ``block_size`` characters, so it restarts at
    every window.  With a smaller ``stride`` the windows of ``block_size`` inputs start every
    ``stride`` characters and each scores only its last ``stride`` targets (the first window
    scores all of its own): every character but those of the first window is then predicted
    from at least ``block_size - stride`` characters of context (a sliding window; ``stride=1``
    gives every character the full context, at ``block_size`` times the cost).
    """
    _check_model(model)
    checks.integer(batch_size, "batch_size", 1)
    T, dev = model.config.block_size, _device(model)
    stride = T if stride is None else checks.integer(stride, "stride", 1)
    if stride > T:
        raise ValueError(f"stride must be at most block_size = {T}, got {stride}")
    ids = checks.id_sequence(ids, "ids", model.config.vocab_size, min_len=2).long()
    n_targets = len(ids) - 1
    windows, scored_end = [], 0          # (first input, number of inputs, targets kept at the end)
    for begin in range(0, n_targets, stride):
        end = min(begin + T, n_targets)
        windows.append((begin, end - begin, end - scored_end))
        scored_end = end
        if end == n_targets:
            break
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(windows), batch_size):
        chunk = windows[i:i + batch_size]
        width = max(n for _, n, _ in chunk)
        x = torch.zeros(len(chunk), width, dtype=torch.long)
        y = torch.zeros_like(x)
        for j, (b, n, _) in enumerate(chunk):
            x[j, :n], y[j, :n] = ids[b:b + n], ids[b + 1:b + n + 1]
        logits, _ = model(x.to(dev))
        nll = F.cross_entropy(logits.transpose(1, 2), y.to(dev), reduction="none").cpu()
        out.extend(nll[j, n - keep:n] for j, (_, n, keep) in enumerate(chunk))
    model.train(was_training)
    return torch.cat(out).double().numpy()


@torch.no_grad()
def text_nll(model, tokenizer, texts, prefix="", batch_size: int = 64) -> np.ndarray:
    """Total ``-ln P(text | prefix)`` in nats of each text (the prefix itself is not scored).

    ``prefix`` is one string for all texts or a list, one per text; each
    ``prefix + text`` must fit in ``block_size + 1`` characters, and a text needs
    a non-empty prefix or at least two characters (its first character is then context).
    """
    _check_model(model)
    checks.integer(batch_size, "batch_size", 1)
    _check_tokenizer(tokenizer)
    texts = checks.strings(texts, "texts", nonempty=False)
    prefixes = ([prefix] * len(texts) if isinstance(prefix, str)
                else checks.strings(prefix, "prefix", nonempty=False))
    if len(prefixes) != len(texts) or not texts:
        raise ValueError(f"texts must be non-empty and prefix a str or one per text, "
                         f"got {len(texts)} texts and {len(prefixes)} prefixes")
    T, dev = model.config.block_size, _device(model)
    seqs = []
    for i, (p, t) in enumerate(zip(prefixes, texts)):
        if not p and len(t) < 2:
            raise ValueError(f"texts[{i}]: a text without a prefix needs at least 2 characters, got {t!r}")
        ids = _encode(tokenizer, p, "prefix") + _encode(tokenizer, t, f"texts[{i}]")
        if len(ids) > T + 1:
            raise ValueError(f"prefix + text has {len(ids)} characters; at most block_size + 1 = {T + 1}")
        seqs.append((ids, max(len(p), 1)))       # scored from position max(len(p), 1) on
    was_training = model.training
    model.eval()
    out = np.empty(len(seqs))
    for i in range(0, len(seqs), batch_size):
        batch = seqs[i:i + batch_size]
        L = max(len(ids) for ids, _ in batch) - 1
        x = torch.zeros(len(batch), L, dtype=torch.long)
        y = torch.full((len(batch), L), -100, dtype=torch.long)   # -100: not scored
        for j, (ids, first) in enumerate(batch):
            t = torch.tensor(ids)
            x[j, :len(ids) - 1] = t[:-1]
            y[j, first - 1:len(ids) - 1] = t[first:]
        logits, _ = model(x.to(dev))
        nll = F.cross_entropy(logits.transpose(1, 2), y.to(dev), reduction="none", ignore_index=-100)
        out[i:i + len(batch)] = nll.sum(dim=1).double().cpu().numpy()
    model.train(was_training)
    return out


def hidden_states(model, idx, layer=None):
    """The residual stream after ``layer`` blocks, ``(B, T, n_embd)``.

    ``layer=None`` (default) is the model's final representation: all blocks and
    the final LayerNorm, i.e. exactly what ``lm_head`` reads. ``layer=0`` is the
    embeddings alone.
    """
    _check_model(model)
    L = model.config.n_layer
    if layer is not None:
        checks.integer(layer, "layer", 0)
        if layer > L:
            raise ValueError(f"layer must be None or an int in [0, {L}], got {layer!r}")
    checks.token_ids(idx, "idx", model.config.vocab_size)
    if idx.shape[1] > model.config.block_size:
        raise ValueError(f"idx must be (batch, time <= {model.config.block_size}), got {tuple(idx.shape)}")
    tr = model.transformer
    x = tr.drop(tr.wte(idx) + tr.wpe(torch.arange(idx.shape[1], device=idx.device)))
    for block in tr.h[:L if layer is None else layer]:
        x = block(x)
    return tr.ln_f(x) if layer is None else x


@torch.no_grad()
def embed(model, tokenizer, texts, layer=None, pool: str = "mean", batch_size: int = 32) -> np.ndarray:
    """One vector per text from :func:`hidden_states`.

    ``pool="mean"``: the mean over the text's characters; ``"last"``: the state at
    its last character (in a causal model, the only one that has read the whole
    text; with ``layer=None``, what ``lm_head`` turns into the next-character
    logits); ``"mean+last"``: both side by side (``2 * n_embd`` columns).
    Texts longer than ``block_size`` are cut into windows read separately: the
    mean is weighted by window length, "last" comes from the last window.
    Texts are batched by length with padding on the right, which a causal model
    never reads.
    """
    _check_model(model)
    checks.integer(batch_size, "batch_size", 1)
    if pool not in ("mean", "last", "mean+last"):
        raise ValueError(f"pool must be 'mean', 'last' or 'mean+last', got {pool!r}")
    _check_tokenizer(tokenizer)
    texts = checks.strings(texts, "texts")
    if not all(texts):
        raise ValueError("texts must be a non-empty list of non-empty strings")
    T, C = model.config.block_size, model.config.n_embd
    pieces = []                                   # (text index, ids of one window)
    for i, t in enumerate(texts):
        ids = _encode(tokenizer, t, f"texts[{i}]")
        pieces.extend((i, ids[s:s + T]) for s in range(0, len(ids), T))
    order = sorted(range(len(pieces)), key=lambda j: len(pieces[j][1]))
    sums = torch.zeros(len(texts), C, dtype=torch.float64)
    counts = torch.zeros(len(texts), dtype=torch.float64)
    last = torch.zeros(len(texts), C, dtype=torch.float64)
    last_window = {}
    for j in range(len(pieces)):                   # windows come in text order: keep the final one
        last_window[pieces[j][0]] = j
    was_training = model.training
    model.eval()
    for b in range(0, len(order), batch_size):
        chosen = order[b:b + batch_size]
        n = torch.tensor([len(pieces[j][1]) for j in chosen])
        x = torch.zeros(len(chosen), int(n.max()), dtype=torch.long)
        for r, j in enumerate(chosen):
            x[r, :n[r]] = torch.tensor(pieces[j][1])
        h = hidden_states(model, x.to(_device(model)), layer).cpu()
        valid = (torch.arange(x.shape[1])[None, :] < n[:, None]).unsqueeze(-1)
        s = (h * valid).sum(dim=1).double()
        for r, j in enumerate(chosen):
            i = pieces[j][0]
            sums[i] += s[r]
            counts[i] += n[r]
            if last_window[i] == j:
                last[i] = h[r, n[r] - 1].double()
    model.train(was_training)
    mean = sums / counts[:, None]
    out = {"mean": mean, "last": last, "mean+last": torch.cat([mean, last], dim=1)}[pool]
    return out.float().numpy()


@torch.no_grad()
def sample(model, idx, max_new_tokens: int, temperature: float = 1.0, top_k=None,
           greedy: bool = False, generator=None):
    """Extend ``idx`` (B, T0) by ``max_new_tokens`` tokens, with a key-value cache.

    Each step feeds only the newest token and reuses the stored keys and values of
    the earlier ones.  While ``T0 + max_new_tokens <= block_size`` the result is
    what ``GPT.generate`` returns with the same ``generator``; beyond that, when the
    cache is full, it restarts from the last ``block_size // 2`` tokens (so the
    context is then between half and all of ``block_size``, where ``generate``
    always uses the full window).  ``greedy=True`` takes the most likely token.
    """
    _check_model(model)
    checks.integer(max_new_tokens, "max_new_tokens", 0)
    if not greedy and (not isinstance(temperature, (int, float)) or not temperature > 0):
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    if top_k is not None:
        checks.integer(top_k, "top_k", 1)
    checks.flag(greedy, "greedy")
    checks.generator(generator)
    checks.token_ids(idx, "idx", model.config.vocab_size)
    T = model.config.block_size
    was_training = model.training
    model.eval()
    cache, new = None, idx[:, -T:]
    out = idx
    for _ in range(max_new_tokens):
        past = 0 if cache is None else cache[0][0].shape[2]
        if past + new.shape[1] > T:               # cache full: restart from the last T // 2 tokens
            cache, new = None, out[:, -(T // 2):]
        logits, cache = forward_with_cache(model, new, cache, last_only=True)
        logits = logits[:, -1]
        if greedy:
            nxt = logits.argmax(dim=-1, keepdim=True)
        else:
            logits = top_k_filter(apply_temperature(logits, temperature), top_k)
            nxt = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)
        out = torch.cat([out, nxt], dim=1)
        new = nxt
    model.train(was_training)
    return out
