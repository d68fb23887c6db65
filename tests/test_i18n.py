"""The Chinese edition: every message translated and current, terms as the glossary has them,
the Chinese notebooks generated from the English ones and the catalogues.

The built pages are checked in test_browser.py: every page links to its other edition and back, a
Chinese page shows no English message that has a translation and no block of four English words,
its contents and alt texts are Chinese, its Colab button opens the Chinese notebook, every formula is
typeset.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from utils import i18n
from utils import glossary
from utils.notebooks import ROOT

CHAPTERS = [p.name for p in i18n.book_notebooks()]
# A message that is only a link to a named tool or book ("[Jupyter Book](https://jupyterbook.org/)")
NAMED_LINK = re.compile(r"\[(?:[A-Z0-9][\w.-]*[ -]?)+\]\([^)\s]+\)")


def messages():
    """``(page, message)`` for every message of every catalogue (not the header)."""
    for po in i18n.catalogue_paths():
        for message in i18n.read_catalogue(po):
            if message.id:
                yield i18n.page_of(po), message


def where(page: str, message) -> str:
    path, line = message.locations[0] if message.locations else (page, None)
    return f"{page} ({Path(path).name}:{line}): {message.id[:90]!r}"


def test_every_page_of_the_book_has_a_catalogue():
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    pages = [re.search(r"^root:\s*(\S+)", toc, re.M).group(1)] + re.findall(r"file:\s*(\S+)", toc)
    missing = [page for page in pages if not (i18n.CATALOGUES / f"{page}.po").is_file()]
    assert not missing, f"no catalogue for {missing}: run `make translations`"


def test_every_message_is_translated_and_none_is_fuzzy():
    """A fuzzy message is an English paragraph that changed after it was translated."""
    problems = [("fuzzy " if m.fuzzy else "untranslated ") + where(page, m)
                for page, m in messages() if m.fuzzy or not m.string]
    assert not problems, (f"{len(problems)} messages to translate in locale/{i18n.LANGUAGE}/LC_MESSAGES/:\n"
                          + "\n".join(problems[:40]))


def test_no_english_text_is_passed_off_as_its_own_translation():
    """English of two words or more kept as it is: only a glossary's English term or a name may be."""
    terms = {cell for page in i18n.book_notebooks() for t in glossary.chapter_terms(page)
             for cell in (t.english, t.chinese)}              # a glossary row's English and 中文 cells
    problems = [where(page, m) for page, m in messages()
                if m.string == m.id and i18n.needs_translation(m.id) and m.id not in terms
                and not NAMED_LINK.fullmatch(m.id)
                and len(re.findall(r"[A-Za-z]{2,}", i18n.prose(m.id))) >= 2]
    assert not problems, "translated as themselves:\n" + "\n".join(problems[:40])


def test_a_translation_keeps_the_markup_of_its_message():
    """Every piece of code and maths of the English is in the Chinese, the same citations and link
    targets (a translation may repeat a symbol), and bold stays balanced."""
    kept = re.compile(r"`[^`]*`|\$\$?[^$]+\$\$?")
    exact = re.compile(r"\{[a-z:-]+\}`[^`]*`|\]\([^)]*\)")
    problems = []
    for page, m in messages():
        if m.string and m.string != m.id:
            lost = set(kept.findall(m.id)) - set(kept.findall(m.string))
            if lost:
                problems.append(f"{where(page, m)}: lost {sorted(lost)[:3]}")
            if sorted(exact.findall(m.id)) != sorted(exact.findall(m.string)):
                problems.append(f"{where(page, m)}: citations or link targets differ")
            if m.string.count("**") % 2:
                problems.append(f"{where(page, m)}: unbalanced **")
    assert not problems, f"{len(problems)} translations change their markup:\n" + "\n".join(problems[:40])


