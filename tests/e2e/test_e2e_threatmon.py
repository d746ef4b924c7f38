"""The ThreatMon integration end to end: ThreatMon.py run by the local runner, over real HTTP, against the simulator.

The guarantees checked here are the issue's: every alarm becomes exactly one incident whatever the API does
(either sort order, alarms created while paging, max_fetch boundaries, every fault kind mid-run, a restart
from the 1.0.x lastRun), the status change lands in ThreatMon, and the API key appears in nothing.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

# The paging cases are one table, the pack's unit tests' (the integration folder is on sys.path: see the root
# conftest): the same knobs drive its in-file fake and the simulator.
from ThreatMon_test import PAGING

from simulator import data as simdata

REPO_ROOT = Path(__file__).resolve().parents[2]

ALL_FAULTS = [
    "#2=429,retry-after=1",
    "#2=500",
    "#2=502",
    "#2=503,retry-after=0",
    "#2=504",
    "#2=truncated",
    "#2=html",
    "#2=html:502",
    "#2=empty",
    "#2=drop",
    "#2=reset",
    "#2=slow:3",
    "/vulnerabilities/=503,times=3,skip=2",
]


def alarm_key(incident: dict, served: dict[str, int]) -> int:
    """The simulator's alarm code behind an incident: its rawJSON is the alarm exactly as it was served."""
    raw = json.loads(incident["rawJSON"])
    if raw.get("alarmCode") not in (None, ""):
        return int(raw["alarmCode"])
    return served[json.dumps(raw, sort_keys=True)]  # an alarm served without its code


def served_alarms(sim) -> dict[str, int]:
    return {json.dumps(w, sort_keys=True): a["alarmCode"] for w, a in zip(sim.wire_alarms(), sim.alarms(), strict=True)}


def drain(tm, sim, max_runs: int = 300, until=None) -> list:
    """Run fetch-incidents until a run brings nothing and was not held back (a run that cannot prove which alarms come
    next ends without taking any and counts itself in lastRun's stalled_runs), when ``until()`` (if given) already held
    before that run (a run's own list requests may still make the simulator add alarms)."""
    runs = []
    for _ in range(max_runs):
        settled = until is None or until()
        result = tm.run("fetch-incidents")
        runs.append(result)
        if result.ok and not result.incidents and settled and "stalled_runs" not in (result.last_run or {}):
            return runs
    raise AssertionError(f"fetch did not settle in {max_runs} runs: last error {runs[-1].error}")


def ingested(runs, sim) -> list[int]:
    served = served_alarms(sim)
    return [alarm_key(inc, served) for run in runs for inc in run.incidents]


def assert_exactly_once(runs, sim, max_fetch: int | None = None) -> None:
    codes = ingested(runs, sim)
    twice = [code for code, n in Counter(codes).items() if n > 1]
    missing = sorted(set(sim.codes()) - set(codes))
    assert not twice, f"ingested twice: {twice}"
    assert not missing, f"never ingested: {missing}"
    for run in runs:
        assert len(json.dumps(run.last_run)) < 1024, "lastRun must stay small"
        if max_fetch is not None:
            assert len(run.incidents) <= max_fetch


