"""Bad input gets a clear error at every public entry point of ``utils`` (the probe).

The probe calls every public function and class of ``utils`` (the names in each module's
``__all__``, and the methods a chapter calls on the classes) with bad values of each argument,
one bad argument per case, and classifies what happens:

- **clear**: a ``ValueError``, ``TypeError`` or ``FileNotFoundError`` whose message names the
  argument (or, for a path, the file);
- **raw**: any other exception (``IndexError: index out of range in self``, a safetensors or
  NumPy error, ``AttributeError``), or one of those three whose message does not name the argument;
- **silent**: no exception at all: a wrong result (a NaN loss, a float rounded to an id) passes.

``test_the_probe_finds_nothing_raw_or_silent`` asserts zero raw and zero silent cases;
``test_every_public_name_has_probe_cases`` fails when a name in some ``__all__`` has no case
(so a new function gets probed), and the ``test_the_probe_*`` tests show that the probe does
catch a planted raw error, a planted silent result and a planted missing name.  The tests at
the end pin one example of each class of bad input that was closed.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import pickle
import pkgutil
import types
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch

import utils
from utils.data import CharTokenizer

CLEAR_EXCEPTIONS = (ValueError, TypeError, FileNotFoundError)
#: Callables that take no argument at all: nothing to probe (checked by their signature).
NO_ARGUMENTS = {"utils.device", "utils.data.plays", "utils.data.corpus_stats", "utils.bpe.bytes_to_unicode",
                "utils.apps_sentiment.vader_lexicon", "utils.speed.bf16_matmul_supported"}
#: Modules left out of the probe: notebook tooling (not a chapter's API) and the checks themselves
#: (they are what the probed functions call; the tests at the end of this file exercise them).
NOT_PROBED = {"utils.notebooks", "utils.checks"}


# --- the probe itself ---------------------------------------------------------------------------
@dataclass
class Case:
    key: str                 # "utils.gpt.GPT.forward": the callable probed
    arg: str                 # the bad argument
    label: str               # what is bad about it
    call: object             # a function of no arguments that makes the call
    names: tuple = ()        # strings of which the message must contain one (default: arg)


def key_of(obj) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def classify(case: Case) -> tuple[str, str]:
    """``("clear" | "raw" | "silent", what happened)`` for one case."""
    try:
        result = case.call()
    except CLEAR_EXCEPTIONS as e:
        names = case.names or (case.arg,)
        if any(n in str(e) for n in names):
            return "clear", f"{type(e).__name__}: {e}"
        return "raw", f"{type(e).__name__} without naming {names[0]!r}: {e}"
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the probe's point: any other exception is raw
        return "raw", f"{type(e).__name__}: {e}"
    return "silent", f"no error; returned {_short(result)}"


def _short(value) -> str:
    text = repr(value)
    return text if len(text) < 100 else text[:100] + "..."


def public_modules():
    """``utils`` and its submodules that define ``__all__`` (the probed public API)."""
    mods = [utils]
    for info in pkgutil.iter_modules(utils.__path__):
        name = f"utils.{info.name}"
        if name in NOT_PROBED:
            continue
        mod = importlib.import_module(name)
        if hasattr(mod, "__all__"):
            mods.append(mod)
    return mods


def public_callables(modules) -> dict[str, object]:
    """``key -> object`` of every callable named in the modules' ``__all__`` (constants are not
    callable and take no arguments; a re-exported function counts once, where it is defined)."""
    out = {}
    for mod in modules:
        for name in mod.__all__:
            obj = getattr(mod, name)
            if callable(obj):
                out[key_of(obj)] = obj
    return out


def uncovered(modules, cases) -> list[str]:
    """Public callables with no probe case (and not a function of no arguments)."""
    covered = {c.key for c in cases}
    missing = []
    for key, obj in public_callables(modules).items():
        if key in covered:
            continue
        if key in NO_ARGUMENTS and not inspect.signature(obj).parameters:
            continue
        missing.append(key)
    return sorted(missing)


class Probe:
    """Collects cases: ``probe(target, arg, label, call)`` or ``probe.each(target, arg, values, call)``."""

    def __init__(self):
        self.cases: list[Case] = []

    def __call__(self, target, arg, label, call, names=()):
        self.cases.append(Case(key_of(target), arg, label, call, (arg, *names)))

    def each(self, target, arg, values, call, names=()):
        for value in values:
            self(target, arg, f"{arg}={_short(value)}", lambda v=value: call(v), names)


# --- small things to call with ------------------------------------------------------------------
CHARS = "\n abcdefgh"
V = len(CHARS)                                 # 10 ids: 0..9


@functools.cache
def tok():
    from utils.data import CharTokenizer
    return CharTokenizer(CHARS)


@functools.cache
def cfg():
    from utils.gpt import GPTConfig
    return GPTConfig(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=8)


@functools.cache
def model():
    from utils.gpt import GPT
    torch.manual_seed(0)
    return GPT(cfg()).eval()


@functools.cache
def tcfg():
    from utils.train import PRESETS
    return replace(PRESETS["tiny"], n_layer=1, n_head=2, n_embd=8, block_size=8, batch_size=2, max_steps=2,
                   warmup_steps=1, eval_interval=1, eval_iters=1, eval_batch_size=2, seed=0)


def ids(*values, dtype=torch.long):
    return torch.tensor([list(values)], dtype=dtype)


STREAM = torch.arange(40) % V                   # a valid 1-D id stream
BAD_ID_STREAMS = [[1.5, 2.5] * 10, [-1] + [1] * 19, [V] * 20, "abcdefgh" * 3, np.zeros((4, 5), dtype=int)]
BAD_IDX = [[[1, 2]], ids(1.0, 2.0, dtype=torch.float32), ids(True, False, dtype=torch.bool), ids(-1, 2),
           ids(V, 2), torch.zeros(1, 0, dtype=torch.long), torch.tensor([1, 2])]
BAD_COUNTS = [0, -1, 1.5, "2", True]             # for an int >= 1
BAD_FLAG = ["no", 1, None]
BAD_STR = [["a", "b"], 5, None]
BAD_GENERATOR = ["seed", 0]
BAD_DEVICE = ["nope", 1.5]


def bad_tensor_file(tmp: Path, kind: str) -> Path:
    """A file that is not the safetensors checkpoint it claims to be."""
    from safetensors.torch import save_file, save_model

    from utils.gpt import save_checkpoint

    path = tmp / f"{kind}.safetensors"
    if path.exists():
        return path
    state = {k: v.contiguous() for k, v in model().state_dict().items() if k != "lm_head.weight"}
    if kind == "good":
        save_checkpoint(model(), path)
    elif kind == "pickle":
        path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    elif kind == "torch_save":
        torch.save(model().state_dict(), path)
    elif kind == "truncated":
        path.write_bytes(bad_tensor_file(tmp, "good").read_bytes()[:-16])
    elif kind == "no_config":
        save_model(model(), str(path))
    elif kind == "bad_json":
        save_file(state, str(path), metadata={"config": "{not json"})
    elif kind == "unknown_field":
        save_file(state, str(path), metadata={"config": json.dumps({**asdict(cfg()), "n_ctx": 8})})
    elif kind == "disagrees":
        save_file(state, str(path), metadata={"config": json.dumps({**asdict(cfg()), "n_embd": 16})})
    elif kind == "text":
        path.write_text("hello")
    else:
        raise AssertionError(kind)
    return path


BAD_FILES = ["missing", "pickle", "torch_save", "truncated", "text"]
BAD_CHECKPOINTS = BAD_FILES + ["no_config", "bad_json", "unknown_field", "disagrees"]


def file_of(tmp, kind):
    return tmp / "missing.safetensors" if kind == "missing" else bad_tensor_file(tmp, kind)


def checkpoint_dir(tmp: Path, kind: str) -> Path:
    """A checkpoint folder (as utils.train writes it) with one thing wrong."""
    import shutil

    from utils.train import save_training_checkpoint
    d = tmp / f"dir_{kind}"
    if d.exists():
        return d
    m = model()
    opt = m.configure_optimizer()
    save_training_checkpoint(d, m, opt, tcfg(), {"step": 0}, torch.Generator(), tok())
    if kind == "missing_file":
        (d / "optimizer.safetensors").unlink()
    elif kind in ("pickle", "truncated", "disagrees", "no_config"):
        shutil.copy(bad_tensor_file(tmp, kind), d / "model.safetensors")
    elif kind == "pickled_optimizer":
        shutil.copy(bad_tensor_file(tmp, "pickle"), d / "optimizer.safetensors")
    elif kind == "bad_config_json":
        (d / "config.json").write_text("{not json")
    elif kind == "config_fields":
        meta = json.loads((d / "config.json").read_text())
        meta["train"]["n_layers"] = 3
        (d / "config.json").write_text(json.dumps(meta))
    elif kind == "bad_vocab":
        (d / "vocab.json").write_text(json.dumps(["ab", "c"]))
    elif kind == "bad_state":
        (d / "trainer_state.json").write_text("[1, 2]")
    elif kind == "no_vocab":
        (d / "vocab.json").unlink()
    elif kind == "config_shape":
        meta = json.loads((d / "config.json").read_text())
        meta["model"]["n_embd"] = 16
        (d / "config.json").write_text(json.dumps(meta))
    elif kind == "vocab_size":
        (d / "vocab.json").write_text(json.dumps(list(CHARS[:-1])))
    elif kind != "good":
        raise AssertionError(kind)
    return d


DIR_KINDS = ["missing_file", "pickle", "truncated", "disagrees", "bad_config_json", "config_fields"]


# --- the cases, module by module --------------------------------------------------------------------
def build_cases(tmp: Path) -> list[Case]:
    p = Probe()
    _cases_top(p)
    _cases_data(p, tmp)
    _cases_ngram(p)
    _cases_stats(p)
    _cases_scaling(p, tmp)
    _cases_neural_ngram(p)
    _cases_rnn(p)
    _cases_attention(p)
    _cases_gpt(p, tmp)
    _cases_keras(p)
    _cases_train(p, tmp)
    _cases_checkpoints(p, tmp)
    _cases_diagnostics(p)
    _cases_ddp(p, tmp)
    _cases_pretrained(p, tmp)
    _cases_bpe(p)
    _cases_production_bpe(p, tmp)
    _cases_decoding(p)
    _cases_sft(p)
    _cases_hf(p, tmp)
    _cases_apps(p)
    _cases_apps_privacy(p)
    _cases_apps_sentiment(p)
    _cases_speed(p)
    _cases_glossary(p, tmp)
    return p.cases


def _cases_top(p):
    p.each(utils.set_seed, "seed", [-1, 1.5, "1", None], utils.set_seed)
    p.each(utils.print_versions, "packages", ["numpy", [1], 5], utils.print_versions)


def _cases_data(p, tmp):
    from utils import data
    p.each(data.Play, "name", [5, None], lambda v: data.Play(v, "T", "comedies", "train", Path("x.md")))
    p.each(data.Play, "title", [5], lambda v: data.Play("x", v, "comedies", "train", Path("x.md")))
    p.each(data.Play, "genre", ["jokes", 5], lambda v: data.Play("x", "T", v, "train", Path("x.md")))
    p.each(data.Play, "split", ["dev", None], lambda v: data.Play("x", "T", "comedies", v, Path("x.md")))
    p.each(data.Play, "path", [5, None], lambda v: data.Play("x", "T", "comedies", "train", v))
    p.each(data.seed_article, "index", [-1, 5, 1.5, "0", None, True], data.seed_article)
    p.each(data.play_text, "name", ["nope", ["macbeth"], 5], data.play_text)
    p.each(data.speeches, "name", ["nope", ["macbeth"], 5], data.speeches)
    p.each(data.load_corpus, "split", ["dev", ["train"], 1], data.load_corpus)
    p.each(data.load_corpus, "genre", ["jokes", ["comedies"]], lambda v: data.load_corpus(None, v))
    p.each(data.CharTokenizer, "chars", ["", 5, ["ab", "c"], [1, 2], None], data.CharTokenizer)
    p.each(data.CharTokenizer.from_text, "text", [5, ["a", "b"], ""], data.CharTokenizer.from_text)
    p.each(data.CharTokenizer.encode, "text", [["a", "b"], 5, "aZ"], lambda v: tok().encode(v))
    p.each(data.CharTokenizer.decode, "ids", [[1.5], [-1], [V], "ab", 5, [True]], lambda v: tok().decode(v))
    p.each(data.get_batch, "data",
           BAD_ID_STREAMS[:1] + [[-1] * 20, "abcdefgh" * 3, [[1, 2]], torch.rand(20), 5],
           lambda v: data.get_batch(v, 4, 2))
    p.each(data.get_batch, "block_size", BAD_COUNTS + [40], lambda v: data.get_batch(STREAM, v, 2))
    p.each(data.get_batch, "batch_size", BAD_COUNTS, lambda v: data.get_batch(STREAM, 4, v))
    p.each(data.get_batch, "generator", BAD_GENERATOR, lambda v: data.get_batch(STREAM, 4, 2, generator=v))
    p.each(data.get_batch, "device", BAD_DEVICE, lambda v: data.get_batch(STREAM, 4, 2, device=v))


def _cases_ngram(p):
    from utils.ngram import NGramModel as N

    fitted = functools.cache(lambda: N(3).fit("abcabcabd"))
    p.each(N, "n", [0, 1.5, "3", True], N)
    p.each(N, "smoothing", ["laplace", None, ["add-k"]], lambda v: N(3, v))
    p.each(N, "k", [-1, "1", float("nan")], lambda v: N(3, "add-k", k=v))
    p.each(N, "discount", [0, 1.5, "x", True, None], lambda v: N(3, discount=v))
    p.each(N, "vocab", ["", 5, ["ab"], [1, 2]], lambda v: N(3, vocab=v))
    p.each(N.fit, "text", ["", 5, ["abc"], "ab"], lambda v: N(3).fit(v))
    p.each(N.with_smoothing, "smoothing", ["laplace"], lambda v: fitted().with_smoothing(v))
    p.each(N.with_smoothing, "k", [-1], lambda v: fitted().with_smoothing("add-k", k=v))
    p.each(N.with_smoothing, "discount", [2], lambda v: fitted().with_smoothing("kneser-ney", discount=v))
    p.each(N.count, "gram", ["", "abcd", 5, "az"], lambda v: fitted().count(v))
    p.each(N.num_ngrams, "order", [0, 4, 1.5, "1", True], lambda v: fitted().num_ngrams(v))
    p.each(N.num_contexts, "order", [0, 4, "1"], lambda v: fitted().num_contexts(v))
    p.each(N.count_of_counts, "order", [0, 4, 1.5, "1"], lambda v: fitted().count_of_counts(v))
    p.each(N.count_of_counts, "order", [3], lambda v: fitted().count_of_counts(v, continuation=True))
    p.each(N.count_of_counts, "continuation", ["yes", 1, None], lambda v: fitted().count_of_counts(2, v))
    p.each(N.probs, "context", [5, ["a"], "az"], lambda v: fitted().probs(v))
    p.each(N.prob, "context", [5, "az"], lambda v: fitted().prob(v, "a"))
    p.each(N.prob, "char", ["ab", 5, "", "z"], lambda v: fitted().prob("ab", v))
    p.each(N.nll, "text", ["", 5, ["ab"], "az"], lambda v: fitted().nll(v))
    p.each(N.cross_entropy, "text", ["", 5], lambda v: fitted().cross_entropy(v))
    p.each(N.bits_per_char, "text", [5], lambda v: fitted().bits_per_char(v))
    p.each(N.perplexity, "text", [5, ""], lambda v: fitted().perplexity(v))
    p.each(N.encode, "text", [5, "az"], lambda v: fitted().encode(v))
    p.each(N.sample, "length", [-1, 1.5, "3"], lambda v: fitted().sample(v))
    p.each(N.sample, "prompt", [5, "az", ["a"]], lambda v: fitted().sample(3, prompt=v))
    p.each(N.sample, "seed", [-1, "x", 1.5], lambda v: fitted().sample(3, seed=v))


def _cases_stats(p):
    from utils.stats import block_bootstrap_ci as ci

    v = np.arange(100.0)
    p.each(ci, "values", [[[1.0, 2.0]] * 60, "abc", np.ones(9), [1.0, float("inf")] * 60, None],
           lambda x: ci(x, block=5))
    p.each(ci, "block", [0, 1.5, "5", 60], lambda x: ci(v, block=x))
    p.each(ci, "n_resamples", [0, 2.5, None], lambda x: ci(v, block=5, n_resamples=x))
    p.each(ci, "level", [0, 1, 1.5, "0.9"], lambda x: ci(v, block=5, level=x))
    p.each(ci, "seed", [-1, "x"], lambda x: ci(v, block=5, seed=x))


def _cases_scaling(p, tmp):
    from utils import scaling as sc

    shape = [(1, 8, 2)]
    p.each(sc.plan, "budgets", [[], "1e10", [-1.0], [float("nan")], None, [True]], lambda v: sc.plan(v, shape))
    p.each(sc.plan, "shapes", [[], "1x8x2", [(1, 30, 4)], [(0, 8, 2)], [(1, 8)], [(1.5, 8, 2)], None],
           lambda v: sc.plan([1e8], v), names=("n_embd",))
    p.each(sc.plan, "vocab_size", [0, 1.5, "71"], lambda v: sc.plan([1e8], shape, vocab_size=v))
    p.each(sc.plan, "base", [5, "book"], lambda v: sc.plan([1e8], shape, base=v))
    p.each(sc.run, "budgets", [[], "x", [0]], lambda v: sc.run(v, shape))
    p.each(sc.run, "shapes", ["1x8x2", [(1, 9, 2)]], lambda v: sc.run([1e8], v), names=("n_embd",))
    p.each(sc.run, "val_chars", [1, 1.5, "100"], lambda v: sc.run([1e8], shape, val_chars=v))
    p.each(sc.run, "base", ["book", 5], lambda v: sc.run([1e8], shape, base=v))
    p.each(sc.run, "max_steps", [0, 1.5, "10"], lambda v: sc.run([1e8], shape, max_steps=v))
    p.each(sc.run, "workers", [0, 1.5, "2", True], lambda v: sc.run([1e8], shape, workers=v))
    p.each(sc.run, "progress", ["yes", 1], lambda v: sc.run([1e8], shape, progress=v))
    good = [1e4, 3e4, 1e5]
    p.each(sc.fit_parabola, "n_params", ["abc", [1.0, 2.0], [[1.0, 2.0, 3.0]], [0.0, 1.0, 2.0], [1.0, 1.0, 1.0],
                                         [1.0, float("inf"), 2.0]], lambda v: sc.fit_parabola(v, [2.5, 2.3, 2.4]))
    p.each(sc.fit_parabola, "losses", ["abc", [1.0, 2.0], [2.5, float("nan"), 2.4]],
           lambda v: sc.fit_parabola(good, v))
    p.each(sc.fit_exponent, "budgets", ["abc", [1e10, 1e10, 1e10], [-1.0, 1.0, 2.0], [[1.0, 2.0]]],
           lambda v: sc.fit_exponent(v, good))
    p.each(sc.fit_exponent, "n_opts", ["abc", [1.0, 2.0], [1.0, 0.0, 2.0]],
           lambda v: sc.fit_exponent([1e10, 1e11, 1e12], v))
    p.each(sc.analyse, "runs", ["abc", [], [{"budget": 1.0}], 5, {"budget": 1.0}, [5]], sc.analyse)
    out = str(tmp / "iso.json")
    p.each(sc.main, "argv", ["--out x", [5], ["--out", "/no/such/folder/x.json"],
                             ["--out", out, "--shapes", "1x8"], ["--out", out, "--shapes", "ax8x2"],
                             ["--out", out, "--budgets", "0"], ["--out", out, "--val-chars", "1"]],
           sc.main, names=("--out", "shapes", "budgets", "val_chars"))


def _cases_neural_ngram(p):
    from utils import neural_ngram as nn_

    net = functools.cache(lambda: nn_.NeuralNGram(V, 3, emb_dim=2, hidden=4))
    for arg in ("vocab_size", "context", "emb_dim", "hidden"):
        p.each(nn_.NeuralNGram, arg, [0, 1.5, "2"], lambda v,
               a=arg: nn_.NeuralNGram(**{"vocab_size": V, "context": 3, a: v}))
    p.each(nn_.NeuralNGram.forward, "x", [[[1, 2, 3]], ids(1.0, 2.0, 3.0, dtype=torch.float32), ids(1, 2),
                                         ids(-1, 2, 3), ids(V, 2, 3), torch.zeros(0, 3, dtype=torch.long)],
           lambda v: net()(v))
    p.each(nn_.windows, "ids", BAD_ID_STREAMS[:2] + ["abcdefgh", [1, 2]], lambda v: nn_.windows(v, 3))
    p.each(nn_.windows, "context", [0, 1.5, "3"], lambda v: nn_.windows(STREAM, v))
    p.each(nn_.windows, "pad_id", [-1, 1.5, "0"], lambda v: nn_.windows(STREAM, 3, pad_id=v))
    p.each(nn_.context_distributions, "ids", BAD_ID_STREAMS + [[1, 2]],
           lambda v: nn_.context_distributions(v, 3, V))
    p.each(nn_.context_distributions, "context", [0, "3"], lambda v: nn_.context_distributions(STREAM, v, V))
    p.each(nn_.context_distributions, "vocab_size", [0, "10", 5],
           lambda v: nn_.context_distributions(STREAM, 3, v))
    X, Y = nn_.windows(STREAM, 3)
    for fn in (nn_.nll, nn_.mean_nll):
        p.each(fn, "model", ["net", None], lambda v, fn=fn: fn(v, X, Y))
        p.each(fn, "x", [X.tolist(), X.float(), X[:, :2], X[:5]], lambda v, fn=fn: fn(net(), v, Y))
        p.each(fn, "y", [Y.tolist(), Y.float(), Y[:5], Y * 0 - 1, Y * 0 + V, Y[:0]],
               lambda v, fn=fn: fn(net(), X, v), names=("x and y",))
        p.each(fn, "batch_size", BAD_COUNTS, lambda v, fn=fn: fn(net(), X, Y, v))


def _cases_rnn(p):
    from utils import rnn

    P = rnn.init_rnn_params(3, 4)
    W, U, b = P["W"], P["U"], P["b"]
    x = np.zeros((2, 5, 3))
    p.each(rnn.init_rnn_params, "input_size", BAD_COUNTS, lambda v: rnn.init_rnn_params(v, 4))
    p.each(rnn.init_rnn_params, "hidden_size", BAD_COUNTS, lambda v: rnn.init_rnn_params(3, v))
    p.each(rnn.init_rnn_params, "seed", [-1, "x", 1.5], lambda v: rnn.init_rnn_params(3, 4, seed=v))
    p.each(rnn.init_rnn_params, "dtype", ["nope", np.int64, 5], lambda v: rnn.init_rnn_params(3, 4, dtype=v))
    p.each(rnn.rnn_step, "x_t", [np.zeros(2), [["a", "b", "c"]], "abc", np.zeros((1, 1, 3))],
           lambda v: rnn.rnn_step(v, np.zeros(4), W, U, b))
    p.each(rnn.rnn_step, "h_prev", [np.zeros(3), "h"], lambda v: rnn.rnn_step(np.zeros(3), v, W, U, b))
    p.each(rnn.rnn_step, "W", [W.T, "W", [["a"]]], lambda v: rnn.rnn_step(np.zeros(3), np.zeros(4), v, U, b))
    p.each(rnn.rnn_step, "U", [U[:3], "U"], lambda v: rnn.rnn_step(np.zeros(3), np.zeros(4), W, v, b))
    p.each(rnn.rnn_step, "b", [b[:3], "b"], lambda v: rnn.rnn_step(np.zeros(3), np.zeros(4), W, U, v))
    p.each(rnn.rnn_forward, "x", [np.zeros((2, 5, 2)), np.zeros((2, 0, 3)), np.zeros((5, 3)), "x"],
           lambda v: rnn.rnn_forward(v, W, U, b))
    p.each(rnn.rnn_forward, "W", [W.T], lambda v: rnn.rnn_forward(x, v, U, b))
    p.each(rnn.rnn_forward, "U", [U[:, :3]], lambda v: rnn.rnn_forward(x, W, v, b))
    p.each(rnn.rnn_forward, "b", [b[:2]], lambda v: rnn.rnn_forward(x, W, U, v))
    p.each(rnn.rnn_forward, "h0", [np.zeros((3, 4)), "h"], lambda v: rnn.rnn_forward(x, W, U, b, v))
    hs = rnn.rnn_forward(x, W, U, b)
    p.each(rnn.rnn_backward, "x", [np.zeros((2, 5, 2))], lambda v: rnn.rnn_backward(v, hs, hs, W, U))
    p.each(rnn.rnn_backward, "hs", [hs[:, :2], "hs"], lambda v: rnn.rnn_backward(x, v, hs, W, U))
    p.each(rnn.rnn_backward, "dhs", [hs[:1], "dhs"], lambda v: rnn.rnn_backward(x, hs, v, W, U))
    p.each(rnn.rnn_backward, "W", [W.T], lambda v: rnn.rnn_backward(x, hs, hs, v, U))
    p.each(rnn.rnn_backward, "U", [U[:2], "U"], lambda v: rnn.rnn_backward(x, hs, hs, W, v))
    p.each(rnn.rnn_backward, "h0", [np.zeros((2, 3))], lambda v: rnn.rnn_backward(x, hs, hs, W, U, v))
    p.each(rnn.softmax, "z", ["z", [], [[-np.inf, -np.inf]], np.zeros((1,) * 5)], rnn.softmax)
    p.each(rnn.softmax, "axis", [3, "last", 1.5], lambda v: rnn.softmax(np.zeros((2, 3)), v))
    Wo, bo = np.zeros((5, 4)), np.zeros(5)
    p.each(rnn.output_layer, "h", [np.zeros((2, 3)), "h"], lambda v: rnn.output_layer(v, Wo, bo))
    p.each(rnn.output_layer, "W_ho", [Wo.T, "W"], lambda v: rnn.output_layer(np.zeros(4), v, bo))
    p.each(rnn.output_layer, "b_o", [bo[:2], "b"], lambda v: rnn.output_layer(np.zeros(4), Wo, v))
    p.each(rnn.output_layer, "activation", ["relu", None], lambda v: rnn.output_layer(np.zeros(4), Wo, bo, v))
    p.each(rnn.clip_grad_norm, "grads", [[], 5, "abc", [np.array(["a"])], np.zeros(3)],
           lambda v: rnn.clip_grad_norm(v, 1.0))
    p.each(rnn.clip_grad_norm, "max_norm", [0, -1, "1", float("nan")],
           lambda v: rnn.clip_grad_norm([np.ones(2)], v))
    L = rnn.init_rnn_params(3, 4 * 4)
    Wl, Ul, bl = L["W"][:16], np.zeros((16, 4)), L["b"]
    h4 = np.zeros(4)
    p.each(rnn.lstm_step, "x_t", [np.zeros(2), "x"], lambda v: rnn.lstm_step(v, h4, h4, Wl, Ul, bl))
    p.each(rnn.lstm_step, "h_prev", [np.zeros(3)], lambda v: rnn.lstm_step(np.zeros(3), v, h4, Wl, Ul, bl))
    p.each(rnn.lstm_step, "c_prev", [np.zeros(3), "c"],
           lambda v: rnn.lstm_step(np.zeros(3), h4, v, Wl, Ul, bl))
    p.each(rnn.lstm_step, "W", [Wl[:4]], lambda v: rnn.lstm_step(np.zeros(3), h4, h4, v, Ul, bl))
    p.each(rnn.lstm_step, "U", [U], lambda v: rnn.lstm_step(np.zeros(3), h4, h4, Wl, v, bl))
    p.each(rnn.lstm_step, "b", [bl[:4]], lambda v: rnn.lstm_step(np.zeros(3), h4, h4, Wl, Ul, v))
    p.each(rnn.lstm_forward, "x", [np.zeros((2, 5, 2))], lambda v: rnn.lstm_forward(v, Wl, Ul, bl))
    p.each(rnn.lstm_forward, "W", [Wl[:4]], lambda v: rnn.lstm_forward(x, v, Ul, bl))
    p.each(rnn.lstm_forward, "U", [U], lambda v: rnn.lstm_forward(x, Wl, v, bl))
    p.each(rnn.lstm_forward, "b", [b], lambda v: rnn.lstm_forward(x, Wl, Ul, v))
    p.each(rnn.lstm_forward, "h0", [np.zeros((2, 3))], lambda v: rnn.lstm_forward(x, Wl, Ul, bl, h0=v))
    p.each(rnn.lstm_forward, "c0", [np.zeros((2, 3))], lambda v: rnn.lstm_forward(x, Wl, Ul, bl, c0=v))
    Wg, Ug, bg = np.zeros((12, 3)), np.zeros((12, 4)), np.zeros(12)
    p.each(rnn.gru_step, "x_t", [np.zeros(2)], lambda v: rnn.gru_step(v, h4, Wg, Ug, bg, bg))
    p.each(rnn.gru_step, "h_prev", [np.zeros(2)], lambda v: rnn.gru_step(np.zeros(3), v, Wg, Ug, bg, bg))
    p.each(rnn.gru_step, "W", [Wg[:4]], lambda v: rnn.gru_step(np.zeros(3), h4, v, Ug, bg, bg))
    p.each(rnn.gru_step, "U", [U], lambda v: rnn.gru_step(np.zeros(3), h4, Wg, v, bg, bg))
    p.each(rnn.gru_step, "b_ih", [b], lambda v: rnn.gru_step(np.zeros(3), h4, Wg, Ug, v, bg))
    p.each(rnn.gru_step, "b_hh", [b, "b"], lambda v: rnn.gru_step(np.zeros(3), h4, Wg, Ug, bg, v))
    p.each(rnn.gru_forward, "x", [np.zeros((2, 5, 2))], lambda v: rnn.gru_forward(v, Wg, Ug, bg, bg))
    p.each(rnn.gru_forward, "W", [W], lambda v: rnn.gru_forward(x, v, Ug, bg, bg))
    p.each(rnn.gru_forward, "U", [U], lambda v: rnn.gru_forward(x, Wg, v, bg, bg))
    p.each(rnn.gru_forward, "b_ih", [b], lambda v: rnn.gru_forward(x, Wg, Ug, v, bg))
    p.each(rnn.gru_forward, "b_hh", [b], lambda v: rnn.gru_forward(x, Wg, Ug, bg, v))
    p.each(rnn.gru_forward, "h0", [np.zeros((1, 4))], lambda v: rnn.gru_forward(x, Wg, Ug, bg, bg, v))
    torch_rnn = torch.nn.RNN(3, 4, batch_first=True)
    p.each(rnn.params_to_torch, "params", ["x", {"W": W}, {**P, "b": b[:2]}, {"W": W, "U": U, "b": "b"}],
           lambda v: rnn.params_to_torch(v, torch_rnn))
    p.each(rnn.params_to_torch, "module", ["x", torch.nn.RNN(3, 4, num_layers=2), torch.nn.Linear(3, 4)],
           lambda v: rnn.params_to_torch(P, v))
    p.each(rnn.params_from_torch, "module", ["x", torch.nn.RNN(3, 4, bidirectional=True)],
           rnn.params_from_torch)
    p.each(rnn.params_to_keras, "params", ["x", {"W": W}], lambda v: rnn.params_to_keras(v, _keras_rnn()))
    p.each(rnn.params_to_keras, "layer", ["x", torch_rnn], lambda v: rnn.params_to_keras(P, v))
    p.each(rnn.params_from_keras, "layer", ["x", torch_rnn], rnn.params_from_keras)
    for fn in (rnn.TorchCharRNN, rnn.keras_char_rnn):
        p.each(fn, "vocab_size", BAD_COUNTS[:3], lambda v, fn=fn: fn(v, 4, 4))
        p.each(fn, "embed_dim", BAD_COUNTS[:3], lambda v, fn=fn: fn(V, v, 4))
        p.each(fn, "hidden_size", BAD_COUNTS[:3], lambda v, fn=fn: fn(V, 4, v))
        p.each(fn, "cell", ["gru", None], lambda v, fn=fn: fn(V, 4, 4, v))
    char_rnn = functools.cache(lambda: rnn.TorchCharRNN(V, 4, 4))
    p.each(rnn.TorchCharRNN.forward, "idx", BAD_IDX, lambda v: char_rnn()(v))
    p.each(rnn.TorchCharRNN.forward, "state",
           ["s", (torch.zeros(1, 1, 3), torch.zeros(1, 1, 3)), torch.zeros(1, 1, 4)],
           lambda v: char_rnn()(ids(1, 2), v))
    k_rnn = functools.cache(lambda: rnn.keras_char_rnn(V, 4, 4))
    p.each(rnn.char_rnn_torch_to_keras, "torch_model", ["x", torch_rnn],
           lambda v: rnn.char_rnn_torch_to_keras(v, k_rnn()))
    p.each(rnn.char_rnn_torch_to_keras, "keras_model", ["x", rnn.TorchCharRNN(V, 4, 4)],
           lambda v: rnn.char_rnn_torch_to_keras(char_rnn(), v))
    p.each(rnn.char_rnn_keras_to_torch, "keras_model", ["x"],
           lambda v: rnn.char_rnn_keras_to_torch(v, char_rnn()))
    p.each(rnn.char_rnn_keras_to_torch, "torch_model", ["x", rnn.TorchCharRNN(V, 5, 4)],
           lambda v: rnn.char_rnn_keras_to_torch(k_rnn(), v))
    p.each(rnn.sample_torch, "model", ["m", torch_rnn], lambda v: rnn.sample_torch(v, [1], 2))
    p.each(rnn.sample_torch, "prompt_ids", [[], [1.5], [-1], [V], "ab", 5],
           lambda v: rnn.sample_torch(char_rnn(), v, 2))
    p.each(rnn.sample_torch, "length", [-1, 1.5, "2"], lambda v: rnn.sample_torch(char_rnn(), [1], v))
    p.each(rnn.sample_torch, "temperature", [0, -1, "1", float("nan")],
           lambda v: rnn.sample_torch(char_rnn(), [1], 2, v))
    p.each(rnn.sample_torch, "generator", BAD_GENERATOR,
           lambda v: rnn.sample_torch(char_rnn(), [1], 2, generator=v))
    p.each(rnn.sample_keras, "model", ["m", char_rnn],
           lambda v: rnn.sample_keras(v if v == "m" else v(), [1], 2))
    p.each(rnn.sample_keras, "prompt_ids", [[], [1.5], [V], "ab"], lambda v: rnn.sample_keras(k_rnn(), v, 2))
    p.each(rnn.sample_keras, "length", [-1], lambda v: rnn.sample_keras(k_rnn(), [1], v))
    p.each(rnn.sample_keras, "temperature", [0], lambda v: rnn.sample_keras(k_rnn(), [1], 2, v))
    p.each(rnn.sample_keras, "rng", ["x", 1.5, torch.Generator()],
           lambda v: rnn.sample_keras(k_rnn(), [1], 2, rng=v))


@functools.cache
def _keras_rnn():
    import keras
    layer = keras.layers.SimpleRNN(4)
    layer.build((None, None, 3))
    return layer


def _cases_attention(p):
    from utils import attention as att

    q = np.zeros((2, 3, 4))
    full = np.ones((3, 3), dtype=bool)
    row_blocked = full.copy()
    row_blocked[1] = False
    bad_masks = [np.ones((3, 3)), np.ones((2, 3), dtype=bool), row_blocked, "mask"]
    p.each(att.softmax, "x", ["x", [], [[-np.inf, -np.inf]]], att.softmax)
    p.each(att.softmax, "axis", [3, "last"], lambda v: att.softmax(np.zeros((2, 3)), v))
    p.each(att.attention_np, "q", [np.zeros(4), "q", np.zeros((2, 3, 0))],
           lambda v: att.attention_np(v, q, q))
    p.each(att.attention_np, "k", [np.zeros((2, 3, 5)), np.zeros((2, 0, 4))],
           lambda v: att.attention_np(q, v, v[..., :4]))
    p.each(att.attention_np, "v", [np.zeros((2, 2, 4)), "v"], lambda v: att.attention_np(q, q, v))
    p.each(att.attention_np, "mask", bad_masks, lambda v: att.attention_np(q, q, q, v))
    tq = torch.zeros(2, 3, 4)
    p.each(att.attention, "q",
           [q, torch.zeros(4), torch.zeros(2, 3, 4, dtype=torch.long), torch.zeros(2, 3, 0)],
           lambda v: att.attention(v, tq, tq))
    p.each(att.attention, "k", [torch.zeros(2, 3, 5), q], lambda v: att.attention(tq, v, tq))
    p.each(att.attention, "v", [torch.zeros(2, 2, 4), q], lambda v: att.attention(tq, tq, v))
    p.each(att.attention, "mask", [torch.tensor(m) for m in bad_masks[:3]] + ["mask"],
           lambda v: att.attention(tq, tq, tq, v))
    p.each(att.causal_mask, "T", [0, 1.5, "3", True], att.causal_mask)
    p.each(att.sinusoidal_encoding, "max_len", BAD_COUNTS, lambda v: att.sinusoidal_encoding(v, 4))
    p.each(att.sinusoidal_encoding, "d_model", BAD_COUNTS + [3], lambda v: att.sinusoidal_encoding(4, v))
    p.each(att.sinusoidal_encoding, "base", [1, "x", float("nan")],
           lambda v: att.sinusoidal_encoding(4, 4, v))
    p.each(att.PositionalEncoding, "d_model", [3, 0, "4"], att.PositionalEncoding)
    p.each(att.PositionalEncoding, "dropout", [1, -0.1, "x"], lambda v: att.PositionalEncoding(4, v))
    p.each(att.PositionalEncoding, "max_len", [0, "5"], lambda v: att.PositionalEncoding(4, 0.0, v))
    pe = functools.cache(lambda: att.PositionalEncoding(4, 0.0, 5))
    p.each(att.PositionalEncoding.forward, "x",
           [torch.zeros(6, 1, 4), torch.zeros(3, 1, 5), q, torch.zeros(3, 4)],
           lambda v: pe()(v))
    mha = functools.cache(lambda: att.MultiHeadAttention(4, 2))
    params = functools.cache(lambda: mha().numpy_params())
    p.each(att.multi_head_attention_np, "x_q", [np.zeros((3, 4)), np.zeros((2, 3, 6)), "x"],
           lambda v: att.multi_head_attention_np(v, q, params(), 2))
    p.each(att.multi_head_attention_np, "x_kv", [np.zeros((2, 3, 6)), np.zeros((3, 3, 4)), np.zeros(4)],
           lambda v: att.multi_head_attention_np(q, v, params(), 2))
    p.each(att.multi_head_attention_np, "params", [{}, "params", {"w_q": np.zeros((3, 3))}],
           lambda v: att.multi_head_attention_np(q, q, v, 2))
    p.each(att.multi_head_attention_np, "n_head", [0, 3, 1.5, "2"],
           lambda v: att.multi_head_attention_np(q, q, params(), v))
    p.each(att.multi_head_attention_np, "mask", bad_masks,
           lambda v: att.multi_head_attention_np(q, q, params(), 2, v))
    p.each(att.MultiHeadAttention, "embed_dim", [0, 3, "4", 1.5], lambda v: att.MultiHeadAttention(v, 2))
    p.each(att.MultiHeadAttention, "n_head", [0, 3, "2"], lambda v: att.MultiHeadAttention(4, v))
    p.each(att.MultiHeadAttention, "bias", ["no", None], lambda v: att.MultiHeadAttention(4, 2, v))
    p.each(att.MultiHeadAttention.forward, "query", [torch.zeros(3, 4), torch.zeros(2, 3, 5), q],
           lambda v: mha()(v, tq, tq))
    p.each(att.MultiHeadAttention.forward, "key", [torch.zeros(2, 3, 5), torch.zeros(3, 3, 4)],
           lambda v: mha()(tq, v, tq))
    p.each(att.MultiHeadAttention.forward, "value", [torch.zeros(2, 2, 4), q], lambda v: mha()(tq, tq, v))
    p.each(att.MultiHeadAttention.forward, "mask", [torch.tensor(m) for m in bad_masks[:3]],
           lambda v: mha()(tq, tq, tq, v))
    p.each(att.copy_to_torch_mha, "ours", ["x", torch.nn.MultiheadAttention(4, 2)],
           lambda v: att.copy_to_torch_mha(v, torch.nn.MultiheadAttention(4, 2)))
    p.each(att.copy_to_torch_mha, "theirs",
           ["x", torch.nn.MultiheadAttention(4, 1), torch.nn.MultiheadAttention(4, 2, kdim=3)],
           lambda v: att.copy_to_torch_mha(mha(), v))


def _cases_gpt(p, tmp):
    from utils import gpt

    good = dict(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=8)
    for arg in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
        p.each(gpt.GPTConfig, arg, [0, 1.5, "8", True], lambda v, a=arg: gpt.GPTConfig(**{**good, a: v}))
    p.each(gpt.GPTConfig, "n_head", [3, 16], lambda v: gpt.GPTConfig(**{**good, "n_head": v}))
    p.each(gpt.GPTConfig, "dropout", [1.0, -0.1, "0"], lambda v: gpt.GPTConfig(**good, dropout=v))
    p.each(gpt.GPTConfig, "bias", ["no", 1], lambda v: gpt.GPTConfig(**good, bias=v))
    for cls in (gpt.GPT, gpt.Block, gpt.CausalSelfAttention, gpt.MLP):
        p.each(cls, "config", ["config", good, None], cls)
    M = model
    p.each(gpt.GPT.forward, "idx", BAD_IDX + [torch.zeros(1, 9, dtype=torch.long)], lambda v: M()(v))
    t = ids(1, 2, 3)
    p.each(gpt.GPT.forward, "targets",
           [[[1, 2, 3]], ids(1, 2, 3, dtype=torch.int32), ids(1.0, 2.0, 3.0, dtype=torch.float32),
                                        ids(1, 2), ids(-1, 2, 3), ids(V, 2, 3), ids(-100, -100, -100)],
           lambda v: M()(t, v))
    p.each(gpt.GPT.attention_weights, "idx", BAD_IDX + [torch.zeros(1, 9, dtype=torch.long)],
           lambda v: M().attention_weights(v))
    p.each(gpt.GPT.generate, "idx", BAD_IDX, lambda v: M().generate(v, 2))
    p.each(gpt.GPT.generate, "max_new_tokens", [-1, 1.5, "2"], lambda v: M().generate(t, v))
    p.each(gpt.GPT.generate, "temperature", [0, -1, "1", float("nan")], lambda v: M().generate(t, 2, v))
    p.each(gpt.GPT.generate, "top_k", [0, 1.5, "3"], lambda v: M().generate(t, 2, top_k=v))
    p.each(gpt.GPT.generate, "generator", BAD_GENERATOR, lambda v: M().generate(t, 2, generator=v))
    p.each(gpt.GPT.num_params, "non_embedding", BAD_FLAG, lambda v: M().num_params(v))
    p.each(gpt.GPT.configure_optimizer, "weight_decay", [-1, "0.1"], lambda v: M().configure_optimizer(v))
    p.each(gpt.GPT.configure_optimizer, "lr", [0, "1e-3"], lambda v: M().configure_optimizer(lr=v))
    p.each(gpt.GPT.configure_optimizer, "betas", [0.9, (0.9,), ("a", "b"), (0.9, 1.0)],
           lambda v: M().configure_optimizer(betas=v))
    x = torch.zeros(1, 3, 8)
    bad_x = [torch.zeros(3, 8), torch.zeros(1, 3, 5), torch.zeros(1, 3, 8, dtype=torch.long), [[0.0] * 8]]
    p.each(gpt.Block.forward, "x", bad_x, lambda v: M().transformer.h[0](v))
    p.each(gpt.CausalSelfAttention.forward, "x", bad_x, lambda v: M().transformer.h[0].attn(v))
    p.each(gpt.CausalSelfAttention.qkv, "x", bad_x, lambda v: M().transformer.h[0].attn.qkv(v))
    p.each(gpt.CausalSelfAttention.weights, "x", bad_x, lambda v: M().transformer.h[0].attn.weights(v))
    p.each(gpt.MLP.forward, "x", bad_x[1:], lambda v: M().transformer.h[0].mlp(v))
    assert x.shape[-1] == cfg().n_embd
    p.each(gpt.param_count_formula, "config", ["c", good], gpt.param_count_formula)
    p.each(gpt.param_count_formula, "non_embedding", BAD_FLAG, lambda v: gpt.param_count_formula(cfg(), v))
    p.each(gpt.save_checkpoint, "model", ["m", torch.nn.Linear(2, 2)],
           lambda v: gpt.save_checkpoint(v, tmp / "s.safetensors"))
    p.each(gpt.save_checkpoint, "path", [tmp / "no_such_folder" / "m.safetensors", tmp, 5, None],
           lambda v: gpt.save_checkpoint(M(), v), names=(str(tmp),))
    p(gpt.save_checkpoint, "metadata", "metadata config= (reserved)",
      lambda: gpt.save_checkpoint(M(), tmp / "meta.safetensors", config="mine"))
    for kind in BAD_CHECKPOINTS:
        p(gpt.load_checkpoint, "path", f"path: {kind} file",
          lambda k=kind: gpt.load_checkpoint(file_of(tmp, k)),
          names=(str(tmp),))
    p.each(gpt.load_checkpoint, "path", [5, None], gpt.load_checkpoint)
    p.each(gpt.load_checkpoint, "device", BAD_DEVICE, lambda v: gpt.load_checkpoint(file_of(tmp, "good"), v))


def _cases_keras(p):
    from utils import keras_gpt as kg

    p.each(kg.KerasBlock, "n_embd", [0, 3, "8", 1.5], lambda v: kg.KerasBlock(v, 2))
    p.each(kg.KerasBlock, "n_head", [0, 3, "2"], lambda v: kg.KerasBlock(8, v))
    p.each(kg.KerasBlock, "dropout", [1.0, "x", -0.5], lambda v: kg.KerasBlock(8, 2, v))
    p.each(kg.KerasBlock, "bias", ["no", None], lambda v: kg.KerasBlock(8, 2, 0.0, v))
    block = functools.cache(lambda: kg.KerasBlock(8, 2))
    p.each(kg.KerasBlock.call, "x", [np.zeros((1, 3, 5), "float32"), np.zeros((3, 8), "float32")],
           lambda v: block()(v))
    p.each(kg.KerasGPT, "config", ["c", {"vocab_size": V}, None], kg.KerasGPT)
    kgpt = functools.cache(lambda: kg.KerasGPT(cfg()))
    p.each(kg.KerasGPT.call, "idx", [np.array([[1.5, 2.0]]), np.array([[-1, 2]]), np.array([[V, 2]]),
                                     np.zeros((1, 9), "int32"), np.array([1, 2])], lambda v: kgpt()(v))
    p.each(kg.copy_block_from_torch, "torch_block", ["b", model().transformer.h[0].attn],
           lambda v: kg.copy_block_from_torch(v, kg.KerasBlock(8, 2)))
    p.each(kg.copy_block_from_torch, "keras_block", ["b", kg.KerasBlock(16, 2)],
           lambda v: kg.copy_block_from_torch(model().transformer.h[0], v))
    p.each(kg.copy_gpt_from_torch, "torch_gpt", ["m", torch.nn.Linear(2, 2)],
           lambda v: kg.copy_gpt_from_torch(v, kgpt()))
    p.each(kg.copy_gpt_from_torch, "keras_gpt", ["m", "block"],
           lambda v: kg.copy_gpt_from_torch(model(), v if v == "m" else kg.KerasBlock(8, 2)))

    def mha(v):
        import keras
        layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=v)
        layer(np.zeros((1, 3, 4), "float32"), np.zeros((1, 3, 4), "float32"))
        return layer

    from utils.attention import MultiHeadAttention
    p.each(kg.copy_mha_to_keras, "ours",
           ["x", torch.nn.MultiheadAttention(4, 2), MultiHeadAttention(4, 2, bias=False)],
           lambda v: kg.copy_mha_to_keras(v, mha(2)))
    p.each(kg.copy_mha_to_keras, "keras_mha", ["x", 3],
           lambda v: kg.copy_mha_to_keras(MultiHeadAttention(4, 2),
                                                                               v if v == "x" else mha(v)))
    ids = np.arange(40) % V
    p.each(kg.WindowDataset, "ids", [[1.5, 2.5] * 20, "abcdefgh" * 5, np.zeros((4, 10), int), [-1] * 40, [1] * 5],
           lambda v: kg.WindowDataset(v, 8, 2, 3))
    p.each(kg.WindowDataset, "block_size", BAD_COUNTS, lambda v: kg.WindowDataset(ids, v, 2, 3))
    p.each(kg.WindowDataset, "batch_size", BAD_COUNTS, lambda v: kg.WindowDataset(ids, 8, v, 3))
    p.each(kg.WindowDataset, "steps", BAD_COUNTS, lambda v: kg.WindowDataset(ids, 8, 2, v))
    p.each(kg.WindowDataset, "seed", [-1, 1.5, "0"], lambda v: kg.WindowDataset(ids, 8, 2, 3, v))
    p.each(kg.WindowDataset, "resample", ["no", None], lambda v: kg.WindowDataset(ids, 8, 2, 3, 0, v))
    p.each(kg.lr_schedule, "max_lr", [0, -1e-3, "1e-3", float("nan")], lambda v: kg.lr_schedule(v, 2, 10))
    p.each(kg.lr_schedule, "warmup_steps", [-1, 10, 1.5], lambda v: kg.lr_schedule(1e-3, v, 10))
    p.each(kg.lr_schedule, "max_steps", [0, "10", 2.0], lambda v: kg.lr_schedule(1e-3, 0, v))
    p.each(kg.lr_schedule, "min_lr", [-1e-4, 1.0, "0"], lambda v: kg.lr_schedule(1e-3, 2, 10, v))
    p.each(kg.compile_like_book, "model", ["m", None], kg.compile_like_book)
    p.each(kg.compile_like_book, "cfg", ["c", cfg()], lambda v: kg.compile_like_book(kg.KerasGPT(cfg()), v))
    p.each(kg.compile_like_book, "max_steps", [0, 1.5, "5"],
           lambda v: kg.compile_like_book(kg.KerasGPT(cfg()), None, v))
    p.each(kg.keras_mha_from_block, "block", ["b", None], kg.keras_mha_from_block)
    p.each(kg.causal_attention_check, "block", ["b", None],
           lambda v: kg.causal_attention_check(v, np.zeros((1, 3, 8), "float32")))
    p.each(kg.causal_attention_check, "x", [np.zeros((1, 3, 5)), np.zeros((3, 8)), "x", np.zeros((1, 0, 8))],
           lambda v: kg.causal_attention_check(block(), v))


def _cases_train(p, tmp):
    from utils import train as tr

    for arg in ("batch_size", "max_steps", "eval_interval"):
        p.each(tr.TrainConfig, arg, BAD_COUNTS, lambda v, a=arg: tr.TrainConfig(**{a: v}))
    p.each(tr.TrainConfig, "lr", [0, "1e-3"], lambda v: tr.TrainConfig(lr=v))
    p.each(tr.TrainConfig, "n_head", [3, 0], lambda v: tr.TrainConfig(n_head=v))
    p.each(tr.TrainConfig, "beta1", [1.0, "0.9"], lambda v: tr.TrainConfig(beta1=v))
    p.each(tr.TrainConfig.model_config, "vocab_size", [0, "10"], lambda v: tr.TrainConfig().model_config(v))
    p.each(tr.lr_at, "step", [-1, 1.5, "0"], lambda v: tr.lr_at(v, 1e-3, 1, 10))
    p.each(tr.lr_at, "max_lr", [0, "1"], lambda v: tr.lr_at(0, v, 1, 10))
    p.each(tr.lr_at, "warmup_steps", [-1, 11, 1.5], lambda v: tr.lr_at(0, 1e-3, v, 10))
    p.each(tr.lr_at, "max_steps", [0, "10"], lambda v: tr.lr_at(0, 1e-3, 0, v))
    p.each(tr.lr_at, "min_lr", [-1, 1], lambda v: tr.lr_at(0, 1e-3, 1, 10, v))
    z = np.zeros(3)
    def adam(**kw):
        return tr.adamw_step_numpy(**{"param": z, "grad": z, "m": z, "v": z, "t": 1, "lr": 1e-3, **kw})

    for arg in ("param", "grad", "m", "v"):
        p.each(tr.adamw_step_numpy, arg, [np.zeros(2), "abc"], lambda val, a=arg: adam(**{a: val}))
    p.each(tr.adamw_step_numpy, "t", [0, 1.5], lambda v: adam(t=v))
    p.each(tr.adamw_step_numpy, "lr", [-1, "x"], lambda v: adam(lr=v))
    p.each(tr.adamw_step_numpy, "beta1", [1.0], lambda v: adam(beta1=v))
    p.each(tr.adamw_step_numpy, "beta2", [-0.1], lambda v: adam(beta2=v))
    p.each(tr.adamw_step_numpy, "eps", [-1, "x", float("nan")], lambda v: adam(eps=v))
    p.each(tr.adamw_step_numpy, "weight_decay", [-1], lambda v: adam(weight_decay=v))
    M = model
    p.each(tr.estimate_loss, "model", ["m", torch.nn.Linear(2, 2)], lambda v: tr.estimate_loss(v, STREAM))
    p.each(tr.estimate_loss, "ids", BAD_ID_STREAMS + [STREAM[:8]], lambda v: tr.estimate_loss(M(), v))
    p.each(tr.estimate_loss, "batch_size", BAD_COUNTS, lambda v: tr.estimate_loss(M(), STREAM, v))
    p.each(tr.estimate_loss, "iters", BAD_COUNTS, lambda v: tr.estimate_loss(M(), STREAM, iters=v))
    p.each(tr.estimate_loss, "seed", ["x", 1.5], lambda v: tr.estimate_loss(M(), STREAM, seed=v))
    p.each(tr.evaluate, "model", ["m"], lambda v: tr.evaluate(v, STREAM))
    p.each(tr.evaluate, "ids", BAD_ID_STREAMS + [[1], []], lambda v: tr.evaluate(M(), v))
    p.each(tr.evaluate, "batch_size", BAD_COUNTS, lambda v: tr.evaluate(M(), STREAM, v))
    p.each(tr.build_model, "cfg", ["c", cfg()], lambda v: tr.build_model(v, V))
    p.each(tr.build_model, "vocab_size", [0, "10"], lambda v: tr.build_model(tcfg(), v))
    p.each(tr.build_model, "device", BAD_DEVICE, lambda v: tr.build_model(tcfg(), V, v))
    p.each(tr.make_optimizer, "model", ["m", torch.nn.Linear(2, 2)], lambda v: tr.make_optimizer(v, tcfg()))
    p.each(tr.make_optimizer, "cfg", ["c", cfg()], lambda v: tr.make_optimizer(M(), v))
    def run(**kw):
        return tr.train(**{"model": M(), "cfg": tcfg(), "train_ids": STREAM, "progress": False, **kw})

    p.each(tr.train, "model", ["m"], lambda v: run(model=v))
    p.each(tr.train, "cfg", ["c", replace(tcfg(), block_size=4)], lambda v: run(cfg=v))
    p.each(tr.train, "train_ids", BAD_ID_STREAMS + [STREAM[:8]], lambda v: run(train_ids=v))
    p.each(tr.train, "val_ids", BAD_ID_STREAMS, lambda v: run(val_ids=v))
    p.each(tr.train, "optimizer", ["opt", torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=1.0)],
           lambda v: run(optimizer=v))
    p.each(tr.train, "history", [{}, [], {"step": "0"}, {**tr.new_history(), "step": 5}],
           lambda v: run(history=v))
    p.each(tr.train, "generator", BAD_GENERATOR, lambda v: run(generator=v))
    p.each(tr.train, "steps", [0, 1.5, 3], lambda v: run(steps=v))
    p.each(tr.train, "callback", ["print", 5], lambda v: run(callback=v))
    p.each(tr.train, "progress", ["no", None], lambda v: run(progress=v))
    p.each(tr.train, "checkpoint_dir", [5, tmp / "train_ckpt_file.txt"], lambda v: run(checkpoint_dir=v),
           names=(str(tmp),))
    (tmp / "train_ckpt_file.txt").write_text("a file, not a folder")
    p.each(tr.train, "checkpoint_interval", [0, 1.5, True], lambda v: run(checkpoint_interval=v))
    p.each(tr.encode_splits, "tokenizer", ["abc", tr.CharTokenizer("ab")], tr.encode_splits)
    out = str(tmp / "main_out")
    p.each(tr.main, "argv", ["--preset book", [5], ["--out", out, "--val-tokens", "-1"],
                             ["--out", out, "--device", "nope"], ["--out", out, "--max-steps", "0"],
                             ["--out", str(tmp / "nowhere"), "--resume"]], tr.main,
           names=("val-tokens", "device", "max_steps", str(tmp)))


def _cases_checkpoints(p, tmp):
    from utils import checkpoints as ck

    M = model
    (tmp / "train_ckpt_file.txt").write_text("a file, not a folder")
    opt = functools.cache(lambda: M().configure_optimizer())
    def save(**kw):
        return ck.save_training_checkpoint(**{"directory": tmp / "save", "model": M(), "optimizer": opt(),
                                              "cfg": tcfg(), "history": {"step": 0}, **kw})

    p.each(ck.save_training_checkpoint, "directory", [5, None, tmp / "train_ckpt_file.txt"],
           lambda v: save(directory=v), names=(str(tmp),))
    p.each(ck.save_training_checkpoint, "model", ["m", torch.nn.Linear(2, 2)], lambda v: save(model=v))
    p.each(ck.save_training_checkpoint, "optimizer", ["opt"], lambda v: save(optimizer=v))
    p.each(ck.save_training_checkpoint, "cfg", ["c", cfg()], lambda v: save(cfg=v))
    p.each(ck.save_training_checkpoint, "history", [{}, {"step": "x"}, []], lambda v: save(history=v))
    p.each(ck.save_training_checkpoint, "generator", BAD_GENERATOR, lambda v: save(generator=v))
    p.each(ck.save_training_checkpoint, "tokenizer", ["abc", CharTokenizer("ab")],
           lambda v: save(tokenizer=v))
    p(ck.save_training_checkpoint, "results", "results: not JSON",
      lambda: save(val=object()))
    for kind in DIR_KINDS:
        p(ck.load_training_checkpoint, "directory", f"directory: {kind}",
          lambda k=kind: ck.load_training_checkpoint(checkpoint_dir(tmp, k)), names=(str(tmp),))
    p.each(ck.load_training_checkpoint, "directory", [5, None, tmp / "nowhere"], ck.load_training_checkpoint,
           names=(str(tmp),))
    p.each(ck.load_training_checkpoint, "device", BAD_DEVICE,
           lambda v: ck.load_training_checkpoint(checkpoint_dir(tmp, "good"), v))


def _cases_diagnostics(p):
    from utils import diagnostics as dg
    from utils.train import PRESETS

    book = PRESETS["book"]
    p.each(dg.clip_fraction, "grad_norms", ["1.0", 5, [1.0, "x"], [True], []],
           lambda v: dg.clip_fraction(v, 1.0), names=("grad_norms[",))
    p.each(dg.clip_fraction, "threshold", [0, -1.0, "1", float("inf")], lambda v: dg.clip_fraction([1.0], v))
    p.each(dg.max_rise, "losses", ["abc", 3, [1.0, None, "x"], [], [None]], dg.max_rise, names=("losses[",))
    p.each(dg.max_rise, "skip", [-1, 1.5, 9], lambda v: dg.max_rise([1.0, 2.0], v))
    def plan(**kw):
        return dg.plan(**{"base": book, "steps": 10, "warmup_steps": 2, "seeds": [1], "peaks": [1e-3],
                          "high_peaks": [], **kw})

    p.each(dg.plan, "base", ["book", {"lr": 1e-3}, replace(book, grad_clip=0.0)], lambda v: plan(base=v))
    p.each(dg.plan, "steps", BAD_COUNTS, lambda v: plan(steps=v))
    p.each(dg.plan, "warmup_steps", [-1, 11, 1.5], lambda v: plan(warmup_steps=v))
    p.each(dg.plan, "seeds", [[], "1", [-1], [1.5]], lambda v: plan(seeds=v))
    p.each(dg.plan, "peaks", [[], 1e-3, [0.0], ["1e-3"]], lambda v: plan(peaks=v))
    p.each(dg.plan, "high_peaks", [3e-2, [-1.0]], lambda v: plan(high_peaks=v))
    c = replace(tcfg(), max_steps=2)
    p.each(dg.run_one, "cfg", ["c", cfg()], lambda v: dg.run_one(v, STREAM, STREAM, V))
    p.each(dg.run_one, "train_ids", BAD_ID_STREAMS + [STREAM[:8]], lambda v: dg.run_one(c, v, STREAM, V))
    p.each(dg.run_one, "val_ids", BAD_ID_STREAMS + [[1]], lambda v: dg.run_one(c, STREAM, v, V))
    p.each(dg.run_one, "vocab_size", [0, "10"], lambda v: dg.run_one(c, STREAM, STREAM, v))
    p.each(dg.run_one, "every", BAD_COUNTS, lambda v: dg.run_one(c, STREAM, STREAM, V, v))
    p.each(dg.run_one, "threshold", [0, "1"], lambda v: dg.run_one(c, STREAM, STREAM, V, 1, v))
    p.each(dg.summarise, "runs", [[], {"a/1": 3}, {"a/1": {}}], dg.summarise)
    p.each(dg.summarise, "baseline", ["", 5, "nope"], lambda v: dg.summarise({"cosine/1": {"val_loss": 1.0}}, v))
    p.each(dg.run_experiment, "steps", [0, "3"], lambda v: dg.run_experiment(steps=v))
    p.each(dg.run_experiment, "val_chars", [0, 1.5, 10**9],
           lambda v: dg.run_experiment(1, 0, [1], [1e-3], [], v, base=tcfg(), progress=False))
    p.each(dg.run_experiment, "base", ["book"], lambda v: dg.run_experiment(base=v))
    p.each(dg.run_experiment, "progress", ["no"], lambda v: dg.run_experiment(1, 0, [1], [1e-3], [],
                                                                              progress=v))
    p.each(dg.main, "argv", ["--out x", [5], ["--out", "/no/such/folder/d.json"]], dg.main,
           names=("--out",))


def _cases_ddp(p, tmp):
    from utils import ddp

    c = replace(ddp.DDP_CONFIG, block_size=8, batch_size=2, n_embd=8)
    no_vocab = [v for v in BAD_ID_STREAMS if not (isinstance(v, list) and v[0] == V)]   # no vocab to exceed
    p.each(ddp.global_batches, "train_ids", no_vocab + [STREAM[:8]], lambda v: ddp.global_batches(v, c, 2))
    p.each(ddp.global_batches, "cfg", ["c", cfg()], lambda v: ddp.global_batches(STREAM, v, 2))
    p.each(ddp.global_batches, "steps", [0, 1.5, "2"], lambda v: ddp.global_batches(STREAM, c, v))
    for fn in (ddp.train_single, ddp.train_ddp):
        p.each(fn, "cfg", ["c", cfg()], lambda v, fn=fn: fn(v, 2, STREAM, V))
        p.each(fn, "steps", [0, 99, "2"], lambda v, fn=fn: fn(c, v, STREAM, V))
        p.each(fn, "train_ids", BAD_ID_STREAMS, lambda v, fn=fn: fn(c, 2, v, V))
        p.each(fn, "vocab_size", [0, 5, "10"], lambda v, fn=fn: fn(c, 2, STREAM, v))
    for kind in BAD_FILES:
        p(ddp.compare, "path_a", f"path_a: {kind}",
          lambda k=kind: ddp.compare(file_of(tmp, k), file_of(tmp, "good")),
          names=(str(tmp),))
        p(ddp.compare, "path_b", f"path_b: {kind}",
          lambda k=kind: ddp.compare(file_of(tmp, "good"), file_of(tmp, k)),
          names=(str(tmp),))
    p(ddp.compare, "path_b", "path_b: other shapes",
      lambda: ddp.compare(file_of(tmp, "good"), file_of(tmp, "disagrees")),
      names=(str(tmp),))
    p.each(ddp.run_ddp_vs_single, "steps", [0, 99, "5"], ddp.run_ddp_vs_single)
    p.each(ddp.run_ddp_vs_single, "nproc", [0, 99, "2"], lambda v: ddp.run_ddp_vs_single(2, v))
    p.each(ddp.run_ddp_vs_single, "out", [5, tmp / "train_ckpt_file.txt"],
           lambda v: ddp.run_ddp_vs_single(2, 2, v),
           names=(str(tmp),))
    p.each(ddp.run_ddp_vs_single, "timeout", [0, -1, "60"],
           lambda v: ddp.run_ddp_vs_single(2, 2, tmp / "ddp", v))
    p.each(ddp.run_ddp_vs_single, "sum_bug", ["yes", 1, None],
           lambda v: ddp.run_ddp_vs_single(2, 2, tmp / "ddp", 60.0, v))
    p.each(ddp.train_ddp, "sum_bug", ["yes", 1, None], lambda v: ddp.train_ddp(c, 2, STREAM, V, v))
    for kind in BAD_FILES:
        p(ddp.compare_gradients, "path_a", f"path_a: {kind}",
          lambda k=kind: ddp.compare_gradients(file_of(tmp, k), file_of(tmp, "good")), names=(str(tmp),))
        p(ddp.compare_gradients, "path_b", f"path_b: {kind}",
          lambda k=kind: ddp.compare_gradients(file_of(tmp, "good"), file_of(tmp, k)), names=(str(tmp),))
    p(ddp.compare_gradients, "path_b", "path_b: other shapes",
      lambda: ddp.compare_gradients(file_of(tmp, "good"), file_of(tmp, "disagrees")), names=(str(tmp),))
    p.each(ddp.save_data, "path", [tmp / "no_such_folder" / "d.safetensors", 5],
           lambda v: ddp.save_data(v, STREAM, V),
           names=(str(tmp),))
    p.each(ddp.save_data, "train_ids", BAD_ID_STREAMS, lambda v: ddp.save_data(tmp / "d.safetensors", v, V))
    p.each(ddp.save_data, "vocab_size", [0, "10", 5],
           lambda v: ddp.save_data(tmp / "d.safetensors", STREAM, v))
    for kind in BAD_FILES + ["good"]:          # "good" is a model checkpoint, not saved data
        p(ddp.load_data, "path", f"path: {kind}", lambda k=kind: ddp.load_data(file_of(tmp, k)),
          names=(str(tmp),))
    p.each(ddp.main, "argv", ["--single", [5], ["--single", "--steps", "0", "--out", str(tmp / "ddp_main")],
                              ["--single", "--out", str(tmp / "ddp_main"),
                               "--data", str(tmp / "missing.safetensors")]],
           ddp.main, names=("steps", str(tmp)))


def _cases_pretrained(p, tmp):
    from utils import pretrained as pre

    kinds = ["no_vocab", "pickle", "truncated", "config_shape", "bad_config_json", "bad_vocab", "vocab_size"]
    for kind in kinds:
        p(pre.load_pretrained, "directory", f"directory: {kind}",
          lambda k=kind: pre.load_pretrained(directory=checkpoint_dir(tmp, k)), names=(str(tmp),))
    p.each(pre.load_pretrained, "directory", [5, tmp / "nowhere"], lambda v: pre.load_pretrained(directory=v),
           names=(str(tmp),))
    p.each(pre.load_pretrained, "device", BAD_DEVICE,
           lambda v: pre.load_pretrained(v, directory=checkpoint_dir(tmp, "good")))
    p.each(pre.pretrained_info, "directory", [5, tmp / "nowhere"], pre.pretrained_info, names=(str(tmp),))
    p(pre.pretrained_info, "directory", "directory: config.json not JSON",
      lambda: pre.pretrained_info(checkpoint_dir(tmp, "bad_config_json")), names=(str(tmp),))


def _cases_bpe(p):
    from utils import bpe

    small = functools.cache(lambda: bpe.train_bpe(["aaab aab ab"], 258))
    p.each(bpe.pretokenize, "text", [5, ["a"], None], bpe.pretokenize)
    p.each(bpe.ByteLevelBPE, "vocab", ["abc", 5, {"a": "0"}, {1: 0}], lambda v: bpe.ByteLevelBPE(v, []))
    p.each(bpe.ByteLevelBPE, "merges", [5, ["ab"], [("a", 1)]], lambda v: bpe.ByteLevelBPE({"a": 0}, v))
    p.each(bpe.ByteLevelBPE.encode, "text", [5, ["a"]], lambda v: small().encode(v))
    p.each(bpe.ByteLevelBPE.tokens, "text", [5, ["a"]], lambda v: small().tokens(v))
    p.each(bpe.ByteLevelBPE.decode, "ids", [[1.5], [-1], [9999], "ab", 5, [True]],
           lambda v: small().decode(v))
    p.each(bpe.ByteLevelBPE.truncated, "vocab_size", [255, 9999, 1.5, "256"], lambda v: small().truncated(v))
    p.each(bpe.ByteLevelBPE.from_tokenizers, "tok", ["t", 5], bpe.ByteLevelBPE.from_tokenizers)
    for fn in (bpe.train_bpe, bpe.train_tokenizers_bpe):
        p.each(fn, "texts", ["abc", [1, 2], 5, None], lambda v, fn=fn: fn(v, 260))
        p.each(fn, "vocab_size", [255, 1.5, "300", True], lambda v, fn=fn: fn(["ab"], v))
        p.each(fn, "min_frequency", [-1, 1.5, "2"], lambda v, fn=fn: fn(["ab"], 260, v))


def _cases_production_bpe(p, tmp):
    from utils import production_bpe as pb

    bad_names = ["gpt2", "CL100K_BASE", 5, None, ["cl100k_base"]]
    for fn in (pb.rank_file, pb.tiktoken_spec, pb.load_ranks, pb.encoding):
        p.each(fn, "name", bad_names, fn)

    def broken_gz():
        (tmp / "broken.tiktoken.gz").write_bytes(b"not gzip")
        return pb.sha256(tmp / "broken.tiktoken.gz")

    p.each(pb.sha256, "path", [5, None, tmp / "nowhere.tiktoken.gz"], pb.sha256)
    p(pb.sha256, "path", "path: not gzip", broken_gz)
    byte_ranks = {bytes([b]): b for b in range(256)}
    p.each(pb.encode_with_ranks, "text", [5, b"hi", ["hi"], None],
           lambda v: pb.encode_with_ranks(v, byte_ranks, r"\S+|\s+"))
    p.each(pb.encode_with_ranks, "ranks", [{}, [(b"a", 0)], {"a": 0}, {b"a": 1.5}, {b"h": 0}, None],
           lambda v: pb.encode_with_ranks("hi", v, r"\S+|\s+"))
    p.each(pb.encode_with_ranks, "pattern", [5, None, "(", b"\\S+"],
           lambda v: pb.encode_with_ranks("hi", byte_ranks, v))


def _cases_decoding(p):
    from utils import decoding as dec

    M = model
    t = ids(1, 2, 3)
    def attn():
        return M().transformer.h[0].attn

    x = torch.zeros(1, 3, 8)
    kv = (torch.zeros(1, 2, 2, 4), torch.zeros(1, 2, 2, 4))
    p.each(dec.attention_with_cache, "attn", ["a", torch.nn.Linear(8, 8)],
           lambda v: dec.attention_with_cache(v, x))
    p.each(dec.attention_with_cache, "x", [torch.zeros(3, 8), torch.zeros(1, 3, 5), [[0.0]]],
           lambda v: dec.attention_with_cache(attn(), v))
    p.each(dec.attention_with_cache, "past", ["p", (torch.zeros(1, 2, 2, 3), torch.zeros(1, 2, 2, 3)),
                                              (torch.zeros(2, 2, 2, 4), torch.zeros(2, 2, 2, 4)), kv[:1]],
           lambda v: dec.attention_with_cache(attn(), x, v))
    p.each(dec.forward_with_cache, "model", ["m", torch.nn.Linear(2, 2)],
           lambda v: dec.forward_with_cache(v, t))
    p.each(dec.forward_with_cache, "idx", BAD_IDX + [torch.zeros(1, 9, dtype=torch.long)],
           lambda v: dec.forward_with_cache(M(), v))
    p.each(dec.forward_with_cache, "cache", ["c", [], [kv, kv], [(torch.zeros(1, 2, 3, 3),) * 2]],
           lambda v: dec.forward_with_cache(M(), t, v))
    p.each(dec.forward_with_cache, "last_only", BAD_FLAG,
           lambda v: dec.forward_with_cache(M(), t, last_only=v))
    p.each(dec.next_token_logits, "model", ["m"], lambda v: dec.next_token_logits(v, t))
    p.each(dec.next_token_logits, "idx", BAD_IDX, lambda v: dec.next_token_logits(M(), v))
    p.each(dec.next_token_logits, "cache", ["c", [kv, kv]], lambda v: dec.next_token_logits(M(), t, v))
    p.each(dec.next_token_logits, "use_cache", BAD_FLAG, lambda v: dec.next_token_logits(M(), t, use_cache=v))
    z = torch.zeros(1, V)
    bad_logits = [[[0.0, 1.0]], torch.zeros(1, V, dtype=torch.long), "z"]
    p.each(dec.apply_temperature, "logits", bad_logits, lambda v: dec.apply_temperature(v, 1.0))
    p.each(dec.apply_temperature, "temperature", [0, "1", float("inf")],
           lambda v: dec.apply_temperature(z, v))
    p.each(dec.top_k_filter, "logits", bad_logits, lambda v: dec.top_k_filter(v, 2))
    p.each(dec.top_k_filter, "k", [0, 1.5], lambda v: dec.top_k_filter(z, v))
    p.each(dec.top_p_filter, "logits", bad_logits, lambda v: dec.top_p_filter(v, 0.5))
    p.each(dec.top_p_filter, "p", [0, 1.5, "0.5"], lambda v: dec.top_p_filter(z, v))
    p.each(dec.apply_repetition_penalty, "logits", bad_logits,
           lambda v: dec.apply_repetition_penalty(v, t, 1.2))
    p.each(dec.apply_repetition_penalty, "idx", [[[1]], ids(1.0, dtype=torch.float32), ids(V), ids(-1),
                                                 torch.zeros(2, 1, dtype=torch.long)],
           lambda v: dec.apply_repetition_penalty(z, v, 1.2))
    p.each(dec.apply_repetition_penalty, "penalty", [0, "1.2"],
           lambda v: dec.apply_repetition_penalty(z, t, v))
    for fn in (dec.greedy, dec.sample, dec.beam_search):
        p.each(fn, "model", ["m"], lambda v, fn=fn: fn(v, t, 2))
        p.each(fn, "idx", BAD_IDX + [torch.zeros(1, 9, dtype=torch.long)], lambda v, fn=fn: fn(M(), v, 2))
        p.each(fn, "max_new_tokens", [-1, 1.5, "2"], lambda v, fn=fn: fn(M(), t, v))
        p.each(fn, "use_cache", BAD_FLAG, lambda v, fn=fn: fn(M(), t, 2, use_cache=v))
    for fn in (dec.greedy, dec.sample):
        p.each(fn, "repetition_penalty", [0, "1"], lambda v, fn=fn: fn(M(), t, 2, repetition_penalty=v))
    p.each(dec.sample, "temperature", [0, "1"], lambda v: dec.sample(M(), t, 2, temperature=v))
    p.each(dec.sample, "top_k", [0, "2"], lambda v: dec.sample(M(), t, 2, top_k=v))
    p.each(dec.sample, "top_p", [0, 2.0], lambda v: dec.sample(M(), t, 2, top_p=v))
    p.each(dec.sample, "generator", BAD_GENERATOR, lambda v: dec.sample(M(), t, 2, generator=v))
    p.each(dec.beam_search, "num_beams", [0, 1.5], lambda v: dec.beam_search(M(), t, 2, num_beams=v))
    p.each(dec.beam_search, "length_penalty", ["1", float("nan")],
           lambda v: dec.beam_search(M(), t, 2, length_penalty=v))
    p.each(dec.beam_search, "early_stopping", ["yes", None],
           lambda v: dec.beam_search(M(), t, 2, early_stopping=v))
    p.each(dec.beam_search, "eos_token_id", [-1, V, 1.5],
           lambda v: dec.beam_search(M(), t, 2, eos_token_id=v))
    p.each(dec.beam_search, "return_hypotheses", BAD_FLAG,
           lambda v: dec.beam_search(M(), t, 2, return_hypotheses=v))
    p.each(dec.distinct_n, "tokens", [5, [], None], lambda v: dec.distinct_n(v, 2))
    p.each(dec.distinct_n, "n", [0, 1.5, "2"], lambda v: dec.distinct_n([1, 2, 3], v))


def _cases_sft(p):
    from utils import sft
    from utils.gpt import GPT, GPTConfig

    vocab = functools.cache(lambda: CharTokenizer('\n !"$&\',-.24568:;?' + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                  "abcdefghijklmnopqrstuvwxyz—"))
    pairs = functools.cache(lambda: sft.make_pairs(["twelfth-night"])[:2])

    @functools.cache
    def m():
        torch.manual_seed(0)
        config = GPTConfig(vocab_size=vocab().vocab_size, block_size=128, n_layer=1, n_head=2, n_embd=8)
        return GPT(config).eval()

    good = ("P", "A", "cue", "B", "reply")
    for i, name in enumerate(("play", "cue_speaker", "cue", "speaker", "reply")):
        p.each(sft.Pair, name, [5, "", "a$b"], lambda v, i=i: sft.Pair(*good[:i], v, *good[i + 1:]))
    p.each(sft.make_pairs, "play_names", ["macbeth", ["nope"], [5], []], sft.make_pairs)
    p.each(sft.make_pairs, "max_prompt", [0, 1.5, "80"], lambda v: sft.make_pairs(["macbeth"], v))
    p.each(sft.make_pairs, "max_response", [1, "48"], lambda v: sft.make_pairs(["macbeth"], 80, v))
    p.each(sft.split_pairs, "split", ["dev", None, ["val"]], sft.split_pairs)
    bad_pairs = [[], "pairs", [("a", "b")], 5]
    bad_tok = [tok(), "t", None]                        # tok(): no '$', no capitals
    p.each(sft.sft_batch, "pairs", bad_pairs, lambda v: sft.sft_batch(v, vocab()))
    p.each(sft.sft_batch, "tokenizer", bad_tok, lambda v: sft.sft_batch(pairs(), v))
    p.each(sft.sft_batch, "mask_prompt", BAD_FLAG, lambda v: sft.sft_batch(pairs(), vocab(), v))
    for fn in (sft.response_nll, sft.response_loss, sft.generate_replies, sft.reply_metrics):
        p.each(fn, "model", ["m", None], lambda v, fn=fn: fn(v, pairs(), vocab()))
        p.each(fn, "pairs", bad_pairs, lambda v, fn=fn: fn(m(), v, vocab()))
        p.each(fn, "tokenizer", bad_tok, lambda v, fn=fn: fn(m(), pairs(), v))
    for fn in (sft.generate_replies, sft.reply_metrics):
        p.each(fn, "max_new_tokens", [0, 1.5, "4", 200], lambda v, fn=fn: fn(m(), pairs(), vocab(), v))
    train = lambda **kw: sft.sft_train(m(), pairs(), vocab(), **{"steps": 1, "batch_size": 1, **kw})  # noqa: E731
    p.each(sft.sft_train, "model", ["m"], lambda v: sft.sft_train(v, pairs(), vocab()))
    p.each(sft.sft_train, "pairs", bad_pairs, lambda v: sft.sft_train(m(), v, vocab()))
    p.each(sft.sft_train, "tokenizer", bad_tok, lambda v: sft.sft_train(m(), pairs(), v))
    p.each(sft.sft_train, "steps", BAD_COUNTS, lambda v: train(steps=v))
    p.each(sft.sft_train, "batch_size", BAD_COUNTS + [3], lambda v: train(batch_size=v))
    p.each(sft.sft_train, "lr", [0, -1e-3, "1e-4", float("nan")], lambda v: train(lr=v))
    p.each(sft.sft_train, "mask_prompt", BAD_FLAG, lambda v: train(mask_prompt=v))
    p.each(sft.sft_train, "seed", [-1, 1.5, "0"], lambda v: train(seed=v))
    p.each(sft.sft_train, "grad_clip", [-1, "1"], lambda v: train(grad_clip=v))
    p.each(sft.sft_train, "weight_decay", [-0.1, None], lambda v: train(weight_decay=v))


def _cases_hf(p, tmp):
    from utils import hf

    p.each(hf.gpt2_config, "config", ["c", {"vocab_size": V}], hf.gpt2_config)
    p(hf.gpt2_config, "config", "config.bias=False",
      lambda: hf.gpt2_config(replace(cfg(), bias=False)))
    p.each(hf.gpt2_config, "extra", [{"n_layers": 3}, {"vocab_size": 5}],
           lambda v: hf.gpt2_config(cfg(), **v))
    p.each(hf.book_config, "hf_config", ["c", cfg(), None], hf.book_config)
    p(hf.book_config, "hf_config", "activation_function=relu",
      lambda: hf.book_config(hf.gpt2_config(cfg(), activation_function="relu")))
    p.each(hf.book_to_hf, "model", ["m", torch.nn.Linear(2, 2)], hf.book_to_hf)
    p.each(hf.book_to_hf, "config_extra", [{"n_embd": 16}, {"n_layers": 2}],
           lambda v: hf.book_to_hf(model(), **v))
    p.each(hf.hf_to_book, "hf_model", ["m", model()], hf.hf_to_book)
    p.each(hf.char_tokenizer_to_hf, "tokenizer", ["abc", 5, None], hf.char_tokenizer_to_hf)
    p.each(hf.export_hf, "model", ["m"], lambda v: hf.export_hf(v, tok(), tmp / "hf_m"))
    p.each(hf.export_hf, "tokenizer", ["abc", CharTokenizer("ab")],
           lambda v: hf.export_hf(model(), v, tmp / "hf_t"))
    p.each(hf.export_hf, "folder", [5, None, tmp / "train_ckpt_file.txt"],
           lambda v: hf.export_hf(model(), tok(), v),
           names=(str(tmp),))
    p.each(hf.hub_reachable, "timeout", [0, -1, "3", float("nan")], hf.hub_reachable)
    p.each(hf.use_offline_mode_if_unreachable, "timeout", [0, "3"], hf.use_offline_mode_if_unreachable)
    p.each(hf.load_gpt2, "name", ["", 5, ["gpt2"]], hf.load_gpt2)
    p.each(hf.load_gpt2, "fallback", ["m", (model(),), ("m", tok()), (model(), "tok")],
           lambda v: hf.load_gpt2(str(tmp / "no_such_model"), fallback=v, verbose=False))
    p.each(hf.load_gpt2, "fallback_dir", [5, tmp / "train_ckpt_file.txt"],
           lambda v: hf.load_gpt2(str(tmp / "no_such_model"), fallback=(model(), tok()), fallback_dir=v,
                                  verbose=False),
           names=(str(tmp),))
    p.each(hf.load_gpt2, "timeout", [0, "3"], lambda v: hf.load_gpt2("gpt2", timeout=v))
    p.each(hf.load_gpt2, "verbose", BAD_FLAG, lambda v: hf.load_gpt2("gpt2", verbose=v))


def _cases_apps(p):
    from utils import apps_gpt as ag
    from utils import apps_metrics as am
    from utils import apps_seq2seq as s2s
    from utils import apps_tasks as at
    from utils import apps_vectors as av

    M, T = model, tok
    t = ids(1, 2, 3)
    # apps_gpt
    p.each(ag.char_nll, "model", ["m", torch.nn.Linear(2, 2)], lambda v: ag.char_nll(v, STREAM))
    p.each(ag.char_nll, "ids", BAD_ID_STREAMS + [[1]], lambda v: ag.char_nll(M(), v))
    p.each(ag.char_nll, "batch_size", BAD_COUNTS, lambda v: ag.char_nll(M(), STREAM, v))
    p.each(ag.char_nll, "stride", BAD_COUNTS + [10_000], lambda v: ag.char_nll(M(), STREAM, stride=v))
    p.each(ag.text_nll, "model", ["m"], lambda v: ag.text_nll(v, T(), ["abc"]))
    p.each(ag.text_nll, "tokenizer", ["abc", None], lambda v: ag.text_nll(M(), v, ["abc"]))
    p.each(ag.text_nll, "texts", ["abc", [1, 2], [], ["aZ"], ["a"], None], lambda v: ag.text_nll(M(), T(), v))
    p.each(ag.text_nll, "prefix", [5, ["a", "b"], ["Z"], "abcdefgh"],
           lambda v: ag.text_nll(M(), T(), ["abc"], v))
    p.each(ag.text_nll, "batch_size", BAD_COUNTS, lambda v: ag.text_nll(M(), T(), ["abc"], batch_size=v))
    p.each(ag.hidden_states, "model", ["m"], lambda v: ag.hidden_states(v, t))
    p.each(ag.hidden_states, "idx", BAD_IDX + [torch.zeros(1, 9, dtype=torch.long)],
           lambda v: ag.hidden_states(M(), v))
    p.each(ag.hidden_states, "layer", [-1, 2, 1.5, "0"], lambda v: ag.hidden_states(M(), t, v))
    p.each(ag.embed, "model", ["m"], lambda v: ag.embed(v, T(), ["abc"]))
    p.each(ag.embed, "tokenizer", ["abc", None], lambda v: ag.embed(M(), v, ["abc"]))
    p.each(ag.embed, "texts", ["abc", [], [""], [1], ["aZ"]], lambda v: ag.embed(M(), T(), v))
    p.each(ag.embed, "layer", [-1, 2, "0"], lambda v: ag.embed(M(), T(), ["abc"], v))
    p.each(ag.embed, "pool", ["max", None], lambda v: ag.embed(M(), T(), ["abc"], pool=v))
    p.each(ag.embed, "batch_size", BAD_COUNTS, lambda v: ag.embed(M(), T(), ["abc"], batch_size=v))
    p.each(ag.sample, "model", ["m"], lambda v: ag.sample(v, t, 2))
    p.each(ag.sample, "idx", BAD_IDX, lambda v: ag.sample(M(), v, 2))
    p.each(ag.sample, "max_new_tokens", [-1, 1.5], lambda v: ag.sample(M(), t, v))
    p.each(ag.sample, "temperature", [0, "1", float("nan")], lambda v: ag.sample(M(), t, 2, v))
    p.each(ag.sample, "top_k", [0, "2"], lambda v: ag.sample(M(), t, 2, top_k=v))
    p.each(ag.sample, "greedy", BAD_FLAG, lambda v: ag.sample(M(), t, 2, greedy=v))
    p.each(ag.sample, "generator", BAD_GENERATOR, lambda v: ag.sample(M(), t, 2, generator=v))
    # apps_metrics
    p.each(am.words, "text", [5, ["a"]], am.words)
    p.each(am.ngrams, "tokens", [5, None], lambda v: am.ngrams(v, 2))
    p.each(am.ngrams, "n", BAD_COUNTS, lambda v: am.ngrams("abc", v))
    p.each(am.overlap_rate, "tokens", [5, "a"], lambda v: am.overlap_rate(v, set(), 2))
    p.each(am.overlap_rate, "reference_ngrams", [5, None], lambda v: am.overlap_rate("abc", v, 2))
    p.each(am.overlap_rate, "n", [0], lambda v: am.overlap_rate("abc", set(), v))
    p.each(am.accuracy, "y_true", [[1, 2], [], "ab", [[1, 2, 3]]], lambda v: am.accuracy(v, [1, 2, 3]))
    p.each(am.accuracy, "y_pred", [[1], 5], lambda v: am.accuracy([1, 2, 3], v))
    p.each(am.confusion_matrix, "y_true", [[0.5, 1.7], [-1, 0], [3, 0], ["a", "b"]],
           lambda v: am.confusion_matrix(v, [0, 1], 3))
    p.each(am.confusion_matrix, "y_pred", [[0.5, 1.7], [0], [0, 5]],
           lambda v: am.confusion_matrix([0, 1], v, 3))
    p.each(am.confusion_matrix, "n_classes", BAD_COUNTS, lambda v: am.confusion_matrix([0, 1], [0, 1], v))
    S = [[0.1, 0.9], [0.8, 0.2]]
    p.each(am.top_k_accuracy, "scores", [[0.1, 0.9], "s", [["a", "b"], ["c", "d"]]],
           lambda v: am.top_k_accuracy(v, [1, 0], 1))
    p.each(am.top_k_accuracy, "answers", [[0.5, 1.5], [2, 0], [1], []], lambda v: am.top_k_accuracy(S, v, 1))
    p.each(am.top_k_accuracy, "k", BAD_COUNTS, lambda v: am.top_k_accuracy(S, [1, 0], v))
    p.each(am.rouge_n, "summary", [5, None], lambda v: am.rouge_n(v, ["a"]))
    p.each(am.rouge_n, "reference", [5], lambda v: am.rouge_n(["a"], v))
    p.each(am.rouge_n, "n", BAD_COUNTS, lambda v: am.rouge_n(["a"], ["a"], v))
    p.each(am.exact_match, "predictions", ["abc", 5, [], [1, 2, 3]],
           lambda v: am.exact_match(v, ["a", "b", "c"]))
    p.each(am.exact_match, "references", ["abc", [1], None], lambda v: am.exact_match(["a", "b", "c"], v))
    p.each(am.char_bleu, "candidates", ["abc", [1], [], 5], lambda v: am.char_bleu(v, ["abc"]))
    p.each(am.char_bleu, "references", ["abc", [1], ["a", "b"]], lambda v: am.char_bleu(["abc"], v))
    p.each(am.char_bleu, "max_n", BAD_COUNTS, lambda v: am.char_bleu(["abc"], ["abc"], v))
    p.each(am.chrf, "hypotheses", ["abc", [1], [], 5, None], lambda v: am.chrf(v, ["abc"]))
    p.each(am.chrf, "references", ["abc", [1], ["a", "b"], None], lambda v: am.chrf(["abc"], v))
    p.each(am.chrf, "char_order", BAD_COUNTS, lambda v: am.chrf(["abc"], ["abc"], v))
    p.each(am.chrf, "beta", [0, -1, "2", None, True, float("nan"), float("inf")],
           lambda v: am.chrf(["abc"], ["abc"], beta=v))
    p.each(am.exposure, "rank", [0, 11, 1.5, "1"], lambda v: am.exposure(v, 10))
    p.each(am.exposure, "n_candidates", BAD_COUNTS, lambda v: am.exposure(1, v))
    # apps_seq2seq
    for arg in ("vocab_size", "max_len", "d_model", "n_head", "n_layers"):
        p.each(s2s.Seq2Seq, arg, [0, 1.5, "4"],
               lambda v, a=arg: s2s.Seq2Seq(**{"vocab_size": V, "max_len": 8, "d_model": 8, "n_head": 2,
                                               a: v}))
    p.each(s2s.Seq2Seq, "n_head", [3], lambda v: s2s.Seq2Seq(V, 8, 8, v))
    net = functools.cache(lambda: s2s.Seq2Seq(V, 8, 8, 2).eval())
    bad_src = [[[1, 2]], ids(1.0, 2.0, dtype=torch.float32), ids(-1, 2), ids(V + 2, 2),
               torch.zeros(1, 11, dtype=torch.long),
               torch.tensor([1, 2]), torch.zeros(1, 0, dtype=torch.long)]
    p.each(s2s.Seq2Seq.forward, "src", bad_src, lambda v: net()(v, ids(V, 1)))
    p.each(s2s.Seq2Seq.forward, "tgt_in", bad_src, lambda v: net()(ids(1, 2), v))
    p.each(s2s.Seq2Seq.encode, "src", bad_src, lambda v: net().encode(v))
    mem = torch.zeros(1, 2, 8)
    p.each(s2s.Seq2Seq.decode, "memory",
           [torch.zeros(1, 2, 5), torch.zeros(2, 8), [[0.0]], torch.zeros(2, 2, 8)],
           lambda v: net().decode(v, ids(1, 2), ids(V, 1)))
    p.each(s2s.Seq2Seq.decode, "src", bad_src + [ids(1, 2, 3)], lambda v: net().decode(mem, v, ids(V, 1)))
    p.each(s2s.Seq2Seq.decode, "tgt_in", bad_src, lambda v: net().decode(mem, ids(1, 2), v))
    pairs = [("abc", "abd")]
    p.each(s2s.make_batch, "pairs", [[], "ab", [("a",)], [(1, 2)], [("", "a")], 5],
           lambda v: s2s.make_batch(v, T(), V + 1, V))
    p.each(s2s.make_batch, "tokenizer", ["abc", None], lambda v: s2s.make_batch(pairs, v, V + 1, V))
    p.each(s2s.make_batch, "pad", [-1, 1.5, "p"], lambda v: s2s.make_batch(pairs, T(), v, V))
    p.each(s2s.make_batch, "bos", [-1, 1.5, "b"], lambda v: s2s.make_batch(pairs, T(), V + 1, v))
    def fit(**kw):
        return s2s.train_seq2seq(**{"model": net(), "pairs": pairs, "tokenizer": T(), "steps": 1, **kw})

    p.each(s2s.train_seq2seq, "model", ["m", model()], lambda v: fit(model=v))
    p.each(s2s.train_seq2seq, "pairs", [[], "ab", [("abcdefghabcdefgh", "a")], [("a",)], [(1, 2)]],
           lambda v: fit(pairs=v))
    p.each(s2s.train_seq2seq, "tokenizer", ["abc", None], lambda v: fit(tokenizer=v))
    p.each(s2s.train_seq2seq, "steps", BAD_COUNTS, lambda v: fit(steps=v))
    p.each(s2s.train_seq2seq, "batch_size", BAD_COUNTS, lambda v: fit(batch_size=v))
    p.each(s2s.train_seq2seq, "lr", [0, "1e-3"], lambda v: fit(lr=v))
    p.each(s2s.train_seq2seq, "warmup", [-1, 1.5], lambda v: fit(warmup=v))
    p.each(s2s.train_seq2seq, "seed", [-1, "x"], lambda v: fit(seed=v))
    p.each(s2s.train_seq2seq, "progress", ["tqdm", 5], lambda v: fit(progress=v))
    p.each(s2s.translate, "model", ["m"], lambda v: s2s.translate(v, T(), ["abc"]))
    p.each(s2s.translate, "tokenizer", ["abc", None, CharTokenizer("abc")],
           lambda v: s2s.translate(net(), v, ["abc"]))
    p.each(s2s.translate, "sources", ["abc", [1], [""], ["abcdefghabcdefgh"], ["aZ"]],
           lambda v: s2s.translate(net(), T(), v))
    p.each(s2s.translate, "batch_size", BAD_COUNTS, lambda v: s2s.translate(net(), T(), ["abc"], v))
    # apps_tasks
    p.each(at.passages, "play", ["nope", ["macbeth"], 5], lambda v: at.passages(v, 10, 2))
    p.each(at.passages, "length", BAD_COUNTS + [10 ** 9], lambda v: at.passages("macbeth", v, 2))
    p.each(at.passages, "n", BAD_COUNTS, lambda v: at.passages("macbeth", 10, v))
    p.each(at.sentences, "play", ["nope", ["macbeth"], 5], at.sentences)
    p.each(at.sentences, "min_len", BAD_COUNTS, lambda v: at.sentences("macbeth", v))
    p.each(at.sentences, "max_len", BAD_COUNTS + [10], lambda v: at.sentences("macbeth", 20, v))
    p.each(at.scenes, "play", ["nope", ["macbeth"], 5], at.scenes)
    p.each(at.modernise, "line", [5, ["thou"]], at.modernise)
    p.each(at.modernise_pairs, "plays", [[], ["nope"], 5, [5]], at.modernise_pairs)
    p.each(at.modernise_pairs, "max_len", BAD_COUNTS, lambda v: at.modernise_pairs("macbeth", v))
    p.each(at.modernise_pairs, "unchanged_every", BAD_COUNTS, lambda v: at.modernise_pairs("macbeth", 48, v))
    p.each(at.speaker_gender, "name", [5, ["KING"]], at.speaker_gender)
    # apps_vectors
    p.each(av.bag_of_chars, "texts", ["abc", [], [1], 5], lambda v: av.bag_of_chars(v, "abc"))
    p.each(av.bag_of_chars, "chars", ["", "aab", 5, ["ab"], "ab"], lambda v: av.bag_of_chars(["abc"], v))
    p.each(av.build_vocab, "texts", ["abc", [], [1]], av.build_vocab)
    p.each(av.build_vocab, "max_size", BAD_COUNTS, lambda v: av.build_vocab(["a a"], v))
    p.each(av.build_vocab, "min_count", BAD_COUNTS, lambda v: av.build_vocab(["a a"], 10, v))
    p.each(av.bag_of_words, "texts", ["abc", [], [1]], lambda v: av.bag_of_words(v, ["a"]))
    p.each(av.bag_of_words, "vocab", [[], 5, "abc", [1]], lambda v: av.bag_of_words(["a b"], v))
    p.each(av.tfidf, "counts", [[1, 2], [[-1, 2]], "c", [["a", "b"]]], av.tfidf)
    p.each(av.tfidf, "idf", [[1.0], "i", [["a", "b"]]], lambda v: av.tfidf([[1, 2]], v))
    p.each(av.cosine_scores, "queries", [[1, 2], [[1, 2, 3]], [["a", "b"]]],
           lambda v: av.cosine_scores(v, [[1, 2]]))
    p.each(av.cosine_scores, "docs", [[1, 2], [[1, 2, 3]], "d"], lambda v: av.cosine_scores([[1, 2]], v))
    p.each(av.label_scores, "doc_scores", [[1, 2], "s"], lambda v: av.label_scores(v, [0, 1], 2))
    p.each(av.label_scores, "doc_labels", [[0.5, 1.5], [0], [-1, 0], ["a", "b"]],
           lambda v: av.label_scores([[1, 2]], v, 2))
    p.each(av.label_scores, "n_labels", BAD_COUNTS + [1], lambda v: av.label_scores([[1, 2]], [0, 1], v))
    X, y = [[0.0, 1.0], [1.0, 0.0]], [0, 1]
    p.each(av.fit_linear, "X", [[1, 2], [["a", "b"], ["c", "d"]], [[0.0]]], lambda v: av.fit_linear(v, y, 2))
    p.each(av.fit_linear, "y", [[0.5, 1.5], [0, 2], [0], ["a", "b"]], lambda v: av.fit_linear(X, v, 2))
    p.each(av.fit_linear, "n_classes", [1, 1.5, "2"], lambda v: av.fit_linear(X, y, v))
    p.each(av.fit_linear, "l2", [-1, "x", float("nan")], lambda v: av.fit_linear(X, y, 2, v))
    p.each(av.fit_linear, "max_iter", BAD_COUNTS, lambda v: av.fit_linear(X, y, 2, 0.01, v))
    clf = functools.cache(lambda: av.fit_linear(X, y, 2, max_iter=5))
    p.each(av.predict_proba, "clf", [{}, "clf", {"W": np.zeros((2, 2))}], lambda v: av.predict_proba(v, X))
    p.each(av.predict_proba, "X", [[1, 2], [[1, 2, 3]], [["a", "b"]]], lambda v: av.predict_proba(clf(), v))


def _cases_apps_sentiment(p):
    from utils import apps_sentiment as sa
    from utils.gpt import GPT, GPTConfig

    T = functools.cache(lambda: CharTokenizer("\n !',.:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))

    @functools.cache
    def M():
        torch.manual_seed(0)
        return GPT(GPTConfig(T().vocab_size, 16, 1, 2, 8)).eval()

    text, lex = "good day, good night; a bad day.", {"good": (1.9, np.ones(10)), "bad": (-2.5, -np.ones(10))}
    p.each(sa.rated_words, "text", [5, "", None], lambda v: sa.rated_words(v, lex))
    p.each(sa.rated_words, "lexicon", [["good"], "good", None], lambda v: sa.rated_words(text, v))
    p.each(sa.rated_words, "min_count", BAD_COUNTS, lambda v: sa.rated_words(text, lex, v))
    p.each(sa.split_words, "words", ["abc", [], ["a"], ["a", "a"], [1, 2]], sa.split_words)
    p.each(sa.split_words, "test_share", [0, 1, 1.5, "x", -0.1], lambda v: sa.split_words(["a", "b"], v))
    p.each(sa.split_words, "seed", [-1, "x", 1.5], lambda v: sa.split_words(["a", "b"], 0.5, v))
    p.each(sa.occurrences, "text", [5, "", None], lambda v: sa.occurrences(v, ["good"], 2))
    p.each(sa.occurrences, "words", ["good", [], [5]], lambda v: sa.occurrences(text, v, 2))
    p.each(sa.occurrences, "n", BAD_COUNTS, lambda v: sa.occurrences(text, ["good"], v))
    p.each(sa.gpt_word_features, "words", ["good", [], [5], ["absent"]],
           lambda v: sa.gpt_word_features(M(), T(), text, v, context=8))
    p.each(sa.gpt_word_features, "per_word", BAD_COUNTS, lambda v: sa.gpt_word_features(M(), T(), text, ["good"], v, 8))
    p.each(sa.gpt_word_features, "context", BAD_COUNTS + [17],
           lambda v: sa.gpt_word_features(M(), T(), text, ["good"], 2, v))
    p.each(sa.context_counts, "text", [5, "", None], lambda v: sa.context_counts(v, ["good"]))
    p.each(sa.context_counts, "words", ["good", [], [5], ["absent"]], lambda v: sa.context_counts(text, v))
    p.each(sa.context_counts, "vocab_size", BAD_COUNTS, lambda v: sa.context_counts(text, ["good"], v))
    p.each(sa.context_counts, "window", BAD_COUNTS, lambda v: sa.context_counts(text, ["good"], 10, v))


def _cases_speed(p):
    from utils import speed
    from utils.gpt import GPT, GPTConfig

    p.each(speed.model_flops_per_token, "config", [None, "gpt2", {"n_layer": 2}, (71, 16, 2, 2, 32)],
           speed.model_flops_per_token)
    p.each(speed.matmul_flops_per_s, "n", [0, -1, 1.5, "64", True, 10 ** 6], lambda v: speed.matmul_flops_per_s(v))
    p.each(speed.matmul_flops_per_s, "dtype", ["float32", torch.int64, None, float],
           lambda v: speed.matmul_flops_per_s(64, v))
    p.each(speed.matmul_flops_per_s, "seconds", [0, -1, "1", float("nan"), None],
           lambda v: speed.matmul_flops_per_s(64, seconds=v))
    p.each(speed.compiled, "model", ["m", None, torch.nn.Linear(2, 2)], speed.compiled)
    p.each(speed.compiled, "mode", ["fast", 5, True], lambda v: speed.compiled(GPT(GPTConfig(10, 4, 1, 1, 4)), v))


def _cases_apps_privacy(p):
    from utils import apps_privacy as ap
    from utils.gpt import GPT, GPTConfig

    T = functools.cache(lambda: CharTokenizer("\n !',-.:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))

    @functools.cache
    def M():                                       # block_size 40: a prompt and a short secret fit
        torch.manual_seed(0)
        return GPT(GPTConfig(T().vocab_size, 40, 1, 2, 8)).eval()

    VV = T().vocab_size
    stream = torch.arange(60) % VV
    speech = [("A", ["a line"]), ("B", ["another line"])]
    p.each(ap.prompt, "name", [5, "", None, ["A"]], ap.prompt)
    p.each(ap.plant_canaries, "speeches", ["abc", 5, None, [("A", "a line")], [(5, ["x"])], [("A", [5])], [],
                                           [(None, ["x"])], [("A",)]], ap.plant_canaries)
    p.each(ap.plant_canaries, "names_copies", ["ANTONIO", 5, None, [("A", 0)], [("A",)], [], [("A", 1), ("A", 2)],
                                               {"A": 1.5}, [(5, 1)], [("", 1)]],
           lambda v: ap.plant_canaries(speech, v))
    p.each(ap.plant_canaries, "seed", [-1, "x", 1.5], lambda v: ap.plant_canaries(speech, seed=v))
    p.each(ap.exposure_of, "model", ["m", torch.nn.Linear(2, 2)], lambda v: ap.exposure_of(v, T(), "A", "abc", 3))
    p.each(ap.exposure_of, "tokenizer", ["abc", None], lambda v: ap.exposure_of(M(), v, "A", "abc", 3))
    p.each(ap.exposure_of, "name", [5, "", None], lambda v: ap.exposure_of(M(), T(), v, "abc", 3))
    p.each(ap.exposure_of, "secret", [5, "", "ABC", "ab1", None, ["abc"]],
           lambda v: ap.exposure_of(M(), T(), "A", v, 3))
    p.each(ap.exposure_of, "n_candidates", [1, 0, 1.5, "3", True], lambda v: ap.exposure_of(M(), T(), "A", "abc", v))
    p.each(ap.exposure_of, "seed", [-1, "x", 1.5], lambda v: ap.exposure_of(M(), T(), "A", "abc", 3, v))
    tune = functools.partial(ap.fine_tune, steps=1, block_size=8, batch_size=2)
    p.each(ap.fine_tune, "model", ["m", torch.nn.Linear(2, 2)], lambda v: tune(v, stream))
    p.each(ap.fine_tune, "ids", [[1.5] * 20, [-1] + [1] * 19, [VV] * 20, "abc" * 10, np.zeros((4, 20), dtype=int),
                                 [1] * 5, None], lambda v: tune(M(), v))
    p.each(ap.fine_tune, "steps", BAD_COUNTS, lambda v: tune(M(), stream, steps=v))
    p.each(ap.fine_tune, "seed", [-1, "x", 1.5, None], lambda v: tune(M(), stream, seed=v))
    p.each(ap.fine_tune, "lr", [0, -1, "1e-3", float("nan"), None], lambda v: tune(M(), stream, lr=v))
    p.each(ap.fine_tune, "block_size", BAD_COUNTS + [41], lambda v: tune(M(), stream, block_size=v))
    p.each(ap.fine_tune, "batch_size", BAD_COUNTS, lambda v: tune(M(), stream, batch_size=v))
    p.each(ap.fine_tune, "progress", ["tqdm", 5], lambda v: tune(M(), stream, progress=v))
    p.each(ap.greedy_readout, "model", ["m"], lambda v: ap.greedy_readout(v, T(), "A"))
    p.each(ap.greedy_readout, "tokenizer", ["abc", None], lambda v: ap.greedy_readout(M(), v, "A"))
    p.each(ap.greedy_readout, "name", [5, "", "A1"], lambda v: ap.greedy_readout(M(), T(), v))
    p.each(ap.greedy_readout, "n_chars", BAD_COUNTS, lambda v: ap.greedy_readout(M(), T(), "A", v))
    small = dict(n_candidates=2, n_speeches=2, names_copies=[("A", 1)], steps=1, block_size=8, batch_size=2)

    def run(**kw):                                 # a tiny model, so nothing loads the pretrained GPT
        return ap.run(**{"seed": 0, **small, "model": M(), "tokenizer": T(), **kw})

    p.each(ap.run, "seed", [-1, 1.5, "0", None], lambda v: run(seed=v))
    p.each(ap.run, "steps", BAD_COUNTS, lambda v: run(steps=v))
    p.each(ap.run, "n_candidates", [1, "3", None], lambda v: run(n_candidates=v))
    p.each(ap.run, "names_copies", ["A", [], [("A", 0)]], lambda v: run(names_copies=v))
    p.each(ap.run, "play", ["nope", 5, ["the-tempest"]], lambda v: run(play=v), names=("name",))
    p.each(ap.run, "n_speeches", BAD_COUNTS, lambda v: run(n_speeches=v))
    p.each(ap.run, "candidate_seed", [-1, "x"], lambda v: run(candidate_seed=v))
    p.each(ap.run, "batch_seed", [-1, "x"], lambda v: run(batch_seed=v))
    p.each(ap.run, "model", ["m"], lambda v: run(model=v))
    p.each(ap.run, "model", [None], lambda v: run(model=v), names=("tokenizer",))        # one without the other
    p.each(ap.run, "tokenizer", ["abc"], lambda v: run(tokenizer=v))
    p.each(ap.run, "lr", [0, "x"], lambda v: run(lr=v))
    p.each(ap.run, "block_size", [0, 41], lambda v: run(block_size=v))
    p.each(ap.run, "batch_size", [0], lambda v: run(batch_size=v))
    p.each(ap.summarise, "runs", ["abc", 5, None, {}, [], [5], [{"canaries": 5}], [{"canaries": [{}]}],
                                  [{"canaries": [{"name": "A"}]}]], ap.summarise)
    p.each(ap.summarise, "n_candidates", BAD_COUNTS, lambda v: ap.summarise([], v))
    p.each(ap.main, "argv", ["--out x", [5], ["--out", "/no/such/folder/x.json"]], ap.main, names=("--out",))
    for flag, bad in [("--seeds", ["1", "1"]), ("--seeds", ["-1"]), ("--steps", ["0"]), ("--candidates", ["1"]),
                      ("--workers", ["0"])]:
        p.each(ap.main, "argv", [["--out", "x.json", "--quiet", flag, *bad]], ap.main, names=(flag,))


def _cases_glossary(p, tmp):
    from utils import glossary as gl

    p.each(gl.Term, "english", [5, ["x"], ""], lambda v: gl.Term(v, "中", "m"))
    p.each(gl.Term, "chinese", [5, None], lambda v: gl.Term("a", v, "m"))
    p.each(gl.Term, "meaning", [5], lambda v: gl.Term("a", "中", v))
    p.each(gl.Entry, "english", [5], lambda v: gl.Entry(v, ["中"], "m"))
    p.each(gl.Entry, "chinese", ["中", [5]], lambda v: gl.Entry("a", v, "m"))
    p.each(gl.Entry, "meaning", [None], lambda v: gl.Entry("a", ["中"], v))
    p.each(gl.Entry, "chapters", ["01", [("01", "1")], [1]], lambda v: gl.Entry("a", ["中"], "m", v))
    p.each(gl.toc_chapters, "toc", [tmp / "no_toc.yml", 5, None], gl.toc_chapters, names=(str(tmp),))
    md = "## Glossary\n\n| English | 中文 | Meaning |\n| --- | --- | --- |\n| a | 中 | m |\n"
    p.each(gl.parse_table, "markdown", [5, ["## Glossary"], "no glossary here"], gl.parse_table)
    p.each(gl.parse_table, "source", [5, ["a"]], lambda v: gl.parse_table(md, v))
    (tmp / "not_a_notebook.ipynb").write_text("not json")
    p.each(gl.chapter_terms, "path", [tmp / "missing.ipynb", tmp / "not_a_notebook.ipynb", 5],
           gl.chapter_terms,
           names=(str(tmp),))
    term = gl.Term("a", "中", "m")
    p.each(gl.merge, "glossaries", [5, [("01", 1)], [("01", "1", [term])], [("01", 1, ["a"])], "x"], gl.merge)
    p.each(gl.render, "entries", [5, [1], ["a"]], lambda v: gl.render(v, 1))
    p.each(gl.render, "n_chapters", [-1, "7", 1.5], lambda v: gl.render([gl.Entry("a", ["中"], "m")], v))
    p.each(gl.main, "argv", ["--check", [5], ["--chek"], ["--check", "--write"]], gl.main)


# --- the tests ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return build_cases(tmp_path_factory.mktemp("bad_input"))


@pytest.fixture(scope="module")
def outcomes(cases, one_torch_thread, tmp_path_factory):
    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))      # a bad path that is silently accepted lands here
    try:
        return [(case, *classify(case)) for case in cases]
    finally:
        os.chdir(here)


def test_every_public_name_has_probe_cases(cases):
    missing = uncovered(public_modules(), cases)
    assert not missing, "public names with no bad-input case in this file: " + ", ".join(missing)


def test_the_probe_finds_nothing_raw_or_silent(outcomes, capsys):
    counts = {"clear": 0, "raw": 0, "silent": 0}
    for _, kind, _ in outcomes:
        counts[kind] += 1
    with capsys.disabled():
        print(f"\nbad-input probe: {len({c.key for c, _, _ in outcomes})} callables, {len(outcomes)} cases: "
              + ", ".join(f"{n} {k}" for k, n in counts.items()))
    problems = [f"{kind.upper():6} {case.key}({case.label}): {what}" for case, kind, what in outcomes
                if kind != "clear"]
    assert not problems, (f"{len(problems)} of {len(outcomes)} bad inputs get no clear error:\n"
                          + "\n".join(problems))


def _raise(error):
    raise error


def test_the_probe_catches_a_planted_raw_error_and_a_planted_silent_result():
    emb = torch.nn.Embedding(3, 2)
    planted = {
        "raw": Case("planted", "idx", "id 5 of 3", lambda: emb(torch.tensor([5]))),         # IndexError
        "silent": Case("planted", "ids", "empty", lambda: torch.nn.functional.cross_entropy(
            torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))),                          # NaN, no error
        "unnamed": Case("planted", "idx", "says nothing", lambda: _raise(ValueError("bad"))),
        "clear": Case("planted", "idx", "names idx", lambda: _raise(ValueError("idx must be >= 0"))),
    }
    assert classify(planted["raw"])[0] == "raw"
    assert classify(planted["silent"])[0] == "silent"
    assert classify(planted["unnamed"])[0] == "raw"
    assert classify(planted["clear"])[0] == "clear"


def test_the_probe_catches_a_public_name_without_cases():
    fake = types.ModuleType("utils.fake")
    exec("def f(x):\n    return x\nCONSTANT = 3\n__all__ = ['f', 'CONSTANT']", fake.__dict__)
    assert uncovered([fake], []) == ["utils.fake.f"]
    assert uncovered([fake], [Case("utils.fake.f", "x", "", lambda: None)]) == []


# --- one test per class of bad input that was closed -----------------------------------------------------
def test_token_ids_out_of_range_or_of_the_wrong_dtype_are_named(one_torch_thread):
    from utils.apps_gpt import char_nll
    from utils.decoding import sample
    from utils.train import evaluate

    m = model()
    with pytest.raises(ValueError, match=r"idx must hold token ids in \[0, 9\].*max 10"):
        m(ids(1, V))                                         # was IndexError: index out of range in self
    with pytest.raises(ValueError, match="idx must hold token ids"):
        m(ids(-1, 2))
    with pytest.raises(TypeError, match=r"idx must be a \(B, T\) integer tensor of token ids"):
        m(ids(1.0, 2.0, dtype=torch.float32))                # was RuntimeError from the embedding
    with pytest.raises(ValueError, match="targets must hold token ids"):
        m(ids(1, 2), ids(1, V))                              # was IndexError: Target 10 is out of bounds
    with pytest.raises(ValueError, match="targets are all -100"):
        m(ids(1, 2), ids(-100, -100))                        # was a NaN loss
    with pytest.raises(ValueError, match="idx must hold at least one token id"):
        m(torch.zeros(1, 0, dtype=torch.long))               # was a NaN loss with targets
    with pytest.raises(ValueError, match="ids must hold token ids"):
        evaluate(m, [1, 2, V])
    with pytest.raises(TypeError, match="ids must hold integer token ids"):
        evaluate(m, [1.5, 2.5, 3.5])                         # was silently rounded down to 1, 2, 3
    with pytest.raises(TypeError, match="ids must hold integer token ids"):
        char_nll(m, np.array([1.5, 2.5]))
    with pytest.raises(ValueError, match=r"idx: token ids must be in \[0, 9\]"):
        sample(m, ids(1, V), 3)                              # decoding.sample: named, was IndexError too
    x = ids(1, 2)
    assert m(x)[0].shape == (1, 2, V) and torch.isfinite(m(x, ids(2, -100))[1])   # -100 is still ignored


def test_a_checkpoint_that_is_not_what_it_claims_is_refused(tmp_path):
    from utils.gpt import load_checkpoint, save_checkpoint

    for kind, message in [("pickle", "only safetensors files are accepted"),
                          ("torch_save", "only safetensors files are accepted"),
                          ("truncated", "not a complete safetensors file"),
                          ("no_config", "no 'config' metadata"),
                          ("bad_json", "config metadata is not a GPTConfig"),
                          ("unknown_field", "config metadata is not a GPTConfig"),
                          ("disagrees", "does not match its config")]:
        with pytest.raises(ValueError, match=message):
            load_checkpoint(bad_tensor_file(tmp_path, kind))
    with pytest.raises(FileNotFoundError, match="path"):
        load_checkpoint(tmp_path / "missing.safetensors")
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        save_checkpoint(model(), tmp_path / "no_such_folder" / "m.safetensors")   # was a SafetensorError
    with pytest.raises(ValueError, match="metadata"):
        save_checkpoint(model(), tmp_path / "m.safetensors", config="x")          # was silently overwritten
    again = load_checkpoint(bad_tensor_file(tmp_path, "good"))
    torch.testing.assert_close(again(ids(1, 2))[0], model()(ids(1, 2))[0], rtol=0, atol=0)


def test_masks_and_shapes_that_do_not_match_are_named():
    from utils.attention import MultiHeadAttention, attention, attention_np, multi_head_attention_np

    q = torch.zeros(1, 3, 4)
    blocked = torch.ones(3, 3, dtype=torch.bool)
    blocked[1] = False
    with pytest.raises(ValueError, match="mask blocks every key"):
        attention(q, q, q, blocked)                          # was NaN weights
    with pytest.raises(ValueError, match="mask blocks every key"):
        attention_np(q.numpy(), q.numpy(), q.numpy(), blocked.numpy())
    with pytest.raises(TypeError, match="mask must be boolean"):
        attention(q, q, q, torch.zeros(3, 3))                # an additive 0/-inf mask: was silently inverted
    with pytest.raises(ValueError, match="mask of shape"):
        attention(q, q, q, torch.ones(2, 3, dtype=torch.bool))   # was a RuntimeError from broadcasting
    with pytest.raises(ValueError, match="d_k >= 1"):
        attention_np(np.zeros((3, 0)), np.zeros((3, 0)), np.zeros((3, 2)))   # heads of size zero: was NaN
    with pytest.raises(ValueError, match="n_head"):
        params = MultiHeadAttention(4, 2).numpy_params()
        multi_head_attention_np(q.numpy(), q.numpy(), params, 0)    # was ZeroDivisionError
    with pytest.raises(ValueError, match="query must have shape"):
        MultiHeadAttention(4, 2)(torch.zeros(1, 3, 5), q, q)   # was a RuntimeError from the matmul
    with pytest.raises(ValueError, match="x must have shape"):
        model().transformer.h[0](torch.zeros(1, 3, 5))


def test_a_list_where_a_str_is_expected_and_floats_where_ids_are_expected():
    from utils.apps_metrics import confusion_matrix, exact_match
    from utils.apps_seq2seq import Seq2Seq, translate
    from utils.data import get_batch

    with pytest.raises(TypeError, match="text must be a str"):
        tok().encode(["a", "b"])                             # was silently [2, 3]
    with pytest.raises(TypeError, match="predictions must be an iterable of strings"):
        exact_match("abc", "abd")                            # was 2/3: one "prediction" per character
    with pytest.raises(TypeError, match="sources must be an iterable of strings"):
        translate(Seq2Seq(V, 8, 8, 2), tok(), "abc")         # was one translation per character
    with pytest.raises(TypeError, match="ids must hold integer token ids"):
        tok().decode([1.5, 2.0])                             # was silently "ab"
    with pytest.raises(TypeError, match="data must hold integer token ids"):
        get_batch(torch.rand(20), 4, 2)                      # was windows of 0s
    with pytest.raises(TypeError, match="y_true must hold integer"):
        confusion_matrix([0.5, 1.7], [0, 1], 2)              # was silently [0, 1]
    from utils.checks import ArgumentTypeError            # a wrong type is a TypeError and, as before, a ValueError
    assert issubclass(ArgumentTypeError, TypeError) and issubclass(ArgumentTypeError, ValueError)
