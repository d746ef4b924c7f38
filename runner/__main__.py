"""``python -m runner``: run one command of an integration, as the XSOAR server would, and show the result.

    python -m runner --integration Packs/ThreatMon/Integrations/ThreatMon/ThreatMon.py \\
        --params params.json --command fetch-incidents --args '{"limit": "5"}' --last-run .runner/lastrun.json

``--params`` and ``--args`` take a JSON file or inline JSON; ``--param name=value`` sets one parameter. A
credentials parameter may be the key alone (``"credentials": "<key>"``) or the server's form
(``{"identifier": "", "password": "<key>"}``). ``--api-key-env VAR`` puts $VAR into params.credentials.password,
so the key need not sit in a file. Sample params files: runner/params/*.example.json.
The lastRun is kept in the --last-run file between invocations; a fetch's output shows the lastRun the run saved,
or says that it saved none. The integration context and the time of the last mirroring cycle are kept in the --state
file. ``--mirror-cycle`` runs incoming mirroring as the server does (get-modified-remote-data, then get-remote-data
for each id). Credentials never appear in the output.
Exit status: 0 when the command succeeded, 1 when it failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from runner.core import IntegrationRunner
from runner.display import render_mirror_cycle, render_result, secrets_of
from runner.runtime import RuntimeSelectionError, explain_environment


def _json_arg(text: str | None, what: str) -> dict:
    if not text:
        return {}
    path = Path(text)
    source = path.read_text(encoding="utf-8") if not text.lstrip().startswith("{") and path.is_file() else text
    try:
        value = json.loads(source)
    except ValueError as exc:
        raise SystemExit(f"--{what}: neither a JSON file nor inline JSON ({exc})") from None
    if not isinstance(value, dict):
        raise SystemExit(f"--{what}: expected a JSON object")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m runner", description="Run an XSOAR integration command locally.")
    p.add_argument("--integration", required=True, help="the integration's .py file")
    p.add_argument("--command", help="e.g. test-module, fetch-incidents, threatmon_list_alarms")
    p.add_argument(
        "--mirror-cycle",
        action="store_true",
        help="run an incoming-mirroring cycle (get-modified-remote-data, then get-remote-data per id) instead of --command",
    )
    p.add_argument("--params", help="instance parameters: a JSON file or inline JSON")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="set one parameter (repeatable)")
    p.add_argument("--api-key-env", metavar="VAR", help="take credentials.password from this environment variable")
    p.add_argument("--args", help="command arguments: a JSON file or inline JSON")
    p.add_argument("--last-run", metavar="FILE", help="keep lastRun in this JSON file between runs")
    p.add_argument("--state", metavar="FILE", help="keep the integration context and the mirroring time in this JSON file")
    p.add_argument("--incident", metavar="FILE", help="the incident the command runs in (JSON)")
    p.add_argument("--runtime-dir", help="folder of the official demistomock/CommonServerPython (default: as conftest)")
    p.add_argument("--repeat", type=int, default=1, help="run the command this many times")
    p.add_argument("--until-empty", action="store_true", help="fetch-incidents: run until a run brings nothing new")
    p.add_argument("--verbose", "-v", action="store_true", help="also show the integration's log lines")
    p.add_argument("--json", action="store_true", help="print the raw result as JSON (credentials masked)")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    if not ns.command and not ns.mirror_cycle:
        parser.error("give --command (or --mirror-cycle)")
    params = _json_arg(ns.params, "params")
    for item in ns.param:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--param {item!r}: expected NAME=VALUE")
        params[name.strip()] = value
    if ns.api_key_env:
        if ns.api_key_env not in os.environ:
            raise SystemExit(f"--api-key-env: ${ns.api_key_env} is not set")
        credentials = params.get("credentials") if isinstance(params.get("credentials"), dict) else {"identifier": ""}
        params["credentials"] = {**credentials, "password": os.environ[ns.api_key_env]}
    args = _json_arg(ns.args, "args")
    incident = _json_arg(ns.incident, "incident") if ns.incident else None
    try:
        runner = IntegrationRunner(
            ns.integration, params, last_run_file=ns.last_run, incident=incident, runtime=ns.runtime_dir, state_file=ns.state
        )
    except (FileNotFoundError, RuntimeSelectionError) as exc:
        from_environment = isinstance(exc, RuntimeSelectionError) and not ns.runtime_dir
        print(f"runner: {explain_environment() if from_environment else exc}", file=sys.stderr)
        return 2
    secrets = secrets_of(params)
    runs = max(1, ns.repeat)
    if ns.mirror_cycle:
        cycles_ok = True
        for number in range(runs):
            cycle = runner.mirror_cycle()
            cycles_ok = cycles_ok and cycle.ok
            if runs > 1:
                print(f"=== cycle {number + 1} ===")
            print(render_mirror_cycle(cycle, secrets, verbose=ns.verbose))
        return 0 if cycles_ok else 1
    failed = False
    for number in range(1000 if ns.until_empty else runs):
        result = runner.run(ns.command, args)
        failed = failed or not result.ok
        if ns.json:
            raw = {
                "command": result.command,
                "entries": result.entries,
                "incidents": result.incidents,
                "indicators": result.indicators,
                "last_run": result.last_run if result.last_run_set else None,  # only the lastRun this run saved
                "last_run_saved": result.last_run_set,
                "error": result.error,
                "logs": result.logs if ns.verbose else None,
            }
            text = json.dumps(raw, indent=2, default=str)
            for secret in secrets:
                text = text.replace(secret, "********")
            print(text)
        else:
            if runs > 1 or ns.until_empty:
                print(f"=== run {number + 1} ===")
            print(render_result(result, secrets, verbose=ns.verbose))
        if not result.ok or (ns.until_empty and not result.incidents):
            break
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
