"""Vector-space methods: texts as count vectors, cosine search, a linear classifier.

Built in chapter 7 (applications) for the baselines every neural method must
beat, and for what is done with any vectors (counts or a GPT's features):

- :func:`bag_of_chars`, :func:`build_vocab`, :func:`bag_of_words`, :func:`tfidf`:
  texts as vectors without a neural network;
- :func:`cosine_scores`, :func:`label_scores`: retrieval by cosine similarity, and
  the score of each answer (speaker, play) as the best score of its documents;
- :func:`fit_linear`, :func:`predict_proba`: multinomial logistic regression
  (softmax regression) with an L2 penalty, fitted by full-batch L-BFGS in PyTorch,
  on standardised features.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import torch

from utils import checks
from utils.apps_metrics import words

__all__ = ["bag_of_chars", "build_vocab", "bag_of_words", "tfidf", "cosine_scores",
           "label_scores", "fit_linear", "predict_proba"]


def _check_texts(texts):
    return checks.strings(texts, "texts")


def bag_of_chars(texts, chars) -> np.ndarray:
    """``(n_texts, len(chars))`` character frequencies (each row sums to 1; order forgotten)."""
    texts = _check_texts(texts)
    chars = list(chars) if isinstance(chars, str) else checks.strings(chars, "chars", nonempty=False)
    if not chars or len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
        raise ValueError("chars must be a non-empty sequence of distinct characters")
    index = {c: i for i, c in enumerate(chars)}
    X = np.zeros((len(texts), len(chars)))
    for r, t in enumerate(texts):
        for c, k in Counter(t).items():
            if c not in index:
                raise ValueError(f"text {r} has a character outside chars: {c!r}")
            X[r, index[c]] = k
    return X / np.maximum(X.sum(axis=1, keepdims=True), 1)


def build_vocab(texts, max_size: int = 5000, min_count: int = 2) -> list[str]:
    """The ``max_size`` most frequent words (see :func:`utils.apps_metrics.words`) seen at
    least ``min_count`` times, most frequent first (ties alphabetical)."""
    texts = _check_texts(texts)
    for name, v in (("max_size", max_size), ("min_count", min_count)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    counts = Counter(w for t in texts for w in words(t))
    ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return ranked[:max_size]


def bag_of_words(texts, vocab) -> np.ndarray:
    """``(n_texts, len(vocab))`` word counts; words outside ``vocab`` are ignored."""
    texts = _check_texts(texts)
    index = {w: i for i, w in enumerate(checks.strings(vocab, "vocab", nonempty=False))}
    if not index:
        raise ValueError("vocab must not be empty")
    X = np.zeros((len(texts), len(index)))
    for r, t in enumerate(texts):
        for w, k in Counter(words(t)).items():
            if w in index:
                X[r, index[w]] = k
    return X


def tfidf(counts, idf=None):
    """TF-IDF rows, L2-normalised, and the idf used: ``(weights, idf)``.

    ``idf_j = ln((1 + N) / (1 + df_j)) + 1`` from the ``N`` rows of ``counts``
    (``df_j``: rows where word j occurs), unless ``idf`` is given (fit on the
    documents, reuse for the queries). Rare words weigh more than common ones.
    """
    counts = checks.float_array(counts, "counts", dtype=np.float64)
    if counts.ndim != 2 or (counts < 0).any():
        raise ValueError(f"counts must be a 2-D array of non-negative counts, got shape {counts.shape}")
    if idf is None:
        df = (counts > 0).sum(axis=0)
        idf = np.log((1 + len(counts)) / (1 + df)) + 1
    idf = checks.float_array(idf, "idf", dtype=np.float64)
    if idf.shape != (counts.shape[1],):
        raise ValueError(f"idf must have shape ({counts.shape[1]},), got {idf.shape}")
    W = counts * idf
    return W / np.maximum(np.linalg.norm(W, axis=1, keepdims=True), 1e-12), idf


def cosine_scores(queries, docs) -> np.ndarray:
    """``(n_queries, n_docs)`` cosine similarities (an all-zero row scores 0 with everything)."""
    Q = checks.float_array(queries, "queries", dtype=np.float64)
    D = checks.float_array(docs, "docs", dtype=np.float64)
    if Q.ndim != 2 or D.ndim != 2 or Q.shape[1] != D.shape[1]:
        raise ValueError(f"queries and docs must be 2-D with the same width, got {Q.shape} and {D.shape}")
    Q = Q / np.maximum(np.linalg.norm(Q, axis=1, keepdims=True), 1e-12)
    D = D / np.maximum(np.linalg.norm(D, axis=1, keepdims=True), 1e-12)
    return Q @ D.T


def label_scores(doc_scores, doc_labels, n_labels: int) -> np.ndarray:
    """``(n_queries, n_labels)``: each label's score is the best score among its documents
    (``-inf`` for a label with no document, or whose documents all score ``-inf``)."""
    S = checks.float_array(doc_scores, "doc_scores", dtype=np.float64)
    lab = checks.int_array(doc_labels, "doc_labels")
    if S.ndim != 2 or lab.shape != (S.shape[1],):
        raise ValueError(f"doc_scores must be (n_queries, n_docs) and doc_labels (n_docs,), "
                         f"got {S.shape} and {lab.shape}")
    if isinstance(n_labels, bool) or not isinstance(n_labels, int) or n_labels < 1 \
            or lab.min() < 0 or lab.max() >= n_labels:
        raise ValueError(f"n_labels must be an int > every label in doc_labels, got {n_labels!r}")
    out = np.full((S.shape[0], n_labels), -np.inf)
    for j in range(n_labels):
        cols = lab == j
        if cols.any():
            out[:, j] = S[:, cols].max(axis=1)
    return out


def fit_linear(X, y, n_classes: int, l2: float = 1e-2, max_iter: int = 200) -> dict:
    """Softmax regression: minimise mean cross-entropy + ``l2 * ||W||^2``.

    Features are standardised with the training mean and standard deviation
    (stored in the returned dict with ``W``, ``b``); the fit is deterministic.
    """
    X, y = checks.float_array(X, "X", dtype=np.float64), checks.int_array(y, "y")
    if X.ndim != 2 or y.shape != (X.shape[0],) or len(y) == 0:
        raise ValueError(f"X must be (n, d) and y (n,), got {X.shape} and {y.shape}")
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2 \
            or y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"n_classes must be an int >= 2 above every label, got {n_classes!r}")
    checks.number(l2, "l2", 0)
    checks.integer(max_iter, "max_iter", 1)
    mean, std = X.mean(axis=0), X.std(axis=0) + 1e-8
    Xt, yt = torch.tensor((X - mean) / std), torch.tensor(y)
    W = torch.zeros(X.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    # tolerances below torch's defaults (1e-7, 1e-9), which stop with probabilities ~1e-4 from
    # the optimum; these reach it to ~1e-8 (tests/test_metrics_libraries.py, against scikit-learn)
    opt = torch.optim.LBFGS([W, b], lr=1.0, max_iter=max_iter, tolerance_grad=1e-10,
                            tolerance_change=1e-14, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(Xt @ W + b, yt) + l2 * (W ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return {"W": W.detach().numpy(), "b": b.detach().numpy(), "mean": mean, "std": std}


def predict_proba(clf: dict, X) -> np.ndarray:
    """Class probabilities ``(n, n_classes)`` from a classifier made by :func:`fit_linear`."""
    if not isinstance(clf, dict) or {"W", "b", "mean", "std"} - set(clf):
        raise checks.ArgumentTypeError("clf must be the dict fit_linear returns (W, b, mean, std)")
    X = checks.float_array(X, "X", dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != clf["W"].shape[0]:
        raise ValueError(f"X must be (n, {clf['W'].shape[0]}), got {X.shape}")
    z = (X - clf["mean"]) / clf["std"] @ clf["W"] + clf["b"]
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)
