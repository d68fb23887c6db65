"""Training diagnostics for chapter 5: does the schedule matter, and does clipping fire?

One concern: measure, on the ``book`` preset shortened, the two claims of chapter 5 --
that warm-up and cosine decay let a short run use a high learning rate, and that
clipping the global gradient norm guards against rare huge gradients.  The runs
(:func:`plan`), all with the book's model, batch and data:

* ``cosine``: warm-up then cosine decay to ``min_lr`` (the book's schedule), clipping at 1.0;
* ``constant``: the same peak from step 0, no warm-up, no decay;
* ``warmup_constant``: the warm-up, then the peak to the end (no decay);
* ``cosine_noclip``: the book's schedule with clipping off (``grad_clip=0``);
  these four at several seeds (each seed fixes the initial weights and the batch order, so
  runs of one seed differ only in what is compared: differences are paired by seed);
* ``sweep_lr*``: the book's schedule at other peaks (``min_lr`` keeps the book's ratio to the peak);
* ``high_constant_lr*``: a constant rate at the high peaks, against the sweep at those peaks.

Each run records its final loss on a fixed stretch of held-out text (the first
``val_chars`` predicted characters of the validation plays, :func:`utils.train.evaluate`),
how often the pre-clip gradient norm exceeded the clipping threshold
(:func:`clip_fraction`), the largest norm, subsampled loss and norm curves, and seconds.
The results are deterministic on one CPU thread apart from the timings.  The stored file
``data/experiments/diagnostics.json`` is made by::

    python -m utils.diagnostics --out data/experiments/diagnostics.json
"""
from __future__ import annotations

import argparse
import json
import math
import numbers
import statistics
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from utils import checks
from utils import train as tr

__all__ = ["DEFAULTS", "clip_fraction", "max_rise", "plan", "run_one", "summarise", "run_experiment",
           "main"]

#: The stored experiment's settings (``python -m utils.diagnostics`` without options).
DEFAULTS = {"steps": 300, "warmup_steps": 100, "seeds": [1337, 1338, 1339],
            "peaks": [1e-3, 3e-3, 1e-2, 3e-2], "high_peaks": [1e-2, 3e-2], "val_chars": 100_000,
            "every": 5}
#: The groups run at every seed (the rest at the first seed only).
SEEDED_GROUPS = ("cosine", "constant", "warmup_constant", "cosine_noclip")


