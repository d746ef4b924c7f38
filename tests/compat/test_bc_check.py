"""bc_check.py (``make bc``) fails on every BC break demisto-sdk finds against the 1.x packs, waives only a
declared BC106, and leaves no throwaway repository behind.

Two tests run demisto-sdk for real (a few seconds each) on copies of the 1.x baseline: one with a break of
each kind, one with an upgrade that keeps the contract. The rest test the judging without demisto-sdk.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import bc_check
import compat_contract as compat
import pytest
import yaml

CONTRACT = compat.load_contract()
ALARM = "Packs/ThreatMon/Integrations/ThreatMon/ThreatMon.yml"
FEED = "Packs/ThreatMonThreatFeed/Integrations/ThreatMonThreatFeed/ThreatMonThreatFeed.yml"
# Left out of bc_validation_config.toml on purpose (the file says why).
NOT_SELECTED = {"BC117"}


def edit_yml(root: Path, relative: str, change) -> None:
    path = root / relative
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def edit_json(root: Path, relative: str, change) -> None:
    path = root / relative
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def declare_fromversion(root: Path, version: str) -> None:
    notes = root / "Packs/ThreatMon/ReleaseNotes/2_0_0.md"
    notes.parent.mkdir(parents=True, exist_ok=True)
    notes.write_text(f"- The minimum server version is now {version}.\n", encoding="utf-8")


@pytest.fixture
def packs(tmp_path) -> Path:
    """The 1.x baseline packs, as version 2.0.0, with the alarm's fromversion raised and declared."""
    root = tmp_path / "repo"
    compat.write_files(root, compat.baseline_files(CONTRACT))
    for pack in CONTRACT["packs"]:
        edit_json(root, f"{pack['folder']}/pack_metadata.json", lambda meta: meta.update(currentVersion="2.0.0"))
    edit_yml(root, ALARM, lambda yml: yml.update(fromversion="6.10.0"))
    declare_fromversion(root, "6.10.0")
    return root


def test_config_selects_every_bc_check_of_the_installed_sdk():
    import demisto_sdk

    validators = Path(demisto_sdk.__file__).parent / "commands/validate/validators/BC_validators"
    shipped = {path.name[:5] for path in validators.glob("BC[0-9][0-9][0-9]_*.py")}
    config = tomllib.loads(bc_check.CONFIG.read_text(encoding="utf-8"))
    assert set(config["use_git"]["select"]) == shipped - NOT_SELECTED
    assert config["ignorable_errors"] == []


def test_an_upgrade_that_keeps_the_contract_passes_with_bc106_waived(packs):
    def widen(yml: dict) -> None:
        yml["script"]["commands"].append({"name": "threatmon_list_alarms", "description": "new", "arguments": []})
        yml["configuration"].append({"name": "max_fetch", "display": "max", "type": 0, "required": False})
        yml["display"] = "ThreatMon"

    edit_yml(packs, ALARM, widen)
    report = bc_check.run_bc_check(packs, CONTRACT)
    assert report.ok, report.failures
    assert report.codes == {"BC106"}
    assert report.waived == [f"BC106 {ALARM}: fromversion 5.0.0 -> 6.10.0, declared"]
    assert not report.workdir.exists()


def test_each_kind_of_break_fails_the_check(packs):
    def break_alarm(yml: dict) -> None:
        yml["script"]["commands"] = [c for c in yml["script"]["commands"] if c["name"] != "threatmon_request_data_removal"]
        yml["configuration"] = [p for p in yml["configuration"] if p["name"] != "fetchInterval"]
        subscribed = next(c for c in yml["script"]["commands"] if c["name"] == "threatmon_list_subscribed_cves")
        next(a for a in subscribed["arguments"] if a["name"] == "customer_name")["required"] = True

    def break_feed(yml: dict) -> None:
        yml["commonfields"]["id"] = "ThreatMon Feed"

    edit_yml(packs, ALARM, break_alarm)
    edit_yml(packs, FEED, break_feed)
    edit_json(packs, "Packs/ThreatMonThreatFeed/pack_metadata.json", lambda meta: meta["marketplaces"].remove("platform"))
    report = bc_check.run_bc_check(packs, CONTRACT)
    assert not report.ok
    # removed command (BC102, BC104), id (BC105), marketplace (BC108), new required argument (BC110), removed
    # parameter (BC112), platform's modules (BC115); BC106 stays waived. (demisto-sdk 1.39.13's BC114, a feed or
    # fetch flag turned off, reads the old version from the working tree too, so it never fires: the contract
    # test checks those flags.)
    assert report.codes == {"BC102", "BC104", "BC105", "BC106", "BC108", "BC110", "BC112", "BC115"}
    failing = {line.split()[0] for line in report.failures}
    assert failing == report.codes - {"BC106"}
    assert not report.workdir.exists()


def test_a_bc106_is_waived_only_while_the_release_notes_declare_it(packs):
    finding = bc_check.Finding("BC106", ALARM, "Changing the minimal supported version field `fromversion` is not allowed.")
    failures, waived = bc_check.judge([finding], CONTRACT, packs)
    assert (failures, len(waived)) == ([], 1)
    declare_fromversion(packs, "6.9.0")
    failures, waived = bc_check.judge([finding], CONTRACT, packs)
    assert waived == []
    assert failures[0] == str(finding)
    assert "fromversion moved from 5.0.0 to 6.10.0" in failures[1]


@pytest.mark.parametrize("code", ["BC102", "BC104", "BC105", "BC108", "BC112", "BC115"])
def test_every_other_bc_error_fails(packs, code):
    failures, waived = bc_check.judge([bc_check.Finding(code, ALARM, "broken")], CONTRACT, packs)
    assert (failures, waived) == ([f"{code} {ALARM}: broken"], [])


def test_a_missing_1x_integration_fails_the_check(packs):
    (packs / FEED).unlink()
    assert bc_check.missing_items(CONTRACT, packs) == [
        f"{FEED}: missing, so demisto-sdk cannot compare it with 1.x (the contract test names what it lacks)"
    ]


def test_an_integration_demisto_sdk_did_not_compare_fails_the_check(packs):
    baseline = compat.baseline_files(CONTRACT)
    edit_yml(packs, FEED, lambda yml: yml.update(display="ThreatMon Feed"))
    output_naming_only_the_alarm = f"Modified committed:\n{ALARM}\n"
    assert bc_check.unseen_items(baseline, CONTRACT, packs, output_naming_only_the_alarm) == [
        f"{FEED}: demisto-sdk did not compare it with 1.x (it is not in validate's list of changed files)"
    ]
    compat.write_files(packs, {FEED: baseline[FEED]})  # the 1.x file itself: nothing to compare
    assert bc_check.unseen_items(baseline, CONTRACT, packs, output_naming_only_the_alarm) == []
