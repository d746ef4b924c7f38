"""`python -m runner` as a new user meets it: started outside the venv, keys as plain strings, lastRun, objects,
and the sample params files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module", ["runner", "runner.demo"])
def test_outside_the_venv_one_sentence_says_how_to_start_it(module):
    # -S: no site-packages, so requests and the rest are missing, as under a system Python without them
    done = subprocess.run(
        [sys.executable, "-S", "-m", module, "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    version = ".".join(map(str, sys.version_info[:3]))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"runner: this Python ({sys.executable}, {version}) cannot run it: requests, urllib3, dateparser, "
        "pytz are not installed; start it from the project's .venv: run `make demo`, or `make install-runtime` and then "
        "`.venv/bin/python -m runner ...`."
    ]
