"""The glossary appendix is generated from the chapters' glossary tables and is up to date."""
import pytest

from utils import glossary
from utils.notebooks import ROOT

TABLE = """## Glossary

| English | 中文 | Meaning |
| --- | --- | --- |
| perplexity | 困惑度 | $e^{H}$ |
| hidden state | 隐藏状态 | the vector $h_t$ |
"""


def test_committed_page_is_up_to_date():
    assert glossary.PAGE.is_file(), "run `python -m utils.glossary`"
    assert glossary.PAGE.read_text(encoding="utf-8") == glossary.build(), \
        "chapters/appendix_glossary.md is stale: run `python -m utils.glossary`"


def test_every_listed_chapter_has_a_glossary_of_at_least_eight_terms():
    chapters = glossary.toc_chapters()
    assert chapters, "_toc.yml lists no chapter"
    for path in chapters:
        terms = glossary.chapter_terms(path)
        assert len(terms) >= 8, path.name
        chinese = [t for t in terms if any("\u4e00" <= ch <= "\u9fff" for ch in t.chinese)]
        assert len(chinese) >= 0.75 * len(terms), path.name   # names such as "GPT-2" stay as they are


def test_every_chapter_term_is_on_the_page_with_a_link_to_its_chapter():
    page = glossary.PAGE.read_text(encoding="utf-8")
    for path in glossary.toc_chapters():
        for term in glossary.chapter_terms(path):
            if f"| {term.english} |" in page:
                row = next(line for line in page.splitlines() if line.startswith(f"| {term.english} |"))
                assert f"({path.stem}.ipynb#glossary)" in row, (path.stem, term.english)
            else:                                  # merged into a term of an earlier chapter
                assert f"({path.stem}.ipynb#glossary)" in page, (path.stem, term.english)


def test_parse_table_reads_rows_and_escaped_pipes():
    terms = glossary.parse_table(TABLE + "| a \\| b | 甲 | x |\n\n## Next\n| not | part | of it |\n")
    assert [t.english for t in terms] == ["perplexity", "hidden state", "a | b"]
    assert terms[0] == glossary.Term("perplexity", "困惑度", "$e^{H}$")


@pytest.mark.parametrize("text, message", [
    ("## Summary\n\n- nothing\n", "no '## Glossary'"),
    (TABLE.replace("| English | 中文 | Meaning |", "| English | Chinese | Meaning |"), "header"),
    (TABLE.replace("| --- | --- | --- |", "| a | b | c |"), "separator"),
    (TABLE + "| only two | 两 |\n", "3 non-empty cells"),
    (TABLE + "| empty meaning | 空 |  |\n", "3 non-empty cells"),
    ("## Glossary\n\n| English | 中文 | Meaning |\n| --- | --- | --- |\n", "at least one row"),
])
def test_parse_table_rejects_malformed_tables(text, message):
    with pytest.raises(ValueError, match="ch99.ipynb") as err:
        glossary.parse_table(text, source="ch99.ipynb")
    assert message in str(err.value)


def test_merge_joins_a_term_across_chapters_and_sorts():
    t = glossary.Term
    merged = glossary.merge([
        ("01_a", 1, [t("Logits", "对数几率（logits）", "first meaning"), t("zeta", "泽塔", "z")]),
        ("02_b", 2, [t("logits", "对数几率 (logits)", "second meaning"), t("embedding", "嵌入", "e")]),
        ("03_c", 3, [t("embedding", "嵌入（词向量）", "e3"),
                     t("chain rule (of probability)", "链式法则", "c")]),
    ])
    assert [e.english for e in merged] == ["chain rule (of probability)", "embedding", "Logits", "zeta"]
    logits = merged[2]
    assert logits.meaning == "first meaning" and logits.chinese == ["对数几率（logits）"]
    assert logits.chapters == [("01_a", 1), ("02_b", 2)]
    assert merged[1].chinese == ["嵌入", "嵌入（词向量）"]


def test_render_escapes_pipes_and_groups_by_letter():
    terms = [glossary.Term("a|b", "甲", "x | y"), glossary.Term("beta", "乙", "b")]
    entries = glossary.merge([("01_a", 1, terms)])
    page = glossary.render(entries, 1)
    assert "| a\\|b | 甲 | x \\| y | [1](01_a.ipynb#glossary) |" in page
    assert "## A" in page and "## B" in page
    assert page.endswith("\n") and not page.endswith("\n\n")


def test_toc_chapters_are_the_chapter_entries_in_order(tmp_path):
    (tmp_path / "_toc.yml").write_text("root: intro\nparts:\n  - chapters:\n      - file: chapters/02_b\n"
                                       "      - file: chapters/01_a\n      - file: chapters/appendix_faq\n")
    assert [p.name for p in glossary.toc_chapters(tmp_path / "_toc.yml")] == ["02_b.ipynb", "01_a.ipynb"]
    assert glossary.toc_chapters()[0].parent == ROOT / "chapters"
