"""A bad XSOAR_RUNTIME_DIR stops `make demo` and `make bench` with one sentence, as it stops pytest.

make runs with this test's Python as the venv's (PY=...) and `-o` on the install stamp, so nothing is
installed and only the target's own recipe runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MISSING = "CommonServerPython.py, demistomock.py"


def sentence(folder) -> str:
    return (
        f"XSOAR_RUNTIME_DIR={folder} does not hold {MISSING}: point it at the folder holding the official "
        "CommonServerPython.py and demistomock.py, or unset it to use the stand-ins in xsoar_runtime/."
    )


def run(command: list[str], runtime_dir) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MAKE", "MFLAGS"))}
    env["XSOAR_RUNTIME_DIR"] = str(runtime_dir)
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(("target", "first_line"), [("demo", "Start a ThreatMon simulator"), ("bench", "fetch benchmark")])
def test_make_stops_on_a_bad_runtime_dir_before_starting(tmp_path, target, first_line):
    command = ["make", "--no-print-directory", "-o", ".venv/.runtime-installed", f"PY={sys.executable}", target]
    done = run(command, tmp_path)
    assert done.returncode != 0
    assert [line for line in done.stderr.splitlines() if not line.startswith("make: ***")] == [sentence(tmp_path)]
    assert first_line not in done.stdout


def test_the_check_is_silent_when_the_runtime_dir_holds_both_files(tmp_path):
    for name in ("CommonServerPython.py", "demistomock.py"):
        (tmp_path / name).write_text("")
    done = run([sys.executable, "-m", "runner.runtime"], tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_demo_run_directly_says_the_same(tmp_path):
    (tmp_path / "demistomock.py").write_text("")
    done = run([sys.executable, "-m", "runner.demo"], tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == sentence(tmp_path).replace(MISSING, "CommonServerPython.py")
