"""The book's GPT: a decoder-only Transformer in one readable file.

Built in chapter 4 (the Transformer, piece by piece), trained in chapter 5 and
used by the chapters after it.  The layout and the attribute names follow
karpathy's nanoGPT (``transformer.wte``, ``transformer.h[i].attn.c_attn`` ...),
which are also the names of OpenAI's GPT-2 checkpoint, so porting GPT-2's
weights is a matter of copying tensors (transposing GPT-2's ``Conv1D`` ones).

    config = GPTConfig(vocab_size=71, block_size=64, n_layer=4, n_head=4, n_embd=128)
    model = GPT(config)
    logits, loss = model(x, y)            # x, y: (B, T) int64 token ids
    out = model.generate(x[:, :1], 100, temperature=0.8, top_k=10)

One block is ``x + attn(ln_1(x))`` then ``x + mlp(ln_2(x))`` (pre-LayerNorm,
as in GPT-2); attention is causal through
:func:`torch.nn.functional.scaled_dot_product_attention` with ``is_causal=True``;
the MLP is 4x wide with GPT-2's tanh-approximated GELU; the output layer shares
its weight with the token embedding (weight tying).
"""
from __future__ import annotations

import inspect
import json
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from utils import checks

__all__ = ["GPTConfig", "GPT", "Block", "CausalSelfAttention", "MLP",
           "param_count_formula", "save_checkpoint", "load_checkpoint"]


@dataclass
class GPTConfig:
    vocab_size: int      # number of distinct tokens (71 for the book's characters)
    block_size: int      # longest context the model can read (number of positions)
    n_layer: int         # number of Transformer blocks
    n_head: int          # attention heads per block
    n_embd: int          # width of the residual stream; must be divisible by n_head
    dropout: float = 0.0  # dropout probability in [0, 1); 0 for small data or fine-tuning
    bias: bool = True     # biases in Linear and LayerNorm layers (GPT-2 has them)

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int (>= 1), got {value!r}")
        if self.n_embd % self.n_head != 0:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}); "
                             f"each head gets n_embd // n_head dimensions")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) \
                or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be a float in [0, 1), got {self.dropout!r}")
        if not isinstance(self.bias, bool):
            raise ValueError(f"bias must be True or False, got {self.bias!r}")


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position t only sees positions <= t."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        checks.instance(config, GPTConfig, "config")
        self.n_head, self.n_embd, self.dropout = config.n_head, config.n_embd, config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v at once
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)      # mix the heads
        self.resid_dropout = nn.Dropout(config.dropout)

    def qkv(self, x):
        """Queries, keys, values, each (B, n_head, T, head_size)."""
        checks.features(x, "x", self.n_embd)
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        return [t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v)]

    def forward(self, x):
        q, k, v = self.qkv(x)
        B, T, C = x.shape
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again
        return self.resid_dropout(self.c_proj(y))

    def weights(self, x):
        """The attention weights softmax(q k^T / sqrt(d) + causal mask): (B, n_head, T, T)."""
        q, k, _ = self.qkv(x)
        T = x.shape[1]
        scores = q @ k.transpose(-2, -1) / math.sqrt(k.shape[-1])
        future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        return scores.masked_fill(future, float("-inf")).softmax(dim=-1)


