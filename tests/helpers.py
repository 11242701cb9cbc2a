"""Helpers the tests share: the one site build, page parsing, executions counted."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sitebuild import record
from sitebuild.chapters import CONFIG_FILE, load_chapters
from sitebuild.page import ROOT, Page, parse_page, snippet_expander

DOCS = ROOT / "docs"
TEST_REPOSITORY = "example-owner/learn-jax"
PAGES = sorted(DOCS.glob("*.md"))
CHAPTERS = load_chapters()
NOTEBOOK_CHAPTERS = [c.stem for c in CHAPTERS if c.notebook]

# How many times each page's code ran in this test session: once in the
# build, once under pytest-codeblocks, once as a downloaded notebook.
EXECUTIONS: Counter[str] = Counter()


@cache
def expander():
    """The include expander of mkdocs.yml, loaded once for tests that parse pages alone."""
    from mkdocs.config import load_config

    config = load_config(str(CONFIG_FILE))
    return snippet_expander(config["markdown_extensions"], config["mdx_configs"])


def parse(path: Path) -> Page:
    return parse_page(path, path.name, expander())


def build(site_dir: Path, *extra: str, config: Path | None = None, **env: str):
    """`python -m sitebuild.build` in a subprocess: (CompletedProcess, seconds)."""
    environment = dict(os.environ, NO_MKDOCS_2_WARNING="1", GITHUB_REPOSITORY=TEST_REPOSITORY)
    environment.pop("SITEBUILD_CACHE", None)  # the tests always run pages cold
    environment.update(env)
    command = [sys.executable, "-m", "sitebuild.build", "--site-dir", str(site_dir), *extra]
    if config is not None:
        command += ["--config", str(config)]
    started = time.monotonic()
    done = subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=1800
    )
    return done, time.monotonic() - started


@dataclass
class SiteBuild:
    """The test session's one strict build of the site, and what its page runs left."""

    site_dir: Path
    log: str
    seconds: float
    records: dict[str, record.PageRecord]
    record_dir: Path

    def html(self, relative: str) -> str:
        return (self.site_dir / relative).read_text(encoding="utf-8")

    def article(self, relative: str) -> str:
        """The page's own content, without the theme's scripts around it."""
        html = self.html(relative)
        return html[html.index("<article") : html.index("</article>")]
