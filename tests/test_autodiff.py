"""The autodiff chapter's code, against independent references.

References: float64 finite differences, Jacobians and Hessians worked out by
hand in NumPy, jax.hessian, and counts derived from the shapes involved.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snippets.autodiff import f, grad_from_vjp, jacobian_by_hand, operations
from snippets.autodiff_cost import (
    compare,
    compiled_cost,
    deep_loss,
    dense_layer,
    hvp,
    residual_bytes,
    size,
)
from snippets.autodiff_jit import (
    count_compiles,
    make_scaler,
    power_sum,
    relu_cond,
    relu_python,
    relu_where,
    scale_by_argument,
)
from snippets.autodiff_pytrees import init_params, loss, loss_with_metrics, predict
from snippets.autodiff_safety import (
    log1pexp,
    log1pexp_naive,
    sqrt_or_zero,
    sqrt_or_zero_naive,
)


def numerical_jacobian(fn, x, h=1e-6):
    """Central differences in float64 NumPy, one column per input."""
    x = np.asarray(x, np.float64)
    columns = []
    for j in range(x.size):
        step = np.zeros_like(x)
        step[j] = h
        columns.append((np.asarray(fn(x + step)) - np.asarray(fn(x - step))) / (2 * h))
    return np.stack(columns, axis=-1)


def f_numpy(x):
    """The chapter's small function, written again in NumPy."""
    return np.array([x[0] * x[1] + np.sin(x[2]), x[0] ** 2 * x[2]])


def random_points(key, count, shape):
    return np.asarray(jax.random.normal(key, (count, *shape)), np.float64)


# ------------------------------------------------------------ jvp and vjp


def test_hand_jacobian_matches_finite_differences(key):
    for x in random_points(key, 5, (3,)):
        with jax.enable_x64(True):
            by_hand = np.asarray(jacobian_by_hand(jnp.asarray(x)))
        np.testing.assert_allclose(by_hand, numerical_jacobian(f_numpy, x), atol=1e-8)


def test_jvp_and_vjp_are_products_with_the_jacobian(key):
    points, tangents, cotangents = (
        random_points(k, 5, shape)
        for k, shape in zip(jax.random.split(key, 3), [(3,), (3,), (2,)], strict=True)
    )
    for x, x_dot, y_bar in zip(points, tangents, cotangents, strict=True):
        J = numerical_jacobian(f_numpy, x)
        with jax.enable_x64(True):
            y, y_dot = jax.jvp(f, (jnp.asarray(x),), (jnp.asarray(x_dot),))
            _, pullback = jax.vjp(f, jnp.asarray(x))
            (x_bar,) = pullback(jnp.asarray(y_bar))
        np.testing.assert_allclose(y, f_numpy(x), rtol=1e-14)
        np.testing.assert_allclose(y_dot, J @ x_dot, atol=1e-8)
        np.testing.assert_allclose(x_bar, y_bar @ J, atol=1e-8)


@pytest.mark.parametrize("tool", [jax.jacfwd, jax.jacrev])
def test_jacfwd_and_jacrev_equal_finite_differences(tool, key):
    for x in random_points(key, 3, (3,)):
        with jax.enable_x64(True):
            J = np.asarray(tool(f)(jnp.asarray(x)))
        np.testing.assert_allclose(J, numerical_jacobian(f_numpy, x), atol=1e-8)


def test_grad_from_vjp_is_jax_grad_and_the_analytic_gradient(key):
    def rosenbrock(x):
        return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    def rosenbrock_gradient(x):  # by hand
        g = np.zeros_like(x)
        g[:-1] = -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
        g[1:] += 200 * (x[1:] - x[:-1] ** 2)
        return g

    x = random_points(key, 1, (6,))[0]
    with jax.enable_x64(True):
        mine = np.asarray(grad_from_vjp(rosenbrock)(jnp.asarray(x)))
        theirs = np.asarray(jax.grad(rosenbrock)(jnp.asarray(x)))
    np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_allclose(mine, rosenbrock_gradient(x), rtol=1e-12)


# ------------------------------------------------------- cost of the modes


