"""Summarise one run of the test suite for the home page's "Tested on" table.

    python -m sitebuild.tested_on --junit junit.xml --log pytest.log \\
        --command "GPU_TESTS=1 python -m pytest ..." --out results/tested-on-h100.json

Reads the counts from pytest's JUnit XML, the number of page code blocks
executed from the line tests/conftest.py prints at the end of the run, and
the machine and versions from this interpreter (run it where the tests ran).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import xml.etree.ElementTree as ET

BLOCKS_LINE = re.compile(r"^page code blocks executed: (\d+)", re.M)


def test_counts(junit_text: str) -> dict:
    root = ET.fromstring(junit_text)
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    total = int(suite.get("tests"))
    failed = int(suite.get("failures")) + int(suite.get("errors"))
    skipped = int(suite.get("skipped"))
    return {
        "total": total,
        "passed": total - failed - skipped,
        "failed": failed,
        "skipped": skipped,
        "timestamp": suite.get("timestamp", ""),
    }


def page_blocks(log_text: str) -> int:
    match = BLOCKS_LINE.search(log_text)
    if match is None:
        raise SystemExit(
            "the log has no 'page code blocks executed' line: pass the output of a "
            "pytest run that ran tests/test_pages.py"
        )
    return int(match.group(1))


def summary(junit_text: str, log_text: str, command: str) -> dict:
    import jax
    import jaxlib
    import numpy as np

    from sitebuild.machine import machine

    host = machine()
    device = jax.devices()[0]
    counts = test_counts(junit_text)
    cpu = f"{host['cpu_count']}-core CPU ({host['cpu']})"
    return {
        "device": device.device_kind if device.platform == "gpu" else cpu,
        "platform": device.platform,
        "tests": {k: v for k, v in counts.items() if k != "timestamp"},
        "page_blocks_executed": page_blocks(log_text),
        "versions": {
            "python": platform.python_version(),
            "jax": jax.__version__,
            "jaxlib": jaxlib.__version__,
            "numpy": np.__version__,
        },
        "date": counts["timestamp"],
        "command": command,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--junit", required=True, help="pytest's --junitxml file")
    parser.add_argument("--log", required=True, help="pytest's printed output")
    parser.add_argument("--command", required=True, help="the command that ran the tests")
    parser.add_argument("--out", required=True, help="JSON file to write")
    args = parser.parse_args(argv)
    with open(args.junit, encoding="utf-8") as junit, open(args.log, encoding="utf-8") as log:
        result = summary(junit.read(), log.read(), args.command)
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(result, out, indent=1)
        out.write("\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
