"""Argument checks shared by every module of ``utils``: one concern, bad input gets a clear error.

Each function checks one kind of argument and raises an exception whose message names the
argument and says what is allowed, instead of letting a wrong value fail deep inside torch,
NumPy or safetensors (``IndexError: index out of range in self``) or pass silently (a NaN loss).

- a value of the wrong *type* (a list where a str is expected, floats where token ids are)
  raises :class:`ArgumentTypeError`, which is a ``TypeError`` and also a ``ValueError``, the
  exception the book's helpers have always raised for any bad argument;
- a value of the right type but outside what is allowed raises ``ValueError``;
- a file or folder that does not exist raises ``FileNotFoundError``.

The checks are cheap (a type test, a shape, one min/max over a tensor of ids, a file's
header) and return the value, converted where that is their job (:func:`integer` returns an
``int``, :func:`id_sequence` a tensor).  The ones that run inside a model's forward pass
(:func:`token_ids`, :func:`target_ids`, :func:`features`) do nothing while
``torch.compile`` traces, so a compiled model has no graph breaks.
"""
from __future__ import annotations

import math
import numbers
from pathlib import Path

import numpy as np
import torch

__all__ = ["ArgumentTypeError",
           "is_number", "integer", "number", "dropout", "flag", "string", "strings", "instance",      # values
           "token_ids", "target_ids", "features", "id_sequence", "id_list", "int_array",  # arrays
           "float_array",
           "softmax_rows", "attention_mask", "device", "generator", "rng",
           "existing_file", "folder", "new_file", "safetensors_file", "tensors_match", "json_file"]  # files


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type; ``except TypeError`` and ``except ValueError`` both catch it."""


def _show(value) -> str:
    """A short description of ``value`` for a message (tensors and arrays by type, shape, dtype)."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else f"{type(value).__name__} {text[:60]}..."


# --- Python values -----------------------------------------------------------------------
def is_number(x) -> bool:
    """Whether ``x`` is a finite int or float (not a bool)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _bounds(low, high, low_open=False) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low}, {high}]"
    if low is not None:
        return f" > {low}" if low_open else f" >= {low}"
    return "" if high is None else f" <= {high}"


def integer(value, name: str, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int`` if it is one (a NumPy integer too, not a bool) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be an int{_bounds(low, high)}, got {_show(value)}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be an int{_bounds(low, high)}, got {value!r}")
    return int(value)


def number(value, name: str, low: float | None = None, high: float | None = None,
           low_open: bool = False) -> float:
    """``value`` as a finite ``float`` (an int or float, not a bool) in ``[low, high]``
    (``(low, high]`` with ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a number, got {_show(value)}")
    if not math.isfinite(value) or (low is not None and (value <= low if low_open else value < low)) \
            or (high is not None and value > high):
        raise ValueError(f"{name} must be a finite number{_bounds(low, high, low_open)}, got {value!r}")
    return float(value)


def dropout(value, name: str = "dropout") -> float:
    """``value`` as a dropout probability: a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a float in [0, 1), got {_show(value)}")
    return float(value)


def flag(value, name: str) -> bool:
    """``value`` if it is ``True`` or ``False`` (a truthy string such as ``"no"`` is refused)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name} must be True or False, got {_show(value)}")
    return bool(value)


