"""The root conftest's choice of runtime, and the stand-ins' promise: small, and nothing the official files lack.

The name and signature comparison needs the official files, so it runs only when XSOAR_RUNTIME_DIR names them
(`XSOAR_RUNTIME_DIR=/path/to/official make unit`); on the stand-ins alone it is skipped.
"""

import importlib.util
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STAND_INS = REPO / "xsoar_runtime"
OFFICIAL = os.environ.get("XSOAR_RUNTIME_DIR", "").strip()


def _pytest(runtime_dir, *args):
    """pytest in a subprocess from the repository root, with XSOAR_RUNTIME_DIR set to runtime_dir."""
    env = {**os.environ, "XSOAR_RUNTIME_DIR": str(runtime_dir)}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    ("present", "missing"),
    [((), "CommonServerPython.py, demistomock.py"), (("demistomock.py",), "CommonServerPython.py")],
)
def test_a_runtime_dir_without_the_files_stops_pytest_with_a_clear_message(tmp_path, present, missing):
    for name in present:
        (tmp_path / name).write_text("")
    done = _pytest(tmp_path, "--collect-only", "xsoar_runtime")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert f"XSOAR_RUNTIME_DIR={tmp_path} does not hold {missing}." in done.stderr


def test_a_runtime_dir_with_the_files_is_the_one_reported(tmp_path):
    for name in ("CommonServerPython.py", "demistomock.py"):
        (tmp_path / name).write_text("")
    done = _pytest(tmp_path, "--collect-only", "xsoar_runtime")
    assert done.returncode == pytest.ExitCode.NO_TESTS_COLLECTED
    assert f"XSOAR runtime: official files ({tmp_path})" in done.stdout


@pytest.mark.parametrize(("name", "limit"), [("CommonServerPython.py", 985), ("demistomock.py", 170)])
def test_the_stand_ins_stay_small(name, limit):
    assert len((STAND_INS / name).read_text().splitlines()) <= limit


def _stand_in(name):
    spec = importlib.util.spec_from_file_location(f"stand_in_{name}", STAND_INS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _public(module):
    return {name: value for name, value in vars(module).items() if not name.startswith("_")}


def _parameters(function):
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values() if p.kind != p.VAR_KEYWORD]


needs_official = pytest.mark.skipif(not OFFICIAL, reason="needs the official files: set XSOAR_RUNTIME_DIR")


@needs_official
@pytest.mark.parametrize("module_name", ["CommonServerPython", "demistomock"])
def test_every_stand_in_name_exists_in_the_official_module(module_name):
    official = importlib.import_module(module_name)
    missing = sorted(set(_public(_stand_in(module_name))) - set(_public(official)))
    assert missing == []


@needs_official
@pytest.mark.parametrize("module_name", ["CommonServerPython", "demistomock"])
def test_stand_in_functions_and_methods_have_the_official_signatures(module_name):
    official = importlib.import_module(module_name)
    different = []
    for name, value in _public(_stand_in(module_name)).items():
        counterpart = getattr(official, name)
        if inspect.isfunction(value):
            if _parameters(value) != _parameters(counterpart):
                different.append(name)
        elif inspect.isclass(value) and value.__module__.startswith("stand_in_"):
            for method, function in vars(value).items():
                function = getattr(function, "__func__", function)  # staticmethod / classmethod
                theirs = inspect.getattr_static(counterpart, method, None)
                theirs = getattr(theirs, "__func__", theirs)
                if inspect.isfunction(function) and (
                    not inspect.isfunction(theirs) or _parameters(function) != _parameters(theirs)
                ):
                    different.append(f"{name}.{method}")
    assert different == []


@needs_official
def test_stand_in_constants_have_the_official_values():
    official = importlib.import_module("CommonServerPython")
    stand_in = _stand_in("CommonServerPython")
    different = []
    for name, value in _public(stand_in).items():
        if isinstance(value, dict | str | int | float | tuple) and value != getattr(official, name):
            different.append(name)
        elif inspect.isclass(value) and value.__module__.startswith("stand_in_"):
            different += [
                f"{name}.{attr}"
                for attr, item in vars(value).items()
                if not attr.startswith("_")
                and isinstance(item, str | int | float)
                and item != getattr(getattr(official, name), attr)
            ]
    assert different == []


def test_stand_in_execute_command_answers_one_error_entry_naming_the_command():
    (entry,) = _stand_in("demistomock").executeCommand("getIncidents", {"query": "type:x"})
    assert entry["Type"] == 4
    assert "getIncidents" in entry["Contents"]


def test_stand_in_versioned_context_refuses_a_write_whose_version_another_write_moved_past():
    mock = _stand_in("demistomock")
    first = mock.getIntegrationContextVersioned(True)
    mock.setIntegrationContextVersioned({"a": 1}, first["version"], True)
    assert mock.getIntegrationContextVersioned(True) == {"context": {"a": 1}, "version": first["version"] + 1}
    with pytest.raises(ValueError, match=f"at version {first['version'] + 1}, not {first['version']}"):
        mock.setIntegrationContextVersioned({"a": 2}, first["version"], True)
    mock.setIntegrationContextVersioned({"a": 3}, -1, True)  # -1: whatever the version
    assert mock.getIntegrationContext() == {"a": 3}
