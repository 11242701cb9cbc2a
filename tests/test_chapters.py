"""One list of chapters, the nav: everything else that lists chapters follows it."""

from __future__ import annotations

import json
import shutil
import textwrap

import nbformat

from sitebuild.chapters import CONFIG_FILE, load_chapters, nav_pages, read_config
from sitebuild.page import ROOT
from tests.helpers import CHAPTERS, build

DUMMY_PAGE = """\
---
notebook: true
description: A chapter added by a test, to prove nothing else needs editing.
---

# Dummy

The answer is {{ answer }}.

```python
--8<-- "snippets/dummy.py:answer"
```
"""
DUMMY_SNIPPETS = """\
if __name__ == "__main__":
    # --8<-- [start:answer]
    answer = 6 * 7
    print(f"answer = {answer}")
    # --8<-- [end:answer]
"""


def test_chapters_are_the_nav_in_order():
    config = read_config(CONFIG_FILE)
    pages = [uri for _title, uri in nav_pages(config["nav"]) if uri != "index.md"]
    assert [c.src_uri for c in CHAPTERS] == pages
    assert "Notebooks" not in json.dumps(config["nav"]), "the build adds that section itself"


def test_a_new_chapter_needs_only_its_page_its_snippets_and_its_nav_line(tmp_path):
    """In a copy of the project, write a chapter and list it: the build covers it."""
    project = tmp_path / "project"
    (project / "docs").mkdir(parents=True)
    for folder in ("stylesheets", "javascripts"):
        shutil.copytree(ROOT / "docs" / folder, project / "docs" / folder)
    shutil.copy(ROOT / "docs" / "index.md", project / "docs" / "index.md")
    # The home page links the notation page, whose links lead everywhere: a stub.
    (project / "docs" / "notation.md").write_text("# Notation\n", encoding="utf-8")
    shutil.copytree(
        ROOT / "snippets", project / "snippets", ignore=shutil.ignore_patterns("__pycache__")
    )
    (project / "node_modules").symlink_to(ROOT / "node_modules")  # front-end files
    # The contributor's part: a page, its snippets (and its test), one nav line.
    (project / "docs" / "dummy.md").write_text(DUMMY_PAGE, encoding="utf-8")
    (project / "snippets" / "dummy.py").write_text(DUMMY_SNIPPETS, encoding="utf-8")
    config = CONFIG_FILE.read_text(encoding="utf-8")
    nav = config.index("\nnav:\n")
    config = (
        config[:nav]
        + "\nnav:\n  - Home: index.md\n  - Dummy: dummy.md\n  - Notation: notation.md\n"
    )
    config = config.replace("watch: [snippets, sitebuild]", "watch: [snippets]")
    (project / "mkdocs.yml").write_text(config, encoding="utf-8")

    assert [c.stem for c in load_chapters(project / "mkdocs.yml")] == ["dummy", "notation"]
    record = tmp_path / "record"
    done, _ = build(tmp_path / "site", "--record", str(record), config=project / "mkdocs.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    site = tmp_path / "site"
    assert "The answer is 42." in (site / "dummy" / "index.html").read_text(encoding="utf-8")
    home = (site / "index.html").read_text(encoding="utf-8")
    assert '<td>1. <a href="dummy/">Dummy</a></td>' in home
    assert 'href="notebooks/dummy/"' in home  # the derived "Notebooks" section
    notebook = nbformat.read(site / "downloads" / "dummy.ipynb", as_version=4)
    assert notebook.cells[-1].outputs[0]["text"] == "answer = 42\n"
    assert json.loads((record / "dummy.json").read_text())["executions"] == 1
    assert (record / "codeblocks" / "dummy.md").is_file()
    assert textwrap.dedent("""\
        ```python
        answer = 6 * 7
        print(f"answer = {answer}")
        ```""") in (record / "codeblocks" / "dummy.md").read_text(encoding="utf-8")
