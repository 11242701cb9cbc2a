"""The chapter's model code against independent references, and its bad input."""

from __future__ import annotations

import itertools
import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from snippets.neural_networks import (
    accuracy,
    activation_scales,
    check_labels,
    classifier_loss,
    count_clips,
    cross_entropy,
    fit,
    float32_logits,
    gelu,
    init_linear,
    init_mlp,
    linear,
    lipschitz_bound,
    logsumexp,
    lost_updates,
    make_spirals,
    mean_cross_entropy,
    mlp,
    naive_cross_entropy,
    predict,
    predicted_noise,
    relu,
    split,
)
from snippets.optimizers import sgd
from snippets.training import cast_floats, chain, clip_by_global_norm, mixed_precision


@pytest.fixture(scope="module")
def spirals():
    x, y = make_spirals(jax.random.key(0), n=300)
    return split(jax.random.key(1), x, y, n_test=100)


# ------------------------------------------------------------------- data
def test_spirals_and_split(spirals):
    (x_train, y_train), (x_test, y_test) = spirals
    assert x_train.shape == (200, 2) and x_test.shape == (100, 2)
    assert set(np.unique(np.concatenate([y_train, y_test]))) == {0, 1, 2}
    again = split(jax.random.key(1), *make_spirals(jax.random.key(0), n=300), n_test=100)
    np.testing.assert_array_equal(again[0][0], x_train)  # fixed keys, same points
    rows = {tuple(r) for r in np.concatenate([x_train, x_test]).tolist()}
    assert len(rows) == 300  # the split neither loses nor repeats a point
    # each arm: the angle of a point, less the turn of its radius, is its class's
    x, y = make_spirals(jax.random.key(2), n=500, noise=0.0)
    radius = np.linalg.norm(x, axis=1)
    angle = np.arctan2(x[:, 1], x[:, 0]) - 2 * np.pi * radius
    np.testing.assert_allclose(np.cos(angle - 2 * np.pi * np.asarray(y) / 3), 1, atol=1e-4)


# ----------------------------------------------------------- cross-entropy
def numpy_cross_entropy(z, label):
    """log-sum-exp in float64 NumPy, written independently of the snippet."""
    z = np.asarray(z, np.float64)
    return np.logaddexp.reduce(z) - z[label]


@pytest.mark.parametrize("scale", [1.0, 30.0, 100.0, 1e4])
def test_cross_entropy_equals_optax_and_numpy(key, scale):
    k1, k2 = jax.random.split(key)
    logits = scale * jax.random.normal(k1, (64, 5))
    labels = jax.random.randint(k2, (64,), 0, 5)
    ours = jax.vmap(cross_entropy)(logits, labels)
    theirs = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    reference = np.array([numpy_cross_entropy(z, y) for z, y in zip(logits, labels, strict=True)])
    assert bool(jnp.all(jnp.isfinite(ours)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5 * scale)
    assert float(mean_cross_entropy(logits, labels)) == pytest.approx(reference.mean(), rel=1e-5)


def test_the_naive_loss_overflows_where_the_stable_one_does_not():
    z = jnp.array([3.0, 1.0, -2.0])
    assert float(naive_cross_entropy(z, 1)) == pytest.approx(numpy_cross_entropy(z, 1), rel=1e-6)
    for scale in (100.0, 1000.0):  # exp(100) is inf in float32
        assert not bool(jnp.isfinite(naive_cross_entropy(scale * z, 1)))
        stable = float(cross_entropy(scale * z, 1))
        assert stable == pytest.approx(numpy_cross_entropy(scale * z, 1), rel=1e-6)
        assert float(logsumexp(scale * z)) == pytest.approx(3 * scale, rel=1e-6)


def test_the_gradient_with_respect_to_the_logits_is_softmax_minus_one_hot(key):
    z = jax.random.normal(key, (4,))
    p = np.exp(np.asarray(z, np.float64))
    p /= p.sum()
    np.testing.assert_allclose(jax.grad(cross_entropy)(z, 2), p - np.eye(4)[2], atol=1e-6)


# ------------------------------------------------------------ activations
def test_gelu_is_the_exact_one_and_relu_is_relu():
    a = jnp.linspace(-6, 6, 2001)
    np.testing.assert_allclose(gelu(a), jax.nn.gelu(a, approximate=False), atol=1e-6)
    phi = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in np.asarray(a, np.float64)])
    np.testing.assert_allclose(gelu(a), np.asarray(a) * phi, atol=1e-6)
    np.testing.assert_array_equal(relu(a), np.maximum(np.asarray(a), 0))


# ------------------------------------------------------------------- MLP
def numpy_mlp(params, x, activation):
    h = np.asarray(x, np.float64)
    for layer in params[:-1]:
        h = activation(h @ np.asarray(layer["W"]) + np.asarray(layer["b"]))
    return h @ np.asarray(params[-1]["W"]) + np.asarray(params[-1]["b"])


