"""Unit tests of the ThreatMon integration, incoming mirroring included.

HTTP is stubbed with requests_mock. Fetch and mirroring are driven by MockThreatMon, ThreatMon's alarm list as a test
double defined below: knobs for every way the list may be served (sort order, page size, overlapping pages, order
flips, alarms created while paging, odd totals and filters) and faults (HTTP errors, broken bodies, dropped
connections, slow answers). The fetch tables assert that the union of the incidents of repeated runs is the alarm set,
each alarm exactly once. Nothing sleeps: the Client gets a fake clock and a fake sleep, and the fake's latency moves
the same clock. The mirroring cost tables check the formulas the integration README documents: a sweep over N
remembered alarms sends at most N list requests in ascending order and 2N in descending order, ceil(N / 10) (+2
descending) when the remembered alarms are neighbours in the list, and no cycle sends more than its budget.
"""

import bisect
import contextlib
import copy
import email.utils
import io
import json
import math
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import demistomock as demisto
import pytest
import requests
import requests_mock
import ThreatMon
import ThreatMonApiModule
import yaml
from CommonServerPython import *
from ThreatMon import (
    CLOSED_BY_THREATMON,
    MAX_MIRRORED_ALARMS,
    MIRROR_CONTEXT_KEY,
    MIRROR_PENDING_REPORTS,
    REOPEN_STATUS,
    Client,
    FetchState,
    MirrorMemory,
    MirrorSweep,
    Settings,
    ThreatMonError,
    alarm_code_from_incident,
    close_reason_to_status,
    detect_order,
    fetch_incidents,
    format_vendors,
    get_mapping_fields_command,
    get_modified_remote_data_command,
    get_remote_data_command,
    is_below_severity,
    list_alarms_command,
    list_cves_command,
    list_subscribed_cves_command,
    normalize_url,
    parse_data_removal_path,
    parse_params,
    remember_fetched_alarms,
    request_data_removal_command,
    request_takedown_command,
    severity_to_xsoar,
    status_of,
    sync_alarm_statuses_command,
    update_incident_status_command,
    update_remote_system_command,
)

BASE_HOST = "https://threatmon.test"
BASE = f"{BASE_HOST}/api/threatmon/external/v1"
API_KEY = "tm-secret-7f3a9c2e1b"
NOW = datetime(2025, 3, 15, 12, 0, 0, tzinfo=UTC)
TEST_DATA = Path(__file__).parent / "test_data"
LIST_URL = re.compile(re.escape(BASE) + r"/vulnerabilities/\d+")
STATUS_URL = f"{BASE}/incident/status"
TAKEDOWN_URL = f"{BASE}/takedown"
REMOVAL_PATH = "/blackmarket/data-removal"  # a path as support might give it (ThreatMon has not published one)
REMOVAL_URL = f"{BASE}{REMOVAL_PATH}"
LAST_UPDATE = "2025-03-15T12:00:00Z"

# ---------------------------------------------------------------- test doubles: a clock and ThreatMon's alarm list

SEVERITY_WORDS = ("Information", "Low", "Medium", "High", "Critical")
# Severity words that are not one of the five, or are one of them spelt differently (knob odd_severities).
ODD_SEVERITIES = ("high ", "CRITICAL", " medium", "informational", "Severe", "Unknown", "P1", "", None)
ALARM_TYPES = ("Phishing Domain Detected", "Leaked Credentials", "Rogue Mobile App Detected", "Exposed Port")
FIRST_ALARM_DATE = datetime(2025, 5, 1, 6, 0, tzinfo=UTC)


class FakeClock:
    """A monotonic clock, a wall clock and a sleep for a client under test: sleeping only moves the clock.

    Pass ``sleep``, ``clock`` and ``wall`` to the client, and ``advance`` as :class:`MockThreatMon`'s ``pass_time``
    when the fake's latency should count against the client's deadline too.
    """

    def __init__(self, now: float = 1000.0):
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_741_000_000.0 + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        """Time that passes without the client sleeping (the fake's latency, a slow answer)."""
        self.now += seconds


FAULT_KINDS = ("status", "truncated", "html", "empty", "json", "drop", "reset", "cut", "slow")


@dataclass
class Fault:
    """A request that goes wrong: chosen by its index (0: the first request) or by a piece of its path (and method),
    ``times`` times after letting ``skip`` matching requests through. Kinds: ``status`` (that HTTP status, with a
    Retry-After when given), ``truncated`` (half the JSON body), ``html`` (an HTML page), ``empty`` (200, no body),
    ``json`` (200, an object that is not the answer), ``drop``/``reset`` (no answer), ``cut`` (the body ends early),
    ``slow`` (the answer comes after ``delay_s`` seconds)."""

    kind: str = "status"
    status: int | None = None  # default: 500, or 200 for an html page
    retry_after: str | None = None
    delay_s: float = 5.0
    index: int | None = None
    path: str | None = None
    method: str | None = None
    times: int = 1
    skip: int = 0
    used: int = field(default=0, compare=False)
    seen: int = field(default=0, compare=False)

    def __post_init__(self):
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.status is None:
            self.status = 200 if self.kind == "html" else 500
        if self.retry_after is not None:
            self.retry_after = str(self.retry_after)

    @classmethod
    def parse(cls, spec: str) -> "Fault":
        """``WHERE=WHAT[,retry-after=N][,times=N][,skip=N]``: WHERE is ``#INDEX``, a path fragment, ``METHOD /path`` or
        ``*``; WHAT a status code, truncated, empty, json, drop, reset, cut, ``html[:STATUS]`` or ``slow[:SECONDS]``."""
        where, _, what = spec.partition("=")
        head, *options = [part.strip() for part in what.split(",")]
        name, _, arg = head.partition(":")
        kwargs: dict = {"kind": "status", "status": int(name)} if name.isdigit() else {"kind": name}
        if name == "html" and arg:
            kwargs["status"] = int(arg)
        if name == "slow" and arg:
            kwargs["delay_s"] = float(arg)
        for option in options:
            key, _, value = option.partition("=")
            kwargs[{"retry-after": "retry_after"}.get(key, key)] = value if key == "retry-after" else int(value)
        where = where.strip()
        if where.startswith("#"):
            kwargs["index"] = int(where[1:])
        elif where != "*":
            method, _, path = where.partition(" ")
            kwargs.update({"method": method, "path": path} if path and method.isupper() else {"path": where})
        return cls(**kwargs)

    def describe(self) -> str:
        return {"status": str(self.status), "html": f"html:{self.status}", "slow": f"slow:{self.delay_s:g}"}.get(
            self.kind, self.kind
        )


class FaultPlan:
    """The faults of a :class:`MockThreatMon`, consulted once per request."""

    def __init__(self, faults=()):
        self.faults = [fault if isinstance(fault, Fault) else Fault.parse(fault) for fault in faults]

    def pick(self, index: int, method: str, path: str) -> Fault | None:
        """The fault for this request, if any (index rules first, then path rules in order)."""
        for fault in self.faults:
            if fault.index == index:
                fault.used += 1
                return fault
        for fault in self.faults:
            if fault.index is not None or fault.used >= fault.times:
                continue
            if (fault.method and fault.method != method) or (fault.path and fault.path not in path):
                continue
            fault.seen += 1
            if fault.seen > fault.skip:
                fault.used += 1
                return fault
        return None

    def pending(self, requests_so_far: int) -> bool:
        """A fault still to be served: one for a request index not reached yet, or a path fault with uses left."""
        return any(
            (fault.index is not None and fault.index >= requests_so_far) or (fault.index is None and fault.used < fault.times)
            for fault in self.faults
        )


@dataclass
class MockConfig:
    """The knobs of :class:`MockThreatMon`: what ThreatMon's alarm list may do (ThreatMon documents pages of ten,
    ``afterAlarmCode`` keeping the codes above it, and little else)."""

    alarms: int = 40  # alarms present at the start (codes grow with gaps)
    codes: tuple | None = None  # these codes instead (all Open), and later alarms take the next code
    order: str = "asc"  # asc, desc, or unsorted (a stable order that is neither)
    order_flip: str = "none"  # none; alternate (every other list request in the opposite order); random
    page_size: int = 10
    page_overlap: int = 0  # page n repeats the last N alarms of page n-1
    total_records: str | int = "exact"  # exact (the filtered list), all (every alarm), missing, text, or this number
    after_filter: str = "greater"  # greater (as documented), inclusive (at or above the code), ignored
    last_page_repeat: bool = False  # a short last page lists its first alarm again at its end
    codeless_pinned: int = 0  # alarms without a code, listed first whatever afterAlarmCode says
    open_only: bool = False  # the list shows Open and In Progress alarms only (a closed alarm leaves it)
    latency_ms: float = 0.0  # passed to pass_time on every request
    seed: int = 1337
    api_key: str = "tm-test-key"  # noqa: S105 - a test value
    insert_at: dict = field(default_factory=dict)  # {list request index: alarms created just before it is answered}
    insert_every: int = 0  # after every N list requests, insert_count new alarms
    insert_count: int = 0
    string_codes: float = 0.0  # share of alarms whose code is served as a numeric string
    odd_severities: float = 0.0  # share of alarms served with a severity from ODD_SEVERITIES
    faults: list = field(default_factory=list)


@dataclass
class FakeAlarm:
    code: int
    severity: str
    status: str
    date: datetime
    alarm_type: str
    string_code: bool = False
    odd_severity: int | None = None

    def canonical(self) -> dict:
        return {
            "alarmCode": self.code,
            "title": f"Alarm {self.code}",
            "description": f"{self.alarm_type} for example-bank.com",
            "severity": self.severity,
            "status": self.status,
            "alarmDate": self.date.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "alarmType": self.alarm_type,
            "findingId": 700000 + self.code,
        }

    def wire(self) -> dict:
        record = self.canonical()
        if self.string_code:
            record["alarmCode"] = str(self.code)
        if self.odd_severity is not None:
            record["severity"] = ODD_SEVERITIES[self.odd_severity]
        return record


class MockThreatMon:
    """ThreatMon's alarm list (``GET /vulnerabilities/{page}?afterAlarmCode=``) answering every request requests_mock
    sees under ``url``, with the knobs of :class:`MockConfig` and the faults of :class:`Fault`. Other paths answer 404.

    A dropped or reset connection raises ``ConnectionError``, a cut body ``ChunkedEncodingError``, a slow answer
    ``ReadTimeout`` when it would come after the client's read timeout; time passes only through ``pass_time``.
    ``requests`` records every request (index, method, path, query, status, fault); ``set_portal_status`` is an
    analyst answering alarms in the ThreatMon portal.
    """

    def __init__(self, mocker: requests_mock.Mocker, url: str = "https://threatmon.test", pass_time=None, **knobs):
        self.config = MockConfig(**knobs)  # TypeError on an unknown knob
        self.url = url.rstrip("/")
        self.api_url = self.url + "/api/threatmon/external/v1"
        self.pass_time = pass_time or (lambda _seconds: None)
        self.faults = FaultPlan(self.config.faults)
        self.requests: list[dict] = []
        self.list_requests = 0  # list requests answered (what insert_at and insert_every count)
        self.inserted = 0
        self._rng = random.Random(self.config.seed)  # noqa: S311 - seeded on purpose: the same alarms every run
        self._flip_rng = random.Random(self.config.seed * 31 + 7)  # noqa: S311
        self._next_code = 48213 if self.config.codes is None else 1
        self._next_date = FIRST_ALARM_DATE
        self._alarms: list[FakeAlarm] = []  # ascending by code
        self._by_code: dict[int, FakeAlarm] = {}
        if self.config.codes is None:
            self.add_alarms(self.config.alarms)
        else:
            for code in sorted(self.config.codes):
                self._next_code = code
                self.add_alarms(1)
        self._pinned = [
            {"title": f"Alarm without a code {n}", "severity": "High", "status": "Open", "alarmType": ALARM_TYPES[0]}
            for n in range(1, self.config.codeless_pinned + 1)
        ]
        mocker.register_uri(requests_mock.ANY, re.compile(re.escape(self.url) + r"(/.*)?$"), content=self._answer)

    @property
    def api_key(self) -> str:
        return self.config.api_key

    # -- the alarms

    def add_alarms(self, count: int, date: datetime | None = None) -> list[int]:
        """Create ``count`` alarms (newer codes; newer dates unless ``date`` is given); returns their codes."""
        made = []
        for _ in range(count):
            rng, config = self._rng, self.config
            when = date or self._next_date
            self._next_date = when + timedelta(minutes=rng.randint(7, 240))
            alarm = FakeAlarm(self._next_code, rng.choice(SEVERITY_WORDS), "Open", when, rng.choice(ALARM_TYPES))
            alarm.string_code = rng.random() < config.string_codes
            if rng.random() < config.odd_severities:
                alarm.odd_severity = rng.randrange(len(ODD_SEVERITIES))
            self._next_code += rng.randint(1, 3) if config.codes is None else 1
            self._alarms.append(alarm)
            self._by_code[alarm.code] = alarm
            made.append(alarm.code)
        return made

    def codes(self) -> list[int]:
        return [alarm.code for alarm in self._alarms]

    def alarms(self) -> list[dict]:
        """Every alarm with an integer code and its true severity, ascending by code."""
        return [alarm.canonical() for alarm in self._alarms]

    def wire_alarms(self) -> list[dict]:
        """Every alarm as the list serves it, ascending by code."""
        return [alarm.wire() for alarm in self._alarms]

    def pinned_alarms(self) -> list[dict]:
        return [dict(alarm) for alarm in self._pinned]

    def set_portal_status(self, codes: int | list[int], status: str) -> None:
        """An analyst sets alarm statuses in the ThreatMon portal."""
        for code in codes if isinstance(codes, list) else [codes]:
            self._by_code[code].status = status

    def set(self, **knobs) -> None:
        """Change knobs while serving (order, total_records, insert_every, faults, ...)."""
        for name, value in knobs.items():
            getattr(self.config, name)  # AttributeError on an unknown knob
            setattr(self.config, name, value)
        if "faults" in knobs:
            self.faults = FaultPlan(self.config.faults)

    def listing(self, after: int | None, order: str | None = None) -> list[dict]:
        """The whole list afterAlarmCode keeps, as served, in ``order`` (default: the knob's), without paging."""
        return self._pinned + [alarm.wire() for alarm in self._ordered(self._start(after), order or self.config.order)]

    def _listed(self) -> list[FakeAlarm]:
        """The alarms the list shows, ascending: all, or (open_only) the Open and In Progress ones."""
        if not self.config.open_only:
            return self._alarms
        return [alarm for alarm in self._alarms if alarm.status in ("Open", "In Progress")]

    def _start(self, after: int | None) -> int:
        """Where the alarms afterAlarmCode keeps begin in the ascending list."""
        codes = [alarm.code for alarm in self._listed()]
        if after is None or self.config.after_filter == "ignored":
            return 0
        if self.config.after_filter == "inclusive":
            return bisect.bisect_left(codes, after)
        return bisect.bisect_right(codes, after)

    def _ordered(self, start: int, order: str) -> list[FakeAlarm]:
        listed = self._listed()
        if order == "asc":
            return listed[start:]
        if order == "desc":
            return listed[start:][::-1]
        return sorted(listed[start:], key=lambda alarm: ((alarm.code * 2654435761) ^ self.config.seed) & 0xFFFFFFFF)

    def _list(self, after: int | None, page: int) -> dict:
        """One answer of the alarm list, and what answering it changes (alarms created, the order flipping)."""
        config = self.config
        created = config.insert_at.get(self.list_requests, 0)
        self.add_alarms(created)
        self.inserted += created
        order = config.order
        if (config.order_flip == "alternate" and self.list_requests % 2) or (
            config.order_flip == "random" and self._flip_rng.random() < 0.5
        ):
            order = {"asc": "desc", "desc": "asc"}[order]
        listed = self._pinned + [alarm.wire() for alarm in self._ordered(self._start(after), order)]
        step = config.page_size - config.page_overlap
        low, high = page * step, page * step + config.page_size
        chosen = listed[low:high]
        if config.last_page_repeat and chosen and high >= len(listed) and len(chosen) < config.page_size:
            chosen.append(dict(chosen[0]))
        self.list_requests += 1
        if config.insert_every and self.list_requests % config.insert_every == 0:
            self.add_alarms(config.insert_count)
            self.inserted += config.insert_count
        total = len(self._alarms) + len(self._pinned) if config.total_records == "all" else len(listed)
        body: dict = {"data": chosen}
        if config.total_records != "missing":
            total = config.total_records if isinstance(config.total_records, int) else total
            body["totalRecords"] = str(total) if config.total_records == "text" else total
        return body

    # -- HTTP

    def _route(self, method: str, path: str, query: dict, headers) -> tuple[int, dict]:
        route = path.removeprefix("/api/threatmon/external/v1")
        if route == path:
            return 404, {"message": f"Not found: {path}"}
        if headers.get("X-COMPANY-API-KEY") != self.config.api_key:
            return 401, {"message": "Unauthorized: invalid API key"}
        match = re.fullmatch(r"/vulnerabilities/(\d+)", route)
        if not match or method != "GET":
            return 404, {"message": f"Not found: {path}"}
        after = query.get("afterAlarmCode", [""])[0]
        if after and not after.isdigit():
            return 400, {"message": f"afterAlarmCode must be an integer, not {after!r}"}
        return 200, self._list(int(after) if after else None, int(match.group(1)))

    def _answer(self, request, context) -> bytes:
        split = urlsplit(request.url)
        query = parse_qs(split.query, keep_blank_values=True)
        record = {
            "index": len(self.requests),
            "method": request.method,
            "path": split.path,
            "query": {name: values[0] if len(values) == 1 else values for name, values in query.items()},
            "status": None,
            "fault": None,
        }
        self.requests.append(record)
        fault = self.faults.pick(record["index"], request.method, split.path)
        kind = fault.kind if fault else None
        record["fault"] = fault.describe() if fault else None
        self.pass_time(self.config.latency_ms / 1000.0)
        context.headers["Content-Type"] = "application/json"
        if fault and kind in ("drop", "reset"):
            raise requests.exceptions.ConnectionError(
                f"Connection aborted: the fake {'reset' if kind == 'reset' else 'closed'} it"
            )
        if fault and kind == "status":
            status, body = fault.status or 500, json.dumps({"status": fault.status, "message": "unavailable"}).encode()
            if fault.retry_after is not None:
                context.headers["Retry-After"] = fault.retry_after
        elif fault and kind == "html":
            status, body = fault.status or 200, b"<html><body><h1>Bad Gateway</h1><hr>nginx</body></html>"
            context.headers["Content-Type"] = "text/html"
        elif kind == "empty":
            status, body = 200, b""
        elif kind == "json":
            status, body = 200, b'{"message": "The service is temporarily unavailable, try again later"}'
        else:
            status, answer = self._route(request.method, split.path, query, request.headers)
            body = json.dumps(answer, separators=(",", ":")).encode()
        record["status"] = context.status_code = status
        if kind == "truncated":
            body = body[: max(1, len(body) // 2)]
        if kind == "cut":
            raise requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")
        if fault and kind == "slow":
            read_timeout = request.timeout[1] if isinstance(request.timeout, tuple) else request.timeout
            if read_timeout is not None and read_timeout < fault.delay_s:
                self.pass_time(read_timeout)
                raise requests.exceptions.ReadTimeout(f"Read timed out. (read timeout={read_timeout})")
            self.pass_time(fault.delay_s)
        return body


def compact(markdown: str) -> str:
    """A markdown table without the padding around its cells, whatever the table writer's spacing."""
    return re.sub(r" *\| *", "|", markdown)


def load_json(name: str):
    return json.loads((TEST_DATA / name).read_text())


def make_client(clock: FakeClock | None = None, deadline: float | None = None, **kwargs) -> Client:
    clock = clock or FakeClock()
    return Client(BASE, API_KEY, sleep=clock.sleep, clock=clock.clock, wall_clock=clock.wall, deadline_seconds=deadline, **kwargs)


def make_settings(**overrides) -> Settings:
    return Settings(base_url=BASE, api_key=API_KEY, **overrides)


def codes_of(incidents) -> list[int]:
    return [int(incident["dbotMirrorId"]) for incident in incidents]


def make_sim(mocker: requests_mock.Mocker, clock: FakeClock | None = None, **knobs) -> MockThreatMon:
    """ThreatMon's alarm list behind requests_mock (knobs: MockConfig; faults: Fault); its latency and slow answers
    move ``clock``."""
    return MockThreatMon(mocker, url=BASE_HOST, pass_time=clock.advance if clock else None, api_key=API_KEY, **knobs)


def list_calls(sim: MockThreatMon) -> list[tuple[int, int | None]]:
    """(page, afterAlarmCode) of every list request the fake received."""
    calls = []
    for record in sim.requests:
        if "/vulnerabilities/" in record["path"]:
            after = record["query"].get("afterAlarmCode")
            calls.append((int(record["path"].rsplit("/", 1)[1]), int(after) if after is not None else None))
    return calls


def pending(sim: MockThreatMon) -> bool:
    """A fault or an insert the fake still has to serve."""
    return any(index >= sim.list_requests for index in sim.config.insert_at) or sim.faults.pending(len(sim.requests))


def drain(
    sim: MockThreatMon,
    settings: Settings,
    last_run=None,
    clock: FakeClock | None = None,
    runs: int = 400,
    deadline: float | None = None,
):
    """Run fetch-incidents like the server does (a new client each run; lastRun kept only when the run succeeds)
    until two runs in a row bring nothing while no fault or insert is pending. Returns (last_run, incidents)."""
    clock = clock or FakeClock()
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
        quiet = quiet + 1 if not incidents and not pending(sim) else 0
        if quiet >= 2:
            break
    return last_run, taken


def assert_exactly_once(incidents, expected) -> None:
    codes = codes_of(incidents)
    assert len(codes) == len(set(codes)), "an alarm was ingested twice"
    assert sorted(codes) == sorted(expected), "an alarm was lost or invented"


def debug_lines(monkeypatch) -> list[str]:
    lines: list[str] = []
    monkeypatch.setattr(demisto, "debug", lambda message, *args: lines.append(str(message)))
    return lines


# ---------------------------------------------------------------- fetch: exactly once


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("count", [0, 1, 9, 10, 11, 25, 137])
@pytest.mark.parametrize("max_fetch", [1, 7, 10, 15, 100, 1000])
def test_fetch_ingests_every_alarm_exactly_once(order, count, max_fetch):
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=count, order=order)
        _, incidents = drain(sim, make_settings(max_fetch=max_fetch))
    assert_exactly_once(incidents, sim.codes())


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("max_fetch", [7, 10, 15])
def test_fetch_takes_alarms_in_ascending_code_order_and_at_most_max_fetch_a_run(order, max_fetch):
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=30, order=order)
        last_run, first = fetch_incidents(make_client(), {}, make_settings(max_fetch=max_fetch), now=NOW)
    assert codes_of(first) == sim.codes()[:max_fetch]
    assert last_run["last_alarm_code"] == sim.codes()[max_fetch - 1]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("inserts", [{0: 3}, {1: 1}, {1: 5, 2: 10, 4: 1}, {1: 11, 3: 9, 6: 20}])
