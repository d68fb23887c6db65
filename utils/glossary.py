"""The book's English–Chinese glossary (appendix), gathered from the chapters' own glossary tables.

Every chapter ends with ``## Glossary``: a Markdown table ``English | 中文 | Meaning``. Those
tables are the one source of truth; ``python -m utils.glossary`` merges them into
``chapters/appendix_glossary.md`` (terms in alphabetical order, each linked to the chapters that
define it), and ``tests/test_glossary.py`` checks that the committed page is up to date.

A term defined in several chapters (matched case-insensitively, ignoring brackets) appears once,
with the meaning given where it first appears and every Chinese rendering the chapters use.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from utils import checks

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "chapters" / "appendix_glossary.md"
HEADER = ("English", "中文", "Meaning")

__all__ = ["Term", "Entry", "toc_chapters", "parse_table", "chapter_terms", "merge", "render", "main"]


@dataclass(frozen=True)
class Term:
    """One row of a chapter's glossary table."""
    english: str
    chinese: str
    meaning: str

    def __post_init__(self):
        for name in ("english", "chinese", "meaning"):
            checks.string(getattr(self, name), name, nonempty=True)


@dataclass
class Entry:
    """One row of the book's glossary: a term and the chapters (stem, number) that define it."""
    english: str
    chinese: list[str]
    meaning: str
    chapters: list[tuple[str, int]] = field(default_factory=list)

    def __post_init__(self):
        checks.string(self.english, "english", nonempty=True)
        checks.string(self.meaning, "meaning", nonempty=True)
        chinese = self.chinese
        if not (isinstance(chinese, list) and chinese and all(isinstance(c, str) for c in chinese)):
            raise checks.ArgumentTypeError(f"chinese must be a non-empty list of str, got {self.chinese!r}")
        if not isinstance(self.chapters, list) or not all(
                isinstance(c, tuple) and len(c) == 2 and isinstance(c[0], str) and isinstance(c[1], int)
                for c in self.chapters):
            raise checks.ArgumentTypeError(f"chapters must be a list of (stem, number) pairs, "
                                           f"got {self.chapters!r}")


def toc_chapters(toc: Path = ROOT / "_toc.yml") -> list[Path]:
    """The chapter notebooks the book lists (``chapters/NN_name`` entries of ``_toc.yml``), in order."""
    toc = checks.existing_file(toc, "toc")
    names = re.findall(r"file:\s*chapters/(\d\d_[\w-]+)\s*$", toc.read_text(encoding="utf-8"), re.M)
    return [toc.parent / "chapters" / f"{name}.ipynb" for name in names]


def _cells(row: str) -> list[str]:
    row = row.strip()
    if not (row.startswith("|") and row.endswith("|")):
        raise ValueError(f"table row must start and end with '|': {row!r}")
    return [cell.strip().replace(r"\|", "|") for cell in re.split(r"(?<!\\)\|", row[1:-1])]


def parse_table(markdown: str, source: str = "<markdown>") -> list[Term]:
    """The rows of the ``## Glossary`` table in ``markdown``.

    Raises ``ValueError`` (naming ``source``) if there is no such section, if the header is not
    ``English | 中文 | Meaning``, or if a row has a wrong number of cells or an empty cell.
    """
    checks.string(markdown, "markdown")
    checks.string(source, "source")
    match = re.search(r"^## Glossary[ \t]*\n(.*?)(?=^#{1,2} |\Z)", markdown, re.M | re.S)
    if not match:
        raise ValueError(f"{source}: no '## Glossary' section")
    rows = [line for line in match.group(1).splitlines() if line.strip().startswith("|")]
    if len(rows) < 3:
        raise ValueError(f"{source}: the glossary table needs a header, a separator and at least one row")
    if tuple(_cells(rows[0])) != HEADER:
        raise ValueError(f"{source}: glossary header must be {' | '.join(HEADER)!r}, got {rows[0].strip()!r}")
    if not all(re.fullmatch(r":?-{3,}:?", cell) for cell in _cells(rows[1])):
        raise ValueError(f"{source}: the second table row must be the separator, got {rows[1].strip()!r}")
    terms = []
    for row in rows[2:]:
        cells = _cells(row)
        if len(cells) != 3 or not all(cells):
            raise ValueError(f"{source}: glossary row needs 3 non-empty cells: {row.strip()!r}")
        terms.append(Term(*cells))
    return terms


def chapter_terms(path: Path) -> list[Term]:
    """The glossary of one chapter notebook (from its markdown cells)."""
    import nbformat

    path = checks.existing_file(path, "path")
    try:
        nb = nbformat.read(path, as_version=4)
    except ValueError as e:                       # nbformat's NotJSONError is a ValueError
        raise ValueError(f"path: {path} is not a notebook ({e})") from None
    markdown = "\n\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    return parse_table(markdown, source=path.name)