# -- exactly once -------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize(("max_fetch", "alarms"), [(1, 37), (7, 37), (10, 37), (100, 237), (1000, 1234)])
def test_every_alarm_becomes_exactly_one_incident(make_sim, threatmon, order, max_fetch, alarms):
    sim = make_sim(alarms=alarms, order=order)
    tm = threatmon(sim, max_fetch=str(max_fetch))
    runs = drain(tm, sim, max_runs=alarms // max_fetch + 3)
    assert_exactly_once(runs, sim, max_fetch)
    sizes = [len(r.incidents) for r in runs]
    full, rest = divmod(alarms, max_fetch)
    assert sizes == [max_fetch] * full + ([rest] if rest else []) + [0], "each run takes all that max_fetch allows"
    assert all(r.ok for r in runs)


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("paging", PAGING)
def test_every_alarm_once_however_the_server_pages(make_sim, threatmon, order, paging):
    sim = make_sim(alarms=67, order=order, insert_every=3, insert_count=2, insert_max=15, **PAGING[paging])
    runs = drain(threatmon(sim, max_fetch="10"), sim, until=lambda: sim.inserted == 15)
    assert sim.inserted == 15
    assert_exactly_once(runs, sim, 10)
    assert all(r.ok for r in runs), [r.error for r in runs if not r.ok]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("paging", PAGING)
def test_every_alarm_once_however_the_server_pages_and_fails(make_sim, threatmon, order, paging):
    faults = ["#2=503", "#5=reset", "#9=cut", "#12=slow:3", "/vulnerabilities/=truncated,times=1,skip=15"]
    sim = make_sim(alarms=53, order=order, insert_at={4: 3, 11: 2}, faults=faults, **PAGING[paging])
    runs = drain(threatmon(sim, max_fetch="25", timeout_cap=0.5), sim, until=lambda: not sim.faults.pending(len(sim.requests)))
    assert sum(1 for r in sim.requests if r["fault"]) == len(faults)
    assert_exactly_once(runs, sim, 25)


@pytest.mark.parametrize(("order", "words"), [("asc", "order ascending;"), ("desc", "order descending; totalRecords verified;")])
def test_the_fetch_log_says_what_it_found(make_sim, threatmon, order, words):
    sim = make_sim(alarms=45, order=order, page_size=5)
    result = threatmon(sim, max_fetch="100").run("fetch-incidents")
    summary = [text for _level, text in result.logs if text.startswith("ThreatMon fetch: 45 incident(s)")]
    assert len(summary) == 1 and words in summary[0] and "pages of 5;" in summary[0], result.logs
    assert f"{len(sim.requests)} request(s), 9 page(s) taken" in summary[0]


def test_three_runs_in_a_row_that_cannot_read_the_list_are_an_error_and_the_position_is_kept(make_sim, threatmon):
    sim = make_sim(alarms=35, order="unsorted", insert_every=1, insert_count=1)
    tm = threatmon(sim, max_fetch="10", last_run_file=True)
    first, second, third = (tm.run("fetch-incidents") for _ in range(3))
    assert first.ok and second.ok and not first.incidents and not second.incidents
    assert second.last_run == {"state_version": 2, "stalled_runs": 2}
    assert not third.ok and "3 fetch runs in a row" in third.error and "No alarm was skipped" in third.error
    assert third.last_run == second.last_run
    sim.set(insert_every=0)  # the list settles: the next runs take everything
    runs = [first, second, third, *drain(tm, sim)]
    assert_exactly_once(runs, sim, 10)


def test_a_server_that_does_not_sort_still_gives_each_alarm_once(make_sim, threatmon):
    sim = make_sim(alarms=53, order="unsorted")
    runs = drain(threatmon(sim, max_fetch="20"), sim)
    assert_exactly_once(runs, sim, 20)


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize(("every", "count", "max_fetch"), [(1, 1, 10), (2, 3, 7), (3, 5, 100)])
def test_alarms_created_while_paging_are_ingested_once(make_sim, threatmon, order, every, count, max_fetch):
    sim = make_sim(alarms=45, order=order, insert_every=every, insert_count=count, insert_max=25)
    runs = drain(threatmon(sim, max_fetch=str(max_fetch)), sim, until=lambda: sim.inserted == 25)
    assert sim.inserted == 25
    assert_exactly_once(runs, sim, max_fetch)


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("fault", ALL_FAULTS)
def test_a_fault_in_the_middle_of_a_run_loses_nothing_and_repeats_nothing(make_sim, threatmon, no_sleep, order, fault):
    sim = make_sim(alarms=37, order=order, faults=[fault])
    tm = threatmon(sim, max_fetch="30", timeout_cap=0.5)
    runs = drain(tm, sim)
    assert_exactly_once(runs, sim, 30)
    assert any(r["fault"] for r in sim.requests), "the fault was served"
    assert all(r.ok for r in runs), [r.error for r in runs if not r.ok]
    if "retry-after=1" in fault:
        assert 1 in no_sleep.delays or 1.0 in no_sleep.delays, "Retry-After is honoured"


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_an_outage_fails_the_run_and_the_next_runs_catch_up(make_sim, threatmon, order):
    sim = make_sim(alarms=37, order=order)
    tm = threatmon(sim, max_fetch="10", last_run_file=True)
    first = tm.run("fetch-incidents")
    assert len(first.incidents) == 10
    sim.add_fault("*=503,times=1000")
    failed = tm.run("fetch-incidents")
    assert not failed.ok and "unavailable" in failed.error.lower() and "503" in failed.error
    assert failed.last_run == first.last_run
    sim.faults.clear()
    runs = [first, failed, *drain(tm, sim)]
    assert_exactly_once(runs, sim, 10)


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_a_long_burst_mid_run_keeps_what_was_taken_and_goes_on_next_run(make_sim, threatmon, order):
    sim = make_sim(alarms=60, order=order, faults=["/vulnerabilities/=502,times=8,skip=3"])
    runs = drain(threatmon(sim, max_fetch="100"), sim)
    assert_exactly_once(runs, sim, 100)


def test_quirky_records_are_all_ingested_once(make_sim, threatmon):
    sim = make_sim(
        alarms=80,
        order="desc",
        string_codes=0.3,
        missing_fields=0.3,
        odd_severities=0.3,
        odd_dates=0.3,
        alt_spellings=0.3,
        codeless=0.1,
    )
    runs = drain(threatmon(sim, max_fetch="25"), sim)
    assert_exactly_once(runs, sim, 25)
    words = {"information": 0.5, "low": 1, "medium": 2, "high": 3, "critical": 4}
    for incident in (i for r in runs for i in r.incidents):
        datetime.strptime(incident["occurred"], "%Y-%m-%dT%H:%M:%SZ")  # always a UTC date, even from a bad one
        severity = json.loads(incident["rawJSON"]).get("severity")
        assert incident["severity"] == words.get(str(severity or "").strip().lower(), 0), severity


# -- parameters -----------------------------------------------------------------------------------------------


def test_last_incident_id_starts_the_first_fetch_after_that_code(make_sim, threatmon):
    sim = make_sim(alarms=30, order="desc")
    start = sim.codes()[11]
    runs = drain(threatmon(sim, lastIncidentId=str(start)), sim)
    assert sorted(ingested(runs, sim)) == sim.codes()[12:]


def test_min_severity_skips_lower_alarms_but_never_odd_ones(make_sim, threatmon):
    sim = make_sim(alarms=60, odd_severities=0.2)
    runs = drain(threatmon(sim, min_severity="High", max_fetch="100"), sim)
    wire = {int(a["alarmCode"]): a["severity"] for a in sim.wire_alarms()}
    expected = {c for c, s in wire.items() if s not in ("Information", "Low", "Medium")}
    assert sorted(ingested(runs, sim)) == sorted(expected)


def test_first_fetch_skips_alarms_older_than_it(make_sim, threatmon):
    sim = make_sim(alarms=30, recent=True, minutes_between=(600, 900))
    runs = drain(threatmon(sim, first_fetch="7 days", max_fetch="100"), sim)
    cutoff = datetime.now(UTC) - timedelta(days=7)
    recent = {a["alarmCode"] for a in sim.alarms() if datetime.fromisoformat(a["alarmDate"]) >= cutoff + timedelta(minutes=5)}
    old = {a["alarmCode"] for a in sim.alarms() if datetime.fromisoformat(a["alarmDate"]) < cutoff - timedelta(minutes=5)}
    got = set(ingested(runs, sim))
    assert recent and old
    assert recent <= got and not (old & got)


@pytest.mark.parametrize(
    ("name", "value"),
    # (a bad first_fetch is left to the unit tests: dateparser's first failed parse in a process takes ~10 s)
    [("max_fetch", "0"), ("max_fetch", "1001"), ("max_fetch", "many"), ("min_severity", "Severe"), ("lastIncidentId", "-4")],
)
def test_a_bad_parameter_is_refused_with_its_name(make_sim, threatmon, name, value):
    sim = make_sim(alarms=5)
    tm = threatmon(sim, **{name: value})
    for command in ("test-module", "fetch-incidents"):
        result = tm.run(command)
        assert not result.ok and name in result.error
    assert sim.requests == []


# -- 1.0.x lastRun ---------------------------------------------------------------------------------------------------


def left_by_1_0_x(sim, order: str, pages: int, start: int = 0, page_size: int = 10) -> tuple[list[int], dict]:
    """The alarms the 1.0.x pack had ingested, and the lastRun it left (docs/threatmon-api.md section 3), once it
    had read up to ``pages`` pages of one batch.

    Computed from the alarms, not by running 1.0.x: it kept the filter afterAlarmCode=start for a whole batch,
    read pages 0, 1, 2, ... of that list in the API's order (every alarm on them became an incident), and ended
    the batch at the first page with fewer than 10 alarms; a run stopped after 100 pages, keeping the next page to
    read and the highest code seen. With pages of 10 or more, one batch is the whole list.
    """
    listing = [code for code in sim.codes() if code > start]
    if order == "desc":
        listing.reverse()
    last = next(p for p in itertools.count() if min(page_size, len(listing) - p * page_size) < 10)  # the batch ends here
    if last < pages:
        done = listing[: (last + 1) * page_size]
        return done, {"last_incident_id": max(done, default=start), "page": 0}
    read = listing[: pages * page_size]
    return read, {"last_incident_id": start, "page": pages, "max_seen_id": max(read, default=start)}


def test_the_1_0_x_last_run_modelled_here_has_the_keys_of_the_1x_contract(make_sim):
    contract = yaml.safe_load((REPO_ROOT / "tests/compat/contract_1x.yml").read_text())
    alarms = next(i for pack in contract["packs"] for i in pack["integrations"] if i["id"] == "Threatmon")
    _, mid_batch = left_by_1_0_x(make_sim(alarms=25), "asc", pages=2)
    assert sorted(mid_batch) == sorted(alarms["last_run"]["keys"])


def migrate(make_sim, threatmon, tmp_path, order, legacy_runs, legacy_pages, inserts_after=0, param=None, page_size=10):
    """The state 1.0.x left after some runs of ``legacy_pages`` pages, then the new integration from that lastRun."""
    sim = make_sim(alarms=47 * page_size // 10, order=order, page_size=page_size)
    pages = legacy_runs * min(legacy_pages, 100)
    before, last_run = left_by_1_0_x(sim, order, pages, start=param or 0, page_size=page_size)
    sim.add_alarms(inserts_after)
    path = tmp_path / "lastrun.json"
    path.write_text(json.dumps(last_run))
    tm = threatmon(sim, last_run_file=path, max_fetch="10", lastIncidentId=str(param) if param else None)
    assert tm.brand == "Threatmon"  # the 1.x integration id: XSOAR keeps the instance, and its lastRun, under it
    runs = drain(tm, sim)
    after = ingested(runs, sim)
    return sim, last_run, before, after


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize(
    ("legacy_runs", "legacy_pages", "inserts_after"),
    [
        (1, 100, 0),  # 1.0.x drained everything: nothing to fetch
        (1, 100, 12),  # ... then new alarms arrived
        (1, 2, 0),  # 1.0.x stopped in the middle of a batch (page 2 of 5)
        (2, 2, 0),  # ... page 4 of 5
        (1, 3, 9),  # in the middle of a batch, and new alarms arrived since
    ],
)
@pytest.mark.parametrize("page_size", [10, 20])
def test_restart_from_a_1_0_x_last_run_ingests_nothing_twice(
    make_sim, threatmon, tmp_path, order, legacy_runs, legacy_pages, inserts_after, page_size
):
    sim, last_run, before, after = migrate(
        make_sim, threatmon, tmp_path, order, legacy_runs, legacy_pages, inserts_after, page_size=page_size
    )
    assert set(last_run) >= {"last_incident_id", "page"}
    assert not set(before) & set(after), "ingested again after the upgrade"
    assert sorted(before + after) == sim.codes(), "lost in the upgrade"


def test_restart_from_a_1_0_x_last_run_respects_its_last_incident_id_parameter(make_sim, threatmon, tmp_path):
    start = 48213 + 60  # somewhere inside the seeded codes
    sim, _, before, after = migrate(make_sim, threatmon, tmp_path, "desc", 1, 2, param=start)
    assert min(before + after) > start
    assert sorted(before + after) == [c for c in sim.codes() if c > start]


# -- commands ---------------------------------------------------------------------------------------------------------


def test_test_module_says_ok(make_sim, threatmon):
    sim = make_sim(alarms=3)
    assert threatmon(sim).run("test-module").readable == "ok"


def test_the_bare_host_url_gets_the_api_path(make_sim, threatmon):
    sim = make_sim(alarms=3)
    assert threatmon(sim, url=sim.url + "/").run("test-module").readable == "ok"
    assert sim.requests[-1]["path"].startswith("/api/threatmon/external/v1/")


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        ({"params": {"credentials": {"password": "not-the-key"}}}, ["401", "api key", "allow-list"]),
        ({"knobs": {"refuse_ip": True}}, ["403", "allow-list"]),
        ({"url_suffix": "/api/other/v9"}, ["404", "url"]),
        ({"knobs": {"faults": ["*=503,times=100"]}}, ["unavailable"]),
        ({"closed_port": True}, ["url"]),
    ],
)
def test_test_module_names_the_cause_in_one_sentence(make_sim, threatmon, setup, words):
    sim = make_sim(alarms=3, **setup.get("knobs", {}))
    params = dict(setup.get("params", {}))
    if "url_suffix" in setup:
        params["url"] = sim.url + setup["url_suffix"]
    tm = threatmon(sim, **params)
    if setup.get("closed_port"):
        sim.stop()  # nothing listens on that port any more
    result = tm.run("test-module")
    assert not result.ok
    text = result.error.lower()
    assert all(word in text for word in words), result.error
    assert result.error.count("\n") == 0


