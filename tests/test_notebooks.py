"""Every chapter notebook is stored executed, error-free, listed in the book, with the shared set-up cell.

Running the notebooks themselves is nbval's job (`pytest chapters --nbval-lax`, part of `make test`).
"""
import re
from pathlib import Path

import nbformat
import pytest

from utils.notebooks import ROOT, SETUP_MARK, WIDGET_STATE, WIDGET_VIEW, setup_cell_source, store_bar_text, widget_text

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


def test_widget_text_renders_a_tqdm_bar_and_refuses_unknown_widgets():
    state = {
        "box": {"model_name": "HBoxModel",
                "state": {"children": ["IPY_MODEL_a", "IPY_MODEL_b", "IPY_MODEL_c"]}},
        "a": {"model_name": "HTMLModel", "state": {"value": "train: 50%"}},
        "b": {"model_name": "FloatProgressModel", "state": {"min": 0, "max": 10, "value": 5}},
        "c": {"model_name": "HTMLModel", "state": {"value": " 5/10 [00:01&lt;00:01, 5.00it/s]"}},
        "slider": {"model_name": "IntSliderModel", "state": {"value": 3}},
    }
    bar = "|" + "#" * 10 + " " * 10 + "|"
    assert widget_text("box", state) == f"train: 50% {bar} 5/10 [00:01<00:01, 5.00it/s]"
    assert widget_text("slider", state) is None
    assert widget_text("missing", state) is None



def test_store_bar_text_replaces_the_first_frame_by_the_final_state():
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {WIDGET_STATE: {"state": {
        "box": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_a", "IPY_MODEL_b", "IPY_MODEL_c"]}},
        "a": {"model_name": "HTMLModel", "state": {"value": "train:\u2007100%"}},
        "b": {"model_name": "FloatProgressModel", "state": {"min": 0, "max": 3, "value": 3}},
        "c": {"model_name": "HTMLModel", "state": {"value": "\u20073/3\u2007[00:01&lt;00:00,\u2007\u20072.90it/s]"}}}}}
    frozen = "train:   0%|          | 0/3 [00:00<?, ?it/s]"
    cell = nbformat.v4.new_code_cell("for _ in tqdm(range(3)): pass", outputs=[nbformat.v4.new_output(
        "display_data", data={WIDGET_VIEW: {"model_id": "box"}, "text/plain": frozen})])
    nb.cells.append(cell)
    assert store_bar_text(nb) == 1
    assert cell.outputs[0].data["text/plain"] == "train: 100% |" + "#" * 20 + "| 3/3 [00:01<00:00, 2.90it/s]"
    assert store_bar_text(nb) == 0                       # already true: nothing to change


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_stored_progress_bars_show_their_final_state(path):
    """GitHub, nbviewer and Colab show a bar's text form: it must be the finished bar, not 0%."""
    nb = nbformat.read(path, as_version=4)
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in code_cells(nb):
        for out in cell.outputs:
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                continue
            text = out.data.get("text/plain", "")
            assert text == widget_text(view["model_id"], state), f"stale bar text {text!r}: run `make execute`"
            box = state[view["model_id"]]["state"]["children"]
            bar = next(state[c.replace("IPY_MODEL_", "")]["state"] for c in box
                       if "Progress" in state[c.replace("IPY_MODEL_", "")]["model_name"])
            if bar["value"] == bar["max"]:
                assert "100%" in text and " 0%" not in text, text
