"""The code checks of `make test` that need a file list: mypy, demisto-sdk xsoar-lint and demisto-sdk secrets.

    python tools/code_checks.py mypy          # content's mypy settings ([tool.mypy] in pyproject.toml), Python 3.12
    python tools/code_checks.py xsoar-lint    # content's pylint rules for integrations
    python tools/code_checks.py secrets       # content's secrets check on every text file of the packs

make, tox and pre-commit all run this one script, so the three of them check the same files the same way.
The tools are taken from the folder of the Python that runs the script (the venv's), and run offline.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEXT_SUFFIXES = (".py", ".yml", ".json", ".md", ".txt")
# A pylint message: "path:line:column: C0123 ..." (xsoar-lint exits 0 on warnings, so the messages decide).
LINT_MESSAGE = re.compile(r":\d+:\d+: [A-Z]\d{4}")
SDK_NOISE = "Could not get repository"


def xsoar_code(root: Path = REPO) -> list[str]:
    """The code XSOAR runs: every integration of every pack and every API module, without their tests."""
    found = [*root.glob("Packs/*/Integrations/*/*.py"), *root.glob("Packs/ApiModules/Scripts/*/*.py")]
    return sorted(str(path.relative_to(root)) for path in found if not path.name.endswith("_test.py"))


def pack_text_files(root: Path = REPO) -> list[str]:
    """Every text file of every pack (what content's secrets check reads)."""
    found = (path for path in (root / "Packs").rglob("*") if path.is_file() and path.suffix in TEXT_SUFFIXES)
    return sorted(str(path.relative_to(root)) for path in found)


def lint_messages(output: str) -> list[str]:
    """The pylint messages in xsoar-lint's output."""
    return [line for line in output.splitlines() if LINT_MESSAGE.search(line)]


def tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def sdk_env() -> dict[str, str]:
    return {**os.environ, "DEMISTO_SDK_IGNORE_CONTENT_WARNING": "1"}


def run_mypy() -> int:
    env = dict(os.environ)
    if env.get("XSOAR_RUNTIME_DIR"):  # the official files first, ahead of pyproject's mypy_path (the stand-ins)
        env["MYPYPATH"] = env["XSOAR_RUNTIME_DIR"]
    return subprocess.run([tool("mypy"), *xsoar_code()], cwd=REPO, env=env, check=False).returncode  # noqa: S603  (our own venv tools)


def run_xsoar_lint() -> int:
    files = xsoar_code()
    done = subprocess.run(  # noqa: S603  (our own venv tools)
        [tool("demisto-sdk"), "xsoar-lint", *files], cwd=REPO, env=sdk_env(), capture_output=True, text=True, check=False
    )
    output = done.stdout + done.stderr
    if done.returncode != 0 or lint_messages(output):
        print("\n".join(line for line in output.splitlines() if SDK_NOISE not in line))
        print("xsoar-lint: problems found (above)")
        return 1
    print(f"xsoar-lint: no message on {len(files)} files ({' '.join(files)})")
    return 0


def run_secrets() -> int:
    command = [tool("demisto-sdk"), "secrets", "--ignore-entropy", "-i", ",".join(pack_text_files())]
    return subprocess.run(command, cwd=REPO, env=sdk_env(), check=False).returncode  # noqa: S603


CHECKS = {"mypy": run_mypy, "xsoar-lint": run_xsoar_lint, "secrets": run_secrets}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in CHECKS:
        print(f"usage: python tools/code_checks.py {{{','.join(CHECKS)}}}", file=sys.stderr)
        return 2
    return CHECKS[argv[0]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
