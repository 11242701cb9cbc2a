"""Build the site with the project's mkdocs.yml, optionally on other pages.

`python -m sitebuild.build --site-dir DIR` is `mkdocs build --strict`; with
`--docs-dir` and `--nav` the same configuration builds a folder of other
pages, which is how the tests prove that broken pages fail the build.
"""

from __future__ import annotations

import argparse
import logging
import os

from mkdocs.commands.build import build
from mkdocs.config import load_config
from mkdocs.exceptions import MkDocsException

from sitebuild.chapters import CONFIG_FILE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--site-dir", required=True)
    parser.add_argument("--docs-dir", help="build these pages instead of docs/")
    parser.add_argument("--nav", nargs="*", help="page files for the nav (with --docs-dir)")
    parser.add_argument("--record", help="write each page's run here, for the tests")
    parser.add_argument("--config", default=str(CONFIG_FILE), help="the mkdocs.yml to use")
    args = parser.parse_args(argv)
    if args.record:
        os.environ["SITEBUILD_RECORD"] = args.record
    overrides = {"site_dir": args.site_dir, "strict": True}
    if args.docs_dir:
        overrides["docs_dir"] = args.docs_dir
        overrides["nav"] = args.nav or None
    logging.basicConfig(level=logging.INFO, format="%(levelname)-7s -  %(message)s")
    config = load_config(args.config, **overrides)
    try:
        build(config)
    except MkDocsException as err:
        print(f"Error: {err}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
