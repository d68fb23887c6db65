"""The HTML book builds with warnings as errors and has a page for every chapter in the TOC.

The build itself is the session fixture ``built_book`` in conftest.py (shared with test_browser.py).
"""
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from utils.notebooks import ROOT


def test_every_toc_page_is_built(built_book):
    toc = (ROOT / "_toc.yml").read_text()
    pages = ["intro"] + re.findall(r"file:\s*(\S+)", toc)
    for page in pages:
        html = built_book / f"{page}.html"
        assert html.exists(), page
        assert len(html.read_text()) > 10_000


def test_chapter_pages_show_figures_and_colab_button(built_book):
    for page in sorted((built_book / "chapters").glob("[0-9][0-9]_*.html")):
        html = page.read_text()
        assert "<img" in html, page.name
        assert "colab.research.google.com" in html, page.name


class _Anchors(HTMLParser):
    """Collects the ids (link targets) and the href/src references of one HTML page."""

    def __init__(self):
        super().__init__()
        self.ids, self.refs = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(key):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key):
                self.refs.append(attrs[key])


def internal_links(html_root: Path):
    """(page, reference, target file, fragment) for every local href/src of every page."""
    html_root = html_root.resolve()
    parsed = {}
    for page in sorted(html_root.rglob("*.html")):
        if any(part.startswith("_") for part in page.relative_to(html_root).parts[:-1]):
            continue
        parser = _Anchors()
        parser.feed(page.read_text(encoding="utf-8"))
        parsed[page] = parser
    links = []
    for page, parser in parsed.items():
        for ref in parser.refs:
            parts = urlsplit(ref)
            if parts.scheme or parts.netloc or ref.startswith(("javascript:", "data:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            links.append((page, ref, target, unquote(parts.fragment)))
    return parsed, links


def test_every_internal_link_and_anchor_resolves(built_book):
    built_book = built_book.resolve()
    parsed, links = internal_links(built_book)
    assert len(links) > 100
    broken = []
    for page, ref, target, fragment in links:
        if not target.is_file():
            broken.append(f"{page.relative_to(built_book)}: {ref} (no such file)")
        elif fragment and target.suffix == ".html":
            ids = parsed[target].ids if target in parsed else _parse_ids(target)
            if fragment not in ids:
                broken.append(f"{page.relative_to(built_book)}: {ref} (no id {fragment!r})")
    assert not broken, "\n".join(broken)


def _parse_ids(path: Path) -> set:
    parser = _Anchors()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.ids