@pytest.mark.parametrize("max_fetch", [7, 100])
def test_fetch_alarms_created_while_paging_are_ingested_exactly_once(order, inserts, max_fetch):
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=47, order=order, insert_at=inserts)
        _, incidents = drain(sim, make_settings(max_fetch=max_fetch))
    assert_exactly_once(incidents, sim.codes())


# ---------------------------------------------------------------- fetch: what a server may do to its pages

PAGING = {
    "pages of 5": {"page_size": 5},
    "pages of 20": {"page_size": 20},
    "pages of 25": {"page_size": 25},
    "the order flips every request": {"order_flip": "alternate"},
    "the order flips at random": {"order_flip": "random"},
    "page n repeats the last alarm of page n-1": {"page_overlap": 1},
    "overlapping pages of 5 in a random order": {"page_size": 5, "page_overlap": 1, "order_flip": "random"},
}


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("paging", PAGING)
@pytest.mark.parametrize("inserts", [{}, {1: 3, 4: 11, 8: 1, 13: 4}])
@pytest.mark.parametrize("max_fetch", [7, 100])
def test_fetch_every_alarm_once_however_the_server_pages(order, paging, inserts, max_fetch):
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=137, order=order, insert_at=inserts, **PAGING[paging])
        _, incidents = drain(sim, make_settings(max_fetch=max_fetch))
    assert_exactly_once(incidents, sim.codes())


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("paging", PAGING)
@pytest.mark.parametrize(
    "faults", [["#2=503", "#6=cut", "/vulnerabilities/=500,times=4,skip=8"], ["*=slow:30,times=3,skip=1", "#9=json"]]
)
def test_fetch_every_alarm_once_however_the_server_pages_and_fails(order, paging, faults):
    clock = FakeClock()
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, clock, alarms=93, order=order, insert_at={3: 5, 10: 2}, faults=faults, **PAGING[paging])
        _, incidents = drain(sim, make_settings(max_fetch=25), clock=clock)
    assert_exactly_once(incidents, sim.codes())
    assert any(record["fault"] for record in sim.requests)


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("size", [5, 20, 25])
def test_fetch_learns_the_page_size_from_page_zero(monkeypatch, order, size):
    lines = debug_lines(monkeypatch)
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=60, order=order, page_size=size)
        _, incidents = fetch_incidents(make_client(), {}, make_settings(max_fetch=1000), now=NOW)
    assert codes_of(incidents) == sim.codes()
    assert f"pages of {size};" in lines[-1]
    if order == "asc":
        assert len(sim.requests) == -(-60 // size)  # one per page (page 0 with a moving afterAlarmCode)
    else:
        assert len(sim.requests) <= -(-60 // size) + 2  # page 0, then the pages from the last one back


@pytest.mark.parametrize("alarms", [40, 37])
def test_fetch_proves_a_full_last_page_with_the_page_before_it_once(alarms):
    """Pages that overlap would put the smallest codes further on than a full last page: before trusting a full
    last page, the run reads the page before it from the same listing. What it proves is kept in lastRun."""
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=alarms, order="desc")
        first_run, first = fetch_incidents(make_client(), {}, make_settings(max_fetch=10), now=NOW)
        first_calls = list_calls(sim)
        _, second = fetch_incidents(make_client(), first_run, make_settings(max_fetch=10), now=NOW)
    assert codes_of(first + second) == sim.codes()[:20]
    assert (first_run["page_size"], first_run["page_step"]) == (10, 10)
    second_calls, tenth = list_calls(sim)[len(first_calls) :], sim.codes()[9]
    if alarms == 40:  # a full last page: the page before it is read to prove it (its codes come next)
        assert first_calls == [(0, None), (3, None), (2, None)]
        assert second_calls == [(0, tenth), (2, tenth)]  # the next run trusts the proven step
    else:  # a short last page is the last by itself, and proves the step: the next (full) one is trusted
        assert first_calls == [(0, None), (3, None), (2, sim.codes()[6])]
        assert second_calls == [(0, tenth), (2, tenth), (1, sim.codes()[16])]


def test_fetch_recognises_pages_that_repeat_the_last_alarm_of_the_page_before():
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=40, order="desc", page_overlap=1)
        last_run, incidents = fetch_incidents(make_client(), {}, make_settings(max_fetch=10), now=NOW)
    assert codes_of(incidents) == sim.codes()[:10]
    assert (last_run["page_size"], last_run["page_step"]) == (10, 9)


@pytest.mark.parametrize(("kept", "served"), [(10, 5), (5, 10)])
def test_fetch_forgets_a_page_geometry_that_the_answers_contradict(kept, served):
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=40, order="desc", page_size=served)
        stale = {"state_version": 2, "page_size": kept, "page_step": kept}
        last_run, incidents = fetch_incidents(make_client(), stale, make_settings(max_fetch=5), now=NOW)
    assert codes_of(incidents) == sim.codes()[:5]
    assert (last_run["page_size"], last_run["page_step"]) == (served, served)


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_fetch_does_not_take_a_page_for_the_last_by_a_size_an_earlier_run_saw(order):
    """Pages shrank from 10 to 5 and totalRecords is gone: a page of 5 is not short just because earlier pages held 10."""
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=40, order=order, page_size=5, total_records="missing")
        stale = {"state_version": 2, "page_size": 10, "page_step": 10}
        _, incidents = drain(sim, make_settings(max_fetch=100), stale)
    assert_exactly_once(incidents, sim.codes())


def test_fetch_reads_an_answer_in_the_other_order_again(monkeypatch):
    lines = debug_lines(monkeypatch)
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=45, order="desc", order_flip="alternate")
        _, incidents = fetch_incidents(make_client(), {}, make_settings(max_fetch=100), now=NOW)
    assert codes_of(incidents) == sim.codes()
    assert "order descending, " in lines[-1] and "in another order read again" in lines[-1]


def page_of(codes: list[int], total: int) -> dict:
    return {"data": [{"alarmCode": code, "title": f"alarm {code}"} for code in codes], "totalRecords": total}


def test_fetch_a_last_page_that_keeps_arriving_in_the_other_order_ends_the_run_without_moving(monkeypatch):
    lines = debug_lines(monkeypatch)
    with requests_mock.Mocker() as mocker:
        mocker.get(f"{BASE}/vulnerabilities/0", json=page_of(list(range(30, 20, -1)), 25))
        mocker.get(f"{BASE}/vulnerabilities/2", json=page_of([29, 30], 25))  # descending page 0, ascending page 2
        last_run, incidents = fetch_incidents(make_client(), {"state_version": 2, "last_alarm_code": 5}, make_settings(), now=NOW)
        assert mocker.call_count == 1 + ThreatMon.ORDER_TRIES
    assert (last_run, incidents) == ({"state_version": 2, "last_alarm_code": 5, "stalled_runs": 1}, [])
    assert any("kept arriving in another order than page 0" in line and "next run" in line for line in lines)


@pytest.mark.parametrize(("tail", "taken"), [([31], []), ([6], [6])])
def test_fetch_a_last_page_with_one_code_must_lie_below_page_zero(tail, taken):
    """One code cannot show its page's order: a descending list's last page must hold codes below page 0's."""
    with requests_mock.Mocker() as mocker:
        mocker.get(f"{BASE}/vulnerabilities/0", json=page_of(list(range(30, 20, -1)), 21))
        mocker.get(f"{BASE}/vulnerabilities/2", json=page_of(tail, 21))
        _, incidents = fetch_incidents(
            make_client(), {"state_version": 2, "last_alarm_code": 5}, make_settings(max_fetch=1), now=NOW
        )
    assert codes_of(incidents) == taken


def test_fetch_three_runs_in_a_row_without_progress_make_an_error_and_progress_clears_it():
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=39, order="unsorted", insert_every=1, insert_count=1)
        first = fetch_incidents(make_client(), {}, make_settings(), now=NOW)
        second = fetch_incidents(make_client(), first[0], make_settings(), now=NOW)
        with pytest.raises(ThreatMonError, match=r"3 fetch runs in a row \(the alarm list is not sorted") as failure:
            fetch_incidents(make_client(), second[0], make_settings(), now=NOW)
        assert failure.value.kind == "inconsistent" and "No alarm was skipped or ingested twice" in failure.value.message
        sim.set(insert_every=0)  # the list settles
        last_run, incidents = fetch_incidents(make_client(), second[0], make_settings(max_fetch=1000), now=NOW)
    assert first == ({"state_version": 2, "stalled_runs": 1}, [])
    assert second == ({"state_version": 2, "stalled_runs": 2}, [])
    assert codes_of(incidents) == sim.codes() and "stalled_runs" not in last_run


def test_fetch_an_empty_list_is_no_stall():
    with requests_mock.Mocker() as mocker:
        make_sim(mocker, alarms=0)
        last_run = {"state_version": 2, "last_alarm_code": 4, "stalled_runs": 2}
        next_run, incidents = fetch_incidents(make_client(), last_run, make_settings(), now=NOW)
    assert (next_run, incidents) == ({"state_version": 2, "last_alarm_code": 4}, [])


@pytest.mark.parametrize(
    ("knobs", "words"),
    [
        ({"order": "desc"}, "order descending; totalRecords verified; pages of 10; 11 request(s), 10 page(s) taken"),
        ({"order": "asc"}, "order ascending; totalRecords not needed; pages of 10; 10 request(s), 10 page(s) taken"),
        ({"order": "asc", "page_size": 20}, "order ascending; totalRecords not needed; pages of 20; 5 request(s)"),
        ({"order": "desc", "total_records": "all"}, "totalRecords not trusted"),
        ({"order": "desc", "page_overlap": 1}, "pages of 10 overlapping by 1;"),
    ],
)
def test_fetch_debug_line_says_order_count_requests_and_pages(monkeypatch, knobs, words):
    lines = debug_lines(monkeypatch)
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=250, **knobs)
        fetch_incidents(
            make_client(), {"state_version": 2, "last_alarm_code": code_at(sim, 50)}, make_settings(max_fetch=100), now=NOW
        )
    assert words in lines[-1], lines[-1]


# ---------------------------------------------------------------- fetch: faults

FAULTS = [
    "500",
    "502",
    "503",
    "504",
    "408",
    "429,retry-after=2",
    "html",
    "html:502",
    "truncated",
    "empty",
    "json",
    "drop",
    "reset",
    "cut",
    "slow:30",
]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("kind", FAULTS)
def test_fetch_retries_a_single_fault_within_the_run(order, kind):
    clock = FakeClock()
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, clock, alarms=35, order=order, faults=[f"#2={kind}"])
        last_run, incidents = fetch_incidents(make_client(clock), {}, make_settings(max_fetch=100), now=NOW)
    assert_exactly_once(incidents, sim.codes())
    assert last_run["last_alarm_code"] == sim.codes()[-1]
    assert len(clock.sleeps) == 1
    if kind.startswith("429"):
        assert clock.sleeps == [2]  # Retry-After


def test_fetch_honours_a_retry_after_given_as_an_http_date():
    clock = FakeClock()
    with requests_mock.Mocker() as mocker:
        when = email.utils.formatdate(clock.wall() + 3, usegmt=True)
        sim = make_sim(mocker, clock, alarms=15, faults=[Fault("status", status=429, retry_after=when, index=1)])
        _, incidents = fetch_incidents(make_client(clock), {}, make_settings(), now=NOW)
    assert codes_of(incidents) == sim.codes()
    assert clock.sleeps == [3]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("kind", FAULTS)
@pytest.mark.parametrize("first_failing_call", [1, 2, 4])
def test_fetch_fault_that_outlasts_the_retries_loses_nothing_and_repeats_nothing(order, kind, first_failing_call):
    clock = FakeClock()
    with requests_mock.Mocker() as mocker:
        outage = f"/vulnerabilities/={kind},times={Client.POLICY.max_attempts},skip={first_failing_call - 1}"
        sim = make_sim(mocker, clock, alarms=57, order=order, faults=[outage])
        _, incidents = drain(sim, make_settings(max_fetch=25), clock=clock)
    assert_exactly_once(incidents, sim.codes())


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_fetch_failure_mid_run_returns_what_was_taken_with_a_matching_last_run(order):
    with requests_mock.Mocker() as mocker:
        sim = make_sim(
            mocker, alarms=57, order=order, faults=[f"/vulnerabilities/=503,times={Client.POLICY.max_attempts},skip=2"]
        )
        last_run, incidents = fetch_incidents(make_client(), {}, make_settings(max_fetch=100), now=NOW)
    assert incidents, "the pages read before the failure are kept"
    assert last_run["last_alarm_code"] == max(codes_of(incidents))
    assert codes_of(incidents) == sim.codes()[: len(incidents)]


