"""The chapter "Scaling out": every split equal to one device, and the
multi-process launcher's failures bounded and clear.

This process already runs JAX with one device (conftest.py), so the runs on
eight devices happen in a fresh interpreter (tests/scaling_out_check.py),
always on eight CPU devices, even on a GPU machine: what is under test is
how the work is split, and CPU devices exist everywhere. Its numbers are
compared here with the one-device runs of the same interpreter and with
independent NumPy float64 references.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import P

from sitebuild.page import ROOT
from snippets import scaling_out_processes
from snippets.linear_regression_model import loss, make_houses
from snippets.scaling_out import collectives, descend
from snippets.scaling_out_bench import main as bench_main
from snippets.scaling_out_llama import TP_SPECS, fsdp_spec
from snippets.scaling_out_processes import WORKER, launch, start_ranks, wait_for_ranks

DEVICES = 8
RTOL = 1e-5  # about a hundred float32 roundings: sums in another order
ETA = 0.1  # the worker's and the page's step size on the houses
CHECK_TIMEOUT_S = 900  # the whole eight-device run, compiles included


def cpu_env(**extra):
    """This interpreter's environment, with eight CPU devices and no GPU."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_NUM_CPU_DEVICES=str(DEVICES))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["JAX_NUMPY_RANK_PROMOTION"] = "raise"  # as strict as this process
    return dict(env, **extra)


@pytest.fixture(scope="module")
def eight(tmp_path_factory):
    """The numbers of tests/scaling_out_check.py, run on eight CPU devices."""
    out = tmp_path_factory.mktemp("scaling") / "check.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "scaling_out_check.py"), str(out)],
        cwd=ROOT,
        env=cpu_env(),
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text(encoding="utf-8"))
    assert (result["devices"], result["platform"]) == (DEVICES, "cpu")
    return result


def arrays(tree):
    """The arrays of a JSON tree (dicts and lists), in a fixed order."""
    if isinstance(tree, dict):
        return [a for key in sorted(tree) for a in arrays(tree[key])]
    if isinstance(tree, list):
        try:
            return [np.asarray(tree, np.float64)]
        except (ValueError, TypeError):  # a list of subtrees, not numbers
            return [a for item in tree for a in arrays(item)]
    return [np.asarray(tree, np.float64)]


def assert_close(a, b, rtol=RTOL):
    """Every array of `a` equals b's to rtol of b's largest entry."""
    pairs = list(zip(arrays(a), arrays(b), strict=True))
    assert pairs
    for u, v in pairs:
        assert u.shape == v.shape
        np.testing.assert_allclose(u, v, rtol=0, atol=rtol * max(np.abs(v).max(), 1e-30))


def canonical(spec: str) -> str:
    """P('data', None) and P('data',) are the same split: drop trailing Nones."""
    spec = re.sub(r"(, None)+\)$", ")", spec)
    return re.sub(r"^P\(None,?\)$", "P()", spec.replace(",)", ")"))


