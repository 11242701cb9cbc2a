"""The Llama benchmark: its quick run writes well-formed JSON, its FLOP count
is the formula's, and the page's table renders from results files.

No test here asserts a timing; speed claims live in the benchmark's output.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sitebuild import llama_tables
from sitebuild.page import ROOT
from snippets.bench_llama import DRY_RUN_MODEL, GPU_MODEL, PEAK_BF16_FLOPS, flops_per_token


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-llama") / "quick.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "snippets.bench_llama",
            "--quick",
            "--mfu-dry-run",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text()), done.stdout


def independent_n(c):
    """Parameters every token multiplies, counted from the architecture:
    the blocks, the final norm and the output head (tied or not), not the
    embedding lookup."""
    d, f, V = c.hidden_size, c.intermediate_size, c.vocab_size
    attention = d * c.num_attention_heads * c.head_dim * 2  # q and o
    attention += d * c.num_key_value_heads * c.head_dim * 2  # k and v
    block = attention + 3 * d * f + 2 * d  # SwiGLU, two norms
    return c.num_hidden_layers * block + d + d * V  # final norm, head


@pytest.mark.parametrize("config", [GPU_MODEL, DRY_RUN_MODEL], ids=["gpu", "dry-run"])
def test_flops_per_token_is_six_n_plus_attention(config):
    per_token, n = flops_per_token(config, 1024)
    assert n == independent_n(config)
    c = config
    attention = 12 * c.num_hidden_layers * c.num_attention_heads * c.head_dim * 1024
    assert per_token == 6 * n + attention


def test_the_gpu_model_has_about_a_hundred_million_parameters():
    _, n = flops_per_token(GPU_MODEL, 1024)
    assert 95e6 < n < 105e6 and GPU_MODEL.max_position_embeddings == 1024
    # the datasheet peaks the MFU is measured against (dense bfloat16)
    assert PEAK_BF16_FLOPS["NVIDIA H100 80GB HBM3"] == PEAK_BF16_FLOPS["NVIDIA H200"] == 989e12


def test_quick_run_writes_every_suite(quick):
    result, stdout = quick
    assert result["quick"] is True and "--quick" in result["command"]
    suites = {s["name"]: s for s in result["suites"]}
    assert set(suites) == {"llama training", "llama decoding", "llama attention", "llama MFU"}
    for suite in suites.values():
        assert suite["reference"] in suite["rows"]
        for row in suite["rows"].values():
            assert row["median_s"] > 0 and row["first_call_s"] > 0 and row["repeats"] >= 1
    assert set(suites["llama training"]["rows"]) == {"float32", "bfloat16 compute"}
    assert set(suites["llama decoding"]["rows"]) == {"KV cache", "recompute, no cache"}
    attention = suites["llama attention"]
    assert attention["errors"] == {}
    assert max(attention["max_difference"].values()) < 1e-4  # the same function
    mfu = suites["llama MFU"]
    assert mfu["dry_run"] is True and mfu["peak_bf16_flops"] is None and mfu["mfu"] is None
    assert mfu["flops_per_token"] == flops_per_token(DRY_RUN_MODEL, 64)[0]
    assert "llama decoding" in stdout


def test_the_page_table_renders_each_results_file(quick, monkeypatch, tmp_path):
    result, _ = quick
    gpu = json.loads(json.dumps(result))  # the same run, dressed as a GPU's
    gpu["machine"] |= {"platform": "gpu", "device_kind": "NVIDIA H200"}
    mfu = next(s for s in gpu["suites"] if s["name"] == "llama MFU")
    mfu |= {"dry_run": False, "peak_bf16_flops": 989e12, "mfu": 0.4}
    (tmp_path / "bench-llama-h200.json").write_text(json.dumps(gpu))
    (tmp_path / "bench-llama-cpu.json").write_text(json.dumps(result))
    monkeypatch.setattr(llama_tables, "RESULTS", tmp_path)
    monkeypatch.setattr(
        llama_tables, "load", lambda name: json.loads((tmp_path / name).read_text())
    )
    text = llama_tables.llama_bench()
    cpu, h200 = text.split("**NVIDIA H200**")
    assert cpu.startswith("**") and "CPU**" in cpu
    assert "decoding 32 tokens, recompute, no cache" in cpu and "MFU" not in cpu
    assert "MFU 40.0%" in h200 and "tokens/s" in h200


def test_the_committed_cpu_results_render():
    assert (ROOT / "results" / "bench-llama-cpu.json").is_file()
    text = llama_tables.llama_bench()
    assert "training the chapter's model" in text and "KV cache" in text
