"""The packs keep the 1.x contract of ThreatMon 1.0.7 and ThreatMon Threat Feed 1.0.1 (contract_1x.yml).

The first tests hold the real packs to the contract: each failure names the broken item. The tests after them
break copies of the 1.x baseline (generated from the contract) one item at a time and expect the break to be
reported, so a check that could never fail would be caught.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import compat_contract as compat
import pytest
import yaml

from runner import IntegrationRunner
from simulator import Simulator

CONTRACT = compat.load_contract()
ROOT = compat.REPO_ROOT
PACKS = {pack["folder"]: pack for pack in CONTRACT["packs"]}
INTEGRATIONS = {integration["id"]: (pack, integration) for pack, integration in compat.integrations(CONTRACT)}
ALARM_ID, FEED_ID = "Threatmon", "ThreatMon Threat Feed"


def problems_message(problems: list[str]) -> str:
    return "the 1.x contract is broken:\n  " + "\n  ".join(problems)


def current(integration_id: str, root: Path = ROOT) -> tuple[dict, dict, compat.PackState, dict | None]:
    pack, integration = INTEGRATIONS[integration_id]
    state = compat.PackState.read(root, pack)
    return pack, integration, state, state.ymls[integration["path"]]


# ---------------------------------------------------------------------------------------------- the real packs


@pytest.mark.parametrize("folder", PACKS)
def test_pack_keeps_its_1x_folder_marketplaces_and_a_higher_version(folder):
    problems = compat.check_pack(PACKS[folder], compat.PackState.read(ROOT, PACKS[folder]))
    assert not problems, problems_message(problems)


@pytest.mark.parametrize("integration_id", INTEGRATIONS)
def test_integration_keeps_its_1x_path_id_name_and_role(integration_id):
    _, integration, _, yml = current(integration_id)
    problems = compat.check_identity(integration, yml)
    assert not problems, problems_message(problems)


@pytest.mark.parametrize("integration_id", INTEGRATIONS)
def test_integration_docker_image_is_not_older_than_1x(integration_id):
    _, integration, _, yml = current(integration_id)
    problems = compat.check_docker_image(integration, yml)
    assert not problems, problems_message(problems)


@pytest.mark.parametrize("integration_id", INTEGRATIONS)
def test_integration_is_offered_in_every_1x_marketplace(integration_id):
    _, integration, state, yml = current(integration_id)
    problems = compat.check_marketplaces(integration, yml, state.metadata)
    assert not problems, problems_message(problems)


@pytest.mark.parametrize("integration_id", INTEGRATIONS)
def test_integration_keeps_every_1x_parameter(integration_id):
    _, integration, state, yml = current(integration_id)
    problems = compat.check_parameters(integration, yml, state.metadata)
    assert not problems, problems_message(problems)


@pytest.mark.parametrize("integration_id", INTEGRATIONS)
def test_integration_keeps_every_1x_command_argument_and_output(integration_id):
    _, integration, _, yml = current(integration_id)
    problems = compat.check_commands(integration, yml)
    assert not problems, problems_message(problems)


@pytest.mark.parametrize("integration_id", INTEGRATIONS)
def test_a_raised_fromversion_is_declared_in_the_release_notes(integration_id):
    pack, integration, state, yml = current(integration_id)
    notes = compat.release_notes_text(ROOT, pack["folder"], state.metadata)
    problems = compat.check_fromversion_declared(integration, yml, notes)
    assert not problems, problems_message(problems)


def test_no_1x_command_is_defined_by_a_second_integration():
    problems = compat.check_unique_commands(CONTRACT, ROOT)
    assert not problems, problems_message(problems)


# ---------------------------------------------------------------------------------------------- lastRun of 1.x


def integration_module(integration_id: str):
    """The integration's code, imported as XSOAR names it (the yml's file name), or a failure naming the file."""
    path = ROOT / INTEGRATIONS[integration_id][1]["path"]
    if not path.with_suffix(".py").is_file():
        pytest.fail(f"{path.with_suffix('.py').relative_to(ROOT)} is missing: the 1.x lastRun cannot be read")
    return importlib.import_module(path.stem)


def alarm_position(module, last_run: dict) -> Any:
    """What the alarm integration's state loader keeps of a lastRun written by 1.0.x (FetchState.load)."""
    settings = module.parse_params({"credentials": {"password": "contract-test-key"}})
    return module.FetchState.load(dict(last_run), settings).legacy


def feed_position(module, last_run: dict) -> Any:
    """What the feed's state loader keeps of a lastRun written by 1.0.1 (Watermark)."""
    return module.Watermark(dict(last_run)).previous


