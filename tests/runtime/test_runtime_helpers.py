"""Contract: constants, urljoin and the mirroring classes."""

import pytest
from CommonServerPython import (
    EntryFormat,
    EntryType,
    FeedIndicatorType,
    GetMappingFieldsResponse,
    GetModifiedRemoteDataArgs,
    GetRemoteDataArgs,
    IncidentSeverity,
    IncidentStatus,
    SchemeTypeMapping,
    UpdateRemoteSystemArgs,
    entryTypes,
    formats,
    get_error,
    is_error,
    isError,
    urljoin,
)


def test_incident_severity_and_status_values():
    severities = [IncidentSeverity.UNKNOWN, IncidentSeverity.INFO, IncidentSeverity.LOW, IncidentSeverity.MEDIUM]
    assert [*severities, IncidentSeverity.HIGH, IncidentSeverity.CRITICAL] == [0, 0.5, 1, 2, 3, 4]
    assert [IncidentStatus.PENDING, IncidentStatus.ACTIVE, IncidentStatus.DONE, IncidentStatus.ARCHIVE] == [0, 1, 2, 3]


def test_entry_types_and_formats():
    assert (entryTypes["note"], entryTypes["error"], entryTypes["warning"]) == (1, 4, 11)
    assert (EntryType.NOTE, EntryType.ERROR, EntryType.WARNING, EntryType.EXECUTION_METRICS) == (1, 4, 11, 19)
    assert (formats["json"], formats["text"], formats["markdown"]) == ("json", "text", "markdown")
    assert EntryFormat.is_valid_type("markdown")
    assert not EntryFormat.is_valid_type("yaml")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IP", "IP"),
        ("IPv6", "IPv6"),
        ("CIDR", "CIDR"),
        ("IPv6CIDR", "IPv6CIDR"),
        ("Domain", "Domain"),
        ("DomainGlob", "DomainGlob"),
        ("FQDN", "Domain"),
        ("URL", "URL"),
        ("File", "File"),
        ("Email", "Email"),
        ("CVE", "CVE"),
        ("SSDeep", "ssdeep"),
        ("AS", "ASN"),
        ("Registry", "Registry Key"),
    ],
)
def test_feed_indicator_type_values(name, value):
    assert getattr(FeedIndicatorType, name) == value


@pytest.mark.parametrize(
    ("url", "suffix", "joined"),
    [
        ("https://x.test", "a", "https://x.test/a"),
        ("https://x.test/", "/a", "https://x.test/a"),
        ("https://x.test", "", "https://x.test/"),
    ],
)
def test_urljoin(url, suffix, joined):
    assert urljoin(url, suffix) == joined


# --- mirroring ---------------------------------------------------------------------------------------


def test_update_remote_system_args():
    parsed = UpdateRemoteSystemArgs(
        {
            "data": {"threatmonstatus": "Closed"},
            "entries": [],
            "incidentChanged": True,
            "remoteId": "7",
            "status": 2,
            "delta": {"closeReason": "Resolved"},
        }
    )
    assert parsed.data == {"threatmonstatus": "Closed"}
    assert parsed.entries == []
    assert parsed.incident_changed is True
    assert parsed.remote_incident_id == "7"
    assert parsed.inc_status == 2
    assert parsed.delta == {"closeReason": "Resolved"}


def test_update_remote_system_args_tolerate_missing_keys():
    parsed = UpdateRemoteSystemArgs({"remoteId": "7"})
    assert (parsed.data, parsed.delta, parsed.incident_changed, parsed.inc_status) == (None, None, None, None)


def test_get_remote_data_args():
    parsed = GetRemoteDataArgs({"id": "7", "lastUpdate": "2025-03-15T12:00:00Z"})
    assert (parsed.remote_incident_id, parsed.last_update) == ("7", "2025-03-15T12:00:00Z")


@pytest.mark.parametrize("args", [{"id": "7"}, {"lastUpdate": "2025-03-15T12:00:00Z"}])
def test_get_remote_data_args_require_id_and_last_update(args):
    with pytest.raises(KeyError):
        GetRemoteDataArgs(args)


def test_get_modified_remote_data_args():
    assert GetModifiedRemoteDataArgs({"lastUpdate": "2025-03-15T12:00:00Z"}).last_update == "2025-03-15T12:00:00Z"
    with pytest.raises(KeyError):
        GetModifiedRemoteDataArgs({})


def test_mapping_fields_response_merges_scheme_types():
    alarm = SchemeTypeMapping(type_name="ThreatMon Alarm")
    alarm.add_field("threatmonstatus", "Status word")
    alarm.add_field("threatmonseverity")
    other = SchemeTypeMapping(type_name="Other", fields={"x": "y"})
    response = GetMappingFieldsResponse()
    response.add_scheme_type(alarm)
    response.add_scheme_type(other)
    assert response.extract_mapping() == {
        "ThreatMon Alarm": {"threatmonstatus": "Status word", "threatmonseverity": ""},
        "Other": {"x": "y"},
    }
    assert alarm.type_name == "ThreatMon Alarm"
    assert response.scheme_types_mappings == [alarm, other]


ERROR_ENTRY = {"Type": 4, "Contents": "no such incident"}
NOTE_ENTRY = {"Type": 1, "Contents": {"data": []}}


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (None, False),
        ([], False),
        ([NOTE_ENTRY], False),
        (NOTE_ENTRY, False),
        (ERROR_ENTRY, True),
        ([NOTE_ENTRY, ERROR_ENTRY], True),
    ],
)
def test_is_error_finds_an_error_entry_in_an_answer(answer, error):
    assert is_error(answer) is error
    assert isError(answer) is error


def test_get_error_joins_the_error_entries_and_refuses_an_answer_without_one():
    assert get_error(ERROR_ENTRY) == "no such incident"
    assert get_error([ERROR_ENTRY, NOTE_ENTRY, {"Type": 4, "Contents": "second"}]) == "no such incident\nsecond"
    with pytest.raises(ValueError, match="no error entry"):
        get_error([NOTE_ENTRY])
