"""The gradient descent chapter, against closed-form answers."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from snippets.gradient_descent import (
    bowl,
    bowl_gradient,
    descend,
    square,
    square_slope,
    two_minima,
    two_minima_slope,
)


def central_difference(f, x, h=1e-6):
    """An independent, measured derivative (float64)."""
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize(("f", "slope"), [(square, square_slope), (two_minima, two_minima_slope)])
def test_hand_derivatives_match_a_finite_difference(f, slope):
    xs = np.linspace(-2.5, 2.5, 101)
    np.testing.assert_allclose(slope(xs), central_difference(f, xs), atol=1e-6)


def test_hand_gradient_of_the_bowl_matches_finite_differences():
    rng = np.random.default_rng(0)
    for theta in rng.normal(size=(10, 2)):
        h = 1e-6
        measured = [(bowl(theta + h * e) - bowl(theta - h * e)) / (2 * h) for e in np.eye(2)]
        np.testing.assert_allclose(bowl_gradient(theta), measured, atol=1e-6)


@pytest.mark.parametrize("step_size", [0.01, 0.1, 0.3, 0.5, 0.8])
def test_descent_on_parabola_follows_the_factor(step_size):
    """x_t = (1 - 2 eta)^t x_0 exactly, the rule solved by hand."""
    path = descend(square_slope, 3.0, step_size, 20)
    expected = (1 - 2 * step_size) ** np.arange(21) * 3.0
    np.testing.assert_allclose(path, expected, rtol=1e-12, atol=1e-15)


def test_step_one_oscillates_and_beyond_diverges():
    oscillating = descend(square_slope, 3.0, 1.0, 31)
    np.testing.assert_allclose(np.abs(oscillating), 3.0)
    assert np.all(np.sign(oscillating[1:]) != np.sign(oscillating[:-1]))
    diverging = descend(square_slope, 3.0, 1.05, 30)
    assert abs(diverging[-1]) == pytest.approx(3.0 * 1.1**30, rel=1e-9)


def test_descent_finds_the_minimum_it_starts_above():
    """The stationary points of x^4 - 3x^2 + x are the roots of 4x^3 - 6x + 1."""
    left, _maximum, right = np.sort(np.roots([4, 0, -6, 1]).real)
    from_right = descend(two_minima_slope, 2.0, 0.01, 500)[-1]
    from_left = descend(two_minima_slope, -2.0, 0.01, 500)[-1]
    assert from_right == pytest.approx(right, abs=1e-6)
    assert from_left == pytest.approx(left, abs=1e-6)
    assert two_minima(from_left) < two_minima(from_right)


def test_descent_in_two_dimensions_shrinks_each_axis_by_its_own_factor():
    path = descend(bowl_gradient, [-2.0, 1.5], 0.1, 10)
    t = np.arange(11)
    assert path.shape == (11, 2)
    np.testing.assert_allclose(path[:, 0], -2.0 * 0.8**t, rtol=1e-12)
    np.testing.assert_allclose(path[:, 1], 1.5 * 0.4**t, rtol=1e-12)


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), float("inf")])
def test_descend_refuses_a_bad_step_size(bad):
    with pytest.raises(ValueError, match="step_size must be a positive number"):
        descend(square_slope, 1.0, bad, 3)


def test_one_weight_fit_matches_least_squares():
    x = np.array([0.5, 1.0, 1.5, 2.0, 2.5])
    y = np.array([1.1, 1.9, 3.2, 3.9, 5.1])
    exact = np.linalg.lstsq(x[:, None], y, rcond=None)[0][0]

    def slope(theta):
        return np.mean(2 * (theta * x - y) * x)

    assert descend(slope, 0.0, 0.05, 200)[-1] == pytest.approx(exact, rel=1e-9)


def test_the_animation_has_one_frame_per_step(site):
    site_dir, _ = site
    for palette in ("light", "dark"):
        with Image.open(site_dir / "figures" / f"descent_on_parabola-{palette}.gif") as gif:
            assert gif.n_frames == 21
            assert gif.size[0] > 300


def test_the_dark_animation_is_drawn_on_the_dark_page(site):
    site_dir, _ = site
    corners = {}
    for palette in ("light", "dark"):
        with Image.open(site_dir / "figures" / f"descent_on_parabola-{palette}.gif") as gif:
            corners[palette] = gif.convert("RGB").getpixel((1, 1))
    assert corners["light"] == (255, 255, 255)
    assert sum(corners["dark"]) < 3 * 60