def test_alarm_state_loader_keeps_the_1x_position():
    last_run = INTEGRATIONS[ALARM_ID][1]["last_run"]
    assert sorted(last_run["example"]) == sorted(last_run["keys"])
    module = integration_module(ALARM_ID)
    example = last_run["example"]
    assert alarm_position(module, example) == (example["last_incident_id"], example["page"], example["max_seen_id"])


def test_feed_state_loader_keeps_the_1x_position():
    last_run = INTEGRATIONS[FEED_ID][1]["last_run"]
    assert sorted(last_run["example"]) == sorted(last_run["keys"])
    module = integration_module(FEED_ID)
    position = feed_position(module, last_run["example"])
    assert position is not None
    assert position == module.parse_time(last_run["example"]["last_timestamp"])


@pytest.fixture
def alarm_runner():
    """alarm_runner(sim, last_run) -> the alarm integration configured with 1.x parameter names against ``sim``."""
    _, integration = INTEGRATIONS[ALARM_ID]
    code = ROOT / Path(integration["path"]).with_suffix(".py")
    if not code.is_file():
        pytest.fail(f"{code.relative_to(ROOT)} is missing")

    def build(sim: Simulator, last_run: dict | None = None) -> IntegrationRunner:
        params = {"url": sim.api_url, "credentials": {"identifier": "", "password": sim.api_key}, "isFetch": True}
        runner = IntegrationRunner(code, params, sleep=lambda _s: None, http_timeout_cap=2.0)
        runner.last_run = dict(last_run or {})
        return runner

    return build


def fetched_codes(runner: IntegrationRunner) -> list[int]:
    codes = []
    for result in runner.fetch_until_empty(max_runs=20):
        assert result.error is None, result.error
        codes += [int(json.loads(incident["rawJSON"])["alarmCode"]) for incident in result.incidents]
    return codes


@pytest.mark.e2e
def test_fetched_incidents_carry_the_1x_labels(alarm_runner):
    labels = INTEGRATIONS[ALARM_ID][1]["incident_labels"]
    with Simulator(alarms=12, idle_timeout_s=20.0, max_lifetime_s=60.0) as sim:
        result = alarm_runner(sim).run("fetch-incidents")
    assert result.error is None, result.error
    assert result.incidents
    for incident in result.incidents:
        alarm = json.loads(incident["rawJSON"])
        carried = {label.get("type"): label.get("value") for label in incident.get("labels") or []}
        assert [name for name in labels if name not in carried] == [], f"incident {incident.get('name')!r} lacks 1.x labels"
        assert carried["Status"] == alarm["status"]


@pytest.mark.e2e
def test_an_instance_positioned_by_1x_continues_after_its_last_alarm(alarm_runner):
    with Simulator(alarms=30, idle_timeout_s=20.0, max_lifetime_s=60.0) as sim:
        last = sim.codes()[11]
        runner = alarm_runner(sim, {"last_incident_id": last, "page": 0, "max_seen_id": last})  # a finished 1.x batch
        codes = fetched_codes(runner)
        expected = [code for code in sim.codes() if code > last]
    assert sorted(codes) == expected


# ---------------------------------------------------------------------------------------------- the checks can fail


@pytest.fixture
def packs(tmp_path) -> Path:
    """A copy of the 1.x baseline packs, upgraded to 2.0.0 with nothing else changed: meets the contract."""
    compat.write_files(tmp_path, compat.baseline_files(CONTRACT))
    for folder in PACKS:
        edit_json(tmp_path / folder / "pack_metadata.json", lambda meta: meta.update(currentVersion="2.0.0"))
    return tmp_path


