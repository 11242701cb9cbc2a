"""The first code cell of every notebook: the reader's versions against the build's.

Colab and readers' own kernels often carry a JAX several releases away from
the one a chapter was written for, and a chapter that uses a newer API then
fails with an AttributeError that says nothing about versions. The cell
installs the build's versions of exactly the packages the chapter imports,
where the reader's differ, and does nothing where they match.
"""

from __future__ import annotations

import json

import nbformat

TAG = "version-check"  # the one code cell the build's run does not execute

TEMPLATE = """\
# The versions this chapter was built and tested with, of every package it imports.
# Where yours differ, this cell installs them; where they match, it does nothing.
import importlib.metadata
import sys

BUILT_WITH = {built_with}
IMPORTED_AS = {modules}  # module names, to tell whether one is loaded already


def installed_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


differ = {{n: v for n, v in BUILT_WITH.items() if installed_version(n) != v}}
if not differ:
    print("Every package this chapter imports is at the version it was built with.")
else:
    pins = " ".join(f"{{name}}=={{version}}" for name, version in differ.items())
    print(f"Installing the versions this chapter was built with: {{pins}}")
    get_ipython().run_line_magic("pip", f"install -q {{pins}}")  # %pip install -q ...
    if any(module in sys.modules for module in IMPORTED_AS):
        print("Restart the kernel (in Colab: Runtime > Restart session), then run all.")
"""


def version_check_cell(packages: dict[str, str], modules: list[str]):
    """A code cell pinning `packages` (distribution -> version) that `modules` come from."""
    built_with = json.dumps(packages, indent=4).replace("\n}", ",\n}") if packages else "{}"
    source = TEMPLATE.format(built_with=built_with, modules=json.dumps(sorted(modules)))
    cell = nbformat.v4.new_code_cell(source.rstrip("\n"))
    cell.metadata["tags"] = [TAG]
    return cell
