"""Tests for utils.ddp (chapter 5): two torchrun processes with DDP end where one process does."""
import numpy as np
import pytest
import torch

from utils import ddp


def test_ddp_two_processes_equal_one_process_with_the_combined_batch(tmp_path):
    r = ddp.run_ddp_vs_single(steps=4, nproc=2, out=tmp_path)
    assert r["max_abs_diff"] < 1e-5                       # float32 summation order only
    np.testing.assert_allclose(r["ddp_losses"], r["single_losses"], rtol=1e-5)
    assert r["single_losses"][-1] < r["single_losses"][0]  # it did train
    # and the weights really moved: the comparison is not between two untouched copies
    init = ddp.build_model(ddp.DDP_CONFIG, 71)
    assert ddp.compare(tmp_path / "single.safetensors", tmp_path / "ddp.safetensors") < 1e-5
    from safetensors.torch import load_file
    trained = load_file(str(tmp_path / "ddp.safetensors"))
    moved = max((trained[n] - p.detach()).abs().max().item() for n, p in init.named_parameters() if n in trained)
    assert moved > 1e-3


def test_single_process_reference_is_deterministic():
    ids = torch.arange(2000) % 71
    a, la = ddp.train_single(ddp.DDP_CONFIG, 2, ids, 71)
    b, lb = ddp.train_single(ddp.DDP_CONFIG, 2, ids, 71)
    assert la == lb and all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="steps"):
        ddp.run_ddp_vs_single(steps=0)
    with pytest.raises(ValueError, match="nproc"):
        ddp.run_ddp_vs_single(steps=2, nproc=0)
    with pytest.raises(RuntimeError, match="torchrun"):
        ddp.train_ddp(ddp.DDP_CONFIG, 2, torch.arange(2000) % 71, 71)
    (tmp_path / "a.safetensors").write_bytes(b"")
    from safetensors.torch import save_file
    save_file({"x": torch.zeros(2)}, str(tmp_path / "a.safetensors"))
    save_file({"y": torch.zeros(2)}, str(tmp_path / "b.safetensors"))
    with pytest.raises(ValueError, match="different tensors"):
        ddp.compare(tmp_path / "a.safetensors", tmp_path / "b.safetensors")
