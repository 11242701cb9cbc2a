"""Every model of the chapter "Scaling out" on one device and on eight.

Run by tests/test_scaling_out.py in a fresh interpreter, since the pytest
process already runs JAX with one device: `python tests/scaling_out_check.py
OUT.json` with JAX_NUM_CPU_DEVICES=8 and JAX_PLATFORMS=cpu in the
environment. Writes the numbers the tests compare as JSON.
"""

import json
import sys
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import P
from jax.sharding import NamedSharding

from snippets.linear_regression_model import loss, make_houses
from snippets.llama import next_token_loss
from snippets.llama_config import LlamaConfig, init_params
from snippets.llama_layers import swiglu
from snippets.neural_networks import classifier_loss, init_mlp, make_spirals, mlp
from snippets.optimizers import AdamState, SGDState, adamw, sgd
from snippets.scaling_out import (
    collectives,
    descend,
    replicate,
    shard_map_descend,
    shard_rows,
)
from snippets.scaling_out_llama import (
    TP_SPECS,
    bytes_per_device,
    fsdp_loss,
    fsdp_specs,
    tp_mlp,
    tp_mlp_shard_map,
    train_step,
)


def tolist(tree):
    return jax.tree.map(lambda leaf: np.asarray(leaf, np.float64).tolist(), tree)


def houses_loss(params, batch):
    return loss(params, *batch)


