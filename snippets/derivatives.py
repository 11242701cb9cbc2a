"""Chapter "Derivatives with JAX": grad, vmap, higher derivatives and jit."""

# --8<-- [start:setup]
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
# --8<-- [end:setup]


# --8<-- [start:max_abs_error]
def max_abs_error(computed, reference):
    """The largest absolute difference between two arrays of the same shape."""
    computed, reference = jnp.asarray(computed), jnp.asarray(reference)
    if computed.shape != reference.shape:
        raise ValueError(
            f"cannot compare shapes {computed.shape} and {reference.shape}: "
            "evaluate both functions on the same points"
        )
    return float(jnp.max(jnp.abs(computed - reference)))


# --8<-- [end:max_abs_error]


# --8<-- [start:plot_sin_and_derivative]
def plot_sin_and_derivative(ax, xs, derivative):
    """Draw sin and `derivative(xs)` over the points `xs`."""
    ax.plot(xs, jnp.sin(xs), label=r"$\sin x$")
    ax.plot(xs, derivative(xs), "--", label="jax.grad(jnp.sin), vmapped")
    ax.set_xlabel("$x$")
    ax.legend(loc="lower left")


# --8<-- [end:plot_sin_and_derivative]


if __name__ == "__main__":
    # --8<-- [start:grad_sin]
    dsin = jax.grad(jnp.sin)  # a new function: x -> d/dx sin(x)
    print(f"grad(sin)(1.0) = {dsin(1.0):.7f}")
    print(f"cos(1.0)       = {jnp.cos(1.0):.7f}")
    # --8<-- [end:grad_sin]

    # --8<-- [start:grad_needs_scalar]
    try:
        jax.grad(jnp.sin)(jnp.array([0.0, 1.0, 2.0]))
    except TypeError as err:
        print(f"TypeError: {err}")
    # --8<-- [end:grad_needs_scalar]

    # --8<-- [start:vmap_grad]
    dsin_everywhere = jax.vmap(jax.grad(jnp.sin))  # still just a function
    xs = jnp.linspace(-2 * jnp.pi, 2 * jnp.pi, 1001)  # (1001,)
    vmap_error = max_abs_error(dsin_everywhere(xs), jnp.cos(xs))
    print(f"{xs.size} points, largest |grad(sin) - cos| = {vmap_error}")
    # --8<-- [end:vmap_grad]

    # --8<-- [start:grad_of_sum]
    dsum = jax.grad(lambda x: jnp.sum(jnp.sin(x)))
    print(f"same numbers as vmap: {bool(jnp.all(dsum(xs) == dsin_everywhere(xs)))}")
    # --8<-- [end:grad_of_sum]

    # --8<-- [start:draw_sin_and_derivative]
    fig, ax = plt.subplots(num="sin_and_derivative", figsize=(7, 3.2))
    plot_sin_and_derivative(ax, xs, dsin_everywhere)
    plt.show()
    # --8<-- [end:draw_sin_and_derivative]

    # --8<-- [start:higher_derivatives]
    d2sin = jax.grad(jax.grad(jnp.sin))
    d3sin = jax.grad(d2sin)
    second_error = max_abs_error(jax.vmap(d2sin)(xs), -jnp.sin(xs))
    third_error = max_abs_error(jax.vmap(d3sin)(xs), -jnp.cos(xs))
    print(f"second derivative vs -sin: {second_error:.1e}")
    print(f"third derivative  vs -cos: {third_error:.1e}")
    # --8<-- [end:higher_derivatives]

    # --8<-- [start:value_and_grad]
    value, slope = jax.value_and_grad(jnp.sin)(1.0)
    print(f"sin(1.0) = {value:.7f}, slope there = {slope:.7f}")
    # --8<-- [end:value_and_grad]

    # --8<-- [start:jit_tracing]
    @jax.jit
    def square(x):
        print(f"  tracing square for {x.dtype}{list(x.shape)}")  # runs once per shape
        return x**2

    for argument in [3.0, 4.0, jnp.arange(3.0)]:
        print(f"square({argument}) = {square(argument)}")
    # --8<-- [end:jit_tracing]

    # --8<-- [start:jaxpr]
    print(jax.make_jaxpr(jax.grad(jnp.sin))(1.0))
    # --8<-- [end:jaxpr]
