"""The uploadable zips that `make zip` builds (tools/build_zips.py: `demisto-sdk prepare-content` once per marketplace;
each pack's zip for Cortex XSOAR in uploadable_packs/, for Cortex XSIAM in uploadable_packs/marketplacev2/ and for the
Cortex platform in uploadable_packs/platform/) hold every content item of their pack; each integration in them is
unified (its Python code, the ThreatMonApiModule code and its image inside its yml, as the products expect); and each
zip is prepared for its marketplace: no key meant for one marketplace only is left in any file, and the alarm
playbook closes incidents with that marketplace's close reasons."""

import io
import json
import zipfile
from pathlib import Path

import CommonServerPython
import demistomock
import pytest
from ruamel.yaml import YAML
from test_playbook_marketplaces import CLOSE_REASONS, VOCABULARY, close_reason_by_verdict

from tools import build_zips

REPO = Path(__file__).resolve().parents[2]
PACKS = ("ThreatMon", "ThreatMonThreatFeed")  # the packs `make zip` builds
MARKETPLACES = build_zips.MARKETPLACES
ZIPS = [(marketplace, pack) for marketplace in MARKETPLACES for pack in PACKS]
CONTENT_FOLDERS = ("IncidentTypes", "IncidentFields", "Classifiers", "Layouts", "Playbooks", "TestPlaybooks", "ReleaseNotes")
# Content only Cortex XSOAR takes: demisto-sdk leaves dashboards and widgets out of the Cortex XSIAM and platform zips,
# and the widget script (marketplaces: xsoar) with them.
XSOAR_ONLY_FOLDERS = ("Dashboards", "Widgets", "Scripts")
# Each unified integration: (pack, folder, commonfields.id, a line only its code has)
INTEGRATIONS = [
    ("ThreatMon", "ThreatMon", "Threatmon", "def fetch_incidents"),  # the 1.x id, lower-case m
    ("ThreatMonThreatFeed", "ThreatMonThreatFeed", "ThreatMon Threat Feed", "def fetch_indicators"),
]
PLAYBOOK = "Playbooks/playbook-ThreatMon_-_Alarm_Handling.yml"
REASONS = {
    "xsoar": {"Resolved": "Resolved", "False Positive": "False Positive", "Ignore": "Duplicate"},
    "cortex": {
        "Resolved": "Resolved - True Positive",
        "False Positive": "Resolved - False Positive",
        "Ignore": "Resolved - Duplicate Issue",
    },
}


def load_yml(text: bytes):
    """demisto-sdk writes YAML 1.2 (an unquoted `yes` condition label is the string "yes" there), so read it so."""
    return YAML(typ="safe", pure=True).load(io.BytesIO(text))


@pytest.fixture(scope="module")
def pack_zips(tmp_path_factory):
    """(marketplace, pack name) -> its uploadable zip, built as `make zip` builds them (the marketplaces in parallel)."""
    out = tmp_path_factory.mktemp("build")
    built = build_zips.build([REPO / "Packs" / pack for pack in PACKS], out)
    assert {marketplace: [path.relative_to(out).as_posix() for path in paths] for marketplace, paths in built.items()} == {
        "xsoar": [f"uploadable_packs/{pack}.zip" for pack in PACKS],
        "marketplacev2": [f"uploadable_packs/marketplacev2/{pack}.zip" for pack in PACKS],
        "platform": [f"uploadable_packs/platform/{pack}.zip" for pack in PACKS],
    }
    assert sorted(path.name for path in out.iterdir()) == ["uploadable_packs"]  # the staging folder is gone
    zips = {(marketplace, path.stem): zipfile.ZipFile(path) for marketplace, paths in built.items() for path in paths}
    yield zips
    for archive in zips.values():
        archive.close()


def test_make_builds_and_validates_every_pack_with_integrations():
    with_integrations = sorted(path.parent.name for path in (REPO / "Packs").glob("*/Integrations") if path.is_dir())
    assert with_integrations == sorted(PACKS)
    (line,) = [line for line in (REPO / "Makefile").read_text().splitlines() if line.startswith("PACKS ")]
    assert sorted(line.partition("=")[2].split()) == sorted(f"Packs/{pack}" for pack in PACKS)


