"""Chapter "Neural networks": data, cross-entropy, an MLP from scratch,
trained with the tools of snippets/training.py."""

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from snippets.optimizers import Optimizer, adam, apply_updates
from snippets.training import cast_floats, global_norm, run_epoch


# --8<-- [start:make_spirals]
@partial(jax.jit, static_argnames=("n", "n_classes"))
def make_spirals(key, n, n_classes=3, turns=1.0, noise=0.05):
    """n points on n_classes interleaved spiral arms: x (n, 2), y (n,)."""
    k_label, k_radius, k_noise = jax.random.split(key, 3)
    y = jax.random.randint(k_label, (n,), 0, n_classes)
    radius = jax.random.uniform(k_radius, (n,))  # 0 at the centre, 1 outside
    angle = 2 * jnp.pi * (turns * radius + y / n_classes)  # each arm turns
    arm = jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=1) * radius[:, None]
    return arm + noise * jax.random.normal(k_noise, (n, 2)), y


@partial(jax.jit, static_argnames="n_test")
def split(key, x, y, n_test):
    """A random n_test examples for testing, the rest for training."""
    order = jax.random.permutation(key, len(y))
    test, train = order[:n_test], order[n_test:]
    return (x[train], y[train]), (x[test], y[test])


# --8<-- [end:make_spirals]


# --8<-- [start:cross_entropy]
def naive_cross_entropy(o, label):
    """-log p_y with p = softmax(o), term by term, for one example."""
    p = jnp.exp(o) / jnp.sum(jnp.exp(o))
    return -jnp.log(p[label])


def logsumexp(o):
    """log sum_k exp(o_k) without overflow: every exponent is <= 0."""
    top = jnp.max(o)
    return top + jnp.log(jnp.sum(jnp.exp(o - top)))


def cross_entropy(o, label):
    """-log p_y = logsumexp(o) - o_y, for one example's logits o (K,)."""
    return logsumexp(o) - o[label]


def mean_cross_entropy(logits, labels):
    """The mean over a batch: logits (n, K), integer labels (n,)."""
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(
            f"need logits (n, K) and labels (n,), got {logits.shape} and "
            f"{labels.shape}: one row of logits per label"
        )
    return jnp.mean(jax.vmap(cross_entropy)(logits, labels))


def check_labels(labels, n_classes):
    """Labels index the logits, and JAX checks no index (see below)."""
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    if labels.size and not 0 <= labels.min() <= labels.max() < n_classes:
        raise ValueError(
            f"labels run from {labels.min()} to {labels.max()}, but the model "
            f"has {n_classes} classes: use labels 0 to {n_classes - 1}"
        )


# --8<-- [end:cross_entropy]


# --8<-- [start:linear_model]
def init_linear(n_inputs, n_classes):
    return {"W": jnp.zeros((n_inputs, n_classes)), "b": jnp.zeros(n_classes)}


def linear(params, x):
    """Logits o = x W + b for one example x (2,)."""
    return x @ params["W"] + params["b"]


def predict(model, params, x):
    """Logits for a batch x (n, 2): the one-example model, vmapped."""
    return jax.vmap(lambda example: model(params, example))(x)


def accuracy(model, params, data):
    x, y = data
    return float(jnp.mean(jnp.argmax(predict(model, params, x), axis=1) == y))


def classifier_loss(model):
    """The training objective loss(params, (x, y)) of a one-example model:
    the mean cross-entropy of its logits."""

    def loss(params, data):
        x, y = data
        return mean_cross_entropy(predict(model, params, x), y)

    return loss


# --8<-- [end:linear_model]


# --8<-- [start:activations]
def relu(x):
    return jnp.maximum(x, 0)


def gelu(x):
    """x Phi(x), Phi the standard normal CDF (the exact form)."""
    return x * 0.5 * (1 + jax.lax.erf(x / math.sqrt(2)))


# --8<-- [end:activations]


# --8<-- [start:mlp]
def init_mlp(key, sizes, gain=2.0):
    """One {W, b} per layer; W ~ N(0, gain / fan_in), b = 0.
    gain = 2 is He's scale for ReLU."""
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        {
            "W": jax.random.normal(k, (d_in, d_out)) * math.sqrt(gain / d_in),
            "b": jnp.zeros(d_out),
        }
        for k, d_in, d_out in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]


