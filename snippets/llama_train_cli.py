"""`python -m snippets.llama train`: the chapter's model, trained on the
site's own text with a progress line, saved in Hugging Face's layout."""

import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from snippets.llama_checkpoint import save_checkpoint
from snippets.llama_config import init_params
from snippets.llama_data import (
    read_corpus, split_corpus, spread_sample, validation_windows,
)  # fmt: skip
from snippets.llama_train import (
    CHAPTER_MODEL,
    Settings,
    bits_per_byte,
    check_training,
    llama_optimizer,
    train,
)

REPOSITORY = Path(__file__).resolve().parents[1]  # the text: this clone


def add_train_command(commands):
    defaults = Settings()
    train = commands.add_parser("train", help="train the chapter's model")
    train.add_argument("--out", required=True, help="checkpoint directory")
    train.add_argument("--steps", type=int, default=defaults.steps)
    train.add_argument("--batch-size", type=int, default=defaults.batch_size)
    train.add_argument(
        "--seq-len", type=int, default=defaults.length, help="bytes a window"
    )
    train.add_argument("--peak-lr", type=float, default=defaults.peak)
    train.add_argument(
        "--seed", type=int, default=0,
        help="key(seed) draws the initial weights, key(seed + 1) the batches",
    )  # fmt: skip
    train.add_argument(
        "--eval-every", type=int, default=defaults.watch_every,
        help="steps between validation lines (on a sample of the windows)",
    )  # fmt: skip
    train.add_argument(
        "--bf16", action="store_true", help="bfloat16 compute (for a GPU)"
    )
    train.set_defaults(run=train_command)


def progress_line(steps, shape, validate=None, every=50, out=sys.stderr):
    """watch(): rewrites one line with the step, the loss and tokens/s.
    With validate(params) -> bits per byte, every `every` steps and after
    the last it also writes a line that stays, with that number."""
    clock = {"spent": 0.0}  # seconds in validate, left out of the rate

    def show(text, end=""):
        out.write(f"\r{text:<64}{end}")
        out.flush()

    def watch(step, params, loss):
        if validate is not None and (step % every == 0 or step == steps):
            began = time.perf_counter()
            bits = validate(params)
            clock["spent"] += time.perf_counter() - began
            show(f"step {step}/{steps}  validation {bits:.3f} bits/byte", "\n")
        if loss is None:
            return
        now = time.perf_counter()
        if "start" not in clock:  # after step 1, which compiled
            clock.update(start=now, step=step, spent=0.0)
        done = (step - clock["step"]) * shape[0] * shape[1]
        seconds = now - clock["start"] - clock["spent"]
        rate = f"{done / seconds:,.0f} tokens/s" if done else ""
        show(f"step {step}/{steps}  loss {float(loss):.3f}  {rate}")
        if step == steps:
            out.write("\n")

    return watch


def train_command(args):
    config, shape = CHAPTER_MODEL, (args.batch_size, args.seq_len)
    train_chunks, held_out = split_corpus(read_corpus(REPOSITORY))
    check_training(args.steps, shape, train_chunks.shape[1], config)
    windows = validation_windows(held_out, args.seq_len)
    watched = spread_sample(windows, Settings().watch_windows)
    params = init_params(config, jax.random.key(args.seed))
    optimizer = llama_optimizer(params, args.steps, peak=args.peak_lr)
    dtype = jnp.bfloat16 if args.bf16 else None
    watch = progress_line(
        args.steps, shape, lambda p: bits_per_byte(p, watched, config),
        args.eval_every,
    )  # fmt: skip
    params, _, tokens_per_s = train(
        params, config, optimizer, train_chunks, jax.random.key(args.seed + 1),
        args.steps, shape, watch, dtype,
    )  # fmt: skip
    bits = bits_per_byte(params, windows, config)
    save_checkpoint(args.out, params, config)
    print(f"saved {args.out}: {args.steps} steps, {tokens_per_s:,.0f} tokens/s")
    print(f"validation: {bits:.3f} bits per byte")
