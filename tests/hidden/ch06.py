"""Hidden teacher tests for chapter 6's exercises.

Each test takes ``ns``, the namespace dict holding the student's functions.
"""
import numpy as np
import torch

from utils import bpe, data
from utils import production_bpe as pb
from utils import decoding as dec
from utils.gpt import GPT, GPTConfig


# --- ex-ch06-1: top_k_probs(logits, k) ---------------------------------------------------------
def test_ex_ch06_1_equals_filter_then_softmax(ns):
    f = ns["top_k_probs"]
    g = np.random.default_rng(0)
    for V, k in ((10, 1), (10, 3), (50, 7), (50, 50), (5, 9)):      # k > V keeps everything
        z = 3 * g.normal(size=V)
        ref = dec.top_k_filter(torch.tensor(z), k).softmax(-1).numpy()
        out = np.asarray(f(z, k), dtype=np.float64)
        assert out.shape == (V,)
        np.testing.assert_allclose(out, ref, rtol=1e-7, atol=1e-10)


def test_ex_ch06_1_renormalises_and_zeroes_the_rest(ns):
    z = np.array([0.0, 1.0, 2.0, 3.0])
    out = np.asarray(ns["top_k_probs"](z, 2), dtype=np.float64)
    # softmax over the kept two, not the full softmax with the others cut off (which sums < 1)
    np.testing.assert_allclose(out, [0, 0, 1 / (1 + np.e), np.e / (1 + np.e)], atol=1e-10)


def test_ex_ch06_1_keeps_ties_and_large_logits(ns):
    out = np.asarray(ns["top_k_probs"](np.array([5.0, 900.0, 900.0, -3.0]), 1), dtype=np.float64)
    np.testing.assert_allclose(out, [0, 0.5, 0.5, 0], atol=1e-10)   # a tie at the k-th stays; no overflow


# --- ex-ch06-2: nucleus_mask(probs, p) -----------------------------------------------------------
def test_ex_ch06_2_includes_the_token_that_crosses_p(ns):
    f = ns["nucleus_mask"]
    probs = np.array([0.05, 0.4, 0.1, 0.3, 0.15])
    assert np.asarray(f(probs, 0.39)).tolist() == [False, True, False, False, False]
    assert np.asarray(f(probs, 0.41)).tolist() == [False, True, False, True, False]   # not just the top one
    assert np.asarray(f(probs, 0.71)).tolist() == [False, True, False, True, True]
    assert np.asarray(f(probs, 0.96)).tolist() == [True, True, True, True, True]


def test_ex_ch06_2_matches_the_packaged_filter(ns):
    f = ns["nucleus_mask"]
    g = np.random.default_rng(1)
    for V in (3, 20, 100):
        z = 2 * g.normal(size=V)
        probs = np.exp(z - z.max())
        probs /= probs.sum()
        for p in (0.1, 0.5, 0.83, 0.97):
            ref = torch.isfinite(dec.top_p_filter(torch.tensor(np.log(probs)), p)).numpy()
            assert np.array_equal(np.asarray(f(probs, p), dtype=bool), ref), (V, p)


def test_ex_ch06_2_always_keeps_the_most_likely_token(ns):
    probs = np.array([0.2, 0.7, 0.1])
    assert np.asarray(ns["nucleus_mask"](probs, 1e-6)).tolist() == [False, True, False]
    assert np.asarray(ns["nucleus_mask"](probs, 1.0)).sum() == 3


# --- ex-ch06-3: apply_merges(symbols, merges) ----------------------------------------------------
def test_ex_ch06_3_merge_order_is_by_rank_not_position(ns):
    f = ns["apply_merges"]
    # (b, c) was learned first, so "abc" -> a + bc even though (a, b) is further left
    assert f(list("abc"), [("b", "c"), ("a", "b")]) == ["a", "bc"]
    assert f(list("abc"), [("a", "b"), ("b", "c")]) == ["ab", "c"]
    assert f(list("abc"), []) == ["a", "b", "c"]


def test_ex_ch06_3_overlapping_pairs_merge_left_to_right(ns):
    f = ns["apply_merges"]
    assert f(list("aaaaa"), [("a", "a")]) == ["aa", "aa", "a"]
    assert f(list("aaaa"), [("a", "a"), ("aa", "aa")]) == ["aaaa"]


