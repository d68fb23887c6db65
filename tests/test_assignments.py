"""The chapters' exercises work as autograded otter-grader assignments (utils.assignments, issue 9).

For every chapter with exercises, the assignment is built from the current notebook and hidden
tests (``tests/hidden/chNN.py``) into a temporary folder, then:

1. the student notebook with the reference solutions filled in gets full marks from
   ``otter run`` (the teacher's grading command; no Docker);
2. the student notebook as handed out, run unmodified, fails every test, public and hidden;
3. wrong answers fail the hidden tests: a plausible mistake per exercise (``MISTAKES``, where
   written) and, for every exercise, the reference solution with its results perturbed.

(2) and (3), and a cross-check of (1), run otter's own test files in one helper process
(``utils.assignments.grade_in_process``) to avoid a kernel and the framework imports per
notebook. The last test prints the per-chapter counts.
"""
import ast
import json
import os
import subprocess
import sys
import textwrap

import nbformat
import pytest

from utils import assignments as A

PATHS = A.chapter_paths()
IDS = [p.stem for p in PATHS]

# Mistakes a student could really make, by exercise (each must define the same functions as the
# reference solution). Exercises not listed here still get the generic wrong answer.
MISTAKES = {
    "ex-ch01-1": '''
def sequence_log_prob(ids, P):                           # P[next, previous]: transposed
    ids = np.asarray(ids)
    return float(np.sum(np.log(P[ids[1:], ids[:-1]])))

uniform_nats = math.log(71)
uniform_bits = math.log2(71)
''',
    "ex-ch01-2": '''
def first_layer_params(n, V, H, m=None):                 # a table of vectors per position, not one shared
    if m is None:
        return n * V * H + H
    return n * V * m + n * m * H + H

limit_ratio = 71 / 16
''',
    "ex-ch01-3": '''
def token_oov_rate(vocab, words):                        # the type rate: distinct words, not running ones
    words = set(words)
    if not words:
        return 0.0
    return len(words - set(vocab)) / len(words)

def oov_curve(plays_words, val_words, ks):
    return [token_oov_rate(set().union(*plays_words[:k]), val_words) for k in ks]

play_texts = [data.play_text(p.name) for p in data.plays() if p.split == "train"]
play_words = [re.findall(r"[a-z]+(?:['-][a-z]+)*", text.lower()) for text in play_texts]
val_text = data.load_corpus("val")
ks = [1, 2, 4, 8, 16, 30]
rates = oov_curve(play_words, re.findall(r"[a-z]+(?:['-][a-z]+)*", val_text.lower()), ks)
char_rates = oov_curve(play_texts, val_text, ks)
slope, intercept = np.polyfit(np.log(ks), np.log(rates), 1)
plays_to_halve = 2 ** (-1 / slope)
plays_for_1_percent = math.exp((math.log(0.01) - intercept) / slope)
''',
    "ex-ch02-1": '''
def perplexity(probs):                                   # sum instead of mean
    probs = np.asarray(probs, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return float(np.exp(-np.sum(np.log(probs))))
''',
    "ex-ch02-2": '''
def add_k_probs(counts, k):                              # forgets the k*V in the denominator
    counts = np.asarray(counts, dtype=np.float64)
    if k < 0 or (k == 0 and counts.sum() == 0):
        raise ValueError("no distribution")
    return (counts + k) / (counts.sum() + k)
''',
    "ex-ch02-3": '''
def count_contexts(text, n):                             # also counts the last context
    return len({text[i:i + n - 1] for i in range(len(text) - n + 2)})
''',
    "ex-ch02-4": '''
def unseen_mass(counts, lower, D):                       # forgets the shorter context's share
    counts = np.asarray(counts, dtype=np.float64)
    c_h = counts.sum()
    if c_h == 0:
        return 1.0
    return float(D * np.count_nonzero(counts) / c_h)

mass_after_o = Fraction(3, 4) * 3 / 4
mass_after_space = Fraction(3, 4) * 4 / 5
''',
    "ex-ch02-5": '''
def em_weights(probs, iters=100):                        # weights from mean probabilities, not responsibilities
    probs = np.asarray(probs, dtype=np.float64)
    if iters == 0:
        return np.full(len(probs), 1 / len(probs))
    w = probs.mean(axis=1)
    return w / w.sum()

train_text, val_text = data.load_corpus("train"), data.load_corpus("val")
vocab = data.CharTokenizer.from_text(train_text).chars
half = len(val_text) // 2
orders = [NGramModel(n, "add-k", k=0.01, vocab=vocab).fit(train_text) for n in range(1, 7)]
q = np.exp(-np.stack([m.nll(val_text) for m in orders]))
weights = em_weights(q[:, :half])
mixture_ppl = math.exp(-np.log(weights @ q[:, half:]).mean())
modified_kn = NGramModel(6, "modified-kneser-ney", vocab=vocab).fit(train_text)
kn_ppl = math.exp(modified_kn.nll(val_text)[half:].mean())
beats_kneser_ney = mixture_ppl < kn_ppl
''',
    "ex-ch03-1": '''
def gradient_bound(u_norm, T, activation="tanh"):
    slope = {"tanh": 1.0, "sigmoid": 0.25}[activation]
    return (u_norm * slope) ** T

def steps_to_vanish(u_norm, eps, activation="tanh"):     # int(...) + 1: one step too many when the bound hits eps
    q = gradient_bound(u_norm, 1, activation)
    if q >= 1:
        return math.inf
    return int(math.log(eps) / math.log(q)) + 1

t_tanh = steps_to_vanish(0.9, 1e-3)
t_sigmoid = steps_to_vanish(2.0, 1e-3, "sigmoid")
''',
    "ex-ch03-2": '''
def recurrent_param_count(cell, input_size, hidden_size, framework="torch"):   # PyTorch's two biases counted once
    blocks = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
    n_bias = 2 if (framework == "keras" and cell == "gru") else 1
    return blocks * hidden_size * (input_size + hidden_size + n_bias)

lstm_chapter = recurrent_param_count("lstm", 32, 128)
gru_units = max(h for h in range(1, 1000) if recurrent_param_count("gru", 32, h) <= lstm_chapter)
''',
    "ex-ch03-3": '''
def input_gradient_norms(layer, T, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, T, layer.input_size, generator=gen, dtype=torch.float64, requires_grad=True)
    layer(x)[0][0, -1].sum().backward()
    return x.grad[0].norm(dim=1).flip(0).numpy()

def decay_per_step(g, start=5):
    d = np.arange(start, len(g))
    return float(np.exp(np.polyfit(d, np.log(np.asarray(g)[start:]), 1)[0]))

decays = {}
for name, cls in (("rnn", torch.nn.RNN), ("gru", torch.nn.GRU), ("lstm", torch.nn.LSTM),
                  ("lstm, forget bias +1", torch.nn.LSTM)):
    torch.manual_seed(0)
    layer = cls(8, 32, batch_first=True).double()
    if name == "lstm, forget bias +1":                   # gates taken as f, i, g, o: +1 on the input gate
        with torch.no_grad():
            layer.bias_ih_l0[0:32] += 1.0
    decays[name] = decay_per_step(input_gradient_norms(layer, 60))
steps_per_1000 = {name: math.log(1000) / -math.log(q) for name, q in decays.items()}
''',
    "ex-ch03-4": '''
def perplexity(logits, targets):                         # subtracts the global maximum, not each row's
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max()
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(np.exp(-log_probs[np.arange(len(z)), np.asarray(targets)].mean()))
''',
    "ex-ch04-1": '''
def seed_num_params(n_vocab, d_model, num_layers, dim_feedforward, bias=True):   # forgets the output bias
    d, f = d_model, dim_feedforward
    attention = 3 * d * d + d * d + (3 * d + d if bias else 0)
    mlp = d * f + f * d + (f + d if bias else 0)
    norms = 2 * (2 * d if bias else d)
    return n_vocab * d + num_layers * (attention + mlp + norms) + d * n_vocab
''',
    "ex-ch04-2": '''
def blind_reversal_accuracy(T, vocab):                   # counts the own digit too: max over all T
    n = T

    def p_max_at_most(m):
        ways = [1] + [0] * n
        for _ in range(vocab):
            ways = [sum(math.comb(k, c) * ways[k - c] for c in range(min(m, k) + 1)) for k in range(n + 1)]
        return ways[n] / vocab ** n

    return sum(1 - p_max_at_most(m - 1) for m in range(1, n + 1)) / n


blind_bound = blind_reversal_accuracy(8, 10)
''',
    "ex-ch04-3": '''
def position_accuracy(causal, steps=300, seed=0):        # builds the mask but never passes it
    torch.manual_seed(seed)
    T = 16
    emb = nn.Embedding(11, 32)
    layer = nn.TransformerEncoderLayer(32, 4, 128, dropout=0.0, batch_first=True, norm_first=True)
    layers = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    head = nn.Linear(32, T)
    mask = nn.Transformer.generate_square_subsequent_mask(T) if causal else None
    opt = torch.optim.Adam([*emb.parameters(), *layers.parameters(), *head.parameters()], lr=3e-3)
    g = torch.Generator().manual_seed(seed)

    def batch(n):
        x = torch.randint(0, 10, (n, T), generator=g)
        x[:, 0] = 10
        return x

    for _ in range(steps):
        logits = head(layers(emb(batch(64))))
        loss = F.cross_entropy(logits.reshape(-1, T), torch.arange(T).repeat(64))
        opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad():
        predicted = head(layers(emb(batch(1000)))).argmax(-1)
    return (predicted == torch.arange(T)).float().mean().item()


acc_causal, acc_bidirectional = position_accuracy(True), position_accuracy(False)
bidirectional_expected = (1 + 15 * (1 / 15)) / 16
''',
    "ex-ch05-1": '''
def train_flops_per_token(n_layer, n_embd, block_size, vocab_size):      # 6N with all parameters, no attention
    n_params = 12 * n_layer * n_embd ** 2 + vocab_size * n_embd + block_size * n_embd
    return 6 * n_params
''',
    "ex-ch05-2": '''
def accumulated_grads(model, x, y, n_micro):                 # the micro-batch means summed, not averaged
    model.zero_grad(set_to_none=True)
    for xs, ys in zip(x.chunk(n_micro), y.chunk(n_micro)):
        model(xs, ys)[1].backward()
    return [p.grad.clone() for p in model.parameters()]
''',
    "ex-ch05-3": '''
def compute_optimal(C, A, B, alpha, beta):                   # the exponents swapped
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    N_opt = G * (C / 6) ** (alpha / (alpha + beta))
    return N_opt, C / (6 * N_opt)

exponent = 0.34 / (0.34 + 0.28)
_N, _D = compute_optimal(1e23, 406.4, 410.7, 0.34, 0.28)
tokens_per_param = _D / _N
''',
    "ex-ch06-5": '''
def tokens_per_char(encode, text):                            # divides by UTF-8 bytes, not characters
    return len(encode(text)) / len(text.encode("utf-8")) if text else 0.0

en_text = data.play_text("the-tempest")
zh_text = "\\n".join(line for i in range(5) for line in data.seed_article(i).splitlines()
                    if any("\\u4e00" <= c <= "\\u9fff" for c in line))
shakespeare_bpe = bpe.train_tokenizers_bpe(data.load_corpus("train")[:300_000].split("\\n\\n"), 2048)
encoders = {"Shakespeare BPE": lambda text: shakespeare_bpe.encode(text).ids,
            "cl100k_base": pb.encoding("cl100k_base").encode_ordinary,
            "o200k_base": pb.encoding("o200k_base").encode_ordinary}
rates = {name: (tokens_per_char(enc, en_text), tokens_per_char(enc, zh_text)) for name, enc in encoders.items()}
zh_en_ratio = {name: zh / en for name, (en, zh) in rates.items()}
smallest_ratio = min(zh_en_ratio, key=zh_en_ratio.get)
''',
    "ex-ch07-4": """
def expected_exposure(n_candidates):                     # ln(n!) from lgamma used as if it were log2(n!)
    n = int(n_candidates)
    return math.log2(n) - math.lgamma(n + 1) / n

limit_bits = math.log2(math.e)
p_once = 54 / 300
""",
    "ex-ch07-5": """
def paired_bootstrap_ci(correct_a, correct_b, n_resamples=2000, level=0.95, seed=0):   # unpaired: A and B resampled apart
    a, b = np.asarray(correct_a, dtype=np.float64), np.asarray(correct_b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or len(a) == 0:
        raise ValueError("need two non-empty 1-D arrays of one length")
    rng = np.random.default_rng(seed)
    idx_a = rng.integers(0, len(a), size=(n_resamples, len(a)))
    idx_b = rng.integers(0, len(b), size=(n_resamples, len(b)))
    diffs = a[idx_a].mean(axis=1) - b[idx_b].mean(axis=1)
    low, high = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)

cls_sets = {}
for split, per_class, seed in (("train", 500, 0), ("test", 200, 1)):
    plays = [p.name for p in data.plays() if (p.split == "train") == (split == "train")]
    by_mark = {m: [s for n in plays for s, mark in at.sentences(n) if mark == m] for m in at.MARKS}
    rng = np.random.default_rng(seed)
    picks = {m: rng.choice(len(by_mark[m]), per_class, replace=False) for m in at.MARKS}
    cls_sets[split] = ([by_mark[m][i] for m in at.MARKS for i in picks[m]], np.repeat(np.arange(3), per_class))
(X_train, y_train), (X_test, y_test) = cls_sets["train"], cls_sets["test"]
book_chars = data.CharTokenizer.from_text(data.load_corpus("train")).chars
word_vocab = av.build_vocab(X_train, 3000)
correct_by = {}
for kind, featurise in (("chars", lambda texts: av.bag_of_chars(texts, book_chars)),
                        ("words", lambda texts: av.bag_of_words(texts, word_vocab))):
    clf = av.fit_linear(featurise(X_train), y_train, 3, l2=1.0)
    correct_by[kind] = (av.predict_proba(clf, featurise(X_test)).argmax(axis=1) == y_test).astype(float)
correct_chars, correct_words = correct_by["chars"], correct_by["words"]
ci = paired_bootstrap_ci(correct_words, correct_chars)
established = bool(ci[0] > 0 or ci[1] < 0)
unpaired_ci = paired_bootstrap_ci(correct_words, correct_chars)
width_ratio = (unpaired_ci[1] - unpaired_ci[0]) / (ci[1] - ci[0])
""",
}

