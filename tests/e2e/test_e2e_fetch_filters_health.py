"""Fetch filters and fetch health end to end: ThreatMon.py run by the local runner, over real HTTP, against the simulator.

A filtered fetch creates exactly the alarms of the chosen types and statuses, each once, and never the others later,
even after the filter is widened (the watermark passed them). The health record each run keeps shows a fetch stalled by
the simulator's faults (threatmon_get_fetch_health, and the instance's module health) and a healthy one after recovery.
"""

from __future__ import annotations

import json
import re
from collections import Counter

from runner import IntegrationRunner

KNOWN = {"open", "in progress", "false positive", "ignore", "resolved"}


def chosen(alarm: dict, types: set[str], statuses: set[str]) -> bool:
    """Whether the filter keeps a served alarm: its type among ``types`` (an alarm without a type is kept), its status
    among ``statuses`` (an alarm without one of the five statuses is kept)."""
    alarm_type = " ".join(str(alarm.get("alarmType") or alarm.get("type") or "").split()).lower()
    status = " ".join(str(alarm.get("status") or "").split()).lower()
    return (not alarm_type or alarm_type in types) and (status not in KNOWN or status in statuses)


def fetch_until_quiet(tm: IntegrationRunner, runs: int = 60) -> list[dict]:
    incidents: list[dict] = []
    for _ in range(runs):
        result = tm.run("fetch-incidents")
        assert result.ok, result.error
        incidents += result.incidents
        if not result.incidents and "stalled_runs" not in (result.last_run or {}):
            return incidents
    raise AssertionError("the fetch did not settle")


def compact(markdown: str) -> str:
    return re.sub(r" *\| *", "|", markdown)


def health_of(tm: IntegrationRunner) -> tuple[dict, str]:
    result = tm.run("threatmon_get_fetch_health")
    assert result.ok, result.error
    (record,) = [value for key, value in result.context.items() if key.startswith("ThreatMon.FetchHealth")]
    return record, result.readable


def test_a_filtered_fetch_creates_exactly_the_chosen_alarms_and_never_the_others_later(make_sim, threatmon, tmp_path):
    sim = make_sim(alarms=120, order="desc", alt_spellings=0.2, missing_fields=0.1)
    filters = {
        "alarm_types": ["Phishing Domain Detected", "Rogue Mobile App Detected"],
        "alarm_types_other": "Leaked Credentials",
        "alarm_statuses": ["Open", "In Progress"],
    }
    path = tmp_path / "lastrun.json"
    tm = threatmon(sim, last_run_file=path, max_fetch="7", **filters)
    assert tm.run("test-module").readable.strip() == "ok"
    incidents = fetch_until_quiet(tm)
    types = {"phishing domain detected", "rogue mobile app detected", "leaked credentials"}
    expected = sorted(a["alarmCode"] for a in sim.wire_alarms() if chosen(a, types, {"open", "in progress"}))
    codes = [int(incident["dbotMirrorId"]) for incident in incidents]
    assert sorted(codes) == expected and len(set(codes)) == len(codes)
    assert 0 < len(expected) < 120
    record, table = health_of(tm)
    assert record["state"] == "Healthy" and record["watermark"] == max(sim.codes()) and record["backlog"] == 0
    assert record["totalIncidents"] == len(expected)
    assert "|Alarm types fetched|leaked credentials, phishing domain detected, rogue mobile app detected|" in compact(table)

    widened = threatmon(sim, last_run_file=path, max_fetch="7")  # the same instance, every type and status now
    assert fetch_until_quiet(widened) == []  # the alarms left out were passed for good
    sim.add_alarms(5)
    later = fetch_until_quiet(widened)
    assert sorted(int(incident["dbotMirrorId"]) for incident in later) == sorted(sim.codes())[-5:]


def test_the_debug_line_counts_the_skipped_alarms_by_reason(make_sim, threatmon):
    sim = make_sim(alarms=30, order="asc")
    tm = threatmon(sim, max_fetch="100", alarm_statuses=["Open"], alarm_types_other="Exposed Port, Brand Impersonation")
    result = tm.run("fetch-incidents")
    served = sim.wire_alarms()
    by_type = sum(1 for a in served if str(a.get("alarmType") or a.get("type")) not in ("Exposed Port", "Brand Impersonation"))
    by_status = sum(
        1
        for a in served
        if str(a.get("alarmType") or a.get("type")) in ("Exposed Port", "Brand Impersonation") and a.get("status") != "Open"
    )
    (line,) = [message for level, message in result.logs if message.startswith("ThreatMon fetch: ") and "skipped" in message]
    reasons = Counter({"alarm type not selected": by_type, "status not selected": by_status})
    listed = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()) if count)
    assert f"{len(result.incidents)} incident(s), {by_type + by_status} skipped ({listed});" in line


def test_test_module_refuses_a_typo_and_accepts_free_text_with_a_note(make_sim, threatmon):
    sim = make_sim(alarms=3)
    typo = threatmon(sim, alarm_types_other="Fake Social Media Acount Detected").run("test-module")
    assert not typo.ok
    assert "Other alarm types to fetch (alarm_types_other): 'Fake Social Media Acount Detected' looks like a typo" in typo.error
    assert "Phishing Domain Detected, Rogue Mobile App Detected, Fake Social Media Account Detected" in typo.error
    bad_status = threatmon(sim, alarm_statuses=["Open", "Closed"]).run("test-module")
    assert "Alarm statuses to fetch (alarm_statuses) must be among Open, In Progress" in bad_status.error
    free = threatmon(sim, alarm_types_other="Brand Impersonation").run("test-module")
    assert free.readable.strip() == "ok"
    assert any("'Brand Impersonation'" in message and "not a known ThreatMon alarm type" in message for _, message in free.logs)


def test_health_shows_a_fetch_stalled_by_faults_and_a_healthy_one_after_recovery(make_sim, threatmon, tmp_path):
    sim = make_sim(alarms=25, order="desc")
    tm = threatmon(sim, last_run_file=tmp_path / "lastrun.json", max_fetch="10")
    assert len(tm.run("fetch-incidents").incidents) == 10
    record, _ = health_of(tm)
    assert (record["state"], record["outcome"], record["backlog"]) == ("Healthy", "moved", 15)

    sim.add_fault("/vulnerabilities/=503,times=8")  # four attempts a run: two runs fail
    failed = [tm.run("fetch-incidents") for _ in range(2)]
    assert [run.ok for run in failed] == [False, False]
    record, table = health_of(tm)
    assert (record["state"], record["outcome"], record["stalledRuns"]) == ("Stalled", "failed", 2)
    assert "503" in record["lastError"]
    assert "|State|Stalled|" in compact(table)
    shown = [message for run in failed for level, message in run.logs if level == "health"]
    assert len(shown) == 2 and shown[-1].startswith("ThreatMon fetch: 2 run(s) in a row without progress")

    recovered = tm.run("fetch-incidents")
    assert recovered.ok and len(recovered.incidents) == 10
    assert [message for level, message in recovered.logs if level == "health"] == [""]  # cleared
    record, _ = health_of(tm)
    assert (record["state"], record["outcome"], record["stalledRuns"], record["backlog"]) == ("Healthy", "moved", 0, 5)
    assert "503" in record["lastError"]  # the last error stays on record, with its time
    text = json.dumps(record)
    assert sim.api_key not in text
    assert not [a for a in sim.alarms() if a["title"] in text]
