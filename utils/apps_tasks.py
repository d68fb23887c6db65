"""Tasks built from the corpus for chapter 7 (applications), with labels it really has.

Everything here is derived from ``utils.data`` by rules stated in the code, so a
reader can check each label:

- :data:`GENRE3`, :func:`passages`: genre classification. The package files the
  plays in six folders; :data:`GENRE3` folds them into the First Folio's three
  kinds (comedy, history, tragedy): problem plays and romances count as
  comedies, Roman plays as tragedies.
- :func:`scenes`: each play cut into its scenes (the ``SCENE`` headings of the
  package's Markdown), for extractive summarisation.
- :data:`ARCHAIC`, :func:`modernise`, :func:`modernise_pairs`: an explicit,
  rule-made "translation" from early-modern to modern wording, applied to real
  lines (``thou art`` -> ``you are``, ``call'd`` -> ``called``).  The targets come
  from these rules, not from a human translator.
- :func:`speaker_gender`: a speaker's gender guessed from a title in the name
  (``QUEEN``, ``LORD`` ...); names without such a title get ``None``.
"""
from __future__ import annotations

import bisect
import functools
import re

import numpy as np

from utils import checks, data

__all__ = ["GENRE3", "CLASSES", "passages", "MARKS", "sentences", "scenes", "ARCHAIC", "modernise",
           "modernise_pairs", "speaker_gender"]

#: The package's six folders folded into the Folio's three kinds.
GENRE3 = {"comedies": "comedy", "problems": "comedy", "romances": "comedy",
          "histories": "history", "tragedies": "tragedy", "roman": "tragedy"}
CLASSES = ("comedy", "history", "tragedy")


@functools.lru_cache(maxsize=None)
def _speeches(play: str):
    """:func:`utils.data.speeches`, parsed once per play."""
    return tuple((speaker, tuple(lines)) for speaker, lines in data.speeches(play))


def _play_names(names):
    known = {p.name for p in data.plays()}
    names = [names] if isinstance(names, str) else checks.strings(names, "plays", nonempty=False)
    bad = [n for n in names if n not in known]
    if not names or bad:
        raise ValueError(f"plays must be known play names, got unknown {bad or names!r}")
    return names


def passages(play: str, length: int, n: int) -> list[str]:
    """``n`` passages of exactly ``length`` characters of spoken text from one play.

    The play's speech lines (speaker names left out, so a passage carries no
    label in its names' titles) are joined with newlines; the passages start at
    the first line start at or after ``n`` evenly spaced points, and do not overlap
    when the play is long enough.
    """
    _play_names(checks.string(play, "play"))
    for name, v in (("length", length), ("n", n)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    text = "\n".join(line for _, lines in _speeches(play) for line in lines)
    if len(text) < n * length:
        raise ValueError(f"play {play!r} has {len(text)} characters, fewer than n * length = {n * length}")
    last = len(text) - length                     # the latest possible start
    line_starts = [0] + [m.end() for m in re.finditer("\n", text) if m.end() <= last]
    out = []
    for point in np.linspace(0, last, n).astype(int):
        i = min(bisect.bisect_left(line_starts, point), len(line_starts) - 1)
        out.append(text[line_starts[i]:line_starts[i] + length])
    return out


#: Sentence types, named by the mark that ends the sentence.
MARKS = {".": "statement", "?": "question", "!": "exclamation"}
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z])")


