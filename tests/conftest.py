"""Shared fixtures: the HTML book is built once per test session (test_book.py and test_browser.py use it)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from utils.notebooks import ROOT


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    """Build the book with warnings as errors; return its ``_build/html`` folder.

    The build goes to a temporary folder, or to ``$BOOK_BUILD_DIR`` when that is set (to keep the
    pages and the browser test's screenshots, ``_build/screenshots/``, for inspection).
    """
    keep = os.environ.get("BOOK_BUILD_DIR")
    out = Path(keep) if keep else tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run([str(jb), "build", str(ROOT), "--path-output", str(out), "--warningiserror",
                             "--keep-going"], capture_output=True, text=True, timeout=1200)
    if result.returncode != 0:
        output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)    # no colour codes
        problems = [line for line in output.splitlines() if re.search(r"WARNING|ERROR|Error|Exception", line)]
        pytest.fail("the book does not build with warnings as errors:\n" + "\n".join(problems[:80])
                    + ("\n" if problems else "") + output[-3000:], pytrace=False)
    return out / "_build" / "html"


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run fastest on one thread (and do not fight other processes for cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
