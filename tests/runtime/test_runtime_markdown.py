"""Contract: the markdown tableToMarkdown writes, character for character, for the common cases."""

from datetime import datetime

import pytest
from CommonServerPython import JsonTransformer, tableToMarkdown


def test_rows_of_dicts_with_sorted_headers():
    table = tableToMarkdown("Alarms", [{"title": "Leak", "alarmCode": 7}, {"title": "Phish", "alarmCode": 8}])
    assert table == "### Alarms\n|alarmCode|title|\n|---|---|\n| 7 | Leak |\n| 8 | Phish |\n"


def test_given_headers_pick_and_order_the_columns():
    table = tableToMarkdown("T", [{"a": 1, "b": 2, "c": 3}], headers=["c", "a"])
    assert table == "### T\n|c|a|\n|---|---|\n| 3 | 1 |\n"


def test_unsorted_headers_keep_the_first_rows_key_order():
    assert tableToMarkdown("T", [{"b": 1, "a": 2}], sort_headers=False) == "### T\n|b|a|\n|---|---|\n| 1 | 2 |\n"


def test_a_single_dict_is_one_row():
    assert tableToMarkdown("T", {"a": 1, "b": "x"}) == "### T\n|a|b|\n|---|---|\n| 1 | x |\n"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, ""),
        ("", ""),
        ([], ""),
        (True, "true"),
        (1.5, "1.5"),
        (["1", 2], "1,<br>2"),
        ({"k": "v", "n": [1, 2]}, "k: v<br>n: 1,<br>2"),
        ("a|b`c", "a\\|b\\`c"),
        ("line1\nline2\r\nline3", "line1<br>line2<br>line3"),
    ],
)
def test_cell_values_are_flattened_and_escaped(value, cell):
    assert tableToMarkdown("T", [{"h": value}]) == f"### T\n|h|\n|---|\n| {cell} |\n"


def test_missing_keys_are_empty_cells():
    table = tableToMarkdown("T", [{"a": 1, "b": 2}, {"a": 3}])
    assert table == "### T\n|a|b|\n|---|---|\n| 1 | 2 |\n| 3 |  |\n"


@pytest.mark.parametrize(
    ("name", "rows", "metadata", "expected"),
    [
        ("T", [], None, "### T\n**No entries.**\n"),
        ("T", None, None, "### T\n**No entries.**\n"),
        ("T", {}, None, "### T\n**No entries.**\n"),
        ("", [], None, "**No entries.**\n"),
        ("T", [], "Page 1", "### T\nPage 1\n**No entries.**\n"),
    ],
)
def test_empty_tables_say_no_entries(name, rows, metadata, expected):
    assert tableToMarkdown(name, rows, metadata=metadata) == expected


def test_metadata_line_goes_under_the_title():
    assert tableToMarkdown("T", [{"a": 1}], metadata="Total: 1") == "### T\nTotal: 1\n|a|\n|---|\n| 1 |\n"


def test_header_transform_renames_columns():
    table = tableToMarkdown("T", [{"alarm_code": 1}], headerTransform=lambda key: key.replace("_", " ").title())
    assert table == "### T\n|Alarm Code|\n|---|\n| 1 |\n"


def test_header_names_are_escaped_by_default():
    assert tableToMarkdown("T", [{"a|b": 1}]) == "### T\n|a\\|b|\n|---|\n| 1 |\n"


def test_remove_null_drops_columns_empty_in_every_row():
    table = tableToMarkdown("T", [{"a": 1, "b": None, "c": ""}, {"a": 2, "b": [], "c": "x"}], removeNull=True)
    assert table == "### T\n|a|c|\n|---|---|\n| 1 |  |\n| 2 | x |\n"


def test_a_list_of_plain_values_needs_a_header():
    assert tableToMarkdown("T", ["x", "y"], headers="Value") == "### T\n|Value|\n|---|\n| x |\n| y |\n"
    with pytest.raises(Exception, match="Missing headers param for tableToMarkdown"):
        tableToMarkdown("T", ["x"])


def test_a_dict_with_one_key_becomes_a_column_of_its_values():
    assert tableToMarkdown("T", {"CVE": ["CVE-1", "CVE-2"]}) == "### T\n|CVE|\n|---|\n| CVE-1 |\n| CVE-2 |\n"


def test_url_keys_become_links():
    table = tableToMarkdown("T", [{"link": "https://x.test/a"}], url_keys=["link"])
    assert table == "### T\n|link|\n|---|\n| [https://x.test/a](https://x.test/a) |\n"


def test_date_fields_turn_epoch_milliseconds_into_local_dates_and_leave_other_values():
    local = datetime.fromtimestamp(1700000000).strftime("%Y-%m-%d %H:%M:%S")
    table = tableToMarkdown("T", [{"at": 1700000000000}, {"at": "soon"}], date_fields=["at"])
    assert table == f"### T\n|at|\n|---|\n| {local} |\n| soon |\n"


def test_json_transform_mapping_writes_a_tree_of_selected_keys():
    table = tableToMarkdown(
        "T", [{"n": {"a": {"b": 1, "c": 2}}}], json_transform_mapping={"n": JsonTransformer(keys=["b"], is_nested=True)}
    )
    assert table == "### T\n|n|\n|---|\n| **a**:<br>\t***b***: 1 |\n"


def test_auto_json_transform_writes_nested_values_as_a_tree():
    table = tableToMarkdown(
        "T", [{"n": {"a": {"b": 1, "c": ["x", "y"]}, "l": [{"v": 1}, {"v": 2}]}}], is_auto_json_transform=True
    )
    cell = "**a**:<br>\t***b***: 1<br>\t**c**:<br>\t\t***values***: x, y<br>**l**:<br>\t**-**\t***v***: 1<br>\t**-**\t***v***: 2"
    assert table == f"### T\n|n|\n|---|\n| {cell} |\n"
