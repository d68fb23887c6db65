"""The book's training loop for :class:`utils.gpt.GPT` (built in chapter 5).

One concern: turn a model and a stream of token ids into a trained model, with
everything chapter 5 explains written so that it can be read in one sitting:

* :func:`lr_at` -- linear warm-up, then cosine decay to ``min_lr``, and
  :func:`adamw_step_numpy` -- one AdamW update written out in NumPy (both defined in
  :mod:`utils.optim`, re-exported here);
* :func:`estimate_loss` (a few fixed random batches, cheap) and :func:`evaluate`
  (every token of a held-out text once, the number to report);
* :func:`train` -- the loop: AdamW, gradient clipping, tqdm, an optional
  ``callback`` (live plots, samples), checkpoints; its history records each step's
  loss, learning rate and global gradient norm (before clipping);
* :func:`save_training_checkpoint` / :func:`load_training_checkpoint` -- model,
  optimiser and random-number state in ``safetensors`` files with the
  configuration alongside as JSON, so a run can be resumed exactly (defined in
  :mod:`utils.checkpoints`, re-exported here);
* a command-line entry point.  The book's pretrained model (``data/pretrained``)
  is made by exactly this command::

      python -m utils.train --preset pretrained --out data/pretrained

``python -m utils.train --help`` lists the other options (``--preset book`` is
the 2-minute CPU run of chapter 5, ``--resume DIR`` continues a run).
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

import torch

from utils import checks, speed
from utils.checkpoints import CONFIG_FILE, load_training_checkpoint, save_training_checkpoint
from utils.data import CharTokenizer, get_batch, load_corpus
from utils.gpt import GPT, GPTConfig
from utils.optim import adamw_step_numpy, lr_at

__all__ = ["TrainConfig", "PRESETS", "lr_at", "adamw_step_numpy", "estimate_loss", "evaluate",
           "build_model", "make_optimizer", "train", "save_training_checkpoint",
           "load_training_checkpoint", "encode_splits", "main"]


@dataclass
class TrainConfig:
    """Everything that defines a training run: the model's shape and the optimisation."""
    # model (see utils.gpt.GPTConfig)
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 64
    dropout: float = 0.0
    bias: bool = True
    # optimisation
    batch_size: int = 32
    max_steps: int = 1000
    lr: float = 3e-3             # peak learning rate, reached after the warm-up
    min_lr: float = 3e-4         # the cosine ends here at max_steps
    warmup_steps: int = 50
    weight_decay: float = 0.1    # decoupled, on the 2-D weights only
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0       # max global gradient norm; 0 switches clipping off
    # bookkeeping
    eval_interval: int = 250     # steps between two estimates of the train/val loss
    eval_iters: int = 10         # batches per estimate
    eval_batch_size: int = 64
    seed: int = 1337             # model initialisation and batch order
    threads: int = 0             # torch CPU threads; 0 leaves PyTorch's default
    compile: bool = False        # torch.compile the model (utils.speed.compiled); its compile time counts

    def __post_init__(self):
        ints = ("batch_size", "max_steps", "eval_interval", "eval_iters", "eval_batch_size")
        for name in ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int (>= 1), got {value!r}")
        for name in ("warmup_steps", "seed", "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        if not checks.is_number(self.lr) or not self.lr > 0:
            raise ValueError(f"lr must be a number > 0, got {self.lr!r}")
        if not checks.is_number(self.min_lr) or not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"min_lr must be a number in [0, lr={self.lr}], got {self.min_lr!r}")
        if not checks.is_number(self.weight_decay) or self.weight_decay < 0:
            raise ValueError(f"weight_decay must be a number >= 0, got {self.weight_decay!r}")
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if not checks.is_number(value) or not 0 <= value < 1:
                raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
        if not checks.is_number(self.grad_clip) or self.grad_clip < 0:
            raise ValueError(f"grad_clip must be a number >= 0 (0 = no clipping), got {self.grad_clip!r}")
        if not isinstance(self.compile, bool):
            raise ValueError(f"compile must be True or False, got {self.compile!r}")
        self.model_config(1)  # validates the model fields

    def model_config(self, vocab_size: int) -> GPTConfig:
        return GPTConfig(vocab_size=vocab_size, block_size=self.block_size, n_layer=self.n_layer,
                         n_head=self.n_head, n_embd=self.n_embd, dropout=self.dropout, bias=self.bias)


