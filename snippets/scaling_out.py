"""Chapter "Scaling out": meshes, sharded arrays, data parallelism two ways.

Importing this module changes no JAX setting (the tests import it into a
process whose JAX already runs); the page's first block, under `__main__`,
asks for eight CPU devices. The Llama's sharded parameters and the
tensor-parallel layer are in scaling_out_llama.py, the runs with several
processes in scaling_out_processes.py.
"""

# --8<-- [start:setup]
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import P
from jax.sharding import AxisType, NamedSharding
# --8<-- [end:setup]

import jax


# --8<-- [start:show_layout]
def show_layout(x):
    """One line per shard: the device, the block of x it holds, its shape."""
    for shard in sorted(x.addressable_shards, key=lambda s: s.device.id):
        block = ", ".join(
            f"{s.start or 0}:{n if s.stop is None else s.stop}"
            for s, n in zip(shard.index, x.shape, strict=True)
        )
        print(f"  {shard.device}: [{block}] {shard.data.shape}")


# --8<-- [end:show_layout]


# --8<-- [start:shard_rows]
def shard_rows(mesh, tree, axis="data"):
    """Split the first axis (the examples) of every leaf over a mesh axis."""
    size = mesh.shape[axis]
    for leaf in jax.tree.leaves(tree):
        if leaf.shape[0] % size:
            raise ValueError(
                f"a batch of {leaf.shape[0]} examples does not split evenly "
                f"over the {size} devices of mesh axis {axis!r}: use a "
                f"batch size that is a multiple of {size}"
            )
    return jax.device_put(tree, NamedSharding(mesh, P(axis)))


def replicate(mesh, tree):
    """A whole copy of every leaf on every device of the mesh."""
    return jax.device_put(tree, NamedSharding(mesh, P()))


# --8<-- [end:shard_rows]


# --8<-- [start:descend]
@partial(jax.jit, static_argnames=("loss_fn", "n_steps"))
def descend(loss_fn, params, batch, eta, n_steps):
    """n_steps of gradient descent on loss_fn(params, batch), one lax.scan.
    Nothing here names a device: the inputs' shardings decide where it runs.
    Returns the parameters and the loss before each step."""

    def step(params, _):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        params = jax.tree.map(lambda p, g: p - eta * g, params, grads)
        return params, loss

    return jax.lax.scan(step, params, length=n_steps)


# --8<-- [end:descend]


# --8<-- [start:collectives]
def collectives(compiled_text):
    """The collective operations in a compiled program's HLO text, each as
    'name: result shape', e.g. 'all-reduce: f32[2]'."""
    text = re.sub(r"\{[^{}]*\}", "", compiled_text)  # layouts such as {1,0}
    text = re.sub(r"/\*.*?\*/", "", text)  # comments such as /*index=5*/
    found = re.findall(
        r"= (\S+|\([^)]*\)) (all-reduce|all-gather|reduce-scatter|"
        r"all-to-all|collective-permute)(?:-start)?\(",
        text,
    )
    return [f"{name}: {shape}" for shape, name in found]


# --8<-- [end:collectives]


# --8<-- [start:shard_map_descend]
@partial(
    jax.jit,
    static_argnames=("loss_fn", "mesh", "n_steps", "check_vma", "mean_of"),
)
def shard_map_descend(
    loss_fn, mesh, params, batch, eta, n_steps, check_vma=True, mean_of="loss"
):
    """descend, written for one device: each runs `local` on its own rows,
    and the devices agree through an explicit mean over the "data" axis,
    of the loss (`mean_of="loss"`) or of the gradients ("grads")."""

    def local(params, batch):  # batch: this device's rows only
        def loss(params):
            value = loss_fn(params, batch)  # the mean over MY rows
            if mean_of == "loss":  # the mean over all rows: an all-reduce
                value = jax.lax.pmean(value, "data")
            return value

        def step(params, _):
            value, grads = jax.value_and_grad(loss)(params)
            if mean_of == "grads":  # all-reduce: the mean over devices
                value, grads = jax.lax.pmean((value, grads), "data")
            params = jax.tree.map(lambda p, g: p - eta * g, params, grads)
            return params, value

        return jax.lax.scan(step, params, length=n_steps)

    spread = jax.shard_map(
        local,
        mesh=mesh,
        in_specs=(P(), P("data")),  # parameters whole, rows split
        out_specs=(P(), P()),  # the same parameters and loss everywhere
        check_vma=check_vma,
    )
    return spread(params, batch)


