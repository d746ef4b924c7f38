"""``make demo`` (``python -m runner.demo``): both ThreatMon packs doing their main job, against a local simulator.

No XSOAR server and no ThreatMon account are needed: a ThreatMon simulator starts on this machine, and
the integration runs exactly as XSOAR would run it (see runner/core.py). Needs only requirements.txt.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

from runner.core import IntegrationRunner, RunResult
from runner.display import incidents_table, render_entries, secrets_of, table
from runner.runtime import explain_environment
from simulator import Simulator

REPO_ROOT = Path(__file__).resolve().parent.parent
THREATMON = REPO_ROOT / "Packs/ThreatMon/Integrations/ThreatMon/ThreatMon.py"
# The simulator's data removal route. ThreatMon has not published the real path: support gives it to a customer.
DATA_REMOVAL_PATH = "/blackmarket/data-removal"
FEED = REPO_ROOT / "Packs/ThreatMonThreatFeed/Integrations/ThreatMonThreatFeed/ThreatMonThreatFeed.py"
# The feed README's rule for an instance without Indicator Reputation: ThreatMon severity -> DBot score.
FEED_SEVERITY_SCORES = {"critical": 3, "high": 3, "medium": 2, "low": 2}
SCORE_NAMES = {0: "Unknown", 1: "Good", 2: "Suspicious", 3: "Bad"}
WIDTH = 100  # no line of the demo is longer
INDENT = 4  # what a command shows is indented under the step's explanation
TABLE_WIDTH = WIDTH - INDENT


class DemoFailure(Exception):
    """A step did not do what the demo shows it doing."""


class Demo:
    def __init__(self, alarms: int, latency_ms: float, order: str, max_fetch: int, out=None):
        self.alarms, self.latency_ms, self.order, self.max_fetch = alarms, latency_ms, order, max_fetch
        self.out = out or sys.stdout
        self.step_number = 0
        self.secrets: list[str] = []

    # -- printing --------------------------------------------------------------------------------------

    def say(self, text: str = "") -> None:
        for secret in self.secrets:
            text = text.replace(secret, "********")
        print(text, file=self.out)

    def explain(self, text: str) -> None:
        self.say(textwrap.fill(" ".join(text.split()), WIDTH))

    def step(self, title: str, why: str) -> None:
        self.step_number += 1
        heading = f"{self.step_number}. {title}"
        self.say()
        self.say(heading)
        self.say("=" * len(heading))
        self.explain(why)
        self.say()

    def show(self, text: str, indent: int = INDENT) -> None:
        """Indented; a line too long for WIDTH (tables never are: they are drawn narrower) wraps under itself."""
        lines = []
        for line in text.splitlines() or [""]:
            lead = " " * (indent + len(line) - len(line.lstrip()))
            lines += textwrap.wrap(line.strip(), WIDTH, initial_indent=lead, subsequent_indent=lead + "  ") or [""]
        self.say("\n".join(lines))

    def show_run(self, result: RunResult) -> None:
        if result.entries:
            self.show(render_entries(result.entries, TABLE_WIDTH))
        elif result.error:
            self.show(f"ERROR: {result.error}")

    @staticmethod
    def expect(condition: bool, failure: str) -> None:
        if not condition:
            raise DemoFailure(failure)

    # -- the story -------------------------------------------------------------------------------------------

    def run(self) -> None:
        started = time.monotonic()
        self.step(
            "Start a ThreatMon simulator",
            "ThreatMon watches the internet for threats to a company (phishing sites, leaked passwords, fake apps) "
            "and raises an alarm for each. Instead of the real service, a simulator with made-up alarms runs on this "
            "machine (127.0.0.1 only). It answers like ThreatMon's API, with a little network delay.",
        )
        with Simulator(
            alarms=self.alarms,
            order=self.order,
            latency_ms=self.latency_ms,
            recent=True,
            data_removal_path=DATA_REMOVAL_PATH,
        ) as sim:
            self.secrets = [sim.api_key, sim.ioc_token]
            self.show(f"ThreatMon API: {sim.api_url}")
            order = "newest first" if self.order == "desc" else "oldest first"
            self.show(f"{self.alarms} alarms waiting, listed {order}, {self.latency_ms:g} ms per request")
            self.threatmon(sim)
            self.filters_and_health(sim)
            self.feed(sim)
            self.step("Stop the simulator", "Everything above ran against the local simulator, which now stops.")
        elapsed = time.monotonic() - started
        self.show(f"Demo finished in {elapsed:.1f} s.")

    def threatmon(self, sim: Simulator) -> None:
        params = {
            "url": sim.api_url,
            "credentials": {"identifier": "", "password": sim.api_key},
            "max_fetch": str(self.max_fetch),
            "isFetch": True,
            "incidentType": "ThreatMon Alarm",
            "mirror_direction": "Incoming And Outgoing",
            "close_incident": True,
        }
        self.step(
            "Configure a ThreatMon instance",
            "In XSOAR an 'integration instance' is a connector plus its settings, entered once in a form. "
            "XSOAR then runs the connector's commands with these settings, each run in a fresh process.",
        )
        shown = [[name, "********" if name == "credentials" else str(value)] for name, value in params.items()]
        self.show(table(shown, ["parameter", "value"], TABLE_WIDTH))
        self.secrets = sorted({*self.secrets, *secrets_of(params)}, key=len, reverse=True)
        tm = IntegrationRunner(THREATMON, params, instance_name="ThreatMon_demo")

        self.step(
            "Test the connection (test-module)",
            "The 'Test' button of the instance form runs test-module: it must answer 'ok', or say what is wrong.",
        )
        result = tm.run("test-module")
        self.show_run(result)
        self.expect(result.ok and result.readable.strip() == "ok", f"test-module did not answer ok: {result.error}")

        self.step(
            "Fetch alarms as incidents (fetch-incidents)",
            f"Every minute XSOAR runs fetch-incidents. Each run turns at most {self.max_fetch} new alarms into "
            "incidents (tickets an analyst works on) and saves a small bookmark ('lastRun') so the next run "
            "continues where this one stopped. Here the runs follow one another until nothing new comes.",
        )
        runs, incidents = [], []
        for number in range(1, 200):
            result = tm.run("fetch-incidents")
            self.expect(result.ok, f"fetch-incidents failed: {result.error}")
            runs.append([number, len(result.incidents), _short_json(result.last_run) if result.last_run_set else "(not saved)"])
            incidents += result.incidents
            if not result.incidents:
                break
        self.show(table(runs, ["run", "new incidents", "lastRun saved after the run"], TABLE_WIDTH))
        codes = [inc.get("dbotMirrorId") for inc in incidents]
        self.expect(len(codes) == len(set(codes)) == self.alarms, f"expected {self.alarms} distinct incidents")
        self.say()
        self.show(f"{len(incidents)} incidents, each alarm exactly once. The newest five:")
        newest = sorted(incidents, key=lambda inc: int(inc.get("dbotMirrorId") or 0), reverse=True)[:5]
        self.show(incidents_table(newest, width=TABLE_WIDTH))

        code = int(newest[0]["dbotMirrorId"])
        self.step(
            "Answer an alarm in ThreatMon (threatmon_update_incident_status)",
            "When an analyst has looked at an alarm, the pack sets its status in ThreatMon too, so both "
            "systems agree. (A playbook task does this automatically at the end of the investigation.)",
        )
        before = sim.alarm(code)["status"]
        result = tm.run("threatmon_update_incident_status", {"alarmId": str(code), "status": "Resolved"})
        self.show_run(result)
        self.expect(result.ok, f"the status change failed: {result.error}")
        after = sim.alarm(code)["status"]
        self.show(f"The simulator now holds alarm {code} as '{after}' (it was '{before}').")
        self.expect(after == "Resolved", "the simulator did not record the status change")

        self.close_incident(sim, tm, [inc for inc in newest if int(inc["dbotMirrorId"]) != code])
        self.mirror_in(sim, tm, answered=code)
        self.sync_job(sim, tm)

        self.step(
            "List alarms on demand (threatmon_list_alarms)",
            "Analysts and playbooks can also look alarms up directly, e.g. the first five High or Critical ones ThreatMon lists.",
        )
        result = tm.run("threatmon_list_alarms", {"limit": "5", "min_severity": "High"})
        self.show_run(result)
        self.expect(result.ok, f"listing alarms failed: {result.error}")

        self.step(
            "Ask ThreatMon to take a phishing site down (threatmon_request_takedown)",
            "For phishing domains, rogue apps and fake social media accounts, ThreatMon can ask the hosting provider "
            "to remove them. The pack files the request; asking twice for the same finding is refused politely.",
        )
        target = next(a for a in reversed(sim.alarms()) if a["alarmType"] == "Phishing Domain Detected")
        args = {"findingId": str(target["findingId"]), "finding": f"Phishing site reported in alarm {target['alarmCode']}"}
        self.show(f"Alarm {target['alarmCode']}: {target['title']}")
        result = tm.run("threatmon_request_takedown", args)
        self.show_run(result)
        self.expect(result.ok, f"the takedown request failed: {result.error}")
        again = tm.run("threatmon_request_takedown", args)
        self.show("Asking again:")
        self.show_run(again)
        self.expect(not again.ok, "a second takedown request for the same finding was not refused")
        recorded = [t for t in sim.state(include_requests=False)["takedowns"] if t["result"] == 200]
        self.show(f"The simulator recorded {len(recorded)} takedown request(s): finding {recorded[0]['findingId']}.")

        self.step(
            "Ask ThreatMon to remove leaked data (threatmon_request_data_removal)",
            "For data found on black markets, ThreatMon can request its removal, within the company's credits. ThreatMon "
            "has not published the API path for it: its support gives it, and it goes in an instance setting. Without "
            "it the command sends nothing and says what to do; with it, the request is filed.",
        )
        target = next(a for a in reversed(sim.alarms()) if a["alarmType"] == "Black Market Mention")
        args = {"findingId": str(target["findingId"]), "finding": f"Data offered for sale, alarm {target['alarmCode']}"}
        self.show(f"Alarm {target['alarmCode']}: {target['title']}")
        result = tm.run("threatmon_request_data_removal", args)
        self.show("Without the Data removal API path parameter:")
        self.show_run(result)
        self.expect(not result.ok and "ThreatMon support" in result.error, "the command did not explain the missing path")
        with_path = {**params, "data_removal_path": DATA_REMOVAL_PATH}
        configured = IntegrationRunner(THREATMON, with_path, instance_name="ThreatMon_demo")
        self.show(f"With it set to {DATA_REMOVAL_PATH}:")
        result = configured.run("threatmon_request_data_removal", args)
        self.show_run(result)
        self.expect(result.ok, f"the data removal request failed: {result.error}")
        recorded = [r for r in sim.state(include_requests=False)["data_removals"] if r["result"] == 200]
        self.expect(len(recorded) == 1, "the simulator did not record exactly one data removal request")
        tm.history += configured.history

        self.step(
            "Read ThreatMon's vulnerability intelligence (threatmon_list_cves)",
            "ThreatMon also tracks vulnerabilities (CVEs) and which products they hit. A page of the critical ones:",
        )
        result = tm.run("threatmon_list_cves", {"page": "0", "cvss": "CRITICAL"})
        self.show_run(result)
        self.expect(result.ok, f"listing CVEs failed: {result.error}")
        self.say()
        self.explain("And the ones hitting products that a customer of this company subscribes to:")
        self.say()
        result = tm.run("threatmon_list_subscribed_cves", {"page": "0", "customer_name": "Example Insurance"})
        self.show_run(result)
        self.expect(result.ok, f"listing subscribed CVEs failed: {result.error}")
        leaks = [r for r in tm.history if sim.api_key in r.everything_as_text()]
        self.expect(not leaks, "the API key appeared in a result")

    def filters_and_health(self, sim: Simulator) -> None:
        chosen_types = ["Phishing Domain Detected", "Rogue Mobile App Detected"]
        params = {
            "url": sim.api_url,
            "credentials": {"identifier": "", "password": sim.api_key},
            "max_fetch": str(self.max_fetch),
            "isFetch": True,
            "alarm_types": chosen_types,
            "alarm_types_other": "Leaked Credentials",
            "alarm_statuses": ["Open", "In Progress"],
        }
        self.step(
            "Fetch only some alarms (alarm type and status filters)",
            "A second instance fetches only phishing domains, rogue apps and (typed in, as ThreatMon names it) leaked "
            "credentials, and only alarms still Open or In Progress in ThreatMon. ThreatMon's API cannot filter, so "
            "the fetch reads the same pages and passes the other alarms for good.",
        )
        tm = IntegrationRunner(THREATMON, params, instance_name="ThreatMon_filtered")
        typo = IntegrationRunner(THREATMON, {**params, "alarm_types_other": "Phising Domain Detected"}).run("test-module")
        self.show("Test with a typo in Other alarm types to fetch:")
        self.show_run(typo)
        self.expect(not typo.ok and "looks like a typo" in (typo.error or ""), "test-module accepted a typo")
        incidents: list[dict] = []
        lines: list[str] = []
        for _ in range(200):
            result = tm.run("fetch-incidents")
            self.expect(result.ok, f"fetch-incidents failed: {result.error}")
            incidents += result.incidents
            lines += [message for _level, message in result.logs if message.startswith("ThreatMon fetch: ")]
            if not result.incidents:
                break
        wanted = {name.lower() for name in [*chosen_types, "Leaked Credentials"]}
        expected = {
            alarm["alarmCode"]
            for alarm in sim.alarms()
            if alarm["alarmType"].lower() in wanted and alarm["status"] in ("Open", "In Progress")
        }
        codes = [int(incident["dbotMirrorId"]) for incident in incidents]
        self.expect(sorted(codes) == sorted(expected), "the filtered fetch did not create exactly the chosen alarms")
        by_type = Counter(json.loads(incident["rawJSON"]).get("alarmType") for incident in incidents)
        rows = [[name, by_type.get(name, 0)] for name in sorted(by_type)]
        self.show(table(rows, ["alarm type", "incidents"], TABLE_WIDTH))
        self.show(f"{len(codes)} incidents of {len(sim.alarms())} alarms, each once. The first run's debug line:")
        self.expect(bool(lines) and "skipped (" in lines[0], "the debug line does not count the skipped alarms")
        for line in textwrap.wrap(lines[0], TABLE_WIDTH - 2):
            self.show(line)
        tm.params = {key: value for key, value in tm.params.items() if not key.startswith("alarm_")}
        again = tm.run("fetch-incidents")
        self.show("With the filters cleared, the next fetch brings " + f"{len(again.incidents)} incident(s): the alarms")
        self.show("left out were passed for good (to backfill, reset the instance's last run).")
        self.expect(again.ok and not again.incidents, "alarms left out by the filters were fetched later")

        self.step(
            "Check how the fetch is doing (threatmon_get_fetch_health)",
            "Each fetch run keeps a small health record (no alarm content, no key). ThreatMon now fails every request "
            "for a while: the run fails, the instance's health in Settings says so, and the health command shows a "
            "stalled fetch. The next run after ThreatMon recovers moves again and clears it.",
        )
        sim.add_alarms(3)
        sim.add_fault("/vulnerabilities/=503,times=4")
        failed = tm.run("fetch-incidents")
        self.expect(not failed.ok, "the fetch did not fail while ThreatMon failed")
        shown = [message for level, message in failed.logs if level == "health"]
        self.expect(bool(shown) and "without progress" in shown[-1], "the module health did not show the stall")
        self.show("The instance's health in Settings:")
        for line in textwrap.wrap(shown[-1], TABLE_WIDTH - 2):
            self.show(line)
        result = tm.run("threatmon_get_fetch_health")
        self.show_run(result)
        self.expect("| Stalled |" in result.readable, "the health command did not show the stalled fetch")
        recovered = tm.run("fetch-incidents")
        self.expect(recovered.ok and len(recovered.incidents) == 3, "the fetch did not recover")
        cleared = [message for level, message in recovered.logs if level == "health"]
        self.expect(cleared == [""], "the module health was not cleared")
        result = tm.run("threatmon_get_fetch_health")
        self.show("After ThreatMon recovered (3 new alarms fetched, the instance's health cleared):")
        self.show_run(result)
        self.expect("| Healthy |" in result.readable, "the health command did not show a healthy fetch")
        leaks = [r for r in tm.history if sim.api_key in r.everything_as_text()]
        self.expect(not leaks, "the API key appeared in a result")

    def close_incident(self, sim: Simulator, tm: IntegrationRunner, incidents: list[dict]) -> None:
        self.step(
            "Close an incident: ThreatMon follows (outgoing mirroring, update-remote-system)",
            "The instance mirrors both ways (Incident Mirroring Direction: Incoming And Outgoing), so every incident it "
            "fetched is linked to its alarm. When an analyst closes such an incident in XSOAR, XSOAR runs the "
            "integration's update-remote-system command with the incident and what changed, and the integration "
            "gives the alarm the ThreatMon status that matches the close reason (False Positive -> False Positive, "
            "Duplicate -> Ignore, any other -> Resolved). Here XSOAR's part is played by the demo.",
        )
        incident = next(inc for inc in incidents if sim.alarm(int(inc["dbotMirrorId"]))["status"] == "Open")
        code = int(incident["dbotMirrorId"])
        self.expect(incident.get("dbotMirrorDirection") == "Both", "the fetched incident is not marked for mirroring")
        close = {
            "closeReason": "False Positive",
            "closeNotes": "A test export, no customer data in it.",
            "closingUserId": "analyst",
        }
        args = {
            "remoteId": str(code),
            "status": 2,  # IncidentStatus.DONE: the incident is closed
            "incidentChanged": True,
            "delta": dict(close),
            "data": {**incident, **close, "status": 2},
            "entries": [],
        }
        before = sim.alarm(code)["status"]
        self.show(f"The analyst closes incident '{incident['name']}' as False Positive.")
        self.show(f"XSOAR runs update-remote-system: remoteId={code}, status=2 (closed), delta={_short_json(close)}")
        changes = len(sim.status_changes)
        result = tm.run("update-remote-system", args)
        self.expect(result.ok, f"update-remote-system failed: {result.error}")
        self.show(f"It answers with the alarm code ({result.readable.strip()}). The alarm in ThreatMon (the simulator) now:")
        after = sim.alarm(code)
        rows = [[code, before, after["status"], after["title"]]]
        self.show(table(rows, ["Alarm Code", "Status before", "Status now", "Title"], TABLE_WIDTH))
        self.expect(after["status"] == "False Positive", "the close did not reach ThreatMon")
        later = {**args, "delta": {"closeNotes": "Checked again with the data owner."}}
        again = tm.run("update-remote-system", later)
        self.expect(again.ok, f"update-remote-system failed: {again.error}")
        sent = len(sim.status_changes) - changes
        self.show(f"A later edit of the closed incident (its notes) sends nothing: {sent} status change reached ThreatMon.")
        self.expect(sent == 1, f"the close was sent {sent} times")

    def mirror_in(self, sim: Simulator, tm: IntegrationRunner, answered: int) -> None:
        """Incoming mirroring: an analyst answers an alarm in the ThreatMon portal; mirroring cycles close its incident."""
        self.step(
            "Answer an alarm in ThreatMon: its incident follows (incoming mirroring)",
            "The other way round: an analyst marks an alarm as a false positive in the ThreatMon portal. ThreatMon "
            "cannot say which alarms changed, so every mirroring interval (a minute) XSOAR runs "
            "get-modified-remote-data, which reads the alarm list over the next part of the fetched alarms with at most "
            "5 list requests (Maximum list requests per mirroring cycle), then get-remote-data for each alarm whose "
            "status changed. The incident closes (Close Mirrored XSOAR Incident is on).",
        )
        followed = sorted(int(code) for code in tm.integration_context["mirror_in"]["alarms"])
        target = followed[len(followed) // 2]
        sim.set_portal_status(target, "False Positive")
        self.show(f"In the ThreatMon portal alarm {target} is now False Positive; the instance follows {len(followed)} alarms.")
        rows, closes = [], {}
        for number in range(1, 2 * len(followed) + 2):
            before = len(sim.requests)
            cycle = tm.mirror_cycle()
            self.expect(cycle.ok, f"the mirroring cycle failed: {cycle.modified.error}")
            sent = len(sim.requests) - before
            self.expect(sent <= 5, f"mirroring cycle {number} sent {sent} requests, over its budget of 5")
            rows.append([number, sent, ", ".join(cycle.ids) or "-"])
            closes.update(cycle.closes)
            if str(target) in closes:
                break
        self.show(table(rows, ["cycle", "list requests", "alarms whose status changed"], TABLE_WIDTH))
        self.expect(str(target) in closes, f"the incident of alarm {target} was not closed")
        close = closes[str(target)]
        self.show(f"get-remote-data {target} closes the incident: reason '{close['closeReason']}',")
        self.show(f"note '{close['closeNotes']}'")
        if str(answered) in closes:
            self.show(f"(Alarm {answered}, resolved in ThreatMon by the command above, came back the same way.)")

    def sync_job(self, sim: Simulator, tm: IntegrationRunner) -> None:
        """The sync command a job playbook runs where incoming mirroring does not (Cortex XSIAM, the Cortex platform),
        against a list that drops closed alarms."""
        self.step(
            "Where mirroring does not run: the sync job, and an alarm that leaves the list",
            "Cortex XSIAM and the Cortex platform do not run incoming mirroring for these alerts, so the "
            "ThreatMon - Sync Alarm Statuses job playbook runs threatmon_sync_alarm_statuses on a schedule: the same "
            "budgeted sweep, on the same memory. Here ThreatMon lists open alarms only, so an alarm resolved in the "
            "portal simply disappears; once two sweeps in a row miss it, its incident closes with the reason Other.",
        )
        sim.set(open_only=True)
        followed = sorted(int(code) for code in tm.integration_context["mirror_in"]["alarms"])
        target = followed[0]
        sim.set_portal_status(target, "Resolved")
        self.show(f"Alarm {target} is resolved in the ThreatMon portal and leaves the list.")
        found: dict = {}
        runs = 0
        for runs in range(1, 3 * len(followed) + 2):
            before = len(sim.requests)
            result = tm.run("threatmon_sync_alarm_statuses")
            self.expect(result.ok, f"threatmon_sync_alarm_statuses failed: {result.error}")
            self.expect(len(sim.requests) - before <= 5, f"sync run {runs} sent more than 5 requests")
            key = "ThreatMon.AlarmStatusChange(val.alarmCode && val.alarmCode == obj.alarmCode)"
            found.update({change["alarmCode"]: change for change in result.context.get(key) or []})
            if target in found:
                break
        self.expect(target in found, f"the sync command never reported alarm {target}")
        change = found[target]
        self.show(f"Sync run {runs} reports alarm {target}: listed {change['listed']}, close reason")
        self.show(f"'{change['closeReason']}', notes '{change['closeNotes']}'")
        self.expect(change["closeReason"] == "Other" and change["listed"] is False, "unexpected change")
        sim.set(open_only=False)

    def feed(self, sim: Simulator) -> None:
        params = {
            "url": sim.ioc_url,
            "credentials": {"identifier": "", "password": sim.ioc_token},
            "data_type": "all",
            "limit": "500",
            "feedTags": "threatmon-demo",
            "tlp_color": "AMBER",
            "feedReputation": "",  # cleared (the default is Bad): each indicator's ThreatMon severity gives its verdict
            "feedReliability": "B - Usually reliable",
            "feedIncremental": True,
        }
        self.step(
            "Bring in ThreatMon's daily indicators (ThreatMon Threat Feed)",
            "A feed integration loads indicators of compromise (bad IP addresses, domains, URLs, file hashes) into "
            "XSOAR, where they enrich incidents and can be blocked. XSOAR runs fetch-indicators on a schedule.",
        )
        self.secrets = sorted({*self.secrets, *secrets_of(params)}, key=len, reverse=True)
        feed = IntegrationRunner(FEED, params, instance_name="ThreatMonThreatFeed_demo")
        result = feed.run("test-module")
        self.show(f"test-module: {result.readable.strip() if result.ok else result.error}")
        self.expect(result.ok, f"the feed's test-module failed: {result.error}")
        result = feed.run("fetch-indicators")
        self.expect(result.ok, f"fetch-indicators failed: {result.error}")
        kinds = Counter(ind.get("type", "?") for ind in result.indicators)
        self.show(
            f"fetch-indicators read {len(sim.iocs())} records of the daily list and created {len(result.indicators)} indicators:"
        )
        self.show(table(sorted(kinds.items()), ["indicator type", "count"], TABLE_WIDTH))
        summary = next((text for _level, text in result.logs if text.startswith("ThreatMon Threat Feed: ")), "")
        skipped = [part for part in summary.split("; ") if part.endswith(")") and " skipped (" in part]
        self.show(
            "Skipped and counted in the run's summary line (kinds with no XSOAR indicator type, values that do not "
            "fit their type):"
        )
        for part in skipped:
            self.show(f"  {part}")
        self.expect(len(skipped) == 2, f"the feed's summary line does not count what it skipped: {summary!r}")
        planted = sim.ioc_kinds()[: int(params["limit"])].count("malformed")  # the records the simulator served
        self.expect(
            skipped[0].startswith(f"{planted} malformed values skipped"), f"{skipped[0]!r}: the simulator served {planted}"
        )
        again = feed.run("fetch-indicators")
        self.show(f"A second run right after: {len(again.indicators)} new indicators (only records newer than the last run).")
        self.say()
        self.explain(
            "Each indicator's verdict (its DBot score) follows ThreatMon's severity, because this instance's "
            "Indicator Reputation is cleared: Critical or High is Bad (3), Medium or Low is Suspicious (2), anything "
            "else Unknown (0). Left at its default, Bad (as in 1.0.1), it marks every indicator of the instance Bad."
        )
        self.say()
        verdicts = Counter(
            (str(ind.get("fields", {}).get("severity", "")).lower(), ind.get("score")) for ind in result.indicators
        )
        rows = [
            [severity or "(none)", f"{SCORE_NAMES.get(score, score)} ({score})", count]
            for (severity, score), count in sorted(verdicts.items(), key=lambda item: _severity_order(item[0][0]))
        ]
        self.show(table(rows, ["ThreatMon severity", "verdict (score)", "indicators"], TABLE_WIDTH))
        wrong = [row for row in verdicts if row[1] != FEED_SEVERITY_SCORES.get(row[0], 0)]
        self.expect(not wrong, f"scores that do not follow the severity: {wrong}")
        upgraded = self.upgraded_feed(sim, params)
        self.say()
        self.explain("An analyst can look at a sample without creating anything (threatmon-get-indicators):")
        self.say()
        result = feed.run("threatmon-get-indicators", {"limit": "5"})
        self.show_run(result)
        self.expect(result.ok, f"threatmon-get-indicators failed: {result.error}")
        leaks = [r for r in (*feed.history, *upgraded.history) if sim.ioc_token in r.everything_as_text()]
        self.expect(not leaks, "the IOC token appeared in a result")

    def upgraded_feed(self, sim: Simulator, params: dict) -> IntegrationRunner:
        """An instance upgraded from ThreatMon Threat Feed 1.0.1 keeps its place: 1.0.1 saved the created_at text
        of the newest record it sent, and the first fetch after the upgrade skips every record created before it."""
        created = sorted(r["created_at"] for r in sim.iocs() if isinstance(r.get("created_at"), str))
        position = created[len(created) // 2]
        upgraded = IntegrationRunner(FEED, params, instance_name="ThreatMonThreatFeed_upgraded")
        upgraded.last_run = {"last_timestamp": position}  # what 1.0.1 left in the instance's lastRun
        result = upgraded.run("fetch-indicators")
        self.expect(result.ok, f"fetch-indicators after the upgrade from 1.0.1 failed: {result.error}")
        self.expect(
            all(ind["rawJSON"]["created_at"] >= position for ind in result.indicators),
            "the instance upgraded from 1.0.1 sent a record created before 1.0.1's position",
        )
        older = sum(1 for stamp in created if stamp < position)
        saved = _short_json({"last_timestamp": position})
        self.show(f"An instance upgraded from ThreatMon Threat Feed 1.0.1, lastRun {saved}:")
        self.show(f"{len(result.indicators)} indicators; none of the {older} records created before that position came again.")
        return upgraded


def _severity_order(severity: str) -> tuple[int, str]:
    order = list(FEED_SEVERITY_SCORES)
    return (order.index(severity) if severity in order else len(order), severity)


def _short_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(", ", ": "))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--alarms", type=int, default=37)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--order", choices=("asc", "desc"), default="desc")
    parser.add_argument("--max-fetch", type=int, default=10)
    ns = parser.parse_args(argv)
    problem = explain_environment()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    demo = Demo(ns.alarms, ns.latency_ms, ns.order, ns.max_fetch)
    try:
        demo.run()
    except DemoFailure as exc:
        demo.say()
        demo.say(f"DEMO FAILED: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