def test_fetch_failure_before_any_progress_raises_the_error():
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, status_code=503, text="down")
        with pytest.raises(ThreatMonError, match="unavailable"):
            fetch_incidents(make_client(), {"state_version": 2, "last_alarm_code": 5}, make_settings(), now=NOW)


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_fetch_stops_at_the_deadline_and_the_next_run_continues(order):
    clock = FakeClock()
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, clock, alarms=199, order=order, latency_ms=7000)  # six requests fill a 40-second run
        last_run, first = fetch_incidents(
            make_client(clock, deadline=ThreatMon.FETCH_DEADLINE), {}, make_settings(max_fetch=1000), now=NOW
        )
        assert 0 < len(first) < 199
        assert last_run["last_alarm_code"] == max(codes_of(first))
        _, rest = drain(sim, make_settings(max_fetch=1000), last_run, clock, deadline=ThreatMon.FETCH_DEADLINE)
    assert_exactly_once(first + rest, sim.codes())


# ---------------------------------------------------------------- fetch: odd servers


@pytest.mark.parametrize("order", ["asc", "desc", "unsorted"])
@pytest.mark.parametrize(
    "knobs",
    [{"string_codes": 1.0}, {"after_filter": "inclusive"}, {"total_records": "text"}, {"total_records": "missing"}],
)
def test_fetch_odd_servers_still_give_each_alarm_once(order, knobs):
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=38, order=order, **knobs)
        _, incidents = drain(sim, make_settings(max_fetch=15))
    assert_exactly_once(incidents, sim.codes())


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("max_fetch", [5, 100])
def test_fetch_server_ignoring_after_alarm_code_sends_codes_already_handled(order, max_fetch):
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=43, order=order, after_filter="ignored")
        _, incidents = drain(sim, make_settings(max_fetch=max_fetch))
    assert_exactly_once(incidents, sim.codes())


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


@pytest.mark.parametrize("order", ["asc", "desc", "unsorted"])
@pytest.mark.parametrize("max_fetch", [1, 7, 100])
def test_fetch_a_code_listed_twice_on_one_page_is_one_alarm_not_a_changing_list(order, max_fetch):
    """The last page repeats its first alarm: neither the order detection nor the scan may read that as a list that
    moved while it was read (which would fail every run from then on)."""
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=55, order=order, last_page_repeat=True)
        _, incidents = drain(sim, make_settings(max_fetch=max_fetch))
    assert_exactly_once(incidents, sim.codes())


@pytest.mark.parametrize("knobs", [{}, {"page_overlap": 1}, {"page_size": 5}])
def test_fetch_unsorted_list_falls_back_to_a_full_scan(knobs):
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=63, order="unsorted", insert_at={2: 2, 8: 4}, **knobs)
        _, incidents = drain(sim, make_settings(max_fetch=20))
    assert_exactly_once(incidents, sim.codes())


@pytest.mark.parametrize("order", ["asc", "desc", "unsorted"])
def test_fetch_page_zero_with_a_single_code_is_compared_with_the_last_page(order):
    """Nine alarms without a code lead page 0, so its order cannot be read; the last page tells it."""
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=25, order=order, codeless_pinned=9)
        _, incidents = drain(sim, make_settings(max_fetch=100))
    coded = [incident for incident in incidents if "dbotMirrorId" in incident]
    codeless = [incident for incident in incidents if "dbotMirrorId" not in incident]
    assert_exactly_once(coded, sim.codes())
    assert sorted(incident["name"] for incident in codeless) == sorted(
        f"ThreatMon Alarm (no code): {alarm['title']}" for alarm in sim.pinned_alarms()
    )


def test_fetch_endless_full_pages_end_the_run_at_the_request_bound_without_taking_anything():
    """Every page is full and the same: the end of the list is never found, so nothing can be taken safely."""
    page = {"data": [{"alarmCode": 100 - n} for n in range(10)], "totalRecords": 25}
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json=page)
        last_run, incidents = fetch_incidents(make_client(), {"state_version": 2, "last_alarm_code": 3}, make_settings(), now=NOW)
        assert mocker.call_count == 100 // 10 + ThreatMon.EXTRA_REQUESTS_PER_RUN
    assert (last_run, incidents) == ({"state_version": 2, "last_alarm_code": 3, "stalled_runs": 1}, [])


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("total_records", ["all", "missing", "text"])
@pytest.mark.parametrize("inserts", [{}, {1: 3, 3: 12, 8: 1}])
@pytest.mark.parametrize("max_fetch", [6, 100])
def test_fetch_does_not_depend_on_total_records(order, total_records, inserts, max_fetch):
    """totalRecords may count every alarm (not the filtered ones), be missing or be text."""
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=117, order=order, total_records=total_records, insert_at=inserts)
        _, incidents = drain(sim, make_settings(max_fetch=max_fetch))
    assert_exactly_once(incidents, sim.codes())


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_fetch_without_total_records_reads_few_pages(order):
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=1000, order=order, total_records="missing")
        _, incidents = fetch_incidents(make_client(), {}, make_settings(max_fetch=100), now=NOW)
    assert codes_of(incidents) == sim.codes()[:100]
    assert len(sim.requests) <= (11 if order == "asc" else 40)


@pytest.mark.parametrize(("order", "limit"), [("asc", 11), ("desc", 12)])
def test_fetch_request_count_is_pages_plus_at_most_one(order, limit):
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=100, order=order)
        _, incidents = fetch_incidents(make_client(), {}, make_settings(max_fetch=100), now=NOW)
    assert len(incidents) == 100
    assert len(sim.requests) <= limit


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize(("alarms", "max_fetch"), [(200, 10), (500, 100), (1000, 1000), (537, 1000)])
def test_fetch_costs_at_most_a_request_per_page_plus_one_per_run_with_the_documented_pages(order, alarms, max_fetch):
    """Pages of ten in one order, a backlog drained by runs that each take whole pages: as many requests as pages, plus
    one a run (the page 0 that a descending list needs, or the empty answer that ends an ascending one)."""
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=alarms, order=order)
        last_run, runs = {}, 0
        while True:
            runs += 1
            last_run, incidents = fetch_incidents(make_client(), last_run, make_settings(max_fetch=max_fetch), now=NOW)
            if not incidents:
                break
    assert last_run["last_alarm_code"] == sim.codes()[-1]
    assert len(sim.requests) <= -(-alarms // 10) + runs


def test_fetch_bounds_the_requests_of_a_run_when_alarms_are_skipped():
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=2000, order="asc")
        future = datetime(2100, 1, 1, tzinfo=UTC)  # every alarm is older than first_fetch
        last_run, incidents = fetch_incidents(make_client(), {}, make_settings(max_fetch=10, first_fetch=future), now=NOW)
    assert incidents == []
    assert len(sim.requests) == 1 + ThreatMon.EXTRA_REQUESTS_PER_RUN
    assert last_run["last_alarm_code"] == sim.codes()[10 * len(sim.requests) - 1]  # the skipped alarms move the watermark


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_fetch_last_run_stays_small(order):
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=499, order=order, page_overlap=1)
        last_run, incidents = drain(sim, make_settings(max_fetch=50))
    assert len(incidents) == 499
    assert len(json.dumps(last_run)) < 120


# ---------------------------------------------------------------- fetch: 1.0.x lastRun


def legacy_state(sim: MockThreatMon, legacy_code: int, pages: int):
    """What the 1.0.x pack had done mid-batch: read pages 0..pages-1 of afterAlarmCode=legacy_code (ingesting them)
    and written its lastRun with the largest code it saw."""
    ingested = [int(alarm["alarmCode"]) for alarm in sim.listing(legacy_code)[: pages * sim.config.page_size]]
    return set(ingested), {"last_incident_id": legacy_code, "page": pages, "max_seen_id": max(ingested)}


def code_at(sim: MockThreatMon, position: int) -> int:
    """The code of the position-th alarm (1-based); 0 is a code below them all."""
    return sim.codes()[position - 1] if position else sim.codes()[0] - 1


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize(("position", "pages", "created_since"), [(0, 1, 0), (40, 2, 0), (40, 3, 7), (100, 5, 23)])
@pytest.mark.parametrize("max_fetch", [3, 100])
@pytest.mark.parametrize("size", [10, 20])
def test_fetch_continues_a_1_0_x_batch_without_reingesting(order, position, pages, created_since, max_fetch, size):
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=180 + 60 * (size > 10), order=order, page_size=size)
        legacy_code = code_at(sim, position)
        done_by_legacy, last_run = legacy_state(sim, legacy_code, pages)
        sim.add_alarms(created_since)
        _, incidents = drain(sim, make_settings(max_fetch=max_fetch), last_run)
    assert_exactly_once(incidents, [code for code in sim.codes() if code > legacy_code and code not in done_by_legacy])


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("total_records", ["all", "missing"])
@pytest.mark.parametrize("created_since", [0, 14])
def test_fetch_continues_a_1_0_x_batch_when_total_records_cannot_count_it(order, total_records, created_since):
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=180, order=order)
        legacy_code = code_at(sim, 40)
        done_by_legacy, last_run = legacy_state(sim, legacy_code, 3)
        sim.add_alarms(created_since)
        sim.set(total_records=total_records)
        _, incidents = drain(sim, make_settings(max_fetch=30), last_run)
    assert_exactly_once(incidents, [code for code in sim.codes() if code > legacy_code and code not in done_by_legacy])


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_fetch_1_0_x_finished_batch_continues_after_its_last_code(order):
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=30, order=order)
        _, incidents = drain(sim, make_settings(), {"last_incident_id": code_at(sim, 12), "page": 0})
    assert_exactly_once(incidents, sim.codes()[12:])


def test_fetch_1_0_x_counts_are_reread_when_alarms_arrive_between_them():
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=90, order="desc", insert_at={1: 4})  # between the first T(M) and T(L)
        done_by_legacy, last_run = legacy_state(sim, code_at(sim, 20), 2)
        _, incidents = drain(sim, make_settings(), last_run)
    expected = [code for code in sim.codes() if code > code_at(sim, 20) and code not in done_by_legacy]
    assert_exactly_once(incidents, expected)


def test_fetch_1_0_x_position_survives_a_failure_during_the_conversion():
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=90, order="desc", faults=["/vulnerabilities/=500,times=4"])
        _, legacy = legacy_state(sim, code_at(sim, 40), 2)
        with pytest.raises(ThreatMonError):
            fetch_incidents(make_client(), dict(legacy), make_settings(), now=NOW)
        _, incidents = drain(sim, make_settings(), dict(legacy))
    # 1.0.x had ingested the 20 largest codes above the 40th; the 30 after the 40th are new.
    assert_exactly_once(incidents, sim.codes()[40:70])


def test_fetch_1_0_x_conversion_cut_by_the_request_bound_keeps_the_old_last_run(monkeypatch):
    monkeypatch.setattr(ThreatMon, "EXTRA_REQUESTS_PER_RUN", 2 - 10)  # two requests a run
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=90, order="desc")
        _, legacy = legacy_state(sim, code_at(sim, 40), 2)
        last_run, incidents = fetch_incidents(make_client(), dict(legacy), make_settings(), now=NOW)
    assert (last_run, incidents) == ({**legacy, "stalled_runs": 1}, [])
    assert FetchState.load(last_run, make_settings()).legacy == (code_at(sim, 40), 2, legacy["max_seen_id"])


@pytest.mark.parametrize(
    ("last_run", "param", "expected"),
    [
        ({"last_incident_id": "17", "page": 0}, None, (17, 0, None)),
        ({"last_incident_id": None, "page": 0}, 5, (5, 0, None)),
        ({"last_incident_id": "x", "page": "y", "max_seen_id": "z"}, None, (None, 0, None)),
        (load_json("legacy_last_run.json"), None, (40, 2, 90)),
    ],
)
def test_fetch_state_reads_1_0_x_positions(last_run, param, expected):
    position = FetchState.load(last_run, make_settings(last_incident_id=param)).legacy
    assert isinstance(position, ThreatMon.LegacyPosition)
    assert position == expected


# ---------------------------------------------------------------- fetch: parameters and incidents


def test_fetch_first_run_starts_after_last_incident_id():
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=29, order="asc")
        start = code_at(sim, 20)
        _, incidents = drain(sim, make_settings(last_incident_id=start))
    assert_exactly_once(incidents, sim.codes()[20:])
    assert list_calls(sim)[0] == (0, start)


def test_fetch_last_incident_id_is_ignored_after_the_first_run():
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=29, order="asc")
        last_run = {"state_version": 2, "last_alarm_code": code_at(sim, 3)}
        fetch_incidents(make_client(), last_run, make_settings(last_incident_id=code_at(sim, 20)), now=NOW)
    assert list_calls(sim)[0] == (0, code_at(sim, 3))


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_fetch_first_fetch_skips_older_alarms_until_the_backlog_is_drained(order):
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=40, order=order)
        dates = {alarm["alarmCode"]: datetime.fromisoformat(alarm["alarmDate"]) for alarm in sim.alarms()}
        cutoff = dates[code_at(sim, 25)]
        settings = make_settings(max_fetch=6, first_fetch=cutoff)
        last_run, incidents = drain(sim, settings)
        assert "first_fetch_cutoff" not in last_run
        late = sim.add_alarms(1, date=cutoff - timedelta(days=30))  # after the backlog was drained, first_fetch no longer applies
        _, later = drain(sim, settings, last_run)
    assert_exactly_once(incidents, [code for code, moment in dates.items() if moment >= cutoff])
    assert codes_of(later) == late


def test_fetch_first_fetch_keeps_an_alarm_whose_date_cannot_be_read():
    page = {"data": [{"alarmCode": 3, "alarmDate": "2020-01-01T00:00:00Z"}, {"alarmCode": 4, "alarmDate": "not a date"}]}
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json={**page, "totalRecords": 2})
        _, incidents = fetch_incidents(make_client(), {}, make_settings(first_fetch=NOW - timedelta(days=7)), now=NOW)
    assert codes_of(incidents) == [4]


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
        {"page_size": 10},
        {"page_size": "x", "page_step": 10},
        {"page_size": 10, "page_step": 11},
        {"page_size": 10, "page_step": 0},
        {"stalled_runs": "many"},
        {"stalled_runs": -2},
    ],
)
def test_fetch_state_reads_damaged_fields_of_its_own_last_run_as_absent(damaged):
    state = FetchState.load({"state_version": 2, "last_alarm_code": 9, **damaged}, make_settings())
    assert state.to_last_run() == {"state_version": 2, "last_alarm_code": 9}


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_fetch_min_severity_skips_lower_alarms_but_never_unknown_severities(order):
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=64, order=order, odd_severities=0.4)
        _, incidents = drain(sim, make_settings(max_fetch=4, min_severity="High"))
    lower = {"information", "low", "medium"}  # the known words below High, however they are spelt
    expected = [int(a["alarmCode"]) for a in sim.wire_alarms() if str(a.get("severity") or "").strip().lower() not in lower]
    assert_exactly_once(incidents, expected)
    assert {str(a["severity"]) for a in sim.wire_alarms()} & {"Severe", "P1", " medium", "CRITICAL"}, "odd severities served"


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
        sim = make_sim(mocker, alarms=3, order="asc")
        _, incidents = fetch_incidents(make_client(), {"lastRun": "2018-10-24T14:13:20+00:00"}, make_settings(), now=NOW)
    assert codes_of(incidents) == sim.codes()
    assert list_calls(sim) == [(0, None)]


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


def test_client_rate_limit_advice_names_the_fetch_parameters_by_their_labels():
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, status_code=429)
        with pytest.raises(ThreatMonError) as info:
            make_client(max_attempts=1).list_alarms(page=0)
    assert info.value.kind == "rate_limited"
    assert str(info.value).endswith(
        "and raise the Incidents Fetch Interval (incidentFetchInterval) or lower the Maximum number of incidents per "
        "fetch (max_fetch) if it persists."
    )


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


FUTURE_RULE = (
    "First fetch time (first_fetch) must be a time in the past such as '7 days' or '2024-01-31' "
    "(a future time would make the first fetch skip every alarm ThreatMon lists now); got"
)


@pytest.mark.parametrize("text", ["2099-01-01", "2024-01-31T10:00:01+00:00"])
def test_first_fetch_in_the_future_is_refused(text):
    with pytest.raises(ValueError) as error:
        ThreatMon.parse_first_fetch(text, now=datetime(2024, 1, 31, 10, tzinfo=UTC))
    assert str(error.value) == f"{FUTURE_RULE} '{text}'."


def test_first_fetch_at_now_is_accepted():
    now = datetime(2024, 1, 31, 10, tzinfo=UTC)
    assert ThreatMon.parse_first_fetch("2024-01-31T10:00:00Z", now=now) == now


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