@pytest.mark.parametrize("status_body", ["empty", "json", "text"])
def test_status_change_lands_in_the_simulator(make_sim, threatmon, status_body):
    sim = make_sim(alarms=10, status_body=status_body)
    first, second = sim.codes()[2], sim.codes()[5]
    result = threatmon(sim).run("threatmon_update_incident_status", {"alarmId": f"{first}, {second}", "status": "in progress"})
    assert result.ok, result.error
    assert sim.alarm(first)["status"] == sim.alarm(second)["status"] == "In Progress"
    assert sim.status_changes == [
        {"alarmIds": [first, second], "status": "In Progress", "previous": sim.status_changes[0]["previous"]}
    ]
    assert f"Alarm {first}: status set to In Progress in ThreatMon." in result.readable
    assert len([r for r in sim.requests if r["method"] == "PATCH"]) == 1


def test_status_change_with_an_unknown_code_says_which_alarms_changed(make_sim, threatmon):
    sim = make_sim(alarms=10)  # the simulator refuses a request naming an unknown code as a whole (404)
    first, second = sim.codes()[2], sim.codes()[5]
    unknown = sim.codes()[-1] + 1000
    result = threatmon(sim).run(
        "threatmon_update_incident_status", {"alarmId": f"{first},{unknown},{second}", "status": "Ignore"}
    )
    assert sim.alarm(first)["status"] == sim.alarm(second)["status"] == "Ignore"
    assert [r["status"] for r in sim.requests if r["method"] == "PATCH"] == [404, 200, 404, 200]
    assert result.context["ThreatMon.Alarm(val.alarmCode && val.alarmCode == obj.alarmCode)"] == [
        {"alarmCode": first, "status": "Ignore"},
        {"alarmCode": second, "status": "Ignore"},
    ]
    assert result.error.startswith(
        f"ThreatMon did not set the status Ignore of alarm(s) {unknown} (alarm(s) {first}, {second} now have it):\n"
        f"Alarm {unknown}: ThreatMon answered HTTP 404"
    )


