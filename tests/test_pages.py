"""Every page's code: run once by the build, in order, then again by pytest-codeblocks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from sitebuild.page import PYTHON
from tests.helpers import EXECUTIONS, PAGES, parse

PYTHON_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*(python|py|python3)\b", re.IGNORECASE)
STEMS = [page.stem for page in PAGES]
RUNNING = [page.stem for page in PAGES if parse(page).runnable]  # pages with code to run


def python_fence_lines(text: str) -> list[int]:
    """Opening lines of Python fences, by a regex that shares nothing with the parser."""
    return [n for n, line in enumerate(text.splitlines(), 1) if PYTHON_FENCE.match(line)]


def test_there_are_pages():
    assert {"index", "derivatives"} <= set(RUNNING) <= set(STEMS)


@pytest.mark.parametrize("page", PAGES, ids=STEMS)
def test_the_build_ran_every_python_block_in_order_once(page, site_build):
    parsed = parse(page)
    skipped = [f.lineno for f in parsed.fences if f.language in PYTHON and not f.runs]
    run = site_build.records.get(page.stem)
    ran = [block["lineno"] for block in run.blocks] if run else []
    assert ran == sorted(ran), "blocks must run in page order"
    assert sorted(ran + skipped) == python_fence_lines(page.read_text(encoding="utf-8"))
    if ran:
        assert run.executions == 1
        assert f"{run.page}: code executed 1 time(s) in this build" in site_build.log


@pytest.mark.parametrize("page", PAGES, ids=STEMS)
def test_pages_never_import_snippets(page):
    for fence in parse(page).fences:
        assert not re.search(r"^\s*(from|import)\s+snippets\b", fence.code, re.M), fence.where


@pytest.mark.parametrize("page", PAGES, ids=STEMS)
def test_every_program_fence_runs_or_says_why_not(page):
    """`runnable` raises on an unmarked shell fence; every skip carries a reason."""
    parsed = parse(page)
    assert parsed.runnable == [f for f in parsed.fences if f.runs]
    for fence in parsed.fences:
        if fence.skip_reason is not None:
            assert len(fence.skip_reason) > 10, f"{fence.where}: give a real reason"


def _codeblocks(markdown, workdir):
    """pytest-codeblocks on one page, in its own interpreter, far from the project."""
    workdir.mkdir()
    (workdir / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # not ours: no -W error
    command = [sys.executable, "-m", "pytest", "--codeblocks", "-p", "no:cacheprovider", "-q"]
    return subprocess.run(
        [*command, str(markdown)],
        cwd=workdir,
        env=dict(os.environ, MPLBACKEND="Agg"),
        capture_output=True,
        text=True,
        timeout=1800,
    )


@pytest.fixture(scope="session")
def codeblocks_runs(site_build, tmp_path_factory):
    """Each recorded page run again by pytest-codeblocks, two pages at a time."""
    folder = site_build.record_dir / "codeblocks"
    work = tmp_path_factory.mktemp("codeblocks")
    stems = sorted(site_build.records, key=lambda s: -site_build.records[s].seconds)
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        done = pool.map(lambda s: _codeblocks(folder / f"{s}.md", work / s), stems)
        runs = dict(zip(stems, done, strict=True))
    for stem in runs:
        EXECUTIONS[stem] += 1
    return runs


@pytest.mark.parametrize("stem", RUNNING)
def test_pytest_codeblocks_runs_the_page_again_and_it_prints_the_same(stem, codeblocks_runs):
    """The expanded page runs outside the build and prints exactly what the build printed."""
    done = codeblocks_runs[stem]
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^1 passed", done.stdout, re.M), done.stdout


def test_a_page_that_prints_differently_fails_its_second_run(tmp_path):
    """Guards the guard: the chained program's output really is compared."""
    from sitebuild import record
    from sitebuild.runner import BlockRun, PageRun

    page = tmp_path / "drift.md"
    page.write_text("```python\nimport random\nprint(random.random())\n```\n", encoding="utf-8")
    parsed = parse(page)
    run = PageRun(parsed.name, [BlockRun(parsed.runnable[0], "0.5\n", "0.5\n", [], [], 0.0)])
    markdown = tmp_path / "codeblocks.md"
    markdown.write_text(record.codeblocks_markdown(parsed, run), encoding="utf-8")
    done = _codeblocks(markdown, tmp_path / "work")
    assert done.returncode == 1 and "Expected output" in done.stdout, done.stdout


def test_printed_include_lines_show_as_printed():
    """pymdownx.snippets reads fences too: output that looks like an include
    or a section marker (the Llama page's model writes such lines) is
    escaped, so the page shows what was printed."""
    from sitebuild.render import output_fence
    from tests.helpers import expander

    printed = [
        '--8<-- "snippets/no_such_file.py:x"',
        "  --8<--",
        "x = 1  # --8<-- [start:name]",
        "# --8<-- [end:name]",
        "a --8<-- b, and 8<- alone",
    ]
    fence = output_fence("", "\n".join(printed))
    assert expander()(fence)[2:-1] == printed
