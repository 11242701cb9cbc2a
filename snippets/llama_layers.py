"""Chapter "Llama from scratch": the layers, RMSNorm, RoPE and attention."""

# --8<-- [start:layers_setup]
import jax
import jax.numpy as jnp
import numpy as np
# --8<-- [end:layers_setup]


# --8<-- [start:rms_norm]
def rms_norm(x, weight, eps):  # x [B, T, d], weight [d]
    """x / rms(x) * weight. The statistics in float32 even for bfloat16 x;
    cast back before the weight multiply, as transformers does."""
    x32 = x.astype(jnp.float32)
    mean_square = jnp.mean(x32 * x32, axis=-1, keepdims=True)
    normed = (x32 * jax.lax.rsqrt(mean_square + eps)).astype(x.dtype)
    return weight[None, None, :] * normed


# --8<-- [end:rms_norm]


# --8<-- [start:rope]
def rope_frequencies(config):  # -> [Q / 2] float32
    """theta^(-2i/Q) per pair of dims, with llama3's scaling of the long
    wavelengths. Computed once in float64: a constant of the model."""
    Q, s = config.head_dim, config.rope_scaling
    inv_freq = config.rope_theta ** (-np.arange(0, Q, 2) / Q)  # float64
    if s is not None:
        # Wavelengths longer than original / low_freq_factor are divided
        # by the factor, shorter than original / high_freq_factor kept;
        # between, `smooth` blends the two, linear in the number of turns
        # a frequency makes over the original context.
        turns = s.original_max_position_embeddings * inv_freq / (2 * np.pi)
        low, high = s.low_freq_factor, s.high_freq_factor
        smooth = np.clip((turns - low) / (high - low), 0.0, 1.0)
        inv_freq = (1 - smooth) * inv_freq / s.factor + smooth * inv_freq
    return jnp.asarray(inv_freq, jnp.float32)


def rope_angles(positions, inv_freq):  # positions [T] -> cos, sin [T, Q]
    """Angles in float32: bfloat16 would round position 257 to 256."""
    angles = positions.astype(jnp.float32)[:, None] * inv_freq[None, :]
    angles = jnp.concatenate([angles, angles], axis=-1)  # halves, as HF
    return jnp.cos(angles), jnp.sin(angles)


def rotate_half(x):  # (x1, x2) -> (-x2, x1) on the last axis
    x1, x2 = jnp.split(x, 2, axis=-1)
    return jnp.concatenate([-x2, x1], axis=-1)


def apply_rope(x, cos, sin):  # x [B, T, heads, Q]; cos, sin [T, Q]
    """Rotate dims i and i + Q/2 together (HF's half-split layout)."""
    cos = cos[None, :, None, :].astype(x.dtype)
    sin = sin[None, :, None, :].astype(x.dtype)
    return x * cos + rotate_half(x) * sin


# --8<-- [end:rope]


# --8<-- [start:attention]
def causal_mask(query_positions, key_positions):  # -> [T, S]
    """0 where a query may look (keys at or before it), else -inf-ish:
    added to the scores, it zeroes those weights after the softmax."""
    visible = key_positions[None, :] <= query_positions[:, None]
    return jnp.where(visible, 0.0, jnp.finfo(jnp.float32).min)


def attention(p, x, cos, sin, mask, config, cache=None, start=0):
    """Causal grouped-query attention on x [B, T, d]. With a cache, this
    call's keys and values are written into it at positions start.., and
    the queries attend over everything it holds (mask: [T, S])."""
    B, T, _ = x.shape
    H, KV = config.num_attention_heads, config.num_key_value_heads
    Q = config.head_dim
    q = apply_rope((x @ p["q"]).reshape(B, T, H, Q), cos, sin)
    k = apply_rope((x @ p["k"]).reshape(B, T, KV, Q), cos, sin)
    v = (x @ p["v"]).reshape(B, T, KV, Q)
    if cache is not None:  # keys are cached after RoPE, KV heads wide
        at = (0, start, 0, 0)
        k = jax.lax.dynamic_update_slice(cache[0], k.astype(cache[0].dtype), at)
        v = jax.lax.dynamic_update_slice(cache[1], v.astype(cache[1].dtype), at)
        cache = (k, v)  # [B, S, KV, Q] each
    # Query head h reads kv head h // (H / KV): repeat, not tile.
    k = jnp.repeat(k, H // KV, axis=2).astype(x.dtype)  # [B, S, H, Q]
    v = jnp.repeat(v, H // KV, axis=2).astype(x.dtype)
    scores = jnp.einsum("bthq,bshq->bhts", q, k) * Q**-0.5
    # The mask and the softmax in float32, whatever the compute dtype.
    scores = scores.astype(jnp.float32) + mask[None, None]  # [B, H, T, S]
    weights = jax.nn.softmax(scores, axis=-1).astype(x.dtype)
    out = jnp.einsum("bhts,bshq->bthq", weights, v).reshape(B, T, H * Q)
    return out @ p["o"], cache


# --8<-- [end:attention]


# --8<-- [start:mlp]
def mlp(p, x):  # SwiGLU, no biases: down(silu(gate x) * up x)
    return (jax.nn.silu(x @ p["gate"]) * (x @ p["up"])) @ p["down"]


# --8<-- [end:mlp]
