"""Supervised fine-tuning (SFT): instruction-style pairs, the prompt masked out of the loss.

Pre-training (and continued pre-training on new text) scores every next token.  SFT trains on
pairs ``(prompt, response)`` and scores only the response: the targets of the prompt's
positions are -100, which ``F.cross_entropy`` (and so ``GPT.forward``) ignores.

The task, built from the book's plays: answer a cue speech in the voice of the character who
replies in the play.  The template (:func:`Pair.prompt`, :func:`Pair.response`) uses only
characters of the book's vocabulary; ``$`` (once in the corpus, as a typo; pairs containing it
are dropped) marks the end of the response::

    Answer as VIOLA.          <- the instruction: who must answer
    DUKE ORSINO:              <- the cue, as the plays print a speech
    Who saw Cesario, ho?
                              <- (blank line)
    VIOLA:                    <- end of the prompt
    On your attendance, my lord; here.$      <- the response, ending with END

    pairs = split_pairs("train")                        # training plays only
    x, y = sft_batch(pairs[:16], tok)                   # y = -100 on prompt and padding
    losses = sft_train(model, pairs, tok, steps=30)     # AdamW, clipped, seeded
    reply_metrics(model, split_pairs("val")[:64], tok)  # greedy replies: do they stop with END?

Written for chapter 5; the pretrained model is ``utils.pretrained.load_pretrained``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from utils import checks
from utils.data import SPLITS, CharTokenizer, plays, speeches
from utils.decoding import forward_with_cache
from utils.gpt import GPT

__all__ = ["END", "Pair", "make_pairs", "split_pairs", "sft_batch", "response_nll", "response_loss",
           "sft_train", "generate_replies", "reply_metrics"]

#: The end-of-response marker (one character of the vocabulary).
END = "$"
IGNORE = -100   # the target F.cross_entropy skips (its ignore_index default)


@dataclass(frozen=True)
class Pair:
    """One instruction pair: ``cue_speaker`` says ``cue``; ``speaker`` replies ``reply`` (from ``play``)."""
    play: str
    cue_speaker: str
    cue: str
    speaker: str
    reply: str

    def __post_init__(self):
        for name in ("play", "cue_speaker", "cue", "speaker", "reply"):
            value = checks.string(getattr(self, name), name, nonempty=True)
            if END in value:
                raise ValueError(f"{name} must not contain the end marker {END!r}")

    @property
    def prompt(self) -> str:
        """The instruction and the cue, up to the answering speaker's ``NAME:`` line."""
        return f"Answer as {self.speaker}.\n{self.cue_speaker}:\n{self.cue}\n\n{self.speaker}:\n"

    @property
    def response(self) -> str:
        """The reply followed by :data:`END`."""
        return self.reply + END

    @property
    def text(self) -> str:
        return self.prompt + self.response


def make_pairs(play_names, max_prompt: int = 80, max_response: int = 48) -> list[Pair]:
    """Pairs from consecutive speeches of two different named speakers in ``play_names``, in
    play order, keeping those with ``len(prompt) <= max_prompt`` and ``len(response) <=
    max_response`` (defaults: 80 + 48 = 128, the pretrained model's block)."""
    names = checks.strings(play_names, "play_names")
    known = {p.name for p in plays()}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"play_names: unknown plays {unknown[:3]!r}")
    max_prompt = checks.integer(max_prompt, "max_prompt", 1)
    max_response = checks.integer(max_response, "max_response", 2)
    out = []
    for name in names:
        s = speeches(name)
        for (a, a_lines), (b, b_lines) in zip(s, s[1:]):
            cue, reply = "\n".join(a_lines), "\n".join(b_lines)
            if not a or not b or a == b or END in cue + reply + a + b:
                continue
            pair = Pair(name, a, cue, b, reply)
            if len(pair.prompt) <= max_prompt and len(pair.response) <= max_response:
                out.append(pair)
    return out


def split_pairs(split: str, **kwargs) -> list[Pair]:
    """:func:`make_pairs` over the plays of one split of ``utils.data.SPLITS``
    (``"train"``: every play not held out)."""
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    names = [p.name for p in plays() if p.split == "train"] if split == "train" else list(SPLITS[split])
    return make_pairs(names, **kwargs)