@pytest.mark.parametrize("fault", ["PATCH /incident/status=503,retry-after=1", "PATCH /incident/status=429"])
def test_status_change_survives_a_refused_first_attempt_and_lands_once(make_sim, threatmon, fault):
    sim = make_sim(alarms=5, faults=[fault])
    code = sim.codes()[1]
    result = threatmon(sim).run("threatmon_update_incident_status", {"alarmId": str(code), "status": "Resolved"})
    assert result.ok, result.error
    assert [r["status"] for r in sim.requests if r["method"] == "PATCH"] == [503 if "503" in fault else 429, 200]
    assert len(sim.status_changes) == 1 and sim.alarm(code)["status"] == "Resolved"


def test_status_change_inside_an_incident_uses_its_alarm(make_sim, threatmon):
    sim = make_sim(alarms=10)
    code = sim.codes()[4]
    incident = {"id": "7", "CustomFields": {"threatmonalarmcode": str(code)}, "rawJSON": ""}
    result = threatmon(sim, incident=incident).run("threatmon_update_incident_status", {"status": "False Positive"})
    assert result.ok, result.error
    assert sim.alarm(code)["status"] == "False Positive"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"alarmId": "1", "status": "Closed"}, ["status"]),
        ({"alarmId": "abc", "status": "Resolved"}, ["alarmid"]),
        ({"status": "Resolved"}, ["alarmid"]),
    ],
)
def test_bad_status_arguments_are_refused_before_any_request(make_sim, threatmon, args, words):
    sim = make_sim(alarms=3)
    result = threatmon(sim).run("threatmon_update_incident_status", args)
    assert not result.ok and all(w in result.error.lower() for w in words)
    assert sim.requests == []