def edit_json(path: Path, change: Callable[[dict], Any]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def edit_yml(root: Path, integration_id: str, change: Callable[[dict], Any]) -> None:
    path = root / INTEGRATIONS[integration_id][1]["path"]
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def command(yml: dict, name: str) -> dict:
    return next(c for c in yml["script"]["commands"] if c["name"] == name)


def argument(yml: dict, command_name: str, name: str) -> dict:
    return next(a for a in command(yml, command_name)["arguments"] if a["name"] == name)


def param(yml: dict, name: str) -> dict:
    return next(p for p in yml["configuration"] if p["name"] == name)


def move_feed(root: Path) -> None:
    """The feed as a second integration of the alarm pack (the shape the marketplace does not have)."""
    old = root / INTEGRATIONS[FEED_ID][1]["path"]
    new = root / "Packs/ThreatMon/Integrations/FeedThreatMon/FeedThreatMon.yml"
    new.parent.mkdir(parents=True)
    old.rename(new)


def test_the_1x_baseline_meets_the_contract(packs):
    assert compat.check_all(CONTRACT, packs) == []


BREAKS: list[tuple[str, Callable[[Path], Any], str]] = [
    (
        "id changed",
        lambda r: edit_yml(r, ALARM_ID, lambda y: y["commonfields"].update(id="ThreatMon")),
        "commonfields.id is 'ThreatMon', 1.x has 'Threatmon'",
    ),
    (
        "name changed",
        lambda r: edit_yml(r, ALARM_ID, lambda y: y.update(name="ThreatMon")),
        "name is 'ThreatMon', 1.x has 'Threatmon'",
    ),
    ("integration moved", move_feed, "ThreatMonThreatFeed.yml: missing: the 1.x integration 'ThreatMon Threat Feed'"),
    (
        "pack folder gone",
        lambda r: (r / "Packs/ThreatMonThreatFeed/pack_metadata.json").unlink(),
        "Packs/ThreatMonThreatFeed/pack_metadata.json: missing",
    ),
    (
        "pack version not above 1.x",
        lambda r: edit_json(r / "Packs/ThreatMon/pack_metadata.json", lambda m: m.update(currentVersion="1.0.7")),
        "currentVersion '1.0.7' is not above 1.0.7",
    ),
    (
        "command removed",
        lambda r: edit_yml(
            r,
            ALARM_ID,
            lambda y: y["script"].update(commands=[c for c in y["script"]["commands"] if "data_removal" not in c["name"]]),
        ),
        "command 'threatmon_request_data_removal' of 1.x is missing",
    ),
    (
        "command renamed",
        lambda r: edit_yml(
            r, FEED_ID, lambda y: command(y, "threatmon-get-indicators").update(name="threatmon-feed-get-indicators")
        ),
        "command 'threatmon-get-indicators' of 1.x is missing",
    ),
    (
        "argument renamed",
        lambda r: edit_yml(
            r, ALARM_ID, lambda y: argument(y, "threatmon_update_incident_status", "alarmId").update(name="alarm_id")
        ),
        "command 'threatmon_update_incident_status' argument 'alarmId' of 1.x is missing",
    ),
    (
        "predefined value dropped",
        lambda r: edit_yml(r, ALARM_ID, lambda y: argument(y, "threatmon_list_cves", "cvss")["predefined"].remove("CRITICAL")),
        "command 'threatmon_list_cves' argument 'cvss' no longer offers the 1.x value(s) 'CRITICAL'",
    ),
    (
        "predefined list replaced by free text",
        lambda r: edit_yml(
            r, ALARM_ID, lambda y: [argument(y, "threatmon_list_subscribed_cves", "cvss").pop(k) for k in ("auto", "predefined")]
        ),
        "command 'threatmon_list_subscribed_cves' argument 'cvss' no longer offers the 1.x value(s) 'NONE', 'LOW'",
    ),
    (
        "argument became required",
        lambda r: edit_yml(
            r, ALARM_ID, lambda y: argument(y, "threatmon_list_subscribed_cves", "customer_name").update(required=True)
        ),
        "argument 'customer_name' became required",
    ),
    (
        "argument default changed",
        lambda r: edit_yml(r, FEED_ID, lambda y: argument(y, "threatmon-get-indicators", "limit").update(defaultValue="50")),
        "argument 'limit' defaults to '50', 1.x to '10'",
    ),
    (
        "output removed",
        lambda r: command_outputs(r, "threatmon_list_cves", lambda outs: outs.pop()),
        "command 'threatmon_list_cves' no longer lists the 1.x output ThreatMon.CVE.updatedAt",
    ),
    (
        "output type changed",
        lambda r: command_outputs(r, "threatmon_list_subscribed_cves", lambda outs: outs[-1].update(type="String")),
        "output ThreatMon.CVE.updatedAt has type 'String', 1.x has Date",
    ),
    (
        "parameter removed",
        lambda r: edit_yml(
            r, ALARM_ID, lambda y: y.update(configuration=[p for p in y["configuration"] if p["name"] != "fetchInterval"])
        ),
        "parameter 'fetchInterval' of 1.x is missing",
    ),
    (
        "parameter type changed",
        lambda r: edit_yml(r, FEED_ID, lambda y: param(y, "limit").update(type=15)),
        "parameter 'limit' has type 15",
    ),
    (
        "parameter default changed",
        lambda r: edit_yml(r, FEED_ID, lambda y: param(y, "feedReputation").update(defaultvalue="Suspicious")),
        "parameter 'feedReputation' defaults to 'Suspicious', 1.x to 'Bad'",
    ),
    (
        "parameter option dropped",
        lambda r: edit_yml(r, FEED_ID, lambda y: param(y, "tlp_color")["options"].remove("WHITE")),
        "parameter 'tlp_color' no longer accepts the 1.x value(s) 'WHITE'",
    ),
    (
        "parameter became required",
        lambda r: edit_yml(r, FEED_ID, lambda y: param(y, "collection_ids").update(required=True)),
        "parameter 'collection_ids' became required",
    ),
    (
        "parameter hidden from a module",
        lambda r: edit_yml(r, ALARM_ID, lambda y: param(y, "isFetch").update(supportedModules=["xsiam"])),
        "parameter 'isFetch' is no longer shown in the module(s) agentix",
    ),
    (
        "pack marketplace dropped",
        lambda r: edit_json(r / "Packs/ThreatMonThreatFeed/pack_metadata.json", lambda m: m["marketplaces"].remove("platform")),
        "Packs/ThreatMonThreatFeed/pack_metadata.json: marketplaces platform of 1.x dropped",
    ),
    (
        "integration marketplace dropped",
        lambda r: edit_yml(r, ALARM_ID, lambda y: y["marketplaces"].remove("marketplacev2")),
        "ThreatMon.yml: marketplaces marketplacev2 of 1.x dropped",
    ),
    (
        "docker image older",
        lambda r: edit_yml(r, ALARM_ID, lambda y: y["script"].update(dockerimage="demisto/python3:3.12.8.3296088")),
        "dockerimage demisto/python3:3.12.8.3296088 is older than 1.x's",
    ),
    (
        "no longer fetches",
        lambda r: edit_yml(r, ALARM_ID, lambda y: y["script"].pop("isfetch")),
        "script.isfetch is no longer true",
    ),
    (
        "no longer a feed",
        lambda r: edit_yml(r, FEED_ID, lambda y: y["script"].update(feed=False)),
        "script.feed is no longer true",
    ),
    (
        "fromversion raised without a word",
        lambda r: edit_yml(r, ALARM_ID, lambda y: y.update(fromversion="6.10.0")),
        "fromversion moved from 5.0.0 to 6.10.0 and the release notes",
    ),
    (
        "command defined twice",
        lambda r: add_integration(r, "Packs/ThreatMon/Integrations/Extra/Extra.yml", ["threatmon-get-indicators"]),
        "Extra.yml: defines the 1.x command 'threatmon-get-indicators'",
    ),
]


def command_outputs(root: Path, name: str, change: Callable[[list], Any]) -> None:
    edit_yml(root, ALARM_ID, lambda y: change(command(y, name)["outputs"]))


def add_integration(root: Path, relative: str, commands: list[str]) -> None:
    path = root / relative
    path.parent.mkdir(parents=True)
    yml = {"commonfields": {"id": "Extra"}, "name": "Extra", "script": {"commands": [{"name": name} for name in commands]}}
    path.write_text(yaml.safe_dump(yml), encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "expected"), [(change, expected) for _, change, expected in BREAKS], ids=[b[0] for b in BREAKS]
)
def test_a_break_of_the_1x_contract_is_reported(packs, change, expected):
    change(packs)
    problems = compat.check_all(CONTRACT, packs)
    assert [p for p in problems if expected in p], f"expected a problem containing {expected!r}, got {problems}"


