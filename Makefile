# Two commands do all the set-up on a fresh machine:  make book   and   make test
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install book test execute translations lab bench assignments browser clean

# Create .venv and install the pinned requirements and the book's `utils` package (editable).
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Build the HTML book into _build/html and its Chinese edition into _build/html/zh; any Sphinx warning is an error.
book: $(STAMP)
	$(VENV)/bin/jupyter-book build . --warningiserror --keep-going
	$(PY) -m utils.i18n build

# Every test: helpers, formula checks, notebooks through nbval, the book build.
test: $(STAMP) browser
	$(PY) -m pytest tests chapters --nbval-lax -q

# Headless Chromium for the rendered-page tests (Debian's package; installed once, needs root or sudo).
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }

# Re-run every chapter notebook in place (set-up cell rewritten from _config.yml) and store the outputs.
execute: $(STAMP)
	$(PY) -m utils.notebooks execute chapters/*.ipynb
	$(PY) -m utils.i18n notebooks

# The Chinese edition after the English text changed: re-extract the messages into the catalogues
# locale/zh_CN/LC_MESSAGES/*.po (a changed paragraph comes back fuzzy, a new one empty: translate
# them there), then regenerate the Chinese notebooks zh/chapters/*.ipynb from the catalogues.
translations: $(STAMP)
	$(PY) -m utils.i18n update
	$(PY) -m utils.i18n notebooks

# Open the chapters in JupyterLab (installed on first use).
lab: $(STAMP)
	$(PY) -m pip install -q jupyterlab
	$(VENV)/bin/jupyter lab chapters

# Speed benchmarks: each script prints its figures (tokens/s, ms/iteration, losses).
bench: $(STAMP)
	@for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

# Classroom: student and autograder versions of every chapter's exercises, into assignments/.
assignments: $(STAMP)
	$(PY) -m utils.assignments

clean:
	rm -rf _build
