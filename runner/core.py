"""Run an XSOAR integration command the way the XSOAR server does, on this machine.

For each run the server hands the integration its instance parameters, the command and its
arguments, the lastRun object saved by the previous fetch, and collects what the integration sends
back: war-room entries (``demisto.results``), incidents (``demisto.incidents``), indicators
(``demisto.createIndicators``), the new lastRun (``demisto.setLastRun``), log lines. The runner does
the same by patching those ``demistomock`` functions for the time of the run, then executes the
integration file as ``__main__`` (what ``runpy.run_path`` does: a fresh module namespace each run; the
compiled code is cached so repeated runs measure the integration, not the compiler). The API modules the
integration imports (``from ThreatMonApiModule import *``) are imported afresh for each run too, as the server runs
each command in a new process with the module's code inlined.

``return_error`` ends a normal command with ``sys.exit(0)`` after an error entry, and raises for
fetch commands; both end up in ``RunResult.error``. When a fetch run fails, the runner applies neither
its incidents nor its lastRun (the server does not commit a failed fetch); indicators already sent with
``createIndicators`` stay created, as on the server.

Besides lastRun the server keeps, per instance, the integration context (``setIntegrationContext``, and
``setIntegrationContextVersioned``, which refuses a version another write has moved past; written at once) and the
time of the last incoming-mirroring cycle; the runner keeps both in its state file.
:meth:`IntegrationRunner.mirror_cycle` runs incoming mirroring the way the server does: get-modified-remote-data
with lastUpdate, then get-remote-data for each id it returned.

The runner never masks anything in what it records: a test can look for a leaked secret in the raw
entries, logs and errors. :mod:`runner.display` masks credentials in what it prints.
"""

from __future__ import annotations

import copy
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import time
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from runner.runtime import API_MODULE_DIRS, load_runtime, runtime_dir

FETCH_COMMANDS = ("fetch-incidents", "fetch-indicators", "fetch-credentials", "long-running-execution")
ERROR_ENTRY_TYPE = 4
SERVER_VERSION = {"version": "8.9.0", "buildNumber": "local-runner"}


@dataclass
class RunResult:
    """What one command run produced."""

    command: str
    args: dict
    entries: list[dict] = field(default_factory=list)
    incidents: list[dict] = field(default_factory=list)
    indicators: list[dict] = field(default_factory=list)
    indicator_batches: list[int] = field(default_factory=list)  # the size of each createIndicators call, in order
    last_run: dict | None = None  # the lastRun in force after this run
    last_run_set: bool = False  # the run called setLastRun (and it was applied)
    error: str | None = None
    traceback: str | None = None
    logs: list[tuple[str, str]] = field(default_factory=list)  # (level, message)
    integration_context: dict = field(default_factory=dict)
    exit_code: int | None = None
    duration_s: float = 0.0
    discarded_incidents: list[dict] = field(default_factory=list)  # sent by a failed fetch run
    returned: list = field(default_factory=list)  # every object handed to demisto.results, as it was

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def readable(self) -> str:
        """Every entry as a person reads it in the war room, joined."""
        parts = []
        for entry in self.entries:
            text = entry.get("HumanReadable")
            if not text:
                contents = entry.get("Contents")
                text = contents if isinstance(contents, str) else json.dumps(contents, default=str)
            parts.append(str(text))
        return "\n\n".join(parts)

    @property
    def context(self) -> dict:
        """The entries' EntryContext merged (a later key replaces an earlier one)."""
        merged: dict = {}
        for entry in self.entries:
            merged.update(entry.get("EntryContext") or {})
        return merged

    def everything_as_text(self) -> str:
        """All the run produced, as one text: for checks such as "the API key appears nowhere"."""
        blob = {
            "entries": self.entries,
            "incidents": self.incidents,
            "discarded_incidents": self.discarded_incidents,
            "indicators": self.indicators,
            "last_run": self.last_run,
            "error": self.error,
            "traceback": self.traceback,
            "logs": self.logs,
            "integration_context": self.integration_context,
        }
        return json.dumps(blob, default=str)


def _json_roundtrip(obj: Any, what: str) -> Any:
    """What the server stores is JSON: an object that is not JSON-serialisable fails like it would there."""
    return json.loads(_json_checked(obj, what))


def _json_checked(obj: Any, what: str) -> str:
    """Serialise ``obj`` as the integration process does to hand it to the server (a failure fails the run)."""
    try:
        return json.dumps(obj)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} is not JSON-serialisable: {exc}") from exc


