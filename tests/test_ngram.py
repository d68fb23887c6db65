"""utils.ngram (count models) and utils.neural_ngram (Bengio-style MLP), built in chapter 2."""
import collections
import itertools
import math
import time
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils import data
from utils.neural_ngram import NeuralNGram, context_distributions, mean_nll, nll, windows
from utils.ngram import SMOOTHINGS, NGramModel

TINY = "to be or not to be"          # the chapter's worked example; vocab " benort"


# --- hand-computed values on the tiny corpus ------------------------------------------
def test_unigram_and_bigram_mle_match_hand_counts():
    uni = NGramModel(1, "none").fit(TINY)
    assert uni.vocab == " benort"
    np.testing.assert_allclose(uni.probs(), np.array([5, 2, 2, 1, 4, 1, 3]) / 18)
    bi = NGramModel(2, "none").fit(TINY)
    assert bi.prob("o", " ") == 2 / 4 and bi.prob("o", "r") == 1 / 4 and bi.prob("o", "t") == 1 / 4
    assert bi.prob("t", "o") == 2 / 3 and bi.prob(" ", "b") == 2 / 5
    # "e" occurs twice but is followed by a character once: c(h) counts followed occurrences
    assert bi.prob("e", " ") == 1.0
    assert bi.count("to") == 2 and bi.count("e") == 2 and bi.count("o") == 4


def test_chain_rule_and_perplexity_of_a_known_sequence():
    bi = NGramModel(2, "none").fit(TINY)
    nll = bi.nll("not")                 # P(n) P(o|n) P(t|o) = 1/18 * 1 * 1/4
    np.testing.assert_allclose(nll, [math.log(18), 0.0, math.log(4)], atol=1e-12)
    assert math.isclose(math.exp(-nll.sum()), 1 / 72)
    assert math.isclose(bi.perplexity("not"), 72 ** (1 / 3))
    assert math.isclose(bi.bits_per_char("not"), math.log2(72) / 3)


def test_trigram_mle_uses_two_characters_of_context():
    tri = NGramModel(3, "none").fit(TINY)
    assert tri.prob("o ", "b") == 1.0 and tri.prob("to", " ") == 1.0
    assert tri.prob("to ", "b") == tri.prob("or not to ", "b") == 1.0   # only the last n-1 count
    assert tri.prob("no", "t") == 1.0


def test_add_k_matches_hand_values():
    add1 = NGramModel(2, "add-k", k=1).fit(TINY)
    assert math.isclose(add1.prob("o", " "), 3 / 11)
    assert math.isclose(add1.prob("e", " "), 2 / 8) and math.isclose(add1.prob("e", "t"), 1 / 8)
    # first character: order-1 add-k (3+1)/(18+7); then P(o|t) = (2+1)/(3+7)
    assert math.isclose(add1.perplexity("to"), (4 / 25 * 3 / 10) ** -0.5)
    half = add1.with_smoothing("add-k", k=0.5)
    assert math.isclose(half.prob("o", " "), 2.5 / 7.5)


def test_kneser_ney_matches_hand_value():
    # continuation counts N1+(.w): ' ':4 b:1 e:1 n:1 o:3 r:1 t:2, 13 distinct bigrams, so
    # P1(w) = N1+(.w)/13 and P(' '|o) = (2 - D + D * 3 * 4/13) / 4
    kn = NGramModel(2, "kneser-ney", discount=0.75).fit(TINY)
    np.testing.assert_allclose(kn.probs(""), np.array([5, 2, 2, 1, 4, 1, 3]) / 18)  # top order: raw
    D = 0.75
    assert math.isclose(kn.prob("o", " "), (2 - D + D * 3 * 4 / 13) / 4)
    assert math.isclose(kn.prob("o", "b"), (D * 3 * 1 / 13) / 4)


