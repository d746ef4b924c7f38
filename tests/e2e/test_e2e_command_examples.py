"""Every command example the packs show runs, as written, against the simulator's data.

The examples are each integration's ``command_examples.txt`` (what ``demisto-sdk generate-docs -e`` runs to
fill the README) and every ``!command`` an integration or pack README shows. Each one runs through the local
runner against a simulator with its default data (``python -m simulator`` and ``make demo`` use the same), so
an alarm code or finding id the simulator does not serve fails here. The alarm codes and finding ids the
READMEs' example outputs show must be the simulator's too, and every README example must be one of the
integration's ``command_examples.txt``.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from runner import IntegrationRunner
from simulator import Simulator
from simulator.data import DATA_REMOVAL_ELIGIBLE, TAKEDOWN_ELIGIBLE

REPO_ROOT = Path(__file__).resolve().parents[2]
INTEGRATIONS = {
    "ThreatMon": REPO_ROOT / "Packs/ThreatMon/Integrations/ThreatMon",
    "ThreatMonThreatFeed": REPO_ROOT / "Packs/ThreatMonThreatFeed/Integrations/ThreatMonThreatFeed",
}
# The Data removal API path ThreatMon support gives is not public; the simulator serves it where it is told.
DATA_REMOVAL_PATH = "/blackmarket/data-removal"
README_COMMAND = re.compile(r"`{1,3}(![a-z][a-z0-9_-]*(?: [^`]*)?)`{1,3}")
CODE_IN_OUTPUT = re.compile(r'"alarmCode": (\d+)|Alarm (\d+):|^>\| (\d{5}) \|', re.M)
FINDING_IN_OUTPUT = re.compile(r'"findingId": (\d+)|finding (\d+) submitted')


def parse_example(line: str) -> tuple[str, dict[str, str]]:
    """``!command a=1 b="two words"`` -> ("command", {"a": "1", "b": "two words"}), as the war room reads it."""
    words = shlex.split(line.strip().removeprefix("!"))
    args = {}
    for word in words[1:]:
        name, sep, value = word.partition("=")
        if not sep:
            raise ValueError(f"{line!r}: argument {word!r} is not name=value")
        args[name] = value
    return words[0], args


def command_examples(folder: Path) -> list[str]:
    return [line.strip() for line in (folder / "command_examples.txt").read_text(encoding="utf-8").splitlines() if line.strip()]


def readme_examples(readme: Path) -> list[str]:
    return [match.group(1).strip() for match in README_COMMAND.finditer(readme.read_text(encoding="utf-8"))]


def integration_of(command: str) -> str:
    return "ThreatMonThreatFeed" if command.startswith("threatmon-") else "ThreatMon"


READMES = sorted(
    {*REPO_ROOT.glob("Packs/*/README.md"), *REPO_ROOT.glob("Packs/*/Integrations/*/README.md"), REPO_ROOT / "README.md"}
)
EXAMPLES = sorted(
    {(name, line) for name, folder in INTEGRATIONS.items() for line in command_examples(folder)}
    | {(integration_of(parse_example(line)[0]), line) for readme in READMES for line in readme_examples(readme)}
)


def test_the_examples_are_found():
    assert {name for name, _ in EXAMPLES} == set(INTEGRATIONS)
    commands = {parse_example(line)[0] for _, line in EXAMPLES}
    assert {"threatmon_update_incident_status", "threatmon_request_takedown", "threatmon-get-indicators"} <= commands


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("!threatmon_list_alarms limit=3", ("threatmon_list_alarms", {"limit": "3"})),
        (
            '!threatmon_request_takedown findingId=7 finding="two words"',
            ("threatmon_request_takedown", {"findingId": "7", "finding": "two words"}),
        ),
        ("!test-module", ("test-module", {})),
    ],
)
def test_parse_example(line, expected):
    assert parse_example(line) == expected


def test_an_argument_without_a_value_is_refused():
    with pytest.raises(ValueError, match="is not name=value"):
        parse_example("!threatmon_list_alarms 3")


@pytest.mark.parametrize("name", sorted(INTEGRATIONS))
def test_every_readme_example_is_a_command_example(name):
    readme = INTEGRATIONS[name] / "README.md"
    assert set(readme_examples(readme)) <= set(command_examples(INTEGRATIONS[name]))


@pytest.fixture(scope="module")
def sim():
    with Simulator(data_removal_path=DATA_REMOVAL_PATH, idle_timeout_s=60.0, max_lifetime_s=300.0) as running:
        yield running


def runner_for(name: str, sim: Simulator) -> IntegrationRunner:
    if name == "ThreatMon":
        params = {
            "url": sim.api_url,
            "credentials": {"identifier": "", "password": sim.api_key},
            "data_removal_path": DATA_REMOVAL_PATH,
        }
    else:
        params = {"url": sim.ioc_url, "credentials": {"identifier": "", "password": sim.ioc_token}}
    path = INTEGRATIONS[name] / f"{name}.py"
    return IntegrationRunner(path, params, instance_name=f"{name}_examples", sleep=lambda _seconds: None, http_timeout_cap=5.0)


@pytest.mark.parametrize(("name", "line"), EXAMPLES, ids=[line for _, line in EXAMPLES])
def test_the_example_runs_against_the_simulator(sim, name, line):
    command, args = parse_example(line)
    result = runner_for(name, sim).run(command, args)
    assert result.ok, f"{line} failed: {result.error}"
    assert result.entries, f"{line} returned nothing"
    assert all(entry.get("Type") != 4 for entry in result.entries)  # no error entry


def served_alarms(sim: Simulator) -> dict[int, dict]:
    """Every alarm the simulator serves, by code."""
    state = sim.state(include_requests=False)
    alarms = {}
    for code in range(state["first_code"], state["last_code"] + 1):
        try:
            alarms[code] = sim.alarm(code)
        except KeyError:  # codes grow with gaps
            continue
    return alarms


def test_the_alarm_codes_and_findings_of_the_readme_outputs_are_the_simulators(sim):
    text = (INTEGRATIONS["ThreatMon"] / "README.md").read_text(encoding="utf-8")
    codes = {int(next(filter(None, match.groups()))) for match in CODE_IN_OUTPUT.finditer(text)}
    findings = {int(next(filter(None, match.groups()))) for match in FINDING_IN_OUTPUT.finditer(text)}
    alarms = served_alarms(sim)
    assert codes and findings
    assert codes <= set(alarms)
    assert findings <= {alarm["findingId"] for alarm in alarms.values()}


def test_the_examples_name_alarms_and_findings_the_simulator_holds_of_a_kind_that_works(sim):
    alarms = served_alarms(sim)
    by_finding = {alarm["findingId"]: alarm for alarm in alarms.values()}
    eligible = {"threatmon_request_takedown": TAKEDOWN_ELIGIBLE, "threatmon_request_data_removal": DATA_REMOVAL_ELIGIBLE}
    for _, line in EXAMPLES:
        command, args = parse_example(line)
        if "alarmId" in args:
            assert all(int(code) in alarms for code in args["alarmId"].split(",")), line
        if "findingId" in args:
            alarm = by_finding.get(int(args["findingId"]))
            assert alarm is not None, line
            assert alarm["alarmType"] in eligible[command], f"{line}: {json.dumps(alarm)}"
