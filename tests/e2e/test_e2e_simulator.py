"""The ThreatMon simulator on its own, over real HTTP: endpoints, auth, knobs, faults and its record."""

from __future__ import annotations

import json
import re

import pytest
import requests
import requests_mock

from simulator import API_BASE, Fault, Simulator, parse_fault
from simulator import data as simdata
from simulator.mock import MockThreatMon

IOC_PATH = "/api/daily-ioc-details/"


def get(sim, path, key=None, **query):
    headers = {"X-COMPANY-API-KEY": sim.api_key if key is None else key} if key != "" else {}
    return requests.get(sim.api_url + path, headers=headers, params=query, timeout=5)


def send(sim, method, path, body, key=None):
    headers = {"X-COMPANY-API-KEY": sim.api_key if key is None else key}
    return requests.request(method, sim.api_url + path, headers=headers, json=body, timeout=5)


def codes_of(answer) -> list[int]:
    return [int(a["alarmCode"]) for a in answer.json()["data"]]


# -- alarm list ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_pages_hold_ten_alarms_in_the_configured_order(make_sim, order):
    sim = make_sim(alarms=25, order=order)
    every = sim.codes()
    pages = [get(sim, f"/vulnerabilities/{p}") for p in range(4)]
    assert [len(p.json()["data"]) for p in pages] == [10, 10, 5, 0]
    assert {p.json()["totalRecords"] for p in pages} == {25}
    served = [c for p in pages for c in codes_of(p)]
    assert served == (every if order == "asc" else every[::-1])


@pytest.mark.parametrize("order", ["asc", "desc", "unsorted"])
def test_after_alarm_code_keeps_only_greater_codes(make_sim, order):
    sim = make_sim(alarms=30, order=order)
    cut = sim.codes()[11]
    served = [c for p in range(3) for c in codes_of(get(sim, f"/vulnerabilities/{p}", afterAlarmCode=cut))]
    assert sorted(served) == sim.codes()[12:]
    assert len(served) == len(set(served))


