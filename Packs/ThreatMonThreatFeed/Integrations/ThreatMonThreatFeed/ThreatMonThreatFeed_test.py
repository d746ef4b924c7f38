"""Unit tests of ThreatMonThreatFeed: HTTP stubbed with requests_mock, API answers under test_data/."""

import contextlib
import io
import json
import os
import re
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

import CommonServerPython
import demistomock as demisto
import pytest
import requests
import requests_mock as requests_mock_module
import ThreatMonApiModule
import ThreatMonThreatFeed as feed
import yaml

BASE = "https://ioc.threatmonit.io"
ENDPOINT = f"{BASE}/api/daily-ioc-details/"
TOKEN = "tm-Secret+Token/42="  # has characters that URL-encoding changes
TEST_DATA = Path(__file__).parent / "test_data"


class FakeClock:
    """A monotonic clock, a wall clock and a sleep for a client under test: sleeping only moves the clock."""

    def __init__(self, now: float = 1000.0):
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_741_000_000.0 + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        """Time that passes without the client sleeping (a slow answer)."""
        self.now += seconds


def load(name: str):
    return json.loads((TEST_DATA / name).read_text())


@pytest.fixture
def fake_time():
    return FakeClock()


@pytest.fixture
def client(fake_time):
    return feed.Client(BASE, TOKEN, verify=True, proxy=False, sleep=fake_time.sleep, clock=fake_time.clock)


def settings(**overrides) -> feed.FeedSettings:
    return feed.FeedSettings(**overrides)


def record(value, ioc_type="ip", **extra) -> dict:
    return {"ioc_value": value, "ioc_type": ioc_type, **extra}


def only(items):
    (item,) = items
    return item


def typed(rec: dict) -> tuple:
    """(result, counters touched) of the type check of one record."""
    stats = feed.RunStats()
    result = feed.IndicatorBuilder(settings(), stats).typed_value(rec)
    return result, dict(stats.malformed), dict(stats.unknown)


# --- type detection ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rec, expected",
    [
        (record("203.0.113.5"), ("IP", "203.0.113.5")),
        (record("203.0.113.5:8080"), ("IP", "203.0.113.5")),
        (record("203.0.113.5:8080", extracted_ip="203.0.113.5"), ("IP", "203.0.113.5")),
        (record("203.0.113.5:8080", extracted_ip="not-an-ip"), ("IP", "203.0.113.5")),
        (record("", extracted_ip="203.0.113.9"), ("IP", "203.0.113.9")),
        (record("2001:db8:85a3::8a2e:370:7334"), ("IPv6", "2001:db8:85a3::8a2e:370:7334")),
        (record("2001:0DB8:0000:0000:0000:0000:0000:0001", "ipv6"), ("IPv6", "2001:db8::1")),
        (record("[2001:db8::1]:443"), ("IPv6", "2001:db8::1")),
        (record("[2001:db8::1]"), ("IPv6", "2001:db8::1")),
        (record("198.51.100.0/24", "ip"), ("CIDR", "198.51.100.0/24")),
        (record("2001:db8::/32", "IPv6"), ("IPv6CIDR", "2001:db8::/32")),
        (record("203.0.113[.]5", "IPv4"), ("IP", "203.0.113.5")),
        (record("Login-ExampleBank.COM.", "domain"), ("Domain", "login-examplebank.com")),
        (record("xn--exmple-cua.com", "domain"), ("Domain", "xn--exmple-cua.com")),
        (record("exämple.com", "domain"), ("Domain", "exämple.com")),
        (record("*.bad-cdn.example.net", "domain"), ("DomainGlob", "*.bad-cdn.example.net")),
        (record("bad-cdn[.]example[.]net", "Domain Name"), ("Domain", "bad-cdn.example.net")),
        (record("http://login-examplebank.com/a?b=1", "url"), ("URL", "http://login-examplebank.com/a?b=1")),
        (record("hxxps://bad[.]example[.]com/x", "url"), ("URL", "https://bad.example.com/x")),
        (record("bad.example.com/download.exe", "URL"), ("URL", "bad.example.com/download.exe")),
        (record("http://[2001:db8::1]:8080/x", "url"), ("URL", "http://[2001:db8::1]:8080/x")),
        (record("http://203.0.113.5/gate.php", "uri"), ("URL", "http://203.0.113.5/gate.php")),
        (record("44D88612FEA8A8F36DE82E1278ABB02F", "hash"), ("File", "44d88612fea8a8f36de82e1278abb02f")),
        (record("3395856ce81f2b7382dee72602f798b642f14140", "file"), ("File", "3395856ce81f2b7382dee72602f798b642f14140")),
        (
            record("275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", "FileHash-SHA256"),
            ("File", "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"),
        ),
        (record("a" * 128, "sha512"), ("File", "a" * 128)),
        # cleaned like a port: a zone id is dropped, an IPv4-mapped IPv6 address is its IPv4 address
        (record("fe80::1%eth0", "ipv6"), ("IPv6", "fe80::1")),
        (record("[fe80::1%25eth0]:443"), ("IPv6", "fe80::1")),
        (record("::ffff:192.0.2.1"), ("IP", "192.0.2.1")),
        (record("[::ffff:c000:201]:80", "ipv6"), ("IP", "192.0.2.1")),
        (record("http://bad.example.com.:8080/x", "url"), ("URL", "http://bad.example.com.:8080/x")),
    ],
)
def test_valid_values_get_their_indicator_type(rec, expected):
    result, malformed, unknown = typed(rec)
    assert result == expected
    assert malformed == {} and unknown == {}


@pytest.mark.parametrize(
    "rec, kind",
    [
        (record("999.1.2.3"), "ip"),
        (record("1.2.3.4:99999"), "ip"),
        (record("01.2.3.4"), "ip"),
        (record("[2001:db8::1"), "ip"),
        (record("[2001:db8::1]:http"), "ip"),
        (record("198.51.100.1/24"), "ip"),
        (record(""), "ip"),
        (record("-not-a-domain-.com", "domain"), "domain"),
        (record("exa mple.com", "domain"), "domain"),
        (record("localhost", "domain"), "domain"),
        (record("example.c0m", "domain"), "domain"),
        (record("a" * 64 + ".com", "domain"), "domain"),
        (record("", "domain"), "domain"),
        (record("exä..com", "domain"), "domain"),
        (record("http://", "url"), "url"),
        (record("http://exa mple.com/", "url"), "url"),
        (record("http://example.com:99999/", "url"), "url"),
        (record("1http://example.com/", "url"), "url"),
        (record("http://not_a_host/", "url"), "url"),
        (record("not-a-hash", "hash"), "file"),
        (record("a" * 33, "md5"), "file"),
        (record("g" * 32, "hash"), "file"),
        (record(12345, "ip"), "ip"),
        (record("no type and no shape", None), "untyped"),
        # look-alikes and hidden characters are never sent as indicators
        (record("\uff11.\uff12.\uff13.\uff14"), "ip"),  # fullwidth digits
        (record("\uff11.\uff12.\uff13.\uff14:80"), "ip"),
        (record("exa\u200bmple.com", "domain"), "domain"),  # zero-width space
        (record("\uff45vil.com", "domain"), "domain"),  # fullwidth letter
        (record("http://bad.example.com/\x00", "url"), "url"),
        (record("http://bad.example.com/\x7f", "url"), "url"),
        (record("phisher@bad-mail.example", "url"), "url"),  # an e-mail address, not a URL
        (record("mailto:phisher@bad-mail.example", "url"), "url"),
    ],
)
def test_malformed_values_are_skipped_and_counted_by_kind(rec, kind):
    result, malformed, unknown = typed(rec)
    assert result is None
    assert malformed == {kind: 1}
    assert unknown == {}


