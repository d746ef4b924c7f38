"""The 1.0.x ThreatMon pack's fetch behaviour, re-described in a few lines (not its code).

It is the benchmark's anchor and the source of realistic 1.0.x ``lastRun`` objects for the migration
tests. What 1.0.x does on each fetch run, as read from its public source:

* the filter ``afterAlarmCode`` is the saved ``last_incident_id`` (else the ``lastIncidentId``
  parameter, else none) and stays fixed for a whole "batch"; pages 0, 1, 2, ... of that filtered list
  are read in turn, every alarm on them becomes an incident, and the highest code seen is tracked;
* after every full page it sleeps one second;
* an empty or short page ends the batch: ``last_incident_id`` becomes the highest code seen, ``page``
  goes back to 0;
* at most 100 pages a run: a batch cut there is saved as ``page`` (the next page to read) and
  ``max_seen_id`` (the highest code seen so far), with ``last_incident_id`` unchanged.

So the lastRun it leaves is ``{"last_incident_id": L, "page": P}`` or, mid-batch,
``{"last_incident_id": L, "page": P, "max_seen_id": M}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

PAGE_SIZE = 10


def _as_int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


class LegacyFetch:
    """One 1.0.x instance: ``run(last_run)`` is one fetch run, returning (alarm codes ingested, new lastRun)."""

    def __init__(
        self,
        api_url: str,
        api_key: str,
        max_pages: int = 100,
        sleep: Callable[[float], object] = time.sleep,
        last_incident_id_param: int | None = None,
        timeout: float = 30.0,
    ):
        self.api_url = api_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers.update({"X-COMPANY-API-KEY": api_key, "accept": "application/json"})
        self.max_pages = max_pages
        self.sleep = sleep
        self.param = last_incident_id_param
        self.timeout = timeout
        self.requests = 0

    def run(self, last_run: dict) -> tuple[list[int], dict]:
        state = dict(last_run)
        after = state.get("last_incident_id")
        if after is None:
            after = self.param
        after = _as_int(after, 0)
        page = _as_int(state.get("page", 0), 0)
        highest = _as_int(state.get("max_seen_id", after), after)
        codes: list[int] = []
        batch_done = False
        for _ in range(self.max_pages):
            query = {"afterAlarmCode": after} if after else {}
            answer = self.session.get(f"{self.api_url}/vulnerabilities/{page}", params=query, timeout=self.timeout)
            self.requests += 1
            answer.raise_for_status()
            items = answer.json().get("data") or []
            for item in items:
                code = _as_int(item.get("alarmCode"), 0)
                codes.append(code)
                highest = max(highest, code)
            if not items or len(items) < PAGE_SIZE:
                after, page, batch_done = highest, 0, True
                break
            page += 1
            self.sleep(1)
        if batch_done:
            state.pop("max_seen_id", None)
        else:
            state["max_seen_id"] = highest
        state["last_incident_id"] = after
        state["page"] = page
        return codes, state

    def close(self) -> None:
        self.session.close()