#: Named configurations.
#:
#: * ``book``: the 2-minute CPU run of chapter 5 and ``benchmarks/train_speed.py``:
#:   2,600 steps of a 3-layer, 96-wide GPT (41-50 ms a step on 2 idle cores).  It
#:   is smaller than the pretrained model on purpose: for a 2-minute budget a smaller
#:   model that reads more text wins (chapter 5's scaling experiment).
#: * ``pretrained``: the checkpoint in ``data/pretrained`` (4 layers, 128 wide, block 128).
#: * ``gpu``: a larger run for a CUDA device (nanoGPT's Shakespeare shape; not measured
#:   for the book).
#: * ``tiny``: tests.
PRESETS = {
    "book": TrainConfig(n_layer=3, n_head=4, n_embd=96, batch_size=16, max_steps=2600, lr=3e-3, min_lr=3e-5,
                        warmup_steps=100, threads=2),
    "pretrained": TrainConfig(block_size=128, batch_size=32, max_steps=2000, lr=2e-3, min_lr=2e-4,
                              warmup_steps=100, eval_interval=250, eval_iters=20, threads=1),
    "gpu": TrainConfig(n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.2, batch_size=64,
                       max_steps=5000, lr=1e-3, min_lr=1e-4, warmup_steps=100, beta2=0.99,
                       eval_interval=250, eval_iters=50),
    "tiny": TrainConfig(n_layer=2, n_head=2, n_embd=32, block_size=16, batch_size=8, max_steps=20,
                        warmup_steps=5, eval_interval=10, eval_iters=2, eval_batch_size=8),
}


# --- data and evaluation --------------------------------------------------------------
def encode_splits(tokenizer: CharTokenizer | None = None):
    """``(tokenizer, train_ids, val_ids)``: the book's vocabulary and the train / validation
    plays as int64 tensors (validation = the held-out plays of ``utils.data.SPLITS``)."""
    if tokenizer is None:
        tokenizer, train_ids, val_ids = _encoded_book_splits()
        return tokenizer, train_ids.clone(), val_ids.clone()
    checks.instance(tokenizer, CharTokenizer, "tokenizer", "utils.data.CharTokenizer")
    try:
        train_ids = torch.tensor(tokenizer.encode(load_corpus("train")), dtype=torch.int64)
        val_ids = torch.tensor(tokenizer.encode(load_corpus("val")), dtype=torch.int64)
    except ValueError as e:
        raise ValueError(f"tokenizer cannot encode the corpus: {e}") from None
    return tokenizer, train_ids, val_ids


@functools.lru_cache(maxsize=1)
def _encoded_book_splits():
    """Encoding 4.4 M characters takes a few seconds: do it once per process."""
    tokenizer = CharTokenizer.from_text(load_corpus())
    return (tokenizer, torch.tensor(tokenizer.encode(load_corpus("train")), dtype=torch.int64),
            torch.tensor(tokenizer.encode(load_corpus("val")), dtype=torch.int64))


def _check_ids(name, ids, model: GPT):
    """``ids`` as a 1-D tensor of ids the model knows, long enough for one window."""
    checks.instance(model, GPT, "model", "utils.gpt.GPT")
    ids, block_size = checks.id_sequence(ids, name, model.config.vocab_size), model.config.block_size
    if len(ids) < block_size + 1:
        raise ValueError(f"{name} must hold at least block_size + 1 = {block_size + 1} tokens, "
                         f"got {len(ids)}")
    return ids


