"""Chapter "Llama from scratch": generation with a KV cache, and sampling."""

# --8<-- [start:generate_setup]
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
# --8<-- [end:generate_setup]

from snippets.llama import check_tokens, decoder


# --8<-- [start:kv_cache]
def init_cache(config, batch, length, dtype=jnp.float32):
    """Keys (after RoPE) and values of every layer, for `length` positions:
    two zero arrays [L, B, S, n_kv, d_h], preallocated: shapes stay static."""
    shape = (
        config.num_hidden_layers, batch, length,
        config.num_key_value_heads, config.head_dim,
    )  # fmt: skip
    return jnp.zeros(shape, dtype), jnp.zeros(shape, dtype)


def decode_step(params, tokens, cache, start, config):
    """Logits [B, T, vocab] of tokens [B, T] at positions start..start+T-1,
    reading earlier keys from the cache; returns the cache with theirs."""
    check_cache_room(tokens, cache, start)
    return cached_decoder(params, tokens, cache, start, config)


# start is traced: one compilation serves every position.
@partial(jax.jit, static_argnames="config")
def cached_decoder(params, tokens, cache, start, config):
    return decoder(params, tokens, config, start=start, cache=cache)


def check_cache_room(tokens, cache, start):
    """dynamic_update_slice would move a write past the cache's end back
    without a word: check the concrete positions first."""
    if isinstance(start, jax.core.Tracer):
        return  # inside jit: the caller checked the concrete start
    length, room = np.shape(tokens)[1], cache[0].shape[2]
    if not 0 <= int(start) <= room - length:
        raise ValueError(
            f"positions {int(start)}..{int(start) + length - 1} do not fit a "
            f"cache of {room} positions: make it longer (init_cache)"
        )


# --8<-- [end:kv_cache]


# --8<-- [start:sample]
@partial(jax.jit, static_argnames=("temperature", "top_k", "top_p"))
def sample(logits, key, temperature=1.0, top_k=None, top_p=None):
    """One token per row of logits [B, vocab]. Temperature 0 is greedy; top_k
    keeps the k likeliest tokens, top_p the fewest whose mass reaches p."""
    check_sampling(temperature, top_k, top_p, vocab_size=logits.shape[-1])
    if temperature == 0:
        return jnp.argmax(logits, axis=-1)
    logits = logits.astype(jnp.float32) / temperature
    if top_k is not None:
        kth = jax.lax.top_k(logits, top_k)[0][:, -1:]  # [B, 1]
        logits = jnp.where(logits < kth, -jnp.inf, logits)
    if top_p is not None:
        ranked = jnp.sort(logits, axis=-1)[:, ::-1]  # likeliest first
        probs = jax.nn.softmax(ranked, axis=-1)
        mass_before = jnp.cumsum(probs, axis=-1) - probs
        keep = jnp.sum(mass_before < top_p, axis=-1, keepdims=True)  # >= 1
        cutoff = jnp.take_along_axis(ranked, keep - 1, axis=-1)  # [B, 1]
        logits = jnp.where(logits < cutoff, -jnp.inf, logits)
    return jax.random.categorical(key, logits, axis=-1)


def check_sampling(temperature, top_k, top_p, vocab_size):
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0, not {temperature}")
    if top_k is not None and not 1 <= top_k <= vocab_size:
        raise ValueError(f"top_k must lie in 1..{vocab_size}, not {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must lie in (0, 1], not {top_p}")


# --8<-- [end:sample]


# --8<-- [start:generate]
def generate(params, prompt, config, new_tokens, key, **sampling):
    """Prompt [B, T0] -> [B, T0 + new_tokens]: one call reads the whole
    prompt into the cache, then one cached step per token."""
    if new_tokens < 1:
        raise ValueError(f"new_tokens must be at least 1, got {new_tokens}")
    check_tokens(prompt, config, length=np.shape(prompt)[-1] + new_tokens)
    prompt = jnp.asarray(prompt)
    batch, length = prompt.shape
    dtype = params["embed"].dtype  # the cache holds what the layers compute
    cache = init_cache(config, batch, length + new_tokens, dtype)
    logits, cache = decode_step(params, prompt, cache, 0, config)
    out = [prompt]
    for t in range(length, length + new_tokens):
        key, step_key = jax.random.split(key)
        token = sample(logits[:, -1], step_key, **sampling)[:, None]  # [B, 1]
        out.append(token)
        if t + 1 < length + new_tokens:  # the last token needs no logits
            logits, cache = decode_step(params, token, cache, t, config)
    return jnp.concatenate(out, axis=1)


# --8<-- [end:generate]


# --8<-- [start:bytes]
def encode_bytes(text):  # -> [1, T]: UTF-8 bytes are the tokens (vocab 256)
    return np.frombuffer(text.encode("utf-8"), np.uint8).astype(np.int32)[None]


def decode_bytes(tokens):  # [T] -> text; a character cut short shows �
    return bytes(np.asarray(tokens, np.uint8).tolist()).decode(errors="replace")


# --8<-- [end:bytes]
