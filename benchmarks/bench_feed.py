"""The feed benchmark: ThreatMon's daily IOC list of 100,000 records -> XSOAR indicators.

    python -m benchmarks.bench_feed [--records 100000] [--runtime DIR]

What runs: the simulator in a SEPARATE process (so the CPU time and memory measured are the feed's alone)
serves the daily list; ThreatMonThreatFeed's fetch-indicators runs once through the local runner (in this process):
the HTTP request, JSON parsing, typing and checking every record, building the indicators and handing them to
demisto.createIndicators in batches of 2000.

Two identical runs, each from an empty lastRun: the first is timed (wall and process CPU); the second runs under
tracemalloc for the peak memory (tracemalloc slows Python down, so it is kept out of the timed run). Before them
one request warms the simulator up (it makes and caches its list on first use), so its work is not counted.

For benchmarks/__main__.py: ``run_feed_benchmark()`` returns a :class:`FeedBenchResult`; ``feed_report(result)``
gives the printable lines (PASS/FAIL per target) and ``feed_targets_met(result)`` the verdict.
A benchmark, not a timed test: nothing here is asserted in pytest.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import requests

from runner import IntegrationRunner

REPO_ROOT = Path(__file__).resolve().parent.parent
FEED = REPO_ROOT / "Packs/ThreatMonThreatFeed/Integrations/ThreatMonThreatFeed/ThreatMonThreatFeed.py"
DEFAULT_RECORDS = 100_000
MAX_RECORDS = 100_000  # the feed's own limit on records per fetch

# Targets. Speed: at least this many indicators per second of wall time, and at most this much process CPU
# per record (HTTP, JSON, typing, checking, building). Lean: the run's peak of Python memory at most this many
# times the floor, the memory the parsed answer alone takes (json.loads of the same bytes; any client that
# reads this API with requests holds that much). Generous for slow CI machines; typical results are in
# the feed's README.
TARGET_INDICATORS_PER_S = 2_000  # a 100,000-record list in under a minute, even on a slow shared CI machine
TARGET_CPU_US_PER_RECORD = 200
TARGET_PEAK_OVER_FLOOR = 2.0


@dataclass
class FeedBenchResult:
    records: int
    answer_bytes: int
    floor_bytes: int  # Python memory of the parsed answer alone
    indicators: int
    batches: int
    largest_batch: int
    wall_s: float
    cpu_s: float
    peak_bytes: int
    summary: str  # the feed's own one-line debug summary of the run

    @property
    def indicators_per_s(self) -> float:
        return self.indicators / self.wall_s if self.wall_s else 0.0

    @property
    def records_per_s(self) -> float:
        return self.records / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_us_per_record(self) -> float:
        return self.cpu_s * 1e6 / self.records if self.records else 0.0

    @property
    def peak_over_floor(self) -> float:
        return self.peak_bytes / self.floor_bytes if self.floor_bytes else 0.0


def _start_simulator(records: int) -> tuple[subprocess.Popen, dict]:
    command = [sys.executable, "-m", "simulator", "--json", "--port", "0", "--iocs", str(records), "--idle-timeout", "120"]
    proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # noqa: S603
    line = proc.stdout.readline() if proc.stdout else ""
    if not line:
        proc.kill()
        proc.wait()
        raise RuntimeError("the simulator did not start")
    return proc, json.loads(line)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _parsed_size(body: bytes) -> int:
    """Peak Python memory of parsing the answer (text and objects), the floor of any client."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        parsed = json.loads(body)
        peak = tracemalloc.get_traced_memory()[1] - base
        del parsed
    finally:
        tracemalloc.stop()
    return peak


