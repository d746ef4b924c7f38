"""Each integration README's security table has one line per rule, and every test a line names exists.

The table is the promise an admin reads (redirects, plain http, path rules, answer bounds, secrets, TLS, proxy);
a line whose test was renamed or removed would promise what nothing checks.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
API_MODULE_TESTS = REPO / "Packs/ApiModules/Scripts/ThreatMonApiModule/ThreatMonApiModule_test.py"
INTEGRATIONS = [
    REPO / "Packs/ThreatMon/Integrations/ThreatMon",
    REPO / "Packs/ThreatMonThreatFeed/Integrations/ThreatMonThreatFeed",
]
RULES = ["Redirects", "Plain http", "Path rules", "Answer bounds", "Secrets in output and logs", "TLS verification", "Proxy"]


def security_table(readme: str) -> dict[str, list[str]]:
    """Rule -> the test names of its line, from the README's "## Security" section."""
    section = re.search(r"^## Security.*?$(.*?)(?=^## )", readme, re.M | re.S)
    assert section, "no ## Security section"
    rows = {}
    for line in section.group(1).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("**Rule**", "---"):
            rows[cells[0]] = re.findall(r"`(test_\w+)`", cells[2])
    return rows


def functions_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


@pytest.mark.parametrize("folder", INTEGRATIONS, ids=lambda folder: folder.name)
def test_the_security_table_has_one_line_per_rule_each_with_a_test_that_exists(folder):
    rows = security_table((folder / "README.md").read_text(encoding="utf-8"))
    assert list(rows) == RULES
    known = functions_in(folder / f"{folder.name}_test.py")
    for rule, tests in rows.items():
        assert tests, f"{rule}: no test named"
        assert set(tests) <= known, f"{rule}: {set(tests) - known} not in {folder.name}_test.py"


def test_the_api_module_tests_the_transport_rules_too():
    known = functions_in(API_MODULE_TESTS)
    assert "test_a_redirect_to_another_host_is_never_followed_nor_retried" in known
    assert "test_an_answer_above_the_bound_is_refused_and_not_retried" in known
    assert "test_a_dripping_answer_on_a_real_socket_is_cut_at_the_read_timeout" in known
