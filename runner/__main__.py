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
Exit status: 0 when the command succeeded, 1 when it failed, 2 for a usage error (each names the option and the
file or variable: a params, args or incident file that is missing or not JSON, an unset --api-key-env variable, a
credentials parameter still holding a sample file's placeholder key, which is refused before any request).
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

PLACEHOLDER_PREFIX = "REPLACE-WITH-"  # how the sample params files (runner/params/*.example.json) mark the key


class UsageError(Exception):
    """A mistake on the command line: reported in one sentence, exit status 2."""


def _json_arg(text: str | None, what: str) -> dict:
    """The object an option gives, as a JSON file or inline JSON; a missing file or bad JSON names the file."""
    if not text:
        return {}
    inline = text.lstrip().startswith(("{", "["))
    path = Path(text)
    if not inline and not path.is_file():
        raise UsageError(f"--{what}: there is no file {text} (give a JSON file or an inline JSON object).")
    where = "the inline JSON" if inline else f"the file {text}"
    try:
        value = json.loads(text if inline else path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UsageError(f"--{what}: {where} is not valid JSON ({exc}).") from None
    if not isinstance(value, dict):
        raise UsageError(f"--{what}: {where} holds {type(value).__name__}, not a JSON object.")
    return value


def _placeholders(params: dict) -> list[str]:
    """The parameters still holding a sample file's placeholder key (``"REPLACE-WITH-..."``, plain or in the
    server's form), so that no request goes out with it."""
    found = []
    for name, value in params.items():
        key = value.get("password") if isinstance(value, dict) else value
        if isinstance(key, str) and key.strip().startswith(PLACEHOLDER_PREFIX):
            found.append(name)
    return found


def _params(ns: argparse.Namespace) -> dict:
    """The instance parameters: --params, then each --param, then --api-key-env; a placeholder key is refused."""
    params = _json_arg(ns.params, "params")
    for item in ns.param:
        name, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--param {item!r}: expected NAME=VALUE.")
        params[name.strip()] = value
    if ns.api_key_env:
        if ns.api_key_env not in os.environ:
            raise UsageError(f"--api-key-env: the environment variable {ns.api_key_env} is not set.")
        credentials = params.get("credentials") if isinstance(params.get("credentials"), dict) else {"identifier": ""}
        params["credentials"] = {**credentials, "password": os.environ[ns.api_key_env]}
    for name in _placeholders(params):
        source = f" (from {ns.params})" if ns.params and not ns.params.lstrip().startswith("{") else ""
        raise UsageError(
            f"the parameter {name}{source} still holds the sample's placeholder key; nothing was sent: give the key "
            f"with --api-key-env VAR or --param {name}=KEY, or put it in your copy of the params file."
        )
    return params


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
    try:
        params = _params(ns)
        args = _json_arg(ns.args, "args")
        incident = _json_arg(ns.incident, "incident") if ns.incident else None
    except UsageError as exc:
        print(f"runner: {exc}", file=sys.stderr)
        return 2
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