def test_unsorted_order_is_neither_ascending_nor_descending_but_stable(make_sim):
    sim = make_sim(alarms=30, order="unsorted")
    first = codes_of(get(sim, "/vulnerabilities/0"))
    assert first not in (sorted(first), sorted(first, reverse=True))
    assert codes_of(get(sim, "/vulnerabilities/0")) == first


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize(("size", "overlap"), [(5, 0), (25, 0), (10, 1), (5, 2)])
def test_page_size_and_overlapping_pages(make_sim, order, size, overlap):
    sim = make_sim(alarms=37, order=order, page_size=size, page_overlap=overlap)
    every = sim.codes() if order == "asc" else sim.codes()[::-1]
    step = size - overlap
    for number in range(-(-37 // step) + 1):
        assert codes_of(get(sim, f"/vulnerabilities/{number}")) == every[number * step : number * step + size]


def test_order_flips_between_requests(make_sim):
    alternate = make_sim(alarms=12, order="desc", order_flip="alternate")
    orders = [codes_of(get(alternate, "/vulnerabilities/0")) for _ in range(4)]
    assert orders == [alternate.codes()[::-1][:10], alternate.codes()[:10]] * 2
    one, two = (make_sim(alarms=12, order="asc", order_flip="random", seed=seed) for seed in (5, 5))
    seen = [[codes_of(get(sim, "/vulnerabilities/0"))[0] for _ in range(12)] for sim in (one, two)]
    assert seen[0] == seen[1], "seeded: the same flips every time"
    assert set(seen[0]) == {one.codes()[0], one.codes()[-1]}


@pytest.mark.parametrize(
    ("knobs", "total"),
    [({"total_records": "exact"}, 18), ({"total_records": "all"}, 30), ({"total_records": "text"}, "18"), ({}, 18)],
)
def test_total_records_readings(make_sim, knobs, total):
    sim = make_sim(alarms=30, **knobs)
    assert get(sim, "/vulnerabilities/0", afterAlarmCode=sim.codes()[11]).json()["totalRecords"] == total


def test_total_records_can_be_left_out(make_sim):
    sim = make_sim(alarms=30, total_records="missing")
    assert set(get(sim, "/vulnerabilities/0").json()) == {"data"}


@pytest.mark.parametrize(("after_filter", "first"), [("greater", 12), ("inclusive", 11), ("ignored", 0)])
def test_after_alarm_code_readings(make_sim, after_filter, first):
    sim = make_sim(alarms=30, after_filter=after_filter)
    assert codes_of(get(sim, "/vulnerabilities/0", afterAlarmCode=sim.codes()[11]))[0] == sim.codes()[first]


def test_alarms_created_before_a_given_list_request(make_sim):
    sim = make_sim(alarms=5, insert_at={1: 3})
    assert get(sim, "/vulnerabilities/0").json()["totalRecords"] == 5
    assert get(sim, "/vulnerabilities/0").json()["totalRecords"] == 8
    assert sim.inserted == 3 and sim.list_requests == 2


def test_a_short_last_page_repeats_its_first_alarm(make_sim):
    sim = make_sim(alarms=13, last_page_repeat=True)
    assert codes_of(get(sim, "/vulnerabilities/1")) == [*sim.codes()[10:], sim.codes()[10]]
    assert codes_of(get(sim, "/vulnerabilities/0")) == sim.codes()[:10]


def test_pinned_alarms_without_a_code_lead_every_answer(make_sim):
    sim = make_sim(alarms=12, codeless_pinned=3)
    for after in (None, sim.codes()[5]):
        query = {} if after is None else {"afterAlarmCode": after}
        data = get(sim, "/vulnerabilities/0", **query).json()["data"]
        assert data[:3] == sim.pinned_alarms() and all("alarmCode" not in a for a in data[:3])


def test_the_in_process_simulator_answers_as_the_http_one(make_sim):
    knobs = {"alarms": 23, "order": "desc", "page_size": 5, "page_overlap": 1, "order_flip": "alternate"}
    sim = make_sim(**knobs)
    with requests_mock.Mocker(real_http=True) as mocker:  # the HTTP simulator's requests go through
        mock = MockThreatMon(mocker, **knobs)
        for number in (0, 1, 5, 0):
            headers = {"X-COMPANY-API-KEY": mock.api_key}
            answer = requests.get(f"{mock.api_url}/vulnerabilities/{number}", headers=headers, timeout=5).json()
            assert answer == get(sim, f"/vulnerabilities/{number}").json()
    assert mock.list_requests == sim.list_requests == 4


@pytest.mark.parametrize(
    ("knobs", "words"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 5, "page_overlap": 5}, "page_overlap"),
        ({"order": "unsorted", "order_flip": "random"}, "order_flip"),
        ({"total_records": "some"}, "total_records"),
        ({"after_filter": "below"}, "after_filter"),
        ({"codeless_pinned": -1}, "codeless_pinned"),
    ],
)
def test_bad_paging_knobs_are_refused(knobs, words):
    with pytest.raises(ValueError, match=words):
        Simulator(**knobs)


@pytest.mark.parametrize(
    ("path", "query", "status"),
    [
        ("/vulnerabilities/-1", {}, 400),
        ("/vulnerabilities/abc", {}, 400),
        ("/vulnerabilities/0", {"afterAlarmCode": "x"}, 400),
        ("/vulnerabilities", {}, 404),
        ("/nothing/here", {}, 404),
    ],
)
def test_bad_list_requests_are_refused(make_sim, path, query, status):
    sim = make_sim(alarms=5)
    answer = get(sim, path, **query)
    assert answer.status_code == status
    assert "message" in answer.json()


def test_same_seed_same_alarms_and_another_seed_other_alarms():
    one, two, other = Simulator(alarms=20), Simulator(alarms=20), Simulator(alarms=20, seed=7)
    assert one.alarms() == two.alarms()
    assert one.alarms() != other.alarms()


def test_alarms_look_like_threatmon_alarms():
    alarms = Simulator(alarms=300).alarms()
    codes = [a["alarmCode"] for a in alarms]
    assert codes == sorted(set(codes))
    dates = [a["alarmDate"] for a in alarms]
    assert dates == sorted(dates)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", d) for d in dates)
    assert {a["severity"] for a in alarms} == set(simdata.SEVERITIES)
    assert {a["status"] for a in alarms} <= set(simdata.STATUSES)
    assert {a["alarmType"] for a in alarms} == set(simdata.ALARM_TYPES)
    assert len({a["findingId"] for a in alarms}) == len(alarms)
    assert all(a["title"] and a["description"] for a in alarms)


