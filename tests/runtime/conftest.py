"""Fixtures shared by the runtime contract tests (they run on the stand-ins and on the official files)."""

import demistomock as demisto
import pytest


@pytest.fixture
def entries(monkeypatch):
    """Every argument demisto.results() receives, in order."""
    sent = []
    monkeypatch.setattr(demisto, "results", sent.append)
    return sent


@pytest.fixture
def command(monkeypatch):
    """Sets the command demisto.command() answers: command('fetch-incidents')."""

    def set_command(name):
        monkeypatch.setattr(demisto, "command", lambda: name)

    return set_command
