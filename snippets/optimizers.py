"""Chapter "Optimizers": SGD to AdamW from scratch, as pure init/update pairs."""

# --8<-- [start:setup]
import math
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
# --8<-- [end:setup]


# --8<-- [start:interface]
class Optimizer(NamedTuple):
    """`init(params) -> state`; `update(grads, state, params) -> (updates, state)`."""

    init: Any
    update: Any


def apply_updates(params, updates):
    """theta <- theta + u, leaf by leaf, for any pytree of parameters."""

    def add(p, u):  # each parameter keeps its dtype, as in optax
        return jnp.asarray(p + u).astype(p.dtype)

    return jax.tree.map(add, params, updates)


def step_size(learning_rate, count):
    """eta: a number, or a schedule's value after `count` steps taken."""
    return learning_rate(count) if callable(learning_rate) else learning_rate


def scaled(eta, direction):
    """-eta * direction, in the direction's dtype: a schedule's float32 value
    must not turn bfloat16 updates into float32 ones."""
    if not isinstance(eta, int | float):
        eta = jnp.asarray(eta, direction.dtype)
    return -eta * direction


def check_learning_rate(learning_rate):
    if callable(learning_rate):
        return  # a schedule: a function of the step count
    if isinstance(learning_rate, jax.core.Tracer):
        return  # a rate swept with vmap is a traced value: check it before the sweep
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"the learning rate must be a positive number, got {learning_rate}")


def check_decay(name, rate):
    if not (0 <= rate < 1):
        raise ValueError(f"{name} is a decay rate and must lie in [0, 1), got {rate}")


def check_state(state_tree, grads):
    """The state must have been made by init for parameters shaped like grads."""
    if jax.tree.structure(state_tree) != jax.tree.structure(grads):
        raise ValueError(
            "the optimizer state does not match the parameters: state "
            f"{jax.tree.structure(state_tree)}, gradients {jax.tree.structure(grads)}. "
            "Call init on the parameters you are training."
        )


# --8<-- [end:interface]


# --8<-- [start:sgd]
class SGDState(NamedTuple):
    momentum: Any  # m, shaped like the parameters (zeros when mu = 0)
    count: jax.Array  # t, the number of steps taken (for a schedule)


def sgd(learning_rate, momentum=0.0, nesterov=False):
    """m <- g + mu m;  u = -eta m,  or with Nesterov  u = -eta (g + mu m)."""
    check_learning_rate(learning_rate)
    check_decay("momentum", momentum)

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return SGDState(momentum=zeros, count=jnp.zeros([], jnp.int32))

    def update(grads, state, params=None):
        check_state(state.momentum, grads)
        eta = step_size(learning_rate, state.count)
        m = jax.tree.map(lambda g, m: g + momentum * m, grads, state.momentum)
        direction = jax.tree.map(lambda g, m: g + momentum * m, grads, m) if nesterov else m
        m = jax.tree.map(lambda m, old: m.astype(old.dtype), m, state.momentum)
        updates = jax.tree.map(lambda d: scaled(eta, d), direction)
        return updates, SGDState(m, state.count + 1)

    return Optimizer(init, update)


# --8<-- [end:sgd]


# --8<-- [start:rmsprop]
class RMSPropState(NamedTuple):
    nu: Any  # running mean of g^2
    count: jax.Array  # t, the number of steps taken (for a schedule)


def rmsprop(learning_rate, decay=0.9, eps=1e-8, eps_in_sqrt=True):
    """nu <- rho nu + (1 - rho) g^2;  u = -eta g / sqrt(nu + eps)
    (or -eta g / (sqrt(nu) + eps) with eps_in_sqrt=False)."""
    check_learning_rate(learning_rate)
    check_decay("decay", decay)

    def scale(g, nu):
        return g / jnp.sqrt(nu + eps) if eps_in_sqrt else g / (jnp.sqrt(nu) + eps)

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return RMSPropState(nu=zeros, count=jnp.zeros([], jnp.int32))

    def update(grads, state, params=None):
        check_state(state.nu, grads)
        eta = step_size(learning_rate, state.count)
        nu = jax.tree.map(lambda g, n: decay * n + (1 - decay) * g**2, grads, state.nu)
        updates = jax.tree.map(lambda g, n: scaled(eta, scale(g, n)), grads, nu)
        nu = jax.tree.map(lambda n, old: n.astype(old.dtype), nu, state.nu)
        return updates, RMSPropState(nu, state.count + 1)

    return Optimizer(init, update)