def mlp(params, x, activation=relu):
    """a <- activation(a W + b) for each hidden layer, from a = x; the
    last layer's output, the logits o (K,), has no activation."""
    for layer in params[:-1]:
        x = activation(x @ layer["W"] + layer["b"])
    return x @ params[-1]["W"] + params[-1]["b"]


# --8<-- [end:mlp]


# --8<-- [start:activation_scales]
def activation_scales(key, gain, activation, depth=40, width=128, n=128):
    """RMS of each layer's activations, random inputs, W ~ N(0, gain/width)."""
    keys = jax.random.split(key, depth + 1)
    a = jax.random.normal(keys[0], (n, width))
    scales = []
    for k in keys[1:]:
        W = jax.random.normal(k, (width, width)) * math.sqrt(gain / width)
        a = activation(a @ W)
        scales.append(float(jnp.sqrt(jnp.mean(a**2))))
    return np.array(scales)


# --8<-- [end:activation_scales]


# --8<-- [start:fit]
def fit(
    loss,  # loss(params, (x, y)), the mean over a batch
    params,
    optimizer,
    train_set,  # (x, y): trained on
    test_set,  # (x, y): only evaluated
    key,  # the key of the shuffles
    batch_size,
    epochs,
    n_classes,  # labels must lie in 0, ..., n_classes - 1
):
    """Minibatch training, one compiled epoch at a time; returns the
    parameters, the optimizer state, and the train and test losses after
    each epoch."""
    for _, labels in (train_set, test_set):
        check_labels(labels, n_classes)
    evaluate = jax.jit(loss)
    state = optimizer.init(params)
    history = {"train": [], "test": []}
    for epoch in range(epochs):
        params, state, _ = run_epoch(
            loss,
            params,
            state,
            optimizer,
            train_set,
            jax.random.fold_in(key, epoch),  # a new order every epoch
            batch_size,
        )
        history["train"].append(float(evaluate(params, train_set)))
        history["test"].append(float(evaluate(params, test_set)))
    return params, state, history


# --8<-- [end:fit]


# --8<-- [start:noise_formula]
def predicted_noise(per_example, batch_size):
    """E|g_B - g|^2 = sigma^2 / B (n - B) / (n - 1): g_B the mean of B of
    the n rows of per_example (n, P), drawn without replacement, g all n's."""
    n = len(per_example)
    g = per_example.mean(axis=0, keepdims=True)  # (1, P)
    sigma2 = jnp.mean(jnp.sum((per_example - g) ** 2, axis=1))
    return sigma2 / batch_size * (n - batch_size) / (n - 1)


# --8<-- [end:noise_formula]


# --8<-- [start:count_clips]
class ClipCount(NamedTuple):
    steps: jax.Array  # the number of steps taken
    clipped: jax.Array  # how many of them had a gradient longer than c
    longest: jax.Array  # the largest global norm seen


def count_clips(max_norm):
    """Passes the gradient on unchanged and counts how often its global
    norm exceeds max_norm: put it just before clip_by_global_norm."""

    def init(params):
        zero = jnp.zeros([], jnp.int32)
        return ClipCount(zero, zero, jnp.zeros([], jnp.float32))

    def update(grads, state, params=None):
        norm = global_norm(grads).astype(jnp.float32)
        return grads, ClipCount(
            state.steps + 1,
            state.clipped + (norm > max_norm),
            jnp.maximum(state.longest, norm),
        )

    return Optimizer(init, update)


# --8<-- [end:count_clips]


# --8<-- [start:lost_updates]
@partial(jax.jit, static_argnames="dtype")
def lost_updates(params, grads, eta, dtype):
    """The share of one Adam step's nonzero updates that leave their
    weight exactly as it was, with everything in `dtype`."""
    params, grads = cast_floats(params, dtype), cast_floats(grads, dtype)
    step = adam(eta)
    updates, _ = step.update(grads, step.init(params), params)
    moved = apply_updates(params, updates)
    leaves = zip(*map(jax.tree.leaves, (params, updates, moved)), strict=True)
    lost = sum(jnp.sum((u != 0) & (p == q)) for p, u, q in leaves)
    nonzero = sum(jnp.sum(u != 0) for u in jax.tree.leaves(updates))
    return lost / nonzero, moved


