"""Chapter "Llama from scratch": the page's demonstrations, in page order.

The model is in llama_config.py, llama_layers.py, llama.py and
llama_generate.py; checkpoints in llama_hf_config.py and
llama_checkpoint.py; training in llama_data.py and llama_train.py.
"""

if __name__ == "__main__":
    # --8<-- [start:page_setup]
    import dataclasses
    import re
    import tempfile
    from typing import Any  # the optimizers' states hold pytrees of any kind

    import matplotlib.pyplot as plt
    # --8<-- [end:page_setup]

    import json
    import math
    import time
    from functools import partial
    from pathlib import Path

    import jax
    import jax.numpy as jnp
    import numpy as np

    from snippets.llama import forward, next_token_loss
    from snippets.llama_checkpoint import (
        from_hf, load_checkpoint, save_checkpoint, to_hf,
    )  # fmt: skip
    from snippets.llama_config import Llama3Scaling, LlamaConfig, init_params
    from snippets.llama_data import (
        EVERY, bigram_bits, find_repository, read_corpus, split_corpus,
        spread_sample, unigram_bits, validation_windows,
    )  # fmt: skip
    from snippets.llama_generate import (
        decode_bytes, decode_step, encode_bytes, generate, init_cache, sample,
    )  # fmt: skip
    from snippets.llama_hf_config import HF_DEFAULTS, config_from_hf
    from snippets.llama_layers import (
        apply_rope, attention, causal_mask, rms_norm, rope_angles,
        rope_frequencies, rope_interleaved, to_half_split,
    )  # fmt: skip
    from snippets.llama_train import (
        CHAPTER_MODEL, END_FRACTION, LLAMA2_ADAMW, LLAMA2_CLIP,
        WARMUP_FRACTION, Settings, bits_per_byte, llama_optimizer,
        nats_per_token, train,
    )  # fmt: skip
    from snippets.training import mixed_precision

    # --8<-- [start:chapter_config]
    config = CHAPTER_MODEL
    try:
        LlamaConfig(num_attention_heads=6, num_key_value_heads=4)
    except ValueError as error:
        print(f"ValueError: {error}")
    # --8<-- [end:chapter_config]

    # --8<-- [start:init_model]
    params = init_params(config, jax.random.key(0))
    for name, leaf in params.items():
        if name != "layers":
            print(f"{name:8} {leaf.shape}")
    for name, leaf in params["layers"].items():
        print(f"layers.{name:9} {leaf.shape}")
    n_params = sum(leaf.size for leaf in jax.tree.leaves(params))
    print(f"N = {n_params:,} parameters")
    # --8<-- [end:init_model]

    # --8<-- [start:rms_demo]
    x = 10 * jax.random.normal(jax.random.key(1), (2, 5, config.hidden_size))
    ones = jnp.ones(config.hidden_size)
    normed = rms_norm(x, ones, config.rms_norm_eps)
    rms = jnp.sqrt(jnp.mean(normed**2, axis=-1))
    print(f"RMS before: {float(jnp.sqrt(jnp.mean(x**2))):.2f}, ", end="")
    print(f"after: {float(rms.min()):.4f} to {float(rms.max()):.4f}")
    assert jnp.allclose(rms, 1.0, atol=1e-4)
    x16, ones16 = x.astype(jnp.bfloat16), ones.astype(jnp.bfloat16)
    # statistics in float32 inside; a bfloat16 model gets bfloat16 back
    assert rms_norm(x16, ones16, config.rms_norm_eps).dtype == jnp.bfloat16
    # --8<-- [end:rms_demo]

    # --8<-- [start:rope_demo]
    inv_freq = rope_frequencies(config)
    d_h = config.head_dim
    # one query and one key: [B, T, heads, d_h] = [1, 1, 1, d_h] each
    q, k = jax.random.normal(jax.random.key(2), (2, 1, 1, 1, d_h))

    def score(p_query, p_key):
        """q . k after rotating q to position p_query and k to p_key."""
        cos, sin = rope_angles(jnp.array([p_query, p_key]), inv_freq)
        rotated_q = apply_rope(q, cos[:1], sin[:1])
        rotated_k = apply_rope(k, cos[1:], sin[1:])
        return float(jnp.sum(rotated_q * rotated_k))

    pairs = [(7, 2), (40, 35), (120, 115)]  # all five positions apart
    scores = [score(a, b) for a, b in pairs]
    print("q·k, keys five positions back:", [f"{s:.5f}" for s in scores])
    assert max(scores) - min(scores) < 1e-4 * abs(scores[0])
    assert abs(score(7, 2) - score(7, 6)) > 1e-2  # the distance matters
    # --8<-- [end:rope_demo]

    # --8<-- [start:rope_layouts]
    # One head's query and key weights in Meta's layout, and some inputs.
    scale = config.hidden_size**-0.5  # keeps q and k entries of order one
    w_meta = scale * jax.random.normal(
        jax.random.key(7), (2, config.hidden_size, d_h)
    )
    x = jax.random.normal(jax.random.key(8), (1, 24, config.hidden_size))
    positions = jnp.arange(x.shape[1])  # T = 24
    cos, sin = rope_angles(positions, inv_freq)

    def scores(rope, w_q, w_k):  # q·k for every pair of positions: [T, T]
        q, k = (rope((x @ w)[:, :, None, :]) for w in (w_q, w_k))
        return jnp.einsum("bthd,bshd->ts", q, k)

    meta = scores(lambda y: rope_interleaved(y, positions, inv_freq), *w_meta)
    half_split = partial(apply_rope, cos=cos, sin=sin)
    converted = scores(half_split, *(to_half_split(w, 1) for w in w_meta))
    unconverted = scores(half_split, *w_meta)  # Meta's weights, HF's rope
    right, wrong = (jnp.abs(s - meta) for s in (converted, unconverted))
    print(f"HF layout, permuted weights: largest gap {float(right.max()):.0e}")
    print(f"HF layout, Meta's weights: largest gap {float(wrong.max()):.2f},")
    print(f"  at positions 0, 0: {float(wrong[0, 0])}")
    assert right.max() < 1e-5 * jnp.abs(meta).max()
    assert wrong.max() > 0.1 * jnp.abs(meta).max() and wrong[0, 0] == 0
    # --8<-- [end:rope_layouts]

    # --8<-- [start:llama3_scaling]
    llama31_8b = LlamaConfig(  # Llama 3.1 8B, as its config.json says
        vocab_size=128256, hidden_size=4096, intermediate_size=14336,
        num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
        head_dim=128, max_position_embeddings=131072, rms_norm_eps=1e-5,
        rope_theta=500000.0, rope_scaling=Llama3Scaling(factor=8.0),
        tie_word_embeddings=False,
    )  # fmt: skip
    plain = dataclasses.replace(llama31_8b, rope_scaling=None)
    before = 2 * np.pi / np.asarray(rope_frequencies(plain), np.float64)
    after = 2 * np.pi / np.asarray(rope_frequencies(llama31_8b), np.float64)
    s = llama31_8b.rope_scaling
    short = before < s.original_max_position_embeddings / s.high_freq_factor
    long = before > s.original_max_position_embeddings / s.low_freq_factor
    assert np.allclose(after[short], before[short], rtol=1e-6)
    assert np.allclose(after[long], before[long] * s.factor, rtol=1e-6)
    print(f"{short.sum()} wavelengths kept, {long.sum()} stretched by ", end="")
    print(f"{s.factor:g}, {(~short & ~long).sum()} blended")
    # --8<-- [end:llama3_scaling]

    # --8<-- [start:draw_scaling]
    fig, ax = plt.subplots(num="rope_wavelengths", figsize=(7, 3.6))
    pair = np.arange(len(before))
    ax.semilogy(pair, before, "o", markersize=3, label="rope_theta alone")
    ax.semilogy(pair, after, "o", markersize=3, label="with llama3 scaling")
    for limit in [
        s.original_max_position_embeddings / f
        for f in (s.high_freq_factor, s.low_freq_factor)
    ]:
        ax.axhline(limit, linestyle=":", color="C2")
    ax.set(xlabel="pair of dimensions i", ylabel="wavelength (positions)")
    ax.legend()
    plt.show()
    # --8<-- [end:draw_scaling]

    # --8<-- [start:bf16_positions]
    position = 257  # 9 significant bits: one more than bfloat16 has
    in_bf16 = int(jnp.asarray(position, jnp.bfloat16))
    print(f"position {position} in bfloat16: {in_bf16}")
    assert in_bf16 != position == int(jnp.asarray(position, jnp.float32))
    # --8<-- [end:bf16_positions]

    # --8<-- [start:gqa_demo]
    n_h, n_kv = config.num_attention_heads, config.num_key_value_heads
    kv_head = jnp.arange(n_kv)
    print("query head  ", list(range(n_h)))
    print("repeat reads", jnp.repeat(kv_head, n_h // n_kv).tolist(), "(right)")
    print("tile reads  ", jnp.tile(kv_head, n_h // n_kv).tolist(), "(wrong)")
    # GQA is multi-head attention whose key and value weights come in
    # groups of identical heads: build that MHA and compare.
    layer = jax.tree.map(lambda w: w[0], params["layers"])  # first block
    widen = partial(jnp.repeat, repeats=n_h // n_kv, axis=1)
    mha = layer | {
        name: widen(layer[name].reshape(-1, n_kv, d_h)).reshape(-1, n_h * d_h)
        for name in ["k", "v"]
    }
    mha_config = dataclasses.replace(config, num_key_value_heads=n_h)
    x = jax.random.normal(jax.random.key(3), (2, 16, config.hidden_size))
    positions = jnp.arange(16)
    cos, sin = rope_angles(positions, inv_freq)
    mask = causal_mask(positions, positions)
    gqa_out, _ = attention(layer, x, cos, sin, mask, config)
    mha_out, _ = attention(mha, x, cos, sin, mask, mha_config)
    print(
        f"GQA vs the widened MHA: {float(jnp.abs(gqa_out - mha_out).max()):.0e}"
    )
    assert jnp.allclose(gqa_out, mha_out, atol=1e-6)
    # --8<-- [end:gqa_demo]

    # --8<-- [start:causality]
    tokens = jax.random.randint(jax.random.key(4), (2, 48), 0, 256)
    logits = forward(params, tokens, config)
    print("logits", logits.shape, logits.dtype)
    cut = 30  # change every token from position cut on
    changed = tokens.at[:, cut:].set((tokens[:, cut:] + 1) % 256)
    moved = jnp.abs(forward(params, changed, config) - logits).max(axis=-1)
    print(
        f"largest change before position {cut}: {float(moved[:, :cut].max())}"
    )
    print(f"smallest change from position {cut} on: ", end="")
    print(f"{float(moved[:, cut:].min()):.1e}")
    assert moved[:, :cut].max() == 0 and moved[:, cut:].min() > 0
    try:
        forward(params, jnp.array([[72, 105, 300]]), config)
    except ValueError as error:
        print(f"ValueError: {error}")
    # --8<-- [end:causality]

    # --8<-- [start:initial_loss]
    start_loss = float(next_token_loss(params, tokens, config))
    print(f"loss at initialisation {start_loss:.4f}; ", end="")
    print(f"ln 256 = {math.log(256):.4f}")
    assert 0 < start_loss - math.log(256) < 0.1
    # The same log-probabilities in bfloat16: float32's range of exponents,
    # but 8 significant bits instead of 24.
    log_p32 = jax.nn.log_softmax(logits, axis=-1)
    log_p16 = jax.nn.log_softmax(logits.astype(jnp.bfloat16), axis=-1)
    bf16_error = float(jnp.abs(log_p16.astype(jnp.float32) - log_p32).max())
    near = jnp.asarray(-math.log(256), jnp.bfloat16)  # a typical log p here
    bf16_spacing = abs(float(jnp.spacing(near)))
    print(f"bfloat16 numbers near -ln 256 lie {bf16_spacing} apart;")
    print(f"log-softmax in bfloat16: off by up to {bf16_error:.3f} nats")
    assert jnp.finfo(jnp.bfloat16).maxexp == jnp.finfo(jnp.float32).maxexp
    assert bf16_error > 1e-3
    # --8<-- [end:initial_loss]

    # --8<-- [start:cache_demo]
    text = encode_bytes("Every block ran, in the order shown.")  # [1, T]
    full = forward(params, text, config)  # all positions at once
    prompt_length = 8
    cache = init_cache(config, 1, text.shape[1])
    logits, cache = decode_step(
        params, text[:, :prompt_length], cache, 0, config
    )
    stepwise = [logits]
    for t in range(prompt_length, text.shape[1]):  # one token, one position
        logits, cache = decode_step(
            params, text[:, t : t + 1], cache, t, config
        )
        stepwise.append(logits)
    cache_gap = float(jnp.abs(jnp.concatenate(stepwise, axis=1) - full).max())
    print(f"cached decode vs full forward, {text.shape[1]} positions: ", end="")
    print(f"{cache_gap:.1e}")
    assert cache_gap < 1e-5
    # --8<-- [end:cache_demo]

    # --8<-- [start:sampling_demo]
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    scores = jnp.log(jnp.asarray(probs))[None]  # [1, vocab]
    n_draws = 2000
    keys = jax.random.split(jax.random.key(5), n_draws)
    cases = [  # sampling options, and the tokens they may draw
        ({}, [1, 1, 1, 1]),
        ({"top_k": 2}, [1, 1, 0, 0]),
        ({"top_p": 0.9}, [1, 1, 1, 0]),  # 0.5 + 0.3 < 0.9 <= 0.5 + 0.3 + 0.15
        ({"temperature": 0}, [1, 0, 0, 0]),  # greedy
    ]
    for options, kept in cases:
        drawn = jax.vmap(partial(sample, scores, **options))(keys)  # [n, 1]
        share = np.bincount(np.ravel(drawn), minlength=4) / n_draws
        print(f"{options!s:20} frequencies {share.round(3)}")
        expected = probs * kept / np.sum(probs * kept)  # renormalised
        # four binomial standard deviations; exactly 0 where nothing is kept
        allowed = 4 * np.sqrt(expected * (1 - expected) / n_draws)
        assert np.all(np.abs(share - expected) <= allowed)
    # --8<-- [end:sampling_demo]

    # --8<-- [start:bytes_demo]
    word = encode_bytes("Grüße")
    print(word.tolist(), "->", decode_bytes(word[0]))
    print("cut inside ü:", decode_bytes(word[0, :3]))
    # --8<-- [end:bytes_demo]

    # --8<-- [start:hf_layout]
    tensors = to_hf(params)
    for name, w in tensors.items():
        if not name.startswith("model.layers.") or ".0." in name:
            print(f"{name:42} {w.shape}")
    print(f"... and the same for model.layers.1; {len(tensors)} tensors")
    assert "lm_head.weight" not in tensors  # tied: the head is embed_tokens
    stray = {"model.layers.0.self_attn.q_proj.bias": np.zeros(n_h * d_h)}
    try:
        from_hf(tensors | stray, config)
    except ValueError as error:
        print(f"ValueError: {error}")
    # The exception: with tied embeddings, an lm_head.weight is ignored.
    extra_head = {"lm_head.weight": tensors["model.embed_tokens.weight"] + 1}
    loaded = from_hf(tensors | extra_head, config)
    assert all(jax.tree.leaves(jax.tree.map(jnp.array_equal, loaded, params)))
    # --8<-- [end:hf_layout]

    # --8<-- [start:published_config]
    published = {  # the keys of Llama 3.1 8B's config.json that are read
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_act": "silu", "attention_bias": False, "mlp_bias": False,
        "vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336,
        "num_hidden_layers": 32, "num_attention_heads": 32,
        "num_key_value_heads": 8, "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
        "rope_scaling": {
            "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192, "rope_type": "llama3",
        },
        "tie_word_embeddings": False,
    }  # fmt: skip
    assert config_from_hf(published) == llama31_8b  # the config used above
    yarn = {"rope_type": "yarn", "factor": 4.0}
    try:
        config_from_hf(published | {"rope_scaling": yarn})
    except ValueError as error:
        print(f"ValueError: {error}")
    # --8<-- [end:published_config]

    # --8<-- [start:read_text]
    data = read_corpus(find_repository())
    train_chunks, held_out = split_corpus(data)
    settings = Settings()
    windows = validation_windows(held_out, settings.length)
    print(f"{len(data):,} bytes; chunks: {len(train_chunks)} train, ", end="")
    print(f"{len(held_out)} validation = {len(windows)} windows", end="")
    print(f" of {settings.length} + 1 bytes")
    # --8<-- [end:read_text]

    # --8<-- [start:count_baselines]
    previous, targets = windows[:, :-1], windows[:, 1:]  # what the model sees
    baselines = {
        "uniform": math.log2(256),
        "unigram": unigram_bits(train_chunks, targets),
        "bigram": bigram_bits(train_chunks, previous, targets),
    }
    for name, bits in baselines.items():
        print(f"{name:8} {bits:.3f} bits per byte")
    # --8<-- [end:count_baselines]

    # --8<-- [start:sample_text]
    def write(params, prompt, new_tokens=100, seed=0):
        """A continuation of `prompt`, sampled at temperature 0.8 from the
        40 likeliest bytes; the same seed gives the same text."""
        tokens = generate(
            params, encode_bytes(prompt), config, new_tokens,
            jax.random.key(seed), temperature=0.8, top_k=40,
        )  # fmt: skip
        text = decode_bytes(tokens[0])
        return "".join(c if c.isprintable() or c == "\n" else "�" for c in text)

    prompt = "The gradient"
    print(write(params, prompt))
    # --8<-- [end:sample_text]

    # --8<-- [start:train_model]
    steps, shape = settings.steps, (settings.batch_size, settings.length)
    optimizer = llama_optimizer(params, steps, peak=settings.peak)
    watched = spread_sample(windows, settings.watch_windows)
    curve = {}

    def watch(step, params, loss):  # validation bits every watch_every steps
        if step % settings.watch_every == 0 or step == steps:
            curve[step] = bits_per_byte(params, watched, config)

    started = time.perf_counter()
    trained, losses, tokens_per_s = train(  # key(1): as `train --seed 0`
        params, config, optimizer, train_chunks, jax.random.key(1),
        steps, shape, watch,
    )  # fmt: skip
    train_seconds = time.perf_counter() - started
    bits = bits_per_byte(trained, windows, config)
    print(f"{steps} steps of {shape[0]} windows; validation bits per byte:")
    for name, value in {"model": bits, **baselines}.items():
        print(f"{name:8} {value:.3f}")
    assert bits < baselines["bigram"] < baselines["unigram"] < 8
    *_, (step_before, bits_before), (_, bits_last) = curve.items()
    assert bits_last < bits_before  # still falling when training stopped
    # --8<-- [end:train_model]

    # --8<-- [start:draw_losses]
    fig, ax = plt.subplots(num="llama_loss_curves", figsize=(7, 4))
    ax.plot(losses / math.log(2), label="training batch", alpha=0.7)
    ax.plot(list(curve), list(curve.values()), "o-", label="validation")
    for i, (name, value) in enumerate(baselines.items()):
        ax.axhline(value, linestyle="--", color=f"C{i + 2}", label=name)
    ax.set(xlabel="step", ylabel="bits per byte", ylim=(0, 9))
    ax.legend(ncol=2)
    plt.show()
    # --8<-- [end:draw_losses]

    # --8<-- [start:sample_trained]
    samples = [write(trained, prompt), write(trained, "def ", seed=1)]
    print(samples[0], samples[1], sep="\n---\n")
    # Which of the letter runs it wrote are words of the site?
    site_words = set(
        re.findall(r"[A-Za-z]{3,}", data.tobytes().decode(errors="replace"))
    )
    written = [
        word
        for text, start in zip(samples, [prompt, "def "], strict=True)
        for word in re.findall(r"[A-Za-z]{3,}", text[len(start) :])
    ]
    known = sum(word in site_words for word in written)
    print(f"{known} of the {len(written)} words it wrote occur in the site")
    # --8<-- [end:sample_trained]

    # --8<-- [start:mixed_demo]
    loss_fn = partial(next_token_loss, config=config)
    batch = jnp.asarray(windows[: settings.batch_size])
    mixed = jax.jit(jax.value_and_grad(mixed_precision(loss_fn)))
    loss_16, grads = mixed(trained, batch)
    loss_32 = nats_per_token(trained, batch, config)
    print(f"loss: float32 {float(loss_32):.4f}, bfloat16 {float(loss_16):.4f}")
    dtypes = {str(g.dtype) for g in jax.tree.leaves(grads)}
    print("gradient dtypes:", dtypes)
    assert dtypes == {"float32"}  # float32 masters get float32 gradients
    relative_gap = abs(float(loss_16) / float(loss_32) - 1)
    eps_bf16 = float(jnp.finfo(jnp.bfloat16).eps)  # 2**-7
    print(f"relative gap {relative_gap:.1e}, bfloat16's eps {eps_bf16:.1e}")
    assert relative_gap < eps_bf16
    # --8<-- [end:mixed_demo]

    # --8<-- [start:round_trip]
    with tempfile.TemporaryDirectory() as folder:
        save_checkpoint(folder, trained, config)
        print(sorted(p.name for p in Path(folder).iterdir()))
        on_disk = json.loads((Path(folder) / "config.json").read_text())
        loaded, loaded_config = load_checkpoint(folder)
    for key in [
        "architectures",
        "rope_theta",
        "tie_word_embeddings",
        "torch_dtype",
    ]:
        print(f"{key}: {on_disk[key]}")
    assert loaded_config == config
    same = forward(loaded, text, config) == forward(trained, text, config)
    print("reloaded logits equal:", bool(same.all()))
    assert same.all()
    # --8<-- [end:round_trip]
