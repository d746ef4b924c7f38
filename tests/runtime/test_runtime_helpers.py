"""Contract: constants, indicator and hash helpers, small data helpers and the mirroring classes."""

import pytest
from CommonServerPython import (
    DBotScoreReliability,
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
    batch,
    dict_safe_get,
    entryTypes,
    formats,
    get_hash_type,
    handle_proxy,
    is_ip_valid,
    is_ipv6_valid,
    remove_empty_elements,
    string_to_context_key,
    timestamp_to_datestring,
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
    assert FeedIndicatorType.is_valid_type(value)
    assert value in FeedIndicatorType.list_all_supported_indicators()


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", "IP"),
        ("8.8.8.8:443", "IP"),
        ("10.0.0.0/8", "CIDR"),
        ("2001:db8::1", "IPv6"),
        ("::1", "IPv6"),
        ("2001:db8::/32", "IPv6CIDR"),
        ("256.1.1.1", None),
        ("evil.test", None),
        ("1.2.3", None),
    ],
)
def test_ip_to_indicator_type(address, kind):
    assert FeedIndicatorType.ip_to_indicator_type(address) == kind


@pytest.mark.parametrize(
    ("value", "v4", "any_version"),
    [
        ("8.8.8.8", True, True),
        ("255.255.255.255", True, True),
        ("256.1.1.1", False, False),
        ("1.2.3", False, False),
        ("a.b.c.d", False, False),
        ("2001:db8::1", False, True),
        ("2001:db8::g", False, False),
    ],
)
def test_is_ip_valid(value, v4, any_version):
    assert is_ip_valid(value) is v4
    assert is_ip_valid(value, accept_v6_ips=True) is any_version


@pytest.mark.parametrize(("value", "valid"), [("::1", True), ("fe80::1", True), ("1.2.3.4", False), ("2001:db8:::1", False)])
def test_is_ipv6_valid(value, valid):
    assert is_ipv6_valid(value) is valid


@pytest.mark.parametrize(
    ("digest", "kind"),
    [("a" * 32, "md5"), ("b" * 40, "sha1"), ("c" * 64, "sha256"), ("d" * 128, "sha512"), ("e" * 33, "Unknown"), ("", "Unknown")],
)
def test_get_hash_type_goes_by_length(digest, kind):
    assert get_hash_type(digest) == kind


@pytest.mark.parametrize(
    ("items", "size", "batches"),
    [([1, 2, 3, 4, 5], 2, [[1, 2], [3, 4], [5]]), ([1, 2], 5, [[1, 2]]), ([], 3, []), ([1, 2, 3], 1, [[1], [2], [3]])],
)
def test_batch_slices_in_order(items, size, batches):
    assert list(batch(items, batch_size=size)) == batches


def test_remove_empty_elements_drops_none_empty_dicts_and_lists_but_keeps_falsy_values():
    data = {"a": None, "b": {}, "c": [], "d": "", "e": 0, "f": False, "g": {"h": None, "i": [None, {}, 1]}}
    assert remove_empty_elements(data) == {"d": "", "e": 0, "f": False, "g": {"i": [1]}}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "2023-11-14T22:13:20.000Z"),
        ({"date_format": "%Y-%m-%d", "is_utc": True}, "2023-11-14"),
    ],
)
def test_timestamp_to_datestring_in_utc(kwargs, expected):
    assert timestamp_to_datestring(1700000000000, **kwargs) == expected


def test_dict_safe_get():
    data = {"a": {"b": [10, 20]}}
    assert dict_safe_get(data, ["a", "b", 1]) == 20
    assert dict_safe_get(data, ["a", "x"], "none") == "none"
    assert dict_safe_get(data, ["a", "b"], {}, dict, raise_return_type=False) == {}
    with pytest.raises(TypeError, match="Safe get Error"):
        dict_safe_get(data, ["a", "b"], return_type=dict)


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


def test_string_to_context_key():
    assert string_to_context_key("alarm_code") == "AlarmCode"


def test_dbot_score_reliability_values():
    assert DBotScoreReliability.A_PLUS == "A+ - 3rd party enrichment"
    assert DBotScoreReliability.C == "C - Fairly reliable"
    assert DBotScoreReliability.is_valid_type("F - Reliability cannot be judged")
    assert not DBotScoreReliability.is_valid_type("C")
    assert DBotScoreReliability.get_dbot_score_reliability_from_str("B - Usually reliable") == DBotScoreReliability.B
    with pytest.raises(Exception, match=r"Please use supported reliability only\."):
        DBotScoreReliability.get_dbot_score_reliability_from_str("C")


def test_handle_proxy_returns_the_environment_proxies_when_the_checkbox_is_set(monkeypatch):
    import demistomock as demisto

    monkeypatch.setattr(demisto, "params", lambda: {"proxy": True})
    monkeypatch.setenv("HTTPS_PROXY", "proxy.test:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.test:3128")
    assert handle_proxy() == {"http": "http://proxy.test:3128", "https": "http://proxy.test:3128"}
    monkeypatch.setattr(demisto, "params", lambda: {"proxy": False})
    assert handle_proxy() == {}


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
    parsed = GetRemoteDataArgs({"id": "7", "lastUpdate": "2024-01-01T00:00:00Z"})
    assert (parsed.remote_incident_id, parsed.last_update) == ("7", "2024-01-01T00:00:00Z")
    assert GetModifiedRemoteDataArgs({"lastUpdate": "x"}).last_update == "x"


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