# --8<-- [end:lost_updates]


# --8<-- [start:float32_logits]
def float32_logits(model):
    """The model with its logits cast up to float32 (or wider), so that the
    softmax and its log-sum-exp never run in bfloat16."""

    def wrapped(params, x):
        logits = model(params, x)
        return logits.astype(jnp.promote_types(logits.dtype, jnp.float32))

    return wrapped


# --8<-- [end:float32_logits]


# --8<-- [start:matmul_time]
import time


def matmul_seconds(dtype, n=1024, repeats=10):
    """The fastest of `repeats` runs of a compiled (n, n) @ (n, n) product in
    `dtype`: other work on the machine can only slow a run down."""
    a = jax.random.normal(jax.random.key(9), (n, n), dtype)
    product = jax.jit(lambda a: a @ a)
    product(a).block_until_ready()  # compile first
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        product(a).block_until_ready()
        times.append(time.perf_counter() - started)
    return min(times)


# --8<-- [end:matmul_time]


# --8<-- [start:lipschitz_bound]
def lipschitz_bound(params):
    """The product of the layers' spectral norms: moving the input by dx
    moves an MLP's logits by at most this times |dx| (ReLU never
    stretches, the biases only shift)."""
    return float(np.prod([jnp.linalg.norm(layer["W"], 2) for layer in params]))


# --8<-- [end:lipschitz_bound]


# --8<-- [start:plot_boundary]
def plot_boundary(ax, model, params, data, title):
    """Colour the plane by the predicted class; the points by their label."""
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    grid = np.linspace(-1.3, 1.3, 200)
    gx, gy = np.meshgrid(grid, grid)
    plane = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], axis=1))
    classes = np.asarray(jnp.argmax(predict(model, params, plane), axis=1))
    n_classes = int(data[1].max()) + 1
    levels = np.arange(n_classes + 1) - 0.5
    regions = classes.reshape(gx.shape)
    ax.contourf(gx, gy, regions, levels, colors=colors, alpha=0.25)
    for k in range(n_classes):
        points = np.asarray(data[0][data[1] == k])
        ax.scatter(points[:, 0], points[:, 1], s=5, color=colors[k])
    ax.set(title=title, aspect="equal", xticks=[], yticks=[])


# --8<-- [end:plot_boundary]


