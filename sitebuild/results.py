"""Tables and figures drawn from the committed results in `results/`.

Some numbers cannot come from a page's own code at build time: a benchmark
that runs for a quarter of an hour, a run on a GPU the build machine lacks,
the test suite itself. Those runs write JSON into `results/`; a page asks
for a rendering of them with a line of its own,

    <!-- results: NAME -->

which the build replaces with the Markdown that RENDERERS[NAME] returns.
Nothing here is typed by hand: every figure and number comes from the files.
"""

from __future__ import annotations

import json
import re

from sitebuild.page import ROOT, PageError
from sitebuild.palette import figure_pair

RESULTS = ROOT / "results"
MARKER = re.compile(r"^<!-- results: ([a-z-]+) -->$")
# Benchmark runs, in the order the tables show them.
BENCH_FILES = ("bench-cpu.json", "bench-h100.json")
# Test runs the home page lists under "Tested on".
TESTED_ON_FILES = ("tested-on-cpu.json", "tested-on-h100.json")
# Peak memory bandwidth from the vendor's datasheet, GB/s, by the device kind
# JAX reports: H100 SXM5 80 GB 3.35 TB/s, H200 4.8 TB/s. An upper bound no
# step can beat; a cloud CPU share has no such published figure.
DATASHEET_GBPS = {"NVIDIA H100 80GB HBM3": 3350.0, "NVIDIA H200": 4800.0}
# What the benchmark's read reference was, where a results file predates
# its "read_reference" field.
OLD_READ_REFERENCE = "x · y"


def load(name: str) -> dict:
    path = RESULTS / name
    if not path.is_file():
        raise PageError(f"{path} is missing: the pages render it (see README, 'Results')")
    return json.loads(path.read_text(encoding="utf-8"))


def machine_name(result: dict) -> str:
    machine = result["machine"]
    if machine["platform"] == "cpu":
        return f"{machine['cpu_count']}-core CPU"
    return machine["device_kind"]


def _suites(result: dict, name: str) -> list[dict]:
    return [s for s in result["suites"] if s["name"] == name]


def _size(suite: dict) -> int:
    return suite["n"]


