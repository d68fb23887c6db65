"""Character n-gram language models by counting (built in chapter 2).

    model = NGramModel(n=5, smoothing="kneser-ney").fit(train_text)
    model.prob("to b", "e")              # P(e | "to b")
    model.perplexity(val_text)           # exp(mean negative log-likelihood)
    model.sample(200, prompt="ROMEO:\\n", seed=0)

An order-``n`` model predicts a character from the ``n - 1`` characters before it
(the Markov assumption).  Three estimates of ``P(w | h)`` are offered:

``"none"``        maximum likelihood, ``c(hw) / c(h)``.  An n-gram never seen in
                  training gets probability 0, so the perplexity of new text is
                  ``inf`` -- the behaviour chapter 2 teaches, hence returned, not
                  hidden.  A context never seen in training has no distribution:
                  :meth:`NGramModel.probs` raises, :meth:`NGramModel.nll` gives ``inf``.
``"add-k"``       ``(c(hw) + k) / (c(h) + k V)`` (``k = 1``: Laplace); an unseen
                  context gets the uniform distribution ``1 / V``.
``"kneser-ney"``  interpolated Kneser-Ney with one absolute ``discount`` ``D``:
                  ``P(w|h) = max(c(hw) - D, 0) / c(h) + D N1+(h.) / c(h) P(w|h')``
                  where ``h'`` drops the oldest character; the lower orders count
                  *continuations* ``N1+(.h'w)`` (how many different characters
                  precede ``h'w``) instead of occurrences, and the recursion ends
                  in the uniform distribution ``1 / V``.  An unseen context backs
                  off to ``h'`` entirely.  ``discount="estimate"`` sets ``D`` for each
                  order from that order's count-of-counts, ``D = n1 / (n1 + 2 n2)``
                  (Ney, Essen & Kneser 1994), where ``n_r`` is the number of distinct
                  m-grams seen exactly ``r`` times.
``"modified-kneser-ney"``  Chen & Goodman's (1998) variant: three discounts per order,
                  ``D1`` for m-grams seen once, ``D2`` twice, ``D3+`` three times or more,
                  estimated from the count-of-counts with ``Y = n1 / (n1 + 2 n2)``:
                  ``D1 = 1 - 2Y n2/n1``, ``D2 = 2 - 3Y n3/n2``, ``D3+ = 3 - 4Y n4/n3``;
                  the mass returned to the shorter context is
                  ``(D1 N1(h.) + D2 N2(h.) + D3+ N3+(h.)) / c(h)``.

Documented behaviours:

- ``c(h)`` counts the occurrences of ``h`` that are *followed* by a character,
  so each ``P(. | h)`` sums to 1 over the vocabulary.
- The first ``n - 1`` characters of a scored text have shorter histories; they are
  scored by the model of order ``t + 1`` built from the same counts (for
  Kneser-Ney: raw counts at that order, continuation counts below it).
- Estimated discounts come from the counts each order's estimate uses: raw counts at
  the top order (and for the short histories at the start of a text), continuation
  counts below it.  Where the formula has no valid value (some ``n_r`` is 0, as for the
  unigram counts of a few dozen characters, or a ``D_r`` falls outside ``[0, r]``), that
  order uses the fixed :data:`FALLBACK_DISCOUNT`; :attr:`NGramModel.discounts` shows which
  values are in use.
- The vocabulary is the set of characters of the training text, or the ``vocab``
  passed explicitly (so characters absent from training still get probability
  under smoothing).  Any other character, in training or scored text, raises a
  ``ValueError`` that names it.

Counting is vectorised with NumPy: each m-gram becomes one integer in base ``V``
and ``np.unique`` counts them (seconds for millions of characters).
"""
from __future__ import annotations

import copy
import math

import numpy as np

from utils import checks

__all__ = ["NGramModel", "SMOOTHINGS", "FALLBACK_DISCOUNT"]

SMOOTHINGS = ("none", "add-k", "kneser-ney", "modified-kneser-ney")
FALLBACK_DISCOUNT = 0.75      # an order whose count-of-counts cannot give its discounts


