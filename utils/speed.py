"""How fast training runs, against what the machine can do (chapter 5, ``benchmarks/train_speed.py``).

* :func:`model_flops_per_token` -- the matrix-product FLOPs of one training token (forward and
  backward), the count of chapter 5's exercise on the compute of one token:
  ``6 * (12 * L * C**2 + V * C) + 12 * L * T * C``, i.e. 6 FLOPs per weight of the blocks' four
  matrices and of the output layer, plus attention's two products over the full ``T x T`` matrix;
* :func:`matmul_flops_per_s` -- a roof measured on the machine: the FLOP/s of a large matrix
  product on the threads PyTorch uses now (not the chip's peak), to divide achieved FLOP/s by;
* :func:`bf16_matmul_supported` -- whether oneDNN reports bfloat16 support on this CPU, the
  condition for trying bf16 autocast on a CPU;
* :func:`compiled` -- the model through ``torch.compile`` (inductor), or, where compiling is not
  possible (no C compiler, an unsupported platform), the eager model with one clear message.
"""
from __future__ import annotations

import time
import warnings

import torch

from utils import checks
from utils.gpt import GPT, GPTConfig

__all__ = ["model_flops_per_token", "matmul_flops_per_s", "bf16_matmul_supported", "compiled"]


def model_flops_per_token(config: GPTConfig) -> int:
    """Matrix-product FLOPs of one training token (forward + backward = 3 x forward) of ``config``.

    A multiply and an add are 2 FLOPs.  Counted: the four weight matrices of every block
    (``3C^2 + C^2 + 4C^2 + 4C^2`` multiply-adds per token), the output layer (``VC``) and
    attention's scores and weighted sum over the full ``T x T`` matrix (``2TC`` per layer, the
    causal half not subtracted, as in the usual count).  Not counted: embeddings, biases,
    LayerNorm, GELU, softmax and the optimizer.
    """
    checks.instance(config, GPTConfig, "config", "utils.gpt.GPTConfig")
    L, C, T, V = config.n_layer, config.n_embd, config.block_size, config.vocab_size
    forward = 2 * (12 * L * C * C + V * C) + 2 * 2 * L * T * C
    return 3 * forward


def matmul_flops_per_s(n: int = 1024, dtype=torch.float32, seconds: float = 0.5) -> float:
    """FLOP/s of an ``n x n`` by ``n x n`` matrix product on the CPU, best of repeated timings
    over about ``seconds`` (after one warm-up product), on ``torch.get_num_threads()`` threads."""
    n = checks.integer(n, "n", 16, 16384)
    if dtype not in (torch.float32, torch.bfloat16, torch.float64):
        raise ValueError(f"dtype must be torch.float32, torch.bfloat16 or torch.float64, got {dtype!r}")
    seconds = checks.number(seconds, "seconds", 0.01, 600)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(dtype)
    b = torch.randn(n, n, generator=g).to(dtype)
    torch.mm(a, b)
    best, start = float("inf"), time.perf_counter()
    while time.perf_counter() - start < seconds or best == float("inf"):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best


def bf16_matmul_supported() -> bool:
    """True where oneDNN reports bfloat16 support on this CPU (``torch.ops.mkldnn._is_mkldnn_bf16_supported``)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


_NOT_POSSIBLE = ("torch.compile is not possible here ({error}); training continues with the eager "
                 "model, which gives the same results, only slower")


class _CompiledOrEager:
    """Calls the compiled model; if the first call fails to compile, warns once and stays eager."""

    def __init__(self, model, **options):
        self.model, self.eager = torch.compile(model, **options), model
        self.tried = False

    def __call__(self, *args, **kwargs):
        if self.tried:
            return self.model(*args, **kwargs)
        self.tried = True
        try:
            return self.model(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - any compiler failure falls back to eager
            self.model = self.eager
            first_line = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            warnings.warn(_NOT_POSSIBLE.format(error=f"{type(e).__name__}: {first_line}"), RuntimeWarning,
                          stacklevel=2)
            return self.model(*args, **kwargs)


def compiled(model: GPT, mode: str | None = None):
    """``model`` compiled with ``torch.compile`` (inductor).

    Compiling happens on the first call (tens of seconds on a CPU: count it in any timing);
    compiling the same model again reuses the compiled code.
    Where it fails, a ``RuntimeWarning`` says so once and the eager model is used; the
    results are the same up to floating-point rounding.  ``mode`` is passed to
    ``torch.compile`` (``None``, ``"default"``, ``"max-autotune-no-cudagraphs"`` ...).
    """
    checks.instance(model, GPT, "model", "utils.gpt.GPT")
    allowed = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
    if mode not in allowed:
        raise ValueError(f"mode must be one of {allowed}, got {mode!r}")
    return _CompiledOrEager(model, mode=mode)
