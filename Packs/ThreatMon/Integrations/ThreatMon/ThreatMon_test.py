"""Unit tests of the ThreatMon integration.

HTTP is stubbed with requests_mock. Fetch behaviour is driven by FakeThreatMon, a small in-test ThreatMon (a set of
alarms, a sort order, a plan of faults and of alarms created while paging) used as a requests_mock callback; the
fetch tables assert that the union of the incidents of repeated runs is the alarm set, each alarm exactly once.
Nothing sleeps: the Client gets a fake clock and a fake sleep.
"""

import contextlib
import email.utils
import json
import re
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import demistomock as demisto
import pytest
import requests
import requests_mock
import ThreatMon
from CommonServerPython import *
from ThreatMon import (
    Client,
    FetchState,
    Settings,
    ThreatMonError,
    alarm_code_from_incident,
    close_reason_to_status,
    detect_order,
    fetch_incidents,
    format_vendors,
    get_mapping_fields_command,
    is_below_severity,
    list_alarms_command,
    list_cves_command,
    list_subscribed_cves_command,
    normalize_url,
    parse_data_removal_path,
    parse_params,
    request_data_removal_command,
    request_takedown_command,
    severity_to_xsoar,
    update_incident_status_command,
    update_remote_system_command,
)

BASE = "https://threatmon.test/api/threatmon/external/v1"
API_KEY = "tm-secret-7f3a9c2e1b"
NOW = datetime(2025, 3, 15, 12, 0, 0, tzinfo=UTC)
TEST_DATA = Path(__file__).parent / "test_data"
LIST_URL = re.compile(re.escape(BASE) + r"/vulnerabilities/\d+")
STATUS_URL = f"{BASE}/incident/status"
TAKEDOWN_URL = f"{BASE}/takedown"
REMOVAL_PATH = "/blackmarket/data-removal"  # a path as support might give it (ThreatMon has not published one)
REMOVAL_URL = f"{BASE}{REMOVAL_PATH}"


def compact(markdown: str) -> str:
    """A markdown table without the padding around its cells, whatever the table writer's spacing."""
    return re.sub(r" *\| *", "|", markdown)


def load_json(name: str):
    return json.loads((TEST_DATA / name).read_text())


