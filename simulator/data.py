"""Deterministic, seeded data that looks like ThreatMon's: alarms, CVE records and daily IOC records.

Everything here is invented for the simulator. Names live in reserved namespaces (``*.example``,
``*.test``, ``example.com``/``.net``/``.org``, the documentation and benchmarking IP ranges
192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 198.18.0.0/15 and 2001:db8::/32), vendors and
products are fictional, and CVE identifiers sit in a high number range: nothing points at a real
victim, product or vulnerability.

The same seed always gives the same data. The presentation quirks that the knobs switch on
(numeric-string codes, missing fields, odd severities, odd dates) are drawn from a second random
stream, so switching a knob on never changes the underlying alarms.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

SEVERITIES = ("Information", "Low", "Medium", "High", "Critical")
STATUSES = ("Open", "In Progress", "False Positive", "Ignore", "Resolved")
TAKEDOWN_ELIGIBLE = ("Phishing Domain Detected", "Rogue Mobile App Detected", "Fake Social Media Account Detected")
# The simulator's reading of "a Black Market Monitoring finding" (ThreatMon publishes no list).
DATA_REMOVAL_ELIGIBLE = ("Black Market Mention", "Leaked Credentials", "Data Leak Detected")

# Severity words that are not one of the five, or are one of them spelt differently. An integration
# must map the spelling variants and give the unknown ones severity 0 without dropping the alarm.
ODD_SEVERITIES = ("high ", "CRITICAL", " medium", "informational", "Severe", "Unknown", "P1", "", None)

# alarm type -> (weight, severity weights in SEVERITIES order)
ALARM_TYPES: dict[str, tuple[int, tuple[int, ...]]] = {
    "Phishing Domain Detected": (20, (0, 1, 3, 5, 3)),
    "Leaked Credentials": (17, (0, 1, 3, 4, 2)),
    "Rogue Mobile App Detected": (8, (0, 1, 2, 4, 2)),
    "Fake Social Media Account Detected": (10, (1, 3, 4, 2, 0)),
    "Exposed Port": (10, (1, 2, 4, 3, 1)),
    "Vulnerable Software Version": (12, (0, 2, 4, 4, 2)),
    "Black Market Mention": (6, (0, 1, 2, 4, 3)),
    "Brand Impersonation": (8, (1, 3, 4, 2, 0)),
    "Data Leak Detected": (5, (0, 1, 2, 3, 3)),
    "SSL Certificate Expiring": (4, (4, 4, 2, 0, 0)),
}
STATUS_WEIGHTS = (76, 9, 5, 3, 7)  # in STATUSES order: most new alarms are still open

BRAND = "Example Bank"
BRAND_KEYWORDS = ("examplebank", "exbank", "example-bank", "xmplbank")
COMPANY_DOMAINS = ("examplebank.example", "examplebank.test", "online.examplebank.example")
PHISHING_WORDS = ("secure", "login", "verify", "account", "update", "support", "auth", "portal", "online", "mobile")
RESERVED_PARENTS = ("example", "test", "example.com", "example.net", "example.org")
APP_STORES = ("a third-party APK mirror", "an alternative Android store", "Google Play", "a sideloading site")
SOCIAL_PLATFORMS = ("Instagram", "X", "Facebook", "LinkedIn", "Telegram", "TikTok")
PORT_SERVICES = ((3389, "RDP"), (22, "SSH"), (445, "SMB"), (9200, "Elasticsearch"), (6379, "Redis"), (23, "Telnet"))
FORUMS = ("a dark-web forum", "a Telegram channel", "an underground marketplace", "a paste site", "a hacking forum")
STEALERS = ("RedLine", "Lumma", "Vidar", "Raccoon", "StealC")

CVE_VENDORS: dict[str, tuple[str, ...]] = {
    "Examplesoft": ("Example Gateway", "Example VPN", "Example Mail Server"),
    "Acme Networks": ("AcmeOS", "Acme Firewall"),
    "Initech": ("TPS Server", "Initech Portal"),
    "Globex": ("Globex CMS", "Globex Edge Router"),
    "Umbrella Systems": ("Hive Manager",),
    "Hooli": ("HooliChat", "Hooli Cloud Agent"),
    "Vandelay Industries": ("Import Tracker",),
    "Soylent Software": ("Soylent ERP", "Soylent HR"),
}
# customer -> vendors it subscribes to; the first one is the company itself, the others its children.
CVE_SUBSCRIPTIONS: dict[str, tuple[str, ...]] = {
    "Example Bank": ("Examplesoft", "Acme Networks", "Globex"),
    "Example Insurance": ("Initech", "Hooli"),
    "Example Retail": ("Vandelay Industries", "Examplesoft", "Soylent Software"),
}
WEAKNESSES = (
    "path traversal flaw",
    "SQL injection",
    "heap-based buffer overflow",
    "missing authentication check",
    "server-side request forgery",
    "deserialization of untrusted data",
    "stored cross-site scripting flaw",
    "improper certificate validation",
)
IMPACTS = (
    "execute arbitrary code",
    "read arbitrary files",
    "bypass authentication",
    "escalate privileges",
    "cause a denial of service",
    "take over user sessions",
)
ATTACKERS = ("a remote unauthenticated attacker", "an authenticated user", "a local attacker", "an attacker on the network")

IOC_SOURCES = ("ThreatMon Honeypot Network", "ThreatMon Phishing Intel", "ThreatMon Malware Lab", "Community Sandbox")
IOC_TAGS = ("botnet", "c2", "phishing", "scanner", "malware", "ransomware", "stealer", "bruteforce", "spam")
IOC_CATEGORIES = ("Malware", "Phishing", "Command and Control", "Scanning", "Fraud", "Spam")
IOC_SEVERITIES = ("low", "medium", "high", "critical")
IOC_COUNTRIES = ("TR", "DE", "US", "NL", "RU", "CN", "BR", "FR", "GB", "IN")
IOC_ISPS = ("Example Hosting Ltd", "Documentation Networks", "Benchmark Transit", "Test Cloud")
IOC_COLLECTIONS = ("101", "102", "103")

# ioc kind -> (weight, the ioc_type spellings the API is seen to use for it)
IOC_KINDS: dict[str, tuple[int, tuple[str, ...]]] = {
    "ipv4": (26, ("ip", "IP", "ipv4", "IPv4")),
    "ipv4_port": (8, ("ip", "ip:port", "IP")),
    "ipv6": (4, ("ip", "ipv6", "IPv6")),
    "ipv6_port": (1, ("ip", "ipv6")),
    "domain": (20, ("domain", "Domain", "hostname")),
    "url": (15, ("url", "URL")),
    "md5": (6, ("file", "hash", "md5", "MD5")),
    "sha1": (4, ("file", "hash", "sha1", "SHA-1")),
    "sha256": (7, ("file", "hash", "sha256", "FileHash-SHA256")),
    "email": (3, ("email", "Email")),
    "unknown": (3, ("mutex", "bitcoin_address", "ja3", "asn")),
    "malformed": (3, ()),
}
IOC_DATA_TYPES = {
    "ip": {"ipv4", "ipv4_port", "ipv6", "ipv6_port"},
    "domain": {"domain"},
    "url": {"url"},
}

DEFAULT_START = datetime(2025, 5, 1, 6, 0, tzinfo=UTC)
_TR = timezone(timedelta(hours=3))  # ThreatMon's home time zone, for dates written with an offset
DEFAULT_IOC_DAY = datetime(2025, 6, 2, tzinfo=UTC)


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a Z, the way the simulator writes every date."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Other ways a date may be written; an integration must read the first three as the same instant
# and fall back (without failing) on the last one.
ODD_DATE_FORMS = (
    lambda d: d.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds"),  # no zone: UTC
    lambda d: d.astimezone(_TR).isoformat(timespec="milliseconds"),  # +03:00
    lambda d: d.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
    lambda d: "not a date",
)


def _weighted(rng: random.Random, items, weights):
    return rng.choices(items, weights=weights, k=1)[0]


# ------------------------------------------------------------------------------------------------
# Alarms
# ------------------------------------------------------------------------------------------------


@dataclass
class Alarm:
    """One alarm as the simulator holds it (canonical: integer code, every field present)."""

    code: int
    title: str
    description: str
    severity: str
    status: str
    date: datetime
    alarm_type: str
    finding_id: int
    # presentation quirks, decided once at creation
    string_code: bool = False
    codeless: bool = False
    alt_spellings: bool = False
    missing: tuple[str, ...] = ()
    odd_severity: int | None = None  # an index into ODD_SEVERITIES
    odd_date: int | None = None  # an index into ODD_DATE_FORMS

    def canonical(self) -> dict:
        return {
            "alarmCode": self.code,
            "title": self.title,
            "description": self.description,
            "severity": self.severity,
            "status": self.status,
            "alarmDate": iso(self.date),
            "alarmType": self.alarm_type,
            "findingId": self.finding_id,
        }

    def wire(self) -> dict:
        """The alarm as the API serves it, with its presentation quirks applied."""
        record = self.canonical()
        if self.string_code:
            record["alarmCode"] = str(self.code)
        if self.odd_severity is not None:
            record["severity"] = ODD_SEVERITIES[self.odd_severity]
        if self.odd_date is not None:
            record["alarmDate"] = ODD_DATE_FORMS[self.odd_date](self.date)
        if self.alt_spellings:
            record["type"] = record.pop("alarmType")
            record["finding_id"] = record.pop("findingId")
        for name in self.missing:
            record.pop(name, None)
        if self.codeless:
            record.pop("alarmCode", None)
        return record


@dataclass
class AlarmQuirks:
    """Shares (0..1) of alarms that get each presentation quirk."""

    string_codes: float = 0.0
    missing_fields: float = 0.0
    odd_severities: float = 0.0
    odd_dates: float = 0.0
    alt_spellings: float = 0.0
    codeless: float = 0.0


_MISSABLE = ("title", "description", "severity", "status", "alarmDate", "alarmType", "findingId")


class AlarmFactory:
    """Creates alarms one after the other: codes and dates grow with creation."""

    def __init__(
        self,
        seed: int = 1337,
        start: datetime | None = None,
        minutes_between: tuple[int, int] = (7, 240),
        quirks: AlarmQuirks | None = None,
    ):
        self.rng = random.Random(seed)  # noqa: S311 - seeded on purpose: the same data every run
        self.quirk_rng = random.Random(seed * 7919 + 1)  # noqa: S311
        self.quirks = quirks or AlarmQuirks()
        self.minutes_between = minutes_between
        self.next_code = 48213 + self.rng.randint(0, 40)
        self.next_date = start or DEFAULT_START
        self.next_finding = 700000 + self.rng.randint(0, 999)
        self.cve_ids: list[str] = []

    def make(self, date: datetime | None = None) -> Alarm:
        rng = self.rng
        code = self.next_code
        self.next_code += rng.randint(1, 3)  # codes grow, with gaps: never assume consecutive codes
        when = date or self.next_date
        self.next_date = when + timedelta(minutes=rng.randint(*self.minutes_between))
        finding = self.next_finding
        self.next_finding += rng.randint(1, 6)
        names = list(ALARM_TYPES)
        alarm_type = _weighted(rng, names, [ALARM_TYPES[n][0] for n in names])
        severity = _weighted(rng, SEVERITIES, ALARM_TYPES[alarm_type][1])
        status = _weighted(rng, STATUSES, STATUS_WEIGHTS)
        title, description = self._texts(alarm_type, when)
        alarm = Alarm(code, title, description, severity, status, when, alarm_type, finding)
        self._quirk(alarm)
        return alarm

    def _quirk(self, alarm: Alarm) -> None:
        q, rng = self.quirks, self.quirk_rng
        draws = [rng.random() for _ in range(6)]  # always six draws: the stream stays aligned
        alarm.string_code = draws[0] < q.string_codes
        if draws[1] < q.missing_fields:
            alarm.missing = tuple(rng.sample(_MISSABLE, rng.randint(1, 3)))
        if draws[2] < q.odd_severities:
            alarm.odd_severity = rng.randrange(len(ODD_SEVERITIES))
        if draws[3] < q.odd_dates:
            alarm.odd_date = rng.randrange(len(ODD_DATE_FORMS))
        alarm.alt_spellings = draws[4] < q.alt_spellings
        alarm.codeless = draws[5] < q.codeless

    def _texts(self, alarm_type: str, when: datetime) -> tuple[str, str]:
        rng = self.rng
        kw = rng.choice(BRAND_KEYWORDS)
        company = rng.choice(COMPANY_DOMAINS)
        if alarm_type == "Phishing Domain Detected":
            domain = phishing_domain(rng)
            ip = doc_ip(rng)
            return (
                f"Phishing domain detected: {domain}",
                f"The newly registered domain {domain} hosts a copy of the {BRAND} internet banking login page "
                f"and resolves to {ip}. It was first seen on {when:%Y-%m-%d}.",
            )
        if alarm_type == "Leaked Credentials":
            count = rng.randint(1, 240)
            user = rng.choice("abcdefghjkmnprstvy") + "***"
            return (
                f"{count} leaked credential{'s' if count > 1 else ''} for {company}",
                f"Credentials of {user}@{company}{f' and {count - 1} other accounts' if count > 1 else ''} "
                f"were found in a {rng.choice(STEALERS)} stealer log shared on {rng.choice(FORUMS)}.",
            )
        if alarm_type == "Rogue Mobile App Detected":
            suffix = rng.choice(("Plus", "Lite", "Pro", "Wallet", "Rewards"))
            package = f"com.example.{kw.replace('-', '')}.{suffix.lower()}"  # reversed: a name under example.com
            return (
                f"Rogue mobile app '{BRAND} {suffix}' ({package})",
                f"An app published as {package} on {rng.choice(APP_STORES)} uses the {BRAND} name and logo "
                "and asks users for their card details.",
            )
        if alarm_type == "Fake Social Media Account Detected":
            platform = rng.choice(SOCIAL_PLATFORMS)
            handle = f"@{kw.replace('-', '_')}_{rng.choice(('support', 'help', 'official', 'care', 'promo'))}"
            return (
                f"Fake {platform} account {handle} impersonates {BRAND}",
                f"The {platform} account {handle} presents itself as {BRAND} customer support and sends "
                "victims links to a credential-harvesting page.",
            )
        if alarm_type == "Exposed Port":
            port, service = rng.choice(PORT_SERVICES)
            ip = doc_ip(rng)
            return (
                f"Exposed port {port}/{service} on {ip}",
                f"{service} is reachable from the internet on {ip}:{port}, an address registered to {company}.",
            )
        if alarm_type == "Vulnerable Software Version":
            vendor = rng.choice(list(CVE_VENDORS))
            product = rng.choice(CVE_VENDORS[vendor])
            version = f"{rng.randint(1, 9)}.{rng.randint(0, 12)}.{rng.randint(0, 30)}"
            cve = rng.choice(self.cve_ids) if self.cve_ids else f"CVE-2025-{9000 + rng.randint(0, 999)}1"
            host = f"{rng.choice(('vpn', 'mail', 'portal', 'gw', 'remote'))}.{company}"
            return (
                f"{vendor} {product} {version} on {host} is vulnerable",
                f"{host} runs {vendor} {product} {version}, which is affected by {cve}. Upgrade to a fixed release.",
            )
        if alarm_type == "Black Market Mention":
            offer = rng.choice(
                (
                    f"VPN access to {company}",
                    f"a database of {BRAND} customers",
                    f"{rng.randint(50, 5000)} {BRAND} card numbers",
                    f"an employee account of {company}",
                )
            )
            return (f"{BRAND} mentioned on {rng.choice(FORUMS)}", f"A seller offers {offer} on {rng.choice(FORUMS)}.")
        if alarm_type == "Brand Impersonation":
            domain = phishing_domain(rng)
            return (
                f"Website {domain} impersonates {BRAND}",
                f"{domain} copies the {BRAND} logo, colours and wording to advertise fake loan offers.",
            )
        if alarm_type == "Data Leak Detected":
            what = rng.choice(("an internal network diagram", "a customer export", "source code", "an HR spreadsheet"))
            return (
                f"Possible data leak: {what} of {BRAND}",
                f"A file that looks like {what} of {BRAND} was published on {rng.choice(FORUMS)}.",
            )
        days = rng.randint(1, 29)
        host = f"{rng.choice(('www', 'api', 'mobile', 'id'))}.{company}"
        return (
            f"SSL certificate of {host} expires in {days} days",
            f"The TLS certificate served by {host} expires on {when + timedelta(days=days):%Y-%m-%d}.",
        )


def phishing_domain(rng: random.Random) -> str:
    kw = rng.choice(BRAND_KEYWORDS)
    word = rng.choice(PHISHING_WORDS)
    parent = rng.choice(RESERVED_PARENTS)
    shape = rng.randint(0, 2)
    if shape == 0:
        return f"{kw}-{word}.{parent}"
    if shape == 1:
        return f"{word}-{kw}{rng.randint(1, 99)}.{parent}"
    return f"{kw}.{word}-{rng.choice(PHISHING_WORDS)}.{parent}"


def doc_ip(rng: random.Random) -> str:
    net = rng.choice(("192.0.2", "198.51.100", "203.0.113"))
    return f"{net}.{rng.randint(1, 254)}"


# ------------------------------------------------------------------------------------------------
# CVE records
# ------------------------------------------------------------------------------------------------


def _severity_v3(score: float) -> str:
    if score == 0:
        return "NONE"
    if score < 4:
        return "LOW"
    if score < 7:
        return "MEDIUM"
    if score < 9:
        return "HIGH"
    return "CRITICAL"


def _severity_v2(score: float) -> str:
    return "LOW" if score < 4 else "MEDIUM" if score < 7 else "HIGH"


def make_cves(count: int, seed: int = 1337) -> list[dict]:
    """CVE records, newest first, with every field the public clients read."""
    rng = random.Random(seed * 31 + 5)  # noqa: S311
    records = []
    created = datetime(2022, 1, 10, 9, 0, tzinfo=UTC)
    for index in range(count):
        created += timedelta(hours=rng.randint(6, 400))
        year = created.year
        number = 90000 + index * 7 + rng.randint(0, 6)  # a high range, away from well-known identifiers
        base = round(rng.choice((rng.uniform(2.0, 6.9), rng.uniform(7.0, 8.9), rng.uniform(9.0, 10.0))), 1)
        vendor_names = rng.sample(list(CVE_VENDORS), rng.choice((1, 1, 1, 2)))
        vendors = {v: sorted(rng.sample(CVE_VENDORS[v], rng.randint(1, len(CVE_VENDORS[v])))) for v in vendor_names}
        product = next(iter(vendors.values()))[0]
        v2 = round(min(10.0, base + rng.uniform(-1.0, 0.5)), 1) if year < 2023 else None
        v3 = base if rng.random() < 0.5 else None
        v4 = round(min(10.0, base + rng.uniform(-0.5, 0.8)), 1) if year >= 2024 else None
        updated = created + timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 23))
        records.append(
            {
                "cve": f"CVE-{year}-{number}",
                "summary": (
                    f"A {rng.choice(WEAKNESSES)} in {product} before {rng.randint(1, 9)}.{rng.randint(0, 20)} "
                    f"allows {rng.choice(ATTACKERS)} to {rng.choice(IMPACTS)}."
                ),
                "cvssV2": v2,
                "severityV2": _severity_v2(v2) if v2 is not None else None,
                "cvssV3": v3,
                "severityV3": _severity_v3(v3) if v3 is not None else None,
                "cvssV3_1": base,
                "severityV3_1": _severity_v3(base),
                "cvssV4": v4,
                "severityV4": _severity_v3(v4) if v4 is not None else None,
                "vendors": vendors,
                "exploit": rng.random() < 0.3,
                "knownRansomwareCampaignUse": rng.random() < 0.1,
                "zeroday": rng.random() < 0.05,
                "createdAt": iso(created),
                "updatedAt": iso(updated),
            }
        )
    records.reverse()
    return records


def cve_best_score(record: dict) -> float | None:
    for name in ("cvssV4", "cvssV3_1", "cvssV3", "cvssV2"):
        if record.get(name) is not None:
            return float(record[name])
    return None


def cve_matches(record: dict, cvss: str) -> bool:
    """The simulator's reading of the undocumented ``cvss`` filter.

    A number keeps records whose best score (V4, else V3.1, V3, V2) is at least that number; a word
    keeps records where any severity field is that word (case-insensitive). Empty keeps everything.
    """
    cvss = (cvss or "").strip()
    if not cvss:
        return True
    try:
        minimum = float(cvss)
    except ValueError:
        word = cvss.upper()
        return any((record.get(f) or "").upper() == word for f in ("severityV2", "severityV3", "severityV3_1", "severityV4"))
    score = cve_best_score(record)
    return score is not None and score >= minimum


# ------------------------------------------------------------------------------------------------
# IOC records (daily list)
# ------------------------------------------------------------------------------------------------


class IocFactory:
    """Creates daily-list IOC records, each a little newer than the one before."""

    def __init__(self, seed: int = 1337, day: datetime | None = None, seconds_between: float = 0.8, noise: bool = True):
        self.rng = random.Random(seed * 17 + 3)  # noqa: S311
        self.next_time = day or DEFAULT_IOC_DAY
        self.seconds_between = seconds_between
        kinds = [k for k in IOC_KINDS if noise or k not in ("email", "unknown", "malformed")]
        self.kinds = kinds
        self.weights = [IOC_KINDS[k][0] for k in kinds]
        self.counter = 0

    def make(self) -> tuple[dict, str, str]:
        """One record, with its kind and hidden collection id."""
        rng = self.rng
        kind = rng.choices(self.kinds, weights=self.weights, k=1)[0]
        self.counter += 1
        stamp = self.next_time
        self.next_time = stamp + timedelta(seconds=self.seconds_between * rng.uniform(0.5, 1.5))
        value, ioc_type, extracted = self._value(kind)
        created = iso(stamp)
        record = {
            "ioc_value": value,
            "ioc_type": ioc_type,
            "source": rng.sample(IOC_SOURCES, rng.randint(1, 2)),
            "tags": rng.sample(IOC_TAGS, rng.randint(0, 3)),
            "categories": rng.sample(IOC_CATEGORIES, rng.randint(1, 2)),
            "confidence_level": rng.choice((30, 50, 70, 80, 90, 100)),
            "severity": rng.choice(IOC_SEVERITIES),
            "status": rng.choice(("active", "active", "active", "inactive")),
            "isp": None,
            "resolved_ips": [],
            "geo_location": None,
            "score": rng.randint(10, 100),
            "timestamp": created,
            "created_at": created,
            "updated_at": created,
        }
        if kind.startswith("ipv"):
            if extracted is not None:
                record["extracted_ip"] = extracted
            record["isp"] = rng.choice(IOC_ISPS)
            record["geo_location"] = rng.choice(IOC_COUNTRIES)
        elif kind in ("domain", "url"):
            record["resolved_ips"] = [f"198.18.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(rng.randint(0, 2))]
            record["geo_location"] = rng.choice(IOC_COUNTRIES)
        return record, kind, rng.choice(IOC_COLLECTIONS)

    def _ipv4(self) -> str:
        rng = self.rng
        if rng.random() < 0.1:
            return doc_ip(rng)
        return f"198.{rng.randint(18, 19)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"  # benchmarking range

    def _ipv6(self) -> str:
        rng = self.rng
        groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(rng.randint(1, 4))]
        return "2001:db8:" + ":".join(groups) + ("::1" if len(groups) < 4 else f"::{rng.randint(1, 0xFFFF):x}")

    def _domain(self) -> str:
        rng = self.rng
        word = rng.choice(("cdn", "update", "login", "mail", "track", "files", "secure", "api", "pay", "dl"))
        word2 = rng.choice(("alpha", "delta", "nova", "orbit", "pixel", "quartz", "sigma", "vertex", "zen"))
        return f"{word}-{word2}{rng.randint(1, 9999)}.{rng.choice(RESERVED_PARENTS)}"

    def _value(self, kind: str) -> tuple[str, str, str | None]:
        rng = self.rng
        spelling = rng.choice(IOC_KINDS[kind][1]) if IOC_KINDS[kind][1] else ""
        if kind == "ipv4":
            ip = self._ipv4()
            return ip, spelling, ip if rng.random() < 0.9 else None
        if kind == "ipv4_port":
            ip = self._ipv4()
            return f"{ip}:{rng.choice((80, 443, 8080, 4444, 8443, 1337))}", spelling, ip if rng.random() < 0.8 else None
        if kind == "ipv6":
            ip = self._ipv6()
            return ip, spelling, ip if rng.random() < 0.9 else None
        if kind == "ipv6_port":
            ip = self._ipv6()
            return f"[{ip}]:{rng.choice((443, 8443))}", spelling, ip if rng.random() < 0.8 else None
        if kind == "domain":
            return self._domain(), spelling, None
        if kind == "url":
            path = rng.choice(("/login.php", "/wp-admin/x.php", "/invoice.zip", "/gate.php", "/a/b/c", "/"))
            scheme = rng.choice(("http", "https"))
            return f"{scheme}://{self._domain()}{path}", spelling, None
        if kind in ("md5", "sha1", "sha256"):
            bits = {"md5": 128, "sha1": 160, "sha256": 256}[kind]
            value = f"{rng.getrandbits(bits):0{bits // 4}x}"
            return (value.upper() if rng.random() < 0.1 else value), spelling, None
        if kind == "email":
            return f"{rng.choice(('billing', 'noreply', 'support', 'hr'))}@{self._domain()}", spelling, None
        if kind == "unknown":
            values = {
                "mutex": "Global\\MsWinZonesCacheCounterMutexA",
                "bitcoin_address": "bc1qexampleexampleexampleexample0000",
                "ja3": f"{rng.getrandbits(128):032x}",
                "asn": f"AS{rng.randint(64496, 64511)}",  # documentation ASNs
            }
            return values[spelling], spelling, None
        # malformed: a value that does not fit the type it claims
        return rng.choice(
            (
                ("999.12.1.300", "ip", None),
                ("203.0.113", "ip", None),
                ("not a domain", "domain", None),
                ("-bad-.example", "domain", None),
                ("htp:/broken", "url", None),
                ("zzzz-not-hex", "md5", None),
                ("abc123", "hash", None),
                ("", "ip", None),
            )
        )
