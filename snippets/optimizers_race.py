"""Chapter "Optimizers": test problems, stability matrices, race helpers.

Nothing here imports the optimizers; the chapter's demonstrations are in
optimizers.py, whose setup block shows the imports below.
"""

import jax.numpy as jnp
import numpy as np


# --8<-- [start:iteration_matrices]
def heavy_ball_matrix(s, mu):
    """(theta, eta m) -> next, for m <- g + mu m, theta <- theta - eta m,
    on a quadratic direction of curvature lambda, with s = eta lambda."""
    return np.array([[1 - s, -mu], [s, mu]])


def nesterov_matrix(s, mu):
    """The same for optax-style Nesterov: theta <- theta - eta (g + mu m)."""
    return np.array([[1 - s * (1 + mu), -(mu**2)], [s, mu]])


def largest_stable_step(matrix, mu, grid):
    """The largest s = eta lambda on `grid` whose spectral radius is < 1."""
    matrices = np.stack([matrix(s, mu) for s in grid])  # (len(grid), 2, 2)
    radius = np.abs(np.linalg.eigvals(matrices)).max(axis=-1)
    return grid[np.flatnonzero(radius < 1).max()]


# --8<-- [end:iteration_matrices]


# --8<-- [start:problems]
def ill_conditioned(theta):
    """A quadratic bowl 100 times more curved along theta_1 than theta_0."""
    return 0.5 * (theta[0] ** 2 + 100 * theta[1] ** 2)


def rosenbrock(theta):
    """A curved, flat-bottomed valley with its minimum 0 at (1, 1)."""
    return (1 - theta[0]) ** 2 + 100 * (theta[1] - theta[0] ** 2) ** 2


# --8<-- [end:problems]


# --8<-- [start:race_helpers]
def best_index(final_losses):
    """The run with the lowest finite final loss."""
    final_losses = np.asarray(final_losses)
    return int(
        np.argmin(np.where(np.isfinite(final_losses), final_losses, np.inf))
    )


def steps_to_tolerance(losses, minimum, tol):
    """First step whose loss is within tol of the minimum, or None."""
    close = np.flatnonzero(np.asarray(losses) - minimum <= tol)
    return int(close[0]) if close.size else None


# --8<-- [end:race_helpers]


# --8<-- [start:plot_paths]
def plot_paths(ax, objective, paths, window, levels):
    """Contour lines of a 2-D objective, and one path per optimizer."""
    (x0, x1), (y0, y1) = window
    gx, gy = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    values = np.asarray(objective(jnp.stack([gx, gy])))  # (200, 200)
    ax.contour(gx, gy, values, levels=levels, colors="gray", linewidths=0.6)
    for name, path in paths.items():
        ax.plot(path[:, 0], path[:, 1], lw=1.2, label=name)
    ax.set(xlim=(x0, x1), ylim=(y0, y1))


# --8<-- [end:plot_paths]
