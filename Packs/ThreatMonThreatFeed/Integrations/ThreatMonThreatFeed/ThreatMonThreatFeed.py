"""ThreatMon Threat Feed: ThreatMon's daily IOC list (IPs, IPv6, domains, URLs, file hashes) as XSOAR indicators.

Layout (HelloWorld template order): imports, constants, Client, helpers (settings, value checks, timestamps,
watermark, indicator building), command functions, main(), entry point. The HTTP transport (retries, error
sentences and their kinds, scrubbing of the token) and the number and time parsers are ThreatMonApiModule's,
shared with the ThreatMon integration.

What is known of the API (the integration README, ThreatMon API behaviour) and what this file assumes where it stops:
- GET {url}/api/daily-ioc-details/ with query api_token, data_type (all|ip|domain|url), size, optional
  collection_id (comma-separated). Answer {"iocs": [record, ...]}. Not known but not excluded either, so
  handled: a bare list of records is accepted, and an error object ({"detail"|"error"|"message": ...}) sent
  with HTTP 200 is reported as ThreatMon's refusal.
- There is no paging: one call returns at most `size` records. If the answer is full, more records may exist
  than were returned; the debug line says so.
- Record kinds are named loosely by `ioc_type`; IPv4/IPv6 and the hash kinds are told apart from the value.
- The order of records and which of `timestamp` / `created_at` / `updated_at` moves when a value is
  re-published are unknown: a record's time is the newest of the three that parse.

Upgrades: ThreatMon Threat Feed 1.0.x (same integration id) kept lastRun {"last_timestamp": T}, T being the
`created_at` text of the newest record it sent (README, ThreatMon API behaviour). The first fetch after the
upgrade skips every record created before T (see Watermark), then the state continues in this file's format.
"""

import hashlib
import ipaddress
import itertools
import re
import traceback
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import demistomock as demisto
from CommonServerPython import *

# The transport shared with the ThreatMon integration: demisto-sdk puts the module's code in place of this line when
# it unifies the file.
from ThreatMonApiModule import *  # noqa: E402

""" CONSTANTS """

INTEGRATION_NAME = "ThreatMon Threat Feed"
SOURCE_TAG = "ThreatMon"  # on every indicator, as ThreatMon Threat Feed 1.0.x tagged them (saved queries use it)
DEFAULT_URL = "https://ioc.threatmonit.io"
IOC_PATH = "/api/daily-ioc-details/"
# Not DATA_TYPES: CommonServerPython defines that name (a list), and the star import would meet this tuple.
FEED_DATA_TYPES = ("all", "ip", "domain", "url")
# The instance parameters the code reads, as the instance form shows them (the yml's display, displaypassword for the
# credential). Every parameter error names one as "label (name)" (param_title); a test keeps this table equal to the
# yml's texts.
PARAM_LABELS = {
    "url": "Server URL",
    "credentials": "API Token",
    "insecure": "Trust any certificate (not secure)",
    "proxy": "Use system proxy settings",
    "data_type": "Data Type to Fetch",
    "limit": "Maximum number of indicators per fetch",
    "collection_ids": "Collection IDs",
    "feedReputation": "Indicator Reputation",
    "tlp_color": "Traffic Light Protocol Color",
    "feedFetchInterval": "Feed Fetch Interval",
    "feedIncremental": "Incremental feed",
}
# The form offers the TLP 1.0 colours; TLP 2.0's CLEAR and AMBER+STRICT are accepted too when set through the API.
TLP_COLORS = ("RED", "AMBER", "AMBER+STRICT", "GREEN", "WHITE", "CLEAR")
DEFAULT_LIMIT = 500
MAX_LIMIT = 100_000
DEFAULT_SAMPLE_LIMIT = 10
MAX_SAMPLE_LIMIT = 1000
CREATE_BATCH_SIZE = 2000  # indicators per demisto.createIndicators call

# An answer's bound follows the size asked for: a record is well under 2 KiB (twenty short fields and lists), so 8 KiB a
# record plus 1 MiB is room enough for any honest answer, and a wrong host or an endless answer is cut off there.
ANSWER_BYTES_PER_RECORD = 8 * 1024
ANSWER_BYTES_SPARE = 1024 * 1024

# A run ends its retries well inside the server's time for a feed run; the Test button answers within about half a
# minute, whatever ThreatMon does.
DEADLINE = 300.0
TEST_DEADLINE = 30.0

# Incremental state: digests of the records sent at exactly the newest timestamp, so a record published later
# with that same timestamp is still sent. Above this many, the digests are dropped and records at that
# timestamp are sent again next run (a duplicate the server merges is better than a lost indicator).
MAX_TIE_DIGESTS = 20_000
# A record time later than this (the clock skew allowed) is not usable: one bad date far in the future would
# otherwise become the watermark and hold back every later record for good. Fixed once per run.
MAX_FUTURE_SKEW = timedelta(days=1)
LATEST_USABLE_TIME = datetime.now(UTC) + MAX_FUTURE_SKEW

