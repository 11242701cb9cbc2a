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
import os
import platform
import statistics
import sys
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from snippets.regression import closed_form, loss, make_houses, train_classic, train_scan

STEP_SIZE, N_STEPS = 1e-3, 1000


def block(value):
    return jax.tree.map(lambda leaf: leaf.block_until_ready(), value)


def measure(fn, repeats, scale=1.0):
    """First call (compile + run) apart, then the median of `repeats` calls.

    `scale` extrapolates a prefix of the work to the whole (median only)."""
    started = time.perf_counter()
    block(fn())
    first = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        block(fn())
        times.append(time.perf_counter() - started)
    return {
        "first_call_s": first,
        "median_s": statistics.median(times) * scale,
        "repeats": repeats,
        "extrapolated_by": scale,
    }


# ----------------------------------------------------------- descent steps
@partial(jax.jit, static_argnames="n_steps")
def train_floor(params, x, y, step_size, n_steps):
    """Each step reads x and y once: one variadic reduction gives both sums."""

    def step(params, _):
        residual = y - (params[0] + params[1] * x)
        sums = jax.lax.reduce(
            (residual, residual * x), (0.0, 0.0), lambda a, b: (a[0] + b[0], a[1] + b[1]), (0,)
        )
        gradient = -2.0 / x.size * jnp.stack(sums)
        return params - step_size * gradient, None

    return jax.lax.scan(step, params, length=n_steps)[0]


@partial(jax.jit, static_argnames="n_steps")
def train_sufficient(params, x, y, step_size, n_steps):
    """One pass for n, sum x, sum y, sum x^2, sum xy; then every step is O(1)."""
    n, sx, sy, sxx, sxy = x.size, x.sum(), y.sum(), (x * x).sum(), (x * y).sum()

    def step(params, _):
        b0, b1 = params
        gradient = -2.0 / n * jnp.stack([sy - n * b0 - b1 * sx, sxy - b0 * sx - b1 * sxx])
        return params - step_size * gradient, None

    return jax.lax.scan(step, params, length=n_steps)[0]


@partial(jax.jit, static_argnames="n_steps")
def train_optax(params, x, y, step_size, n_steps):
    optimizer = optax.sgd(step_size)

    def step(carry, _):
        params, state = carry
        updates, state = optimizer.update(jax.grad(loss)(params, x, y), state)
        return (optax.apply_updates(params, updates), state), None

    return jax.lax.scan(step, (params, optimizer.init(params)), length=n_steps)[0][0]


@jax.jit
def jitted_step(params, x, y):
    return params - STEP_SIZE * jax.grad(loss)(params, x, y)


def python_loop_jitted(x, y, n_steps):
    params = jnp.zeros(2)
    for _ in range(n_steps):
        params = jitted_step(params, x, y)
    return params


# ------------------------------------------------------------------- suites
def derivative_suite(n, repeats, progress):
    xs = jnp.linspace(-10.0, 10.0, n)
    dsin = jax.grad(jnp.sin)
    prefix = min(n, 200)
    rows = {
        "list comprehension of grad": measure(
            lambda: jnp.stack([dsin(v) for v in xs[:prefix]]), 1, n / prefix
        ),
        "vmap(grad), no jit": measure(lambda: jax.vmap(dsin)(xs), repeats),
        "jit(vmap(grad))": measure(partial(jax.jit(jax.vmap(dsin)), xs), repeats),
        "jnp.cos (floor)": measure(partial(jax.jit(jnp.cos), xs), repeats),
    }
    progress(f"derivative of sin, N = {n}: done")
    return {"name": "derivative of sin", "N": n, "rows": rows, "reference": "jnp.cos (floor)"}


