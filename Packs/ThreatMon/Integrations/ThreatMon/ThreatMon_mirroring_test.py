"""Unit tests of incoming mirroring: the memory the fetch fills, get-modified-remote-data, get-remote-data, and the
outgoing close that must not come back.

ThreatMon is a FakeList (an alarm list served through requests_mock, in either order, with a page size, with or without
totalRecords, with alarms created between requests and faults). The integration context is a Context the test owns.
The cost tables check the formulas the integration README documents: a sweep over N remembered alarms sends at most
N list requests in ascending order and 2N in descending order, ceil(N / 10) (+2 descending) when the remembered
alarms are neighbours in the list, and no cycle sends more than its budget.
"""

import contextlib
import copy
import json
import math
import random
import re
import urllib.parse
from pathlib import Path

import demistomock as demisto
import pytest
import requests_mock
import ThreatMon
from CommonServerPython import *
from ThreatMon import (
    CLOSED_BY_THREATMON,
    MAX_MIRRORED_ALARMS,
    MIRROR_CONTEXT_KEY,
    MIRROR_PENDING_REPORTS,
    Client,
    MirrorMemory,
    MirrorSweep,
    Settings,
    fetch_incidents,
    get_modified_remote_data_command,
    get_remote_data_command,
    parse_params,
    remember_fetched_alarms,
    status_of,
    update_remote_system_command,
)

BASE = "https://threatmon.test/api/threatmon/external/v1"
API_KEY = "tm-secret-7f3a9c2e1b"
TEST_DATA = Path(__file__).parent / "test_data"
LIST_URL = re.compile(re.escape(BASE) + r"/vulnerabilities/\d+")
STATUS_URL = f"{BASE}/incident/status"
LAST_UPDATE = "2025-03-15T12:00:00Z"


def load_json(name: str):
    return json.loads((TEST_DATA / name).read_text())


class FakeList:
    """ThreatMon's alarm list. statuses: code -> status. order: asc, desc or random (a fixed shuffle). page_size: what
    the server serves. totals: send totalRecords; total: send this totalRecords instead of the true count. inserts:
    {request number: alarms created just before it is answered}. faults: {request number: HTTP status}.
    ignore_filter: afterAlarmCode is ignored."""

    def __init__(self, codes=(), order="asc", page_size=10, totals=True):
        self.template = load_json("alarm.json")
        self.statuses: dict[int, str] = dict.fromkeys(codes, "Open")
        self.order, self.page_size, self.totals = order, page_size, totals
        self.total: int | None = None
        self.inserts: dict[int, int] = {}
        self.faults: dict[int, int] = {}
        self.ignore_filter = False
        self.requests: list[tuple[int, int | None]] = []

    def register(self, mocker: requests_mock.Mocker) -> "FakeList":
        mocker.get(LIST_URL, content=self)
        return self

    def __call__(self, request, context) -> bytes:
        number = len(self.requests) + 1
        for _ in range(self.inserts.get(number, 0)):
            self.statuses[max(self.statuses, default=0) + 1] = "Open"
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.url).query)
        after = int(query["afterAlarmCode"][0]) if "afterAlarmCode" in query else None
        page = int(request.url.split("?")[0].rsplit("/", 1)[1])
        self.requests.append((page, after))
        if number in self.faults:
            context.status_code = self.faults[number]
            return b'{"message": "unavailable"}'
        codes = sorted(c for c in self.statuses if self.ignore_filter or after is None or c > after)
        if self.order == "desc":
            codes.reverse()
        elif self.order == "random":
            codes.sort(key=lambda code: (code * 7919) % 1009)
        chosen = codes[page * self.page_size : (page + 1) * self.page_size]
        body: dict = {"data": [dict(self.template, alarmCode=c, status=self.statuses[c], title=f"Alarm {c}") for c in chosen]}
        if self.totals:
            body["totalRecords"] = len(codes) if self.total is None else self.total
        return json.dumps(body).encode()


class Context:
    """The integration context: what getIntegrationContext answers, and how many times it was written."""

    def __init__(self):
        self.value: dict = {}
        self.writes = 0

    def get(self) -> dict:
        return copy.deepcopy(self.value)

    def set(self, value: dict) -> None:
        self.value = json.loads(json.dumps(value))  # what the server stores is JSON
        self.writes += 1

    @property
    def memory(self) -> MirrorMemory:
        return MirrorMemory.load(self.value.get(MIRROR_CONTEXT_KEY))

    def remember(self, statuses: dict[int, str | None], **cursor) -> None:
        memory = self.memory
        memory.alarms.update(statuses)
        for key, value in cursor.items():
            setattr(memory, key, value)
        self.value[MIRROR_CONTEXT_KEY] = memory.to_context()


