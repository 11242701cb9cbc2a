"""Chapter "Linear regression": its figures."""

import jax
import jax.numpy as jnp
import numpy as np

from snippets.linear_regression_model import loss


# --8<-- [start:plot_fit]
def plot_fit(ax, x, y, lines):
    """The data as dots, and each (label, (theta0, theta1)) as a line."""
    ax.scatter(x, y, s=8, alpha=0.5, color="gray", label="houses")
    grid = jnp.linspace(x.min(), x.max(), 2)
    for (label, (theta0, theta1)), style in zip(
        lines, ["-", "--", ":"], strict=False
    ):
        ax.plot(grid, theta0 + theta1 * grid, style, lw=2, label=label)
    ax.set(
        xlabel="floor area $x$ (100 m² from the average)", ylabel="price $y$"
    )
    ax.legend(loc="upper left", fontsize=9)


# --8<-- [end:plot_fit]


# --8<-- [start:plot_path]
def plot_path(ax, x, y, path, optimum):
    """The descent path of (theta0, theta1) over the contours of the loss."""
    t0, t1 = np.meshgrid(np.linspace(-2, 8, 120), np.linspace(-5, 45, 120))
    grid = jnp.stack([t0.ravel(), t1.ravel()], axis=1)  # (14400, 2)
    # in_axes: map over the rows of grid; pass x and y whole to every call
    losses = jax.vmap(loss, in_axes=(0, None, None))(grid, x, y)
    levels = np.geomspace(losses.min(), losses.max(), 14)
    ax.contour(t0, t1, losses.reshape(t0.shape), levels=levels, colors="gray")
    ax.plot(path[:, 0], path[:, 1], ".-", ms=3, lw=1, label="descent")
    ax.plot(*optimum, "*", ms=14, label="closed form")
    ax.set(xlabel=r"$\theta_0$", ylabel=r"$\theta_1$")
    ax.legend(loc="lower right", fontsize=9)


# --8<-- [end:plot_path]
