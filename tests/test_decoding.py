"""utils.decoding: greedy, sampling, beam search and the KV cache vs `transformers` (chapter 6)."""
import numpy as np
import pytest
import torch
from transformers import GenerationConfig
from transformers.generation import (RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
                                     TopKLogitsWarper, TopPLogitsWarper)

from utils import decoding as dec
from utils.gpt import GPT, GPTConfig
from utils.hf import book_to_hf

V = 31


def peaky_model(seed, block_size=48, n_layer=2):
    """A small random GPT whose next-token distributions depend on the context and are far from
    uniform (entropy about 2 nats of ln 31 = 3.4), like a trained model's: larger weights in the
    blocks, and a large final LayerNorm gain to sharpen the logits."""
    torch.manual_seed(seed)
    model = GPT(GPTConfig(V, block_size, n_layer, 2, 32)).eval()
    with torch.no_grad():
        model.transformer.ln_f.weight.mul_(20)
        for block in model.transformer.h:
            for w in (block.attn.c_attn.weight, block.attn.c_proj.weight, block.mlp.c_fc.weight,
                      block.mlp.c_proj.weight):
                w.mul_(10)
    return model


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module", params=[0, 2])
def pair(request, one_torch_thread):
    model = peaky_model(request.param)
    return model, book_to_hf(model)


def hf_config(**kw):
    """Every generation setting spelled out, so no model or library default sneaks in."""
    settings = dict(do_sample=False, num_beams=1, pad_token_id=None, bos_token_id=None, eos_token_id=None,
                    top_k=0, top_p=1.0, temperature=1.0, repetition_penalty=1.0, length_penalty=1.0,
                    early_stopping=False, no_repeat_ngram_size=0, num_return_sequences=1)
    settings.update(kw)
    return GenerationConfig(**settings)


def prompt(seed, T=5):
    x = torch.randint(0, V, (1, T), generator=torch.Generator().manual_seed(seed))
    x[0, 0] = 0            # token 0 in the prompt: generate must not take it for padding
    return x


