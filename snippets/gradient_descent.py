"""Chapter "Gradient descent": follow the slope downhill."""

# --8<-- [start:setup]
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation
# --8<-- [end:setup]


# --8<-- [start:descend]
def descend(f, x0, step_size, n_steps):
    """Run x <- x - step_size * f'(x) from x0; return the path x_0, ..., x_n."""
    if not (np.isfinite(step_size) and step_size > 0):
        raise ValueError(f"step_size must be a positive number, got {step_size}")
    slope = jax.jit(jax.grad(f))  # compiled once, then each call is fast
    path = [float(x0)]
    for _ in range(n_steps):
        path.append(path[-1] - step_size * float(slope(path[-1])))
    return np.array(path)


# --8<-- [end:descend]


# --8<-- [start:animate_descent]
def animate_descent(fig, ax, f, path):
    """An animation of `path` sliding down the curve of `f`, one step a frame."""
    grid = np.linspace(-1.2 * abs(path[0]), 1.2 * abs(path[0]), 200)
    ax.plot(grid, jax.vmap(f)(grid), color="gray", lw=1)
    (trail,) = ax.plot([], [], "o-", ms=4, lw=1, alpha=0.6)
    (ball,) = ax.plot([], [], "o", ms=12, color="C1")
    label = ax.text(0.02, 0.92, "", transform=ax.transAxes)
    heights = np.asarray(jax.vmap(f)(path))  # NumPy: slicing it per frame compiles nothing

    def draw(k):
        trail.set_data(path[: k + 1], heights[: k + 1])
        ball.set_data([path[k]], [heights[k]])
        label.set_text(f"step {k}: x = {path[k]:+.3f}")
        return trail, ball, label

    return FuncAnimation(fig, draw, frames=len(path), interval=250)


# --8<-- [end:animate_descent]


# --8<-- [start:plot_step_sizes]
def plot_step_sizes(axes, paths):
    """x_k against the step k, one panel per step size."""
    for k, (ax, (step_size, path)) in enumerate(zip(axes, paths.items(), strict=True)):
        ax.plot(path, ".-", ms=4, lw=1, color=f"C{k}")
        ax.set(title=f"η = {step_size}", xlabel="step $k$", ylim=(-6, 6))
    axes[0].set_ylabel("$x_k$")


# --8<-- [end:plot_step_sizes]


# --8<-- [start:two_minima]
def two_minima(x):
    """A quartic with a shallow local minimum near 1.1 and a global one near -1.3."""
    return x**4 - 3 * x**2 + x


# --8<-- [end:two_minima]


# --8<-- [start:bowl]
def bowl(p):
    """f(x, y) = x^2 + 3y^2: steeper along y than along x."""
    return p[0] ** 2 + 3 * p[1] ** 2


def descend_2d(f, p0, step_size, n_steps):
    """The same rule for a vector: p <- p - step_size * grad f(p)."""
    gradient = jax.jit(jax.grad(f))
    path = [jnp.asarray(p0, dtype=jnp.float32)]
    for _ in range(n_steps):
        path.append(path[-1] - step_size * gradient(path[-1]))
    return jnp.stack(path)  # (n_steps + 1, 2)


# --8<-- [end:bowl]


