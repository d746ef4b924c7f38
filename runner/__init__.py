"""Run XSOAR integration commands locally, the way the XSOAR server runs them.

    from runner import IntegrationRunner
    tm = IntegrationRunner("Packs/ThreatMon/Integrations/ThreatMon/ThreatMon.py", params, last_run_file=".runner/lastrun.json")
    result = tm.run("fetch-incidents")        # result.incidents, result.last_run, result.error, result.logs
    result = tm.run("threatmon_list_alarms", {"limit": "5"})   # result.entries, result.readable, result.context

Command line: ``python -m runner --help``. The demo: ``python -m runner.demo``.
"""

from runner.core import FETCH_COMMANDS, IntegrationRunner, RunResult
from runner.runtime import load_runtime, runtime_dir

__all__ = ["FETCH_COMMANDS", "IntegrationRunner", "RunResult", "load_runtime", "runtime_dir"]
