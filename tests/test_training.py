"""The training tools equal optax's: schedule, clipping, chain, dtypes; epochs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from snippets.optimizers import Optimizer, adam, adamw, apply_updates, rmsprop, sgd, train
from snippets.training import (
    adam_direction,
    cast_floats,
    chain,
    check_batches,
    clip_by_global_norm,
    global_norm,
    mixed_precision,
    run_epoch,
    scale_by_learning_rate,
    shuffled_batches,
    warmup_cosine_decay,
)
from tests.optax_reference import largest_difference, run_optax

N_STEPS = 300
# (init_value, peak_value, warmup_steps, decay_steps, end_value): none at optax's
# defaults, one without warmup, one ending above zero, one rising from zero.
SCHEDULES = [
    (0.01, 0.05, 30, 250, 0.002),
    (0.0, 0.03, 50, 200, 0.0),
    (0.02, 0.04, 0, 150, 0.005),
    (0.005, 0.02, 1, 2, 0.001),
]


def ours_and_theirs(args):
    return warmup_cosine_decay(*args), optax.warmup_cosine_decay_schedule(*args)


@pytest.mark.parametrize("args", SCHEDULES, ids=str)
def test_schedule_equals_optax_at_every_step(args):
    init_value, peak_value, warmup_steps, decay_steps, end_value = args
    with jax.enable_x64(True):
        ours, theirs = ours_and_theirs(args)
        t = jnp.arange(decay_steps + 100)
        np.testing.assert_allclose(ours(t), theirs(t), rtol=0, atol=1e-12)
        # what optax documents, checked against the numbers themselves
        assert float(ours(0)) == pytest.approx(init_value if warmup_steps else peak_value)
        assert float(ours(warmup_steps)) == pytest.approx(peak_value)
        assert float(ours(decay_steps)) == pytest.approx(end_value)
        assert float(ours(decay_steps + 99)) == pytest.approx(end_value)


def test_schedule_comparison_would_catch_a_decay_that_ignores_the_warmup():
    """A cosine over decay_steps *after* the warmup is a common misreading."""
    with jax.enable_x64(True):
        init_value, peak_value, warmup_steps, decay_steps, end_value = SCHEDULES[0]
        wrong = warmup_cosine_decay(
            init_value, peak_value, warmup_steps, decay_steps + warmup_steps, end_value
        )
        theirs = optax.warmup_cosine_decay_schedule(*SCHEDULES[0])
        t = jnp.arange(decay_steps + 100)
        assert jnp.max(jnp.abs(wrong(t) - theirs(t))) > 1e-4


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0.0, 0.1, 10, 10), "0 <= warmup_steps < decay_steps"),
        ((0.0, 0.1, -1, 10), "0 <= warmup_steps < decay_steps"),
        ((0.0, 0.0, 1, 10), "its peak > 0"),
        ((-0.1, 0.1, 1, 10), "values must be >= 0"),
    ],
)
def test_bad_schedules_are_refused(args, match):
    with pytest.raises(ValueError, match=match):
        warmup_cosine_decay(*args)


# ------------------------------------------------------ runs against optax
def rosenbrock(p):
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def linear_problem():
    """Least squares with parameters in a dict, a gradient norm well above 1."""
    kx, kw = jax.random.split(jax.random.key(3))
    x = jax.random.normal(kx, (64, 3))
    y = x @ jax.random.normal(kw, (3, 2)) + jnp.array([[1.0, -2.0]])

    def loss(params):
        return jnp.mean((x @ params["w"] + params["b"][None, :] - y) ** 2)

    return loss, {"w": jnp.zeros((3, 2)), "b": jnp.zeros(2)}


PROBLEMS = {
    "rosenbrock": lambda: (rosenbrock, jnp.array([-1.2, 1.0])),
    "linear_dict": linear_problem,
}


def difference_from_optax(make_ours, make_theirs, problem):
    """Largest parameter difference after N_STEPS in float64 (made inside x64)."""
    with jax.enable_x64(True):
        loss, params = PROBLEMS[problem]()
        params = jax.tree.map(lambda p: p.astype(jnp.float64), params)
        mine, _, _ = train(loss, params, make_ours(), N_STEPS)
        reference = run_optax(make_theirs(), loss, params, N_STEPS)
        assert jax.tree.leaves(mine)[0].dtype == jnp.float64
        assert largest_difference(mine, params) > 1e-2  # training really moved
        return largest_difference(mine, reference)


S = (0.001, 0.004, 30, 250, 0.0005)  # small enough for SGD on Rosenbrock
# Each case: (ours, optax's), both functions of the schedule they are given.
CASES = {
    "sgd": (lambda lr: sgd(lr), lambda lr: optax.sgd(lr)),
    "nesterov": (
        lambda lr: sgd(lr, momentum=0.7, nesterov=True),
        lambda lr: optax.sgd(lr, momentum=0.7, nesterov=True),
    ),
    "rmsprop": (
        lambda lr: rmsprop(lr, decay=0.8, eps=0.1),
        lambda lr: optax.rmsprop(lr, decay=0.8, eps=0.1),
    ),
    "adam": (
        lambda lr: adam(lr, b1=0.8, b2=0.95, eps=1e-3),
        lambda lr: optax.adam(lr, b1=0.8, b2=0.95, eps=1e-3),
    ),
    "adamw": (
        lambda lr: adamw(lr, b1=0.8, b2=0.95, eps=1e-3, weight_decay=0.05),
        lambda lr: optax.adamw(lr, b1=0.8, b2=0.95, eps=1e-3, weight_decay=0.05),
    ),
    "clip_then_sgd": (
        lambda lr: chain(clip_by_global_norm(0.5), sgd(lr, momentum=0.6)),
        lambda lr: optax.chain(optax.clip_by_global_norm(0.5), optax.sgd(lr, momentum=0.6)),
    ),
    "clip_adam_schedule": (
        lambda lr: chain(
            clip_by_global_norm(0.5),
            adam_direction(b1=0.8, b2=0.95, eps=1e-3),
            scale_by_learning_rate(lr),
        ),
        lambda lr: optax.chain(
            optax.clip_by_global_norm(0.5),
            optax.scale_by_adam(b1=0.8, b2=0.95, eps=1e-3),
            optax.scale_by_learning_rate(lr),
        ),
    ),
    "clip_adam_with_schedule": (
        lambda lr: chain(clip_by_global_norm(0.5), adam(lr, 0.8, 0.95, 1e-3)),
        lambda lr: optax.chain(optax.clip_by_global_norm(0.5), optax.adam(lr, 0.8, 0.95, 1e-3)),
    ),
}


@pytest.mark.parametrize("problem", list(PROBLEMS))
@pytest.mark.parametrize("case", list(CASES))
def test_optimizers_take_a_schedule_as_optax_does(case, problem):
    """Both sides get optax's schedule: what is compared is which step count
    each optimizer asks the schedule for, and what it does with the value."""
    ours, theirs = CASES[case]
    schedule = optax.warmup_cosine_decay_schedule(*S)
    assert difference_from_optax(lambda: ours(schedule), lambda: theirs(schedule), problem) < 1e-6


@pytest.mark.parametrize("case", list(CASES))
def test_our_schedule_in_our_optimizers_equals_optax(case):
    """End to end. Both schedules compute in float32 from an int32 count, and
    round differently in the last bit; on the well-conditioned problem that
    stays far below 1e-6 (SGD near its stability edge on Rosenbrock would
    amplify it over 300 steps)."""
    ours, theirs = CASES[case]
    assert (
        difference_from_optax(
            lambda: ours(warmup_cosine_decay(*S)),
            lambda: theirs(optax.warmup_cosine_decay_schedule(*S)),
            "linear_dict",
        )
        < 1e-6
    )


def clip_each_leaf(max_norm):
    """Each leaf clipped by its own norm: changes the direction of the whole."""

    def update(grads, state, params=None):
        def clip(g):
            norm = jnp.sqrt(jnp.sum(g**2))
            return jnp.where(norm < max_norm, g, g / norm * max_norm)

        return jax.tree.map(clip, grads), state

    return Optimizer(lambda params: (), update)


def one_step_late(t):
    """The schedule read with the count after the update, not before it."""
    return optax.warmup_cosine_decay_schedule(*S)(t + 1)


@pytest.mark.parametrize(
    ("mutant", "reference"),
    [
        (lambda: adam(one_step_late, 0.8, 0.95, 1e-3), "adam"),
        (
            lambda: chain(
                adam_direction(b1=0.8, b2=0.95, eps=1e-3),
                clip_by_global_norm(0.5),
                scale_by_learning_rate(optax.warmup_cosine_decay_schedule(*S)),
            ),
            "clip_adam_schedule",
        ),
        (
            lambda: chain(clip_each_leaf(0.5), sgd(optax.warmup_cosine_decay_schedule(*S), 0.6)),
            "clip_then_sgd",
        ),
    ],
    ids=["schedule one step late", "clip after adam", "clip per leaf"],
)
def test_the_comparison_catches_plausible_mistakes(mutant, reference):
    theirs = CASES[reference][1]
    schedule = optax.warmup_cosine_decay_schedule(*S)
    assert difference_from_optax(mutant, lambda: theirs(schedule), "linear_dict") > 1e-4


# --------------------------------------------------------------- clipping
def test_clipping_equals_optax_and_keeps_the_direction(key):
    with jax.enable_x64(True):
        keys = jax.random.split(key, 3)
        grads = {
            "W": 3 * jax.random.normal(keys[0], (7, 5), jnp.float64),
            "b": jax.random.normal(keys[1], (5,), jnp.float64),
            "deep": [jax.random.normal(keys[2], (4, 4, 2), jnp.float64)],
        }
        norm = float(np.sqrt(sum(np.sum(np.asarray(g) ** 2) for g in jax.tree.leaves(grads))))
        assert float(global_norm(grads)) == pytest.approx(norm, rel=1e-12)
        for max_norm in (0.1, 0.5 * norm, 0.999 * norm, 1.001 * norm, 10 * norm):
            clipped, state = clip_by_global_norm(max_norm).update(grads, ())
            theirs, _ = optax.clip_by_global_norm(max_norm).update(grads, optax.EmptyState())
            assert largest_difference(clipped, theirs) < 1e-12
            assert state == ()
            expected = min(norm, max_norm)
            assert float(global_norm(clipped)) == pytest.approx(expected, rel=1e-12)
            for c, g in zip(jax.tree.leaves(clipped), jax.tree.leaves(grads), strict=True):
                np.testing.assert_allclose(c, g * expected / norm, rtol=1e-12)


def test_clipping_refuses_a_bad_norm():
    with pytest.raises(ValueError, match="max_norm must be a positive number"):
        clip_by_global_norm(0.0)


def test_chain_refuses_a_state_of_another_chain():
    state = chain(clip_by_global_norm(1.0), sgd(0.1)).init(jnp.zeros(3))
    longer = chain(clip_by_global_norm(1.0), adam_direction(), scale_by_learning_rate(0.1))
    with pytest.raises(ValueError, match="the state holds 2 parts for 3 transforms"):
        longer.update(jnp.ones(3), state, jnp.zeros(3))


# ----------------------------------------------------------------- dtypes
LOW = [jnp.bfloat16, jnp.float16]
DTYPE_CASES = {
    "sgd": (lambda: sgd(warmup_cosine_decay(*S), 0.7), lambda o: optax.sgd(o, 0.7)),
    "rmsprop": (lambda: rmsprop(warmup_cosine_decay(*S)), lambda o: optax.rmsprop(o)),
    "adam": (lambda: adam(warmup_cosine_decay(*S)), lambda o: optax.adam(o)),
    "adamw": (lambda: adamw(warmup_cosine_decay(*S)), lambda o: optax.adamw(o)),
    "adam_mu_float32": (
        lambda: adam(warmup_cosine_decay(*S), mu_dtype=jnp.float32),
        lambda o: optax.adam(o, mu_dtype=jnp.float32),
    ),
    "chain": (
        lambda: chain(
            clip_by_global_norm(1.0),
            adam_direction(),
            scale_by_learning_rate(warmup_cosine_decay(*S)),
        ),
        lambda o: optax.chain(
            optax.clip_by_global_norm(1.0), optax.scale_by_adam(), optax.scale_by_learning_rate(o)
        ),
    ),
    "chain_mu_float32": (
        lambda: chain(
            adam_direction(mu_dtype=jnp.float32), scale_by_learning_rate(warmup_cosine_decay(*S))
        ),
        lambda o: optax.chain(
            optax.scale_by_adam(mu_dtype=jnp.float32), optax.scale_by_learning_rate(o)
        ),
    ),
}


def dtypes(tree):
    return [leaf.dtype for leaf in jax.tree.leaves(tree)]


@pytest.mark.parametrize("dtype", LOW, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case", list(DTYPE_CASES))
def test_low_precision_parameters_keep_their_dtype_as_in_optax(case, dtype):
    """Updates, state and parameters have optax's dtypes, and the values agree."""
    make_ours, make_theirs = DTYPE_CASES[case]
    ours, theirs = make_ours(), make_theirs(optax.warmup_cosine_decay_schedule(*S))
    loss, params = linear_problem()
    params = cast_floats(params, dtype)
    grads = jax.grad(loss)(params)
    assert dtypes(grads) == [dtype, dtype]
    state, their_state = ours.init(params), theirs.init(params)
    for _ in range(3):  # past the first step, where the warmup's rate is small
        updates, state = ours.update(grads, state, params)
        their_updates, their_state = theirs.update(grads, their_state, params)
    assert dtypes(updates) == dtypes(their_updates)
    # A float32 first moment makes float32 updates, in optax too; apply_updates
    # then rounds the sum back to the parameters' dtype.
    expected = jnp.float32 if case.endswith("mu_float32") else dtype
    assert dtypes(updates) == [expected, expected]
    # The same dtypes in the state (optax may keep one more int32 count).
    assert set(dtypes(state)) == set(dtypes(their_state))
    for a, b in zip(jax.tree.leaves(updates), jax.tree.leaves(their_updates), strict=True):
        np.testing.assert_allclose(
            np.asarray(a, np.float32), np.asarray(b, np.float32), rtol=2e-2, atol=1e-6
        )
    assert dtypes(apply_updates(params, updates)) == [dtype, dtype]


