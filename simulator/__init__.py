"""A local ThreatMon API simulator (standard library only).

    from simulator import Simulator
    with Simulator(alarms=37, order="desc", latency_ms=5) as sim:
        sim.api_url, sim.api_key      # the ThreatMon integration's url and API key
        sim.ioc_url, sim.ioc_token    # the feed's url and token
        sim.state()                   # what it received: requests, status changes, takedowns

The same simulated ThreatMon without HTTP, for unit tests on requests_mock: :class:`MockThreatMon`.
Command line: ``python -m simulator --help``. Every knob: :class:`SimConfig`.
"""

from simulator.api import API_BASE, IOC_PATH
from simulator.config import SimConfig
from simulator.faults import Fault, FaultPlan, parse_fault
from simulator.server import Simulator

__all__ = ["API_BASE", "IOC_PATH", "Fault", "FaultPlan", "SimConfig", "Simulator", "parse_fault"]
