"""Chapter "Autodiff in depth", part two: what each mode costs, measured."""

import jax  # shown by snippets/autodiff.py:setup
import jax.numpy as jnp

from snippets.autodiff import operations  # shown by autodiff.py

# --8<-- [start:cost_setup]
import functools
import time
# --8<-- [end:cost_setup]


# --8<-- [start:wide_and_tall]
def dense_layer(p, q):
    """x -> tanh(W sin x) from R^p to R^q, with a fixed W of shape (q, p)."""
    if p < 1 or q < 1:
        raise ValueError(f"need p, q >= 1 (inputs, outputs), got {p}, {q}")
    rows, cols = jnp.arange(q)[:, None], jnp.arange(p)[None, :]
    W = jnp.cos(0.37 * rows * cols) / jnp.sqrt(p)  # no randomness needed

    def layer(x):  # (p,) -> (q,)
        return jnp.tanh(W @ jnp.sin(x))

    return layer


# --8<-- [end:wide_and_tall]


# --8<-- [start:measure]
def seconds(fn, *args, repeats=7):
    """Fastest wall time of fn(*args) over `repeats` calls.

    One call first, which compiles fn if it is not compiled yet. The fastest
    call is the one least disturbed by other programs.
    """
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return min(times)


def compiled_cost(fn, *args):
    """XLA's own counts for jit(fn)(*args): FLOPs, and bytes it allocates."""
    compiled = jax.jit(fn).lower(*args).compile()
    flops = compiled.cost_analysis()["flops"]
    memory = compiled.memory_analysis()  # outputs, plus scratch ("temp")
    allocated = memory.output_size_in_bytes + memory.temp_size_in_bytes
    return compiled, flops, allocated


# --8<-- [end:measure]


# --8<-- [start:formatting]
def compare(name_a, a, name_b, b, fewer):
    """'a needed 12× less time than b', whichever way the numbers came out."""
    (low_name, low), (high_name, high) = sorted(
        [(name_a, a), (name_b, b)], key=lambda pair: pair[1]
    )
    ratio = high / low
    shown = f"{ratio:.0f}" if ratio >= 10 else f"{ratio:.1f}"
    return f"{low_name} needed {shown}× {fewer} than {high_name}"


def size(n_bytes):
    """12345678 -> '12.3 MB'."""
    for unit, scale in [("GB", 1e9), ("MB", 1e6), ("kB", 1e3)]:
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes:.0f} B"


# --8<-- [end:formatting]


# --8<-- [start:residual_model]
def block(x, w):
    """One layer of a toy network: tanh(w x) plus a skip connection."""
    return jnp.tanh(w * x) + x


def deep_loss(ws, x, remat=False):
    """Apply len(ws) layers (a Python loop: unrolled), then sum of squares."""
    step = jax.checkpoint(block) if remat else block
    for w in ws:
        x = step(x, w)
    return jnp.sum(x**2)


def residual_bytes(fn, *args):
    """Bytes that the backward pass of fn keeps: the leaves of its pullback.

    jax.eval_shape only traces: we get each leaf's shape and dtype, and no
    number is computed.
    """
    pullback = jax.eval_shape(lambda *args: jax.vjp(fn, *args)[1], *args)
    leaves = jax.tree.leaves(pullback)
    return sum(leaf.size * leaf.dtype.itemsize for leaf in leaves)


# --8<-- [end:residual_model]


# --8<-- [start:hvp]
def hvp(loss, theta, v):
    """H v without H: forward mode (jvp) over reverse mode (grad)."""
    return jax.jvp(jax.grad(loss), (theta,), (v,))[1]


# --8<-- [end:hvp]