@pytest.mark.parametrize("dtype", LOW, ids=lambda d: d.__name__)
@pytest.mark.parametrize("case", list(DTYPE_CASES))
def test_a_scan_training_loop_runs_in_low_precision(case, dtype):
    """lax.scan demands the same dtypes in and out of every step."""
    loss, params = linear_problem()
    params = cast_floats(params, dtype)
    final, losses, _ = train(loss, params, DTYPE_CASES[case][0](), n_steps=200)
    assert dtypes(final) == [dtype, dtype]  # the data stay float32, so the loss is
    assert float(losses[-1]) < 0.5 * float(losses[0])


def test_mu_dtype_keeps_the_first_moment_in_float32():
    params = cast_floats(linear_problem()[1], jnp.bfloat16)
    theirs = optax.scale_by_adam(mu_dtype=jnp.float32).init(params)
    for ours in (adam(0.1, mu_dtype=jnp.float32), adam_direction(mu_dtype=jnp.float32)):
        state = ours.init(params)
        assert dtypes(state.m) == dtypes(theirs.mu) == [jnp.float32] * 2
        assert dtypes(state.v) == dtypes(theirs.nu) == [jnp.bfloat16] * 2
        assert int(state.t) == int(theirs.count) == 0


@pytest.mark.parametrize(("b1", "b2", "name"), [(1.0, 0.999, "b1"), (0.9, -0.1, "b2")])
def test_adam_direction_refuses_bad_decay_rates(b1, b2, name):
    with pytest.raises(ValueError, match=f"{name} is a decay rate"):
        adam_direction(b1=b1, b2=b2)


