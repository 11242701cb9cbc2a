"""Chapter "Autodiff in depth", part five: the pitfalls of jit."""

import jax  # shown by snippets/autodiff.py:setup
import jax.numpy as jnp

from snippets.autodiff import operations  # shown by autodiff.py

# --8<-- [start:jit_setup]
import contextlib
import functools
import logging
# --8<-- [end:jit_setup]


# --8<-- [start:relu_versions]
def relu_python(x):
    """Python's `if` needs a True or False now, while tracing."""
    if x > 0:
        return x
    return jnp.zeros_like(x)


def relu_where(x):
    """Both branches computed, one picked per element."""
    return jnp.where(x > 0, x, 0.0)


def relu_cond(x):
    """One branch runs (a scalar predicate); both are traced."""
    return jax.lax.cond(x > 0, lambda x: x, jnp.zeros_like, x)


# --8<-- [end:relu_versions]


# --8<-- [start:count_compiles]
class CompileCounter(logging.Handler):
    """Counts JAX's 'Compiling jit(name) ...' log records for one function,
    and keeps JAX's explanations of why it traced again."""

    def __init__(self, name):
        super().__init__()
        self.prefix, self.count, self.reasons = f"Compiling jit({name})", 0, []

    def emit(self, record):
        message = record.getMessage()
        self.count += message.startswith(self.prefix)
        if message.startswith("TRACING CACHE MISS"):
            self.reasons.append(message)


@contextlib.contextmanager
def count_compiles(name):
    """Within the block, counter.count is how often jit compiled `name`."""
    counter, logger = CompileCounter(name), logging.getLogger("jax")
    logger.addHandler(counter)
    quiet, logger.propagate = logger.propagate, False  # count, don't print
    try:
        with jax.log_compiles(True), jax.explain_cache_misses(True):
            yield counter
    finally:
        logger.removeHandler(counter)
        logger.propagate = quiet


# --8<-- [end:count_compiles]


# --8<-- [start:power_sum]
@functools.partial(jax.jit, static_argnames="power")
def power_sum(x, power):
    """sum(x ** power); `power` is static: a Python int while tracing."""
    assert type(x.size) is int  # a shape is never a tracer: no need for static
    if power == 0:  # fine: power is a plain int, not a tracer
        return jnp.asarray(x.size, x.dtype)
    return jnp.sum(x**power)


# --8<-- [end:power_sum]


# --8<-- [start:closures]
def make_scaler(scale):
    """A new function (a closure over scale) every time it is called."""

    def scale_by(x):
        return x * scale

    return scale_by


def scale_by_argument(x, scale):
    return x * scale


# --8<-- [end:closures]


