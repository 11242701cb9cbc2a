"""Chapter "Autodiff in depth", part one: jvp, vjp, Jacobians and the jaxpr."""

# --8<-- [start:setup]
import jax
import jax.numpy as jnp
# --8<-- [end:setup]


# --8<-- [start:small_function]
def f(x):
    """A small function from R^3 to R^2."""
    return jnp.stack([x[0] * x[1] + jnp.sin(x[2]), x[0] ** 2 * x[2]])


def jacobian_by_hand(x):
    """J[i, j] = d f_i / d x_j, worked out with pencil and paper. (2, 3)"""
    return jnp.array(
        [
            [x[1], x[0], jnp.cos(x[2])],
            [2 * x[0] * x[2], 0.0, x[0] ** 2],
        ]
    )


# --8<-- [end:small_function]


# --8<-- [start:grad_from_vjp]
def grad_from_vjp(loss):
    """jax.grad rebuilt: one vjp of a scalar function, seeded with 1."""

    def gradient(x):
        value, pullback = jax.vjp(loss, x)
        (g,) = pullback(jnp.ones_like(value))  # the cotangent 1
        return g

    return gradient


# --8<-- [end:grad_from_vjp]


# --8<-- [start:lowered_operations]
import re


def operations(fn, *args):
    """The operations of jit(fn)'s program as XLA receives it, in order."""
    lowered = jax.jit(fn).lower(*args)  # traced and translated, not compiled
    return re.findall(r"stablehlo\.(\w+)", lowered.as_text())


# --8<-- [end:lowered_operations]


if __name__ == "__main__":
    # --8<-- [start:jvp_product]
    x = jnp.array([1.0, 2.0, 0.5])
    J = jacobian_by_hand(x)  # (2, 3)
    x_dot = jnp.array([0.1, -1.0, 2.0])  # a tangent: one number per input
    y, y_dot = jax.jvp(f, (x,), (x_dot,))
    print("f(x)      =", y)
    print("jvp       =", y_dot)
    print("J @ x_dot =", J @ x_dot)
    assert jnp.allclose(y_dot, J @ x_dot)
    # --8<-- [end:jvp_product]

    # --8<-- [start:vjp_product]
    y, pullback = jax.vjp(f, x)  # runs f now, returns the way back
    y_bar = jnp.array([1.0, -0.5])  # a cotangent: one number per output
    (x_bar,) = pullback(y_bar)  # a tuple: one cotangent per argument of f
    print("vjp       =", x_bar)
    print("y_bar @ J =", y_bar @ J)
    assert jnp.allclose(x_bar, y_bar @ J)
    # --8<-- [end:vjp_product]

    # --8<-- [start:jacobians]
    by_columns = jax.vmap(lambda t: jax.jvp(f, (x,), (t,))[1])(jnp.eye(3))
    by_rows = jax.vmap(pullback)(jnp.eye(2))[0]  # one vjp per output
    print("jacfwd:\n", jax.jacfwd(f)(x))
    for name, computed in [
        ("jacfwd", jax.jacfwd(f)(x)),
        ("jacrev", jax.jacrev(f)(x)),
        ("vmap of jvp (columns)", by_columns.T),
        ("vmap of vjp (rows)", by_rows),
    ]:
        assert jnp.allclose(computed, J), name
        print(f"{name:22} equals the hand-written Jacobian")
    # --8<-- [end:jacobians]

    # --8<-- [start:grad_is_vjp]
    def loss(x):
        return jnp.sum(f(x) ** 2)  # R^3 -> R

    mine, theirs = grad_from_vjp(loss)(x), jax.grad(loss)(x)
    print("grad_from_vjp:", mine)
    print("jax.grad:     ", theirs)
    print("bit for bit equal:", bool(jnp.all(mine == theirs)))
    assert jnp.all(mine == theirs)
    # --8<-- [end:grad_is_vjp]

    # --8<-- [start:jaxpr_grad_sin]
    jaxpr = jax.make_jaxpr(jax.grad(jnp.sin))(1.0)
    print(jaxpr)
    text = jaxpr.pretty_print(use_color=False)  # notebooks print in colour
    lines = [line.strip() for line in text.splitlines()]
    assert lines[1:4] == [
        "_:f32[] = sin a",
        "b:f32[] = cos a",
        "c:f32[] = mul 1.0:f32[] b",
    ]  # read below
    # --8<-- [end:jaxpr_grad_sin]

    # --8<-- [start:vjp_residual_sin]
    print(jax.make_jaxpr(lambda x: jax.vjp(jnp.sin, x))(1.0))
    _, sin_pullback = jax.vjp(jnp.sin, 1.0)
    saved = jax.tree.leaves(sin_pullback)  # the arrays the closure holds
    print("the pullback holds:", saved)
    assert len(saved) == 1 and saved[0] == jnp.cos(1.0)
    # --8<-- [end:vjp_residual_sin]

    # --8<-- [start:compiled_grad_sin]
    given = operations(jax.grad(jnp.sin), 1.0)
    print("operations XLA is given:", given)
    assert "sine" not in given and "cosine" in given
    # --8<-- [end:compiled_grad_sin]
