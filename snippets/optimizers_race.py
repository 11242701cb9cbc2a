"""Chapter "Optimizers": the test problems and the side-by-side comparisons."""

import jax  # these two are shown by snippets/optimizers.py:setup
import jax.numpy as jnp

# --8<-- [start:setup]
import matplotlib.pyplot as plt
import numpy as np
# --8<-- [end:setup]

from snippets.optimizers import adam, adamw, rmsprop, sgd, train
from snippets.linear_regression_model import closed_form, loss, make_houses


# --8<-- [start:problems]
def ill_conditioned(p):
    """A quadratic bowl 100 times more curved along p[1] than along p[0]."""
    return 0.5 * (p[0] ** 2 + 100 * p[1] ** 2)


def rosenbrock(p):
    """A curved, flat-bottomed valley with its minimum 0 at (1, 1)."""
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


# --8<-- [end:problems]


# --8<-- [start:lineup]
OPTIMIZERS = {
    "SGD": lambda lr: sgd(lr),
    "momentum": lambda lr: sgd(lr, momentum=0.9),
    "Nesterov": lambda lr: sgd(lr, momentum=0.9, nesterov=True),
    "RMSProp": lambda lr: rmsprop(lr),
    "Adam": lambda lr: adam(lr),
    "AdamW": lambda lr: adamw(lr, weight_decay=1e-4),
}
# --8<-- [end:lineup]


# --8<-- [start:sweep]
def final_losses(objective, start, make, learning_rates, n_steps):
    """The loss after n_steps for each learning rate: one compiled, vmapped run."""

    def final(lr):
        params, _, _ = train(objective, start, make(lr), n_steps)
        return objective(params)

    return np.asarray(jax.vmap(final)(jnp.asarray(learning_rates)))


def best_learning_rate(losses, learning_rates):
    """The rate with the lowest finite final loss."""
    finite = np.where(np.isfinite(losses), losses, np.inf)
    return float(learning_rates[np.argmin(finite)])


def steps_to_tolerance(losses, minimum, tol):
    """First step whose loss is within tol of the minimum, or None."""
    close = np.flatnonzero(np.asarray(losses) - minimum <= tol)
    return int(close[0]) if close.size else None


# --8<-- [end:sweep]


# --8<-- [start:plot_paths]
def plot_paths(ax, objective, paths, window, levels):
    """Contour lines of a 2-D objective, and one path per optimizer over them."""
    (x0, x1), (y0, y1) = window
    gx, gy = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    values = np.asarray(jax.vmap(objective)(jnp.stack([gx.ravel(), gy.ravel()], 1)))
    ax.contour(gx, gy, values.reshape(gx.shape), levels=levels, colors="gray", linewidths=0.6)
    for name, path in paths.items():
        ax.plot(path[:, 0], path[:, 1], lw=1.2, label=name)
    ax.set(xlim=(x0, x1), ylim=(y0, y1))


# --8<-- [end:plot_paths]


