"""Chapter "Llama from scratch": the model's sizes, named as in transformers."""

# --8<-- [start:config]
import math
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Llama3Scaling(NamedTuple):
    """RoPE's "llama3" frequency scaling (Llama 3.1: factor 8; 3.2: 32)."""

    factor: float = 8.0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position_embeddings: int = 8192


# Frozen, hence hashable: jit takes the config as a static argument.
@dataclass(frozen=True)
class LlamaConfig:
    """Sizes of a Llama decoder; the field names are transformers' own."""

    vocab_size: int = 256  # bytes, for the site's own models
    hidden_size: int = 128  # d, the model width
    intermediate_size: int = 352  # width of the SwiGLU MLP
    num_hidden_layers: int = 4  # L
    num_attention_heads: int = 4  # n_h query heads
    num_key_value_heads: int = 2  # n_kv; each serves n_h / n_kv of them
    head_dim: int = 32  # d_h; n_h * d_h need not equal d
    max_position_embeddings: int = 256  # the longest context, in tokens
    rms_norm_eps: float = 1e-5  # Llama 3's (transformers defaults to 1e-6)
    rope_theta: float = 500000.0  # Llama 3's (transformers: 10000)
    rope_scaling: Llama3Scaling | None = None
    tie_word_embeddings: bool = True  # output head = embedding matrix

    def __post_init__(self):
        check_config(self)


# --8<-- [end:config]


# --8<-- [start:check_config]
def check_config(config):
    """Stop at a config the model cannot run, naming the field to change."""
    sizes = [
        "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
        "num_attention_heads", "num_key_value_heads", "head_dim",
        "max_position_embeddings",
    ]  # fmt: skip
    for name in sizes:
        value = getattr(config, name)
        if type(value) is not int or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, not {value!r}")
    n_h, n_kv = config.num_attention_heads, config.num_key_value_heads
    if n_h % n_kv:
        raise ValueError(
            f"num_attention_heads ({n_h}) must be a multiple of "
            f"num_key_value_heads ({n_kv}): each kv head serves n_h // n_kv"
        )
    if config.hidden_size % n_h:  # transformers' LlamaConfig refuses it too
        raise ValueError(
            f"hidden_size ({config.hidden_size}) must be a multiple of "
            f"num_attention_heads ({n_h}), as transformers requires"
        )
    if config.head_dim % 2:  # RoPE turns dims in pairs
        raise ValueError(f"head_dim must be even, not {config.head_dim}")
    for name in ["rms_norm_eps", "rope_theta"]:
        if not (value := getattr(config, name)) > 0:
            raise ValueError(f"{name} must be positive, not {value}")
    if config.rope_scaling is not None:
        check_scaling(config.rope_scaling)


def check_scaling(s):
    if not isinstance(s, Llama3Scaling):
        raise ValueError(f"rope_scaling must be None or a Llama3Scaling: {s!r}")
    if not s.factor >= 1:
        raise ValueError(f"rope_scaling.factor must be >= 1, got {s.factor}")
    if not 0 < s.low_freq_factor < s.high_freq_factor:
        raise ValueError(
            "rope_scaling needs 0 < low_freq_factor < high_freq_factor, got "
            f"{s.low_freq_factor} and {s.high_freq_factor}"
        )
    original = s.original_max_position_embeddings
    if not isinstance(original, int) or original < 1:
        raise ValueError(
            "rope_scaling.original_max_position_embeddings must be a "
            f"positive integer, got {original!r}"
        )


# --8<-- [end:check_config]


# --8<-- [start:params]
def param_shapes(config):
    """Shape of every parameter. Matrices are [in, out], so that x @ W;
    "layers" stacks the L blocks on a leading axis, for lax.scan."""
    d, f = config.hidden_size, config.intermediate_size
    L = config.num_hidden_layers
    q = config.num_attention_heads * config.head_dim  # n_h * d_h
    kv = config.num_key_value_heads * config.head_dim
    layer = {
        "attn_norm": (d,), "q": (d, q), "k": (d, kv), "v": (d, kv),
        "o": (q, d), "mlp_norm": (d,), "gate": (d, f), "up": (d, f),
        "down": (f, d),
    }  # fmt: skip
    shapes = {"embed": (config.vocab_size, d), "norm": (d,)}
    shapes["layers"] = {k: (L, *shape) for k, shape in layer.items()}
    if not config.tie_word_embeddings:
        shapes["head"] = (d, config.vocab_size)
    return shapes


@partial(jax.jit, static_argnames=("config", "dtype"))
def init_params(config, key, dtype=jnp.float32):
    """Normal(0, 0.02) matrices, as transformers draws them; norms of 1."""
    shapes = param_shapes(config)
    leaves, tree = jax.tree.flatten(shapes, is_leaf=lambda s: type(s) is tuple)
    # One draw, cut into pieces: with a draw per tensor, XLA's compile
    # takes seconds per tensor on a CPU.
    sizes = [math.prod(shape) for shape in leaves]
    flat = 0.02 * jax.random.normal(key, (sum(sizes),), dtype)
    pieces = jnp.split(flat, np.cumsum(sizes)[:-1])
    arrays = [x.reshape(s) for x, s in zip(pieces, leaves, strict=True)]
    params = jax.tree.unflatten(tree, arrays)
    # RMSNorm weights start at 1: the norm alone, at first.
    params["norm"] = jnp.ones_like(params["norm"])
    for name in ["attn_norm", "mlp_norm"]:
        params["layers"][name] = jnp.ones_like(params["layers"][name])
    return params


# --8<-- [end:params]