@torch.no_grad()
def estimate_loss(model: GPT, ids, batch_size: int = 64, iters: int = 10, seed: int = 0) -> float:
    """Mean loss over ``iters`` random batches of ``ids`` that depend only on ``seed``
    (the same batches at every call, so estimates during training are comparable)."""
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ValueError(f"iters must be an int >= 1, got {iters!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    ids, seed = _check_ids("ids", ids, model), checks.integer(seed, "seed")
    block_size = model.config.block_size
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    total = 0.0
    for _ in range(iters):
        x, y = get_batch(ids, block_size, batch_size, generator=gen, device=device)
        total += model(x, y)[1].item()
    model.train(was_training)
    return total / iters


@torch.no_grad()
def evaluate(model: GPT, ids, batch_size: int = 64) -> float:
    """Mean next-token loss (nats) over ALL of ``ids``, each token predicted once.

    The text is cut into consecutive windows of ``block_size + 1`` tokens
    overlapping by one (the last token of a window is the first input of the
    next), so every token after the first is a target exactly once; the last
    partial window is evaluated too.  ``exp`` of this number is the perplexity.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    checks.instance(model, GPT, "model", "utils.gpt.GPT")
    T = model.config.block_size
    ids = checks.id_sequence(ids, "ids", model.config.vocab_size, min_len=2).long()
    device = next(model.parameters()).device
    n_full = (len(ids) - 1) // T
    x_all = ids[: n_full * T].view(n_full, T)
    y_all = ids[1: n_full * T + 1].view(n_full, T)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, n_full, batch_size):
        x, y = x_all[i:i + batch_size].to(device), y_all[i:i + batch_size].to(device)
        loss = model(x, y)[1]
        total += loss.item() * y.numel()
        count += y.numel()
    rest = len(ids) - 1 - n_full * T
    if rest > 0:
        x = ids[n_full * T: n_full * T + rest][None].to(device)
        y = ids[n_full * T + 1:][None].to(device)
        total += model(x, y)[1].item() * rest
        count += rest
    model.train(was_training)
    return total / count


# --- the loop -------------------------------------------------------------------------
def build_model(cfg: TrainConfig, vocab_size: int, device="cpu") -> GPT:
    """A freshly initialised GPT of ``cfg``'s shape, seeded with ``cfg.seed``."""
    checks.instance(cfg, TrainConfig, "cfg")
    device = checks.device(device)
    torch.manual_seed(cfg.seed)
    return GPT(cfg.model_config(vocab_size)).to(device)


def make_optimizer(model: GPT, cfg: TrainConfig):
    """AdamW as GPT.configure_optimizer builds it (decay on matrices only; foreach on the
    CPU, fused on CUDA), with ``cfg``'s peak lr, betas and weight decay."""
    checks.instance(model, GPT, "model", "utils.gpt.GPT")
    checks.instance(cfg, TrainConfig, "cfg")
    return model.configure_optimizer(weight_decay=cfg.weight_decay, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))


def new_history() -> dict:
    """An empty record of a run; :func:`train` appends to it and resumes from ``history["step"]``.

    Per step: ``steps``, ``train_loss``, ``lr`` and ``grad_norm`` (the global L2 norm of all
    gradients *before* clipping, recorded whether clipping is on or off); per evaluation:
    ``eval_steps``, ``eval_train``, ``eval_val``.
    """
    return {"step": 0, "train_time_s": 0.0, "tokens": 0, "steps": [], "train_loss": [], "lr": [],
            "grad_norm": [], "eval_steps": [], "eval_train": [], "eval_val": []}


#: History keys that a run saved before they existed may lack (``train`` fills them with None).
_LATER_KEYS = ("grad_norm",)