def test_the_catalogues_hold_the_current_english(tmp_path):
    """A fresh extraction of the English pages gives exactly the messages the catalogues hold."""
    pot_dir = i18n.extract(tmp_path / "_build" / "gettext")
    problems = []
    for pot in sorted(pot_dir.rglob("*.pot")):
        page = pot.relative_to(pot_dir).with_suffix("").as_posix()
        with open(pot, "rb") as f:
            fresh = {m.id for m in read_po(f) if m.id}
        po = i18n.CATALOGUES / f"{page}.po"
        held = {m.id for m in i18n.read_catalogue(po) if m.id} if po.is_file() else set()
        problems += [f"{page}: new English {msgid[:90]!r}" for msgid in sorted(fresh - held)]
        problems += [f"{page}: no longer in the English {msgid[:90]!r}" for msgid in sorted(held - fresh)]
    pages = {pot.relative_to(pot_dir).with_suffix("").as_posix() for pot in pot_dir.rglob("*.pot")}
    problems += [f"{page}: a catalogue for a page the book no longer has"
                 for page in sorted({i18n.page_of(po) for po in i18n.catalogue_paths()} - pages)]
    assert not problems, "run `make translations`, then translate:\n" + "\n".join(problems[:40])


# ---------------------------------------------------------------- terminology


def _alternatives(cell: str, chinese: bool) -> list[str]:
    """The renderings a glossary cell offers: 'A / B' gives both, 'A（B）' gives A and B."""
    found = []
    for part in re.split(r"\s+/\s+|/", cell) if chinese else re.split(r"\s+/\s+", cell):
        inner = re.findall(r"[（(]([^）)]*)[）)]", part)
        core = re.sub(r"\s*[（(][^）)]*[）)]", "", part).strip()
        found += [core] + ([i.strip() for i in inner] if chinese else [])
    return [f for f in found if f]


def glossary_terms() -> list[tuple[str, list[str]]]:
    """``(English term, Chinese renderings)`` from the book's glossary (``utils.glossary.entries``)."""
    terms = []
    for entry in glossary.entries():
        english = _alternatives(entry.english, False)
        chinese = [c for cell in entry.chinese for c in _alternatives(cell, True)]
        if len(english) > 1 and len({len(e.split()) for e in english}) > 1:
            terms.append((" / ".join(english), chinese))     # "training / validation / test split": one term
        elif len(english) == len(chinese):                   # "back-off / interpolation": two terms
            terms += [(e, [c]) for e, c in zip(english, chinese)]
        else:
            terms += [(e, chinese) for e in english]
    return terms


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


def uses_term(english: str, chinese: list[str], msgstr: str) -> bool:
    """True if ``msgstr`` holds one of the renderings, or the English term itself.

    Chinese technical writing keeps some terms in English (TF-IDF after its first use, 词例（token）
    where the English counts running words rather than model tokens); a different Chinese word for
    the term is what this rejects."""
    text = _compact(msgstr)
    return _compact(english) in text or any(_compact(c) in text for c in chinese)


def test_the_glossary_gives_the_terms():
    terms = dict(glossary_terms())
    assert len(terms) > 100
    assert terms["token"] == ["词元"] and terms["interpolation"] == ["插值"]
    assert "层归一化" in terms["layer normalisation"]
    assert "training" not in terms and terms["test set"] == ["测试集"]
    assert uses_term("softmax", terms["softmax"], "用 softmax 函数归一化")
    assert uses_term("token", terms["token"], "按词例（token）计")
    assert not uses_term("token", terms["token"], "每个标记")
    assert not uses_term("n-gram", terms["n-gram"], "该 n 元组")


# Where a glossary word means something else on a page: a class meeting, not TensorFlow 1's Session.
OTHER_SENSE = {"session": {"chapters/instructor_guide"}}
QUOTED = re.compile(r'"[^"]*"|“[^”]*”')     # a quotation keeps its author's words, not the glossary's