@pytest.fixture
def context(monkeypatch) -> Context:
    ctx = Context()
    monkeypatch.setattr(demisto, "getIntegrationContext", ctx.get)
    monkeypatch.setattr(demisto, "setIntegrationContext", ctx.set)
    return ctx


@pytest.fixture
def logs(monkeypatch) -> list[str]:
    lines: list[str] = []
    monkeypatch.setattr(demisto, "debug", lambda message, *args: lines.append(str(message)))
    return lines


def make_client(**kwargs) -> Client:
    return Client(BASE, API_KEY, max_attempts=1, sleep=lambda _seconds: None, **kwargs)


def make_settings(**overrides) -> Settings:
    values = {"mirror_direction": "In", "close_incident": True, "mirror_max_requests": 5, **overrides}
    return Settings(base_url=BASE, api_key=API_KEY, **values)


def cycle(fake: FakeList, settings: Settings | None = None) -> list[str]:
    """One get-modified-remote-data, as XSOAR runs it (a new client each time)."""
    response = get_modified_remote_data_command(make_client(), {"lastUpdate": LAST_UPDATE}, settings or make_settings())
    return response.modified_incident_ids


def sweep_until_done(fake: FakeList, memory: MirrorMemory, budget: int, max_cycles: int = 20000):
    """Cycles (MirrorSweep + commit) until one completes the sweep. Returns (cycles, requests, codes read)."""
    cycles, requests, read = 0, 0, set()
    while cycles < max_cycles:
        sweep = MirrorSweep(make_client(), memory, budget)
        sweep.run()
        sweep.commit(memory)
        assert sweep.requests <= budget
        cycles, requests = cycles + 1, requests + sweep.requests
        read |= set(sweep.seen)
        if sweep.swept:
            return cycles, requests, read
    raise AssertionError("the sweep never completed")


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("value", "direction", "mirror_in"),
    [
        ("None", None, False),
        ("", None, False),
        (None, None, False),
        ("Outgoing", "Out", False),
        ("Incoming", "In", True),
        ("Incoming And Outgoing", "Both", True),
        (" incoming  and outgoing ", "Both", True),
    ],
)
def test_mirror_direction_offers_none_incoming_outgoing_and_both(value, direction, mirror_in):
    settings = parse_params({"credentials": {"password": API_KEY}, "mirror_direction": value})
    assert (settings.mirror_direction, settings.mirror_in) == (direction, mirror_in)


@pytest.mark.parametrize(
    ("params", "close_incident", "budget"),
    [
        ({}, False, 5),
        ({"close_incident": True, "mirror_max_requests": "1"}, True, 1),
        ({"close_incident": "false", "mirror_max_requests": 100}, False, 100),
        ({"close_incident": "true", "mirror_max_requests": " "}, True, 5),
    ],
)
def test_close_incident_and_the_request_budget(params, close_incident, budget):
    settings = parse_params({"credentials": {"password": API_KEY}, **params})
    assert (settings.close_incident, settings.mirror_max_requests) == (close_incident, budget)


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"mirror_direction": "Both"}, "Incident Mirroring Direction (mirror_direction) must be one of None,"),
        ({"mirror_max_requests": "0"}, "Maximum list requests per mirroring cycle (mirror_max_requests) must be"),
        ({"mirror_max_requests": "101"}, "a whole number from 1 to 100; got '101'"),
        ({"mirror_max_requests": "five"}, "(mirror_max_requests)"),
        ({"close_incident": "sometimes"}, "Close Mirrored XSOAR Incident (close_incident) must be true or false"),
    ],
)
def test_bad_mirroring_settings_are_refused_naming_label_and_parameter(params, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        parse_params({"credentials": {"password": API_KEY}, **params}, fetch=False, mirroring=True)


def test_commands_other_than_fetch_and_mirroring_ignore_the_mirroring_settings():
    settings = parse_params({"credentials": {"password": API_KEY}, "mirror_max_requests": "0"}, fetch=False)
    assert settings.mirror_max_requests == 5


# ---------------------------------------------------------------- the memory


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Resolved", "Resolved"),
        ("false  positive", "False Positive"),
        (" IN PROGRESS ", "In Progress"),
        ("Escalated", "Escalated"),
        ("", None),
        (None, None),
        (3, None),
    ],
)
def test_status_of_uses_threatmon_spelling(status, expected):
    assert status_of({"status": status}) == expected


