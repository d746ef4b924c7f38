"""tools/sdk_summary.py: `make validate` says that nothing failed where demisto-sdk prints its red
"errors were thrown" summary with no error in it, and shows everything else unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "sdk_summary.py"
SDK = Path(sys.executable).parent / "demisto-sdk"
NOTHING_FAILED = (
    "Validate summary: nothing failed. (demisto-sdk prints a red 'errors were thrown' summary after every run; "
    "this time it listed no error code, so it was left out.)"
)
RED, GREEN, RESET = "\x1b[31m", "\x1b[32m", "\x1b[0m"


def banner(codes: str = "", warnings: str = "") -> list[str]:
    """The summary as demisto-sdk 1.39.13 prints it (validation_results.summarize_validation_results)."""
    lines = [f"{RED}Validate summary"]
    if warnings:
        lines.append(f"The following errors were reported as warnings: {warnings}.")
    lines += [
        f"The following errors were thrown as a part of this pr: {codes}.",
        "If the AG100 validation in the pre-commit GitHub Action fails, the pull request cannot be force-merged.",
        RESET,
        f"{GREEN}#############################################################################",
        "Please note that the PR can be force merged from the validation perspective.",
        "############################################################################",
        RESET,
    ]
    return lines


def run(lines: list[str], exit_code: int) -> subprocess.CompletedProcess:
    """The tool around a stand-in command that prints ``lines`` and exits with ``exit_code``."""
    script = f"import sys; sys.stdout.write({''.join(line + chr(10) for line in lines)!r}); sys.exit({exit_code})"
    command = [sys.executable, str(TOOL), sys.executable, "-c", script]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def plain(lines: list[str]) -> list[str]:
    return [line.replace(RED, "").replace(GREEN, "").replace(RESET, "") for line in lines]


def test_an_empty_summary_after_a_pass_becomes_one_line():
    done = run(["Starting validate items.", f"{GREEN}All validations passed.{RESET}", *banner()], 0)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.splitlines() == ["Starting validate items.", "All validations passed.", NOTHING_FAILED]


REPOSITORY_WARNINGS = [
    "Could not get repository properties: Remote named 'origin' didn't exist, using provided configs, or default.",
    "Could not get repository properties: 'GitUrlParsed' object has no attribute 'domain', using provided configs, or default.",
]


@pytest.mark.parametrize("exit_code", [0, 1])
def test_the_repository_warning_of_a_clone_without_a_github_origin_is_dropped(exit_code):
    done = run([*REPOSITORY_WARNINGS, "Starting secrets detection", *REPOSITORY_WARNINGS, "done"], exit_code)
    assert (done.returncode, done.stdout.splitlines()) == (exit_code, ["Starting secrets detection", "done"])


def test_colour_codes_are_removed_when_the_output_is_not_a_terminal():
    done = run([f"{GREEN}Starting secrets detection{RESET}", f"{RED}[BA101] the id is wrong{RESET}"], 1)
    assert "\x1b" not in done.stdout
    assert done.stdout.splitlines() == ["Starting secrets detection", "[BA101] the id is wrong"]


def test_colour_codes_reach_a_terminal(monkeypatch, capfd):
    sys.path.insert(0, str(REPO / "tools"))
    import sdk_summary

    monkeypatch.setattr(sdk_summary, "colours_wanted", lambda: True)
    line = f"{GREEN}All validations passed.{RESET}"
    assert sdk_summary.run([sys.executable, "-c", f"print({line!r})"]) == 0
    assert capfd.readouterr().out == line + "\n"


def test_warnings_in_the_summary_are_kept():
    done = run([*banner(warnings="RM114")], 0)
    assert done.stdout.splitlines() == ["The following errors were reported as warnings: RM114.", NOTHING_FAILED]


@pytest.mark.parametrize(("codes", "exit_code"), [("BA101, PA100", 1), ("", 1), ("RM104", 0)])
def test_a_failure_or_a_listed_error_shows_everything(codes, exit_code):
    lines = ["[BA101] the id is wrong", *banner(codes)]
    done = run(lines, exit_code)
    assert done.returncode == exit_code
    assert done.stdout.splitlines() == plain(lines)


def test_output_without_a_summary_passes_through():
    done = run(["Zipping ThreatMon", "done"], 0)
    assert done.stdout.splitlines() == ["Zipping ThreatMon", "done"]


@pytest.mark.skipif(not SDK.is_file(), reason="demisto-sdk is not installed in this environment (make install)")
def test_the_real_validate_says_nothing_failed_and_no_errors_were_thrown():
    env = {**os.environ, "DEMISTO_SDK_IGNORE_CONTENT_WARNING": "1"}
    command = [
        sys.executable, str(TOOL), str(SDK), "validate", "-i", "Packs/ThreatMon", "--config-path", "validation_config.toml",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "All validations passed." in done.stdout
    assert done.stdout.splitlines()[-1] == NOTHING_FAILED
    assert "errors were thrown as a part of this pr" not in done.stdout
