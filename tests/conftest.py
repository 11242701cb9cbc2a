"""Strict JAX, fixed PRNG keys, and the session's one build of the site."""

from __future__ import annotations

import os
import time

GPU_MODE = os.environ.get("GPU_TESTS") == "1"
if GPU_MODE:
    # GPU reductions may add in a different order from run to run; pages must
    # print the same digits in every run, so ask XLA for fixed orders. Set
    # before jax starts, for this process and every interpreter it launches.
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_gpu_deterministic_ops=true"
    ).strip()

import jax  # noqa: E402
import pytest  # noqa: E402

from sitebuild import record  # noqa: E402
from sitebuild.runner import share_compilation_cache  # noqa: E402
from tests.helpers import EXECUTIONS, SiteBuild, build  # noqa: E402

# Implicit rank promotion hides shape bugs: make it an error in tests.
jax.config.update("jax_numpy_rank_promotion", "raise")
# GPUs may multiply float32 matrices in TF32; compare numbers at full
# precision, here and in every interpreter the tests start.
os.environ["JAX_DEFAULT_MATMUL_PRECISION"] = "highest"
jax.config.update("jax_default_matmul_precision", "highest")
STARTED = time.monotonic()
_builds: list[SiteBuild] = []


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
def site_build(tmp_path_factory) -> SiteBuild:
    """One strict build of the whole site; its page runs are recorded for the tests."""
    share_compilation_cache(tmp_path_factory.mktemp("jax-cache"))  # reused by later runs
    site_dir, record_dir = tmp_path_factory.mktemp("site"), tmp_path_factory.mktemp("record")
    done, seconds = build(site_dir, "--record", str(record_dir))
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    records = record.load(record_dir)
    for stem, page in records.items():
        EXECUTIONS[stem] += page.executions
    _builds.append(SiteBuild(site_dir, log, seconds, records, record_dir))
    return _builds[0]


@pytest.fixture(scope="session")
def site(site_build):
    """(site folder, build log)."""
    return site_build.site_dir, site_build.log


def pytest_terminal_summary(terminalreporter):
    write = terminalreporter.write_line
    if _builds:
        built = _builds[0]
        blocks = {r.page: r.executed_blocks for r in built.records.values()}
        detail = ", ".join(f"{page}: {count}" for page, count in sorted(blocks.items()))
        write(f"page code blocks executed: {sum(blocks.values())} ({detail})")
        write(f"strict site build: {built.seconds:.1f} s")
    if EXECUTIONS:
        counts = ", ".join(f"{stem} {n}" for stem, n in sorted(EXECUTIONS.items()))
        write(f"chapter code executions: at most {max(EXECUTIONS.values())} ({counts})")
    write(f"pytest phase: {time.monotonic() - STARTED:.0f} s")
