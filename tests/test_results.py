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


def _row(median, spread=None):
    """A results row; `spread` (relative) adds quartiles as the current
    benchmark records them, None leaves them out as older files do."""
    row = {"first_call_s": 1.0, "repeats": 7, "extrapolated_by": 1.0, "median_s": median}
    if spread is not None:
        row |= {
            "min_s": median * (1 - 2 * spread),
            "q1_s": median * (1 - spread),
            "q3_s": median * (1 + spread),
        }
    return row


def _bench(platform, classic, scan, spread=None):
    """A hand-made results file with known ratios: written by the current
    benchmark if `spread` is given, else in the older format (no spread, old
    names, absolute parameter differences only)."""
    current = spread is not None
    fit_rows = {
        "classic loop, two grad calls a step": _row(classic, spread),
        "Python loop, jitted step": _row(2 * scan, spread),
        "one jitted lax.scan (records loss and path)": _row(scan, spread),
        "lax.scan, gradient only": _row(scan / 2, spread),
        "optax.sgd in a scan": _row(scan / 2 * 1.01, spread),
        "floor step (one read of x, y)": _row(scan / 2 * 1.02, spread),
        "five sums, then O(1) steps": _row(scan / 100, spread),
        "closed form (normal equations)": _row(scan / 10, spread),
    }
    cos = "jnp.cos" if current else "jnp.cos (floor)"
    sin_suites = [
        {
            "name": "derivative of sin",
            "n": points,
            "rows": {
                "list comprehension of grad": _row(5.0, spread),
                "vmap(grad), no jit": _row(0.01 * scale, spread),
                "jit(vmap(grad))": _row(0.0013 * scale, spread),
                cos: _row(0.001 * scale, spread),
            },
            "reference": cos,
        }
        for points, scale in [(10_000, 1), (1_000_000, 10)]
    ]
    bandwidth = {
        "floor_step_GBps": 10.0,
        "gradient_only_GBps": 4.0,
        "scan_GBps": 4.0,
        "read_GBps": 12.0,
        "copy_GBps": 8.0,
    }
    kind = "NVIDIA H100 80GB HBM3" if platform == "gpu" else "cpu"
    fit = {
        "name": "linear regression, 1000 steps",
        "n": 10_000_000 if platform == "cpu" else 100_000_000,
        "rows": fit_rows,
        "reference": "one jitted lax.scan (records loss and path)",
        "bandwidth": bandwidth,
        "compiled_bytes_per_sample": {"gradient step": 24.0, "floor step": 8.0},
    }
    result = {
        "max_extrapolation": 1000,
        "machine": {"platform": platform, "cpu": "x", "cpu_count": 2, "device_kind": kind},
        "versions": {"jax": "0.12.0.1" if current else "0.11.2"},
        "suites": [*sin_suites, fit],
    }
    if current:
        result["bench_version"] = results_files.BENCH_VERSION
        result["host_memory"] = {"page_size": 4096, "last_level_cache_bytes": 32 * 2**20}
        fit["max_relative_difference_from_float64"] = {"floor": 2e-4}
        fit["rtol"] = 1e-4
        fit["read_reference"] = "jnp.sum(x + y)"
    else:
        fit["max_difference_from_scan"] = {"floor": 2e-4}
    return result


def _use(monkeypatch, tmp_path, cpu, gpu):
    (tmp_path / "bench-cpu.json").write_text(json.dumps(cpu))
    (tmp_path / "bench-h100.json").write_text(json.dumps(gpu))
    monkeypatch.setattr(results_files, "RESULTS", tmp_path)


def _claims():
    lines = bench_claims.claims_table().splitlines()
    return {line.split(" | ")[0].strip("| "): line for line in lines}


def _claim(rows, start):
    return next(row for text, row in rows.items() if text.startswith(start))


