"""What the simulated ThreatMon holds and does, without HTTP: alarms and their statuses, takedowns, CVEs, daily IOCs,
the fault plan and the record of what was asked.

:class:`ThreatMonState` is driven by :mod:`simulator.api` (the routes), which the HTTP server
(:mod:`simulator.server`) and the in-process transport for unit tests (:mod:`simulator.mock`) share.
Where the real API's behaviour is unknown (``docs/threatmon-api.md``), a knob of :class:`SimConfig`
chooses the reading; the default is the documented or most likely one.
"""

from __future__ import annotations

import bisect
import json
import random
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from simulator import data
from simulator.config import SimConfig
from simulator.faults import Fault, FaultPlan

OPPOSITE = {"asc": "desc", "desc": "asc"}
OPEN_STATUSES = ("Open", "In Progress")  # what a list of open alarms only shows (knob open_only)


@dataclass(frozen=True)
class _FindingRequest:
    """What differs between the two requests about one finding: names of the state they use, and their words."""

    what: str  # in messages: "takedown", "data removal"
    log: str  # the list of every request
    done: str  # the set of findings already requested
    eligible: frozenset[str]  # the alarm types the request is for
    quota: str  # the SimConfig knob that bounds it
    quota_message: str


_TAKEDOWN = _FindingRequest(
    "takedown", "takedowns", "_takedown_done", frozenset(data.TAKEDOWN_ELIGIBLE), "takedown_quota",
    "Takedown quota exceeded for this company",
)  # fmt: skip
_DATA_REMOVAL = _FindingRequest(
    "data removal", "data_removals", "_removal_done", frozenset(data.DATA_REMOVAL_ELIGIBLE), "data_removal_quota",
    "No Black Market Data Removal credits left for this company",
)  # fmt: skip