def data_parallel(out, mesh):
    """The line and the MLP: one device, jit over the mesh, shard_map."""
    models = {
        "houses": (houses_loss, jnp.zeros(2), make_houses(jax.random.key(0)), 0.1, 100),
        "mlp": (
            classifier_loss(mlp),
            init_mlp(jax.random.key(4), [2, 64, 64, 3]),
            make_spirals(jax.random.key(0), n=1024),
            0.5,
            50,
        ),
    }
    for name, (loss_fn, start, batch, eta, steps) in models.items():
        args = replicate(mesh, start), shard_rows(mesh, batch)
        one, one_losses = descend(loss_fn, start, batch, eta, steps)
        many, many_losses = descend(loss_fn, *args, eta, steps)
        mapped, mapped_losses = shard_map_descend(loss_fn, mesh, *args, eta, steps)
        grads_mean, _ = shard_map_descend(loss_fn, mesh, *args, eta, steps, False, "grads")
        out[name] = {
            "start": tolist(start),
            "one": tolist(one),
            "jit": tolist(many),
            "shard_map": tolist(mapped),
            "shard_map_grads": tolist(grads_mean),
            "losses": tolist([one_losses, many_losses, mapped_losses]),
            "jit_sharding": [str(leaf.sharding.spec) for leaf in jax.tree.leaves(many)],
        }
        # One step from the start: check_vma=True with a pmean of the
        # gradients; no pmean and no check; device 0's rows on one device.
        first, _ = descend(loss_fn, start, batch, eta, 1)
        trap, _ = shard_map_descend(loss_fn, mesh, *args, eta, 1, True, "grads")
        unchecked, _ = shard_map_descend(loss_fn, mesh, *args, eta, 1, False, None)
        rows_0 = jax.tree.map(lambda a: a[: len(a) // len(mesh.devices.flat)], batch)
        own, _ = descend(loss_fn, start, rows_0, eta, 1)
        out[name]["one_step"] = tolist(first)
        out[name]["trap_step"] = tolist(trap)
        out[name]["unchecked_step"] = tolist(unchecked)
        out[name]["device_0_step"] = tolist(own)
        try:
            shard_map_descend(loss_fn, mesh, *args, eta, 1, True, None)
            out[name]["no_pmean_checked"] = "accepted"
        except ValueError as err:
            out[name]["no_pmean_checked"] = str(err)
        compiled = descend.lower(loss_fn, *args, eta, steps).compile()
        out[name]["collectives"] = collectives(compiled.as_text())


def fsdp(out, mesh):
    config = LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=64,
    )
    params = init_params(config, jax.random.key(0))
    tokens = jax.random.randint(jax.random.key(1), (16, 17), 0, config.vocab_size)
    specs = fsdp_specs(params, mesh)
    shardings = jax.tree.map(lambda s: NamedSharding(mesh, s), specs)
    sharded = jax.device_put(params, shardings)
    split_tokens = shard_rows(mesh, tokens)
    one_grads = jax.jit(jax.grad(next_token_loss), static_argnums=2)(params, tokens, config)
    with jax.set_mesh(mesh):
        grads = jax.jit(jax.grad(fsdp_loss), static_argnums=2)(sharded, split_tokens, config)
    with jax.set_mesh(mesh):
        no_remat = jax.jit(jax.grad(partial(fsdp_loss, remat=False)), static_argnums=2)
        grads_no_remat = no_remat(sharded, split_tokens, config)
        scratch = [
            jax.jit(jax.grad(f), static_argnums=2)
            .lower(sharded, split_tokens, config)
            .compile()
            .memory_analysis()
            .temp_size_in_bytes
            for f in [fsdp_loss, partial(fsdp_loss, remat=False)]
        ]
    out["fsdp"] = {
        "one_grads": tolist(one_grads),
        "grads": tolist(grads),
        "grads_no_remat": tolist(grads_no_remat),
        "scratch": scratch,
        "grad_specs": jax.tree.map(lambda g: str(g.sharding.spec), grads),
        "specs": jax.tree.map(str, specs),
        "memory": bytes_per_device(sharded),
    }
    replicated = NamedSharding(mesh, P())
    # jit(init) without a mesh set, and under jax.set_mesh
    bare = jax.jit(adamw(1e-2).init)(sharded)
    with jax.set_mesh(mesh):
        in_mesh = jax.jit(adamw(1e-2).init)(sharded)
    out["fsdp"]["init_without_mesh"] = sorted(
        {d.id for m in jax.tree.leaves(bare.m) for d in m.sharding.device_set}
    )
    out["fsdp"]["init_under_mesh"] = jax.tree.map(lambda m: str(m.sharding.spec), in_mesh.m)
    for name, optimizer, state_of in [
        ("adamw", adamw(1e-2), lambda s: AdamState(replicated, s, s)),
        ("sgd", sgd(0.1, momentum=0.9), lambda s: SGDState(s, replicated)),
    ]:
        init = jax.jit(optimizer.init, out_shardings=state_of(shardings))
        p_one, s_one = params, optimizer.init(params)
        p_many, s_many = sharded, init(sharded)
        losses = []
        with jax.set_mesh(mesh):
            step = train_step.lower(
                fsdp_loss, optimizer, config, p_many, s_many, split_tokens
            ).compile()
        for _ in range(3):
            p_one, s_one, loss_one = train_step(
                next_token_loss, optimizer, config, p_one, s_one, tokens
            )
            p_many, s_many, loss_many = step(p_many, s_many, split_tokens)
            losses.append([float(loss_one), float(loss_many)])
        kinds = [c.split(":")[0] for c in collectives(step.as_text())]
        moments = s_many.m if name == "sgd" else (s_many.m, s_many.v)
        out["fsdp"][name] = {
            "losses": losses,
            "one": tolist((p_one, s_one.m)),
            "many": tolist((p_many, s_many.m)),
            "specs_after": jax.tree.map(lambda w: str(w.sharding.spec), p_many),
            "state_memory": bytes_per_device(moments),
            "collectives": {kind: kinds.count(kind) for kind in set(kinds)},
        }


def tensor_parallel(out, mesh):
    keys = jax.random.split(jax.random.key(2), 4)
    d, f = 64, 128
    p = {
        "gate": 0.1 * jax.random.normal(keys[0], (d, f)),
        "up": 0.1 * jax.random.normal(keys[1], (d, f)),
        "down": 0.1 * jax.random.normal(keys[2], (f, d)),
    }
    x = jax.random.normal(keys[3], (8, 16, d))

    def objective(layer, p, x):
        return jnp.mean(layer(p, x) ** 2)

    value_and_grad = jax.jit(jax.value_and_grad(objective, argnums=(1, 2)), static_argnums=0)
    split = {k: jax.device_put(w, NamedSharding(mesh, TP_SPECS[k])) for k, w in p.items()}
    rows = jax.device_put(x, NamedSharding(mesh, P("data")))
    with jax.set_mesh(mesh):
        outputs = {
            "jit": jax.jit(tp_mlp)(split, rows),
            "shard_map": jax.jit(tp_mlp_shard_map, static_argnums=2)(split, rows, mesh),
        }
        grads = {
            "jit": value_and_grad(tp_mlp, split, rows),
            "shard_map": value_and_grad(lambda p, x: tp_mlp_shard_map(p, x, mesh), split, rows),
        }
    weights_only = jax.jit(jax.grad(objective, argnums=1), static_argnums=0)
    with jax.set_mesh(mesh):
        tp_collectives = {
            "weights": collectives(weights_only.lower(tp_mlp, split, rows).compile().as_text()),
            "weights_and_x": collectives(
                value_and_grad.lower(tp_mlp, split, rows).compile().as_text()
            ),
        }
    out["tp"] = {
        "collectives": tp_collectives,
        "inputs": tolist((p, x)),
        "one": tolist(jax.jit(swiglu)(p, x)),
        "outputs": tolist(outputs),
        "one_grads": tolist(value_and_grad(swiglu, p, x)),
        "grads": tolist(grads),
        "output_spec": str(outputs["jit"].sharding.spec),
        "grad_specs": {k: str(g.sharding.spec) for k, g in grads["jit"][1][0].items()},
        "memory": bytes_per_device(split),
    }


def bad_batch(out, mesh):
    try:
        shard_rows(mesh, (jnp.zeros(199), jnp.zeros(199)))
    except ValueError as err:
        out["bad_batch"] = str(err)


def main(path):
    devices = jax.devices()
    out = {"devices": len(devices), "platform": devices[0].platform}
    data_mesh = jax.make_mesh((len(devices),), ("data",))
    data_parallel(out, data_mesh)
    fsdp(out, data_mesh)
    tensor_parallel(out, jax.make_mesh((len(devices) // 2, 2), ("data", "model")))
    bad_batch(out, data_mesh)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(out, handle)


if __name__ == "__main__":
    main(sys.argv[1])
