"""The Llama chapter's benchmark tables, from results/bench-llama-*.json
(written by `python -m snippets.bench_llama --out ...`)."""

from __future__ import annotations

from sitebuild.page import PageError
from sitebuild.results_files import RESULTS, fmt_time, load, machine_name, table


def _files() -> list[str]:
    """The results files, CPU first, then the accelerators by name."""
    names = sorted(p.name for p in RESULTS.glob("bench-llama-*.json"))
    names.sort(key=lambda name: name != "bench-llama-cpu.json")
    if not names:
        raise PageError(f"{RESULTS} holds no bench-llama-*.json: run snippets.bench_llama")
    return names


def _suite(result: dict, name: str) -> dict | None:
    return next((s for s in result["suites"] if s["name"] == name), None)


def _rate(row: dict) -> str:
    return f"{row['tokens_per_s']:,.0f} tokens/s"


def _rows(result: dict) -> list[list[str]]:
    rows = []
    training = _suite(result, "llama training")
    if training:
        batch, length = training["shape"]
        reference = training["reference"]
        base = training["rows"][reference]["tokens_per_s"]
        for name, row in training["rows"].items():
            what = f"training the chapter's model, {batch} × {length} tokens a step, {name}"
            ratio = row["tokens_per_s"] / base
            note = "" if name == reference else f" ({ratio:.2f}x the {reference} rate)"
            rows.append([what, _rate(row) + note])
    decoding = _suite(result, "llama decoding")
    if decoding:
        cached = decoding["rows"][decoding["reference"]]["median_s"]
        for name, row in decoding["rows"].items():
            ratio = row["median_s"] / cached
            note = "" if name == decoding["reference"] else f" ({ratio:.3g}x the time)"
            what = f"decoding {decoding['new_tokens']} tokens, {name}"
            rows.append([what, _rate(row) + note])
    attention = _suite(result, "llama attention")
    if attention:
        size = f"{attention['batch']} × {attention['length']}, {attention['dtype']}"
        for name, row in attention["rows"].items():
            gap = attention["max_difference"].get(name, 0.0)
            note = "" if name == attention["reference"] else f" (outputs differ by {gap:.1e})"
            what = f"attention layer forward and backward ({size}), {name}"
            rows.append([what, fmt_time(row["median_s"]) + note])
        for name, error in attention.get("errors", {}).items():
            rows.append([f"attention, {name}", f"failed: {error.splitlines()[0][:80]}"])
    mfu = _suite(result, "llama MFU")
    if mfu and not mfu["dry_run"]:  # a dry run only exercises the code path
        row = mfu["rows"][mfu["reference"]]
        n = mfu["n_params_multiplied"] / 1e6
        what = f"training a {n:.0f}M model, {mfu['shape'][0]} × {mfu['shape'][1]}, bfloat16"
        share = "no datasheet peak" if mfu["mfu"] is None else f"MFU {mfu['mfu']:.1%}"
        rows.append([what, f"{_rate(row)}, {share}"])
    return rows


def llama_bench() -> str:
    """One table per machine: what was measured, and the result."""
    parts = []
    for name in _files():
        result = load(name)
        quick = ", quick run" if result["quick"] else ""
        parts.append(
            f"**{machine_name(result)}** (jax {result['versions']['jax']}, "
            f"{result['date'][:10]}{quick}; `results/{name}`)\n"
        )
        parts.append(table(["measurement", "result"], _rows(result)) + "\n")
    return "\n".join(parts)
