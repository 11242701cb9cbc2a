"""The Performance chapter's steps and measurements, against NumPy references.

No timing is asserted here: speed claims are judged from the benchmark's
results files (tests/test_results.py)."""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snippets.bench import (
    donated_copy,
    floor_step,
    fresh_bytes,
    gradient_step,
    read_both,
    train_floor,
    train_sufficient,
)
from snippets.linear_regression_model import make_houses, train_scan
from snippets.performance import (
    fresh_arrays,
    fusions,
    optimized_program,
    relative_gap,
    sums_apart,
    sums_in_one_loop,
)

ON_LINUX_CPU = sys.platform.startswith("linux") and jax.default_backend() == "cpu"


def numpy_descent(x, y, step_size, n_steps):
    """Plain descent on the mean squared error, float64, written independently."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    theta = np.zeros(2)
    for _ in range(n_steps):
        r = y - theta[0] - theta[1] * x
        theta = theta - step_size * np.array([-2 * r.mean(), -2 * (r * x).mean()])
    return theta


@pytest.fixture(scope="module")
def data():
    return make_houses(jax.random.key(3), n=5_000)


@pytest.mark.parametrize("step", [floor_step, gradient_step])
def test_one_step_equals_numpy(data, step):
    x, y = data
    params = jnp.array([0.5, -1.0])
    r = np.asarray(y, np.float64) - 0.5 + 1.0 * np.asarray(x, np.float64)
    grad = np.array([-2 * r.mean(), -2 * (r * np.asarray(x, np.float64)).mean()])
    expected = np.array([0.5, -1.0]) - 0.1 * grad
    np.testing.assert_allclose(step(params, x, y, 0.1), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("train", [train_floor, train_sufficient])
def test_fast_trainings_reach_the_numpy_parameters(data, train):
    x, y = data
    expected = numpy_descent(x, y, 0.05, 200)
    np.testing.assert_allclose(train(jnp.zeros(2), x, y, 0.05, 200), expected, rtol=1e-4)
    np.testing.assert_allclose(train_scan(jnp.zeros(2), x, y, 0.05, 200)[0], expected, rtol=1e-4)


def test_the_read_reference_reads_both_arrays(data):
    x, y = data
    expected = np.asarray(x, np.float64).sum() + np.asarray(y, np.float64).sum()
    assert float(read_both(x, y)) == pytest.approx(expected, rel=1e-4)


def test_fusions_lists_the_kernels_of_a_compiled_step(data, capsys):
    x, y = data
    fusions(floor_step, jnp.zeros(2), x, y, 0.1)
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(" writes " in line and " reads " in line for line in lines)
    assert any("x" in line.split(" reads ")[1] for line in lines)


def test_the_read_reference_is_one_fused_pass(data):
    """One kernel reads both arrays: no intermediate x + y is written."""
    x, y = data
    entry = optimized_program(read_both, x, y).split("ENTRY")[1]
    kernels = [line for line in entry.splitlines() if "fusion(" in line or "reduce(" in line]
    assert len(kernels) == 1, entry


def test_the_compiled_derivative_of_sin_is_the_program_of_cos():
    points = jnp.linspace(-10.0, 10.0, 1000)
    derivative = optimized_program(jax.vmap(jax.grad(jnp.sin)), points)
    assert derivative == optimized_program(jnp.cos, points)
    assert derivative == optimized_program(lambda v: jnp.cos(v), points)  # names differ
    assert derivative != optimized_program(jnp.sin, points)  # not everything is equal
    assert derivative != optimized_program(jnp.cos, points[:10])  # nor every shape


def test_relative_gap_is_the_largest_relative_difference():
    assert relative_gap([1.1, 19.0], [1.0, 20.0]) == pytest.approx(0.1)
    with pytest.raises(ValueError):  # a missing parameter is an error, not a pass
        relative_gap([1.0], [1.0, 2.0])


def test_both_ways_of_summing_approach_the_float64_sums(data):
    x, y = data
    x64, y64 = np.asarray(x, np.float64), np.asarray(y, np.float64)
    exact = [y64.sum(), (x64 * y64).sum()]
    np.testing.assert_allclose(sums_apart(x, y), exact, rtol=1e-5)
    np.testing.assert_allclose(sums_in_one_loop(x, y), exact, rtol=1e-3)


@pytest.mark.skipif(not ON_LINUX_CPU, reason="counts the host's page faults on Linux")
def test_the_copy_reference_maps_no_fresh_memory():
    n = 10_000_000  # 40 MB arrays, which a plain jitted step maps afresh
    copy = donated_copy(jnp.zeros(n), jnp.zeros(n))
    assert fresh_bytes(copy, calls=3) < 4 * n


@pytest.mark.skipif(not ON_LINUX_CPU, reason="counts the host's page faults on Linux")
def test_a_jitted_step_maps_its_temporaries_afresh_and_a_scan_once():
    """What the Performance page measures: at 1e7 samples a call of the
    jitted step maps in fresh memory for its temporaries (at least one array
    of n floats), and a scan of several steps maps less than that a step."""
    few = 4
    step, scan = fresh_arrays(10_000_000, few)
    assert step >= 1
    assert scan / few < step