def test_claims_hold_only_beyond_the_spread(monkeypatch, tmp_path):
    """Known ratios and spreads: a clear win holds, a small one within the
    noise does not, and a file without spreads is not judged."""
    _use(monkeypatch, tmp_path, _bench("cpu", 12.0, 0.01, spread=0.05), _bench("gpu", 5.0, 0.01))
    rows = _claims()
    comprehension = _claim(rows, "`vmap(grad)`, no jit")
    assert "| 500x [452x, 553x] ✓ | 500x (no spread recorded: not judged) |" in comprehension
    classic = _claim(rows, "the gradient-only scan against the classic loop")
    assert "| 2,400x [" in classic and "✓ | 1,000x (no spread" in classic  # 12 s, 5 s / 5 ms
    floor = _claim(rows, "the floor step against the gradient-only scan")
    assert "| 0.98x [0.887x, 1.08x] ≈ |" in floor  # 2% apart, inside a ±5% spread
    optax = _claim(rows, "optax's SGD and the hand-written")
    assert "| 1.01x [0.914x, 1.12x] ✓ |" in optax
    scan = _claim(rows, "the same, largest n")
    assert "| 2x [1.81x, 2.21x] ✓ |" in scan


def test_a_claim_the_data_reverses_is_marked(monkeypatch, tmp_path):
    cpu = _bench("cpu", 12.0, 0.01, spread=0.01)
    cpu["suites"][-1]["rows"]["Python loop, jitted step"] = _row(0.005, 0.01)  # faster
    _use(monkeypatch, tmp_path, cpu, _bench("gpu", 5.0, 0.01))
    assert "| 0.5x [0.49x, 0.51x] ✗ |" in _claim(_claims(), "the same, largest n")


def test_peak_and_parameter_claims(monkeypatch, tmp_path):
    cpu = _bench("cpu", 12.0, 0.01, spread=0.05)
    gpu = _bench("gpu", 5.0, 0.01)
    gpu["suites"][-1]["bandwidth"]["floor_step_GBps"] = 4000.0  # above the H100's peak
    _use(monkeypatch, tmp_path, cpu, gpu)
    rows = _claims()
    peak = _claim(rows, "the floor step stays under the datasheet's peak")
    assert "— (no datasheet figure)" in peak and "119% ✗" in peak  # 4000 / 3350
    parameters = _claim(rows, "every descent variant ends")
    assert "| 2.0e-04 ✗ | — (older run: only absolute differences" in parameters
    gpu["suites"][-1]["n"] = 10_000  # 80 kB: fits in the H100's L2 cache
    _use(monkeypatch, tmp_path, cpu, gpu)
    peak = _claim(_claims(), "the floor step stays under the datasheet's peak")
    assert "— (x and y fit in the cache)" in peak


def test_bandwidth_table_names_its_references_cache_and_peak(monkeypatch, tmp_path):
    _use(monkeypatch, tmp_path, _bench("cpu", 12.0, 0.01, spread=0.05), _bench("gpu", 5.0, 0.01))
    cpu_row, gpu_row = bench_tables.bandwidth_table().splitlines()[2:]
    assert "`jnp.sum(x + y)`" in cpu_row and "none published" in cpu_row
    assert "| 80 MB / 33.6 MB |" in cpu_row  # 8 bytes x 1e7 against 32 MiB
    assert "| 24 / 8 | 4.0 / 10.0 |" in cpu_row  # the gradient step and its scan
    assert "`x · y`" in gpu_row and "| 3,350 | 0% |" in gpu_row  # 10 of 3,350 GB/s
    assert "older benchmark" in gpu_row and "older benchmark" not in cpu_row


