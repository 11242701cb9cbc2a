"""Chapter "Performance": the code it runs at build time, in page order.

The timings themselves come from `python -m snippets.bench` (see bench.py),
which runs far too long for a page; the page shows its functions, checks that
every fast variant computes what the plain scan computes, and reads XLA's own
account of the bytes each step moves.
"""

# --8<-- [start:setup]
import re
import statistics
import time
from functools import partial

import jax
import jax.numpy as jnp
# --8<-- [end:setup]


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


if __name__ == "__main__":
    from snippets.bench import (
        N_STEPS,
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

    # --8<-- [start:fresh_memory]
    n_big, few = 10_000_000, 4
    x_big, y_big = make_houses(jax.random.key(0), n=n_big)
    zeros = jnp.zeros(2)
    loop_bytes = fresh_bytes(
        lambda: descent_step(zeros, x_big, y_big, STEP_SIZE)[0], calls=1
    )
    scan_bytes = fresh_bytes(
        lambda: train_scan(zeros, x_big, y_big, STEP_SIZE, few)[0], calls=1
    )
    # --8<-- [end:fresh_memory]

    # --8<-- [start:count_bytes]
    device = jax.devices()[0]
    counted = {
        "plain step": bytes_per_sample(gradient_step, 1_000_000),
        "floor step": bytes_per_sample(floor_step, 1_000_000),
    }
    for name, count in counted.items():
        print(f"{name}: {count:.1f} bytes a sample on {device.platform}")
    # --8<-- [end:count_bytes]

    # --8<-- [start:same_parameters]
    x, y = make_houses(jax.random.key(0), n=100_000)
    plain = train_scan(zeros, x, y, STEP_SIZE, N_STEPS)[0]
    variants = {
        "floor step": train_floor(zeros, x, y, STEP_SIZE, N_STEPS),
        "five sums": train_sufficient(zeros, x, y, STEP_SIZE, N_STEPS),
    }
    print(f"plain scan: θ₀ = {plain[0]:.4f}, θ₁ = {plain[1]:.4f}")
    for name, params in variants.items():
        gap = jnp.max(jnp.abs(params - plain))
        print(f"{name:10}: largest difference {gap:.1e}")
        assert gap < 1e-4
    # --8<-- [end:same_parameters]

    # --8<-- [start:show_fusions]
    args = (zeros, x, y, STEP_SIZE)
    print("plain step:")
    fusions(gradient_step, *args)
    print("floor step:")
    fusions(floor_step, *args)
    # --8<-- [end:show_fusions]
