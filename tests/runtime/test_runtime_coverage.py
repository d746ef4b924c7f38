"""The stand-ins hold exactly the runtime API the repository uses.

1. Every runtime name the code uses exists in the stand-ins (so `make test` without the official files exercises
   the same code paths as XSOAR). The code is every Python file of Packs/ (integrations and their tests), runner/,
   simulator/, benchmarks/, tests/e2e/ and tests/content/. Names are found statically: the names a file reads
   without defining or importing them come from `from CommonServerPython import *`; `demisto.<name>` (on whatever
   name demistomock is imported as) from demistomock; and `from CommonServerPython import <name>`,
   `from demistomock import <name>`, `monkeypatch.setattr(demisto, "<name>", ...)` (also in a loop over names).
   The runner patches in what the server provides and removes it afterwards: it needs no stand-in name. What a file
   takes from an API module (`from ThreatMonApiModule import *`) is the module's, not the runtime's; the module
   file itself is scanned like any other.
2. Nothing else is in them: each public name is used by that code, is on the foundation list of documented API
   the project keeps (FOUNDATION), or is needed by one of those (found by following the names the stand-ins' own
   definitions read, and the demistomock names CommonServerPython reads).
"""

import ast
import builtins
import functools
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STAND_INS = REPO / "xsoar_runtime"
SCANNED = ("Packs", "runner", "simulator", "benchmarks", "tests/e2e", "tests/content")
USER_FILES = sorted(p for folder in SCANNED for p in (REPO / folder).rglob("*.py") if ".venv" not in p.parts)

# The documented CommonServerPython API the stand-ins keep even while no code uses it (the foundation issue).
FOUNDATION = {
    "BaseClient",
    "DemistoException",
    "CommandResults",
    "return_results",
    "return_error",
    "tableToMarkdown",
    "arg_to_number",
    "arg_to_datetime",
    "argToBoolean",
    "argToList",
    "IncidentSeverity",
    "IncidentStatus",
    "UpdateRemoteSystemArgs",
    "GetRemoteDataArgs",
    "GetModifiedRemoteDataArgs",
    "GetRemoteDataResponse",
    "GetModifiedRemoteDataResponse",
    "GetMappingFieldsResponse",
    "SchemeTypeMapping",
    "FeedIndicatorType",
}
MODULE_DUNDERS = {"__file__", "__name__"}
API_MODULES = REPO / "Packs" / "ApiModules" / "Scripts"


def _stand_in_names(name):
    spec = importlib.util.spec_from_file_location(f"coverage_{name}", STAND_INS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {key for key in vars(module) if not key.startswith("_")}


def _constant_names(node):
    """The strings of a tuple/list of string constants (the names a `for name in (...)` loop goes over)."""
    if isinstance(node, ast.Tuple | ast.List) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts
    ):
        return {e.value for e in node.elts}
    return set()


def _attribute_names(tree, aliases):
    """`<alias>.<name>`, `setattr(<alias>, "<name>", ...)`, `getattr(<alias>, "<name>", ...)` and
    `for n in ("a", "b"): setattr(<alias>, n, ...)` for the names a module is imported as."""
    found, loops = set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.For) and isinstance(node.target, ast.Name):
            loops[node.target.id] = _constant_names(node.iter)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            found.add(node.attr)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("setattr", "getattr")
            and len(node.args) >= 2
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id in aliases
        ):
            name = node.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                found.add(name.value)
            elif isinstance(name, ast.Name):
                found |= loops.get(name.id, set())
    return found - MODULE_DUNDERS


