"""Chapter "Scaling out": the Llama with sharded parameters (FSDP), and one
tensor-parallel layer. Definitions only; the page's demonstrations are in
scaling_out.py."""

from functools import partial

import jax
import jax.numpy as jnp
from jax import P

from snippets.llama import block, check_tokens
from snippets.llama_layers import (
    causal_mask,
    rms_norm,
    rope_angles,
    rope_frequencies,
)
from snippets.optimizers import apply_updates


# --8<-- [start:fsdp_specs]
def fsdp_spec(shape, size, skip_first=False):
    """Split the largest dimension that `size` divides over "data";
    replicate an array that has none (a norm weight of width 60 on eight
    devices, say)."""
    dims = range(1 if skip_first else 0, len(shape))
    fits = [i for i in dims if shape[i] % size == 0]
    if not fits:
        return P()
    split = max(fits, key=lambda i: (shape[i], i))
    return P(*[None] * split, "data")


def fsdp_specs(params, mesh):
    """A spec per parameter. The stacked layers keep their leading L axis
    whole: lax.scan takes one layer at a time from it."""
    size = mesh.shape["data"]
    specs = {
        k: fsdp_spec(w.shape, size) for k, w in params.items() if k != "layers"
    }
    specs["layers"] = {
        k: fsdp_spec(w.shape, size, skip_first=True)
        for k, w in params["layers"].items()
    }
    return specs


# --8<-- [end:fsdp_specs]


# --8<-- [start:bytes_per_device]
def bytes_per_device(tree):
    """(bytes on the device holding the most, bytes of the whole arrays)."""
    held = {}
    for leaf in jax.tree.leaves(tree):
        for shard in leaf.addressable_shards:
            held[shard.device] = held.get(shard.device, 0) + shard.data.nbytes
    whole = sum(leaf.nbytes for leaf in jax.tree.leaves(tree))
    return max(held.values()), whole


# --8<-- [end:bytes_per_device]


# --8<-- [start:fsdp_loss]
def gathered(tree):
    """Every leaf whole on every device: an all-gather over the mesh."""
    return jax.tree.map(lambda w: jax.reshard(w, P()), tree)


def fsdp_loss(params, tokens, config, remat=True):
    """next_token_loss with sharded parameters: each weight is gathered
    just before it is used; a layer's weights are dropped after it ran."""
    inputs, targets = tokens[:, :-1], tokens[:, 1:, None]
    check_tokens(inputs, config)  # as forward does (a no-op inside jit)
    positions = jnp.arange(inputs.shape[1])
    mask = causal_mask(positions, positions)
    cos, sin = rope_angles(positions, rope_frequencies(config))

    def layer(x, p):
        return block(gathered(p), x, cos, sin, mask, config)[0], None

    if remat:  # recompute each layer, gather included, in the backward pass:
        # without it every gathered layer would stay alive until then
        layer = jax.checkpoint(layer)
    embed = gathered(params["embed"])
    # A lookup by sharded tokens: say that the rows stay split by "data".
    x = embed.at[inputs].get(out_sharding=P("data", None, None))
    x, _ = jax.lax.scan(layer, x, params["layers"])
    x = rms_norm(x, gathered(params["norm"]), config.rms_norm_eps)
    tied = config.tie_word_embeddings
    head = embed.T if tied else gathered(params["head"])
    log_probs = jax.nn.log_softmax((x @ head).astype(jnp.float32), axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_probs, targets, axis=-1))


# --8<-- [end:fsdp_loss]


# --8<-- [start:train_step]
@partial(jax.jit, static_argnames=("loss_fn", "optimizer", "config"))
def train_step(loss_fn, optimizer, config, params, state, tokens):
    """One optimizer step on loss_fn(params, tokens, config)."""
    loss, grads = jax.value_and_grad(loss_fn)(params, tokens, config)
    updates, state = optimizer.update(grads, state, params)
    return apply_updates(params, updates), state, loss


# --8<-- [end:train_step]


# --8<-- [start:tensor_parallel]
TP_SPECS = {  # gate and up split by columns, down by rows
    "gate": P(None, "model"),
    "up": P(None, "model"),
    "down": P("model", None),
}


def tp_mlp(p, x):  # x [B, T, d], rows split over "data"
    """SwiGLU with its hidden units split over the "model" axis."""
    h = jax.nn.silu(x @ p["gate"]) * (x @ p["up"])  # units split by "model"
    # Each device holds a partial sum over its hidden units: add them up
    # (an all-reduce), leaving the rows split over "data" as they were.
    return jnp.matmul(h, p["down"], out_sharding=P("data", None, None))


def tp_mlp_local(p, x):  # this device's rows, and its share of the weights
    """The same layer for shard_map: the partial sums added by psum."""
    h = jax.nn.silu(x @ p["gate"]) * (x @ p["up"])  # my rows, my units
    return jax.lax.psum(h @ p["down"], "model")


def tp_mlp_shard_map(p, x, mesh):
    return jax.shard_map(
        tp_mlp_local,
        mesh=mesh,
        in_specs=(TP_SPECS, P("data")),
        out_specs=P("data"),  # whole along "model" after the psum
    )(p, x)


# --8<-- [end:tensor_parallel]
