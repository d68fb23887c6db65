"""Resumable training checkpoints for :func:`utils.train.train` (chapter 5).

One concern: write a training run to a folder and read it back so that it continues
exactly (the same losses, step by step, as a run that never stopped):

* :func:`save_training_checkpoint` -- ``model.safetensors`` (weights, with the
  :class:`utils.gpt.GPTConfig` in the metadata), ``config.json`` (model and
  :class:`utils.train.TrainConfig`, plus any results), optionally ``vocab.json``, and, for
  a resumable checkpoint, ``optimizer.safetensors`` (AdamW's moments and step counts, the
  batch generator's state) and ``trainer_state.json`` (the history);
* :func:`load_training_checkpoint` -- the inverse: ``(model, optimizer, cfg, history,
  generator)``, ready to pass back to :func:`utils.train.train`.

Both are re-exported by :mod:`utils.train` (the chapters call ``tr.save_training_checkpoint``).
Only ``safetensors`` and JSON are read: no pickle.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from utils import checks
from utils.data import CharTokenizer
from utils.gpt import GPT, save_checkpoint

if TYPE_CHECKING:
    from utils.train import TrainConfig

__all__ = ["save_training_checkpoint", "load_training_checkpoint",
           "MODEL_FILE", "CONFIG_FILE", "VOCAB_FILE", "OPTIMIZER_FILE", "STATE_FILE"]

MODEL_FILE, CONFIG_FILE, VOCAB_FILE = "model.safetensors", "config.json", "vocab.json"
OPTIMIZER_FILE, STATE_FILE = "optimizer.safetensors", "trainer_state.json"


def save_training_checkpoint(directory, model: GPT, optimizer, cfg: TrainConfig, history: dict,
                             generator=None, tokenizer: CharTokenizer | None = None, **results) -> Path:
    """Write a checkpoint directory; returns its path.

    ``model.safetensors`` (weights, GPTConfig in the metadata), ``config.json``
    (``{"model": GPTConfig, "train": TrainConfig, "results": {...}}``) and, if a
    ``tokenizer`` is given, ``vocab.json`` (its characters).  When an
    ``optimizer`` is given, also ``optimizer.safetensors`` (AdamW's moments and
    step counts, and the batch generator's state) and ``trainer_state.json`` (the
    history), which :func:`load_training_checkpoint` needs to resume.
    """
    from safetensors.torch import save_file

    from utils.train import TrainConfig, _check_optimizer   # here: utils.train imports this module

    directory = checks.folder(directory)
    checks.instance(model, GPT, "model", "utils.gpt.GPT")
    _check_optimizer(optimizer, model)
    checks.instance(cfg, TrainConfig, "cfg")
    if not isinstance(history, dict) or "step" not in history:
        raise checks.ArgumentTypeError("history must be a dict with a 'step' (as train returns it)")
    checks.integer(history["step"], "history['step']", 0)
    checks.generator(generator)
    if tokenizer is not None and (not isinstance(tokenizer, CharTokenizer)
                                  or tokenizer.vocab_size != model.config.vocab_size):
        raise ValueError(f"tokenizer must be None or the model's CharTokenizer "
                         f"(vocab_size {model.config.vocab_size}), got {tokenizer!r}")
    meta = {"model": asdict(model.config), "train": asdict(cfg),
            "results": {"step": history["step"], **results}}
    try:
        texts = json.dumps(meta, indent=2) + "\n", json.dumps(history) + "\n"
    except (TypeError, ValueError) as e:
        raise ValueError(f"results and history must hold JSON values (str, numbers, lists, dicts): "
                         f"{e}") from None
    directory.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model, directory / MODEL_FILE, step=history["step"])
    (directory / CONFIG_FILE).write_text(texts[0])
    if tokenizer is not None:
        (directory / VOCAB_FILE).write_text(json.dumps(tokenizer.chars, ensure_ascii=False) + "\n")
    if optimizer is not None:
        tensors, index = {}, {id(p): i for i, p in enumerate(model.parameters())}
        for group in optimizer.param_groups:
            for p in group["params"]:
                for key, value in optimizer.state.get(p, {}).items():
                    tensors[f"{index[id(p)]}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
        if generator is not None:
            tensors["generator_state"] = generator.get_state()
        save_file(tensors, str(directory / OPTIMIZER_FILE))
        (directory / STATE_FILE).write_text(texts[1])
    return directory


def load_training_checkpoint(directory, device="cpu"):
    """Load what :func:`save_training_checkpoint` wrote, ready to resume training.

    Returns ``(model, optimizer, cfg, history, generator)``; pass them to
    :func:`train` to continue exactly where the saved run stopped.
    """
    from safetensors.torch import load_file

    from utils.gpt import load_checkpoint
    from utils.train import TrainConfig, make_optimizer

    directory, device = checks.folder(directory, exists=True), checks.device(device)
    for name in (MODEL_FILE, CONFIG_FILE, OPTIMIZER_FILE, STATE_FILE):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory / name} is missing: not a resumable checkpoint "
                                    f"(save one with save_training_checkpoint(..., optimizer=...))")
    meta = checks.json_file(directory / CONFIG_FILE, "directory")
    try:
        cfg = TrainConfig(**meta["train"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"directory: {directory / CONFIG_FILE} has no valid TrainConfig under 'train' "
                         f"({e})") from None
    model = load_checkpoint(directory / MODEL_FILE, device=device)
    optimizer = make_optimizer(model, cfg)
    _, shapes = checks.safetensors_file(directory / OPTIMIZER_FILE, "directory")
    params = list(model.parameters())
    bad = [n for n, shape in shapes.items() if n != "generator_state" and not (
        n.split(".")[0].isdigit() and int(n.split(".")[0]) < len(params)
        and (n.endswith(".step") or shape == tuple(params[int(n.split(".")[0])].shape)))]
    if bad:
        raise ValueError(f"directory: {directory / OPTIMIZER_FILE} does not hold this model's AdamW state "
                         f"(e.g. {bad[0]} {shapes[bad[0]]})")
    tensors = load_file(str(directory / OPTIMIZER_FILE))
    for name, value in tensors.items():
        if name == "generator_state":
            continue
        i, key = name.split(".", 1)
        p = params[int(i)]
        value = value.to(device) if key != "step" else value
        optimizer.state[p][key] = value
    generator = torch.Generator()
    if "generator_state" in tensors:
        generator.set_state(tensors["generator_state"])
    history = checks.json_file(directory / STATE_FILE, "directory")
    if not isinstance(history, dict) or "step" not in history:
        raise ValueError(f"directory: {directory / STATE_FILE} is not a training history "
                         "(a dict with 'step')")
    return model, optimizer, cfg, history, generator