# --8<-- [end:shard_map_descend]


# --8<-- [start:largest_gap]
def largest_gap(a, b):
    """The largest difference between two pytrees, relative to b's scale."""
    pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return max(
        float(np.max(np.abs(np.asarray(u) - np.asarray(v))))
        / max(float(np.max(np.abs(np.asarray(v)))), 1e-30)
        for u, v in pairs
    )


# --8<-- [end:largest_gap]


if __name__ == "__main__":
    # fmt: off
    # The sections below are formatted by hand to the page's 80 columns.

    # --8<-- [start:devices]
    import jax

    # JAX makes its CPU backend once per process, the first time anything
    # needs a device, with as many devices as this setting says then.
    jax.config.update("jax_num_cpu_devices", 8)
    # GPUs may multiply float32 matrices with 10-bit mantissas (TF32), TPUs
    # with bfloat16's 8 bits; this page compares float32 results, so it
    # asks for full float32 products.
    jax.config.update("jax_default_matmul_precision", "highest")
    # --8<-- [end:devices]

    from snippets.linear_regression_model import loss, make_houses
    from snippets.llama import next_token_loss
    from snippets.llama_config import LlamaConfig, init_params
    from snippets.neural_networks import (
        classifier_loss, init_mlp, make_spirals, mlp,
    )
    from snippets.optimizers import AdamState, adamw
    from snippets.scaling_out_llama import (
        TP_SPECS, bytes_per_device, fsdp_loss, fsdp_specs, tp_mlp,
        tp_mlp_shard_map, train_step,
    )
    from snippets.scaling_out_processes import WORKER, launch

    # --8<-- [start:list_devices]
    devices = jax.devices()  # the default platform's: the GPUs if any
    print(f"{len(devices)} {devices[0].platform} device(s):", devices)
    print(f"{len(jax.devices('cpu'))} CPU devices")
    jax.config.update("jax_num_cpu_devices", 8)  # the same value: accepted
    try:
        jax.config.update("jax_num_cpu_devices", 4)  # another: too late now
    except RuntimeError as err:
        print("RuntimeError:", str(err).split(" i.e.")[0])
    # The cores this process may use; os.cpu_count() counts the machine's.
    affinity = getattr(os, "sched_getaffinity", None)  # not on every OS
    cores = len(affinity(0)) if affinity else os.cpu_count()
    # --8<-- [end:list_devices]

    # --8<-- [start:make_mesh]
    n_devices = len(devices)
    model = 2 if n_devices % 2 == 0 else 1  # a "model" axis of 2 if we can
    mesh = jax.make_mesh((n_devices // model, model), ("data", "model"))
    print(mesh)
    # --8<-- [end:make_mesh]

    # --8<-- [start:device_put]
    x = jnp.arange(16 * 4, dtype=jnp.float32).reshape(16, 4)
    x_split = jax.device_put(x, NamedSharding(mesh, P("data", "model")))
    print("type:", jax.typeof(x_split))
    print("sharding:", x_split.sharding.spec)
    show_layout(x_split)
    assert (np.asarray(x_split) == np.asarray(x)).all()  # the same numbers
    # --8<-- [end:device_put]

    # --8<-- [start:explicit_types]
    rows = jax.device_put(jnp.ones((16, 4)), NamedSharding(mesh, P("data")))
    w = jax.device_put(jnp.ones((4, 6)), NamedSharding(mesh, P(None, "model")))
    u = jax.device_put(jnp.ones((6, 3)), NamedSharding(mesh, P("model", None)))
    h = rows @ w  # each device: its rows times its columns
    print("rows @ w:", jax.typeof(h))
    try:
        h @ u  # the sum over the split axis: whose rows, whose columns?
    except Exception as err:  # ShardingTypeError, from jax._src.core
        print(f"{type(err).__name__}: {str(err).split('. ')[0]}.")
    with jax.set_mesh(mesh):  # lets a bare P stand for NamedSharding(mesh, P)
        out = jnp.matmul(h, u, out_sharding=P("data", None))
    print("h @ u:", jax.typeof(out))
    assert (np.asarray(out) == 4 * 6).all()  # 6 products of 4 ones, summed
    # --8<-- [end:explicit_types]

    # --8<-- [start:auto_types]
    auto = jax.make_mesh(
        mesh.axis_sizes, mesh.axis_names, axis_types=(AxisType.Auto,) * 2
    )
    h_auto = jax.device_put(h, NamedSharding(auto, P("data", "model")))
    u_auto = jax.device_put(u, NamedSharding(auto, P("model", None)))
    out_auto = jax.jit(jnp.matmul)(h_auto, u_auto)  # no error: XLA decides
    print("h @ u:", jax.typeof(out_auto), "placed as", out_auto.sharding.spec)
    assert (np.asarray(out_auto) == np.asarray(out)).all()
    # --8<-- [end:auto_types]

    # --8<-- [start:houses_data]
    def houses_loss(params, batch):
        return loss(params, *batch)  # the mean squared error of the line

    houses = make_houses(jax.random.key(0))  # (x, y): 200 houses
    start, eta, n_steps = jnp.zeros(2), 0.1, 100
    data_mesh = jax.make_mesh((n_devices,), ("data",))  # every device
    # --8<-- [end:houses_data]

    # --8<-- [start:houses_one_device]
    one, one_losses = descend(houses_loss, start, houses, eta, n_steps)
    print("one device:", one, jax.typeof(one))
    # --8<-- [end:houses_one_device]

    # --8<-- [start:houses_jit]
    args = replicate(data_mesh, start), shard_rows(data_mesh, houses), eta
    compiled = descend.lower(houses_loss, *args, n_steps).compile()
    many, many_losses = compiled(*args)  # the same as descend(...)
    print(f"{n_devices} devices:", many, jax.typeof(many))
    print("x split as", jax.typeof(args[1][0]))
    found = collectives(compiled.as_text())
    print("collectives in each step:", found)
    # one all-reduce of the loss and the gradient (none on one device)
    assert [c.split(":")[0] for c in found] == ["all-reduce"] * (n_devices > 1)
    rtol = 1e-5  # about 170 float32 roundings of 2^-24 each
    houses_gap = largest_gap(many, one)
    assert houses_gap < rtol and largest_gap(many_losses, one_losses) < rtol
    # --8<-- [end:houses_jit]

    # --8<-- [start:spirals_jit]
    spirals = make_spirals(jax.random.key(0), n=1024)  # (x, labels)
    mlp_loss = classifier_loss(mlp)  # mean cross-entropy of the MLP
    mlp_start = init_mlp(jax.random.key(4), [2, 64, 64, 3])
    mlp_steps, mlp_eta = 50, 0.5
    mlp_one, mlp_one_losses = descend(
        mlp_loss, mlp_start, spirals, mlp_eta, mlp_steps
    )
    mlp_many, mlp_many_losses = descend(
        mlp_loss, replicate(data_mesh, mlp_start),
        shard_rows(data_mesh, spirals), mlp_eta, mlp_steps,
    )
    print(f"loss after {mlp_steps} steps: one device "
          f"{mlp_one_losses[-1]:.6f}, {n_devices}: {mlp_many_losses[-1]:.6f}")
    mlp_gap = largest_gap(mlp_many, mlp_one)
    assert mlp_gap < rtol
    # --8<-- [end:spirals_jit]

    # --8<-- [start:shard_map_runs]
    args = replicate(data_mesh, start), shard_rows(data_mesh, houses), eta
    mapped, _ = shard_map_descend(houses_loss, data_mesh, *args, n_steps)
    mlp_args = (replicate(data_mesh, mlp_start),
                shard_rows(data_mesh, spirals), mlp_eta, mlp_steps)
    mlp_mapped, _ = shard_map_descend(mlp_loss, data_mesh, *mlp_args)
    print("houses, shard_map:", mapped)
    shard_map_gaps = [largest_gap(mapped, one), largest_gap(mapped, many),
                      largest_gap(mlp_mapped, mlp_one),
                      largest_gap(mlp_mapped, mlp_many)]
    assert max(shard_map_gaps) < rtol
    # --8<-- [end:shard_map_runs]

    # --8<-- [start:check_vma]
    one_step, _ = descend(houses_loss, start, houses, eta, 1)
    ratios = {}  # each way's first step, divided by the right one
    for check_vma, mean_of in [(True, "loss"), (True, "grads"), (True, None),
                               (False, "grads"), (False, None)]:
        way = f"check_vma={check_vma}, " + (
            f"pmean of the {mean_of}:" if mean_of else "no pmean:")
        try:
            moved, _ = shard_map_descend(
                houses_loss, data_mesh, *args[:2], eta, 1, check_vma, mean_of
            )
        except ValueError as err:  # a varying loss where out_specs says P()
            print(way, "ValueError:", str(err).splitlines()[0])
            continue
        ratios[check_vma, mean_of] = np.asarray(moved / one_step)
        print(way, "the step is", np.round(ratios[check_vma, mean_of], 4),
              "times the right one")
    assert np.allclose(ratios[True, "loss"], 1, rtol=rtol)  # the mean
    assert np.allclose(ratios[True, "grads"], n_devices, rtol=rtol)  # sum
    assert (True, None) not in ratios  # refused
    assert np.allclose(ratios[False, "grads"], 1, rtol=rtol)
    # No pmean, no check: the result is device 0's step, on its rows alone
    rows_0 = jax.tree.map(lambda a: a[: len(a) // n_devices], houses)
    step_0, _ = descend(houses_loss, start, rows_0, eta, 1)
    assert np.allclose(ratios[False, None], step_0 / one_step, rtol=rtol)
    # --8<-- [end:check_vma]

    # --8<-- [start:train_memory]
    llama_8b = LlamaConfig(  # the sizes of Llama 3 8B, from its config.json
        vocab_size=128256, hidden_size=4096, intermediate_size=14336,
        num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
        head_dim=128, max_position_embeddings=8192, tie_word_embeddings=False,
    )
    # eval_shape traces init_params without running it: shapes, no memory
    shapes = jax.eval_shape(partial(init_params, llama_8b), jax.random.key(0))
    n_8b = sum(leaf.size for leaf in jax.tree.leaves(shapes))  # N
    train_bytes = 4 * 4 * n_8b  # float32 parameters, gradients, m and v
    print(f"Llama 3 8B: N = {n_8b:,}; {train_bytes / 1e9:.0f} GB to train")
    # --8<-- [end:train_memory]

    from snippets.llama_layers import swiglu  # shown on the page in a note

    # --8<-- [start:llama_setup]
    config = LlamaConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=1,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16,
        max_position_embeddings=64,
    )
    params = init_params(config, jax.random.key(0))
    text = b"Every device runs the same program on its own rows of data. "
    batch, length = 2 * n_devices, 33  # sequences of 33 bytes: 32 targets
    tokens = np.resize(np.frombuffer(text, np.uint8), (batch, length))
    tokens = jnp.asarray(tokens, jnp.int32)
    learning_rate, n_train = 1e-2, 5
    optimizer = adamw(learning_rate)
    # --8<-- [end:llama_setup]

    # --8<-- [start:fsdp_shard]
    specs = fsdp_specs(params, data_mesh)
    shardings = jax.tree.map(lambda s: NamedSharding(data_mesh, s), specs)
    fsdp_params = jax.device_put(params, shardings)
    print("embed:", jax.typeof(fsdp_params["embed"]))
    print("q:    ", jax.typeof(fsdp_params["layers"]["q"]))
    print("norm: ", jax.typeof(fsdp_params["norm"]))
    unplaced = jax.jit(optimizer.init)(fsdp_params)  # no mesh set: a trap
    print("m for q, jit(init):", unplaced.m["layers"]["q"].sharding)
    with jax.set_mesh(data_mesh):
        in_mesh = jax.jit(optimizer.init)(fsdp_params)
    print("m for q, jit(init) under set_mesh:",
          jax.typeof(in_mesh.m["layers"]["q"]))
    state_shardings = AdamState(  # t everywhere; m and v split like params
        NamedSharding(data_mesh, P()), shardings, shardings
    )
    init = jax.jit(optimizer.init, out_shardings=state_shardings)
    fsdp_state = init(fsdp_params)
    print("m for q, out_shardings:", jax.typeof(fsdp_state.m["layers"]["q"]))
    memory = {
        "parameters": bytes_per_device(fsdp_params),
        "Adam's m and v": bytes_per_device((fsdp_state.m, fsdp_state.v)),
    }
    for name, (most, whole) in memory.items():
        print(f"{name}: {whole:,} bytes, at most {most:,} on one device")
        assert most * n_devices == whole  # an equal share on every device
    # jit(init) without a mesh: every moment on device 0, and only there
    places = [m.sharding.device_set for m in jax.tree.leaves(unplaced.m)]
    assert all(place == {devices[0]} for place in places)
    assert bytes_per_device((in_mesh.m, in_mesh.v)) == memory["Adam's m and v"]
    # --8<-- [end:fsdp_shard]

    # --8<-- [start:fsdp_train]
    fsdp_tokens = shard_rows(data_mesh, tokens)
    with jax.set_mesh(data_mesh):
        fsdp_step = train_step.lower(
            fsdp_loss, optimizer, config, fsdp_params, fsdp_state, fsdp_tokens
        ).compile()
    found = collectives(fsdp_step.as_text())
    kinds = [c.split(":")[0] for c in found]
    print({kind: kinds.count(kind) for kind in sorted(set(kinds))})
    for line in found:
        if not line.startswith("all-gather"):
            print(textwrap.fill(line, 79, subsequent_indent="  "))
    p_one, s_one = params, optimizer.init(params)
    p_fsdp, s_fsdp = fsdp_params, fsdp_state
    for step in range(n_train):
        p_one, s_one, loss_one = train_step(
            next_token_loss, optimizer, config, p_one, s_one, tokens
        )
        p_fsdp, s_fsdp, loss_fsdp = fsdp_step(p_fsdp, s_fsdp, fsdp_tokens)
        print(f"step {step}: loss {loss_one:.5f} on one device, "
              f"{loss_fsdp:.5f} sharded")
        assert abs(loss_fsdp / loss_one - 1) < rtol
    print("q after training:", jax.typeof(p_fsdp["layers"]["q"]))
    # The weights of one block, gathered in the forward pass and again in
    # the backward pass (the checkpoint); and the embedding and final norm.
    n_block = len(params["layers"])
    assert kinds.count("all-gather") == (2 * n_block + 2) * (n_devices > 1)
    # The arrays summed: the loss, and every gradient (the embedding's twice)
    n_summed = sum(c.count("[") for c in found if c.startswith("all-reduce"))
    if n_devices > 1 and devices[0].platform == "cpu":  # XLA's choice here
        assert n_summed == 1 + len(jax.tree.leaves(params)) + 1
    # --8<-- [end:fsdp_train]

    # --8<-- [start:checkpoint_memory]
    def scratch_bytes(loss_fn):  # the temporary memory of one device
        grad = jax.jit(jax.grad(loss_fn), static_argnums=2)
        with jax.set_mesh(data_mesh):
            step = grad.lower(fsdp_params, fsdp_tokens, config).compile()
        return step.memory_analysis().temp_size_in_bytes

    with_remat = scratch_bytes(fsdp_loss)
    without_remat = scratch_bytes(partial(fsdp_loss, remat=False))
    assert with_remat < without_remat
    # --8<-- [end:checkpoint_memory]

    # --8<-- [start:fsdp_compare]
    def eta_gap(a, b):  # the largest difference, in units of the step eta
        pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
        gaps = [np.max(np.abs(np.asarray(u) - np.asarray(v))) for u, v in pairs]
        return float(max(gaps)) / learning_rate

    moment_gap = largest_gap((s_fsdp.m, s_fsdp.v), (s_one.m, s_one.v))
    step_gap = eta_gap(p_fsdp, p_one)
    # One device again, with the batch's rows in reverse order
    p_rev, s_rev = params, optimizer.init(params)
    for _ in range(n_train):
        p_rev, s_rev, _ = train_step(
            next_token_loss, optimizer, config, p_rev, s_rev, tokens[::-1]
        )
    reorder_gap = eta_gap(p_rev, p_one)
    print(f"Adam's m and v: largest relative difference {moment_gap:.1e}")
    print(f"parameters: largest difference {step_gap:.1e} eta")
    print(f"one device, rows reversed: {reorder_gap:.1e} eta from the first")
    assert moment_gap < rtol and step_gap < 1e-2
    assert step_gap <= 10 * reorder_gap  # no worse than a mere reordering
    # --8<-- [end:fsdp_compare]

    # --8<-- [start:tensor_parallel_run]
    first = {k: params["layers"][k][0] for k in TP_SPECS}  # block 0's MLP
    shape = (batch, length - 1, config.hidden_size)  # [B, T, d]
    x_in = jax.random.normal(jax.random.key(1), shape)

    def objective(layer, p, x):  # any scalar of the layer's output
        return jnp.mean(layer(p, x) ** 2)

    tp_params = {k: jax.device_put(w, NamedSharding(mesh, TP_SPECS[k]))
                 for k, w in first.items()}
    x_rows = jax.device_put(x_in, NamedSharding(mesh, P("data")))
    value_and_grad = jax.jit(jax.value_and_grad(objective, argnums=1),
                             static_argnums=0)
    one_value, one_grads = value_and_grad(swiglu, first, x_in)
    with jax.set_mesh(mesh):
        tp_value, tp_grads = value_and_grad(tp_mlp, tp_params, x_rows)
        sm_value, sm_grads = value_and_grad(
            partial(tp_mlp_shard_map, mesh=mesh), tp_params, x_rows
        )
        weights_only = collectives(value_and_grad.lower(
            tp_mlp, tp_params, x_rows).compile().as_text())
        with_x = jax.jit(jax.grad(objective, argnums=(1, 2)), static_argnums=0)
        with_x = collectives(with_x.lower(
            tp_mlp, tp_params, x_rows).compile().as_text())
    print("gate:", jax.typeof(tp_params["gate"]), "down:",
          jax.typeof(tp_params["down"]))
    print("gradient of gate:", jax.typeof(tp_grads["gate"]))
    tp_memory = bytes_per_device(tp_params)
    print(f"MLP weights: {tp_memory[1]:,} bytes, at most {tp_memory[0]:,} "
          "on one device")
    print("gradients of the weights:", weights_only)
    print("and of x too:", with_x)
    tp_gaps = [largest_gap((tp_value, tp_grads), (one_value, one_grads)),
               largest_gap((sm_value, sm_grads), (one_value, one_grads))]
    assert max(tp_gaps) < rtol
    # x's gradient adds one all-reduce over "model" (if it has devices)
    assert len(with_x) == len(weights_only) + (mesh.shape["model"] > 1)
    # --8<-- [end:tensor_parallel_run]

    # --8<-- [start:run_processes]
    n_processes = 2
    with tempfile.TemporaryDirectory(prefix="scaling-out-") as folder:
        script = Path(folder) / "train_dp.py"
        script.write_text(WORKER)
        results = launch(str(script), n_processes, timeout_s=120)
    fitted = [np.asarray(result.pop("params")) for result in results]
    for result, fit in zip(results, fitted, strict=True):
        print(result, "params:", np.round(fit, 4))
    # each process held only its own rows, yet all fit the whole batch
    assert sum(r["own rows"] for r in results) == len(houses[0])
    process_gap = max(largest_gap(fit, one) for fit in fitted)
    assert process_gap < rtol
    # --8<-- [end:run_processes]
    # fmt: on
