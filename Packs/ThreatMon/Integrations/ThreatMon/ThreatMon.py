"""ThreatMon integration for Cortex XSOAR.

Fetches ThreatMon alarms as incidents (each alarm exactly once, whatever order the API lists them in), mirrors
statuses both ways (closing an incident sets its alarm's ThreatMon status; a status set in ThreatMon reaches the
incident and, with close_incident, closes it), changes alarm statuses, lists alarms, requests takedowns and
black-market data removals, and lists CVE intelligence.

What is known of the API (and what is not) is in the integration README, section ThreatMon API behaviour; the code
names the subsection it relies on. In
short: ``GET /vulnerabilities/{page}?afterAlarmCode=C`` returns ``{"data": [...], "totalRecords": T}``, documented as
ten alarms a page; whether the filtered set is sorted ascending or descending by ``alarmCode`` is NOT documented.

One reader, AlarmList, reads that list for the fetch, incoming mirroring and threatmon_list_alarms: it turns each
answer into an AlarmPage (the codes, their order, totalRecords when it can be believed) and owns what the answers
proved about the pages (ListGeometry: the page size, the step from one page to the next, the order).

The fetch's rule: the watermark (lastRun ``last_alarm_code``) moves only past codes the run has proven to be the
smallest above it. AlarmFetcher detects the order at run time and follows the strategy for it (TailFinder finds the
last page of a descending list, FullScan reads a list in no order whole), reading through RunReads (the run's request
bound, answers in another order read again); it learns the page size and whether pages overlap from the answers, and
checks every page before moving past it; IncidentTaker turns what is proven into incidents (alarm_to_incident); when a run cannot
prove which codes come next, it ends without moving, logs why, and the next run retries. LegacyMigration continues
from the lastRun of the 1.0.x pack. See fetch_incidents.

Incoming mirroring: ThreatMon has no "modified since" query and no way to read one alarm, so the integration keeps
the last status of every alarm it fetched (MirrorMemory, in the integration context), and each
get-modified-remote-data cycle (MirrorSweep) reads the list over a part of them within mirror_max_requests requests
and reports the alarms whose status changed; get-remote-data hands each change to XSOAR with no request. Outgoing
mirroring (update-remote-system) sends each close once, and a close that incoming mirroring brought is not sent back.
"""

import bisect
import difflib
import hashlib
import itertools
import json
import random
import re
import time
import unicodedata
import urllib.parse
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

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

# The documented page holds ten alarms (README, ThreatMon API behaviour: Alarm list). The fetch learns the real size
# from the answers (Paging: what the fetch relies on) and uses this only where nothing has been learned yet (the
# request bound of a run, the 1.0.x position).
DOCUMENTED_PAGE_SIZE = 10
DEFAULT_MAX_FETCH = 100
MAX_FETCH_LIMIT = 1000
MAX_LIST_LIMIT = 100
DEFAULT_LIST_LIMIT = 10
MAX_LIST_PAGES = 50  # pages one threatmon_list_alarms call reads at most, whatever its limit, filter and the page size

FETCH_DEADLINE = 40.0  # seconds: a fetch run ends well inside the server's one-minute budget
COMMAND_DEADLINE = 90.0

# Fetch bounds. Skipped alarms (first_fetch, min_severity) cost requests but no incident budget, so the
# number of requests a run may send is bounded on its own.
EXTRA_REQUESTS_PER_RUN = 30
LAST_PAGE_TRIES = 4
ORDER_TRIES = 6  # reads of a page whose answers keep coming in another order than page 0's
STALLED_RUNS_LIMIT = 3  # runs in a row without progress while alarms are listed, before the fetch reports an error
SCAN_MAX_REQUESTS = 200  # an unsorted list is read whole; this bounds it (the deadline too)
MIGRATION_MAX_REQUESTS = 400  # counting a 1.0.x batch page by page, once, when totalRecords cannot be used
MIGRATION_TRIES = 3
MAX_FINGERPRINTS = 100  # alarms without a usable code are remembered by fingerprint, this many at most
STATE_VERSION = 2

ALARM_STATUSES = ["Open", "In Progress", "False Positive", "Ignore", "Resolved"]
CVSS_SEVERITIES = ["NONE", "LOW", "MEDIUM", "HIGH", "CRITICAL"]  # the CVSS v3 severity words the cvss filter takes
SEVERITY_WORDS = ["Information", "Low", "Medium", "High", "Critical"]
# The alarm types named in ThreatMon's public material (README, ThreatMon API behaviour); ThreatMon has not published the full
# list, so other types are accepted as free text (alarm_types_other) and only a near miss of these is refused.
KNOWN_ALARM_TYPES = ["Phishing Domain Detected", "Rogue Mobile App Detected", "Fake Social Media Account Detected"]
KNOWN_ALARM_TYPE_KEYS = [name.lower() for name in KNOWN_ALARM_TYPES]  # the filters compare lower-cased words
ALARM_STATUS_KEYS = frozenset(name.lower() for name in ALARM_STATUSES)
TYPO_SIMILARITY = 0.85  # a free-text type this close to a known one (difflib ratio, case-insensitive) is a typo
# Why the fetch passed an alarm without creating an incident (the run's debug line and the health record count these).
SKIP_SEVERITY = "below min_severity"
SKIP_FIRST_FETCH = "older than first_fetch"
SKIP_TYPE = "alarm type not selected"
SKIP_STATUS = "status not selected"
SEVERITY_TO_XSOAR = {
    "information": IncidentSeverity.INFO,
    "low": IncidentSeverity.LOW,
    "medium": IncidentSeverity.MEDIUM,
    "high": IncidentSeverity.HIGH,
    "critical": IncidentSeverity.CRITICAL,
}
SEVERITY_RANK = {word.lower(): rank for rank, word in enumerate(SEVERITY_WORDS)}
MIRROR_DIRECTIONS = {"none": None, "incoming": "In", "outgoing": "Out", "incoming and outgoing": "Both"}
MIRROR_DIRECTION_WORDS = "None, Incoming, Outgoing, Incoming And Outgoing"
# The instance parameters as the instance form shows them (the yml's display, displaypassword for the credential).
# Every parameter error names one as "label (name)" (param_title); a test keeps this table equal to the yml's texts.
PARAM_LABELS = {
    "url": "Server URL",
    "credentials": "API Key",
    "insecure": "Trust any certificate (not secure)",
    "proxy": "Use system proxy settings",
    "data_removal_path": "Data removal API path",
    "max_fetch": "Maximum number of incidents per fetch",
    "first_fetch": "First fetch time",
    "min_severity": "Minimum severity to fetch",
    "alarm_types": "Alarm types to fetch",
    "alarm_types_other": "Other alarm types to fetch",
    "alarm_statuses": "Alarm statuses to fetch",
    "lastIncidentId": "Last Incident ID (for initial fetch)",
    "mirror_direction": "Incident Mirroring Direction",
    "close_incident": "Close Mirrored XSOAR Incident",
    "mirror_max_requests": "Maximum list requests per mirroring cycle",
    "incidentFetchInterval": "Incidents Fetch Interval",  # not read (the server's); named in the rate-limit advice
}
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
SYNC_COMMAND = "threatmon_sync_alarm_statuses"
DATA_REMOVAL_PARAM = param_title("data_removal_path", PARAM_LABELS)
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
    + " is the path ThreatMon support gave.",
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

# Incoming mirroring (see INCOMING MIRRORING below for the design and what it costs).
MIRROR_CONTEXT_KEY = "mirror_in"  # the integration-context key of the mirroring memory
MIRROR_CONTEXT_VERSION = 1
MAX_MIRRORED_ALARMS = 5000  # past this, the oldest alarms stop being mirrored in
DEFAULT_MIRROR_REQUESTS = 5  # list requests one mirroring cycle may send (instance setting mirror_max_requests)
MAX_MIRROR_REQUESTS = 100
MIRROR_DEADLINE = 30.0  # seconds: a cycle ends well inside the server's mirroring interval
MIRROR_SCAN_MAX_PAGES = 2000  # a page-by-page read ends here even if the server never answers an empty page
MIRROR_PENDING_REPORTS = 5  # a change XSOAR never asked for (get-remote-data) is reported this many cycles, then dropped
# ThreatMon status that closes the alarm -> the XSOAR close reason that closes its incident. Each reason is the one
# close_reason_to_status maps back to the same status, so a mirrored-in close that goes out again changes nothing.
CLOSING_STATUSES = {"Resolved": "Resolved", "False Positive": "False Positive", "Ignore": "Duplicate"}
CLOSED_BY_THREATMON = "Closed by ThreatMon"  # how the close notes of a mirrored-in close begin
# An alarm ThreatMon no longer lists (closed or removed there; whether the list keeps closed alarms is not documented,
# README, ThreatMon API behaviour: Alarm list): its incident closes with the reason XSOAR uses for anything else.
# Cortex XSIAM and the Cortex platform read it as their "Resolved - Other", as they read the other reasons as
# "Resolved - ..." ones.
NOT_LISTED_CLOSE_REASON = "Other"
REOPEN_STATUS = "In Progress"  # what outgoing mirroring sets in ThreatMon when a closed incident is reopened
OPEN_ALARM_STATUSES = ("Open", "In Progress")

""" CLIENT """


class Client(ThreatMonClient):
    """Speaks HTTP to ThreatMon's alarm API and nothing else: its endpoints. The retry loop, the error sentences
    and their kinds are ThreatMonClient's (ThreatMonApiModule); the words below make them this API's."""

    CREDENTIAL_HEADER = "X-COMPANY-API-KEY"
    # A 401/403 can mean a wrong key or a caller IP that ThreatMon has not allow-listed (README, ThreatMon API
    # behaviour: Base URL and authentication).
    HINTS = ApiHints(
        credential="API key",
        credential_check="that the API key is valid and that ThreatMon has allow-listed the public IP address of this "
        "XSOAR server or engine",
        server_url=f"https://external.threatmonit.io or a URL ending in {API_PATH}",
        slow_down=f"raise the {param_title('incidentFetchInterval', PARAM_LABELS)} or lower the "
        f"{param_title('max_fetch', PARAM_LABELS)}",
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
        return self._request("GET", f"/vulnerabilities/{path_number(page, 'page')}", params=params, expect=_is_page_body)

    def update_alarm_status(self, alarm_ids: list[int], status: str) -> Any:
        """PATCH /incident/status. Success is any 2xx; its body is not documented (may be empty or not JSON)."""
        for code in alarm_ids:
            path_number(code, "alarm code")  # whole numbers only, checked before anything is sent
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
            raise ValueError(f"{DATA_REMOVAL_PARAM} is empty, so no data removal request was sent.")
        return self._request(
            "POST",
            self.data_removal_path.replace(FINDING_ID_PLACEHOLDER, path_number(finding_id, "finding id")),
            json_data={"findingId": finding_id, "finding": finding},
            passthrough=(400, 403, 404, 409),
            post_safe_retry=True,
        )

    def list_cves(self, page: int, cvss: str | None = None) -> dict[str, Any]:
        return self._request("GET", f"/cve/{path_number(page, 'page')}", params=_clean({"cvss": cvss}), expect=_is_page_body)

    def list_subscribed_cves(self, page: int, cvss: str | None = None, customer_name: str | None = None) -> dict[str, Any]:
        params = _clean({"cvss": cvss, "customerName": customer_name})
        return self._request("GET", f"/cve/subscribed/{path_number(page, 'page')}", params=params, expect=_is_page_body)


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
    """Strip trailing slashes; a bare host (no path or "/") gets the API path appended. Only https, but for a loopback
    host (a local simulator): over plain http the API key would cross the network unencrypted."""
    url = (url or "").strip()
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"{param_title('url', PARAM_LABELS)} must be an http(s) URL such as https://external.threatmonit.io; got '{url}'."
        )
    require_https(url, param_title("url", PARAM_LABELS), "https://external.threatmonit.io")
    path = parts.path.rstrip("/") or API_PATH
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


DATA_REMOVAL_PATH_CHARS = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@%/-]+")
PATH_DECODE_ROUNDS = 3  # %252e%252e is ".." after two decodings: each form up to three is checked
SCHEME_START = re.compile(r"/*[A-Za-z][A-Za-z0-9+.-]*:")


def parse_data_removal_path(value: Any, base_url: str) -> str | None:
    """The data_removal_path parameter as a path relative to the Server URL (``base_url``); None when empty.

    ThreatMon has not published the path, so the form support gives it in is not known either. Read as the same
    relative path: "x/y" and "/x/y" (relative to the Server URL), "/api/threatmon/external/v1/x/y" (the Server URL's
    own path in front is not doubled), and a full URL on the Server URL's scheme and host under its path. A URL on any
    other host is refused: the API key goes only to the Server URL's host. "{findingId}" in the path is replaced by
    the finding id, in case the path carries it.

    The path must stay under the Server URL's path, as written, after percent-decoding (a server or proxy may decode
    it) and as requests sends it: no "." or ".." segment (%2e%2e included), no whitespace or control character (a tab
    would be dropped silently), no backslash, no scheme and no authority (//host). Each refusal names the rule.
    """
    text = str(value or "").strip()
    if not text:
        return None

    def refused(why: str) -> ValueError:
        return ValueError(f"{DATA_REMOVAL_PARAM} {why}; got '{text}'.")

    if _has_space_or_control(text):  # before urlsplit, which drops tabs and line breaks without a word
        raise refused("must not contain whitespace or control characters (a space, a tab, a line break)")

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
        if plain and not DATA_REMOVAL_PATH_CHARS.fullmatch(plain):
            raise refused("must be a URL path (letters, digits and - . _ ~ %, parts separated by /, {findingId} allowed)")
    path = "/" + "/".join(segments)
    broken = _path_rule_broken(path)
    if broken:
        raise refused(broken)
    return path


def _has_space_or_control(text: str) -> bool:
    return any(char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in text)


def _path_forms(path: str) -> list[str]:
    """The path as written, as requests sends it, and percent-decoded up to PATH_DECODE_ROUNDS times."""
    forms = [path, requests.utils.requote_uri(path)]
    decoded = path
    for _ in range(PATH_DECODE_ROUNDS):
        decoded = urllib.parse.unquote(decoded)
        forms.append(decoded)
    return forms


def _path_rule_broken(path: str) -> str | None:
    """The rule a data removal path breaks in any of its forms (see parse_data_removal_path), or None."""
    for form in _path_forms(path):
        if _has_space_or_control(form):
            return "must not contain whitespace or control characters, percent-encoded (%09, %20) or not"
        if "\\" in form:
            return "must not contain a backslash, percent-encoded (%5C) or not"
        if any(segment.split(";", 1)[0] in (".", "..") for segment in form.split("/")):
            return "must not contain a . or .. segment, percent-encoded (%2e) or not: the path stays under the Server URL"
        if "//" in form:
            return "must not contain an authority (//host), percent-encoded (%2F%2F) or not"
        if SCHEME_START.match(form):
            return "must not contain a scheme (such as https:), percent-encoded or not"
    return None


def parse_choice(value: Any, name: str, choices: list[str], what: str = "argument", label: str | None = None) -> str | None:
    """Case-insensitive match of a word among choices; returns the canonical spelling, None when empty. An instance
    parameter passes its form ``label`` (see subject_of)."""
    if isinstance(value, list) and len({str(item) for item in value}) == 1:
        value = value[0]  # a playbook passing a context path that holds the same word once or several times
    if value is None or not str(value).strip():
        return None
    wanted = " ".join(str(value).split()).lower()
    for choice in choices:
        if choice.lower() == wanted:
            return choice
    raise ValueError(f"{subject_of(name, what, label)} must be one of {', '.join(choices)}; got '{value}'.")


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
    """The alarm's type. Its field name is not documented (README, ThreatMon API behaviour), so both spellings are read."""
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


ISO_Z_SECOND = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")  # 2024-01-31T08:00:00Z


def occurred_of(value: Any) -> str | None:
    """An alarm's alarmDate as its incident's occurred time, in UTC to the second (2024-01-31T08:00:00Z); None when it
    is no time. A date sent in that very form is kept as sent once it proves a real date: reading it and writing it
    out again would cost more than building the rest of the incident, for every fetched alarm."""
    if isinstance(value, str) and ISO_Z_SECOND.fullmatch(value):
        try:  # (not contextlib.suppress: entering and leaving it took as long as the check itself)
            datetime.fromisoformat(value)  # not 2024-13-45T25:00:00Z
        except ValueError:
            pass
        else:
            return value
    moment = parse_time(value)
    return to_iso_z(moment) if moment is not None else None


def to_iso_z(moment: datetime) -> str:
    """The moment in UTC to the second, as 2024-01-31T08:00:00Z (a naive moment is read as local time)."""
    if moment.tzinfo is not UTC:  # parse_time's moments are in UTC already (every fetched alarm's)
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="seconds")[:19] + "Z"


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

# Every class of this file is built when the integration starts, which XSOAR does for every run (fetch-incidents runs
# every minute). A dataclass compiles each method it generates then: as dataclasses, the records of this file
# (ListGeometry, AlarmPage, FetchState, FetchReport, FetchOutcome, FetchHealth, MirrorMemory) took 2.6 ms of every run,
# three times what the rest of the file takes. So they, like Settings, are plain classes with their __init__ written
# out; those that are compared have FieldsEqual's __eq__, and none has a repr (Settings' would show the key).


