"""The fault plan: which request goes wrong, and how.

A :class:`Fault` is chosen either by the index of a request (0 for the first API request the
simulator receives, counting every API request and never the ``/__sim__`` ones) or by a piece of
its path (optionally with the method), for a number of times, optionally after letting the first
``skip`` matching requests through.

Kinds:

``status``     answer ``status`` (429, 500, 502, 503, 504, ...) with a JSON message, and a
               ``Retry-After`` header when ``retry_after`` is set (seconds or an HTTP date).
``truncated``  200 with the real JSON body cut in half (a valid Content-Length, broken JSON).
``html``       an HTML error page, with ``status`` 200 (a proxy page) or a 5xx.
``empty``      200 with an empty body.
``json``       200 with a JSON object that is not the answer asked for (``{"message": ...}``).
``drop``       close the connection without answering.
``reset``      reset the connection (TCP RST) without answering.
``cut``        send the real answer's headers and half its body, then close (a body cut mid-way).
``slow``       answer correctly, but only after ``delay_s`` seconds (beyond a client's timeout).
``redirect``   answer ``status`` (302 by default; 301, 303, 307, 308) with a ``Location`` on another server, ``to``:
               the same path and query (the IOC token included) under that URL. A client must not follow it.

The command-line spelling, used by ``python -m simulator --fault`` and :func:`parse_fault`::

    WHERE=WHAT[,retry-after=N][,times=N][,skip=N][,to=URL]

    WHERE   #3                  the request with index 3
            /vulnerabilities/   any request whose path contains this text
            PATCH /incident     ... with this method
            *                   any request
    WHAT    503                 a status code
            redirect:307,to=URL a redirect to the same path and query under URL (302 when no status is given)
            truncated | empty | json | drop | reset | cut
            html | html:502     an HTML page with status 200 or the given one
            slow | slow:2.5     an answer delayed by 2.5 seconds (default 5)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

KINDS = ("status", "truncated", "html", "empty", "json", "drop", "reset", "cut", "slow", "redirect")
# The kinds answered by the API itself and spoiled on the way (the others never reach it).
SPOILING_KINDS = ("truncated", "cut", "slow")


@dataclass
class Fault:
    kind: str = "status"
    status: int | None = None  # default: 500, or 200 for an html page
    retry_after: str | None = None
    delay_s: float = 5.0
    to: str | None = None  # redirect: the URL the Location points under
    index: int | None = None
    path: str | None = None
    method: str | None = None
    times: int = 1
    skip: int = 0
    used: int = field(default=0, compare=False)
    seen: int = field(default=0, compare=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known kinds: {', '.join(KINDS)}")
        if self.kind == "redirect":
            if not self.to:
                raise ValueError("a redirect fault needs to=URL: where the Location points")
            self.status = self.status or 302
            if not 300 <= self.status < 400:
                raise ValueError(f"a redirect fault's status is a 3xx; got {self.status}")
        if self.status is None:
            self.status = 200 if self.kind == "html" else 500
        if self.retry_after is not None:
            self.retry_after = str(self.retry_after)

    def describe(self) -> str:
        what = {
            "status": str(self.status),
            "html": f"html:{self.status}",
            "slow": f"slow:{self.delay_s:g}",
            "redirect": f"redirect:{self.status},to={self.to}",
        }.get(self.kind, self.kind)
        if self.retry_after is not None:
            what += f",retry-after={self.retry_after}"
        return what

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "status": self.status,
            "retry_after": self.retry_after,
            "delay_s": self.delay_s,
            "to": self.to,
            "index": self.index,
            "path": self.path,
            "method": self.method,
            "times": self.times,
            "skip": self.skip,
            "used": self.used,
        }


def parse_fault(spec: str) -> Fault:
    """Read the command-line spelling of a fault (see the module docstring)."""
    where, sep, what = spec.partition("=")
    if not sep or not what:
        raise ValueError(f"fault {spec!r}: expected WHERE=WHAT, e.g. '#2=503,retry-after=1' or '/vulnerabilities/=drop'")
    where = where.strip()
    if not where:
        raise ValueError(f"fault {spec!r}: say where: #INDEX, a path fragment, 'METHOD /path' or *")
    parts = [p.strip() for p in what.split(",") if p.strip()]
    head, options = parts[0], parts[1:]
    kwargs: dict = {}
    name, _, arg = head.partition(":")
    name = name.lower()
    if name.isdigit():
        kwargs.update(kind="status", status=int(name))
    elif name in ("truncated", "empty", "json", "drop", "reset", "cut"):
        kwargs["kind"] = name
    elif name == "html":
        kwargs["kind"] = "html"
        if arg:
            kwargs["status"] = int(arg)
    elif name == "slow":
        kwargs["kind"] = "slow"
        if arg:
            kwargs["delay_s"] = float(arg)
    elif name == "redirect":
        kwargs["kind"] = "redirect"
        if arg:
            kwargs["status"] = int(arg)
    else:
        raise ValueError(
            f"fault {spec!r}: unknown kind {head!r}; use a status code, truncated, empty, json, drop, reset, cut, html, slow, "
            "redirect"
        )
    for option in options:
        key, _, value = option.partition("=")
        key = key.strip().lower().replace("_", "-")
        if key == "retry-after":
            kwargs["retry_after"] = value.strip()
        elif key == "times":
            kwargs["times"] = int(value)
        elif key == "skip":
            kwargs["skip"] = int(value)
        elif key == "to":
            kwargs["to"] = value.strip()
        else:
            raise ValueError(f"fault {spec!r}: unknown option {key!r}; use retry-after, times, skip or to")
    if where.startswith("#"):
        kwargs["index"] = int(where[1:])
    elif where != "*":
        method, _, path = where.partition(" ")
        if path and method.isupper():
            kwargs["method"], kwargs["path"] = method, path.strip()
        else:
            kwargs["path"] = where
    return Fault(**kwargs)


class FaultPlan:
    """A thread-safe list of faults, consulted once per API request."""

    def __init__(self, faults=()):
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        for fault in faults:
            self.add(fault)

    def add(self, fault: Fault | str) -> Fault:
        if isinstance(fault, str):
            fault = parse_fault(fault)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pick(self, index: int, method: str, path: str) -> Fault | None:
        """The fault for this request, if any (index rules first, then path rules in order)."""
        with self._lock:
            for fault in self._faults:
                if fault.index is not None and fault.index == index:
                    fault.used += 1
                    return fault
            for fault in self._faults:
                if fault.index is not None or fault.used >= fault.times:
                    continue
                if fault.method and fault.method != method:
                    continue
                if fault.path and fault.path not in path:
                    continue
                fault.seen += 1
                if fault.seen <= fault.skip:
                    continue
                fault.used += 1
                return fault
        return None

    def pending(self, requests_so_far: int) -> bool:
        """A fault still to be served: one for a request index not reached yet, or a path fault with uses left."""
        with self._lock:
            return any(
                (f.index is not None and f.index >= requests_so_far) or (f.index is None and f.used < f.times)
                for f in self._faults
            )

    def to_list(self) -> list[dict]:
        with self._lock:
            return [f.to_dict() for f in self._faults]
