"""Notebooks that travel: they download, run from a clean kernel, and open in Colab."""

from __future__ import annotations

import re
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import PAGES, TEST_REPOSITORY

CHAPTERS = sorted(p.stem for p in PAGES if "notebook: true" in p.read_text(encoding="utf-8"))
COLAB = re.compile(
    r'href="https://colab\.research\.google\.com/github/([^/]+/[^/]+)/blob/gh-pages/([^"]+)"'
)


def test_every_chapter_has_a_notebook():
    assert set(CHAPTERS) == {
        "gradient-descent",
        "derivatives",
        "linear-regression",
        "optimizers",
        "performance",
        "neural-networks",
    }


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_downloaded_notebook_runs_from_a_clean_kernel(site, tmp_path, chapter):
    """A reader's copy: alone in an empty folder, far from the project."""
    site_dir, _ = site
    copy = tmp_path / f"{chapter}.ipynb"
    shutil.copy(site_dir / "downloads" / f"{chapter}.ipynb", copy)
    notebook = nbformat.read(copy, as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    errors = [
        o
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]
    assert not errors
    assert sum(c.cell_type == "code" for c in notebook.cells) >= 8


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_open_in_colab_points_at_a_published_notebook(site, chapter):
    """Colab reads gh-pages, where the docs workflow publishes this very site."""
    site_dir, _ = site
    html = (site_dir / chapter / "index.html").read_text(encoding="utf-8")
    links = COLAB.findall(html)
    assert links == [(TEST_REPOSITORY, f"downloads/{chapter}.ipynb")]
    assert (site_dir / links[0][1]).is_file()
