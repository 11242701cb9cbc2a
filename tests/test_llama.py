"""The Llama model against an independent NumPy float64 reference, and its
cache, sampling, checkpoints, command line and bad-input messages."""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from sitebuild.page import ROOT
from snippets.llama import forward, next_token_loss
from snippets.llama_checkpoint import load_checkpoint, save_checkpoint, to_hf
from snippets.llama_config import Llama3Scaling, LlamaConfig, init_params
from snippets.llama_generate import (
    decode_bytes,
    decode_step,
    encode_bytes,
    generate,
    init_cache,
    sample,
)
from snippets.llama_hf_config import config_from_hf
from snippets.llama_layers import (
    apply_rope,
    rope_angles,
    rope_frequencies,
    rope_interleaved,
    to_half_split,
)
from tests.llama_reference import (
    inverse_frequencies,
    random_tensors,
    reference_logits,
    reference_loss,
    rotate_pairs,
    tiny_config,
    write_checkpoint,
)

T = 24  # >= 16: RoPE is the identity at position 0, layout bugs need length
jit_forward = jax.jit(forward, static_argnames="config")


def make_checkpoint(directory, tied):
    """A random tiny checkpoint written by hand: (directory, tensors, cfg)."""
    cfg = tiny_config(tie_word_embeddings=tied)
    directory = write_checkpoint(directory, cfg, random_tensors(cfg))
    # The float32 file is what both sides read: compare on the rounded weights.
    tensors = load_file(directory / "model.safetensors")
    return directory, {k: v.astype(np.float64) for k, v in tensors.items()}, cfg


@pytest.fixture(scope="module", params=["untied", "tied"])
def both(request, tmp_path_factory):
    """Each test that takes it runs twice: output head tied and untied."""
    return make_checkpoint(tmp_path_factory.mktemp(request.param), request.param == "tied")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("untied"), tied=False)


@pytest.fixture(scope="module")
def tied(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("tied"), tied=True)


@pytest.fixture(scope="module")
def tokens():
    return np.random.default_rng(1).integers(0, 61, size=(2, T)).astype(np.int32)


def test_logits_equal_numpy_float64_reference(both, tokens):
    directory, tensors, cfg = both
    params, config = load_checkpoint(directory)
    assert (
        config.rope_scaling is not None
        and config.num_attention_heads // config.num_key_value_heads == 2
    )
    ours = np.asarray(jit_forward(params, jnp.asarray(tokens), config))
    reference = reference_logits(tensors, cfg, tokens)
    assert ours.shape == (2, T, 61) and ours.dtype == np.float32
    assert reference.std() > 0.1  # not tiny: the tolerance means something
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5)


def test_reference_notices_the_classic_port_bugs(checkpoint, tokens):
    """The comparison above can fail: interleaved RoPE pairs, tiled kv heads,
    eps 1e-6 or ignored llama3 scaling move the logits 100 times further."""
    directory, tensors, cfg = checkpoint
    params, config = load_checkpoint(directory)
    ours = np.asarray(jit_forward(params, jnp.asarray(tokens), config))
    wrong = {
        "interleaved": reference_logits(tensors, cfg, tokens, interleaved=True),
        "tile": reference_logits(tensors, cfg, tokens, tile_kv=True),
        "eps": reference_logits(tensors, cfg | {"rms_norm_eps": 1e-6}, tokens),
        "scaling": reference_logits(tensors, cfg | {"rope_scaling": None}, tokens),
    }
    gaps = {bug: np.abs(logits - ours).max() for bug, logits in wrong.items()}
    assert min(gaps.values()) > 1e-3, gaps


@pytest.mark.parametrize("n_kv", [1, 4])
def test_grouped_attention_with_one_group_and_with_one_head_per_group(tmp_path, n_kv, tokens):
    """Multi-query (one kv head for all four) and plain multi-head attention:
    the grouped einsum at its two extremes, against the reference."""
    cfg = tiny_config(num_key_value_heads=n_kv)
    tensors = random_tensors(cfg, seed=4)
    params, config = load_checkpoint(write_checkpoint(tmp_path, cfg, tensors))
    ours = np.asarray(jit_forward(params, jnp.asarray(tokens), config))
    stored = {k: v.astype(np.float32).astype(np.float64) for k, v in tensors.items()}
    np.testing.assert_allclose(ours, reference_logits(stored, cfg, tokens), rtol=1e-5, atol=1e-5)