MAX_FETCH_RULE = "Maximum number of incidents per fetch (max_fetch) must be a whole number from 1 to 1000; got"
LAST_ID_RULE = "Last Incident ID (for initial fetch) (lastIncidentId) must be a whole number of at least 0; got"
URL_RULE = "Server URL (url) must be an http(s) URL such as https://external.threatmonit.io; got"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"max_fetch": "0"}, f"{MAX_FETCH_RULE} '0'."),
        ({"max_fetch": "1001"}, f"{MAX_FETCH_RULE} '1001'."),
        ({"max_fetch": "abc"}, f"{MAX_FETCH_RULE} 'abc'."),
        ({"max_fetch": "10.5"}, f"{MAX_FETCH_RULE} '10.5'."),
        ({"max_fetch": "--5"}, f"{MAX_FETCH_RULE} '--5'."),
        (
            {"first_fetch": "the dawn of time"},
            "First fetch time (first_fetch) must be a time such as '7 days', '12 hours' or '2024-01-31'; got 'the dawn of time'.",
        ),
        ({"first_fetch": "2099-01-01"}, f"{FUTURE_RULE} '2099-01-01'."),
        (
            {"min_severity": "Severe"},
            "Minimum severity to fetch (min_severity) must be one of Information, Low, Medium, High, Critical; got 'Severe'.",
        ),
        ({"lastIncidentId": "-1"}, f"{LAST_ID_RULE} '-1'."),
        ({"lastIncidentId": "abc"}, f"{LAST_ID_RULE} 'abc'."),
        (
            {"mirror_direction": "Both"},
            "Incident Mirroring Direction (mirror_direction) must be one of None, Incoming, Outgoing, Incoming And Outgoing; "
            "got 'Both'.",
        ),
        ({"credentials": {"password": ""}}, "API Key (credentials) is empty: paste the company API key issued by ThreatMon."),
        ({"credentials": None}, "API Key (credentials) is empty: paste the company API key issued by ThreatMon."),
        ({"insecure": "maybe"}, "Trust any certificate (not secure) (insecure) must be true or false; got 'maybe'."),
        ({"proxy": "2"}, "Use system proxy settings (proxy) must be true or false; got '2'."),
        ({"url": "external.threatmonit.io"}, f"{URL_RULE} 'external.threatmonit.io'."),
        ({"url": "ftp://x"}, f"{URL_RULE} 'ftp://x'."),
    ],
)
def test_parse_params_refuses_bad_values_naming_the_label_and_the_parameter(overrides, message):
    with pytest.raises(ValueError) as caught:
        parse_params(valid_params(**overrides))
    assert str(caught.value) == message


def test_parse_params_names_a_bad_data_removal_path_by_its_label():
    with pytest.raises(ValueError) as caught:
        parse_params(valid_params(data_removal_path="/x?y=1"), data_removal=True)
    assert str(caught.value) == (
        "Data removal API path (data_removal_path) must be a path without a query (?) or fragment (#); got '/x?y=1'."
    )


def test_param_labels_are_the_labels_of_the_instance_form():
    """PARAM_LABELS is the one place errors take a parameter's label from: it must say what the yml shows."""
    yml = yaml.safe_load((Path(__file__).parent / "ThreatMon.yml").read_text(encoding="utf-8"))
    form = {param["name"]: param.get("displaypassword") or param.get("display") for param in yml["configuration"]}
    assert {name: form.get(name) for name in ThreatMon.PARAM_LABELS} == ThreatMon.PARAM_LABELS


def test_every_parameter_the_integration_reads_has_a_label():
    """Every parameter the code reads is one an error may name, so it must be in PARAM_LABELS; incidentType (the
    server's incident type picker) is only passed on, never refused."""
    read = set(re.findall(r'params\.get\("(\w+)"', Path(ThreatMon.__file__).read_text(encoding="utf-8")))
    assert read - {"incidentType"} <= set(ThreatMon.PARAM_LABELS)


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


def test_the_settings_show_no_api_key_in_their_repr():
    settings = parse_params(valid_params())
    assert settings.api_key not in repr(settings)


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2024, 1, 31, 8, 0, 5, 999999, tzinfo=UTC), "2024-01-31T08:00:05Z"),  # to the second
        (datetime(2024, 1, 31, 10, 30, tzinfo=timezone(timedelta(hours=2, minutes=30))), "2024-01-31T08:00:00Z"),
        (datetime(999, 3, 1, tzinfo=UTC), "0999-03-01T00:00:00Z"),  # four-digit years, as XSOAR reads them
    ],
)
def test_to_iso_z_gives_utc_to_the_second_with_z(moment, text):
    assert ThreatMon.to_iso_z(moment) == text


@pytest.mark.parametrize(
    ("alarm_date", "occurred"),
    [
        ("2024-01-31T08:00:05Z", "2024-01-31T08:00:05Z"),  # the form XSOAR takes: kept as sent
        ("2024-02-30T08:00:00Z", None),  # that form, but no date
        ("2024-01-31T25:00:00Z", None),
        ("2024-01-31T10:30:00+02:30", "2024-01-31T08:00:00Z"),
        ("2024-01-31T08:00:05.999Z", "2024-01-31T08:00:05Z"),
        ("2024-01-31 08:00:00 UTC", "2024-01-31T08:00:00Z"),
        (1706688000, "2024-01-31T08:00:00Z"),
        ("", None),
        (None, None),
    ],
)
def test_occurred_of_gives_utc_to_the_second_or_none(alarm_date, occurred):
    assert ThreatMon.occurred_of(alarm_date) == occurred


def test_to_iso_z_reads_a_naive_moment_as_local_time():
    naive = datetime(2024, 1, 31, 8, 0)
    assert ThreatMon.to_iso_z(naive) == naive.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
        ("/black market/removal", "must not contain whitespace or control characters"),
        ("/a/../takedown", "must not contain a . or .. segment"),
        ("/removal/{id}", "must be a URL path"),
        ('/removal/"x"', "must be a URL path"),
    ],
)
def test_parse_data_removal_path_refuses_what_is_not_a_path_under_the_server_url(value, words):
    with pytest.raises(ValueError, match=re.escape(words)) as error:
        parse_data_removal_path(value, BASE)
    assert str(error.value).startswith("Data removal API path (data_removal_path) must ")
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
        sim = make_sim(mocker, alarms=47, order="asc")
        result = list_alarms_command(make_client(), {"limit": limit, "page": "0"})
    assert len(sim.requests) == pages
    assert [alarm["alarmCode"] for alarm in result.outputs] == sim.codes()[: int(limit or 10)]


@pytest.mark.parametrize(("knobs", "pages"), [({"page_size": 5}, 4), ({"page_size": 25}, 1), ({"page_overlap": 1}, 3)])
def test_list_alarms_follows_the_pages_the_server_serves(knobs, pages):
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=47, order="asc", **knobs)
        result = list_alarms_command(make_client(), {"limit": "20"})
    assert len(sim.requests) == pages
    assert [alarm["alarmCode"] for alarm in result.outputs] == sim.codes()[:20]


def test_list_alarms_min_severity_and_start_page():
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=60, order="asc")
        result = list_alarms_command(make_client(), {"limit": "5", "page": "1", "min_severity": "high"})
    high = [alarm["alarmCode"] for alarm in sim.alarms()[10:] if alarm["severity"] in ("High", "Critical")]
    assert [alarm["alarmCode"] for alarm in result.outputs] == high[:5]
    last_page = 1 + sim.codes()[10:].index(high[4]) // 10
    assert list_calls(sim) == [(page, None) for page in range(1, last_page + 1)]


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


def status_answers(known: set[int], refuse: set[int] = frozenset()):
    """A status endpoint that changes nothing unless every code is known (one reading the documentation allows),
    answering 404 naming the unknown codes, and 403 for known codes that include one of ``refuse``."""

    def answer(request, context):
        codes = request.json()["alarmIds"]
        unknown = [code for code in codes if code not in known]
        if unknown:
            context.status_code = 404
            return {"message": f"Alarm(s) not found: {', '.join(map(str, unknown))}"}
        if set(codes) & refuse:
            context.status_code = 403
            return {"message": "Forbidden"}
        return {"success": True}

    return answer


def test_update_status_with_an_unknown_code_among_several_says_which_were_changed():
    with requests_mock.Mocker() as mocker:
        mocker.patch(STATUS_URL, json=status_answers(known={1, 3}))
        changed, failed = update_incident_status_command(make_client(), {"alarmId": "1,2,3", "status": "Resolved"})
        sent = [request.json()["alarmIds"] for request in mocker.request_history]
    assert sent == [[1, 2, 3], [1], [2], [3]]  # the refused PATCH, then one per code
    assert changed.outputs == [{"alarmCode": 1, "status": "Resolved"}, {"alarmCode": 3, "status": "Resolved"}]
    assert changed.readable_output.splitlines() == [
        "Alarm 1: status set to Resolved in ThreatMon.",
        "Alarm 3: status set to Resolved in ThreatMon.",
    ]
    assert failed.entry_type == EntryType.ERROR and failed.outputs is None
    lines = failed.readable_output.splitlines()
    assert lines[0] == "ThreatMon did not set the status Resolved of alarm(s) 2 (alarm(s) 1, 3 now have it):"
    assert lines[1].startswith("Alarm 2: ThreatMon answered HTTP 404 for PATCH ")
    assert "(ThreatMon said: Alarm(s) not found: 2)" in lines[1]


def test_update_status_with_every_code_unknown_is_an_error_naming_each():
    with requests_mock.Mocker() as mocker:
        mocker.patch(STATUS_URL, json=status_answers(known=set()))
        with pytest.raises(DemistoException) as caught:
            update_incident_status_command(make_client(), {"alarmId": "7,8", "status": "Open"})
        assert mocker.call_count == 3
    lines = str(caught.value).splitlines()
    assert lines[0] == "ThreatMon did not set the status Open of alarm(s) 7, 8 (no alarm was changed):"
    assert [line.split(":")[0] for line in lines[1:]] == ["Alarm 7", "Alarm 8"]


def test_update_status_one_by_one_stops_at_a_failure_that_is_not_about_the_code():
    with requests_mock.Mocker() as mocker:
        mocker.patch(STATUS_URL, json=status_answers(known={1, 3}, refuse={3}))
        changed, failed = update_incident_status_command(make_client(), {"alarmId": "1,2,3,4", "status": "Ignore"})
        assert mocker.call_count == 4  # the refused PATCH, 1, 2, then 3 refused as a whole: 4 is not sent
    assert [row["alarmCode"] for row in changed.outputs] == [1]
    lines = failed.readable_output.splitlines()
    assert lines[0] == "ThreatMon did not set the status Ignore of alarm(s) 2, 3, 4 (alarm(s) 1 now have it):"
    assert lines[2].startswith("Alarm 3: ThreatMon refused the API key (HTTP 403")
    assert lines[3] == "Alarm 4: not sent, after the failure of alarm 3."


def test_update_status_of_several_codes_refused_as_a_whole_is_one_error():
    with requests_mock.Mocker() as mocker:
        mocker.patch(STATUS_URL, status_code=401)
        with pytest.raises(ThreatMonError, match="refused the API key"):
            update_incident_status_command(make_client(), {"alarmId": "1,2", "status": "Open"})
        assert mocker.call_count == 1


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
            "(data_removal_path) is the path ThreatMon support gave.",
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
        "Data removal API path (data_removal_path) is empty, so no data removal request was sent: ThreatMon "
        "has not published the API path of data removal requests; ask ThreatMon support for it and enter it in this "
        "instance's settings."
    )


def test_the_client_refuses_a_data_removal_without_a_path():
    with requests_mock.Mocker() as mocker, pytest.raises(ValueError) as caught:
        make_client().request_data_removal(1, "x")
    assert mocker.call_count == 0
    assert str(caught.value) == "Data removal API path (data_removal_path) is empty, so no data removal request was sent."


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
        (remote_args(status=1, delta={"closeReason": ""}), "In Progress"),  # reopened
        (remote_args(status=0, delta={"closingUserId": ""}), "In Progress"),  # reopened, pending
        (remote_args(delta={"closeReason": "Resolved"}, changed=False), None),
    ],
)
def test_update_remote_system_sends_the_status_only_when_the_incident_closes(args, sent):
    with requests_mock.Mocker() as mocker:
        mocker.patch(STATUS_URL, text="")
        assert update_remote_system_command(make_client(), args) == "1000"
        bodies = [request.json() for request in mocker.request_history]
    assert bodies == ([{"status": sent, "alarmIds": [1000]}] if sent else [])


def test_update_remote_system_sends_exactly_once_per_close_and_once_per_reopen():
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
    assert bodies == ["Resolved", "In Progress", "Ignore"]


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
    server.context, server.health = {}, []
    serve_context(monkeypatch, lambda: server.context, lambda value: setattr(server, "context", value))
    monkeypatch.setattr(demisto, "updateModuleHealth", lambda message: server.health.append(message))
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


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"max_fetch": "5000"}, f"Failed to execute test-module: {MAX_FETCH_RULE} '5000'."),
        ({"min_severity": "Huge"}, "Failed to execute test-module: Minimum severity to fetch (min_severity) must be one of"),
        ({"credentials": {}}, "Failed to execute test-module: API Key (credentials) is empty"),
        ({"data_removal_path": "https://evil.example/removal"}, "Data removal API path (data_removal_path) must be a path under"),
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
        sim = make_sim(mocker, alarms=5, order="desc")
        run_main(xsoar)
    assert xsoar.last_run == {"state_version": 2, "last_alarm_code": sim.codes()[2]}
    assert codes_of(xsoar.incidents[0]) == sim.codes()[:3]
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


def test_main_fetch_third_run_without_progress_is_an_error_the_admin_sees_and_keeps_last_run(xsoar):
    xsoar.command = "fetch-incidents"
    xsoar.last_run = {"state_version": 2, "last_alarm_code": 5, "stalled_runs": 2}
    with requests_mock.Mocker() as mocker:
        mocker.get(f"{BASE}/vulnerabilities/0", json=page_of(list(range(30, 20, -1)), 25))
        mocker.get(f"{BASE}/vulnerabilities/2", json=page_of([29, 30], 25))  # a last page that never comes descending
        with pytest.raises(Exception, match="Failed to execute fetch-incidents: ThreatMon's alarm list could not be read"):
            ThreatMon.main()
    assert xsoar.last_run == {"state_version": 2, "last_alarm_code": 5, "stalled_runs": 2}
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
        "Failed to execute threatmon_request_data_removal: Data removal API path (data_removal_path) is empty"
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


# ================================================================ incoming mirroring


def serve_context(monkeypatch, read: Callable[[], dict], write: Callable[[dict], None]) -> None:
    """The server's integration context, read and written (as JSON) through ``read`` and ``write``, in any version."""
    monkeypatch.setattr(
        demisto, "getIntegrationContextVersioned", lambda refresh=False: {"context": json.loads(json.dumps(read())), "version": 1}
    )
    monkeypatch.setattr(
        demisto, "setIntegrationContextVersioned", lambda value, version=-1, sync=False: write(json.loads(json.dumps(value)))
    )


class Context:
    """The integration context as the server keeps it: its value, its version (one more with each write; a write with
    an older version is refused with a ValueError, as the server refuses it), and how many times it was written.
    ``meanwhile``: writes another run makes between this run's next read and its write."""

    def __init__(self):
        self.value: dict = {}
        self.version = 0
        self.writes = 0
        self.meanwhile: list[dict] = []

    def get(self) -> dict:
        return copy.deepcopy(self.value)

    def set(self, value: dict) -> None:
        self.value = json.loads(json.dumps(value))  # what the server stores is JSON
        self.version += 1
        self.writes += 1

    def get_versioned(self, refresh: bool = False) -> dict:
        assert refresh  # the integration reads the context as the server holds it now
        answer = {"context": self.get(), "version": self.version}
        if self.meanwhile:
            other = self.meanwhile.pop(0)
            self.value = {**self.value, **json.loads(json.dumps(other))}
            self.version += 1
        return answer

    def set_versioned(self, value: dict, version: int = -1, sync: bool = False) -> None:
        assert sync  # written to the server at once, not at the end of the command
        if version != self.version:
            raise ValueError(f"version {version} is older than the context's {self.version}")
        self.set(value)

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
    monkeypatch.setattr(demisto, "getIntegrationContextVersioned", ctx.get_versioned)
    monkeypatch.setattr(demisto, "setIntegrationContextVersioned", ctx.set_versioned)
    return ctx


@pytest.fixture
def logs(monkeypatch) -> list[str]:
    lines: list[str] = []
    monkeypatch.setattr(demisto, "debug", lambda message, *args: lines.append(str(message)))
    return lines


def mirror_client(**kwargs) -> Client:
    return Client(BASE, API_KEY, max_attempts=1, sleep=lambda _seconds: None, **kwargs)


def mirror_settings(**overrides) -> Settings:
    values = {"mirror_direction": "In", "close_incident": True, "mirror_max_requests": 5, **overrides}
    return Settings(base_url=BASE, api_key=API_KEY, **values)


def alarm_list(mocker: requests_mock.Mocker, codes, order: str = "asc", **knobs) -> MockThreatMon:
    """ThreatMon listing exactly ``codes`` (all Open; alarms created later take the next codes)."""
    return make_sim(mocker, codes=tuple(codes), order=order, **knobs)


def cycle(sim: MockThreatMon, settings: Settings | None = None) -> list[str]:
    """One get-modified-remote-data, as XSOAR runs it (a new client each time)."""
    response = get_modified_remote_data_command(mirror_client(), {"lastUpdate": LAST_UPDATE}, settings or mirror_settings())
    return response.modified_incident_ids


def sweep_until_done(sim: MockThreatMon, memory: MirrorMemory, budget: int, max_cycles: int = 20000):
    """Cycles (MirrorSweep + commit) until one completes the sweep. Returns (cycles, requests, codes read)."""
    cycles, requests, read = 0, 0, set()
    while cycles < max_cycles:
        sweep = MirrorSweep(mirror_client(), memory, budget)
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


def test_fetched_alarms_join_with_their_status_but_not_closed_or_codeless_ones():
    memory = MirrorMemory()
    remember_fetched_alarms(memory, {7: "Open", 8: None, 9: "Resolved", 10: "Ignore", 0: "Open"})
    assert memory.alarms == {7: "Open", 8: None}