@pytest.mark.parametrize(
    "rec, name",
    [
        (record("phisher@bad-mail.example", "email"), "email"),
        (record("phisher@bad-mail.example", "E-Mail Address"), "e-mail address"),
        (record("CVE-2024-3400", "cve"), "cve"),
        (record("AS64500", "asn"), "asn"),
        (record("203.0.113.5", 7), "7"),
        (record("phisher@bad-mail.example", None), "email (untyped)"),
    ],
)
def test_unknown_kinds_are_skipped_and_counted_by_name(rec, name):
    result, malformed, unknown = typed(rec)
    assert result is None
    assert unknown == {name: 1}
    assert malformed == {}


@pytest.mark.parametrize(
    "value, expected",
    [
        ("203.0.113.7", ("IP", "203.0.113.7")),
        ("[2001:db8::5]:443", ("IPv6", "2001:db8::5")),
        ("e99a18c428cb38d5f260853678922e03", ("File", "e99a18c428cb38d5f260853678922e03")),
        ("https://bad.example.com/x", ("URL", "https://bad.example.com/x")),
        ("bad.example.com", ("Domain", "bad.example.com")),
    ],
)
def test_records_without_ioc_type_are_typed_from_the_value(value, expected):
    assert typed({"ioc_value": value})[0] == expected


@pytest.mark.parametrize(
    "ioc_type, kind",
    [
        ("ip", "ip"),
        ("IPv4", "ip"),
        ("ip:port", "ip"),
        ("IP Address", "ip"),
        ("ipv6_address", "ip"),
        ("domain", "domain"),
        ("Domain Name", "domain"),
        ("hostname", "domain"),
        ("sub-domain", "domain"),
        ("malicious_domain", "domain"),
        ("ipv4_with_port", "ip"),
        ("URL", "url"),
        ("malicious_url", "url"),
        ("file", "file"),
        ("hash", "file"),
        ("FileHash-MD5", "file"),
        ("SHA-256", "file"),
        ("", ""),
        ("email", None),
        ("cve", None),
        ("mutex", None),
    ],
)
def test_ioc_type_is_matched_loosely(ioc_type, kind):
    assert feed.kind_of(ioc_type) == kind


@pytest.mark.parametrize(
    "value, field, label",
    [
        ("44d88612fea8a8f36de82e1278abb02f", "md5", "MD5"),
        ("3395856ce81f2b7382dee72602f798b642f14140", "sha1", "SHA-1"),
        ("275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", "sha256", "SHA-256"),
        ("b" * 128, "sha512", "SHA-512"),
    ],
)
def test_file_indicators_record_the_hash_kind(value, field, label):
    indicators = list(feed.build_indicators([record(value, "hash")], settings(), feed.RunStats()))
    assert indicators[0]["type"] == "File"
    assert indicators[0]["fields"][field] == value
    assert indicators[0]["fields"]["hashtype"] == label


# --- indicator fields -------------------------------------------------------------------------------------


def test_indicator_carries_fields_and_the_record_as_raw_json():
    rec = load("iocs_mixed.json")["iocs"][0]
    indicator = only(feed.build_indicators([rec], settings(feed_tags=("c2", "watchlist"), tlp_color="AMBER"), feed.RunStats()))
    assert indicator["rawJSON"] is rec
    assert indicator["value"] == "203.0.113.5"
    fields = indicator["fields"]
    assert fields["tags"] == ["c2", "cobalt-strike", "botnet", "ThreatMon Honeypot", "abuse.ch", "ThreatMon", "watchlist"]
    assert fields["trafficlightprotocol"] == "AMBER"
    assert fields["confidence"] == 90
    assert fields["severity"] == "High"
    assert fields["firstseenbysource"] == "2024-05-01T09:58:00Z"
    assert fields["lastseenbysource"] == "2024-05-01T10:00:00Z"
    for fragment in (
        "listed as 203.0.113.5:8080",
        "severity: High",
        "confidence: 90",
        "ISP: Example Hosting Ltd",
        "ThreatMon score: 88",
        "location: NL",
    ):
        assert fragment in fields["description"]


def test_indicator_without_optional_data_has_no_empty_fields():
    indicator = only(feed.build_indicators([record("192.0.2.1")], settings(), feed.RunStats()))
    assert indicator["fields"] == {"tags": ["ThreatMon"], "description": "ThreatMon IOC (ip)"}


def test_description_flattens_lists_and_objects():
    rec = record(
        "bad.example.com",
        "domain",
        resolved_ips=["192.0.2.1", "192.0.2.2"],
        geo_location={"country": "TR", "city": None},
        status=[None, ""],
    )
    description = only(feed.build_indicators([rec], settings(), feed.RunStats()))["fields"]["description"]
    assert "status" not in description
    assert "resolved IPs: 192.0.2.1, 192.0.2.2" in description
    assert "location: country: TR" in description


def test_tags_drop_blanks_and_accept_single_strings():
    rec = record("192.0.2.1", tags=["c2", " ", None, "c2"], categories="botnet", source=["abuse.ch", ""])
    indicator = only(feed.build_indicators([rec], settings(feed_tags=("botnet",)), feed.RunStats()))
    assert indicator["fields"]["tags"] == ["c2", "botnet", "abuse.ch", "ThreatMon"]


def test_tags_differing_only_in_letter_case_are_one_tag_spelt_as_first_seen():
    first = record("192.0.2.1", tags=["Phishing", "c2"], categories=["PHISHING"], source=["abuse.ch"])
    second = record("192.0.2.1", tags=["C2", "phishing", "Abuse.CH", "new"])
    indicator = only(feed.build_indicators([first, second], settings(), feed.RunStats()))
    assert indicator["fields"]["tags"] == ["Phishing", "c2", "abuse.ch", "new", "ThreatMon"]


def test_the_instance_tags_keep_the_instance_spelling():
    rec = record("192.0.2.1", tags=["threatmon", "WATCHLIST", "c2"])
    indicator = only(feed.build_indicators([rec], settings(feed_tags=("Watchlist",)), feed.RunStats()))
    assert indicator["fields"]["tags"] == ["ThreatMon", "Watchlist", "c2"]


def test_the_tags_setting_merges_letter_case_repeats():
    assert feed.parse_settings({"feedTags": "Watchlist, watchlist,C2 ,WATCHLIST"}).feed_tags == ("Watchlist", "C2")


@pytest.mark.parametrize("listed", [[], ["ThreatMon"], ["threatmon-lab", "ThreatMon"]])
def test_every_indicator_is_tagged_threatmon_once_as_the_1x_feed_did(listed):
    rec = record("192.0.2.1", tags=listed)
    tags = only(feed.build_indicators([rec], settings(feed_tags=("ThreatMon",)), feed.RunStats()))["fields"]["tags"]
    assert tags.count("ThreatMon") == 1
    assert set(tags) == {*listed, "ThreatMon"}


@pytest.mark.parametrize(
    "reputation, severity, expected",
    [
        (None, "Critical", 3),
        (None, "high", 3),
        (None, "Medium", 2),
        (None, "Low", 2),
        (None, "Information", 0),
        (None, None, 0),
        (None, "weird", 0),
        (3, "Low", 3),
        (1, "Critical", 1),
        (0, "High", 0),
    ],
)
def test_score_follows_the_reputation_setting_else_the_severity(reputation, severity, expected):
    rec = record("192.0.2.1", severity=severity)
    assert only(feed.build_indicators([rec], settings(reputation_score=reputation), feed.RunStats()))["score"] == expected


def test_repeats_of_a_value_in_one_answer_are_merged():
    first = record("198.51.100.10:80", tags=["c2"], severity="High", timestamp="2024-05-01T08:00:00Z")
    second = record("198.51.100.10:443", tags=["https"], severity="Low", timestamp="2024-05-01T09:00:00Z")
    older = record("198.51.100.10", tags=["old"], severity="Low", timestamp="2024-04-30T09:00:00Z")
    stats = feed.RunStats()
    indicators = list(feed.build_indicators([first, second, older], settings(), stats))
    assert len(indicators) == 1
    merged = indicators[0]
    assert merged["rawJSON"] is second
    assert merged["fields"]["tags"] == ["c2", "https", "old", "ThreatMon"]
    assert merged["fields"]["firstseenbysource"] == "2024-04-30T09:00:00Z"
    assert merged["fields"]["lastseenbysource"] == "2024-05-01T09:00:00Z"
    assert merged["score"] == 3
    assert stats.duplicates == 2
    assert stats.built == {"IP": 1}


