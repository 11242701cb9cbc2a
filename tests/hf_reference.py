"""Run by tests/test_llama_hf.py in .venv-hf (torch + transformers), never
by pytest itself: `.venv-hf/bin/python tests/hf_reference.py JOBS.json`.

JOBS.json holds {"tokens": [[...]], "logits": [DIR, ...], "save": [{"dir":
DIR, "config": {...}, "seed": N}, ...]}. For each DIR in "logits", the
checkpoint is loaded with LlamaForCausalLM.from_pretrained (eager attention,
float32) and DIR/hf_logits.npy written, with DIR/hf_loading.json (keys
transformers found missing or unexpected). For each "save" entry a random
model with RMSNorm weights away from 1 is written with save_pretrained,
with its logits beside it.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM


def logits_of(model, tokens):
    with torch.no_grad():
        return model(torch.tensor(tokens, dtype=torch.long)).logits.numpy()


def load(directory, tokens):
    model, info = LlamaForCausalLM.from_pretrained(
        directory, attn_implementation="eager", dtype=torch.float32, output_loading_info=True
    )
    model.eval()
    np.save(Path(directory) / "hf_logits.npy", logits_of(model, tokens))
    info = {k: sorted(map(str, v)) for k, v in info.items()}
    (Path(directory) / "hf_loading.json").write_text(json.dumps(info))


def save(job, tokens):
    torch.manual_seed(job["seed"])
    config = LlamaConfig(**job["config"], attn_implementation="eager")
    model = LlamaForCausalLM(config).to(torch.float32).eval()
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if name.endswith("norm.weight"):  # transformers starts them at 1
                weight.uniform_(0.5, 1.5)
            elif "embed_tokens" in name:
                weight.normal_(0.0, 0.05)
            else:  # activations of order 1, so that logits are too
                weight.normal_(0.0, weight.shape[1] ** -0.5)
    model.save_pretrained(job["dir"])
    np.save(Path(job["dir"]) / "hf_logits.npy", logits_of(model, tokens))


def main():
    jobs = json.loads(Path(sys.argv[1]).read_text())
    tokens = np.asarray(jobs["tokens"])
    for job in jobs.get("save", []):
        save(job, tokens)
    for directory in jobs.get("logits", []):
        load(directory, tokens)
    versions = {"torch": torch.__version__, "transformers": transformers.__version__}
    # What LlamaConfig assumes for the keys a config.json may leave out.
    default = LlamaConfig()
    versions["defaults"] = {
        "max_position_embeddings": default.max_position_embeddings,
        "rms_norm_eps": default.rms_norm_eps,
        "rope_theta": default.rope_parameters["rope_theta"],
        "tie_word_embeddings": default.tie_word_embeddings,
    }
    print(json.dumps(versions))


if __name__ == "__main__":
    main()
