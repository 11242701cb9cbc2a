"""The derivatives chapter's numbers, against independent references."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snippets.derivatives import log1pexp, max_abs_error
from snippets.derivatives_numeric import (
    central_difference,
    check_steps,
    difference_errors,
    fit_slope,
    forward_difference,
)

HS = np.logspace(-15, 0, 61)
X0 = 1.0


def test_vmap_grad_sin_is_cos_on_many_points(key):
    xs = jnp.concatenate(
        [jnp.linspace(-10.0, 10.0, 1001), jax.random.uniform(key, (1000,), minval=-50, maxval=50)]
    )
    derivative = jax.vmap(jax.grad(jnp.sin))(xs)
    exact = np.cos(np.asarray(xs, np.float64))  # NumPy, float64: independent
    np.testing.assert_allclose(derivative, exact, atol=1e-6, rtol=0)


def test_grad_agrees_with_a_float64_central_difference(key):
    """An independent check: the derivative measured, not derived."""
    xs = np.asarray(jax.random.uniform(key, (200,), minval=-3, maxval=3), np.float64)
    measured = (np.sin(xs + 1e-6) - np.sin(xs - 1e-6)) / 2e-6
    np.testing.assert_allclose(jax.vmap(jax.grad(jnp.sin))(xs), measured, atol=1e-6)


def test_higher_derivatives_of_sin():
    xs = jnp.linspace(-2 * jnp.pi, 2 * jnp.pi, 1001)
    d2 = jax.vmap(jax.grad(jax.grad(jnp.sin)))(xs)
    d3 = jax.vmap(jax.grad(jax.grad(jax.grad(jnp.sin))))(xs)
    xs64 = np.asarray(xs, np.float64)
    np.testing.assert_allclose(d2, -np.sin(xs64), atol=1e-6)
    np.testing.assert_allclose(d3, -np.cos(xs64), atol=1e-6)


def test_grad_of_vector_output_raises_the_error_the_page_shows(site_build):
    with pytest.raises(TypeError, match="only defined for scalar-output functions") as err:
        jax.grad(jnp.sin)(jnp.array([0.0, 1.0, 2.0]))
    printed = site_build.records["derivatives"].output
    assert f"TypeError: {err.value}" in printed


def test_the_jacobian_the_error_suggests_is_the_diagonal_of_cos():
    xs = jnp.array([0.0, 1.0, 2.0])
    exact = np.diag(np.cos(np.asarray(xs, np.float64)))
    np.testing.assert_allclose(jax.jacobian(jnp.sin)(xs), exact, atol=1e-7)


def test_log1pexp_overflows_and_its_gradient_is_nan_where_the_truth_is_one():
    """The page's example of autodiff inheriting overflow, against float64 NumPy."""
    assert np.isinf(log1pexp(100.0)) and np.isnan(jax.grad(log1pexp)(100.0))
    for x in [-5.0, 0.0, 5.0, 30.0]:
        exact = 1 / (1 + np.exp(-x))  # d/dx log(1 + e^x), the logistic function
        assert float(jax.grad(log1pexp)(x)) == pytest.approx(exact, rel=1e-6)
        stable = jax.grad(lambda x: jnp.logaddexp(0.0, x))(x)
        assert float(stable) == pytest.approx(exact, rel=1e-6)


@pytest.mark.parametrize(
    ("method", "h_min", "h_max", "order"),
    [(forward_difference, 1e-5, 1e-1, 1), (central_difference, 1e-3, 1e-1, 2)],
)
def test_difference_error_slope_is_its_order_in_float64(method, h_min, h_max, order):
    with jax.enable_x64():
        forward, central = difference_errors(jnp.sin, float(np.cos(X0)), X0, HS, jnp.float64)
    errors = forward if method is forward_difference else central
    assert fit_slope(HS, errors, h_min, h_max) == pytest.approx(order, abs=0.05)


