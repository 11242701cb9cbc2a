"""`python -m snippets.llama`: logits and text from a checkpoint directory,
and the chapter's model trained on the site's own text.

python -m snippets.llama logits --checkpoint DIR --tokens 1,5,9 --out x.npy
python -m snippets.llama generate --checkpoint DIR --prompt "Once"
python -m snippets.llama train --out DIR --steps 300
"""

import argparse
import sys

import jax
import numpy as np

from snippets.llama import check_tokens, forward
from snippets.llama_checkpoint import load_checkpoint, load_config
from snippets.llama_generate import decode_bytes, encode_bytes, generate
from snippets.llama_train_cli import add_train_command


def parse_tokens(text):
    try:
        return np.array([[int(t) for t in text.split(",")]], np.int32)
    except ValueError:
        message = f"--tokens takes integers and commas, not {text!r}"
        raise ValueError(message) from None


def logits_command(args):
    params, config = load_checkpoint(args.checkpoint)
    tokens = parse_tokens(args.tokens)
    check_tokens(tokens, config)  # jit sees tracers: check the values here
    logits = jax.jit(forward, static_argnames="config")(params, tokens, config)
    np.save(args.out, np.asarray(logits, np.float32))  # [1, T, V]
    print(f"wrote {args.out}: float32 logits of shape {logits.shape}")


def generate_command(args):
    config = load_config(args.checkpoint)  # refuse before reading weights
    if config.vocab_size != 256:
        raise ValueError(
            "--prompt is read as UTF-8 bytes, a vocabulary of 256, but this "
            f"checkpoint has vocab_size={config.vocab_size}: its tokenizer is "
            "not the byte one (the logits command takes token ids)"
        )
    params, config = load_checkpoint(args.checkpoint)
    sampling = {"temperature": args.temperature}
    sampling |= {"top_k": args.top_k, "top_p": args.top_p}
    tokens = generate(
        params, encode_bytes(args.prompt), config, args.max_new_tokens,
        jax.random.key(args.seed), **sampling,
    )  # fmt: skip
    print(decode_bytes(tokens[0]))


def parser():
    top = argparse.ArgumentParser(prog="python -m snippets.llama")
    commands = top.add_subparsers(dest="command")
    logits = commands.add_parser("logits", help="write logits [1, T, V]")
    logits.add_argument("--tokens", required=True, help="ids, e.g. 1,5,9")
    logits.add_argument("--out", required=True, help="a .npy file")
    logits.set_defaults(run=logits_command)
    gen = commands.add_parser("generate", help="continue a prompt (bytes)")
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--max-new-tokens", type=int, default=200)
    gen.add_argument("--temperature", type=float, default=1.0, help="0: greedy")
    gen.add_argument("--top-k", type=int, default=None)
    gen.add_argument("--top-p", type=float, default=None)
    gen.add_argument("--seed", type=int, default=0)
    gen.set_defaults(run=generate_command)
    for command in (logits, gen):
        command.add_argument("--checkpoint", required=True, help="a directory")
    add_train_command(commands)
    return top


def main(argv=None):
    args = parser().parse_args(argv)
    if args.command is None:  # nothing asked: say what there is
        parser().print_help()
        return 0
    try:
        args.run(args)
    except ValueError as error:  # bad input: say what, without a traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