# --- the KV cache ------------------------------------------------------------------------------
def test_cached_forward_equals_full_forward(pair):
    model, _ = pair
    idx = torch.randint(0, V, (3, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model(idx)[0]
        cache, pieces = None, []
        for a, b in ((0, 7), (7, 8), (8, 21), (21, 40)):      # a prompt, one token, chunks
            logits, cache = dec.forward_with_cache(model, idx[:, a:b], cache)
            pieces.append(logits)
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-5, atol=1e-5)
    assert len(cache) == 2 and cache[0][0].shape == (3, 2, 40, 16)


def test_cache_overflow_is_refused(pair):
    model, _ = pair
    _, cache = dec.forward_with_cache(model, torch.zeros(1, 48, dtype=torch.long))
    with pytest.raises(ValueError, match="exceed block_size"):
        dec.forward_with_cache(model, torch.zeros(1, 1, dtype=torch.long), cache)


def test_decoding_with_and_without_cache_is_identical_also_past_the_context(pair):
    model, _ = pair
    x = prompt(3)
    assert torch.equal(dec.greedy(model, x, 80), dec.greedy(model, x, 80, use_cache=False))  # 85 > 48
    assert torch.equal(dec.beam_search(model, x, 30, num_beams=3),
                       dec.beam_search(model, x, 30, num_beams=3, use_cache=False))
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(dec.sample(model, x, 60, top_k=8, generator=g1),
                       dec.sample(model, x, 60, top_k=8, generator=g2, use_cache=False))


# --- greedy, sampling and beam search vs generate ------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_greedy_matches_generate(pair, seed):
    model, hf = pair
    x = prompt(seed, T=1 + seed * 3)
    ours = dec.greedy(model, x, 40)
    assert torch.equal(ours, hf.generate(x, generation_config=hf_config(max_new_tokens=40)))
    pen = dec.greedy(model, x, 40, repetition_penalty=1.5)
    ref = hf.generate(x, generation_config=hf_config(max_new_tokens=40, repetition_penalty=1.5))
    assert torch.equal(pen, ref)
    assert not torch.equal(pen, ours)


@pytest.mark.parametrize("num_beams", [1, 2, 4])
@pytest.mark.parametrize("length_penalty,early_stopping", [(1.0, False), (0.0, True), (2.0, "never"),
                                                            (-0.5, False)])
def test_beam_search_matches_generate(pair, num_beams, length_penalty, early_stopping):
    model, hf = pair
    x = prompt(7)
    for eos in (None, int(dec.greedy(model, x, 3)[0, -1])):    # an EOS the model actually produces
        kw = dict(num_beams=num_beams, length_penalty=length_penalty, early_stopping=early_stopping)
        ours = dec.beam_search(model, x, 25, eos_token_id=eos, **kw)
        ref = hf.generate(x, generation_config=hf_config(max_new_tokens=25, eos_token_id=eos, **kw))
        assert torch.equal(ours, ref), (eos, ours.tolist(), ref.tolist())


def test_beam_search_finds_a_likelier_sequence_than_greedy(pair):
    model, _ = pair
    x = prompt(11)

    def logprob(seq):
        with torch.no_grad():
            lp = torch.log_softmax(model(seq)[0][0, :-1], -1)
        return lp[torch.arange(x.shape[1] - 1, seq.shape[1] - 1), seq[0, x.shape[1]:]].sum().item()
    greedy, beam = dec.greedy(model, x, 20), dec.beam_search(model, x, 20, num_beams=6)
    assert logprob(beam) >= logprob(greedy) - 1e-4
    hyps = dec.beam_search(model, x, 20, num_beams=6, return_hypotheses=True)
    assert len(hyps) == 6 and all(a[0] >= b[0] for a, b in zip(hyps, hyps[1:]))
    np.testing.assert_allclose(hyps[0][0] * 20, logprob(beam), rtol=1e-4)   # score = sum log p / len


@pytest.mark.parametrize("kw", [dict(temperature=0.7), dict(top_k=5), dict(top_p=0.8),
                                dict(temperature=1.3, top_k=10, top_p=0.9, repetition_penalty=1.2)])
def test_sampling_matches_generate_with_the_same_seed(pair, kw):
    model, hf = pair
    x = prompt(2)
    torch.manual_seed(123)
    ours = dec.sample(model, x, 40, **kw)
    torch.manual_seed(123)
    ref = hf.generate(x, generation_config=hf_config(max_new_tokens=40, do_sample=True, **kw))
    assert torch.equal(ours, ref)


# --- the filters vs transformers' logits processors ------------------------------------------------
def test_filters_equal_transformers_processors():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 50, generator=g) * 3
    ids = torch.randint(0, 50, (4, 7), generator=g)
    torch.testing.assert_close(dec.apply_temperature(logits, 0.6), TemperatureLogitsWarper(0.6)(ids, logits))
    for k in (1, 5, 50, 80):
        assert torch.equal(dec.top_k_filter(logits, k), TopKLogitsWarper(k)(ids, logits.clone()))
    for p in (0.05, 0.3, 0.9, 0.999):
        assert torch.equal(torch.isinf(dec.top_p_filter(logits, p)),
                           torch.isinf(TopPLogitsWarper(p)(ids, logits.clone())))
    torch.testing.assert_close(dec.apply_repetition_penalty(logits, ids, 1.3),
                               RepetitionPenaltyLogitsProcessor(1.3)(ids, logits.clone()))


def test_top_p_keeps_the_smallest_set_reaching_p_numpy():
    probs = np.array([0.05, 0.4, 0.1, 0.3, 0.15])
    logits = torch.tensor(np.log(probs))[None]
    kept = lambda p: sorted(np.flatnonzero(np.isfinite(dec.top_p_filter(logits, p)[0].numpy())).tolist())
    assert kept(0.39) == [1]             # the top token alone reaches 0.39
    assert kept(0.41) == [1, 3]          # 0.4 < 0.41 <= 0.4 + 0.3
    assert kept(0.69) == [1, 3]
    assert kept(0.71) == [1, 3, 4]       # the token that crosses p is kept
    assert kept(1.0) == [0, 1, 2, 3, 4]
    assert kept(1e-9) == [1]             # the most likely token always stays


