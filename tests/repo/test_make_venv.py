"""`make` on a fresh clone: the Python check comes first, and a failed build leaves no .venv behind.

Each test copies the Makefile and the two requirement lists into a temporary folder and runs make there
with a stand-in `python3` first on PATH (fake_python.py): it reports the version it is told to, and its
`-m venv` or `-m pip` fails when told to. Nothing is downloaded and the repository's own .venv is never
touched.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FAKE_PYTHON = Path(__file__).resolve().parent / "test_data" / "fake_python.py"
VENV_TARGETS = ["demo", "test", "bench", "install", "install-runtime", "lint", "unit", "validate", "zip"]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


@pytest.fixture
def clone(tmp_path):
    """A folder with the Makefile and requirement lists, and a `python3` on PATH that does what FAKE_* say."""
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt"):
        shutil.copy(REPO / name, tmp_path / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python3 = bin_dir / "python3"
    python3.write_text(f"#!{sys.executable}\n" + FAKE_PYTHON.read_text(encoding="utf-8"), encoding="utf-8")
    python3.chmod(python3.stat().st_mode | stat.S_IXUSR)
    return tmp_path


def make(folder: Path, *args: str, version: str = "3.12.4", fail: str = "") -> subprocess.CompletedProcess:
    env = {
        "PATH": f"{folder / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(folder),
        "FAKE_PYTHON_VERSION": version,
        "FAKE_PYTHON_FAIL": fail,
    }
    command = ["make", "--no-print-directory", *args]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=60, check=False)


def our_lines(done: subprocess.CompletedProcess) -> list[str]:
    """What the Makefile itself said on stderr (make's own "*** [...] Error 1" trailer left out)."""
    return [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("make: ***")]


@pytest.mark.parametrize("target", VENV_TARGETS)
def test_python_3_10_gets_one_sentence_and_no_venv(clone, target):
    done = make(clone, target, version="3.10.12")
    assert done.returncode != 0
    assert our_lines(done) == [
        f"make: Python 3.11 or newer is needed; python3 is 3.10.12. Install 3.11+ and run `make PYTHON=python3.11 {target}`."
    ]
    assert done.stdout == ""  # nothing ran before the check
    assert not (clone / ".venv").exists()


def test_python_3_9_is_stopped_before_pip_and_the_default_goal_is_named(clone):
    done = make(clone, version="3.9.18")
    assert our_lines(done) == [
        "make: Python 3.11 or newer is needed; python3 is 3.9.18. Install 3.11+ and run `make PYTHON=python3.11 test`."
    ]
    assert "pip" not in done.stdout + done.stderr
    assert not (clone / ".venv").exists()


def test_a_python_that_is_not_there_is_named(clone):
    done = make(clone, "demo", "PYTHON=python3.99")
    assert our_lines(done) == [
        "make: python3.99 was not found; install Python 3.11 or newer and run `make PYTHON=python3.11 demo`."
    ]
    assert not (clone / ".venv").exists()


@pytest.mark.parametrize(
    ("fail", "target", "step"),
    [
        ("pip", "install-runtime", "installing requirements.txt"),
        ("pip", "install", "installing requirements-dev.txt"),
        ("venv", "demo", "creating the venv (python3 -m venv; on Debian and Ubuntu it needs the python3-venv package)"),
    ],
)
def test_a_failed_build_removes_the_half_built_venv(clone, fail, target, step):
    done = make(clone, target, fail=fail)
    assert done.returncode != 0
    assert our_lines(done)[-1] == (
        f"make: {step} failed (see above); .venv was removed, so nothing half-built is left: "
        f"fix that and run `make {target}` again."
    )
    assert not (clone / ".venv").exists()


def test_a_failed_dev_install_after_a_runtime_install_leaves_no_stamp_behind(clone):
    assert make(clone, "install-runtime").returncode == 0
    assert (clone / ".venv" / ".runtime-installed").is_file()
    done = make(clone, "install", fail="pip")
    assert done.returncode != 0
    assert not (clone / ".venv").exists()


def test_a_good_python_builds_the_venv_and_stamps_each_finished_install(clone):
    done = make(clone, "install-runtime")
    assert done.returncode == 0, done.stderr
    assert (clone / ".venv" / ".runtime-installed").is_file()
    assert not (clone / ".venv" / ".dev-installed").exists()
    assert make(clone, "install").returncode == 0
    assert {p.name for p in (clone / ".venv").glob(".*-installed")} == {".runtime-installed", ".dev-installed"}


def test_an_old_venv_is_named_before_pip_runs(clone):
    assert make(clone, "install-runtime").returncode == 0
    (clone / ".venv" / ".runtime-installed").unlink()
    done = make(clone, "install-runtime", version="3.10.12")
    assert our_lines(done) == [
        "make: Python 3.11 or newer is needed; .venv/bin/python is 3.10.12. Remove .venv and run "
        "`make PYTHON=python3.11 install-runtime`."
    ]
    assert not (clone / ".venv" / ".runtime-installed").exists()
