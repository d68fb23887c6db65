"""Confidence intervals for per-character (or per-token) losses: the block bootstrap.

    lo, hi = block_bootstrap_ci(nll_a - nll_b, block=1000, seed=0)   # 95 % interval of the mean

Two language models scored on the same text give one loss per position, and the quantity the
prose draws conclusions from is a mean: a cross-entropy, or the mean *difference* of two
models' losses on the same characters (a paired comparison).  Neighbouring positions are not
independent (the characters of one word, one speech), so resampling single positions would
make the interval too narrow.  The moving-block bootstrap (Künsch 1989) resamples contiguous
blocks of ``block`` positions instead and keeps the dependence inside each block; the
interval is the percentile interval of the resampled means.
"""
from __future__ import annotations

import numpy as np

from utils import checks

__all__ = ["block_bootstrap_ci"]


def block_bootstrap_ci(values, block: int = 1000, n_resamples: int = 2000, level: float = 0.95,
                       seed=0) -> tuple[float, float]:
    """Percentile interval of the mean of ``values`` by the moving-block bootstrap.

    ``values``: a 1-D array of finite numbers, at least ``2 * block`` of them.  Each resample
    draws ``len(values) // block`` blocks of ``block`` consecutive values, starting at uniform
    random positions, and takes their mean.  Returns ``(low, high)`` at confidence ``level``.
    """
    v = checks.float_array(values, "values", ndims=(1,), dtype=np.float64)
    block = checks.integer(block, "block", 1)
    n_resamples = checks.integer(n_resamples, "n_resamples", 10)
    level = checks.number(level, "level", 0.0, 1.0, low_open=True)
    if level >= 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if len(v) < 2 * block:
        raise ValueError(f"values must hold at least 2 * block = {2 * block} numbers, got {len(v)}")
    if not np.isfinite(v).all():
        raise ValueError("values must be finite (an infinite loss has no confidence interval)")
    rng = checks.rng(seed)
    sums = np.concatenate([[0.0], np.cumsum(v)])
    block_means = (sums[block:] - sums[:-block]) / block              # mean of every block
    k = len(v) // block
    starts = rng.integers(0, len(block_means), size=(n_resamples, k))
    means = block_means[starts].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)
