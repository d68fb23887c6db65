"""The rendered book in a real browser: every page of the built HTML opened in headless Chromium.

The book is built once (fixture ``built_book``, conftest.py), served on localhost, and every page is
opened in Debian's ``chromium`` (``make browser`` installs it) driven by Playwright. Requests that
leave localhost are blocked, as for a reader offline, and recorded; any such request fails the test.
MathJax 3 is part of the built book (``_static/mathjax/``, copied there by the pinned
``sphinx-mathjax-offline`` package), so offline too every formula must be typeset: none left as its
TeX source (``\\(P(x_t \\mid x_{<t})\\)``, ``$$ ... $$``), no TeX error, no undefined macro. A
full-page screenshot of each page goes to ``_build/screenshots/`` next to ``_build/html`` (set
``BOOK_BUILD_DIR`` to keep them).
"""
from __future__ import annotations

import functools
import http.server
import importlib.util
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest

from utils.notebooks import ROOT, repository_url

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The page's MathJax script under _static/ (_config.yml's mathjax_path, which sphinx-mathjax-offline sets).
MATHJAX_PATH = re.search(r"^\s*mathjax_path:\s*(\S+)", (ROOT / "_config.yml").read_text(), re.M).group(1)
# TeX source left on the page: what a formula looks like when MathJax did not typeset it.
VISIBLE_TEX = re.compile(r"\\\(.*?\\\)|\\\[.*?\\\]|\$\$.+?\$\$|\\begin\{[a-z]+\*?\}", re.S)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Markup for the test and grading tools (nbval, otter-grader) that must not reach a reader: looked for in
# the code cells and their outputs, and in the prose; directive syntax in the prose means a failed parse.
TOOL_MARKUP = re.compile(r"NBVAL_[A-Z_]+|#\s*(?:BEGIN|END)\s+(?:QUESTION|SOLUTION|TESTS|PROMPT)\b"
                         r"|^\s*#\s*SOLUTION\b", re.M)
RAW_DIRECTIVE = re.compile(r"\{(?:solution-start|solution-end|exercise)\}|:label:\s*ex-|:class:\s*dropdown")

