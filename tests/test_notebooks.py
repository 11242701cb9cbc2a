"""Notebooks that travel: they download, run from a clean kernel, and open in Colab."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata

import nbformat
import pytest

from sitebuild.version_check import TAG
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


def code_cells(notebook):
    """The cells the build ran: every code cell but the version check."""
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert cells[0].metadata["tags"] == [TAG]
    return cells[1:]


def stdout_of(notebook) -> list[str]:
    return [
        ANSI.sub("", "".join(o.text for o in c.outputs if o.get("name") == "stdout"))
        for c in code_cells(notebook)
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


IMPORT = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", re.M)


def built_with(cell) -> dict[str, str]:
    """The BUILT_WITH dictionary of a version-check cell, read as data."""
    tree = ast.parse(cell.source)
    assignment = next(
        n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "BUILT_WITH"
    )
    return ast.literal_eval(assignment.value)


@pytest.mark.parametrize("chapter", NOTEBOOK_CHAPTERS)
def test_first_code_cell_pins_what_the_chapter_imports_at_the_build_versions(site_build, chapter):
    notebook = nbformat.read(site_build.site_dir / "downloads" / f"{chapter}.ipynb", as_version=4)
    check = next(c for c in notebook.cells if c.cell_type == "code")
    imported = {m for c in code_cells(notebook) for m in IMPORT.findall(c.source)}
    third_party = imported - set(sys.stdlib_module_names)
    providers = metadata.packages_distributions()
    expected = {providers[m][0]: metadata.version(providers[m][0]) for m in third_party}
    assert built_with(check) == expected and expected
    note = next(c.source for c in notebook.cells if "first code cell checks" in c.source)
    assert set(re.findall(r"`([\w-]+)` ([\w.]+)", note)) == set(expected.items())
    box = site_build.article(f"{chapter}/index.html")
    listed = re.findall(r"<code>([\w-]+)</code> ([\w.]+)", box[: box.index("</div>")])
    assert set(listed) == set(expected.items())


class FakeShell:
    def __init__(self):
        self.magics = []

    def run_line_magic(self, name, line):
        self.magics.append((name, line))


@pytest.mark.parametrize("installed", ["other", "missing"])
def test_the_version_check_installs_what_differs_and_says_to_restart(
    site_build, monkeypatch, capsys, installed
):
    notebook = nbformat.read(site_build.site_dir / "downloads" / "optimizers.ipynb", as_version=4)
    check = next(c for c in notebook.cells if c.cell_type == "code")
    wanted = built_with(check)
    first = sorted(wanted)[0]

    def fake_version(name):
        if name != first:
            return wanted[name]
        if installed == "missing":
            raise metadata.PackageNotFoundError(name)
        return "0.0.1"

    monkeypatch.setattr(metadata, "version", fake_version)
    shell = FakeShell()
    exec(check.source, {"get_ipython": lambda: shell})  # jax and numpy are loaded here
    assert shell.magics == [("pip", f"install -q {first}=={wanted[first]}")]
    assert "Restart the kernel" in capsys.readouterr().out


def test_the_version_check_does_nothing_where_versions_match(site_build, capsys):
    notebook = nbformat.read(site_build.site_dir / "downloads" / "optimizers.ipynb", as_version=4)
    check = next(c for c in notebook.cells if c.cell_type == "code")
    shell = FakeShell()
    exec(check.source, {"get_ipython": lambda: shell})
    assert shell.magics == []
    assert "is at the version it was built with" in capsys.readouterr().out