def test_mlp_and_linear_model_equal_a_numpy_forward_pass(key, spirals):
    params = init_mlp(key, [2, 16, 8, 3])
    params[0]["b"] = jnp.linspace(-1, 1, 16)  # a bias that is not zero
    x = spirals[0][0]
    np.testing.assert_allclose(
        predict(mlp, params, x), numpy_mlp(params, x, lambda a: np.maximum(a, 0)), atol=1e-5
    )
    linear_params = {"W": jnp.ones((2, 3)), "b": jnp.arange(3.0)}
    expected = np.asarray(x) @ np.ones((2, 3)) + np.arange(3.0)
    np.testing.assert_allclose(predict(linear, linear_params, x), expected, atol=1e-6)


def test_accuracy_counts_correct_predictions():
    params = {"W": jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), "b": jnp.zeros(3)}
    x = jnp.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [-1.0, -1.0]])
    y = jnp.array([0, 1, 1, 2])  # argmax of the logits: 0, 1, 0, 2 (o = [-1, -1, 0])
    assert accuracy(linear, params, (x, y)) == pytest.approx(0.75)


def test_he_initialisation_has_the_variance_it_promises(key):
    params = init_mlp(key, [256, 512, 3], gain=2.0)
    assert float(jnp.var(params[0]["W"])) == pytest.approx(2 / 256, rel=0.02)
    assert float(jnp.var(params[1]["W"])) == pytest.approx(2 / 512, rel=0.1)
    assert float(jnp.sum(jnp.abs(params[0]["b"]))) == 0.0


@pytest.mark.parametrize("gain", [1.0, 2.0, 4.0])
def test_relu_activations_scale_by_gain_over_two_per_layer(key, gain):
    """The page's analysis: each ReLU layer multiplies E[h^2] by gain / 2."""
    depth = 30
    rms = activation_scales(key, gain, relu, depth=depth, width=256, n=256)
    measured = math.log(rms[-1] / rms[0]) / (depth - 1)  # per layer, in log RMS
    assert measured == pytest.approx(0.5 * math.log(gain / 2), abs=0.02)


@pytest.mark.parametrize("activation", [relu, gelu], ids=["relu", "gelu"])
def test_mlp_gradient_equals_float64_finite_differences(key, spirals, activation):
    """Central differences of the loss along random directions, in float64."""
    with jax.enable_x64(True):
        keys = jax.random.split(key, 4)
        params = init_mlp(keys[0], [2, 12, 12, 3])
        params = jax.tree.map(lambda p: p.astype(jnp.float64), params)
        params[1]["b"] = 0.1 * jax.random.normal(keys[1], (12,), jnp.float64)
        data = (spirals[0][0][:64].astype(jnp.float64), spirals[0][1][:64])
        loss = classifier_loss(partial(mlp, activation=activation))
        grads = jax.grad(loss)(params, data)
        leaves, treedef = jax.tree.flatten(params)
        for k in jax.random.split(keys[2], 5):
            parts = jax.random.split(k, len(leaves))
            direction = jax.tree.unflatten(
                treedef,
                [
                    jax.random.normal(part, leaf.shape, jnp.float64)
                    for part, leaf in zip(parts, leaves, strict=True)
                ],
            )

            def along(h, direction=direction):
                moved = jax.tree.map(lambda p, d: p + h * d, params, direction)  # noqa: B023
                return loss(moved, data)

            h = 1e-6
            numeric = (float(along(h)) - float(along(-h))) / (2 * h)
            analytic = sum(
                float(jnp.sum(g * d))
                for g, d in zip(jax.tree.leaves(grads), jax.tree.leaves(direction), strict=True)
            )
            assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-9)


def test_one_entry_of_the_gradient_by_finite_differences(spirals):
    """The same check on single weights, first and last layer."""
    with jax.enable_x64(True):
        params = jax.tree.map(
            lambda p: p.astype(jnp.float64), init_mlp(jax.random.key(3), [2, 8, 3])
        )
        data = (spirals[0][0][:32].astype(jnp.float64), spirals[0][1][:32])
        loss = classifier_loss(mlp)
        grads = jax.grad(loss)(params, data)
        for layer, name, index in [(0, "W", (1, 3)), (1, "W", (5, 2)), (1, "b", (0,))]:
            h = 1e-6

            def moved(h, layer=layer, name=name, index=index):
                changed = jax.tree.map(lambda p: p, params)
                changed[layer][name] = changed[layer][name].at[index].add(h)
                return float(loss(changed, data))

            numeric = (moved(h) - moved(-h)) / (2 * h)
            assert float(grads[layer][name][index]) == pytest.approx(numeric, rel=1e-6, abs=1e-10)


