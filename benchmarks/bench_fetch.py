"""The fetch benchmark: N alarms behind L ms per request, drained by repeated fetch-incidents runs.

What runs: the simulator in a SEPARATE process (``python -m simulator``), so the CPU time measured is the
client's alone; ThreatMon.py's fetch-incidents runs again and again through the local runner, in this
process, on the stand-in runtime by default (``--runtime DIR`` or $XSOAR_RUNTIME_DIR for the official
files), until a run brings nothing new. Every alarm must arrive exactly once, or the benchmark fails.

Measured, per sort order:
* wall time of the whole drain, and alarms per second;
* requests the simulator received, against the budget pages + runs (pages = ceil(N/10));
* process CPU time of this process (the client) per alarm, in microseconds;
* peak memory: Python allocations under tracemalloc in a second drain at 0 ms latency (tracemalloc slows
  Python down, so it stays out of the timed drain);
* the ratio of the wall time to the round-trip floor ceil(N/10) x L (no client can page faster);
* the anchor: the same workload under the 1.0.x pack's behaviour (benchmarks/legacy.py: a one-second
  sleep after every full page). It runs for real on a smaller N, with its one-second sleeps counted rather
  than slept, and is extrapolated linearly per page to N.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import requests

from benchmarks.legacy import LegacyFetch
from runner import IntegrationRunner

REPO_ROOT = Path(__file__).resolve().parent.parent
THREATMON = REPO_ROOT / "Packs/ThreatMon/Integrations/ThreatMon/ThreatMon.py"
PAGE_SIZE = 10

TARGET_RATIO = 1.15
TARGET_CPU_US_PER_ALARM = 100.0


@dataclass
class FetchBenchResult:
    client: str
    order: str
    alarms: int
    latency_ms: float
    max_fetch: int
    runs: int
    requests: int
    wall_s: float
    cpu_s: float
    peak_bytes: int = 0
    anchor_s: float | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return math.ceil(self.alarms / PAGE_SIZE)

    @property
    def request_budget(self) -> int:
        return self.pages + self.runs

    @property
    def floor_s(self) -> float:
        return self.pages * self.latency_ms / 1000.0

    @property
    def ratio(self) -> float | None:
        return self.wall_s / self.floor_s if self.floor_s else None

    @property
    def alarms_per_s(self) -> float:
        return self.alarms / self.wall_s if self.wall_s else float("inf")

    @property
    def cpu_us_per_alarm(self) -> float:
        return self.cpu_s / self.alarms * 1e6 if self.alarms else 0.0


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
        cpu0, wall0 = time.process_time(), time.perf_counter()
        runs, problems = _drain(sim, max_fetch, runtime, alarms)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        requests_made = sim.request_count() - before
    result = FetchBenchResult("ThreatMon.py", order, alarms, latency_ms, max_fetch, runs, requests_made, wall, cpu)
    result.errors = problems
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


def run_reference(alarms: int, latency_ms: float) -> FetchBenchResult:
    """Calibration, not a target: the least any Python client on ``requests`` can spend here.

    A bare cursor loop (GET page 0 after the last code seen, until empty) with one requests.Session, the same
    headers and no XSOAR runtime, no incident building, no retries: what is left is the HTTP library, JSON
    parsing and this machine's speed. Like ThreatMon.py without a proxy, the session does not re-read the
    environment on every request (trust_env off), so the row is the true floor, not a handicapped one.
    """
    with SimulatorProcess(alarms, latency_ms, "asc") as sim:
        session = requests.Session()
        session.trust_env = False
        session.headers.update({"X-COMPANY-API-KEY": sim.info["api_key"], "accept": "application/json"})
        url = sim.info["api_url"] + "/vulnerabilities/0"
        before = sim.request_count()
        seen: set[int] = set()
        after = None
        cpu0, wall0 = time.process_time(), time.perf_counter()
        while True:
            items = session.get(url, params={} if after is None else {"afterAlarmCode": after}, timeout=30).json()["data"]
            if not items:
                break
            codes = [int(item["alarmCode"]) for item in items]
            seen.update(codes)
            after = max(codes)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        session.close()
        made = sim.request_count() - before
    problems = [] if len(seen) == alarms else [f"{len(seen)} of {alarms} alarms"]
    return FetchBenchResult("bare requests loop", "asc", alarms, latency_ms, alarms, 1, made, wall, cpu, errors=problems)


def machine_speed_ms() -> float:
    """Milliseconds this machine takes for a fixed pure-Python loop (a recent laptop: about 10-15 ms)."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        sum(range(1_000_000))
        best = min(best, time.perf_counter() - started)
    return best * 1000