# The generic wrong answer: the reference solution, then every function it defines (and every
# public method or forward/__call__ of a class it defines) re-bound to perturb its result.
PERTURB = '''

import functools as _functools


def _wrong(x):
    import numpy as _np
    import torch as _torch
    if isinstance(x, (bool, _np.bool_)):
        return not x
    if isinstance(x, (int, _np.integer)):
        return x + 1
    if isinstance(x, (float, _np.floating)):
        return x * 1.1 + 0.1
    if isinstance(x, _np.ndarray) or _torch.is_tensor(x):
        if x.dtype in (bool, _torch.bool):
            return ~x
        floating = x.is_floating_point() if _torch.is_tensor(x) else _np.issubdtype(x.dtype, _np.inexact)
        return x * 1.1 + 0.1 if floating else x + 1
    if isinstance(x, (list, tuple)):
        return type(x)([_wrong(v) for v in x]) if type(x) in (list, tuple) else [_wrong(v) for v in x]
    if isinstance(x, dict):
        return {k: _wrong(v) for k, v in x.items()}
    if isinstance(x, str):
        return x + "?"
    return 0 if x is None else x


def _wrongly(f):
    @_functools.wraps(f)
    def g(*args, **kwargs):
        return _wrong(f(*args, **kwargs))
    return g
'''


