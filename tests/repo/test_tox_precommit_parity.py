"""tox and pre-commit run the checks `make test` runs: the commands of `make -n` for every prerequisite of
`make test` but `zip`, without paths and output options, are in both.
`make zip`'s zips are the one thing they leave out, as the README and both files say."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
NOISE = (
    "DEMISTO_SDK_IGNORE_CONTENT_WARNING=1",
    "env",
    "python",
    "-m",
    "tools/sdk_summary.py",
    "--cov-report=term-missing",
    "-q",
    "{posargs}",
    "--force-exclude",
    ".",
)


def check(command: str) -> str:
    """A command reduced to what it checks: no venv paths, interpreter, output options or file arguments."""
    words = [word.removeprefix(".venv/bin/") for word in command.split()]
    return " ".join(word for word in words if word not in NOISE)


def make_test_targets() -> list[str]:
    """The prerequisites of `make test`, but `zip` (the one thing tox and pre-commit leave out)."""
    line = next(line for line in (REPO / "Makefile").read_text(encoding="utf-8").splitlines() if line.startswith("test:"))
    return [target for target in line.removeprefix("test:").split() if target != "zip"]


def make_checks() -> set[str]:
    stamps = ["-o", ".venv/.dev-installed", "-o", ".venv/.runtime-installed", "-o", ".venv/bin/python"]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MAKE", "MFLAGS"))}
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", *stamps, *make_test_targets()],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return {check(line) for line in done.stdout.splitlines() if line.strip()}


def tox_checks() -> set[str]:
    parser = configparser.ConfigParser()
    parser.read(REPO / "tox.ini")
    envs = [f"testenv:{name.strip()}" for name in parser["tox"]["envlist"].split(",")]
    return {check(line) for env in envs for line in parser[env]["commands"].splitlines() if line.strip()}


def pre_commit_checks() -> set[str]:
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    return {check(hook["entry"]) for repo in config["repos"] for hook in repo["hooks"]}


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_tox_and_pre_commit_run_every_check_of_make_test():
    expected = make_checks()
    assert {"ruff check", "ruff format --check", "pytest --cov"} <= expected
    assert any(re.match(r"tools/coverage_floor\.py \d+$", c) for c in expected)
    assert any(c.startswith("demisto-sdk validate -i ") for c in expected)
    assert "tests/compat/bc_check.py" in expected
    assert {"tools/code_checks.py mypy", "tools/code_checks.py xsoar-lint", "tools/code_checks.py secrets"} <= expected
    assert expected - tox_checks() == set()
    assert expected - pre_commit_checks() == set()


def test_what_they_leave_out_is_said():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### tox and pre-commit") :].split("\n## ")[0]
    assert "What they leave out:" in section
    for text in (section, *((REPO / path).read_text(encoding="utf-8") for path in ("tox.ini", ".pre-commit-config.yaml"))):
        assert "zips to build/uploadable_packs/" in " ".join(text.replace("`", "").replace("#", "").split())
