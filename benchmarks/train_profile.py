"""Where one eager training step of the book's GPT spends its time, from ``torch.profiler`` (chapter 5).

    python benchmarks/train_profile.py                 # the `book` preset and the reference shape, 2 threads
    python benchmarks/train_profile.py --steps 50 --threads 1

Profiles ``--steps`` training steps (after ten unprofiled ones) and sums the *self* time of every
operator (its time minus that of the operators it calls, so nothing is counted twice) into:

- matrix products: ``aten::mm``, ``addmm``, ``bmm`` (the linear layers, forward and backward);
- attention: the fused ``scaled_dot_product_attention`` kernels, forward and backward;
- LayerNorm, GELU and other element-wise work: every other operator of the forward and backward
  passes (normalisation, the tanh GELU, residual additions, copies and views, the embedding's
  gradient, the loss);
- optimizer and clipping: the operators inside ``AdamW.step`` and the gradient-norm clipping;
- Python and framework overhead: the rest of the step's wall time (the Python of the model's
  ``forward``, the autograd engine, dispatch between operators, fetching the batch, and the
  profiler's own cost: the script also times the same steps without it).

Self times are measured on the thread that dispatches the operators; the work of PyTorch's
intra-op threads happens inside them, so the five rows add up to the step's wall time.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile, record_function  # noqa: E402

from utils.data import get_batch  # noqa: E402
from utils.train import PRESETS, build_model, encode_splits  # noqa: E402

ROWS = ("matrix products", "attention", "LayerNorm, GELU, other element-wise", "optimizer and clipping",
        "Python and framework overhead")
MATMUL = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}


def category(name: str, phase: str) -> str | None:
    """The row an operator's self time goes to (None: not an operator, counted as overhead)."""
    if not name.startswith("aten::") or phase == "batch":
        return None
    if phase == "update":
        return "optimizer and clipping"
    if name in MATMUL:
        return "matrix products"
    if "scaled_dot_product" in name or "flash_attention" in name:
        return "attention"
    return "LayerNorm, GELU, other element-wise"


def profile_steps(cfg, train_ids, vocab_size, steps=30):
    """Per-step milliseconds of each row and the step's wall time over ``steps`` profiled steps,
    and the wall time of as many steps without the profiler."""
    model = build_model(cfg, vocab_size)
    opt = model.configure_optimizer(lr=cfg.lr)
    gen = torch.Generator().manual_seed(0)

    def step():
        with record_function("## batch"):
            x, y = get_batch(train_ids, cfg.block_size, cfg.batch_size, generator=gen)
        with record_function("## passes"):
            _, loss = model(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
        with record_function("## update"):
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()

    for _ in range(10):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    plain_ms = 1000 * (time.perf_counter() - t0) / steps
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        wall = time.perf_counter() - t0
    ms = defaultdict(float)
    for event in prof.events():
        if event.name.startswith("## "):
            continue
        phase, parent = "passes", event.cpu_parent
        while parent is not None:
            if parent.name.startswith("## "):
                phase = parent.name[3:]
                break
            parent = parent.cpu_parent
        row = category(event.name, phase)
        if row is not None:
            ms[row] += event.self_cpu_time_total / 1000 / steps
    step_ms = 1000 * wall / steps
    ms["Python and framework overhead"] = step_ms - sum(ms[r] for r in ROWS[:-1])
    return ms, step_ms, plain_ms


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=30)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    tokenizer, train_ids, _ = encode_splits()
    book = PRESETS["book"]
    shapes = {"book preset (3 x 96, batch 16)": book,
              "reference (4 x 128, batch 12)": replace(book, n_layer=4, n_head=4, n_embd=128, batch_size=12)}
    print(f"torch {torch.__version__}, {args.threads} threads, {args.steps} profiled steps each, "
          f"load average {os.getloadavg()[0]:.1f}")
    results = {name: profile_steps(cfg, train_ids, tokenizer.vocab_size, args.steps) for name, cfg in shapes.items()}
    names = list(results)
    print(f"{'ms per step':<38}" + "".join(f"{n:>32}" for n in names))
    for row in ROWS:
        cells = "".join(f"{results[n][0][row]:>22.1f} ({results[n][0][row] / results[n][1]:>5.1%})" for n in names)
        print(f"{row:<38}{cells}")
    print(f"{'the whole step (wall time)':<38}" + "".join(f"{results[n][1]:>22.1f}         " for n in names))
    print(f"{'the same steps without the profiler':<38}" + "".join(f"{results[n][2]:>22.1f}         " for n in names))


if __name__ == "__main__":
    main()
