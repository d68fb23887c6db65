"""Classroom assignments made from the chapters' exercises, graded with otter-grader.

Built for the instructor guide (``chapters/instructor_guide.md``).
``python -m utils.assignments [NN ...]`` (what ``make assignments`` runs) finds every chapter
notebook in ``chapters/`` that has ``{exercise}`` cells and, for each, writes into the
git-ignored folder ``assignments/chNN/``:

- ``master/chNN_<name>.ipynb``: an otter-assign *master* notebook made of the chapter's set-up
  cell, its imports cell (the second code cell) and its exercises. Each exercise becomes one
  question: the prompt from the ``{exercise}`` cell, the reference solution from the cell tagged
  ``solution`` (function bodies marked for removal), one public test from the cell tagged
  ``check`` and one hidden test per function ``test_ex_chNN_K_<what>(ns)`` in
  ``tests/hidden/chNN.py``. One point per test.
- ``student/``: the notebook to hand out (solutions replaced by ``...``, ``grader.check`` cells
  running the public tests) and ``tests/`` with the public tests only.
- ``autograder/``: the solutions notebook, every test, and the ``*-autograder_*.zip`` that
  ``otter run -a ZIP SUBMISSION`` grades with (no Docker needed).

Why otter-grader rather than nbgrader: otter's test files are plain Python run against the
student's namespace (the book's hidden tests are already functions of that namespace);
``otter run`` grades one submission in the current environment without Docker or a course
database; the student notebook checks itself with ``grader.check`` in Jupyter and in Colab; and
the same autograder zip also serves ``otter grade`` (Docker) and Gradescope. nbgrader needs a
course directory, a gradebook database and a Jupyter server extension to release and collect,
and it does not run in Colab.

``python -m utils.assignments grade NN SUBMISSION...`` grades a class's submissions with
``otter run`` into a CSV file; ``--guide`` rewrites the tables of the instructor guide;
``--check`` also grades each solutions notebook. :func:`grade_in_process` runs otter's test files
against a notebook executed in this process (fast; ``tests/test_assignments.py`` uses it).

Exercise cells must be self-contained (only the imports cell and ``utils``); the builder checks
this statically and names the offending cells (:class:`AssignmentError`).
"""
from __future__ import annotations

import argparse
import ast
import builtins
import copy
import re
import shutil
import subprocess
import sys
import symtable
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
HIDDEN = ROOT / "tests" / "hidden"
OUT = ROOT / "assignments"

OTTER_VERSION = "7.0.0"
_BUILTINS = set(dir(builtins)) | {"display", "get_ipython"}  # IPython adds the last two
_FENCE = re.compile(r"^(`{3,}|:{3,})\{exercise\}\s*(.*)$")
_LABEL = re.compile(r"^ex-ch(\d\d)-(\d+)$")
_ROLE = re.compile(r"\{([\w:]+)\}`([^`]*)`")
_DONE = re.compile(r"""^print\(\s*["']ex-ch\d\d-\d+: all checks passed["']\s*\)$""")


class AssignmentError(ValueError):
    """A chapter's exercises cannot be turned into an assignment (the message says why)."""


@dataclass
class HiddenTest:
    name: str          # test_ex_ch04_1_values_match_the_formula
    source: str        # a self-contained function of otter's ``env``


@dataclass
class Exercise:
    label: str         # ex-ch04-1
    number: int        # 1
    title: str
    body: str          # the prompt, plain Markdown
    solution: str      # the reference solution cell
    check: str         # the public check cell
    cells: tuple       # (solution cell index, check cell index) in the chapter notebook
    hidden: list = field(default_factory=list)

    @property
    def points(self) -> int:
        """One point for the public check and one per hidden test."""
        return 1 + len(self.hidden)


@dataclass
class Chapter:
    number: str        # "04"
    path: Path
    title: str
    setup: str
    imports: str
    exercises: list

    @property
    def name(self) -> str:
        """The assignment's name and notebook stem, e.g. ``ch04_transformer``."""
        return f"ch{self.number}_{self.path.stem.split('_', 1)[1]}"

    @property
    def points(self) -> int:
        return sum(e.points for e in self.exercises)


