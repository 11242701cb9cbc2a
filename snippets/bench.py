"""Measure the chapters' speed claims side by side: `python -m snippets.bench`.

Every variant of a comparison runs in this one process, interleaved: after
a first call of each (compilation included, recorded apart), rounds call
every variant once, in an order shuffled anew each round, so that drift
on a shared machine hits all of them alike. Every clock read waits for
`block_until_ready`; each row keeps the median, the minimum and the
quartiles of its rounds. Slow variants are timed on a prefix of the work and
extrapolated, and say so. `--quick` uses small sizes and few rounds (about a
minute on a 2-core CPU); `--out` writes JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import mmap
import platform
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from sitebuild.machine import machine
from sitebuild.results_files import BENCH_VERSION
from snippets.linear_regression_model import (
    closed_form,
    descent_step,
    loss,
    make_houses,
    train_classic,
    train_jitted_steps,
    train_scan,
)

# --8<-- [start:constants]
STEP_SIZE, N_STEPS = 1e-3, 1000
CLASSIC_PREFIX = 10  # steps the classic loop runs; its time is scaled up
COMPREHENSION_PREFIX = 200  # points the list comprehension differentiates
MAX_EXTRAPOLATION = 1000  # a prefix scaled up more than this is not shown
ROUNDS = (7, 21)  # fewest and most timed rounds of a comparison
ROUNDS_BUDGET_S = 60  # more rounds while they fit in about this many seconds
RTOL = 1e-4  # "the same parameters": four significant digits or better
# --8<-- [end:constants]


# --8<-- [start:measure]
try:  # counts of page faults; Windows has no `resource` module
    import resource
except ImportError:
    resource = None


def minor_faults():
    """Pages the OS has mapped into this process so far (0 if not counted)."""
    if resource is None:
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def block(value):
    return jax.tree.map(lambda leaf: leaf.block_until_ready(), value)


def timed_call(fn):
    """Seconds until fn's result is ready, pages mapped meanwhile, result."""
    faults, started = minor_faults(), time.perf_counter()
    value = block(fn())
    return time.perf_counter() - started, minor_faults() - faults, value


def interleaved(fns, rounds):
    """Call every fn once per round, in an order shuffled anew each round
    (from a fixed seed), so that a slow spell of the machine, or what one
    call leaves behind for the next, falls on all of them alike. Returns
    (seconds, page faults) of every call, and each fn's last result."""
    names = list(fns)
    calls, last = {name: [] for name in names}, {}
    orders = np.random.default_rng(0)
    for _ in range(rounds):
        for name in orders.permutation(names).tolist():
            seconds, faults, last[name] = timed_call(fns[name])
            calls[name].append((seconds, faults))
    return calls, last


# --8<-- [end:measure]


def summary(first, calls, scale):
    """One row: the first call apart, the rounds' spread, fresh memory."""
    times = sorted(seconds * scale for seconds, _ in calls)
    q1, _, q3 = statistics.quantiles(times, n=4)
    faults = statistics.median(count for _, count in calls)
    counted = resource is not None and jax.default_backend() == "cpu"
    return {
        "first_call_s": first,
        "median_s": statistics.median(times),
        "min_s": times[0],
        "q1_s": q1,
        "q3_s": q3,
        "samples_s": [seconds * scale for seconds, _ in calls],
        "repeats": len(times),
        "extrapolated_by": scale,
        # A fault maps at least one page: a lower bound on the fresh bytes.
        "fresh_bytes_per_call": faults * mmap.PAGESIZE if counted else None,
    }


def side_by_side(variants, quick):
    """Time `variants` (name -> (fn, scale)) interleaved. Returns each row
    (times scaled by `scale`, for a prefix of the work) and what each fn's
    last call returned."""
    fns = {name: fn for name, (fn, _scale) in variants.items()}
    first = {name: timed_call(fn)[0] for name, fn in fns.items()}
    fewest, most = (3, 5) if quick else ROUNDS
    rounds = int(ROUNDS_BUDGET_S / sum(first.values()))  # first calls: a bound
    calls, last = interleaved(fns, min(most, max(fewest, rounds)))
    rows = {
        name: summary(first[name], calls[name], variants[name][1])
        for name in variants
    }
    return rows, last


