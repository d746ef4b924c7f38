"""The ThreatMon API simulator as an HTTP server on 127.0.0.1, serving both ThreatMon APIs.

What it holds and does is :class:`~simulator.state.ThreatMonState`; its routes are :class:`~simulator.api.Api`;
this module only starts and stops the server, carries bytes and keeps the latency knob. Use it in-process::

    with Simulator(alarms=37, order="desc", latency_ms=5) as sim:
        ...  # sim.api_url, sim.api_key, sim.ioc_url, sim.ioc_token, sim.state(), sim.alarm(code)

It runs in a daemon thread and stops by itself after ``idle_timeout_s`` without a request or
``max_lifetime_s`` in all, so a forgotten simulator never outlives its test run.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from dataclasses import fields, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from simulator.api import API_BASE, CONTROL_PREFIX, HOST, IOC_PATH, Answer, Api, reason
from simulator.config import DEFAULT_API_KEY, DEFAULT_IOC_TOKEN, SimConfig
from simulator.state import SimulatedThreatMon, ThreatMonState

__all__ = ["API_BASE", "DEFAULT_API_KEY", "DEFAULT_IOC_TOKEN", "IOC_PATH", "SimConfig", "Simulator"]


class Simulator(SimulatedThreatMon):
    """A ThreatMon API simulator on 127.0.0.1. Knobs: see :class:`SimConfig`; data and record: see
    :class:`~simulator.state.SimulatedThreatMon`."""

    def __init__(self, config: SimConfig | None = None, clock=time.monotonic, **knobs):
        unknown = set(knobs) - {f.name for f in fields(SimConfig)}
        if unknown:
            raise TypeError(f"unknown simulator knob(s): {', '.join(sorted(unknown))}")
        self.threatmon = ThreatMonState(replace(config or SimConfig(), **knobs), clock)
        self.api = Api(self.threatmon)
        self._clock = clock  # for the idle and lifetime limits (injectable: tests never wait)
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._connections: set[socket.socket] = set()
        self._started = self._last_activity = clock()

    # -- life cycle --------------------------------------------------------------------------------

    def start(self) -> Simulator:
        if self._server is not None:
            return self
        self._server = _Server((HOST, self.config.port), _Handler)
        self._server.sim = self
        self._stop.clear()
        self._started = self._last_activity = self._clock()
        serve = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        watch = threading.Thread(target=self._watchdog, daemon=True)
        serve.name, watch.name = "threatmon-simulator", "threatmon-simulator-watchdog"
        self._threads = [serve, watch]
        serve.start()
        watch.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection. Safe to call twice or from any thread."""
        with self.threatmon.lock:
            server, self._server = self._server, None
        self._stop.set()
        if server is None:
            return
        # serve_forever notices a shutdown only when its select() wakes: poke it with empty connections rather
        # than wait for the poll interval (this makes starting and stopping a simulator per test cheap).
        stopper = threading.Thread(target=server.shutdown, daemon=True, name="threatmon-simulator-shutdown")
        stopper.start()
        while stopper.is_alive():
            with contextlib.suppress(OSError):
                socket.create_connection(server.server_address, timeout=0.2).close()
            stopper.join(0.01)
        server.server_close()
        with self.threatmon.lock:
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2)

    @property
    def running(self) -> bool:
        return self._server is not None and not self._stop.is_set()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _watchdog(self) -> None:
        while not self._stop.wait(0.1):
            if self.check_limits():
                return

    def check_limits(self) -> bool:
        """Stop (in the background) when idle for idle_timeout_s or alive for max_lifetime_s; True if so."""
        cfg, now = self.config, self._clock()
        if now - self._last_activity > cfg.idle_timeout_s or now - self._started > cfg.max_lifetime_s:
            self._stop.set()
            threading.Thread(target=self.stop, daemon=True, name="threatmon-simulator-stop").start()
            return True
        return False

    # -- addresses -----------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() or use it as a context manager")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The server root (the IOC API's base URL)."""
        return f"http://{HOST}:{self.port}"

    @property
    def api_url(self) -> str:
        """The alarm API's base URL (what the ThreatMon integration's ``url`` parameter takes)."""
        return self.url + API_BASE

    @property
    def ioc_url(self) -> str:
        return self.url

    @property
    def api_key(self) -> str:
        return self.config.api_key

    @property
    def ioc_token(self) -> str:
        return self.config.ioc_token


# ---------------------------------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------------------------------


def _int(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    sim: Simulator

    def handle_error(self, request, client_address):  # keep the console quiet; keep the record
        import traceback

        self.sim.errors.append(traceback.format_exc(limit=3))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real API behind a load balancer

    def version_string(self) -> str:
        return "ThreatMonSimulator/1.0"

    timeout = 15  # an idle keep-alive connection is closed after this

    def log_message(self, format, *args):
        return  # quiet: the record is kept in Simulator.requests

    def setup(self):
        super().setup()
        # Headers and body leave in separate writes: without TCP_NODELAY, Nagle's algorithm and the client's
        # delayed ACK would add ~40 ms to every keep-alive answer, and the latency knob would lie.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.sim.threatmon.lock:
            self.server.sim._connections.add(self.connection)

    def finish(self):
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.sim.threatmon.lock:
            self.server.sim._connections.discard(self.connection)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        arrived = time.monotonic()
        sim: Simulator = self.server.sim
        sim._last_activity = sim._clock()
        split = urlsplit(self.path)
        path, query = split.path, parse_qs(split.query, keep_blank_values=True)
        length = _int(self.headers.get("Content-Length") or 0) or 0
        body = self.rfile.read(length) if length > 0 else b""
        reply = sim.api.handle(method, path, query, self.headers, body)
        if path.startswith(CONTROL_PREFIX):
            self._write(self._encode(reply.answer))  # control endpoints: no latency, no faults
            return
        encoded = None if reply.answer is None else self._encode(reply.answer)
        # The latency knob is the time from the request's arrival to the answer, as a client sees a remote API:
        # the simulator's own work happens inside it, so it does not add to the client's round trip.
        wait = sim.config.latency_ms / 1000.0 - (time.monotonic() - arrived)
        if wait > 0 and sim._stop.wait(wait):
            self._drop(reset=False)
            return
        spoil = reply.spoil
        if encoded is None or (spoil == "slow" and sim._stop.wait(reply.fault.delay_s)):
            self._drop(reset=spoil == "reset")
            return
        if spoil == "cut":
            head = len(encoded) - len(reply.answer.body)
            self._write(encoded[: head + max(1, len(reply.answer.body) // 2)])
            self._drop(reset=False)
            return
        self._write(encoded)

    def _encode(self, answer: Answer) -> bytes:
        """The whole HTTP answer as bytes, built before the latency wait so that sending it is one write."""
        headers = [f"{self.protocol_version} {answer.status} {reason(answer.status)}", f"Server: {self.version_string()}"]
        headers.append(f"Date: {self.date_time_string()}")
        if answer.content_type:
            headers.append(f"Content-Type: {answer.content_type}")
        headers.append(f"Content-Length: {len(answer.body)}")
        headers += [f"{name}: {value}" for name, value in answer.headers.items()]
        return ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1") + answer.body

    def _write(self, answer: bytes) -> None:
        try:
            self.wfile.write(answer)
        except OSError:  # the client went away (e.g. it timed out on a slow answer)
            self.close_connection = True

    def _drop(self, reset: bool) -> None:
        self.close_connection = True
        try:
            if reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
