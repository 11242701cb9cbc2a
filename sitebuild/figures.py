"""What `plt.show()` does while a page runs (inside the page driver).

Each figure a block shows is saved under its name in both palettes for the
site, and, for the chapter's notebook, logged as a PNG output of the block,
as Jupyter's inline backend would show it.
"""

import base64
import io

from sitebuild.palette import PALETTES, save_svg, to_dark, use_light_palette


def figure_name(figure):
    label = figure.get_label()
    if not label or not label.replace("_", "").isalnum():
        raise ValueError(
            "every figure a page shows needs a name of letters, digits and "
            "underscores: create it with plt.figure(num='my_name') or "
            f"plt.subplots(num='my_name') (got {label!r})"
        )
    return label


def png_output(figure):
    """A notebook output of the figure: opaque, so it reads on any notebook theme."""
    buffer = io.BytesIO()
    figure.savefig(
        buffer, format="png", facecolor=PALETTES["light"]["page"], metadata={"Software": None}
    )
    width, height = (round(v) for v in figure.get_size_inches() * figure.dpi)
    data = {
        "image/png": base64.b64encode(buffer.getvalue()).decode("ascii"),
        "text/plain": f"<Figure size {width}x{height} with {len(figure.axes)} Axes>",
    }
    return ("display", data, {})


class FigureCollector:
    """Replaces `plt.show`: saves each open figure under its name, then closes it.

    Saved files are listed as "name.svg", or "name.gif" for an animation the
    page's code keeps in a variable; each exists as name-light.svg and
    name-dark.svg (or .gif) in `folder`. With `notebook`, each still figure
    is also appended to `log` (the running block's outputs) as a PNG.
    """

    def __init__(self, folder, notebook):
        use_light_palette()
        import matplotlib.pyplot as plt

        plt.show = self
        self.folder, self.notebook = folder, notebook
        self.shown, self.animations, self.log = [], set(), []

    def take_shown(self):
        shown, self.shown = self.shown, []
        return shown

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
            if self.notebook:
                self.log.append(png_output(figure))  # before the dark recolouring
            self._save_both(figure, "svg", lambda path, _page, fig=figure: save_svg(fig, path))
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