if __name__ == "__main__":
    # --8<-- [start:control_flow_error]
    try:
        jax.jit(relu_python)(1.0)
    except jax.errors.TracerBoolConversionError as err:
        message = str(err)  # it also names a file and line: not printed here
        print(f"{type(err).__name__}: {message.splitlines()[0]}")
        for words in ("the function relu_python", "the argument x"):
            assert words in message
            print("the message names", words)
    # --8<-- [end:control_flow_error]

    # --8<-- [start:control_flow_fixed]
    xs = jnp.array([-2.0, 0.0, 3.0])
    print("jnp.where:", jax.jit(relu_where)(xs))
    print("lax.cond: ", jax.jit(jax.vmap(relu_cond))(xs))
    print("grads:    ", jax.vmap(jax.grad(relu_cond))(xs))
    assert jnp.all(jax.jit(jax.vmap(relu_cond))(xs) == jnp.maximum(xs, 0))

    alone = operations(relu_cond, 1.0)  # the program XLA is given
    batched = operations(jax.vmap(relu_cond), xs)
    print("alone:     ", [op for op in alone if op in ("case", "select")])
    print("under vmap:", [op for op in batched if op in ("case", "select")])
    assert "case" in alone and "case" not in batched  # vmap: both branches
    # --8<-- [end:control_flow_fixed]

    # --8<-- [start:cond_and_nan]
    def sqrt_or_zero_cond(x):
        return jax.lax.cond(x > 0, jnp.sqrt, jnp.zeros_like, x)

    roots = jnp.array([-1.0, 4.0])
    slopes = jax.vmap(jax.grad(sqrt_or_zero_cond))(roots)
    through_vmap = jax.grad(lambda x: jax.vmap(sqrt_or_zero_cond)(x).sum())
    print("grad of the cond version, vmapped:", slopes, through_vmap(roots))
    assert jnp.array_equal(slopes, through_vmap(roots))
    assert slopes[0] == 0.0  # no nan: each branch's derivative, then select
    # --8<-- [end:cond_and_nan]

    # --8<-- [start:recompiles]
    x3 = jnp.arange(3.0)
    calls = [
        ("first call: float32[3], power=2", x3, 2),
        ("new values, same shape and dtype", x3 + 1.0, 2),
        ("new shape: float32[4]", jnp.arange(4.0), 2),
        ("new dtype: int32[3]", jnp.arange(3), 2),
        ("new static value: power=3", x3, 3),
        ("same static value again: power=2", x3, 2),
        ("a Python float: float32[] (weak)", 2.0, 2),
        ("jnp.float32: float32[]", jnp.float32(2.0), 2),
    ]
    compiles = []
    for label, x, power in calls:
        with count_compiles("power_sum") as counter:
            power_sum(x, power)
        compiles.append(counter.count)
        print(f"{label:34} compiles: {counter.count}")
    assert compiles == [1, 0, 1, 1, 1, 0, 1, 1]
    # --8<-- [end:recompiles]

    # --8<-- [start:explain_misses]
    @jax.jit
    def double(x):
        return 2 * x

    with count_compiles("double") as counter:
        double(2.0)
        double(jnp.float32(2.0))
    reason = counter.reasons[-1].splitlines()[-1].split("https")[0]
    print("JAX's reason for the second trace:", reason.strip(" *"))
    assert "weak_type=False" in reason and "weak_type=True" in reason
    # --8<-- [end:explain_misses]

    # --8<-- [start:cache_key_more]
    with count_compiles("power_sum") as counter, jax.enable_x64(True):
        power_sum(x3, 2)  # float32[3] again, but with 64-bit mode on
    print("same arguments, jax_enable_x64 on, compiles:", counter.count)
    assert counter.count == 1  # configuration is part of the key

    offset = jnp.float32(1.0)  # a global array, read by the function

    @jax.jit
    def shift(x):
        return x + offset

    before = shift(x3)
    offset = jnp.float32(100.0)  # no new signature: no new trace
    after = shift(x3)
    print("after changing the global:", after, "(still x + 1)")
    assert jnp.array_equal(before, after)
    # --8<-- [end:cache_key_more]

    # --8<-- [start:closure_recompiles]
    with count_compiles("scale_by") as closures:
        for scale in (1.0, 2.0, 3.0):
            jax.jit(make_scaler(scale))(x3)  # a fresh function each time
    with count_compiles("scale_by_argument") as arguments:
        for scale in (1.0, 2.0, 3.0):  # the same function, jitted each time
            jax.jit(scale_by_argument)(x3, scale)
    print(f"fresh closures: {closures.count} compiles")
    print(f"one function, scale an argument: {arguments.count} compile")
    assert (closures.count, arguments.count) == (3, 1)
    # --8<-- [end:closure_recompiles]

    # --8<-- [start:immutable]
    x = jnp.zeros(3)
    try:
        x[0] = 1.0
    except TypeError as err:
        print(f"TypeError: {err}")
    y = x.at[0].set(1.0).at[2].add(5.0)  # new arrays, x untouched
    print("x:", x, " y:", y)
    assert jnp.all(x == 0.0)

    def sin_then_update(x):
        return jnp.sin(x).at[0].set(1.0).at[5].add(2.0)

    big = jnp.ones(1_000_000)  # 4 MB
    compiled = jax.jit(sin_then_update).lower(big).compile()
    scratch = compiled.memory_analysis().temp_size_in_bytes
    print(f"scratch bytes for sin and two updates of 4 MB: {scratch}")
    assert scratch < big.nbytes  # no copy: the updates go into sin's output

    def update_only(x):
        return x.at[0].set(1.0)

    memory = jax.jit(update_only).lower(big).compile().memory_analysis()
    print(
        f"update of the input itself: {memory.output_size_in_bytes} bytes "
        f"of new output, {memory.alias_size_in_bytes} in the input's memory"
    )
    assert memory.output_size_in_bytes == big.nbytes  # a copy of x
    assert memory.alias_size_in_bytes == 0
    # --8<-- [end:immutable]

    # --8<-- [start:donation]
    def decay(x):
        return 0.5 * x

    x = jnp.ones(1_000_000)  # 4 MB
    address = x.unsafe_buffer_pointer()
    decay_in_place = jax.jit(decay, donate_argnums=0)
    y = decay_in_place(x)
    reused = y.unsafe_buffer_pointer() == address
    print("y lives where x lived:", reused)
    assert reused and x.is_deleted()
    print("x is deleted:", x.is_deleted())
    try:
        x + 1.0
    except RuntimeError as err:
        print(f"RuntimeError: {err}")
    memory = decay_in_place.lower(y).compile().memory_analysis()
    print(
        f"XLA: {memory.output_size_in_bytes} output bytes, "
        f"{memory.alias_size_in_bytes} of them aliased to the donated input"
    )
    assert memory.alias_size_in_bytes == memory.output_size_in_bytes
    # --8<-- [end:donation]

    # --8<-- [start:donation_unused]
    import warnings

    def donate(fn):
        """jit(fn) on a donated float32[10]: (input deleted, JAX's warnings)."""
        x = jnp.ones(10)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            jax.jit(fn, donate_argnums=0)(x)
        return x.is_deleted(), [str(w.message).splitlines()[0] for w in caught]

    same_shape = donate(lambda x: 2 * x)
    reshaped = donate(lambda x: (2 * x).reshape(2, 5))  # XLA's choice
    summed = donate(jnp.sum)  # no output of 10 numbers
    for name, (deleted, warned) in [
        ("float32[10]", same_shape),
        ("float32[2, 5]", reshaped),
        ("float32[], the sum", summed),
    ]:
        print(f"output {name:18}  x deleted: {deleted!s:5}  warnings: {warned}")
    assert same_shape == (True, [])
    assert not summed[0] and summed[1]  # a warning, and x stays alive
    # --8<-- [end:donation_unused]