def _key(english: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[()（）]", " ", english)).strip().casefold()


def _same_chinese(a: str, b: str) -> bool:
    norm = lambda s: re.sub(r"[\s()（）]", "", s)  # noqa: E731 - width of brackets and spaces differ
    return norm(a) == norm(b)


def merge(glossaries: list[tuple[str, int, list[Term]]]) -> list[Entry]:
    """Merge per-chapter term lists ``(stem, number, terms)`` into alphabetical entries."""
    if isinstance(glossaries, str) or not hasattr(glossaries, "__iter__"):
        raise checks.ArgumentTypeError(f"glossaries must be a list of (stem, number, terms), "
                                       f"got {type(glossaries).__name__}")
    glossaries = list(glossaries)
    for g in glossaries:
        if not (isinstance(g, tuple) and len(g) == 3 and isinstance(g[0], str) and isinstance(g[1], int)
                and isinstance(g[2], list) and all(isinstance(t, Term) for t in g[2])):
            raise checks.ArgumentTypeError("glossaries must hold (stem: str, number: int, [Term, ...]), "
                                           f"got {g!r:.80}")
    entries: dict[str, Entry] = {}
    for stem, number, terms in glossaries:
        for term in terms:
            entry = entries.get(_key(term.english))
            if entry is None:
                entry = entries[_key(term.english)] = Entry(term.english, [term.chinese], term.meaning)
            elif not any(_same_chinese(term.chinese, c) for c in entry.chinese):
                entry.chinese.append(term.chinese)
            if (stem, number) not in entry.chapters:
                entry.chapters.append((stem, number))
    return sorted(entries.values(), key=lambda e: (_key(e.english).lstrip("-"), e.english))


def _escape(text: str) -> str:
    return text.replace("|", r"\|")


def render(entries: list[Entry], n_chapters: int) -> str:
    """The Markdown page: an introduction, then one table per initial letter."""
    if not isinstance(entries, list) or not all(isinstance(e, Entry) for e in entries):
        raise checks.ArgumentTypeError("entries must be a list of Entry (from merge)")
    checks.integer(n_chapters, "n_chapters", 1)
    lines = [
        "# Glossary: English–中文",
        "",
        "<!-- Generated by `python -m utils.glossary` from the glossary tables at the end of the",
        "     chapters. Do not edit by hand: edit the chapter's table and rerun the command. -->",
        "",
        f"Every term from the glossaries at the end of the chapters, {len(entries)} terms from "
        f"{n_chapters} chapters, in alphabetical order. A term that several chapters define appears "
        "once, with the meaning from the chapter where it first appears and every Chinese "
        "rendering the chapters use; the numbers link to each chapter's own glossary.",
        "",
    ]
    sections: dict[str, list[str]] = {}
    for entry in entries:
        initial = _key(entry.english).lstrip("-")[:1].upper()
        links = ", ".join(f"[{number}]({stem}.ipynb#glossary)" for stem, number in entry.chapters)
        sections.setdefault(initial if initial.isalpha() else "#", []).append(
            f"| {_escape(entry.english)} | {_escape(' / '.join(entry.chinese))} | "
            f"{_escape(entry.meaning)} | {links} |")
    for letter, rows in sections.items():
        lines += [f"## {letter}", "", "| English | 中文 | Meaning | Chapters |",
                  "| --- | --- | --- | --- |", *rows, ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def entries(toc: Path = ROOT / "_toc.yml") -> list[Entry]:
    """The book's glossary: the merged entries of the chapters listed in ``toc``."""
    chapters = toc_chapters(toc)
    if not chapters:
        raise ValueError(f"{toc}: lists no chapters/NN_name entries")
    return merge([(path.stem, int(path.stem[:2]), chapter_terms(path)) for path in chapters])


def build(toc: Path = ROOT / "_toc.yml") -> str:
    """The glossary page for the chapters listed in ``toc``."""
    return render(entries(toc), len(toc_chapters(toc)))


def main(argv: list[str] | None = None) -> int:
    """Write ``chapters/appendix_glossary.md``; with ``--check`` only report whether it is current."""
    argv = sys.argv[1:] if argv is None else checks.strings(argv, "argv", nonempty=False)
    unknown = [a for a in argv if a != "--check"]
    if unknown:
        raise ValueError(f"argv: unknown arguments {unknown}; the only option is --check")
    text = build()
    current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else None
    if "--check" in argv:
        print(f"{PAGE.relative_to(ROOT)} is {'up to date' if current == text else 'OUT OF DATE'}")
        return 0 if current == text else 1
    if current != text:
        PAGE.write_text(text, encoding="utf-8")
    print(f"{PAGE.relative_to(ROOT)}: {'written' if current != text else 'unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
