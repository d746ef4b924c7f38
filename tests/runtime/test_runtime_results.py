"""Contract: the war-room entries CommandResults, return_results and return_error produce."""

import json
import os
import subprocess
import sys
from pathlib import Path

import demistomock as demisto
import pytest
from CommonServerPython import (
    CommandResults,
    DemistoException,
    EntryType,
    GetMappingFieldsResponse,
    GetModifiedRemoteDataResponse,
    GetRemoteDataResponse,
    SchemeTypeMapping,
    return_error,
    return_results,
)

ALARM = {"alarmCode": 7, "title": "Leaked credentials"}
KEYED = "ThreatMon.Alarm(val.alarmCode && val.alarmCode == obj.alarmCode)"


class _Indicator:
    """Anything with to_context() can be a CommandResults indicator."""

    def __init__(self, value):
        self.value = value

    def to_context(self):
        return {"Domain(val.Name == obj.Name)": {"Name": self.value}}


class _Relationship:
    def to_entry(self):
        return {"name": "related-to"}


def test_full_entry_shape():
    entry = CommandResults(
        outputs_prefix="ThreatMon.Alarm", outputs_key_field="alarmCode", outputs=[ALARM], readable_output="## Alarms"
    ).to_context()
    assert entry == {
        "Type": 1,
        "ContentsFormat": "json",
        "Contents": [ALARM],
        "HumanReadable": "## Alarms",
        "EntryContext": {KEYED: [ALARM]},
        "IndicatorTimeline": [],
        "IgnoreAutoExtract": False,
        "Note": False,
        "Relationships": [],
    }


def test_several_key_fields_are_joined_with_and():
    entry = CommandResults(outputs_prefix="ThreatMon.CVE", outputs_key_field=["cve", "customer"], outputs={"cve": "x"})
    key = "ThreatMon.CVE(val.cve && val.cve == obj.cve && val.customer && val.customer == obj.customer)"
    assert entry.to_context()["EntryContext"] == {key: {"cve": "x"}}


def test_without_key_field_the_prefix_is_the_key():
    entry = CommandResults(outputs_prefix="ThreatMon.Takedown", outputs={"findingId": 3}).to_context()
    assert entry["EntryContext"] == {"ThreatMon.Takedown": {"findingId": 3}}


def test_dict_outputs_without_prefix_are_the_context_itself():
    assert CommandResults(outputs={"A.B": 1}).to_context()["EntryContext"] == {"A.B": 1}


def test_replace_existing_writes_under_the_parent_with_true():
    entry = CommandResults(outputs_prefix="ThreatMon.Alarm", outputs=[ALARM], replace_existing=True).to_context()
    assert entry["EntryContext"] == {"ThreatMon(true)": {"Alarm": [ALARM]}}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"outputs": [ALARM]}, ValueError, "outputs_prefix is missing"),
        ({"outputs_prefix": ".", "outputs": [ALARM]}, ValueError, "outputs_prefix cannot be a period."),
        (
            {"outputs_prefix": "A", "outputs_key_field": 3, "outputs": [1]},
            TypeError,
            "outputs_key_field must be of type str or list",
        ),
        ({"content_format": "yaml"}, TypeError, "content_format yaml is invalid"),
        ({"indicator": _Indicator("a"), "indicators": [_Indicator("b")]}, ValueError, "indicators is DEPRECATED"),
    ],
)
def test_invalid_arguments_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        CommandResults(**kwargs)


def test_raw_response_defaults_to_outputs_and_can_differ():
    assert CommandResults(outputs_prefix="A", outputs=[ALARM]).to_context()["Contents"] == [ALARM]
    assert CommandResults(outputs_prefix="A", outputs=[ALARM], raw_response={"data": 1}).to_context()["Contents"] == {"data": 1}


@pytest.mark.parametrize(("raw", "fmt"), [("text", "text"), (b"bytes", "text"), (5, "text"), ({"a": 1}, "json"), ([1], "json")])
def test_contents_format_follows_the_raw_response_type(raw, fmt):
    assert CommandResults(readable_output="x", raw_response=raw).to_context()["ContentsFormat"] == fmt


def test_explicit_content_format_wins():
    assert (
        CommandResults(readable_output="x", raw_response={}, content_format="markdown").to_context()["ContentsFormat"]
        == "markdown"
    )


