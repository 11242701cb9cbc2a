"""Chapter "Optimizers": SGD to AdamW from scratch, as init/update pairs.

The definitions come first; the chapter's demonstrations, in page order,
run under `__main__`. The test problems, the stability matrices and the
path plots are in optimizers_race.py.
"""

# --8<-- [start:setup]
import math
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
# --8<-- [end:setup]


# --8<-- [start:interface]
class Optimizer(NamedTuple):
    """init(params) -> state; update(grads, state, params) -> updates, state."""

    init: Any
    update: Any


def apply_updates(params, updates):
    """theta <- theta + u, leaf by leaf, for any pytree of parameters."""

    def add(p, u):  # each parameter keeps its dtype, as in optax
        return jnp.asarray(p + u).astype(p.dtype)

    return jax.tree.map(add, params, updates)


def step_size(learning_rate, t):
    """eta: a number, or a schedule's value after t steps taken."""
    return learning_rate(t) if callable(learning_rate) else learning_rate


def scaled(eta, direction):
    """-eta * direction, in the direction's dtype: a schedule's float32
    value must not turn bfloat16 updates into float32 ones."""
    if not isinstance(eta, int | float):
        eta = jnp.asarray(eta, direction.dtype)
    return -eta * direction


def keep_dtypes(new, old):
    """The state's arrays keep the dtypes init gave them."""
    return jax.tree.map(lambda n, o: n.astype(o.dtype), new, old)


# --8<-- [end:interface]


# --8<-- [start:checks]
def check_learning_rate(learning_rate):
    if callable(learning_rate):
        return  # a schedule: a function of the step count
    if isinstance(learning_rate, jax.core.Tracer):
        return  # a rate swept with vmap is traced: it has no value to check
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(
            f"the learning rate must be a positive number, got {learning_rate}"
        )


def check_decay(name, rate):
    if not 0 <= rate < 1:
        raise ValueError(
            f"{name} is a decay rate and must lie in [0, 1), got {rate}"
        )


def check_state(state_tree, grads):
    """The state must have been made by init for parameters like grads."""
    if jax.tree.structure(state_tree) != jax.tree.structure(grads):
        structures = jax.tree.structure(state_tree), jax.tree.structure(grads)
        raise ValueError(
            "the optimizer state does not match the parameters: call init on "
            "the parameters you train (state {}, gradients {})".format(
                *structures
            )
        )


# --8<-- [end:checks]


# --8<-- [start:sgd]
class SGDState(NamedTuple):
    m: Any  # the momentum trace, shaped like the parameters
    t: jax.Array  # the number of steps taken (a schedule reads it)


def sgd(learning_rate, momentum=0.0, nesterov=False):
    """m <- g + mu m;  u = -eta m,  or with Nesterov  u = -eta (g + mu m)."""
    check_learning_rate(learning_rate)
    check_decay("momentum", momentum)

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return SGDState(zeros, jnp.zeros([], jnp.int32))

    def update(grads, state, params=None):
        check_state(state.m, grads)
        eta = step_size(learning_rate, state.t)
        m = jax.tree.map(lambda g, m: g + momentum * m, grads, state.m)
        if nesterov:  # look one momentum step ahead
            direction = jax.tree.map(lambda g, m: g + momentum * m, grads, m)
        else:
            direction = m
        updates = jax.tree.map(lambda d: scaled(eta, d), direction)
        return updates, SGDState(keep_dtypes(m, state.m), state.t + 1)

    return Optimizer(init, update)


# --8<-- [end:sgd]


# --8<-- [start:rmsprop]
class RMSPropState(NamedTuple):
    v: Any  # running mean of g^2
    t: jax.Array  # the number of steps taken (a schedule reads it)


def rmsprop(learning_rate, decay=0.9, eps=1e-8, eps_in_sqrt=True):
    """v <- rho v + (1 - rho) g^2;  u = -eta g / sqrt(v + eps),
    or u = -eta g / (sqrt(v) + eps) with eps_in_sqrt=False."""
    check_learning_rate(learning_rate)
    check_decay("decay", decay)

    def scale(g, v):
        if eps_in_sqrt:
            return g / jnp.sqrt(v + eps)
        return g / (jnp.sqrt(v) + eps)

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return RMSPropState(zeros, jnp.zeros([], jnp.int32))

    def update(grads, state, params=None):
        check_state(state.v, grads)
        eta = step_size(learning_rate, state.t)
        v = jax.tree.map(
            lambda g, v: decay * v + (1 - decay) * g**2, grads, state.v
        )
        updates = jax.tree.map(lambda g, v: scaled(eta, scale(g, v)), grads, v)
        return updates, RMSPropState(keep_dtypes(v, state.v), state.t + 1)

    return Optimizer(init, update)