# --------------------------------------------------------------------------------------------
# Reading a chapter
# --------------------------------------------------------------------------------------------
def chapter_paths(root: Path = ROOT) -> list[Path]:
    """The chapter notebooks (``chapters/NN_*.ipynb``) that have at least one ``{exercise}`` cell."""
    import nbformat

    paths = []
    for path in sorted((root / "chapters").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if any(c.cell_type == "markdown" and _FENCE.match(c.source.lstrip().split("\n")[0])
               for c in nb.cells):
            paths.append(path)
    return paths


def _parse_exercise_cell(source: str) -> tuple[str, str, str]:
    """(label, title, body) of a sphinx-exercise ``{exercise}`` cell."""
    lines = source.strip().split("\n")
    match = _FENCE.match(lines[0])
    fence = match.group(1)
    if lines[-1].strip() != fence:
        raise AssignmentError(f"exercise cell does not end with its fence {fence!r}: {lines[0]!r}")
    options, i = {}, 1
    while i < len(lines) - 1 and re.match(r"^:\w[\w-]*:", lines[i]):
        key, _, value = lines[i][1:].partition(":")
        options[key] = value.strip()
        i += 1
    if "label" not in options:
        raise AssignmentError(f"exercise {match.group(2)!r} has no :label:")
    body = "\n".join(lines[i:-1]).strip()
    return options["label"], match.group(2).strip(), body


def _markdown(text: str) -> str:
    """MyST roles to plain Markdown: {cite}`a,b` -> [a, b]; {ref}`x` -> x."""
    def sub(m):
        role, target = m.group(1), m.group(2)
        if role.startswith("cite"):
            return "[" + ", ".join(k.strip() for k in target.split(",")) + "]"
        return re.sub(r"\s*<[^>]*>$", "", target)
    return _ROLE.sub(sub, text)


def read_chapter(path: Path, hidden_dir: Path = HIDDEN, check: bool = True) -> Chapter:
    """Parse a chapter notebook's set-up cell, imports cell, exercises and hidden tests.

    With ``check`` (the default), refuse exercise cells that are not self-contained.
    """
    import nbformat

    path = Path(path)
    number = path.name[:2]
    nb = nbformat.read(path, as_version=4)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    if len(code) < 2:
        raise AssignmentError(f"{path.name}: needs a set-up cell and an imports cell")
    title = re.sub(r"^#\s*", "", nb.cells[0].source.split("\n")[0]).strip()
    exercises, cells = [], nb.cells
    for i, cell in enumerate(cells):
        if cell.cell_type != "markdown" or not _FENCE.match(cell.source.lstrip().split("\n")[0]):
            continue
        label, ex_title, body = _parse_exercise_cell(cell.source)
        m = _LABEL.match(label)
        if not m or m.group(1) != number:
            raise AssignmentError(f"{path.name}: exercise label {label!r} is not ex-ch{number}-K")
        following = [j for j in range(i + 1, len(cells))
                     if cells[j].cell_type == "markdown" and _FENCE.match(cells[j].source.lstrip().split("\n")[0])]
        stop = following[0] if following else len(cells)
        sol = [j for j in range(i + 1, stop) if cells[j].cell_type == "code"
               and "solution" in cells[j].metadata.get("tags", [])]
        chk = [j for j in range(i + 1, stop) if cells[j].cell_type == "code"
               and "check" in cells[j].metadata.get("tags", [])]
        if len(sol) != 1 or len(chk) != 1:
            raise AssignmentError(f"{path.name}: {label} needs exactly one code cell tagged 'solution' "
                                  f"and one tagged 'check' (found {len(sol)} and {len(chk)})")
        exercises.append(Exercise(label, int(m.group(2)), ex_title, _markdown(body),
                                  cells[sol[0]].source, cells[chk[0]].source, (sol[0], chk[0])))
    if not exercises:
        raise AssignmentError(f"{path.name}: no {{exercise}} cells")
    labels = [e.label for e in exercises]
    if len(set(labels)) != len(labels):
        raise AssignmentError(f"{path.name}: duplicate exercise labels {labels}")
    chapter = Chapter(number, path, title, cells[code[0]].source, cells[code[1]].source, exercises)
    _check_python(chapter)
    _attach_hidden_tests(chapter, Path(hidden_dir) / f"ch{number}.py")
    if check:
        check_self_contained(chapter)
    return chapter


# --------------------------------------------------------------------------------------------
# Names: what a cell needs from outside and what it defines
# --------------------------------------------------------------------------------------------
def free_names(source: str) -> set[str]:
    """Names a piece of code reads from the global namespace without defining them itself."""
    top = symtable.symtable(source, "<cell>", "exec")
    bound = {s.get_name() for s in top.get_symbols()
             if s.is_assigned() or s.is_imported() or s.is_namespace()}
    used = {s.get_name() for s in top.get_symbols() if s.is_referenced()}

    def walk(table):
        for child in table.get_children():
            for s in child.get_symbols():
                if s.is_global() and s.is_referenced():
                    used.add(s.get_name())
            walk(child)

    walk(top)
    return used - bound - _BUILTINS


def defined_names(source: str) -> set[str]:
    """Names a piece of code binds at its top level (assignments, imports, defs, classes)."""
    top = symtable.symtable(source, "<cell>", "exec")
    return {s.get_name() for s in top.get_symbols()
            if s.is_assigned() or s.is_imported() or s.is_namespace()}


def _check_python(chapter: Chapter) -> None:
    for ex in chapter.exercises:
        for kind, source in (("solution", ex.solution), ("check", ex.check)):
            try:
                compile(source, f"{ex.label} {kind} cell", "exec")
            except SyntaxError as e:
                raise AssignmentError(f"{chapter.path.name}: the {ex.label} {kind} cell is not plain Python "
                                      f"(no magics): {e}") from e


def check_self_contained(chapter: Chapter) -> None:
    """Raise :class:`AssignmentError` naming exercise cells that use chapter state.

    A solution cell may use the set-up and imports cells and earlier solutions; a check cell
    (run by otter as a function of the student's namespace) the same plus its own solution.
    """
    known = defined_names(chapter.setup) | defined_names(chapter.imports)
    problems = []
    for ex in chapter.exercises:
        for kind, source, index in (("solution", ex.solution, ex.cells[0]), ("check", ex.check, ex.cells[1])):
            missing = free_names(source) - known
            if missing:
                problems.append(f"{ex.label} {kind} cell (cell index {index}) uses "
                                f"{', '.join(sorted(missing))}, defined elsewhere in the chapter")
            if kind == "solution":
                known |= defined_names(source)
    if problems:
        raise AssignmentError(f"{chapter.path.name}: exercise cells are not self-contained:\n  "
                              + "\n  ".join(problems))


# --------------------------------------------------------------------------------------------
# Hidden tests: tests/hidden/chNN.py -> self-contained otter test functions
# --------------------------------------------------------------------------------------------
def _stmt_defines(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    return defined_names(ast.unparse(node))


def hidden_tests(path: Path) -> dict[str, list[HiddenTest]]:
    """The hidden tests of a chapter by exercise label, each made self-contained.

    ``def test_ex_ch04_1_what(ns): ...`` becomes ``def test_ex_ch04_1_what(env):`` whose body
    first re-creates the module-level imports, constants and helpers it needs (nested), then
    binds ``ns = env`` (otter passes the student's global namespace as ``env``).
    """
    tree = ast.parse(Path(path).read_text())
    module = [n for n in tree.body if not (isinstance(n, ast.ImportFrom) and n.module == "__future__")
              and not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    helpers = [n for n in module if not (isinstance(n, ast.FunctionDef) and n.name.startswith("test_"))]
    tests: dict[str, list[HiddenTest]] = {}
    for node in module:
        if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
            continue
        m = re.match(r"^test_ex_ch(\d\d)_(\d+)_\w+$", node.name)
        if not m:
            raise AssignmentError(f"{path.name}: {node.name} is not named test_ex_chNN_K_<what>")
        args = node.args
        if len(args.args) != 1 or args.vararg or args.kwarg or args.kwonlyargs:
            raise AssignmentError(f"{path.name}: {node.name} must take exactly one argument (ns)")
        # helpers the test needs, transitively, in file order
        needed, chosen = free_names(ast.unparse(node)), set()
        changed = True
        while changed:
            changed = False
            for k, h in enumerate(helpers):
                if k not in chosen and _stmt_defines(h) & needed:
                    chosen.add(k)
                    needed |= free_names(ast.unparse(h))
                    changed = True
        body = list(node.body)
        doc = []
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            doc = [body.pop(0)]
        bind = ast.parse(f"{args.args[0].arg} = env").body
        fn = ast.FunctionDef(
            name=node.name, args=ast.arguments(posonlyargs=[], args=[ast.arg("env")], kwonlyargs=[],
                                               kw_defaults=[], defaults=[]),
            body=doc + [helpers[k] for k in sorted(chosen)] + bind + body,
            decorator_list=[], returns=None)
        source = ast.unparse(ast.fix_missing_locations(ast.Module([fn], [])))
        label = f"ex-ch{m.group(1)}-{int(m.group(2))}"
        tests.setdefault(label, []).append(HiddenTest(node.name, source))
    return tests


def _attach_hidden_tests(chapter: Chapter, path: Path) -> None:
    if not path.exists():
        raise AssignmentError(f"{chapter.path.name}: no hidden tests file {path}")
    tests = hidden_tests(path)
    labels = {e.label for e in chapter.exercises}
    stray = sorted(set(tests) - labels)
    if stray:
        raise AssignmentError(f"{path.name}: hidden tests for exercises the chapter lacks: {stray}")
    for ex in chapter.exercises:
        ex.hidden = tests.get(ex.label, [])
        if not ex.hidden:
            raise AssignmentError(f"{path.name}: {ex.label} has no hidden tests "
                                  f"(def test_{ex.label.replace('-', '_')}_<what>(ns))")


# --------------------------------------------------------------------------------------------
# Public tests and the student's prompt
# --------------------------------------------------------------------------------------------
def public_test(ex: Exercise) -> str:
    """The check cell as an otter test function whose parameters are the names it reads.

    Otter calls it with those names taken from the student's namespace, so the asserts run
    as they do in the book and a failure shows the very line that failed.
    """
    lines = ex.check.rstrip().split("\n")
    if lines and _DONE.match(lines[-1].strip()):
        lines = lines[:-1]
    source = "\n".join(lines).strip() or "pass"
    params = sorted(free_names(source))
    name = f"test_{ex.label.replace('-', '_')}_public_checks"
    fn = f"def {name}({', '.join(params)}):\n" + textwrap.indent(source, "    ")
    return ast.unparse(ast.parse(fn))


def strip_solution(source: str) -> str:
    """Mark a solution cell for otter: keep signatures and docstrings, remove the bodies.

    Function bodies (and method bodies of classes) are wrapped in ``# BEGIN SOLUTION`` /
    ``# END SOLUTION``, which otter replaces by ``...``; any other top-level statement is
    wrapped whole.
    """
    lines = source.rstrip().split("\n")
    tree = ast.parse(source)
    spans = []  # (first line, last line, indent) to wrap, 1-based

    def body_span(fn, indent):
        body = fn.body
        if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        elif len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            return
        spans.append((body[0].lineno, fn.end_lineno, indent))

    pending = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            pending and spans.append(pending)
            pending = None
            body_span(node, " " * (node.body[0].col_offset))
        elif isinstance(node, ast.ClassDef):
            pending and spans.append(pending)
            pending = None
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    body_span(item, " " * item.body[0].col_offset)
        else:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            pending = (pending[0] if pending else first, node.end_lineno, "")
    pending and spans.append(pending)
    out = list(lines)
    for first, last, indent in sorted(spans, reverse=True):
        out[last:last] = [indent + "# END SOLUTION"]
        out[first - 1:first - 1] = [indent + "# BEGIN SOLUTION"]
    return "\n".join(out)


def _test_cell(source: str, hidden: bool) -> str:
    config = f'""" # BEGIN TEST CONFIG\npoints: 1\nhidden: {str(hidden).lower()}\n""" # END TEST CONFIG\n'
    return config + source


# --------------------------------------------------------------------------------------------
# The master notebook
# --------------------------------------------------------------------------------------------
def otter_cell_source(chapter: Chapter) -> str:
    """The cell that starts otter: in Colab it installs otter and builds this assignment's public
    tests from the cloned book (Colab sees the notebook alone, not its ``tests/`` folder)."""
    return f'''# The grader (otter-grader): `grader.check("ex-...")` runs an exercise's public checks.
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "otter-grader=={OTTER_VERSION}"], check=True)
import otter
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "utils.assignments", "{chapter.number}"], check=True)
    from utils.assignments import OUT
    grader = otter.Notebook(tests_dir=str(OUT / "ch{chapter.number}" / "student" / "tests"))
else:
    grader = otter.Notebook("{chapter.name}.ipynb")'''


SUBMIT_SOURCE = '''# Save the notebook first (Ctrl-S), then run this cell: it writes a zip file to hand in.
if "google.colab" in sys.modules:
    print("In Colab: File > Download > Download .ipynb, and hand in that notebook.")
else:
    grader.export(pdf=False, run_tests=True)'''


def master_notebook(chapter: Chapter):
    """The otter-assign master notebook (nbformat v4) for a chapter."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

    config = {
        "name": chapter.name,
        "requirements": "requirements.txt",
        "init_cell": False,
        "check_all_cell": False,
        "export_cell": False,
        "run_tests": False,
        "tests": {"files": True, "ok_format": False},
        "generate": {"pdf": False, "show_hidden": False, "show_stdout": False},
    }
    n_hidden = sum(len(e.hidden) for e in chapter.exercises)
    cells = [
        new_raw_cell("# ASSIGNMENT CONFIG\n" + _yaml(config)),
        new_markdown_cell(
            f"# Assignment {int(chapter.number)}: {chapter.title}\n\n"
            f"The exercises of chapter {int(chapter.number)} of *Large Language Models: Principles and "
            f"Code*, as a graded assignment: {len(chapter.exercises)} questions, {chapter.points} points.\n\n"
            "1. Run the set-up cells below (in Colab they fetch the book's code and the grader).\n"
            "2. For each exercise, replace every `...` with your code, run the cell, then run the "
            "`grader.check(...)` cell under it: it runs the public checks.\n"
            f"3. Your teacher grades with those checks plus {n_hidden} hidden tests (one point each), "
            "so make each function right, not just good enough for the checks.\n"
            "4. Use only what the imports cell provides (and `utils`); keep the function names and "
            "signatures. Then run the last cell to make your submission."),
        new_code_cell(chapter.setup),
        new_code_cell(chapter.imports),
        new_code_cell(otter_cell_source(chapter)),
        new_markdown_cell("## Exercises"),
    ]
    for ex in chapter.exercises:
        cells += [
            new_raw_cell(f"# BEGIN QUESTION\nname: {ex.label}"),
            new_markdown_cell(f"### Exercise {ex.number}: {ex.title}\n\n{ex.body}\n\n"
                              f"*{ex.points} points: the public checks, and {len(ex.hidden)} hidden tests.*"),
            new_raw_cell("# BEGIN SOLUTION"),
            new_code_cell(strip_solution(ex.solution), metadata={"llm_book": {"answer": ex.label}}),
            new_raw_cell("# END SOLUTION"),
            new_raw_cell("# BEGIN TESTS"),
            new_code_cell(_test_cell(public_test(ex), hidden=False)),
            *[new_code_cell(_test_cell(t.source, hidden=True)) for t in ex.hidden],
            new_raw_cell("# END TESTS"),
            new_raw_cell("# END QUESTION"),
        ]
    cells += [new_markdown_cell("## Submission"), new_code_cell(SUBMIT_SOURCE)]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.validate(nb)
    return nb


def _yaml(data: dict) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False).strip()


def _requirements() -> str:
    """The grading image's packages (for ``otter grade`` with Docker or Gradescope): the book's
    pinned science stack and the book package itself from its repository."""
    from utils.notebooks import repository_url

    keep, skip = [], ("jupyter-book", "myst-nb", "sphinx", "jupytext", "nbval", "pytest", "otter-grader")
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and not line.startswith(skip):
            keep.append(line)
    return "\n".join(keep + [f"llm-book-utils @ git+{repository_url()}"]) + "\n"


# --------------------------------------------------------------------------------------------
# Building and grading
# --------------------------------------------------------------------------------------------
def build(chapter: Chapter, out: Path = OUT) -> Path:
    """Write the master notebook and run ``otter assign``; return ``out/chNN``."""
    import nbformat

    dest = Path(out) / f"ch{chapter.number}"
    if dest.exists():
        shutil.rmtree(dest)
    master = dest / "master" / f"{chapter.name}.ipynb"
    master.parent.mkdir(parents=True)
    nbformat.write(master_notebook(chapter), master)
    (master.parent / "requirements.txt").write_text(_requirements())
    from otter.assign import main as otter_assign

    try:
        otter_assign(str(master), str(dest), no_run_tests=True, no_pdfs=True)
    except Exception as e:  # noqa: BLE001 - name the chapter, keep otter's message
        raise AssignmentError(f"otter assign failed for {chapter.name}: {type(e).__name__}: {e}") from e
    return dest


def autograder_zip(dest: Path) -> Path:
    """The autograder zip in a built ``assignments/chNN`` folder."""
    zips = sorted((Path(dest) / "autograder").glob("*.zip"))
    if len(zips) != 1:
        raise AssignmentError(f"expected one autograder zip in {dest / 'autograder'}, found {len(zips)}")
    return zips[0]


def _case_results(test_files) -> list[dict]:
    return [{"question": tf.name, "test": r.test_case.name, "hidden": bool(r.test_case.hidden),
             "points": r.test_case.points, "passed": bool(r.passed)}
            for tf in sorted(test_files, key=lambda t: t.name) for r in tf.test_case_results]


def grade(autograder: Path, submission: Path, timeout: int = 600) -> list[dict]:
    """Grade one submission with ``otter run`` (no Docker), as a teacher does.

    Returns one record per test case: ``{"question", "test", "hidden", "points", "passed"}``; otter names
    the tests ``"<question> - <k>"``, ``k = 1`` being the public check and the rest the hidden
    tests in ``tests/hidden/chNN.py`` order.
    """
    import dill  # otter writes its results pickle with dill

    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-m", "otter", "run", "--no-logo", "-p",
                               "-a", str(Path(autograder).resolve()), "-o", tmp, str(Path(submission).resolve())],
                              capture_output=True, text=True, timeout=timeout, cwd=tmp)
        pkl = Path(tmp) / "results.pkl"
        if proc.returncode != 0 or not pkl.exists():
            last = ([ln for ln in proc.stderr.splitlines() if ln.strip()] or ["no message"])[-1]
            raise AssignmentError(f"otter run failed on {submission}: {last}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        results = dill.loads(pkl.read_bytes())
    return _case_results(results.results.values())


def grade_in_process(notebook, tests_dir: Path) -> list[dict]:
    """Run a notebook's code in this process and otter's test files against its namespace.

    The same test runner as ``otter run`` (``otter.test_files.ExceptionTestFile``) without a
    kernel per notebook, for checking many submissions quickly. Like ``otter run``, errors in
    cells are ignored; the otter cells (``grader``) are skipped. Returns records as :func:`grade`.
    """
    import contextlib
    import io

    import nbformat
    from otter.test_files import ExceptionTestFile

    if not isinstance(notebook, nbformat.NotebookNode):
        notebook = nbformat.read(notebook, as_version=4)
    env = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for cell in notebook.cells:
            if cell.cell_type != "code":
                continue
            source = "\n".join(line for line in cell.source.split("\n") if not line.lstrip().startswith(("%", "!")))
            try:
                if "grader" in free_names(source) | defined_names(source):
                    continue
                exec(compile(source, "<cell>", "exec"), env)
            except Exception:  # noqa: BLE001 - a submission's broken cell must not stop grading
                pass
        files = [ExceptionTestFile.from_file(str(p)) for p in sorted(Path(tests_dir).glob("*.py"))]
        for tf in files:
            tf.run(env)
    return _case_results(files)


def answer_cells(nb) -> dict:
    """The answer cells of a built notebook (student or autograder), by exercise label."""
    return {c.metadata["llm_book"]["answer"]: c for c in nb.cells
            if c.cell_type == "code" and "answer" in c.metadata.get("llm_book", {})}


def with_answers(nb, answers: dict):
    """A copy of a built notebook with the given answer cells' sources replaced."""
    nb = copy.deepcopy(nb)
    cells = answer_cells(nb)
    for label, source in answers.items():
        cells[label].source = source
    return nb


def grade_submissions(autograder: Path, submissions: list, csv_path: Path | None = None) -> list[dict]:
    """Grade a class's submissions (``.ipynb`` or the ``.zip`` from the export cell) one by one
    with ``otter run``; return one row per submission (points per question, total, possible)
    and write them to ``csv_path`` if given. A submission otter cannot run gets an ``error``."""
    import csv

    rows = []
    for sub in submissions:
        row = {"submission": str(sub)}
        try:
            records = grade(autograder, Path(sub))
        except (AssignmentError, subprocess.TimeoutExpired) as e:
            row.update(total=0, possible=None, error=str(e).split("\n")[0])
            rows.append(row)
            continue
        for r in records:
            row[r["question"]] = row.get(r["question"], 0) + (r["points"] if r["passed"] else 0)
        row.update(total=sum(r["points"] for r in records if r["passed"]),
                   possible=sum(r["points"] for r in records), error="")
        rows.append(row)
    if csv_path is not None:
        fields = ["submission"] + sorted({k for r in rows for k in r} - {"submission", "total", "possible", "error"})
        with open(csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields + ["total", "possible", "error"])
            writer.writeheader()
            writer.writerows(rows)
    return rows


def summary(chapter: Chapter) -> dict:
    """Counts for the report: questions, points, public and hidden tests."""
    return {"chapter": chapter.number, "name": chapter.name, "questions": len(chapter.exercises),
            "points": chapter.points, "public": len(chapter.exercises),
            "hidden": sum(len(e.hidden) for e in chapter.exercises)}


# --------------------------------------------------------------------------------------------
# The instructor guide's tables
# --------------------------------------------------------------------------------------------
GUIDE = CHAPTERS / "instructor_guide.md"
GUIDE_BEGIN = "<!-- BEGIN GENERATED by `python -m utils.assignments --guide`; do not edit by hand -->"
GUIDE_END = "<!-- END GENERATED -->"


def signatures(solution: str) -> list[str]:
    """``name(args)`` of each function (or class) a solution defines: what the student writes."""
    out = []
    for node in ast.parse(solution).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.append(f"{node.name}({ast.unparse(node.args)})")
        elif isinstance(node, ast.ClassDef):
            out.append(f"class {node.name}")
    return out


def minutes(ex: Exercise) -> int:
    """Rule-of-thumb working time: 10 min to read and plan, 2 min per line of the reference
    solution's code, rounded up to 5 min."""
    lines = [ln for ln in ex.solution.split("\n") if ln.strip() and not ln.strip().startswith("#")]
    return -(-(10 + 2 * len(lines)) // 5) * 5


def guide_tables(chapters: list) -> str:
    """One Markdown section per assignment: what each exercise asks, what its tests check."""
    parts = []
    for ch in chapters:
        total = sum(minutes(e) for e in ch.exercises)
        hidden = sum(len(e.hidden) for e in ch.exercises)
        parts.append(
            f"### Assignment {int(ch.number)}: {ch.title}\n\n"
            f"`assignments/ch{ch.number}/student/{ch.name}.ipynb`: {len(ch.exercises)} questions, "
            f"{ch.points} points ({len(ch.exercises)} public checks, {hidden} hidden tests), "
            f"about {total} minutes.\n\n"
            "| Exercise | The student writes | The hidden tests check that it | Points | Time |\n"
            "|---|---|---|---|---|")
        for e in ch.exercises:
            checks = "; ".join(t.name.split("_", 4)[4].replace("_", " ") for t in e.hidden)
            writes = ", ".join(f"`{sig}`" for sig in signatures(e.solution))
            parts[-1] += f"\n| {e.number}. {e.title} | {writes} | {checks} | {e.points} | {minutes(e)} min |"
    return "\n\n".join(parts)


def write_guide(chapters: list, path: Path = GUIDE) -> bool:
    """Replace the generated part of the instructor guide; return whether it changed."""
    text = path.read_text()
    if GUIDE_BEGIN not in text or GUIDE_END not in text:
        raise AssignmentError(f"{path} lacks the generated-section markers")
    head, rest = text.split(GUIDE_BEGIN, 1)
    tail = rest.split(GUIDE_END, 1)[1]
    new = f"{head}{GUIDE_BEGIN}\n\n{guide_tables(chapters)}\n\n{GUIDE_END}{tail}"
    if new != text:
        path.write_text(new)
    return new != text


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def _grade_main(argv) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m utils.assignments grade",
        description="Grade submissions for one chapter with `otter run` (no Docker); print and save a CSV.")
    parser.add_argument("chapter", help="chapter number, e.g. 04")
    parser.add_argument("submissions", nargs="+", type=Path, help=".ipynb or exported .zip files")
    parser.add_argument("--out", type=Path, default=OUT, help="where `make assignments` wrote (default: assignments/)")
    parser.add_argument("--csv", type=Path, default=None, help="CSV file (default: <out>/chNN/grades.csv)")
    args = parser.parse_args(argv)
    dest = args.out / f"ch{args.chapter.zfill(2)}"
    csv_path = args.csv or dest / "grades.csv"
    rows = grade_submissions(autograder_zip(dest), args.submissions, csv_path)
    for row in rows:
        print(f"{row['submission']}: {row['total']}/{row['possible']} {row['error']}".rstrip())
    print(f"-> {csv_path}")
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["grade"]:
        return _grade_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m utils.assignments",
        description="Build student and autograder versions of the chapters' exercises (otter-grader). "
                    "`python -m utils.assignments grade NN SUBMISSION...` grades submissions.")
    parser.add_argument("chapters", nargs="*", help="chapter numbers (default: every chapter with exercises)")
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (default: assignments/)")
    parser.add_argument("--check", action="store_true",
                        help="also grade each assignment's solutions with `otter run` (slow)")
    parser.add_argument("--guide", action="store_true",
                        help="only rewrite the tables in chapters/instructor_guide.md")
    args = parser.parse_args(argv)
    paths = chapter_paths()
    if args.chapters:
        wanted = {c.zfill(2) for c in args.chapters}
        paths = [p for p in paths if p.name[:2] in wanted]
        if not paths:
            parser.error(f"no chapter with exercises among {sorted(wanted)}")
    if args.guide:
        changed = write_guide([read_chapter(p, check=False) for p in chapter_paths()])
        print(f"{GUIDE.relative_to(ROOT)}: {'updated' if changed else 'already up to date'}")
        return 0
    failed = 0
    print(f"{'assignment':<24} {'questions':>9} {'points':>6} {'public':>6} {'hidden':>6}", flush=True)
    for path in paths:
        try:
            chapter = read_chapter(path)
            dest = build(chapter, args.out)
        except AssignmentError as e:
            failed += 1
            print(f"{path.stem:<24} FAILED: {e}", flush=True)
            continue
        s = summary(chapter)
        line = f"{s['name']:<24} {s['questions']:>9} {s['points']:>6} {s['public']:>6} {s['hidden']:>6}"
        if args.check:
            ag = dest / "autograder" / f"{chapter.name}.ipynb"
            cases = grade(autograder_zip(dest), ag)
            passed = sum(c["passed"] for c in cases)
            line += f"   otter run on the solutions: {passed}/{len(cases)} tests pass"
            failed += passed != len(cases)
        print(line, flush=True)
    print(f"-> {args.out}/chNN/student (hand out), {args.out}/chNN/autograder (grade with otter run)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
