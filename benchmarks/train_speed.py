"""Training speed on the CPU against what the machine can do, eager and compiled (chapter 5).

    python benchmarks/train_speed.py                  # all three parts, 2 threads (about 10 minutes)
    python benchmarks/train_speed.py --parts shape    # only the interleaved comparison
    python benchmarks/train_speed.py --threads 1 --points 30 60 90 120

1. **The machine's roof**: the FLOP/s of a 1024 x 1024 matrix product on the same threads, in
   the same run (float32, and bfloat16 where oneDNN supports it): a measured roof, not the
   chip's peak.
2. **One shape, interleaved** (``shape``): the 4-layer, 4-head, 128-wide GPT, block 64, batch 12
   (the shape of the well-known single-file GPT's CPU example), trained eager (the book's loop:
   foreach AdamW), eager with the fused AdamW, compiled with ``torch.compile`` (inductor), and
   compiled with bf16 autocast where the CPU multiplies bf16 natively.  The variants take turns
   (ten steps each, five rounds) so that a change in the machine's load hits all alike; each
   prints its median ms per step, tokens/s, the model FLOPs per token (``utils.speed.
   model_flops_per_token``: ``6 (12 L C^2 + V C) + 12 L T C``), the achieved FLOP/s, the
   model-FLOPs utilisation against the float32 roof, and its compile time (the first step's
   time beyond a median step).
3. **End to end** (``book``): the ``book`` preset (chapter 5's 2-minute run: 3 layers, 96 wide,
   block 64, batch 16, 2,600 steps) trained eager (the book's loop) and then compiled with the
   fused AdamW from a cold compile cache; the validation loss on the held-out plays (20 fixed
   batches; evaluation not counted) is printed at the first chunk of ten steps to pass each
   point of *total* wall time, compile included (``after s``: the point; ``wall s``: when it was
   measured), and at the end the loss on every held-out token.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def cold_compile_cache():
    """A new, empty inductor cache: compile as on a reader's first run (a run's cache on disk makes
    later runs compile faster)."""
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-")


cold_compile_cache()

import torch  # noqa: E402

from utils import speed  # noqa: E402
from utils.data import get_batch  # noqa: E402
from utils.train import PRESETS, build_model, encode_splits, estimate_loss, evaluate, train  # noqa: E402

#: The single-file GPT's CPU example: 4 layers, 4 heads, 128 wide, block 64, batch 12.
REFERENCE = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12)


def time_steps(cfg, train_ids, vocab_size, steps=30, warmup=5):
    """Median ms per eager training step (forward, backward, clipping, AdamW) of ``cfg``'s model."""
    model = build_model(cfg, vocab_size)
    opt = model.configure_optimizer(lr=cfg.lr)
    gen = torch.Generator().manual_seed(0)
    times = []
    for i in range(steps + warmup):
        x, y = get_batch(train_ids, cfg.block_size, cfg.batch_size, generator=gen)
        t0 = time.perf_counter()
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def adamw(model, cfg, fused: bool):
    """The book's AdamW (decay on matrices only), as the multi-tensor (foreach) or the fused kernel."""
    groups = [{"params": g["params"], "weight_decay": g["weight_decay"]}
              for g in model.configure_optimizer(weight_decay=cfg.weight_decay).param_groups]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
                             **({"fused": True} if fused else {"foreach": True}))


def variants(bf16: bool):
    """(name, compiled, fused AdamW, bf16 autocast) of the interleaved comparison."""
    out = [("eager (the book's loop)", False, False, False), ("eager, fused AdamW", False, True, False),
           ("compiled", True, False, False), ("compiled, fused AdamW", True, True, False)]
    if bf16:
        out.append(("compiled, fused AdamW, bf16", True, True, True))
    return out


def compare(cfg, train_ids, vocab_size, rounds=5, steps=10):
    """Train every variant's own model (same initialisation) in turns; one row of figures each."""
    runs = []
    for name, compile_it, fused, bf16 in variants(speed.bf16_matmul_supported()):
        model = build_model(cfg, vocab_size)
        opt = adamw(model, cfg, fused)
        runs.append(dict(name=name, model=model, opt=opt, forward=speed.compiled(model) if compile_it else model,
                         bf16=bf16, times=[], gen=torch.Generator().manual_seed(0)))

    def step(run):
        x, y = get_batch(train_ids, cfg.block_size, cfg.batch_size, generator=run["gen"])
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16) if run["bf16"] else nullcontext():
            _, loss = run["forward"](x, y)
        run["opt"].zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(run["model"].parameters(), 1.0)
        run["opt"].step()
        return time.perf_counter() - t0

    for run in runs:
        run["first"] = step(run)                     # compiles, for the compiled variants
    for _ in range(rounds):
        for run in runs:
            run["times"] += [step(run) for _ in range(steps)]
    rows = []
    for run in runs:
        s = statistics.median(run["times"])
        rows.append(dict(name=run["name"], ms=1000 * s, tokens_s=cfg.batch_size * cfg.block_size / s,
                         compile_s=run["first"] - s, compiled=run["forward"] is not run["model"], bf16=run["bf16"]))
    return rows


