"""A page's Markdown as the site shows it: outputs, values and figures in place."""

from __future__ import annotations

from pymdownx.snippets import SnippetPreprocessor

from sitebuild import results
from sitebuild.page import PLACEHOLDER, Page
from sitebuild.palette import figure_pair
from sitebuild.runner import PageRun

COLAB = "https://colab.research.google.com/github/{repository}/blob/gh-pages/downloads/{stem}.ipynb"


def fill_placeholders(line: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], line)


def literal(line: str) -> str:
    """`line` escaped with pymdownx.snippets' `;` where the snippets
    preprocessor, which reads fences too, would take it for an include or a
    section marker: a printed `--8<--` line then shows as printed."""
    for pattern, group in [
        (SnippetPreprocessor.RE_ALL_SNIPPETS, "space"),
        (SnippetPreprocessor.RE_SNIPPET_SECTION, "pre"),
    ]:
        if "8<-" in line and (match := pattern.match(line)):
            cut = len(match.group(group))
            return line[:cut] + ";" + line[cut:]
    return line


def output_fence(indent: str, output: str) -> list[str]:
    ticks = "````" if "```" in output else "```"
    body = [indent + literal(line) if line else "" for line in output.rstrip().splitlines()]
    return ["", f'{indent}{ticks}text title="Output"', *body, indent + ticks]


def notebook_box(stem: str, repository: str | None, packages: str) -> list[str]:
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
        f"[download the notebook](downloads/{stem}.ipynb){colab}. It needs {packages}, "
        "the versions this page was built with.",
        "",
    ]


def render(
    page: Page,
    run: PageRun | None,
    *,
    repository: str | None = None,
    packages: str = "",
    markers: dict | None = None,
) -> str:
    """The page's Markdown body, with everything its run produced in place.

    `markers` maps extra `<!-- name -->` lines to functions returning their
    Markdown (the home page's chapter table); `<!-- results: NAME -->` lines
    come from results/.
    """
    outputs = {block.fence.lineno: block.output for block in run.blocks} if run else {}
    values = run.values if run else {}
    markers = markers or {}
    lines: list[str] = []
    box_due = page.notebook
    for segment in page.segments:
        if segment.kind == "fence":
            lines += segment.lines
            if outputs.get(segment.lineno, "").strip():
                lines += output_fence(segment.indent, outputs[segment.lineno])
            continue
        for line in segment.lines:
            if line.strip() in markers:
                lines.append(markers[line.strip()]())
                continue
            lines.append(figure_pair(fill_placeholders(line, values)))
            if box_due and line.startswith("# "):
                lines += notebook_box(page.stem, repository, packages)
                box_due = False
    return results.expand("\n".join(lines) + "\n", page.name)