def test_ex_ch06_3_equals_the_trained_tokenizer(ns):
    f = ns["apply_merges"]
    text = "to be or not to be that is the question whether tis nobler in the mind to suffer " * 4
    model = bpe.train_bpe([text], 300)
    for piece in bpe.GPT2_PATTERN.findall("whether tis nobler to be or not the question"):
        assert f(list(bpe.pretokenize(piece)[0]), model.merges) == model.tokens(piece), piece


# --- ex-ch06-4: kv_cache_bytes(n_layer, n_embd, seq_len, batch_size=1, bytes_per_value=4) -------
def test_ex_ch06_4_counts_keys_and_values(ns):
    f = ns["kv_cache_bytes"]
    assert f(1, 1, 1) == 8                          # one key and one value of 4 bytes
    assert f(12, 768, 1024) == 75_497_472
    assert f(48, 1600, 1024, batch_size=1, bytes_per_value=2) == 2 * 48 * 1600 * 1024 * 2


def test_ex_ch06_4_equals_a_real_cache(ns):
    f = ns["kv_cache_bytes"]
    for L, H, C, B, T in ((2, 2, 8, 3, 5), (3, 4, 16, 1, 12)):
        model = GPT(GPTConfig(13, 16, L, H, C))
        _, cache = dec.forward_with_cache(model, torch.zeros(B, T, dtype=torch.long))
        assert f(L, C, T, batch_size=B) == sum(k.nbytes + v.nbytes for k, v in cache)
        half = [(k.half(), v.half()) for k, v in cache]
        assert f(L, C, T, batch_size=B, bytes_per_value=2) == sum(k.nbytes + v.nbytes for k, v in half)


# --- ex-ch06-5: tokens_per_char(encode, text), the measured rates and the conclusion -----------
def _reference_rates():
    """{tokenizer: (English, Chinese) tokens per character}, computed without the student's code."""
    en = data.play_text("the-tempest")
    zh = "\n".join(line for i in range(5) for line in data.seed_article(i).splitlines()
                   if any("\u4e00" <= c <= "\u9fff" for c in line))
    shakespeare = bpe.train_tokenizers_bpe(data.load_corpus("train")[:300_000].split("\n\n"), 2048)
    out = {"Shakespeare BPE": tuple(len(shakespeare.encode(t).ids) / len(t) for t in (en, zh))}
    for name in ("cl100k_base", "o200k_base"):
        enc = pb.encoding(name)
        out[name] = tuple(len(enc.encode_ordinary(t)) / len(t) for t in (en, zh))
    return out


def test_ex_ch06_5_counts_tokens_per_character(ns):
    f = ns["tokens_per_char"]
    assert np.isclose(f(lambda t: [7] * 2, "abcdefgh"), 0.25)          # not characters per token (4.0)
    assert np.isclose(f(str.split, "to be,\n or  not"), 4 / 15)        # spaces and newlines are characters
    enc = pb.encoding("o200k_base").encode_ordinary
    zh = "大语言模型是如何工作的？"
    assert np.isclose(f(enc, zh), len(enc(zh)) / len(zh))              # characters, not UTF-8 bytes
    assert f(enc, "") == 0.0


def test_ex_ch06_5_rates_measured_on_the_texts(ns):
    ref = _reference_rates()
    assert sorted(ns["rates"]) == sorted(ref)
    for name, (en, zh) in ref.items():          # a BPE trained again may differ in its merges (tokenizers runs in parallel)
        rtol = 0.1 if name == "Shakespeare BPE" else 1e-9
        assert np.allclose(ns["rates"][name], (en, zh), rtol=rtol, atol=0), name


def test_ex_ch06_5_conclusion_follows_from_the_rates(ns):
    rates = ns["rates"]
    ratio = {name: zh / en for name, (en, zh) in rates.items()}
    assert sorted(ns["zh_en_ratio"]) == sorted(ratio)
    for name, r in ratio.items():
        assert np.isclose(ns["zh_en_ratio"][name], r, rtol=1e-9), name
    assert ns["smallest_ratio"] == min(ratio, key=ratio.get) == "o200k_base"