def test_untimed_repeats_keep_the_first_record_and_have_no_seen_dates():
    first, second = record("192.0.2.8", tags=["a"]), record("192.0.2.8", tags=["b"])
    indicators = list(feed.build_indicators([first, second], settings(), feed.RunStats()))
    assert len(indicators) == 1
    assert indicators[0]["rawJSON"] is first
    assert indicators[0]["fields"]["tags"] == ["a", "b", "ThreatMon"]
    assert "firstseenbysource" not in indicators[0]["fields"]


# --- timestamps and the incremental watermark -------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T13:00:00+03:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01 10:00:00 UTC", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        ("2024-05-01T10:00:00.250000Z", datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=UTC)),
        (1714557600, datetime(2024, 5, 1, 10, tzinfo=UTC)),
        (1714557600000, datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("1714557600", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        (1714557600.5, datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("01/05/2024", None),
        ("yesterday", None),
        ("", None),
        (None, None),
        (True, None),
        (-5, None),
        ("0", None),
        (1e30, None),
        ("2999-01-01T00:00:00Z", None),  # far in the future: not usable
        (32503680000, None),
        (["2024-05-01"], None),
    ],
)
def test_timestamps_parse_to_utc_or_none(value, expected):
    assert feed.usable_time(value) == expected


def test_record_time_is_the_newest_of_its_timestamps():
    rec = {"timestamp": "2024-05-01T10:00:00Z", "created_at": "2024-04-01T00:00:00Z", "updated_at": "2024-05-02T00:00:00Z"}
    moment, first, last = feed.record_times(rec)
    assert moment == last == datetime(2024, 5, 2, tzinfo=UTC)
    assert first == datetime(2024, 4, 1, tzinfo=UTC)


def fetch(requests_mock, client, answer: str, last_run: dict, **overrides):
    requests_mock.get(ENDPOINT, json=load(answer))
    next_run, indicators = feed.fetch_indicators(client, last_run, settings(**overrides))
    return next_run, list(indicators)


def values(indicators) -> list[str]:
    return sorted(indicator["value"] for indicator in indicators)


def test_first_run_sends_every_valid_record_and_keeps_the_newest_time(requests_mock, client):
    next_run, indicators = fetch(requests_mock, client, "iocs_run1.json", {})
    assert values(indicators) == [
        "198.51.100.10",
        "bad-cdn.example.net",
        "https://bad-cdn.example.net/payload.bin",
        "no-time.example.com",
    ]
    assert next_run["last_timestamp"] == "2024-05-01T10:00:00Z"
    assert len(next_run["seen_at_last_timestamp"]) == 2  # the URL and the malformed record share that time


def test_next_run_sends_only_newer_records_untimed_ones_and_late_arrivals_at_the_same_time(requests_mock, client):
    last_run, _ = fetch(requests_mock, client, "iocs_run1.json", {})
    next_run, indicators = fetch(requests_mock, client, "iocs_run2.json", last_run)
    assert values(indicators) == [
        "198.51.100.10",
        "e99a18c428cb38d5f260853678922e03",
        "late-arrival.example.org",
        "no-time.example.com",
    ]
    assert next_run == {
        "last_timestamp": "2024-05-02T08:00:00Z",
        "seen_at_last_timestamp": [feed.record_digest(load("iocs_run2.json")["iocs"][7])],
    }


def test_a_run_with_nothing_new_sends_only_untimed_records_and_keeps_the_state(requests_mock, client):
    last_run, _ = fetch(requests_mock, client, "iocs_run1.json", {})
    next_run, indicators = fetch(requests_mock, client, "iocs_run1.json", last_run)
    assert values(indicators) == ["no-time.example.com"]
    assert next_run == last_run


def test_a_far_future_time_does_not_hold_back_later_runs(requests_mock, client):
    last_run, indicators = fetch(requests_mock, client, "iocs_far_future.json", {})
    assert values(indicators) == ["198.51.100.10", "future.example.com"]  # the bad time makes it untimed, not lost
    assert last_run["last_timestamp"] == "2024-05-01T10:00:00Z"
    requests_mock.get(ENDPOINT, json={"iocs": [record("late.example.com", "domain", timestamp="2024-05-02T00:00:00Z")]})
    assert values(feed.fetch_indicators(client, last_run, settings())[1]) == ["late.example.com"]


def test_the_same_daily_value_republished_later_is_sent_again(requests_mock, client):
    last_run, _ = fetch(requests_mock, client, "iocs_run1.json", {})
    republished = dict(load("iocs_run1.json")["iocs"][0], timestamp="2024-05-02T08:00:00Z")
    requests_mock.get(ENDPOINT, json={"iocs": [republished]})
    indicators = list(feed.fetch_indicators(client, last_run, settings())[1])
    assert values(indicators) == ["198.51.100.10"]


def test_state_of_the_1x_feed_is_honoured_and_records_at_its_time_are_sent_again(requests_mock, client):
    _, indicators = fetch(requests_mock, client, "iocs_run2.json", {"last_timestamp": "2024-05-01T10:00:00Z"})
    assert values(indicators) == [
        "198.51.100.10",
        "e99a18c428cb38d5f260853678922e03",
        "https://bad-cdn.example.net/payload.bin",
        "late-arrival.example.org",
        "no-time.example.com",
    ]


# --- upgrade from ThreatMon Threat Feed 1.0.x: lastRun {"last_timestamp": <created_at text of the newest record>}

UPGRADE_T = "2024-05-01T10:00:00Z"
SENT_AFTER_UPGRADE = [  # created at or after T, or with no usable time at all
    "198.51.100.21",
    "at-t.example.com",
    "damaged-created.example.com",
    "naive-new.example.com",
    "new.example.com",
    "untimed.example.com",
]
ALL_UPGRADE_RECORDS = 11


def test_upgrade_from_1x_skips_every_record_created_before_its_position(requests_mock, client):
    _, indicators = fetch(requests_mock, client, "iocs_after_1x_upgrade.json", {"last_timestamp": UPGRADE_T})
    # skipped: created before T although updated after it, a timestamp-only record before T, created_at empty or
    # unparsable (the next time decides), an offset time before T, an epoch created_at before T
    assert values(indicators) == SENT_AFTER_UPGRADE


def test_the_run_after_the_upgrade_sends_nothing_created_before_the_1x_position(requests_mock, client):
    next_run, _ = fetch(requests_mock, client, "iocs_after_1x_upgrade.json", {"last_timestamp": UPGRADE_T})
    # the records skipped as old count as seen: the newest of them (updated 2024-05-02) becomes the position
    assert next_run == {
        "last_timestamp": "2024-05-02T00:00:00Z",
        "seen_at_last_timestamp": [feed.record_digest(load("iocs_after_1x_upgrade.json")["iocs"][10])],
    }
    _, indicators = fetch(requests_mock, client, "iocs_after_1x_upgrade.json", next_run)
    assert values(indicators) == ["untimed.example.com"]


@pytest.mark.parametrize(
    "position",
    [
        "2024-05-01T10:00:00Z",
        "2024-05-01T10:00:00",
        "2024-05-01 10:00:00",
        "2024-05-01T10:00:00.000000",
        "2024-05-01T10:00:00.000+00:00",
        "2024-05-01T13:00:00+03:00",
        "2024-05-01T05:00:00-05:00",
        "2024-05-01 10:00:00 UTC",
        " 2024-05-01T10:00:00Z\n",
        "1714557600",
        "1714557600000",
        1714557600,
        1714557600000,
        1714557600.0,
    ],
)
def test_the_1x_position_is_read_in_every_time_format_it_may_hold(requests_mock, client, position):
    _, indicators = fetch(requests_mock, client, "iocs_after_1x_upgrade.json", {"last_timestamp": position})
    assert values(indicators) == SENT_AFTER_UPGRADE


@pytest.mark.parametrize(
    "position",
    ["", "   ", None, "garbage", "01/05/2024", "0", 0, -1, True, [], {}, [UPGRADE_T], {"t": UPGRADE_T}, "2999-01-01T00:00:00Z"],
)
def test_a_damaged_1x_position_is_no_position_and_the_run_is_a_first_run(requests_mock, client, position):
    next_run, indicators = fetch(requests_mock, client, "iocs_after_1x_upgrade.json", {"last_timestamp": position})
    assert len(indicators) == ALL_UPGRADE_RECORDS  # nothing is lost; the server merges values it already has
    assert next_run["last_timestamp"] == "2024-05-02T00:00:00Z"
    assert "seen_at_last_timestamp" in next_run  # written in this version's format from now on


def test_other_keys_beside_the_1x_position_do_not_hide_it(requests_mock, client):
    _, indicators = fetch(requests_mock, client, "iocs_after_1x_upgrade.json", {"last_timestamp": UPGRADE_T, "other": 1})
    assert values(indicators) == SENT_AFTER_UPGRADE


@pytest.mark.parametrize("answer", [{"iocs": []}, {"iocs": [record("untimed.example.com", "domain")]}])
def test_a_first_run_after_the_upgrade_with_nothing_to_place_keeps_the_1x_position(requests_mock, client, answer):
    requests_mock.get(ENDPOINT, json=answer)
    next_run, _ = feed.fetch_indicators(client, {"last_timestamp": "2024-05-01 10:00:00"}, settings())
    assert next_run == {"last_timestamp": UPGRADE_T}  # still read as 1.0.x's position by the next run
    _, indicators = fetch(requests_mock, client, "iocs_after_1x_upgrade.json", next_run)
    assert values(indicators) == SENT_AFTER_UPGRADE


def test_our_own_state_is_not_mistaken_for_the_1x_position(requests_mock, client):
    # the same time in this version's format: records are placed by their newest time, not their creation
    own = {"last_timestamp": UPGRADE_T, "seen_at_last_timestamp": []}
    _, indicators = fetch(requests_mock, client, "iocs_after_1x_upgrade.json", own)
    assert "old-created.example.com" in values(indicators)  # updated after T: published again, sent again
    assert "44d88612fea8a8f36de82e1278abb02f" in values(indicators)


def test_the_debug_line_says_the_run_continues_from_the_1x_position(requests_mock, client, monkeypatch):
    lines: list[str] = []
    monkeypatch.setattr(demisto, "debug", lambda msg, *args: lines.append(msg))
    fetch(requests_mock, client, "iocs_after_1x_upgrade.json", {"last_timestamp": "2024-05-01 10:00:00"})
    assert len(lines) == 1
    assert "5 not newer than the last run" in lines[0]
    assert "continuing from the position of ThreatMon Threat Feed 1.0.x (records created before 2024-05-01T10:00:00Z" in lines[0]


def test_not_incremental_ignores_the_1x_position(requests_mock, client):
    _, indicators = fetch(requests_mock, client, "iocs_after_1x_upgrade.json", {"last_timestamp": UPGRADE_T}, incremental=False)
    assert len(indicators) == ALL_UPGRADE_RECORDS


@pytest.mark.parametrize("last_run", [{}, {"lastRun": "2018-10-24T14:13:20+00:00"}, {"last_timestamp": "garbage"}, None])
def test_missing_or_foreign_state_means_a_first_run(requests_mock, client, last_run):
    _, indicators = fetch(requests_mock, client, "iocs_run1.json", last_run)
    assert len(indicators) == 4


def test_too_many_records_at_the_newest_time_are_sent_again_rather_than_lost(requests_mock, client, monkeypatch):
    monkeypatch.setattr(feed, "MAX_TIE_DIGESTS", 2)
    same_time = [record(f"192.0.2.{n}", timestamp="2024-05-01T10:00:00Z") for n in range(1, 4)]
    requests_mock.get(ENDPOINT, json={"iocs": same_time})
    last_run, _ = feed.fetch_indicators(client, {}, settings())
    assert last_run == {"last_timestamp": "2024-05-01T10:00:00Z", "seen_at_last_timestamp": None}
    indicators = list(feed.fetch_indicators(client, last_run, settings())[1])
    assert len(indicators) == 3


def test_not_incremental_sends_every_record_every_run(requests_mock, client):
    last_run, _ = fetch(requests_mock, client, "iocs_run1.json", {}, incremental=False)
    next_run, indicators = fetch(requests_mock, client, "iocs_run1.json", last_run, incremental=False)
    assert len(indicators) == 4
    assert next_run["last_timestamp"] == "2024-05-01T10:00:00Z"


def test_one_debug_line_counts_what_was_skipped(requests_mock, client, monkeypatch):
    lines: list[str] = []
    monkeypatch.setattr(demisto, "debug", lambda msg, *args: lines.append(msg))
    fetch(requests_mock, client, "iocs_mixed.json", {})
    assert len(lines) == 1
    line = lines[0]
    assert "16 records received" in line
    assert "9 indicators built (Domain 2, File 3, IP 1, IPv6 2, URL 1)" in line
    assert "4 malformed values skipped (domain 1, file 1, ip 1, record 1)" in line
    assert "2 unknown kinds skipped (cve 1, email 1)" in line
    assert "1 duplicates merged" in line
    assert "1 without a usable timestamp" in line
    assert "answer was full" not in line
    assert TOKEN not in line


def test_debug_line_warns_when_the_answer_is_full(requests_mock, client, monkeypatch):
    lines: list[str] = []
    monkeypatch.setattr(demisto, "debug", lambda msg, *args: lines.append(msg))
    fetch(requests_mock, client, "iocs_run1.json", {}, limit=5)
    assert "the answer was full (limit 5)" in lines[0]


def test_a_full_answer_at_the_maximum_limit_does_not_advise_raising_it():
    stats = feed.RunStats()
    stats.received = feed.MAX_LIMIT
    line = stats.summary(feed.MAX_LIMIT, incremental=True)
    assert f"the answer was full (limit {feed.MAX_LIMIT}, the maximum): more records may exist that no fetch can read" in line
    assert "raise" not in line


def test_fetch_asks_for_the_configured_kind_size_and_collections(requests_mock, client):
    fetch(requests_mock, client, "iocs_empty.json", {}, data_type="domain", limit=250, collection_ids="7,9")
    query = requests_mock.last_request.qs
    assert query["data_type"] == ["domain"]
    assert query["size"] == ["250"]
    assert query["collection_id"] == ["7,9"]
    assert requests_mock.last_request.headers["Accept"] == "application/json"


def test_fetch_sends_the_token_as_api_token_and_no_empty_collection(requests_mock, client):
    fetch(requests_mock, client, "iocs_empty.json", {})
    assert "collection_id" not in requests_mock.last_request.qs
    assert f"api_token={requests.utils.quote(TOKEN, safe='')}" in requests_mock.last_request.url


# --- answers and errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, count",
    [("iocs_mixed.json", 16), ("iocs_empty.json", 0), ("iocs_null.json", 0), ("iocs_top_level_list.json", 1)],
)
def test_answer_shapes_that_hold_a_list(requests_mock, client, answer, count):
    requests_mock.get(ENDPOINT, json=load(answer))
    assert len(client.get_daily_iocs()) == count