def test_the_memory_round_trips_through_the_context():
    stored = load_json("mirror_context.json")[MIRROR_CONTEXT_KEY]
    memory = MirrorMemory.load(stored)
    assert memory.alarms == {48302: "Open", 48305: "In Progress", 48308: None}
    assert memory.pending == {48290: {"status": "Resolved", "reported": 2}}
    assert memory.sent == {48299: "False Positive"}
    assert (memory.through, memory.hint, memory.order, memory.page_size) == (
        48304,
        {"after": 48307, "page": 3, "total": 38},
        "descending",
        10,
    )
    assert memory.to_context() == stored


@pytest.mark.parametrize(
    "stored",
    [
        None,
        "not a memory",
        {"version": 99, "alarms": {"1": "Open"}},
        {"version": 1, "alarms": ["1"], "pending": "x", "sent": 5},
        {"version": 1, "alarms": {}, "sent": {"x": "Ignore", "5": 3}},
        {"version": 1, "alarms": {"x": "Open", "-3": "Open", "4": 7}, "pending": {"5": {"reported": 1}, "6": "Open"}},
        {"version": 1, "alarms": {}, "hint": {"after": 3}, "scan": {"page": "x"}, "order": "sideways", "page_size": 0},
    ],
)
def test_a_damaged_memory_reads_as_what_is_usable_in_it(stored):
    memory = MirrorMemory.load(stored)
    assert memory.alarms == {} and memory.pending == {} and memory.sent == {}
    assert (memory.hint, memory.scan, memory.order, memory.page_size) == (None, None, None, None)


def test_fetched_alarms_join_with_their_status_but_not_codeless_or_closed_ones():
    memory = MirrorMemory()
    incidents = [
        {"dbotMirrorId": "7", "rawJSON": json.dumps({"alarmCode": 7, "status": "open"})},
        {"dbotMirrorId": "8", "rawJSON": json.dumps({"alarmCode": 8})},
        {"dbotMirrorId": "9", "rawJSON": json.dumps({"alarmCode": 9, "status": "Resolved"})},
        {"dbotMirrorId": "10", "rawJSON": json.dumps({"alarmCode": 10, "status": "Ignore"})},
        {"rawJSON": json.dumps({"title": "no code"})},
    ]
    remember_fetched_alarms(memory, incidents)
    assert memory.alarms == {7: "Open", 8: None}


def test_past_the_bound_the_oldest_alarms_stop_being_mirrored_and_the_log_says_so(logs):
    memory = MirrorMemory(alarms=dict.fromkeys(range(1, MAX_MIRRORED_ALARMS + 1), "Open"))
    incidents = [{"dbotMirrorId": str(code), "rawJSON": "{}"} for code in (MAX_MIRRORED_ALARMS + 1, MAX_MIRRORED_ALARMS + 2)]
    remember_fetched_alarms(memory, incidents)
    assert len(memory.alarms) == MAX_MIRRORED_ALARMS
    assert min(memory.alarms) == 3
    assert any("the 2 oldest (alarm codes 1 to 2) stop being mirrored in" in line for line in logs)


# ---------------------------------------------------------------- the cost of a sweep


def layout(name: str, count: int) -> tuple[list[int], list[int]]:
    """(every code ThreatMon lists, the remembered ones)."""
    if name == "neighbours":
        return list(range(1, count + 1)), list(range(1, count + 1))
    if name == "every third":
        return list(range(1, 3 * count + 1)), list(range(1, 3 * count + 1, 3))
    if name == "far apart":
        return list(range(1, 25 * count + 1)), list(range(1, 25 * count + 1, 25))
    if name == "random":
        listed = list(range(1, 8 * count + 1))
        return listed, sorted(random.Random(count).sample(listed, count))  # noqa: S311 - a fixed test layout
    # "newer alarms too": the remembered ones, then many alarms no one remembers (closed, or not fetched)
    return list(range(1, count + 60)), list(range(1, count + 1))


LAYOUTS = ["neighbours", "every third", "far apart", "random", "newer alarms too"]


def worst_requests(count: int, order: str) -> int:
    return count if order == "asc" else 2 * count