# What the page shows, gathered in the browser after the page has loaded.
PAGE_FACTS_JS = """() => {
  const imgs = Array.from(document.images).map(i => ({
      src: i.currentSrc || i.src, alt: i.getAttribute('alt'), complete: i.complete,
      width: i.naturalWidth, height: i.naturalHeight, inOutput: !!i.closest('.cell_output'),
      inArticle: !!i.closest('article')}));
  const links = Array.from(document.querySelectorAll('a[href]')).map(a => a.href);
  const math = Array.from(document.querySelectorAll('span.math, div.math')).map(m => {
      const copy = m.cloneNode(true);                 // without the equation number "(1)"
      copy.querySelectorAll('.eqno, mjx-container').forEach(e => e.remove());
      return {typeset: !!m.querySelector('mjx-container'), text: copy.textContent.trim()};
  });
  if (!document.body) throw new Error('page not ready');
  const h1 = document.querySelector('main h1, article h1, h1');
  const refs = Array.from(document.querySelectorAll('a.reference.internal[href*="#"]')).map(a => {
      const id = decodeURIComponent(a.hash.slice(1));
      const same = a.pathname === location.pathname;
      const target = same && id ? document.getElementById(id) : null;
      return {text: a.textContent.trim(), same: same,
              kind: target ? (target.closest('figure') ? 'figure' :
                              target.closest('div.math, span.eqno') ? 'equation' : '')
                           : ''};
  });
  return {
    title: h1 ? h1.textContent.replace(/[#¶]/g, '').trim() : '',
    text: document.body.innerText, imgs, links, math,
    cells: Array.from(document.querySelectorAll('.cell')).map(c => c.textContent).join(' '),
    prose: (() => {                                   // the page's text outside code (prose may quote it)
      const main = (document.querySelector('main') || document.body).cloneNode(true);
      main.querySelectorAll('code, pre, .cell, script, style').forEach(e => e.remove());
      return main.textContent; })(),
    proseBlocks: (() => {                             // innermost paragraphs, items, cells, headings
      const main = (document.querySelector('main') || document.body).cloneNode(true);
      main.querySelectorAll('code, pre, .cell, script, style, mjx-container, .math, .citation, .language-switch'
                            ).forEach(e => e.remove());
      return Array.from(main.querySelectorAll('p, li, td, th, h1, h2, h3, h4, h5, h6, dt, dd, figcaption, caption'))
          .filter(b => !b.querySelector('p, li, td, th, dd'))
          .map(b => b.textContent.replace(/[#¶]/g, '').trim()).filter(t => t); })(),
    navBlocks: Array.from(document.querySelectorAll('.bd-sidebar-primary p.caption, .bd-sidebar-primary li > a'))
        .map(e => e.textContent.trim()).filter(t => t),
    languageLinks: Array.from(document.querySelectorAll('.language-switch a')).map(a => a.href),
    mathjaxScripts: Array.from(document.scripts).filter(s => /mathjax/i.test(s.src)).map(s => s.src),
    typeset: document.querySelectorAll('mjx-container').length,
    visibleText: (() => {                             // what the reader sees, less code and typeset math
      const main = (document.querySelector('main') || document.body).cloneNode(true);
      main.querySelectorAll('code, pre, script, style, mjx-container').forEach(e => e.remove());
      return main.textContent; })(),
    mathErrors: [                                     // TeX errors, and undefined macros (shown in red)
      ...Array.from(document.querySelectorAll('mjx-merror[data-mjx-error]')).map(e => e.dataset.mjxError),
      ...Array.from(document.querySelectorAll('mjx-assistive-mml mtext[mathcolor="red"]')).map(
          e => 'undefined ' + e.textContent)],
    prev: (document.querySelector('a.left-prev') || {}).href || null,
    next: (document.querySelector('a.right-next') || {}).href || null,
    colab: Array.from(document.querySelectorAll('a[href*="colab.research.google.com"]')).map(a => a.href),
    figuresWithCaption: document.querySelectorAll('figure figcaption').length,
    figuresNumbered: document.querySelectorAll('figure figcaption .caption-number').length,
    labelledEquations: document.querySelectorAll('div.math[id]').length,
    numberedEquations: document.querySelectorAll('div.math[id] .eqno').length,
    refs,
  };
}"""
# Waits until MathJax has typeset the page and its fonts have loaded; says how that went.
MATHJAX_WAIT_JS = """async () => {
  if (!Array.from(document.scripts).some(s => /mathjax/i.test(s.src))) return 'no MathJax script';
  for (let i = 0; i < 50 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
    await new Promise(r => setTimeout(r, 100));
  if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return 'MathJax did not start';
  try { await MathJax.startup.promise; } catch (e) { return 'MathJax failed: ' + e; }
  await document.fonts.ready;
  return 'typeset';
}"""


@dataclass
class Visit:
    """What the browser saw on one page."""
    path: str
    status: int | None = None
    facts: dict = field(default_factory=dict)
    page_errors: list = field(default_factory=list)       # uncaught JavaScript exceptions
    console_errors: list = field(default_factory=list)    # (text, url of the script or resource)
    blocked: list = field(default_factory=list)           # external requests, aborted
    failed: list = field(default_factory=list)            # local requests that failed or were >= 400
    mathjax: str = ""                                     # "typeset", "no MathJax script", or what failed


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def book_pages(html_root: Path) -> list[str]:
    """Every HTML page of the book (not the theme's files under ``_static`` and the like)."""
    return sorted(p.relative_to(html_root).as_posix() for p in html_root.rglob("*.html")
                  if not any(part.startswith("_") for part in p.relative_to(html_root).parts[:-1]))


def toc_order() -> list[str]:
    """The pages in reading order: the root, then every ``file:`` entry of ``_toc.yml``."""
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    root = re.search(r"^root:\s*(\S+)", toc, re.M).group(1)
    return [f"{root}.html"] + [f"{name}.html" for name in re.findall(r"^\s*-?\s*file:\s*(\S+)", toc, re.M)]


def chapter_title(stem: str, edition: str = "") -> str:
    """The chapter's title, from its notebook (``edition`` "zh/": the Chinese notebook)."""
    import nbformat

    nb = nbformat.read(ROOT / edition / "chapters" / f"{stem}.ipynb", as_version=4)
    return nb.cells[0].source.splitlines()[0].lstrip("#").strip()


@pytest.fixture(scope="module")
def browse(built_book):
    """Serve the book on localhost, open every page in headless Chromium, return base URL and visits."""
    require_browser()
    return browse_book(built_book)


