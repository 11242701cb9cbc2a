"""Tables and the figure of the Performance chapter, from the benchmark's results.

Files written by an older version of the benchmark lack some fields (the
spread of each time, fresh memory per call, XLA's estimate for the
loss-and-gradient step, ...): their cells show "—" or say what is missing.
"""

from __future__ import annotations

from sitebuild.results_files import (
    BENCH_FILES,
    column_name,
    fmt_ratio,
    fmt_time,
    largest,
    load,
    quartiles,
    size,
    size_label,
    suites,
    table,
)

# Peak memory bandwidth from the vendor's datasheet, GB/s, by the device kind
# JAX reports: H100 SXM5 80 GB 3.35 TB/s, H200 4.8 TB/s. It bounds a step
# whose data comes from device memory; a cloud CPU share has no such figure.
DATASHEET_GBPS = {"NVIDIA H100 80GB HBM3": 3350.0, "NVIDIA H200": 4800.0}

# The GPU's last-level (L2) cache, bytes: 50 MB on the H100 SXM5 (NVIDIA's
# H100 architecture whitepaper); the H200 uses the same GH100 configuration.
DATASHEET_L2_BYTES = {"NVIDIA H100 80GB HBM3": 50e6, "NVIDIA H200": 50e6}

# Memory bandwidth limits a step only when its data is well past the
# last-level cache: at least this many times larger.
CACHE_MULTIPLE = 2

# What the benchmark's read reference was, where a results file predates
# its "read_reference" field.
OLD_READ_REFERENCE = "x · y"
SIN, FIT = "derivative of sin", "linear regression, 1000 steps"  # the suites
N_STEPS = 1000  # the steps of every training in FIT
SCAN = "one jitted lax.scan (records loss and path)"
LOOP = "Python loop, jitted step"
GRAD_ONLY = "lax.scan, gradient only"
FLOOR = "floor step (one read of x, y)"
FIVE_SUMS = "five sums, then O(1) steps"
FRESH = "fresh memory alone"


def size_header(suite_name: str, n: int) -> str:
    """Sizes of the derivative suite are points; of the training, samples n."""
    return f"{size_label(n)} points" if suite_name == SIN else f"n = {size_label(n)}"


def spread_note(row: dict) -> str:
    """Half the interquartile range, relative to the median: ' ±3%'."""
    spread = quartiles(row)
    if spread is None:
        return ""
    return f" ±{(spread[1] - spread[0]) / 2 / row['median_s'] * 100:.2g}%"


def timing_table(suite_name: str) -> str:
    """Variants down, (machine, size) across: median time, spread, ratio."""
    columns = [
        (result, suite) for result in map(load, BENCH_FILES) for suite in suites(result, suite_name)
    ]
    variants = list(dict.fromkeys(v for _, suite in columns for v in suite["rows"]))
    header = ["variant"] + [
        f"{column_name(r)}, {size_header(suite_name, size(s))}" for r, s in columns
    ]
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
            cells.append(
                f"{fmt_time(row['median_s'])}{spread_note(row)} ({fmt_ratio(ratio)}){mark}"
            )
        rows.append(cells)
    return table(header, rows)


def derivative_scaling_table() -> str:
    """How `jit(vmap(grad))`'s time grew with the points, on each machine."""
    rows = []
    for result in map(load, BENCH_FILES):
        ordered = sorted(suites(result, SIN), key=size)
        if len(ordered) < 2:  # a quick run: one size only
            continue
        few, many = ordered[0], ordered[-1]
        times = [s["rows"]["jit(vmap(grad))"]["median_s"] for s in (few, many)]
        rows.append(
            [
                column_name(result),
                f"{size_label(size(few))} → {size_label(size(many))}",
                fmt_ratio(size(many) / size(few)),
                f"{fmt_time(times[0])} → {fmt_time(times[1])}",
                fmt_ratio(times[1] / times[0]),
            ]
        )
    header = ["machine", "points", "points grew", "time of `jit(vmap(grad))`", "time grew"]
    return table(header, rows)


def _read_reference(suite: dict) -> str:
    return suite.get("read_reference", OLD_READ_REFERENCE)


def cache_bytes(result: dict) -> float | None:
    """The last-level cache the data of a step competes for."""
    if result["machine"]["platform"] == "cpu":
        return result.get("host_memory", {}).get("last_level_cache_bytes")
    return DATASHEET_L2_BYTES.get(result["machine"]["device_kind"])


def past_cache(result: dict, n: int) -> bool | None:
    """Whether x and y (8 bytes a sample) are CACHE_MULTIPLE times the cache."""
    cache = cache_bytes(result)
    return None if cache is None else 8 * n >= CACHE_MULTIPLE * cache


