"""Unit tests of ThreatMonRequestsWidget: the server's answers to getIncidents and getContext are faked in the test."""

import demistomock as demisto
import pytest
import ThreatMonRequestsWidget
from CommonServerPython import *
from ThreatMonRequestsWidget import requests_widget, submitted

TAKEDOWN = {"findingId": 701073, "status": "Submitted"}
REMOVAL = {"findingId": 701094, "status": "Submitted"}


def entry(contents) -> list[dict]:
    return [{"Type": EntryType.NOTE, "ContentsFormat": "json", "Contents": contents}]


class FakeServer:
    """getIncidents pages over ``incidents``; getContext answers each incident's ThreatMon context."""

    def __init__(self, contexts: dict[str, dict], page_size: int | None = None):
        self.contexts = contexts
        self.calls: list[tuple[str, dict]] = []
        self.page_size = page_size

    def __call__(self, command: str, args: dict):
        self.calls.append((command, dict(args)))
        if command == "getIncidents":
            size = self.page_size or args["size"]
            ids = list(self.contexts)[args["page"] * size : (args["page"] + 1) * size]
            return entry({"data": [{"id": incident_id} for incident_id in ids], "total": len(self.contexts)})
        if command == "getContext":
            return entry({"context": {"ThreatMon": self.contexts[args["id"]]} if self.contexts[args["id"]] else {}})
        return [{"Type": EntryType.ERROR, "Contents": f"unknown command {command}"}]


def counts(result: dict) -> dict[str, int]:
    return {bar["name"]: bar["data"][0] for bar in result["Contents"]["stats"]}


def test_counts_the_requests_in_each_incident_context(monkeypatch):
    server = FakeServer(
        {
            "1": {"Takedown": TAKEDOWN},
            "2": {"Takedown": [TAKEDOWN, {"findingId": 2, "status": "Submitted"}], "DataRemoval": REMOVAL},
            "3": {"Alarm": {"alarmCode": 7, "status": "Resolved"}},
            "4": {},
        }
    )
    monkeypatch.setattr(demisto, "executeCommand", server)
    result = requests_widget({"from": "2026-03-01T00:00:00Z", "to": "2026-03-31T00:00:00Z"})
    assert result["Type"] == EntryType.WIDGET
    assert result["ContentsFormat"] == "bar"
    assert counts(result) == {"Takedown": 3, "Data removal": 1}
    (search,) = [args for command, args in server.calls if command == "getIncidents"]
    assert search["query"] == 'type:"ThreatMon Alarm"'
    assert (search["fromdate"], search["todate"]) == ("2026-03-01T00:00:00Z", "2026-03-31T00:00:00Z")
    assert [args["id"] for command, args in server.calls if command == "getContext"] == ["1", "2", "3", "4"]


def test_adds_the_dashboard_search_query_and_reads_every_page(monkeypatch):
    server = FakeServer({str(n): {"Takedown": TAKEDOWN} for n in range(1, 251)})
    monkeypatch.setattr(demisto, "executeCommand", server)
    result = requests_widget({"searchQuery": "severity:High"})
    assert counts(result) == {"Takedown": 250, "Data removal": 0}
    searches = [args for command, args in server.calls if command == "getIncidents"]
    assert [args["page"] for args in searches] == [0, 1, 2]
    assert {args["query"] for args in searches} == {'type:"ThreatMon Alarm" and (severity:High)'}
    assert all("fromdate" not in args for args in searches)


def test_reads_at_most_max_incidents(monkeypatch):
    monkeypatch.setattr(ThreatMonRequestsWidget, "MAX_INCIDENTS", 150)
    server = FakeServer({str(n): {"DataRemoval": REMOVAL} for n in range(1, 400)})
    monkeypatch.setattr(demisto, "executeCommand", server)
    assert counts(requests_widget({})) == {"Takedown": 0, "Data removal": 150}
    assert len([command for command, _ in server.calls if command == "getContext"]) == 150


@pytest.mark.parametrize(
    ("value", "count"),
    [
        (None, 0),
        ("Submitted", 0),
        ({"status": "Submitted"}, 1),
        ({"status": "Refused"}, 0),
        ([{"status": "Submitted"}, {"status": "Submitted"}, "x", {"findingId": 3}], 2),
    ],
)
def test_submitted_counts_only_accepted_requests(value, count):
    assert submitted(value) == count


def test_an_error_answer_ends_in_an_error_that_names_the_command(monkeypatch):
    monkeypatch.setattr(demisto, "executeCommand", lambda command, args: [{"Type": EntryType.ERROR, "Contents": "denied"}])
    with pytest.raises(DemistoException, match="getIncidents failed: denied"):
        requests_widget({})


def test_main_returns_the_widget_entry_or_an_error(monkeypatch):
    sent: list = []
    monkeypatch.setattr(demisto, "args", dict)
    monkeypatch.setattr(demisto, "results", sent.append)
    monkeypatch.setattr(demisto, "executeCommand", FakeServer({"1": {"Takedown": TAKEDOWN}}))
    ThreatMonRequestsWidget.main()
    assert counts(sent[0]) == {"Takedown": 1, "Data removal": 0}
    sent.clear()
    monkeypatch.setattr(demisto, "executeCommand", lambda command, args: [{"Type": EntryType.ERROR, "Contents": "denied"}])
    with pytest.raises(SystemExit):
        ThreatMonRequestsWidget.main()
    assert sent[0]["Type"] == EntryType.ERROR
    assert "Failed to count the ThreatMon requests: getIncidents failed: denied" in sent[0]["Contents"]


def test_a_malformed_answer_counts_nothing(monkeypatch):
    answers = {"getIncidents": entry({"data": [{"id": "1"}, "not an incident"]}), "getContext": entry("not a context")}
    monkeypatch.setattr(demisto, "executeCommand", lambda command, args: answers[command])
    assert counts(requests_widget({})) == {"Takedown": 0, "Data removal": 0}