def require_browser() -> None:
    """Fail (not skip: a skipped browser test would pass CI unseen) if Playwright or Chromium is missing."""
    try:
        import playwright.sync_api  # noqa: F401 - installed with otter-grader (requirements.txt)
    except ImportError:
        pytest.fail("Playwright is missing: `make install` installs it (a dependency of otter-grader)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's package (`make browser`)")


def browse_book(html_root: Path) -> tuple[str, dict[str, Visit]]:
    """Open every page of the built book; save screenshots and ``browser_report.txt`` beside it."""
    from playwright.sync_api import sync_playwright

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_QuietHandler, directory=str(html_root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}/"
    shots = html_root.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    visits = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            for path in book_pages(html_root):
                visits[path] = _visit(context, base, path, shots)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    (html_root.parent / "browser_report.txt").write_text(report(base, visits), encoding="utf-8")
    return base, visits


def report(base: str, visits: dict[str, Visit]) -> str:
    """A summary for people: pages, links, images, and what was blocked (loaded from elsewhere)."""
    links = [href for v in visits.values() for href in v.facts.get("links", [])]
    internal = [href for href in links if href.startswith(base)]
    blocked = sorted({url for v in visits.values() for url in v.blocked})
    lines = [f"pages opened: {len(visits)}",
             f"links on the pages: {len(links)} ({len(internal)} internal, {len(set(internal))} distinct; "
             f"{len(set(links) - set(internal))} distinct external, not followed)",
             f"images: {sum(len(v.facts.get('imgs', [])) for v in visits.values())}",
             "external requests blocked (what an offline reader also misses):"]
    lines += [f"  {url}  ({sum(url in v.blocked for v in visits.values())} pages)"
              for url in blocked] or ["  none"]
    lines += ["", "page  status  images  math  blocked"]
    lines += [f"{p}  {v.status}  {len(v.facts.get('imgs', []))}  {len(v.facts.get('math', []))}  "
              f"{len(v.blocked)}"
              for p, v in visits.items()]
    return "\n".join(lines) + "\n"


def _visit(context, base: str, path: str, shots: Path) -> Visit:
    from playwright.sync_api import Error as PlaywrightError

    visit = Visit(path)
    page = context.new_page()

    def route(route_):
        url = route_.request.url
        if url.startswith(base):
            route_.continue_()
        else:                                        # as offline: nothing leaves localhost
            visit.blocked.append(url)
            route_.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda err: visit.page_errors.append(str(err)))
    page.on("console", lambda msg: msg.type == "error" and visit.console_errors.append(
        (msg.text, (msg.location or {}).get("url", ""))))
    page.on("requestfailed", lambda req: req.url.startswith(base) and visit.failed.append(
        f"{req.url}: {req.failure}"))
    page.on("response", lambda resp: resp.url.startswith(base) and resp.status >= 400 and visit.failed.append(
        f"{resp.url}: HTTP {resp.status}"))
    response = page.goto(base + path, wait_until="load")
    visit.status = response.status if response else None
    page.wait_for_timeout(300)                       # let the theme's scripts finish
    for attempt in range(3):                         # index.html redirects to the root page
        try:
            page.wait_for_load_state("load")
            visit.mathjax = page.evaluate(MATHJAX_WAIT_JS)
            visit.facts = page.evaluate(PAGE_FACTS_JS)
            break
        except PlaywrightError:
            if attempt == 2:
                raise
            page.wait_for_timeout(500)
    visit.facts["url"] = page.url
    page.screenshot(path=str(shots / (path.replace("/", "__").removesuffix(".html") + ".jpg")),
                    full_page=True, type="jpeg", quality=50)
    page.close()
    return visit


def _local(base: str, url: str) -> str | None:
    """The page path of a same-site URL (None for external ones)."""
    if not url.startswith(base):
        return None
    path = urlsplit(url).path.removeprefix(urlsplit(base).path)
    return path + "index.html" if path.endswith("/") or path == "" else path


# ---------------------------------------------------------------- the checks (each returns its problems)


def request_problems(visits) -> list[str]:
    """Requests that tried to leave localhost: an offline reader would miss what they load."""
    return [f"{p}: {url}" for p, v in visits.items() for url in v.blocked]


def http_problems(visits) -> list[str]:
    out = [f"{p}: HTTP {v.status}" for p, v in visits.items() if v.status != 200]
    return out + [f"{p}: {failure}" for p, v in visits.items() for failure in v.failed]