def perturbed(solution: str) -> str:
    """The reference solution with every result it returns made wrong."""
    lines = []
    for node in ast.parse(solution).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines.append(f"{node.name} = _wrongly({node.name})")
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and (not item.name.startswith("_")
                                                          or item.name == "__call__"):
                    lines.append(f"{node.name}.{item.name} = _wrongly({node.name}.{item.name})")
    return solution + PERTURB + "\n" + "\n".join(lines) + "\n"


def _top_names(source: str) -> set:
    return {n.name for n in ast.parse(source).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


# --------------------------------------------------------------------------------------------
# Fixtures: build every assignment once; grade all in-process variants in one helper process
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """{chapter stem: (Chapter, built folder)} or the AssignmentError that stopped the build."""
    out = tmp_path_factory.mktemp("assignments")
    result = {}
    for path in PATHS:
        try:
            chapter = A.read_chapter(path)
            result[path.stem] = (chapter, A.build(chapter, out))
        except A.AssignmentError as e:
            result[path.stem] = e
    return result


def _get(built, stem):
    got = built[stem]
    if isinstance(got, Exception):
        pytest.fail(f"the assignment could not be built: {got}", pytrace=False)
    return got


def _student(dest, chapter):
    return nbformat.read(dest / "student" / f"{chapter.name}.ipynb", as_version=4)


@pytest.fixture(scope="module")
def variants(built):
    """{stem: {variant: notebook path}}: reference answers, unmodified, plausible mistakes, perturbed."""
    out = {}
    for stem, got in built.items():
        if isinstance(got, Exception):
            continue
        chapter, dest = got
        student = _student(dest, chapter)
        subs = dest / "submissions"
        subs.mkdir()
        answers = {
            "reference": {e.label: e.solution for e in chapter.exercises},
            "perturbed": {e.label: perturbed(e.solution) for e in chapter.exercises},
            "plausible": {e.label: MISTAKES[e.label] for e in chapter.exercises if e.label in MISTAKES},
        }
        paths = {"unmodified": dest / "student" / f"{chapter.name}.ipynb"}
        for name, given in answers.items():
            paths[name] = subs / f"{chapter.name}.{name}.ipynb"
            nbformat.write(A.with_answers(student, given), paths[name])
        out[stem] = paths
    return out


@pytest.fixture(scope="module")
def in_process(built, variants):
    """{stem: {variant: [test records]}} from otter's test files, all in one helper process."""
    jobs = [[stem, name, str(path), str(built[stem][1] / "autograder" / "tests")]
            for stem, paths in variants.items() for name, path in paths.items()]
    code = textwrap.dedent("""
        import json, sys
        from utils.assignments import grade_in_process
        jobs = json.loads(sys.argv[1])
        print("RESULTS=" + json.dumps([[s, v, grade_in_process(p, t)] for s, v, p, t in jobs]))
    """)
    env = dict(os.environ, MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(jobs)], capture_output=True, text=True,
                          cwd=A.ROOT, env=env, timeout=900)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULTS=")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    results = {}
    for stem, variant, records in json.loads(line[0][len("RESULTS="):]):
        results.setdefault(stem, {})[variant] = records
    return results


