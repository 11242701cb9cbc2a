"""Training the Llama chapter's model: the site's AdamW against optax on the
model's own parameters, the count baselines against independent counts, the
split and the batches, the train command and its bad input."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from collections import Counter
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sitebuild.page import ROOT
from snippets.llama import next_token_loss
from snippets.llama_checkpoint import load_checkpoint
from snippets.llama_cli import main
from snippets.llama_config import LlamaConfig, init_params
from snippets.llama_data import (
    bigram_bits,
    find_repository,
    read_corpus,
    sample_windows,
    split_corpus,
    spread_sample,
    unigram_bits,
    validation_windows,
)
from snippets.llama_train import (
    CHAPTER_MODEL,
    bits_per_byte,
    decay_mask,
    llama_optimizer,
    train,
)
from snippets.optimizers import apply_updates
from snippets.training import warmup_cosine_decay

TINY = LlamaConfig(
    vocab_size=40, hidden_size=16, intermediate_size=24, num_hidden_layers=2,
    num_attention_heads=4, num_key_value_heads=2, head_dim=6,
    max_position_embeddings=16, tie_word_embeddings=False,
)  # fmt: skip


# Both libraries evaluate the schedule in float32 (the step count is int32),
# rounding its value differently: with optax's own schedule the two runs take
# one gradient sequence, else the loss would amplify the rounding along two
# trajectories; with our schedule handed to optax they may run apart.
@pytest.mark.parametrize(("schedule_from", "tolerance"), [("ours", 1e-12), ("optax", 1e-7)])
def test_site_adamw_equals_optax_on_the_model_params(key, schedule_from, tolerance):
    """50 steps of clip + AdamW(warmup-cosine), decay masked off the norms,
    on the model's own loss and pytree, in float64, against optax.chain."""
    steps, peak, clip = 50, 3e-2, 0.5
    with jax.enable_x64(True):
        params = init_params(TINY, key, jnp.float64)
        params["norm"] = params["norm"] * 1.3  # away from 1, as after training
        tokens = jax.random.randint(jax.random.key(1), (4, 12), 0, TINY.vocab_size)
        grad = jax.jit(jax.grad(partial(next_token_loss, config=TINY)))
        ours = llama_optimizer(params, steps, peak=peak, warmup=5, clip=clip)
        end = peak * 0.1  # the Llama 2 paper: down to 10% of the peak
        schedule = {
            "ours": warmup_cosine_decay(0.0, peak, 5, steps, end),
            "optax": optax.warmup_cosine_decay_schedule(0.0, peak, 5, steps, end),
        }[schedule_from]
        # The Llama 2 paper's AdamW settings, typed from the paper.
        paper = {"b1": 0.9, "b2": 0.95, "eps": 1e-5, "weight_decay": 0.1}
        theirs = optax.chain(
            optax.clip_by_global_norm(clip),
            optax.adamw(schedule, **paper, mask=decay_mask(params)),
        )
        mine, reference = params, params
        state, optax_state = ours.init(params), theirs.init(params)
        clipped = 0
        for _ in range(steps):
            g = grad(mine, tokens)
            h = g if schedule_from == "optax" else grad(reference, tokens)
            clipped += int(optax.tree.norm(g) > clip)
            updates, state = ours.update(g, state, mine)
            mine = apply_updates(mine, updates)
            updates, optax_state = theirs.update(h, optax_state, reference)
            reference = optax.apply_updates(reference, updates)
        gaps = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), mine, reference)
        moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), mine, params)
    assert max(jax.tree.leaves(gaps)) < tolerance, gaps
    assert min(jax.tree.leaves(moved)) > 1e-3  # every leaf trained
    assert 0 < clipped < steps  # clipping was active on some steps, not all


def test_decay_mask_spares_exactly_the_norm_weights():
    mask = decay_mask(init_params(TINY, jax.random.key(0)))
    names = {jax.tree_util.keystr(path): keep for path, keep in jax.tree.leaves_with_path(mask)}
    assert {n for n, keep in names.items() if not keep} == {
        "['norm']",
        "['layers']['attn_norm']",
        "['layers']['mlp_norm']",
    }
    assert len(names) == 12  # embed, norm, head and nine stacked layer leaves


