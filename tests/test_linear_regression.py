"""The linear regression chapter, against closed forms computed independently."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snippets.linear_regression_fit import (
    TrainingDiverged,
    check_data,
    conditioning_row,
    curvatures,
    fit,
    stable_step_limit,
    standardise,
    steps_to_reach,
    unstandardise,
)
from snippets.linear_regression_model import (
    closed_form,
    hand_gradients,
    make_houses,
    mse,
    train_both_at_once,
    train_classic,
    train_jitted_steps,
    train_scan,
)


@pytest.fixture(scope="module")
def houses():
    return make_houses(jax.random.key(0))


def numpy_least_squares(x, y):
    """The reference: float64 NumPy, sharing no code with the chapter."""
    design = np.stack([np.ones(len(x)), np.asarray(x, np.float64)], axis=1)
    return np.linalg.lstsq(design, np.asarray(y, np.float64), rcond=None)[0]


def test_data_is_reproducible_and_follows_the_model(houses):
    x, y = houses
    again_x, again_y = make_houses(jax.random.key(0))
    assert jnp.array_equal(x, again_x) and jnp.array_equal(y, again_y)
    theta = numpy_least_squares(x, y)
    assert theta == pytest.approx([3.0, 34.41], abs=1.5)  # noise of 3 on 200 points


def test_hand_gradients_equal_grad(houses, key):
    x, y = houses
    for theta0, theta1 in jax.random.normal(key, (5, 2)) * 10:
        by_hand = hand_gradients(theta0, theta1, x, y)
        by_grad = jax.grad(mse, argnums=(0, 1))(theta0, theta1, x, y)
        np.testing.assert_allclose(by_hand, by_grad, rtol=1e-5, atol=1e-4)


def test_closed_form_matches_numpy_float64(houses):
    normal, lstsq = closed_form(*houses)
    reference = numpy_least_squares(*houses)
    np.testing.assert_allclose(normal, reference, rtol=1e-5)
    np.testing.assert_allclose(lstsq, reference, rtol=1e-5)


def test_all_training_loops_agree(houses, capsys):
    x, y = houses
    classic = train_classic(x, y, 0.03, 100, report_every=50)
    assert capsys.readouterr().out.count("step") == 2
    scanned, losses, path = train_scan(jnp.zeros(2), x, y, 0.03, 100)
    for other in (train_both_at_once(x, y, 0.03, 100), train_jitted_steps(x, y, 0.03, 100)):
        np.testing.assert_allclose(other, classic, atol=1e-5)
    np.testing.assert_allclose(scanned, classic, atol=1e-5)
    assert losses.shape == (100,) and path.shape == (100, 2)
    assert jnp.all(jnp.diff(losses) < 0)


def test_curvature_predicts_how_far_theta1_gets(houses):
    """Each step shrinks theta1's distance to the optimum by about (1 - eta H11)."""
    x, y = houses
    optimum = numpy_least_squares(x, y)
    h11 = 2 * np.mean(np.asarray(x, np.float64) ** 2)
    final, _, _ = train_scan(jnp.zeros(2), x, y, 0.03, 100)
    left = (optimum[1] - final[1]) / optimum[1]
    assert left == pytest.approx((1 - 0.03 * h11) ** 100, abs=0.01)
    assert left > 0.1  # the chapter's point: far from the optimum after 100 steps


def test_stable_limit_is_two_over_the_largest_eigenvalue(houses):
    x = np.asarray(houses[0], np.float64)
    hessian = 2 / len(x) * np.array([[len(x), x.sum()], [x.sum(), (x**2).sum()]])
    expected = 2 / np.linalg.eigvalsh(hessian)[-1]
    assert stable_step_limit(*houses) == pytest.approx(expected, rel=1e-5)


def test_two_over_l_predicts_divergence(houses):
    x, y = houses
    limit = stable_step_limit(x, y)
    _, below, _ = train_scan(jnp.zeros(2), x, y, 0.98 * limit, 2000)
    _, above, _ = train_scan(jnp.zeros(2), x, y, 1.02 * limit, 300)
    minimum = float(mse(*numpy_least_squares(x, y), x, y))
    assert float(below[-1]) == pytest.approx(minimum, rel=1e-3)
    assert above[-1] > 10 * above[0]
    fit(x, y, step_size=0.98 * limit, n_steps=500)  # no error just below


def test_divergence_error_names_step_size_limit_and_step(houses):
    x, y = houses
    limit = stable_step_limit(x, y)
    with pytest.raises(TrainingDiverged) as err:
        fit(x, y, step_size=1.05 * limit)
    message = str(err.value)
    assert f"step size {1.05 * limit:g}" in message
    assert f"2/λ_max = {limit:.4g}" in message
    assert "stopped being finite at step" in message
    _, losses, _ = train_scan(jnp.zeros(2), x, y, 1.05 * limit, 1000)
    first_bad = int(np.argmin(np.isfinite(np.asarray(losses))))
    assert f"at step {first_bad} " in message


def test_a_slow_divergence_is_reported_too(houses):
    x, y = houses
    with pytest.raises(TrainingDiverged, match=r"the error grows by a factor 1\.02 each step"):
        fit(x, y, step_size=1.01 * stable_step_limit(x, y), n_steps=50)