def js_problems(base: str, visits) -> list[str]:
    """Uncaught exceptions, and console errors other than the failed load of a blocked external URL."""
    out = []
    for path, v in visits.items():
        out += [f"{path}: {err}" for err in v.page_errors]
        out += [f"{path}: {text} ({url})" for text, url in v.console_errors
                if not (url and not url.startswith(base) and url in v.blocked)]
    return out


def image_problems(visits) -> list[str]:
    out = []
    for path, v in visits.items():
        for img in v.facts["imgs"]:
            if not (img["complete"] and img["width"] > 0 and img["height"] > 0):
                out.append(f"{path}: {img['src']} did not load")
            alt = (img["alt"] or "").strip()
            if not alt or re.search(r"\.(png|jpe?g|gif|svg|webp)$", alt, re.I):
                out.append(f"{path}: {img['src']} has no real alt text ({alt!r})")
    return out


def link_problems(base: str, visits, html_root: Path) -> list[str]:
    """Internal links whose page is missing, or whose #fragment names no element of that page."""
    ids, out = {}, []
    for path, v in visits.items():
        for href in v.facts["links"]:
            url, fragment = urldefrag(href)
            target = _local(base, url)
            if target is None:
                continue                                  # external: not followed offline
            file = html_root / target
            if not file.is_file():
                out.append(f"{path}: {href}")
            elif fragment and file.suffix == ".html":
                if target not in ids:
                    ids[target] = set(re.findall(r'\sid="([^"]+)"', file.read_text(encoding="utf-8")))
                if fragment not in ids[target]:
                    out.append(f"{path}: {href} (no element with id {fragment!r})")
    return out


def math_problems(base: str, visits) -> list[str]:
    """Formulas MathJax did not typeset: left as TeX source, a TeX error, an undefined macro, no MathJax.

    MathJax must come from the book itself (a local script), and on a page with math it must have run.
    """
    out = []
    for path, v in visits.items():
        f = v.facts
        out += [f"{path}: MathJax loaded from elsewhere: {src}" for src in f["mathjaxScripts"]
                if not src.startswith(base)]
        if f["math"] and v.mathjax != "typeset":
            out.append(f"{path}: {v.mathjax}")
        untypeset = [m["text"] for m in f["math"] if not m["typeset"]]
        if untypeset:
            out.append(f"{path}: {len(untypeset)} of {len(f['math'])} formulas not typeset: {untypeset[:3]}")
        out += [f"{path}: TeX error: {err}" for err in f["mathErrors"]]
        tex = sorted({m.group(0)[:80] for m in VISIBLE_TEX.finditer(f["visibleText"])})
        if tex:
            out.append(f"{path}: TeX source shown as text: {tex[:3]}")
    return out


def markup_problems(visits) -> list[str]:
    out = []
    for path, v in visits.items():
        found = {m.group(0) for m in TOOL_MARKUP.finditer(v.facts["cells"] + "\n" + v.facts["prose"])}
        found |= {m.group(0) for m in RAW_DIRECTIVE.finditer(v.facts["prose"])}
        out += [f"{path}: {leak!r}" for leak in sorted(found)]
    return out


def test_the_checks_catch_a_broken_page(tmp_path):
    """Each check finds its defect on a page made to have them all (so a green run means something)."""
    require_browser()
    html = tmp_path / "html"
    html.mkdir()
    (html / "bad.html").write_text(
        "<html><body><main><h1>Bad</h1>"
        '<div class="cell"><pre># NBVAL_CHECK_OUTPUT\nprint(1)</pre></div>'
        "<p>{solution-start} left unparsed</p>"
        '<img src="missing.png" alt="missing.png"><a href="nowhere.html">x</a><a href="bad.html#nope">y</a>'
        '<script src="https://cdn.example.org/lib.js"></script><script>undefinedFunction()</script>'
        "</main></body></html>", encoding="utf-8")
    base, visits = browse_book(html)
    assert visits["bad.html"].blocked == ["https://cdn.example.org/lib.js"]
    assert request_problems(visits) == ["bad.html: https://cdn.example.org/lib.js"]
    assert any("missing.png: HTTP 404" in p for p in http_problems(visits))
    assert [p for p in js_problems(base, visits) if "undefinedFunction" in p]
    assert not [p for p in js_problems(base, visits) if "cdn.example.org" in p]   # blocked: not an error
    assert len(image_problems(visits)) == 2                # not loaded, and alt text is a file name
    assert len(link_problems(base, visits, html)) == 2     # missing page, missing anchor
    leaks = {p.split(": ", 1)[1] for p in markup_problems(visits)}
    assert leaks == {"'NBVAL_CHECK_OUTPUT'", "'{solution-start}'"}