class FakeClock:
    """Monotonic clock, wall clock and sleep for the Client: sleeping only moves the clock."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_741_000_000.0 + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_client(clock: FakeClock | None = None, deadline: float | None = None, **kwargs) -> Client:
    clock = clock or FakeClock()
    return Client(BASE, API_KEY, sleep=clock.sleep, clock=clock.clock, wall_clock=clock.wall, deadline_seconds=deadline, **kwargs)


def make_settings(**overrides) -> Settings:
    return Settings(base_url=BASE, api_key=API_KEY, **overrides)


def codes_of(incidents) -> list[int]:
    return [int(incident["dbotMirrorId"]) for incident in incidents]


class FakeThreatMon:
    """A ThreatMon alarm list for requests_mock.

    order: "asc", "desc" or "random" (a fixed shuffle, the same on every call). faults: {call number: kind}.
    inserts: {call number: how many alarms are created just before that call is answered}. latency: seconds the
    clock moves on each call. Options reproduce odd servers: codes as strings, an inclusive afterAlarmCode, a
    filter that is ignored, no totalRecords, codeless alarms listed first.
    """

    def __init__(self, codes=(), order="asc", clock: FakeClock | None = None):
        self.template = load_json("alarm.json")
        self.alarms: dict[int, dict] = {}
        self.codeless: list[dict] = []
        self.order = order
        self.clock = clock
        self.calls = 0
        self.faults: dict[int, str] = {}
        self.inserts: dict[int, int] = {}
        self.latency = 0.0
        self.string_codes = False
        self.inclusive = False
        self.ignore_filter = False
        self.total_mode = "ok"
        self.requests: list[tuple[int, int | None]] = []
        for code in codes:
            self.add_alarm(code)

    def add_alarm(self, code: int, **fields) -> None:
        alarm = dict(
            self.template,
            alarmCode=str(code) if self.string_codes else code,
            title=f"Alarm number {code}",
            findingId=50000 + code,
        )
        alarm.update(fields)
        self.alarms[code] = alarm

    def create(self, count: int) -> None:
        for _ in range(count):
            self.add_alarm(max(self.alarms, default=0) + 1)

    def listing(self, after: int | None) -> list[dict]:
        codes = list(self.alarms)
        if after is not None and not self.ignore_filter:
            codes = [code for code in codes if code > after or (self.inclusive and code == after)]
        if self.order == "random":
            codes.sort(key=lambda code: (code * 7919) % 1009)
        else:
            codes.sort(reverse=self.order == "desc")
        return self.codeless + [self.alarms[code] for code in codes]

    def register(self, mocker: requests_mock.Mocker) -> "FakeThreatMon":
        mocker.get(LIST_URL, content=self)
        return self

    def __call__(self, request, context) -> bytes:
        self.calls += 1
        if self.clock is not None:
            self.clock.now += self.latency
        self.create(self.inserts.get(self.calls, 0))
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.url).query)
        after = int(query["afterAlarmCode"][0]) if "afterAlarmCode" in query else None
        page = int(request.url.split("?")[0].rsplit("/", 1)[1])
        self.requests.append((page, after))
        listing = self.listing(after)
        body: dict = {"data": listing[page * 10 : page * 10 + 10]}
        if self.total_mode == "ok":
            body["totalRecords"] = len(listing)
        elif self.total_mode == "unfiltered":
            body["totalRecords"] = len(self.alarms) + len(self.codeless)
        elif self.total_mode == "string":
            body["totalRecords"] = str(len(listing))
        fault = self.faults.get(self.calls)
        return self.fault(fault, context, body) if fault else json.dumps(body).encode()

    def fault(self, kind: str, context, body: dict) -> bytes:
        if kind == "timeout":
            raise requests.exceptions.ReadTimeout("read timed out")
        if kind == "connect-timeout":
            raise requests.exceptions.ConnectTimeout("connect timed out")
        if kind == "connection":
            raise requests.exceptions.ConnectionError("connection reset by peer")
        if kind == "dropped":
            raise requests.exceptions.ChunkedEncodingError("connection broken: incomplete read")
        if kind == "truncated":
            text = json.dumps(body)
            return text[: len(text) // 2].encode()
        if kind == "html":
            context.headers["Content-Type"] = "text/html"
            return b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        if kind == "wrong-shape":
            return b'{"message": "temporarily unavailable"}'
        if kind == "429":
            context.status_code = 429
            context.headers["Retry-After"] = "2"
            return b'{"message": "too many requests"}'
        if kind == "429-date":
            context.status_code = 429
            wall = self.clock.wall() if self.clock else 0.0
            context.headers["Retry-After"] = email.utils.formatdate(wall + 3, usegmt=True)
            return b""
        context.status_code = int(kind)  # "500", "502", "503", "504"
        return b"<html><body>Internal Server Error</body></html>"


def drain(
    fake: FakeThreatMon,
    settings: Settings,
    last_run=None,
    clock: FakeClock | None = None,
    runs: int = 400,
    deadline: float | None = None,
):
    """Run fetch-incidents like the server does (a new client each run; lastRun kept only when the run succeeds)
    until two runs in a row bring nothing while no fault or insert is pending. Returns (last_run, incidents)."""
    clock = clock or fake.clock or FakeClock()
    taken: list[dict] = []
    quiet = 0
    for _ in range(runs):
        client = make_client(clock, deadline=deadline)
        try:
            last_run, incidents = fetch_incidents(client, last_run, settings, now=NOW)
        except ThreatMonError:
            incidents = []
        else:
            assert len(incidents) <= settings.max_fetch
            taken.extend(incidents)
        pending = any(call > fake.calls for call in [*fake.faults, *fake.inserts])
        quiet = quiet + 1 if not incidents and not pending else 0
        if quiet >= 2:
            break
    return last_run, taken


def assert_exactly_once(incidents, expected) -> None:
    codes = codes_of(incidents)
    assert len(codes) == len(set(codes)), "an alarm was ingested twice"
    assert sorted(codes) == sorted(expected), "an alarm was lost or invented"


# ---------------------------------------------------------------- fetch: exactly once


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("count", [0, 1, 9, 10, 11, 25, 137])
@pytest.mark.parametrize("max_fetch", [1, 7, 10, 15, 100, 1000])
def test_fetch_ingests_every_alarm_exactly_once(order, count, max_fetch):
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, count + 1), order).register(mocker)
        _, incidents = drain(fake, make_settings(max_fetch=max_fetch))
    assert_exactly_once(incidents, range(1, count + 1))


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("max_fetch", [7, 10, 15])
def test_fetch_takes_alarms_in_ascending_code_order_and_at_most_max_fetch_a_run(order, max_fetch):
    with requests_mock.Mocker() as mocker:
        FakeThreatMon(range(1, 31), order).register(mocker)
        last_run, first = fetch_incidents(make_client(), {}, make_settings(max_fetch=max_fetch), now=NOW)
    assert codes_of(first) == list(range(1, max_fetch + 1))
    assert last_run["last_alarm_code"] == max_fetch


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("inserts", [{1: 3}, {2: 1}, {2: 5, 3: 10, 5: 1}, {2: 11, 4: 9, 7: 20}])
@pytest.mark.parametrize("max_fetch", [7, 100])
def test_fetch_alarms_created_while_paging_are_ingested_exactly_once(order, inserts, max_fetch):
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 48), order).register(mocker)
        fake.inserts = dict(inserts)
        _, incidents = drain(fake, make_settings(max_fetch=max_fetch))
    assert_exactly_once(incidents, fake.alarms)


FAULTS = [
    "500",
    "502",
    "503",
    "504",
    "408",
    "429",
    "429-date",
    "timeout",
    "connect-timeout",
    "connection",
    "dropped",
    "truncated",
    "html",
    "wrong-shape",
]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("kind", FAULTS)
def test_fetch_retries_a_single_fault_within_the_run(order, kind):
    with requests_mock.Mocker() as mocker:
        clock = FakeClock()
        fake = FakeThreatMon(range(1, 36), order, clock).register(mocker)
        fake.faults = {3: kind}
        last_run, incidents = fetch_incidents(make_client(clock), {}, make_settings(max_fetch=100), now=NOW)
    assert_exactly_once(incidents, range(1, 36))
    assert last_run["last_alarm_code"] == 35
    assert len(clock.sleeps) == 1


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("kind", FAULTS)
@pytest.mark.parametrize("first_failing_call", [1, 2, 4])
def test_fetch_fault_that_outlasts_the_retries_loses_nothing_and_repeats_nothing(order, kind, first_failing_call):
    with requests_mock.Mocker() as mocker:
        clock = FakeClock()
        fake = FakeThreatMon(range(1, 58), order, clock).register(mocker)
        fake.faults = {first_failing_call + n: kind for n in range(Client.POLICY.max_attempts)}
        _, incidents = drain(fake, make_settings(max_fetch=25), clock=clock)
    assert_exactly_once(incidents, range(1, 58))


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_fetch_failure_mid_run_returns_what_was_taken_with_a_matching_last_run(order):
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 58), order).register(mocker)
        fake.faults = {3 + n: "503" for n in range(Client.POLICY.max_attempts)}
        last_run, incidents = fetch_incidents(make_client(), {}, make_settings(max_fetch=100), now=NOW)
    assert incidents, "the pages read before the failure are kept"
    assert last_run["last_alarm_code"] == max(codes_of(incidents))
    assert codes_of(incidents) == list(range(1, len(incidents) + 1))


def test_fetch_failure_before_any_progress_raises_the_error():
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, status_code=503, text="down")
        with pytest.raises(ThreatMonError, match="unavailable"):
            fetch_incidents(make_client(), {"state_version": 2, "last_alarm_code": 5}, make_settings(), now=NOW)


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_fetch_stops_at_the_deadline_and_the_next_run_continues(order):
    clock = FakeClock()
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 200), order, clock).register(mocker)
        fake.latency = 7.0  # a slow ThreatMon: six requests fill a 40-second run
        last_run, first = fetch_incidents(
            make_client(clock, deadline=ThreatMon.FETCH_DEADLINE), {}, make_settings(max_fetch=1000), now=NOW
        )
        assert 0 < len(first) < 199
        assert last_run["last_alarm_code"] == max(codes_of(first))
        _, rest = drain(fake, make_settings(max_fetch=1000), last_run, clock, deadline=ThreatMon.FETCH_DEADLINE)
    assert_exactly_once(first + rest, range(1, 200))


@pytest.mark.parametrize("order", ["asc", "desc", "random"])
@pytest.mark.parametrize("option", ["string_codes", "inclusive", "total_string", "total_missing"])
def test_fetch_odd_servers_still_give_each_alarm_once(order, option):
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon((), order).register(mocker)
        fake.string_codes = option == "string_codes"
        fake.inclusive = option == "inclusive"
        fake.total_mode = {"total_string": "string", "total_missing": "missing"}.get(option, "ok")
        for code in range(3, 80, 2):
            fake.add_alarm(code)
        _, incidents = drain(fake, make_settings(max_fetch=15))
    assert_exactly_once(incidents, fake.alarms)


@pytest.mark.parametrize("max_fetch", [5, 100])
def test_fetch_server_ignoring_after_alarm_code_sends_codes_already_handled(max_fetch):
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 44), "asc").register(mocker)
        fake.ignore_filter = True
        _, incidents = drain(fake, make_settings(max_fetch=max_fetch))
    assert_exactly_once(incidents, range(1, 44))


def test_fetch_drops_codes_at_or_below_the_watermark_sent_back_by_the_server():
    page = {
        "data": [{"alarmCode": 9, "title": "old"}, {"alarmCode": 10, "title": "old"}, {"alarmCode": 11, "title": "new"}],
        "totalRecords": 3,
    }
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json=page)
        last_run, incidents = fetch_incidents(
            make_client(), {"state_version": 2, "last_alarm_code": 10}, make_settings(), now=NOW
        )
    assert codes_of(incidents) == [11]
    assert last_run["last_alarm_code"] == 11


def test_fetch_duplicates_inside_a_page_become_one_incident():
    page = {"data": [{"alarmCode": 4}, {"alarmCode": "4"}, {"alarmCode": 5}, {"alarmCode": 4.0}], "totalRecords": 4}
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json=page)
        _, incidents = fetch_incidents(make_client(), {}, make_settings(), now=NOW)
    assert codes_of(incidents) == [4, 5]


@pytest.mark.parametrize("order", ["asc", "desc", "random"])
@pytest.mark.parametrize("max_fetch", [1, 7, 100])
def test_fetch_a_code_listed_twice_on_one_page_is_one_alarm_not_a_changing_list(order, max_fetch):
    """The last page repeats its first alarm: neither the order detection nor the scan may read that as a list that
    moved while it was read (which would fail every run from then on)."""

    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 56), order)

        def answer(request, context):
            body = json.loads(fake(request, context))
            if 0 < len(body["data"]) < 10:
                body["data"].append(dict(body["data"][0]))
            return json.dumps(body).encode()

        mocker.get(LIST_URL, content=answer)
        _, incidents = drain(fake, make_settings(max_fetch=max_fetch))
    assert_exactly_once(incidents, range(1, 56))


@pytest.mark.parametrize("order", ["asc", "desc", "random"])
def test_fetch_unsorted_or_undetectable_order_falls_back_to_a_full_scan(order):
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 64), order).register(mocker)
        fake.inserts = {3: 2, 9: 4}
        _, incidents = drain(fake, make_settings(max_fetch=20))
    assert_exactly_once(incidents, fake.alarms)


@pytest.mark.parametrize("order", ["asc", "desc", "random"])
def test_fetch_page_zero_with_a_single_code_is_compared_with_the_last_page(order):
    """Nine codeless alarms lead page 0, so its order cannot be read; the last page tells it."""
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 26), order).register(mocker)
        fake.codeless = [{"title": f"codeless {n}", "severity": "Low"} for n in range(9)]
        _, incidents = drain(fake, make_settings(max_fetch=100))
    coded = [incident for incident in incidents if "dbotMirrorId" in incident]
    codeless = [incident for incident in incidents if "dbotMirrorId" not in incident]
    assert_exactly_once(coded, range(1, 26))
    assert sorted(incident["name"] for incident in codeless) == sorted(
        f"ThreatMon Alarm (no code): codeless {n}" for n in range(9)
    )


def test_fetch_unsorted_list_that_never_settles_ends_runs_without_moving_and_the_third_says_so():
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 40), "random").register(mocker)
        fake.inserts = dict.fromkeys(range(2, 400), 1)
        first = fetch_incidents(make_client(), {}, make_settings(), now=NOW)
        second = fetch_incidents(make_client(), first[0], make_settings(), now=NOW)
        with pytest.raises(ThreatMonError, match="3 fetch runs in a row .the alarm list is not sorted"):
            fetch_incidents(make_client(), second[0], make_settings(), now=NOW)
    assert first == ({"state_version": 2, "stalled_runs": 1}, [])
    assert second == ({"state_version": 2, "stalled_runs": 2}, [])


def test_fetch_endless_full_pages_end_the_run_at_the_request_bound_without_taking_anything():
    """Every page is full and the same: the end of the list is never found, so nothing can be taken safely."""
    page = {"data": [{"alarmCode": 100 - n} for n in range(10)], "totalRecords": 25}
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json=page)
        last_run, incidents = fetch_incidents(make_client(), {"state_version": 2, "last_alarm_code": 3}, make_settings(), now=NOW)
        assert mocker.call_count == 100 // 10 + ThreatMon.EXTRA_REQUESTS_PER_RUN
    assert (last_run, incidents) == ({"state_version": 2, "last_alarm_code": 3, "stalled_runs": 1}, [])


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("total_mode", ["unfiltered", "missing", "string"])
@pytest.mark.parametrize("inserts", [{}, {2: 3, 4: 12, 9: 1}])
@pytest.mark.parametrize("max_fetch", [6, 100])
def test_fetch_does_not_depend_on_total_records(order, total_mode, inserts, max_fetch):
    """totalRecords may count every alarm (not the filtered ones), be missing or be text."""
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 118), order).register(mocker)
        fake.total_mode, fake.inserts = total_mode, dict(inserts)
        _, incidents = drain(fake, make_settings(max_fetch=max_fetch))
    assert_exactly_once(incidents, fake.alarms)


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_fetch_without_total_records_reads_few_pages(order):
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 1001), order).register(mocker)
        fake.total_mode = "missing"
        _, incidents = fetch_incidents(make_client(), {}, make_settings(max_fetch=100), now=NOW)
    assert codes_of(incidents) == list(range(1, 101))
    assert fake.calls <= (11 if order == "asc" else 40)


@pytest.mark.parametrize(("order", "limit"), [("asc", 11), ("desc", 12)])
def test_fetch_request_count_is_pages_plus_at_most_one(order, limit):
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 101), order).register(mocker)
        _, incidents = fetch_incidents(make_client(), {}, make_settings(max_fetch=100), now=NOW)
    assert len(incidents) == 100
    assert fake.calls <= limit


def test_fetch_bounds_the_requests_of_a_run_when_alarms_are_skipped():
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 2001), "asc").register(mocker)
        last_run, incidents = fetch_incidents(make_client(), {}, make_settings(max_fetch=10, min_severity="Critical"), now=NOW)
    assert incidents == []
    assert fake.calls == 1 + ThreatMon.EXTRA_REQUESTS_PER_RUN
    assert last_run["last_alarm_code"] == 10 * fake.calls  # the skipped alarms still move the watermark


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_fetch_last_run_stays_small(order):
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 500), order).register(mocker)
        last_run, incidents = drain(fake, make_settings(max_fetch=50))
    assert len(incidents) == 499
    assert len(json.dumps(last_run)) < 120


# ---------------------------------------------------------------- fetch: 1.0.x lastRun


def legacy_state(fake: FakeThreatMon, legacy_code: int, pages: int):
    """What the 1.0.x pack had done mid-batch: read pages 0..pages-1 of afterAlarmCode=legacy_code (ingesting them)
    and written its lastRun with the largest code it saw."""
    ingested = [alarm["alarmCode"] for alarm in fake.listing(legacy_code)[: pages * 10]]
    ingested = [int(code) for code in ingested]
    return set(ingested), {"last_incident_id": legacy_code, "page": pages, "max_seen_id": max(ingested)}


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize(("legacy_code", "pages", "created_since"), [(0, 1, 0), (40, 2, 0), (40, 3, 7), (100, 5, 23)])
@pytest.mark.parametrize("max_fetch", [3, 100])
def test_fetch_continues_a_1_0_x_batch_without_reingesting(order, legacy_code, pages, created_since, max_fetch):
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 181), order).register(mocker)
        done_by_legacy, last_run = legacy_state(fake, legacy_code, pages)
        fake.create(created_since)
        _, incidents = drain(fake, make_settings(max_fetch=max_fetch), last_run)
    expected = [code for code in fake.alarms if code > legacy_code and code not in done_by_legacy]
    assert_exactly_once(incidents, expected)


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("total_mode", ["unfiltered", "missing"])
@pytest.mark.parametrize("created_since", [0, 14])
def test_fetch_continues_a_1_0_x_batch_when_total_records_cannot_count_it(order, total_mode, created_since):
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 181), order).register(mocker)
        done_by_legacy, last_run = legacy_state(fake, 40, 3)
        fake.create(created_since)
        fake.total_mode = total_mode
        _, incidents = drain(fake, make_settings(max_fetch=30), last_run)
    assert_exactly_once(incidents, [code for code in fake.alarms if code > 40 and code not in done_by_legacy])


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_fetch_1_0_x_finished_batch_continues_after_its_last_code(order):
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 31), order).register(mocker)
        _, incidents = drain(fake, make_settings(), {"last_incident_id": 12, "page": 0})
    assert_exactly_once(incidents, range(13, 31))


def test_fetch_1_0_x_counts_are_reread_when_alarms_arrive_between_them():
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 91), "desc").register(mocker)
        done_by_legacy, last_run = legacy_state(fake, 20, 2)
        fake.inserts = {2: 4}  # between the first T(M) and T(L): the counts disagree and are read again
        _, incidents = drain(fake, make_settings(), last_run)
    assert_exactly_once(incidents, [code for code in fake.alarms if code > 20 and code not in done_by_legacy])


def test_fetch_1_0_x_position_survives_a_failure_during_the_conversion():
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 91), "desc").register(mocker)
        fake.faults = dict.fromkeys(range(1, 5), "500")
        legacy = load_json("legacy_last_run.json")
        with pytest.raises(ThreatMonError):
            fetch_incidents(make_client(), dict(legacy), make_settings(), now=NOW)
        _, incidents = drain(fake, make_settings(), dict(legacy))
    # 1.0.x had ingested the 20 largest codes of (40, 90]; the 30 smallest are new.
    assert_exactly_once(incidents, range(41, 71))


def test_fetch_1_0_x_conversion_cut_by_the_request_bound_keeps_the_old_last_run(monkeypatch):
    monkeypatch.setattr(ThreatMon, "EXTRA_REQUESTS_PER_RUN", 2 - 10)  # two requests a run
    with requests_mock.Mocker() as mocker:
        FakeThreatMon(range(1, 91), "desc").register(mocker)
        legacy = load_json("legacy_last_run.json")
        fetcher = ThreatMon.AlarmFetcher(make_client(), FetchState.load(legacy, make_settings()), make_settings(), NOW)
        fetcher.run()
    assert fetcher.state.legacy == (40, 2, 90)
    assert fetcher.incidents == []


@pytest.mark.parametrize(
    ("last_run", "param", "expected"),
    [
        ({"last_incident_id": "17", "page": 0}, None, 17),
        ({"last_incident_id": None, "page": 0}, 5, 5),
        ({"last_incident_id": "x", "page": "y", "max_seen_id": "z"}, None, None),
    ],
)
def test_fetch_state_reads_odd_1_0_x_values(last_run, param, expected):
    state = FetchState.load(last_run, make_settings(last_incident_id=param))
    assert state.legacy.last_incident_id == expected


# ---------------------------------------------------------------- fetch: parameters and incidents


def test_fetch_first_run_starts_after_last_incident_id():
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 30), "asc").register(mocker)
        _, incidents = drain(fake, make_settings(last_incident_id=20))
    assert_exactly_once(incidents, range(21, 30))
    assert fake.requests[0] == (0, 20)


def test_fetch_last_incident_id_is_ignored_after_the_first_run():
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 30), "asc").register(mocker)
        fetch_incidents(make_client(), {"state_version": 2, "last_alarm_code": 3}, make_settings(last_incident_id=20), now=NOW)
    assert fake.requests[0] == (0, 3)


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_fetch_first_fetch_skips_older_alarms_until_the_backlog_is_drained(order):
    old = (NOW - timedelta(days=30)).isoformat()
    recent = (NOW - timedelta(hours=2)).isoformat()
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon((), order).register(mocker)
        for code in range(1, 41):
            fake.add_alarm(code, alarmDate=old if code % 2 else recent)
        fake.add_alarm(41, alarmDate="not a date")
        settings = make_settings(max_fetch=6, first_fetch=NOW - timedelta(days=7))
        last_run, incidents = drain(fake, settings)
        assert "first_fetch_cutoff" not in last_run
        fake.add_alarm(42, alarmDate=old)  # after the backlog was drained, first_fetch no longer applies
        _, later = drain(fake, settings, last_run)
    assert_exactly_once(incidents, [*range(2, 41, 2), 41])
    assert codes_of(later) == [42]


def test_fetch_first_fetch_cutoff_is_fixed_at_the_first_run():
    state = FetchState.load({}, make_settings(first_fetch=datetime(2025, 3, 1, 8, 30, tzinfo=UTC)))
    assert state.to_last_run() == {"state_version": 2, "first_fetch_cutoff": "2025-03-01T08:30:00Z"}


@pytest.mark.parametrize(
    "damaged",
    [
        {"nocode_seen": 5},
        {"nocode_seen": "abc"},
        {"nocode_seen": {"a": 1}},
        {"first_fetch_cutoff": 17},
        {"first_fetch_cutoff": ["2025-01-01"]},
    ],
)
def test_fetch_state_reads_damaged_fields_of_its_own_last_run_as_absent(damaged):
    state = FetchState.load({"state_version": 2, "last_alarm_code": 9, **damaged}, make_settings())
    assert state.to_last_run() == {"state_version": 2, "last_alarm_code": 9}


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_fetch_min_severity_skips_lower_alarms_but_never_unknown_severities(order):
    severities = ["Information", "Low", "Medium", "High", "Critical", "Urgent", None, " high "]
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon((), order).register(mocker)
        for code in range(1, 33):
            fake.add_alarm(code, severity=severities[code % len(severities)])
        _, incidents = drain(fake, make_settings(max_fetch=4, min_severity="High"))
    expected = [code for code in range(1, 33) if severities[code % len(severities)] not in ("Information", "Low", "Medium")]
    assert_exactly_once(incidents, expected)


def test_fetch_builds_the_incident_from_the_alarm():
    alarm = load_json("alarm.json")
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json={"data": [alarm], "totalRecords": 1})
        _, incidents = fetch_incidents(make_client(), {}, make_settings(incident_type="ThreatMon Alarm"), now=NOW)
    assert incidents == [
        {
            "name": "ThreatMon Alarm 1000: Phishing domain impersonating example-bank.com",
            "occurred": "2025-03-14T06:26:53Z",
            "severity": 3,
            "details": alarm["description"],
            "rawJSON": json.dumps(alarm),
            "labels": [{"type": "Status", "value": "Open"}],
            "dbotMirrorId": "1000",
            "type": "ThreatMon Alarm",
        }
    ]


@pytest.mark.parametrize(
    ("status", "labels"),
    [
        ("In Progress", [{"type": "Status", "value": "In Progress"}]),
        ("Resolved", [{"type": "Status", "value": "Resolved"}]),
        ("Some new status", [{"type": "Status", "value": "Some new status"}]),
        (7, [{"type": "Status", "value": "7"}]),
        ("", None),
        (None, None),
    ],
)
def test_fetch_labels_each_incident_with_the_alarm_status_as_1_x_did(status, labels):
    alarm = {**load_json("alarm.json"), "status": status}
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json={"data": [alarm], "totalRecords": 1})
        _, incidents = fetch_incidents(make_client(), {}, make_settings(), now=NOW)
    assert incidents[0].get("labels") == labels


def test_fetch_outgoing_mirroring_marks_the_incident():
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json={"data": [load_json("alarm.json")], "totalRecords": 1})
        settings = make_settings(mirror_direction="Out", mirror_instance="ThreatMon_instance_1")
        _, incidents = fetch_incidents(make_client(), {}, settings, now=NOW)
    assert incidents[0]["dbotMirrorId"] == "1000"
    assert incidents[0]["dbotMirrorDirection"] == "Out"
    assert incidents[0]["dbotMirrorInstance"] == "ThreatMon_instance_1"


def test_fetch_ingests_a_record_missing_every_field_but_its_code(monkeypatch):
    debug = []
    monkeypatch.setattr(demisto, "debug", lambda message, *args: debug.append(message))
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json={"data": [{"alarmCode": 7}], "totalRecords": 1})
        _, incidents = fetch_incidents(make_client(), {}, make_settings(), now=NOW)
    assert incidents == [
        {
            "name": "ThreatMon Alarm 7: (no title)",
            "occurred": "2025-03-15T12:00:00Z",
            "severity": 0,
            "details": "",
            "rawJSON": '{"alarmCode": 7}',
            "dbotMirrorId": "7",
        }
    ]
    assert any("alarmDate" in message for message in debug)


def test_fetch_codeless_alarm_is_ingested_once_by_fingerprint():
    page = {"data": [{"title": "no code", "severity": "Low"}, {"alarmCode": "n/a", "title": "bad code"}], "totalRecords": 2}
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json=page)
        last_run, first = fetch_incidents(make_client(), {}, make_settings(), now=NOW)
        _, second = fetch_incidents(make_client(), last_run, make_settings(), now=NOW)
    assert [incident["name"] for incident in first] == [
        "ThreatMon Alarm (no code): no code",
        "ThreatMon Alarm (no code): bad code",
    ]
    assert second == []
    assert len(last_run["nocode_seen"]) == 2


def test_fetch_codeless_alarm_is_recognised_after_its_status_changed():
    alarm = {"title": "no code", "severity": "Low", "status": "Open"}
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json={"data": [alarm], "totalRecords": 1})
        last_run, first = fetch_incidents(make_client(), {}, make_settings(), now=NOW)
        mocker.get(LIST_URL, json={"data": [dict(alarm, status="Resolved")], "totalRecords": 1})
        _, second = fetch_incidents(make_client(), last_run, make_settings(), now=NOW)
    assert (len(first), second) == (1, [])


def test_fetch_empty_list_keeps_the_watermark():
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json={"data": [], "totalRecords": 0})
        last_run, incidents = fetch_incidents(
            make_client(), {"state_version": 2, "last_alarm_code": 77}, make_settings(), now=NOW
        )
    assert (last_run, incidents) == ({"state_version": 2, "last_alarm_code": 77}, [])


def test_fetch_ignores_a_foreign_last_run():
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 4), "asc").register(mocker)
        _, incidents = fetch_incidents(make_client(), {"lastRun": "2018-10-24T14:13:20+00:00"}, make_settings(), now=NOW)
    assert codes_of(incidents) == [1, 2, 3]
    assert fake.requests == [(0, None)]


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("Information", 0.5),
        ("Low", 1),
        ("Medium", 2),
        ("High", 3),
        ("Critical", 4),
        ("critical", 4),
        ("  High ", 3),
        ("INFORMATION", 0.5),
        ("Info", 0),
        ("Urgent", 0),
        ("", 0),
        (None, 0),
        (3, 0),
    ],
)
def test_severity_table(severity, expected):
    assert severity_to_xsoar(severity) == expected


@pytest.mark.parametrize(
    ("severity", "minimum", "below"),
    [
        ("Low", "Medium", True),
        ("Medium", "Medium", False),
        ("critical", "High", False),
        ("Information", "Low", True),
        ("Unknown", "Critical", False),
        (None, "Critical", False),
        ("Low", None, False),
    ],
)
def test_min_severity_filter(severity, minimum, below):
    assert is_below_severity(severity, minimum) is below


@pytest.mark.parametrize(
    ("codes", "order"),
    [
        ([1, 2, 3], "ascending"),
        ([3, 2, 1], "descending"),
        ([1, 3, 2], "unsorted"),
        ([5], "unknown"),
        ([5, 5], "unknown"),
        ([], "unknown"),
        ([1, 1, 2], "ascending"),
        ([1, 2, 3, 1], "ascending"),
        ([3, 2, 1, 3], "descending"),
        ([2, 3, 1, 2], "unsorted"),
    ],
)
def test_detect_order(codes, order):
    assert detect_order(codes) == order


# ---------------------------------------------------------------- client


def test_client_sends_the_key_header_and_accept_json():
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json={"data": [], "totalRecords": 0})
        make_client().list_alarms(page=3, after_alarm_code=12)
        request = mocker.request_history[0]
    assert request.headers["X-COMPANY-API-KEY"] == API_KEY
    assert request.headers["accept"] == "application/json"
    assert request.url == f"{BASE}/vulnerabilities/3?afterAlarmCode=12"


def test_client_backs_off_half_a_second_doubling_over_four_attempts():
    clock = FakeClock()
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, status_code=500, text="oops")
        with pytest.raises(ThreatMonError, match=r"unavailable .*Gave up after 4 attempts"):
            make_client(clock).list_alarms(page=0)
        assert mocker.call_count == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]


def test_client_cuts_a_long_retry_after_to_ten_seconds():
    clock = FakeClock()
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, [{"status_code": 429, "headers": {"Retry-After": "120"}}, {"json": {"data": []}}])
        make_client(clock).list_alarms(page=0)
    assert clock.sleeps == [10.0]


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [
        (
            401,
            "auth",
            "refused the API key (HTTP 401; ThreatMon said: denied): check that the API key is valid and that "
            "ThreatMon has allow-listed the public IP address of this XSOAR server or engine.",
        ),
        (403, "auth", "allow-listed"),
        (404, "not_found", f"check the Server URL (use https://external.threatmonit.io or a URL ending in {ThreatMon.API_PATH})"),
        (400, "rejected", "ThreatMon rejected GET /vulnerabilities/0 (HTTP 400; ThreatMon said: denied): check the arguments."),
        (418, "rejected", "HTTP 418"),
    ],
)
def test_client_errors_are_classified_and_not_retried(status, kind, words):
    clock = FakeClock()
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, status_code=status, json={"message": "denied"})
        with pytest.raises(ThreatMonError) as info:
            make_client(clock).list_alarms(page=0)
        assert mocker.call_count == 1
    assert info.value.kind == kind
    assert words in str(info.value)


@pytest.mark.parametrize("body", [b"", b"OK", b"<html>done</html>", b'{"success": true}'])
def test_client_status_change_success_needs_no_json(body):
    with requests_mock.Mocker() as mocker:
        mocker.patch(STATUS_URL, content=body)
        make_client().update_alarm_status([1, 2], "Resolved")
        assert mocker.last_request.json() == {"status": "Resolved", "alarmIds": [1, 2]}


@pytest.mark.parametrize(
    ("answers", "calls"),
    [
        ([{"status_code": 500}], 1),
        ([{"exc": requests.exceptions.ReadTimeout}], 1),
        ([{"exc": requests.exceptions.ConnectionError}], 1),
        ([{"status_code": 503}, {"status_code": 200}], 2),
        ([{"status_code": 429}, {"status_code": 200}], 2),
        ([{"exc": requests.exceptions.ConnectTimeout}, {"status_code": 200}], 2),
    ],
)
def test_client_retries_a_takedown_post_only_when_it_surely_was_not_acted_on(answers, calls):
    with requests_mock.Mocker() as mocker:
        mocker.post(TAKEDOWN_URL, answers)
        with contextlib.suppress(ThreatMonError):
            make_client().request_takedown(5, "phishing")
        assert mocker.call_count == calls


# ---------------------------------------------------------------- parameters


def valid_params(**overrides):
    params = {
        "url": BASE,
        "credentials": {"identifier": "", "password": API_KEY},
        "max_fetch": "100",
        "first_fetch": "7 days",
        "min_severity": "Low",
        "lastIncidentId": "12",
        "mirror_direction": "Outgoing",
        "incidentType": "ThreatMon Alarm",
        "insecure": False,
        "proxy": "false",
    }
    params.update(overrides)
    return params


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("7 days", timedelta(days=7)),
        ("12 hours ago", timedelta(hours=12)),
        ("1 Week", timedelta(weeks=1)),
        ("30 minutes", timedelta(minutes=30)),
    ],
)
def test_first_fetch_relative_times(text, age):
    assert abs(datetime.now(UTC) - ThreatMon.parse_first_fetch(text) - age) < timedelta(minutes=5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2024-01-31", datetime(2024, 1, 31, tzinfo=UTC)), ("2024-01-31T10:00:00+02:00", datetime(2024, 1, 31, 8, tzinfo=UTC))],
)
def test_first_fetch_dates(text, expected):
    assert ThreatMon.parse_first_fetch(text) == expected


def test_parse_params_reads_every_parameter():
    settings = parse_params(valid_params(insecure="true"))
    assert settings.base_url == BASE
    assert settings.api_key == API_KEY
    assert settings.verify is False
    assert settings.proxy is False
    assert settings.max_fetch == 100
    assert settings.min_severity == "Low"
    assert settings.last_incident_id == 12
    assert settings.mirror_direction == "Out"
    assert settings.incident_type == "ThreatMon Alarm"
    assert timedelta(days=6, hours=23) < datetime.now(UTC) - settings.first_fetch < timedelta(days=7, hours=1)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [({"max_fetch": ""}, 100), ({"max_fetch": None}, 100), ({"max_fetch": "1"}, 1), ({"max_fetch": 1000}, 1000)],
)
def test_parse_params_max_fetch(overrides, expected):
    assert parse_params(valid_params(**overrides)).max_fetch == expected


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"max_fetch": "0"}, "max_fetch parameter must be a whole number from 1 to 1000"),
        ({"max_fetch": "1001"}, "max_fetch"),
        ({"max_fetch": "ten"}, "max_fetch"),
        ({"max_fetch": "10.5"}, "max_fetch"),
        ({"max_fetch": "--5"}, "max_fetch"),
        ({"first_fetch": "the dawn of time"}, "first_fetch parameter"),
        ({"min_severity": "Severe"}, "min_severity parameter"),
        ({"lastIncidentId": "-1"}, "lastIncidentId parameter"),
        ({"lastIncidentId": "abc"}, "lastIncidentId"),
        ({"mirror_direction": "Both"}, "mirror_direction parameter must be None or Outgoing"),
        ({"credentials": {"password": ""}}, "API Key"),
        ({"credentials": None}, "API Key"),
        ({"insecure": "maybe"}, "insecure parameter must be true or false"),
        ({"proxy": "2"}, "proxy parameter"),
        ({"url": "external.threatmonit.io"}, "url parameter"),
        ({"url": "ftp://x"}, "url parameter"),
    ],
)
def test_parse_params_refuses_bad_values_naming_the_parameter(overrides, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        parse_params(valid_params(**overrides))


def test_parse_params_for_a_command_ignores_fetch_parameters():
    assert parse_params(valid_params(max_fetch="0"), fetch=False).max_fetch == 100


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://external.threatmonit.io", "https://external.threatmonit.io/api/threatmon/external/v1"),
        ("https://external.threatmonit.io/", "https://external.threatmonit.io/api/threatmon/external/v1"),
        (
            " https://external.threatmonit.io/api/threatmon/external/v1/ ",
            "https://external.threatmonit.io/api/threatmon/external/v1",
        ),
        ("http://127.0.0.1:8080/custom/v2//", "http://127.0.0.1:8080/custom/v2"),
    ],
)
def test_normalize_url(url, expected):
    assert normalize_url(url) == expected


def test_parse_params_default_url_when_empty():
    assert parse_params(valid_params(url="")).base_url == ThreatMon.DEFAULT_URL


def test_parse_params_never_reads_the_1_x_fetch_interval():
    with_it = valid_params(first_fetch="2025-01-01", fetchInterval="not a number")
    assert parse_params(with_it, data_removal=True) == parse_params(valid_params(first_fetch="2025-01-01"))


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("", None),
        (None, None),
        ("  ", None),
        ("blackmarket/data-removal", "/blackmarket/data-removal"),
        ("/blackmarket/data-removal/", "/blackmarket/data-removal"),
        ("/api/threatmon/external/v1/blackmarket/data-removal", "/blackmarket/data-removal"),
        (f"{BASE}/blackmarket/data-removal", "/blackmarket/data-removal"),
        ("HTTPS://THREATMON.TEST/api/threatmon/external/v1/removal", "/removal"),
        ("/findings/{findingId}/removal", "/findings/{findingId}/removal"),
        ("/v2/black_market/removal-request~1", "/v2/black_market/removal-request~1"),
    ],
)
def test_parse_data_removal_path_reads_every_form_as_a_path_under_the_server_url(value, path):
    assert parse_data_removal_path(value, BASE) == path


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (
            "https://evil.example/api/threatmon/external/v1/removal",
            "or a URL on its host, because the API key is sent only there",
        ),
        ("http://threatmon.test/api/threatmon/external/v1/removal", "URL on its host"),
        ("//evil.example/removal", "URL on its host"),
        ("https://threatmon.test/other/removal", "must be a URL under the Server URL"),
        ("/removal?company=1", "without a query (?) or fragment (#)"),
        ("/removal#x", "without a query"),
        ("/", "must name the data removal endpoint"),
        (BASE, "must name the data removal endpoint"),
        ("/black market/removal", "must be a URL path"),
        ("/a/../takedown", "must be a URL path"),
        ("/removal/{id}", "must be a URL path"),
        ('/removal/"x"', "must be a URL path"),
    ],
)
def test_parse_data_removal_path_refuses_what_is_not_a_path_under_the_server_url(value, words):
    with pytest.raises(ValueError, match=re.escape(words)) as error:
        parse_data_removal_path(value, BASE)
    assert str(error.value).startswith("The Data removal API path (data_removal_path) parameter ")
    assert f"got '{value}'" in str(error.value)


@pytest.mark.parametrize(("data_removal", "path"), [(True, "/removal"), (False, None)])
def test_parse_params_reads_the_data_removal_path_only_when_asked(data_removal, path):
    params = valid_params(data_removal_path="removal")
    assert parse_params(params, fetch=False, data_removal=data_removal).data_removal_path == path


# ---------------------------------------------------------------- test-module


def test_test_module_ok():
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json=load_json("alarms_page.json"))
        assert ThreatMon.test_module(make_client()) == "ok"


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ({"status_code": 401}, "API key is valid and that ThreatMon has allow-listed the public IP"),
        ({"status_code": 403}, "allow-listed"),
        ({"status_code": 404}, "check the Server URL (use https://external.threatmonit.io"),
        ({"status_code": 502}, "ThreatMon is unavailable"),
        ({"exc": requests.exceptions.ConnectionError("refused")}, "check the Server URL, DNS"),
        ({"exc": requests.exceptions.ConnectTimeout("slow")}, "check the Server URL"),
        ({"text": "<html>login</html>"}, "not the expected JSON"),
    ],
)
def test_test_module_names_the_cause_in_one_sentence(answer, words):
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, **answer)
        with pytest.raises(ThreatMonError) as info:
            ThreatMon.test_module(make_client())
    assert words in str(info.value)
    assert str(info.value).count(": ") <= 2


# ---------------------------------------------------------------- threatmon_list_alarms


def test_list_alarms_one_page():
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json=load_json("alarms_page.json"))
        result = list_alarms_command(make_client(), {"after_alarm_code": "2000"})
        assert mocker.last_request.url == f"{BASE}/vulnerabilities/0?afterAlarmCode=2000"
    assert result.outputs_prefix == "ThreatMon.Alarm"
    assert result.outputs_key_field == "alarmCode"
    assert [alarm["alarmCode"] for alarm in result.outputs] == [2001, 2002, 2003, 2004]
    assert result.outputs[1]["alarmType"] == "Rogue Mobile App Detected"
    assert result.outputs[1]["findingId"] == 56002
    assert result.raw_response == {"data": load_json("alarms_page.json")["data"], "totalRecords": 4}
    assert "ThreatMon alarms (4 shown of 4 total)" in result.readable_output
    assert "|Alarm Code|Severity|Status|Date|Title|" in compact(result.readable_output)
    assert "|2002|medium|In Progress|2025-03-14T10:15:00+01:00|Rogue mobile app using the example-bank brand|" in compact(
        result.readable_output
    )


@pytest.mark.parametrize(("limit", "pages"), [("25", 3), ("10", 1), ("100", 5), (None, 1)])
def test_list_alarms_reads_as_many_pages_as_the_limit_needs(limit, pages):
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon(range(1, 48), "asc").register(mocker)
        result = list_alarms_command(make_client(), {"limit": limit, "page": "0"})
    assert fake.calls == pages
    assert len(result.outputs) == min(int(limit or 10), 47)


def test_list_alarms_min_severity_and_start_page():
    with requests_mock.Mocker() as mocker:
        fake = FakeThreatMon((), "asc").register(mocker)
        for code in range(1, 61):
            fake.add_alarm(code, severity="Critical" if code % 3 == 0 else "Low")
        result = list_alarms_command(make_client(), {"limit": "5", "page": "1", "min_severity": "high"})
    assert [alarm["alarmCode"] for alarm in result.outputs] == [12, 15, 18, 21, 24]
    assert fake.requests == [(1, None), (2, None)]


def test_list_alarms_answer_without_total():
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json={"data": [{"alarmCode": 1, "title": "t"}]})
        result = list_alarms_command(make_client(), {})
    assert "ThreatMon alarms (1 shown)" in result.readable_output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"limit": "0"}, "limit argument must be a whole number from 1 to 100"),
        ({"limit": "101"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"page": "-1"}, "page argument"),
        ({"after_alarm_code": "abc"}, "after_alarm_code"),
        ({"min_severity": "Severe"}, "min_severity argument must be one of Information, Low, Medium, High, Critical"),
    ],
)
def test_list_alarms_refuses_bad_arguments_before_any_request(args, words):
    with requests_mock.Mocker() as mocker:
        with pytest.raises(ValueError, match=re.escape(words)):
            list_alarms_command(make_client(), args)
        assert mocker.call_count == 0


# ---------------------------------------------------------------- threatmon_update_incident_status


@pytest.mark.parametrize(
    ("args", "codes", "status"),
    [
        ({"alarmId": "123", "status": "Resolved"}, [123], "Resolved"),
        ({"alarmId": "1, 2,3,2", "status": "in progress"}, [1, 2, 3], "In Progress"),
        ({"alarmId": 77, "status": " false  positive "}, [77], "False Positive"),
        ({"alarmId": "[5, 6]", "status": "IGNORE"}, [5, 6], "Ignore"),
    ],
)
def test_update_status_sends_one_patch_with_the_canonical_status(args, codes, status):
    with requests_mock.Mocker() as mocker:
        mocker.patch(STATUS_URL, text="")
        result = update_incident_status_command(make_client(), args)
        assert mocker.call_count == 1
        assert mocker.last_request.json() == {"status": status, "alarmIds": codes}
    assert result.outputs == [{"alarmCode": code, "status": status} for code in codes]
    assert result.outputs_key_field == "alarmCode"
    assert result.readable_output == "\n".join(f"Alarm {code}: status set to {status} in ThreatMon." for code in codes)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"alarmId": "1", "status": "Closed"}, "status argument must be one of Open, In Progress, False Positive, Ignore"),
        ({"alarmId": "1"}, "status argument is required"),
        ({"alarmId": "1,x", "status": "Open"}, "'x' is not one"),
        ({"alarmId": "0", "status": "Open"}, "alarmId argument"),
        ({"alarmId": "-4", "status": "Open"}, "alarmId"),
        ({"status": "Open"}, "alarmId argument is required outside a ThreatMon incident"),
    ],
)
def test_update_status_refuses_bad_arguments_before_any_request(args, words):
    with requests_mock.Mocker() as mocker:
        with pytest.raises(ValueError, match=re.escape(words)):
            update_incident_status_command(make_client(), args, demisto.incident())
        assert mocker.call_count == 0


def incident_with(**fields):
    incident = {"id": "9", "CustomFields": {}, "labels": [], "rawJSON": ""}
    incident.update(fields)
    return incident


@pytest.mark.parametrize(
    ("incident", "code"),
    [
        (load_json("incident_threatmon.json"), 1000),
        (incident_with(CustomFields={"threatmonalarmcode": "321"}, dbotMirrorId="5"), 321),
        (incident_with(dbotMirrorId="654"), 654),
        (incident_with(dbotMirrorId="654", sourceBrand="Threatmon"), 654),
        (incident_with(dbotMirrorId="654", sourceBrand="ThreatMon"), 654),
        (incident_with(dbotMirrorId="654", sourceBrand="OtherVendor"), None),
        (incident_with(rawJSON=json.dumps({"alarmCode": "987"})), 987),
        (incident_with(rawJSON={"alarmCode": 988}), 988),
        (incident_with(rawJSON="not json", labels=[{"type": "alarmCode", "value": "42"}]), 42),
        (incident_with(rawJSON="[1, 2]", labels=[{"type": "Brand", "value": "x"}, "odd"]), None),
        (incident_with(), None),
        (None, None),
        ({}, None),
    ],
)
def test_alarm_code_from_incident(incident, code):
    assert alarm_code_from_incident(incident) == code


def test_update_status_inside_an_incident_uses_its_alarm_code():
    with requests_mock.Mocker() as mocker:
        mocker.patch(STATUS_URL, json={"success": True})
        result = update_incident_status_command(make_client(), {"status": "Resolved"}, load_json("incident_threatmon.json"))
        assert mocker.last_request.json() == {"status": "Resolved", "alarmIds": [1000]}
    assert result.readable_output == "Alarm 1000: status set to Resolved in ThreatMon."
    assert result.raw_response == {"success": True}


def test_update_status_unknown_alarm_code_is_named_in_the_error():
    with requests_mock.Mocker() as mocker:
        mocker.patch(STATUS_URL, status_code=404, json={"message": "Alarm(s) not found: 3"})
        said = re.escape("(ThreatMon said: Alarm(s) not found: 3): check that the alarm codes exist in ThreatMon and")
        with pytest.raises(ThreatMonError, match=said):
            update_incident_status_command(make_client(), {"alarmId": "3", "status": "Open"})


def test_update_status_failure_is_an_error():
    with requests_mock.Mocker() as mocker:
        mocker.patch(STATUS_URL, status_code=403)
        with pytest.raises(ThreatMonError, match="allow-listed"):
            update_incident_status_command(make_client(), {"alarmId": "3", "status": "Open"})


# ---------------------------------------------------------------- threatmon_request_takedown


def test_takedown_submitted():
    with requests_mock.Mocker() as mocker:
        mocker.post(TAKEDOWN_URL, json=load_json("takedown_submitted.json"))
        result = request_takedown_command(make_client(), {"findingId": "55001", "finding": "Phishing copy of the login page"})
        assert mocker.last_request.json() == {"findingId": 55001, "finding": "Phishing copy of the login page"}
    assert result.outputs_prefix == "ThreatMon.Takedown"
    assert result.outputs_key_field == "findingId"
    assert result.outputs == {"findingId": 55001, "status": "Submitted"}
    assert result.raw_response == load_json("takedown_submitted.json")
    assert "55001" in result.readable_output


@pytest.mark.parametrize(
    ("incident", "finding_id", "finding"),
    [
        (load_json("incident_threatmon.json"), 55001, "Phishing domain impersonating example-bank.com"),
        (incident_with(rawJSON=json.dumps({"finding_id": 7, "title": "Fake account"})), 7, "Fake account"),
        (incident_with(rawJSON=json.dumps({"id": "8", "title": "Rogue app"})), 8, "Rogue app"),
    ],
)
def test_takedown_inside_an_incident_defaults_to_its_finding(incident, finding_id, finding):
    with requests_mock.Mocker() as mocker:
        mocker.post(TAKEDOWN_URL, text="")
        result = request_takedown_command(make_client(), {}, incident)
        assert mocker.last_request.json() == {"findingId": finding_id, "finding": finding}
    assert result.outputs == {"findingId": finding_id, "status": "Submitted"}
    assert result.raw_response == result.outputs  # the empty answer body is replaced by what was recorded


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (400, "not eligible"),
        (403, "quota is used up"),
        (404, "has no finding 12"),
        (409, "already exists"),
        (401, "allow-listed"),
        (500, "unavailable"),
    ],
)
def test_takedown_refusals_have_their_own_sentences(status, words):
    with requests_mock.Mocker() as mocker:
        mocker.post(TAKEDOWN_URL, status_code=status, json={"message": "no"})
        with pytest.raises(DemistoException, match=words):
            request_takedown_command(make_client(), {"findingId": "12", "finding": "why"})
        assert mocker.call_count == 1


@pytest.mark.parametrize(
    ("args", "incident", "words"),
    [
        ({"findingId": "abc", "finding": "x"}, None, "findingId argument must be a positive whole number; got 'abc'"),
        ({"findingId": "1.5", "finding": "x"}, None, "findingId"),
        ({"findingId": "0", "finding": "x"}, None, "findingId"),
        ({"finding": "x"}, None, "findingId argument is required"),
        ({"findingId": "3"}, None, "finding argument is required"),
        ({}, incident_with(CustomFields={"threatmonfindingid": "n/a"}), "got 'n/a'"),
    ],
)
def test_takedown_refuses_bad_arguments_before_any_request(args, incident, words):
    with requests_mock.Mocker() as mocker:
        with pytest.raises(ValueError, match=re.escape(words)):
            request_takedown_command(make_client(), args, incident)
        assert mocker.call_count == 0


# ---------------------------------------------------------------- threatmon_request_data_removal


def test_data_removal_submitted_posts_like_the_takedown_to_the_configured_path():
    with requests_mock.Mocker() as mocker:
        mocker.post(REMOVAL_URL, json=load_json("data_removal_submitted.json"))
        client = make_client(data_removal_path=REMOVAL_PATH)
        result = request_data_removal_command(client, {"findingId": "66012", "finding": "Leaked customer records for sale"})
        assert mocker.last_request.json() == {"findingId": 66012, "finding": "Leaked customer records for sale"}
        assert mocker.last_request.headers["X-COMPANY-API-KEY"] == API_KEY
    assert result.outputs_prefix == "ThreatMon.DataRemoval"
    assert result.outputs_key_field == "findingId"
    assert result.outputs == {"findingId": 66012, "status": "Submitted"}
    assert result.raw_response == load_json("data_removal_submitted.json")
    assert result.readable_output == "Data removal request for finding 66012 submitted to ThreatMon."


def test_data_removal_puts_the_finding_id_where_the_path_asks_for_it():
    with requests_mock.Mocker() as mocker:
        mocker.post(f"{BASE}/findings/66012/removal", text="")
        client = make_client(data_removal_path="/findings/{findingId}/removal")
        result = request_data_removal_command(client, {"findingId": "66012", "finding": "x"})
        assert mocker.call_count == 1
    assert result.raw_response == {"findingId": 66012, "status": "Submitted"}


@pytest.mark.parametrize(
    ("incident", "finding_id", "finding"),
    [
        (load_json("incident_threatmon.json"), 55001, "Phishing domain impersonating example-bank.com"),
        (incident_with(rawJSON=json.dumps({"findingId": 66012, "title": "Card data for sale"})), 66012, "Card data for sale"),
    ],
)
def test_data_removal_inside_an_incident_defaults_to_its_finding(incident, finding_id, finding):
    with requests_mock.Mocker() as mocker:
        mocker.post(REMOVAL_URL, text="")
        request_data_removal_command(make_client(data_removal_path=REMOVAL_PATH), {}, incident)
        assert mocker.last_request.json() == {"findingId": finding_id, "finding": finding}


@pytest.mark.parametrize(
    ("status", "sentence"),
    [
        (
            400,
            "ThreatMon refused the data removal request for finding 66012 (HTTP 400): the finding is not eligible for a data "
            "removal (it is meant for Black Market Monitoring findings).",
        ),
        (
            403,
            "ThreatMon refused the data removal request for finding 66012 (HTTP 403): the company's Black Market Data Removal "
            "credits are used up, or the company has no right to the Black Market Data Removal service; ask ThreatMon (if "
            "other ThreatMon commands fail too, check the API key and the IP allow-list).",
        ),
        (
            404,
            "ThreatMon has no finding 66012 (HTTP 404): check the findingId argument, and that the Data removal API path "
            "(data_removal_path) parameter is the path ThreatMon support gave.",
        ),
        (
            409,
            "A data removal request for finding 66012 already exists in ThreatMon (HTTP 409): nothing was sent again.",
        ),
    ],
)
def test_data_removal_refusals_are_one_sentence_each(status, sentence):
    with requests_mock.Mocker() as mocker:
        mocker.post(REMOVAL_URL, status_code=status, json=load_json("data_removal_refusals.json")[str(status)])
        with pytest.raises(DemistoException) as error:
            request_data_removal_command(make_client(data_removal_path=REMOVAL_PATH), {"findingId": "66012", "finding": "x"})
        assert mocker.call_count == 1  # a refusal is an answer, never retried
    assert str(error.value) == sentence


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ({"status_code": 401, "json": {"message": "bad key"}}, "allow-listed"),
        ({"status_code": 500}, "unavailable"),
        ({"status_code": 405}, "ThreatMon rejected POST /blackmarket/data-removal (HTTP 405)"),
        ({"exc": requests.exceptions.ReadTimeout}, "did not answer POST /blackmarket/data-removal within 20 seconds"),
    ],
)
def test_data_removal_other_failures_read_as_every_command_and_are_not_resent(answer, words):
    with requests_mock.Mocker() as mocker:
        mocker.post(REMOVAL_URL, **answer)
        with pytest.raises(ThreatMonError, match=re.escape(words)):
            request_data_removal_command(make_client(data_removal_path=REMOVAL_PATH), {"findingId": "5", "finding": "x"})
        assert mocker.call_count == 1


@pytest.mark.parametrize(
    ("answers", "calls"),
    [([{"status_code": 503}, {"status_code": 200, "text": ""}], 2), ([{"status_code": 429}, {"json": {}}], 2)],
)
def test_data_removal_is_retried_only_when_it_surely_was_not_acted_on(answers, calls):
    with requests_mock.Mocker() as mocker:
        mocker.post(REMOVAL_URL, answers)
        result = request_data_removal_command(make_client(data_removal_path=REMOVAL_PATH), {"findingId": "5", "finding": "x"})
        assert mocker.call_count == calls
    assert result.outputs == {"findingId": 5, "status": "Submitted"}


@pytest.mark.parametrize("args", [{"findingId": "66012", "finding": "x"}, {}, {"findingId": "abc"}])
def test_data_removal_without_a_configured_path_sends_nothing_and_names_the_parameter(args):
    with requests_mock.Mocker() as mocker:
        with pytest.raises(DemistoException) as error:
            request_data_removal_command(make_client(), args, load_json("incident_threatmon.json"))
        assert mocker.call_count == 0
    assert str(error.value) == (
        "The Data removal API path (data_removal_path) parameter is empty, so no data removal request was sent: ThreatMon "
        "has not published the API path of data removal requests; ask ThreatMon support for it and enter it in this "
        "instance's settings."
    )


def test_the_client_refuses_a_data_removal_without_a_path():
    with requests_mock.Mocker() as mocker, pytest.raises(ValueError, match="No data removal path"):
        make_client().request_data_removal(1, "x")
    assert mocker.call_count == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"findingId": "abc", "finding": "x"}, "findingId argument must be a positive whole number; got 'abc'"),
        ({"finding": "x"}, "findingId argument is required"),
        ({"findingId": "3"}, "The finding argument is required: say what should be removed and why."),
    ],
)
def test_data_removal_refuses_bad_arguments_before_any_request(args, words):
    with requests_mock.Mocker() as mocker:
        with pytest.raises(ValueError, match=re.escape(words)):
            request_data_removal_command(make_client(data_removal_path=REMOVAL_PATH), args)
        assert mocker.call_count == 0


# ---------------------------------------------------------------- CVE lists


def test_list_cves():
    with requests_mock.Mocker() as mocker:
        mocker.get(f"{BASE}/cve/2", json=load_json("cve_page.json"))
        result = list_cves_command(make_client(), {"page": "2", "cvss": "CRITICAL"})
        assert mocker.last_request.url == f"{BASE}/cve/2?cvss=CRITICAL"
    assert result.outputs_prefix == "ThreatMon.CVE"
    assert result.outputs_key_field == "cve"
    assert [record["cve"] for record in result.outputs] == ["CVE-2024-3400", "CVE-2023-4966"]
    assert result.raw_response == load_json("cve_page.json")
    assert "ThreatMon CVEs (page 2, 2 shown, total records: 1342)" in result.readable_output
    assert "|CVE-2023-4966|Sensitive information disclosure" in compact(result.readable_output)
    assert "|Citrix: NetScaler ADC, NetScaler Gateway; Cloud Software Group: NetScaler|" in compact(result.readable_output)


def test_list_subscribed_cves():
    with requests_mock.Mocker() as mocker:
        mocker.get(f"{BASE}/cve/subscribed/0", json=load_json("cve_subscribed_page.json"))
        result = list_subscribed_cves_command(make_client(), {"customer_name": "Example Bank", "cvss": ""})
        assert mocker.last_request.url == f"{BASE}/cve/subscribed/0?customerName=Example+Bank"
    assert result.outputs[0]["cve"] == "CVE-2024-21762"
    assert "ThreatMon subscribed CVEs (page 0, 1 shown, total records: 1)" in result.readable_output
    assert "Fortinet: FortiOS, FortiProxy" in result.readable_output


def test_list_cves_empty_page_without_total():
    with requests_mock.Mocker() as mocker:
        mocker.get(f"{BASE}/cve/0", json={"data": None})
        result = list_cves_command(make_client(), {})
    assert result.outputs == []
    assert "total records: unknown" in result.readable_output


@pytest.mark.parametrize(
    ("cvss", "sent"),
    [("NONE", "NONE"), ("low", "LOW"), (" Medium ", "MEDIUM"), ("high", "HIGH"), ("Critical", "CRITICAL"), ("", None)],
)
@pytest.mark.parametrize(
    ("command", "path"), [(list_cves_command, "/cve/0"), (list_subscribed_cves_command, "/cve/subscribed/0")]
)
def test_cve_commands_send_the_cvss_severity_word_upper_case(command, path, cvss, sent):
    with requests_mock.Mocker() as mocker:
        mocker.get(f"{BASE}{path}", json=load_json("cve_page.json"))
        command(make_client(), {"cvss": cvss})
        assert mocker.last_request.url == f"{BASE}{path}" + (f"?cvss={sent}" if sent else "")


@pytest.mark.parametrize("cvss", ["9", "7.5", "SEVERE", "high critical", "CVSS:3.1/AV:N"])
@pytest.mark.parametrize("command", [list_cves_command, list_subscribed_cves_command])
def test_cve_commands_refuse_a_cvss_that_is_not_a_severity_word_before_any_request(command, cvss):
    with requests_mock.Mocker() as mocker:
        with pytest.raises(ValueError) as error:
            command(make_client(), {"cvss": cvss})
        assert mocker.call_count == 0
    assert str(error.value) == (
        f"The cvss argument must be a CVSS v3 severity, one of NONE, LOW, MEDIUM, HIGH, CRITICAL (not a score); got '{cvss}'."
    )


@pytest.mark.parametrize("args", [{"page": "-1"}, {"page": "two"}])
def test_list_cves_refuses_a_bad_page(args):
    with pytest.raises(ValueError, match="page argument"):
        list_cves_command(make_client(), args)


@pytest.mark.parametrize(
    ("vendors", "text"),
    [
        ({"Microsoft": ["Windows", "Office"], "Adobe": ["Reader"]}, "Microsoft: Windows, Office; Adobe: Reader"),
        ({"Acme": []}, "Acme"),
        ({"Acme": "Rocket"}, "Acme: Rocket"),
        (["Acme", "Globex"], "Acme, Globex"),
        (None, ""),
        ("Acme", "Acme"),
    ],
)
def test_format_vendors(vendors, text):
    assert format_vendors(vendors) == text


# ---------------------------------------------------------------- mirroring


def test_get_mapping_fields_describes_the_alarm_status():
    mapping = get_mapping_fields_command().extract_mapping()
    assert list(mapping) == ["ThreatMon Alarm"]
    assert "status" in mapping["ThreatMon Alarm"]
    assert "Resolved" in mapping["ThreatMon Alarm"]["status"]


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        # XSOAR
        ("False Positive", "False Positive"),
        ("false positive", "False Positive"),
        ("Duplicate", "Ignore"),
        ("Resolved", "Resolved"),
        ("Other", "Resolved"),
        # Cortex XSIAM and the Cortex platform
        ("Resolved - True Positive", "Resolved"),
        ("Resolved - False Positive", "False Positive"),
        ("Resolved - Duplicate Issue", "Ignore"),
        ("Resolved - Known Issue", "Ignore"),
        ("Resolved - Security Testing", "Ignore"),
        ("Resolved - Dismissed", "Ignore"),
        ("Resolved - Other", "Resolved"),
        ("resolved - known issue", "Ignore"),
        ("  Resolved  -  Security   Testing ", "Ignore"),
        ("resolved_false_positive", "False Positive"),
        ("resolved_duplicate", "Ignore"),
        ("resolved_true_positive", "Resolved"),
        # anything else
        ("Known Issue", "Ignore"),
        ("Custom reason", "Resolved"),
        ("", "Resolved"),
        (None, "Resolved"),
    ],
)
def test_close_reason_to_status(reason, status):
    assert close_reason_to_status(reason) == status


def remote_args(status=2, delta=None, data=None, changed=True, remote_id="1000"):
    return {
        "remoteId": remote_id,
        "status": status,
        "delta": delta,
        "data": data or {},
        "entries": [],
        "incidentChanged": changed,
    }


@pytest.mark.parametrize(
    ("args", "sent"),
    [
        (remote_args(delta={"closeReason": "False Positive", "closeNotes": "test domain"}), "False Positive"),
        (remote_args(delta={"closeReason": "Duplicate"}), "Ignore"),
        (remote_args(delta={"closeReason": "Resolved"}), "Resolved"),
        (remote_args(delta={"closeReason": "Resolved - False Positive"}), "False Positive"),
        (remote_args(delta={"closeReason": "Resolved - Security Testing"}), "Ignore"),
        (remote_args(delta={"closeReason": "Resolved - True Positive"}), "Resolved"),
        (remote_args(status="2", delta={"closingUserId": "admin"}, data={"closeReason": "Resolved - Dismissed"}), "Ignore"),
        (remote_args(status="2", delta={"closingUserId": "admin"}, data={"closeReason": "Other"}), "Resolved"),
        (remote_args(delta={"closed": "2026-11-27T10:00:00Z"}, data={"closeReason": "False Positive"}), "False Positive"),
        (remote_args(delta={"closeNotes": "edited after the close"}, data={"closeReason": "False Positive"}), None),
        (remote_args(delta={"closeReason": "Duplicate"}, changed="true"), "Ignore"),
        (remote_args(delta={"closeReason": "Duplicate"}, changed=None), "Ignore"),
        (remote_args(status=1, delta={"owner": "analyst"}), None),
        (remote_args(status=2, delta={"severity": 3}), None),
        (remote_args(status=2, delta=None), None),
        (remote_args(status=1, delta={"closeReason": ""}), None),
        (remote_args(delta={"closeReason": "Resolved"}, changed=False), None),
    ],
)
def test_update_remote_system_sends_the_status_only_when_the_incident_closes(args, sent):
    with requests_mock.Mocker() as mocker:
        mocker.patch(STATUS_URL, text="")
        assert update_remote_system_command(make_client(), args) == "1000"
        bodies = [request.json() for request in mocker.request_history]
    assert bodies == ([{"status": sent, "alarmIds": [1000]}] if sent else [])


def test_update_remote_system_sends_exactly_once_per_close():
    updates = [
        remote_args(status=1, delta={"owner": "analyst"}),
        remote_args(delta={"closeReason": "Resolved", "closingUserId": "analyst", "closeNotes": "taken down"}),
        remote_args(delta={"severity": 2}),
        remote_args(delta={"closeNotes": "taken down by the registrar"}),  # notes edited after the close
        remote_args(delta={}, changed=False),
        remote_args(status=1, delta={"closeReason": "", "closingUserId": ""}),  # reopened
        remote_args(status=1, delta={"details": "more"}),
        remote_args(delta={"closeReason": "Duplicate", "closingUserId": "analyst"}),  # closed again
        remote_args(delta={"owner": "lead"}),
    ]
    with requests_mock.Mocker() as mocker:
        mocker.patch(STATUS_URL, text="")
        for args in updates:
            update_remote_system_command(make_client(), args)
        bodies = [request.json()["status"] for request in mocker.request_history]
    assert bodies == ["Resolved", "Ignore"]


def test_update_remote_system_refuses_a_remote_id_that_is_not_an_alarm_code():
    with requests_mock.Mocker() as mocker, pytest.raises(ValueError, match="remote id 'abc'"):
        update_remote_system_command(make_client(), remote_args(delta={"closeReason": "Resolved"}, remote_id="abc"))
    assert mocker.call_count == 0


def test_update_remote_system_failure_raises_so_xsoar_reports_it():
    with requests_mock.Mocker() as mocker:
        mocker.patch(STATUS_URL, status_code=500)
        with pytest.raises(ThreatMonError, match="unavailable"):
            update_remote_system_command(make_client(), remote_args(delta={"closeReason": "Resolved"}))


# ---------------------------------------------------------------- main


@pytest.fixture
def xsoar(monkeypatch):
    """demistomock patched like the server: params, command, args, incident; results and incidents recorded."""

    class Server:
        params = valid_params(url="https://threatmon.test", first_fetch="", mirror_direction="None", lastIncidentId="")
        command = "test-module"
        args: dict = {}
        incident = incident_with()
        last_run: dict = {}
        results: list = []
        incidents: list = []
        logs: list = []

    server = Server()
    server.results, server.incidents, server.logs = [], [], []
    monkeypatch.setattr(demisto, "params", lambda: server.params)
    monkeypatch.setattr(demisto, "command", lambda: server.command)
    monkeypatch.setattr(demisto, "args", lambda: server.args)
    monkeypatch.setattr(demisto, "incident", lambda: server.incident)
    monkeypatch.setattr(demisto, "integrationInstance", lambda: "ThreatMon_instance_1")
    monkeypatch.setattr(demisto, "getLastRun", lambda: server.last_run)
    monkeypatch.setattr(demisto, "setLastRun", lambda value: setattr(server, "last_run", value))
    monkeypatch.setattr(demisto, "incidents", lambda value: server.incidents.append(value))
    monkeypatch.setattr(demisto, "results", lambda value: server.results.append(value))
    for level in ("debug", "info", "error"):
        monkeypatch.setattr(demisto, level, lambda message, *args: server.logs.append(str(message)))
    monkeypatch.setattr(ThreatMon.time, "sleep", lambda seconds: None)
    return server


def run_main(server) -> str:
    """Run main(); return the text of what went to the war room (an error entry ends the script, like XSOAR)."""
    with contextlib.suppress(SystemExit):
        ThreatMon.main()
    return json.dumps(server.results, default=str)


def error_text(server) -> str:
    errors = [entry for entry in server.results if isinstance(entry, dict) and entry.get("Type") == EntryType.ERROR]
    assert len(errors) == 1, server.results
    return errors[0]["Contents"]


def test_main_test_module_ok(xsoar):
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json={"data": [], "totalRecords": 0})
        run_main(xsoar)
        assert mocker.last_request.url == f"{BASE_HOST}/api/threatmon/external/v1/vulnerabilities/0"
    assert xsoar.results == ["ok"]


BASE_HOST = "https://threatmon.test"


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"max_fetch": "5000"}, "Failed to execute test-module: The max_fetch parameter must be a whole number from 1 to 1000"),
        ({"min_severity": "Huge"}, "min_severity parameter"),
        ({"credentials": {}}, "API Key"),
        ({"data_removal_path": "https://evil.example/removal"}, "Data removal API path (data_removal_path) parameter"),
    ],
)
def test_main_test_module_refuses_bad_parameters(xsoar, params, words):
    xsoar.params = {**xsoar.params, **params}
    with requests_mock.Mocker() as mocker:
        run_main(xsoar)
        assert mocker.call_count == 0
    assert words in error_text(xsoar)


def test_main_test_module_auth_failure_is_one_sentence(xsoar):
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, status_code=401, json={"message": "bad key"})
        run_main(xsoar)
    assert error_text(xsoar) == (
        "Failed to execute test-module: ThreatMon refused the API key (HTTP 401; ThreatMon said: bad key): check that the API "
        "key is valid and that ThreatMon has allow-listed the public IP address of this XSOAR server or engine."
    )


def test_main_fetch_incidents_sets_last_run_and_incidents(xsoar):
    xsoar.command = "fetch-incidents"
    xsoar.params = {**xsoar.params, "mirror_direction": "Outgoing", "max_fetch": "3"}
    with requests_mock.Mocker() as mocker:
        FakeThreatMon(range(1, 6), "desc").register(mocker)
        run_main(xsoar)
    assert xsoar.last_run == {"state_version": 2, "last_alarm_code": 3}
    assert codes_of(xsoar.incidents[0]) == [1, 2, 3]
    assert xsoar.incidents[0][0]["dbotMirrorInstance"] == "ThreatMon_instance_1"


def test_main_fetch_failure_raises_for_the_server_and_keeps_last_run(xsoar):
    xsoar.command = "fetch-incidents"
    xsoar.last_run = {"state_version": 2, "last_alarm_code": 8}
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, status_code=403)
        with pytest.raises(Exception, match="Failed to execute fetch-incidents: ThreatMon refused"):
            ThreatMon.main()
    assert xsoar.last_run == {"state_version": 2, "last_alarm_code": 8}
    assert xsoar.incidents == []


@pytest.mark.parametrize(
    ("command", "args", "method", "url", "answer"),
    [
        ("threatmon_list_alarms", {"limit": "2"}, "GET", f"{BASE}/vulnerabilities/0", {"json": load_json("alarms_page.json")}),
        ("threatmon_update_incident_status", {"status": "Resolved"}, "PATCH", STATUS_URL, {"text": ""}),
        ("threatmon_request_takedown", {"findingId": "4"}, "POST", TAKEDOWN_URL, {"json": {}}),
        ("threatmon_request_data_removal", {"findingId": "4"}, "POST", f"{BASE_HOST}/api/threatmon/external/v1/dr", {"text": ""}),
        ("threatmon_list_cves", {}, "GET", f"{BASE}/cve/0", {"json": load_json("cve_page.json")}),
        ("threatmon_list_subscribed_cves", {}, "GET", f"{BASE}/cve/subscribed/0", {"json": load_json("cve_page.json")}),
    ],
)
def test_main_dispatches_each_command(xsoar, command, args, method, url, answer):
    xsoar.command, xsoar.args = command, args
    xsoar.params = {**xsoar.params, "data_removal_path": "dr"}
    xsoar.incident = load_json("incident_threatmon.json")
    with requests_mock.Mocker() as mocker:
        mocker.register_uri(method, url, **answer)
        run_main(xsoar)
        assert mocker.call_count == 1
    assert len(xsoar.results) == 1
    assert xsoar.results[0]["Type"] == EntryType.NOTE


def test_main_data_removal_without_its_path_sends_nothing_and_says_which_parameter(xsoar):
    xsoar.command, xsoar.args = "threatmon_request_data_removal", {"findingId": "4", "finding": "x"}
    with requests_mock.Mocker() as mocker:
        run_main(xsoar)
        assert mocker.call_count == 0
    assert error_text(xsoar).startswith(
        "Failed to execute threatmon_request_data_removal: The Data removal API path (data_removal_path) parameter is empty"
    )
    assert "ask ThreatMon support" in error_text(xsoar)


def test_main_other_commands_do_not_read_the_data_removal_path(xsoar):
    xsoar.command, xsoar.args = "threatmon_list_cves", {}
    xsoar.params = {**xsoar.params, "data_removal_path": "https://evil.example/x"}
    with requests_mock.Mocker() as mocker:
        mocker.get(f"{BASE}/cve/0", json={"data": [], "totalRecords": 0})
        run_main(xsoar)
    assert xsoar.results[0]["Type"] == EntryType.NOTE


def test_main_get_mapping_fields(xsoar):
    xsoar.command = "get-mapping-fields"
    run_main(xsoar)
    assert "ThreatMon Alarm" in xsoar.results[0]


def test_main_update_remote_system(xsoar):
    xsoar.command = "update-remote-system"
    xsoar.args = remote_args(delta={"closeReason": "False Positive"}, remote_id="1000")
    with requests_mock.Mocker() as mocker:
        mocker.patch(STATUS_URL, text="")
        run_main(xsoar)
        assert mocker.last_request.json() == {"status": "False Positive", "alarmIds": [1000]}
    assert xsoar.results == ["1000"]


def test_main_unknown_command(xsoar):
    xsoar.command = "threatmon_do_magic"
    run_main(xsoar)
    assert error_text(xsoar) == (
        "Failed to execute threatmon_do_magic: The command threatmon_do_magic is not implemented by the ThreatMon integration."
    )


def test_main_command_error_is_an_actionable_sentence(xsoar):
    xsoar.command, xsoar.args = "threatmon_update_incident_status", {"alarmId": "1", "status": "Done"}
    run_main(xsoar)
    assert error_text(xsoar).startswith("Failed to execute threatmon_update_incident_status: The status argument must be")


def test_main_command_ignores_invalid_fetch_parameters(xsoar):
    xsoar.command, xsoar.args = "threatmon_list_cves", {}
    xsoar.params = {**xsoar.params, "max_fetch": "0"}
    with requests_mock.Mocker() as mocker:
        mocker.get(f"{BASE}/cve/0", json={"data": [], "totalRecords": 0})
        run_main(xsoar)
    assert xsoar.results[0]["Type"] == EntryType.NOTE


def test_main_error_without_a_message_still_says_what_failed(xsoar, monkeypatch):
    def boom(client, args):
        raise KeyError

    monkeypatch.setattr(ThreatMon, "list_cves_command", boom)
    xsoar.command = "threatmon_list_cves"
    run_main(xsoar)
    assert error_text(xsoar) == "Failed to execute threatmon_list_cves: KeyError."


# ---------------------------------------------------------------- the API key never leaks


LEAKY = {"message": f"key {API_KEY} is not allowed from 203.0.113.7", "error": API_KEY}


@pytest.mark.parametrize(
    ("command", "args", "answer"),
    [
        ("test-module", {}, {"status_code": 401, "json": LEAKY}),
        ("test-module", {}, {"status_code": 500, "json": LEAKY}),
        ("test-module", {}, {"status_code": 400, "json": LEAKY}),
        ("test-module", {}, {"exc": requests.exceptions.ConnectionError(f"refused for {API_KEY}")}),
        ("fetch-incidents", {}, {"status_code": 429, "json": LEAKY}),
        ("fetch-incidents", {}, {"json": {"data": [{"alarmCode": 1, "title": "ok"}], "totalRecords": 1}}),
        ("threatmon_list_alarms", {}, {"status_code": 403, "json": LEAKY}),
        ("threatmon_list_alarms", {}, {"text": f"<html>{API_KEY}</html>"}),
        ("threatmon_update_incident_status", {"alarmId": "1", "status": "Open"}, {"status_code": 418, "json": LEAKY}),
        ("threatmon_request_takedown", {"findingId": "1", "finding": "x"}, {"status_code": 409, "json": LEAKY}),
        ("threatmon_request_data_removal", {"findingId": "1", "finding": "x"}, {"status_code": 403, "json": LEAKY}),
        ("threatmon_request_data_removal", {"findingId": "1", "finding": "x"}, {"status_code": 418, "json": LEAKY}),
        ("threatmon_list_cves", {}, {"status_code": 401, "json": LEAKY}),
    ],
)
def test_the_api_key_appears_in_no_result_error_or_log(xsoar, command, args, answer):
    xsoar.command, xsoar.args = command, args
    xsoar.params = {**xsoar.params, "data_removal_path": "/dr"}
    with requests_mock.Mocker() as mocker:
        mocker.register_uri(requests_mock.ANY, requests_mock.ANY, **answer)
        try:
            ThreatMon.main()
        except SystemExit:
            pass
        except Exception as exc:  # fetch-incidents errors are raised for the server
            xsoar.results.append(str(exc))
        assert mocker.call_count >= 1
    everything = json.dumps([xsoar.results, xsoar.incidents, xsoar.last_run, xsoar.logs], default=str)
    assert API_KEY not in everything
    assert xsoar.results or xsoar.incidents