def test_interleaved_rope_equals_the_reference_pairs():
    """Meta's layout, (x[2i], x[2i + 1]) turned together, at positions
    from 0 to 40 (position 0 alone would not tell layouts apart)."""
    cfg = tiny_config()
    x = np.random.default_rng(8).normal(size=(41, 16))
    positions = np.arange(41.0)
    freqs = inverse_frequencies(cfg)
    expected = rotate_pairs(x, positions, freqs, interleaved=True)
    ours = rope_interleaved(
        jnp.asarray(x, jnp.float32)[None, :, None, :], jnp.arange(41), jnp.asarray(freqs)
    )
    np.testing.assert_allclose(np.asarray(ours)[0, :, 0], expected, rtol=1e-5, atol=1e-5)
    assert np.abs(expected - rotate_pairs(x, positions, freqs)).max() > 0.1  # layouts differ


def test_half_split_on_converted_weights_equals_meta_layout(checkpoint, tokens):
    """Take the checkpoint's q and k weights as Meta's: the reference run
    with interleaved pairs on them must equal our model (half-split) on the
    weights that to_half_split converted, as HF's conversion script does."""
    directory, tensors, cfg = checkpoint
    params, config = load_checkpoint(directory)
    heads = {"q": config.num_attention_heads, "k": config.num_key_value_heads}
    converted = dict(params, layers=dict(params["layers"]))
    for name, n in heads.items():
        w = params["layers"][name]  # [L, d, heads * d_h], columns in Meta's order
        converted["layers"][name] = jnp.stack([to_half_split(layer, n) for layer in w])
        # to_half_split is the script's permute, on [in, out] instead of [out, in]
        meta = np.asarray(w[0]).T  # [out, in], as torch stores it
        d_h, d = cfg["head_dim"], cfg["hidden_size"]
        script = meta.reshape(n, d_h // 2, 2, d).transpose(0, 2, 1, 3).reshape(-1, d)
        np.testing.assert_array_equal(np.asarray(converted["layers"][name][0]).T, script)
    ours = np.asarray(jit_forward(converted, jnp.asarray(tokens), config))
    meta_logits = reference_logits(tensors, cfg, tokens, interleaved=True)
    np.testing.assert_allclose(ours, meta_logits, rtol=1e-5, atol=1e-5)
    # and without the conversion the half-split model computes something else
    unconverted = np.asarray(jit_forward(params, jnp.asarray(tokens), config))
    assert np.abs(unconverted - meta_logits).max() > 1e-2


def test_causal(checkpoint, tokens):
    params, config = load_checkpoint(checkpoint[0])
    changed = tokens.copy()
    changed[:, 10:] = (changed[:, 10:] + 7) % 61
    a = np.asarray(jit_forward(params, jnp.asarray(tokens), config))
    b = np.asarray(jit_forward(params, jnp.asarray(changed), config))
    np.testing.assert_allclose(a[:, :10], b[:, :10], rtol=0, atol=1e-6)
    assert np.abs(a[:, 10:] - b[:, 10:]).min(axis=-1).max() > 1e-3  # later ones change


def test_rope_scores_depend_only_on_position_difference():
    config = LlamaConfig(
        head_dim=16, rope_theta=5000.0, rope_scaling=Llama3Scaling(8.0, 1.0, 4.0, 256)
    )
    q, k = jax.random.normal(jax.random.key(3), (2, 1, 1, 1, 16))
    inv_freq = rope_frequencies(config)

    def score(m, n):  # q at position m, k at position n
        cos, sin = rope_angles(jnp.array([m, n]), inv_freq)
        return float(jnp.sum(apply_rope(q, cos[:1], sin[:1]) * apply_rope(k, cos[1:], sin[1:])))

    for gap in [0, 3, 17]:
        scores = [score(n + gap, n) for n in [0, 5, 40, 200]]
        np.testing.assert_allclose(scores, scores[0], rtol=1e-4)
    assert abs(score(3, 0) - score(17, 0)) > 1e-2  # and it does depend on the gap


def test_llama3_frequencies_equal_meta_loop():
    cfg = tiny_config()
    config = config_from_hf(cfg)
    ours = np.asarray(rope_frequencies(config))
    theirs = inverse_frequencies(cfg)
    # All three bands occur: kept, blended and divided by the factor.
    plain = inverse_frequencies(cfg | {"rope_scaling": None})
    ratio = theirs / plain
    assert ratio.max() == 1 and ratio.min() == 1 / 8 and ((ratio > 1 / 8) & (ratio < 1)).any()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_kv_cache_decode_from_nonzero_start_equals_full_forward(checkpoint):
    """A prompt of 7, a chunk of 6 at positions 7..12, then 27 single tokens:
    each call starts where the cache ends, and matches the full forward."""
    params, config = load_checkpoint(checkpoint[0])
    length = 40
    sequence = np.random.default_rng(2).integers(0, 61, size=(2, length)).astype(np.int32)
    full = np.asarray(jit_forward(params, jnp.asarray(sequence), config))
    cache = init_cache(config, 2, length)
    pieces = [(0, 7), (7, 13)] + [(t, t + 1) for t in range(13, length)]
    logits = []
    for start, end in pieces:
        step, cache = decode_step(params, jnp.asarray(sequence[:, start:end]), cache, start, config)
        logits.append(np.asarray(step))
    np.testing.assert_allclose(np.concatenate(logits, axis=1), full, rtol=1e-5, atol=1e-5)
    # The cache holds keys after RoPE, num_key_value_heads wide.
    assert cache[0].shape == (config.num_hidden_layers, 2, length, 2, 16)


def test_decode_step_refuses_positions_past_the_cache(checkpoint):
    params, config = load_checkpoint(checkpoint[0])
    cache = init_cache(config, 1, 8)
    tokens = jnp.zeros((1, 3), jnp.int32)
    decode_step(params, tokens, cache, 5, config)  # positions 5..7: fits
    for start in [6, -1]:
        with pytest.raises(ValueError, match=r"do not fit a cache of 8 positions"):
            decode_step(params, tokens, cache, start, config)
    with pytest.raises(ValueError, match=r"positions 6\.\.8 do not fit"):
        decode_step(params, tokens, cache, jnp.asarray(6), config)


def test_greedy_generation_equals_recomputing_everything(checkpoint):
    params, config = load_checkpoint(checkpoint[0])
    prompt = np.array([[5, 9, 1, 33, 2]], np.int32)
    out = np.asarray(generate(params, prompt, config, 22, jax.random.key(0), temperature=0.0))
    # No cache: the whole sequence again for each token. Zeros stand for
    # tokens not yet chosen (causal: they cannot change earlier logits),
    # so that one compiled shape serves every step.
    expected = np.zeros((1, 27), np.int32)
    expected[:, :5] = prompt
    for t in range(5, 27):
        logits = jit_forward(params, jnp.asarray(expected), config)
        expected[:, t] = np.argmax(logits[:, t - 1], axis=-1)
    np.testing.assert_array_equal(out, expected)


def test_sampling_follows_the_filtered_distribution():
    probs = np.array([0.45, 0.25, 0.15, 0.1, 0.05])
    logits = jnp.log(jnp.asarray(probs))[None]
    keys = jax.random.split(jax.random.key(4), 8)
    rows = jnp.tile(logits, (20000, 1))  # one independent draw per row

    def frequencies(**sampling):
        draws = np.asarray(sample(rows, keys[0], **sampling))
        return np.bincount(draws, minlength=5) / len(draws)

    def renormalised(p):
        return p / p.sum()

    np.testing.assert_allclose(frequencies(), probs, atol=0.015)
    np.testing.assert_allclose(
        frequencies(top_k=3), renormalised(probs * [1, 1, 1, 0, 0]), atol=0.015
    )
    # top_p: the fewest likeliest tokens whose probability reaches p.
    np.testing.assert_allclose(
        frequencies(top_p=0.65), renormalised(probs * [1, 1, 0, 0, 0]), atol=0.015
    )
    np.testing.assert_allclose(
        frequencies(top_p=0.75), renormalised(probs * [1, 1, 1, 0, 0]), atol=0.015
    )
    # Temperature 2 samples from probs ** (1/2), renormalised.
    np.testing.assert_allclose(frequencies(temperature=2.0), renormalised(probs**0.5), atol=0.015)
    assert frequencies(temperature=0.0)[0] == 1  # greedy
    assert sample(logits, keys[0], top_p=0.01) == 0  # the top token always stays
    # The same key gives the same tokens.
    assert np.array_equal(sample(logits, keys[5], top_k=4), sample(logits, keys[5], top_k=4))


def test_gradients_equal_float64_central_differences(tied, tokens):
    """jax.grad of the float32 loss against central differences of the
    float64 NumPy reference: along random directions and one per tensor.
    With a tied head, the embedding's gradient has both of its uses."""
    directory, tensors, cfg = tied
    params, config = load_checkpoint(directory)
    tokens = tokens[:, :17]
    loss, grads = jax.jit(jax.value_and_grad(next_token_loss), static_argnames="config")(
        params, jnp.asarray(tokens), config
    )
    assert abs(float(loss) - reference_loss(tensors, cfg, tokens)) < 1e-5
    grads = {k: g.astype(np.float64) for k, g in to_hf(grads).items()}
    assert grads.keys() == tensors.keys()
    rng = np.random.default_rng(5)
    directions = [{k: rng.normal(size=v.shape) for k, v in tensors.items()} for _ in range(2)]
    for name in tensors:  # and one tensor at a time, to name a wrong one
        directions.append({k: rng.normal(size=v.shape) * (k == name) for k, v in tensors.items()})
    h = 1e-4
    for direction in directions:
        plus = {k: v + h * direction[k] for k, v in tensors.items()}
        minus = {k: v - h * direction[k] for k, v in tensors.items()}
        numeric = (reference_loss(plus, cfg, tokens) - reference_loss(minus, cfg, tokens)) / (2 * h)
        analytic = sum(float(np.sum(grads[k] * direction[k])) for k in tensors)
        moved = [k for k in tensors if direction[k].any()]
        assert analytic == pytest.approx(numeric, rel=2e-4, abs=1e-6), moved[0]


def test_checkpoint_round_trip(tmp_path, key):
    for tied in [True, False]:
        config = LlamaConfig(
            vocab_size=50, hidden_size=32, intermediate_size=24, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=6,
            tie_word_embeddings=tied, rope_scaling=Llama3Scaling(32.0, 1.0, 4.0, 64),
        )  # fmt: skip
        for dtype in [jnp.float32, jnp.bfloat16]:
            params = init_params(config, key, dtype)
            directory = tmp_path / f"{tied}-{jnp.dtype(dtype).name}"
            save_checkpoint(directory, params, config)
            names = load_file(directory / "model.safetensors").keys()
            assert ("lm_head.weight" in names) is not tied
            assert "model.layers.1.self_attn.k_proj.weight" in names
            loaded, loaded_config = load_checkpoint(directory)
            assert loaded_config == config
            assert jax.tree.structure(loaded) == jax.tree.structure(params)
            for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(params), strict=True):
                assert a.dtype == b.dtype and np.array_equal(np.asarray(a), np.asarray(b))


