"""The alarm-list readers under every quirk combination the simulator knows, and what each one costs in requests.

    .venv/bin/python -m tools.fetch_stress                       # run every scenario: exactly once, or exit 1
    .venv/bin/python -m tools.fetch_stress --write FILE          # ... and keep the requests of every scenario in FILE
    .venv/bin/python -m tools.fetch_stress --compare FILE        # ... and exit 1 where a scenario costs more than FILE

What runs, in this process, against the simulator without a socket (simulator.mock.MockThreatMon):
  - fetch: ThreatMon.py's fetch_incidents run after run (a new client each run, lastRun kept only when the run
    succeeds) until the alarm list is drained, under the product of the list's quirks: the order, the page size,
    overlapping pages, orders that flip, what totalRecords says, what afterAlarmCode keeps, alarms created while
    paging, faults, and two max_fetch values. Every alarm must arrive exactly once.
  - mirror: get-modified-remote-data cycle after cycle over the alarms a fetch remembered, until a sweep is complete
    (each cycle within its budget), in either order, with and without a usable totalRecords.
  - list: threatmon_list_alarms with a limit, a start page and a severity filter, on the same quirky lists.
The comparison is one by one: the same scenario must send at most as many requests in each run (cycle, call) as
the saved file says, and take no more runs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import sys
import time
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from runner.runtime import API_MODULE_DIRS, runtime_dir  # noqa: E402

for _path in reversed([runtime_dir(), REPO_ROOT / "Packs/ThreatMon/Integrations/ThreatMon", *API_MODULE_DIRS]):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import requests_mock  # noqa: E402

from simulator.mock import FakeClock, MockThreatMon  # noqa: E402

HOST = "https://threatmon.test"
API_KEY = "tm-stress-key"

PAGING = {
    "pages of 10": {},
    "pages of 5": {"page_size": 5},
    "pages of 25": {"page_size": 25},
    "overlap 1": {"page_overlap": 1},
    "pages of 5 overlap 1": {"page_size": 5, "page_overlap": 1},
}
FLIPS = ["none", "alternate", "random"]
TOTALS = ["exact", "all", "missing", "text"]
FILTERS = ["greater", "inclusive", "ignored"]
DISTURBANCES = {
    "calm": {},
    "inserts": {"insert_at": {1: 3, 4: 7, 9: 2}},
    "faults": {"faults": ["#2=503", "#6=cut", "/vulnerabilities/=500,times=2,skip=9"], "insert_at": {3: 4}},
}


def fetch_scenarios() -> dict[str, dict]:
    """Table 1: the list's shape (order x paging x flips x totalRecords x filter) on a calm server, max_fetch 7 and
    100. Table 2: the documented paging and pages of 5 in both orders under inserts and faults."""
    scenarios: dict[str, dict] = {}
    for order, paging, flip, total, after in itertools.product(["asc", "desc"], PAGING, FLIPS, TOTALS, FILTERS):
        if flip != "none" and after != "greater":
            continue  # order flips are crossed with the documented filter only
        for max_fetch in (7, 100):
            name = f"fetch {order} | {paging} | flip {flip} | total {total} | filter {after} | calm | max_fetch {max_fetch}"
            knobs = {"order": order, "order_flip": flip, "total_records": total, "after_filter": after, **PAGING[paging]}
            scenarios[name] = {"alarms": 47, "knobs": knobs, "max_fetch": max_fetch}
    for order, paging, total, disturbance in itertools.product(
        ["asc", "desc", "unsorted"], ["pages of 10", "pages of 5 overlap 1"], TOTALS, ["inserts", "faults"]
    ):
        name = f"fetch {order} | {paging} | flip none | total {total} | filter greater | {disturbance} | max_fetch 25"
        knobs = {"order": order, "total_records": total, **PAGING[paging], **DISTURBANCES[disturbance]}
        scenarios[name] = {"alarms": 53, "knobs": knobs, "max_fetch": 25}
    return scenarios


def mirror_scenarios() -> dict[str, dict]:
    scenarios = {}
    for order, paging, total, budget in itertools.product(["asc", "desc"], ["pages of 10", "pages of 5"], TOTALS, (3, 10)):
        name = f"mirror {order} | {paging} | total {total} | budget {budget}"
        scenarios[name] = {"alarms": 60, "knobs": {"order": order, "total_records": total, **PAGING[paging]}, "budget": budget}
    return scenarios


def list_scenarios() -> dict[str, dict]:
    scenarios = {}
    calls = {
        "limit 10": {"limit": "10"},
        "limit 35": {"limit": "35"},
        "page 2 limit 20": {"page": "2", "limit": "20"},
        "after 30 limit 50": {"after_alarm_code": "30", "limit": "50"},
        "critical limit 5": {"min_severity": "Critical", "limit": "5"},
    }
    for order, paging, total, call in itertools.product(["asc", "desc"], ["pages of 10", "pages of 5 overlap 1"], TOTALS, calls):
        name = f"list {order} | {paging} | total {total} | {call}"
        scenarios[name] = {"alarms": 47, "knobs": {"order": order, "total_records": total, **PAGING[paging]}, "args": calls[call]}
    return scenarios


def _quiet():
    """The integration logs to demisto.debug; the stand-in runtime writes it to a logger: keep it off the output."""
    return contextlib.redirect_stderr(io.StringIO())


def run_fetch(tm, spec: dict) -> dict:
    clock = FakeClock()
    settings = tm.Settings(base_url=HOST + "/api/threatmon/external/v1", api_key=API_KEY, max_fetch=spec["max_fetch"])
    per_run: list[int] = []
    taken: list[int] = []
    last_run: dict = {}
    with requests_mock.Mocker() as mocker:
        sim = MockThreatMon(mocker, url=HOST, pass_time=clock.advance, api_key=API_KEY, alarms=spec["alarms"], **spec["knobs"])
        quiet = 0
        for _ in range(400):
            before = len(sim.requests)
            client = tm.Client(settings.base_url, API_KEY, sleep=clock.sleep, clock=clock.clock, wall_clock=clock.wall)
            try:
                last_run, incidents = tm.fetch_incidents(client, last_run, settings)
                stalled = False
            except tm.ThreatMonError:
                per_run.append(len(sim.requests) - before)
                stalled = True  # the third run in a row that could not move: the fetch reports it as an error
                break
            per_run.append(len(sim.requests) - before)
            taken.extend(int(incident["dbotMirrorId"]) for incident in incidents if "dbotMirrorId" in incident)
            pending = any(i >= sim.list_requests for i in sim.config.insert_at) or sim.faults.pending(len(sim.requests))
            quiet = quiet + 1 if not incidents and not pending and "stalled_runs" not in last_run else 0
            if quiet >= 2:
                break
        expected = sim.codes()
    twice = sorted(code for code, n in Counter(taken).items() if n > 1)
    missing = sorted(set(expected) - set(taken))
    if missing and stalled and "stalled_runs" in last_run:
        # The fetch says, run after run, that it cannot prove which alarms come next (an unsorted list whose pages
        # repeat alarms, with no totalRecords to tell overlapping pages from a list that moves): it keeps its position
        # and loses nothing; what it has not taken yet waits.
        return {"requests": per_run, "problem": None, "stalled": len(missing)}
    problem = (f"twice {twice} " if twice else "") + (f"missing {missing}" if missing else "")
    return {"requests": per_run, "problem": problem.strip() or None}


def run_mirror(tm, spec: dict) -> dict:
    demisto = tm.demisto
    context: dict = {}
    saved = demisto.getIntegrationContextVersioned, demisto.setIntegrationContextVersioned
    demisto.getIntegrationContextVersioned = lambda refresh=False: {"context": dict(context), "version": -1}
    demisto.setIntegrationContextVersioned = lambda new, version=-1, sync=False: (context.clear(), context.update(new))
    settings = tm.Settings(
        base_url=HOST + "/api/threatmon/external/v1", api_key=API_KEY, mirror_direction="In", mirror_max_requests=spec["budget"]
    )
    per_cycle: list[int] = []
    problem = None
    try:
        with requests_mock.Mocker() as mocker:
            sim = MockThreatMon(mocker, url=HOST, api_key=API_KEY, alarms=spec["alarms"], **spec["knobs"])
            codes = sim.codes()
            # Every third alarm was fetched and is mirrored in (Open): the sweep reads the list over them.
            memory = tm.MirrorMemory.load({})
            memory.remember(dict.fromkeys(codes[::3], "Open"))
            context[tm.MIRROR_CONTEXT_KEY] = memory.to_context()
            client = tm.Client(settings.base_url, API_KEY, max_attempts=1)
            for _ in range(200):
                before = len(sim.requests)
                tm.get_modified_remote_data_command(client, {"lastUpdate": "2025-03-15T12:00:00Z"}, settings)
                per_cycle.append(len(sim.requests) - before)
                if per_cycle[-1] > spec["budget"]:
                    problem = f"cycle {len(per_cycle)} sent {per_cycle[-1]} requests, budget {spec['budget']}"
                stored = tm.MirrorMemory.load(context.get(tm.MIRROR_CONTEXT_KEY))
                followed = [code for code in stored.alarms if code not in stored.sent]
                if not followed or (stored.scan is None and stored.through is not None and stored.through >= max(followed)):
                    break  # the sweep is complete
            else:
                problem = "the sweep did not complete in 200 cycles"
            if not sum(per_cycle):
                problem = f"no request read the list over the {len(codes[::3])} followed alarms (was the memory kept?)"
    finally:
        demisto.getIntegrationContextVersioned, demisto.setIntegrationContextVersioned = saved
    return {"requests": per_cycle, "problem": problem}


def run_list(tm, spec: dict) -> dict:
    with requests_mock.Mocker() as mocker:
        sim = MockThreatMon(mocker, url=HOST, api_key=API_KEY, alarms=spec["alarms"], **spec["knobs"])
        client = tm.Client(HOST + "/api/threatmon/external/v1", API_KEY)
        result = tm.list_alarms_command(client, dict(spec["args"]))
        codes = [entry.get("alarmCode") for entry in result.outputs]
    problem = "an alarm listed twice" if len(codes) != len(set(codes)) else None
    return {"requests": [len(sim.requests)], "shown": len(codes), "problem": problem}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", type=Path, help="keep the requests of every scenario in this JSON file")
    parser.add_argument("--compare", type=Path, help="exit 1 where a scenario sends more requests than this file says")
    parser.add_argument("-k", dest="only", default="", help="run only the scenarios whose name holds this text")
    options = parser.parse_args(argv)

    with _quiet():
        import ThreatMon as tm

    tables = [(fetch_scenarios(), run_fetch), (mirror_scenarios(), run_mirror), (list_scenarios(), run_list)]
    results: dict[str, dict] = {}
    started = time.monotonic()
    for scenarios, run in tables:
        for name, spec in scenarios.items():
            if options.only in name:
                with _quiet():
                    results[name] = run(tm, spec)
    failed = {name: r["problem"] for name, r in results.items() if r["problem"]}
    stalled = {name: r["stalled"] for name, r in results.items() if r.get("stalled")}
    kinds = Counter(name.split()[0] for name in results)
    print(
        f"{len(results)} scenarios ({', '.join(f'{n} {k}' for k, n in kinds.items())}) in {time.monotonic() - started:.0f} s; "
        f"{sum(sum(r['requests']) for r in results.values())} requests in all; {len(failed)} failed"
    )
    for name, waiting in stalled.items():
        print(f"stalled, position kept ({waiting} alarm(s) wait, none lost or twice): {name}")
    for name, problem in failed.items():
        print(f"FAILED {name}: {problem}")
    if options.write:
        options.write.parent.mkdir(parents=True, exist_ok=True)
        kept = {name: {key: r[key] for key in ("requests", "shown") if key in r} for name, r in results.items()}
        options.write.write_text(json.dumps(kept, indent=0, sort_keys=True))
    worse = []
    if options.compare:
        saved = json.loads(options.compare.read_text())
        same = fewer = showing_more = 0
        for name, result in results.items():
            if name not in saved:
                continue
            before, now = saved[name]["requests"], result["requests"]
            more = len(now) > len(before) or any(n > b for n, b in zip(now, before, strict=False))
            if more and result.get("shown", 0) > saved[name].get("shown", 0):
                # threatmon_list_alarms read further because it now shows alarms it used to leave out.
                shown = f"{saved[name]['shown']} -> {result['shown']}"
                print(f"more requests, more alarms shown ({shown}): {name}: {now} (before {before})")
                showing_more += 1
            elif more:
                worse.append(f"MORE REQUESTS {name}: {now} (before {before})")
            elif now == before:
                same += 1
            else:
                fewer += 1
        print(
            f"compared with {options.compare}: {same} the same, {fewer} fewer, {showing_more} more showing more alarms, "
            f"{len(worse)} more (before {sum(sum(saved[n]['requests']) for n in results if n in saved)} requests, now "
            f"{sum(sum(r['requests']) for n, r in results.items() if n in saved)})"
        )
        for line in worse:
            print(line)
    return 1 if failed or worse else 0


if __name__ == "__main__":
    sys.exit(main())
