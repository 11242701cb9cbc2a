"""Chapter "Autodiff in depth", part four: nan gradients and finding them."""

import jax  # shown by snippets/autodiff.py:setup
import jax.numpy as jnp


# --8<-- [start:log1pexp_naive]
def log1pexp_naive(x):
    """log(1 + e^x), as the formula reads."""
    return jnp.log(1.0 + jnp.exp(x))


# --8<-- [end:log1pexp_naive]


# --8<-- [start:log1pexp]
@jax.custom_jvp
def log1pexp(x):
    """log(1 + e^x) without overflow: max(x, 0) + log(1 + e^-|x|)."""
    return jnp.maximum(x, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(x)))


@log1pexp.defjvp
def log1pexp_jvp(primals, tangents):
    """d/dx log(1 + e^x) = 1 / (1 + e^-x), the sigmoid.

    jax.nn.sigmoid, not the formula: a second derivative differentiates
    this rule in turn, and the formula's own derivative overflows.
    """
    (x,), (x_dot,) = primals, tangents
    return log1pexp(x), x_dot * jax.nn.sigmoid(x)


# --8<-- [end:log1pexp]


# --8<-- [start:where_functions]
def sqrt_or_zero_naive(x):
    """sqrt(x) where x > 0, else 0: the value is right, the gradient is not."""
    return jnp.where(x > 0, jnp.sqrt(x), 0.0)


def sqrt_or_zero(x):
    """The double where: the unused branch never sees a bad input."""
    safe_x = jnp.where(x > 0, x, 1.0)  # any value where sqrt is smooth
    return jnp.where(x > 0, jnp.sqrt(safe_x), 0.0)


# --8<-- [end:where_functions]


if __name__ == "__main__":
    # --8<-- [start:naive_nan]
    value, slope = jax.value_and_grad(log1pexp_naive)(100.0)
    print(f"log1pexp_naive(100) = {value}, its gradient = {slope}")
    assert jnp.isinf(value) and jnp.isnan(slope)
    # --8<-- [end:naive_nan]

    # --8<-- [start:custom_jvp_fixed]
    xs = jnp.array([-100.0, -20.0, 0.0, 20.0, 100.0])
    values = log1pexp(xs)  # elementwise already

    def derivatives(fn):  # first and second, elementwise, compiled
        first, second = jax.grad(fn), jax.grad(jax.grad(fn))
        return jax.jit(jax.vmap(first))(xs), jax.jit(jax.vmap(second))(xs)

    slopes, curvatures = derivatives(log1pexp)
    print("x:                ", xs)
    print("value:            ", values)
    print("first derivative: ", slopes)
    print("second derivative:", curvatures)
    softplus_slopes, softplus_curvatures = derivatives(jax.nn.softplus)
    assert jnp.allclose(values, jax.nn.softplus(xs))  # JAX's own softplus
    assert jnp.allclose(slopes, softplus_slopes)
    assert jnp.allclose(curvatures, softplus_curvatures)

    def sigmoid_formula(x):  # the rule written as the formula reads
        return 1.0 / (1.0 + jnp.exp(-x))

    d_formula = jax.grad(sigmoid_formula)(-100.0)  # = e^100 / (1 + e^100)^2
    print(f"derivative of the formula 1/(1 + e^-x) at -100: {d_formula}")
    assert jnp.isnan(d_formula) and jnp.isfinite(curvatures[0])
    # --8<-- [end:custom_jvp_fixed]

    # --8<-- [start:docs_rule]
    def docs_rule(x):  # the derivative as JAX's tutorial writes it
        return 1 - 1 / (1 + jnp.exp(x))

    def relative_error(x):  # against our rule, exact to float32 rounding
        true = jax.grad(log1pexp)(x)
        return abs(docs_rule(x) - true) / true

    for x in (-10.0, -15.0, -16.5, -16.7):
        print(
            f"x = {x:5}: 1 - 1/(1 + e^x) = {docs_rule(x):.6e}, "
            f"1/(1 + e^-x) = {jax.grad(log1pexp)(x):.6e}"
        )
    error_10, error_15 = relative_error(-10.0), relative_error(-15.0)
    assert 1e-4 < error_10 < 1e-3 and error_15 > 0.1
    assert docs_rule(-16.5) > 0 and docs_rule(-16.7) == 0
    # --8<-- [end:docs_rule]

    # --8<-- [start:where_trap]
    xs = jnp.array([-1.0, 0.25, 4.0])
    naive = jax.vmap(jax.grad(sqrt_or_zero_naive))(xs)
    fixed = jax.vmap(jax.grad(sqrt_or_zero))(xs)
    print("values:        ", sqrt_or_zero_naive(xs))
    print("naive gradient:", naive)
    print("double where:  ", fixed)
    assert jnp.isnan(naive[0]) and fixed[0] == 0.0  # at x = -1
    assert jnp.array_equal(naive[1:], fixed[1:])  # same where x > 0
    _, tangent = jax.jvp(sqrt_or_zero_naive, (-1.0,), (1.0,))
    print("forward mode, naive, at -1:", tangent)
    assert tangent == 0.0  # where picks the tangent: the nan is dropped
    # --8<-- [end:where_trap]

    # --8<-- [start:debug_print]
    @jax.jit
    def sqrt_or_zero_traced(x):
        root = jnp.sqrt(x)
        print("print sees a tracer:", root)  # only while jit traces
        jax.debug.print("jax.debug.print sees {}", root)  # at every call
        return jnp.where(x > 0, root, 0.0)

    sqrt_or_zero_traced(xs).block_until_ready()
    sqrt_or_zero_traced(xs + 1.0).block_until_ready()  # same signature
    sqrt_or_zero_traced(xs[:2]).block_until_ready()  # a new shape: traced
    jax.effects_barrier()  # wait until every debug print has happened
    # --8<-- [end:debug_print]

    # --8<-- [start:debug_nans]
    first_nans = []
    with jax.debug_nans(True):
        for fn, x in [(sqrt_or_zero_naive, -1.0), (log1pexp_naive, 100.0)]:
            try:
                jax.grad(fn)(x)
            except FloatingPointError as err:
                first_nans.append(str(err))
                print(f"grad({fn.__name__}): FloatingPointError: {err}")
        hidden = jax.jit(sqrt_or_zero_naive)(-1.0)  # sqrt(-1) made a nan
    print("jit(sqrt_or_zero_naive)(-1) under debug_nans:", hidden)
    assert first_nans[0].endswith("in sqrt")  # the forward pass
    assert first_nans[1].endswith("in mul")  # the backward pass
    assert hidden == 0.0  # where dropped the nan inside the compiled call
    # --8<-- [end:debug_nans]
