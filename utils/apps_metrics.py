"""Metrics for judging applications of a language model, written from scratch.

Built in chapter 7 (applications): each function is small enough to check by
hand, and the chapter and ``tests/test_apps.py`` check them against values
worked out on paper, and ``tests/test_metrics_libraries.py`` against the field's
libraries (sacrebleu, rouge-score, scikit-learn) on the same inputs.

- generation:      :func:`distinct_n` (from ``utils.decoding``), :func:`overlap_rate` (n-grams shared with a reference set)
- classification:  :func:`accuracy`, :func:`confusion_matrix`
- retrieval / QA:  :func:`top_k_accuracy`
- summarisation:   :func:`rouge_n` (clipped n-gram overlap: precision, recall, F1)
- translation:     :func:`exact_match`, :func:`char_bleu` (corpus BLEU over characters),
                   :func:`chrf` (corpus chrF: F-score of character n-grams, spaces removed)
- privacy:         :func:`exposure` (of a planted secret, from its rank among candidates)

Words are cut by :func:`words` (lower-case letters and apostrophes), so every
metric here sees the same tokens.
"""
from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

from utils import checks
from utils.decoding import distinct_n  # chapter 6's, for any tokens (here: words)

__all__ = ["words", "ngrams", "distinct_n", "overlap_rate", "accuracy", "confusion_matrix",
           "top_k_accuracy", "rouge_n", "exact_match", "char_bleu", "chrf", "exposure"]

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` (letters, with inner apostrophes: ``"o'er"``, ``"call'd"``)."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    return _WORD.findall(text.lower())


def _check_n(n, name="n"):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name} must be an int >= 1, got {n!r}")


def _sequence(tokens, name="tokens") -> list:
    if not hasattr(tokens, "__iter__"):
        raise checks.ArgumentTypeError(f"{name} must be a sequence of tokens (a str, words, ids), "
                                       f"got {type(tokens).__name__}")
    return list(tokens)


def ngrams(tokens, n: int) -> list[tuple]:
    """The ``len(tokens) - n + 1`` n-grams of a token sequence, as tuples (none if it is shorter)."""
    _check_n(n)
    tokens = _sequence(tokens)
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def overlap_rate(tokens, reference_ngrams, n: int) -> float:
    """Fraction of the n-grams of ``tokens`` that occur in the set ``reference_ngrams``.

    With the training text's n-grams as the reference, this measures how much of
    a generated text is copied from it (verbatim overlap).
    """
    if not hasattr(reference_ngrams, "__contains__"):
        raise checks.ArgumentTypeError(f"reference_ngrams must be a set of n-gram tuples, got "
                                       f"{type(reference_ngrams).__name__}")
    grams = ngrams(tokens, n)
    if not grams:
        raise ValueError(f"tokens must have at least n = {n} items, got {len(list(tokens))}")
    return sum(g in reference_ngrams for g in grams) / len(grams)


def accuracy(y_true, y_pred) -> float:
    """Fraction of positions where ``y_pred`` equals ``y_true``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or len(y_true) == 0:
        raise ValueError(f"y_true and y_pred must be 1-D and of the same non-zero length, "
                         f"got shapes {y_true.shape} and {y_pred.shape}")
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """``C[i, j]`` = how many items of true class ``i`` were predicted as class ``j``."""
    _check_n(n_classes, "n_classes")
    y_true, y_pred = checks.int_array(y_true, "y_true"), checks.int_array(y_pred, "y_pred")
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D and of the same length, "
                         f"got shapes {y_true.shape} and {y_pred.shape}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if len(y) and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"{name} must hold class ids in [0, {n_classes - 1}]")
    C = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(C, (y_true, y_pred), 1)
    return C


def top_k_accuracy(scores, answers, k: int) -> float:
    """Fraction of queries whose answer is among the ``k`` highest-scoring candidates.

    ``scores`` is ``(n_queries, n_candidates)``; ``answers`` holds each query's
    correct candidate index.  The answer's rank is the number of candidates that
    score strictly higher, so ties are resolved in the answer's favour.
    """
    _check_n(k, "k")
    scores = checks.float_array(scores, "scores", dtype=np.float64)
    answers = checks.int_array(answers, "answers")
    if scores.ndim != 2 or answers.shape != (scores.shape[0],):
        raise ValueError(f"scores must be (n_queries, n_candidates) and answers (n_queries,), "
                         f"got {scores.shape} and {answers.shape}")
    if len(answers) == 0 or answers.min() < 0 or answers.max() >= scores.shape[1]:
        raise ValueError(f"answers must be candidate indices in [0, {scores.shape[1] - 1}]")
    own = scores[np.arange(len(answers)), answers]
    rank = (scores > own[:, None]).sum(axis=1)
    return float(np.mean(rank < k))


def rouge_n(summary, reference, n: int = 1) -> dict:
    """ROUGE-n of a token sequence against a reference: clipped n-gram overlap.

    ``overlap = sum over n-grams g of min(count_summary(g), count_reference(g))``;
    precision = overlap / summary n-grams, recall = overlap / reference n-grams,
    F1 their harmonic mean (0 where undefined).
    """
    _check_n(n)
    s = Counter(ngrams(_sequence(summary, "summary"), n))
    r = Counter(ngrams(_sequence(reference, "reference"), n))
    overlap = sum(min(c, r[g]) for g, c in s.items())
    p = overlap / sum(s.values()) if s else 0.0
    rec = overlap / sum(r.values()) if r else 0.0
    f1 = 2 * p * rec / (p + rec) if p + rec > 0 else 0.0
    return {"precision": p, "recall": rec, "f1": f1}


def exact_match(predictions, references) -> float:
    """Fraction of predictions identical to their reference string."""
    predictions = checks.strings(predictions, "predictions", nonempty=False)
    references = checks.strings(references, "references", nonempty=False)
    if len(predictions) != len(references) or not predictions:
        raise ValueError(f"predictions and references must be non-empty lists of the same length, "
                         f"got {len(predictions)} and {len(references)}")
    return sum(p == r for p, r in zip(predictions, references)) / len(predictions)


def char_bleu(candidates, references, max_n: int = 4) -> float:
    """Corpus-level BLEU (Papineni et al., 2002) with characters as tokens, one reference each.

    ``p_m`` = clipped matching m-grams / candidate m-grams, summed over the corpus,
    for m = 1..max_n; BLEU = BP * exp(mean log p_m), with the brevity penalty
    BP = exp(1 - r/c) if the candidates' total length c is below the references' r, else 1.
    Returns 0 if some p_m is 0.
    """
    _check_n(max_n, "max_n")
    candidates = checks.strings(candidates, "candidates", nonempty=False)
    references = checks.strings(references, "references", nonempty=False)
    if len(candidates) != len(references) or not candidates:
        raise ValueError(f"candidates and references must be non-empty lists of the same length, "
                         f"got {len(candidates)} and {len(references)}")
    match, total = np.zeros(max_n), np.zeros(max_n)
    for cand, ref in zip(candidates, references):
        for m in range(1, max_n + 1):
            c, r = Counter(ngrams(cand, m)), Counter(ngrams(ref, m))
            match[m - 1] += sum(min(v, r[g]) for g, v in c.items())
            total[m - 1] += max(len(cand) - m + 1, 0)
    if (total == 0).any() or (match == 0).any():
        return 0.0
    c_len, r_len = sum(map(len, candidates)), sum(map(len, references))
    bp = 1.0 if c_len >= r_len else math.exp(1 - r_len / c_len)
    return float(bp * math.exp(np.mean(np.log(match / total))))


def chrf(hypotheses, references, char_order: int = 6, beta: float = 2) -> float:
    """Corpus-level chrF (Popović, 2015): F-score of character n-grams, one reference each.

    Whitespace is removed from every text first.  For m = 1..char_order the clipped
    matching m-grams, the hypothesis m-grams and the reference m-grams are summed over
    the corpus: ``chrP_m = matches / hypothesis m-grams``, ``chrR_m = matches / reference
    m-grams``.  chrP and chrR are their means over the orders where both counts are
    non-zero, and ``chrF = (1 + beta^2) chrP chrR / (beta^2 chrP + chrR)`` (0 if both are
    0); ``beta = 2`` weighs recall twice as much as precision.  As in sacrebleu, a pair
    whose reference has no m-grams (fewer than m characters) adds nothing to order m.
    These are sacrebleu's ``CHRF()`` defaults (word order 0), which reports the score x 100.
    """
    _check_n(char_order, "char_order")
    beta = checks.number(beta, "beta", 0, low_open=True)
    hypotheses = checks.strings(hypotheses, "hypotheses", nonempty=False)
    references = checks.strings(references, "references", nonempty=False)
    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError(f"hypotheses and references must be non-empty lists of the same length, "
                         f"got {len(hypotheses)} and {len(references)}")
    hyp_n, ref_n, match = np.zeros(char_order), np.zeros(char_order), np.zeros(char_order)
    for hyp, ref in zip(hypotheses, references):
        hyp, ref = "".join(hyp.split()), "".join(ref.split())
        for m in range(1, char_order + 1):
            h, r = Counter(ngrams(hyp, m)), Counter(ngrams(ref, m))
            if r:
                hyp_n[m - 1] += sum(h.values())
                ref_n[m - 1] += sum(r.values())
                match[m - 1] += sum(min(c, r[g]) for g, c in h.items())
    used = (hyp_n > 0) & (ref_n > 0)
    if not used.any():
        return 0.0
    p, rec = float(np.mean(match[used] / hyp_n[used])), float(np.mean(match[used] / ref_n[used]))
    if p + rec == 0:
        return 0.0
    return (1 + beta ** 2) * p * rec / (beta ** 2 * p + rec)


def exposure(rank: int, n_candidates: int) -> float:
    """Exposure of a planted secret (Carlini et al., 2019): ``log2(n_candidates) - log2(rank)``.

    ``rank`` is the secret's position (1 = most likely) when all ``n_candidates``
    possible secrets are sorted by the model's likelihood.  0 bits: the model
    prefers every other candidate; ``log2(n_candidates)``: it ranks the secret first.
    """
    _check_n(n_candidates, "n_candidates")
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 1 <= rank <= n_candidates:
        raise ValueError(f"rank must be an int in [1, {n_candidates}], got {rank!r}")
    return math.log2(n_candidates) - math.log2(rank)