def naive_kn(text, vocab, n, D, modified=False):
    """Interpolated Kneser-Ney written the slow, obvious way, as a reference.

    ``D`` is a number, or "estimate" (Ney's n1/(n1 + 2 n2) per order); ``modified``: Chen &
    Goodman's three discounts per order, from the same counts each order uses."""
    grams = {m: {} for m in range(1, n + 2)}
    for m in range(1, n + 1):
        for i in range(len(text) - m + 1):
            grams[m][text[i:i + m]] = grams[m].get(text[i:i + m], 0) + 1

    def cnt(hx, top):
        if top:
            return grams[len(hx)].get(hx, 0)
        return len({g[0] for g in grams.get(len(hx) + 1, {}) if g[1:] == hx})

    def discounts(m, top):                              # D(c) for c = 1, 2, 3+ at order m
        if D != "estimate" and not modified:
            return [D, D, D]
        values = [cnt(g, top) for g in grams[m]] if top else \
            [cnt(g, False) for g in {g[1:] for g in grams[m + 1]}]
        n1, n2, n3, n4 = (values.count(r) for r in (1, 2, 3, 4))
        if n1 == 0 or n2 == 0 or (modified and 0 in (n3, n4)):
            return [0.75] * 3                           # the documented fallback
        Y = n1 / (n1 + 2 * n2)
        if not modified:
            return [Y] * 3
        out = [1 - 2 * Y * n2 / n1, 2 - 3 * Y * n3 / n2, 3 - 4 * Y * n4 / n3]
        return out if all(0 < d <= r for r, d in zip((1, 2, 3), out)) else [0.75] * 3

    def p(w, h, top):
        lower = p(w, h[1:], False) if h else 1 / len(vocab)
        c = {x: cnt(h + x, top) for x in vocab}
        d = sum(c.values())
        if d == 0:
            return lower
        Ds = discounts(len(h) + 1, top)
        disc = {x: Ds[min(v, 3) - 1] if v else 0 for x, v in c.items()}
        returned = sum(disc.values())
        return (max(c[w] - disc[w], 0) + returned * lower) / d

    return lambda h, w: p(w, h[max(0, len(h) - (n - 1)):], True)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_kneser_ney_equals_a_naive_reference(n):
    rng = np.random.default_rng(n)
    text = "".join(rng.choice(list("abcab "), size=60))
    vocab = "abcd "                                  # "d" never occurs in training
    model = NGramModel(n, "kneser-ney", discount=0.6, vocab=vocab).fit(text)
    ref = naive_kn(text, sorted(set(vocab)), n, 0.6)
    for h in ["", "a", "ab", " c", "dd", "cab"]:
        np.testing.assert_allclose(model.probs(h), [ref(h, w) for w in model.vocab], rtol=1e-12)


@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("smoothing,D", [("kneser-ney", "estimate"), ("modified-kneser-ney", 0.75)])
def test_estimated_and_modified_kneser_ney_equal_a_naive_reference(n, smoothing, D):
    rng = np.random.default_rng(10 + n)
    text = "".join(rng.choice(list("abcab "), size=400))
    vocab = "abcd "
    model = NGramModel(n, smoothing, discount=D, vocab=vocab).fit(text)
    ref = naive_kn(text, sorted(set(vocab)), n, D, modified=smoothing == "modified-kneser-ney")
    for h in ["", "a", "ab", " c", "dd", "cab", "b"]:
        np.testing.assert_allclose(model.probs(h), [ref(h, w) for w in model.vocab], rtol=1e-12)
    np.testing.assert_allclose(model.nll(text[:50]), [-math.log(ref(text[:t], text[t])) for t in range(50)],
                               rtol=1e-12)


def test_modified_kneser_ney_matches_chen_and_goodman_by_hand():
    # bigram counts: ab 6, ba 4, bc 3, cb 2, ca 2, ac 1, aa 1 -> n1..n4 = 2, 2, 1, 1
    model = NGramModel(2, "modified-kneser-ney").fit("abababababcbcbcacaab")
    assert list(model.count_of_counts(2)) == [2, 2, 1, 1]
    Y = Fraction(2, 2 + 2 * 2)                                      # 1/3
    D1, D2, D3 = 1 - 2 * Y * 2 / 2, 2 - 3 * Y * 1 / 2, 3 - 4 * Y * 1 / 1   # 1/3, 3/2, 5/3
    np.testing.assert_allclose(model.discounts[2], [float(D1), float(D2), float(D3)], rtol=1e-12)
    # the unigram level: continuation counts a 3, b 2, c 2 have n1 = 0, so D = 0.75 there
    assert list(model.count_of_counts(1, continuation=True)) == [0, 2, 1, 0]
    assert model.discounts[1] == (0.75, 0.75, 0.75)
    p1_b = (2 - Fraction(3, 4) + Fraction(3, 4) * 3 * Fraction(1, 3)) / 7          # 2/7
    # after "a": ab 6 (D3+), ac 1 (D1), aa 1 (D1); c(a) = 8; mass returned 2 D1 + D3
    p_b_a = (6 - D3 + (2 * D1 + D3) * p1_b) / 8
    assert p_b_a == Fraction(5, 8)
    assert math.isclose(model.prob("a", "b"), 5 / 8)