def measure(fn, repeats, scale=1.0):
    """One variant alone (the Llama benchmark's suites): the first call
    apart, then the median of `repeats` calls; returns the row and what the
    last call returned. `scale` extrapolates a prefix to the whole."""
    first = timed_call(fn)[0]
    times, value = [], None
    for _ in range(repeats):
        seconds, _faults, value = timed_call(fn)
        times.append(seconds)
    row = {
        "first_call_s": first,
        "median_s": statistics.median(times) * scale,
        "repeats": repeats,
        "extrapolated_by": scale,
    }
    return row, value


# --8<-- [start:fresh_bytes]
def fresh_bytes(fn, calls=3):
    """Bytes of fresh memory the OS mapped in per call of fn, after one
    warm-up call: its minor page faults times the page size. A fault maps
    at least one page (transparent huge pages can map more at once), so
    this is a lower bound. None where the OS does not count faults."""
    if resource is None:
        return None
    block(fn())
    before = minor_faults()
    for _ in range(calls):
        block(fn())
    return (minor_faults() - before) / calls * resource.getpagesize()


# --8<-- [end:fresh_bytes]


def touch_fresh(n_bytes):
    """Map n_bytes of fresh memory and touch each page once, then unmap it:
    what a call pays when the OS maps (and zeroes) its temporaries anew."""
    memory = mmap.mmap(-1, n_bytes)
    pages = np.frombuffer(memory, np.uint8)
    pages[:: mmap.PAGESIZE] = 1
    del pages  # the buffer must be released before the mapping closes
    memory.close()


def host_memory():
    """The host's page size, transparent huge page mode and largest cache."""
    thp = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    mode = thp.read_text().split("[")[1].split("]")[0] if thp.exists() else None
    caches = {}
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        level, size = index / "level", index / "size"
        if level.exists() and size.exists():
            text = size.read_text().strip()
            units = {"K": 1024, "M": 1024**2, "G": 1024**3}
            scale = units.get(text[-1], 1)
            caches[int(level.read_text())] = int(text.rstrip("KMG")) * scale
    return {
        "page_size": mmap.PAGESIZE,
        "transparent_hugepage": mode,
        "last_level_cache_bytes": caches[max(caches)] if caches else None,
    }


# ----------------------------------------------------------- descent steps
# --8<-- [start:steps]
def floor_step(params, x, y, step_size):
    """One step that reads x and y once: a variadic reduction gives both
    sums of the gradient in a single pass; the residual is never stored."""
    residual = y - (params[0] + params[1] * x)  # (n,), fused into the sums

    def add_pairs(a, b):  # combines two partial results (sum r, sum r x)
        return a[0] + b[0], a[1] + b[1]

    operands = (residual, residual * x)
    sums = jax.lax.reduce(operands, (0.0, 0.0), add_pairs, (0,))
    gradient = -2.0 / x.size * jnp.stack(sums)  # d loss / d (theta0, theta1)
    return params - step_size * gradient


def gradient_step(params, x, y, step_size):
    """The straightforward step: jax.grad of the chapter's loss."""
    return params - step_size * jax.grad(loss)(params, x, y)


# --8<-- [end:steps]


def closed_form_step(params, x, y, step_size):
    """The benchmark's closed form, in a step's signature for XLA's count:
    only the normal equations (the lstsq half is unused, so XLA drops it)."""
    return closed_form(x, y)[0]


# --8<-- [start:train_floor]
@partial(jax.jit, static_argnames="n_steps")
def train_floor(params, x, y, step_size, n_steps):
    def step(params, _):
        return floor_step(params, x, y, step_size), None

    return jax.lax.scan(step, params, length=n_steps)[0]


# --8<-- [end:train_floor]


@partial(jax.jit, static_argnames="n_steps")
def train_scan_gradient_only(params, x, y, step_size, n_steps):
    """The chapter's scan without its loss and path records: one forward and
    one backward pass a step, for the gradient and nothing else."""

    def step(params, _):
        return gradient_step(params, x, y, step_size), None

    return jax.lax.scan(step, params, length=n_steps)[0]


# --8<-- [start:train_sufficient]
@partial(jax.jit, static_argnames="n_steps")
def train_sufficient(params, x, y, step_size, n_steps):
    """One pass for n, sum x, sum y, sum x^2, sum xy; then O(1) steps."""
    n, sx, sy = x.size, x.sum(), y.sum()
    sxx, sxy = (x * x).sum(), (x * y).sum()

    def step(params, _):
        t0, t1 = params
        residual_sums = jnp.stack(
            [sy - n * t0 - t1 * sx, sxy - t0 * sx - t1 * sxx]
        )
        return params - step_size * (-2.0 / n) * residual_sums, None

    return jax.lax.scan(step, params, length=n_steps)[0]