if __name__ == "__main__":
    # --8<-- [start:raw_houses]
    x, y = make_houses(jax.random.key(0))
    area_m2 = 150 + 100 * x  # the same houses, floor area in square metres

    def raw_loss(params):
        return loss(params, area_m2, y)

    hessian = np.asarray(jax.hessian(raw_loss)(jnp.zeros(2)))
    curvatures = np.linalg.eigvalsh(hessian)
    print(f"curvature along beta0: {hessian[0, 0]:.0f}, along beta1: {hessian[1, 1]:.0f}")
    print(
        f"condition number L/mu = {curvatures[-1] / curvatures[0]:.3g}, "
        f"stable step 2/L = {2 / curvatures[-1]:.2g}"
    )
    # --8<-- [end:raw_houses]

    # --8<-- [start:run_sweeps]
    problems = {  # objective, start, minimum
        "houses, x in m²": (raw_loss, jnp.zeros(2), float(raw_loss(closed_form(area_m2, y)[1]))),
        "ill-conditioned bowl": (ill_conditioned, jnp.array([-4.0, 1.0]), 0.0),
        "Rosenbrock": (rosenbrock, jnp.array([-1.2, 1.0]), 0.0),
    }
    learning_rates = np.logspace(-6, 0, 13)
    n_steps = 1000
    sweeps = {
        problem: {
            name: final_losses(objective, start, make, learning_rates, n_steps)
            for name, make in OPTIMIZERS.items()
        }
        for problem, (objective, start, _) in problems.items()
    }
    best = {
        problem: {
            name: best_learning_rate(losses, learning_rates) for name, losses in by_name.items()
        }
        for problem, by_name in sweeps.items()
    }
    for problem, rates in best.items():
        print(f"{problem:21}", "  ".join(f"{n} {r:.0e}" for n, r in rates.items()))
    # --8<-- [end:run_sweeps]

    # --8<-- [start:draw_sweeps]
    fig, axes = plt.subplots(1, 3, num="learning_rate_sweep", figsize=(11, 3.4), sharey=True)
    for ax, (problem, by_name) in zip(axes, sweeps.items(), strict=True):
        minimum = problems[problem][2]
        for name, losses in by_name.items():
            ax.loglog(learning_rates, np.maximum(losses - minimum, 1e-12), ".-", label=name)
        ax.set(title=problem, xlabel="learning rate", ylim=(1e-12, 1e6))
    axes[0].set_ylabel(f"loss above its minimum after {n_steps} steps")
    axes[-1].legend(loc="lower left", fontsize=8)
    plt.show()
    # --8<-- [end:draw_sweeps]

    # --8<-- [start:run_best]
    runs = {
        problem: {
            name: train(objective, start, make(best[problem][name]), n_steps)
            for name, make in OPTIMIZERS.items()
        }
        for problem, (objective, start, _) in problems.items()
    }
    tolerance = 1e-3
    steps_needed = {
        problem: {
            name: steps_to_tolerance(losses, problems[problem][2], tolerance)
            for name, (_, losses, _) in by_name.items()
        }
        for problem, by_name in runs.items()
    }
    print(f"steps until the loss is within {tolerance} of its minimum (- for never):")
    print(f"{'':21}" + "".join(f"{name:>10}" for name in OPTIMIZERS))
    for problem, counts in steps_needed.items():
        print(
            f"{problem:21}" + "".join(f"{c if c is not None else '-':>10}" for c in counts.values())
        )
    # --8<-- [end:run_best]

    # --8<-- [start:draw_losses]
    fig, axes = plt.subplots(1, 3, num="loss_curves", figsize=(11, 3.4), sharey=True)
    for ax, (problem, by_name) in zip(axes, runs.items(), strict=True):
        for name, (_, losses, _) in by_name.items():
            excess = np.maximum(np.asarray(losses) - problems[problem][2], 1e-12)
            ax.semilogy(excess, label=name)
        ax.set(title=problem, xlabel="step", ylim=(1e-12, 1e6))
    axes[0].set_ylabel("loss above its minimum")
    axes[-1].legend(loc="lower left", fontsize=8)
    plt.show()
    # --8<-- [end:draw_losses]

    # --8<-- [start:draw_paths]
    fig, axes = plt.subplots(1, 2, num="optimizer_paths", figsize=(11, 4))
    bowl_paths = {n: path for n, (_, _, path) in runs["ill-conditioned bowl"].items()}
    plot_paths(axes[0], ill_conditioned, bowl_paths, ((-4.5, 1), (-1.2, 1.2)), 12)
    valley_paths = {n: path for n, (_, _, path) in runs["Rosenbrock"].items()}
    plot_paths(
        axes[1], rosenbrock, valley_paths, ((-1.5, 1.5), (-0.5, 1.6)), np.geomspace(0.01, 500, 12)
    )
    axes[0].set_title("ill-conditioned bowl")
    axes[1].set_title("Rosenbrock")
    axes[1].legend(loc="lower right", fontsize=8)
    plt.show()
    # --8<-- [end:draw_paths]

    # --8<-- [start:adamw_vs_l2]
    z = (x - x.mean()) / x.std()
    decay, rate, steps = 0.1, 0.05, 3000

    def with_l2(params):  # the penalty (lambda / 2) |theta|^2 inside the loss
        return loss(params, z, y) + 0.5 * decay * jnp.sum(params**2)

    l2_params, _, _ = train(with_l2, jnp.zeros(2), adam(rate), steps)
    adamw_params, _, _ = train(
        lambda p: loss(p, z, y), jnp.zeros(2), adamw(rate, weight_decay=decay), steps
    )
    design = jnp.stack([jnp.ones_like(z), z], axis=1)  # ridge regression, exactly:
    ridge = jnp.linalg.solve(
        2 * design.T @ design / z.size + decay * jnp.eye(2), 2 * design.T @ y / z.size
    )
    print(f"Adam + L2 penalty: beta = {l2_params}")
    print(f"ridge closed form: beta = {ridge}")
    print(f"AdamW:             beta = {adamw_params}, 1/lambda = {1 / decay:g}")
    # --8<-- [end:adamw_vs_l2]

    # --8<-- [start:with_optax]
    import optax

    def train_with_optax(objective, params, optimizer, n_steps):
        state = optimizer.init(params)

        def step(carry, _):
            params, state = carry
            grads = jax.grad(objective)(params)
            updates, state = optimizer.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), None

        (params, _), _ = jax.lax.scan(step, (params, state), length=n_steps)
        return params

    theirs = jax.jit(train_with_optax, static_argnums=(0, 2, 3))(
        rosenbrock, jnp.array([-1.2, 1.0]), optax.adam(0.01), n_steps
    )
    ours, _, _ = train(rosenbrock, jnp.array([-1.2, 1.0]), adam(0.01), n_steps)
    print(
        f"optax.adam: {theirs}, ours: {ours}, "
        f"largest difference {jnp.max(jnp.abs(theirs - ours)):.1e}"
    )
    # --8<-- [end:with_optax]
