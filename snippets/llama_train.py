"""Chapter "Llama from scratch": training on the site's own bytes with the
site's AdamW, warmup-cosine schedule and global-norm clipping."""

# --8<-- [start:train_setup]
import math
import time
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
# --8<-- [end:train_setup]

from snippets.llama import next_token_loss
from snippets.llama_config import LlamaConfig
from snippets.llama_data import sample_windows


# --8<-- [start:chapter_model]
CHAPTER_MODEL = LlamaConfig(
    vocab_size=256,  # bytes
    hidden_size=128,  # d
    intermediate_size=352,
    num_hidden_layers=2,  # L
    num_attention_heads=4,
    num_key_value_heads=2,  # each serves two query heads
    head_dim=32,
    max_position_embeddings=128,  # the longest context, T at most
)


class Settings(NamedTuple):
    """How the chapter trains it (the train command's defaults)."""

    steps: int = 300
    batch_size: int = 8  # windows a step
    length: int = 128  # T: bytes the model reads in a window
    peak: float = 1.5e-3  # the largest learning rate
    watch_every: int = 50  # steps between two validation measurements
    watch_windows: int = 32  # validation windows they score


# --8<-- [end:chapter_model]
from snippets.optimizers import adamw, apply_updates
from snippets.training import (
    chain, clip_by_global_norm, mixed_precision, warmup_cosine_decay,
)  # fmt: skip


# --8<-- [start:optimizer]
def decay_mask(params):
    """Weight decay for the matrices only: an RMSNorm weight of 1 is no
    larger than it should be."""
    mask = jax.tree.map(lambda _: True, params)
    mask["norm"] = False
    mask["layers"]["attn_norm"] = mask["layers"]["mlp_norm"] = False
    return mask


# The Llama 2 paper's settings (Touvron et al., 2023, section 2.2).
LLAMA2_ADAMW = {"b1": 0.9, "b2": 0.95, "eps": 1e-5, "weight_decay": 0.1}
LLAMA2_CLIP = 1.0  # the largest global norm of the gradient
END_FRACTION = 0.1  # the cosine ends at this fraction of the peak
# This page's choice: the paper warms up for 2000 of its ~500k steps.
WARMUP_FRACTION = 0.1


def llama_optimizer(params, steps, peak=None, warmup=None, clip=LLAMA2_CLIP):
    """Clip |g| at `clip`, then AdamW with the paper's settings and a
    learning rate that rises to `peak` (default: Settings().peak) for `warmup`
    steps (default: a fraction WARMUP_FRACTION of them), then follows a
    cosine down to END_FRACTION of its peak."""
    peak = Settings().peak if peak is None else peak
    if warmup is None:
        warmup = max(1, round(steps * WARMUP_FRACTION))
    end = peak * END_FRACTION
    eta = warmup_cosine_decay(0.0, peak, warmup, steps, end_value=end)
    adam = adamw(eta, **LLAMA2_ADAMW, mask=decay_mask(params))
    return chain(clip_by_global_norm(clip), adam)


# --8<-- [end:optimizer]


# --8<-- [start:train_step]
@partial(jax.jit, static_argnames=("loss_fn", "optimizer", "shape"))
def train_step(params, state, key, chunks, loss_fn, optimizer, shape):
    """One step on a fresh batch of windows [batch, length + 1]; the batch
    is drawn inside the compiled step, from a key."""
    tokens = sample_windows(key, chunks, *shape)
    loss, grads = jax.value_and_grad(loss_fn)(params, tokens)
    updates, state = optimizer.update(grads, state, params)
    return apply_updates(params, updates), state, loss


nats_per_token = jax.jit(next_token_loss, static_argnames="config")


def bits_per_byte(params, windows, config):
    """Validation loss in bits per byte: nats / ln 2, one token a byte."""
    nats = nats_per_token(params, jnp.asarray(windows), config)
    return float(nats) / math.log(2)


# --8<-- [end:train_step]


# --8<-- [start:train_loop]
def train(params, config, optimizer, chunks, key, steps, shape, watch=None,
          compute_dtype=None):  # fmt: skip
    """`steps` steps on windows of shape (batch, length); compute_dtype
    bfloat16 trains in mixed precision. watch(step, params, loss) runs
    before each step and after the last. Returns the parameters, the
    losses [steps] and tokens/s: steps 2 to `steps`, without watch's time."""
    check_training(steps, shape, chunks.shape[1], config)
    loss_fn = partial(next_token_loss, config=config)
    if compute_dtype is not None:
        loss_fn = mixed_precision(loss_fn, compute_dtype)
    state, chunks = optimizer.init(params), jnp.asarray(chunks)
    losses, watching = [], 0.0
    for step in range(steps):
        if watch is not None:
            jax.block_until_ready(params)  # finish the steps so far, then
            paused = time.perf_counter()  # time watch, to leave it out
            watch(step, params, losses[-1] if losses else None)
            watching += time.perf_counter() - paused
        params, state, loss = train_step(
            params, state, jax.random.fold_in(key, step), chunks,
            loss_fn, optimizer, shape,
        )  # fmt: skip
        losses.append(loss)
        if step == 0:  # the first step compiles: time the others
            loss.block_until_ready()
            started, watching = time.perf_counter(), 0.0
    jax.block_until_ready(losses[-1])
    seconds = time.perf_counter() - started - watching
    if watch is not None:
        watch(steps, params, losses[-1])
    tokens_per_s = (steps - 1) * math.prod(shape) / max(seconds, 1e-9)
    return params, np.asarray(losses), tokens_per_s


def check_training(steps, shape, chunk, config):
    """Windows of length + 1 bytes must fit a chunk, `length` the context."""
    batch_size, length = shape
    if not 1 <= length <= min(config.max_position_embeddings, chunk - 1):
        raise ValueError(
            f"a sequence length of {length} does not fit: the model's context "
            f"is max_position_embeddings={config.max_position_embeddings} and "
            f"a window of length + 1 bytes must fit a chunk of {chunk}"
        )
    if batch_size < 1 or steps < 2:
        raise ValueError(
            f"need a batch size >= 1 and steps >= 2 (the first compiles), "
            f"got batch size {batch_size} and {steps} steps"
        )


# --8<-- [end:train_loop]
