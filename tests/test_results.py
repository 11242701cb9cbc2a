"""Committed results (benchmark and test runs) rendered into the pages."""

from __future__ import annotations

import json

import pytest

from sitebuild import results, tested_on
from sitebuild.page import PageError

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">
<testsuite name="pytest" errors="1" failures="2" skipped="3" tests="40"
 timestamp="2026-11-26T14:25:30.1"></testsuite></testsuites>"""


def test_junit_counts_are_read_exactly():
    counts = tested_on.test_counts(JUNIT)
    assert counts == {
        "total": 40,
        "passed": 34,
        "failed": 3,
        "skipped": 3,
        "timestamp": "2026-11-26T14:25:30.1",
    }


def test_page_blocks_come_from_the_conftest_summary_line():
    log = "....\npage code blocks executed: 113 (docs/a.md: 100, docs/b.md: 13)\n"
    assert tested_on.page_blocks(log) == 113
    with pytest.raises(SystemExit, match=r"tests/test_pages\.py"):
        tested_on.page_blocks("3 passed in 1.0s")


def test_markers_are_replaced_and_other_lines_kept():
    text = "# Title\n\n<!-- results: bench-machines -->\n\nafter\n"
    out = results.expand(text, "docs/x.md")
    assert out.startswith("# Title\n\n| machine |")
    assert out.endswith("\n\nafter\n")
    assert "results/bench-cpu.json" in out and "results/bench-h100.json" in out


def test_figures_can_be_left_out_for_notebooks():
    text = "a\n<!-- results: bench-regression-figure -->\nb\n"
    assert results.expand(text, "nb", figures=False) == "a\nb\n"
    assert "figures/bench_regression-dark.svg#only-dark" in results.expand(text, "docs/x.md")
    assert results.used_figures(text) == ["bench-regression-figure"]


def test_unknown_marker_names_the_page_and_line():
    with pytest.raises(PageError, match=r"docs/x\.md:2: unknown results rendering 'nope'"):
        results.expand("a\n<!-- results: nope -->\n", "docs/x.md")


def test_missing_results_file_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    with pytest.raises(PageError, match=r"bench-cpu\.json is missing"):
        results.machines_table()


def _bench(platform, classic, scan):
    row = {"first_call_s": 1.0, "repeats": 3, "extrapolated_by": 1.0}
    fit_rows = {
        "classic loop, two grad calls a step": {**row, "median_s": classic},
        "Python loop, jitted step": {**row, "median_s": 2 * scan},
        "scan": {**row, "median_s": scan},
        "closed form (normal equations)": {**row, "median_s": scan / 10},
    }
    sin_rows = {
        "list comprehension of grad": {**row, "median_s": 5.0},
        "vmap(grad), no jit": {**row, "median_s": 0.01},
        "jit(vmap(grad))": {**row, "median_s": 0.0013},
        "jnp.cos (floor)": {**row, "median_s": 0.001},
    }
    bandwidth = {
        "floor_step_GBps": 10.0,
        "gradient_only_GBps": 4.0,
        "scan_GBps": 4.0,
        "read_GBps": 12.0,
        "copy_GBps": 8.0,
    }
    return {
        "machine": {"platform": platform, "cpu": "x", "cpu_count": 2, "device_kind": "G1"},
        "suites": [
            {
                "name": "derivative of sin",
                "N": 10_000,
                "rows": sin_rows,
                "reference": "jnp.cos (floor)",
            },
            {
                "name": "linear regression, 1000 steps",
                "n": 10_000,
                "rows": fit_rows,
                "reference": "scan",
                "bandwidth": bandwidth,
                "compiled_bytes_per_sample": {"gradient step": 24.0, "floor step": 8.0},
                "max_difference_from_scan": {"floor": 2e-4},
            },
        ],
    }


def test_claims_are_judged_from_the_numbers(monkeypatch, tmp_path):
    """A hand-made pair of runs with known ratios: each verdict follows from them."""
    (tmp_path / "bench-cpu.json").write_text(json.dumps(_bench("cpu", 12.0, 0.01)))
    (tmp_path / "bench-h100.json").write_text(json.dumps(_bench("gpu", 5.0, 0.01)))
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    rows = {line.split(" | ")[0].strip("| "): line for line in results.claims_table().splitlines()}
    assert "| 1.3x ✗ | 1.3x ✗ |" in rows["`jit(vmap(grad))` costs what `jnp.cos` costs"]
    assert "| 1,200x ✓ | 500x ✗ |" in rows["one `lax.scan` beats the classic loop, n = 1e4"]
    assert (
        "1.20x ✓"
        in rows["floor step near the 8-byte floor, CPU n = 1e4 (time over one read of x, y)"]
    )
    assert "125% ✓" in rows["floor step near copy bandwidth, GPU n = 1e4"]
    assert "| 2.0e-04 ✗ | 2.0e-04 ✗ |" in rows["every variant ends at the scan's parameters"]


def test_results_figure_is_drawn_in_both_palettes():
    files = results.figure_files("bench-regression-figure")
    light, dark = files["bench_regression-light.svg"], files["bench_regression-dark.svg"]
    assert set(files) == {"bench_regression-light.svg", "bench_regression-dark.svg"}
    assert b"<svg" in light and light != dark
    assert b"#1f2328" in light and b"#e6edf3" in dark  # the ink of each palette
    assert b"#e6edf3" not in light
