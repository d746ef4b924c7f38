"""Which XSOAR runtime (``demistomock`` + ``CommonServerPython``) the runner loads, and where the API modules are.

The official files when ``XSOAR_RUNTIME_DIR`` names a folder holding both, otherwise the repository's
stand-ins in ``xsoar_runtime/``. The root ``conftest.py`` applies this same function to the test suite.

An integration's ``from ThreatMonApiModule import *`` resolves to ``Packs/ApiModules/Scripts/ThreatMonApiModule/``
(``API_MODULE_DIRS``), the folder demisto-sdk takes the module's code from when it unifies the integration.

``python -m runner.runtime`` checks ``XSOAR_RUNTIME_DIR`` and says in one sentence what is wrong with it (exit
status 2), or nothing (exit status 0): ``make demo`` and ``make bench`` run it first.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parent.parent
STAND_IN_DIR = REPO_ROOT / "xsoar_runtime"
RUNTIME_FILES = ("CommonServerPython.py", "demistomock.py")
API_MODULE_DIRS = sorted(path for path in (REPO_ROOT / "Packs" / "ApiModules" / "Scripts").glob("*ApiModule") if path.is_dir())


class RuntimeSelectionError(RuntimeError):
    """XSOAR_RUNTIME_DIR (or the folder given) does not hold the runtime files."""

    def __init__(self, message: str, chosen: str = "", missing: tuple[str, ...] = ()):
        super().__init__(message)
        self.chosen, self.missing = chosen, missing


def runtime_dir(explicit: str | os.PathLike | None = None, environ: dict | None = None) -> Path:
    """The folder to import the runtime from: ``explicit``, else $XSOAR_RUNTIME_DIR, else the stand-ins."""
    environ = os.environ if environ is None else environ
    chosen = str(explicit) if explicit else environ.get("XSOAR_RUNTIME_DIR", "").strip()
    if not chosen:
        return STAND_IN_DIR
    folder = Path(chosen).expanduser().resolve()
    missing = [name for name in RUNTIME_FILES if not (folder / name).is_file()]
    if missing:
        raise RuntimeSelectionError(f"{chosen} does not hold {', '.join(missing)}.", chosen, tuple(missing))
    return folder


def load_runtime(folder: Path | None = None) -> tuple[ModuleType, ModuleType]:
    """Import ``demistomock`` and ``CommonServerPython`` from ``folder`` (see :func:`runtime_dir`).

    Both are imported once per process, as on the XSOAR server they are part of every run. If they were
    already imported from another folder (e.g. by a test session with a different choice), that is an
    error rather than a silent mix of two runtimes.
    """
    folder = Path(folder) if folder else runtime_dir()
    folder = folder.resolve()
    for name in ("demistomock", "CommonServerPython"):
        module = sys.modules.get(name)
        if module is not None and Path(module.__file__).resolve().parent != folder:
            raise RuntimeSelectionError(
                f"{name} is already imported from {Path(module.__file__).parent}, not from {folder}: use one runtime per process."
            )
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    demisto = importlib.import_module("demistomock")
    csp = importlib.import_module("CommonServerPython")
    return demisto, csp


def explain_environment(environ: dict | None = None) -> str | None:
    """One sentence on what is wrong with $XSOAR_RUNTIME_DIR, or None when it is unset or usable."""
    try:
        runtime_dir(environ=environ)
    except RuntimeSelectionError as error:
        return (
            f"XSOAR_RUNTIME_DIR={error.chosen} does not hold {', '.join(error.missing)}: point it at the folder "
            "holding the official CommonServerPython.py and demistomock.py, or unset it to use the stand-ins in xsoar_runtime/."
        )
    return None


def main() -> int:
    problem = explain_environment()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