REPUTATION_SCORES = {"none": 0, "good": 1, "suspicious": 2, "bad": 3}
REPUTATION_NOT_SET = ("", "feedinstancereputationnotset")
# Used only when the instance's Indicator Reputation is empty (the indicator's verdict then follows ThreatMon).
SEVERITY_SCORES = {"critical": 3, "high": 3, "medium": 2, "low": 2, "info": 0, "information": 0, "informational": 0}

HASH_KINDS = {32: ("md5", "MD5"), 40: ("sha1", "SHA-1"), 64: ("sha256", "SHA-256"), 128: ("sha512", "SHA-512")}
HEX_RE = re.compile(r"[0-9a-f]+")
# ASCII digits only: \d alone also matches other scripts' digits (e.g. fullwidth), which int() accepts.
IPV4_RE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}", re.ASCII)
IPV4_PORT_RE = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})", re.ASCII)
DOMAIN_RE = re.compile(r"(?=.{1,253}$)(?:(?!-)[a-z0-9_-]{1,63}(?<!-)\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})")
URL_SCHEME_RE = re.compile(r"[a-z][a-z0-9+.-]*")
# Defanged spellings of indicator values and their plain form (schemes of indicators, not URLs this integration calls).
REFANG = (("[.]", "."), ("(.)", "."), ("{.}", "."), ("[:]", ":"), ("hxxps://", "https://"), ("hxxp://", "http://"))  # pylint: disable=W9013

# ThreatMon's ioc_type, matched loosely: separators and case are ignored; exact names first, then substrings.
IP_KINDS = {"ip", "ips", "ipv4", "ipv6", "ipaddr", "ipaddress", "ipv4address", "ipv6address", "ipport", "ipv4port"}
DOMAIN_KINDS = {"domain", "domains", "domainname", "hostname", "host", "fqdn", "subdomain"}
URL_KINDS = {"url", "urls", "uri", "link"}
FILE_KINDS = {"file", "files", "hash", "hashes", "filehash", "md5", "sha1", "sha256", "sha512"}

""" CLIENT """


class Client(ThreatMonClient):
    """Speaks HTTP to ThreatMon's IOC API and nothing else: its one endpoint. The retry loop, the error sentences
    and their kinds are ThreatMonClient's (ThreatMonApiModule); the words below make them this API's.

    The token travels as the query parameter `api_token` (README, ThreatMon API behaviour), so any text built
    from a URL may carry it: the transport never uses a requests exception's text, and scrubs every message.
    """

    CREDENTIAL_PARAM = "api_token"
    HINTS = ApiHints(
        credential="API token",
        credential_check="that the API Token field holds the IOC API token (not the incident API key), that it has not "
        "expired, and that ThreatMon has allow-listed the public IP address of this XSOAR server or engine",
        server_url=f"the ThreatMon IOC API host, {DEFAULT_URL} unless ThreatMon gave you another",
        rejected_check=f"the {param_title('data_type', PARAM_LABELS)}, {param_title('collection_ids', PARAM_LABELS)} and "
        f"{param_title('limit', PARAM_LABELS)} settings",
        slow_down=f"raise the {param_title('feedFetchInterval', PARAM_LABELS)}",
        slow_answer=f"lower the {param_title('limit', PARAM_LABELS)}",
        too_large=f"check the {param_title('url', PARAM_LABELS)} (use {DEFAULT_URL} unless ThreatMon gave you another); if it "
        "is right, tell ThreatMon support (nothing was created and the feed's position did not move)",
    )
    # 2 s, 4 s, 8 s between four attempts; a Retry-After up to a minute is honoured; an answer of up to 100,000
    # records may take two minutes to read.
    POLICY = RetryPolicy(backoff_base=2.0, backoff_cap=30.0, retry_after_cap=60.0, connect_timeout=10.0, read_timeout=120.0)

    def get_daily_iocs(self, data_type: str = "all", size: int = DEFAULT_LIMIT, collection_ids: str = "") -> list:
        """The records of the daily IOC details list (may hold non-dict items: the caller skips them)."""
        params: dict[str, Any] = {"data_type": data_type, "size": size}
        if collection_ids:
            params["collection_id"] = collection_ids
        bound = size * ANSWER_BYTES_PER_RECORD + ANSWER_BYTES_SPARE
        return self._records_of(self._request("GET", IOC_PATH, params=params, expect=any_json, max_bytes=bound))

    def _records_of(self, body: Any) -> list:
        """The records of an answer. Not documented but not excluded, so handled: a bare list of records, and an
        error object ({"detail"|"error"|"message": ...}) sent with HTTP 200, reported as ThreatMon's refusal."""
        if isinstance(body, list):
            return body
        if isinstance(body, dict):
            if "iocs" in body:
                records = body["iocs"]
                if records is None:
                    return []
                if isinstance(records, list):
                    return records
            for key in ("detail", "error", "message", "errors"):
                if body.get(key):
                    said = self.scrub(str(body[key])[:300])
                    raise ThreatMonError(f"ThreatMon answered without an IOC list: {said}", kind="rejected")
        raise ThreatMonError(
            f"ThreatMon's answer has no IOC list ('iocs'): check the Server URL (use {self.HINTS.server_url}).",
            kind="bad_body",
        )


