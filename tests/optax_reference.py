"""The reference loop both optimizer test files compare against: optax's own
update and apply_updates, scanned, with nothing of ours in it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def run_optax(optimizer, loss, params, n_steps):
    """`n_steps` of `optimizer` (an optax GradientTransformation) on `loss`."""

    @jax.jit
    def run(params):
        def step(carry, _):
            params, state = carry
            updates, state = optimizer.update(jax.grad(loss)(params), state, params)
            return (optax.apply_updates(params, updates), state), None

        return jax.lax.scan(step, (params, optimizer.init(params)), length=n_steps)[0][0]

    return run(params)


def largest_difference(a, b):
    """The largest absolute difference between two pytrees of arrays."""
    return max(
        float(jnp.max(jnp.abs(x - y)))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )
