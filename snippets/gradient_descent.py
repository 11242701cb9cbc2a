"""Chapter "Gradient descent": follow the slope downhill.

NumPy only, with every derivative worked out by hand: the next chapter,
"Derivatives with JAX", hands that job to JAX.
"""

# --8<-- [start:setup]
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation
# --8<-- [end:setup]


# --8<-- [start:square]
def square(x):
    return x**2


def square_slope(x):
    """f'(x) = 2x, by the power rule."""
    return 2 * x


# --8<-- [end:square]


# --8<-- [start:descend]
def descend(slope, x0, step_size, n_steps):
    """Run x <- x - step_size * slope(x) from x0.

    Returns the path from x0 on, one row per step: shape (n_steps + 1,)
    for a number, (n_steps + 1, len(x0)) for a point with coordinates."""
    if not (np.isfinite(step_size) and step_size > 0):
        raise ValueError(
            f"step_size must be a positive number, got {step_size}"
        )
    path = [np.asarray(x0, dtype=float)]
    for _ in range(n_steps):
        path.append(path[-1] - step_size * slope(path[-1]))
    return np.array(path)


# --8<-- [end:descend]


# --8<-- [start:animate_descent]
def animate_descent(fig, ax, f, path):
    """An animation of `path` sliding down the curve of `f`, a step a frame."""
    reach = 1.2 * abs(path[0])
    grid = np.linspace(-reach, reach, 200)
    ax.plot(grid, f(grid), color="gray", lw=1)
    (trail,) = ax.plot([], [], "o-", ms=4, lw=1, alpha=0.6)
    (ball,) = ax.plot([], [], "o", ms=12, color="C1")
    label = ax.text(0.02, 0.92, "", transform=ax.transAxes)
    heights = f(path)

    def draw(t):
        trail.set_data(path[: t + 1], heights[: t + 1])
        ball.set_data([path[t]], [heights[t]])
        label.set_text(f"step {t}: x = {path[t]:+.3f}")
        return trail, ball, label

    return FuncAnimation(fig, draw, frames=len(path), interval=250)


# --8<-- [end:animate_descent]


# --8<-- [start:plot_step_sizes]
def plot_step_sizes(axes, paths):
    """x_t against the step t, one panel per step size."""
    for k, (ax, (step_size, path)) in enumerate(
        zip(axes, paths.items(), strict=True)
    ):
        ax.plot(path, ".-", ms=4, lw=1, color=f"C{k}")
        ax.set(title=f"η = {step_size}", xlabel="step $t$", ylim=(-6, 6))
    axes[0].set_ylabel("$x_t$")


# --8<-- [end:plot_step_sizes]


# --8<-- [start:two_minima]
def two_minima(x):
    """A quartic with a local minimum near 1.1 and a global one near -1.3."""
    return x**4 - 3 * x**2 + x


def two_minima_slope(x):
    """Its derivative, term by term: 4x^3 - 6x + 1."""
    return 4 * x**3 - 6 * x + 1


# --8<-- [end:two_minima]


# --8<-- [start:bowl]
def bowl(theta):
    """f(theta) = theta_0^2 + 3 theta_1^2: steeper along theta_1."""
    return theta[..., 0] ** 2 + 3 * theta[..., 1] ** 2


def bowl_gradient(theta):
    """The vector of partial derivatives (2 theta_0, 6 theta_1)."""
    return np.array([2 * theta[0], 6 * theta[1]])


# --8<-- [end:bowl]


