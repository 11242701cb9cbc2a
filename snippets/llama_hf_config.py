"""Chapter "Llama from scratch": config.json, as transformers reads it."""

from snippets.llama_config import Llama3Scaling, LlamaConfig


# --8<-- [start:config_json]
from dataclasses import asdict

REQUIRED = [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
    "num_attention_heads",
]  # fmt: skip
# What transformers' LlamaConfig assumes for a key that config.json lacks.
HF_DEFAULTS = {
    "max_position_embeddings": 2048, "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0, "tie_word_embeddings": False,
}  # fmt: skip


def config_from_hf(d):
    """A LlamaConfig from a config.json dict, either form of its RoPE keys."""
    check_hf_architecture(d)
    missing = [name for name in REQUIRED if d.get(name) is None]
    if missing:
        raise ValueError(f"config.json lacks {', '.join(missing)}")
    d = HF_DEFAULTS | {k: v for k, v in d.items() if v is not None}
    heads, max_len = d["num_attention_heads"], d["max_position_embeddings"]
    theta, scaling = rope_from_hf(d, max_len)
    return LlamaConfig(
        **{name: d[name] for name in REQUIRED},
        num_key_value_heads=d.get("num_key_value_heads") or heads,
        head_dim=d.get("head_dim") or d["hidden_size"] // heads,
        max_position_embeddings=max_len,
        rms_norm_eps=float(d["rms_norm_eps"]),
        rope_theta=theta,
        rope_scaling=scaling,
        tie_word_embeddings=bool(d["tie_word_embeddings"]),
    )


def rope_from_hf(d, max_len):
    """(rope_theta, rope_scaling): transformers 5 writes one rope_parameters
    object; Llama 3.x files have rope_theta and rope_scaling at top level."""
    # transformers lets rope_scaling win when a file has both.
    where = "rope_scaling" if d.get("rope_scaling") else "rope_parameters"
    rope = d.get(where) or {}
    theta = float(rope.get("rope_theta", d["rope_theta"]))
    kind = rope.get("rope_type", rope.get("type", "default"))
    if kind == "default":
        return theta, None
    if kind != "llama3":
        raise ValueError(
            f"config.json {where}.rope_type is {kind!r}: this model "
            "implements only 'default' and 'llama3'"
        )
    missing = [k for k in Llama3Scaling._fields[:3] if rope.get(k) is None]
    if missing:
        raise ValueError(f"config.json {where} lacks {', '.join(missing)}")
    return theta, Llama3Scaling(
        float(rope["factor"]),
        float(rope["low_freq_factor"]),
        float(rope["high_freq_factor"]),
        rope.get("original_max_position_embeddings", max_len),
    )


def check_hf_architecture(d):
    """Refuse variants that share Llama's tensor names but compute more."""
    expect = {"model_type": "llama", "hidden_act": "silu"}
    expect |= {"attention_bias": False, "mlp_bias": False}
    for key, value in expect.items():
        if d.get(key, value) != value:
            got, need = f"{key}={d[key]!r}", f"{key}={value!r}"
            raise ValueError(f"config.json has {got}; this model needs {need}")


def config_to_hf(config, dtype):
    """config.json in the published Llama 3.x form: transformers 4 and 5
    both read it. dtype names the tensors' type, e.g. "float32"."""
    s = config.rope_scaling
    scaling = None if s is None else {"rope_type": "llama3", **s._asdict()}
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        **asdict(config),
        "rope_scaling": scaling,
        "torch_dtype": dtype,
    }


# --8<-- [end:config_json]
