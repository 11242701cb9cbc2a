"""The Llama model against Hugging Face transformers' LlamaForCausalLM.

transformers needs torch, which the site does not: the reference runs in its
own environment, .venv-hf (scripts/hf_reference_env.sh; `make test` creates
it), as a subprocess that writes its logits to .npy files.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from sitebuild.page import ROOT
from snippets.llama import forward
from snippets.llama_checkpoint import load_checkpoint, save_checkpoint
from snippets.llama_hf_config import HF_DEFAULTS
from tests.llama_reference import (
    random_tensors,
    tiny_config,
    transformers5_form,
    write_checkpoint,
)

HF_PYTHON = ROOT / ".venv-hf" / "bin" / "python"
SETUP = "scripts/hf_reference_env.sh"
TOKENS = np.random.default_rng(7).integers(0, 61, size=(2, 24)).astype(np.int32)
jit_forward = jax.jit(forward, static_argnames="config")

# The same tiny shape as transformers 5 writes it (rope_parameters).
HF_CONFIG = transformers5_form(tiny_config())

# Checkpoints that save_checkpoint writes and transformers then reads.
OURS = {
    "untied": {"tie_word_embeddings": False},
    "tied": {"tie_word_embeddings": True},
    "default-rope": {"rope_scaling": None, "rope_theta": 500000.0},  # "rope_scaling": null
}


def require_reference():
    """The environment must exist and match requirements-hf.txt. Locally
    a missing one skips with how to make it; in CI (CI=true) it fails."""
    want = hashlib.sha256((ROOT / "requirements-hf.txt").read_bytes()).hexdigest()
    stamp = ROOT / ".venv-hf" / ".requirements.sha256"
    if HF_PYTHON.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return
    message = (
        "the transformers reference environment .venv-hf is missing or older than "
        f"requirements-hf.txt: create it with `{SETUP}` (about a minute, 1.2 GB; "
        "`make test` runs it)"
    )
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    """One run of transformers for every test here: it loads our saved
    checkpoints and saves random models of its own, with logits for each."""
    require_reference()
    root = tmp_path_factory.mktemp("hf")
    ours = {}
    for name, changes in OURS.items():
        cfg = tiny_config(**changes)
        written = write_checkpoint(root / f"written-{name}", cfg, random_tensors(cfg, seed=3))
        params, config = load_checkpoint(written)
        save_checkpoint(root / f"ours-{name}", params, config)  # what we test
        ours[name] = root / f"ours-{name}"
    # and what the train command writes (a few steps of the chapter's model)
    trained = root / "ours-trained"
    command = [sys.executable, "-m", "snippets.llama", "train", "--out", str(trained)]
    done = subprocess.run(
        [*command, "--steps", "3", "--batch-size", "2", "--seq-len", "32"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    ours["trained"] = trained
    saved = {
        tied: {
            "dir": str(root / f"hf-{tied}"),
            "seed": 11,
            "config": HF_CONFIG | {"tie_word_embeddings": tied},
        }
        for tied in [False, True]
    }
    jobs = {
        "tokens": TOKENS.tolist(),
        "logits": [str(d) for d in ours.values()],
        "save": list(saved.values()),
    }
    (root / "jobs.json").write_text(json.dumps(jobs))
    done = subprocess.run(
        [str(HF_PYTHON), str(ROOT / "tests" / "hf_reference.py"), str(root / "jobs.json")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    versions = json.loads(done.stdout.strip().splitlines()[-1])
    return ours, {tied: root / f"hf-{tied}" for tied in saved}, versions


@pytest.mark.parametrize("name", [*OURS, "trained"])
def test_logits_equal_transformers_on_a_checkpoint_saved_here(hf, name):
    ours, _, versions = hf
    assert versions["transformers"] == "5.23.0"
    directory = ours[name]
    # transformers found every tensor it needs, and nothing it does not know.
    loading = json.loads((directory / "hf_loading.json").read_text())
    assert loading["missing_keys"] == [] and loading["unexpected_keys"] == [], loading
    assert loading["mismatched_keys"] == []
    params, config = load_checkpoint(directory)
    expected = np.load(directory / "hf_logits.npy")
    logits = np.asarray(jit_forward(params, TOKENS, config))
    assert expected.shape == logits.shape == (2, 24, config.vocab_size)
    assert expected.std() > 0.1
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)


def test_the_defaults_for_absent_keys_are_transformers_own(hf):
    _, _, versions = hf
    assert versions["defaults"] == HF_DEFAULTS


@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
def test_a_checkpoint_written_by_transformers_loads_here(hf, tied):
    _, theirs, _ = hf
    directory = theirs[tied]
    written = json.loads((directory / "config.json").read_text())
    assert "rope_parameters" in written and "rope_scaling" not in written  # the 5.x form
    params, config = load_checkpoint(directory)
    assert config.rope_scaling is not None and config.rope_theta == 5000.0
    assert config.tie_word_embeddings is tied and ("head" in params) is not tied
    expected = np.load(directory / "hf_logits.npy")
    logits = np.asarray(jit_forward(params, TOKENS, config))
    assert expected.std() > 0.1
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)
