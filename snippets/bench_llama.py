"""Measure the Llama chapter's model: `python -m snippets.bench_llama`.

Side by side in one process, each variant after a warm-up call (compile
time reported apart), every clock read after `block_until_ready`, medians
over repeats: training tokens/s (float32 and bfloat16 compute), decoding
tokens/s with and without the KV cache, and the hand-written attention
against `jax.nn.dot_product_attention`. On a GPU also a ~100M-parameter
model at sequence length 1024 in bfloat16, with its model FLOPs utilisation
(MFU) against the datasheet peak of the device. `--quick` uses few repeats;
`--mfu-dry-run` runs that GPU suite at a tiny size on any device.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import math
import platform
import sys
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from sitebuild.machine import machine
from snippets.bench import measure, progress, report
from snippets.llama import forward, next_token_loss
from snippets.llama_config import LlamaConfig, init_params, param_shapes
from snippets.llama_generate import decode_step, init_cache
from snippets.llama_layers import apply_rope, attention, causal_mask
from snippets.llama_layers import rope_angles, rope_frequencies
from snippets.llama_train import CHAPTER_MODEL, Settings, llama_optimizer
from snippets.llama_train import train_step
from snippets.training import mixed_precision

# Dense (no sparsity) bfloat16 peak FLOP/s from the vendors' datasheets, by
# the device_kind JAX reports. The H200 has the H100 SXM's compute.
PEAK_BF16_FLOPS = {
    "NVIDIA H100 80GB HBM3": 989e12,  # H100 SXM5
    "NVIDIA H200": 989e12,
    "NVIDIA A100-SXM4-80GB": 312e12,
    "NVIDIA A100-SXM4-40GB": 312e12,
}
# About 100M parameters that multiply every token (12 blocks of 6.3M and
# a 32000 x 768 head; the embedding lookup costs no FLOPs).
GPU_MODEL = LlamaConfig(
    vocab_size=32000, hidden_size=768, intermediate_size=2048,
    num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=4,
    head_dim=64, max_position_embeddings=1024, tie_word_embeddings=False,
)  # fmt: skip
DRY_RUN_MODEL = dataclasses.replace(
    GPU_MODEL, vocab_size=512, hidden_size=64, intermediate_size=128,
    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
    head_dim=16, max_position_embeddings=64,
)  # fmt: skip


def flops_per_token(config, length):
    """(6 N_mul + 12 L n_h d_h T, N_mul). N_mul counts the parameters that
    every token multiplies: all of them but an untied embedding table,
    whose lookup costs no FLOPs (a tied one is the head, so it counts).
    The second term is attention's two T-long products, forward and
    backward, without causal savings."""
    shapes = jax.tree.leaves(param_shapes(config), is_leaf=_is_shape)
    n = sum(math.prod(shape) for shape in shapes)
    if not config.tie_word_embeddings:
        n -= config.vocab_size * config.hidden_size  # the lookup table
    c = config
    attn = 12 * c.num_hidden_layers * c.num_attention_heads * c.head_dim
    return 6 * n + attn * length, n


def _is_shape(leaf):
    return type(leaf) is tuple


def random_chunks(config, length, rows=64):
    """Token rows to draw windows from: the text does not change the speed."""
    shape = (rows, length + 1)
    return jax.random.randint(jax.random.key(1), shape, 0, config.vocab_size)


def training_rows(config, shape, chunks, repeats, dtypes):
    """Seconds a training step, and tokens/s, per compute dtype."""
    params = init_params(config, jax.random.key(0))
    optimizer = llama_optimizer(params, steps=1000)
    state = optimizer.init(params)
    rows = {}
    for name, dtype in dtypes.items():
        loss_fn = partial(next_token_loss, config=config)
        if dtype is not None:
            loss_fn = mixed_precision(loss_fn, dtype)
        run = partial(
            train_step, params, state, jax.random.key(2), chunks, loss_fn,
            optimizer, shape,
        )  # fmt: skip
        row, _ = measure(run, repeats)
        row["tokens_per_s"] = math.prod(shape) / row["median_s"]
        rows[name] = row
    return rows


def training_suite(repeats, progress):
    settings = Settings()
    shape = (settings.batch_size, settings.length)
    chunks = random_chunks(CHAPTER_MODEL, 1023)
    dtypes = {"float32": None, "bfloat16 compute": jnp.bfloat16}
    rows = training_rows(CHAPTER_MODEL, shape, chunks, repeats, dtypes)
    progress("training: done")
    return {"name": "llama training", "model": "chapter", "shape": shape,
            "rows": rows, "reference": "float32"}  # fmt: skip


def mfu_suite(config, shape, repeats, progress, dry_run=False):
    """Training tokens/s in mixed precision, and the MFU it implies."""
    chunks = random_chunks(config, shape[1])
    dtypes = {"bfloat16 compute": jnp.bfloat16}
    rows = training_rows(config, shape, chunks, repeats, dtypes)
    per_token, n = flops_per_token(config, shape[1])
    total = sum(math.prod(s) for s in jax.tree.leaves(
        param_shapes(config), is_leaf=_is_shape))  # fmt: skip
    kind = jax.devices()[0].device_kind
    peak = PEAK_BF16_FLOPS.get(kind)
    achieved = rows["bfloat16 compute"]["tokens_per_s"] * per_token
    progress(f"MFU, {n / 1e6:.0f}M parameters: done")
    return {
        "name": "llama MFU", "dry_run": dry_run,
        "config": dataclasses.asdict(config),
        "shape": shape, "rows": rows, "reference": "bfloat16 compute",
        "n_params": total, "n_params_multiplied": n,
        "flops_per_token": per_token,
        "achieved_flops": achieved, "device_kind": kind,
        "peak_bf16_flops": peak,
        "peak_source": "vendor datasheet, dense bfloat16",
        "mfu": None if peak is None else achieved / peak,
    }  # fmt: skip


def decoding_suite(config, prompt, new_tokens, repeats, progress):
    """Greedy decoding, seconds a token: cached steps against recomputing
    all positions of a fixed [1, prompt + new] buffer for every token."""
    params = init_params(config, jax.random.key(0))
    total = prompt + new_tokens
    tokens = jax.random.randint(jax.random.key(3), (1, total), 0, 256)
    full = jax.jit(forward, static_argnames="config")

    def cached():
        cache = init_cache(config, 1, total)
        logits, cache = decode_step(
            params, tokens[:, :prompt], cache, 0, config
        )
        out = [logits]
        for t in range(prompt, total):
            token = jnp.argmax(out[-1][:, -1:], axis=-1)  # [1, 1]
            logits, cache = decode_step(params, token, cache, t, config)
            out.append(logits)
        return out[-1]

    def recomputed():
        buffer = tokens
        for t in range(prompt, total):
            logits = full(params, buffer, config)
            token = jnp.argmax(logits[:, t - 1], axis=-1)
            buffer = buffer.at[:, t].set(token)
        return buffer

    rows = {}
    for name, fn in [("KV cache", cached), ("recompute, no cache", recomputed)]:
        row, _ = measure(fn, repeats)
        row["tokens_per_s"] = new_tokens / row["median_s"]
        rows[name] = row
    progress("decoding: done")
    return {"name": "llama decoding", "prompt": prompt,
            "new_tokens": new_tokens, "rows": rows,
            "reference": "KV cache"}  # fmt: skip


def library_attention(p, x, cos, sin, config, implementation):
    """The model's attention with jax.nn.dot_product_attention as its core
    (GQA natively: the key heads are not repeated)."""
    B, T, _ = x.shape
    H, KV, Q = (config.num_attention_heads, config.num_key_value_heads,
                config.head_dim)  # fmt: skip
    q = apply_rope((x @ p["q"]).reshape(B, T, H, Q), cos, sin)
    k = apply_rope((x @ p["k"]).reshape(B, T, KV, Q), cos, sin)
    v = (x @ p["v"]).reshape(B, T, KV, Q)
    out = jax.nn.dot_product_attention(
        q, k, v, is_causal=True, implementation=implementation
    )
    return out.reshape(B, T, H * Q) @ p["o"]


def attention_suite(config, batch, length, dtype, repeats, progress):
    """Forward and backward of one attention layer, both ways."""
    params = init_params(config, jax.random.key(0), dtype)
    layer = jax.tree.map(lambda w: w[0], params["layers"])
    x = jax.random.normal(
        jax.random.key(4), (batch, length, config.hidden_size)
    )
    x = x.astype(dtype)
    positions = jnp.arange(length)
    cos, sin = rope_angles(positions, rope_frequencies(config))
    mask = causal_mask(positions, positions)
    variants = {"hand-written": lambda p, x: attention(
        p, x, cos, sin, mask, config)[0]}  # fmt: skip
    kinds = ["xla", "cudnn"] if jax.default_backend() == "gpu" else ["xla"]
    for kind in kinds:
        variants[f"jax.nn.dot_product_attention ({kind})"] = partial(
            library_attention, cos=cos, sin=sin, config=config,
            implementation=kind,
        )  # fmt: skip
    rows, outputs, errors = {}, {}, {}
    for name, fn in variants.items():
        both = jax.jit(jax.value_and_grad(lambda p, x, f=fn: f(p, x).sum()))
        try:
            rows[name], _ = measure(partial(both, layer, x), repeats)
            outputs[name] = np.asarray(jax.jit(fn)(layer, x), np.float32)
        except Exception as error:  # cuDNN refuses some shapes and dtypes
            errors[name] = f"{type(error).__name__}: {error}"[:300]
    reference = outputs["hand-written"]
    gaps = {n: float(np.abs(o - reference).max()) for n, o in outputs.items()}
    progress("attention: done")
    return {"name": "llama attention", "batch": batch, "length": length,
            "dtype": jnp.dtype(dtype).name, "rows": rows,
            "reference": "hand-written", "max_difference": gaps,
            "errors": errors}  # fmt: skip


def run(quick, dry_run, progress):
    on_gpu = jax.default_backend() == "gpu"
    repeats = 3 if quick else 10
    kind = jax.devices()[0].device_kind
    progress(f"timing on {kind} ({jax.default_backend()})")
    suites = [training_suite(repeats, progress)]
    suites.append(decoding_suite(CHAPTER_MODEL, 16, 32 if quick else 96,
                                 repeats, progress))  # fmt: skip
    if on_gpu:
        suites.append(mfu_suite(GPU_MODEL, (16, 1024), repeats, progress))
        suites.append(attention_suite(GPU_MODEL, 16, 1024, jnp.bfloat16,
                                      repeats, progress))  # fmt: skip
    else:
        suites.append(attention_suite(CHAPTER_MODEL, 8, 128, jnp.float32,
                                      repeats, progress))  # fmt: skip
    if dry_run and not on_gpu:  # the GPU suite's code path, tiny and cheap
        suites.append(mfu_suite(DRY_RUN_MODEL, (2, 64), 1, progress, True))
    return {
        "command": " ".join(["python -m snippets.bench_llama", *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.UTC).isoformat(
            timespec="seconds"
        ),
        "quick": quick,
        "machine": machine(),
        "versions": {
            "python": platform.python_version(),
            "jax": jax.__version__,
            "numpy": np.__version__,
        },
        "suites": suites,
    }


def print_table(result):
    m = result["machine"]
    print(
        f"{m['device_kind']} ({m['platform']}), {m['cpu_count']} x {m['cpu']}"
    )
    for suite in result["suites"]:
        print(f"\n{suite['name']}")
        for name, row in suite["rows"].items():
            rate = row.get("tokens_per_s")
            rate = f"{rate:12,.0f} tokens/s" if rate else ""
            print(
                f"  {name:42} {row['median_s'] * 1e3:10.2f} ms {rate}"
                f"  first call {row['first_call_s']:6.1f} s"
            )
        if suite.get("mfu") is not None:
            print(f"  MFU {suite['mfu']:.1%} of {suite['peak_bf16_flops']:.3g}")
        for name, error in suite.get("errors", {}).items():
            print(f"  {name}: {error}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats")
    parser.add_argument(
        "--mfu-dry-run", action="store_true",
        help="off a GPU, run the MFU suite at a tiny size",
    )  # fmt: skip
    parser.add_argument("--out", help="write the results as JSON to this file")
    args = parser.parse_args(argv)
    result = run(args.quick, args.mfu_dry_run, progress)
    report(result, print_table, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
