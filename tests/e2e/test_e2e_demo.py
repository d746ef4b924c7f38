"""`make demo` as a reader sees it: every line within 100 columns, the close that ThreatMon follows, and the
feed's scores as its README states them. One demo run serves every test here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from runner.display import table

REPO_ROOT = Path(__file__).resolve().parents[2]
FEED_README = REPO_ROOT / "Packs/ThreatMonThreatFeed/Integrations/ThreatMonThreatFeed/README.md"
WIDTH = 100


@pytest.fixture(scope="module")
def demo() -> str:
    env = {k: v for k, v in os.environ.items() if k != "XSOAR_RUNTIME_DIR"}  # as `make demo` runs it
    done = subprocess.run(
        [sys.executable, "-m", "runner.demo"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def section(demo: str, title: str) -> str:
    """The text of the demo step whose heading contains ``title``."""
    steps = [step.strip("\n") for step in re.split(r"\n(?=\d+\. )", demo) if step.strip()]
    return next(step for step in steps if title in step.splitlines()[0])


def rows_under(text: str, header: str) -> list[list[str]]:
    """The rows of the table whose header line starts with ``header``, read by the columns of its rule line
    (a wrapped cell's lines joined); the table ends at the first line that does not fit its columns."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(header))
    starts = [m.start() for m in re.finditer(r"-+", lines[start + 1])]

    def fits(line: str) -> bool:
        return line[: starts[0]].strip() == "" and all(len(line) < s or line[s - 2 : s] == "  " for s in starts[1:])

    def cells(line: str) -> list[str]:
        return [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]

    rows: list[list[str]] = []
    body = lines[start + 2 :]
    for number, line in enumerate(body):
        if not line.strip():
            following = body[number + 1] if number + 1 < len(body) else ""
            if following.strip() and fits(following) and cells(following)[0]:
                continue
            break
        if not fits(line):
            break
        row = cells(line)
        if row[0] or not rows:
            rows.append(row)
        else:
            rows[-1] = [" ".join(filter(None, pair)) for pair in zip(rows[-1], row, strict=True)]
    return rows


def test_no_line_of_the_demo_is_wider_than_100_columns(demo):
    wide = [line for line in demo.splitlines() if len(line) > WIDTH]
    assert wide == []


def test_the_wide_tables_wrap_instead_of_losing_text(demo):
    cves = section(demo, "threatmon_list_cves")
    assert "…" not in demo  # nothing is cut
    # the CVE table is too wide for its eleven columns side by side: it goes on below, CVE ids repeated
    assert [line.split()[0] for line in cves.splitlines() if line.strip().startswith("CVE ")] == ["CVE", "CVE"] * 2


def test_closing_an_incident_sets_the_alarm_status_through_outgoing_mirroring(demo):
    step = section(demo, "Close an incident")
    assert "update-remote-system" in step.splitlines()[0]
    (row,) = rows_under(step, "Alarm Code")
    assert row[1:3] == ["Open", "False Positive"]
    assert "sends nothing: 1 status change reached ThreatMon." in " ".join(step.split())
    listed = section(demo, "threatmon_list_alarms")
    assert any(r[0] == row[0] and r[2] == "False Positive" for r in rows_under(listed, "Alarm Code"))


def test_an_alarm_answered_in_threatmon_closes_its_incident_through_incoming_mirroring(demo):
    step = section(demo, "its incident follows (incoming mirroring)")
    target = re.search(r"alarm (\d+) is now False Positive", step).group(1)
    cycles = rows_under(step, "cycle")
    assert cycles and all(int(row[1]) <= 5 for row in cycles)  # the budget: Maximum list requests per mirroring cycle
    assert target in cycles[-1][2].split(", ")
    assert f"get-remote-data {target} closes the incident: reason 'False Positive'," in step


def readme_severity_scores() -> dict[str, int]:
    """The feed README's rule for an instance without Indicator Reputation, e.g. "Critical or High is Bad (3)"."""
    text = " ".join(FEED_README.read_text(encoding="utf-8").split())
    statement = re.search(r"when it is empty, ThreatMon's severity: ([^|]+)\|", text).group(1)
    scores = {}
    for words, score in re.findall(r"((?:[A-Z][a-z]+(?: or )?)+) is \w+ \((\d)\)", statement):
        for word in words.split(" or "):
            scores[word.lower()] = int(score)
    assert scores, statement
    return scores


def test_the_feed_scores_follow_the_severity_as_its_readme_says(demo):
    rule = readme_severity_scores()
    assert rule == {"critical": 3, "high": 3, "medium": 2, "low": 2}
    feed = section(demo, "daily indicators")
    verdicts = rows_under(feed, "ThreatMon severity")
    assert {severity for severity, _, _ in verdicts} == set(rule)
    for severity, verdict, _count in verdicts:
        assert verdict.endswith(f"({rule[severity]})")
    sample = rows_under(feed, "Value")  # threatmon-get-indicators: Value, Type, Score, Severity, ...
    assert sample and all(int(row[2]) == rule[row[3]] for row in sample if len(row) > 3)


# -- the table itself ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [40, 60, 96, 100])
def test_a_table_never_passes_its_width_and_keeps_every_word(width):
    headers = ["CVE", "Summary", "CVSS v3.1", "Vendors", "Updated"]
    rows = [
        ["CVE-2024-0001", "A long summary " * 12, "9.8", "Acme Networks: AcmeOS; Hooli: HooliChat", "2024-05-31T06:00:00Z"],
        ["CVE-2024-0002", "short", "", "https://very-long-host-name-without-any-space.example.com/path", "2024-01-01T00:00:00Z"],
    ]
    text = table(rows, headers, width)
    assert max(len(line) for line in text.splitlines()) <= width
    # nothing is lost (a word longer than its column breaks, and a table that goes on below repeats its first
    # column, so compare the characters: every one of the input is there)
    shown = Counter("".join(text.split()).replace("-", ""))
    given = Counter("".join(" ".join(headers + [c for r in rows for c in r]).split()).replace("-", ""))
    assert not given - shown


def test_a_table_that_fits_is_one_line_per_row():
    assert table([["1", "short"], ["12345", "a | pipe"]], ["Code", "Title"]).splitlines() == [
        "Code   Title",
        "-----  --------",
        "1      short",
        "12345  a | pipe",
    ]


def test_a_long_cell_wraps_in_its_column_and_rows_are_set_apart():
    text = table([["1", "one two three four five six"], ["2", "x"]], ["Code", "Title"], max_total=20)
    assert text.splitlines() == [
        "Code  Title",
        "----  --------------",
        "1     one two three",
        "      four five six",
        "",
        "2     x",
    ]


def test_a_table_too_wide_goes_on_below_with_its_first_column():
    headers = ["Key", "Alpha", "Beta", "Gamma"]
    text = table([["k1", "a" * 18, "b" * 18, "c" * 18]], headers, max_total=48)
    blocks = text.split("\n\n")
    assert [block.splitlines()[0].split() for block in blocks] == [["Key", "Alpha", "Beta"], ["Key", "Gamma"]]
    assert all(block.splitlines()[2].startswith("k1") for block in blocks)
