"""An independent Llama reference for the tests: NumPy, float64, written from
the transformers and Meta sources, sharing no code with snippets/llama*.py.

It reads Hugging Face's names and [out, in] weights straight from a tensor
dict and config.json's dict, so a test also checks the checkpoint reader.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

# A tiny Llama 3 shape: 2 kv heads serve 4 query heads (n_rep 2), and the
# attention width H * Q = 64 differs from the model width 48. With
# theta 5000 and head_dim 16, the wavelengths (6 to 10^4 positions) fall in
# all three bands of llama3 scaling for an original context of 256.
TINY = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "vocab_size": 61,
    "hidden_size": 48,
    "intermediate_size": 40,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 64,
    "rms_norm_eps": 1e-5,
    "rope_theta": 5000.0,
    "rope_scaling": {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 256,
    },
    "hidden_act": "silu",
    "tie_word_embeddings": False,
}


def tiny_config(**changes):
    return json.loads(json.dumps(TINY)) | changes


def transformers5_form(cfg):
    """`cfg` as transformers 5.x writes it: rope_theta and rope_scaling
    moved into one rope_parameters object."""
    cfg = dict(cfg)
    rope = {"rope_type": "default"} | (cfg.pop("rope_scaling") or {})
    cfg["rope_parameters"] = rope | {"rope_theta": cfg.pop("rope_theta")}
    return cfg


def random_tensors(cfg, seed=0):
    """HF-named float64 weights: RMSNorm weights away from 1 (a random
    transformers model has ones), embeddings small enough that eps counts
    in the first norm, matrices scaled to keep activations of order 1."""
    rng = np.random.default_rng(seed)
    d, f = cfg["hidden_size"], cfg["intermediate_size"]
    q = cfg["num_attention_heads"] * cfg["head_dim"]
    kv = cfg["num_key_value_heads"] * cfg["head_dim"]
    linear = {  # torch.nn.Linear stores [out, in]
        "self_attn.q_proj": (q, d),
        "self_attn.k_proj": (kv, d),
        "self_attn.v_proj": (kv, d),
        "self_attn.o_proj": (d, q),
        "mlp.gate_proj": (f, d),
        "mlp.up_proj": (f, d),
        "mlp.down_proj": (d, f),
    }
    t = {"model.embed_tokens.weight": 0.05 * rng.normal(size=(cfg["vocab_size"], d))}
    for i in range(cfg["num_hidden_layers"]):
        for name, (n_out, n_in) in linear.items():
            w = rng.normal(size=(n_out, n_in)) / math.sqrt(n_in)
            t[f"model.layers.{i}.{name}.weight"] = w
        for name in ["input_layernorm", "post_attention_layernorm"]:
            t[f"model.layers.{i}.{name}.weight"] = rng.uniform(0.5, 1.5, d)
    t["model.norm.weight"] = rng.uniform(0.5, 1.5, d)
    if not cfg["tie_word_embeddings"]:
        t["lm_head.weight"] = rng.normal(size=(cfg["vocab_size"], d)) / math.sqrt(d)
    return t


def write_checkpoint(directory, cfg, tensors, dtype=np.float32):
    """config.json and model.safetensors, as written by hand (not by us)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(cfg, indent=2))
    arrays = {k: np.ascontiguousarray(v, dtype) for k, v in tensors.items()}
    save_file(arrays, directory / "model.safetensors", {"format": "pt"})
    return directory


def inverse_frequencies(cfg):
    """Meta's llama-models apply_scaling, branch by branch."""
    q = cfg["head_dim"]
    theta = cfg.get("rope_theta", 10000.0)
    freqs = 1.0 / theta ** (np.arange(0, q, 2, dtype=np.float64) / q)
    scaling = cfg.get("rope_scaling")
    if not scaling:
        return freqs
    factor, low, high = (scaling[k] for k in ["factor", "low_freq_factor", "high_freq_factor"])
    old_context = scaling["original_max_position_embeddings"]
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < old_context / high:
            out.append(freq)
        elif wavelen > old_context / low:
            out.append(freq / factor)
        else:
            smooth = (old_context / wavelen - low) / (high - low)
            out.append((1 - smooth) * freq / factor + smooth * freq)
    return np.array(out)


def rotate_pairs(x, positions, freqs, interleaved=False):
    """Turn the pair (x[i], x[i + Q/2]) by the angle position * freqs[i]
    (Hugging Face's layout); interleaved: the pair (x[2i], x[2i + 1])."""
    half = x.shape[-1] // 2
    angle = positions[:, None] * freqs[None, :]  # [T, Q/2]
    cos, sin = np.cos(angle), np.sin(angle)
    if interleaved:
        first, second = x[:, 0::2], x[:, 1::2]
        out = np.empty_like(x)
        out[:, 0::2], out[:, 1::2] = first * cos - second * sin, second * cos + first * sin
        return out
    first, second = x[:, :half], x[:, half:]
    return np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=1)


def rms(x, weight, eps):
    return x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + eps) * weight


def reference_logits(t, cfg, tokens, tile_kv=False, interleaved=False):
    """Logits [B, T, V] in float64, one sequence and one head at a time.
    tile_kv and interleaved give two classic port bugs, to show that a
    comparison with this reference notices them."""
    t = {k: np.asarray(v, np.float64) for k, v in t.items()}
    n_heads, n_kv, q = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    eps, freqs = cfg["rms_norm_eps"], inverse_frequencies(cfg)
    head = t["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else t["lm_head.weight"]
    out = []
    for row in np.asarray(tokens):
        positions = np.arange(len(row), dtype=np.float64)
        future = np.triu(np.ones((len(row), len(row)), bool), k=1)
        x = t["model.embed_tokens.weight"][row]
        for i in range(cfg["num_hidden_layers"]):
            w = {k.split(f"layers.{i}.")[1]: v for k, v in t.items() if f"layers.{i}." in k}
            h = rms(x, w["input_layernorm.weight"], eps)
            queries = h @ w["self_attn.q_proj.weight"].T
            keys = h @ w["self_attn.k_proj.weight"].T
            values = h @ w["self_attn.v_proj.weight"].T
            heads = []
            for j in range(n_heads):
                kv_head = j % n_kv if tile_kv else j // (n_heads // n_kv)
                qj = rotate_pairs(queries[:, j * q : (j + 1) * q], positions, freqs, interleaved)
                kj = keys[:, kv_head * q : (kv_head + 1) * q]
                kj = rotate_pairs(kj, positions, freqs, interleaved)
                vj = values[:, kv_head * q : (kv_head + 1) * q]
                scores = qj @ kj.T / math.sqrt(q)
                scores[future] = -np.inf
                weights = np.exp(scores - scores.max(axis=1, keepdims=True))
                heads.append(weights / weights.sum(axis=1, keepdims=True) @ vj)
            x = x + np.concatenate(heads, axis=1) @ w["self_attn.o_proj.weight"].T
            h = rms(x, w["post_attention_layernorm.weight"], eps)
            gate = h @ w["mlp.gate_proj.weight"].T
            up = h @ w["mlp.up_proj.weight"].T
            x = x + (gate / (1 + np.exp(-gate)) * up) @ w["mlp.down_proj.weight"].T
        out.append(rms(x, t["model.norm.weight"], eps) @ head.T)
    return np.stack(out)


def reference_loss(t, cfg, tokens):
    """Mean next-token cross-entropy, float64."""
    logits = reference_logits(t, cfg, np.asarray(tokens)[:, :-1])
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    targets = np.asarray(tokens)[:, 1:]
    return -np.mean(np.take_along_axis(log_probs, targets[..., None], axis=-1))
