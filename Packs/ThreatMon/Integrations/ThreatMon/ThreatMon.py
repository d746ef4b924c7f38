"""ThreatMon integration for Cortex XSOAR.

Fetches ThreatMon alarms as incidents (each alarm exactly once, whatever order the API lists them in),
changes alarm statuses, lists alarms, requests takedowns and black-market data removals, lists CVE intelligence,
and mirrors the closing of an incident back to ThreatMon.

What is known of the API (and what is not) is summarised where each fact is used. In short:
``GET /vulnerabilities/{page}?afterAlarmCode=C`` returns ``{"data": [...], "totalRecords": T}``, ten alarms a
page; whether the filtered set is sorted ascending or descending by ``alarmCode`` is NOT documented, so
the fetch detects the order at run time and supports both (plus a slow but safe path for anything else).
"""

import hashlib
import itertools
import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import demistomock as demisto
import requests
from CommonServerPython import *

# The transport shared with the feed: demisto-sdk puts the module's code in place of this line when it unifies the file.
from ThreatMonApiModule import *  # noqa: E402

""" CONSTANTS """

INTEGRATION_ID = "Threatmon"  # commonfields.id (the brand) of ThreatMon 1.x, kept so instances and lastRun carry over
DEFAULT_URL = "https://external.threatmonit.io/api/threatmon/external/v1"
API_PATH = "/api/threatmon/external/v1"
INCIDENT_TYPE_NAME = "ThreatMon Alarm"

PAGE_SIZE = 10  # fixed by the ThreatMon server: a page holds at most ten alarms
DEFAULT_MAX_FETCH = 100
MAX_FETCH_LIMIT = 1000
MAX_LIST_LIMIT = 100
DEFAULT_LIST_LIMIT = 10
MAX_LIST_PAGES = 50  # list_alarms with a severity filter stops after this many pages

FETCH_DEADLINE = 40.0  # seconds: a fetch run ends well inside the server's one-minute budget
COMMAND_DEADLINE = 90.0

# Fetch bounds. Skipped alarms (first_fetch, min_severity) cost requests but no incident budget, so the
# number of requests a run may send is bounded on its own.
EXTRA_REQUESTS_PER_RUN = 30
LAST_PAGE_TRIES = 4
SCAN_MAX_REQUESTS = 200  # an unsorted list is read whole; this bounds it (the deadline too)
MIGRATION_MAX_REQUESTS = 400  # counting a 1.0.x batch page by page, once, when totalRecords cannot be used
MIGRATION_TRIES = 3
MAX_FINGERPRINTS = 100  # alarms without a usable code are remembered by fingerprint, this many at most
STATE_VERSION = 2

ALARM_STATUSES = ["Open", "In Progress", "False Positive", "Ignore", "Resolved"]
CVSS_SEVERITIES = ["NONE", "LOW", "MEDIUM", "HIGH", "CRITICAL"]  # the CVSS v3 severity words the cvss filter takes
SEVERITY_WORDS = ["Information", "Low", "Medium", "High", "Critical"]
SEVERITY_TO_XSOAR = {
    "information": IncidentSeverity.INFO,
    "low": IncidentSeverity.LOW,
    "medium": IncidentSeverity.MEDIUM,
    "high": IncidentSeverity.HIGH,
    "critical": IncidentSeverity.CRITICAL,
}
SEVERITY_RANK = {word.lower(): rank for rank, word in enumerate(SEVERITY_WORDS)}
MIRROR_DIRECTIONS = {"none": None, "outgoing": "Out"}
CLOSE_FIELDS = ("closeReason", "closingUserId", "closed")  # set by a close; closeNotes alone is a later edit
# Close reasons (lower case, without XSIAM's "Resolved - " prefix) that set a status other than Resolved. XSOAR says
# "False Positive" and "Duplicate"; Cortex XSIAM and the Cortex platform say "Resolved - False Positive", "Resolved -
# Duplicate Issue", "Resolved - Known Issue", "Resolved - Security Testing", "Resolved - Dismissed" (and "Resolved -
# True Positive", "Resolved - Other", which are Resolved). Their API spelling (resolved_known_issue) is read too.
CLOSE_REASON_STATUS = {
    "false positive": "False Positive",
    "duplicate": "Ignore",
    "duplicate issue": "Ignore",
    "known issue": "Ignore",
    "security testing": "Ignore",
    "dismissed": "Ignore",
}

DATA_REMOVAL_COMMAND = "threatmon_request_data_removal"
DATA_REMOVAL_PARAM = "Data removal API path (data_removal_path)"
FINDING_ID_PLACEHOLDER = "{findingId}"

TAKEDOWN_ERRORS = {
    400: "ThreatMon refused the takedown request for finding {fid} (HTTP 400): the finding is not eligible for a takedown "
    "(eligible alarm types include Phishing Domain Detected, Rogue Mobile App Detected and Fake Social Media Account "
    "Detected).",
    403: "ThreatMon refused the takedown request for finding {fid} (HTTP 403): the company's takedown quota is used up; "
    "ask ThreatMon for more (if other ThreatMon commands fail too, check the API key and the IP allow-list).",
    404: "ThreatMon has no finding {fid} (HTTP 404): check the findingId argument.",
    409: "A takedown request for finding {fid} already exists in ThreatMon (HTTP 409): nothing was sent again.",
}

# The answers of a data removal request, as ThreatMon's own pack describes the service (credits, rights); the codes
# are assumed to be the takedown's, the one request of the same shape whose answers are known.
DATA_REMOVAL_ERRORS = {
    400: "ThreatMon refused the data removal request for finding {fid} (HTTP 400): the finding is not eligible for a "
    "data removal (it is meant for Black Market Monitoring findings).",
    403: "ThreatMon refused the data removal request for finding {fid} (HTTP 403): the company's Black Market Data "
    "Removal credits are used up, or the company has no right to the Black Market Data Removal service; ask ThreatMon "
    "(if other ThreatMon commands fail too, check the API key and the IP allow-list).",
    404: "ThreatMon has no finding {fid} (HTTP 404): check the findingId argument, and that the "
    + DATA_REMOVAL_PARAM
    + " parameter is the path ThreatMon support gave.",
    409: "A data removal request for finding {fid} already exists in ThreatMon (HTTP 409): nothing was sent again.",
}

CVE_HEADERS = [
    "CVE",
    "Summary",
    "CVSS v3.1",
    "Severity v3.1",
    "CVSS v3",
    "CVSS v4",
    "Vendors",
    "Exploit",
    "Zero-day",
    "Ransomware",
    "Updated",
]

""" CLIENT """