# -------------------------------------------------------------- training
def test_fit_learns_the_spirals_and_keeps_float32_masters(spirals):
    train_set, test_set = spirals
    params = init_mlp(jax.random.key(4), [2, 32, 32, 3])
    before = accuracy(mlp, params, test_set)
    loss = mixed_precision(classifier_loss(float32_logits(mlp)))
    optimizer = sgd(0.5, momentum=0.5)
    trained, state, history = fit(
        loss, params, optimizer, train_set, test_set, jax.random.key(5), 20, 15, 3
    )
    assert int(state.t) == 15 * (200 // 20)  # the state after every step
    assert [p.dtype for p in jax.tree.leaves(trained)] == [jnp.float32] * 6
    assert len(history["train"]) == len(history["test"]) == 15
    assert history["train"][-1] < 0.7 * history["train"][0]
    assert accuracy(mlp, trained, test_set) > max(before, 0.6)


def test_fit_keeps_bfloat16_parameters_in_bfloat16(spirals):
    train_set, test_set = spirals
    params = cast_floats(init_mlp(jax.random.key(4), [2, 16, 3]), jnp.bfloat16)
    low = (cast_floats(train_set, jnp.bfloat16), cast_floats(test_set, jnp.bfloat16))
    trained, _, history = fit(
        classifier_loss(mlp), params, sgd(0.3), *low, jax.random.key(5), 25, 3, 3
    )
    assert [p.dtype for p in jax.tree.leaves(trained)] == [jnp.bfloat16] * 4
    assert all(math.isfinite(v) for v in history["train"])
    assert history["train"][-1] < history["train"][0]


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (jnp.array([0, 1, 3]), "labels run from 0 to 3, but the model has 3 classes"),
        (jnp.array([-1, 0, 2]), "labels run from -1 to 2, .* use labels 0 to 2"),
        (jnp.array([0.0, 1.0]), "labels must be integers, got float32"),
    ],
)
def test_labels_out_of_range_are_refused(labels, match):
    with pytest.raises(ValueError, match=match):
        check_labels(labels, 3)


@pytest.mark.parametrize("label", [3, -1])
def test_fit_refuses_bad_labels_before_training(spirals, label):
    (x, y), test_set = spirals
    bad = (x, y.at[7].set(label))
    with pytest.raises(ValueError, match="use labels 0 to 2"):
        fit(classifier_loss(linear), init_linear(2, 3), sgd(0.1), bad, test_set,
            jax.random.key(0), 10, 1, 3)  # fmt: skip


@pytest.mark.parametrize(
    ("make_train_set", "batch_size", "match"),
    [
        (lambda x, y: (x, y), 201, "batch_size=201, but the data hold 200 examples"),
        (lambda x, y: (x[:-1], y), 10, r"different numbers of examples \[199, 200\]"),
    ],
    ids=["batch larger than the data", "inputs and labels of different lengths"],
)
def test_fit_refuses_bad_batches(spirals, make_train_set, batch_size, match):
    (x, y), test_set = spirals
    with pytest.raises(ValueError, match=match):
        fit(classifier_loss(linear), init_linear(2, 3), sgd(0.1), make_train_set(x, y),
            test_set, jax.random.key(0), batch_size, 1, 3)  # fmt: skip


def test_logits_and_labels_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match=r"need logits \(n, K\) and labels \(n,\), got \(5, 3\)"):
        mean_cross_entropy(jnp.zeros((5, 3)), jnp.zeros(4, jnp.int32))


# ------------------------------------------------------- minibatch noise
@pytest.mark.parametrize("batch_size", range(1, 9))
def test_minibatch_noise_formula_against_every_possible_batch(key, batch_size):
    """sigma^2 / B (n - B) / (n - 1) equals the mean over all C(n, B) batches."""
    with jax.enable_x64(True):
        G = np.asarray(jax.random.normal(key, (8, 5), jnp.float64))
        g = G.mean(axis=0)
        batches = itertools.combinations(range(8), batch_size)
        exact = np.mean([np.sum((G[list(b)].mean(axis=0) - g) ** 2) for b in batches])
        predicted = float(predicted_noise(jnp.asarray(G), batch_size))
        assert predicted == pytest.approx(exact, rel=1e-12, abs=1e-15)


