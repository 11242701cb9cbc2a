"""Chapter "Llama from scratch": checkpoints in Hugging Face's layout.

A directory with config.json and model.safetensors (or shards listed in
model.safetensors.index.json), with transformers' names and shapes.
"""

# --8<-- [start:checkpoint_setup]
import json
from pathlib import Path

# Importing jax registers ml_dtypes' bfloat16 with NumPy: Llama files hold it.
import jax.numpy as jnp
import numpy as np
from safetensors.numpy import load_file, save_file
# --8<-- [end:checkpoint_setup]

from snippets.llama_config import param_shapes
from snippets.llama_hf_config import config_from_hf, config_to_hf


# --8<-- [start:hf_names]
# Our name in params["layers"] -> transformers' module in model.layers.{i}.
HF_LAYER = {
    "attn_norm": "input_layernorm", "q": "self_attn.q_proj",
    "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj",
    "mlp_norm": "post_attention_layernorm", "gate": "mlp.gate_proj",
    "up": "mlp.up_proj", "down": "mlp.down_proj",
}  # fmt: skip
HF_TOP = {
    "embed": "model.embed_tokens", "norm": "model.norm", "head": "lm_head",
}  # fmt: skip


def to_hf(params):
    """{HF name: array}. torch's Linear stores [out, in]: transpose."""
    tensors = {}
    for name, hf in HF_TOP.items():
        if name in params:  # no lm_head when tied: it is the embedding
            w = np.asarray(params[name])
            tensors[f"{hf}.weight"] = w.T if name == "head" else w
    for name, hf in HF_LAYER.items():
        for i, w in enumerate(np.asarray(params["layers"][name])):
            tensors[f"model.layers.{i}.{hf}.weight"] = w.T if w.ndim == 2 else w
    return {k: np.ascontiguousarray(w) for k, w in tensors.items()}


def from_hf(tensors, config):
    """Our pytree from {HF name: array}, every name and shape checked."""
    shapes = param_shapes(config)
    L = config.num_hidden_layers
    # The one exception: with tied embeddings the head is embed_tokens, and
    # an lm_head.weight in the file is ignored, as transformers does.
    used = {"lm_head.weight"}

    def take(hf, shape, transpose):
        used.add(hf)
        if hf not in tensors:
            raise ValueError(f"the checkpoint lacks tensor {hf}")
        w = tensors[hf].T if transpose else tensors[hf]
        if w.shape != shape:
            got = tensors[hf].shape
            want = shape[::-1] if transpose else shape
            raise ValueError(f"tensor {hf} has shape {got}, expected {want}")
        return w

    params = {
        name: jnp.asarray(take(f"{hf}.weight", shapes[name], name == "head"))
        for name, hf in HF_TOP.items()
        if name in shapes
    }
    params["layers"] = {
        name: jnp.stack([
            take(f"model.layers.{i}.{hf}.weight", shapes["layers"][name][1:],
                 len(shapes["layers"][name]) == 3)
            for i in range(L)
        ])
        for name, hf in HF_LAYER.items()
    }  # fmt: skip
    if unused := sorted(set(tensors) - used):
        raise ValueError(
            f"the checkpoint has {len(unused)} tensors this model does not "
            f"use, e.g. {unused[0]}: is it a Llama checkpoint?"
        )
    return params


# --8<-- [end:hf_names]


# --8<-- [start:save_load]
def save_checkpoint(directory, params, config):
    """Write config.json and model.safetensors, as save_pretrained does."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = to_hf(params)
    dtype = str(next(iter(tensors.values())).dtype)
    text = json.dumps(config_to_hf(config, dtype), indent=2)
    (directory / "config.json").write_text(text + "\n")
    # transformers 4 refuses a file without format "pt" in its metadata.
    save_file(tensors, directory / "model.safetensors", {"format": "pt"})


def load_config(directory):
    """The LlamaConfig of a checkpoint directory, without its weights."""
    path = Path(directory) / "config.json"
    if not path.is_file():
        raise ValueError(f"{directory} has no config.json")
    return config_from_hf(json.loads(path.read_text()))


def load_checkpoint(directory):
    """(params, config) from a directory that save_pretrained could write:
    one model.safetensors, or shards named by model.safetensors.index.json."""
    directory = Path(directory)
    config = load_config(directory)
    index = directory / "model.safetensors.index.json"
    if index.is_file():  # large models come in shards
        weight_map = json.loads(index.read_text())["weight_map"]
        shards = sorted(set(weight_map.values()))
    elif (directory / "model.safetensors").is_file():
        shards = ["model.safetensors"]
    else:
        want = "model.safetensors or model.safetensors.index.json"
        raise ValueError(f"{directory} has no {want}")
    tensors = {}
    for shard in shards:
        tensors |= load_file(directory / shard)
    return from_hf(tensors, config), config


# --8<-- [end:save_load]