def print_comparison(cfg, rows, vocab_size, roof):
    flops = speed.model_flops_per_token(cfg.model_config(vocab_size))
    base = rows[0]["tokens_s"]
    print(f"\n2. one shape, interleaved: {cfg.n_layer} layers, {cfg.n_head} heads, {cfg.n_embd} wide, block "
          f"{cfg.block_size}, batch {cfg.batch_size}; {flops:,} model FLOPs per token")
    print(f"{'variant':<30} {'ms/step':>8} {'tokens/s':>9} {'GFLOP/s':>8} {'MFU':>6} {'x eager':>8} {'compile s':>10}")
    cold = {}                                      # graph (bf16 or not) -> its compile time
    for r in rows:
        achieved = r["tokens_s"] * flops
        if not r["compiled"]:
            compile_s = "-"
        elif r["bf16"] in cold:                 # a second model of the same graph reuses its compiled code
            compile_s = "(reused)"
        else:
            compile_s, cold[r["bf16"]] = f"{r['compile_s']:.1f}", r["compile_s"]
        print(f"{r['name']:<30} {r['ms']:>8.1f} {r['tokens_s']:>9,.0f} {achieved / 1e9:>8.1f} "
              f"{achieved / roof:>6.1%} {r['tokens_s'] / base:>8.2f} {compile_s:>10}")
    best = max((r for r in rows if r["compiled"]), key=lambda r: r["tokens_s"])
    gain = 1 - base / best["tokens_s"]             # the share of eager time the compiled path saves
    if gain > 0:
        t = cold[best["bf16"]]
        print(f"'{best['name']}' saves {gain:.0%} of each eager step, so its compile of {t:.0f} s pays for "
              f"itself in runs longer than about {t / gain:.0f} s of eager training")
    else:
        print("no compiled variant is faster than eager here")


def run_preset(cfg, train_ids, val_ids, vocab_size, points, fused=False, chunk=10):
    """Train ``cfg`` once; print step, tokens/s and validation loss at points of total wall time."""
    model = build_model(cfg, vocab_size)
    opt = adamw(model, cfg, fused)
    gen = torch.Generator().manual_seed(cfg.seed)
    history, points = None, sorted(points)
    print(f"{'after s':>8} {'wall s':>8} {'step':>6} {'tokens/s':>9} {'val loss':>9}")
    while True:
        left = cfg.max_steps - (history["step"] if history else 0)
        if left <= 0:
            break
        history = train(model, cfg, train_ids, optimizer=opt, history=history, generator=gen,
                        steps=min(chunk, left), progress=False)
        t, step = history["train_time_s"], history["step"]
        while points and t >= points[0]:
            val = estimate_loss(model, val_ids, batch_size=64, iters=20, seed=2)
            print(f"{points.pop(0):>8.0f} {t:>8.1f} {step:>6} {history['tokens'] / t:>9,.0f} {val:>9.4f}", flush=True)
    t = history["train_time_s"]
    val = estimate_loss(model, val_ids, batch_size=64, iters=20, seed=2)
    print(f"{'end':>8} {t:>8.1f} {history['step']:>6} {history['tokens'] / t:>9,.0f} {val:>9.4f}")
    full = evaluate(model, val_ids)
    print(f"end of schedule: {history['step']} steps in {t:.1f} s, compile included; validation loss on all "
          f"{len(val_ids) - 1:,} held-out tokens {full:.4f} (perplexity {math.exp(full):.2f})")
    return full, t


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", nargs="+", default=["shape", "book"], choices=["shape", "book"])
    p.add_argument("--preset", default="book", choices=sorted(PRESETS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--points", type=float, nargs="+", default=[30, 60, 90, 120],
                   help="total seconds at which to report the validation loss (default 30 60 90 120)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    tokenizer, train_ids, val_ids = encode_splits()
    V = tokenizer.vocab_size
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} CPUs visible, "
          f"load average {load:.1f} at start")
    roof = speed.matmul_flops_per_s(1024)
    line = f"1. roof: a 1024 x 1024 matrix product at {roof / 1e9:,.0f} GFLOP/s (float32)"
    if speed.bf16_matmul_supported():
        line += f", {speed.matmul_flops_per_s(1024, torch.bfloat16) / 1e9:,.0f} GFLOP/s (bfloat16)"
    print(line + " on these threads")
    cfg = replace(PRESETS[args.preset], threads=args.threads)
    if "shape" in args.parts:
        ref = replace(cfg, **REFERENCE, lr=1e-3)
        print_comparison(ref, compare(ref, train_ids, V), V, roof)
    if "book" in args.parts:
        cfg = replace(cfg, eval_interval=cfg.max_steps)            # no evaluation inside the loop
        print(f"\n3. end to end: preset {args.preset!r}, {cfg.n_layer} layers, {cfg.n_head} heads, {cfg.n_embd} wide, "
              f"block {cfg.block_size}, batch {cfg.batch_size}, {cfg.max_steps} steps, lr {cfg.lr:g} -> {cfg.min_lr:g}")
        results = {}
        for compile_it in (False, True):
            cold_compile_cache()
            print(f"-- {'compiled, fused AdamW' if compile_it else 'eager (the book loop)'}")
            results[compile_it] = run_preset(replace(cfg, compile=compile_it), train_ids, val_ids, V, args.points,
                                             fused=compile_it)
        (eager_loss, eager_t), (fast_loss, fast_t) = results[False], results[True]
        print(f"compiled against eager: {eager_t / fast_t:.2f}x the speed end to end, validation loss "
              f"{fast_loss - eager_loss:+.4f}; load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
