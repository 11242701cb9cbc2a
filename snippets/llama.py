"""Chapter "Llama from scratch": the decoder in pure JAX, parameters a pytree.

`python -m snippets.llama logits|generate ...` is its command-line tool.
"""

# --8<-- [start:setup]
import jax
import jax.numpy as jnp
import numpy as np
# --8<-- [end:setup]

from snippets.llama_layers import (
    attention, causal_mask, rms_norm, rope_angles, rope_frequencies, swiglu,
)  # fmt: skip


# --8<-- [start:block]
def block(p, x, cos, sin, mask, config, cache=None, start=0):
    """Pre-norm residual block: mid = x + attn(norm(x)), then
    mid + swiglu(norm(mid))."""
    eps = config.rms_norm_eps
    normed = rms_norm(x, p["attn_norm"], eps)
    attended, cache = attention(p, normed, cos, sin, mask, config, cache, start)
    mid = x + attended
    return mid + swiglu(p, rms_norm(mid, p["mlp_norm"], eps)), cache


# --8<-- [end:block]


# --8<-- [start:forward]
def decoder(params, tokens, config, start=0, cache=None):
    """Logits [B, T, vocab] of tokens [B, T] at positions start..start+T-1,
    and the cache (None without one): shared by forward and decoding."""
    positions = start + jnp.arange(tokens.shape[1])
    # Without a cache the keys are these tokens; with one, all S slots.
    keys = positions if cache is None else jnp.arange(cache[0].shape[2])
    mask = causal_mask(positions, keys)
    cos, sin = rope_angles(positions, rope_frequencies(config))

    def layer(x, p_and_cache):  # one block; lax.scan runs all L of them
        p, layer_cache = p_and_cache
        return block(p, x, cos, sin, mask, config, layer_cache, start)

    x = params["embed"][tokens]  # [B, T, d]
    x, cache = jax.lax.scan(layer, x, (params["layers"], cache))
    x = rms_norm(x, params["norm"], config.rms_norm_eps)
    head = params["embed"].T if config.tie_word_embeddings else params["head"]
    return x @ head, cache


def forward(params, tokens, config):
    """Logits [B, T, vocab] for tokens [B, T], an integer array."""
    check_tokens(tokens, config)
    return decoder(params, tokens, config)[0]


# --8<-- [end:forward]


# --8<-- [start:check_tokens]
def check_tokens(tokens, config, length=None):
    """Token ids must index the vocabulary, and `length` positions (the
    tokens' own by default) fit the context. JAX would clamp an index out
    of range without a word, so check the concrete tokens first."""
    if isinstance(tokens, jax.core.Tracer):
        return  # inside jit: the caller checked the concrete tokens
    tokens = np.asarray(tokens)
    if tokens.ndim != 2 or not np.issubdtype(tokens.dtype, np.integer):
        got = f"{tokens.dtype} {tokens.shape}"
        raise ValueError(f"tokens must be integers [batch, time], not {got}")
    length = tokens.shape[1] if length is None else length
    if length > config.max_position_embeddings:
        raise ValueError(
            f"{length} positions do not fit the context of "
            f"max_position_embeddings={config.max_position_embeddings}: use "
            "a shorter prompt (or fewer tokens to generate)"
        )
    bad = np.flatnonzero((tokens < 0) | (tokens >= config.vocab_size))
    if bad.size:
        raise ValueError(
            f"token {tokens.flat[bad[0]]} (at flat index {bad[0]}) is outside "
            f"the vocabulary 0..{config.vocab_size - 1} (vocab_size)"
        )


# --8<-- [end:check_tokens]


# --8<-- [start:loss]
def next_token_loss(params, tokens, config):
    """Mean cross-entropy of token i + 1 given tokens 0..i, for tokens
    [B, T + 1]. In float32: bfloat16's 8 significant bits would put errors
    of hundredths of a nat into every log-probability."""
    logits = forward(params, tokens[:, :-1], config).astype(jnp.float32)
    log_probs = jax.nn.log_softmax(logits, axis=-1)  # [B, T, vocab]
    targets = tokens[:, 1:, None]
    return -jnp.mean(jnp.take_along_axis(log_probs, targets, axis=-1))


# --8<-- [end:loss]


if __name__ == "__main__":
    import sys

    from snippets.llama_cli import main

    sys.exit(main())
