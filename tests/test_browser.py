"""The built site as a reader meets it, in a real browser, fully offline."""

from __future__ import annotations

import json
import os
import re
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import pytest

from sitebuild.page import ROOT
from tests.browser import CHROMIUM, FLAGS, require_chromium, serve
from tests.helpers import CHAPTERS, parse

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PAGE_BUDGET = 3_000_000  # bytes on a first visit, figures and notebook theme aside
PALETTES = ("light", "dark")


def site_pages(site_dir):
    pages = [p.parent.relative_to(site_dir).as_posix() for p in site_dir.rglob("index.html")]
    return sorted("" if p == "." else p + "/" for p in pages)


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def base_url(site):
    url, server = serve(site[0])
    yield url
    server.shutdown()
    server.server_close()


class Visit:
    """Open one page in a fresh context and record what happens on the wire."""

    def __init__(self, browser, url, palette="light", **context):
        self.context = browser.new_context(
            color_scheme=palette, viewport={"width": 1280, "height": 900}, **context
        )
        self.page = self.context.new_page()
        self.requests, self.failed, self.errors, self.bytes = [], [], [], {}
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url} {r.failure}"))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else 0)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfinished", self._count)
        self.page.goto(url, wait_until="load")
        wait_for_math(self.page)

    def _count(self, request):
        self.bytes[request.url] = request.sizes()["responseBodySize"]

    def close(self):
        self.context.close()


def wait_for_math(page):
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => MathJax.startup.promise")
    page.wait_for_timeout(200)  # the notebook loader typesets in its own queue


def math_report(page):
    return page.evaluate(
        """() => {
        const spans = document.querySelectorAll('.md-content .arithmatex').length;
        const rendered = document.querySelectorAll('.md-content .arithmatex mjx-container').length;
        const prose = document.querySelector('.md-content').cloneNode(true);
        const notProse = 'pre, code, .clipboard-copy-txt, mjx-container, script, style';
        prose.querySelectorAll(notProse).forEach(e => e.remove());
        // Laid-out math has MathJax's CSS on every node; a node the browser
        // shows as plain inline text means the output stylesheet went missing.
        const unstyled = [...document.querySelectorAll(
            '.md-content mjx-container :is(mjx-frac, mjx-mtable, mjx-msub, mjx-munder, mjx-msubsup)'
        )].filter(e => getComputedStyle(e).display === 'inline').length;
        return {spans, rendered, unstyled, text: prose.innerText};
    }"""
    )


def math_problems(page, where):
    report = math_report(page)
    problems = []
    if report["rendered"] != report["spans"]:
        problems.append(f"{where}: {report['rendered']} of {report['spans']} formulas rendered")
    if report["unstyled"]:
        problems.append(f"{where}: {report['unstyled']} math nodes laid out as text")
    for raw in ("\\(", "\\[", "$$"):
        if raw in report["text"]:
            problems.append(f"{where}: raw {raw!r} left in the text")
    return problems


def assert_math_rendered(page, where):
    problems = math_problems(page, where)
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def pages(site):
    return site_pages(site[0])


def test_the_site_has_its_pages(pages):
    assert {"", "derivatives/", "optimizers/", "notebooks/derivatives/"} <= set(pages)


