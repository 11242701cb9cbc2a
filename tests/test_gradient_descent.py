"""The gradient descent chapter, against closed-form answers."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from snippets.gradient_descent import bowl, descend, descend_2d, two_minima


def square(x):
    return x**2


@pytest.mark.parametrize("step_size", [0.01, 0.1, 0.3, 0.5, 0.8])
def test_descent_on_parabola_follows_the_factor(step_size):
    """x_k = (1 - 2 eta)^k x_0 exactly, the rule solved by hand."""
    path = descend(square, x0=3.0, step_size=step_size, n_steps=20)
    expected = (1 - 2 * step_size) ** np.arange(21) * 3.0
    np.testing.assert_allclose(path, expected, rtol=1e-5, atol=1e-6)


def test_step_one_oscillates_and_beyond_diverges():
    oscillating = descend(square, x0=3.0, step_size=1.0, n_steps=31)
    np.testing.assert_allclose(np.abs(oscillating), 3.0)
    assert np.all(np.sign(oscillating[1:]) != np.sign(oscillating[:-1]))
    diverging = descend(square, x0=3.0, step_size=1.05, n_steps=30)
    assert abs(diverging[-1]) == pytest.approx(3.0 * 1.1**30, rel=1e-4)


def test_descent_finds_the_minimum_it_starts_above():
    """The stationary points of x^4 - 3x^2 + x are the roots of 4x^3 - 6x + 1."""
    left, _maximum, right = np.sort(np.roots([4, 0, -6, 1]).real)
    from_right = descend(two_minima, x0=2.0, step_size=0.01, n_steps=500)[-1]
    from_left = descend(two_minima, x0=-2.0, step_size=0.01, n_steps=500)[-1]
    assert from_right == pytest.approx(right, abs=1e-4)
    assert from_left == pytest.approx(left, abs=1e-4)
    assert two_minima(from_left) < two_minima(from_right)


def test_descent_in_two_dimensions_shrinks_each_axis_by_its_own_factor():
    path = descend_2d(bowl, p0=[-2.0, 1.5], step_size=0.1, n_steps=10)
    k = np.arange(11)
    np.testing.assert_allclose(path[:, 0], -2.0 * 0.8**k, rtol=1e-5)
    np.testing.assert_allclose(path[:, 1], 1.5 * 0.4**k, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), float("inf")])
def test_descend_refuses_a_bad_step_size(bad):
    with pytest.raises(ValueError, match="step_size must be a positive number"):
        descend(square, x0=1.0, step_size=bad, n_steps=3)


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


def test_one_weight_fit_matches_least_squares():
    x = jnp.array([0.5, 1.0, 1.5, 2.0, 2.5])
    y = jnp.array([1.1, 1.9, 3.2, 3.9, 5.1])
    exact = float(jnp.sum(x * y) / jnp.sum(x * x))  # d/dw mean((wx - y)^2) = 0

    def error(w):
        return jnp.mean((w * x - y) ** 2)

    assert descend(error, x0=0.0, step_size=0.05, n_steps=200)[-1] == pytest.approx(exact, 1e-4)