class FieldsEqual:
    """Two records are equal when they are of one class and every attribute is."""

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]  # mutable: not a dict key


class Settings(FieldsEqual):
    """The validated instance parameters. Two are equal when every parameter is; no repr: it would show the key."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        verify: bool = True,
        proxy: bool = False,
        max_fetch: int = DEFAULT_MAX_FETCH,
        first_fetch: datetime | None = None,
        min_severity: str | None = None,
        alarm_types: frozenset[str] | None = None,
        alarm_statuses: frozenset[str] | None = None,
        filter_notes: list[str] | None = None,
        last_incident_id: int | None = None,
        incident_type: str | None = None,
        mirror_direction: str | None = None,
        mirror_instance: str = "",
        data_removal_path: str | None = None,
        close_incident: bool = False,
        mirror_max_requests: int = DEFAULT_MIRROR_REQUESTS,
    ):
        self.base_url = base_url
        self.api_key = api_key
        self.verify = verify
        self.proxy = proxy
        self.max_fetch = max_fetch
        self.first_fetch = first_fetch
        self.min_severity = min_severity
        self.alarm_types = alarm_types  # lower-cased; None fetches every type
        self.alarm_statuses = alarm_statuses  # lower-cased; None fetches every status
        self.filter_notes = filter_notes if filter_notes is not None else []  # free-text types that are not known types
        self.last_incident_id = last_incident_id
        self.incident_type = incident_type
        self.mirror_direction = mirror_direction  # None, "In", "Out" or "Both"
        self.mirror_instance = mirror_instance
        self.data_removal_path = data_removal_path  # relative to base_url; None while ThreatMon support has not given it
        self.close_incident = close_incident  # incoming mirroring closes the incident when ThreatMon closes the alarm
        self.mirror_max_requests = mirror_max_requests

    @property
    def mirror_in(self) -> bool:
        return self.mirror_direction in ("In", "Both")


RELATIVE_TIME = re.compile(r"\d+\s+(minute|hour|day|week|month|year)s?(\s+ago)?", re.IGNORECASE)


def parse_first_fetch(text: str, now: datetime | None = None) -> datetime:
    """'7 days' / '12 hours ago' (relative to now) or a date ('2024-01-31', ISO-8601), as an aware UTC datetime.

    Relative times go through arg_to_datetime; other text is not handed to it, because on text that is no date at
    all the date parser can spend many seconds (it tries every language) before giving up. A time after ``now`` is
    refused: the first run would skip every alarm listed until then, and the cutoff it saves would keep them out.
    """
    moment = parse_time(text)
    if moment is None and RELATIVE_TIME.fullmatch(text):
        moment = arg_to_datetime(text, arg_name="first_fetch")
    if moment is None:
        raise ValueError(
            f"{param_title('first_fetch', PARAM_LABELS)} must be a time such as '7 days', '12 hours' or '2024-01-31'; "
            f"got '{text}'."
        )
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment > (now or datetime.now(UTC)):
        raise ValueError(
            f"{param_title('first_fetch', PARAM_LABELS)} must be a time in the past such as '7 days' or '2024-01-31' "
            f"(a future time would make the first fetch skip every alarm ThreatMon lists now); got '{text}'."
        )
    return moment


def _flag(value: Any, name: str = "value") -> bool:
    """True or false from a parameter or a mirroring argument; an instance parameter is named by its label
    (``parse_flag(value, name, label=PARAM_LABELS[name])``)."""
    return parse_flag(value, name, "parameter", label=PARAM_LABELS.get(name))


def api_key_of(params: dict[str, Any]) -> str:
    """The API key the instance holds (the password of its credentials parameter), trimmed; empty when there is none."""
    credentials = params.get("credentials") or {}
    return str(credentials.get("password") or "").strip() if isinstance(credentials, dict) else ""


def parse_params(
    params: dict[str, Any],
    fetch: bool = True,
    data_removal: bool = False,
    mirroring: bool | None = None,
    api_key: str | None = None,
) -> Settings:
    """Validate the instance parameters (used by test-module, fetch and, for the connection part, every command).

    Each error names the parameter as the instance form shows it, "label (name)" (PARAM_LABELS), and what it
    accepts. ``fetch=False`` checks only what a command needs; ``data_removal`` also reads the data removal path
    (test-module and the data removal command); ``mirroring`` (default: as ``fetch``) checks the mirroring settings,
    which the mirroring commands need too. ``fetchInterval`` (kept from 1.x) is never read: the server schedules
    fetches by ``incidentFetchInterval``. ``api_key``: the key as main() read it (api_key_of), so it is read once.
    """
    api_key = api_key_of(params) if api_key is None else api_key
    if not api_key:
        raise ValueError(f"{param_title('credentials', PARAM_LABELS)} is empty: paste the company API key issued by ThreatMon.")
    settings = Settings(
        base_url=normalize_url(params.get("url") or DEFAULT_URL),
        api_key=api_key,
        verify=not _flag(params.get("insecure"), "insecure"),
        proxy=_flag(params.get("proxy"), "proxy"),
    )
    if data_removal:
        settings.data_removal_path = parse_data_removal_path(params.get("data_removal_path"), settings.base_url)
    if fetch if mirroring is None else mirroring:
        parse_mirroring_params(params, settings)
    if not fetch:
        return settings
    max_fetch = parse_int(
        params.get("max_fetch"), "max_fetch", minimum=1, maximum=MAX_FETCH_LIMIT, label=PARAM_LABELS["max_fetch"]
    )
    settings.max_fetch = max_fetch or DEFAULT_MAX_FETCH
    first_fetch = str(params.get("first_fetch") or "").strip()
    if first_fetch:
        settings.first_fetch = parse_first_fetch(first_fetch)
    settings.min_severity = parse_choice(
        params.get("min_severity"), "min_severity", SEVERITY_WORDS, label=PARAM_LABELS["min_severity"]
    )
    parse_alarm_filters(params, settings)
    settings.last_incident_id = parse_int(
        params.get("lastIncidentId"), "lastIncidentId", minimum=0, label=PARAM_LABELS["lastIncidentId"]
    )
    settings.incident_type = str(params.get("incidentType") or "").strip() or None
    return settings


def _words(value: Any) -> list[str]:
    """A multi-select or comma-separated parameter as its words (trimmed, inner spaces collapsed, empties dropped)."""
    items = value if isinstance(value, list) else str(value or "").split(",")
    return [" ".join(str(item).split()) for item in items if str(item or "").strip()]


def canonical_word(word: str, names: list[str]) -> str | None:
    """The one of ``names`` that ``word`` is, in any letter case, in its own spelling; None when it is none of them."""
    return next((name for name in names if name.lower() == word.lower()), None)


def _selected(params: dict[str, Any], name: str, names: list[str], also: str = "") -> set[str]:
    """The lower-cased ``names`` a multi-select setting holds; a word that is none of them is refused, naming the setting
    and the accepted values (``also``: what else to say after them)."""
    chosen: set[str] = set()
    for word in _words(params.get(name)):
        known = canonical_word(word, names)
        if known is None:
            raise ValueError(f"{param_title(name, PARAM_LABELS)} must be among {', '.join(names)}{also}; got '{word}'.")
        chosen.add(known.lower())
    return chosen


def parse_alarm_filters(params: dict[str, Any], settings: Settings) -> None:
    """alarm_types (known types), alarm_types_other (free text) and alarm_statuses, as lower-cased sets; None = all.

    A multi-select value that is not one of its options, or a free-text type that is a near miss of a known type, is
    refused with the setting's name and the known values. Any other free-text type is kept and noted: ThreatMon has
    not published its list of types, so a type that is not known may still be real.
    """
    types = _selected(
        params, "alarm_types", KNOWN_ALARM_TYPES, f" (other types go in the {param_title('alarm_types_other', PARAM_LABELS)})"
    )
    for word in _words(params.get("alarm_types_other")):
        if word.lower() in KNOWN_ALARM_TYPE_KEYS:
            types.add(word.lower())
            continue
        near = difflib.get_close_matches(word.lower(), KNOWN_ALARM_TYPE_KEYS, 1, TYPO_SIMILARITY)
        if near:
            known = canonical_word(near[0], KNOWN_ALARM_TYPES)
            raise ValueError(
                f"{param_title('alarm_types_other', PARAM_LABELS)}: '{word}' looks like a typo of the known type "
                f"'{known}'. The known types are {', '.join(KNOWN_ALARM_TYPES)}; enter another type exactly as ThreatMon "
                "names it."
            )
        types.add(word.lower())
        settings.filter_notes.append(
            f"'{word}' ({param_title('alarm_types_other', PARAM_LABELS)}) is not a known ThreatMon alarm type (known: "
            f"{', '.join(KNOWN_ALARM_TYPES)}); alarms of exactly that type are fetched."
        )
    settings.alarm_types = frozenset(types) or None
    statuses = _selected(params, "alarm_statuses", ALARM_STATUSES)
    # Every known status selected is the same as none: every alarm, whatever its status (1.x behaviour).
    settings.alarm_statuses = frozenset(statuses) if statuses and len(statuses) < len(ALARM_STATUSES) else None


def filter_skip_reason(alarm: dict[str, Any], settings: Settings) -> str | None:
    """Why the alarm type and status filters leave this alarm out, or None. An alarm without a type (or status), or with
    a status that is not one of the five known words, is never left out: nothing proves it is outside the filter."""
    if settings.alarm_types is not None:
        alarm_type = alarm_type_of(alarm)
        if alarm_type and " ".join(alarm_type.split()).lower() not in settings.alarm_types:
            return SKIP_TYPE
    if settings.alarm_statuses is not None:
        status = " ".join(str(alarm.get("status") or "").split()).lower()
        if status in ALARM_STATUS_KEYS and status not in settings.alarm_statuses:
            return SKIP_STATUS
    return None


def parse_mirroring_params(params: dict[str, Any], settings: Settings) -> None:
    """mirror_direction (today's None and Outgoing still mean what they meant), close_incident, mirror_max_requests."""
    direction = " ".join(str(params.get("mirror_direction") or "None").split()).lower()
    if direction not in MIRROR_DIRECTIONS:
        raise ValueError(
            f"{param_title('mirror_direction', PARAM_LABELS)} must be one of {MIRROR_DIRECTION_WORDS}; "
            f"got '{params.get('mirror_direction')}'."
        )
    settings.mirror_direction = MIRROR_DIRECTIONS[direction]
    settings.close_incident = _flag(params.get("close_incident"), "close_incident")
    budget = parse_int(
        params.get("mirror_max_requests"),
        "mirror_max_requests",
        minimum=1,
        maximum=MAX_MIRROR_REQUESTS,
        label=PARAM_LABELS["mirror_max_requests"],
    )
    settings.mirror_max_requests = budget or DEFAULT_MIRROR_REQUESTS


""" THE ALARM LIST """

# One reader of GET /vulnerabilities/{page}?afterAlarmCode=C serves the fetch, incoming mirroring and
# threatmon_list_alarms: it turns an answer into an AlarmPage (the alarms, their codes in the order listed, that order,
# and totalRecords when it can be believed) and keeps what the answers proved about the list's pages (ListGeometry).
# Pages of ten are documented, but nothing here assumes it.

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


class ListGeometry(FieldsEqual):
    """What the answers proved about the alarm list's pages: ``size``, the alarms a page holds; ``step``, by how many
    alarms page n+1 starts after page n (fewer than the size when pages overlap); ``order``, the sort order a reader
    that keeps one (incoming mirroring) last saw. Stored as ``page_size``, ``page_step`` and ``order``, in lastRun by
    the fetch and in the integration context by incoming mirroring: ``load`` and ``stored`` are the one form of both."""

    def __init__(self, size: int | None = None, step: int | None = None, order: str | None = None):
        self.size = size
        self.step = step
        self.order = order

    @classmethod
    def load(cls, stored: Any) -> "ListGeometry":
        """Read leniently: a size below 1, a step outside 1..size, an order other than ascending or descending is absent."""
        stored = stored if isinstance(stored, dict) else {}
        size, step = _int_or_none(stored.get("page_size")), _int_or_none(stored.get("page_step"))
        size = size if size is not None and size >= 1 else None
        step = step if size is not None and step is not None and 1 <= step <= size else None
        order = stored.get("order") if stored.get("order") in (ASC, DESC) else None
        return cls(size, step, order)

    def stored(self) -> dict[str, Any]:
        stored: dict[str, Any] = {}
        if self.size is not None:
            stored["page_size"] = self.size
        if self.step is not None:
            stored["page_step"] = self.step
        if self.order is not None:
            stored["order"] = self.order
        return stored

    def proven(self) -> "ListGeometry":
        """The geometry the fetch keeps from run to run: a size with its step proven, or nothing (the order is
        detected afresh every run)."""
        return ListGeometry(self.size, self.step) if self.size is not None and self.step is not None else ListGeometry()


class AlarmPage:
    """One answer of GET /vulnerabilities/{number}?afterAlarmCode=after: its alarms, totalRecords when it can be
    believed (``total``) and as ThreatMon sent it (``reported_total``), the codes in the order listed and that order,
    the alarms by code (the first of each code listed) and the alarms that carry no usable code."""

    def __init__(
        self,
        number: int,
        data: list[Any],
        total: int | None,
        after: int | None,
        codes: list[int] | None = None,
        order: str = UNKNOWN,
        reported_total: Any = None,
        by_code: dict[int, dict[str, Any]] | None = None,
        codeless: list[dict[str, Any]] | None = None,
    ):
        self.number = number
        self.data = data
        self.total = total
        self.after = after
        self.codes = codes if codes is not None else []
        self.order = order
        self.reported_total = reported_total
        self.by_code = by_code if by_code is not None else {}
        self.codeless = codeless if codeless is not None else []


def _identity(alarm: Any) -> Any:
    """What makes two list items the same alarm: its code, else its fingerprint."""
    code = alarm_code_of(alarm)
    if code is not None:
        return code
    return fingerprint(alarm) if isinstance(alarm, dict) else repr(alarm)


def boundary_overlap(before: AlarmPage, after: AlarmPage) -> int | None:
    """How many alarms page n+1 (``after``) repeats from the end of page n (``before``): the r for which the last r
    items of ``before`` are the first r items of ``after``, when no other item is on both; None when other items are
    on both pages (then the list moved between the two reads)."""
    first = [_identity(alarm) for alarm in before.data]
    second = [_identity(alarm) for alarm in after.data]
    if not first or not second:
        return 0
    for repeated in range(min(len(first) - 1, len(second)), -1, -1):
        if repeated and first[-repeated:] != second[:repeated]:
            continue
        if set(first[: len(first) - repeated]) & set(second) or set(first) & set(second[repeated:]):
            return None
        return repeated
    return None  # pragma: no cover - the loop ends with repeated == 0, which always returns


class AlarmList:
    """Reads pages of the alarm list and judges each answer by one rule each: the codes and their order, whether
    totalRecords can be believed, the page size and step, and whether a page is the last."""

    def __init__(self, client: Client, geometry: ListGeometry | None = None):
        self.client = client
        self.geometry = geometry or ListGeometry()
        self.requests = 0
        self.size_seen = False  # the size was confirmed by an answer of this reader (a page 0 shorter than its count)
        self.longest = 0  # the longest page seen (a page holds at least this many)
        self.totals: dict[int | None, int] = {}  # afterAlarmCode -> the last believable totalRecords read for it

    def read(self, number: int, after: int | None) -> AlarmPage:
        """Page ``number`` of afterAlarmCode=after. A count that a non-empty page contradicts (fewer alarms than the
        pages up to this one hold: at least one new alarm a page before it, the proven step when there is one) is no
        count. A page 0 shorter than its own totalRecords holds exactly one page: that is the size, and a new size
        has its step proven again; no page is longer than a page, so a longer one means the server pages otherwise
        now and what was learnt is dropped."""
        self.requests += 1
        body = self.client.list_alarms(page=number, after_alarm_code=after)
        data = body.get("data") or []
        total = _int_or_none(body.get("totalRecords"))
        geometry = self.geometry
        if data and total is not None and total < number * (geometry.step or 1) + len(data):
            total = None
        if total is not None:
            self.totals[after] = total
        if geometry.size is not None and len(data) > geometry.size:
            geometry.size = geometry.step = None
            self.size_seen = False
        if number == 0 and total is not None and 0 < len(data) < total:
            if len(data) != geometry.size:
                geometry.size, geometry.step = len(data), None
            self.size_seen = True
        self.longest = max(self.longest, len(data))
        codes: list[int] = []
        by_code: dict[int, dict[str, Any]] = {}
        codeless: list[dict[str, Any]] = []
        for alarm in data:  # each alarm's code is read once, here (a fetched page is read for it three times)
            code = alarm_code_of(alarm)
            if code is not None:
                codes.append(code)
                by_code.setdefault(code, alarm)
            elif isinstance(alarm, dict):
                codeless.append(alarm)
        return AlarmPage(number, data, total, after, codes, detect_order(codes), body.get("totalRecords"), by_code, codeless)

    def is_short(self, page: AlarmPage) -> bool:
        """A page with fewer alarms than a page holds (the size this reader's answers showed, else the largest page
        seen) is the last page of its list: every page but the last is full (README, ThreatMon API behaviour, Paging). A size kept
        from earlier is not enough: had the server's pages shrunk since, a full page would look short."""
        bound = self.geometry.size if self.geometry.size is not None and self.size_seen else self.longest
        return 0 < len(page.data) < bound

    def is_whole_list(self, page: AlarmPage, count_only: bool = False) -> bool:
        """totalRecords shows that the list ends on this page (page 0: it holds everything; a later page, with
        ``count_only``: it ends where the count does, by the proven step)."""
        if page.total is None:
            return False
        if page.number == 0:
            return len(page.data) >= page.total
        if count_only and self.geometry.step is not None:
            return page.number * self.geometry.step + len(page.data) >= page.total
        return False

    def ends_at_count(self, page: AlarmPage, step: int) -> bool:
        """The count says the list ends with this (non-empty) page, were pages ``step`` alarms apart: the pages up to
        it hold exactly totalRecords alarms. Whether ``step`` is proven or a guess to check is the caller's to say."""
        return bool(page.data) and page.total is not None and page.number * step + len(page.data) == page.total

    def prove_step(self, before: AlarmPage, page: AlarmPage) -> bool:
        """Pages n and n+1 of one listing (the same count, so the list did not change in between; page n full): the
        alarms they share at their boundary give the step. True when they proved it."""
        repeated = boundary_overlap(before, page)
        size = self.geometry.size
        if size is None or before.total != page.total or len(before.data) != size or repeated is None:
            return False
        self.geometry.step = size - repeated
        return True

    @staticmethod
    def in_order(page: AlarmPage, order: str | None, above: AlarmPage | None) -> bool:
        """Whether a page can be read as part of a list in ``order``: its codes are in that order when it has two or
        more; with fewer, they agree with ``above``, a page of the same list before it (in a descending list its codes
        are larger, in an ascending one smaller; an alarm repeated at the boundary of overlapping pages is allowed).
        An ascending page must also go on from ``above`` (alarms created meanwhile land at the end, after it). A
        descending page is not held to that: alarms created meanwhile land on page 0 and push older ones down."""
        if order is None:
            return True
        if page.order not in (order, UNKNOWN):
            return False
        if not page.codes or above is None or not above.codes or (page.order == DESC):
            return True
        if order == DESC:
            return max(page.codes) <= min(above.codes)
        return min(page.codes) >= max(above.codes)


""" FETCH """


class LegacyPosition(NamedTuple):
    """Where the 1.0.x pack left its fetch (its lastRun ``{"last_incident_id", "page", "max_seen_id"}``): the filter of
    its current batch, the next page of that batch to read, and the largest code it saw in the batch."""

    last_incident_id: int | None
    page: int
    max_seen_id: int | None


class FetchState:
    """The fetch's position from one run to the next, as lastRun keeps it (small).

    ``last_alarm_code`` is the watermark (C in the fetch's docstrings). Invariant: every alarm whose code is <= C has
    been handled (ingested, or skipped on purpose), and no alarm above it has been ingested. ``legacy_*`` exist only
    while the tail of a batch a 1.0.x run left half-done is being finished; ``fingerprints`` only for alarms that carry
    no usable code. ``geometry`` is what earlier runs proved about ThreatMon's pages (a size with its step);
    ``stalled_runs`` counts the runs in a row that ended without progress while alarms were listed.
    """

    def __init__(
        self,
        last_alarm_code: int | None = None,
        first_fetch_cutoff: str | None = None,
        legacy_ceiling: int | None = None,
        legacy_remaining: int | None = None,
        fingerprints: list[str] | None = None,
        geometry: ListGeometry | None = None,
        stalled_runs: int = 0,
        legacy: LegacyPosition | None = None,
        legacy_last_run: dict[str, Any] | None = None,
    ):
        self.last_alarm_code = last_alarm_code
        self.first_fetch_cutoff = first_fetch_cutoff
        self.legacy_ceiling = legacy_ceiling
        self.legacy_remaining = legacy_remaining
        self.fingerprints = fingerprints if fingerprints is not None else []
        self.geometry = geometry if geometry is not None else ListGeometry()
        self.stalled_runs = stalled_runs
        self.legacy = legacy  # a 1.0.x position not converted yet
        self.legacy_last_run = legacy_last_run if legacy_last_run is not None else {}  # ... the 1.0.x lastRun it came from

    @classmethod
    def load(cls, last_run: Any, settings: Settings) -> "FetchState":
        last_run = last_run if isinstance(last_run, dict) else {}
        stalled = max(0, _int_or_none(last_run.get("stalled_runs")) or 0)
        if last_run.get("state_version") == STATE_VERSION:
            state = cls(
                last_alarm_code=_int_or_none(last_run.get("last_alarm_code")),
                first_fetch_cutoff=_text_or_none(last_run.get("first_fetch_cutoff")),
                legacy_ceiling=_int_or_none(last_run.get("legacy_ceiling")),
                legacy_remaining=_int_or_none(last_run.get("legacy_remaining")),
                # A damaged lastRun (not a list here) must not break every later run: it is read as no fingerprints.
                fingerprints=[str(x) for x in _list_or_empty(last_run.get("nocode_seen"))][-MAX_FINGERPRINTS:],
                geometry=ListGeometry.load(last_run).proven(),
                stalled_runs=stalled,
            )
            if state.legacy_ceiling is None or state.legacy_remaining is None:
                state.legacy_ceiling = state.legacy_remaining = None
            return state
        if "last_incident_id" in last_run:  # written by the 1.0.x pack
            return cls(legacy=LegacyMigration.position(last_run, settings), legacy_last_run=dict(last_run), stalled_runs=stalled)
        # The first fetch of this instance.
        cutoff = to_iso_z(settings.first_fetch) if settings.first_fetch else None
        return cls(last_alarm_code=settings.last_incident_id, first_fetch_cutoff=cutoff)

    def position(self) -> tuple:
        """Everything that says how far the fetch has come (a run that does not change it made no progress)."""
        return (self.last_alarm_code, self.legacy_ceiling, self.legacy_remaining, self.legacy, tuple(self.fingerprints))

    def to_last_run(self) -> dict[str, Any]:
        if self.legacy is not None:  # the 1.0.x position could not be converted yet: it is kept as it was
            run = {key: value for key, value in self.legacy_last_run.items() if key != "stalled_runs"}
        else:
            run = {"state_version": STATE_VERSION}
            if self.last_alarm_code is not None:
                run["last_alarm_code"] = self.last_alarm_code
            if self.first_fetch_cutoff:
                run["first_fetch_cutoff"] = self.first_fetch_cutoff
            if self.legacy_ceiling is not None:
                run["legacy_ceiling"] = self.legacy_ceiling
                run["legacy_remaining"] = self.legacy_remaining
            if self.fingerprints:
                run["nocode_seen"] = self.fingerprints[-MAX_FINGERPRINTS:]
            run.update(self.geometry.stored())
        if self.stalled_runs:
            run["stalled_runs"] = self.stalled_runs
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


class _Unproven(Exception):
    """The run cannot prove which codes are the smallest above the watermark (the message says why); it ends without
    moving further and the next run tries again."""


def alarm_to_context(alarm: dict[str, Any]) -> dict[str, Any]:
    """The alarm as it goes to context: every field ThreatMon sent, alarmCode as an int when it is numeric, and
    the alarm type and finding id under one spelling (alarmType, findingId) whichever one ThreatMon used."""
    entry = dict(alarm)
    code = alarm_code_of(alarm)
    if code is not None:
        entry["alarmCode"] = code
    if "alarmType" not in entry and alarm_type_of(alarm):
        entry["alarmType"] = alarm_type_of(alarm)
    if "findingId" not in entry and finding_id_of(alarm) is not None:
        entry["findingId"] = finding_id_of(alarm)
    return entry


def alarm_to_incident(alarm: dict[str, Any], code: int | None, settings: Settings, now: datetime) -> dict[str, Any]:
    """The XSOAR incident of a fetched alarm (``code``: its alarm code, None for an alarm that carries none): the
    name, occurrence time (now when alarmDate is no date), severity, details, the alarm as rawJSON, the Status label
    1.x set, and the mirroring fields of the instance."""
    title = str(alarm.get("title") or "").strip() or "(no title)"
    occurred = occurred_of(alarm.get("alarmDate"))
    if occurred is None:
        demisto.debug(
            f"ThreatMon alarm {code}: alarmDate {alarm.get('alarmDate')!r} is missing or not a date; occurred set to now."
        )
        occurred = to_iso_z(now)
    incident = {
        "name": f"ThreatMon Alarm {code if code is not None else '(no code)'}: {title}",
        "occurred": occurred,
        "severity": severity_to_xsoar(alarm.get("severity")),
        "details": str(alarm.get("description") or ""),
        "rawJSON": json.dumps(alarm),
    }
    status = alarm.get("status")
    if status not in (None, ""):
        incident["labels"] = [{"type": "Status", "value": str(status)}]  # as 1.x set it: mappers built on 1.x read it
    if code is not None:
        incident["dbotMirrorId"] = str(code)
        if settings.mirror_direction:
            incident["dbotMirrorDirection"] = settings.mirror_direction
            incident["dbotMirrorInstance"] = settings.mirror_instance
    if settings.incident_type:
        incident["type"] = settings.incident_type
    return incident


class IncidentTaker:
    """Turns the alarms a fetch run has proven to come next into incidents, in ascending code order, moving the
    watermark past each, until max_fetch incidents are taken; alarms without a code are taken once by fingerprint."""

    def __init__(self, state: FetchState, settings: Settings, now: datetime):
        self.state = state
        self.settings = settings
        self.now = now
        self.cutoff = parse_time(state.first_fetch_cutoff) if state.first_fetch_cutoff else None
        self.incidents: list[dict[str, Any]] = []
        self.taken: dict[int, dict[str, Any]] = {}  # code -> the alarm, of every incident taken that has a code
        self.skipped: Counter[str] = Counter()  # reason -> alarms passed without an incident
        self.passed = 0  # codes the watermark moved past one by one (taken or skipped)
        self.pages_taken = 0
        self.legacy_batch = LegacyBatch(state) if state.legacy_ceiling is not None else None

    @property
    def full(self) -> bool:
        return len(self.incidents) >= self.settings.max_fetch

    def codes_above_watermark(self, page: AlarmPage) -> dict[int, dict[str, Any]]:
        """The alarms of a page whose code is above last_alarm_code (first occurrence of each). Codes at or below it
        that the server sends back are dropped: they were handled already."""
        watermark = self.state.last_alarm_code
        if watermark is None:
            return dict(page.by_code)
        return {code: alarm for code, alarm in page.by_code.items() if code > watermark}

    def take_codeless(self, page: AlarmPage) -> None:
        """Ingest the alarms of a page that carry no usable code, each once (remembered by fingerprint)."""
        for alarm in page.codeless:
            digest = fingerprint(alarm)
            if digest in self.state.fingerprints or self.full:
                continue
            self.state.fingerprints = [*self.state.fingerprints, digest][-MAX_FINGERPRINTS:]
            reason = self.skip_reason(alarm)
            if reason is None:
                self.incidents.append(alarm_to_incident(alarm, None, self.settings, self.now))
            else:
                self.skipped[reason] += 1

    def full_after_taking(self, page: AlarmPage | None, usable: dict[int, dict[str, Any]] | None = None) -> bool:
        """Take the alarms of a page proven to hold the smallest codes above the watermark (``usable``: its codes
        above it, by default all of them), in ascending code order, moving the watermark after each. ``usable``
        always holds every code of (watermark, max(usable)], so the watermark never passes an alarm that was not
        handled. Returns whether the run's incident budget is full (then the rest waits for the next run)."""
        if usable is None:
            usable = self.codes_above_watermark(page) if page is not None else {}
        if page is not None and usable:
            self.pages_taken += 1
        for code in sorted(usable):
            if self.state.last_alarm_code is not None and code <= self.state.last_alarm_code:
                continue  # passed by a jump over a 1.0.x batch
            if self.full:
                return True
            if self.legacy_batch is not None:
                self.legacy_batch.count(code)
            alarm = usable[code]
            reason = self.skip_reason(alarm)
            if reason is None:
                self.incidents.append(alarm_to_incident(alarm, code, self.settings, self.now))
                self.taken[code] = alarm
            else:
                self.skipped[reason] += 1  # passed for good: the watermark moves past it below, as past a taken one
            self.state.last_alarm_code = code
            self.passed += 1
            if self.legacy_batch is not None and self.legacy_batch.done():
                self.legacy_batch = None
        return self.full

    def skip_reason(self, alarm: dict[str, Any]) -> str | None:
        """Why the alarm is passed without an incident (min_severity, first_fetch, the type and status filters)."""
        if is_below_severity(alarm.get("severity"), self.settings.min_severity):
            return SKIP_SEVERITY
        if self.cutoff is not None:
            moment = parse_time(alarm.get("alarmDate"))
            if moment is not None and moment < self.cutoff:
                return SKIP_FIRST_FETCH
        return filter_skip_reason(alarm, self.settings)


class _RequestBoundReached(Exception):
    """The run sent as many requests as it may; it ends without moving further and the next run continues."""


class RunReads:
    """The pages one fetch run reads: page n of afterAlarmCode=C (the watermark, unless another is given), within the
    run's request bound, and read again when an answer comes in another order than the run's."""

    def __init__(self, client: Client, state: FetchState, settings: Settings):
        self.state = state
        self.settings = settings
        # The page geometry is learned from the answers (README, ThreatMon API behaviour, Paging: the documented page
        # holds 10, but that is not trusted) or was proven by an earlier run.
        self.pages = AlarmList(client, ListGeometry(state.geometry.size, state.geometry.step))
        self.extra_requests = 0  # granted to a full scan or a 1.0.x conversion on top of the run's bound
        self.listed = False  # page 0 listed alarms (a run without progress then "stalled")
        self.rereads = 0  # answers in the other order (or disagreeing with earlier pages), read again

    @property
    def max_requests(self) -> int:
        return self._request_bound() + self.extra_requests

    def _request_bound(self) -> int:
        """The pages max_fetch needs and some more: skipped alarms cost requests but no incident budget."""
        return -(-self.settings.max_fetch // (self.pages.geometry.size or DOCUMENTED_PAGE_SIZE)) + EXTRA_REQUESTS_PER_RUN

    def allow(self, more: int) -> None:
        """Let the run send ``more`` requests from now on, whatever its bound (a full scan, a 1.0.x conversion)."""
        self.extra_requests = max(self.extra_requests, self.pages.requests + more - self._request_bound())

    def get(self, number: int, after: int | None = None) -> AlarmPage:
        """Page ``number`` of afterAlarmCode=last_alarm_code (or of ``after`` when given), within the run's bound."""
        if self.pages.requests >= self.max_requests:
            raise _RequestBoundReached()
        page = self.pages.read(number, self.state.last_alarm_code if after is None else after)
        self.listed = self.listed or (number == 0 and bool(page.data))
        return page

    def get_in_order(self, number: int, order: str | None, above: AlarmPage | None) -> AlarmPage:
        """A page that must be in ``order`` (or agree with ``above`` when it holds fewer than two codes): an answer in
        the other order (a server whose answers change order) is read again, ORDER_TRIES reads in all."""
        for _ in range(ORDER_TRIES):
            page = self.get(number)
            if AlarmList.in_order(page, order, above):
                return page
            self.rereads += 1
        raise _Unproven(f"page {number} of the alarm list kept arriving in another order than page 0")


class TailFinder:
    """Finds the last page (the tail) of afterAlarmCode=C in a descending list, where the smallest codes above C are,
    and proves it is the last: from totalRecords when the count can be trusted, else by probing pages."""

    def __init__(self, reads: RunReads):
        self.reads = reads
        self.pages = reads.pages
        self.total_trust = "not needed"  # what the run made of totalRecords: not needed, verified, not trusted
        self.count_unreliable = False  # totalRecords did not describe the filtered list this run: it is not used again
        self.neighbour: AlarmPage | None = None  # the page before a proven tail, read with it (same listing, same count)

    def locate(self, total: int | None, hint: int | None, above: AlarmPage | None, order: str | None) -> AlarmPage | None:
        """The tail, proven to be the last. ``above``: a page of the same list read earlier, whose codes are above
        the tail's."""
        if total is not None and not self.count_unreliable:
            try:
                return self._by_count(total, above, order)
            except _TotalUnreliable:
                pass
            # totalRecords may count something else (all alarms, not the filtered ones): stop using it this run.
            self.count_unreliable = True
            self.total_trust = "not trusted"
        if hint is None:
            step = self.pages.geometry.step or self.pages.geometry.size or DOCUMENTED_PAGE_SIZE
            hint = max(0, (total - 1) // step) if total else 0
        return self._by_probing(hint, above, order)

    def _by_count(self, total: int, above: AlarmPage | None, order: str | None) -> AlarmPage | None:
        """The tail from totalRecords T: page n = (T - 1) // step. A page is the tail when it is short (every page but
        the last is full), or when it is full and step * n + len(data) equals its own totalRecords with the step
        proven (by an earlier run, a short tail, or the page before it read from the same listing). A count that keeps
        contradicting the pages raises _TotalUnreliable."""
        geometry = self.pages.geometry
        for _ in range(LAST_PAGE_TRIES):
            step = geometry.step or geometry.size or DOCUMENTED_PAGE_SIZE
            number = max(0, (total - 1) // step)
            page = self.reads.get_in_order(number, order, above if number else None)
            if page.total is None:
                break
            if page.total == 0:
                return None
            if page.data and self._is_tail(page, step, above, order):
                self.total_trust = "verified"
                return page
            total = page.total
            if geometry.step is not None and geometry.step != step:
                continue  # the step just learned (overlapping pages) puts the tail elsewhere
            if max(0, (total - 1) // step) == number and not (geometry.step is None and self._learn_step(page, above, order)):
                break  # the server contradicts itself: this page is "last" by its count but not by its content
        raise _TotalUnreliable()

    def _is_tail(self, page: AlarmPage, step: int, above: AlarmPage | None, order: str | None) -> bool:
        total = page.total or 0
        geometry = self.pages.geometry
        if page.number == 0:
            return len(page.data) >= total
        if self.pages.is_short(page):
            if geometry.step is None and self.pages.ends_at_count(page, step):
                geometry.step = step  # a short tail ending where the count says: the step is proven
            return True
        if not self.pages.ends_at_count(page, step):
            return False
        if geometry.step is not None:
            return True
        # A full page ending where the count says is the tail only if pages do not overlap: prove the step with the
        # page before it (overlapping pages would put the tail further on).
        return self._learn_step(page, above, order) and geometry.step == step

    def _learn_step(self, page: AlarmPage, above: AlarmPage | None, order: str | None) -> bool:
        """Read the page before ``page`` from the same listing and prove the step with it. True when the step is now
        known."""
        if page.number == 0 or page.total is None or self.pages.geometry.size is None:
            return False
        before = self.reads.get_in_order(page.number - 1, order, above if page.number > 1 else None)
        if not self.pages.prove_step(before, page):
            return False
        self.neighbour = before
        geometry = self.pages.geometry
        demisto.debug(f"ThreatMon fetch: pages hold {geometry.size} alarms and page n+1 starts {geometry.step} after page n.")
        return True

    def _by_probing(self, hint: int, above: AlarmPage | None, order: str | None) -> AlarmPage | None:
        """The tail without totalRecords: gallop up from the hint to an empty page, bisect down to the last non-empty
        one. A short page is the last one by itself. A full page is the last one only if the next page was seen empty
        AFTER it was read (had an alarm been created in between, the next page would hold the alarm pushed off it).
        The tail must also be in the run's order; one in the other order is read again."""
        for _ in range(LAST_PAGE_TRIES):
            reads: dict[int, tuple[int, AlarmPage]] = {}
            low, high, number, step = -1, None, max(0, hint), 1
            while high is None or high - low > 1:
                if high is not None:
                    number = (low + high) // 2
                page = self.reads.get(number)
                reads[number] = (self.pages.requests, page)
                if self.pages.is_short(page) and AlarmList.in_order(page, order, above if number else None):
                    return page
                if not page.data:
                    high = number
                else:
                    low = number
                    if high is None:
                        number, step = number + step, step * 2
            if low < 0:
                return None  # page 0 is empty: nothing above C
            candidate = reads[low][1]
            if not AlarmList.in_order(candidate, order, above if low else None):
                self.reads.rereads += 1
                candidate = self.reads.get(low)
                reads[low] = (self.pages.requests, candidate)
            proven_last = candidate.data and (reads[low][0] < reads[low + 1][0] or not self.reads.get(low + 1).data)
            if proven_last and AlarmList.in_order(candidate, order, above if low else None):
                return candidate
            hint = low + 1
        raise _Unproven("the alarm pages kept changing while the oldest alarms were looked for")


class FullScan:
    """Reads a list in no known order whole, and takes its smallest codes above C when the list held still while it
    was read."""

    def __init__(self, fetcher: "AlarmFetcher"):
        self.fetcher = fetcher
        self.pages = fetcher.pages

    def run(self, first: AlarmPage) -> None:
        """Any other order: read every page up to the end of the list and keep the smallest codes. The scan counts only
        if the list did not change while it was read: one totalRecords throughout and no alarm seen twice (an alarm
        created in front of the read position pushes one alarm onto the next page, where it is seen again), except the
        alarms that overlapping pages repeat at each boundary. Then every code above C that existed is in hand,
        anything created later has a larger code, and taking the smallest ones is safe. One rescan, then the run ends
        without moving. A scan may read up to SCAN_MAX_REQUESTS pages."""
        fetcher = self.fetcher
        fetcher.reads.allow(SCAN_MAX_REQUESTS)
        for attempt in range(2):
            read = [first if attempt == 0 else fetcher.reads.get(0)]
            while read[-1].data and not self.pages.is_whole_list(read[-1], count_only=True) and not self.pages.is_short(read[-1]):
                read.append(fetcher.reads.get(read[-1].number + 1))
            if self._is_consistent(read):
                usable: dict[int, dict[str, Any]] = {}
                for page in read:
                    fetcher.taker.take_codeless(page)
                    for code, alarm in fetcher.taker.codes_above_watermark(page).items():
                        usable.setdefault(code, alarm)
                if not fetcher.taker.full_after_taking(None, usable):
                    fetcher.drained = True
                return
        raise _Unproven("the alarm list is not sorted by alarm code and kept changing while it was read")

    def _is_consistent(self, pages: list[AlarmPage]) -> bool:
        totals = {page.total for page in pages}
        if len(totals - {None}) > 1 or (None in totals and len(totals) > 1):
            return False
        listed = [page for page in pages if page.data]
        overlaps = {boundary_overlap(a, b) for a, b in itertools.pairwise(listed)}
        if None in overlaps or len(overlaps) > 1:
            return False
        repeated = overlaps.pop() if overlaps else 0
        size, step = self.pages.geometry.size, self.pages.geometry.step
        if size is not None and step is not None:
            return repeated == size - step
        # Without a proven step, repeats at the page boundaries are taken for overlapping pages only when the count
        # shows that the list did not change while it was read.
        return repeated == 0 or None not in totals


class AlarmFetcher:
    """One fetch run: reads page 0 of afterAlarmCode=C, tells the list's order from it and follows the strategy for
    that order (ascending, descending, or reading the whole list), handing each page it has proven to hold the smallest
    codes above C to the taker. See fetch_incidents for the rule; every step keeps FetchState's invariant, so stopping
    anywhere (budget, request bound, deadline, a failure, an answer that proves nothing) leaves a lastRun that matches
    the incidents taken."""

    def __init__(self, client: Client, state: FetchState, settings: Settings, now: datetime):
        self.state = state
        self.settings = settings
        self.taker = IncidentTaker(state, settings, now)
        self.reads = RunReads(client, state, settings)
        self.pages = self.reads.pages
        self.tails = TailFinder(self.reads)
        self.start = state.last_alarm_code  # the watermark the run starts from (its counts are read for it)
        self.plain_start = state.legacy is None and state.legacy_ceiling is None  # no 1.0.x batch in the way
        self.drained = False
        self.stop_reason: str | None = None  # why the run ended without moving as far as it could
        self.order: str | None = None  # the order detected on page 0 (ASC, DESC, UNSORTED, UNKNOWN)
        self.order_found_by: str | None = None  # how, when page 0 alone could not tell it

    @property
    def incidents(self) -> list[dict[str, Any]]:
        return self.taker.incidents

    @property
    def requests(self) -> int:
        return self.pages.requests

    @property
    def listed(self) -> bool:
        return self.reads.listed

    # ----- the run -----

    def run(self) -> None:
        try:
            if self.state.legacy is not None:
                LegacyMigration(self).run()
            self._fetch()
        except _RequestBoundReached:
            self._end_early(f"the request bound of this run ({self.reads.max_requests}) was reached")
        except _Unproven as exc:
            self._end_early(str(exc))
        if self.drained:
            self.state.first_fetch_cutoff = None  # first_fetch applies until the backlog has been drained once
        self.state.geometry = self.pages.geometry.proven()

    def _end_early(self, reason: str) -> None:
        self.stop_reason = reason
        demisto.debug(
            f"ThreatMon fetch: the run stops at last_alarm_code={self.state.last_alarm_code}, unable to prove which alarms "
            f"come next: {reason}. The next run goes on from there."
        )

    def _fetch(self) -> None:
        page: AlarmPage | None = self.reads.get(0)
        while page is not None:
            page = self._from_page_zero(page)

    def _from_page_zero(self, first: AlarmPage) -> AlarmPage | None:
        """Take what page 0 of afterAlarmCode=last_alarm_code proves. Returns a new page 0 to look at when the order
        has to be detected again (an answer came in the other order), else None."""
        if not first.data:
            self.drained = True
            return None
        self.order = self.order or first.order
        if first.order == ASC:
            return self._run_ascending(first)
        if self._holds_everything(first):
            # Page 0 holds the whole filtered list: the order does not matter.
            self.taker.take_codeless(first)
            if not self.taker.full_after_taking(first):
                self.drained = True
            return None
        if first.order == DESC:
            self._run_descending(first)
        elif first.order == UNSORTED:
            FullScan(self).run(first)
        else:
            self._run_undetected(first)
        return None

    def _run_ascending(self, page: AlarmPage, order_known: bool = False) -> AlarmPage | None:
        """Ascending: page 0 of afterAlarmCode=C holds the smallest codes above C. Take them, move C, ask page 0 again
        with the new C. Cursor paging is immune to alarms created meanwhile (they land at the end), to the page size
        and to overlapping pages. Each page 0 must be ascending itself: one in another order is handed back to be
        looked at afresh (a server whose answers change order). An empty page, or one that the count (or a page seen
        longer) shows is the last, ends it.

        If a page holds no code above C (a server that ignores or loosens the filter), the next page is read with the
        same C; the smallest codes above C are then on the first page that has any, provided every page read so far
        is ascending and starts at or after the end of the page before. ``order_known``: the first page's order was
        told by comparing it with the tail (it holds fewer than two codes).
        """
        number, previous = 0, None
        while True:
            if (
                number == 0
                and page.order != ASC
                and not order_known
                and not (page.order == UNKNOWN and self.pages.is_whole_list(page))
            ):
                self.reads.rereads += 1
                return page  # another order: look at it afresh
            order_known = False
            self.taker.take_codeless(page)
            usable = self.taker.codes_above_watermark(page)
            if usable and self.taker.full_after_taking(page, usable):
                return None
            if not page.data or self.pages.is_whole_list(page) or self.pages.is_short(page):
                self.drained = True
                return None
            previous = page
            number = 0 if usable else number + 1
            page = self.reads.get_in_order(number, ASC, previous) if number else self.reads.get(0)

    def _run_descending(self, first: AlarmPage, prefetched: AlarmPage | None = None) -> None:
        """Descending: the smallest codes above C are on the LAST page (the tail), which the TailFinder locates and
        proves; its codes are taken in ascending order, C moves, and the next tail is predicted from what the count had
        left. Alarms created meanwhile land on page 0 and only shift the tail, which the proof catches. ``prefetched``:
        the tail, when it was read already (to tell the order).
        """
        total, hint = first.total, None
        while True:
            tail = prefetched or self.tails.locate(total, hint, first, DESC)
            prefetched = None
            if tail is None or not tail.data:
                self.drained = True
                return
            page = tail
            usable = self.taker.codes_above_watermark(page)
            while not usable and page.number > 0:
                # The tail holds only codes <= C (a server that ignores the filter and counts every alarm): the
                # smallest codes above C are on the nearest earlier page that has any, read from the same listing.
                earlier = self.reads.get_in_order(page.number - 1, DESC, first if page.number > 1 else None)
                if not earlier.data or earlier.total != page.total:
                    raise _Unproven("the alarm list changed while the pages before its tail were read")
                page = earlier
                usable = self.taker.codes_above_watermark(page)
            self.taker.take_codeless(page)
            if not usable:
                self.drained = True
                return
            if self.taker.full_after_taking(page, usable):
                return
            before, self.tails.neighbour = self.tails.neighbour, None
            if before is not None and page is tail and self._precedes(before, tail):
                # Read with the tail to prove the page step: the same listing and the same count, so its codes are the
                # ones right above the tail's.
                self.taker.take_codeless(before)
                if self.taker.full_after_taking(before):
                    return
                page = before
            if page.number == 0:
                self.drained = True
                return
            step = self.pages.geometry.step
            if page is not tail and step:
                total = page.number * step  # the codes above those taken: the pages before this one
            else:
                total = tail.total - len(tail.data) if tail.total is not None else None
            hint = page.number - 1

    def _precedes(self, before: AlarmPage, tail: AlarmPage) -> bool:
        """``before`` is the page right before ``tail`` in one listing: same filter, same count, and at their
        boundary exactly the alarms the proven step repeats."""
        same = before.after == tail.after and before.total == tail.total and before.number == tail.number - 1
        size, step = self.pages.geometry.size, self.pages.geometry.step
        return same and size is not None and step is not None and boundary_overlap(before, tail) == size - step

    def _run_undetected(self, first: AlarmPage) -> None:
        """Page 0 cannot tell the order (fewer than two codes): compare it with the tail."""
        tail = self.tails.locate(first.total, None, None, None)
        head, last = first.codes, tail.codes if tail is not None else []
        self.order_found_by = "page 0 compared with the last page"
        if tail is not None and head and last and min(head) > max(last) and tail.order in (DESC, UNKNOWN):
            self.order = DESC
            self._run_descending(first, prefetched=tail)
        elif head and last and max(head) < min(last):
            self.order = ASC
            self._run_ascending(first, order_known=True)
        else:
            self.order = UNSORTED
            FullScan(self).run(first)

    def _holds_everything(self, first: AlarmPage) -> bool:
        """Page 0 is the whole list: totalRecords says so, or (without it) the page is shorter than one seen before, or
        page 1, read now, is empty. A short page 0 with a larger totalRecords is one page of a list paged smaller."""
        if first.total is not None:
            return len(first.data) >= first.total
        if self.pages.is_short(first):
            return True
        return not self.reads.get(1).data

    def backlog(self) -> int | None:
        """Alarms above the watermark after the run, where totalRecords can be believed: 0 when the run drained the
        list; the count read for the final watermark; else the count read for the run's first watermark less the codes
        passed since (alarms created meanwhile are not in it). None when no such count was read or the run did not
        trust it, or a 1.0.x position was being converted (its counts are of another list)."""
        if self.drained:
            return 0
        if self.tails.total_trust == "not trusted" or self.state.legacy is not None or not self.plain_start:
            return None
        totals = self.pages.totals
        if self.state.last_alarm_code in totals:
            return totals[self.state.last_alarm_code]
        if self.start in totals:
            return max(0, totals[self.start] - self.taker.passed)
        return None

    def summary(self) -> str:
        """The run in one line: what the debug log says at the end of every fetch."""
        order = self.order or "none (the list was empty)"
        if self.order_found_by:
            order += f" ({self.order_found_by})"
        if self.reads.rereads:
            order += f", {self.reads.rereads} answer(s) in another order read again"
        size, step = self.pages.geometry.size, self.pages.geometry.step
        geometry = f"pages of {size or 'unknown size'}"
        reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(self.taker.skipped.items()))
        skipped = f"{sum(self.taker.skipped.values())} skipped" + (f" ({reasons})" if reasons else "")
        if step is not None and step != size:
            geometry += f" overlapping by {(size or 0) - step}"
        return (
            f"ThreatMon fetch: {len(self.incidents)} incident(s), {skipped}; order {order}; "
            f"totalRecords {TOTAL_TRUST_PHRASES[self.tails.total_trust]}; {geometry}; {self.requests} request(s), "
            f"{self.taker.pages_taken} page(s) taken; drained={self.drained}, last_alarm_code={self.state.last_alarm_code}."
        )


TOTAL_TRUST_PHRASES = {
    "not needed": "not needed",
    "verified": "verified",
    "not trusted": "not trusted (missing or inconsistent; pages were probed instead)",
}


# ----- the 1.0.x lastRun -----
#
# An instance upgraded from the 1.0.x pack carries 1.0.x's lastRun until its first 2.x fetch that can read the list
# converts it, and the batch 1.0.x left half-done is finished within a few runs after that. This unit (LegacyMigration,
# LegacyBatch, LegacyPosition, the legacy_* fields of FetchState) can be removed in the pack's 3.0.0, whose release
# notes then ask 1.0.x users to upgrade through a 2.x version first: by then every instance that ran 2.x has no 1.0.x
# position left, and a 1.0.x lastRun would be read as a first fetch (from first_fetch or lastIncidentId).


class LegacyBatch:
    """What is left of a batch a 1.0.x run left half-done (FetchState ``legacy_ceiling`` M and ``legacy_remaining``
    n): the next n codes above the watermark are taken normally, then the watermark jumps to M (1.0.x ingested the
    rest of the batch)."""

    def __init__(self, state: FetchState):
        self.state = state

    def count(self, code: int) -> None:
        """``code`` is about to be taken: a code above M ends the batch; one inside it counts against n."""
        if self.state.legacy_ceiling is None:
            return
        if code > self.state.legacy_ceiling:
            self.end()
        else:
            self.state.legacy_remaining = (self.state.legacy_remaining or 0) - 1

    def done(self) -> bool:
        """True when the batch is finished (the watermark then stands at M at least)."""
        if self.state.legacy_ceiling is not None and (self.state.legacy_remaining or 0) <= 0:
            self.end()
        return self.state.legacy_ceiling is None

    def end(self) -> None:
        ceiling = self.state.legacy_ceiling
        if ceiling is not None and (self.state.last_alarm_code is None or self.state.last_alarm_code < ceiling):
            self.state.last_alarm_code = ceiling
        self.state.legacy_ceiling = self.state.legacy_remaining = None


class LegacyMigration:
    """Turns the lastRun of the 1.0.x pack, {"last_incident_id": L, "page": P, "max_seen_id": M}, into a watermark and
    what is left of its batch.

    With P == 0 (or no M) 1.0.x had finished its batch: every code <= L was ingested, so C = L.

    With P > 0 and M, 1.0.x was in the middle of a batch: it had read pages 0..P-1 of afterAlarmCode=L and M is the
    largest code it saw. 1.0.x went on to a next page only after a full one (it took a page shorter than the
    documented ten for the last), so it read R = P pages' worth of alarms: P * 10 with the documented page, P times
    the page size learned from the answers otherwise. Of the codes in (L, M] it ingested exactly R:
      - ascending order: pages 0..P-1 were the R smallest codes above L, M the largest of them, so the codes in
        (L, M] are exactly those R: all done, C = M;
      - descending order: pages 0..P-1 were the R largest codes of (L, M] (M was the top of page 0), so the ones
        NOT ingested are the smallest n of (L, M], with n = count(L, M] - R.
    count(L, M] = T(L) - T(M), the totalRecords of afterAlarmCode=L and =M; alarms created meanwhile have codes
    above M and add to both, so T(M) is read before and after T(L) and must not change in between. When
    totalRecords cannot give it, the list of afterAlarmCode=L is read page by page instead (_count_by_listing).
    In the ascending case n is never positive (count(L, M] is R, new codes are above M), so n alone decides:
    n <= 0 -> C = M; n > 0 -> C = L and the next n codes above L are taken normally (LegacyBatch), after which C
    jumps to M. Limit: if alarms were created while 1.0.x itself paged a descending list, its pages overlapped and it
    ingested fewer than R distinct alarms; that cannot be known afterwards, so the reasoning above assumes it did not.
    """

    def __init__(self, fetcher: AlarmFetcher):
        self.fetcher = fetcher
        self.state = fetcher.state
        self.reads = fetcher.reads
        self.pages = fetcher.pages

    @staticmethod
    def position(last_run: dict[str, Any], settings: Settings) -> LegacyPosition:
        """The 1.0.x position of a lastRun it wrote (its lastIncidentId parameter when it saved no code)."""
        last_incident_id = _int_or_none(last_run.get("last_incident_id"))
        if last_incident_id is None:
            last_incident_id = settings.last_incident_id
        page = _int_or_none(last_run.get("page")) or 0
        return LegacyPosition(last_incident_id, max(page, 0), _int_or_none(last_run.get("max_seen_id")))

    def run(self) -> None:
        position = self.state.legacy or LegacyPosition(None, 0, None)
        last_incident_id, page, max_seen_id = position
        if not page or max_seen_id is None or last_incident_id is None or max_seen_id <= last_incident_id:
            self.state.last_alarm_code, self.state.legacy = last_incident_id, None
            return
        count = self._count_by_totals(last_incident_id, max_seen_id)
        if count is None or count < self._read_by_legacy(page):
            # 1.0.x read R codes of (L, M], so fewer means totalRecords is missing, unstable or counts something else.
            count = self._count_by_listing(last_incident_id, max_seen_id, page)
        remaining = count - self._read_by_legacy(page)
        self.state.legacy = None
        if remaining > 0:
            self.state.last_alarm_code = last_incident_id
            self.state.legacy_ceiling, self.state.legacy_remaining = max_seen_id, remaining
            self.fetcher.taker.legacy_batch = LegacyBatch(self.state)
        else:
            self.state.last_alarm_code = max_seen_id
        demisto.debug(
            f"ThreatMon fetch: continued from the 1.0.x lastRun (L={last_incident_id}, page={page}, M={max_seen_id}); "
            f"{max(remaining, 0)} alarm(s) of that batch were still to ingest."
        )

    def _read_by_legacy(self, pages: int) -> int:
        """Alarms 1.0.x read in ``pages`` full pages (distinct ones: overlapping pages repeat some)."""
        size = self.pages.geometry.size or DOCUMENTED_PAGE_SIZE
        step = self.pages.geometry.step or size
        return pages * step + (size - step)

    def _count_by_totals(self, low: int, high: int) -> int | None:
        """count(low, high] from totalRecords: T(high), T(low), T(high) again; None if missing or unstable."""
        for _ in range(MIGRATION_TRIES):
            before = self.reads.get(0, after=high).total
            above_low = self.reads.get(0, after=low).total
            after = self.reads.get(0, after=high).total
            if before is not None and above_low is not None and before == after:
                return above_low - before
        return None

    def _count_by_listing(self, low: int, high: int, pages: int) -> int:
        """count(low, high] by reading the list of afterAlarmCode=low (any order; alarms created meanwhile only push
        alarms to later pages, where a set of codes sees them once). An ascending list needs no count: there the
        1.0.x pack had read exactly the smallest codes, so what it read is returned. Bounded by MIGRATION_MAX_REQUESTS
        and the deadline; a run that cannot finish leaves the 1.0.x lastRun untouched."""
        self.reads.allow(MIGRATION_MAX_REQUESTS)
        codes: set[int] = set()
        number = 0
        while True:
            page = self.reads.get(number, after=low)
            if number == 0 and page.order == ASC and not self.pages.is_whole_list(page) and not self.pages.is_short(page):
                return self._read_by_legacy(pages)
            codes.update(code for code in page.codes if low < code <= high)
            if not page.data or self.pages.is_short(page) or self.pages.is_whole_list(page, count_only=True):
                return len(codes)
            number += 1


class FetchReport:
    """What one fetch run did, for the health record (FetchHealth): counts and positions only, never an alarm's content
    or a key. ``outcome``: moved (incidents created or the watermark moved), idle (nothing new), stalled (alarms are
    listed but the run could not prove which come next) or failed (an error before any progress)."""

    def __init__(
        self,
        outcome: str = "idle",
        incidents: int = 0,
        skipped: dict[str, int] | None = None,
        watermark: int | None = None,
        requests: int = 0,
        backlog: int | None = None,
        error: str | None = None,
        reason: str | None = None,
    ):
        self.outcome = outcome
        self.incidents = incidents
        self.skipped = skipped if skipped is not None else {}
        self.watermark = watermark
        self.requests = requests
        self.backlog = backlog  # alarms above the watermark by totalRecords, where it can be believed
        self.error = error
        self.reason = reason  # why a stalled run stopped


def _report_run(report: FetchReport, fetcher: "AlarmFetcher", state: FetchState, moved: bool, stalled: bool) -> None:
    report.outcome = "moved" if moved else "stalled" if stalled else "idle"
    report.incidents = len(fetcher.incidents)
    report.skipped = dict(fetcher.taker.skipped)
    report.watermark = state.last_alarm_code
    report.requests = fetcher.requests
    report.reason = fetcher.stop_reason
    report.backlog = fetcher.backlog()


class FetchOutcome:
    """What a fetch run hands back: the next lastRun, the incidents, and the alarms taken that have a code (by code)."""

    def __init__(self, next_run: dict[str, Any], incidents: list[dict[str, Any]], taken: dict[int, dict[str, Any]]):
        self.next_run = next_run
        self.incidents = incidents
        self.taken = taken

    @property
    def statuses(self) -> dict[int, str | None]:
        """The status each alarm with a code was fetched with (what incoming mirroring and the sync command remember),
        read only when they remember it."""
        return {code: status_of(alarm) for code, alarm in self.taken.items()}


def fetch_alarms(
    client: Client,
    last_run: dict[str, Any],
    settings: Settings,
    now: datetime | None = None,
    report: FetchReport | None = None,
) -> FetchOutcome:
    """Fetch new alarms, each exactly once, whatever the API does.

    The rule: the watermark (lastRun ``last_alarm_code``) moves only past codes the run has proven to be the smallest
    above it. Every alarm with a code at or below it has been handled; nothing above it has been ingested. When a run
    cannot prove which codes come next, it ends without moving (the reason goes to the debug log) and the next run
    tries again: nothing is lost, nothing is ingested twice.

    What the API documents and what it leaves open is in the README (ThreatMon API behaviour): pages of ten,
    afterAlarmCode keeps the codes above it, a totalRecords count, alarm codes that grow with each new alarm (so an
    alarm created while a run pages has a code above all those listed), and an order that is not documented. So each
    run asks afterAlarmCode=C, page 0, and reads the order from that page, trusting nothing it can check instead:
      - ascending: page 0 holds the smallest codes; take them, move C, ask page 0 again;
      - descending: the last page (the tail) holds them; it is located from totalRecords and proven to be the last
        (short, or ending exactly where the count says with the page step proven), or found by probing pages;
      - cannot tell: compare page 0 with the tail; anything else: read every page (a full scan).
    The page size and whether pages overlap are learned from the answers (a page 0 shorter than its totalRecords holds
    one page; the page before a full tail shows whether pages overlap) and kept in lastRun. Every page the watermark
    moves past is checked first: in the order the run assumes when it holds two codes or more, else agreeing with the
    pages read before; an answer in another order is read again. Codes <= C sent by the server are dropped and codes
    are de-duplicated. At most max_fetch incidents a run: with a budget that ends inside a page, C is the last code
    TAKEN and the rest of the page comes next run.

    A transport failure mid-run (retries exhausted, deadline) returns what was taken with a lastRun that matches it;
    if the run made no progress at all, the error is raised so the user sees it. When three runs in a row end without
    progress while ThreatMon keeps listing alarms above the watermark, the third raises an error that says so; the
    saved position stays as it was, and the runs after it keep trying.

    ``report``, when given, is filled with what the run did (even when it raises) for the health record.
    """
    now = now or datetime.now(UTC)
    report = report if report is not None else FetchReport()
    state = FetchState.load(last_run, settings)
    start = state.position()
    fetcher = AlarmFetcher(client, state, settings, now)
    try:
        fetcher.run()
    except Exception as exc:
        # A failure after progress keeps the progress (the state matches exactly what was taken); a failure before
        # any progress is raised so the user sees it.
        report.error = scrub(str(exc) or type(exc).__name__, settings.api_key)
        if state.position() == start and not fetcher.incidents:
            _report_run(report, fetcher, state, moved=False, stalled=False)
            report.outcome = "failed"
            raise
        demisto.debug(f"ThreatMon fetch stopped early after {len(fetcher.incidents)} incident(s): {report.error}")
        fetcher.stop_reason = None
    moved = state.position() != start or bool(fetcher.incidents)
    stalled = fetcher.listed and fetcher.stop_reason is not None and not moved
    state.stalled_runs = state.stalled_runs + 1 if stalled else 0
    _report_run(report, fetcher, state, moved, stalled)
    demisto.debug(fetcher.summary())
    if state.stalled_runs >= STALLED_RUNS_LIMIT:
        report.error = f"the alarm list could not be read consistently in {state.stalled_runs} runs ({fetcher.stop_reason})"
        raise ThreatMonError(
            f"ThreatMon's alarm list could not be read consistently in {state.stalled_runs} fetch runs in a row "
            f"({fetcher.stop_reason}). No alarm was skipped or ingested twice, and every run tries again; if this "
            "persists, contact ThreatMon support",
            kind="inconsistent",
        )
    return FetchOutcome(state.to_last_run(), fetcher.incidents, fetcher.taker.taken)


def fetch_incidents(
    client: Client,
    last_run: dict[str, Any],
    settings: Settings,
    now: datetime | None = None,
    report: FetchReport | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """fetch_alarms as (next_run, incidents)."""
    outcome = fetch_alarms(client, last_run, settings, now, report)
    return outcome.next_run, outcome.incidents


""" FETCH HEALTH """

HEALTH_CONTEXT_KEY = "fetch_health"  # the integration-context key of the health record (mirroring keeps its own)
HEALTH_VERSION = 1
MAX_ERROR_CHARS = 300
HEALTH_STATES = {0: "Healthy"}  # stalled runs in a row -> state; any other count is "Stalled"


class FetchHealth(FieldsEqual):
    """The health record of the fetch, kept in the integration context under HEALTH_CONTEXT_KEY: when the last run was,
    what it did (FetchReport), how many runs in a row stalled or failed, the last error and the last progress. Counts,
    positions, times and the filter settings only: never a key, a token or an alarm's content."""

    def __init__(
        self,
        last_run_at: str | None = None,
        outcome: str | None = None,
        incidents: int = 0,
        skipped: dict[str, int] | None = None,
        watermark: int | None = None,
        requests: int = 0,
        backlog: int | None = None,
        stalled_runs: int = 0,
        stalled_since: str | None = None,
        last_error: str | None = None,
        last_error_at: str | None = None,
        last_progress_at: str | None = None,
        runs: int = 0,
        total_incidents: int = 0,
        filters: dict[str, Any] | None = None,
    ):
        self.last_run_at = last_run_at
        self.outcome = outcome
        self.incidents = incidents
        self.skipped = skipped if skipped is not None else {}
        self.watermark = watermark
        self.requests = requests
        self.backlog = backlog
        self.stalled_runs = stalled_runs
        self.stalled_since = stalled_since
        self.last_error = last_error
        self.last_error_at = last_error_at
        self.last_progress_at = last_progress_at
        self.runs = runs
        self.total_incidents = total_incidents
        self.filters = filters if filters is not None else {}

    @classmethod
    def load(cls, raw: Any) -> "FetchHealth":
        """The stored record; anything damaged or of another version reads as no record (the next run writes anew)."""
        raw = _dict_or_empty(raw)
        if raw.get("version") != HEALTH_VERSION:
            return cls()
        skipped = {str(key): count for key, value in _dict_or_empty(raw.get("skipped")).items() if (count := _int_or_none(value))}
        return cls(
            last_run_at=_text_or_none(raw.get("lastRunAt")),
            outcome=_text_or_none(raw.get("outcome")),
            incidents=max(0, _int_or_none(raw.get("incidents")) or 0),
            skipped=skipped,
            watermark=_int_or_none(raw.get("watermark")),
            requests=max(0, _int_or_none(raw.get("requests")) or 0),
            backlog=_int_or_none(raw.get("backlog")),
            stalled_runs=max(0, _int_or_none(raw.get("stalledRuns")) or 0),
            stalled_since=_text_or_none(raw.get("stalledSince")),
            last_error=_text_or_none(raw.get("lastError")),
            last_error_at=_text_or_none(raw.get("lastErrorAt")),
            last_progress_at=_text_or_none(raw.get("lastProgressAt")),
            runs=max(0, _int_or_none(raw.get("runs")) or 0),
            total_incidents=max(0, _int_or_none(raw.get("totalIncidents")) or 0),
            filters=_dict_or_empty(raw.get("filters")),
        )

    @property
    def state(self) -> str:
        if self.last_run_at is None:
            return "Never run"
        return HEALTH_STATES.get(self.stalled_runs, "Stalled")

    def after(self, report: FetchReport, now: datetime, filters: dict[str, Any]) -> "FetchHealth":
        """The record once the run ``report`` describes has ended at ``now``."""
        at = to_iso_z(now)
        stuck = report.outcome in ("stalled", "failed")
        health = FetchHealth(
            last_run_at=at,
            outcome=report.outcome,
            incidents=report.incidents,
            skipped=dict(report.skipped),
            # A failed run does not know the watermark of lastRun (it was not loaded into the report): keep the last one.
            watermark=report.watermark if report.watermark is not None else self.watermark,
            requests=report.requests,
            backlog=report.backlog,
            stalled_runs=self.stalled_runs + 1 if stuck else 0,
            stalled_since=(self.stalled_since or at) if stuck else None,
            last_error=self.last_error,
            last_error_at=self.last_error_at,
            last_progress_at=at if report.outcome == "moved" else self.last_progress_at,
            runs=self.runs + 1,
            total_incidents=self.total_incidents + report.incidents,
            filters=filters,
        )
        why = report.error or (report.reason if report.outcome == "stalled" else None)
        if why:
            health.last_error, health.last_error_at = why[:MAX_ERROR_CHARS], at
        return health

    def to_context(self) -> dict[str, Any]:
        return {
            "version": HEALTH_VERSION,
            "lastRunAt": self.last_run_at,
            "outcome": self.outcome,
            "incidents": self.incidents,
            "skipped": dict(self.skipped),
            "watermark": self.watermark,
            "requests": self.requests,
            "backlog": self.backlog,
            "stalledRuns": self.stalled_runs,
            "stalledSince": self.stalled_since,
            "lastError": self.last_error,
            "lastErrorAt": self.last_error_at,
            "lastProgressAt": self.last_progress_at,
            "runs": self.runs,
            "totalIncidents": self.total_incidents,
            "filters": dict(self.filters),
        }

    def module_health_message(self) -> str:
        """What the instance's health in Settings shows while runs stall."""
        error = f"; last error: {self.last_error.rstrip('.')}" if self.last_error else ""
        return (
            f"ThreatMon fetch: {self.stalled_runs} run(s) in a row without progress since {self.stalled_since}{error}. "
            "No alarm is lost or ingested twice; each run tries again. Run threatmon_get_fetch_health for details."
        )


def filters_of(settings: Settings) -> dict[str, Any]:
    """The filter settings a run used, as the health record shows them (sorted, as the admin typed them lower-cased)."""
    return {
        "alarmTypes": sorted(settings.alarm_types) if settings.alarm_types is not None else "all",
        "alarmStatuses": sorted(settings.alarm_statuses) if settings.alarm_statuses is not None else "all",
        "minSeverity": settings.min_severity or "all",
        "notes": list(settings.filter_notes),
    }


CONTEXT_WRITE_ATTEMPTS = 5  # how often a write of the integration context is tried while other runs write in between
CONTEXT_RETRY_PAUSE = (0.001, 0.1)  # seconds, at random, before trying again: runs that collided do not collide again


def _server_context() -> tuple[dict[str, Any], int]:
    """The integration context as the server holds it now (not as it was when this run started), and the version to
    write it back with. A version the answer lacks, or one that is not a whole number from 0 (-1 would mean "any
    version"), is 0: a context another run has written since is then refused, not overwritten."""
    stored = demisto.getIntegrationContextVersioned(True) or {}
    version = stored.get("version")
    return _dict_or_empty(stored.get("context")), version if type(version) is int and version >= 0 else 0


def read_integration_context() -> dict[str, Any]:
    """The integration context as the server holds it now."""
    return _server_context()[0]


def change_integration_context(change: Callable[[dict[str, Any]], Any]) -> Any:
    """Apply ``change`` to the integration context as the server holds it now, and write the result back with the
    version read, only if it changed; returns what ``change`` returns. The fetch, the mirroring commands and outgoing
    mirroring run in processes of their own, at the same time: the server refuses a write whose version another run
    has written past (a ValueError), and then the context is read again and ``change`` applied to what that run wrote,
    up to CONTEXT_WRITE_ATTEMPTS times, so neither run's write is lost. ``change`` depends only on the context it is
    given and changes only its top-level keys (it may run more than once)."""
    for attempt in range(1, CONTEXT_WRITE_ATTEMPTS + 1):
        original, version = _server_context()
        context = dict(original)
        result = change(context)
        if context == original:
            return result
        try:
            demisto.setIntegrationContextVersioned(context, version, True)
            return result
        except ValueError as error:
            demisto.debug(
                f"ThreatMon: another run wrote the integration context first ({error}); attempt {attempt} of "
                f"{CONTEXT_WRITE_ATTEMPTS}."
            )
            if attempt < CONTEXT_WRITE_ATTEMPTS:
                time.sleep(random.uniform(*CONTEXT_RETRY_PAUSE))  # noqa: S311 (a pause, not a secret)
    raise RuntimeError(
        f"The integration context changed under each of {CONTEXT_WRITE_ATTEMPTS} attempts to write it; nothing was "
        "written, and the next run tries again."
    )


def record_fetch_health(report: FetchReport, settings: Settings, now: datetime | None = None) -> FetchHealth:
    """Write the run into the health record (read-modify-write of the integration context, its other keys kept) and
    show a stall in the instance's health: set while runs stall, cleared (an empty message) when a run moves again."""
    at = now or datetime.now(UTC)
    made: list[tuple[FetchHealth, FetchHealth]] = []

    def write(context: dict[str, Any]) -> None:
        previous = FetchHealth.load(context.get(HEALTH_CONTEXT_KEY))
        made.append((previous, previous.after(report, at, filters_of(settings))))
        context[HEALTH_CONTEXT_KEY] = made[-1][1].to_context()

    try:
        change_integration_context(write)
    except RuntimeError as error:  # a report, not the fetch: it neither fails a fetch nor hides the fetch's own error
        demisto.debug(f"ThreatMon fetch health not recorded this run: {error}")
    previous, health = made[-1]
    if health.stalled_runs:
        demisto.updateModuleHealth(health.module_health_message())
    elif previous.stalled_runs:
        demisto.updateModuleHealth("")
    return health


""" INCOMING MIRRORING """

# ThreatMon has no "modified since" query and no way to read one alarm (README, ThreatMon API behaviour): the alarm list
# filtered by afterAlarmCode is the only view of an alarm's status, and every request counts against a rate limit
# nobody has published. So the integration remembers the last status it saw of every alarm it mirrors in, and each
# mirroring cycle reads the list over a part of those alarms, within a request budget, carrying on next cycle where it
# stopped. The cost, and how long a change can take to arrive, are in the integration README (Incoming mirroring).


def status_of(alarm: dict[str, Any]) -> str | None:
    """The alarm's status in ThreatMon's own spelling (any letter case or spacing accepted); other text as it is,
    trimmed; None when the alarm carries none (a missing field tells nothing about a change)."""
    value = alarm.get("status")
    if not isinstance(value, str) or not value.strip():
        return None
    text = " ".join(value.split())
    return canonical_word(text, ALARM_STATUSES) or text


class MirrorMemory(FieldsEqual):
    """What incoming mirroring keeps in the integration context, under "mirror_in".

    ``alarms``: code -> the last status seen, for every alarm mirrored in (bounded by MAX_MIRRORED_ALARMS; the
    oldest, i.e. smallest, codes leave first). ``pending``: changes found and not yet collected by get-remote-data
    (code -> {"status", "reported"}). ``sent``: statuses outgoing mirroring is sending for an XSOAR close (code ->
    status): what the list says about those alarms is not an incoming change. The sweep cursor: ``through`` (every
    remembered code up to it was read in this sweep), ``hint`` (where the list window of the next code is expected
    in a descending list: {"after", "page"}, and the "total" it was computed from when it came from a count),
    ``scan`` (a page-by-page read in progress: {"after", "page"}), ``scan_seen`` (the remembered codes that scan has
    listed so far), and what was learnt of the list: ``order`` and ``page_size`` (stored as ListGeometry stores them).
    ``sweeps``: the number of the sweep in progress. ``absent``: code -> the sweep that read its list window
    consistently without it (a second sweep in a row that does not find it either makes it "no longer listed").
    Enrolment of the alarms fetched before incoming mirroring (or the sync command) started: ``enrol_to`` (the fetch
    watermark then, moved up when fetches ran without keeping the memory) and ``enrolled`` (every listed alarm up to
    it is remembered); ``fetched_to``: the watermark after the last fetch that kept the memory. ``job``: the sync
    command has run on this instance, so the fetch keeps the memory even without incoming mirroring. A pending change
    also carries the status seen before it (``previous``) and, for an alarm no longer listed, ``listed``: False.
    """

    def __init__(
        self,
        alarms: dict[int, str | None] | None = None,
        pending: dict[int, dict[str, Any]] | None = None,
        sent: dict[int, str] | None = None,
        through: int | None = None,
        hint: dict[str, int] | None = None,
        scan: dict[str, int] | None = None,
        order: str | None = None,
        page_size: int | None = None,
        scan_seen: list[int] | None = None,
        sweeps: int = 0,
        absent: dict[int, int] | None = None,
        enrol_to: int | None = None,
        enrolled: int = 0,
        fetched_to: int | None = None,
        job: bool = False,
    ):
        self.alarms = alarms if alarms is not None else {}
        self.pending = pending if pending is not None else {}
        self.sent = sent if sent is not None else {}
        self.through = through
        self.hint = hint
        self.scan = scan
        self.order = order
        self.page_size = page_size
        self.scan_seen = scan_seen if scan_seen is not None else []
        self.sweeps = sweeps
        self.absent = absent if absent is not None else {}
        self.enrol_to = enrol_to
        self.enrolled = enrolled
        self.fetched_to = fetched_to
        self.job = job

    @classmethod
    def load(cls, raw: Any) -> "MirrorMemory":
        """Read leniently: an entry that is not what it should be is left out, never a failure of every cycle."""
        raw = raw if isinstance(raw, dict) and raw.get("version") == MIRROR_CONTEXT_VERSION else {}
        geometry = ListGeometry.load(raw)
        memory = cls(
            through=_int_or_none(raw.get("through")),
            hint=_int_fields(raw.get("hint"), ("after", "page"), ("total",)),
            scan=_int_fields(raw.get("scan"), ("after", "page")),
            order=geometry.order,
            page_size=geometry.size,
            scan_seen=sorted({code for code in map(_positive_int, _list_or_empty(raw.get("scan_seen"))) if code}),
            sweeps=max(0, _int_or_none(raw.get("sweeps")) or 0),
            enrol_to=_int_or_none(raw.get("enrol_to")),
            fetched_to=_int_or_none(raw.get("fetched_to")),
            enrolled=max(0, _int_or_none(raw.get("enrolled")) or 0),
            job=raw.get("job") is True,
        )
        for key, value in _dict_or_empty(raw.get("alarms")).items():
            code = _positive_int(key)
            if code is not None and (value is None or isinstance(value, str)):
                memory.alarms[code] = value
        for key, value in _dict_or_empty(raw.get("pending")).items():
            code = _positive_int(key)
            if code is not None and isinstance(value, dict) and isinstance(value.get("status"), str):
                memory.pending[code] = {"status": value["status"], "reported": _int_or_none(value.get("reported")) or 0}
                if value.get("listed") is False:
                    memory.pending[code]["listed"] = False
                if isinstance(value.get("previous"), str):
                    memory.pending[code]["previous"] = value["previous"]
        for key, value in _dict_or_empty(raw.get("sent")).items():
            code = _positive_int(key)
            if code is not None and isinstance(value, str):
                memory.sent[code] = value
        for key, value in _dict_or_empty(raw.get("absent")).items():
            code, sweep = _positive_int(key), _int_or_none(value)
            if code is not None and code in memory.alarms and sweep is not None:
                memory.absent[code] = sweep
        return memory

    def to_context(self) -> dict[str, Any]:
        stored: dict[str, Any] = {
            "version": MIRROR_CONTEXT_VERSION,
            "alarms": {str(code): status for code, status in self.alarms.items()},
        }
        if self.pending:
            stored["pending"] = {str(code): dict(entry) for code, entry in self.pending.items()}
        if self.sent:
            stored["sent"] = {str(code): status for code, status in self.sent.items()}
        if self.absent:
            stored["absent"] = {str(code): sweep for code, sweep in self.absent.items()}
        for key in ("through", "hint", "scan", "enrol_to", "fetched_to"):
            if getattr(self, key) is not None:
                stored[key] = getattr(self, key)
        for key in ("scan_seen", "sweeps", "enrolled", "job"):
            if getattr(self, key):
                stored[key] = getattr(self, key)
        stored.update(self.geometry.stored())
        return stored

    @property
    def geometry(self) -> ListGeometry:
        """What incoming mirroring learnt of the list (it proves no step: a sweep reads no neighbouring pages)."""
        return ListGeometry(self.page_size, None, self.order)

    def remember(self, alarms: dict[int, str | None]) -> list[int]:
        """Alarms join (code -> status at fetch). Past the bound the smallest codes leave; returns them."""
        self.alarms.update(alarms)
        if len(self.alarms) <= MAX_MIRRORED_ALARMS:
            return []
        dropped = sorted(self.alarms)[: len(self.alarms) - MAX_MIRRORED_ALARMS]
        for code in dropped:
            del self.alarms[code]
            self.absent.pop(code, None)
        return dropped

    def forget_listed(self, code: int) -> None:
        """The alarm leaves (closed, or no longer listed, in ThreatMon); a change waiting for it stays."""
        self.alarms.pop(code, None)
        self.absent.pop(code, None)

    def forget(self, code: int) -> None:
        self.alarms.pop(code, None)
        self.pending.pop(code, None)
        self.sent.pop(code, None)
        self.absent.pop(code, None)

    def follow_again(self, code: int, status: str | None) -> list[int]:
        """A reopened incident: its alarm (re)joins with ``status`` and is read again from the next window on."""
        self.forget(code)
        return self.remember({code: status})

    def start_enrolment(self, watermark: int | None, fetched_to: int | None = None) -> None:
        """A fetch that keeps this memory, from ``watermark`` to ``fetched_to``. The first one: the alarms at or below
        its watermark that ThreatMon still lists as open will be enrolled by the sweeps (alarms above it are fetched,
        and remembered, by the fetch). A later one that starts above where the last one ended follows fetches that ran
        without the memory (incoming mirroring switched off, then on again): their alarms are enrolled too."""
        if watermark is not None:
            if self.enrol_to is None:
                self.enrol_to = watermark
            elif self.fetched_to is not None and watermark > self.fetched_to:
                self.enrol_to = max(self.enrol_to, watermark)
        if fetched_to is not None:
            self.fetched_to = fetched_to

    @property
    def enrolling(self) -> bool:
        return self.enrol_to is not None and self.enrolled < self.enrol_to


def _int_fields(value: Any, keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, int] | None:
    """{key: int} with every key of ``keys`` (and those of ``optional`` that are present); None if one is missing."""
    if not isinstance(value, dict):
        return None
    numbers = {key: _int_or_none(value.get(key)) for key in (*keys, *optional)}
    if any(numbers[key] is None for key in keys):
        return None
    return {key: number for key, number in numbers.items() if number is not None}


def _dict_or_empty(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def read_mirror_memory() -> MirrorMemory:
    return MirrorMemory.load(read_integration_context().get(MIRROR_CONTEXT_KEY))


def update_mirror_memory(change: Callable[[MirrorMemory], Any]) -> Any:
    """Apply ``change`` to the mirroring memory as the server holds it now and write it back, only if it changed (see
    change_integration_context: a fetch or an outgoing close that wrote meanwhile is kept, and ``change`` may run again
    on what it wrote; no request happens in between). The context's other keys are kept as they are."""

    def write(context: dict[str, Any]) -> Any:
        memory = MirrorMemory.load(context.get(MIRROR_CONTEXT_KEY))
        before = memory.to_context()
        result = change(memory)
        after = memory.to_context()
        if after != before:
            context[MIRROR_CONTEXT_KEY] = after
        return result

    return change_integration_context(write)


def fetched_alarm_statuses(statuses: dict[int, str | None]) -> dict[int, str | None]:
    """Of the fetched alarms (code -> status as fetched), those that can be mirrored in: a positive code, and not
    closed in ThreatMon already (Resolved, False Positive, Ignore: there is nothing left to follow)."""
    return {code: status for code, status in statuses.items() if code > 0 and status not in CLOSING_STATUSES}


def remember_fetched_alarms(
    memory: MirrorMemory, statuses: dict[int, str | None], watermark: int | None = None, fetched_to: int | None = None
) -> None:
    """The alarms of a fetch run (code -> status as fetched) join incoming mirroring, with the status they were fetched
    with. ``watermark`` and ``fetched_to``: the fetch's watermark before and after the run (enrolment, see
    MirrorMemory.start_enrolment)."""
    memory.start_enrolment(watermark, fetched_to)
    dropped = memory.remember(fetched_alarm_statuses(statuses))
    if dropped:
        demisto.debug(
            f"ThreatMon incoming mirroring keeps at most {MAX_MIRRORED_ALARMS} alarms: the {len(dropped)} oldest "
            f"(alarm codes {dropped[0]} to {dropped[-1]}) stop being mirrored in."
        )


class MirrorSweep:
    """One get-modified-remote-data cycle: reads the alarm list over the remembered alarms, at most ``budget`` list
    requests.

    A sweep goes through the remembered codes in ascending order; ``through`` says how far it got. Each step takes the
    smallest remembered code X above ``through`` and reads the list window of afterAlarmCode=X-1 that holds the
    smallest codes above X-1 (so X itself, unless ThreatMon no longer lists it). That window covers every code from X
    to the largest code on it, so ``through`` moves there; remembered codes in gaps of the list are skipped without a
    request. Where the window is depends on the order (unknown, README, ThreatMon API behaviour; both are handled):
      - ascending: page 0. One request per step.
      - descending: the last page, (totalRecords - 1) // page size. Its number is predicted from what the previous
        step read (kept in the cursor, so it also serves the next cycle) and checked on the answer: the last page is
        the one whose page * page size + its length equals its own totalRecords. A wrong guess costs one request and
        gives the right number (unless alarms are created in between). A page that contradicts the count it was
        computed from, or an answer without totalRecords, means the count cannot locate the window: the list above
        X-1 is then read page by page (as for a list in any other order).
    The list is read through AlarmList, which judges every answer as it does for the fetch (the codes, their order,
    whether totalRecords can be believed, the page size learnt from a page 0 shorter than its count); until a size is
    learnt, the documented ten only places a guess that the answer checks.
    Every remembered alarm on any page read has its status checked, whatever the step. A cycle stops at the budget or
    at the end of the sweep (a cycle never starts a second sweep); the next cycle carries on from the cursor.

    A window read as above (judged by AlarmList's rules, as the fetch judges a page, and the ones that let the sweep
    move ``through`` past it) covers every code from X to the largest code on it: a remembered code in that range
    that no page listed is "absent" in this sweep. One answer with a hole proves nothing, so only a code absent in
    two sweeps in a row is "no longer listed" (closed or removed in ThreatMon; the README's ThreatMon API behaviour
    leaves open whether the list keeps closed alarms). A page-by-page read that spans several cycles keeps the codes
    it has seen (``scan_seen``); one that never reaches an empty page concludes nothing.
    While alarms fetched before the memory existed are being enrolled (``enrol_to``), the window above ``enrolled``
    is read as if its first code were remembered: every alarm the window lists at or below ``enrol_to`` with an open
    status joins the memory, and ``enrolled`` moves to the end of the window. Enrolment shares the cycle's budget.
    """

    def __init__(self, client: Client, memory: MirrorMemory, budget: int):
        self.budget = budget
        self.start = dict(memory.alarms)
        self.codes = sorted(code for code in memory.alarms if code not in memory.sent)
        self.known = set(self.codes)
        self.through, self.hint, self.scan = memory.through, memory.hint, memory.scan
        self.pages = AlarmList(client, memory.geometry)
        self.sweep, self.scan_seen = memory.sweeps, set(memory.scan_seen)
        self.enrol_to, self.enrolled = memory.enrol_to, memory.enrolled
        self.seen: dict[int, str] = {}
        self.present: set[int] = set()  # remembered codes listed on a page this cycle
        self.page_known: set[int] = set()  # ... on the page read last
        self.missing: set[int] = set()  # remembered codes whose window was read without them
        self.enrol: dict[int, str | None] = {}
        self.gone: list[int] = []  # set by commit: the alarms found no longer listed
        self.enrolled_now = 0  # set by commit: the alarms enrolment added
        self.swept = False
        self.stopped: str | None = None

    # ----- the cycle -----

    def run(self) -> None:
        """Read up to the budget. A failure after at least one answer ends the cycle with what was read (the next cycle
        carries on from there); a failure of the first request is raised (nothing was read)."""
        if not self.codes and not self.enrolling:
            return
        if self.through is not None and self._next_code() is None:  # the previous cycle finished a sweep
            self.through = self.hint = self.scan = None
            self.scan_seen = set()
        try:
            while self.requests < self.budget:
                code = self._next_code()
                if self.scan is not None:
                    self._scan_step()
                elif code is None:
                    break
                else:
                    self._step(code)
        except ThreatMonError as exc:
            if self.requests <= 1:
                raise
            self.stopped = str(exc)
        self.swept = self.scan is None and self._next_code() is None

    @property
    def requests(self) -> int:
        return self.pages.requests

    @property
    def order(self) -> str | None:
        return self.pages.geometry.order

    @property
    def page_size(self) -> int:
        return self.pages.geometry.size or DOCUMENTED_PAGE_SIZE

    @property
    def enrolling(self) -> bool:
        return self.enrol_to is not None and self.enrolled < self.enrol_to

    def _next_code(self) -> int | None:
        """The first code of the next window: the smallest remembered code not read yet in this sweep, or the first
        code not enrolled yet when that is smaller."""
        index = 0 if self.through is None else bisect.bisect_right(self.codes, self.through)
        code = self.codes[index] if index < len(self.codes) else None
        if self.enrolling and (code is None or self.enrolled + 1 < code):
            return self.enrolled + 1
        return code

    def _step(self, code: int) -> None:
        """Read the list window of the remembered code ``code``."""
        after = code - 1
        hinted = self.order == DESC and self.hint is not None and self.hint["after"] == after
        page = self.hint["page"] if hinted and self.hint else 0
        answer = self._read(after, page)
        data, total, order = answer.data, answer.total, answer.order
        above = [c for c in answer.codes if c > after]
        if order in (ASC, DESC):
            self.pages.geometry.order = order
        if page == 0 and (not data or self.pages.is_whole_list(answer)):
            self._covered(after, None)  # page 0 holds everything above `after`
        elif order == UNSORTED or (data and not above) or (self.order is None and order == UNKNOWN):
            # Not sorted, a filter the server ignored, or a single code that cannot tell the order: read page by page.
            self._start_scan(after, page)
        elif self.order == ASC:
            if page == 0:
                self._covered(after, max(above))
            else:
                self.hint = None  # the list turned out ascending: its window is page 0
        elif self.pages.ends_at_count(answer, self.page_size) and total is not None:
            self._covered(after, max(above), remaining=total - len(above))  # the last page of a descending list
        elif total == 0:
            self._covered(after, None)
        elif total is None:
            self._start_scan(after, page)
        elif hinted and self.hint and self.hint.get("total") == total:
            self._start_scan(after, page)  # the page computed from this very count is not the last one
        else:  # a guess that was wrong, or page 0: the count gives the last page
            self.hint = {"after": after, "page": max(0, (total - 1) // self.page_size), "total": total}

    def _scan_step(self) -> None:
        """Read the next page of afterAlarmCode=after. Every alarm above `after` passes by once (alarms created
        meanwhile land at one end: in a descending list they push alarms to later pages, read twice, none missed). The
        empty page after the last one ends the scan, and with it the sweep."""
        scan = self.scan or {}
        data = self._read(scan["after"], scan["page"]).data
        self.scan_seen |= self.page_known
        if not data:
            self._covered(scan["after"], None, listed=self.scan_seen)
        elif scan["page"] + 1 >= MIRROR_SCAN_MAX_PAGES:
            self._covered(None, None)  # the server never ended the list: nothing is concluded about absent alarms
        else:
            self.scan = {"after": scan["after"], "page": scan["page"] + 1}

    def _start_scan(self, after: int, page_read: int) -> None:
        self.hint = None
        self.scan = {"after": after, "page": 1 if page_read == 0 else 0}
        self.scan_seen = set(self.page_known) if page_read == 0 else set()

    def _covered(
        self, after: int | None, through: int | None, remaining: int | None = None, listed: set[int] | None = None
    ) -> None:
        """Every remembered code up to ``through`` (None: all of them) has been read in this sweep. With ``after``, the
        pages read hold every listed code from after + 1 to ``through``: a remembered code there that no page this
        cycle (nor ``listed``, what a scan over several cycles saw) listed is absent; enrolment covers that range."""
        if after is not None:
            seen = self.present | (listed or set())
            high = self.codes[-1] if through is None and self.codes else through
            for remembered in self.codes[bisect.bisect_right(self.codes, after) :]:
                if high is not None and remembered > high:
                    break
                if remembered not in seen:
                    self.missing.add(remembered)
            if self.enrol_to is not None and after <= self.enrolled:
                self.enrolled = self.enrol_to if through is None else max(self.enrolled, min(self.enrol_to, through))
        self.scan = self.hint = None
        self.scan_seen = set()
        last = self.codes[-1] if self.codes else self.through
        self.through = last if through is None else max(through, self.through or through)
        code = self._next_code()
        if code is not None and self.order == DESC and remaining is not None:
            # afterAlarmCode=code-1 lists at most `remaining` alarms (fewer where the list has codes no one remembers).
            self.hint = {"after": code - 1, "page": max(0, (remaining - 1) // self.page_size)}

    def _read(self, after: int, page: int) -> AlarmPage:
        """One list request; the status of every remembered alarm on the page is recorded."""
        answer = self.pages.read(page, after)
        self.page_known = set()
        for alarm in answer.data:
            code = alarm_code_of(alarm)
            if code is None:
                continue
            status = status_of(alarm) if isinstance(alarm, dict) else None
            if code in self.known:
                self.page_known.add(code)
                self.present.add(code)
                if status is not None:
                    self.seen[code] = status
            elif self.enrol_to is not None and code <= self.enrol_to and status in (None, *OPEN_ALARM_STATUSES):
                self.enrol[code] = status  # an alarm fetched before the memory existed, still open in ThreatMon
        return answer

    # ----- the result -----

    def commit(self, memory: MirrorMemory) -> list[int]:
        """Apply the cycle to ``memory`` (the context as it is NOW): a remembered alarm whose status differs from the one
        remembered becomes a pending change; a closing status also makes it leave. An alarm absent from its window in
        this sweep and the one before is no longer listed: a pending change that says so, and it leaves. An alarm that
        left meanwhile, one outgoing mirroring is closing, or one whose remembered status changed meanwhile is left
        alone. Alarms found by enrolment join. Returns the codes that changed (no longer listed ones included)."""
        changed = []
        self.gone = []
        untouched = {
            code
            for code, status in self.start.items()
            if code in memory.alarms and code not in memory.sent and memory.alarms[code] == status
        }
        for code in sorted(self.present & untouched):
            memory.absent.pop(code, None)
        for code, status in sorted(self.seen.items()):
            if code not in untouched or status == memory.alarms[code]:
                continue
            changed.append(code)
            memory.pending[code] = {"status": status, "reported": 0, "previous": memory.alarms[code] or ""}
            if status in CLOSING_STATUSES:
                memory.forget_listed(code)  # closed in ThreatMon: it leaves
            else:
                memory.alarms[code] = status
        for code in sorted((self.missing - self.present) & untouched):  # a later page of the cycle may list it
            if memory.absent.get(code) == self.sweep - 1:
                previous = memory.alarms[code]
                memory.forget_listed(code)
                memory.pending[code] = {"status": previous or "", "reported": 0, "previous": previous or "", "listed": False}
                changed.append(code)
                self.gone.append(code)
            elif memory.absent.get(code) != self.sweep:
                memory.absent[code] = self.sweep
        enrolled = {code: status for code, status in self.enrol.items() if code not in memory.alarms and code not in memory.sent}
        if enrolled:
            memory.remember(enrolled)
        self.enrolled_now = len(enrolled)
        if memory.enrol_to is not None and self.enrol_to is not None and memory.enrol_to >= self.enrol_to:
            memory.enrolled = max(memory.enrolled, self.enrolled)  # what this cycle enrolled is still enrolled
        memory.scan_seen = sorted(self.scan_seen) if self.scan else []
        if self.swept:
            memory.sweeps = self.sweep + 1
        memory.through, memory.hint, memory.scan = self.through, self.hint, self.scan
        memory.order, memory.page_size = self.pages.geometry.order, self.pages.geometry.size
        return sorted(changed)


def sweep_progress(sweep: MirrorSweep) -> str:
    """Where the sweep stands after a cycle, in words."""
    if sweep.swept:
        return "sweep complete"
    if sweep.through is None:
        return "sweep not started" if sweep.codes or sweep.enrolling else "no alarm followed yet"
    return f"sweep read up to alarm {sweep.through}"


def sweep_summary(sweep: MirrorSweep, changed: list[int]) -> str:
    """What one cycle did, for the debug log (the counts the integration README's cost section explains)."""
    return (
        f"{sweep.requests} list request(s) of {sweep.budget}, {len(sweep.seen)} remembered alarm(s) read, "
        f"{len(changed) - len(sweep.gone)} changed, {len(sweep.gone)} no longer listed, "
        f"{len(sweep.missing - sweep.present)} absent from their window, {sweep.enrolled_now} enrolled"
        + (f" (enrolment at alarm {sweep.enrolled} of {sweep.enrol_to})" if sweep.enrolling else "")
        + f", {sweep_progress(sweep)}"
        + (f"; stopped early: {sweep.stopped}" if sweep.stopped else "")
    )


def report_pending(memory: MirrorMemory) -> list[str]:
    """The alarms whose change XSOAR has not collected yet, each reported at most MIRROR_PENDING_REPORTS cycles (an
    incident XSOAR no longer asks about, such as a deleted one, must not stay pending for ever)."""
    for code in sorted(memory.pending):
        entry = memory.pending[code]
        if code in memory.sent or entry["reported"] >= MIRROR_PENDING_REPORTS:
            demisto.debug(f"ThreatMon incoming mirroring: XSOAR did not collect the change of alarm {code}; dropped.")
            del memory.pending[code]
        else:
            entry["reported"] += 1
    return [str(code) for code in sorted(memory.pending)]


""" COMMANDS """


def test_module(client: Client, settings: Settings | None = None) -> str:
    """'ok' when ThreatMon answers the alarm list with this key; otherwise the client raises one actionable sentence.
    Parameter errors were raised by parse_params before this point. A free-text alarm type that is not a known type
    passes with a note in the log (the Test button shows only success or an error)."""
    client.list_alarms(page=0)
    for note in settings.filter_notes if settings else []:
        demisto.info(f"ThreatMon test: {note}")
    return "ok"


HEALTH_HEADERS = ["Setting", "Value"]


def _or_dash(value: Any) -> str:
    return "-" if value in (None, "", [], {}) else str(value)


def _listed(value: Any) -> Any:
    return ", ".join(str(item) for item in value) if isinstance(value, list) else value


def get_fetch_health_command(args: dict[str, Any], raw: Any, instance: str = "") -> CommandResults:
    """The fetch health record of this instance (raw: its integration-context entry) as a table and as context."""
    health = FetchHealth.load(raw)
    record = health.to_context()
    record.pop("version")
    output = {"instance": instance, "state": health.state, **record}
    skipped = ", ".join(f"{count} {reason}" for reason, count in sorted(health.skipped.items()))
    filters = health.filters
    rows = [
        ("State", health.state),
        ("Last run", health.last_run_at),
        ("Last run outcome", health.outcome),
        ("Incidents created (last run)", health.incidents if health.last_run_at else None),
        ("Alarms skipped (last run)", skipped or (0 if health.last_run_at else None)),
        ("Last alarm code (watermark)", health.watermark),
        ("Requests (last run)", health.requests if health.last_run_at else None),
        ("Backlog (alarms above the watermark)", health.backlog if health.backlog is not None else "unknown"),
        ("Runs in a row without progress", health.stalled_runs),
        ("Without progress since", health.stalled_since),
        ("Last progress", health.last_progress_at),
        ("Last error", health.last_error),
        ("Last error at", health.last_error_at),
        ("Runs recorded / incidents created", f"{health.runs} / {health.total_incidents}"),
        ("Alarm types fetched", _listed(filters.get("alarmTypes"))),
        ("Alarm statuses fetched", _listed(filters.get("alarmStatuses"))),
        ("Notes", " ".join(filters.get("notes") or [])),
    ]
    title = f"ThreatMon fetch health{f' of {instance}' if instance else ''}"
    if health.last_run_at is None:
        title += ": no fetch run recorded yet (the record starts with the next fetch)"
    return CommandResults(
        outputs_prefix="ThreatMon.FetchHealth",
        outputs_key_field="instance",
        outputs=output,
        readable_output=tableToMarkdown(
            title, [{"Setting": name, "Value": _or_dash(value)} for name, value in rows], headers=HEALTH_HEADERS
        ),
        raw_response=output,
    )


def list_alarms_command(client: Client, args: dict[str, Any]) -> CommandResults:
    """Read as many pages as ``limit`` needs (from ``page``), optionally only alarms at or above min_severity."""
    after = parse_int(args.get("after_alarm_code"), "after_alarm_code", minimum=0)
    page = parse_int(args.get("page"), "page", minimum=0, default=0) or 0
    limit = parse_int(args.get("limit"), "limit", minimum=1, maximum=MAX_LIST_LIMIT, default=DEFAULT_LIST_LIMIT)
    limit = limit or DEFAULT_LIST_LIMIT
    min_severity = parse_choice(args.get("min_severity"), "min_severity", SEVERITY_WORDS)
    alarms: list[dict[str, Any]] = []
    total = None
    seen: set[Any] = set()
    pages = AlarmList(client)
    previous: AlarmPage | None = None
    for number in range(page, page + MAX_LIST_PAGES):
        answer = pages.read(number, after)
        total = answer.reported_total if answer.reported_total is not None else total
        fresh = [alarm for alarm in answer.data if isinstance(alarm, dict) and _identity(alarm) not in seen]  # pages may overlap
        seen.update(_identity(alarm) for alarm in fresh)
        for alarm in fresh:
            if not is_below_severity(alarm.get("severity"), min_severity) and len(alarms) < limit:
                alarms.append(alarm)
        if previous is not None and pages.geometry.step is None:
            pages.prove_step(previous, answer)
        previous = answer
        if len(alarms) >= limit or not fresh or pages.is_short(answer) or pages.is_whole_list(answer, count_only=True):
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


# The refusals of a status change that may concern some of its alarm codes rather than the request as a whole.
STATUS_CODE_REFUSALS = ("not_found", "rejected")


def update_incident_status_command(
    client: Client, args: dict[str, Any], incident: dict[str, Any] | None = None
) -> CommandResults | list[CommandResults]:
    """Set the ThreatMon status of one or more alarms with one PATCH. Without alarmId, inside a ThreatMon incident,
    the incident's own alarm code is used. Everything is validated before any request.

    ThreatMon documents a success (HTTP 200, its body undocumented) but not what it answers when some of several
    codes are unknown, nor whether it then changed the others. So when it refuses a PATCH of several codes (400 or
    404), each code is sent on its own: setting a status is idempotent, and the answers say which alarms now have
    the status and which ThreatMon refused. A 200 for several codes reports them all changed: the answer cannot say
    more, per the documentation. When some were changed and some not, the command returns the changed ones and an
    error entry naming the others."""
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
    changed: list[int] = codes
    refused: dict[int, str] = {}
    try:
        raw = client.update_alarm_status(codes, status)
    except ThreatMonError as exc:
        if len(codes) == 1 or exc.kind not in STATUS_CODE_REFUSALS:
            raise
        raw = None
        changed, refused = status_one_by_one(client, codes, status)
    outputs = [{"alarmCode": code, "status": status} for code in changed]
    readable = "\n".join(f"Alarm {code}: status set to {status} in ThreatMon." for code in changed)
    if not refused:
        return CommandResults(
            outputs_prefix="ThreatMon.Alarm",
            outputs_key_field="alarmCode",
            outputs=outputs,
            readable_output=readable,
            raw_response=raw,
        )
    done = f"alarm(s) {', '.join(map(str, changed))} now have it" if changed else "no alarm was changed"
    failure = f"ThreatMon did not set the status {status} of alarm(s) {', '.join(map(str, refused))} ({done}):\n" + "\n".join(
        f"Alarm {code}: {reason}" for code, reason in refused.items()
    )
    if not changed:
        raise DemistoException(failure)
    return [
        CommandResults(
            outputs_prefix="ThreatMon.Alarm", outputs_key_field="alarmCode", outputs=outputs, readable_output=readable
        ),
        CommandResults(readable_output=failure, raw_response=failure, entry_type=EntryType.ERROR),  # shown as an error
    ]


def status_one_by_one(client: Client, codes: list[int], status: str) -> tuple[list[int], dict[int, str]]:
    """(the codes ThreatMon set to ``status``, {code: why not} for the others), one PATCH per code. A failure that is
    not about the code (a refused key, a rate limit, ThreatMon down) stops there: the codes after it are not sent."""
    changed: list[int] = []
    refused: dict[int, str] = {}
    for number, code in enumerate(codes):
        try:
            client.update_alarm_status([code], status)
        except ThreatMonError as exc:
            refused[code] = str(exc)
            if exc.kind in STATUS_CODE_REFUSALS:
                continue
            for rest in codes[number + 1 :]:
                refused[rest] = f"not sent, after the failure of alarm {code}."
            break
        changed.append(code)
    return changed, refused


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


def finding_request_results(
    response: requests.Response, finding_id: int, errors: dict[int, str], prefix: str, what: str
) -> CommandResults:
    """The answer to a request about one finding (takedown, data removal): a refusal ThreatMon explains by its
    status code is one sentence from ``errors``; anything else that got here was accepted."""
    if response.status_code in errors:
        raise DemistoException(errors[response.status_code].format(fid=finding_id))
    output = {"findingId": finding_id, "status": "Submitted"}
    body = _body_of(response)
    return CommandResults(
        outputs_prefix=prefix,
        outputs_key_field="findingId",
        outputs=output,
        readable_output=f"{what} request for finding {finding_id} submitted to ThreatMon.",
        raw_response=body if body is not None else output,
    )


def request_takedown_command(client: Client, args: dict[str, Any], incident: dict[str, Any] | None = None) -> CommandResults:
    """Ask ThreatMon to take down a finding (arguments and their defaults: finding_arguments)."""
    finding_id, finding = finding_arguments(args, incident, "taken down")
    response = client.request_takedown(finding_id, finding)
    return finding_request_results(response, finding_id, TAKEDOWN_ERRORS, "ThreatMon.Takedown", "Takedown")


def request_data_removal_command(client: Client, args: dict[str, Any], incident: dict[str, Any] | None = None) -> CommandResults:
    """Ask ThreatMon to remove the data of a Black Market Monitoring finding (arguments: finding_arguments).

    ThreatMon has not published the endpoint: it is the Data removal API path parameter, and while that is empty
    nothing is sent. Each refusal is one sentence (DATA_REMOVAL_ERRORS); any other failure reads as every command's.
    """
    if not client.data_removal_path:
        raise DemistoException(
            f"{DATA_REMOVAL_PARAM} is empty, so no data removal request was sent: ThreatMon has not "
            "published the API path of data removal requests; ask ThreatMon support for it and enter it in this "
            "instance's settings."
        )
    finding_id, finding = finding_arguments(args, incident, "removed")
    response = client.request_data_removal(finding_id, finding)
    return finding_request_results(response, finding_id, DATA_REMOVAL_ERRORS, "ThreatMon.DataRemoval", "Data removal")


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


def sync_alarm_statuses_command(client: Client, args: dict[str, Any], settings: Settings) -> CommandResults:
    """The mirroring sweep on demand (a job playbook runs it where incoming mirroring does not run, such as Cortex XSIAM):
    one cycle of the same sweep, on the same memory and cursor, within ``max_requests`` list requests (default: the
    instance's Maximum list requests per mirroring cycle). Returns every change waiting (found now, or by a mirroring
    cycle XSOAR did not collect), each delivered once, by this command or by get-remote-data, never both. From its first
    run on, the fetch keeps the memory even without incoming mirroring."""
    budget = parse_int(args.get("max_requests"), "max_requests", minimum=1, maximum=MAX_MIRROR_REQUESTS)
    sweep = MirrorSweep(client, read_mirror_memory(), budget or settings.mirror_max_requests)
    sweep.run()

    def apply(memory: MirrorMemory) -> tuple[list[int], dict[int, dict[str, Any]], int]:
        changed = sweep.commit(memory)
        memory.job = True
        delivered = {code: memory.pending.pop(code) for code in sorted(memory.pending) if code not in memory.sent}
        return changed, delivered, len(memory.alarms)

    changed, delivered, remembered = update_mirror_memory(apply)
    summary = sweep_summary(sweep, changed)
    demisto.debug(f"ThreatMon {SYNC_COMMAND}: {summary}")
    outputs = []
    for code, change in delivered.items():
        listed = change.get("listed") is not False
        reason = change_close_reason(change)
        why = f"the alarm's status is {change['status']}." if listed else not_listed_note(code)
        outputs.append(
            {
                "alarmCode": code,
                "oldStatus": change.get("previous") or None,
                "newStatus": change["status"] if listed else None,
                "listed": listed,
                "closeReason": reason,
                "closeNotes": f"{CLOSED_BY_THREATMON}: {why}" if reason else None,
            }
        )
    rows = [
        {
            "Alarm Code": entry["alarmCode"],
            "Old Status": entry["oldStatus"],
            "New Status": entry["newStatus"] if entry["listed"] else "(no longer listed)",
            "Close Reason": entry["closeReason"],
        }
        for entry in outputs
    ]
    readable = (
        tableToMarkdown(
            f"ThreatMon alarm status changes ({len(rows)}; {remembered} alarm(s) followed)",
            rows,
            headers=["Alarm Code", "Old Status", "New Status", "Close Reason"],
            removeNull=False,
        )
        + f"\n{summary}."
    )
    return CommandResults(
        outputs_prefix="ThreatMon.AlarmStatusChange",
        outputs_key_field="alarmCode",
        outputs=outputs,
        readable_output=readable,
        raw_response={"changes": outputs, "requests": sweep.requests, "sweep_complete": sweep.swept},
    )


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


def update_remote_system_command(client: Client, args: dict[str, Any], mirror_in: bool = False) -> str:
    """Outgoing mirroring: when the XSOAR incident was closed in THIS update, set the alarm's ThreatMon status.

    "Closed in this update" = the incident status is Done (2) and the delta carries the close (closeReason,
    closingUserId or the close time changed). Every later edit of a closed incident (its close notes included) has a
    delta without them, so each close is sent exactly once; a reopen and a new close send again. Other edits send
    nothing. The remote id is always returned. A failed PATCH raises, so XSOAR reports the mirroring error (and
    retries the update).
    A close that incoming mirroring brought in (its close notes begin "Closed by ThreatMon") is not sent back: the
    alarm already has that status. With incoming mirroring, the status being sent is recorded in the memory before
    the PATCH (so a cycle reading the list meanwhile does not take it for an incoming change) and the alarm leaves the
    memory once ThreatMon has it.
    A reopen (the incident is no longer Done and the delta clears its close) sets the alarm to In Progress
    (REOPEN_STATUS), once per reopen, whoever closed it; with incoming mirroring the alarm then rejoins the memory
    with that status and the next windows read it again.
    """
    parsed = UpdateRemoteSystemArgs(args)
    remote_id = parsed.remote_incident_id
    delta = parsed.delta if isinstance(parsed.delta, dict) else {}
    changed = True if parsed.incident_changed in (None, "") else _flag(parsed.incident_changed)
    done = str(parsed.inc_status) == str(IncidentStatus.DONE)
    close_changed = any(key in delta for key in CLOSE_FIELDS)
    if not (changed and close_changed):
        demisto.debug(f"ThreatMon update-remote-system: nothing to send for alarm {remote_id}.")
        return remote_id
    code = _positive_int(remote_id)
    if code is None:
        raise ValueError(f"The remote id '{remote_id}' of this incident is not a ThreatMon alarm code.")
    alarm: int = code
    if not done:  # reopened
        if mirror_in:
            update_mirror_memory(lambda memory: memory.sent.__setitem__(alarm, REOPEN_STATUS))
        client.update_alarm_status([alarm], REOPEN_STATUS)
        if mirror_in:
            update_mirror_memory(lambda memory: memory.follow_again(alarm, REOPEN_STATUS))
        demisto.debug(f"ThreatMon update-remote-system: incident reopened, alarm {code} set to {REOPEN_STATUS}.")
        return remote_id
    data = parsed.data if isinstance(parsed.data, dict) else {}
    reason = delta.get("closeReason") if "closeReason" in delta else data.get("closeReason")
    notes = delta.get("closeNotes") if "closeNotes" in delta else data.get("closeNotes")
    if str(notes or "").startswith(CLOSED_BY_THREATMON):
        demisto.debug(f"ThreatMon update-remote-system: alarm {code} was closed by ThreatMon itself; nothing to send.")
        return remote_id
    status = close_reason_to_status(reason)
    if mirror_in:
        update_mirror_memory(lambda memory: memory.sent.__setitem__(alarm, status))
    client.update_alarm_status([alarm], status)
    if mirror_in:
        update_mirror_memory(lambda memory: memory.forget(alarm))
    demisto.debug(f"ThreatMon update-remote-system: alarm {code} set to {status} (close reason {reason!r}).")
    return remote_id


def get_modified_remote_data_command(client: Client, args: dict[str, Any], settings: Settings) -> GetModifiedRemoteDataResponse:
    """Incoming mirroring, step 1 (XSOAR runs it every mirroring interval): read the alarm list over the next part of the
    remembered alarms, at most mirror_max_requests list requests (see MirrorSweep), and report the alarms whose status
    changed. The memory is written once, at the end, from what was read completely. lastUpdate cannot narrow anything
    (ThreatMon has no "modified since" query). Without incoming mirroring nothing is read and nothing is reported."""
    parsed = GetModifiedRemoteDataArgs({"lastUpdate": None, **args})
    if not settings.mirror_in:
        return GetModifiedRemoteDataResponse([])
    sweep = MirrorSweep(client, read_mirror_memory(), settings.mirror_max_requests)
    sweep.run()
    changed, modified = update_mirror_memory(lambda memory: (sweep.commit(memory), report_pending(memory)))
    demisto.debug(f"ThreatMon incoming mirroring (last update {parsed.last_update}): {sweep_summary(sweep, changed)}")
    return GetModifiedRemoteDataResponse(modified)


def get_remote_data_command(args: dict[str, Any], settings: Settings) -> GetRemoteDataResponse:
    """Incoming mirroring, step 2 (XSOAR runs it for each alarm step 1 reported): the change step 1 stored, with no
    request. The mirrored object carries the status (the incoming mapper sets ThreatMon Status from it); with
    close_incident and a status that closes the alarm, a close entry closes the incident too. An alarm with no change
    waiting gets an empty answer (nothing to update)."""
    parsed = GetRemoteDataArgs({"id": None, "lastUpdate": None, **args})
    code = _positive_int(parsed.remote_incident_id)
    if code is None:
        given = parsed.remote_incident_id
        raise ValueError(
            f"The id argument must be the ThreatMon alarm code of the incident (a positive whole number); "
            f"got {'nothing' if given in (None, '') else repr(str(given))}."
        )
    alarm: int = code
    change = update_mirror_memory(lambda memory: memory.pending.pop(alarm, None)) if settings.mirror_in else None
    if change is None:
        return GetRemoteDataResponse({}, [])
    status = change["status"]
    listed = change.get("listed") is not False
    entries: list[dict[str, Any]] = []
    if not listed:
        entries.append({"Type": EntryType.NOTE, "ContentsFormat": EntryFormat.TEXT, "Contents": not_listed_note(code)})
    reason = change_close_reason(change)
    if settings.close_incident and reason:
        why = f"the alarm's status is {status}." if listed else not_listed_note(code)
        entries.append(
            {
                "Type": EntryType.NOTE,
                "ContentsFormat": EntryFormat.JSON,
                "Contents": {"dbotIncidentClose": True, "closeReason": reason, "closeNotes": f"{CLOSED_BY_THREATMON}: {why}"},
            }
        )
    demisto.debug(
        f"ThreatMon incoming mirroring: alarm {code} "
        + (f"is now {status}" if listed else "is no longer listed")
        + (", closing its incident." if settings.close_incident and reason else ".")
    )
    mirrored: dict[str, Any] = {"alarmCode": code, "status": status} if status else {"alarmCode": code}
    if not listed:
        mirrored["listed"] = False
    return GetRemoteDataResponse(mirrored, entries)


def not_listed_note(code: int) -> str:
    return f"ThreatMon no longer lists alarm {code}; it was closed or removed there."


def change_close_reason(change: dict[str, Any]) -> str | None:
    """The close reason of an incident whose alarm had ``change`` (None: the incident stays open)."""
    if change.get("listed") is False:
        return NOT_LISTED_CLOSE_REASON
    return CLOSING_STATUSES.get(change["status"])


""" MAIN """


def main() -> None:
    params = demisto.params()
    command = demisto.command()
    args = demisto.args()
    api_key = api_key_of(params)
    register_secret(api_key)  # masked by the platform's logs (and its debug-mode wire log) from here on
    demisto.debug(f"ThreatMon: command {command}")
    fetching = command in ("test-module", "fetch-incidents")
    mirroring = command in ("get-modified-remote-data", "get-remote-data", "update-remote-system", SYNC_COMMAND)
    # A get-modified-remote-data cycle's budget counts every request sent, so it does not retry: the next cycle is
    # its retry. A run of the sync command is such a cycle too (budget and deadline).
    is_get_modified_remote_data = command in ("get-modified-remote-data", SYNC_COMMAND)
    try:
        settings = parse_params(
            params,
            fetch=fetching,
            data_removal=command in ("test-module", DATA_REMOVAL_COMMAND),
            mirroring=fetching or mirroring,
            api_key=api_key,
        )
        settings.mirror_instance = demisto.integrationInstance() if settings.mirror_direction else ""
        deadline = FETCH_DEADLINE if fetching else MIRROR_DEADLINE if is_get_modified_remote_data else COMMAND_DEADLINE
        client = Client(
            settings.base_url,
            settings.api_key,
            verify=settings.verify,
            proxy=settings.proxy,
            max_attempts=1 if is_get_modified_remote_data else None,
            deadline_seconds=deadline,
            log=lambda message: demisto.debug(scrub(message, api_key)),
            data_removal_path=settings.data_removal_path,
        )
        commands: dict[str, Callable[[], Any]] = {
            "test-module": lambda: test_module(client, settings),
            "threatmon_update_incident_status": lambda: update_incident_status_command(client, args, demisto.incident()),
            "threatmon_list_alarms": lambda: list_alarms_command(client, args),
            "threatmon_request_takedown": lambda: request_takedown_command(client, args, demisto.incident()),
            DATA_REMOVAL_COMMAND: lambda: request_data_removal_command(client, args, demisto.incident()),
            "threatmon_list_cves": lambda: list_cves_command(client, args),
            "threatmon_list_subscribed_cves": lambda: list_subscribed_cves_command(client, args),
            "threatmon_get_fetch_health": lambda: get_fetch_health_command(
                args, read_integration_context().get(HEALTH_CONTEXT_KEY), demisto.integrationInstance()
            ),
            "get-mapping-fields": get_mapping_fields_command,
            "update-remote-system": lambda: update_remote_system_command(client, args, settings.mirror_in),
            "get-modified-remote-data": lambda: get_modified_remote_data_command(client, args, settings),
            "get-remote-data": lambda: get_remote_data_command(args, settings),
            SYNC_COMMAND: lambda: sync_alarm_statuses_command(client, args, settings),
        }
        if command == "fetch-incidents":
            last_run = demisto.getLastRun()
            report = FetchReport()
            try:
                outcome = fetch_alarms(client, last_run, settings, report=report)
            finally:
                record_fetch_health(report, settings)
            # The fetched alarms join incoming mirroring (or the sync command's memory); the first such fetch also
            # starts enrolling the alarms fetched before (at or below the watermark it started from: 0 on a first fetch).
            if settings.mirror_in or read_mirror_memory().job:
                before = _int_or_none(last_run.get("last_alarm_code")) if isinstance(last_run, dict) and last_run else 0
                after = _int_or_none(outcome.next_run.get("last_alarm_code"))
                update_mirror_memory(lambda memory: remember_fetched_alarms(memory, outcome.statuses, before, after))
            demisto.setLastRun(outcome.next_run)
            demisto.incidents(outcome.incidents)
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
