"""The local runner on its own, with a tiny stand-in integration (tests/e2e/test_data/fake_integration.py)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import demistomock as demisto
import pytest

from runner import IntegrationRunner, runtime_dir
from runner.display import MASK, incidents_table, render_markdown, render_result, secrets_of
from runner.runtime import RuntimeSelectionError

FAKE = Path(__file__).resolve().parent / "test_data" / "fake_integration.py"
REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "fake-secret-key-4242"
PARAMS = {"credentials": {"identifier": "", "password": SECRET}, "batch": "2"}


@pytest.fixture
def fake(tmp_path):
    def build(params=None, **kwargs):
        return IntegrationRunner(FAKE, params if params is not None else dict(PARAMS), **kwargs)

    return build


def test_runner_uses_the_same_runtime_as_the_test_session():
    assert Path(demisto.__file__).resolve().parent == runtime_dir()


def test_runtime_selection_refuses_a_folder_without_the_files(tmp_path):
    with pytest.raises(RuntimeSelectionError, match="does not hold"):
        runtime_dir(environ={"XSOAR_RUNTIME_DIR": str(tmp_path)})
    assert runtime_dir(environ={}) == REPO_ROOT / "xsoar_runtime"


def test_a_command_result_becomes_entries_context_and_readable_text(fake):
    result = fake().run("echo", {"text": "hello"})
    assert result.ok and result.exit_code is None
    assert result.context == {"Fake.Echo(val.id && val.id == obj.id)": {"id": 1, "text": "hello"}}
    assert "hello" in result.readable and "Echo" in result.readable


def test_return_error_in_a_command_is_the_result_error(fake):
    result = fake().run("no-such-command")
    assert result.error == "Failed to execute no-such-command: no-such-command is not implemented"
    assert result.exit_code == 0
    assert result.entries[-1]["Type"] == 4


def test_fetch_incidents_keeps_last_run_in_a_file_between_runners(fake, tmp_path):
    path = tmp_path / "state" / "lastrun.json"
    first = fake(last_run_file=path).run("fetch-incidents")
    assert [i["name"] for i in first.incidents] == ["Fake 0", "Fake 1"]
    assert json.loads(path.read_text()) == {"n": 2}
    second = fake(last_run_file=path).run("fetch-incidents")  # a new process, as on the server
    assert [i["name"] for i in second.incidents] == ["Fake 2", "Fake 3"]
    assert second.last_run == {"n": 4} and second.last_run_set


def test_a_failed_fetch_commits_neither_incidents_nor_last_run(fake):
    runner = fake({**PARAMS, "fail_after_sending": True})
    result = runner.run("fetch-incidents")
    assert result.error == "Failed to execute fetch-incidents: the fetch broke after sending"
    assert result.incidents == [] and len(result.discarded_incidents) == 2
    assert result.last_run == {} and not result.last_run_set


def test_fetch_until_empty_stops_on_the_first_failure(fake):
    runs = fake({**PARAMS, "fail_after_sending": True}).fetch_until_empty(max_runs=5)
    assert len(runs) == 1


def test_last_run_must_be_json(fake):
    result = fake().run("not-json")
    assert "not JSON-serialisable" in result.error


def test_other_exit_codes_are_errors(fake):
    result = fake().run("exit-3")
    assert result.exit_code == 3 and "code 3" in result.error


def test_indicators_logs_and_integration_context_are_collected(fake):
    runner = fake()
    result = runner.run("indicators")
    assert [indicator["value"] for indicator in result.indicators] == [
        "198.51.100.7",
        "203.0.113.0",
        "203.0.113.1",
        "203.0.113.2",
    ]
    assert result.indicator_batches == [1, 3]
    assert runner.run("context").readable == "1"
    again = runner.run("context")
    assert again.readable == "2" and again.integration_context == {"runs": 2}
    assert ("debug", "fake: running context") in again.logs


def test_without_keeping_indicators_only_the_batch_sizes_are_recorded(fake):
    result = fake(keep_indicators=False).run("indicators")
    assert result.indicators == [] and result.indicator_batches == [1, 3]


def test_each_run_imports_the_api_module_afresh_and_leaves_the_sessions_own(fake):
    ours = importlib.import_module("ThreatMonApiModule")  # the session's (conftest puts the module folder on the path)
    runner = fake()
    assert [runner.run("api-module").readable for _ in range(2)] == ["fresh", "fresh"]  # as each server run is a new process
    assert not hasattr(ours, "fake_marked")  # no run used the session's module
    assert sys.modules["ThreatMonApiModule"] is ours


def test_each_file_is_compiled_once_and_without_the_runners_future_imports(fake):
    runner = fake()
    first, second = (json.loads(runner.run("compiled").readable) for _ in range(2))
    assert first["annotation"] == "<class 'int'>"  # the runner's own `from __future__ import annotations` stays its own
    assert first["api_module_code"] == second["api_module_code"]  # the module runs anew, from code compiled once
    assert [runner.run("api-module").readable for _ in range(2)] == ["fresh", "fresh"]


def test_commands_run_in_the_given_incident_or_in_the_playground(fake):
    inside = fake(incident={"id": "42", "CustomFields": {"threatmonalarmcode": "48213"}}).run("where")
    assert inside.readable == "42:48213"
    assert fake().run("where").readable == "playground:None"


def test_sleep_can_be_replaced_and_demistomock_is_restored(fake):
    delays = []
    original_params = demisto.params
    result = fake(sleep=delays.append).run("nap")
    assert result.readable == "rested" and delays == [30]
    assert demisto.params is original_params


def test_the_runner_records_secrets_raw_and_display_masks_them(fake):
    result = fake().run("leak")
    assert SECRET in result.everything_as_text()  # the record is raw, so tests can catch a leak
    shown = render_result(result, secrets_of(PARAMS), verbose=True)
    assert SECRET not in shown and MASK in shown


def test_secrets_of_finds_every_sensitive_value_and_its_quoted_forms():
    params = {"url": "https://x", "credentials": {"identifier": "user", "password": "p@ss word"}, "api_token": "tok-123"}
    found = secrets_of(params)
    assert {"p@ss word", "p%40ss%20word", "p%40ss+word", "tok-123", "user"} <= set(found)
    assert "https://x" not in found


def test_markdown_tables_are_aligned_for_reading():
    text = "### Alarms\n|Code|Title|\n|---|---|\n| 1 | short |\n| 12345 | a \\| pipe |\n"
    assert render_markdown(text).splitlines() == [
        "Alarms",
        "~~~~~~",
        "Code   Title",
        "-----  --------",
        "1      short",
        "12345  a | pipe",
    ]


def test_incidents_table_shows_code_severity_occurred_and_name():
    incidents = [
        {"name": "ThreatMon Alarm 7: x", "severity": 4, "occurred": "2025-01-01T00:00:00Z", "dbotMirrorId": "7"},
        {"name": "no mirror id", "severity": 0.5, "occurred": "", "rawJSON": json.dumps({"alarmCode": 9})},
    ]
    lines = incidents_table(incidents).splitlines()
    assert lines[0].split() == ["code", "severity", "occurred", "name"]
    assert lines[2].split()[:3] == ["7", "Critical", "2025-01-01T00:00:00Z"]
    assert lines[3].split()[:2] == ["9", "Info"]


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "runner", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, env=env
    )


def test_cli_prints_readable_entries_and_masks_the_key(tmp_path):
    params = tmp_path / "params.json"
    params.write_text(json.dumps(PARAMS))
    done = run_cli("--integration", str(FAKE), "--params", str(params), "--command", "leak", "-v")
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert f"key={MASK}" in done.stdout


def test_cli_fetches_until_empty_and_keeps_last_run(tmp_path):
    last_run = tmp_path / "lastrun.json"
    args = ["--integration", str(FAKE), "--params", json.dumps(PARAMS), "--command", "fetch-incidents"]
    done = run_cli(*args, "--last-run", str(last_run), "--repeat", "2")
    assert done.returncode == 0, done.stderr
    assert "=== run 2 ===" in done.stdout and "Fake 3" in done.stdout
    assert json.loads(last_run.read_text()) == {"n": 4}


def test_cli_takes_the_key_from_the_environment_and_fails_with_status_1(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "FAKE_KEY": SECRET}
    done = run_cli("--integration", str(FAKE), "--api-key-env", "FAKE_KEY", "--command", "leak", "--json", env=env)
    assert done.returncode == 0 and SECRET not in done.stdout
    assert json.loads(done.stdout)["entries"][0]["Contents"] == f"key={MASK}"
    failed = run_cli("--integration", str(FAKE), "--command", "nothing", env=env)
    assert failed.returncode == 1 and "ERROR: Failed to execute nothing" in failed.stdout


def test_cli_refuses_a_missing_integration_file():
    done = run_cli("--integration", "nowhere.py", "--command", "test-module")
    assert done.returncode == 2 and "no integration file" in done.stderr
