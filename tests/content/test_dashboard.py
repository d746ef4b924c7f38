"""The ThreatMon dashboard and its widgets (Packs/ThreatMon/Dashboards, Packs/ThreatMon/Widgets).

Each widget counts ThreatMon Alarm incidents (the pack's incident type) and groups them only by built-in incident
fields or by fields the pack ships, made searchable so that the server can group by them. The dashboard shows exactly
the widgets of Widgets/, and both carry the date fields demisto-sdk asks of a new dashboard (DA101) and none of the
fields it forbids (DA100). Where the dashboard goes (the Cortex XSOAR zip only) is checked in test_pack_zip.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

PACK = Path(__file__).resolve().parents[2] / "Packs" / "ThreatMon"
DASHBOARD = PACK / "Dashboards" / "dashboard-ThreatMon.json"
WIDGET_FILES = sorted((PACK / "Widgets").glob("widget-*.json"))
INCIDENT_TYPE_QUERY = 'type:"ThreatMon Alarm"'
# Built-in incident fields the widgets may group by or aggregate (every XSOAR server has them).
BUILTIN = {"severity", "occurred", "created", "status", "openDuration", "closed"}
DATE_FIELDS = {"fromDate", "toDate", "fromDateLicense"}  # DA101
FORBIDDEN = {"system", "isCommon", "shared", "owner", "sortValues", "vcShouldIgnore", "commitMessage", "shouldCommit"}
# What the dashboard answers, one widget each: (widget type, query beyond the incident type, grouped by / keys).
EXPECTED = {
    "ThreatMon - Open Incidents by Severity": ("pie", "and -status:closed and -status:archived", ["severity"]),
    "ThreatMon - Incidents by Alarm Type": ("bar", "", ["threatmonalarmtype"]),
    "ThreatMon - New Incidents per Day": ("line", "", ["occurred(d)"]),
    "ThreatMon - Mean Time to Close": ("duration", "and status:closed", ["avg|openDuration"]),
    "ThreatMon - Closed Incidents by ThreatMon Status": ("pie", "and status:closed", ["threatmonstatus"]),
}
# Widgets a pack script fills (dataType scripts: the query names the script): widget name -> script.
SCRIPT_WIDGETS = {"ThreatMon - Takedown and Data Removal Requests": "ThreatMonRequestsWidget"}


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def pack_fields() -> dict[str, dict]:
    """cliName -> the incident field the pack ships."""
    return {item["cliName"]: item for item in map(load, sorted((PACK / "IncidentFields").glob("*.json")))}


def field_of(key: str) -> str:
    """The incident field a groupBy or keys entry reads: 'occurred(d)' -> occurred, 'avg|openDuration' -> openDuration."""
    return re.sub(r"\(.*\)$", "", key.rpartition("|")[2])


def grouping(widget: dict) -> list[str]:
    params = widget.get("params") or {}
    return list(params.get("groupBy") or params.get("keys") or [])


@pytest.fixture(scope="module")
def widgets() -> dict[str, dict]:
    return {item["name"]: item for item in map(load, WIDGET_FILES)}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return load(DASHBOARD)


def test_the_widgets_answer_the_questions_of_the_dashboard(widgets):
    found = {
        name: (item["widgetType"], item["query"].removeprefix(INCIDENT_TYPE_QUERY).strip(), grouping(item))
        for name, item in widgets.items()
        if item["dataType"] == "incidents"
    }
    assert found == EXPECTED
    scripts = {name: item["query"] for name, item in widgets.items() if item["dataType"] == "scripts"}
    assert scripts == SCRIPT_WIDGETS


@pytest.mark.parametrize("name", sorted(SCRIPT_WIDGETS))
def test_a_script_widget_runs_a_widget_script_of_the_pack_that_counts_threatmon_alarm_incidents(widgets, name):
    script_dir = PACK / "Scripts" / SCRIPT_WIDGETS[name]
    script = yaml.safe_load((script_dir / f"{SCRIPT_WIDGETS[name]}.yml").read_text(encoding="utf-8"))
    assert script["name"] == script["commonfields"]["id"] == widgets[name]["query"]
    assert "widget" in script["tags"]
    assert {arg["name"] for arg in script["args"]} == {"from", "to", "searchQuery"}  # what a dashboard passes
    assert script["marketplaces"] == ["xsoar"]  # where dashboards and widgets go
    assert f"INCIDENT_QUERY = '{INCIDENT_TYPE_QUERY}'" in (script_dir / f"{SCRIPT_WIDGETS[name]}.py").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "path", [path for path in WIDGET_FILES if load(path)["dataType"] == "incidents"], ids=lambda path: path.name
)
def test_each_widget_counts_threatmon_alarm_incidents_by_fields_that_exist(path):
    widget = load(path)
    assert widget["dataType"] == "incidents"
    assert widget["query"].startswith(INCIDENT_TYPE_QUERY)
    fields = pack_fields()
    for key in grouping(widget):
        name = field_of(key)
        assert name in BUILTIN or name in fields, f"{path.name}: {key} is neither a built-in field nor one of the pack"
        if name in fields:  # a custom field the server must index to group by it
            assert fields[name]["unsearchable"] is False, f"{path.name}: {name} is not searchable"
    for name in re.findall(r"(\w+):", widget["query"]):
        assert name in {"type", *BUILTIN} or name in fields, f"{path.name}: the query reads an unknown field {name}"


def test_the_incident_type_the_widgets_count_is_the_one_the_pack_ships():
    types = [load(path)["name"] for path in (PACK / "IncidentTypes").glob("*.json")]
    assert INCIDENT_TYPE_QUERY.partition(":")[2].strip('"') in types


@pytest.mark.parametrize("path", [*WIDGET_FILES, DASHBOARD], ids=lambda path: path.name)
def test_predefined_with_the_pack_versions(path):
    item = load(path)
    assert item["isPredefined"] is True
    assert item["version"] == -1
    assert item["fromVersion"] == "6.10.0"  # the integration's fromversion
    assert item["description"].strip()


def test_the_dashboard_shows_every_widget_as_the_widget_file_defines_it(dashboard, widgets):
    shown = {entry["widget"]["name"]: entry["widget"] for entry in dashboard["layout"]}
    assert sorted(shown) == sorted(widgets)
    for name, widget in widgets.items():
        for key in ("id", "dataType", "widgetType", "query", "params", "dateRange", "description"):
            assert shown[name][key] == widget[key], f"{name}: {key} differs between the dashboard and the widget file"


def test_the_layout_ids_are_unique_and_the_tiles_do_not_overlap(dashboard):
    ids = [entry["id"] for entry in dashboard["layout"]]
    assert len(set(ids)) == len(ids)
    assert all(entry["i"] == entry["id"] for entry in dashboard["layout"])
    cells = [
        (x, y)
        for entry in dashboard["layout"]
        for x in range(entry["x"], entry["x"] + entry["w"])
        for y in range(entry["y"], entry["y"] + entry["h"])
    ]
    assert len(set(cells)) == len(cells)
    assert max(entry["x"] + entry["w"] for entry in dashboard["layout"]) <= 12  # the dashboard grid is 12 wide


def test_dates_present_and_no_forbidden_fields(dashboard, widgets):
    assert set(dashboard) >= DATE_FIELDS
    assert not FORBIDDEN & set(dashboard)
    for entry in dashboard["layout"]:
        assert set(entry["widget"]["dateRange"]) >= DATE_FIELDS, entry["widget"]["name"]
        assert not FORBIDDEN & set(entry["widget"]), entry["widget"]["name"]
    for name, widget in widgets.items():
        assert set(widget["dateRange"]) >= DATE_FIELDS, name
