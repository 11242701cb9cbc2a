"""The Performance page's table of claims: each comparison the prose makes,
judged on every machine's results file, so a claim that stops holding shows."""

from __future__ import annotations

from sitebuild.bench_tables import DATASHEET_GBPS, FIT, LOOP, SCAN, SIN
from sitebuild.results_files import (
    BENCH_FILES,
    fmt_ratio,
    largest,
    load,
    machine_name,
    median,
    size,
    sizes,
    suites,
    table,
)


def claims_table() -> str:
    """Each comparison the Performance page discusses, judged from the files."""
    results = [load(name) for name in BENCH_FILES]
    classic = "classic loop, two grad calls a step"

    def ratio(result, suite_name, pick, slow, fast):
        n = pick(sizes(result, suite_name))
        return median(result, suite_name, n, slow) / median(result, suite_name, n, fast)

    def first(sizes):
        return sizes[0]

    def last(sizes):
        return sizes[-1]

    def comprehension(result):
        n = sizes(result, SIN)[0]
        suite = next(s for s in suites(result, SIN) if size(s) == n)
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
            cells.append("—" if v is None else f"{fmt_ratio(v)} {'✓' if holds(v) else '✗'}")
        rows.append([text, target, *cells])
    cells = []
    for result in results:
        peak = DATASHEET_GBPS.get(result["machine"]["device_kind"])
        if peak is None:
            cells.append("— (no datasheet figure)")
            continue
        share = largest(result)["bandwidth"]["floor_step_GBps"] / peak
        cells.append(f"{share:.0%} {'✓' if share <= 1 else '✗'}")
    rows.append(["the floor step stays under the datasheet's peak, largest n", "≤ 100%", *cells])
    cells = []
    for result in results:
        worst = max(
            d for suite in suites(result, FIT) for d in suite["max_difference_from_scan"].values()
        )
        cells.append(f"{worst:.1e} {'✓' if worst <= 1e-4 else '✗'}")
    rows.append(["every variant ends at the scan's parameters", "≤ 1e-4", *cells])
    return table(["claim", "target", *map(machine_name, results)], rows)
