"""Both packs' 2.0.0 release notes have the shape demisto/content's release-notes checks want.

demisto-sdk runs these checks (RN111, RN113, RN114, RN115, RN116) only on release notes that a git diff marks
added, so `validate -i` (make validate) passes over them. `make bc` runs them for real, against the 1.x packs
(tests/compat/bc_check.py); this test applies the same rules to every pack's current release notes, faster and
with a message that names the item, the way demisto-sdk 1.39.13 reads them:

- RN116: at least one first-level header (``#### <content type>``);
- RN113: each first-level header is a content type's release-notes header;
- RN115: each content type section has its items as second-level headers (``##### <item>``, ``##### New: <item>``);
- RN114: each second-level header is the display name of an item of that type in the pack;
- RN111: an integration's section has a docker line exactly when the image of its yml differs from the image the
  integration had in 1.x (tests/compat/contract_1x.yml), and then the line names the yml's image.
"""

import json
import re
from pathlib import Path

import pytest
import yaml

PACKS = Path(__file__).resolve().parents[2] / "Packs"
CONTRACT_1X = PACKS.parent / "tests" / "compat" / "contract_1x.yml"
NOTES = sorted(PACKS.glob("*/ReleaseNotes/*.md"))
CONTENT_TYPE_SECTION = re.compile(r"^#### ([\w ]+)$\n([\w\W]*?)(?=^#### |\Z)", re.M)
ITEM_SECTION = re.compile(r"^##### (.+)$\n([\w\W]*?)(?=^##### |\Z)", re.M)
DOCKER_LINE = re.compile(r"^- Updated the Docker image to: \*([^*]+)\*\.$", re.M)


def _yml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def display_names(pack: Path) -> dict[str, set[str]]:
    """Release-notes header -> the display names of the pack's items of that content type."""
    classifiers = [_json(path) for path in pack.glob("Classifiers/*.json")]
    return {
        "Integrations": {_yml(path).get("display") or _yml(path)["name"] for path in pack.glob("Integrations/*/*.yml")},
        "Incident Types": {_json(path)["name"] for path in pack.glob("IncidentTypes/*.json")},
        "Incident Fields": {_json(path)["name"] for path in pack.glob("IncidentFields/*.json")},
        "Classifiers": {item["name"] for item in classifiers if item.get("type") == "classification"},
        "Mappers": {item["name"] for item in classifiers if item.get("type", "").startswith("mapping")},
        "Layouts": {_json(path)["name"] for path in pack.glob("Layouts/*.json")},
        "Playbooks": {_yml(path)["name"] for path in pack.glob("Playbooks/*.yml")},
        "Scripts": {_yml(path)["name"] for path in pack.glob("Scripts/*/*.yml")},
        "Dashboards": {_json(path)["name"] for path in pack.glob("Dashboards/*.json")},
        "Widgets": {_json(path)["name"] for path in pack.glob("Widgets/*.json")},
    }


def sections(text: str) -> dict[str, dict[str, str]]:
    """{content type: {item header without 'New: ': the item's notes}}"""
    return {
        kind: {header.removeprefix("New: ").strip(): notes for header, notes in ITEM_SECTION.findall(body)}
        for kind, body in CONTENT_TYPE_SECTION.findall(text)
    }


def test_both_packs_and_the_api_modules_pack_have_release_notes():
    assert sorted({path.parents[1].name for path in NOTES}) == ["ApiModules", "ThreatMon", "ThreatMonThreatFeed"]


@pytest.mark.parametrize("path", NOTES, ids=lambda path: f"{path.parents[1].name}/{path.name}")
def test_every_content_type_header_names_items_of_the_pack(path):
    text = path.read_text(encoding="utf-8")
    names = display_names(path.parents[1])
    found = sections(text)
    assert found, "no #### content type header (RN116)"
    for kind, items in found.items():
        assert kind in names, f"#### {kind} is not a content type header of this pack (RN113)"
        assert items, f"#### {kind} has no ##### item headers under it (RN115)"
        assert set(items) <= names[kind], f"#### {kind}: no such item in the pack (RN114): {set(items) - names[kind]}"


@pytest.mark.parametrize("path", NOTES, ids=lambda path: f"{path.parents[1].name}/{path.name}")
def test_every_new_item_of_the_pack_has_its_notes(path):
    """The 2.0.0 notes name every item the pack ships, except the integration's own sections checked below."""
    names = display_names(path.parents[1])
    found = sections(path.read_text(encoding="utf-8"))
    for kind, expected in names.items():
        assert set(found.get(kind, {})) == expected, kind