def test_alarm_texts_name_only_reserved_namespaces():
    reserved = (".example", ".test", "example.com", "example.net", "example.org")
    text = " ".join(a["title"] + " " + a["description"] for a in Simulator(alarms=300).alarms())
    names = set(re.findall(r"\b(?:[a-z0-9-]+\.)+[a-z]{2,}\b", text))
    # Android package names are reversed domain names
    domains = {".".join(reversed(n.split("."))) if n.startswith("com.") else n for n in names}
    assert domains
    assert all(d.endswith(reserved) for d in domains), sorted(d for d in domains if not d.endswith(reserved))
    ips = set(re.findall(r"\b\d+\.\d+\.\d+\.\d+\b", text))
    assert all(ip.startswith(("192.0.2.", "198.51.100.", "203.0.113.")) for ip in ips)


# -- alarms added while a client pages ------------------------------------------------------------------


def test_alarms_are_added_after_every_n_list_requests(make_sim):
    sim = make_sim(alarms=12, insert_every=2, insert_count=3, insert_max=5)
    before = sim.codes()
    totals = [get(sim, "/vulnerabilities/0").json()["totalRecords"] for _ in range(6)]
    assert totals == [12, 12, 15, 15, 17, 17]
    added = sim.codes()[len(before) :]
    assert len(added) == 5 and min(added) > max(before)
    assert sim.state(include_requests=False)["inserted"] == 5


def test_add_alarms_creates_newer_codes_and_dates(make_sim):
    sim = make_sim(alarms=3)
    last = sim.alarms()[-1]
    new = sim.add_alarms(2)
    assert min(new) > last["alarmCode"]
    assert sim.alarm(new[0])["alarmDate"] >= last["alarmDate"]


# -- presentation quirks -------------------------------------------------------------------------------------


def test_quirks_change_how_alarms_are_served_not_the_alarms():
    plain = Simulator(alarms=50)
    quirky = Simulator(alarms=50, string_codes=0.5, missing_fields=0.5, odd_severities=0.5, odd_dates=0.5, alt_spellings=0.5)
    assert plain.alarms() == quirky.alarms()
    assert plain.wire_alarms() != quirky.wire_alarms()


