"""Fixtures for the end-to-end tests: integrations run by the local runner, over real HTTP, against the simulator.

Every test in this folder carries the ``e2e`` marker (``pytest -m e2e`` runs only them, ``-m "not e2e"``
skips them). Simulators started through ``make_sim`` stop when the test ends (and by themselves after
a short idle time if something goes wrong); nothing here sleeps for real: ``no_sleep`` replaces
``time.sleep`` inside the integration's runs and records the delays asked for.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runner import IntegrationRunner
from simulator import Simulator

REPO_ROOT = Path(__file__).resolve().parents[2]
THREATMON = REPO_ROOT / "Packs/ThreatMon/Integrations/ThreatMon/ThreatMon.py"
FEED = REPO_ROOT / "Packs/ThreatMonThreatFeed/Integrations/ThreatMonThreatFeed/ThreatMonThreatFeed.py"
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


class NoSleep:
    """Stands in for time.sleep: records the delays, returns at once."""

    def __init__(self):
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def no_sleep() -> NoSleep:
    return NoSleep()


@pytest.fixture
def make_sim():
    """make_sim(**knobs) -> a running Simulator, stopped at the end of the test."""
    started: list[Simulator] = []

    def start(**knobs) -> Simulator:
        knobs.setdefault("idle_timeout_s", 30.0)
        knobs.setdefault("max_lifetime_s", 120.0)
        sim = Simulator(**knobs).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def threatmon_params(sim: Simulator, **params) -> dict:
    """Instance parameters of a ThreatMon instance pointed at the simulator."""
    base = {
        "url": sim.api_url,
        "credentials": {"identifier": "", "password": sim.api_key},
        "max_fetch": "10",
        "isFetch": True,
    }
    base.update({k: v for k, v in params.items() if v is not None})
    return base


@pytest.fixture
def threatmon(no_sleep, tmp_path):
    """threatmon(sim, **params) -> an IntegrationRunner for ThreatMon.py configured against ``sim``.

    Keyword ``last_run_file=True`` keeps lastRun in a file under tmp_path; ``incident=...`` sets the
    incident commands run in; ``timeout_cap`` caps HTTP timeouts (default 2 s).
    """

    def build(sim: Simulator, last_run_file=None, incident=None, timeout_cap: float = 2.0, **params) -> IntegrationRunner:
        path = tmp_path / "threatmon-lastrun.json" if last_run_file is True else last_run_file
        return IntegrationRunner(
            THREATMON,
            threatmon_params(sim, **params),
            last_run_file=path,
            incident=incident,
            instance_name="ThreatMon_e2e",
            sleep=no_sleep,
            http_timeout_cap=timeout_cap,
        )

    return build
