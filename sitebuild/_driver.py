"""Run one page's code blocks in order in this fresh interpreter.

Started as `python -I _driver.py REQUEST RESPONSE` by `sitebuild.runner`.
`-I` keeps the project off `sys.path`, so a block that imports `snippets`
fails here exactly as it would for a reader. Only the standard library and
matplotlib (for the figure palette) are imported before the page's code.

The request (JSON) holds the blocks, the figure palette, a folder for
figures and the expressions the page's prose quotes; the response (JSON)
holds each block's output, the figures each block showed, the quoted
values, or the first error with its traceback.
"""

import contextlib
import io
import json
import sys
import traceback
import warnings

PALETTES = {
    # Transparent figures on both palettes: only ink colours change.
    "light": {"ink": "#1f2328", "grid": "#d0d7de"},
    "dark": {"ink": "#e6edf3", "grid": "#4a5160"},
}


def use_palette(name):
    import matplotlib

    matplotlib.use("Agg")
    ink, grid = PALETTES[name]["ink"], PALETTES[name]["grid"]
    matplotlib.rcParams.update(
        {
            "figure.facecolor": "none",
            "axes.facecolor": "none",
            "savefig.facecolor": "none",
            "savefig.transparent": True,
            "text.color": ink,
            "axes.labelcolor": ink,
            "axes.edgecolor": ink,
            "xtick.color": ink,
            "ytick.color": ink,
            "grid.color": grid,
            "legend.facecolor": "none",
            "legend.edgecolor": grid,
            "axes.grid": True,
            "figure.dpi": 100,
            "font.size": 11,
            "svg.hashsalt": "site",  # stable ids: two builds give equal files
            "svg.fonttype": "path",  # no font needed by the browser
        }
    )
    if name == "dark":  # lighter tones of the default cycle for contrast on slate
        from cycler import cycler

        colors = ["#58a6ff", "#ffa657", "#7ee787", "#ff7b72", "#d2a8ff", "#e3b341"]
        matplotlib.rcParams["axes.prop_cycle"] = cycler(color=colors)


class FigureCollector:
    """Replaces `plt.show`: saves each open figure under its label, then closes it."""

    def __init__(self, folder, palette):
        self.folder, self.palette, self.shown = folder, palette, []

    def __call__(self, *args, **kwargs):
        import matplotlib.pyplot as plt

        for number in plt.get_fignums():
            figure = plt.figure(number)
            label = figure.get_label()
            if not label or not label.replace("_", "").isalnum():
                raise ValueError(
                    "every figure a page shows needs a name of letters, digits and "
                    "underscores: create it with plt.figure(num='my_name') or "
                    f"plt.subplots(num='my_name') (got {label!r})"
                )
            path = f"{self.folder}/{label}-{self.palette}.svg"
            figure.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})
            self.shown.append(label)
        plt.close("all")


def run_block(code, filename, namespace):
    """Execute one block, returning (output, traceback or None)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        try:
            exec(compile(code, filename, "exec"), namespace)
            error = None
        except BaseException as err:  # reported, never swallowed
            # Drop this function's own frame: the traceback starts in the page.
            error = "".join(
                traceback.format_exception(err.with_traceback(err.__traceback__.tb_next))
            )
    return buffer.getvalue(), error


def quote(expression, namespace):
    source, _, spec = expression.partition(":")
    value = eval(source, namespace)  # the page's own expression
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()
    return format(value, spec)


def main(request_path, response_path):
    with open(request_path, encoding="utf-8") as handle:
        request = json.load(handle)
    use_palette(request["palette"])
    warnings.filterwarnings("ignore", message=".*non-interactive.*cannot be shown")
    import matplotlib.pyplot as plt

    collector = FigureCollector(request["figure_dir"], request["palette"])
    plt.show = collector
    namespace = {"__name__": "__main__"}
    response = {"blocks": [], "values": {}, "error": None}
    for block in request["blocks"]:
        filename = f"{block['page']}, block at line {block['lineno']}"
        before = len(collector.shown)
        output, error = run_block(block["code"], filename, namespace)
        if not error:  # like a notebook, show the figures a block leaves open
            try:
                collector()
            except ValueError:
                error = traceback.format_exc()
        figures = collector.shown[before:]
        response["blocks"].append({"output": output, "figures": figures})
        if error:
            response["error"] = {"lineno": block["lineno"], "traceback": error}
            break
    else:
        for expression in request["expressions"]:
            try:
                response["values"][expression] = quote(expression, namespace)
            except Exception:  # reported with the expression
                response["error"] = {
                    "expression": expression,
                    "traceback": traceback.format_exc(),
                }
                break
    with open(response_path, "w", encoding="utf-8") as handle:
        json.dump(response, handle)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