@pytest.mark.parametrize(
    ("knob", "check"),
    [
        ("string_codes", lambda a: isinstance(a["alarmCode"], str) and a["alarmCode"].isdigit()),
        ("missing_fields", lambda a: "alarmCode" in a and len(a) < 8),
        ("odd_severities", lambda a: a["severity"] not in simdata.SEVERITIES),
        ("odd_dates", lambda a: not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", a["alarmDate"])),
        ("alt_spellings", lambda a: "type" in a and "finding_id" in a and "alarmType" not in a),
        ("codeless", lambda a: "alarmCode" not in a),
    ],
)
def test_each_quirk_applies_to_its_share_of_alarms(knob, check):
    alarms = Simulator(alarms=40, **{knob: 1.0}).wire_alarms()
    assert all(check(a) for a in alarms)


def test_codeless_alarms_still_follow_the_hidden_code_filter(make_sim):
    sim = make_sim(alarms=15, codeless=1.0)
    cut = sim.codes()[9]
    answer = get(sim, "/vulnerabilities/0", afterAlarmCode=cut).json()
    assert answer["totalRecords"] == 5
    assert all("alarmCode" not in a for a in answer["data"])


# -- auth --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "wrong-key"])
def test_alarm_api_wants_the_key(make_sim, key):
    sim = make_sim(alarms=3)
    answer = get(sim, "/vulnerabilities/0", key=key)
    assert answer.status_code == 401
    assert "message" in answer.json()
    assert sim.state()["requests"][-1]["auth"] == ("missing" if key == "" else "wrong")


def test_ip_allow_list_refusal_is_a_403_even_with_the_right_key(make_sim):
    sim = make_sim(alarms=3, refuse_ip=True)
    assert get(sim, "/vulnerabilities/0").status_code == 403
    ioc = requests.get(sim.url + IOC_PATH, params={"api_token": sim.ioc_token}, timeout=5)
    assert ioc.status_code == 403


@pytest.mark.parametrize("token", [None, "wrong"])
def test_ioc_api_wants_the_token(make_sim, token):
    sim = make_sim(alarms=0, iocs=5)
    query = {} if token is None else {"api_token": token}
    answer = requests.get(sim.url + IOC_PATH, params=query, timeout=5)
    assert answer.status_code == 401


def test_the_record_never_holds_a_credential(make_sim):
    sim = make_sim(alarms=5, iocs=5)
    get(sim, "/vulnerabilities/0")
    get(sim, "/vulnerabilities/0", key="some-wrong-key")
    requests.get(sim.url + IOC_PATH, params={"api_token": sim.ioc_token}, timeout=5)
    shown = requests.get(sim.url + "/__sim__/state", timeout=5).text
    assert sim.api_key not in shown and sim.ioc_token not in shown and "some-wrong-key" not in shown
    assert '"api_token":"***"' in shown.replace(" ", "")


# -- status change ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status_body", "content"),
    [("empty", b""), ("text", b"OK"), ("json", None)],
)
def test_status_change_is_recorded_and_answered_200(make_sim, status_body, content):
    sim = make_sim(alarms=5, status_body=status_body)
    first, second = sim.codes()[:2]
    answer = send(sim, "PATCH", "/incident/status", {"status": "False Positive", "alarmIds": [first, str(second)]})
    assert answer.status_code == 200
    if content is None:
        assert answer.json()["status"] == "False Positive"
    else:
        assert answer.content == content
    assert sim.alarm(first)["status"] == sim.alarm(second)["status"] == "False Positive"
    assert sim.status_changes[-1]["alarmIds"] == [first, second]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"status": "Closed", "alarmIds": [0]}, 400),
        ({"status": "resolved", "alarmIds": [0]}, 400),
        ({"status": "Resolved", "alarmIds": []}, 400),
        ({"status": "Resolved", "alarmIds": ["x"]}, 400),
        ({"status": "Resolved"}, 400),
        (["not", "an", "object"], 400),
        ({"status": "Resolved", "alarmIds": [0, 1]}, 404),
    ],
)
def test_bad_status_changes_change_nothing(make_sim, body, status):
    sim = make_sim(alarms=5)
    if isinstance(body, dict) and body.get("alarmIds") == [0]:
        body["alarmIds"] = [sim.codes()[0]]
    if isinstance(body, dict) and body.get("alarmIds") == [0, 1]:
        body["alarmIds"] = [sim.codes()[0], 1]  # one known, one unknown: all or nothing
    before = sim.state(include_requests=False)["statuses"]
    answer = send(sim, "PATCH", "/incident/status", body)
    assert answer.status_code == status
    assert sim.state(include_requests=False)["statuses"] == before
    assert sim.status_changes == []


# -- takedown -------------------------------------------------------------------------------------------------


def _finding(sim, eligible: bool) -> int:
    return next(a["findingId"] for a in sim.alarms() if (a["alarmType"] in simdata.TAKEDOWN_ELIGIBLE) == eligible)


def test_takedown_answers_every_documented_code(make_sim):
    sim = make_sim(alarms=60, takedown_quota=1)
    eligible = [a["findingId"] for a in sim.alarms() if a["alarmType"] in simdata.TAKEDOWN_ELIGIBLE]
    answers = [
        send(sim, "POST", "/takedown", {"findingId": eligible[0], "finding": "phishing page"}),
        send(sim, "POST", "/takedown", {"findingId": eligible[0], "finding": "again"}),
        send(sim, "POST", "/takedown", {"findingId": _finding(sim, eligible=False), "finding": "leak"}),
        send(sim, "POST", "/takedown", {"findingId": 1, "finding": "unknown"}),
        send(sim, "POST", "/takedown", {"findingId": "abc", "finding": "bad id"}),
        send(sim, "POST", "/takedown", {"findingId": eligible[1], "finding": "over quota"}),
    ]
    assert [a.status_code for a in answers] == [200, 409, 400, 404, 400, 403]
    assert answers[0].json()["findingId"] == eligible[0]
    assert [t["result"] for t in sim.takedowns] == [200, 409, 400, 404, 400, 403]
    assert sim.takedowns[0]["finding"] == "phishing page"


@pytest.mark.parametrize("alarm_type", simdata.TAKEDOWN_ELIGIBLE)
def test_each_eligible_alarm_type_can_be_taken_down(make_sim, alarm_type):
    sim = make_sim(alarms=120)
    finding = next(a["findingId"] for a in sim.alarms() if a["alarmType"] == alarm_type)
    assert send(sim, "POST", "/takedown", {"findingId": finding, "finding": "x"}).status_code == 200


