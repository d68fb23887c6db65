"""Shared fixtures: the HTML book is built once per test session (test_book.py and test_browser.py use it)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from utils.notebooks import ROOT


def _build(what: str, command: list[str]) -> None:
    """Run a build; fail the session with its warnings and errors if it does not succeed."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=1200, cwd=ROOT)
    if result.returncode != 0:
        output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)    # no colour codes
        problems = [line for line in output.splitlines() if re.search(r"WARNING|ERROR|Error|Exception", line)]
        pytest.fail(f"{what} does not build with warnings as errors:\n" + "\n".join(problems[:80])
                    + ("\n" if problems else "") + output[-3000:], pytrace=False)


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    """Build the book and its Chinese edition (``_build/html/zh``) with warnings as errors; return ``_build/html``.

    The build goes to a temporary folder, or to ``$BOOK_BUILD_DIR`` when that is set (to keep the
    pages and the browser test's screenshots, ``_build/screenshots/``, for inspection).
    """
    keep = os.environ.get("BOOK_BUILD_DIR")
    out = Path(keep) if keep else tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).parent / "jupyter-book"
    _build("the book", [str(jb), "build", str(ROOT), "--path-output", str(out), "--warningiserror",
                        "--keep-going"])
    html = out / "_build" / "html"
    _build("the Chinese edition", [sys.executable, "-m", "utils.i18n", "build", str(html)])
    return html


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run fastest on one thread (and do not fight other processes for cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
