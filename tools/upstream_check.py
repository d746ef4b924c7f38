"""`make upstream-check`: the three pack folders, alone, go through what demisto/content's CI does with them.

A pull request to demisto/content carries `Packs/ThreatMon`, `Packs/ThreatMonThreatFeed` and
`Packs/ApiModules/Scripts/ThreatMonApiModule`, and nothing else of this repository. This check copies those three
folders alone into a scratch tree under the system's temp folder and there:

1. **paths**: runs `validate-content-path validate` on every file (content refuses, for example, a test file that
   is not `<Folder>_test.py`);
2. **unify**: runs `demisto-sdk prepare-content` on each integration and checks that the ThreatMonApiModule code
   is inlined in place of its import;
3. **tests**: in each code folder, as content's CI does: its conftest.py put in the folder (this repository's own,
   tools/upstream_conftest.py, which fails a test that logs a warning or prints; or content's file where
   CONTENT_CONFTEST names it), pytest run from inside the folder with only CommonServerPython, demistomock and the
   API module's folder on the path, and only the libraries of content's test environment importable
   (tools/upstream_import_guard.py); the folder's own tests must cover at least 90% of its code.

The runtime is the official one where XSOAR_RUNTIME_DIR names a folder holding CommonServerPython.py and
demistomock.py, and this repository's stand-ins (xsoar_runtime/) otherwise.

    python tools/upstream_check.py           # exit 0 when every step passes, 1 naming what failed
    python tools/upstream_check.py --keep    # keep the scratch tree to look into it
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from runner.runtime import STAND_IN_DIR, RuntimeSelectionError, runtime_dir  # noqa: E402  (needs REPO on the path)

# What a pull request to demisto/content carries.
FOLDERS = ("Packs/ThreatMon", "Packs/ThreatMonThreatFeed", "Packs/ApiModules/Scripts/ThreatMonApiModule")
API_MODULE = "Packs/ApiModules/Scripts/ThreatMonApiModule"
COVERAGE_FLOOR = 90
OWN_CONFTEST = REPO / "tools" / "upstream_conftest.py"
IMPORT_GUARD = REPO / "tools" / "upstream_import_guard.py"
SDK_BIN = Path(sys.executable).parent
TIMEOUT_S = 900
IMPORT_LINE = re.compile(r"^from ThreatMonApiModule import \*", re.M)
INLINED = "### GENERATED CODE ###: from ThreatMonApiModule import *"


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: no coverage of the parent run, no bytecode files in the folders."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("COV_CORE_", "PYTEST_"))}
    env.pop("PYTHONPATH", None)
    env.update(PYTHONDONTWRITEBYTECODE="1", DEMISTO_SDK_IGNORE_CONTENT_WARNING="1", **extra)
    return env


def copy_folders(repo: Path, scratch: Path) -> None:
    """The three folders alone, without caches."""
    for folder in FOLDERS:
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".coverage*")
        shutil.copytree(repo / folder, scratch / folder, ignore=ignore)


def code_folders(scratch: Path) -> list[Path]:
    """Every folder with Python code: the integrations and the API module."""
    packs = scratch / "Packs"
    return sorted({path.parent for path in [*packs.glob("*/Integrations/*/*.py"), *packs.glob("*/Scripts/*/*.py")]})


def run(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(  # noqa: S603  (our own venv tools)
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    return done.returncode, (done.stdout + done.stderr).strip()


def check_paths(scratch: Path) -> list[str]:
    files = sorted(str(path.relative_to(scratch)) for path in (scratch / "Packs").rglob("*") if path.is_file())
    code, output = run([str(SDK_BIN / "validate-content-path"), "validate", *files], scratch, child_env())
    if code:
        return [f"validate-content-path refused a path:\n{output}"]
    print(f"paths: validate-content-path accepts all {len(files)} files")
    return []


def check_unify(scratch: Path, out: Path) -> list[str]:
    problems = []
    for folder in sorted((scratch / "Packs").glob("*/Integrations/*")):
        target = out / f"{folder.name}.yml"
        command = [str(SDK_BIN / "demisto-sdk"), "prepare-content", "-i", str(folder), "-o", str(target)]
        code, output = run(command, scratch, child_env())
        if code or not target.is_file():
            problems.append(f"demisto-sdk prepare-content failed on {folder.relative_to(scratch)}:\n{output}")
            continue
        unified = target.read_text(encoding="utf-8")
        uses_module = IMPORT_LINE.search((folder / f"{folder.name}.py").read_text(encoding="utf-8"))
        if uses_module and INLINED not in unified:
            problems.append(f"{folder.name}: the unified yml does not inline ThreatMonApiModule")
            continue
        inlined = ", API module inlined" if uses_module else ""
        print(f"unify: {folder.name} -> one yml ({len(unified.splitlines())} lines{inlined})")
    return problems


def check_tests(scratch: Path, runtime: Path, conftest: Path, support: Path) -> list[str]:
    """pytest inside each code folder, content's way, with coverage of the folder's code (tests left out)."""
    shutil.copy(IMPORT_GUARD, support / IMPORT_GUARD.name)
    (support / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (support / "coveragerc").write_text("[run]\nomit =\n    *_test.py\n    conftest.py\n", encoding="utf-8")
    problems = []
    for folder in code_folders(scratch):
        shutil.copy(conftest, folder / "conftest.py")  # content replaces any conftest.py in the folder with its own
        path = os.pathsep.join([str(runtime), str(scratch / API_MODULE), str(support)])
        env = child_env(PYTHONPATH=path, COVERAGE_FILE=str(support / f".coverage.{folder.name}"))
        command = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", IMPORT_GUARD.stem,
            "-c", str(support / "pytest.ini"), "--rootdir", str(folder),
            "--cov=.", f"--cov-config={support / 'coveragerc'}", "--cov-report=term", f"--cov-fail-under={COVERAGE_FLOOR}",
        ]  # fmt: skip
        started = time.monotonic()
        code, output = run(command, folder, env)
        name = str(folder.relative_to(scratch))
        if code:
            problems.append(f"pytest in {name} failed (exit {code}):\n{output[-6000:]}")
            continue
        passed = re.findall(r"(\d+) passed", output)
        total = re.findall(r"^TOTAL\s.*?(\d+(?:\.\d+)?)%$", output, re.M)
        summary = f"{passed[-1] if passed else '?'} passed, coverage {total[-1] if total else '?'}%"
        print(f"tests: {name}: {summary} ({time.monotonic() - started:.0f} s)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Put the three pack folders, alone, through content's CI steps.")
    parser.add_argument("--keep", action="store_true", help="keep the scratch tree and say where it is")
    parser.add_argument("--steps", default="paths,unify,tests", help="a comma-separated subset of paths,unify,tests")
    options = parser.parse_args(argv)
    steps = {step.strip() for step in options.steps.split(",") if step.strip()}
    unknown = steps - {"paths", "unify", "tests"}
    if unknown:
        parser.error(f"--steps takes paths, unify and tests; got {', '.join(sorted(unknown))}")
    try:
        runtime = runtime_dir()
    except RuntimeSelectionError as error:
        print(f"upstream-check: XSOAR_RUNTIME_DIR={error}", file=sys.stderr)
        return 1
    conftest = Path(os.environ["CONTENT_CONFTEST"]) if os.environ.get("CONTENT_CONFTEST") else OWN_CONFTEST
    if not conftest.is_file():
        print(f"upstream-check: CONTENT_CONFTEST={conftest} is not a file (it names content's conftest.py)", file=sys.stderr)
        return 1
    kind = "stand-ins" if runtime == STAND_IN_DIR else "official files"
    print(f"upstream-check: runtime {kind} ({runtime}); conftest {conftest}")
    root = Path(tempfile.mkdtemp(prefix="threatmon-upstream-"))
    scratch, support = root / "content", root / "support"
    support.mkdir()
    problems: list[str] = []
    try:
        copy_folders(REPO, scratch)
        if "paths" in steps:
            problems += check_paths(scratch)
        if "unify" in steps:
            problems += check_unify(scratch, support)
        if "tests" in steps:
            problems += check_tests(scratch, runtime, conftest, support)
    finally:
        if options.keep:
            print(f"upstream-check: scratch tree kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    for problem in problems:
        print(f"upstream-check: {problem}", file=sys.stderr)
    print(f"upstream-check: {'FAIL' if problems else 'PASS'} (the three pack folders alone, as demisto/content's CI runs them)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