def _runtime_names(path):
    """(names taken from CommonServerPython, names taken from demistomock) by one Python file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    loaded, defined, from_csp, from_demisto = set(), {*dir(builtins), "__file__"}, set(), set()
    aliases = {"CommonServerPython": set(), "demistomock": set()}
    star = False
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("ApiModule"):
            defined |= _api_module_exports(node.module)
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else defined).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            defined.add(node.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in aliases:
                    aliases[alias.name].add(alias.asname or alias.name)
            defined.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names = {alias.name for alias in node.names}
            if node.module == "CommonServerPython":
                star = star or "*" in names
                from_csp |= names - {"*"}
            elif node.module == "demistomock":
                from_demisto |= names
            defined.update(alias.asname or alias.name for alias in node.names)
    if star:
        from_csp |= loaded - defined
    from_csp |= _attribute_names(tree, aliases["CommonServerPython"])
    from_demisto |= _attribute_names(tree, aliases["demistomock"])
    return from_csp, from_demisto


@functools.cache
def _api_module_exports(name):
    """The public names an API module defines at its top level (what its star import brings)."""
    _, definitions, _ = _definitions(API_MODULES / name / f"{name}.py")
    return {key for key in definitions if not key.startswith("_")}


def _used_names():
    csp, demisto = set(), set()
    for path in USER_FILES:
        from_csp, from_demisto = _runtime_names(path)
        csp |= from_csp
        demisto |= from_demisto
    return csp, demisto


def _stored(statement):
    """Module names a statement assigns (not the loop variables of its comprehensions)."""
    stored = {n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    loop_variables = {
        n.id
        for c in ast.walk(statement)
        if isinstance(c, ast.comprehension)
        for n in ast.walk(c.target)
        if isinstance(n, ast.Name)
    }
    return stored - loop_variables


def _definitions(path):
    """{name: names its top-level definition reads}, and the names read by statements that define nothing
    (module-level calls and attribute assignments: they run on import, so what they read is needed)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    definitions, always = {}, set()
    for statement in tree.body:
        reads = {n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        if isinstance(statement, ast.FunctionDef | ast.ClassDef):
            bound = {statement.name}
        elif isinstance(statement, ast.Import | ast.ImportFrom):
            bound = {(alias.asname or alias.name).split(".")[0] for alias in statement.names}
        else:
            bound = _stored(statement)
        for name in bound:
            definitions.setdefault(name, set()).update(reads)
        if not bound:
            always |= reads
    return tree, definitions, always


def _needed(definitions, roots):
    needed, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo += definitions.get(name, ())
    return needed


@functools.cache
def _kept_names():
    """(CommonServerPython names, demistomock names) the code, the foundation list and their needs require."""
    used_csp, used_demisto = _used_names()
    csp_tree, csp_definitions, csp_always = _definitions(STAND_INS / "CommonServerPython.py")
    kept_csp = _needed(csp_definitions, used_csp | FOUNDATION | csp_always)
    demisto_aliases = {
        alias.asname or alias.name
        for n in ast.walk(csp_tree)
        if isinstance(n, ast.Import)
        for alias in n.names
        if alias.name == "demistomock"
    }
    read_by_csp = set()
    for statement in csp_tree.body:
        bound = {statement.name} if isinstance(statement, ast.FunctionDef | ast.ClassDef) else _stored(statement)
        if bound & kept_csp or not bound:
            read_by_csp |= _attribute_names(statement, demisto_aliases)
    _, demisto_definitions, demisto_always = _definitions(STAND_INS / "demistomock.py")
    kept_demisto = _needed(demisto_definitions, used_demisto | read_by_csp | demisto_always)
    return kept_csp, kept_demisto


@pytest.mark.parametrize("path", USER_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_the_stand_ins_hold_every_runtime_name_the_code_uses(path):
    from_csp, from_demisto = _runtime_names(path)
    assert sorted(from_csp - _stand_in_names("CommonServerPython")) == []
    assert sorted(from_demisto - _stand_in_names("demistomock")) == []


def test_the_foundation_api_is_in_the_stand_ins():
    assert sorted(FOUNDATION - _stand_in_names("CommonServerPython")) == []


@pytest.mark.parametrize("module_name", ["CommonServerPython", "demistomock"])
def test_the_stand_ins_hold_nothing_the_code_does_not_need(module_name):
    """A name listed here is used by no code, is not foundation API and no kept name needs it: remove it (and its
    contract test in tests/runtime/)."""
    kept = dict(zip(("CommonServerPython", "demistomock"), _kept_names(), strict=True))[module_name]
    assert sorted(_stand_in_names(module_name) - kept) == []
