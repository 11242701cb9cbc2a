"""Notebooks that travel: they download, run from a clean kernel, and open in Colab."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest

from tests.helpers import EXECUTIONS, NOTEBOOK_CHAPTERS, TEST_REPOSITORY

COLAB = re.compile(
    r'href="https://colab\.research\.google\.com/github/([^/]+/[^/]+)/blob/gh-pages/([^"]+)"'
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # a kernel's pretty-printers may colour what they print
# Kernels talk over Unix sockets in the notebook's folder: TCP ports picked at
# random collide when two kernels start at once.
EXECUTE = """
import sys, nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
source, folder, target = sys.argv[1:]
notebook = nbformat.read(source, as_version=4)
manager = KernelManager(kernel_name="python3", transport="ipc", ip=folder + "/kernel")
client = NotebookClient(notebook, km=manager, timeout=900, resources={"metadata": {"path": folder}})
client.execute()
nbformat.write(notebook, target)
"""


def test_every_notebook_chapter_has_a_download(site_build):
    downloads = {p.stem for p in (site_build.site_dir / "downloads").glob("*.ipynb")}
    assert downloads == set(NOTEBOOK_CHAPTERS)


def stdout_of(notebook) -> list[str]:
    return [
        ANSI.sub("", "".join(o.text for o in c.outputs if o.get("name") == "stdout"))
        for c in notebook.cells
        if c.cell_type == "code"
    ]


def _run(site_dir, folder, chapter):
    """A reader's copy, alone in an empty folder far from the project, run by a
    fresh kernel that nbclient drives from its own process."""
    folder.mkdir()
    copy, executed = folder / f"{chapter}.ipynb", folder / "executed.ipynb"
    shutil.copy(site_dir / "downloads" / f"{chapter}.ipynb", copy)
    done = subprocess.run(
        [sys.executable, "-c", EXECUTE, str(copy), str(folder), str(executed)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    stored = stdout_of(nbformat.read(copy, as_version=4))
    notebook = nbformat.read(executed, as_version=4) if done.returncode == 0 else None
    return stored, notebook, done.stderr if done.returncode else None


@pytest.fixture(scope="session")
def notebook_runs(site_build, tmp_path_factory):
    """Every downloaded notebook executed once, two at a time."""
    work = tmp_path_factory.mktemp("notebooks")
    chapters = sorted(NOTEBOOK_CHAPTERS, key=lambda c: -site_build.records[c].seconds)
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        runs = pool.map(lambda c: _run(site_build.site_dir, work / c, c), chapters)
        results = dict(zip(chapters, runs, strict=True))
    for chapter in results:
        EXECUTIONS[chapter] += 1
    return results


@pytest.mark.parametrize("chapter", NOTEBOOK_CHAPTERS)
def test_downloaded_notebook_runs_from_a_clean_kernel_and_prints_what_it_stores(
    notebook_runs, chapter
):
    stored, notebook, error = notebook_runs[chapter]
    assert error is None, error
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in errors if o.output_type == "error"]
    assert stdout_of(notebook) == stored


@pytest.mark.parametrize("chapter", NOTEBOOK_CHAPTERS)
def test_open_in_colab_points_at_a_published_notebook(site_build, chapter):
    """Colab reads gh-pages, where the docs workflow publishes this very site."""
    links = COLAB.findall(site_build.html(f"{chapter}/index.html"))
    assert links == [(TEST_REPOSITORY, f"downloads/{chapter}.ipynb")]
    assert (site_build.site_dir / links[0][1]).is_file()