def images_1x() -> dict[str, str]:
    """Integration yml path (relative to the repository) -> its docker image in 1.x."""
    contract = _yml(CONTRACT_1X)
    return {item["path"]: item["dockerimage"] for pack in contract["packs"] for item in pack["integrations"]}


def expected_docker_lines(yml: Path, before: dict[str, str]) -> list[str] | None:
    """RN111: the yml's image when it differs from 1.x's, else no line; None for an integration 1.x did not have
    (demisto-sdk's RN111 judges only modified or renamed integrations)."""
    old = before.get(yml.relative_to(PACKS.parent).as_posix())
    image = _yml(yml)["script"]["dockerimage"]
    return None if old is None else [] if old == image else [image]


@pytest.mark.parametrize("path", NOTES, ids=lambda path: f"{path.parents[1].name}/{path.name}")
def test_each_integration_section_has_a_docker_line_only_when_the_image_changed(path):
    integrations = {(_yml(yml).get("display") or _yml(yml)["name"]): yml for yml in path.parents[1].glob("Integrations/*/*.yml")}
    found = sections(path.read_text(encoding="utf-8")).get("Integrations", {})
    before = images_1x()
    for name, notes in found.items():
        expected = expected_docker_lines(integrations[name], before)
        if expected is not None:
            assert DOCKER_LINE.findall(notes) == expected, f"{name}: the docker line(s) should be {expected} (RN111)"


def test_a_docker_line_is_expected_only_for_a_changed_image():
    yml = PACKS / "ThreatMon" / "Integrations" / "ThreatMon" / "ThreatMon.yml"
    image = _yml(yml)["script"]["dockerimage"]
    relative = "Packs/ThreatMon/Integrations/ThreatMon/ThreatMon.yml"
    assert expected_docker_lines(yml, {relative: image}) == []
    assert expected_docker_lines(yml, {relative: "demisto/python3:3.10.0.1"}) == [image]
    assert expected_docker_lines(yml, {}) is None


def test_both_1x_integrations_are_judged():
    assert sorted(images_1x()) == sorted(
        yml.relative_to(PACKS.parent).as_posix() for notes in NOTES for yml in notes.parents[1].glob("Integrations/*/*.yml")
    )


def test_a_header_of_another_content_type_is_seen():
    assert set(sections("#### Test Playbooks\n\n##### ThreatMon - Test\n\n- New.\n")) == {"Test Playbooks"}
    assert "Test Playbooks" not in display_names(PACKS / "ThreatMon")


def test_a_content_type_without_item_headers_is_seen():
    assert sections("#### Incident Fields\n\n- New: **ThreatMon Title**.\n") == {"Incident Fields": {}}


COMMANDS = {
    command["name"]
    for yml in PACKS.glob("*/Integrations/*/*.yml")
    for command in _yml(yml)["script"].get("commands") or []
    if command["name"].startswith("threatmon")
}


@pytest.mark.parametrize("path", NOTES, ids=lambda path: f"{path.parents[1].name}/{path.name}")
def test_entries_are_bullets_and_commands_are_styled_as_contents_guidelines_say(path):
    """Content's release-notes guidelines: entries are bullet points under the headers; a command name is written
    ***name***, an item **name**, a parameter or argument *name*."""
    for line in path.read_text(encoding="utf-8").splitlines():
        assert not line.strip() or line.startswith(("#### ", "##### ", "- ", "  - ")), f"not a bullet: {line[:80]}"
        for command in COMMANDS:
            for wrong in (f"`{command}`", f"**{command}**", f"*{command}*"):
                assert wrong not in line.replace(f"***{command}***", ""), f"{command} should read ***{command}***"


@pytest.mark.parametrize(
    ("pack", "words"),
    [
        ("ThreatMon", "1,000 alarms in one fetch"),  # 1.x's volume per fetch, and how to keep it
        ("ThreatMon", "*API URL* (*url*) is now *Server URL*"),  # renamed labels
        ("ThreatMon", "*cvssV2*, *cvssV3*, *cvssV3_1* and *cvssV4* Number"),  # newly typed CVE outputs
        ("ThreatMon", "*Fetch Interval (minutes), not used*"),  # fetchInterval shown, not hidden
        ("ThreatMonThreatFeed", "no longer carry the *service* key"),
        ("ThreatMonThreatFeed", "*Incremental Feed* to *Incremental feed*"),
    ],
)
def test_the_notes_say_what_changed_for_a_1x_customer(pack, words):
    assert words in (PACKS / pack / "ReleaseNotes" / "2_0_0.md").read_text(encoding="utf-8")