if __name__ == "__main__":
    # --8<-- [start:modes_measured]
    shapes = {"wide": (2000, 10), "tall": (10, 2000)}  # (p inputs, q outputs)
    rows, verdicts, flop_ratio, cost = [], {}, {}, {}
    for shape, (p, q) in shapes.items():
        layer, x = dense_layer(p, q), jnp.linspace(-1.0, 1.0, p)
        for tool in (jax.jacfwd, jax.jacrev):
            compiled, flops, allocated = compiled_cost(tool(layer), x)
            took = seconds(compiled, x)
            cost[shape, tool.__name__] = flops, allocated, took
            rows.append(
                f"| {shape}, {p} → {q} | `{tool.__name__}` "
                f"| {flops / 1e6:.2f} M | {size(allocated)} "
                f"| {took * 1e3:.3f} ms |"
            )
        fwd, rev = cost[shape, "jacfwd"], cost[shape, "jacrev"]
        flop_ratio[shape] = fwd[0] / rev[0]
        measures = ["fewer FLOPs", "less memory", "less time"]
        verdicts[shape] = "\n".join(
            "- " + compare("`jacfwd`", a, "`jacrev`", b, fewer)
            for a, b, fewer in zip(fwd, rev, measures, strict=True)
        )
        if jax.default_backend() == "cpu":  # GPU counts may miss cuBLAS work
            predicted = (p + 1) / (q + 1)  # f once, then p or q more passes
            assert abs(flop_ratio[shape] / predicted - 1) < 0.2
            assert fwd[1] >= 4 * p * p  # jacfwd holds all p tangents at once
    modes_table = "\n".join(
        [
            "| shape, p → q | tool | FLOPs | memory | time |",
            "| --- | --- | ---: | ---: | ---: |",
            *rows,
        ]
    )
    # --8<-- [end:modes_measured]

    # --8<-- [start:residuals_measured]
    x = jnp.linspace(-1.0, 1.0, 1000)  # activations: 4 kB each
    activation_bytes = x.nbytes
    kept = {}
    for depth in (4, 16, 64):
        ws = jnp.linspace(0.5, 1.5, depth)
        for remat in (False, True):
            loss = functools.partial(deep_loss, x=x, remat=remat)
            kept[depth, remat] = residual_bytes(loss, ws)
            tanhs = operations(jax.grad(loss), ws).count("tanh")
            print(
                f"depth {depth:2}, checkpoint {remat!s:5}: "
                f"{kept[depth, remat]:7} bytes kept, {tanhs:3} tanh"
            )
            assert tanhs == (2 if remat else 1) * depth
    for remat in (False, True):  # the same growth from 4 to 16 as to 64
        early = (kept[16, remat] - kept[4, remat]) / 12
        assert early == (kept[64, remat] - kept[16, remat]) / 48
    per_layer = (kept[64, False] - kept[16, False]) / 48
    per_layer_remat = (kept[64, True] - kept[16, True]) / 48
    print(f"each layer adds {per_layer:.0f} bytes without jax.checkpoint")
    print(f"each layer adds {per_layer_remat:.0f} bytes with jax.checkpoint")
    weight = ws.dtype.itemsize  # each layer also keeps its scalar weight
    assert per_layer == 2 * activation_bytes + weight
    assert per_layer_remat == activation_bytes + weight
    # --8<-- [end:residuals_measured]

    # --8<-- [start:residuals_named]
    w0, w1 = 0.5, 1.5  # two layers
    x1 = block(x, w0)
    _, pullback = jax.vjp(lambda ws: deep_loss(ws, x), jnp.array([w0, w1]))
    leaves = jax.tree.leaves(pullback)
    expected = {
        "x, the input": x,
        "1 - tanh²(w0 x)": 1 - jnp.tanh(w0 * x) ** 2,
        "x1 = block(x, w0)": x1,
        "1 - tanh²(w1 x1)": 1 - jnp.tanh(w1 * x1) ** 2,
        "w1": jnp.float32(w1),
        "2 x2, from the loss": 2 * block(x1, w1),
    }
    assert len(leaves) == len(expected)
    for name, array in expected.items():
        same = [leaf for leaf in leaves if leaf.shape == array.shape]
        same = [leaf for leaf in same if jnp.allclose(leaf, array, atol=1e-6)]
        assert len(same) == 1, name  # each expected array is kept, once
        print(f"kept: {name:20} {same[0].dtype}{list(same[0].shape)}")
    # --8<-- [end:residuals_named]

    # --8<-- [start:residuals_compiled]
    grad_bytes = {}
    for remat in (False, True):
        loss = functools.partial(deep_loss, x=x, remat=remat)
        _, _, grad_bytes[remat] = compiled_cost(jax.grad(loss), jnp.ones(8))
    print(
        f"XLA allocates {grad_bytes[False]} bytes for the gradient at "
        f"depth 8, {grad_bytes[True]} with jax.checkpoint"
    )
    plain, checkpointed = "the plain gradient", "the checkpointed gradient"
    remat_verdict = compare(
        checkpointed,
        grad_bytes[True],
        plain,
        grad_bytes[False],
        "less memory",
    )
    # --8<-- [end:residuals_compiled]

    # --8<-- [start:hvp_small]
    theta = jnp.array([0.5, -1.0, 2.0, 0.0, 1.5])
    v = jnp.array([1.0, 2.0, -1.0, 0.5, 0.0])  # a direction
    loss = jax.nn.logsumexp
    H = jax.jit(jax.hessian(loss))(theta)  # (5, 5), all of it
    s = jax.nn.softmax(theta)
    H_by_hand = jnp.diag(s) - jnp.outer(s, s)
    hvp_jit = jax.jit(functools.partial(hvp, loss))  # (theta, v) -> H v
    product = hvp_jit(theta, v)
    print("H v by hvp:    ", product)
    print("H v by hessian:", H @ v)
    assert jnp.allclose(H, H_by_hand, atol=1e-6)
    assert jnp.allclose(product, H @ v, atol=1e-6)
    # --8<-- [end:hvp_small]

    # --8<-- [start:hvp_large]
    p_large = 2000
    theta = jnp.linspace(-3.0, 3.0, p_large)
    v = jnp.cos(jnp.arange(p_large))

    def full(theta, v):
        return jax.hessian(loss)(theta) @ v

    assert jnp.allclose(hvp_jit(theta, v), jax.jit(full)(theta, v), atol=1e-6)
    hvp_seconds = seconds(hvp_jit, theta, v)
    full_seconds = seconds(jax.jit(full), theta, v)
    grad_seconds = seconds(jax.jit(jax.grad(loss)), theta)
    _, _, hvp_bytes = compiled_cost(hvp_jit, theta, v)
    _, _, gradient_bytes = compiled_cost(jax.grad(loss), theta)
    vector_bytes = theta.nbytes  # one vector of p numbers
    assert hvp_bytes <= gradient_bytes + 4 * vector_bytes  # + a few vectors
    hessian_bytes = p_large * p_large * theta.dtype.itemsize
    hvp_verdict = compare(
        "`hvp`",
        hvp_seconds,
        "`hessian`",
        full_seconds,
        "less time",
    )
    # --8<-- [end:hvp_large]
