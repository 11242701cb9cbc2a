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
# A prefix timed and scaled up by more than this says too little to print.
MAX_EXTRAPOLATION = 1000


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
    return suite.get("N", suite.get("n"))


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
        for _, suite in columns:
            row = suite["rows"].get(variant)
            if row is None or row["extrapolated_by"] > MAX_EXTRAPOLATION:
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


def bandwidth_table() -> str:
    rows = []
    for result in map(load, BENCH_FILES):
        suite = _largest(result)
        bw, counted = suite["bandwidth"], suite["compiled_bytes_per_sample"]
        rows.append(
            [
                f"{machine_name(result)}, n = {_size_label(_size(suite))}",
                f"{counted['gradient step']:.0f} / {counted['floor step']:.0f}",
                f"{bw['scan_GBps']:,.1f} / {bw['floor_step_GBps']:,.1f}",
                f"{bw['read_GBps']:,.1f} / {bw['copy_GBps']:,.1f}",
                f"{bw['read_GBps'] / bw['floor_step_GBps']:.2f}x the time of one read; "
                f"{bw['floor_step_GBps'] / bw['copy_GBps']:.0%} of copy GB/s",
            ]
        )
    header = [
        "machine",
        "XLA's bytes a sample: plain / floor step",
        "GB/s: plain scan / floor step",
        "GB/s: read x·y / copy",
        "floor step against the references",
    ]
    return _table(header, rows)


def _median(result, suite_name, n, variant):
    suite = next(s for s in _suites(result, suite_name) if _size(s) == n)
    return suite["rows"][variant]["median_s"]


def claims_table() -> str:
    """The issue's targets and the earlier chapters' claims, each checked."""
    cpu, gpu = map(load, BENCH_FILES)
    sin, fit = "derivative of sin", "linear regression, 1000 steps"

    def vs(result, suite_name, n, slow, fast):
        return _median(result, suite_name, n, slow) / _median(result, suite_name, n, fast)

    def largest(result, suite_name):
        return max(map(_size, _suites(result, suite_name)))

    def smallest(result, suite_name):
        return min(map(_size, _suites(result, suite_name)))

    scan = _largest(cpu)["reference"]
    classic = "classic loop, two grad calls a step"
    claims = []

    ratios = [vs(r, sin, largest(r, sin), "jit(vmap(grad))", "jnp.cos (floor)") for r in (cpu, gpu)]
    claims.append(("`jit(vmap(grad))` costs what `jnp.cos` costs", "≤ 1.2x", ratios, "le", 1.2))
    ratios = [
        vs(r, sin, smallest(r, sin), "list comprehension of grad", "vmap(grad), no jit")
        for r in (cpu, gpu)
    ]
    claims.append(("`vmap` beats a list comprehension of `grad`", "> 1x", ratios, "ge", 1.0))
    ratios = [vs(r, fit, smallest(r, fit), classic, scan) for r in (cpu, gpu)]
    claims.append(
        ("one `lax.scan` beats the classic loop, n = 1e4", "≥ 1,000x", ratios, "ge", 1000)
    )
    ratios = [vs(r, fit, smallest(r, fit), "Python loop, jitted step", scan) for r in (cpu, gpu)]
    claims.append(
        ("`lax.scan` beats a Python loop of jitted steps, n = 1e4", "> 1x", ratios, "ge", 1)
    )
    ratios = [
        vs(r, fit, largest(r, fit), scan, "closed form (normal equations)") for r in (cpu, gpu)
    ]
    claims.append(("the closed form beats 1,000 descent steps", "> 1x", ratios, "ge", 1))
    rows = []
    for text, target, values, sense, bound in claims:
        held = [v <= bound if sense == "le" else v >= bound for v in values]
        cells = [f"{_ratio(v)} {'✓' if h else '✗'}" for v, h in zip(values, held, strict=True)]
        rows.append([text, target, *cells])

    bw = _largest(cpu)["bandwidth"]
    slower = bw["read_GBps"] / bw["floor_step_GBps"]
    mark = "✓" if slower <= 1.5 else "✗"
    rows.append(
        [
            f"floor step near the 8-byte floor, CPU n = {_size_label(_size(_largest(cpu)))} "
            "(time over one read of x, y)",
            "≤ 1.5x",
            f"{slower:.2f}x {mark}",
            "—",
        ]
    )
    bw = _largest(gpu)["bandwidth"]
    share = bw["floor_step_GBps"] / bw["copy_GBps"]
    rows.append(
        [
            f"floor step near copy bandwidth, GPU n = {_size_label(_size(_largest(gpu)))}",
            "≥ 90%",
            "—",
            f"{share:.0%} {'✓' if share >= 0.9 else '✗'}",
        ]
    )
    cells = []
    for result in (cpu, gpu):
        worst = max(
            d for suite in _suites(result, fit) for d in suite["max_difference_from_scan"].values()
        )
        cells.append(f"{worst:.1e} {'✓' if worst <= 1e-4 else '✗'}")
    rows.append(["every variant ends at the scan's parameters", "≤ 1e-4", *cells])
    return _table(["claim", "target", machine_name(cpu), machine_name(gpu)], rows)


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
