"""Every knob of the simulator, defined once: name, default, meaning and command-line spelling.

:class:`SimConfig` is the keyword arguments of :class:`~simulator.server.Simulator` and
:class:`~simulator.mock.MockThreatMon`, what ``/__sim__/state`` shows, and the command line of
``python -m simulator`` (:func:`add_arguments` and :func:`from_arguments` build it from the fields below).
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, asdict, dataclass, field, fields

from simulator.faults import Fault, parse_fault

DEFAULT_API_KEY = "SIMKEY-7d41c0a9e2b34f58a6"
DEFAULT_IOC_TOKEN = "SIMTOKEN-3b9e61f0c2d84a7e55"  # noqa: S105 - the simulator's own made-up token
ORDERS = ("asc", "desc", "unsorted")
ORDER_FLIPS = ("none", "alternate", "random")
TOTAL_RECORDS = ("exact", "all", "missing", "text")
AFTER_FILTERS = ("greater", "inclusive", "ignored")
STATUS_BODIES = ("empty", "json", "text")


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("a share is a number from 0 to 1")
    return value


def _pair(text: str) -> tuple[int, int]:
    low, sep, high = text.partition(",")
    if not sep:
        raise argparse.ArgumentTypeError("two whole numbers separated by a comma, e.g. 7,240")
    return int(low), int(high)


def _insert_at(text: str) -> tuple[int, int]:
    index, sep, count = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError("INDEX=COUNT, e.g. 3=5 (5 alarms just before list request 3 is answered)")
    return int(index), int(count)


def _fault(text: str) -> Fault:
    try:
        return parse_fault(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def knob(
    default, meaning: str, *, parse=None, flag=None, cli_default=MISSING, choices=None, metavar=None, repeat=False, off=None
):
    """A SimConfig field and what the command line needs to offer it: ``parse`` reads one command-line value
    (``bool``: a switch; ``off`` explains the --no- switch of a knob that is on by default), ``flag`` overrides the
    option's name, ``cli_default`` the default of a simulator started from the command line, ``repeat`` makes a
    repeatable option whose values make a list (or, from INDEX=COUNT pairs, a dict)."""
    meta = {"help": meaning, "parse": parse, "flag": flag, "cli_default": cli_default, "choices": choices}
    meta.update(metavar=metavar, repeat=repeat, off=off)
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class SimConfig:
    """Every knob of the simulator (also the keyword arguments of Simulator and MockThreatMon)."""

    alarms: int = knob(40, "alarms present at start", parse=int)
    order: str = knob("asc", "list order by alarm code (unsorted: a stable order that is neither)", choices=ORDERS)
    order_flip: str = knob(
        "none",
        "how the order of a list request may differ from --order: none; alternate (every other request the opposite); "
        "random (the opposite with probability 1/2, seeded)",
        choices=ORDER_FLIPS,
    )
    page_size: int = knob(10, "alarms a page of the alarm list holds (ThreatMon documents 10)", parse=int)
    page_overlap: int = knob(0, "page n repeats the last N alarms of page n-1 (off-by-one paging: 1)", parse=int, metavar="N")
    total_records: str = knob(
        "exact",
        "what totalRecords says: exact (the filtered list); all (every alarm, ignoring afterAlarmCode); missing; "
        "text (the number as a string)",
        choices=TOTAL_RECORDS,
    )
    after_filter: str = knob(
        "greater",
        "what afterAlarmCode keeps: greater (codes above it, as documented); inclusive (at or above it); ignored",
        choices=AFTER_FILTERS,
    )
    open_only: bool = knob(
        False,
        "the alarm list shows Open and In Progress alarms only: an alarm closed (Resolved, False Positive, Ignore) leaves "
        "it, and comes back if reopened (whether ThreatMon's list keeps closed alarms is not documented)",
        parse=bool,
    )
    last_page_repeat: bool = knob(False, "a short last page lists its first alarm a second time at its end", parse=bool)
    codeless_pinned: int = knob(
        0, "alarms without any code, listed first in every answer whatever afterAlarmCode says", parse=int, metavar="N"
    )
    latency_ms: float = knob(0.0, "time from a request's arrival to its answer", parse=float)
    seed: int = knob(1337, "the same seed gives the same alarms, CVEs and IOCs", parse=int)
    api_key: str = knob(DEFAULT_API_KEY, "the API key the alarm API accepts", flag="--key")
    ioc_token: str = knob(DEFAULT_IOC_TOKEN, "the api_token the IOC API accepts")
    refuse_ip: bool = knob(False, "answer 403 to everything, as ThreatMon's IP allow-list does", parse=bool)
    status_body: str = knob("empty", "body of a successful status change", choices=STATUS_BODIES)
    takedown_quota: int | None = knob(None, "successful takedowns allowed (default unlimited)", parse=int)
    # ThreatMon has not published the data removal path (docs/threatmon-api.md), so by default there is no route and a
    # POST anywhere is a 404, as for any unknown path.
    data_removal_path: str | None = knob(
        None,
        "serve data removal requests at this path under the API base, e.g. /blackmarket/data-removal (default: none, "
        "as ThreatMon has not published one)",
        metavar="PATH",
    )
    data_removal_quota: int | None = knob(
        None, "Black Market Data Removal credits (default unlimited; 0: no right to the service)", parse=int
    )
    insert_every: int = knob(0, "add --insert-count alarms after every N list requests", parse=int, metavar="N")
    insert_count: int = knob(0, "alarms added each time (see --insert-every)", parse=int, metavar="K")
    insert_max: int | None = knob(None, "stop inserting after M alarms in all", parse=int, metavar="M")
    status_every: int = knob(
        0,
        "after every N list requests an analyst sets a new status on one Open or In Progress alarm in the ThreatMon "
        "portal (chosen by the seed; recorded in portal_changes)",
        parse=int,
        metavar="N",
    )
    insert_at: dict = knob(  # noqa: RUF009 - knob() is dataclasses.field(default_factory=...)
        {},
        "create COUNT alarms just before list request INDEX (from 0) is answered",
        parse=_insert_at,
        metavar="INDEX=COUNT",
        repeat=True,
    )
    recent: bool = knob(False, "date the alarms up to an hour ago (and the IOCs today) instead of fixed dates", parse=bool)
    minutes_between: tuple = knob((7, 240), "spacing of alarm dates, in minutes", parse=_pair, metavar="LOW,HIGH")
    string_codes: float = knob(
        0.0, "share of alarms whose alarmCode is served as a numeric string", parse=_share, metavar="SHARE"
    )
    missing_fields: float = knob(0.0, "share of alarms served without one to three fields", parse=_share, metavar="SHARE")
    odd_severities: float = knob(
        0.0, "share of alarms with a severity that is not one of the five words", parse=_share, metavar="SHARE"
    )
    odd_dates: float = knob(0.0, "share of alarms with a date in another format (or not a date)", parse=_share, metavar="SHARE")
    alt_spellings: float = knob(
        0.0, "share of alarms using 'type'/'finding_id' instead of alarmType/findingId", parse=_share, metavar="SHARE"
    )
    codeless: float = knob(0.0, "share of alarms served without an alarmCode at all", parse=_share, metavar="SHARE")
    cves: int = knob(57, "CVE records", parse=int)
    iocs: int = knob(500, "records in the daily IOC list", parse=int)
    ioc_noise: bool = knob(
        True,
        "e-mails, unknown kinds and malformed values among the IOCs",
        parse=bool,
        off="no e-mails, unknown kinds or malformed values among the IOCs",
    )
    faults: list = knob(  # noqa: RUF009 - knob() is dataclasses.field(default_factory=...)
        [], "a fault (repeatable): see below", parse=_fault, flag="--fault", metavar="SPEC", repeat=True
    )
    port: int = knob(0, "port on 127.0.0.1 (0: a free one)", parse=int)
    idle_timeout_s: float = knob(
        120.0, "stop after this many seconds without a request", parse=float, flag="--idle-timeout", cli_default=600.0
    )
    max_lifetime_s: float = knob(
        900.0, "stop after this many seconds in all", parse=float, flag="--max-lifetime", cli_default=4 * 3600.0
    )

    def validate(self) -> None:
        for name, choices in (
            ("order", ORDERS),
            ("order_flip", ORDER_FLIPS),
            ("total_records", TOTAL_RECORDS),
            ("after_filter", AFTER_FILTERS),
            ("status_body", STATUS_BODIES),
        ):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, not {getattr(self, name)!r}")
        if self.order == "unsorted" and self.order_flip != "none":
            raise ValueError("order_flip needs order asc or desc (an unsorted order has no opposite)")
        if self.alarms < 0 or self.iocs < 0 or self.cves < 0 or self.codeless_pinned < 0:
            raise ValueError("alarms, codeless_pinned, iocs and cves cannot be negative")
        if self.page_size < 1 or not 0 <= self.page_overlap < self.page_size:
            raise ValueError("page_size must be at least 1 and page_overlap from 0 to page_size - 1")
        if self.latency_ms < 0:
            raise ValueError("latency_ms cannot be negative")
        if self.status_every < 0:
            raise ValueError("status_every cannot be negative")
        if self.data_removal_path is not None and not self.data_removal_path.strip("/"):
            raise ValueError("data_removal_path must name a path under the API base, such as /blackmarket/data-removal")

    def public(self) -> dict:
        """The configuration without its secrets (what /__sim__/state shows)."""
        shown = asdict(self)
        shown.pop("api_key")
        shown.pop("ioc_token")
        shown["faults"] = [f.describe() if isinstance(f, Fault) else str(f) for f in self.faults]
        shown["insert_at"] = {str(k): v for k, v in self.insert_at.items()}
        return shown


def _flag(f) -> str:
    return f.metadata["flag"] or "--" + f.name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One command-line option per SimConfig field, spelt, explained and defaulted as the field says."""
    for f in fields(SimConfig):
        meta = f.metadata
        default = f.default if f.default is not MISSING else f.default_factory()
        default = default if meta["cli_default"] is MISSING else meta["cli_default"]
        shown = default if not isinstance(default, tuple) else ",".join(map(str, default))
        quiet = meta["repeat"] or meta["parse"] is bool or default is None or default == ""
        help_text = meta["help"] + ("" if quiet else f" (default {shown})")
        kwargs = {"dest": f.name, "help": help_text.replace("%", "%%")}
        if meta["parse"] is bool:
            if default:
                kwargs["help"] = meta["off"].replace("%", "%%")
                parser.add_argument("--no-" + _flag(f)[2:], action="store_false", **kwargs)
            else:
                parser.add_argument(_flag(f), action="store_true", **kwargs)
            continue
        if meta["repeat"]:
            kwargs.update(action="append", default=[])
        else:
            kwargs["default"] = default
        if meta["parse"] is not None:
            kwargs["type"] = meta["parse"]
        if meta["choices"]:
            kwargs["choices"] = meta["choices"]
        if meta["metavar"]:
            kwargs["metavar"] = meta["metavar"]
        parser.add_argument(_flag(f), **kwargs)


def from_arguments(namespace: argparse.Namespace) -> SimConfig:
    """The SimConfig the parsed command line describes."""
    values = {f.name: getattr(namespace, f.name) for f in fields(SimConfig)}
    values["insert_at"] = dict(values["insert_at"])
    return SimConfig(**values)