def neighbour_requests(count: int, order: str) -> int:
    return math.ceil(count / 10) + (0 if order == "asc" else 2)


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("name", LAYOUTS)
@pytest.mark.parametrize("count", [1, 9, 10, 11, 57, 200])
@pytest.mark.parametrize("budget", [1, 2, 5])
def test_a_sweep_reads_every_remembered_alarm_within_the_documented_cycles(order, name, count, budget):
    listed, remembered = layout(name, count)
    memory = MirrorMemory(alarms=dict.fromkeys(remembered, "Open"))
    with requests_mock.Mocker() as mocker:
        fake = FakeList(listed, order).register(mocker)
        cycles, requests, read = sweep_until_done(fake, memory, budget)
    assert read == set(remembered)
    assert requests <= worst_requests(count, order)
    if name in ("neighbours", "newer alarms too"):
        assert requests <= neighbour_requests(count, order)
    assert cycles == math.ceil(requests / budget)  # every cycle but the last one spends its whole budget


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_the_next_sweep_starts_again_from_the_oldest_alarm(order):
    memory = MirrorMemory(alarms=dict.fromkeys(range(1, 31), "Open"))
    with requests_mock.Mocker() as mocker:
        fake = FakeList(range(1, 31), order).register(mocker)
        first = sweep_until_done(fake, memory, 2)
        second = sweep_until_done(fake, memory, 2)
    assert first[2] == second[2] == set(range(1, 31))
    assert second[1] <= first[1]


def test_a_cycle_with_nothing_remembered_sends_nothing(context):
    with requests_mock.Mocker() as mocker:
        fake = FakeList(range(1, 20)).register(mocker)
        assert cycle(fake) == []
    assert fake.requests == []
    assert context.writes == 0


@pytest.mark.parametrize("direction", [None, "Out"])
def test_without_incoming_mirroring_a_cycle_reads_and_writes_nothing(context, direction):
    context.remember({1: "Open"})
    before = copy.deepcopy(context.value)
    with requests_mock.Mocker() as mocker:
        fake = FakeList([1], "asc").register(mocker)
        fake.statuses[1] = "Resolved"
        assert cycle(fake, make_settings(mirror_direction=direction)) == []
    assert fake.requests == []
    assert context.value == before


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_the_window_of_each_remembered_alarm_is_asked_for_directly(order):
    """Remembered alarms far apart: each window starts at afterAlarmCode = code - 1, nothing in between is read."""
    memory = MirrorMemory(alarms={5: "Open", 500: "Open", 900: "Open"}, order="ascending" if order == "asc" else None)
    with requests_mock.Mocker() as mocker:
        fake = FakeList(range(1, 1001), order).register(mocker)
        sweep_until_done(fake, memory, 10)
    assert sorted({after for _, after in fake.requests}) == [4, 499, 899]


@pytest.mark.parametrize("page_size", [5, 20, 25])
def test_a_page_size_other_than_ten_is_learnt_from_page_0(page_size):
    memory = MirrorMemory(alarms=dict.fromkeys(range(1, 101), "Open"))
    with requests_mock.Mocker() as mocker:
        fake = FakeList(range(1, 101), "desc", page_size=page_size).register(mocker)
        _, requests, read = sweep_until_done(fake, memory, 5)
    assert read == set(range(1, 101))
    assert requests <= math.ceil(100 / page_size) + 2
    assert memory.page_size == page_size


@pytest.mark.parametrize(
    ("order", "totals", "ignore_filter"),
    [("random", True, False), ("desc", False, False), ("asc", True, True), ("desc", True, True)],
)
def test_a_list_the_windows_cannot_use_is_read_page_by_page_and_nothing_is_missed(order, totals, ignore_filter):
    memory = MirrorMemory(alarms=dict.fromkeys(range(20, 61, 4), "Open"))
    with requests_mock.Mocker() as mocker:
        fake = FakeList(range(1, 71), order, totals=totals).register(mocker)
        fake.ignore_filter = ignore_filter
        _, requests, read = sweep_until_done(fake, memory, 3)
    assert read == set(range(20, 61, 4))
    assert requests <= 2 + 7 + 1  # the window's requests, the 7 pages of the list and the empty page after them


@pytest.mark.parametrize(
    ("total", "order"),
    [(95, "desc"), (95, "asc"), (3, "desc"), (3, "asc")],  # counting something else; smaller than a page
)
def test_a_count_that_does_not_describe_the_list_loses_nothing(total, order):
    memory = MirrorMemory(alarms=dict.fromkeys(range(1, 31), "Open"))
    with requests_mock.Mocker() as mocker:
        fake = FakeList(range(1, 31), order).register(mocker)
        fake.total = total
        _, requests, read = sweep_until_done(fake, memory, 5)
    assert read == set(range(1, 31))
    assert requests <= 2 + 3 + 1


