"""The simulator's routes: one request (method, path, query, headers, body) in, one :class:`Reply` out.

Alarm API (header ``X-COMPANY-API-KEY``) under ``/api/threatmon/external/v1``:
``GET /vulnerabilities/{page}?afterAlarmCode=``, ``PATCH /incident/status``, ``POST /takedown``,
``GET /cve/{page}?cvss=``, ``GET /cve/subscribed/{page}?cvss=&customerName=``, and ``POST {data_removal_path}``
(only when that knob is set: ThreatMon has not published the data removal path, so the simulator has none by default).
IOC API (query ``api_token``) at the server root: ``GET /api/daily-ioc-details/``.
Control endpoints for tests and demos (no key, never under the API path): ``GET /__sim__/state``,
``POST /__sim__/alarms?count=K``, ``POST /__sim__/status?alarmIds=C1,C2&status=S`` (an analyst in the portal).

The fault plan is applied here, so the HTTP server and the in-process transport of the unit tests spoil
answers the same way; only how a connection is dropped, reset, cut or slowed is the transport's business.
"""

from __future__ import annotations

import hmac
import json
import traceback
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlencode

from simulator import data
from simulator.faults import Fault
from simulator.state import ThreatMonState

HOST = "127.0.0.1"
API_BASE = "/api/threatmon/external/v1"
IOC_PATH = "/api/daily-ioc-details/"
CONTROL_PREFIX = "/__sim__/"
CVE_PAGE_SIZE = 10

HTML_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass
class Answer:
    status: int
    content_type: str | None
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Reply:
    """The answer to send (None: no answer at all) and the fault that spoils it, if any. The transport still has to
    drop or reset the connection (``drop``, ``reset``), send only half the body (``cut``) or answer late (``slow``)."""

    answer: Answer | None
    fault: Fault | None = None

    @property
    def spoil(self) -> str | None:
        return self.fault.kind if self.fault is not None and self.fault.kind in ("drop", "reset", "cut", "slow") else None


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _json(status: int, obj) -> Answer:
    return Answer(status, "application/json", json.dumps(obj, separators=(",", ":")).encode())


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


