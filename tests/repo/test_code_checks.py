"""tools/code_checks.py: the files mypy, xsoar-lint and secrets are given, and how xsoar-lint's output is read."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

import code_checks  # noqa: E402


def test_xsoar_code_is_every_integration_script_and_api_module_without_tests():
    files = code_checks.xsoar_code()
    assert "Packs/ThreatMon/Integrations/ThreatMon/ThreatMon.py" in files
    assert "Packs/ThreatMonThreatFeed/Integrations/ThreatMonThreatFeed/ThreatMonThreatFeed.py" in files
    assert "Packs/ApiModules/Scripts/ThreatMonApiModule/ThreatMonApiModule.py" in files
    assert "Packs/ThreatMon/Scripts/ThreatMonRequestsWidget/ThreatMonRequestsWidget.py" in files
    assert not [name for name in files if name.endswith("_test.py")]


def test_xsoar_code_finds_a_new_integration(tmp_path):
    for path in ("Packs/New/Integrations/New/New.py", "Packs/New/Integrations/New/New_test.py", "tools/other.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("", encoding="utf-8")
    assert code_checks.xsoar_code(tmp_path) == ["Packs/New/Integrations/New/New.py"]


def test_pack_text_files_are_the_text_files_of_every_pack(tmp_path):
    for path in ("Packs/A/README.md", "Packs/A/Integrations/A/A.yml", "Packs/B/pack_metadata.json", "Packs/A/x.png"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("", encoding="utf-8")
    assert code_checks.pack_text_files(tmp_path) == [
        "Packs/A/Integrations/A/A.yml",
        "Packs/A/README.md",
        "Packs/B/pack_metadata.json",
    ]


@pytest.mark.parametrize(
    ("output", "messages"),
    [
        ("Could not get repository properties\nxsoar-lint done", 0),
        ("Packs/A/A.py:12:4: W9013 Hardcoded http URL was found (hardcoded-http-url)", 1),
        ("************* Module A\nPacks/A/A.py:1:0: E9002 Print is found\nPacks/A/A.py:9:1: C0301 long", 2),
        # An API module has no main(): it is inlined, never run (content's xsoar-supported ApiModules pack).
        ("/r/Packs/ApiModules/Scripts/XApiModule/XApiModule.py:1:0: W9005 : Main function wasnt found in the file", 0),
        ("/r/Packs/A/Integrations/A/A.py:1:0: W9005 : Main function wasnt found in the file", 1),
        ("/r/Packs/ApiModules/Scripts/XApiModule/XApiModule.py:3:0: W9016 : Initialize of params was found", 1),
    ],
)
def test_every_pylint_message_counts(output, messages):
    assert len(code_checks.lint_messages(output)) == messages


def test_an_unknown_check_is_a_usage_error(capsys):
    assert code_checks.main(["pylint"]) == 2
    assert "usage: python tools/code_checks.py {mypy,xsoar-lint,secrets} [FILE ...]" in capsys.readouterr().err


def test_given_files_narrow_a_check_to_those_of_its_own_files():
    own = ["Packs/A/Integrations/A/A.py", "Packs/B/Integrations/B/B.py"]
    assert code_checks.chosen(own, None) == own
    assert code_checks.chosen(own, ["./Packs/B/Integrations/B/B.py", "tools/x.py", "Packs/A/Integrations/A/A_test.py"]) == [
        "Packs/B/Integrations/B/B.py"
    ]
    assert code_checks.chosen(own, ["README.md"]) == []


@pytest.mark.parametrize("check", ["mypy", "xsoar-lint", "secrets"])
def test_a_check_given_none_of_its_files_runs_nothing(check, monkeypatch):
    def run(*_args, **_kwargs):
        raise AssertionError("nothing should run")

    monkeypatch.setattr(code_checks.subprocess, "run", run)
    assert code_checks.main([check, "README.md", "tools/code_checks.py"]) == 0