REPORT = {}  # stem -> counts and outcomes, printed by the last test


# --------------------------------------------------------------------------------------------
# Per chapter
# --------------------------------------------------------------------------------------------
def test_there_are_chapters_with_exercises():
    assert PATHS, "no chapter notebook with {exercise} cells"


@pytest.mark.parametrize("stem", IDS)
def test_assignment_builds_with_student_and_autograder_versions(built, stem):
    chapter, dest = _get(built, stem)
    student, n = _student(dest, chapter), len(chapter.exercises)
    REPORT[stem] = dict(A.summary(chapter))
    # the set-up and imports cells are the chapter's; one grader.check per question
    code = [c.source for c in student.cells if c.cell_type == "code"]
    assert code[0] == chapter.setup and code[1] == chapter.imports
    assert [s for s in code if s.startswith("grader.check(")] == [f'grader.check("{e.label}")' for e in chapter.exercises]
    # solutions removed: the answer cells keep the signatures, no line of any function body
    answers = A.answer_cells(student)
    assert sorted(answers) == sorted(e.label for e in chapter.exercises)
    for ex in chapter.exercises:
        kept = {ln.strip() for ln in answers[ex.label].source.split("\n")}
        assert "..." in kept, ex.label
        body = {ln.strip() for ln in ex.solution.split("\n")} - {""}
        leaked = {ln for ln in body & kept if not ln.startswith(("def ", "class ", "@", '"""', "#"))}
        assert not leaked, (ex.label, leaked)
        assert answers[ex.label].metadata.get("editable", True), "answer cells must be editable"
    # public tests only for the student; every test in the autograder and its zip
    from otter.test_files import ExceptionTestFile
    for version, expected in (("student", n), ("autograder", n + REPORT[stem]["hidden"])):
        files = [ExceptionTestFile.from_file(str(p)) for p in sorted((dest / version / "tests").glob("*.py"))]
        assert sorted(f.name for f in files) == sorted(e.label for e in chapter.exercises)
        cases = [tc for f in files for tc in f.test_cases]
        assert len(cases) == expected
        assert sum(tc.hidden for tc in cases) == expected - n
        assert sum(tc.points for tc in cases) == (n if version == "student" else chapter.points)
    assert A.autograder_zip(dest).stat().st_size > 0


