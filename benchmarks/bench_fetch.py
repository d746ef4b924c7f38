"""The fetch benchmark's measurements: N alarms behind L ms per request, drained by repeated fetch-incidents runs.

What runs: the simulator in a SEPARATE process (``python -m simulator``), so the CPU time measured is the
client's alone; ThreatMon.py's fetch-incidents runs again and again through the local runner, in this
process, on the stand-in runtime by default (``--runtime DIR`` or $XSOAR_RUNTIME_DIR for the official
files), until a run brings nothing new. Every alarm must arrive exactly once.

Measured per row: wall time of the whole drain, the requests the simulator received, process CPU time of this
process (the client), also cut into slices of SLICE_REQUESTS requests (``DrainClock``; report.best_of keeps each
slice's least CPU time over the rounds), and peak memory (tracemalloc, in a second drain at 0 ms latency: tracemalloc
slows Python down, so it stays out of the timed drain). The yardstick of every row is the bare loop
(``run_bare_loop``): the same pages read with nothing but ``requests`` in the same run. The targets and the report:
benchmarks/report.py.
"""

from __future__ import annotations

import gc
import itertools
import json
import math
import os
import platform
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import requests

from benchmarks.report import BARE, PAGE_SIZE, FetchBenchResult
from runner import IntegrationRunner

REPO_ROOT = Path(__file__).resolve().parent.parent
THREATMON = REPO_ROOT / "Packs/ThreatMon/Integrations/ThreatMon/ThreatMon.py"
SLICE_REQUESTS = 10  # a drain's CPU time is also kept per slice of this many requests (about 0.2 s at 20 ms)


class DrainClock:
    """Times one measured drain, the same way for every client: on entering, it collects the heap (what earlier rows
    left behind is not charged to this one) and starts; on leaving, it holds ``wall_s``, ``cpu_s`` (process CPU time)
    and ``cpu_slices``. While open, it notes the process CPU time at which each request of this process starts (every
    client here sends through ``requests.Session.request``: the bare loop's ``get`` and BaseClient alike).
    ``slices(start, end)`` cuts the CPU time from ``start`` to ``end`` at every SLICE_REQUESTS-th request in between:
    slice n holds requests n*SLICE_REQUESTS to (n+1)*SLICE_REQUESTS - 1 and the work that follows them. The same drain
    cuts the same way in every round, whatever the machine did meanwhile."""

    def __init__(self) -> None:
        self.marks: list[float] = []
        self.wall_s = self.cpu_s = 0.0
        self.cpu_slices: list[float] = []
        self._saved = None
        self._started = (0.0, 0.0)

    def __enter__(self) -> DrainClock:
        gc.collect()
        self._saved = original = requests.Session.request
        marks = self.marks

        def request(session, *args, **kwargs):
            marks.append(time.process_time())
            return original(session, *args, **kwargs)

        requests.Session.request = request
        self._started = (time.process_time(), time.perf_counter())
        return self

    def __exit__(self, *exc) -> None:
        cpu1, wall1 = time.process_time(), time.perf_counter()
        requests.Session.request = self._saved
        cpu0, wall0 = self._started
        self.wall_s, self.cpu_s = wall1 - wall0, cpu1 - cpu0
        self.cpu_slices = self.slices(cpu0, cpu1)

    def slices(self, start: float, end: float) -> list[float]:
        inside = [mark for mark in self.marks if start <= mark <= end]
        points = [start, *inside[SLICE_REQUESTS::SLICE_REQUESTS], end]
        return [b - a for a, b in itertools.pairwise(points)]


