"""Incoming mirroring end to end: ThreatMon.py run by the local runner the way the XSOAR server runs it (fetch, then
get-modified-remote-data and get-remote-data every mirroring interval, the integration context kept between runs),
over real HTTP, against the simulator, where an analyst sets statuses in the ThreatMon portal.

The guarantees checked are the ones the integration README documents: a status set in ThreatMon reaches the incident
(and a closing one closes it) within 2 * ceil(S / B) cycles, S being N list requests per sweep in ascending order and
2N in descending order (N alarms remembered, B = mirror_max_requests), plus one cycle for each cycle a fault spoiled;
no cycle sends more than B list requests (counted at the simulator); a close XSOAR sent does not come back; and an
instance without incoming mirroring sends exactly the requests it sent before and writes no integration context.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from runner import IntegrationRunner, MirrorCycle

THREATMON = Path(__file__).resolve().parents[2] / "Packs/ThreatMon/Integrations/ThreatMon/ThreatMon.py"
LIST_PATH = "/vulnerabilities/"
BOTH = {"mirror_direction": "Incoming And Outgoing", "close_incident": "true"}
CLOSE_REASONS = {"Resolved": "Resolved", "False Positive": "False Positive", "Ignore": "Duplicate"}


def threatmon_params(sim, **params) -> dict:
    return {"url": sim.api_url, "credentials": {"identifier": "", "password": sim.api_key}, "isFetch": True, **params}


def documented_cycles(remembered: int, order: str, budget: int) -> int:
    """The README's bound: a change arrives within two sweeps of ceil(S / B) cycles each."""
    per_sweep = remembered if order == "asc" else 2 * remembered
    return 2 * math.ceil(per_sweep / budget)


class Xsoar:
    """The incidents as the XSOAR server holds them: the incoming mapper sets ThreatMon Status from the mirrored
    object's status; a close entry closes the incident with its reason and notes."""

    def __init__(self, incidents: list[dict]):
        self.incidents = {
            inc["dbotMirrorId"]: {"status": "Active", "threatmonstatus": json.loads(inc["rawJSON"]).get("status")}
            for inc in incidents
        }

    def apply(self, cycle: MirrorCycle) -> None:
        for remote_id, mirrored in cycle.updates.items():
            self.incidents[remote_id]["threatmonstatus"] = mirrored["status"]
        for remote_id, close in cycle.closes.items():
            self.incidents[remote_id].update(status="Done", closeReason=close["closeReason"], closeNotes=close["closeNotes"])

    def closed(self) -> dict[str, dict]:
        return {remote_id: inc for remote_id, inc in self.incidents.items() if inc["status"] == "Done"}


@pytest.fixture
def instance(no_sleep, tmp_path):
    """instance(sim, **params) -> a ThreatMon instance whose lastRun and state (integration context) live in files,
    as they do on the server."""

    def build(sim, **params) -> IntegrationRunner:
        return IntegrationRunner(
            THREATMON,
            threatmon_params(sim, **{"max_fetch": "100", **params}),
            last_run_file=tmp_path / "lastrun.json",
            state_file=tmp_path / "state.json",
            instance_name="ThreatMon_e2e",
            sleep=no_sleep,
            http_timeout_cap=2.0,
        )

    return build


def fetch_all(tm: IntegrationRunner) -> list[dict]:
    incidents = []
    for _ in range(50):
        result = tm.run("fetch-incidents")
        assert result.ok, result.error
        incidents += result.incidents
        if not result.incidents:
            return incidents
    raise AssertionError("the fetch did not settle")


def remembered(tm: IntegrationRunner) -> dict[str, str | None]:
    return tm.integration_context.get("mirror_in", {}).get("alarms", {})


def list_requests(sim) -> int:
    return sum(1 for request in sim.requests if LIST_PATH in request["path"])


def mirror_until(tm, sim, xsoar: Xsoar, done, budget: int, max_cycles: int) -> int:
    """Mirroring cycles until ``done()``; every cycle sends at most ``budget`` list requests. Returns the cycles."""
    for number in range(1, max_cycles + 1):
        before = list_requests(sim)
        cycle = tm.mirror_cycle()
        assert list_requests(sim) - before <= budget, f"cycle {number} sent more than {budget} list requests"
        xsoar.apply(cycle)
        if done():
            return number
    raise AssertionError(f"not done after {max_cycles} cycles")


