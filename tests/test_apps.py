"""Tests for chapter 7's application helpers (utils.apps_*): metrics against values
worked out by hand, the GPT helpers against the model's own forward pass, the task
builders on the real corpus, and each pipeline on tiny inputs."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils import apps_gpt as ag
from utils import apps_metrics as am
from utils import apps_seq2seq as s2s
from utils import apps_tasks as at
from utils import apps_vectors as av
from utils.data import CharTokenizer, speeches
from utils.gpt import GPT, GPTConfig

TOK = CharTokenizer("\n !',.:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_gpt():
    torch.manual_seed(0)
    return GPT(GPTConfig(TOK.vocab_size, 16, 2, 2, 16)).eval()


# --- metrics: hand-computed values ----------------------------------------------------
def test_words_keeps_inner_apostrophes_and_lowercases():
    expected = ["thou", "art", "call'd", "o'er", "bold", "tis", "me"]
    assert am.words("Thou art call'd O'er-bold, 'tis ME!") == expected


def test_distinct_n_by_hand():
    toks = "a b a b c".split()
    assert am.distinct_n(toks, 1) == pytest.approx(3 / 5)
    assert am.distinct_n(toks, 2) == pytest.approx(3 / 4)     # ab ba ab bc
    assert am.distinct_n(toks, 5) == 1.0
    with pytest.raises(ValueError, match="at least n"):
        am.distinct_n(toks, 6)
    with pytest.raises(ValueError, match="n must be"):
        am.distinct_n(toks, 0)


def test_overlap_rate_by_hand():
    assert am.overlap_rate("abcd", {("a", "b"), ("c", "d")}, 2) == pytest.approx(2 / 3)
    assert am.overlap_rate("abcd", set(), 2) == 0.0


def test_accuracy_and_confusion_matrix_by_hand():
    y, p = [0, 0, 1, 2], [0, 1, 1, 0]
    assert am.accuracy(y, p) == 0.5
    np.testing.assert_array_equal(am.confusion_matrix(y, p, 3), [[1, 1, 0], [0, 1, 0], [1, 0, 0]])
    with pytest.raises(ValueError, match="y_pred"):
        am.confusion_matrix(y, [0, 1, 1, 3], 3)
    with pytest.raises(ValueError):
        am.accuracy([0, 1], [0])


def test_top_k_accuracy_by_hand():
    scores = [[0.1, 0.5, 0.4], [0.3, 0.2, 0.1]]
    assert am.top_k_accuracy(scores, [2, 2], 1) == 0.0
    assert am.top_k_accuracy(scores, [2, 2], 2) == 0.5
    assert am.top_k_accuracy(scores, [2, 2], 3) == 1.0
    assert am.top_k_accuracy(scores, [1, 0], 1) == 1.0
    with pytest.raises(ValueError, match="answers"):
        am.top_k_accuracy(scores, [3, 0], 1)
    with pytest.raises(ValueError, match="k must"):
        am.top_k_accuracy(scores, [0, 0], 0)


def test_rouge_n_by_hand():
    s, r = "the cat sat on the mat".split(), "the cat is on the mat".split()
    one = am.rouge_n(s, r, 1)                      # the x2, cat, on, mat: 5 of 6 either way
    assert one["precision"] == pytest.approx(5 / 6) and one["recall"] == pytest.approx(5 / 6)
    two = am.rouge_n(s, r, 2)                      # (the cat) (on the) (the mat)
    assert two["precision"] == pytest.approx(3 / 5) and two["f1"] == pytest.approx(3 / 5)
    clipped = am.rouge_n(["the"] * 4, ["the", "cat"], 1)   # "the" counts once only
    assert clipped["precision"] == pytest.approx(1 / 4) and clipped["recall"] == pytest.approx(1 / 2)
    assert am.rouge_n([], r, 1)["f1"] == 0.0


def test_exact_match_by_hand():
    assert am.exact_match(["a", "b", "c"], ["a", "x", "c"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        am.exact_match(["a"], ["a", "b"])


def test_char_bleu_by_hand():
    # unigram 3/4, bigram 2/3, equal lengths: sqrt(3/4 * 2/3) = sqrt(1/2)
    assert am.char_bleu(["abcd"], ["abce"], max_n=2) == pytest.approx(math.sqrt(0.5))
    # perfect precision but one character short: brevity penalty exp(1 - 4/3)
    assert am.char_bleu(["abc"], ["abcd"], max_n=2) == pytest.approx(math.exp(-1 / 3))
    # clipping: four a's match the reference's single a once
    assert am.char_bleu(["aaaa"], ["ab"], max_n=1) == pytest.approx(0.25)
    # corpus level: counts are summed over pairs before dividing
    assert am.char_bleu(["ab", "cd"], ["ab", "cx"], max_n=1) == pytest.approx(3 / 4)
    assert am.char_bleu(["hello world"], ["hello world"]) == pytest.approx(1.0)
    assert am.char_bleu(["xyz"], ["abc"]) == 0.0


def test_chrf_by_hand():
    # "a bc" vs "abcd", orders 1..2 (spaces removed: "abc" vs "abcd"):
    # 1-grams: 3 of 3 match (P1 = 1), of 4 (R1 = 3/4); 2-grams ab, bc: P2 = 1, R2 = 2/3 (ab bc cd)
    # chrP = 1, chrR = (3/4 + 2/3) / 2 = 17/24; beta 2: 5 chrP chrR / (4 chrP + chrR) = 85/113
    assert am.chrf(["a bc"], ["abcd"], char_order=2) == pytest.approx(85 / 113)
    assert am.chrf(["a bc"], ["abcd"], char_order=2, beta=1) == pytest.approx(34 / 41)
    # a reference without 2-grams ("a") adds nothing to order 2, not even its hypothesis's 2-grams:
    # order 1: P1 = 3/5 (a, x, y of a b c x y), R1 = 1; order 2: only "xy": P2 = R2 = 1
    # chrP = 4/5, chrR = 1: 5 * 4/5 / (16/5 + 1) = 20/21
    assert am.chrf(["abc", "xy"], ["a", "xy"], char_order=2) == pytest.approx(20 / 21)
    assert am.chrf(["to be"], ["tobe"]) == 1.0 and am.chrf(["xyz"], ["abc"]) == 0.0
    with pytest.raises(ValueError, match="same length"):
        am.chrf(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="beta"):
        am.chrf(["a"], ["a"], beta=0)


def test_exposure_by_hand():
    assert am.exposure(1, 1024) == pytest.approx(10.0)
    assert am.exposure(32, 1024) == pytest.approx(5.0)
    assert am.exposure(1024, 1024) == 0.0
    with pytest.raises(ValueError, match="rank"):
        am.exposure(0, 10)


# --- vectors ----------------------------------------------------------------------------
def test_bag_of_chars_frequencies():
    X = av.bag_of_chars(["aab", "c"], "abc")
    np.testing.assert_allclose(X, [[2 / 3, 1 / 3, 0], [0, 0, 1]])
    with pytest.raises(ValueError, match="outside chars"):
        av.bag_of_chars(["xyz"], "abc")


def test_vocab_bow_and_tfidf_by_hand():
    texts = ["the king, the king", "the queen"]
    vocab = av.build_vocab(texts, max_size=10, min_count=1)
    assert vocab == ["the", "king", "queen"]              # by count, ties alphabetical
    counts = av.bag_of_words(texts, vocab)
    np.testing.assert_array_equal(counts, [[2, 2, 0], [1, 0, 1]])
    W, idf = av.tfidf(counts)
    np.testing.assert_allclose(idf, [1.0, math.log(3 / 2) + 1, math.log(3 / 2) + 1])
    row = np.array([2, 2 * (math.log(1.5) + 1), 0])
    np.testing.assert_allclose(W[0], row / np.linalg.norm(row))
    W2, _ = av.tfidf(av.bag_of_words(["queen"], vocab), idf)   # queries reuse the documents' idf
    np.testing.assert_allclose(W2, [[0, 0, 1]])


def test_cosine_and_label_scores():
    S = av.cosine_scores([[1, 0], [1, 1]], [[2, 0], [0, 3], [1, 1]])
    np.testing.assert_allclose(S, [[1, 0, 1 / math.sqrt(2)], [1 / math.sqrt(2), 1 / math.sqrt(2), 1]])
    L = av.label_scores(S, [0, 1, 1], 3)
    np.testing.assert_allclose(L[:, :2], [[1, 1 / math.sqrt(2)], [1 / math.sqrt(2), 1]])
    assert np.isneginf(L[:, 2]).all()                      # label 2 has no document
    with pytest.raises(ValueError):
        av.label_scores(S, [0, 1], 2)


def test_fit_linear_reaches_a_minimum_and_separates():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(-2, 1, (40, 3)), rng.normal(2, 1, (40, 3))])
    y = np.repeat([0, 1], 40)
    clf = av.fit_linear(X, y, 2, l2=1e-2)
    P = av.predict_proba(clf, X)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert am.accuracy(y, P.argmax(axis=1)) > 0.95
    # the gradient of the penalised loss vanishes at the returned weights
    W = torch.tensor(clf["W"], requires_grad=True)
    b = torch.tensor(clf["b"], requires_grad=True)
    Xs = torch.tensor((X - clf["mean"]) / clf["std"])
    loss = F.cross_entropy(Xs @ W + b, torch.tensor(y)) + 1e-2 * (W ** 2).sum()
    loss.backward()
    assert W.grad.abs().max() < 1e-5 and b.grad.abs().max() < 1e-5
    with pytest.raises(ValueError, match="n_classes"):
        av.fit_linear(X, y, 1)


# --- GPT helpers against the model itself ---------------------------------------------
def test_sample_equals_gpt_generate_within_the_window(tiny_gpt):
    idx = torch.randint(0, TOK.vocab_size, (3, 5), generator=torch.Generator().manual_seed(1))
    ref = tiny_gpt.generate(idx, 11, temperature=0.9, top_k=5, generator=torch.Generator().manual_seed(2))
    out = ag.sample(tiny_gpt, idx, 11, temperature=0.9, top_k=5, generator=torch.Generator().manual_seed(2))
    assert torch.equal(out, ref)


def test_greedy_sample_is_argmax_and_runs_past_block_size(tiny_gpt):
    idx = torch.randint(0, TOK.vocab_size, (2, 4), generator=torch.Generator().manual_seed(3))
    out = ag.sample(tiny_gpt, idx, 12, greedy=True)
    x = idx
    for _ in range(12):                                   # within block_size 16: the plain loop
        x = torch.cat([x, tiny_gpt(x)[0][:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(out, x)
    assert ag.sample(tiny_gpt, idx, 40, greedy=True).shape == (2, 44)
    with pytest.raises(ValueError, match="temperature"):
        ag.sample(tiny_gpt, idx, 3, temperature=0)


def test_hidden_states_feed_the_lm_head(tiny_gpt):
    x = torch.randint(0, TOK.vocab_size, (2, 9))
    with torch.no_grad():
        torch.testing.assert_close(tiny_gpt.lm_head(ag.hidden_states(tiny_gpt, x)), tiny_gpt(x)[0])
        assert ag.hidden_states(tiny_gpt, x, layer=0).shape == (2, 9, 16)
    with pytest.raises(ValueError, match="layer"):
        ag.hidden_states(tiny_gpt, x, layer=3)


def test_embed_is_the_mean_hidden_state_and_handles_long_texts(tiny_gpt):
    texts = ["Hello there.", "A", "abcdefghij" * 4]          # the last is 40 > block_size 16
    E = ag.embed(tiny_gpt, TOK, texts, batch_size=2)
    assert E.shape == (3, 16)
    with torch.no_grad():
        for i in (0, 1):
            h = ag.hidden_states(tiny_gpt, torch.tensor([TOK.encode(texts[i])]))[0]
            np.testing.assert_allclose(E[i], h.mean(0).numpy(), atol=1e-5)
        ids = TOK.encode(texts[2])
        parts = [ag.hidden_states(tiny_gpt, torch.tensor([ids[s:s + 16]]))[0] for s in (0, 16, 32)]
        np.testing.assert_allclose(E[2], torch.cat(parts).mean(0).numpy(), atol=1e-5)
    np.testing.assert_allclose(E, ag.embed(tiny_gpt, TOK, texts, batch_size=3), atol=1e-6)   # batching: same


def test_char_nll_and_text_nll_match_cross_entropy(tiny_gpt):
    ids = TOK.encode("To be, or not to be, that is the question.")
    nll = ag.char_nll(tiny_gpt, ids)
    assert nll.shape == (len(ids) - 1,)
    with torch.no_grad():
        logits = tiny_gpt(torch.tensor([ids[:16]]))[0][0]
        ref = F.cross_entropy(logits, torch.tensor(ids[1:17]), reduction="none").numpy()
        np.testing.assert_allclose(nll[:16], ref, atol=1e-5)
        got = ag.text_nll(tiny_gpt, TOK, ["cat.", "dog"], prefix="My ")
        full = TOK.encode("My cat.")
        lp = tiny_gpt(torch.tensor([full]))[0][0].log_softmax(-1)
        assert got[0] == pytest.approx(-sum(lp[p - 1, full[p]].item() for p in range(3, 7)), abs=1e-4)
    with pytest.raises(ValueError, match="block_size"):
        ag.text_nll(tiny_gpt, TOK, ["x" * 30])


def test_char_nll_with_a_sliding_window_gives_each_character_its_full_context(tiny_gpt):
    ids = TOK.encode("To be, or not to be, that is the question: whether 'tis nobler in the mind")
    T = tiny_gpt.config.block_size
    assert len(ids) > 3 * T
    with torch.no_grad():                                   # by hand: each target after the longest context
        ref = np.array([F.cross_entropy(tiny_gpt(torch.tensor([ids[max(0, t - T):t]]))[0][0, -1],
                                        torch.tensor(ids[t])).item() for t in range(1, len(ids))])
    np.testing.assert_allclose(ag.char_nll(tiny_gpt, ids, stride=1, batch_size=5), ref, atol=1e-5)
    half = ag.char_nll(tiny_gpt, ids, stride=T // 2)
    assert half.shape == (len(ids) - 1,)
    np.testing.assert_allclose(half[:T], ref[:T], atol=1e-5)           # the first window: as is
    restart = ag.char_nll(tiny_gpt, ids)                                # windows that restart
    np.testing.assert_allclose(ag.char_nll(tiny_gpt, ids, stride=T), restart)
    assert not np.allclose(restart[T:], ref[T:], atol=1e-3)            # restarting loses context
    s_ = T // 2                     # by hand: target t > T is scored by the window starting at k*s_,
    with torch.no_grad():          # k = ceil((t - T) / s_), so its context is ids[k*s_ : t]
        by_hand = [F.cross_entropy(tiny_gpt(torch.tensor([ids[(-(-(t - T) // s_)) * s_:t]]))[0][0, -1],
                                   torch.tensor(ids[t])).item() for t in range(T + 1, len(ids))]
    np.testing.assert_allclose(half[T:], by_hand, atol=1e-5)
    with pytest.raises(ValueError, match="stride must be at most block_size"):
        ag.char_nll(tiny_gpt, ids, stride=T + 1)


# --- task builders on the real corpus ---------------------------------------------------
def test_modernise_rules():
    assert at.modernise("Thou art a villain, 'tis call'd so.") == "You are a villain, it is called so."
    assert at.modernise("Art thou the man? I'd say nay.") == "Are you the man? I'd say no."
    assert at.modernise("An art; thy father banish'd me") == "An art; your father banished me"
    assert at.modernise("'Hail,' quoth she'd") == "'Hail,' quoth she'd"
    with pytest.raises(ValueError):
        at.modernise(3)


def test_modernise_pairs_are_short_and_mostly_changed():
    pairs = at.modernise_pairs(["macbeth"], max_len=32, unchanged_every=10)
    assert pairs and all(len(s) <= 32 and len(t) <= 32 and t == at.modernise(s) for s, t in pairs)
    changed = sum(s != t for s, t in pairs)
    assert changed > 0.5 * len(pairs)
    with pytest.raises(ValueError, match="unknown"):
        at.modernise_pairs(["no-such-play"])


def test_passages_and_scenes_of_macbeth():
    ps = at.passages("macbeth", 100, 5)
    assert len(ps) == 5 and all(len(p) == 100 for p in ps)
    assert ps[0].startswith("When shall we three meet again")
    assert "First Witch" not in "".join(ps)                # speaker names are left out
    sc = at.scenes("macbeth")
    assert len(sc) == 28 and sc[0]["heading"] == "SCENE I. A desert place."
    assert len(sc[0]["speeches"]) == 10
    assert sum(len(s["speeches"]) for s in sc) == len(speeches("macbeth"))
    with pytest.raises(ValueError, match="fewer than"):
        at.passages("macbeth", 100_000, 2)


def test_genre3_and_speaker_gender():
    assert set(at.GENRE3.values()) == set(at.CLASSES)
    assert at.speaker_gender("LADY MACBETH") == "female"
    assert at.speaker_gender("KING HENRY") == "male"
    assert at.speaker_gender("HAMLET") is None and at.speaker_gender(None) is None
    assert at.speaker_gender("GENTLEWOMAN") == "female"


# --- the translation model on tiny inputs ------------------------------------------------
def test_seq2seq_shapes_batches_and_learning():
    pairs = [("thou", "you"), ("thee", "you"), ("thy", "your"), ("hath", "has")] * 4
    torch.manual_seed(0)
    model = s2s.Seq2Seq(TOK.vocab_size, max_len=8, d_model=32, n_head=2)
    src, tin, tout = s2s.make_batch([("thou", "you"), ("thy", "your")], TOK, model.pad, model.bos)
    assert src.shape == (2, 4) and src[1, 3] == model.pad
    assert tin[:, 0].tolist() == [model.bos] * 2 and tin[0, 4] == model.pad
    assert tout[0].tolist() == TOK.encode("you\n") + [-100] and tout[1].tolist() == TOK.encode("your\n")
    assert model(src, tin).shape == (2, tin.shape[1], TOK.vocab_size + 2)
    losses = s2s.train_seq2seq(model, pairs, TOK, steps=80, batch_size=8, lr=1e-2)
    assert losses[-1] < 0.2 * losses[0]
    assert s2s.translate(model, TOK, ["thou", "hath"]) == ["you", "has"]
    assert s2s.translate(model, TOK, ["thou", "hath"], batch_size=1) == ["you", "has"]
    with pytest.raises(ValueError, match="max_len"):
        s2s.translate(model, TOK, ["x" * 9])
    with pytest.raises(ValueError, match="divisible"):
        s2s.Seq2Seq(10, 8, d_model=30, n_head=4)


def test_embed_last_is_what_the_lm_head_reads(tiny_gpt):
    texts = ["To be", "or not to be,", "x" * 20]
    last = ag.embed(tiny_gpt, TOK, texts, pool="last", batch_size=2)
    both = ag.embed(tiny_gpt, TOK, texts, pool="mean+last")
    np.testing.assert_allclose(both[:, 16:], last, atol=1e-6)
    np.testing.assert_allclose(both[:, :16], ag.embed(tiny_gpt, TOK, texts), atol=1e-6)
    with torch.no_grad():
        for i in (0, 1):
            logits = tiny_gpt(torch.tensor([TOK.encode(texts[i])]))[0][0, -1]
            head = tiny_gpt.lm_head(torch.tensor(last[i]))
            np.testing.assert_allclose(head.numpy(), logits.numpy(), atol=1e-5)
        ids = TOK.encode(texts[2])                      # 20 > 16: the last window holds 4 characters
        h = ag.hidden_states(tiny_gpt, torch.tensor([ids[16:]]))[0, -1]
        np.testing.assert_allclose(last[2], h.numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="pool"):
        ag.embed(tiny_gpt, TOK, texts, pool="max")
