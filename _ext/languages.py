"""The book in two languages: the English pages at ``_build/html/`` and the Chinese at ``_build/html/zh/``.

Every page gets a link to the same page in the other edition (``utils.i18n`` builds the Chinese one
with ``language = zh_CN`` and the translated title). In the Chinese build the Colab button opens the
Chinese notebook ``zh/<page>.ipynb``, and the captions of the table of contents ("Chapters", ...) are
translated from the front page's catalogue: sphinx-external-toc adds the toctrees after Sphinx has
applied the translations, so Sphinx alone would leave them in English. The titles of the exercises
are made translatable in both builds (sphinx-exercise gives them no source, so Sphinx would neither
extract nor translate them).
"""
from __future__ import annotations

import posixpath
from pathlib import Path

from sphinx.transforms import SphinxTransform

EDITION_FOLDER = "zh"        # the Chinese edition's folder, inside the English one's


def chinese(config) -> bool:
    return (config.language or "en").startswith("zh")


def on_config_inited(app, config) -> None:
    if chinese(config):                 # <path_to_book>/zh/<page>.ipynb, where utils.i18n writes it
        docs = config.html_theme_options.get("path_to_docs", "").strip("/")
        config.html_theme_options = {**config.html_theme_options,
                                     "path_to_docs": posixpath.join(docs, EDITION_FOLDER)}


def translations(app, docname: str) -> dict[str, str]:
    """The translated, not fuzzy, messages of ``docname``'s catalogue."""
    from babel.messages.pofile import read_po

    for folder in app.config.locale_dirs:
        po = Path(app.srcdir, folder, app.config.language, "LC_MESSAGES", f"{docname}.po")
        if po.is_file():
            with open(po, "rb") as f:
                return {m.id: m.string for m in read_po(f) if m.id and m.string and not m.fuzzy}
    return {}


def translate_toctree_captions(app, doctree) -> None:
    from sphinx import addnodes

    if not chinese(app.config):
        return
    captions = [node for node in doctree.findall(addnodes.toctree) if node.get("caption")]
    messages = translations(app, app.env.docname) if captions else {}
    for node in captions:
        node["caption"] = messages.get(node["caption"], node["caption"])


class TranslatableExerciseTitles(SphinxTransform):
    """Give each exercise's title the source, line and raw text that Sphinx's translation looks for,
    and keep them on the exercise: sphinx-exercise folds the title into its heading before the
    gettext builder extracts the messages (``extract_exercise_titles`` adds them to the catalogue)."""
    default_priority = 15                     # before Sphinx's Locale transform (20)

    def apply(self, **kwargs) -> None:
        from sphinx_exercise.nodes import exercise_enumerable_node, exercise_node, exercise_subtitle

        for node in self.document.findall(exercise_subtitle):
            exercise = node.parent
            while exercise is not None and not isinstance(exercise, (exercise_node, exercise_enumerable_node)):
                exercise = exercise.parent
            if not node.source and exercise is not None:
                node.source = self.document["source"]
                node.line = exercise.line
                node.rawsource = node.astext()
                exercise["title_message"] = [node.rawsource, node.source, node.line]


def extract_exercise_titles(app, doctree, docname: str) -> None:
    """In the gettext build, add each exercise's (English) title to its page's catalogue."""
    from types import SimpleNamespace

    from docutils import nodes
    from sphinx.util.i18n import docname_to_domain

    if app.builder.name != "gettext":
        return
    catalog = app.builder.catalogs[docname_to_domain(docname, app.config.gettext_compact)]
    for node in doctree.findall(lambda n: isinstance(n, nodes.Element) and "title_message" in n):
        message, source, line = node["title_message"]
        catalog.add(message, SimpleNamespace(source=source, line=line, uid=""))


def other_edition(pagename: str, in_chinese: bool) -> str:
    """The relative URL of ``pagename`` in the other edition."""
    up = "../" * pagename.count("/")
    return (f"../{up}{pagename}.html" if in_chinese
            else f"{up}{EDITION_FOLDER}/{pagename}.html")


def add_language_link(app, pagename, templatename, context, doctree) -> None:
    if "body" not in context:
        return
    in_chinese = chinese(app.config)
    href = other_edition(pagename, in_chinese)
    label, lang = ("English", "en") if in_chinese else ("中文版", "zh-CN")
    context["body"] = (f'<p class="language-switch"><a class="reference external" href="{href}" '
                       f'hreflang="{lang}" lang="{lang}">{label}</a></p>\n' + context["body"])


def setup(app):
    app.connect("config-inited", on_config_inited)
    app.add_transform(TranslatableExerciseTitles)
    app.connect("doctree-resolved", extract_exercise_titles)
    app.connect("doctree-read", translate_toctree_captions, priority=400)   # before the toctree collector
    app.connect("html-page-context", add_language_link)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