class SimulatorProcess:
    """``python -m simulator`` in a child process; its first output line tells where it listens."""

    def __init__(self, alarms: int, latency_ms: float, order: str):
        command = [
            sys.executable,
            "-m",
            "simulator",
            "--json",
            "--port",
            "0",
            "--alarms",
            str(alarms),
            "--latency-ms",
            str(latency_ms),
            "--order",
            order,
            "--idle-timeout",
            "300",
            "--max-lifetime",
            "3600",
        ]
        self.proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)  # noqa: S603
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("the simulator process did not start")
        self.info = json.loads(line)

    def request_count(self) -> int:
        state = requests.get(self.info["url"] + "/__sim__/state", params={"requests": "0"}, timeout=30).json()
        return state["request_count"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _drain(sim: SimulatorProcess, max_fetch: int, runtime: str | None, expected: int) -> tuple[int, list[str]]:
    """Run fetch-incidents until a run brings nothing; returns (runs, problems)."""
    params = {
        "url": sim.info["api_url"],
        "credentials": {"identifier": "", "password": sim.info["api_key"]},
        "max_fetch": str(max_fetch),
        "isFetch": True,
    }
    runner = IntegrationRunner(THREATMON, params, runtime=runtime, instance_name="ThreatMon_bench")
    seen: set[str] = set()
    duplicates = runs = 0
    problems: list[str] = []
    for _ in range(expected // max_fetch + 50):
        result = runner.run("fetch-incidents")
        runs += 1
        runner.history.clear()  # the server keeps the incidents, not the integration: do not count them as ours
        if not result.ok:
            problems.append(f"run {runs} failed: {result.error}")
            break
        for incident in result.incidents:
            code = incident.get("dbotMirrorId")
            duplicates += code in seen
            seen.add(code)
        if not result.incidents:
            break
    if duplicates:
        problems.append(f"{duplicates} alarms ingested twice")
    if len(seen) != expected:
        problems.append(f"{len(seen)} distinct alarms ingested, {expected} expected")
    return runs, problems


def warm_up(runtime: str | None) -> None:
    """Load the runtime, compile the integration, import what it imports: not part of any measurement."""
    with SimulatorProcess(alarms=3, latency_ms=0, order="asc") as sim:
        _drain(sim, 10, runtime, 3)


def run_fetch_benchmark(
    alarms: int = 5000,
    latency_ms: float = 20.0,
    max_fetch: int = 100,
    order: str = "asc",
    runtime: str | None = None,
    measure_memory: bool = True,
) -> FetchBenchResult:
    with SimulatorProcess(alarms, latency_ms, order) as sim:
        before = sim.request_count()
        with DrainClock() as clock:
            runs, problems = _drain(sim, max_fetch, runtime, alarms)
        requests_made = sim.request_count() - before
    result = FetchBenchResult(
        "ThreatMon.py",
        order,
        alarms,
        latency_ms,
        max_fetch,
        runs,
        requests_made,
        clock.wall_s,
        clock.cpu_s,
        errors=list(problems),
        cpu_slices=clock.cpu_slices,
    )
    if measure_memory:
        with SimulatorProcess(alarms, 0, order) as sim:
            tracemalloc.start()
            try:
                _, more = _drain(sim, max_fetch, runtime, alarms)
                result.peak_bytes = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            result.errors += [f"memory drain: {p}" for p in more]
    return result


def machine_speed_ms() -> float:
    """Milliseconds this machine takes for a fixed pure-Python loop (a recent laptop: about 10-15 ms)."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        sum(range(1_000_000))
        best = min(best, time.perf_counter() - started)
    return best * 1000


def run_bare_loop(alarms: int, latency_ms: float, order: str) -> FetchBenchResult:
    """The yardstick: the same pages read by the least any Python client built on ``requests`` (which BaseClient
    uses) can do: GET page 0, 1, 2, ... until an empty one, on one requests.Session with the same headers, reading
    each page's JSON and its alarm codes; no XSOAR runtime, no incident building, no retries. Like ThreatMon.py
    without a proxy, the session does not re-read the environment on every request (trust_env off), so the row is
    the true floor, not a handicapped one.
    """
    with SimulatorProcess(alarms, latency_ms, order) as sim:
        session = requests.Session()
        session.trust_env = False
        session.headers.update({"X-COMPANY-API-KEY": sim.info["api_key"], "accept": "application/json"})
        url = sim.info["api_url"] + "/vulnerabilities/"
        before = sim.request_count()
        codes: list[int] = []
        with DrainClock() as clock:
            for page in range(math.ceil(alarms / PAGE_SIZE) + 1):  # every page, then the empty one that ends the list
                items = session.get(url + str(page), timeout=30).json()["data"]
                if not items:
                    break
                codes += [int(item["alarmCode"]) for item in items]
        session.close()
        made = sim.request_count() - before
    problems = [] if len(codes) == len(set(codes)) == alarms else [f"{len(set(codes))} distinct of {alarms} alarms"]
    return FetchBenchResult(
        BARE, order, alarms, latency_ms, None, 1, made, clock.wall_s, clock.cpu_s, errors=problems, cpu_slices=clock.cpu_slices
    )


def machine_description() -> str:
    """The machine, for the table's header: CPU count and model, Python and the system."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} x {model}, Python {platform.python_version()} on {platform.system()}"


def load_average() -> str:
    """How busy the machine is (1, 5 and 15 minutes), or "unknown" where the system does not say."""
    try:
        return " / ".join(f"{load:.2f}" for load in os.getloadavg())
    except (AttributeError, OSError):
        return "unknown"
