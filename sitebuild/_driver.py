"""Run one page's code blocks in order in this fresh interpreter.

Started as `python -I _driver.py REQUEST RESPONSE` by `sitebuild.runner`.
`-I` keeps the project's folder off `sys.path`, so a block that imports
`snippets` fails here exactly as it would for a reader (only `sitebuild`
itself is installed). Only the standard library, matplotlib and
`sitebuild.palette` are imported before the page's code.

The request (JSON) holds the blocks, a folder for figures, the expressions
the prose quotes and whether to keep notebook outputs. The response (JSON)
holds, per block, what it printed (stdout and stderr in order, and stdout
alone), the figures it showed and its notebook outputs as nbformat dicts;
then the quoted values, the page's final variables that JSON can hold, and
the first error with its traceback.
"""

import ast
import contextlib
import io
import json
import sys
import time
import traceback
import warnings

from sitebuild.figures import FigureCollector

EXPORT_BUDGET = 10_000  # array elements: larger values (data sets) are not exported


class Events(io.TextIOBase):
    """A stream that records what was written, in order, with other events."""

    def __init__(self, log, name):
        self.log, self.name = log, name

    def write(self, text):
        self.log.append(("stream", self.name, text))
        return len(text)


def notebook_outputs(log, count):
    """The log as nbformat outputs: adjacent writes to one stream are merged."""
    outputs = []
    for kind, *rest in log:
        if kind == "stream":
            name, text = rest
            if outputs and outputs[-1].get("name") == name:
                outputs[-1]["text"] += text
            else:
                outputs.append({"output_type": "stream", "name": name, "text": text})
        elif kind == "display":
            data, metadata = rest
            outputs.append({"output_type": "display_data", "data": data, "metadata": metadata})
        else:  # the value of the block's last expression
            data = rest[0]
            outputs.append(
                {
                    "output_type": "execute_result",
                    "data": data,
                    "metadata": {},
                    "execution_count": count,
                }
            )
    return outputs


def split_last_expression(code, filename):
    """(statements, last expression or None): a notebook shows the value of the last line."""
    tree = ast.parse(code, filename)
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
        return compile(tree, filename, "exec"), compile(last, filename, "eval")
    return compile(tree, filename, "exec"), None


def rich_data(value):
    data = {"text/plain": repr(value)}
    html = getattr(value, "_repr_html_", None)
    if callable(html) and (rendered := html()) is not None:
        data["text/html"] = rendered
    return data


def run_block(code, filename, namespace, log):
    """Execute one block, logging its output; returns the traceback or None."""
    streams = Events(log, "stdout"), Events(log, "stderr")
    with contextlib.redirect_stdout(streams[0]), contextlib.redirect_stderr(streams[1]):
        try:
            statements, last = split_last_expression(code, filename)
            exec(statements, namespace)
            value = eval(last, namespace) if last is not None else None
            if value is not None:
                log.append(("result", rich_data(value)))
            return None
        except BaseException as err:  # reported, never swallowed
            # Drop this function's own frame: the traceback starts in the page.
            return "".join(
                traceback.format_exception(err.with_traceback(err.__traceback__.tb_next))
            )


def quote(expression, namespace):
    source, _, spec = expression.partition(":")
    value = eval(source, namespace)  # the page's own expression
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()
    return format(value, spec)


def exportable(value, budget=EXPORT_BUDGET):
    """`value` as plain JSON data, or raise ValueError if it is not data."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # NumPy and JAX arrays
        import numpy as np

        if int(np.prod(value.shape)) > budget:
            raise ValueError("too large")
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            array = array.astype(np.float64)  # bfloat16 and friends
        return array.tolist()
    if isinstance(value, list | tuple):
        return [exportable(v, budget) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str | int | float) for k in value):
        return {str(k): exportable(v, budget) for k, v in value.items()}
    raise ValueError(f"not data: {type(value).__name__}")


def exports(namespace):
    found = {}
    for name, value in namespace.items():
        if name.startswith("_"):
            continue
        with contextlib.suppress(Exception):  # anything that is not plain data stays out
            found[name] = exportable(value)
    return found


def main(request_path, response_path):
    with open(request_path, encoding="utf-8") as handle:
        request = json.load(handle)
    warnings.filterwarnings("ignore", message=".*non-interactive.*cannot be shown")
    namespace = {"__name__": "__main__"}
    collector = FigureCollector(request["figure_dir"], request["notebook"])
    response = {"blocks": [], "values": {}, "exports": {}, "error": None}
    for count, block in enumerate(request["blocks"], start=1):
        filename = f"{block['page']}, block at line {block['lineno']}"
        log, started = [], time.perf_counter()
        collector.log = log
        error = run_block(block["code"], filename, namespace, log)
        if not error:  # like a notebook, show the figures a block leaves open
            try:
                collector.save_new_animations(namespace)
                collector()
            except ValueError:
                error = traceback.format_exc()
        response["blocks"].append(
            {
                "output": "".join(e[2] for e in log if e[0] == "stream"),
                "stdout": "".join(e[2] for e in log if e[:2] == ("stream", "stdout")),
                "figures": collector.take_shown(),
                "outputs": notebook_outputs(log, count) if request["notebook"] else [],
                "seconds": time.perf_counter() - started,
            }
        )
        if error:
            response["error"] = {"lineno": block["lineno"], "traceback": error}
            break
    else:
        for expression in request["expressions"]:
            try:
                response["values"][expression] = quote(expression, namespace)
            except Exception:  # reported with the expression
                response["error"] = {"expression": expression, "traceback": traceback.format_exc()}
                break
        response["exports"] = exports(namespace)
    with open(response_path, "w", encoding="utf-8") as handle:
        json.dump(response, handle)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
