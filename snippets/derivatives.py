"""Chapter "Derivatives with JAX": grad, vmap, finite differences and jit."""

# --8<-- [start:setup]
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
# --8<-- [end:setup]

from snippets.derivatives_numeric import (
    central_difference,
    difference_errors,
    fit_slope,
    forward_difference,
    plot_difference_errors,
)


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


# --8<-- [start:log1pexp]
def log1pexp(x):
    """log(1 + e^x), written the obvious way: e^x overflows for large x."""
    return jnp.log(1.0 + jnp.exp(x))


# --8<-- [end:log1pexp]


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
        message = str(err)
        print(f"TypeError: {message}")
    # the two ways out it suggests: sum the output, or take the Jacobian
    assert ".sum()" in message and "jax.jacobian" in message
    # --8<-- [end:grad_needs_scalar]

    # --8<-- [start:vmap_grad]
    dsin_everywhere = jax.vmap(jax.grad(jnp.sin))  # still just a function
    xs = jnp.linspace(-2 * jnp.pi, 2 * jnp.pi, 1001)  # (1001,)
    vmap_error = max_abs_error(dsin_everywhere(xs), jnp.cos(xs))
    print(f"{xs.size} points, largest |grad(sin) - cos| = {vmap_error}")
    assert vmap_error == 0.0  # the same cos, rounded the same way
    # --8<-- [end:vmap_grad]

    # --8<-- [start:grad_of_sum]
    dsum = jax.grad(lambda x: jnp.sum(jnp.sin(x)))  # one scalar output
    sum_error = max_abs_error(dsum(xs), dsin_everywhere(xs))
    print(f"largest difference from the vmapped derivative: {sum_error}")
    assert sum_error < 1e-6
    # --8<-- [end:grad_of_sum]

    # --8<-- [start:draw_sin_and_derivative]
    fig, ax = plt.subplots(num="sin_and_derivative", figsize=(7, 3.2))
    plot_sin_and_derivative(ax, xs, dsin_everywhere)
    plt.show()
    # --8<-- [end:draw_sin_and_derivative]

    # --8<-- [start:one_difference]
    x0, h = 1.0, 1e-3
    x32 = jnp.float32(x0)  # JAX's default precision
    print(f"forward difference: {forward_difference(jnp.sin, x32, h):.7f}")
    print(f"central difference: {central_difference(jnp.sin, x32, h):.7f}")
    print(f"exact, cos(1.0):    {np.cos(x0):.7f}")
    # --8<-- [end:one_difference]

    # --8<-- [start:machine_epsilon]
    eps32, eps64 = np.finfo(np.float32).eps, np.finfo(np.float64).eps
    print(f"machine epsilon: float32 {eps32:.1e}, float64 {eps64:.1e}")
    # the gap from 1 to the next larger number (below 1 the gap is half that)
    assert np.nextafter(np.float32(1), np.float32(2)) - 1 == eps32
    # --8<-- [end:machine_epsilon]

    # --8<-- [start:sweep_steps]
    hs = np.logspace(-15, 0, 61)  # 1e-15 ... 1, four steps per decade
    exact = float(np.cos(x0))  # the true derivative, in float64
    errors = {"float32": difference_errors(jnp.sin, exact, x0, hs, jnp.float32)}
    with jax.enable_x64():
        errors["float64"] = difference_errors(
            jnp.sin, exact, x0, hs, jnp.float64
        )
    for name, (forward, central) in errors.items():
        print(
            f"{name}: best forward h = {hs[forward.argmin()]:.0e} "
            f"(error {forward.min():.1e}), best central h = "
            f"{hs[central.argmin()]:.0e} (error {central.min():.1e})"
        )
    # --8<-- [end:sweep_steps]

    # --8<-- [start:draw_difference_errors]
    fig, axes = plt.subplots(
        1, 2, num="difference_errors", figsize=(8, 3.4), sharey=True
    )
    plot_difference_errors(axes, hs, errors)
    plt.show()
    # --8<-- [end:draw_difference_errors]

    # --8<-- [start:rounds_to_x]
    h32 = hs.astype(np.float32)
    lost = (x32 + h32 == x32) & (x32 - h32 == x32)  # both round back to x
    lost32 = hs[lost]
    print(f"float32: x ± h == x for every h up to {lost32.max():.0e}")
    forward32, central32 = errors["float32"]
    # both differences are exactly 0 there: the whole derivative is lost
    assert np.all(forward32[lost] == exact) and np.all(central32[lost] == exact)
    # float64 keeps x + h != x even for the smallest step in the sweep
    assert np.all(x0 + hs != x0)
    # --8<-- [end:rounds_to_x]

    # --8<-- [start:slopes]
    forward64, central64 = errors["float64"]
    forward_slope = fit_slope(hs, forward64, 1e-5, 1e-1)
    central_slope = fit_slope(hs, central64, 1e-3, 1e-1)
    print(f"log-log slope of the forward difference: {forward_slope:.2f}")
    print(f"log-log slope of the central difference: {central_slope:.2f}")
    # order 1 and 2: halving h halves one error and quarters the other
    assert abs(forward_slope - 1) < 0.1 and abs(central_slope - 2) < 0.1
    # --8<-- [end:slopes]

    # --8<-- [start:best_step]
    assert central64.min() > 100 * eps64  # far from float64's own precision
    # one point can be lucky; the median error over many points is not
    points = np.linspace(0.5, 1.5, 21)
    with jax.enable_x64():
        errors_at = [  # a (forward, central) pair of errors per point
            difference_errors(jnp.sin, float(np.cos(p)), p, hs, jnp.float64)
            for p in points
        ]
    forward_typical = np.median([f for f, _ in errors_at], axis=0)
    central_typical = np.median([c for _, c in errors_at], axis=0)
    # the best steps, against the estimates sqrt(eps) and eps^(1/3)
    forward_h = hs[forward_typical.argmin()] / np.sqrt(eps64)
    central_h = hs[central_typical.argmin()] / np.cbrt(eps64)
    print(f"median over {points.size} points, best h / sqrt(eps): ", end="")
    print(f"{forward_h:.2f} (forward); best h / eps^(1/3): {central_h:.2f}")
    assert 1 / 3 < forward_h < 3 and 1 / 3 < central_h < 3
    # --8<-- [end:best_step]

    # --8<-- [start:autodiff_error]
    autodiff32 = abs(float(jax.grad(jnp.sin)(jnp.float32(x0))) - exact)
    with jax.enable_x64():
        autodiff64 = abs(float(jax.grad(jnp.sin)(jnp.float64(x0))) - exact)
    spacing32 = float(np.spacing(np.float32(exact)))  # float32 gap near cos 1
    print(f"autodiff error: float32 {autodiff32:.1e}, float64 {autodiff64:.1e}")
    # within half the spacing: the float32 number nearest to the truth
    assert autodiff32 <= spacing32 / 2 and autodiff64 <= 1e-15
    # --8<-- [end:autodiff_error]

    # --8<-- [start:autodiff_overflow]
    at = 100.0  # e^100 is beyond the largest float32, about 3.4e38
    print(f"log1pexp({at}) = {log1pexp(at)}, grad = {jax.grad(log1pexp)(at)}")
    stable = jax.grad(lambda x: jnp.logaddexp(0.0, x))  # same function
    print(f"grad of jnp.logaddexp(0, x) at {at} = {stable(at)}")
    assert jnp.isnan(jax.grad(log1pexp)(at)) and stable(at) == 1.0
    # backward: d log(c)/dc = 1/(1 + e^x) is 0, d e^x/dx = e^x is inf
    assert 1 / (1 + jnp.exp(at)) == 0 and jnp.isinf(jnp.exp(at))
    # --8<-- [end:autodiff_overflow]

    # --8<-- [start:higher_derivatives]
    d2sin = jax.grad(jax.grad(jnp.sin))
    d3sin = jax.grad(d2sin)
    second_error = max_abs_error(jax.vmap(d2sin)(xs), -jnp.sin(xs))
    third_error = max_abs_error(jax.vmap(d3sin)(xs), -jnp.cos(xs))
    print(f"second derivative vs -sin: {second_error:.1e}")
    print(f"third derivative  vs -cos: {third_error:.1e}")
    assert second_error < 1e-6 and third_error < 1e-6
    # --8<-- [end:higher_derivatives]

    # --8<-- [start:value_and_grad]
    value, slope = jax.value_and_grad(jnp.sin)(1.0)
    print(f"sin(1.0) = {value:.7f}, slope there = {slope:.7f}")
    # --8<-- [end:value_and_grad]

    # --8<-- [start:jit_tracing]
    traces = []

    @jax.jit
    def square(x):
        weak = " weak" if x.weak_type else ""
        traces.append(f"{x.dtype}{list(x.shape)}{weak}")  # only while tracing
        return x**2

    for argument in [3.0, 4.0, jnp.float32(5.0), jnp.arange(3.0), 6.0]:
        square(argument)
    print(f"5 calls, {len(traces)} traces: {traces}")
    assert len(traces) == 3
    # a weakly typed 3.0 gives way: bfloat16 plus 3.0 stays bfloat16
    assert (jnp.ones(2, jnp.bfloat16) + 3.0).dtype == jnp.bfloat16
    # --8<-- [end:jit_tracing]

    # --8<-- [start:jit_new_function]
    fresh = []
    for _ in range(3):  # three lambdas with the same code, three functions
        jax.jit(lambda x: fresh.append(1) or x**2)(3.0)
    print(f"3 new lambdas, 1 call each: {len(fresh)} traces")
    assert len(fresh) == 3
    # --8<-- [end:jit_new_function]

    # --8<-- [start:jaxpr]
    jaxpr = jax.make_jaxpr(jax.grad(jnp.sin))(1.0)
    print(jaxpr)
    assert [eqn.primitive.name for eqn in jaxpr.eqns] == ["sin", "cos", "mul"]
    # --8<-- [end:jaxpr]
