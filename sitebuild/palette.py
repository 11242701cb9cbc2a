"""The site's figure colours: drawn once in the light palette, recoloured for dark.

Used by the page driver (figures a page's code draws), by the results
renderer (figures drawn from `results/`) and by the tests. Imports only
matplotlib, and only when a function needs it.
"""

from __future__ import annotations

# Every figure is drawn for the light scheme, then saved a second time with its
# ink and grid colours swapped for the dark scheme. SVGs are transparent; GIF
# frames and notebook PNGs cannot be, so they get the page colour of Material's
# light (default) and dark (slate) schemes.
PALETTES = {
    "light": {"ink": "#1f2328", "grid": "#d0d7de", "page": "#ffffff"},
    "dark": {"ink": "#e6edf3", "grid": "#4a5160", "page": "#1e2029"},
}
# Mid-tone series colours, legible on white and on slate alike.
SERIES = ["#3b82f6", "#f97316", "#16a34a", "#dc2626", "#9333ea", "#0891b2"]
COLOR_PROPERTIES = ("color", "edgecolor", "facecolor", "markeredgecolor", "markerfacecolor")


def use_light_palette() -> None:
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


def to_dark(figure) -> None:
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


def save_svg(figure, target) -> None:
    """`target`: a path or a binary file; stable bytes for the same figure."""
    figure.savefig(target, format="svg", bbox_inches="tight", metadata={"Date": None})


def figure_pair(line: str) -> str:
    """A page's figure reference becomes the light and the dark variant, one
    shown per palette (Material's #only-light and #only-dark)."""
    from sitebuild.page import FIGURE_REF

    return FIGURE_REF.sub(
        r"![\1](figures/\2-light.\3#only-light)![\1](figures/\2-dark.\3#only-dark)", line
    )


def svg_pair(figure) -> dict[str, bytes]:
    """The figure as SVG bytes in each palette: {"light": ..., "dark": ...}.

    Recolours `figure` in place for the dark variant: save it last.
    """
    import io

    files = {}
    for palette in PALETTES:
        if palette == "dark":
            to_dark(figure)
        buffer = io.BytesIO()
        save_svg(figure, buffer)
        files[palette] = buffer.getvalue()
    return files
