"""ThreatMon Threat Feed end to end: the integration file run by the local runner, through real HTTP, against the simulator.

The simulator knows the true kind of every record it serves (``Simulator.ioc_kinds``), so these tests compare
what the feed created with what it should have created, record by record.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from pathlib import Path

import pytest

from runner import IntegrationRunner
from simulator.faults import parse_fault
from simulator.server import Simulator

pytestmark = pytest.mark.e2e

FEED = Path(__file__).resolve().parents[2] / "Packs/ThreatMonThreatFeed/Integrations/ThreatMonThreatFeed/ThreatMonThreatFeed.py"
TYPE_OF_KIND = {
    "ipv4": "IP",
    "ipv4_port": "IP",
    "ipv6": "IPv6",
    "ipv6_port": "IPv6",
    "domain": "Domain",
    "url": "URL",
    "md5": "File",
    "sha1": "File",
    "sha256": "File",
}
HASH_LABEL = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256"}
FAST = 0.5  # every HTTP timeout capped (seconds) in the fault tests, so a "slow answer" costs half a second


class RecordingRunner(IntegrationRunner):
    """The runner, also recording every sleep asked for; ``batches`` are the sizes of every createIndicators call."""

    def __init__(self, *args, **kwargs):
        self.sleeps: list[float] = []
        super().__init__(*args, sleep=self.sleeps.append, **kwargs)

    @property
    def batches(self) -> list[int]:
        return [size for result in self.history for size in result.indicator_batches]


def feed_for(sim: Simulator, timeout_cap: float | None = None, **params) -> RecordingRunner:
    base = {
        "url": sim.ioc_url,
        "credentials": {"identifier": "", "password": sim.ioc_token},
        "data_type": "all",
        "limit": "500",
        "feedTags": "e2e",
        "tlp_color": "AMBER",
        "feedReliability": "B - Usually reliable",
        "feedIncremental": True,
        **params,
    }
    return RecordingRunner(FEED, base, http_timeout_cap=timeout_cap)


def expected_indicator(record: dict, kind: str) -> tuple[str, str]:
    """What the feed must make of a valid record, computed independently of the integration."""
    if kind.startswith("ipv"):
        raw = record.get("extracted_ip") or record["ioc_value"]
        if raw.startswith("["):
            raw = raw[1 : raw.index("]")]
        elif kind == "ipv4_port":
            raw = raw.rsplit(":", 1)[0]
        return TYPE_OF_KIND[kind], str(ipaddress.ip_address(raw))
    if kind in HASH_LABEL:
        return "File", record["ioc_value"].lower()
    return TYPE_OF_KIND[kind], record["ioc_value"]


def truth(sim: Simulator, records: list[dict] | None = None) -> set[tuple[str, str]]:
    records = sim.iocs() if records is None else records
    kinds = dict(zip(map(id, sim.iocs()), sim.ioc_kinds(), strict=True))
    return {expected_indicator(r, kinds[id(r)]) for r in records if kinds[id(r)] in TYPE_OF_KIND}


def made(result) -> set[tuple[str, str]]:
    return {(indicator["type"], indicator["value"]) for indicator in result.indicators}


def debug_line(result) -> str:
    lines = [text for level, text in result.logs if level == "debug" and "records received" in text]
    assert len(lines) == 1, result.logs
    return lines[0]


def test_fetch_creates_exactly_the_valid_records_with_their_types():
    with Simulator(iocs=600, seed=7) as sim:
        feed = feed_for(sim, limit="1000")
        result = feed.run("fetch-indicators")
        assert result.ok, result.error
        assert made(result) == truth(sim)
        kinds = Counter(sim.ioc_kinds())
        line = debug_line(result)
        assert f"{kinds['malformed']} malformed values skipped" in line
        assert f"{kinds['email'] + kinds['unknown']} unknown kinds skipped" in line
        assert "600 records received" in line


def test_indicators_carry_hash_kind_tags_tlp_and_the_record():
    with Simulator(iocs=300, seed=11) as sim:
        result = feed_for(sim).run("fetch-indicators")
        kinds = dict(zip(map(id, sim.iocs()), sim.ioc_kinds(), strict=True))
        by_value = {r["ioc_value"].lower(): kinds[id(r)] for r in sim.iocs() if isinstance(r["ioc_value"], str)}
        files = [i for i in result.indicators if i["type"] == "File"]
        assert files
        for indicator in files:
            kind = by_value[indicator["value"]]
            assert indicator["fields"]["hashtype"] == HASH_LABEL[kind]
            assert indicator["fields"][kind] == indicator["value"]
        for indicator in result.indicators:
            fields, record = indicator["fields"], indicator["rawJSON"]
            assert "e2e" in fields["tags"]
            tags = {tag.casefold() for tag in fields["tags"]}
            assert len(tags) == len(fields["tags"])  # tags that differ only in letter case are one tag
            assert {label.casefold() for label in (*record["categories"], *record["source"])} <= tags
            assert fields["trafficlightprotocol"] == "AMBER"
            assert fields["firstseenbysource"].endswith("Z")
            assert indicator["score"] in (0, 2, 3)
            assert ":" not in indicator["value"] or indicator["type"] in ("IPv6", "URL")


def test_incremental_runs_send_only_what_is_new():
    with Simulator(iocs=400, seed=3) as sim:
        feed = feed_for(sim)
        first = feed.run("fetch-indicators")
        assert made(first) == truth(sim)
        assert feed.run("fetch-indicators").indicators == []
        before = {id(r) for r in sim.iocs()}
        sim.add_iocs(60)
        fresh = [r for r in sim.iocs() if id(r) not in before]
        third = feed.run("fetch-indicators")
        assert made(third) == truth(sim, fresh)
        assert "400 not newer than the last run" in debug_line(third)
        assert feed.run("fetch-indicators").indicators == []


def test_an_instance_upgraded_from_1x_continues_without_re_ingesting():
    with Simulator(iocs=400, seed=5) as sim:
        created = sorted(record["created_at"] for record in sim.iocs())
        position = created[len(created) // 2]  # 1.0.1 saved the created_at text of the newest record it sent
        feed = feed_for(sim, limit="1000")
        feed.last_run = {"last_timestamp": position}
        result = feed.run("fetch-indicators")
        assert result.ok, result.error
        assert made(result) == truth(sim, [record for record in sim.iocs() if record["created_at"] >= position])
        assert "continuing from the position of ThreatMon Threat Feed 1.0.x" in debug_line(result)
        assert made(feed.run("fetch-indicators")) == set()


def test_records_go_to_the_server_in_batches_of_2000():
    with Simulator(iocs=4500, seed=5, ioc_noise=False) as sim:
        feed = feed_for(sim, limit="5000")
        result = feed.run("fetch-indicators")
        assert result.ok
        assert feed.batches[:2] == [2000, 2000]
        assert sum(feed.batches) == len(result.indicators) == len(truth(sim))
        assert all(size <= 2000 for size in feed.batches)


@pytest.mark.parametrize("data_type, types", [("ip", {"IP", "IPv6"}), ("domain", {"Domain"}), ("url", {"URL"})])
def test_data_type_is_asked_of_threatmon(data_type, types):
    with Simulator(iocs=300, seed=9) as sim:
        result = feed_for(sim, data_type=data_type).run("fetch-indicators")
        assert result.indicators
        assert {indicator["type"] for indicator in result.indicators} <= types
        assert sim.requests[-1]["query"]["data_type"] == data_type


def test_collection_ids_are_sent_comma_separated():
    with Simulator(iocs=200, seed=9) as sim:
        feed_for(sim, collection_ids="c2-servers, phishing").run("fetch-indicators")
        assert sim.requests[-1]["query"]["collection_id"] == "c2-servers,phishing"


def test_get_indicators_shows_a_sample_and_changes_nothing():
    with Simulator(iocs=100, seed=2) as sim:
        feed = feed_for(sim)
        result = feed.run("threatmon-get-indicators", {"limit": "8"})
        assert result.ok, result.error
        assert result.indicators == [] and feed.batches == []
        assert not result.last_run_set
        rows = result.context["ThreatMon.Indicator(val.Value && val.Value == obj.Value)"]
        assert 0 < len(rows) <= 8
        assert "nothing created" in result.readable
        assert sim.requests[-1]["query"]["size"] == "8"


def test_test_module_is_ok():
    with Simulator(iocs=10) as sim:
        result = feed_for(sim).run("test-module")
        assert result.ok, result.error
        assert result.readable == "ok"


@pytest.mark.parametrize(
    "knobs, params, fragment",
    [
        ({}, {"credentials": {"identifier": "", "password": "wrong-token"}}, "ThreatMon refused the API token (HTTP 401;"),
        ({"refuse_ip": True}, {}, "ThreatMon has allow-listed the public IP address of this XSOAR server or engine"),
        ({}, {"url": "{url}/some/other/path"}, "/some/other/path/api/daily-ioc-details/ (ThreatMon said: "),
        ({"faults": [parse_fault("*=503,times=9")]}, {}, "unavailable or failing (HTTP 503"),
        ({"faults": [parse_fault("*=html:502,times=9")]}, {}, "unavailable or failing (HTTP 502"),
        ({"faults": [parse_fault("*=html,times=9")]}, {}, "not the expected JSON"),
    ],
)
def test_test_module_failures_are_errors_with_a_sentence(knobs, params, fragment):
    with Simulator(iocs=10, **knobs) as sim:
        params = {k: (v.format(url=sim.ioc_url) if isinstance(v, str) else v) for k, v in params.items()}
        feed = feed_for(sim, **params)
        result = feed.run("test-module")
        assert not result.ok
        assert result.readable != "ok"
        assert fragment in result.error
        assert sim.ioc_token not in result.everything_as_text()


def test_test_module_names_a_refused_connection():
    url = "http://127.0.0.1:9"  # discard: below the ephemeral range, so no other test's socket is there
    feed = RecordingRunner(FEED, {"url": url, "credentials": {"password": "whatever-token"}}, http_timeout_cap=FAST)
    result = feed.run("test-module")
    assert "the connection was refused" in result.error
    assert len(feed.sleeps) == 3  # retried with backoff, never really sleeping
    assert "whatever-token" not in result.everything_as_text()


@pytest.mark.parametrize(
    "spec",
    ["503,retry-after=0", "429,retry-after=0", "truncated", "empty", "html", "html:502", "drop", "reset", "slow:1"],
)
def test_fetch_recovers_from_each_fault_kind(spec):
    with Simulator(iocs=150, seed=4, faults=[parse_fault(f"/api/daily-ioc-details/={spec},times=2")]) as sim:
        # the cap only where the fault is a slow answer: elsewhere a sound answer held up on a loaded machine
        # would time out too, and be one more retry than the two faults
        feed = feed_for(sim, timeout_cap=FAST if spec.startswith("slow") else None)
        result = feed.run("fetch-indicators")
        assert result.ok, result.error
        assert made(result) == truth(sim)
        assert len(feed.sleeps) == 2
        assert all(0 <= seconds <= 4 for seconds in feed.sleeps)
        assert sim.ioc_token not in result.everything_as_text()


def test_a_persistent_fault_fails_the_fetch_and_keeps_the_state():
    with Simulator(iocs=50, seed=4) as sim:
        feed = feed_for(sim)
        feed.run("fetch-indicators")
        kept = feed.last_run
        sim.faults.add("*=503,times=99")
        result = feed.run("fetch-indicators")
        assert not result.ok
        assert "Gave up after 4 attempts." in result.error
        assert feed.last_run == kept
        assert feed.sleeps == [2.0, 4.0, 8.0]


def test_the_token_never_appears_anywhere():
    token = "tok-" + "Z9" * 10
    with Simulator(iocs=120, ioc_token=token, faults=[parse_fault("*=503,retry-after=0")]) as sim:
        feed = feed_for(sim)
        runs = [feed.run("test-module"), feed.run("fetch-indicators"), feed.run("threatmon-get-indicators", {"limit": "3"})]
        wrong = feed_for(sim, credentials={"identifier": "", "password": token + "x"}).run("fetch-indicators")
        for result in [*runs, wrong]:
            text = result.everything_as_text()
            assert token not in text
            assert not re.search(r"api_token=(?!<redacted>)", text)
        assert wrong.error and "refused the API token" in wrong.error
