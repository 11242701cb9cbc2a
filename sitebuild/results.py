"""Tables and figures drawn from the committed results in `results/`.

Some numbers cannot come from a page's own code at build time: a benchmark
that runs for a quarter of an hour, a run on a GPU the build machine lacks,
the test suite itself. Those runs write JSON into `results/`; a page asks
for a rendering of them with a line of its own,

    <!-- results: NAME -->

which the build replaces with the Markdown that RENDERERS[NAME] returns.
Nothing here is typed by hand: every figure and number comes from the files.
"""

from __future__ import annotations

import re

from sitebuild import bench_tables as bench
from sitebuild.bench_claims import claims_table
from sitebuild.llama_tables import llama_bench
from sitebuild.page import PageError
from sitebuild.palette import figure_pair
from sitebuild.results_files import machines_table, tested_on_table

MARKER = re.compile(r"^<!-- results: ([a-z-]+) -->$")


# marker -> (figure name, alt text, function drawing it in the light palette)
FIGURES = {
    "bench-regression-figure": (
        "bench_regression",
        "Bar charts, one per machine, of the time one whole training takes in each "
        "variant, on a log scale; the floor step and the five-sums step are highlighted.",
        bench.regression_figure,
    )
}


def figure_files(marker: str) -> dict[str, bytes]:
    """The figure of `marker` as SVG files, name-light.svg and name-dark.svg,
    drawn once and recoloured for the dark scheme as page figures are."""
    import matplotlib.pyplot as plt

    from sitebuild.palette import svg_pair, use_light_palette

    use_light_palette()
    name, _alt, draw = FIGURES[marker]
    fig = draw()
    files = {f"{name}-{palette}.svg": svg for palette, svg in svg_pair(fig).items()}
    plt.close(fig)
    return files


def _figure(marker: str) -> str:
    name, alt, _draw = FIGURES[marker]
    return figure_pair(f"![{alt}](figures/{name}.svg)")


RENDERERS = {
    "bench-machines": machines_table,
    "bench-derivative": lambda: bench.timing_table(bench.SIN),
    "bench-regression": lambda: bench.timing_table(bench.FIT),
    "bench-regression-figure": lambda: _figure("bench-regression-figure"),
    "bench-bandwidth": bench.bandwidth_table,
    "bench-loop-vs-scan": bench.loop_table,
    "bench-derivative-scaling": bench.derivative_scaling_table,
    "bench-claims": claims_table,
    "tested-on": tested_on_table,
    "llama-bench": llama_bench,
}


def expand(text: str, page: str, figures: bool = True) -> str:
    """Replace each marker line with its rendering (figures dropped if not `figures`)."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = MARKER.match(line.strip())
        if not match:
            out.append(line)
            continue
        name = match.group(1)
        if name not in RENDERERS:
            raise PageError(f"{page}:{number}: unknown results rendering {name!r}")
        if name in FIGURES and not figures:
            continue
        out.append(RENDERERS[name]())
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def used_figures(text: str) -> list[str]:
    """The markers in `text` that show a figure."""
    names = [m.group(1) for line in text.splitlines() if (m := MARKER.match(line.strip()))]
    return [name for name in names if name in FIGURES]