def _brand_of(path: Path) -> str:
    yml = path.with_suffix(".yml")
    if yml.is_file():
        for line in yml.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if stripped.startswith("id:"):
                return stripped[3:].strip().strip("'\"") or path.stem
    return path.stem


CREDENTIALS_TYPE = "9"  # the instance form's user name + password (or key) parameter


def _credential_params(path: Path) -> set[str]:
    """The names of the integration's credentials parameters (type 9 in its yml); ``credentials`` without a yml.

    The yml is read line by line (the runtime dependencies have no YAML parser): the ``configuration:`` list's
    items start with ``- `` at the left margin and hold ``name:`` and ``type:`` lines.
    """
    yml = path.with_suffix(".yml")
    if not yml.is_file():
        return {"credentials"}
    names: set[str] = set()
    item: dict[str, str] = {}
    in_configuration = False

    def close() -> None:
        if item.get("type") == CREDENTIALS_TYPE and item.get("name"):
            names.add(item["name"])
        item.clear()

    for line in yml.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith((" ", "-", "#")):  # a top-level key
            close()
            in_configuration = line.startswith("configuration:")
            continue
        if not in_configuration:
            continue
        if line.startswith("- "):
            close()
            line = "  " + line[2:]
        key, sep, value = line.strip().partition(":")
        if sep and line.startswith("  ") and not line.startswith("   "):
            item[key.strip()] = value.strip().strip("'\"")
    close()
    return names


def with_credentials_objects(params: dict, names: set[str]) -> dict:
    """``params`` with a credentials parameter given as a plain string (the key alone) in the form the server
    sends it: ``{"identifier": "", "password": <the string>}``."""
    fixed = dict(params)
    for name in names:
        if isinstance(fixed.get(name), str):
            fixed[name] = {"identifier": "", "password": fixed[name]}
    return fixed


_CODE_CACHE: dict[tuple[str, int, int], types.CodeType] = {}


def _compiled(path: Path) -> types.CodeType:
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    code = _CODE_CACHE.get(key)
    if code is None:
        # dont_inherit: this module's own `from __future__ import annotations` must not reach the integration, which
        # runs in XSOAR with no future import (its annotations are evaluated, its dataclasses see real types).
        code = compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
        _CODE_CACHE[key] = code
    return code


