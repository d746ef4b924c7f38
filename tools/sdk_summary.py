"""Run a demisto-sdk command and pass its output through, except one misleading summary.

    python tools/sdk_summary.py .venv/bin/demisto-sdk validate -i Packs/ThreatMon --config-path validation_config.toml

Why: after "All validations passed." demisto-sdk 1.39.13's validate logs a red "Validate summary" saying "The
following errors were thrown as a part of this pr: ." and a note about force-merging a pull request. Its
``summarize_validation_results`` always adds the AG100 force-merge sentence to the error text, so the text is
never empty and the summary is logged as an error on every run, even with no failing error code (the list
after "thrown as a part of this pr:" is then empty).

What this does: when the command succeeds and that list is empty, the summary (from "Validate summary" to the
end) is replaced by one line saying that nothing failed; a warnings line in it is kept. When the command fails,
or the summary lists any error code, everything is shown unchanged. The exit status is the command's own.
"""

from __future__ import annotations

import re
import subprocess
import sys

ANSI = re.compile(r"\x1b\[[0-9;]*m")
SUMMARY_START = "Validate summary"
EMPTY_LIST = re.compile(r"The following errors were thrown as a part of this pr: *\.\s*$")
WARNINGS = "The following errors were reported as warnings:"
NOTHING_FAILED = (
    "Validate summary: nothing failed. (demisto-sdk prints a red 'errors were thrown' summary after every run; "
    "this time it listed no error code, so it was left out.)"
)


def plain(line: str) -> str:
    return ANSI.sub("", line).strip()


def summary_replacement(summary: list[str], returncode: int) -> list[str]:
    """What to print instead of the buffered summary lines (they are kept unless nothing failed)."""
    if returncode != 0 or not any(EMPTY_LIST.search(plain(line)) for line in summary):
        return summary
    kept = [plain(line) + "\n" for line in summary if plain(line).startswith(WARNINGS)]
    return [*kept, NOTHING_FAILED + "\n"]


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python tools/sdk_summary.py DEMISTO-SDK-COMMAND [ARGS...]", file=sys.stderr)
        return 2
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, errors="replace") as child:  # noqa: S603
        summary: list[str] = []
        for line in child.stdout:
            if summary or plain(line) == SUMMARY_START:
                summary.append(line)
            else:
                sys.stdout.write(line)
                sys.stdout.flush()
        returncode = child.wait()
    sys.stdout.writelines(summary_replacement(summary, returncode))
    return returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