def test_difference_error_slopes_in_float32():
    """float32 has a narrower truncation regime, but the orders still show."""
    forward, central = difference_errors(jnp.sin, float(np.cos(X0)), X0, HS, jnp.float32)
    assert fit_slope(HS, forward, 1e-2, 1e-0) == pytest.approx(1, abs=0.15)
    assert fit_slope(HS, central, 3e-2, 1e-0) == pytest.approx(2, abs=0.15)


def test_truncation_error_matches_taylor():
    """Forward error ~ h/2 |f''|, central ~ h^2/6 |f'''|, at x = 1 for sin."""
    with jax.enable_x64():
        h = 1e-3
        forward = float(forward_difference(jnp.sin, jnp.float64(X0), h)) - np.cos(X0)
        central = float(central_difference(jnp.sin, jnp.float64(X0), h)) - np.cos(X0)
    assert forward == pytest.approx(-h / 2 * np.sin(X0), rel=1e-2)
    assert central == pytest.approx(-(h**2) / 6 * np.cos(X0), rel=1e-2)


def test_round_off_dominates_small_steps_and_autodiff_does_not():
    forward32, _ = difference_errors(jnp.sin, float(np.cos(X0)), X0, HS, jnp.float32)
    assert forward32[HS < 1e-9].min() > 0.1  # x + h rounds to x: all signal lost
    assert forward32.min() > 1e-6  # float32 never gets close
    autodiff32 = abs(float(jax.grad(jnp.sin)(jnp.float32(X0))) - np.cos(X0))
    assert autodiff32 < 1e-7


def test_float64_stays_inside_its_block():
    with jax.enable_x64():
        assert jnp.asarray(1.0).dtype == jnp.float64
    assert jnp.asarray(1.0).dtype == jnp.float32


@pytest.mark.parametrize(
    ("bad_steps", "message"),
    [
        ([1e-3, 0.0], "positive and finite"),
        ([1e-3, -1e-3], "positive and finite"),
        ([1e-3, np.nan], "positive and finite"),
        ([[1e-3]], "1-D array"),
        ([], "non-empty"),
    ],
)
def test_bad_steps_are_refused(bad_steps, message):
    with pytest.raises(ValueError, match=message):
        check_steps(bad_steps)


def test_float64_without_x64_is_refused():
    with pytest.raises(ValueError, match=r"jax\.enable_x64"):
        difference_errors(jnp.sin, 0.5, X0, HS, jnp.float64)


def test_median_best_steps_lie_within_three_of_the_estimates_in_numpy():
    """The page's median over points, redone with NumPy's float64 sin."""
    points = np.linspace(0.5, 1.5, 21)[:, None]
    forward = np.abs((np.sin(points + HS) - np.sin(points)) / HS - np.cos(points))
    central = np.abs((np.sin(points + HS) - np.sin(points - HS)) / (2 * HS) - np.cos(points))
    eps = np.finfo(np.float64).eps
    forward_h = HS[np.median(forward, axis=0).argmin()] / np.sqrt(eps)
    central_h = HS[np.median(central, axis=0).argmin()] / np.cbrt(eps)
    assert 1 / 3 < forward_h < 3 and 1 / 3 < central_h < 3


def test_autodiff_in_float32_returns_the_nearest_float32_to_cos_1():
    nearest = np.float32(np.cos(np.float64(1.0)))  # correctly rounded
    assert jax.grad(jnp.sin)(jnp.float32(1.0)) == nearest


def test_a_weak_float_gives_way_to_any_floating_dtype_but_not_to_ints():
    for dtype in [jnp.bfloat16, jnp.float16, jnp.float32]:
        assert (jnp.ones(2, dtype) + 3.0).dtype == dtype
    assert (jnp.arange(3) + 3.0).dtype == jnp.float32


def test_slope_fit_needs_points_in_range():
    with pytest.raises(ValueError, match="widen it"):
        fit_slope(HS, np.ones_like(HS), 2e-1, 3e-1)


def test_max_abs_error_refuses_different_shapes():
    assert max_abs_error(jnp.ones(3), jnp.zeros(3)) == 1.0
    with pytest.raises(ValueError, match="same points"):
        max_abs_error(jnp.ones(3), jnp.ones(4))