def test_apply_updates_keeps_the_parameters_dtype_as_optax_does():
    params = {"a": jnp.ones(3, jnp.bfloat16), "b": jnp.ones(2, jnp.float32)}
    updates = {"a": jnp.full(3, 0.5, jnp.float32), "b": jnp.full(2, 0.25, jnp.float32)}
    ours, theirs = apply_updates(params, updates), optax.apply_updates(params, updates)
    assert dtypes(ours) == dtypes(theirs) == [jnp.bfloat16, jnp.float32]
    np.testing.assert_array_equal(ours["a"], theirs["a"])


# -------------------------------------------------------- mixed precision
def test_mixed_precision_computes_low_and_returns_float32_gradients(key):
    seen = []

    def loss_fn(params, batch):
        seen.append((params["w"].dtype, batch[0].dtype, batch[1].dtype))
        x, y = batch
        return jnp.mean((x @ params["w"] - y.astype(x.dtype)) ** 2)

    kx, kw = jax.random.split(key)
    params = {"w": jax.random.normal(kw, (3,))}
    batch = (jax.random.normal(kx, (16, 3)), jnp.arange(16))
    value, grads = jax.value_and_grad(mixed_precision(loss_fn))(params, batch)
    assert seen == [(jnp.bfloat16, jnp.bfloat16, jnp.int32)]  # labels stay integers
    assert value.dtype == grads["w"].dtype == jnp.float32
    exact = jax.grad(loss_fn)(params, batch)["w"]
    np.testing.assert_allclose(grads["w"], exact, rtol=5e-2)
    assert not np.array_equal(grads["w"], exact)  # it really was computed in bfloat16


