"""The ThreatMon pack's 2.0.0 release notes tell the truth before an upgrade from 1.0.x.

XSOAR warns before upgrading to a version whose ReleaseNotes/<version>.json says breakingChanges. These tests hold
the notes to what the integration does: the incident name and severities it produces, the fromversion of its yml,
and a docker line only when its image differs from 1.0.7's.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests_mock
import ThreatMon
import yaml

PACK = Path(__file__).resolve().parents[2] / "Packs" / "ThreatMon"
NOTES = PACK / "ReleaseNotes" / "2_0_0.md"
BREAKING = PACK / "ReleaseNotes" / "2_0_0.json"
INTEGRATION = yaml.safe_load((PACK / "Integrations" / "ThreatMon" / "ThreatMon.yml").read_text(encoding="utf-8"))
LEGACY_NAME = "`Threatmon Alert: <title>`"  # what ThreatMon 1.0.x named an incident
LEGACY_FROM_VERSION = "5.0.0"
CONTRACT_1X = yaml.safe_load((PACK.parents[1] / "tests" / "compat" / "contract_1x.yml").read_text(encoding="utf-8"))
LEGACY_IMAGE = next(
    integration["dockerimage"]
    for pack in CONTRACT_1X["packs"]
    for integration in pack["integrations"]
    if integration["path"] == "Packs/ThreatMon/Integrations/ThreatMon/ThreatMon.yml"
)


@pytest.fixture(scope="module")
def notes() -> str:
    return NOTES.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def breaking() -> dict:
    return json.loads(BREAKING.read_text(encoding="utf-8"))


def test_the_breaking_changes_file_makes_xsoar_warn(breaking, notes):
    assert set(breaking) == {"breakingChanges", "breakingChangesNotes"}
    assert breaking["breakingChanges"] is True
    assert "breaking change" in notes.lower()


def fetched_incident(alarm: dict) -> dict:
    settings = ThreatMon.Settings(base_url="https://threatmon.test/api/threatmon/external/v1", api_key="k")
    client = ThreatMon.Client(settings.base_url, settings.api_key, sleep=lambda _s: None)
    with requests_mock.Mocker() as mocker:
        mocker.get(re.compile(r".*/vulnerabilities/0"), json={"data": [alarm], "totalRecords": 1})
        _, incidents = ThreatMon.fetch_incidents(client, {}, settings, now=datetime(2026, 1, 1, tzinfo=UTC))
    return incidents[0]


@pytest.mark.parametrize("where", ["notes", "breaking"])
def test_the_notes_name_the_incident_as_the_integration_does(notes, breaking, where):
    text = notes if where == "notes" else breaking["breakingChangesNotes"]
    declared = re.search(r"`(ThreatMon Alarm <code>: <title>)`", text)
    assert declared and LEGACY_NAME in text
    incident = fetched_incident({"alarmCode": 42, "title": "Phishing domain", "severity": "High"})
    assert incident["name"] == declared.group(1).replace("<code>", "42").replace("<title>", "Phishing domain")


@pytest.mark.parametrize("where", ["notes", "breaking"])
def test_the_notes_give_the_severities_the_integration_sets_where_1_x_gave_1(notes, breaking, where):
    text = notes if where == "notes" else breaking["breakingChangesNotes"]
    assert "Info (0.5)" in text and "Unknown (0)" in text and "Low (1)" in text
    assert fetched_incident({"alarmCode": 1, "severity": "Information"})["severity"] == 0.5
    assert fetched_incident({"alarmCode": 2, "severity": "Severe"})["severity"] == 0


@pytest.mark.parametrize("where", ["notes", "breaking"])
def test_the_notes_give_the_old_and_new_from_version(notes, breaking, where):
    text = notes if where == "notes" else breaking["breakingChangesNotes"]
    new = str(INTEGRATION["fromversion"])
    assert new != LEGACY_FROM_VERSION
    assert new in text and LEGACY_FROM_VERSION in text


def test_a_docker_entry_only_when_the_image_differs_from_1_0_7(notes):
    """demisto-sdk's RN111 against 1.0.7 (make bc): a docker line exactly when the image changed, naming the yml's."""
    image = INTEGRATION["script"]["dockerimage"]
    entries = re.findall(r"Updated the Docker image to: \*([^*]+)\*", notes)
    assert entries == ([] if image == LEGACY_IMAGE else [image]), f"1.0.7's image: {LEGACY_IMAGE}, the yml's: {image}"


def test_the_notes_keep_the_1_x_id_they_promise(notes):
    assert f"`{INTEGRATION['commonfields']['id']}`" in notes
    assert INTEGRATION["commonfields"]["id"] == INTEGRATION["name"] == "Threatmon"