if __name__ == "__main__":
    # --8<-- [start:slopes_either_side]
    def square(x):
        return x**2

    for x in [3.0, -3.0]:
        print(
            f"at x = {x:+}: slope f'(x) = {jax.grad(square)(x):+}, so step towards "
            f"{'smaller' if jax.grad(square)(x) > 0 else 'larger'} x"
        )
    # --8<-- [end:slopes_either_side]

    # --8<-- [start:first_descent]
    path = descend(square, x0=3.0, step_size=0.1, n_steps=20)
    for k in [0, 1, 2, 5, 10, 20]:
        print(f"step {k:2d}: x = {path[k]:.6f}")
    # --8<-- [end:first_descent]

    # --8<-- [start:draw_animation]
    plt.rcParams["animation.html"] = "jshtml"  # how a notebook shows an animation
    fig, ax = plt.subplots(num="descent_on_parabola", figsize=(6, 3.2))
    descent = animate_descent(fig, ax, square, path)
    plt.close(fig)  # show the animation, not a still of its first frame
    descent  # a notebook shows the value of its cell's last line as output
    # --8<-- [end:draw_animation]

    # --8<-- [start:contraction]
    paths = {}
    for step_size in [0.01, 0.1, 0.5, 1.0, 1.05]:
        paths[step_size] = descend(square, x0=3.0, step_size=step_size, n_steps=30)
        factor = 1 - 2 * step_size
        print(f"η = {step_size:<4}  1 - 2η = {factor:+.2f}  x_30 = {paths[step_size][-1]:+.3e}")
    # --8<-- [end:contraction]

    # --8<-- [start:draw_step_sizes]
    fig, axes = plt.subplots(1, 5, num="step_sizes", figsize=(10, 2.6), sharey=True)
    plot_step_sizes(axes, paths)
    plt.show()
    # --8<-- [end:draw_step_sizes]

    # --8<-- [start:local_global]
    from_right = descend(two_minima, x0=2.0, step_size=0.01, n_steps=500)
    from_left = descend(two_minima, x0=-2.0, step_size=0.01, n_steps=500)
    for name, end in [("from x0 = +2", from_right[-1]), ("from x0 = -2", from_left[-1])]:
        print(f"{name}: stops at x = {end:+.4f}, f(x) = {two_minima(end):+.4f}")
    # --8<-- [end:local_global]

    # --8<-- [start:draw_local_global]
    fig, ax = plt.subplots(num="local_and_global", figsize=(7, 3.2))
    grid = np.linspace(-2.1, 2.1, 300)
    ax.plot(grid, two_minima(grid), color="gray", lw=1, label="$x^4 - 3x^2 + x$")
    ax.plot(from_right, two_minima(from_right), ".-", label="start at +2: local minimum")
    ax.plot(from_left, two_minima(from_left), ".-", label="start at -2: global minimum")
    ax.set(xlabel="$x$", ylabel="$f(x)$")
    ax.legend(loc="upper center", fontsize=9)
    plt.show()
    # --8<-- [end:draw_local_global]

    # --8<-- [start:descend_2d]
    path_2d = descend_2d(bowl, p0=[-2.0, 1.5], step_size=0.1, n_steps=25)
    print(f"gradient at the start: {jax.grad(bowl)(path_2d[0])}")
    print(f"after 25 steps: {path_2d[-1]}, f = {bowl(path_2d[-1]):.2e}")
    # --8<-- [end:descend_2d]

    # --8<-- [start:draw_descend_2d]
    fig, ax = plt.subplots(num="descent_in_2d", figsize=(6, 3.6))
    gx, gy = np.meshgrid(np.linspace(-2.5, 2.5, 200), np.linspace(-2, 2, 160))
    ax.contour(gx, gy, gx**2 + 3 * gy**2, levels=12, colors="gray", linewidths=0.7)
    ax.plot(path_2d[:, 0], path_2d[:, 1], "o-", ms=3, color="C1")
    ax.set(xlabel="$x$", ylabel="$y$", aspect="equal")
    plt.show()
    # --8<-- [end:draw_descend_2d]

    # --8<-- [start:fit_one_weight]
    x_data = jnp.array([0.5, 1.0, 1.5, 2.0, 2.5])
    y_data = jnp.array([1.1, 1.9, 3.2, 3.9, 5.1])  # roughly y = 2x

    def error(w):
        """Mean squared error of the model y = w * x on the data."""
        return jnp.mean((w * x_data - y_data) ** 2)

    weights = descend(error, x0=0.0, step_size=0.05, n_steps=50)
    print(f"w after 50 steps: {weights[-1]:.4f}, error {error(weights[-1]):.4f}")
    # --8<-- [end:fit_one_weight]
