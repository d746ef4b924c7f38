"""The command lines: ``python -m simulator``, ``make demo`` (``python -m runner.demo``) and ``make bench``'s parts.

The benchmark is not timed here (a benchmark is not a test): these tests check that its pieces count,
compare and report correctly on a tiny workload.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from benchmarks import bench_fetch, report
from benchmarks.__main__ import main as bench_main
from simulator.server import DEFAULT_API_KEY, DEFAULT_IOC_TOKEN

REPO_ROOT = Path(__file__).resolve().parents[2]
THREATMON = REPO_ROOT / "Packs/ThreatMon/Integrations/ThreatMon/ThreatMon.py"
FEED = REPO_ROOT / "Packs/ThreatMonThreatFeed/Integrations/ThreatMonThreatFeed/ThreatMonThreatFeed.py"


def start(*args) -> subprocess.Popen:
    command = [sys.executable, "-m", "simulator", *args]
    return subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen) -> tuple[str, str]:
    """Stop it; the rest of its output (read through the same buffered pipes as readline)."""
    proc.terminate()
    proc.wait(timeout=10)
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    return out, err


def test_simulator_command_line_prints_its_url_and_key():
    proc = start("--alarms", "12", "--order", "desc", "--latency-ms", "1", "--idle-timeout", "20")
    try:
        first = proc.stdout.readline()
        assert first.startswith("ThreatMon simulator listening on http://127.0.0.1:")
        url = first.split()[-1]
        answer = requests.get(
            url + "/api/threatmon/external/v1/vulnerabilities/0", headers={"X-COMPANY-API-KEY": DEFAULT_API_KEY}, timeout=5
        )
        assert answer.json()["totalRecords"] == 12
    finally:
        out, err = stop(proc)
    assert DEFAULT_API_KEY in out and err == ""
    assert proc.returncode == 0


def test_simulator_json_line_and_faults_from_the_command_line():
    proc = start("--json", "--alarms", "5", "--fault", "#0=503,retry-after=3", "--idle-timeout", "20")
    try:
        info = json.loads(proc.stdout.readline())
        assert set(info) == {"url", "api_url", "ioc_url", "api_key", "ioc_token", "pid"}
        assert info["ioc_token"] == DEFAULT_IOC_TOKEN
        hit = requests.get(info["api_url"] + "/vulnerabilities/0", headers={"X-COMPANY-API-KEY": info["api_key"]}, timeout=5)
        assert hit.status_code == 503 and hit.headers["Retry-After"] == "3"
    finally:
        stop(proc)


def test_simulator_command_line_serves_data_removal_at_the_path_it_is_given():
    proc = start("--alarms", "60", "--data-removal-path", "/blackmarket/data-removal", "--data-removal-quota", "0")
    try:
        url = proc.stdout.readline().split()[-1]
        api = url + "/api/threatmon/external/v1"
        assert proc.stdout.readline().split()[0] == "alarm"
        assert proc.stdout.readline().split()[0] == "IOC"
        assert proc.stdout.readline().split() == ["removal", "POST", api + "/blackmarket/data-removal"]
        headers = {"X-COMPANY-API-KEY": DEFAULT_API_KEY}
        body = {"findingId": 1, "finding": "x"}
        assert requests.post(api + "/blackmarket/data-removal", json=body, headers=headers, timeout=5).status_code == 404
        assert requests.post(api + "/data-removal", json=body, headers=headers, timeout=5).status_code == 404
        state = requests.get(url + "/__sim__/state", timeout=5).json()
        assert state["config"]["data_removal_path"] == "/blackmarket/data-removal"
        assert state["config"]["data_removal_quota"] == 0
        assert [r["result"] for r in state["data_removals"]] == [404]  # unknown finding 1; the other path is no route
    finally:
        stop(proc)


def test_simulator_command_line_offers_every_knob_and_uses_it():
    from dataclasses import fields

    from simulator.__main__ import build_parser
    from simulator.config import SimConfig

    options = {action.dest for action in build_parser()._actions}
    assert {f.name for f in fields(SimConfig)} <= options
    proc = start(
        "--json",
        "--alarms",
        "12",
        "--page-size",
        "5",
        "--page-overlap",
        "1",
        "--order",
        "desc",
        "--insert-at",
        "0=2",
        "--total-records",
        "text",
        "--idle-timeout",
        "20",
    )
    try:
        info = json.loads(proc.stdout.readline())
        answer = requests.get(info["api_url"] + "/vulnerabilities/1", headers={"X-COMPANY-API-KEY": info["api_key"]}, timeout=5)
        state = requests.get(info["url"] + "/__sim__/state", timeout=5).json()
    finally:
        stop(proc)
    assert len(answer.json()["data"]) == 5 and answer.json()["totalRecords"] == "14"
    assert state["config"]["page_size"] == 5 and state["config"]["insert_at"] == {"0": 2} and state["inserted"] == 2


def test_simulator_readme_names_every_knob_and_fault_kind():
    from dataclasses import fields

    from simulator.config import SimConfig
    from simulator.faults import KINDS

    readme = (REPO_ROOT / "simulator" / "README.md").read_text(encoding="utf-8")
    assert [f.name for f in fields(SimConfig) if f"`{f.name}`" not in readme] == []
    assert [kind for kind in KINDS if kind != "status" and f"`{kind}" not in readme] == []


def test_simulator_command_line_refuses_a_bad_fault():
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "--fault", "#1=teapot"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2 and "unknown kind" in done.stderr


def test_make_demo_runs_the_whole_story_and_exits_0():
    env = {k: v for k, v in os.environ.items() if k != "XSOAR_RUNTIME_DIR"}  # as `make demo` runs it
    done = subprocess.run(
        [sys.executable, "-m", "runner.demo"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    for step in (
        "Start a ThreatMon simulator",
        "Configure a ThreatMon instance",
        "Test the connection (test-module)",
        "Fetch alarms as incidents (fetch-incidents)",
        "Answer an alarm in ThreatMon (threatmon_update_incident_status)",
        "Answer an alarm in ThreatMon: its incident follows (incoming mirroring)",
        "List alarms on demand (threatmon_list_alarms)",
        "threatmon_request_takedown",
        "threatmon_request_data_removal",
        "threatmon_list_cves",
        "Bring in ThreatMon's daily indicators (ThreatMon Threat Feed)",
        "An instance upgraded from ThreatMon Threat Feed 1.0.1",
        "threatmon-get-indicators",
        "Stop the simulator",
    ):
        assert step in out
    assert "37 incidents, each alarm exactly once" in out
    assert "as 'Resolved'" in out
    assert "closes the incident: reason 'False Positive'" in out
    assert "(data_removal_path) is empty, so no data removal request was sent" in out
    assert "Data removal request for finding" in out and "submitted to ThreatMon." in out
    assert DEFAULT_API_KEY not in out and DEFAULT_IOC_TOKEN not in out
    assert "(skipped:" not in out
    assert done.stderr == ""


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_fetch_benchmark_counts_runs_requests_and_alarms(order):
    result = bench_fetch.run_fetch_benchmark(alarms=35, latency_ms=0, max_fetch=10, order=order, measure_memory=False)
    assert result.errors == []
    assert result.runs == 5  # 10 + 10 + 10 + 5, then a run that brings nothing
    assert result.pages == 4 and result.request_budget == 9
    assert result.requests >= result.pages + 1  # every page, and one answer that says there is nothing more
    verdicts = {c.target: c.met for c in report.fetch_checks(result, bench_fetch.run_bare_loop(35, 0, order))}
    assert verdicts["requests <= pages + runs"] is (result.requests <= 9)


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_the_bare_loop_reads_every_page_and_the_empty_one(order):
    result = bench_fetch.run_bare_loop(alarms=35, latency_ms=0, order=order)
    assert (result.errors, result.requests, result.runs, result.max_fetch) == ([], 5, 1, None)


@pytest.mark.parametrize("client", ["bare", "ThreatMon.py"])
def test_a_drains_cpu_time_is_cut_every_few_requests_and_adds_up(client, monkeypatch):
    monkeypatch.setattr(bench_fetch, "SLICE_REQUESTS", 2)
    unclocked = requests.Session.request
    if client == "bare":
        result = bench_fetch.run_bare_loop(alarms=35, latency_ms=0, order="asc")
    else:
        result = bench_fetch.run_fetch_benchmark(alarms=35, latency_ms=0, max_fetch=10, order="asc", measure_memory=False)
    assert len(result.cpu_slices) == -(-result.requests // 2)  # a slice per two requests; the last may hold one
    assert sum(result.cpu_slices) == pytest.approx(result.cpu_s)
    assert requests.Session.request is unclocked  # the clock is taken off again


def test_the_request_clock_cuts_at_every_slices_first_request_between_start_and_end(monkeypatch):
    monkeypatch.setattr(bench_fetch, "SLICE_REQUESTS", 2)
    clock = bench_fetch.DrainClock()
    clock.marks += [0.2, 1.0, 2.0, 3.0, 4.0, 5.0, 9.0]  # requests started at these CPU times; 0.2 and 9.0 outside
    assert clock.slices(0.5, 5.5) == [2.5, 2.0, 0.5]  # 0.5-3.0 (requests 1, 2), 3.0-5.0 (3, 4), 5.0-5.5 (5)


SMALL_BENCH = ["--alarms", "20", "--latency-ms", "0", "--max-fetch", "10", "--order", "asc", "--no-feed"]


def test_bench_takes_each_rows_best_of_seven_rounds_by_default_measuring_memory_in_the_first(capsys, tmp_path, monkeypatch):
    calls = []

    def measured(alarms, latency_ms, max_fetch, order, runtime, measure_memory):
        calls.append(measure_memory)
        cpu_s = [0.03, 0.02, 0.04, 0.02, 0.01, 0.04, 0.02][len(calls) - 1]
        return report.FetchBenchResult("ThreatMon.py", order, alarms, latency_ms, max_fetch, 3, 3, 0.1, cpu_s)

    monkeypatch.setattr(bench_fetch, "run_fetch_benchmark", measured)
    bench_main([*SMALL_BENCH, "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert calls == [True] + [False] * 6
    assert "(round 7/7)" in err
    assert "| ThreatMon.py | asc | 10 | 3 | 3 (5) | 0.10 s | " in out and "| 500 us |" in out  # the least CPU: 0.01 s / 20


def test_every_other_round_runs_the_rows_in_reverse_order(capsys, tmp_path):
    bench_main([*SMALL_BENCH, "--rounds", "3", "--no-memory", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    rows = [line.split("] ", 1)[1].split(" (round")[0] for line in err.splitlines() if "(round" in line]
    forward = [f"{report.BARE} asc", "ThreatMon.py asc max_fetch=10"]
    assert rows == forward + forward[::-1] + forward


def test_bench_shows_progress_writes_its_table_and_chart_and_names_a_missed_row(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(report, "WALL_OVER_BARE", 0.0)  # no client is that fast: the row must miss
    code = bench_main([*SMALL_BENCH, "--rounds", "1", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "MISSED  ThreatMon.py asc max_fetch=10: wall time <= 0 x the bare requests loop's" in out
    assert "PASS  ThreatMon.py asc max_fetch=10: every alarm exactly once: yes" in out
    assert [line.split(" ...")[0] for line in err.splitlines()] == [
        "[0/2] warm-up (not measured)",
        "[1/2] bare requests loop asc",
        "[2/2] ThreatMon.py asc max_fetch=10",
    ]
    document = (tmp_path / "bench.md").read_text()
    assert "| ThreatMon.py | asc | 10 | 3 |" in document and "Machine: " in document
    assert (tmp_path / "bench.svg").read_text().count('class="bar"') == 2
