"""Decoding: turning a language model's next-token distribution into text.

Built in chapter 6, from scratch, and checked token for token against
``transformers``' ``GPT2LMHeadModel.generate`` with the same weights.

- :func:`forward_with_cache`: the book GPT's forward pass over *new* tokens only,
  reusing the keys and values of earlier positions (the KV cache).  Written as
  functions over the model's own modules (``utils.gpt`` is not changed).
- Logit filters: :func:`apply_temperature`, :func:`top_k_filter`, :func:`top_p_filter`,
  :func:`apply_repetition_penalty` (each returns new logits; ``-inf`` removes a token).
- Decoders: :func:`greedy`, :func:`sample` (temperature, top-k, top-p) and
  :func:`beam_search`, all with or without the KV cache.

    out = greedy(model, idx, max_new_tokens=50)
    out = sample(model, idx, 50, temperature=0.8, top_k=20, top_p=0.9, generator=g)
    out = beam_search(model, idx, 50, num_beams=4)

Every function takes ``idx``, a ``(batch, time)`` int64 tensor of token ids, and
returns the longer tensor.  Past ``block_size`` tokens the context window slides,
as in ``GPT.generate``; the positions then change, so the cache is dropped and the
window recomputed at every step.
"""
from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

from utils import checks
from utils.gpt import GPT, CausalSelfAttention

__all__ = ["attention_with_cache", "forward_with_cache", "next_token_logits", "apply_temperature",
           "top_k_filter", "top_p_filter", "apply_repetition_penalty", "greedy", "sample",
           "beam_search", "distinct_n"]


# --- Argument checks -----------------------------------------------------------------
def _is_int(x):
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _is_number(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _check_model_and_prompt(model, idx):
    if not isinstance(model, GPT):
        raise ValueError(f"model must be a utils.gpt.GPT, got {type(model).__name__}")
    if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.shape[1] < 1 or idx.shape[0] < 1:
        shape = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx).__name__
        raise ValueError(f"idx must be a (batch, time >= 1) tensor of token ids, got {shape}")
    if idx.dtype != torch.long:
        raise ValueError(f"idx must hold int64 token ids, got dtype {idx.dtype}")
    V, T = model.config.vocab_size, model.config.block_size
    if idx.shape[1] > T:
        raise ValueError(f"idx: the prompt has {idx.shape[1]} tokens but the model's context (block_size) "
                         f"is {T}; shorten the prompt to at most {T} tokens")
    if idx.min() < 0 or idx.max() >= V:
        raise ValueError(f"idx: token ids must be in [0, {V - 1}], got min {idx.min().item()}, "
                         f"max {idx.max().item()}")


def _check_logits(logits):
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point() or logits.dim() < 1:
        got = f"dtype {logits.dtype}" if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise checks.ArgumentTypeError(f"logits must be a floating-point tensor (..., vocab_size), got {got}")


