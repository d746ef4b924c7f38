"""A tiny integration used to test the runner itself (not content: it lives under tests/)."""

import json
import time

import demistomock as demisto
from CommonServerPython import *  # noqa: F403


def annotated(x: int) -> None:
    """Its annotation is the class int in a file run without `from __future__ import annotations`."""


def main():
    command = demisto.command()
    params = demisto.params()
    args = demisto.args()
    demisto.debug(f"fake: running {command}")
    try:
        if command == "test-module":
            return_results("ok")  # noqa: F405
        elif command == "fetch-incidents":
            number = (demisto.getLastRun() or {}).get("n", 0)
            batch = int(params.get("batch", 2))
            incidents = [{"name": f"Fake {number + i}", "dbotMirrorId": str(number + i), "severity": 2} for i in range(batch)]
            demisto.incidents(incidents)
            if not params.get("keep_last_run"):
                demisto.setLastRun({"n": number + batch})
            if params.get("fail_after_sending"):
                raise ValueError("the fetch broke after sending")
        elif command == "echo":
            row = {"id": 1, "text": args.get("text")}
            return_results(  # noqa: F405
                CommandResults(  # noqa: F405
                    outputs_prefix="Fake.Echo",
                    outputs_key_field="id",
                    outputs=row,
                    readable_output=tableToMarkdown("Echo", [row]),  # noqa: F405
                )
            )
        elif command == "leak":
            demisto.info(f"the key is {params['credentials']['password']}")
            return_results(f"key={params['credentials']['password']}")  # noqa: F405
        elif command == "nap":
            time.sleep(30)
            return_results("rested")  # noqa: F405
        elif command == "indicators":
            demisto.createIndicators([{"value": "198.51.100.7", "type": "IP", "score": 2}])
            demisto.createIndicators([{"value": f"203.0.113.{n}", "type": "IP", "score": 2} for n in range(3)])
        elif command == "api-module":
            import ThreatMonApiModule  # the module an integration star-imports, as this run sees it

            # "fresh" unless an earlier run marked this very module; an id() would not do, as a collected
            # module's id can be handed to the next run's
            seen = getattr(ThreatMonApiModule, "fake_marked", False)
            ThreatMonApiModule.fake_marked = True
            return_results("seen" if seen else "fresh")  # noqa: F405
        elif command == "compiled":
            import ThreatMonApiModule

            # what this run executed: the API module's code object, and whether annotations are evaluated here
            code = ThreatMonApiModule.parse_time.__code__
            return_results(json.dumps({"api_module_code": id(code), "annotation": repr(annotated.__annotations__["x"])}))  # noqa: F405
        elif command == "context":
            context = demisto.getIntegrationContext() or {}
            context["runs"] = context.get("runs", 0) + 1
            demisto.setIntegrationContext(context)
            return_results(str(context["runs"]))  # noqa: F405
        elif command == "get-modified-remote-data":  # the ids the context lists as changed (mirroring, for the runner)
            context = demisto.getIntegrationContext() or {}
            if params.get("mirror_fail"):
                raise ConnectionError("the remote system did not answer")
            demisto.setIntegrationContext({**context, "asked": [*context.get("asked", []), args["lastUpdate"]]})
            return_results(GetModifiedRemoteDataResponse(sorted(context.get("statuses", {}))))  # noqa: F405
        elif command == "get-remote-data":
            status = (demisto.getIntegrationContext() or {}).get("statuses", {}).get(args["id"])
            close = {"dbotIncidentClose": True, "closeReason": "Resolved", "closeNotes": f"closed since {args['lastUpdate']}"}
            entries = [{"Type": 1, "ContentsFormat": "json", "Contents": close}] if status == "Resolved" else []
            return_results(GetRemoteDataResponse({"id": args["id"], "status": status} if status else {}, entries))  # noqa: F405
        elif command == "where":
            incident = demisto.incident()
            return_results(f"{incident.get('id')}:{incident.get('CustomFields', {}).get('threatmonalarmcode')}")  # noqa: F405
        elif command == "not-json":
            demisto.setLastRun({"when": time})
        elif command == "object":
            demisto.results({"Fake Type": {"status": "the status", "tags": ["a", "b"]}, "empty": {}})
        elif command == "exit-3":
            raise SystemExit(3)
        else:
            raise NotImplementedError(f"{command} is not implemented")
    except Exception as exc:
        return_error(f"Failed to execute {command}: {exc}")  # noqa: F405


if __name__ in ("__main__", "builtins"):
    main()