def test_loop_table_models_dispatch_and_shows_fresh_memory_where_counted(monkeypatch, tmp_path):
    cpu, gpu = _bench("cpu", 12.0, 0.01, spread=0.05), _bench("gpu", 5.0, 0.01)
    small = json.loads(json.dumps(cpu["suites"][-1]))
    small["n"] = 10_000
    small["rows"]["Python loop, jitted step"] = _row(0.05, 0.05)  # 50 µs a step
    small["rows"]["one jitted lax.scan (records loss and path)"] = _row(0.005, 0.05)
    loop, scan = "Python loop, jitted step", "one jitted lax.scan (records loss and path)"
    big = cpu["suites"][-1]
    big["rows"][loop]["fresh_bytes_per_call"] = 1000 * 80e6
    big["rows"][scan]["fresh_bytes_per_call"] = 80e6
    big["references"] = {"fresh memory alone": _row(0.004, 0.05) | {"fresh_bytes_per_call": 8e7}}
    cpu["suites"].append(small)
    _use(monkeypatch, tmp_path, cpu, gpu)
    small_row, big_row, gpu_row = bench_tables.loop_table().splitlines()[2:]
    assert "| 50 µs | 5 µs | 50 µs | (sets the dispatch time) |" in small_row
    # a step: loop 20 µs, scan 10 µs, max(50 µs dispatch, 10 µs) = 50 µs
    assert "| 20 µs | 10 µs | 50 µs | −30 µs | 80.0 MB | 80.0 MB | 4 ms for 80.0 MB |" in big_row
    assert gpu_row.endswith("| not counted on a GPU |")


def test_timing_tables_show_spread_points_and_the_code_that_measured(monkeypatch, tmp_path):
    _use(monkeypatch, tmp_path, _bench("cpu", 12.0, 0.01, spread=0.05), _bench("gpu", 5.0, 0.01))
    header, _, *rows = bench_tables.timing_table(bench_tables.SIN).splitlines()
    assert "2-core CPU (jax 0.12.0.1), 1e4 points" in header
    assert "NVIDIA H100 80GB HBM3 (jax 0.11.2, older benchmark), 1e6 points" in header
    cos = next(row for row in rows if row.startswith("| jnp.cos |"))  # the old name too
    assert cos.count("(1x)") == 4 and "±5%" in cos
    fit = bench_tables.timing_table(bench_tables.FIT).splitlines()[0]
    assert "n = 1e7" in fit
    scaling = bench_tables.derivative_scaling_table().splitlines()[2]
    assert "| 1e4 → 1e6 | 100x | 1.3 ms → 13 ms | 10x |" in scaling


def test_machines_table_says_which_benchmark_code_wrote_each_file(monkeypatch, tmp_path):
    cpu, gpu = _bench("cpu", 12.0, 0.01, spread=0.05), _bench("gpu", 5.0, 0.01)
    for result, python in [(cpu, "3.12.1"), (gpu, "3.12.3")]:
        result["versions"] |= {"numpy": "2", "optax": "0.2", "python": python}
        result["date"] = "2026-11-28T00:00:00"
    _use(monkeypatch, tmp_path, cpu, gpu)
    cpu_row, gpu_row = results_files.machines_table().splitlines()[2:]
    assert f"version {results_files.BENCH_VERSION}, the one this page shows" in cpu_row
    assert "an older version: each variant timed alone, no spread recorded" in gpu_row


def test_committed_results_use_one_size_key_and_record_the_extrapolation_limit():
    for name in results_files.BENCH_FILES:
        result = results_files.load(name)
        assert result["max_extrapolation"] == 1000
        assert all("n" in s and "N" not in s for s in result["suites"])


def test_every_committed_file_renders_every_benchmark_table():
    """The committed files, older ones included, render; a file without a
    version is labelled as written by an older benchmark."""
    for name, render in results.RENDERERS.items():
        if name.startswith("bench-") and name not in results.FIGURES:
            assert render().count("\n") >= 2, name
    for name in results_files.BENCH_FILES:
        result = results_files.load(name)
        assert ("older benchmark" in results_files.column_name(result)) != (
            result.get("bench_version") == results_files.BENCH_VERSION
        )


def test_results_figure_is_drawn_in_both_palettes():
    files = results.figure_files("bench-regression-figure")
    light, dark = files["bench_regression-light.svg"], files["bench_regression-dark.svg"]
    assert set(files) == {"bench_regression-light.svg", "bench_regression-dark.svg"}
    assert b"<svg" in light and light != dark
    assert b"#1f2328" in light and b"#e6edf3" in dark  # the ink of each palette
    assert b"#e6edf3" not in light
