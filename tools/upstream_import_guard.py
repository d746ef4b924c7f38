"""A pytest plugin for `make upstream-check`: pack tests import only the libraries content's test environment has.

Content runs a pack's tests in the demisto/python3 image with its test requirements. This repository's .venv holds
much more (demisto-sdk and everything it needs), so a pack test could pass here and fail there. Loaded with
``-p upstream_import_guard``, this plugin refuses (once pytest has loaded its plugins) to import from site-packages
any top-level module that does not belong to one of the distributions below or to what they require: the image's
libraries (requests with socks, python-dateutil, dateparser, pyyaml, funcy, tldextract, olefile) and content's test
requirements (pytest, pytest-mock, requests-mock, pytest-asyncio, pytest-datadir-ng, freezegun, pytest-cov,
hypothesis, vcrpy). A refused import raises ModuleNotFoundError, as it would in content's image. The standard
library and every module outside site-packages (the folder under test, CommonServerPython, demistomock, the API
module) import as usual.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import re
import sys
import sysconfig
from pathlib import Path

IMAGE = ["requests", "PySocks", "python-dateutil", "dateparser", "PyYAML", "funcy", "tldextract", "olefile"]
TEST_REQUIREMENTS = [
    "pytest", "pytest-mock", "requests-mock", "pytest-asyncio", "pytest-datadir-ng", "freezegun", "pytest-cov",
    "hypothesis", "vcrpy",
]  # fmt: skip


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def allowed_distributions(roots: list[str] = IMAGE + TEST_REQUIREMENTS) -> set[str]:
    """The installed distributions among ``roots`` and everything they require (extras left out), normalised."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = _normal(todo.pop())
        if name in seen:
            continue
        try:
            requires = importlib.metadata.distribution(name).requires or []
        except importlib.metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for requirement in requires:
            if "extra ==" in requirement:
                continue
            todo.append(re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0])
    return seen


def allowed_modules() -> set[str]:
    allowed = allowed_distributions()
    return {
        module
        for module, distributions in importlib.metadata.packages_distributions().items()
        if any(_normal(distribution) in allowed for distribution in distributions)
    }


class ContentEnvironmentGuard:
    """A meta path finder that refuses top-level site-packages modules outside the allowed distributions."""

    def __init__(self, allowed: set[str]):
        self.allowed = allowed
        self.site = {Path(sysconfig.get_path(key)).resolve() for key in ("purelib", "platlib")}

    def find_spec(self, name, path=None, target=None):
        if path is not None or name in self.allowed or name in sys.stdlib_module_names:
            return None  # a submodule (its package was allowed), or allowed
        spec = importlib.machinery.PathFinder.find_spec(name)
        origin = spec and (spec.origin or (spec.submodule_search_locations or [None])[0])
        if origin and any(folder in Path(origin).resolve().parents for folder in self.site):
            raise ModuleNotFoundError(f"No module named {name!r} (not in content's test environment)", name=name)
        return None


def pytest_configure(config):
    """Guard the imports from here on: the tests and what they import (the plugins are loaded by now)."""
    sys.meta_path.insert(0, ContentEnvironmentGuard(allowed_modules()))