# --------------------------------------------------------------- clipping
def test_count_clips_counts_long_gradients_and_changes_nothing():
    counter = count_clips(1.0)
    state = counter.init({"w": jnp.zeros(2)})
    for norm in (0.5, 2.0, 1.0, 3.0):  # 1.0 is not longer than 1.0
        grads = {"w": jnp.array([0.6, 0.8]) * norm}
        passed, state = counter.update(grads, state)
        np.testing.assert_array_equal(passed["w"], grads["w"])
    assert (int(state.steps), int(state.clipped)) == (4, 2)
    assert float(state.longest) == pytest.approx(3.0)
    clipped, _ = chain(count_clips(1.0), clip_by_global_norm(1.0)).update(
        grads, chain(count_clips(1.0), clip_by_global_norm(1.0)).init(grads)
    )
    np.testing.assert_allclose(clipped["w"], [0.6, 0.8], rtol=1e-6)


# ----------------------------------------------------------------- bfloat16
def test_lost_updates_counts_the_weights_one_adam_step_leaves_unchanged():
    """Adam's first step moves each weight by eta (|g| >> eps). Near 1 the
    bfloat16 spacing is 2^-8 below and 2^-7 above: a step of 1e-3 is lost
    there, one of 1e-2 is not; near 1e-3 both move the weight. Zero
    gradients give zero updates, which are not counted."""
    params = {"near_one": jnp.ones(4), "small": jnp.full(4, 1e-3)}
    grads = {"near_one": jnp.array([1.0, -1.0, 2.0, -0.5]), "small": jnp.array([1.0, -1.0, 0, 0])}
    share, moved = lost_updates(params, grads, 1e-3, jnp.bfloat16)
    assert float(share) == pytest.approx(4 / 6)
    assert moved["near_one"].dtype == jnp.bfloat16
    np.testing.assert_array_equal(moved["near_one"], 1.0)
    share, _ = lost_updates(params, grads, 1e-2, jnp.bfloat16)
    assert float(share) == 0.0
    share, moved = lost_updates(params, grads, 1e-3, jnp.float32)
    assert float(share) == 0.0
    np.testing.assert_allclose(moved["near_one"], [0.999, 1.001, 0.999, 1.001], rtol=1e-6)


def equations(jaxpr):
    """Every equation of a jaxpr, those of the jaxprs nested in it too."""
    for eqn in jaxpr.eqns:
        yield eqn
        for param in eqn.params.values():
            for inner in param if isinstance(param, tuple | list) else [param]:
                if hasattr(inner, "jaxpr"):  # a ClosedJaxpr
                    yield from equations(inner.jaxpr)
                elif hasattr(inner, "eqns"):
                    yield from equations(inner)


def dtypes_of(primitive, loss, params, data):
    jaxpr = jax.make_jaxpr(loss)(params, data).jaxpr
    return {
        str(v.aval.dtype)
        for eqn in equations(jaxpr)
        if eqn.primitive.name == primitive
        for v in eqn.outvars
    }


def test_float32_logits_keep_the_softmax_out_of_bfloat16(spirals):
    params = init_mlp(jax.random.key(0), [2, 8, 3])
    widened = mixed_precision(classifier_loss(float32_logits(mlp)), jnp.bfloat16)
    assert dtypes_of("dot_general", widened, params, spirals[0]) == {"bfloat16"}
    assert dtypes_of("exp", widened, params, spirals[0]) == {"float32"}
    assert dtypes_of("log", widened, params, spirals[0]) == {"float32"}
    # without the wrapper the softmax runs in bfloat16
    low = mixed_precision(classifier_loss(mlp), jnp.bfloat16)
    assert dtypes_of("exp", low, params, spirals[0]) == {"bfloat16"}
    # and in float64 it stays float64: the cast only ever widens
    with jax.enable_x64(True):
        wide = jax.tree.map(lambda p: p.astype(jnp.float64), params)
        x = spirals[0][0].astype(jnp.float64)
        loss = classifier_loss(float32_logits(mlp))
        assert dtypes_of("exp", loss, wide, (x, spirals[0][1])) == {"float64"}


# ------------------------------------------------------------ smoothness
def test_lipschitz_bound_is_tight_for_one_layer_and_bounds_an_mlp(key):
    k1, k2, k3 = jax.random.split(key, 3)
    W = jax.random.normal(k1, (5, 4))
    one_layer = [{"W": W, "b": jnp.ones(4)}]
    largest = np.linalg.svd(np.asarray(W, np.float64), compute_uv=False)[0]
    assert lipschitz_bound(one_layer) == pytest.approx(largest, rel=1e-5)
    params = init_mlp(k2, [2, 16, 16, 3])
    bound = lipschitz_bound(params)
    assert bound == pytest.approx(
        np.prod([np.linalg.norm(np.asarray(p["W"]), 2) for p in params]), rel=1e-5
    )
    x = jax.random.normal(k3, (2, 200, 2))
    change = jnp.linalg.norm(predict(mlp, params, x[0]) - predict(mlp, params, x[1]), axis=1)
    distance = jnp.linalg.norm(x[0] - x[1], axis=1)
    assert float(jnp.max(change / distance)) <= bound