def test_the_math_check_catches_formulas_left_untypeset(tmp_path):
    """With the book's MathJax: a TeX error, an undefined macro and an unbalanced formula are found;
    without MathJax (missing file, or a CDN script blocked offline) every formula is found as TeX."""
    require_browser()
    html = tmp_path / "html"
    (html / "_static").mkdir(parents=True)
    (html / "_static" / "mathjax").symlink_to(mathjax_folder(), target_is_directory=True)
    formulas = ('<p><span class="math">\\(x^2\\)</span> <span class="math">\\(\\foo x\\)</span> '
                '<span class="math">\\(x^1^2\\)</span> <span class="math">\\(\\frac{1}{\\)</span></p>'
                '<div class="math">\\[\\operatorname{softmax}(\\boldsymbol{z})_i \\in \\mathbb{R}\\]</div>')
    scripts = {"math.html": f"_static/{MATHJAX_PATH}", "missing.html": "_static/mathjax/missing.js",
               "cdn.html": "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"}
    for name, src in scripts.items():
        (html / name).write_text(f'<html><head><script defer src="{src}"></script></head><body><main>'
                                 f"<h1>Math</h1>{formulas}</main></body></html>", encoding="utf-8")
    base, visits = browse_book(html)
    math = visits["math.html"]
    assert math.mathjax == "typeset" and not math.blocked and not math.failed
    assert math.facts["typeset"] == 4                      # the unbalanced formula is left as text
    assert [m["typeset"] for m in math.facts["math"]] == [True, True, True, False, True]
    problems = math_problems(base, {"math.html": math})
    assert problems == ["math.html: 1 of 5 formulas not typeset: ['\\\\(\\\\frac{1}{\\\\)']",
                        "math.html: TeX error: Double exponent: use braces to clarify",
                        "math.html: TeX error: undefined \\foo",
                        "math.html: TeX source shown as text: ['\\\\(\\\\frac{1}{\\\\)']"]
    for name in ("missing.html", "cdn.html"):
        problems = math_problems(base, {name: visits[name]})
        assert f"{name}: MathJax did not start" in problems
        assert f"{name}: 5 of 5 formulas not typeset" in "\n".join(problems)
        assert f"{name}: TeX source shown as text" in "\n".join(problems)
    assert "MathJax loaded from elsewhere" in " ".join(math_problems(base, {"cdn.html": visits["cdn.html"]}))
    assert request_problems(visits) == [f"cdn.html: {scripts['cdn.html']}"]
    assert any("missing.js: HTTP 404" in p for p in http_problems(visits))


def mathjax_folder() -> Path:
    """The MathJax 3 files that sphinx-mathjax-offline (requirements.txt) copies into the book."""
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None:
        pytest.fail("sphinx-mathjax-offline is missing: `make install` installs it (requirements.txt)")
    return Path(spec.origin).parent / "static" / "mathjax"


# ---------------------------------------------------------------- every page of the book


def test_every_page_was_opened(browse, built_book):
    _, visits = browse
    assert set(toc_order()) <= set(visits), "a page in _toc.yml was not built"
    assert len(visits) >= len(toc_order())


def test_every_page_answers_200_and_every_local_request_succeeds(browse):
    assert not http_problems(browse[1])


def test_no_request_leaves_localhost(browse):
    """The book works offline: no script, font, style or image is fetched from another host."""
    problems = request_problems(browse[1])
    assert not problems, "\n".join(problems)


def test_no_javascript_errors_except_blocked_external_loads(browse):
    problems = js_problems(*browse)
    assert not problems, "\n".join(problems)


def test_every_image_loads_and_has_alt_text(browse):
    problems = image_problems(browse[1])
    assert not problems, "\n".join(problems)


def test_every_internal_link_resolves(browse, built_book):
    problems = link_problems(*browse, built_book)
    assert not problems, "\n".join(problems)