def test_sharded_checkpoint_loads(checkpoint, tmp_path):
    directory, _, cfg = checkpoint
    tensors = load_file(directory / "model.safetensors")
    names = sorted(tensors)
    shards = {
        "model-00001-of-00002.safetensors": names[::2],
        "model-00002-of-00002.safetensors": names[1::2],
    }
    weight_map = {}
    for shard, shard_names in shards.items():
        save_file({k: tensors[k] for k in shard_names}, tmp_path / shard, {"format": "pt"})
        weight_map |= dict.fromkeys(shard_names, shard)
    index = {"metadata": {"total_size": 0}, "weight_map": weight_map}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    sharded, _ = load_checkpoint(tmp_path)
    whole, _ = load_checkpoint(directory)
    assert all(jax.tree.leaves(jax.tree.map(np.array_equal, sharded, whole)))


LLAMA_3_2 = {  # Llama 3.2 1B's published values
    "factor": 32.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
}
ROPE_FORMS = {
    # Llama 3.x as published: top-level rope_theta, rope_scaling with rope_type.
    "llama3.x": {"rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3", **LLAMA_3_2}},
    # Older files name the type "type".
    "type-key": {"rope_theta": 500000.0, "rope_scaling": {"type": "llama3", **LLAMA_3_2}},
    # What transformers 5.x writes: one rope_parameters object.
    "transformers5": {
        "rope_parameters": {"rope_theta": 500000.0, "rope_type": "llama3", **LLAMA_3_2}
    },
}


