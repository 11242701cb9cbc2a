"""Every sentence true, and staying true: checks on the pages' prose and code.

- No hand-typed number in prose: digits only in math, code, `{{ }}`
  placeholders, comments and link targets, or in the listed exceptions.
- A relation broken in a copy of a page fails the build with page:line.
- No page uses a JAX tool before the page that teaches it, in nav order.
- Shown code fits the content column; pages import only what the home page
  says they import.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
from mkdocs.utils.meta import get_data

from sitebuild import chapters
from sitebuild.page import ROOT, split_segments

DOCS = ROOT / "docs"
INCLUDE = re.compile(r"""^\s*--8<--\s*["']([^"':]+):(\w+)["']\s*$""")
SECTION = re.compile(r"^\s*#\s*--8<--\s*\[(start|end):(\w+)\]\s*$")
WIDTH = 80  # characters of code the content column shows without scrolling

# Digits that may stand in prose, each with the reason it is not a claim.
DIGIT_EXCEPTIONS = {
    r"\b(?:b?float(?:16|32|64)|u?int(?:8|16|32|64))\b": "dtype names",
    r"\b(?:32|64)-bit\b": "word sizes, as in JAX's 64-bit mode",
    r"\bH[12]00\b": "GPU model names",
    r"\bLlama [23](?:\.[12])?\b": "model names (Llama 2, Llama 3, 3.1, 3.2)",
    r"\bUTF-8\b": "the name of an encoding",
    r"\bL2\b": "the name of the L2 penalty",
    r"^\| [1-9]\. \[": "chapter numbers in the home page's chapter table",
    r"Python 3\.12 or newer": "the Python the project requires (pyproject.toml, checked below)",
}


# ------------------------------------------------------------------ pages
@cache
def nav_pages() -> list[str]:
    """The Markdown pages of the nav, in order (the build adds the notebooks)."""
    return [uri for _title, uri in chapters.nav_pages(chapters.read_config()["nav"])]


def front_matter(page: Path) -> dict:
    return get_data(page.read_text(encoding="utf-8"))[1]


@cache
def section(path: str, name: str) -> str:
    """The lines of one `--8<--` section, dedented as the site shows them."""
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    inside, found = False, []
    for line in lines:
        match = SECTION.match(line)
        if match and match.group(2) == name:
            if match.group(1) == "end":
                break
            inside = True
        elif inside and not SECTION.match(line):
            found.append(line)
    assert inside, f"{path}: no section {name!r}"
    indent = min((len(s) - len(s.lstrip()) for s in found if s.strip()), default=0)
    return "\n".join(s[indent:] for s in found)


def page_code(page: Path) -> str:
    """Every Python fence of a page, includes expanded by this test's own reader."""
    blocks = []
    for segment in split_segments(page.read_text(encoding="utf-8").splitlines()):
        language = segment.lines[0].strip().strip("`~").split(maxsplit=1)
        if segment.kind != "fence" or language[:1] != ["python"]:
            continue
        for line in segment.lines[1:-1]:
            match = INCLUDE.match(line)
            blocks.append(section(*match.groups()) if match else line)
    return "\n".join(blocks)


def prose_lines(page: Path) -> list[tuple[int, str]]:
    """(line number, text) of the prose with math, code, placeholders,
    comments and link targets blanked out; the description is line 0."""
    text = page.read_text(encoding="utf-8")
    lines = [(0, str(front_matter(page).get("description", "")))]
    body_start = 1
    if text.startswith("---\n"):
        body_start = text.index("\n---\n", 4) + 1
        body_start = text[:body_start].count("\n") + 2
    for segment in split_segments(text.splitlines()):
        if segment.kind == "prose":
            for offset, line in enumerate(segment.lines):
                number = segment.lineno + offset
                if number >= body_start:
                    lines.append((number, line))
    joined = "\n".join(line for _, line in lines)
    blank = lambda m: re.sub(r"[^\n]", " ", m.group(0))  # noqa: E731 keep line numbers
    for pattern in [
        r"<!--.*?-->",  # comments and markers
        r"\$\$.*?\$\$",  # display math
        r"\\\[.*?\\\]",
        r"\\\(.*?\\\)",
        r"(?<!\\)\$[^$]+?(?<!\\)\$",  # inline math, may wrap a line
        r"(`+).+?\1",  # inline code
        r"\{\{.*?\}\}",  # computed values
        r"\]\([^)]*\)",  # link and image targets
        r"<https?://[^>]+>",  # autolinks
    ]:
        joined = re.sub(pattern, blank, joined, flags=re.S)
    return [(n, line) for (n, _), line in zip(lines, joined.split("\n"), strict=True)]


