"""Each make target owns its own folder under build/: `make zip` replaces build/uploadable_packs/ and leaves what
`make bench` wrote in build/bench/ alone."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STAMPS = ["-o", ".venv/.dev-installed", "-o", ".venv/.runtime-installed", "-o", ".venv/bin/python"]


def make_n(target: str) -> list[list[str]]:
    """The commands `make -n target` would run (the venv taken as built), split into words."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MAKE", "MFLAGS"))}
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", *STAMPS, target],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return [shlex.split(line) for line in done.stdout.splitlines() if line.strip()]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_zip_removes_only_its_own_folders():
    removed = [word for command in make_n("zip") if command[:2] == ["rm", "-rf"] for word in command[2:]]
    assert removed == ["build/uploadable_packs", "build/prepare-content"]  # the zips, and build_zips.py's staging folder
    assert '"prepare-content"' in (REPO / "tools" / "build_zips.py").read_text(encoding="utf-8")
    assert any("tools/build_zips.py" in command for command in (" ".join(c) for c in make_n("zip")))


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_bench_writes_into_its_own_folder():
    bench = next(command for command in make_n("bench") if "benchmarks" in command)
    assert bench[bench.index("--out") + 1] == "build/bench"
    assert not any(command[:2] == ["rm", "-rf"] for command in make_n("bench"))
