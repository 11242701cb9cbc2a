"""Tables and the figure of the Performance chapter, from the benchmark's results."""

from __future__ import annotations

from sitebuild.results_files import (
    BENCH_FILES,
    fmt_ratio,
    fmt_time,
    largest,
    load,
    machine_name,
    size,
    size_label,
    sizes,
    suites,
    table,
)

# Peak memory bandwidth from the vendor's datasheet, GB/s, by the device kind
# JAX reports: H100 SXM5 80 GB 3.35 TB/s, H200 4.8 TB/s. An upper bound no
# step can beat; a cloud CPU share has no such published figure.
DATASHEET_GBPS = {"NVIDIA H100 80GB HBM3": 3350.0, "NVIDIA H200": 4800.0}


# What the benchmark's read reference was, where a results file predates
# its "read_reference" field.
OLD_READ_REFERENCE = "x · y"
SIN, FIT = "derivative of sin", "linear regression, 1000 steps"  # the suites


def timing_table(suite_name: str) -> str:
    """Variants down, (machine, size) across: median time and ratio."""
    columns = [
        (result, suite) for result in map(load, BENCH_FILES) for suite in suites(result, suite_name)
    ]
    variants = list(dict.fromkeys(v for _, suite in columns for v in suite["rows"]))
    header = ["variant"] + [f"{machine_name(r)}, n = {size_label(size(s))}" for r, s in columns]
    rows = []
    for variant in variants:
        cells = [variant]
        for result, suite in columns:
            row = suite["rows"].get(variant)
            if row is None or row["extrapolated_by"] > result["max_extrapolation"]:
                cells.append("—")
                continue
            ratio = row["median_s"] / suite["rows"][suite["reference"]]["median_s"]
            mark = " †" if row["extrapolated_by"] != 1 else ""
            cells.append(f"{fmt_time(row['median_s'])} ({fmt_ratio(ratio)}){mark}")
        rows.append(cells)
    return table(header, rows)


def _read_reference(suite: dict) -> str:
    return suite.get("read_reference", OLD_READ_REFERENCE)


def bandwidth_table() -> str:
    """Each machine at its largest n: the steps' rates against the
    references measured in the same run and the datasheet's peak."""
    rows = []
    for result in map(load, BENCH_FILES):
        suite = largest(result)
        bw, counted = suite["bandwidth"], suite["compiled_bytes_per_sample"]
        peak = DATASHEET_GBPS.get(result["machine"]["device_kind"])
        rows.append(
            [
                f"{machine_name(result)}, n = {size_label(size(suite))}",
                f"{counted['gradient step']:.0f} / {counted['floor step']:.0f}",
                f"{bw['scan_GBps']:,.1f} / {bw['floor_step_GBps']:,.1f}",
                f"{bw['read_GBps']:,.1f} (`{_read_reference(suite)}`) / {bw['copy_GBps']:,.1f}",
                "none published" if peak is None else f"{peak:,.0f}",
                "—" if peak is None else f"{bw['floor_step_GBps'] / peak:.0%}",
                f"{bw['floor_step_GBps'] / bw['read_GBps']:.2f}x",
            ]
        )
    header = [
        "machine",
        "XLA's bytes a sample: plain / floor step",
        "GB/s: plain scan / floor step",
        "GB/s measured: read / copy",
        "GB/s datasheet peak",
        "floor step, share of the peak",
        "floor step over the read",
    ]
    return table(header, rows)


SCAN = "one jitted lax.scan (records loss and path)"


LOOP = "Python loop, jitted step"


def loop_table() -> str:
    """The Python loop of jitted steps against the scan, per step, at every
    size, with the fresh memory each mapped in where the run counted it."""
    rows = []
    for result in map(load, BENCH_FILES):
        for suite in sorted(suites(result, FIT), key=size):
            loop = suite["rows"][LOOP]["median_s"] / 1000
            scan = suite["rows"][SCAN]["median_s"] / 1000
            counted = suite.get("fresh_bytes_per_step")
            if counted is None or counted.get(LOOP) is None:
                fresh = "not counted in this run"
            else:
                fresh = " / ".join(f"{counted[name] / 1e6:,.1f}" for name in (LOOP, SCAN))
            rows.append(
                [
                    f"{machine_name(result)}, n = {size_label(size(suite))}",
                    fmt_time(loop),
                    fmt_time(scan),
                    fmt_time(loop - scan) if loop > scan else f"−{fmt_time(scan - loop)}",
                    fresh,
                ]
            )
    header = [
        "machine",
        "loop of jitted steps, a step",
        "scan, a step",
        "difference, a step",
        "fresh memory a step, MB: loop / scan",
    ]
    return table(header, rows)


def small_gpu_sentence() -> str:
    """What each GPU run shows at its smallest size: every scan's time a step."""
    sentences = []
    for result in map(load, BENCH_FILES):
        if result["machine"]["platform"] == "cpu":
            continue
        n = sizes(result, FIT)[0]
        suite = next(s for s in suites(result, FIT) if size(s) == n)
        scans = [
            SCAN,
            "lax.scan, gradient only",
            "floor step (one read of x, y)",
            "five sums, then O(1) steps",
        ]
        per_step = {v: suite["rows"][v]["median_s"] / 1000 for v in scans}
        listed = ", ".join(f"{v} {fmt_time(t)}" for v, t in per_step.items())
        sentences.append(
            f"On the {machine_name(result)} at n = {size_label(n)}, a step took: {listed}."
        )
    return " ".join(sentences)


def regression_figure():
    """Time per descent step of each variant, on each machine, at its largest n."""
    import matplotlib.pyplot as plt

    from sitebuild.palette import SERIES

    results = [load(name) for name in BENCH_FILES]
    fig, axes = plt.subplots(1, len(results), figsize=(10, 4.2), sharey=True, num="results")
    for ax, result in zip(axes, results, strict=True):
        suite = largest(result)
        names = [v for v in suite["rows"] if v != "closed form (normal equations)"]
        per_step = [suite["rows"][v]["median_s"] / 1000 for v in names]
        colours = [SERIES[2] if "floor" in v or "five" in v else SERIES[0] for v in names]
        ax.barh(range(len(names)), per_step, color=colours)
        ax.set_xscale("log")
        ax.set_yticks(range(len(names)), names)
        ax.set_title(f"{machine_name(result)}, n = {size_label(size(suite))}")
        ax.set_xlabel("seconds per descent step (log scale)")
        ax.grid(axis="y", visible=False)
    axes[0].invert_yaxis()  # the y axis is shared: inverting each would undo it
    fig.tight_layout()
    return fig