def test_readable_output_defaults_to_a_results_table():
    entry = CommandResults(outputs_prefix="A", outputs=[ALARM]).to_context()
    assert entry["HumanReadable"] == "### Results\n|alarmCode|title|\n|---|---|\n| 7 | Leaked credentials |\n"


@pytest.mark.parametrize("outputs", [None, []])
def test_no_outputs_means_no_context_and_no_table(outputs):
    entry = CommandResults(outputs_prefix="A", outputs=outputs).to_context()
    assert entry["EntryContext"] == {}
    assert entry["HumanReadable"] is None


def test_text_only_result():
    entry = CommandResults(readable_output="Status updated.").to_context()
    assert entry["HumanReadable"] == "Status updated."
    assert entry["Contents"] is None
    assert entry["ContentsFormat"] == "json"


def test_flags_tags_indicators_and_relationships():
    entry = CommandResults(
        readable_output="x",
        ignore_auto_extract=True,
        mark_as_note=True,
        tags=["threatmon"],
        indicator=_Indicator("evil.test"),
        relationships=[_Relationship()],
        entry_type=EntryType.WARNING,
    ).to_context()
    assert entry["IgnoreAutoExtract"] is True
    assert entry["Note"] is True
    assert entry["Tags"] == ["threatmon"]
    assert entry["EntryContext"] == {"Domain(val.Name == obj.Name)": [{"Name": "evil.test"}]}
    assert entry["Relationships"] == [{"name": "related-to"}]
    assert entry["Type"] == 11
    assert "Tags" not in CommandResults(readable_output="x").to_context()


# --- return_results --------------------------------------------------------------------------------


def test_return_results_sends_the_command_results_entry(entries):
    result = CommandResults(outputs_prefix="ThreatMon.Alarm", outputs_key_field="alarmCode", outputs=[ALARM])
    return_results(result)
    assert entries == [result.to_context()]


def test_return_results_sends_each_command_results_of_a_list(entries):
    results = [CommandResults(readable_output="one"), CommandResults(readable_output="two")]
    return_results(results)
    assert [entry["HumanReadable"] for entry in entries] == ["one", "two"]


def test_return_results_sends_plain_dicts_and_text_of_a_list_together(entries):
    return_results([{"Type": 1, "Contents": "a"}, "b"])
    assert entries == [[{"Type": 1, "Contents": "a"}, "b"]]


@pytest.mark.parametrize("value", ["ok", {"Type": 1, "Contents": "x"}, None])
def test_return_results_passes_text_dicts_and_none_through(entries, value):
    return_results(value)
    assert entries == [value]


def test_return_results_sends_the_mapping_of_get_mapping_fields(entries):
    scheme = SchemeTypeMapping(type_name="ThreatMon Alarm")
    scheme.add_field("threatmonstatus", "The alarm status")
    return_results(GetMappingFieldsResponse([scheme]))
    assert entries == [{"ThreatMon Alarm": {"threatmonstatus": "The alarm status"}}]


def test_return_results_sends_get_remote_data_as_the_object_then_its_entries(entries):
    close = {"Type": EntryType.NOTE, "ContentsFormat": "json", "Contents": {"dbotIncidentClose": True}}
    return_results(GetRemoteDataResponse({"alarmCode": 7, "status": "Resolved"}, [close]))
    assert entries == [[{"alarmCode": 7, "status": "Resolved"}, close]]


def test_return_results_sends_none_when_get_remote_data_has_nothing_to_update(entries):
    return_results(GetRemoteDataResponse({}, []))
    assert entries == [None]


def test_return_results_sends_the_modified_ids_as_a_json_note(entries, monkeypatch):
    logged = []
    monkeypatch.setattr(demisto, "info", lambda message, *args: logged.append(message))
    return_results(GetModifiedRemoteDataResponse(["7", "8"]))
    assert entries == [{"Contents": ["7", "8"], "Type": EntryType.NOTE, "ContentsFormat": "json"}]
    assert logged == ["Modified incidents: ['7', '8']"]


class _EntryMaker:
    """Any other result object with to_entry() (e.g. the official mirroring responses)."""

    def to_entry(self):
        return {"Type": EntryType.NOTE, "ContentsFormat": "json", "Contents": ["7", "8"]}


def test_return_results_sends_what_to_entry_gives(entries):
    return_results(_EntryMaker())
    assert entries == [{"Type": 1, "ContentsFormat": "json", "Contents": ["7", "8"]}]


