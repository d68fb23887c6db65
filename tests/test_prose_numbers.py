"""Numbers in a chapter's prose are numbers its cells print.

Every Markdown cell of every chapter is read for numbers that report a result: decimals (1.706),
percentages (95 %), counts with thousands separators (469,308) and ratios (1.3×). Each must be

* **printed**: equal to a number in a stored output of the same notebook, as written or rounded to
  the decimals the prose gives (the prose "1.71" matches a printed 1.7095; "95 %" matches a printed
  95.1 % or 0.951; "4.8 million" matches 4,796,044 and "1.56B" 1,557,611,200);
* **a setting**: a literal in the notebook's own code (the prose "1,000 steps" and ``steps = 1000``);
* **cited**: the sentence cites its source (``{cite}`key```);
* **a definition or a formula**: inside math (``$D = 0.75$``, ``$\\sqrt{3/4} = 0.866$``) or inline
  code (``atol=1e-6``), where the sentence itself states the value.

A failure names the notebook, the cell and the number. The tests at the end plant mismatches and
check that they are caught.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from utils.notebooks import ROOT

CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))

# a number that reports a result: 1,234 / 1,234.5 · 1.5 · 12 % · 1.5× (or 1.5x) · "4.8 million"
PROSE_NUMBER = re.compile(
    r"(?<![\w.,\-/])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\d+(?=\s?%|[×x](?!\w)))"
    r"(?P<unit>\s?%|[×x](?!\w)|\s(?:million|billion)\b|\s?[MB]\b)?(?![\w.]*\d)")
# every number in printed output (separators allowed, scientific notation, signs dropped)
PRINTED_NUMBER = re.compile(r"\d[\d,_]*(?:\.\d+)?(?:[eE][-+]?\d+)?")
CITATION = re.compile(r"\{cite(?::\w+)?\}`")
# math ($...$, $$...$$), inline code (`...`), roles' targets, links' addresses and HTML tags say no result
EXEMPT_SPANS = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$|`[^`\n]+`|\]\([^)]*\)|<[^>]+>", re.S)
FENCE = re.compile(r"^```[^\n]*\n.*?^```", re.M | re.S)
SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+(?=[A-Z*(\[{$`])|\n\s*\n|\n(?=\s*[-*|] )")
SCALE = {"million": 1e6, "billion": 1e9, "M": 1e6, "B": 1e9}


def _value(text: str) -> float:
    return float(text.replace(",", "").replace("_", ""))


def printed_values(nb) -> list[float]:
    """Every number in the notebook's stored text outputs."""
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                texts.append(out["text"])
            for mime, data in out.get("data", {}).items():
                if mime.startswith("text/"):
                    texts.append(data if isinstance(data, str) else "".join(data))
    values = []
    for match in PRINTED_NUMBER.finditer("\n".join(texts)):
        try:
            values.append(_value(match.group().rstrip(",_")))
        except ValueError:
            pass
    return values


def code_literals(nb) -> set[float]:
    """Every number literal in the notebook's code cells (settings such as ``steps = 1000``)."""
    return {_value(m.group()) for c in nb.cells if c.cell_type == "code"
            for m in re.finditer(r"(?<![\w.])\d[\d_]*(?:\.\d+)?(?:[eE]-?\d+)?", c.source)}


def _decimals(number: str) -> int:
    return len(number.split(".")[1]) if "." in number else 0


def matches(number: str, unit: str, printed: list[float]) -> bool:
    """Is the prose ``number`` (with ``unit``) a printed value, as written or rounded as written?"""
    value, places = _value(number), _decimals(number)
    unit = (unit or "").strip()
    candidates = list(printed)
    if unit == "%":                                       # 95 % may be printed as 0.951
        candidates += [u * 100 for u in printed if u <= 1]
    if unit in SCALE:                                     # 4.8 million may be printed as 4,796,044
        candidates += [u / SCALE[unit] for u in printed]
    tolerance = 0.5 * 10 ** -places + 1e-9
    return any(abs(u - value) <= tolerance for u in candidates)


def sentences(markdown: str) -> list[str]:
    return [s for s in SENTENCE_END.split(markdown) if s and s.strip()]


