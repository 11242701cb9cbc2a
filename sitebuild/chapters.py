"""The one list of chapters: the nav in mkdocs.yml, read with each page's front matter.

Everything else that lists chapters is derived from it: the "Notebooks"
section of the nav, the home page's chapter table, and the chapter lists
the tests use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from mkdocs.utils.meta import get_data
from mkdocs.utils.yaml import get_yaml_loader

from sitebuild.page import ROOT, PageError

CONFIG_FILE = ROOT / "mkdocs.yml"
HOME = "index.md"
NOTEBOOKS = "Notebooks"
TABLE_MARKER = "<!-- chapters -->"


@dataclass(frozen=True)
class Chapter:
    title: str
    src_uri: str  # relative to docs/
    description: str
    notebook: bool

    @property
    def stem(self) -> str:
        return Path(self.src_uri).stem


def nav_pages(nav: list) -> list[tuple[str, str]]:
    """(title, file) of every Markdown page in `nav`, in order, sections flattened."""
    pages = []
    for entry in nav or []:
        items = entry.items() if isinstance(entry, dict) else [(None, entry)]
        for title, target in items:
            if isinstance(target, list):
                pages += nav_pages(target)
            elif isinstance(target, str) and target.endswith(".md"):
                pages.append((title or target, target))
    return pages


def read_chapters(nav: list, docs_dir: Path) -> list[Chapter]:
    """Every page of the nav but the home page, in nav order."""
    chapters = []
    for title, src_uri in nav_pages(nav):
        if src_uri == HOME:
            continue
        path = Path(docs_dir) / src_uri
        if not path.is_file():
            continue  # MkDocs reports a nav entry without a file itself
        meta = get_data(path.read_text(encoding="utf-8"))[1] or {}
        description = str(meta.get("description", "")).strip()
        if meta.get("notebook") and not description:
            raise PageError(
                f"{src_uri}: a chapter's front matter needs `description:`, one line saying "
                "what the reader learns (the home page's chapter table shows it)"
            )
        chapters.append(Chapter(title, src_uri, description, bool(meta.get("notebook"))))
    return chapters


def with_notebooks(nav: list | None, chapters: list[Chapter]) -> list | None:
    """`nav` plus a "Notebooks" section: every chapter that is also a notebook.

    Without a nav MkDocs lists every file, generated notebooks included.
    """
    if nav is None:
        return None
    if any(isinstance(e, dict) and NOTEBOOKS in e for e in nav):
        raise PageError(
            f"mkdocs.yml: remove the {NOTEBOOKS!r} section from the nav; the build adds it "
            "from the chapters whose front matter says `notebook: true`"
        )
    notebooks = [{c.title: f"notebooks/{c.stem}.ipynb"} for c in chapters if c.notebook]
    return [*nav, {NOTEBOOKS: notebooks}] if notebooks else list(nav)


def chapter_table(chapters: list[Chapter]) -> str:
    rows = ["| Chapter | What you learn |", "| --- | --- |"]
    number = 0
    for chapter in (c for c in chapters if c.description):
        number += chapter.notebook
        label = f"{number}. " if chapter.notebook else ""
        rows.append(f"| {label}[{chapter.title}]({chapter.src_uri}) | {chapter.description} |")
    return "\n".join(rows)


def read_config(config_file: Path = CONFIG_FILE) -> dict:
    """mkdocs.yml as plain data, without loading MkDocs' plugins (tags kept as text)."""
    loader = get_yaml_loader(yaml.SafeLoader)
    loader.add_constructor("!relative", lambda _loader, node: node.value)
    with open(config_file, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=loader)


def load_chapters(config_file: Path = CONFIG_FILE) -> list[Chapter]:
    """The chapters as the build sees them, read without loading MkDocs' config."""
    config = read_config(config_file)
    return read_chapters(config["nav"], Path(config_file).parent / config.get("docs_dir", "docs"))
