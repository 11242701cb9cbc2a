"""Every page's code, run as a reader runs it: in order, in a fresh interpreter."""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from sitebuild.pages import ROOT, read_fences, runnable, snippet_expander
from tests.conftest import PAGES

PYTHON_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*(python|py|python3)\b", re.IGNORECASE)


def python_fence_lines(text: str) -> list[int]:
    """Opening lines of Python fences, by a regex that shares nothing with the parser."""
    return [n for n, line in enumerate(text.splitlines(), 1) if PYTHON_FENCE.match(line)]


def test_there_are_pages():
    assert {p.name for p in PAGES} >= {"index.md", "derivatives.md"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_page_blocks_run_in_order(page, page_run):
    """Every Python fence runs; the count run equals the count on the page."""
    run = page_run(page)
    ran = [block.fence.lineno for block in run.blocks]
    skipped = [f.lineno for f in read_fences(page) if f.language == "python" and not f.runs]
    on_page = python_fence_lines(page.read_text(encoding="utf-8"))
    assert ran == sorted(ran), "blocks must run in page order"
    assert sorted(ran + skipped) == on_page


def test_derivatives_page_has_enough_blocks(page_run):
    run = page_run(ROOT / "docs" / "derivatives.md")
    assert run.executed >= 8


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_pages_never_import_snippets(page):
    for fence in read_fences(page):
        assert not re.search(r"^\s*(from|import)\s+snippets\b", fence.code, re.M), fence.where


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_program_fence_runs_or_says_why_not(page):
    """`runnable` raises on an unmarked shell fence; every skip carries a reason."""
    fences = read_fences(page)
    runnable(fences)  # raises PageError naming the fence (proven in test_failures.py)
    for fence in fences:
        if fence.skip_reason is not None:
            assert len(fence.skip_reason) > 10, f"{fence.where}: give a real reason"


def test_pages_read_in_parallel_threads_as_they_read_alone(caplog):
    """The build prepares pages in threads: includes must expand the same
    there, and loading MkDocs' config at once from several threads must not
    register a plugin twice (a warning that fails the strict build)."""
    alone = {page: read_fences(page) for page in PAGES}
    snippet_expander.cache_clear()  # every thread races to load the config
    with caplog.at_level(logging.WARNING), ThreadPoolExecutor(8) as pool:
        together = list(pool.map(read_fences, PAGES * 4))
    assert together == [alone[page] for page in PAGES * 4]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