# -- data removal -----------------------------------------------------------------------------------------------


def test_there_is_no_data_removal_route_unless_a_path_is_configured(make_sim):
    sim = make_sim(alarms=60)
    finding = next(a["findingId"] for a in sim.alarms() if a["alarmType"] in simdata.DATA_REMOVAL_ELIGIBLE)
    for path in ("/blackmarket/data-removal", "/data-removal", "/removal"):
        assert send(sim, "POST", path, {"findingId": finding, "finding": "x"}).status_code == 404
    assert sim.data_removals == []


@pytest.mark.parametrize("path", ["/blackmarket/data-removal", "company/removal-requests/"])
def test_data_removal_answers_like_the_takedown_at_the_configured_path(make_sim, path):
    sim = make_sim(alarms=80, data_removal_path=path, data_removal_quota=1)
    route = "/" + path.strip("/")
    eligible = [a["findingId"] for a in sim.alarms() if a["alarmType"] in simdata.DATA_REMOVAL_ELIGIBLE]
    other = next(a["findingId"] for a in sim.alarms() if a["alarmType"] not in simdata.DATA_REMOVAL_ELIGIBLE)
    answers = [
        send(sim, "POST", route, {"findingId": eligible[0], "finding": "records for sale"}),
        send(sim, "POST", route, {"findingId": eligible[0], "finding": "again"}),
        send(sim, "POST", route, {"findingId": other, "finding": "not black market"}),
        send(sim, "POST", route, {"findingId": 1, "finding": "unknown"}),
        send(sim, "POST", route, {"findingId": "abc", "finding": "bad id"}),
        send(sim, "POST", route, {"findingId": eligible[1], "finding": "no credits left"}),
        send(sim, "POST", route, ["not", "an", "object"]),
        send(sim, "GET", route, None),
    ]
    assert [a.status_code for a in answers] == [200, 409, 400, 404, 400, 403, 400, 405]
    assert answers[0].json() == {"message": "Data removal request created", "findingId": eligible[0], "status": "Submitted"}
    assert [r["result"] for r in sim.data_removals] == [200, 409, 400, 404, 400, 403]  # a body that is no object is not one
    assert sim.state(include_requests=False)["data_removals"][0]["finding"] == "records for sale"
    assert sim.takedowns == []


def test_data_removal_quota_zero_is_a_company_without_the_right(make_sim):
    sim = make_sim(alarms=60, data_removal_path="/dr", data_removal_quota=0)
    finding = next(a["findingId"] for a in sim.alarms() if a["alarmType"] in simdata.DATA_REMOVAL_ELIGIBLE)
    assert send(sim, "POST", "/dr", {"findingId": finding, "finding": "x"}).status_code == 403


@pytest.mark.parametrize("path", ["", "/", "//"])
def test_a_data_removal_path_must_name_a_route(path):
    with pytest.raises(ValueError, match="data_removal_path"):
        Simulator(data_removal_path=path)


# -- CVEs -------------------------------------------------------------------------------------------------------

CVE_FIELDS = {
    "cve",
    "summary",
    "cvssV2",
    "severityV2",
    "cvssV3",
    "severityV3",
    "cvssV3_1",
    "severityV3_1",
    "cvssV4",
    "severityV4",
    "vendors",
    "exploit",
    "knownRansomwareCampaignUse",
    "zeroday",
    "createdAt",
    "updatedAt",
}


def test_cve_records_carry_every_documented_field(make_sim):
    sim = make_sim(alarms=0, cves=23)
    pages = [get(sim, f"/cve/{p}").json() for p in range(4)]
    assert [len(p["data"]) for p in pages] == [10, 10, 3, 0]
    assert {p["totalRecords"] for p in pages} == {23}
    records = [r for p in pages for r in p["data"]]
    assert all(set(r) == CVE_FIELDS for r in records)
    assert all(re.fullmatch(r"CVE-\d{4}-\d{5,}", r["cve"]) for r in records)
    assert all(isinstance(r["vendors"], dict) and all(isinstance(v, list) for v in r["vendors"].values()) for r in records)


