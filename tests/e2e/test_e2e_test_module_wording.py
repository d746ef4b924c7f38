"""Both integrations word a failed Test the same way: "Failed to execute test-module: <one sentence>.", the sentence
built the same way for the same cause, only the credential and the host differing."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner import IntegrationRunner

REPO_ROOT = Path(__file__).resolve().parents[2]
THREATMON = REPO_ROOT / "Packs/ThreatMon/Integrations/ThreatMon/ThreatMon.py"
FEED = REPO_ROOT / "Packs/ThreatMonThreatFeed/Integrations/ThreatMonThreatFeed/ThreatMonThreatFeed.py"
CLOSED_PORT_URL = "http://127.0.0.1:9"  # nothing listens on the discard port: the connection is refused


def error_of_test(integration, params: dict, no_sleep) -> str:
    result = IntegrationRunner(integration, params, sleep=no_sleep, http_timeout_cap=1).run("test-module")
    assert result.error is not None
    return result.error


def both(make_sim, no_sleep, change) -> tuple[str, str]:
    """The Test error of each integration with the same change to a working instance's parameters."""
    sim = make_sim(alarms=1)
    alarm = {"url": sim.api_url, "credentials": sim.api_key}
    feed = {"url": sim.url, "credentials": sim.ioc_token}
    return error_of_test(THREATMON, change(alarm), no_sleep), error_of_test(FEED, change(feed), no_sleep)


@pytest.mark.parametrize(
    ("cause", "change", "alarm_start", "feed_start", "same_end"),
    [
        (
            "a refused credential",
            lambda params: {**params, "credentials": "not-the-key"},
            "ThreatMon refused the API key (HTTP 401; ",
            "ThreatMon refused the API token (HTTP 401; ",
            "ThreatMon has allow-listed the public IP address of this XSOAR server or engine.",
        ),
        (
            "an empty credential",
            lambda params: {**params, "credentials": ""},
            "API Key (credentials) is empty: paste the company API key issued by ThreatMon.",
            "API Token (credentials) is empty: paste the IOC API token issued by ThreatMon.",
            " issued by ThreatMon.",
        ),
        (
            "an unreachable host",
            lambda params: {**params, "url": CLOSED_PORT_URL},
            f"Could not reach ThreatMon at {CLOSED_PORT_URL}",
            f"Could not reach ThreatMon at {CLOSED_PORT_URL}",
            ": the connection was refused (ConnectionError); check the Server URL, DNS and the firewall or proxy between "
            "XSOAR and ThreatMon. Gave up after 4 attempts.",
        ),
    ],
)
def test_a_failed_test_reads_the_same_in_both_integrations(make_sim, no_sleep, cause, change, alarm_start, feed_start, same_end):
    alarm, feed = both(make_sim, no_sleep, change)
    for error, start in ((alarm, alarm_start), (feed, feed_start)):
        assert error.startswith(f"Failed to execute test-module: {start}"), (cause, error)
        assert error.endswith(same_end), (cause, error)
        assert error.count("Failed to execute") == 1