def test_estimated_discounts_on_the_corpus_match_the_count_of_counts_formula():
    text = data.play_text("as-you-like-it")
    model = NGramModel(4, "modified-kneser-ney").fit(text)
    n1, n2, n3, n4 = (int(x) for x in model.count_of_counts(4))
    raw = collections.Counter(text[i:i + 4] for i in range(len(text) - 3))
    assert [n1, n2, n3, n4] == [sum(v == r for v in raw.values()) for r in (1, 2, 3, 4)]
    Y = n1 / (n1 + 2 * n2)
    np.testing.assert_allclose(model.discounts[4], [1 - 2 * Y * n2 / n1, 2 - 3 * Y * n3 / n2,
                                                    3 - 4 * Y * n4 / n3], rtol=1e-12)
    ney = model.with_smoothing("kneser-ney", discount="estimate")
    np.testing.assert_allclose(ney.discounts[4], [Y] * 3, rtol=1e-12)
    # continuation counts of the 3-grams: how many distinct characters precede each
    before = collections.defaultdict(set)
    for g in raw:
        before[g[1:]].add(g[0])
    cont = [len(v) for v in before.values()]
    assert list(model.count_of_counts(3, continuation=True)) == [cont.count(r) for r in (1, 2, 3, 4)]
    assert model.with_smoothing("kneser-ney", discount=0.6).discounts == {m: (0.6,) * 3 for m in range(1, 5)}


def test_a_context_shorter_than_n_minus_1_keeps_all_its_characters():
    # text "abcxbdabc": c("abc") = 2 = c("ab" followed), so the 4-gram model's P(c | "ab") = 1;
    # cutting the context to "b" would give c("bc") / c("b") = 2/3.
    model = NGramModel(4, "none").fit("abcxbdabc")
    assert model.prob("ab", "c") == 1.0
    assert model.prob("b", "c") == 2 / 3                     # one character: the bigram
    assert model.prob("dab", "c") == 1.0
    # sampling from a two-character prompt continues as the trigram "ab" -> "c" always does
    for seed in range(20):
        assert model.sample(1, prompt="ab", seed=seed) == "abc"


@pytest.mark.parametrize("smoothing,kw", [("add-k", {"k": 1}), ("add-k", {"k": 0.01}),
                                          ("kneser-ney", {"discount": 0.75}),
                                          ("kneser-ney", {"discount": 1.0}), ("none", {})])
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_every_context_gives_a_distribution_over_the_vocabulary(n, smoothing, kw):
    vocab = " benortxyz"                                   # x, y, z never occur in training
    model = NGramModel(n, smoothing, vocab=vocab, **kw).fit(TINY)
    contexts = {TINY[i:i + n - 1] for i in range(len(TINY) - n + 1)}
    if smoothing != "none":                                 # smoothed: unseen contexts too
        contexts |= {"".join(c) for c in itertools.product(" oxz", repeat=n - 1)}
    for h in contexts:
        p = model.probs(h)
        assert p.shape == (len(vocab),) and (p >= 0).all()
        np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-12, err_msg=repr(h))
        if smoothing != "none" and kw.get("discount", 0) < 1:
            assert (p > 0).all(), f"smoothing left a zero after {h!r}"


def test_short_histories_at_the_start_use_the_lower_order_model():
    text = "to be or not to be, that is the question"
    for smoothing in SMOOTHINGS:
        full = NGramModel(4, smoothing).fit(text)
        for t in range(3):
            low = NGramModel(t + 1, smoothing, vocab=full.vocab).fit(text)
            assert math.isclose(full.nll("the q")[t], low.nll("the q")[t])


def test_nll_matches_torch_and_keras_cross_entropy_on_the_models_logits():
    model = NGramModel(3, "kneser-ney").fit(TINY)
    text = "not to be or to"
    logits = np.log(np.stack([model.probs(text[:t]) for t in range(len(text))]))
    targets = np.array([model.vocab.index(c) for c in text])
    hand = -np.mean(logits[np.arange(len(text)), targets])
    torch_ce = F.cross_entropy(torch.tensor(logits), torch.tensor(targets)).item()
    import keras
    keras_ce = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(targets, logits))
    np.testing.assert_allclose(model.cross_entropy(text), hand, rtol=1e-12)
    np.testing.assert_allclose(torch_ce, hand, rtol=1e-12)
    np.testing.assert_allclose(keras_ce, hand, rtol=1e-5)         # keras works in float32
    assert math.isclose(model.perplexity(text), math.exp(hand))
    assert math.isclose(2 ** model.bits_per_char(text), model.perplexity(text))


