"""Helpers for *Large Language Models: Principles and Code*.

Each module has one concern and says in which chapter it is built:

- ``utils.data``   the Shakespeare corpus, splits, character tokenizer, batches (chapter 1)
- ``utils.plots``  the book's figure style
- ``utils.checks`` the argument checks every module shares (bad input gets a clear error)

This top level holds the three things every chapter calls first:
:func:`set_seed`, :func:`device` and :func:`print_versions`.
"""
from __future__ import annotations

import os
import random

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the book

__all__ = ["set_seed", "device", "print_versions"]


def set_seed(seed: int) -> None:
    """Seed Python, NumPy, PyTorch and TensorFlow/Keras so a chapter reruns identically."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    try:
        import keras
    except ImportError:      # TensorFlow is optional for chapters that use only PyTorch
        return
    keras.utils.set_random_seed(seed)


def device():
    """The best available ``torch.device``: CUDA, then Apple's MPS, then the CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def print_versions(packages=("python", "numpy", "torch", "tensorflow", "keras", "transformers")) -> None:
    """Print the versions of the main libraries, to compare when a number differs."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from utils import checks

    for name in checks.strings(packages, "packages", nonempty=False):
        if name == "python":
            v = platform.python_version()
        else:
            try:
                v = version(name)
            except PackageNotFoundError:
                v = "not installed"
        print(f"{name:>12}: {v}")