def test_every_glossary_term_in_the_english_is_the_glossary_term_in_the_chinese():
    terms = [(re.compile(r"(?<![\w-])" + re.escape(e) + r"(?:s|es)?(?![\w-])", re.I), e, c)
             for e, c in glossary_terms()]
    problems = []
    for page, m in messages():
        if not m.string or m.string == m.id:
            continue
        text = QUOTED.sub(" ", i18n.prose(m.id))
        for pattern, english, chinese in terms:
            if page in OTHER_SENSE.get(english, ()):
                continue
            if pattern.search(text) and not uses_term(english, chinese, m.string):
                problems.append(f"{english!r} → {' / '.join(chinese)} missing in {where(page, m)}")
    assert not problems, f"{len(problems)} terms not as the glossary has them:\n" + "\n".join(problems[:60])


# ---------------------------------------------------------------- the Chinese notebooks


@pytest.mark.parametrize("name", CHAPTERS)
def test_the_chinese_notebook_is_generated_from_the_english_and_the_catalogue(name):
    stored = ROOT / "zh" / "chapters" / name
    assert stored.is_file(), f"no {stored}: run `make translations`"
    expected = i18n.notebook_text(i18n.chinese_notebook(ROOT / "chapters" / name))
    assert stored.read_text(encoding="utf-8") == expected, f"{stored} is stale: run `make translations`"


@pytest.mark.parametrize("name", CHAPTERS)
def test_the_chinese_notebook_has_the_english_code_and_outputs_and_chinese_prose(name):
    english = json.loads((ROOT / "chapters" / name).read_text(encoding="utf-8"))
    chinese = json.loads((ROOT / "zh" / "chapters" / name).read_text(encoding="utf-8"))
    assert len(chinese["cells"]) == len(english["cells"])
    left = []
    for index, (en, zh) in enumerate(zip(english["cells"], chinese["cells"])):
        assert zh["cell_type"] == en["cell_type"] and zh.get("metadata") == en.get("metadata"), index
        if en["cell_type"] == "code":
            assert zh["source"] == en["source"] and zh["outputs"] == en["outputs"], f"cell {index}"
            continue
        text = re.sub(r"```.*?```|\$\$.*?\$\$", " ", "".join(zh["source"]), flags=re.S)
        for block in re.split(r"\n\s*\n|\n(?=\s*(?:[-*+]|\d+\.|\|) )", text):
            if i18n.english_prose(i18n.prose(block)) and not block.lstrip().startswith(("<!--", "(", ":")):
                left.append(f"cell {index}: {block.strip()[:90]!r}")
    assert not left, "English prose in the Chinese notebook:\n" + "\n".join(left)


def test_there_is_a_chinese_notebook_for_every_chapter_and_no_other():
    stored = sorted(p.name for p in (ROOT / "zh" / "chapters").glob("*.ipynb"))
    assert stored == sorted(CHAPTERS), "run `make translations` (and delete a removed chapter's zh notebook)"


def test_the_data_and_figures_the_chinese_notebooks_read_are_the_englishs():
    assert (ROOT / "zh" / "data").resolve() == (ROOT / "data").resolve()
    assert (ROOT / "zh" / "chapters" / "figures").resolve() == (ROOT / "chapters" / "figures").resolve()


# ---------------------------------------------------------------- how a message is found in a notebook


def test_a_paragraph_over_several_lines_of_a_list_item_is_replaced_whole():
    source = "Intro.\n\n1. first item that goes\n   on over a line;\n2. second\n"
    text, found = i18n.translate_markdown(source, {"first item that goes on over a line;": "第一项；"})
    assert text == "Intro.\n\n1. 第一项；\n2. second\n" and found == {"first item that goes on over a line;"}


def test_a_table_cell_is_replaced_only_where_it_is_a_whole_cell():
    source = "| English | Meaning |\n| --- | --- |\n| token | one token of text |\n"
    text, found = i18n.translate_markdown(source, {"token": "词元", "Meaning": "含义"})
    assert text == "| English | 含义 |\n| --- | --- |\n| 词元 | one token of text |\n"