class Api:
    """Routes requests to a :class:`ThreatMonState`."""

    def __init__(self, state: ThreatMonState):
        self.state = state

    def handle(self, method: str, path: str, query: dict, headers, body: bytes) -> Reply:
        """Answer one request. ``query`` maps names to lists of values (as urllib.parse.parse_qs gives them)."""
        if path.startswith(CONTROL_PREFIX):
            return Reply(self.control(method, path, query))
        state = self.state
        record = state.begin(method, path, query)
        fault = state.faults.pick(record["index"], method, path)
        if fault is not None:
            record["fault"] = fault.describe()
        answer = self._answer(fault, method, path, query, headers, body, record)
        if answer is not None:
            record["status"] = answer.status
        return Reply(answer, fault)

    def _answer(self, fault: Fault | None, method, path, query, headers, body, record) -> Answer | None:
        kind = fault.kind if fault is not None else None
        if kind in ("drop", "reset"):
            return None
        if kind == "status":
            answer = _json(fault.status, {"status": fault.status, "message": reason(fault.status)})
            if fault.retry_after is not None:
                answer.headers["Retry-After"] = fault.retry_after
            return answer
        if kind == "html":
            page = HTML_PAGE.format(status=fault.status, reason=reason(fault.status)).encode()
            return Answer(fault.status, "text/html", page)
        if kind == "empty":
            return Answer(200, "application/json", b"")
        if kind == "json":
            return _json(200, {"message": "The service is temporarily unavailable, try again later"})
        if kind == "redirect":  # the same path and query on another server: a hijacked DNS name or a wrong proxy
            location = fault.to.rstrip("/") + path + (f"?{urlencode(query, doseq=True)}" if query else "")
            return Answer(fault.status, "text/plain; charset=utf-8", b"Moved", {"Location": location})
        try:
            answer = self.dispatch(method, path, query, headers, body, record)
        except Exception:  # a bug in the simulator: answer 500 and keep the traceback in the record
            self.state.errors.append(traceback.format_exc(limit=5))
            answer = _json(500, {"message": "simulator error"})
        if kind == "truncated":
            answer.body = answer.body[: max(1, len(answer.body) // 2)]
        return answer

    # -- the API ------------------------------------------------------------------------------------

    def dispatch(self, method: str, path: str, query: dict, headers, body: bytes, record: dict) -> Answer:
        if path.startswith(API_BASE + "/") or path == API_BASE:
            refusal = self._check_key(headers, record)
            if refusal:
                return refusal
            return self._alarm_api(method, path[len(API_BASE) :], query, body)
        if path in (IOC_PATH, IOC_PATH.rstrip("/")):
            if method != "GET":
                return _json(405, {"message": "Method not allowed"})
            return self._ioc_api(query, record)
        return _json(404, {"message": f"Not found: {path}"})

    def _check_key(self, headers, record: dict) -> Answer | None:
        config = self.state.config
        if config.refuse_ip:
            record["auth"] = "ip-refused"
            return _json(403, {"message": f"Forbidden: the address {HOST} is not on this company's IP allow-list"})
        given = headers.get("X-COMPANY-API-KEY")
        if given is None:
            record["auth"] = "missing"
            return _json(401, {"message": "Unauthorized: the X-COMPANY-API-KEY header is missing"})
        if not hmac.compare_digest(given.encode(), config.api_key.encode()):
            record["auth"] = "wrong"
            return _json(401, {"message": "Unauthorized: invalid API key"})
        record["auth"] = "ok"
        return None

    def _alarm_api(self, method: str, route: str, query: dict, body: bytes) -> Answer:
        parts = [p for p in route.split("/") if p != ""]
        if len(parts) == 2 and parts[0] == "vulnerabilities":
            return self._list_alarms(method, parts[1], query)
        if parts == ["incident", "status"]:
            return self._change_status(body) if method == "PATCH" else _json(405, {"message": "Method not allowed"})
        if parts == ["takedown"]:
            return self._takedown(body) if method == "POST" else _json(405, {"message": "Method not allowed"})
        if len(parts) == 2 and parts[0] == "cve":
            return self._list_cves(method, parts[1], query, subscribed=False)
        if len(parts) == 3 and parts[:2] == ["cve", "subscribed"]:
            return self._list_cves(method, parts[2], query, subscribed=True)
        removal = self.state.config.data_removal_path
        if removal is not None and parts == [p for p in removal.split("/") if p]:
            return self._data_removal(body) if method == "POST" else _json(405, {"message": "Method not allowed"})
        return _json(404, {"message": f"Not found: {API_BASE}{route}"})

    def _list_alarms(self, method: str, page_text: str, query: dict) -> Answer:
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
        items, total, _order = self.state.list_alarms(after, page)
        body: dict = {"data": items}
        if total is not None:
            body["totalRecords"] = total
        return _json(200, body)

    def _change_status(self, body: bytes) -> Answer:
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
        unknown = self.state.change_status(codes, status)
        if unknown:
            return _json(404, {"message": f"Alarm(s) not found: {', '.join(map(str, unknown))}"})
        kind = self.state.config.status_body
        if kind == "json":
            return _json(200, {"message": "Alarm status updated", "alarmIds": codes, "status": status})
        if kind == "text":
            return Answer(200, "text/plain; charset=utf-8", b"OK")
        return Answer(200, None, b"")

    def _takedown(self, body: bytes) -> Answer:
        payload = _json_body(body)
        if not isinstance(payload, dict):
            return _json(400, {"message": "The body must be a JSON object with findingId and finding"})
        raw_id = payload.get("findingId")
        finding_id = None if isinstance(raw_id, bool) else _int(raw_id)
        status, message = self.state.takedown(raw_id, finding_id, payload.get("finding"))
        if status != 200:
            return _json(status, {"message": message})
        return _json(200, {"message": message, "findingId": finding_id, "status": "Submitted"})

    def _data_removal(self, body: bytes) -> Answer:
        payload = _json_body(body)
        if not isinstance(payload, dict):
            return _json(400, {"message": "The body must be a JSON object with findingId and finding"})
        raw_id = payload.get("findingId")
        finding_id = None if isinstance(raw_id, bool) else _int(raw_id)
        status, message = self.state.data_removal(raw_id, finding_id, payload.get("finding"))
        if status != 200:
            return _json(status, {"message": message})
        return _json(200, {"message": message, "findingId": finding_id, "status": "Submitted"})

    def _list_cves(self, method: str, page_text: str, query: dict, subscribed: bool) -> Answer:
        if method != "GET":
            return _json(405, {"message": "Method not allowed"})
        page = _int(page_text)
        if page is None or page < 0:
            return _json(400, {"message": f"page must be a non-negative integer, not {page_text!r}"})
        customer = (_first(query, "customerName") or "").strip() or None
        chosen = self.state.cves(_first(query, "cvss") or "", customer, subscribed)
        items = chosen[page * CVE_PAGE_SIZE : (page + 1) * CVE_PAGE_SIZE]
        return _json(200, {"data": items, "totalRecords": len(chosen)})

    def _ioc_api(self, query: dict, record: dict) -> Answer:
        config = self.state.config
        if config.refuse_ip:
            record["auth"] = "ip-refused"
            return _json(403, {"message": f"Forbidden: the address {HOST} is not allowed"})
        token = _first(query, "api_token")
        if not token or not hmac.compare_digest(token.encode(), config.ioc_token.encode()):
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
        return Answer(200, "application/json", self.state.ioc_body(data_type, size, collections))

    # -- control endpoints ---------------------------------------------------------------------------

    def control(self, method: str, path: str, query: dict) -> Answer:
        name = path[len(CONTROL_PREFIX) :].strip("/")
        if name == "state" and method == "GET":
            include = (_first(query, "requests") or "1") not in ("0", "false", "no")
            return _json(200, self.state.snapshot(include_requests=include))
        if name == "alarms" and method == "POST":
            count = _int(_first(query, "count") or "1")
            if count is None or count < 0:
                return _json(400, {"message": "count must be a non-negative integer"})
            return _json(200, {"added": self.state.add_alarms(count)})
        if name == "status" and method == "POST":
            codes = [_int(c) for c in (_first(query, "alarmIds") or "").split(",") if c.strip()]
            status = _first(query, "status") or ""
            if not codes or None in codes:
                return _json(400, {"message": "alarmIds must be alarm codes separated by commas"})
            try:
                return _json(200, {"alarmIds": self.state.set_portal_status(codes, status), "status": status})
            except ValueError as exc:
                return _json(400, {"message": str(exc)})
            except KeyError as exc:
                return _json(404, {"message": str(exc.args[0])})
        return _json(404, {"message": f"Unknown control endpoint {path}"})