def houses_descent(x, y, steps):
    """Gradient descent on the mean squared error, in NumPy float64."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    theta = np.zeros(2)
    for _ in range(steps):
        r = y - (theta[0] + theta[1] * x)
        theta = theta - ETA * np.array([-2 * r.mean(), -2 * (r * x).mean()])
    return theta


# ------------------------------------------------------------ data parallel
def test_the_line_on_eight_devices_equals_one_device_and_float64(eight):
    houses = eight["houses"]
    x, y = make_houses(jax.random.key(0))
    assert_close(houses["one"], houses_descent(x, y, 100))
    for variant in ["jit", "shard_map", "shard_map_grads"]:
        assert_close(houses[variant], houses["one"])
    one_losses, *others = houses["losses"]
    for losses in others:
        assert_close(losses, one_losses)
    assert canonical(houses["jit_sharding"][0]) == "P()"  # replicated result


@pytest.mark.parametrize("model", ["houses", "mlp"])
def test_jit_and_shard_map_agree_with_each_other(eight, model):
    assert_close(eight[model]["shard_map"], eight[model]["jit"])
    assert_close(eight[model]["shard_map_grads"], eight[model]["jit"])


def test_the_mlp_on_eight_devices_equals_one_device(eight):
    mlp = eight["mlp"]
    assert_close(mlp["jit"], mlp["one"])
    moved = [a - s for a, s in zip(arrays(mlp["jit"]), arrays(mlp["start"]), strict=True)]
    assert max(np.abs(m).max() for m in moved) > 1e-2  # it did train


@pytest.mark.parametrize("model", ["houses", "mlp"])
def test_pmean_of_gradients_with_check_vma_takes_a_step_eight_times_too_long(eight, model):
    """With check_vma=True JAX already sums the gradients of replicated
    parameters over the devices; a pmean then leaves the sum."""
    run = eight[model]
    start, one, trap = (arrays(run[k]) for k in ["start", "one_step", "trap_step"])
    one_step = [o - s for o, s in zip(one, start, strict=True)]
    trap_step = [t - s for t, s in zip(trap, start, strict=True)]
    assert_close(trap_step, [DEVICES * s for s in one_step])


@pytest.mark.parametrize("model", ["houses", "mlp"])
def test_without_pmean_check_vma_refuses_and_no_check_returns_device_0s_step(eight, model):
    """check_vma=True sees that the loss, an output said to be the same
    everywhere (P()), varies; with check_vma=False nothing is checked and
    the result is device 0's step on its own rows."""
    run = eight[model]
    assert "out_specs" in run["no_pmean_checked"]
    assert "check_vma=False" in run["no_pmean_checked"]
    assert_close(run["unchecked_step"], run["device_0_step"])
    moved = [
        a - b for a, b in zip(arrays(run["unchecked_step"]), arrays(run["one_step"]), strict=True)
    ]
    assert max(np.abs(m).max() for m in moved) > 1e-3  # not the right step


def test_the_compiled_step_all_reduces_the_gradients(eight):
    assert eight["houses"]["collectives"] == ["all-reduce: (f32[], f32[], f32[])"]
    (line,) = eight["mlp"]["collectives"]  # one all-reduce of every gradient
    assert line.startswith("all-reduce: (f32[64,2], f32[64], f32[64,64]")


def test_a_batch_that_does_not_split_evenly_is_refused_with_the_sizes(eight):
    message = eight["bad_batch"]
    assert "a batch of 199 examples" in message and "8 devices" in message
    assert "multiple of 8" in message


# ------------------------------------------------------------------- FSDP
def test_fsdp_gradients_equal_one_device_and_come_back_split(eight):
    fsdp = eight["fsdp"]
    assert_close(fsdp["grads"], fsdp["one_grads"])
    assert_close(fsdp["grads_no_remat"], fsdp["one_grads"])
    specs = jax.tree.leaves(fsdp["specs"])
    grad_specs = jax.tree.leaves(fsdp["grad_specs"])
    assert [canonical(s) for s in grad_specs] == [canonical(s) for s in specs]
    assert "'data'" in " ".join(specs)
    most, whole = fsdp["memory"]
    assert most * DEVICES == whole  # every weight of this config splits


def test_fsdp_with_momentum_sgd_trains_exactly_like_one_device(eight):
    run = eight["fsdp"]["sgd"]
    for one, many in run["losses"]:
        assert abs(many / one - 1) < RTOL
    assert_close(run["many"], run["one"])  # parameters and momentum
    most, whole = run["state_memory"]
    assert most * DEVICES == whole


def test_fsdp_with_adamw_agrees_to_rounding_amplified_by_adam(eight):
    """Losses and moments agree to float32 rounding. Adam divides each
    gradient entry by its own size, so an entry that is mostly rounding
    moves by up to about eta/4 times its relative error: parameters agree
    to a small fraction of the learning rate (1e-2)."""
    run = eight["fsdp"]["adamw"]
    for one, many in run["losses"]:
        assert abs(many / one - 1) < RTOL
    assert_close(run["many"][1], run["one"][1], rtol=1e-4)  # m
    pairs = zip(arrays(run["many"][0]), arrays(run["one"][0]), strict=True)
    gaps = [np.abs(u - v).max() for u, v in pairs]
    assert max(gaps) < 1e-2 * 1e-2
    most, whole = run["state_memory"]
    assert most * DEVICES == whole  # m and v split like the parameters
    after = jax.tree.leaves(run["specs_after"])
    assert [canonical(s) for s in after] == [
        canonical(s) for s in jax.tree.leaves(eight["fsdp"]["specs"])
    ]