@pytest.mark.parametrize(("before", "now"), [("descending", "asc"), ("ascending", "desc")])
def test_a_list_whose_order_changed_since_the_last_cycle_is_still_read_whole(before, now):
    memory = MirrorMemory(alarms=dict.fromkeys(range(1, 31), "Open"), order=before, hint={"after": 0, "page": 2})
    with requests_mock.Mocker() as mocker:
        fake = FakeList(range(1, 31), now).register(mocker)
        _, _, read = sweep_until_done(fake, memory, 5)
    assert read == set(range(1, 31))
    assert memory.order == ("ascending" if now == "asc" else "descending")


def test_a_remembered_alarm_above_every_listed_one_ends_the_sweep():
    memory = MirrorMemory(alarms={3: "Open", 60: "Open"}, order="descending", through=3, hint={"after": 59, "page": 4})
    with requests_mock.Mocker() as mocker:
        fake = FakeList(range(1, 41), "desc").register(mocker)
        sweep = MirrorSweep(make_client(), memory, 5)
        sweep.run()
    assert (sweep.requests, sweep.swept) == (1, True)
    assert fake.requests == [(4, 59)]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("every", [1, 3])
def test_alarms_created_between_requests_do_not_stop_a_sweep(order, every):
    memory = MirrorMemory(alarms=dict.fromkeys(range(1, 101), "Open"))
    with requests_mock.Mocker() as mocker:
        fake = FakeList(range(1, 101), order).register(mocker)
        fake.inserts = dict.fromkeys(range(1, 400, every), 1)
        _, requests, read = sweep_until_done(fake, memory, 5)
    assert read == set(range(1, 101))
    assert requests <= 2 * 100


def test_an_alarm_threatmon_no_longer_lists_is_passed_over():
    memory = MirrorMemory(alarms={3: "Open", 40: "Open", 41: "Open"})
    with requests_mock.Mocker() as mocker:
        fake = FakeList([1, 2, 41, 42], "desc").register(mocker)
        _, _, read = sweep_until_done(fake, memory, 5)
    assert read == {41}
    assert memory.alarms == {3: "Open", 40: "Open", 41: "Open"}


# ---------------------------------------------------------------- changes


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_a_status_set_in_threatmon_is_reported_once_and_collected_by_get_remote_data(context, order):
    context.remember(dict.fromkeys(range(1, 26), "Open"))
    settings = make_settings(close_incident=False)
    with requests_mock.Mocker() as mocker:
        fake = FakeList(range(1, 26), order).register(mocker)
        fake.statuses[7] = "In Progress"
        assert cycle(fake, settings) == ["7"]
        response = get_remote_data_command({"id": "7", "lastUpdate": LAST_UPDATE}, settings)
        requests_before = len(fake.requests)
        assert cycle(fake, settings) == []
    assert response.mirrored_object == {"alarmCode": 7, "status": "In Progress"}
    assert response.entries == []
    assert context.memory.alarms[7] == "In Progress"
    assert len(fake.requests) > requests_before  # the next cycle read again, and found nothing new


@pytest.mark.parametrize(
    ("status", "close_incident", "reason"),
    [
        ("Resolved", True, "Resolved"),
        ("False Positive", True, "False Positive"),
        ("Ignore", True, "Duplicate"),
        ("In Progress", True, None),
        ("Open", True, None),
        ("Resolved", False, None),
        ("Ignore", False, None),
    ],
)
def test_what_get_remote_data_answers_for_each_status(context, status, close_incident, reason):
    context.remember({7: "Escalated"})
    with requests_mock.Mocker() as mocker:
        fake = FakeList([7]).register(mocker)
        fake.statuses[7] = status
        cycle(fake)
        requests = len(fake.requests)
        response = get_remote_data_command({"id": "7", "lastUpdate": LAST_UPDATE}, make_settings(close_incident=close_incident))
    assert len(fake.requests) == requests  # answered from what the cycle read
    assert response.mirrored_object == {"alarmCode": 7, "status": status}
    closes = [entry["Contents"] for entry in response.entries]
    if reason is None:
        assert closes == []
    else:
        notes = f"Closed by ThreatMon: the alarm's status is {status}."
        assert closes == [{"dbotIncidentClose": True, "closeReason": reason, "closeNotes": notes}]
        assert response.entries[0]["Type"] == EntryType.NOTE