def test_past_the_bound_the_oldest_alarms_stop_being_mirrored_and_the_log_says_so(logs):
    memory = MirrorMemory(alarms=dict.fromkeys(range(1, MAX_MIRRORED_ALARMS + 1), "Open"))
    remember_fetched_alarms(memory, {MAX_MIRRORED_ALARMS + 1: None, MAX_MIRRORED_ALARMS + 2: "Open"})
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
        fake = alarm_list(mocker, listed, order)
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
        fake = alarm_list(mocker, range(1, 31), order)
        first = sweep_until_done(fake, memory, 2)
        second = sweep_until_done(fake, memory, 2)
    assert first[2] == second[2] == set(range(1, 31))
    assert second[1] <= first[1]


def test_a_cycle_with_nothing_remembered_sends_nothing(context):
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, range(1, 20))
        assert cycle(fake) == []
    assert fake.requests == []
    assert context.writes == 0


@pytest.mark.parametrize("direction", [None, "Out"])
def test_without_incoming_mirroring_a_cycle_reads_and_writes_nothing(context, direction):
    context.remember({1: "Open"})
    before = copy.deepcopy(context.value)
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, [1], "asc")
        fake.set_portal_status(1, "Resolved")
        assert cycle(fake, mirror_settings(mirror_direction=direction)) == []
    assert fake.requests == []
    assert context.value == before


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_the_window_of_each_remembered_alarm_is_asked_for_directly(order):
    """Remembered alarms far apart: each window starts at afterAlarmCode = code - 1, nothing in between is read."""
    memory = MirrorMemory(alarms={5: "Open", 500: "Open", 900: "Open"}, order="ascending" if order == "asc" else None)
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, range(1, 1001), order)
        sweep_until_done(fake, memory, 10)
    assert sorted({after for _, after in list_calls(fake)}) == [4, 499, 899]


@pytest.mark.parametrize("page_size", [5, 20, 25])
def test_a_page_size_other_than_ten_is_learnt_from_page_0(page_size):
    memory = MirrorMemory(alarms=dict.fromkeys(range(1, 101), "Open"))
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, range(1, 101), "desc", page_size=page_size)
        _, requests, read = sweep_until_done(fake, memory, 5)
    assert read == set(range(1, 101))
    assert requests <= math.ceil(100 / page_size) + 2
    assert memory.page_size == page_size


@pytest.mark.parametrize(
    ("order", "totals", "ignore_filter"),
    [("unsorted", True, False), ("desc", False, False), ("asc", True, True), ("desc", True, True)],
)
def test_a_list_the_windows_cannot_use_is_read_page_by_page_and_nothing_is_missed(order, totals, ignore_filter):
    memory = MirrorMemory(alarms=dict.fromkeys(range(20, 61, 4), "Open"))
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, range(1, 71), order, total_records="exact" if totals else "missing")
        fake.set(after_filter="ignored" if ignore_filter else "greater")
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
        fake = alarm_list(mocker, range(1, 31), order)
        fake.set(total_records=total)
        _, requests, read = sweep_until_done(fake, memory, 5)
    assert read == set(range(1, 31))
    assert requests <= 2 + 3 + 1


@pytest.mark.parametrize(("before", "now"), [("descending", "asc"), ("ascending", "desc")])
def test_a_list_whose_order_changed_since_the_last_cycle_is_still_read_whole(before, now):
    memory = MirrorMemory(alarms=dict.fromkeys(range(1, 31), "Open"), order=before, hint={"after": 0, "page": 2})
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, range(1, 31), now)
        _, _, read = sweep_until_done(fake, memory, 5)
    assert read == set(range(1, 31))
    assert memory.order == ("ascending" if now == "asc" else "descending")


def test_a_remembered_alarm_above_every_listed_one_ends_the_sweep():
    memory = MirrorMemory(alarms={3: "Open", 60: "Open"}, order="descending", through=3, hint={"after": 59, "page": 4})
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, range(1, 41), "desc")
        sweep = MirrorSweep(mirror_client(), memory, 5)
        sweep.run()
    assert (sweep.requests, sweep.swept) == (1, True)
    assert list_calls(fake) == [(4, 59)]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("every", [1, 3])
def test_alarms_created_between_requests_do_not_stop_a_sweep(order, every):
    memory = MirrorMemory(alarms=dict.fromkeys(range(1, 101), "Open"))
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, range(1, 101), order)
        fake.set(insert_at=dict.fromkeys(range(0, 399, every), 1))
        _, requests, read = sweep_until_done(fake, memory, 5)
    assert read == set(range(1, 101))
    assert requests <= 2 * 100


def test_an_alarm_missing_from_its_window_in_one_sweep_is_only_marked_absent():
    memory = MirrorMemory(alarms={3: "Open", 40: "Open", 41: "Open"})
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, [1, 2, 41, 42], "desc")
        _, _, read = sweep_until_done(fake, memory, 5)
    assert read == {41}
    assert memory.alarms == {3: "Open", 40: "Open", 41: "Open"}
    assert memory.absent == {3: 0, 40: 0} and memory.pending == {} and memory.sweeps == 1


# ---------------------------------------------------------------- changes


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_a_status_set_in_threatmon_is_reported_once_and_collected_by_get_remote_data(context, order):
    context.remember(dict.fromkeys(range(1, 26), "Open"))
    settings = mirror_settings(close_incident=False)
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, range(1, 26), order)
        fake.set_portal_status(7, "In Progress")
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
        fake = alarm_list(mocker, [7])
        fake.set_portal_status(7, status)
        cycle(fake)
        requests = len(fake.requests)
        response = get_remote_data_command({"id": "7", "lastUpdate": LAST_UPDATE}, mirror_settings(close_incident=close_incident))
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
        fake = alarm_list(mocker, [7])
        fake.set_portal_status(7, "In Progress")
        cycle(fake)
    mirrored = get_remote_data_command({"id": "7", "lastUpdate": LAST_UPDATE}, mirror_settings()).mirrored_object
    assert {key: fields.get(key) for key in mirrored} == {"alarmCode": "ThreatMon Alarm Code", "status": "ThreatMon Status"}


def test_each_close_reason_mirrors_back_to_the_same_threatmon_status():
    for status, reason in ThreatMon.CLOSING_STATUSES.items():
        assert ThreatMon.close_reason_to_status(reason) == status


@pytest.mark.parametrize("status", ["Resolved", "False Positive", "Ignore"])
def test_an_alarm_closed_in_threatmon_leaves_the_memory(context, status):
    context.remember({1: "Open", 2: "Open"})
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, [1, 2])
        fake.set_portal_status(1, status)
        assert cycle(fake) == ["1"]
    assert context.memory.alarms == {2: "Open"}


def test_get_remote_data_without_a_change_answers_nothing_to_update(context):
    context.remember({7: "Open"})
    response = get_remote_data_command({"id": "7", "lastUpdate": LAST_UPDATE}, mirror_settings())
    assert (response.mirrored_object, response.entries, response.extract_for_local()) == ({}, [], None)
    assert context.writes == 0


@pytest.mark.parametrize(
    ("value", "got"), [(None, "got nothing."), ("", "got nothing."), ("abc", "got 'abc'."), ("-4", "got '-4'.")]
)
def test_get_remote_data_refuses_an_id_that_is_not_an_alarm_code(context, value, got):
    with pytest.raises(ValueError, match="The id argument must be the ThreatMon alarm code") as error:
        get_remote_data_command({"id": value, "lastUpdate": LAST_UPDATE}, mirror_settings())
    assert str(error.value).endswith(got)


def test_a_change_xsoar_does_not_collect_is_reported_a_few_cycles_then_dropped(context, logs):
    context.remember({1: "Open", 2: "Open"})
    reports = []
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, [1, 2])
        fake.set_portal_status(1, "In Progress")
        for _ in range(MIRROR_PENDING_REPORTS + 2):
            reports.append(cycle(fake))
    assert reports == [["1"]] * MIRROR_PENDING_REPORTS + [[], []]
    assert any("did not collect the change of alarm 1" in line for line in logs)


def test_a_newer_status_replaces_a_change_not_collected_yet(context):
    context.remember({1: "Open"})
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, [1])
        fake.set_portal_status(1, "In Progress")
        cycle(fake)
        fake.set_portal_status(1, "Resolved")
        assert cycle(fake) == ["1"]
    response = get_remote_data_command({"id": "1", "lastUpdate": LAST_UPDATE}, mirror_settings())
    assert response.mirrored_object["status"] == "Resolved"
    assert len(response.entries) == 1


# ---------------------------------------------------------------- faults


def test_a_failed_first_request_raises_and_leaves_the_memory_untouched(context):
    context.remember(dict.fromkeys(range(1, 40), "Open"), through=12)
    before = copy.deepcopy(context.value)
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, range(1, 40))
        fake.set_portal_status(20, "Resolved")
        fake.set(faults=[f"#{1 - 1}=429"])
        with pytest.raises(ThreatMon.ThreatMonError, match="rate limiting"):
            cycle(fake)
    assert len(fake.requests) == 1  # no retry: a retry would be a request over the budget
    assert context.value == before


@pytest.mark.parametrize("failing", [2, 3, 5])
def test_a_failure_mid_cycle_keeps_what_was_read_and_the_next_cycle_carries_on(context, failing):
    context.remember(dict.fromkeys(range(1, 101), "Open"))
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, range(1, 101))
        fake.set_portal_status(5, "Resolved")
        fake.set_portal_status(95, "Ignore")
        fake.set(faults=[f"#{failing - 1}=503"])
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
        fake = alarm_list(mocker, [1, 2, 3])
        fake.set_portal_status([2, 3], "Resolved")
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
        update_remote_system_command(mirror_client(), close_args(), mirror_in=True)
    assert seen_during_patch == [{7: "False Positive"}]
    assert context.memory.alarms == {8: "Open"}
    assert context.memory.sent == {}


def test_what_the_list_says_about_an_alarm_xsoar_is_closing_is_no_incoming_change(context):
    context.remember({7: "Open"}, sent={7: "False Positive"})
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, [7])
        fake.set_portal_status(7, "False Positive")
        assert cycle(fake) == []
    assert context.memory.pending == {}


def test_a_failed_outgoing_close_keeps_the_alarm_marked_as_being_closed(context):
    context.remember({7: "Open"})
    with requests_mock.Mocker() as mocker:
        mocker.patch(STATUS_URL, status_code=500)
        with pytest.raises(ThreatMon.ThreatMonError):
            update_remote_system_command(mirror_client(), close_args(), mirror_in=True)
    assert context.memory.sent == {7: "False Positive"}
    assert context.memory.alarms == {7: "Open"}


def test_a_close_that_threatmon_sent_in_is_not_sent_back(context):
    context.remember({7: "Open"})
    with requests_mock.Mocker() as mocker:
        patch = mocker.patch(STATUS_URL, text="")
        notes = f"{CLOSED_BY_THREATMON}: the alarm's status is Resolved."
        assert update_remote_system_command(mirror_client(), close_args(notes=notes), mirror_in=True) == "7"
    assert patch.call_count == 0


def test_an_outgoing_close_without_incoming_mirroring_writes_no_context(context):
    with requests_mock.Mocker() as mocker:
        patch = mocker.patch(STATUS_URL, text="")
        update_remote_system_command(mirror_client(), close_args(), mirror_in=False)
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


def run_mirror_main(srv, command: str, args: dict | None = None) -> list:
    srv.command, srv.args, srv.results = command, args or {}, []
    with contextlib.suppress(SystemExit):
        ThreatMon.main()
    return srv.results


def test_main_fetch_with_incoming_mirroring_remembers_the_fetched_alarms(server, context):
    with requests_mock.Mocker() as mocker:
        alarm_list(mocker, range(1, 13))
        run_mirror_main(server, "fetch-incidents")
    incidents = server.incidents[0]
    assert {incident["dbotMirrorDirection"] for incident in incidents} == {"Both"}
    assert context.memory.alarms == dict.fromkeys(range(1, 13), "Open")


@pytest.mark.parametrize("direction", ["None", "Outgoing", "", None])
def test_main_fetch_without_incoming_mirroring_sends_the_same_requests_and_writes_no_mirroring_memory(server, context, direction):
    def requests_of(params):
        server.params, server.last_run = params, {}
        with requests_mock.Mocker() as mocker:
            fake = alarm_list(mocker, range(1, 26), "desc")
            run_mirror_main(server, "fetch-incidents")
        return list_calls(fake)

    incoming = requests_of({**server.params, "mirror_direction": "Incoming"})
    context.value, context.writes = {}, 0
    assert requests_of({**server.params, "mirror_direction": direction}) == incoming
    assert context.writes == 1  # the fetch health record, the only key written
    assert list(context.value) == ["fetch_health"]


def test_main_runs_a_mirroring_cycle_then_get_remote_data(server, context):
    server.params = {**server.params, "close_incident": "true", "mirror_max_requests": "2"}
    context.remember(dict.fromkeys(range(1, 60), "Open"))
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, range(1, 60))
        fake.set_portal_status(3, "Resolved")
        modified = run_mirror_main(server, "get-modified-remote-data", {"lastUpdate": LAST_UPDATE})
        remote = run_mirror_main(server, "get-remote-data", {"id": "3", "lastUpdate": LAST_UPDATE})
    assert len(fake.requests) == 2
    assert modified == [{"Contents": ["3"], "Type": EntryType.NOTE, "ContentsFormat": EntryFormat.JSON}]
    assert remote[0][0] == {"alarmCode": 3, "status": "Resolved"}
    assert remote[0][1]["Contents"]["dbotIncidentClose"] is True


def test_main_a_cycle_that_read_nothing_tells_xsoar_to_skip_the_update(server, context):
    context.remember({1: "Open"})
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, [1])
        fake.set(faults=[f"#{1 - 1}=502"])
        results = run_mirror_main(server, "get-modified-remote-data", {"lastUpdate": LAST_UPDATE})
    assert len(fake.requests) == 1
    assert results[-1]["Type"] == EntryType.ERROR
    assert results[-1]["Contents"].startswith("skip update. error: Failed to execute get-modified-remote-data: ThreatMon")


def test_main_update_remote_system_with_incoming_mirroring_forgets_the_closed_alarm(server, context):
    context.remember({7: "Open"})
    with requests_mock.Mocker() as mocker:
        mocker.patch(STATUS_URL, text="")
        results = run_mirror_main(server, "update-remote-system", close_args())
    assert results == ["7"]
    assert context.memory.alarms == {}


def test_fetch_incidents_itself_never_touches_the_context(context):
    with requests_mock.Mocker() as mocker:
        alarm_list(mocker, range(1, 5))
        _, incidents = fetch_incidents(mirror_client(), {}, mirror_settings(mirror_instance="x"))
    assert len(incidents) == 4
    assert context.writes == 0


# ---------------------------------------------------------------- the alarm-list reader


def answer_of(codes: list[int], total) -> dict:
    return {"data": [{"alarmCode": code} for code in codes], "totalRecords": total}


@pytest.mark.parametrize(
    ("number", "codes", "total", "step", "believed"),
    [
        (0, [9, 8, 7], 3, None, 3),
        (0, [9, 8, 7], 2, None, None),  # page 0 alone lists more alarms than the count
        (2, [5, 4], 4, None, 4),  # the two pages before it hold at least one alarm each
        (2, [5, 4], 3, None, None),
        (2, [5, 4], 4, 10, None),  # with a proven step of 10 the list holds at least 22 alarms
        (2, [], 3, 10, 3),  # an empty page past the end contradicts no count
        (1, [5], "7", None, 7),  # a number sent as text is a count
        (1, [5], "seven", None, None),
    ],
)
def test_the_reader_believes_totalrecords_unless_the_page_contradicts_it(number, codes, total, step, believed):
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json=answer_of(codes, total))
        reader = ThreatMon.AlarmList(make_client(), ThreatMon.ListGeometry(10 if step else None, step))
        page = reader.read(number, None)
    assert (page.total, page.reported_total, page.codes) == (believed, total, codes)


def test_the_reader_reads_each_alarms_code_once_keeping_the_first_of_each_code_and_the_codeless_alarms():
    first, again, codeless = {"alarmCode": 7, "title": "a"}, {"alarmCode": "7", "title": "b"}, {"title": "no code"}
    data = [first, {"alarmCode": 5}, again, codeless, "not an alarm", {"alarmCode": True}]
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json={"data": data, "totalRecords": 6})
        page = ThreatMon.AlarmList(make_client()).read(0, None)
    assert page.codes == [7, 5, 7]
    assert page.by_code == {7: first, 5: {"alarmCode": 5}}
    assert page.codeless == [codeless, {"alarmCode": True}]  # a true/false "code" is no code


def test_the_reader_learns_the_size_from_page_zero_and_drops_it_for_a_longer_page():
    with requests_mock.Mocker() as mocker:
        mocker.get(f"{BASE}/vulnerabilities/0", json=answer_of([9, 8, 7], 20))
        mocker.get(f"{BASE}/vulnerabilities/1", json=answer_of([6, 5, 4, 3], 20))
        reader = ThreatMon.AlarmList(make_client(), ThreatMon.ListGeometry(10, 10))
        first = reader.read(0, None)
        assert (reader.geometry.size, reader.geometry.step, first.order) == (3, None, "descending")
        assert reader.is_short(ThreatMon.AlarmPage(5, [{}, {}], None, None))
        reader.read(1, None)
    assert (reader.geometry.size, reader.geometry.step, reader.requests) == (None, None, 2)


