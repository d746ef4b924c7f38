"""The bench's pure parts (benchmarks/report.py): its targets, verdict, table and chart, on made-up results.

Nothing is measured here: the numbers are chosen to sit on either side of each target.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from benchmarks import report
from benchmarks.report import BARE, FetchBenchResult

SVG = "{http://www.w3.org/2000/svg}"


def chart(results, title: str = "") -> ET.Element:
    return ET.fromstring(report.svg_chart(results, title))  # noqa: S314 - our own output, not untrusted data


def bare(order: str = "asc", wall_s: float = 11.0, cpu_s: float = 0.75, errors=()) -> FetchBenchResult:
    return FetchBenchResult(BARE, order, 5000, 20, None, 1, 501, wall_s, cpu_s, errors=list(errors))


def row(order="asc", max_fetch=1000, wall_s=12.0, cpu_s=1.0, requests=501, runs=6, errors=()) -> FetchBenchResult:
    return FetchBenchResult("ThreatMon.py", order, 5000, 20, max_fetch, runs, requests, wall_s, cpu_s, 2**20, list(errors))


def test_every_target_met_exits_0():
    checks = report.all_fetch_checks([bare(), row(), bare("desc"), row("desc", requests=506)])
    assert report.exit_code(checks) == 0
    assert report.verdict(checks) == f"All {len(checks)} targets met."


@pytest.mark.parametrize(
    ("changes", "target"),
    [
        ({"wall_s": 13.3}, "wall time <= 1.2 x the bare requests loop's"),
        ({"cpu_s": 1.2}, "CPU per alarm <= 1.5 x the bare requests loop's"),
        ({"requests": 507}, "requests <= pages + runs"),
        ({"errors": ["3 alarms ingested twice"]}, "every alarm exactly once"),
    ],
)
def test_a_row_that_misses_a_target_makes_the_exit_code_non_zero_and_is_named(changes, target):
    checks = report.all_fetch_checks([bare(), row(max_fetch=100), bare("desc"), row("desc", **changes)])
    assert report.exit_code(checks) == 1
    assert [(c.row, c.target) for c in report.missed(checks)] == [("ThreatMon.py desc max_fetch=1000", target)]
    assert f"MISSED  ThreatMon.py desc max_fetch=1000: {target}:" in report.verdict(checks)


@pytest.mark.parametrize(("max_fetch", "cpu_is_a_target"), [(100, False), (999, False), (1000, True)])
def test_cpu_per_alarm_is_a_target_from_max_fetch_1000_and_only_reported_below(max_fetch, cpu_is_a_target):
    checks = report.fetch_checks(row(max_fetch=max_fetch, cpu_s=3.0), bare())
    assert any(c.short == "CPU" for c in checks) is cpu_is_a_target
    assert report.exit_code(checks) == int(cpu_is_a_target)


def test_each_row_is_compared_with_the_bare_loop_of_its_own_order():
    results = [bare("asc", wall_s=9.0), bare("desc", wall_s=12.0), row("asc", wall_s=11.5), row("desc", wall_s=11.5)]
    assert [c.row for c in report.missed(report.all_fetch_checks(results))] == ["ThreatMon.py asc max_fetch=1000"]


def test_a_row_without_a_bare_loop_of_its_order_misses():
    missed = report.missed(report.all_fetch_checks([bare("asc"), row("desc")]))
    assert [(c.row, c.measured) for c in missed] == [("ThreatMon.py desc max_fetch=1000", f"no {BARE} measured for order desc")]


def test_a_bare_loop_that_lost_alarms_misses():
    missed = report.missed(report.all_fetch_checks([bare(errors=["4990 distinct of 5000 alarms"]), row()]))
    assert [c.row for c in missed] == [f"{BARE} asc"]


def test_best_of_rounds_keeps_the_least_time_and_every_problem():
    best = report.best_of([row(wall_s=12.5, cpu_s=0.9), row(wall_s=11.9, cpu_s=1.1, requests=502, errors=["x"])])
    assert (best.wall_s, best.cpu_s, best.requests, best.errors) == (11.9, 0.9, 502, ["x"])


def test_best_of_rounds_with_the_same_slices_keeps_each_slices_least_cpu():
    rounds = [row(cpu_s=0.9), row(cpu_s=0.8)]
    rounds[0].cpu_slices, rounds[1].cpu_slices = [0.2, 0.3, 0.4], [0.5, 0.1, 0.2]  # a slow second, then a slow first
    best = report.best_of(rounds)
    assert best.cpu_slices == [0.2, 0.1, 0.2]
    assert best.cpu_s == pytest.approx(0.5)  # less than either round's whole drain


def test_best_of_rounds_cut_differently_keeps_the_least_whole_drain():
    rounds = [row(cpu_s=0.9), row(cpu_s=0.8), row(cpu_s=1.0)]
    rounds[0].cpu_slices, rounds[1].cpu_slices = [0.4, 0.5], [0.3, 0.3, 0.2]  # one more request: not the same drain
    best = report.best_of(rounds)
    assert (best.cpu_s, best.cpu_slices) == (0.8, [])


def test_best_of_no_rounds_is_refused():
    with pytest.raises(ValueError, match="no rounds"):
        report.best_of([])


@pytest.mark.parametrize(("alarms", "latency_ms", "seconds"), [(5000, 20, 500 + 501 * 0.02), (5005, 0, 500), (7, 50, 0.05)])
def test_the_1_0_x_estimate_is_a_second_per_full_page_plus_every_round_trip(alarms, latency_ms, seconds):
    assert report.legacy_estimate_s(alarms, latency_ms) == pytest.approx(seconds)


def test_table_rows_compare_with_the_bare_loop_and_name_what_was_missed():
    rows = report.table_rows([bare(), row(max_fetch=100, wall_s=14.0, cpu_s=3.0)])
    assert rows[0][report.TABLE_HEADERS.index("wall / bare")] == "-"
    assert rows[1][report.TABLE_HEADERS.index("wall / bare")] == "1.27x"
    assert rows[1][report.TABLE_HEADERS.index("CPU / bare")] == "4.00x"
    assert rows[1][-1] == "MISSED: wall"  # CPU is only reported at max_fetch 100


def test_markdown_table_has_a_header_a_rule_and_a_line_per_row():
    table = report.markdown_table(report.table_rows([bare(), row()]), report.TABLE_HEADERS)
    lines = table.splitlines()
    assert len(lines) == 4
    assert {line.count("|") for line in lines} == {len(report.TABLE_HEADERS) + 1}


def test_svg_chart_is_xml_with_one_bar_floor_and_label_per_row_and_a_limit_per_contender():
    results = [bare(), row(max_fetch=100), row(), bare("desc"), row("desc", wall_s=14.0)]
    root = chart(results, title="a < b & c")
    assert root.tag == f"{SVG}svg"
    bars = [e for e in root.iter(f"{SVG}rect") if e.get("class") == "bar"]
    assert [bar.findtext(f"{SVG}title").split(":")[0] for bar in bars] == [r.label for r in results]
    assert len([e for e in root.iter(f"{SVG}line") if e.get("class") == "floor"]) == len(results)
    assert len([e for e in root.iter(f"{SVG}line") if e.get("class") == "limit"]) == 3
    assert [bar.get("fill") for bar in bars] == ["#9e9e9e", "#4caf50", "#4caf50", "#9e9e9e", "#e53935"]
    assert "a < b & c" in [t.text for t in root.iter(f"{SVG}text")]


def test_svg_bars_are_as_long_as_their_wall_time():
    root = chart([bare(wall_s=10.0), row(wall_s=12.0)])
    widths = [float(e.get("width")) for e in root.iter(f"{SVG}rect") if e.get("class") == "bar"]
    assert widths[1] / widths[0] == pytest.approx(1.2, rel=1e-3)  # drawn to a tenth of a pixel