def test_baselines_equal_independent_counts():
    rng = np.random.default_rng(5)
    # skewed bytes, so that the counts differ from uniform
    train_rows = rng.choice(256, size=(7, 50), p=np.arange(1, 257) / np.arange(1, 257).sum())
    held = rng.integers(0, 256, size=(3, 21))
    previous, targets = held[:, :-1], held[:, 1:]
    ones = Counter(train_rows.ravel().tolist())
    n = train_rows.size
    unigram = -sum(math.log2((ones[b] + 1) / (n + 256)) for b in targets.ravel().tolist())
    pairs = Counter((a, b) for row in train_rows.tolist() for a, b in itertools.pairwise(row))
    firsts = Counter(a for row in train_rows.tolist() for a in row[:-1])
    bigram = -sum(
        math.log2((pairs[a, b] + 1) / (firsts[a] + 256))
        for a, b in zip(previous.ravel().tolist(), targets.ravel().tolist(), strict=True)
    )
    assert unigram_bits(train_rows, targets) == pytest.approx(unigram / targets.size, rel=1e-12)
    assert bigram_bits(train_rows, previous, targets) == pytest.approx(
        bigram / targets.size, rel=1e-12
    )


def test_uniform_model_scores_eight_bits_per_byte():
    """All logits equal (zero embedding, tied head): log2(256) bits."""
    params = init_params(CHAPTER_MODEL, jax.random.key(0))
    params["embed"] = jnp.zeros_like(params["embed"])
    windows = np.random.default_rng(0).integers(0, 256, size=(3, 17))
    assert bits_per_byte(params, windows, CHAPTER_MODEL) == pytest.approx(8.0, abs=1e-5)


def test_split_is_fixed_disjoint_and_windows_stay_in_training_chunks():
    data = np.frombuffer(bytes(range(256)) * 50, np.uint8)  # 12,800 bytes
    train_chunks, held_out = split_corpus(data, chunk=1000, every=4)
    again = split_corpus(data.copy(), chunk=1000, every=4)
    assert np.array_equal(train_chunks, again[0]) and np.array_equal(held_out, again[1])
    chunks = data[:12_000].reshape(12, 1000)
    assert np.array_equal(held_out, chunks[3::4])  # chunks 3, 7, 11
    assert np.array_equal(train_chunks, np.delete(chunks, [3, 7, 11], axis=0))
    windows = validation_windows(held_out, 32)
    assert windows.shape == (3 * (1000 // 33), 33)
    assert np.array_equal(windows[0], held_out[0, :33])
    assert np.array_equal(spread_sample(windows, 4), windows[[0, 22, 44, 66]])
    assert np.array_equal(spread_sample(windows, 500), windows)  # all there are
    batch = np.asarray(sample_windows(jax.random.key(2), jnp.asarray(train_chunks), 64, 32))
    assert batch.shape == (64, 33)
    for window in batch:  # each one a contiguous piece of one training chunk
        hits = [
            row
            for row in train_chunks
            for start in range(1000 - 32)
            if np.array_equal(row[start : start + 33], window)
        ]
        assert hits, window
    with pytest.raises(ValueError, match="need at least 4 for a validation chunk"):
        split_corpus(data[:2500], chunk=1000, every=4)


def test_corpus_is_the_sites_chapters_and_snippets():
    data = read_corpus(ROOT)
    files = sorted((ROOT / "docs").glob("*.md")) + sorted((ROOT / "snippets").glob("*.py"))
    assert len(data) == sum(f.stat().st_size for f in files)
    assert bytes(data[:200]) == b"".join(f.read_bytes() for f in files)[:200]


def test_training_lowers_the_loss_in_float32_and_bfloat16():
    data = np.tile(np.array([0, 1, 2, 0, 1, 2, 0, 1, 3], np.uint8), 300)
    chunks = split_corpus(data, chunk=100, every=10)[0]
    for dtype in [None, jnp.bfloat16]:
        params = init_params(TINY, jax.random.key(0))
        optimizer = llama_optimizer(params, 60, peak=1e-2)
        trained, losses, tokens_per_s = train(
            params, TINY, optimizer, chunks, jax.random.key(1), 60, (4, 12), compute_dtype=dtype
        )
        assert losses.shape == (60,) and tokens_per_s > 0
        assert losses[-5:].mean() < 0.5 * losses[:5].mean(), (dtype, losses)
        assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(trained))


def test_tokens_per_second_leave_out_the_first_step_and_watch(monkeypatch):
    """A fake clock moves only inside watch (1000 s a call): the rate must
    not see that time, so it is the rate of steps that took no time."""
    import snippets.llama_train as llama_train

    clock = {"now": 0.0}
    monkeypatch.setattr(llama_train.time, "perf_counter", lambda: clock["now"])
    calls = []

    def watch(step, params, loss):
        calls.append(step)
        clock["now"] += 1000.0

    data = np.tile(np.arange(10, dtype=np.uint8), 100)
    chunks = split_corpus(data, chunk=100, every=10)[0]
    params = init_params(TINY, jax.random.key(0))
    optimizer = llama_optimizer(params, 5, peak=1e-2)
    _, losses, tokens_per_s = train(
        params, TINY, optimizer, chunks, jax.random.key(1), 5, (2, 8), watch
    )
    assert calls == [0, 1, 2, 3, 4, 5] and losses.shape == (5,)
    assert tokens_per_s > 1e9  # (5 - 1) * 16 tokens in (nearly) no time


def test_the_repository_is_found_from_the_clone_or_its_virtual_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT / "docs")
    monkeypatch.setattr(sys, "prefix", str(tmp_path / ".venv"))
    assert find_repository() == ROOT  # a folder above the working one
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "prefix", str(ROOT / ".venv"))
    assert find_repository() == ROOT  # the clone whose .venv runs Python
    monkeypatch.setattr(sys, "prefix", str(tmp_path / ".venv"))
    with pytest.raises(FileNotFoundError, match="run this code inside a clone"):
        find_repository()


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "site-llama"
    command = [sys.executable, "-m", "snippets.llama", "train", "--out", str(out)]
    done = subprocess.run(
        [*command, "--steps", "4", "--batch-size", "2", "--seq-len", "32"],
        cwd=ROOT,
        capture_output=True,
        timeout=600,
    )  # bytes: text mode would turn the progress line's \r into \n
    return out, done.returncode, done.stdout.decode(), done.stderr.decode()