class ThreatMonState:
    """The simulated ThreatMon: data, behaviour knobs (``config``), faults and the record. Thread-safe."""

    def __init__(self, config: SimConfig, clock=time.monotonic):
        self.config = config
        self.config.validate()
        cfg = self.config
        self.clock = clock
        self.lock = threading.RLock()
        self.faults = FaultPlan(cfg.faults)
        self.requests: list[dict] = []
        self.status_changes: list[dict] = []
        self.takedowns: list[dict] = []
        self.data_removals: list[dict] = []
        self.portal_changes: list[dict] = []  # statuses set "in the portal" (status_every, set_portal_status), not the API
        self.errors: list[str] = []  # exceptions inside the simulator (should stay empty)
        self.inserted = 0
        self.started = clock()
        self._list_requests = 0
        self._flip_rng = random.Random(cfg.seed * 31 + 7)  # noqa: S311 - seeded on purpose
        self._portal_rng = random.Random(cfg.seed * 7 + 1)  # noqa: S311 - seeded on purpose
        self._takedown_done: set[int] = set()
        self._removal_done: set[int] = set()

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
        pinned = data.AlarmFactory(cfg.seed + 1, quirks=data.AlarmQuirks(codeless=1.0))
        self._pinned = [pinned.make().wire() for _ in range(cfg.codeless_pinned)]
        ioc_day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) if cfg.recent else None
        self._ioc_factory = data.IocFactory(cfg.seed, day=ioc_day, noise=cfg.ioc_noise)
        self._iocs: list[tuple[dict, str, str]] = []  # oldest first; made on first use
        self._ioc_target = cfg.iocs
        self._ioc_cache: tuple | None = None

    # -- knobs at run time ---------------------------------------------------------------------------

    def set(self, **knobs) -> None:
        """Change knobs while running (order, latency_ms, refuse_ip, status_body, takedown_quota, inserts, faults...)."""
        with self.lock:
            config = replace(self.config, **knobs)
            config.validate()
            self.config = config
            if "faults" in knobs:
                self.faults = FaultPlan(config.faults)

    def add_fault(self, fault: Fault | str) -> Fault:
        return self.faults.add(fault)

    # -- alarms ----------------------------------------------------------------------------------------

    def _append(self, alarm: data.Alarm) -> None:
        self._alarms.append(alarm)
        self._codes.append(alarm.code)
        self._by_code[alarm.code] = alarm
        self._by_finding[alarm.finding_id] = alarm

    def add_alarms(self, count: int, date: datetime | None = None) -> list[int]:
        """Create ``count`` new alarms (newer codes; newer dates unless ``date`` is given); returns their codes."""
        with self.lock:
            now = datetime.now(UTC)
            codes = []
            for _ in range(count):
                when = date or (max(self._factory.next_date, now) if self.config.recent else None)
                alarm = self._factory.make(when)
                self._append(alarm)
                codes.append(alarm.code)
            return codes

    def alarms(self) -> list[dict]:
        """Every alarm, canonical form (integer code, all fields), ascending by code."""
        with self.lock:
            return [a.canonical() for a in self._alarms]

    def wire_alarms(self) -> list[dict]:
        """Every alarm as the API serves it (with quirks), ascending by code."""
        with self.lock:
            return [a.wire() for a in self._alarms]

    def pinned_alarms(self) -> list[dict]:
        """The alarms without any code that every answer lists first (knob codeless_pinned)."""
        return [dict(a) for a in self._pinned]

    def alarm(self, code: int) -> dict:
        with self.lock:
            return self._by_code[int(code)].canonical()

    @property
    def list_requests(self) -> int:
        """List requests answered so far (what insert_at and insert_every count)."""
        return self._list_requests

    def codes(self) -> list[int]:
        with self.lock:
            return list(self._codes)

    def list_alarms(self, after: int | None, page: int) -> tuple[list[dict], int | str | None, str]:
        """GET /vulnerabilities/{page}?afterAlarmCode=: the page's alarms as served, totalRecords (None: left out)
        and the order this request used. Counts as a list request (order flips, alarms created while paging)."""
        with self.lock:
            cfg = self.config
            count = cfg.insert_at.get(self._list_requests, 0)
            if count:
                self.add_alarms(count)
                self.inserted += count
            order = self._order_now()
            items, total = self._page(after, page, order)
            self._list_requests += 1
            if cfg.insert_every and cfg.insert_count and self._list_requests % cfg.insert_every == 0:
                room = cfg.insert_count if cfg.insert_max is None else max(0, cfg.insert_max - self.inserted)
                count = min(cfg.insert_count, room)
                if count:
                    self.add_alarms(count)
                    self.inserted += count
            if cfg.status_every and self._list_requests % cfg.status_every == 0:
                self._portal_activity()
        if cfg.total_records == "missing":
            total = None
        elif cfg.total_records == "text":
            total = str(total)
        return items, total, order

    def listing(self, after: int | None, order: str | None = None) -> list[dict]:
        """The whole list afterAlarmCode keeps, as served, in ``order`` (default: the knob's), without paging."""
        with self.lock:
            listed = self._listed()
            start = self._start(after, listed)
            return self._pinned + [a.wire() for a in self._ordered(listed, start, order or self.config.order)]

    def _order_now(self) -> str:
        """The order of this list request: the knob's, or its opposite when the order flips between requests."""
        order, flip = self.config.order, self.config.order_flip
        if flip == "alternate" and self._list_requests % 2:
            return OPPOSITE[order]
        if flip == "random" and self._flip_rng.random() < 0.5:
            return OPPOSITE[order]
        return order

    def _page(self, after: int | None, page: int, order: str) -> tuple[list[dict], int]:
        """One page of the alarms afterAlarmCode keeps, in ``order``, and how many totalRecords counts."""
        cfg = self.config
        listed = self._listed()
        start = self._start(after, listed)
        count = len(listed)
        total = (count if cfg.total_records == "all" else count - start) + len(self._pinned)
        step = cfg.page_size - cfg.page_overlap
        low, high = page * step, page * step + cfg.page_size
        if self._pinned or order == "unsorted":
            served = self._pinned + [a.wire() for a in self._ordered(listed, start, order)]
            chosen = served[low:high]
            end = len(served)
        else:
            kept = count - start
            if order == "asc":
                alarms = listed[start + min(low, kept) : start + min(high, kept)]
            else:
                alarms = listed[max(start, count - high) : max(start, count - low)][::-1]
            chosen = [a.wire() for a in alarms]
            end = kept
        if cfg.last_page_repeat and chosen and high >= end and len(chosen) < cfg.page_size:
            chosen.append(dict(chosen[0]))
        return chosen, total

    def _listed(self) -> list[data.Alarm]:
        """The alarms the list shows, ascending by code: all of them, or (knob open_only) the Open and In Progress ones."""
        if not self.config.open_only:
            return self._alarms
        return [a for a in self._alarms if a.status in OPEN_STATUSES]

    def _start(self, after: int | None, listed: list[data.Alarm]) -> int:
        """Where the alarms afterAlarmCode keeps begin in the ascending list ``listed``."""
        if after is None or self.config.after_filter == "ignored":
            return 0
        codes = self._codes if listed is self._alarms else [a.code for a in listed]
        if self.config.after_filter == "inclusive":
            return bisect.bisect_left(codes, after)
        return bisect.bisect_right(codes, after)

    def _ordered(self, listed: list[data.Alarm], start: int, order: str) -> list[data.Alarm]:
        if order == "asc":
            return listed[start:]
        if order == "desc":
            return listed[start:][::-1]
        seed = self.config.seed
        return sorted(listed[start:], key=lambda a: ((a.code * 2654435761) ^ seed) & 0xFFFFFFFF)

    # -- status, takedown ------------------------------------------------------------------------------

    def change_status(self, codes: list[int], status: str) -> list[int]:
        """Set the status of every alarm of ``codes``; returns the unknown codes (then nothing changes)."""
        with self.lock:
            unknown = [c for c in codes if c not in self._by_code]
            if unknown:
                # Judgement call: unknown codes are a 404 and nothing changes (the request is all or nothing).
                return unknown
            previous = {}
            for code in codes:
                previous[str(code)] = self._by_code[code].status
                self._by_code[code].status = status
            self.status_changes.append({"alarmIds": codes, "status": status, "previous": previous})
            return []

    def set_portal_status(self, codes: int | list[int], status: str) -> list[int]:
        """Set alarm statuses as an analyst does in the ThreatMon portal: not an API request; recorded in
        ``portal_changes`` (the API's own changes are in ``status_changes``). Raises ValueError for a status that is
        not one of the five, KeyError for an unknown code (then nothing changes)."""
        if status not in data.STATUSES:
            raise ValueError(f"status must be one of {', '.join(data.STATUSES)}, not {status!r}")
        codes = [int(code) for code in (codes if isinstance(codes, list) else [codes])]
        with self.lock:
            unknown = [code for code in codes if code not in self._by_code]
            if unknown:
                raise KeyError(f"no alarm {', '.join(map(str, unknown))}")
            for code in codes:
                alarm = self._by_code[code]
                self.portal_changes.append(
                    {"alarmCode": code, "status": status, "previous": alarm.status, "after_requests": len(self.requests)}
                )
                alarm.status = status
        return codes

    def _portal_activity(self) -> None:
        """status_every: an analyst answers one alarm that is still Open or In Progress (chosen by the seed)."""
        candidates = [a.code for a in self._alarms if a.status in ("Open", "In Progress")]
        if candidates:
            code = self._portal_rng.choice(candidates)
            self.set_portal_status(code, self._portal_rng.choice(data.STATUSES[1:]))

    def takedown(self, raw_id, finding_id: int | None, finding) -> tuple[int, str]:
        """A takedown request: (HTTP status, message). Every request is recorded in ``takedowns``."""
        return self._finding_request(_TAKEDOWN, raw_id, finding_id, finding)

    def data_removal(self, raw_id, finding_id: int | None, finding) -> tuple[int, str]:
        """A Black Market Monitoring data removal request, answered as the takedown is (the simulator's reading: the
        real codes are not published): 400 not eligible or bad id, 403 credits used up, 404 unknown finding, 409
        already requested. Every request is recorded in ``data_removals``."""
        return self._finding_request(_DATA_REMOVAL, raw_id, finding_id, finding)

    def _finding_request(self, kind: _FindingRequest, raw_id, finding_id: int | None, finding) -> tuple[int, str]:
        """A request about one finding (takedown or data removal): (HTTP status, message), recorded in its log."""
        entry = {"findingId": raw_id, "finding": finding, "result": None}

        def answer(status: int, message: str) -> tuple[int, str]:
            entry["result"] = status
            return status, message

        with self.lock:
            getattr(self, kind.log).append(entry)
            if finding_id is None:
                return answer(400, f"findingId must be an integer, got {raw_id!r}")
            alarm = self._by_finding.get(finding_id)
            if alarm is None:
                return answer(404, f"Finding {finding_id} not found")
            entry.update(alarmCode=alarm.code, alarmType=alarm.alarm_type)
            if alarm.alarm_type not in kind.eligible:
                return answer(400, f"Finding {finding_id} ({alarm.alarm_type}) is not eligible for {kind.what}")
            done = getattr(self, kind.done)
            if finding_id in done:
                return answer(409, f"A {kind.what} request for finding {finding_id} already exists")
            quota = getattr(self.config, kind.quota)
            if quota is not None and len(done) >= quota:
                return answer(403, kind.quota_message)
            done.add(finding_id)
            return answer(200, f"{kind.what.capitalize()} request created")

    # -- CVEs ------------------------------------------------------------------------------------------

    def cves(self, cvss: str, customer: str | None, subscribed: bool) -> list[dict]:
        """The CVE records a list request selects (all pages)."""
        chosen = [c for c in self._cves if data.cve_matches(c, cvss)]
        if subscribed:
            if customer:
                # Reading of an undocumented point: an unknown customer gets an empty list, not an error.
                vendors = next((set(v) for k, v in data.CVE_SUBSCRIPTIONS.items() if k.lower() == customer.lower()), set())
            else:
                vendors = {v for vs in data.CVE_SUBSCRIPTIONS.values() for v in vs}
            chosen = [c for c in chosen if vendors.intersection(c["vendors"])]
        return chosen

    # -- IOCs ------------------------------------------------------------------------------------------

    def _ensure_iocs(self) -> None:
        while len(self._iocs) < self._ioc_target:
            self._iocs.append(self._ioc_factory.make())

    def add_iocs(self, count: int) -> None:
        """Publish ``count`` newer IOC records in the daily list."""
        with self.lock:
            self._ioc_target += count
            self._ensure_iocs()
            self._ioc_cache = None

    def iocs(self) -> list[dict]:
        """The daily list as served with data_type=all and no size limit: newest first."""
        with self.lock:
            self._ensure_iocs()
            return [r for r, _, _ in reversed(self._iocs)]

    def ioc_kinds(self) -> list[str]:
        """The true kind of each record of :meth:`iocs` (ipv4, ipv6_port, md5, malformed, ...)."""
        with self.lock:
            self._ensure_iocs()
            return [k for _, k, _ in reversed(self._iocs)]

    def ioc_body(self, data_type: str, size: int, collections: frozenset) -> bytes:
        """The daily list's JSON body for one query (newest first; ``size`` keeps the newest records), cached."""
        with self.lock:
            self._ensure_iocs()
            key = (data_type, size, collections, len(self._iocs))
            if self._ioc_cache and self._ioc_cache[0] == key:
                return self._ioc_cache[1]
            kinds = data.IOC_DATA_TYPES.get(data_type)
            chosen = []
            for rec, kind, coll in reversed(self._iocs):
                if (kinds is None or kind in kinds) and (not collections or coll in collections):
                    chosen.append(rec)
                    if len(chosen) >= size:
                        break
            body = json.dumps({"iocs": chosen}, separators=(",", ":")).encode()
            self._ioc_cache = (key, body)
            return body

    # -- record ----------------------------------------------------------------------------------------

    def begin(self, method: str, path: str, query: dict) -> dict:
        """Record an API request (never a credential); the record is filled in as the request is answered."""
        shown = {k: (v[0] if len(v) == 1 else v) for k, v in query.items()}
        if "api_token" in shown:
            shown["api_token"] = "***"  # noqa: S105 - the record never holds a credential
        with self.lock:
            record = {
                "index": len(self.requests),
                "method": method,
                "path": path,
                "query": shown,
                "status": None,
                "fault": None,
                "auth": None,
                "at": round(self.clock() - self.started, 4),
            }
            self.requests.append(record)
            return record

    def snapshot(self, include_requests: bool = True) -> dict:
        """What the simulator received and holds (also served as GET /__sim__/state)."""
        with self.lock:
            snapshot = {
                "config": self.config.public(),
                "alarm_count": len(self._alarms),
                "first_code": self._codes[0] if self._codes else None,
                "last_code": self._codes[-1] if self._codes else None,
                "inserted": self.inserted,
                "statuses": {str(a.code): a.status for a in self._alarms},
                "status_changes": [dict(c) for c in self.status_changes],
                "portal_changes": [dict(c) for c in self.portal_changes],
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
        with self.lock:
            self.requests.clear()
            self.status_changes.clear()
            self.portal_changes.clear()
            self.takedowns.clear()
            self.data_removals.clear()


class SimulatedThreatMon:
    """What the HTTP simulator and the in-process one share: the simulated ThreatMon's data, knobs and record, kept
    in ``self.threatmon`` (a :class:`ThreatMonState`)."""

    threatmon: ThreatMonState

    @property
    def config(self) -> SimConfig:
        return self.threatmon.config

    @property
    def faults(self):
        return self.threatmon.faults

    @property
    def requests(self) -> list[dict]:
        return self.threatmon.requests

    @property
    def status_changes(self) -> list[dict]:
        return self.threatmon.status_changes

    @property
    def portal_changes(self) -> list[dict]:
        return self.threatmon.portal_changes

    @property
    def takedowns(self) -> list[dict]:
        return self.threatmon.takedowns

    @property
    def data_removals(self) -> list[dict]:
        return self.threatmon.data_removals

    @property
    def errors(self) -> list[str]:
        return self.threatmon.errors

    @property
    def inserted(self) -> int:
        return self.threatmon.inserted

    def set(self, **knobs) -> None:
        """Change knobs while running (order, latency_ms, refuse_ip, status_body, takedown_quota, inserts, faults...)."""
        self.threatmon.set(**knobs)

    def add_fault(self, fault: Fault | str) -> Fault:
        return self.threatmon.add_fault(fault)

    def add_alarms(self, count: int, date: datetime | None = None) -> list[int]:
        return self.threatmon.add_alarms(count, date)

    def alarms(self) -> list[dict]:
        return self.threatmon.alarms()

    def wire_alarms(self) -> list[dict]:
        return self.threatmon.wire_alarms()

    def alarm(self, code: int) -> dict:
        return self.threatmon.alarm(code)

    def set_portal_status(self, codes: int | list[int], status: str) -> list[int]:
        """An analyst sets alarm statuses in the ThreatMon portal (see ThreatMonState.set_portal_status)."""
        return self.threatmon.set_portal_status(codes, status)

    def codes(self) -> list[int]:
        return self.threatmon.codes()

    def add_iocs(self, count: int) -> None:
        self.threatmon.add_iocs(count)

    def iocs(self) -> list[dict]:
        return self.threatmon.iocs()

    def ioc_kinds(self) -> list[str]:
        return self.threatmon.ioc_kinds()

    def state(self, include_requests: bool = True) -> dict:
        """What the simulator received and holds (also served as GET /__sim__/state)."""
        return self.threatmon.snapshot(include_requests)

    def reset_record(self) -> None:
        self.threatmon.reset_record()

    def listing(self, after: int | None, order: str | None = None) -> list[dict]:
        return self.threatmon.listing(after, order)

    def pinned_alarms(self) -> list[dict]:
        return self.threatmon.pinned_alarms()

    @property
    def list_requests(self) -> int:
        return self.threatmon.list_requests
