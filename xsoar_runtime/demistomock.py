"""Stand-in for XSOAR's ``demistomock`` module (imported by integrations as ``demisto``).

On the XSOAR server this module is the bridge between the integration and the platform. In tests it
answers with harmless defaults, and tests replace the functions they care about with pytest's
``monkeypatch`` (``monkeypatch.setattr(demisto, "params", lambda: {...})``).

Written for this repository from the documented API (xsoar.pan.dev) and from observing the official
mock. It holds only what the pack, its tests, the runner and CommonServerPython use (the runner
patches in the rest of what the server provides), and mirrors the defaults tests rely on:

* ``params()`` / ``args()`` return ``{}``, ``command()`` returns ``""``;
* ``getLastRun()`` returns a fixed sample, ``setLastRun()`` stores nothing;
* ``incidents()`` without arguments returns a sample incident list, with a list it reports the
  incidents through ``results()``; ``incident()`` is the first sample incident;
* ``debug()`` / ``info()`` / ``results()`` log at INFO level (quiet under pytest);
* ``error()`` PRINTS, so a test that triggers an unexpected error log fails the quiet rule.
"""

import json
import logging

integrationContext = {}  # what getIntegrationContext() answers
_integration_context_version = 0  # one more with each write
callingContext = {}  # read by CommonServerPython (integration and script names, command origin)
is_debug = False  # read by CommonServerPython's return_error (traceback in the message when True)

# One small sample incident, what ``incidents()`` / ``incident()`` answer when a test does not patch them.
_SAMPLE_INCIDENTS = [
    {
        "id": "1",
        "name": "1",
        "type": "Unclassified",
        "rawType": "Unclassified",
        "severity": 0,
        "status": 1,
        "owner": "analyst",
        "labels": [{"type": "Instance", "value": "test"}, {"type": "Brand", "value": "Manual"}],
        "CustomFields": {},
        "details": "",
        "rawJSON": "",
        "occurred": "2019-02-20T15:47:23.962163+02:00",
        "created": "2019-02-20T15:47:23.962164+02:00",
        "modified": "2019-02-20T15:47:27.158969+02:00",
        "closed": "0001-01-01T00:00:00Z",
        "sourceBrand": "Manual",
        "sourceInstance": "test",
        "investigationId": "1",
        "playbookId": "playbook0",
    }
]


def _logger():
    return logging.getLogger()


# --- what the platform hands the integration -----------------------------------------------------


def params():
    """The instance's configuration parameters."""
    return {}


def args():
    """The arguments of the command being run."""
    return {}


def command():
    """The name of the command being run."""
    return ""


def integrationInstance():
    """The instance name."""
    return ""


def incident():
    """The incident the command runs in."""
    return incidents()[0]


# --- state kept between runs -------------------------------------------------------------------------


def getLastRun():
    """The object the previous fetch stored (a fixed sample here)."""
    return {"lastRun": "2018-10-24T14:13:20+00:00"}


def setLastRun(obj):
    """Stores the object for the next fetch (nothing is stored here)."""
    return None


def getIntegrationContext():
    return integrationContext


def setIntegrationContext(context):
    global integrationContext, _integration_context_version
    integrationContext = context
    _integration_context_version += 1


def getIntegrationContextVersioned(refresh=False):
    """The integration context with its version (``refresh``: read from the server's database, not the instance's
    memory; here there is only one copy)."""
    return {"context": integrationContext, "version": _integration_context_version}


def setIntegrationContextVersioned(context, version=-1, sync=False):
    """Stores the context if ``version`` is not older than the current one (-1: any); otherwise raises ValueError, as
    the server does. ``sync``: write to the database at once (here there is only one copy)."""
    if version != -1 and version < _integration_context_version:
        raise ValueError(f"The integration context is at version {_integration_context_version}, not {version}.")
    setIntegrationContext(context)


def executeCommand(command, args):
    """(Scripts) Runs a command on the XSOAR server and answers its entries. There is no server here: the answer is
    one error entry that says so (tests replace this function with the server's answers)."""
    return [{"Type": 4, "ContentsFormat": "text", "Contents": f"{command}: no XSOAR server to run it on (stand-in)"}]


def updateModuleHealth(error):
    """The instance's health in Settings shows ``error`` (an empty message shows none). Nothing to show here."""
    return None


# --- what the integration hands the platform -------------------------------------------------------


def results(results):
    """War-room entries: logged as JSON at INFO level (fails like the server on what JSON cannot hold)."""
    if isinstance(results, dict) and results.get("contents"):
        results = results.get("contents")
    _logger().info(f"demisto results: {json.dumps(results, indent=4, sort_keys=True)}")


def incidents(incidents=None):
    """Without an argument: the incidents of the context. With a list: the incidents a fetch created."""
    if incidents is None:
        return _SAMPLE_INCIDENTS
    return results({"Type": 1, "Contents": json.dumps(incidents), "ContentsFormat": "json"})


def createIndicators(indicators_batch):
    """Indicators a feed created (accepted and dropped here)."""
    return ""


# --- logging -----------------------------------------------------------------------------------------


def debug(msg, *args):
    """Server log line at debug level (logged at INFO, like the official mock)."""
    _logger().info(msg, *args)


def info(msg, *args):
    _logger().info(msg, *args)


def error(msg, *args):
    """Server log line at error level. PRINTS, so an unexpected error makes a quiet test fail."""
    print(msg, *args)