class MLP(nn.Module):
    """Position-wise feed-forward network: widen 4x, GELU, project back."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        checks.instance(config, GPTConfig, "config")
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate="tanh")  # GPT-2's GELU
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        checks.features(x, "x", self.c_fc.in_features)
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """One pre-LayerNorm Transformer block: communicate (attention), then compute (MLP)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        checks.instance(config, GPTConfig, "config")
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=1e-5, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=1e-5, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        checks.features(x, "x", self.attn.n_embd)
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    """Decoder-only Transformer language model (GPT-2 architecture)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = checks.instance(config, GPTConfig, "config")
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),   # token embeddings
            wpe=nn.Embedding(config.block_size, config.n_embd),   # learned position embeddings
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, eps=1e-5, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # weight tying: one matrix, two uses
        self.apply(self._init_weights)
        # GPT-2: scale the layers that write into the residual stream by 1/sqrt(2 * n_layer),
        # so the stream's variance does not grow with depth (two writes per block).
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = False) -> int:
        """Number of parameters (the tied output matrix counted once).

        ``non_embedding=True`` leaves out the token and position embeddings, as
        Kaplan et al. (2020) count ``N`` for their scaling laws.
        """
        n = sum(p.numel() for p in self.parameters())  # parameters() yields a shared tensor once
        if checks.flag(non_embedding, "non_embedding"):
            n -= self.transformer.wte.weight.numel() + self.transformer.wpe.weight.numel()
        return n

    def forward(self, idx, targets=None):
        """Logits (B, T, vocab_size) and, if ``targets`` (B, T) are given, the mean cross-entropy.

        ``targets`` are ids in ``[0, vocab_size)``; -100 marks a position that is not scored."""
        checks.token_ids(idx, "idx", self.config.vocab_size)
        B, T = idx.shape
        self._check_length(T)
        pos = torch.arange(T, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        loss = None
        if targets is not None:
            checks.target_ids(targets, "targets", self.config.vocab_size, idx.shape)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    def _check_length(self, T):
        if T > self.config.block_size:
            raise ValueError(f"idx: sequence length {T} is longer than block_size "
                             f"{self.config.block_size}; crop the input to at most block_size tokens")

    @torch.no_grad()
    def attention_weights(self, idx):
        """Per layer, the attention weights (B, n_head, T, T) on input ``idx`` (for heat maps)."""
        checks.token_ids(idx, "idx", self.config.vocab_size)
        T = idx.shape[1]
        self._check_length(T)
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(T, device=idx.device))
        maps = []
        for block in self.transformer.h:
            maps.append(block.attn.weights(block.ln_1(x)))
            x = block(x)
        return maps

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
        """Append ``max_new_tokens`` sampled tokens to ``idx`` (B, T) and return the longer tensor.

        Each step reads at most the last ``block_size`` tokens, divides the logits
        by ``temperature`` (> 0; lower is more conservative), optionally keeps only
        the ``top_k`` most likely tokens, and samples from the softmax with
        ``generator`` (a ``torch.Generator``, for repeatable samples).
        """
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
        if not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be None or an int >= 1, got {top_k!r}")
        checks.token_ids(idx, "idx", self.config.vocab_size)
        checks.generator(generator)
        was_training = self.training
        self.eval()
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -self.config.block_size:])  # crop the context to block_size
            logits = logits[:, -1, :] / temperature
            if top_k is not None:
                kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1, generator=generator)
            idx = torch.cat((idx, idx_next), dim=1)
        self.train(was_training)
        return idx

    def configure_optimizer(self, weight_decay=0.1, lr=3e-4, betas=(0.9, 0.95)):
        """AdamW that decays only the 2-D weights (matrices, embeddings), not biases or LayerNorm gains."""
        if not isinstance(weight_decay, (int, float)) or weight_decay < 0:
            raise ValueError(f"weight_decay must be a number >= 0, got {weight_decay!r}")
        if not isinstance(lr, (int, float)) or not lr > 0:
            raise ValueError(f"lr must be a number > 0, got {lr!r}")
        if not isinstance(betas, (tuple, list)) or len(betas) != 2 or not all(
                isinstance(b, (int, float)) and not isinstance(b, bool) and 0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": float(weight_decay)},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        kwargs = {}
        on_cuda = params[0].is_cuda
        if on_cuda and "fused" in inspect.signature(torch.optim.AdamW).parameters:
            kwargs["fused"] = True      # one kernel for the whole update on a GPU
        elif "foreach" in inspect.signature(torch.optim.AdamW).parameters:
            kwargs["foreach"] = True    # batched tensor ops on the CPU
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), **kwargs)


def param_count_formula(config: GPTConfig, non_embedding: bool = False) -> int:
    """The exact number of parameters of ``GPT(config)``, by formula.

    With ``C = n_embd``, ``V = vocab_size``, ``T = block_size``, ``L = n_layer``:
    embeddings ``V*C + T*C`` (the output layer is tied, so it adds nothing);
    each block ``12*C**2`` weights (``3C**2`` for q,k,v, ``C**2`` output
    projection, ``8C**2`` for the 4x MLP) plus ``13*C`` biases and LayerNorm
    parameters (``2*C`` if ``bias=False``: only the two LayerNorm gains);
    the final LayerNorm ``2*C`` (``C``).
    """
    checks.instance(config, GPTConfig, "config")
    C, V, T, L = config.n_embd, config.vocab_size, config.block_size, config.n_layer
    per_block = 12 * C * C + (13 * C if config.bias else 2 * C)
    final_ln = 2 * C if config.bias else C
    embeddings = 0 if checks.flag(non_embedding, "non_embedding") else V * C + T * C
    return embeddings + L * per_block + final_ln


def save_checkpoint(model: GPT, path, **metadata) -> None:
    """Save a GPT's weights and config to a ``.safetensors`` file (extra ``metadata``: strings)."""
    from safetensors.torch import save_model

    checks.instance(model, GPT, "model", "utils.gpt.GPT")
    path = checks.new_file(path, "path")
    if "config" in metadata:
        raise ValueError("metadata: the key 'config' is reserved for the model's GPTConfig")
    meta = {"config": json.dumps(asdict(model.config))}
    meta.update({str(k): str(v) for k, v in metadata.items()})
    save_model(model, str(path), metadata=meta)


def load_checkpoint(path, device="cpu") -> GPT:
    """Rebuild the GPT saved by :func:`save_checkpoint` (config from the file's metadata).

    Only a safetensors file is read (never a pickle); a file without the config, or whose
    tensors do not fit the config, raises ValueError naming the file."""
    from safetensors.torch import load_model

    device = checks.device(device)
    metadata, shapes = checks.safetensors_file(path, "path")
    if "config" not in metadata:
        raise ValueError(f"path: {path} has no 'config' metadata: not a checkpoint written by "
                         "utils.gpt.save_checkpoint")
    try:
        config = GPTConfig(**json.loads(metadata["config"]))
    except (TypeError, ValueError) as e:
        raise ValueError(f"path: {path}: its config metadata is not a GPTConfig ({e})") from None
    model = GPT(config)
    checks.tensors_match(model, shapes, f"path: {path}", f"its config {config}")
    load_model(model, str(path), device=str(device))
    return model.to(device)
