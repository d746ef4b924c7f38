"""The 1.x compatibility contract of the two ThreatMon packs, and the checks that hold the packs to it.

``contract_1x.yml`` (next to this file) holds the facts of ThreatMon 1.0.7 and ThreatMon Threat Feed 1.0.1.
Each ``check_*`` function takes one integration's contract entry and the parsed content of the current packs
and returns a list of problems, one sentence each naming the broken item; an empty list means the contract
holds. ``baseline_files`` writes the 1.x packs back out of the contract (integration yml, a code stub and
pack_metadata.json), for demisto-sdk's own BC checks (``bc_check.py``) and as the known-good copy the tests break.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
CONTRACT_FILE = HERE / "contract_1x.yml"

# What an XSOAR server offers a parameter when nothing restricts it (the item, its pack): every module.
UNRESTRICTED = None


def load_contract(path: Path = CONTRACT_FILE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def integrations(contract: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(pack contract, integration contract) for every integration of the contract."""
    for pack in contract["packs"]:
        for integration in pack["integrations"]:
            yield pack, integration


# ------------------------------------------------------------------------------------------------ the packs


@dataclass
class PackState:
    """The current content of one pack, as XSOAR would read it (None where a file is missing)."""

    root: Path
    folder: str
    metadata: dict[str, Any] | None
    ymls: dict[str, dict[str, Any] | None]  # contract path -> parsed integration yml

    @classmethod
    def read(cls, root: Path, pack: dict[str, Any]) -> PackState:
        metadata_file = root / pack["folder"] / "pack_metadata.json"
        metadata = json.loads(metadata_file.read_text(encoding="utf-8")) if metadata_file.is_file() else None
        ymls = {}
        for integration in pack["integrations"]:
            yml_file = root / integration["path"]
            ymls[integration["path"]] = yaml.safe_load(yml_file.read_text(encoding="utf-8")) if yml_file.is_file() else None
        return cls(root, pack["folder"], metadata, ymls)