@pytest.mark.parametrize(
    "answer, fragment, kind",
    [
        (load("error_detail.json"), "ThreatMon answered without an IOC list: Invalid token.", "rejected"),
        (
            load("unexpected_object.json"),
            "has no IOC list ('iocs'): check the Server URL (use the ThreatMon IOC API host",
            "bad_body",
        ),
        (load("iocs_not_a_list.json"), "has no IOC list", "bad_body"),
        ("ok", "has no IOC list", "bad_body"),  # a JSON string: inline, as content's secrets check reads a .json as an object
    ],
)
def test_answers_without_a_list_are_errors(requests_mock, client, answer, fragment, kind):
    requests_mock.get(ENDPOINT, json=answer)
    with pytest.raises(feed.ThreatMonError) as caught:
        client.get_daily_iocs()
    assert fragment in str(caught.value)
    assert caught.value.kind == kind


def test_an_error_object_echoing_the_token_is_scrubbed(requests_mock, client):
    requests_mock.get(ENDPOINT, json={"error": f"token {TOKEN} is not valid"})
    with pytest.raises(feed.ThreatMonError) as caught:
        client.get_daily_iocs()
    assert TOKEN not in str(caught.value)
    assert "<redacted>" in str(caught.value)


@pytest.mark.parametrize(
    "status, kind, fragment",
    [
        (
            401,
            "auth",
            "ThreatMon refused the API token (HTTP 401; ThreatMon said: bad size for api_token=<redacted>): check that the "
            "API Token field holds the IOC API token (not the incident API key), that it has not expired, and that "
            "ThreatMon has allow-listed the public IP address of this XSOAR server or engine.",
        ),
        (403, "auth", "ThreatMon has allow-listed the public IP address of this XSOAR server or engine"),
        (
            404,
            "not_found",
            f"for GET {ENDPOINT} (ThreatMon said: bad size for api_token=<redacted>): check the Server URL (use the "
            "ThreatMon IOC API host, https://ioc.threatmonit.io unless ThreatMon gave you another).",
        ),
        (400, "rejected", "ThreatMon rejected GET /api/daily-ioc-details/ (HTTP 400; ThreatMon said: bad size for api_token="),
        (
            422,
            "rejected",
            "check the Data Type to Fetch (data_type), Collection IDs (collection_ids) and Maximum number of indicators "
            "per fetch (limit) settings.",
        ),
    ],
)
def test_client_errors_are_one_attempt_and_a_sentence(requests_mock, client, fake_time, status, kind, fragment):
    requests_mock.get(ENDPOINT, status_code=status, text=f"bad size for api_token={TOKEN}")
    with pytest.raises(feed.ThreatMonError) as caught:
        client.get_daily_iocs()
    assert caught.value.kind == kind
    assert fragment in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert requests_mock.call_count == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_errors_are_retried_two_seconds_doubling_then_reported(requests_mock, client, fake_time, status):
    requests_mock.get(ENDPOINT, status_code=status, text="upstream down")
    with pytest.raises(feed.ThreatMonError) as caught:
        client.get_daily_iocs()
    assert caught.value.kind == "unavailable"
    assert f"unavailable or failing (HTTP {status} for GET {feed.IOC_PATH}" in str(caught.value)
    assert str(caught.value).endswith("Gave up after 4 attempts.")
    assert requests_mock.call_count == 4
    assert fake_time.sleeps == [2.0, 4.0, 8.0]


