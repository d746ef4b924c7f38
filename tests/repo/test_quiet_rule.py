"""The root conftest's quiet rule: a test that prints, or logs a warning or worse, fails; a quiet one passes."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

NOISY_TESTS = """
import logging
import sys


def test_quiet():
    logging.getLogger("x").info("info is not noise")


def test_prints():
    print("hello")


def test_writes_to_stderr():
    sys.stderr.write("oops")


def test_logs_a_warning():
    logging.getLogger("x").warning("careful")


def test_fails_on_its_own():
    print("context for the failure")
    assert False
"""


def test_printing_or_warning_tests_fail_and_quiet_ones_pass(tmp_path):
    (tmp_path / "test_noise.py").write_text(NOISY_TESTS)
    # No coverage in the child (pytest-cov passes COV_CORE_* down): its data would not combine with the suite's.
    # Nor the caller's PYTEST_* options, nor colour (FORCE_COLOR, which tox passes on, would wrap the words read below).
    env = {key: value for key, value in os.environ.items() if not key.startswith(("COV_CORE_", "PYTEST_"))}
    env["PYTHONPATH"] = str(REPO)
    options = ["-p", "conftest", "-p", "no:cacheprovider", "--color=no", "-rA"]
    command = [sys.executable, "-m", "pytest", *options, "test_noise.py"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    out = done.stdout
    assert "PASSED test_noise.py::test_quiet" in out
    for name in ("test_prints", "test_writes_to_stderr", "test_logs_a_warning"):
        assert f"FAILED test_noise.py::{name} - Test passed but was not quiet" in out
    # A test that failed on its own keeps its own failure.
    assert "FAILED test_noise.py::test_fails_on_its_own - assert False" in out
    assert "1 passed" in out and "4 failed" in out