def sentences(play: str, min_len: int = 20, max_len: int = 120) -> list[tuple[str, str]]:
    """``(sentence without its end mark, mark)`` for the sentences of a play's speeches.

    A speech's lines are joined with newlines (the corpus layout) and cut after ``.``, ``?`` or ``!`` when a
    capital follows; a piece counts if it starts with a capital, ends with one of
    the three marks, and has ``min_len`` to ``max_len`` characters once the mark is
    removed.  The label is the editors' punctuation, so it is real, if not perfect.
    """
    _play_names(checks.string(play, "play"))
    for name, v in (("min_len", min_len), ("max_len", max_len)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    if min_len > max_len:
        raise ValueError(f"min_len ({min_len}) must be at most max_len ({max_len})")
    out = []
    for _, lines in _speeches(play):
        for piece in _SENTENCE_END.split("\n".join(lines)):
            body, mark = piece[:-1].rstrip(), piece[-1:]
            if mark in MARKS and piece[:1].isupper() and min_len <= len(body) <= max_len \
                    and body[-1:] not in ".?!":
                out.append((body, mark))
    return out


_SCENE = re.compile(r"^#+\s*(SCENE|PROLOGUE|EPILOGUE|INDUCTION|CHORUS)\b.*$", re.M | re.I)


def scenes(play: str) -> list[dict]:
    """The scenes of a play: ``{"heading": "SCENE I. A desert place.", "speeches": [...]}``.

    Speeches come from :func:`utils.data.speeches`; each is placed in the scene
    whose heading precedes its first line in the package's Markdown (found by
    searching forward for the line's first 20 characters).
    """
    _play_names(checks.string(play, "play"))
    raw = next(p for p in data.plays() if p.name == play).path.read_text(encoding="utf-8")
    heads = [(m.start(), m.group(0).lstrip("# ").strip()) for m in _SCENE.finditer(raw)]
    if not heads:
        heads = [(0, "whole play")]
    starts = [h[0] for h in heads]
    out = [{"heading": h, "speeches": []} for _, h in heads]
    cursor = 0
    for speaker, lines in _speeches(play):
        lines = list(lines)
        for line in lines[:3]:
            pos = raw.find(line[:20], cursor)
            if pos >= 0:
                cursor = pos
                break
        out[max(bisect.bisect_right(starts, cursor) - 1, 0)]["speeches"].append((speaker, lines))
    return [s for s in out if s["speeches"]]


#: Early-modern words and their modern replacements (lower case; capitals are kept).
ARCHAIC = {
    "thou": "you", "thee": "you", "thy": "your", "thine": "your", "ye": "you",
    "thyself": "yourself", "hath": "has", "doth": "does", "dost": "do", "hast": "have",
    "wilt": "will", "shalt": "shall", "canst": "can", "wouldst": "would", "couldst": "could",
    "shouldst": "should", "didst": "did", "hadst": "had", "wast": "were",
    "'tis": "it is", "'twas": "it was", "'twere": "it were", "'gainst": "against",
    "ere": "before", "oft": "often", "o'er": "over", "ne'er": "never", "e'er": "ever",
    "e'en": "even", "nay": "no", "ay": "yes", "wherefore": "why", "hither": "here",
    "thither": "there", "whither": "where", "prithee": "please", "methinks": "I think",
    "perchance": "perhaps", "whilst": "while", "betwixt": "between",
}
_PHRASES = [(re.compile(r"\b(thou) art\b", re.I), "you are"),   # "art" alone is left alone (an art)
            (re.compile(r"\bart (thou)\b", re.I), "are you")]
_TOKEN = re.compile(r"(?<![A-Za-z'])'?[A-Za-z]+(?:'[A-Za-z]+)*")
_NOT_PAST = {"she", "you", "they", "who", "that", "there"}     # she'd, you'd ...: not a past tense


def _keep_case(old: str, new: str) -> str:
    core = old.lstrip("'")
    return new[0].upper() + new[1:] if core[:1].isupper() else new


def _word(m) -> str:
    w = m.group(0)
    low = w.lower()
    if low in ARCHAIC:
        return _keep_case(w, ARCHAIC[low])
    if w.startswith("'"):                          # a quote mark, not a contraction
        return "'" + _word(_TOKEN.match(w[1:])) if len(w) > 1 else w
    if low.endswith("'d") and len(low) >= 5 and low[:-2].isalpha() and low[:-2] not in _NOT_PAST:
        return w[:-2] + "ed"                       # call'd -> called, banish'd -> banished
    return w


def modernise(line: str) -> str:
    """The line with :data:`ARCHAIC` words replaced, ``thou art``/``art thou`` turned into
    ``you are``/``are you``, and past tenses in ``'d`` spelt ``ed`` (``call'd`` -> ``called``)."""
    if not isinstance(line, str):
        raise ValueError(f"line must be a str, got {type(line).__name__}")
    for pattern, new in _PHRASES:
        line = pattern.sub(lambda m, new=new: _keep_case(m.group(0), new), line)
    return _TOKEN.sub(_word, line)


def modernise_pairs(plays, max_len: int = 48, unchanged_every: int = 4) -> list[tuple[str, str]]:
    """``(line, modernise(line))`` for the speech lines of ``plays`` of at most ``max_len``
    characters (whose modern form fits too) that :func:`modernise` changes, plus every
    ``unchanged_every``-th line it leaves alone (so a model also learns when to copy)."""
    names = _play_names(plays)
    for name, v in (("max_len", max_len), ("unchanged_every", unchanged_every)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    out, same = [], 0
    for name in names:
        for _, lines in _speeches(name):
            for line in lines:
                if len(line) > max_len:
                    continue
                new = modernise(line)
                if len(new) > max_len:
                    continue
                if new != line:
                    out.append((line, new))
                else:
                    same += 1
                    if same % unchanged_every == 0:
                        out.append((line, new))
    return out


_FEMALE = {"QUEEN", "LADY", "DUCHESS", "PRINCESS", "COUNTESS", "MISTRESS", "NURSE", "WIFE",
           "WIDOW", "HOSTESS", "GENTLEWOMAN", "MAID", "MOTHER", "DAUGHTER", "SISTER", "ABBESS"}
_MALE = {"KING", "LORD", "DUKE", "PRINCE", "EARL", "SIR", "BISHOP", "CARDINAL", "FRIAR",
         "FATHER", "SON", "BROTHER", "EMPEROR", "MARQUESS", "GENTLEMAN", "MAN", "BOY", "MASTER"}


def speaker_gender(name) -> str | None:
    """``"female"``, ``"male"`` or ``None`` from a title word in the speaker's name
    (``"LADY MACBETH"`` -> female, ``"KING HENRY"`` -> male, ``"HAMLET"`` -> None).

    A heuristic with known gaps: characters named without a title are left out, and
    a few titled roles are played against type (a disguised heroine speaks as herself)."""
    if name is None:
        return None
    if not isinstance(name, str):
        raise ValueError(f"name must be a str or None, got {type(name).__name__}")
    tokens = set(re.findall(r"[A-Z]+", name.upper()))
    female, male = bool(tokens & _FEMALE), bool(tokens & _MALE)
    if female == male:
        return None
    return "female" if female else "male"
