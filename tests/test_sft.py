"""utils.sft: prompt masking, the masked loss equals the response loss, pairs from the right
plays, a tiny SFT run helps on held-out pairs, determinism, lockstep greedy == greedy."""
import copy
import functools

import pytest
import torch

from utils.data import SPLITS, CharTokenizer, load_corpus
from utils.decoding import greedy
from utils.gpt import GPT, GPTConfig
from utils.sft import (END, Pair, generate_replies, make_pairs, reply_metrics, response_loss,
                       sft_batch, sft_train, split_pairs)

torch.set_num_threads(1)


@functools.cache
def tok():
    return CharTokenizer(set(load_corpus()) | {END})


@functools.cache
def pairs(split):
    return split_pairs(split)


def small_model(seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=tok().vocab_size, block_size=128, n_layer=1, n_head=2, n_embd=32))


def test_template_and_lengths():
    p = Pair("x", "ORSINO", "Who saw Cesario, ho?", "VIOLA", "Here.")
    assert p.prompt == "Answer as VIOLA.\nORSINO:\nWho saw Cesario, ho?\n\nVIOLA:\n"
    assert p.response == "Here." + END and p.text == p.prompt + p.response
    for q in pairs("val"):
        assert len(q.prompt) <= 80 and len(q.response) <= 48 and q.response.count(END) == 1
        assert END not in q.prompt and q.speaker != q.cue_speaker
        tok().encode(q.text)                              # every character is in the vocabulary


def test_pairs_come_only_from_the_requested_plays():
    held_out = set(SPLITS["val"]) | set(SPLITS["test"])
    assert {p.play for p in pairs("val")} == set(SPLITS["val"])
    assert not {p.play for p in pairs("train")} & held_out
    assert {p.play for p in make_pairs(["macbeth"])} == {"macbeth"}


def test_masked_targets():
    batch = pairs("val")[:6]
    x, y = sft_batch(batch, tok())
    for i, p in enumerate(batch):
        ids = tok().encode(p.text)
        P, n = len(p.prompt), len(ids)
        assert x[i, :n - 1].tolist() == ids[:-1]
        assert (y[i, :P - 1] == -100).all() and (y[i, n - 1:] == -100).all()     # prompt, padding
        assert y[i, P - 1:n - 1].tolist() == ids[P:]                             # next token
    xu, yu = sft_batch(batch, tok(), mask_prompt=False)
    assert torch.equal(xu, x)
    for i, p in enumerate(batch):
        n = len(p.text)
        assert yu[i, :n - 1].tolist() == tok().encode(p.text)[1:] and (yu[i, n - 1:] == -100).all()


def test_masked_loss_equals_response_loss():
    m = small_model().eval()
    batch = pairs("val")[:8]
    masked = m(*sft_batch(batch, tok()))[1].item()
    full = m(*sft_batch(batch, tok(), mask_prompt=False))[1].item()
    assert masked == pytest.approx(response_loss(m, batch, tok()), abs=1e-5)
    assert abs(masked - full) > 1e-3


def test_tiny_sft_lowers_held_out_response_loss_and_is_deterministic():
    base = small_model()
    held = pairs("val")[:32]
    before = response_loss(base, held, tok())
    a, b = copy.deepcopy(base), copy.deepcopy(base)
    la = sft_train(a, pairs("train"), tok(), steps=8, batch_size=8, lr=3e-3, seed=1)
    lb = sft_train(b, pairs("train"), tok(), steps=8, batch_size=8, lr=3e-3, seed=1)
    assert la == lb
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert response_loss(a, held, tok()) < before - 0.1
    lc = sft_train(copy.deepcopy(base), pairs("train"), tok(), steps=8, batch_size=8, lr=3e-3, seed=2)
    assert lc != la


def test_lockstep_replies_equal_greedy_and_metrics():
    m = small_model(3).eval()
    batch = pairs("val")[:5]
    replies = generate_replies(m, batch, tok(), max_new_tokens=20)
    for p, r in zip(batch, replies):
        ids = greedy(m, torch.tensor([tok().encode(p.prompt)]), 20)[0, len(p.prompt):].tolist()
        text = tok().decode(ids)
        assert r == (text[:text.index(END) + 1] if END in text else text)
    out = reply_metrics(m, batch, tok(), max_new_tokens=20)
    assert out["replies"] == replies and out["stop_rate"] == sum(r.endswith(END) for r in replies) / 5
    assert 0 <= out["new_speech_rate"] <= 1 and out["response_loss"] > 0


def test_bad_input():
    with pytest.raises(ValueError, match="play_names"):
        make_pairs(["nope"])
    with pytest.raises(ValueError, match="pairs"):
        sft_batch([], tok())
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate_replies(small_model(), pairs("val")[:2], tok(), max_new_tokens=100)
