"""CONTRIBUTING names the helpers the integrations actually use, and the files a new command needs exist."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONTRIBUTING = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")


def integration_code() -> str:
    files = [*REPO.glob("Packs/*/Integrations/*/*.py"), *REPO.glob("Packs/ApiModules/Scripts/*/*.py")]
    return "\n".join(path.read_text(encoding="utf-8") for path in files if not path.name.endswith("_test.py"))


def test_every_argument_helper_named_is_one_the_integrations_call():
    named = set(re.findall(r"`(parse_\w+|arg\w+|arg_to_\w+)", CONTRIBUTING))
    assert {"parse_int", "parse_flag"} <= named
    code = integration_code()
    assert sorted(name for name in named if f"{name}(" not in code) == []


def test_the_command_examples_file_named_is_beside_every_integration():
    assert "`command_examples.txt`" in CONTRIBUTING
    for yml in REPO.glob("Packs/*/Integrations/*/*.yml"):
        assert (yml.parent / "command_examples.txt").is_file(), yml.parent
