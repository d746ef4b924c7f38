"""Run XSOAR integration commands locally, the way the XSOAR server runs them.

    from runner import IntegrationRunner
    tm = IntegrationRunner("Packs/ThreatMon/Integrations/ThreatMon/ThreatMon.py", params, last_run_file=".runner/lastrun.json")
    result = tm.run("fetch-incidents")        # result.incidents, result.last_run, result.error, result.logs
    result = tm.run("threatmon_list_alarms", {"limit": "5"})   # result.entries, result.readable, result.context
    cycle = tm.mirror_cycle()                 # incoming mirroring: cycle.ids, cycle.updates, cycle.closes

Command line: ``python -m runner --help``. The demo: ``python -m runner.demo``.

Importing the package first checks that this Python can run it (3.11 or newer, with requirements.txt installed):
started outside the project's .venv, ``python -m runner`` and ``python -m runner.demo`` say so in one sentence
instead of a traceback. The names below are imported on first use, so ``python -m runner.runtime`` runs alone.
"""

import importlib
import importlib.util
import sys

# requirements.txt, by import name
RUNTIME_MODULES = ("requests", "urllib3", "dateparser", "pytz")


def environment_problem() -> "str | None":
    """One sentence when this Python cannot run the runner (too old, or without requirements.txt), else None."""
    version = ".".join(str(part) for part in sys.version_info[:3])
    missing = [name for name in RUNTIME_MODULES if importlib.util.find_spec(name) is None]
    if sys.version_info >= (3, 11) and not missing:
        return None
    lacks = []
    if sys.version_info < (3, 11):  # noqa: UP036 - this check is for the Pythons older than the project's
        lacks.append("3.11 or newer is needed")
    if missing:
        lacks.append(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed")
    return (
        f"runner: this Python ({sys.executable}, {version}) cannot run it: {' and '.join(lacks)}; start it from the "
        "project's .venv: run `make demo`, or `make install-runtime` and then `.venv/bin/python -m runner ...`."
    )


_problem = environment_problem()
if _problem:
    raise SystemExit(_problem)

_EXPORTS = {
    "FETCH_COMMANDS": "runner.core",
    "IntegrationRunner": "runner.core",
    "MirrorCycle": "runner.core",
    "RunResult": "runner.core",
    "load_runtime": "runner.runtime",
    "runtime_dir": "runner.runtime",
}
__all__ = ["FETCH_COMMANDS", "IntegrationRunner", "MirrorCycle", "RunResult", "load_runtime", "runtime_dir"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'runner' has no attribute {name!r}")
