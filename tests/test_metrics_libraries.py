"""Chapter 7's from-scratch metrics and classifier against the field's libraries.

``tests/test_apps.py`` checks ``utils.apps_metrics`` and ``utils.apps_vectors`` against values
worked out on paper; here each is checked against the library the field uses, on the same
realistic inputs (lines of *Macbeth* and perturbed copies of them), under the library's
documented option that gives the book's definition, and each test also shows that the option
matters (the default gives a different number):

- ``char_bleu``          = sacrebleu ``BLEU(tokenize="char", smooth_method="none")``; sacrebleu's
  ``char`` tokeniser drops the spaces, so the book's BLEU (spaces are characters too) equals it on
  texts whose spaces are made visible, and sacrebleu's equals the book's on texts without spaces;
- ``chrf``               = sacrebleu ``CHRF()`` (its defaults: n-grams 1..6, no spaces, beta 2);
- ``rouge_n``            = rouge-score ``RougeScorer([...], tokenizer=<the book's words>)``;
- ``accuracy``, ``confusion_matrix`` = scikit-learn's, with ``labels=range(n_classes)``;
- ``tfidf``              = scikit-learn ``TfidfTransformer(norm="l2", smooth_idf=True, sublinear_tf=False)``;
- ``fit_linear`` / ``predict_proba`` = scikit-learn ``LogisticRegression(C=1 / (2 n l2))``, fitted on
  the features the book standardised (see the comment there for the mapping and the tolerance).

sacrebleu reports BLEU and chrF x 100; the book reports them in [0, 1].
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from rouge_score import rouge_scorer
from rouge_score import tokenizers as rouge_tokenizers
from sacrebleu.metrics import BLEU, CHRF
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from utils import apps_metrics as am
from utils import apps_vectors as av
from utils.data import play_text, speeches

pytestmark = pytest.mark.usefixtures("one_torch_thread")

VISIBLE_SPACE = "\u2581"    # "▁", which Macbeth does not use


# --- the inputs: lines of Macbeth (references) and perturbed copies (candidates) --------------
def _lines():
    lines = [line for line in play_text("macbeth").splitlines() if len(line) >= 30 and not line.endswith(":")]
    return lines[::40][:40]                   # 40 verse lines from across the play


def _perturb(line, kind, rng):
    w = line.split()
    i = int(rng.integers(len(w) - 1))
    if kind == "drop":
        del w[i]
    elif kind == "swap":
        w[i], w[i + 1] = w[i + 1], w[i]
    elif kind == "repeat":                    # a repeated word: only clipping stops it scoring twice
        w.insert(i, w[i])
    elif kind == "shout":                     # upper case: the book's BLEU and chrF are case-sensitive
        w[i] = w[i].upper()
    elif kind == "truncate":                  # shorter candidates: the brevity penalty
        w = w[: len(w) * 2 // 3]
    elif kind == "extend":
        w = w + w[:3]
    return " ".join(w)


@pytest.fixture(scope="module")
def refs():
    return _lines()


@pytest.fixture(scope="module")
def pairs(refs):
    """``{name: (candidates, references)}``: one corpus shorter than its references, one longer."""
    rng = np.random.default_rng(0)
    short = ["drop", "swap", "repeat", "shout", "truncate"]
    long = ["swap", "repeat", "shout", "extend"]
    return {"short": ([_perturb(r, short[k % 5], rng) for k, r in enumerate(refs)], refs),
            "long": ([_perturb(r, long[k % 4], rng) for k, r in enumerate(refs)], refs)}


def _visible(texts):
    assert not any(VISIBLE_SPACE in t for t in texts)
    return [t.replace(" ", VISIBLE_SPACE) for t in texts]


def _no_spaces(texts):
    return ["".join(t.split()) for t in texts]


# --- char_bleu against sacrebleu ----------------------------------------------------------
# The book's char_bleu: corpus BLEU-4, one reference, case-sensitive, no smoothing (0 if some p_m is 0),
# every character a token (spaces included). sacrebleu: BLEU(tokenize="char") joins the characters
# with spaces and then splits on whitespace (TokenizerChar, extract_all_word_ngrams), so its
# characters exclude the spaces; lowercase=False (the default) keeps case; smooth_method="none"
# turns off its default "exp" smoothing.
SACRE_CHAR_BLEU = dict(tokenize="char", smooth_method="none", lowercase=False, max_ngram_order=4)


@pytest.mark.parametrize("corpus", ["short", "long"])
def test_char_bleu_equals_sacrebleu_char_bleu(pairs, corpus):
    cands, refs = pairs[corpus]
    bleu = BLEU(**SACRE_CHAR_BLEU)
    # spaces made visible, so sacrebleu counts them as the book does
    lib = bleu.corpus_score(_visible(cands), [_visible(refs)])
    assert am.char_bleu(cands, refs) == pytest.approx(lib.score / 100, abs=1e-9)
    assert (lib.bp < 1) == (corpus == "short")            # both sides of the brevity penalty are tested
    # sacrebleu's own characters (spaces dropped) = the book's on texts without spaces
    lib_raw = bleu.corpus_score(cands, [refs])
    assert am.char_bleu(_no_spaces(cands), _no_spaces(refs)) == pytest.approx(lib_raw.score / 100, abs=1e-9)
    # ... which is another number: whether spaces are characters is what the option changes
    assert abs(lib_raw.score - lib.score) > 0.1


def test_char_bleu_is_case_sensitive_and_unsmoothed_like_sacrebleu_with_those_options(pairs):
    cands, refs = pairs["short"]
    book = am.char_bleu(cands, refs)
    lower = BLEU(**{**SACRE_CHAR_BLEU, "lowercase": True}).corpus_score(_visible(cands), [_visible(refs)])
    assert abs(lower.score / 100 - book) > 1e-4           # the "shout" lines: case matters
    # every third character replaced: no 3- or 4-gram matches, so unsmoothed BLEU is 0 ...
    hashed = ["".join("#" if i % 3 == 0 else c for i, c in enumerate(r)) for r in refs]
    assert am.char_bleu(hashed, refs) == 0.0
    assert BLEU(**SACRE_CHAR_BLEU).corpus_score(_visible(hashed), [_visible(refs)]).score == 0.0
    # ... and sacrebleu's default smoothing ("exp") would give it a positive score
    smoothed = {**SACRE_CHAR_BLEU, "smooth_method": "exp"}
    assert BLEU(**smoothed).corpus_score(_visible(hashed), [_visible(refs)]).score > 1.0


# --- chrf against sacrebleu ----------------------------------------------------------------
@pytest.mark.parametrize("corpus", ["short", "long"])
def test_chrf_equals_sacrebleu_chrf(pairs, corpus):
    cands, refs = pairs[corpus]
    assert am.chrf(cands, refs) == pytest.approx(CHRF().corpus_score(cands, [refs]).score / 100, abs=1e-9)
    # other orders and betas, and the options named as sacrebleu names them
    lib = CHRF(char_order=4, word_order=0, beta=1, lowercase=False, whitespace=False)
    expected = lib.corpus_score(cands, [refs]).score / 100
    assert am.chrf(cands, refs, char_order=4, beta=1) == pytest.approx(expected, abs=1e-9)
    # spaces are removed: sacrebleu with whitespace=True gives another number
    assert abs(CHRF(whitespace=True).corpus_score(cands, [refs]).score / 100 - am.chrf(cands, refs)) > 1e-4


def test_chrf_equals_sacrebleu_on_edge_cases(refs):
    cases = [
        (["abc", refs[0]], ["abcdefgh", refs[1]]),        # a hypothesis shorter than some orders
        (["a b c d e f g h", refs[2]], ["xyz", refs[2]]),  # a reference shorter than some orders
        (["xyz"], ["abc"]),                                 # nothing in common
        ([""], ["abc"]), (["abc"], [""]), ([""], [""]),     # empty texts
        ([refs[3]], [refs[3]]),                             # perfect
    ]
    for hyps, rs in cases:
        assert am.chrf(hyps, rs) == pytest.approx(CHRF().corpus_score(hyps, [rs]).score / 100, abs=1e-9), hyps
    assert am.chrf([refs[3]], [refs[3]]) == pytest.approx(1.0)


# --- rouge_n against rouge-score -----------------------------------------------------------
class BookWords(rouge_tokenizers.Tokenizer):
    """rouge-score's documented ``tokenizer=`` hook: an object with a ``tokenize(text)`` method."""

    def tokenize(self, text):
        return am.words(text)