def test_status_change_of_an_unknown_alarm_says_so(make_sim, threatmon):
    sim = make_sim(alarms=3)
    result = threatmon(sim).run("threatmon_update_incident_status", {"alarmId": "1", "status": "Resolved"})
    assert not result.ok and "404" in result.error
    assert sim.status_changes == []


def test_list_alarms_reads_the_pages_it_needs(make_sim, threatmon):
    sim = make_sim(alarms=40, order="desc")
    result = threatmon(sim).run("threatmon_list_alarms", {"limit": "25"})
    assert result.ok, result.error
    alarms = next(v for k, v in result.context.items() if k.startswith("ThreatMon.Alarm"))
    assert [a["alarmCode"] for a in alarms] == sim.codes()[::-1][:25]
    assert len([r for r in sim.requests if "/vulnerabilities/" in r["path"]]) == 3


def test_takedown_requests_and_every_refusal(make_sim, threatmon):
    sim = make_sim(alarms=80, takedown_quota=1)
    eligible = [a for a in sim.alarms() if a["alarmType"] in simdata.TAKEDOWN_ELIGIBLE]
    ineligible = next(a for a in sim.alarms() if a["alarmType"] not in simdata.TAKEDOWN_ELIGIBLE)
    tm = threatmon(sim)

    def ask(finding_id):
        return tm.run("threatmon_request_takedown", {"findingId": str(finding_id), "finding": "phishing page"})

    done = ask(eligible[0]["findingId"])
    assert done.ok, done.error
    takedown = next(v for k, v in done.context.items() if k.startswith("ThreatMon.Takedown"))
    assert takedown == {"findingId": eligible[0]["findingId"], "status": "Submitted"}
    refusals = {
        409: ask(eligible[0]["findingId"]),
        400: ask(ineligible["findingId"]),
        404: ask(1),
        403: ask(eligible[1]["findingId"]),
    }
    for status, result in refusals.items():
        assert not result.ok and f"HTTP {status}" in result.error
    assert [t["result"] for t in sim.takedowns] == [200, 409, 400, 404, 403]