PAGES = [DOCS / name for name in nav_pages()]
IDS = [page.name for page in PAGES]


# ------------------------------------------------------------ digit scan
@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_prose_has_no_hand_typed_numbers(page):
    offenders = []
    for number, line in prose_lines(page):
        for pattern in DIGIT_EXCEPTIONS:
            line = re.sub(pattern, "", line)
        if re.search(r"[0-9]", line):
            offenders.append(f"{page.name}:{number}: {line.strip()}")
    assert not offenders, "digits outside math, code and {{ }}:\n" + "\n".join(offenders)


def test_the_digit_scan_catches_a_typed_number(tmp_path):
    page = tmp_path / "typed.md"
    page.write_text(
        "---\ndescription: fine\n---\n\n# T\n\nIt takes $3$ steps, `x[0]`, "
        "{{ n }} and [a](p1.md).\n\nAdam reached it in 714 steps.\n",
        encoding="utf-8",
    )
    found = [(n, line) for n, line in prose_lines(page) if re.search(r"[0-9]", line)]
    assert [n for n, _ in found] == [9]


def test_the_python_version_in_the_prose_is_the_required_one():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["requires-python"] == ">=3.12"
    assert "Python 3.12 or newer" in (DOCS / "index.md").read_text(encoding="utf-8")


# ---------------------------------------------------- front matter, order
def test_every_nav_page_says_what_it_teaches():
    for page in PAGES:
        meta = front_matter(page)
        description = meta.get("description")
        assert isinstance(description, str) and description.strip(), page.name
        assert "\n" not in description.strip(), f"{page.name}: one line"
        assert isinstance(meta.get("teaches"), list), page.name


def uses(code: str, tool: str) -> bool:
    """Whether `code` calls or names `tool` (e.g. jax.lax.scan): by a dotted
    suffix of at least two parts (lax.scan), or by a name imported from it.
    A method of a class (jax.Array.at, jax.stages.Lowered.compile) counts
    wherever an attribute of that name is used (x.at[...], .compile())."""
    parts = tool.split(".")
    if len(parts) > 2 and parts[-2][:1].isupper():
        return re.search(rf"\.{re.escape(parts[-1])}\b", code) is not None
    names = [".".join(parts[i:]) for i in range(len(parts) - 1)]
    imported = re.search(
        rf"^\s*from\s+{re.escape('.'.join(parts[:-1]))}\s+import\s+.*\b{parts[-1]}\b",
        code,
        re.M,
    )
    if imported:
        names.append(parts[-1])
    return any(re.search(rf"(?<![\w.]){re.escape(n)}\b", code) for n in names)


def test_no_page_uses_a_tool_before_the_page_that_teaches_it():
    teaches = {page.name: front_matter(page).get("teaches") or [] for page in PAGES}
    listed = [tool for tools in teaches.values() for tool in tools]
    twice = sorted({tool for tool in listed if listed.count(tool) > 1})
    assert not twice, f"each tool has one teacher; these are listed twice: {twice}"
    taught_by = {tool: name for name, tools in teaches.items() for tool in tools}
    for tool in ["jax.grad", "jax.vmap", "jax.jit", "jax.lax.scan", "jax.hessian"]:
        assert tool in taught_by, f"no page's front matter teaches {tool}"
    seen_first = {}
    for page in PAGES:  # nav order
        code = page_code(page)
        for tool in taught_by:
            if tool not in seen_first and uses(code, tool):
                seen_first[tool] = page.name
    for tool, teacher in taught_by.items():
        assert seen_first.get(tool) == teacher, (
            f"{tool} is taught by {teacher} but first used by {seen_first.get(tool)}"
        )


