"""Turn a chapter page and its one run into an executed Jupyter notebook.

The notebook is made from the page itself: its prose becomes Markdown cells
and its Python blocks, includes expanded, become code cells that carry the
outputs of the build's run. The two cannot drift, and since pages never
import `snippets`, neither does the notebook.
"""

from __future__ import annotations

import re

import nbformat

from sitebuild.imports import package_phrase, page_modules, page_packages
from sitebuild.page import FIGURE_REF, Page
from sitebuild.render import fill_placeholders
from sitebuild.results import expand
from sitebuild.runner import BlockRun, PageRun
from sitebuild.version_check import version_check_cell

HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
PAGE_LINK = re.compile(r"\[([^\]]+)\]\((?!https?:)[^)]*\)")
ADMONITION = re.compile(r'^(\s*)(?:!!!|\?\?\?\+?)\s*(\w+)(?:\s+"([^"]*)")?\s*$')

INTRO = (
    '*This notebook is generated from the chapter "{title}" of the site, cell for '
    "cell. It needs {packages}, the versions the site was built with; the first "
    "code cell checks yours and installs those where they differ. Every cell after "
    "it ran when the site was built, and the outputs are that run's: run it top to "
    "bottom.*"
)


def _prose_to_markdown(lines: list[str], values: dict[str, str], page: str) -> str:
    # Tables from results/ stay; their figures live on the site only.
    text = HTML_COMMENT.sub("", expand("\n".join(lines), page, figures=False))
    out = []
    in_admonition = None
    for line in text.splitlines():
        if FIGURE_REF.search(line):
            continue  # the code cell above shows the figure as its output
        match = ADMONITION.match(line)
        if match:
            kind, title = match.group(2), match.group(3)
            in_admonition = match.group(1) + "    "
            out += [f"> **{title or kind.capitalize()}**", ">"]
            continue
        if in_admonition is not None:
            if line.startswith(in_admonition) or not line.strip():
                out.append("> " + line[len(in_admonition) :] if line.strip() else ">")
                continue
            in_admonition = None
        out.append(line)
    markdown = PAGE_LINK.sub(r"\1", fill_placeholders("\n".join(out), values))
    return markdown.strip()


def _code_cell(block: BlockRun, count: int, alts: dict[str, str]):
    cell = nbformat.v4.new_code_cell(block.fence.code.rstrip("\n"), execution_count=count)
    cell.outputs = [nbformat.from_dict(output) for output in block.outputs]
    if block.figures:  # read by sitebuild/notebook_html.py
        cell.metadata["alt"] = "; ".join(alts[name] for name in block.figures)
    return cell


def build_notebook(page: Page, run: PageRun):
    """The executed notebook of `page`, from its segments and its run."""
    by_line = {block.fence.lineno: block for block in run.blocks}
    cells, count = [], 0
    for segment in page.segments:
        block = by_line.get(segment.lineno) if segment.kind == "fence" else None
        if block is not None:
            count += 1
            cells.append(_code_cell(block, count, page.figure_alts))
            continue
        if segment.fence is not None:  # never run: a Markdown code block, includes expanded
            fence = segment.fence
            source = f"```{fence.language}\n{fence.code.rstrip()}\n```"
        else:
            source = _prose_to_markdown(segment.lines, run.values, page.name)
        if source:
            cells.append(nbformat.v4.new_markdown_cell(source))
    intro = INTRO.format(title=page.title, packages=package_phrase(page))
    check = version_check_cell(page_packages(page), sorted(page_modules(page)))
    _add_intro(cells, intro, check)
    for number, cell in enumerate(cells):
        cell["id"] = f"cell-{number}"  # stable ids: two builds write equal files
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    nbformat.validate(notebook)
    return notebook


def _add_intro(cells, intro: str, check) -> None:
    """Under the title: a note saying where the notebook comes from, then the check."""
    first = cells[0]["source"] if cells else ""
    heading = re.match(r"#\s+(.+)(?:\n|$)", first)
    head = [nbformat.v4.new_markdown_cell(heading.group(0).strip())] if heading else []
    rest = first[heading.end() :].strip() if heading else ""
    opening = [*head, nbformat.v4.new_markdown_cell(intro), check]
    if rest:
        opening.append(nbformat.v4.new_markdown_cell(rest))
    cells[: 1 if heading else 0] = opening
