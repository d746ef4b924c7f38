"""tools/fetch_stress.py: the alarm-list readers under quirk combinations, and the comparison of their requests with
the requests each scenario sent before (tools/fetch_stress_requests.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import fetch_stress

REPO = Path(__file__).resolve().parents[2]
SAVED = REPO / "tools" / "fetch_stress_requests.json"
# The fetch and threatmon_list_alarms in both orders, every totalRecords reading, inserts and faults; the mirroring
# sweep in both orders and paginations, every totalRecords reading.
SUBSETS = ["| pages of 5 overlap 1 |", "| budget 3"]


def test_every_scenario_has_its_requests_saved():
    names = {**fetch_stress.fetch_scenarios(), **fetch_stress.mirror_scenarios(), **fetch_stress.list_scenarios()}
    assert set(json.loads(SAVED.read_text())) == set(names)


@pytest.mark.parametrize("subset", SUBSETS)
def test_the_scenarios_pass_and_send_no_more_requests_than_saved(capsys, subset):
    assert fetch_stress.main(["-k", subset, "--compare", str(SAVED)]) == 0
    out = capsys.readouterr().out
    assert " 0 failed" in out and ", 0 more (before " in out


def test_a_scenario_that_sends_more_requests_than_saved_fails_the_comparison(tmp_path, capsys):
    name = "fetch desc | pages of 5 overlap 1 | flip none | total exact | filter greater | calm | max_fetch 7"
    saved = json.loads(SAVED.read_text())
    fewer = {name: {"requests": [max(0, count - 1) for count in saved[name]["requests"]]}}
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(fewer))
    assert fetch_stress.main(["-k", name, "--compare", str(baseline)]) == 1
    assert f"MORE REQUESTS {name}" in capsys.readouterr().out


def test_write_keeps_the_requests_of_every_scenario_run(tmp_path, capsys):
    name = "list asc | pages of 10 | total exact | limit 35"
    written = tmp_path / "requests.json"
    assert fetch_stress.main(["-k", name, "--write", str(written)]) == 0
    capsys.readouterr()
    assert json.loads(written.read_text()) == {name: json.loads(SAVED.read_text())[name]}
