"""The Performance page's table of claims: each comparison the prose makes,
judged on every machine's results file, so a claim that stops holding shows.

A claim "A is faster than B" holds only beyond the noise: the ratio of B's
lower quartile to A's upper quartile (the least favourable pairing of the
middle halves of their rounds) must be above one. A file without quartiles
(an older benchmark) shows the ratio of medians and is not judged.
"""

from __future__ import annotations

from sitebuild.bench_tables import (
    CACHE_MULTIPLE,
    DATASHEET_GBPS,
    FIT,
    FIVE_SUMS,
    FLOOR,
    GRAD_ONLY,
    LOOP,
    N_STEPS,
    SCAN,
    SIN,
    past_cache,
)
from sitebuild.results_files import (
    BENCH_FILES,
    column_name,
    fmt_ratio,
    largest,
    load,
    quartiles,
    size,
    suites,
    table,
)

CLASSIC = "classic loop, two grad calls a step"
COMPREHENSION = "list comprehension of grad"
VMAP, JIT_VMAP = "vmap(grad), no jit", "jit(vmap(grad))"


def judge(slow: dict, fast: dict, same: bool = False) -> str:
    """Ratio of medians, the range the quartiles allow, and the verdict:
    ✓ holds beyond the spread, ✗ the opposite held, ≈ within the spread.
    With `same`, the claim is that neither is faster: ✓ if 1 is in range."""
    ratio = slow["median_s"] / fast["median_s"]
    slow_q, fast_q = quartiles(slow), quartiles(fast)
    if slow_q is None or fast_q is None:
        return f"{fmt_ratio(ratio)} (no spread recorded: not judged)"
    low, high = slow_q[0] / fast_q[1], slow_q[1] / fast_q[0]
    if same:
        mark = "✓" if low <= 1 <= high else "✗"
    else:
        mark = "✓" if low > 1 else "✗" if high < 1 else "≈"
    return f"{fmt_ratio(ratio)} [{fmt_ratio(low)}, {fmt_ratio(high)}] {mark}"


def _suite(result: dict, suite_name: str, smallest: bool) -> dict:
    ordered = sorted(suites(result, suite_name), key=size)
    return ordered[0] if smallest else ordered[-1]


def _pair(suite_name, smallest, slow, fast, same=False):
    """A claim's value function: judge `slow` against `fast` in one suite."""

    def value(result):
        rows = _suite(result, suite_name, smallest)["rows"]
        if slow not in rows or rows[slow]["extrapolated_by"] > result["max_extrapolation"]:
            return "—"
        return judge(rows[slow], rows[fast], same)

    return value


def _under_peak(result: dict) -> str:
    peak = DATASHEET_GBPS.get(result["machine"]["device_kind"])
    suite = largest(result)
    if peak is None:
        return "— (no datasheet figure)"
    if not past_cache(result, size(suite)):
        return "— (x and y fit in the cache)"
    share = suite["bandwidth"]["floor_step_GBps"] / peak
    return f"{share:.0%} {'✓' if share <= 1 else '✗'}"


def _same_parameters(result: dict) -> str:
    fits = suites(result, FIT)
    if not has_rtol(result):
        worst = max(d for s in fits for d in s["max_difference_from_scan"].values())
        return f"— (older run: only absolute differences from the scan, largest {worst:.1e})"
    worst = max(d for s in fits for d in s["max_relative_difference_from_float64"].values())
    return f"{worst:.1e} {'✓' if worst <= rtol(result) else '✗'}"


def has_rtol(result: dict) -> bool:
    return all("rtol" in s for s in suites(result, FIT))


def rtol(result: dict) -> float:
    """The relative tolerance the benchmark wrote with its differences."""
    (value,) = {s["rtol"] for s in suites(result, FIT)}
    return value


def claims_table() -> str:
    """Each comparison the Performance page discusses, judged from the files."""
    results = [load(name) for name in BENCH_FILES]
    claims = [  # (text, target, value per result)
        (
            "`vmap(grad)`, no jit, against a list comprehension of `grad` "
            "(the comprehension's time over vmap's), fewest points",
            "> 1x",
            _pair(SIN, True, COMPREHENSION, VMAP),
        ),
        (
            "`jit` against op-by-op: `vmap(grad)` without jit over `jit(vmap(grad))`, most points",
            "> 1x",
            _pair(SIN, False, VMAP, JIT_VMAP),
        ),
        (
            "the gradient-only scan against the classic loop (the loop's time over the "
            "scan's; same result, but the loop runs forward and backward twice a step), "
            "smallest n",
            "> 1x",
            _pair(FIT, True, CLASSIC, GRAD_ONLY),
        ),
        (
            "`lax.scan` against a Python loop of jitted steps (loop's time over "
            "the scan's), smallest n",
            "> 1x",
            _pair(FIT, True, LOOP, SCAN),
        ),
        ("the same, largest n", "> 1x", _pair(FIT, False, LOOP, SCAN)),
        (
            "the floor step against the gradient-only scan (the scan's time over the "
            "floor step's), largest n",
            "> 1x",
            _pair(FIT, False, GRAD_ONLY, FLOOR),
        ),
        (
            "five sums against the floor step (floor step's time over five sums'), largest n",
            "> 1x",
            _pair(FIT, False, FLOOR, FIVE_SUMS),
        ),
        (
            f"the closed form against {N_STEPS:,} descent steps (the scan's time over the "
            "closed form's), largest n",
            "> 1x",
            _pair(FIT, False, SCAN, "closed form (normal equations)"),
        ),
        (
            "optax's SGD and the hand-written gradient-only scan cannot be told apart "
            "(optax's time over the scan's), largest n",
            "≈ 1x",
            _pair(FIT, False, "optax.sgd in a scan", GRAD_ONLY, same=True),
        ),
        (
            "the floor step stays under the datasheet's peak, largest n, where x and y "
            f"are at least {CACHE_MULTIPLE} times the last-level cache",
            "≤ 100%",
            _under_peak,
        ),
        (
            "every descent variant ends at the parameters of the same descent in "
            "float64 (largest relative difference, any n)",
            "≤ " + " / ".join(sorted({f"{rtol(r):.0e}" for r in results if has_rtol(r)})),
            _same_parameters,
        ),
    ]
    rows = [[text, target, *(value(r) for r in results)] for text, target, value in claims]
    return table(["claim", "target", *map(column_name, results)], rows)