# --8<-- [end:train_sufficient]


@partial(jax.jit, static_argnames="n_steps")
def train_optax(params, x, y, step_size, n_steps):
    optimizer = optax.sgd(step_size)

    def step(carry, _):
        params, state = carry
        updates, state = optimizer.update(jax.grad(loss)(params, x, y), state)
        return (optax.apply_updates(params, updates), state), None

    start = (params, optimizer.init(params))
    return jax.lax.scan(step, start, length=n_steps)[0][0]


def float64_descent(x, y, step_size, n_steps):
    """The reference every variant's parameters are compared with: the same
    descent in float64, from the five sums (mathematically the same steps)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    n, sx, sy, sxx, sxy = x.size, x.sum(), y.sum(), x @ x, x @ y
    theta = np.zeros(2)
    for _ in range(n_steps):
        t0, t1 = theta
        residual_sums = [sy - n * t0 - t1 * sx, sxy - t0 * sx - t1 * sxx]
        theta = theta - step_size * (-2.0 / n) * np.array(residual_sums)
    return theta


READ_REFERENCE = "jnp.sum(x + y)"
COPY_REFERENCE = "x + 1, y + 1 into donated buffers"


@jax.jit
def read_both(x, y):
    """A STREAM-style read: one fused pass over x and y, 8 bytes a sample."""
    return jnp.sum(x + y)


@partial(jax.jit, donate_argnums=(0, 1))
def copy_both(x, y):
    """Reads and writes 16 bytes a sample; the outputs reuse the donated
    inputs' memory, so no call maps fresh memory."""
    return x + 1.0, y + 1.0


def donated_copy(x, y):
    """A function that copies its own x and y in place at every call."""
    buffers = [x.copy(), y.copy()]

    def copy():
        buffers[:] = copy_both(*buffers)
        return buffers

    return copy


# ------------------------------------------------------------------- suites
COMPREHENSION = "list comprehension of grad"
VMAP = "vmap(grad), no jit"
JIT_VMAP = "jit(vmap(grad))"
COS = "jnp.cos"


def derivative_suite(points, quick, progress):
    xs = jnp.linspace(-10.0, 10.0, points)
    dsin = jax.grad(jnp.sin)
    prefix = min(points, COMPREHENSION_PREFIX)

    def comprehension():
        return jnp.stack([dsin(v) for v in xs[:prefix]])

    variants = {}
    if points / prefix <= MAX_EXTRAPOLATION:
        variants[COMPREHENSION] = (comprehension, points / prefix)
    variants[VMAP] = (lambda: jax.vmap(dsin)(xs), 1.0)
    variants[JIT_VMAP] = (partial(jax.jit(jax.vmap(dsin)), xs), 1.0)
    variants[COS] = (partial(jax.jit(jnp.cos), xs), 1.0)
    rows, _ = side_by_side(variants, quick)
    progress(f"derivative of sin, {points} points: done")
    return {
        "name": "derivative of sin",
        "n": points,
        "rows": rows,
        "reference": COS,
    }


# --8<-- [start:bytes_per_sample]
def bytes_per_sample(step, n):
    """XLA's estimate of the bytes one compiled step reads and writes, per
    sample: the operands and outputs of its kernels, summed."""
    x = jnp.zeros(n)
    compiled = jax.jit(step).lower(jnp.zeros(2), x, x, STEP_SIZE).compile()
    cost = compiled.cost_analysis()
    if isinstance(cost, list):  # older jax: one dict per device
        cost = cost[0]
    return cost["bytes accessed"] / n


# --8<-- [end:bytes_per_sample]


SCAN = "one jitted lax.scan (records loss and path)"
LOOP = "Python loop, jitted step"
CLASSIC = "classic loop, two grad calls a step"
GRAD_ONLY = "lax.scan, gradient only"
OPTAX = "optax.sgd in a scan"
FLOOR = "floor step (one read of x, y)"
FIVE_SUMS = "five sums, then O(1) steps"
CLOSED_FORM = "closed form (normal equations)"
READ, COPY, FRESH = "read reference", "copy reference", "fresh memory alone"