@pytest.mark.parametrize("form", ROPE_FORMS)
def test_both_config_forms(form):
    base = {k: v for k, v in tiny_config().items() if not k.startswith("rope")}
    config = config_from_hf(base | ROPE_FORMS[form])
    assert config.rope_theta == 500000.0
    assert config.rope_scaling == Llama3Scaling(32.0, 1.0, 4.0, 8192)
    assert config.rms_norm_eps == 1e-5 and config.head_dim == 16 and config.num_key_value_heads == 2
    plain = config_from_hf(base | {"rope_parameters": {"rope_theta": 7.0, "rope_type": "default"}})
    assert (plain.rope_theta, plain.rope_scaling) == (7.0, None)
    assert config_from_hf(base | {"rope_theta": 7.0}).rope_theta == 7.0
    # What transformers assumes for keys a file leaves out.
    required = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers"]
    sparse = config_from_hf({k: base[k] for k in [*required, "num_attention_heads"]})
    assert (sparse.rope_theta, sparse.rms_norm_eps, sparse.num_key_value_heads) == (
        10000.0,
        1e-6,
        4,
    )
    assert (sparse.head_dim, sparse.tie_word_embeddings, sparse.max_position_embeddings) == (
        12,
        False,
        2048,
    )


def broken(directory, tmp_path, drop=(), change=None, config=None):
    """A copy of the checkpoint with a tensor dropped or changed."""
    tensors = load_file(directory / "model.safetensors")
    tensors = {k: v for k, v in tensors.items() if k not in drop} | (change or {})
    cfg = json.loads((directory / "config.json").read_text()) | (config or {})
    write_checkpoint(tmp_path, cfg, tensors)
    return tmp_path