def _text(value: Any) -> str:
    """A yml/json scalar as XSOAR stores it (booleans as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _version(text: str) -> tuple[int, ...] | None:
    parts = str(text).strip().split(".")
    return tuple(int(part) for part in parts) if all(part.isdigit() for part in parts) else None


def _missing(path: str, what: str) -> str:
    return f"{path}: missing: the 1.x {what} is at this path on the marketplace, and upgrades replace it there"


def check_pack(pack: dict[str, Any], state: PackState) -> list[str]:
    """The pack folder, its marketplaces, and a version above 1.x (the marketplace offers only a higher one)."""
    where = f"{pack['folder']}/pack_metadata.json"
    if state.metadata is None:
        return [_missing(where, f"pack {pack['folder']} (version {pack['version']})")]
    problems = []
    dropped = [m for m in pack["marketplaces"] if m not in (state.metadata.get("marketplaces") or [])]
    if dropped:
        problems.append(f"{where}: marketplaces {', '.join(dropped)} of 1.x dropped (the pack disappears there)")
    current = _version(state.metadata.get("currentVersion", ""))
    if current is None or current <= _version(pack["version"]):
        problems.append(
            f"{where}: currentVersion {state.metadata.get('currentVersion')!r} is not above {pack['version']}, "
            "so 1.x customers are never offered the upgrade"
        )
    return problems


def check_identity(integration: dict[str, Any], yml: dict[str, Any] | None) -> list[str]:
    """Path, id (the brand), name, script type, and the fetch/feed role of the integration."""
    path = integration["path"]
    if yml is None:
        return [_missing(path, f"integration {integration['id']!r}")]
    problems = []
    current_id = (yml.get("commonfields") or {}).get("id")
    if current_id != integration["id"]:
        problems.append(
            f"{path}: commonfields.id is {current_id!r}, 1.x has {integration['id']!r}: every instance, playbook task "
            "and saved fetch position of 1.x belongs to that id"
        )
    if yml.get("name") != integration["name"]:
        problems.append(f"{path}: name is {yml.get('name')!r}, 1.x has {integration['name']!r}")
    script = yml.get("script") or {}
    for key, expected in integration["script"].items():
        if script.get(key) != expected:
            problems.append(f"{path}: script.{key} is {script.get(key)!r}, 1.x has {expected!r}")
    for role, what in (("isfetch", "fetch incidents"), ("feed", "fetch indicators")):
        if integration.get(role) and not script.get(role):
            problems.append(f"{path}: script.{role} is no longer true: 1.x instances {what} with this integration")
    return problems


def check_docker_image(integration: dict[str, Any], yml: dict[str, Any] | None) -> list[str]:
    """The docker image may move forward, never back (1.x customers already run the 1.x one)."""
    if yml is None:
        return []
    path = integration["path"]
    current = (yml.get("script") or {}).get("dockerimage") or ""
    old_repo, _, old_tag = integration["dockerimage"].partition(":")
    repo, _, tag = current.partition(":")
    if repo != old_repo:
        return [f"{path}: dockerimage {current!r} is not a {old_repo} image like 1.x's {integration['dockerimage']}"]
    current_version, old_version = _version(tag), _version(old_tag)
    if current_version is None:
        return [f"{path}: dockerimage tag {tag!r} cannot be compared with 1.x's {old_tag}"]
    if current_version < old_version:
        return [f"{path}: dockerimage {current} is older than 1.x's {integration['dockerimage']}"]
    return []


def effective_marketplaces(yml: dict[str, Any], pack_metadata: dict[str, Any] | None) -> list[str]:
    """An item without its own list is offered wherever its pack is."""
    return list(yml.get("marketplaces") or (pack_metadata or {}).get("marketplaces") or [])


def check_marketplaces(
    integration: dict[str, Any], yml: dict[str, Any] | None, pack_metadata: dict[str, Any] | None
) -> list[str]:
    if yml is None:
        return []
    offered = effective_marketplaces(yml, pack_metadata)
    dropped = [m for m in integration.get("marketplaces", []) if m not in offered]
    if dropped:
        return [f"{integration['path']}: marketplaces {', '.join(dropped)} of 1.x dropped (the integration disappears there)"]
    return []


def _by_name(items: Iterable[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    return {item.get("name"): item for item in items or [] if isinstance(item, dict)}


def _supported_modules(param: dict[str, Any], yml: dict[str, Any], pack_metadata: dict[str, Any] | None) -> list[str] | None:
    """Parameter -> integration -> pack: the first that sets supportedModules decides; none: every module."""
    for holder in (param, yml, pack_metadata or {}):
        if holder.get("supportedModules") is not None:
            return list(holder["supportedModules"])
    return UNRESTRICTED


def check_parameters(integration: dict[str, Any], yml: dict[str, Any] | None, pack_metadata: dict[str, Any] | None) -> list[str]:
    """Every 1.x parameter stays with its name, type, default, accepted options and modules; none becomes required."""
    if yml is None:
        return []
    path = integration["path"]
    current = _by_name(yml.get("configuration"))
    problems = []
    for old in integration["parameters"]:
        name = old["name"]
        param = current.get(name)
        if param is None:
            problems.append(f"{path}: parameter {name!r} of 1.x is missing (renamed or removed): 1.x instances hold its value")
            continue
        if param.get("type") != old["type"]:
            problems.append(f"{path}: parameter {name!r} has type {param.get('type')!r}, 1.x has type {old['type']}")
        if "default" in old and _text(param.get("defaultvalue")) != _text(old["default"]):
            problems.append(f"{path}: parameter {name!r} defaults to {param.get('defaultvalue')!r}, 1.x to {old['default']!r}")
        if old.get("options"):
            lost = [option for option in old["options"] if option not in (param.get("options") or [])]
            if lost:
                problems.append(f"{path}: parameter {name!r} no longer accepts the 1.x value(s) {', '.join(map(repr, lost))}")
        if param.get("required") and not old.get("required") and not _text(param.get("defaultvalue")):
            problems.append(f"{path}: parameter {name!r} became required without a default; it is optional in 1.x")
        if old.get("supportedModules"):
            modules = _supported_modules(param, yml, pack_metadata)
            lost = [] if modules is UNRESTRICTED else [m for m in old["supportedModules"] if m not in modules]
            if lost:
                problems.append(
                    f"{path}: parameter {name!r} is no longer shown in the module(s) {', '.join(lost)} (1.x shows it there)"
                )
    return problems


def check_commands(integration: dict[str, Any], yml: dict[str, Any] | None) -> list[str]:
    """Every 1.x command and argument stays, accepts at least the 1.x values, keeps its default and outputs."""
    if yml is None:
        return []
    path = integration["path"]
    current = _by_name((yml.get("script") or {}).get("commands"))
    problems = []
    for old in integration["commands"]:
        name = old["name"]
        command = current.get(name)
        if command is None:
            problems.append(f"{path}: command {name!r} of 1.x is missing (renamed or removed): playbook tasks that run it fail")
            continue
        arguments = _by_name(command.get("arguments"))
        for old_arg in old.get("arguments", []):
            problems += _argument_problems(path, name, old_arg, arguments.get(old_arg["name"]))
        outputs = {o.get("contextPath"): o for o in command.get("outputs") or [] if isinstance(o, dict)}
        for output in old.get("outputs", []):
            current_output = outputs.get(output["path"])
            if current_output is None:
                problems.append(f"{path}: command {name!r} no longer lists the 1.x output {output['path']}")
            elif output["type"] and str(current_output.get("type") or "").lower() != output["type"].lower():
                problems.append(
                    f"{path}: command {name!r} output {output['path']} has type {current_output.get('type')!r}, "
                    f"1.x has {output['type']}"
                )
    return problems


def _argument_problems(path: str, command: str, old: dict[str, Any], arg: dict[str, Any] | None) -> list[str]:
    where = f"{path}: command {command!r} argument {old['name']!r}"
    if arg is None:
        return [f"{where} of 1.x is missing (renamed or removed): playbook tasks that pass it fail"]
    problems = []
    if old.get("predefined"):
        offered = arg.get("predefined") or []
        lost = [value for value in old["predefined"] if value not in offered]
        if lost:
            problems.append(f"{where} no longer offers the 1.x value(s) {', '.join(map(repr, lost))}")
    if "default" in old and _text(arg.get("defaultValue")) != _text(old["default"]):
        problems.append(f"{where} defaults to {arg.get('defaultValue')!r}, 1.x to {old['default']!r}")
    if arg.get("required") and not old.get("required") and not _text(arg.get("defaultValue")):
        problems.append(f"{where} became required; it is optional in 1.x, so tasks that leave it out fail")
    return problems


def check_unique_commands(contract: dict[str, Any], root: Path) -> list[str]:
    """A 1.x command is defined by its own integration only: with two, a brand-less call runs twice."""
    owner = {
        command["name"]: integration["path"] for _, integration in integrations(contract) for command in integration["commands"]
    }
    problems = []
    for yml_file in sorted(root.glob("Packs/*/Integrations/*/*.yml")):
        relative = yml_file.relative_to(root).as_posix()
        yml = yaml.safe_load(yml_file.read_text(encoding="utf-8")) or {}
        for command in (yml.get("script") or {}).get("commands") or []:
            name = command.get("name") if isinstance(command, dict) else None
            if name in owner and owner[name] != relative:
                problems.append(
                    f"{relative}: defines the 1.x command {name!r} of {owner[name]}: a call without a brand runs twice"
                )
    return problems


def release_notes_text(root: Path, folder: str, metadata: dict[str, Any] | None) -> str:
    """The current version's release notes and breaking-changes file of a pack ('' when there are none)."""
    version = str((metadata or {}).get("currentVersion", "")).replace(".", "_")
    texts = []
    for suffix in (".md", ".json"):
        notes = root / folder / "ReleaseNotes" / f"{version}{suffix}"
        if version and notes.is_file():
            texts.append(notes.read_text(encoding="utf-8"))
    return "\n".join(texts)