def regression_variants(x, y):
    zeros = jnp.zeros(2)
    steps = (STEP_SIZE, N_STEPS)
    classic = partial(
        train_classic, x, y, STEP_SIZE, CLASSIC_PREFIX, report_every=10**9
    )
    return {
        CLASSIC: (classic, N_STEPS / CLASSIC_PREFIX),
        LOOP: (lambda: train_jitted_steps(x, y, *steps), 1.0),
        SCAN: (lambda: train_scan(zeros, x, y, *steps)[0], 1.0),
        GRAD_ONLY: (lambda: train_scan_gradient_only(zeros, x, y, *steps), 1.0),
        OPTAX: (lambda: train_optax(zeros, x, y, *steps), 1.0),
        FLOOR: (lambda: train_floor(zeros, x, y, *steps), 1.0),
        FIVE_SUMS: (lambda: train_sufficient(zeros, x, y, *steps), 1.0),
        CLOSED_FORM: (
            partial(jax.jit(lambda x, y: closed_form(x, y)[0]), x, y),
            1.0,
        ),
    }


def reference_variants(x, y):
    """Memory references, timed in the same rounds as the trainings: a read,
    a copy, and (on a CPU) mapping the jitted step's fresh memory alone."""
    references = {
        READ: (partial(read_both, x, y), 1.0),
        COPY: (donated_copy(x, y), 1.0),
    }
    if jax.default_backend() == "cpu":
        step = partial(descent_step, jnp.zeros(2), x, y, STEP_SIZE)
        fresh = fresh_bytes(lambda: step()[0])
        if fresh >= 4 * x.size:  # at least one array of n floats a call
            references[FRESH] = (partial(touch_fresh, int(fresh)), 1.0)
    return references


def relative_differences(x, y, final):
    """Each variant's largest relative difference from float64 descent."""
    reference = float64_descent(x, y, STEP_SIZE, N_STEPS)

    def worst(params, reference):
        params = np.asarray(params, np.float64)
        return float(np.max(np.abs(params - reference) / np.abs(reference)))

    names = [SCAN, LOOP, GRAD_ONLY, OPTAX, FLOOR, FIVE_SUMS]
    differences = {name: worst(final[name], reference) for name in names}
    # The classic loop ran only a prefix: compare with that many steps.
    prefix = float64_descent(x, y, STEP_SIZE, CLASSIC_PREFIX)
    differences[CLASSIC] = worst(final[CLASSIC], prefix)
    return differences


def regression_suite(n, quick, progress):
    x, y = make_houses(jax.random.key(0), n=n)
    variants = regression_variants(x, y)
    references = reference_variants(x, y)
    rows, final = side_by_side({**variants, **references}, quick)
    progress(f"linear regression, n = {n}: timed")
    per_step = 8 * n  # the floor: read float32 x and y once per step

    def achieved(row):
        return per_step * N_STEPS / rows[row]["median_s"] / 1e9

    bandwidth = {
        "floor_step_GBps": achieved(FLOOR),
        "gradient_only_GBps": achieved(GRAD_ONLY),
        "scan_GBps": achieved(SCAN),
        "read_GBps": per_step / rows[READ]["median_s"] / 1e9,
        "copy_GBps": 2 * per_step / rows[COPY]["median_s"] / 1e9,
    }
    compiled_bytes = {
        "gradient step": bytes_per_sample(gradient_step, n),
        "loss and gradient step": bytes_per_sample(descent_step, n),
        "floor step": bytes_per_sample(floor_step, n),
        "closed form": bytes_per_sample(closed_form_step, n),
    }
    progress(f"linear regression, n = {n}: done")
    return {
        "name": "linear regression, 1000 steps",
        "n": n,
        "rows": {name: rows[name] for name in variants},
        "references": {name: rows[name] for name in references},
        "reference": SCAN,
        "like_for_like": {CLASSIC: GRAD_ONLY},
        "bandwidth": bandwidth,
        "read_reference": READ_REFERENCE,
        "copy_reference": COPY_REFERENCE,
        "compiled_bytes_per_sample": compiled_bytes,
        "rtol": RTOL,
        "max_relative_difference_from_float64": relative_differences(
            x, y, final
        ),
    }