def run_anchor(alarms: int, latency_ms: float, order: str) -> tuple[float, int]:
    """The 1.0.x behaviour on ``alarms`` alarms: (seconds it would take, counting its one-second sleeps; alarms)."""
    slept: list[float] = []
    with SimulatorProcess(alarms, latency_ms, order) as sim:
        legacy = LegacyFetch(sim.info["api_url"], sim.info["api_key"], sleep=slept.append)
        last_run: dict = {}
        started = time.perf_counter()
        for _ in range(alarms // 1000 + 5):
            codes, last_run = legacy.run(last_run)
            if not codes:
                break
        elapsed = time.perf_counter() - started
        legacy.close()
    return elapsed + sum(slept), alarms


def extrapolate_anchor(measured_s: float, measured_alarms: int, alarms: int) -> float:
    """Scale per page: time per page (including its sleep) x pages of the full workload."""
    pages_small = max(1, math.ceil(measured_alarms / PAGE_SIZE))
    return measured_s / pages_small * math.ceil(alarms / PAGE_SIZE)


def checks(result: FetchBenchResult) -> list[tuple[str, bool, str]]:
    """(target, met, measured) for each target of issue 4."""
    ratio = result.ratio
    return [
        ("every alarm exactly once", not result.errors, "; ".join(result.errors) or "yes"),
        (
            f"wall time <= {TARGET_RATIO} x round-trip floor",
            ratio is not None and ratio <= TARGET_RATIO,
            f"{ratio:.3f}" if ratio is not None else "no floor at 0 ms latency",
        ),
        (
            "requests <= pages + runs",
            result.requests <= result.request_budget,
            f"{result.requests} <= {result.pages} + {result.runs}",
        ),
        (
            f"CPU <= {TARGET_CPU_US_PER_ALARM:g} us per alarm",
            result.cpu_us_per_alarm <= TARGET_CPU_US_PER_ALARM,
            f"{result.cpu_us_per_alarm:.1f} us",
        ),
    ]


TABLE_HEADERS = [
    "client",
    "order",
    "alarms",
    "latency",
    "max_fetch",
    "runs",
    "requests (budget)",
    "wall",
    "floor",
    "ratio",
    "alarms/s",
    "CPU/alarm",
    "peak mem",
    "1.0.x anchor",
    "speed-up",
]


def table_row(r: FetchBenchResult) -> list[str]:
    ratio = f"{r.ratio:.3f}" if r.ratio is not None else "-"
    anchor = f"{r.anchor_s:,.0f} s" if r.anchor_s is not None else "-"
    speedup = f"{r.anchor_s / r.wall_s:,.0f}x" if r.anchor_s and r.wall_s else "-"
    return [
        r.client,
        r.order,
        f"{r.alarms:,}",
        f"{r.latency_ms:g} ms",
        str(r.max_fetch) if r.client == "ThreatMon.py" else "-",
        str(r.runs),
        f"{r.requests} ({r.request_budget})",
        f"{r.wall_s:.2f} s",
        f"{r.floor_s:.2f} s",
        ratio,
        f"{r.alarms_per_s:,.0f}",
        f"{r.cpu_us_per_alarm:.1f} us",
        f"{r.peak_bytes / 2**20:.1f} MiB" if r.peak_bytes else "-",
        anchor,
        speedup,
    ]


def markdown_table(rows: list[list[str]], headers: list[str]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
