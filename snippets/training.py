"""Training tools every model needs: a learning-rate schedule, global-norm
clipping, `chain`, minibatch epochs and mixed precision. Each has the
init/update interface of snippets/optimizers.py; a later chapter reuses them."""

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from snippets.optimizers import (
    Optimizer,
    adam_init,
    adam_moments,
    apply_updates,
    check_decay,
    check_learning_rate,
    scaled,
    step_size,
)


# --8<-- [start:schedule]
def warmup_cosine_decay(
    init_value,
    peak_value,
    warmup_steps,
    decay_steps,
    end_value=0.0,
):
    """eta(t): a line from init_value to peak_value over warmup_steps, then a
    half cosine down to end_value at t = decay_steps, and end_value after.
    Like optax's, decay_steps counts the warmup steps too."""
    if not 0 <= warmup_steps < decay_steps:
        raise ValueError(
            f"need 0 <= warmup_steps < decay_steps, got warmup_steps="
            f"{warmup_steps} and decay_steps={decay_steps}"
        )
    if not (peak_value > 0 and init_value >= 0 and end_value >= 0):
        raise ValueError(
            "the schedule's values must be >= 0 and its peak > 0, got "
            f"{init_value}, {peak_value}, {end_value}"
        )

    def schedule(count):  # count: the number of steps taken so far
        fraction = count / max(warmup_steps, 1)
        rise = init_value + (peak_value - init_value) * fraction
        progress = (count - warmup_steps) / (decay_steps - warmup_steps)
        cosine = 0.5 * (1 + jnp.cos(jnp.pi * jnp.clip(progress, 0, 1)))
        fall = end_value + (peak_value - end_value) * cosine
        return jnp.where(count < warmup_steps, rise, fall)

    return schedule


# --8<-- [end:schedule]


# --8<-- [start:clipping]
def global_norm(tree):
    """The length of all entries of all leaves together, as one vector."""
    return jnp.sqrt(sum(jnp.sum(leaf**2) for leaf in jax.tree.leaves(tree)))


def clip_by_global_norm(max_norm):
    """g <- g * max_norm / |g| where |g| > max_norm. One factor for every
    leaf, so the whole gradient keeps its direction; only its length shrinks."""
    if not max_norm > 0:
        raise ValueError(f"max_norm must be a positive number, got {max_norm}")

    def init(params):
        return ()  # nothing to remember

    def update(grads, state, params=None):
        norm = global_norm(grads)

        def clip(g):
            shrunk = g / norm.astype(g.dtype) * max_norm
            return jnp.where(norm < max_norm, g, shrunk)

        return jax.tree.map(clip, grads), state

    return Optimizer(init, update)


# --8<-- [end:clipping]


# --8<-- [start:chain]
def chain(*transforms):
    """Each transform's output is the next one's input; the state is the
    tuple of their states."""

    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(grads, state, params=None):
        if len(state) != len(transforms):
            raise ValueError(
                f"the state holds {len(state)} parts for {len(transforms)} "
                "transforms: call init of this chain"
            )
        states = []
        for transform, part in zip(transforms, state, strict=True):
            grads, part = transform.update(grads, part, params)
            states.append(part)
        return grads, tuple(states)

    return Optimizer(init, update)


# --8<-- [end:chain]


# --8<-- [start:transforms]
class CountState(NamedTuple):
    count: jax.Array  # t, the number of steps taken


def scale_by_learning_rate(learning_rate):
    """u = -eta(t) g: the learning rate, or a schedule, as a transform."""
    check_learning_rate(learning_rate)

    def init(params):
        return CountState(jnp.zeros([], jnp.int32))

    def update(grads, state, params=None):
        eta = step_size(learning_rate, state.count)
        updates = jax.tree.map(lambda g: scaled(eta, g), grads)
        return updates, CountState(state.count + 1)

    return Optimizer(init, update)


def adam_direction(b1=0.9, b2=0.999, eps=1e-8, mu_dtype=None):
    """Adam without its learning rate, m_hat / (sqrt(v_hat) + eps): what
    optax calls scale_by_adam. Same state and step as `adam` above."""
    check_decay("b1", b1)
    check_decay("b2", b2)

    def init(params):
        return adam_init(params, mu_dtype)

    def update(grads, state, params=None):
        return adam_moments(grads, state, b1, b2, eps)

    return Optimizer(init, update)


# --8<-- [end:transforms]


# --8<-- [start:epoch]
def check_batches(data, batch_size):
    """The number n of examples: every leaf of `data` must hold n rows."""
    sizes = {leaf.shape[0] for leaf in jax.tree.leaves(data)}
    if len(sizes) != 1:
        raise ValueError(
            f"the arrays hold different numbers of examples {sorted(sizes)}: "
            "give inputs and labels one row per example each"
        )
    (n,) = sizes
    if not 1 <= batch_size <= n:
        raise ValueError(
            f"batch_size={batch_size}, but the data hold {n} examples: "
            f"choose a batch size from 1 to {n}"
        )
    return n


def shuffled_batches(key, n, batch_size):
    """Indices (n // batch_size, batch_size): a fresh order each epoch. The
    n % batch_size examples left over wait for another epoch's order."""
    order = jax.random.permutation(key, n)
    n_batches = n // batch_size
    return order[: n_batches * batch_size].reshape(n_batches, batch_size)


@partial(jax.jit, static_argnames=("loss_fn", "optimizer", "batch_size"))
def run_epoch(loss_fn, params, state, optimizer, data, key, batch_size):
    """One pass over `data` in shuffled minibatches: one compiled lax.scan.
    `loss_fn(params, batch)`; returns params, state and each batch's loss."""
    n = check_batches(data, batch_size)  # shapes are known while tracing

    def step(carry, batch):  # batch: (batch_size,) indices
        params, state = carry
        examples = jax.tree.map(lambda leaf: leaf[batch], data)
        loss, grads = jax.value_and_grad(loss_fn)(params, examples)
        updates, state = optimizer.update(grads, state, params)
        return (apply_updates(params, updates), state), loss

    batches = shuffled_batches(key, n, batch_size)
    (params, state), losses = jax.lax.scan(step, (params, state), batches)
    return params, state, losses


# --8<-- [end:epoch]


# --8<-- [start:cast_floats]
def cast_floats(tree, dtype):
    """Floating-point leaves in `dtype`; integer leaves (labels) unchanged."""

    def cast(leaf):
        floating = jnp.issubdtype(leaf.dtype, jnp.floating)
        return leaf.astype(dtype) if floating else leaf

    return jax.tree.map(cast, tree)


# --8<-- [end:cast_floats]


# --8<-- [start:mixed_precision]
def mixed_precision(loss_fn, compute_dtype=jnp.bfloat16):
    """`loss_fn` computed on `compute_dtype` copies of float32 master
    parameters and inputs. The cast is differentiated too, so gradients come
    back as float32 (with the accuracy of `compute_dtype`), and the
    optimizer updates the float32 masters."""

    def loss(params, batch):
        params = cast_floats(params, compute_dtype)
        batch = cast_floats(batch, compute_dtype)
        return loss_fn(params, batch).astype(jnp.float32)

    return loss


# --8<-- [end:mixed_precision]
