"""Committed results (benchmark and test runs) rendered into the pages."""

from __future__ import annotations

import json

import pytest

from sitebuild import bench_claims, bench_tables, results, results_files, tested_on
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
    monkeypatch.setattr(results_files, "RESULTS", tmp_path)
    with pytest.raises(PageError, match=r"bench-cpu\.json is missing"):
        results_files.machines_table()


def _bench(platform, classic, scan):
    row = {"first_call_s": 1.0, "repeats": 3, "extrapolated_by": 1.0}
    fit_rows = {
        "classic loop, two grad calls a step": {**row, "median_s": classic},
        "Python loop, jitted step": {**row, "median_s": 2 * scan},
        "one jitted lax.scan (records loss and path)": {**row, "median_s": scan},
        "lax.scan, gradient only": {**row, "median_s": scan / 2},
        "floor step (one read of x, y)": {**row, "median_s": scan / 4},
        "five sums, then O(1) steps": {**row, "median_s": scan / 100},
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
    kind = "NVIDIA H100 80GB HBM3" if platform == "gpu" else "cpu"
    return {
        "max_extrapolation": 1000,
        "machine": {"platform": platform, "cpu": "x", "cpu_count": 2, "device_kind": kind},
        "suites": [
            {
                "name": "derivative of sin",
                "n": 10_000,
                "rows": sin_rows,
                "reference": "jnp.cos (floor)",
            },
            {
                "name": "linear regression, 1000 steps",
                "n": 10_000,
                "rows": fit_rows,
                "reference": "one jitted lax.scan (records loss and path)",
                "bandwidth": bandwidth,
                "compiled_bytes_per_sample": {"gradient step": 24.0, "floor step": 8.0},
                "max_difference_from_scan": {"floor": 2e-4},
            },
        ],
    }


def test_claims_are_judged_from_the_numbers(monkeypatch, tmp_path):
    """A hand-made pair of runs with known ratios: each verdict follows from them."""
    (tmp_path / "bench-cpu.json").write_text(json.dumps(_bench("cpu", 12.0, 0.01)))
    gpu = _bench("gpu", 5.0, 0.01)
    gpu["suites"][1]["bandwidth"]["floor_step_GBps"] = 4000.0  # above the H100's peak
    (tmp_path / "bench-h100.json").write_text(json.dumps(gpu))
    monkeypatch.setattr(results_files, "RESULTS", tmp_path)
    rows = {
        line.split(" | ")[0].strip("| "): line for line in bench_claims.claims_table().splitlines()
    }
    jit_row = next(r for k, r in rows.items() if k.startswith("`jit(vmap(grad))` costs"))
    assert "| 1.3x ✗ | 1.3x ✗ |" in jit_row
    comprehension = next(r for k, r in rows.items() if k.startswith("`vmap(grad)`, no jit"))
    assert "| 500x ✓ | 500x ✓ |" in comprehension
    classic = next(r for k, r in rows.items() if "like for like" in k)
    assert "| 2,400x ✓ | 1,000x ✓ |" in classic  # 12 s and 5 s over 5 ms
    peak = next(r for k, r in rows.items() if "datasheet" in k)
    assert "— (no datasheet figure)" in peak and "119% ✗" in peak  # 4000 / 3350
    assert "| 2.0e-04 ✗ | 2.0e-04 ✗ |" in rows["every variant ends at the scan's parameters"]


def test_bandwidth_table_names_its_references_and_the_peak(monkeypatch, tmp_path):
    cpu, gpu = _bench("cpu", 12.0, 0.01), _bench("gpu", 5.0, 0.01)
    cpu["suites"][1]["read_reference"] = "x.sum() + y.sum()"
    (tmp_path / "bench-cpu.json").write_text(json.dumps(cpu))
    (tmp_path / "bench-h100.json").write_text(json.dumps(gpu))
    monkeypatch.setattr(results_files, "RESULTS", tmp_path)
    cpu_row, gpu_row = bench_tables.bandwidth_table().splitlines()[2:]
    assert "`x.sum() + y.sum()`" in cpu_row and "none published" in cpu_row
    assert "`x · y`" in gpu_row and "| 3,350 | 0% |" in gpu_row  # 10 of 3,350 GB/s


def test_loop_table_shows_fresh_memory_only_where_counted(monkeypatch, tmp_path):
    cpu, gpu = _bench("cpu", 12.0, 0.01), _bench("gpu", 5.0, 0.01)
    loop, scan = "Python loop, jitted step", "one jitted lax.scan (records loss and path)"
    cpu["suites"][1]["fresh_bytes_per_step"] = {loop: 80e6, scan: 8e6}
    (tmp_path / "bench-cpu.json").write_text(json.dumps(cpu))
    (tmp_path / "bench-h100.json").write_text(json.dumps(gpu))
    monkeypatch.setattr(results_files, "RESULTS", tmp_path)
    cpu_row, gpu_row = bench_tables.loop_table().splitlines()[2:]
    assert "| 20 µs | 10 µs | 10 µs | 80.0 / 8.0 |" in cpu_row  # 2 x 10 ms / 1000
    assert gpu_row.endswith("| not counted in this run |")


def test_committed_results_use_one_size_key_and_record_the_extrapolation_limit():
    for name in results_files.BENCH_FILES:
        result = results_files.load(name)
        assert result["max_extrapolation"] == 1000
        assert all("n" in s and "N" not in s for s in result["suites"])


def test_results_figure_is_drawn_in_both_palettes():
    files = results.figure_files("bench-regression-figure")
    light, dark = files["bench_regression-light.svg"], files["bench_regression-dark.svg"]
    assert set(files) == {"bench_regression-light.svg", "bench_regression-dark.svg"}
    assert b"<svg" in light and light != dark
    assert b"#1f2328" in light and b"#e6edf3" in dark  # the ink of each palette
    assert b"#e6edf3" not in light
