"""The ThreatMon API simulator: an HTTP server on 127.0.0.1 serving both ThreatMon APIs.

Alarm API (header ``X-COMPANY-API-KEY``) under ``/api/threatmon/external/v1``:
``GET /vulnerabilities/{page}?afterAlarmCode=``, ``PATCH /incident/status``, ``POST /takedown``,
``GET /cve/{page}?cvss=``, ``GET /cve/subscribed/{page}?cvss=&customerName=``, and ``POST {data_removal_path}``
(only when that knob is set: ThreatMon has not published the data removal path, so the simulator has none by default).
IOC API (query ``api_token``) at the server root: ``GET /api/daily-ioc-details/``.
Control endpoints for tests and demos (no key, never under the API path): ``GET /__sim__/state``,
``POST /__sim__/alarms?count=K``.

Use it in-process::

    with Simulator(alarms=37, order="desc", latency_ms=5) as sim:
        ...  # sim.api_url, sim.api_key, sim.ioc_url, sim.ioc_token, sim.state(), sim.alarm(code)

It runs in a daemon thread and stops by itself after ``idle_timeout_s`` without a request or
``max_lifetime_s`` in all, so a forgotten simulator never outlives its test run.

Where the real API's behaviour is unknown (``docs/threatmon-api.md``), the simulator picks one
reading and says so next to the code; the knobs let tests try the other readings.
"""

from __future__ import annotations

import bisect
import contextlib
import hmac
import json
import socket
import struct
import threading
import time
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from simulator import data
from simulator.faults import Fault, FaultPlan

HOST = "127.0.0.1"
API_BASE = "/api/threatmon/external/v1"
IOC_PATH = "/api/daily-ioc-details/"
CONTROL_PREFIX = "/__sim__/"
PAGE_SIZE = 10
DEFAULT_API_KEY = "SIMKEY-7d41c0a9e2b34f58a6"
DEFAULT_IOC_TOKEN = "SIMTOKEN-3b9e61f0c2d84a7e55"  # noqa: S105 - the simulator's own made-up token
ORDERS = ("asc", "desc", "unsorted")
STATUS_BODIES = ("empty", "json", "text")

HTML_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass
class SimConfig:
    """Every knob of the simulator (also the keyword arguments of :class:`Simulator`)."""

    alarms: int = 40  # alarms present at start
    order: str = "asc"  # list order by code: asc | desc | unsorted (a stable order that is neither)
    latency_ms: float = 0.0  # added to every API request
    seed: int = 1337
    api_key: str = DEFAULT_API_KEY
    ioc_token: str = DEFAULT_IOC_TOKEN
    refuse_ip: bool = False  # answer 403 to everything, as ThreatMon's IP allow-list does
    status_body: str = "empty"  # body of a successful status change: empty | json | text
    takedown_quota: int | None = None  # successful takedowns allowed; None = unlimited
    # The data removal route, a path under the API base such as "/blackmarket/data-removal". ThreatMon has not
    # published one, so by default there is none (a POST anywhere is a 404, as for any unknown path).
    data_removal_path: str | None = None
    data_removal_quota: int | None = None  # Black Market Data Removal credits; None = unlimited, 0 = no right to it
    insert_every: int = 0  # add insert_count new alarms after every insert_every list requests
    insert_count: int = 0
    insert_max: int | None = None  # stop inserting after this many in all
    recent: bool = False  # date the alarms up to an hour ago (and the IOCs today) instead of fixed dates
    minutes_between: tuple[int, int] = (7, 240)  # spacing of alarm dates
    string_codes: float = 0.0  # share of alarms whose alarmCode is served as a numeric string
    missing_fields: float = 0.0  # share of alarms served without one to three fields
    odd_severities: float = 0.0  # share of alarms with a severity that is not one of the five words
    odd_dates: float = 0.0  # share of alarms with a date in another format (or not a date)
    alt_spellings: float = 0.0  # share of alarms using "type" / "finding_id" instead of alarmType / findingId
    codeless: float = 0.0  # share of alarms served without an alarmCode at all
    cves: int = 57
    iocs: int = 500  # records in the daily IOC list
    ioc_noise: bool = True  # e-mails, unknown kinds and malformed values among the IOCs
    faults: list = field(default_factory=list)  # Fault objects or their command-line spelling
    port: int = 0
    idle_timeout_s: float = 120.0
    max_lifetime_s: float = 900.0

    def validate(self) -> None:
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {', '.join(ORDERS)}, not {self.order!r}")
        if self.status_body not in STATUS_BODIES:
            raise ValueError(f"status_body must be one of {', '.join(STATUS_BODIES)}, not {self.status_body!r}")
        if self.alarms < 0 or self.iocs < 0 or self.cves < 0:
            raise ValueError("alarms, iocs and cves cannot be negative")
        if self.latency_ms < 0:
            raise ValueError("latency_ms cannot be negative")
        if self.data_removal_path is not None and not self.data_removal_path.strip("/"):
            raise ValueError("data_removal_path must name a path under the API base, such as /blackmarket/data-removal")

    def public(self) -> dict:
        """The configuration without its secrets (what /__sim__/state shows)."""
        shown = asdict(self)
        shown.pop("api_key")
        shown.pop("ioc_token")
        shown["faults"] = [f.describe() if isinstance(f, Fault) else str(f) for f in self.faults]
        return shown


