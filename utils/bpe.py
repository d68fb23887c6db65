"""Byte-level byte-pair encoding (BPE), GPT-2's tokenizer, from scratch.

Built in chapter 6.  BPE (Sennrich et al., 2016) starts from single symbols and
repeatedly merges the most frequent adjacent pair into a new symbol; GPT-2
(Radford et al., 2019) runs it on *bytes*, so any text can be encoded (no unknown
tokens) and the 256 byte values are the first 256 tokens.

The training follows Hugging Face ``tokenizers``' ``BpeTrainer`` step by step
(same pre-tokenizer, same tie-breaking, same bookkeeping), so
:func:`train_bpe` and :func:`train_tokenizers_bpe` learn the same merges and
give the same token ids.

    bpe = train_bpe([text], vocab_size=512)
    ids = bpe.encode("To be, or not to be")
    bpe.decode(ids) == "To be, or not to be"
"""
from __future__ import annotations

import heapq
import itertools
from collections import Counter

import regex

from utils import checks

__all__ = ["GPT2_PATTERN", "bytes_to_unicode", "pretokenize", "ByteLevelBPE", "train_bpe",
           "train_tokenizers_bpe"]

#: GPT-2's pre-tokenizer: contractions, letters, digits, other symbols (each with an optional
#: leading space), and runs of white space.  A merge never crosses these pieces.
GPT2_PATTERN = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from the 256 byte values to 256 printable characters.

    188 bytes stand for themselves: the printable ASCII 33-126 ('A' -> 'A') and the
    Latin-1 ranges 161-172 and 174-255; the other 68 (space, newline, control bytes,
    127-160 and 173) are shifted to code points from 256 up, so a space shows as 'Ġ'
    and a newline as 'Ċ'.
    """
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    mapping, extra = {}, 0
    for b in range(256):
        if b in keep:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def pretokenize(text: str) -> list[str]:
    """Split ``text`` with :data:`GPT2_PATTERN` and write each piece's UTF-8 bytes as characters."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    return ["".join(BYTE_TO_CHAR[b] for b in piece.encode("utf-8")) for piece in GPT2_PATTERN.findall(text)]