def test_a_fromversion_named_in_the_release_notes_is_accepted(packs):
    edit_yml(packs, ALARM_ID, lambda y: y.update(fromversion="6.10.0"))
    notes = packs / "Packs/ThreatMon/ReleaseNotes/2_0_0.md"
    notes.parent.mkdir()
    notes.write_text("The minimum server version is now 6.10.0 (it was 5.0.0).\n", encoding="utf-8")
    assert compat.check_all(CONTRACT, packs) == []


def test_a_fromversion_named_only_as_part_of_another_version_is_not_a_declaration(packs):
    edit_yml(packs, ALARM_ID, lambda y: y.update(fromversion="6.1.0"))
    notes = packs / "Packs/ThreatMon/ReleaseNotes/2_0_0.json"
    notes.parent.mkdir()
    notes.write_text(json.dumps({"breakingChanges": True, "breakingChangesNotes": "Needs 6.1.0.1 or later."}), encoding="utf-8")
    assert any("fromversion moved from 5.0.0 to 6.1.0" in p for p in compat.check_all(CONTRACT, packs))


def test_widening_the_contract_is_allowed(packs):
    """New values, new arguments, new parameters, relaxed requirements and a newer image are not breaks."""

    def widen(y: dict) -> None:
        argument(y, "threatmon_list_cves", "cvss")["predefined"].append("UNKNOWN")
        argument(y, "threatmon_update_incident_status", "alarmId")["required"] = False
        command(y, "threatmon_list_cves")["arguments"].append({"name": "limit"})
        y["configuration"].append({"name": "max_fetch", "type": 0, "required": False})
        y["script"]["dockerimage"] = "demisto/python3:3.12.14.1"
        y["display"] = "ThreatMon"

    edit_yml(packs, ALARM_ID, widen)
    assert compat.check_all(CONTRACT, packs) == []