def train(model: GPT, cfg: TrainConfig, train_ids, val_ids=None, *, optimizer=None, history=None,
          generator=None, steps=None, callback=None, progress=True, checkpoint_dir=None,
          checkpoint_interval=None) -> dict:
    """Train ``model`` on random windows of ``train_ids``; returns the run's ``history``.

    Each step: a batch from ``generator`` (seeded with ``cfg.seed`` if None), the
    learning rate of :func:`lr_at`, forward (through ``torch.compile`` if
    ``cfg.compile``), backward, global-norm clipping to ``cfg.grad_clip``, an AdamW step.  Every ``cfg.eval_interval`` steps and at
    the end, :func:`estimate_loss` on train and (if given) validation data is
    recorded and ``callback(history, model)`` is called (draw a plot, print a
    sample); also after the last step of the schedule (``cfg.max_steps``).  ``steps`` limits how many steps this call runs (default: up to
    ``cfg.max_steps``); pass the ``optimizer``, ``history`` and ``generator``
    back in (or from :func:`load_training_checkpoint`) to continue a run exactly.
    With ``checkpoint_dir`` a resumable checkpoint is written every
    ``checkpoint_interval`` steps (default: at each evaluation) and at the end.
    """
    checks.instance(model, GPT, "model", "utils.gpt.GPT")
    checks.instance(cfg, TrainConfig, "cfg")
    if model.config.block_size != cfg.block_size:
        raise ValueError(f"cfg.block_size ({cfg.block_size}) differs from the model's "
                         f"({model.config.block_size})")
    train_ids = _check_ids("train_ids", train_ids, model)
    val_ids = None if val_ids is None else _check_ids("val_ids", val_ids, model)
    _check_optimizer(optimizer, model)
    history = new_history() if history is None else _check_history(history, cfg.max_steps)
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps must be None or an int >= 1, got {steps!r}")
    checks.generator(generator)
    if callback is not None and not callable(callback):
        raise checks.ArgumentTypeError(f"callback must be None or a function (history, model), "
                                       f"got {callback!r}")
    checks.flag(progress, "progress")
    checkpoint_dir = None if checkpoint_dir is None else checks.folder(checkpoint_dir, "checkpoint_dir")
    start = history["step"]
    end = cfg.max_steps if steps is None else start + steps
    if end > cfg.max_steps:
        raise ValueError(f"steps: the run is at step {start} of max_steps={cfg.max_steps}, "
                         f"so at most {cfg.max_steps - start} more steps, got {steps}")
    if checkpoint_interval is not None:
        checks.integer(checkpoint_interval, "checkpoint_interval", 1)
    if cfg.threads and next(model.parameters()).device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    device = next(model.parameters()).device
    optimizer = optimizer or make_optimizer(model, cfg)
    generator = generator or torch.Generator().manual_seed(cfg.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    forward = speed.compiled(model) if cfg.compile else model     # compiles at its first call, timed
    ckpt_every = checkpoint_interval or cfg.eval_interval

    def record_eval(step):
        history["eval_steps"].append(step)
        history["eval_train"].append(estimate_loss(model, train_ids, cfg.eval_batch_size, cfg.eval_iters, seed=1))
        history["eval_val"].append(None if val_ids is None else
                                   estimate_loss(model, val_ids, cfg.eval_batch_size, cfg.eval_iters, seed=2))
        if callback is not None:
            callback(history, model)

    model.train()
    bar = _tqdm(total=end - start, disable=not progress, desc="training", leave=True)
    for step in range(start, end):
        t0 = time.perf_counter()
        lr = lr_at(step, cfg.lr, min(cfg.warmup_steps, cfg.max_steps), cfg.max_steps, cfg.min_lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch(train_ids, cfg.block_size, cfg.batch_size, generator=generator, device=device)
        _, loss = forward(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:         # returns the norm before clipping
            grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        else:                         # measured anyway (one fused norm per step: negligible)
            grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        optimizer.step()
        loss_value = loss.item()
        history["train_time_s"] += time.perf_counter() - t0
        history["step"] = step + 1
        history["tokens"] += x.numel()
        history["steps"].append(step + 1)
        history["train_loss"].append(loss_value)
        history["lr"].append(lr)
        history["grad_norm"].append(grad_norm.item())
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.3f}", lr=f"{lr:.1e}", refresh=False)
        if (step + 1) % cfg.eval_interval == 0 or step + 1 == cfg.max_steps:
            record_eval(step + 1)
            if val_ids is not None:
                bar.set_postfix(loss=f"{loss_value:.3f}", val=f"{history['eval_val'][-1]:.3f}", refresh=False)
        if checkpoint_dir is not None and ((step + 1) % ckpt_every == 0 or step + 1 == end):
            save_training_checkpoint(checkpoint_dir, model, optimizer, cfg, history, generator)
    bar.close()
    return history


def _check_optimizer(optimizer, model):
    if optimizer is None:
        return
    checks.instance(optimizer, torch.optim.Optimizer, "optimizer", "torch.optim.Optimizer")
    mine = {id(p) for p in model.parameters()}
    theirs = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if not theirs or not theirs <= mine:
        raise ValueError("optimizer must optimise the model's own parameters (make it with make_optimizer)")


def _check_history(history, max_steps):
    if not isinstance(history, dict) or set(new_history()) - set(_LATER_KEYS) - set(history):
        raise checks.ArgumentTypeError(f"history must be the dict that train returned, with the keys "
                                       f"{sorted(new_history())}, got {type(history).__name__}")
    checks.integer(history["step"], "history['step']", 0, max_steps)
    for key in _LATER_KEYS:           # an older history: the steps it ran have no record of this
        history.setdefault(key, [None] * len(history["steps"]))
    return history


def _tqdm(**kwargs):
    from tqdm.auto import tqdm
    return tqdm(**kwargs)


# --- command line ---------------------------------------------------------------------
def _parse(argv):
    p = argparse.ArgumentParser(prog="python -m utils.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="book",
                   help="named configuration (default: book, chapter 5's 2-minute CPU run)")
    p.add_argument("--out", required=True, help="directory for the checkpoint")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--device", default=None, help="cpu or cuda (default: the best available)")
    for f in fields(TrainConfig):
        kind = {"bool": lambda s: s.lower() in ("1", "true", "yes")}.get(f.type, None) or \
            {"int": int, "float": float}[f.type]
        p.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=None,
                       help=f"override the preset's {f.name}")
    p.add_argument("--no-optimizer", action="store_true",
                   help="save only model, config and vocabulary (no resumable state)")
    p.add_argument("--val-tokens", type=int, default=0,
                   help="evaluate the final model on the first N held-out tokens only (default 0: all)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv if argv is None else checks.strings(argv, "argv", nonempty=False))


def main(argv=None) -> dict:
    """``python -m utils.train --preset NAME --out DIR [--resume] [--max-steps N ...]``."""
    import utils

    args = _parse(argv)
    if args.val_tokens < 0:                       # every argument is checked before the corpus is encoded
        raise ValueError(f"--val-tokens must be >= 0 (0 = all), got {args.val_tokens}")
    device = checks.device(args.device, "--device") if args.device else utils.device()
    if args.resume:
        model, optimizer, cfg, history, generator = load_training_checkpoint(args.out, device=device)
        tokenizer, train_ids, val_ids = encode_splits()
    else:
        overrides = {f.name: getattr(args, f.name) for f in fields(TrainConfig)
                     if getattr(args, f.name) is not None}
        cfg = replace(PRESETS[args.preset], **overrides)
        tokenizer, train_ids, val_ids = encode_splits()
        if cfg.threads and device.type == "cpu":
            torch.set_num_threads(cfg.threads)
        model = build_model(cfg, tokenizer.vocab_size, device)
        optimizer, history = make_optimizer(model, cfg), None
        generator = torch.Generator().manual_seed(cfg.seed)
    print(f"{'resumed' if args.resume else args.preset}: {model.num_params():,} parameters, {cfg.max_steps} steps of "
          f"{cfg.batch_size} x {cfg.block_size} tokens on {device} ({torch.get_num_threads()} threads)",
          flush=True)

    def report(hist, m):
        sample = m.generate(torch.tensor([tokenizer.encode("\n")], device=device), 120, temperature=0.8,
                            top_k=20, generator=torch.Generator(device=device).manual_seed(0))
        line = (f"step {hist['step']:>6}: train {hist['eval_train'][-1]:.4f}  val {hist['eval_val'][-1]:.4f}"
                f"  ({hist['train_time_s']:.0f} s of training)")
        _tqdm_write(line + "\n" + tokenizer.decode(sample[0].tolist()).strip()[:120].replace("\n", " | "))

    if history is not None and history["step"] >= cfg.max_steps:
        print(f"{args.out} is already at step {history['step']} = max_steps: nothing to resume")
        return json.loads((Path(args.out) / CONFIG_FILE).read_text())["results"]
    history = train(model, cfg, train_ids, val_ids, optimizer=optimizer, history=history,
                    generator=generator, callback=report, progress=not args.quiet,
                    checkpoint_dir=None if args.no_optimizer else args.out)
    optimizer_for_save = None if args.no_optimizer else optimizer
    eval_ids = val_ids[:args.val_tokens] if args.val_tokens else val_ids
    val_loss = evaluate(model, eval_ids, batch_size=64)
    command = "python -m utils.train " + " ".join(sys.argv[1:] if argv is None else argv)
    results = dict(command=command, val_loss=round(val_loss, 4), val_targets=len(eval_ids) - 1, val_perplexity=round(math.exp(val_loss), 3),
                   train_time_s=round(history["train_time_s"], 1), tokens=history["tokens"],
                   threads=torch.get_num_threads(), device=str(device), torch=torch.__version__,
                   split="train = all plays except utils.data.SPLITS['val'] and ['test']; "
                         "val = " + ", ".join(_val_names()))
    save_training_checkpoint(args.out, model, optimizer_for_save, cfg, history, generator, tokenizer, **results)
    print(f"val loss ({len(eval_ids) - 1:,} held-out targets): {val_loss:.4f} nats, perplexity "
          f"{math.exp(val_loss):.3f}; {history['train_time_s']:.0f} s of training; saved to {args.out}")
    return results


def _val_names():
    from utils.data import SPLITS
    return SPLITS["val"]


def _tqdm_write(text):
    from tqdm.auto import tqdm
    tqdm.write(text)


if __name__ == "__main__":
    main()
