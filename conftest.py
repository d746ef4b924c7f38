"""Repository-wide pytest setup.

1. Chooses the XSOAR runtime that ``import demistomock`` / ``from CommonServerPython import *``
   resolve to: the official files when ``XSOAR_RUNTIME_DIR`` names a folder holding both,
   otherwise this repository's stand-ins in ``xsoar_runtime/``.
2. Puts every integration and script folder of every pack, and every API module folder
   (``Packs/ApiModules/Scripts/*``), on ``sys.path`` so tests import ``ThreatMon``, ``ThreatMonThreatFeed``
   and ``ThreatMonApiModule`` by name (the integrations' ``from ThreatMonApiModule import *`` resolves
   here as demisto-sdk's unify resolves it), and the repository root so the simulator and runner
   packages import from anywhere.
3. Keeps the suite quiet, like the content repository: a test that writes to stdout/stderr
   or logs a warning (or worse) fails.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from runner.runtime import API_MODULE_DIRS, STAND_IN_DIR, RuntimeSelectionError, runtime_dir  # noqa: E402  (needs REPO_ROOT on the path)

try:
    RUNTIME_DIR = runtime_dir()  # the one rule, shared with the local runner
except RuntimeSelectionError as error:
    raise pytest.UsageError(f"XSOAR_RUNTIME_DIR={error}") from None
# REPO_ROOT is on the path already.
_paths = [
    RUNTIME_DIR,
    *sorted((REPO_ROOT / "Packs").glob("*/Integrations/*")),
    *sorted(path for path in (REPO_ROOT / "Packs").glob("*/Scripts/*") if path.is_dir() and path not in API_MODULE_DIRS),
    *API_MODULE_DIRS,
]
for _path in reversed(_paths):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


def pytest_sessionstart(session):
    """Run every child process of the suite without coverage, and every request to a loopback server direct.

    pytest-cov exports COV_CORE_* so that Python processes started by tests measure themselves too.
    A child started outside the repository (demisto-sdk in a throwaway git repository, make in a copy of
    the repository) cannot find pyproject.toml, records line data instead of the suite's branch data, and
    the suite then fails to combine the two. The children are tested for what they print and return;
    coverage is measured in the test process only.
    """
    for key in [key for key in os.environ if key.startswith("COV_CORE_")]:
        del os.environ[key]
    # Every server the suite talks to is on this machine's loopback: never through a proxy the machine may set,
    # whichever test runs first (a client made with `proxy` off drops the proxy variables only from then on).
    for key in ("NO_PROXY", "no_proxy"):
        hosts = [host for host in os.environ.get(key, "").split(",") if host]
        os.environ[key] = ",".join(hosts + [host for host in ("127.0.0.1", "localhost") if host not in hosts])


def pytest_report_header(config):
    kind = "stand-ins" if RUNTIME_DIR == STAND_IN_DIR else "official files"
    return f"XSOAR runtime: {kind} ({RUNTIME_DIR})"


_NOISY_SECTIONS = ("Captured stdout", "Captured stderr", "Captured log")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Fail a passing test that printed, or that logged a warning or worse.

    pytest's logging capture records at the root logger's level (WARNING unless configured),
    so a "Captured log" section means something logged a warning, an error or a critical.
    """
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.passed:
        return
    noisy = [(title, text) for title, text in report.sections if title.startswith(_NOISY_SECTIONS) and text.strip()]
    if noisy:
        report.outcome = "failed"
        details = "\n".join(f"--- {title} ---\n{text}" for title, text in noisy)
        report.longrepr = f"Test passed but was not quiet (tests must not print or log warnings):\n{details}"
