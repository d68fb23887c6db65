"""Training speed of the book's CPU configuration (chapter 5).

    python benchmarks/train_speed.py                 # the `book` preset, 2 threads
    python benchmarks/train_speed.py --threads 1 --points 30 60 90 120

Trains ``utils.train.PRESETS["book"]`` (the model and schedule of chapter 5's
2-minute run: 3 layers, 96 wide, block 64, batch 16, 2,600 steps) and prints, at
fixed points of *training* wall-clock time, the step, tokens per second,
milliseconds per iteration and the validation loss on the held-out plays
(estimated on 20 fixed batches; the evaluation itself is not counted in the
clock).  At the end it prints the loss on every held-out token.

The schedule is defined in steps, so on a slower (or shared) machine the run
takes longer than 120 s and the loss printed at "120 s" is mid-schedule; the
last lines give the time the whole schedule took and the loss it reaches.
``--reference`` first times the shape of the well-known single-file GPT's CPU
example (4 layers, 4 heads, 128 wide, block 64, batch 12) for comparison.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from utils.data import get_batch  # noqa: E402
from utils.train import PRESETS, build_model, encode_splits, estimate_loss, evaluate, train  # noqa: E402


def time_steps(cfg, train_ids, vocab_size, steps=30, warmup=5):
    """Median ms per training step (forward, backward, clipping, AdamW) of ``cfg``'s model."""
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
    times.sort()
    return 1000 * times[len(times) // 2]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="book", choices=sorted(PRESETS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--points", type=float, nargs="+", default=[30, 60, 90, 120],
                   help="training seconds at which to report (default 30 60 90 120)")
    p.add_argument("--chunk", type=int, default=10, help="steps between two clock checks")
    p.add_argument("--reference", action="store_true", help="also time the 4/4/128/64/12 reference shape")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = replace(PRESETS[args.preset], threads=args.threads)
    cfg = replace(cfg, eval_interval=cfg.max_steps)            # no evaluation inside the loop
    tokenizer, train_ids, val_ids = encode_splits()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} CPUs visible, "
          f"load average {load:.1f} at start")
    if args.reference:
        ref = replace(cfg, n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12)
        ms = time_steps(ref, train_ids, tokenizer.vocab_size)
        print(f"reference shape 4/4/128, block 64, batch 12: {ms:.1f} ms/iter, "
              f"{12 * 64 / ms * 1000:,.0f} tokens/s")
    model = build_model(cfg, tokenizer.vocab_size)
    print(f"preset {args.preset!r}: {model.num_params():,} parameters, {cfg.n_layer} layers, {cfg.n_head} heads, "
          f"{cfg.n_embd} wide, block {cfg.block_size}, batch {cfg.batch_size}, {cfg.max_steps} steps, "
          f"lr {cfg.lr:g} -> {cfg.min_lr:g} (warm-up {cfg.warmup_steps}), AdamW foreach, SDPA attention")
    print(f"{'train s':>8} {'step':>6} {'tokens/s':>9} {'ms/iter':>8} {'val loss':>9}")
    opt = model.configure_optimizer(weight_decay=cfg.weight_decay, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    gen = torch.Generator().manual_seed(cfg.seed)
    history, points = None, sorted(args.points)
    last_t, last_step = 0.0, 0
    while True:
        left = cfg.max_steps - (history["step"] if history else 0)
        if left <= 0:
            break
        history = train(model, cfg, train_ids, optimizer=opt, history=history, generator=gen,
                        steps=min(args.chunk, left), progress=False)
        t, step = history["train_time_s"], history["step"]
        while points and t >= points[0]:
            ms = 1000 * (t - last_t) / max(1, step - last_step)
            tok_s = history["tokens"] / t
            val = estimate_loss(model, val_ids, batch_size=64, iters=20, seed=2)
            print(f"{points.pop(0):>8.0f} {step:>6} {tok_s:>9,.0f} {ms:>8.1f} {val:>9.4f}", flush=True)
            last_t, last_step = t, step
    t = history["train_time_s"]
    val = estimate_loss(model, val_ids, batch_size=64, iters=20, seed=2)
    print(f"{t:>8.1f} {history['step']:>6} {history['tokens'] / t:>9,.0f} "
          f"{1000 * t / history['step']:>8.1f} {val:>9.4f}  (end of schedule)")
    full = evaluate(model, val_ids)
    print(f"end of schedule: {history['step']} steps in {t:.1f} s of training; validation loss on all "
          f"{len(val_ids) - 1:,} held-out tokens {full:.4f} (perplexity {math.exp(full):.2f}); "
          f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
