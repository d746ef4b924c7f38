"""The API key and the feed token never leave ThreatMon's hosts, end to end: the integration files run by the local
runner, over real HTTP, against the simulator answering every request with a redirect to a second local server.

``OtherHost`` is that second server: on 127.0.0.1, it counts every connection and every request it receives, and
it stops by itself. Each test asserts that it counted zero: no command, no fetch, no retry reached it. The answer
bounds are checked the same way against a server that sends an oversized, a never-ending or a dripping answer.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time

import pytest
import ThreatMon
import ThreatMonThreatFeed

from runner import IntegrationRunner
from simulator import Simulator, parse_fault
from tests.e2e.conftest import FEED, THREATMON

REDIRECTS = [301, 302, 303, 307, 308]
MIRROR_CONTEXT = {"mirror_in": {"version": 1, "alarms": {"1001": "Open"}}}
THREATMON_COMMANDS = {
    "test-module": {},
    "fetch-incidents": {},
    "threatmon_list_alarms": {"limit": "2"},
    "threatmon_update_incident_status": {"alarmId": "1001", "status": "Resolved"},
    "threatmon_request_takedown": {"findingId": "4", "finding": "x"},
    "threatmon_request_data_removal": {"findingId": "4", "finding": "x"},
    "threatmon_list_cves": {},
    "threatmon_list_subscribed_cves": {},
    "update-remote-system": {
        "remoteId": "1001",
        "status": 2,
        "delta": {"closeReason": "Resolved"},
        "data": {},
        "entries": [],
        "incidentChanged": True,
    },
    "get-modified-remote-data": {"lastUpdate": "2025-03-15T12:00:00Z"},
    "threatmon_sync_alarm_statuses": {},
}
FEED_COMMANDS = {"test-module": {}, "fetch-indicators": {}, "threatmon-get-indicators": {"limit": "2"}}


class OtherHost:
    """A server on 127.0.0.1 that counts what it receives: connections, and the bytes of each. ``answer`` is what it
    sends on each connection (a status line and headers, then ``body``), or, with ``drip``, one byte at a time. It
    stops by itself after ``lifetime`` seconds, whatever happens."""

    def __init__(
        self,
        head: bytes = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n",
        body: bytes = b"{}",
        endless: bool = False,
        drip: float | None = None,
        lifetime: float = 20.0,
    ):
        self.head, self.body, self.endless, self.drip = head, body, endless, drip
        self.connections = 0
        self.received = b""
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.stop_at = time.monotonic() + lifetime
        self.thread = threading.Thread(target=self._serve, daemon=True, name="other-host")
        self.thread.start()

    def _serve(self) -> None:
        with self.listener:
            while time.monotonic() < self.stop_at:
                try:
                    connection, _ = self.listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                self.connections += 1
                threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with contextlib.suppress(OSError), connection:
            connection.settimeout(2)
            self.received += connection.recv(65536)
            if self.endless or self.drip:
                connection.sendall(self.head + b"Transfer-Encoding: chunked\r\n\r\n")
                while time.monotonic() < self.stop_at:
                    piece = b" " if self.drip else b" " * 65536
                    connection.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                    if self.drip:
                        time.sleep(self.drip)
                return
            connection.sendall(self.head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(self.body) + self.body)

    def stop(self) -> None:
        self.stop_at = 0.0
        self.thread.join(timeout=2)


@pytest.fixture
def other_host():
    started: list[OtherHost] = []

    def start(**kwargs) -> OtherHost:
        host = OtherHost(**kwargs)
        started.append(host)
        return host

    yield start
    for host in started:
        host.stop()


def redirecting_sim(make_sim, status: int, to: str) -> Simulator:
    """The simulator answering every request with a ``status`` redirect to the same path and query under ``to``."""
    return make_sim(data_removal_path="/blackmarket/data-removal", faults=[parse_fault(f"*=redirect:{status},to={to},times=99")])


def threatmon_runner(sim: Simulator, no_sleep) -> IntegrationRunner:
    runner = IntegrationRunner(
        THREATMON,
        {
            "url": sim.api_url,
            "credentials": {"identifier": "", "password": sim.api_key},
            "data_removal_path": "/blackmarket/data-removal",
            "mirror_direction": "Incoming And Outgoing",
            "max_fetch": "10",
            "isFetch": True,
        },
        instance_name="ThreatMon_security",
        sleep=no_sleep,
        http_timeout_cap=2.0,
    )
    return runner


@pytest.mark.parametrize("status", REDIRECTS)
def test_a_redirect_to_another_host_ends_every_threatmon_command_and_the_fetch(make_sim, other_host, no_sleep, status):
    host = other_host()
    sim = redirecting_sim(make_sim, status, host.url)
    runner = threatmon_runner(sim, no_sleep)
    for command, args in THREATMON_COMMANDS.items():
        runner.integration_context = {key: dict(value) for key, value in MIRROR_CONTEXT.items()}  # one alarm to mirror
        before = len(sim.requests)
        result = runner.run(command, args)
        assert len(sim.requests) == before + 1, command  # one request to ThreatMon: not followed, not retried
        assert result.error, command
        assert f"with HTTP {status}, a redirect to {host.url}/api/threatmon/external/v1/" in result.error, command
        assert "Redirects are never followed, so nothing was sent there (not the API key either)" in result.error
        assert f"the Server URL (url) should probably be {host.url}/api/threatmon/external/v1;" in result.error
        assert sim.api_key not in result.error + repr(result.logs)
    assert runner.last_run == {}  # the fetch kept its (empty) position
    assert (host.connections, host.received) == (0, b"")


@pytest.mark.parametrize("status", REDIRECTS)
def test_a_redirect_to_another_host_ends_every_feed_command_and_the_fetch(make_sim, other_host, no_sleep, status):
    host = other_host()
    sim = redirecting_sim(make_sim, status, host.url)
    runner = IntegrationRunner(
        FEED,
        {"url": sim.ioc_url, "credentials": {"identifier": "", "password": sim.ioc_token}, "limit": "50"},
        sleep=no_sleep,
        http_timeout_cap=2.0,
    )
    for command, args in FEED_COMMANDS.items():
        before = len(sim.requests)
        result = runner.run(command, args)
        assert len(sim.requests) == before + 1, command
        assert result.error, command
        assert f"with HTTP {status}, a redirect to {host.url}/api/daily-ioc-details/." in result.error, command
        assert "nothing was sent there (not the API token either)" in result.error
        assert sim.ioc_token not in result.error + repr(result.logs)
        assert result.indicators == [], command
    assert runner.last_run == {}
    assert (host.connections, host.received) == (0, b"")


def test_without_the_fix_the_other_host_would_count_the_key(other_host):
    """The counting server counts: a plain requests call that follows the redirect reaches it with the key."""
    import requests

    host = other_host()
    with Simulator(faults=[parse_fault(f"*=redirect:307,to={host.url}")], idle_timeout_s=10, max_lifetime_s=20) as sim:
        requests.get(f"{sim.api_url}/vulnerabilities/0", headers={"X-COMPANY-API-KEY": sim.api_key}, timeout=5)
    assert host.connections == 1
    assert sim.api_key.encode() in host.received


def test_a_plain_http_server_url_sends_nothing(other_host, no_sleep):
    host = other_host()
    url = host.url.replace("127.0.0.1", "127.0.0.1.nip.invalid")  # not a loopback name: refused before any request
    runner = IntegrationRunner(THREATMON, {"url": url, "credentials": "tm-e2e-key-1234"}, sleep=no_sleep)
    result = runner.run("test-module")
    assert result.error.startswith("Failed to execute test-module: Server URL (url) must be an https:// URL")
    assert host.connections == 0


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        ({"body": b"[" + b"1," * (9 * 1024 * 1024) + b"1]"}, "too_large"),  # 18 MiB: above the 16 MiB bound
        ({"endless": True}, "too_large"),
        ({"drip": 0.05}, "timeout"),
    ],
)
def test_an_oversized_endless_or_dripping_alarm_answer_ends_the_run_within_its_deadline(other_host, answer, kind):
    host = other_host(**answer)
    deadline = 3.0
    client = ThreatMon.Client(host.url, "tm-e2e-key-1234", deadline_seconds=deadline)
    started = time.monotonic()
    with pytest.raises(ThreatMon.ThreatMonError) as error:
        client.list_alarms(0)
    assert error.value.kind == kind
    assert time.monotonic() - started < deadline + 1  # the deadline, and time to close the socket on a loaded machine


@pytest.mark.parametrize(("answer", "kind"), [({"endless": True}, "too_large"), ({"drip": 0.05}, "timeout")])
def test_an_endless_or_dripping_ioc_answer_ends_the_run_within_its_deadline(other_host, answer, kind):
    host = other_host(**answer)
    deadline = 3.0
    client = ThreatMonThreatFeed.Client(host.url, "tm-e2e-token-1234", deadline_seconds=deadline)
    started = time.monotonic()
    with pytest.raises(ThreatMonThreatFeed.ThreatMonError) as error:
        client.get_daily_iocs(size=10)
    assert error.value.kind == kind
    assert time.monotonic() - started < deadline + 1  # the deadline, and time to close the socket on a loaded machine


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("*=redirect", "a redirect fault needs to=URL"),
        ("*=redirect:200,to=http://127.0.0.1:9", "a redirect fault's status is a 3xx; got 200"),
    ],
)
def test_the_simulators_redirect_fault_needs_a_target_and_a_3xx(spec, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        parse_fault(spec)


def test_the_simulators_redirect_fault_keeps_the_path_and_query():
    fault = parse_fault("/daily-ioc=redirect:308,to=http://127.0.0.1:9/,times=2")
    assert (fault.status, fault.to, fault.describe()) == (308, "http://127.0.0.1:9/", "redirect:308,to=http://127.0.0.1:9/")
    import requests

    with Simulator(faults=[fault], idle_timeout_s=10, max_lifetime_s=20) as sim:
        answer = requests.get(f"{sim.ioc_url}/api/daily-ioc-details/?size=5&api_token=t", allow_redirects=False, timeout=5)
    assert answer.status_code == 308
    assert answer.headers["Location"] == "http://127.0.0.1:9/api/daily-ioc-details/?size=5&api_token=t"


def test_the_e2e_tables_cover_every_command_that_sends_a_request():
    import yaml

    def commands(path):
        return {command["name"] for command in yaml.safe_load(path.read_text(encoding="utf-8"))["script"]["commands"]}

    silent = {"get-mapping-fields", "get-remote-data", "threatmon_get_fetch_health"}  # they send no request
    assert set(THREATMON_COMMANDS) == commands(THREATMON.with_suffix(".yml")) - silent | {"test-module", "fetch-incidents"}
    assert set(FEED_COMMANDS) == commands(FEED.with_suffix(".yml")) | {"test-module", "fetch-indicators"}
