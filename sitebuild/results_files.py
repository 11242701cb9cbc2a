"""The committed results in `results/`: loading them, and the shared table helpers."""

from __future__ import annotations

import json

from sitebuild.page import ROOT, PageError

RESULTS = ROOT / "results"


# Benchmark runs, in the order the tables show them.
BENCH_FILES = ("bench-cpu.json", "bench-h100.json")

# The version of `snippets/bench.py` that wrote a file; raised whenever what
# it measures or records changes. Files without it come from the version
# that timed each variant alone and recorded no spread.
BENCH_VERSION = 2

# Variants renamed since older files were written: old name -> new name.
RENAMED = {"jnp.cos (floor)": "jnp.cos"}


# Test runs the home page lists under "Tested on".
TESTED_ON_FILES = ("tested-on-cpu.json", "tested-on-h100.json")


def load(name: str) -> dict:
    path = RESULTS / name
    if not path.is_file():
        raise PageError(f"{path} is missing: the pages render it (see README, 'Results')")
    result = json.loads(path.read_text(encoding="utf-8"))
    for suite in result.get("suites", []):
        if "rows" in suite:
            suite["rows"] = {RENAMED.get(k, k): row for k, row in suite["rows"].items()}
            suite["reference"] = RENAMED.get(suite["reference"], suite["reference"])
    return result


def is_current(result: dict) -> bool:
    """Whether the benchmark's present version wrote this file."""
    return result.get("bench_version") == BENCH_VERSION


def code_version(result: dict) -> str:
    version = result.get("bench_version")
    if version is None:
        return "an older version: each variant timed alone, no spread recorded"
    if version == BENCH_VERSION:
        return f"version {version}, the one this page shows"
    return f"version {version} (this page shows version {BENCH_VERSION})"


def column_name(result: dict) -> str:
    """A machine's column header: the machine, its jax, and whether an older
    version of the benchmark wrote the file."""
    older = "" if is_current(result) else ", older benchmark"
    return f"{machine_name(result)} (jax {result['versions']['jax']}{older})"


def quartiles(row: dict) -> tuple[float, float] | None:
    """A row's lower and upper quartile, None where the file has no spread."""
    if "q1_s" not in row:
        return None
    return row["q1_s"], row["q3_s"]


def machine_name(result: dict) -> str:
    machine = result["machine"]
    if machine["platform"] == "cpu":
        return f"{machine['cpu_count']}-core CPU"
    return machine["device_kind"]


def suites(result: dict, name: str) -> list[dict]:
    return [s for s in result["suites"] if s["name"] == name]


def size(suite: dict) -> int:
    return suite["n"]


def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_ratio(ratio: float) -> str:
    if ratio >= 100:
        return f"{ratio:,.0f}x"
    return f"{ratio:.3g}x"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def size_label(n: int) -> str:
    exponent = len(str(n)) - 1
    return f"1e{exponent}" if n == 10**exponent else f"{n:,}"


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
                code_version(result),
                f"`results/{name}`",
            ]
        )
    header = ["machine", "host CPU", "versions", "date", "benchmark code", "data"]
    return table(header, rows)


def largest(result: dict) -> dict:
    return max(suites(result, "linear regression, 1000 steps"), key=size)


def median(result, suite_name, n, variant):
    suite = next(s for s in suites(result, suite_name) if size(s) == n)
    return suite["rows"][variant]["median_s"]


def sizes(result: dict, suite_name: str) -> list[int]:
    return sorted(map(size, suites(result, suite_name)))


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
    return table(
        ["machine", "tests", "page blocks run", "versions", "date", "command"],
        rows,
    )
