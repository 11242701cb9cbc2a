"""Chapter "Linear regression": a fit that checks its input; conditioning."""

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
        raise ValueError(
            f"x and y must be 1-D, got shapes {x.shape}, {y.shape}"
        )
    if x.shape != y.shape:
        raise ValueError(
            f"x has {x.size} values but y has {y.size}: pass one y per x"
        )
    if x.size < 2:
        raise ValueError(f"a line needs at least 2 points, got {x.size}")
    for name, values in [("x", x), ("y", y)]:
        bad = np.flatnonzero(~np.isfinite(values.astype(np.float64)))
        if bad.size:
            raise ValueError(
                f"{name} has {bad.size} non-finite values (nan or inf), first "
                f"at index {bad[0]}: remove or fill them before fitting"
            )
    return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)


# --8<-- [end:check_data]


# --8<-- [start:curvatures]
# jit compiles the Hessian's many small operations into one program
loss_hessian = jax.jit(jax.hessian(loss))


def curvatures(x, y):
    """lambda_min and lambda_max, the eigenvalues of the loss's Hessian."""
    hessian = loss_hessian(jnp.zeros(2), x, y)  # (2, 2), the same everywhere
    smallest, largest = jnp.linalg.eigvalsh(hessian)  # ascending order
    return float(smallest), float(largest)


def stable_step_limit(x, y):
    """2 / lambda_max: descent does not converge at this step size, and
    diverges above it."""
    return 2.0 / curvatures(x, y)[1]


# --8<-- [end:curvatures]


# --8<-- [start:fit]
class TrainingDiverged(ValueError):
    """Descent does not converge: the step size is too large for this data."""


def fit(x, y, step_size, n_steps=1000):
    """Fit y = theta0 + theta1 * x by descent; returns params and losses."""
    x, y = check_data(x, y)
    if not (np.isfinite(step_size) and step_size > 0):
        raise ValueError(
            f"step_size must be a positive number, got {step_size}"
        )
    params, losses, _path = train_scan(jnp.zeros(2), x, y, step_size, n_steps)
    limit = stable_step_limit(x, y)
    finite = np.isfinite(np.asarray(losses))
    growth = step_size * 2 / limit - 1  # |1 - eta lambda_max| at this step
    if not finite.all():
        first_bad = np.argmin(finite)
        what = f"diverged: the loss stopped being finite at step {first_bad}"
    elif growth > 1:  # diverging, just not overflowing yet
        what = f"diverged: the error grows by a factor {growth:.3g} each step"
    elif growth == 1:  # exactly at the limit: it oscillates forever
        what = "does not converge: the error keeps its size"
    else:
        return params, losses
    raise TrainingDiverged(
        f"training {what} with step size {step_size:g}, but the stable "
        f"limit for this data is 2/λ_max = {limit:.4g}. Use a smaller step "
        "size, or standardise x."
    )


# --8<-- [end:fit]


# --8<-- [start:steps_to_reach]
@partial(jax.jit, static_argnames="max_steps")
def steps_to_reach(x, y, step_size, target, rtol=1e-4, max_steps=100_000):
    """Descent steps from zero until within rtol of `target` (or max_steps)."""

    def far(state):  # the loop's condition: keep going while this is True
        params, count = state
        error = jnp.max(jnp.abs(params - target)) / jnp.max(jnp.abs(target))
        return (error > rtol) & (count < max_steps)

    def step(state):  # the loop's body: one descent step
        params, count = state
        gradient = jax.grad(loss)(params, x, y)
        return params - step_size * gradient, count + 1

    return jax.lax.while_loop(far, step, (jnp.zeros(2), 0))[1]


# --8<-- [end:steps_to_reach]


# --8<-- [start:standardise]
def standardise(x):
    """z = (x - mean) / std: centred, with spread 1."""
    return (x - x.mean()) / x.std()


def unstandardise(params_z, x):
    """Turn the line in z back into a line in x: same predictions."""
    gamma0, gamma1 = params_z
    theta1 = gamma1 / x.std()
    return jnp.array([gamma0 - theta1 * x.mean(), theta1])


# --8<-- [end:standardise]


# --8<-- [start:conditioning_row]
def conditioning_row(name, x, y, rtol=1e-4):
    """Curvatures, condition number, best fixed step and the steps it takes."""
    smallest, largest = curvatures(x, y)
    kappa = largest / smallest
    best_step = 2 / (largest + smallest)
    q = (kappa - 1) / (kappa + 1)  # the error shrinks at least this much
    target = closed_form(x, y)[1]
    steps = int(steps_to_reach(x, y, best_step, target, rtol))
    # after t steps the error is at most q^t sqrt(2) of the largest entry
    need = np.log(rtol / np.sqrt(2)) / np.log(max(q, 1e-12))
    bound = max(1, int(np.ceil(need)))
    return {
        "x": name,
        "λ_max": largest,
        "κ": kappa,
        "η*": best_step,
        "q": q,
        "steps": steps,
        "bound": bound,
    }


# --8<-- [end:conditioning_row]
