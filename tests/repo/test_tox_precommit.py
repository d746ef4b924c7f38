"""tox and pre-commit call the Makefile's targets and repeat no command; on a commit, pre-commit runs only the
fast checks (the whole suite stays in `make test`)."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SLOW = {"test", "unit", "zip", "bc", "xsoar-lint"}


def make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z-]*):", text, re.MULTILINE))


def targets_of(command: str) -> list[str]:
    """The make targets a command line runs; fails when it runs anything but make."""
    words = shlex.split(command)
    if words[:2] == ["sh", "-c"]:  # pre-commit's form for passing the staged files: sh -c 'exec make ... FILES="$*"' --
        words = shlex.split(words[2].removeprefix("exec "))
    assert words[0] == "make", f"{command!r} runs {words[0]}, not a Makefile target"
    return [word for word in words[1:] if not word.startswith("-") and "=" not in word]


def tox_commands() -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(REPO / "tox.ini")
    envs = [name.strip() for name in parser["tox"]["envlist"].split(",")]
    default = parser["testenv"]["commands"]
    return {env: parser[f"testenv:{env}"]["commands"] if f"testenv:{env}" in parser else default for env in envs}


def hooks() -> list[dict]:
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    return [hook for repo in config["repos"] for hook in repo["hooks"]]


def test_tox_runs_the_targets_of_make_test_through_make():
    known = make_targets()
    ran = []
    for env, command in tox_commands().items():
        targets = [env if word == "{env_name}" else word for word in targets_of(command)]
        assert set(targets) <= known, f"tox env {env} runs {targets}, not all Makefile targets"
        ran += targets
    line = next(line for line in (REPO / "Makefile").read_text(encoding="utf-8").splitlines() if line.startswith("test:"))
    assert sorted(ran) == sorted(line.removeprefix("test:").split())


def test_every_pre_commit_hook_runs_a_makefile_target_and_a_commit_only_the_fast_ones():
    known = make_targets()
    on_commit = set()
    for hook in hooks():
        targets = targets_of(hook["entry"])
        assert len(targets) == 1 and targets[0] in known, hook["id"]
        if "manual" not in hook.get("stages", []):
            on_commit.add(targets[0])
    assert on_commit == {"lint", "mypy", "secrets", "validate"}
    assert not on_commit & SLOW
