"""The README's map of the repository names every folder of the repository once, and every script in tools/."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def map_rows() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Map of the repository") :].split("\n## ")[0]
    return [line.split(" | ")[0] for line in section.splitlines() if line.startswith("| `")]


def named(rows: list[str]) -> list[str]:
    return [name.rstrip("/") for row in rows for name in re.findall(r"`([^`]+)`", row)]


def tracked_folders() -> set[str]:
    """The top-level folders in git (build/ is made by make and listed as such), and the packs' own folders."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    top = {path.split("/")[0] for path in files if "/" in path}
    packs = {"/".join(path.split("/")[:2]) for path in files if path.startswith("Packs/")}
    return (top | packs | {"build"}) - {"Packs"}


def test_every_folder_is_named_once():
    names = named(map_rows())
    assert sorted(name for name in names if names.count(name) > 1) == []
    assert tracked_folders() - set(names) == set()


def test_every_script_in_tools_is_named_in_its_row():
    (row,) = [line for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines() if line.startswith("| `tools/` |")]
    scripts = sorted(path.name for path in (REPO / "tools").glob("*.py") if path.name != "__init__.py")
    assert [name for name in scripts if f"`{name}`" not in row] == []
