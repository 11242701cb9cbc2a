"""A local, content-addressed cache of page runs, for `make serve`.

A run is reused only when everything that could change what the page
prints or draws is unchanged: the page's expanded code and the expressions
its prose quotes, every snippet file it includes, the Python and package
versions, the JAX platform settings and the driver itself. A prose-only
edit then re-renders without running any code.

Off unless SITEBUILD_CACHE=true (runs kept in .cache/page-runs); mkdocs.yml
hands the same switch to mkdocs-jupyter's cache, which takes only a boolean:
CI and the tests always run every page cold, which is what proves the site.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
from functools import cache
from importlib import metadata
from pathlib import Path

from sitebuild.page import ROOT, Page

INCLUDE = re.compile(r"""--8<--\s*["']([^"':]+)""")
# Settings that change what JAX computes or where it runs.
JAX_ENVIRONMENT = (
    "JAX_PLATFORMS",
    "JAX_ENABLE_X64",
    "JAX_DEFAULT_MATMUL_PRECISION",
    "XLA_FLAGS",
    "CUDA_VISIBLE_DEVICES",
)
DRIVER_FILES = ("_driver.py", "figures.py", "palette.py")


@cache
def environment() -> str:
    """Python, every installed distribution's version, JAX settings, the driver."""
    packages = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    driver = [(Path(__file__).parent / name).read_text(encoding="utf-8") for name in DRIVER_FILES]
    settings = {name: os.environ.get(name) for name in JAX_ENVIRONMENT}
    return json.dumps([platform.python_version(), packages, settings, driver])


def included_files(page: Page, root: Path = ROOT) -> list[Path]:
    raw = "\n".join(line for s in page.segments if s.kind == "fence" for line in s.lines)
    return sorted({root / path for path in INCLUDE.findall(raw)})


class RunCache:
    def __init__(self, folder: Path, keep: int = 4, root: Path = ROOT):
        """`root`: where include paths start (mkdocs.yml's folder)."""
        self.folder, self.keep, self.root = Path(folder), keep, root

    @classmethod
    def from_env(cls) -> RunCache | None:
        value = os.environ.get("SITEBUILD_CACHE", "false").lower()
        if value not in ("true", "false"):
            raise ValueError(f"SITEBUILD_CACHE={value!r}: set it to true or false")
        return cls(ROOT / ".cache" / "page-runs") if value == "true" else None

    def key(self, page: Page, request: dict) -> str:
        digest = hashlib.sha256()
        code = [block["code"] for block in request["blocks"]]
        digest.update(json.dumps([code, request["expressions"], request["notebook"]]).encode())
        for path in included_files(page, self.root):
            digest.update(path.as_posix().encode() + b"\0" + path.read_bytes())
        digest.update(environment().encode())
        return digest.hexdigest()[:32]

    def load(self, stem: str, key: str, figure_dir: Path) -> dict | None:
        entry = self.folder / stem / key
        if not (entry / "response.json").is_file():
            return None
        for figure in (entry / "figures").iterdir():
            shutil.copy(figure, figure_dir / figure.name)
        os.utime(entry)  # most recently used
        return json.loads((entry / "response.json").read_text(encoding="utf-8"))

    def store(self, stem: str, key: str, response: dict, figure_dir: Path) -> None:
        entry = self.folder / stem / key
        shutil.rmtree(entry, ignore_errors=True)
        shutil.copytree(figure_dir, entry / "figures")
        (entry / "response.json").write_text(json.dumps(response), encoding="utf-8")
        entries = sorted((self.folder / stem).iterdir(), key=lambda p: p.stat().st_mtime)
        for stale in entries[: -self.keep]:
            shutil.rmtree(stale, ignore_errors=True)