""" HELPER FUNCTIONS """


@dataclass(frozen=True)
class FeedSettings:
    """The instance settings fetch and the sample command need, validated once in main()."""

    base_url: str = DEFAULT_URL
    data_type: str = "all"
    limit: int = DEFAULT_LIMIT
    collection_ids: str = ""
    feed_tags: tuple[str, ...] = ()
    tlp_color: str | None = None
    reputation_score: int | None = None
    incremental: bool = True


def parse_data_type(value: Any, what: str = "parameter") -> str:
    """The Data Type to Fetch parameter, or (``what="argument"``) the sample command's data_type argument."""
    data_type = str(value or "all").strip().lower()
    if data_type not in FEED_DATA_TYPES:
        label = PARAM_LABELS["data_type"] if what == "parameter" else None
        raise ValueError(f"{subject_of('data_type', what, label)} must be one of {', '.join(FEED_DATA_TYPES)}; got '{value}'.")
    return data_type


def normalize_base_url(value: Any) -> str:
    """The IOC API root: default when empty, no trailing slash, the endpoint path removed if pasted with it."""
    url = str(value or "").strip() or DEFAULT_URL
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{param_title('url', PARAM_LABELS)} must be an http(s) URL such as {DEFAULT_URL}; got '{url}'.")
    # Only https, but for a loopback host (a local simulator): over http the token would cross the network readable.
    require_https(url, param_title("url", PARAM_LABELS), DEFAULT_URL)
    path = parts.path.rstrip("/")
    if path.endswith(IOC_PATH.rstrip("/")):
        path = path[: -len(IOC_PATH.rstrip("/"))]
    return f"{parts.scheme}://{parts.netloc}{path}"


def reputation_score(value: Any) -> int | None:
    """DBot score of the Indicator Reputation setting; None when not set (the record's severity decides)."""
    text = str(value or "").strip().lower()
    if text in REPUTATION_NOT_SET:
        return None
    if text not in REPUTATION_SCORES:
        raise ValueError(f"{param_title('feedReputation', PARAM_LABELS)} must be None, Good, Suspicious or Bad; got '{value}'.")
    return REPUTATION_SCORES[text]


def parse_tlp_color(value: Any) -> str | None:
    """The Traffic Light Protocol Color parameter in capitals; None when empty (the indicators get no TLP)."""
    text = str(value or "").strip()
    if not text:
        return None
    if text.upper() not in TLP_COLORS:
        raise ValueError(f"{param_title('tlp_color', PARAM_LABELS)} must be one of {', '.join(TLP_COLORS)}; got '{value}'.")
    return text.upper()


def parse_settings(params: dict) -> FeedSettings:
    """The instance parameters fetch and the sample command read. Each error names the parameter as the instance
    form shows it, "label (name)" (PARAM_LABELS), and what it accepts."""
    return FeedSettings(
        base_url=normalize_base_url(params.get("url")),
        data_type=parse_data_type(params.get("data_type")),
        limit=parse_int(params.get("limit"), "limit", minimum=1, maximum=MAX_LIMIT, label=PARAM_LABELS["limit"]) or DEFAULT_LIMIT,
        collection_ids=",".join(str(item).strip() for item in argToList(params.get("collection_ids")) if str(item).strip()),
        feed_tags=tuple(Tags(str(tag).strip() for tag in argToList(params.get("feedTags")) if str(tag).strip()).names()),
        tlp_color=parse_tlp_color(params.get("tlp_color")),
        reputation_score=reputation_score(params.get("feedReputation")),
        incremental=parse_flag(params.get("feedIncremental", True), "feedIncremental", label=PARAM_LABELS["feedIncremental"]),
    )