def test_fsdp_gathers_each_layer_again_in_the_backward_pass(eight):
    """Nine weights per block, gathered in the body of the forward loop and,
    through jax.checkpoint, again in the backward loop's; plus the
    embedding and the final norm. The gradients' sums are all-reduces."""
    counts = eight["fsdp"]["adamw"]["collectives"]
    assert counts["all-gather"] == 2 * 9 + 2
    assert counts["all-reduce"] >= 1


def test_the_checkpoint_lowers_the_scratch_memory_of_the_gradient(eight):
    with_remat, without = eight["fsdp"]["scratch"]
    assert with_remat < without


def test_jit_of_init_splits_the_moments_only_under_set_mesh(eight):
    """Without a mesh set, jnp.zeros_like inside jit makes unsplit zeros,
    returned on device 0 alone; under jax.set_mesh they keep the split."""
    fsdp = eight["fsdp"]
    assert fsdp["init_without_mesh"] == [0]
    under = [canonical(s) for s in jax.tree.leaves(fsdp["init_under_mesh"])]
    assert under == [canonical(s) for s in jax.tree.leaves(fsdp["specs"])]


def test_fsdp_spec_splits_the_largest_dimension_that_divides():
    assert fsdp_spec((256, 64), 8) == P("data")
    assert fsdp_spec((2, 64, 128), 8, skip_first=True) == P(None, None, "data")
    assert fsdp_spec((8, 64, 64), 8, skip_first=True) == P(None, None, "data")
    assert fsdp_spec((8, 3), 8, skip_first=True) == P()  # nothing divides
    assert fsdp_spec((5,), 1) == P("data")  # one device: a trivial split


# ------------------------------------------------------- tensor parallel
def swiglu_float64(p, x):
    p = {k: np.asarray(v, np.float64) for k, v in p.items()}
    gate = np.asarray(x, np.float64) @ p["gate"]
    return (gate / (1 + np.exp(-gate)) * (np.asarray(x, np.float64) @ p["up"])) @ p["down"]


def test_tensor_parallel_layer_equals_one_device_and_float64(eight):
    tp = eight["tp"]
    p, x = tp["inputs"]
    reference = swiglu_float64(p, np.asarray(x))
    assert_close(tp["one"], reference)
    for variant in ["jit", "shard_map"]:
        assert_close(tp["outputs"][variant], reference)
        assert_close(tp["grads"][variant], tp["one_grads"])
    assert canonical(tp["output_spec"]) == "P('data')"


def test_tensor_parallel_gradients_are_split_like_the_weights(eight):
    tp = eight["tp"]
    assert {k: canonical(s) for k, s in tp["grad_specs"].items()} == {
        k: canonical(str(s)) for k, s in TP_SPECS.items()
    }
    most, whole = tp["memory"]
    assert most * 2 == whole  # the "model" axis has two devices


def test_tensor_parallel_all_reduces_the_input_gradient_only_when_asked(eight):
    """Forward: one all-reduce of this device's output rows [B/4, T, d].
    The weights' gradients are summed over "data" with no "model"
    communication; x's gradient adds Megatron's backward all-reduce."""
    found = eight["tp"]["collectives"]
    rows = "f32[2,16,64]"  # 8 rows over the 4 devices of "data"
    assert found["weights"] == [
        f"all-reduce: {rows}",
        "all-reduce: (f32[64,64], f32[64,64], f32[64,64])",
    ]
    assert found["weights_and_x"] == [
        f"all-reduce: {rows}",
        "all-reduce: (f32[], f32[64,64], f32[64,64], f32[64,64])",
        f"all-reduce: ({rows}, {rows})",
    ]


