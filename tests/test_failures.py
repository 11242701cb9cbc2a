"""Broken pages fail loudly, naming the page and the line, in tests and in the build."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from sitebuild.pages import ROOT, PageError, read_fences, runnable
from sitebuild.runner import run_page

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
        "bad.md:2: unsupported marker",
    ),
    "unclosed_fence": (GOOD + "\n```python\nprint(1)\n", "bad.md: Hit end-of-file"),
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


def write_page(tmp_path, text):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bad.md").write_text(text, encoding="utf-8")
    return docs


def run_in_tests(page):
    fences = runnable(read_fences(page))
    return run_page(fences, page="bad.md")


@pytest.mark.parametrize("case", list(CASES))
def test_tests_fail_with_page_and_line(tmp_path, case):
    text, message = CASES[case]
    docs = write_page(tmp_path, text)
    if case in {"figure_without_reference", "unknown_quote"}:
        return  # build-only checks: see the build test below
    with pytest.raises(PageError) as err:
        run_in_tests(docs / "bad.md")
    assert message in str(err.value).replace(str(docs) + "/", "")


@pytest.mark.parametrize(
    "case",
    [
        "missing_section",
        "raising_block",
        "figure_without_reference",
        "unknown_quote",
        "unmarked_shell",
    ],
)
def test_build_fails_with_page_and_line(tmp_path, case):
    text, message = CASES[case]
    docs = write_page(tmp_path, text)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sitebuild.build",
            "--site-dir",
            str(tmp_path / "site"),
            "--docs-dir",
            str(docs),
            "--nav",
            "bad.md",
        ],
        cwd=ROOT,
        env=dict(os.environ, NO_MKDOCS_2_WARNING="1"),
        capture_output=True,
        text=True,
        timeout=300,
    )
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
        run_in_tests(docs / "bad.md")
    message = str(err.value)
    assert "about to fail" in message
    assert "ZeroDivisionError" in message
    assert "block at line 1" in message  # the traceback names the block too