@pytest.mark.parametrize("stem", IDS)
def test_reference_solutions_get_full_marks_from_otter_run(built, variants, in_process, stem):
    chapter, dest = _get(built, stem)
    records = A.grade(A.autograder_zip(dest), variants[stem]["reference"])
    failed = [r["test"] for r in records if not r["passed"]]
    assert not failed, f"reference solutions fail {failed}"
    assert len(records) == len(chapter.exercises) + sum(len(e.hidden) for e in chapter.exercises)
    assert records == in_process[stem]["reference"], "otter run and the in-process runner disagree"
    REPORT.setdefault(stem, {})["otter_run"] = f"{len(records)}/{len(records)}"


@pytest.mark.parametrize("stem", IDS)
def test_unmodified_student_notebook_fails_every_test(built, in_process, stem):
    _get(built, stem)
    records = in_process[stem]["unmodified"]
    passing = [r["test"] for r in records if r["passed"]]
    assert records and not passing, f"tests passing on the empty answers: {passing}"
    REPORT.setdefault(stem, {})["unmodified"] = f"0/{len(records)}"


@pytest.mark.parametrize("stem", IDS)
def test_wrong_answers_fail_the_hidden_tests(built, in_process, stem):
    chapter, _ = _get(built, stem)
    notes = []
    for variant in ("plausible", "perturbed"):
        records = in_process[stem][variant]
        for ex in chapter.exercises:
            if variant == "plausible" and ex.label not in MISTAKES:
                continue
            if variant == "plausible":
                assert _top_names(MISTAKES[ex.label]) == _top_names(ex.solution), \
                    f"MISTAKES[{ex.label!r}] no longer matches the exercise's functions: update it"
            hidden = [r for r in records if r["question"] == ex.label and r["hidden"]]
            caught = sum(not r["passed"] for r in hidden)
            assert hidden and caught, f"{variant} wrong answer to {ex.label} passes all its hidden tests"
            public = next(r for r in records if r["question"] == ex.label and not r["hidden"])
            notes.append((variant, caught, len(hidden), public["passed"]))
    REPORT.setdefault(stem, {})["wrong"] = {
        v: (sum(c for w, c, _, _ in notes if w == v), sum(h for w, _, h, _ in notes if w == v),
            sum(p for w, _, _, p in notes if w == v), sum(w == v for w, *_ in notes))
        for v in ("plausible", "perturbed")}