def test_demisto_results_refuses_what_json_cannot_hold():
    from datetime import datetime

    with pytest.raises(TypeError):
        return_results(CommandResults(outputs_prefix="A", outputs={"at": datetime(2024, 1, 1)}, readable_output="x"))


# --- return_error ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["fetch-incidents", "fetch-indicators", "fetch-credentials", "long-running-execution"])
def test_return_error_raises_for_commands_the_server_runs(command, entries, name):
    command(name)
    with pytest.raises(Exception) as error:
        return_error("ThreatMon refused the API key.")
    assert type(error.value) is Exception
    assert str(error.value) == "ThreatMon refused the API key."
    assert entries == []


@pytest.mark.parametrize("name", ["test-module", "threatmon_list_alarms", "update-remote-system", ""])
def test_return_error_writes_an_error_entry_and_exits_zero(command, entries, name):
    command(name)
    with pytest.raises(SystemExit) as exit_:
        return_error("Bad limit.", outputs={"A": 1})
    assert exit_.value.code == 0
    assert entries == [{"Type": 4, "ContentsFormat": "text", "Contents": "Bad limit.", "EntryContext": {"A": 1}}]


def test_return_error_inside_except_keeps_the_message(command, entries):
    command("threatmon_list_alarms")
    try:
        raise DemistoException("Error in API call [500] - Server Error")
    except DemistoException as error:
        with pytest.raises(SystemExit):
            return_error(f"Failed: {error}", error=error)
    assert entries[0]["Contents"] == "Failed: Error in API call [500] - Server Error"


def test_return_error_truncates_huge_messages(command, entries):
    command("threatmon_list_alarms")
    with pytest.raises(SystemExit):
        return_error("a" * 30000 + "b" * 30000)
    contents = entries[0]["Contents"]
    assert contents == "a" * 25000 + "...This error body was truncated..." + "b" * 25000


def test_return_error_in_get_modified_remote_data_asks_to_skip_the_update(command, entries):
    command("get-modified-remote-data")
    with pytest.raises(SystemExit):
        return_error("timeout")
    assert entries[0]["Contents"] == "skip update. error: timeout"


def test_return_error_in_get_modified_remote_data_for_not_implemented_does_not_skip(command, entries):
    command("get-modified-remote-data")
    try:
        raise NotImplementedError("no mirroring in")
    except NotImplementedError:
        with pytest.raises(SystemExit):
            return_error("no mirroring in")
    assert entries[0]["Contents"] == "no mirroring in"


_MASKING_SCRIPT = """
import json, sys
import demistomock as demisto
demisto.params = lambda: {"url": "https://api.test", "api_key": "s3cr3t-KEY", "credentials": {"password": "tok3n"}}
demisto.command = lambda: "test-module"
entries = []
demisto.results = entries.append
import CommonServerPython
try:
    CommonServerPython.return_error("401 for key s3cr3t-KEY and token tok3n at https://api.test")
except SystemExit:
    pass
sys.stdout.write(json.dumps(entries))
"""


def first_entry_of(script: str) -> str:
    """The Contents of the first entry ``script`` writes, run in a fresh Python with the session's runtime loaded."""
    env = {**os.environ, "PYTHONPATH": str(Path(demisto.__file__).parent)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)[0]["Contents"]


def test_return_error_masks_secret_parameters_known_when_the_runtime_loads():
    contents = first_entry_of(_MASKING_SCRIPT)
    assert contents == "401 for key <XX_REPLACED> and token <XX_REPLACED> at https://api.test"


_SENSITIVE_SCRIPT = """
import json, sys
import demistomock as demisto
demisto.command = lambda: "threatmon_list_alarms"
entries = []
demisto.results = entries.append
import CommonServerPython
CommonServerPython.add_sensitive_log_strs("tm-Key+42/x")
CommonServerPython.add_sensitive_log_strs("")  # nothing to mask: ignored
try:
    CommonServerPython.return_error("refused tm-Key+42/x, quoted tm-Key%2B42%2Fx")
except SystemExit:
    pass
sys.stdout.write(json.dumps(entries))
"""


def test_add_sensitive_log_strs_masks_the_string_and_its_quoted_form_from_then_on():
    contents = first_entry_of(_SENSITIVE_SCRIPT)
    assert contents == "refused <XX_REPLACED>, quoted <XX_REPLACED>"