def dense_layer_jacobian(x, p, q):
    """J = diag(1 - tanh^2(W sin x)) W diag(cos x), with W built in NumPy."""
    rows, cols = np.arange(q)[:, None], np.arange(p)[None, :]
    W = np.cos(0.37 * rows * cols) / np.sqrt(p)
    z = W @ np.sin(x)
    return (1 - np.tanh(z) ** 2)[:, None] * W * np.cos(x)[None, :]


@pytest.mark.parametrize(("p", "q"), [(7, 3), (3, 7)])
@pytest.mark.parametrize("tool", [jax.jacfwd, jax.jacrev])
def test_dense_layer_jacobian_is_the_analytic_one(p, q, tool):
    x = np.linspace(-1.0, 1.0, p)
    with jax.enable_x64(True):
        J = np.asarray(tool(dense_layer(p, q))(jnp.asarray(x)))
    np.testing.assert_allclose(J, dense_layer_jacobian(x, p, q), atol=1e-12)


def test_dense_layer_refuses_empty_shapes():
    with pytest.raises(ValueError, match="need p, q >= 1"):
        dense_layer(0, 3)


@pytest.mark.skipif(
    jax.default_backend() != "cpu",
    reason="XLA's GPU cost analysis may not count cuBLAS matmul FLOPs (jax-ml/jax#22249)",
)
def test_xla_flop_counts_match_the_pass_count():
    """One matrix-vector product W sin(x) (2qp FLOPs), then one more per
    tangent (p of them, jacfwd) or per cotangent (q of them, jacrev)."""
    p, q = 400, 5
    layer, x = dense_layer(p, q), jnp.linspace(-1.0, 1.0, p)
    _, forward_flops, forward_bytes = compiled_cost(jax.jacfwd(layer), x)
    _, reverse_flops, reverse_bytes = compiled_cost(jax.jacrev(layer), x)
    matvec = 2 * q * p
    assert 1.0 <= forward_flops / ((1 + p) * matvec) < 1.3  # + elementwise work
    assert 1.0 <= reverse_flops / ((1 + q) * matvec) < 1.3
    # jacfwd holds its p tangents of length p at once; jacrev only q cotangents
    assert forward_bytes >= 4 * p * p > 10 * reverse_bytes


def test_compare_and_size_read_right_both_ways():
    assert compare("a", 1.0, "b", 12.0, "less time") == "a needed 12× less time than b"
    assert compare("a", 3.0, "b", 1.0, "less time") == "b needed 3.0× less time than a"
    assert [size(n) for n in (400, 88_000, 16_080_000, 2.5e9)] == [
        "400 B",
        "88.0 kB",
        "16.1 MB",
        "2.5 GB",
    ]


# ------------------------------------------------- residuals and checkpoint


def test_operations_lists_the_lowered_program_nested_ones_included():
    def two_tanh(x):
        return jnp.tanh(jnp.tanh(x))

    assert operations(two_tanh, 1.0).count("tanh") == 2
    assert operations(jax.checkpoint(two_tanh), 1.0).count("tanh") == 2
    assert "sine" not in operations(two_tanh, 1.0)


def test_compiled_grad_of_sin_computes_no_sin():
    """The page's claim: the unused forward value sin(a) is gone before XLA."""
    given = operations(jax.grad(jnp.sin), 1.0)
    assert "cosine" in given and "sine" not in given
    assert "sine" in operations(jnp.sin, 1.0)  # the search would find one


@pytest.mark.parametrize("remat", [False, True])
def test_deep_loss_gradient_matches_finite_differences(remat, key):
    x = np.linspace(-1.0, 1.0, 5)
    ws = np.asarray(jax.random.uniform(key, (4,), minval=0.5, maxval=1.5), np.float64)
    with jax.enable_x64(True):
        loss_of_ws = lambda w: float(deep_loss(jnp.asarray(w), jnp.asarray(x), remat))  # noqa: E731
        g = np.asarray(jax.grad(deep_loss)(jnp.asarray(ws), jnp.asarray(x), remat))
        measured = numerical_jacobian(loss_of_ws, ws)
    np.testing.assert_allclose(g, measured, rtol=1e-7)