def test_the_incoming_mapper_maps_every_field_of_the_mirrored_object(context):
    """get-remote-data's object goes through the pack's incoming mapper: its status must land in ThreatMon Status."""
    mapper = json.loads((Path(__file__).parents[2] / "Classifiers" / "classifier-mapper-incoming-ThreatMon.json").read_text())
    fields = {rule.get("simple"): name for name, rule in mapper["mapping"]["ThreatMon Alarm"]["internalMapping"].items()}
    context.remember({7: "Open"})
    with requests_mock.Mocker() as mocker:
        fake = FakeList([7]).register(mocker)
        fake.statuses[7] = "In Progress"
        cycle(fake)
    mirrored = get_remote_data_command({"id": "7", "lastUpdate": LAST_UPDATE}, make_settings()).mirrored_object
    assert {key: fields.get(key) for key in mirrored} == {"alarmCode": "ThreatMon Alarm Code", "status": "ThreatMon Status"}


def test_each_close_reason_mirrors_back_to_the_same_threatmon_status():
    for status, reason in ThreatMon.CLOSING_STATUSES.items():
        assert ThreatMon.close_reason_to_status(reason) == status


@pytest.mark.parametrize("status", ["Resolved", "False Positive", "Ignore"])
def test_an_alarm_closed_in_threatmon_leaves_the_memory(context, status):
    context.remember({1: "Open", 2: "Open"})
    with requests_mock.Mocker() as mocker:
        fake = FakeList([1, 2]).register(mocker)
        fake.statuses[1] = status
        assert cycle(fake) == ["1"]
    assert context.memory.alarms == {2: "Open"}


def test_get_remote_data_without_a_change_answers_nothing_to_update(context):
    context.remember({7: "Open"})
    response = get_remote_data_command({"id": "7", "lastUpdate": LAST_UPDATE}, make_settings())
    assert (response.mirrored_object, response.entries, response.extract_for_local()) == ({}, [], None)
    assert context.writes == 0


@pytest.mark.parametrize("value", [None, "", "abc", "-4"])
def test_get_remote_data_refuses_an_id_that_is_not_an_alarm_code(context, value):
    with pytest.raises(ValueError, match="The id argument must be the ThreatMon alarm code"):
        get_remote_data_command({"id": value, "lastUpdate": LAST_UPDATE}, make_settings())


def test_a_change_xsoar_does_not_collect_is_reported_a_few_cycles_then_dropped(context, logs):
    context.remember({1: "Open", 2: "Open"})
    reports = []
    with requests_mock.Mocker() as mocker:
        fake = FakeList([1, 2]).register(mocker)
        fake.statuses[1] = "In Progress"
        for _ in range(MIRROR_PENDING_REPORTS + 2):
            reports.append(cycle(fake))
    assert reports == [["1"]] * MIRROR_PENDING_REPORTS + [[], []]
    assert any("did not collect the change of alarm 1" in line for line in logs)


def test_a_newer_status_replaces_a_change_not_collected_yet(context):
    context.remember({1: "Open"})
    with requests_mock.Mocker() as mocker:
        fake = FakeList([1]).register(mocker)
        fake.statuses[1] = "In Progress"
        cycle(fake)
        fake.statuses[1] = "Resolved"
        assert cycle(fake) == ["1"]
    response = get_remote_data_command({"id": "1", "lastUpdate": LAST_UPDATE}, make_settings())
    assert response.mirrored_object["status"] == "Resolved"
    assert len(response.entries) == 1


# ---------------------------------------------------------------- faults


def test_a_failed_first_request_raises_and_leaves_the_memory_untouched(context):
    context.remember(dict.fromkeys(range(1, 40), "Open"), through=12)
    before = copy.deepcopy(context.value)
    with requests_mock.Mocker() as mocker:
        fake = FakeList(range(1, 40)).register(mocker)
        fake.statuses[20] = "Resolved"
        fake.faults = {1: 429}
        with pytest.raises(ThreatMon.ThreatMonError, match="rate limiting"):
            cycle(fake)
    assert len(fake.requests) == 1  # no retry: a retry would be a request over the budget
    assert context.value == before


