"""Chapter "Performance": the code it runs at build time, in page order.

The timings themselves come from `python -m snippets.bench` (see bench.py),
which runs far too long for a page; the page shows its functions, checks
that the compiled derivative is the very program of jnp.cos and that every
fast variant reaches the parameters of float64 descent, counts fresh memory,
and reads XLA's estimate of the bytes each step moves.
"""

# --8<-- [start:setup]
import re
import statistics
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
# --8<-- [end:setup]

# What the page's blocks show from other modules (the page includes them).
from snippets.bench import (
    N_STEPS,
    RTOL,
    STEP_SIZE,
    bytes_per_sample,
    floor_step,
    fresh_bytes,
    gradient_step,
    train_floor,
    train_sufficient,
)
from snippets.linear_regression_model import (
    descent_step,
    make_houses,
    train_scan,
)


# --8<-- [start:optimized_program]
METADATA = re.compile(r", metadata=\{[^}]*\}")  # source locations, op names
NAME = re.compile(r"%[\w.\-]+")


def optimized_program(fn, *args):
    """The program XLA compiles fn into for these arguments: its
    instructions, with source locations dropped and every name replaced by
    its number in order of appearance, so that two programs that do the
    same thing compare equal."""
    text = jax.jit(fn).lower(*args).compile().as_text()
    lines = []
    for line in text.splitlines():
        if line.startswith("  "):  # an instruction
            lines.append(METADATA.sub("", line))
        elif line.startswith(("%", "ENTRY")):  # a computation starts
            lines.append(line.split(" (")[0])
    names = {}

    def number(match):
        return names.setdefault(match.group(), f"%{len(names)}")

    return "\n".join(NAME.sub(number, line) for line in lines)


# --8<-- [end:optimized_program]


# --8<-- [start:fresh_arrays]
def fresh_arrays(n, few):
    """Fresh memory one call maps in, counted in arrays of n float32 values:
    a call of the jitted step, and a call of a scan of `few` steps."""
    x, y = make_houses(jax.random.key(0), n=n)
    zeros = jnp.zeros(2)
    step = fresh_bytes(lambda: descent_step(zeros, x, y, STEP_SIZE)[0])
    scan = fresh_bytes(lambda: train_scan(zeros, x, y, STEP_SIZE, few)[0])
    return step / (4 * n), scan / (4 * n)


# --8<-- [end:fresh_arrays]


# --8<-- [start:fusions]
KERNEL = re.compile(r"^\s*(?:ROOT )?%(\S+) = (.+?) (fusion|reduce)\((.*?)\)")


def fusions(step, *args):
    """The loops XLA compiled `step` into (fusions and reductions), each
    with the shape it writes and the arrays it reads."""
    text = jax.jit(step).lower(*args).compile().as_text()
    entry = text[text.index("ENTRY") :]
    for line in entry.splitlines():
        if match := KERNEL.match(line):
            name, shape, _kind, operands = match.groups()
            reads = [o.strip().lstrip("%") for o in operands.split(",")]
            reads = ", ".join(r for r in reads if not r.startswith("constant"))
            print(f"  {name:26} writes {shape:18} reads {reads}")


# --8<-- [end:fusions]


# --8<-- [start:relative_gap]
def relative_gap(params, exact):
    """Largest relative difference of params from the exact values."""
    return max(
        abs(float(p) - e) / abs(e) for p, e in zip(params, exact, strict=True)
    )


# --8<-- [end:relative_gap]


# --8<-- [start:sum_orders]
def add_pairs(a, b):  # combines two partial results (sum y, sum x y)
    return a[0] + b[0], a[1] + b[1]


@jax.jit
def sums_in_one_loop(x, y):
    """Both sums in one variadic reduction, as the floor step makes them."""
    return jax.lax.reduce((y, x * y), (0.0, 0.0), add_pairs, (0,))


@jax.jit
def sums_apart(x, y):
    """The same two sums, each by jnp.sum."""
    return jnp.sum(y), jnp.sum(x * y)


# --8<-- [end:sum_orders]


