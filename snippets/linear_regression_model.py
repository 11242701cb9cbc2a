"""Chapter "Linear regression": data, the loss, and four ways to descend it."""

# --8<-- [start:setup]
from functools import partial

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
# --8<-- [end:setup]


# --8<-- [start:make_houses]
def make_houses(key, n=200, beta0=3.0, beta1=34.41, noise=3.0):
    """n houses: floor area x and price y = beta0 + beta1 * x + noise.

    x is in hundreds of square metres, measured from the town's average
    house, so it is centred on 0 with a spread of 0.5.
    """
    key_area, key_noise = jax.random.split(key)
    x = 0.5 * jax.random.normal(key_area, (n,))  # (n,)
    y = beta0 + beta1 * x + noise * jax.random.normal(key_noise, (n,))  # (n,)
    return x, y


# --8<-- [end:make_houses]


# --8<-- [start:mse]
def mse(beta0, beta1, x, y):
    """Mean squared error of the line beta0 + beta1 * x on the data (x, y)."""
    residual = y - (beta0 + beta1 * x)  # (n,)
    return jnp.mean(residual**2)


# --8<-- [end:mse]


# --8<-- [start:hand_gradients]
def hand_gradients(beta0, beta1, x, y):
    """dL/dbeta0 = -2 mean(r) and dL/dbeta1 = -2 mean(r x), with r the residual."""
    residual = y - (beta0 + beta1 * x)
    return -2 * jnp.mean(residual), -2 * jnp.mean(residual * x)


# --8<-- [end:hand_gradients]


# --8<-- [start:train_classic]
def train_classic(x, y, step_size, n_steps, report_every=100):
    """The classic loop: two grad calls a step, one per parameter."""
    beta0, beta1 = 0.0, 0.0
    for step in range(n_steps):
        grad0 = jax.grad(mse, argnums=0)(beta0, beta1, x, y)
        grad1 = jax.grad(mse, argnums=1)(beta0, beta1, x, y)
        beta0 = beta0 - step_size * grad0
        beta1 = beta1 - step_size * grad1
        if (step + 1) % report_every == 0:
            print(
                f"step {step + 1:4d}: beta0 = {beta0:7.4f}, beta1 = {beta1:7.4f}, "
                f"loss = {mse(beta0, beta1, x, y):8.4f}"
            )
    return jnp.array([beta0, beta1])


# --8<-- [end:train_classic]


# --8<-- [start:train_both_at_once]
def train_both_at_once(x, y, step_size, n_steps):
    """One grad call a step gives both partial derivatives."""
    gradient = jax.grad(mse, argnums=(0, 1))
    beta0, beta1 = 0.0, 0.0
    for _ in range(n_steps):
        grad0, grad1 = gradient(beta0, beta1, x, y)
        beta0, beta1 = beta0 - step_size * grad0, beta1 - step_size * grad1
    return jnp.array([beta0, beta1])


# --8<-- [end:train_both_at_once]


# --8<-- [start:loss_of_params]
def loss(params, x, y):
    """The same loss, taking both parameters as one array [beta0, beta1]."""
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
    """The whole training as one compiled loop; returns the final parameters,
    and the loss and parameters before each step."""

    def step(params, _):
        value, gradient = jax.value_and_grad(loss)(params, x, y)
        return params - step_size * gradient, (value, params)

    params, (losses, path) = jax.lax.scan(step, params, length=n_steps)
    return params, losses, path  # (2,), (n_steps,), (n_steps, 2)


# --8<-- [end:train_scan]


# --8<-- [start:closed_form]
def closed_form(x, y):
    """Least squares exactly: the normal equations, and jnp.linalg.lstsq."""
    design = jnp.stack([jnp.ones_like(x), x], axis=1)  # (n, 2): columns 1 and x
    normal = jnp.linalg.solve(design.T @ design, design.T @ y)
    lstsq, *_ = jnp.linalg.lstsq(design, y)
    return normal, lstsq


# --8<-- [end:closed_form]


