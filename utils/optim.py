"""The optimisation maths of chapter 5, written out: the learning-rate schedule and one AdamW step.

* :func:`lr_at` -- linear warm-up, then cosine decay to ``min_lr``;
* :func:`adamw_step_numpy` -- one AdamW update in NumPy (moments, bias correction,
  decoupled weight decay), the reference that chapter 5 and ``tests/test_train.py``
  check ``torch.optim.AdamW`` against.

:mod:`utils.train`'s loop uses both (and re-exports them).
"""
from __future__ import annotations

import math

import numpy as np

from utils import checks

__all__ = ["lr_at", "adamw_step_numpy"]


# --- learning-rate schedule ----------------------------------------------------------
def lr_at(step: int, max_lr: float, warmup_steps: int, max_steps: int, min_lr: float = 0.0) -> float:
    """The learning rate for optimisation step ``step`` (0-based).

    Linear warm-up ``max_lr * (step + 1) / warmup_steps`` for the first
    ``warmup_steps`` steps, then a half cosine from ``max_lr`` down to
    ``min_lr`` at ``step == max_steps``; ``min_lr`` after that.
    """
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise ValueError(f"step must be an int >= 0, got {step!r}")
    if not checks.is_number(max_lr) or not max_lr > 0:
        raise ValueError(f"max_lr must be a number > 0, got {max_lr!r}")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be an int >= 1, got {max_steps!r}")
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or not 0 <= warmup_steps <= max_steps:
        raise ValueError(f"warmup_steps must be an int in [0, max_steps={max_steps}], got {warmup_steps!r}")
    if not checks.is_number(min_lr) or not 0 <= min_lr <= max_lr:
        raise ValueError(f"min_lr must be a number in [0, max_lr={max_lr}], got {min_lr!r}")
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= max_steps:
        return min_lr
    progress = (step - warmup_steps) / max(1, max_steps - warmup_steps)   # 0 -> 1
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (max_lr - min_lr)


# --- AdamW, written out -------------------------------------------------------------
def adamw_step_numpy(param, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    """One AdamW update of one parameter array; returns ``(param, m, v)`` (new arrays).

    ``t`` is the number of this step, counted from 1.  Decoupled weight decay
    (Loshchilov & Hutter) shrinks the weights directly, outside the adaptive
    scaling; then Adam (Kingma & Ba) with bias-corrected moments::

        param <- param * (1 - lr * weight_decay)
        m <- beta1 m + (1 - beta1) g          v <- beta2 v + (1 - beta2) g^2
        m_hat = m / (1 - beta1^t)             v_hat = v / (1 - beta2^t)
        param <- param - lr * m_hat / (sqrt(v_hat) + eps)

    This is the order ``torch.optim.AdamW`` uses.
    """
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 1:
        raise ValueError(f"t must be the step number, an int >= 1, got {t!r}")
    if not checks.is_number(lr) or lr < 0:
        raise ValueError(f"lr must be a number >= 0, got {lr!r}")
    for name, b in (("beta1", beta1), ("beta2", beta2)):
        if not checks.is_number(b) or not 0 <= b < 1:
            raise ValueError(f"{name} must be a number in [0, 1), got {b!r}")
    if not checks.is_number(weight_decay) or weight_decay < 0:
        raise ValueError(f"weight_decay must be a number >= 0, got {weight_decay!r}")
    checks.number(eps, "eps", 0)
    param, grad, m, v = (checks.float_array(a, name)
                         for a, name in ((param, "param"), (grad, "grad"), (m, "m"), (v, "v")))
    if not (param.shape == grad.shape == m.shape == v.shape):
        raise ValueError(f"param, grad, m, v must have one shape, got "
                         f"{param.shape}, {grad.shape}, {m.shape}, {v.shape}")
    param = param * (1 - lr * weight_decay)
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    param = param - lr * m_hat / (np.sqrt(v_hat) + eps)
    return param, m, v