@pytest.mark.parametrize(
    ("stored", "geometry", "kept"),
    [
        ({"page_size": 10, "page_step": 9, "order": "descending"}, (10, 9, "descending"), (10, 9)),
        ({"page_size": 10}, (10, None, None), (None, None)),
        ({"page_size": 0, "page_step": 1, "order": "sideways"}, (None, None, None), (None, None)),
        ({"page_size": 5, "page_step": 6}, (5, None, None), (None, None)),
        ("damaged", (None, None, None), (None, None)),
    ],
)
def test_the_list_geometry_has_one_stored_form(stored, geometry, kept):
    loaded = ThreatMon.ListGeometry.load(stored)
    assert (loaded.size, loaded.step, loaded.order) == geometry
    assert ThreatMon.ListGeometry.load(loaded.stored()) == loaded
    proven = loaded.proven()  # what the fetch keeps in lastRun: a size with its step, never an order
    assert (proven.size, proven.step, proven.order) == (*kept, None)


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_list_alarms_shows_every_alarm_of_pages_that_overlap(order):
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=47, order=order, page_size=5, page_overlap=1)
        result = list_alarms_command(make_client(), {"limit": "50"})
    assert sorted(entry["alarmCode"] for entry in result.outputs) == sim.codes()
    assert len(list_calls(sim)) == 12  # pages 0 to 11 of a step of 4: the last one is short


@pytest.mark.parametrize("direction", ["In", "Both", "Out", None])
def test_fetch_hands_incoming_mirroring_the_statuses_as_fetched(direction):
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=12, order="desc", codeless_pinned=2)
        settings = make_settings(max_fetch=100, mirror_direction=direction)
        outcome = ThreatMon.fetch_alarms(make_client(), {}, settings, now=NOW)
    coded = [incident for incident in outcome.incidents if "dbotMirrorId" in incident]
    assert len(coded) == len(sim.codes()) and len(outcome.incidents) == len(coded) + 2
    fetched = {int(incident["dbotMirrorId"]): status_of(json.loads(incident["rawJSON"])) for incident in coded}
    assert outcome.statuses == fetched  # whatever the mirroring direction: the sync command's memory takes them too


# ---------------------------------------------------------------- alarms that leave the list


def gone(code: int, previous: str | None = "Open") -> dict:
    return {"status": previous or "", "reported": 0, "previous": previous or "", "listed": False}


@pytest.mark.parametrize("order", ["asc", "desc", "unsorted"])
def test_an_alarm_absent_in_two_sweeps_in_a_row_is_no_longer_listed(order):
    memory = MirrorMemory(alarms={3: "Open", 40: "In Progress", 41: "Open", 60: "Open"})
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, [1, 2, 41, 42, 60], order)
        sweep_until_done(fake, memory, 2)
        assert memory.alarms.keys() == {3, 40, 41, 60} and memory.pending == {}
        sweep = MirrorSweep(mirror_client(), memory, 100)
        sweep.run()
        assert sweep.commit(memory) == [3, 40]
    assert sweep.gone == [3, 40]
    assert memory.pending == {3: gone(3), 40: gone(40, "In Progress")}
    assert memory.alarms == {41: "Open", 60: "Open"} and memory.absent == {}


@pytest.mark.parametrize("order", ["asc", "desc", "unsorted"])
def test_one_hole_in_one_answer_proves_nothing(order):
    """Alarm 15 is missing from the answers of the first sweep only, then from those of the third: never two sweeps
    in a row, so it is never taken for an alarm that left."""
    codes = list(range(1, 31))
    memory = MirrorMemory(alarms=dict.fromkeys(codes, "Open"))
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, codes, order, open_only=True)
        for listed in (False, True, False):
            fake.set_portal_status(15, "Open" if listed else "Ignore")
            sweep_until_done(fake, memory, 3)
            assert memory.pending == {} and 15 in memory.alarms
        assert memory.absent == {15: 2}
        fake.set_portal_status(15, "Open")
        sweep_until_done(fake, memory, 3)
    assert memory.absent == {} and memory.pending == {}


def test_a_page_by_page_read_over_several_cycles_remembers_what_it_saw():
    codes = list(range(1, 101))
    memory = MirrorMemory(alarms=dict.fromkeys(codes, "Open"))
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, codes, "unsorted", open_only=True)
        for _ in range(3):
            cycles, _, _ = sweep_until_done(fake, memory, 2)
            assert cycles > 2  # the read spans several cycles
        assert memory.absent == {} and memory.pending == {} and len(memory.alarms) == 100
        fake.set_portal_status(77, "Resolved")
        sweep_until_done(fake, memory, 2)
        sweep_until_done(fake, memory, 2)
    assert memory.pending == {77: gone(77)} and len(memory.alarms) == 99


def test_a_read_that_never_reaches_the_end_of_the_list_concludes_nothing(monkeypatch):
    monkeypatch.setattr(ThreatMon, "MIRROR_SCAN_MAX_PAGES", 2)
    memory = MirrorMemory(alarms=dict.fromkeys(range(1, 61), "Open"))
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, range(1, 61), "unsorted")
        for _ in range(3):
            sweep_until_done(fake, memory, 10)
    assert memory.absent == {} and memory.pending == {}


@pytest.mark.parametrize("close_incident", [True, False])
def test_get_remote_data_notes_an_alarm_no_longer_listed_and_closes_it_with_other(context, close_incident):
    context.remember({7: "In Progress", 9: "Open"}, absent={7: 0}, sweeps=1)
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, [9])
        assert cycle(fake) == ["7"]
    assert context.memory.alarms == {9: "Open"}
    response = get_remote_data_command({"id": "7", "lastUpdate": LAST_UPDATE}, mirror_settings(close_incident=close_incident))
    assert response.mirrored_object == {"alarmCode": 7, "status": "In Progress", "listed": False}
    note = "ThreatMon no longer lists alarm 7; it was closed or removed there."
    assert response.entries[0] == {"Type": EntryType.NOTE, "ContentsFormat": EntryFormat.TEXT, "Contents": note}
    closing = [entry["Contents"] for entry in response.entries[1:]]
    expected = [{"dbotIncidentClose": True, "closeReason": "Other", "closeNotes": f"Closed by ThreatMon: {note}"}]
    assert closing == (expected if close_incident else [])


def test_other_would_map_back_to_resolved_but_its_close_notes_keep_outgoing_mirroring_from_sending_it():
    assert ThreatMon.NOT_LISTED_CLOSE_REASON == "Other"
    assert ThreatMon.close_reason_to_status("Other") == ThreatMon.close_reason_to_status("Resolved - Other") == "Resolved"
    with requests_mock.Mocker() as mocker:
        patch = mocker.patch(STATUS_URL, text="")
        notes = f"{CLOSED_BY_THREATMON}: ThreatMon no longer lists alarm 7; it was closed or removed there."
        update_remote_system_command(mirror_client(), close_args(notes=notes), mirror_in=False)
    assert patch.call_count == 0


def test_the_debug_line_counts_alarms_no_longer_listed_absent_and_enrolled(context, logs):
    context.remember({5: "Open", 6: "Open", 8: "Open"}, absent={5: 0}, sweeps=1, enrol_to=4)
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, [1, 2, 8])
        fake.set_portal_status(2, "Resolved")
        assert cycle(fake) == ["5"]
    line = next(line for line in logs if line.startswith("ThreatMon incoming mirroring (last update"))
    assert "0 changed, 1 no longer listed, 2 absent from their window, 1 enrolled" in line
    assert context.memory.absent == {6: 1} and context.memory.alarms == {1: "Open", 6: "Open", 8: "Open"}


def test_the_new_parts_of_the_memory_round_trip_and_damaged_ones_are_dropped():
    memory = MirrorMemory(
        alarms={4: "Open", 9: None},
        pending={3: {"status": "Open", "reported": 1, "previous": "Open", "listed": False}},
        absent={4: 2},
        scan={"after": 3, "page": 2},
        scan_seen=[4],
        sweeps=3,
        enrol_to=50,
        enrolled=20,
        job=True,
    )
    stored = memory.to_context()
    assert MirrorMemory.load(stored) == memory
    damaged = {**stored, "absent": {"4": "x", "77": 1, "y": 2}, "scan_seen": "4", "sweeps": -3, "enrolled": "z", "job": "yes"}
    loaded = MirrorMemory.load(damaged)
    assert (loaded.absent, loaded.scan_seen, loaded.sweeps, loaded.enrolled, loaded.job) == ({}, [], 0, 0, False)


# ---------------------------------------------------------------- alarms fetched before the switch


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("budget", [1, 3])
def test_alarms_at_or_below_the_watermark_still_open_are_enrolled_within_the_budget(order, budget):
    memory = MirrorMemory(alarms=dict.fromkeys(range(81, 96), "Open"), enrol_to=80)
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, range(1, 96), order)
        for code in range(1, 81, 4):
            fake.set_portal_status(code, "Resolved")
        for code in range(2, 81, 8):
            fake.set_portal_status(code, "In Progress")
        statuses = {alarm["alarmCode"]: alarm["status"] for alarm in fake.alarms()}
        cycles = 0
        while memory.enrolled < 80:
            sweep = MirrorSweep(mirror_client(), memory, budget)
            sweep.run()
            sweep.commit(memory)
            assert sweep.requests <= budget
            cycles += 1
    expected = {code: statuses[code] for code in range(1, 81) if statuses[code] != "Resolved"}
    assert {code: memory.alarms[code] for code in memory.alarms if code <= 80} == expected
    enrolment = math.ceil(80 / 10) * (1 if order == "asc" else 2)  # the README's E for L = 80 listed alarms
    assert len([after for _page, after in list_calls(fake) if after is not None and after < 80]) <= enrolment
    assert cycles <= math.ceil(enrolment / budget)
    assert memory.pending == {}  # enrolment reports nothing: the statuses are the ones the incidents have


def test_enrolment_is_bounded_like_the_memory(monkeypatch):
    monkeypatch.setattr(ThreatMon, "MAX_MIRRORED_ALARMS", 20)
    memory = MirrorMemory(alarms=dict.fromkeys(range(101, 106), "Open"), enrol_to=100)
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, range(1, 106))
        sweep_until_done(fake, memory, 100)
    assert memory.alarms.keys() == set(range(86, 106))  # the newest stay, the fetched ones among them


def test_only_the_first_fetch_that_keeps_the_memory_sets_the_enrolment_watermark():
    memory = MirrorMemory()
    memory.start_enrolment(None)
    assert memory.enrol_to is None
    memory.start_enrolment(0)
    memory.start_enrolment(500)
    assert memory.enrol_to == 0 and not memory.enrolling


@pytest.mark.parametrize(
    ("last_run", "enrol_to"),
    [
        ({}, 0),
        ({"state_version": 2, "last_alarm_code": 7}, 7),
        ({"last_incident_id": 5, "page": 1}, None),  # a 1.0.x position: enrolment waits for a watermark
    ],
)
def test_main_the_first_fetch_with_incoming_mirroring_notes_the_watermark_it_started_from(server, context, last_run, enrol_to):
    server.last_run = last_run
    with requests_mock.Mocker() as mocker:
        alarm_list(mocker, range(1, 13))
        run_mirror_main(server, "fetch-incidents")
    assert context.memory.enrol_to == enrol_to


# ---------------------------------------------------------------- reopened incidents


def reopen_args(code: int = 7, delta: dict | None = None) -> dict:
    delta = {"closeReason": "", "closingUserId": "", "closed": "0001-01-01T00:00:00Z"} if delta is None else delta
    return {"remoteId": str(code), "status": IncidentStatus.ACTIVE, "incidentChanged": True, "delta": delta, "data": {}}


@pytest.mark.parametrize("mirror_in", [True, False])
def test_a_reopen_sets_in_progress_once_and_the_alarm_is_followed_again(context, mirror_in):
    with requests_mock.Mocker() as mocker:
        patch = mocker.patch(STATUS_URL, text="")
        assert update_remote_system_command(mirror_client(), reopen_args(), mirror_in=mirror_in) == "7"
        assert patch.last_request.json() == {"status": REOPEN_STATUS, "alarmIds": [7]}
        update_remote_system_command(mirror_client(), reopen_args(delta={"details": "still looking"}), mirror_in=mirror_in)
    assert patch.call_count == 1
    if mirror_in:
        assert context.memory.alarms == {7: "In Progress"} and context.memory.sent == {}
    else:
        assert context.writes == 0


def test_a_reopened_alarm_is_read_again_and_a_new_status_arrives(context):
    context.remember({8: "Open"})
    with requests_mock.Mocker() as mocker:
        mocker.patch(STATUS_URL, text="")
        update_remote_system_command(mirror_client(), reopen_args(), mirror_in=True)
        fake = alarm_list(mocker, [7, 8])
        fake.set_portal_status(7, "False Positive")
        assert cycle(fake) == ["7"]
    assert context.memory.pending[7]["status"] == "False Positive"


def test_a_failed_reopen_keeps_the_alarm_marked_and_raises(context):
    with requests_mock.Mocker() as mocker:
        mocker.patch(STATUS_URL, status_code=500)
        with pytest.raises(ThreatMon.ThreatMonError):
            update_remote_system_command(mirror_client(), reopen_args(), mirror_in=True)
    assert context.memory.sent == {7: REOPEN_STATUS} and context.memory.alarms == {}


# ---------------------------------------------------------------- the sync command


def test_the_sync_command_returns_each_change_once_and_mirroring_does_not_report_it_again(context):
    context.remember({3: "Open", 4: "Open", 5: "In Progress"}, absent={5: 0}, sweeps=1)
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, [3, 4])
        fake.set_portal_status(3, "Ignore")
        fake.set_portal_status(4, "In Progress")
        result = sync_alarm_statuses_command(mirror_client(), {}, mirror_settings(mirror_direction=None))
        assert cycle(fake) == []
        again = sync_alarm_statuses_command(mirror_client(), {}, mirror_settings(mirror_direction=None))
    note = "ThreatMon no longer lists alarm 5; it was closed or removed there."
    assert result.outputs == [
        {"alarmCode": 3, "oldStatus": "Open", "newStatus": "Ignore", "listed": True, "closeReason": "Duplicate",
         "closeNotes": "Closed by ThreatMon: the alarm's status is Ignore."},
        {"alarmCode": 4, "oldStatus": "Open", "newStatus": "In Progress", "listed": True, "closeReason": None,
         "closeNotes": None},
        {"alarmCode": 5, "oldStatus": "In Progress", "newStatus": None, "listed": False, "closeReason": "Other",
         "closeNotes": f"Closed by ThreatMon: {note}"},
    ]  # fmt: skip
    assert result.outputs_prefix == "ThreatMon.AlarmStatusChange" and result.outputs_key_field == "alarmCode"
    assert "| 5 | In Progress | (no longer listed) | Other |" in result.readable_output
    assert again.outputs == []
    assert context.memory.alarms == {4: "In Progress"} and context.memory.job


@pytest.fixture
def pauses(monkeypatch) -> list[float]:
    taken: list[float] = []
    monkeypatch.setattr(ThreatMon.time, "sleep", taken.append)
    return taken


def test_a_context_write_another_run_wrote_past_is_made_again_on_what_that_run_wrote(context, logs, pauses):
    context.value = {ThreatMon.HEALTH_CONTEXT_KEY: {"runs": 1}}
    context.meanwhile = [{ThreatMon.HEALTH_CONTEXT_KEY: {"runs": 2}}]  # another run writes between this run's read and its write
    seen = []

    def change(value: dict) -> str:
        seen.append(value[ThreatMon.HEALTH_CONTEXT_KEY]["runs"])
        value["other"] = value[ThreatMon.HEALTH_CONTEXT_KEY]["runs"]
        return "written"

    assert ThreatMon.change_integration_context(change) == "written"
    assert context.value == {ThreatMon.HEALTH_CONTEXT_KEY: {"runs": 2}, "other": 2} and context.writes == 1
    assert seen == [1, 2]  # applied again to what the other run wrote
    assert any("another run wrote the integration context first" in line for line in logs)
    assert len(pauses) == 1 and ThreatMon.CONTEXT_RETRY_PAUSE[0] <= pauses[0] <= ThreatMon.CONTEXT_RETRY_PAUSE[1]


def test_a_context_that_other_runs_keep_writing_is_left_as_they_wrote_it_with_an_error(context, pauses):
    context.meanwhile = [{f"run{n}": n} for n in range(ThreatMon.CONTEXT_WRITE_ATTEMPTS)]
    with pytest.raises(RuntimeError, match=r"changed under each of 5 attempts to write it; nothing was written"):
        ThreatMon.change_integration_context(lambda value: value.update(mine=True))
    assert "mine" not in context.value and context.writes == 0
    assert len(pauses) == ThreatMon.CONTEXT_WRITE_ATTEMPTS - 1  # none after the last attempt


@pytest.mark.parametrize("answer", [{"context": {}}, {"context": {}, "version": -1}, {"context": {}, "version": "7"}])
def test_a_context_read_without_a_usable_version_is_written_as_version_0_never_as_any_version(monkeypatch, answer):
    written = []
    monkeypatch.setattr(demisto, "getIntegrationContextVersioned", lambda refresh=False: answer)
    monkeypatch.setattr(demisto, "setIntegrationContextVersioned", lambda value, version=-1, sync=False: written.append(version))
    ThreatMon.change_integration_context(lambda value: value.update(mine=True))
    assert written == [0]


def test_a_health_record_other_runs_keep_writing_first_neither_fails_the_fetch_nor_is_written(context, logs, pauses):
    context.meanwhile = [{f"run{n}": n} for n in range(ThreatMon.CONTEXT_WRITE_ATTEMPTS)]
    health = ThreatMon.record_fetch_health(report_of("moved", incidents=1, watermark=7), make_settings(), NOW)
    assert health.incidents == 1 and ThreatMon.HEALTH_CONTEXT_KEY not in context.value
    assert any("ThreatMon fetch health not recorded this run" in line for line in logs)


def test_an_unchanged_context_is_not_written(context):
    context.value = {ThreatMon.HEALTH_CONTEXT_KEY: {"runs": 1}}
    assert ThreatMon.change_integration_context(lambda value: None) is None
    assert context.writes == 0 and context.version == 0


