"""Incoming mirroring end to end: ThreatMon.py run by the local runner the way the XSOAR server runs it (fetch, then
get-modified-remote-data and get-remote-data every mirroring interval, the integration context kept between runs),
over real HTTP, against the simulator, where an analyst sets statuses in the ThreatMon portal.

The guarantees checked are the ones the integration README documents: a status set in ThreatMon reaches the incident
(and a closing one closes it) within 2 * ceil(S / B) cycles, S being N list requests per sweep in ascending order and
2N in descending order (N alarms remembered, B = mirror_max_requests), plus one cycle for each cycle a fault spoiled;
an alarm that leaves the list is noticed (a note, and a close with the reason Other) within 3 * ceil(S / B) cycles;
no cycle sends more than B list requests (counted at the simulator); a close XSOAR sent does not come back; and an
instance without incoming mirroring sends exactly the requests it sent before and writes no integration context.

Whether ThreatMon's list keeps closed alarms is not documented, so every test here runs twice: with a list that keeps
them, and with one that lists open alarms only (the simulator's open_only), where a status that closes an alarm in the
portal shows up as the alarm leaving the list.
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


NOT_LISTED = "ThreatMon no longer lists alarm {code}; it was closed or removed there."


@pytest.fixture(params=[False, True], ids=["list keeps closed alarms", "list drops closed alarms"])
def open_only(request) -> bool:
    return request.param


@pytest.fixture
def make_sim(make_sim, open_only):
    """The conftest's make_sim, with the list keeping closed alarms or dropping them (every test runs both ways)."""

    def start(**knobs):
        return make_sim(open_only=open_only, **knobs)

    return start


def threatmon_params(sim, **params) -> dict:
    return {"url": sim.api_url, "credentials": {"identifier": "", "password": sim.api_key}, "isFetch": True, **params}


def documented_cycles(remembered: int, order: str, budget: int, open_only: bool = False) -> int:
    """The README's bound: a change arrives within two sweeps of ceil(S / B) cycles each; an alarm that left the list
    within three (it must be absent in two sweeps in a row)."""
    per_sweep = remembered if order == "asc" else 2 * remembered
    return (3 if open_only else 2) * math.ceil(per_sweep / budget)


def expected_close(code: int, status: str, open_only: bool) -> dict:
    """How a closing status set in the portal closes the incident: with its reason when the list shows it, as an alarm
    no longer listed (reason Other) when the list drops closed alarms."""
    if open_only:
        return {"closeReason": "Other", "closeNotes": "Closed by ThreatMon: " + NOT_LISTED.format(code=code)}
    return {"closeReason": CLOSE_REASONS[status], "closeNotes": f"Closed by ThreatMon: the alarm's status is {status}."}


def arrived(incident: dict, status: str, open_only: bool, closes: bool = True) -> bool:
    """The portal's status reached the incident: its ThreatMon Status (for a status the list still shows), and its
    close (for a closing status, when the closing setting is on); an alarm that left the list leaves a note."""
    closing = status in CLOSE_REASONS
    if closing and open_only:
        shown = incident.get("listed") is False and bool(incident["notes"])
    else:
        shown = incident["threatmonstatus"] == status
    return shown and (incident["status"] == "Done") == (closing and closes)