@pytest.mark.parametrize("corpus", ["short", "long"])
def test_rouge_n_equals_rouge_score_with_the_books_tokenizer(pairs, corpus):
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2"], tokenizer=BookWords())
    for cand, ref in zip(*pairs[corpus]):
        lib = scorer.score(ref, cand)                     # rouge-score: score(target, prediction)
        for n in (1, 2):
            book = am.rouge_n(am.words(cand), am.words(ref), n)
            s = lib[f"rouge{n}"]
            assert (book["precision"], book["recall"], book["f1"]) == pytest.approx(
                (s.precision, s.recall, s.fmeasure), abs=1e-12), (cand, ref, n)


def test_rouge_score_default_tokenizer_splits_apostrophes_so_the_option_matters():
    summary, reference = "O'er the heath thou call'd me", "o'er the moor he call'd me"
    book = am.rouge_n(am.words(summary), am.words(reference), 1)
    assert book["precision"] == pytest.approx(4 / 6)      # o'er, the, call'd, me of 6 words
    ours = rouge_scorer.RougeScorer(["rouge1"], tokenizer=BookWords()).score(reference, summary)["rouge1"]
    default = rouge_scorer.RougeScorer(["rouge1"]).score(reference, summary)["rouge1"]
    assert ours.precision == pytest.approx(book["precision"])
    # the default lower-cases and splits on non-alphanumerics: o, er, call, d: 6 of 8 tokens
    assert default.precision == pytest.approx(6 / 8)
    assert default.precision != pytest.approx(book["precision"])