@pytest.mark.parametrize("width", [3, 10])
def test_residuals_grow_by_a_count_of_arrays_per_layer(width):
    """Plain: the layer's input, 1 - tanh^2 and its weight (2·width + 1 floats);
    checkpointed: only the layer's inputs, x and w (width + 1 floats)."""
    x = jnp.linspace(-1.0, 1.0, width)
    for remat, floats_per_layer in [(False, 2 * width + 1), (True, width + 1)]:
        kept = [
            residual_bytes(lambda ws, remat=remat: deep_loss(ws, x, remat), jnp.ones(depth))
            for depth in range(2, 7)
        ]
        assert set(np.diff(kept)) == {4 * floats_per_layer}


@pytest.mark.parametrize("depth", [1, 3, 8])
def test_checkpoint_evaluates_each_tanh_twice(depth):
    x = jnp.linspace(-1.0, 1.0, 4)
    ws = jnp.ones(depth)
    plain = operations(jax.grad(lambda ws: deep_loss(ws, x, False)), ws)
    checkpointed = operations(jax.grad(lambda ws: deep_loss(ws, x, True)), ws)
    assert plain.count("tanh") == depth
    assert checkpointed.count("tanh") == 2 * depth


# ------------------------------------------------- Hessian-vector products


def logsumexp_hessian(x):
    s = np.exp(x - x.max())
    s /= s.sum()
    return np.diag(s) - np.outer(s, s)


def test_hvp_equals_the_hand_hessian_and_jax_hessian(key):
    x, x_dot = random_points(key, 2, (7,))
    with jax.enable_x64(True):
        product = np.asarray(hvp(jax.nn.logsumexp, jnp.asarray(x), jnp.asarray(x_dot)))
        H = np.asarray(jax.hessian(jax.nn.logsumexp)(jnp.asarray(x)))
    np.testing.assert_allclose(product, logsumexp_hessian(x) @ x_dot, atol=1e-14)
    np.testing.assert_allclose(H, logsumexp_hessian(x), atol=1e-14)


def test_hvp_equals_a_difference_of_hand_gradients(key):
    """f(x) = Σ sin(x_i x_(i+1)) + Σ x_i^4 / 4, its gradient by hand."""

    def fn(x):
        return jnp.sum(jnp.sin(x[:-1] * x[1:])) + jnp.sum(x**4) / 4

    def gradient(x):
        c = np.cos(x[:-1] * x[1:])
        g = x**3
        g[:-1] += c * x[1:]
        g[1:] += c * x[:-1]
        return g

    x, x_dot = random_points(key, 2, (6,))
    h = 1e-6
    measured = (gradient(x + h * x_dot) - gradient(x - h * x_dot)) / (2 * h)
    with jax.enable_x64(True):
        product = np.asarray(hvp(fn, jnp.asarray(x), jnp.asarray(x_dot)))
    np.testing.assert_allclose(product, measured, atol=1e-7)


# ------------------------------------------------------------ PRNG keys


def test_split_keys_are_fold_in_keys(key):
    """With jax_threefry_partitionable (the default since JAX 0.5), split(key, n)[i]
    is fold_in(key, i): split keys and step keys must come from different parents."""
    split = jax.random.key_data(jax.random.split(key, 4))
    folded = jnp.stack([jax.random.key_data(jax.random.fold_in(key, i)) for i in range(4)])
    assert jnp.array_equal(split, folded)


def test_reusing_a_key_couples_the_draws(key):
    noise = jax.random.normal(key, (2000,))
    keep = jax.random.bernoulli(key, 0.5, (2000,))
    assert jnp.array_equal(keep, noise < 0)


# ------------------------------------------------------------------ pytrees


def test_init_params_shapes_and_scale(key):
    params = init_params(key, [400, 300, 2])
    shapes = jax.tree.map(jnp.shape, params)
    assert shapes == {"layers": [((400, 300), (300,)), ((300, 2), (2,))]}
    W, b = params["layers"][0]
    assert float(jnp.std(W)) == pytest.approx(1 / np.sqrt(400), rel=0.03)
    assert not jnp.any(b)
    with pytest.raises(ValueError, match="input and an output"):
        init_params(key, [3])