def _check_past(past, attn, B, name):
    """``past`` must be None or the ``(k, v)`` of ``attn``, each (B, n_head, P, head_size)."""
    if past is None:
        return
    B_H_D = (B, attn.n_head, attn.n_embd // attn.n_head)
    if not (isinstance(past, (tuple, list)) and len(past) == 2 and all(
            isinstance(t, torch.Tensor) and t.dim() == 4 and (t.shape[0], t.shape[1], t.shape[3]) == B_H_D
            for t in past) and past[0].shape == past[1].shape):
        raise ValueError(f"{name} must be None or (k, v), each of shape (B, n_head, P, head_size) = "
                         f"({B}, {B_H_D[1]}, P, {B_H_D[2]}), as forward_with_cache returns them")


def _check_cache(model, cache, B):
    """``cache`` must be None or, per layer, the ``(k, v)`` that :func:`forward_with_cache` returns."""
    if cache is None:
        return
    if not isinstance(cache, (list, tuple)) or len(cache) != model.config.n_layer:
        raise ValueError(f"cache must be None or a list of {model.config.n_layer} (k, v) pairs, one a layer, "
                         f"as forward_with_cache returns it")
    for i, (block, kv) in enumerate(zip(model.transformer.h, cache)):
        _check_past(kv, block.attn, B, f"cache[{i}]")


def _check_max_new_tokens(n, minimum=0):
    if not _is_int(n) or n < minimum:
        raise ValueError(f"max_new_tokens must be an int >= {minimum}, got {n!r}")


def _check_temperature(t):
    if not _is_number(t) or not t > 0:
        raise ValueError(f"temperature must be a number > 0, got {t!r}")


def _check_top_k(k):
    if k is not None and (not _is_int(k) or k < 1):
        raise ValueError(f"top_k must be None or an int >= 1, got {k!r}")


def _check_top_p(p):
    if p is not None and (not _is_number(p) or not 0 < p <= 1):
        raise ValueError(f"top_p must be None or a number in (0, 1], got {p!r}")


def _check_penalty(r):
    if not _is_number(r) or not r > 0:
        raise ValueError(f"repetition_penalty must be a number > 0 (1.0: no penalty), got {r!r}")


# --- The KV cache --------------------------------------------------------------------
def attention_with_cache(attn, x, past=None):
    """Causal self-attention of ``attn`` (a ``utils.gpt.CausalSelfAttention``) for new positions.

    ``x`` (B, T, C) holds the new positions; ``past`` is ``(k, v)``, each (B, n_head, P, head_size),
    the keys and values of the P earlier positions (or None).  Returns the output (B, T, C)
    and the extended ``(k, v)`` (B, n_head, P + T, head_size).
    """
    checks.instance(attn, CausalSelfAttention, "attn", "utils.gpt.CausalSelfAttention")
    q, k, v = attn.qkv(x)                                   # each (B, n_head, T, head_size)
    B, T, C = x.shape
    _check_past(past, attn, B, "past")
    if past is not None:
        k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
    P = k.shape[2] - T
    if T == 1:          # one new query may read every position: no mask at all
        y = F.scaled_dot_product_attention(q, k, v)
    elif P == 0:        # no past: the usual causal mask
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    else:               # new query i (position P + i) reads keys 0 .. P + i
        allowed = torch.ones(T, P + T, dtype=torch.bool, device=x.device).tril(diagonal=P)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    y = y.transpose(1, 2).reshape(B, T, C)
    return attn.c_proj(y), (k, v)


def forward_with_cache(model: GPT, idx, cache=None, last_only=False):
    """The book GPT's forward pass over new tokens ``idx`` (B, T), reusing ``cache``.

    ``cache`` is None (nothing seen yet) or the list returned by an earlier call: per layer,
    the ``(k, v)`` of every position so far.  Returns ``(logits, cache)``; the logits are
    (B, T, vocab_size), or (B, 1, vocab_size) for the last position if ``last_only``.
    Equal to ``model(all_tokens)[0][:, -T:]`` up to float rounding.
    """
    checks.instance(model, GPT, "model", "utils.gpt.GPT")
    checks.token_ids(idx, "idx", model.config.vocab_size)
    checks.flag(last_only, "last_only")
    B, T = idx.shape
    _check_cache(model, cache, B)
    past = 0 if cache is None else cache[0][0].shape[2]
    if past + T > model.config.block_size:
        raise ValueError(f"idx: {past} cached + {T} new positions exceed block_size "
                         f"{model.config.block_size}")
    tr = model.transformer
    pos = torch.arange(past, past + T, device=idx.device)  # positions continue where the cache ends
    x = tr.wte(idx) + tr.wpe(pos)
    new_cache = []
    for i, block in enumerate(tr.h):
        a, kv = attention_with_cache(block.attn, block.ln_1(x), None if cache is None else cache[i])
        x = x + a
        x = x + block.mlp(block.ln_2(x))
        new_cache.append(kv)
    if last_only:
        x = x[:, -1:]
    return model.lm_head(tr.ln_f(x)), new_cache


def next_token_logits(model: GPT, idx, cache=None, use_cache=True):
    """Logits (B, vocab_size) of the token after ``idx`` (B, T), and the updated cache.

    With ``use_cache`` only the tokens not yet in ``cache`` are computed.  Past
    ``block_size`` the window slides: positions shift, the old keys are stale, so the
    last ``block_size`` tokens are recomputed (as ``GPT.generate`` does) and the cache dropped.
    """
    checks.instance(model, GPT, "model", "utils.gpt.GPT")
    checks.token_ids(idx, "idx", model.config.vocab_size)
    checks.flag(use_cache, "use_cache")
    if use_cache:
        _check_cache(model, cache, idx.shape[0])
    T, block = idx.shape[1], model.config.block_size
    if not use_cache or T > block:
        return model(idx[:, -block:])[0][:, -1], None
    past = 0 if cache is None else cache[0][0].shape[2]
    logits, cache = forward_with_cache(model, idx[:, past:], cache, last_only=True)
    return logits[:, -1], cache


# --- Logit filters (each returns new logits) -------------------------------------------
def apply_temperature(logits, temperature):
    """``logits / temperature``: below 1 sharpens the distribution, above 1 flattens it."""
    _check_logits(logits)
    _check_temperature(temperature)
    return logits / temperature


def top_k_filter(logits, k):
    """Keep the ``k`` largest logits of each row (ties with the k-th kept too); the rest -> -inf."""
    _check_logits(logits)
    _check_top_k(k)
    if k is None:
        return logits
    kth = torch.topk(logits, min(k, logits.shape[-1]), dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits, p):
    """Nucleus filter: keep the most likely tokens whose probabilities first sum to >= ``p``.

    Sort the probabilities in decreasing order; a token stays if the tokens before it
    sum to less than ``p`` (so the most likely token always stays).
    """
    _check_logits(logits)
    _check_top_p(p)
    if p is None or p >= 1:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs              # probability of the tokens ahead of each one
    remove_sorted = mass_before >= p
    remove = remove_sorted.scatter(-1, order, remove_sorted)  # back to vocabulary order
    return logits.masked_fill(remove, float("-inf"))


def apply_repetition_penalty(logits, idx, penalty):
    """CTRL's repetition penalty: for every token already in ``idx``, divide a positive logit
    by ``penalty`` and multiply a negative one by it (``penalty`` > 1 discourages repeats)."""
    _check_logits(logits)
    checks.token_ids(idx, "idx", logits.shape[-1], dtypes=(torch.int64,))
    if logits.dim() != 2 or idx.shape[0] != logits.shape[0]:
        raise ValueError(f"logits (B, vocab_size) and idx (B, T) must agree on B, got {tuple(logits.shape)} "
                         f"and {tuple(idx.shape)}")
    _check_penalty(penalty)
    if penalty == 1.0:
        return logits
    seen = torch.gather(logits, 1, idx)
    seen = torch.where(seen < 0, seen * penalty, seen / penalty)
    return logits.scatter(1, idx, seen)


# --- Decoders ----------------------------------------------------------------------------
def _extend(model, idx, max_new_tokens, repetition_penalty, use_cache, choose):
    """The loop shared by the decoders: next-token logits (with the KV cache), repetition
    penalty, then ``choose(logits)`` picks one token per row; the model is left as it was."""
    was_training = model.training
    model.eval()
    cache = None
    for _ in range(max_new_tokens):
        logits, cache = next_token_logits(model, idx, cache, use_cache)
        logits = apply_repetition_penalty(logits.float(), idx, repetition_penalty)
        idx = torch.cat([idx, choose(logits)], dim=1)
    model.train(was_training)
    return idx


@torch.no_grad()
def greedy(model: GPT, idx, max_new_tokens, repetition_penalty=1.0, use_cache=True):
    """Append ``max_new_tokens`` tokens, each the most likely one (argmax; ties: lowest id)."""
    _check_model_and_prompt(model, idx)
    _check_max_new_tokens(max_new_tokens)
    _check_penalty(repetition_penalty)
    checks.flag(use_cache, "use_cache")
    return _extend(model, idx, max_new_tokens, repetition_penalty, use_cache,
                   lambda logits: logits.argmax(dim=-1, keepdim=True))


@torch.no_grad()
def sample(model: GPT, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None,
           repetition_penalty=1.0, generator=None, use_cache=True):
    """Append ``max_new_tokens`` sampled tokens.

    Each step: repetition penalty, then ``logits / temperature``, then the top-k filter,
    then the top-p filter (the order ``transformers`` uses), softmax, and one draw with
    ``torch.multinomial`` from ``generator`` (a ``torch.Generator``; None: PyTorch's global one).
    """
    _check_model_and_prompt(model, idx)
    _check_max_new_tokens(max_new_tokens)
    _check_temperature(temperature)
    _check_top_k(top_k)
    _check_top_p(top_p)
    _check_penalty(repetition_penalty)
    checks.flag(use_cache, "use_cache")
    checks.generator(generator)

    def draw(logits):
        logits = top_p_filter(top_k_filter(apply_temperature(logits, temperature), top_k), top_p)
        return torch.multinomial(logits.softmax(dim=-1), num_samples=1, generator=generator)

    return _extend(model, idx, max_new_tokens, repetition_penalty, use_cache, draw)


@torch.no_grad()
def beam_search(model: GPT, idx, max_new_tokens, num_beams=4, length_penalty=1.0, early_stopping=False,
                eos_token_id=None, use_cache=True, return_hypotheses=False):
    """The most likely continuation found by keeping the ``num_beams`` best partial sequences.

    Follows ``transformers``' beam search, so with the same settings it returns the same
    tokens as ``generate(num_beams=..., do_sample=False)``:

    - a beam's score is its summed log-probability; at each step the ``2 * num_beams`` best
      continuations of all beams are ranked;
    - a continuation that ends in ``eos_token_id`` (or reaches ``max_new_tokens``) is finished
      if it ranks among the first ``num_beams``; it is scored ``sum_logprob / new_len ** length_penalty``
      and kept if among the ``num_beams`` best finished; the other continuations run on;
    - ``early_stopping``: True stops once ``num_beams`` are finished; False stops when the best
      running beam, scored at its current length, cannot beat the worst finished one;
      ``"never"`` scores it at ``max_new_tokens`` instead when ``length_penalty > 0``;
    - ``num_beams=1`` is greedy search (``transformers`` switches to it): it stops at the first EOS.

    ``idx`` must be a single prompt, shape (1, T).  Returns the best sequence (1, T + n), or
    with ``return_hypotheses`` the list of finished ``(score, tokens)``, best first.
    """
    _check_model_and_prompt(model, idx)
    _check_max_new_tokens(max_new_tokens, minimum=1)
    if idx.shape[0] != 1:
        raise ValueError(f"beam_search takes one prompt at a time: idx must be (1, T), "
                         f"got {tuple(idx.shape)}")
    if not _is_int(num_beams) or num_beams < 1:
        raise ValueError(f"num_beams must be an int >= 1, got {num_beams!r}")
    if not _is_number(length_penalty):
        raise ValueError(f"length_penalty must be a finite number, got {length_penalty!r}")
    if early_stopping not in (True, False, "never"):
        raise ValueError(f"early_stopping must be True, False or 'never', got {early_stopping!r}")
    V = model.config.vocab_size
    if eos_token_id is not None and (not _is_int(eos_token_id) or not 0 <= eos_token_id < V):
        raise ValueError(f"eos_token_id must be None or an int in [0, {V - 1}], got {eos_token_id!r}")
    checks.flag(use_cache, "use_cache")
    checks.flag(return_hypotheses, "return_hypotheses")
    was_training = model.training
    model.eval()

    seqs = idx.repeat(num_beams, 1)                          # (num_beams, T): running beams
    scores = torch.full((num_beams,), -1e9)                  # only beam 0 is live at the start,
    scores[0] = 0.0                                 # so step 1 does not pick one token num_beams times
    finished = []                                            # (score, tokens) of finished hypotheses
    cache, n_keep, improvable = None, 2 * num_beams, True
    for step in range(1, max_new_tokens + 1):
        logits, cache = next_token_logits(model, seqs, cache, use_cache)
        logp = F.log_softmax(logits.float(), dim=-1).cpu() + scores[:, None]   # (num_beams, V)
        top_scores, flat = torch.topk(logp.view(-1), n_keep)                  # best continuations
        beam, token = flat // V, flat % V
        ends = torch.full((n_keep,), step == max_new_tokens)
        if eos_token_id is not None:
            ends |= token == eos_token_id
        # 1. finished hypotheses: only those ranked among the first num_beams count
        full = len(finished) == num_beams
        if improvable and not (full and early_stopping is True):
            for j in range(num_beams):
                if ends[j]:
                    tokens = torch.cat([seqs[beam[j]].cpu(), token[j:j + 1]])
                    finished.append((top_scores[j].item() / step ** length_penalty, tokens))
            finished = sorted(finished, key=lambda h: -h[0])[:num_beams]
        if num_beams == 1 and bool(ends[0]):
            break          # one beam is greedy search: it stops at its first EOS, as in transformers
        # 2. running beams: the best num_beams continuations that did not end
        running = top_scores + ends.float() * -1e9
        keep = torch.topk(running, num_beams).indices
        seqs = torch.cat([seqs[beam[keep].to(seqs.device)], token[keep, None].to(seqs.device)], dim=1)
        scores = running[keep]
        if cache is not None:                                # each kept beam takes its parent's keys/values
            parents = beam[keep].to(seqs.device)
            cache = [(k[parents], v[parents]) for k, v in cache]
        # 3. stop when nothing can improve the finished list
        if bool(ends.all()):
            break
        if len(finished) == num_beams:
            if early_stopping is True:
                break
            length = max_new_tokens if (early_stopping == "never" and length_penalty > 0) else step
            if not scores[0].item() / length ** length_penalty > finished[-1][0]:
                improvable = False
                break
    model.train(was_training)
    if return_hypotheses:
        return finished
    return torch.cat([idx[0].cpu(), finished[0][1][idx.shape[1]:]])[None].to(idx.device)


# --- Measuring repetition -------------------------------------------------------------------
def distinct_n(tokens, n):
    """The fraction of distinct n-grams among all n-grams of ``tokens`` (1.0: no n-gram repeats).

    ``tokens`` is a sequence of hashable items: token ids, characters or words (chapter 7
    uses it on words, as ``utils.apps_metrics.distinct_n``); a tensor or an array is read
    with ``.tolist()``.  A measure of diversity, not of quality: random letters score 1, and
    longer texts repeat more, so compare texts of the same length only.
    """
    if not _is_int(n) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    if not hasattr(tokens, "__iter__"):
        raise checks.ArgumentTypeError(f"tokens must be a sequence (ids, characters, words), "
                                       f"got {type(tokens).__name__}")
    tokens = tokens.tolist() if hasattr(tokens, "tolist") else list(tokens)
    tokens = [t.item() if isinstance(t, torch.Tensor) else t for t in tokens]   # 0-d tensors hash by identity
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    if not grams:
        raise ValueError(f"tokens must have at least n = {n} items, got {len(tokens)}")
    return len(set(grams)) / len(grams)