# --8<-- [end:rmsprop]


# --8<-- [start:adam]
class AdamState(NamedTuple):
    t: jax.Array  # the number of steps taken
    m: Any  # running mean of g
    v: Any  # running mean of g^2


def adam_init(params, mu_dtype=None):
    """t = 0 and m = v = 0, in the parameters' dtypes (m in `mu_dtype`)."""
    m = jax.tree.map(lambda p: jnp.zeros_like(p, dtype=mu_dtype), params)
    v = jax.tree.map(jnp.zeros_like, params)
    return AdamState(jnp.zeros([], jnp.int32), m, v)


def adam_moments(grads, state, b1, b2, eps):
    """One more gradient into Adam's moments; returns (direction, state).
    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t);
    direction = m_hat / (sqrt(v_hat) + eps)."""
    check_state(state.m, grads)
    t = state.t + 1
    m = jax.tree.map(lambda g, m: b1 * m + (1 - b1) * g, grads, state.m)
    v = jax.tree.map(lambda g, v: b2 * v + (1 - b2) * g**2, grads, state.v)

    def direction(m, v):
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        return m_hat / (jnp.sqrt(v_hat) + eps)

    moments = keep_dtypes(m, state.m), keep_dtypes(v, state.v)
    return jax.tree.map(direction, m, v), AdamState(t, *moments)


def adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8, mu_dtype=None):
    """u = -eta m_hat / (sqrt(v_hat) + eps). m and v take the parameters'
    dtype; `mu_dtype` keeps m in another (say float32 for bfloat16)."""
    check_learning_rate(learning_rate)
    check_decay("b1", b1)
    check_decay("b2", b2)

    def init(params):
        return adam_init(params, mu_dtype)

    def update(grads, state, params=None):
        eta = step_size(learning_rate, state.t)
        direction, state = adam_moments(grads, state, b1, b2, eps)
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
    """u = -eta (m_hat / (sqrt(v_hat) + eps) + omega theta), as optax and
    PyTorch do. `mask`, a pytree of bools like the parameters, limits the
    decay to some of them."""
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(
            f"weight_decay must be a number >= 0, got {weight_decay}"
        )
    base = adam(learning_rate, b1, b2, eps, mu_dtype)  # checks the rest

    def update(grads, state, params):
        eta = step_size(learning_rate, state.t)
        direction, state = adam_moments(grads, state, b1, b2, eps)
        decay = jax.tree.map(lambda p: weight_decay * p, params)
        if mask is not None:
            decay = jax.tree.map(
                lambda d, keep: d if keep else jnp.zeros_like(d), decay, mask
            )
        updates = jax.tree.map(
            lambda d, w: scaled(eta, d + w), direction, decay
        )
        return updates, state

    return Optimizer(base.init, update)


# --8<-- [end:adamw]


# --8<-- [start:train]
@partial(jax.jit, static_argnames=("objective", "optimizer", "n_steps"))
def train(objective, params, optimizer, n_steps):
    """n_steps of `optimizer` on `objective(params)`, as one lax.scan.

    Returns the final parameters, the loss before each step, and the
    parameters before each step (each leaf gains a leading axis n_steps)."""

    def step(carry, _):
        params, state = carry
        value, grads = jax.value_and_grad(objective)(params)
        updates, state = optimizer.update(grads, state, params)
        return (apply_updates(params, updates), state), (value, params)

    start = (params, optimizer.init(params))
    (params, _), (losses, path) = jax.lax.scan(step, start, length=n_steps)
    return params, losses, path


# --8<-- [end:train]


# --8<-- [start:sweep]
@partial(jax.jit, static_argnames=("objective", "make", "n_steps"))
def sweep(objective, start, make, learning_rates, n_steps):
    """`train` once per learning rate, all rates in one compiled, vmapped
    run; each result gains a leading axis of rates. `make(rate)` builds the
    optimizer: under vmap the rate is traced, not a number."""

    def run(learning_rate):
        return train(objective, start, make(learning_rate), n_steps)

    return jax.vmap(run)(learning_rates)


