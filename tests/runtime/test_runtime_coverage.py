"""Every runtime name the pack's code uses exists in the stand-ins (so `make test` without the official files
exercises the same code paths as XSOAR). Names are found statically: the names an integration reads without
defining or importing them come from `from CommonServerPython import *`; `demisto.<name>` from demistomock;
and `from CommonServerPython import <name>` / `from demistomock import <name>` / `monkeypatch.setattr(demisto, "<name>", ...)`
in any Python file of a pack."""

import ast
import builtins
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACK_FILES = sorted(p for p in (REPO / "Packs").rglob("*.py") if ".venv" not in p.parts)


def _stand_in_names(name):
    spec = importlib.util.spec_from_file_location(f"coverage_{name}", REPO / "xsoar_runtime" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {key for key in vars(module) if not key.startswith("_")}


def _is_demisto_setattr(node):
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "setattr"
        and len(node.args) >= 2
        and isinstance(node.args[0], ast.Name)
        and node.args[0].id == "demisto"
        and isinstance(node.args[1], ast.Constant)
        and isinstance(node.args[1].value, str)
    )


def _runtime_names(path):
    """(names taken from CommonServerPython, names taken from demistomock) by one Python file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    loaded, defined, from_csp, from_demisto = set(), {*dir(builtins), "__file__"}, set(), set()
    star = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else defined).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            defined.add(node.name)
        elif isinstance(node, ast.Import):
            defined.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names = {alias.name for alias in node.names}
            if node.module == "CommonServerPython":
                star = star or "*" in names
                from_csp |= names - {"*"}
            elif node.module == "demistomock":
                from_demisto |= names
            defined.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "demisto":
            from_demisto.add(node.attr)
        elif _is_demisto_setattr(node):  # monkeypatch.setattr(demisto, "params", ...) needs the name to exist
            from_demisto.add(node.args[1].value)
    if star:
        from_csp |= loaded - defined
    return from_csp, from_demisto


@pytest.mark.parametrize("path", PACK_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_the_stand_ins_hold_every_runtime_name_the_pack_uses(path):
    from_csp, from_demisto = _runtime_names(path)
    assert sorted(from_csp - _stand_in_names("CommonServerPython")) == []
    assert sorted(from_demisto - _stand_in_names("demistomock") - {"__file__", "__name__"}) == []
