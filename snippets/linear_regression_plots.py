"""Chapter "Linear regression": its figures."""

import jax
import jax.numpy as jnp
import numpy as np

from snippets.linear_regression_model import loss


# --8<-- [start:plot_fit]
def plot_fit(ax, x, y, lines):
    """The data as dots, and each (label, (beta0, beta1)) in `lines` as a line."""
    ax.scatter(x, y, s=8, alpha=0.5, color="gray", label="houses")
    grid = jnp.linspace(x.min(), x.max(), 2)
    for (label, (beta0, beta1)), style in zip(lines, ["-", "--", ":"], strict=False):
        ax.plot(grid, beta0 + beta1 * grid, style, lw=2, label=label)
    ax.set(xlabel="floor area $x$ (100 m² from the average)", ylabel="price $y$")
    ax.legend(loc="upper left", fontsize=9)


# --8<-- [end:plot_fit]


# --8<-- [start:plot_path]
def plot_path(ax, x, y, path, optimum):
    """The descent path of (beta0, beta1) over the contour lines of the loss."""
    b0, b1 = np.meshgrid(np.linspace(-2, 8, 120), np.linspace(-5, 45, 120))
    grid = jnp.stack([b0.ravel(), b1.ravel()], axis=1)  # (14400, 2)
    values = jax.vmap(loss, in_axes=(0, None, None))(grid, x, y).reshape(b0.shape)
    ax.contour(
        b0,
        b1,
        values,
        levels=np.geomspace(values.min(), values.max(), 14),
        colors="gray",
        linewidths=0.7,
    )
    ax.plot(path[:, 0], path[:, 1], ".-", ms=3, lw=1, label="descent")
    ax.plot(*optimum, "*", ms=14, label="closed form")
    ax.set(xlabel=r"$\beta_0$", ylabel=r"$\beta_1$")
    ax.legend(loc="lower right", fontsize=9)


# --8<-- [end:plot_path]
