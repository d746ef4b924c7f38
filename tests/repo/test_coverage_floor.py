"""tools/coverage_floor.py holds each integration file to the floor on its own, in a tiny stand-in repository."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("coverage_floor", REPO / "tools" / "coverage_floor.py")
coverage_floor = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(coverage_floor)

HALF_COVERED = "def used():\n    return 1\n\n\ndef unused():\n    a = 1\n    b = 2\n    return a + b\n\n\nused()\n"
FULLY_COVERED = "def used():\n    return 1\n\n\nused()\n"


@pytest.fixture(autouse=True)
def no_coverage_in_children(monkeypatch):
    """The tool's `coverage report` children must not be measured by this run's pytest-cov (its data would not
    combine with the suite's)."""
    for key in [key for key in os.environ if key.startswith("COV_CORE_")]:
        monkeypatch.delenv(key)


@pytest.fixture
def repo(tmp_path):
    """Packs/A (fully covered), Packs/B (half covered, with a test file that is left out) and their coverage data."""
    for pack, code in (("A", FULLY_COVERED), ("B", HALF_COVERED)):
        folder = tmp_path / "Packs" / pack / "Integrations" / pack
        folder.mkdir(parents=True)
        (folder / f"{pack}.py").write_text(code)
        (folder / f"{pack}_test.py").write_text("def test_nothing():\n    pass\n")
    for pack in ("A", "B"):
        command = [sys.executable, "-m", "coverage", "run", "--append", f"Packs/{pack}/Integrations/{pack}/{pack}.py"]
        subprocess.run(command, cwd=tmp_path, check=True, capture_output=True, timeout=60)
    return tmp_path


def test_each_file_under_the_floor_is_named(repo, capsys):
    assert coverage_floor.main(["95"], root=repo) == 1
    assert capsys.readouterr().out.splitlines() == ["coverage of Packs/B/Integrations/B/B.py is under 95%"]


def test_every_file_at_the_floor_passes_quietly(repo, capsys):
    assert coverage_floor.main(["50"], root=repo) == 0
    assert capsys.readouterr().out == ""


def test_no_coverage_data_is_said_plainly(repo, capsys):
    (repo / ".coverage").unlink()
    assert coverage_floor.main([], root=repo) == 1
    assert "no coverage data (run `python -m pytest --cov` first)" in capsys.readouterr().out


def test_the_floor_covers_every_integration_and_script_of_every_pack():
    files = coverage_floor.integration_files(REPO)
    assert files and all(p.parent.parent.name in ("Integrations", "Scripts") for p in files)
    assert not [p for p in files if p.name.endswith("_test.py")]
    expected = {p.stem for p in (REPO / "Packs").glob("*/*/*/*.py") if p.parent.parent.name in ("Integrations", "Scripts")}
    assert {p.stem for p in files} == {stem for stem in expected if not stem.endswith("_test")}
    assert {"ThreatMon", "ThreatMonThreatFeed", "ThreatMonApiModule"} <= {p.stem for p in files}
