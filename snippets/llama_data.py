"""Chapter "Llama from scratch": the training text, its split, and the count
baselines that the trained model's bits per byte are measured against."""

# --8<-- [start:corpus]
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

SOURCES = ["docs/*.md", "snippets/*.py"]  # the chapters and their code


def find_repository():
    """The clone this code runs in: the working folder or one above it,
    or the clone whose virtual environment runs Python (`make env` makes
    it there, as .venv)."""
    here = [Path.cwd(), *Path.cwd().parents]
    for folder in [*here, Path(sys.prefix).parent]:
        if all((folder / s.split("/")[0]).is_dir() for s in SOURCES):
            return folder
    raise FileNotFoundError(
        "the training text is this site's own source: run this code inside "
        "a clone of the repository (git clone, then make env)"
    )


def read_corpus(root):
    """Every source file's bytes, in a fixed order: [n] uint8."""
    files = [f for pattern in SOURCES for f in sorted(Path(root).glob(pattern))]
    if not files:
        raise FileNotFoundError(f"{root} holds no {' or '.join(SOURCES)}")
    return np.frombuffer(b"".join(f.read_bytes() for f in files), np.uint8)


# --8<-- [end:corpus]


# --8<-- [start:split]
CHUNK = 1024  # bytes a chunk
EVERY = 10  # one chunk in EVERY is held out for validation


def split_corpus(data, chunk=CHUNK, every=EVERY):
    """Cut the bytes into chunks [n, chunk]; every `every`-th chunk is held
    out for validation, the rest train. The same text, the same split."""
    n = len(data) // chunk
    if n < every:
        raise ValueError(
            f"{len(data)} bytes make {n} chunks of {chunk}: need at least "
            f"{every} for a validation chunk"
        )
    chunks = data[: n * chunk].reshape(n, chunk).astype(np.int32)
    held_out = np.arange(n) % every == every - 1
    return chunks[~held_out], chunks[held_out]


def validation_windows(chunks, length):
    """Each held-out chunk cut into windows of length + 1 bytes: the model
    reads `length` of them and predicts each next one. [windows, length+1]"""
    per_chunk = chunks.shape[1] // (length + 1)
    used = chunks[:, : per_chunk * (length + 1)]
    return used.reshape(-1, length + 1)


def spread_sample(windows, count):
    """`count` windows spread evenly over all of them: a fixed sample that
    is quicker to score than the whole validation text."""
    return windows[:: max(1, len(windows) // count)][:count]


def sample_windows(key, chunks, batch_size, length):
    """A batch [batch_size, length + 1] of windows at random places inside
    random training chunks: no window runs across a held-out chunk."""
    chunk_key, offset_key = jax.random.split(key)
    rows = jax.random.randint(chunk_key, (batch_size,), 0, chunks.shape[0])
    last_start = chunks.shape[1] - length - 1
    starts = jax.random.randint(offset_key, (batch_size,), 0, last_start + 1)
    columns = (
        starts[:, None] + jnp.arange(length + 1)[None, :]
    )  # [batch, length+1]
    return chunks[rows[:, None], columns]


# --8<-- [end:split]


# --8<-- [start:baselines]
def unigram_bits(train, targets):
    """Bits per byte of p(b) = (count of b + 1) / (bytes + 256): byte
    frequencies with add-one smoothing, so no byte has probability 0."""
    counts = np.bincount(np.ravel(train), minlength=256) + 1.0
    return float(-np.mean(np.log2(counts[targets] / counts.sum())))


def bigram_bits(train, previous, targets):
    """Bits per byte of p(b | a) = (count of a b + 1) / (count of pairs
    that start with a + 256), counting the pairs inside each training
    chunk [rows, chunk] only."""
    counts = np.ones((256, 256))
    train = np.asarray(train)
    np.add.at(counts, (train[:, :-1].ravel(), train[:, 1:].ravel()), 1.0)
    p = counts[previous, targets] / counts.sum(axis=1)[previous]
    return float(-np.mean(np.log2(p)))


# --8<-- [end:baselines]
