"""What one build's page runs leave for the tests, so that no test runs a page again.

With SITEBUILD_RECORD=DIR, the build writes for every page that runs code
    DIR/<stem>.json          its run: outputs, figures, quoted values, exported
                             variables, how many times its code executed
    DIR/codeblocks/<stem>.md the page's code, includes expanded, as
                             pytest-codeblocks reads it: all blocks chained
                             into one program and, under it, everything the
                             build's run printed, as the expected output
`pytest --codeblocks DIR/codeblocks/<stem>.md` is then an independent second
run of the page, which must print the same text.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from sitebuild.page import Page
from sitebuild.runner import PageRun

CONT = "<!--pytest-codeblocks:cont-->"
EXPECTED = "<!--pytest-codeblocks:expected-output-->"


def from_env() -> Path | None:
    value = os.environ.get("SITEBUILD_RECORD")
    return Path(value) if value else None


def _fence(language: str, text: str) -> list[str]:
    ticks = "````" if "```" in text else "```"
    return [f"{ticks}{language}", *text.rstrip("\n").splitlines(), ticks]


def codeblocks_markdown(page: Page, run: PageRun) -> str:
    """The page as one chained program with its printed output, for pytest-codeblocks.

    pytest-codeblocks joins a block marked `cont` to the block before it, of
    any language, and lets a chain carry one expected output; so only the
    blocks that run are written, and the output is all of the page's stdout.
    """
    lines = [f"<!-- {page.name}: the blocks that run, includes expanded -->", ""]
    for number, block in enumerate(run.blocks):
        if number:
            lines.append(CONT)
        lines += [f"<!-- {block.fence.where} -->", *_fence("python", block.fence.code), ""]
    stdout = "".join(block.stdout for block in run.blocks)
    if stdout:
        lines += [EXPECTED, *_fence("", stdout), ""]
    return "\n".join(lines)


def write(folder: Path, page: Page, run: PageRun) -> None:
    (folder / "codeblocks").mkdir(parents=True, exist_ok=True)
    (folder / "codeblocks" / f"{page.stem}.md").write_text(
        codeblocks_markdown(page, run), encoding="utf-8"
    )
    data = {
        "page": page.name,
        "stem": page.stem,
        "notebook": page.notebook,
        "executions": run.executions,
        "seconds": run.seconds,
        "blocks": [
            {"lineno": b.fence.lineno, "output": b.output, "stdout": b.stdout, "figures": b.figures}
            for b in run.blocks
        ],
        "values": run.values,
        "exports": run.exports,
    }
    (folder / f"{page.stem}.json").write_text(json.dumps(data), encoding="utf-8")


@dataclass
class PageRecord:
    page: str
    stem: str
    notebook: bool
    executions: int
    seconds: float
    blocks: list[dict]
    values: dict[str, str]
    exports: dict

    @property
    def executed_blocks(self) -> int:
        return len(self.blocks)

    @property
    def output(self) -> str:
        return "".join(block["output"] for block in self.blocks)


def load(folder: Path) -> dict[str, PageRecord]:
    """stem -> the record of that page's run in the build that wrote `folder`."""
    return {
        path.stem: PageRecord(**json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(folder.glob("*.json"))
    }
