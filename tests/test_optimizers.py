"""Every from-scratch optimizer equals its optax counterpart, in float64."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from snippets.linear_regression_model import make_houses
from snippets.optimizers import (
    AdamState,
    Optimizer,
    SGDState,
    adam,
    adamw,
    apply_updates,
    rmsprop,
    sgd,
    train,
)
from snippets.optimizers_race import heavy_ball_matrix, largest_stable_step, nesterov_matrix
from tests.optax_reference import largest_difference, run_optax

N_STEPS = 150

# (ours, optax's), with hyperparameters away from the defaults, so that a
# wrong formula cannot hide behind a value that makes two terms equal.
CASES = {
    "sgd": (lambda: sgd(0.003), lambda: optax.sgd(0.003)),
    "momentum": (lambda: sgd(0.002, momentum=0.8), lambda: optax.sgd(0.002, momentum=0.8)),
    "nesterov": (
        lambda: sgd(0.002, momentum=0.8, nesterov=True),
        lambda: optax.sgd(0.002, momentum=0.8, nesterov=True),
    ),
    "rmsprop_eps_in_sqrt": (
        lambda: rmsprop(0.01, decay=0.8, eps=0.1, eps_in_sqrt=True),
        lambda: optax.rmsprop(0.01, decay=0.8, eps=0.1, eps_in_sqrt=True),
    ),
    "rmsprop_eps_outside": (
        lambda: rmsprop(0.01, decay=0.8, eps=0.1, eps_in_sqrt=False),
        lambda: optax.rmsprop(0.01, decay=0.8, eps=0.1, eps_in_sqrt=False),
    ),
    "adam": (
        lambda: adam(0.02, b1=0.8, b2=0.95, eps=1e-3),
        lambda: optax.adam(0.02, b1=0.8, b2=0.95, eps=1e-3),
    ),
    "adamw_1e-4": (
        lambda: adamw(0.02, b1=0.8, b2=0.95, eps=1e-3, weight_decay=1e-4),
        lambda: optax.adamw(0.02, b1=0.8, b2=0.95, eps=1e-3, weight_decay=1e-4),
    ),
    "adamw_1e-2": (
        lambda: adamw(0.02, b1=0.8, b2=0.95, eps=1e-3, weight_decay=1e-2),
        lambda: optax.adamw(0.02, b1=0.8, b2=0.95, eps=1e-3, weight_decay=1e-2),
    ),
}
DICT_ONLY = {
    "adamw_masked": (
        lambda: adamw(0.02, weight_decay=0.1, mask={"b": False, "w": True}),
        lambda: optax.adamw(0.02, weight_decay=0.1, mask={"b": False, "w": True}),
    ),
}


def rosenbrock(p):
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def make_linear_problem():
    """A least-squares problem whose parameters are a dict of arrays."""
    kx, kw, kn = jax.random.split(jax.random.key(7), 3)
    x = jax.random.normal(kx, (64, 3))
    true_w = jax.random.normal(kw, (3, 2))
    y = x @ true_w + 0.1 * jax.random.normal(kn, (64, 2)) + jnp.array([[1.0, -2.0]])

    def loss(params):
        return jnp.mean((x @ params["w"] + params["b"][None, :] - y) ** 2)

    return loss, {"w": jnp.zeros((3, 2)), "b": jnp.zeros(2)}


def problems():
    return {
        "rosenbrock": (rosenbrock, jnp.array([-1.2, 1.0])),
        "linear_dict": make_linear_problem(),
    }


def difference_from_optax(ours, theirs, problem):
    """Largest parameter difference after N_STEPS, in float64."""
    with jax.enable_x64():
        loss, params = problems()[problem]
        params = jax.tree.map(lambda p: p.astype(jnp.float64), params)
        mine, _, _ = train(loss, params, ours, N_STEPS)
        reference = run_optax(theirs, loss, params, N_STEPS)
        assert jax.tree.leaves(mine)[0].dtype == jnp.float64
        assert largest_difference(mine, params) > 1e-3  # it really moved
        return largest_difference(mine, reference)


@pytest.mark.parametrize("problem", ["rosenbrock", "linear_dict"])
@pytest.mark.parametrize("case", list(CASES))
def test_matches_optax_in_float64(case, problem):
    ours, theirs = CASES[case]
    assert difference_from_optax(ours(), theirs(), problem) < 1e-6
    assert jnp.zeros(1).dtype == jnp.float32  # float64 stayed inside the block


@pytest.mark.parametrize("case", list(DICT_ONLY))
def test_masked_weight_decay_matches_optax(case):
    ours, theirs = DICT_ONLY[case]
    assert difference_from_optax(ours(), theirs(), "linear_dict") < 1e-6
    unmasked = adamw(0.02, weight_decay=0.1)
    assert difference_from_optax(unmasked, theirs(), "linear_dict") > 1e-4


def mutated_adam(learning_rate, b1, b2, eps, mutation):
    """Adam with one classic mistake, to prove the comparison would catch it."""

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return AdamState(jnp.zeros([], jnp.int32), zeros, zeros)

    def update(grads, state, params=None):
        t = state.t + 1
        mu = jax.tree.map(lambda g, m: b1 * m + (1 - b1) * g, grads, state.m)
        nu = jax.tree.map(lambda g, v: b2 * v + (1 - b2) * g**2, grads, state.v)
        corrected = mutation != "no_bias_correction"

        def direction(m, v):
            m_hat = m / (1 - b1**t) if corrected else m
            v_hat = v / (1 - b2**t) if corrected else v
            if mutation == "eps_in_sqrt":
                return m_hat / jnp.sqrt(v_hat + eps)
            return m_hat / (jnp.sqrt(v_hat) + eps)

        updates = jax.tree.map(lambda m, v: -learning_rate * direction(m, v), mu, nu)
        return updates, AdamState(t, mu, nu)

    return Optimizer(init, update)


@pytest.mark.parametrize("problem", ["rosenbrock", "linear_dict"])
@pytest.mark.parametrize(
    "mutant",
    [
        ("betas swapped", lambda: adam(0.02, b1=0.95, b2=0.8, eps=1e-3)),
        ("eps inside the root", lambda: mutated_adam(0.02, 0.8, 0.95, 1e-3, "eps_in_sqrt")),
        ("no bias correction", lambda: mutated_adam(0.02, 0.8, 0.95, 1e-3, "no_bias_correction")),
        ("rmsprop eps moved", lambda: rmsprop(0.01, decay=0.8, eps=0.1, eps_in_sqrt=False)),
        ("adamw decay 1e-4 vs 1e-2", lambda: adamw(0.02, 0.8, 0.95, 1e-3, weight_decay=1e-4)),
    ],
    ids=lambda m: m[0],
)
def test_the_comparison_catches_classic_mistakes(mutant, problem):
    _name, make = mutant
    reference = {
        "betas swapped": "adam",
        "eps inside the root": "adam",
        "no bias correction": "adam",
        "rmsprop eps moved": "rmsprop_eps_in_sqrt",
        "adamw decay 1e-4 vs 1e-2": "adamw_1e-2",
    }[_name]
    assert difference_from_optax(make(), CASES[reference][1](), problem) > 1e-4


def test_the_mutant_itself_is_right_when_unmutated():
    """Guards the guard: without a mutation the hand-written Adam matches optax."""
    same = mutated_adam(0.02, 0.8, 0.95, 1e-3, mutation=None)
    assert difference_from_optax(same, CASES["adam"][1](), "rosenbrock") < 1e-6


@pytest.mark.parametrize("make", [sgd, rmsprop, adam, adamw])
@pytest.mark.parametrize("rate", [0.0, -0.1, float("nan"), float("inf")])
def test_bad_learning_rates_are_refused(make, rate):
    with pytest.raises(ValueError, match="learning rate must be a positive number"):
        make(rate)


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda r: sgd(0.1, momentum=r), "momentum"),
        (lambda r: rmsprop(0.1, decay=r), "decay"),
        (lambda r: adam(0.1, b1=r), "b1"),
        (lambda r: adamw(0.1, b2=r), "b2"),
    ],
)
@pytest.mark.parametrize("rate", [1.0, 1.5, -0.1])
def test_decay_rates_outside_zero_one_are_refused(make, name, rate):
    with pytest.raises(ValueError, match=rf"{name} is a decay rate and must lie in \[0, 1\)"):
        make(rate)


def test_negative_weight_decay_is_refused():
    with pytest.raises(ValueError, match="weight_decay must be a number >= 0"):
        adamw(0.1, weight_decay=-1e-3)


@pytest.mark.parametrize(
    "optimizer",
    [sgd(0.1, momentum=0.9), rmsprop(0.1), adam(0.1), adamw(0.1)],
    ids=["sgd", "rmsprop", "adam", "adamw"],
)
def test_state_for_other_parameters_is_refused(optimizer):
    state = optimizer.init({"w": jnp.zeros(2)})
    grads = {"w": jnp.ones(2), "b": jnp.ones(1)}
    with pytest.raises(ValueError, match="optimizer state does not match the parameters"):
        optimizer.update(grads, state, grads)


def test_apply_updates_walks_any_pytree():
    params = {"a": jnp.ones(2), "b": (jnp.zeros(1), jnp.full(3, 2.0))}
    updates = jax.tree.map(jnp.ones_like, params)
    result = apply_updates(params, updates)
    assert jax.tree.structure(result) == jax.tree.structure(params)
    np.testing.assert_array_equal(result["b"][1], jnp.full(3, 3.0))


def test_momentum_stability_limits_from_the_characteristic_polynomial():
    """Independent of the page's matrices: iterate the update rules on a
    one-dimensional quadratic and read the limit off the growth, then compare
    with the closed forms 2(1 + mu) and 2(1 + mu) / (1 + 2 mu)."""

    def grows(s, mu, nesterov):
        theta, m = 1.0, 0.0  # curvature 1, so eta = s
        for _ in range(3000):
            g = theta
            m = g + mu * m
            theta -= s * (g + mu * m if nesterov else m)
        return abs(theta) > 1.0

    for mu in [0.5, 0.9, 0.99]:
        for nesterov, limit in [(False, 2 * (1 + mu)), (True, 2 * (1 + mu) / (1 + 2 * mu))]:
            assert not grows(0.99 * limit, mu, nesterov), (mu, nesterov)
            assert grows(1.01 * limit, mu, nesterov), (mu, nesterov)


def test_largest_stable_step_reads_the_spectral_radius():
    grid = np.linspace(0.001, 5, 50_000)
    for mu in [0.0, 0.5, 0.9]:
        edge = largest_stable_step(heavy_ball_matrix, mu, grid)
        assert edge == pytest.approx(2 * (1 + mu), abs=1e-3)
        edge = largest_stable_step(nesterov_matrix, mu, grid)
        assert edge == pytest.approx(2 * (1 + mu) / (1 + 2 * mu), abs=1e-3)


def test_the_iteration_matrices_are_one_step_of_the_optimizers():
    """One step of sgd on 0.5 lambda theta^2, in (theta, eta m) coordinates."""
    lam, eta, mu = 3.0, 0.1, 0.7
    for nesterov, matrix in [(False, heavy_ball_matrix), (True, nesterov_matrix)]:
        optimizer = sgd(eta, momentum=mu, nesterov=nesterov)
        state = SGDState(m=jnp.array(0.4), t=jnp.array(0))
        theta = jnp.array(1.5)
        update, state = optimizer.update(lam * theta, state)
        predicted = matrix(eta * lam, mu) @ np.array([1.5, eta * 0.4])
        np.testing.assert_allclose([theta + update, eta * state.m], predicted, rtol=1e-6)


def test_adam_spike_reaches_kingma_and_ba_value_and_a_steady_gradient_gives_one():
    """Closed forms: after t - 1 zero gradients and one g, m_hat / sqrt(v_hat)
    = (1 - b1) / (1 - b1^t) * sqrt(1 - b2^t) / sqrt(1 - b2)."""
    b1, b2, t = 0.9, 0.999, 5000
    optimizer = adam(1.0, b1, b2, eps=0.0)
    with jax.enable_x64():
        state = AdamState(jnp.asarray(t - 1, jnp.int32), jnp.zeros(()), jnp.full((), 1e-300))
        update, _ = optimizer.update(jnp.ones(()), state)
        exact = (1 - b1) / (1 - b1**t) * np.sqrt(1 - b2**t) / np.sqrt(1 - b2)
        assert float(-update) == pytest.approx(exact, rel=1e-9)
    assert exact == pytest.approx((1 - b1) / np.sqrt(1 - b2), rel=1e-2)


@pytest.mark.parametrize("make", [lambda: adam(0.1, eps=0.0), lambda: rmsprop(0.1, eps=0.0)])
def test_adaptive_updates_ignore_a_per_coordinate_scale_of_the_gradient(make, key):
    """The property the page claims instead of 'estimates curvature'."""
    grads = jax.random.normal(key, (20, 3))
    scale = jnp.array([[1e-3, 1.0, 1e3]])
    optimizer = make()

    def updates(sequence):
        def step(state, g):
            u, state = optimizer.update(g, state)
            return state, u

        return jax.lax.scan(step, optimizer.init(jnp.zeros(3)), sequence)[1]

    np.testing.assert_allclose(updates(grads * scale), updates(grads), rtol=1e-5)


def test_unit_diagonal_scaling_is_the_best_diagonal_scaling_of_a_2x2_hessian():
    """The page's 'best per-coordinate scaling': no diagonal scaling of the
    houses' Hessian in square metres beats the one with unit diagonal."""
    x = np.asarray(make_houses(jax.random.key(0))[0], np.float64) * 100 + 150
    hessian = 2 / len(x) * np.array([[len(x), x.sum()], [x.sum(), (x**2).sum()]])

    def kappa(d):
        scaled = hessian * np.outer(d, d)
        low, high = np.linalg.eigvalsh(scaled)
        return high / low

    unit = kappa(1 / np.sqrt(np.diag(hessian)))
    ratios = np.geomspace(1e-4, 1e4, 2001)
    best = min(kappa(np.array([1.0, r])) for r in ratios)
    assert unit == pytest.approx(best, rel=1e-3)
    assert unit < kappa(np.ones(2)) / 1000