def check_fromversion_declared(integration: dict[str, Any], yml: dict[str, Any] | None, notes: str) -> list[str]:
    """A raised fromversion (demisto-sdk's BC106) is allowed only when the release notes declare it."""
    if yml is None:
        return []
    current = _text(yml.get("fromversion"))
    if current == integration["fromversion"]:
        return []
    if current and re.search(rf"(?<![\d.]){re.escape(current)}(?!\.?\d)", notes):
        return []
    return [
        f"{integration['path']}: fromversion moved from {integration['fromversion']} to {current or 'nothing'} and the "
        "release notes of the pack's current version do not declare it (name the new version there)"
    ]


def check_all(contract: dict[str, Any], root: Path) -> list[str]:
    """Every check on every pack and integration of the contract, against the packs under ``root``."""
    problems = []
    for pack in contract["packs"]:
        state = PackState.read(root, pack)
        problems += check_pack(pack, state)
        notes = release_notes_text(root, pack["folder"], state.metadata)
        for integration in pack["integrations"]:
            yml = state.ymls[integration["path"]]
            problems += check_identity(integration, yml)
            problems += check_docker_image(integration, yml)
            problems += check_marketplaces(integration, yml, state.metadata)
            problems += check_parameters(integration, yml, state.metadata)
            problems += check_commands(integration, yml)
            problems += check_fromversion_declared(integration, yml, notes)
    return problems + check_unique_commands(contract, root)


