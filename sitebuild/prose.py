"""Split a page into prose and fences, and fill the prose from a page run."""

from __future__ import annotations

import re

from sitebuild.pages import PageError, split_segments

# {{ expression }} or {{ expression:format_spec }}, evaluated in the namespace
# the page's own code left behind, so quoted numbers are computed, not typed.
PLACEHOLDER = re.compile(r"\{\{\s*(.+?)\s*\}\}")
# ![alt](figures/name.svg): a figure the page's code shows under that name;
# figures/name.gif for an animation.
FIGURE_REF = re.compile(r"!\[([^\]]+)\]\(figures/([A-Za-z0-9_]+)\.(svg|gif)\)")
FIGURE_REF_NO_ALT = re.compile(r"!\[\]\(figures/")


def placeholders(text: str) -> list[str]:
    """The expressions quoted in the prose (never inside fences), in order."""
    found = []
    for segment in split_segments(text):
        if segment.kind == "prose":
            for line in segment.lines:
                found += [m.group(1) for m in PLACEHOLDER.finditer(line)]
    return list(dict.fromkeys(found))


def fill_placeholders(line: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], line)


def figure_refs(text: str, page: str) -> list[str]:
    names = []
    for segment in split_segments(text):
        if segment.kind != "prose":
            continue
        for offset, line in enumerate(segment.lines):
            if FIGURE_REF_NO_ALT.search(line):
                raise PageError(f"{page}:{segment.lineno + offset}: a figure needs alt text")
            names += [f"{m.group(2)}.{m.group(3)}" for m in FIGURE_REF.finditer(line)]
    return names


def figure_alts(text: str) -> dict[str, str]:
    """Figure name -> the alt text the page gives it."""
    return {f"{m.group(2)}.{m.group(3)}": m.group(1) for m in FIGURE_REF.finditer(text)}


def figure_pair(line: str) -> str:
    """One reference becomes the light and the dark variant, one shown per palette."""
    return FIGURE_REF.sub(
        r"![\1](figures/\2-light.\3#only-light)![\1](figures/\2-dark.\3#only-dark)", line
    )