def chunks(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of at most `size` items (linear, works on any iterable)."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


# --- timestamps -------------------------------------------------------------------------------------------


def usable_time(value: Any) -> datetime | None:
    """A record or state time (see ``parse_time`` for the formats), as an aware UTC datetime; None when it is no
    time or lies more than a day in the future."""
    moment = parse_time(value)
    return moment if moment is not None and moment <= LATEST_USABLE_TIME else None


def format_time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def record_times(record: dict) -> tuple[datetime | None, datetime | None, datetime | None]:
    """(record time, first seen, last seen). The record time is the newest of timestamp/created_at/updated_at:
    whichever of them ThreatMon moves when a value is published again, the record counts as newer."""
    stamp, created, updated = record.get("timestamp"), record.get("created_at"), record.get("updated_at")
    first = usable_time(stamp)
    second = first if created == stamp else usable_time(created)
    third = first if updated == stamp else second if updated == created else usable_time(updated)
    stamps = [moment for moment in (first, second, third) if moment is not None]
    if not stamps:
        return None, None, None
    newest = max(stamps)
    return newest, min(stamps), newest


def creation_time(record: dict) -> datetime | None:
    """When the record was created, as ThreatMon Threat Feed 1.0.x read it: `created_at`, else `timestamp`,
    else `updated_at` (the first that parses here; 1.0.x took the first that was not empty)."""
    for key in ("created_at", "timestamp", "updated_at"):
        moment = usable_time(record.get(key))
        if moment is not None:
            return moment
    return None


def record_digest(record: dict) -> str:
    """A short stable id of a record (its kind and values) for the incremental tie set."""
    text = f"{record.get('ioc_type')}|{record.get('ioc_value')}|{record.get('extracted_ip')}"
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).hexdigest()


class Watermark:
    """Incremental state kept in lastRun.

    last_timestamp: the newest record time handled (sent, skipped on purpose as malformed/unknown, or skipped
    as already sent).
    seen_at_last_timestamp: digests of the records handled at exactly that time, or None when there were too
    many to keep (then records at that time are sent again next run: a duplicate, never a loss). This file
    always writes the key, so a lastRun without it was written by ThreatMon Threat Feed 1.0.x.
    Records without a usable timestamp cannot be placed on the line: they are sent on every run, and the
    server merges them with the indicator it already has (same value), refreshing it.

    Upgraded from 1.0.x ({"last_timestamp": T}, `upgraded` is True): 1.0.x sent a record when its creation
    text (`created_at`, else `timestamp`, else `updated_at`) was later than T, so this run skips every record
    created before T, whatever its other times say; records created at exactly T are sent again (1.0.x kept no
    list of them). The run's state is then written in this file's format, its time covering the skipped
    records too, so the next run does not send them either. A T that does not parse (damaged, or more than a
    day in the future) is no position: the run is a first run, and the server merges what it already has.
    """

    def __init__(self, last_run: dict, incremental: bool = True):
        self.incremental = incremental
        last_run = last_run if isinstance(last_run, dict) else {}
        self.previous = usable_time(last_run.get("last_timestamp"))
        seen = last_run.get("seen_at_last_timestamp")
        self.upgraded = self.previous is not None and "seen_at_last_timestamp" not in last_run
        # Without a list (overflow, or state written by the 1.x feed) records at that time are sent again.
        self.previous_seen: set[str] | None = set(seen) if isinstance(seen, list) else None
        self.newest = self.previous
        self._carried: set[str] = set(self.previous_seen or ())  # digests still valid while newest == previous
        self._at_newest: list[dict] = []  # records handled at `newest`; digested once, in to_last_run()
        self._placed = False  # whether a record with a usable time was handled this run

    def is_new(self, moment: datetime | None, record: dict) -> bool:
        """Whether to send a record. Not incremental (feedIncremental off): every record, every run."""
        if not self.incremental or self.previous is None:
            return True
        if self.upgraded:
            created = creation_time(record)
            return created is None or created >= self.previous
        if moment is None or moment > self.previous:
            return True
        if moment < self.previous:
            return False
        return self.previous_seen is None or record_digest(record) not in self.previous_seen

    def handled(self, moment: datetime | None, record: dict) -> None:
        """Place a record on the line, sent or not; its time may move the watermark forward, never back."""
        if moment is None:
            return
        self._placed = True
        if self.newest is None or moment > self.newest:
            self.newest, self._carried, self._at_newest = moment, set(), [record]
        elif moment == self.newest:
            self._at_newest.append(record)

    def to_last_run(self) -> dict:
        if self.newest is None:
            return {}
        if self.upgraded and not self._placed:  # nothing placed yet: the next run still reads 1.0.x's position
            return {"last_timestamp": format_time(self.newest)}
        seen = self._carried | {record_digest(record) for record in self._at_newest}
        # too many records at the newest time to remember: None (the next run sends that second again, XSOAR merges)
        remembered = sorted(seen) if len(seen) <= MAX_TIE_DIGESTS else None
        return {"last_timestamp": format_time(self.newest), "seen_at_last_timestamp": remembered}


# --- value checks -----------------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def kind_of(ioc_type: str) -> str | None:
    """'ip' | 'domain' | 'url' | 'file' for a known ThreatMon ioc_type, '' when absent, None when unknown."""
    name = re.sub(r"[^a-z0-9]", "", ioc_type.lower())
    if not name:
        return ""
    for kind, names in (("ip", IP_KINDS), ("domain", DOMAIN_KINDS), ("url", URL_KINDS), ("file", FILE_KINDS)):
        if name in names:
            return kind
    if "mail" in name:
        return None
    if "domain" in name or "hostname" in name:
        return "domain"
    if "url" in name:
        return "url"
    if "hash" in name or "file" in name or "md5" in name or name.startswith("sha"):
        return "file"
    if name.startswith("ip"):
        return "ip"
    return None