def test_a_server_error_then_success_returns_the_records(requests_mock, client, fake_time):
    requests_mock.get(ENDPOINT, [{"status_code": 503}, {"json": load("iocs_run1.json")}])
    assert len(client.get_daily_iocs()) == 5
    assert fake_time.sleeps == [2.0]


@pytest.mark.parametrize(
    "headers, sleeps",
    [
        ({"Retry-After": "7"}, [7.0, 7.0, 7.0]),
        ({"Retry-After": "1.5"}, [1.5, 1.5, 1.5]),
        ({"Retry-After": "3600"}, [60.0, 60.0, 60.0]),
        ({"Retry-After": "Wed, 01 May 2024 10:00:30 GMT", "Date": "Wed, 01 May 2024 10:00:00 GMT"}, [30.0, 30.0, 30.0]),
        ({}, [2.0, 4.0, 8.0]),
    ],
)
def test_rate_limits_honour_a_capped_retry_after(requests_mock, client, fake_time, headers, sleeps):
    requests_mock.get(ENDPOINT, status_code=429, headers=headers)
    with pytest.raises(feed.ThreatMonError) as caught:
        client.get_daily_iocs()
    assert caught.value.kind == "rate_limited"
    assert "and raise the Feed Fetch Interval (feedFetchInterval) if it persists." in str(caught.value)
    assert fake_time.sleeps == sleeps


def test_a_200_that_is_not_json_is_retried_then_explained(requests_mock, client, fake_time):
    requests_mock.get(ENDPOINT, text="<html><body>Login</body></html>")
    with pytest.raises(feed.ThreatMonError) as caught:
        client.get_daily_iocs()
    assert caught.value.kind == "bad_body"
    assert "not the expected JSON (it starts with '<html><body>Login</body></html>')" in str(caught.value)
    assert requests_mock.call_count == 4


URL_WITH_TOKEN = f"{ENDPOINT}?api_token={TOKEN}&data_type=all"


def test_a_slow_answer_names_the_limit(requests_mock, client):
    requests_mock.get(ENDPOINT, exc=requests.exceptions.ReadTimeout(URL_WITH_TOKEN))
    with pytest.raises(feed.ThreatMonError) as caught:
        client.get_daily_iocs()
    assert (
        "within 120 seconds (ReadTimeout): try again later, or lower the Maximum number of indicators per fetch (limit);"
        in str(caught.value)
    )
    assert TOKEN not in str(caught.value)


# --- settings ---------------------------------------------------------------------------------------------


def test_default_settings():
    assert feed.parse_settings({}) == feed.FeedSettings()


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://ioc.threatmonit.io/", BASE),
        ("  https://ioc.threatmonit.io  ", BASE),
        ("https://ioc.threatmonit.io/api/daily-ioc-details/", BASE),
        ("http://127.0.0.1:8080/proxy/api/daily-ioc-details", "http://127.0.0.1:8080/proxy"),
        ("", BASE),
    ],
)
def test_server_url_is_normalized(url, expected):
    assert feed.parse_settings({"url": url}).base_url == expected


URL_RULE = "Server URL (url) must be an http(s) URL such as https://ioc.threatmonit.io; got"
LIMIT_RULE = "Maximum number of indicators per fetch (limit) must be a whole number from 1 to 100000; got"


@pytest.mark.parametrize(
    "params, message",
    [
        ({"url": "ioc.threatmonit.io"}, f"{URL_RULE} 'ioc.threatmonit.io'."),
        ({"url": "ftp://ioc.threatmonit.io"}, f"{URL_RULE} 'ftp://ioc.threatmonit.io'."),
        ({"data_type": "hash"}, "Data Type to Fetch (data_type) must be one of all, ip, domain, url; got 'hash'."),
        ({"limit": "0"}, f"{LIMIT_RULE} '0'."),
        ({"limit": "100001"}, f"{LIMIT_RULE} '100001'."),
        ({"limit": "5.5"}, f"{LIMIT_RULE} '5.5'."),
        ({"limit": "many"}, f"{LIMIT_RULE} 'many'."),
        ({"feedReputation": "Evil"}, "Indicator Reputation (feedReputation) must be None, Good, Suspicious or Bad; got 'Evil'."),
        (
            {"tlp_color": "PURPLE"},
            "Traffic Light Protocol Color (tlp_color) must be one of RED, AMBER, AMBER+STRICT, GREEN, WHITE, CLEAR; "
            "got 'PURPLE'.",
        ),
        ({"feedIncremental": "sometimes"}, "Incremental feed (feedIncremental) must be true or false; got 'sometimes'."),
    ],
)
def test_bad_settings_are_named_by_label_and_parameter_with_the_accepted_values(params, message):
    with pytest.raises(ValueError) as caught:
        feed.parse_settings(params)
    assert str(caught.value) == message


@pytest.mark.parametrize(("value", "expected"), [("", None), ("amber", "AMBER"), (" Clear ", "CLEAR"), ("WHITE", "WHITE")])
def test_tlp_color_is_read_in_capitals(value, expected):
    assert feed.parse_settings({"tlp_color": value}).tlp_color == expected


