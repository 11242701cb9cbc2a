"""A page, parsed once: front matter, prose and fences with their includes expanded.

The runner, the prose renderer, the notebook writer and the tests all read
the same `Page`, so they cannot disagree about what a page contains.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from mkdocs.utils.meta import get_data
from pymdownx.snippets import SnippetMissingError

ROOT = Path(__file__).resolve().parent.parent

# Fences in these languages are programs: each must run or carry a skip
# marker with a reason. Everything else (text, yaml, ...) is only shown.
PYTHON = frozenset({"python", "py", "python3"})
SHELL = frozenset({"sh", "bash", "shell", "console"})
EXECUTABLE = PYTHON | SHELL

FENCE_OPEN = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^\s`{]*)")
MARKER = re.compile(r"^\s*<!--\s*(pytest[.-].*?)\s*-->\s*$")
SKIP_MARK = re.compile(r"""^pytest\.mark\.skip\(\s*reason\s*=\s*(["'])(.+)\1\s*\)$""")
# {{ expression }} or {{ expression:format_spec }}, evaluated in the namespace
# the page's own code left behind, so quoted numbers are computed, not typed.
PLACEHOLDER = re.compile(r"\{\{\s*(.+?)\s*\}\}")
# ![alt](figures/name.svg): a figure the page's code shows under that name;
# figures/name.gif for an animation.
FIGURE_REF = re.compile(r"!\[([^\]]*)\]\(figures/([A-Za-z0-9_]+)\.(svg|gif)\)")

Expander = Callable[[list[str]], list[str]]


class PageError(Exception):
    """A page cannot be built as written; the message names page and line."""


@dataclass(frozen=True)
class Fence:
    """One fenced block of a page, with its includes expanded."""

    page: str  # path relative to the project root, e.g. "docs/derivatives.md"
    lineno: int  # line of the opening fence in the .md file (1-based)
    language: str  # first word of the info string, lower case
    code: str
    skip_reason: str | None

    @property
    def where(self) -> str:
        return f"{self.page}:{self.lineno}"

    @property
    def runs(self) -> bool:
        return self.language in PYTHON and self.skip_reason is None


@dataclass
class Segment:
    """A run of prose lines, or one whole fence with its opening and closing lines."""

    kind: str  # "prose" or "fence"
    lines: list[str]
    lineno: int  # first line of the segment in the .md file (1-based)
    fence: Fence | None = None

    @property
    def indent(self) -> str:
        return re.match(r"\s*", self.lines[0]).group(0)


@dataclass
class Page:
    path: Path
    name: str  # "docs/derivatives.md"
    src_uri: str  # "derivatives.md", as MkDocs names it
    text: str
    meta: dict
    segments: list[Segment] = field(repr=False)

    @property
    def stem(self) -> str:
        return Path(self.src_uri).stem

    @property
    def notebook(self) -> bool:
        return bool(self.meta.get("notebook"))

    @cached_property
    def fences(self) -> list[Fence]:
        return [s.fence for s in self.segments if s.fence is not None]

    @cached_property
    def runnable(self) -> list[Fence]:
        """The fences that run, in order; a program fence must run or say why not."""
        for fence in self.fences:
            if fence.language in SHELL and fence.skip_reason is None:
                raise PageError(
                    f"{fence.where}: a {fence.language} block must carry "
                    '<!--pytest.mark.skip(reason="...")--> saying why it does not run'
                )
            if fence.language not in EXECUTABLE and fence.skip_reason is not None:
                raise PageError(f"{fence.where}: a skip marker on a {fence.language!r} block")
        return [fence for fence in self.fences if fence.runs]

    def prose_lines(self):
        """(line number, line) of every prose line, in order."""
        for segment in self.segments:
            if segment.kind == "prose":
                yield from enumerate(segment.lines, start=segment.lineno)

    @cached_property
    def placeholders(self) -> tuple[str, ...]:
        """The expressions quoted in the prose, in order, each once."""
        found = [m.group(1) for _, line in self.prose_lines() for m in PLACEHOLDER.finditer(line)]
        return tuple(dict.fromkeys(found))

    @cached_property
    def figure_alts(self) -> dict[str, str]:
        """Figure file name ("name.svg") -> alt text, in the order referenced."""
        alts: dict[str, str] = {}
        for number, line in self.prose_lines():
            for match in FIGURE_REF.finditer(line):
                name = f"{match.group(2)}.{match.group(3)}"
                if not match.group(1).strip():
                    raise PageError(f"{self.name}:{number}: a figure needs alt text")
                if name in alts:
                    raise PageError(f"{self.name}:{number}: figure {name!r} is referenced twice")
                alts[name] = match.group(1)
        return alts

    @cached_property
    def title(self) -> str:
        for _, line in self.prose_lines():
            if line.startswith("# "):
                return line[2:].strip()
        return self.stem


def _closes(line: str, opener: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(opener) and set(stripped) == {opener[0]}


def split_segments(lines: list[str], first_lineno: int = 1, name: str = "") -> list[Segment]:
    """Prose and fences, by a plain line scan; an unclosed fence is an error."""
    segments: list[Segment] = []
    opener = None
    for number, line in enumerate(lines, start=first_lineno):
        match = FENCE_OPEN.match(line)
        if opener is None and match:
            opener = match.group(2)
            segments.append(Segment("fence", [line], number))
        elif opener is not None:
            segments[-1].lines.append(line)
            opener = None if _closes(line, opener) else opener
        elif segments and segments[-1].kind == "prose":
            segments[-1].lines.append(line)
        else:
            segments.append(Segment("prose", [line], number))
    if opener is not None:
        raise PageError(f"{name}:{segments[-1].lineno}: the fence opened here is never closed")
    return segments


def _skip_reason(marks: list[tuple[int, str]], page: str) -> str | None:
    reasons = []
    for number, mark in marks:
        match = SKIP_MARK.match(mark)
        if not match or not match.group(2).strip():
            raise PageError(
                f"{page}:{number}: unsupported marker <!--{mark}-->; the only marker a "
                'page may use is <!--pytest.mark.skip(reason="why this block must not run")-->'
            )
        reasons.append(match.group(2).strip())
    return "; ".join(reasons) or None


def _fence(segment: Segment, marks, page: str, expand: Expander) -> Fence:
    opening = FENCE_OPEN.match(segment.lines[0])
    indent = len(opening.group(1))
    body = [line[indent:] if not line[:indent].strip() else line.lstrip() for line in segment.lines]
    where = f"{page}:{segment.lineno}"
    try:
        code_lines = expand(body[1:-1])
    except SnippetMissingError as err:
        raise PageError(f"{where}: include not found: {err}") from err
    code = "\n".join(code_lines).strip("\n") + "\n"
    language = opening.group(3).lower()
    return Fence(page, segment.lineno, language, code, _skip_reason(marks, page))


def parse_page(path: Path, src_uri: str, expand: Expander, name: str | None = None) -> Page:
    """Read `path` once: front matter, segments, and fences with includes expanded."""
    text = path.read_text(encoding="utf-8")
    name = name or display_name(path)
    body, meta = get_data(text)
    if text.startswith("---\n") and body == text:  # MkDocs ignores front matter it cannot read
        raise PageError(
            f"{name}:1: the front matter is not valid YAML (quote a value that starts with `)"
        )
    offset = text.count("\n") - body.count("\n")  # front matter lines
    segments = split_segments(body.splitlines(), offset + 1, name)
    marks: list[tuple[int, str]] = []
    for segment in segments:
        if segment.kind == "fence":
            segment.fence = _fence(segment, marks, name, expand)
            marks = []
            continue
        for number, line in enumerate(segment.lines, start=segment.lineno):
            match = MARKER.match(line)
            if match:
                marks.append((number, match.group(1)))
            elif marks and line.strip():
                raise PageError(f"{name}:{marks[0][0]}: a marker must stand right before a fence")
    if marks:
        raise PageError(f"{name}:{marks[0][0]}: a marker must stand right before a fence")
    return Page(path, name, src_uri, text, meta or {}, segments)


def display_name(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path.as_posix()


def snippet_expander(markdown_extensions, mdx_configs) -> Expander:
    """The `pymdownx.snippets` preprocessor, configured as the site build has it.

    Built from a configuration MkDocs has already loaded (the build's own);
    it keeps state while it runs, so call it from one thread at a time.
    """
    import markdown

    md = markdown.Markdown(extensions=markdown_extensions, extension_configs=mdx_configs)
    return md.preprocessors["snippet"].run
