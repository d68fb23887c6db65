"""Data-parallel training with ``torchrun`` and DistributedDataParallel (chapter 5).

Each process (a *rank*) holds a full copy of the model, takes its own slice of
every global batch, and runs forward and backward on it; during the backward
pass DDP all-reduces (averages) the gradients across ranks, so every rank
applies the same AdamW update and the copies stay identical.  With equal
slices, the average of the ranks' mean losses is the mean loss of the whole
batch, so N processes with batch B each take exactly the steps of one process
with batch N*B -- up to floating-point summation order.

On a CPU the processes talk through the ``gloo`` backend; on GPUs one would use
``nccl`` and one process per GPU.  Run it (from the repository root) with::

    torchrun --standalone --nproc_per_node=2 -m utils.ddp --steps 5 --out /tmp/ddp

which trains a tiny GPT and writes rank 0's weights to ``/tmp/ddp/ddp.safetensors``;
``python -m utils.ddp --single --steps 5 --out /tmp/ddp`` trains the same model
in one process on the combined batches (``single.safetensors``), and
:func:`compare` gives the largest weight difference.  :func:`run_ddp_vs_single`
does all three, and also compares the gradients after the first backward pass
(``ddp_grads.safetensors``, rank 0's all-reduced gradients, against
``single_grads.safetensors``): AdamW is invariant to a constant scale of the
gradients (exactly at step 1), and clipping rescales them anyway, so a bug that
sums instead of averaging barely shows in the weights -- it shows in the
gradients, by a factor of ``nproc``.  ``--sum-bug`` (``sum_bug=True``) plants that
bug with a DDP communication hook that all-reduces without dividing.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from utils import checks
from utils.data import get_batch
from utils.train import PRESETS, TrainConfig, build_model, encode_splits, lr_at, make_optimizer

__all__ = ["DDP_CONFIG", "global_batches", "train_single", "train_ddp", "compare", "run_ddp_vs_single", "save_data",
           "load_data", "compare_gradients", "main"]

#: The tiny model of the demo and test: a run takes a few seconds on a CPU.
DDP_CONFIG = replace(PRESETS["tiny"], n_layer=2, n_head=2, n_embd=32, block_size=32, batch_size=16,
                     max_steps=5, warmup_steps=2, lr=3e-3, min_lr=3e-4, threads=1)


def global_batches(train_ids, cfg: TrainConfig, steps: int):
    """The ``steps`` global batches ``(x, y)`` of ``cfg.batch_size`` windows, the same in every process."""
    checks.instance(cfg, TrainConfig, "cfg", "utils.train.TrainConfig")
    checks.integer(steps, "steps", 1)
    train_ids = checks.id_sequence(train_ids, "train_ids", min_len=cfg.block_size + 1)
    gen = torch.Generator().manual_seed(cfg.seed)
    return [get_batch(train_ids, cfg.block_size, cfg.batch_size, generator=gen) for _ in range(steps)]


def _step(model, optimizer, params, cfg, step, x, y, grads=None):
    lr = lr_at(step, cfg.lr, min(cfg.warmup_steps, cfg.max_steps), cfg.max_steps, cfg.min_lr)
    for group in optimizer.param_groups:
        group["lr"] = lr
    _, loss = model(x, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()                      # under DDP: gradients are averaged across ranks here
    if grads is not None:                # a copy of the gradients, before clipping
        grads.update({n: p.grad.detach().clone() for n, p in params})
        params = [p for _, p in params]
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
    optimizer.step()
    return loss.detach()


def train_single(cfg: TrainConfig = DDP_CONFIG, steps: int = 5, train_ids=None, vocab_size=None):
    """One process, the whole global batch per step; returns ``(model, losses)``."""
    _check_steps(steps, cfg)
    train_ids, vocab_size = _data(train_ids, vocab_size)
    model = build_model(cfg, vocab_size)
    model.first_grads = {}                        # the gradients after the first backward pass
    optimizer = make_optimizer(model, cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    losses = [_step(model, optimizer, named if s == 0 else params, cfg, s, x, y,
                    model.first_grads if s == 0 else None).item()
              for s, (x, y) in enumerate(global_batches(train_ids, cfg, steps))]
    return model, losses


def _sum_allreduce_hook(state, bucket):
    """The planted bug: all-reduce a gradient bucket by SUM, without dividing by the world size."""
    import torch.distributed as dist
    fut = dist.all_reduce(bucket.buffer(), async_op=True).get_future()
    return fut.then(lambda f: f.value()[0])


def train_ddp(cfg: TrainConfig = DDP_CONFIG, steps: int = 5, train_ids=None, vocab_size=None,
              sum_bug: bool = False):
    """Run inside ``torchrun``: this rank trains on its slice of each global batch under DDP.

    Returns ``(model, losses)`` where ``losses`` are the global-batch losses
    (this rank's loss averaged over ranks with an all-reduce); ``model.first_grads``
    holds this rank's (all-reduced) gradients after the first backward pass.  With
    ``sum_bug=True`` a communication hook sums the gradients instead of averaging them.
    """
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    _check_steps(steps, cfg)
    checks.flag(sum_bug, "sum_bug")
    if train_ids is not None:                     # arguments first, the environment second
        train_ids, vocab_size = _data(train_ids, vocab_size)
    if "RANK" not in os.environ:
        raise RuntimeError("train_ddp must run under torchrun (RANK, WORLD_SIZE are not set); use "
                           "torchrun --standalone --nproc_per_node=2 -m utils.ddp ...")
    dist.init_process_group("gloo")
    try:
        rank, world = dist.get_rank(), dist.get_world_size()
        if cfg.batch_size % world:
            raise ValueError(f"batch_size ({cfg.batch_size}) must be divisible by the number of "
                             f"processes ({world})")
        per_rank = cfg.batch_size // world
        train_ids, vocab_size = _data(train_ids, vocab_size)
        model = build_model(cfg, vocab_size)          # same seed on every rank; DDP also broadcasts rank 0's
        ddp_model = DDP(model)
        if sum_bug:
            ddp_model.register_comm_hook(None, _sum_allreduce_hook)
        model.first_grads = {}
        optimizer = make_optimizer(model, cfg)
        params = [p for p in model.parameters() if p.requires_grad]
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        losses = []
        for s, (x, y) in enumerate(global_batches(train_ids, cfg, steps)):
            mine = slice(rank * per_rank, (rank + 1) * per_rank)       # this rank's share of the batch
            loss = _step(ddp_model, optimizer, named if s == 0 else params, cfg, s, x[mine], y[mine],
                         model.first_grads if s == 0 else None)
            dist.all_reduce(loss)                                      # for printing only
            losses.append(loss.item() / world)
        return model, losses
    finally:
        dist.barrier()
        dist.destroy_process_group()


def _load_pair(path_a, path_b):
    """The tensors of two safetensors files, which must hold the same names and shapes."""
    from safetensors.torch import load_file

    _, shapes_a = checks.safetensors_file(path_a, "path_a")
    _, shapes_b = checks.safetensors_file(path_b, "path_b")
    if shapes_a != shapes_b:
        differ = sorted(k for k in shapes_a.keys() | shapes_b.keys() if shapes_a.get(k) != shapes_b.get(k))
        raise ValueError(f"path_a and path_b hold different tensors (names or shapes): {differ[:5]}")
    return load_file(str(path_a)), load_file(str(path_b))


def compare(path_a, path_b) -> float:
    """Largest absolute difference between the tensors of two safetensors files (same names)."""
    a, b = _load_pair(path_a, path_b)
    return max((a[k] - b[k]).abs().max().item() for k in a)


def compare_gradients(path_a, path_b) -> dict:
    """Gradients ``a`` (say DDP's) against ``b`` (the reference), two safetensors files with the same names.

    Returns ``{"max_abs", "max_rel", "norm_ratio"}``: the largest absolute difference of
    any element; the largest relative difference of a tensor, ``||a - b|| / ||b||`` (tensors
    with ``||b|| = 0`` count through ``max_abs`` only); and ``||a|| / ||b||`` over all
    tensors together (1 when they agree, ``nproc`` for a summing bug).
    """
    a, b = _load_pair(path_a, path_b)
    a, b = ({k: t.double() for k, t in d.items()} for d in (a, b))
    norm_b = sum(t.pow(2).sum() for t in b.values()).sqrt().item()
    norm_a = sum(t.pow(2).sum() for t in a.values()).sqrt().item()
    rel = [((a[k] - b[k]).norm() / b[k].norm()).item() for k in a if b[k].norm() > 0]
    return {"max_abs": max((a[k] - b[k]).abs().max().item() for k in a),
            "max_rel": max(rel, default=0.0),
            "norm_ratio": norm_a / norm_b if norm_b > 0 else float("nan")}


def run_ddp_vs_single(steps: int = 5, nproc: int = 2, out=None, timeout: float = 120.0,
                      sum_bug: bool = False) -> dict:
    """Train :data:`DDP_CONFIG` with ``torchrun`` (``nproc`` CPU processes) and in one process.

    Returns ``{"max_abs_diff", "max_abs_grad_diff", "max_rel_grad_diff", "grad_norm_ratio",
    "ddp_losses", "single_losses", "seconds"}``: the weights after ``steps`` AdamW steps
    and the gradients after the first backward pass (see :func:`compare_gradients`);
    ``seconds`` is the torchrun run's wall time.  ``sum_bug=True`` plants a summing
    all-reduce in the DDP run (:func:`train_ddp`).
    """
    import json
    import tempfile

    _check_steps(steps, DDP_CONFIG)
    if isinstance(nproc, bool) or not isinstance(nproc, int) or not 1 <= nproc <= DDP_CONFIG.batch_size:
        raise ValueError(f"nproc must be an int in [1, {DDP_CONFIG.batch_size}], got {nproc!r}")
    checks.number(timeout, "timeout", 0, low_open=True)
    checks.flag(sum_bug, "sum_bug")
    out = checks.folder(out, "out") if out is not None else Path(tempfile.mkdtemp(prefix="ddp_"))
    out.mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parent.parent
    tokenizer, train_ids, _ = encode_splits()
    save_data(out / "train_ids.safetensors", train_ids, tokenizer.vocab_size)
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc_per_node={nproc}",
           "--rdzv-backend=c10d", f"--rdzv-endpoint=localhost:{_free_port()}",
           "-m", "utils.ddp", "--steps", str(steps), "--out", str(out),
           "--data", str(out / "train_ids.safetensors")] + (["--sum-bug"] if sum_bug else [])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"torchrun failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    seconds = time.perf_counter() - t0
    model, single_losses = train_single(DDP_CONFIG, steps, train_ids, tokenizer.vocab_size)
    _save(model, out / "single.safetensors")
    _save_grads(model, out / "single_grads.safetensors")
    ddp_losses = json.loads((out / "ddp_losses.json").read_text())
    g = compare_gradients(out / "ddp_grads.safetensors", out / "single_grads.safetensors")
    return {"max_abs_diff": compare(out / "ddp.safetensors", out / "single.safetensors"),
            "max_abs_grad_diff": g["max_abs"], "max_rel_grad_diff": g["max_rel"],
            "grad_norm_ratio": g["norm_ratio"],
            "ddp_losses": ddp_losses, "single_losses": single_losses, "seconds": seconds}


def _save(model, path):
    from safetensors.torch import save_model
    save_model(model, str(path))


def _save_grads(model, path):
    from safetensors.torch import save_file
    save_file({n: g.contiguous() for n, g in model.first_grads.items()}, str(path))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _data(train_ids, vocab_size):
    """The training ids and vocabulary size: as given, or the book's (encoded here, a few seconds)."""
    if vocab_size is not None:
        checks.integer(vocab_size, "vocab_size", 1)
    if train_ids is None:
        tokenizer, train_ids, _ = encode_splits()
        vocab_size = vocab_size or tokenizer.vocab_size
    train_ids = checks.id_sequence(train_ids, "train_ids", vocab_size)
    if vocab_size is None:
        vocab_size = int(max(train_ids)) + 1
    return train_ids, vocab_size


def save_data(path, train_ids, vocab_size) -> None:
    """Encoded training ids in a safetensors file, so the torchrun processes skip the encoding."""
    from safetensors.torch import save_file

    path, vocab_size = checks.new_file(path), checks.integer(vocab_size, "vocab_size", 1)
    train_ids = checks.id_sequence(train_ids, "train_ids", vocab_size)
    save_file({"train_ids": torch.as_tensor(train_ids).to(torch.int64).contiguous(),
               "vocab_size": torch.tensor([vocab_size])}, str(path))


def load_data(path):
    """``(train_ids, vocab_size)`` from a file written by :func:`save_data`."""
    from safetensors.torch import load_file

    _, shapes = checks.safetensors_file(path)
    if set(shapes) != {"train_ids", "vocab_size"}:
        raise ValueError(f"path: {path} does not hold train_ids and vocab_size (write it with save_data), "
                         f"got {sorted(shapes)[:4]}")
    d = load_file(str(path))
    return d["train_ids"], int(d["vocab_size"][0])


def _check_steps(steps, cfg):
    checks.instance(cfg, TrainConfig, "cfg", "utils.train.TrainConfig")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= cfg.max_steps:
        raise ValueError(f"steps must be an int in [1, max_steps={cfg.max_steps}], got {steps!r}")


def main(argv=None):
    """``torchrun ... -m utils.ddp --steps N --out DIR`` or ``python -m utils.ddp --single ...``."""
    import json

    p = argparse.ArgumentParser(prog="utils.ddp", description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=DDP_CONFIG.max_steps)
    p.add_argument("--out", required=True, help="directory for the weights")
    p.add_argument("--single", action="store_true", help="one process, combined batches (the reference)")
    p.add_argument("--sum-bug", action="store_true", help="plant a summing all-reduce (DDP only)")
    p.add_argument("--data", default=None, help="train ids saved by save_data (default: encode the corpus)")
    args = p.parse_args(argv if argv is None else checks.strings(argv, "argv", nonempty=False))
    train_ids, vocab_size = load_data(args.data) if args.data else (None, None)
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.single:
        model, losses = train_single(DDP_CONFIG, args.steps, train_ids, vocab_size)
        _save(model, out / "single.safetensors")
        _save_grads(model, out / "single_grads.safetensors")
        print("single process losses:", [round(v, 4) for v in losses])
        return
    model, losses = train_ddp(DDP_CONFIG, args.steps, train_ids, vocab_size, sum_bug=args.sum_bug)
    if int(os.environ["RANK"]) == 0:
        _save(model, out / "ddp.safetensors")
        _save_grads(model, out / "ddp_grads.safetensors")
        (out / "ddp_losses.json").write_text(json.dumps(losses))
        (out / "ddp_config.json").write_text(json.dumps({**asdict(DDP_CONFIG), "steps": args.steps,
                                                        "world_size": int(os.environ["WORLD_SIZE"])}))
        print(f"rank 0 of {os.environ['WORLD_SIZE']}: losses", [round(v, 4) for v in losses])


if __name__ == "__main__":
    main()
