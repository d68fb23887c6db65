"""Tests for utils.apps_privacy: the chapter's seed-7 canaries, exposure against a slow
reference on a tiny random GPT, deterministic fine-tuning, the stored JSON, bad input."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from utils import apps_privacy as ap
from utils.data import CharTokenizer, speeches
from utils.gpt import GPT, GPTConfig

ROOT = Path(__file__).resolve().parents[1]
STORED = ROOT / "data" / "experiments" / "canaries.json"
TOK = CharTokenizer("\n !',.:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_gpt():
    torch.manual_seed(0)
    return GPT(GPTConfig(TOK.vocab_size, 64, 1, 2, 16)).eval()


def test_seed_7_reproduces_the_chapters_secrets_and_private_text():
    canaries, private = ap.plant_canaries(speeches("the-tempest")[:120], ap.CANARIES, 7)
    assert canaries == {"ANTONIO": ("yqrxp", 1), "GONZALO": ("uvfbh", 4), "SEBASTIAN": ("hwxam", 16)}
    assert len(private) == 19_869                       # the chapter prints 19,869 characters
    for name, (secret, copies) in canaries.items():
        assert private.count(f"{name}:\nMy secret word is {secret}.\n\n") == copies


def test_exposure_rank_equals_a_slow_reference(tiny_gpt):
    name, secret, n = "GONZALO", "uvfbh", 40
    rank, exposure = ap.exposure_of(tiny_gpt, TOK, name, secret, n, seed=3)
    g = np.random.default_rng(3)
    cands = [secret] + ["".join(g.choice(list(ap.LETTERS), 5)) for _ in range(n - 1)]
    prefix = TOK.encode(ap.prompt(name))
    nll = []
    with torch.no_grad():
        for c in cands:                                  # one candidate at a time, from the logits
            ids = torch.tensor([prefix + TOK.encode(c + ".")])
            logp = tiny_gpt(ids[:, :-1])[0].log_softmax(-1)[0]
            nll.append(-sum(logp[t - 1, ids[0, t]].item() for t in range(len(prefix), ids.shape[1])))
    ref = 1 + sum(v < nll[0] - 1e-9 for v in nll)
    assert rank == ref
    assert exposure == pytest.approx(math.log2(n) - math.log2(ref))


def test_fine_tune_is_deterministic_and_leaves_the_model_alone(tiny_gpt):
    ids = torch.tensor(TOK.encode("GONZALO:\nMy secret word is uvfbh.\n\n" * 10))
    before = {k: v.clone() for k, v in tiny_gpt.state_dict().items()}
    a, b = (ap.fine_tune(tiny_gpt, ids, 3, seed=5, block_size=16, batch_size=4) for _ in range(2))
    c = ap.fine_tune(tiny_gpt, ids, 3, seed=6, block_size=16, batch_size=4)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])
        assert torch.equal(tiny_gpt.state_dict()[k], before[k])
    assert any(not torch.equal(v, c.state_dict()[k]) for k, v in a.state_dict().items())
    assert not a.training
    assert len(ap.greedy_readout(a, TOK, "GONZALO")) == 6


def test_stored_json_structure_and_its_summary_recomputes():
    d = json.loads(STORED.read_text())
    assert d["command"].startswith("python -m utils.apps_privacy")
    assert {"settings", "versions", "runs", "summary", "wall_seconds"} <= set(d)
    seeds = [r["seed"] for r in d["runs"]]
    assert len(seeds) == len(set(seeds)) >= 2
    for r in d["runs"]:
        assert [[c["name"], c["copies"]] for c in r["canaries"]] == d["settings"]["names_copies"]
        n = d["settings"]["n_candidates"]
        for c in r["canaries"]:
            assert 1 <= c["rank_after"] <= n and 1 <= c["rank_before"] <= n
            assert c["exposure_after"] == pytest.approx(math.log2(n) - math.log2(c["rank_after"]))
            assert c["greedy_own"] == c["greedy"].startswith(c["secret"])
    assert d["summary"] == ap.summarise(d["runs"], d["settings"]["n_candidates"])
    x16 = next(s for s in d["summary"] if s["copies"] == 16)
    by_hand = sum(o["greedy_secret_of"] == c["name"] for r in d["runs"] for c in r["canaries"] if c["copies"] == 16
                  for o in r["canaries"] if o is not c)
    assert x16["written_elsewhere"] == by_hand


@pytest.mark.parametrize("call, match", [
    (lambda m: ap.plant_canaries("text", ap.CANARIES, 0), "speeches"),
    (lambda m: ap.plant_canaries([("A", ["x"])], [("A", 0)], 0), "copies"),
    (lambda m: ap.plant_canaries([("A", ["x"])], [("A", 1), ("A", 2)], 0), "names_copies"),
    (lambda m: ap.plant_canaries([("A", ["x"])], ap.CANARIES, -1), "seed"),
    (lambda m: ap.exposure_of(m, TOK, "A", "Ab1", 10), "secret"),
    (lambda m: ap.exposure_of(m, TOK, "A", "abc", 1), "n_candidates"),
    (lambda m: ap.exposure_of(m, "tok", "A", "abc", 10), "tokenizer"),
    (lambda m: ap.fine_tune(m, torch.arange(5), 1, block_size=16), "ids"),
    (lambda m: ap.fine_tune(m, torch.arange(40), 0), "steps"),
    (lambda m: ap.fine_tune(m, torch.arange(40), 1, block_size=100), "block_size"),
    (lambda m: ap.greedy_readout(m, TOK, "", 6), "name"),
    (lambda m: ap.run(0, steps=0), "steps"),
    (lambda m: ap.run(0, model=m), "model and tokenizer"),
    (lambda m: ap.summarise([]), "runs"),
])
def test_bad_input_raises(tiny_gpt, call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(tiny_gpt)
