"""Measure the chapters' speed claims side by side: `python -m snippets.bench`.

Every variant runs in this one process, after a warm-up call whose time
(compilation included) is reported apart; every clock read waits for
`block_until_ready`; times are medians over repeats. Slow variants are timed
on a prefix of the work and extrapolated, and say so. `--quick` uses small
sizes and few repeats (under a minute on a 2-core CPU); `--out` writes JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from sitebuild.machine import machine
from snippets.linear_regression_model import (
    closed_form,
    loss,
    make_houses,
    train_classic,
    train_jitted_steps,
    train_scan,
)

# --8<-- [start:constants]
STEP_SIZE, N_STEPS = 1e-3, 1000
CLASSIC_PREFIX = 10  # steps the classic loop runs; its time is scaled up
MAX_EXTRAPOLATION = 1000  # a prefix scaled up more than this is not shown
# --8<-- [end:constants]


# --8<-- [start:measure]
def block(value):
    return jax.tree.map(lambda leaf: leaf.block_until_ready(), value)


def measure(fn, repeats, scale=1.0):
    """First call (compile + run) apart, then the median of `repeats` calls;
    returns the timings and what the last call returned.

    `scale` extrapolates a prefix of the work to the whole (median only)."""
    started = time.perf_counter()
    block(fn())
    first = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        value = block(fn())
        times.append(time.perf_counter() - started)
    row = {
        "first_call_s": first,
        "median_s": statistics.median(times) * scale,
        "repeats": repeats,
        "extrapolated_by": scale,
    }
    return row, value


# --8<-- [end:measure]


# --8<-- [start:fresh_bytes]
try:  # counts of page faults; Windows has no `resource` module
    import resource
except ImportError:
    resource = None


def fresh_bytes(fn, calls=3):
    """Bytes of fresh memory the OS mapped in per call of fn (its minor page
    faults times the page size), after one warm-up call; None where the OS
    does not count them."""
    if resource is None:
        return None
    block(fn())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        block(fn())
    after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    return (after - before) / calls * resource.getpagesize()


# --8<-- [end:fresh_bytes]


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


# --8<-- [start:train_floor]
@partial(jax.jit, static_argnames="n_steps")
def train_floor(params, x, y, step_size, n_steps):
    def step(params, _):
        return floor_step(params, x, y, step_size), None

    return jax.lax.scan(step, params, length=n_steps)[0]


# --8<-- [end:train_floor]


@partial(jax.jit, static_argnames="n_steps")
def train_scan_gradient_only(params, x, y, step_size, n_steps):
    """The chapter's scan without its loss and path records: the same work
    as the classic loop, which computes gradients and nothing else."""

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


READ_REFERENCE = "x.sum() + y.sum()"


@jax.jit
def read_both(x, y):
    """A STREAM-style read: sum each array, 8 bytes a sample, no writes."""
    return x.sum() + y.sum()


@jax.jit
def copy_both(x, y):
    """Bandwidth reference that reads and writes: 16 bytes a sample."""
    return x + 1.0, y + 1.0


# ------------------------------------------------------------------- suites
def derivative_suite(n, repeats, progress):
    xs = jnp.linspace(-10.0, 10.0, n)
    dsin = jax.grad(jnp.sin)
    prefix = min(n, 200)

    def comprehension():
        return jnp.stack([dsin(v) for v in xs[:prefix]])

    variants = {}
    if n / prefix <= MAX_EXTRAPOLATION:
        variants["list comprehension of grad"] = (comprehension, 1, n / prefix)
    variants["vmap(grad), no jit"] = (lambda: jax.vmap(dsin)(xs), repeats)
    variants["jit(vmap(grad))"] = (
        partial(jax.jit(jax.vmap(dsin)), xs),
        repeats,
    )
    variants["jnp.cos (floor)"] = (partial(jax.jit(jnp.cos), xs), repeats)
    rows = {name: measure(*args)[0] for name, args in variants.items()}
    progress(f"derivative of sin, n = {n}: done")
    return {
        "name": "derivative of sin",
        "n": n,
        "rows": rows,
        "reference": "jnp.cos (floor)",
    }


# --8<-- [start:bytes_per_sample]
def bytes_per_sample(step, n):
    """XLA's count of the bytes one compiled step reads and writes, a sample."""
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
FLOOR = "floor step (one read of x, y)"
FIVE_SUMS = "five sums, then O(1) steps"
CLOSED_FORM = "closed form (normal equations)"