def test_adamw_fixed_point_for_a_steady_pull_is_one_over_omega():
    """A constant gradient g (the data pull) and decay omega: AdamW stops
    where m_hat / sqrt(v_hat) = 1 balances omega theta, at theta = 1 / omega."""
    omega = 0.1
    with jax.enable_x64():
        theta, _, _ = train(
            lambda p: -5.0 * p[0], jnp.zeros(1), adamw(0.1, weight_decay=omega), 4000
        )
    assert float(theta[0]) == pytest.approx(1 / omega, rel=1e-3)


def test_adamw_clips_instead_of_shrinking_on_a_separable_quadratic():
    """Full batch, two independent weights with optima 3 (inside 1/omega =
    10) and 30 (outside): AdamW approaches (3, 10), ridge would give
    (3, 30) / (1 + omega) for this loss (theta - c)^2 / 2 per weight."""
    omega, centre = 0.1, jnp.array([3.0, 30.0])
    with jax.enable_x64():
        end, _, _ = train(
            lambda p: 0.5 * jnp.sum((p - centre) ** 2),
            jnp.zeros(2),
            adamw(0.05, weight_decay=omega),
            20_000,
        )
    assert float(end[0]) == pytest.approx(3.0, abs=1e-3)
    assert float(end[1]) == pytest.approx(1 / omega, abs=1e-2)
    assert float(end[1]) <= 1 / omega


def test_rmsprop_ends_bouncing_between_minus_and_plus_half_eta():
    """On 0.5 lambda theta^2 with lambda eta large enough to overshoot,
    plain RMSProp settles into the cycle theta = -eta/2, +eta/2, ..."""
    eta = 0.01
    _, _, path = train(lambda p: 50.0 * jnp.sum(p**2), jnp.array([1.0]), rmsprop(eta), 3000)
    last = np.asarray(path[-6:, 0])
    np.testing.assert_allclose(np.abs(last), eta / 2, rtol=1e-2)
    assert np.all(np.sign(last[1:]) == -np.sign(last[:-1]))


def test_adams_first_step_is_eta_in_every_coordinate_whatever_its_gradient():
    """Bias correction makes m_hat / sqrt(v_hat) = g / |g| at t = 1: each
    coordinate moves by eta in its own units, for gradients 1e-3 to 1e3."""
    grads = jnp.array([1e-3, -2.0, 5e2, -1e3])
    update, _ = adam(0.1, eps=0.0).update(grads, adam(0.1).init(jnp.zeros(4)))
    np.testing.assert_allclose(update, -0.1 * np.sign(grads), rtol=2e-5)  # float32
