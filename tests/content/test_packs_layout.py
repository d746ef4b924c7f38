"""How the packs divide the content: each integration, and each command, lives in exactly one pack.

With two integrations answering the same command, a command run without a brand runs on both (XSOAR
runs it on every instance that has it), so a sample or a playbook task would ask ThreatMon twice.
"""

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PACKS = REPO / "Packs"
INTEGRATION_YMLS = sorted(PACKS.glob("*/Integrations/*/*.yml"))
MARKETPLACES = ["xsoar", "marketplacev2", "platform"]
FEED_PACK = PACKS / "ThreatMonThreatFeed"
FEED_YML = FEED_PACK / "Integrations" / "ThreatMonThreatFeed" / "ThreatMonThreatFeed.yml"


def load_yml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def commands_of(integration: dict) -> list[str]:
    return [command["name"] for command in integration["script"].get("commands") or []]


def duplicates(names) -> list[str]:
    return sorted(name for name, count in Counter(names).items() if count > 1)


def test_every_integration_yml_is_found():
    assert {path.parent.name for path in INTEGRATION_YMLS} >= {"ThreatMon", "ThreatMonThreatFeed"}


def test_no_command_exists_twice_in_the_repository():
    names = [name for path in INTEGRATION_YMLS for name in commands_of(load_yml(path))]
    assert names
    assert duplicates(names) == []


def test_no_integration_id_exists_twice_in_the_repository():
    ids = [load_yml(path)["commonfields"]["id"] for path in INTEGRATION_YMLS]
    assert duplicates(ids) == []


def test_the_duplicate_check_sees_a_command_listed_by_two_integrations():
    feed = load_yml(FEED_YML)
    assert duplicates([*commands_of(feed), *commands_of(feed)]) == ["threatmon-get-indicators"]


def test_only_the_feed_pack_holds_a_feed():
    feeds = sorted(path.relative_to(PACKS).parts[0] for path in INTEGRATION_YMLS if load_yml(path)["script"].get("feed"))
    assert feeds == ["ThreatMonThreatFeed"]


@pytest.mark.parametrize("name", ["README.md", "pack_metadata.json"])
def test_the_alarm_pack_does_not_offer_the_feed(name):
    text = (PACKS / "ThreatMon" / name).read_text(encoding="utf-8")
    assert "threatmon-get-indicators" not in text
    assert "ThreatMon Feed" not in text


def test_the_feed_integration_is_the_marketplace_one():
    feed = load_yml(FEED_YML)
    assert feed["commonfields"]["id"] == feed["name"] == feed["display"] == "ThreatMon Threat Feed"
    assert feed["script"]["feed"] is True
    assert feed["fromversion"] == "6.10.0"
    assert feed["script"]["dockerimage"] == "demisto/python3:3.12.13.10404775"
    (command,) = feed["script"]["commands"]
    limit = next(argument for argument in command["arguments"] if argument["name"] == "limit")
    assert (command["name"], limit.get("defaultValue")) == ("threatmon-get-indicators", "10")


def test_the_feed_pack_and_its_integration_list_every_marketplace():
    metadata = json.loads((FEED_PACK / "pack_metadata.json").read_text(encoding="utf-8"))
    assert metadata["marketplaces"] == MARKETPLACES
    assert load_yml(FEED_YML)["marketplaces"] == MARKETPLACES


def test_the_feed_pack_version_has_release_notes_and_a_breaking_changes_file():
    metadata = json.loads((FEED_PACK / "pack_metadata.json").read_text(encoding="utf-8"))
    assert metadata["name"] == "ThreatMon Threat Feed"
    stem = metadata["currentVersion"].replace(".", "_")
    assert (FEED_PACK / "ReleaseNotes" / f"{stem}.md").is_file()
    breaking = json.loads((FEED_PACK / "ReleaseNotes" / f"{stem}.json").read_text(encoding="utf-8"))
    assert breaking["breakingChanges"] is True
    assert "1.0.1" in breaking["breakingChangesNotes"]
