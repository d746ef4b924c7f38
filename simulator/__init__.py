"""A local ThreatMon API simulator (standard library only).

    from simulator import Simulator
    with Simulator(alarms=37, order="desc", latency_ms=5) as sim:
        sim.api_url, sim.api_key      # the ThreatMon integration's url and API key
        sim.ioc_url, sim.ioc_token    # the feed's url and token
        sim.state()                   # what it received: requests, status changes, takedowns

Command line: ``python -m simulator --help``.
"""

from simulator.faults import Fault, FaultPlan, parse_fault
from simulator.server import API_BASE, IOC_PATH, PAGE_SIZE, SimConfig, Simulator

__all__ = ["API_BASE", "IOC_PATH", "PAGE_SIZE", "Fault", "FaultPlan", "SimConfig", "Simulator", "parse_fault"]
