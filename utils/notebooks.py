"""Keeping the chapter notebooks in shape: the shared set-up cell and execution.

``python -m utils.notebooks execute chapters/*.ipynb`` (what ``make execute`` runs)
rewrites each notebook's first code cell from :func:`setup_cell_source`, then runs
the notebook top to bottom in place and prints the wall time.

A ``tqdm.auto`` progress bar is a Jupyter widget. Its stored text form (what GitHub, nbviewer and
Colab show without the widget) is the bar's *first* frame, "0%| | 0/3000", because the kernel never
resends it; :func:`store_bar_text` rewrites it from the widget's saved final state after a run.
"""
from __future__ import annotations

import html
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUP_MARK = "# Set-up (the same in every chapter)"


def repository_url(config: Path = ROOT / "_config.yml") -> str:
    """The repository URL from ``_config.yml`` (its one home)."""
    match = re.search(r"^repository:\s*\n(?:\s+#.*\n)*\s+url:\s*(\S+)", config.read_text(), re.M)
    if not match:
        raise ValueError(f"{config} has no repository.url")
    return match.group(1)


def setup_cell_source(url: str | None = None) -> str:
    """The first code cell of every chapter: works here, in Colab and in CI."""
    url = url or repository_url()
    return f'''{SETUP_MARK}: in Colab, fetch the book's code and data.
import sys
if "google.colab" in sys.modules:
    import os, subprocess
    if not os.path.isdir("/content/llm-book"):
        subprocess.run(["git", "clone", "--depth=1", "{url}", "/content/llm-book"], check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/llm-book"], check=True)
    sys.path.insert(0, "/content/llm-book")
    os.chdir("/content/llm-book/chapters")
import utils
utils.print_versions()'''


def _first_code_cell(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            return cell
    raise ValueError("notebook has no code cell")


def stamp_setup_cell(nb) -> None:
    """Replace the notebook's first code cell by the current set-up cell."""
    cell = _first_code_cell(nb)
    if not cell.source.startswith(SETUP_MARK):
        raise ValueError(f"the first code cell must start with {SETUP_MARK!r}")
    cell.source = setup_cell_source()


# Lines TensorFlow/absl print to stderr at import on a machine without CUDA: noise, not content.
_CHATTER = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWE]\d{4} [\d:.]+ +\d+ \S+\.cc:\d+\]).*\n?", re.M)


def strip_chatter(nb) -> int:
    """Remove TensorFlow's start-up log lines from stderr outputs; return how many outputs changed."""
    changed = 0
    for cell in nb.cells:
        outputs = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                text = _CHATTER.sub("", out["text"])
                changed += text != out["text"]
                if not text.strip():
                    continue
                out["text"] = text
            outputs.append(out)
        if cell.cell_type == "code":
            cell.outputs = outputs
    return changed


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_TAG = re.compile(r"<[^>]+>")


def widget_text(model_id: str, state: dict, depth: int = 0) -> str | None:
    """Plain text for a saved widget (a tqdm bar: HBox of HTML, progress, HTML); None if unknown.

    ``state`` maps model ids to ``{"model_name": ..., "state": {...}}`` as a notebook's
    ``metadata.widgets`` stores them. A bar reads "train: 100% |####################| 500/500 [...]".
    """
    model = state.get(model_id)
    if model is None or depth > 5:
        return None
    name, values = model.get("model_name", ""), model.get("state", {})
    if "children" in values:
        parts = [widget_text(child.replace("IPY_MODEL_", ""), state, depth + 1)
                 for child in values["children"]]
        if any(part is None for part in parts):
            return None
        return " ".join(part for part in parts if part)
    if name in ("HTMLModel", "LabelModel", "HTMLMathModel"):
        text = html.unescape(_TAG.sub("", str(values.get("value", ""))))
        return re.sub(r"[\u2007\xa0 ]+", " ", text).strip()   # tqdm pads with figure spaces
    if name in ("FloatProgressModel", "IntProgressModel"):
        lo, hi, value = values.get("min", 0), values.get("max", 100), values.get("value", 0)
        filled = round(20 * (value - lo) / (hi - lo)) if hi > lo else 20
        filled = max(0, min(20, filled))
        return "|" + "#" * filled + " " * (20 - filled) + "|"
    return None


def store_bar_text(nb) -> int:
    """Set each widget output's text form to the widget's saved final state; return how many changed."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    changed = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            text = widget_text(view.get("model_id", ""), state) if isinstance(view, dict) else None
            if text is not None and out["data"].get("text/plain") != text:
                out["data"]["text/plain"] = text
                changed += 1
    return changed


def execute(path: Path, timeout: int = 900) -> float:
    """Stamp the set-up cell, run the notebook in its folder, store outputs; return seconds."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    stamp_setup_cell(nb)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    strip_chatter(nb)
    store_bar_text(nb)
    nbformat.write(nb, path)
    return seconds


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "execute":
        sys.exit("usage: python -m utils.notebooks execute NOTEBOOK [NOTEBOOK ...]")
    for name in sys.argv[2:]:
        print(f"{name}: executed in {execute(Path(name)):.1f} s", flush=True)