# --- the unsmoothed model: infinity is the documented answer ---------------------------
def test_unsmoothed_model_gives_infinite_perplexity_on_an_unseen_ngram():
    bi = NGramModel(2, "none").fit(TINY)
    nll = bi.nll("ton")                                      # "on" never occurs
    assert np.isinf(nll[2]) and np.isfinite(nll[:2]).all()
    assert bi.perplexity("ton") == math.inf
    assert math.isfinite(bi.with_smoothing("add-k", k=1).perplexity("ton"))
    assert math.isfinite(bi.with_smoothing("kneser-ney").perplexity("ton"))


def test_unsmoothed_model_has_no_distribution_after_an_unseen_context():
    model = NGramModel(3, "none").fit(TINY)
    with pytest.raises(ValueError, match="never occurs"):
        model.probs("tt")
    assert np.isinf(model.nll("ttb")[2])
    uniform = model.with_smoothing("add-k", k=1).probs("tt")
    np.testing.assert_allclose(uniform, 1 / 7)


# --- sampling ---------------------------------------------------------------------------
def test_sampling_is_reproducible_and_stays_on_seen_ngrams():
    model = NGramModel(2, "none").fit(TINY)
    s = model.sample(200, prompt="to", seed=1)
    assert s == model.sample(200, prompt="to", seed=1) and s.startswith("to") and len(s) == 202
    assert s != model.sample(200, prompt="to", seed=2)
    for i in range(len(s) - 1):
        assert model.count(s[i:i + 2]) > 0, s[i:i + 2]           # MLE never invents a bigram
    tri = NGramModel(3, "none").fit(TINY)                          # one path only: a loop
    assert tri.sample(30, prompt="to", seed=3) == ("to be or not " * 3)[:32]


def test_unigram_samples_follow_the_unigram_distribution():
    model = NGramModel(1, "none").fit(TINY)
    s = model.sample(20_000, seed=0)
    freq = np.array([s.count(c) for c in model.vocab]) / len(s)
    np.testing.assert_allclose(freq, model.probs(), atol=0.015)


# --- bad inputs -----------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, -1, 1.5, True, "3"])
def test_bad_order_is_rejected(n):
    with pytest.raises(ValueError, match="n must be"):
        NGramModel(n)


@pytest.mark.parametrize("kw,match", [({"k": -0.5}, "k must be"), ({"k": float("nan")}, "k must be"),
                                      ({"discount": 0}, "discount"), ({"discount": 1.5}, "discount"),
                                      ({"smoothing": "laplace"}, "smoothing must be")])
def test_bad_smoothing_settings_are_rejected(kw, match):
    with pytest.raises(ValueError, match=match):
        NGramModel(2, **kw)
    model = NGramModel(2).fit(TINY)
    with pytest.raises(ValueError, match=match):
        model.with_smoothing(kw.get("smoothing", "add-k" if "k" in kw else "kneser-ney"),
                             **{k: v for k, v in kw.items() if k != "smoothing"})


def test_bad_training_text_is_rejected():
    for text in ["", None, 42]:
        with pytest.raises(ValueError, match="non-empty str"):
            NGramModel(2).fit(text)
    with pytest.raises(ValueError, match="at least n = 5"):
        NGramModel(5).fit("abc")
    with pytest.raises(ValueError, match=r"\['q'\]"):
        NGramModel(2, vocab="abc ").fit("a cab q")
    with pytest.raises(ValueError, match="vocab"):
        NGramModel(2, vocab="")


def test_unseen_characters_are_named():
    model = NGramModel(3).fit(TINY)
    with pytest.raises(ValueError, match=r"\['!', 'z'\]"):
        model.perplexity("to be!z")
    with pytest.raises(ValueError, match=r"\['x'\]"):
        model.probs("ox")
    with pytest.raises(ValueError, match=r"\['é'\]"):
        model.sample(5, prompt="é")
    with pytest.raises(ValueError, match="non-empty str"):
        model.nll("")