def bandwidth_table() -> str:
    """Each machine at its largest n: the gradient-only and floor steps'
    rates, with XLA's estimate of the bytes of exactly those steps, against
    the references of the same run and the datasheet's peak."""
    rows = []
    for result in map(load, BENCH_FILES):
        suite = largest(result)
        bw, counted = suite["bandwidth"], suite["compiled_bytes_per_sample"]
        cache = cache_bytes(result)
        peak = DATASHEET_GBPS.get(result["machine"]["device_kind"])
        data = 8 * size(suite)
        rows.append(
            [
                f"{column_name(result)}, n = {size_label(size(suite))}",
                "—" if cache is None else f"{data / 1e6:,.3g} MB / {cache / 1e6:,.3g} MB",
                f"{counted['gradient step']:.0f} / {counted['floor step']:.0f}",
                f"{bw['gradient_only_GBps']:,.1f} / {bw['floor_step_GBps']:,.1f}",
                f"{bw['read_GBps']:,.1f} (`{_read_reference(suite)}`) / {bw['copy_GBps']:,.1f}",
                "none published" if peak is None else f"{peak:,.0f}",
                "—" if peak is None else f"{bw['floor_step_GBps'] / peak:.0%}",
                f"{bw['floor_step_GBps'] / bw['read_GBps']:.2f}x",
            ]
        )
    header = [
        "machine",
        "x and y / last-level cache",
        "XLA's estimate, bytes a sample: gradient step / floor step",
        "GB/s of 8 bytes a sample: gradient-only scan / floor step",
        "GB/s measured: read / copy",
        "GB/s datasheet peak",
        "floor step, share of the peak",
        "floor step over the read",
    ]
    return table(header, rows)


def _fresh_cells(result: dict, suite: dict) -> list[str]:
    """Fresh memory per call of the jitted step and of the whole scan, and
    what mapping the step's alone cost, where the run counted them."""
    if result["machine"]["platform"] != "cpu":
        return ["not counted on a GPU"] * 3
    loop, scan = suite["rows"][LOOP], suite["rows"][SCAN]
    if loop.get("fresh_bytes_per_call") is None:
        return ["not counted in this run"] * 3
    per_step = loop["fresh_bytes_per_call"] / N_STEPS
    control = suite.get("references", {}).get(FRESH)
    return [
        f"{per_step / 1e6:,.1f} MB",
        f"{scan['fresh_bytes_per_call'] / 1e6:,.1f} MB",
        "—"
        if control is None
        else f"{fmt_time(control['median_s'])} for {control['fresh_bytes_per_call'] / 1e6:,.1f} MB",
    ]


def loop_table() -> str:
    """The Python loop of jitted steps against the scan, per step, at every
    size: the loop's time beyond max(dispatch, the scan's step), where the
    dispatch is the loop's step at the machine's smallest size; and the
    fresh memory each call mapped in, with what mapping it alone cost."""
    rows = []
    for result in map(load, BENCH_FILES):
        ordered = sorted(suites(result, FIT), key=size)
        smallest = ordered[0]["rows"]
        dispatch = smallest[LOOP]["median_s"] / N_STEPS
        if smallest[SCAN]["median_s"] >= smallest[LOOP]["median_s"]:
            dispatch = None  # the step's own run hides the dispatch even there
        for suite in ordered:
            loop = suite["rows"][LOOP]["median_s"] / N_STEPS
            scan = suite["rows"][SCAN]["median_s"] / N_STEPS
            if dispatch is None:
                model, extra = "—", "— (no size where dispatch shows alone)"
            elif suite is ordered[0]:
                model, extra = fmt_time(dispatch), "(sets the dispatch time)"
            else:
                model = max(dispatch, scan)
                extra = fmt_time(loop - model) if loop > model else f"−{fmt_time(model - loop)}"
                model = fmt_time(model)
            rows.append(
                [
                    f"{column_name(result)}, n = {size_label(size(suite))}",
                    fmt_time(loop),
                    fmt_time(scan),
                    model,
                    extra,
                    *_fresh_cells(result, suite),
                ]
            )
    header = [
        "machine",
        "loop of jitted steps, a step",
        "scan, a step",
        "max(dispatch, scan's step)",
        "loop's extra time, a step",
        "fresh memory, a call of the jitted step",
        "fresh memory, a call of the scan",
        "mapping the jitted step's fresh memory alone",
    ]
    return table(header, rows)


def regression_figure():
    """Time of one whole training (1,000 steps, or one closed-form solve) in
    each variant, on each machine, at its largest n."""
    import matplotlib.pyplot as plt

    from sitebuild.palette import SERIES

    results = [load(name) for name in BENCH_FILES]
    fig, axes = plt.subplots(1, len(results), figsize=(10, 4.2), sharey=True, num="results")
    for ax, result in zip(axes, results, strict=True):
        suite = largest(result)
        names = list(suite["rows"])
        seconds = [suite["rows"][v]["median_s"] for v in names]
        colours = [SERIES[2] if v in (FLOOR, FIVE_SUMS) else SERIES[0] for v in names]
        ax.barh(range(len(names)), seconds, color=colours)
        ax.set_xscale("log")
        ax.set_yticks(range(len(names)), names)
        ax.set_title(f"{column_name(result)},\nn = {size_label(size(suite))}", fontsize=9)
        ax.set_xlabel("seconds for the whole training (log scale)")
        ax.grid(axis="y", visible=False)
    axes[0].invert_yaxis()  # the y axis is shared: inverting each would undo it
    fig.tight_layout()
    return fig