def test_grad_of_the_params_dict_matches_finite_differences(key):
    x = np.linspace(-1.0, 1.0, 16)[:, None]
    y = np.sin(3 * x)
    with jax.enable_x64(True):
        params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), init_params(key, [1, 4, 1]))
        grads = jax.grad(loss)(params, x, y)
        leaves, treedef = jax.tree.flatten(params)
        for i, (leaf, g) in enumerate(zip(leaves, jax.tree.leaves(grads), strict=True)):

            def loss_of_leaf(values, i=i, leaf=leaf):
                changed = list(leaves)
                changed[i] = jnp.asarray(values).reshape(leaf.shape)
                return float(loss(jax.tree.unflatten(treedef, changed), x, y))

            measured = numerical_jacobian(loss_of_leaf, np.asarray(leaf).ravel())
            np.testing.assert_allclose(np.asarray(g).ravel(), measured, atol=1e-8)


def test_predict_is_a_plain_numpy_network(key):
    params = init_params(key, [2, 5, 3])
    x = np.asarray(jax.random.normal(key, (4, 2)), np.float64)
    (W1, b1), (W2, b2) = (
        tuple(np.asarray(a, np.float64) for a in layer) for layer in params["layers"]
    )
    expected = np.tanh(x @ W1 + b1) @ W2 + b2
    np.testing.assert_allclose(
        predict(params, jnp.asarray(x, jnp.float32)), expected, rtol=1e-5, atol=1e-6
    )


def test_has_aux_differentiates_only_the_loss(key):
    params = init_params(key, [1, 8, 1])
    x = jnp.linspace(-1.0, 1.0, 32)[:, None]
    y = jnp.sin(3.0 * x)
    grads, metrics = jax.grad(loss_with_metrics, has_aux=True)(params, x, y)
    plain = jax.grad(loss)(params, x, y)
    close = jax.tree.map(lambda a, b: jnp.allclose(a, b, rtol=1e-6, atol=0), grads, plain)
    assert all(jax.tree.leaves(close))
    error = np.asarray(predict(params, x)) - np.asarray(y)
    assert float(metrics["max_abs_error"]) == pytest.approx(np.abs(error).max(), rel=1e-6)


def test_stop_gradient_keeps_the_value_and_drops_the_derivative():
    value, slope = jax.value_and_grad(lambda t: t * jax.lax.stop_gradient(t))(3.0)
    assert (value, slope) == (9.0, 3.0)


# ---------------------------------------------------------- numerical safety


def float64_softplus_and_sigmoid(x):
    x = np.asarray(x, np.float64)
    softplus = np.logaddexp(0.0, x)
    sigmoid = np.where(
        x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x)))
    )
    return softplus, sigmoid


def test_naive_log1pexp_overflows_where_the_page_says():
    value, slope = jax.value_and_grad(log1pexp_naive)(100.0)
    assert np.isinf(value) and np.isnan(slope)


def test_log1pexp_value_and_gradient_are_accurate_in_float32():
    """Relative accuracy for x > -87, including x = -20, where the rule
    1 - 1/(1 + e^x) of JAX's custom-derivative tutorial returns 0. Below
    about -87, e^x is under float32's smallest normal number (1.2e-38): the
    values there only have to be tiny."""
    xs = np.linspace(-86.0, 86.0, 345)
    values = np.asarray(log1pexp(jnp.asarray(xs, jnp.float32)), np.float64)
    slopes = np.asarray(jax.vmap(jax.grad(log1pexp))(jnp.asarray(xs, jnp.float32)), np.float64)
    softplus, sigmoid = float64_softplus_and_sigmoid(xs)
    np.testing.assert_allclose(values, softplus, rtol=1e-6, atol=0)
    np.testing.assert_allclose(slopes, sigmoid, rtol=1e-6, atol=0)
    far = jnp.array([-100.0, -90.0, 90.0, 100.0])
    far_values = np.asarray(log1pexp(far), np.float64)
    far_slopes = np.asarray(jax.vmap(jax.grad(log1pexp))(far), np.float64)
    softplus, sigmoid = float64_softplus_and_sigmoid(np.asarray(far, np.float64))
    np.testing.assert_allclose(far_values, softplus, rtol=1e-6, atol=1e-38)
    np.testing.assert_allclose(far_slopes, sigmoid, rtol=1e-6, atol=1e-38)