def test_an_explicit_vocabulary_gives_unseen_characters_probability():
    model = NGramModel(2, "add-k", k=1, vocab=TINY + "!").fit(TINY)
    assert model.vocab_size == 8 and math.isclose(model.prob("o", "!"), 1 / 12)
    assert math.isfinite(model.perplexity("to be!"))


def test_unfitted_model_and_bad_arguments():
    with pytest.raises(RuntimeError, match="fit"):
        NGramModel(2).probs("a")
    model = NGramModel(2).fit(TINY)
    with pytest.raises(ValueError, match="length"):
        model.sample(-1)
    with pytest.raises(ValueError, match="gram"):
        model.count("tob")
    with pytest.raises(ValueError, match="order"):
        model.num_contexts(3)
    with pytest.raises(ValueError, match="char"):
        model.prob("t", "oo")


def test_refitting_a_model_replaces_its_counts_and_vocabulary():
    model = NGramModel(2, "none").fit("abab")
    model.fit(TINY)
    assert model.vocab == " benort" and model.count("to") == 2


# --- the corpus: speed and pinned numbers -------------------------------------------------
def test_counting_the_corpus_takes_seconds_and_gives_the_chapters_numbers():
    train, val = data.load_corpus("train"), data.load_corpus("val")
    start = time.perf_counter()
    model = NGramModel(6, "kneser-ney", discount=0.75).fit(train)
    ppl = model.perplexity(val)
    assert time.perf_counter() - start < 30, "counting 3.9 M characters should take seconds"
    assert [model.num_contexts(m) for m in (1, 2, 3)] == [1, 71, 1677]
    assert 4.1 < ppl < 4.4                                 # the chapter reports 4.23
    assert model.with_smoothing("none").perplexity(val) == math.inf


# --- the neural n-gram -------------------------------------------------------------------
def test_windows_pair_each_context_with_the_next_id():
    x, y = windows([5, 6, 7, 8], context=2)
    assert x.tolist() == [[5, 6], [6, 7]] and y.tolist() == [7, 8]
    x, y = windows([5, 6, 7], context=2, pad_id=0)
    assert x.tolist() == [[0, 0], [0, 5], [5, 6]] and y.tolist() == [5, 6, 7]
    with pytest.raises(ValueError, match="context"):
        windows([1, 2, 3], context=0)
    with pytest.raises(ValueError, match="longer than context"):
        windows([1, 2], context=2)