def test_train_command_saves_a_checkpoint_the_other_commands_read(
    trained_checkpoint, tmp_path, capsys
):
    out, returncode, stdout, stderr = trained_checkpoint
    assert returncode == 0, stderr
    assert "\rstep 4/4  loss " in stderr and "tokens/s" in stderr
    # One progress line rewritten in place; validation lines stay, at step
    # 0 and after the last (--eval-every is 50).
    lines = stderr.split("\n")
    assert len(lines) == 4 and lines[-1] == ""
    assert lines[0].startswith("\rstep 0/4  validation ") and "bits/byte" in lines[0]
    assert "\rstep 4/4  validation " in lines[1] and "loss" in lines[2]
    assert f"saved {out}: 4 steps" in stdout and "bits per byte" in stdout
    params, config = load_checkpoint(out)
    assert config == CHAPTER_MODEL
    start = init_params(CHAPTER_MODEL, jax.random.key(0))  # --seed 0
    assert not np.array_equal(params["embed"], start["embed"])  # it trained
    assert main(["logits", "--checkpoint", str(out), "--tokens", "84,104,101", "--out",
                 str(tmp_path / "l.npy")]) == 0  # fmt: skip
    assert np.load(tmp_path / "l.npy").shape == (1, 3, 256)
    assert "float32 logits of shape (1, 3, 256)" in capsys.readouterr().out
    assert main(["generate", "--checkpoint", str(out), "--prompt", "The",
                 "--max-new-tokens", "5", "--temperature", "0"]) == 0  # fmt: skip
    assert capsys.readouterr().out.startswith("The")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seq-len", "200"], "a sequence length of 200 does not fit: the model's context"),
        (["--seq-len", "0"], "a sequence length of 0 does not fit"),
        (["--steps", "1"], "need a batch size >= 1 and steps >= 2"),
        (["--batch-size", "0"], "got batch size 0"),
        (["--peak-lr", "0"], "the schedule's values must be >= 0 and its peak > 0"),
    ],
)
def test_train_command_refuses_bad_input(args, message, tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["train", "--out", str(out), "--steps", "3", *args]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