def regression_suite(n, repeats, progress):
    x, y = make_houses(jax.random.key(0), n=n)
    zeros = jnp.zeros(2)
    classic_prefix = 10
    rows = {
        "classic loop, two grad calls a step": measure(
            lambda: train_classic(x, y, STEP_SIZE, classic_prefix, report_every=10**9),
            1,
            N_STEPS / classic_prefix,
        ),
        "Python loop, jitted step": measure(lambda: python_loop_jitted(x, y, N_STEPS), repeats),
        "one jitted lax.scan": measure(
            lambda: train_scan(zeros, x, y, STEP_SIZE, N_STEPS)[0], repeats
        ),
        "optax.sgd in a scan": measure(
            lambda: train_optax(zeros, x, y, STEP_SIZE, N_STEPS), repeats
        ),
        "floor step (one read of x, y)": measure(
            lambda: train_floor(zeros, x, y, STEP_SIZE, N_STEPS), repeats
        ),
        "five sums, then O(1) steps": measure(
            lambda: train_sufficient(zeros, x, y, STEP_SIZE, N_STEPS), repeats
        ),
        "closed form": measure(lambda: jax.jit(closed_form)(x, y)[1], repeats),
    }
    reference = train_scan(zeros, x, y, STEP_SIZE, N_STEPS)[0]
    agree = {
        name: float(jnp.max(jnp.abs(fn - reference)))
        for name, fn in [
            ("floor", train_floor(zeros, x, y, STEP_SIZE, N_STEPS)),
            ("five sums", train_sufficient(zeros, x, y, STEP_SIZE, N_STEPS)),
            ("optax", train_optax(zeros, x, y, STEP_SIZE, N_STEPS)),
        ]
    }
    copy = measure(partial(jax.jit(lambda a, b: (a + 1.0, b + 1.0)), x, y), repeats)
    step_bytes = 8 * n  # the floor: read float32 x and y once per step
    rows["bandwidth"] = {
        "floor_step_GBps": step_bytes
        * N_STEPS
        / rows["floor step (one read of x, y)"]["median_s"]
        / 1e9,
        "scan_step_GBps": step_bytes * N_STEPS / rows["one jitted lax.scan"]["median_s"] / 1e9,
        "copy_GBps": 2 * step_bytes / copy["median_s"] / 1e9,  # read x, y and write both
    }
    progress(f"linear regression, n = {n}: done")
    return {
        "name": "linear regression, 1000 steps",
        "n": n,
        "rows": rows,
        "reference": "one jitted lax.scan",
        "max_difference_from_scan": agree,
    }


def machine():
    model = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            model = next(
                line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    device = jax.devices()[0]
    return {
        "cpu": model,
        "cpu_count": os.cpu_count(),
        "platform": device.platform,
        "device_kind": device.device_kind,
    }


def run(quick, progress):
    sizes = {
        "sin": [10_000] if quick else [10_000, 1_000_000],
        "regression": [10_000] if quick else [10_000, 1_000_000, 10_000_000],
    }
    repeats = 3 if quick else 7
    suites = [derivative_suite(n, repeats, progress) for n in sizes["sin"]]
    suites += [regression_suite(n, repeats, progress) for n in sizes["regression"]]
    return {
        "command": " ".join(["python -m snippets.bench", *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": machine(),
        "versions": {
            "python": platform.python_version(),
            "jax": jax.__version__,
            "jaxlib": jax.lib.__version__ if hasattr(jax.lib, "__version__") else "",
            "numpy": np.__version__,
            "optax": optax.__version__,
        },
        "suites": suites,
    }


def print_table(result):
    for suite in result["suites"]:
        size = suite.get("N", suite.get("n"))
        print(f"\n{suite['name']} (size {size:,}); ratio = time / {suite['reference']}")
        reference = suite["rows"][suite["reference"]]["median_s"]
        for name, row in suite["rows"].items():
            if "median_s" not in row:
                continue
            note = " (extrapolated)" if row["extrapolated_by"] != 1 else ""
            ratio = row["median_s"] / reference
            print(
                f"  {name:36} {row['median_s'] * 1e3:12.3f} ms  {ratio:10.3g}x"
                f"  first call {row['first_call_s'] * 1e3:10.1f} ms{note}"
            )
        if "bandwidth" in suite["rows"]:
            bw = suite["rows"]["bandwidth"]
            print(
                f"  bytes/s at 8 B a sample: floor step {bw['floor_step_GBps']:.2f} GB/s, "
                f"scan {bw['scan_step_GBps']:.2f} GB/s; copy reference {bw['copy_GBps']:.2f} GB/s"
            )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--out", help="write the results as JSON to this file")
    args = parser.parse_args(argv)
    result = run(args.quick, lambda message: print(message, file=sys.stderr, flush=True))
    print_table(result)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