# --------------------------------------------------------------------------------------------
# The tooling on small inputs
# --------------------------------------------------------------------------------------------
def test_free_names_see_through_scopes():
    src = "x = f(a)\nys = [x + b for _ in range(3)]\ng = lambda t: t * c\nimport math\nmath.pi"
    assert A.free_names(src) == {"f", "a", "b", "c"}
    assert A.defined_names(src) == {"x", "ys", "g", "math"}


def test_strip_solution_keeps_signatures_and_docstrings():
    src = textwrap.dedent('''
        K = 3
        def f(x,
              y=1):
            """Doc."""
            return x + y + K
        class M:
            def forward(self, x):
                return x * 2
    ''').strip()
    out = A.strip_solution(src)
    assert out.split("\n")[:3] == ["# BEGIN SOLUTION", "K = 3", "# END SOLUTION"]
    assert '    """Doc."""\n    # BEGIN SOLUTION\n    return x + y + K\n    # END SOLUTION' in out
    assert "        # BEGIN SOLUTION\n        return x * 2\n        # END SOLUTION" in out
    ast.parse(out)


def test_public_test_takes_the_names_it_reads():
    ex = A.Exercise("ex-ch09-1", 1, "t", "b", "def f(x): return x",
                    'v = f(np.ones(2))\nassert np.allclose(v, 1)\nprint("ex-ch09-1: all checks passed")', (0, 1))
    src = A.public_test(ex)
    assert src.startswith("def test_ex_ch09_1_public_checks(f, np):")
    assert "print" not in src