# --8<-- [end:rmsprop]


# --8<-- [start:adam]
class AdamState(NamedTuple):
    count: jax.Array  # t, the number of steps taken
    mu: Any  # m: running mean of g
    nu: Any  # v: running mean of g^2


def scale_by_adam(grads, state, b1, b2, eps):
    """m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    direction = m_hat / (sqrt(v_hat) + eps), m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)."""
    check_state(state.mu, grads)
    t = state.count + 1
    mu = jax.tree.map(lambda g, m: b1 * m + (1 - b1) * g, grads, state.mu)
    nu = jax.tree.map(lambda g, v: b2 * v + (1 - b2) * g**2, grads, state.nu)
    direction = jax.tree.map(
        lambda m, v: (m / (1 - b1**t)) / (jnp.sqrt(v / (1 - b2**t)) + eps), mu, nu
    )
    # The moments keep the dtypes init gave them (mu_dtype, or the parameters').
    mu = jax.tree.map(lambda m, old: m.astype(old.dtype), mu, state.mu)
    nu = jax.tree.map(lambda v, old: v.astype(old.dtype), nu, state.nu)
    return direction, AdamState(t, mu, nu)


def adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8, mu_dtype=None):
    """u = -eta m_hat / (sqrt(v_hat) + eps). m and v take the parameters'
    dtype; `mu_dtype` stores m in another (say float32 for bfloat16)."""
    check_learning_rate(learning_rate)
    check_decay("b1", b1)
    check_decay("b2", b2)

    def init(params):
        mu = jax.tree.map(lambda p: jnp.zeros_like(p, dtype=mu_dtype), params)
        nu = jax.tree.map(jnp.zeros_like, params)
        return AdamState(jnp.zeros([], jnp.int32), mu, nu)

    def update(grads, state, params=None):
        eta = step_size(learning_rate, state.count)
        direction, state = scale_by_adam(grads, state, b1, b2, eps)
        return jax.tree.map(lambda d: scaled(eta, d), direction), state

    return Optimizer(init, update)


# --8<-- [end:adam]


# --8<-- [start:adamw]
def adamw(
    learning_rate,
    b1=0.9,
    b2=0.999,
    eps=1e-8,
    weight_decay=1e-4,
    mask=None,
    mu_dtype=None,
):
    """u = -eta (m_hat / (sqrt(v_hat) + eps) + lambda theta): the decay skips Adam's
    scaling. `mask`, a pytree of bools like the parameters, limits it to some leaves."""
    check_learning_rate(learning_rate)
    check_decay("b1", b1)
    check_decay("b2", b2)
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be a number >= 0, got {weight_decay}")
    base = adam(learning_rate, b1, b2, eps, mu_dtype)

    def update(grads, state, params):
        eta = step_size(learning_rate, state.count)
        direction, state = scale_by_adam(grads, state, b1, b2, eps)
        decay = jax.tree.map(lambda p: weight_decay * p, params)
        if mask is not None:
            decay = jax.tree.map(lambda d, keep: d if keep else jnp.zeros_like(d), decay, mask)
        updates = jax.tree.map(lambda d, w: scaled(eta, d + w), direction, decay)
        return updates, state

    return Optimizer(base.init, update)


# --8<-- [end:adamw]


# --8<-- [start:train]
@partial(jax.jit, static_argnames=("objective", "optimizer", "n_steps"))
def train(objective, params, optimizer, n_steps):
    """n_steps of `optimizer` on `objective(params)`, compiled as one lax.scan.

    Returns the final parameters, the loss before each step, and the
    parameters before each step (each leaf gains a leading axis of n_steps)."""

    def step(carry, _):
        params, state = carry
        value, grads = jax.value_and_grad(objective)(params)
        updates, state = optimizer.update(grads, state, params)
        return (apply_updates(params, updates), state), (value, params)

    (params, _), (losses, path) = jax.lax.scan(
        step, (params, optimizer.init(params)), length=n_steps
    )
    return params, losses, path


# --8<-- [end:train]
