"""Chapter "Scaling out": one training run spread over several processes.

WORKER is the program each process runs (the page writes it to a file);
`launch` starts several copies of it on this machine and waits for all of
them, every wait bounded, stopping all of them if one fails.
"""

import json
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
# two devices. On a cluster of GPU machines, delete these two lines.
jax.config.update("jax_platforms", "cpu")
jax.config.update("jax_num_cpu_devices", 2)
jax.config.update("jax_cpu_collectives_implementation", "gloo")
# Before any other JAX call: find the other processes. Every wait is
# bounded, so a process that never comes cannot hang the others forever.
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

mesh = jax.make_mesh((jax.device_count(),), ("data",))  # ALL processes


def loss(params, x, y):
    return jnp.mean((y - (params[0] + params[1] * x)) ** 2)


@jax.jit
def descend(params, x, y):  # 100 steps, eta = 0.1, as on the page
    def step(params, _):
        return params - 0.1 * jax.grad(loss)(params, x, y), None

    return jax.lax.scan(step, params, length=100)[0]


# Every process draws the same 200 houses, then keeps only its own rows:
# with real data, each would read just its part of the files.
k_area, k_noise = jax.random.split(jax.random.key(0))
x = 0.5 * jax.random.normal(k_area, (200,))
y = 3.0 + 34.41 * x + 3.0 * jax.random.normal(k_noise, (200,))
rows = np.array_split(np.arange(200), jax.process_count())[jax.process_index()]
rows_split = NamedSharding(mesh, P("data"))
x = jax.make_array_from_process_local_data(rows_split, np.asarray(x)[rows])
y = jax.make_array_from_process_local_data(rows_split, np.asarray(y)[rows])
start = jax.device_put(jnp.zeros(2), NamedSharding(mesh, P()))
params = descend(start, x, y)  # replicated: every process holds all of it
print(json.dumps({
    "process": jax.process_index(), "processes": jax.process_count(),
    "local devices": jax.local_device_count(), "devices": jax.device_count(),
    "x": str(jax.typeof(x)), "params": np.asarray(params).tolist(),
}))
'''
# --8<-- [end:worker]


# --8<-- [start:launcher]
def free_port():
    """A TCP port no program on this machine listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_ranks(script, n_processes):
    """n_processes copies of `script`, each told the coordinator's address,
    the number of processes and its own id. Returns the processes and the
    files their output goes to."""
    coordinator = f"127.0.0.1:{free_port()}"  # process 0 listens there
    ranks, logs = [], []
    for rank in range(n_processes):
        logs.append(Path(script).with_name(f"rank{rank}.log"))
        args = [coordinator, str(n_processes), str(rank)]
        with logs[-1].open("w") as out:
            command = [sys.executable, script, *args]
            ranks.append(subprocess.Popen(command, stdout=out, stderr=out))
    return ranks, logs


def ended(rank):
    code = rank.returncode
    if code < 0:  # the operating system's way to say "killed by a signal"
        return f"was killed by {signal.Signals(-code).name}"
    return f"failed with exit code {code}"


def wait_for_ranks(ranks, logs, timeout_s):
    """Wait until every rank has finished. If one fails, or the time is up,
    stop them all and raise: a dead rank must not leave the others hanging."""
    deadline = time.monotonic() + timeout_s
    try:
        while any(rank.poll() is None for rank in ranks):
            for i, rank in enumerate(ranks):
                if rank.poll() not in (None, 0):
                    raise RuntimeError(
                        f"process {i} of {len(ranks)} {ended(rank)}; "
                        "stopped the others. The end of its output:\n"
                        + logs[i].read_text()[-1500:]
                    )
            if time.monotonic() > deadline:
                late = [i for i, r in enumerate(ranks) if r.poll() is None]
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


def launch(script, n_processes, timeout_s=120):
    """Run `script` as n_processes processes; from each, the last line of
    its output that is a JSON object, in process order."""
    ranks, logs = start_ranks(script, n_processes)
    wait_for_ranks(ranks, logs, timeout_s)
    results = []
    for log in logs:
        lines = log.read_text().splitlines()
        results.append(json.loads([s for s in lines if s[:1] == "{"][-1]))
    return results


# --8<-- [end:launcher]