def test_param_labels_are_the_labels_of_the_instance_form():
    """PARAM_LABELS is the one place errors and hints take a parameter's label from: it must say what the yml shows."""
    yml = yaml.safe_load((Path(__file__).parent / "ThreatMonThreatFeed.yml").read_text(encoding="utf-8"))
    form = {param["name"]: param.get("displaypassword") or param.get("display") for param in yml["configuration"]}
    assert {name: form.get(name) for name in feed.PARAM_LABELS} == feed.PARAM_LABELS


def test_every_tlp_color_the_form_offers_is_accepted():
    yml = yaml.safe_load((Path(__file__).parent / "ThreatMonThreatFeed.yml").read_text(encoding="utf-8"))
    (tlp,) = [param for param in yml["configuration"] if param["name"] == "tlp_color"]
    assert set(tlp["options"]) <= set(feed.TLP_COLORS)


def test_every_parameter_the_feed_reads_has_a_label():
    """Every parameter the code reads is validated with its label (feedTags is free text, read as a list)."""
    read = set(re.findall(r'params\.get\("(\w+)"', Path(feed.__file__).read_text(encoding="utf-8")))
    assert read - {"feedTags"} <= set(feed.PARAM_LABELS)


def test_settings_are_parsed():
    params = {
        "data_type": "URL",
        "limit": " 1000 ",
        "collection_ids": "12, 15,,  ",
        "feedTags": "ThreatMon,feed, ",
        "tlp_color": "GREEN",
        "feedReputation": "Suspicious",
        "feedIncremental": "false",
    }
    assert feed.parse_settings(params) == feed.FeedSettings(
        data_type="url",
        limit=1000,
        collection_ids="12,15",
        feed_tags=("ThreatMon", "feed"),
        tlp_color="GREEN",
        reputation_score=2,
        incremental=False,
    )


@pytest.mark.parametrize(
    "value, expected", [(None, None), ("", None), ("feedInstanceReputationNotSet", None), ("None", 0), ("Bad", 3)]
)
def test_reputation_setting(value, expected):
    assert feed.reputation_score(value) == expected


@pytest.mark.parametrize("size, expected", [(0, []), (3, [3]), (4000, [2000, 2000]), (4500, [2000, 2000, 500])])
def test_chunks_are_consecutive_and_bounded(size, expected):
    parts = list(feed.chunks(iter(range(size)), 2000))
    assert [len(part) for part in parts] == expected
    assert [item for part in parts for item in part] == list(range(size))


# --- commands ---------------------------------------------------------------------------------------------


def test_test_module_is_ok_when_threatmon_answers(requests_mock, client):
    requests_mock.get(ENDPOINT, json=load("iocs_empty.json"))
    assert feed.test_module(client, settings(data_type="ip", collection_ids="3")) == "ok"
    assert requests_mock.last_request.qs["size"] == ["1"]
    assert requests_mock.last_request.qs["data_type"] == ["ip"]


def test_get_indicators_shows_a_sample_and_creates_nothing(requests_mock, client, monkeypatch):
    created = []
    monkeypatch.setattr(demisto, "createIndicators", created.append)
    requests_mock.get(ENDPOINT, json=load("iocs_mixed.json"))
    result = feed.get_indicators_command(client, {"limit": "3", "data_type": "ip"}, settings(data_type="domain"))
    assert created == []
    assert requests_mock.last_request.qs["size"] == ["3"]
    assert requests_mock.last_request.qs["data_type"] == ["ip"]
    assert result.outputs_prefix == "ThreatMon.Indicator"
    assert result.outputs_key_field == "Value"
    assert [row["Value"] for row in result.outputs] == ["203.0.113.5", "2001:db8:85a3::8a2e:370:7334", "2001:db8::1"]
    assert result.outputs[0]["Tags"] == ["c2", "cobalt-strike", "botnet", "ThreatMon Honeypot", "abuse.ch", "https", "ThreatMon"]
    assert "HashType" not in result.outputs[0]
    assert result.raw_response == load("iocs_mixed.json")["iocs"]
    assert "3 indicators from 16 records (6 skipped, nothing created)" in result.readable_output
    assert "| 203.0.113.5 | IP |" in result.readable_output


def test_get_indicators_shows_the_hash_kind(requests_mock, client):
    requests_mock.get(ENDPOINT, json={"iocs": [record("44d88612fea8a8f36de82e1278abb02f", "hash")]})
    result = feed.get_indicators_command(client, {}, settings())
    assert result.outputs[0]["HashType"] == "MD5"
    assert requests_mock.last_request.qs["size"] == ["10"]
    assert "MD5" in result.readable_output


@pytest.mark.parametrize(
    "args, fragment",
    [
        ({"limit": "0"}, "limit argument must be a whole number from 1 to 1000"),
        ({"data_type": "hash"}, "The data_type argument must be one of all, ip, domain, url; got 'hash'."),
    ],
)
def test_get_indicators_rejects_bad_arguments(client, args, fragment):
    with pytest.raises(ValueError) as caught:
        feed.get_indicators_command(client, args, settings())
    assert fragment in str(caught.value)


# --- main -------------------------------------------------------------------------------------------------


class Stop(Exception):
    """Raised by the patched return_error so a test can read the message."""


@pytest.fixture
def xsoar(monkeypatch):
    """Patches what main() touches; returns a dict recording what it did."""
    seen: dict = {"created": [], "last_run": None, "results": [], "errors": [], "debug": []}
    state = {
        "params": {"credentials": {"identifier": "", "password": TOKEN}, "url": BASE},
        "command": "",
        "args": {},
        "last_run": {},
    }

    def set_last_run(value):
        seen["last_run"] = value

    def fail(message, *args, **kwargs):
        seen["errors"].append(message)
        raise Stop(message)

    monkeypatch.setattr(demisto, "params", lambda: state["params"])
    monkeypatch.setattr(demisto, "command", lambda: state["command"])
    monkeypatch.setattr(demisto, "args", lambda: state["args"])
    monkeypatch.setattr(demisto, "getLastRun", lambda: state["last_run"])
    monkeypatch.setattr(demisto, "setLastRun", set_last_run)
    monkeypatch.setattr(demisto, "createIndicators", lambda batch: seen["created"].append(batch))
    monkeypatch.setattr(demisto, "debug", lambda msg, *args: seen["debug"].append(msg))
    monkeypatch.setattr(feed, "return_results", lambda value: seen["results"].append(value))
    monkeypatch.setattr(feed, "return_error", fail)
    seen["state"] = state
    return seen


def run_main(xsoar, command, **params):
    xsoar["state"]["command"] = command
    xsoar["state"]["params"].update(params)
    with contextlib.suppress(Stop):
        feed.main()
    return xsoar