def regression_variants(x, y, repeats):
    zeros = jnp.zeros(2)
    steps = (STEP_SIZE, N_STEPS)
    return {
        CLASSIC: (
            lambda: train_classic(
                x, y, STEP_SIZE, CLASSIC_PREFIX, report_every=10**9
            ),
            repeats,
            N_STEPS / CLASSIC_PREFIX,
        ),
        LOOP: (lambda: train_jitted_steps(x, y, *steps), repeats),
        SCAN: (lambda: train_scan(zeros, x, y, *steps)[0], repeats),
        GRAD_ONLY: (
            lambda: train_scan_gradient_only(zeros, x, y, *steps),
            repeats,
        ),
        "optax.sgd in a scan": (
            lambda: train_optax(zeros, x, y, *steps),
            repeats,
        ),
        FLOOR: (lambda: train_floor(zeros, x, y, *steps), repeats),
        FIVE_SUMS: (lambda: train_sufficient(zeros, x, y, *steps), repeats),
        CLOSED_FORM: (
            partial(jax.jit(lambda x, y: closed_form(x, y)[0]), x, y),
            repeats,
        ),
    }


def regression_suite(n, repeats, progress):
    x, y = make_houses(jax.random.key(0), n=n)
    zeros = jnp.zeros(2)
    timed = {
        name: measure(*args)
        for name, args in regression_variants(x, y, repeats).items()
    }
    rows = {name: row for name, (row, _) in timed.items()}
    final = {name: params for name, (_, params) in timed.items()}
    progress(f"linear regression, n = {n}: timed")
    # Every variant's parameters, as the timed calls left them, vs the scan's.
    agree = {
        short: float(jnp.max(jnp.abs(final[name] - final[SCAN])))
        for short, name in [
            ("Python loop", LOOP),
            ("gradient only", GRAD_ONLY),
            ("optax", "optax.sgd in a scan"),
            ("floor", FLOOR),
            ("five sums", FIVE_SUMS),
        ]
    }
    # The classic loop ran only a prefix: compare with the scan's prefix.
    prefix_scan = train_scan(zeros, x, y, STEP_SIZE, CLASSIC_PREFIX)[0]
    classic_gap = jnp.max(jnp.abs(final[CLASSIC] - prefix_scan))
    agree["classic loop (first steps)"] = float(classic_gap)
    read = measure(partial(read_both, x, y), repeats)[0]
    copy = measure(partial(copy_both, x, y), repeats)[0]
    per_step = 8 * n  # the floor: read float32 x and y once per step

    def achieved(row):
        return per_step * N_STEPS / rows[row]["median_s"] / 1e9

    bandwidth = {
        "floor_step_GBps": achieved(FLOOR),
        "gradient_only_GBps": achieved(GRAD_ONLY),
        "scan_GBps": achieved(SCAN),
        "read_GBps": per_step / read["median_s"] / 1e9,  # reads 8 B a sample
        "copy_GBps": 2 * per_step / copy["median_s"] / 1e9,  # reads 8, writes 8
    }
    # Fresh memory the OS maps in, per step: a Python loop of jitted steps
    # allocates its temporaries at every call, a scan once for all steps.
    few = 10
    fresh = {
        LOOP: fresh_bytes(lambda: train_jitted_steps(x, y, STEP_SIZE, few)),
        SCAN: fresh_bytes(lambda: train_scan(zeros, x, y, STEP_SIZE, few)[0]),
    }
    compiled_bytes = {
        "gradient step": bytes_per_sample(gradient_step, n),
        "floor step": bytes_per_sample(floor_step, n),
    }
    progress(f"linear regression, n = {n}: done")
    return {
        "name": "linear regression, 1000 steps",
        "n": n,
        "rows": rows,
        "reference": SCAN,
        "like_for_like": {CLASSIC: GRAD_ONLY},
        "bandwidth": bandwidth,
        "read_reference": READ_REFERENCE,
        "fresh_bytes_per_step": {
            name: None if count is None else count / few
            for name, count in fresh.items()
        },
        "compiled_bytes_per_sample": compiled_bytes,
        "max_difference_from_scan": agree,
    }


