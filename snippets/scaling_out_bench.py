"""Data-parallel scaling, measured only where the devices are real.

    python -m snippets.scaling_out_bench [--quick] [--out FILE]

Times one data-parallel training step of an MLP (the step of the chapter
"Scaling out": jit, the batch split over a "data" axis) on 1, 2, 4, ...
of the machine's accelerators, at a fixed batch per device (weak scaling:
ideally a constant time) and at a fixed global batch (strong scaling:
ideally a time that falls as 1/D). The JSON records the platform, the
device kind and the device count. On CPU devices it measures nothing and
says so: they share the cores of one CPU, so a speed-up there means nothing.
`--allow-cpu` runs it anyway, for testing the benchmark itself.
"""

import argparse
import json
import math
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from snippets.scaling_out import descend, replicate, shard_rows


def mlp_loss(params, batch):
    """Mean squared error of a ReLU MLP; the benchmark's model."""
    x, y = batch
    for W, b in params[:-1]:
        x = jax.nn.relu(x @ W + b[None, :])  # x: (batch, width)
    W, b = params[-1]
    return jnp.mean((x @ W + b[None, :] - y) ** 2)


def init(key, width, depth):
    keys = jax.random.split(key, depth)
    return [
        (
            jax.random.normal(k, (width, width)) / math.sqrt(width),
            jnp.zeros(width),
        )
        for k in keys
    ]


def time_steps(params, batch, repeats, steps=10):
    """Median seconds per step over `repeats` runs of `steps` steps; the
    first call compiles and is not counted."""
    jax.block_until_ready(descend(mlp_loss, params, batch, 1e-3, steps))
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        jax.block_until_ready(descend(mlp_loss, params, batch, 1e-3, steps))
        times.append((time.perf_counter() - started) / steps)
    return float(np.median(times))


def measure(per_device, width, depth, repeats):
    devices = jax.devices()
    counts = [2**i for i in range(int(math.log2(len(devices))) + 1)]
    params = init(jax.random.key(0), width, depth)
    rows = []
    for scaling, batch_of in [
        ("weak", lambda d: per_device * d),
        ("strong", lambda d: per_device * counts[-1]),
    ]:
        for d in counts:
            mesh = jax.make_mesh((d,), ("data",), devices=devices[:d])
            n = batch_of(d)
            key_x, key_y = jax.random.split(jax.random.key(1))
            batch = (
                jax.random.normal(key_x, (n, width)),
                jax.random.normal(key_y, (n, width)),
            )
            seconds = time_steps(
                replicate(mesh, params), shard_rows(mesh, batch), repeats
            )
            rows.append(
                {
                    "scaling": scaling,
                    "devices": d,
                    "global_batch": n,
                    "step_seconds": seconds,
                    "examples_per_second": n / seconds,
                }
            )
    for row in rows:  # against one device, for the same kind of scaling
        base = next(
            r
            for r in rows
            if r["scaling"] == row["scaling"] and r["devices"] == 1
        )
        ideal = base["step_seconds"] * (
            1 if row["scaling"] == "weak" else 1 / row["devices"]
        )
        row["efficiency"] = ideal / row["step_seconds"]
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, few repeats"
    )
    parser.add_argument("--out", help="write the results to this JSON file")
    parser.add_argument(
        "--allow-cpu", action="store_true", help="measure CPU devices too"
    )
    args = parser.parse_args(argv)
    devices = jax.devices()
    report = {
        "benchmark": "a data-parallel MLP step: jit, the batch split on 'data'",
        "platform": devices[0].platform,
        "device_kind": devices[0].device_kind,
        "device_count": len(devices),
        "jax": jax.__version__,
        "python": platform.python_version(),
    }
    if devices[0].platform == "cpu" and not args.allow_cpu:
        report["skipped"] = (
            f"{len(devices)} CPU device(s) share one CPU's cores: a speed-up "
            "between them would mean nothing. Run it where devices are real."
        )
    else:
        sizes = (64, 128, 2, 3) if args.quick else (4096, 2048, 4, 10)
        per_device, width, depth, repeats = sizes
        report.update(per_device_batch=per_device, width=width, depth=depth)
        report["results"] = measure(per_device, width, depth, repeats)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return report


if __name__ == "__main__":
    main()