# -- a status set in ThreatMon reaches XSOAR ---------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize(
    "faults",
    [
        [],
        [f"{LIST_PATH}=503,times=2,skip=1", f"{LIST_PATH}=429,retry-after=30,skip=4", f"{LIST_PATH}=truncated,skip=6"],
        [f"{LIST_PATH}=drop", f"{LIST_PATH}=html:502,skip=3", f"{LIST_PATH}=reset,skip=5"],
    ],
    ids=["no faults", "errors and a rate limit", "broken connections"],
)
def test_a_status_set_in_threatmon_closes_the_incident_within_the_documented_cycles(make_sim, instance, order, faults):
    budget = 3
    sim = make_sim(alarms=70, order=order)
    tm = instance(sim, mirror_max_requests=str(budget), **BOTH)
    xsoar = Xsoar(fetch_all(tm))
    memory = remembered(tm)
    codes = sorted(int(code) for code in memory)
    assert len(xsoar.incidents) == 70 and len(codes) > 40  # alarms fetched already closed in ThreatMon do not join
    changes = {codes[0]: "Resolved", codes[len(codes) // 2]: "False Positive", codes[-1]: "Ignore", codes[5]: "In Progress"}
    for code, status in changes.items():
        sim.set_portal_status(code, status)
    for fault in faults:
        sim.add_fault(fault)
    closing = {str(code) for code, status in changes.items() if status in CLOSE_REASONS}

    def done() -> bool:
        arrived = all(xsoar.incidents[str(code)]["threatmonstatus"] == status for code, status in changes.items())
        return arrived and set(xsoar.closed()) == closing

    bound = documented_cycles(len(codes), order, budget) + len(faults)
    cycles = mirror_until(tm, sim, xsoar, done, budget, bound)
    assert cycles <= bound
    assert all(fault["used"] for fault in sim.state()["faults"]), "a fault never fired"
    for code in closing:
        status = changes[int(code)]
        incident = xsoar.incidents[code]
        assert incident["closeReason"] == CLOSE_REASONS[status]
        assert incident["closeNotes"] == f"Closed by ThreatMon: the alarm's status is {status}."
    left = remembered(tm)
    assert not closing & set(left), "an alarm closed in ThreatMon stays remembered"
    assert left[str(codes[5])] == "In Progress"


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_statuses_analysts_keep_setting_over_time_all_arrive(make_sim, instance, order):
    """status_every: the simulator's analysts answer an open alarm every few list requests while mirroring runs."""
    budget = 4
    sim = make_sim(alarms=60, order=order, status_every=7)
    tm = instance(sim, mirror_max_requests=str(budget), **BOTH)
    xsoar = Xsoar(fetch_all(tm))
    count = len(remembered(tm))
    sim.reset_record()  # the changes made during the fetch were fetched with their alarms
    for _ in range(documented_cycles(count, order, budget)):
        before = list_requests(sim)
        xsoar.apply(tm.mirror_cycle())
        assert list_requests(sim) - before <= budget
    sim.set(status_every=0)  # the analysts stop; everything they did must arrive within the documented cycles
    final = {change["alarmCode"]: change["status"] for change in sim.portal_changes}
    assert final

    def done() -> bool:
        return all(
            xsoar.incidents[str(code)]["threatmonstatus"] == status
            and (xsoar.incidents[str(code)]["status"] == "Done") == (status in CLOSE_REASONS)
            for code, status in final.items()
        )

    mirror_until(tm, sim, xsoar, done, budget, documented_cycles(count, order, budget))


def test_without_the_closing_setting_the_status_arrives_and_the_incident_stays_open(make_sim, instance):
    sim = make_sim(alarms=20)
    tm = instance(sim, mirror_direction="Incoming")
    xsoar = Xsoar(fetch_all(tm))
    code = min(int(code) for code in remembered(tm))
    sim.set_portal_status(code, "Resolved")
    cycle = tm.mirror_cycle()
    xsoar.apply(cycle)
    assert cycle.ids == [str(code)]
    assert xsoar.incidents[str(code)]["status"] == "Active"
    assert xsoar.incidents[str(code)]["threatmonstatus"] == "Resolved"


def test_a_cycle_sends_no_request_over_its_budget_and_none_without_alarms_to_follow(make_sim, instance):
    sim = make_sim(alarms=150, order="desc")
    tm = instance(sim, mirror_max_requests="2", **BOTH)
    assert tm.mirror_cycle().ids == [] and list_requests(sim) == 0  # nothing fetched yet: nothing to read
    fetch_all(tm)
    for _ in range(10):
        before = list_requests(sim)
        assert tm.mirror_cycle().ok
        assert list_requests(sim) - before == 2  # the whole budget, no more (150 alarms take more than 2 requests)


def test_the_state_file_carries_mirroring_from_one_process_to_the_next(make_sim, instance):
    sim = make_sim(alarms=15)
    fetch_all(instance(sim, **BOTH))
    code = min(int(code) for code in remembered(instance(sim, **BOTH)))
    sim.set_portal_status(code, "False Positive")
    cycle = instance(sim, **BOTH).mirror_cycle()  # a new runner, as the server starts a new process
    assert cycle.closes == {
        str(code): {
            "dbotIncidentClose": True,
            "closeReason": "False Positive",
            "closeNotes": "Closed by ThreatMon: the alarm's status is False Positive.",
        }
    }


# -- a close XSOAR sent does not come back -------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_a_close_xsoar_sent_out_never_comes_back_as_an_incoming_change(make_sim, instance, order):
    sim = make_sim(alarms=30, order=order)
    tm = instance(sim, **BOTH)
    xsoar = Xsoar(fetch_all(tm))
    code = str(min(int(code) for code in remembered(tm)))
    close = {"remoteId": code, "status": 2, "incidentChanged": True, "delta": {"closeReason": "False Positive"}}
    assert tm.run("update-remote-system", close).ok
    assert sim.alarm(int(code))["status"] == "False Positive"
    assert code not in remembered(tm)
    for _ in range(documented_cycles(len(remembered(tm)), order, 5)):
        cycle = tm.mirror_cycle()
        assert code not in cycle.ids
        xsoar.apply(cycle)
    assert xsoar.closed() == {}


def test_a_close_threatmon_sent_in_is_not_sent_back_out(make_sim, instance):
    sim = make_sim(alarms=10)
    tm = instance(sim, **BOTH)
    fetch_all(tm)
    code = min(int(code) for code in remembered(tm))
    sim.set_portal_status(code, "Ignore")
    close = tm.mirror_cycle().closes[str(code)]
    patches_before = len(sim.status_changes)
    args = {"remoteId": str(code), "status": 2, "incidentChanged": True, "delta": close}  # XSOAR closed it as told
    assert tm.run("update-remote-system", args).ok
    assert len(sim.status_changes) == patches_before


# -- without incoming mirroring nothing changes ---------------------------------------------------------------------


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("direction", ["None", "Outgoing", None])
def test_without_incoming_mirroring_a_fetch_sends_the_same_requests_and_writes_no_context(make_sim, no_sleep, order, direction):
    def fetch_requests(params: dict, state: Path | None) -> tuple[list, IntegrationRunner]:
        sim = make_sim(alarms=45, order=order, insert_every=4, insert_count=1, insert_max=5)
        tm = IntegrationRunner(THREATMON, threatmon_params(sim, **params), state_file=state, sleep=no_sleep)
        fetch_all(tm)
        return [(r["method"], r["path"], r["query"]) for r in sim.requests], tm

    incoming, _ = fetch_requests({"mirror_direction": "Incoming"}, None)
    without, tm = fetch_requests({"mirror_direction": direction}, None)
    assert without == incoming  # remembering the fetched alarms costs no request
    assert tm.integration_context == {} and tm.context_version == 0  # and without incoming mirroring, no write at all