def test_takedown_inside_an_incident_uses_its_finding_and_refuses_a_bad_id_early(make_sim, threatmon):
    sim = make_sim(alarms=80)
    alarm = next(a for a in sim.alarms() if a["alarmType"] == "Phishing Domain Detected")
    incident = {"id": "9", "CustomFields": {"threatmonfindingid": str(alarm["findingId"])}, "rawJSON": json.dumps(alarm)}
    result = threatmon(sim, incident=incident).run("threatmon_request_takedown", {})
    assert result.ok, result.error
    assert sim.takedowns[-1]["findingId"] == alarm["findingId"]
    count = len(sim.requests)
    bad = threatmon(sim).run("threatmon_request_takedown", {"findingId": "12ab", "finding": "x"})
    assert not bad.ok and "findingId" in bad.error and len(sim.requests) == count


@pytest.mark.parametrize(
    ("command", "args", "query"),
    [
        ("threatmon_list_cves", {"page": "1", "cvss": "high"}, {"cvss": "HIGH"}),
        ("threatmon_list_subscribed_cves", {"cvss": "Critical"}, {"cvss": "CRITICAL"}),
        ("threatmon_list_subscribed_cves", {"page": "0", "customer_name": "Example Retail"}, {"customerName": "Example Retail"}),
    ],
)
def test_cve_lists(make_sim, threatmon, command, args, query):
    sim = make_sim(alarms=0)
    result = threatmon(sim).run(command, args)
    assert result.ok, result.error
    assert sim.requests[-1]["query"] == query
    cves = next(v for k, v in result.context.items() if k.startswith("ThreatMon.CVE"))
    assert cves and all(c["cve"].startswith("CVE-") for c in cves)
    assert "cve" in next(k for k in result.context if k.startswith("ThreatMon.CVE"))
    assert "total" in result.readable.lower()


