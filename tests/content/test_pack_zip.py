"""The uploadable zip that `demisto-sdk zip-packs` builds holds every content item of the pack, and each
integration in it is unified: its Python code and its image are inside its yml, as XSOAR expects."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "Packs" / "ThreatMon"
CONTENT_FOLDERS = ("IncidentTypes", "IncidentFields", "Classifiers", "Layouts", "Playbooks", "TestPlaybooks", "ReleaseNotes")
SDK = Path(sys.executable).parent / "demisto-sdk"


@pytest.fixture(scope="module")
def pack_zip(tmp_path_factory):
    if not SDK.exists():
        pytest.skip("demisto-sdk is not installed in this environment (make install)")
    out = tmp_path_factory.mktemp("build")
    env = {key: value for key, value in os.environ.items() if not key.startswith("COV_CORE_")}  # no coverage in the child
    env["DEMISTO_SDK_IGNORE_CONTENT_WARNING"] = "1"
    command = [str(SDK), "zip-packs", "-i", str(PACK.relative_to(REPO)), "-o", str(out)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    built = out / "uploadable_packs" / "ThreatMon.zip"
    assert built.is_file(), f"zip-packs built no zip:\n{done.stdout}\n{done.stderr}"
    yield zipfile.ZipFile(built)
    shutil.rmtree(out, ignore_errors=True)


def test_every_content_item_is_in_the_zip(pack_zip):
    names = set(pack_zip.namelist())
    expected = [
        f"{folder}/{item.name}"
        for folder in CONTENT_FOLDERS
        for item in sorted((PACK / folder).glob("*"))
        if item.suffix in (".json", ".yml", ".md") and not item.name.endswith("_README.md")
    ]
    assert expected, "the pack has no content items"
    missing = [name for name in expected if name not in names]
    assert not missing, f"missing from the zip: {missing}"
    for name in ("pack_metadata.json", "README.md", "Author_image.png"):
        assert name in names


@pytest.mark.parametrize(
    ("integration", "marker"), [("ThreatMon", "def fetch_incidents"), ("FeedThreatMon", "def fetch_indicators")]
)
def test_integrations_are_unified_with_code_and_image(pack_zip, integration, marker):
    unified = yaml.safe_load(pack_zip.read(f"Integrations/integration-{integration}.yml"))
    assert unified["commonfields"]["id"] == integration
    assert marker in unified["script"]["script"]
    assert unified["image"].startswith("data:image/png;base64,")
