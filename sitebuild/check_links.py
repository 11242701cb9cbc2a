"""Check that every local link and image in a built site resolves to a file.

`python -m sitebuild.check_links site/` prints each broken reference with
the page it is on and exits non-zero if there is any.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

REFERENCE = re.compile(r"""(?:href|src)=["']([^"']+)["']""")
SKIP_SCHEMES = ("http:", "https:", "mailto:", "data:", "javascript:", "blob:")


def target(page: Path, site: Path, reference: str) -> Path | None:
    """The file a local reference points at, or None for external ones."""
    if reference.startswith(SKIP_SCHEMES) or reference.startswith("#"):
        return None
    path = unquote(urlsplit(reference).path)
    if not path:
        return None
    resolved = (site / path.lstrip("/")) if path.startswith("/") else (page.parent / path)
    return resolved / "index.html" if path.endswith("/") or resolved.is_dir() else resolved


def broken_links(site: Path) -> list[str]:
    problems = []
    for page in sorted(site.rglob("*.html")):
        if "vendor" in page.relative_to(site).parts:
            continue
        for reference in REFERENCE.findall(page.read_text(encoding="utf-8")):
            resolved = target(page, site, reference)
            if resolved is not None and not resolved.resolve().is_file():
                problems.append(f"{page.relative_to(site)}: {reference}")
    return problems


def main(argv: list[str]) -> int:
    site = Path(argv[0] if argv else "site")
    problems = broken_links(site)
    for problem in problems:
        print(f"broken: {problem}")
    print(f"{len(problems)} broken links in {site}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
