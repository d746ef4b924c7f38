"""``make bench`` = ``python -m benchmarks``: the alarm fetch against a bare ``requests`` loop, and the feed.

    python -m benchmarks                       # 5000 alarms, 20 ms per request, both orders, max_fetch 100 and 1000,
                                               # each row's best of seven rounds
    python -m benchmarks --rounds 11           # best of eleven, for a busy machine
    python -m benchmarks --alarms 20000 --latency-ms 50 --max-fetch 1000 --order desc --no-feed

Shows progress on stderr, prints the table and a PASS/FAIL line per target, writes the table to build/bench/bench.md
and the chart (wall time against the floor per row) to build/bench/bench.svg (build/bench/ is the bench's own folder:
`make zip` leaves it alone); exits 0 when every target holds, 1
naming each row that missed one. A benchmark, not a test: what is measured and how, benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks import bench_feed, bench_fetch, report
from benchmarks.report import BARE, Check, FetchBenchResult
from runner.runtime import runtime_dir


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="ThreatMon fetch and feed benchmark.")
    parser.add_argument("--alarms", type=int, default=5000, help="alarms to drain (default %(default)s)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="simulator latency per request (default %(default)s)")
    parser.add_argument(
        "--max-fetch", default="100,1000", help="the instance's max_fetch; several values comma-separated (default %(default)s)"
    )
    parser.add_argument("--order", choices=("asc", "desc", "both"), default="both", help="the API's sort order")
    parser.add_argument(
        "--rounds", type=int, default=7, help="measure every row this many times, keep the best (default %(default)s)"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc drain of each row")
    parser.add_argument("--no-feed", action="store_true", help="skip the feed benchmark")
    parser.add_argument("--feed-records", type=int, default=bench_feed.DEFAULT_RECORDS, help="IOC records for the feed")
    parser.add_argument("--runtime", default=None, help="official runtime folder (default: $XSOAR_RUNTIME_DIR, else stand-ins)")
    parser.add_argument("--out", default=str(bench_fetch.REPO_ROOT / "build" / "bench"), help="folder for bench.md and bench.svg")
    ns = parser.parse_args(argv)
    try:
        ns.max_fetches = [int(v) for v in str(ns.max_fetch).split(",") if v.strip()]
    except ValueError:
        parser.error("--max-fetch takes whole numbers, e.g. 100 or 100,1000")
    if ns.alarms < 1 or not ns.max_fetches or min(ns.max_fetches) < 1 or ns.latency_ms < 0 or ns.rounds < 1:
        parser.error("--alarms, --max-fetch and --rounds must be positive and --latency-ms not negative")
    if not ns.no_feed and not 1 <= ns.feed_records <= bench_feed.MAX_RECORDS:
        parser.error(f"--feed-records must be from 1 to {bench_feed.MAX_RECORDS}")
    return ns


def _steps(ns: argparse.Namespace, runtime: str | None) -> list[tuple[str, Callable[[bool], FetchBenchResult]]]:
    """The rows in the order they run: per sort order, the bare loop first, then ThreatMon.py at each max_fetch. Each
    step takes whether to measure memory too (the first round does; the others only time)."""
    steps = []
    for order in ("asc", "desc") if ns.order == "both" else (ns.order,):
        steps.append((f"{BARE} {order}", lambda _memory, order=order: bench_fetch.run_bare_loop(ns.alarms, ns.latency_ms, order)))
        for max_fetch in ns.max_fetches:
            steps.append(
                (
                    f"ThreatMon.py {order} max_fetch={max_fetch}",
                    lambda memory, order=order, max_fetch=max_fetch: bench_fetch.run_fetch_benchmark(
                        ns.alarms, ns.latency_ms, max_fetch, order, runtime, measure_memory=memory and not ns.no_memory
                    ),
                )
            )
    return steps


def _progress(text: str, end: str = "\n") -> None:
    print(text, end=end, file=sys.stderr, flush=True)


def _document(ns, machine: str, loads: tuple[str, str], speed_ms: float, kind: str, results, checks, feed) -> str:
    """build/bench/bench.md: the machine, the workload, the table, the chart, every target's verdict, the feed."""
    full_pages = ns.alarms // report.PAGE_SIZE
    legacy = report.legacy_estimate_s(ns.alarms, ns.latency_ms)
    slowest = max(r.wall_s for r in results if r.max_fetch is not None)
    lines = [
        "# ThreatMon bench (`make bench`)",
        "",
        f"- Machine: {machine}; load average (1 / 5 / 15 min) {loads[0]} at the start, {loads[1]} at the end.",
        f"- Speed: `sum(range(10**6))` takes {speed_ms:.1f} ms here (a recent laptop: about 10-15 ms).",
        f"- Workload: {ns.alarms:,} alarms ({results[0].pages:,} pages of {report.PAGE_SIZE}), {ns.latency_ms:g} ms per request "
        f"(round-trip floor {results[0].floor_s:.2f} s); XSOAR runtime: {kind}; best of {ns.rounds} round(s) per row.",
        "",
        report.markdown_table(report.table_rows(results), report.TABLE_HEADERS),
        "",
        "![Wall time against the floor per row](bench.svg)",
        "",
        f"The 1.0.x pack, estimated rather than run (it paused one second after every full page): {full_pages:,} pages x 1 s "
        f"+ {full_pages + 1:,} requests x {ns.latency_ms:g} ms = {legacy:,.0f} s, "
        f"{legacy / slowest:,.0f}x the slowest row here.",
        "",
        "## Targets",
        "",
        *(f"- {c.line()}" for c in checks),
    ]
    if feed is not None:
        lines += ["", "## Feed", "", "```", *bench_feed.feed_report(feed), "```"]
    lines += ["", report.verdict(checks)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ns = _parse(argv)
    runtime = ns.runtime or os.environ.get("XSOAR_RUNTIME_DIR") or None
    kind = f"official files ({runtime_dir(runtime)})" if runtime else "stand-ins (xsoar_runtime/)"
    machine, load_start = bench_fetch.machine_description(), bench_fetch.load_average()
    speed_ms = bench_fetch.machine_speed_ms()
    print(f"ThreatMon bench: {ns.alarms:,} alarms, {ns.latency_ms:g} ms per request; XSOAR runtime: {kind}")
    print(f"  Machine: {machine}, load average {load_start}; sum(range(10**6)) takes {speed_ms:.1f} ms.", flush=True)

    steps = _steps(ns, runtime)
    total = len(steps) * ns.rounds + (0 if ns.no_feed else 1)
    _progress(f"[0/{total}] warm-up (not measured) ...", end="")
    bench_fetch.warm_up(runtime)
    _progress(" done")
    measured: dict[str, list[FetchBenchResult]] = {label: [] for label, _ in steps}
    done = 0
    for round_no in range(1, ns.rounds + 1):
        # Every other round runs the rows in reverse order: a row does not always run right after the same one.
        for label, run in steps if round_no % 2 else steps[::-1]:
            done += 1
            suffix = f" (round {round_no}/{ns.rounds})" if ns.rounds > 1 else ""
            _progress(f"[{done}/{total}] {label}{suffix} ...", end="")
            result = run(round_no == 1)
            measured[label].append(result)
            _progress(f" {result.wall_s:.2f} s, {result.cpu_us_per_alarm:.0f} us CPU per alarm")
    results = [report.best_of(rounds) for rounds in measured.values()]
    checks = report.all_fetch_checks(results)

    feed = None
    if not ns.no_feed:
        _progress(f"[{total}/{total}] feed {ns.feed_records:,} records ...", end="")
        feed = bench_feed.run_feed_benchmark(ns.feed_records, runtime)
        _progress(f" {feed.wall_s:.2f} s")
        row = f"feed {ns.feed_records:,} records"
        checks += [Check(row, target, met, measured) for target, met, measured in bench_feed.feed_checks(feed)]

    document = _document(ns, machine, (load_start, bench_fetch.load_average()), speed_ms, kind, results, checks, feed)
    out = Path(ns.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.md").write_text(document)
    title = f"Wall time against the floor: {ns.alarms:,} alarms, {ns.latency_ms:g} ms per request"
    (out / "bench.svg").write_text(report.svg_chart(results, title))

    print()
    print(report.markdown_table(report.table_rows(results), report.TABLE_HEADERS))
    print()
    print("\n".join(c.line() for c in checks))
    if feed is not None:
        print()
        print("\n".join(bench_feed.feed_report(feed)))
    print()
    print(f"Wrote {out / 'bench.md'} and {out / 'bench.svg'}.")
    print(report.verdict(checks))
    if report.exit_code(checks):
        print(
            f"(load average {bench_fetch.load_average()} on {os.cpu_count()} CPU(s): other work slows the rows more than "
            "their bare loops; `--rounds 11` keeps each row's best of eleven.)"
        )
    return report.exit_code(checks)


if __name__ == "__main__":
    sys.exit(main())