def test_cve_list_refuses_a_score_before_any_request(make_sim, threatmon):
    sim = make_sim(alarms=0)
    result = threatmon(sim).run("threatmon_list_cves", {"cvss": "9"})
    assert not result.ok and "cvss argument must be a CVSS v3 severity, one of NONE, LOW, MEDIUM, HIGH, CRITICAL" in result.error
    assert sim.requests == []


# -- data removal ---------------------------------------------------------------------------------------------------------

REMOVAL_PATH = "/blackmarket/data-removal"


def test_data_removal_without_its_path_sends_nothing_and_says_which_parameter(make_sim, threatmon):
    sim = make_sim(alarms=40, data_removal_path=REMOVAL_PATH)
    finding = next(a["findingId"] for a in sim.alarms() if a["alarmType"] in simdata.DATA_REMOVAL_ELIGIBLE)
    result = threatmon(sim).run("threatmon_request_data_removal", {"findingId": str(finding), "finding": "x"})
    assert not result.ok
    assert "Data removal API path (data_removal_path) is empty" in result.error
    assert "ask ThreatMon support" in result.error
    assert sim.requests == [] and sim.data_removals == []


def test_data_removal_requests_and_every_refusal(make_sim, threatmon):
    sim = make_sim(alarms=80, data_removal_path=REMOVAL_PATH, data_removal_quota=1)
    eligible = [a for a in sim.alarms() if a["alarmType"] in simdata.DATA_REMOVAL_ELIGIBLE]
    ineligible = next(a for a in sim.alarms() if a["alarmType"] not in simdata.DATA_REMOVAL_ELIGIBLE)
    tm = threatmon(sim, data_removal_path="blackmarket/data-removal")

    def ask(finding_id):
        return tm.run("threatmon_request_data_removal", {"findingId": str(finding_id), "finding": "records for sale"})

    done = ask(eligible[0]["findingId"])
    assert done.ok, done.error
    assert done.readable == f"Data removal request for finding {eligible[0]['findingId']} submitted to ThreatMon."
    removal = next(v for k, v in done.context.items() if k.startswith("ThreatMon.DataRemoval"))
    assert removal == {"findingId": eligible[0]["findingId"], "status": "Submitted"}
    refusals = {
        409: (ask(eligible[0]["findingId"]), "already exists"),
        400: (ask(ineligible["findingId"]), "not eligible for a data removal"),
        404: (ask(1), "has no finding 1"),
        403: (ask(eligible[1]["findingId"]), "Black Market Data Removal credits are used up"),
    }
    for status, (result, words) in refusals.items():
        assert not result.ok and f"HTTP {status}" in result.error and words in result.error
    assert [r["result"] for r in sim.data_removals] == [200, 409, 400, 404, 403]
    assert {r["path"] for r in sim.requests} == {sim.api_url.removeprefix(sim.url) + REMOVAL_PATH}
    assert sim.takedowns == []


def test_data_removal_inside_an_incident_uses_its_finding(make_sim, threatmon):
    sim = make_sim(alarms=80, data_removal_path=REMOVAL_PATH)
    alarm = next(a for a in sim.alarms() if a["alarmType"] == "Black Market Mention")
    incident = {"id": "9", "CustomFields": {"threatmonfindingid": str(alarm["findingId"])}, "rawJSON": json.dumps(alarm)}
    result = threatmon(sim, incident=incident, data_removal_path=sim.api_url + REMOVAL_PATH).run(
        "threatmon_request_data_removal", {}
    )
    assert result.ok, result.error
    assert sim.data_removals == [
        {
            "findingId": alarm["findingId"],
            "finding": alarm["title"],
            "result": 200,
            "alarmCode": alarm["alarmCode"],
            "alarmType": "Black Market Mention",
        }
    ]


