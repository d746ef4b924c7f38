"""``python -m simulator``: start the ThreatMon API simulator on 127.0.0.1 and print where it listens.

    python -m simulator --alarms 40 --order desc --latency-ms 20 --port 0
    python -m simulator --fault '#2=503,retry-after=1' --fault '/vulnerabilities/=truncated,times=2'
    python -m simulator --page-size 5 --order-flip alternate --page-overlap 1

It serves until Ctrl-C, or until it has been idle for --idle-timeout seconds (or has run for
--max-lifetime seconds). With --json the first line of output is one JSON object
({"url", "api_url", "ioc_url", "api_key", "ioc_token", "pid"}), for scripts that start it.
Every option is a knob of SimConfig (simulator/config.py), which the option list is built from.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

from simulator.config import add_arguments, from_arguments
from simulator.server import Simulator


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="ThreatMon API simulator (alarms, status, takedown, data removal, CVEs, daily IOCs) on 127.0.0.1.",
        epilog="Fault spelling: WHERE=WHAT[,retry-after=N][,times=N][,skip=N][,to=URL]; WHERE is #INDEX, a path "
        "fragment, 'METHOD /path' or *; WHAT is a status code, truncated, empty, json, drop, reset, cut, html[:STATUS], "
        "slow[:SECONDS] or redirect[:STATUS] (with to=URL).",
    )
    add_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON line with the addresses and credentials")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    try:
        config = from_arguments(ns)
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
            f"  {config.alarms} alarms, order {config.order}, {config.page_size} a page, latency {config.latency_ms:g} ms; "
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
