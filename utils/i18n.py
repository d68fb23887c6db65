"""The Chinese edition (中文版): one English source, Sphinx's gettext catalogues for the translation.

The English notebooks and Markdown pages are the only source of the text. Sphinx's ``gettext``
builder cuts every page into messages (a paragraph, a heading, a list item, a table cell, a
caption); ``sphinx-intl`` keeps one catalogue per page in ``locale/zh_CN/LC_MESSAGES/`` (an
English paragraph that changes comes back *fuzzy*, with the old translation to revise, or empty if
it changed beyond recognition; a new one empty). Three commands:

``python -m utils.i18n update``
    re-extract the messages and update the catalogues (what ``make translations`` runs first);
``python -m utils.i18n notebooks``
    write the Chinese notebooks ``zh/chapters/*.ipynb``: the English notebooks with every
    Markdown message replaced by its translation, code and stored outputs unchanged;
``python -m utils.i18n build [OUTPUT]``
    build the Chinese web book into ``_build/html/zh/`` (``make book`` runs it after the English).

A message with nothing to translate (a formula, a number, a link, text already in Chinese) is
filled with itself by ``update``, so that a translator sees only prose.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from utils.notebooks import ROOT

LANGUAGE = "zh_CN"
LOCALE = ROOT / "locale"
CATALOGUES = LOCALE / LANGUAGE / "LC_MESSAGES"
POT_DIR = ROOT / "_build" / "gettext"     # inside the book, so that source locations are stable
ZH_ROOT = ROOT / "zh"                     # the generated Chinese notebooks, zh/chapters/*.ipynb

# What is not prose: inline code, maths, roles such as {cite}`key`, link targets, HTML tags.
_NOT_PROSE = re.compile(r"`[^`]*`|\$\$.*?\$\$|\$(?!\s)[^$]*?(?<!\s)\$|\{[a-z:-]+\}|\]\([^)]*\)"
                        r"|</?[a-zA-Z!][^>]*>|&[a-z]+;")


def prose(text: str) -> str:
    """``text`` without code, maths, roles, link targets and HTML: what a translator translates."""
    return _NOT_PROSE.sub(" ", text)


def needs_translation(msgid: str) -> bool:
    """True if the message holds a Latin word of two or more letters outside code and maths.

    A display formula (Sphinx's message for it starts with a line break) is never translated.
    """
    if msgid.startswith("\n"):
        return False
    return re.search(r"[A-Za-z]{2,}", prose(msgid)) is not None


def english_prose(text: str, words: int = 6) -> bool:
    """True for text with ``words`` English words or more and no Chinese character: left untranslated."""
    return (re.search(r"[\u3400-\u9fff]", text) is None
            and len(re.findall(r"[A-Za-z]{2,}", text)) >= words)


def extract(pot_dir: Path = POT_DIR) -> Path:
    """Run Sphinx's gettext builder over the book, every page read afresh; return the ``.pot`` folder."""
    jb = Path(sys.executable).parent / "jupyter-book"
    build = pot_dir.parent.parent        # jupyter-book writes to <path-output>/_build/gettext
    if pot_dir != build / "_build" / "gettext":
        raise ValueError(f"pot_dir must end in _build/gettext, got {pot_dir}")
    result = subprocess.run([str(jb), "build", str(ROOT), "--builder", "custom", "--custom-builder",
                             "gettext", "--path-output", str(build), "--all", "--warningiserror", "--keep-going"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError("the gettext build failed:\n" + result.stdout[-3000:] + result.stderr[-3000:])
    return pot_dir


def book_title() -> str:
    """The English title, from ``_config.yml``."""
    import yaml

    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["title"]


def read_catalogue(path: Path):
    """The catalogue at ``path`` (a ``babel.messages.catalog.Catalog``)."""
    from babel.messages.pofile import read_po

    if not path.is_file():
        raise FileNotFoundError(f"no catalogue {path}: run `python -m utils.i18n update`")
    with open(path, "rb") as f:
        return read_po(f, locale=LANGUAGE)


def write_catalogue(catalog, path: Path) -> None:
    """Write ``catalog`` to ``path`` as sphinx-intl does (76 columns), without obsolete messages;
    a file that would not change is left alone (so Sphinx does not rebuild its page)."""
    import io

    from babel.messages.pofile import write_po

    buffer = io.BytesIO()
    write_po(buffer, catalog, width=76, ignore_obsolete=True)
    if not path.is_file() or path.read_bytes() != buffer.getvalue():
        path.write_bytes(buffer.getvalue())


def catalogue_paths() -> list[Path]:
    """Every page's catalogue, ``locale/zh_CN/LC_MESSAGES/**/*.po``."""
    return sorted(CATALOGUES.rglob("*.po"))


def page_of(po: Path) -> str:
    """The page a catalogue belongs to: ``chapters/01_background`` for ``chapters/01_background.po``."""
    return po.relative_to(CATALOGUES).with_suffix("").as_posix()


def fill_untranslatable(catalog) -> int:
    """Give every message with nothing to translate itself as translation; return how many."""
    filled = 0
    for message in catalog:
        if message.id and (message.fuzzy or not message.string) and not needs_translation(message.id):
            message.string = message.id
            message.flags.discard("fuzzy")
            filled += 1
    return filled


def update() -> None:
    """Re-extract the messages and update every page's catalogue (new, changed, removed)."""
    from sphinx_intl.basic import update as intl_update

    intl_update(str(LOCALE), str(extract()), (LANGUAGE,), line_width=76, ignore_obsolete=True)
    for po in catalogue_paths():
        catalog = read_catalogue(po)
        fill_untranslatable(catalog)
        catalog.project, catalog.fuzzy = book_title(), False
        catalog.last_translator = catalog.language_team = "The LLM book team"
        write_catalogue(catalog, po)


_GAP = r"(?:[ \t\r]*\n[ \t>]*|[ \t]+)"    # a space of the message: a space, or a line break and indent
_BLOCK_START = re.compile(r"[ \t>]*(?:#{1,6} +|[-*+] +|\d+[.)] +|: +|:[a-z-]+: +|[:`]{3,}\{[^}]*\} *)?")
_BLOCK_END = re.compile(r"[ \t]*(?:\{#[^}]*\})?[ \t\r]*")
# A line that starts a block of its own (so a block above it has ended): a list item, heading, table
# row, directive fence or option, display formula, label, or a blank line.
_NEW_BLOCK = re.compile(r"[ \t>]*(?:$|#{1,6} |[-*+] |\d+[.)] |\||[:`]{3}|:[a-z-]+:|\$\$|\(|<)")
# What Sphinx does not translate: code fences without a directive, and HTML comments.
_UNTRANSLATED = re.compile(r"^[ \t]*(`{3,}|~{3,})(?!\{).*?^[ \t]*\1[ \t]*$|<!--.*?-->", re.M | re.S)


def _pattern(msgid: str) -> re.Pattern:
    """``msgid`` as it stands in the source: Sphinx joined a paragraph's lines with spaces."""
    return re.compile(_GAP.join(re.escape(part) for part in msgid.split()))


def _whole_block(text: str, start: int, end: int) -> bool:
    """True if ``text[start:end]`` is a whole block: a paragraph, heading, list item or table cell.

    On its first line only a block marker may come before it, and the line above is blank or a block
    of its own; on its last line nothing follows, and the next line starts a new block.
    """
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    before, after = text[line_start:start], text[end:line_end]
    if before.rstrip(" ").endswith("|") and after.lstrip(" ").startswith("|"):
        return True
    if _BLOCK_START.fullmatch(before) is None or _BLOCK_END.fullmatch(after) is None:
        return False
    above = text[text.rfind("\n", 0, max(line_start - 1, 0)) + 1:max(line_start - 1, 0)]
    below_end = text.find("\n", line_end + 1)
    below = text[line_end + 1:len(text) if below_end < 0 else below_end]
    starts_block = line_start == 0 or before.strip() != "" or _NEW_BLOCK.match(above) is not None
    ends_block = line_end >= len(text) or _NEW_BLOCK.match(below) is not None
    return starts_block and ends_block


def translate_markdown(source: str, translations: dict[str, str]) -> tuple[str, set[str]]:
    """``source`` with every whole block that is a message replaced by its translation.

    Returns the new text and the messages found. Longer messages go first; a match inside a block
    already replaced, one that is only part of a block, and one inside a code fence or an HTML
    comment (which Sphinx does not translate either) are left alone.
    """
    taken: list[tuple[int, int, str]] = [(m.start(), m.end(), "") for m in _UNTRANSLATED.finditer(source)]
    found = set()
    for msgid in sorted(translations, key=len, reverse=True):
        for match in _pattern(msgid).finditer(source):
            if any(a < match.end() and match.start() < b for a, b, _ in taken):
                continue
            if _whole_block(source, match.start(), match.end()):
                taken.append((match.start(), match.end(), translations[msgid]))
                found.add(msgid)
    for start, end, msgstr in sorted(taken, reverse=True):
        if msgstr:
            source = source[:start] + msgstr + source[end:]
    return source, found


def notebook_translations(catalog) -> dict[str, str]:
    """The messages of a page whose translation is current (not fuzzy) and differs from the English.

    A fuzzy message keeps the English on the web page (Sphinx skips it), so it does in the notebook.
    """
    return {m.id: m.string for m in catalog
            if m.id and m.string and not m.fuzzy and m.string != m.id}


def translate_notebook(nb: dict, translations: dict[str, str], where: str) -> dict:
    """A copy of ``nb`` with its Markdown cells translated; code cells and outputs are untouched.

    Raises ``ValueError`` naming ``where`` and the message if a message is found in no cell.
    """
    nb = json.loads(json.dumps(nb))
    found: set[str] = set()
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            text, in_cell = translate_markdown("".join(cell["source"]), translations)
            cell["source"] = text.splitlines(keepends=True)
            found |= in_cell
    missing = [msgid for msgid in translations if msgid not in found]
    if missing:
        raise ValueError(f"{where}: {len(missing)} translated messages are not whole blocks of the "
                         f"notebook's Markdown, first {missing[0][:80]!r}; if the English changed, "
                         "run `make translations` and translate what comes back")
    return nb


def chinese_notebook(notebook: Path) -> dict:
    """The Chinese notebook of the English ``notebook`` (a path under the book), from its catalogue."""
    page = notebook.relative_to(ROOT).with_suffix("")
    catalog = read_catalogue(CATALOGUES / page.with_suffix(".po"))
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return translate_notebook(nb, notebook_translations(catalog), str(page))


def notebook_text(nb: dict) -> str:
    """A notebook as the book stores it (one-space indent, UTF-8 as is, final newline)."""
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def book_notebooks() -> list[Path]:
    """The chapter notebooks of the book: the ``.ipynb`` pages that ``_toc.yml`` lists."""
    from utils.glossary import toc_chapters

    return [path for path in toc_chapters() if path.suffix == ".ipynb"]


def write_notebooks() -> list[Path]:
    """Write ``zh/chapters/<name>.ipynb`` for every chapter notebook; return their paths."""
    written = []
    for notebook in book_notebooks():
        target = ZH_ROOT / notebook.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(notebook_text(chinese_notebook(notebook)).encode("utf-8"))   # "\n" everywhere
        written.append(target)
    return written


def build(html: Path = ROOT / "_build" / "html") -> Path:
    """Build the Chinese web book into ``html/zh`` (warnings are errors, as for the English).

    Sphinx works in ``html/../zh-sphinx/`` (its doctrees and myst-nb's ``jupyter_execute`` stay out
    of the English pages), and the result replaces ``html/zh``; the pages' links are relative.
    """
    import shutil

    from jupyter_book.sphinx import build_sphinx

    html = html.resolve()
    work = html.parent / "zh-sphinx"
    title = book_title()
    root = re.search(r"^root:\s*(\S+)", (ROOT / "_toc.yml").read_text(encoding="utf-8"), re.M).group(1)
    translated = read_catalogue(CATALOGUES / f"{root}.po").get(title)
    if translated is not None and translated.string and not translated.fuzzy:
        title = translated.string
    result = build_sphinx(ROOT, work / "html", noconfig=True, path_config=str(ROOT / "_config.yml"),
                          confoverrides={"language": LANGUAGE, "latex_individualpages": False,
                                         "html_title": title,
                                         "external_toc_path": (ROOT / "_toc.yml").as_posix()},
                          doctreedir=work / ".doctrees", builder="html", warningiserror=True,
                          keep_going=True)
    if result != 0:
        raise RuntimeError(f"the Chinese book does not build with warnings as errors (status {result})")
    for notebook in book_notebooks():            # "download .ipynb" gives the Chinese notebook
        chinese = ZH_ROOT / notebook.relative_to(ROOT)
        source = work / "html" / "_sources" / notebook.relative_to(ROOT)
        if not chinese.is_file() or not source.is_file():
            raise FileNotFoundError(f"no {chinese} or no {source}: run `make translations`")
        source.write_bytes(chinese.read_bytes())
    shutil.rmtree(html / "zh", ignore_errors=True)
    shutil.copytree(work / "html", html / "zh")
    return html / "zh"


def main(argv: list[str]) -> None:
    commands = {"update": update, "notebooks": write_notebooks, "build": build}
    if len(argv) < 1 or argv[0] not in commands:
        raise SystemExit(f"usage: python -m utils.i18n {{{'|'.join(commands)}}} [html folder for build]")
    if argv[0] == "build" and len(argv) > 1:
        print(build(Path(argv[1])))
    else:
        result = commands[argv[0]]()
        print(result if result is not None else "catalogues updated in " + str(CATALOGUES))


if __name__ == "__main__":
    main(sys.argv[1:])
