"""``python -m simulator``: start the ThreatMon API simulator on 127.0.0.1 and print where it listens.

    python -m simulator --alarms 40 --order desc --latency-ms 20 --port 0
    python -m simulator --fault '#2=503,retry-after=1' --fault '/vulnerabilities/=truncated,times=2'

It serves until Ctrl-C, or until it has been idle for --idle-timeout seconds (or has run for
--max-lifetime seconds). With --json the first line of output is one JSON object
({"url", "api_url", "ioc_url", "api_key", "ioc_token", "pid"}), for scripts that start it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

from simulator.faults import parse_fault
from simulator.server import ORDERS, STATUS_BODIES, SimConfig, Simulator


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("a share is a number from 0 to 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    defaults = SimConfig()
    p = argparse.ArgumentParser(
        prog="python -m simulator",
        description="ThreatMon API simulator (alarms, status, takedown, data removal, CVEs, daily IOCs) on 127.0.0.1.",
        epilog="Fault spelling: WHERE=WHAT[,retry-after=N][,times=N][,skip=N]; WHERE is #INDEX, a path fragment, "
        "'METHOD /path' or *; WHAT is a status code, truncated, empty, drop, reset, html[:STATUS] or slow[:SECONDS].",
    )
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = a free one; default)")
    p.add_argument("--alarms", type=int, default=defaults.alarms, help="alarms at start (default %(default)s)")
    p.add_argument("--order", choices=ORDERS, default=defaults.order, help="list order by alarm code")
    p.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every API request")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--key", default=defaults.api_key, help="the API key the alarm API accepts")
    p.add_argument("--ioc-token", default=defaults.ioc_token, help="the api_token the IOC API accepts")
    p.add_argument("--refuse-ip", action="store_true", help="answer 403 as if this IP were not allow-listed")
    p.add_argument("--status-body", choices=STATUS_BODIES, default="empty", help="body of a successful status change")
    p.add_argument("--takedown-quota", type=int, default=None, help="successful takedowns allowed (default unlimited)")
    p.add_argument(
        "--data-removal-path",
        default=None,
        metavar="PATH",
        help="serve data removal requests at this path under the API base, e.g. /blackmarket/data-removal (default: none, "
        "as ThreatMon has not published one)",
    )
    p.add_argument("--data-removal-quota", type=int, default=None, help="data removal credits (default unlimited; 0: no right)")
    p.add_argument("--insert-every", type=int, default=0, metavar="N", help="add --insert-count alarms every N list requests")
    p.add_argument("--insert-count", type=int, default=0, metavar="K")
    p.add_argument("--insert-max", type=int, default=None, metavar="M", help="stop inserting after M alarms")
    p.add_argument("--recent", action="store_true", help="date alarms up to an hour ago and IOCs today")
    p.add_argument("--string-codes", type=_share, default=0.0, metavar="SHARE", help="share of codes sent as strings")
    p.add_argument("--missing-fields", type=_share, default=0.0, metavar="SHARE", help="share of alarms missing fields")
    p.add_argument("--odd-severities", type=_share, default=0.0, metavar="SHARE")
    p.add_argument("--odd-dates", type=_share, default=0.0, metavar="SHARE")
    p.add_argument("--alt-spellings", type=_share, default=0.0, metavar="SHARE", help="'type'/'finding_id' spellings")
    p.add_argument("--codeless", type=_share, default=0.0, metavar="SHARE", help="share of alarms without alarmCode")
    p.add_argument("--cves", type=int, default=defaults.cves)
    p.add_argument("--iocs", type=int, default=defaults.iocs, help="records in the daily IOC list")
    p.add_argument("--no-ioc-noise", action="store_true", help="no e-mails, unknown kinds or malformed IOC values")
    p.add_argument("--fault", action="append", default=[], metavar="SPEC", help="add a fault (repeatable)")
    p.add_argument("--idle-timeout", type=float, default=600.0, help="stop after this many idle seconds")
    p.add_argument("--max-lifetime", type=float, default=4 * 3600.0, help="stop after this many seconds in all")
    p.add_argument("--json", action="store_true", help="print one JSON line with the addresses and credentials")
    return p


def config_from_args(ns: argparse.Namespace) -> SimConfig:
    return SimConfig(
        alarms=ns.alarms,
        order=ns.order,
        latency_ms=ns.latency_ms,
        seed=ns.seed,
        api_key=ns.key,
        ioc_token=ns.ioc_token,
        refuse_ip=ns.refuse_ip,
        status_body=ns.status_body,
        takedown_quota=ns.takedown_quota,
        data_removal_path=ns.data_removal_path,
        data_removal_quota=ns.data_removal_quota,
        insert_every=ns.insert_every,
        insert_count=ns.insert_count,
        insert_max=ns.insert_max,
        recent=ns.recent,
        string_codes=ns.string_codes,
        missing_fields=ns.missing_fields,
        odd_severities=ns.odd_severities,
        odd_dates=ns.odd_dates,
        alt_spellings=ns.alt_spellings,
        codeless=ns.codeless,
        cves=ns.cves,
        iocs=ns.iocs,
        ioc_noise=not ns.no_ioc_noise,
        faults=[parse_fault(spec) for spec in ns.fault],
        port=ns.port,
        idle_timeout_s=ns.idle_timeout,
        max_lifetime_s=ns.max_lifetime,
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    try:
        config = config_from_args(ns)
        sim = Simulator(config)
        sim.start()
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    if ns.json:
        info = {
            "url": sim.url,
            "api_url": sim.api_url,
            "ioc_url": sim.ioc_url,
            "api_key": sim.api_key,
            "ioc_token": sim.ioc_token,
            "pid": os.getpid(),
        }
        print(json.dumps(info), flush=True)
    else:
        print(f"ThreatMon simulator listening on {sim.url}")
        print(f"  alarm API  {sim.api_url}   (header X-COMPANY-API-KEY: {sim.api_key})")
        print(f"  IOC API    {sim.ioc_url}/api/daily-ioc-details/   (api_token={sim.ioc_token})")
        if config.data_removal_path:
            print(f"  removal    POST {sim.api_url}/{config.data_removal_path.strip('/')}")
        print(f"  record     {sim.url}/__sim__/state")
        print(
            f"  {config.alarms} alarms, order {config.order}, latency {config.latency_ms:g} ms; "
            f"stops after {config.idle_timeout_s:g} s idle. Ctrl-C to stop.",
            flush=True,
        )
    try:
        while sim.running and not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