def _time(seconds: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _ratio(ratio: float) -> str:
    if ratio >= 100:
        return f"{ratio:,.0f}x"
    return f"{ratio:.3g}x"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _size_label(n: int) -> str:
    exponent = len(str(n)) - 1
    return f"1e{exponent}" if n == 10**exponent else f"{n:,}"


def timing_table(suite_name: str) -> str:
    """Variants down, (machine, size) across: median time and ratio."""
    columns = [
        (result, suite)
        for result in map(load, BENCH_FILES)
        for suite in _suites(result, suite_name)
    ]
    variants = list(dict.fromkeys(v for _, suite in columns for v in suite["rows"]))
    header = ["variant"] + [f"{machine_name(r)}, n = {_size_label(_size(s))}" for r, s in columns]
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
            cells.append(f"{_time(row['median_s'])} ({_ratio(ratio)}){mark}")
        rows.append(cells)
    return _table(header, rows)


def machines_table() -> str:
    rows = []
    for name in BENCH_FILES:
        result = load(name)
        machine, versions = result["machine"], result["versions"]
        rows.append(
            [
                machine_name(result),
                f"{machine['cpu_count']} × {machine['cpu']}",
                f"jax {versions['jax']}, numpy {versions['numpy']}, optax {versions['optax']}, "
                f"Python {versions['python']}",
                result["date"][:10],
                f"`results/{name}`",
            ]
        )
    return _table(["machine", "host CPU", "versions", "date", "data"], rows)


def _largest(result: dict) -> dict:
    return max(_suites(result, "linear regression, 1000 steps"), key=_size)


def _read_reference(suite: dict) -> str:
    return suite.get("read_reference", OLD_READ_REFERENCE)


def bandwidth_table() -> str:
    """Each machine at its largest n: the steps' rates against the
    references measured in the same run and the datasheet's peak."""
    rows = []
    for result in map(load, BENCH_FILES):
        suite = _largest(result)
        bw, counted = suite["bandwidth"], suite["compiled_bytes_per_sample"]
        peak = DATASHEET_GBPS.get(result["machine"]["device_kind"])
        rows.append(
            [
                f"{machine_name(result)}, n = {_size_label(_size(suite))}",
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
    return _table(header, rows)


def _median(result, suite_name, n, variant):
    suite = next(s for s in _suites(result, suite_name) if _size(s) == n)
    return suite["rows"][variant]["median_s"]


SIN, FIT = "derivative of sin", "linear regression, 1000 steps"
SCAN = "one jitted lax.scan (records loss and path)"
LOOP = "Python loop, jitted step"


def _sizes(result: dict, suite_name: str) -> list[int]:
    return sorted(map(_size, _suites(result, suite_name)))


def loop_table() -> str:
    """The Python loop of jitted steps against the scan, per step, at every
    size, with the fresh memory each mapped in where the run counted it."""
    rows = []
    for result in map(load, BENCH_FILES):
        for suite in sorted(_suites(result, FIT), key=_size):
            loop = suite["rows"][LOOP]["median_s"] / 1000
            scan = suite["rows"][SCAN]["median_s"] / 1000
            counted = suite.get("fresh_bytes_per_step")
            if counted is None or counted.get(LOOP) is None:
                fresh = "not counted in this run"
            else:
                fresh = " / ".join(f"{counted[name] / 1e6:,.1f}" for name in (LOOP, SCAN))
            rows.append(
                [
                    f"{machine_name(result)}, n = {_size_label(_size(suite))}",
                    _time(loop),
                    _time(scan),
                    _time(loop - scan) if loop > scan else f"−{_time(scan - loop)}",
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
    return _table(header, rows)


def small_gpu_sentence() -> str:
    """What each GPU run shows at its smallest size: every scan's time a step."""
    sentences = []
    for result in map(load, BENCH_FILES):
        if result["machine"]["platform"] == "cpu":
            continue
        n = _sizes(result, FIT)[0]
        suite = next(s for s in _suites(result, FIT) if _size(s) == n)
        scans = [
            SCAN,
            "lax.scan, gradient only",
            "floor step (one read of x, y)",
            "five sums, then O(1) steps",
        ]
        per_step = {v: suite["rows"][v]["median_s"] / 1000 for v in scans}
        listed = ", ".join(f"{v} {_time(t)}" for v, t in per_step.items())
        sentences.append(
            f"On the {machine_name(result)} at n = {_size_label(n)}, a step took: {listed}."
        )
    return " ".join(sentences)


def claims_table() -> str:
    """Each comparison the Performance page discusses, judged from the files."""
    results = [load(name) for name in BENCH_FILES]
    classic = "classic loop, two grad calls a step"

    def ratio(result, suite_name, pick, slow, fast):
        n = pick(_sizes(result, suite_name))
        return _median(result, suite_name, n, slow) / _median(result, suite_name, n, fast)

    def first(sizes):
        return sizes[0]

    def last(sizes):
        return sizes[-1]

    def comprehension(result):
        n = _sizes(result, SIN)[0]
        suite = next(s for s in _suites(result, SIN) if _size(s) == n)
        row = suite["rows"].get("list comprehension of grad")
        if row is None or row["extrapolated_by"] > result["max_extrapolation"]:
            return None
        return row["median_s"] / suite["rows"]["vmap(grad), no jit"]["median_s"]

    claims = [  # (text, target, value per result, holds)
        (
            "`vmap(grad)`, no jit, against a list comprehension of `grad` "
            "(comprehension's time over vmap's), smallest n",
            "> 1x",
            comprehension,
            lambda v: v > 1,
        ),
        (
            "`jit` against op-by-op: `vmap(grad)` without jit over `jit(vmap(grad))`, largest n",
            "> 1x",
            lambda r: ratio(r, SIN, last, "vmap(grad), no jit", "jit(vmap(grad))"),
            lambda v: v > 1,
        ),
        (
            "`jit(vmap(grad))` costs what `jnp.cos` costs (time over `jnp.cos`'s), largest n",
            "≤ 1.2x",
            lambda r: ratio(r, SIN, last, "jit(vmap(grad))", "jnp.cos (floor)"),
            lambda v: v <= 1.2,
        ),
        (
            "`lax.scan` against the classic loop, like for like (classic loop's "
            "time over the gradient-only scan's), smallest n",
            "> 1x",
            lambda r: ratio(r, FIT, first, classic, "lax.scan, gradient only"),
            lambda v: v > 1,
        ),
        (
            "`lax.scan` against a Python loop of jitted steps (loop's time over "
            "the scan's), smallest n",
            "> 1x",
            lambda r: ratio(r, FIT, first, LOOP, SCAN),
            lambda v: v > 1,
        ),
        (
            "the same, largest n",
            "> 1x",
            lambda r: ratio(r, FIT, last, LOOP, SCAN),
            lambda v: v > 1,
        ),
        (
            "the floor step against the plain scan (scan's time over the floor step's), largest n",
            "> 1x",
            lambda r: ratio(r, FIT, last, SCAN, "floor step (one read of x, y)"),
            lambda v: v > 1,
        ),
        (
            "five sums against the floor step (floor step's time over five sums'), largest n",
            "> 1x",
            lambda r: ratio(
                r, FIT, last, "floor step (one read of x, y)", "five sums, then O(1) steps"
            ),
            lambda v: v > 1,
        ),
        (
            "the closed form against 1,000 descent steps (scan's time over the "
            "closed form's), largest n",
            "> 1x",
            lambda r: ratio(r, FIT, last, SCAN, "closed form (normal equations)"),
            lambda v: v > 1,
        ),
    ]
    rows = []
    for text, target, value, holds in claims:
        cells = []
        for result in results:
            v = value(result)
            cells.append("—" if v is None else f"{_ratio(v)} {'✓' if holds(v) else '✗'}")
        rows.append([text, target, *cells])
    cells = []
    for result in results:
        peak = DATASHEET_GBPS.get(result["machine"]["device_kind"])
        if peak is None:
            cells.append("— (no datasheet figure)")
            continue
        share = _largest(result)["bandwidth"]["floor_step_GBps"] / peak
        cells.append(f"{share:.0%} {'✓' if share <= 1 else '✗'}")
    rows.append(["the floor step stays under the datasheet's peak, largest n", "≤ 100%", *cells])
    cells = []
    for result in results:
        worst = max(
            d for suite in _suites(result, FIT) for d in suite["max_difference_from_scan"].values()
        )
        cells.append(f"{worst:.1e} {'✓' if worst <= 1e-4 else '✗'}")
    rows.append(["every variant ends at the scan's parameters", "≤ 1e-4", *cells])
    return _table(["claim", "target", *map(machine_name, results)], rows)


def tested_on_table() -> str:
    rows = []
    for name in TESTED_ON_FILES:
        run = load(name)
        counts = run["tests"]
        versions = run["versions"]
        rows.append(
            [
                run["device"],
                f"{counts['passed']} passed, {counts['failed']} failed, "
                f"{counts['skipped']} skipped",
                str(run["page_blocks_executed"]),
                f"jax {versions['jax']}, jaxlib {versions['jaxlib']}, numpy {versions['numpy']}, "
                f"Python {versions['python']}",
                run["date"][:10],
                f"`{run['command']}`",
            ]
        )
    return _table(
        ["machine", "tests", "page blocks run", "versions", "date", "command"],
        rows,
    )


def regression_figure():
    """Time per descent step of each variant, on each machine, at its largest n."""
    import matplotlib.pyplot as plt

    from sitebuild.palette import SERIES

    results = [load(name) for name in BENCH_FILES]
    fig, axes = plt.subplots(1, len(results), figsize=(10, 4.2), sharey=True, num="results")
    for ax, result in zip(axes, results, strict=True):
        suite = _largest(result)
        names = [v for v in suite["rows"] if v != "closed form (normal equations)"]
        per_step = [suite["rows"][v]["median_s"] / 1000 for v in names]
        colours = [SERIES[2] if "floor" in v or "five" in v else SERIES[0] for v in names]
        ax.barh(range(len(names)), per_step, color=colours)
        ax.set_xscale("log")
        ax.set_yticks(range(len(names)), names)
        ax.set_title(f"{machine_name(result)}, n = {_size_label(_size(suite))}")
        ax.set_xlabel("seconds per descent step (log scale)")
        ax.grid(axis="y", visible=False)
    axes[0].invert_yaxis()  # the y axis is shared: inverting each would undo it
    fig.tight_layout()
    return fig


# marker -> (figure name, alt text, function drawing it in the light palette)
FIGURES = {
    "bench-regression-figure": (
        "bench_regression",
        "Bar charts, one per machine, of the time one descent step takes in each "
        "variant, on a log scale; the floor step and the five-sums step are highlighted.",
        regression_figure,
    )
}


def figure_files(marker: str) -> dict[str, bytes]:
    """The figure of `marker` as SVG files, name-light.svg and name-dark.svg,
    drawn once and recoloured for the dark scheme as page figures are."""
    import matplotlib.pyplot as plt

    from sitebuild.palette import svg_pair, use_light_palette

    use_light_palette()
    name, _alt, draw = FIGURES[marker]
    fig = draw()
    files = {f"{name}-{palette}.svg": svg for palette, svg in svg_pair(fig).items()}
    plt.close(fig)
    return files


def _figure(marker: str) -> str:
    name, alt, _draw = FIGURES[marker]
    return figure_pair(f"![{alt}](figures/{name}.svg)")


RENDERERS = {
    "bench-machines": machines_table,
    "bench-derivative": lambda: timing_table("derivative of sin"),
    "bench-regression": lambda: timing_table("linear regression, 1000 steps"),
    "bench-regression-figure": lambda: _figure("bench-regression-figure"),
    "bench-bandwidth": bandwidth_table,
    "bench-loop-vs-scan": loop_table,
    "bench-small-gpu": small_gpu_sentence,
    "bench-claims": claims_table,
    "tested-on": tested_on_table,
}


def expand(text: str, page: str, figures: bool = True) -> str:
    """Replace each marker line with its rendering (figures dropped if not `figures`)."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = MARKER.match(line.strip())
        if not match:
            out.append(line)
            continue
        name = match.group(1)
        if name not in RENDERERS:
            raise PageError(f"{page}:{number}: unknown results rendering {name!r}")
        if name in FIGURES and not figures:
            continue
        out.append(RENDERERS[name]())
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def used_figures(text: str) -> list[str]:
    """The markers in `text` that show a figure."""
    names = [m.group(1) for line in text.splitlines() if (m := MARKER.match(line.strip()))]
    return [name for name in names if name in FIGURES]
