"""Chapter "Linear regression": the data, the loss, and ways to descend it.

Other chapters and the benchmark import these; the chapter's
demonstrations, in page order, are in linear_regression.py, whose setup
block shows the imports below.
"""

from functools import partial

import jax
import jax.numpy as jnp


# --8<-- [start:make_houses]
def make_houses(key, n=200, theta0=3.0, theta1=34.41, noise=3.0):
    """n houses: floor area x and price y = theta0 + theta1 * x + noise.

    x is in hundreds of square metres, measured from the town's average
    house: drawn around 0 with a spread of 0.5.
    """
    key_area, key_noise = jax.random.split(key)
    x = 0.5 * jax.random.normal(key_area, (n,))  # (n,)
    xi = noise * jax.random.normal(key_noise, (n,))  # (n,)
    return x, theta0 + theta1 * x + xi


# --8<-- [end:make_houses]


# --8<-- [start:mse]
def mse(theta0, theta1, x, y):
    """Mean squared error of the line theta0 + theta1 * x on the data."""
    residual = y - (theta0 + theta1 * x)  # (n,)
    return jnp.mean(residual**2)


# --8<-- [end:mse]


# --8<-- [start:hand_gradients]
def hand_gradients(theta0, theta1, x, y):
    """The partial derivatives -2 mean(r) and -2 mean(r x), r the residual."""
    residual = y - (theta0 + theta1 * x)
    return -2 * jnp.mean(residual), -2 * jnp.mean(residual * x)


# --8<-- [end:hand_gradients]


# --8<-- [start:train_classic]
def train_classic(x, y, step_size, n_steps, report_every=100):
    """The classic loop: two grad calls a step, one per parameter."""
    theta0, theta1 = 0.0, 0.0
    for step in range(n_steps):
        grad0 = jax.grad(mse, argnums=0)(theta0, theta1, x, y)
        grad1 = jax.grad(mse, argnums=1)(theta0, theta1, x, y)
        theta0 = theta0 - step_size * grad0
        theta1 = theta1 - step_size * grad1
        if (step + 1) % report_every == 0:
            loss = mse(theta0, theta1, x, y)
            print(
                f"step {step + 1:4d}: θ₀ = {theta0:7.4f}, "
                f"θ₁ = {theta1:7.4f}, loss = {loss:8.4f}"
            )
    return jnp.array([theta0, theta1])


# --8<-- [end:train_classic]


# --8<-- [start:train_both_at_once]
def train_both_at_once(x, y, step_size, n_steps):
    """One grad call a step gives both partial derivatives."""
    gradient = jax.grad(mse, argnums=(0, 1))
    theta0, theta1 = 0.0, 0.0
    for _ in range(n_steps):
        grad0, grad1 = gradient(theta0, theta1, x, y)
        theta0 = theta0 - step_size * grad0
        theta1 = theta1 - step_size * grad1
    return jnp.array([theta0, theta1])


# --8<-- [end:train_both_at_once]


# --8<-- [start:loss_of_params]
def loss(params, x, y):
    """The same loss, taking both parameters as one array [theta0, theta1]."""
    return mse(params[0], params[1], x, y)


# --8<-- [end:loss_of_params]


# --8<-- [start:jitted_step]
@jax.jit
def descent_step(params, x, y, step_size):
    """One compiled step: loss and gradient in one pass, then the update."""
    value, gradient = jax.value_and_grad(loss)(params, x, y)
    return params - step_size * gradient, value


def train_jitted_steps(x, y, step_size, n_steps):
    params = jnp.zeros(2)
    for _ in range(n_steps):
        params, _value = descent_step(params, x, y, step_size)
    return params


# --8<-- [end:jitted_step]


# --8<-- [start:train_scan]
@partial(jax.jit, static_argnames="n_steps")
def train_scan(params, x, y, step_size, n_steps):
    """The whole training as one compiled loop. Returns the final
    parameters, and the loss and the parameters before each step."""

    def step(params, _):
        value, gradient = jax.value_and_grad(loss)(params, x, y)
        return params - step_size * gradient, (value, params)

    params, (losses, path) = jax.lax.scan(step, params, length=n_steps)
    return params, losses, path  # (2,), (n_steps,), (n_steps, 2)


# --8<-- [end:train_scan]


# --8<-- [start:closed_form]
def closed_form(x, y):
    """Least squares exactly: the normal equations, and jnp.linalg.lstsq."""
    design = jnp.stack([jnp.ones_like(x), x], axis=1)  # (n, 2): 1 and x
    normal = jnp.linalg.solve(design.T @ design, design.T @ y)
    lstsq, *_ = jnp.linalg.lstsq(design, y)
    return normal, lstsq


# --8<-- [end:closed_form]