def test_tool_detection_reads_aliases_and_imports():
    assert uses("@partial(jax.jit, static_argnames='n')", "jax.jit")
    assert uses("jax.lax.scan(step, c)", "jax.lax.scan") and uses("lax.scan(f)", "jax.lax.scan")
    assert uses("from jax import grad\ngrad(f)", "jax.grad")
    assert not uses("jax.value_and_grad(f)", "jax.grad")
    assert not uses("import numpy as np\nnp.sum(x)", "jax.numpy")
    assert uses("y = x.at[0].set(1.0)", "jax.Array.at")
    assert not uses("y = x.at_least(2)", "jax.Array.at")


def test_the_first_chapter_uses_no_jax_at_all():
    code = page_code(DOCS / "gradient-descent.md")
    assert not re.search(r"\bjax\b|\bjnp\b", code)


# ------------------------------------------------------- the shown code
def included_sections():
    found = set()
    for page in PAGES:
        for segment in split_segments(page.read_text(encoding="utf-8").splitlines()):
            if segment.kind == "fence":
                found |= {m.groups() for line in segment.lines if (m := INCLUDE.match(line))}
    return sorted(found)


@pytest.mark.parametrize("include", included_sections(), ids=lambda i: f"{i[0]}:{i[1]}")
def test_shown_code_fits_the_content_column(include):
    too_wide = [line for line in section(*include).splitlines() if len(line) > WIDTH]
    assert not too_wide, f"lines over {WIDTH} characters:\n" + "\n".join(too_wide)


def imported_packages(page: Path) -> set[str]:
    """Distributions a page's code imports, by this test's own reading."""
    modules = set()
    for node in ast.walk(ast.parse(page_code(page))):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module.split(".")[0])
    providers = metadata.packages_distributions()
    return {providers[m][0] for m in modules - set(sys.stdlib_module_names)}


def test_the_home_page_lists_what_the_pages_import(site_build):
    """The table is built from the pages; here it is read back and checked
    against the imports this test finds in every page of the nav."""
    titles = chapters_by_uri()
    expected = {}
    for page in PAGES:
        for package in imported_packages(page) if page.name in titles else ():
            expected.setdefault(package, []).append(titles[page.name])
    home = site_build.article("index.html")
    table = home[home.index("Pages import nothing but") :]
    rows = re.findall(
        r"<tr>\s*<td><code>([\w-]+)</code></td>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>", table
    )
    assert {name: users.split(", ") for name, _version, users in rows} == expected
    assert all(version == metadata.version(name) for name, version, _ in rows)


@cache
def chapters_by_uri() -> dict[str, str]:
    return {c.src_uri: c.title for c in chapters.load_chapters()}


# -------------------------------------------- a broken claim fails the build
def test_a_broken_relation_fails_the_build_with_page_and_line(tmp_path):
    """The optimizers page asserts the momentum stability limits. A copy of
    it in which the limit is the popular wrong one ('momentum is stable below
    2/lambda_max, like plain descent') must fail the build at that block."""
    docs = tmp_path / "docs"
    docs.mkdir()
    text = (DOCS / "optimizers.md").read_text(encoding="utf-8")
    include = '--8<-- "snippets/optimizers.py:stability_limits"'
    # The page's block, inlined, with the wrong formula for the heavy ball.
    right = section("snippets/optimizers.py", "stability_limits")
    broken = right.replace("(heavy_ball_matrix, 2 * (1 + mu))", "(heavy_ball_matrix, 2.0)")
    assert broken != right and include in text
    text = text.replace(include, broken)
    lines = text.splitlines()
    block_line = next(n for n, line in enumerate(lines, 1) if line.startswith("mu = 0.9")) - 1
    (docs / "optimizers.md").write_text(text, encoding="utf-8")
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
            "optimizers.md",
        ],
        cwd=ROOT,
        env=dict(os.environ, NO_MKDOCS_2_WARNING="1"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = done.stdout + done.stderr
    assert done.returncode != 0, log
    assert f"optimizers.md:{block_line}: the code block starting at line {block_line}" in log, log
    assert "AssertionError" in log
