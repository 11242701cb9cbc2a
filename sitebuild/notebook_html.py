"""Finishing touches on a notebook page as mkdocs-jupyter renders it.

Each figure, still or animated, gets the alt text its page gives it (the
code cell that draws it carries the text in metadata.alt); an animation's
slider gets a name, and its buttons use the site's own copy of Font Awesome,
not a CDN. Done on the rendered HTML rather than in an nbconvert template,
so that mkdocs-jupyter can cache its conversion under `make serve`.
"""

from __future__ import annotations

import html
import logging
import re

# How mkdocs-jupyter renders the image of a PNG output or of an animation.
UNNAMED = re.compile(r'<img alt="No description has been provided for this image"')
FONT_AWESOME_CDN = "https://maxcdn.bootstrapcdn.com/font-awesome/4.4.0/css/font-awesome.min.css"
# notebooks/<name>/ is two folders below the site's root.
FONT_AWESOME_HERE = "../../vendor/font-awesome/css/font-awesome.min.css"


def _not_about_alt_text(record) -> bool:
    return not str(record.msg).startswith("Alternative text is missing")


def quiet_nbconvert() -> None:
    """nbconvert warns of images without alt text, which `finish` then names
    (and fails the build if it cannot name them all): drop that warning."""
    logger = logging.getLogger("traitlets")  # nbconvert's exporters log here
    if _not_about_alt_text not in logger.filters:
        logger.addFilter(_not_about_alt_text)


def alt_texts(notebook) -> list[str]:
    """One alt text per image the notebook's outputs show, in order."""
    alts = []
    for cell in notebook.cells:
        alt = cell.metadata.get("alt", "A figure drawn by the code above")
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "<img" in data.get("text/html", "") or "image/png" in data:
                alts.append(alt)
    return alts


def finish(page: str, notebook) -> str:
    alts = alt_texts(notebook)
    found = UNNAMED.findall(page)
    if len(found) != len(alts):
        raise ValueError(f"the notebook page shows {len(found)} images, its notebook {len(alts)}")
    names = iter(alts)
    page = UNNAMED.sub(lambda _: f'<img alt="{html.escape(next(names))}"', page)
    page = page.replace(FONT_AWESOME_CDN, FONT_AWESOME_HERE)
    return page.replace('class="anim-slider"', 'class="anim-slider" aria-label="Animation frame"')