@pytest.mark.parametrize("failing", [2, 3, 5])
def test_a_failure_mid_cycle_keeps_what_was_read_and_the_next_cycle_carries_on(context, failing):
    context.remember(dict.fromkeys(range(1, 101), "Open"))
    with requests_mock.Mocker() as mocker:
        fake = FakeList(range(1, 101)).register(mocker)
        fake.statuses[5] = "Resolved"
        fake.statuses[95] = "Ignore"
        fake.faults = {failing: 503}
        first = cycle(fake)
        through = context.memory.through
        seen = []
        for _ in range(5):
            seen += cycle(fake)
    assert first == ["5"]
    assert through == 10 * (failing - 1)
    assert "95" in seen
    assert context.memory.alarms.keys() == set(range(1, 101)) - {5, 95}


def test_a_cycle_whose_context_changed_meanwhile_keeps_both(context, monkeypatch):
    """A fetch adds alarms and an outgoing close takes one out while a cycle reads ThreatMon: the cycle's write
    keeps both, and reports nothing for the alarm that left."""
    context.remember({1: "Open", 2: "Open", 3: "Open"})
    with requests_mock.Mocker() as mocker:
        fake = FakeList([1, 2, 3]).register(mocker)
        fake.statuses[2] = fake.statuses[3] = "Resolved"
        real_list = Client.list_alarms

        def list_while_others_write(self, page, after_alarm_code=None):
            ThreatMon.update_mirror_memory(lambda memory: memory.remember({9: "Open"}))
            ThreatMon.update_mirror_memory(lambda memory: memory.forget(3))
            return real_list(self, page, after_alarm_code)

        monkeypatch.setattr(Client, "list_alarms", list_while_others_write)
        assert cycle(fake) == ["2"]
    assert context.memory.alarms == {1: "Open", 9: "Open"}


# ---------------------------------------------------------------- outgoing closes do not come back


def close_args(code: int = 7, notes: str = "done") -> dict:
    return {
        "remoteId": str(code),
        "status": IncidentStatus.DONE,
        "incidentChanged": True,
        "delta": {"closeReason": "False Positive", "closeNotes": notes},
        "data": {},
    }


def test_an_outgoing_close_is_recorded_before_it_is_sent_and_the_alarm_leaves_after(context):
    context.remember({7: "Open", 8: "Open"})
    seen_during_patch = []
    with requests_mock.Mocker() as mocker:

        def patch(request, _context):
            seen_during_patch.append(copy.deepcopy(context.memory.sent))
            return ""

        mocker.patch(STATUS_URL, text=patch)
        update_remote_system_command(make_client(), close_args(), mirror_in=True)
    assert seen_during_patch == [{7: "False Positive"}]
    assert context.memory.alarms == {8: "Open"}
    assert context.memory.sent == {}


def test_what_the_list_says_about_an_alarm_xsoar_is_closing_is_no_incoming_change(context):
    context.remember({7: "Open"}, sent={7: "False Positive"})
    with requests_mock.Mocker() as mocker:
        fake = FakeList([7]).register(mocker)
        fake.statuses[7] = "False Positive"
        assert cycle(fake) == []
    assert context.memory.pending == {}


def test_a_failed_outgoing_close_keeps_the_alarm_marked_as_being_closed(context):
    context.remember({7: "Open"})
    with requests_mock.Mocker() as mocker:
        mocker.patch(STATUS_URL, status_code=500)
        with pytest.raises(ThreatMon.ThreatMonError):
            update_remote_system_command(make_client(), close_args(), mirror_in=True)
    assert context.memory.sent == {7: "False Positive"}
    assert context.memory.alarms == {7: "Open"}


def test_a_close_that_threatmon_sent_in_is_not_sent_back(context):
    context.remember({7: "Open"})
    with requests_mock.Mocker() as mocker:
        patch = mocker.patch(STATUS_URL, text="")
        notes = f"{CLOSED_BY_THREATMON}: the alarm's status is Resolved."
        assert update_remote_system_command(make_client(), close_args(notes=notes), mirror_in=True) == "7"
    assert patch.call_count == 0


def test_an_outgoing_close_without_incoming_mirroring_writes_no_context(context):
    with requests_mock.Mocker() as mocker:
        patch = mocker.patch(STATUS_URL, text="")
        update_remote_system_command(make_client(), close_args(), mirror_in=False)
    assert patch.call_count == 1
    assert context.writes == 0


# ---------------------------------------------------------------- main


