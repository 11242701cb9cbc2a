"""Run a page's Python blocks in order in one fresh interpreter, once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sitebuild.cache import RunCache
from sitebuild.page import Fence, Page, PageError

DRIVER = Path(__file__).with_name("_driver.py")
TIMEOUT_S = 900


@dataclass
class BlockRun:
    fence: Fence
    output: str  # stdout and stderr in order: what the page shows under the block
    stdout: str  # what a second run must print again, character for character
    figures: list[str]  # "name.svg" / "name.gif", saved in both palettes
    outputs: list[dict]  # the notebook cell's outputs (nbformat dicts)
    seconds: float


@dataclass
class PageRun:
    page: str
    blocks: list[BlockRun]
    values: dict[str, str] = field(default_factory=dict)  # {{ expression }} -> text
    exports: dict = field(default_factory=dict)  # the page's final variables, as JSON data
    figure_dir: Path | None = None
    executions: int = 1  # 0 when the run came from the local cache

    @property
    def seconds(self) -> float:
        return sum(block.seconds for block in self.blocks)


def share_compilation_cache(folder: Path) -> None:
    """Let every interpreter started from now on reuse JAX's compiled code.

    The build runs each page once; the tests then run it again with
    pytest-codeblocks and as a notebook, in fresh processes that would
    compile the same small functions again. JAX's persistent cache (by
    default only for slow compiles) makes those runs cheaper. The folder
    lives as long as one build or test session.
    """
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(folder)
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"


def _request(page: Page, figure_dir: Path, notebook: bool) -> dict:
    return {
        "figure_dir": str(figure_dir),
        "expressions": list(page.placeholders),
        "notebook": notebook,
        "blocks": [{"page": f.page, "lineno": f.lineno, "code": f.code} for f in page.runnable],
    }


def _drive(request: dict, page: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="page-run-") as work:
        work = Path(work)
        (work / "request.json").write_text(json.dumps(request), encoding="utf-8")
        command = [sys.executable, "-I", str(DRIVER), "request.json", "response.json"]
        try:
            done = subprocess.run(
                command,
                cwd=work,
                env=dict(os.environ, MPLBACKEND="Agg"),
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
        return json.loads(response_file.read_text(encoding="utf-8"))


def run_page(
    page: Page, figure_dir: Path, *, notebook: bool = False, cache: RunCache | None = None
) -> PageRun:
    """Run the page's runnable fences, or take the run from `cache` if it holds it.

    Raises PageError naming the page, the block's line and its output if a
    block raises, or an expression the prose quotes cannot be evaluated.
    """
    figure_dir.mkdir(parents=True, exist_ok=True)
    request = _request(page, figure_dir, notebook)
    key = cache.key(page, request) if cache else None
    response = cache.load(page.stem, key, figure_dir) if cache else None
    executions = 0 if response is not None else 1
    if response is None:
        response = _drive(request, page.name)
    blocks = [
        BlockRun(fence, b["output"], b["stdout"], b["figures"], b["outputs"], b["seconds"])
        for fence, b in zip(page.runnable, response["blocks"], strict=False)  # stops at an error
    ]
    _raise_on_error(page.name, response, blocks)
    if cache and executions:
        cache.store(page.stem, key, response, figure_dir)
    run = PageRun(page.name, blocks, response["values"], response["exports"], figure_dir)
    run.executions = executions
    return run


def _raise_on_error(page: str, response: dict, blocks: list[BlockRun]) -> None:
    error = response["error"]
    if error is None:
        return
    if "expression" in error:
        raise PageError(
            f"{page}: the prose quotes {{{{ {error['expression']} }}}}, which the "
            f"page's code cannot evaluate:\n{error['traceback']}"
        )
    output = blocks[-1].output if blocks else ""
    raise PageError(
        f"{page}:{error['lineno']}: the code block starting at line {error['lineno']} "
        f"raised.\n--- its output ---\n{output}--- traceback ---\n{error['traceback']}"
    )
