"""Contract: the defaults of demistomock that unit tests rely on when they do not patch a function."""

import logging
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import demistomock as demisto
import pytest


@pytest.fixture
def info_lines(monkeypatch):
    """What reaches the root logger's info() (patched, so the quiet rule's log capture sees nothing)."""
    lines = []
    monkeypatch.setattr(logging.getLogger(), "info", lambda msg, *args: lines.append(msg % args if args else msg))
    return lines


def test_params_args_and_command_are_empty():
    assert demisto.params() == {}
    assert demisto.args() == {}
    assert demisto.command() == ""


def test_last_run_default_and_set_last_run_stores_nothing():
    assert demisto.getLastRun() == {"lastRun": "2018-10-24T14:13:20+00:00"}
    assert demisto.setLastRun({"last_alarm_code": 9}) is None
    assert demisto.getLastRun() == {"lastRun": "2018-10-24T14:13:20+00:00"}


def test_incident_is_the_first_sample_incident_with_empty_custom_fields():
    incident = demisto.incident()
    assert incident == demisto.incidents()[0]
    assert incident["id"] == "1"
    assert incident["CustomFields"] == {}


def test_incidents_with_a_list_reports_them_as_a_json_entry(monkeypatch):
    sent = []
    monkeypatch.setattr(demisto, "results", sent.append)
    demisto.incidents([{"name": "ThreatMon alarm 7"}])
    assert sent == [{"Type": 1, "Contents": '[{"name": "ThreatMon alarm 7"}]', "ContentsFormat": "json"}]


def test_integration_context_round_trip(monkeypatch):
    monkeypatch.setattr(demisto, "integrationContext", {})
    assert demisto.getIntegrationContext() == {}
    demisto.setIntegrationContext({"token": "t"})
    assert demisto.getIntegrationContext() == {"token": "t"}


def test_execute_command_without_a_server_answers_without_raising():
    # What the answer holds differs: the official file answers example data (getIncidents) or "", the stand-in one
    # error entry (held in test_runtime_selection.py); scripts' unit tests patch it with the server's answers.
    answer = demisto.executeCommand("getIncidents", {"query": "type:x"})
    assert isinstance(answer, list | dict | str)


def test_module_health_takes_one_message_and_returns_nothing(capsys):
    # Nothing to use comes back: None from the stand-in, "" from the official file.
    assert demisto.updateModuleHealth("3 runs without progress") in (None, "")
    assert demisto.updateModuleHealth("") in (None, "")
    assert capsys.readouterr() == ("", "")


def test_platform_facts():
    assert demisto.integrationInstance() == ""
    assert demisto.callingContext == {}
    assert demisto.is_debug is False
    assert demisto.createIndicators([{"value": "evil.test", "type": "Domain"}]) == ""


@pytest.mark.parametrize("function", ["debug", "info"])
def test_debug_and_info_log_at_info_level(info_lines, function):
    getattr(demisto, function)("fetched %d alarms", 3)
    assert info_lines == ["fetched 3 alarms"]


def test_results_log_at_info_level(info_lines):
    demisto.results({"Type": 1, "Contents": "x"})
    assert len(info_lines) == 1
    assert info_lines[0].startswith("demisto results: {")


def test_results_refuse_what_json_cannot_hold():
    with pytest.raises(TypeError):
        demisto.results({"Contents": datetime(2024, 1, 1)})


def test_error_prints_so_an_unpatched_error_log_breaks_the_quiet_rule(capsys):
    demisto.error("boom", 1)
    assert capsys.readouterr().out == "boom 1\n"


_WARNING_SCRIPT = """
import warnings
import demistomock as demisto
lines = []
demisto.info = lambda msg, *args: lines.append(msg)
import CommonServerPython
warnings.warn("old API", UserWarning)
print(lines)
"""


def test_python_warnings_go_to_the_server_log_once_the_runtime_is_loaded():
    env = {**os.environ, "PYTHONPATH": str(Path(demisto.__file__).parent), "PYTHONWARNINGS": "default"}
    done = subprocess.run(
        [sys.executable, "-c", _WARNING_SCRIPT], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.stderr == ""
    assert done.stdout.startswith("['python warning: <string>:7: UserWarning: old API")
