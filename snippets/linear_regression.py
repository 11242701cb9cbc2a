"""Chapter "Linear regression": the page's code, in page order.

The definitions it shows live in linear_regression_model.py (the data, the
loss, the training loops), linear_regression_fit.py (a checked fit and
conditioning) and linear_regression_plots.py (the figures).
"""

# --8<-- [start:setup]
from functools import partial

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
# --8<-- [end:setup]

from snippets.linear_regression_fit import (
    TrainingDiverged,
    conditioning_row,
    curvatures,
    fit,
    stable_step_limit,
    standardise,
    unstandardise,
)
from snippets.linear_regression_model import (
    closed_form,
    hand_gradients,
    loss,
    make_houses,
    mse,
    train_both_at_once,
    train_classic,
    train_jitted_steps,
    train_scan,
)
from snippets.linear_regression_plots import plot_fit, plot_path

if __name__ == "__main__":
    # --8<-- [start:data]
    true_theta0, true_theta1 = 3.0, 34.41
    x, y = make_houses(
        jax.random.key(0), theta0=true_theta0, theta1=true_theta1
    )
    print(f"{x.size} houses; the first three:")
    print("x =", "  ".join(f"{value:6.2f}" for value in x[:3]))
    print("y =", "  ".join(f"{value:6.1f}" for value in y[:3]))
    # --8<-- [end:data]

    # --8<-- [start:draw_data]
    fig, ax = plt.subplots(num="houses", figsize=(7, 3.6))
    plot_fit(ax, x, y, [("true line", (true_theta0, true_theta1))])
    plt.show()
    # --8<-- [end:draw_data]

    # --8<-- [start:raw_difference]
    for theta0 in [0.0, 100.0, 1000.0]:
        residual = y - (theta0 + true_theta1 * x)
        print(
            f"θ₀ = {theta0:6}: mean residual {jnp.mean(residual):9.2f}, "
            f"mean squared residual {jnp.mean(residual**2):10.2f}"
        )
    # --8<-- [end:raw_difference]

    # --8<-- [start:check_gradients]
    by_hand = hand_gradients(1.0, 2.0, x, y)
    by_jax = (
        jax.grad(mse, argnums=0)(1.0, 2.0, x, y),
        jax.grad(mse, argnums=1)(1.0, 2.0, x, y),
    )
    print(f"by hand: {by_hand[0]:.5f}, {by_hand[1]:.5f}")
    print(f"by grad: {by_jax[0]:.5f}, {by_jax[1]:.5f}")
    assert np.allclose(by_hand, by_jax, rtol=1e-5)
    # --8<-- [end:check_gradients]

    # --8<-- [start:run_classic]
    step_size, n_steps = 0.03, 100
    classic = train_classic(x, y, step_size, n_steps, report_every=20)
    # --8<-- [end:run_classic]

    # --8<-- [start:exact]
    normal, lstsq = closed_form(x, y)
    print(f"normal equations: θ₀ = {normal[0]:.4f}, θ₁ = {normal[1]:.4f}")
    print(f"jnp.linalg.lstsq: θ₀ = {lstsq[0]:.4f}, θ₁ = {lstsq[1]:.4f}")
    assert np.allclose(normal, lstsq, rtol=1e-4)
    # --8<-- [end:exact]

    # --8<-- [start:hessian_blocks]
    # jit: the Hessian's many small operations compile into one program
    hessian = jax.jit(jax.hessian(loss))(jnp.zeros(2), x, y)  # (2, 2)
    by_parts = jax.jit(jax.hessian(mse, argnums=(0, 1)))
    blocks = by_parts(0.0, 0.0, x, y)  # ((H00, H01), (H10, H11))
    print(f"Hessian of the loss:\n{hessian}")
    nested = [[round(float(entry), 5) for entry in row] for row in blocks]
    print(f"argnums=(0, 1) gives the same entries, nested: {nested}")
    assert np.allclose(hessian, np.array(blocks))
    # --8<-- [end:hessian_blocks]

    # --8<-- [start:why_theta1_lags]
    left = (lstsq - classic) / lstsq  # the share of the way still to go
    predicted = (1 - step_size * np.diag(hessian)) ** n_steps
    for k, (name, entry) in enumerate([("θ₀", "H₀₀"), ("θ₁", "H₁₁")]):
        print(
            f"{name}: curvature {entry} = {hessian[k, k]:.3f}, share left "
            f"{left[k]:+.3f}, predicted (1 - η {entry})^t = {predicted[k]:.3f}"
        )
    assert abs(left[1] - predicted[1]) < 0.01 and left[1] > abs(left[0])
    # --8<-- [end:why_theta1_lags]

    # --8<-- [start:coupling]
    # each step multiplies the error theta - theta* by the matrix I - eta H
    step_matrix = np.eye(2) - step_size * np.asarray(hessian)
    error = np.linalg.matrix_power(step_matrix, n_steps) @ -np.asarray(lstsq)
    coupled = -error / lstsq  # the share of the way still to go, predicted
    print(f"coupling included: θ₀ {coupled[0]:+.3f}, θ₁ {coupled[1]:+.3f}")
    assert np.allclose(coupled, left, atol=1e-3)
    # --8<-- [end:coupling]

    # --8<-- [start:same_numbers]
    both = train_both_at_once(x, y, step_size, n_steps)
    jitted = train_jitted_steps(x, y, step_size, n_steps)
    scanned, losses, path = train_scan(jnp.zeros(2), x, y, step_size, n_steps)
    versions = {
        "one grad call": both,
        "jitted step": jitted,
        "lax.scan": scanned,
    }
    differences = {}
    for name, params in versions.items():
        differences[name] = float(jnp.max(jnp.abs(params - classic)))
        print(f"{name:14}: θ = {params}")
    largest_difference = max(differences.values())
    assert largest_difference < 1e-4
    # --8<-- [end:same_numbers]

    # --8<-- [start:draw_fit]
    fig, ax = plt.subplots(num="fitted_lines", figsize=(7, 3.6))
    lines = [
        ("true line", (true_theta0, true_theta1)),
        ("closed form", lstsq),
        (f"{n_steps} steps", classic),
    ]
    plot_fit(ax, x, y, lines)
    plt.show()
    # --8<-- [end:draw_fit]

    # --8<-- [start:draw_loss]
    fig, ax = plt.subplots(num="loss_curve", figsize=(7, 3))
    excess = np.asarray(losses - loss(lstsq, x, y))  # (n_steps,)
    ax.semilogy(excess, label="loss minus its minimum")
    ax.set(xlabel="step", ylabel="excess loss")
    ax.legend()
    plt.show()
    # late on, each step multiplies the excess by (1 - eta lambda_min)^2
    flattest = np.linalg.eigvalsh(hessian)[0]  # lambda_min
    pace = (excess[-1] / excess[-21]) ** (1 / 20)  # per step, last 20 steps
    assert np.isclose(pace, (1 - step_size * flattest) ** 2, rtol=1e-3)
    # --8<-- [end:draw_loss]

    # --8<-- [start:draw_path]
    fig, ax = plt.subplots(num="descent_path", figsize=(6, 4))
    plot_path(ax, x, y, path, lstsq)
    plt.show()
    # --8<-- [end:draw_path]

    # --8<-- [start:limit]
    limit = stable_step_limit(x, y)
    print(f"λ_max = {2 / limit:.4f}, stable limit 2/λ_max = {limit:.4f}")
    trials = {}
    for factor in [0.99, 1.01]:
        _, trials[factor], _ = train_scan(
            jnp.zeros(2), x, y, factor * limit, n_steps
        )
        first, last = trials[factor][0], trials[factor][-1]
        print(f"step {factor} * 2/λ_max: loss {first:.1f} -> {last:.3g}")
    assert trials[0.99][-1] < trials[0.99][0] < trials[1.01][-1]
    # just above the limit the loss first falls, for a few steps, then climbs
    lowest = int(np.argmin(trials[1.01]))
    assert 0 < lowest < n_steps - 1
    assert np.all(np.diff(trials[1.01][: lowest + 1]) < 0)
    # --8<-- [end:limit]

    # --8<-- [start:diverged]
    try:
        fit(x, y, step_size=1.05 * limit)
    except TrainingDiverged as err:
        print(f"TrainingDiverged: {err}")
    # --8<-- [end:diverged]

    # --8<-- [start:best_step]
    smallest, largest = curvatures(x, y)
    kappa = largest / smallest
    steps_grid = np.linspace(0.01, 2, 20_000) / largest  # candidate steps

    def slowest_factor(step):  # the largest |1 - step * lambda| over H
        return np.maximum(
            np.abs(1 - step * smallest), np.abs(1 - step * largest)
        )

    factor_grid = slowest_factor(steps_grid)
    best_on_grid = steps_grid[factor_grid.argmin()]
    print(
        f"κ = {kappa:.3f}; best step on the grid {best_on_grid:.5f}, ", end=""
    )
    print(f"2/(λ_max + λ_min) = {2 / (largest + smallest):.5f}")
    assert np.isclose(best_on_grid, 2 / (largest + smallest), rtol=1e-3)
    q = (kappa - 1) / (kappa + 1)
    assert np.isclose(factor_grid.min(), q, atol=1e-3)
    # the step 1/λ_max: safe, but its factor 1 - 1/κ is worse than q
    at_inverse = slowest_factor(1 / largest)
    assert np.isclose(at_inverse, 1 - 1 / kappa) and at_inverse > q
    # --8<-- [end:best_step]

    # --8<-- [start:conditioning_table]
    shift = 1.5
    rows = [
        conditioning_row("x as given", x, y),
        conditioning_row(f"x + {shift} (not centred)", x + shift, y),
        conditioning_row("standardised x", standardise(x), y),
    ]
    print(
        f"{'':22}{'λ_max':>8}{'κ':>8}{'η*':>8}{'q':>8}{'steps':>7}{'bound':>7}"
    )
    for row in rows:
        print(
            f"{row['x']:22}{row['λ_max']:8.3f}{row['κ']:8.1f}{row['η*']:8.3f}"
            f"{row['q']:8.3f}{row['steps']:7d}{row['bound']:7d}"
        )
        assert row["steps"] <= row["bound"]  # the contraction rate holds
    # --8<-- [end:conditioning_table]

    # --8<-- [start:standardised_fit]
    z = standardise(x)
    best_z = 2 / sum(curvatures(z, y))  # = 1/λ_max, since κ = 1
    params_z, _ = fit(z, y, step_size=best_z, n_steps=5)
    mapped_back = unstandardise(params_z, x)
    print(f"5 steps on standardised x, mapped back: {mapped_back}")
    print(f"closed form on the original x:          {lstsq}")
    assert np.allclose(mapped_back, lstsq, atol=1e-4)
    # --8<-- [end:standardised_fit]
