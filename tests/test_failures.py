"""Broken pages fail loudly, naming the page and the line, when read, run and built."""

from __future__ import annotations

import textwrap

import pytest

from sitebuild.page import PageError
from sitebuild.runner import run_page
from tests.helpers import build, parse

GOOD = '```python\nprint("fine")\n```\n'
CASES = {
    "missing_file": (
        GOOD + '\n```python\n--8<-- "snippets/no_such_module.py:setup"\n```\n',
        "bad.md:5: include not found",
    ),
    "missing_section": (
        GOOD + '\n```python\n--8<-- "snippets/derivatives.py:no_such_section"\n```\n',
        "bad.md:5: include not found",
    ),
    "raising_block": (
        GOOD + '\n```python\nx = 1\nraise ValueError("boom")\n```\n',
        "bad.md:5: the code block starting at line 5 raised",
    ),
    "unmarked_shell": (GOOD + "\n```bash\nrm -rf /\n```\n", "bad.md:5: a bash block must carry"),
    "skip_without_reason": (
        "<!--pytest.mark.skip-->\n" + GOOD,
        "bad.md:1: unsupported marker",
    ),
    "marker_far_from_its_fence": (
        '<!--pytest.mark.skip(reason="a shell session")-->\nSome prose.\n\n' + GOOD,
        "bad.md:1: a marker must stand right before a fence",
    ),
    "unclosed_fence": (
        GOOD + "\n```python\nprint(1)\n",
        "bad.md:5: the fence opened here is never closed",
    ),
    "broken_front_matter": (
        "---\ndescription: `code`\n---\n\n" + GOOD,
        "bad.md:1: the front matter",
    ),
    "snippets_import": (
        "```python\nimport snippets.derivatives\n```\n",
        "No module named 'snippets'",
    ),
    "unnamed_figure": (
        "```python\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\n```\n",
        "every figure a page shows needs a name",
    ),
    "figure_without_reference": (
        "```python\nimport matplotlib.pyplot as plt\nplt.figure(num='lonely')\n"
        "plt.plot([1, 2])\nplt.show()\n```\n",
        "figure 'lonely.svg' is shown 1 time(s) by the code and referenced 0 time(s)",
    ),
    "unknown_quote": ("The answer is {{ answer }}.\n\n" + GOOD, "quotes {{ answer }}"),
}
BUILD_ONLY = {"figure_without_reference"}  # checked where the page's prose meets its run


def write_page(tmp_path, text):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bad.md").write_text(text, encoding="utf-8")
    return docs


@pytest.mark.parametrize("case", sorted(set(CASES) - BUILD_ONLY))
def test_reading_or_running_a_broken_page_names_page_and_line(tmp_path, case):
    text, message = CASES[case]
    docs = write_page(tmp_path, text)
    with pytest.raises(PageError) as err:
        page = parse(docs / "bad.md")
        run_page(page, tmp_path / "figures")
    assert message in str(err.value).replace(str(docs) + "/", "")


@pytest.mark.parametrize(
    "case", ["missing_section", "raising_block", "figure_without_reference", "unmarked_shell"]
)
def test_build_fails_with_page_and_line(tmp_path, case):
    text, message = CASES[case]
    docs = write_page(tmp_path, text)
    done, _ = build(tmp_path / "site", "--docs-dir", str(docs), "--nav", "bad.md")
    log = (done.stdout + done.stderr).replace(str(docs) + "/", "")
    assert done.returncode != 0, log
    assert message in log, log
    assert not (tmp_path / "site" / "bad" / "index.html").exists()


def test_the_raising_block_shows_its_output_and_traceback(tmp_path):
    docs = write_page(
        tmp_path,
        textwrap.dedent("""\
        ```python
        print("about to fail")
        1 / 0
        ```
        """),
    )
    with pytest.raises(PageError) as err:
        run_page(parse(docs / "bad.md"), tmp_path / "figures")
    message = str(err.value)
    assert "about to fail" in message
    assert "ZeroDivisionError" in message
    assert "block at line 1" in message  # the traceback names the block too