@pytest.mark.parametrize(
    ("cvss", "keep"),
    [
        ("9", lambda r: simdata.cve_best_score(r) >= 9),
        ("critical", lambda r: "CRITICAL" in (r["severityV3_1"], r["severityV4"], r["severityV3"])),
        ("", lambda r: True),
    ],
)
def test_cvss_filter(make_sim, cvss, keep):
    sim = make_sim(alarms=0, cves=57)
    every = [r for p in range(6) for r in get(sim, f"/cve/{p}").json()["data"]]
    kept = get(sim, "/cve/0", cvss=cvss).json()
    assert kept["totalRecords"] == sum(1 for r in every if keep(r))


def test_subscribed_cves_follow_the_customer(make_sim):
    sim = make_sim(alarms=0, cves=57)
    insurance = get(sim, "/cve/subscribed/0", customerName="Example Insurance").json()
    vendors = set(simdata.CVE_SUBSCRIPTIONS["Example Insurance"])
    assert insurance["totalRecords"] > 0
    assert all(vendors.intersection(r["vendors"]) for r in insurance["data"])
    everyone = get(sim, "/cve/subscribed/0").json()["totalRecords"]
    assert everyone >= insurance["totalRecords"]
    assert get(sim, "/cve/subscribed/0", customerName="Nobody Ltd").json() == {"data": [], "totalRecords": 0}


# -- IOCs -----------------------------------------------------------------------------------------------------

IOC_FIELDS = {
    "ioc_value",
    "ioc_type",
    "source",
    "tags",
    "categories",
    "confidence_level",
    "severity",
    "status",
    "isp",
    "resolved_ips",
    "geo_location",
    "score",
    "timestamp",
    "created_at",
    "updated_at",
}