def _check_pairs(pairs, name="pairs") -> list[Pair]:
    if isinstance(pairs, (str, Pair)) or not hasattr(pairs, "__iter__"):
        raise checks.ArgumentTypeError(f"{name} must be a list of utils.sft.Pair, got {type(pairs).__name__}")
    pairs = list(pairs)
    if not pairs:
        raise ValueError(f"{name} must not be empty")
    for p in pairs:
        checks.instance(p, Pair, name, "list of utils.sft.Pair")
    return pairs


def _encode(pairs, tokenizer, block_size=None):
    checks.instance(tokenizer, CharTokenizer, "tokenizer", "utils.data.CharTokenizer")
    if END not in tokenizer.stoi:
        raise ValueError(f"tokenizer must have the end marker {END!r} in its vocabulary")
    out = []
    for p in pairs:
        try:
            prompt, response = tokenizer.encode(p.prompt), tokenizer.encode(p.response)
        except ValueError as e:
            raise ValueError(f"pairs: a pair of {p.play} does not fit the tokenizer ({e})") from None
        if block_size is not None and len(prompt) + len(response) - 1 > block_size:
            raise ValueError(f"pairs: a pair of {len(prompt) + len(response)} characters is longer than "
                             f"block_size + 1 = {block_size + 1}")
        out.append((prompt, response))
    return out


def sft_batch(pairs, tokenizer: CharTokenizer, mask_prompt: bool = True):
    """``(x, y)``, two (B, T) int64 tensors, T = the longest pair's length - 1, padded on the right.

    ``x`` = the pair's text without its last character (padding: id 0); ``y`` = the next
    character at each position, with -100 on padding and, if ``mask_prompt``, on every position
    whose target is a prompt character.  ``model(x, y)[1]`` is then the mean loss over the
    response characters only (``mask_prompt=False``: over prompt and response, as continued
    pre-training on the formatted text would score it)."""
    encoded = _encode(_check_pairs(pairs), tokenizer)
    mask_prompt = checks.flag(mask_prompt, "mask_prompt")
    T = max(len(a) + len(b) for a, b in encoded) - 1
    x = torch.zeros(len(encoded), T, dtype=torch.long)
    y = torch.full((len(encoded), T), IGNORE, dtype=torch.long)
    for i, (prompt, response) in enumerate(encoded):
        ids = torch.tensor(prompt + response)
        x[i, :len(ids) - 1], y[i, :len(ids) - 1] = ids[:-1], ids[1:]
        if mask_prompt:
            y[i, :len(prompt) - 1] = IGNORE       # targets 1 .. P-1 are prompt characters
    return x, y


@torch.no_grad()
def response_nll(model: GPT, pairs, tokenizer: CharTokenizer) -> list[torch.Tensor]:
    """Per pair, the negative log-likelihood (nats) of each response character given everything
    before it: one unpadded forward pass per pair, ``-log_softmax`` gathered at the response
    positions (independent of :func:`sft_batch` and of the -100 convention)."""
    checks.instance(model, GPT, "model", "utils.gpt.GPT")
    encoded = _encode(_check_pairs(pairs), tokenizer, model.config.block_size)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for prompt, response in encoded:
        idx = torch.tensor([prompt + response[:-1]], device=device)
        logp = F.log_softmax(model(idx)[0][0].float(), dim=-1)          # (T, vocab)
        positions = torch.arange(len(prompt) - 1, len(prompt) - 1 + len(response), device=device)
        out.append(-logp[positions, torch.tensor(response, device=device)].cpu())
    model.train(was_training)
    return out


def response_loss(model: GPT, pairs, tokenizer: CharTokenizer) -> float:
    """Mean negative log-likelihood per response character over all ``pairs`` (nats)."""
    return torch.cat(response_nll(model, pairs, tokenizer)).mean().item()