# Full-run sizes: a GPU only fills up at about 1e8 samples; the 2-core CPU
# reaches its memory-bound regime at 1e7.
FULL_SIZES = {
    "cpu": {
        "sin": [10_000, 1_000_000],
        "regression": [10_000, 1_000_000, 10_000_000],
    },
    "gpu": {"sin": [10_000, 100_000_000], "regression": [10_000, 100_000_000]},
}
# Below this many samples a call's fixed overhead hides the memory traffic.
MEMORY_BOUND_FROM = 1_000_000
QUICK_SIZES = {"sin": [10_000], "regression": [10_000]}


def run(quick, progress):
    platform_name = "gpu" if jax.default_backend() == "gpu" else "cpu"
    sizes = QUICK_SIZES if quick else FULL_SIZES[platform_name]
    progress(
        f"timing on {jax.devices()[0].device_kind} ({jax.default_backend()})"
    )
    repeats = 3 if quick else 7
    suites = [derivative_suite(n, repeats, progress) for n in sizes["sin"]]
    suites += [
        regression_suite(n, repeats, progress) for n in sizes["regression"]
    ]
    return {
        "command": " ".join(["python -m snippets.bench", *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.UTC).isoformat(
            timespec="seconds"
        ),
        "quick": quick,
        "max_extrapolation": MAX_EXTRAPOLATION,
        "machine": machine(),
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


def print_table(result):
    machine = result["machine"]
    device = f"{machine['device_kind']} ({machine['platform']})"
    print(f"{device}, {machine['cpu_count']} x {machine['cpu']}")
    for suite in result["suites"]:
        print(f"\n{suite['name']}, n = {suite['n']:,}", end="")
        print(f"; ratio = time / {suite['reference']}")
        rows = suite["rows"]
        reference = rows[suite["reference"]]["median_s"]
        for name, row in rows.items():
            note = " (extrapolated)" if row["extrapolated_by"] != 1 else ""
            ratio = row["median_s"] / reference
            print(
                f"  {name:44} {row['median_s'] * 1e3:12.3f} ms  {ratio:10.3g}x"
                f"  first call {row['first_call_s'] * 1e3:10.1f} ms{note}"
            )
        for slow, fast in suite.get("like_for_like", {}).items():
            speedup = rows[slow]["median_s"] / rows[fast]["median_s"]
            print(f"  like for like: {fast} {speedup:,.0f}x faster than {slow}")
        if "bandwidth" in suite and suite["n"] >= MEMORY_BOUND_FROM:
            bw = suite["bandwidth"]
            rates = ", ".join(f"{k} {v:.1f}" for k, v in bw.items())
            print(f"  GB/s counting 8 B a sample: {rates}")
            compiled = ", ".join(
                f"{name} {count:.1f}"
                for name, count in suite["compiled_bytes_per_sample"].items()
            )
            print(f"  bytes a sample a step, XLA's count: {compiled}")
        if "fresh_bytes_per_step" in suite:
            fresh = ", ".join(
                f"{name} {count}"
                for name, count in suite["fresh_bytes_per_step"].items()
            )
            print(f"  fresh memory mapped in a step, bytes: {fresh}")
        if "max_difference_from_scan" in suite:
            worst = max(suite["max_difference_from_scan"].values())
            print(f"  largest parameter difference from the scan: {worst:.2e}")


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
        "--quick", action="store_true", help="small sizes, under a minute"
    )
    parser.add_argument("--out", help="write the results as JSON to this file")
    args = parser.parse_args(argv)
    report(run(args.quick, progress), print_table, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
