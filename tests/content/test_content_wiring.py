"""The ThreatMon pack content stays wired: type -> layout and playbook, mapper -> fields, playbooks -> the
integration's commands and arguments, integration yml -> classifier, mapper and test playbook.

Every check runs on the real pack (no problem expected) and on a deliberately broken copy (the break must be
reported), so these tests fail when the wiring breaks.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import content_wiring as wiring
import pytest

PLAYBOOK_FILE = "playbook-ThreatMon_-_Alarm_Handling.yml"
TEST_PLAYBOOK_FILE = "playbook-ThreatMon_-_Test.yml"
SYNC_FILE = "playbook-ThreatMon_-_Sync_Alarm_Statuses.yml"
APPLY_FILE = "playbook-ThreatMon_-_Apply_Alarm_Status_Change.yml"
SYNC_PLAYBOOKS = [SYNC_FILE, APPLY_FILE]
# The command and argument names the playbooks were written against, and that 1.0.x instances and playbook tasks are
# keyed to: they never change between versions.
FIXED_COMMANDS: dict[str, Any] = {
    "script": {
        "commands": [
            {
                "name": "threatmon_update_incident_status",
                "arguments": [{"name": "alarmId"}, {"name": "status"}],
            },
            {
                "name": "threatmon_list_alarms",
                "arguments": [{"name": n} for n in ("after_alarm_code", "page", "limit", "min_severity")],
            },
            {"name": "threatmon_request_takedown", "arguments": [{"name": "findingId"}, {"name": "finding"}]},
            {"name": "threatmon_list_cves", "arguments": [{"name": "page"}, {"name": "cvss"}]},
            {
                "name": "threatmon_list_subscribed_cves",
                "arguments": [{"name": n} for n in ("page", "cvss", "customer_name")],
            },
        ]
    },
}


@pytest.fixture(scope="module")
def real_pack() -> wiring.Pack:
    return wiring.load_pack()


@pytest.fixture
def pack(real_pack) -> wiring.Pack:
    """A private copy each test may break."""
    return copy.deepcopy(real_pack)


@pytest.fixture
def integration(real_pack) -> dict[str, Any]:
    return copy.deepcopy(real_pack.integration)


def playbook(pack: wiring.Pack) -> dict[str, Any]:
    return pack.playbooks[PLAYBOOK_FILE]


def the_test_playbook(pack: wiring.Pack) -> dict[str, Any]:
    return pack.test_playbooks[TEST_PLAYBOOK_FILE]


def task_named(item: dict[str, Any], fragment: str) -> dict[str, Any]:
    matches = [task for task in item["tasks"].values() if fragment in task["task"]["name"]]
    assert len(matches) == 1, f"expected one task named like '{fragment}'"
    return matches[0]


def task_running(item: dict[str, Any], command: str, status: str | None = None) -> dict[str, Any]:
    for task in item["tasks"].values():
        found = wiring.task_command(task)
        status_ok = status is None or wiring.simple_value((task.get("scriptarguments") or {}).get("status")) == status
        if found and found[1] == command and status_ok:
            return task
    raise AssertionError(f"no task runs {command}")


def assert_reported(problems: list[str], fragment: str) -> None:
    assert any(fragment in problem for problem in problems), f"'{fragment}' not reported in {problems}"


# ------------------------------------------------------------------------------ the real pack is wired


PACK_CHECKS: dict[str, Callable[[wiring.Pack], list[str]]] = {
    "incident type": wiring.check_incident_type,
    "incident fields": wiring.check_incident_fields,
    "mapper": wiring.check_mapper,
    "mapper keys": wiring.check_mapping_of_alarm_keys,
    "classifier": wiring.check_classifier,
    "layout": wiring.check_layout,
    "from versions": wiring.check_from_versions,
    "marketplaces": wiring.check_marketplaces,
    "playbook structure": lambda p: wiring.check_playbook_structure(playbook(p)),
    "test playbook structure": lambda p: wiring.check_playbook_structure(the_test_playbook(p)),
    "playbook dependencies": lambda p: wiring.check_playbook_uses_only_builtins_and_pack(playbook(p), p),
    "test playbook dependencies": lambda p: wiring.check_playbook_uses_only_builtins_and_pack(the_test_playbook(p), p),
    "verdict flow": lambda p: wiring.check_verdict_flow(playbook(p)),
    "takedown flow": lambda p: wiring.check_takedown_flow(playbook(p)),
    "severity branch": lambda p: wiring.check_severity_branch(playbook(p)),
    "indicator extraction": lambda p: wiring.check_indicator_extraction(playbook(p)),
    "playbook readme": lambda p: wiring.check_readme_names_commands(PLAYBOOK_FILE, playbook(p), p.readmes.get(PLAYBOOK_FILE)),
    "test playbook checks": lambda p: wiring.check_test_playbook(the_test_playbook(p)),
    "sync job structure": lambda p: wiring.check_playbook_structure(p.playbooks[SYNC_FILE]),
    "apply playbook structure": lambda p: wiring.check_playbook_structure(p.playbooks[APPLY_FILE]),
    "sync job dependencies": lambda p: wiring.check_playbook_uses_only_builtins_and_pack(p.playbooks[SYNC_FILE], p),
    "apply playbook dependencies": lambda p: wiring.check_playbook_uses_only_builtins_and_pack(p.playbooks[APPLY_FILE], p),
    "sync job readme": lambda p: wiring.check_readme_names_commands(SYNC_FILE, p.playbooks[SYNC_FILE], p.readmes.get(SYNC_FILE)),
    "apply playbook readme": lambda p: wiring.check_readme_names_commands(
        APPLY_FILE, p.playbooks[APPLY_FILE], p.readmes.get(APPLY_FILE)
    ),
    "sync flow": lambda p: wiring.check_sync_flow(p.playbooks[SYNC_FILE], p.playbooks[APPLY_FILE]),
    "searched fields": lambda p: [
        problem for item in p.playbooks.values() for problem in wiring.check_searched_fields_are_searchable(item, p)
    ],
}


@pytest.mark.parametrize("check", PACK_CHECKS.values(), ids=PACK_CHECKS.keys())
def test_real_pack_is_wired(pack, check):
    assert check(pack) == []


@pytest.mark.parametrize("playbook_file", [PLAYBOOK_FILE, TEST_PLAYBOOK_FILE, *SYNC_PLAYBOOKS])
def test_playbook_commands_exist_in_the_integration_yml(pack, integration, playbook_file):
    item = pack.playbooks.get(playbook_file) or pack.test_playbooks[playbook_file]
    assert wiring.check_playbook_commands(item, integration) == []


@pytest.mark.parametrize("playbook_file", [PLAYBOOK_FILE, TEST_PLAYBOOK_FILE, *SYNC_PLAYBOOKS])
def test_playbook_context_paths_are_integration_outputs(pack, integration, playbook_file):
    item = pack.playbooks.get(playbook_file) or pack.test_playbooks[playbook_file]
    assert wiring.check_context_paths_are_declared(item, integration) == []


def test_integration_yml_names_the_classifier_mapper_and_test_playbook(pack, integration):
    assert wiring.check_integration_names_content(pack, integration) == []


def test_integration_yml_keeps_every_fixed_command_and_argument_name(integration):
    """The fixed command and argument names are what the playbooks were written against."""
    defined = wiring.integration_commands(integration)
    for command, arguments in wiring.integration_commands(FIXED_COMMANDS).items():
        assert command in defined
        assert set(arguments) <= set(defined[command])


def test_content_follows_the_integration_from_version(pack, integration):
    pack.integration = integration
    assert wiring.check_from_versions(pack) == []


# ------------------------------------------------------------------------------ breaks are reported


def rename_layout(pack):
    pack.one(pack.incident_types, wiring.INCIDENT_TYPE)["layout"] = "ThreatMon Old Layout"


def drop_playbook(pack):
    pack.one(pack.incident_types, wiring.INCIDENT_TYPE)["playbookId"] = "ThreatMon - Gone"


def disable_autorun(pack):
    pack.one(pack.incident_types, wiring.INCIDENT_TYPE)["autorun"] = False


def remove_layout_file(pack):
    pack.layouts.clear()


@pytest.mark.parametrize(
    ("breakage", "reported"),
    [
        (rename_layout, "names layout 'ThreatMon Old Layout'"),
        (drop_playbook, "'ThreatMon - Gone' the incident type runs is not in Playbooks/"),
        (disable_autorun, "autorun is off"),
        (remove_layout_file, "is not in Layouts/"),
    ],
)
def test_broken_incident_type_is_reported(pack, breakage, reported):
    breakage(pack)
    assert_reported(wiring.check_incident_type(pack), reported)


def field_file(pack, cli_name):
    return next(item for item in pack.fields.values() if item["cliName"] == cli_name)


@pytest.mark.parametrize(
    ("cli_name", "change", "reported"),
    [
        ("threatmonfindingid", {"associatedTypes": ["Phishing"]}, "not associated with the 'ThreatMon Alarm'"),
        ("threatmonalarmdate", {"type": "shortText"}, "Field 'threatmonalarmdate' has type 'shortText'"),
        ("threatmonstatus", {"id": "incident_status2"}, "should be 'incident_threatmonstatus'"),
        ("threatmonseverity", {"cliName": "tmSeverity"}, "has no field with cliName 'threatmonseverity'"),
        ("threatmontitle", {"associatedToAll": True}, "associated with every incident type"),
    ],
)
def test_broken_incident_field_is_reported(pack, cli_name, change, reported):
    field_file(pack, cli_name).update(change)
    assert_reported(wiring.check_incident_fields(pack), reported)


def mapper_section(pack):
    return pack.one(pack.classifiers, wiring.MAPPER_ID)["mapping"][wiring.INCIDENT_TYPE]["internalMapping"]


def test_mapper_filling_an_unknown_field_is_reported(pack):
    mapper_section(pack)["ThreatMon Risk Score"] = {"simple": "riskScore"}
    assert_reported(wiring.check_mapper(pack), "'ThreatMon Risk Score', which is neither a pack field nor a built-in")


def test_mapper_filling_a_field_of_another_type_is_reported(pack):
    field_file(pack, "threatmonalarmcode")["associatedTypes"] = ["Phishing"]
    assert_reported(wiring.check_mapper(pack), "'ThreatMon Alarm Code', which is not associated")


def test_mapper_for_an_unknown_incident_type_is_reported(pack):
    mapper = pack.one(pack.classifiers, wiring.MAPPER_ID)
    mapper["mapping"]["ThreatMon Finding"] = mapper["mapping"].pop(wiring.INCIDENT_TYPE)
    assert_reported(wiring.check_mapper(pack), "maps incident type 'ThreatMon Finding'")


@pytest.mark.parametrize(("alarm_key", "cli_name"), list(wiring.EXPECTED_MAPPING.items()))
def test_mapper_reading_the_wrong_alarm_key_is_reported(pack, alarm_key, cli_name):
    names = {item["cliName"]: item["name"] for item in pack.fields.values()}
    mapper_section(pack)[names.get(cli_name, cli_name)] = {"simple": "somethingElse"}
    assert_reported(wiring.check_mapping_of_alarm_keys(pack), f"fill '{cli_name}' from the alarm's '{alarm_key}'")


def test_classifier_sending_alarms_elsewhere_is_reported(pack):
    pack.one(pack.classifiers, wiring.CLASSIFIER_ID)["keyTypeMap"] = {"Leaked Credentials": "Phishing"}
    assert_reported(wiring.check_classifier(pack), "sends 'Leaked Credentials' to 'Phishing'")


def test_classifier_without_default_type_is_reported(pack):
    pack.one(pack.classifiers, wiring.CLASSIFIER_ID)["defaultIncidentType"] = ""
    assert_reported(wiring.check_classifier(pack), "default incident type is ''")


def layout_first_section(pack):
    layout = pack.one(pack.layouts, wiring.LAYOUT_ID)
    sections = layout["detailsV2"]["tabs"][0]["sections"]
    return min(sections, key=lambda section: (section["y"], section["x"]))


def test_layout_showing_an_unknown_field_is_reported(pack):
    layout_first_section(pack)["items"][0]["fieldId"] = "threatmonriskscore"
    assert_reported(wiring.check_layout(pack), "unknown field 'threatmonriskscore'")


@pytest.mark.parametrize("cli_name", wiring.SUMMARY_SECTION_FIELDS)
def test_layout_summary_without_an_alarm_field_is_reported(pack, cli_name):
    section = layout_first_section(pack)
    section["items"] = [item for item in section["items"] if item["fieldId"] != cli_name]
    assert_reported(wiring.check_layout(pack), f"does not show {cli_name}")


def test_layout_whose_alarm_section_is_not_first_is_reported(pack):
    layout_first_section(pack)["y"] = 99
    assert_reported(wiring.check_layout(pack), "does not show threatmonalarmcode")


def test_content_item_on_another_from_version_is_reported(pack):
    pack.one(pack.classifiers, wiring.MAPPER_ID)["fromVersion"] = "6.5.0"
    assert_reported(wiring.check_from_versions(pack), "classifier-mapper-incoming-ThreatMon.json: fromVersion '6.5.0'")


def test_playbook_task_leading_nowhere_is_reported(pack):
    task_named(playbook(pack), "Approve a takedown")["nexttasks"]["Yes"] = ["77"]
    assert_reported(wiring.check_playbook_structure(playbook(pack)), "leads to missing task '77'")


def test_unreachable_playbook_task_is_reported(pack):
    task_named(playbook(pack), "Extract indicators")["nexttasks"]["#none#"] = ["10"]
    assert_reported(wiring.check_playbook_structure(playbook(pack)), "is never reached")


@pytest.mark.parametrize("playbook_file", [PLAYBOOK_FILE, TEST_PLAYBOOK_FILE])
def test_unknown_command_is_reported(pack, playbook_file, real_pack):
    item = pack.playbooks.get(playbook_file) or pack.test_playbooks[playbook_file]
    task = next(task for task in item["tasks"].values() if (wiring.task_command(task) or ("Builtin",))[0] == "Threatmon")
    task["task"]["script"] = "Threatmon|||threatmon-set-status"
    assert_reported(wiring.check_playbook_commands(item, real_pack.integration), "'threatmon-set-status'")


def test_unknown_argument_is_reported(pack, real_pack):
    task = task_running(playbook(pack), "threatmon_update_incident_status")
    task["scriptarguments"]["alarm_id"] = task["scriptarguments"].pop("alarmId")
    problems = wiring.check_playbook_commands(playbook(pack), real_pack.integration)
    assert_reported(problems, "passes 'alarm_id'")


def test_missing_required_argument_is_reported(pack, real_pack):
    task = task_running(playbook(pack), "threatmon_update_incident_status")
    del task["scriptarguments"]["status"]
    problems = wiring.check_playbook_commands(playbook(pack), real_pack.integration)
    assert_reported(problems, "omits 'status'")


def test_status_outside_the_predefined_values_is_reported(pack, real_pack):
    task_running(playbook(pack), "threatmon_update_incident_status", "Ignore")["scriptarguments"]["status"] = {
        "simple": "Ignored"
    }
    problems = wiring.check_playbook_commands(playbook(pack), real_pack.integration)
    assert_reported(problems, "status='Ignored'")


@pytest.mark.parametrize(
    ("change", "reported"),
    [
        ({"defaultclassifier": "ThreatMon Classifier"}, "defaultclassifier 'ThreatMon Classifier' is not in Classifiers/"),
        ({"defaultmapperin": "ThreatMon Mapper"}, "defaultmapperin 'ThreatMon Mapper' is not in Classifiers/"),
        ({"tests": ["No tests"]}, "does not list 'ThreatMon - Test' under tests"),
        ({"tests": [wiring.TEST_PLAYBOOK_ID, "ThreatMon - Old Test"]}, "'ThreatMon - Old Test', which is not in"),
    ],
)
def test_integration_yml_naming_missing_content_is_reported(pack, real_pack, change, reported):
    yml = copy.deepcopy(real_pack.integration)
    yml.update(change)
    assert_reported(wiring.check_integration_names_content(pack, yml), reported)


def test_script_from_another_pack_is_reported(pack):
    task_named(playbook(pack), "Extract indicators")["task"]["scriptName"] = "ExtractIndicatorsFromTextFile"
    problems = wiring.check_playbook_uses_only_builtins_and_pack(playbook(pack), pack)
    assert_reported(problems, "runs script 'ExtractIndicatorsFromTextFile'")


def test_command_of_another_integration_is_reported(pack):
    task_named(playbook(pack), "Extract indicators")["task"]["script"] = "VirusTotal|||url"
    problems = wiring.check_playbook_uses_only_builtins_and_pack(playbook(pack), pack)
    assert_reported(problems, "integration 'VirusTotal' from another pack")


@pytest.mark.parametrize("brand", ["ThreatMon", "VirusTotal"])
def test_a_task_naming_another_brand_is_reported(pack, brand):
    task_running(playbook(pack), "threatmon_request_takedown")["task"]["brand"] = brand
    problems = wiring.check_playbook_uses_only_builtins_and_pack(playbook(pack), pack)
    assert_reported(problems, f"names brand '{brand}', not 'Threatmon' (or none)")


@pytest.mark.parametrize(
    ("where", "marketplaces", "reported"),
    [
        ("metadata", ["xsoar", "marketplacev2"], "pack_metadata.json lists marketplaces ['xsoar', 'marketplacev2']"),
        ("integration", ["xsoar", "marketplacev2"], "ThreatMon.yml: lists marketplaces"),
        ("playbook", ["xsoar"], f"{PLAYBOOK_FILE}: lists marketplaces ['xsoar']"),
        ("layout", ["marketplacev2", "platform"], "layoutscontainer-ThreatMon_Alarm_Layout.json: lists marketplaces"),
    ],
)
def test_a_marketplace_left_out_is_reported(pack, where, marketplaces, reported):
    item = {
        "metadata": pack.metadata,
        "integration": pack.integration,
        "playbook": playbook(pack),
        "layout": pack.layouts.get("layoutscontainer-ThreatMon_Alarm_Layout.json"),
    }[where]
    item["marketplaces"] = marketplaces
    assert_reported(wiring.check_marketplaces(pack), reported)


def test_sub_playbook_from_another_pack_is_reported(pack):
    task_named(playbook(pack), "Extract indicators")["task"]["playbookName"] = "Entity Enrichment - Generic v3"
    problems = wiring.check_playbook_uses_only_builtins_and_pack(playbook(pack), pack)
    assert_reported(problems, "runs playbook 'Entity Enrichment - Generic v3'")


def test_filter_script_from_another_pack_is_reported(pack):
    condition = task_named(playbook(pack), "eligible for a takedown")["conditions"][0]["condition"][0][0]
    condition["operator"] = "WhereFieldEquals"
    problems = wiring.check_playbook_uses_only_builtins_and_pack(playbook(pack), pack)
    assert_reported(problems, "operator 'WhereFieldEquals'")


def test_set_incident_on_an_unknown_field_is_reported(pack):
    task = task_running(playbook(pack), "setIncident")
    task["scriptarguments"]["threatmonverdict"] = {"simple": "Resolved"}
    problems = wiring.check_playbook_uses_only_builtins_and_pack(playbook(pack), pack)
    assert_reported(problems, "sets 'threatmonverdict'")


def test_verdict_with_the_wrong_status_is_reported(pack):
    task_running(playbook(pack), "threatmon_update_incident_status", "Ignore")["scriptarguments"]["status"] = {
        "simple": "Resolved"
    }
    assert_reported(wiring.check_verdict_flow(playbook(pack)), "The verdict 'Ignore' sends status 'Resolved'")


def test_close_reason_that_mirroring_contradicts_is_reported(pack):
    closes = [
        task
        for task in playbook(pack)["tasks"].values()
        if wiring.task_command(task) and wiring.task_command(task)[1] == "closeInvestigation"
    ]
    ignore_close = next(task for task in closes if wiring.simple_value(task["scriptarguments"].get("closeReason")) == "Duplicate")
    ignore_close["scriptarguments"]["closeReason"] = {"simple": "Other"}
    assert_reported(wiring.check_verdict_flow(playbook(pack)), "outgoing mirroring sends as 'Resolved'")


def test_verdict_without_a_choice_is_reported(pack):
    task_named(playbook(pack), "verdict")["nexttasks"].pop("Ignore")
    assert_reported(wiring.check_verdict_flow(playbook(pack)), "Expected one manual task whose answers")


def test_status_change_for_another_alarm_is_reported(pack):
    task = task_running(playbook(pack), "threatmon_update_incident_status", "Resolved")
    task["scriptarguments"]["alarmId"] = {"simple": "${incident.dbotMirrorId}"}
    assert_reported(wiring.check_verdict_flow(playbook(pack)), "does not take alarmId from the incident")


def test_path_that_never_closes_is_reported(pack):
    task_running(playbook(pack), "setIncident")["nexttasks"] = {"#none#": ["40"]}
    assert_reported(wiring.check_verdict_flow(playbook(pack)), "must set the status once and close once")


def test_path_that_skips_the_verdict_is_reported(pack):
    task_named(playbook(pack), "eligible for a takedown")["nexttasks"]["#default#"] = ["40"]
    assert_reported(wiring.check_verdict_flow(playbook(pack)), "ends without asking the analyst for a verdict")


def test_takedown_without_approval_is_reported(pack):
    takedown_key = task_running(playbook(pack), "threatmon_request_takedown")["id"]
    task_named(playbook(pack), "eligible for a takedown")["nexttasks"]["yes"] = [takedown_key]
    assert_reported(wiring.check_takedown_flow(playbook(pack)), "without the analyst's approval")


def test_takedown_for_any_alarm_type_is_reported(pack):
    approval_key = task_named(playbook(pack), "Approve a takedown")["id"]
    severity = task_named(playbook(pack), "severity")
    severity["nexttasks"]["#default#"] = [approval_key]
    assert_reported(wiring.check_takedown_flow(playbook(pack)), "without checking the alarm type is eligible")


def test_takedown_types_input_missing_a_type_is_reported(pack):
    takedown_input = next(item for item in playbook(pack)["inputs"] if item["key"] == "TakedownAlarmTypes")
    takedown_input["value"] = {"simple": "Phishing Domain Detected"}
    assert_reported(wiring.check_takedown_flow(playbook(pack)), "TakedownAlarmTypes input should default")


def test_missing_severity_branch_is_reported(pack):
    severity = task_named(playbook(pack), "severity")
    severity["nexttasks"]["yes"] = list(severity["nexttasks"]["#default#"])
    assert wiring.check_severity_branch(playbook(pack)) == ["No condition task branches on the alarm's severity."]


def test_missing_indicator_extraction_is_reported(pack):
    task_named(playbook(pack), "Extract indicators")["scriptarguments"]["text"] = {"simple": "${incident.name}"}
    assert wiring.check_indicator_extraction(playbook(pack)) != []


def test_readme_missing_a_command_is_reported(pack):
    readme = pack.readmes[PLAYBOOK_FILE].replace("threatmon_request_takedown", "the takedown command")
    problems = wiring.check_readme_names_commands(PLAYBOOK_FILE, playbook(pack), readme)
    assert_reported(problems, "does not list command 'threatmon_request_takedown'")


def test_test_playbook_check_that_cannot_fail_is_reported(pack):
    check = task_named(the_test_playbook(pack), "ThreatMon.CVE")
    check["nexttasks"]["#default#"] = list(check["nexttasks"]["yes"])
    assert_reported(wiring.check_test_playbook(the_test_playbook(pack)), "does not fail the run")


def test_test_playbook_not_running_a_command_is_reported(pack):
    task_running(the_test_playbook(pack), "threatmon_list_cves")["task"]["script"] = "ThreatMon|||threatmon_list_alarms"
    assert_reported(wiring.check_test_playbook(the_test_playbook(pack)), "does not run 'threatmon_list_cves'")


def test_the_feed_test_playbook_reads_context_the_feed_declares():
    feed = wiring.REPO_ROOT / "Packs" / "ThreatMonThreatFeed"
    test_playbook = wiring.yaml.safe_load(
        (feed / "TestPlaybooks" / "playbook-ThreatMon_Threat_Feed_-_Test.yml").read_text(encoding="utf-8")
    )
    integration = wiring.load_integration(feed / "Integrations" / "ThreatMonThreatFeed" / "ThreatMonThreatFeed.yml")
    assert wiring.check_context_paths_are_declared(test_playbook, integration) == []
    test_playbook["tasks"] = wiring.yaml.safe_load(wiring.yaml.safe_dump(test_playbook["tasks"]).replace(".Value", ".value"))
    assert_reported(wiring.check_context_paths_are_declared(test_playbook, integration), "'ThreatMon.Indicator.value'")


def test_a_search_by_a_field_that_is_not_searchable_is_reported(pack):
    pack.field_cli_names["threatmonalarmcode"]["unsearchable"] = True
    problems = wiring.check_searched_fields_are_searchable(pack.playbooks[APPLY_FILE], pack)
    assert problems == ["ThreatMon - Apply Alarm Status Change searches by threatmonalarmcode, which is not searchable."]


def test_context_path_no_command_declares_is_reported(pack, real_pack):
    yml = copy.deepcopy(real_pack.integration)
    for command in yml["script"]["commands"]:
        command["outputs"] = [o for o in command.get("outputs") or [] if o["contextPath"] != "ThreatMon.CVE.cve"]
    problems = wiring.check_context_paths_are_declared(the_test_playbook(pack), yml)
    assert_reported(problems, "uses context 'ThreatMon.CVE.cve'")


# ------------------------------------------------------------------------------ the sync job


def sync_tasks(pack, file_name):
    return pack.playbooks[file_name]["tasks"]


def sync_task(pack, file_name, command, reason=None):
    return next(
        task
        for task in sync_tasks(pack, file_name).values()
        if wiring._runs(task, command)
        and (reason is None or wiring.simple_value(task["scriptarguments"].get("closeReason")) == reason)
    )


def drop_the_loop(pack):
    loop = next(t for t in sync_tasks(pack, SYNC_FILE).values() if t["task"].get("playbookName") == wiring.APPLY_PLAYBOOK_ID)
    del loop["loop"]


def change_the_xsiam_other(pack):
    sync_task(pack, APPLY_FILE, "closeInvestigation", "Other")["scriptarguments"]["closeReason:marketplacev2"] = {
        "simple": "Resolved - True Positive"
    }


def drop_the_other_close(pack):
    sync_task(pack, APPLY_FILE, "closeInvestigation", "Other")["scriptarguments"]["closeReason"] = {"simple": "Resolved"}


def search_by_name(pack):
    sync_task(pack, APPLY_FILE, "getIncidents")["scriptarguments"]["query"] = {"simple": "name:${inputs.Change.alarmCode}"}


def leave_the_job_open(pack):
    job = sync_task(pack, SYNC_FILE, "closeInvestigation")
    job["task"]["script"] = "Builtin|||setIncident"


def close_without_notes(pack):
    sync_task(pack, APPLY_FILE, "closeInvestigation", "Duplicate")["scriptarguments"].pop("closeNotes")


def close_every_incident_found(pack):
    sync_task(pack, APPLY_FILE, "closeInvestigation", "Resolved")["scriptarguments"]["id"]["complex"].pop("filters")


@pytest.mark.parametrize(
    ("breakage", "reported"),
    [
        (drop_the_loop, "as a for-each loop"),
        (close_every_incident_found, "without keeping only the changed alarm's incident"),
        (change_the_xsiam_other, "gives closeReason:marketplacev2 'Resolved - True Positive', not 'Resolved - Other'"),
        (drop_the_other_close, "expected ['Duplicate', 'False Positive', 'Other', 'Resolved']"),
        (search_by_name, "does not find the incident by its ThreatMon Alarm Code"),
        (leave_the_job_open, "does not close its own run"),
        (close_without_notes, "'Duplicate' does not use the command's close notes"),
    ],
)
def test_broken_sync_flow_is_reported(pack, breakage, reported):
    breakage(pack)
    assert_reported(wiring.check_sync_flow(pack.playbooks[SYNC_FILE], pack.playbooks[APPLY_FILE]), reported)