# -------------------------------------------------------------- the HLO
def test_collectives_reads_names_and_shapes_from_hlo_text():
    text = (
        "%all-reduce.1 = (f32[]{:T(128)}, f32[2]{0}) all-reduce(f32[] %a, f32[2]{0} %b)\n"
        "%ag = f32[16,4]{1,0} all-gather-start(f32[2,4]{1,0} %w), dimensions={0}\n"
        "%add = f32[2]{0} add(f32[2]{0} %x, f32[2]{0} %y)\n"
    )
    assert collectives(text) == ["all-reduce: (f32[], f32[2])", "all-gather: f32[16,4]"]


# -------------------------------------------------------------- processes
@pytest.fixture
def worker(tmp_path):
    script = tmp_path / "train_dp.py"
    script.write_text(WORKER, encoding="utf-8")
    return script


def test_two_processes_train_the_line_like_one(worker):
    results = launch(str(worker), 2, timeout_s=300)
    x, y = make_houses(jax.random.key(0))
    reference = houses_descent(x, y, 100)
    one_process, _ = descend(lambda p, b: loss(p, *b), jnp.zeros(2), (x, y), ETA, 100)
    assert_close(one_process, reference)
    assert [r["process"] for r in results] == [0, 1]
    for result in results:
        assert (result["processes"], result["local devices"], result["devices"]) == (2, 2, 4)
        assert result["own rows"] == 100  # half of the houses each
        assert result["x"] == "float32[200@data]"  # one array over all processes
        assert_close(result["params"], reference)
        assert_close(result["params"], one_process)
    assert results[0]["params"] == results[1]["params"]


def wrapped(worker, tmp_path, prelude):
    """The worker, after `prelude` (which sees `rank`, this process's id)."""
    script = tmp_path / "wrapped.py"
    script.write_text(
        f"import sys, time\nrank = int(sys.argv[3])\n{prelude}\n"
        f"exec(compile(open({str(worker)!r}).read(), 'train_dp.py', 'exec'))\n",
        encoding="utf-8",
    )
    return script


def assert_all_stopped(ranks):
    assert all(rank.poll() is not None for rank in ranks)


def test_a_killed_process_stops_the_run_with_a_clear_error_at_once(worker, tmp_path):
    # Rank 1 lingers, so that the kill finds it running however fast the
    # machine is (a plain worker may finish first); rank 0 waits for it.
    script = wrapped(worker, tmp_path, "if rank == 1: time.sleep(3600)")
    ranks, logs = start_ranks(str(script), 2)
    time.sleep(2)
    assert ranks[1].poll() is None  # still running when it is killed
    ranks[1].kill()
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="process 1 of 2 was killed by SIGKILL; stopped"):
        wait_for_ranks(ranks, logs, timeout_s=120)
    assert time.monotonic() - started < 10
    assert_all_stopped(ranks)


def test_a_failing_process_shows_its_error(worker, tmp_path):
    script = wrapped(worker, tmp_path, "if rank == 1: raise ValueError('disk full')")
    ranks, logs = start_ranks(str(script), 2)
    started = time.monotonic()
    with pytest.raises(RuntimeError) as caught:
        wait_for_ranks(ranks, logs, timeout_s=120)
    assert time.monotonic() - started < 60
    assert "process 1 of 2 failed with exit code 1" in str(caught.value)
    assert "ValueError: disk full" in str(caught.value)
    assert_all_stopped(ranks)


def test_a_stuck_process_cannot_hang_the_run(worker, tmp_path):
    """Rank 1 never arrives; rank 0 waits in initialize. The launcher's
    timeout stops both, long before initialize's own timeout."""
    script = wrapped(worker, tmp_path, "if rank == 1: time.sleep(3600)")
    ranks, logs = start_ranks(str(script), 2)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"processes \[0, 1\] of 2 still running after 8 s"):
        wait_for_ranks(ranks, logs, timeout_s=8)
    assert time.monotonic() - started < 8 + 5
    assert_all_stopped(ranks)