class Xsoar:
    """The incidents as the XSOAR server holds them: the incoming mapper sets ThreatMon Status from the mirrored
    object's status; a close entry closes the incident with its reason and notes."""

    def __init__(self, incidents: list[dict]):
        self.incidents = {
            inc["dbotMirrorId"]: {"status": "Active", "threatmonstatus": json.loads(inc["rawJSON"]).get("status"), "notes": []}
            for inc in incidents
        }

    def apply(self, cycle: MirrorCycle) -> None:
        for remote_id, mirrored in cycle.updates.items():
            self.incidents[remote_id]["threatmonstatus"] = mirrored.get("status")
            if mirrored.get("listed") is False:
                self.incidents[remote_id]["listed"] = False
        for remote_id, notes in cycle.notes.items():
            self.incidents[remote_id]["notes"] += notes
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
def test_a_status_set_in_threatmon_closes_the_incident_within_the_documented_cycles(make_sim, instance, order, faults, open_only):
    budget = 3
    sim = make_sim(alarms=70, order=order)
    tm = instance(sim, mirror_max_requests=str(budget), **BOTH)
    xsoar = Xsoar(fetch_all(tm))
    memory = remembered(tm)
    codes = sorted(int(code) for code in memory)
    listed = len([a for a in sim.alarms() if a["status"] in ("Open", "In Progress")]) if open_only else 70
    assert len(xsoar.incidents) == listed and len(codes) > 40  # alarms fetched already closed in ThreatMon do not join
    changes = {codes[0]: "Resolved", codes[len(codes) // 2]: "False Positive", codes[-1]: "Ignore", codes[5]: "In Progress"}
    for code, status in changes.items():
        sim.set_portal_status(code, status)
    for fault in faults:
        sim.add_fault(fault)
    closing = {str(code) for code, status in changes.items() if status in CLOSE_REASONS}

    def done() -> bool:
        every = all(arrived(xsoar.incidents[str(code)], status, open_only) for code, status in changes.items())
        return every and set(xsoar.closed()) == closing

    bound = documented_cycles(len(codes), order, budget, open_only) + len(faults)
    cycles = mirror_until(tm, sim, xsoar, done, budget, bound)
    assert cycles <= bound
    assert all(fault["used"] for fault in sim.state()["faults"]), "a fault never fired"
    for code in closing:
        incident = xsoar.incidents[code]
        close = expected_close(int(code), changes[int(code)], open_only)
        assert (incident["closeReason"], incident["closeNotes"]) == (close["closeReason"], close["closeNotes"])
        assert incident["notes"] == ([NOT_LISTED.format(code=code)] if open_only else [])
    left = remembered(tm)
    assert not closing & set(left), "an alarm closed in ThreatMon stays remembered"
    assert left[str(codes[5])] == "In Progress"


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_statuses_analysts_keep_setting_over_time_all_arrive(make_sim, instance, order, open_only):
    """status_every: the simulator's analysts answer an open alarm every few list requests while mirroring runs."""
    budget = 4
    sim = make_sim(alarms=60, order=order, status_every=7)
    tm = instance(sim, mirror_max_requests=str(budget), **BOTH)
    xsoar = Xsoar(fetch_all(tm))
    count = len(remembered(tm))
    sim.reset_record()  # the changes made during the fetch were fetched with their alarms
    for _ in range(documented_cycles(count, order, budget, open_only)):
        before = list_requests(sim)
        xsoar.apply(tm.mirror_cycle())
        assert list_requests(sim) - before <= budget
    sim.set(status_every=0)  # the analysts stop; everything they did must arrive within the documented cycles
    final = {change["alarmCode"]: change["status"] for change in sim.portal_changes}
    assert final

    def done() -> bool:
        return all(arrived(xsoar.incidents[str(code)], status, open_only) for code, status in final.items())

    mirror_until(tm, sim, xsoar, done, budget, documented_cycles(count, order, budget, open_only))


def until_reported(tm, code: int, cycles: int, xsoar: Xsoar | None = None) -> MirrorCycle:
    """Mirroring cycles until one reports ``code`` (an alarm that left the list takes two sweeps to be noticed)."""
    for _ in range(cycles):
        cycle = tm.mirror_cycle()
        if xsoar is not None:
            xsoar.apply(cycle)
        if str(code) in cycle.ids:
            return cycle
    raise AssertionError(f"alarm {code} was not reported in {cycles} cycles")


def test_without_the_closing_setting_the_status_arrives_and_the_incident_stays_open(make_sim, instance, open_only):
    sim = make_sim(alarms=20)
    tm = instance(sim, mirror_direction="Incoming")
    xsoar = Xsoar(fetch_all(tm))
    code = min(int(code) for code in remembered(tm))
    sim.set_portal_status(code, "Resolved")
    cycle = until_reported(tm, code, documented_cycles(len(remembered(tm)), "asc", 5, open_only), xsoar)
    assert cycle.ids == [str(code)]
    assert arrived(xsoar.incidents[str(code)], "Resolved", open_only, closes=False)
    assert str(code) not in remembered(tm)


def test_a_cycle_sends_no_request_over_its_budget_and_none_without_alarms_to_follow(make_sim, instance):
    sim = make_sim(alarms=150, order="desc")
    tm = instance(sim, mirror_max_requests="2", **BOTH)
    assert tm.mirror_cycle().ids == [] and list_requests(sim) == 0  # nothing fetched yet: nothing to read
    fetch_all(tm)
    for _ in range(10):
        before = list_requests(sim)
        assert tm.mirror_cycle().ok
        assert list_requests(sim) - before == 2  # the whole budget, no more (150 alarms take more than 2 requests)


def test_the_state_file_carries_mirroring_from_one_process_to_the_next(make_sim, instance, open_only):
    sim = make_sim(alarms=15)
    fetch_all(instance(sim, **BOTH))
    code = min(int(code) for code in remembered(instance(sim, **BOTH)))
    sim.set_portal_status(code, "False Positive")
    for _ in range(3):  # a new runner each cycle, as the server starts a new process
        cycle = instance(sim, **BOTH).mirror_cycle()
        if cycle.closes:
            break
    assert cycle.closes == {str(code): {"dbotIncidentClose": True, **expected_close(code, "False Positive", open_only)}}


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
    close = until_reported(tm, code, 3).closes[str(code)]
    patches_before = len(sim.status_changes)
    args = {"remoteId": str(code), "status": 2, "incidentChanged": True, "delta": close}  # XSOAR closed it as told
    assert tm.run("update-remote-system", args).ok
    assert len(sim.status_changes) == patches_before


# -- without incoming mirroring nothing changes ---------------------------------------------------------------------


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("direction", ["None", "Outgoing", None])
def test_without_incoming_mirroring_a_fetch_sends_the_same_requests_and_keeps_no_mirroring_memory(
    make_sim, no_sleep, order, direction
):
    def fetch_requests(params: dict, state: Path | None) -> tuple[list, IntegrationRunner]:
        sim = make_sim(alarms=45, order=order, insert_every=4, insert_count=1, insert_max=5)
        tm = IntegrationRunner(THREATMON, threatmon_params(sim, **params), state_file=state, sleep=no_sleep)
        fetch_all(tm)
        return [(r["method"], r["path"], r["query"]) for r in sim.requests], tm

    incoming, _ = fetch_requests({"mirror_direction": "Incoming"}, None)
    without, tm = fetch_requests({"mirror_direction": direction}, None)
    assert without == incoming  # remembering the fetched alarms costs no request
    assert list(tm.integration_context) == ["fetch_health"]  # without incoming mirroring, only the fetch health record


# -- alarms fetched before incoming mirroring, reopened incidents, the sync command --------------------------------------


def enrolment_cycles(listed: int, order: str, budget: int) -> int:
    """The README's bound for enrolling the alarms fetched before the switch: ceil(L / 10) list requests for L alarms
    listed at or below the watermark (twice that newest first), B a cycle."""
    requests = math.ceil(listed / 10) * (1 if order == "asc" else 2)
    return math.ceil(requests / budget)


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_alarms_fetched_before_incoming_mirroring_was_switched_on_are_enrolled_and_followed(make_sim, instance, order, open_only):
    budget = 4
    sim = make_sim(alarms=60, order=order)
    before = instance(sim, mirror_direction="None")
    xsoar = Xsoar(fetch_all(before))
    assert list(before.integration_context) == ["fetch_health"]  # no mirroring memory, only the fetch health record
    tm = instance(sim, mirror_max_requests=str(budget), **BOTH)  # the switch; lastRun and state files stay
    assert tm.run("fetch-incidents").incidents == []
    assert remembered(tm) == {}  # enrolment costs the fetch nothing: the cycles do it
    open_codes = sorted(int(code) for code, inc in xsoar.incidents.items() if inc["threatmonstatus"] in ("Open", "In Progress"))
    listed = len(open_codes) if open_only else 60
    for _ in range(enrolment_cycles(listed, order, budget)):
        before_requests = list_requests(sim)
        assert tm.mirror_cycle().ids == []
        assert list_requests(sim) - before_requests <= budget
    assert sorted(int(code) for code in remembered(tm)) == open_codes  # every alarm still open, none closed, no incident
    memory = tm.integration_context["mirror_in"]
    assert memory["enrolled"] == memory["enrol_to"] == max(int(code) for code in xsoar.incidents)
    changes = {open_codes[0]: "Resolved", open_codes[len(open_codes) // 2]: "False Positive", open_codes[-1]: "Ignore"}
    for code, status in changes.items():
        sim.set_portal_status(code, status)

    def done() -> bool:
        return all(arrived(xsoar.incidents[str(code)], status, open_only) for code, status in changes.items())

    mirror_until(tm, sim, xsoar, done, budget, documented_cycles(len(open_codes), order, budget, open_only))
    assert not {str(code) for code in changes} & set(remembered(tm))


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_a_reopened_incident_sets_in_progress_and_its_alarm_is_followed_again(make_sim, instance, order, open_only):
    sim = make_sim(alarms=25, order=order)
    tm = instance(sim, **BOTH)
    xsoar = Xsoar(fetch_all(tm))
    code = min(int(code) for code in remembered(tm))
    close = {"remoteId": str(code), "status": 2, "incidentChanged": True, "delta": {"closeReason": "Resolved"}}
    assert tm.run("update-remote-system", close).ok
    assert sim.alarm(code)["status"] == "Resolved" and str(code) not in remembered(tm)
    reopen = {"remoteId": str(code), "status": 1, "incidentChanged": True, "delta": {"closeReason": "", "closingUserId": ""}}
    assert tm.run("update-remote-system", reopen).ok
    assert sim.status_changes[-1]["alarmIds"] == [code] and sim.status_changes[-1]["status"] == "In Progress"
    assert remembered(tm)[str(code)] == "In Progress"
    edit = {"remoteId": str(code), "status": 1, "incidentChanged": True, "delta": {"details": "more"}}
    patches = len(sim.status_changes)
    assert tm.run("update-remote-system", edit).ok and len(sim.status_changes) == patches  # a reopen is sent once
    sim.set_portal_status(code, "False Positive")  # ThreatMon answers it again: it arrives as for any alarm
    xsoar.incidents[str(code)].update(status="Active", threatmonstatus="In Progress")

    def done() -> bool:
        return arrived(xsoar.incidents[str(code)], "False Positive", open_only)

    mirror_until(tm, sim, xsoar, done, 5, documented_cycles(len(remembered(tm)), order, 5, open_only))


def changes_of(run) -> list[dict]:
    return run.context.get("ThreatMon.AlarmStatusChange(val.alarmCode && val.alarmCode == obj.alarmCode)") or []


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_the_sync_command_brings_the_same_changes_where_mirroring_does_not_run(make_sim, instance, order, open_only):
    """Cortex XSIAM and the Cortex platform: no mirroring cycles, a job playbook runs threatmon_sync_alarm_statuses."""
    budget = 3
    sim = make_sim(alarms=40, order=order)
    tm = instance(sim, mirror_max_requests=str(budget))  # Incident Mirroring Direction: None
    xsoar = Xsoar(fetch_all(tm))
    first = tm.run("threatmon_sync_alarm_statuses")
    assert first.ok, first.error
    assert changes_of(first) == []
    assert tm.run("fetch-incidents").incidents == []  # from now on the fetch keeps the memory: enrolment starts
    open_codes = sorted(int(code) for code, inc in xsoar.incidents.items() if inc["threatmonstatus"] in ("Open", "In Progress"))
    listed = len(open_codes) if open_only else 40
    for _ in range(enrolment_cycles(listed, order, budget) + 1):
        assert tm.run("threatmon_sync_alarm_statuses").ok
    assert sorted(int(code) for code in remembered(tm)) == open_codes
    changes = {open_codes[0]: "Resolved", open_codes[len(open_codes) // 2]: "False Positive", open_codes[-1]: "Ignore"}
    for code, status in changes.items():
        sim.set_portal_status(code, status)
    found: dict[int, dict] = {}
    for _ in range(documented_cycles(len(open_codes), order, budget, open_only)):
        before = list_requests(sim)
        run = tm.run("threatmon_sync_alarm_statuses")
        assert run.ok and list_requests(sim) - before <= budget
        for change in changes_of(run):
            assert change["alarmCode"] not in found, "a change was delivered twice"
            found[change["alarmCode"]] = change
        if set(found) >= set(changes):
            break
    assert set(found) == set(changes)
    for code, status in changes.items():
        close = expected_close(code, status, open_only)
        assert found[code]["closeReason"] == close["closeReason"] and found[code]["closeNotes"] == close["closeNotes"]
        assert found[code]["oldStatus"] == xsoar.incidents[str(code)]["threatmonstatus"]
        assert found[code]["listed"] is not open_only
        assert found[code]["newStatus"] == (None if open_only else status)
    assert not {str(code) for code in changes} & set(remembered(tm))