def string(value, name: str, nonempty: bool = False) -> str:
    """``value`` if it is a ``str`` (non-empty with ``nonempty``)."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be a str, got {type(value).__name__} {_show(value)}")
    if nonempty and not value:
        raise ValueError(f"{name} must be a non-empty str")
    return value


def strings(values, name: str, nonempty: bool = True) -> list[str]:
    """``values`` (an iterable of str, not one str) as a list; non-empty with ``nonempty``."""
    if isinstance(values, str) or not hasattr(values, "__iter__"):
        raise ArgumentTypeError(f"{name} must be an iterable of strings (e.g. [text]), "
                                f"got {type(values).__name__}")
    values = list(values)
    bad = [v for v in values if not isinstance(v, str)]
    if bad:
        raise ArgumentTypeError(f"{name} must hold only str, got {type(bad[0]).__name__} {_show(bad[0])}")
    if nonempty and not values:
        raise ValueError(f"{name} must not be empty")
    return values


def instance(value, cls, name: str, what: str | None = None):
    """``value`` if it is an instance of ``cls`` (a class or a tuple of classes)."""
    if not isinstance(value, cls):
        what = what or (cls.__name__ if isinstance(cls, type) else " or ".join(c.__name__ for c in cls))
        raise ArgumentTypeError(f"{name} must be a {what}, got {type(value).__name__}")
    return value


# --- tensors of token ids and features ---------------------------------------------------------
_ID_DTYPES = (torch.int64, torch.int32)


def _is_int_dtype(dtype) -> bool:
    if isinstance(dtype, torch.dtype):
        return not dtype.is_floating_point and not dtype.is_complex and dtype != torch.bool
    return np.issubdtype(dtype, np.integer)


def token_ids(idx, name: str, vocab_size: int, ndim: int | None = 2, dtypes=_ID_DTYPES):
    """Check a tensor of token ids for a model: a ``torch.Tensor`` of ``dtypes``, ``ndim``
    dimensions, not empty, every id in ``[0, vocab_size)``.  Returns ``idx``; does nothing
    while ``torch.compile`` traces."""
    if torch.compiler.is_compiling():
        return idx
    what = "a (B, T) integer tensor" if ndim == 2 else "an integer tensor"
    if not isinstance(idx, torch.Tensor):
        raise ArgumentTypeError(f"{name} must be {what} of token ids, got {type(idx).__name__}")
    if idx.dtype not in dtypes:
        raise ArgumentTypeError(f"{name} must be {what} of token ids (dtype "
                                f"{' or '.join(str(d) for d in dtypes)}), got dtype {idx.dtype}")
    if ndim is not None and idx.dim() != ndim:
        dims = "a (B, T) tensor" if ndim == 2 else f"a tensor of {ndim} dimensions"
        raise ValueError(f"{name} must be {dims} of token ids, got shape {tuple(idx.shape)}")
    if idx.numel() == 0:
        raise ValueError(f"{name} must hold at least one token id, got shape {tuple(idx.shape)}")
    lo, hi = torch.stack(torch.aminmax(idx)).tolist()          # one pass, one device sync
    if lo < 0 or hi >= vocab_size:
        raise ValueError(f"{name} must hold token ids in [0, {vocab_size - 1}] (vocab_size {vocab_size}), "
                         f"got min {lo}, max {hi}")
    return idx


def target_ids(targets, name: str, vocab_size: int, shape, ignore_index: int = -100):
    """Check next-token targets for ``F.cross_entropy``: an int64 tensor of ``shape``, each id in
    ``[0, vocab_size)`` or ``ignore_index``, and not all ignored (the mean loss would be NaN).
    Does nothing while ``torch.compile`` traces."""
    if torch.compiler.is_compiling():
        return targets
    if not isinstance(targets, torch.Tensor):
        raise ArgumentTypeError(f"{name} must be a torch.Tensor of token ids, got {type(targets).__name__}")
    if targets.dtype != torch.int64:
        raise ArgumentTypeError(f"{name} must hold int64 token ids, got dtype {targets.dtype}")
    if tuple(targets.shape) != tuple(shape):
        raise ValueError(f"{name} must have the shape of idx {tuple(shape)}, got {tuple(targets.shape)}")
    lo, hi = torch.stack(torch.aminmax(targets)).tolist()
    if hi >= vocab_size or (lo < 0 and bool(((targets < 0) & (targets != ignore_index)).any())):
        raise ValueError(f"{name} must hold token ids in [0, {vocab_size - 1}] or {ignore_index} (ignored), "
                         f"got min {lo}, max {hi}")
    if hi == ignore_index:
        raise ValueError(f"{name} are all {ignore_index} (ignored): nothing to score, the mean loss "
                         "would be NaN")
    return targets


def features(x, name: str, width: int, dims: str = "B, T"):
    """Check a float tensor of activations shaped ``(dims..., width)``, e.g. ``(B, T, C)``.
    Returns ``x``; does nothing while ``torch.compile`` traces."""
    if torch.compiler.is_compiling():
        return x
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ArgumentTypeError(f"{name} must be a floating-point torch.Tensor, got {_show(x)}")
    if x.dim() != len(dims.split(",")) + 1 or x.shape[-1] != width:
        raise ValueError(f"{name} must have shape ({dims}, {width}), got {tuple(x.shape)}")
    return x


def id_sequence(ids, name: str, vocab_size: int | None = None, min_len: int = 1, scan: bool = True):
    """A 1-D sequence of integer token ids (list, NumPy array or tensor) as a tensor (no copy
    when it is one already) of at least ``min_len`` ids.  Floats, bools and strings are refused,
    not rounded.  With ``scan`` (one min/max pass) every id must be >= 0, and < ``vocab_size``
    when that is given; ``scan=False`` leaves the values to the caller (a hot loop that checks
    each batch instead)."""
    if isinstance(ids, (str, bytes)) or not hasattr(ids, "__len__"):
        raise ArgumentTypeError(f"{name} must be a 1-D sequence of integer token ids, "
                                f"got {type(ids).__name__}")
    if not isinstance(ids, torch.Tensor):
        try:
            ids = np.asarray(ids)
        except (ValueError, TypeError) as e:
            raise ArgumentTypeError(f"{name} must be a 1-D sequence of integer token ids ({e})") from None
    if ids.ndim != 1:
        raise ValueError(f"{name} must be 1-D token ids, got shape {tuple(ids.shape)}")
    if len(ids) < min_len:
        plural = "s" if min_len > 1 else ""
        raise ValueError(f"{name} must hold at least {min_len} token id{plural}, got {len(ids)}")
    if not _is_int_dtype(ids.dtype):
        raise ArgumentTypeError(f"{name} must hold integer token ids, got dtype {ids.dtype}")
    ids = torch.as_tensor(ids)
    if scan and len(ids):
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or (vocab_size is not None and hi >= vocab_size):
            allowed = ">= 0" if vocab_size is None else f"in [0, {vocab_size - 1}] (vocab_size {vocab_size})"
            raise ValueError(f"{name} must hold token ids {allowed}, got min {lo}, max {hi}")
    return ids


def id_list(ids, name: str, vocab_size: int | None = None) -> list[int]:
    """Token ids (a list, array or tensor of integers) as a list of ``int``; floats and bools
    are refused (``int(1.5)`` would silently be 1)."""
    if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
        raise ArgumentTypeError(f"{name} must be a sequence of integer token ids, got {type(ids).__name__}")
    if isinstance(ids, (torch.Tensor, np.ndarray)):
        if not _is_int_dtype(ids.dtype):
            raise ArgumentTypeError(f"{name} must hold integer token ids, got dtype {ids.dtype}")
        out = [int(i) for i in ids.reshape(-1).tolist()] if ids.ndim else [int(ids)]
    else:
        out = []
        for i in ids:
            if isinstance(i, (torch.Tensor, np.ndarray)) and i.ndim == 0 and _is_int_dtype(i.dtype):
                i = i.item()
            if isinstance(i, bool) or not isinstance(i, numbers.Integral):
                raise ArgumentTypeError(f"{name} must hold integer token ids, got {_show(i)}")
            out.append(int(i))
    if vocab_size is not None:
        bad = [i for i in out if not 0 <= i < vocab_size]
        if bad:
            raise ValueError(f"{name} must be in [0, {vocab_size - 1}], got {bad[:5]}")
    return out


def int_array(value, name: str, ndims=None) -> np.ndarray:
    """``value`` (class labels, indices) as an int64 NumPy array; floats, bools and strings are
    refused, not rounded (an empty list is an empty array)."""
    try:
        a = np.asarray(value)
    except ValueError as e:                             # a ragged list
        raise ArgumentTypeError(f"{name} must be an array of integers ({e})") from None
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise ArgumentTypeError(f"{name} must hold integers (class ids), got dtype {a.dtype}")
    if ndims is not None and a.ndim not in ndims:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndims))} dimensions, got shape {a.shape}")
    return a.astype(np.int64)


def float_array(value, name: str, ndims=None, dtype=None) -> np.ndarray:
    """``value`` as a NumPy array of numbers: floats as they are (or as ``dtype``), anything else
    numeric as float64; ``ndims`` (a tuple) the numbers of dimensions allowed.  Strings and
    ragged lists are refused with a message naming ``name``."""
    try:
        a = np.asarray(value) if dtype is None else np.asarray(value, dtype=dtype)
        if not np.issubdtype(a.dtype, np.floating):
            if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
                raise TypeError(f"dtype {a.dtype}")
            a = a.astype(np.float64)
    except (TypeError, ValueError) as e:
        raise ArgumentTypeError(f"{name} must be an array of numbers, got {_show(value)} ({e})") from None
    if ndims is not None and a.ndim not in ndims:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndims))} dimensions, got shape {a.shape}")
    return a


def softmax_rows(row_max, name: str) -> None:
    """Check the maxima of a softmax's rows: a row that is all ``-inf`` (every entry masked) has
    no softmax (0 / 0 = NaN)."""
    if np.isneginf(row_max).any():
        raise ValueError(f"{name} has a row of all -inf: its softmax is undefined (NaN); leave at "
                         "least one finite entry in every row")


def attention_mask(mask, scores_shape, name: str = "mask"):
    """Check a boolean attention mask (``True`` = may attend) against scores of ``scores_shape``
    (..., T_q, T_k): it must broadcast to it, and every query must see at least one key (a row
    that blocks every key has no softmax: NaN).  Works on tensors and arrays; returns ``mask``."""
    is_tensor = isinstance(mask, torch.Tensor)
    if not is_tensor:
        mask = np.asarray(mask)
    if mask.dtype not in (torch.bool, np.bool_):
        raise ArgumentTypeError(f"{name} must be boolean (True = may attend), got dtype {mask.dtype}; "
                                "an additive float mask (0 / -inf) is not this convention")
    try:
        ok = np.broadcast_shapes(tuple(mask.shape), tuple(scores_shape)) == tuple(scores_shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{name} of shape {tuple(mask.shape)} does not broadcast to the scores' shape "
                         f"(..., T_q, T_k) = {tuple(scores_shape)}")
    if mask.shape[-1] and not bool(mask.any(-1).all()):
        raise ValueError(f"{name} blocks every key for some query (a row of all False): its "
                         "attention weights would be NaN; let each query attend to at least one key")
    return mask


# --- devices, generators ---------------------------------------------------------------------
def device(value, name: str = "device") -> torch.device:
    """``value`` as a ``torch.device`` (a name such as ``"cpu"``, ``"cuda"``, or a device)."""
    try:
        return torch.device(value)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"{name} must be a torch device such as 'cpu' or 'cuda', "
                         f"got {_show(value)}") from None


def generator(value, name: str = "generator"):
    """``value`` if it is None or a ``torch.Generator``."""
    if value is not None and not isinstance(value, torch.Generator):
        raise ArgumentTypeError(f"{name} must be None or a torch.Generator, got {type(value).__name__}")
    return value


def rng(seed, name: str = "seed") -> np.random.Generator:
    """A NumPy generator from ``seed``: None (fresh entropy), an int >= 0, or a
    ``numpy.random.Generator`` (returned as it is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
        raise ArgumentTypeError(f"{name} must be None, an int >= 0 or a numpy.random.Generator, "
                                f"got {_show(seed)}")
    return np.random.default_rng(seed)


# --- files -------------------------------------------------------------------------------------
def _path(value, name: str) -> Path:
    if not isinstance(value, (str, Path)) or not str(value):
        raise ArgumentTypeError(f"{name} must be a path (str or pathlib.Path), got {_show(value)}")
    return Path(value)


def existing_file(path, name: str = "path") -> Path:
    """``path`` as a ``Path`` to an existing file (FileNotFoundError otherwise)."""
    path = _path(path, name)
    if not path.is_file():
        raise FileNotFoundError(f"{name}: {path} does not exist or is not a file")
    return path


def folder(path, name: str = "directory", exists: bool = False) -> Path:
    """``path`` as a ``Path`` to a folder: one that exists (with ``exists``; FileNotFoundError
    otherwise) or that can be created (it is not a file)."""
    path = _path(path, name)
    if exists and not path.is_dir():
        raise FileNotFoundError(f"{name}: {path} does not exist or is not a folder")
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name}: {path} is a file, not a folder")
    return path


