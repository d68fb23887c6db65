"""utils.scaling: the isoFLOP plan, the fits, a tiny end-to-end run and the stored experiment."""
from __future__ import annotations

import json
from dataclasses import asdict
import math
from pathlib import Path

import numpy as np
import pytest

from utils import scaling
from utils.gpt import GPT, GPTConfig
from utils.train import PRESETS

STORED = Path(__file__).resolve().parents[1] / "data" / "experiments" / "isoflop.json"


def test_plan_steps_match_a_hand_computation():
    rows = scaling.plan([1e11], [(2, 64, 4)], vocab_size=71)
    (r,) = rows
    model = GPT(GPTConfig(vocab_size=71, block_size=64, n_layer=2, n_head=4, n_embd=64))
    n = model.num_params()
    assert r["n_params"] == n and r["n_params_non_embedding"] == n - 71 * 64 - 64 * 64
    # by hand: per layer 12 d^2 + 13 d (attention, MLP, two LayerNorms with biases),
    # embeddings V d + T d, final LayerNorm 2 d; the tied output matrix counted once
    d = 64
    assert n == 2 * (12 * d * d + 13 * d) + 71 * d + 64 * d + 2 * d
    per_step = 16 * 64                             # the book preset's batch x block
    assert r["steps"] == round(1e11 / (6 * n * per_step))
    assert r["tokens"] == r["steps"] * per_step
    assert r["flops"] == 6 * n * r["tokens"]
    assert abs(r["flops"] - 1e11) / 1e11 < 0.01


def test_plan_covers_every_budget_and_shape_and_refuses_bad_shapes():
    rows = scaling.plan([1e10, 3e10], [(1, 32, 4), (2, 48, 4)])
    assert [(r["budget"], r["n_embd"]) for r in rows] == [(1e10, 32), (1e10, 48), (3e10, 32), (3e10, 48)]
    assert rows[2]["steps"] == pytest.approx(3 * rows[0]["steps"], abs=1)
    with pytest.raises(ValueError, match="n_head"):
        scaling.plan([1e10], [(1, 30, 4)])
    with pytest.raises(ValueError, match="budgets"):
        scaling.plan([-1.0], [(1, 32, 4)])


def test_parabola_recovers_a_known_vertex():
    n = np.array([1e4, 3e4, 1e5, 3e5, 1e6])
    x0, y0 = math.log(7e4), 1.9
    loss = 0.3 * (np.log(n) - x0) ** 2 + y0
    fit = scaling.fit_parabola(n, loss)
    assert fit["n_opt"] == pytest.approx(7e4, rel=1e-6)
    assert fit["loss_opt"] == pytest.approx(y0, abs=1e-9)
    assert fit["bracketed"] is True


def test_an_unbracketed_minimum_is_flagged():
    n = np.array([1e4, 3e4, 1e5, 3e5])
    loss = 0.3 * (np.log(n) - math.log(3e6)) ** 2 + 2.0      # vertex beyond the largest size
    fit = scaling.fit_parabola(n, loss)
    assert fit["bracketed"] is False and fit["n_opt"] > 3e5
    falling = scaling.fit_parabola(n, [3.0, 2.5, 2.3, 2.25 - 0.2])     # concave or monotone
    assert falling["bracketed"] is False
    concave = scaling.fit_parabola(n, -0.1 * (np.log(n) - 11) ** 2)   # a maximum, no minimum
    assert concave["bracketed"] is False and concave["n_opt"] in n


def test_exponent_fit_recovers_a_known_slope():
    c = np.array([1e10, 3e10, 1e11, 3e11])
    n = 2.0 * c ** 0.62
    fit = scaling.fit_exponent(c, n)
    assert fit["exponent"] == pytest.approx(0.62, abs=1e-9)
    assert fit["intercept"] == pytest.approx(math.log(2.0), abs=1e-6)
    assert fit["leave_one_out"] == pytest.approx([0.62] * 4, abs=1e-9)


def test_analyse_reports_tokens_per_parameter_and_fits_only_bracketed_budgets():
    runs = []
    for c, nopt in ((1e10, 2e4), (1e11, 6e4), (1e12, 5e7)):            # the last one unbracketed
        for n in (1e4, 3e4, 1e5, 3e5):
            runs.append(dict(budget=c, n_params=n, val_loss=0.2 * (math.log(n) - math.log(nopt)) ** 2 + 2))
    fit = scaling.analyse(runs)
    pb = fit["per_budget"]
    assert [b["bracketed"] for b in pb] == [True, True, False]
    assert pb[0]["tokens_per_param"] == pytest.approx(1e10 / (6 * 2e4 ** 2), rel=1e-6)
    assert fit["bracketed_budgets"] == [1e10, 1e11]
    assert fit["scaling"]["exponent"] == pytest.approx(math.log(3) / math.log(10), rel=1e-6)
    assert fit["exponent_all"]["exponent"] != pytest.approx(fit["scaling"]["exponent"])