if __name__ == "__main__":
    # fmt: off
    # The sections below are formatted by hand to the page's 80 columns.
    import optax

    from snippets.optimizers import adamw, sgd, train
    from snippets.training import (
        adam_direction, chain, clip_by_global_norm, mixed_precision,
        scale_by_learning_rate, shuffled_batches, warmup_cosine_decay,
    )

    # --8<-- [start:data]
    x, y = make_spirals(jax.random.key(0), n=1500)
    train_set, test_set = split(jax.random.key(1), x, y, n_test=500)
    n_classes = 3
    print("train:", train_set[0].shape, "test:", test_set[0].shape)
    print("examples per class:", np.bincount(np.asarray(train_set[1])))
    # --8<-- [end:data]

    # --8<-- [start:draw_spirals]
    fig, ax = plt.subplots(num="spirals", figsize=(4, 4))
    for k in range(n_classes):
        points = np.asarray(train_set[0][train_set[1] == k])
        ax.scatter(points[:, 0], points[:, 1], s=5, label=f"class {k}")
    ax.set(aspect="equal", xlabel="$x_1$", ylabel="$x_2$")
    ax.legend(loc="lower right", fontsize=8)
    plt.show()
    # --8<-- [end:draw_spirals]

    # --8<-- [start:overflow]
    o = jnp.array([3.0, 1.0, -2.0])  # one example's logits, float32
    for scale in (1.0, 100.0):
        naive = naive_cross_entropy(scale * o, 1)
        stable = cross_entropy(scale * o, 1)
        theirs = optax.softmax_cross_entropy_with_integer_labels(scale * o, 1)
        print(f"logits x {scale:g}: naive {naive:.6f}, "
              f"stable {stable:.6f}, optax {theirs:.6f}")
    print("exp(100) in float32:", jnp.exp(jnp.float32(100)))
    assert not jnp.isfinite(naive_cross_entropy(100 * o, 1))
    assert jnp.isfinite(cross_entropy(100 * o, 1))
    # --8<-- [end:overflow]

    # --8<-- [start:softmax_gradient]
    p = jnp.exp(o - logsumexp(o))  # softmax(o)
    one_hot = jnp.eye(n_classes)[0]
    print("gradient by JAX:", jax.grad(cross_entropy)(o, 0))
    print("p - one-hot(y): ", p - one_hot)
    assert jnp.allclose(jax.grad(cross_entropy)(o, 0), p - one_hot)
    # --8<-- [end:softmax_gradient]

    # --8<-- [start:bad_labels]
    for label in (2, 7, -1):  # there is no class 7, nor a class -1
        print(f"loss with label {label:2}:", cross_entropy(o, label))
    assert cross_entropy(o, 7) == cross_entropy(o, 2)  # clamped to the last
    assert cross_entropy(o, -1) == cross_entropy(o, 2)  # counted from the end
    for labels in ([0, 2, 7], [-1, 0, 2]):
        try:
            check_labels(jnp.array(labels), n_classes)
        except ValueError as err:
            print("ValueError:", err)
    # --8<-- [end:bad_labels]

    # --8<-- [start:linear_fit]
    linear_loss = classifier_loss(linear)

    def objective(params):
        return linear_loss(params, train_set)

    linear_params, _, _ = train(
        objective, init_linear(2, n_classes), sgd(1.0), n_steps=500
    )
    linear_accuracy = accuracy(linear, linear_params, test_set)
    print(f"train accuracy {accuracy(linear, linear_params, train_set):.3f}, "
          f"test accuracy {linear_accuracy:.3f}, chance {1 / n_classes:.3f}")
    # better than guessing, but by less than ten points
    assert 1 / n_classes < linear_accuracy < 1 / n_classes + 0.1
    # --8<-- [end:linear_fit]

    # --8<-- [start:gelu_check]
    inputs = jnp.linspace(-5, 5, 1001)
    exact = jax.nn.gelu(inputs, approximate=False)
    exact_gap = jnp.max(jnp.abs(gelu(inputs) - exact))
    tanh_gap = jnp.max(jnp.abs(gelu(inputs) - jax.nn.gelu(inputs)))
    print(f"ours vs jax.nn.gelu(approximate=False): {exact_gap:.1e}")
    print(f"ours vs jax.nn.gelu, its default:       {tanh_gap:.1e}")
    # --8<-- [end:gelu_check]

    # --8<-- [start:init_scales]
    depth = 40
    cases = {  # label: (gain, activation)
        "ReLU, gain 1": (1.0, relu),
        "ReLU, gain 2 (He)": (2.0, relu),
        "ReLU, gain 4": (4.0, relu),
        "GELU, gain 2": (2.0, gelu),
    }
    scales = {
        label: activation_scales(jax.random.key(3), gain, act, depth)
        for label, (gain, act) in cases.items()
    }
    for label, rms in scales.items():
        print(f"{label:18} RMS after layer 10: {rms[9]:9.3g}, "
              f"after layer {depth}: {rms[-1]:9.3g}")
    for gain in (1, 4):  # each layer multiplies E[a^2] by gain / 2
        predicted = (gain / 2) ** (depth / 2)
        assert 0.5 < scales[f"ReLU, gain {gain}"][-1] / predicted < 2
    assert 0.5 < scales["ReLU, gain 2 (He)"][-1] < 2
    # --8<-- [end:init_scales]

    # --8<-- [start:draw_init_scales]
    fig, ax = plt.subplots(num="activation_scales", figsize=(6, 3.5))
    for label, rms in scales.items():
        ax.semilogy(np.arange(1, depth + 1), rms, label=label)
    ax.set(xlabel="layer", ylabel="RMS of the activations")
    ax.legend(fontsize=8)
    plt.show()
    # --8<-- [end:draw_init_scales]

    # --8<-- [start:first_mlp]
    mlp_sizes = [2, 64, 64, n_classes]  # inputs, two hidden layers, logits
    mlp_params = init_mlp(jax.random.key(4), mlp_sizes)
    mlp_loss = classifier_loss(mlp)
    value, grads = jax.jit(jax.value_and_grad(mlp_loss))(mlp_params, train_set)
    print(f"loss at start {value:.3f}, log K = {math.log(n_classes):.3f}")
    print("gradient shapes:", jax.tree.map(jnp.shape, grads))
    assert math.log(n_classes) < value < 1.2 * math.log(n_classes)
    # --8<-- [end:first_mlp]

    # --8<-- [start:sgd_fit]
    batch_size, epochs, eta = 50, 40, 0.5
    key = jax.random.key(5)  # the key of the shuffles
    sgd_params, _, sgd_history = fit(
        mlp_loss, mlp_params, sgd(eta), train_set, test_set, key,
        batch_size, epochs, n_classes,
    )
    print(f"after {epochs} epochs: train accuracy "
          f"{accuracy(mlp, sgd_params, train_set):.3f}, test accuracy "
          f"{accuracy(mlp, sgd_params, test_set):.3f}")
    # --8<-- [end:sgd_fit]

    # --8<-- [start:draw_loss_curves]
    fig, ax = plt.subplots(num="mlp_loss_curves", figsize=(6, 3.5))
    epoch_numbers = np.arange(1, epochs + 1)
    ax.plot(epoch_numbers, sgd_history["train"], label="train")
    ax.plot(epoch_numbers, sgd_history["test"], label="test")
    ax.set(xlabel="epoch", ylabel="cross-entropy", ylim=(0, None))
    ax.legend()
    plt.show()
    # --8<-- [end:draw_loss_curves]

    # --8<-- [start:bad_batches]
    for bad in [(train_set, 2000), ((train_set[0], train_set[1][:-1]), 50)]:
        try:
            fit(mlp_loss, mlp_params, sgd(eta), bad[0], test_set, key,
                bad[1], epochs, n_classes)
        except ValueError as err:
            print("ValueError:", err)
    # --8<-- [end:bad_batches]

    # --8<-- [start:gradient_noise]
    def example_gradient(x_i, y_i):  # the gradient of one example's loss
        return jax.grad(mlp_loss)(sgd_params, (x_i[None], y_i[None]))

    per_example = jax.jit(jax.vmap(example_gradient))(*train_set)
    G = jnp.concatenate(  # (n, number of parameters): one row per example
        [g.reshape(len(g), -1) for g in jax.tree.leaves(per_example)], axis=1
    )
    n = len(G)
    g = G.mean(axis=0)  # the full-batch gradient
    g_squared = float(jnp.sum(g**2))

    @jax.jit
    def noise(G, g, batches):  # batches: (number of batches, B) indices
        g_B = G[batches].mean(axis=1)  # each minibatch's gradient
        return jnp.mean(jnp.sum((g_B - g) ** 2, axis=1))

    noise_table = {}
    for B in (10, 50, 250):
        keys = jax.random.split(jax.random.key(6), 5)  # five epochs' orders
        batches = jnp.concatenate([shuffled_batches(k, n, B) for k in keys])
        measured = float(noise(G, g, batches))
        predicted = float(predicted_noise(G, B))
        noise_table[B] = (measured, predicted)
        print(f"B = {B:3}: mean |g_B - g|^2 = {measured:.4f}, "
              f"predicted {predicted:.4f}; |g|^2 = {g_squared:.4f}")
    worst = max(abs(m / p - 1) for m, p in noise_table.values())
    # A sample of batches, not all of them (only 20 of 250): a few percent off
    assert worst < 0.2
    # --8<-- [end:gradient_noise]

    # --8<-- [start:full_batch]
    def jitter(history):  # epoch-to-epoch wobble over the last 10 epochs
        return float(np.std(np.diff(history["train"][-10:])))

    full_params, _, full_history = fit(
        mlp_loss, mlp_params, sgd(eta), train_set, test_set, key,
        len(train_set[1]), epochs, n_classes,  # one batch: all the data
    )
    hot_params, _, hot_history = fit(
        mlp_loss, mlp_params, sgd(2 * eta), train_set, test_set, key,
        batch_size, epochs, n_classes,
    )
    runs = {
        f"full batch, eta = {eta}": full_history,
        f"batches of {batch_size}, eta = {eta}": sgd_history,
        f"batches of {batch_size}, eta = {2 * eta}": hot_history,
    }
    for label, history in runs.items():
        print(f"{label:24} final train loss {history['train'][-1]:.3f}, "
              f"jitter {jitter(history):.4f}")
    assert sgd_history["train"][-1] < 0.5 * full_history["train"][-1]
    assert jitter(full_history) < jitter(sgd_history) < jitter(hot_history)
    # --8<-- [end:full_batch]

    # --8<-- [start:draw_full_batch]
    fig, ax = plt.subplots(num="full_batch_vs_minibatch", figsize=(6, 3.5))
    for label, history in runs.items():
        ax.plot(epoch_numbers, history["train"], label=label)
    ax.set(xlabel="epoch", ylabel="train cross-entropy", yscale="log")
    ax.legend(fontsize=8)
    plt.show()
    # --8<-- [end:draw_full_batch]

    # --8<-- [start:schedule_demo]
    steps_per_epoch = len(train_set[1]) // batch_size
    total = epochs * steps_per_epoch
    warmup = total // 10
    schedule = warmup_cosine_decay(0.0, 2 * eta, warmup, total)
    theirs = optax.warmup_cosine_decay_schedule(0.0, 2 * eta, warmup, total)
    t = jnp.arange(total + 100)
    gap = jnp.max(jnp.abs(schedule(t) - theirs(t)))
    print(f"largest difference from optax over {len(t)} steps: {gap:.1e}")
    decayed_params, _, decayed_history = fit(
        mlp_loss, mlp_params, sgd(schedule), train_set, test_set, key,
        batch_size, epochs, n_classes,
    )
    runs[f"warmup + cosine to {2 * eta}"] = decayed_history
    print(f"final train loss {decayed_history['train'][-1]:.3f}, "
          f"jitter {jitter(decayed_history):.4f}")
    assert schedule(0) == 0 and jitter(decayed_history) < jitter(sgd_history)
    # --8<-- [end:schedule_demo]

    # --8<-- [start:draw_schedule]
    fig, (left, right) = plt.subplots(
        1, 2, num="learning_rate_schedule", figsize=(10, 3.5)
    )
    left.plot(t, schedule(t))
    left.set(xlabel="step t", ylabel="learning rate")
    for label, history in list(runs.items())[1:]:
        right.plot(epoch_numbers, history["train"], label=label)
    right.set(xlabel="epoch", ylabel="train cross-entropy", yscale="log")
    right.legend(fontsize=8)
    plt.show()
    # --8<-- [end:draw_schedule]

    # --8<-- [start:clipping_demo]
    large = jax.tree.map(lambda g: 100 * g, grads)  # stands for a rare one
    clipped, _ = jax.jit(clip_by_global_norm(1.0).update)(large, ())
    clip_optax = jax.jit(optax.clip_by_global_norm(1.0).update)
    theirs, _ = clip_optax(large, optax.EmptyState())
    per_entry = jax.tree.map(lambda g: jnp.clip(g, -0.01, 0.01), large)

    def flat(tree):
        return jnp.concatenate([leaf.ravel() for leaf in jax.tree.leaves(tree)])

    @jax.jit
    def cosine(a, b):
        return jnp.dot(flat(a), flat(b)) / (global_norm(a) * global_norm(b))

    norm = jax.jit(global_norm)
    print(f"global norm {norm(large):.2f} -> {norm(clipped):.2f}")
    print(f"cosine with the gradient: clipped {cosine(clipped, large):.4f}, "
          f"clipped entry by entry {cosine(per_entry, large):.4f}")
    clip_gap = jnp.max(jnp.abs(flat(clipped) - flat(theirs)))
    print(f"largest difference from optax: {clip_gap:.1e}")
    # --8<-- [end:clipping_demo]

    # --8<-- [start:chain_demo]
    ours = chain(
        clip_by_global_norm(1.0), adam_direction(), scale_by_learning_rate(0.1)
    )
    theirs = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.scale_by_adam(),
        optax.scale_by_learning_rate(0.1),
    )
    start, chain_steps = init_linear(2, n_classes), 200
    ours_after, _, _ = train(objective, start, ours, n_steps=chain_steps)
    theirs_after, _, _ = train(objective, start, theirs, n_steps=chain_steps)
    chain_gap = jnp.max(jnp.abs(flat(ours_after) - flat(theirs_after)))
    print(f"after {chain_steps} steps, largest difference from optax: "
          f"{chain_gap:.1e}")
    # --8<-- [end:chain_demo]

    # --8<-- [start:final_fit]
    max_norm, peak = 1.0, 0.01
    optimizer = chain(
        count_clips(max_norm),  # changes nothing: counts
        clip_by_global_norm(max_norm),
        adam_direction(),
        scale_by_learning_rate(warmup_cosine_decay(0.0, peak, warmup, total)),
    )
    final_params, final_state, final_history = fit(
        mlp_loss, mlp_params, optimizer, train_set, test_set,
        jax.random.key(7), batch_size, epochs, n_classes,
    )
    clips = final_state[0]  # the state of count_clips, first in the chain
    clipped_share = int(clips.clipped) / int(clips.steps)
    mlp_accuracy = accuracy(mlp, final_params, test_set)
    print(f"clipped {int(clips.clipped)} of {int(clips.steps)} steps; "
          f"longest gradient {float(clips.longest):.2f}")
    print(f"train accuracy {accuracy(mlp, final_params, train_set):.3f}, "
          f"test accuracy {mlp_accuracy:.3f} (the line: {linear_accuracy:.3f})")
    assert clipped_share < 0.1 and clips.longest < 2 * max_norm  # rare, mild
    # --8<-- [end:final_fit]

    # --8<-- [start:draw_boundaries]
    fig, (left, right) = plt.subplots(
        1, 2, num="decision_boundaries", figsize=(9, 4.5)
    )
    plot_boundary(left, linear, linear_params, test_set, "linear model")
    plot_boundary(right, mlp, final_params, test_set, "MLP")
    plt.show()
    # --8<-- [end:draw_boundaries]

    # --8<-- [start:bfloat16_spacing]
    print("bfloat16: 1 + 1/1000 =", jnp.bfloat16(1) + jnp.bfloat16(1e-3))
    print("float32:  1 + 1/1000 =", jnp.float32(1) + jnp.float32(1e-3))
    for dtype in (jnp.float32, jnp.bfloat16, jnp.float16):
        info = jnp.finfo(dtype)
        print(f"{info.dtype.name:9} spacing at 1: {info.eps:.2e}, "
              f"largest: {info.max:.2e}")
    # --8<-- [end:bfloat16_spacing]

    # --8<-- [start:lost_updates_demo]
    lost = {}
    for dtype in (jnp.bfloat16, jnp.float32):
        for eta_step in (1e-3, 1e-4):
            share, moved = lost_updates(mlp_params, grads, eta_step, dtype)
            assert all(p.dtype == dtype for p in jax.tree.leaves(moved))
            lost[dtype.__name__, eta_step] = float(share)
            print(f"{dtype.__name__:8} eta = {eta_step:g}: {share:6.1%} of "
                  "the updates lost")
    assert lost["float32", 1e-4] == 0 < lost["bfloat16", 1e-4]
    # --8<-- [end:lost_updates_demo]

    # --8<-- [start:softmax_precision]
    logits = predict(mlp, final_params, test_set[0])  # float32
    rounded = logits.astype(jnp.bfloat16)  # as bfloat16 compute hands them on
    exact = mean_cross_entropy(logits, test_set[1])
    widened = mean_cross_entropy(rounded.astype(jnp.float32), test_set[1])
    low = mean_cross_entropy(rounded, test_set[1])
    print(f"test loss, float32 logits and loss: {exact:.6f}")
    print(f"bfloat16 logits, loss in float32:   {widened:.6f}")
    print(f"bfloat16 logits, loss in bfloat16:  {low:.6f}")
    widened_error = abs(float(widened) / float(exact) - 1)
    softmax_error = abs(float(low) / float(exact) - 1)
    assert widened_error < softmax_error / 10
    # --8<-- [end:softmax_precision]

    # --8<-- [start:mixed_fit]
    mixed_loss = mixed_precision(
        classifier_loss(float32_logits(mlp)), jnp.bfloat16
    )
    mixed_params, _, mixed_history = fit(
        mixed_loss, mlp_params, optimizer, train_set, test_set,
        jax.random.key(7), batch_size, epochs, n_classes,
    )
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(mixed_params))
    mixed_accuracy = accuracy(mlp, mixed_params, test_set)
    print(f"test accuracy: float32 {mlp_accuracy:.3f}, "
          f"bfloat16 compute {mixed_accuracy:.3f}")
    # --8<-- [end:mixed_fit]

    # --8<-- [start:matmul_demo]
    device = jax.devices()[0]  # what JAX computes on here
    size = 1024
    float32_ms = 1e3 * matmul_seconds(jnp.float32, size)
    bfloat16_ms = 1e3 * matmul_seconds(jnp.bfloat16, size)
    # --8<-- [end:matmul_demo]

    # --8<-- [start:overfit]
    few = (train_set[0][:150], train_set[1][:150])
    wide = init_mlp(jax.random.key(8), [2, 128, 128, n_classes])
    n_weights = sum(leaf.size for leaf in jax.tree.leaves(wide))
    test_loss_along = jax.jit(jax.vmap(lambda p: mlp_loss(p, test_set)))
    omegas = {"Adam": 0.0, "AdamW": 1.0}  # AdamW's: far above the defaults
    overfit = {}
    for name, omega in omegas.items():
        params, losses, path = train(
            lambda p: mlp_loss(p, few), wide,
            adamw(5e-3, weight_decay=omega), n_steps=600,
        )
        every_10 = jax.tree.map(lambda leaf: leaf[::10], path)
        overfit[name] = {
            "train loss": np.asarray(losses),
            "test loss": np.asarray(test_loss_along(every_10)),  # every 10
            "train": accuracy(mlp, params, few),
            "test": accuracy(mlp, params, test_set),
            "bound": lipschitz_bound(params),
        }
        run = overfit[name]
        print(f"{name:5} (omega = {omega}): accuracy train {run['train']:.3f}"
              f", test {run['test']:.3f}; test loss lowest "
              f"{run['test loss'].min():.3f}, at the end "
              f"{run['test loss'][-1]:.3f}; Lipschitz bound {run['bound']:.0f}")
    gaps = {name: run["train"] - run["test"] for name, run in overfit.items()}
    adam_run, adamw_run = overfit["Adam"], overfit["AdamW"]
    best = 10 * adam_run["test loss"].argmin()  # the step of Adam's best
    assert abs(gaps["AdamW"]) < gaps["Adam"]
    assert adamw_run["test loss"][-1] < adam_run["test loss"][-1]
    # After its best, Adam's training loss keeps falling, its test loss climbs
    assert adam_run["train loss"][-1] < 0.5 * adam_run["train loss"][best]
    assert adam_run["test loss"][-1] > 1.5 * adam_run["test loss"].min()
    # AdamW ends within 10% of its lowest, about Adam's lowest; it underfits
    assert adamw_run["test loss"][-1] < 1.1 * adamw_run["test loss"].min()
    lowest = adamw_run["test loss"].min() / adam_run["test loss"].min()
    assert abs(lowest - 1) < 0.05 and adamw_run["train"] < adamw_run["test"]
    assert adamw_run["bound"] < adam_run["bound"] / 2  # a smoother function
    # --8<-- [end:overfit]

    # --8<-- [start:draw_overfit]
    fig, ax = plt.subplots(num="overfitting", figsize=(6, 3.5))
    for name, run in overfit.items():
        line, = ax.semilogy(run["train loss"], label=f"{name}, train")
        ax.semilogy(np.arange(0, len(run["train loss"]), 10), run["test loss"],
                    "--", color=line.get_color(), label=f"{name}, test")
    ax.set(xlabel="step", ylabel="cross-entropy")
    ax.legend(fontsize=8)
    plt.show()
    # --8<-- [end:draw_overfit]
    # fmt: on
