"""Run a page's Python blocks in order in one fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sitebuild.pages import Fence, PageError

DRIVER = Path(__file__).with_name("_driver.py")
TIMEOUT_S = 600


@dataclass
class BlockResult:
    fence: Fence
    output: str
    figures: list[str]
    seconds: float  # wall time of the block, figures included


@dataclass
class PageRun:
    page: str
    blocks: list[BlockResult]
    values: dict[str, str] = field(default_factory=dict)
    figure_dir: Path | None = None

    @property
    def executed(self) -> int:
        return len(self.blocks)


def share_compilation_cache(folder: Path) -> None:
    """Let every interpreter started from now on reuse JAX's compiled code.

    A page's code runs here, then again as a notebook, in fresh processes
    that would compile the same small functions again; JAX's persistent
    cache (by default only for slow compiles) makes the second run cheap.
    The folder lives as long as one build or test session: nothing is reused
    across versions of the code.
    """
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(folder)
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"


def _driver_env() -> dict[str, str]:
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    return env


def run_page(
    fences: list[Fence],
    *,
    page: str,
    expressions: tuple[str, ...] = (),
    figure_dir: Path | None = None,
) -> PageRun:
    """Run `fences` (already filtered to those that run) in one subprocess.

    Raises PageError naming the page, the block's line and its output if a
    block raises, or an expression the prose quotes cannot be evaluated.
    """
    with tempfile.TemporaryDirectory(prefix="page-run-") as work:
        work = Path(work)
        folder = figure_dir or work
        request = {
            "figure_dir": str(folder),
            "expressions": list(expressions),
            "blocks": [{"page": f.page, "lineno": f.lineno, "code": f.code} for f in fences],
        }
        (work / "request.json").write_text(json.dumps(request), encoding="utf-8")
        command = [sys.executable, "-I", str(DRIVER), "request.json", "response.json"]
        try:
            done = subprocess.run(
                command,
                cwd=work,
                env=_driver_env(),
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as err:
            raise PageError(f"{page}: its blocks ran past {TIMEOUT_S} s") from err
        response_file = work / "response.json"
        if done.returncode != 0 or not response_file.exists():
            raise PageError(
                f"{page}: the interpreter running its blocks died "
                f"(exit {done.returncode}):\n{done.stdout}{done.stderr}"
            )
        response = json.loads(response_file.read_text(encoding="utf-8"))
    results = [
        BlockResult(fence, block["output"], block["figures"], block["seconds"])
        for fence, block in zip(fences, response["blocks"], strict=False)  # stops at an error
    ]
    _raise_on_error(page, response, results)
    return PageRun(page, results, response["values"], figure_dir)


def _raise_on_error(page: str, response: dict, results: list[BlockResult]) -> None:
    error = response["error"]
    if error is None:
        return
    if "expression" in error:
        raise PageError(
            f"{page}: the prose quotes {{{{ {error['expression']} }}}}, which the "
            f"page's code cannot evaluate:\n{error['traceback']}"
        )
    output = results[-1].output if results else ""
    raise PageError(
        f"{page}:{error['lineno']}: the code block starting at line {error['lineno']} "
        f"raised.\n--- its output ---\n{output}--- traceback ---\n{error['traceback']}"
    )