if __name__ == "__main__":
    from snippets.linear_regression_fit import (
        TrainingDiverged,
        conditioning_row,
        fit,
        stable_step_limit,
        standardise,
        unstandardise,
    )
    from snippets.linear_regression_plots import plot_fit, plot_path

    # --8<-- [start:data]
    x, y = make_houses(jax.random.key(0))
    print(f"{x.size} houses; the first three: x = {np.round(x[:3], 2)}, y = {np.round(y[:3], 1)}")
    # --8<-- [end:data]

    # --8<-- [start:draw_data]
    fig, ax = plt.subplots(num="houses", figsize=(7, 3.6))
    plot_fit(ax, x, y, [("true line: 3 + 34.41 x", (3.0, 34.41))])
    plt.show()
    # --8<-- [end:draw_data]

    # --8<-- [start:raw_difference]
    for beta0 in [0.0, 100.0, 1000.0]:
        residual = y - (beta0 + 34.41 * x)
        print(
            f"beta0 = {beta0:6}: mean residual = {jnp.mean(residual):9.2f}, "
            f"mean squared residual = {jnp.mean(residual**2):10.2f}"
        )
    # --8<-- [end:raw_difference]

    # --8<-- [start:check_gradients]
    by_hand = hand_gradients(1.0, 2.0, x, y)
    by_jax = (jax.grad(mse, argnums=0)(1.0, 2.0, x, y), jax.grad(mse, argnums=1)(1.0, 2.0, x, y))
    print(f"by hand: dL/dbeta0 = {by_hand[0]:.5f}, dL/dbeta1 = {by_hand[1]:.5f}")
    print(f"by grad: dL/dbeta0 = {by_jax[0]:.5f}, dL/dbeta1 = {by_jax[1]:.5f}")
    # --8<-- [end:check_gradients]

    # --8<-- [start:run_classic]
    step_size, n_steps = 0.03, 100
    classic = train_classic(x, y, step_size, n_steps, report_every=20)
    # --8<-- [end:run_classic]

    # --8<-- [start:exact]
    normal, lstsq = closed_form(x, y)
    print(f"normal equations: beta0 = {normal[0]:.4f}, beta1 = {normal[1]:.4f}")
    print(f"jnp.linalg.lstsq: beta0 = {lstsq[0]:.4f}, beta1 = {lstsq[1]:.4f}")
    # --8<-- [end:exact]

    # --8<-- [start:why_beta1_lags]
    hessian = np.asarray(jax.hessian(loss)(jnp.zeros(2), x, y))  # (2, 2)
    print(f"Hessian of the loss:\n{hessian}")
    for i, name in enumerate(["beta0", "beta1"]):
        predicted = (1 - step_size * hessian[i, i]) ** n_steps
        left = (lstsq[i] - classic[i]) / lstsq[i]
        print(
            f"{name}: curvature {hessian[i, i]:.3f}, predicted share of the way "
            f"left {predicted:.3f}, actually left {left:.3f}"
        )
    # --8<-- [end:why_beta1_lags]

    # --8<-- [start:same_numbers]
    both = train_both_at_once(x, y, step_size, n_steps)
    jitted = train_jitted_steps(x, y, step_size, n_steps)
    scanned, losses, path = train_scan(jnp.zeros(2), x, y, step_size, n_steps)
    for name, params in [("one grad call", both), ("jitted step", jitted), ("lax.scan", scanned)]:
        print(
            f"{name:14}: beta = {params}, largest difference from the classic loop "
            f"{jnp.max(jnp.abs(params - classic)):.1e}"
        )
    # --8<-- [end:same_numbers]

    # --8<-- [start:draw_fit]
    fig, ax = plt.subplots(num="fitted_lines", figsize=(7, 3.6))
    lines = [("true line", (3.0, 34.41)), ("closed form", lstsq), (f"{n_steps} steps", classic)]
    plot_fit(ax, x, y, lines)
    plt.show()
    # --8<-- [end:draw_fit]

    # --8<-- [start:draw_loss]
    fig, ax = plt.subplots(num="loss_curve", figsize=(7, 3))
    ax.semilogy(losses - loss(lstsq, x, y), label="loss minus its minimum")
    ax.set(xlabel="step", ylabel="excess loss")
    ax.legend()
    plt.show()
    # --8<-- [end:draw_loss]

    # --8<-- [start:draw_path]
    fig, ax = plt.subplots(num="descent_path", figsize=(6, 4))
    plot_path(ax, x, y, path, lstsq)
    plt.show()
    # --8<-- [end:draw_path]

    # --8<-- [start:limit]
    limit = stable_step_limit(x, y)
    print(f"largest curvature L = {2 / limit:.4f}, stable limit 2/L = {limit:.4f}")
    for factor in [0.99, 1.01]:
        _, trial_losses, _ = train_scan(jnp.zeros(2), x, y, factor * limit, n_steps)
        print(f"step {factor} * 2/L: loss {trial_losses[0]:.1f} -> {trial_losses[-1]:.3g}")
    # --8<-- [end:limit]

    # --8<-- [start:diverged]
    try:
        fit(x, y, step_size=1.05 * limit)
    except TrainingDiverged as err:
        print(f"TrainingDiverged: {err}")
    # --8<-- [end:diverged]

    # --8<-- [start:conditioning_table]
    rows = [
        conditioning_row("x as given", x, y),
        conditioning_row("x + 1.5 (not centred)", x + 1.5, y),
        conditioning_row("standardised x", standardise(x), y),
    ]
    print(f"{'':22} {'L':>7} {'L/mu':>7} {'2/L':>7} {'steps at 1/L':>13}")
    for row in rows:
        print(
            f"{row['x']:22} {row['L']:7.3f} {row['condition']:7.1f} "
            f"{row['limit']:7.3f} {row['steps']:13d}"
        )
    # --8<-- [end:conditioning_table]

    # --8<-- [start:standardised_fit]
    z = standardise(x)
    params_z, _ = fit(z, y, step_size=stable_step_limit(z, y) / 2, n_steps=5)  # step 1/L
    print(f"5 steps on standardised x, mapped back: {unstandardise(params_z, x)}")
    print(f"closed form on the original x:          {lstsq}")
    # --8<-- [end:standardised_fit]