def test_a_data_removal_path_on_another_host_fails_the_test_button_and_sends_no_key_there(make_sim, threatmon):
    sim = make_sim(alarms=3)
    other = make_sim(alarms=3, data_removal_path=REMOVAL_PATH, api_key="another-key-0000")
    tm = threatmon(sim, data_removal_path=other.api_url + REMOVAL_PATH)
    result = tm.run("test-module")
    assert not result.ok
    assert "Data removal API path (data_removal_path) must be a path under the Server URL" in result.error
    assert not tm.run("threatmon_request_data_removal", {"findingId": "1", "finding": "x"}).ok
    assert sim.requests == [] and other.requests == []


# -- outgoing mirroring ------------------------------------------------------------------------------------------------


def test_outgoing_mirroring_marks_incidents_and_sends_a_close_once(make_sim, threatmon):
    sim = make_sim(alarms=12)
    tm = threatmon(sim, mirror_direction="Outgoing", max_fetch="100")
    incidents = tm.run("fetch-incidents").incidents
    assert {i["dbotMirrorDirection"] for i in incidents} == {"Out"}
    assert {i["dbotMirrorInstance"] for i in incidents} == {"ThreatMon_e2e"}
    code = int(incidents[0]["dbotMirrorId"])
    close = {
        "remoteId": str(code),
        "status": 2,
        "incidentChanged": True,
        "delta": {"closeReason": "Duplicate", "closeNotes": "same as another"},
        "data": {"closeReason": "Duplicate"},
        "entries": [],
    }
    edit = {**close, "delta": {"owner": "analyst"}}
    for args in (close, edit, edit):
        result = tm.run("update-remote-system", args)
        assert result.ok and result.readable == str(code)
    assert sim.status_changes == [{"alarmIds": [code], "status": "Ignore", "previous": sim.status_changes[0]["previous"]}]
    assert tm.run("get-mapping-fields").ok


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        ("Resolved - True Positive", "Resolved"),
        ("Resolved - False Positive", "False Positive"),
        ("Resolved - Duplicate Issue", "Ignore"),
        ("Resolved - Known Issue", "Ignore"),
        ("Resolved - Security Testing", "Ignore"),
        ("Resolved - Dismissed", "Ignore"),
        ("Resolved - Other", "Resolved"),
    ],
)
def test_closing_an_alert_on_xsiam_or_the_cortex_platform_sends_the_matching_status(make_sim, threatmon, reason, status):
    sim = make_sim(alarms=3)
    code = sim.codes()[0]
    close = {"remoteId": str(code), "status": 2, "incidentChanged": True, "delta": {"closeReason": reason}, "entries": []}
    assert threatmon(sim, mirror_direction="Outgoing").run("update-remote-system", close).ok
    assert [(change["alarmIds"], change["status"]) for change in sim.status_changes] == [([code], status)]


# -- the API key -----------------------------------------------------------------------------------------------------------


def test_the_api_key_appears_in_no_entry_incident_error_or_log(make_sim, threatmon):
    sim = make_sim(alarms=25, order="desc", faults=["#3=500", "#6=truncated", "#9=drop", "#12=401"])
    tm = threatmon(sim, max_fetch="10", timeout_cap=0.5)
    tm.run("test-module")
    drain(tm, sim)
    tm.run("threatmon_list_alarms", {"limit": "30"})
    tm.run("threatmon_update_incident_status", {"alarmId": str(sim.codes()[0]), "status": "Resolved"})
    tm.run("threatmon_update_incident_status", {"alarmId": "1", "status": "Resolved"})
    tm.run("threatmon_request_takedown", {"findingId": "1", "finding": "x"})
    tm.run("threatmon_list_cves", {"page": "0"})
    tm.run("no-such-command")
    sim.set(refuse_ip=True)
    tm.run("test-module")
    tm.run("fetch-incidents")
    wrong = threatmon(sim, url="http://127.0.0.1:9/api/threatmon/external/v1")
    wrong.run("test-module")
    history = tm.history + wrong.history
    assert any(not r.ok for r in history) and any(r.logs for r in history)
    leaks = [r.command for r in history if sim.api_key in r.everything_as_text()]
    assert not leaks, f"the API key leaked in: {leaks}"
