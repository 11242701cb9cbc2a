"""Every from-scratch optimizer equals its optax counterpart, in float64."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from snippets.optimizers import (
    AdamState,
    Optimizer,
    adam,
    adamw,
    apply_updates,
    rmsprop,
    sgd,
    train,
)

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


def run_optax(optimizer, loss, params, n_steps):
    """The reference loop, written here with optax's own apply_updates."""

    @jax.jit
    def run(params):
        def step(carry, _):
            params, state = carry
            updates, state = optimizer.update(jax.grad(loss)(params), state, params)
            return (optax.apply_updates(params, updates), state), None

        return jax.lax.scan(step, (params, optimizer.init(params)), length=n_steps)[0][0]

    return run(params)


def max_difference(a, b):
    return max(
        float(jnp.max(jnp.abs(x - y)))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def difference_from_optax(ours, theirs, problem):
    """Largest parameter difference after N_STEPS, in float64."""
    with jax.enable_x64():
        loss, params = problems()[problem]
        params = jax.tree.map(lambda p: p.astype(jnp.float64), params)
        mine, _, _ = train(loss, params, ours, N_STEPS)
        reference = run_optax(theirs, loss, params, N_STEPS)
        assert jax.tree.leaves(mine)[0].dtype == jnp.float64
        assert max_difference(mine, params) > 1e-3  # it really moved
        return max_difference(mine, reference)


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
        t = state.count + 1
        mu = jax.tree.map(lambda g, m: b1 * m + (1 - b1) * g, grads, state.mu)
        nu = jax.tree.map(lambda g, v: b2 * v + (1 - b2) * g**2, grads, state.nu)
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


def steps_table(site_build):
    """The page's printed table: problem -> optimizer -> steps (None for never)."""
    printed = site_build.records["optimizers"].output
    lines = printed[printed.index("steps until the loss") :].splitlines()
    names = lines[1].split()
    table = {}
    for line in lines[2:5]:
        problem, counts = line[:21].strip(), line[21:].split()
        table[problem] = {
            n: None if c == "-" else int(c) for n, c in zip(names, counts, strict=True)
        }
    return table, printed


def test_the_claims_the_optimizers_page_makes(site_build):
    table, printed = steps_table(site_build)
    houses = table["houses, x in m²"]
    assert houses["Adam"] is not None  # "only Adam reaches the tolerance"
    assert all(houses[n] is None for n in houses if n != "Adam")
    bowl = table["ill-conditioned bowl"]
    assert bowl["momentum"] < bowl["SGD"] and bowl["RMSProp"] is None
    assert table["Rosenbrock"]["SGD"] is None
    l2 = [float(v) for v in printed.split("Adam + L2 penalty: beta = [")[1].split("]")[0].split()]
    ridge = [
        float(v) for v in printed.split("ridge closed form: beta = [")[1].split("]")[0].split()
    ]
    adamw_beta1 = float(printed.split("AdamW:             beta = [")[1].split("]")[0].split()[1])
    np.testing.assert_allclose(l2, ridge, atol=1e-3)  # Adam + L2 finds ridge regression
    assert adamw_beta1 < 10 < ridge[1]  # AdamW keeps the weight below 1/lambda
