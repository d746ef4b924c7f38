"""The uploadable zips that `demisto-sdk zip-packs` builds (one per pack, as `make zip` builds them) hold every
content item of their pack, and each integration in them is unified: its Python code and its image are inside
its yml, as XSOAR expects."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import CommonServerPython
import demistomock
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PACKS = ("ThreatMon", "ThreatMonThreatFeed")  # the packs `make zip` builds
CONTENT_FOLDERS = ("IncidentTypes", "IncidentFields", "Classifiers", "Layouts", "Playbooks", "TestPlaybooks", "ReleaseNotes")
SDK = Path(sys.executable).parent / "demisto-sdk"
# Each unified integration: (pack, folder, commonfields.id, a line only its code has)
INTEGRATIONS = [
    ("ThreatMon", "ThreatMon", "Threatmon", "def fetch_incidents"),  # the 1.x id, lower-case m
    ("ThreatMonThreatFeed", "ThreatMonThreatFeed", "ThreatMon Threat Feed", "def fetch_indicators"),
]


@pytest.fixture(scope="module")
def pack_zips(tmp_path_factory):
    """pack name -> its uploadable zip, all built by one zip-packs run over every pack."""
    out = tmp_path_factory.mktemp("build")
    env = {key: value for key, value in os.environ.items() if not key.startswith("COV_CORE_")}  # no coverage in the child
    env["DEMISTO_SDK_IGNORE_CONTENT_WARNING"] = "1"
    packs = ",".join(f"Packs/{pack}" for pack in PACKS)
    command = [str(SDK), "zip-packs", "-i", packs, "-o", str(out)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    zips = {}
    for pack in PACKS:
        built = out / "uploadable_packs" / f"{pack}.zip"
        assert built.is_file(), f"zip-packs built no {built.name}:\n{done.stdout}\n{done.stderr}"
        zips[pack] = zipfile.ZipFile(built)
    yield zips
    for archive in zips.values():
        archive.close()
    shutil.rmtree(out, ignore_errors=True)


def test_make_builds_and_validates_every_pack_with_integrations():
    with_integrations = sorted(path.parent.name for path in (REPO / "Packs").glob("*/Integrations") if path.is_dir())
    assert with_integrations == sorted(PACKS)
    (line,) = [line for line in (REPO / "Makefile").read_text().splitlines() if line.startswith("PACKS ")]
    assert sorted(line.partition("=")[2].split()) == sorted(f"Packs/{pack}" for pack in PACKS)


@pytest.mark.parametrize("pack", PACKS)
def test_every_content_item_is_in_the_zip(pack_zips, pack):
    names = set(pack_zips[pack].namelist())
    expected = [
        f"{folder}/{item.name}"
        for folder in CONTENT_FOLDERS
        for item in sorted((REPO / "Packs" / pack / folder).glob("*"))
        if item.suffix in (".json", ".yml", ".md") and not item.name.endswith("_README.md")
    ]
    assert expected, f"the pack {pack} has no content items"
    missing = [name for name in expected if name not in names]
    assert not missing, f"missing from {pack}.zip: {missing}"
    for name in ("pack_metadata.json", "README.md", "Author_image.png"):
        assert name in names


@pytest.mark.parametrize(("pack", "folder", "integration_id", "marker"), INTEGRATIONS)
def test_integrations_are_unified_with_code_and_image(pack_zips, pack, folder, integration_id, marker):
    unified = yaml.safe_load(pack_zips[pack].read(f"Integrations/integration-{folder}.yml"))
    assert unified["commonfields"]["id"] == integration_id
    assert marker in unified["script"]["script"]
    assert unified["image"].startswith("data:image/png;base64,")


@pytest.mark.parametrize(("pack", "folder", "integration_id", "marker"), INTEGRATIONS)
def test_integrations_carry_the_api_module_code_in_place_of_its_import(pack_zips, pack, folder, integration_id, marker):
    """demisto-sdk inlined ThreatMonApiModule: its code is in the script, no line imports it, and the script still runs
    as XSOAR runs it (the runtime's names provided, as the server provides them) with its Client built on the module's."""
    script = yaml.safe_load(pack_zips[pack].read(f"Integrations/integration-{folder}.yml"))["script"]["script"]
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


@pytest.mark.parametrize("pack", PACKS)
def test_each_zip_holds_only_its_own_integrations(pack_zips, pack):
    inside = sorted(name for name in pack_zips[pack].namelist() if name.startswith("Integrations/") and name.endswith(".yml"))
    assert inside == sorted(f"Integrations/integration-{folder}.yml" for owner, folder, _, _ in INTEGRATIONS if owner == pack)