def test_hidden_tests_become_self_contained(tmp_path):
    path = tmp_path / "ch09.py"
    path.write_text(textwrap.dedent('''
        """Doc."""
        import math
        import numpy as np
        SCALE = 2.0
        UNUSED = object()
        def _ref(x):
            return math.sqrt(x) * SCALE
        def test_ex_ch09_1_value(ns):
            """Checks the value."""
            assert np.isclose(ns["f"](4.0), _ref(4.0))
    '''))
    tests = A.hidden_tests(path)
    assert list(tests) == ["ex-ch09-1"]
    src = tests["ex-ch09-1"][0].source
    assert src.startswith("def test_ex_ch09_1_value(env):") and "UNUSED" not in src
    env = {}
    exec(src, env)
    env["test_ex_ch09_1_value"]({"f": lambda x: 4.0})          # sqrt(4) * 2
    with pytest.raises(AssertionError):
        env["test_ex_ch09_1_value"]({"f": lambda x: 2.0})


def test_bad_chapters_are_refused_with_the_reason(tmp_path):
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
    (tmp_path / "chapters").mkdir()
    (tmp_path / "hidden").mkdir()
    ex = "```{exercise} T\n:label: ex-ch09-1\nWrite `f(x)`.\n```"
    cells = [new_markdown_cell("# Title"), new_code_cell("import sys"), new_code_cell("import numpy as np"),
             new_code_cell("table = 1"), new_markdown_cell(ex),
             new_code_cell("def f(x):\n    return x + table", metadata={"tags": ["solution"]}),
             new_code_cell("assert f(1) == 2", metadata={"tags": ["check"]})]
    path = tmp_path / "chapters" / "09_demo.ipynb"
    nbformat.write(new_notebook(cells=cells), path)
    (tmp_path / "hidden" / "ch09.py").write_text("def test_ex_ch09_1_x(ns):\n    assert ns['f'](1) == 2\n")
    assert A.chapter_paths(tmp_path) == [path]
    with pytest.raises(A.AssignmentError, match=r"ex-ch09-1 solution cell \(cell index 5\) uses table"):
        A.read_chapter(path, tmp_path / "hidden")
    cells[5].source = "def f(x):\n    return x + 1"
    nbformat.write(new_notebook(cells=cells), path)
    assert A.summary(A.read_chapter(path, tmp_path / "hidden"))["points"] == 2
    (tmp_path / "hidden" / "ch09.py").write_text("def test_ex_ch09_2_x(ns):\n    pass\n")
    with pytest.raises(A.AssignmentError, match="exercises the chapter lacks"):
        A.read_chapter(path, tmp_path / "hidden")
    cells[4].source = ex.replace(":label: ex-ch09-1\n", "")
    nbformat.write(new_notebook(cells=cells), path)
    with pytest.raises(A.AssignmentError, match="no :label:"):
        A.read_chapter(path, tmp_path / "hidden")


def test_instructor_guide_tables_are_current():
    text = A.GUIDE.read_text()
    generated = text.split(A.GUIDE_BEGIN, 1)[1].split(A.GUIDE_END, 1)[0].strip()
    expected = A.guide_tables([A.read_chapter(p, check=False) for p in PATHS])
    assert generated == expected, "run `python -m utils.assignments --guide` to refresh chapters/instructor_guide.md"


def test_report_counts_per_chapter(capsys):
    """Print the per-chapter table (runs last; shown even under -q)."""
    rows = [f"{'chapter':<20} {'questions':>9} {'points':>6} {'public':>6} {'hidden':>6}  "
            f"{'otter run (ref)':>15}  {'unmodified':>10}  wrong answers: hidden tests failed"]
    for stem in IDS:
        r = REPORT.get(stem, {})
        if "questions" not in r:
            rows.append(f"{stem:<20} not built")
            continue
        wrong = "; ".join(f"{v} {c}/{h} ({p}/{q} pass the public check)"
                          for v, (c, h, p, q) in r.get("wrong", {}).items() if q)
        rows.append(f"{r['name']:<20} {r['questions']:>9} {r['points']:>6} {r['public']:>6} {r['hidden']:>6}  "
                    f"{r.get('otter_run', '-'):>15}  {r.get('unmodified', '-'):>10}  {wrong or '-'}")
    with capsys.disabled():
        print("\n" + "\n".join(rows))
