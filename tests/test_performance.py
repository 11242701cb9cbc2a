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
    floor_step,
    fresh_bytes,
    gradient_step,
    read_both,
    train_floor,
    train_sufficient,
)
from snippets.linear_regression_model import descent_step, make_houses, train_scan
from snippets.performance import fusions


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


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or jax.default_backend() != "cpu",
    reason="the page's explanation is about glibc's allocator on a CPU",
)
def test_a_jitted_step_maps_its_temporaries_afresh_and_a_scan_once():
    """What the Performance page explains the loop's cost with: at 1e7
    samples a call of the jitted step maps in fresh memory for its
    temporaries (at least one array of n floats), and a scan of several steps
    maps about as much once in all, not once a step."""
    n, steps = 10_000_000, 4
    x, y = make_houses(jax.random.key(0), n=n)
    zeros = jnp.zeros(2)
    loop = fresh_bytes(lambda: descent_step(zeros, x, y, 1e-3)[0], calls=2)
    scan = fresh_bytes(lambda: train_scan(zeros, x, y, 1e-3, steps)[0], calls=2)
    assert loop >= 4 * n  # at least one temporary of n float32 values a call
    assert scan < 2 * loop  # once for all the scan's steps, not once a step