def test_main_fetch_creates_indicators_in_batches_then_saves_the_state(requests_mock, xsoar):
    many = [
        record(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}", timestamp=f"2024-05-01T10:{n // 600 % 60:02}:00Z")
        for n in range(4500)
    ]
    requests_mock.get(ENDPOINT, json={"iocs": many})
    run_main(xsoar, "fetch-indicators", limit="5000")
    assert [len(batch) for batch in xsoar["created"]] == [2000, 2000, 500]
    assert xsoar["last_run"]["last_timestamp"] == "2024-05-01T10:07:00Z"
    assert xsoar["errors"] == []


def test_main_fetch_keeps_the_state_when_creating_indicators_fails(requests_mock, xsoar, monkeypatch):
    def refuse(batch):
        raise RuntimeError("indicator store unavailable")

    monkeypatch.setattr(demisto, "createIndicators", refuse)
    requests_mock.get(ENDPOINT, json=load("iocs_run1.json"))
    run_main(xsoar, "fetch-indicators")
    assert xsoar["last_run"] is None
    assert xsoar["errors"] == ["Failed to execute fetch-indicators: RuntimeError: indicator store unavailable."]


def test_main_fetch_reads_the_last_run(requests_mock, xsoar):
    xsoar["state"]["last_run"] = {"last_timestamp": "2024-05-01T10:00:00Z", "seen_at_last_timestamp": []}
    requests_mock.get(ENDPOINT, json=load("iocs_run1.json"))
    run_main(xsoar, "fetch-indicators")
    assert [indicator["value"] for batch in xsoar["created"] for indicator in batch] == [
        "https://bad-cdn.example.net/payload.bin",
        "no-time.example.com",
    ]


def test_main_continues_an_instance_upgraded_from_1x(requests_mock, xsoar):
    xsoar["state"]["last_run"] = {"last_timestamp": UPGRADE_T}
    requests_mock.get(ENDPOINT, json=load("iocs_after_1x_upgrade.json"))
    run_main(xsoar, "fetch-indicators")
    assert sorted(indicator["value"] for batch in xsoar["created"] for indicator in batch) == SENT_AFTER_UPGRADE
    assert xsoar["last_run"]["last_timestamp"] == "2024-05-02T00:00:00Z"
    assert xsoar["errors"] == []


def test_main_test_module_returns_ok(requests_mock, xsoar):
    requests_mock.get(ENDPOINT, json=load("iocs_empty.json"))
    run_main(xsoar, "test-module")
    assert xsoar["results"] == ["ok"]


@pytest.mark.parametrize(
    "mock, fragment",
    [
        ({"status_code": 401}, "ThreatMon refused the API token (HTTP 401)"),
        ({"status_code": 404}, "check the Server URL"),
        ({"exc": requests.exceptions.ConnectionError(f"{URL_WITH_TOKEN} NameResolutionError")}, "does not resolve"),
        ({"exc": requests.exceptions.ConnectionError(f"{URL_WITH_TOKEN} Connection refused")}, "connection was refused"),
        ({"status_code": 503}, "unavailable or failing (HTTP 503"),
    ],
)
def test_main_test_module_failure_is_an_error_not_text(requests_mock, xsoar, monkeypatch, mock, fragment):
    monkeypatch.setattr(feed.Client, "POLICY", feed.Client.POLICY._replace(max_attempts=1))
    requests_mock.get(ENDPOINT, **mock)
    run_main(xsoar, "test-module")
    assert xsoar["results"] == []
    assert len(xsoar["errors"]) == 1
    assert xsoar["errors"][0].startswith("Failed to execute test-module: ")
    assert fragment in xsoar["errors"][0]
    assert TOKEN not in xsoar["errors"][0]


def test_main_test_module_does_not_wait_long_for_threatmon(requests_mock, xsoar):
    requests_mock.get(ENDPOINT, status_code=429, headers={"Retry-After": "45"})
    run_main(xsoar, "test-module")
    assert requests_mock.call_count == 1  # a 45 s wait would pass the Test button's 30 s budget
    assert "rate limiting" in xsoar["errors"][0]


def test_main_get_indicators(requests_mock, xsoar):
    xsoar["state"]["args"] = {"limit": "2"}
    requests_mock.get(ENDPOINT, json=load("iocs_run1.json"))
    run_main(xsoar, "threatmon-get-indicators")
    assert len(xsoar["results"][0].outputs) == 2
    assert xsoar["created"] == []
    assert xsoar["last_run"] is None


@pytest.mark.parametrize(
    "command, params, fragment",
    [
        ("fetch-indicators", {"credentials": {"identifier": "", "password": ""}}, "API Token (credentials) is empty"),
        ("fetch-indicators", {"credentials": None}, "API Token (credentials) is empty"),
        ("fetch-indicators", {"limit": "-3"}, f"{LIMIT_RULE} '-3'."),
        ("test-module", {"insecure": "perhaps"}, "Trust any certificate (not secure) (insecure) must be true or false"),
        ("test-module", {"proxy": "2"}, "Use system proxy settings (proxy) must be true or false; got '2'."),
        ("threatmon-unknown", {}, "Command threatmon-unknown is not implemented by ThreatMon Threat Feed."),
    ],
)
def test_main_reports_configuration_problems(xsoar, command, params, fragment):
    run_main(xsoar, command, **params)
    assert len(xsoar["errors"]) == 1
    assert fragment in xsoar["errors"][0]


def test_main_scrubs_the_token_from_unexpected_failures(xsoar, monkeypatch):
    def explode(*args, **kwargs):
        raise KeyError(f"unexpected answer for api_token={TOKEN}")

    monkeypatch.setattr(feed, "fetch_indicators", explode)
    run_main(xsoar, "fetch-indicators")
    assert xsoar["errors"] == ["Failed to execute fetch-indicators: KeyError: 'unexpected answer for api_token=<redacted>'."]
    assert len(xsoar["debug"]) == 1 and "Traceback" in xsoar["debug"][0]
    assert TOKEN not in xsoar["debug"][0]


def test_main_passes_certificate_and_proxy_settings(xsoar, monkeypatch):
    made = {}

    class Spy(feed.Client):
        def __init__(self, base_url, token, **kwargs):
            made.update(kwargs, token=token)
            super().__init__(base_url, token, **kwargs)

    monkeypatch.setattr(feed, "Client", Spy)
    monkeypatch.setattr(feed, "test_module", lambda client, settings: "ok")
    run_main(xsoar, "test-module", insecure=True, proxy="false")
    assert made["verify"] is False
    assert made["proxy"] is False
    assert made["token"] == TOKEN
    assert made["deadline_seconds"] == feed.TEST_DEADLINE


# --- the token stays on ThreatMon's hosts ---------------------------------------------------------------------
# Each test below is named in the integration README's security table.

ELSEWHERE = "https://elsewhere.test"
FEED_COMMANDS = {"test-module": {}, "fetch-indicators": {}, "threatmon-get-indicators": {"limit": "2"}}


def test_the_redirect_table_covers_every_command():
    yml = yaml.safe_load((Path(__file__).parent / "ThreatMonThreatFeed.yml").read_text(encoding="utf-8"))
    assert set(FEED_COMMANDS) == {command["name"] for command in yml["script"]["commands"]} | {"test-module", "fetch-indicators"}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("command", list(FEED_COMMANDS))
def test_security_a_redirect_to_another_host_ends_every_command_and_the_fetch_with_a_clear_error(
    requests_mock, xsoar, command, status
):
    xsoar["state"]["last_run"] = {"last_timestamp": "2024-05-01T10:00:00Z", "seen_at_last_timestamp": []}
    xsoar["state"]["args"] = FEED_COMMANDS[command]
    elsewhere = requests_mock.register_uri(requests_mock_module.ANY, re.compile(re.escape(ELSEWHERE)), json={"iocs": []})

    def moved(request, context):
        context.headers["Location"] = ELSEWHERE + request.path_url  # the same path and query (the token too)
        return ""

    requests_mock.get(ENDPOINT, status_code=status, text=moved)
    run_main(xsoar, command)
    assert elsewhere.call_count == 0
    assert requests_mock.call_count == 1  # neither followed nor retried
    (error,) = xsoar["errors"]
    assert error == (
        f"Failed to execute {command}: ThreatMon answered GET /api/daily-ioc-details/ with HTTP {status}, a "
        f"redirect to {ELSEWHERE}/api/daily-ioc-details/. Redirects are never followed, so nothing was sent there (not "
        f"the API token either): the Server URL (url) should probably be {ELSEWHERE}; check that address with "
        "ThreatMon before you change the setting."
    )
    assert xsoar["created"] == [] and xsoar["last_run"] is None  # nothing created, the position did not move


@pytest.mark.parametrize(
    "url", ["http://ioc.threatmonit.io", "http://ioc.threatmonit.io/api/daily-ioc-details/", "http://[2001:db8::1]"]
)
@pytest.mark.parametrize("command", list(FEED_COMMANDS))
def test_security_a_plain_http_server_url_is_refused_in_one_sentence_naming_the_setting(requests_mock, xsoar, command, url):
    run_main(xsoar, command, url=url)
    assert requests_mock.call_count == 0
    assert xsoar["errors"] == [
        f"Failed to execute {command}: Server URL (url) must be an https:// URL, such as https://ioc.threatmonit.io, "
        "because over plain http the credential would cross the network unencrypted (http is accepted only for a "
        f"loopback host such as 127.0.0.1); got '{url}'."
    ]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost:9000", "http://[::1]:7000", BASE])
def test_security_https_and_plain_http_on_a_loopback_host_are_accepted(url):
    assert feed.parse_settings({"url": url}).base_url == url


@pytest.mark.parametrize(("size", "bound"), [(1, 8 * 1024 + 1024 * 1024), (500, 500 * 8 * 1024 + 1024 * 1024)])
def test_security_the_answer_bound_follows_the_size_asked_for(requests_mock, client, size, bound):
    requests_mock.get(ENDPOINT, [{"json": {"iocs": [record("203.0.113.5", note="x" * bound)]}}, {"json": {"iocs": []}}])
    with pytest.raises(feed.ThreatMonError) as error:
        client.get_daily_iocs(size=size)
    assert error.value.kind == "too_large"
    assert requests_mock.call_count == 1  # not retried
    assert client.get_daily_iocs(size=size) == []


def test_security_an_oversized_answer_creates_nothing_and_keeps_the_feeds_position(requests_mock, xsoar):
    xsoar["state"]["last_run"] = {"last_timestamp": "2024-05-01T10:00:00Z", "seen_at_last_timestamp": []}
    many = [record(f"10.0.{n // 256}.{n % 256}", note="x" * 9000) for n in range(200)]  # 200 records, 9 KB each
    requests_mock.get(ENDPOINT, json={"iocs": many})
    run_main(xsoar, "fetch-indicators", limit="1")  # bound: 1 record * 8 KiB + 1 MiB; the answer is larger
    assert xsoar["created"] == [] and xsoar["last_run"] is None
    assert xsoar["errors"] == [
        "Failed to execute fetch-indicators: ThreatMon's answer to GET /api/daily-ioc-details/ is larger than "
        "1.00781 MiB, the most this request accepts, so it was not read further and nothing of it was used: check the "
        "Server URL (url) (use https://ioc.threatmonit.io unless ThreatMon gave you another); if it is right, tell "
        "ThreatMon support (nothing was created and the feed's position did not move)."
    ]


class EndlessAnswer(io.RawIOBase):
    """A body that never ends; with a clock, each read lets time pass (a server that drips)."""

    def __init__(self, clock=None):
        self.clock, self.reads = clock, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        self.reads += 1
        if self.clock is not None:
            self.clock.advance(0.5)
        size = min(len(buffer), 8192)
        buffer[:size] = b" " * size
        return size


def test_security_an_endless_answer_is_read_only_up_to_the_bound(requests_mock, client):
    body = EndlessAnswer()
    requests_mock.get(ENDPOINT, body=body)
    with pytest.raises(feed.ThreatMonError) as error:
        client.get_daily_iocs(size=10)
    assert error.value.kind == "too_large"
    assert body.reads * 8192 <= 10 * 8192 + 1024 * 1024 + 2 * 65536


def test_security_a_dripping_answer_ends_within_the_runs_deadline(requests_mock, fake_time):
    requests_mock.get(ENDPOINT, [{"body": EndlessAnswer(fake_time)} for _ in range(4)])
    client = feed.Client(BASE, TOKEN, sleep=fake_time.sleep, clock=fake_time.clock, deadline_seconds=feed.TEST_DEADLINE)
    with pytest.raises(feed.ThreatMonError) as error:
        client.get_daily_iocs(size=100_000)  # a bound of 800 MB: the time runs out first
    assert error.value.kind == "timeout"
    # Time is checked after each 64 KiB read (here 4 s of drip); on a real socket a timer cuts the read at the second.
    assert fake_time.now - 1000.0 <= feed.TEST_DEADLINE + 4


ECHOING_ANSWERS = [
    {"status_code": 401, "json": {"detail": f"token {TOKEN} refused", "message": TOKEN}},
    {"status_code": 302, "headers": {"Location": f"https://elsewhere.test/x?api_token={TOKEN}&t={TOKEN}"}},
    {"status_code": 200, "json": {"error": f"bad token {TOKEN}"}},
    {"status_code": 200, "text": f"<html>{TOKEN}</html>"},
    {"status_code": 200, "json": {"iocs": [record("203.0.113.5", tags=[TOKEN], source=[TOKEN])]}},
    {"exc": requests.exceptions.ConnectionError(f"https://ioc.threatmonit.io/?api_token={TOKEN} refused")},
]


@pytest.mark.parametrize("answer", ECHOING_ANSWERS)
@pytest.mark.parametrize("command", list(FEED_COMMANDS))
def test_security_in_debug_mode_no_command_shows_the_token_an_answer_echoes(requests_mock, xsoar, monkeypatch, command, answer):
    monkeypatch.setattr(demisto, "is_debug", True, raising=False)
    monkeypatch.setattr(feed, "return_error", CommonServerPython.return_error)  # the platform's own, traceback and all
    monkeypatch.setattr(feed.Client, "POLICY", feed.Client.POLICY._replace(max_attempts=1))
    entries, logs, registered = [], [], []
    monkeypatch.setattr(demisto, "results", entries.append)
    monkeypatch.setattr(feed, "return_results", entries.append)
    for level in ("debug", "info", "error"):
        monkeypatch.setattr(demisto, level, lambda message, *args: logs.append(str(message)))
    monkeypatch.setattr(ThreatMonApiModule, "add_sensitive_log_strs", registered.append)
    xsoar["state"]["args"] = FEED_COMMANDS[command]
    requests_mock.get(ENDPOINT, **answer)
    raised = ""
    try:
        run_main(xsoar, command)
    except SystemExit:
        pass
    except Exception as exc:  # fetch-indicators errors are raised for the server
        raised = str(exc)
    assert requests_mock.call_count == 1
    everything = json.dumps([raised, entries, logs, xsoar["created"], xsoar["last_run"]], default=lambda item: vars(item))
    for form in (TOKEN, urllib.parse.quote_plus(TOKEN), urllib.parse.quote(TOKEN, safe="")):
        assert form not in everything
    assert TOKEN in registered  # the platform masks it in its own logs too


def test_security_tls_certificates_are_verified_unless_trust_any_certificate_is_ticked(xsoar, monkeypatch):
    yml = yaml.safe_load((Path(__file__).parent / "ThreatMonThreatFeed.yml").read_text(encoding="utf-8"))
    insecure = next(param for param in yml["configuration"] if param["name"] == "insecure")
    assert insecure.get("defaultvalue") in (None, "false", False)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    made = []
    monkeypatch.setattr(feed, "test_module", lambda client, settings: made.append(client) or "ok")
    run_main(xsoar, "test-module")
    assert made[0]._verify is True


def test_security_without_the_proxy_setting_requests_go_direct_whatever_the_environment(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    client = feed.Client(BASE, TOKEN, proxy=False)
    assert client._session.trust_env is False
    assert "HTTPS_PROXY" not in os.environ


def test_security_with_the_proxy_setting_requests_go_through_the_system_proxy(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    client = feed.Client(BASE, TOKEN, proxy=True)
    assert client._session.trust_env is True
    settings = client._session.merge_environment_settings(ENDPOINT, {}, None, None, None)
    assert settings["proxies"].get("https") == "http://proxy.test:3128"


def test_security_settings_and_arguments_never_reach_the_path(requests_mock, client):
    requests_mock.get(re.compile(re.escape(BASE)), json={"iocs": []})
    client.get_daily_iocs(data_type="ip/../../x", size=5, collection_ids="../admin,%2e%2e/x")
    (request,) = requests_mock.request_history
    assert request.path == "/api/daily-ioc-details/"
    assert "/admin" not in request.path and "%2e" not in request.path.lower()
