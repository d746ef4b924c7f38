"""Dashboard widget: the takedown and data removal requests ThreatMon accepted for ThreatMon Alarm incidents.

threatmon_request_takedown and threatmon_request_data_removal write each request ThreatMon accepts into the context of
the incident they run in (ThreatMon.Takedown and ThreatMon.DataRemoval, keyed by findingId, status Submitted), whether
a playbook task or an analyst in the War Room ran them. ThreatMon's API cannot list the requests made, so this script
reads the context of the ThreatMon Alarm incidents created in the widget's time range and counts them: one getIncidents
call per page of incidents and one getContext call per incident, at most MAX_INCIDENTS incidents. Requests made outside
an incident (the playground) are in no incident's context and are not counted.
"""

from typing import Any

import demistomock as demisto
from CommonServerPython import *

INCIDENT_QUERY = 'type:"ThreatMon Alarm"'
PAGE_SIZE = 100
MAX_INCIDENTS = 1000  # the widget reads the context of at most this many incidents (the newest first)
# The bar label -> the context key under ThreatMon the command writes.
REQUEST_KINDS = {"Takedown": "Takedown", "Data removal": "DataRemoval"}
COLORS = {"Takedown": "rgb(255, 144, 0)", "Data removal": "rgb(0, 142, 255)"}


def command_contents(command: str, args: dict[str, Any]) -> Any:
    """The Contents of the first entry executeCommand answers; an error entry raises its message."""
    answer = demisto.executeCommand(command, args)
    if isError(answer):
        raise DemistoException(f"{command} failed: {get_error(answer)}")
    entries = answer if isinstance(answer, list) else [answer]
    return entries[0].get("Contents") if entries and isinstance(entries[0], dict) else None


def threatmon_incidents(args: dict[str, Any]) -> list[dict[str, Any]]:
    """The ThreatMon Alarm incidents of the widget's time range (``from``/``to``) and search query, newest first."""
    query = INCIDENT_QUERY
    if str(args.get("searchQuery") or "").strip():
        query += f" and ({args['searchQuery']})"
    found: list[dict[str, Any]] = []
    page = 0
    while len(found) < MAX_INCIDENTS:
        search = {"query": query, "size": PAGE_SIZE, "page": page, "sort": {"field": "created", "asc": False}}
        search.update({key: args[name] for name, key in (("from", "fromdate"), ("to", "todate")) if args.get(name)})
        contents = command_contents("getIncidents", search)
        data = (contents or {}).get("data") if isinstance(contents, dict) else None
        data = [incident for incident in data or [] if isinstance(incident, dict)]
        found += data
        if len(data) < PAGE_SIZE:
            break
        page += 1
    return found[:MAX_INCIDENTS]


def submitted(value: Any) -> int:
    """How many requests a context value holds with status Submitted (one request is a dict, several a list)."""
    items = value if isinstance(value, list) else [value]
    return sum(1 for item in items if isinstance(item, dict) and str(item.get("status") or "") == "Submitted")


def requests_of(incident: dict[str, Any]) -> dict[str, int]:
    """The takedown and data removal requests in one incident's context."""
    contents = command_contents("getContext", {"id": incident.get("id")})
    context = contents.get("context") if isinstance(contents, dict) else None
    threatmon = context.get("ThreatMon") if isinstance(context, dict) else None
    threatmon = threatmon if isinstance(threatmon, dict) else {}
    return {label: submitted(threatmon.get(key)) for label, key in REQUEST_KINDS.items()}


def requests_widget(args: dict[str, Any]) -> dict[str, Any]:
    """The bar chart entry: one bar per kind of request, the count of requests ThreatMon accepted."""
    totals = dict.fromkeys(REQUEST_KINDS, 0)
    for incident in threatmon_incidents(args):
        for label, count in requests_of(incident).items():
            totals[label] += count
    stats = [{"name": label, "data": [count], "color": COLORS[label]} for label, count in totals.items()]
    return {
        "Type": EntryType.WIDGET,
        "ContentsFormat": "bar",
        "Contents": {"stats": stats, "params": {"layout": "horizontal"}},
    }


def main() -> None:
    try:
        return_results(requests_widget(demisto.args()))
    except Exception as exc:
        return_error(f"Failed to count the ThreatMon requests: {exc}")


if __name__ in ("__main__", "__builtin__", "builtins"):  # pragma: no cover
    main()