def test_top_k_keeps_ties_and_temperature_sharpens():
    logits = torch.tensor([[1.0, 3.0, 3.0, 0.0]])
    assert torch.isinf(dec.top_k_filter(logits, 1)).tolist() == [[True, False, False, True]]
    p_cold = dec.apply_temperature(logits, 0.5).softmax(-1)
    p_hot = dec.apply_temperature(logits, 2.0).softmax(-1)
    assert p_cold[0, 1] > logits.softmax(-1)[0, 1] > p_hot[0, 1]


def test_distinct_n():
    assert dec.distinct_n([1, 2, 3, 4], 2) == 1.0
    assert dec.distinct_n([1, 2, 1, 2, 1, 2], 2) == 2 / 5
    assert dec.distinct_n([7] * 10, 1) == 0.1
    ids = torch.tensor([1, 2, 1, 2, 1, 2])
    assert dec.distinct_n(ids, 2) == dec.distinct_n(list(ids), 2) == dec.distinct_n(ids.numpy(), 2) == 2 / 5
    assert dec.distinct_n("a b a b c".split(), 2) == 3 / 4                  # words (chapter 7)
    with pytest.raises(ValueError, match="n must be"):
        dec.distinct_n([1, 2], 0)
    with pytest.raises(ValueError, match="at least"):
        dec.distinct_n([1, 2], 3)


# --- bad inputs ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kw,match", [
    (dict(top_p=0.0), "top_p"), (dict(top_p=1.5), "top_p"), (dict(top_p=-0.1), "top_p"),
    (dict(top_k=0), "top_k"), (dict(top_k=2.5), "top_k"), (dict(top_k=True), "top_k"),
    (dict(temperature=0), "temperature"), (dict(temperature=-1.0), "temperature"),
    (dict(temperature=float("nan")), "temperature"), (dict(repetition_penalty=0), "repetition_penalty"),
])
def test_bad_sampling_arguments(pair, kw, match):
    model, _ = pair
    with pytest.raises(ValueError, match=match):
        dec.sample(model, prompt(0), 5, **kw)


def test_bad_prompts_and_lengths(pair):
    model, _ = pair
    too_long = torch.zeros(1, 49, dtype=torch.long)
    for fn in (dec.greedy, dec.sample, dec.beam_search):
        with pytest.raises(ValueError, match="prompt has 49 tokens but the model's context"):
            fn(model, too_long, 3)
        with pytest.raises(ValueError, match="max_new_tokens"):
            fn(model, prompt(0), -1)
        with pytest.raises(ValueError, match="idx must be"):
            fn(model, torch.zeros(3, dtype=torch.long), 3)
        with pytest.raises(ValueError, match="int64"):
            fn(model, torch.zeros(1, 3), 3)
        with pytest.raises(ValueError, match="token ids must be in"):
            fn(model, torch.full((1, 3), V), 3)
        with pytest.raises(ValueError, match="model must be"):
            fn(torch.nn.Linear(2, 2), prompt(0), 3)


def test_bad_beam_arguments(pair):
    model, _ = pair
    x = prompt(0)
    for kw, match in [(dict(num_beams=0), "num_beams"), (dict(eos_token_id=V), "eos_token_id"),
                      (dict(early_stopping="sometimes"), "early_stopping"),
                      (dict(length_penalty=float("inf")), "length_penalty")]:
        with pytest.raises(ValueError, match=match):
            dec.beam_search(model, x, 5, **kw)
    with pytest.raises(ValueError, match="one prompt at a time"):
        dec.beam_search(model, x.repeat(2, 1), 5)
    with pytest.raises(ValueError, match="max_new_tokens must be an int >= 1"):
        dec.beam_search(model, x, 0)