def refang(value: str) -> str:
    for defanged, plain in REFANG:
        if defanged in value:
            value = value.replace(defanged, plain)
    return value


def strip_port(value: str) -> str | None:
    """The address part of '[v6]:port' or 'v4:port'; other text unchanged; None for a broken bracket or port.
    An unbracketed IPv6 address is left whole: its last group cannot be told from a port."""
    if value.startswith("["):
        address, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit() and int(rest[1:]) <= 65535)):
            return None
        return address
    match = IPV4_PORT_RE.fullmatch(value)
    if match:
        return match.group(1) if int(match.group(2)) <= 65535 else None
    return value


def check_ip(value: str) -> tuple[str, str] | None:
    """(indicator type, canonical value) for an IPv4/IPv6 address or network, port removed; None if invalid."""
    address = strip_port(refang(value))
    if not address:
        return None
    if IPV4_RE.fullmatch(address):  # the common case, without building an ipaddress object
        octets = address.split(".")
        if all(int(octet) <= 255 and (octet == "0" or not octet.startswith("0")) for octet in octets):
            return FeedIndicatorType.IP, address
        return None
    try:
        if "/" in address:
            network = ipaddress.ip_network(address, strict=True)
            return (FeedIndicatorType.CIDR if network.version == 4 else FeedIndicatorType.IPv6CIDR), str(network)
        parsed = ipaddress.ip_address(address.partition("%")[0] if ":" in address else address)  # no zone id
    except ValueError:
        return None
    if parsed.version == 6 and parsed.ipv4_mapped:  # ::ffff:a.b.c.d is the IPv4 address a.b.c.d
        return FeedIndicatorType.IP, str(parsed.ipv4_mapped)
    return (FeedIndicatorType.IP if parsed.version == 4 else FeedIndicatorType.IPv6), str(parsed)


def _valid_host(host: str) -> bool:
    host = host[:-1] if host.endswith(".") else host  # a fully qualified name
    if DOMAIN_RE.fullmatch(host):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return _valid_idn(host)
    return True


def _valid_idn(host: str) -> bool:
    """A non-ASCII name in its normal form, without invisible or control characters (which IDNA would drop)."""
    if host.isascii() or unicodedata.normalize("NFKC", host) != host:
        return False
    if any(unicodedata.category(ch)[0] in "CZ" for ch in host):
        return False
    try:
        return bool(DOMAIN_RE.fullmatch(host.encode("idna").decode("ascii")))
    except UnicodeError:
        return False


def check_domain(value: str) -> tuple[str, str] | None:
    domain = refang(value).lower().rstrip(".")
    if domain.startswith("*."):
        valid = DOMAIN_RE.fullmatch(domain[2:]) or _valid_idn(domain[2:])
        return (FeedIndicatorType.DomainGlob, domain) if valid else None
    if DOMAIN_RE.fullmatch(domain) or _valid_idn(domain):
        return FeedIndicatorType.Domain, domain
    return None


def check_url(value: str) -> tuple[str, str] | None:
    """A URL with a valid host (domain, IPv4 or [IPv6]) and port; a missing scheme is accepted as http."""
    url = refang(value)
    if any(ch.isspace() or not ch.isprintable() for ch in url) or len(url) > 8192:
        return None
    scheme, sep, _ = url.partition("://")
    if sep and not URL_SCHEME_RE.fullmatch(scheme.lower()):
        return None
    try:
        parts = urlsplit(url if sep else f"http://{url}")  # pylint: disable=W9013  # parses an IOC, calls nothing
        host, _port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or not _valid_host(host):
        return None
    if not sep and parts.username is not None:  # user@host (or mailto:user@host) is an e-mail address
        return None
    return FeedIndicatorType.URL, url


def check_hash(value: str) -> tuple[str, str] | None:
    digest = value.lower()
    if len(digest) not in HASH_KINDS or not HEX_RE.fullmatch(digest):
        return None
    return FeedIndicatorType.File, digest


CHECKS: dict[str, Callable[[str], tuple[str, str] | None]] = {
    "ip": check_ip,
    "domain": check_domain,
    "url": check_url,
    "file": check_hash,
}


def infer_value(value: str) -> tuple[str, str] | None:
    """For a record without ioc_type: the first kind the value fits (IP, hash, URL with scheme, domain)."""
    if "://" in value:
        return check_url(value)
    return check_ip(value) or check_hash(value) or check_domain(value)


