"""The simulator's ThreatMon portal: statuses an analyst sets outside the API (on request, or over time), which
incoming mirroring must bring into XSOAR."""

from __future__ import annotations

import pytest
import requests

from simulator import Simulator


def list_page(sim, page=0, after=None) -> dict:
    query = {"afterAlarmCode": after} if after is not None else {}
    headers = {"X-COMPANY-API-KEY": sim.api_key}
    return requests.get(f"{sim.api_url}/vulnerabilities/{page}", headers=headers, params=query, timeout=5).json()


def test_a_status_set_in_the_portal_is_what_the_list_serves_and_is_recorded_apart_from_the_api(make_sim):
    sim = make_sim(alarms=12)
    code = sim.codes()[3]
    previous = sim.alarm(code)["status"]
    assert sim.set_portal_status(code, "False Positive") == [code]
    served = {a["alarmCode"]: a["status"] for a in list_page(sim)["data"]}
    assert served[code] == "False Positive"
    assert sim.portal_changes == [{"alarmCode": code, "status": "False Positive", "previous": previous, "after_requests": 0}]
    assert sim.status_changes == []  # the API's own record stays for API requests
    assert sim.state()["portal_changes"] == sim.portal_changes


def test_the_control_route_sets_statuses_like_the_portal(make_sim):
    sim = make_sim(alarms=5)
    first, second = sim.codes()[:2]
    answer = requests.post(f"{sim.url}/__sim__/status", params={"alarmIds": f"{first},{second}", "status": "Resolved"}, timeout=5)
    assert answer.status_code == 200 and answer.json() == {"alarmIds": [first, second], "status": "Resolved"}
    assert sim.alarm(first)["status"] == sim.alarm(second)["status"] == "Resolved"
    assert sim.requests == []  # a control request is no API request


@pytest.mark.parametrize(
    ("query", "status_code", "words"),
    [
        ({"alarmIds": "1", "status": "Closed"}, 400, "status must be one of"),
        ({"alarmIds": "x", "status": "Resolved"}, 400, "alarmIds must be alarm codes"),
        ({"status": "Resolved"}, 400, "alarmIds must be alarm codes"),
        ({"alarmIds": "999999", "status": "Resolved"}, 404, "no alarm 999999"),
    ],
)
def test_the_control_route_refuses_what_the_portal_would_not_do(make_sim, query, status_code, words):
    sim = make_sim(alarms=3)
    answer = requests.post(f"{sim.url}/__sim__/status", params=query, timeout=5)
    assert answer.status_code == status_code and words in answer.json()["message"]


def test_status_every_answers_one_open_alarm_after_every_n_list_requests(make_sim):
    sim = make_sim(alarms=30, status_every=2, seed=7)
    for page in range(6):
        list_page(sim, page % 3)
    assert len(sim.portal_changes) == 3
    for change in sim.portal_changes:
        assert change["previous"] in ("Open", "In Progress")
        assert change["status"] in ("In Progress", "False Positive", "Ignore", "Resolved")
        assert sim.alarm(change["alarmCode"])["status"] == change["status"] or any(
            later["alarmCode"] == change["alarmCode"] for later in sim.portal_changes[sim.portal_changes.index(change) + 1 :]
        )


def test_status_every_is_the_same_for_the_same_seed(make_sim):
    runs = []
    for _ in range(2):
        sim = make_sim(alarms=30, status_every=1, seed=11)
        for _ in range(4):
            list_page(sim)
        runs.append([(c["alarmCode"], c["status"]) for c in sim.portal_changes])
    assert runs[0] == runs[1] and len(runs[0]) == 4


def test_status_every_cannot_be_negative():
    with pytest.raises(ValueError, match="status_every"):
        Simulator(status_every=-1)


def test_set_portal_status_refuses_an_unknown_status_or_alarm(make_sim):
    sim = make_sim(alarms=2)
    with pytest.raises(ValueError, match="status must be one of"):
        sim.set_portal_status(sim.codes()[0], "Done")
    with pytest.raises(KeyError):
        sim.set_portal_status(123456789, "Resolved")


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_open_only_lists_open_alarms_only_and_a_closed_alarm_leaves_the_list_and_its_count(make_sim, order):
    sim = make_sim(alarms=25, order=order, page_size=5, open_only=True)
    statuses = {alarm["alarmCode"]: alarm["status"] for alarm in sim.alarms()}
    listed = [code for code, status in statuses.items() if status in ("Open", "In Progress")]
    assert 0 < len(listed) < len(statuses)  # the seeded data has closed alarms: the list leaves them out

    def served(after=None) -> tuple[list[int], int]:
        codes, total = [], None
        for page in range(20):
            body = list_page(sim, page, after)
            total = body["totalRecords"] if total is None else total
            if not body["data"]:
                return codes, total
            codes += [alarm["alarmCode"] for alarm in body["data"]]
        raise AssertionError("the list did not end")

    codes, total = served()
    assert codes == (sorted(listed) if order == "asc" else sorted(listed, reverse=True)) and total == len(listed)
    closed = sorted(listed)[2]
    sim.set_portal_status(closed, "Ignore")
    codes, total = served(after=closed - 1)
    assert closed not in codes and total == len([c for c in listed if c > closed - 1]) - 1
    sim.set_portal_status(closed, "In Progress")  # reopened in the portal: listed again
    assert closed in served(after=closed - 1)[0]
    assert sim.alarm(closed)["status"] == "In Progress"  # the alarm itself is still there, whatever the list shows


def test_by_default_the_list_keeps_closed_alarms(make_sim):
    sim = make_sim(alarms=12)
    code = sim.codes()[0]
    sim.set_portal_status(code, "Resolved")
    assert code in [alarm["alarmCode"] for alarm in list_page(sim)["data"]]
