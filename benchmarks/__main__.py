"""``make bench`` = ``python -m benchmarks``: the fetch benchmark of issue 4 (and the feed's line of issue 7).

    python -m benchmarks                       # 5000 alarms, 20 ms per request, both sort orders, + the feed
    python -m benchmarks --alarms 20000 --latency-ms 50 --max-fetch 1000 --order desc --no-feed

Prints a table (markdown, ready for the README) and PASS/FAIL per target; exits 1 when a target is missed.
A benchmark, not a test: nothing here runs under pytest. What is measured and how: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys

from benchmarks import bench_fetch
from runner.runtime import runtime_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="ThreatMon fetch (and feed) benchmark.")
    parser.add_argument("--alarms", type=int, default=5000, help="alarms to drain (default %(default)s)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="simulator latency per request (default %(default)s)")
    parser.add_argument(
        "--max-fetch", default="100,1000", help="the instance's max_fetch; several values comma-separated (default %(default)s)"
    )
    parser.add_argument("--order", choices=("asc", "desc", "both"), default="both", help="the API's sort order")
    parser.add_argument("--anchor-alarms", type=int, default=1000, help="N for the 1.0.x anchor run (extrapolated to --alarms)")
    parser.add_argument("--no-anchor", action="store_true", help="skip the 1.0.x anchor")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc drain")
    parser.add_argument("--no-feed", action="store_true", help="skip the feed benchmark")
    parser.add_argument("--feed-records", type=int, default=100_000, help="IOC records for the feed line")
    parser.add_argument("--runtime", default=None, help="official runtime folder (default: $XSOAR_RUNTIME_DIR, else stand-ins)")
    parser.add_argument("--no-reference", action="store_true", help="skip the bare requests loop (calibration)")
    ns = parser.parse_args(argv)
    try:
        max_fetches = [int(v) for v in str(ns.max_fetch).split(",") if v.strip()]
    except ValueError:
        parser.error("--max-fetch takes whole numbers, e.g. 100 or 100,1000")
    if ns.alarms < 1 or not max_fetches or min(max_fetches) < 1 or ns.latency_ms < 0:
        parser.error("--alarms and --max-fetch must be positive and --latency-ms not negative")
    if not bench_fetch.THREATMON.is_file():
        print(f"The ThreatMon integration is missing ({bench_fetch.THREATMON}).", file=sys.stderr)
        return 1

    runtime = ns.runtime or os.environ.get("XSOAR_RUNTIME_DIR") or None
    kind = "official files" if runtime else "stand-ins"
    print(f"ThreatMon fetch benchmark: {ns.alarms:,} alarms, {ns.latency_ms:g} ms per request, max_fetch {ns.max_fetch}")
    print(f"  Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPU(s); XSOAR runtime: {kind}")
    print(f"  ({runtime_dir(runtime)}); simulator in a separate process; client = this process.")
    speed = bench_fetch.machine_speed_ms()
    print(f"  Machine speed: sum(range(10**6)) takes {speed:.1f} ms here (a recent laptop: about 10-15 ms).", flush=True)
    bench_fetch.warm_up(runtime)

    anchor = None
    if not ns.no_anchor:
        anchor_n = min(ns.anchor_alarms, ns.alarms)
        measured_s, measured_n = bench_fetch.run_anchor(anchor_n, ns.latency_ms, "asc")
        anchor = bench_fetch.extrapolate_anchor(measured_s, measured_n, ns.alarms)
        how = "measured" if measured_n == ns.alarms else f"extrapolated per page from a real run on {measured_n:,} alarms"
        print(f"  1.0.x anchor: {anchor:,.0f} s ({how}; its one-second sleeps counted, not slept)", flush=True)

    orders = ("asc", "desc") if ns.order == "both" else (ns.order,)
    results = []
    for max_fetch in max_fetches:
        for order in orders:
            result = bench_fetch.run_fetch_benchmark(
                ns.alarms, ns.latency_ms, max_fetch, order, runtime, measure_memory=not ns.no_memory
            )
            result.anchor_s = anchor
            results.append(result)
            print(f"  {order}, max_fetch {max_fetch}: drained in {result.wall_s:.2f} s", flush=True)
    reference = None if ns.no_reference else bench_fetch.run_reference(ns.alarms, ns.latency_ms)

    rows = [bench_fetch.table_row(r) for r in results]
    if reference is not None:
        rows.append(bench_fetch.table_row(reference))
    print()
    print(bench_fetch.markdown_table(rows, bench_fetch.TABLE_HEADERS))
    print()
    if reference is not None:
        print(
            f"Calibration (not a target): a bare requests loop, with no XSOAR runtime and no incident work, needs "
            f"{reference.cpu_us_per_alarm:.0f} us CPU per alarm and {reference.ratio or 0:.3f} x the floor on this machine."
        )
        print()
    all_met = True
    for result in results:
        for target, met, measured in bench_fetch.checks(result):
            all_met &= met
            print(f"{'PASS' if met else 'FAIL'}  [{result.order}, max_fetch {result.max_fetch}] {target}: {measured}")

    if not ns.no_feed:
        feed_module = importlib.util.find_spec("benchmarks.bench_feed")
        feed_file = bench_fetch.REPO_ROOT / "Packs/ThreatMonThreatFeed/Integrations/ThreatMonThreatFeed/ThreatMonThreatFeed.py"
        if feed_module is None or not feed_file.is_file():
            print("\n(feed benchmark skipped: ThreatMonThreatFeed.py or benchmarks/bench_feed.py is not in the tree)")
        else:
            from benchmarks import bench_feed

            print(flush=True)
            feed = bench_feed.run_feed_benchmark(ns.feed_records, runtime)
            print("\n".join(bench_feed.feed_report(feed)))
            all_met &= bench_feed.feed_targets_met(feed)

    print()
    print("All targets met." if all_met else "Some targets were MISSED (see FAIL above).")
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
