"""bc_check.py (``make bc``) fails on every BC break and every release-notes error demisto-sdk finds against
the 1.x packs, waives only a declared BC106, and leaves no throwaway repository behind.

Three tests run demisto-sdk for real (a few seconds each) on copies of the 1.x baseline: one with a BC break
of each kind, one with broken release notes, one with an upgrade that keeps the contract. The rest test the
judging without demisto-sdk.
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
ALARM_NOTES = "Packs/ThreatMon/ReleaseNotes/2_0_0.md"
FEED_NOTES = "Packs/ThreatMonThreatFeed/ReleaseNotes/2_0_0.md"
IMAGE_1X = "demisto/python3:3.12.13.10404775"  # both 1.x integrations' image (contract_1x.yml)
# Left out of bc_validation_config.toml on purpose (the file says why): RN106 and RN107 need a content graph.
NOT_SELECTED = {"RN106", "RN107"}
# Checks of other families that the run selects: the pack version (raised above 1.x, matching the notes).
ALSO_SELECTED = {"PA101", "PA114"}
# The other checks of content's selection that demisto-sdk runs only on files a git diff marks added or modified.
DIFF_ONLY = {
    "AG100", "AG101", "AG102", "AG103", "AG104", "BA108", "BA109", "BA114", "BA127", "DA100", "DA101", "GF102",
    "IF111", "IF113", "IF115", "IN124", "IN164", "IT100", "IT101", "PA102", "PA121", "RM110", "RP102", "ST112", "ST113",
}  # fmt: skip


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


def write_notes(root: Path, relative: str, text: str) -> None:
    notes = root / relative
    notes.parent.mkdir(parents=True, exist_ok=True)
    notes.write_text(text, encoding="utf-8")


def write_readmes(root: Path) -> None:
    """Each integration's README names its commands, as content's RM110 wants of a changed integration."""
    for relative in (ALARM, FEED):
        commands = yaml.safe_load((root / relative).read_text(encoding="utf-8"))["script"].get("commands") or []
        sections = "".join(f"### {command['name']}\n\n" for command in commands)
        (root / relative).with_name("README.md").write_text(f"## Commands\n\n{sections}", encoding="utf-8")


def declare_fromversion(root: Path, version: str, display: str = "Threatmon") -> None:
    """The alarm pack's notes name the new fromversion, under the integration's display name (1.x's by default)."""
    text = f"#### Integrations\n\n##### {display}\n\n- The minimum server version is now {version}.\n"
    write_notes(root, ALARM_NOTES, text)


@pytest.fixture
def packs(tmp_path) -> Path:
    """The 1.x baseline packs, as version 2.0.0 with release notes, the alarm's fromversion raised and declared."""
    root = tmp_path / "repo"
    compat.write_files(root, compat.baseline_files(CONTRACT))
    for pack in CONTRACT["packs"]:
        edit_json(root, f"{pack['folder']}/pack_metadata.json", lambda meta: meta.update(currentVersion="2.0.0"))
    edit_yml(root, ALARM, lambda yml: yml.update(fromversion="6.10.0"))
    declare_fromversion(root, "6.10.0")
    write_notes(root, FEED_NOTES, "#### Integrations\n\n##### ThreatMon Threat Feed\n\n- Faster fetches.\n")
    write_readmes(root)
    return root


def test_config_selects_every_bc_and_release_notes_check_of_the_installed_sdk():
    import demisto_sdk

    validators = Path(demisto_sdk.__file__).parent / "commands/validate/validators"
    files = [*validators.glob("BC_validators/BC[0-9][0-9][0-9]_*.py"), *validators.glob("RN_validators/RN[0-9][0-9][0-9]_*.py")]
    shipped = {path.name[:5] for path in files}
    config = tomllib.loads(bc_check.CONFIG.read_text(encoding="utf-8"))
    assert set(config["use_git"]["select"]) == (shipped - NOT_SELECTED) | ALSO_SELECTED | DIFF_ONLY


def test_config_adds_contents_diff_only_checks_and_its_ignorable_errors():
    """The other checks of content's selection that demisto-sdk runs only on a git diff run here too, and a
    .pack-ignore silences here what it silences in content's pull requests."""
    ours = tomllib.loads(bc_check.CONFIG.read_text(encoding="utf-8"))
    content = tomllib.loads((bc_check.HERE.parents[1] / "validation_config.toml").read_text(encoding="utf-8"))
    assert set(content["path_based_validations"]["select"]) >= DIFF_ONLY
    assert ours["ignorable_errors"] == content["ignorable_errors"]


def test_an_upgrade_that_keeps_the_contract_passes_with_bc106_waived(packs):
    def widen(yml: dict) -> None:
        yml["script"]["commands"].append({"name": "threatmon_list_alarms", "description": "new", "arguments": []})
        yml["configuration"].append({"name": "max_fetch", "display": "max", "type": 0, "required": False})
        yml["display"] = "ThreatMon"

    edit_yml(packs, ALARM, widen)
    write_readmes(packs)
    declare_fromversion(packs, "6.10.0", display="ThreatMon")
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


def test_hiding_a_parameter_1x_showed_fails_the_check_with_in124(packs):
    """Content's pull-request selection refuses to hide a parameter (IN124) unless its previous version hid it."""

    def hide(yml: dict) -> None:
        next(p for p in yml["configuration"] if p["name"] == "fetchInterval")["hidden"] = True

    edit_yml(packs, ALARM, hide)
    report = bc_check.run_bc_check(packs, CONTRACT)
    assert report.codes == {"BC106", "IN124"}
    assert [line.split()[0] for line in report.failures] == ["IN124"]


def test_bc117_on_a_new_item_is_an_approval_for_content_review_and_on_a_1x_item_a_failure(packs):
    new_field = bc_check.Finding("BC117", "Packs/ThreatMon/IncidentFields/incidentfield-X.json", "modules added")
    old_item = bc_check.Finding("BC117", ALARM, "modules added")
    pack = bc_check.Finding("BC117", "Packs/ApiModules", "modules added")
    failures, waived, approvals = bc_check.judge([new_field, old_item, pack], CONTRACT, packs, frozenset({ALARM}))
    assert approvals == [str(new_field)]
    assert failures == [str(old_item), str(pack)]
    assert waived == []


def test_broken_release_notes_fail_the_check_naming_the_code(packs):
    """The 2.0.0 notes count as added to the 1.x packs, so demisto-sdk's diff-only release-notes checks judge them."""
    docker_line = f"- Updated the Docker image to: *{IMAGE_1X}*.\n"
    integration = f"#### Integrations\n\n##### Threatmon\n\n- The minimum server version is now 6.10.0.\n{docker_line}"
    write_notes(packs, ALARM_NOTES, integration + "\n#### Incident Type\n\n##### ThreatMon Alarm\n\n- New.\n")
    write_notes(packs, FEED_NOTES, "#### Integrations\n\n- Faster fetches.\n")
    report = bc_check.run_bc_check(packs, CONTRACT)
    # a docker line while the image is 1.x's (RN111), a header that is no content type (RN113, RN114: the type is
    # "Incident Types"), a content type without item headers (RN115); BC106 stays waived (6.10.0 is still declared).
    assert report.codes == {"BC106", "RN111", "RN113", "RN114", "RN115"}
    assert {line.split()[0] for line in report.failures} == report.codes - {"BC106"}
    rn111 = f"RN111 {ALARM}: The release notes regarding the docker image are not correct. "
    assert f"{rn111}There should be no release notes docker update entry, found: {IMAGE_1X}" in report.failures
    assert f"RN115 {FEED_NOTES}" in "\n".join(report.failures)


def test_a_bc106_is_waived_only_while_the_release_notes_declare_it(packs):
    finding = bc_check.Finding("BC106", ALARM, "Changing the minimal supported version field `fromversion` is not allowed.")
    failures, waived, _ = bc_check.judge([finding], CONTRACT, packs)
    assert (failures, len(waived)) == ([], 1)
    declare_fromversion(packs, "6.9.0")
    failures, waived, _ = bc_check.judge([finding], CONTRACT, packs)
    assert waived == []
    assert failures[0] == str(finding)
    assert "fromversion moved from 5.0.0 to 6.10.0" in failures[1]


@pytest.mark.parametrize("code", ["BC102", "BC104", "BC105", "BC108", "BC112", "BC115"])
def test_every_other_bc_error_fails(packs, code):
    failures, waived, _ = bc_check.judge([bc_check.Finding(code, ALARM, "broken")], CONTRACT, packs)
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
