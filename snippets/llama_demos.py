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
        load_checkpoint, save_checkpoint, to_hf,
    )  # fmt: skip
    from snippets.llama_config import Llama3Scaling, LlamaConfig, init_params
    from snippets.llama_data import (
        bigram_bits, find_repository, read_corpus, split_corpus,
        unigram_bits, validation_windows,
    )  # fmt: skip
    from snippets.llama_generate import (
        decode_bytes, decode_step, encode_bytes, generate, init_cache, sample,
    )  # fmt: skip
    from snippets.llama_layers import (
        apply_rope, attention, causal_mask, rms_norm, rope_angles,
        rope_frequencies,
    )  # fmt: skip
    from snippets.llama_train import (
        CHAPTER_MODEL, Settings, bits_per_byte, llama_optimizer,
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
    Q = config.head_dim
    q, k = jax.random.normal(jax.random.key(2), (2, 1, 1, 1, Q))  # [B,T,h,Q]

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

    # --8<-- [start:llama3_scaling]
    llama31 = LlamaConfig(  # Llama 3.1 8B's rotary settings
        hidden_size=4096, num_attention_heads=32, head_dim=128,
        rope_theta=500000.0, rope_scaling=Llama3Scaling(factor=8.0),
    )  # fmt: skip
    plain = dataclasses.replace(llama31, rope_scaling=None)
    before = 2 * np.pi / np.asarray(rope_frequencies(plain), np.float64)
    after = 2 * np.pi / np.asarray(rope_frequencies(llama31), np.float64)
    s = llama31.rope_scaling
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

    # --8<-- [start:gqa_demo]
    H, KV = config.num_attention_heads, config.num_key_value_heads
    kv_head = jnp.arange(KV)
    print("query head  ", list(range(H)))
    print("repeat reads", jnp.repeat(kv_head, H // KV).tolist(), "(right)")
    print("tile reads  ", jnp.tile(kv_head, H // KV).tolist(), "(wrong)")
    # GQA is multi-head attention whose key and value weights come in
    # groups of identical heads: build that MHA and compare.
    layer = jax.tree.map(lambda w: w[0], params["layers"])  # first block
    widen = partial(jnp.repeat, repeats=H // KV, axis=1)
    mha = layer | {
        name: widen(layer[name].reshape(-1, KV, Q)).reshape(-1, H * Q)
        for name in ["k", "v"]
    }
    mha_config = dataclasses.replace(config, num_key_value_heads=H)
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
    scores = jnp.log(jnp.array([[0.5, 0.3, 0.15, 0.05]]))  # [1, V]
    keys = jax.random.split(jax.random.key(5), 2000)
    for options in [{}, {"top_k": 2}, {"top_p": 0.9}, {"temperature": 0}]:
        draw = partial(sample, scores, **options)
        drawn = jax.vmap(draw)(keys)  # [2000, 1]
        share = np.bincount(np.ravel(drawn), minlength=4) / drawn.size
        print(f"{options!s:20} frequencies {share.round(2)}")
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
    # --8<-- [end:hf_layout]

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
    watched = windows[:: len(windows) // 32][:32]  # a fixed sample of them
    curve = {}

    def watch(step, params, loss):  # validation bits every 50 steps
        if step % 50 == 0 or step == steps:
            curve[step] = bits_per_byte(params, watched, config)

    started = time.perf_counter()
    trained, losses, tokens_per_s = train(
        params, config, optimizer, train_chunks, jax.random.key(6),
        steps, shape, watch,
    )  # fmt: skip
    train_seconds = time.perf_counter() - started
    bits = bits_per_byte(trained, windows, config)
    print(f"{steps} steps of {shape[0]} windows; validation bits per byte:")
    for name, value in {"model": bits, **baselines}.items():
        print(f"{name:8} {value:.3f}")
    assert bits < baselines["bigram"] < baselines["unigram"] < 8
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
    assert abs(float(loss_16) - float(loss_32)) < 0.02
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