# --- accuracy and confusion_matrix against scikit-learn ----------------------------------------
def test_accuracy_and_confusion_matrix_equal_sklearn():
    rng = np.random.default_rng(1)
    n_classes = 5
    y_true = rng.integers(0, 4, 300)                     # class 4 never occurs ...
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, 3, 300))   # ... nor 3 in some rows
    assert am.accuracy(y_true, y_pred) == accuracy_score(y_true, y_pred)
    np.testing.assert_array_equal(am.confusion_matrix(y_true, y_pred, n_classes),
                                  sk_confusion_matrix(y_true, y_pred, labels=range(n_classes)))
    # without labels=, sklearn drops the class that never occurs: the option matters
    assert sk_confusion_matrix(y_true, y_pred).shape == (4, 4)


# --- tfidf against scikit-learn --------------------------------------------------------------
def _speech_counts():
    texts = [" ".join(lines) for speaker, lines in speeches("macbeth") if speaker]
    vocab = av.build_vocab(texts, max_size=200)
    return av.bag_of_words(texts, vocab)


def test_tfidf_equals_sklearn_tfidf_transformer():
    X = _speech_counts()
    docs, queries = X[:400], X[400:]
    assert (queries.sum(axis=1) == 0).any()              # texts with no vocabulary word: an all-zero row
    # the book: idf = ln((1 + N) / (1 + df)) + 1, raw counts, rows L2-normalised
    sk = TfidfTransformer(norm="l2", use_idf=True, smooth_idf=True, sublinear_tf=False).fit(docs)
    W, idf = av.tfidf(docs)
    np.testing.assert_allclose(idf, sk.idf_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(W, sk.transform(docs).toarray(), rtol=0, atol=1e-12)
    # the documents' idf reused for the queries
    Q, _ = av.tfidf(queries, idf)
    np.testing.assert_allclose(Q, sk.transform(queries).toarray(), rtol=0, atol=1e-12)
    # each of the three options changes the result
    for other in (dict(smooth_idf=False), dict(sublinear_tf=True), dict(norm=None)):
        alt = TfidfTransformer(**other).fit(docs).transform(docs).toarray()
        assert np.abs(alt - W).max() > 1e-3, other


# --- fit_linear / predict_proba against scikit-learn -----------------------------------------
# The book minimises  mean_i CE_i + l2 * ||W||^2  (bias b not penalised), K weight columns.
# sklearn's LogisticRegression (lbfgs) minimises  C * sum_i CE_i + ||W||^2 / 2  (intercept not
# penalised either). Divided by C n, that is  mean_i CE_i + ||W||^2 / (2 C n), so
#     multinomial (K >= 3):  C = 1 / (2 n l2).
# With K = 2 sklearn fits one vector u = w_1 - w_0; the book's optimum has w_1 = -w_0 = u / 2, so
# its penalty is l2 ||u||^2 / 2 and  C = 1 / (n l2).
# Both are fitted on the book's standardised features (its mean and std), so the weights compare.
# Tolerance: sklearn's lbfgs is run to tol=1e-12 and the book's L-BFGS to tolerance_grad=1e-10,
# tolerance_change=1e-14 (torch's defaults, 1e-7 and 1e-9, stopped with probabilities ~1e-4 from
# the optimum). Both then leave a gradient ~2e-8. Checked: sklearn's solution is the book
# objective's minimiser (gradient < 1e-6), predict_proba exactly on sklearn's weights, and the
# book's own fit reaches it too (gradient < 1e-6, probabilities within 2e-6, weights 2e-6).
def _speaker_data():
    speakers = ["MACBETH", "LADY MACBETH", "BANQUO"]
    texts, y = zip(*[(" ".join(lines), speakers.index(s))
                     for s, lines in speeches("macbeth") if s in speakers])
    return av.bag_of_words(texts, av.build_vocab(texts, max_size=40)), np.array(y)


def _book_objective_grad(W, b, Z, y, l2):
    W, b = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
    loss = F.cross_entropy(torch.tensor(Z) @ W + b, torch.tensor(y)) + l2 * (W ** 2).sum()
    loss.backward()
    return max(W.grad.abs().max().item(), b.grad.abs().max().item())


@pytest.mark.parametrize("binary", [False, True])
def test_fit_linear_and_predict_proba_equal_sklearn_logistic_regression(binary):
    X, y = _speaker_data()
    if binary:
        y = (y == 0).astype(int)                           # MACBETH or not
    K, n, l2 = int(y.max()) + 1, len(y), 1e-2
    C = 1 / (n * l2) if binary else 1 / (2 * n * l2)
    clf = av.fit_linear(X, y, K, l2=l2, max_iter=1000)
    Z = (X - clf["mean"]) / clf["std"]
    sk = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(Z, y)
    assert sk.n_iter_[0] < 10_000                          # converged
    P_sk = sk.predict_proba(Z)
    if binary:
        W_sk = np.stack([-sk.coef_[0], sk.coef_[0]], axis=1) / 2
        b_sk = np.array([-sk.intercept_[0], sk.intercept_[0]]) / 2
    else:
        W_sk, b_sk = sk.coef_.T, sk.intercept_
    # sklearn with this C minimises the book's objective (a wrong C leaves a gradient ~1e-2)
    assert _book_objective_grad(W_sk, b_sk, Z, y, l2) < 1e-6
    # predict_proba on sklearn's weights = sklearn's predict_proba
    sk_clf = {"W": W_sk, "b": b_sk, "mean": clf["mean"], "std": clf["std"]}
    np.testing.assert_allclose(av.predict_proba(sk_clf, X), P_sk, rtol=0, atol=1e-12)
    # the book's own fit: the same weights and probabilities up to its stopping tolerance
    P = av.predict_proba(clf, X)
    assert _book_objective_grad(clf["W"], clf["b"], Z, y, l2) < 1e-6
    np.testing.assert_allclose(P, P_sk, rtol=0, atol=2e-6)
    np.testing.assert_allclose(clf["W"], W_sk, rtol=0, atol=2e-6)
    np.testing.assert_array_equal(P.argmax(axis=1), sk.predict(Z))
    assert 0.6 < am.accuracy(y, P.argmax(axis=1)) < 1.0    # realistic: neither trivial nor separable


def test_a_wrong_penalty_mapping_is_caught():
    X, y = _speaker_data()
    n, l2 = len(y), 1e-2
    clf = av.fit_linear(X, y, 3, l2=l2)
    Z = (X - clf["mean"]) / clf["std"]
    for C in (1 / (n * l2), 1 / (2 * l2)):                 # off by 2; a mean taken for a sum
        sk = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(Z, y)
        assert _book_objective_grad(sk.coef_.T, sk.intercept_, Z, y, l2) > 1e-3
        assert np.abs(av.predict_proba(clf, X) - sk.predict_proba(Z)).max() > 1e-3
