"""The simulated ThreatMon without a socket, behind requests_mock: for unit tests that must not wait or listen.

    with requests_mock.Mocker() as mocker:
        sim = MockThreatMon(mocker, alarms=37, order="desc", page_size=5, faults=["#2=503"])
        ...  # the client under test talks to sim.api_url; sim.codes(), sim.requests, sim.set(...) as on Simulator

The state, routes, knobs and faults are the HTTP simulator's own (:mod:`simulator.state`, :mod:`simulator.api`), so a
behaviour or a fault has one name in unit and end-to-end tests. What a socket would do is imitated: ``drop`` and
``reset`` raise ``requests.exceptions.ConnectionError``, ``cut`` raises ``ChunkedEncodingError`` (a body that ends
early), ``slow`` raises ``ReadTimeout`` when the answer would come after the client's read timeout. Time passes only
through ``pass_time`` (the latency knob and slow answers), which a test can tie to a fake clock.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import fields, replace
from urllib.parse import parse_qs, urlsplit

import requests
import requests_mock

from simulator.api import API_BASE, Api
from simulator.config import SimConfig
from simulator.state import SimulatedThreatMon, ThreatMonState


class FakeClock:
    """A monotonic clock, a wall clock and a sleep for a client under test: sleeping only moves the clock.

    Pass ``sleep``, ``clock`` and ``wall`` to the client, and ``advance`` as :class:`MockThreatMon`'s ``pass_time``
    when the simulated latency should count against the client's deadline too.
    """

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
        """Time that passes without the client sleeping (the simulator's latency, a slow answer)."""
        self.now += seconds


class MockThreatMon(SimulatedThreatMon):
    """The simulated ThreatMon answering every request requests_mock sees under ``url``. Knobs: see :class:`SimConfig`
    (``port``, ``latency_ms`` and the life-time knobs mean nothing here except that latency goes to ``pass_time``)."""

    def __init__(
        self,
        mocker: requests_mock.Mocker,
        url: str = "https://threatmon.test",
        config: SimConfig | None = None,
        pass_time: Callable[[float], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        **knobs,
    ):
        unknown = set(knobs) - {f.name for f in fields(SimConfig)}
        if unknown:
            raise TypeError(f"unknown simulator knob(s): {', '.join(sorted(unknown))}")
        self.threatmon = ThreatMonState(replace(config or SimConfig(), **knobs), clock)
        self.api = Api(self.threatmon)
        self.url = url.rstrip("/")
        self.api_url = self.url + API_BASE
        self.ioc_url = self.url
        self.pass_time = pass_time or (lambda _seconds: None)
        mocker.register_uri(requests_mock.ANY, re.compile(re.escape(self.url) + r"(/.*)?$"), content=self._answer)

    @property
    def api_key(self) -> str:
        return self.config.api_key

    @property
    def ioc_token(self) -> str:
        return self.config.ioc_token

    def _answer(self, request, context) -> bytes:
        split = urlsplit(request.url)
        query = parse_qs(split.query, keep_blank_values=True)
        body = request.body or b""
        reply = self.api.handle(
            request.method, split.path, query, request.headers, body.encode() if isinstance(body, str) else body
        )
        self.pass_time(self.config.latency_ms / 1000.0)
        spoil = reply.spoil
        if spoil in ("drop", "reset") or reply.answer is None:
            raise requests.exceptions.ConnectionError(
                f"Connection aborted: the simulator {'reset' if spoil == 'reset' else 'closed'} it"
            )
        if spoil == "cut":
            raise requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")
        if spoil == "slow":
            read_timeout = request.timeout[1] if isinstance(request.timeout, tuple) else request.timeout
            if read_timeout is not None and read_timeout < reply.fault.delay_s:
                self.pass_time(read_timeout)
                raise requests.exceptions.ReadTimeout(f"Read timed out. (read timeout={read_timeout})")
            self.pass_time(reply.fault.delay_s)
        answer = reply.answer
        context.status_code = answer.status
        if answer.content_type:
            context.headers["Content-Type"] = answer.content_type
        context.headers.update(answer.headers)
        return answer.body