class Simulator:
    """A ThreatMon API simulator. Knobs: see :class:`SimConfig`."""

    def __init__(self, config: SimConfig | None = None, clock=time.monotonic, **knobs):
        unknown = set(knobs) - {f.name for f in fields(SimConfig)}
        if unknown:
            raise TypeError(f"unknown simulator knob(s): {', '.join(sorted(unknown))}")
        self.config = replace(config or SimConfig(), **knobs)
        self.config.validate()
        cfg = self.config
        self._clock = clock  # for the idle and lifetime limits (injectable: tests never wait)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._connections: set[socket.socket] = set()
        self.faults = FaultPlan(cfg.faults)
        self.requests: list[dict] = []
        self.status_changes: list[dict] = []
        self.takedowns: list[dict] = []
        self.data_removals: list[dict] = []
        self.errors: list[str] = []  # exceptions inside the server (should stay empty)
        self.inserted = 0
        self._list_requests = 0
        self._takedown_done: set[int] = set()
        self._removal_done: set[int] = set()
        self._started = self._last_activity = clock()

        quirks = data.AlarmQuirks(
            string_codes=cfg.string_codes,
            missing_fields=cfg.missing_fields,
            odd_severities=cfg.odd_severities,
            odd_dates=cfg.odd_dates,
            alt_spellings=cfg.alt_spellings,
            codeless=cfg.codeless,
        )
        self._factory = data.AlarmFactory(cfg.seed, minutes_between=tuple(cfg.minutes_between), quirks=quirks)
        self._cves = data.make_cves(cfg.cves, cfg.seed)
        self._factory.cve_ids = [c["cve"] for c in self._cves]
        self._alarms: list[data.Alarm] = []  # ascending by code (= creation order)
        self._codes: list[int] = []
        self._by_code: dict[int, data.Alarm] = {}
        self._by_finding: dict[int, data.Alarm] = {}
        for _ in range(cfg.alarms):
            self._append(self._factory.make())
        if cfg.recent and self._alarms:
            shift = (datetime.now(UTC) - timedelta(hours=1)) - self._alarms[-1].date
            for alarm in self._alarms:
                alarm.date += shift
            self._factory.next_date += shift
        ioc_day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) if cfg.recent else None
        self._ioc_factory = data.IocFactory(cfg.seed, day=ioc_day, noise=cfg.ioc_noise)
        self._iocs: list[tuple[dict, str, str]] = []  # oldest first; made on first use
        self._ioc_target = cfg.iocs
        self._ioc_cache: tuple | None = None

    # -- life cycle --------------------------------------------------------------------------------

    def start(self) -> Simulator:
        if self._server is not None:
            return self
        self._server = _Server((HOST, self.config.port), _Handler)
        self._server.sim = self
        self._stop.clear()
        self._started = self._last_activity = self._clock()
        serve = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        watch = threading.Thread(target=self._watchdog, daemon=True)
        serve.name, watch.name = "threatmon-simulator", "threatmon-simulator-watchdog"
        self._threads = [serve, watch]
        serve.start()
        watch.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection. Safe to call twice or from any thread."""
        with self._lock:
            server, self._server = self._server, None
        self._stop.set()
        if server is None:
            return
        # serve_forever notices a shutdown only when its select() wakes: poke it with empty connections rather
        # than wait for the poll interval (this makes starting and stopping a simulator per test cheap).
        stopper = threading.Thread(target=server.shutdown, daemon=True, name="threatmon-simulator-shutdown")
        stopper.start()
        while stopper.is_alive():
            with contextlib.suppress(OSError):
                socket.create_connection(server.server_address, timeout=0.2).close()
            stopper.join(0.01)
        server.server_close()
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2)

    @property
    def running(self) -> bool:
        return self._server is not None and not self._stop.is_set()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _watchdog(self) -> None:
        while not self._stop.wait(0.1):
            if self.check_limits():
                return

    def check_limits(self) -> bool:
        """Stop (in the background) when idle for idle_timeout_s or alive for max_lifetime_s; True if so."""
        cfg, now = self.config, self._clock()
        if now - self._last_activity > cfg.idle_timeout_s or now - self._started > cfg.max_lifetime_s:
            self._stop.set()
            threading.Thread(target=self.stop, daemon=True, name="threatmon-simulator-stop").start()
            return True
        return False

    # -- addresses -----------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() or use it as a context manager")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The server root (the IOC API's base URL)."""
        return f"http://{HOST}:{self.port}"

    @property
    def api_url(self) -> str:
        """The alarm API's base URL (what the ThreatMon integration's ``url`` parameter takes)."""
        return self.url + API_BASE

    @property
    def ioc_url(self) -> str:
        return self.url

    @property
    def api_key(self) -> str:
        return self.config.api_key

    @property
    def ioc_token(self) -> str:
        return self.config.ioc_token

    # -- knobs at run time ---------------------------------------------------------------------------

    def set(self, **knobs) -> None:
        """Change knobs while running (order, latency_ms, refuse_ip, status_body, takedown_quota, inserts...)."""
        with self._lock:
            self.config = replace(self.config, **knobs)
            self.config.validate()
            if "faults" in knobs:
                self.faults = FaultPlan(self.config.faults)

    def add_fault(self, fault: Fault | str) -> Fault:
        return self.faults.add(fault)

    # -- alarms ----------------------------------------------------------------------------------------

    def _append(self, alarm: data.Alarm) -> None:
        self._alarms.append(alarm)
        self._codes.append(alarm.code)
        self._by_code[alarm.code] = alarm
        self._by_finding[alarm.finding_id] = alarm

    def add_alarms(self, count: int) -> list[int]:
        """Create ``count`` new alarms (newer codes and dates); returns their codes."""
        with self._lock:
            now = datetime.now(UTC)
            codes = []
            for _ in range(count):
                date = max(self._factory.next_date, now) if self.config.recent else None
                alarm = self._factory.make(date)
                self._append(alarm)
                codes.append(alarm.code)
            return codes

    def alarms(self) -> list[dict]:
        """Every alarm, canonical form (integer code, all fields), ascending by code."""
        with self._lock:
            return [a.canonical() for a in self._alarms]

    def wire_alarms(self) -> list[dict]:
        """Every alarm as the API serves it (with quirks), ascending by code."""
        with self._lock:
            return [a.wire() for a in self._alarms]

    def alarm(self, code: int) -> dict:
        with self._lock:
            return self._by_code[int(code)].canonical()

    def codes(self) -> list[int]:
        with self._lock:
            return list(self._codes)

    def _page(self, after: int | None, page: int) -> tuple[list[data.Alarm], int]:
        """One page of the alarms above ``after`` in the configured order, and how many there are in all."""
        start = 0 if after is None else bisect.bisect_right(self._codes, after)
        count = len(self._alarms)
        total = count - start
        low, high = page * PAGE_SIZE, (page + 1) * PAGE_SIZE
        order = self.config.order
        if order == "asc":
            return self._alarms[start + min(low, total) : start + min(high, total)], total
        if order == "desc":
            return self._alarms[max(start, count - high) : max(start, count - low)][::-1], total
        seed = self.config.seed
        chosen = sorted(self._alarms[start:], key=lambda a: ((a.code * 2654435761) ^ seed) & 0xFFFFFFFF)
        return chosen[low:high], total

    # -- IOCs ----------------------------------------------------------------------------------------------

    def _ensure_iocs(self) -> None:
        while len(self._iocs) < self._ioc_target:
            self._iocs.append(self._ioc_factory.make())

    def add_iocs(self, count: int) -> None:
        """Publish ``count`` newer IOC records in the daily list."""
        with self._lock:
            self._ioc_target += count
            self._ensure_iocs()
            self._ioc_cache = None

    def iocs(self) -> list[dict]:
        """The daily list as served with data_type=all and no size limit: newest first."""
        with self._lock:
            self._ensure_iocs()
            return [r for r, _, _ in reversed(self._iocs)]

    def ioc_kinds(self) -> list[str]:
        """The true kind of each record of :meth:`iocs` (ipv4, ipv6_port, md5, malformed, ...)."""
        with self._lock:
            self._ensure_iocs()
            return [k for _, k, _ in reversed(self._iocs)]

    # -- record ----------------------------------------------------------------------------------------

    def state(self, include_requests: bool = True) -> dict:
        """What the simulator received and holds (also served as GET /__sim__/state)."""
        with self._lock:
            snapshot = {
                "config": self.config.public(),
                "alarm_count": len(self._alarms),
                "first_code": self._codes[0] if self._codes else None,
                "last_code": self._codes[-1] if self._codes else None,
                "inserted": self.inserted,
                "statuses": {str(a.code): a.status for a in self._alarms},
                "status_changes": [dict(c) for c in self.status_changes],
                "takedowns": [dict(t) for t in self.takedowns],
                "data_removals": [dict(r) for r in self.data_removals],
                "request_count": len(self.requests),
                "faults": self.faults.to_list(),
                "errors": list(self.errors),
            }
            if include_requests:
                snapshot["requests"] = [dict(r) for r in self.requests]
            return snapshot

    def reset_record(self) -> None:
        with self._lock:
            self.requests.clear()
            self.status_changes.clear()
            self.takedowns.clear()
            self.data_removals.clear()

    def _begin(self, method: str, path: str, query: dict) -> dict:
        shown = {k: (v[0] if len(v) == 1 else v) for k, v in query.items()}
        if "api_token" in shown:
            shown["api_token"] = "***"  # noqa: S105 - the record never holds a credential
        with self._lock:
            record = {
                "index": len(self.requests),
                "method": method,
                "path": path,
                "query": shown,
                "status": None,
                "fault": None,
                "auth": None,
                "at": round(self._clock() - self._started, 4),
            }
            self.requests.append(record)
            return record

    # -- the API ------------------------------------------------------------------------------------

    def dispatch(self, method: str, path: str, query: dict, headers, body: bytes, record: dict) -> tuple:
        """Answer one API request: (status, content type, body bytes, extra headers)."""
        if path.startswith(API_BASE + "/") or path == API_BASE:
            refusal = self._check_key(headers, record)
            if refusal:
                return refusal
            return self._alarm_api(method, path[len(API_BASE) :], query, body, record)
        if path in (IOC_PATH, IOC_PATH.rstrip("/")):
            if method != "GET":
                return _json(405, {"message": "Method not allowed"})
            return self._ioc_api(query, record)
        return _json(404, {"message": f"Not found: {path}"})

    def _check_key(self, headers, record: dict):
        if self.config.refuse_ip:
            record["auth"] = "ip-refused"
            return _json(403, {"message": f"Forbidden: the address {HOST} is not on this company's IP allow-list"})
        given = headers.get("X-COMPANY-API-KEY")
        if given is None:
            record["auth"] = "missing"
            return _json(401, {"message": "Unauthorized: the X-COMPANY-API-KEY header is missing"})
        if not hmac.compare_digest(given.encode(), self.config.api_key.encode()):
            record["auth"] = "wrong"
            return _json(401, {"message": "Unauthorized: invalid API key"})
        record["auth"] = "ok"
        return None

    def _alarm_api(self, method: str, route: str, query: dict, body: bytes, record: dict):
        parts = [p for p in route.split("/") if p != ""]
        if len(parts) == 2 and parts[0] == "vulnerabilities":
            return self._list_alarms(method, parts[1], query)
        if parts == ["incident", "status"]:
            return self._change_status(method, body) if method == "PATCH" else _json(405, {"message": "Method not allowed"})
        if parts == ["takedown"]:
            return self._takedown(method, body) if method == "POST" else _json(405, {"message": "Method not allowed"})
        if len(parts) == 2 and parts[0] == "cve":
            return self._list_cves(method, parts[1], query, subscribed=False)
        if len(parts) == 3 and parts[:2] == ["cve", "subscribed"]:
            return self._list_cves(method, parts[2], query, subscribed=True)
        removal = self.config.data_removal_path
        if removal is not None and parts == [p for p in removal.split("/") if p]:
            return self._data_removal(body) if method == "POST" else _json(405, {"message": "Method not allowed"})
        return _json(404, {"message": f"Not found: {API_BASE}{route}"})

    def _list_alarms(self, method: str, page_text: str, query: dict):
        if method != "GET":
            return _json(405, {"message": "Method not allowed"})
        page = _int(page_text)
        if page is None or page < 0:
            return _json(400, {"message": f"page must be a non-negative integer, not {page_text!r}"})
        after_text = _first(query, "afterAlarmCode")
        after = None
        if after_text not in (None, ""):
            after = _int(after_text)
            if after is None:
                return _json(400, {"message": f"afterAlarmCode must be an integer, not {after_text!r}"})
        with self._lock:
            chosen, total = self._page(after, page)
            answer = _json(200, {"data": [a.wire() for a in chosen], "totalRecords": total})
            self._list_requests += 1
            cfg = self.config
            if cfg.insert_every and cfg.insert_count and self._list_requests % cfg.insert_every == 0:
                room = cfg.insert_count if cfg.insert_max is None else max(0, cfg.insert_max - self.inserted)
                count = min(cfg.insert_count, room)
                if count:
                    self.add_alarms(count)
                    self.inserted += count
        return answer

    def _change_status(self, method: str, body: bytes):
        payload = _json_body(body)
        if not isinstance(payload, dict):
            return _json(400, {"message": "The body must be a JSON object with status and alarmIds"})
        status = payload.get("status")
        if status not in data.STATUSES:
            return _json(400, {"message": f"Invalid status {status!r}; valid statuses: {', '.join(data.STATUSES)}"})
        ids = payload.get("alarmIds")
        if not isinstance(ids, list) or not ids:
            return _json(400, {"message": "alarmIds must be a non-empty list of alarm codes"})
        # Reading of an undocumented point: integers and numeric strings are both accepted.
        codes = [_int(i) if not isinstance(i, bool) else None for i in ids]
        if any(c is None for c in codes):
            return _json(400, {"message": f"alarmIds must hold integers, got {ids!r}"})
        with self._lock:
            unknown = [c for c in codes if c not in self._by_code]
            if unknown:
                # Judgement call: unknown codes are a 404 and nothing changes (the request is all or nothing).
                return _json(404, {"message": f"Alarm(s) not found: {', '.join(map(str, unknown))}"})
            previous = {}
            for code in codes:
                previous[str(code)] = self._by_code[code].status
                self._by_code[code].status = status
            self.status_changes.append({"alarmIds": codes, "status": status, "previous": previous})
            kind = self.config.status_body
        if kind == "json":
            return _json(200, {"message": "Alarm status updated", "alarmIds": codes, "status": status})
        if kind == "text":
            return 200, "text/plain; charset=utf-8", b"OK", {}
        return 200, None, b"", {}

    def _takedown(self, method: str, body: bytes):
        payload = _json_body(body)
        if not isinstance(payload, dict):
            return _json(400, {"message": "The body must be a JSON object with findingId and finding"})
        raw_id = payload.get("findingId")
        finding_id = None if isinstance(raw_id, bool) else _int(raw_id)
        entry = {"findingId": raw_id, "finding": payload.get("finding"), "result": None}
        with self._lock:
            self.takedowns.append(entry)
            if finding_id is None:
                entry["result"] = 400
                return _json(400, {"message": f"findingId must be an integer, got {raw_id!r}"})
            alarm = self._by_finding.get(finding_id)
            if alarm is None:
                entry["result"] = 404
                return _json(404, {"message": f"Finding {finding_id} not found"})
            entry.update(alarmCode=alarm.code, alarmType=alarm.alarm_type)
            if alarm.alarm_type not in data.TAKEDOWN_ELIGIBLE:
                entry["result"] = 400
                return _json(400, {"message": f"Finding {finding_id} ({alarm.alarm_type}) is not eligible for takedown"})
            if finding_id in self._takedown_done:
                entry["result"] = 409
                return _json(409, {"message": f"A takedown request for finding {finding_id} already exists"})
            quota = self.config.takedown_quota
            if quota is not None and len(self._takedown_done) >= quota:
                entry["result"] = 403
                return _json(403, {"message": "Takedown quota exceeded for this company"})
            self._takedown_done.add(finding_id)
            entry["result"] = 200
        return _json(200, {"message": "Takedown request created", "findingId": finding_id, "status": "Submitted"})

    def _data_removal(self, body: bytes):
        """A Black Market Monitoring data removal request, answered as the takedown is (the simulator's reading: the
        real codes are not published): 400 not eligible or bad id, 403 credits used up, 404 unknown finding, 409
        already requested."""
        payload = _json_body(body)
        if not isinstance(payload, dict):
            return _json(400, {"message": "The body must be a JSON object with findingId and finding"})
        raw_id = payload.get("findingId")
        finding_id = None if isinstance(raw_id, bool) else _int(raw_id)
        entry = {"findingId": raw_id, "finding": payload.get("finding"), "result": None}
        with self._lock:
            self.data_removals.append(entry)
            if finding_id is None:
                entry["result"] = 400
                return _json(400, {"message": f"findingId must be an integer, got {raw_id!r}"})
            alarm = self._by_finding.get(finding_id)
            if alarm is None:
                entry["result"] = 404
                return _json(404, {"message": f"Finding {finding_id} not found"})
            entry.update(alarmCode=alarm.code, alarmType=alarm.alarm_type)
            if alarm.alarm_type not in data.DATA_REMOVAL_ELIGIBLE:
                entry["result"] = 400
                return _json(400, {"message": f"Finding {finding_id} ({alarm.alarm_type}) is not eligible for data removal"})
            if finding_id in self._removal_done:
                entry["result"] = 409
                return _json(409, {"message": f"A data removal request for finding {finding_id} already exists"})
            quota = self.config.data_removal_quota
            if quota is not None and len(self._removal_done) >= quota:
                entry["result"] = 403
                return _json(403, {"message": "No Black Market Data Removal credits left for this company"})
            self._removal_done.add(finding_id)
            entry["result"] = 200
        return _json(200, {"message": "Data removal request created", "findingId": finding_id, "status": "Submitted"})

    def _list_cves(self, method: str, page_text: str, query: dict, subscribed: bool):
        if method != "GET":
            return _json(405, {"message": "Method not allowed"})
        page = _int(page_text)
        if page is None or page < 0:
            return _json(400, {"message": f"page must be a non-negative integer, not {page_text!r}"})
        cvss = _first(query, "cvss") or ""
        chosen = [c for c in self._cves if data.cve_matches(c, cvss)]
        if subscribed:
            customer = (_first(query, "customerName") or "").strip()
            if customer:
                # Reading of an undocumented point: an unknown customer gets an empty list, not an error.
                vendors = next((set(v) for k, v in data.CVE_SUBSCRIPTIONS.items() if k.lower() == customer.lower()), set())
            else:
                vendors = {v for vs in data.CVE_SUBSCRIPTIONS.values() for v in vs}
            chosen = [c for c in chosen if vendors.intersection(c["vendors"])]
        items = chosen[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
        return _json(200, {"data": items, "totalRecords": len(chosen)})

    def _ioc_api(self, query: dict, record: dict):
        if self.config.refuse_ip:
            record["auth"] = "ip-refused"
            return _json(403, {"message": f"Forbidden: the address {HOST} is not allowed"})
        token = _first(query, "api_token")
        if not token or not hmac.compare_digest(token.encode(), self.config.ioc_token.encode()):
            record["auth"] = "missing" if not token else "wrong"
            return _json(401, {"message": "Invalid or missing api_token"})
        record["auth"] = "ok"
        data_type = (_first(query, "data_type") or "all").strip().lower()
        if data_type not in ("all", *data.IOC_DATA_TYPES):
            return _json(400, {"message": f"data_type must be all, ip, domain or url, not {data_type!r}"})
        size_text = _first(query, "size")
        size = 500 if size_text in (None, "") else _int(size_text)
        if size is None or size < 1:
            return _json(400, {"message": f"size must be a positive integer, not {size_text!r}"})
        collections = frozenset(c.strip() for c in (_first(query, "collection_id") or "").split(",") if c.strip())
        with self._lock:
            self._ensure_iocs()
            key = (data_type, size, collections, len(self._iocs))
            if self._ioc_cache and self._ioc_cache[0] == key:
                return 200, "application/json", self._ioc_cache[1], {}
            kinds = data.IOC_DATA_TYPES.get(data_type)
            chosen = []
            # The daily list is served newest first; ``size`` keeps the newest records.
            for rec, kind, coll in reversed(self._iocs):
                if (kinds is None or kind in kinds) and (not collections or coll in collections):
                    chosen.append(rec)
                    if len(chosen) >= size:
                        break
            body = json.dumps({"iocs": chosen}, separators=(",", ":")).encode()
            self._ioc_cache = (key, body)
        return 200, "application/json", body, {}

    # -- control endpoints ---------------------------------------------------------------------------

    def control(self, method: str, path: str, query: dict):
        name = path[len(CONTROL_PREFIX) :].strip("/")
        if name == "state" and method == "GET":
            include = (_first(query, "requests") or "1") not in ("0", "false", "no")
            return _json(200, self.state(include_requests=include))
        if name == "alarms" and method == "POST":
            count = _int(_first(query, "count") or "1")
            if count is None or count < 0:
                return _json(400, {"message": "count must be a non-negative integer"})
            return _json(200, {"added": self.add_alarms(count)})
        return _json(404, {"message": f"Unknown control endpoint {path}"})


# ---------------------------------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------------------------------


def _json(status: int, obj) -> tuple:
    return status, "application/json", json.dumps(obj, separators=(",", ":")).encode(), {}


def _json_body(body: bytes):
    try:
        return json.loads(body or b"null")
    except ValueError:
        return None


def _int(value) -> int | None:
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _first(query: dict, name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    sim: Simulator

    def handle_error(self, request, client_address):  # keep the console quiet; keep the record
        import traceback

        self.sim.errors.append(traceback.format_exc(limit=3))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real API behind a load balancer

    def version_string(self) -> str:
        return "ThreatMonSimulator/1.0"

    timeout = 15  # an idle keep-alive connection is closed after this

    def log_message(self, format, *args):
        return  # quiet: the record is kept in Simulator.requests

    def setup(self):
        super().setup()
        # Headers and body leave in separate writes: without TCP_NODELAY, Nagle's algorithm and the client's
        # delayed ACK would add ~40 ms to every keep-alive answer, and the latency knob would lie.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.sim._lock:
            self.server.sim._connections.add(self.connection)

    def finish(self):
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.sim._lock:
            self.server.sim._connections.discard(self.connection)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        arrived = time.monotonic()
        sim: Simulator = self.server.sim
        sim._last_activity = sim._clock()
        split = urlsplit(self.path)
        path, query = split.path, parse_qs(split.query, keep_blank_values=True)
        length = _int(self.headers.get("Content-Length") or 0) or 0
        body = self.rfile.read(length) if length > 0 else b""
        if path.startswith(CONTROL_PREFIX):
            self._send(*sim.control(method, path, query))
            return
        record = sim._begin(method, path, query)
        fault = sim.faults.pick(record["index"], method, path)
        if fault is not None:
            record["fault"] = fault.describe()
        answer = self._answer(sim, fault, method, path, query, body, record)
        encoded = None if answer is None else self._encode(*answer)
        # The latency knob is the time from the request's arrival to the answer, as a client sees a remote API:
        # the simulator's own work happens inside it, so it does not add to the client's round trip.
        latency = sim.config.latency_ms / 1000.0
        wait = latency - (time.monotonic() - arrived)
        if wait > 0 and sim._stop.wait(wait):
            self._drop(reset=False)
            return
        if encoded is None or (fault is not None and fault.kind == "slow" and sim._stop.wait(fault.delay_s)):
            self._drop(reset=fault is not None and fault.kind == "reset")
            return
        self._write(encoded)

    def _answer(self, sim: Simulator, fault: Fault | None, method, path, query, body, record) -> tuple | None:
        """The answer to send (status, content type, body, extra headers), or None to drop the connection."""
        kind = fault.kind if fault is not None else None
        if kind in ("drop", "reset"):
            return None
        if kind == "status":
            extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            status, ctype, payload, _ = _json(fault.status, {"status": fault.status, "message": _reason(fault.status)})
            record["status"] = status
            return status, ctype, payload, extra
        if kind == "html":
            record["status"] = fault.status
            return fault.status, "text/html", HTML_PAGE.format(status=fault.status, reason=_reason(fault.status)).encode(), {}
        if kind == "empty":
            record["status"] = 200
            return 200, "application/json", b"", {}
        try:
            status, ctype, payload, extra = sim.dispatch(method, path, query, self.headers, body, record)
        except Exception:  # a bug in the simulator: answer 500 and keep the traceback in the record
            import traceback

            sim.errors.append(traceback.format_exc(limit=5))
            status, ctype, payload, extra = _json(500, {"message": "simulator error"})
        record["status"] = status
        if kind == "truncated":
            payload = payload[: max(1, len(payload) // 2)]
        return status, ctype, payload, extra

    def _encode(self, status: int, ctype: str | None, payload: bytes, extra: dict) -> bytes:
        """The whole HTTP answer as bytes, built before the latency wait so that sending it is one write."""
        headers = [f"{self.protocol_version} {status} {_reason(status)}", f"Server: {self.version_string()}"]
        headers.append(f"Date: {self.date_time_string()}")
        if ctype:
            headers.append(f"Content-Type: {ctype}")
        headers.append(f"Content-Length: {len(payload)}")
        headers += [f"{name}: {value}" for name, value in extra.items()]
        return ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1") + payload

    def _send(self, status: int, ctype: str | None, payload: bytes, extra: dict) -> None:
        self._write(self._encode(status, ctype, payload, extra))

    def _write(self, answer: bytes) -> None:
        try:
            self.wfile.write(answer)
        except OSError:  # the client went away (e.g. it timed out on a slow answer)
            self.close_connection = True

    def _drop(self, reset: bool) -> None:
        self.close_connection = True
        try:
            if reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
