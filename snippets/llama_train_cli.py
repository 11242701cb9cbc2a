"""`python -m snippets.llama train`: the chapter's model, trained on the
site's own text with a progress line, saved in Hugging Face's layout."""

import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from snippets.llama_checkpoint import save_checkpoint
from snippets.llama_config import init_params
from snippets.llama_data import read_corpus, split_corpus, validation_windows
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
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--bf16", action="store_true", help="bfloat16 compute (for a GPU)"
    )
    train.set_defaults(run=train_command)


def progress_line(steps, shape, out=sys.stderr):
    """watch(): rewrites one line with the step, the loss and tokens/s."""
    first = {}

    def watch(step, params, loss):
        if loss is None:
            return
        now = time.perf_counter()
        first.setdefault("time", now)  # after step 1, which compiled
        first.setdefault("step", step)
        done = (step - first["step"]) * shape[0] * shape[1]
        rate = f"{done / (now - first['time']):,.0f} tokens/s" if done else ""
        out.write(f"\rstep {step}/{steps}  loss {float(loss):.3f}  {rate}  ")
        if step == steps:
            out.write("\n")
        out.flush()

    return watch


def train_command(args):
    config, shape = CHAPTER_MODEL, (args.batch_size, args.seq_len)
    train_chunks, held_out = split_corpus(read_corpus(REPOSITORY))
    check_training(args.steps, shape, train_chunks.shape[1], config)
    params = init_params(config, jax.random.key(args.seed))
    optimizer = llama_optimizer(params, args.steps, peak=args.peak_lr)
    dtype = jnp.bfloat16 if args.bf16 else None
    params, _, tokens_per_s = train(
        params, config, optimizer, train_chunks, jax.random.key(args.seed + 1),
        args.steps, shape, progress_line(args.steps, shape), dtype,
    )  # fmt: skip
    bits = bits_per_byte(
        params, validation_windows(held_out, args.seq_len), config
    )
    save_checkpoint(args.out, params, config)
    print(f"saved {args.out}: {args.steps} steps, {tokens_per_s:,.0f} tokens/s")
    print(f"validation: {bits:.3f} bits per byte")
