"""MkDocs hooks: run every page's code, then render what it printed and drew.

`on_files` runs each page's Python blocks in a fresh interpreter, registers
the figures it saved (a light and a dark variant of each) and writes each
chapter's notebook. `on_page_markdown` puts each block's output under it,
fills `{{ ... }}` from the page's own variables and turns each figure
reference into its light and dark variant.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.utils.meta import get_data

# MkDocs puts only this file's folder on sys.path while it loads a hook; the
# imports below need the project root, wherever mkdocs was started from.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sitebuild import results
from sitebuild.notebook import build_notebook
from sitebuild.pages import CONFIG_FILE, Fence, PageError, read_fences, runnable, split_segments
from sitebuild.prose import figure_pair, figure_refs, fill_placeholders, placeholders
from sitebuild.runner import PageRun, run_page, share_compilation_cache
from sitebuild.vendor import add_vendor_files

PALETTES = ("light", "dark")  # the variants _driver.py saves of every figure


@dataclass
class PreparedPage:
    text: str
    fences: list[Fence]
    run: PageRun | None
    notebook: bool


_prepared: dict[str, PreparedPage] = {}
_workdir: Path | None = None


def _fresh_workdir() -> Path:
    global _workdir
    if _workdir is not None:
        shutil.rmtree(_workdir, ignore_errors=True)
    _workdir = Path(tempfile.mkdtemp(prefix="site-build-"))
    return _workdir


def _prepare(file: File, workdir: Path, config_file: Path) -> PreparedPage:
    text = Path(file.abs_src_path).read_text(encoding="utf-8")
    page = Path(file.abs_src_path)
    fences = read_fences(page, config_file)
    to_run = runnable(fences)
    notebook = bool(get_data(text)[1].get("notebook"))
    expressions = tuple(placeholders(text))
    if not to_run:
        if expressions:
            raise PageError(f"{file.src_uri}: quotes {{{{ {expressions[0]} }}}} but runs no code")
        return PreparedPage(text, fences, None, notebook)
    name = fences[0].page
    folder = workdir / "figures" / Path(file.src_uri).stem
    folder.mkdir(parents=True)
    run = run_page(to_run, page=name, expressions=expressions, figure_dir=folder)
    _check_figures(run, figure_refs(text, name))
    return PreparedPage(text, fences, run, notebook)


def _check_figures(run: PageRun, referenced: list[str]) -> None:
    shown = [label for block in run.blocks for label in block.figures]
    for name in set(shown) | set(referenced):
        if shown.count(name) != 1 or referenced.count(name) != 1:
            raise PageError(
                f"{run.page}: figure {name!r} is shown {shown.count(name)} time(s) by "
                f"the code and referenced {referenced.count(name)} time(s) as "
                f"![alt text](figures/{name}); each figure needs exactly one of each"
            )


def _add_figure(files: Files, config, file_name: str, content: bytes, page: str) -> None:
    if files.get_file_from_path(f"figures/{file_name}") is not None:
        raise PageError(f"{page}: figure {file_name!r} is used by two pages: rename one")
    files.append(File.generated(config, f"figures/{file_name}", content=content))


def _register_figures(prepared: PreparedPage, files: Files, config) -> None:
    run = prepared.run
    for block in run.blocks:
        for name in block.figures:
            stem, suffix = name.rsplit(".", 1)
            for palette in PALETTES:
                file_name = f"{stem}-{palette}.{suffix}"
                content = (run.figure_dir / file_name).read_bytes()
                _add_figure(files, config, file_name, content, run.page)


def _register_results_figures(src_uri: str, prepared: PreparedPage, files: Files, config) -> None:
    """Figures drawn from the committed results (see sitebuild/results.py)."""
    for marker in results.used_figures(prepared.text):
        for file_name, content in results.figure_files(marker).items():
            _add_figure(files, config, file_name, content, src_uri)


def _register_notebook(src_uri: str, prepared: PreparedPage, files: Files, config) -> None:
    stem = Path(src_uri).stem
    notebook = build_notebook(prepared.text, prepared.fences, prepared.run)
    path = _workdir / "notebooks" / f"{stem}.ipynb"
    path.parent.mkdir(exist_ok=True)
    nbformat.write(notebook, path)
    # The executed page (mkdocs-jupyter renders it) and a plain download.
    files.append(File.generated(config, f"notebooks/{stem}.ipynb", abs_src_path=str(path)))
    files.append(File.generated(config, f"downloads/{stem}.ipynb", content=path.read_bytes()))


@event_priority(100)  # before mkdocs-jupyter claims the generated notebooks
def on_files(files: Files, config) -> Files:
    workdir = _fresh_workdir()
    share_compilation_cache(workdir / "jax-cache")  # pages, then notebooks
    config_file = Path(config["config_file_path"] or CONFIG_FILE)
    pages = [f for f in files.documentation_pages() if f.src_uri.endswith(".md")]
    _prepared.clear()
    try:
        with ThreadPoolExecutor(os.cpu_count() or 2) as pool:  # one interpreter per page
            done = pool.map(lambda f: _prepare(f, workdir, config_file), pages)
            _prepared.update({f.src_uri: p for f, p in zip(pages, done, strict=True)})
        for src_uri, prepared in _prepared.items():
            if prepared.run is not None:
                _register_figures(prepared, files, config)
            _register_results_figures(src_uri, prepared, files, config)
            if prepared.notebook:
                if prepared.run is None:
                    raise PageError(f"{src_uri}: notebook: true, but the page has no code")
                _register_notebook(src_uri, prepared, files, config)
    except PageError as err:
        raise PluginError(str(err)) from err
    add_vendor_files(files, config)
    return files


def _output_fence(indent: str, output: str) -> list[str]:
    ticks = "````" if "```" in output else "```"
    body = [indent + line if line else "" for line in output.rstrip().splitlines()]
    return ["", f'{indent}{ticks}text title="Output"', *body, indent + ticks]


COLAB = "https://colab.research.google.com/github/{repository}/blob/gh-pages/downloads/{stem}.ipynb"


def _notebook_links(stem: str, repository: str | None) -> list[str]:
    """The box under a chapter's title. Colab reads the notebook from the
    gh-pages branch, where the docs workflow publishes the built site."""
    colab = (
        f" or [open it in Colab]({COLAB.format(repository=repository, stem=stem)})"
        if repository
        else ""
    )
    return [
        "",
        '!!! tip "Run this chapter yourself"',
        f"    Every block below ran when this site was built. See them all with their "
        f"outputs as [a notebook](notebooks/{stem}.ipynb), "
        f"[download the notebook](downloads/{stem}.ipynb){colab} (it needs only "
        "`jax`, `numpy` and `matplotlib`).",
        "",
    ]


def render(prepared: PreparedPage, stem: str, repository: str | None = None) -> str:
    """The page's Markdown with outputs, quoted values and figure variants in place."""
    run = prepared.run
    outputs = {block.fence.lineno: block.output for block in run.blocks} if run else {}
    values = run.values if run else {}
    lines: list[str] = []
    links_due = prepared.notebook
    for segment in split_segments(prepared.text):
        if segment.kind == "fence":
            lines += segment.lines
            if outputs.get(segment.lineno, "").strip():
                lines += _output_fence(segment.indent, outputs[segment.lineno])
            continue
        for line in segment.lines:
            lines.append(figure_pair(fill_placeholders(line, values)))
            if links_due and line.startswith("# "):
                lines += _notebook_links(stem, repository)
                links_due = False
    markdown = get_data("\n".join(lines) + "\n")[0]
    return results.expand(markdown, prepared.fences[0].page if prepared.fences else stem)


def on_page_markdown(markdown: str, page, config, files) -> str:
    prepared = _prepared.get(page.file.src_uri)
    if prepared is None:
        return markdown
    repository = config["extra"].get("repository") or None
    return render(prepared, Path(page.file.src_uri).stem, repository)


def on_post_build(config) -> None:
    global _workdir
    if _workdir is not None:
        shutil.rmtree(_workdir, ignore_errors=True)
        _workdir = None