def test_get_remote_data_delivers_a_change_once_while_a_fetch_writes_the_memory_meanwhile(context, pauses):
    context.remember({3: "Resolved"})
    waiting = context.memory
    waiting.pending[3] = {"status": "Resolved", "reported": 1}
    context.value[MIRROR_CONTEXT_KEY] = waiting.to_context()
    waiting.alarms[9] = "Open"  # what the fetch writes between get-remote-data's read and its write
    context.meanwhile = [{MIRROR_CONTEXT_KEY: waiting.to_context()}]
    response = get_remote_data_command({"id": "3", "lastUpdate": LAST_UPDATE}, mirror_settings())
    assert response.mirrored_object == {"alarmCode": 3, "status": "Resolved"}
    assert context.memory.pending == {} and 9 in context.memory.alarms  # collected once; the fetch's alarm kept
    assert get_remote_data_command({"id": "3", "lastUpdate": LAST_UPDATE}, mirror_settings()).mirrored_object == {}


def test_a_mirroring_write_keeps_the_alarms_a_fetch_remembered_meanwhile(context):
    context.remember({3: "Open"})
    fetched = context.memory
    fetched.alarms[9] = "Open"
    context.meanwhile = [{MIRROR_CONTEXT_KEY: fetched.to_context()}]
    ThreatMon.update_mirror_memory(lambda memory: memory.alarms.__setitem__(3, "In Progress"))
    assert context.memory.alarms == {3: "In Progress", 9: "Open"}


def test_the_sync_command_on_an_instance_that_follows_no_alarm_yet_says_so(context):
    with requests_mock.Mocker() as mocker:
        alarm_list(mocker, [])
        result = sync_alarm_statuses_command(mirror_client(), {}, mirror_settings())
    assert result.outputs == []
    assert result.readable_output.endswith(", no alarm followed yet.")


def test_a_sweep_that_follows_alarms_and_has_read_none_yet_is_not_started(context):
    context.remember({3: "Open"})
    sweep = MirrorSweep(mirror_client(), ThreatMon.read_mirror_memory(), 5)  # as a cycle finds it, before any request
    assert ThreatMon.sweep_progress(sweep) == "sweep not started"


def test_the_sync_command_delivers_a_change_a_mirroring_cycle_found_and_xsoar_did_not_collect(context):
    context.remember({3: "Open"})
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, [3])
        fake.set_portal_status(3, "Resolved")
        assert cycle(fake) == ["3"]
        result = sync_alarm_statuses_command(mirror_client(), {}, mirror_settings())
    assert [entry["alarmCode"] for entry in result.outputs] == [3]
    assert get_remote_data_command({"id": "3"}, mirror_settings()).mirrored_object == {}


@pytest.mark.parametrize(("args", "budget"), [({}, 5), ({"max_requests": "2"}, 2), ({"max_requests": 100}, 100)])
def test_the_sync_command_sends_at_most_its_budget(context, args, budget):
    context.remember(dict.fromkeys(range(1, 4000, 20), "Open"))
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, range(1, 4000))
        sync_alarm_statuses_command(mirror_client(), args, mirror_settings())
    assert len(list_calls(fake)) == budget


@pytest.mark.parametrize("value", ["0", "101", "many"])
def test_the_sync_command_refuses_a_bad_max_requests(context, value):
    with pytest.raises(ValueError, match="max_requests"):
        sync_alarm_statuses_command(mirror_client(), {"max_requests": value}, mirror_settings())
    assert context.writes == 0


def test_a_failed_sync_leaves_the_memory_as_it_was(context):
    context.remember({3: "Open"}, absent={3: 0}, sweeps=1)
    before = copy.deepcopy(context.value)
    with requests_mock.Mocker() as mocker:
        alarm_list(mocker, [4], faults=["#0=503"])
        with pytest.raises(ThreatMon.ThreatMonError):
            sync_alarm_statuses_command(mirror_client(), {}, mirror_settings())
    assert context.value == before


def test_main_after_the_sync_command_ran_the_fetch_keeps_the_memory_without_incoming_mirroring(server, context):
    server.params = {**server.params, "mirror_direction": "None"}
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, range(1, 6))
        run_mirror_main(server, "fetch-incidents")
        assert list(context.value) == ["fetch_health"]  # the fetch's health record, no mirroring memory
        results = run_mirror_main(server, "threatmon_sync_alarm_statuses")
        assert results[-1]["Type"] == EntryType.NOTE and context.memory.job
        fake.add_alarms(3)
        run_mirror_main(server, "fetch-incidents")
    assert context.memory.alarms == dict.fromkeys(range(6, 9), "Open")
    assert context.memory.enrol_to == 5


def test_main_a_sync_run_does_not_retry_a_failed_request(server, context):
    """Its budget counts every request sent, as a mirroring cycle's does: the next run is its retry."""
    context.remember({1: "Open"})
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, [1], faults=["#0=503"])
        results = run_mirror_main(server, "threatmon_sync_alarm_statuses")
    assert len(fake.requests) == 1
    assert results[-1]["Type"] == EntryType.ERROR and "threatmon_sync_alarm_statuses" in results[-1]["Contents"]


# ---------------------------------------------------------------- the API key stays on ThreatMon's hosts
# Each test below is named in the integration README's security table.

ELSEWHERE = "https://elsewhere.test"
MIRROR_MEMORY = {ThreatMon.MIRROR_CONTEXT_KEY: {"version": ThreatMon.MIRROR_CONTEXT_VERSION, "alarms": {"1000": "Open"}}}
# Every command that sends a request, with arguments that make it send one. get-mapping-fields, get-remote-data and
# threatmon_get_fetch_health send none (a test below keeps this list equal to the yml's commands).
REQUESTING_COMMANDS = {
    "test-module": {},
    "fetch-incidents": {},
    "threatmon_list_alarms": {"limit": "2"},
    "threatmon_update_incident_status": {"alarmId": "1000", "status": "Resolved"},
    "threatmon_request_takedown": {"findingId": "4", "finding": "x"},
    "threatmon_request_data_removal": {"findingId": "4", "finding": "x"},
    "threatmon_list_cves": {},
    "threatmon_list_subscribed_cves": {},
    "update-remote-system": remote_args(delta={"closeReason": "Resolved"}),
    "get-modified-remote-data": {"lastUpdate": "2025-03-15T12:00:00Z"},
    "threatmon_sync_alarm_statuses": {},
}


@pytest.fixture
def everywhere(xsoar, monkeypatch):
    """The xsoar server with every command able to send its request: a data removal path, incoming and outgoing
    mirroring with one remembered alarm (so a mirroring cycle reads the list)."""
    context = {"value": json.loads(json.dumps(MIRROR_MEMORY))}
    serve_context(monkeypatch, lambda: context["value"], lambda value: context.update(value=value))
    xsoar.params = {**xsoar.params, "data_removal_path": "/dr", "mirror_direction": "Incoming And Outgoing"}
    return xsoar


def run_command(server, command: str) -> str:
    """Run one command through main(); return its error (a fetch's error is raised for the server), or ''."""
    server.command, server.args = command, REQUESTING_COMMANDS[command]
    try:
        run_main(server)
    except Exception as exc:
        return str(exc)
    errors = [entry for entry in server.results if isinstance(entry, dict) and entry.get("Type") == EntryType.ERROR]
    return errors[0]["Contents"] if errors else ""


def test_the_redirect_table_covers_every_command_that_sends_a_request():
    yml = yaml.safe_load((Path(__file__).parent / "ThreatMon.yml").read_text(encoding="utf-8"))
    commands = {command["name"] for command in yml["script"]["commands"]}
    none = {"get-mapping-fields", "get-remote-data", "threatmon_get_fetch_health"}
    assert set(REQUESTING_COMMANDS) == commands - none | {"test-module", "fetch-incidents"}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("command", list(REQUESTING_COMMANDS))
def test_security_a_redirect_to_another_host_ends_every_command_and_the_fetch_with_a_clear_error(everywhere, command, status):
    everywhere.last_run = {"state_version": 2, "last_alarm_code": 8}
    with requests_mock.Mocker() as mocker:
        elsewhere = mocker.register_uri(requests_mock.ANY, re.compile(re.escape(ELSEWHERE)), json={"data": [], "totalRecords": 0})

        def moved(request, context):
            context.headers["Location"] = ELSEWHERE + request.path_url  # the same path and query, another host
            return ""

        mocker.register_uri(requests_mock.ANY, re.compile(re.escape(BASE)), status_code=status, text=moved)
        error = run_command(everywhere, command)
        assert elsewhere.call_count == 0
        assert mocker.call_count == 1  # one request to ThreatMon: the redirect was neither followed nor retried
    assert error.startswith("skip update. error: " * (command == "get-modified-remote-data") + f"Failed to execute {command}")
    assert f"with HTTP {status}, a redirect to {ELSEWHERE}/api/threatmon/external/v1/" in error
    assert "Redirects are never followed, so nothing was sent there (not the API key either)" in error
    assert f"the Server URL (url) should probably be {ELSEWHERE}/api/threatmon/external/v1;" in error
    assert everywhere.last_run == {"state_version": 2, "last_alarm_code": 8}  # a fetch keeps its position
    assert everywhere.incidents == []


@pytest.mark.parametrize(
    "url", ["http://external.threatmonit.io", "http://threatmon.test/api/threatmon/external/v1", "HTTP://10.1.2.3:8080"]
)
@pytest.mark.parametrize("command", ["test-module", "fetch-incidents", "threatmon_list_alarms"])
def test_security_a_plain_http_server_url_is_refused_in_one_sentence_naming_the_setting(everywhere, command, url):
    everywhere.params = {**everywhere.params, "url": url}
    with requests_mock.Mocker() as mocker:
        error = run_command(everywhere, command)
        assert mocker.call_count == 0
    assert error == (
        f"Failed to execute {command}: Server URL (url) must be an https:// URL, such as https://external.threatmonit.io, "
        "because over plain http the credential would cross the network unencrypted (http is accepted only for a "
        f"loopback host such as 127.0.0.1); got '{url}'."
    )


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost:9000/api/threatmon/external/v1", "https://x.test"])
def test_security_https_and_plain_http_on_a_loopback_host_are_accepted(url):
    assert normalize_url(url).startswith(url.split("/api")[0])


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("%2e%2e/%2e%2e/x", "must not contain a . or .. segment, percent-encoded (%2e) or not"),
        ("/removal/%2E%2e/takedown", "must not contain a . or .. segment"),
        ("/removal/%252e%252e/x", "must not contain a . or .. segment"),  # encoded twice
        ("/removal/..;/x", "must not contain a . or .. segment"),
        ("/removal/./x", "must not contain a . or .. segment"),
        ("/removal\tx", "must not contain whitespace or control characters (a space, a tab, a line break)"),
        ("/removal\nx", "must not contain whitespace or control characters (a space, a tab, a line break)"),
        ("/removal\u200bx", "must not contain whitespace or control characters (a space, a tab, a line break)"),
        ("/removal%09x", "must not contain whitespace or control characters, percent-encoded (%09, %20) or not"),
        ("/removal%20x", "must not contain whitespace or control characters, percent-encoded"),
        ("/removal%00x", "must not contain whitespace or control characters, percent-encoded"),
        ("/removal%5C..%5Cx", "must not contain a backslash, percent-encoded (%5C) or not"),
        ("/removal/%2F%2Fevil.test/x", "must not contain an authority (//host), percent-encoded (%2F%2F) or not"),
        ("https%3A%2F%2Fevil.test/x", "must not contain an authority (//host)"),
        ("https%3Aevil.test", "must not contain a scheme (such as https:), percent-encoded or not"),
        ("javascript:x", "must be a path under the Server URL"),
        ("//evil.test/removal", "must be a path under the Server URL"),
    ],
)
def test_security_the_data_removal_path_stays_under_the_api_base(value, rule):
    with pytest.raises(ValueError) as error:
        parse_data_removal_path(value, BASE)
    assert str(error.value).startswith(f"Data removal API path (data_removal_path) {rule}")
    assert str(error.value).endswith(f"; got '{value}'.")


@pytest.mark.parametrize("value", ["/removal/%7BfindingId%7D", "/a-b_c~d/e%41f", "/findings/{findingId}/removal"])
def test_security_a_data_removal_path_within_the_rules_is_kept_as_written(value):
    assert parse_data_removal_path(value, BASE) == value


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda client: client.list_alarms("0/../../x"), "The page put into the request path"),
        (lambda client: client.list_alarms(True), "The page put into the request path"),
        (lambda client: client.list_cves(-1), "The page put into the request path"),
        (lambda client: client.list_subscribed_cves(1.0), "The page put into the request path"),
        (lambda client: client.update_alarm_status(["1 OR 1"], "Open"), "The alarm code put into the request path"),
        (lambda client: client.request_data_removal("4/../../x", "x"), "The finding id put into the request path"),
    ],
)
def test_security_only_whole_numbers_go_into_paths_checked_before_any_request(call, words):
    with requests_mock.Mocker() as mocker:
        with pytest.raises(ValueError, match=re.escape(words)):
            call(make_client(data_removal_path="/findings/{findingId}/removal"))
        assert mocker.call_count == 0


def test_security_an_oversized_alarm_answer_is_refused_and_the_fetch_keeps_its_position(xsoar):
    xsoar.command, xsoar.last_run = "fetch-incidents", {"state_version": 2, "last_alarm_code": 8}
    huge = {"data": [{"alarmCode": 9, "title": "x" * (Client.MAX_ANSWER_BYTES + 10)}], "totalRecords": 1}
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json=huge)
        with pytest.raises(Exception, match="larger than 16 MiB, the most this request accepts") as error:
            ThreatMon.main()
        assert mocker.call_count == 1  # not retried: the same request gets the same answer
    assert "nothing of it was used" in str(error.value)
    assert xsoar.last_run == {"state_version": 2, "last_alarm_code": 8}
    assert xsoar.incidents == []


def test_security_an_endless_alarm_answer_is_read_only_up_to_the_bound():
    class Endless(io.RawIOBase):
        reads = 0

        def readable(self):
            return True

        def readinto(self, buffer):
            Endless.reads += 1
            buffer[:] = b" " * len(buffer)
            return len(buffer)

    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, body=Endless())
        with pytest.raises(ThreatMonError) as error:
            make_client().list_alarms(0)
    assert error.value.kind == "too_large"
    assert Endless.reads < 2 * Client.MAX_ANSWER_BYTES // 8192


def test_security_a_dripping_alarm_answer_ends_within_the_deadline():
    clock = FakeClock()

    class Dripping(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            clock.advance(0.5)  # 8 KiB now and then: each read in time, the answer never
            size = min(len(buffer), 8192)
            buffer[:size] = b" " * size
            return size

    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, [{"body": Dripping()} for _ in range(4)])
        with pytest.raises(ThreatMonError) as error:
            make_client(clock, deadline=ThreatMon.FETCH_DEADLINE).list_alarms(0)
    assert error.value.kind == "timeout"
    # Time is checked after each 64 KiB read (here 4 s of drip); on a real socket a timer cuts the read at the second.
    assert clock.now - 1000.0 <= ThreatMon.FETCH_DEADLINE + 4


ECHOING_ANSWERS = [
    {"status_code": 401, "json": {"message": f"key {API_KEY} refused", "detail": API_KEY}},
    {"status_code": 302, "headers": {"Location": f"https://elsewhere.test/x?api_key={API_KEY}&k={API_KEY}"}},
    {"status_code": 307, "headers": {"Location": f"https://{API_KEY}@elsewhere.test/{API_KEY}"}},
    {"status_code": 200, "text": f"<html>{API_KEY}</html>"},
    {"status_code": 500, "text": f"upstream said {API_KEY}"},
]


@pytest.mark.parametrize("answer", ECHOING_ANSWERS)
@pytest.mark.parametrize("command", list(REQUESTING_COMMANDS))
def test_security_in_debug_mode_no_command_shows_the_key_an_answer_echoes(everywhere, monkeypatch, command, answer):
    monkeypatch.setattr(demisto, "is_debug", True, raising=False)
    registered = []
    monkeypatch.setattr(ThreatMonApiModule, "add_sensitive_log_strs", registered.append)
    with requests_mock.Mocker() as mocker:
        mocker.register_uri(requests_mock.ANY, requests_mock.ANY, **answer)
        error = run_command(everywhere, command)
        assert mocker.call_count >= 1
    everything = json.dumps([error, everywhere.results, everywhere.incidents, everywhere.last_run, everywhere.logs])
    assert API_KEY not in everything
    assert API_KEY in registered  # the platform masks it in its own logs too