class ByteLevelBPE:
    """A trained byte-level BPE: a vocabulary (token -> id) and the ordered list of merges."""

    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]]):
        if not isinstance(vocab, dict) or not all(
                isinstance(t, str) and isinstance(i, int) and not isinstance(i, bool)
                for t, i in vocab.items()):
            raise checks.ArgumentTypeError(f"vocab must be a dict from token (str) to id (int), "
                                           f"got {vocab!r:.60}")
        if isinstance(merges, str) or not hasattr(merges, "__iter__"):
            raise checks.ArgumentTypeError(f"merges must be a list of (str, str) pairs, "
                                           f"got {type(merges).__name__}")
        merges = [tuple(m) if isinstance(m, list) else m for m in merges]
        if not all(isinstance(m, tuple) and len(m) == 2 and all(isinstance(x, str) for x in m)
                   for m in merges):
            raise checks.ArgumentTypeError(f"merges must be a list of (str, str) pairs, got {merges[:3]!r}")
        self.vocab = dict(vocab)
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.merges = list(merges)
        # A pair learned twice keeps its later rank (as in `tokenizers`).
        self.ranks = {pair: rank for rank, pair in enumerate(self.merges)}
        self._cache: dict[str, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def _encode_word(self, word: str) -> list[int]:
        """Apply the merges to one pre-token: always the lowest-ranked pair, leftmost first."""
        if word in self._cache:
            return self._cache[word]
        symbols = list(word)
        while len(symbols) > 1:
            ranked = [(self.ranks.get(pair, float("inf")), i)
                      for i, pair in enumerate(zip(symbols, symbols[1:]))]
            rank, i = min(ranked)
            if rank == float("inf"):
                break                                   # no learned merge applies any more
            symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]
        ids = [self.vocab[s] for s in symbols]
        self._cache[word] = ids
        return ids

    def tokens(self, text: str) -> list[str]:
        """The tokens of ``text`` as strings (bytes shown as GPT-2's characters)."""
        return [self.id_to_token[i] for i in self.encode(text)]

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``."""
        return [i for word in pretokenize(text) for i in self._encode_word(word)]

    def decode(self, ids) -> str:
        """The text of token ids (invalid UTF-8 from a cut multi-byte character becomes '\ufffd')."""
        ids = checks.id_list(ids, "ids")
        bad = [i for i in ids if i not in self.id_to_token]
        if bad:
            raise ValueError(f"ids must be in [0, {self.vocab_size - 1}], got {bad[:5]}")
        chars = "".join(self.id_to_token[i] for i in ids)
        return bytes(CHAR_TO_BYTE[c] for c in chars).decode("utf-8", errors="replace")

    def truncated(self, vocab_size: int) -> "ByteLevelBPE":
        """The BPE that training with a smaller ``vocab_size`` would have learned.

        Training is greedy and does not look at its target size, so a smaller run
        learns exactly the first merges of a larger one: replay them until the
        vocabulary has ``vocab_size`` tokens.
        """
        if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) \
                or not 256 <= vocab_size <= self.vocab_size:
            raise ValueError(f"vocab_size must be an int in [256, {self.vocab_size}], got {vocab_size!r}")
        vocab = {t: i for t, i in self.vocab.items() if i < 256}
        merges = []
        for a, b in self.merges:
            if len(vocab) >= vocab_size:
                break
            merges.append((a, b))
            vocab.setdefault(a + b, len(vocab))
        return ByteLevelBPE(vocab, merges)

    def to_tokenizers(self):
        """The same vocabulary and merges as a fast ``tokenizers.Tokenizer`` (GPT-2's set-up)."""
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers

        tok = Tokenizer(models.BPE(vocab=dict(self.vocab), merges=list(self.merges)))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.decoder = decoders.ByteLevel()
        return tok

    @classmethod
    def from_tokenizers(cls, tok) -> "ByteLevelBPE":
        """Read the vocabulary and merges of a ``tokenizers.Tokenizer`` holding a BPE model."""
        import json

        from tokenizers import Tokenizer

        checks.instance(tok, Tokenizer, "tok", "tokenizers.Tokenizer")
        model = json.loads(tok.to_str())["model"]
        if model.get("type") != "BPE":
            raise ValueError(f"tok must hold a BPE model, got {model.get('type')!r}")
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
        return cls(model["vocab"], merges)

    def __repr__(self):
        return f"ByteLevelBPE(vocab_size={self.vocab_size}, merges={len(self.merges)})"


def _check_training(texts, vocab_size, min_frequency):
    texts = checks.strings(texts, "texts", nonempty=False)
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < 256:
        raise ValueError(f"vocab_size must be an int >= 256 (the byte alphabet), got {vocab_size!r}")
    return texts, checks.integer(min_frequency, "min_frequency", 0)


def _merge_word(word: list[int], a: int, b: int, new: int) -> list[tuple[tuple[int, int], int]]:
    """Replace each (a, b) in ``word`` (left to right) by ``new``, in place; return the count changes."""
    changes = []
    i = 0
    while i < len(word) - 1:
        if word[i] == a and word[i + 1] == b:
            if i > 0:                                # the left neighbour now pairs with `new`
                changes += [((word[i - 1], a), -1), ((word[i - 1], new), +1)]
            word[i:i + 2] = [new]
            if i < len(word) - 1:                    # and so does the right neighbour
                changes += [((b, word[i + 1]), -1), ((new, word[i + 1]), +1)]
        i += 1
    return changes


def train_bpe(texts, vocab_size: int, min_frequency: int = 0) -> ByteLevelBPE:
    """Learn merges on ``texts`` (an iterable of strings) until there are ``vocab_size`` tokens.

    1. Pre-tokenize and count each distinct piece ("word").
    2. Start from the 256 byte symbols (ids in code-point order of GPT-2's characters).
    3. Count adjacent pairs, weighted by word counts; repeatedly merge the most frequent
       pair (ties: the smallest pair of ids), updating only the words that contain it.
    """
    texts, min_frequency = _check_training(texts, vocab_size, min_frequency)
    counts = Counter()
    for text in texts:
        counts.update(pretokenize(text))
    id_to_token = sorted(BYTE_TO_CHAR.values())              # the byte alphabet, sorted like `tokenizers`
    vocab = {t: i for i, t in enumerate(id_to_token)}
    words = [[vocab[c] for c in w] for w in counts]
    freq = list(counts.values())

    pair_counts, where = Counter(), {}
    for w, (word, n) in enumerate(zip(words, freq)):
        for pair in zip(word, word[1:]):
            pair_counts[pair] += n
            where.setdefault(pair, set()).add(w)
    tick = itertools.count()                                 # breaks exact ties in the heap
    heap = [(-pair_counts[p], p, next(tick), pos) for p, pos in where.items() if pair_counts[p] > 0]
    heapq.heapify(heap)                                      # largest count first, then smallest pair

    merges = []
    while len(vocab) < vocab_size and heap:
        neg, pair, _, pos = heapq.heappop(heap)
        if -neg != pair_counts[pair]:                        # stale entry: requeue with today's count
            heapq.heappush(heap, (-pair_counts[pair], pair, next(tick), pos))
            continue
        if -neg < 1 or -neg < min_frequency:
            break
        token = id_to_token[pair[0]] + id_to_token[pair[1]]
        if token not in vocab:
            vocab[token] = len(id_to_token)
            id_to_token.append(token)
        new = vocab[token]
        merges.append((id_to_token[pair[0]], id_to_token[pair[1]]))
        touched = {}
        for w in pos:                                        # only the words known to hold the pair
            for p, change in _merge_word(words[w], pair[0], pair[1], new):
                pair_counts[p] += change * freq[w]
                if change > 0:
                    touched.setdefault(p, set()).add(w)
        for p, ws in touched.items():
            if pair_counts[p] > 0:
                heapq.heappush(heap, (-pair_counts[p], p, next(tick), ws))
    return ByteLevelBPE(vocab, merges)


def train_tokenizers_bpe(texts, vocab_size: int, min_frequency: int = 0):
    """The same training with Hugging Face ``tokenizers`` (GPT-2's set-up, no prefix space).

    Returns a ``tokenizers.Tokenizer`` whose ``encode(text).ids`` equal ``train_bpe``'s.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    texts, min_frequency = _check_training(texts, vocab_size, min_frequency)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(texts, trainer)
    return tok
