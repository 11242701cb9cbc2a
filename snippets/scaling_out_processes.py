"""Chapter "Scaling out": one training run spread over several processes.

WORKER is the program each process runs (the page writes it to a file);
`launch` starts several copies of it on this machine and waits for all of
them, every wait bounded, stopping all of them if one fails.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

# --8<-- [start:worker]
WORKER = '''\
"""Fit the house-price line data-parallel over every process's devices.

    python train_dp.py COORDINATOR NUM_PROCESSES PROCESS_ID   # by hand
    python train_dp.py                 # where JAX reads them (SLURM, ...)
"""
import json
import sys

import jax

# Laptop settings: the processes of one machine share its CPU, each with
# two devices. On a cluster of GPU machines, delete the next two lines.
jax.config.update("jax_platforms", "cpu")
jax.config.update("jax_num_cpu_devices", 2)
# Before anything that uses a device: find the other processes. Every wait
# is bounded, so a process that never comes cannot hang the others forever.
limits = dict(initialization_timeout=60, heartbeat_timeout_seconds=30,
              shutdown_timeout_seconds=30)
if len(sys.argv) == 4:
    coordinator, n, rank = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    jax.distributed.initialize(coordinator, n, rank, **limits)
else:
    jax.distributed.initialize(**limits)

import jax.numpy as jnp
import numpy as np
from jax import P
from jax.sharding import NamedSharding

HOUSES = 200  # as on the page; a multiple of the number of ALL devices
mesh = jax.make_mesh((jax.device_count(),), ("data",))  # ALL processes
if HOUSES % jax.device_count():
    raise ValueError(
        f"{HOUSES} houses do not split evenly over the {jax.device_count()} "
        f"devices of all processes: make HOUSES a multiple of "
        f"{jax.device_count()}"
    )


def loss(params, x, y):
    return jnp.mean((y - (params[0] + params[1] * x)) ** 2)


@jax.jit
def descend(params, x, y):  # 100 steps, eta = 0.1, as on the page
    def step(params, _):
        return params - 0.1 * jax.grad(loss)(params, x, y), None

    return jax.lax.scan(step, params, length=100)[0]


# Every process draws the same houses, then keeps only its own rows:
# with real data, each would read just its part of the files.
k_area, k_noise = jax.random.split(jax.random.key(0))
x = 0.5 * jax.random.normal(k_area, (HOUSES,))
y = 3.0 + 34.41 * x + 3.0 * jax.random.normal(k_noise, (HOUSES,))
rows = np.array_split(np.arange(HOUSES), jax.process_count())
rows = rows[jax.process_index()]
rows_split = NamedSharding(mesh, P("data"))
x = jax.make_array_from_process_local_data(rows_split, np.asarray(x)[rows])
y = jax.make_array_from_process_local_data(rows_split, np.asarray(y)[rows])
start = jax.device_put(jnp.zeros(2), NamedSharding(mesh, P()))
params = descend(start, x, y)  # replicated: every process holds all of it
print(json.dumps({
    "process": jax.process_index(), "processes": jax.process_count(),
    "local devices": jax.local_device_count(), "devices": jax.device_count(),
    "own rows": len(rows), "x": str(jax.typeof(x)),
    "params": np.asarray(params).tolist(),
}))
'''
# --8<-- [end:worker]


# --8<-- [start:launcher]
BIND_FAILED = "Address already in use"  # in process 0's output: port taken


def free_port():
    """A TCP port that no program listens on at this moment. Another may
    take it before process 0 does: `launch` then starts again."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_ranks(script, n_processes):
    """n_processes copies of `script`, each told the coordinator's address,
    the number of processes and its own id. Returns the processes and the
    files their output goes to."""
    address = f"127.0.0.1:{free_port()}"
    # Process 0 listens there and only there: by default the coordinator
    # listens on every network interface, and it asks for no password.
    env = dict(os.environ, JAX_COORDINATOR_BIND_ADDRESS=address)
    ranks, logs = [], []
    for rank in range(n_processes):
        logs.append(Path(script).with_name(f"rank{rank}.log"))
        command = [sys.executable, script, address, str(n_processes), str(rank)]
        with logs[-1].open("w") as out:
            ranks.append(
                subprocess.Popen(command, stdout=out, stderr=out, env=env)
            )
    return ranks, logs


def ended(rank):
    code = rank.returncode
    if code < 0:  # the operating system's way to say "killed by a signal"
        return f"was killed by {signal.Signals(-code).name}"
    return f"failed with exit code {code}"


def failure(ranks, logs, failed):
    """The error for the ranks in `failed`: how each ended, and its output."""
    n = len(ranks)
    said = "; ".join(f"process {i} of {n} {ended(ranks[i])}" for i in failed)
    ends = "".join(
        f"\nThe end of process {i}'s output:\n{logs[i].read_text()[-1500:]}"
        for i in failed
    )
    return RuntimeError(f"{said}; stopped the others.{ends}")


def wait_for_ranks(ranks, logs, timeout_s):
    """Wait until every rank has finished. If one fails, or the time is up,
    stop them all and raise: a dead rank must not leave the others hanging.
    The error names the ranks found failed at the first look that found
    any (one failure soon makes its partners fail too)."""
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            codes = [rank.poll() for rank in ranks]  # None: still running
            if failed := [i for i, code in enumerate(codes) if code]:
                raise failure(ranks, logs, failed)
            if None not in codes:
                return  # all exited with code 0
            if time.monotonic() > deadline:
                late = [i for i, code in enumerate(codes) if code is None]
                raise TimeoutError(
                    f"processes {late} of {len(ranks)} still running after "
                    f"{timeout_s} s; stopped them all"
                )
            time.sleep(0.05)
    finally:
        for rank in ranks:
            if rank.poll() is None:
                rank.kill()
            rank.wait()  # reaped: no process is left behind


def last_json(log, rank):
    """The last line of a rank's output that is a JSON object."""
    lines = [s for s in log.read_text().splitlines() if s[:1] == "{"]
    if not lines:
        raise RuntimeError(
            f"process {rank} exited normally but printed no JSON line; "
            "the end of its output:\n" + log.read_text()[-1500:]
        )
    return json.loads(lines[-1])


def launch(script, n_processes, timeout_s=120, attempts=3):
    """Run `script` as n_processes processes; from each, its result (the
    last JSON line it printed), in process order. Each attempt has its own
    timeout; another starts only if process 0 found its port taken."""
    for attempt in range(1, attempts + 1):
        ranks, logs = start_ranks(script, n_processes)
        try:
            wait_for_ranks(ranks, logs, timeout_s)
            return [last_json(log, rank) for rank, log in enumerate(logs)]
        except RuntimeError:
            taken = BIND_FAILED in logs[0].read_text()
            if attempt == attempts or not taken:
                raise


# --8<-- [end:launcher]
