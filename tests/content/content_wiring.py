"""Checks that keep the ThreatMon pack content wired together.

Each ``check_*`` function takes parsed content (plain dicts, as json/yaml load them) and returns a list of
problems, one readable sentence each; an empty list means the wiring holds. The tests run every check on the real
pack (expecting no problem) and on deliberately broken copies (expecting the break to be reported), so a check
that could never fail would be caught.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
PACK = REPO_ROOT / "Packs" / "ThreatMon"
INTEGRATION_YML = PACK / "Integrations" / "ThreatMon" / "ThreatMon.yml"

INCIDENT_TYPE = "ThreatMon Alarm"
LAYOUT_ID = "ThreatMon Alarm Layout"
PLAYBOOK_ID = "ThreatMon - Alarm Handling"
TEST_PLAYBOOK_ID = "ThreatMon - Test"
CLASSIFIER_ID = "ThreatMon - Classifier"
MAPPER_ID = "ThreatMon - Incoming Mapper"
INTEGRATION_ID = "Threatmon"  # the brand of ThreatMon 1.x (lower-case m), kept so instances and playbook tasks carry over
MARKETPLACES = ["xsoar", "marketplacev2", "platform"]  # as ThreatMon 1.x: the pack and every item that lists its own
VERDICTS = ("Resolved", "False Positive", "Ignore")
# The integration's outgoing-mirroring rule (update-remote-system): the close reason decides the status it sends.
MIRRORED_STATUS_BY_CLOSE_REASON = {
    "False Positive": "False Positive",
    "Duplicate": "Ignore",
    "Resolved - False Positive": "False Positive",
    "Resolved - Duplicate Issue": "Ignore",
    "Resolved - Known Issue": "Ignore",
    "Resolved - Security Testing": "Ignore",
    "Resolved - Dismissed": "Ignore",
}
MIRRORED_STATUS_OTHERWISE = "Resolved"
TAKEDOWN_TYPES = ("Phishing Domain Detected", "Rogue Mobile App Detected", "Fake Social Media Account Detected")

# The incident fields every XSOAR server has (cli names, compared case-insensitively). Mappers, layouts and
# setIncident may use them without the pack shipping them.
BUILTIN_INCIDENT_FIELDS = frozenset(
    name.lower()
    for name in (
        "name", "details", "severity", "owner", "type", "occurred", "playbookId", "phase", "roles", "labels",
        "attachment", "sourceBrand", "sourceInstance", "category", "reason", "reminder", "runStatus", "id",
        "dbotCreated", "dbotClosed", "dbotModified", "dbotDueDate", "dbotTotalTime", "dbotStatus", "dbotSource",
        "dbotCreatedBy", "closeReason", "closeNotes", "closingUserId", "dbotMirrorId", "dbotMirrorInstance",
        "dbotMirrorDirection", "dbotMirrorTags", "dbotMirrorLastSync", "droppedCount", "linkedCount", "feedBased",
    )
)  # fmt: skip

# Commands the XSOAR server itself implements (script "Builtin|||<name>"): no pack needed.
BUILTIN_COMMANDS = frozenset({"extractIndicators", "setIncident", "closeInvestigation", "getList", "getIncidents"})

# Condition and filter operators the server evaluates itself (no filter script from another pack).
BUILTIN_OPERATORS = frozenset(
    {
        "isEqualString", "isNotEqualString", "containsString", "notContainsString", "startWith", "endWith",
        "inList", "notInList", "isExists", "isNotExists", "isEmpty", "isNotEmpty", "isTrue", "isFalse",
        "isEqualNumber", "isNotEqualNumber", "greaterThan", "greaterThanOrEqual", "lessThan", "lessThanOrEqual",
        "match", "notMatch",
    }
)  # fmt: skip

# Task arguments the server reads itself, valid for any command.
GENERIC_TASK_ARGUMENTS = frozenset(
    {"using", "extend-context", "ignore-outputs", "execution-timeout", "retry-count", "retry-interval"}
)


# ----------------------------------------------------------------------------------------------- loading


@dataclass
class Pack:
    """The parsed content of the pack (everything this module checks)."""

    fields: dict[str, dict[str, Any]]  # file name -> incident field
    incident_types: dict[str, dict[str, Any]]  # file name -> incident type
    classifiers: dict[str, dict[str, Any]]  # file name -> classifier or mapper
    layouts: dict[str, dict[str, Any]]  # file name -> layouts container
    playbooks: dict[str, dict[str, Any]]  # file name -> playbook
    test_playbooks: dict[str, dict[str, Any]]  # file name -> test playbook
    readmes: dict[str, str] = field(default_factory=dict)  # playbook file name -> its README text
    integration: dict[str, Any] = field(default_factory=dict)  # ThreatMon.yml
    metadata: dict[str, Any] = field(default_factory=dict)  # pack_metadata.json

    def one(self, items: dict[str, dict[str, Any]], item_id: str) -> dict[str, Any] | None:
        return next((item for item in items.values() if item.get("id") == item_id), None)

    @property
    def field_names(self) -> dict[str, dict[str, Any]]:
        return {item.get("name"): item for item in self.fields.values()}

    @property
    def field_cli_names(self) -> dict[str, dict[str, Any]]:
        return {item.get("cliName"): item for item in self.fields.values()}

    @property
    def from_version(self) -> str:
        """The integration's fromversion, which every content item of the pack follows."""
        return str(self.integration["fromversion"])


