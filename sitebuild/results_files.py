"""The committed results in `results/`: loading them, and the shared table helpers."""

from __future__ import annotations

import json

from sitebuild.page import ROOT, PageError

RESULTS = ROOT / "results"


# Benchmark runs, in the order the tables show them.
BENCH_FILES = ("bench-cpu.json", "bench-h100.json")


# Test runs the home page lists under "Tested on".
TESTED_ON_FILES = ("tested-on-cpu.json", "tested-on-h100.json")


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
                f"`results/{name}`",
            ]
        )
    return table(["machine", "host CPU", "versions", "date", "data"], rows)


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