def test_the_launcher_starts_again_when_the_port_is_taken(worker, monkeypatch):
    """Another program listens on the port the launcher picked: process 0
    cannot bind it, and the launcher starts all processes again."""
    picked = []

    def port_taken_first():
        picked.append(real_free_port() if picked else taken.getsockname()[1])
        return picked[-1]

    real_free_port = scaling_out_processes.free_port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setattr(scaling_out_processes, "free_port", port_taken_first)
        results = launch(str(worker), 2, timeout_s=120)
    assert len(picked) == 2 and picked[0] != picked[1]
    assert [r["process"] for r in results] == [0, 1]


def test_a_port_taken_on_every_attempt_ends_with_the_bind_error(worker, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(scaling_out_processes, "free_port", lambda: port)
        with pytest.raises(RuntimeError, match="process 0 of 2 ") as caught:
            launch(str(worker), 2, timeout_s=120, attempts=2)
    assert "Address already in use" in str(caught.value)


def test_the_coordinator_listens_on_this_machine_only(tmp_path):
    """Each process gets the address, and process 0 is told to bind to it
    (127.0.0.1) rather than to every interface, JAX's default."""
    script = tmp_path / "show.py"
    script.write_text(
        "import json, os, sys\n"
        "bind = os.environ['JAX_COORDINATOR_BIND_ADDRESS']\n"
        "print(json.dumps({'args': sys.argv[1:], 'bind': bind}))\n",
        encoding="utf-8",
    )
    results = launch(str(script), 2, timeout_s=60)
    address = results[0]["args"][0]
    assert address.startswith("127.0.0.1:")
    assert [r["args"] for r in results] == [[address, "2", "0"], [address, "2", "1"]]
    assert [r["bind"] for r in results] == [address, address]


def test_a_process_that_prints_no_result_is_named(tmp_path):
    script = tmp_path / "quiet.py"
    script.write_text("import sys\nif sys.argv[3] == '1': print('{\"ok\": 1}')\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="process 0 exited normally but printed no JSON"):
        launch(str(script), 2, timeout_s=60)


def test_houses_that_do_not_split_over_all_devices_are_refused(worker):
    """Three processes of two devices: the 200 houses do not split six ways."""
    with pytest.raises(RuntimeError) as caught:
        launch(str(worker), 3, timeout_s=120)
    message = str(caught.value)
    assert "200 houses do not split evenly over the 6 devices" in message
    assert "make HOUSES a multiple of 6" in message


# -------------------------------------------------------------- benchmark
def test_the_benchmark_measures_nothing_on_cpu_devices_unless_told(tmp_path, capsys):
    if jax.default_backend() != "cpu":
        pytest.skip("this process has accelerators: the benchmark would measure them")
    report = bench_main(["--out", str(tmp_path / "b.json")])
    assert report["device_count"] == len(jax.devices()) and "results" not in report
    assert "share one CPU's cores" in report["skipped"]
    assert json.loads((tmp_path / "b.json").read_text(encoding="utf-8")) == report


def test_the_benchmark_records_the_device_count_and_its_rows(tmp_path):
    out = tmp_path / "bench.json"
    command = [sys.executable, "-m", "snippets.scaling_out_bench", "--quick", "--allow-cpu"]
    done = subprocess.run(
        [*command, "--out", str(out)],
        cwd=ROOT,
        env=cpu_env(JAX_NUM_CPU_DEVICES="2"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    assert (report["platform"], report["device_count"]) == ("cpu", 2)
    rows = {(r["scaling"], r["devices"]): r for r in report["results"]}
    assert set(rows) == {(s, d) for s in ("weak", "strong") for d in (1, 2)}
    assert rows["weak", 2]["global_batch"] == 2 * rows["weak", 1]["global_batch"]
    assert rows["strong", 2]["global_batch"] == rows["strong", 1]["global_batch"]
    assert rows["weak", 1]["efficiency"] == rows["strong", 1]["efficiency"] == 1.0