def _text(value: Any) -> str:
    if isinstance(value, list | tuple | set):
        return ", ".join(str(item) for item in value if item not in (None, ""))
    if isinstance(value, dict):
        return ", ".join(f"{key}: {item}" for key, item in value.items() if item not in (None, ""))
    return "" if value is None else str(value)


def _labels(value: Any) -> list[str]:
    if not value:
        return []
    items = value if isinstance(value, list | tuple | set) else [value]
    labels = []
    for item in items:
        text = (item if isinstance(item, str) else "" if item is None else str(item)).strip()
        if text:
            labels.append(text)
    return labels


class Tags:
    """An indicator's tags in the order first seen, one per name in any letter case ("Phishing" and "phishing" are
    one tag: XSOAR would otherwise show both). The first spelling stays, except that the instance's own tags
    (ThreatMon and Tags) keep the spelling the instance gives them, which saved searches use."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._names: dict[str, str] = {}
        self.add(names)

    def add(self, names: Iterable[str], spelling: bool = False) -> None:
        for name in names:
            key = name.casefold()
            if spelling or key not in self._names:
                self._names[key] = name

    def names(self) -> list[str]:
        return list(self._names.values())


# --- indicator building -----------------------------------------------------------------------------------


class RunStats:
    """Counts of one run, reported in ONE debug line."""

    def __init__(self) -> None:
        self.received = 0
        self.older = 0
        self.untimed = 0
        self.duplicates = 0
        self.built: Counter = Counter()
        self.malformed: Counter = Counter()
        self.unknown: Counter = Counter()

    def summary(self, limit: int, incremental: bool) -> str:
        def counts(counter: Counter) -> str:
            return ", ".join(f"{name} {count}" for name, count in sorted(counter.items())) or "none"

        parts = [
            f"{INTEGRATION_NAME}: {self.received} records received",
            f"{sum(self.built.values())} indicators built ({counts(self.built)})",
            f"{sum(self.malformed.values())} malformed values skipped ({counts(self.malformed)})",
            f"{sum(self.unknown.values())} unknown kinds skipped ({counts(self.unknown)})",
            f"{self.duplicates} duplicates merged",
        ]
        if incremental:
            parts.append(f"{self.older} not newer than the last run")
        parts.append(f"{self.untimed} without a usable timestamp (sent anyway)")
        if self.received >= limit and limit >= MAX_LIMIT:  # the API offers no paging: nothing reads past the answer
            parts.append(f"the answer was full (limit {limit}, the maximum): more records may exist that no fetch can read")
        elif self.received >= limit:
            parts.append(f"the answer was full (limit {limit}): more records may exist, raise the limit to get them")
        return "; ".join(parts)


class IndicatorBuilder:
    """Turns ThreatMon records into XSOAR indicator objects, in two steps so that indicator objects exist only
    a batch at a time: add() types and checks each record and groups the repeats of a value (a small index
    entry per record); indicators() then builds the objects lazily, one value at a time, merging repeats."""

    def __init__(self, settings: FeedSettings, stats: RunStats):
        self.settings = settings
        self.stats = stats
        # (type, value) -> (record, times), or a list of them when the value repeats within the answer
        self.groups: dict[tuple[str, str], Any] = {}

    def typed_value(self, record: dict) -> tuple[str, str] | None:
        """(type, value) of a record, or None after counting it as malformed or of an unknown kind."""
        raw_type = record.get("ioc_type")
        kind = kind_of(raw_type.strip()) if isinstance(raw_type, str) else ("" if raw_type is None else None)
        value = record.get("ioc_value")
        value = value.strip() if isinstance(value, str) else ""
        if kind is None:
            self.stats.unknown[str(raw_type).strip().lower()[:40] or "?"] += 1
            return None
        if kind == "ip":
            extracted = record.get("extracted_ip")
            candidates = [c.strip() for c in (extracted, value) if isinstance(c, str) and c.strip()]
            result = next((typed for typed in map(check_ip, candidates) if typed), None)
        elif not value:
            result = None
        elif kind:
            result = CHECKS[kind](value)
        elif "@" in value and "/" not in value:
            self.stats.unknown["email (untyped)"] += 1
            return None
        else:
            result = infer_value(value)
        if result is None:
            self.stats.malformed[kind or "untyped"] += 1
        return result

    def score(self, record: dict) -> int:
        if self.settings.reputation_score is not None:
            return self.settings.reputation_score
        return SEVERITY_SCORES.get(str(record.get("severity") or "").strip().lower(), 0)

    def add(self, record: dict, times: tuple[datetime | None, datetime | None, datetime | None]) -> bool:
        typed = self.typed_value(record)
        if typed is None:
            return False
        entry = (record, times)
        known = self.groups.get(typed)
        if known is None:
            self.groups[typed] = entry
            self.stats.built[typed[0]] += 1
        else:
            self.stats.duplicates += 1
            if isinstance(known, list):
                known.append(entry)
            else:
                self.groups[typed] = [known, entry]
        return True

    def indicators(self) -> Iterator[dict]:
        for (indicator_type, value), entry in self.groups.items():
            yield self.build(indicator_type, value, entry if isinstance(entry, list) else [entry])

    def build(self, indicator_type: str, value: str, entries: list[tuple[dict, tuple]]) -> dict:
        """One indicator from every record of a value: the newest record gives the data and rawJSON, tags are
        united, first/last seen widened, and the highest score kept."""
        record, (moment, first_seen, last_seen) = entries[0]
        score = self.score(record)
        tags = Tags()
        for other, _ in entries:
            tags.add(_labels(other.get("tags")) + _labels(other.get("categories")) + _labels(other.get("source")))
        for other, (other_moment, other_first, other_last) in entries[1:]:
            score = max(score, self.score(other))
            if other_moment is not None and (moment is None or other_moment > moment):
                record, moment = other, other_moment
            if other_first is not None and (first_seen is None or other_first < first_seen):
                first_seen = other_first
            if other_last is not None and (last_seen is None or other_last > last_seen):
                last_seen = other_last
        tags.add((SOURCE_TAG, *self.settings.feed_tags), spelling=True)
        fields: dict[str, Any] = {"tags": tags.names(), "description": describe(record, value)}
        if self.settings.tlp_color:
            fields["trafficlightprotocol"] = self.settings.tlp_color
        for field, key in (("confidence", "confidence_level"), ("severity", "severity")):
            if record.get(key) not in (None, ""):
                fields[field] = record[key]
        if first_seen and last_seen:
            fields["firstseenbysource"] = first_text = format_time(first_seen)
            fields["lastseenbysource"] = first_text if last_seen == first_seen else format_time(last_seen)
        if indicator_type == FeedIndicatorType.File:
            field, label = HASH_KINDS[len(value)]
            fields[field] = value
            fields["hashtype"] = label
        return {"value": value, "type": indicator_type, "rawJSON": record, "score": score, "fields": fields}


DESCRIBED = (  # sources and categories are in the tags already
    ("severity", "severity"),
    ("confidence", "confidence_level"),
    ("ThreatMon score", "score"),
    ("status", "status"),
    ("ISP", "isp"),
    ("location", "geo_location"),
    ("resolved IPs", "resolved_ips"),
)


def describe(record: dict, value: str) -> str:
    """A one-line summary of what ThreatMon says about the record."""
    ioc_type = record.get("ioc_type")
    parts = [f"ThreatMon IOC ({ioc_type if isinstance(ioc_type, str) and ioc_type else _text(ioc_type) or 'untyped'})"]
    original = record.get("ioc_value")
    if isinstance(original, str) and original != value and original.strip().lower() != value.lower():
        parts.append(f"listed as {original.strip()}")
    for label, key in DESCRIBED:
        item = record.get(key)
        if item is None or item == "" or item == []:
            continue
        text = item if isinstance(item, str) else _text(item)
        if text:
            parts.append(f"{label}: {text}")
    return "; ".join(parts)


def build_indicators(
    records: Iterable, settings: FeedSettings, stats: RunStats, watermark: Watermark | None = None
) -> Iterator[dict]:
    """The indicators of the records the watermark calls new (all when None).

    One linear pass over the records checks and groups them (the stats and the watermark are final when
    this returns); the indicator objects are then made lazily as the caller iterates, so only a batch of them
    exists at a time. Every record with a usable time (built, malformed, of an unknown kind, or skipped as not
    new) moves the watermark."""
    builder = IndicatorBuilder(settings, stats)
    for record in records:
        stats.received += 1
        if not isinstance(record, dict):
            stats.malformed["record"] += 1
            continue
        times = record_times(record)
        moment = times[0]
        if moment is None:
            stats.untimed += 1
        if watermark is not None:
            new = watermark.is_new(moment, record)
            watermark.handled(moment, record)  # a record skipped as old still counts as seen (see Watermark)
            if not new:
                stats.older += 1
                continue
        builder.add(record, times)
    return builder.indicators()


""" COMMAND FUNCTIONS """


def test_module(client: Client, settings: FeedSettings) -> str:
    """'ok' when ThreatMon accepts the token and answers with an IOC list; otherwise a ThreatMonError."""
    client.get_daily_iocs(data_type=settings.data_type, size=1, collection_ids=settings.collection_ids)
    return "ok"


def fetch_indicators(client: Client, last_run: dict, settings: FeedSettings) -> tuple[dict, Iterator[dict]]:
    """(next lastRun, the indicators to create, made lazily). Pure but for one demisto.debug summary line.
    main() saves the lastRun only after every batch was created, so a failed run is repeated, not lost."""
    records = client.get_daily_iocs(data_type=settings.data_type, size=settings.limit, collection_ids=settings.collection_ids)
    watermark = Watermark(last_run, incremental=settings.incremental)
    stats = RunStats()
    indicators = build_indicators(records, settings, stats, watermark)
    summary = stats.summary(settings.limit, settings.incremental)
    if watermark.upgraded and watermark.incremental and watermark.previous is not None:  # upgraded implies a previous
        since = format_time(watermark.previous)
        summary += f"; continuing from the position of ThreatMon Threat Feed 1.0.x (records created before {since} skipped)"
    demisto.debug(summary)
    return watermark.to_last_run(), indicators


def get_indicators_command(client: Client, args: dict, settings: FeedSettings) -> CommandResults:
    """A sample of the feed in the war room; creates nothing and ignores the incremental state."""
    limit = parse_int(args.get("limit"), "limit", "argument", 1, MAX_SAMPLE_LIMIT, DEFAULT_SAMPLE_LIMIT) or DEFAULT_SAMPLE_LIMIT
    data_type = parse_data_type(args.get("data_type") or settings.data_type, "argument")
    records = client.get_daily_iocs(data_type=data_type, size=limit, collection_ids=settings.collection_ids)
    stats = RunStats()
    indicators = list(itertools.islice(build_indicators(records, settings, stats), limit))
    rows = [
        {
            "Value": item["value"],
            "Type": item["type"],
            "HashType": item["fields"].get("hashtype"),
            "Score": item["score"],
            "Tags": item["fields"]["tags"],
            "Confidence": item["fields"].get("confidence"),
            "Severity": item["fields"].get("severity"),
            "FirstSeenBySource": item["fields"].get("firstseenbysource"),
            "LastSeenBySource": item["fields"].get("lastseenbysource"),
            "Description": item["fields"]["description"],
        }
        for item in indicators
    ]
    outputs = [{key: value for key, value in row.items() if value is not None} for row in rows]
    skipped = sum(stats.malformed.values()) + sum(stats.unknown.values())
    title = f"{INTEGRATION_NAME}: {len(outputs)} indicators from {stats.received} records ({skipped} skipped, nothing created)"
    readable = tableToMarkdown(
        title,
        [{**row, "Tags": ", ".join(row["Tags"])} for row in rows],
        headers=["Value", "Type", "HashType", "Score", "Severity", "Confidence", "Tags", "FirstSeenBySource", "LastSeenBySource"],
        removeNull=True,
    )
    return CommandResults(
        outputs_prefix="ThreatMon.Indicator",
        outputs_key_field="Value",
        outputs=outputs,
        readable_output=readable,
        raw_response=records,
    )


""" MAIN FUNCTION """


def main() -> None:
    params = demisto.params()
    command = demisto.command()
    token = str((params.get("credentials") or {}).get("password") or "").strip()
    register_secret(token)  # masked by the platform's logs (and its debug-mode wire log) from here on
    failure = ""
    try:
        if not token:
            raise ValueError(f"{param_title('credentials', PARAM_LABELS)} is empty: paste the IOC API token issued by ThreatMon.")
        settings = parse_settings(params)
        client = Client(
            settings.base_url,
            token,
            verify=not parse_flag(params.get("insecure"), "insecure", label=PARAM_LABELS["insecure"]),
            proxy=parse_flag(params.get("proxy"), "proxy", label=PARAM_LABELS["proxy"]),
            deadline_seconds=TEST_DEADLINE if command == "test-module" else DEADLINE,
            log=demisto.debug,
        )
        commands: dict[str, Callable[[], Any]] = {
            "test-module": lambda: test_module(client, settings),
            "threatmon-get-indicators": lambda: get_indicators_command(client, demisto.args(), settings),
        }
        if command == "fetch-indicators":
            next_run, indicators = fetch_indicators(client, demisto.getLastRun() or {}, settings)
            for chunk in chunks(indicators, CREATE_BATCH_SIZE):
                demisto.createIndicators(chunk)
            demisto.setLastRun(next_run)
        elif command in commands:
            return_results(commands[command]())
        else:
            raise NotImplementedError(f"Command {command} is not implemented by {INTEGRATION_NAME}.")
    except (ThreatMonError, ValueError) as exc:  # ThreatMon's failure, or a setting or argument refused: one sentence
        failure = scrub(str(exc), token)
    except Exception as exc:
        demisto.debug(scrub(traceback.format_exc(), token))
        failure = scrub(f"{type(exc).__name__}: {exc}", token)
    if failure:
        # Outside the except block on purpose: return_error then adds no traceback (which could hold a URL).
        # Worded as the ThreatMon integration words its failures: "Failed to execute <command>: <one sentence>."
        failure = failure.strip() if failure.strip().endswith((".", "!", "?")) else failure.strip() + "."
        return_error(f"Failed to execute {command}: {failure}")


""" ENTRY POINT """


if __name__ in ("__main__", "__builtin__", "builtins"):
    main()
