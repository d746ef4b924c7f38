"""The local runner's incoming mirroring: the state file (integration context and the time of the last cycle) and a
cycle run the way the server runs it, with a tiny stand-in integration (tests/e2e/test_data/fake_integration.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runner import IntegrationRunner

FAKE = Path(__file__).resolve().parent / "test_data" / "fake_integration.py"
REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "fake-secret-key-4242"
PARAMS = {"credentials": {"identifier": "", "password": SECRET}}
STATUSES = {"7": "In Progress", "9": "Resolved", "11": ""}


@pytest.fixture
def state(tmp_path) -> Path:
    """A state file whose integration context lists three changed ids (7 changed, 9 closed, 11 nothing to update)."""
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"integration_context": {"statuses": STATUSES}, "last_mirror_update": "2025-03-15T12:00:00Z"}))
    return path


def test_the_integration_context_is_kept_in_the_state_file_between_runners(tmp_path):
    path = tmp_path / "runner" / "state.json"
    IntegrationRunner(FAKE, PARAMS, state_file=path).run("context")
    assert json.loads(path.read_text())["integration_context"] == {"runs": 1}
    assert IntegrationRunner(FAKE, PARAMS, state_file=path).run("context").readable == "2"


def test_a_cycle_runs_get_modified_remote_data_then_get_remote_data_for_each_id(state):
    runner = IntegrationRunner(FAKE, PARAMS, state_file=state)
    cycle = runner.mirror_cycle()
    assert cycle.ok
    assert cycle.ids == ["11", "7", "9"]
    assert [(run.command, run.args) for run in runner.history] == [
        ("get-modified-remote-data", {"lastUpdate": "2025-03-15T12:00:00Z"}),
        ("get-remote-data", {"id": "11", "lastUpdate": "2025-03-15T12:00:00Z"}),
        ("get-remote-data", {"id": "7", "lastUpdate": "2025-03-15T12:00:00Z"}),
        ("get-remote-data", {"id": "9", "lastUpdate": "2025-03-15T12:00:00Z"}),
    ]
    assert cycle.updates == {"7": {"id": "7", "status": "In Progress"}, "9": {"id": "9", "status": "Resolved"}}
    assert cycle.closes == {
        "9": {"dbotIncidentClose": True, "closeReason": "Resolved", "closeNotes": "closed since 2025-03-15T12:00:00Z"}
    }


def test_the_next_cycle_asks_since_the_start_of_the_previous_one(state):
    first = IntegrationRunner(FAKE, PARAMS, state_file=state)
    first.mirror_cycle()
    moved = json.loads(state.read_text())["last_mirror_update"]
    assert moved > "2025-03-15T12:00:00Z"
    second = IntegrationRunner(FAKE, PARAMS, state_file=state)  # a new process, as on the server
    second.mirror_cycle()
    assert second.integration_context["asked"] == ["2025-03-15T12:00:00Z", moved]


def test_a_failed_cycle_asks_nothing_more_and_keeps_last_update(state):
    runner = IntegrationRunner(FAKE, {**PARAMS, "mirror_fail": True}, state_file=state)
    cycle = runner.mirror_cycle()
    assert not cycle.ok and cycle.ids == [] and cycle.remote == {}
    assert "did not answer" in cycle.modified.error
    assert json.loads(state.read_text())["last_mirror_update"] == "2025-03-15T12:00:00Z"


def test_without_a_state_file_a_cycle_starts_from_now_and_keeps_the_context_in_memory():
    runner = IntegrationRunner(FAKE, PARAMS)
    assert runner.mirror_cycle().ids == []
    assert runner.last_mirror_update is not None
    assert runner.integration_context["asked"] == [runner.last_mirror_update]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "runner", "--integration", str(FAKE), *args]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)


def test_cli_runs_mirroring_cycles_and_masks_the_key(state):
    done = run_cli("--params", json.dumps(PARAMS), "--mirror-cycle", "--state", str(state), "--repeat", "2")
    assert done.returncode == 0, done.stderr
    assert "=== cycle 2 ===" in done.stdout
    assert "get-modified-remote-data (lastUpdate 2025-03-15T12:00:00Z): 3 changed: 11, 7, 9" in done.stdout
    assert 'get-remote-data 7: {"id": "7", "status": "In Progress"}' in done.stdout
    assert "get-remote-data 9: " in done.stdout and "closes the incident (reason Resolved)" in done.stdout
    assert "get-remote-data 11: nothing to update" in done.stdout
    assert SECRET not in done.stdout


def test_cli_needs_a_command_or_a_mirroring_cycle():
    done = run_cli()
    assert done.returncode == 2 and "give --command (or --mirror-cycle)" in done.stderr