def _load_folder(folder: Path, pattern: str, loader) -> dict[str, dict[str, Any]]:
    return {path.name: loader(path.read_text(encoding="utf-8")) for path in sorted(folder.glob(pattern))}


def load_pack(pack: Path = PACK) -> Pack:
    playbook_dir = pack / "Playbooks"
    return Pack(
        fields=_load_folder(pack / "IncidentFields", "*.json", json.loads),
        incident_types=_load_folder(pack / "IncidentTypes", "*.json", json.loads),
        classifiers=_load_folder(pack / "Classifiers", "*.json", json.loads),
        layouts=_load_folder(pack / "Layouts", "*.json", json.loads),
        playbooks=_load_folder(playbook_dir, "*.yml", yaml.safe_load),
        test_playbooks=_load_folder(pack / "TestPlaybooks", "*.yml", yaml.safe_load),
        readmes={
            path.name.replace("_README.md", ".yml"): path.read_text(encoding="utf-8")
            for path in sorted(playbook_dir.glob("*_README.md"))
        },
        integration=load_integration(pack / "Integrations" / "ThreatMon" / "ThreatMon.yml"),
        metadata=json.loads((pack / "pack_metadata.json").read_text(encoding="utf-8")),
    )


def load_integration(path: Path = INTEGRATION_YML) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def integration_commands(integration: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """command name -> {argument name -> argument definition} from an integration yml."""
    commands = (integration.get("script") or {}).get("commands") or []
    return {command["name"]: {arg["name"]: arg for arg in command.get("arguments") or []} for command in commands}


# ----------------------------------------------------------------------------------------------- helpers


def is_builtin_field(name: str) -> bool:
    return str(name).lower() in BUILTIN_INCIDENT_FIELDS


def simple_value(value: dict[str, Any] | None) -> str | None:
    """The literal of a playbook value ({"simple": "text"}), None when it is not a plain literal."""
    if isinstance(value, dict) and "simple" in value and "${" not in str(value["simple"]):
        return str(value["simple"])
    return None


def value_paths(value: dict[str, Any] | None) -> list[str]:
    """The context paths a playbook value reads (complex root.accessor, or ${...} inside a simple value)."""
    if not isinstance(value, dict):
        return []
    if "complex" in value:
        complex_value = value["complex"] or {}
        root, accessor = complex_value.get("root", ""), complex_value.get("accessor")
        return [f"{root}.{accessor}" if accessor else root]
    text = str(value.get("simple", ""))
    paths, start = [], text.find("${")
    while start != -1:
        end = text.find("}", start)
        paths.append(text[start + 2 : end])
        start = text.find("${", end)
    return paths


def is_manual_condition(task: dict[str, Any]) -> bool:
    return task.get("type") == "condition" and not task.get("conditions")


def task_command(task: dict[str, Any]) -> tuple[str, str] | None:
    """(brand, command) of a task that runs a command, None for other tasks."""
    script = (task.get("task") or {}).get("script")
    if not script:
        return None
    brand, _, command = str(script).rpartition("|||")
    return brand, command


def condition_operators(task: dict[str, Any]) -> Iterator[str]:
    """Every operator a condition task uses, including those in complex filters of its operands."""
    for branch in task.get("conditions") or []:
        for alternatives in branch.get("condition") or []:
            for condition in alternatives:
                yield condition.get("operator", "")
                for side in ("left", "right"):
                    complex_value = ((condition.get(side) or {}).get("value") or {}).get("complex") or {}
                    for filter_group in complex_value.get("filters") or []:
                        for filter_entry in filter_group:
                            yield filter_entry.get("operator", "")
                    for transformer in complex_value.get("transformers") or []:
                        yield transformer.get("operator", "")


def condition_reads(task: dict[str, Any], label: str) -> list[str]:
    """The context paths the conditions of one branch label read (left and right sides)."""
    paths = []
    for branch in task.get("conditions") or []:
        if branch.get("label") != label:
            continue
        for alternatives in branch.get("condition") or []:
            for condition in alternatives:
                for side in ("left", "right"):
                    operand = condition.get(side) or {}
                    if operand.get("iscontext"):
                        # a context operand's plain simple value is itself a path
                        literal = simple_value(operand.get("value"))
                        paths.extend([literal] if literal is not None else value_paths(operand.get("value")))
    return paths


def walk(playbook: dict[str, Any]) -> Iterator[list[tuple[str, str | None]]]:
    """Every path from the start task to a task with no next task, as [(task key, branch label taken), ...].
    The label is None on the last task. Playbooks here are acyclic; a cycle is cut where it closes."""
    tasks = playbook.get("tasks") or {}

    def extend(path: list[tuple[str, str | None]], key: str) -> Iterator[list[tuple[str, str | None]]]:
        nexttasks = (tasks.get(key) or {}).get("nexttasks") or {}
        if not nexttasks:
            yield [*path, (key, None)]
            return
        for label, targets in nexttasks.items():
            for target in targets or []:
                if any(seen == target for seen, _ in path) or target == key:
                    continue
                yield from extend([*path, (key, label)], target)

    yield from extend([], str(playbook.get("starttaskid", "0")))


# ----------------------------------------------------------------------------------------------- checks


def check_incident_type(pack: Pack) -> list[str]:
    problems = []
    incident_type = pack.one(pack.incident_types, INCIDENT_TYPE)
    if incident_type is None:
        return [f"IncidentTypes/ holds no incident type with id '{INCIDENT_TYPE}'."]
    if incident_type.get("name") != INCIDENT_TYPE:
        problems.append(f"The incident type's name is '{incident_type.get('name')}', not '{INCIDENT_TYPE}'.")
    if incident_type.get("layout") != LAYOUT_ID:
        problems.append(f"The incident type names layout '{incident_type.get('layout')}', expected '{LAYOUT_ID}'.")
    if pack.one(pack.layouts, str(incident_type.get("layout"))) is None:
        problems.append(f"The layout '{incident_type.get('layout')}' the incident type names is not in Layouts/.")
    if incident_type.get("playbookId") != PLAYBOOK_ID:
        problems.append(f"The incident type runs playbook '{incident_type.get('playbookId')}', expected '{PLAYBOOK_ID}'.")
    if pack.one(pack.playbooks, str(incident_type.get("playbookId"))) is None:
        problems.append(f"The playbook '{incident_type.get('playbookId')}' the incident type runs is not in Playbooks/.")
    if not incident_type.get("autorun"):
        problems.append("The incident type does not run its playbook automatically (autorun is off).")
    if incident_type.get("closureScript"):
        problems.append(f"The incident type has closure script '{incident_type['closureScript']}'; it should have none.")
    if not str(incident_type.get("color", "")).startswith("#"):
        problems.append("The incident type has no color.")
    return problems


REQUIRED_FIELDS = {
    # cli name -> accepted field types
    "threatmonalarmcode": ("shortText", "number"),
    "threatmonstatus": ("shortText", "singleSelect"),
    "threatmonseverity": ("shortText",),
    "threatmonalarmdate": ("date",),
    "threatmonalarmtype": ("shortText",),
    "threatmonfindingid": ("shortText",),
}


def check_incident_fields(pack: Pack) -> list[str]:
    problems = []
    cli_names = pack.field_cli_names
    for cli_name, types in REQUIRED_FIELDS.items():
        if cli_name not in cli_names:
            problems.append(f"IncidentFields/ has no field with cliName '{cli_name}'.")
        elif cli_names[cli_name].get("type") not in types:
            problems.append(f"Field '{cli_name}' has type '{cli_names[cli_name].get('type')}', expected one of {types}.")
    for file_name, item in pack.fields.items():
        cli_name = str(item.get("cliName", ""))
        if not (cli_name.startswith("threatmon") and cli_name.isalnum() and cli_name.islower()):
            problems.append(f"{file_name}: cliName '{cli_name}' is not 'threatmon' + lowercase letters and digits.")
        if item.get("id") != f"incident_{cli_name}":
            problems.append(f"{file_name}: id '{item.get('id')}' should be 'incident_{cli_name}'.")
        if not (file_name.startswith("incidentfield-ThreatMon_") and file_name.endswith(".json")):
            problems.append(f"{file_name}: incident field files are named incidentfield-ThreatMon_<Name>.json.")
        if INCIDENT_TYPE not in (item.get("associatedTypes") or []):
            problems.append(f"{file_name}: the field is not associated with the '{INCIDENT_TYPE}' incident type.")
        if item.get("associatedToAll"):
            problems.append(f"{file_name}: the field is associated with every incident type; it belongs to ours only.")
    return problems


def check_mapper(pack: Pack) -> list[str]:
    """Every mapped field exists in the pack or is built in; the ThreatMon alarm keys land in their fields."""
    mapper = pack.one(pack.classifiers, MAPPER_ID)
    if mapper is None:
        return [f"Classifiers/ holds no mapper with id '{MAPPER_ID}'."]
    problems = []
    if mapper.get("type") != "mapping-incoming":
        problems.append(f"The mapper's type is '{mapper.get('type')}', expected 'mapping-incoming'.")
    names = pack.field_names
    mapping = mapper.get("mapping") or {}
    if INCIDENT_TYPE not in mapping:
        problems.append(f"The mapper has no mapping for the '{INCIDENT_TYPE}' incident type.")
    for incident_type, section in mapping.items():
        if incident_type not in (INCIDENT_TYPE, "dbot_classification_incident_type_all"):
            problems.append(f"The mapper maps incident type '{incident_type}', which the pack does not define.")
        for field_name in section.get("internalMapping") or {}:
            if field_name not in names and not is_builtin_field(field_name):
                problems.append(f"The mapper fills '{field_name}', which is neither a pack field nor a built-in field.")
            elif field_name in names and INCIDENT_TYPE not in (names[field_name].get("associatedTypes") or []):
                problems.append(f"The mapper fills '{field_name}', which is not associated with '{INCIDENT_TYPE}'.")
    return problems


# alarm key -> the cli name of the field that must receive it (built-ins by their cli name)
EXPECTED_MAPPING = {
    "alarmCode": "threatmonalarmcode",
    "status": "threatmonstatus",
    "severity": "threatmonseverity",
    "alarmDate": "threatmonalarmdate",
    "alarmType": "threatmonalarmtype",
    "findingId": "threatmonfindingid",
    "description": "details",
}


def mapped_sources(pack: Pack) -> dict[str, str]:
    """cli name -> the alarm key the mapper reads for it (ThreatMon Alarm section)."""
    mapper = pack.one(pack.classifiers, MAPPER_ID) or {}
    section = ((mapper.get("mapping") or {}).get(INCIDENT_TYPE) or {}).get("internalMapping") or {}
    names = pack.field_names
    sources = {}
    for field_name, rule in section.items():
        cli_name = names[field_name]["cliName"] if field_name in names else str(field_name).lower()
        source = rule.get("simple") if "simple" in rule else (rule.get("complex") or {}).get("root")
        sources[cli_name] = source
    return sources


def check_mapping_of_alarm_keys(pack: Pack) -> list[str]:
    sources = mapped_sources(pack)
    return [
        f"The mapper should fill '{cli_name}' from the alarm's '{key}', it reads '{sources.get(cli_name)}'."
        for key, cli_name in EXPECTED_MAPPING.items()
        if sources.get(cli_name) != key
    ]


def check_classifier(pack: Pack) -> list[str]:
    classifier = pack.one(pack.classifiers, CLASSIFIER_ID)
    if classifier is None:
        return [f"Classifiers/ holds no classifier with id '{CLASSIFIER_ID}'."]
    problems = []
    if classifier.get("type") != "classification":
        problems.append(f"The classifier's type is '{classifier.get('type')}', expected 'classification'.")
    if classifier.get("defaultIncidentType") != INCIDENT_TYPE:
        problems.append(
            f"The classifier's default incident type is '{classifier.get('defaultIncidentType')}', expected "
            f"'{INCIDENT_TYPE}' (every ThreatMon alarm is a {INCIDENT_TYPE})."
        )
    for key, target in (classifier.get("keyTypeMap") or {}).items():
        if target != INCIDENT_TYPE:
            problems.append(f"The classifier sends '{key}' to '{target}', not to '{INCIDENT_TYPE}'.")
    return problems


def layout_sections(layout: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for tab in (layout.get("detailsV2") or {}).get("tabs") or []:
        for section in tab.get("sections") or []:
            yield tab, section


SUMMARY_SECTION_FIELDS = (
    "threatmonalarmcode",
    "threatmonseverity",
    "threatmonstatus",
    "threatmonalarmdate",
    "threatmonalarmtype",
    "threatmonfindingid",
    "details",
)


def check_layout(pack: Pack) -> list[str]:
    layout = pack.one(pack.layouts, LAYOUT_ID)
    if layout is None:
        return [f"Layouts/ holds no layouts container with id '{LAYOUT_ID}'."]
    problems = []
    if layout.get("group") != "incident":
        problems.append(f"The layout's group is '{layout.get('group')}', expected 'incident'.")
    cli_names = pack.field_cli_names
    for _tab, section in layout_sections(layout):
        for item in section.get("items") or []:
            field_id = str(item.get("fieldId", ""))
            if field_id.removeprefix("incident_") not in cli_names and not is_builtin_field(field_id.removeprefix("incident_")):
                problems.append(f"The layout section '{section.get('name')}' shows unknown field '{field_id}'.")
    tabs = (layout.get("detailsV2") or {}).get("tabs") or []
    if not tabs or tabs[0].get("type") != "custom" or not tabs[0].get("sections"):
        return [*problems, "The layout's first tab is not a summary tab with sections."]
    first = min(tabs[0]["sections"], key=lambda section: (section.get("y", 0), section.get("x", 0)))
    shown = {str(item.get("fieldId", "")).removeprefix("incident_") for item in first.get("items") or []}
    missing = [name for name in SUMMARY_SECTION_FIELDS if name not in shown]
    if missing:
        problems.append(f"The summary tab's first section '{first.get('name')}' does not show {', '.join(missing)}.")
    return problems


def check_from_versions(pack: Pack) -> list[str]:
    expected = pack.from_version
    problems = []
    for group in (pack.fields, pack.incident_types, pack.classifiers, pack.layouts):
        for file_name, item in group.items():
            if str(item.get("fromVersion")) != expected:
                problems.append(f"{file_name}: fromVersion '{item.get('fromVersion')}' differs from '{expected}'.")
    for group in (pack.playbooks, pack.test_playbooks):
        for file_name, item in group.items():
            if str(item.get("fromversion")) != expected:
                problems.append(f"{file_name}: fromversion '{item.get('fromversion')}' differs from '{expected}'.")
    return problems


def check_marketplaces(pack: Pack) -> list[str]:
    """The pack is on every marketplace ThreatMon 1.x was on; an item that lists marketplaces lists the same ones (an
    item that lists none has the pack's)."""
    problems = []
    if pack.metadata.get("marketplaces") != MARKETPLACES:
        problems.append(f"pack_metadata.json lists marketplaces {pack.metadata.get('marketplaces')}, expected {MARKETPLACES}.")
    items = {"ThreatMon.yml": pack.integration}
    for group in (pack.fields, pack.incident_types, pack.classifiers, pack.layouts, pack.playbooks, pack.test_playbooks):
        items.update(group)
    for file_name, item in items.items():
        if "marketplaces" in item and item["marketplaces"] != MARKETPLACES:
            problems.append(f"{file_name}: lists marketplaces {item['marketplaces']}, expected {MARKETPLACES} or none.")
    return problems


def check_playbook_structure(playbook: dict[str, Any]) -> list[str]:
    """Every next task exists, every task is reachable from the start, every task's id matches its key."""
    tasks = playbook.get("tasks") or {}
    name = playbook.get("name")
    problems = []
    start = str(playbook.get("starttaskid"))
    if start not in tasks:
        return [f"{name}: the start task '{start}' does not exist."]
    reachable, todo = set(), [start]
    while todo:
        key = todo.pop()
        if key in reachable:
            continue
        reachable.add(key)
        for label, targets in (tasks[key].get("nexttasks") or {}).items():
            for target in targets or []:
                if target not in tasks:
                    problems.append(f"{name}: task '{key}' branch '{label}' leads to missing task '{target}'.")
                else:
                    todo.append(target)
    for key, task in tasks.items():
        if key not in reachable:
            problems.append(f"{name}: task '{key}' ({task.get('task', {}).get('name')}) is never reached.")
        if str(task.get("id")) != key or task.get("taskid") != (task.get("task") or {}).get("id"):
            problems.append(f"{name}: task '{key}' has inconsistent ids.")
    return problems


def check_playbook_uses_only_builtins_and_pack(playbook: dict[str, Any], pack: Pack) -> list[str]:
    """No script, sub-playbook, filter or transformer from another pack; setIncident writes known fields."""
    name = playbook.get("name")
    problems = []
    pack_playbooks = {item.get("id") for item in [*pack.playbooks.values(), *pack.test_playbooks.values()]}
    for key, task in (playbook.get("tasks") or {}).items():
        body = task.get("task") or {}
        if body.get("scriptName"):
            problems.append(f"{name}: task '{key}' runs script '{body['scriptName']}', which this pack does not ship.")
        sub_playbook = body.get("playbookName") or body.get("playbookId")
        if sub_playbook and sub_playbook not in pack_playbooks:
            problems.append(f"{name}: task '{key}' runs playbook '{sub_playbook}' from another pack.")
        if body.get("brand") not in (None, "", INTEGRATION_ID):
            problems.append(f"{name}: task '{key}' names brand '{body['brand']}', not '{INTEGRATION_ID}' (or none).")
        command = task_command(task)
        if command:
            brand, command_name = command
            if brand == "Builtin" and command_name not in BUILTIN_COMMANDS:
                problems.append(f"{name}: task '{key}' runs '{command_name}', which is not a known built-in command.")
            elif brand not in ("Builtin", "", INTEGRATION_ID):
                problems.append(f"{name}: task '{key}' runs a command of integration '{brand}' from another pack.")
            if command_name == "setIncident":
                for argument in task.get("scriptarguments") or {}:
                    if argument not in pack.field_cli_names and not is_builtin_field(argument):
                        problems.append(f"{name}: task '{key}' sets '{argument}', which is not a pack or built-in field.")
        for operator in condition_operators(task):
            if operator not in BUILTIN_OPERATORS:
                problems.append(f"{name}: task '{key}' uses operator '{operator}', which is not a built-in one.")
        for argument in (task.get("scriptarguments") or {}).values():
            for transformer in ((argument or {}).get("complex") or {}).get("transformers") or []:
                problems.append(f"{name}: task '{key}' uses transformer '{transformer.get('operator')}'.")
    return problems


def check_playbook_commands(playbook: dict[str, Any], integration: dict[str, Any]) -> list[str]:
    """Every integration command a task runs exists in the yml, with arguments the yml defines, every required
    argument given, and every literal argument one of the argument's predefined values."""
    commands = integration_commands(integration)
    name = playbook.get("name")
    problems = []
    for key, task in (playbook.get("tasks") or {}).items():
        command = task_command(task)
        if not command or command[0] == "Builtin":
            continue
        command_name = command[1]
        if command_name not in commands:
            problems.append(f"{name}: task '{key}' runs '{command_name}', which ThreatMon.yml does not define.")
            continue
        arguments = commands[command_name]
        given = task.get("scriptarguments") or {}
        for argument, value in given.items():
            if argument in GENERIC_TASK_ARGUMENTS:
                continue
            if argument not in arguments:
                problems.append(f"{name}: task '{key}' passes '{argument}', which '{command_name}' does not take.")
                continue
            literal = simple_value(value)
            predefined = arguments[argument].get("predefined") or []
            if literal is not None and predefined and literal not in predefined:
                problems.append(
                    f"{name}: task '{key}' passes {argument}='{literal}', not one of {predefined} of '{command_name}'."
                )
        for argument, definition in arguments.items():
            if definition.get("required") and argument not in given:
                problems.append(f"{name}: task '{key}' omits '{argument}', which '{command_name}' requires.")
    return problems


def check_integration_names_content(pack: Pack, integration: dict[str, Any]) -> list[str]:
    problems = []
    classifier_ids = {item.get("id") for item in pack.classifiers.values() if item.get("type") == "classification"}
    mapper_ids = {item.get("id") for item in pack.classifiers.values() if item.get("type") == "mapping-incoming"}
    if integration.get("defaultclassifier") not in classifier_ids:
        problems.append(f"ThreatMon.yml's defaultclassifier '{integration.get('defaultclassifier')}' is not in Classifiers/.")
    if integration.get("defaultmapperin") not in mapper_ids:
        problems.append(f"ThreatMon.yml's defaultmapperin '{integration.get('defaultmapperin')}' is not in Classifiers/.")
    if integration.get("defaultclassifier") != CLASSIFIER_ID or integration.get("defaultmapperin") != MAPPER_ID:
        problems.append(f"ThreatMon.yml should name '{CLASSIFIER_ID}' and '{MAPPER_ID}' as its defaults.")
    test_ids = {item.get("id") for item in pack.test_playbooks.values()}
    listed = integration.get("tests") or []
    if TEST_PLAYBOOK_ID not in listed:
        problems.append(f"ThreatMon.yml does not list '{TEST_PLAYBOOK_ID}' under tests.")
    for test in listed:
        if test not in test_ids and not str(test).lower().startswith("no test"):
            problems.append(f"ThreatMon.yml lists test playbook '{test}', which is not in TestPlaybooks/.")
    if (integration.get("commonfields") or {}).get("id") != INTEGRATION_ID:
        problems.append(f"ThreatMon.yml's commonfields.id is not '{INTEGRATION_ID}'.")
    return problems


def _tasks_on(path: list[tuple[str, str | None]], playbook: dict[str, Any]) -> list[tuple[str, dict[str, Any], str | None]]:
    tasks = playbook.get("tasks") or {}
    return [(key, tasks[key], label) for key, label in path]


def _runs(task: dict[str, Any], command_name: str) -> bool:
    command = task_command(task)
    return bool(command and command[1] == command_name)


def check_verdict_flow(playbook: dict[str, Any]) -> list[str]:
    """The analyst picks Resolved, False Positive or Ignore in a manual task; each answer sets exactly that status
    for the incident's alarm code, then closes the investigation. Every run of the playbook ends that way."""
    tasks = playbook.get("tasks") or {}
    verdict_tasks = [
        key for key, task in tasks.items()
        if is_manual_condition(task) and set(task.get("nexttasks") or {}) == set(VERDICTS)
    ]  # fmt: skip
    if len(verdict_tasks) != 1:
        return [f"Expected one manual task whose answers are exactly {', '.join(VERDICTS)}; found {len(verdict_tasks)}."]
    problems = []
    for path in walk(playbook):
        steps = _tasks_on(path, playbook)
        keys = [key for key, _task, _label in steps]
        verdict = next((label for key, _task, label in steps if key == verdict_tasks[0]), None)
        if verdict is None:
            problems.append(f"The path {' > '.join(keys)} ends without asking the analyst for a verdict.")
            continue
        updates = [(key, task) for key, task, _label in steps if _runs(task, "threatmon_update_incident_status")]
        closes = [key for key, task, _label in steps if _runs(task, "closeInvestigation")]
        if len(updates) != 1 or len(closes) != 1:
            problems.append(f"After the verdict '{verdict}' the playbook must set the status once and close once.")
            continue
        update_key, update = updates[0]
        arguments = update.get("scriptarguments") or {}
        if simple_value(arguments.get("status")) != verdict:
            problems.append(f"The verdict '{verdict}' sends status '{simple_value(arguments.get('status'))}' to ThreatMon.")
        if value_paths(arguments.get("alarmId")) != ["incident.threatmonalarmcode"]:
            problems.append(f"Task '{update_key}' does not take alarmId from the incident's ThreatMon Alarm Code.")
        if keys.index(update_key) > keys.index(closes[0]):
            problems.append(f"After the verdict '{verdict}' the incident is closed before ThreatMon is updated.")
        close_reason = simple_value(((tasks.get(closes[0]) or {}).get("scriptarguments") or {}).get("closeReason"))
        mirrored = MIRRORED_STATUS_BY_CLOSE_REASON.get(close_reason or "", MIRRORED_STATUS_OTHERWISE)
        if mirrored != verdict:
            problems.append(
                f"The verdict '{verdict}' closes with reason '{close_reason}', which outgoing mirroring sends as '{mirrored}'."
            )
    return problems


def check_takedown_flow(playbook: dict[str, Any]) -> list[str]:
    """A takedown is requested only for an eligible alarm type and only after the analyst approved it."""
    inputs = {item.get("key"): item for item in playbook.get("inputs") or []}
    problems = []
    default_types = simple_value((inputs.get("TakedownAlarmTypes") or {}).get("value")) or ""
    if sorted(part.strip() for part in default_types.split(",") if part.strip()) != sorted(TAKEDOWN_TYPES):
        problems.append(f"The TakedownAlarmTypes input should default to {', '.join(TAKEDOWN_TYPES)}.")
    takedown_seen = False
    for path in walk(playbook):
        steps = _tasks_on(path, playbook)
        for index, (key, task, _label) in enumerate(steps):
            if not _runs(task, "threatmon_request_takedown"):
                continue
            takedown_seen = True
            before = steps[:index]
            approved = any(is_manual_condition(t) and label == "Yes" for _k, t, label in before)
            eligible = any(
                t.get("type") == "condition"
                and "inputs.TakedownAlarmTypes" in condition_reads(t, str(label))
                and "incident.threatmonalarmtype" in condition_reads(t, str(label))
                for _k, t, label in before
            )
            if not approved:
                problems.append(f"Task '{key}' requests a takedown without the analyst's approval (a manual 'Yes').")
            if not eligible:
                problems.append(f"Task '{key}' requests a takedown without checking the alarm type is eligible.")
    if not takedown_seen:
        problems.append("No path of the playbook requests a takedown (threatmon_request_takedown).")
    return problems


def check_severity_branch(playbook: dict[str, Any]) -> list[str]:
    """Some automatic condition reads the alarm's severity and leads to different tasks on its branches."""
    for task in (playbook.get("tasks") or {}).values():
        if task.get("type") != "condition" or is_manual_condition(task):
            continue
        labels = {branch.get("label") for branch in task.get("conditions") or []}
        reads_severity = any(
            path.startswith("incident.") and "severity" in path for label in labels for path in condition_reads(task, label)
        )
        targets = {tuple(targets or []) for targets in (task.get("nexttasks") or {}).values()}
        if reads_severity and len(targets) > 1:
            return []
    return ["No condition task branches on the alarm's severity."]


def check_indicator_extraction(playbook: dict[str, Any]) -> list[str]:
    for task in (playbook.get("tasks") or {}).values():
        if _runs(task, "extractIndicators"):
            text = (task.get("scriptarguments") or {}).get("text")
            if "incident.details" in value_paths(text):
                return []
    return ["No task extracts indicators from the incident details (extractIndicators with text from incident.details)."]


def check_readme_names_commands(playbook_file: str, playbook: dict[str, Any], readme: str | None) -> list[str]:
    if readme is None:
        return [f"{playbook_file} has no README ({playbook_file.replace('.yml', '_README.md')})."]
    commands = {command for task in (playbook.get("tasks") or {}).values() if (command := task_command(task))}
    return [f"The README of {playbook_file} does not list command '{name}'." for _b, name in commands if name not in readme]


def check_test_playbook(test_playbook: dict[str, Any]) -> list[str]:
    """The test playbook runs the integration's read commands and the status change, checks their context with
    built-in conditions, and every failed check leads to a task that errors."""
    tasks = test_playbook.get("tasks") or {}
    ran = {command[1] for task in tasks.values() if (command := task_command(task))}
    problems = [
        f"The test playbook does not run '{name}'."
        for name in ("threatmon_list_alarms", "threatmon_update_incident_status", "threatmon_list_cves")
        if name not in ran
    ]
    checked = set()
    for key, task in tasks.items():
        if task.get("type") != "condition":
            continue
        for branch in task.get("conditions") or []:
            checked.update(condition_reads(task, str(branch.get("label"))))
        failing = (task.get("nexttasks") or {}).get("#default#") or []
        if not failing or not all(_runs(tasks.get(target, {}), "getList") for target in failing):
            problems.append(f"Check '{key}' of the test playbook does not fail the run when the context is missing.")
    for prefix in ("ThreatMon.Alarm", "ThreatMon.CVE"):
        if not any(path.startswith(prefix) for path in checked):
            problems.append(f"The test playbook does not check the {prefix} context.")
    return problems


def declared_outputs(integration: dict[str, Any]) -> set[str]:
    commands = (integration.get("script") or {}).get("commands") or []
    return {output["contextPath"] for command in commands for output in command.get("outputs") or []}


def check_context_paths_are_declared(playbook: dict[str, Any], integration: dict[str, Any]) -> list[str]:
    """The ThreatMon context a playbook reads (conditions) or promises (outputs) is declared by a command."""
    declared = declared_outputs(integration)
    name = playbook.get("name")
    used = {output.get("contextPath", "") for output in playbook.get("outputs") or []}
    for task in (playbook.get("tasks") or {}).values():
        for branch in task.get("conditions") or []:
            used.update(condition_reads(task, str(branch.get("label"))))
        for value in (task.get("scriptarguments") or {}).values():
            used.update(value_paths(value))
    return [
        f"{name} uses context '{path}', which no command of {integration.get('name')} declares as an output."
        for path in sorted(used)
        if path.startswith("ThreatMon.")
        and path not in declared
        and not any(output.startswith(path + ".") for output in declared)  # a whole object the command outputs
    ]


def check_searched_fields_are_searchable(playbook: dict[str, Any], pack: Pack) -> list[str]:
    """A pack field a playbook searches incidents by (getIncidents query ``cliname:...``) is searchable: a search on a
    field that is not (``unsearchable``) finds nothing on Cortex XSIAM and the Cortex platform."""
    fields = pack.field_cli_names
    problems = []
    for task in (playbook.get("tasks") or {}).values():
        if not _runs(task, "getIncidents"):
            continue
        query = str(((task.get("scriptarguments") or {}).get("query") or {}).get("simple") or "")
        for name in sorted(set(re.findall(r"(\w+):", query))):
            if name in fields and fields[name].get("unsearchable") is not False:
                problems.append(f"{playbook.get('name')} searches by {name}, which is not searchable.")
    return problems


SYNC_PLAYBOOK_ID = "ThreatMon - Sync Alarm Statuses"
APPLY_PLAYBOOK_ID = "ThreatMon - Apply Alarm Status Change"
# The close reasons threatmon_sync_alarm_statuses gives (closeReason): the incoming-mirroring ones, and Other for an
# alarm ThreatMon no longer lists; on Cortex XSIAM and the Cortex platform each is read as the "Resolved - ..." reason.
SYNC_CLOSE_REASONS = {
    "Resolved": "Resolved - True Positive",
    "False Positive": "Resolved - False Positive",
    "Duplicate": "Resolved - Duplicate Issue",
    "Other": "Resolved - Other",
}


def _complex_values(item: Any, root: str) -> Iterator[dict[str, Any]]:
    """Every complex playbook value read from context ``root``, wherever it is in ``item``."""
    if isinstance(item, dict):
        if item.get("root") == root:
            yield item
        for value in item.values():
            yield from _complex_values(value, root)
    elif isinstance(item, list):
        for value in item:
            yield from _complex_values(value, root)


def _keeps_only_the_changed_alarm(value: dict[str, Any]) -> bool:
    """The value keeps the incidents whose ThreatMon Alarm Code is the loop's change's."""
    for branch in value.get("filters") or []:
        for condition in branch:
            left = simple_value((condition.get("left") or {}).get("value"))
            right = simple_value((condition.get("right") or {}).get("value"))
            if {left, right} == {"ThreatMonAlarmIncident.CustomFields.threatmonalarmcode", "inputs.Change.alarmCode"}:
                return True
    return False


def check_sync_flow(job: dict[str, Any], apply: dict[str, Any]) -> list[str]:
    """The job runs threatmon_sync_alarm_statuses, then the apply playbook once per ThreatMon.AlarmStatusChange (a
    for-each loop), then closes its own run. The apply playbook finds the open incident by its ThreatMon Alarm Code,
    and closes it with each reason the command can give (the XSIAM/platform variant beside it) and the command's notes;
    outgoing mirroring maps every one of those reasons back to the status ThreatMon has, or (Other) to Resolved."""
    problems = []
    tasks = job.get("tasks") or {}
    if not any(_runs(task, "threatmon_sync_alarm_statuses") for task in tasks.values()):
        problems.append("The sync job does not run threatmon_sync_alarm_statuses.")
    loops = [task for task in tasks.values() if (task.get("task") or {}).get("playbookName") == APPLY_PLAYBOOK_ID]
    if len(loops) != 1 or not (loops[0].get("loop") or {}).get("forEach"):
        problems.append(f"The sync job must run '{APPLY_PLAYBOOK_ID}' once, as a for-each loop.")
    elif value_paths((loops[0].get("scriptarguments") or {}).get("Change")) != ["ThreatMon.AlarmStatusChange"]:
        problems.append("The sync job's loop must hand each ThreatMon.AlarmStatusChange entry to the Change input.")
    if not any(_runs(task, "closeInvestigation") and "id" not in (task.get("scriptarguments") or {}) for task in tasks.values()):
        problems.append("The sync job does not close its own run.")
    steps = apply.get("tasks") or {}
    searches = [task for task in steps.values() if _runs(task, "getIncidents")]
    query = simple_value((searches[0].get("scriptarguments") or {}).get("query")) if searches else None
    text = str(((searches[0].get("scriptarguments") or {}).get("query") or {}).get("simple")) if searches else ""
    if query is not None or "threatmonalarmcode" not in text or "inputs.Change.alarmCode" not in text:
        problems.append("The apply playbook does not find the incident by its ThreatMon Alarm Code.")
    closes: dict[str, dict[str, Any]] = {}
    for key, task in steps.items():
        if _runs(task, "closeInvestigation"):
            arguments = task.get("scriptarguments") or {}
            closes[simple_value(arguments.get("closeReason")) or key] = arguments
    if set(closes) != set(SYNC_CLOSE_REASONS):
        problems.append(f"The apply playbook closes with {sorted(closes)}, expected {sorted(SYNC_CLOSE_REASONS)}.")
    for reason, arguments in closes.items():
        platform = SYNC_CLOSE_REASONS.get(reason)
        for key in ("closeReason:marketplacev2", "closeReason:platform"):
            if platform and simple_value(arguments.get(key)) != platform:
                problems.append(f"The close with '{reason}' gives {key} '{simple_value(arguments.get(key))}', not '{platform}'.")
        if value_paths(arguments.get("id")) != ["ThreatMonAlarmIncident.id"]:
            problems.append(f"The close with '{reason}' does not close the incident it found.")
        if value_paths(arguments.get("closeNotes")) != ["inputs.Change.closeNotes"]:
            problems.append(f"The close with '{reason}' does not use the command's close notes.")
    # The loop's iterations may share the sub-playbook's context: an incident an earlier change found must not be
    # updated or closed for this one.
    if not all(_keeps_only_the_changed_alarm(value) for value in _complex_values(steps, "ThreatMonAlarmIncident")):
        problems.append("The apply playbook reads ThreatMonAlarmIncident without keeping only the changed alarm's incident.")
    for reason, status in (("Duplicate", "Ignore"), ("False Positive", "False Positive")):
        if MIRRORED_STATUS_BY_CLOSE_REASON.get(reason) != status:
            problems.append(f"Outgoing mirroring would send '{reason}' as something other than '{status}'.")
    return problems