def new_file(path, name: str = "path") -> Path:
    """``path`` as a ``Path`` that a file can be written to: its folder exists, it is not a folder."""
    path = _path(path, name)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{name}: the folder {path.parent} does not exist; create it first")
    if path.is_dir():
        raise ValueError(f"{name}: {path} is a folder; give a file name such as {path / 'model.safetensors'}")
    return path


_PICKLE_STARTS = (b"\x80", b"PK\x03\x04")      # pickle protocol 2+, torch.save's zip archive


def safetensors_file(path, name: str = "path") -> tuple[dict, dict]:
    """The ``(metadata, shapes)`` of a safetensors file, read from its header only.

    ``metadata`` is the file's string metadata (``{}`` if none); ``shapes`` maps each tensor's
    name to its shape.  A missing file raises FileNotFoundError; a pickle or ``torch.save``
    file, a truncated file or anything else that is not safetensors raises ValueError.  Only
    safetensors is accepted: nothing here ever unpickles.
    """
    from safetensors import SafetensorError, safe_open

    path = existing_file(path, name)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except SafetensorError as e:
        with open(path, "rb") as f:
            start = f.read(4)
        if start.startswith(_PICKLE_STARTS):             # told apart only to say so: never unpickled
            raise ValueError(f"{name}: {path} is a pickle / torch.save file; only safetensors files are "
                             "accepted (a pickle can run code when it is loaded)") from None
        raise ValueError(f"{name}: {path} is not a complete safetensors file ({e}); only safetensors "
                         "files are accepted") from None
    return metadata, shapes


