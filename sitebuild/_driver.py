"""Run one page's code blocks in order in this fresh interpreter.

Started as `python -I _driver.py REQUEST RESPONSE` by `sitebuild.runner`.
`-I` keeps the project off `sys.path`, so a block that imports `snippets`
fails here exactly as it would for a reader. Only the standard library and
matplotlib (for the figure colours) are imported before the page's code.

The request (JSON) holds the blocks, a folder for figures and the
expressions the page's prose quotes; the response (JSON)
holds each block's output, the figures each block showed, the quoted
values, or the first error with its traceback.
"""

import contextlib
import io
import json
import sys
import time
import traceback
import warnings

# Every page runs once, drawn for the light scheme. Each figure is then saved
# twice: as drawn, and with its ink and grid colours swapped for the dark
# scheme. SVGs are transparent; GIF frames cannot be, so animations get the
# page colour of Material's light and slate schemes.
PALETTES = {
    "light": {"ink": "#1f2328", "grid": "#d0d7de", "page": "#ffffff"},
    "dark": {"ink": "#e6edf3", "grid": "#4a5160", "page": "#1e2029"},
}
# Mid-tone series colours, legible on white and on slate alike.
SERIES = ["#3b82f6", "#f97316", "#16a34a", "#dc2626", "#9333ea", "#0891b2"]
COLOR_PROPERTIES = ("color", "edgecolor", "facecolor", "markeredgecolor", "markerfacecolor")


def use_light_palette():
    import matplotlib
    from cycler import cycler

    matplotlib.use("Agg")
    ink, grid = PALETTES["light"]["ink"], PALETTES["light"]["grid"]
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
            "axes.prop_cycle": cycler(color=SERIES),
            "figure.dpi": 100,
            "font.size": 11,
            "svg.hashsalt": "site",  # stable ids: two builds give equal files
            "svg.fonttype": "path",  # no font needed by the browser
        }
    )


def _swapped(rgba, swaps):
    for old, new in swaps:
        if all(abs(a - b) < 1e-3 for a, b in zip(rgba[:3], old[:3], strict=True)):
            return (*new[:3], rgba[3])
    return None


def _recolored(value, swaps):
    """`value` (one colour, or an (n, 4) array of them) with swaps applied, or None."""
    import numpy as np
    from matplotlib.colors import to_rgba_array

    if isinstance(value, str) and value in ("none", "auto"):
        return None
    try:
        colors = [tuple(c) for c in to_rgba_array(value)]
    except (TypeError, ValueError):
        return None
    new = [_swapped(c, swaps) for c in colors]
    if not any(new):
        return None
    new = [n or c for n, c in zip(new, colors, strict=True)]
    return np.array(new) if isinstance(value, np.ndarray) and value.ndim == 2 else new[0]


def to_dark(figure):
    """Recolour the light palette's ink and grid in place; series colours stay."""
    from matplotlib.colors import to_rgba

    light, dark = PALETTES["light"], PALETTES["dark"]
    swaps = [(to_rgba(light[key]), to_rgba(dark[key])) for key in ("ink", "grid")]
    for artist in figure.findobj():
        for prop in COLOR_PROPERTIES:
            if hasattr(artist, f"get_{prop}"):
                new = _recolored(getattr(artist, f"get_{prop}")(), swaps)
                if new is not None:
                    getattr(artist, f"set_{prop}")(new)


def figure_name(figure):
    label = figure.get_label()
    if not label or not label.replace("_", "").isalnum():
        raise ValueError(
            "every figure a page shows needs a name of letters, digits and "
            "underscores: create it with plt.figure(num='my_name') or "
            f"plt.subplots(num='my_name') (got {label!r})"
        )
    return label


class FigureCollector:
    """Replaces `plt.show`: saves each open figure under its name, then closes it.

    Saved files are listed in `shown` as "name.svg", or "name.gif" for an
    animation the page's code keeps in a variable; each exists as
    name-light.svg and name-dark.svg (or .gif) in `folder`.
    """

    def __init__(self, folder):
        self.folder, self.shown, self.animations = folder, [], set()

    def _save_both(self, figure, suffix, save):
        name = figure_name(figure)
        self.shown.append(f"{name}.{suffix}")
        for palette in PALETTES:
            if palette == "dark":
                to_dark(figure)
            save(f"{self.folder}/{name}-{palette}.{suffix}", PALETTES[palette]["page"])

    def __call__(self, *args, **kwargs):
        import matplotlib.pyplot as plt

        for number in plt.get_fignums():
            figure = plt.figure(number)
            if any(figure is animation._fig for animation in self.animations):
                continue  # saved as a GIF instead
            self._save_both(
                figure,
                "svg",
                lambda path, _page, fig=figure: fig.savefig(
                    path, format="svg", bbox_inches="tight", metadata={"Date": None}
                ),
            )
        plt.close("all")

    def save_new_animations(self, namespace):
        from matplotlib.animation import Animation, PillowWriter

        for value in list(namespace.values()):
            if isinstance(value, Animation) and value not in self.animations:
                self.animations.add(value)
                writer = PillowWriter(fps=round(1000 / value._interval))
                self._save_both(
                    value._fig,
                    "gif",
                    lambda path, page, anim=value, writer=writer: anim.save(
                        path,
                        writer=writer,
                        savefig_kwargs={"facecolor": page, "transparent": False},
                    ),
                )


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
    use_light_palette()
    warnings.filterwarnings("ignore", message=".*non-interactive.*cannot be shown")
    import matplotlib.pyplot as plt

    collector = FigureCollector(request["figure_dir"])
    plt.show = collector
    namespace = {"__name__": "__main__"}
    response = {"blocks": [], "values": {}, "error": None}
    for block in request["blocks"]:
        filename = f"{block['page']}, block at line {block['lineno']}"
        before = len(collector.shown)
        started = time.perf_counter()
        output, error = run_block(block["code"], filename, namespace)
        if not error:  # like a notebook, show the figures a block leaves open
            try:
                collector.save_new_animations(namespace)
                collector()
            except ValueError:
                error = traceback.format_exc()
        figures = collector.shown[before:]
        seconds = time.perf_counter() - started
        response["blocks"].append({"output": output, "figures": figures, "seconds": seconds})
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
