"""The Alarm Handling playbook closes each verdict with the close reasons of the marketplace it is installed on.

Cortex XSOAR closes incidents as Resolved, False Positive, Duplicate or Other; Cortex XSIAM and the Cortex platform
close alerts as "Resolved - True Positive", "Resolved - False Positive", "Resolved - Duplicate Issue" and so on. The
playbook's close tasks hold the XSOAR reason under `closeReason` and the other one under `closeReason:marketplacev2`
and `closeReason:platform`; demisto-sdk keeps only the key of the marketplace it prepares the pack for.

The playbook is prepared here by the real `demisto-sdk prepare-content` for every marketplace the pack ships to, and
each verdict's close reason is passed through the integration's own outgoing-mirroring rule (close_reason_to_status):
it must give back exactly the ThreatMon status the analyst chose, so mirroring never contradicts the verdict.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import content_wiring as wiring
import pytest
import yaml
from ThreatMon import close_reason_to_status

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "Packs" / "ThreatMon"
PLAYBOOK = PACK / "Playbooks" / "playbook-ThreatMon_-_Alarm_Handling.yml"
SDK = Path(sys.executable).parent / "demisto-sdk"
# The close reasons each product offers out of the box.
CLOSE_REASONS = {
    "xsoar": {"Resolved", "False Positive", "Duplicate", "Other"},
    "cortex": {
        "Resolved - True Positive",
        "Resolved - False Positive",
        "Resolved - Duplicate Issue",
        "Resolved - Known Issue",
        "Resolved - Security Testing",
        "Resolved - Dismissed",
        "Resolved - Other",
    },
}
VOCABULARY = {"xsoar": "xsoar", "marketplacev2": "cortex", "platform": "cortex"}
MARKETPLACES = tuple(VOCABULARY)


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """marketplace -> the playbook as `demisto-sdk prepare-content -mp <marketplace>` writes it (the runs in parallel)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("COV_CORE_")}
    env["DEMISTO_SDK_IGNORE_CONTENT_WARNING"] = "1"
    runs = {}
    for marketplace in MARKETPLACES:
        out = tmp_path_factory.mktemp(marketplace)
        command = [str(SDK), "prepare-content", "-i", str(PLAYBOOK), "-mp", marketplace, "-o", str(out)]
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        runs[marketplace] = (out, process)
    playbooks = {}
    for marketplace, (out, process) in runs.items():
        output, _ = process.communicate(timeout=300)
        written = out / PLAYBOOK.name
        assert written.is_file(), f"prepare-content -mp {marketplace} wrote no {PLAYBOOK.name}:\n{output}"
        playbooks[marketplace] = load(written)
    return playbooks


def close_reason_by_verdict(playbook: dict[str, Any]) -> dict[str, str | None]:
    """verdict -> the closeReason of the closeInvestigation task on that verdict's branch (every path checked)."""
    tasks = playbook["tasks"]
    (verdict_key,) = [
        key
        for key, task in tasks.items()
        if wiring.is_manual_condition(task) and set(task.get("nexttasks") or {}) == set(wiring.VERDICTS)
    ]
    reasons: dict[str, set[str | None]] = {}
    for path in wiring.walk(playbook):
        verdict = next(label for key, label in path if key == verdict_key)
        (close_key,) = [key for key, _label in path if (wiring.task_command(tasks[key]) or ("", ""))[1] == "closeInvestigation"]
        reason = wiring.simple_value((tasks[close_key].get("scriptarguments") or {}).get("closeReason"))
        reasons.setdefault(str(verdict), set()).add(reason)
    assert all(len(found) == 1 for found in reasons.values()), reasons
    return {verdict: found.pop() for verdict, found in reasons.items()}


def test_the_pack_and_the_playbook_ship_to_exactly_the_marketplaces_tested():
    metadata = json.loads((PACK / "pack_metadata.json").read_text(encoding="utf-8"))
    assert sorted(metadata["marketplaces"]) == sorted(MARKETPLACES)
    assert sorted(load(PLAYBOOK)["marketplaces"]) == sorted(MARKETPLACES)


@pytest.mark.parametrize("marketplace", MARKETPLACES)
def test_every_verdict_closes_with_a_reason_that_mirrors_back_to_that_verdict(prepared, marketplace):
    reasons = close_reason_by_verdict(prepared[marketplace])
    assert sorted(reasons) == sorted(wiring.VERDICTS)
    assert {verdict: close_reason_to_status(reason) for verdict, reason in reasons.items()} == {
        verdict: verdict for verdict in wiring.VERDICTS
    }


@pytest.mark.parametrize("marketplace", MARKETPLACES)
def test_every_close_reason_is_one_the_marketplace_offers(prepared, marketplace):
    reasons = set(close_reason_by_verdict(prepared[marketplace]).values())
    assert reasons <= CLOSE_REASONS[VOCABULARY[marketplace]], reasons - CLOSE_REASONS[VOCABULARY[marketplace]]


@pytest.mark.parametrize(
    ("marketplace", "expected"),
    [
        ("xsoar", {"Resolved": "Resolved", "False Positive": "False Positive", "Ignore": "Duplicate"}),
        (
            "marketplacev2",
            {
                "Resolved": "Resolved - True Positive",
                "False Positive": "Resolved - False Positive",
                "Ignore": "Resolved - Duplicate Issue",
            },
        ),
        (
            "platform",
            {
                "Resolved": "Resolved - True Positive",
                "False Positive": "Resolved - False Positive",
                "Ignore": "Resolved - Duplicate Issue",
            },
        ),
    ],
)
def test_the_close_reasons_per_marketplace(prepared, marketplace, expected):
    assert close_reason_by_verdict(prepared[marketplace]) == expected


@pytest.mark.parametrize("marketplace", MARKETPLACES)
def test_no_marketplace_suffix_is_left_in_the_prepared_playbook(prepared, marketplace):
    def keys(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [str(key) for key in node] + [key for value in node.values() for key in keys(value)]
        if isinstance(node, list):
            return [key for item in node for key in keys(item)]
        return []

    suffixed = [key for key in keys(prepared[marketplace]) if any(key.endswith(f":{mp}") for mp in MARKETPLACES)]
    assert suffixed == []


def test_the_source_playbook_keeps_the_xsoar_reasons_and_a_variant_for_each_cortex_marketplace():
    """The yml as written (what an XSOAR user imports unprepared) carries the XSOAR reasons; each close task has
    one variant for marketplacev2 and one for platform, never only one of the two."""
    closes = [
        task for task in load(PLAYBOOK)["tasks"].values() if (wiring.task_command(task) or ("", ""))[1] == "closeInvestigation"
    ]
    assert len(closes) == len(wiring.VERDICTS)
    for task in closes:
        arguments = task["scriptarguments"]
        assert wiring.simple_value(arguments["closeReason"]) in CLOSE_REASONS["xsoar"]
        assert wiring.simple_value(arguments["closeReason:marketplacev2"]) == wiring.simple_value(
            arguments["closeReason:platform"]
        )
