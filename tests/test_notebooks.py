"""Every chapter notebook is stored executed, error-free, listed in the book, with the shared set-up cell.

Running the notebooks themselves is nbval's job (`pytest chapters --nbval-lax`, part of `make test`).
"""
import re
from pathlib import Path

import nbformat
import pytest

from utils.notebooks import ROOT, SETUP_MARK, setup_cell_source

CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
TOC = (ROOT / "_toc.yml").read_text()


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]


def test_there_are_chapters():
    assert CHAPTERS, "no chapter notebooks found"


def test_toc_lists_exactly_the_chapters_that_exist():
    listed = re.findall(r"file:\s*chapters/(\d\d_\S+)", TOC)
    assert sorted(listed) == [p.stem for p in CHAPTERS]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_first_code_cell_is_the_shared_set_up_cell(path):
    nb = nbformat.read(path, as_version=4)
    first = code_cells(nb)[0]
    assert first.source.startswith(SETUP_MARK)
    assert first.source == setup_cell_source(), "run `make execute` to refresh the set-up cell"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_notebook_is_stored_executed_in_order_without_errors(path):
    nb = nbformat.read(path, as_version=4)
    counts = [c.execution_count for c in code_cells(nb)]
    assert None not in counts, "some code cells were never executed"
    assert counts == list(range(1, len(counts) + 1)), "cells were not executed once, top to bottom"
    errors = [o for c in code_cells(nb) for o in c.outputs if o.output_type == "error"]
    assert not errors


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_has_title_exercises_summary_and_glossary(path):
    nb = nbformat.read(path, as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert re.match(r"# \S", nb.cells[0].source), "the first cell is the chapter title"
    for heading in ("## Exercises", "## Summary", "## Glossary"):
        assert heading in markdown, heading
    assert "```{exercise}" in markdown
    assert re.search(r"[\u4e00-\u9fff]", markdown), "the glossary has Chinese terms"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_notebook_stays_lean(path):
    assert path.stat().st_size < 3_000_000
