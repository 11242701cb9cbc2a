"""Chapter "Autodiff in depth", part three: PRNG keys and pytrees."""

import jax  # shown by snippets/autodiff.py:setup
import jax.numpy as jnp


# --8<-- [start:init_params]
def init_params(key, sizes):
    """A small network's weights and biases: {"layers": [(W, b), ...]}."""
    if len(sizes) < 2:
        raise ValueError(f"need an input and an output size, got {sizes}")
    keys = jax.random.split(key, len(sizes) - 1)  # one key per layer
    layers = []
    for i, layer_key in enumerate(keys):
        fan_in, fan_out = sizes[i], sizes[i + 1]
        W = jax.random.normal(layer_key, (fan_in, fan_out)) / jnp.sqrt(fan_in)
        layers.append((W, jnp.zeros(fan_out)))
    return {"layers": layers}


def predict(params, x):
    """x (n, sizes[0]) -> (n, sizes[-1]): tanh hidden layers, linear output."""
    *hidden, (W, b) = params["layers"]
    for W_hidden, b_hidden in hidden:
        x = jnp.tanh(x @ W_hidden + b_hidden[None, :])  # b: one row for all n
    return x @ W + b[None, :]


def loss(params, x, y):
    """Mean squared error of the network on (x, y)."""
    return jnp.mean((predict(params, x) - y) ** 2)


# --8<-- [end:init_params]


# --8<-- [start:loss_with_metrics]
def loss_with_metrics(params, x, y):
    """The loss, and on the side (has_aux) what we want to log."""
    error = predict(params, x) - y
    return jnp.mean(error**2), {"max_abs_error": jnp.max(jnp.abs(error))}


# --8<-- [end:loss_with_metrics]


if __name__ == "__main__":
    # --8<-- [start:same_key_same_numbers]
    key = jax.random.key(0)
    print(key)
    assert str(key.dtype) == "key<fry>"  # Threefry, JAX's default generator
    words = jax.random.key_data(key)  # the two 32-bit words under the key
    assert words.dtype == jnp.uint32 and words.shape == (2,)
    first = jax.random.normal(key, (3,))
    again = jax.random.normal(key, (3,))
    print("first:", first)
    print("again:", again)
    assert jnp.all(first == again)  # a key is the whole state: same key, same
    # --8<-- [end:same_key_same_numbers]

    # --8<-- [start:split_and_fold_in]
    key, noise_key = jax.random.split(key)  # keep one, spend the other
    print("fresh:", jax.random.normal(noise_key, (3,)))
    root = jax.random.key(42)
    for t in range(3):  # a key per step t, no key threaded through a loop
        step_key = jax.random.fold_in(root, t)
        print(f"step {t}:", jax.random.normal(step_key, (2,)))
    # --8<-- [end:split_and_fold_in]

    # --8<-- [start:split_is_fold_in]
    split = jax.random.key_data(jax.random.split(root, 3))  # (3, 2) words
    folded = jnp.stack([jax.random.fold_in(root, i) for i in range(3)])
    folded = jax.random.key_data(folded)
    same = jnp.array_equal(split, folded)
    print("split(root, 3)[i] is fold_in(root, i) for every i:", same)
    assert same
    # --8<-- [end:split_is_fold_in]

    # --8<-- [start:key_reuse]
    noise = jax.random.normal(key, (8,))
    keep = jax.random.bernoulli(key, 0.5, (8,))  # the same key, reused
    print("noise:", noise)
    print("keep: ", keep)
    print("keep is exactly (noise < 0):", bool(jnp.all(keep == (noise < 0))))
    assert jnp.all(keep == (noise < 0))  # one key, one set of random bits
    # --8<-- [end:key_reuse]

    # --8<-- [start:global_state]
    import numpy as np

    np.random.seed(0)  # one hidden generator for the whole program
    a = np.random.normal(size=2)
    b = np.random.normal(size=2)  # same line of code, new numbers
    print("NumPy, same call twice:", a, b)
    assert not np.all(a == b)
    # --8<-- [end:global_state]

    # --8<-- [start:pytree_params]
    params = init_params(jax.random.key(1), [1, 16, 1])
    print(jax.tree.map(jnp.shape, params))
    leaves = jax.tree.leaves(params)
    print(f"{len(leaves)} leaves, {sum(leaf.size for leaf in leaves)} numbers")
    print(jax.tree.structure(params))
    # --8<-- [end:pytree_params]

    # --8<-- [start:grad_of_a_dict]
    x = jnp.linspace(-1.0, 1.0, 64)[:, None]  # n = 64 samples, (n, 1)
    y = jnp.sin(3.0 * x)  # (n, 1)
    grads = jax.jit(jax.grad(loss))(params, x, y)  # w.r.t. params
    print(jax.tree.map(jnp.shape, grads))
    assert jax.tree.structure(grads) == jax.tree.structure(params)

    eta = 0.1  # learning rate
    stepped = jax.tree.map(lambda theta, g: theta - eta * g, params, grads)
    loss_jit = jax.jit(loss)
    before, after = loss_jit(params, x, y), loss_jit(stepped, x, y)
    print(f"loss {before:.4f} -> {after:.4f} after one step on every leaf")
    assert after < before
    # --8<-- [end:grad_of_a_dict]

    # --8<-- [start:has_aux]
    grad_with_metrics = jax.jit(jax.grad(loss_with_metrics, has_aux=True))
    grads_aux, metrics = grad_with_metrics(params, x, y)
    print("metrics:", {name: f"{value:.4f}" for name, value in metrics.items()})
    same = jax.tree.map(jnp.allclose, grads_aux, grads)
    assert all(jax.tree.leaves(same))  # the aux output is not differentiated
    # --8<-- [end:has_aux]

    # --8<-- [start:stop_gradient]
    theta = 3.0
    d_square = jax.grad(lambda theta: theta * theta)(theta)
    d_held = jax.grad(lambda theta: theta * jax.lax.stop_gradient(theta))(theta)
    print(f"d/dθ θ·θ = {d_square}, with one factor held constant: {d_held}")
    assert d_square == 2 * theta and d_held == theta
    # --8<-- [end:stop_gradient]

    # --8<-- [start:argnums]
    def line_loss(W, b, x, y):
        return jnp.mean((x @ W + b - y) ** 2)

    W, b = jnp.full((1, 1), 0.5), jnp.full((1, 1), 0.2)
    g_W, g_b = jax.jit(jax.grad(line_loss, argnums=(0, 1)))(W, b, x, y)
    error = x @ W + b - y  # (n, 1), prediction minus target
    print("d𝓛/dW:", g_W, " d𝓛/db:", g_b)
    assert jnp.allclose(g_W, 2 * x.T @ error / len(x), atol=1e-6)
    assert jnp.allclose(g_b, 2 * jnp.mean(error, keepdims=True), atol=1e-6)
    # --8<-- [end:argnums]
