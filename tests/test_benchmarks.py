"""The benchmark scripts' parts that decide what they print (benchmarks/ is not a package: loaded by path)."""
import importlib.util
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from utils.train import PRESETS, build_model

ROOT = Path(__file__).resolve().parent.parent


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def profile_script():
    return _load("train_profile")


@pytest.fixture(scope="module")
def speed_script():
    return _load("train_speed")


def test_profile_rows_by_operator_and_phase(profile_script):
    c = profile_script.category
    assert c("aten::mm", "passes") == c("aten::addmm", "passes") == "matrix products"
    assert c("aten::_scaled_dot_product_flash_attention_for_cpu_backward", "passes") == "attention"
    assert c("aten::native_layer_norm", "passes") == c("aten::gelu_backward", "passes") \
        == "LayerNorm, GELU, other element-wise"
    assert c("aten::mul_", "update") == c("aten::mm", "update") == "optimizer and clipping"
    assert c("autograd::engine::evaluate_function: MmBackward0", "passes") is None     # not an operator
    assert c("aten::randint", "batch") is None                                          # fetching the batch


def test_profile_counts_self_time_once(profile_script):
    """Self times of the operators fit in the step's wall time: total times (a parent and its
    children both counted) would exceed it."""
    torch.set_num_threads(1)
    cfg = replace(PRESETS["tiny"], batch_size=4)
    ids = torch.randint(0, 20, (2000,))
    ms, step_ms, plain_ms = profile_script.profile_steps(cfg, ids, 20, steps=3)
    for row in profile_script.ROWS[:-1]:
        assert ms[row] > 0, row
    assert ms["Python and framework overhead"] > 0            # the operators' self times fit in the wall time
    assert 0 < plain_ms < 2 * step_ms


def test_fused_and_foreach_adamw_make_the_same_update(speed_script):
    """Three steps from the same gradients (of order 1, so no update is dominated by rounding)."""
    cfg = replace(PRESETS["tiny"], lr=1e-2, weight_decay=1.0)   # a missing decay would move weights by ~2e-4 a step
    g = torch.Generator().manual_seed(0)
    grads = [torch.randn(p.shape, generator=g) for p in build_model(cfg, 20).parameters()]
    states = []
    for fused in (False, True):
        model = build_model(cfg, 20)
        opt = speed_script.adamw(model, cfg, fused)
        assert opt.defaults["fused" if fused else "foreach"] is True
        assert [grp["weight_decay"] for grp in opt.param_groups] == [cfg.weight_decay, 0.0]
        for _ in range(3):
            for p, grad in zip(model.parameters(), grads):
                p.grad = grad.clone()
            opt.step()
        states.append([p.detach().clone() for p in model.parameters()])
    for a, b in zip(*states):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
