"""The whole site: a strict build, what it contains, and snippet coverage."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import jax
import nbformat
import numpy as np
import pytest

from sitebuild.pages import ROOT, read_fences
from tests.conftest import PAGES, build

SECTION = re.compile(r"^\s*#\s*--8<--\s*\[(start|end):(\w+)\]", re.M)
INCLUDE = re.compile(r"""--8<--\s*["']([^"':]+\.py):(\w+)["']""")
CHAPTERS_WITH_NOTEBOOKS = [
    "gradient-descent",
    "derivatives",
    "linear-regression",
    "optimizers",
    "performance",
    "neural-networks",
]


def test_strict_build_has_no_warnings(site):
    _site_dir, log = site
    assert not re.search(r"^WARNING", log, re.M), log


def test_every_page_is_built(site):
    site_dir, _ = site
    for page in PAGES:
        relative = page.relative_to(ROOT / "docs").with_suffix("")
        html = site_dir / ("index.html" if relative.name == "index" else relative / "index.html")
        assert html.exists(), html


def test_home_page_shows_the_build_versions(site):
    site_dir, _ = site
    html = article(site_dir / "index.html")
    for version in (jax.__version__, np.__version__, jax.devices()[0].platform):
        assert f"<td>{version}" in html, version
    assert "{{" not in html


def test_figures_exist_in_both_palettes_and_differ(site):
    site_dir, _ = site
    html = (site_dir / "derivatives" / "index.html").read_text(encoding="utf-8")
    names = set(re.findall(r'src="\.\./figures/(\w+)-light\.svg#only-light"', html))
    assert names == {"sin_and_derivative", "difference_errors"}
    for name in names:
        assert f'figures/{name}-dark.svg#only-dark"' in html
        light = (site_dir / "figures" / f"{name}-light.svg").read_text()
        dark = (site_dir / "figures" / f"{name}-dark.svg").read_text()
        assert light != dark and "<svg" in light


def article(path):
    """The page's own content, without the theme's scripts around it."""
    html = path.read_text(encoding="utf-8")
    return html[html.index("<article") : html.index("</article>")]


def test_outputs_and_computed_numbers_are_on_the_page(site):
    site_dir, _ = site
    html = article(site_dir / "derivatives" / "index.html")
    assert "{{" not in html and "}}" not in html
    assert html.count('<span class="filename">Output</span>') >= 8
    assert "Gradient only defined for scalar-output functions" in html
    assert re.search(r"Slope 1\.0\d for the forward difference", html)


def test_code_blocks_are_marked_with_their_language(site):
    site_dir, _ = site
    html = (site_dir / "derivatives" / "index.html").read_text(encoding="utf-8")
    assert 'class="language-python highlight"' in html


@pytest.mark.parametrize("chapter", CHAPTERS_WITH_NOTEBOOKS)
def test_notebook_is_the_page_and_downloads(site, chapter):
    site_dir, _ = site
    page = ROOT / "docs" / f"{chapter}.md"
    notebook = nbformat.read(site_dir / "downloads" / f"{chapter}.ipynb", as_version=4)
    nbformat.validate(notebook)
    code = [c.source for c in notebook.cells if c.cell_type == "code"]
    page_code = [f.code.rstrip("\n") for f in read_fences(page) if f.runs]
    assert code == page_code
    assert not any(re.search(r"^\s*(from|import)\s+snippets", c, re.M) for c in code)
    html = (site_dir / chapter / "index.html").read_text(encoding="utf-8")
    assert f'href="../downloads/{chapter}.ipynb"' in html
    executed = (site_dir / "notebooks" / chapter / "index.html").read_text(encoding="utf-8")
    still_figures = len(re.findall(r"\(figures/\w+\.svg\)", page.read_text(encoding="utf-8")))
    assert executed.count('<div class="jp-RenderedImage') == still_figures
    assert "No description has been provided" not in executed
    assert "Traceback" not in executed


def test_every_snippet_section_is_used_by_a_page():
    used = set()
    for page in PAGES:
        used |= set(INCLUDE.findall(page.read_text(encoding="utf-8")))
    defined = set()
    for module in (ROOT / "snippets").glob("*.py"):
        markers = SECTION.findall(module.read_text(encoding="utf-8"))
        starts = [name for kind, name in markers if kind == "start"]
        ends = [name for kind, name in markers if kind == "end"]
        assert starts == ends, f"{module.name}: unbalanced section markers"
        assert len(starts) == len(set(starts)), f"{module.name}: a section name repeats"
        defined |= {(f"snippets/{module.name}", name) for name in starts}
    assert defined - used == set(), "sections no page includes"
    assert used - defined == set(), "includes of sections that do not exist"


def test_snippet_modules_run_as_scripts():
    """`python -m snippets.<chapter>` runs a chapter's code in page order."""
    for module in sorted((ROOT / "snippets").glob("*.py")):
        if module.stem == "bench":
            continue  # the benchmark command: tests/test_bench.py runs its quick mode
        if not SECTION.search(module.read_text(encoding="utf-8")):
            continue  # not a chapter's code (the package itself)
        done = subprocess.run(
            [sys.executable, "-m", f"snippets.{module.stem}"],
            cwd=ROOT,
            env=dict(os.environ, MPLBACKEND="Agg"),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr


def test_two_builds_give_the_same_numbers_figures_and_notebooks(site, tmp_path):
    site_dir, _ = site
    again, _ = build(tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    generated = [*(site_dir / "figures").glob("*.svg"), *(site_dir / "downloads").glob("*")]
    assert len(generated) >= 5
    for path in generated:
        twin = tmp_path / path.relative_to(site_dir)
        assert path.read_bytes() == twin.read_bytes(), path.name
    for page in ("index.html", "derivatives/index.html"):
        assert (site_dir / page).read_text() == (tmp_path / page).read_text(), page