def test_the_marketplaces_built_are_the_ones_the_packs_ship_to():
    for pack in PACKS:
        metadata = json.loads((REPO / "Packs" / pack / "pack_metadata.json").read_text(encoding="utf-8"))
        assert sorted(metadata["marketplaces"]) == sorted(MARKETPLACES)


@pytest.mark.parametrize(("marketplace", "pack"), ZIPS)
def test_every_content_item_is_in_the_zip(pack_zips, marketplace, pack):
    names = set(pack_zips[marketplace, pack].namelist())
    folders = CONTENT_FOLDERS + XSOAR_ONLY_FOLDERS if marketplace == "xsoar" else CONTENT_FOLDERS
    expected = [
        f"{folder}/{item.name}"
        for folder in folders
        for item in sorted((REPO / "Packs" / pack / folder).glob("*"))
        if item.suffix in (".json", ".yml", ".md") and not item.name.endswith("_README.md")
    ]
    assert expected, f"the pack {pack} has no content items"
    missing = [name for name in expected if name not in names]
    assert not missing, f"missing from {marketplace} {pack}.zip: {missing}"
    if marketplace != "xsoar":
        assert not [name for name in names if name.startswith(tuple(f"{folder}/" for folder in XSOAR_ONLY_FOLDERS))]
    for name in ("pack_metadata.json", "README.md", "Author_image.png"):
        assert name in names


@pytest.mark.parametrize("pack", PACKS)
def test_every_marketplace_gets_the_same_files(pack_zips, pack):
    """Every item but the XSOAR-only dashboard and widgets ships to every marketplace, so the zips differ only inside
    the files; no playbook image (doc_files/, which only the playbook README shows, and that README stays out of the
    zip)."""
    xsoar = sorted(pack_zips["xsoar", pack].namelist())
    assert not [name for name in xsoar if name.startswith("doc_files/")]
    shared = [name for name in xsoar if not name.startswith(XSOAR_ONLY_FOLDERS)]
    for marketplace in MARKETPLACES:
        assert sorted(pack_zips[marketplace, pack].namelist()) == (xsoar if marketplace == "xsoar" else shared)


def test_the_dashboard_and_its_widgets_are_in_the_xsoar_zip(pack_zips):
    names = pack_zips["xsoar", "ThreatMon"].namelist()
    assert "Dashboards/dashboard-ThreatMon.json" in names
    dashboard = json.loads(pack_zips["xsoar", "ThreatMon"].read("Dashboards/dashboard-ThreatMon.json"))
    widgets = sorted(name for name in names if name.startswith("Widgets/widget-"))
    assert len(widgets) == len(dashboard["layout"]) >= 6
    script = load_yml(pack_zips["xsoar", "ThreatMon"].read("Scripts/script-ThreatMonRequestsWidget.yml"))
    assert "def requests_widget" in script["script"]


@pytest.mark.parametrize("marketplace", MARKETPLACES)
@pytest.mark.parametrize(("pack", "folder", "integration_id", "marker"), INTEGRATIONS)
def test_integrations_are_unified_with_code_and_image(pack_zips, marketplace, pack, folder, integration_id, marker):
    unified = load_yml(pack_zips[marketplace, pack].read(f"Integrations/integration-{folder}.yml"))
    assert unified["commonfields"]["id"] == integration_id
    assert marker in unified["script"]["script"]
    assert unified["image"].startswith("data:image/png;base64,")


