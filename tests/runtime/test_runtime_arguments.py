"""Contract: how the argument helpers parse war-room text, and the exact errors they raise."""

from datetime import UTC, datetime, timedelta

import pytest
from CommonServerPython import arg_to_datetime, arg_to_number, argToBoolean, argToList


@pytest.mark.parametrize(
    ("arg", "expected"),
    [("10", 10), ("0", 0), ("-3", -3), ("2.9", 2), ("1e3", 1000), (7, 7), ("", None), (None, None)],
)
def test_arg_to_number_parses_numbers_and_empty(arg, expected):
    assert arg_to_number(arg) == expected


@pytest.mark.parametrize(
    ("arg", "arg_name", "message"),
    [
        ("ten", "limit", 'Invalid number: "limit"="ten"'),
        ("ten", None, '"ten" is not a valid number'),
        (1.5, "limit", 'Invalid number: "limit"="1.5"'),
        ([1], None, '"[1]" is not a valid number'),
    ],
)
def test_arg_to_number_rejects_non_numbers_naming_the_argument(arg, arg_name, message):
    with pytest.raises(ValueError) as error:
        arg_to_number(arg, arg_name=arg_name)
    assert str(error.value) == message


@pytest.mark.parametrize(("arg_name", "message"), [("limit", 'Missing "limit"'), (None, "Missing required argument")])
@pytest.mark.parametrize("empty", ["", None])
def test_arg_to_number_required_and_missing(empty, arg_name, message):
    with pytest.raises(ValueError) as error:
        arg_to_number(empty, arg_name=arg_name, required=True)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("1700000000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        (1700000000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        (1700000000.5, datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)),
    ],
)
def test_arg_to_datetime_reads_epoch_seconds_and_milliseconds_as_utc(arg, expected):
    assert arg_to_datetime(arg) == expected


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T03:04:05+02:00", datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)),
    ],
)
def test_arg_to_datetime_reads_iso_with_offset_as_aware_utc(arg, expected):
    parsed = arg_to_datetime(arg)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


def test_arg_to_datetime_reads_iso_without_offset_as_naive():
    assert arg_to_datetime("2024-01-02T03:04:05") == datetime(2024, 1, 2, 3, 4, 5)


@pytest.mark.parametrize("arg", ["7 days", "7 days ago"])
def test_arg_to_datetime_reads_relative_time_as_naive_utc_in_the_past(arg):
    parsed = arg_to_datetime(arg)
    expected = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=7)
    assert parsed.tzinfo is None
    assert abs(parsed - expected) < timedelta(minutes=5)


def test_arg_to_datetime_none_is_none_unless_required():
    assert arg_to_datetime(None) is None
    with pytest.raises(ValueError, match=r'^Missing "first_fetch"$'):
        arg_to_datetime(None, arg_name="first_fetch", required=True)


@pytest.mark.parametrize(
    ("arg", "arg_name", "message"),
    [
        ("not a date", "first_fetch", 'Invalid date: "first_fetch"="not a date"'),
        ("not a date", None, '"not a date" is not a valid date'),
        ([1], "first_fetch", 'Invalid date: "first_fetch"="[1]"'),
    ],
)
def test_arg_to_datetime_rejects_unreadable_dates(arg, arg_name, message):
    with pytest.raises(ValueError) as error:
        arg_to_datetime(arg, arg_name=arg_name)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("True", True), ("yes", True), ("false", False), ("NO", False), (True, True), (False, False)],
)
def test_arg_to_boolean_accepts_true_false_yes_no(value, expected):
    assert argToBoolean(value) is expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("maybe", "Argument does not contain a valid boolean-like value"),
        ("1", "Argument does not contain a valid boolean-like value"),
        (1, "Argument is neither a string nor a boolean"),
        (None, "Argument is neither a string nor a boolean"),
    ],
)
def test_arg_to_boolean_rejects_other_values(value, message):
    with pytest.raises(ValueError) as error:
        argToBoolean(value)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("a,b , c", ["a", "b", "c"]),
        ('["a", "b,c"]', ["a", "b,c"]),
        ("[not json]", ["[not json]"]),
        (["x", 1], ["x", 1]),
        (5, [5]),
        ("", []),
        (None, []),
        ([], []),
    ],
)
def test_arg_to_list_splits_text_reads_json_and_wraps_values(arg, expected):
    assert argToList(arg) == expected


def test_arg_to_list_separator_and_transform():
    assert argToList("1;2", separator=";", transform=int) == [1, 2]