def test_security_tls_certificates_are_verified_unless_trust_any_certificate_is_ticked(monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    yml = yaml.safe_load((Path(__file__).parent / "ThreatMon.yml").read_text(encoding="utf-8"))
    insecure = next(param for param in yml["configuration"] if param["name"] == "insecure")
    assert insecure.get("defaultvalue") in (None, "false", False)
    params = {key: value for key, value in valid_params().items() if key != "insecure"}
    assert parse_params(params).verify is True
    assert parse_params({**params, "insecure": "true"}).verify is False
    assert make_client()._verify is True


def test_security_without_the_proxy_setting_requests_go_direct_whatever_the_environment(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    client = Client(BASE, API_KEY, proxy=False)
    assert client._session.trust_env is False  # requests reads no proxy from the environment
    assert "HTTPS_PROXY" not in os.environ  # the platform's skip_proxy removed it


def test_security_with_the_proxy_setting_requests_go_through_the_system_proxy(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    client = Client(BASE, API_KEY, proxy=True)
    assert client._session.trust_env is True
    settings = client._session.merge_environment_settings(f"{BASE}/vulnerabilities/0", {}, None, None, None)
    assert settings["proxies"].get("https") == "http://proxy.test:3128"


def test_fetches_that_ran_without_the_memory_are_enrolled_when_it_comes_back():
    memory = MirrorMemory()
    memory.start_enrolment(0, 40)  # the first fetch with incoming mirroring: nothing before it
    memory.start_enrolment(40, 55)
    assert (memory.enrol_to, memory.fetched_to) == (0, 55)
    memory.start_enrolment(90, 95)  # fetches from 55 to 90 ran with incoming mirroring off
    assert (memory.enrol_to, memory.enrolled, memory.fetched_to) == (90, 0, 95) and memory.enrolling
    memory.start_enrolment(20, 30)  # a lastRun reset: nothing to add
    assert (memory.enrol_to, memory.fetched_to) == (90, 30)


def test_main_switching_incoming_mirroring_off_and_on_again_enrols_what_was_fetched_meanwhile(server, context):
    with requests_mock.Mocker() as mocker:
        fake = alarm_list(mocker, range(1, 6))
        run_mirror_main(server, "fetch-incidents")
        server.params = {**server.params, "mirror_direction": "Outgoing"}
        fake.add_alarms(4)
        run_mirror_main(server, "fetch-incidents")
        server.params = {**server.params, "mirror_direction": "Incoming And Outgoing"}
        run_mirror_main(server, "fetch-incidents")
        assert (context.memory.enrol_to, context.memory.fetched_to) == (9, 9)
        for _ in range(3):
            run_mirror_main(server, "get-modified-remote-data", {"lastUpdate": LAST_UPDATE})
    assert context.memory.alarms == dict.fromkeys(range(1, 10), "Open")


# ---------------------------------------------------------------- fetch filters: alarm types and statuses

KNOWN_TYPES = ThreatMon.KNOWN_ALARM_TYPES


@pytest.mark.parametrize(
    ("params", "types", "statuses"),
    [
        ({}, None, None),
        ({"alarm_types": ["Phishing Domain Detected"]}, {"phishing domain detected"}, None),
        (
            {"alarm_types": "phishing domain detected, Rogue  Mobile App Detected"},
            {"phishing domain detected", "rogue mobile app detected"},
            None,
        ),
        ({"alarm_types_other": "Leaked Credentials"}, {"leaked credentials"}, None),
        ({"alarm_types_other": "fake social media account detected"}, {"fake social media account detected"}, None),
        ({"alarm_statuses": ["Open", "in progress"]}, None, {"open", "in progress"}),
        ({"alarm_statuses": "Open,In Progress,False Positive,Ignore,Resolved"}, None, None),  # all five: every alarm
        ({"alarm_statuses": []}, None, None),
    ],
)
def test_parse_params_reads_the_alarm_filters(params, types, statuses):
    settings = parse_params(valid_params(**params))
    assert settings.alarm_types == (frozenset(types) if types else None)
    assert settings.alarm_statuses == (frozenset(statuses) if statuses else None)


def test_parse_params_accepts_a_free_text_alarm_type_with_a_note():
    settings = parse_params(valid_params(alarm_types_other="Leaked Credentials, Phishing Domain Detected"))
    assert settings.alarm_types == {"leaked credentials", "phishing domain detected"}
    assert settings.filter_notes == [
        "'Leaked Credentials' (Other alarm types to fetch (alarm_types_other)) is not a known ThreatMon alarm type (known: "
        "Phishing Domain Detected, Rogue Mobile App Detected, Fake Social Media Account Detected); alarms of exactly that "
        "type are fetched."
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"alarm_types": ["Phishing Domain Detected", "Leaked Credentials"]},
            "Alarm types to fetch (alarm_types) must be among Phishing Domain Detected, Rogue Mobile App Detected, Fake "
            "Social Media Account Detected (other types go in the Other alarm types to fetch (alarm_types_other)); got "
            "'Leaked Credentials'.",
        ),
        (
            {"alarm_types_other": "Phising Domain Detected"},
            "Other alarm types to fetch (alarm_types_other): 'Phising Domain Detected' looks like a typo of the known type "
            "'Phishing Domain Detected'. The known types are Phishing Domain Detected, Rogue Mobile App Detected, Fake Social "
            "Media Account Detected; enter another type exactly as ThreatMon names it.",
        ),
        (
            {"alarm_types_other": "Rogue Mobil App Detected"},
            "'Rogue Mobil App Detected' looks like a typo of the known type 'Rogue Mobile App Detected'",
        ),
        (
            {"alarm_statuses": ["Open", "Closed"]},
            "Alarm statuses to fetch (alarm_statuses) must be among Open, In Progress, False Positive, Ignore, Resolved; "
            "got 'Closed'.",
        ),
    ],
)
def test_parse_params_refuses_a_filter_typo_naming_the_setting_and_the_known_values(params, message):
    with pytest.raises(ValueError) as caught:
        parse_params(valid_params(**params))
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("alarm", "reason"),
    [
        ({"alarmType": "Phishing Domain Detected", "status": "Open"}, None),
        ({"alarmType": "  phishing   DOMAIN detected ", "status": "open"}, None),
        ({"type": "Leaked Credentials", "status": "Open"}, ThreatMon.SKIP_TYPE),
        ({"alarmType": "Exposed Port", "status": "Open"}, ThreatMon.SKIP_TYPE),
        ({"status": "Open"}, None),  # no type: nothing proves it is outside the filter
        ({"alarmType": "Phishing Domain Detected", "status": "Resolved"}, ThreatMon.SKIP_STATUS),
        ({"alarmType": "Phishing Domain Detected", "status": "Escalated"}, None),  # not one of the five statuses
        ({"alarmType": "Phishing Domain Detected"}, None),
    ],
)
def test_filter_skip_reason(alarm, reason):
    settings = make_settings(
        alarm_types=frozenset({"phishing domain detected"}), alarm_statuses=frozenset({"open", "in progress"})
    )
    assert ThreatMon.filter_skip_reason(alarm, settings) == reason


def test_filter_skip_reason_without_filters_keeps_everything():
    assert ThreatMon.filter_skip_reason({"alarmType": "Exposed Port", "status": "Resolved"}, make_settings()) is None


def wanted(alarm: dict, types: set[str], statuses: set[str]) -> bool:
    alarm_type = " ".join(str(alarm.get("alarmType") or alarm.get("type") or "").split()).lower()
    status = " ".join(str(alarm.get("status") or "").split()).lower()
    known = {word.lower() for word in ThreatMon.ALARM_STATUSES}
    return (not alarm_type or alarm_type in types) and (status not in known or status in statuses)


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("max_fetch", [3, 100])
def test_fetch_filters_create_exactly_the_chosen_types_and_statuses_and_never_the_others_later(order, max_fetch):
    types = {"phishing domain detected", "leaked credentials"}
    statuses = {"open", "in progress"}
    filtered = make_settings(max_fetch=max_fetch, alarm_types=frozenset(types), alarm_statuses=frozenset(statuses))
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=80, order=order)
        codes = sim.codes()
        sim.set_portal_status(codes[::3], "Resolved")
        sim.set_portal_status(codes[1::5], "In Progress")
        sim.set_portal_status(codes[2::7], "Escalated")  # not one of the five statuses: always fetched
        last_run, incidents = drain(sim, filtered)
        expected = [int(alarm["alarmCode"]) for alarm in sim.wire_alarms() if wanted(alarm, types, statuses)]
        assert_exactly_once(incidents, expected)
        assert 0 < len(expected) < 80
        assert last_run["last_alarm_code"] == max(sim.codes())  # the alarms left out were passed, not left behind
        _, later = drain(sim, make_settings(max_fetch=max_fetch), last_run=last_run)  # every type and status now
    assert later == []


def test_fetch_debug_line_counts_the_skipped_alarms_by_reason(monkeypatch):
    lines = debug_lines(monkeypatch)
    alarms = [
        {"alarmCode": 1, "alarmType": "Phishing Domain Detected", "status": "Open", "severity": "High"},
        {"alarmCode": 2, "alarmType": "Exposed Port", "status": "Open", "severity": "High"},
        {"alarmCode": 3, "alarmType": "Exposed Port", "status": "Open", "severity": "High"},
        {"alarmCode": 4, "alarmType": "Phishing Domain Detected", "status": "Resolved", "severity": "High"},
        {"alarmCode": 5, "alarmType": "Phishing Domain Detected", "status": "Open", "severity": "Low"},
    ]
    settings = make_settings(
        alarm_types=frozenset({"phishing domain detected"}), alarm_statuses=frozenset({"open"}), min_severity="Medium"
    )
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json={"data": alarms, "totalRecords": 5})
        last_run, incidents = fetch_incidents(make_client(), {}, settings, now=NOW)
    assert codes_of(incidents) == [1]
    assert last_run["last_alarm_code"] == 5
    (summary,) = [line for line in lines if line.startswith("ThreatMon fetch: ")]
    assert "1 incident(s), 4 skipped (2 alarm type not selected, 1 below min_severity, 1 status not selected);" in summary


def test_main_test_module_refuses_a_filter_typo(xsoar):
    xsoar.params = {**xsoar.params, "alarm_types_other": "Phishing Domain Detectd"}
    with requests_mock.Mocker() as mocker:
        run_main(xsoar)
        assert mocker.call_count == 0
    assert "Other alarm types to fetch (alarm_types_other): 'Phishing Domain Detectd' looks like a typo" in error_text(xsoar)


def test_main_test_module_accepts_a_free_text_type_with_a_note(xsoar):
    xsoar.params = {**xsoar.params, "alarm_types_other": "Brand Impersonation"}
    with requests_mock.Mocker() as mocker:
        mocker.get(LIST_URL, json={"data": [], "totalRecords": 0})
        run_main(xsoar)
    assert xsoar.results == ["ok"]
    assert any("'Brand Impersonation'" in line and "is not a known ThreatMon alarm type" in line for line in xsoar.logs)


# ---------------------------------------------------------------- fetch health


def report_of(outcome: str, **values) -> ThreatMon.FetchReport:
    return ThreatMon.FetchReport(outcome=outcome, **values)


def test_health_counts_runs_without_progress_and_a_run_that_moves_clears_them():
    health = ThreatMon.FetchHealth()
    assert health.state == "Never run"
    health = health.after(report_of("moved", incidents=3, watermark=12, requests=2, backlog=0), NOW, {})
    assert (health.state, health.stalled_runs, health.last_progress_at, health.total_incidents) == (
        "Healthy",
        0,
        "2025-03-15T12:00:00Z",
        3,
    )
    later = NOW + timedelta(minutes=1)
    health = health.after(report_of("failed", error="ThreatMon is unavailable (HTTP 503)."), later, {})
    health = health.after(report_of("stalled", reason="page 2 kept arriving in another order"), later + timedelta(minutes=1), {})
    assert (health.state, health.stalled_runs, health.stalled_since) == ("Stalled", 2, "2025-03-15T12:01:00Z")
    assert health.last_error == "page 2 kept arriving in another order"
    assert health.watermark == 12  # kept from the run that knew it
    health = health.after(report_of("idle", watermark=12, backlog=0), later + timedelta(minutes=2), {})
    assert (health.state, health.stalled_runs, health.stalled_since) == ("Healthy", 0, None)
    assert health.last_error == "page 2 kept arriving in another order"  # kept, with its time, after recovery
    assert (health.runs, health.last_progress_at) == (4, "2025-03-15T12:00:00Z")


@pytest.mark.parametrize("raw", [None, "x", [], {"version": 99, "runs": 4}, {"version": 1, "runs": "many", "skipped": [1]}])
def test_health_reads_a_missing_or_damaged_record_as_a_fresh_one(raw):
    health = ThreatMon.FetchHealth.load(raw)
    assert health.runs == 0
    assert health.skipped == {}


def test_health_record_round_trips_through_the_context():
    health = ThreatMon.FetchHealth().after(
        report_of("moved", incidents=2, skipped={"status not selected": 3}, watermark=9, requests=1, backlog=4),
        NOW,
        {"notes": []},
    )
    assert ThreatMon.FetchHealth.load(json.loads(json.dumps(health.to_context()))) == health


def test_record_fetch_health_keeps_the_other_context_keys_and_sets_then_clears_the_module_health(monkeypatch):
    context = {"mirror_in": {"version": 1, "alarms": {"7": "Open"}}}
    shown: list[str] = []
    serve_context(monkeypatch, lambda: context, lambda value: context.update(value))
    monkeypatch.setattr(demisto, "updateModuleHealth", shown.append)
    settings = make_settings()
    ThreatMon.record_fetch_health(report_of("moved", incidents=1, watermark=7), settings, NOW)
    assert shown == []
    ThreatMon.record_fetch_health(report_of("failed", error="ThreatMon is unavailable (HTTP 503)."), settings, NOW)
    ThreatMon.record_fetch_health(report_of("failed", error="ThreatMon is unavailable (HTTP 503)."), settings, NOW)
    assert shown == [
        f"ThreatMon fetch: {runs} run(s) in a row without progress since 2025-03-15T12:00:00Z; last error: ThreatMon is "
        "unavailable (HTTP 503). No alarm is lost or ingested twice; each run tries again. Run threatmon_get_fetch_health "
        "for details."
        for runs in (1, 2)
    ]
    ThreatMon.record_fetch_health(report_of("moved", incidents=1, watermark=8), settings, NOW)
    ThreatMon.record_fetch_health(report_of("idle", watermark=8), settings, NOW)
    assert shown[2:] == [""]  # cleared once, when a run moved again
    assert context["mirror_in"] == {"version": 1, "alarms": {"7": "Open"}}
    assert context["fetch_health"]["watermark"] == 8


def test_get_fetch_health_command_shows_the_record_as_a_table_and_context():
    health = ThreatMon.FetchHealth().after(
        report_of("stalled", skipped={"alarm type not selected": 2}, watermark=40, requests=6, reason="the request bound"),
        NOW,
        ThreatMon.filters_of(make_settings(alarm_types=frozenset({"leaked credentials"}), filter_notes=["a note"])),
    )
    result = ThreatMon.get_fetch_health_command({}, health.to_context(), "ThreatMon_instance_1")
    assert result.outputs_prefix == "ThreatMon.FetchHealth"
    assert result.outputs_key_field == "instance"
    assert result.outputs["instance"] == "ThreatMon_instance_1"
    assert (result.outputs["state"], result.outputs["stalledRuns"], result.outputs["watermark"]) == ("Stalled", 1, 40)
    table = compact(result.readable_output)
    for row in (
        "|State|Stalled|",
        "|Alarms skipped (last run)|2 alarm type not selected|",
        "|Last alarm code (watermark)|40|",
        "|Runs in a row without progress|1|",
        "|Last error|the request bound|",
        "|Backlog (alarms above the watermark)|unknown|",
        "|Alarm types fetched|leaked credentials|",
        "|Alarm statuses fetched|all|",
        "|Notes|a note|",
    ):
        assert row in table


def test_get_fetch_health_command_before_any_run():
    result = ThreatMon.get_fetch_health_command({}, None, "ThreatMon_instance_1")
    assert result.outputs["state"] == "Never run"
    assert "no fetch run recorded yet" in result.readable_output


def test_main_fetch_records_health_never_with_the_key_or_alarm_content_and_shows_a_stall_until_a_run_moves(xsoar):
    xsoar.command = "fetch-incidents"
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=25, order="desc")
        sim.set_portal_status(sim.codes()[1:6:2], "Resolved")  # three of the oldest alarms, left out by the filter
        xsoar.params = {**xsoar.params, "max_fetch": "10", "alarm_statuses": ["Open", "In Progress"]}
        run_main(xsoar)
        first = dict(xsoar.context["fetch_health"])
        mocker.get(LIST_URL, status_code=503, json={"message": f"down, key {API_KEY}"})
        with pytest.raises(Exception, match="ThreatMon"):
            ThreatMon.main()
    stalled = dict(xsoar.context["fetch_health"])
    with requests_mock.Mocker() as mocker:
        sim = make_sim(mocker, alarms=25, order="desc")  # the same alarms, served again
        run_main(xsoar)
    recovered = xsoar.context["fetch_health"]
    passed = first["incidents"] + sum(first["skipped"].values())  # created, or left out by the status filter
    assert (first["outcome"], first["stalledRuns"], first["incidents"]) == ("moved", 0, 10)
    assert first["skipped"]["status not selected"] == 3  # (and the Information ones: the instance's min_severity is Low)
    assert (first["watermark"], first["backlog"]) == (sim.codes()[passed - 1], 25 - passed)
    assert first["filters"]["alarmStatuses"] == ["in progress", "open"]
    assert (stalled["outcome"], stalled["stalledRuns"]) == ("failed", 1)
    assert "HTTP 503" in stalled["lastError"]
    assert (recovered["outcome"], recovered["stalledRuns"]) == ("moved", 0)
    assert xsoar.health[0].startswith("ThreatMon fetch: 1 run(s) in a row without progress") and xsoar.health[1:] == [""]
    stored = json.dumps([first, stalled, recovered])
    assert API_KEY not in stored
    for alarm in sim.wire_alarms():
        assert str(alarm.get("title")) not in stored


def test_main_get_fetch_health_reads_the_record_of_the_instance(xsoar):
    xsoar.command = "threatmon_get_fetch_health"
    xsoar.context = {"fetch_health": ThreatMon.FetchHealth().after(report_of("idle", watermark=3), NOW, {}).to_context()}
    with requests_mock.Mocker() as mocker:
        run_main(xsoar)
        assert mocker.call_count == 0
    (result,) = xsoar.results
    assert result["Type"] == EntryType.NOTE
    (health,) = [value for key, value in result["EntryContext"].items() if key.startswith("ThreatMon.FetchHealth")]
    assert (health["instance"], health["state"], health["watermark"]) == ("ThreatMon_instance_1", "Healthy", 3)
    assert "|State|Healthy|" in compact(result["HumanReadable"])
