"""The whole site: a strict build, what it contains, and snippet coverage."""

from __future__ import annotations

import re

import jax
import nbformat
import numpy as np
import pytest

from sitebuild.page import ROOT
from tests.helpers import CHAPTERS, NOTEBOOK_CHAPTERS, PAGES, parse

SECTION = re.compile(r"^\s*#\s*--8<--\s*\[(start|end):(\w+)\]", re.M)
INCLUDE = re.compile(r"""--8<--\s*["']([^"':]+\.py):(\w+)["']""")


def test_strict_build_has_no_warnings(site_build):
    assert not re.search(r"^WARNING", site_build.log, re.M), site_build.log


def test_every_page_is_built(site_build):
    for page in PAGES:
        relative = "index.html" if page.stem == "index" else f"{page.stem}/index.html"
        assert (site_build.site_dir / relative).exists(), relative


def test_home_page_shows_the_build_versions(site_build):
    html = site_build.article("index.html")
    for version in (jax.__version__, np.__version__, jax.devices()[0].platform):
        assert f"<td>{version}" in html, version
    assert "{{" not in html


def test_home_page_lists_every_chapter_in_nav_order(site_build):
    html = site_build.article("index.html")
    listed = re.findall(r'<td>(\d+)\. <a href="([\w-]+)/">', html)
    notebooks = [c.stem for c in CHAPTERS if c.notebook]
    assert listed == [(str(n), stem) for n, stem in enumerate(notebooks, start=1)]


def test_figures_exist_in_both_palettes_and_differ(site_build):
    html = site_build.html("derivatives/index.html")
    names = set(re.findall(r'src="\.\./figures/(\w+)-light\.svg#only-light"', html))
    assert names == {"sin_and_derivative", "difference_errors"}
    for name in names:
        assert f'figures/{name}-dark.svg#only-dark"' in html
        light = (site_build.site_dir / "figures" / f"{name}-light.svg").read_text()
        dark = (site_build.site_dir / "figures" / f"{name}-dark.svg").read_text()
        assert light != dark and "<svg" in light


def test_outputs_and_computed_numbers_are_on_the_page(site_build):
    html = site_build.article("derivatives/index.html")
    assert "{{" not in html and "}}" not in html
    outputs = [b for b in site_build.records["derivatives"].blocks if b["output"].strip()]
    assert html.count('<span class="filename">Output</span>') == len(outputs) >= 8


def test_code_blocks_are_marked_with_their_language(site_build):
    html = site_build.html("derivatives/index.html")
    assert 'class="language-python highlight"' in html


@pytest.mark.parametrize("chapter", NOTEBOOK_CHAPTERS)
def test_notebook_is_the_page_with_its_run_and_downloads(site_build, chapter):
    page = parse(ROOT / "docs" / f"{chapter}.md")
    run = site_build.records[chapter]
    notebook = nbformat.read(site_build.site_dir / "downloads" / f"{chapter}.ipynb", as_version=4)
    nbformat.validate(notebook)
    cells = [c for c in notebook.cells if c.cell_type == "code"][1:]  # after the version check
    assert [c.source for c in cells] == [f.code.rstrip("\n") for f in page.runnable]
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1))
    for cell, block in zip(cells, run.blocks, strict=True):
        streams = [o for o in cell.outputs if o.output_type == "stream" and o.name == "stdout"]
        assert "".join(o.text for o in streams) == block["stdout"]
        pictures = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert len(pictures) == sum(name.endswith(".svg") for name in block["figures"])
    assert f'href="../downloads/{chapter}.ipynb"' in site_build.html(f"{chapter}/index.html")
    executed = site_build.html(f"notebooks/{chapter}/index.html")
    assert executed.count('<div class="jp-RenderedImage') == len(
        [n for n in page.figure_alts if n.endswith(".svg")]
    )
    assert "No description has been provided" not in executed
    assert "Traceback" not in executed


def test_the_notebooks_section_lists_every_notebook_chapter(site_build):
    nav = site_build.html("index.html")
    for chapter in NOTEBOOK_CHAPTERS:
        assert f'href="notebooks/{chapter}/"' in nav, chapter


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


@pytest.mark.parametrize("chapter", NOTEBOOK_CHAPTERS)
def test_every_chapter_has_its_snippets_and_its_test_module(chapter):
    """One name per chapter: docs/<c>.md, snippets/<c>.py, tests/test_<c>.py."""
    module = chapter.replace("-", "_")
    assert (ROOT / "snippets" / f"{module}.py").is_file(), f"snippets/{module}.py"
    assert (ROOT / "tests" / f"test_{module}.py").is_file(), f"tests/test_{module}.py"
