"""Tests for utils.diagnostics (chapter 5's schedule and clipping measurements)."""
import json
import math
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

from utils import diagnostics as dg
from utils import train as tr

STORED = Path(__file__).resolve().parent.parent / "data" / "experiments" / "diagnostics.json"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_clip_fraction_matches_an_independent_count_from_a_history():
    cfg = replace(tr.PRESETS["tiny"], max_steps=8, grad_clip=0.0, threads=0)
    ids = torch.arange(400) % 11
    h = tr.train(tr.build_model(cfg, 11), cfg, ids, progress=False)
    norms = h["grad_norm"]
    for threshold in (0.5, sorted(norms)[3], 100.0):
        count = 0
        for n in norms:
            if n > threshold:
                count += 1
        assert dg.clip_fraction(norms, threshold) == count / len(norms)
    assert dg.clip_fraction([None, 2.0, 0.5], 1.0) == 0.5          # unrecorded steps are left out
    assert dg.max_rise([3.0, 2.0, 2.5, 1.0, 1.2]) == pytest.approx(0.5)
    assert dg.max_rise([3.0, 2.0, 2.5, 1.0, 1.2], skip=3) == pytest.approx(0.2)


def test_plan_changes_only_what_is_compared():
    base = tr.PRESETS["book"]
    p = dg.plan(base, 30, 10, [1, 2], [1e-3, 3e-3], [3e-2])
    assert set(p) == {f"{g}/seed{s}" for g in dg.SEEDED_GROUPS for s in (1, 2)} | {
        "sweep_lr0.001/seed1", "high_constant_lr0.03/seed1"}
    cos, const, wc, noclip = (p[f"{g}/seed1"][1] for g in dg.SEEDED_GROUPS)
    assert (cos.lr, cos.min_lr, cos.warmup_steps, cos.grad_clip) == (3e-3, base.min_lr, 10, 1.0)
    assert replace(const, warmup_steps=10, min_lr=base.min_lr) == cos and const.min_lr == const.lr
    assert replace(wc, min_lr=base.min_lr) == cos and replace(noclip, grad_clip=1.0) == cos
    assert {tr.lr_at(s, const.lr, 0, 30, const.min_lr) for s in range(30)} == {3e-3}
    assert p["sweep_lr0.001/seed1"][1].min_lr == pytest.approx(1e-3 * base.min_lr / base.lr)
    with pytest.raises(ValueError, match="warmup_steps"):
        dg.plan(base, 30, 31, [1], [1e-3], [])
    with pytest.raises(TypeError, match="seeds"):
        dg.plan(base, 30, 1, "1", [1e-3], [])


def test_tiny_end_to_end_writes_valid_json(tmp_path, monkeypatch):
    out = tmp_path / "d.json"
    small = replace(tr.PRESETS["tiny"], threads=0)
    monkeypatch.setitem(tr.PRESETS, "book", small)
    r = dg.main(["--out", str(out), "--steps", "4", "--warmup-steps", "2", "--seeds", "1", "2",
                 "--peaks", "1e-3", "3e-3", "--high-peaks", "3e-2", "--val-chars", "500", "--quiet"])
    d = json.loads(out.read_text())
    assert d["summary"] == r["summary"] and d["command"].startswith("python -m utils.diagnostics --out")
    assert len(d["runs"]) == 4 * 2 + 2 and all(math.isfinite(x["val_loss"]) for x in d["runs"].values())
    for name, run in d["runs"].items():
        assert run["config"] == asdict(dg.plan(small, 4, 2, [1, 2], [1e-3, 3e-3], [3e-2])[name][1])
        assert run["clip_fraction"] == run["clipped_steps"] / 4
    assert d["summary"]["constant"]["val_loss_minus_cosine"]["n"] == 2


#: TrainConfig fields added after the stored runs were made, with the value those runs had (eager).
LATER_FIELDS = {"compile": False}


def _same_config(stored: dict, cfg) -> bool:
    """A stored config equals ``cfg``; a field added since must be absent and at its stored runs' value."""
    now = asdict(cfg)
    missing = set(now) - set(stored)
    return missing <= set(LATER_FIELDS) and all(now[k] == LATER_FIELDS[k] for k in missing) \
        and stored == {k: v for k, v in now.items() if k not in missing}


@pytest.mark.skipif(not STORED.is_file(), reason="data/experiments/diagnostics.json not made yet")
def test_stored_json_matches_the_code():
    d = json.loads(STORED.read_text())
    assert d["command"] == "python -m utils.diagnostics --out data/experiments/diagnostics.json"
    s = d["settings"]
    assert {k: s[k] for k in dg.DEFAULTS} == dg.DEFAULTS and _same_config(s["base"], tr.PRESETS["book"])
    p = dg.plan(tr.PRESETS["book"], s["steps"], s["warmup_steps"], s["seeds"], s["peaks"], s["high_peaks"])
    assert set(d["runs"]) == set(p)
    for name, run in d["runs"].items():
        assert _same_config(run["config"], p[name][1]) and run["group"] == p[name][0]
        assert run["clip_fraction"] == run["clipped_steps"] / run["steps"] and run["steps"] == s["steps"]
    assert d["summary"] == dg.summarise(d["runs"])