def test_log1pexp_second_derivative_is_finite_and_right():
    """The rule is differentiated in turn: sigma'(x) = sigma(x) sigma(-x).
    jax.nn.sigmoid's own rule computes sigma (1 - sigma): relative accuracy
    for x <= 0 (down to -80, short of float32's subnormals), and for large
    positive x only absolute accuracy, since 1 - sigma cancels."""
    xs = np.concatenate([np.linspace(-100.0, 100.0, 201), [0.5, -0.5]])
    curvatures = np.asarray(jax.vmap(jax.grad(jax.grad(log1pexp)))(jnp.asarray(xs, jnp.float32)))
    _, sigmoid = float64_softplus_and_sigmoid(xs)
    _, sigmoid_of_minus = float64_softplus_and_sigmoid(-xs)
    expected = sigmoid * sigmoid_of_minus
    assert np.all(np.isfinite(curvatures))
    np.testing.assert_allclose(curvatures, expected, rtol=1e-5, atol=1e-7)
    left = (xs <= 0) & (xs >= -80)
    np.testing.assert_allclose(curvatures[left], expected[left], rtol=1e-5, atol=0)


def test_the_tutorial_rule_cancels_then_returns_zero():
    """1 - 1/(1 + e^x) in float32 against the float64 sigmoid: relative error
    between 1e-4 and 1e-3 at x = -10, over 10% at -15, and exactly 0 from
    just below log(eps / 2) = -16.6 on, where 1 + e^x rounds to 1."""

    def rule(x):
        x = jnp.float32(x)
        return float(1 - 1 / (1 + jnp.exp(x)))

    def relative_error(x):
        true = float64_softplus_and_sigmoid(x)[1]
        return abs(rule(x) - true) / true

    assert 1e-4 < relative_error(-10.0) < 1e-3
    assert relative_error(-15.0) > 0.1
    threshold = np.log(np.finfo(np.float32).eps / 2)
    assert -16.7 < threshold < -16.5
    assert rule(-16.5) > 0 and rule(-16.7) == 0 and rule(-20.0) == 0