class IntegrationRunner:
    """One configured integration instance, run command after command.

    ``params``            the instance parameters (as the instance form would give them); a credentials
                          parameter may be given as the key alone (a plain string).
    ``last_run_file``     where lastRun is kept between runs (JSON); None keeps it in memory only.
    ``incident``          the incident a command runs in (``demisto.incident()``); None: a playground.
    ``runtime``           the folder of the XSOAR runtime; default as the root conftest chooses.
    ``sleep``             replaces ``time.sleep`` during runs (tests: a recorder that does not sleep).
    ``http_timeout_cap``  caps every ``requests`` timeout during runs at this many seconds (tests: a "slow
                          answer" fault then costs half a second, not the integration's full read timeout).
    ``keep_indicators``   False: of what ``createIndicators`` receives, record only the size of each batch
                          (``RunResult.indicator_batches``), not the indicators (a benchmark of a large feed).
    ``state_file``        where the integration context and the time of the last mirroring cycle are kept
                          between runners (JSON); None keeps them in memory only.
    """

    def __init__(
        self,
        integration: str | os.PathLike,
        params: dict | None = None,
        last_run_file: str | os.PathLike | None = None,
        incident: dict | None = None,
        instance_name: str | None = None,
        runtime: str | os.PathLike | None = None,
        sleep: Callable[[float], Any] | None = None,
        http_timeout_cap: float | None = None,
        keep_indicators: bool = True,
        state_file: str | os.PathLike | None = None,
    ):
        self.path = Path(integration).resolve()
        if not self.path.is_file():
            raise FileNotFoundError(f"no integration file at {integration}")
        self.params = with_credentials_objects(copy.deepcopy(params or {}), _credential_params(self.path))
        self.brand = _brand_of(self.path)
        self.instance_name = instance_name or f"{self.brand}_instance_1"
        self.incident = incident
        self.sleep = sleep
        self.http_timeout_cap = http_timeout_cap
        self.keep_indicators = keep_indicators
        self.demisto, self.csp = load_runtime(runtime_dir(runtime))
        self.last_run_file = Path(last_run_file) if last_run_file else None
        self.last_run: dict = {}
        if self.last_run_file and self.last_run_file.is_file():
            text = self.last_run_file.read_text(encoding="utf-8").strip()
            self.last_run = json.loads(text) if text else {}
        self.integration_context: dict = {}
        self.context_version = 0  # how many times the integration context was written
        self.last_mirror_update: str | None = None  # lastUpdate of the next mirroring cycle
        self.state_file = Path(state_file) if state_file else None
        if self.state_file and self.state_file.is_file():
            text = self.state_file.read_text(encoding="utf-8").strip()
            state = json.loads(text) if text else {}
            self.integration_context = state.get("integration_context") or {}
            self.last_mirror_update = state.get("last_mirror_update")
        self.history: list[RunResult] = []

    # -- the run ---------------------------------------------------------------------------------------

    def run(self, command: str, args: dict | None = None) -> RunResult:
        result = RunResult(command=command, args=dict(args or {}))
        state = {"last_run": None, "last_run_set": False}
        patches = self._patches(command, result, state)
        saved = self._apply(patches)
        saved_sleep, saved_request = time.sleep, requests.Session.request
        if self.sleep is not None:
            time.sleep = self.sleep
        if self.http_timeout_cap is not None:
            requests.Session.request = _capped_request(saved_request, self.http_timeout_cap)
        started = time.perf_counter()
        try:
            self._execute()
            result.exit_code = None
        except SystemExit as exc:
            code = exc.code
            result.exit_code = code if isinstance(code, int) else (0 if code is None else 1)
            if result.exit_code != 0:
                result.error = f"The integration exited with code {code}."
        except BaseException as exc:  # what the server would show as the command's (or fetch's) error
            if isinstance(exc, KeyboardInterrupt):
                raise
            result.error = str(exc) or type(exc).__name__
            result.traceback = traceback.format_exc()
        finally:
            result.duration_s = time.perf_counter() - started
            time.sleep, requests.Session.request = saved_sleep, saved_request
            self._restore(saved)
        if result.error is None:
            errors = [e for e in result.entries if e.get("Type") == ERROR_ENTRY_TYPE]
            if errors:
                contents = errors[-1].get("Contents")
                result.error = contents if isinstance(contents, str) else json.dumps(contents, default=str)
        if result.error is not None and command in FETCH_COMMANDS:
            result.discarded_incidents, result.incidents = result.incidents, []
        elif state["last_run_set"]:
            self.last_run = state["last_run"]
            result.last_run_set = True
            self._save_last_run()
        result.last_run = copy.deepcopy(self.last_run)
        result.integration_context = copy.deepcopy(self.integration_context)
        self._save_state()
        self.history.append(result)
        return result

    def _execute(self) -> None:
        """Execute the file as ``__main__`` in a fresh module, as ``runpy.run_path`` does."""
        code = _compiled(self.path)
        module = types.ModuleType("__main__")
        module.__file__ = str(self.path)
        module.__builtins__ = __builtins__
        saved_main = sys.modules.get("__main__")
        sys.modules["__main__"] = module
        saved_modules = _fresh_api_modules()
        try:
            exec(code, module.__dict__)  # noqa: S102 - running the integration is the point of the runner
        finally:
            _restore_api_modules(saved_modules)
            if saved_main is not None:
                sys.modules["__main__"] = saved_main

    # -- what the server provides ------------------------------------------------------------------------

    def _patches(self, command: str, result: RunResult, state: dict) -> dict[str, Any]:
        params, args = self.params, result.args

        def log(level: str):
            def write(msg, *fmt_args, **_kwargs):
                text = str(msg)
                if fmt_args:
                    try:
                        text = text % fmt_args
                    except (TypeError, ValueError):
                        text = " ".join([text, *map(str, fmt_args)])
                result.logs.append((level, text))

            return write

        def results(obj):
            result.returned.append(copy.deepcopy(obj))
            items = obj if isinstance(obj, list) else [obj]
            for item in items:
                if isinstance(item, dict) and ("Type" in item or "Contents" in item):
                    result.entries.append(item)
                elif isinstance(item, dict | list):  # an object (get-mapping-fields): a JSON entry, as on the server
                    result.entries.append({"Type": 1, "ContentsFormat": "json", "Contents": item})
                else:
                    result.entries.append({"Type": 1, "ContentsFormat": "text", "Contents": str(item)})

        def incidents(incs=None):
            if incs is None:  # script usage: the incidents of the investigation
                return [self.incident] if self.incident else []
            incs = list(incs)
            _json_checked(incs, "the incidents list")  # serialised, as on the way to the server
            result.incidents.extend(incs)
            return None

        def set_last_run(obj):
            state["last_run"] = _json_roundtrip(obj, "the lastRun object")
            state["last_run_set"] = True

        def create_indicators(batch, *_args, **_kwargs):
            result.indicator_batches.append(len(batch))
            if self.keep_indicators:
                result.indicators.extend(batch)

        def set_context(ctx, *_args, **_kwargs):
            self.integration_context = _json_roundtrip(ctx, "the integration context")
            self.context_version += 1
            return {}

        def set_context_versioned(ctx, version=-1, *_args, **_kwargs):
            # The server refuses a write whose version another write has moved past (runs here never overlap).
            if version != -1 and version < self.context_version:
                raise ValueError(f"the integration context is at version {self.context_version}, not {version}")
            return set_context(ctx)

        return {
            "params": lambda: copy.deepcopy(params),
            "args": lambda: dict(args),
            "command": lambda: command,
            "getArg": lambda name: args.get(name),
            "getLastRun": lambda: copy.deepcopy(self.last_run),
            "setLastRun": set_last_run,
            "incidents": incidents,
            "incident": lambda: copy.deepcopy(self.incident) if self.incident else _playground_incident(),
            "results": results,
            "debug": log("debug"),
            "info": log("info"),
            "error": log("error"),
            "log": log("log"),
            "integrationInstance": lambda: self.instance_name,
            "createIndicators": create_indicators,
            "getIntegrationContext": lambda: copy.deepcopy(self.integration_context),
            "setIntegrationContext": set_context,
            "getIntegrationContextVersioned": lambda *_args, **_kwargs: {
                "context": copy.deepcopy(self.integration_context),
                "version": self.context_version,
            },
            "setIntegrationContextVersioned": set_context_versioned,
            "updateModuleHealth": lambda message, is_error=False: result.logs.append(("health", str(message))),
            "demistoVersion": lambda: dict(SERVER_VERSION),
            "investigation": lambda: {"id": (self.incident or {}).get("investigationId", "playground")},
            "callingContext": {
                "context": {
                    "IntegrationBrand": self.brand,
                    "IntegrationInstance": self.instance_name,
                    "ParentEntry": None,
                },
                "command": command,
                "args": dict(args),
            },
            "is_debug": False,
        }

    def _apply(self, patches: dict[str, Any]) -> dict[str, Any]:
        missing = object()
        saved = {}
        for name, value in patches.items():
            saved[name] = getattr(self.demisto, name, missing)
            setattr(self.demisto, name, value)
        saved["__missing__"] = missing
        return saved

    def _restore(self, saved: dict[str, Any]) -> None:
        missing = saved.pop("__missing__")
        for name, value in saved.items():
            if value is missing:
                delattr(self.demisto, name)
            else:
                setattr(self.demisto, name, value)

    def _save_state(self) -> None:
        if self.state_file is None:
            return
        state = {"integration_context": self.integration_context, "last_mirror_update": self.last_mirror_update}
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(self.state_file.suffix + ".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.state_file)

    def _save_last_run(self) -> None:
        if self.last_run_file is None:
            return
        self.last_run_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.last_run_file.with_suffix(self.last_run_file.suffix + ".tmp")
        tmp.write_text(json.dumps(self.last_run, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.last_run_file)

    # -- conveniences ------------------------------------------------------------------------------------

    def mirror_cycle(self, last_update: str | None = None) -> MirrorCycle:
        """One incoming-mirroring cycle, as the server runs it every mirroring interval: get-modified-remote-data
        with lastUpdate (the time the previous cycle started; now for the first), then get-remote-data with the same
        lastUpdate for each id it returned. A cycle that fails does not move lastUpdate."""
        started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        since = last_update or self.last_mirror_update or started
        modified = self.run("get-modified-remote-data", {"lastUpdate": since})
        cycle = MirrorCycle(modified)
        for remote_id in cycle.ids:
            cycle.remote[remote_id] = self.run("get-remote-data", {"id": remote_id, "lastUpdate": since})
        if cycle.ok:
            self.last_mirror_update = started
            self._save_state()
        return cycle

    def fetch_until_empty(self, max_runs: int = 1000, command: str = "fetch-incidents") -> list[RunResult]:
        """Run fetch-incidents until a run brings nothing new (or fails); returns every run's result."""
        runs = []
        for _ in range(max_runs):
            result = self.run(command)
            runs.append(result)
            if not result.ok or not result.incidents:
                break
        return runs


class _ApiModuleLoader(importlib.machinery.SourceFileLoader):
    """Loads an API module from its code compiled once per process (``_compiled``), as the integration file is:
    every run executes the module anew, none compiles it anew. The import system would compile it on every run
    wherever no bytecode cache is written (PYTHONDONTWRITEBYTECODE), which would make a run's cost depend on that."""

    def get_code(self, fullname: str) -> types.CodeType:
        return _compiled(Path(str(self.path)))


class _ApiModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the API modules (``ThreatMonApiModule``) in their folders, for ``_ApiModuleLoader``."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        for folder in API_MODULE_DIRS:
            source = folder / f"{folder.name}.py"
            if fullname == folder.name and source.is_file():
                return importlib.util.spec_from_file_location(fullname, source, loader=_ApiModuleLoader(fullname, str(source)))
        return None


_API_MODULE_FINDER = _ApiModuleFinder()


def _fresh_api_modules() -> dict[str, types.ModuleType]:
    """Put the API module folders on the import path and forget the modules imported so far, so the run imports
    them anew (from code compiled once: ``_ApiModuleFinder``); returns the forgotten ones, which
    ``_restore_api_modules`` puts back (a test holding the module imported before keeps the same classes)."""
    saved = {}
    for folder in API_MODULE_DIRS:
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
        if folder.name in sys.modules:
            saved[folder.name] = sys.modules.pop(folder.name)
    sys.meta_path.insert(0, _API_MODULE_FINDER)
    return saved


def _restore_api_modules(saved: dict[str, types.ModuleType]) -> None:
    if _API_MODULE_FINDER in sys.meta_path:
        sys.meta_path.remove(_API_MODULE_FINDER)
    for folder in API_MODULE_DIRS:
        sys.modules.pop(folder.name, None)
    sys.modules.update(saved)


@dataclass
class MirrorCycle:
    """What one incoming-mirroring cycle brought: the get-modified-remote-data run and a get-remote-data run per id."""

    modified: RunResult
    remote: dict[str, RunResult] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.modified.ok and all(run.ok for run in self.remote.values())

    @property
    def ids(self) -> list[str]:
        """The ids get-modified-remote-data returned (the Contents of its JSON note)."""
        if not self.modified.ok:
            return []
        for entry in self.modified.entries:
            if entry.get("Type") == 1 and isinstance(entry.get("Contents"), list):
                return [str(remote_id) for remote_id in entry["Contents"]]
        return []

    def _answer(self, remote_id: str) -> list:
        """[mirrored object, *entries] as get-remote-data returned them; [] for nothing to update."""
        run = self.remote.get(remote_id)
        answer = run.returned[0] if run is not None and run.ok and run.returned else None
        return answer if isinstance(answer, list) and answer else []

    @property
    def updates(self) -> dict[str, dict]:
        """id -> the mirrored object XSOAR maps onto the incident (only the ids that had one)."""
        return {remote_id: self._answer(remote_id)[0] for remote_id in self.remote if self._answer(remote_id)}

    @property
    def notes(self) -> dict[str, list[str]]:
        """id -> the text notes get-remote-data added to the incident (entries other than the close), for the ids that
        have some."""
        found: dict[str, list[str]] = {}
        for remote_id in self.remote:
            for entry in self._answer(remote_id)[1:]:
                contents = entry.get("Contents") if isinstance(entry, dict) else None
                if isinstance(contents, str):
                    found.setdefault(remote_id, []).append(contents)
        return found

    @property
    def closes(self) -> dict[str, dict]:
        """id -> the Contents of the entry that closes the incident (dbotIncidentClose), for the ids that have one."""
        found = {}
        for remote_id in self.remote:
            for entry in self._answer(remote_id)[1:]:
                contents = entry.get("Contents") if isinstance(entry, dict) else None
                if isinstance(contents, dict) and contents.get("dbotIncidentClose"):
                    found[remote_id] = contents
        return found


def _capped_request(original: Callable, cap: float) -> Callable:
    def request(self, method, url, *args, **kwargs):
        timeout = kwargs.get("timeout")
        if isinstance(timeout, tuple):
            kwargs["timeout"] = tuple(cap if t is None else min(t, cap) for t in timeout)
        else:
            kwargs["timeout"] = cap if timeout is None else min(timeout, cap)
        return original(self, method, url, *args, **kwargs)

    return request


def _playground_incident() -> dict:
    """Outside an incident, commands run in the playground: an investigation with no alarm in it."""
    return {
        "id": "playground",
        "name": "Playground",
        "type": "Unclassified",
        "CustomFields": {},
        "labels": [],
        "rawJSON": "",
        "investigationId": "playground",
    }
