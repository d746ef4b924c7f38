"""The code checks of `make test` that need a file list: mypy, demisto-sdk xsoar-lint and demisto-sdk secrets.

    python tools/code_checks.py mypy          # content's mypy settings ([tool.mypy] in pyproject.toml), Python 3.12
    python tools/code_checks.py xsoar-lint    # content's pylint rules for integrations
    python tools/code_checks.py secrets       # content's secrets check on every text file of the packs
    python tools/code_checks.py xsoar-lint Packs/ThreatMon/Integrations/ThreatMon/ThreatMon.py   # only these files

Given files (`make xsoar-lint FILES=...`, as pre-commit gives the staged ones), a check reads only those of its own
files among them, and nothing when none is. make runs this one script; tox and pre-commit run make.
The tools are taken from the folder of the Python that runs the script (the venv's), and run offline.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
import sdk_summary  # noqa: E402  (tools/sdk_summary.py: demisto-sdk's output without its noise)

TEXT_SUFFIXES = (".py", ".yml", ".json", ".md", ".txt")
# A pylint message: "path:line:column: C0123 ..." (xsoar-lint exits 0 on warnings, so the messages decide).
LINT_MESSAGE = re.compile(r":\d+:\d+: [A-Z]\d{4}")
SDK_NOISE = sdk_summary.REPOSITORY_NOISE


def xsoar_code(root: Path = REPO) -> list[str]:
    """The code XSOAR runs: every integration and script of every pack (the API modules included), without their tests."""
    found = [*root.glob("Packs/*/Integrations/*/*.py"), *root.glob("Packs/*/Scripts/*/*.py")]
    return sorted(str(path.relative_to(root)) for path in found if not path.name.endswith("_test.py"))


def pack_text_files(root: Path = REPO) -> list[str]:
    """Every text file of every pack (what content's secrets check reads)."""
    found = (path for path in (root / "Packs").rglob("*") if path.is_file() and path.suffix in TEXT_SUFFIXES)
    return sorted(str(path.relative_to(root)) for path in found)


def lint_messages(output: str) -> list[str]:
    """The pylint messages in xsoar-lint's output, but W9005 (no main()) on an API module: content's ApiModules pack
    is supported by xsoar, whose rules want a main() in the code XSOAR runs, and an API module is never run on its own
    (demisto-sdk inlines it into the integrations), so it has none, as content's other API modules have none."""
    return [
        line
        for line in output.splitlines()
        if LINT_MESSAGE.search(line) and not (" W9005 " in line and "/Packs/ApiModules/" in line)
    ]


def tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def sdk_env() -> dict[str, str]:
    return {**os.environ, "DEMISTO_SDK_IGNORE_CONTENT_WARNING": "1"}


def chosen(own: list[str], given: list[str] | None) -> list[str]:
    """A check's own files, or, when files are given, those of them that are given (in the check's order)."""
    if given is None:
        return own
    wanted = {Path(name).as_posix().removeprefix("./") for name in given}
    return [name for name in own if name in wanted]


def run_mypy(given: list[str] | None = None) -> int:
    files = chosen(xsoar_code(), given)
    if not files:
        return 0
    env = dict(os.environ)
    if env.get("XSOAR_RUNTIME_DIR"):  # the official files first, ahead of pyproject's mypy_path (the stand-ins)
        env["MYPYPATH"] = env["XSOAR_RUNTIME_DIR"]
    return subprocess.run([tool("mypy"), *files], cwd=REPO, env=env, check=False).returncode  # noqa: S603  (our own venv tools)


def run_xsoar_lint(given: list[str] | None = None) -> int:
    files = chosen(xsoar_code(), given)
    if not files:
        return 0
    done = subprocess.run(  # noqa: S603  (our own venv tools)
        [tool("demisto-sdk"), "xsoar-lint", *files], cwd=REPO, env=sdk_env(), capture_output=True, text=True, check=False
    )
    output = done.stdout + done.stderr
    if done.returncode != 0 or lint_messages(output):
        lines = (line for line in output.splitlines() if SDK_NOISE not in line)
        print("\n".join(line if sdk_summary.colours_wanted() else sdk_summary.ANSI.sub("", line) for line in lines))
        print("xsoar-lint: problems found (above)")
        return 1
    print(f"xsoar-lint: no message on {len(files)} files ({' '.join(files)})")
    return 0


def run_secrets(given: list[str] | None = None) -> int:
    files = chosen(pack_text_files(), given)
    if not files:
        return 0
    return sdk_summary.run([tool("demisto-sdk"), "secrets", "--ignore-entropy", "-i", ",".join(files)], cwd=REPO, env=sdk_env())


CHECKS = {"mypy": run_mypy, "xsoar-lint": run_xsoar_lint, "secrets": run_secrets}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in CHECKS:
        print(f"usage: python tools/code_checks.py {{{','.join(CHECKS)}}} [FILE ...]", file=sys.stderr)
        return 2
    return CHECKS[argv[0]](argv[1:] or None)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