def test_tiny_end_to_end_run_writes_valid_json(tmp_path):
    out = tmp_path / "iso.json"
    result = scaling.main(["--out", str(out), "--budgets", "5e7", "1e8", "--shapes", "1x8x2", "1x16x2",
                           "2x16x2", "--val-chars", "2000", "--quiet"])
    stored = json.loads(out.read_text())
    assert stored["command"].startswith("python -m utils.scaling --out")
    assert len(stored["runs"]) == 6
    for r in stored["runs"]:
        assert math.isfinite(r["val_loss"]) and r["val_loss"] > 0 and r["steps"] >= 1
    assert stored["config"]["val_targets"] == 1999
    assert stored["fit"] == json.loads(json.dumps(scaling.analyse(result["runs"])))


@pytest.mark.skipif(not STORED.exists(), reason="data/experiments/isoflop.json not made yet")
def test_the_stored_experiment_matches_the_plan_and_its_fit():
    stored = json.loads(STORED.read_text())
    cfg = stored["config"]
    runs = stored["runs"]
    budgets = sorted({r["budget"] for r in runs})
    shapes = list(dict.fromkeys((r["n_layer"], r["n_embd"], r["n_head"]) for r in runs))
    skipped = stored["skipped"]
    assert len(budgets) >= 3 and len(shapes) >= 4 and len(runs) + len(skipped) == len(budgets) * len(shapes)
    book = asdict(PRESETS["book"])
    assert {k: v for k, v in cfg["base"].items() if k in book} == {k: book[k] for k in cfg["base"] if k in book}
    assert cfg["threads"] == 1 and cfg["val_chars"] == 100_000
    planned = scaling.plan(budgets, shapes, vocab_size=cfg["vocab_size"])
    assert all(r["steps"] > cfg["max_steps"] for r in skipped)                # left out only for their length
    assert all(r["steps"] <= cfg["max_steps"] for r in runs)
    key = ("budget", "n_layer", "n_embd", "n_head", "n_params", "n_params_non_embedding", "steps", "tokens")
    assert sorted(tuple(r[k] for k in key) for r in runs) == sorted(
        tuple(r[k] for k in key) for r in planned if r["steps"] <= cfg["max_steps"])
    assert len(skipped) == sum(r["steps"] > cfg["max_steps"] for r in planned)
    refit = json.loads(json.dumps(scaling.analyse(runs)))
    assert _close(stored["fit"], refit)


def _close(a, b) -> bool:
    """Nested equality with floats compared to 1e-9 relative."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (a, b)
        return all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        return all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9), (a, b)
        return True
    assert a == b
    return True


def test_two_workers_give_the_same_losses_and_long_runs_are_left_out():
    kw = dict(budgets=[5e7, 1e8], shapes=[(1, 8, 2), (1, 16, 2)], val_chars=2000)
    serial = scaling.run(**kw, max_steps=4)
    parallel = scaling.run(**kw, max_steps=4, workers=2)
    assert [r["val_loss"] for r in serial["runs"]] == [r["val_loss"] for r in parallel["runs"]]
    planned = scaling.plan(kw["budgets"], kw["shapes"])
    assert max(r["steps"] for r in planned) > 4                    # the cap leaves something out
    assert [r["steps"] for r in serial["skipped"]] == [r["steps"] for r in planned if r["steps"] > 4]
    assert all(r["steps"] <= 4 for r in serial["runs"]) and serial["runs"]
    with pytest.raises(ValueError, match="workers"):
        scaling.run(**kw, workers=0)


def test_a_lopsided_curve_is_fitted_through_its_lowest_point_and_neighbours():
    n = np.array([5e3, 1.7e4, 6.3e4, 1.1e5, 3.5e5, 8.1e5])
    x, x0 = np.log(n), math.log(2e4)
    loss = 2 + np.where(x < x0, 0.05, 1.0) * (x - x0) ** 2        # gentle on the left, steep on the right
    runs = [dict(budget=1e12, n_params=float(a), val_loss=float(b)) for a, b in zip(n, loss)]
    whole = scaling.fit_parabola(n, loss)                          # one parabola over every size misses
    assert not (1.7e4 <= whole["n_opt"] <= 6.3e4)
    fit = scaling.analyse(runs)["per_budget"][0]
    assert fit["bracketed"] and fit["fit_sizes"] == [5e3, 1.7e4, 6.3e4]
    assert 5e3 < fit["n_opt"] < 6.3e4 and fit["loss_opt"] <= loss.min()
    edge = scaling.analyse([dict(r, val_loss=float(-np.log(r["n_params"]))) for r in runs])["per_budget"][0]
    assert not edge["bracketed"] and edge["coef"] is None and edge["n_opt"] == 8.1e5   # lowest at the edge
