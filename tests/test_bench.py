"""The benchmark command: its quick mode runs and writes well-formed JSON, and
its timing machinery interleaves, summarises and counts what it says.

No test here asserts a timing; speed claims live in the benchmark's output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sitebuild.page import ROOT
from sitebuild.results_files import BENCH_VERSION
from snippets import bench
from snippets.bench import (
    COPY,
    LOOP,
    MAX_EXTRAPOLATION,
    READ,
    READ_REFERENCE,
    RTOL,
    SCAN,
    donated_copy,
    float64_descent,
    fresh_bytes,
    interleaved,
    summary,
    touch_fresh,
)

ROW_KEYS = {
    "first_call_s",
    "median_s",
    "min_s",
    "q1_s",
    "q3_s",
    "samples_s",
    "repeats",
    "extrapolated_by",
    "fresh_bytes_per_call",
}
ON_LINUX_CPU = sys.platform.startswith("linux") and jax.default_backend() == "cpu"


@pytest.fixture(scope="module")
def quick_result(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    done = subprocess.run(
        [sys.executable, "-m", "snippets.bench", "--quick", "--out", str(out)],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "done" in done.stderr  # progress is shown while it runs
    return json.loads(out.read_text()), done.stdout


def test_quick_json_schema(quick_result):
    result, _ = quick_result
    assert set(result) == {
        "command",
        "date",
        "bench_version",
        "quick",
        "max_extrapolation",
        "machine",
        "host_memory",
        "versions",
        "suites",
    }
    assert result["bench_version"] == BENCH_VERSION
    assert result["max_extrapolation"] == MAX_EXTRAPOLATION
    assert result["quick"] is True and "--quick" in result["command"]
    assert {"cpu", "cpu_count", "platform", "device_kind"} <= set(result["machine"])
    assert set(result["host_memory"]) == {
        "page_size",
        "transparent_hugepage",
        "last_level_cache_bytes",
    }
    assert result["host_memory"]["page_size"] >= 4096
    assert {"python", "jax", "numpy", "optax"} <= set(result["versions"])
    names = [suite["name"] for suite in result["suites"]]
    assert names == ["derivative of sin", "linear regression, 1000 steps"]
    for suite in result["suites"]:
        assert isinstance(suite["n"], int) and "N" not in suite
        assert suite["reference"] in suite["rows"]
        for name, row in {**suite["rows"], **suite.get("references", {})}.items():
            assert set(row) == ROW_KEYS, name
            assert 0 < row["min_s"] <= row["q1_s"] <= row["median_s"] <= row["q3_s"], name
            assert len(row["samples_s"]) == row["repeats"] >= 3
            assert row["first_call_s"] > 0
    regression = result["suites"][1]
    for slow, fast in regression["like_for_like"].items():
        assert {slow, fast} <= set(regression["rows"])
    assert {READ, COPY} <= set(regression["references"])
    assert not {READ, COPY} & set(regression["rows"])  # references are not variants
    assert set(regression["bandwidth"]) == {
        "floor_step_GBps",
        "gradient_only_GBps",
        "scan_GBps",
        "read_GBps",
        "copy_GBps",
    }
    assert all(v > 0 for v in regression["bandwidth"].values())
    assert regression["read_reference"] == READ_REFERENCE
    for variant in (LOOP, SCAN):
        fresh = regression["rows"][variant]["fresh_bytes_per_call"]
        assert (fresh is None) != ON_LINUX_CPU and (fresh is None or fresh >= 0)


def test_slow_variants_are_extrapolated_and_say_so(quick_result):
    result, printed = quick_result
    sin, regression = result["suites"]
    assert sin["rows"]["list comprehension of grad"]["extrapolated_by"] > 1
    assert regression["rows"]["classic loop, two grad calls a step"]["extrapolated_by"] > 1
    assert printed.count("(extrapolated)") == 2


def test_every_descent_variant_reaches_the_float64_parameters(quick_result):
    result, _ = quick_result
    differences = result["suites"][1]["max_relative_difference_from_float64"]
    assert set(differences) == set(result["suites"][1]["rows"]) - {"closed form (normal equations)"}
    assert all(d < RTOL for d in differences.values()), differences


def test_xla_estimates_the_bytes_of_each_step(quick_result):
    """XLA's estimate of the bytes of one compiled step, per sample.

    On the CPU the floor step reads x and y once (8 bytes); the gradient step
    moves 24 (x and y read, the residual written, then read again by two
    reductions); computing the loss too adds another read of the residual and
    a write and read of its square (36). A GPU compiles them differently (at
    this small size it reduces in two passes), so there the counts are only
    checked to cover at least the one read."""
    result, _ = quick_result
    counted = result["suites"][1]["compiled_bytes_per_sample"]
    if result["machine"]["platform"] == "cpu":
        assert counted["floor step"] == pytest.approx(8.0, abs=0.1)
        assert counted["gradient step"] == pytest.approx(24.0, abs=0.1)
        assert counted["loss and gradient step"] == pytest.approx(36.0, abs=0.1)
    else:
        assert min(counted.values()) >= 8.0 - 0.1, counted


def test_rounds_call_every_variant_once_in_shuffled_orders():
    def run(rounds):
        order = []
        fns = {name: (lambda name=name: order.append(name)) for name in "abcd"}
        calls, last = interleaved(fns, rounds)
        assert all(len(c) == rounds for c in calls.values())
        assert set(last) == set("abcd")
        return ["".join(order[i : i + 4]) for i in range(0, len(order), 4)]

    rounds = run(12)
    assert all(sorted(r) == list("abcd") for r in rounds)  # each once a round
    assert run(12) == rounds  # the same orders every run (a fixed seed)
    # Each variant follows more than one other: no fixed predecessor.
    for name in "abcd":
        before = {r[r.index(name) - 1] for r in rounds if r.index(name) > 0}
        assert len(before) > 1, (name, rounds)


def test_a_row_keeps_the_spread_of_its_rounds_scaled():
    calls = [(seconds, 2) for seconds in [5.0, 1.0, 3.0, 2.0, 4.0, 7.0, 6.0]]
    row = summary(0.5, calls, scale=10.0)
    assert row["median_s"] == 40.0 and row["min_s"] == 10.0
    assert (row["q1_s"], row["q3_s"]) == (20.0, 60.0)  # 2nd and 6th of 7
    assert row["samples_s"][:2] == [50.0, 10.0] and row["repeats"] == 7
    assert row["first_call_s"] == 0.5  # not scaled: the prefix's own first call
    if ON_LINUX_CPU:  # the median of the faults a call, times the page size
        assert row["fresh_bytes_per_call"] == 2 * bench.mmap.PAGESIZE


def test_float64_descent_matches_plain_descent_in_numpy(key):
    x, y = (np.asarray(a, np.float64) for a in bench.make_houses(key, n=1000))
    theta = np.zeros(2)
    for _ in range(50):
        r = y - theta[0] - theta[1] * x
        theta = theta + 0.1 * np.array([2 * r.mean(), 2 * (r * x).mean()])
    np.testing.assert_allclose(float64_descent(x, y, 0.1, 50), theta, rtol=1e-12)


def test_the_copy_reference_updates_its_own_buffers():
    x, y = jnp.arange(4.0), jnp.ones(4)
    copy = donated_copy(x, y)
    copy()
    second = copy()
    np.testing.assert_array_equal(second[0], np.arange(4.0) + 2)
    np.testing.assert_array_equal(second[1], np.full(4, 3.0))
    assert not x.is_deleted()  # the caller's arrays are left alone


@pytest.mark.skipif(not ON_LINUX_CPU, reason="counts the host's page faults on Linux")
def test_the_fresh_memory_control_maps_what_it_is_asked_to():
    n_bytes = 16 * 2**20
    counted = fresh_bytes(lambda: touch_fresh(n_bytes), calls=2)
    if bench.host_memory()["transparent_hugepage"] == "always":
        assert 0 < counted <= 1.1 * n_bytes  # a fault may map a huge page
    else:
        assert n_bytes <= counted < 1.1 * n_bytes