class Client(ThreatMonClient):
    """Speaks HTTP to ThreatMon's alarm API and nothing else: its endpoints. The retry loop, the error sentences
    and their kinds are ThreatMonClient's (ThreatMonApiModule); the words below make them this API's."""

    CREDENTIAL_HEADER = "X-COMPANY-API-KEY"
    # A 401/403 can mean a wrong key or a caller IP that ThreatMon has not allow-listed (docs/threatmon-api.md, 1.1).
    HINTS = ApiHints(
        credential="API key",
        credential_check="that the API key is valid and that ThreatMon has allow-listed the public IP address of this "
        "XSOAR server or engine",
        server_url=f"https://external.threatmonit.io or a URL ending in {API_PATH}",
        slow_down="lower the fetch frequency or the maximum incidents per fetch",
        # Not documented, but not excluded: a 404 on the status change may name unknown alarm codes.
        not_found_checks={"/incident/status": "that the alarm codes exist in ThreatMon"},
    )
    # 0.5 s, 1 s, 2 s between four attempts; a longer Retry-After is cut to 10 s (the run's deadline bounds the total).
    POLICY = RetryPolicy(max_attempts=4, backoff_base=0.5, backoff_cap=8.0, retry_after_cap=10.0, read_timeout=20.0)

    def __init__(self, *args: Any, data_removal_path: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.data_removal_path = data_removal_path  # relative to base_url (see parse_data_removal_path); None: unknown

    # ----- endpoints -----

    def list_alarms(self, page: int, after_alarm_code: int | None = None) -> dict[str, Any]:
        """GET /vulnerabilities/{page}; afterAlarmCode keeps alarms whose code is greater than it."""
        params = {"afterAlarmCode": after_alarm_code} if after_alarm_code is not None else None
        return self._request("GET", f"/vulnerabilities/{page}", params=params, expect=_is_page_body)

    def update_alarm_status(self, alarm_ids: list[int], status: str) -> Any:
        """PATCH /incident/status. Success is any 2xx; its body is not documented (may be empty or not JSON)."""
        response = self._request("PATCH", "/incident/status", json_data={"status": status, "alarmIds": alarm_ids})
        return _body_of(response)

    def request_takedown(self, finding_id: int, finding: str) -> requests.Response:
        """POST /takedown. 400/403/404/409 are answers the caller turns into sentences, so they come back as-is.

        A POST is not idempotent: it is retried only when the server surely did not act on it (429, 503, or a
        connection that was never established), never after a read timeout or another 5xx.
        """
        return self._request(
            "POST",
            "/takedown",
            json_data={"findingId": finding_id, "finding": finding},
            passthrough=(400, 403, 404, 409),
            post_safe_retry=True,
        )

    def request_data_removal(self, finding_id: int, finding: str) -> requests.Response:
        """POST {data_removal_path}, the body of a takedown. ThreatMon has not published the path: it is the instance's
        setting, and nothing is sent without it. 400/403/404/409 come back as-is, retried like the takedown."""
        if not self.data_removal_path:
            raise ValueError("No data removal path is configured.")
        return self._request(
            "POST",
            self.data_removal_path.replace(FINDING_ID_PLACEHOLDER, str(finding_id)),
            json_data={"findingId": finding_id, "finding": finding},
            passthrough=(400, 403, 404, 409),
            post_safe_retry=True,
        )

    def list_cves(self, page: int, cvss: str | None = None) -> dict[str, Any]:
        return self._request("GET", f"/cve/{page}", params=_clean({"cvss": cvss}), expect=_is_page_body)

    def list_subscribed_cves(self, page: int, cvss: str | None = None, customer_name: str | None = None) -> dict[str, Any]:
        params = _clean({"cvss": cvss, "customerName": customer_name})
        return self._request("GET", f"/cve/subscribed/{page}", params=params, expect=_is_page_body)


def _is_page_body(body: Any) -> bool:
    """A list answer is an object whose "data" is a list (or null/absent when "totalRecords" says why)."""
    if not isinstance(body, dict):
        return False
    data = body.get("data")
    return isinstance(data, list) or (data is None and ("data" in body or "totalRecords" in body))


def _body_of(response: requests.Response) -> Any:
    """The JSON body of a response, its text when it is not JSON, None when empty."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _clean(params: dict[str, Any]) -> dict[str, Any] | None:
    cleaned = {key: value for key, value in params.items() if value not in (None, "")}
    return cleaned or None


""" HELPERS """


def normalize_url(url: str | None) -> str:
    """Strip trailing slashes; a bare host (no path or "/") gets the API path appended."""
    url = (url or "").strip()
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"The url parameter must be an http(s) URL such as https://external.threatmonit.io; got '{url}'.")
    path = parts.path.rstrip("/") or API_PATH
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


DATA_REMOVAL_PATH_CHARS = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@%/-]+")


def parse_data_removal_path(value: Any, base_url: str) -> str | None:
    """The data_removal_path parameter as a path relative to the Server URL (``base_url``); None when empty.

    ThreatMon has not published the path, so the form support gives it in is not known either. Read as the same
    relative path: "x/y" and "/x/y" (relative to the Server URL), "/api/threatmon/external/v1/x/y" (the Server URL's
    own path in front is not doubled), and a full URL on the Server URL's scheme and host under its path. A URL on any
    other host is refused: the API key goes only to the Server URL's host. "{findingId}" in the path is replaced by
    the finding id, in case the path carries it.
    """
    text = str(value or "").strip()
    if not text:
        return None

    def refused(why: str) -> ValueError:
        return ValueError(f"The {DATA_REMOVAL_PARAM} parameter {why}; got '{text}'.")

    base = urllib.parse.urlsplit(base_url)
    base_path = base.path.rstrip("/")
    parts = urllib.parse.urlsplit(text)
    if parts.scheme or parts.netloc:
        if (parts.scheme.lower(), parts.netloc.lower()) != (base.scheme.lower(), base.netloc.lower()):
            raise refused(
                f"must be a path under the Server URL ({base_url}) or a URL on its host, because the API key is sent only there"
            )
        if parts.path.rstrip("/") != base_path and not parts.path.startswith(base_path + "/"):
            raise refused(f"must be a URL under the Server URL ({base_url})")
    if parts.query or parts.fragment:
        raise refused("must be a path without a query (?) or fragment (#)")
    path = parts.path
    if path == base_path or path.startswith(base_path + "/"):
        path = path[len(base_path) :]
    segments = [segment for segment in path.split("/") if segment]
    if not segments:
        raise refused("must name the data removal endpoint, not only the Server URL")
    for segment in segments:
        plain = segment.replace(FINDING_ID_PLACEHOLDER, "")
        if segment in (".", "..") or (plain and not DATA_REMOVAL_PATH_CHARS.fullmatch(plain)):
            raise refused("must be a URL path (letters, digits and - . _ ~ %, parts separated by /, {findingId} allowed)")
    return "/" + "/".join(segments)


def parse_choice(value: Any, name: str, choices: list[str], what: str = "argument") -> str | None:
    """Case-insensitive match of a word among choices; returns the canonical spelling, None when empty."""
    if isinstance(value, list) and len({str(item) for item in value}) == 1:
        value = value[0]  # a playbook passing a context path that holds the same word once or several times
    if value is None or not str(value).strip():
        return None
    wanted = " ".join(str(value).split()).lower()
    for choice in choices:
        if choice.lower() == wanted:
            return choice
    raise ValueError(f"The {name} {what} must be one of {', '.join(choices)}; got '{value}'.")


def alarm_code_of(alarm: Any) -> int | None:
    """The alarm's code as an int. The API is only known to send an integer, but a numeric string is accepted."""
    value = alarm.get("alarmCode") if isinstance(alarm, dict) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def alarm_type_of(alarm: dict[str, Any]) -> str | None:
    """The simulator sends alarmType; other clients have seen "type"."""
    for key in ("alarmType", "type"):
        if alarm.get(key):
            return str(alarm[key])
    return None


def finding_id_of(alarm: dict[str, Any]) -> Any:
    for key in ("findingId", "finding_id", "id"):
        if alarm.get(key) not in (None, ""):
            return alarm[key]
    return None


def severity_to_xsoar(severity: Any) -> float:
    """Information 0.5, Low 1, Medium 2, High 3, Critical 4 (case-insensitive, trimmed); anything else 0."""
    if not isinstance(severity, str):
        return IncidentSeverity.UNKNOWN
    return SEVERITY_TO_XSOAR.get(severity.strip().lower(), IncidentSeverity.UNKNOWN)


def is_below_severity(severity: Any, minimum: str | None) -> bool:
    """True only for one of the five known words ranked below the minimum; an unknown word is never "below"."""
    if not minimum or not isinstance(severity, str):
        return False
    rank = SEVERITY_RANK.get(severity.strip().lower())
    return rank is not None and rank < SEVERITY_RANK[minimum.lower()]


def to_iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fingerprint(alarm: dict[str, Any]) -> str:
    """A short stable digest, used only for alarms that carry no usable code. The status is left out: it changes
    while the alarm is handled, and the alarm must still be recognised."""
    stable = {key: value for key, value in alarm.items() if key != "status"}
    return hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()[:16]


def alarm_from_incident(incident: dict[str, Any] | None) -> dict[str, Any]:
    """The ThreatMon alarm stored in an incident's rawJSON (empty when there is none)."""
    raw = (incident or {}).get("rawJSON")
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str) and raw.strip():
        try:
            loaded = json.loads(raw)
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}
    return {}