def sft_train(model: GPT, pairs, tokenizer: CharTokenizer, steps: int = 30, batch_size: int = 16,
              lr: float = 3e-4, mask_prompt: bool = True, seed: int = 0, grad_clip: float = 1.0,
              weight_decay: float = 0.0) -> list[float]:
    """Fine-tune ``model`` in place for ``steps`` AdamW steps (``GPT.configure_optimizer``, as
    ``utils.train.make_optimizer`` builds it; constant ``lr``; global gradient norm clipped to
    ``grad_clip``, 0 = off) on batches of ``batch_size`` distinct pairs drawn with ``seed``.
    ``mask_prompt=False`` scores the prompt too.  Returns the training loss of each step;
    the same arguments and starting weights give the same losses and weights (on one device)."""
    checks.instance(model, GPT, "model", "utils.gpt.GPT")
    pairs = _check_pairs(pairs)
    _encode(pairs, tokenizer, model.config.block_size)          # every pair fits
    steps = checks.integer(steps, "steps", 1)
    batch_size = checks.integer(batch_size, "batch_size", 1, len(pairs))
    lr = checks.number(lr, "lr", 0.0, low_open=True)
    mask_prompt = checks.flag(mask_prompt, "mask_prompt")
    seed = checks.integer(seed, "seed", 0)
    grad_clip = checks.number(grad_clip, "grad_clip", 0.0)
    weight_decay = checks.number(weight_decay, "weight_decay", 0.0)
    device = next(model.parameters()).device
    optimizer = model.configure_optimizer(weight_decay=weight_decay, lr=lr, betas=(0.9, 0.95))
    g = torch.Generator().manual_seed(seed)
    losses = []
    was_training = model.training
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)                                  # dropout, if the model has any
        for _ in range(steps):
            chosen = torch.randperm(len(pairs), generator=g)[:batch_size].tolist()
            x, y = sft_batch([pairs[i] for i in chosen], tokenizer, mask_prompt)
            _, loss = model(x.to(device), y.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            losses.append(loss.item())
    model.train(was_training)
    return losses


@torch.no_grad()
def generate_replies(model: GPT, pairs, tokenizer: CharTokenizer, max_new_tokens: int = 48) -> list[str]:
    """Greedy continuations of each pair's prompt, at most ``max_new_tokens`` characters,
    cut after the first :data:`END`.  All prompts run as one batch in lockstep with the KV
    cache (row i reads its own prompt until its end, then its own greedy choices), which
    gives the same text as ``utils.decoding.greedy`` on each prompt alone."""
    checks.instance(model, GPT, "model", "utils.gpt.GPT")
    pairs = _check_pairs(pairs)
    max_new_tokens = checks.integer(max_new_tokens, "max_new_tokens", 1)
    prompts = [prompt for prompt, _ in _encode(pairs, tokenizer)]
    lengths = torch.tensor([len(p) for p in prompts])
    total = int(lengths.max()) + max_new_tokens
    if total > model.config.block_size:
        raise ValueError(f"max_new_tokens: the longest prompt ({int(lengths.max())}) + max_new_tokens "
                         f"({max_new_tokens}) exceeds block_size {model.config.block_size}")
    device = next(model.parameters()).device
    end_id = tokenizer.stoi[END]
    buf = torch.zeros(len(prompts), total, dtype=torch.long)
    for i, p in enumerate(prompts):
        buf[i, :len(p)] = torch.tensor(p)
    buf = buf.to(device)
    lengths = lengths.to(device)
    was_training = model.training
    model.eval()
    start = int(lengths.min())
    logits, cache = forward_with_cache(model, buf[:, :start], last_only=True)
    done = torch.zeros(len(prompts), dtype=torch.bool, device=device)
    for t in range(start, total):                                  # t: the position to fill
        nxt = logits[:, -1].argmax(dim=-1)
        writing = (t >= lengths) & (t < lengths + max_new_tokens) & ~done
        buf[writing, t] = nxt[writing]
        done |= writing & (nxt == end_id)
        if bool(((t + 1 >= lengths + max_new_tokens) | done).all()) or t + 1 == total:
            break
        logits, cache = forward_with_cache(model, buf[:, t:t + 1], cache)
    model.train(was_training)
    out = []
    for i, n in enumerate(lengths.tolist()):
        text = tokenizer.decode(buf[i, n:n + max_new_tokens].tolist())
        out.append(text[:text.index(END) + 1] if END in text else text)
    return out


def reply_metrics(model: GPT, pairs, tokenizer: CharTokenizer, max_new_tokens: int = 48) -> dict:
    """What SFT should change, on ``pairs`` (held-out ones): ``stopped`` (per pair: the greedy
    reply ends with END within ``max_new_tokens`` characters), ``new_speech`` (per pair: the
    reply, before any END, runs on into a new speech, i.e. contains a blank line), their rates,
    ``response_loss`` (nats per response character) and the ``replies``."""
    replies = generate_replies(model, pairs, tokenizer, max_new_tokens)
    stopped = [r.endswith(END) for r in replies]
    new_speech = ["\n\n" in r for r in replies]
    n = len(replies)
    return {"stop_rate": sum(stopped) / n, "new_speech_rate": sum(new_speech) / n,
            "response_loss": response_loss(model, pairs, tokenizer),
            "stopped": stopped, "new_speech": new_speech, "replies": replies}