def _numbers(values, name: str) -> list:
    """``values`` as a list of floats (NaN and inf allowed: a diverged run) or None (not recorded)."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise checks.ArgumentTypeError(f"{name} must be a list of numbers, got {type(values).__name__}")
    out = []
    for i, v in enumerate(values):
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real)):
            raise checks.ArgumentTypeError(f"{name}[{i}] must be a number or None, got {v!r}")
        out.append(None if v is None else float(v))
    return out


def clip_fraction(grad_norms, threshold: float) -> float:
    """Fraction of steps whose pre-clip global gradient norm exceeded ``threshold`` (the steps
    where clipping at ``threshold`` fires); steps recorded as None are left out, a non-finite
    norm (a diverged step) counts as exceeding."""
    norms = [n for n in _numbers(grad_norms, "grad_norms") if n is not None]
    threshold = checks.number(threshold, "threshold", 0, low_open=True)
    if not norms:
        raise ValueError("grad_norms must hold at least one recorded norm")
    return sum(not n <= threshold for n in norms) / len(norms)


def max_rise(losses, skip: int = 0) -> float:
    """The largest rise of the loss above its running minimum after step ``skip`` (nats): a spike
    or a divergence shows as a large value (inf once the loss is not finite), a smooth descent as
    a value near 0.  Steps recorded as None are left out."""
    losses = [x for x in _numbers(losses, "losses") if x is not None]
    skip = checks.integer(skip, "skip", 0, max(0, len(losses) - 1))
    if not losses:
        raise ValueError("losses must not be empty")
    best, rise = math.inf, 0.0
    for i, loss in enumerate(losses):
        if not math.isfinite(loss):
            return math.inf
        if i >= skip and best < math.inf:
            rise = max(rise, loss - best)
        best = min(best, loss)
    return rise


def plan(base: tr.TrainConfig, steps: int, warmup_steps: int, seeds, peaks, high_peaks) -> dict:
    """``{run name: (group, TrainConfig)}`` for the experiment described in the module docstring.

    ``base`` gives the model, batch, peak rate, floor ratio and clipping; every run has
    ``steps`` steps, evaluates only at the end, and ``threads=1``.
    """
    checks.instance(base, tr.TrainConfig, "base", "utils.train.TrainConfig")
    steps = checks.integer(steps, "steps", 1)
    warmup_steps = checks.integer(warmup_steps, "warmup_steps", 0, steps)
    seeds = [checks.integer(s, f"seeds[{i}]", 0) for i, s in enumerate(_list(seeds, "seeds"))]
    peaks = [checks.number(v, f"peaks[{i}]", 0, low_open=True) for i, v in enumerate(_list(peaks, "peaks"))]
    high = [checks.number(v, f"high_peaks[{i}]", 0, low_open=True)
            for i, v in enumerate(_list(high_peaks, "high_peaks", nonempty=False))]
    if base.grad_clip <= 0:
        raise ValueError("base: grad_clip must be > 0 (the clipping-off runs switch it off)")
    ratio = base.min_lr / base.lr
    common = replace(base, max_steps=steps, warmup_steps=warmup_steps, eval_interval=steps, eval_iters=1,
                     eval_batch_size=base.batch_size, threads=1)
    schedules = {"cosine": {}, "constant": {"warmup_steps": 0, "min_lr": base.lr},
                 "warmup_constant": {"min_lr": base.lr}, "cosine_noclip": {"grad_clip": 0.0}}
    out = {}
    for group, change in schedules.items():
        for seed in seeds:
            out[f"{group}/seed{seed}"] = (group, replace(common, seed=seed, **change))
    for peak in peaks:
        if peak != base.lr:
            out[f"sweep_lr{peak:g}/seed{seeds[0]}"] = (f"sweep_lr{peak:g}", replace(
                common, seed=seeds[0], lr=peak, min_lr=peak * ratio))
    for peak in high:
        out[f"high_constant_lr{peak:g}/seed{seeds[0]}"] = (f"high_constant_lr{peak:g}", replace(
            common, seed=seeds[0], lr=peak, min_lr=peak, warmup_steps=0))
    return out


def _list(values, name, nonempty=True):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise checks.ArgumentTypeError(f"{name} must be a list, got {type(values).__name__}")
    values = list(values)
    if nonempty and not values:
        raise ValueError(f"{name} must not be empty")
    return values


def run_one(cfg: tr.TrainConfig, train_ids, val_ids, vocab_size: int, every: int = 5,
            threshold: float = 1.0) -> dict:
    """Train a fresh model of ``cfg`` on ``train_ids``; the record of the run.

    ``val_loss``: :func:`utils.train.evaluate` on all of ``val_ids``; ``clip_fraction`` and
    ``clipped_steps``: steps whose pre-clip norm exceeded ``threshold`` (whether or not the
    run clips); ``max_grad_norm``; ``max_rise`` of the train loss after the first 20 steps;
    ``curves``: every ``every``-th step's train loss, norm and rate; ``seconds``: wall time
    of training and evaluation.
    """
    checks.instance(cfg, tr.TrainConfig, "cfg", "utils.train.TrainConfig")
    vocab_size = checks.integer(vocab_size, "vocab_size", 1)
    every = checks.integer(every, "every", 1)
    threshold = checks.number(threshold, "threshold", 0, low_open=True)
    train_ids = checks.id_sequence(train_ids, "train_ids", vocab_size, min_len=cfg.block_size + 1)
    val_ids = checks.id_sequence(val_ids, "val_ids", vocab_size, min_len=2)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    model = tr.build_model(cfg, vocab_size)
    h = tr.train(model, cfg, train_ids, progress=False)
    val_loss = tr.evaluate(model, val_ids)
    seconds = time.perf_counter() - t0
    norms, losses = h["grad_norm"], h["train_loss"]
    idx = list(range(every - 1, len(losses), every))
    finite = [n for n in norms if math.isfinite(n)]
    return {"val_loss": _round(val_loss), "final_train_loss": _round(losses[-1]),
            "clip_fraction": clip_fraction(norms, threshold), "clipped_steps": sum(not n <= threshold for n in norms),
            "steps": len(norms), "threshold": threshold, "max_grad_norm": _round(max(finite) if finite else math.nan),
            "median_grad_norm": _round(statistics.median(finite) if finite else math.nan),
            "max_rise": _round(max_rise(losses, min(20, len(losses) - 1))),
            "finite": all(math.isfinite(x) for x in losses) and math.isfinite(val_loss),
            "seconds": round(seconds, 1), "train_seconds": round(h["train_time_s"], 1),
            "curves": {"step": [h["steps"][i] for i in idx], "train_loss": [_round(losses[i]) for i in idx],
                       "grad_norm": [_round(norms[i]) for i in idx], "lr": [h["lr"][i] for i in idx]}}


def _round(x, digits=4):
    return round(float(x), digits) if math.isfinite(x) else None   # JSON has no NaN / inf


def _stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return {"n": 0, "mean": None, "sd": None}
    sd = statistics.stdev(values) if len(values) > 1 else None
    return {"n": len(values), "mean": round(statistics.fmean(values), 4),
            "sd": None if sd is None else round(sd, 4), "min": min(values), "max": max(values)}


def summarise(runs: dict, baseline: str = "cosine") -> dict:
    """Per group (the run name before ``/``): mean, sample sd, min and max over its runs of the
    final validation loss, clip fraction, largest norm and seconds; and, for each group run at
    the same seeds as ``baseline``, the paired differences of the validation loss
    (group minus baseline, seed by seed)."""
    if not isinstance(runs, dict) or not all(isinstance(r, dict) and "val_loss" in r for r in runs.values()):
        raise checks.ArgumentTypeError("runs must be a dict {name: record of run_one}")
    baseline = checks.string(baseline, "baseline", nonempty=True)
    groups: dict[str, dict] = {}
    for name, record in runs.items():
        group, _, seed = name.partition("/")
        groups.setdefault(group, {})[seed] = record
    if baseline not in groups:
        raise ValueError(f"baseline: no group {baseline!r} in runs (groups: {sorted(groups)})")
    out = {}
    for group, by_seed in groups.items():
        row = {key: _stats([r[key] for r in by_seed.values()])
               for key in ("val_loss", "clip_fraction", "max_grad_norm", "max_rise", "seconds")}
        row["seeds"] = sorted(by_seed)
        if group != baseline and set(by_seed) == set(groups[baseline]) and len(by_seed) > 1:
            row["val_loss_minus_" + baseline] = _stats(
                [None if by_seed[s]["val_loss"] is None or groups[baseline][s]["val_loss"] is None
                 else round(by_seed[s]["val_loss"] - groups[baseline][s]["val_loss"], 4) for s in sorted(by_seed)])
        out[group] = row
    return out


def run_experiment(steps: int = DEFAULTS["steps"], warmup_steps: int = DEFAULTS["warmup_steps"],
                   seeds=tuple(DEFAULTS["seeds"]), peaks=tuple(DEFAULTS["peaks"]),
                   high_peaks=tuple(DEFAULTS["high_peaks"]), val_chars: int = DEFAULTS["val_chars"],
                   every: int = DEFAULTS["every"], base: tr.TrainConfig | None = None, progress: bool = True) -> dict:
    """Every run of :func:`plan` on the book's corpus; the JSON-ready record (configuration,
    runs, :func:`summarise`).  ``base`` defaults to ``utils.train.PRESETS["book"]``."""
    base = tr.PRESETS["book"] if base is None else checks.instance(base, tr.TrainConfig, "base",
                                                                   "utils.train.TrainConfig")
    runs_plan = plan(base, steps, warmup_steps, seeds, peaks, high_peaks)
    val_chars = checks.integer(val_chars, "val_chars", 1)
    every = checks.integer(every, "every", 1)
    progress = checks.flag(progress, "progress")
    torch.set_num_threads(1)
    tokenizer, train_ids, val_ids = tr.encode_splits()
    if val_chars + 1 > len(val_ids):
        raise ValueError(f"val_chars must be at most {len(val_ids) - 1} (the validation text), got {val_chars}")
    val_ids = val_ids[:val_chars + 1]                     # val_chars predicted characters
    t0 = time.perf_counter()
    runs = {}
    for name, (group, cfg) in runs_plan.items():
        runs[name] = {"group": group, "config": asdict(cfg),
                      **run_one(cfg, train_ids, val_ids, tokenizer.vocab_size, every, base.grad_clip)}
        if progress:
            r = runs[name]
            print(f"{name:32} val {r['val_loss']}  clip {r['clip_fraction']:.3f}  max norm {r['max_grad_norm']}"
                  f"  rise {r['max_rise']}  {r['seconds']} s", flush=True)
    return {"settings": {"steps": steps, "warmup_steps": warmup_steps, "seeds": list(seeds), "peaks": list(peaks),
                         "high_peaks": list(high_peaks), "val_chars": val_chars, "every": every,
                         "base": asdict(base)},
            "val": f"utils.train.evaluate on the first {val_chars + 1:,} tokens of the validation plays "
                   f"(utils.data.SPLITS['val']): the first {val_chars:,} predicted characters",
            "clip_threshold": base.grad_clip,
            "summary": summarise(runs), "runs": runs,
            "total_seconds": round(time.perf_counter() - t0, 1), "threads": torch.get_num_threads(),
            "torch": torch.__version__}


def main(argv=None) -> dict:
    """``python -m utils.diagnostics --out FILE [--steps N --seeds 1 2 ...]``: run and write the JSON."""
    argv = None if argv is None else checks.strings(argv, "argv", nonempty=False)
    p = argparse.ArgumentParser(prog="python -m utils.diagnostics", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="the JSON file to write")
    p.add_argument("--steps", type=int, default=DEFAULTS["steps"])
    p.add_argument("--warmup-steps", type=int, default=DEFAULTS["warmup_steps"])
    p.add_argument("--seeds", type=int, nargs="+", default=DEFAULTS["seeds"])
    p.add_argument("--peaks", type=float, nargs="+", default=DEFAULTS["peaks"])
    p.add_argument("--high-peaks", type=float, nargs="*", default=DEFAULTS["high_peaks"])
    p.add_argument("--val-chars", type=int, default=DEFAULTS["val_chars"])
    p.add_argument("--every", type=int, default=DEFAULTS["every"], help="curve subsampling (steps)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    out = checks.new_file(Path(args.out), "--out")
    t0 = time.perf_counter()
    record = run_experiment(args.steps, args.warmup_steps, args.seeds, args.peaks, args.high_peaks,
                            args.val_chars, args.every, progress=not args.quiet)
    record = {"command": "python -m utils.diagnostics " + " ".join(sys.argv[1:] if argv is None else argv),
              "wall_seconds": round(time.perf_counter() - t0, 1), **record}
    out.write_text(json.dumps(record, indent=1) + "\n")
    if not args.quiet:
        print(f"wrote {out} ({record['wall_seconds']} s)")
    return record


if __name__ == "__main__":
    main()