@pytest.mark.parametrize("marketplace", MARKETPLACES)
@pytest.mark.parametrize(("pack", "folder", "integration_id", "marker"), INTEGRATIONS)
def test_integrations_are_shown_as_community_contributions(pack_zips, marketplace, pack, folder, integration_id, marker):
    """demisto-sdk adds " (Community Contribution)" to the display name of a community pack's integrations, and the
    README tells a new user to look for that name."""
    metadata = json.loads((REPO / "Packs" / pack / "pack_metadata.json").read_text(encoding="utf-8"))
    source = load_yml((REPO / "Packs" / pack / "Integrations" / folder / f"{folder}.yml").read_bytes())
    unified = load_yml(pack_zips[marketplace, pack].read(f"Integrations/integration-{folder}.yml"))
    assert metadata["support"] == "community"
    assert unified["display"] == f"{source['display']} (Community Contribution)"
    assert f"**{unified['display']}**" in (REPO / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("marketplace", MARKETPLACES)
@pytest.mark.parametrize(("pack", "folder", "integration_id", "marker"), INTEGRATIONS)
def test_integrations_carry_the_api_module_code_in_place_of_its_import(
    pack_zips, marketplace, pack, folder, integration_id, marker
):
    """demisto-sdk inlined ThreatMonApiModule: its code is in the script, no line imports it, and the script still runs
    as XSOAR runs it (the runtime's names provided, as the server provides them) with its Client built on the module's."""
    script = load_yml(pack_zips[marketplace, pack].read(f"Integrations/integration-{folder}.yml"))["script"]["script"]
    assert "class ThreatMonClient(BaseClient):" in script
    assert "def parse_time(value: Any)" in script
    assert [
        line for line in script.splitlines() if line.lstrip().startswith(("from ThreatMonApiModule", "import ThreatMonApiModule"))
    ] == []
    namespace = {
        **{key: value for key, value in vars(CommonServerPython).items() if not key.startswith("__")},
        "demisto": demistomock,
        "register_module_line": lambda *args, **kwargs: None,  # the official runtime's line bookkeeping
        "__line__": lambda: 0,
        "__name__": f"unified_{folder}",
    }
    exec(compile(script, f"integration-{folder}.yml", "exec"), namespace)  # noqa: S102 - the point of the test
    assert issubclass(namespace["Client"], namespace["ThreatMonClient"])
    assert namespace["Client"].HINTS is not namespace["ThreatMonClient"].HINTS


@pytest.mark.parametrize(("marketplace", "pack"), ZIPS)
def test_each_zip_holds_only_its_own_integrations(pack_zips, marketplace, pack):
    inside = sorted(
        name for name in pack_zips[marketplace, pack].namelist() if name.startswith("Integrations/") and name.endswith(".yml")
    )
    assert inside == sorted(f"Integrations/integration-{folder}.yml" for owner, folder, _, _ in INTEGRATIONS if owner == pack)


def suffixed_keys(node) -> list[str]:
    """Every mapping key anywhere in node that ends with ':<marketplace>'."""
    if isinstance(node, dict):
        found = [str(key) for key in node if any(str(key).endswith(f":{marketplace}") for marketplace in MARKETPLACES)]
        return found + [key for value in node.values() for key in suffixed_keys(value)]
    if isinstance(node, list):
        return [key for item in node for key in suffixed_keys(item)]
    return []


def test_suffixed_keys_are_found_at_any_depth():
    document = {"a": [{"closeReason:platform": 1, "b": {"x:xsoar": 2, "y:marketplacev2": 3}}], "c:other": 4, "d": "e:xsoar"}
    assert suffixed_keys(document) == ["closeReason:platform", "x:xsoar", "y:marketplacev2"]


@pytest.mark.parametrize(("marketplace", "pack"), ZIPS)
def test_no_marketplace_suffixed_key_is_left_in_any_file(pack_zips, marketplace, pack):
    archive = pack_zips[marketplace, pack]
    checked = []
    for name in archive.namelist():
        if name.endswith(".json"):
            content = json.loads(archive.read(name))
        elif name.endswith(".yml"):
            content = load_yml(archive.read(name))
        else:
            continue
        checked.append(name)
        assert suffixed_keys(content) == [], f"{marketplace} {pack}.zip: {name}"
    assert "pack_metadata.json" in checked
    assert any(name.startswith("Integrations/") for name in checked)


@pytest.mark.parametrize("marketplace", MARKETPLACES)
def test_the_playbook_closes_with_the_marketplace_close_reasons(pack_zips, marketplace):
    reasons = close_reason_by_verdict(load_yml(pack_zips[marketplace, "ThreatMon"].read(PLAYBOOK)))
    assert reasons == REASONS[VOCABULARY[marketplace]]
    assert set(reasons.values()) <= CLOSE_REASONS[VOCABULARY[marketplace]]
