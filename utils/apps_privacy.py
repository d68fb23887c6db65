"""Planted canaries (Carlini et al., 2019, "The Secret Sharer") over several seeds, for chapter 7.

One concern: the chapter's privacy experiment, packaged so it can be repeated with other seeds.
Each function does exactly what one of the chapter's cells does:

* :func:`plant_canaries` -- a random five-letter secret per name, inserted ``copies`` times as
  ``"NAME:\\nMy secret word is xxxxx.\\n\\n"`` at random places among the speeches;
* :func:`exposure_of` -- the secret's rank among ``n_candidates`` (itself and random words of
  its length), scored by :func:`utils.apps_gpt.text_nll` after ``"\\n\\nNAME:\\nMy secret word is "``,
  and its exposure ``log2(n_candidates) - log2(rank)`` (:func:`utils.apps_metrics.exposure`);
* :func:`fine_tune` -- AdamW (no weight decay) on random windows of the private text, on a copy;
* :func:`greedy_readout` -- what a model writes greedily after that prompt;
* :func:`run` -- all four for one seed, :func:`summarise` -- per copy count across seeds;
* a command line that writes the runs and their summary to one JSON file::

      python -m utils.apps_privacy --seeds 0 1 2 3 4 5 6 7 8 9 --out data/experiments/canaries.json

``seed`` sets the secrets and where they go, and by default also the candidates
(``numpy.random.default_rng([seed, 1])``) and the fine-tuning batches
(``torch.Generator().manual_seed(seed)``); the chapter's own run is
``run(7, candidate_seed=11, batch_seed=0)``.  On one CPU thread a run is deterministic.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from utils import apps_gpt as ag
from utils import apps_metrics as am
from utils import checks

__all__ = ["LETTERS", "CANARIES", "prompt", "plant_canaries", "exposure_of", "fine_tune", "greedy_readout",
           "run", "summarise", "main"]

#: The alphabet of secrets and candidates.
LETTERS = "abcdefghijklmnopqrstuvwxyz"
#: The chapter's names and how many times each secret is planted.
CANARIES = (("ANTONIO", 1), ("GONZALO", 4), ("SEBASTIAN", 16))


def prompt(name: str) -> str:
    """The text a secret follows: ``"\\n\\nNAME:\\nMy secret word is "``."""
    return f"\n\n{checks.string(name, 'name', nonempty=True)}:\nMy secret word is "


def _names_copies(names_copies) -> list[tuple[str, int]]:
    if isinstance(names_copies, dict):
        names_copies = list(names_copies.items())
    if isinstance(names_copies, (str, bytes)) or not hasattr(names_copies, "__iter__"):
        raise checks.ArgumentTypeError(f"names_copies must be (name, copies) pairs such as "
                                       f"[('ANTONIO', 1)], got {type(names_copies).__name__}")
    out = []
    for item in names_copies:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise ValueError(f"names_copies must hold (name, copies) pairs, got {item!r}")
        out.append((checks.string(item[0], "names_copies: name", nonempty=True),
                    checks.integer(item[1], "names_copies: copies", 1)))
    if not out:
        raise ValueError("names_copies must not be empty")
    if len({n for n, _ in out}) != len(out):
        raise ValueError(f"names_copies must name each name once, got {[n for n, _ in out]}")
    return out


def plant_canaries(speeches, names_copies=CANARIES, seed=7) -> tuple[dict, str]:
    """``(canaries, private_text)``: ``canaries[name] = (secret, copies)`` and the private text.

    ``speeches`` are ``(speaker, lines)`` pairs as :func:`utils.data.speeches` returns them;
    those with a speaker become ``"SPEAKER:\\nline\\nline\\n\\n"``.  With ``rng =
    numpy.random.default_rng(seed)`` (``seed`` may be a Generator) each name in order draws
    its secret, ``"".join(rng.choice(list(LETTERS), 5))``; then each name in order inserts its
    sentence ``copies`` times, each at ``rng.integers(len(private))`` of the list as it grows.
    """
    if isinstance(speeches, (str, bytes)) or not hasattr(speeches, "__iter__"):
        raise checks.ArgumentTypeError(f"speeches must be a list of (speaker, lines) pairs, "
                                       f"got {type(speeches).__name__}")
    speeches = list(speeches)
    for item in speeches:
        if (not isinstance(item, (tuple, list)) or len(item) != 2 or not (item[0] is None or isinstance(item[0], str))
                or isinstance(item[1], str)):
            raise ValueError(f"speeches must hold (speaker, lines) pairs, got {checks._show(item)}")
        checks.strings(item[1], "speeches: lines", nonempty=False)
    names_copies = _names_copies(names_copies)
    rng = checks.rng(seed)
    canaries = {name: ("".join(rng.choice(list(LETTERS), 5)), copies) for name, copies in names_copies}
    private = [f"{spk}:\n" + "\n".join(lines) + "\n\n" for spk, lines in speeches if spk]
    if not private:
        raise ValueError("speeches must hold at least one speech with a speaker")
    for name, (secret, copies) in canaries.items():
        for _ in range(copies):
            private.insert(int(rng.integers(len(private))), f"{name}:\nMy secret word is {secret}.\n\n")
    return canaries, "".join(private)


def exposure_of(model, tokenizer, name, secret, n_candidates: int = 300, seed=11) -> tuple[int, float]:
    """``(rank, exposure)`` of ``secret`` after ``name`` among ``n_candidates`` candidates.

    The candidates are ``secret`` and ``n_candidates - 1`` random words of its length from
    ``numpy.random.default_rng(seed)``, each scored as ``word + "."`` after :func:`prompt`;
    ``rank = 1 +`` the number of candidates with a strictly lower negative log-likelihood (a tie
    counts in the secret's favour), ``exposure = log2(n_candidates) - log2(rank)`` bits.
    """
    ag._check_model(model)
    ag._check_tokenizer(tokenizer)
    p = prompt(name)
    secret = checks.string(secret, "secret", nonempty=True)
    if any(c not in LETTERS for c in secret):
        raise ValueError(f"secret must be lower-case letters a-z, got {secret!r}")
    n_candidates = checks.integer(n_candidates, "n_candidates", 2)
    g = checks.rng(seed)
    cands = [secret] + ["".join(g.choice(list(LETTERS), len(secret))) for _ in range(n_candidates - 1)]
    nll = ag.text_nll(model, tokenizer, [c + "." for c in cands], prefix=p)
    rank = 1 + int((nll < nll[0]).sum())
    return rank, am.exposure(rank, n_candidates)


def fine_tune(model, ids, steps: int = 60, seed: int = 0, lr: float = 1e-3, block_size: int = 64,
              batch_size: int = 16, progress=None):
    """A fine-tuned copy of ``model`` (in eval mode; ``model`` itself is unchanged).

    ``steps`` AdamW steps (``model.configure_optimizer(weight_decay=0.0, lr=lr)``) on random
    windows of the 1-D token ids ``ids`` (:func:`utils.data.get_batch`, ``block_size`` by
    ``batch_size``, drawn with ``torch.Generator().manual_seed(seed)``).  ``progress``: None or
    a function that wraps the range of steps (such as ``tqdm``).
    """
    from utils import data

    ag._check_model(model)
    ids = checks.id_sequence(ids, "ids", model.config.vocab_size)
    steps = checks.integer(steps, "steps", 1)
    seed = checks.integer(seed, "seed", 0)
    lr = checks.number(lr, "lr", 0, low_open=True)
    block_size = checks.integer(block_size, "block_size", 1, model.config.block_size)
    batch_size = checks.integer(batch_size, "batch_size", 1)
    if len(ids) < block_size + 1:
        raise ValueError(f"ids must hold more than block_size = {block_size} ids, got {len(ids)}")
    if progress is not None and not callable(progress):
        raise checks.ArgumentTypeError(f"progress must be None or a function such as tqdm, "
                                       f"got {type(progress).__name__}")
    device = next(model.parameters()).device
    tuned = copy.deepcopy(model).train()
    opt = tuned.configure_optimizer(weight_decay=0.0, lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in (progress or (lambda r: r))(range(steps)):
        x, y = data.get_batch(ids, block_size, batch_size, generator=g, device=device)
        _, loss = tuned(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return tuned.eval()


def greedy_readout(model, tokenizer, name, n_chars: int = 6) -> str:
    """The ``n_chars`` characters ``model`` writes greedily after :func:`prompt` (5 letters and a
    full stop for a recited five-letter secret)."""
    ag._check_model(model)
    ag._check_tokenizer(tokenizer)
    p = prompt(name)
    n_chars = checks.integer(n_chars, "n_chars", 1)
    try:
        x = torch.tensor([tokenizer.encode(p)], device=next(model.parameters()).device)
    except ValueError as e:
        raise ValueError(f"name: {e}") from None
    return tokenizer.decode(ag.sample(model, x, n_chars, greedy=True)[0, x.shape[1]:].tolist())


def run(seed: int, steps: int = 60, n_candidates: int = 300, names_copies=CANARIES, play: str = "the-tempest",
        n_speeches: int = 120, lr: float = 1e-3, block_size: int = 64, batch_size: int = 16,
        candidate_seed=None, batch_seed=None, model=None, tokenizer=None) -> dict:
    """One seed of the chapter's experiment: plant, score, fine-tune, score again, read out.

    Secrets and places from ``seed``; candidates from ``candidate_seed`` (default
    ``[seed, 1]``, a stream apart from the secrets'), batches from ``batch_seed`` (default
    ``seed``).  ``model``/``tokenizer``: default the book's pretrained GPT
    (:func:`utils.pretrained.load_pretrained`, on the CPU).  Returns ``{"seed", "candidate_seed",
    "batch_seed", "private_chars", "canaries": [...]}``, each canary a dict with ``name``,
    ``secret``, ``copies``, ``rank_before``, ``rank_after``, ``exposure_before``,
    ``exposure_after``, ``greedy`` (the readout after its name), ``greedy_own`` (it starts with
    its own secret) and ``greedy_secret_of`` (the name whose secret it starts with, or None).
    """
    from utils import data

    seed = checks.integer(seed, "seed", 0)
    steps = checks.integer(steps, "steps", 1)
    n_candidates = checks.integer(n_candidates, "n_candidates", 2)
    names_copies = _names_copies(names_copies)
    n_speeches = checks.integer(n_speeches, "n_speeches", 1)
    candidate_seed = [seed, 1] if candidate_seed is None else checks.integer(candidate_seed, "candidate_seed", 0)
    batch_seed = seed if batch_seed is None else checks.integer(batch_seed, "batch_seed", 0)
    if (model is None) != (tokenizer is None):
        raise ValueError("model and tokenizer must be given together (or neither, for the pretrained GPT)")
    speeches = data.speeches(checks.string(play, "play", nonempty=True))[:n_speeches]
    if model is None:
        from utils.pretrained import load_pretrained
        model, tokenizer = load_pretrained()
    ag._check_model(model)
    ag._check_tokenizer(tokenizer)
    canaries, private = plant_canaries(speeches, names_copies, seed)
    ids = torch.tensor(tokenizer.encode(private))

    def scores(m):
        return {name: exposure_of(m, tokenizer, name, secret, n_candidates, np.random.default_rng(candidate_seed))
                for name, (secret, _) in canaries.items()}

    before = scores(model)
    tuned = fine_tune(model, ids, steps, batch_seed, lr, block_size, batch_size)
    after = scores(tuned)
    rows = []
    for name, (secret, copies) in canaries.items():
        text = greedy_readout(tuned, tokenizer, name)
        whose = next((n for n, (s, _) in canaries.items() if text.startswith(s)), None)
        rows.append(dict(name=name, secret=secret, copies=copies,
                         rank_before=before[name][0], rank_after=after[name][0],
                         exposure_before=before[name][1], exposure_after=after[name][1],
                         greedy=text, greedy_own=text.startswith(secret), greedy_secret_of=whose))
    return dict(seed=seed, candidate_seed=candidate_seed, batch_seed=batch_seed, private_chars=len(ids),
                canaries=rows)


def summarise(runs, n_candidates: int = 300) -> list[dict]:
    """Per copy count across ``runs`` (the dicts :func:`run` returns): the median, lowest and highest
    exposure after fine-tuning (and the median before), in how many runs the secret ranks first,
    ranks in the top tenth (expected by chance in a tenth of runs), is written out greedily after
    its own name, and is written after another name (``written_elsewhere``: name-runs, out of
    ``other_names``).  ``n_candidates`` only sets the top tenth's rank bound."""
    n_candidates = checks.integer(n_candidates, "n_candidates", 2)
    if isinstance(runs, (str, bytes, dict)) or not hasattr(runs, "__iter__"):
        raise checks.ArgumentTypeError(f"runs must be a list of the dicts run() returns, got {type(runs).__name__}")
    runs = list(runs)
    if not runs:
        raise ValueError("runs must not be empty")
    keys = ("name", "secret", "copies", "rank_before", "rank_after", "exposure_before", "exposure_after",
            "greedy_own", "greedy_secret_of")
    for r in runs:
        if not isinstance(r, dict) or not isinstance(r.get("canaries"), list) or not all(
                isinstance(c, dict) and all(k in c for k in keys) for c in r["canaries"]):
            raise ValueError(f"runs must hold the dicts run() returns (with 'canaries', each with {keys})")
    top = max(1, n_candidates // 10)
    out = []
    for copies in sorted({c["copies"] for r in runs for c in r["canaries"]}):
        rows = [(r, c) for r in runs for c in r["canaries"] if c["copies"] == copies]
        after = [c["exposure_after"] for _, c in rows]
        elsewhere = sum(sum(o["greedy_secret_of"] == c["name"] for o in r["canaries"] if o is not c) for r, c in rows)
        others = sum(len(r["canaries"]) - 1 for r, _ in rows)
        out.append(dict(copies=copies, runs=len(rows),
                        median_exposure_before=statistics.median(c["exposure_before"] for _, c in rows),
                        median_exposure_after=statistics.median(after), min_exposure_after=min(after),
                        max_exposure_after=max(after),
                        ranked_first=sum(c["rank_after"] == 1 for _, c in rows),
                        top_tenth=sum(c["rank_after"] <= top for _, c in rows),
                        top_tenth_before=sum(c["rank_before"] <= top for _, c in rows),
                        written_out=sum(bool(c["greedy_own"]) for _, c in rows),
                        written_elsewhere=elsewhere, other_names=others))
    return out


def _one(job):
    torch.set_num_threads(1)
    seed, kwargs = job
    t0 = time.perf_counter()
    result = run(seed, **kwargs)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def main(argv=None) -> dict:
    """``python -m utils.apps_privacy --out FILE [--seeds S ...] [--steps N] [--candidates N]
    [--workers W]``."""
    p = argparse.ArgumentParser(prog="python -m utils.apps_privacy", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="the JSON file to write")
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(10)), help="one run per seed")
    p.add_argument("--steps", type=int, default=60, help="fine-tuning steps (the chapter's CPU setting)")
    p.add_argument("--candidates", type=int, default=300, help="candidates per secret (N_CANDIDATES)")
    p.add_argument("--workers", type=int, default=1, help="processes side by side (1 thread each)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv if argv is None else checks.strings(argv, "argv", nonempty=False))
    seeds = [checks.integer(s, "--seeds", 0) for s in args.seeds]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds must be distinct, got {seeds}")
    steps = checks.integer(args.steps, "--steps", 1)
    n_candidates = checks.integer(args.candidates, "--candidates", 2)
    workers = checks.integer(args.workers, "--workers", 1)
    out = checks.new_file(args.out, "--out")
    kwargs = dict(steps=steps, n_candidates=n_candidates)
    t0 = time.perf_counter()
    jobs = [(s, kwargs) for s in seeds]
    if workers == 1:
        runs = [_one(j) for j in jobs]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            runs = list(pool.map(_one, jobs))
    if not args.quiet:
        for r in runs:
            print(f"seed {r['seed']}: " + "; ".join(f"x{c['copies']} rank {c['rank_after']} greedy {c['greedy']!r}"
                                                   for c in r["canaries"]) + f" ({r['seconds']} s)", flush=True)
    settings = dict(play="the-tempest", n_speeches=120, names_copies=[list(nc) for nc in CANARIES], steps=steps,
                    n_candidates=n_candidates, lr=1e-3, weight_decay=0.0, block_size=64, batch_size=16,
                    candidate_seed="[seed, 1]", batch_seed="seed", threads=1, device="cpu",
                    chance="a random rank among n_candidates: median exposure about 1 bit, "
                           "P(top tenth) = 0.1")
    result = dict(command="python -m utils.apps_privacy " + " ".join(sys.argv[1:] if argv is None else argv),
                  settings=settings, versions=dict(torch=torch.__version__, numpy=np.__version__),
                  runs=runs, summary=summarise(runs, n_candidates),
                  wall_seconds=round(time.perf_counter() - t0, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    if not args.quiet:
        print(f"wrote {out} in {result['wall_seconds']} s")
    return result


if __name__ == "__main__":
    main()
