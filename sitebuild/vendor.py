"""Front-end files the site serves itself, copied from node_modules.

MathJax, its font and Font Awesome come from the npm registry (pinned in
package-lock.json), so the built site makes no request to any other host.
"""

from __future__ import annotations

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

from sitebuild.page import ROOT

NODE_MODULES = ROOT / "node_modules"
# package -> the files of it the browser may fetch (glob patterns)
SERVED = {
    "mathjax": [
        "*.js",
        "input/**/*",
        "output/**/*",
        "ui/**/*",
        "a11y/**/*",
        "sre/**/*",
        "adaptors/**/*",
        "LICENSE",
    ],
    "@mathjax/mathjax-newcm-font": ["chtml.js", "chtml/**/*", "LICENSE"],
    # matplotlib's HTML animations in the notebooks draw their buttons with it
    "font-awesome": ["css/font-awesome.min.css", "fonts/*"],
}


def add_vendor_files(files: Files, config) -> None:
    """Register every served file under vendor/<package>/ in the site."""
    for package, patterns in SERVED.items():
        folder = NODE_MODULES / package
        if not folder.is_dir():
            raise PluginError(
                f"{folder} is missing: run `npm ci` in {ROOT} (`make serve` and "
                "`make test` do it for you)"
            )
        for pattern in patterns:
            for path in sorted(folder.glob(pattern)):
                if path.is_file() and not path.name.endswith((".map", ".ts", ".md")):
                    uri = f"vendor/{package}/{path.relative_to(folder).as_posix()}"
                    files.append(File.generated(config, uri, abs_src_path=str(path)))
