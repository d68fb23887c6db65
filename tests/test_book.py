"""The HTML book builds with warnings as errors and has a page for every chapter in the TOC."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from utils.notebooks import ROOT


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run([str(jb), "build", str(ROOT), "--path-output", str(out), "--warningiserror",
                             "--keep-going"], capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return out / "_build" / "html"


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
