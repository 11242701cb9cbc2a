"""Shared set-up: strict JAX, fixed PRNG keys, and one run per page."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

GPU_MODE = os.environ.get("GPU_TESTS") == "1"
if GPU_MODE:
    # GPU reductions may add in a different order from run to run; pages must
    # print the same digits in every build, so ask XLA for fixed orders. Set
    # before jax starts, for this process and every interpreter it launches.
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_gpu_deterministic_ops=true"
    ).strip()

import jax  # noqa: E402
import pytest  # noqa: E402

from sitebuild.pages import ROOT, read_fences, runnable  # noqa: E402
from sitebuild.runner import PageRun, run_page, share_compilation_cache  # noqa: E402

# Implicit rank promotion hides shape bugs: make it an error in tests.
jax.config.update("jax_numpy_rank_promotion", "raise")
# GPUs may multiply float32 matrices in TF32; compare numbers at full
# precision, here and in every interpreter the tests start.
os.environ["JAX_DEFAULT_MATMUL_PRECISION"] = "highest"
jax.config.update("jax_default_matmul_precision", "highest")

DOCS = ROOT / "docs"
TEST_REPOSITORY = "example-owner/learn-jax"
PAGES = sorted(DOCS.rglob("*.md"))
_executed: dict[str, int] = {}
_build_seconds: list[float] = []


def pytest_configure(config):
    """GPU_TESTS=1 (the GPU workflow) makes a run on anything but a GPU fail."""
    if GPU_MODE and jax.default_backend() != "gpu":
        pytest.exit(
            f"GPU_TESTS=1, but JAX runs on {jax.default_backend()!r}: install the CUDA "
            "build of jax, or unset GPU_TESTS",
            returncode=3,
        )


def pytest_report_header(config):
    import jaxlib
    import numpy as np

    return [
        f"JAX backend: {jax.default_backend()} ({jax.devices()[0].device_kind})",
        f"jax {jax.__version__}, jaxlib {jaxlib.__version__}, numpy {np.__version__}",
    ]


@pytest.fixture
def key():
    """A fixed PRNG key: every test sees the same random numbers on every run."""
    return jax.random.key(20261126)


@pytest.fixture(scope="session")
def page_run(tmp_path_factory):
    """Run a page's blocks once per session, in a fresh interpreter; cached."""
    share_compilation_cache(tmp_path_factory.mktemp("jax-cache"))
    cache: dict[Path, PageRun] = {}

    def run(page: Path) -> PageRun:
        if page not in cache:
            fences = runnable(read_fences(page))
            name = page.relative_to(ROOT).as_posix()
            cache[page] = run_page(fences, page=name)
            _executed[name] = cache[page].executed
        return cache[page]

    return run


def build(site_dir, *extra):
    # A repository name, as GitHub Actions sets it, turns the Colab links on.
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", GITHUB_REPOSITORY=TEST_REPOSITORY)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "sitebuild.build", "--site-dir", str(site_dir), *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return done, time.monotonic() - started


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    site_dir = tmp_path_factory.mktemp("site")
    done, seconds = build(site_dir)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    _build_seconds.append(seconds)
    return site_dir, log


def pytest_terminal_summary(terminalreporter):
    if _executed:
        total = sum(_executed.values())
        detail = ", ".join(f"{page}: {count}" for page, count in sorted(_executed.items()))
        terminalreporter.write_line(f"page code blocks executed: {total} ({detail})")
    if _build_seconds:
        terminalreporter.write_line(f"strict site build: {_build_seconds[0]:.1f} s")