def test_neural_ngram_equals_its_numpy_formula():
    torch.manual_seed(0)
    model = NeuralNGram(vocab_size=11, context=3, emb_dim=4, hidden=8)
    x = torch.randint(11, (5, 3))
    C = model.emb.weight.detach().numpy()
    W, b = model.hidden.weight.detach().numpy(), model.hidden.bias.detach().numpy()
    U, c = model.out.weight.detach().numpy(), model.out.bias.detach().numpy()
    e = C[x.numpy()].reshape(5, -1)
    expected = np.tanh(e @ W.T + b) @ U.T + c
    np.testing.assert_allclose(model(x).detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        model(torch.zeros(5, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="hidden"):
        NeuralNGram(11, 3, hidden=0)


def test_context_distributions_match_hand_counts():
    ids = [0, 1, 0, 1, 0, 2, 0, 1]                     # contexts of 2: 01 10 01 10 02 20 -> next
    H, P, counts = context_distributions(ids, context=2, vocab_size=3)
    assert H.tolist() == [[0, 1], [0, 2], [1, 0], [2, 0]]          # sorted, distinct
    assert counts.tolist() == [2, 1, 2, 1] and counts.sum() == len(ids) - 2
    np.testing.assert_allclose(P.numpy(), [[1, 0, 0], [1, 0, 0], [0, 0.5, 0.5], [0, 1, 0]])
    for bad, match in [(dict(context=0, vocab_size=3), "context"),
                       (dict(context=2, vocab_size=0), "vocab_size"),
                       (dict(context=2, vocab_size=2), r"\[0, 2\)"),
                       (dict(context=8, vocab_size=3), "longer")]:
        with pytest.raises(ValueError, match=match):
            context_distributions(ids, **bad)


def test_training_on_context_distributions_equals_training_on_windows():
    # the count-weighted soft cross-entropy over distinct contexts is the mean over all windows,
    # so the gradients agree too
    rng = np.random.default_rng(0)
    ids = rng.choice(5, size=400, p=[0.4, 0.3, 0.2, 0.05, 0.05])
    torch.manual_seed(0)
    model = NeuralNGram(vocab_size=5, context=3, emb_dim=3, hidden=6)
    X, Y = windows(ids, context=3)
    H, P, counts = context_distributions(ids, context=3, vocab_size=5)
    assert len(H) < len(X)
    per_window = F.cross_entropy(model(X), Y)
    per_context = (counts * F.cross_entropy(model(H), P, reduction="none")).sum() / counts.sum()
    g1 = torch.autograd.grad(per_window, list(model.parameters()))
    g2 = torch.autograd.grad(per_context, list(model.parameters()))
    np.testing.assert_allclose(per_context.item(), per_window.item(), rtol=1e-6)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)
    # and P is the maximum-likelihood n-gram estimate
    tri = NGramModel(4, "none", vocab="abcde").fit("".join("abcde"[i] for i in ids))
    h = H[7].tolist()
    np.testing.assert_allclose(P[7].numpy(), tri.probs("".join("abcde"[i] for i in h)), rtol=1e-6)


def test_mean_nll_is_the_batched_cross_entropy():
    torch.manual_seed(0)
    model = NeuralNGram(vocab_size=7, context=2, emb_dim=3, hidden=5)
    x, y = windows(torch.randint(7, (100,)), context=2)
    expected = F.cross_entropy(model(x), y).item()
    assert math.isclose(mean_nll(model, x, y, batch_size=7), expected, rel_tol=1e-5)
    per_pair = nll(model, x, y, batch_size=10)
    expected = F.cross_entropy(model(x), y, reduction="none").detach().numpy()
    assert per_pair.shape == (98,) and model.training              # the mode is restored
    np.testing.assert_allclose(per_pair, expected, rtol=1e-5)
    with pytest.raises(ValueError, match="batch_size"):
        nll(model, x, y, batch_size=0)
    with pytest.raises(ValueError, match="equally long"):
        mean_nll(model, x, y[:-1])


# --- chapter 2's exercises: the hidden teacher tests pass on the solutions, fail on wrong ones -
def _hidden_tests():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent / "hidden" / "ch02.py"
    spec = importlib.util.spec_from_file_location("hidden_ch02", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: f for name, f in vars(module).items() if name.startswith("test_ex_ch02_")}


def _solutions():
    import nbformat
    from pathlib import Path

    nb = nbformat.read(Path(__file__).parent.parent / "chapters" / "02_probability_lm.ipynb", as_version=4)
    ns = {"np": np, "math": math, "Fraction": Fraction, "data": data, "NGramModel": NGramModel}
    for cell in nb.cells:
        if "solution" in cell.metadata.get("tags", []):
            exec(cell.source, ns)
    return ns


def test_hidden_tests_pass_on_the_reference_solutions():
    ns = _solutions()
    tests = _hidden_tests()
    assert {name.split("_")[3] for name in tests} == {"1", "2", "3", "4", "5"}
    for test in tests.values():
        test(ns)


WRONG = {
    "1": "def perplexity(probs):\n    return float(np.prod(probs) ** (-1 / len(probs)))",        # underflows
    "1b": "def perplexity(probs):\n    return float(np.exp(-np.sum(np.log(probs))))",  # sum, not mean
    "2": "def add_k_probs(counts, k):\n    c = np.asarray(counts, float)\n"
         "    return (c + k) / (c.sum() + k * (len(c) - 1))",                                    # wrong V
    "3": "def count_contexts(text, n):\n"
         "    return len({text[i:i + n - 1] for i in range(len(text) - n + 2)})",      # counts the last
    "1c": "def perplexity(probs):\n    return float(np.exp(np.mean(np.log(probs))))",   # sign: 1 / PPL
    "2b": "def add_k_probs(counts, k):\n    c = np.asarray(counts, float)\n"
          "    return (c + k) / (c + k).sum()",                                           # never raises
    "3b": "def count_contexts(text, n):\n"
          "    return len({text[i:i + n] for i in range(len(text) - n + 1)})",           # n-grams, not contexts
}


@pytest.mark.parametrize("key", WRONG)
def test_hidden_tests_fail_on_wrong_answers(key):
    ns = {"np": np, "math": math}
    with np.errstate(all="ignore"):
        exec(WRONG[key], ns)
        failures = 0
        for name, test in _hidden_tests().items():
            if name.split("_")[3] == key[0]:
                try:
                    test(ns)
                except Exception:
                    failures += 1
    assert failures > 0, f"no hidden test catches wrong answer {key}"