def test_a_step_exactly_at_the_limit_is_reported_as_not_shrinking(houses):
    x, y = houses
    with pytest.raises(TrainingDiverged, match="does not converge: the error keeps its size"):
        fit(x, y, step_size=stable_step_limit(x, y), n_steps=50)


def test_at_the_limit_the_error_along_the_steep_direction_keeps_its_size(houses):
    """NumPy float64: at eta = 2/lambda_max the steep component flips sign
    every step and keeps its length, while the flat one dies out."""
    x = np.asarray(houses[0], np.float64)
    hessian = 2 / len(x) * np.array([[len(x), x.sum()], [x.sum(), (x**2).sum()]])
    eigenvalues, vectors = np.linalg.eigh(hessian)
    step = np.eye(2) - 2 / eigenvalues[-1] * hessian
    error = np.linalg.matrix_power(step, 101) @ np.ones(2)
    steep, flat = vectors[:, -1] @ error, vectors[:, 0] @ error
    assert abs(steep) == pytest.approx(abs(vectors[:, -1].sum()), rel=1e-9)
    assert abs(flat) < 1e-12


def test_step_one_over_l_on_standardised_data_reaches_the_closed_form(houses):
    x, y = houses
    z = standardise(x)
    params_z, _ = fit(z, y, step_size=stable_step_limit(z, y) / 2, n_steps=3)
    np.testing.assert_allclose(unstandardise(params_z, x), numpy_least_squares(x, y), atol=1e-4)


def test_conditioning_orders_the_step_counts(houses):
    x, y = houses
    given = conditioning_row("given", x, y)
    shifted = conditioning_row("shifted", x + 1.5, y)
    standard = conditioning_row("standardised", standardise(x), y)
    assert standard["κ"] == pytest.approx(1.0, abs=1e-3)
    assert standard["steps"] <= 2 < given["steps"] < shifted["steps"] < 100_000
    assert shifted["κ"] > 10 * given["κ"]


@pytest.mark.parametrize("shift", [0.0, 1.5, 4.0])
def test_best_fixed_step_and_its_contraction_against_numpy(houses, shift):
    """eta* = 2 / (lambda_max + lambda_min) minimises the spectral radius of
    I - eta H, which is then (kappa - 1) / (kappa + 1): checked on the
    float64 Hessian computed by NumPy, independently of the chapter."""
    x = np.asarray(houses[0], np.float64) + shift
    hessian = 2 / len(x) * np.array([[len(x), x.sum()], [x.sum(), (x**2).sum()]])
    low, high = np.linalg.eigvalsh(hessian)
    etas = np.linspace(1e-3, 2, 200_001) / high
    radius = [np.abs(np.linalg.eigvals(np.eye(2) - eta * hessian)).max() for eta in etas[::500]]
    best = etas[::500][int(np.argmin(radius))]
    assert best == pytest.approx(2 / (low + high), rel=2e-3)
    kappa = high / low
    assert min(radius) == pytest.approx((kappa - 1) / (kappa + 1), abs=2e-3)
    row = conditioning_row("x", jnp.asarray(x, jnp.float32), houses[1])
    assert row["η*"] == pytest.approx(2 / (low + high), rel=1e-4)
    assert row["q"] == pytest.approx((kappa - 1) / (kappa + 1), rel=1e-3)
    assert row["steps"] <= row["bound"]


def test_curvatures_are_the_eigenvalues_of_the_numpy_hessian(houses):
    x = np.asarray(houses[0], np.float64)
    hessian = 2 / len(x) * np.array([[len(x), x.sum()], [x.sum(), (x**2).sum()]])
    np.testing.assert_allclose(curvatures(*houses), np.linalg.eigvalsh(hessian), rtol=1e-5)


def test_steps_to_reach_stops_at_its_cap(houses):
    x, y = houses
    target = jnp.array(numpy_least_squares(x, y), jnp.float32)
    assert int(steps_to_reach(x, y, 1e-6, target, max_steps=50)) == 50


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        ([1.0, 2.0, 3.0], [1.0, 2.0], "x has 3 values but y has 2"),
        ([[1.0, 2.0]], [[1.0, 2.0]], "must be 1-D"),
        ([], [], "at least 2 points"),
        ([1.0], [2.0], "at least 2 points"),
        ([1.0, np.nan, 3.0], [1.0, 2.0, 3.0], "x has 1 non-finite values"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, np.inf], "y has 1 non-finite values .* index 2"),
    ],
)
def test_bad_data_is_refused_with_what_to_change(x, y, message):
    with pytest.raises(ValueError, match=message):
        check_data(x, y)
    with pytest.raises(ValueError, match=message):
        fit(x, y, step_size=0.1)


@pytest.mark.parametrize("step_size", [0.0, -0.5, float("nan")])
def test_fit_refuses_a_bad_step_size(houses, step_size):
    with pytest.raises(ValueError, match="step_size must be a positive number"):
        fit(*houses, step_size=step_size)


def test_page_shows_the_divergence_error(site_build):
    printed = site_build.records["linear-regression"].output
    assert "TrainingDiverged: training diverged: the loss stopped being finite at step" in printed