def run_feed_benchmark(records: int = DEFAULT_RECORDS, runtime: str | None = None) -> FeedBenchResult:
    if not 1 <= records <= MAX_RECORDS:
        raise ValueError(f"records must be from 1 to {MAX_RECORDS} (the feed's limit per fetch)")
    proc, info = _start_simulator(records)
    try:
        query = {"api_token": info["ioc_token"], "data_type": "all", "size": records}
        warm = requests.get(f"{info['ioc_url']}/api/daily-ioc-details/", params=query, timeout=600)
        warm.raise_for_status()
        answer_bytes = len(warm.content)
        floor_bytes = _parsed_size(warm.content)
        del warm
        params = {
            "url": info["ioc_url"],
            "credentials": {"identifier": "", "password": info["ioc_token"]},
            "data_type": "all",
            "limit": str(records),
            "feedTags": "bench",
            "tlp_color": "AMBER",
            "feedReliability": "B - Usually reliable",
            "feedIncremental": True,
        }

        # keep_indicators=False: only the size of each createIndicators batch is kept, as the server keeps nothing
        timed = IntegrationRunner(FEED, params, runtime=runtime, keep_indicators=False)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        result = timed.run("fetch-indicators")
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        if not result.ok:
            raise RuntimeError(f"fetch-indicators failed: {result.error}")
        summary = next((text for level, text in result.logs if "records received" in text), "")
        batch_sizes = result.indicator_batches
        del result

        measured = IntegrationRunner(FEED, params, runtime=runtime, keep_indicators=False)
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            again = measured.run("fetch-indicators")
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        if not again.ok:
            raise RuntimeError(f"fetch-indicators failed: {again.error}")
    finally:
        _stop(proc)
    return FeedBenchResult(
        records=records,
        answer_bytes=answer_bytes,
        floor_bytes=floor_bytes,
        indicators=sum(batch_sizes),
        batches=len(batch_sizes),
        largest_batch=max(batch_sizes, default=0),
        wall_s=wall,
        cpu_s=cpu,
        peak_bytes=peak,
        summary=summary,
    )


def feed_checks(result: FeedBenchResult) -> list[tuple[str, bool, str]]:
    """(target, met, measured) for each target."""
    return [
        (
            f">= {TARGET_INDICATORS_PER_S:,} indicators/s",
            result.indicators_per_s >= TARGET_INDICATORS_PER_S,
            f"{result.indicators_per_s:,.0f}",
        ),
        (
            f"<= {TARGET_CPU_US_PER_RECORD} us CPU per record",
            result.cpu_us_per_record <= TARGET_CPU_US_PER_RECORD,
            f"{result.cpu_us_per_record:,.0f}",
        ),
        (
            f"peak memory <= {TARGET_PEAK_OVER_FLOOR:g}x the parsed answer",
            result.peak_over_floor <= TARGET_PEAK_OVER_FLOOR,
            f"{result.peak_over_floor:.2f}x",
        ),
        (
            "batches of at most 2000",
            0 < result.largest_batch <= 2000,
            f"{result.batches} batches, largest {result.largest_batch}",
        ),
    ]


def feed_targets_met(result: FeedBenchResult) -> bool:
    return all(met for _, met, _ in feed_checks(result))


def feed_report(result: FeedBenchResult) -> list[str]:
    mb = 1024 * 1024
    lines = [
        f"Feed: {result.records:,} IOC records -> indicators (fetch-indicators through the runner; simulator in another process)",
        f"  answer                 {result.answer_bytes / mb:,.1f} MB of JSON",
        f"  indicators created     {result.indicators:,} in {result.batches} batches "
        f"({result.records - result.indicators:,} records skipped as malformed/unknown or merged)",
        f"  wall time              {result.wall_s:,.2f} s ({result.records_per_s:,.0f} records/s)",
        f"  indicators per second  {result.indicators_per_s:,.0f}",
        f"  CPU per record         {result.cpu_us_per_record:,.1f} us",
        f"  peak memory            {result.peak_bytes / mb:,.1f} MB (tracemalloc, second run); "
        f"parsing the answer alone: {result.floor_bytes / mb:,.1f} MB",
    ]
    lines += [f"  {'PASS' if met else 'FAIL'}  {target}: {measured}" for target, met, measured in feed_checks(result)]
    if result.summary:
        lines.append(f"  feed's own summary: {result.summary}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_feed", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=DEFAULT_RECORDS, help="records in the daily list (default %(default)s)")
    parser.add_argument("--runtime", default=None, help="folder of the XSOAR runtime (default: as the tests choose)")
    ns = parser.parse_args(argv)
    if not 1 <= ns.records <= MAX_RECORDS:
        parser.error(f"--records must be from 1 to {MAX_RECORDS}")
    result = run_feed_benchmark(ns.records, ns.runtime)
    print("\n".join(feed_report(result)))
    return 0 if feed_targets_met(result) else 1


if __name__ == "__main__":
    sys.exit(main())