def _positive_int(value: Any) -> int | None:
    try:
        number = parse_int(value, "value", minimum=1)
    except ValueError:
        return None
    return number


def alarm_code_from_incident(incident: dict[str, Any] | None) -> int | None:
    """The alarm code of the ThreatMon incident a command runs in: the threatmonalarmcode field, the mirror id,
    the alarmCode kept in rawJSON, or an alarmCode label, in that order."""
    if not incident:
        return None
    custom = incident.get("CustomFields") or {}
    code = _positive_int(custom.get("threatmonalarmcode"))
    brand = str(incident.get("sourceBrand") or "")
    # The mirror id is ours only on an incident this integration created (another vendor's id means nothing here).
    if code is None and (not brand or brand.lower() == INTEGRATION_ID.lower()):
        code = _positive_int(incident.get("dbotMirrorId"))
    if code is None:
        code = _positive_int(alarm_from_incident(incident).get("alarmCode"))
    if code is None:
        for label in incident.get("labels") or []:
            if isinstance(label, dict) and str(label.get("type", "")).lower() in ("alarmcode", "threatmon alarmcode"):
                code = _positive_int(label.get("value"))
                if code is not None:
                    break
    return code


""" SETTINGS """


@dataclass
class Settings:
    """The validated instance parameters."""

    base_url: str
    api_key: str
    verify: bool = True
    proxy: bool = False
    max_fetch: int = DEFAULT_MAX_FETCH
    first_fetch: datetime | None = None
    min_severity: str | None = None
    last_incident_id: int | None = None
    incident_type: str | None = None
    mirror_direction: str | None = None  # "Out" or None
    mirror_instance: str = ""
    data_removal_path: str | None = None  # relative to base_url; None while ThreatMon support has not given it


RELATIVE_TIME = re.compile(r"\d+\s+(minute|hour|day|week|month|year)s?(\s+ago)?", re.IGNORECASE)


def parse_first_fetch(text: str) -> datetime:
    """'7 days' / '12 hours ago' (relative to now) or a date ('2024-01-31', ISO-8601), as an aware UTC datetime.

    Relative times go through arg_to_datetime; other text is not handed to it, because on text that is no date at
    all the date parser can spend many seconds (it tries every language) before giving up.
    """
    moment = parse_time(text)
    if moment is None and RELATIVE_TIME.fullmatch(text):
        moment = arg_to_datetime(text, arg_name="first_fetch")
    if moment is None:
        raise ValueError(f"The first_fetch parameter must be a time such as '7 days', '12 hours' or '2024-01-31'; got '{text}'.")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _flag(value: Any, name: str = "value") -> bool:
    if isinstance(value, bool):
        return value
    if value is None or value == "":
        return False
    try:
        return argToBoolean(value)
    except ValueError:
        raise ValueError(f"The {name} parameter must be true or false; got '{value}'.") from None


def parse_params(params: dict[str, Any], fetch: bool = True, data_removal: bool = False) -> Settings:
    """Validate the instance parameters (used by test-module, fetch and, for the connection part, every command).

    Each error names the parameter and what it accepts. ``fetch=False`` checks only what a command needs;
    ``data_removal`` also reads the data removal path (test-module and the data removal command). ``fetchInterval``
    (kept from 1.x) is never read: the server schedules fetches by ``incidentFetchInterval``.
    """
    credentials = params.get("credentials") or {}
    api_key = str(credentials.get("password") or "").strip() if isinstance(credentials, dict) else ""
    if not api_key:
        raise ValueError("The API Key (credentials parameter) is empty: paste the company API key issued by ThreatMon.")
    settings = Settings(
        base_url=normalize_url(params.get("url") or DEFAULT_URL),
        api_key=api_key,
        verify=not _flag(params.get("insecure"), "insecure"),
        proxy=_flag(params.get("proxy"), "proxy"),
    )
    if data_removal:
        settings.data_removal_path = parse_data_removal_path(params.get("data_removal_path"), settings.base_url)
    if not fetch:
        return settings
    settings.max_fetch = (
        parse_int(params.get("max_fetch"), "max_fetch", "parameter", 1, MAX_FETCH_LIMIT, DEFAULT_MAX_FETCH) or DEFAULT_MAX_FETCH
    )
    first_fetch = str(params.get("first_fetch") or "").strip()
    if first_fetch:
        settings.first_fetch = parse_first_fetch(first_fetch)
    settings.min_severity = parse_choice(params.get("min_severity"), "min_severity", SEVERITY_WORDS, "parameter")
    settings.last_incident_id = parse_int(params.get("lastIncidentId"), "lastIncidentId", "parameter", 0)
    direction = str(params.get("mirror_direction") or "None").strip().lower()
    if direction not in MIRROR_DIRECTIONS:
        raise ValueError(f"The mirror_direction parameter must be None or Outgoing; got '{params.get('mirror_direction')}'.")
    settings.mirror_direction = MIRROR_DIRECTIONS[direction]
    settings.incident_type = str(params.get("incidentType") or "").strip() or None
    return settings


""" FETCH """


@dataclass
class _Page:
    number: int
    data: list[Any]
    total: int | None


