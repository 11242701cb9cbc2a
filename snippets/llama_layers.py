"""Chapter "Llama from scratch": the layers, RMSNorm, RoPE and attention."""

# --8<-- [start:layers_setup]
import jax
import jax.numpy as jnp
import numpy as np
# --8<-- [end:layers_setup]


# --8<-- [start:rms_norm]
def rms_norm(x, weight, eps):  # x [..., d], weight [d]
    """x / rms(x) * weight. The statistics in float32 even for bfloat16 x;
    cast back before the weight multiply, as transformers does."""
    x32 = x.astype(jnp.float32)
    mean_square = jnp.mean(x32 * x32, axis=-1, keepdims=True)
    normed = (x32 * jax.lax.rsqrt(mean_square + eps)).astype(x.dtype)
    # weight [d] gets explicit leading axes of 1, whatever x's rank
    return jnp.expand_dims(weight, tuple(range(x.ndim - 1))) * normed


# --8<-- [end:rms_norm]


# --8<-- [start:rope]
def rope_frequencies(config):  # -> [d_h / 2] float32
    """theta^(-2i/d_h) per pair of dims, with llama3's scaling of the long
    wavelengths. Computed once in float64: a constant of the model."""
    d_h, s = config.head_dim, config.rope_scaling
    inv_freq = config.rope_theta ** (-np.arange(0, d_h, 2) / d_h)  # float64
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


def rope_angles(positions, inv_freq):  # positions [T] -> cos, sin [T, d_h]
    """Angles in float32: bfloat16 would round position 257 to 256."""
    angles = positions.astype(jnp.float32)[:, None] * inv_freq[None, :]
    angles = jnp.concatenate([angles, angles], axis=-1)  # halves, as HF
    return jnp.cos(angles), jnp.sin(angles)


def rotate_half(x):  # (x1, x2) -> (-x2, x1) on the last axis
    x1, x2 = jnp.split(x, 2, axis=-1)
    return jnp.concatenate([-x2, x1], axis=-1)


def apply_rope(x, cos, sin):  # x [B, T, heads, d_h]; cos, sin [T, d_h]
    """Rotate dims i and i + d_h/2 together (HF's half-split layout)."""
    cos = cos[None, :, None, :].astype(x.dtype)
    sin = sin[None, :, None, :].astype(x.dtype)
    return x * cos + rotate_half(x) * sin


# --8<-- [end:rope]


# --8<-- [start:rope_interleaved]
def rope_interleaved(x, positions, inv_freq):  # x [B, T, heads, d_h]
    """Meta's layout: the neighbours (x_2i, x_2i+1) turn together."""
    angles = positions.astype(jnp.float32)[:, None] * inv_freq[None, :]
    cos = jnp.cos(angles)[None, :, None, :]  # [1, T, 1, d_h/2]
    sin = jnp.sin(angles)[None, :, None, :]
    even, odd = x[..., 0::2], x[..., 1::2]
    turned = [even * cos - odd * sin, even * sin + odd * cos]
    return jnp.stack(turned, axis=-1).reshape(x.shape)  # pairs back in place


def to_half_split(w, heads):  # w [d, heads * d_h], Meta's column order
    """What HF's conversion script does to q and k weights: in each head,
    the even output dims first, then the odd ones ([in, out] here)."""
    d = w.shape[0]
    return w.reshape(d, heads, -1, 2).swapaxes(2, 3).reshape(d, -1)


# --8<-- [end:rope_interleaved]


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
    n_h, n_kv = config.num_attention_heads, config.num_key_value_heads
    d_h, n_rep = config.head_dim, n_h // n_kv  # n_rep query heads per kv head
    q = apply_rope((x @ p["q"]).reshape(B, T, n_h, d_h), cos, sin)
    k = apply_rope((x @ p["k"]).reshape(B, T, n_kv, d_h), cos, sin)
    v = (x @ p["v"]).reshape(B, T, n_kv, d_h)
    if cache is not None:  # keys are cached after RoPE, n_kv heads wide
        at = (0, start, 0, 0)
        k = jax.lax.dynamic_update_slice(cache[0], k.astype(cache[0].dtype), at)
        v = jax.lax.dynamic_update_slice(cache[1], v.astype(cache[1].dtype), at)
        cache = (k, v)  # [B, S, n_kv, d_h] each
    k, v = k.astype(x.dtype), v.astype(x.dtype)
    # Query head h reads kv head h // n_rep: split the query heads into
    # [n_kv, n_rep] groups, so that each group meets its kv head in the
    # einsum, with no copy of k and v per query head.
    q = q.reshape(B, T, n_kv, n_rep, d_h)
    scores = jnp.einsum("btgrd,bsgd->bgrts", q, k) * d_h**-0.5
    # The mask and the softmax in float32, whatever the compute dtype;
    # scores and weights are [B, n_kv, n_rep, T, S].
    scores = scores.astype(jnp.float32) + mask[None, None, None]
    weights = jax.nn.softmax(scores, axis=-1).astype(x.dtype)
    out = jnp.einsum("bgrts,bsgd->btgrd", weights, v).reshape(B, T, n_h * d_h)
    return out @ p["o"], cache


# --8<-- [end:attention]


# --8<-- [start:swiglu]
def swiglu(p, x):  # SwiGLU, no biases: down(silu(gate x) * up x)
    return (jax.nn.silu(x @ p["gate"]) * (x @ p["up"])) @ p["down"]


# --8<-- [end:swiglu]