if __name__ == "__main__":
    # --8<-- [start:slopes_either_side]
    for x in [3.0, -3.0]:
        way = "smaller" if square_slope(x) > 0 else "larger"
        print(f"at x = {x:+}: slope {square_slope(x):+}, step towards {way} x")
    # --8<-- [end:slopes_either_side]

    # --8<-- [start:first_descent]
    first_step_size, first_steps = 0.1, 20
    path = descend(square_slope, 3.0, first_step_size, first_steps)
    for t in [0, 1, 2, 5, 10, 20]:
        print(f"step {t:2d}: x = {path[t]:.6f}")
    # --8<-- [end:first_descent]

    # --8<-- [start:draw_animation]
    plt.rcParams["animation.html"] = "jshtml"  # how a notebook shows it
    fig, ax = plt.subplots(num="descent_on_parabola", figsize=(6, 3.2))
    descent = animate_descent(fig, ax, square, path)
    plt.close(fig)  # show the animation, not a still of its first frame
    descent  # a notebook shows the value of its cell's last line
    # --8<-- [end:draw_animation]

    # --8<-- [start:contraction]
    paths = {}
    for step_size in [0.01, 0.1, 0.5, 1.0, 1.05]:
        paths[step_size] = descend(square_slope, 3.0, step_size, 30)
        factor = 1 - 2 * step_size
        x_30 = paths[step_size][-1]
        # x_t = (1 - 2 eta)^t x_0: the rule, solved by hand
        assert np.isclose(x_30, factor**30 * 3.0)
        print(f"η = {step_size:<4}  1 - 2η = {factor:+.2f}  x_30 = {x_30:+.3e}")
    # --8<-- [end:contraction]

    # --8<-- [start:draw_step_sizes]
    fig, axes = plt.subplots(
        1, 5, num="step_sizes", figsize=(10, 2.6), sharey=True
    )
    plot_step_sizes(axes, paths)
    plt.show()
    # --8<-- [end:draw_step_sizes]

    # --8<-- [start:local_global]
    from_right = descend(two_minima_slope, 2.0, 0.01, 500)
    from_left = descend(two_minima_slope, -2.0, 0.01, 500)
    for name, end in [("+2", from_right[-1]), ("-2", from_left[-1])]:
        print(
            f"from x_0 = {name}: x = {end:+.4f}, f(x) = {two_minima(end):+.4f}"
        )
    assert two_minima(from_left[-1]) < two_minima(from_right[-1])
    # --8<-- [end:local_global]

    # --8<-- [start:draw_local_global]
    fig, ax = plt.subplots(num="local_and_global", figsize=(7, 3.2))
    grid = np.linspace(-2.1, 2.1, 300)
    ax.plot(grid, two_minima(grid), color="gray", lw=1, label="$f(x)$")
    for path_, start in [(from_right, "+2"), (from_left, "-2")]:
        ax.plot(path_, two_minima(path_), ".-", label=f"start at {start}")
    ax.set(xlabel="$x$", ylabel="$f(x)$")
    ax.legend(loc="upper center", fontsize=9)
    plt.show()
    # --8<-- [end:draw_local_global]

    # --8<-- [start:descend_2d]
    bowl_step_size, bowl_steps = 0.1, 25
    path_2d = descend(bowl_gradient, [-2.0, 1.5], bowl_step_size, bowl_steps)
    print(f"gradient at the start: {bowl_gradient(path_2d[0])}")
    print(
        f"after {bowl_steps} steps: {path_2d[-1]}, f = {bowl(path_2d[-1]):.2e}"
    )
    # each coordinate shrinks by its own factor: 1 - 2η for θ₀, 1 - 6η for θ₁
    factors = 1 - np.array([2, 6]) * bowl_step_size
    assert np.allclose(path_2d[-1], factors**bowl_steps * path_2d[0])
    # --8<-- [end:descend_2d]

    # --8<-- [start:draw_descend_2d]
    fig, ax = plt.subplots(num="descent_in_2d", figsize=(6, 3.6))
    grid = np.stack(
        np.meshgrid(np.linspace(-2.5, 2.5, 200), np.linspace(-2, 2, 160)),
        axis=-1,
    )  # (160, 200, 2): a point theta at every pixel
    ax.contour(grid[..., 0], grid[..., 1], bowl(grid), levels=12, colors="gray")
    ax.plot(path_2d[:, 0], path_2d[:, 1], "o-", ms=3, color="C1")
    ax.set(xlabel=r"$\theta_0$", ylabel=r"$\theta_1$", aspect="equal")
    plt.show()
    # --8<-- [end:draw_descend_2d]

    # --8<-- [start:fit_one_weight]
    x_data = np.array([0.5, 1.0, 1.5, 2.0, 2.5])
    y_data = np.array([1.1, 1.9, 3.2, 3.9, 5.1])  # roughly y = 2x

    def loss(theta):
        """Mean squared error of the model y = theta * x on the data."""
        return np.mean((theta * x_data - y_data) ** 2)

    def loss_slope(theta):
        """d loss / d theta = mean(2 (theta x - y) x), by the chain rule."""
        return np.mean(2 * (theta * x_data - y_data) * x_data)

    fit_steps = 50
    thetas = descend(loss_slope, 0.0, 0.05, fit_steps)
    best = np.sum(x_data * y_data) / np.sum(x_data**2)  # where the slope is 0
    print(f"theta after {fit_steps} steps: {thetas[-1]:.4f}, ", end="")
    print(f"loss {loss(thetas[-1]):.4f}; exact minimum at {best:.4f}")
    # --8<-- [end:fit_one_weight]