BAD_CHECKPOINTS = {
    "missing tensor": (
        {"drop": ["model.layers.1.mlp.up_proj.weight"]},
        "lacks tensor model.layers.1.mlp.up_proj.weight",
    ),
    "mis-shaped tensor": (
        {"change": {"model.layers.0.self_attn.k_proj.weight": np.zeros((48, 32))}},
        r"tensor model.layers.0.self_attn.k_proj.weight has shape \(48, 32\), expected \(32, 48\)",
    ),
    "extra tensor": (
        {"change": {"model.layers.0.self_attn.q_proj.bias": np.zeros(64)}},
        "does not use, e.g. model.layers.0.self_attn.q_proj.bias",
    ),
    "rope type": (
        {"config": {"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}},
        "rope_scaling.rope_type is 'yarn'.*only 'default' and 'llama3'",
    ),
    "rope parameters": (
        {"config": {"rope_scaling": {"rope_type": "llama3", "factor": 8.0}}},
        "rope_scaling lacks low_freq_factor, high_freq_factor",
    ),
    "activation": (
        {"config": {"hidden_act": "gelu"}},
        "hidden_act='gelu'; this model needs hidden_act='silu'",
    ),
    "size": ({"config": {"hidden_size": None}}, "config.json lacks hidden_size"),
    "heads": (
        {"config": {"num_key_value_heads": 3}},
        r"num_attention_heads \(4\) must be a multiple",
    ),
}


@pytest.mark.parametrize("case", BAD_CHECKPOINTS)
def test_bad_checkpoints_say_what_is_wrong(case, checkpoint, tmp_path):
    changes, message = BAD_CHECKPOINTS[case]
    with pytest.raises(ValueError, match=message):
        load_checkpoint(broken(checkpoint[0], tmp_path, **changes))


def test_missing_files_say_what_is_wrong(checkpoint, tmp_path):
    with pytest.raises(ValueError, match=r"has no config\.json"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text((checkpoint[0] / "config.json").read_text())
    with pytest.raises(
        ValueError, match=r"has no model\.safetensors or model\.safetensors\.index\.json"
    ):
        load_checkpoint(tmp_path)


def test_bad_tokens_and_configs_say_what_is_wrong(checkpoint):
    params, config = load_checkpoint(checkpoint[0])
    with pytest.raises(
        ValueError, match=r"token 61 \(at flat index 2\) is outside the vocabulary 0..60"
    ):
        forward(params, np.array([[1, 2, 61]]), config)
    with pytest.raises(ValueError, match="token -1"):
        forward(params, np.array([[-1, 2]]), config)
    with pytest.raises(ValueError, match="integers"):
        forward(params, np.array([1.0, 2.0]), config)
    with pytest.raises(
        ValueError, match="65 positions do not fit the context of max_position_embeddings=64"
    ):
        forward(params, np.zeros((1, 65), np.int32), config)
    with pytest.raises(ValueError, match="70 positions do not fit"):
        generate(params, np.zeros((1, 50), np.int32), config, 20, jax.random.key(0))
    bad_sampling = {
        "new_tokens must be at least 1": {"new_tokens": 0},
        "temperature must be >= 0": {"temperature": -1.0},
        r"top_k must lie in 1\.\.61, not 62": {"top_k": 62},
        r"top_p must lie in \(0, 1\], not 0": {"top_p": 0.0},
    }
    for message, change in bad_sampling.items():
        with pytest.raises(ValueError, match=message):
            arguments = {"new_tokens": 2, "key": jax.random.key(0)} | change
            generate(params, np.zeros((1, 3), np.int32), config, **arguments)
    bad_configs = {
        "head_dim must be even": {"head_dim": 7},
        "num_hidden_layers must be an integer >= 1": {"num_hidden_layers": 0},
        r"hidden_size \(50\) must be a multiple of num_attention_heads \(4\)": {"hidden_size": 50},
        "rms_norm_eps must be positive": {"rms_norm_eps": 0.0},
        "low_freq_factor < high_freq_factor": {"rope_scaling": Llama3Scaling(8.0, 4.0, 4.0, 64)},
    }
    for message, change in bad_configs.items():
        with pytest.raises(ValueError, match=message):
            LlamaConfig(**change)


def test_command_line_writes_logits(checkpoint, tmp_path):
    directory = checkpoint[0]
    out = tmp_path / "logits.npy"
    done = subprocess.run(
        [sys.executable, "-m", "snippets.llama", "logits", "--checkpoint", str(directory),
         "--tokens", "1,5,9,60", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    logits = np.load(out)
    params, config = load_checkpoint(directory)
    expected = forward(params, np.array([[1, 5, 9, 60]]), config)
    assert logits.dtype == np.float32 and logits.shape == (1, 4, 61)
    np.testing.assert_allclose(logits, expected, rtol=1e-6, atol=1e-6)


def test_command_line_generates_bytes(tmp_path, capsys, key):
    from snippets.llama_cli import main

    config = LlamaConfig(num_hidden_layers=1, hidden_size=32, intermediate_size=48, head_dim=8)
    params = init_params(config, key)
    save_checkpoint(tmp_path, params, config)
    args = ["generate", "--checkpoint", str(tmp_path), "--prompt", "héllo", "--max-new-tokens", "6"]
    assert main([]) == 0 and "logits" in capsys.readouterr().out  # no command: help
    assert main([*args, "--temperature", "0"]) == 0
    expected = generate(
        params, encode_bytes("héllo"), config, 6, jax.random.key(0), temperature=0.0
    )
    assert capsys.readouterr().out == decode_bytes(expected[0]) + "\n"
    assert main([*args, "--top-k", "5", "--top-p", "0.9", "--seed", "3"]) == 0
    assert capsys.readouterr().out.startswith("héllo")
    assert main(["logits", "--checkpoint", str(tmp_path), "--tokens", "1,x", "--out", "x.npy"]) == 2
    assert "--tokens takes integers and commas, not '1,x'" in capsys.readouterr().err


def test_generate_refuses_a_tokenizer_it_does_not_have(checkpoint, capsys, tmp_path):
    from snippets.llama_cli import main

    assert main(["generate", "--checkpoint", str(checkpoint[0]), "--prompt", "hi"]) == 2
    assert "vocab_size=61" in capsys.readouterr().err
    # It says so from config.json alone, before reading any weights.
    (tmp_path / "config.json").write_text((checkpoint[0] / "config.json").read_text())
    assert main(["generate", "--checkpoint", str(tmp_path), "--prompt", "hi"]) == 2
    assert "vocab_size=61" in capsys.readouterr().err


def test_bytes_round_trip():
    text = "Llama — 羊驼"
    tokens = encode_bytes(text)
    assert tokens.shape == (1, len(text.encode())) and tokens.max() < 256
    assert decode_bytes(tokens[0]) == text


def test_bfloat16_forward_stays_close(checkpoint, tokens):
    """bfloat16 weights and activations, with the norm statistics, softmax
    and loss in float32: logits within bfloat16's precision of float32."""
    params, config = load_checkpoint(checkpoint[0])
    half = jax.tree.map(lambda p: p.astype(jnp.bfloat16), params)
    low = jit_forward(half, jnp.asarray(tokens), config)
    assert low.dtype == jnp.bfloat16
    full = np.asarray(jit_forward(params, jnp.asarray(tokens), config))
    assert np.abs(np.asarray(low, np.float32) - full).max() < 0.1 * np.abs(full).max()