def iocs(sim, **query):
    query.setdefault("api_token", sim.ioc_token)
    answer = requests.get(sim.url + IOC_PATH, params=query, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["iocs"]


def test_ioc_list_holds_every_kind_with_the_documented_fields(make_sim):
    sim = make_sim(alarms=0, iocs=2000)
    records = iocs(sim, size=2000, data_type="all")
    kinds = sim.ioc_kinds()
    assert len(records) == 2000
    assert set(kinds) == set(simdata.IOC_KINDS)
    assert all(set(r) >= IOC_FIELDS for r in records)
    values = {kind: [r["ioc_value"] for r, k in zip(records, kinds, strict=True) if k == kind] for kind in set(kinds)}
    assert all(re.fullmatch(r"[\d.]+:\d+", v) for v in values["ipv4_port"])
    assert all(re.fullmatch(r"\[[0-9a-f:]+\]:\d+", v) for v in values["ipv6_port"])
    assert {len(v) for v in values["md5"]} == {32}
    assert {len(v) for v in values["sha1"]} == {40}
    assert {len(v) for v in values["sha256"]} == {64}
    assert all("@" in v for v in values["email"])
    spellings = {r["ioc_type"] for r in records}
    assert {"ip", "IP", "ipv4", "domain", "url", "file", "hash", "md5"} <= spellings


def test_ip_records_carry_the_address_without_its_port(make_sim):
    sim = make_sim(alarms=0, iocs=1000)
    records = iocs(sim, size=1000, data_type="ip")
    with_port = [r for r in records if r["ioc_value"].count(":") == 1 or r["ioc_value"].startswith("[")]
    assert with_port
    for record in with_port:
        if "extracted_ip" in record:
            assert record["extracted_ip"] == record["ioc_value"].rsplit(":", 1)[0].strip("[]")


@pytest.mark.parametrize(("data_type", "kinds"), [("ip", simdata.IOC_DATA_TYPES["ip"]), ("domain", {"domain"}), ("url", {"url"})])
def test_data_type_filter(make_sim, data_type, kinds):
    sim = make_sim(alarms=0, iocs=400)
    every = dict(zip((json.dumps(r, sort_keys=True) for r in sim.iocs()), sim.ioc_kinds(), strict=True))
    served = iocs(sim, size=400, data_type=data_type)
    assert served
    assert {every[json.dumps(r, sort_keys=True)] for r in served} <= kinds


def test_size_keeps_the_newest_records_and_new_ones_come_first(make_sim):
    sim = make_sim(alarms=0, iocs=50)
    newest = iocs(sim, size=5)
    assert newest == sim.iocs()[:5]
    assert [r["timestamp"] for r in newest] == sorted((r["timestamp"] for r in newest), reverse=True)
    sim.add_iocs(3)
    again = iocs(sim, size=5)
    assert again[3:] == newest[:2]
    assert again[0]["timestamp"] > newest[0]["timestamp"]


def test_collection_filter_and_bad_queries(make_sim):
    sim = make_sim(alarms=0, iocs=300)
    some = iocs(sim, size=300, collection_id="101")
    assert 0 < len(some) < 300
    assert len(iocs(sim, size=300, collection_id="101,102,103")) == 300
    for query in ({"data_type": "hash"}, {"size": "0"}, {"size": "many"}):
        answer = requests.get(sim.url + IOC_PATH, params={"api_token": sim.ioc_token, **query}, timeout=5)
        assert answer.status_code == 400


def test_iocs_without_noise_hold_only_usable_kinds():
    kinds = set(Simulator(iocs=500, ioc_noise=False).ioc_kinds())
    assert not kinds & {"email", "unknown", "malformed"}


# -- faults -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_status_faults_with_retry_after(make_sim, status):
    sim = make_sim(alarms=5, faults=[f"#1={status},retry-after=2"])
    assert get(sim, "/vulnerabilities/0").status_code == 200
    hit = get(sim, "/vulnerabilities/0")
    assert hit.status_code == status and hit.headers["Retry-After"] == "2"
    assert get(sim, "/vulnerabilities/0").status_code == 200
    assert [r["fault"] for r in sim.requests] == [None, f"{status},retry-after=2", None]


def test_faults_can_be_replaced_while_running(make_sim):
    sim = make_sim(alarms=5, faults=["*=500,times=10"])
    sim.set(faults=["*=502"])
    assert get(sim, "/vulnerabilities/0").status_code == 502
    sim.set(faults=[])
    assert get(sim, "/vulnerabilities/0").status_code == 200


def test_truncated_json_is_a_200_that_does_not_parse(make_sim):
    sim = make_sim(alarms=5, faults=[Fault("truncated", index=0)])
    answer = get(sim, "/vulnerabilities/0")
    assert answer.status_code == 200
    with pytest.raises(ValueError):
        answer.json()


@pytest.mark.parametrize("status", [200, 502])
def test_html_error_pages(make_sim, status):
    sim = make_sim(alarms=5, faults=[f"/vulnerabilities/=html:{status}"])
    answer = get(sim, "/vulnerabilities/0")
    assert answer.status_code == status
    assert answer.headers["Content-Type"] == "text/html" and answer.text.startswith("<html>")


def test_wrong_json_fault_is_a_200_of_another_shape(make_sim):
    sim = make_sim(alarms=5, faults=["#0=json"])
    answer = get(sim, "/vulnerabilities/0")
    assert answer.status_code == 200 and set(answer.json()) == {"message"}


def test_cut_fault_ends_the_body_early(make_sim):
    sim = make_sim(alarms=5, faults=["#0=cut"])
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        get(sim, "/vulnerabilities/0")
    assert get(sim, "/vulnerabilities/0").status_code == 200


def test_empty_body_fault(make_sim):
    sim = make_sim(alarms=5, faults=["#0=empty"])
    answer = get(sim, "/vulnerabilities/0")
    assert answer.status_code == 200 and answer.content == b""


@pytest.mark.parametrize("kind", ["drop", "reset"])
def test_dropped_connections(make_sim, kind):
    sim = make_sim(alarms=5, faults=[f"#0={kind}"])
    with pytest.raises(requests.exceptions.ConnectionError):
        get(sim, "/vulnerabilities/0")
    assert get(sim, "/vulnerabilities/0").status_code == 200


def test_slow_answer_beyond_the_client_timeout(make_sim):
    sim = make_sim(alarms=5, faults=["#0=slow:5"])
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(sim.api_url + "/vulnerabilities/0", headers={"X-COMPANY-API-KEY": sim.api_key}, timeout=(2, 0.2))
    assert get(sim, "/vulnerabilities/0").status_code == 200


def test_path_faults_honour_method_times_and_skip(make_sim):
    sim = make_sim(alarms=5, faults=["GET /vulnerabilities/=503,times=2,skip=1"])
    statuses = [get(sim, "/vulnerabilities/0").status_code for _ in range(4)]
    assert statuses == [200, 503, 503, 200]
    assert send(sim, "PATCH", "/incident/status", {"status": "Open", "alarmIds": [sim.codes()[0]]}).status_code == 200


def test_faults_apply_to_every_endpoint_and_can_be_added_while_running(make_sim):
    sim = make_sim(alarms=5, iocs=5)
    sim.add_fault("*=500,times=3")
    answers = [
        get(sim, "/cve/0").status_code,
        send(sim, "POST", "/takedown", {"findingId": 1, "finding": "x"}).status_code,
        requests.get(sim.url + IOC_PATH, params={"api_token": sim.ioc_token}, timeout=5).status_code,
        get(sim, "/cve/0").status_code,
    ]
    assert answers == [500, 500, 500, 200]
    assert sim.takedowns == []  # a request answered by a fault never reaches the API


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("#3=503", Fault("status", status=503, index=3)),
        ("#0=429,retry-after=1", Fault("status", status=429, retry_after="1", index=0)),
        ("/vulnerabilities/=truncated,times=2", Fault("truncated", path="/vulnerabilities/", times=2)),
        ("PATCH /incident/status=500", Fault("status", status=500, method="PATCH", path="/incident/status")),
        ("*=html", Fault("html", status=200)),
        ("#1=html:502", Fault("html", status=502, index=1)),
        ("#2=slow:1.5,skip=1", Fault("slow", delay_s=1.5, index=2, skip=1)),
        ("#4=drop", Fault("drop", index=4)),
        ("#5=reset", Fault("reset", index=5)),
        ("#6=empty", Fault("empty", index=6)),
        ("#7=json", Fault("json", index=7)),
        ("/vulnerabilities/=cut,times=3", Fault("cut", path="/vulnerabilities/", times=3)),
    ],
)
def test_fault_spelling(spec, expected):
    assert parse_fault(spec) == expected


