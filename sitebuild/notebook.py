"""Turn a chapter page into a self-contained Jupyter notebook.

The notebook is made from the page itself: its prose becomes Markdown cells
and its Python blocks, includes expanded, become code cells. The two cannot
drift, and since pages never import `snippets`, neither does the notebook.
"""

from __future__ import annotations

import re

import nbformat
from mkdocs.utils.meta import get_data

from sitebuild.pages import Fence, split_segments
from sitebuild.prose import FIGURE_REF, figure_alts, fill_placeholders
from sitebuild.results import expand
from sitebuild.runner import PageRun

HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
PAGE_LINK = re.compile(r"\[([^\]]+)\]\((?!https?:)[^)]*\)")
ADMONITION = re.compile(r'^(\s*)(?:!!!|\?\?\?\+?)\s*(\w+)(?:\s+"([^"]*)")?\s*$')

INTRO = (
    '*This notebook is generated from the chapter "{title}" of the site, cell for '
    "cell; every cell ran when the site was built. It needs only `jax`, `numpy` "
    "and `matplotlib`: run it top to bottom.*"
)


def _prose_to_markdown(lines: list[str], values: dict[str, str]) -> str:
    # Tables from results/ stay; their figures live on the site only.
    text = HTML_COMMENT.sub("", expand("\n".join(lines), "notebook", figures=False))
    out = []
    in_admonition = None
    for line in text.splitlines():
        if FIGURE_REF.search(line):
            continue  # the code cell above draws the figure inline
        match = ADMONITION.match(line)
        if match:
            kind, title = match.group(2), match.group(3)
            in_admonition = match.group(1) + "    "
            out.append(f"> **{title or kind.capitalize()}**")
            out.append(">")
            continue
        if in_admonition is not None:
            if line.startswith(in_admonition) or not line.strip():
                out.append("> " + line[len(in_admonition) :] if line.strip() else ">")
                continue
            in_admonition = None
        out.append(line)
    markdown = PAGE_LINK.sub(r"\1", fill_placeholders("\n".join(out), values))
    return markdown.strip()


def _code_cell(code: str, figures: list[str], alts: dict[str, str]):
    cell = nbformat.v4.new_code_cell(code.rstrip("\n"))
    if figures:  # read by sitebuild/templates/notebook.html.j2
        cell.metadata["alt"] = "; ".join(alts[name] for name in figures)
    return cell


def build_notebook(text: str, fences: list[Fence], run: PageRun):
    """The notebook of a page, from the page's text, its fences and a run of them."""
    body, _meta = get_data(text)
    offset = text.count("\n") - body.count("\n")  # front matter shifts line numbers
    by_line = {block.fence.lineno - offset: block for block in run.blocks}
    shown_only = {fence.lineno - offset: fence for fence in fences if not fence.runs}
    alts = figure_alts(text)
    cells = []
    for segment in split_segments(body):
        block = by_line.get(segment.lineno) if segment.kind == "fence" else None
        if block is not None:
            cells.append(_code_cell(block.fence.code, block.figures, alts))
            continue
        source = _prose_to_markdown(segment.lines, run.values)
        if segment.lineno in shown_only:  # never run: a Markdown code block, includes expanded
            fence = shown_only[segment.lineno]
            source = f"```{fence.language}\n{fence.code.rstrip()}\n```"
        if source:
            cells.append(nbformat.v4.new_markdown_cell(source))
    _add_intro(cells)
    for number, cell in enumerate(cells):
        cell["id"] = f"cell-{number}"  # stable ids: two builds write equal files
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    nbformat.validate(notebook)
    return notebook


def _add_intro(cells) -> None:
    """Put a note under the title saying where the notebook comes from."""
    first = cells[0]["source"] if cells else ""
    heading = re.match(r"#\s+(.+)(?:\n|$)", first)
    if not heading:
        cells.insert(0, nbformat.v4.new_markdown_cell(INTRO.format(title="this chapter")))
        return
    rest = first[heading.end() :].strip()
    cells[0] = nbformat.v4.new_markdown_cell(heading.group(0).strip())
    cells.insert(1, nbformat.v4.new_markdown_cell(INTRO.format(title=heading.group(1).strip())))
    if rest:
        cells.insert(2, nbformat.v4.new_markdown_cell(rest))
