"""The book's figure style: one look for every plot.

``import utils.plots`` applies the style; :func:`loss_curves` draws the
train/validation curves that several chapters show.
"""
from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt

#: Colours used in this order throughout the book (colour-blind safe, Okabe-Ito).
COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
CMAP = "viridis"  # one colour map for every heat map


def use_book_style() -> None:
    """Apply the book's matplotlib settings (called on import)."""
    mpl.rcParams.update({
        "figure.figsize": (6.4, 3.6),
        "figure.dpi": 100,
        "savefig.dpi": 100,
        "axes.prop_cycle": mpl.cycler(color=COLORS),
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "font.size": 10,
        "legend.frameon": False,
        "image.cmap": CMAP,
    })


def loss_curves(curves: dict, xlabel: str = "step", ylabel: str = "loss (nats/token)", title=None, ax=None):
    """Plot several ``name -> (steps, values)`` curves on one axis and return the axis."""
    if not curves:
        raise ValueError("curves must name at least one curve")
    if ax is None:
        _, ax = plt.subplots()
    for name, (steps, values) in curves.items():
        if len(steps) != len(values):
            raise ValueError(f"curve {name!r}: {len(steps)} steps but {len(values)} values")
        ax.plot(steps, values, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


use_book_style()