def test_no_raw_grader_or_nbval_markup_is_shown(browse):
    problems = markup_problems(browse[1])
    assert not problems, "\n".join(problems)


def test_prev_and_next_follow_the_table_of_contents(browse):
    base, visits = browse
    order = toc_order()
    for i, path in enumerate(order):
        facts = visits[path].facts
        prev = _local(base, urldefrag(facts["prev"])[0]) if facts["prev"] else None
        nxt = _local(base, urldefrag(facts["next"])[0]) if facts["next"] else None
        assert prev == (order[i - 1] if i > 0 else None), f"{path}: previous link {facts['prev']}"
        assert nxt == (order[i + 1] if i + 1 < len(order) else None), f"{path}: next link {facts['next']}"


def test_references_to_figures_and_equations_show_numbers(browse):
    _, visits = browse
    problems = []
    for path, v in visits.items():
        f = v.facts
        if f["figuresNumbered"] != f["figuresWithCaption"]:
            problems.append(f"{path}: {f['figuresWithCaption'] - f['figuresNumbered']} captioned figures "
                            "without a number")
        if f["numberedEquations"] != f["labelledEquations"]:
            problems.append(f"{path}: {f['labelledEquations'] - f['numberedEquations']} labelled equations "
                            "without a number")
        for ref in f["refs"]:
            if ref["kind"] and not re.search(r"\d", ref["text"]):
                problems.append(f"{path}: reference to a {ref['kind']} reads {ref['text']!r}, no number")
    assert not problems, "\n".join(problems)


def test_every_formula_is_typeset_offline(browse, built_book):
    """MathJax comes with the book, so with the network blocked every formula is typeset, without error.

    Each chapter has math, and its MathJax script is the book's own copy of MathJax 3.
    """
    base, visits = browse
    problems = math_problems(base, visits)
    core = built_book / "_static" / "mathjax" / "core.js"
    if not (built_book / "_static" / MATHJAX_PATH).is_file() or 'VERSION="3.' not in (
            core.read_text() if core.is_file() else ""):
        problems.append(f"no MathJax 3 at {built_book / '_static' / MATHJAX_PATH}")
    for path in [p for p in visits if re.match(r"chapters/\d\d_", p)]:
        f = visits[path].facts
        scripts = [src.split("?")[0] for src in f["mathjaxScripts"]]      # without Sphinx's "?v=digest"
        if scripts != [base + f"_static/{MATHJAX_PATH}"] or not f["math"]:
            problems.append(f"{path}: MathJax scripts {f['mathjaxScripts']}, {len(f['math'])} formulas")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- the Chinese edition


def test_every_page_has_its_chinese_page_and_each_links_to_the_other(browse):
    """``zh/<page>`` exists for every English page, and each page of the book links to its other edition."""
    base, visits = browse
    english = [p for p in visits if not p.startswith("zh/")]
    problems = [f"{p}: no zh/{p}" for p in english if f"zh/{p}" not in visits]
    for page in toc_order():                     # the book's pages (not Sphinx's index and search pages)
        for path, other in ((page, f"zh/{page}"), (f"zh/{page}", page)):
            if visits[path].facts.get("languageLinks") != [base + other]:
                problems.append(f"{path}: language links {visits[path].facts.get('languageLinks')}, "
                                f"expected {base + other}")
    assert not problems, "\n".join(problems)


def _as_read(text: str) -> str:
    """Text as a page shows it, for comparing with a message: no markup, section number or quotes."""
    from utils.i18n import prose

    text = prose(re.sub(r"\[([^]]*)\]\([^)]*\)", r"\1", text))
    text = re.sub(r"^\s*(?:\d+\.)+\s+", "", text.replace("*", "").replace("\\", ""))
    return re.sub(r"\s+", " ", _plain_quotes(text)).strip(" #¶")


def translated_english() -> set[str]:
    """Every English message with a translation of its own, as a page would show it."""
    from utils import i18n

    found = set()
    for po in i18n.catalogue_paths():
        found |= {_as_read(m.id) for m in i18n.read_catalogue(po)
                  if m.id and m.string and m.string != m.id}
    return {text for text in found if re.search(r"[A-Za-z]{2}", text)}