def unbacked_numbers(nb) -> list[tuple[int, str, str]]:
    """(cell index, number, sentence) for each prose number that no output, code or citation backs."""
    printed, literals = printed_values(nb), code_literals(nb)
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        text = FENCE.sub(lambda m: m.group().replace("`", "'"), cell.source)  # quoted blocks are prose
        for sentence in sentences(text):
            if CITATION.search(sentence):
                continue
            for match in PROSE_NUMBER.finditer(EXEMPT_SPANS.sub(" ", sentence)):
                number, unit = match.group("num"), match.group("unit")
                if matches(number, unit, printed) or (not unit and _value(number) in literals):
                    continue
                found.append((index, match.group().strip(), " ".join(sentence.split())[:160]))
    return found


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_number_in_the_prose_is_printed_set_or_cited(path: Path):
    nb = nbformat.read(path, as_version=4)
    problems = [f"{path.name} cell {i}: {number!r} in: {sentence}" for i, number, sentence in unbacked_numbers(nb)]
    assert not problems, ("numbers in the prose that no cell prints, no code sets and no citation backs "
                          "(print them from a cell, or cite the source):\n" + "\n".join(problems))


# --- the test's own tests: it must catch what it exists to catch -------------------------------------

def _notebook(markdown: str, printed: str = "", code: str = "") -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(markdown),
                nbformat.v4.new_code_cell(code, outputs=[nbformat.v4.new_output("stream", name="stdout",
                                                                                 text=printed)])]
    return nb


@pytest.mark.parametrize("markdown, printed", [
    ("The model reaches a loss of 1.71.", "val loss 1.7095"),              # rounded as written
    ("It scored 469,308 characters.", "469308 characters"),                # separators either way
    ("Accuracy is 95 % here.", "accuracy 0.951"),                          # a fraction, as a percentage
    ("The cache is 1.3× faster.", "speed-up 1.31"),
    ("About 4.8 million characters.", "4,796,044 characters"),
    ("The largest has 1.56B parameters.", "1,557,611,200"),
    ("Adam {cite}`kingma2015` uses 0.999 for the second moment.", ""),       # cited in the sentence
    ("By hand, $D = 0.75$ and $\\frac{2 - 0.75}{4} = 0.3125$.", ""),        # math states it
    ("We compare with `atol=1e-6`.", ""),                                  # code states it
])
def test_backed_numbers_pass(markdown, printed):
    assert unbacked_numbers(_notebook(markdown, printed)) == []


@pytest.mark.parametrize("markdown, printed, planted", [
    ("The model reaches a loss of 1.72.", "val loss 1.7095", "1.72"),      # a stale number
    ("The model reaches a loss of 1.7095.", "val loss 1.71", "1.7095"),    # more digits than printed
    ("It scored 469,309 characters.", "469308 characters", "469,309"),
    ("Accuracy is 96 % here.", "accuracy 0.951", "96 %"),
    ("The cache is 2.5× faster.", "speed-up 1.31", "2.5×"),
    ("The cache is 2x faster.", "speed-up 1.31", "2x"),
    ("Loss 1.5, a 4 x 128 model.", "", "1.5"),                             # a shape is no ratio
    ("Training: 2,000 steps.", "", "2,000"),                               # neither printed nor set
    ("Adam uses 0.999. It is {cite}`kingma2015`'s choice.", "", "0.999"),   # the citation is elsewhere
    ("A table:\n\n| size | loss |\n| --- | --- |\n| 4 x 128 | 1.812 |", "1.81", "1.812"),
    ("A log:\n\n```text\nloss 1.8635\n```", "", "1.8635"),                 # a quoted log is not an output
])
def test_planted_mismatches_are_caught(markdown, printed, planted):
    found = unbacked_numbers(_notebook(markdown, printed))
    assert [number for _, number, _ in found] == [planted]


def test_a_setting_in_the_code_backs_the_prose():
    nb = _notebook("Training: 1,000 steps of 128 windows.", code="steps = 1_000\nbatch = 128")
    assert unbacked_numbers(nb) == []
    assert [n for _, n, _ in unbacked_numbers(_notebook("Training: 1,000 steps.", code="steps = 100"))] == ["1,000"]