# Full-run sizes: a GPU only fills up at about 1e8 samples; on the 2-core
# CPU, x and y outgrow the last-level cache only at 1e7 samples.
FULL_SIZES = {
    "cpu": {
        "sin": [10_000, 1_000_000],
        "regression": [10_000, 1_000_000, 10_000_000],
    },
    "gpu": {"sin": [10_000, 100_000_000], "regression": [10_000, 100_000_000]},
}
QUICK_SIZES = {"sin": [10_000], "regression": [10_000]}
# Memory bandwidth limits a step only when x and y are well past the cache.
CACHE_MULTIPLE = 2


def run(quick, progress):
    platform_name = "gpu" if jax.default_backend() == "gpu" else "cpu"
    sizes = QUICK_SIZES if quick else FULL_SIZES[platform_name]
    progress(
        f"timing on {jax.devices()[0].device_kind} ({jax.default_backend()})"
    )
    suites = [derivative_suite(n, quick, progress) for n in sizes["sin"]]
    suites += [
        regression_suite(n, quick, progress) for n in sizes["regression"]
    ]
    return {
        "command": " ".join(["python -m snippets.bench", *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.UTC).isoformat(
            timespec="seconds"
        ),
        "bench_version": BENCH_VERSION,
        "quick": quick,
        "max_extrapolation": MAX_EXTRAPOLATION,
        "machine": machine(),
        "host_memory": host_memory(),
        "versions": {
            "python": platform.python_version(),
            "jax": jax.__version__,
            "jaxlib": jax.lib.__version__
            if hasattr(jax.lib, "__version__")
            else "",
            "numpy": np.__version__,
            "optax": optax.__version__,
        },
        "suites": suites,
    }


def _print_rows(rows, reference):
    for name, row in rows.items():
        note = " (extrapolated)" if row["extrapolated_by"] != 1 else ""
        ratio = f"{row['median_s'] / reference:10.3g}x" if reference else ""
        spread = f"[{row['q1_s'] * 1e3:.3f}, {row['q3_s'] * 1e3:.3f}]"
        print(
            f"  {name:44} {row['median_s'] * 1e3:12.3f} ms {spread:>24}"
            f" {ratio:>11}  first call {row['first_call_s'] * 1e3:10.1f} ms"
            f"{note}"
        )


def print_table(result):
    machine = result["machine"]
    device = f"{machine['device_kind']} ({machine['platform']})"
    print(f"{device}, {machine['cpu_count']} x {machine['cpu']}")
    print("median ms [lower, upper quartile]; ratio = median / the reference's")
    cache = result["host_memory"]["last_level_cache_bytes"]
    for suite in result["suites"]:
        print(f"\n{suite['name']}, n = {suite['n']:,}", end="")
        print(f"; ratio = time / {suite['reference']}")
        rows = suite["rows"]
        _print_rows(rows, rows[suite["reference"]]["median_s"])
        if "references" not in suite:
            continue
        _print_rows(suite["references"], None)
        for slow, fast in suite["like_for_like"].items():
            speedup = rows[slow]["median_s"] / rows[fast]["median_s"]
            print(f"  {fast}: {speedup:,.0f}x faster than {slow}")
        past_cache = cache is None or 8 * suite["n"] >= CACHE_MULTIPLE * cache
        if machine["platform"] != "cpu" or past_cache:
            bandwidth = suite["bandwidth"].items()
            rates = ", ".join(f"{k} {v:.1f}" for k, v in bandwidth)
            print(f"  GB/s counting 8 B a sample: {rates}")
        compiled = ", ".join(
            f"{name} {count:.1f}"
            for name, count in suite["compiled_bytes_per_sample"].items()
        )
        print(f"  bytes a sample a step, XLA's estimate: {compiled}")
        fresh = [rows[v]["fresh_bytes_per_call"] for v in (LOOP, SCAN)]
        print(f"  fresh bytes a call, loop of {N_STEPS} steps / scan: {fresh}")
        worst = max(suite["max_relative_difference_from_float64"].values())
        print(f"  largest relative difference from float64: {worst:.2e}")


def progress(message):
    """A long run says how far it got on stderr; stdout keeps the table."""
    print(message, file=sys.stderr, flush=True)


def report(result, print_table, out=None):
    """Print the result's table, and write it as JSON to `out` if given."""
    print_table(result)
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, about a minute"
    )
    parser.add_argument("--out", help="write the results as JSON to this file")
    args = parser.parse_args(argv)
    report(run(args.quick, progress), print_table, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
