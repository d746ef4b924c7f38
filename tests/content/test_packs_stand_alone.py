"""Each pack folder travels alone (a pull request to demisto/content carries the pack folders and nothing else of this
repository): its Python imports only what content's test environment has, and its test files are named as content's
path validation accepts.

The environment: the standard library, the libraries of the demisto/python3 image (requests with socks,
python-dateutil, dateparser, pyyaml, funcy, tldextract, olefile), content's test requirements (pytest, pytest-mock,
requests-mock, pytest-asyncio, pytest-datadir-ng, freezegun, pytest-cov, hypothesis, vcrpy), CommonServerPython,
demistomock and the API module the code imports.
"""

import ast
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKS = REPO / "Packs"
CODE_FOLDERS = sorted([*PACKS.glob("*/Integrations/*"), *PACKS.glob("*/Scripts/*")])
PYTHON_FILES = sorted(PACKS.rglob("*.py"))
IMAGE = {"requests", "urllib3", "socks", "dateutil", "dateparser", "yaml", "funcy", "tldextract", "olefile"}
TEST_REQUIREMENTS = {"pytest", "pytest_mock", "requests_mock", "pytest_asyncio", "freezegun", "hypothesis", "vcr"}
RUNTIME = {"CommonServerPython", "CommonServerUserPython", "demistomock"}
API_MODULES = {folder.name for folder in PACKS.glob("ApiModules/Scripts/*")}


def imported_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add(str(node.module).split(".")[0])
    return names


def test_the_code_folders_are_found():
    assert {folder.name for folder in CODE_FOLDERS} == {
        "ThreatMon",
        "ThreatMonThreatFeed",
        "ThreatMonApiModule",
        "ThreatMonRequestsWidget",
    }
    assert len(PYTHON_FILES) >= 6


@pytest.mark.parametrize("path", PYTHON_FILES, ids=lambda path: str(path.relative_to(PACKS)))
def test_pack_code_imports_only_what_content_provides(path):
    own = {path.parent.name}  # a test imports the module of its own folder
    allowed = set(sys.stdlib_module_names) | IMAGE | TEST_REQUIREMENTS | RUNTIME | API_MODULES | own
    assert sorted(imported_names(path) - allowed) == []


def test_the_import_check_sees_a_repository_package(tmp_path):
    sample = tmp_path / "Sample_test.py"
    sample.write_text("import json\nfrom simulator.mock import MockThreatMon\nimport tools.code_checks\n")
    assert imported_names(sample) - set(sys.stdlib_module_names) == {"simulator", "tools"}


@pytest.mark.parametrize("folder", CODE_FOLDERS, ids=lambda folder: folder.name)
def test_a_code_folder_holds_only_the_test_file_content_accepts(folder):
    tests = sorted(path.name for path in folder.glob("*_test.py"))
    assert tests == [f"{folder.name}_test.py"]
    assert not (folder / "conftest.py").exists(), "content replaces a pack conftest.py with its own"


TEXT_FILES = sorted(path for path in PACKS.rglob("*") if path.suffix in {".py", ".md", ".yml", ".json"})


@pytest.mark.parametrize("path", TEXT_FILES, ids=lambda path: str(path.relative_to(PACKS)))
def test_shipped_files_cite_only_what_ships(path):
    """docs/ stays in this repository: the API facts that code comments and READMEs rely on are in each README."""
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"(?<![\w/.-])docs/|threatmon-api\.md|\.\./shared|/work/shared", text)  # a URL's /docs/ is fine


@pytest.mark.parametrize(
    "readme",
    [
        "ThreatMon/Integrations/ThreatMon/README.md",
        "ThreatMonThreatFeed/Integrations/ThreatMonThreatFeed/README.md",
        "ApiModules/Scripts/ThreatMonApiModule/README.md",
    ],
)
def test_the_readme_holds_the_api_facts_its_code_relies_on(readme):
    text = (PACKS / readme).read_text(encoding="utf-8")
    assert "\n## ThreatMon API behaviour\n" in text
    code = (PACKS / readme).parent
    cited = [path.name for path in code.glob("*.py") if "ThreatMon API behaviour" in path.read_text(encoding="utf-8")]
    assert cited, "the code names the README section it relies on"
