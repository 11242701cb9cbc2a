"""The local cache of page runs (make serve): reused only while nothing it depends on changes."""

from __future__ import annotations

import pytest

from sitebuild import cache
from sitebuild.cache import RunCache
from sitebuild.page import parse_page, snippet_expander
from sitebuild.runner import run_page

PAGE = 'Prose {{ word }}.\n\n```python\n--8<-- "snippets/tiny.py:shout"\n```\n'
SNIPPET = (
    '# a comment outside the section\n# --8<-- [start:shout]\nword = "{}"\nprint(word)\n'
    "# --8<-- [end:shout]\n"
)


def setup(tmp_path, word="hello"):
    (tmp_path / "snippets").mkdir(exist_ok=True)
    (tmp_path / "snippets" / "tiny.py").write_text(SNIPPET.format(word), encoding="utf-8")
    (tmp_path / "page.md").write_text(PAGE, encoding="utf-8")


def run(tmp_path, store):
    expand = snippet_expander(
        ["pymdownx.snippets"],
        {"pymdownx.snippets": {"base_path": [str(tmp_path)], "check_paths": True}},
    )
    page = parse_page(tmp_path / "page.md", "page.md", expand)
    return run_page(page, tmp_path / "figures", cache=store)


def test_a_cached_run_is_reused_until_its_code_or_an_included_file_changes(tmp_path):
    setup(tmp_path)
    store = RunCache(tmp_path / "cache", root=tmp_path)
    first = run(tmp_path, store)
    assert (first.executions, first.blocks[0].output) == (1, "hello\n")
    again = run(tmp_path, store)
    assert (again.executions, again.blocks[0].output, again.values) == (0, "hello\n", first.values)

    (tmp_path / "page.md").write_text("New prose. " + PAGE, encoding="utf-8")
    assert run(tmp_path, store).executions == 0  # a prose edit runs nothing

    snippet = tmp_path / "snippets" / "tiny.py"
    snippet.write_text("# another comment\n" + snippet.read_text(), encoding="utf-8")
    assert run(tmp_path, store).executions == 1  # an included file changed, if not the code

    setup(tmp_path, word="world")
    changed = run(tmp_path, store)
    assert (changed.executions, changed.values["word"]) == (1, "world")


def test_the_key_covers_the_jax_platform(tmp_path, monkeypatch):
    setup(tmp_path)
    store = RunCache(tmp_path / "cache", root=tmp_path)
    run(tmp_path, store)
    monkeypatch.setenv("JAX_PLATFORMS", "cpu,tpu")
    cache.environment.cache_clear()
    try:
        assert run(tmp_path, store).executions == 1
    finally:
        cache.environment.cache_clear()


def test_the_cache_is_off_unless_asked(monkeypatch):
    monkeypatch.delenv("SITEBUILD_CACHE", raising=False)
    assert RunCache.from_env() is None
    monkeypatch.setenv("SITEBUILD_CACHE", "true")
    assert RunCache.from_env().folder.parts[-2:] == (".cache", "page-runs")
    monkeypatch.setenv("SITEBUILD_CACHE", "false")
    assert RunCache.from_env() is None
    # mkdocs.yml hands the same value to mkdocs-jupyter, which takes a boolean.
    monkeypatch.setenv("SITEBUILD_CACHE", "/tmp/runs")
    with pytest.raises(ValueError, match="set it to true or false"):
        RunCache.from_env()