if __name__ == "__main__":
    # --8<-- [start:async_dispatch]
    device = jax.devices()[0]
    kinds = {"cpu": "a CPU", "gpu": "a GPU"}
    where = kinds.get(device.platform, device.platform)
    n_wave = 10_000_000
    wave = jax.jit(lambda x: jnp.cos(jnp.sin(x) * x))
    x_wave = jnp.linspace(0.0, 1.0, n_wave)
    wave(x_wave).block_until_ready()  # the first call compiles: see below
    returned, ready = [], []
    for _ in range(5):
        started = time.perf_counter()
        result = wave(x_wave)
        returned.append(time.perf_counter() - started)  # queued, not done
        result.block_until_ready()
        ready.append(time.perf_counter() - started)
    returned_us = statistics.median(returned) * 1e6
    ready_ms = statistics.median(ready) * 1e3
    # --8<-- [end:async_dispatch]

    # --8<-- [start:compile_once]
    traces = []

    @jax.jit
    def doubled(x):
        traces.append(x.shape)  # Python runs this line only while JAX traces
        return 2.0 * x

    for n in [1000, 1000, 1000, 2000]:
        doubled(jnp.ones(n)).block_until_ready()
    print(f"4 calls, {len(traces)} traces, for shapes {traces}")
    assert len(traces) == 2
    # --8<-- [end:compile_once]

    # --8<-- [start:same_program]
    points = jnp.linspace(-10.0, 10.0, 10_000)
    derivative = jax.vmap(jax.grad(jnp.sin))
    program = optimized_program(derivative, points)
    print(program)
    assert program == optimized_program(jnp.cos, points)
    # --8<-- [end:same_program]

    # --8<-- [start:fresh_memory]
    few, n_small, n_big = 4, 1_000_000, 10_000_000
    fresh = {n: fresh_arrays(n, few) for n in (n_small, n_big)}
    step_arrays, scan_arrays = fresh[n_big]
    if device.platform == "cpu":  # a GPU's arrays are not in host memory
        assert step_arrays >= 1  # at least one array of n floats a call
        assert scan_arrays / few < step_arrays  # a scan: less, a step
    # --8<-- [end:fresh_memory]

    # --8<-- [start:count_bytes]
    itemsize = jnp.dtype(jnp.float32).itemsize
    counted = {
        "gradient step": bytes_per_sample(gradient_step, n_small),
        "loss and gradient step": bytes_per_sample(descent_step, n_small),
        "floor step": bytes_per_sample(floor_step, n_small),
    }
    for name, count in counted.items():
        print(f"{name}: {count:.1f} bytes a sample on {device.platform}")
    assert counted["floor step"] <= counted["gradient step"]
    # --8<-- [end:count_bytes]

    # --8<-- [start:same_parameters]
    x, y = make_houses(jax.random.key(0), n=100_000)
    with jax.enable_x64(True):  # the same descent in float64: the reference
        x64, y64 = x.astype(jnp.float64), y.astype(jnp.float64)
        start = jnp.zeros(2, jnp.float64)
        exact = train_sufficient(start, x64, y64, STEP_SIZE, N_STEPS)
        exact = [float(value) for value in exact]
    zeros = jnp.zeros(2)
    trained = {
        "plain scan": train_scan(zeros, x, y, STEP_SIZE, N_STEPS)[0],
        "floor step": train_floor(zeros, x, y, STEP_SIZE, N_STEPS),
        "five sums": train_sufficient(zeros, x, y, STEP_SIZE, N_STEPS),
    }
    print(f"float64   : θ₀ = {exact[0]:.6f}, θ₁ = {exact[1]:.6f}")
    for name, params in trained.items():
        gap = relative_gap(params, exact)
        print(f"{name:10}: largest relative difference {gap:.1e}")
        assert gap < RTOL
    # --8<-- [end:same_parameters]

    # --8<-- [start:sum_errors]
    x_big, y_big = make_houses(jax.random.key(0), n=n_big)
    with jax.enable_x64(True):
        x64, y64 = x_big.astype(jnp.float64), y_big.astype(jnp.float64)
        exact_sums = [float(s) for s in sums_apart(x64, y64)]
    sum_errors = {
        "one loop": relative_gap(sums_in_one_loop(x_big, y_big), exact_sums),
        "jnp.sum": relative_gap(sums_apart(x_big, y_big), exact_sums),
    }
    # --8<-- [end:sum_errors]

    # --8<-- [start:show_fusions]
    args = (zeros, x, y, STEP_SIZE)
    print("plain step:")
    fusions(gradient_step, *args)
    print("floor step:")
    fusions(floor_step, *args)
    # --8<-- [end:show_fusions]