# --8<-- [end:sweep]


# --8<-- [start:lineup]
OPTIMIZERS = {  # defined once: jit's cache knows each function by identity
    "SGD": lambda lr: sgd(lr),
    "momentum": lambda lr: sgd(lr, momentum=0.9),
    "Nesterov": lambda lr: sgd(lr, momentum=0.9, nesterov=True),
    "RMSProp": lambda lr: rmsprop(lr),
    "Adam": lambda lr: adam(lr),
    "AdamW": lambda lr: adamw(lr, weight_decay=1e-4),
}
# --8<-- [end:lineup]


if __name__ == "__main__":
    from snippets.linear_regression_model import closed_form, loss, make_houses
    from snippets.optimizers_race import (
        best_index,
        heavy_ball_matrix,
        ill_conditioned,
        largest_stable_step,
        nesterov_matrix,
        plot_paths,
        rosenbrock,
        steps_to_tolerance,
    )

    # --8<-- [start:raw_houses]
    x, y = make_houses(jax.random.key(0))
    area_m2 = 150 + 100 * x  # square metres: scaled by 100, shifted by 150

    def raw_loss(params):
        return loss(params, area_m2, y)

    def condition_number(matrix):
        low, high = np.linalg.eigvalsh(matrix)
        return high / low

    hessian = np.asarray(jax.jit(jax.hessian(raw_loss))(jnp.zeros(2)))
    # steps eta / H00 and eta / H11: theta_0 sqrt(H00) and theta_1 sqrt(H11)
    # as the parameters, with curvature 1 along each
    scale = 1 / np.sqrt(np.diag(hessian))
    kappa_raw = condition_number(hessian)
    kappa_diagonal = condition_number(hessian * np.outer(scale, scale))
    print(
        f"curvature along θ₀ {hessian[0, 0]:.0f}, along θ₁ {hessian[1, 1]:.0f}"
    )
    print(f"κ = {kappa_raw:,.0f}; with steps η/H₀₀ and η/H₁₁ κ = ", end="")
    print(f"{kappa_diagonal:.3g}")
    # no other ratio of the two parameters' steps does better
    others = [np.array([1, d]) for d in np.geomspace(1e-4, 1e4, 2001)]
    best_other = min(condition_number(hessian * np.outer(d, d)) for d in others)
    assert kappa_diagonal <= best_other * (1 + 1e-3)
    # --8<-- [end:raw_houses]

    # --8<-- [start:stability_limits]
    mu = 0.9
    grid = np.linspace(0.001, 5, 50_000)  # candidate values of eta lambda
    limits = {
        "heavy-ball momentum": (heavy_ball_matrix, 2 * (1 + mu)),
        "Nesterov": (nesterov_matrix, 2 * (1 + mu) / (1 + 2 * mu)),
    }
    for name, (matrix, formula) in limits.items():
        edge = largest_stable_step(matrix, mu, grid)
        print(f"{name:20}: stable up to ηλ = {edge:.3f}, formula {formula:.3f}")
        assert abs(edge - formula) < 1e-3
    # plain descent's limit, 2, lies between the two
    assert limits["Nesterov"][1] < 2 < limits["heavy-ball momentum"][1]
    # --8<-- [end:stability_limits]

    # --8<-- [start:stability_runs]
    curvature = 100.0  # the steep direction of the bowl in the race below

    def parabola(theta):
        return 0.5 * curvature * jnp.sum(theta**2)

    start = jnp.ones(2)
    for name, make in [
        ("plain descent", OPTIMIZERS["SGD"]),
        ("heavy-ball momentum", OPTIMIZERS["momentum"]),
        ("Nesterov", OPTIMIZERS["Nesterov"]),
    ]:
        limit = 2.0 if name == "plain descent" else limits[name][1]
        rates = jnp.array([0.98, 1.02]) * limit / curvature
        final, _, _ = sweep(parabola, start, make, rates, 300)
        size = np.abs(np.asarray(final)).max(axis=1)  # |theta| after the run
        print(
            f"{name:20}: 0.98 of the limit ends at |θ| = {size[0]:.0e}, ",
            end="",
        )
        print(f"1.02 at {size[1]:.0e}")
        assert size[0] < 1e-3 and size[1] > 1e3  # converges, then diverges
    # --8<-- [end:stability_runs]

    # --8<-- [start:adam_step_size]
    b1, b2 = 0.9, 0.999
    spike = jnp.zeros(10_000).at[-1].set(1.0)  # zeros, then one gradient
    steady = jnp.ones(10_000)  # the same gradient every step

    def adam_steps(grads):
        """Adam's update at each step, for a sequence of 1-D gradients."""
        optimizer = adam(1.0, b1, b2)

        def step(state, g):
            update, state = optimizer.update(g, state)
            return state, update

        return jax.lax.scan(step, optimizer.init(0.0), grads)[1]

    spike_step = float(adam_steps(spike)[-1])
    steady_step = float(adam_steps(steady)[-1])
    bound = (1 - b1) / math.sqrt(1 - b2)
    print(f"steady gradient: step {steady_step:.3f} η")
    print(f"gradient after zeros: step {spike_step:.3f} η; ", end="")
    print(f"(1 - β₁)/√(1 - β₂) = {bound:.3f}")
    assert abs(abs(steady_step) - 1) < 1e-4
    assert abs(abs(spike_step) - bound) < 1e-3
    # --8<-- [end:adam_step_size]

    # --8<-- [start:train_with_optax]
    @partial(jax.jit, static_argnames=("objective", "optimizer", "n_steps"))
    def train_with_optax(objective, params, optimizer, n_steps):
        """The same loop, with an optax optimizer and optax.apply_updates."""

        def step(carry, _):
            params, state = carry
            grads = jax.grad(objective)(params)
            updates, state = optimizer.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), None

        start = (params, optimizer.init(params))
        return jax.lax.scan(step, start, length=n_steps)[0][0]

    # --8<-- [end:train_with_optax]

    # --8<-- [start:equal_to_optax]
    cases = {  # away from the defaults, so that a wrong formula shows
        "SGD": (sgd(3e-4), optax.sgd(3e-4)),
        "momentum μ = 0.8": (
            sgd(2e-4, momentum=0.8),
            optax.sgd(2e-4, momentum=0.8),
        ),
        "Nesterov μ = 0.8": (
            sgd(2e-4, momentum=0.8, nesterov=True),
            optax.sgd(2e-4, momentum=0.8, nesterov=True),
        ),
        "RMSProp ρ = 0.8, ε = 0.1 in √": (
            rmsprop(0.01, decay=0.8, eps=0.1),
            optax.rmsprop(0.01, decay=0.8, eps=0.1),
        ),
        "RMSProp ρ = 0.8, ε = 0.1 outside": (
            rmsprop(0.01, decay=0.8, eps=0.1, eps_in_sqrt=False),
            optax.rmsprop(0.01, decay=0.8, eps=0.1, eps_in_sqrt=False),
        ),
        "Adam β = (0.8, 0.95), ε = 1e-3": (
            adam(0.02, 0.8, 0.95, 1e-3),
            optax.adam(0.02, 0.8, 0.95, 1e-3),
        ),
        "AdamW as above, ω = 0.01": (
            adamw(0.02, 0.8, 0.95, 1e-3, weight_decay=0.01),
            optax.adamw(0.02, 0.8, 0.95, 1e-3, weight_decay=0.01),
        ),
        "Adam with β₁, β₂ swapped (wrong)": (
            adam(0.02, 0.95, 0.8, 1e-3),
            optax.adam(0.02, 0.8, 0.95, 1e-3),
        ),
    }
    differences = {}
    with jax.enable_x64():
        start64 = jnp.array([-1.2, 1.0], jnp.float64)
        for name, (ours, theirs) in cases.items():
            mine = train(rosenbrock, start64, ours, 150)[0]
            reference = train_with_optax(rosenbrock, start64, theirs, 150)
            differences[name] = float(jnp.max(jnp.abs(mine - reference)))
    table = "| optimizer | largest difference from optax |\n| --- | --- |\n"
    table += "\n".join(f"| {n} | {d:.1e} |" for n, d in differences.items())
    *right, wrong = differences.values()
    assert max(right) < 1e-6 < 1e-3 < wrong
    # --8<-- [end:equal_to_optax]

    # --8<-- [start:run_sweeps]
    problems = {  # objective, start, minimum
        "houses, x in m²": (
            raw_loss,
            jnp.zeros(2),
            float(raw_loss(closed_form(area_m2, y)[1])),
        ),
        "ill-conditioned bowl": (ill_conditioned, jnp.array([-4.0, 1.0]), 0.0),
        "Rosenbrock": (rosenbrock, jnp.array([-1.2, 1.0]), 0.0),
    }
    learning_rates = np.logspace(-6, 1, 15)
    n_steps = 1000
    runs = {  # problem -> optimizer -> (params, losses, paths), one per rate
        problem: {
            name: sweep(objective, start, make, learning_rates, n_steps)
            for name, make in OPTIMIZERS.items()
        }
        for problem, (objective, start, _) in problems.items()
    }
    finals = {  # the loss after the last step, for every rate
        problem: {
            name: np.asarray(jax.vmap(problems[problem][0])(params))
            for name, (params, _, _) in by_name.items()
        }
        for problem, by_name in runs.items()
    }
    best = {
        problem: {name: best_index(f) for name, f in by_name.items()}
        for problem, by_name in finals.items()
    }
    for problem, indices in best.items():
        rates = "  ".join(
            f"{n} {learning_rates[i]:.0e}" for n, i in indices.items()
        )
        print(f"{problem:21} {rates}")
        # no best rate at either end: the grid is wide enough
        assert all(0 < i < len(learning_rates) - 1 for i in indices.values())
    # --8<-- [end:run_sweeps]

    # --8<-- [start:draw_sweeps]
    fig, axes = plt.subplots(
        1, 3, num="learning_rate_sweep", figsize=(11, 3.4), sharey=True
    )
    for ax, (problem, by_name) in zip(axes, finals.items(), strict=True):
        minimum = problems[problem][2]
        for name, final in by_name.items():
            excess = np.maximum(final - minimum, 1e-12)
            ax.loglog(learning_rates, excess, ".-", label=name)
        ax.set(title=problem, xlabel="learning rate", ylim=(1e-12, 1e6))
    axes[0].set_ylabel(f"loss above its minimum after {n_steps} steps")
    axes[-1].legend(loc="lower left", fontsize=8)
    plt.show()
    # --8<-- [end:draw_sweeps]

    # --8<-- [start:best_runs]
    def best_run(problem, name):
        """The run at the best rate: (params, losses, path)."""
        i = best[problem][name]
        return jax.tree.map(lambda a: a[i], runs[problem][name])

    tolerance = 1e-3
    steps_needed = {
        problem: {
            name: steps_to_tolerance(
                best_run(problem, name)[1], problems[problem][2], tolerance
            )
            for name in OPTIMIZERS
        }
        for problem in problems
    }
    print(f"steps until the loss is within {tolerance} of its minimum:")
    print(f"{'':21}" + "".join(f"{name:>10}" for name in OPTIMIZERS))
    for problem, counts in steps_needed.items():
        cells = "".join(
            f"{'never' if c is None else c:>10}" for c in counts.values()
        )
        print(f"{problem:21}{cells}")
    reached = {
        problem: [name for name, c in counts.items() if c is not None]
        for problem, counts in steps_needed.items()
    }
    # the bowl's steep curvature is the parabola's of the stability runs
    bowl_hessian = jax.hessian(ill_conditioned)(jnp.zeros(2))
    assert np.linalg.eigvalsh(bowl_hessian)[-1] == curvature
    # on the bowl, momentum wins with a rate no larger than plain descent's
    bowl_steps, bowl_best = (
        steps_needed["ill-conditioned bowl"],
        best["ill-conditioned bowl"],
    )
    for name in ["momentum", "Nesterov"]:
        assert bowl_steps[name] < bowl_steps["SGD"]
        assert bowl_best[name] <= bowl_best["SGD"]
    # and every best rate lies inside its stability limit
    for name, limit in [
        ("SGD", 2.0),
        ("momentum", limits["heavy-ball momentum"][1]),
        ("Nesterov", limits["Nesterov"][1]),
    ]:
        assert learning_rates[bowl_best[name]] * curvature < limit
    # on the houses, plain and momentum descent barely move the intercept
    houses_optimum = closed_form(area_m2, y)[1]
    for name in ["SGD", "momentum"]:
        end = best_run("houses, x in m²", name)[0]
        assert abs(end[0]) < 0.1 * abs(houses_optimum[0])
    # --8<-- [end:best_runs]

    # --8<-- [start:draw_losses]
    fig, axes = plt.subplots(
        1, 3, num="loss_curves", figsize=(11, 3.4), sharey=True
    )
    for ax, problem in zip(axes, problems, strict=True):
        for name in OPTIMIZERS:
            losses = np.asarray(best_run(problem, name)[1])
            ax.semilogy(
                np.maximum(losses - problems[problem][2], 1e-12), label=name
            )
        ax.set(title=problem, xlabel="step", ylim=(1e-12, 1e6))
    axes[0].set_ylabel("loss above its minimum")
    axes[-1].legend(loc="lower left", fontsize=8)
    plt.show()
    # --8<-- [end:draw_losses]

    # --8<-- [start:adam_units]
    areas = {  # the floor area four ways: units, and where zero is
        "x: 100 m², from the average": x,
        "100x: m², from the average": 100 * x,
        "x + 1.5: 100 m², from zero": x + 1.5,
        "150 + 100x: m², from zero": area_m2,
    }

    def adam_losses(area):  # every rate on one area: (rates, n_steps)
        def objective(params):
            return loss(params, area, y)

        make = OPTIMIZERS["Adam"]
        return sweep(objective, jnp.zeros(2), make, learning_rates, n_steps)[1]

    # vmap over the four areas: one compiled program for all of them
    all_losses = jax.vmap(adam_losses)(jnp.stack(list(areas.values())))
    fewest, coupling = {}, {}
    print(f"{'':27} {'θ*':^17} steps  coupling")
    for (name, area), losses in zip(areas.items(), all_losses, strict=True):
        best_line = closed_form(area, y)[1]
        minimum = float(loss(best_line, area, y))
        counts = [steps_to_tolerance(run, minimum, tolerance) for run in losses]
        fewest[name] = min(c for c in counts if c is not None)  # best rate's
        # |H01| / sqrt(H00 H11), from H = 2 [[1, mean x], [mean x, mean x²]]
        coupling[name] = float(abs(area.mean()) / jnp.sqrt(jnp.mean(area**2)))
        print(
            f"{name:27} ({best_line[0]:6.2f}, {best_line[1]:6.3f}) "
            f"{fewest[name]:5d} {coupling[name]:9.3f}"
        )
    given, units, origin, both = fewest.values()
    assert max(units, origin) < 2 * given < 2 * both / 5  # both: 5x or worse
    from_average, from_zero = np.split(np.array(list(coupling.values())), 2)
    assert from_average.max() < 0.1 and from_zero.min() > 0.9
    # Adam's best rate in m² from zero makes steps larger than all of θ₁*
    theta_m2 = closed_form(area_m2, y)[1]
    adam_rate = learning_rates[best["houses, x in m²"]["Adam"]]
    assert adam_rate > abs(theta_m2[1])
    # --8<-- [end:adam_units]

    # --8<-- [start:adamw_on_houses]
    houses = "houses, x in m²"
    same = best[houses]["AdamW"]  # AdamW's best rate; Adam at the same rate
    # float32 resolves a loss near 8 only to about 1e-6: a tiny negative
    # excess below is rounding
    excess = {  # the loss above its minimum before each step, at that rate
        name: np.asarray(runs[houses][name][1][same]) - problems[houses][2]
        for name in ["Adam", "AdamW"]
    }
    print(f"η = {learning_rates[same]:.0e}, the loss above its minimum:")
    checkpoints = [n_steps // 2, 3 * n_steps // 4, n_steps - 1]
    for t in checkpoints:
        adam_t, adamw_t = excess["Adam"][t], excess["AdamW"][t]
        print(f"after {t:4d} steps: Adam {adam_t:8.1e}, AdamW {adamw_t:8.1e}")
    adam_arrives = steps_to_tolerance(excess["Adam"], 0.0, tolerance)
    optimum = np.asarray(theta_m2)  # θ* in m², from the table above
    adamw_end = np.asarray(runs[houses]["AdamW"][0][same])
    print(f"θ* = {optimum}, AdamW ends at θ = {adamw_end}")
    assert adam_arrives is not None  # Adam gets there at this rate
    assert excess["AdamW"][-1] > 100 * abs(excess["Adam"][-1])  # AdamW not
    # still on its way: its excess keeps falling, θ₀ still short of θ₀*
    assert np.all(np.diff(excess["AdamW"][checkpoints]) < 0)
    assert abs(adamw_end[0]) < abs(optimum[0])
    # --8<-- [end:adamw_on_houses]

    # --8<-- [start:draw_paths]
    fig, axes = plt.subplots(1, 2, num="optimizer_paths", figsize=(11, 4))
    for ax, problem, window, levels in [
        (axes[0], "ill-conditioned bowl", ((-4.5, 1), (-1.2, 1.2)), 12),
        (
            axes[1],
            "Rosenbrock",
            ((-1.5, 1.5), (-0.5, 1.6)),
            np.geomspace(0.01, 500, 12),
        ),
    ]:
        paths = {name: best_run(problem, name)[2] for name in OPTIMIZERS}
        plot_paths(ax, problems[problem][0], paths, window, levels)
        ax.set_title(problem)
    axes[1].legend(loc="lower right", fontsize=8)
    plt.show()
    # --8<-- [end:draw_paths]

    # --8<-- [start:rmsprop_hovers]
    _, _, bowl_path = best_run("ill-conditioned bowl", "RMSProp")
    rate = learning_rates[best["ill-conditioned bowl"]["RMSProp"]]
    last = np.asarray(bowl_path[-4:])  # the last four points, (4, 2)
    print(f"RMSProp on the bowl at η = {rate:g}, the last points:")
    for point in last:
        print(f"θ = ({point[0]:+.5f}, {point[1]:+.5f})")
    # it jumps between -η/2 and +η/2 in each coordinate, a step of η
    assert np.allclose(np.abs(last), rate / 2, rtol=1e-2)
    assert np.all(np.sign(last[1:]) == -np.sign(last[:-1]))
    # --8<-- [end:rmsprop_hovers]

    # --8<-- [start:adamw_vs_l2]
    z = (x - x.mean()) / x.std()
    omega, rate, steps = 0.1, 0.05, 12_000

    def standardised_loss(params):
        return loss(params, z, y)

    def with_l2(params):  # the penalty (omega / 2) |theta|^2 inside the loss
        return standardised_loss(params) + 0.5 * omega * jnp.sum(params**2)

    l2_params, _, _ = train(with_l2, jnp.zeros(2), adam(rate), steps)
    adamw_params, _, adamw_path = train(
        standardised_loss, jnp.zeros(2), adamw(rate, weight_decay=omega), steps
    )
    design = jnp.stack([jnp.ones_like(z), z], axis=1)  # ridge, exactly:
    ridge = jnp.linalg.solve(
        2 * design.T @ design / z.size + omega * jnp.eye(2),
        2 * design.T @ y / z.size,
    )
    unpenalised = closed_form(z, y)[1]
    print(f"no penalty:        θ = {unpenalised}")
    print(f"ridge closed form: θ = {ridge}")
    print(f"Adam + L2 penalty: θ = {l2_params}")
    checkpoints = [steps // 4, steps // 2, steps - 1]
    for t in checkpoints:
        print(f"AdamW after {t:5d} steps: θ = {adamw_path[t]}")
    print(f"AdamW at the end:        θ = {adamw_params}, 1/ω = {1 / omega:g}")
    assert np.allclose(l2_params, ridge, atol=1e-3)
    assert np.all(np.abs(ridge) < np.abs(unpenalised))  # ridge shrinks both
    # AdamW: theta_1, pulled beyond 1/omega by the data, creeps up to 1/omega
    assert np.all(np.diff(adamw_path[checkpoints, 1]) > 0)
    assert 0.99 / omega < adamw_params[1] < 1 / omega < unpenalised[1]
    # theta_0, whose optimum lies inside 1/omega, ends there, undecayed
    gap, ridge_gap = (abs(p[0] - unpenalised[0]) for p in (adamw_params, ridge))
    assert abs(unpenalised[0]) < 1 / omega and gap < ridge_gap / 10
    # --8<-- [end:adamw_vs_l2]

    # --8<-- [start:with_optax]
    theirs = train_with_optax(
        rosenbrock, jnp.array([-1.2, 1.0]), optax.adam(0.01), n_steps
    )
    ours, _, _ = train(rosenbrock, jnp.array([-1.2, 1.0]), adam(0.01), n_steps)
    gap = float(jnp.max(jnp.abs(theirs - ours)))
    print(f"optax.adam: {theirs}, ours: {ours}, largest difference {gap:.1e}")
    assert gap < 1e-4  # float32: the order of rounding differs
    # --8<-- [end:with_optax]
