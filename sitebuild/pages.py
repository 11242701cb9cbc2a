"""Read a page the way the site renders it: fences, includes and skip markers.

The fences come from pytest-codeblocks' own parser, and each fence's
`--8<--` includes are expanded by the pymdownx snippet preprocessor built
from `mkdocs.yml`, so the code here is exactly the code a reader sees.
"""

from __future__ import annotations

import io
import re
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import markdown
from mkdocs.config import load_config
from pymdownx.snippets import SnippetMissingError
from pytest_codeblocks import extract_from_buffer

ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = ROOT / "mkdocs.yml"

# Fences in these languages are programs: each must run or carry a skip
# marker with a reason. Everything else (text, yaml, ...) is only shown.
PYTHON = frozenset({"python", "py", "python3"})
SHELL = frozenset({"sh", "bash", "shell", "console"})
EXECUTABLE = PYTHON | SHELL

FENCE_OPEN = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^\s`{]*)?")
SKIP_MARK = re.compile(r"""^pytest\.mark\.skip\(\s*reason\s*=\s*(["'])(.+)\1\s*\)$""")


class PageError(Exception):
    """A page cannot be run as written; the message names page and line."""


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


# Pages are prepared in parallel threads, but neither half of this is
# thread-safe: MkDocs keeps the plugins of the config being validated on a
# schema object shared by every load_config call (two loads at once register a
# plugin twice: a warning, so a strict build fails), and the snippets
# preprocessor keeps state while it runs. So expansions take turns.
_EXPAND_LOCK = threading.Lock()


@cache
def snippet_expander(config_file: Path = CONFIG_FILE):
    """The `pymdownx.snippets` preprocessor, configured as the site build has it."""
    config = load_config(str(config_file))
    md = markdown.Markdown(
        extensions=config["markdown_extensions"],
        extension_configs=config["mdx_configs"],
    )
    return md.preprocessors["snippet"]


def expand_includes(code: str, where: str, config_file: Path = CONFIG_FILE) -> str:
    try:
        with _EXPAND_LOCK:
            lines = snippet_expander(config_file).run(code.splitlines())
    except SnippetMissingError as err:
        raise PageError(f"{where}: include not found: {err}") from err
    return "\n".join(lines).strip("\n") + "\n"


def _skip_reason(marks: list[str], where: str) -> str | None:
    reasons = []
    for mark in marks:
        match = SKIP_MARK.match(mark.strip())
        if not match or not match.group(2).strip():
            raise PageError(
                f"{where}: unsupported marker <!--{mark}-->; the only marker a "
                'page may use is <!--pytest.mark.skip(reason="why this block '
                'must not run")-->'
            )
        reasons.append(match.group(2).strip())
    return "; ".join(reasons) or None


def read_fences(page: Path, config_file: Path = CONFIG_FILE) -> list[Fence]:
    """All fenced blocks of `page` in order, includes expanded."""
    text = page.read_text(encoding="utf-8")
    name = _display_name(page)
    try:
        blocks = extract_from_buffer(io.StringIO(text))
    except RuntimeError as err:  # an unclosed fence, or an unknown marker
        raise PageError(f"{name}: {err}") from err
    fences = []
    for block in blocks:
        where = f"{name}:{block.lineno}"
        language = (block.syntax or "").split(maxsplit=1)[0].lower() if block.syntax else ""
        code = expand_includes(block.code, where, config_file)
        fences.append(Fence(name, block.lineno, language, code, _skip_reason(block.marks, where)))
    _check_count(text, fences, name)
    return fences


@dataclass
class Segment:
    """A run of prose lines, or one whole fence with its opening and closing lines."""

    kind: str  # "prose" or "fence"
    lines: list[str]
    lineno: int  # first line of the segment in the .md file (1-based)

    @property
    def indent(self) -> str:
        return re.match(r"\s*", self.lines[0]).group(0)


def _closes(line: str, opener: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(opener) and set(stripped) == {opener[0]}


def split_segments(text: str) -> list[Segment]:
    """Split with a plain line scan, independent of pytest-codeblocks' parser."""
    segments: list[Segment] = []
    opener = None
    for number, line in enumerate(text.splitlines(), start=1):
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
    return segments


def count_fences(text: str) -> int:
    return sum(segment.kind == "fence" for segment in split_segments(text))


def _check_count(text: str, fences: list[Fence], name: str) -> None:
    expected = count_fences(text)
    if expected != len(fences):
        raise PageError(
            f"{name}: the page has {expected} fenced blocks but the parser found "
            f"{len(fences)}; a fence is malformed or nested"
        )


def _display_name(page: Path) -> str:
    try:
        return page.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return page.as_posix()


def runnable(fences: list[Fence]) -> list[Fence]:
    """The fences that must run; fail on a program fence that is neither run nor marked."""
    for fence in fences:
        if fence.language in SHELL and fence.skip_reason is None:
            raise PageError(
                f"{fence.where}: a {fence.language} block must carry "
                '<!--pytest.mark.skip(reason="...")--> saying why it does not run'
            )
        if fence.language not in EXECUTABLE and fence.skip_reason is not None:
            raise PageError(f"{fence.where}: a skip marker on a {fence.language!r} block")
    return [fence for fence in fences if fence.runs]
