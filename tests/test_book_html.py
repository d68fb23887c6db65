"""The book's Sphinx tweaks (_ext/book_html.py): alt text, tester markup, progress bars, scripts, codecs.

The rendered result is checked on the built book: tester markup is gone but the cell is marked,
every tqdm bar is text, and no widget script is left.
"""
import codecs
import re
import sys

import nbformat

from utils.notebooks import ROOT

sys.path.insert(0, str(ROOT / "_ext"))
import book_html  # noqa: E402


def test_figure_titles_are_the_literal_titles_in_order():
    source = '''fig, axes = plt.subplots(1, 2)
axes[0].set_title("Softmax saturation vs head size")
axes[1].set(xlabel="T", ylabel="ms", title='Memory of the $T \\\\times T$ matrix')
ax.set_title(f"layer {layer}, head {head}")          # placeholders only: says little
fig.suptitle(f"Attention weights of the trained GPT on {line!r}")
ax.set_title(name)                                   # a variable: nothing to read
utils.plots.loss_curves(curves, title="Softmax saturation vs head size")'''
    assert book_html.figure_titles(source) == [
        "Softmax saturation vs head size", "Memory of the T \\\\times T matrix",
        "Attention weights of the trained GPT on …"]
    assert book_html.figure_titles("plt.plot(x, y)\nplt.show()") == []
    source = r"""ax.set_title('After "ROMEO:\\n": $\nabla$ loss\nper step')"""
    assert book_html.figure_titles(source) == ['After "ROMEO: ": \\nabla loss per step']  # \n: a line break


def test_nbval_lines_are_removed_from_the_shown_source():
    text = "# NBVAL_CHECK_OUTPUT\nprint(1)\n    # NBVAL_IGNORE_OUTPUT\nx = 1  # NBVAL_ not a marker line\n"
    assert book_html.NBVAL_LINE.sub("", text) == "print(1)\nx = 1  # NBVAL_ not a marker line\n"


def test_latex_codecs_work_after_the_catch_all_is_moved_last():
    book_html.put_catch_all_codec_last()
    assert codecs.decode(r"J{\"u}rgen Schmidhuber", "ulatex") == "J{ü}rgen Schmidhuber"


def test_duplicate_scripts_are_dropped():
    from sphinx.builders.html._assets import _JavaScript

    scripts = [_JavaScript(None, body="const A = 1"), _JavaScript("x.js"),
               _JavaScript("", body="const A = 1"),      # Sphinx's second copy of an inline script
               _JavaScript("x.js"), _JavaScript("y.js", **{"async": "async"})]
    context = {"script_files": scripts}
    book_html.dedupe_scripts(None, "page", "page.html", context, None)
    assert [(js.filename, js.attributes) for js in context["script_files"]] == [
        (None, {"body": "const A = 1"}), ("x.js", {}), ("y.js", {"async": "async"})]


def _chapter_pages(built_book):
    for notebook in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")):
        page = built_book / "chapters" / f"{notebook.stem}.html"
        if page.exists():
            yield nbformat.read(notebook, as_version=4), page.read_text(encoding="utf-8")


def test_checked_cells_are_marked_and_their_markup_is_not_shown(built_book):
    pages = list(_chapter_pages(built_book))
    assert pages
    for nb, html in pages:
        checked = sum(c.cell_type == "code" and c.source.lstrip().startswith("# NBVAL_CHECK_OUTPUT")
                      for c in nb.cells)
        marked = re.findall(r'<div class="cell\b[^"]*\bnbval-checked\b', html)
        assert len(marked) == checked
        assert "NBVAL_" not in html


def test_progress_bars_are_text_and_no_widget_script_is_loaded(built_book):
    for nb, html in _chapter_pages(built_book):
        views = sum("application/vnd.jupyter.widget-view+json" in out.get("data", {})
                    for c in nb.cells if c.cell_type == "code" for out in c.outputs)
        assert len(re.findall(r'class="output text_plain widget_text', html)) == views
        assert "widget-view+json" not in html and "widget-state+json" not in html
        assert "require.min.js" not in html and "html-manager" not in html
