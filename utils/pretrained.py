"""The book's small pretrained character-level GPT (made in chapter 5, used in chapters 6-7).

``data/pretrained/`` holds three files written by ``utils.train``'s entry point:

* ``model.safetensors`` -- the weights (the GPTConfig is also in its metadata);
* ``config.json`` -- ``{"model": GPTConfig fields, "train": TrainConfig fields,
  "results": {command, steps, val_loss, ...}}``;
* ``vocab.json`` -- the characters of the vocabulary, in id order.

    model, tokenizer = load_pretrained()
    ids = torch.tensor([tokenizer.encode("ROMEO:\\n")])
    print(tokenizer.decode(model.generate(ids, 200, temperature=0.8)[0].tolist()))

``data/README.md`` records how the checkpoint was made and its validation loss.
"""
from __future__ import annotations

from pathlib import Path

from utils import checks
from utils.data import CharTokenizer
from utils.gpt import GPT, GPTConfig

__all__ = ["PRETRAINED_DIR", "MAKE_COMMAND", "load_pretrained", "pretrained_info"]

#: Where the checkpoint lives (found from the package, so any working directory works).
PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "data" / "pretrained"
#: The one command that (re)creates it, run from the repository root.
MAKE_COMMAND = ".venv/bin/python -m utils.train --preset pretrained --out data/pretrained --no-optimizer"
FILES = ("model.safetensors", "config.json", "vocab.json")


def _check(directory: Path) -> None:
    missing = [name for name in FILES if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"the pretrained checkpoint is incomplete: {', '.join(str(directory / m) for m in missing)} "
            f"missing. Create it from the repository root with:\n    {MAKE_COMMAND}\n"
            f"(2,000 steps: about 40 minutes on a busy 2-core machine; see data/README.md)")


def pretrained_info(directory=None) -> dict:
    """The checkpoint's ``config.json`` as a dict (model shape, training run, results)."""
    directory = checks.folder(directory) if directory is not None else PRETRAINED_DIR
    _check(directory)
    info = checks.json_file(directory / "config.json", "directory")
    if not isinstance(info, dict) or not isinstance(info.get("model"), dict):
        raise ValueError(f"directory: {directory / 'config.json'} has no 'model' settings (a GPTConfig)")
    return info


def load_pretrained(device="cpu", directory=None) -> tuple[GPT, CharTokenizer]:
    """``(model, tokenizer)``: the book's pretrained GPT (in eval mode) and its CharTokenizer.

    ``device``: where to put the weights ("cpu", "cuda", a torch.device).
    ``directory``: another checkpoint directory of the same layout (default
    ``data/pretrained``).  Raises FileNotFoundError naming the command that
    makes the checkpoint when a file is missing.
    """
    from safetensors.torch import load_model

    directory = checks.folder(directory) if directory is not None else PRETRAINED_DIR
    device = checks.device(device)
    info = pretrained_info(directory)
    vocab = directory / "vocab.json"
    chars = checks.json_file(vocab, "directory")
    try:
        tokenizer = CharTokenizer(chars)
    except ValueError as e:
        raise ValueError(f"directory: {vocab} is not a list of characters ({e})") from None
    if tokenizer.chars != chars:
        raise ValueError(f"{vocab} must list distinct characters in sorted order")
    try:
        config = GPTConfig(**info["model"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"directory: {directory / 'config.json'} 'model' is not a GPTConfig ({e})") from None
    if config.vocab_size != tokenizer.vocab_size:
        raise ValueError(f"directory {directory}: config vocab_size {config.vocab_size} != "
                         f"{tokenizer.vocab_size} characters in vocab.json")
    model = GPT(config)
    _, shapes = checks.safetensors_file(directory / "model.safetensors", "directory")
    checks.tensors_match(model, shapes, f"directory: {directory / 'model.safetensors'}",
                         f"config.json's {config}")
    load_model(model, str(directory / "model.safetensors"), device=str(device))
    return model.to(device).eval(), tokenizer
