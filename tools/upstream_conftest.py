"""The conftest.py that `make upstream-check` puts in each code folder, as demisto/content's CI puts its own there.

Written for this repository from what content's CI is known to do (its own file is not copied): a test fails when
Python's logging recorded a WARNING or worse while it ran, or when it wrote to stdout or stderr. Set
CONTENT_CONFTEST to the path of content's own file (dev_envs/pytest/conftest.py of demisto/content-ci-cd-template)
and `make upstream-check` uses that one instead.
"""

import logging

import pytest


@pytest.fixture(autouse=True)
def no_warning_logged(caplog):
    """Fail the test when a record of level WARNING or above was logged during it."""
    yield
    records = caplog.get_records("call")
    loud = [f"{record.levelname}: {record.getMessage()}" for record in records if record.levelno >= logging.WARNING]
    if loud:
        pytest.fail(f"the test logged {len(loud)} warning(s) or worse: {loud}")


@pytest.fixture(autouse=True)
def nothing_printed(capfd):
    """Fail the test when it wrote to stdout or stderr."""
    yield
    out, err = capfd.readouterr()
    if out or err:
        pytest.fail(f"the test wrote to {'stdout' if out else 'stderr'}: {(out or err).strip()[:500]}")