def test_log1pexp_in_float64():
    xs = np.linspace(-700.0, 700.0, 141)
    with jax.enable_x64(True):
        values = np.asarray(log1pexp(jnp.asarray(xs)))
        slopes = np.asarray(jax.vmap(jax.grad(log1pexp))(jnp.asarray(xs)))
    softplus, sigmoid = float64_softplus_and_sigmoid(xs)
    np.testing.assert_allclose(values, softplus, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(slopes, sigmoid, rtol=1e-13, atol=1e-300)


def test_double_where_gradient_is_the_analytic_one():
    xs = jnp.array([-4.0, -1.0, 0.0, 0.25, 1.0, 9.0])
    naive = np.asarray(jax.vmap(jax.grad(sqrt_or_zero_naive))(xs))
    fixed = np.asarray(jax.vmap(jax.grad(sqrt_or_zero))(xs))
    x = np.asarray(xs, np.float64)
    analytic = np.where(x > 0, 0.5 / np.sqrt(np.where(x > 0, x, 1.0)), 0.0)
    np.testing.assert_allclose(fixed, analytic, rtol=1e-6)
    assert np.all(np.isnan(naive[x <= 0])) and np.all(np.isfinite(naive[x > 0]))
    np.testing.assert_array_equal(np.asarray(sqrt_or_zero(xs)), np.asarray(sqrt_or_zero_naive(xs)))


def test_forward_mode_has_no_where_trap():
    _, tangent = jax.jvp(sqrt_or_zero_naive, (-1.0,), (1.0,))
    assert tangent == 0.0
    _, tangent = jax.jvp(sqrt_or_zero_naive, (4.0,), (1.0,))
    assert tangent == pytest.approx(0.25)


def test_debug_nans_points_at_the_first_nan():
    with jax.debug_nans(True):
        with pytest.raises(FloatingPointError, match="in sqrt"):
            jax.grad(sqrt_or_zero_naive)(-1.0)
        with pytest.raises(FloatingPointError, match="in mul"):
            jax.grad(log1pexp_naive)(100.0)
        with pytest.raises(FloatingPointError, match="in sqrt"):
            sqrt_or_zero_naive(-1.0)  # outside jit, every operation is checked
        # inside jit, only the outputs: a nan that where drops goes unseen
        assert jax.jit(sqrt_or_zero_naive)(-1.0) == 0.0


# -------------------------------------------------------------------- jit


def test_control_flow_on_a_tracer_fails_and_both_fixes_are_relu(key):
    with pytest.raises(jax.errors.TracerBoolConversionError, match="relu_python") as err:
        jax.jit(relu_python)(1.0)
    assert "argument x" in str(err.value)
    xs = jax.random.normal(key, (100,))
    expected = np.maximum(np.asarray(xs), 0)
    np.testing.assert_array_equal(jax.jit(relu_where)(xs), expected)
    np.testing.assert_array_equal(jax.jit(jax.vmap(relu_cond))(xs), expected)
    slopes = jax.vmap(jax.grad(relu_cond))(xs)
    np.testing.assert_array_equal(slopes, (np.asarray(xs) > 0).astype(np.float32))


def test_cond_is_a_case_and_becomes_a_select_under_vmap():
    assert "case" in operations(relu_cond, 1.0)
    batched = operations(jax.vmap(relu_cond), jnp.ones(4))
    assert "select" in batched and "case" not in batched


def test_cond_gradient_has_no_where_trap_even_under_vmap():
    """vmap turns the cond into selects, of the branches' results and of their
    derivatives: the nan of sqrt(-1) is selected away, never multiplied by 0."""

    def sqrt_or_zero_cond(x):
        return jax.lax.cond(x > 0, jnp.sqrt, jnp.zeros_like, x)

    xs = jnp.array([-4.0, -1.0, 0.0, 0.25, 9.0])
    expected = np.where(np.asarray(xs) > 0, 0.5 / np.sqrt(np.maximum(np.asarray(xs), 1e-30)), 0)
    inside = jax.vmap(jax.grad(sqrt_or_zero_cond))(xs)
    outside = jax.grad(lambda x: jax.vmap(sqrt_or_zero_cond)(x).sum())(xs)
    jitted = jax.jit(jax.grad(lambda x: jax.vmap(sqrt_or_zero_cond)(x).sum()))(xs)
    for slopes in (inside, outside, jitted):
        np.testing.assert_allclose(slopes, expected, rtol=1e-6)


@pytest.mark.parametrize("power", [0, 1, 2, 3])
def test_power_sum_against_numpy(power, key):
    x = jax.random.normal(key, (10,))
    expected = np.sum(np.asarray(x, np.float64) ** power)
    assert float(power_sum(x, power)) == pytest.approx(expected, rel=1e-5)


def test_compile_counter_counts_only_its_function():
    @jax.jit
    def cube(x):
        return x**3

    @jax.jit
    def other(x):
        return x + 1

    with count_compiles("cube") as counter:
        cube(jnp.ones(2))
        cube(jnp.zeros(2))  # same signature
        other(jnp.ones(2))  # another function
        cube(jnp.ones(5))  # new shape
        cube(jnp.ones(2, jnp.int32))  # new dtype
    assert counter.count == 3


def test_weak_type_is_part_of_the_signature_and_explained():
    @jax.jit
    def triple(x):
        return 3 * x

    counts = []
    for x in (2.0, 5.0, jnp.float32(2.0), jnp.float32(7.0), 3.0):
        with count_compiles("triple") as counter:
            triple(x)
        counts.append(counter.count)
    assert counts == [1, 0, 1, 0, 0]  # weak, same; strong, same; weak again
    with count_compiles("triple") as counter:
        triple(jnp.float16(1.0))
    assert counter.count == 1 and len(counter.reasons) == 1
    assert "f16" in counter.reasons[0]


def test_the_page_recompile_list():
    """The page's sequence of calls, on a fresh copy of power_sum."""
    fresh = jax.jit(power_sum.__wrapped__, static_argnames="power")
    x3 = jnp.arange(3.0)
    calls = [(x3, 2), (x3 + 1, 2), (jnp.arange(4.0), 2), (jnp.arange(3), 2)]
    calls += [(x3, 3), (x3, 2), (2.0, 2), (jnp.float32(2.0), 2)]
    counts = []
    for x, power in calls:
        with count_compiles("power_sum") as counter:
            fresh(x, power)
        counts.append(counter.count)
    assert counts == [1, 0, 1, 1, 1, 0, 1, 1]


def test_x64_mode_is_part_of_the_key_and_globals_are_read_once():
    @jax.jit
    def halve(x):
        return x / 2

    x = jnp.arange(3.0)  # float32, made before x64 is switched on
    with count_compiles("halve") as counter:
        halve(x)
        halve(x)
        with jax.enable_x64(True):
            halve(x)
    assert counter.count == 2

    offset = [jnp.float32(1.0)]  # read while tracing, built into the program

    @jax.jit
    def shift(x):
        return x + offset[0]

    assert jnp.array_equal(shift(x), x + 1)
    offset[0] = jnp.float32(100.0)
    assert jnp.array_equal(shift(x), x + 1)  # stale: no new trace
    assert jnp.array_equal(shift(x[:2]), x[:2] + 100)  # a new trace reads it


def test_fresh_closures_compile_and_arguments_do_not():
    x = jnp.arange(3.0)
    with count_compiles("scale_by") as closures:
        for scale in (1.0, 2.0, 3.0, 4.0):
            jax.jit(make_scaler(scale))(x)
    with count_compiles("scale_by_argument") as arguments:
        for scale in (1.0, 2.0, 3.0, 4.0):
            assert jnp.array_equal(jax.jit(scale_by_argument)(x, scale), x * scale)
    assert (closures.count, arguments.count) == (4, 1)


def test_at_updates_match_numpy_copies(key):
    x = jax.random.normal(key, (6,))
    before = np.array(x)  # a copy, taken before the updates
    reference = before.copy()
    reference[[1, 4]] = 2.0
    reference[0] += 5.0
    y = x.at[jnp.array([1, 4])].set(2.0).at[0].add(5.0)
    np.testing.assert_allclose(y, reference, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(x), before)  # x itself never changed


def test_updating_an_input_without_donation_copies_it():
    big = jnp.ones(100_000)
    memory = jax.jit(lambda x: x.at[0].set(1.0)).lower(big).compile().memory_analysis()
    assert memory.output_size_in_bytes == big.nbytes and memory.alias_size_in_bytes == 0
    donated = jax.jit(lambda x: x.at[0].set(1.0), donate_argnums=0)
    memory = donated.lower(big).compile().memory_analysis()
    assert memory.alias_size_in_bytes == big.nbytes


def test_donated_input_is_consumed_and_output_correct():
    def decay(x):
        return 0.5 * x

    decay_in_place = jax.jit(decay, donate_argnums=0)
    x = jnp.arange(1000.0)
    expected = 0.5 * np.arange(1000.0)
    y = decay_in_place(x)
    assert x.is_deleted()
    np.testing.assert_array_equal(y, expected)
    memory = decay_in_place.lower(y).compile().memory_analysis()
    assert memory.alias_size_in_bytes == memory.output_size_in_bytes == 4000


@pytest.mark.parametrize("fn", [jnp.sum, lambda x: jnp.concatenate([x, x])], ids=["sum", "concat"])
def test_donation_without_a_usable_output_warns_and_keeps_the_input(fn):
    x = jnp.arange(10.0)
    with pytest.warns(UserWarning, match="donated buffers were not usable"):
        jax.jit(fn, donate_argnums=0)(x)
    assert not x.is_deleted()
    np.testing.assert_array_equal(np.asarray(x), np.arange(10.0))  # still readable