# ---------------------------------------------------------------- epochs
def test_shuffled_batches_are_disjoint_and_reproducible(key):
    batches = np.asarray(shuffled_batches(key, 103, 10))
    assert batches.shape == (10, 10)
    assert len(set(batches.ravel())) == 100 and batches.max() < 103
    np.testing.assert_array_equal(batches, shuffled_batches(key, 103, 10))
    other = np.asarray(shuffled_batches(jax.random.fold_in(key, 1), 103, 10))
    assert not np.array_equal(batches, other)


def test_an_epoch_is_the_python_loop_over_its_batches(key):
    """run_epoch (one lax.scan) against plain descent written out by hand."""
    with jax.enable_x64(True):
        kx, ky, kp = jax.random.split(key, 3)
        data = (jax.random.normal(kx, (40, 3), jnp.float64), jax.random.normal(ky, (40,)))
        params = jax.random.normal(kp, (3,), jnp.float64)

        def loss_fn(w, batch):
            x, y = batch
            return jnp.mean((x @ w - y) ** 2)

        new, _, losses = run_epoch(loss_fn, params, (), sgd_like(0.1), data, key, 8)
        expected, expected_losses = np.asarray(params), []
        x, y = np.asarray(data[0]), np.asarray(data[1])
        for batch in np.asarray(shuffled_batches(key, 40, 8)):
            residual = x[batch] @ expected - y[batch]
            expected_losses.append(np.mean(residual**2))
            expected = expected - 0.1 * 2 * x[batch].T @ residual / len(batch)
        np.testing.assert_allclose(new, expected, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(losses, expected_losses, rtol=1e-10)


def sgd_like(eta):
    """theta <- theta - eta g with no state: written here, not imported."""

    def update(grads, state, params=None):
        return jax.tree.map(lambda g: -eta * g, grads), state

    return Optimizer(lambda params: (), update)


def test_a_bfloat16_epoch_keeps_its_dtype_and_learns(key):
    kx, kw = jax.random.split(key)
    x = jax.random.normal(kx, (256, 4))
    data = cast_floats((x, x @ jax.random.normal(kw, (4,))), jnp.bfloat16)
    params = jnp.zeros(4, jnp.bfloat16)
    optimizer = chain(clip_by_global_norm(1.0), adam(warmup_cosine_decay(0.0, 0.05, 8, 80)))
    state = optimizer.init(params)

    def loss_fn(w, batch):
        x, y = batch
        return jnp.mean((x @ w - y) ** 2)

    first = None
    for epoch in range(5):
        k = jax.random.fold_in(key, epoch)
        params, state, losses = run_epoch(loss_fn, params, state, optimizer, data, k, 16)
        first = losses[0] if first is None else first
        assert params.dtype == losses.dtype == jnp.bfloat16
    assert float(losses[-1]) < 0.1 * float(first)


@pytest.mark.parametrize(
    ("data", "batch_size", "match"),
    [
        ((jnp.zeros((10, 2)), jnp.zeros(9)), 2, r"different numbers of examples \[9, 10\]"),
        ((jnp.zeros((10, 2)), jnp.zeros(10)), 11, "choose a batch size from 1 to 10"),
        ((jnp.zeros((10, 2)), jnp.zeros(10)), 0, "choose a batch size from 1 to 10"),
    ],
    ids=["mismatched sizes", "batch larger than the data", "empty batch"],
)
def test_bad_batches_are_refused(data, batch_size, match):
    with pytest.raises(ValueError, match=match):
        check_batches(data, batch_size)
    with pytest.raises(ValueError, match=match):  # also from inside the compiled epoch
        run_epoch(
            lambda p, b: jnp.sum(p),
            jnp.zeros(2),
            (),
            sgd_like(0.1),
            data,
            jax.random.key(0),
            batch_size,
        )
