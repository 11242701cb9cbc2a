"""The packages a page's code imports, read from the code, with the build's versions."""

from __future__ import annotations

import ast
import sys
from functools import cache
from importlib import metadata

from sitebuild.page import Page, PageError


@cache
def _distributions() -> dict[str, list[str]]:
    return metadata.packages_distributions()


@cache  # `make serve` asks again for every unchanged block at each rebuild
def imported_modules(code: str) -> frozenset[str]:
    """Top-level names of every absolute import in `code`."""
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return frozenset(found)


def page_modules(page: Page) -> set[str]:
    """Top-level modules the page's code imports, the standard library left out."""
    found = set().union(*(imported_modules(f.code) for f in page.runnable))
    return found - set(sys.stdlib_module_names)


def page_packages(page: Page) -> dict[str, str]:
    """Distribution name -> installed version, for what the page's code imports.

    A module no installed distribution provides is an error, since a reader
    could not install it either.
    """
    packages = {}
    for module in sorted(page_modules(page)):
        names = _distributions().get(module)
        if not names:
            raise PageError(f"{page.name}: imports {module!r}, which no installed package provides")
        packages[names[0]] = metadata.version(names[0])
    return dict(sorted(packages.items(), key=lambda item: item[0].lower()))


def package_phrase(page: Page) -> str:
    """ "`jax` 0.12.0.1, `matplotlib` 3.11.2 and `numpy` 2.5.5": as a sentence lists them."""
    names = [f"`{name}` {version}" for name, version in page_packages(page).items()]
    if not names:
        return "nothing beyond Python"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


IMPORTS_MARKER = "<!-- imports -->"


def imports_table(pages: dict[str, Page]) -> str:
    """Every package the pages import, its version, and the chapters that
    import it, in nav order (`pages`: title in the nav -> page)."""
    users: dict[str, list[str]] = {}
    versions: dict[str, str] = {}
    for title, page in pages.items():
        for name, version in page_packages(page).items():
            users.setdefault(name, []).append(title)
            versions[name] = version
    rows = ["| package | version | imported by |", "| --- | --- | --- |"]
    for name in sorted(users, key=str.lower):
        rows.append(f"| `{name}` | {versions[name]} | {', '.join(users[name])} |")
    return "\n".join(rows)