def _find(keys: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index into the sorted ``keys`` of each query, and whether it is there."""
    if len(keys) == 0:
        return np.zeros(query.shape, dtype=np.int64), np.zeros(query.shape, dtype=bool)
    idx = np.searchsorted(keys, query).clip(max=len(keys) - 1)
    return idx, keys[idx] == query


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``values[i]`` where ``keys[i] == query`` (keys sorted), else 0."""
    idx, found = _find(keys, query)
    return np.where(found, values[idx], 0) if len(keys) else np.zeros(query.shape, dtype=values.dtype)


def _estimate_discounts(n_r: np.ndarray, modified: bool):
    """(D1, D2, D3+) from the count-of-counts ``n_r = [n1, n2, n3, n4]``; None if undefined."""
    n1, n2, n3, n4 = (int(x) for x in n_r)
    if n1 == 0 or n2 == 0 or (modified and (n3 == 0 or n4 == 0)):
        return None
    Y = n1 / (n1 + 2 * n2)
    if not modified:
        return (Y, Y, Y)
    D = (1 - 2 * Y * n2 / n1, 2 - 3 * Y * n3 / n2, 3 - 4 * Y * n4 / n3)
    return D if all(0 < d <= r for r, d in enumerate(D, start=1)) else None


def _encode(text, lut: np.ndarray, what: str) -> np.ndarray:
    """Ids of the characters of ``text`` through the look-up table ``lut`` (-1: unknown)."""
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a str, got {type(text).__name__}")
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    ids = lut[np.minimum(points, len(lut) - 1)]       # the last entry of lut is -1
    if (ids < 0).any():
        unknown = sorted({str(c) for c in np.array(list(text))[ids < 0]})
        raise ValueError(f"{what} has characters outside the model's vocabulary: {unknown!r} "
                         "(pass vocab= to fit a model that knows them)")
    return ids


class _Table:
    """Counts of the m-grams of one order and of their (m-1)-character contexts."""

    def __init__(self, keys: np.ndarray, counts: np.ndarray, V: int):
        self.keys, self.counts = keys, counts                 # sorted m-gram codes, their counts
        prefix = keys // V                                    # the context's code (sorted too)
        ctx, starts = np.unique(prefix, return_index=True)
        self.ctx = ctx                                        # distinct contexts followed by a char
        self.ctx_total = np.add.reduceat(counts, starts) if len(keys) else counts[:0]
        self.ctx_types = np.diff(np.append(starts, len(keys)))   # N1+(h .): distinct followers
        once, twice = (counts == 1).astype(np.int64), (counts == 2).astype(np.int64)
        self.ctx_n1 = np.add.reduceat(once, starts) if len(keys) else counts[:0]     # N1(h .)
        self.ctx_n2 = np.add.reduceat(twice, starts) if len(keys) else counts[:0]    # N2(h .)
        self.ctx_n3 = self.ctx_types - self.ctx_n1 - self.ctx_n2                      # N3+(h .)
        self.count_of_counts = np.bincount(counts, minlength=5)[1:5]                 # n1..n4


class NGramModel:
    """A character n-gram language model estimated by counting.

    Parameters
    ----------
    n : int >= 1
        Order: the model conditions on the ``n - 1`` previous characters.
    smoothing : one of :data:`SMOOTHINGS` (see the module docstring).
    k : float >= 0
        The pseudo-count of add-k smoothing (``k = 0`` equals ``"none"`` on seen contexts).
    discount : float in (0, 1], or ``"estimate"``
        The absolute discount ``D`` of Kneser-Ney, or ``"estimate"`` for Ney's
        ``n1 / (n1 + 2 n2)`` at each order.  ``"modified-kneser-ney"`` always estimates
        its three discounts per order and ignores it.
    vocab : iterable of characters, optional
        The vocabulary; by default the characters of the training text.
    """

    def __init__(self, n: int, smoothing: str = "kneser-ney", k: float = 1.0,
                 discount: float = 0.75, vocab=None):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        self.n = int(n)
        self._set_smoothing(smoothing, k, discount)
        self._given_vocab = None if vocab is None else self._check_vocab(vocab)
        self._vocab = self._lut = None
        self._tables = None          # order m -> _Table of raw counts
        self._cont = None            # order m < n -> _Table of continuation counts

    # --- set-up and validation ---------------------------------------------
    def _set_smoothing(self, smoothing, k, discount):
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"smoothing must be one of {SMOOTHINGS}, got {smoothing!r}")
        if not isinstance(k, (int, float, np.number)) or not math.isfinite(k) or k < 0:
            raise ValueError(f"k must be a finite number >= 0, got {k!r}")
        if discount != "estimate" and (isinstance(discount, bool) or not isinstance(discount, (int, float, np.number))
                                       or not 0 < discount <= 1):
            raise ValueError(f"discount must be a number in (0, 1] or 'estimate', got {discount!r}")
        self.smoothing, self.k = smoothing, float(k)
        self.discount = discount if discount == "estimate" else float(discount)

    @staticmethod
    def _check_vocab(vocab) -> str:
        chars = list(vocab) if isinstance(vocab, str) else checks.strings(vocab, "vocab", nonempty=False)
        if not chars or not all(isinstance(c, str) and len(c) == 1 for c in chars):
            raise ValueError("vocab must be a non-empty iterable of single characters")
        return "".join(sorted(set(chars)))

    def __repr__(self):
        extra = {"add-k": f", k={self.k:g}", "kneser-ney": f", discount={self.discount!r}"}
        state = f"V={self.vocab_size}" if self.fitted else "not fitted"
        return f"NGramModel(n={self.n}, smoothing={self.smoothing!r}{extra.get(self.smoothing, '')}; {state})"

    @property
    def fitted(self) -> bool:
        return self._tables is not None

    def _require_fit(self):
        if not self.fitted:
            raise RuntimeError("the model is not fitted yet: call fit(text) first")

    @property
    def vocab(self) -> str:
        """The vocabulary as a sorted string; character ``vocab[i]`` has id ``i``."""
        self._require_fit()
        return self._vocab

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str, what: str = "text") -> np.ndarray:
        """Character ids of ``text``; a character outside the vocabulary raises ``ValueError``."""
        self._require_fit()
        return _encode(text, self._lut, what)

    # --- counting ------------------------------------------------------------
    def fit(self, text: str) -> "NGramModel":
        """Count every m-gram of ``text`` for m = 1..n; returns ``self``."""
        if not isinstance(text, str) or not text:
            raise ValueError("text must be a non-empty str")
        if len(text) < self.n:
            raise ValueError(f"text must have at least n = {self.n} characters, got {len(text)}")
        vocab = self._given_vocab or "".join(sorted(set(text)))
        V = len(vocab)
        if V ** self.n >= 2 ** 62:
            raise ValueError(f"n = {self.n} is too large for a vocabulary of {V} (codes overflow int64)")
        lut = np.full(max(map(ord, vocab)) + 2, -1, dtype=np.int64)   # code point -> id
        lut[[ord(c) for c in vocab]] = np.arange(V)
        ids = _encode(text, lut, "training text")
        tables, codes = {}, ids.copy()
        for m in range(1, self.n + 1):
            if m > 1:
                codes = codes[:-1] * V + ids[m - 1:]    # code of ids[t .. t+m-1], oldest first
            keys, counts = np.unique(codes, return_counts=True)
            tables[m] = _Table(keys, counts, V)
        cont = {}
        for m in range(1, self.n):                      # N1+(. g): distinct chars before g
            suffix = tables[m + 1].keys % V ** m
            keys, counts = np.unique(suffix, return_counts=True)
            cont[m] = _Table(keys, counts, V)
        self._vocab, self._lut, self._tables, self._cont = vocab, lut, tables, cont
        return self

    def with_smoothing(self, smoothing: str, k: float = 1.0, discount=0.75) -> "NGramModel":
        """A copy with other smoothing settings that shares the counts (no refitting)."""
        other = copy.copy(self)
        other._set_smoothing(smoothing, k, discount)
        return other

    def count(self, gram: str) -> int:
        """How often the string ``gram`` (1 to n characters) occurs in the training text."""
        self._require_fit()
        if not isinstance(gram, str) or not 1 <= len(gram) <= self.n:
            raise ValueError(f"gram must be a str of 1 to n = {self.n} characters, got {gram!r}")
        ids = self.encode(gram, "gram")
        code = 0
        for i in ids:
            code = code * self.vocab_size + int(i)
        t = self._tables[len(gram)]
        return int(_lookup(t.keys, t.counts, np.array([code]))[0])

    def num_ngrams(self, order: int | None = None) -> int:
        """Distinct m-grams seen in training, m = ``order`` (default ``n``)."""
        return len(self._table(order).keys)

    def num_contexts(self, order: int | None = None) -> int:
        """Distinct (m-1)-character contexts followed by a character in training, m = ``order``."""
        return len(self._table(order).ctx)

    def count_of_counts(self, order: int | None = None, continuation: bool = False) -> np.ndarray:
        """``[n1, n2, n3, n4]``: how many distinct m-grams (m = ``order``, default ``n``) occur
        exactly 1, 2, 3 and 4 times; with ``continuation=True`` (order < n), how many have a
        continuation count ``N1+(. g)`` of 1, 2, 3 and 4."""
        if not isinstance(continuation, (bool, np.bool_)):
            raise ValueError(f"continuation must be True or False, got {continuation!r}")
        if not continuation:
            return self._table(order).count_of_counts.copy()
        self._require_fit()
        if self.n == 1:
            raise ValueError("continuation counts exist only below the top order: n = 1 has none")
        order = checks.integer(self.n - 1 if order is None else order, "order", 1, self.n - 1)
        return self._cont[order].count_of_counts.copy()

    def _discount_of(self, t: _Table) -> tuple[float, float, float]:
        if self.discount != "estimate" and self.smoothing == "kneser-ney":
            return (self.discount,) * 3
        D = _estimate_discounts(t.count_of_counts, modified=self.smoothing == "modified-kneser-ney")
        return D or (FALLBACK_DISCOUNT,) * 3

    @property
    def discounts(self) -> dict[int, tuple[float, float, float]]:
        """Kneser-Ney's ``(D1, D2, D3+)`` per order 1..n, as used with a full context (raw
        counts at order n, continuation counts below); one ``D`` three times unless modified."""
        self._require_fit()
        if self.smoothing not in ("kneser-ney", "modified-kneser-ney"):
            raise ValueError(f"discounts exist for Kneser-Ney smoothing only, not {self.smoothing!r}")
        return {m: tuple(float(d) for d in self._discount_of(self._tables[m] if m == self.n else self._cont[m]))
                for m in range(1, self.n + 1)}

    def _table(self, order):
        self._require_fit()
        order = self.n if order is None else checks.integer(order, "order", 1, self.n)
        return self._tables[order]

    # --- probabilities ----------------------------------------------------------
    def _probs_at(self, hist: np.ndarray, w: np.ndarray) -> np.ndarray:
        """P(w_i | hist_i) for a batch: ``hist`` (B, h) ids, oldest first; ``w`` (B,) ids.

        Returns probabilities; ``nan`` where the unsmoothed model has no estimate."""
        V, h = self.vocab_size, hist.shape[1]
        top = min(h, self.n - 1) + 1                    # the order used
        ctx = np.zeros(len(w), dtype=np.int64)          # code of the last (j-1) characters
        ctx_codes = [ctx]
        for j in range(1, top):
            ctx = hist[:, h - j] * V ** (j - 1) + ctx
            ctx_codes.append(ctx)
        if self.smoothing in ("none", "add-k"):
            t, c_h = self._tables[top], ctx_codes[top - 1]
            c = _lookup(t.keys, t.counts, c_h * V + w)
            d = _lookup(t.ctx, t.ctx_total, c_h)
            if self.smoothing == "add-k" and self.k > 0:
                return (c + self.k) / (d + self.k * V)
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(d > 0, c / np.maximum(d, 1), np.nan)
        p = np.full(len(w), 1.0 / V)                    # Kneser-Ney, from the uniform upwards
        for j in range(1, top + 1):
            t, c_h = (self._tables[j] if j == top else self._cont[j]), ctx_codes[j - 1]
            D1, D2, D3 = self._discount_of(t)
            c = _lookup(t.keys, t.counts, c_h * V + w)
            i, seen = _find(t.ctx, c_h)
            if not len(t.ctx):
                continue
            d = np.where(seen, t.ctx_total[i], 0)
            returned = D1 * t.ctx_n1[i] + D2 * t.ctx_n2[i] + D3 * t.ctx_n3[i]   # mass for h'
            discount = np.select([c == 0, c == 1, c == 2], [0.0, D1, D2], D3)
            p = np.where(d > 0, (np.maximum(c - discount, 0) + returned * p) / np.maximum(d, 1), p)
        return p

    def _context_ids(self, context: str) -> np.ndarray:
        if not isinstance(context, str):
            raise ValueError(f"context must be a str, got {type(context).__name__}")
        return self.encode(context[max(0, len(context) - (self.n - 1)):], "context")

    def probs(self, context: str = "") -> np.ndarray:
        """The distribution of the next character after ``context`` (its last n-1 characters
        count), as an array of ``vocab_size`` probabilities in vocabulary order."""
        self._require_fit()
        hist = self._context_ids(context)
        V = self.vocab_size
        p = self._probs_at(np.tile(hist, (V, 1)), np.arange(V))
        if np.isnan(p).any():
            raise ValueError(f"context {context[max(0, len(context) - (self.n - 1)):]!r} never occurs in the training text: "
                             "the unsmoothed (maximum-likelihood) model has no distribution for it")
        return p

    def prob(self, context: str, char: str) -> float:
        """P(char | context)."""
        if not isinstance(char, str) or len(char) != 1:
            raise ValueError(f"char must be a single character, got {char!r}")
        return float(self.probs(context)[self.encode(char, "char")[0]])

    def nll(self, text: str) -> np.ndarray:
        """Per-character negative log-likelihood ``-ln P(x_t | x_<t)`` in nats, one per character
        of ``text``; ``inf`` where the unsmoothed model gives probability 0 (or has no estimate)."""
        self._require_fit()
        if not isinstance(text, str) or not text:
            raise ValueError("text must be a non-empty str")
        ids = self.encode(text, "text")
        h = self.n - 1
        p = np.empty(len(ids))
        for t in range(min(h, len(ids))):               # short histories at the start
            p[t:t + 1] = self._probs_at(ids[None, :t], ids[t:t + 1])
        if len(ids) > h:
            windows = np.lib.stride_tricks.sliding_window_view(ids, h + 1)
            p[h:] = self._probs_at(windows[:, :h], windows[:, h])
        with np.errstate(divide="ignore"):
            return -np.log(np.nan_to_num(p, nan=0.0))

    def cross_entropy(self, text: str) -> float:
        """Mean negative log-likelihood per character, in nats."""
        return float(np.mean(self.nll(text)))

    def bits_per_char(self, text: str) -> float:
        """Cross-entropy in bits: nats / ln 2."""
        return self.cross_entropy(text) / math.log(2)

    def perplexity(self, text: str) -> float:
        """``exp(cross-entropy)``; ``inf`` if the model gives some character probability 0."""
        return float(np.exp(self.cross_entropy(text)))

    # --- generation ---------------------------------------------------------------
    def sample(self, length: int, prompt: str = "", seed=None) -> str:
        """``prompt`` followed by ``length`` sampled characters.

        ``seed`` is an int or a ``numpy.random.Generator``.  The unsmoothed model backs off
        to the longest suffix of the context it has seen (it has no distribution otherwise)."""
        self._require_fit()
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
            raise ValueError(f"length must be an int >= 0, got {length!r}")
        rng = checks.rng(seed)
        out = list(self.encode(prompt, "prompt"))
        V, cache = self.vocab_size, {}                  # context -> distribution, computed once
        for _ in range(length):
            key = tuple(out[max(0, len(out) - (self.n - 1)):])
            if key not in cache:
                hist = np.array(key, dtype=np.int64)
                p = self._probs_at(np.tile(hist, (V, 1)), np.arange(V))
                while np.isnan(p).any():                # unsmoothed, unseen context: back off
                    hist = hist[1:]
                    p = self._probs_at(np.tile(hist, (V, 1)), np.arange(V))
                cache[key] = p / p.sum()
            out.append(int(rng.choice(V, p=cache[key])))
        return "".join(self._vocab[i] for i in out)