def test_no_paragraph_of_a_chinese_page_is_still_in_english(browse):
    """Outside code, outputs, formulas and the bibliography, no block of a Chinese page is an English
    message that has a translation (a translation Sphinx dropped) or four English words and no
    Chinese; the contents beside it (captions, page titles) and the alt texts of the chapter's figures
    are Chinese (the theme's own buttons, such as the Colab logo, are the theme's)."""
    from utils.glossary import chapter_terms
    from utils.i18n import english_prose

    terms = {t.english for page in (ROOT / "chapters").glob("*.ipynb") for t in chapter_terms(page)}
    chinese = {p: v for p, v in browse[1].items() if p.startswith("zh/")}   # (glossary terms stay English)
    translated = translated_english()
    problems = [f"{path}: {block[:100]!r}" for path, v in chinese.items() for block in v.facts["proseBlocks"]
                if (english_prose(block, words=4) and block not in terms) or _as_read(block) in translated]
    problems += [f"{path}: image alt text {i['alt'][:80]!r}" for path, v in chinese.items()
                 for i in v.facts["imgs"] if i["inArticle"] and not re.search(r"[\u3400-\u9fff]", i["alt"] or "")]
    problems += [f"{path}: contents {entry!r}" for path, v in chinese.items() for entry in v.facts["navBlocks"]
                 if not re.search(r"[\u3400-\u9fff]", entry)]
    assert chinese and not problems, f"{len(problems)} blocks in English:\n" + "\n".join(problems[:40])


def test_the_check_for_english_blocks_sees_them():
    from utils.i18n import english_prose

    assert english_prose("A language model assigns a probability to every continuation.")
    assert english_prose("Tuning the discount now", words=4) and not english_prose("Tuning it", words=4)
    assert _as_read("**Summary**") in translated_english() or "Summary" in translated_english()
    assert _as_read("7.13. Summary¶") == "Summary"
    assert not english_prose("语言模型为每一种可能的续写赋予一个概率（language model assigns）。")
    assert not english_prose("backpropagation through time (BPTT)")      # a term in a glossary table


# ---------------------------------------------------------------- chapter pages


def _chapters(visits):
    return {p: v for p, v in visits.items() if re.fullmatch(r"chapters/\d\d_[\w-]+\.html", p)}


def test_there_are_chapter_pages(browse):
    assert _chapters(browse[1])


def _plain_quotes(text: str) -> str:
    """Sphinx prints ' and " as typographic quotes."""
    return text.translate(str.maketrans("\u2018\u2019\u201c\u201d", "''\"\""))


@pytest.mark.parametrize("edition", ["", "zh/"])
def test_each_chapter_shows_its_title_and_a_figure(browse, edition):
    problems = []
    for path in _chapters(browse[1]):
        v = browse[1][edition + path]
        title = _plain_quotes(chapter_title(Path(path).stem, edition))
        if title not in _plain_quotes(v.facts["title"]) or title not in _plain_quotes(v.facts["text"]):
            problems.append(f"{edition}{path}: heading {v.facts['title']!r}, expected {title!r}")
        if not [i for i in v.facts["imgs"] if i["inOutput"] and i["width"] > 0]:
            problems.append(f"{edition}{path}: no figure among the cell outputs (is the notebook stored executed?)")
    assert not problems, "\n".join(problems)


def colab_url(notebook: str) -> str:
    """Where Colab opens ``notebook`` (a path in the repository) from GitHub."""
    repo = urlsplit(repository_url()).path.strip("/")
    branch = re.search(r"^\s+branch:\s*(\S+)", (ROOT / "_config.yml").read_text(), re.M).group(1)
    return f"https://colab.research.google.com/github/{repo}/blob/{branch}/{notebook}"


@pytest.mark.parametrize("edition", ["", "zh/"])
def test_each_chapter_has_a_colab_button_for_its_notebook(browse, edition):
    """The English page opens chapters/<name>.ipynb, the Chinese page zh/chapters/<name>.ipynb, and
    the notebook is in the repository (Colab opens it from GitHub, not from this folder)."""
    import subprocess

    for path in _chapters(browse[1]):
        v = browse[1][edition + path]
        notebook = edition + path.removesuffix(".html") + ".ipynb"
        assert colab_url(notebook) in v.facts["colab"], f"{edition}{path}: Colab links {v.facts['colab']}"
        tracked = subprocess.run(["git", "ls-files", "--error-unmatch", notebook], cwd=ROOT,
                                 capture_output=True, text=True)
        assert tracked.returncode == 0, f"{notebook} is not committed: {tracked.stderr.strip()}"
