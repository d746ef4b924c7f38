"""Each pack names only use cases, tags and categories from demisto/content's approved lists (Config/).

`make validate` runs demisto-sdk's own checks of the same lists (PA119, PA120, PA103, IN104), reading the
files in Config/; this test holds the packs to them without demisto-sdk, and holds the files to the shape
demisto-sdk reads.
"""

import json
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "Config"
PACK_METADATA = sorted((REPO / "Packs").glob("*/pack_metadata.json"))
UPLOADED = {"ThreatMon", "ThreatMonThreatFeed"}  # ApiModules is never uploaded: it names no use case, tag or category
INTEGRATION_YMLS = sorted((REPO / "Packs").glob("*/Integrations/*/*.yml"))


def approved(name: str):
    return json.loads((CONFIG / name).read_text(encoding="utf-8"))["approved_list"]


def metadata(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_lists_have_the_shape_demisto_sdk_reads():
    assert all(isinstance(word, str) for word in approved("approved_usecases.json"))
    assert all(isinstance(word, str) for word in approved("approved_categories.json"))
    tags = approved("approved_tags.json")
    assert set(tags) == {"common", "xsoar", "marketplacev2"}
    assert all(isinstance(word, str) for words in tags.values() for word in words)


@pytest.mark.parametrize(
    ("name", "word"),
    [
        ("approved_usecases.json", "Phishing"),
        ("approved_usecases.json", "Threat Intelligence Management"),
        ("approved_categories.json", "Data Enrichment & Threat Intelligence"),
    ],
)
def test_the_lists_hold_the_words_content_approves(name, word):
    assert word in approved(name)


@pytest.mark.parametrize(
    ("name", "word"),
    [("approved_usecases.json", "Brand Protection"), ("approved_usecases.json", "Attack Surface Management")],
)
def test_the_lists_do_not_hold_words_content_does_not_approve(name, word):
    assert word not in approved(name)


@pytest.mark.parametrize("tag", ["Phishing", "Attack Surface Management", "Brand Protection"])
def test_these_are_not_approved_tags(tag):
    assert tag not in {word for words in approved("approved_tags.json").values() for word in words}


def test_every_pack_is_found():
    assert [path.parent.name for path in PACK_METADATA] == ["ApiModules", "ThreatMon", "ThreatMonThreatFeed"]


@pytest.mark.parametrize("path", PACK_METADATA, ids=lambda path: path.parent.name)
def test_use_cases_are_approved(path):
    use_cases = metadata(path)["useCases"]
    assert use_cases or path.parent.name not in UPLOADED
    assert set(use_cases) <= set(approved("approved_usecases.json"))


@pytest.mark.parametrize("path", PACK_METADATA, ids=lambda path: path.parent.name)
def test_tags_are_approved_in_every_marketplace_of_the_pack(path):
    pack = metadata(path)
    tags = approved("approved_tags.json")
    for tag in pack["tags"]:
        marketplace, _, word = tag.rpartition(":") if ":" in tag else ("", "", tag)
        allowed = set(tags["common"]) | (set(tags.get(marketplace, [])) if marketplace else set())
        assert word in allowed, f"{path.parent.name}: tag {tag!r} is not approved"


@pytest.mark.parametrize("path", PACK_METADATA, ids=lambda path: path.parent.name)
def test_pack_categories_are_approved(path):
    categories = metadata(path)["categories"]
    assert categories or path.parent.name not in UPLOADED
    assert set(categories) <= set(approved("approved_categories.json"))


@pytest.mark.parametrize("path", INTEGRATION_YMLS, ids=lambda path: path.stem)
def test_integration_categories_are_approved(path):
    category = yaml.safe_load(path.read_text(encoding="utf-8"))["category"]
    assert category in approved("approved_categories.json")