def tensors_match(module, shapes: dict, name: str, source: str = "its config") -> None:
    """Check that a file's tensors (``shapes``, from :func:`safetensors_file`) are exactly
    ``module``'s state, shape for shape (tied weights stored once under either name), before
    loading them: a file that does not fit the model built from ``source`` raises ValueError."""
    state = module.state_dict()
    tied = {}
    for key, tensor in state.items():                 # names that share one tensor (weight tying)
        tied.setdefault(tensor.data_ptr(), []).append(key)
    problems = [f"{keys[0]} missing" for keys in tied.values() if not any(k in shapes for k in keys)]
    problems += [f"unexpected tensor {k}" for k in shapes if k not in state]
    problems += [f"{k} has shape {shapes[k]}, the model needs {tuple(state[k].shape)}"
                 for k in shapes if k in state and shapes[k] != tuple(state[k].shape)]
    if problems:
        raise ValueError(f"{name} does not match {source}: " + "; ".join(problems[:4])
                         + (f" (and {len(problems) - 4} more)" if len(problems) > 4 else ""))


def json_file(path, name: str = "path"):
    """The JSON value in the file ``path`` (FileNotFoundError if missing, ValueError if not JSON)."""
    import json

    path = existing_file(path, name)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:                             # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{name}: {path} is not valid JSON ({e})") from None
