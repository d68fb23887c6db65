"""An isoFLOP scaling experiment for chapter 5: for each compute budget, which model size wins?

One concern: plan, run and analyse a grid of (compute budget, model shape) training runs,
following the isoFLOP method of Hoffmann et al. (2022, "Chinchilla"):

* :func:`plan` -- for each budget ``C`` (FLOPs, counted as ``C = 6 N D``) and each shape
  ``(n_layer, n_embd, n_head)``: ``N`` = all parameters (``GPT.num_params()``, the tied output
  matrix once, as Hoffmann et al. count), also the non-embedding count of Kaplan et al. (2020),
  ``steps = round(C / (6 N tokens_per_step))`` and the tokens ``D`` those steps read;
* :func:`run` -- trains every planned run with :func:`utils.train.train` (the ``book`` preset,
  warm-up ``min(100, steps // 10)``, cosine over the run's own steps, 1 thread) and evaluates it
  with :func:`utils.train.evaluate` on the first ``val_chars`` (100,000) held-out characters;
* :func:`fit_parabola`, :func:`fit_exponent`, :func:`analyse` -- per budget a parabola of loss
  against ``ln N`` through the lowest point and its two neighbours gives ``N_opt(C)`` and the
  loss there (a lowest point at either end of the sizes is flagged ``bracketed: False``); across budgets the line
  ``ln N_opt = a ln C + b`` gives the exponent ``a`` (Chinchilla about 0.5, Kaplan 0.73) and
  ``D/N`` at each optimum;
* a command line that writes everything to one JSON file::

      python -m utils.scaling --out data/experiments/isoflop.json

Runs are seeded (``cfg.seed``), so everything but the timings is deterministic.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from utils import checks

__all__ = ["DEFAULT_BUDGETS", "DEFAULT_SHAPES", "DEFAULT_MAX_STEPS", "plan", "run", "fit_parabola", "fit_exponent",
           "analyse", "main"]

#: Compute budgets (FLOPs, 6ND with total N) and shapes (n_layer, n_embd, n_head) of the stored run.
DEFAULT_BUDGETS = (3e10, 1e11, 3e11, 1e12, 3e12)
DEFAULT_SHAPES = ((1, 16, 4), (1, 32, 4), (2, 48, 4), (2, 64, 4), (3, 96, 4), (4, 128, 4))
#: Runs needing more steps are left out (the smallest shape at the largest budget).
DEFAULT_MAX_STEPS = 30_000
VOCAB_SIZE = 71  # the book's character vocabulary (run uses the tokenizer's)


def _budgets(budgets) -> list[float]:
    if isinstance(budgets, (str, bytes)) or not hasattr(budgets, "__iter__"):
        raise checks.ArgumentTypeError(f"budgets must be a list of numbers (FLOPs), got {type(budgets).__name__}")
    out = [checks.number(c, "budgets", 0, low_open=True) for c in budgets]
    if not out:
        raise ValueError("budgets must not be empty")
    return out


def _shapes(shapes) -> list[tuple[int, int, int]]:
    if isinstance(shapes, (str, bytes)) or not hasattr(shapes, "__iter__"):
        raise checks.ArgumentTypeError(f"shapes must be a list of (n_layer, n_embd, n_head), "
                                       f"got {type(shapes).__name__}")
    out = []
    for s in shapes:
        if isinstance(s, (str, bytes)) or not hasattr(s, "__len__") or len(s) != 3:
            raise checks.ArgumentTypeError(f"shapes must hold (n_layer, n_embd, n_head) triples, got {s!r}")
        L, d, h = (checks.integer(v, "shapes", 1) for v in s)
        if d % h:
            raise ValueError(f"shapes: n_embd={d} must be divisible by n_head={h}")
        out.append((L, d, h))
    if not out:
        raise ValueError("shapes must not be empty")
    return out


def _config(shape, steps: int, base=None):
    from utils.train import PRESETS
    L, d, h = shape
    base = PRESETS["book"] if base is None else base
    return replace(base, n_layer=L, n_embd=d, n_head=h, max_steps=steps, warmup_steps=min(100, steps // 10),
                   threads=1, eval_interval=max(steps, 1))


def plan(budgets=DEFAULT_BUDGETS, shapes=DEFAULT_SHAPES, vocab_size: int = VOCAB_SIZE, base=None) -> list[dict]:
    """One dict per (budget, shape): ``budget``, ``n_layer``, ``n_embd``, ``n_head``, ``n_params``
    (total), ``n_params_non_embedding``, ``steps = round(C / (6 N B T))`` (at least 1),
    ``tokens = steps * B * T`` and ``flops = 6 N tokens``; ``base`` (default: the ``book`` preset)
    gives the batch size ``B`` and block size ``T``."""
    from utils.gpt import GPT
    from utils.train import PRESETS, TrainConfig
    budgets, shapes = _budgets(budgets), _shapes(shapes)
    vocab_size = checks.integer(vocab_size, "vocab_size", 1)
    base = PRESETS["book"] if base is None else checks.instance(base, TrainConfig, "base")
    per_step = base.batch_size * base.block_size
    counts = {}
    for s in shapes:
        model = GPT(_config(s, 1, base).model_config(vocab_size))
        counts[s] = (model.num_params(), model.num_params(non_embedding=True))
    rows = []
    for c in budgets:
        for s in shapes:
            n, n_ne = counts[s]
            steps = max(1, round(c / (6 * n * per_step)))
            rows.append(dict(budget=c, n_layer=s[0], n_embd=s[1], n_head=s[2], n_params=n,
                             n_params_non_embedding=n_ne, steps=steps, tokens=steps * per_step,
                             flops=6 * n * steps * per_step))
    return rows


def _splits(cache={}):
    """The tokenizer and the encoded splits, encoded once per process."""
    if not cache:
        from utils.train import encode_splits
        cache["splits"] = encode_splits()
    return cache["splits"]


def _train_one(shape, steps: int, base, val_chars: int) -> tuple[float, float]:
    """Train one planned run on one thread; returns (validation loss, training seconds)."""
    from utils.train import build_model, evaluate, train
    torch.set_num_threads(1)
    tokenizer, train_ids, val_ids = _splits()
    cfg = _config(shape, steps, base)
    model = build_model(cfg, tokenizer.vocab_size)
    hist = train(model, cfg, train_ids, progress=False)
    return round(evaluate(model, val_ids[:val_chars]), 4), round(hist["train_time_s"], 2)


def run(budgets=DEFAULT_BUDGETS, shapes=DEFAULT_SHAPES, val_chars: int = 100_000, base=None,
        progress: bool = False, max_steps: int | None = None, workers: int = 1) -> dict:
    """Train and evaluate every run of :func:`plan`; returns ``{"config": ..., "runs": [...],
    "skipped": [...]}``, each run the plan's dict plus ``val_loss`` (nats on the first
    ``val_chars`` held-out characters) and ``seconds`` (training time). Runs that would take
    more than ``max_steps`` steps are not trained and are listed in ``skipped``. ``workers``
    processes train runs side by side, one thread each; the losses do not depend on it."""
    from utils.train import PRESETS, TrainConfig
    budgets, shapes = _budgets(budgets), _shapes(shapes)        # checked before the corpus is encoded
    val_chars = checks.integer(val_chars, "val_chars", 2)
    base = PRESETS["book"] if base is None else checks.instance(base, TrainConfig, "base")
    progress = checks.flag(progress, "progress")
    max_steps = None if max_steps is None else checks.integer(max_steps, "max_steps", 1)
    workers = checks.integer(workers, "workers", 1)
    tokenizer, _, val_ids = _splits()
    rows = plan(budgets, shapes, tokenizer.vocab_size, base)
    skipped = [r for r in rows if max_steps is not None and r["steps"] > max_steps]
    rows = [r for r in rows if r not in skipped]
    jobs = [((r["n_layer"], r["n_embd"], r["n_head"]), r["steps"], base, val_chars) for r in rows]

    def record(r, result):
        r["val_loss"], r["seconds"] = result
        if progress:
            print(f"C={r['budget']:.1e} {r['n_layer']}x{r['n_embd']} N={r['n_params']:,} "
                  f"steps={r['steps']} loss={r['val_loss']:.4f} ({r['seconds']:.1f} s)", flush=True)

    if workers == 1:
        for r, job in zip(rows, jobs):
            record(r, _train_one(*job))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            order = sorted(range(len(rows)), key=lambda i: -rows[i]["steps"] * rows[i]["n_params"] ** 0.5)
            futures = {pool.submit(_train_one, *jobs[i]): i for i in order}   # the longest first
            for f in as_completed(futures):
                record(rows[futures[f]], f.result())
    config = dict(vocab_size=tokenizer.vocab_size, base={k: v for k, v in asdict(base).items()}, threads=1,
                  val_chars=val_chars, val_targets=len(val_ids[:val_chars]) - 1, max_steps=max_steps,
                  flops="C = 6 N D, N = total parameters (GPT.num_params())",
                  warmup="min(100, steps // 10), then cosine to min_lr over the run's own steps",
                  torch=torch.__version__)
    return dict(config=config, runs=rows, skipped=[{k: r[k] for k in ("budget", "n_layer", "n_embd", "n_head",
                                                                       "n_params", "steps")} for r in skipped])


def fit_parabola(n_params, losses) -> dict:
    """Least-squares ``loss = a x^2 + b x + c`` with ``x = ln N``: the vertex ``n_opt = exp(-b / 2a)``
    and ``loss_opt``; ``bracketed`` is False when the curve has no minimum (``a <= 0``, then
    ``n_opt`` is the best measured size) or the vertex lies outside the measured sizes."""
    n = checks.float_array(n_params, "n_params", (1,))
    y = checks.float_array(losses, "losses", (1,))
    if len(n) != len(y):
        raise ValueError(f"losses must have one value per n_params ({len(n)}), got {len(y)}")
    if len(n) < 3 or len(np.unique(n)) < 3:
        raise ValueError(f"n_params must hold at least 3 distinct sizes, got {len(np.unique(n))}")
    if (n <= 0).any() or not np.isfinite(n).all():
        raise ValueError("n_params must be finite and > 0")
    if not np.isfinite(y).all():
        raise ValueError("losses must be finite")
    x = np.log(n)
    a, b, c = np.polyfit(x, y, 2)
    if a > 0:
        xv = -b / (2 * a)
        bracketed, n_opt = bool(x.min() <= xv <= x.max()), float(math.exp(xv))
        loss_opt = float(np.polyval([a, b, c], xv))
    else:
        n_opt, bracketed, loss_opt = float(n[np.argmin(y)]), False, float(y.min())
    return dict(coef=[float(a), float(b), float(c)], n_opt=n_opt, loss_opt=loss_opt,
                bracketed=bracketed)


def fit_exponent(budgets, n_opts) -> dict:
    """Least-squares ``ln N_opt = a ln C + b``: ``exponent`` (a) and ``intercept`` (b); with 3 or
    more points also ``leave_one_out``, the exponents refitted with each budget left out."""
    c = checks.float_array(budgets, "budgets", (1,))
    n = checks.float_array(n_opts, "n_opts", (1,))
    if len(c) != len(n):
        raise ValueError(f"n_opts must have one value per budget ({len(c)}), got {len(n)}")
    if len(np.unique(c)) < 2:
        raise ValueError("budgets must hold at least 2 distinct values")
    if (c <= 0).any() or (n <= 0).any() or not (np.isfinite(c).all() and np.isfinite(n).all()):
        raise ValueError("budgets and n_opts must be finite and > 0")
    a, b = np.polyfit(np.log(c), np.log(n), 1)
    out = dict(exponent=float(a), intercept=float(b))
    if len(c) >= 3:
        keep = [np.arange(len(c)) != i for i in range(len(c))]
        out["leave_one_out"] = [float(np.polyfit(np.log(c[k]), np.log(n[k]), 1)[0]) for k in keep]
    return out


def analyse(runs) -> dict:
    """Per budget, a parabola in ``ln N`` through the lowest measured point and its two
    neighbours (:func:`fit_parabola`; ``fit_sizes`` are the three sizes): its vertex is that
    budget's ``n_opt``, with ``tokens_per_param = C / (6 N_opt^2)`` (D/N at the optimum). When
    the lowest point is the smallest or the largest size the budget is not ``bracketed``, there
    is no parabola (``coef`` None) and ``n_opt`` is the best measured size. Across budgets
    :func:`fit_exponent` on the bracketed budgets (``scaling``, ``None`` with fewer than 2) and
    on all budgets (``exponent_all``).

    Only three points are fitted because isoFLOP curves of small models are lopsided (the loss
    climbs much faster on the large side), which a single parabola over every size fits badly."""
    if isinstance(runs, (str, bytes, dict)) or not hasattr(runs, "__iter__"):
        raise checks.ArgumentTypeError(f"runs must be a list of run dicts, got {type(runs).__name__}")
    runs = list(runs)
    if not runs or not all(isinstance(r, dict) and {"budget", "n_params", "val_loss"} <= set(r) for r in runs):
        raise ValueError("runs must be a non-empty list of dicts with budget, n_params and val_loss")
    per_budget = []
    for c in sorted({r["budget"] for r in runs}):
        rs = sorted((r for r in runs if r["budget"] == c), key=lambda r: r["n_params"])
        if len({r["n_params"] for r in rs}) < 3:
            raise ValueError(f"runs must hold at least 3 distinct sizes per budget; budget {c:g} has fewer")
        best = min(range(len(rs)), key=lambda i: rs[i]["val_loss"])
        if 0 < best < len(rs) - 1:
            three = rs[best - 1: best + 2]
            fit = fit_parabola([r["n_params"] for r in three], [r["val_loss"] for r in three])
            sizes = [r["n_params"] for r in three]
        else:
            fit = dict(coef=None, n_opt=float(rs[best]["n_params"]), loss_opt=float(rs[best]["val_loss"]),
                       bracketed=False)
            sizes = []
        per_budget.append(dict(budget=c, **fit, fit_sizes=sizes, tokens_opt=c / (6 * fit["n_opt"]),
                               tokens_per_param=c / (6 * fit["n_opt"] ** 2),
                               best_measured=dict(n_params=rs[best]["n_params"], val_loss=rs[best]["val_loss"])))
    ok = [b for b in per_budget if b["bracketed"]]
    return dict(per_budget=per_budget,
                scaling=None if len({b["budget"] for b in ok}) < 2 else
                fit_exponent([b["budget"] for b in ok], [b["n_opt"] for b in ok]),
                exponent_all=None if len(per_budget) < 2 else
                fit_exponent([b["budget"] for b in per_budget], [b["n_opt"] for b in per_budget]),
                bracketed_budgets=[b["budget"] for b in ok])


def main(argv=None) -> dict:
    """``python -m utils.scaling --out FILE [--budgets C ...] [--shapes LxDxH ...] [--val-chars N]
    [--max-steps S] [--workers W]``."""
    p = argparse.ArgumentParser(prog="python -m utils.scaling", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="the JSON file to write")
    p.add_argument("--budgets", type=float, nargs="+", default=list(DEFAULT_BUDGETS), help="FLOPs (6ND)")
    p.add_argument("--shapes", nargs="+", default=[f"{L}x{d}x{h}" for L, d, h in DEFAULT_SHAPES],
                   help="n_layer x n_embd x n_head, e.g. 3x96x4")
    p.add_argument("--val-chars", type=int, default=100_000, help="held-out characters evaluated")
    p.add_argument("--max-steps", type=int, default=DEFAULT_MAX_STEPS, help="leave out runs that need more steps")
    p.add_argument("--workers", type=int, default=1, help="processes training side by side (1 thread each)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv if argv is None else checks.strings(argv, "argv", nonempty=False))
    try:
        shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes]
    except ValueError:
        raise ValueError(f"--shapes must look like 3x96x4, got {args.shapes}") from None
    out = checks.new_file(args.out, "--out")
    t0 = time.perf_counter()
    result = run(args.budgets, shapes, args.val_chars, progress=not args.quiet, max_steps=args.max_steps,
                 workers=args.workers)
    result = dict(command="python -m utils.scaling " + " ".join(sys.argv[1:] if argv is None else argv),
                  **result, fit=analyse(result["runs"]), wall_seconds=round(time.perf_counter() - t0, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    if not args.quiet:
        print(f"wrote {out} in {result['wall_seconds']} s")
    return result


if __name__ == "__main__":
    main()
