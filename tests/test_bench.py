"""The benchmark command: its quick mode runs and writes well-formed JSON.

No test here asserts a timing; speed claims live in the benchmark's output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sitebuild.page import ROOT
from snippets.bench import LOOP, MAX_EXTRAPOLATION, SCAN

ROW_KEYS = {"first_call_s", "median_s", "repeats", "extrapolated_by"}


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
        "quick",
        "max_extrapolation",
        "machine",
        "versions",
        "suites",
    }
    assert result["max_extrapolation"] == MAX_EXTRAPOLATION
    assert result["quick"] is True and "--quick" in result["command"]
    assert {"cpu", "cpu_count", "platform", "device_kind"} <= set(result["machine"])
    assert {"python", "jax", "numpy", "optax"} <= set(result["versions"])
    names = [suite["name"] for suite in result["suites"]]
    assert names == ["derivative of sin", "linear regression, 1000 steps"]
    for suite in result["suites"]:
        assert isinstance(suite["n"], int) and "N" not in suite
        assert suite["reference"] in suite["rows"]
        for name, row in suite["rows"].items():
            assert set(row) == ROW_KEYS, name
            assert row["median_s"] > 0 and row["first_call_s"] > 0
    regression = result["suites"][1]
    for slow, fast in regression["like_for_like"].items():
        assert {slow, fast} <= set(regression["rows"])
    assert set(regression["bandwidth"]) == {
        "floor_step_GBps",
        "gradient_only_GBps",
        "scan_GBps",
        "read_GBps",
        "copy_GBps",
    }
    assert all(v > 0 for v in regression["bandwidth"].values())
    assert regression["read_reference"] == "x.sum() + y.sum()"
    fresh = regression["fresh_bytes_per_step"]
    assert set(fresh) == {LOOP, SCAN}
    assert all(v is None or v >= 0 for v in fresh.values())


def test_slow_variants_are_extrapolated_and_say_so(quick_result):
    result, printed = quick_result
    sin, regression = result["suites"]
    assert sin["rows"]["list comprehension of grad"]["extrapolated_by"] > 1
    assert regression["rows"]["classic loop, two grad calls a step"]["extrapolated_by"] > 1
    assert printed.count("(extrapolated)") == 2


def test_every_descent_variant_reaches_the_scan_parameters(quick_result):
    result, _ = quick_result
    differences = result["suites"][1]["max_difference_from_scan"]
    assert set(differences) == {
        "Python loop",
        "gradient only",
        "optax",
        "floor",
        "five sums",
        "classic loop (first steps)",
    }
    assert all(d < 1e-4 for d in differences.values()), differences


def test_xla_counts_the_bytes_of_each_step(quick_result):
    """XLA's own byte count of one compiled step, per sample.

    On the CPU the floor step reads x and y once (8 bytes) and the
    straightforward step moves 24: x and y read, the residual written, then
    read again by two reductions. A GPU compiles both differently (at this
    small size it reduces in two passes; at 1e8 samples both read 8 bytes), so
    there the counts are only checked to cover at least the one read."""
    result, _ = quick_result
    counted = result["suites"][1]["compiled_bytes_per_sample"]
    if result["machine"]["platform"] == "cpu":
        assert counted["floor step"] == pytest.approx(8.0, abs=0.1)
        assert counted["gradient step"] == pytest.approx(24.0, abs=0.1)
    else:
        assert min(counted.values()) >= 8.0 - 0.1, counted