@dataclass
class FetchState:
    """lastRun, kept small.

    Invariant of ``code`` (the watermark C): every alarm whose code is <= C has been handled (ingested, or skipped
    on purpose), and no alarm above C has been ingested. ``legacy_*`` exist only while the tail of a batch a 1.0.x
    run left half-done is being finished; ``fingerprints`` only for alarms that carry no usable code.
    """

    code: int | None = None
    first_fetch_cutoff: str | None = None
    legacy_ceiling: int | None = None
    legacy_remaining: int | None = None
    fingerprints: list[str] = field(default_factory=list)
    legacy_10: tuple[int | None, int, int | None] | None = None  # (last_incident_id, page, max_seen_id) of 1.0.x

    @classmethod
    def load(cls, last_run: Any, settings: Settings) -> "FetchState":
        last_run = last_run if isinstance(last_run, dict) else {}
        if last_run.get("state_version") == STATE_VERSION:
            state = cls(
                code=_int_or_none(last_run.get("last_alarm_code")),
                first_fetch_cutoff=_text_or_none(last_run.get("first_fetch_cutoff")),
                legacy_ceiling=_int_or_none(last_run.get("legacy_ceiling")),
                legacy_remaining=_int_or_none(last_run.get("legacy_remaining")),
                # A damaged lastRun (not a list here) must not break every later run: it is read as no fingerprints.
                fingerprints=[str(x) for x in _list_or_empty(last_run.get("nocode_seen"))][-MAX_FINGERPRINTS:],
            )
            if state.legacy_ceiling is None or state.legacy_remaining is None:
                state.legacy_ceiling = state.legacy_remaining = None
            return state
        if "last_incident_id" in last_run:  # written by the 1.0.x pack
            legacy_code = _int_or_none(last_run.get("last_incident_id"))
            if legacy_code is None:
                legacy_code = settings.last_incident_id
            page = _int_or_none(last_run.get("page")) or 0
            return cls(legacy_10=(legacy_code, max(page, 0), _int_or_none(last_run.get("max_seen_id"))))
        # The first fetch of this instance.
        cutoff = to_iso_z(settings.first_fetch) if settings.first_fetch else None
        return cls(code=settings.last_incident_id, first_fetch_cutoff=cutoff)

    def to_last_run(self) -> dict[str, Any]:
        run: dict[str, Any] = {"state_version": STATE_VERSION}
        if self.code is not None:
            run["last_alarm_code"] = self.code
        if self.first_fetch_cutoff:
            run["first_fetch_cutoff"] = self.first_fetch_cutoff
        if self.legacy_ceiling is not None:
            run["legacy_ceiling"] = self.legacy_ceiling
            run["legacy_remaining"] = self.legacy_remaining
        if self.fingerprints:
            run["nocode_seen"] = self.fingerprints[-MAX_FINGERPRINTS:]
        return run


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _list_or_empty(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int_or_none(value: Any) -> int | None:
    try:
        return parse_int(value, "value")
    except ValueError:
        return None


class _TotalUnreliable(Exception):
    """totalRecords does not describe the filtered list (missing, or counting something else)."""


class _RequestBudgetUsed(Exception):
    """The run sent as many requests as it may; it ends normally and the next run continues."""


ASC, DESC, UNSORTED, UNKNOWN = "ascending", "descending", "unsorted", "unknown"


def detect_order(codes: list[int]) -> str:
    """The order of a page's codes: ascending, descending, unsorted, or unknown (fewer than two distinct codes).
    A code repeated inside the page is the same alarm listed twice: only its first place counts."""
    codes = list(dict.fromkeys(codes))
    ups = any(b > a for a, b in itertools.pairwise(codes))
    downs = any(b < a for a, b in itertools.pairwise(codes))
    if ups and downs:
        return UNSORTED
    if ups:
        return ASC
    if downs:
        return DESC
    return UNKNOWN


class AlarmFetcher:
    """One fetch run. See fetch_incidents for the algorithm; every step keeps FetchState's invariant, so stopping
    anywhere (budget, request bound, deadline, a failure) leaves a lastRun that matches the incidents taken."""

    def __init__(self, client: Client, state: FetchState, settings: Settings, now: datetime):
        self.client = client
        self.state = state
        self.settings = settings
        self.now = now
        self.incidents: list[dict[str, Any]] = []
        self.drained = False
        self.requests = 0
        self.max_requests = -(-settings.max_fetch // PAGE_SIZE) + EXTRA_REQUESTS_PER_RUN
        self.cutoff = parse_time(state.first_fetch_cutoff) if state.first_fetch_cutoff else None
        self.total_unreliable = False
        self.skipped = 0

    # ----- the run -----

    def run(self) -> None:
        try:
            if self.state.legacy_10 is not None:
                self._migrate_legacy()
            self._fetch()
        except _RequestBudgetUsed:
            demisto.debug(f"ThreatMon fetch: request bound of {self.max_requests} reached; the next run continues.")
        if self.drained:
            self.state.first_fetch_cutoff = None  # first_fetch applies until the backlog has been drained once

    @property
    def full(self) -> bool:
        return len(self.incidents) >= self.settings.max_fetch

    def _fetch(self) -> None:
        first = self._get(0)
        if not first.data:
            self.drained = True
            return
        if self._holds_everything(first):
            # Page 0 holds the whole filtered set: the order does not matter.
            if not self._consume(self._usable(first.data)):
                self.drained = True
            return
        order = detect_order(self._codes(first.data))
        if order == ASC:
            self._run_ascending(first)
        elif order == DESC:
            self._run_descending(first.total)
        elif order == UNSORTED:
            self._run_scan(first)
        else:  # page 0 cannot tell (fewer than two codes): compare it with the last page
            last = self._locate_last_page(first.total, None)
            head, tail = self._codes(first.data), self._codes(last.data)
            if head and tail and min(head) > max(tail):
                self._run_descending(first.total, prefetched=last)
            elif head and tail and max(head) < min(tail):
                self._run_ascending(first)
            else:
                self._run_scan(first)

    def _run_ascending(self, page: _Page) -> None:
        """Ascending: page 0 of afterAlarmCode=C holds the smallest codes above C. Take them, move C, ask page 0
        again with the new C. Cursor paging is immune to alarms created meanwhile (they land at the end) and to
        alarms leaving the list. An empty page, or a short one that totalRecords (if any) agrees is the last, ends it.

        If a full page holds no code above C (a server that ignores or loosens the filter), the next page is read
        with the same C; the smallest codes above C are then on the first page that has any.
        """
        number = 0
        while True:
            usable = self._usable(page.data)
            if usable and self._consume(usable):
                return
            short = len(page.data) < PAGE_SIZE
            if not page.data or (short and (page.total is None or number * PAGE_SIZE + len(page.data) >= page.total)):
                self.drained = True
                return
            if not usable:
                number += 1
            page = self._get(number)

    def _run_descending(self, total: int | None, prefetched: _Page | None = None) -> None:
        """Descending: the smallest codes above C are on the LAST page (see _locate_last_page). Its codes are taken in
        ascending order, C moves, and the next last page is predicted from the count taken. Alarms created meanwhile
        land on page 0 and only shift the last page, which the verification catches.
        """
        guess, hint = total, None
        while True:
            page = prefetched or self._locate_last_page(guess, hint)
            prefetched = None
            if not page.data:
                self.drained = True
                return
            usable = self._usable(page.data)
            number = page.number
            while not usable and number > 0:
                # The last page holds only codes <= C (a server counting them): the smallest codes above C are on
                # the nearest earlier page that has any.
                number -= 1
                earlier = self._get(number)
                if not earlier.data:
                    break
                usable = self._usable(earlier.data)
            if not usable:
                self.drained = True
                return
            if self._consume(usable):
                return
            if number == 0:
                self.drained = True
                return
            guess = page.total - len(usable) if page.total is not None else None
            hint = number - 1

    def _run_scan(self, first: _Page) -> None:
        """Any other order: read every page up to the first short one and keep the smallest codes. The scan counts
        only if the list did not change while it was read: no code seen twice (an alarm created in front of the read
        position pushes one alarm onto the next page, where it is seen again) and one totalRecords throughout. Then
        every code above C that existed is in hand, anything created later has a larger code, and taking the smallest
        ones is safe. One rescan, then give up (the next run tries again). A scan may read up to SCAN_MAX_REQUESTS."""
        self.max_requests = max(self.max_requests, self.requests + SCAN_MAX_REQUESTS)
        for attempt in range(2):
            page = first if attempt == 0 else self._get(0)
            usable: dict[int, dict[str, Any]] = {}
            totals = set()
            seen: list[int] = []
            while True:
                totals.add(page.total)
                seen.extend(dict.fromkeys(self._codes(page.data)))  # a repeat inside one page is not a shift
                for code, alarm in self._usable(page.data).items():
                    usable.setdefault(code, alarm)
                if len(page.data) < PAGE_SIZE:
                    break
                page = self._get(page.number + 1)
            if len(totals - {None}) <= 1 and len(seen) == len(set(seen)):
                if not self._consume(usable):
                    self.drained = True
                return
        raise ThreatMonError(
            "ThreatMon's alarm list is not sorted by alarm code and kept changing while it was read; the next run tries again",
            kind="inconsistent",
            retryable=True,
        )

    def _locate_last_page(self, total: int | None, hint: int | None) -> _Page:
        """The last page of afterAlarmCode=C: from totalRecords when it is trustworthy, else by probing pages."""
        if total is not None and not self.total_unreliable:
            try:
                return self._verified_last_page(total)
            except _TotalUnreliable:
                # totalRecords may count something else (all alarms, not the filtered ones): stop using it this run.
                self.total_unreliable = True
        if hint is None:
            hint = max(0, (total - 1) // PAGE_SIZE) if total else 0
        return self._probed_last_page(hint)

    def _verified_last_page(self, guess: int) -> _Page:
        """A page is the last one when 10*page + len(data) == its own totalRecords and data is not empty."""
        number = max(0, (guess - 1) // PAGE_SIZE)
        for _ in range(LAST_PAGE_TRIES):
            page = self._get(number)
            if page.total is None:
                break
            if page.total == 0:
                return _Page(number, [], 0)
            if page.data and number * PAGE_SIZE + len(page.data) == page.total:
                return page
            recomputed = max(0, (page.total - 1) // PAGE_SIZE)
            if recomputed == number:
                break  # the server contradicts itself: this page is "last" by its count but not by its content
            number = recomputed
        raise _TotalUnreliable()

    def _probed_last_page(self, hint: int) -> _Page:
        """The last page without totalRecords: gallop up from the hint to an empty page, bisect down to the last
        non-empty one. A short page (1..9 alarms) is the last one by itself. A full page is the last one only if the
        next page was seen empty AFTER it was read (had an alarm been created in between, the next page would hold
        the alarm pushed off the full one)."""
        for _ in range(LAST_PAGE_TRIES):
            reads: dict[int, tuple[int, _Page]] = {}
            low, high, number, step = -1, None, max(0, hint), 1
            while high is None or high - low > 1:
                if high is not None:
                    number = (low + high) // 2
                page = self._get(number)
                reads[number] = (self.requests, page)
                if page.data and len(page.data) < PAGE_SIZE:
                    return page
                if not page.data:
                    high = number
                else:
                    low = number
                    if high is None:
                        number, step = number + step, step * 2
            if low < 0:
                return _Page(0, [], None)  # page 0 is empty: nothing above C
            if reads[low][0] < reads[low + 1][0]:
                return reads[low][1]
            if not self._get(low + 1).data:
                return reads[low][1]
            hint = low + 1
        raise ThreatMonError(
            "ThreatMon's alarm pages kept changing while the oldest alarms were looked for; the next run tries again",
            kind="inconsistent",
            retryable=True,
        )

    def _migrate_legacy(self) -> None:
        """Continue from the lastRun of the 1.0.x pack: {"last_incident_id": L, "page": P, "max_seen_id": M}.

        With P == 0 (or no M) 1.0.x had finished its batch: every code <= L was ingested, so C = L.

        With P > 0 and M, 1.0.x was in the middle of a batch: it had read pages 0..P-1 of afterAlarmCode=L
        (P*10 alarms) and M is the largest code it saw. Of the codes in (L, M] it ingested exactly P*10:
          - ascending order: pages 0..P-1 were the P*10 smallest codes above L, M the largest of them, so the
            codes in (L, M] are exactly those P*10: all done, C = M;
          - descending order: pages 0..P-1 were the P*10 largest codes of (L, M] (M was the top of page 0), so the
            ones NOT ingested are the smallest n of (L, M], with n = count(L, M] - P*10.
        count(L, M] = T(L) - T(M), the totalRecords of afterAlarmCode=L and =M; alarms created meanwhile have codes
        above M and add to both, so T(M) is read before and after T(L) and must not change in between. When
        totalRecords cannot give it, the list of afterAlarmCode=L is read page by page instead (_count_by_listing).
        In the ascending case n is never positive (count(L, M] is P*10, new codes are above M), so n alone decides:
        n <= 0 -> C = M; n > 0 -> C = L and the next n codes above L are taken normally, after which C jumps to M.
        Limit: if alarms were created while 1.0.x itself paged a descending list, its pages overlapped and it ingested
        fewer than P*10 distinct alarms; that cannot be known afterwards, so the reasoning above assumes it did not.
        """
        legacy_code, page, max_seen = self.state.legacy_10 or (None, 0, None)
        if not page or max_seen is None or legacy_code is None or max_seen <= legacy_code:
            self.state.code, self.state.legacy_10 = legacy_code, None
            return
        count = self._count_by_totals(legacy_code, max_seen)
        if count is None or count < page * PAGE_SIZE:
            # 1.0.x read P*10 codes of (L, M], so fewer means totalRecords is missing, unstable or counts something else.
            count = self._count_by_listing(legacy_code, max_seen, page * PAGE_SIZE)
        remaining = count - page * PAGE_SIZE
        self.state.legacy_10 = None
        if remaining > 0:
            self.state.code = legacy_code
            self.state.legacy_ceiling, self.state.legacy_remaining = max_seen, remaining
        else:
            self.state.code = max_seen
        demisto.debug(
            f"ThreatMon fetch: continued from the 1.0.x lastRun (L={legacy_code}, page={page}, M={max_seen}); "
            f"{max(remaining, 0)} alarm(s) of that batch were still to ingest."
        )

    def _count_by_totals(self, low: int, high: int) -> int | None:
        """count(low, high] from totalRecords: T(high), T(low), T(high) again; None if missing or unstable."""
        for _ in range(MIGRATION_TRIES):
            before = self._get(0, after=high).total
            above_low = self._get(0, after=low).total
            after = self._get(0, after=high).total
            if before is not None and above_low is not None and before == after:
                return above_low - before
        return None

    def _count_by_listing(self, low: int, high: int, read_by_legacy: int) -> int:
        """count(low, high] by reading the list of afterAlarmCode=low (any order; alarms created meanwhile only push
        alarms to later pages, where a set of codes sees them once). An ascending list needs no count: there the
        1.0.x pack had read exactly the smallest codes, so read_by_legacy is returned. Bounded by
        MIGRATION_MAX_REQUESTS and the deadline; a run that cannot finish leaves the 1.0.x lastRun untouched."""
        self.max_requests = max(self.max_requests, self.requests + MIGRATION_MAX_REQUESTS)
        codes: set[int] = set()
        number = 0
        while True:
            page = self._get(number, after=low)
            page_codes = self._codes(page.data)
            if number == 0 and len(page.data) == PAGE_SIZE and detect_order(page_codes) == ASC:
                return read_by_legacy
            codes.update(code for code in page_codes if low < code <= high)
            if len(page.data) < PAGE_SIZE:
                return len(codes)
            number += 1

    # ----- pieces -----

    def _get(self, number: int, after: int | None = None) -> _Page:
        """Page `number` of afterAlarmCode=C (or of `after` when given)."""
        if self.requests >= self.max_requests:
            raise _RequestBudgetUsed()
        self.requests += 1
        body = self.client.list_alarms(page=number, after_alarm_code=self.state.code if after is None else after)
        data = body.get("data") or []
        total = _int_or_none(body.get("totalRecords"))
        if total is not None and total < number * PAGE_SIZE + len(data):
            total = None  # a count that contradicts the page itself is no count at all
        return _Page(number, data, total)

    @staticmethod
    def _holds_everything(page: _Page) -> bool:
        """Page 0 is the whole list: totalRecords says so, or (without it) the page is short. A short page with a
        larger totalRecords is not trusted to be everything (the server's page could be smaller than ten)."""
        if page.total is not None:
            return len(page.data) >= page.total
        return len(page.data) < PAGE_SIZE

    @staticmethod
    def _codes(data: list[Any]) -> list[int]:
        return [code for code in (alarm_code_of(alarm) for alarm in data) if code is not None]

    def _usable(self, data: list[Any]) -> dict[int, dict[str, Any]]:
        """The alarms of a page whose code is above C (first occurrence of each). Codes <= C the server sends back
        are dropped: they were handled already. Alarms without a usable code are ingested here, once each, by
        fingerprint."""
        usable: dict[int, dict[str, Any]] = {}
        for alarm in data:
            if not isinstance(alarm, dict):
                continue
            code = alarm_code_of(alarm)
            if code is None:
                self._take_codeless(alarm)
            elif self.state.code is None or code > self.state.code:
                usable.setdefault(code, alarm)
        return usable

    def _take_codeless(self, alarm: dict[str, Any]) -> None:
        digest = fingerprint(alarm)
        if digest in self.state.fingerprints or self.full:
            return
        self.state.fingerprints = [*self.state.fingerprints, digest][-MAX_FINGERPRINTS:]
        if self._skip_reason(alarm) is None:
            self.incidents.append(self._incident(alarm, None))

    def _consume(self, usable: dict[int, dict[str, Any]]) -> bool:
        """Handle the given alarms in ascending code order, moving C after each. ``usable`` always holds every code
        of (C, max(usable)], so C never passes an alarm that was not handled. True when the budget is full."""
        for code in sorted(usable):
            if self.state.code is not None and code <= self.state.code:
                continue  # passed by a jump over a 1.0.x batch
            if self.full:
                return True
            if self.state.legacy_ceiling is not None and code > self.state.legacy_ceiling:
                self._end_legacy()
            if self.state.legacy_ceiling is not None:
                self.state.legacy_remaining = (self.state.legacy_remaining or 0) - 1
            alarm = usable[code]
            reason = self._skip_reason(alarm)
            if reason is None:
                self.incidents.append(self._incident(alarm, code))
            else:
                self.skipped += 1
            self.state.code = code
            if self.state.legacy_ceiling is not None and (self.state.legacy_remaining or 0) <= 0:
                self._end_legacy()
        return self.full

    def _end_legacy(self) -> None:
        """The codes of the 1.0.x batch still to ingest are done: the rest of (C, M] was ingested by 1.0.x."""
        ceiling = self.state.legacy_ceiling
        if ceiling is not None and (self.state.code is None or self.state.code < ceiling):
            self.state.code = ceiling
        self.state.legacy_ceiling = self.state.legacy_remaining = None

    def _skip_reason(self, alarm: dict[str, Any]) -> str | None:
        if is_below_severity(alarm.get("severity"), self.settings.min_severity):
            return "below min_severity"
        if self.cutoff is not None:
            moment = parse_time(alarm.get("alarmDate"))
            if moment is not None and moment < self.cutoff:
                return "older than first_fetch"
        return None

    def _incident(self, alarm: dict[str, Any], code: int | None) -> dict[str, Any]:
        title = str(alarm.get("title") or "").strip() or "(no title)"
        moment = parse_time(alarm.get("alarmDate"))
        if moment is None:
            demisto.debug(
                f"ThreatMon alarm {code}: alarmDate {alarm.get('alarmDate')!r} is missing or not a date; occurred set to now."
            )
            moment = self.now
        incident = {
            "name": f"ThreatMon Alarm {code if code is not None else '(no code)'}: {title}",
            "occurred": to_iso_z(moment),
            "severity": severity_to_xsoar(alarm.get("severity")),
            "details": str(alarm.get("description") or ""),
            "rawJSON": json.dumps(alarm),
        }
        status = alarm.get("status")
        if status not in (None, ""):
            incident["labels"] = [{"type": "Status", "value": str(status)}]  # as 1.x set it: mappers built on 1.x read it
        if code is not None:
            incident["dbotMirrorId"] = str(code)
            if self.settings.mirror_direction:
                incident["dbotMirrorDirection"] = self.settings.mirror_direction
                incident["dbotMirrorInstance"] = self.settings.mirror_instance
        if self.settings.incident_type:
            incident["type"] = self.settings.incident_type
        return incident


def fetch_incidents(
    client: Client, last_run: dict[str, Any], settings: Settings, now: datetime | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Fetch new alarms, each exactly once, whatever the API does. Returns (next_run, incidents).

    Watermark C (lastRun "last_alarm_code"): every alarm with code <= C has been handled; nothing above C has been
    ingested. Each run asks afterAlarmCode=C, page 0, and detects the order from that page:
      - ascending: cursor paging on page 0, moving C after each page (see AlarmFetcher._run_ascending);
      - descending: the last page holds the smallest codes, located from totalRecords and verified
        (AlarmFetcher._run_descending);
      - cannot tell: compare page 0 with the last page; if still unknown, scan all pages (AlarmFetcher._run_scan).
    Codes <= C sent by the server are dropped and codes are de-duplicated, so nothing is ingested twice. At most
    max_fetch incidents a run: with a budget that ends inside a page, C is the last code TAKEN and the rest of the
    page comes next run. A failure mid-run (retries exhausted, deadline) returns what was taken with a lastRun that
    matches it exactly; if the run made no progress at all, the error is raised so the user sees it.
    """
    now = now or datetime.now(UTC)
    state = FetchState.load(last_run, settings)
    start = state.to_last_run() if state.legacy_10 is None else None
    fetcher = AlarmFetcher(client, state, settings, now)
    try:
        fetcher.run()
    except Exception as exc:
        # A failure after progress keeps the progress (the state matches exactly what was taken); a failure before
        # any progress is raised so the user sees it.
        migrated = start is None and state.legacy_10 is None
        if not (fetcher.incidents or migrated or (start is not None and state.to_last_run() != start)):
            raise
        demisto.debug(
            f"ThreatMon fetch stopped early after {len(fetcher.incidents)} incident(s): {scrub(str(exc), settings.api_key)}"
        )
    if state.legacy_10 is not None:  # the 1.0.x position could not be converted yet: keep it as it was
        return dict(last_run), fetcher.incidents
    demisto.debug(
        f"ThreatMon fetch: {len(fetcher.incidents)} incident(s), {fetcher.skipped} skipped, "
        f"{fetcher.requests} request(s), drained={fetcher.drained}, last_alarm_code={state.code}."
    )
    return state.to_last_run(), fetcher.incidents


""" COMMANDS """


def test_module(client: Client) -> str:
    """'ok' when ThreatMon answers the alarm list with this key; otherwise the client raises one actionable sentence.
    Parameter errors were raised by parse_params before this point."""
    client.list_alarms(page=0)
    return "ok"


def alarm_to_context(alarm: dict[str, Any]) -> dict[str, Any]:
    """The alarm as it goes to context: every field ThreatMon sent, alarmCode as an int when it is numeric, and
    the alarm type and finding id under their simulator names when another spelling was used."""
    entry = dict(alarm)
    code = alarm_code_of(alarm)
    if code is not None:
        entry["alarmCode"] = code
    if "alarmType" not in entry and alarm_type_of(alarm):
        entry["alarmType"] = alarm_type_of(alarm)
    if "findingId" not in entry and finding_id_of(alarm) is not None:
        entry["findingId"] = finding_id_of(alarm)
    return entry


def list_alarms_command(client: Client, args: dict[str, Any]) -> CommandResults:
    """Read as many pages as ``limit`` needs (from ``page``), optionally only alarms at or above min_severity."""
    after = parse_int(args.get("after_alarm_code"), "after_alarm_code", minimum=0)
    page = parse_int(args.get("page"), "page", minimum=0, default=0) or 0
    limit = parse_int(args.get("limit"), "limit", minimum=1, maximum=MAX_LIST_LIMIT, default=DEFAULT_LIST_LIMIT)
    limit = limit or DEFAULT_LIST_LIMIT
    min_severity = parse_choice(args.get("min_severity"), "min_severity", SEVERITY_WORDS)
    alarms: list[dict[str, Any]] = []
    total = None
    for number in range(page, page + MAX_LIST_PAGES):
        body = client.list_alarms(page=number, after_alarm_code=after)
        data = body.get("data") or []
        total = body.get("totalRecords", total)
        for alarm in data:
            if isinstance(alarm, dict) and not is_below_severity(alarm.get("severity"), min_severity) and len(alarms) < limit:
                alarms.append(alarm)
        if len(alarms) >= limit or len(data) < PAGE_SIZE:
            break
    outputs = [alarm_to_context(alarm) for alarm in alarms]
    rows = [
        {
            "Alarm Code": entry.get("alarmCode"),
            "Severity": entry.get("severity"),
            "Status": entry.get("status"),
            "Date": entry.get("alarmDate"),
            "Title": entry.get("title"),
        }
        for entry in outputs
    ]
    title = f"ThreatMon alarms ({len(rows)} shown" + (f" of {total} total)" if total is not None else ")")
    readable = tableToMarkdown(title, rows, headers=["Alarm Code", "Severity", "Status", "Date", "Title"], removeNull=False)
    return CommandResults(
        outputs_prefix="ThreatMon.Alarm",
        outputs_key_field="alarmCode",
        outputs=outputs,
        readable_output=readable,
        raw_response={"data": alarms, "totalRecords": total},
    )


def parse_alarm_ids(value: Any) -> list[int]:
    codes: list[int] = []
    for item in argToList(value):
        text = str(item).strip()
        if not text:
            continue
        code = _positive_int(text)
        if code is None:
            raise ValueError(
                f"The alarmId argument must be one or more positive alarm codes separated by commas "
                f"(for example 123,124); '{text}' is not one."
            )
        if code not in codes:
            codes.append(code)
    return codes


def update_incident_status_command(
    client: Client, args: dict[str, Any], incident: dict[str, Any] | None = None
) -> CommandResults:
    """Set the ThreatMon status of one or more alarms with one PATCH. Without alarmId, inside a ThreatMon incident,
    the incident's own alarm code is used. Everything is validated before any request."""
    status = parse_choice(args.get("status"), "status", ALARM_STATUSES)
    if status is None:
        raise ValueError(f"The status argument is required: one of {', '.join(ALARM_STATUSES)}.")
    codes = parse_alarm_ids(args.get("alarmId"))
    if not codes:
        code = alarm_code_from_incident(incident)
        if code is None:
            raise ValueError(
                "The alarmId argument is required outside a ThreatMon incident: give one or more alarm codes separated by commas."
            )
        codes = [code]
    raw = client.update_alarm_status(codes, status)
    outputs = [{"alarmCode": code, "status": status} for code in codes]
    readable = "\n".join(f"Alarm {code}: status set to {status} in ThreatMon." for code in codes)
    return CommandResults(
        outputs_prefix="ThreatMon.Alarm",
        outputs_key_field="alarmCode",
        outputs=outputs,
        readable_output=readable,
        raw_response=raw,
    )


def finding_arguments(args: dict[str, Any], incident: dict[str, Any] | None, action: str) -> tuple[int, str]:
    """findingId and finding of a takedown or data removal request. Inside a ThreatMon incident findingId defaults to
    the alarm's finding id (the threatmonfindingid field, else the findingId of the alarm in rawJSON) and finding to
    the alarm's title. ``action`` completes "say what should be ... and why"."""
    alarm = alarm_from_incident(incident)
    raw_id = args.get("findingId")
    if raw_id in (None, ""):
        raw_id = ((incident or {}).get("CustomFields") or {}).get("threatmonfindingid")
    if raw_id in (None, ""):
        raw_id = finding_id_of(alarm)
    if raw_id in (None, ""):
        raise ValueError("The findingId argument is required outside a ThreatMon incident whose alarm has a finding id.")
    finding_id = _positive_int(raw_id)
    if finding_id is None:
        raise ValueError(f"The findingId argument must be a positive whole number; got '{raw_id}'.")
    finding = str(args.get("finding") or "").strip() or str(alarm.get("title") or "").strip()
    if not finding:
        raise ValueError(f"The finding argument is required: say what should be {action} and why.")
    return finding_id, finding


def request_takedown_command(client: Client, args: dict[str, Any], incident: dict[str, Any] | None = None) -> CommandResults:
    """Ask ThreatMon to take down a finding (arguments and their defaults: finding_arguments)."""
    finding_id, finding = finding_arguments(args, incident, "taken down")
    response = client.request_takedown(finding_id, finding)
    if response.status_code in TAKEDOWN_ERRORS:
        raise DemistoException(TAKEDOWN_ERRORS[response.status_code].format(fid=finding_id))
    output = {"findingId": finding_id, "status": "Submitted"}
    body = _body_of(response)
    return CommandResults(
        outputs_prefix="ThreatMon.Takedown",
        outputs_key_field="findingId",
        outputs=output,
        readable_output=f"Takedown request for finding {finding_id} submitted to ThreatMon.",
        raw_response=body if body is not None else output,
    )


def request_data_removal_command(client: Client, args: dict[str, Any], incident: dict[str, Any] | None = None) -> CommandResults:
    """Ask ThreatMon to remove the data of a Black Market Monitoring finding (arguments: finding_arguments).

    ThreatMon has not published the endpoint: it is the Data removal API path parameter, and while that is empty
    nothing is sent. Each refusal is one sentence (DATA_REMOVAL_ERRORS); any other failure reads as every command's.
    """
    if not client.data_removal_path:
        raise DemistoException(
            f"The {DATA_REMOVAL_PARAM} parameter is empty, so no data removal request was sent: ThreatMon has not "
            "published the API path of data removal requests; ask ThreatMon support for it and enter it in this "
            "instance's settings."
        )
    finding_id, finding = finding_arguments(args, incident, "removed")
    response = client.request_data_removal(finding_id, finding)
    if response.status_code in DATA_REMOVAL_ERRORS:
        raise DemistoException(DATA_REMOVAL_ERRORS[response.status_code].format(fid=finding_id))
    output = {"findingId": finding_id, "status": "Submitted"}
    body = _body_of(response)
    return CommandResults(
        outputs_prefix="ThreatMon.DataRemoval",
        outputs_key_field="findingId",
        outputs=output,
        readable_output=f"Data removal request for finding {finding_id} submitted to ThreatMon.",
        raw_response=body if body is not None else output,
    )


def format_vendors(vendors: Any) -> str:
    """{"Vendor": ["prod1", "prod2"], ...} -> "Vendor: prod1, prod2; ..." (any other shape as plain text)."""
    if isinstance(vendors, dict):
        parts = []
        for vendor, products in vendors.items():
            if isinstance(products, list):
                products = ", ".join(str(product) for product in products)
            parts.append(f"{vendor}: {products}" if products not in (None, "") else str(vendor))
        return "; ".join(parts)
    if isinstance(vendors, list):
        return ", ".join(str(vendor) for vendor in vendors)
    return "" if vendors is None else str(vendors)


def cve_results(body: dict[str, Any], title: str, page: int) -> CommandResults:
    records = [record for record in body.get("data") or [] if isinstance(record, dict)]
    total = body.get("totalRecords")
    rows = [
        {
            "CVE": record.get("cve"),
            "Summary": record.get("summary"),
            "CVSS v3.1": record.get("cvssV3_1"),
            "Severity v3.1": record.get("severityV3_1"),
            "CVSS v3": record.get("cvssV3"),
            "CVSS v4": record.get("cvssV4"),
            "Vendors": format_vendors(record.get("vendors")),
            "Exploit": record.get("exploit"),
            "Zero-day": record.get("zeroday"),
            "Ransomware": record.get("knownRansomwareCampaignUse"),
            "Updated": record.get("updatedAt"),
        }
        for record in records
    ]
    total_text = total if total is not None else "unknown"
    readable = tableToMarkdown(
        f"{title} (page {page}, {len(rows)} shown, total records: {total_text})", rows, headers=CVE_HEADERS, removeNull=False
    )
    return CommandResults(
        outputs_prefix="ThreatMon.CVE", outputs_key_field="cve", outputs=records, readable_output=readable, raw_response=body
    )


def parse_cvss(value: Any) -> str | None:
    """The cvss argument: a CVSS v3 severity word, any letter case, sent upper case as ThreatMon's own pack offers it."""
    try:
        return parse_choice(value, "cvss", CVSS_SEVERITIES)
    except ValueError:
        raise ValueError(
            f"The cvss argument must be a CVSS v3 severity, one of {', '.join(CVSS_SEVERITIES)} (not a score); got '{value}'."
        ) from None


def list_cves_command(client: Client, args: dict[str, Any]) -> CommandResults:
    page = parse_int(args.get("page"), "page", minimum=0, default=0) or 0
    cvss = parse_cvss(args.get("cvss"))
    return cve_results(client.list_cves(page, cvss), "ThreatMon CVEs", page)


def list_subscribed_cves_command(client: Client, args: dict[str, Any]) -> CommandResults:
    page = parse_int(args.get("page"), "page", minimum=0, default=0) or 0
    cvss = parse_cvss(args.get("cvss"))
    customer = str(args.get("customer_name") or "").strip() or None
    return cve_results(client.list_subscribed_cves(page, cvss, customer), "ThreatMon subscribed CVEs", page)


def get_mapping_fields_command() -> GetMappingFieldsResponse:
    """The ThreatMon Alarm fields an outgoing mapper can write to. Only the status is sent to ThreatMon."""
    alarm_type = SchemeTypeMapping(type_name=INCIDENT_TYPE_NAME)
    alarm_type.add_field(
        "status", f"ThreatMon status of the alarm, set when the incident closes: one of {', '.join(ALARM_STATUSES)}."
    )
    return GetMappingFieldsResponse([alarm_type])


def close_reason_to_status(reason: Any) -> str:
    """Close reason -> ThreatMon status (CLOSE_REASON_STATUS), any letter case, spacing, "-" or "_".

    XSOAR: False Positive -> False Positive, Duplicate -> Ignore. Cortex XSIAM and the Cortex platform: Resolved -
    False Positive -> False Positive; Resolved - Duplicate Issue, Known Issue, Security Testing, Dismissed -> Ignore.
    Anything else (Resolved, Other, Resolved - True Positive, Resolved - Other, a custom reason) -> Resolved.
    """
    text = " ".join(re.sub(r"[-_]", " ", str(reason or "")).split()).lower()
    text = text.removeprefix("resolved ")
    return CLOSE_REASON_STATUS.get(text, "Resolved")


def update_remote_system_command(client: Client, args: dict[str, Any]) -> str:
    """Outgoing mirroring: when the XSOAR incident was closed in THIS update, set the alarm's ThreatMon status.

    "Closed in this update" = the incident status is Done (2) and the delta carries the close (closeReason,
    closingUserId or the close time changed). Every later edit of a closed incident (its close notes included) has a
    delta without them, so each close is sent exactly once; a reopen and a new close send again. Other edits send
    nothing. The remote id is always returned. A failed PATCH raises, so XSOAR reports the mirroring error (and
    retries the update).
    (return_error prefixes "skip update" only for get-modified-remote-data, which this integration does not have.)
    """
    parsed = UpdateRemoteSystemArgs(args)
    remote_id = parsed.remote_incident_id
    delta = parsed.delta if isinstance(parsed.delta, dict) else {}
    changed = True if parsed.incident_changed in (None, "") else _flag(parsed.incident_changed)
    closed_now = str(parsed.inc_status) == str(IncidentStatus.DONE) and any(key in delta for key in CLOSE_FIELDS)
    if not (changed and closed_now):
        demisto.debug(f"ThreatMon update-remote-system: nothing to send for alarm {remote_id}.")
        return remote_id
    code = _positive_int(remote_id)
    if code is None:
        raise ValueError(f"The remote id '{remote_id}' of this incident is not a ThreatMon alarm code.")
    data = parsed.data if isinstance(parsed.data, dict) else {}
    reason = delta.get("closeReason") if "closeReason" in delta else data.get("closeReason")
    status = close_reason_to_status(reason)
    client.update_alarm_status([code], status)
    demisto.debug(f"ThreatMon update-remote-system: alarm {code} set to {status} (close reason {reason!r}).")
    return remote_id


""" MAIN """


def main() -> None:
    params = demisto.params()
    command = demisto.command()
    args = demisto.args()
    credentials = params.get("credentials")
    api_key = str(credentials.get("password") or "") if isinstance(credentials, dict) else ""
    demisto.debug(f"ThreatMon: command {command}")
    try:
        settings = parse_params(
            params,
            fetch=command in ("test-module", "fetch-incidents"),
            data_removal=command in ("test-module", DATA_REMOVAL_COMMAND),
        )
        settings.mirror_instance = demisto.integrationInstance() if settings.mirror_direction else ""
        deadline = FETCH_DEADLINE if command in ("test-module", "fetch-incidents") else COMMAND_DEADLINE
        client = Client(
            settings.base_url,
            settings.api_key,
            verify=settings.verify,
            proxy=settings.proxy,
            deadline_seconds=deadline,
            log=lambda message: demisto.debug(scrub(message, api_key)),
            data_removal_path=settings.data_removal_path,
        )
        commands: dict[str, Callable[[], Any]] = {
            "test-module": lambda: test_module(client),
            "threatmon_update_incident_status": lambda: update_incident_status_command(client, args, demisto.incident()),
            "threatmon_list_alarms": lambda: list_alarms_command(client, args),
            "threatmon_request_takedown": lambda: request_takedown_command(client, args, demisto.incident()),
            DATA_REMOVAL_COMMAND: lambda: request_data_removal_command(client, args, demisto.incident()),
            "threatmon_list_cves": lambda: list_cves_command(client, args),
            "threatmon_list_subscribed_cves": lambda: list_subscribed_cves_command(client, args),
            "get-mapping-fields": get_mapping_fields_command,
            "update-remote-system": lambda: update_remote_system_command(client, args),
        }
        if command == "fetch-incidents":
            next_run, incidents = fetch_incidents(client, demisto.getLastRun(), settings)
            demisto.setLastRun(next_run)
            demisto.incidents(incidents)
        elif command in commands:
            return_results(commands[command]())
        else:
            raise NotImplementedError(f"The command {command} is not implemented by the ThreatMon integration.")
    except Exception as exc:
        message = scrub(str(exc) or type(exc).__name__, api_key).strip()
        if not message.endswith((".", "!", "?")):
            message += "."
        return_error(f"Failed to execute {command}: {message}")


if __name__ in ("__main__", "__builtin__", "builtins"):  # pragma: no cover
    main()