# ------------------------------------------------------------------------------------------------ the baseline

BASELINE_NOTE = "1.x baseline generated from tests/compat/contract_1x.yml"


def baseline_integration_yml(integration: dict[str, Any]) -> dict[str, Any]:
    """The 1.x integration yml, as far as the contract knows it (what demisto-sdk's BC checks compare)."""
    configuration = []
    for old in integration["parameters"]:
        param: dict[str, Any] = {
            "name": old["name"],
            "display": old["name"],
            "type": old["type"],
            "required": bool(old.get("required")),
        }
        if "default" in old:
            param["defaultvalue"] = _text(old["default"])
        for key in ("options", "hidden", "hiddenusername", "supportedModules"):
            if key in old:
                param[key] = old[key]
        configuration.append(param)
    commands = []
    for old in integration["commands"]:
        arguments = []
        for old_arg in old.get("arguments", []):
            arg: dict[str, Any] = {
                "name": old_arg["name"],
                "description": old_arg["name"],
                "required": bool(old_arg.get("required")),
            }
            if "default" in old_arg:
                arg["defaultValue"] = _text(old_arg["default"])
            if old_arg.get("predefined"):
                arg["auto"] = "PREDEFINED"
                arg["predefined"] = list(old_arg["predefined"])
            arguments.append(arg)
        outputs = [
            {"contextPath": o["path"], "description": o["path"], "type": o["type"] or "Unknown"} for o in old.get("outputs", [])
        ]
        commands.append({"name": old["name"], "description": old["name"], "arguments": arguments, "outputs": outputs})
    script: dict[str, Any] = {
        "script": "",
        **integration["script"],
        "dockerimage": integration["dockerimage"],
        "commands": commands,
    }
    for role in ("isfetch", "feed"):
        if integration.get(role):
            script[role] = True
    yml: dict[str, Any] = {
        "commonfields": {"id": integration["id"], "version": -1},
        "name": integration["name"],
        "display": integration["display"],
        "category": integration["category"],
        "description": BASELINE_NOTE,
    }
    if integration.get("marketplaces"):
        yml["marketplaces"] = list(integration["marketplaces"])
    yml.update(
        {"configuration": configuration, "script": script, "fromversion": integration["fromversion"], "tests": ["No tests"]}
    )
    return yml


def baseline_pack_metadata(pack: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": Path(pack["folder"]).name,
        "description": BASELINE_NOTE,
        "support": pack["support"],
        "currentVersion": pack["version"],
        "author": pack.get("author", ""),
        "url": "",
        "email": pack.get("email", ""),
        "categories": ["Data Enrichment & Threat Intelligence"],
        "tags": [],
        "useCases": [],
        "keywords": [],
        "marketplaces": list(pack["marketplaces"]),
    }


def baseline_files(contract: dict[str, Any]) -> dict[str, str]:
    """Repository-relative path -> text of every file of the 1.x baseline packs."""
    files = {}
    for pack in contract["packs"]:
        files[f"{pack['folder']}/pack_metadata.json"] = json.dumps(baseline_pack_metadata(pack), indent=4) + "\n"
        for integration in pack["integrations"]:
            yml = baseline_integration_yml(integration)
            files[integration["path"]] = yaml.safe_dump(yml, sort_keys=False, allow_unicode=True)
            # demisto-sdk parses an integration from its yml and its code file; the 1.x code is not reproduced.
            files[str(Path(integration["path"]).with_suffix(".py"))] = f'"""{BASELINE_NOTE}: the code is not part of it."""\n'
    return files


def write_files(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
