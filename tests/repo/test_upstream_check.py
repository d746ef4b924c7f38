"""tools/upstream_check.py (`make upstream-check`), its conftest and its import guard, on small folders of their own.

`make test` runs the whole check on the real packs; these tests show that each of its pieces fails what it must.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

import upstream_check  # noqa: E402


def run_folder(folder: Path, test_source: str) -> subprocess.CompletedProcess:
    """pytest in ``folder`` as the check runs it: our conftest in place, the import guard loaded."""
    (folder / "Sample_test.py").write_text(test_source, encoding="utf-8")
    (folder / "conftest.py").write_text(upstream_check.OWN_CONFTEST.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    env = upstream_check.child_env(PYTHONPATH=str(REPO / "tools"))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "upstream_import_guard", "Sample_test.py"]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_a_quiet_test_with_the_environments_libraries_passes(tmp_path):
    done = run_folder(
        tmp_path,
        "import json, logging\nimport dateutil, requests, requests_mock, yaml\n\n"
        "def test_quiet():\n    logging.getLogger().info('fine')\n    assert json.loads('1') == 1\n",
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("import logging\n\ndef test_loud():\n    logging.getLogger().warning('careful')\n", "WARNING: careful"),
        ("def test_prints():\n    print('hello')\n", "the test wrote to stdout: hello"),
        ("import sys\n\ndef test_writes():\n    sys.stderr.write('oops')\n", "the test wrote to stderr: oops"),
    ],
)
def test_the_conftest_fails_a_test_that_logs_a_warning_or_prints(tmp_path, body, words):
    done = run_folder(tmp_path, body)
    assert done.returncode == 1
    assert words in done.stdout


def test_the_guard_refuses_a_library_content_does_not_have(tmp_path):
    done = run_folder(tmp_path, "def test_uses_click():\n    import click  # demisto-sdk brings it here, content has not\n")
    assert done.returncode == 1
    assert "No module named 'click' (not in content's test environment)" in done.stdout


def test_the_guard_allows_what_the_image_and_the_test_requirements_bring():
    sys.path.insert(0, str(REPO / "tools"))
    import upstream_import_guard as guard

    allowed = guard.allowed_modules()
    assert {"requests", "urllib3", "yaml", "dateutil", "dateparser", "requests_mock", "pytest", "freezegun"} <= allowed
    assert not {"click", "demisto_sdk", "typer", "ruff"} & allowed


def test_the_path_check_refuses_a_test_file_content_does_not_accept(tmp_path, capsys):
    upstream_check.copy_folders(REPO, tmp_path)
    assert upstream_check.check_paths(tmp_path) == []
    assert capsys.readouterr().out.startswith("paths: validate-content-path accepts all ")
    extra = tmp_path / "Packs/ThreatMon/Integrations/ThreatMon/ThreatMon_mirroring_test.py"
    extra.write_text("", encoding="utf-8")
    problems = upstream_check.check_paths(tmp_path)
    assert len(problems) == 1 and "ThreatMon_mirroring_test.py" in problems[0]


def test_the_copy_holds_the_three_folders_alone(tmp_path):
    upstream_check.copy_folders(REPO, tmp_path)
    assert sorted(str(path.relative_to(tmp_path)) for path in (tmp_path / "Packs").glob("*")) == [
        "Packs/ApiModules",
        "Packs/ThreatMon",
        "Packs/ThreatMonThreatFeed",
    ]
    assert [path.name for path in (tmp_path / "Packs/ApiModules").iterdir()] == ["Scripts"]
    assert not list(tmp_path.rglob("__pycache__"))
    assert [folder.name for folder in upstream_check.code_folders(tmp_path)] == [
        "ThreatMonApiModule",
        "ThreatMon",
        "ThreatMonRequestsWidget",
        "ThreatMonThreatFeed",
    ]


def test_a_content_conftest_that_is_not_there_is_an_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("CONTENT_CONFTEST", str(tmp_path / "missing.py"))
    monkeypatch.delenv("XSOAR_RUNTIME_DIR", raising=False)
    assert upstream_check.main(["--steps", "paths"]) == 1
    assert "is not a file (it names content's conftest.py)" in capsys.readouterr().err


def test_unknown_steps_are_refused(capsys):
    with pytest.raises(SystemExit):
        upstream_check.main(["--steps", "lint"])
    assert "--steps takes paths, unify and tests; got lint" in capsys.readouterr().err


def test_child_processes_get_no_coverage_and_no_repository_path(monkeypatch):
    monkeypatch.setenv("COV_CORE_SOURCE", "x")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    env = upstream_check.child_env(EXTRA="1")
    assert "COV_CORE_SOURCE" not in env and "PYTHONPATH" not in env
    assert env["EXTRA"] == "1" and env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert os.environ["PYTHONPATH"] == str(REPO)  # the parent's environment is left alone
