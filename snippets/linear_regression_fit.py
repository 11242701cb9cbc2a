"""Chapter "Linear regression": a fit that checks its input, and conditioning."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from snippets.linear_regression_model import closed_form, loss, train_scan


# --8<-- [start:check_data]
def check_data(x, y):
    """Return x and y as float32 arrays, or say what is wrong with them."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"x and y must be 1-D arrays, got shapes {x.shape} and {y.shape}")
    if x.shape != y.shape:
        raise ValueError(f"x has {x.size} values but y has {y.size}: pass one y per x")
    if x.size < 2:
        raise ValueError(f"a line needs at least 2 points, got {x.size}")
    for name, values in [("x", x), ("y", y)]:
        bad = np.flatnonzero(~np.isfinite(values.astype(np.float64)))
        if bad.size:
            raise ValueError(
                f"{name} has {bad.size} non-finite values (nan or inf), "
                f"first at index {bad[0]}: remove or fill them before fitting"
            )
    return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)


# --8<-- [end:check_data]


# --8<-- [start:stable_step_limit]
def stable_step_limit(x, y):
    """2 / L, with L the largest eigenvalue of the loss's Hessian."""
    hessian = jax.hessian(loss)(jnp.zeros(2), x, y)  # (2, 2); the same everywhere
    return 2.0 / float(jnp.linalg.eigvalsh(hessian)[-1])


# --8<-- [end:stable_step_limit]


# --8<-- [start:fit]
class TrainingDiverged(ValueError):
    """Gradient descent blew up: the step size is too large for this data."""


def fit(x, y, step_size, n_steps=1000):
    """Fit y = beta0 + beta1 * x by gradient descent; returns params and losses."""
    x, y = check_data(x, y)
    if not (np.isfinite(step_size) and step_size > 0):
        raise ValueError(f"step_size must be a positive number, got {step_size}")
    params, losses, _path = train_scan(jnp.zeros(2), x, y, step_size, n_steps)
    limit = stable_step_limit(x, y)
    finite = np.isfinite(np.asarray(losses))
    if not finite.all():
        what = f"the loss stopped being finite at step {np.argmin(finite)}"
    elif step_size >= limit:  # diverging, just not overflowing yet
        what = f"the error grows by a factor {step_size * 2 / limit - 1:.3g} each step"
    else:
        return params, losses
    raise TrainingDiverged(
        f"training diverged: {what} with step size {step_size:g}, but the stable "
        f"limit for this data is 2/L = {limit:.4g}. Use a smaller step size, or "
        "standardise x."
    )


# --8<-- [end:fit]


# --8<-- [start:steps_to_reach]
@partial(jax.jit, static_argnames="max_steps")
def steps_to_reach(x, y, step_size, target, rtol=1e-4, max_steps=100_000):
    """Descent steps from zero until within rtol of `target` (max_steps if never)."""

    def far(state):
        params, step = state
        error = jnp.max(jnp.abs(params - target)) / jnp.max(jnp.abs(target))
        return (error > rtol) & (step < max_steps)

    def step(state):
        params, count = state
        return params - step_size * jax.grad(loss)(params, x, y), count + 1

    return jax.lax.while_loop(far, step, (jnp.zeros(2), 0))[1]


# --8<-- [end:steps_to_reach]


# --8<-- [start:standardise]
def standardise(x):
    """z = (x - mean) / std: centred, with spread 1."""
    return (x - x.mean()) / x.std()


def unstandardise(params_z, x):
    """Turn the line in z back into a line in x: same predictions."""
    gamma0, gamma1 = params_z
    beta1 = gamma1 / x.std()
    return jnp.array([gamma0 - beta1 * x.mean(), beta1])


# --8<-- [end:standardise]


# --8<-- [start:conditioning_row]
def conditioning_row(name, x, y):
    """Curvatures, stable limit and steps to converge at step 1/L, for one version of x."""
    eigenvalues = jnp.linalg.eigvalsh(jax.hessian(loss)(jnp.zeros(2), x, y))
    smallest, largest = float(eigenvalues[0]), float(eigenvalues[-1])
    target = closed_form(x, y)[1]
    steps = int(steps_to_reach(x, y, 1 / largest, target))
    return {
        "x": name,
        "L": largest,
        "condition": largest / smallest,
        "limit": 2 / largest,
        "steps": steps,
    }


# --8<-- [end:conditioning_row]