def test_a_message_that_is_only_part_of_a_block_is_not_replaced():
    source = "## Summary\n\nThe summary of the chapter.\n"
    text, found = i18n.translate_markdown(source, {"Summary": "小结", "summary": "摘要"})
    assert text == "## 小结\n\nThe summary of the chapter.\n" and found == {"Summary"}
    for source in ("Summary\nof the results.\n", "- Attention\n  is all you need.\n",
                   "Before it.\nSummary\n"):                        # the first or last line of a block
        assert i18n.translate_markdown(source, {"Summary": "小结", "Attention": "注意力"}) == (source, set())


def test_code_fences_and_comments_are_not_translated_as_sphinx_does_not():
    source = "```python\nSummary\n```\n\n<!-- Summary -->\n\nSummary\n"
    assert i18n.translate_markdown(source, {"Summary": "小结"}) == (source[:-8] + "小结\n", {"Summary"})


def test_a_fuzzy_translation_stays_out_of_the_notebook_as_it_does_of_the_page():
    from babel.messages.catalog import Catalog

    catalog = Catalog(locale=i18n.LANGUAGE)
    catalog.add("Summary", "小结")
    catalog.add("A changed paragraph.", "旧的翻译。", flags=["fuzzy"])
    assert i18n.notebook_translations(catalog) == {"Summary": "小结"}


def test_a_translated_message_found_nowhere_is_an_error_not_english_left_behind():
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Title\n", "\n", "Text."]}]}
    assert i18n.translate_notebook(nb, {"Title": "标题"}, "page")["cells"][0]["source"][0] == "# 标题\n"
    with pytest.raises(ValueError, match="page: 1 translated messages.*'Missing paragraph.'"):
        i18n.translate_notebook(nb, {"Title": "标题", "Missing paragraph.": "缺失的段落。"}, "page")


def test_only_prose_needs_a_translator():
    assert i18n.needs_translation("The *chain rule* of probability.")
    assert not i18n.needs_translation("$P(x_t \\mid x_{<t})$, `np.log`")
    assert not i18n.needs_translation("[5](05_training.ipynb#glossary)")
    assert not i18n.needs_translation("\nP(x) = \\prod_t \\text{softmax}(z)_t\n")      # a display formula


def test_one_english_message_has_one_translation_on_every_page():
    """A glossary meaning, a shared heading or the set-up cell's note reads the same on every page."""
    seen: dict[str, tuple[str, str]] = {}
    problems = []
    for page, m in messages():
        if m.string and m.string != m.id:
            first = seen.setdefault(m.id, (page, m.string))
            if first[1] != m.string:
                problems.append(f"{where(page, m)}: {m.string[:40]!r} here, {first[1][:40]!r} in {first[0]}")
    assert not problems, "\n".join(problems[:40])


def test_every_translation_reads_back_as_one_paragraph():
    """Sphinx parses a translation again as MyST and drops it, silently, unless it is the same kind of
    node: a heading "5. Translation" translated as "5. 翻译" would be read as a list (write "5\\. 翻译")."""
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    extensions = set(re.findall(r"^\s+-\s+(\w+)\s*$", (ROOT / "_config.yml").read_text(), re.M))
    md = create_md_parser(MdParserConfig(enable_extensions=extensions & {
        "amsmath", "dollarmath", "colon_fence", "deflist"}), RendererHTML)
    assert md.parse("5. 翻译")[0].type == "ordered_list_open" and md.parse("5\\. 翻译")[0].type == "paragraph_open"
    problems = []
    for page, m in messages():
        if m.string and m.string != m.id:
            blocks = [t.type for t in md.parse(m.string) if t.level == 0]
            if blocks != ["paragraph_open", "paragraph_close"]:
                problems.append(f"{where(page, m)}: read back as {blocks[:3]}")
    assert not problems, "\n".join(problems[:40])


def test_bad_input_gets_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no catalogue .*utils.i18n update"):
        i18n.read_catalogue(tmp_path / "missing.po")
    with pytest.raises(ValueError, match="pot_dir must end in _build/gettext"):
        i18n.extract(tmp_path / "pots")
    with pytest.raises(SystemExit, match="usage: python -m utils.i18n {update|notebooks|build}"):
        i18n.main(["translate"])