@pytest.fixture
def server(monkeypatch, context):
    """demistomock patched like the server for main(): params, command, args; results and incidents recorded."""

    class Server:
        params = {"url": BASE, "credentials": {"password": API_KEY}, "mirror_direction": "Incoming And Outgoing"}
        command = "fetch-incidents"
        args: dict = {}
        last_run: dict = {}
        results: list = []
        incidents: list = []

    srv = Server()
    srv.results, srv.incidents = [], []
    monkeypatch.setattr(demisto, "params", lambda: srv.params)
    monkeypatch.setattr(demisto, "command", lambda: srv.command)
    monkeypatch.setattr(demisto, "args", lambda: srv.args)
    monkeypatch.setattr(demisto, "integrationInstance", lambda: "ThreatMon_instance_1")
    monkeypatch.setattr(demisto, "getLastRun", lambda: srv.last_run)
    monkeypatch.setattr(demisto, "setLastRun", lambda value: setattr(srv, "last_run", value))
    monkeypatch.setattr(demisto, "incidents", lambda value: srv.incidents.append(value))
    monkeypatch.setattr(demisto, "results", lambda value: srv.results.append(value))
    monkeypatch.setattr(ThreatMon.time, "sleep", lambda seconds: None)
    return srv


def run_main(srv, command: str, args: dict | None = None) -> list:
    srv.command, srv.args, srv.results = command, args or {}, []
    with contextlib.suppress(SystemExit):
        ThreatMon.main()
    return srv.results


def test_main_fetch_with_incoming_mirroring_remembers_the_fetched_alarms(server, context):
    with requests_mock.Mocker() as mocker:
        FakeList(range(1, 13)).register(mocker)
        run_main(server, "fetch-incidents")
    incidents = server.incidents[0]
    assert {incident["dbotMirrorDirection"] for incident in incidents} == {"Both"}
    assert context.memory.alarms == dict.fromkeys(range(1, 13), "Open")


@pytest.mark.parametrize("direction", ["None", "Outgoing", "", None])
def test_main_fetch_without_incoming_mirroring_sends_the_same_requests_and_writes_no_context(server, context, direction):
    def requests_of(params):
        server.params, server.last_run = params, {}
        with requests_mock.Mocker() as mocker:
            fake = FakeList(range(1, 26), "desc").register(mocker)
            run_main(server, "fetch-incidents")
        return fake.requests

    incoming = requests_of({**server.params, "mirror_direction": "Incoming"})
    context.value, context.writes = {}, 0
    assert requests_of({**server.params, "mirror_direction": direction}) == incoming
    assert context.writes == 0


def test_main_runs_a_mirroring_cycle_then_get_remote_data(server, context):
    server.params = {**server.params, "close_incident": "true", "mirror_max_requests": "2"}
    context.remember(dict.fromkeys(range(1, 60), "Open"))
    with requests_mock.Mocker() as mocker:
        fake = FakeList(range(1, 60)).register(mocker)
        fake.statuses[3] = "Resolved"
        modified = run_main(server, "get-modified-remote-data", {"lastUpdate": LAST_UPDATE})
        remote = run_main(server, "get-remote-data", {"id": "3", "lastUpdate": LAST_UPDATE})
    assert len(fake.requests) == 2
    assert modified == [{"Contents": ["3"], "Type": EntryType.NOTE, "ContentsFormat": EntryFormat.JSON}]
    assert remote[0][0] == {"alarmCode": 3, "status": "Resolved"}
    assert remote[0][1]["Contents"]["dbotIncidentClose"] is True


def test_main_a_cycle_that_read_nothing_tells_xsoar_to_skip_the_update(server, context):
    context.remember({1: "Open"})
    with requests_mock.Mocker() as mocker:
        fake = FakeList([1]).register(mocker)
        fake.faults = {1: 502}
        results = run_main(server, "get-modified-remote-data", {"lastUpdate": LAST_UPDATE})
    assert len(fake.requests) == 1
    assert results[-1]["Type"] == EntryType.ERROR
    assert results[-1]["Contents"].startswith("skip update. error: Failed to execute get-modified-remote-data: ThreatMon")


def test_main_update_remote_system_with_incoming_mirroring_forgets_the_closed_alarm(server, context):
    context.remember({7: "Open"})
    with requests_mock.Mocker() as mocker:
        mocker.patch(STATUS_URL, text="")
        results = run_main(server, "update-remote-system", close_args())
    assert results == ["7"]
    assert context.memory.alarms == {}


def test_fetch_incidents_itself_never_touches_the_context(context):
    with requests_mock.Mocker() as mocker:
        FakeList(range(1, 5)).register(mocker)
        _, incidents = fetch_incidents(make_client(), {}, make_settings(mirror_instance="x"))
    assert len(incidents) == 4
    assert context.writes == 0