def visit_every_page(base_url, pages, palette):
    """One visit per page in `palette`, in a browser of this thread's own, serves
    every probe: (problems found, {path: (bytes, load ms)})."""
    from playwright.sync_api import sync_playwright

    problems, weights = [], {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for path in pages:
            visit = Visit(browser, base_url + path, palette)
            page, where = visit.page, f"/{path} ({palette})"
            # The markup is the same in both palettes; only colours differ.
            problems += accessibility_problems(page, where, contrast_only=palette == "dark")
            problems += [f"{where}: request to {u}" for u in visit.requests if not is_local(u)]
            problems += [f"{where}: failed {u}" for u in visit.failed]
            problems += [f"{where}: console {e}" for e in visit.errors]
            problems += math_problems(page, where)
            problems += check_images(page, where, palette)
            exempt = sum(n for u, n in visit.bytes.items() if "/figures/" in u)
            exempt += exempt_bytes(base_url + path)
            total = sum(visit.bytes.values())
            if total - exempt > PAGE_BUDGET:
                problems.append(f"{where}: {total - exempt} bytes on first visit")
            load_ms = page.evaluate(
                "() => performance.getEntriesByType('navigation')[0].loadEventEnd"
            )
            weights["/" + path] = (total, load_ms)
            if os.environ.get("SCREENSHOTS"):  # for a person to look at: SCREENSHOTS=1
                name = path.strip("/").replace("/", "-") or "home"
                page.screenshot(
                    path=SCREENSHOTS / f"{name}-{palette}.jpg", full_page=True, quality=80
                )
            visit.close()
        browser.close()
    return problems, weights


def test_every_page_in_both_palettes_offline_clean_rendered_light_and_accessible(base_url, pages):
    """Both palettes at once, each in its own thread and browser."""
    require_chromium()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(len(PALETTES)) as pool:
        runs = dict(
            zip(
                PALETTES,
                pool.map(lambda p: visit_every_page(base_url, pages, p), PALETTES),
                strict=True,
            )
        )
    weights = runs["light"][1]  # for review; the budget itself is asserted above
    report = {path: {"bytes": size, "load_ms": ms} for path, (size, ms) in weights.items()}
    (ROOT / "test-artifacts" / "page-weights.json").write_text(json.dumps(report, indent=1))
    for path, (size, ms) in sorted(weights.items()):
        print(f"{path:32} {size / 1e6:5.2f} MB {ms:6.0f} ms")
    problems = [problem for found, _ in runs.values() for problem in found]
    assert not problems, "\n".join(problems)


def is_local(url):
    """http(s) to 127.0.0.1, or a blob: or data: URL the page made itself."""
    parsed = urlparse(url)
    if parsed.scheme == "data":
        return True
    if parsed.scheme == "blob":
        parsed = urlparse(parsed.path)
    return parsed.hostname == "127.0.0.1"


def exempt_bytes(url):
    """Bytes of a page's HTML the budget leaves aside: its inline figures (a
    notebook's plots) and, on a notebook page, the notebook theme's inline
    stylesheet, the same on every notebook page whatever its content."""
    with urllib.request.urlopen(url) as response:
        html = response.read().decode("utf-8")
    # Base64 in an animation's script breaks its lines with a backslash.
    found = re.findall(r"data:image/[a-z]+;base64,(?:[A-Za-z0-9+/=]|\\\n)+", html)
    styles = re.findall(r"<style[^>]*>.*?</style>", html, re.S)
    theme = [style for style in styles if ".jupyter-wrapper" in style]
    return sum(map(len, found)) + sum(map(len, theme))


def check_images(page, where, palette):
    images = page.evaluate(
        """() => Array.from(document.querySelectorAll('.md-content img')).map(img => ({
            src: img.getAttribute('src'), alt: img.getAttribute('alt') || '',
            loaded: img.complete && img.naturalWidth > 0,
            shown: getComputedStyle(img).display !== 'none' && img.offsetWidth > 0}))"""
    )
    problems = []
    hidden = "#only-dark" if palette == "light" else "#only-light"
    for image in images:
        src = image["src"]
        if not image["alt"].strip():
            problems.append(f"{where}: no alt text on {src[:60]}")
        if src.endswith(hidden):
            if image["shown"]:
                problems.append(f"{where}: {src} is shown in the {palette} palette")
            continue
        if not image["loaded"]:
            problems.append(f"{where}: {src[:60]} did not load")
        if not image["shown"]:
            problems.append(f"{where}: {src[:60]} is not visible in the {palette} palette")
    return problems


def accessibility_problems(page, where, contrast_only=False):
    """axe-core's serious and critical findings on the page as it stands."""
    page.add_script_tag(path=str(AXE))
    # Only violations are wanted: axe then skips detailing every passed check.
    options = {"resultTypes": ["violations"]}
    if contrast_only:
        options["runOnly"] = {"type": "rule", "values": ["color-contrast"]}
    result = page.evaluate("async (options) => await axe.run(document, options)", options)
    return [
        f"{where}: {violation['id']}: {[n['target'] for n in violation['nodes'][:3]]}"
        for violation in result["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


def test_copy_buttons_copy_exactly_the_code(browser, base_url):
    visit = Visit(
        browser, base_url + "derivatives/", permissions=["clipboard-read", "clipboard-write"]
    )
    page = visit.page
    fences = parse(ROOT / "docs" / "derivatives.md").runnable
    blocks = page.locator(".md-content .language-python.highlight")
    assert blocks.count() == len(fences)
    for index, fence in enumerate(fences):
        block = blocks.nth(index)
        block.hover()
        block.locator(
            "button.md-code__button[data-md-type=copy], button.md-clipboard"
        ).first.click()
        copied = page.evaluate("() => navigator.clipboard.readText()")
        assert copied.strip() == fence.code.strip(), fence.where
    visit.close()


def test_math_survives_instant_navigation(browser, base_url):
    visit = Visit(browser, base_url)
    page = visit.page
    for chapter in [f"{c.stem}/" for c in CHAPTERS]:
        page.locator(f'.md-sidebar--primary a.md-nav__link[href$="{chapter}"]').first.click()
        page.wait_for_url(f"**/{chapter}")
        wait_for_math(page)
        page.wait_for_function(
            """() => document.querySelectorAll('.md-content .arithmatex').length ===
                     document.querySelectorAll('.md-content .arithmatex mjx-container').length"""
        )
        assert_math_rendered(page, f"after instant navigation to {chapter}")
    assert not visit.errors, visit.errors
    visit.close()


def test_search_finds_vmap_in_the_derivatives_chapter(browser, base_url):
    visit = Visit(browser, base_url)
    page = visit.page
    page.keyboard.press("/")  # Material's shortcut to the search box
    page.locator("input.md-search__input").press_sequentially("vmap", delay=50)
    results = page.locator(".md-search-result__item a")
    results.first.wait_for(timeout=15_000)
    links = [results.nth(i).get_attribute("href") for i in range(results.count())]
    assert any("derivatives/" in link for link in links), links
    visit.close()
