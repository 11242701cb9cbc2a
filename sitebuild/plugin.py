"""The site's MkDocs plugin: every page's code runs once, and everything comes from that run.

on_config   adds the "Notebooks" section to the nav, from the chapters
on_files    parses every page once, runs each page's code once (in parallel,
            one fresh interpreter a page), and registers the figures and the
            executed notebooks that run produced
on_page_markdown
            renders a page from its parse and its run: outputs under the
            blocks, computed values in the prose, both figure palettes
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import nbformat
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, event_priority
from mkdocs.structure.files import File, Files

from sitebuild import notebook_html, record, results
from sitebuild.cache import RunCache
from sitebuild.chapters import TABLE_MARKER, chapter_table, read_chapters, with_notebooks
from sitebuild.imports import IMPORTS_MARKER, imports_table, package_phrase
from sitebuild.notebook import build_notebook
from sitebuild.page import Page, PageError, display_name, parse_page, snippet_expander
from sitebuild.palette import PALETTES
from sitebuild.render import render
from sitebuild.results_files import RESULTS
from sitebuild.runner import PageRun, run_page
from sitebuild.vendor import add_vendor_files

log = logging.getLogger("mkdocs.plugins.sitebuild")


@cache  # `make serve` rebuilds in one process: redraw only when results change
def _results_figure(marker: str, digest: str) -> dict[str, bytes]:
    return results.figure_files(marker)


def results_digest() -> str:
    """A hash of every results file, the key of the figures drawn from them."""
    digest = hashlib.sha256()
    for path in sorted(RESULTS.glob("*.json")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


class SitePlugin(BasePlugin):
    def on_config(self, config):
        try:
            self.chapters = read_chapters(config.nav, Path(config.docs_dir))
            config.nav = with_notebooks(config.nav, self.chapters)
        except PageError as err:
            raise PluginError(str(err)) from err
        self.expand = snippet_expander(config.markdown_extensions, config.mdx_configs)
        notebook_html.quiet_nbconvert()
        self.cache = RunCache.from_env()
        self.record = record.from_env()
        self.pages: dict[str, Page] = {}
        self.runs: dict[str, PageRun] = {}
        self.notebooks: dict[str, nbformat.NotebookNode] = {}  # "notebooks/x.ipynb" -> it
        self.workdir: Path | None = None
        return config

    @event_priority(100)  # before mkdocs-jupyter claims the generated notebooks
    def on_files(self, files: Files, config) -> Files:
        self.workdir = self._fresh_workdir()
        try:
            for file in files.documentation_pages():
                if file.src_uri.endswith(".md"):
                    path = Path(file.abs_src_path)
                    self.pages[file.src_uri] = parse_page(
                        path, file.src_uri, self.expand, display_name(path)
                    )
            self.runs = self._run_all(list(self.pages.values()))
            for page in self.pages.values():
                self._register_figures(page, files, config)
                if page.notebook:
                    self._register_notebook(page, files, config)
        except PageError as err:
            raise PluginError(str(err)) from err
        add_vendor_files(files, config)
        return files

    def _run_all(self, pages: list[Page]) -> dict[str, PageRun]:
        for page in pages:
            if not page.runnable and (page.placeholders or page.notebook):
                what = "notebook: true" if page.notebook else f"{{{{ {page.placeholders[0]} }}}}"
                raise PageError(f"{page.name}: says {what} but runs no code")
        to_run = sorted((p for p in pages if p.runnable), key=lambda p: -len(p.runnable))

        def run(page: Page) -> PageRun:
            folder = self.workdir / "figures" / page.stem
            return run_page(page, folder, notebook=page.notebook, cache=self.cache)

        with ThreadPoolExecutor(os.cpu_count() or 2) as pool:  # each waits on its interpreter
            runs = dict(zip((p.src_uri for p in to_run), pool.map(run, to_run), strict=True))
        for page in to_run:
            _check_figures(page, runs[page.src_uri])
            run = runs[page.src_uri]
            log.info(
                f"{page.name}: code executed {run.executions} time(s) in this build "
                f"({len(run.blocks)} blocks, {run.seconds:.1f} s)"
            )
            if self.record is not None:
                record.write(self.record, page, run)
        return runs

    def _register_figures(self, page: Page, files: Files, config) -> None:
        generated: dict[str, bytes] = {}
        run = self.runs.get(page.src_uri)
        for name in [n for block in run.blocks for n in block.figures] if run else []:
            stem, suffix = name.rsplit(".", 1)
            for palette in PALETTES:
                file_name = f"{stem}-{palette}.{suffix}"
                generated[file_name] = (run.figure_dir / file_name).read_bytes()
        for marker in results.used_figures(page.text):
            generated.update(_results_figure(marker, results_digest()))
        for file_name, content in generated.items():
            if files.get_file_from_path(f"figures/{file_name}") is not None:
                raise PageError(
                    f"{page.name}: figure {file_name!r} is used by two pages: rename one"
                )
            files.append(File.generated(config, f"figures/{file_name}", content=content))

    def _register_notebook(self, page: Page, files: Files, config) -> None:
        notebook = build_notebook(page, self.runs[page.src_uri])
        path = self.workdir / "notebooks" / f"{page.stem}.ipynb"
        path.parent.mkdir(exist_ok=True)
        nbformat.write(notebook, path)
        self.notebooks[f"notebooks/{page.stem}.ipynb"] = notebook
        # The executed page (mkdocs-jupyter renders it, outputs as stored) and a download.
        files.append(File.generated(config, f"notebooks/{page.stem}.ipynb", abs_src_path=str(path)))
        files.append(
            File.generated(config, f"downloads/{page.stem}.ipynb", content=path.read_bytes())
        )

    def on_page_markdown(self, markdown: str, page, config, files) -> str:
        parsed = self.pages.get(page.file.src_uri)
        if parsed is None:
            return markdown
        try:
            return render(
                parsed,
                self.runs.get(page.file.src_uri),
                repository=config["extra"].get("repository") or None,
                packages=package_phrase(parsed) if parsed.notebook else "",
                markers=self._markers(),
            )
        except PageError as err:
            raise PluginError(str(err)) from err

    def _markers(self) -> dict:
        """Lines of the home page drawn from every chapter: the table, the imports."""
        pages = {c.title: self.pages[c.src_uri] for c in self.chapters if c.src_uri in self.pages}
        return {
            TABLE_MARKER: lambda: chapter_table(self.chapters),
            IMPORTS_MARKER: lambda: imports_table(pages),
        }

    def on_page_content(self, html: str, page, config, files) -> str:
        notebook = self.notebooks.get(page.file.src_uri)
        if notebook is None:
            return html
        # The notebook repeats its chapter word for word: search finds the chapter.
        page.meta.setdefault("search", {})["exclude"] = True
        return notebook_html.finish(html, notebook)

    def _fresh_workdir(self) -> Path:
        """Where generated files live during a build. With the local cache on, a
        fixed folder: mkdocs-jupyter's own cache keys on the notebook's path."""
        if self.cache is None:
            return Path(tempfile.mkdtemp(prefix="site-build-"))
        folder = self.cache.folder.parent / "site-build"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder

    def on_post_build(self, config) -> None:
        if self.workdir is not None and self.cache is None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None


def _check_figures(page: Page, run: PageRun) -> None:
    shown = [name for block in run.blocks for name in block.figures]
    referenced = list(page.figure_alts)
    for name in sorted(set(shown) | set(referenced)):
        if shown.count(name) != 1 or name not in referenced:
            raise PageError(
                f"{page.name}: figure {name!r} is shown {shown.count(name)} time(s) by "
                f"the code and referenced {referenced.count(name)} time(s) as "
                f"![alt text](figures/{name}); each figure needs exactly one of each"
            )