@pytest.mark.parametrize("spec", ["#1", "#1=teapot", "#1=503,often=2", "=503"])
def test_bad_fault_spellings_are_refused(spec):
    with pytest.raises(ValueError):
        parse_fault(spec)


# -- record, control endpoints, life cycle ------------------------------------------------------------------------


def test_state_endpoint_shows_what_was_received(make_sim):
    sim = make_sim(alarms=12)
    get(sim, "/vulnerabilities/1", afterAlarmCode=5)
    added = requests.post(sim.url + "/__sim__/alarms", params={"count": 2}, timeout=5).json()["added"]
    state = requests.get(sim.url + "/__sim__/state", timeout=5).json()
    assert state["alarm_count"] == 14 and state["last_code"] == added[-1]
    assert state["requests"] == [
        {
            "index": 0,
            "method": "GET",
            "path": f"{API_BASE}/vulnerabilities/1",
            "query": {"afterAlarmCode": "5"},
            "status": 200,
            "fault": None,
            "auth": "ok",
            "at": state["requests"][0]["at"],
        }
    ]
    assert "requests" not in requests.get(sim.url + "/__sim__/state?requests=0", timeout=5).json()


def test_simulator_listens_on_loopback_only_and_stops_cleanly():
    with Simulator(alarms=1) as sim:
        assert sim._server.server_address[0] == "127.0.0.1"
        url = sim.api_url
        assert sim.running
    assert not sim.running
    sim.stop()  # twice is fine
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url + "/vulnerabilities/0", timeout=2)


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy"])
def test_the_suite_reaches_loopback_servers_direct_whatever_proxy_the_machine_sets(monkeypatch, variable):
    monkeypatch.setenv(variable, "http://127.0.0.1:9")  # a proxy that refuses every connection
    with Simulator(alarms=1) as sim:
        answer = requests.get(sim.api_url + "/vulnerabilities/0", timeout=5)
    assert answer.status_code == 401  # the simulator's own answer (no key sent), not the proxy's refusal


@pytest.mark.parametrize(("idle", "age", "stops"), [(5.0, 5.0, False), (31.0, 31.0, True), (1.0, 121.0, True)])
def test_simulator_stops_by_itself_when_idle_or_too_old(idle, age, stops):
    now = [1000.0]
    sim = Simulator(alarms=1, idle_timeout_s=30, max_lifetime_s=120, clock=lambda: now[0]).start()
    try:
        sim._last_activity = now[0] + age - idle
        now[0] += age
        assert sim.check_limits() is stops
        assert sim.running is not stops
    finally:
        sim.stop()


def test_unknown_knobs_and_bad_values_are_refused():
    with pytest.raises(TypeError):
        Simulator(alarm=3)
    with pytest.raises(ValueError):
        Simulator(order="random")
    with pytest.raises(ValueError):
        Simulator(status_body="xml")
