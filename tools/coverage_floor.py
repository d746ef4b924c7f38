"""Hold every integration file to the coverage floor, after a ``pytest --cov`` run (make unit).

    python tools/coverage_floor.py        # 95 percent, the floor in pyproject.toml's [tool.coverage.report]
    python tools/coverage_floor.py 90

The total is already held to the floor by pytest-cov; this holds each ``Packs/*/Integrations/*/*.py`` and
``Packs/*/Scripts/*/*.py`` file (the API module included, tests left out) to it on its own, so a well-covered
file cannot hide a poorly covered one. Prints one
line per file under the floor and exits 1; prints nothing and exits 0 when every file reaches it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FLOOR = "95"


def integration_files(root: Path) -> list[Path]:
    """Every integration and script file of every pack (the ApiModules pack's module included), tests left out."""
    found = [*root.glob("Packs/*/Integrations/*/*.py"), *root.glob("Packs/*/Scripts/*/*.py")]
    return sorted(p for p in found if not p.name.endswith("_test.py"))


def main(argv: list[str], root: Path = REPO) -> int:
    floor = argv[0] if argv else FLOOR
    files = integration_files(root)
    if not files:
        print(f"coverage floor: no integration or script file under {root / 'Packs'}", file=sys.stderr)
        return 1
    failed = 0
    for path in files:
        relative = path.relative_to(root)
        command = [sys.executable, "-m", "coverage", "report", f"--include={relative}", f"--fail-under={floor}"]
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode == 0:
            continue
        failed += 1
        if "No data" in done.stdout + done.stderr:
            print(f"coverage of {relative}: no coverage data (run `python -m pytest --cov` first)")
        else:
            print(f"coverage of {relative} is under {floor}%")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
