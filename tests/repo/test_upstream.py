"""tools/upstream.py (`make upstream CONTENT=...`): the pull request written into a small fake demisto/content tree."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

import upstream  # noqa: E402

CONTENT_API_MODULES = {
    "name": "ApiModules",
    "description": "API Modules",
    "support": "xsoar",
    "currentVersion": "2.2.7",
    "author": "Cortex XSOAR",
    "url": "https://www.paloaltonetworks.com/cortex",
    "email": "",
}
OUR_NOTE = (REPO / "Packs/ApiModules/ReleaseNotes/1_0_1.md").read_text(encoding="utf-8")


def write(root: Path, relative: str, text: str) -> None:
    (root / relative).parent.mkdir(parents=True, exist_ok=True)
    (root / relative).write_text(text, encoding="utf-8")


@pytest.fixture
def content(tmp_path) -> Path:
    """A checkout as content has it today: its ApiModules pack, the 1.x ThreatMon packs, and a pack of someone else."""
    root = tmp_path / "content"
    write(root, "Packs/ApiModules/pack_metadata.json", json.dumps(CONTENT_API_MODULES, indent=4) + "\n")
    write(root, "Packs/ApiModules/ReleaseNotes/2_2_7.md", "#### Scripts\n\n##### OtherApiModule\n\n- Fixed an issue.\n")
    write(root, "Packs/ApiModules/Scripts/OtherApiModule/OtherApiModule.py", "OTHER = 1\n")
    write(root, "Packs/ThreatMon/pack_metadata.json", '{"name": "ThreatMon", "currentVersion": "1.0.7"}\n')
    write(root, "Packs/ThreatMon/ReleaseNotes/1_0_7.md", "#### Integrations\n\n##### Threatmon\n\n- 1.0.7 notes.\n")
    write(root, "Packs/ThreatMon/Integrations/ThreatMon/ThreatMon.py", "OLD = 1\n")
    write(root, "Packs/ThreatMon/Integrations/ThreatMon/Pipfile", "stale\n")
    write(root, "Packs/ThreatMon/CONTRIBUTORS.json", '["ThreatMon"]\n')
    write(root, "Packs/ThreatMonThreatFeed/pack_metadata.json", '{"name": "ThreatMon Threat Feed"}\n')
    write(root, "Packs/ThreatMonThreatFeed/ReleaseNotes/1_0_1.md", "#### Integrations\n\n- 1.0.1 notes.\n")
    write(root, "Packs/Other/pack_metadata.json", '{"name": "Other"}\n')
    return root


def test_the_pull_request_replaces_both_packs_and_adds_the_module(content):
    changes = upstream.write_pull_request(content)
    for folder in ("Packs/ThreatMon", "Packs/ThreatMonThreatFeed", "Packs/ApiModules/Scripts/ThreatMonApiModule"):
        ours = sorted(
            str(p.relative_to(REPO / folder)) for p in (REPO / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        )
        for relative in ours:
            assert (content / folder / relative).read_bytes() == (REPO / folder / relative).read_bytes(), relative
    assert "M Packs/ThreatMon/Integrations/ThreatMon/ThreatMon.py" in changes
    assert "A Packs/ApiModules/Scripts/ThreatMonApiModule/ThreatMonApiModule.py" in changes
    assert "D Packs/ThreatMon/Integrations/ThreatMon/Pipfile" in changes  # 1.x leftovers go
    assert not (content / "Packs/ThreatMon/Integrations/ThreatMon/Pipfile").exists()
    assert not [line for line in changes if "Packs/Other" in line or "OtherApiModule" in line]


def test_content_keeps_the_1x_release_notes(content):
    upstream.write_pull_request(content)
    assert (content / "Packs/ThreatMon/ReleaseNotes/1_0_7.md").read_text(encoding="utf-8").endswith("1.0.7 notes.\n")
    assert (content / "Packs/ThreatMonThreatFeed/ReleaseNotes/1_0_1.md").is_file()
    assert (content / "Packs/ThreatMon/CONTRIBUTORS.json").read_text(encoding="utf-8") == '["ThreatMon"]\n'
    assert (content / "Packs/ThreatMon/ReleaseNotes/2_0_0.md").is_file()


def test_content_keeps_its_api_modules_metadata_one_revision_up_with_our_note(content):
    changes = upstream.write_pull_request(content)
    metadata = json.loads((content / "Packs/ApiModules/pack_metadata.json").read_text(encoding="utf-8"))
    assert metadata == {**CONTENT_API_MODULES, "currentVersion": "2.2.8"}
    assert (content / "Packs/ApiModules/ReleaseNotes/2_2_8.md").read_text(encoding="utf-8") == OUR_NOTE
    assert {"M Packs/ApiModules/pack_metadata.json", "A Packs/ApiModules/ReleaseNotes/2_2_8.md"} <= set(changes)
    assert "Packs/ApiModules/ReleaseNotes/1_0_1.md" not in " ".join(changes)  # our own version number stays here


def test_a_second_run_changes_nothing(content):
    upstream.write_pull_request(content)
    assert upstream.write_pull_request(content) == []
    assert json.loads((content / "Packs/ApiModules/pack_metadata.json").read_text(encoding="utf-8"))["currentVersion"] == "2.2.8"


def test_a_folder_that_is_not_a_content_checkout_is_refused(tmp_path, capsys):
    with pytest.raises(upstream.UpstreamError, match="is not a demisto/content checkout: it has no Packs/ApiModules"):
        upstream.write_pull_request(tmp_path)
    assert upstream.main([str(tmp_path)]) == 1
    assert "CONTENT must name the root of a clone of demisto/content" in capsys.readouterr().err


def test_main_prints_each_changed_file(content, capsys):
    assert upstream.main([str(content)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "A Packs/ApiModules/ReleaseNotes/2_2_8.md" in out
    assert out[-1].startswith("make upstream: ") and "file(s) changed" in out[-1]


@pytest.mark.parametrize(("version", "expected"), [("1.0.0", "1.0.1"), ("2.2.19", "2.2.20")])
def test_next_revision(version, expected):
    assert upstream.next_revision(version) == expected


def test_a_version_content_would_not_write_is_refused():
    with pytest.raises(upstream.UpstreamError, match=r"is not MAJOR\.MINOR\.REVISION"):
        upstream.next_revision("2.x")


def test_our_api_modules_metadata_says_what_contents_says():
    ours = json.loads((REPO / "Packs/ApiModules/pack_metadata.json").read_text(encoding="utf-8"))
    assert {key: ours[key] for key in ("name", "support", "author")} == {
        key: CONTENT_API_MODULES[key] for key in ("name", "support", "author")
    }
